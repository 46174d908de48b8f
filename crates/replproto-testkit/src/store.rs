//! The application data of the model: string keys in numbered databases, the few write
//! commands the scenarios use, and snapshots written with the core's `RdbWriter` and read
//! back by a small independent RDB reader.

use std::collections::BTreeMap;

use replproto::rdb::RdbWriter;
use replproto::{Offset, ReplId};

/// A write the scenarios propagate. Every one changes state, and `Incr`/`Append` are not
/// idempotent, so a command applied twice or skipped shows in the data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Write {
    /// `SET key value`
    Set(Vec<u8>, Vec<u8>),
    /// `INCR key`
    Incr(Vec<u8>),
    /// `APPEND key value`
    Append(Vec<u8>, Vec<u8>),
    /// `DEL key`
    Del(Vec<u8>),
}

impl Write {
    /// The command's arguments as they go on the wire.
    pub fn args(&self) -> Vec<Vec<u8>> {
        match self {
            Write::Set(k, v) => vec![b"SET".to_vec(), k.clone(), v.clone()],
            Write::Incr(k) => vec![b"INCR".to_vec(), k.clone()],
            Write::Append(k, v) => vec![b"APPEND".to_vec(), k.clone(), v.clone()],
            Write::Del(k) => vec![b"DEL".to_vec(), k.clone()],
        }
    }

    /// Reads a write back from its arguments.
    pub fn parse<'a>(mut args: impl Iterator<Item = &'a [u8]>) -> Option<Write> {
        let name = args.next()?.to_ascii_uppercase();
        let rest: Vec<Vec<u8>> = args.map(<[u8]>::to_vec).collect();
        match (&name[..], &rest[..]) {
            (b"SET", [k, v]) => Some(Write::Set(k.clone(), v.clone())),
            (b"INCR", [k]) => Some(Write::Incr(k.clone())),
            (b"APPEND", [k, v]) => Some(Write::Append(k.clone(), v.clone())),
            (b"DEL", [k]) => Some(Write::Del(k.clone())),
            _ => None,
        }
    }
}

/// Aux fields of a snapshot, by key.
pub type Aux = BTreeMap<Vec<u8>, Vec<u8>>;

/// Databases of string keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Store {
    dbs: BTreeMap<u32, BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl Store {
    /// Applies one write in database `db`.
    pub fn apply(&mut self, db: u32, write: &Write) {
        let keys = self.dbs.entry(db).or_default();
        match write {
            Write::Set(k, v) => {
                keys.insert(k.clone(), v.clone());
            }
            Write::Incr(k) => {
                let n = keys
                    .get(k)
                    .and_then(|v| std::str::from_utf8(v).ok())
                    .and_then(|v| v.parse::<i64>().ok())
                    .unwrap_or(0)
                    .wrapping_add(1);
                keys.insert(k.clone(), n.to_string().into_bytes());
            }
            Write::Append(k, v) => keys.entry(k.clone()).or_default().extend_from_slice(v),
            Write::Del(k) => {
                keys.remove(k);
            }
        }
        if keys.is_empty() {
            self.dbs.remove(&db);
        }
    }

    /// Number of keys in all databases.
    pub fn len(&self) -> usize {
        self.dbs.values().map(BTreeMap::len).sum()
    }

    /// Whether no key exists.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A snapshot of the data with the replication aux fields, as a master sends it.
    pub fn snapshot(&self, replid: ReplId, offset: Offset, stream_db: u32) -> Vec<u8> {
        let mut rdb = RdbWriter::new("replproto-testkit");
        rdb.replication_info(replid, offset, stream_db);
        for (db, keys) in &self.dbs {
            rdb.start_db(*db, keys.len() as u64, 0);
            for (k, v) in keys {
                rdb.string(k, v, None);
            }
        }
        rdb.finish()
    }

    /// Reads a snapshot written by [`Store::snapshot`] back: the data and its aux fields.
    pub fn load(rdb: &[u8]) -> Result<(Store, Aux), String> {
        Reader { data: rdb, at: 0 }.read()
    }
}

/// An RDB reader for what `RdbWriter` writes (aux fields, databases of plain strings),
/// independent of the core's scanner.
struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.data.get(self.at).ok_or("truncated RDB")?;
        self.at += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.at.checked_add(n).ok_or("length overflow")?;
        let s = self.data.get(self.at..end).ok_or("truncated RDB")?;
        self.at = end;
        Ok(s)
    }

    fn length(&mut self) -> Result<u64, String> {
        let first = self.byte()?;
        Ok(match first >> 6 {
            0 => u64::from(first & 0x3f),
            1 => (u64::from(first & 0x3f) << 8) | u64::from(self.byte()?),
            _ if first == 0x80 => u64::from(u32::from_be_bytes(
                self.take(4)?.try_into().unwrap_or_default(),
            )),
            _ if first == 0x81 => u64::from_be_bytes(self.take(8)?.try_into().unwrap_or_default()),
            _ => return Err(format!("unsupported length encoding {first:#x}")),
        })
    }

    fn string(&mut self) -> Result<Vec<u8>, String> {
        let len = self.length()?;
        Ok(self
            .take(usize::try_from(len).map_err(|_| "huge string")?)?
            .to_vec())
    }

    fn read(mut self) -> Result<(Store, Aux), String> {
        let magic = self.take(9)?;
        if !magic.starts_with(b"REDIS") {
            return Err("bad magic".into());
        }
        let mut aux = BTreeMap::new();
        let mut store = Store::default();
        let mut db = 0u32;
        loop {
            match self.byte()? {
                0xfa => {
                    let k = self.string()?;
                    let v = self.string()?;
                    aux.insert(k, v);
                }
                0xfe => db = u32::try_from(self.length()?).map_err(|_| "bad db")?,
                0xfb => {
                    self.length()?;
                    self.length()?;
                }
                0x00 => {
                    let k = self.string()?;
                    let v = self.string()?;
                    store.dbs.entry(db).or_default().insert(k, v);
                }
                0xff => {
                    let body = &self.data[..self.at];
                    let crc = self.take(8)?;
                    let want = replproto::rdb::crc64(body).to_le_bytes();
                    if crc != want {
                        return Err("bad checksum".into());
                    }
                    if self.at != self.data.len() {
                        return Err("bytes after the checksum".into());
                    }
                    return Ok((store, aux));
                }
                other => return Err(format!("unexpected opcode {other:#x}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_round_trip() {
        let mut store = Store::default();
        store.apply(0, &Write::Set(b"a".to_vec(), b"1".to_vec()));
        store.apply(3, &Write::Incr(b"n".to_vec()));
        store.apply(3, &Write::Incr(b"n".to_vec()));
        store.apply(3, &Write::Append(b"s".to_vec(), vec![b'x'; 100]));
        let id = ReplId::from_random([7; 40]);
        let rdb = store.snapshot(id, Offset(77), 3);
        let (back, aux) = Store::load(&rdb).unwrap();
        assert_eq!(back, store);
        assert_eq!(aux[&b"repl-offset"[..]], b"77");
        assert_eq!(aux[&b"repl-id"[..]], id.as_bytes());
    }
}
