//! State-machine test of a master's session against a small reference model.
//!
//! The system under test is a `Master` with one session; the transitions are what a replica
//! (or a client) sends — `PING`, `REPLCONF`s, `PSYNC`, ACKs, newlines, a write, bad RESP —
//! what the master's application does — propagate writes, hand over the snapshot, close the
//! session — and time passing, the peer reading or not, the connection ending. After each,
//! the session must agree with the model on: its phase; its acknowledged offset (never
//! decreasing); the bytes it sent (counted exactly, keepalives and held stream included);
//! its unsent output (never over the cap, the session closed with `OutputLimit` exactly when
//! the model says); the master's `poll_timeout` (moving forward after `handle_timeout`); and
//! exactly one `Closed`, with the expected reason, and nothing after it.

use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};
use replproto::master::session::{SessionCloseReason, SessionPhase};
use replproto::master::{Master, MasterConfig, MasterEvent, SessionId};
use replproto::Offset;
use replproto_testkit::log::{resp, StreamLog};
use replproto_testkit::scenario::proptest_config;
use replproto_testkit::{Monotonic, SimClock, Write};

const TIMEOUT_MS: u64 = 60_000;
const KEEPALIVE_MS: u64 = 1_000;
const PING_MS: u64 = 10_000;
const OUTPUT_LIMIT: usize = 2048;
const RDB_LEN: usize = 300;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Closing {
    Disconnected,
    TimedOut,
    OutputLimit,
    Protocol,
    ReplicaCommand,
    Local,
}

#[derive(Debug, Clone)]
enum Transition {
    Ping,
    ListeningPort,
    Capa {
        eof: bool,
    },
    /// `PSYNC ? -1`, or with an id the master never had, or with a bad offset.
    Psync {
        kind: u8,
    },
    Sync,
    Ack(u8),
    Newline,
    /// `SET k v` from the peer.
    Set,
    Garbage,
    /// The application propagates a write of `n` bytes of value in database `db`.
    Propagate {
        db: u8,
        n: u16,
    },
    /// The application hands over the snapshot it was asked for.
    Snapshot,
    CloseSession,
    Eof,
    /// Whether the peer reads what it is sent.
    Reading(bool),
    Advance(u64),
}

#[derive(Debug, Clone)]
struct Model {
    now: u64,
    phase: SessionPhase,
    closed: Option<Closing>,
    capa_eof: bool,
    legacy: bool,
    backlog: bool,
    log: StreamLog,
    next_keepalive: u64,
    /// `last_ack` (Online) or `since` (AwaitFirstAck).
    last_ack: u64,
    ack: Option<u64>,
    next_ping: u64,
    snapshot_needed: bool,
    reading: bool,
    /// Bytes queued for the peer and not yet read.
    outbox: usize,
    /// Stream bytes held while the snapshot is on its way.
    held: usize,
    /// Bytes the peer read.
    received: usize,
}

impl Model {
    fn is_replica(&self) -> bool {
        !matches!(self.phase, SessionPhase::Client | SessionPhase::Closed)
    }

    fn close(&mut self, closing: Closing) {
        if self.closed.is_some() {
            return;
        }
        if !matches!(closing, Closing::Disconnected | Closing::Local) {
            self.outbox = 0;
        }
        self.held = 0;
        self.phase = SessionPhase::Closed;
        self.closed = Some(closing);
    }

    fn check_output(&mut self) {
        if self.is_replica() && self.outbox + self.held > OUTPUT_LIMIT {
            self.close(Closing::OutputLimit);
        }
    }

    /// Stream bytes appended by the master: what the session does with them.
    fn feed(&mut self, bytes: usize) {
        match self.phase {
            SessionPhase::SendingSnapshot | SessionPhase::AwaitFirstAck => self.held += bytes,
            SessionPhase::Online => self.outbox += bytes,
            _ => return,
        }
        self.check_output();
    }

