//! Writing an RDB snapshot: what a master needs to serve a full sync of a simple data set.

use super::{crc64, write_length, write_string, OP_AUX, OP_EOF};
use crate::{Offset, ReplId};

const OP_SELECTDB: u8 = 0xFE;
const OP_RESIZEDB: u8 = 0xFB;
const OP_EXPIRETIME_MS: u8 = 0xFC;
const TYPE_STRING: u8 = 0;

/// Builds an RDB file in memory: header and aux fields, then databases of string keys, then
/// the EOF opcode and the CRC-64 trailer.
///
/// Version 9 is written, which every Redis since 5.0 (and Valkey) loads. Only strings are
/// supported, each with an optional absolute expiry in milliseconds.
///
/// ```
/// use replproto::rdb::{read_header, verify_checksum, ChecksumStatus, RdbWriter};
/// use replproto::{Offset, ReplId};
///
/// let id = ReplId::parse(b"e8120531390c7d051bcb7f000ce2b93dfe8b7184")?;
/// let mut rdb = RdbWriter::new("replproto-0.1.0");
/// rdb.replication_info(id, Offset(1000), 0);
/// rdb.start_db(0, 1, 0);
/// rdb.string(b"greeting", b"hello", None);
/// let bytes = rdb.finish();
/// assert_eq!(verify_checksum(&bytes)?, ChecksumStatus::Verified);
/// assert_eq!(read_header(&bytes)?.aux.repl_offset, Some(1000));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct RdbWriter {
    out: Vec<u8>,
}

/// The RDB version written.
pub const WRITE_VERSION: u32 = 9;

impl RdbWriter {
    /// Starts a file, recording `server_version` as its `redis-ver` aux field.
    pub fn new(server_version: &str) -> RdbWriter {
        let mut rdb = RdbWriter {
            out: format!("REDIS{WRITE_VERSION:04}").into_bytes(),
        };
        rdb.aux(b"redis-ver", server_version.as_bytes());
        rdb.aux(b"redis-bits", b"64");
        rdb
    }

    /// Adds one aux field.
    pub fn aux(&mut self, key: &[u8], value: &[u8]) {
        self.out.push(OP_AUX);
        write_string(&mut self.out, key);
        write_string(&mut self.out, value);
    }

    /// Adds the replication aux fields a replica resumes from: `repl-stream-db`, `repl-id`,
    /// `repl-offset`.
    pub fn replication_info(&mut self, replid: ReplId, offset: Offset, stream_db: u32) {
        self.aux(b"repl-stream-db", stream_db.to_string().as_bytes());
        self.aux(b"repl-id", replid.as_bytes());
        self.aux(b"repl-offset", offset.get().to_string().as_bytes());
    }

    /// Starts database `db`, announcing how many keys (and keys with an expiry) follow.
    pub fn start_db(&mut self, db: u32, keys: u64, expires: u64) {
        self.out.push(OP_SELECTDB);
        write_length(&mut self.out, u64::from(db));
        self.out.push(OP_RESIZEDB);
        write_length(&mut self.out, keys);
        write_length(&mut self.out, expires);
    }

    /// Adds a string key, with its absolute expiry in Unix milliseconds if it has one.
    pub fn string(&mut self, key: &[u8], value: &[u8], expire_at_ms: Option<u64>) {
        if let Some(at) = expire_at_ms {
            self.out.push(OP_EXPIRETIME_MS);
            self.out.extend_from_slice(&at.to_le_bytes());
        }
        self.out.push(TYPE_STRING);
        write_string(&mut self.out, key);
        write_string(&mut self.out, value);
    }

    /// Ends the file: EOF opcode and checksum.
    pub fn finish(mut self) -> Vec<u8> {
        self.out.push(OP_EOF);
        let crc = crc64(&self.out);
        self.out.extend_from_slice(&crc.to_le_bytes());
        self.out
    }
}
