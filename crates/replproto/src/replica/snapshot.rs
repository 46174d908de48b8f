//! The snapshot payload: `$<len>` or `$EOF:<mark>` framing, streamed out in chunks.
//!
//! Every payload byte is handed out as a slice of the input buffer (no copy), and the input is
//! left empty whenever possible so that the next owned read (`handle_input_bytes`) is taken
//! over as it is rather than appended.

use std::collections::VecDeque;

use crate::rdb::{ChecksumStatus, RdbError, RdbScanner};
use bytes::{Buf, BytesMut};

use super::mark::MarkFinder;
pub(super) use super::mark::MARK_LEN;
use super::{Event, SnapshotFraming};

/// Bytes checksummed and then searched for the end mark in one go: small enough that the
/// piece and the next one, prefetched while this one is searched, both stay in the
/// first-level data cache. In alternated runs 8 KiB kept closer to a plain copy than 4, 16
/// or 32 KiB.
const CACHED_PIECE: usize = 8 * 1024;

/// Bytes of RDB header buffered to read the aux fields while the payload streams past.
const HEADER_SCAN_LIMIT: usize = 64 * 1024;

#[derive(Debug)]
enum Framing {
    Length {
        remaining: u64,
    },
    /// A searcher for the end mark, built once per snapshot (boxed: it is large).
    EofMark(Box<MarkFinder>),
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
            (_, Some(mark)) => Framing::EofMark(Box::new(MarkFinder::new(&mark))),
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
        // Each framing feeds the payload part of the input, `input[..chunk_len]`, to the
        // scanner.
        let (chunk_len, done) = match &mut self.framing {
            Framing::Length { remaining } => {
                let n = (*remaining).min(input.len() as u64) as usize;
                *remaining -= n as u64;
                self.scanner.feed(&input[..n])?;
                (n, *remaining == 0)
            }
            Framing::EofMark(finder) => checksum_and_find(&mut self.scanner, finder, input)?,
        };
        if chunk_len > 0 {
            let chunk = input.split_to(chunk_len).freeze();
            self.size += chunk.len() as u64;
            events.push_back(Event::SnapshotChunk(chunk));
        }
        if !done {
            return Ok(None);
        }
        if let Framing::EofMark(_) = self.framing {
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

/// Finds the end of the payload in `input`: its length there (the bytes before the mark, or
/// all but a possible start of one) and whether the mark was found. Feeds exactly those bytes
/// to `scanner`.
///
/// The checksum goes first, a cache-sized piece at a time: it streams bytes fresh from memory
/// faster than the search does, which then runs over the piece while it is still in the
/// nearest cache, and meanwhile asks memory for the next piece. Taken back in the rare case
/// that not all of the input is payload.
fn checksum_and_find(
    scanner: &mut RdbScanner,
    finder: &MarkFinder,
    input: &[u8],
) -> Result<(usize, bool), RdbError> {
    // The checksum can only run ahead of the search when it can be taken back to here.
    let save_point = scanner.save_point();
    let mut found = None;
    let mut piece = 0;
    while piece < input.len() {
        let end = (piece + CACHED_PIECE).min(input.len());
        if save_point.is_some() {
            scanner.feed(&input[piece..end])?;
        }
        // The window runs on into the next piece by the mark's length less one, so that a
        // mark starting in this piece is found whole.
        let window = &input[piece..(end + MARK_LEN - 1).min(input.len())];
        let next_piece = &input[end..(end + CACHED_PIECE).min(input.len())];
        if let Some(at) = finder.find(window, next_piece) {
            found = Some(piece + at);
            break;
        }
        piece = end;
    }
    let (len, done) = match found {
        Some(at) => (at, true),
        None => (input.len() - partial_mark_len(input, finder.mark()), false),
    };
    match save_point {
        Some(_) if len == input.len() => {}
        Some(point) => {
            scanner.rewind(point);
            scanner.feed(&input[..len])?;
        }
        None => scanner.feed(&input[..len])?,
    }
    Ok((len, done))
}

/// Length of the longest end of `data` that is a proper start of `mark`: the bytes that may
/// begin a mark split across reads, held back until the next read tells. Usually 0, so the
/// input is left empty.
fn partial_mark_len(data: &[u8], mark: &[u8]) -> usize {
    let from = data.len().saturating_sub(mark.len() - 1);
    (from..data.len())
        .find(|&at| data[at] == mark[0] && mark.starts_with(&data[at..]))
        .map_or(0, |at| data.len() - at)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARK: &[u8; MARK_LEN] = b"0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn only_a_start_of_the_mark_is_held_back() {
        assert_eq!(partial_mark_len(b"", MARK), 0);
        assert_eq!(partial_mark_len(b"xyz", MARK), 0);
        assert_eq!(partial_mark_len(b"xyz0", MARK), 1);
        assert_eq!(partial_mark_len(b"xyz01", MARK), 2);
        assert_eq!(partial_mark_len(b"xyz02", MARK), 0);
        // The longest start wins: "0123456789abcdef0" ends with "0" too.
        assert_eq!(partial_mark_len(b"x0123456789abcdef0", MARK), 17);
        assert_eq!(partial_mark_len(&MARK[..MARK_LEN - 1], MARK), MARK_LEN - 1);
        let mut long = vec![b'x'; 100];
        long.extend_from_slice(&MARK[..MARK_LEN - 1]);
        assert_eq!(partial_mark_len(&long, MARK), MARK_LEN - 1);
    }

    /// A valid RDB whose value holds starts of the mark, so that reads end on them.
    fn rdb_with_mark_starts() -> Vec<u8> {
        let mut value = Vec::new();
        for k in [1, 5, 39, 2, 17, 39] {
            value.extend_from_slice(b"some value bytes ");
            value.extend_from_slice(&MARK[..k]);
        }
        let mut rdb = crate::rdb::RdbWriter::new("7.0.0");
        rdb.start_db(0, 1, 0);
        rdb.string(b"key", &value, None);
        rdb.finish()
    }

    #[test]
    fn the_checksum_holds_whatever_the_reads() {
        let rdb = rdb_with_mark_starts();
        let mut wire = rdb.clone();
        wire.extend_from_slice(MARK);
        wire.extend_from_slice(b"+stream");
        for first in 0..wire.len() {
            for read in [1, 7, 41, 64, 333] {
                let mut payload = Payload::new(SnapshotFraming::EofMark, Some(*MARK));
                let mut events = VecDeque::new();
                let mut input = BytesMut::new();
                let mut finished = None;
                let mut parts = vec![&wire[..first]];
                parts.extend(wire[first..].chunks(read));
                for part in parts {
                    input.extend_from_slice(part);
                    if finished.is_none() {
                        finished = payload.take(&mut input, &mut events).unwrap();
                    }
                }
                let finished = finished.expect("mark found");
                assert_eq!(finished.size, rdb.len() as u64, "first {first} read {read}");
                assert_eq!(finished.checksum, Ok(ChecksumStatus::Verified));
                assert_eq!(&input[..], b"+stream", "first {first} read {read}");
            }
        }
    }

    /// A valid RDB of exactly `len` bytes (for lengths past a small minimum).
    fn rdb_of_len(len: usize) -> Vec<u8> {
        let bare = {
            let mut rdb = crate::rdb::RdbWriter::new("7.0.0");
            rdb.start_db(0, 1, 0);
            rdb.string(b"key", b"", None);
            rdb.finish()
        };
        // The value's length prefix grows with it: try the few lengths around the estimate.
        (len.saturating_sub(bare.len() + 8)..=len)
            .map(|value_len| {
                let mut rdb = crate::rdb::RdbWriter::new("7.0.0");
                rdb.start_db(0, 1, 0);
                rdb.string(b"key", &vec![b'v'; value_len], None);
                rdb.finish()
            })
            .find(|rdb| rdb.len() == len)
            .expect("a value length gives this size")
    }

    #[test]
    fn a_mark_on_either_side_of_a_cached_piece_edge_is_found_in_one_read() {
        for edge in [CACHED_PIECE, 2 * CACHED_PIECE] {
            for len in edge - MARK_LEN - 1..=edge + 1 {
                let rdb = rdb_of_len(len);
                let mut wire = rdb.clone();
                wire.extend_from_slice(MARK);
                wire.extend_from_slice(b"+stream");
                let mut payload = Payload::new(SnapshotFraming::EofMark, Some(*MARK));
                let mut events = VecDeque::new();
                let mut input = BytesMut::from(&wire[..]);
                let finished = payload.take(&mut input, &mut events).unwrap();
                let finished = finished.expect("mark found");
                assert_eq!(finished.size, len as u64, "payload of {len}");
                assert_eq!(
                    finished.checksum,
                    Ok(ChecksumStatus::Verified),
                    "payload of {len}"
                );
                assert_eq!(&input[..], b"+stream", "payload of {len}");
            }
        }
    }

    #[test]
    fn a_mark_split_anywhere_is_found_and_never_handed_out() {
        let mut wire = vec![b'p'; 200];
        wire[..9].copy_from_slice(b"REDIS0010");
        wire[150..160].copy_from_slice(&MARK[..10]);
        wire.extend_from_slice(MARK);
        wire.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        for cut in 0..=wire.len() {
            let mut payload = Payload::new(SnapshotFraming::EofMark, Some(*MARK));
            let mut events = VecDeque::new();
            let mut input = BytesMut::new();
            let mut finished = None;
            for part in [&wire[..cut], &wire[cut..]] {
                input.extend_from_slice(part);
                if finished.is_none() {
                    finished = payload.take(&mut input, &mut events).unwrap();
                }
            }
            let finished = finished.expect("mark found");
            assert_eq!(finished.size, 200, "cut {cut}");
            let handed: Vec<u8> = events
                .iter()
                .flat_map(|e| match e {
                    Event::SnapshotChunk(c) => c.to_vec(),
                    _ => Vec::new(),
                })
                .collect();
            assert_eq!(handed, wire[..200], "cut {cut}");
            assert_eq!(&input[..], b"*1\r\n$4\r\nPING\r\n", "cut {cut}");
        }
    }
}