    fn reply(&mut self, len: usize) {
        self.outbox += len;
    }

    fn poll_timeout(&self) -> u64 {
        let session = match (self.phase, self.legacy) {
            (SessionPhase::AwaitSnapshot, _) => Some(self.next_keepalive),
            (SessionPhase::Online | SessionPhase::AwaitFirstAck, false) => {
                Some(self.last_ack + TIMEOUT_MS)
            }
            _ => None,
        };
        session.map_or(self.next_ping, |s| s.min(self.next_ping))
    }

    /// The peer's next complete command, as a replica link judges it.
    fn replica_sends_command(&mut self) {
        self.close(Closing::ReplicaCommand);
    }
}

struct RefMachine;

fn write_args(n: u16) -> Write {
    Write::Set(b"k".to_vec(), vec![b'v'; usize::from(n)])
}

impl ReferenceStateMachine for RefMachine {
    type State = Model;
    type Transition = Transition;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model {
            now: 0,
            phase: SessionPhase::Client,
            closed: None,
            capa_eof: false,
            legacy: false,
            backlog: false,
            log: StreamLog::new(0),
            next_keepalive: 0,
            last_ack: 0,
            ack: None,
            next_ping: PING_MS,
            snapshot_needed: false,
            reading: true,
            outbox: 0,
            held: 0,
            received: 0,
        })
        .boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Transition> {
        let others = prop_oneof![
            2 => Just(Transition::Ping),
            2 => Just(Transition::ListeningPort),
            2 => any::<bool>().prop_map(|eof| Transition::Capa { eof }),
            3 => (0u8..4).prop_map(|kind| Transition::Psync { kind }),
            1 => Just(Transition::Sync),
            4 => any::<u8>().prop_map(Transition::Ack),
            1 => Just(Transition::Newline),
            1 => Just(Transition::Set),
            1 => Just(Transition::Garbage),
            6 => (0u8..3, prop_oneof![0u16..64, 0u16..1200]).prop_map(|(db, n)| Transition::Propagate { db, n }),
            1 => Just(Transition::CloseSession),
            1 => Just(Transition::Eof),
            2 => any::<bool>().prop_map(Transition::Reading),
            4 => prop_oneof![4 => 0u64..2500, 1 => 9_000u64..70_000].prop_map(Transition::Advance),
        ];
        if state.snapshot_needed {
            prop_oneof![1 => Just(Transition::Snapshot), 5 => others].boxed()
        } else {
            others.boxed()
        }
    }

    fn preconditions(state: &Model, transition: &Transition) -> bool {
        match transition {
            // Handing a snapshot to a session that can no longer take one is covered by
            // tests/core_findings.rs.
            Transition::Snapshot => {
                state.snapshot_needed && state.phase == SessionPhase::AwaitSnapshot
            }
            _ => true,
        }
    }

    fn apply(mut m: Model, transition: &Transition) -> Model {
        let closed = m.closed.is_some();
        match *transition {
            _ if closed => match *transition {
                Transition::Advance(ms) => {
                    m.now += ms;
                    m.advance_ping();
                }
                Transition::Propagate { db, n } => m.propagate(db, n),
                Transition::Reading(reading) => m.reading = reading,
                Transition::Snapshot => m.snapshot_needed = false,
                _ => {}
            },
            Transition::Ping => {
                if m.is_replica() {
                    m.replica_sends_command();
                } else {
                    m.reply(7);
                }
            }
            Transition::ListeningPort | Transition::Capa { .. } => {
                if let Transition::Capa { eof } = transition {
                    m.capa_eof |= eof;
                }
                // REPLCONF on a replica link is not ACK/GETACK: a reply it may not get.
                if m.is_replica() {
                    m.replica_sends_command();
                } else {
                    m.reply(5);
                }
            }
            Transition::Psync { kind } => {
                if m.is_replica() {
                    m.replica_sends_command();
                } else if m.outbox > 0 {
                    m.reply(b"-ERR SYNC and PSYNC are invalid with pending output\r\n".len());
                } else if kind == 3 {
                    m.reply(b"-ERR value is not an integer or out of range\r\n".len());
                } else {
                    m.start_full_sync(false);
                }
            }
            Transition::Sync => {
                if m.is_replica() {
                    m.replica_sends_command();
                } else if m.outbox > 0 {
                    m.reply(b"-ERR SYNC and PSYNC are invalid with pending output\r\n".len());
                } else {
                    m.start_full_sync(true);
                }
            }
            Transition::Ack(n) => {
                let offset = ack_value(n, m.log.offset());
                match m.phase {
                    SessionPhase::Online => {
                        m.ack = Some(m.ack.map_or(offset, |a| a.max(offset)));
                        m.last_ack = m.now;
                    }
                    SessionPhase::AwaitFirstAck => {
                        m.outbox += m.held;
                        m.held = 0;
                        m.phase = SessionPhase::Online;
                        m.ack = Some(offset);
                        m.last_ack = m.now;
                    }
                    _ => {}
                }
            }
            Transition::Newline => {
                if m.phase == SessionPhase::Online {
                    m.last_ack = m.now;
                }
            }
            Transition::Set => {
                if m.is_replica() {
                    m.replica_sends_command();
                } else {
                    m.reply(5);
                }
            }
            Transition::Garbage => m.close(Closing::Protocol),
            Transition::Propagate { db, n } => m.propagate(db, n),
            Transition::Snapshot => {
                m.snapshot_needed = false;
                if m.phase == SessionPhase::AwaitSnapshot {
                    m.log.reset_select();
                    let eof = m.capa_eof;
                    let mut header = 0;
                    if !m.legacy {
                        header +=
                            format!("+FULLRESYNC {} {}\r\n", "x".repeat(40), m.log.offset()).len();
                    }
                    header += if eof {
                        5 + 40 + 2
                    } else {
                        format!("${RDB_LEN}\r\n").len()
                    };
                    m.phase = SessionPhase::SendingSnapshot;
                    m.outbox += header + RDB_LEN;
                    m.check_output();
                    if m.closed.is_none() {
                        if eof {
                            m.outbox += 40;
                            m.phase = SessionPhase::AwaitFirstAck;
                            m.last_ack = m.now;
                        } else {
                            m.outbox += m.held;
                            m.held = 0;
                            m.phase = SessionPhase::Online;
                            m.ack = None;
                            m.last_ack = m.now;
                        }
                    }
                }
            }
            Transition::CloseSession => m.close(Closing::Local),
            Transition::Eof => m.close(Closing::Disconnected),
            Transition::Reading(reading) => m.reading = reading,
            Transition::Advance(ms) => {
                m.now += ms;
                let now = m.now;
                match (m.phase, m.legacy) {
                    (SessionPhase::AwaitSnapshot, _) if now >= m.next_keepalive => {
                        m.outbox += 1;
                        let next = m.next_keepalive + KEEPALIVE_MS;
                        m.next_keepalive = if next > now { next } else { now + KEEPALIVE_MS };
                    }
                    (SessionPhase::Online | SessionPhase::AwaitFirstAck, false)
                        if now >= m.last_ack + TIMEOUT_MS =>
                    {
                        m.close(Closing::TimedOut)
                    }
                    _ => {}
                }
                m.advance_ping();
            }
        }
        if m.reading {
            m.received += m.outbox;
            m.outbox = 0;
        }
        m
    }
}

