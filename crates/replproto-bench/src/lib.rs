//! Shared pieces of the `replproto` benchmarks (see `docs/performance.md`).
//!
//! - the corpora, generated deterministically (no files, no randomness from outside);
//! - a [`Replica`] brought to the streaming phase (or to the snapshot header) by feeding it a
//!   scripted master;
//! - the loops that feed bytes and drain events, shared by the criterion benches and the
//!   allocation test, so both measure the same code path;
//! - the peers: `redis-protocol`'s zero-copy decoder, a `memchr` newline scan, a plain copy,
//!   a ring-buffer backlog;
//! - the floor of owning each command: one `Bytes` handle split off the reads, nothing decoded.

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use replproto::rdb::{ChecksumStatus, RdbWriter};
use replproto::replica::{Event, Phase, Replica, ReplicaConfig};
use replproto::resp::{write_unsigned, CommandDecoder, Decoded};
use replproto::{Limits, Offset, ReplId};

/// Size of one read from the socket in the "16 KiB reads" benchmarks (Redis's own
/// `PROTO_IOBUF_LEN`).
pub const READ_SIZE: usize = 16 * 1024;

/// The replication id the scripted master announces.
pub const REPLID: &str = "8f2a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a";

/// Commands in the `SET` corpus of the stream benchmarks.
pub const SET_COMMANDS: u64 = 1_000_000;

/// Commands in the mixed corpus of the stream benchmarks.
pub const MIXED_COMMANDS: u64 = 1_000_000;

/// Commands in the `INCR` corpus of the stream benchmarks.
pub const INCR_COMMANDS: u64 = 10_000_000;

/// The stream offset the scripted master's snapshot ends at: stream bytes count from here.
pub const START_OFFSET: u64 = 1_000;

/// A generated stream of commands, as a master propagates them.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// Short name, used in benchmark ids.
    pub name: &'static str,
    /// The wire bytes.
    pub bytes: Vec<u8>,
    /// Number of commands in `bytes`.
    pub commands: u64,
}

