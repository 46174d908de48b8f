//! The store as an RDB file, and back.
//!
//! [`write()`] produces what a master sends for a full sync (and what `redis-cli --rdb` saves):
//! RDB version 9 with the aux fields Redis writes, the replication ones taken from
//! [`Master::snapshot_aux`](replproto::master::Master::snapshot_aux), one section per non-empty
//! database and the CRC-64 trailer.
//!
//! [`load`] reads a snapshot received from a master into a fresh store. It understands what a
//! data set of strings needs: aux fields (skipped), `SELECTDB`, `RESIZEDB`, expiry in
//! milliseconds and seconds, LRU/LFU hints (skipped), and string values in any encoding (raw,
//! integer, LZF). Any other value type is refused with an error rather than dropped.

use std::fmt;

use bytes::Bytes;
use replproto::rdb::{
    self, RdbError, RdbReader, RdbWriter, CHECKSUM_LEN, FIRST_VERSION_WITH_CHECKSUM,
};
use replproto::{Offset, ReplId};

use crate::store::{Store, DATABASES};

/// The `redis-ver` aux field: the Redis release whose behaviour this server follows.
pub const REDIS_VERSION: &str = "7.0.0";

const OP_SLOT_INFO: u8 = 0xF4;
const OP_IDLE: u8 = 0xF8;
const OP_FREQ: u8 = 0xF9;
const OP_AUX: u8 = 0xFA;
const OP_RESIZEDB: u8 = 0xFB;
const OP_EXPIRETIME_MS: u8 = 0xFC;
const OP_EXPIRETIME: u8 = 0xFD;
const OP_SELECTDB: u8 = 0xFE;
const OP_EOF: u8 = 0xFF;
const TYPE_STRING: u8 = 0;

/// Why a snapshot could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoadError {
    /// The file is not a valid RDB: magic, checksum, a truncated record, a bad length or
    /// string encoding (read by the core).
    Rdb(RdbError),
    /// A database number this server does not have.
    DbOutOfRange(u64),
    /// A value type (or opcode) other than a string: this server holds strings only.
    UnsupportedType(u8),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Rdb(e) => write!(f, "{e}"),
            LoadError::DbOutOfRange(db) => {
                write!(f, "RDB: database {db} does not exist here (0..{DATABASES})")
            }
            LoadError::UnsupportedType(t) => write!(
                f,
                "RDB: value type or opcode {t:#04x} is not supported (strings only)"
            ),
        }
    }
}

impl std::error::Error for LoadError {}

impl From<RdbError> for LoadError {
    fn from(e: RdbError) -> Self {
        LoadError::Rdb(e)
    }
}

/// The snapshot of `store` a master serves: `replid`, `offset` and `stream_db` are what
/// [`Master::snapshot_aux`](replproto::master::Master::snapshot_aux) returns at the moment the
/// snapshot is taken; `ctime_s` is the current Unix time in seconds.
pub fn write(store: &Store, replid: ReplId, offset: Offset, stream_db: u32, ctime_s: u64) -> Bytes {
    let mut rdb = RdbWriter::new(REDIS_VERSION);
    rdb.aux(b"ctime", ctime_s.to_string().as_bytes());
    let used: usize = (0..DATABASES)
        .flat_map(|db| store.iter(db))
        .map(|(k, e)| k.len() + e.value.len() + 64)
        .sum();
    rdb.aux(b"used-mem", used.to_string().as_bytes());
    rdb.replication_info(replid, offset, stream_db);
    rdb.aux(b"aof-base", b"0");
    rdb.aux(b"replctl-ver", env!("CARGO_PKG_VERSION").as_bytes());
    for db in 0..DATABASES {
        let keys = store.len(db);
        if keys == 0 {
            continue;
        }
        rdb.start_db(db, keys as u64, store.expires(db) as u64);
        for (key, entry) in store.iter(db) {
            rdb.string(key, &entry.value, entry.expire_at_ms);
        }
    }
    Bytes::from(rdb.finish())
}