/// An ACK value from a byte: around the master's offset, sometimes far off.
fn ack_value(n: u8, offset: u64) -> u64 {
    match n % 4 {
        0 => offset,
        1 => offset.saturating_sub(u64::from(n)),
        2 => u64::from(n),
        _ => offset + u64::from(n),
    }
}

impl Model {
    fn start_full_sync(&mut self, legacy: bool) {
        self.legacy = legacy;
        if !self.backlog {
            self.backlog = true;
        }
        self.phase = SessionPhase::AwaitSnapshot;
        self.next_keepalive = self.now + KEEPALIVE_MS;
        self.snapshot_needed = true;
    }

    fn propagate(&mut self, db: u8, n: u16) {
        if !self.backlog {
            return;
        }
        let before = self.log.offset();
        self.log.unit(u32::from(db), &[write_args(n)]);
        let bytes = (self.log.offset() - before) as usize;
        self.feed(bytes);
    }

    fn advance_ping(&mut self) {
        if self.now >= self.next_ping {
            if self.is_replica() && self.backlog {
                self.log.ping();
                self.feed(14);
            }
            let next = self.next_ping + PING_MS;
            self.next_ping = if next > self.now {
                next
            } else {
                self.now + PING_MS
            };
        }
    }
}

struct Sut {
    clock: SimClock,
    master: Master,
    session: SessionId,
    reading: bool,
    received: usize,
    closes: Vec<SessionCloseReason>,
    snapshot_needed: bool,
    ack: Monotonic<Offset>,
}