impl Corpus {
    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the corpus holds no byte.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Appends one command as a RESP array of bulk strings.
pub fn push_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.push(b'*');
    write_unsigned(out, args.len() as u64);
    out.extend_from_slice(b"\r\n");
    for arg in args {
        out.push(b'$');
        write_unsigned(out, arg.len() as u64);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// A small deterministic generator (xorshift64*), so every run decodes the same bytes.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed` (0 is replaced by a fixed odd constant).
    pub fn new(seed: u64) -> Rng {
        Rng(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// Fills `out` with `len` printable bytes derived from `seed`.
fn value(out: &mut Vec<u8>, len: usize, seed: u64) {
    text(out, len, seed, PayloadText::Letters);
}

/// What the values of [`big_rdb_of`] are made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadText {
    /// Lowercase letters.
    Letters,
    /// Lowercase hex digits, the alphabet of Redis's `$EOF:` marks: the ordinary payload on
    /// which a search for the mark meets the most near-misses.
    Hex,
}

/// Fills `out` with `len` bytes of `kind` derived from `seed`.
fn text(out: &mut Vec<u8>, len: usize, seed: u64, kind: PayloadText) {
    let alphabet: &[u8] = match kind {
        PayloadText::Letters => b"abcdefghijklmnopqrstuvwxyz",
        PayloadText::Hex => b"0123456789abcdef",
    };
    out.clear();
    let mut rng = Rng::new(seed.wrapping_add(1));
    while out.len() < len {
        let bits = rng.next_u64();
        for i in 0..8 {
            if out.len() == len {
                break;
            }
            out.push(alphabet[usize::from((bits >> (i * 8)) as u8) % alphabet.len()]);
        }
    }
}

/// `count` times `SET key:<12 digits> <100-byte value>`.
pub fn set_corpus(count: u64) -> Corpus {
    let mut bytes = Vec::with_capacity(count as usize * 144);
    let mut v = Vec::with_capacity(100);
    for i in 0..count {
        let key = format!("key:{i:012}");
        value(&mut v, 100, i);
        push_command(&mut bytes, &[b"SET", key.as_bytes(), &v]);
    }
    Corpus {
        name: "set",
        bytes,
        commands: count,
    }
}

/// `count` times `INCR counter` (27 bytes each).
pub fn incr_corpus(count: u64) -> Corpus {
    let mut one = Vec::new();
    push_command(&mut one, &[b"INCR", b"counter"]);
    let bytes = one.repeat(count as usize);
    Corpus {
        name: "incr",
        bytes,
        commands: count,
    }
}

/// `count` commands of a mixed workload, drawn deterministically:
///
/// | command | share | shape |
/// | --- | --- | --- |
/// | `SET key:<n> <value>` | 30% | |
/// | `INCR counter:<n>` | 20% | |
/// | `LPUSH list:<n> <value>` | 15% | |
/// | `HSET hash:<n> field:<n> <value>` | 15% | |
/// | `DEL key:<n>` | 10% | |
/// | `EXPIRE key:<n> <seconds>` | 10% | |
///
/// Keys draw `<n>` from 0..1,000,000. Each value is 4 KiB with probability 10%, otherwise
/// 16 to 128 bytes.
pub fn mixed_corpus(count: u64) -> Corpus {
    let mut rng = Rng::new(0x5eed);
    let mut bytes = Vec::with_capacity(count as usize * 350);
    let mut v = Vec::with_capacity(4096);
    for i in 0..count {
        let n = rng.below(1_000_000);
        let pick = rng.below(100);
        let value_len = if rng.below(10) == 0 {
            4096
        } else {
            16 + rng.below(113) as usize
        };
        match pick {
            0..=29 => {
                value(&mut v, value_len, i);
                push_command(&mut bytes, &[b"SET", format!("key:{n}").as_bytes(), &v]);
            }
            30..=49 => push_command(&mut bytes, &[b"INCR", format!("counter:{n}").as_bytes()]),
            50..=64 => {
                value(&mut v, value_len, i);
                push_command(&mut bytes, &[b"LPUSH", format!("list:{n}").as_bytes(), &v]);
            }
            65..=79 => {
                value(&mut v, value_len, i);
                push_command(
                    &mut bytes,
                    &[
                        b"HSET",
                        format!("hash:{n}").as_bytes(),
                        format!("field:{}", rng.below(100)).as_bytes(),
                        &v,
                    ],
                );
            }
            80..=89 => push_command(&mut bytes, &[b"DEL", format!("key:{n}").as_bytes()]),
            _ => push_command(
                &mut bytes,
                &[
                    b"EXPIRE",
                    format!("key:{n}").as_bytes(),
                    (1 + rng.below(86_400)).to_string().as_bytes(),
                ],
            ),
        }
    }
    Corpus {
        name: "mixed",
        bytes,
        commands: count,
    }
}

/// A small valid RDB (one key) that ends the snapshot at `offset` of history [`REPLID`].
pub fn tiny_rdb(offset: u64) -> Vec<u8> {
    let mut rdb = RdbWriter::new("7.0.0");
    rdb.replication_info(replid(), Offset(offset), 0);
    rdb.start_db(0, 1, 0);
    rdb.string(b"greeting", b"hello", None);
    rdb.finish()
}

/// A valid RDB of about `target` bytes: string keys of 1 MiB values of letters (CRC-64 trailer
/// included).
pub fn big_rdb(target: usize) -> Vec<u8> {
    big_rdb_of(target, PayloadText::Letters)
}

/// [`big_rdb`] with values of `kind`.
pub fn big_rdb_of(target: usize, kind: PayloadText) -> Vec<u8> {
    const VALUE: usize = 1 << 20;
    let keys = (target / VALUE).max(1);
    let mut rdb = RdbWriter::new("7.0.0");
    rdb.replication_info(replid(), Offset(START_OFFSET), 0);
    rdb.start_db(0, keys as u64, 0);
    let mut v = Vec::with_capacity(VALUE);
    for i in 0..keys {
        // Every value differs a little, so nothing downstream could shortcut on repetition.
        text(&mut v, 4096, i as u64, kind);
        let block = v.clone();
        v.clear();
        while v.len() < VALUE - 64 {
            v.extend_from_slice(&block);
        }
        v.truncate(VALUE - 64);
        rdb.string(format!("blob:{i:06}").as_bytes(), &v, None);
    }
    rdb.finish()
}

/// The announced replication id.
pub fn replid() -> ReplId {
    ReplId::parse(REPLID.as_bytes()).expect("a valid id")
}

/// A replica that completed the handshake and was told `+FULLRESYNC`, waiting for the
/// snapshot header (`$<len>` or `$EOF:`).
pub fn replica_awaiting_snapshot(limits: Limits) -> Replica {
    let now = Instant::now();
    let config = ReplicaConfig::new(6380).with_limits(limits);
    let mut replica = Replica::new(config, None, now).expect("valid config");
    replica.handle_input(now, b"+PONG\r\n");
    // One +OK for each handshake command queued (their count depends on the config).
    while replica.phase() == Phase::Handshake {
        replica.handle_input(now, b"+OK\r\n");
    }
    assert_eq!(replica.phase(), Phase::Psync);
    replica.handle_input(
        now,
        format!("+FULLRESYNC {REPLID} {START_OFFSET}\r\n").as_bytes(),
    );
    assert_eq!(replica.phase(), Phase::SnapshotHeader);
    drain(&mut replica);
    replica
}

/// A replica streaming commands right after a full sync ending at [`START_OFFSET`]: every
/// stream byte fed from now on moves [`Replica::offset`].
pub fn streaming_replica() -> Replica {
    let now = Instant::now();
    let mut replica = replica_awaiting_snapshot(Limits::DEFAULT);
    let rdb = tiny_rdb(START_OFFSET);
    replica.handle_input(now, format!("${}\r\n", rdb.len()).as_bytes());
    replica.handle_input(now, &rdb);
    assert_eq!(replica.phase(), Phase::Streaming);
    drain(&mut replica);
    assert_eq!(replica.offset(), Some(Offset(START_OFFSET)));
    replica
}

/// Hands out every pending event and transmit; returns the commands among them.
#[inline]
pub fn drain(replica: &mut Replica) -> u64 {
    let mut commands = 0;
    while let Some(event) = replica.poll_event() {
        match event {
            Event::Command(_) => commands += 1,
            Event::Closed(reason) => panic!("link closed: {reason}"),
            _ => {}
        }
    }
    while replica.poll_transmit().is_some() {}
    commands
}

/// Hands out every pending command borrowed ([`Replica::poll_command`]), then any other
/// event, then the transmit; returns the commands. Each command's bytes are looked at (its
/// length summed into `bytes_seen`) so the borrow is used as an application would.
#[inline]
pub fn drain_borrowed(replica: &mut Replica, bytes_seen: &mut u64) -> u64 {
    let mut commands = 0;
    loop {
        while let Some(command) = replica.poll_command() {
            *bytes_seen += command.frame.wire_len() as u64;
            commands += 1;
        }
        match replica.poll_event() {
            Some(Event::Command(_)) => commands += 1,
            Some(Event::Closed(reason)) => panic!("link closed: {reason}"),
            Some(_) => {}
            None => break,
        }
    }
    while replica.poll_transmit().is_some() {}
    commands
}

/// [`feed_reads`], with commands handed out borrowed ([`drain_borrowed`]).
#[inline]
pub fn feed_reads_borrowed(replica: &mut Replica, now: Instant, data: &[u8], read: usize) -> u64 {
    let (mut commands, mut bytes_seen) = (0, 0);
    for chunk in data.chunks(read) {
        replica.handle_input(now, chunk);
        commands += drain_borrowed(replica, &mut bytes_seen);
    }
    std::hint::black_box(bytes_seen);
    commands
}

/// A way of feeding `data` to a replica in reads of `read` bytes and draining it
/// ([`feed_reads`], [`feed_reads_borrowed`]); returns the commands handed out.
pub type Feed = fn(&mut Replica, Instant, &[u8], usize) -> u64;

/// Feeds `data` in reads of `read` bytes with [`Replica::handle_input`], draining events after
/// each read as a driver does. Returns the commands handed out.
#[inline]
pub fn feed_reads(replica: &mut Replica, now: Instant, data: &[u8], read: usize) -> u64 {
    let mut commands = 0;
    for chunk in data.chunks(read) {
        replica.handle_input(now, chunk);
        commands += drain(replica);
    }
    commands
}

/// Splits `data` into reads of `read` bytes, each its own allocation, as a driver reading into
/// fresh buffers would hand them to [`Replica::handle_input_bytes`].
pub fn owned_reads(data: &[u8], read: usize) -> Vec<Bytes> {
    data.chunks(read).map(Bytes::copy_from_slice).collect()
}

/// Feeds owned reads with [`Replica::handle_input_bytes`], draining after each.
#[inline]
pub fn feed_owned_reads(replica: &mut Replica, now: Instant, reads: Vec<Bytes>) -> u64 {
    let mut commands = 0;
    for read in reads {
        replica.handle_input_bytes(now, read);
        commands += drain(replica);
    }
    commands
}

/// Checks that a replica handed out exactly the corpus: every command, every byte counted.
pub fn check_streamed(replica: &Replica, corpus: &Corpus, commands: u64) {
    assert_eq!(
        commands, corpus.commands,
        "{}: commands handed out",
        corpus.name
    );
    assert_eq!(
        replica.offset(),
        Some(Offset(START_OFFSET + corpus.len() as u64)),
        "{}: offset after the corpus",
        corpus.name
    );
    assert_eq!(replica.buffered(), 0, "{}: bytes left over", corpus.name);
}

/// `replproto`'s command decoder alone (no replica, no events, no offsets): the share of the
/// work that is RESP parsing. Returns (commands, bytes consumed).
pub fn command_decoder_reads(data: &[u8], read: usize) -> (u64, usize) {
    let mut decoder = CommandDecoder::new(Limits::DEFAULT);
    let mut buf: Vec<u8> = Vec::with_capacity(read * 2);
    let mut start = 0;
    let (mut commands, mut consumed) = (0u64, 0usize);
    for chunk in data.chunks(read) {
        buf.extend_from_slice(chunk);
        loop {
            match decoder.decode(&buf[start..]).expect("valid corpus") {
                Decoded::Incomplete => break,
                Decoded::Command { len, .. } => {
                    commands += 1;
                    start += len;
                }
                Decoded::Keepalive { len } | Decoded::Inline { len, .. } => start += len,
            }
        }
        consumed += start;
        buf.drain(..start);
        start = 0;
    }
    (commands, consumed)
}

/// Where each command of `data` ends, found once by the decoder (outside any timing).
pub fn command_lengths(data: &[u8]) -> Vec<usize> {
    let mut decoder = CommandDecoder::new(Limits::DEFAULT);
    let mut lengths = Vec::new();
    let mut at = 0;
    while at < data.len() {
        match decoder.decode(&data[at..]).expect("valid corpus") {
            Decoded::Command { len, .. } => {
                lengths.push(len);
                at += len;
            }
            Decoded::Keepalive { len } | Decoded::Inline { len, .. } => at += len,
            Decoded::Incomplete => panic!("corpus ends inside a command"),
        }
    }
    lengths
}

/// The floor of handing each command out owned, with no decoding at all: the reads copied into
/// one buffer, as the replica does, and one `Bytes` per command split off it and dropped (a
/// reference-count increment and decrement). `lengths` comes from [`command_lengths`]. Returns
/// the bytes handed out.
pub fn owned_handles(data: &[u8], lengths: &[usize], read: usize) -> usize {
    let mut input = BytesMut::with_capacity(read * 2);
    let mut next = lengths.iter().peekable();
    let mut handed = 0;
    for chunk in data.chunks(read) {
        input.extend_from_slice(chunk);
        while let Some(&&len) = next.peek() {
            if len > input.len() {
                break;
            }
            next.next();
            let command = input.split_to(len).freeze();
            handed += std::hint::black_box(&command).len();
        }
    }
    handed
}

/// The same reads through `redis-protocol`'s zero-copy decoder
/// (`resp2::decode::decode_bytes_mut`, frames sharing the buffer). Returns (frames, bytes).
pub fn redis_protocol_reads(data: &[u8], read: usize) -> (u64, usize) {
    let mut buf = BytesMut::with_capacity(read * 2);
    let (mut frames, mut consumed) = (0u64, 0usize);
    for chunk in data.chunks(read) {
        buf.extend_from_slice(chunk);
        let (f, c) = redis_protocol_drain(&mut buf);
        frames += f;
        consumed += c;
    }
    (frames, consumed)
}

/// `redis-protocol` on the whole corpus in one buffer.
pub fn redis_protocol_whole(data: &[u8]) -> (u64, usize) {
    redis_protocol_drain(&mut BytesMut::from(data))
}

/// Decodes every whole frame in `buf` with `redis-protocol`. Returns (frames, bytes).
fn redis_protocol_drain(buf: &mut BytesMut) -> (u64, usize) {
    let (mut frames, mut consumed) = (0u64, 0usize);
    while let Some((frame, amt, _raw)) =
        redis_protocol::resp2::decode::decode_bytes_mut(buf).expect("valid corpus")
    {
        std::hint::black_box(&frame);
        frames += 1;
        consumed += amt;
    }
    (frames, consumed)
}

/// The floor any RESP parser pays: finding every `\n`, read by read.
pub fn memchr_newlines(data: &[u8], read: usize) -> usize {
    data.chunks(read)
        .map(|chunk| memchr::memchr_iter(b'\n', chunk).count())
        .sum()
}

/// Copies `data` read by read into one reused buffer: the cost of moving the bytes once,
/// as a driver's `read` into its own buffer does.
pub fn plain_copy_reads(data: &[u8], read: usize, buf: &mut [u8]) -> u64 {
    let mut sum = 0u64;
    for chunk in data.chunks(read) {
        buf[..chunk.len()].copy_from_slice(chunk);
        std::hint::black_box(&mut buf[..chunk.len()]);
        sum += u64::from(buf[0]);
    }
    sum
}

/// The wire bytes of a snapshot transfer, after `+FULLRESYNC`: header, payload and (for
/// `$EOF:`) the end mark.
#[derive(Debug)]
pub struct SnapshotWire {
    /// `$<len>\r\n` or `$EOF:<mark>\r\n`.
    pub header: Vec<u8>,
    /// The mark repeated after the payload (`$EOF:` only).
    pub trailer: Vec<u8>,
}

impl SnapshotWire {
    /// `$<len>` framing for `payload_len` bytes.
    pub fn length(payload_len: usize) -> SnapshotWire {
        SnapshotWire {
            header: format!("${payload_len}\r\n").into_bytes(),
            trailer: Vec::new(),
        }
    }

    /// Diskless `$EOF:<mark>` framing.
    pub fn eof() -> SnapshotWire {
        let mark = b"0123456789abcdef0123456789abcdef01234567";
        let mut header = b"$EOF:".to_vec();
        header.extend_from_slice(mark);
        header.extend_from_slice(b"\r\n");
        SnapshotWire {
            header,
            trailer: mark.to_vec(),
        }
    }
}

/// How the snapshot payload reaches the replica.
#[derive(Debug)]
pub enum PayloadReads<'a> {
    /// Reads of this many bytes of the payload, copied in by [`Replica::handle_input`].
    Copied(&'a [u8], usize),
    /// Owned reads handed over by [`Replica::handle_input_bytes`] (see [`owned_reads`]).
    Owned(Vec<Bytes>),
}

/// Feeds a whole snapshot transfer (header, payload, trailer) to a replica waiting for it,
/// draining after each read; checks the snapshot came out whole and verified. Returns the
/// snapshot bytes handed out.
pub fn feed_snapshot(
    replica: &mut Replica,
    wire: &SnapshotWire,
    payload: PayloadReads<'_>,
    payload_len: usize,
) -> u64 {
    let now = Instant::now();
    let mut chunk_bytes = 0u64;
    let mut finished = None;
    let mut drain_snapshot = |replica: &mut Replica| {
        while let Some(event) = replica.poll_event() {
            match event {
                Event::SnapshotChunk(chunk) => chunk_bytes += chunk.len() as u64,
                Event::SnapshotEnd { size, checksum, .. } => finished = Some((size, checksum)),
                Event::Closed(reason) => panic!("link closed: {reason}"),
                _ => {}
            }
        }
        while replica.poll_transmit().is_some() {}
    };
    replica.handle_input(now, &wire.header);
    drain_snapshot(replica);
    match payload {
        PayloadReads::Copied(data, read) => {
            for chunk in data.chunks(read) {
                replica.handle_input(now, chunk);
                drain_snapshot(replica);
            }
        }
        PayloadReads::Owned(reads) => {
            for read in reads {
                replica.handle_input_bytes(now, read);
                drain_snapshot(replica);
            }
        }
    }
    if !wire.trailer.is_empty() {
        replica.handle_input(now, &wire.trailer);
        drain_snapshot(replica);
    }
    assert_eq!(
        finished,
        Some((payload_len as u64, ChecksumStatus::Verified))
    );
    assert_eq!(chunk_bytes, payload_len as u64);
    assert_eq!(replica.phase(), Phase::Streaming);
    chunk_bytes
}

/// A 100-byte `SET` command (`SET key:<12 digits> <57-byte value>`), the backlog's unit.
pub fn hundred_byte_command(i: u64) -> Vec<u8> {
    let mut v = Vec::new();
    value(&mut v, 57, i);
    let mut out = Vec::with_capacity(100);
    push_command(&mut out, &[b"SET", format!("key:{i:012}").as_bytes(), &v]);
    assert_eq!(out.len(), 100);
    out
}

/// The backlog a user would otherwise write: one circular buffer of fixed capacity, as
/// Redis 6 keeps it (`repl_backlog`, `repl_backlog_idx`).
#[derive(Debug)]
pub struct RingBacklog {
    buf: Vec<u8>,
    /// Next write position.
    idx: usize,
    /// Bytes held.
    histlen: usize,
    /// Offset of the first byte held.
    first: u64,
}

impl RingBacklog {
    /// An empty ring of `capacity` bytes continuing a stream whose next byte is `next`.
    pub fn new(capacity: usize, next: u64) -> RingBacklog {
        RingBacklog {
            buf: vec![0; capacity],
            idx: 0,
            histlen: 0,
            first: next,
        }
    }

    /// Appends stream bytes, overwriting the oldest.
    pub fn append(&mut self, mut data: &[u8]) {
        let cap = self.buf.len();
        if data.len() > cap {
            let skip = data.len() - cap;
            self.first += skip as u64;
            data = &data[skip..];
        }
        let total = data.len();
        while !data.is_empty() {
            let n = (cap - self.idx).min(data.len());
            self.buf[self.idx..self.idx + n].copy_from_slice(&data[..n]);
            self.idx = (self.idx + n) % cap;
            data = &data[n..];
        }
        self.histlen += total;
        if self.histlen > cap {
            self.first += (self.histlen - cap) as u64;
            self.histlen = cap;
        }
    }

    /// Offset of the first byte held.
    pub fn first_offset(&self) -> u64 {
        self.first
    }

    /// Copies the bytes from offset `start` to the end into `out` (what serving them to a
    /// socket costs: the ring is overwritten, so the bytes must leave it).
    pub fn copy_from(&self, start: u64, out: &mut Vec<u8>) -> bool {
        let end = self.first + self.histlen as u64;
        if start < self.first || start > end {
            return false;
        }
        let cap = self.buf.len();
        let skip = (start - self.first) as usize;
        let len = self.histlen - skip;
        let begin = (self.idx + cap - self.histlen + skip) % cap;
        let first_part = (cap - begin).min(len);
        out.extend_from_slice(&self.buf[begin..begin + first_part]);
        out.extend_from_slice(&self.buf[..len - first_part]);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use replproto::Checkpoint;

    #[test]
    fn corpora_have_the_announced_shape() {
        let set = set_corpus(10);
        assert_eq!(set.len(), 10 * 144);
        let incr = incr_corpus(10);
        assert_eq!(incr.len(), 270);
        let mixed = mixed_corpus(1_000);
        assert_eq!(
            command_decoder_reads(&mixed.bytes, 100),
            (1_000, mixed.len())
        );
        let lengths = command_lengths(&mixed.bytes);
        assert_eq!(lengths.len(), 1_000);
        assert_eq!(owned_handles(&mixed.bytes, &lengths, 100), mixed.len());
        assert_eq!(
            redis_protocol_reads(&mixed.bytes, 100),
            (1_000, mixed.len())
        );
        assert_eq!(redis_protocol_whole(&mixed.bytes), (1_000, mixed.len()));
    }

    #[test]
    fn the_replica_streams_every_corpus() {
        for corpus in [set_corpus(1_000), incr_corpus(10_000), mixed_corpus(1_000)] {
            let mut replica = streaming_replica();
            let commands = feed_reads(&mut replica, Instant::now(), &corpus.bytes, READ_SIZE);
            check_streamed(&replica, &corpus, commands);
            let mut replica = streaming_replica();
            let reads = owned_reads(&corpus.bytes, READ_SIZE);
            let commands = feed_owned_reads(&mut replica, Instant::now(), reads);
            check_streamed(&replica, &corpus, commands);
        }
    }

    #[test]
    fn snapshots_of_both_framings_go_through() {
        let rdb = big_rdb(4 << 20);
        // `feed_snapshot` checks the transfer itself (every byte handed out, the end verified,
        // the replica streaming); what is left to check is where that leaves the replica.
        let streaming_at_the_snapshot = |replica: &Replica| {
            assert_eq!(replica.offset(), Some(Offset(START_OFFSET)));
            assert_eq!(
                replica.checkpoint(),
                Some(Checkpoint {
                    replid: replid(),
                    offset: Offset(START_OFFSET),
                    db: 0,
                })
            );
            assert_eq!(replica.buffered(), 0, "bytes left over");
        };
        for wire in [SnapshotWire::length(rdb.len()), SnapshotWire::eof()] {
            let mut replica = replica_awaiting_snapshot(Limits::DEFAULT);
            let copied = PayloadReads::Copied(&rdb, READ_SIZE);
            feed_snapshot(&mut replica, &wire, copied, rdb.len());
            streaming_at_the_snapshot(&replica);
            let mut replica = replica_awaiting_snapshot(Limits::DEFAULT);
            let owned = PayloadReads::Owned(owned_reads(&rdb, READ_SIZE));
            feed_snapshot(&mut replica, &wire, owned, rdb.len());
            streaming_at_the_snapshot(&replica);
        }
    }

    #[test]
    fn the_ring_serves_what_the_backlog_serves() {
        let mut backlog = replproto::master::Backlog::new(64 * 1024, Offset(0));
        let mut ring = RingBacklog::new(64 * 1024, 1);
        for i in 0..2_000 {
            let cmd = hundred_byte_command(i);
            backlog.append(&cmd);
            ring.append(&cmd);
        }
        let first = backlog.window().first_offset;
        assert_eq!(ring.first_offset(), first);
        let mut out = Vec::new();
        assert!(ring.copy_from(first + 7, &mut out));
        assert_eq!(backlog.read_from(first + 7).unwrap().concat(), out);
        assert_eq!(memchr_newlines(b"a\nb\n", 1), 2);
    }
}
