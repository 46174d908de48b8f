//! A byte-level network emulator for one direction of a link: it splits what is sent into
//! segments at chosen points, delays them, and can cut the link after any byte.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

/// The two directions of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    /// Replica to master: the handshake, `REPLCONF ACK`.
    ReplicaToMaster,
    /// Master to replica: replies, the snapshot, the stream.
    MasterToReplica,
}

impl Dir {
    /// A short label for reports.
    pub fn label(self) -> &'static str {
        match self {
            Dir::ReplicaToMaster => "replica→master",
            Dir::MasterToReplica => "master→replica",
        }
    }
}

/// How one direction treats bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetemConfig {
    /// Largest segment delivered at once; 0 delivers each send whole.
    pub max_segment: usize,
    /// Segment sizes cycle through these (each clamped to `1..=max_segment`); empty means
    /// every segment is `max_segment` long.
    pub pattern: Vec<usize>,
    /// Time between a send and its delivery.
    pub delay: Duration,
}

impl Default for NetemConfig {
    fn default() -> Self {
        NetemConfig {
            max_segment: 0,
            pattern: Vec::new(),
            delay: Duration::ZERO,
        }
    }
}

impl NetemConfig {
    /// Segments of at most `max` bytes.
    pub fn segments(max: usize) -> NetemConfig {
        NetemConfig {
            max_segment: max,
            ..NetemConfig::default()
        }
    }
}

/// What comes out of a pipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Bytes for the receiver.
    Data(Bytes),
    /// The sender closed its side: the receiver sees the end of the connection.
    Eof,
}

/// One direction of a link.
#[derive(Debug)]
pub struct Pipe {
    config: NetemConfig,
    queue: VecDeque<(Instant, Delivery)>,
    /// Bytes accepted for delivery so far (what the cut counts).
    sent: u64,
    /// Cut the link once this many bytes passed.
    cut_after: Option<u64>,
    /// The link was cut: nothing more passes.
    cut: bool,
    next_pattern: usize,
    closed: bool,
}

impl Pipe {
    /// A pipe with these settings.
    pub fn new(config: NetemConfig) -> Pipe {
        Pipe {
            config,
            queue: VecDeque::new(),
            sent: 0,
            cut_after: None,
            cut: false,
            next_pattern: 0,
            closed: false,
        }
    }

    /// Arms a cut: once `after` bytes in total passed this direction, the link breaks. With
    /// `after` 0 the first send breaks it before any byte passes.
    pub fn cut_after(&mut self, after: u64) {
        self.cut_after = Some(after);
    }

    /// Bytes that passed so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Whether the armed cut fired.
    pub fn is_cut(&self) -> bool {
        self.cut
    }

    /// Whether the sender closed its side.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Sends bytes at `now`. Returns `true` when this send fired the armed cut (the bytes up
    /// to the cut point are still delivered; the caller breaks the link).
    pub fn send(&mut self, now: Instant, mut data: Bytes) -> bool {
        if self.cut || self.closed || data.is_empty() {
            return false;
        }
        let mut fired = false;
        if let Some(limit) = self.cut_after {
            let room = limit.saturating_sub(self.sent);
            if data.len() as u64 >= room {
                data.truncate(room as usize);
                fired = true;
            }
        }
        self.sent += data.len() as u64;
        let at = now + self.config.delay;
        while !data.is_empty() {
            let size = self.segment_size().min(data.len());
            let piece = data.split_to(size);
            self.queue.push_back((at, Delivery::Data(piece)));
        }
        if fired {
            self.cut = true;
        }
        fired
    }

    fn segment_size(&mut self) -> usize {
        let max = self.config.max_segment;
        if max == 0 {
            return usize::MAX;
        }
        if self.config.pattern.is_empty() {
            return max;
        }
        let size = self.config.pattern[self.next_pattern % self.config.pattern.len()];
        self.next_pattern += 1;
        size.clamp(1, max)
    }

    /// The sender closes its side: an end of connection follows the bytes in flight.
    pub fn close(&mut self, now: Instant) {
        if !self.closed {
            self.closed = true;
            if self.cut {
                return;
            }
            self.queue
                .push_back((now + self.config.delay, Delivery::Eof));
        }
    }

    /// Drops everything in flight (a cut link loses it).
    pub fn drop_in_flight(&mut self) {
        self.queue.clear();
    }

    /// The next delivery due at or before `now`.
    pub fn poll(&mut self, now: Instant) -> Option<Delivery> {
        match self.queue.front() {
            Some((at, _)) if *at <= now => self.queue.pop_front().map(|(_, d)| d),
            _ => None,
        }
    }

    /// When the next delivery is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.queue.front().map(|(at, _)| *at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_delays_and_cuts() {
        let t0 = Instant::now();
        let mut pipe = Pipe::new(NetemConfig {
            max_segment: 3,
            pattern: vec![1, 2],
            delay: Duration::from_millis(5),
        });
        pipe.cut_after(5);
        assert!(!pipe.send(t0, Bytes::from_static(b"abc")));
        assert!(pipe.poll(t0).is_none());
        assert_eq!(pipe.next_due(), Some(t0 + Duration::from_millis(5)));
        assert!(pipe.send(t0, Bytes::from_static(b"defg")));
        let got: Vec<Delivery> =
            std::iter::from_fn(|| pipe.poll(t0 + Duration::from_secs(1))).collect();
        assert_eq!(
            got,
            vec![
                Delivery::Data(Bytes::from_static(b"a")),
                Delivery::Data(Bytes::from_static(b"bc")),
                Delivery::Data(Bytes::from_static(b"d")),
                Delivery::Data(Bytes::from_static(b"e")),
            ]
        );
        assert!(pipe.is_cut() && pipe.sent() == 5);
        assert!(!pipe.send(t0, Bytes::from_static(b"h")));
    }

    #[test]
    fn a_cut_at_zero_passes_nothing() {
        let t0 = Instant::now();
        let mut pipe = Pipe::new(NetemConfig::default());
        pipe.cut_after(0);
        assert!(pipe.send(t0, Bytes::from_static(b"x")));
        assert!(pipe.poll(t0).is_none());
    }
}