impl Sut {
    fn send(&mut self, bytes: &[u8]) {
        let now = self.clock.now();
        self.master.handle_input(self.session, now, bytes);
    }

    fn drain(&mut self) {
        let now = self.clock.now();
        while let Some(event) = self.master.poll_event() {
            assert!(self.closes.is_empty(), "event after Closed: {event:?}");
            match event {
                MasterEvent::Command { .. } => {
                    self.master
                        .reply(self.session, now, b"+OK\r\n")
                        .expect("reply");
                }
                MasterEvent::SnapshotNeeded { .. } => self.snapshot_needed = true,
                MasterEvent::Closed { reason, .. } => self.closes.push(reason),
                _ => {}
            }
        }
        if self.reading {
            while let Some(bytes) = self.master.poll_transmit(self.session) {
                self.received += bytes.len();
            }
        }
    }
}

struct SessionMachine;

impl StateMachineTest for SessionMachine {
    type SystemUnderTest = Sut;
    type Reference = RefMachine;

    fn init_test(_: &Model) -> Sut {
        let clock = SimClock::start();
        let mut config = MasterConfig::default();
        config.backlog_size = 16 * 1024;
        config.session.output_limit = OUTPUT_LIMIT;
        let mut master = Master::new(config, [5; 32], clock.now());
        let session = master.add_session(clock.now());
        Sut {
            clock,
            master,
            session,
            reading: true,
            received: 0,
            closes: Vec::new(),
            snapshot_needed: false,
            ack: Monotonic::new(),
        }
    }

