//! The data set: 16 databases of string keys, each with an optional absolute expiry.
//!
//! The clock is never read here: every call that needs the time takes it as milliseconds since
//! the Unix epoch. Expiry is lazy, as in Redis: a key whose time passed stays in memory until it
//! is accessed (or swept by [`Store::purge_expired`]); what an access does with it depends on
//! who is asking ([`ExpiryPolicy`]).

use std::collections::HashMap;

use bytes::Bytes;

/// Number of databases (`databases 16`).
pub const DATABASES: u32 = 16;

/// A value and its expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The string value.
    pub value: Bytes,
    /// When the key expires, in Unix milliseconds.
    pub expire_at_ms: Option<u64>,
}

impl Entry {
    /// Whether the key is logically gone at `now_ms` (Redis: expired once the clock is past the
    /// expiry time).
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expire_at_ms.is_some_and(|at| now_ms > at)
    }
}

/// What an access does with a key whose expiry passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryPolicy {
    /// A master serving a client: the key is deleted, and the caller propagates a `DEL`.
    Delete,
    /// A replica serving a client: the key looks absent but stays until its master deletes it.
    Hide,
    /// A command from the replication stream: the key still exists (the master decides).
    Ignore,
}

/// The outcome of [`Store::access`].
#[derive(Debug)]
pub struct Access<'a> {
    /// The live entry, if any.
    pub entry: Option<&'a Entry>,
    /// The key had expired and was deleted just now: propagate `DEL <key>`.
    pub expired_deleted: bool,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Db {
    keys: HashMap<Bytes, Entry>,
    /// Keys that carry an expiry.
    expires: usize,
}

impl Db {
    fn insert(&mut self, key: Bytes, entry: Entry) {
        let new = entry.expire_at_ms.is_some();
        if let Some(old) = self.keys.insert(key, entry) {
            self.expires -= usize::from(old.expire_at_ms.is_some());
        }
        self.expires += usize::from(new);
    }

    fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let old = self.keys.remove(key)?;
        self.expires -= usize::from(old.expire_at_ms.is_some());
        Some(old)
    }
}

/// Sixteen databases of strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    dbs: Vec<Db>,
}

impl Default for Store {
    fn default() -> Self {
        Store::new()
    }
}

impl Store {
    /// An empty data set.
    pub fn new() -> Store {
        Store {
            dbs: vec![Db::default(); DATABASES as usize],
        }
    }

    fn db(&self, db: u32) -> &Db {
        &self.dbs[db as usize]
    }

    fn db_mut(&mut self, db: u32) -> &mut Db {
        &mut self.dbs[db as usize]
    }

    /// Keys in `db`, expired ones not yet deleted included (as `DBSIZE` counts them).
    pub fn len(&self, db: u32) -> usize {
        self.db(db).keys.len()
    }

    /// Keys in `db` that carry an expiry.
    pub fn expires(&self, db: u32) -> usize {
        self.db(db).expires
    }

    /// Whether every database is empty.
    pub fn is_empty(&self) -> bool {
        self.dbs.iter().all(|d| d.keys.is_empty())
    }

    /// Whether any key carries an expiry (so a sweep can find something).
    pub fn has_expires(&self) -> bool {
        self.dbs.iter().any(|d| d.expires > 0)
    }

    /// The entry stored under `key`, expired or not.
    pub fn get_raw(&self, db: u32, key: &[u8]) -> Option<&Entry> {
        self.db(db).keys.get(key)
    }

