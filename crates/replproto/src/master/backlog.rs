//! The replication backlog: the recent history of the stream, served to resuming replicas.

use std::collections::VecDeque;

use bytes::{BufMut, Bytes, BytesMut};

use crate::Offset;

/// Smallest backlog Redis accepts; smaller sizes are raised to it.
pub const MIN_BACKLOG_SIZE: usize = 16 * 1024;

/// Default backlog size (`repl-backlog-size 1mb`).
pub const DEFAULT_BACKLOG_SIZE: usize = 1024 * 1024;

/// A fixed-capacity window over the end of the replication stream.
///
/// It holds the last `capacity` bytes appended (fewer until that many arrived): stream bytes
/// `first_offset() ..= last_offset()`. Storage is a queue of blocks; appends copy into the
/// newest block (O(1) per byte, no reallocation of old data), and reads hand out [`Bytes`]
/// slices of the blocks without copying them. Trimming skips the start of the oldest block
/// and releases it once all of it is out of the window, so an append costs no
/// reference-count operation; memory held stays below `capacity` plus one block (a
/// sixteenth of the capacity, at least 16 KiB).
#[derive(Debug)]
pub struct Backlog {
    capacity: usize,
    block_size: usize,
    /// Sealed blocks, oldest first.
    sealed: VecDeque<Bytes>,
    /// Bytes at the start of the oldest sealed block that are out of the window.
    head_skip: usize,
    /// The block being filled.
    tail: BytesMut,
    /// Offset of the first byte held (or of the next byte, when empty).
    first: u64,
    /// Bytes held.
    histlen: u64,
}

/// The range of offsets a backlog can serve, as Redis reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BacklogWindow {
    /// Offset of the first byte held (`repl_backlog_first_byte_offset`).
    pub first_offset: u64,
    /// Bytes held (`repl_backlog_histlen`).
    pub histlen: u64,
}

impl BacklogWindow {
    /// Whether a replica asking for byte `start` can be served: Redis's
    /// `first <= start <= first + histlen` (asking for the very next byte is fine).
    pub fn covers(&self, start: i64) -> bool {
        start >= 0
            && self.first_offset <= start as u64
            && start as u64 <= self.first_offset + self.histlen
    }
}

impl Backlog {
    /// An empty backlog that continues a stream whose last byte is `master_offset`.
    /// `capacity` is raised to [`MIN_BACKLOG_SIZE`] if smaller.
    pub fn new(capacity: usize, master_offset: Offset) -> Backlog {
        let capacity = capacity.max(MIN_BACKLOG_SIZE);
        // Blocks between 16 KiB and a sixteenth of the backlog, as Redis 7 sizes them.
        let block_size = (capacity / 16).max(MIN_BACKLOG_SIZE);
        Backlog {
            capacity,
            block_size,
            sealed: VecDeque::new(),
            head_skip: 0,
            tail: BytesMut::with_capacity(block_size),
            first: master_offset.get() + 1,
            histlen: 0,
        }
    }

    /// The configured capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// What the backlog holds.
    pub fn window(&self) -> BacklogWindow {
        BacklogWindow {
            first_offset: self.first,
            histlen: self.histlen,
        }
    }

    /// Offset of the last byte appended: the master's `master_repl_offset`.
    pub fn last_offset(&self) -> Offset {
        Offset(self.first + self.histlen - 1)
    }

    /// Appends stream bytes, dropping the oldest beyond the capacity.
    #[inline]
    pub fn append(&mut self, data: &[u8]) {
        // Most appends are one command that fits the block being filled.
        if data.len() <= self.block_size - self.tail.len() {
            self.tail.extend_from_slice(data);
            self.histlen += data.len() as u64;
            if self.histlen > self.capacity as u64 {
                self.trim();
            }
            return;
        }
        self.append_across_blocks(data);
    }

    fn append_across_blocks(&mut self, mut data: &[u8]) {
        // Only the last `capacity` bytes of a huge append can be kept.
        if data.len() > self.capacity {
            let skip = data.len() - self.capacity;
            self.first += self.histlen + skip as u64;
            self.histlen = 0;
            self.sealed.clear();
            self.head_skip = 0;
            self.tail.clear();
            data = &data[skip..];
        }
        while !data.is_empty() {
            let room = self.block_size - self.tail.len();
            if room == 0 {
                self.seal();
                continue;
            }
            let n = room.min(data.len());
            self.tail.put_slice(&data[..n]);
            data = &data[n..];
            self.histlen += n as u64;
        }
        self.trim();
    }

