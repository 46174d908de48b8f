//! The bodies of the fuzz targets in `fuzz/`, here so that tests can replay inputs and the
//! targets stay one line each. Every function panics when a property fails.

use std::time::Duration;

use bytes::Bytes;
use replproto::master::session::SessionCloseReason;
use replproto::master::{Master, MasterConfig, MasterEvent, SessionId};
use replproto::replica::{Event, Replica, ReplicaConfig};
use replproto::{Checkpoint, Limits, Offset, ReplId};

use crate::clock::SimClock;
use crate::scenario::{apply, Scenario};
use crate::store::{Store, Write};

/// A whole pair scenario decoded from the bytes: no loss, no repeat, equal end state.
pub fn pair(data: &[u8]) {
    if let Some(scenario) = Scenario::from_bytes(data) {
        apply(&scenario);
    }
}

/// Unsent output a fuzzed session may hold.
pub const SESSION_OUTPUT_LIMIT: usize = 64 * 1024;

fn session_limits() -> Limits {
    Limits::DEFAULT
        .with_max_bulk_len(4096)
        .with_max_args(64)
        .with_max_frame_len(1 << 20)
        .with_max_line_len(1024)
}

/// A master serving one connection whose peer sends the fuzzer's bytes: the application
/// answers `AUTH`, commands and snapshots, and propagates writes between chunks. The first
/// byte picks the options (auth required, diskless, chunk size); nothing may panic, each
/// session closes once with nothing after it, unsent output stays under its cap, and
/// `poll_timeout` moves forward after `handle_timeout`.
pub fn master_input(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut clock = SimClock::start();
    let mut config = MasterConfig::default();
    config.diskless_sync = mode & 1 == 1;
    config.backlog_size = 16 * 1024;
    config.session.require_auth = mode & 2 == 2;
    config.session.output_limit = SESSION_OUTPUT_LIMIT;
    config.session.limits = session_limits();
    let mut master = Master::new(config, [mode; 32], clock.now());
    let session = master.add_session(clock.now());
    let chunk = usize::from(mode >> 2).max(1);
    let mut closed = 0usize;
    let mut data_store = Store::default();
    for (i, piece) in rest.chunks(chunk).enumerate() {
        master.handle_input(session, clock.now(), piece);
        closed += serve(&mut master, session, &clock, &mut data_store);
        if i % 5 == 4 {
            master.propagate(Some((i % 3) as u32), &["SET", "k", "v"]);
        }
        if i % 7 == 6 {
            clock.advance(Duration::from_millis(700));
            let now = clock.now();
            master.handle_timeout(now);
            if let Some(next) = master.poll_timeout() {
                assert!(next > now, "master poll_timeout did not move forward");
            }
            closed += serve(&mut master, session, &clock, &mut data_store);
        }
        if let Some(s) = master.session(session) {
            assert!(
                s.is_closed() || s.pending_output() <= SESSION_OUTPUT_LIMIT,
                "unsent output {} over the cap",
                s.pending_output()
            );
        }
        while master.poll_transmit(session).is_some() {}
        assert!(closed <= 1, "the session closed twice");
    }
    master.handle_eof(session, clock.now());
    closed += serve(&mut master, session, &clock, &mut data_store);
    assert_eq!(closed, 1, "the session must close exactly once");
    // Nothing after Closed.
    master.handle_input(session, clock.now(), b"*1\r\n$4\r\nPING\r\n");
    master.handle_timeout(clock.now() + Duration::from_secs(3600));
    assert!(master.poll_event().is_none(), "an event after Closed");
    assert!(
        master.poll_transmit(session).is_none(),
        "output after Closed"
    );
}