    /// Looks `key` up for a command, applying `policy` to an expired key.
    pub fn access(&mut self, db: u32, key: &[u8], now_ms: u64, policy: ExpiryPolicy) -> Access<'_> {
        let expired = self
            .db(db)
            .keys
            .get(key)
            .is_some_and(|e| e.is_expired(now_ms));
        match (expired, policy) {
            (true, ExpiryPolicy::Delete) => {
                self.db_mut(db).remove(key);
                Access {
                    entry: None,
                    expired_deleted: true,
                }
            }
            (true, ExpiryPolicy::Hide) => Access {
                entry: None,
                expired_deleted: false,
            },
            _ => Access {
                entry: self.db(db).keys.get(key),
                expired_deleted: false,
            },
        }
    }

    /// Stores `value` under `key`, replacing any value and expiry.
    pub fn set(&mut self, db: u32, key: Bytes, value: Bytes, expire_at_ms: Option<u64>) {
        self.db_mut(db).insert(
            key,
            Entry {
                value,
                expire_at_ms,
            },
        );
    }

    /// Deletes `key`; whether it existed.
    pub fn remove(&mut self, db: u32, key: &[u8]) -> bool {
        self.db_mut(db).remove(key).is_some()
    }

    /// Sets the expiry of an existing key; whether it exists.
    pub fn set_expire(&mut self, db: u32, key: &[u8], at_ms: u64) -> bool {
        let d = self.db_mut(db);
        match d.keys.get_mut(key) {
            Some(entry) => {
                if entry.expire_at_ms.replace(at_ms).is_none() {
                    d.expires += 1;
                }
                true
            }
            None => false,
        }
    }

    /// Empties every database.
    pub fn flush_all(&mut self) {
        for d in &mut self.dbs {
            *d = Db::default();
        }
    }

    /// Empties one database.
    pub fn flush_db(&mut self, db: u32) {
        *self.db_mut(db) = Db::default();
    }

    /// The keys of `db` in no particular order, expired ones included.
    pub fn iter(&self, db: u32) -> impl Iterator<Item = (&Bytes, &Entry)> + '_ {
        self.db(db).keys.iter()
    }

    /// Deletes every key whose expiry passed (a master's active expiry) and returns them, for
    /// the caller to propagate as `DEL`s.
    pub fn purge_expired(&mut self, now_ms: u64) -> Vec<(u32, Bytes)> {
        let mut gone = Vec::new();
        for (index, d) in self.dbs.iter_mut().enumerate() {
            if d.expires == 0 {
                continue;
            }
            let expired: Vec<Bytes> = d
                .keys
                .iter()
                .filter(|(_, e)| e.is_expired(now_ms))
                .map(|(k, _)| k.clone())
                .collect();
            for key in expired {
                d.remove(&key);
                gone.push((index as u32, key));
            }
        }
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn expiry_policies() {
        let mut store = Store::new();
        store.set(0, b("k"), b("v"), Some(1000));
        // Not expired at its exact expiry time, as in Redis.
        assert!(store
            .access(0, b"k", 1000, ExpiryPolicy::Delete)
            .entry
            .is_some());
        let hidden = store.access(0, b"k", 1001, ExpiryPolicy::Hide);
        assert!(hidden.entry.is_none() && !hidden.expired_deleted);
        assert_eq!(store.len(0), 1);
        assert!(store
            .access(0, b"k", 1001, ExpiryPolicy::Ignore)
            .entry
            .is_some());
        let deleted = store.access(0, b"k", 1001, ExpiryPolicy::Delete);
        assert!(deleted.entry.is_none() && deleted.expired_deleted);
        assert_eq!((store.len(0), store.expires(0)), (0, 0));
    }

    #[test]
    fn expires_are_counted_and_purged() {
        let mut store = Store::new();
        store.set(3, b("a"), b("1"), Some(10));
        store.set(3, b("b"), b("2"), None);
        assert!(store.set_expire(3, b"b", 50));
        assert!(!store.set_expire(3, b"zz", 50));
        assert_eq!(store.expires(3), 2);
        store.set(3, b("b"), b("3"), None);
        assert_eq!(store.expires(3), 1);
        assert_eq!(store.purge_expired(11), vec![(3, b("a"))]);
        assert!(!store.has_expires());
        assert_eq!(store.len(3), 1);
        store.flush_all();
        assert!(store.is_empty());
    }
}