    fn apply(mut sut: Sut, _model: &Model, transition: Transition) -> Sut {
        let now = sut.clock.now();
        match transition {
            Transition::Ping => sut.send(&resp(&["PING"])),
            Transition::ListeningPort => sut.send(&resp(&["REPLCONF", "listening-port", "6380"])),
            Transition::Capa { eof } => {
                let args: &[&str] = if eof {
                    &["REPLCONF", "capa", "eof", "capa", "psync2"]
                } else {
                    &["REPLCONF", "capa", "psync2"]
                };
                sut.send(&resp(args));
            }
            Transition::Psync { kind } => {
                let (id, offset) = match kind {
                    0 | 1 => ("?".to_string(), "-1".to_string()),
                    2 => (
                        "0123456789abcdef0123456789abcdef01234567".to_string(),
                        "5".to_string(),
                    ),
                    _ => ("?".to_string(), "+5".to_string()),
                };
                sut.send(&resp(&["PSYNC".to_string(), id, offset]));
            }
            Transition::Sync => sut.send(b"SYNC\r\n"),
            Transition::Ack(n) => {
                let value = ack_value(n, sut.master.offset().get());
                sut.send(&resp(&[
                    "REPLCONF".to_string(),
                    "ACK".to_string(),
                    value.to_string(),
                ]));
            }
            Transition::Newline => sut.send(b"\n"),
            Transition::Set => sut.send(&resp(&["SET", "k", "v"])),
            Transition::Garbage => sut.send(b"*1\r\n:5\r\n"),
            Transition::Propagate { db, n } => {
                let args = write_args(n).args();
                sut.master.propagate(Some(u32::from(db)), &args);
            }
            Transition::Snapshot => {
                sut.snapshot_needed = false;
                let rdb = Bytes::from(vec![b'R'; RDB_LEN]);
                sut.master
                    .send_snapshot(sut.session, now, rdb)
                    .expect("the session asked for this snapshot and awaits it");
            }
            Transition::CloseSession => sut.master.close_session(sut.session, now),
            Transition::Eof => sut.master.handle_eof(sut.session, now),
            Transition::Reading(reading) => sut.reading = reading,
            Transition::Advance(ms) => {
                sut.clock.advance(Duration::from_millis(ms));
                let now = sut.clock.now();
                sut.master.handle_timeout(now);
                if let Some(next) = sut.master.poll_timeout() {
                    assert!(
                        next > now,
                        "poll_timeout did not move past handle_timeout's now"
                    );
                }
            }
        }
        sut.drain();
        if let Some(ack) = sut.master.session(sut.session).and_then(|s| s.ack_offset()) {
            sut.ack.observe(ack, "ACK offset");
        }
        sut
    }

    fn check_invariants(sut: &Sut, model: &Model) {
        let session = sut.master.session(sut.session).expect("session kept");
        assert_eq!(session.phase(), model.phase, "phase");
        assert_eq!(
            sut.master.offset().get(),
            model.log.offset(),
            "stream offset"
        );
        let expected_ack = (model.phase == SessionPhase::Online)
            .then_some(model.ack)
            .flatten()
            .map(Offset);
        assert_eq!(session.ack_offset(), expected_ack, "ACK offset");
        assert_eq!(sut.received, model.received, "bytes the peer read");
        assert_eq!(
            session.pending_output(),
            if model.reading {
                model.held
            } else {
                model.outbox + model.held
            },
            "unsent output"
        );
        assert!(
            session.is_closed() || session.pending_output() <= OUTPUT_LIMIT,
            "unsent output over the cap"
        );
        assert_eq!(
            sut.snapshot_needed, model.snapshot_needed,
            "snapshot requested"
        );
        assert_eq!(
            sut.master.poll_timeout(),
            Some(sut.clock.at(Duration::from_millis(model.poll_timeout()))),
            "poll_timeout"
        );
        match &model.closed {
            None => assert!(sut.closes.is_empty(), "closed early: {:?}", sut.closes),
            Some(expected) => {
                assert_eq!(sut.closes.len(), 1, "exactly one Closed");
                let got = &sut.closes[0];
                let ok = match expected {
                    Closing::Disconnected => *got == SessionCloseReason::Disconnected,
                    Closing::TimedOut => *got == SessionCloseReason::TimedOut,
                    Closing::OutputLimit => {
                        *got == SessionCloseReason::OutputLimit {
                            limit: OUTPUT_LIMIT,
                        }
                    }
                    Closing::Protocol => matches!(got, SessionCloseReason::Protocol(_)),
                    Closing::ReplicaCommand => {
                        matches!(got, SessionCloseReason::ReplicaCommand(_))
                    }
                    Closing::Local => *got == SessionCloseReason::Local,
                };
                assert!(ok, "closed with {got:?}, expected {expected:?}");
            }
        }
    }
}

prop_state_machine! {
    #![proptest_config(proptest_config(512, "session_machine"))]

    #[test]
    fn session_follows_its_reference_model(sequential 1..60 => SessionMachine);
}