/// Answers what the master asks its application; returns how many `Closed` were reported.
fn serve(master: &mut Master, session: SessionId, clock: &SimClock, store: &mut Store) -> usize {
    let now = clock.now();
    let mut closed = 0;
    while let Some(event) = master.poll_event() {
        assert_eq!(closed, 0, "an event after Closed");
        match event {
            MasterEvent::Auth { password, .. } => {
                let _ = master.auth_result(session, now, &password[..] == b"secret");
            }
            MasterEvent::Command { frame, .. } => {
                if let Some(write) = Write::parse(frame.args()) {
                    store.apply(0, &write);
                }
                let _ = master.reply(session, now, b"+OK\r\n");
            }
            MasterEvent::SnapshotNeeded { without_data, .. } => {
                let (replid, offset, db) = master.snapshot_aux();
                // `REPLCONF rdb-filter-only` asks for the aux fields without the keys.
                let data = if without_data {
                    &Store::default()
                } else {
                    &*store
                };
                let rdb = Bytes::from(data.snapshot(replid, offset, db));
                let _ = master.send_snapshot(session, now, rdb);
            }
            MasterEvent::Closed { reason, .. } => {
                if let SessionCloseReason::OutputLimit { limit } = reason {
                    assert_eq!(limit, SESSION_OUTPUT_LIMIT);
                }
                closed += 1;
            }
            _ => {}
        }
    }
    closed
}

/// Everything a replica did. Snapshot chunks are taken out of the events and joined: their
/// boundaries follow the input's, and a replica fed in small pieces may hand out the first
/// bytes of a snapshot before it finds them invalid (a bad magic needs 9 bytes to be seen).
#[derive(Debug)]
struct ReplicaRun {
    events: Vec<Event>,
    snapshot: Vec<u8>,
    sent: Vec<u8>,
    checkpoint: Option<Checkpoint>,
    phase: replproto::replica::Phase,
    offset: Option<Offset>,
}

fn run_replica(prefix_resume: bool, input: &[u8], cuts: &[usize], owned: bool) -> ReplicaRun {
    let clock = SimClock::start();
    let now = clock.now();
    let limits = Limits::DEFAULT
        .with_max_bulk_len(4096)
        .with_max_frame_len(8192)
        .with_max_line_len(512)
        .with_max_transaction_len(16384);
    let resume = prefix_resume.then(|| Checkpoint {
        replid: ReplId::parse(b"e8120531390c7d051bcb7f000ce2b93dfe8b7184").expect("id"),
        offset: Offset(1000),
        db: 2,
    });
    let mut replica =
        Replica::new(ReplicaConfig::new(6380).with_limits(limits), resume, now).expect("config");
    let mut events = Vec::new();
    let mut sent = Vec::new();
    let mut at = 0;
    let mut snapshot = Vec::new();
    // The canonical loop: input, then events (handing them out answers GETACKs and
    // acknowledges diskless snapshots), then what to send.
    let mut feed = |replica: &mut Replica, piece: &[u8]| {
        if owned {
            replica.handle_input_bytes(now, Bytes::copy_from_slice(piece));
        } else {
            replica.handle_input(now, piece);
        }
        while let Some(event) = replica.poll_event() {
            match event {
                Event::SnapshotChunk(chunk) => snapshot.extend_from_slice(&chunk),
                event => events.push(event),
            }
        }
        while let Some(bytes) = replica.poll_transmit() {
            sent.extend_from_slice(&bytes);
        }
        // Once drained, at most an incomplete frame (8 KiB) or line (512 B) is kept.
        assert!(replica.buffered() <= 8192);
    };
    for &cut in cuts {
        let cut = cut.clamp(at, input.len());
        feed(&mut replica, &input[at..cut]);
        at = cut;
    }
    feed(&mut replica, &input[at..]);
    ReplicaRun {
        snapshot,
        checkpoint: replica.checkpoint(),
        phase: replica.phase(),
        offset: replica.offset(),
        events,
        sent,
    }
}

