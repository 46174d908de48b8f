//! The master application's model of the replication stream: the exact bytes each
//! propagated unit must add, encoded here independently of the core, with the `SELECT` rule
//! of Redis (`slaveseldb`) mirrored.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::store::Write;

/// What a stream command is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// `SELECT`
    Select(u32),
    /// `MULTI`
    Multi,
    /// `EXEC`
    Exec,
    /// The master's `PING`.
    Ping,
    /// `REPLCONF GETACK *`
    GetAck,
    /// A write.
    Write,
}

/// One command of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Offset of its first byte.
    pub start: u64,
    /// Offset of its last byte.
    pub end: u64,
    /// Its bytes.
    pub raw: Bytes,
    /// The database a write runs in.
    pub db: Option<u32>,
    /// What it is.
    pub kind: EntryKind,
}

/// Encodes a command as a RESP array of bulk strings (independently of the core's encoder).
pub fn resp<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        let a = a.as_ref();
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The stream as the model expects it.
#[derive(Debug, Clone)]
pub struct StreamLog {
    entries: BTreeMap<u64, Entry>,
    /// Last byte of the stream.
    offset: u64,
    /// The database last selected in the stream, `None` after a reset.
    selected: Option<u32>,
    bytes: u64,
}

impl StreamLog {
    /// A stream whose last byte is `offset`.
    pub fn new(offset: u64) -> StreamLog {
        StreamLog {
            entries: BTreeMap::new(),
            offset,
            selected: None,
            bytes: 0,
        }
    }

    /// Offset of the last byte.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Commands recorded.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Stream bytes recorded.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The command starting at byte `start`.
    pub fn get(&self, start: u64) -> Option<&Entry> {
        self.entries.get(&start)
    }

    /// The stream's bytes from offset `start` to the end (empty when `start` is past it).
    pub fn bytes_from(&self, start: u64) -> Vec<u8> {
        let mut out = Vec::new();
        for entry in self.entries.values().filter(|e| e.end >= start) {
            let skip = start.saturating_sub(entry.start) as usize;
            out.extend_from_slice(&entry.raw[skip..]);
        }
        out
    }

    /// Every command, in order.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> + '_ {
        self.entries.values()
    }

    /// The next keyed command re-selects its database (after a full-sync setup, a promotion).
    pub fn reset_select(&mut self) {
        self.selected = None;
    }

    /// The stream was restarted at `offset` (a new backlog after `follow`).
    pub fn restart_at(&mut self, offset: u64) {
        assert_eq!(
            offset, self.offset,
            "a restarted stream keeps its numbering"
        );
    }

    fn push(&mut self, raw: Vec<u8>, db: Option<u32>, kind: EntryKind) {
        let start = self.offset + 1;
        let end = self.offset + raw.len() as u64;
        self.bytes += raw.len() as u64;
        self.entries.insert(
            start,
            Entry {
                start,
                end,
                raw: Bytes::from(raw),
                db,
                kind,
            },
        );
        self.offset = end;
    }

    /// One execution unit run in `db`: more than one write is wrapped in `MULTI` … `EXEC`,
    /// with `SELECT` (when the database changes) after the `MULTI`.
    pub fn unit(&mut self, db: u32, writes: &[Write]) {
        if writes.is_empty() {
            return;
        }
        let wrap = writes.len() > 1;
        if wrap {
            self.push(resp(&["MULTI"]), None, EntryKind::Multi);
        }
        if self.selected != Some(db) {
            self.push(
                resp(&["SELECT".to_string(), db.to_string()]),
                None,
                EntryKind::Select(db),
            );
            self.selected = Some(db);
        }
        for w in writes {
            self.push(resp(&w.args()), Some(db), EntryKind::Write);
        }
        if wrap {
            self.push(resp(&["EXEC"]), None, EntryKind::Exec);
        }
    }

    /// The master's keepalive, lower-case as Redis sends it.
    pub fn ping(&mut self) {
        self.push(b"*1\r\n$4\r\nping\r\n".to_vec(), None, EntryKind::Ping);
    }

    /// `REPLCONF GETACK *`.
    pub fn getack(&mut self) {
        self.push(resp(&["REPLCONF", "GETACK", "*"]), None, EntryKind::GetAck);
    }
}