    /// Moves the filled part of the tail into the sealed blocks.
    fn seal(&mut self) {
        if self.tail.is_empty() {
            return;
        }
        let block = self.tail.split().freeze();
        self.sealed.push_back(block);
        if self.tail.capacity() < self.block_size / 4 {
            self.tail = BytesMut::with_capacity(self.block_size);
        }
    }

    #[inline]
    fn trim(&mut self) {
        while self.histlen > self.capacity as u64 {
            let excess = (self.histlen - self.capacity as u64) as usize;
            let dropped = match self.sealed.front() {
                Some(head) if head.len() - self.head_skip <= excess => {
                    let left = head.len() - self.head_skip;
                    self.sealed.pop_front();
                    self.head_skip = 0;
                    left
                }
                Some(_) => {
                    self.head_skip += excess;
                    excess
                }
                // Only when the block being filled holds it all (a capacity below one block).
                None => {
                    let _ = self.tail.split_to(excess);
                    excess
                }
            };
            self.first += dropped as u64;
            self.histlen -= dropped as u64;
        }
    }

    /// The bytes from stream offset `start` to the end, as slices of the backlog's blocks
    /// (the partly filled newest block is sealed so it can be shared too). `None` when `start`
    /// is outside [`window`](Self::window); an empty list when `start` is the next byte.
    pub fn read_from(&mut self, start: u64) -> Option<Vec<Bytes>> {
        if !self.window().covers(start as i64) {
            return None;
        }
        self.seal();
        // Counted from the first byte of the oldest block, skipped start included.
        let mut skip = start - self.first + self.head_skip as u64;
        let mut pieces = Vec::new();
        for block in &self.sealed {
            let len = block.len() as u64;
            if skip >= len {
                skip -= len;
                continue;
            }
            pieces.push(block.slice(skip as usize..));
            skip = 0;
        }
        Some(pieces)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fresh_backlog_continues_the_stream() {
        let mut backlog = Backlog::new(0, Offset(107));
        assert_eq!(backlog.capacity(), MIN_BACKLOG_SIZE);
        assert_eq!(
            backlog.window(),
            BacklogWindow {
                first_offset: 108,
                histlen: 0
            }
        );
        assert_eq!(backlog.read_from(108), Some(vec![]));
        assert_eq!(backlog.read_from(107), None);
        backlog.append(b"*1\r\n$4\r\nping\r\n");
        assert_eq!(backlog.last_offset(), Offset(121));
        assert_eq!(backlog.read_from(115).unwrap().concat(), b"\nping\r\n");
        assert_eq!(backlog.read_from(122), Some(vec![]));
        assert_eq!(backlog.read_from(123), None);
    }

    #[test]
    fn window_edges() {
        let window = BacklogWindow {
            first_offset: 1,
            histlen: 107,
        };
        assert!(window.covers(1) && window.covers(108));
        assert!(!window.covers(0) && !window.covers(109) && !window.covers(-1));
    }

    proptest! {
        #[test]
        fn reads_return_exactly_the_bytes_appended_since(
            start in 0u64..1_000_000,
            capacity in 0usize..100_000,
            appends in proptest::collection::vec(
                (0usize..40_000, any::<u8>(), proptest::option::of(any::<u64>())), 0..40),
        ) {
            let mut backlog = Backlog::new(capacity, Offset(start));
            let capacity = backlog.capacity();
            let mut model: Vec<u8> = Vec::new();
            for (i, (len, seed, probe)) in appends.iter().enumerate() {
                let chunk: Vec<u8> = (0..*len).map(|j| seed.wrapping_add((i * 31 + j) as u8)).collect();
                backlog.append(&chunk);
                model.extend_from_slice(&chunk);
                let total = model.len() as u64;
                let held = total.min(capacity as u64);
                let window = backlog.window();
                prop_assert_eq!(window.histlen, held);
                prop_assert_eq!(window.first_offset, start + 1 + total - held);
                // Memory: the window, plus at most one block's skipped start.
                let stored: usize = backlog.sealed.iter().map(Bytes::len).sum::<usize>() + backlog.tail.len();
                prop_assert_eq!(stored - backlog.head_skip, held as usize);
                prop_assert!(stored <= capacity + backlog.block_size);
                // Reads between appends too: a read seals the block being filled.
                let Some(probe) = probe else { continue };
                // Inside, at and just outside both edges of the window.
                let span = held + 3;
                let s = (window.first_offset + probe % span).saturating_sub(1);
                let got = backlog.read_from(s);
                if s >= window.first_offset && s <= window.first_offset + held {
                    let from = (s - (start + 1)) as usize;
                    prop_assert_eq!(got.unwrap().concat(), model[from..].to_vec());
                } else {
                    prop_assert!(got.is_none());
                }
            }
        }
    }
}