impl PartialEq for ReplicaRun {
    fn eq(&self, other: &ReplicaRun) -> bool {
        let complete = self
            .events
            .iter()
            .any(|e| matches!(e, Event::SnapshotEnd { .. }));
        // Only a snapshot that completed must have the same bytes; one abandoned on an error
        // may have been handed out further in one run than in the other.
        let snapshots_agree = if complete {
            self.snapshot == other.snapshot
        } else {
            self.snapshot.starts_with(&other.snapshot) || other.snapshot.starts_with(&self.snapshot)
        };
        snapshots_agree
            && self.events == other.events
            && self.sent == other.sent
            && self.checkpoint == other.checkpoint
            && self.phase == other.phase
            && self.offset == other.offset
    }
}

/// The same master bytes fed whole, in the fuzzer's pieces, byte by byte, and through the
/// zero-copy path must give the same events (snapshot chunks merged), the same bytes sent,
/// the same checkpoint and phase. The first byte picks a resume checkpoint and the number of
/// cut points; the next bytes are the cut points.
pub fn chunking(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let ncuts = usize::from(mode >> 1) % 16;
    if rest.len() < ncuts {
        return;
    }
    let (cut_bytes, input) = rest.split_at(ncuts);
    let mut cuts: Vec<usize> = cut_bytes
        .iter()
        .scan(0usize, |acc, &b| {
            *acc += usize::from(b);
            Some(*acc)
        })
        .collect();
    cuts.sort_unstable();
    let resume = mode & 1 == 1;
    let whole = run_replica(resume, input, &[], false);
    let pieces = run_replica(resume, input, &cuts, false);
    assert_eq!(pieces, whole, "cut at {cuts:?} changed the outcome");
    let owned = run_replica(resume, input, &cuts, true);
    assert_eq!(owned, whole, "the zero-copy path changed the outcome");
    if input.len() <= 4096 {
        let every: Vec<usize> = (1..input.len()).collect();
        let bytewise = run_replica(resume, input, &every, false);
        assert_eq!(bytewise, whole, "byte-by-byte input changed the outcome");
    }
    master_chunking(input, &cuts);
}

/// The master side of chunking equivalence: a session fed the bytes whole or in pieces
/// answers the same bytes and reports the same events. The peer reads nothing until the end:
/// whether replies were read before a `PSYNC` arrives changes the answer to it (`-ERR SYNC and
/// PSYNC are invalid with pending output`), which is timing, not chunking.
fn master_chunking(input: &[u8], cuts: &[usize]) {
    let run = |cuts: &[usize]| {
        let clock = SimClock::start();
        let now = clock.now();
        let mut config = MasterConfig::default();
        config.session.limits = session_limits();
        config.session.output_limit = SESSION_OUTPUT_LIMIT;
        let mut master = Master::new(config, [3; 32], now);
        let session = master.add_session(now);
        let mut store = Store::default();
        let mut at = 0;
        let mut pieces: Vec<&[u8]> = Vec::new();
        for &cut in cuts {
            let cut = cut.clamp(at, input.len());
            pieces.push(&input[at..cut]);
            at = cut;
        }
        pieces.push(&input[at..]);
        let mut closed = 0;
        for piece in pieces {
            master.handle_input(session, now, piece);
            closed += serve(&mut master, session, &clock, &mut store);
        }
        let mut sent = Vec::new();
        while let Some(bytes) = master.poll_transmit(session) {
            sent.extend_from_slice(&bytes);
        }
        let phase = master.session(session).map(|s| s.phase());
        (sent, closed, phase, store, master.offset())
    };
    let whole = run(&[]);
    let pieces = run(cuts);
    assert!(
        pieces == whole,
        "the session's output depends on how its input was cut: {:?} vs {:?}",
        String::from_utf8_lossy(&whole.0),
        String::from_utf8_lossy(&pieces.0)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_accept_trivial_inputs() {
        for data in [&b""[..], b"\x00", b"\x01*1\r\n$4\r\nPING\r\n", &[0xff; 64]] {
            pair(data);
            master_input(data);
            chunking(data);
        }
    }
}
