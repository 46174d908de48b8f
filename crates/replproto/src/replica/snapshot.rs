//! The snapshot payload: `$<len>` or `$EOF:<mark>` framing, streamed out in chunks.

use std::collections::VecDeque;

use bytes::{Buf, BytesMut};
use nom::FindSubstring;

use crate::rdb::{ChecksumStatus, RdbError, RdbScanner};

use super::{Event, SnapshotFraming};

/// Length of the diskless end mark.
pub(super) const MARK_LEN: usize = 40;

/// Bytes of RDB header buffered to read the aux fields while the payload streams past.
const HEADER_SCAN_LIMIT: usize = 64 * 1024;

#[derive(Debug)]
enum Framing {
    Length { remaining: u64 },
    EofMark { mark: [u8; MARK_LEN] },
}

/// A snapshot in transfer.
#[derive(Debug)]
pub(super) struct Payload {
    framing: Framing,
    scanner: Box<RdbScanner>,
    size: u64,
}

/// A finished snapshot.
pub(super) struct Finished {
    pub(super) size: u64,
    pub(super) checksum: Result<ChecksumStatus, RdbError>,
    pub(super) stream_db: u32,
}

impl Payload {
    pub(super) fn new(framing: SnapshotFraming, mark: Option<[u8; MARK_LEN]>) -> Self {
        let framing = match (framing, mark) {
            (_, Some(mark)) => Framing::EofMark { mark },
            (SnapshotFraming::Length(len), None) => Framing::Length { remaining: len },
            (SnapshotFraming::EofMark, None) => Framing::Length { remaining: 0 },
        };
        Payload {
            framing,
            scanner: Box::new(RdbScanner::new(HEADER_SCAN_LIMIT)),
            size: 0,
        }
    }

    /// Moves the payload bytes available in `input` out as chunk events. Returns the finished
    /// snapshot once its end is reached; bytes after it stay in `input`.
    pub(super) fn take(
        &mut self,
        input: &mut BytesMut,
        events: &mut VecDeque<Event>,
    ) -> Result<Option<Finished>, RdbError> {
        let (chunk_len, done) = match &mut self.framing {
            Framing::Length { remaining } => {
                let n = (*remaining).min(input.len() as u64);
                *remaining -= n;
                (n as usize, *remaining == 0)
            }
            Framing::EofMark { mark } => match (&input[..]).find_substring(&mark[..]) {
                Some(at) => (at, true),
                // The last MARK_LEN - 1 bytes may be the start of a mark split across reads.
                None => (input.len().saturating_sub(MARK_LEN - 1), false),
            },
        };
        if chunk_len > 0 {
            let chunk = input.split_to(chunk_len).freeze();
            self.scanner.feed(&chunk)?;
            self.size += chunk.len() as u64;
            events.push_back(Event::SnapshotChunk(chunk));
        }
        if !done {
            return Ok(None);
        }
        if let Framing::EofMark { .. } = self.framing {
            input.advance(MARK_LEN);
        }
        let stream_db = self
            .scanner
            .header()
            .and_then(|h| h.aux.repl_stream_db)
            .unwrap_or(0);
        Ok(Some(Finished {
            size: self.size,
            checksum: self.scanner.finish(),
            stream_db,
        }))
    }
}