/// Loads a complete snapshot into a new store, after checking its magic and checksum.
///
/// # Errors
///
/// See [`LoadError`]: a bad file, or one holding anything but strings.
pub fn load(data: &[u8]) -> Result<Store, LoadError> {
    let header = rdb::read_header(data)?;
    rdb::verify_checksum(data)?;
    let body_end = if header.version >= FIRST_VERSION_WITH_CHECKSUM {
        data.len() - CHECKSUM_LEN
    } else {
        data.len()
    };
    let mut cur = RdbReader::new(&data[..body_end], rdb::MAGIC_LEN);
    let mut store = Store::new();
    let mut db = 0u32;
    let mut expire_at: Option<u64> = None;
    loop {
        match cur.byte()? {
            OP_EOF => return Ok(store),
            OP_AUX => {
                cur.string()?;
                cur.string()?;
            }
            OP_SELECTDB => {
                let n = cur.length()?;
                db = u32::try_from(n)
                    .ok()
                    .filter(|&d| d < DATABASES)
                    .ok_or(LoadError::DbOutOfRange(n))?;
            }
            OP_RESIZEDB => {
                cur.length()?;
                cur.length()?;
            }
            OP_EXPIRETIME_MS => expire_at = Some(u64::from_le_bytes(cur.array()?)),
            OP_EXPIRETIME => {
                expire_at = Some(u64::from(u32::from_le_bytes(cur.array()?)) * 1000);
            }
            OP_IDLE => {
                cur.length()?;
            }
            OP_FREQ => {
                cur.byte()?;
            }
            OP_SLOT_INFO => {
                for _ in 0..3 {
                    cur.length()?;
                }
            }
            TYPE_STRING => {
                let key = cur.string()?;
                let value = cur.string()?;
                store.set(db, key, value, expire_at.take());
            }
            other => return Err(LoadError::UnsupportedType(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> ReplId {
        ReplId::parse(b"e8120531390c7d051bcb7f000ce2b93dfe8b7184").unwrap()
    }

    #[test]
    fn round_trip_keeps_every_key_and_expiry() {
        let mut store = Store::new();
        store.set(0, Bytes::from("a"), Bytes::from("1"), None);
        store.set(
            0,
            Bytes::from("b"),
            Bytes::from(vec![7u8; 300]),
            Some(1_800_000_000_000),
        );
        store.set(15, Bytes::from("c"), Bytes::new(), None);
        let rdb = write(&store, id(), Offset(1234), 3, 1_700_000_000);
        assert!(rdb.starts_with(b"REDIS0009"));
        let header = rdb::read_header(&rdb).unwrap();
        assert_eq!(header.aux.repl_offset, Some(1234));
        assert_eq!(header.aux.repl_stream_db, Some(3));
        assert_eq!(header.aux.repl_id.as_deref(), Some(id().as_bytes()));
        assert_eq!(load(&rdb).unwrap(), store);
    }

    /// Appends a record whose value uses a special string encoding.
    fn record(body: &mut Vec<u8>, key: &[u8], encoded_value: &[u8]) {
        body.push(TYPE_STRING);
        rdb::write_string(body, key);
        body.extend_from_slice(encoded_value);
    }

    fn finish(mut body: Vec<u8>) -> Vec<u8> {
        body.push(OP_EOF);
        let crc = rdb::crc64(&body);
        body.extend_from_slice(&crc.to_le_bytes());
        body
    }

    #[test]
    fn integer_lzf_and_seconds_expiry_encodings() {
        let mut body = b"REDIS0010".to_vec();
        body.push(OP_SELECTDB);
        body.push(2);
        body.push(OP_RESIZEDB);
        body.extend_from_slice(&[4, 1]);
        record(&mut body, b"i8", &[0xC0, 0xFB]);
        record(&mut body, b"i16", &[0xC1, 0x39, 0x30]);
        body.push(OP_EXPIRETIME);
        body.extend_from_slice(&2_000_000_000u32.to_le_bytes());
        record(&mut body, b"i32", &[0xC2, 0x15, 0xCD, 0x5B, 0x07]);
        // "abcabcabcabc": literal "abc", then a 9-byte back-reference at distance 3.
        record(
            &mut body,
            b"lzf",
            &[0xC3, 7, 12, 0x02, b'a', b'b', b'c', 0xE0, 0x00, 0x02],
        );
        let store = load(&finish(body)).unwrap();
        let get = |k: &[u8]| store.get_raw(2, k).unwrap().clone();
        assert_eq!(get(b"i8").value, "-5");
        assert_eq!(get(b"i16").value, "12345");
        assert_eq!(get(b"i32").value, "123456789");
        assert_eq!(get(b"i32").expire_at_ms, Some(2_000_000_000_000));
        assert_eq!(get(b"lzf").value, "abcabcabcabc");
    }

    #[test]
    fn other_types_and_bad_files_are_refused() {
        let mut body = b"REDIS0009".to_vec();
        body.push(2); // a set
        rdb::write_string(&mut body, b"s");
        assert_eq!(load(&finish(body)), Err(LoadError::UnsupportedType(2)));
        let mut body = b"REDIS0009".to_vec();
        body.extend_from_slice(&[OP_SELECTDB, 16]);
        assert_eq!(load(&finish(body)), Err(LoadError::DbOutOfRange(16)));
        let mut rdb = write(&Store::new(), id(), Offset(0), 0, 0).to_vec();
        let last = rdb.len() - 1;
        rdb[last] ^= 1;
        assert!(matches!(
            load(&rdb),
            Err(LoadError::Rdb(RdbError::ChecksumMismatch { .. }))
        ));
    }
}
