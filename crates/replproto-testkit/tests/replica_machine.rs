//! State-machine test of the replica against a small reference model.
//!
//! The model holds a master's side of one link as a script of segments (handshake replies,
//! keepalives, `+FULLRESYNC` or `+CONTINUE`, a snapshot in either framing, stream commands
//! with `SELECT`, `MULTI`/`EXEC`, `GETACK`, `PING` and keepalives). Transitions deliver the
//! next bytes of the script in pieces of any size, let time pass, end the connection, close
//! the link locally, or corrupt the stream. After each one the replica must agree with the
//! model exactly on: its phase; its applied offset (never decreasing); its checkpoint; every
//! byte it sent (`PING`, the handshake burst, `PSYNC`, each `ACK` with its offset); the
//! commands it delivered; its `poll_timeout` (which also moves forward after
//! `handle_timeout`); exactly one `Closed`, with the expected reason, and nothing after it;
//! and its buffered input under the limits.

use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};
use replproto::rdb::RdbWriter;
use replproto::replica::{CloseReason, Event, Phase, Replica, ReplicaConfig};
use replproto::{Checkpoint, Limits, Offset, ReplId};
use replproto_testkit::log::resp;
use replproto_testkit::scenario::proptest_config;
use replproto_testkit::{Monotonic, SimClock};

const TIMEOUT_MS: u64 = 60_000;
const ACK_MS: u64 = 1_000;
const RESUME_ID: &[u8; 40] = b"e8120531390c7d051bcb7f000ce2b93dfe8b7184";
const NEW_ID: &[u8; 40] = b"0123456789abcdef0123456789abcdef01234567";
const MARK: &[u8; 40] = b"ffffffffffeeeeeeeeeeddddddddddcccccccccc";

fn limits() -> Limits {
    Limits::DEFAULT
        .with_max_line_len(256)
        .with_max_bulk_len(1024)
        .with_max_frame_len(4096)
        .with_max_transaction_len(64 * 1024)
}

/// A stream command of the script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmd {
    Ping,
    Set(u8),
    Select(u32),
    GetAck,
    Multi,
    Exec,
    Keepalive,
}

impl Cmd {
    fn bytes(self) -> Vec<u8> {
        match self {
            Cmd::Ping => b"*1\r\n$4\r\nping\r\n".to_vec(),
            Cmd::Set(n) => resp(&[
                "SET".to_string(),
                format!("k{n}"),
                "v".repeat(usize::from(n)),
            ]),
            Cmd::Select(db) => resp(&["SELECT".to_string(), db.to_string()]),
            Cmd::GetAck => resp(&["REPLCONF", "GETACK", "*"]),
            Cmd::Multi => resp(&["MULTI"]),
            Cmd::Exec => resp(&["EXEC"]),
            Cmd::Keepalive => b"\n".to_vec(),
        }
    }
}

/// What completing a segment does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    /// An empty line during the handshake.
    LineKeepalive,
    Pong,
    Reply {
        last: bool,
    },
    FullResync {
        offset: u64,
    },
    Continue {
        new_id: bool,
    },
    Header,
    Payload {
        eof: bool,
        db: u32,
    },
    Stream(Cmd),
}

#[derive(Debug, Clone)]
struct Seg {
    bytes: Vec<u8>,
    effect: Effect,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Closing {
    Disconnected(Phase),
    TimedOut(Phase),
    Local,
    Protocol,
}

#[derive(Debug, Clone)]
struct Model {
    script: Arc<Vec<Seg>>,
    resume: Option<Checkpoint>,
    /// Next incomplete segment and bytes of it delivered.
    seg: usize,
    seg_off: usize,
    now: u64,
    last_io: u64,
    phase: Phase,
    closed: Option<Closing>,
    checkpoint: Option<Checkpoint>,
    replid: Option<ReplId>,
    /// Last stream byte handed out (what `Replica::offset` reports, in any phase).
    position: Option<u64>,
    read: u64,
    applied: u64,
    db: u32,
    applied_db: u32,
    in_tx: bool,
    held: Vec<u64>,
    /// `GETACK`s of the open transaction, answered when it is handed out.
    held_acks: Vec<u64>,
    next_ack: Option<u64>,
    full_offset: u64,
    sent: Vec<u8>,
    delivered: Vec<u64>,
}

#[derive(Debug, Clone)]
enum Transition {
    /// Deliver up to this many bytes of the script.
    Deliver(usize),
    /// Time passes, then `handle_timeout`.
    Advance(u64),
    Eof,
    Close,
    /// Bad RESP at a command boundary of the stream.
    Corrupt,
}

fn ack(offset: u64) -> Vec<u8> {
    resp(&[
        "REPLCONF".to_string(),
        "ACK".to_string(),
        offset.to_string(),
    ])
}

fn script_strategy() -> impl Strategy<Value = (Option<Checkpoint>, Vec<Seg>)> {
    let unit = prop_oneof![
        3 => (0u8..40).prop_map(|n| vec![Cmd::Set(n)]),
        1 => Just(vec![Cmd::Ping]),
        1 => Just(vec![Cmd::Keepalive]),
        1 => (0u32..16).prop_map(|db| vec![Cmd::Select(db)]),
        1 => Just(vec![Cmd::GetAck]),
        1 => proptest::collection::vec(
                prop_oneof![(0u8..20).prop_map(Cmd::Set), (0u32..4).prop_map(Cmd::Select), Just(Cmd::GetAck), Just(Cmd::Ping)],
                0..4,
             ).prop_map(|inner| {
                let mut tx = vec![Cmd::Multi];
                tx.extend(inner);
                tx.push(Cmd::Exec);
                tx
             }),
    ];
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        0usize..3,
        0u64..1_000_000,
        0u32..16,
        proptest::collection::vec(unit, 0..16),
    )
        .prop_map(
            |(resume, use_continue, new_id, eof, keepalives, offset, db, units)| {
                let resume = resume.then(|| Checkpoint {
                    replid: ReplId::parse(RESUME_ID).expect("id"),
                    offset: Offset(offset),
                    db: db % 4,
                });
                let mut segs = vec![
                    Seg {
                        bytes: b"\n".to_vec(),
                        effect: Effect::LineKeepalive,
                    },
                    Seg {
                        bytes: b"+PONG\r\n".to_vec(),
                        effect: Effect::Pong,
                    },
                    Seg {
                        bytes: b"+OK\r\n".to_vec(),
                        effect: Effect::Reply { last: false },
                    },
                    Seg {
                        bytes: b"-ERR unknown option\r\n".to_vec(),
                        effect: Effect::Reply { last: true },
                    },
                ];
                for _ in 0..keepalives {
                    segs.push(Seg {
                        bytes: b"\n".to_vec(),
                        effect: Effect::LineKeepalive,
                    });
                }
                if resume.is_some() && use_continue {
                    let line = if new_id {
                        format!(
                            "+CONTINUE {}\r\n",
                            std::str::from_utf8(NEW_ID).expect("ascii")
                        )
                    } else {
                        "+CONTINUE\r\n".to_string()
                    };
                    segs.push(Seg {
                        bytes: line.into_bytes(),
                        effect: Effect::Continue { new_id },
                    });
                } else {
                    let full = offset + 77;
                    let line = format!(
                        "+FULLRESYNC {} {full}\r\n",
                        std::str::from_utf8(NEW_ID).expect("ascii")
                    );
                    segs.push(Seg {
                        bytes: line.into_bytes(),
                        effect: Effect::FullResync { offset: full },
                    });
                    let mut rdb = RdbWriter::new("model");
                    rdb.replication_info(ReplId::parse(NEW_ID).expect("id"), Offset(full), db);
                    rdb.start_db(0, 1, 0);
                    rdb.string(b"key", b"value", None);
                    let rdb = rdb.finish();
                    let header = if eof {
                        let mut h = b"$EOF:".to_vec();
                        h.extend_from_slice(MARK);
                        h.extend_from_slice(b"\r\n");
                        h
                    } else {
                        format!("${}\r\n", rdb.len()).into_bytes()
                    };
                    segs.push(Seg {
                        bytes: header,
                        effect: Effect::Header,
                    });
                    let mut payload = rdb;
                    if eof {
                        payload.extend_from_slice(MARK);
                    }
                    segs.push(Seg {
                        bytes: payload,
                        effect: Effect::Payload { eof, db },
                    });
                }
                for cmd in units.into_iter().flatten() {
                    segs.push(Seg {
                        bytes: cmd.bytes(),
                        effect: Effect::Stream(cmd),
                    });
                }
                (resume, segs)
            },
        )
}

impl Model {
    fn remaining(&self) -> usize {
        self.script[self.seg..]
            .iter()
            .map(|s| s.bytes.len())
            .sum::<usize>()
            - self.seg_off
    }

    fn close(&mut self, closing: Closing) {
        if self.closed.is_some() {
            return;
        }
        self.checkpoint = match closing {
            Closing::Protocol => None,
            _ => self.checkpoint,
        };
        self.closed = Some(closing);
        self.phase = Phase::Closed;
        self.next_ack = None;
    }

    fn stream_checkpoint(&mut self) {
        self.position = Some(self.applied);
        self.checkpoint = self.replid.map(|replid| Checkpoint {
            replid,
            offset: Offset(self.applied),
            db: self.applied_db,
        });
    }

    fn complete(&mut self, effect: Effect, len: usize) {
        let now = self.now;
        match effect {
            Effect::LineKeepalive => self.last_io = now,
            Effect::Pong => {
                self.last_io = now;
                self.phase = Phase::Handshake;
                self.sent
                    .extend(resp(&["REPLCONF", "listening-port", "6380"]));
                self.sent
                    .extend(resp(&["REPLCONF", "capa", "eof", "capa", "psync2"]));
            }
            Effect::Reply { last } => {
                self.last_io = now;
                if last {
                    self.phase = Phase::Psync;
                    match self.resume {
                        Some(cp) => self.sent.extend(resp(&[
                            "PSYNC".to_string(),
                            cp.replid.as_str().to_string(),
                            (cp.offset.get() + 1).to_string(),
                        ])),
                        None => self.sent.extend(resp(&["PSYNC", "?", "-1"])),
                    }
                }
            }
            Effect::FullResync { offset } => {
                self.last_io = now;
                self.phase = Phase::SnapshotHeader;
                self.checkpoint = None;
                self.position = None;
                self.full_offset = offset;
                self.replid = Some(ReplId::parse(NEW_ID).expect("id"));
            }
            Effect::Header => {
                self.last_io = now;
                self.phase = Phase::Transfer;
            }
            Effect::Payload { eof, db } => {
                self.last_io = now;
                self.phase = Phase::Streaming;
                self.read = self.full_offset;
                self.applied = self.full_offset;
                self.db = db;
                self.applied_db = db;
                if eof {
                    self.sent.extend(ack(self.full_offset));
                }
                self.next_ack = Some(now + ACK_MS);
                self.stream_checkpoint();
            }
            Effect::Continue { new_id } => {
                self.last_io = now;
                self.phase = Phase::Streaming;
                let cp = self.resume.expect("continue needs a checkpoint");
                self.read = cp.offset.get();
                self.applied = self.read;
                self.db = cp.db;
                self.applied_db = cp.db;
                self.replid = Some(if new_id {
                    ReplId::parse(NEW_ID).expect("id")
                } else {
                    cp.replid
                });
                self.next_ack = Some(now + ACK_MS);
                self.stream_checkpoint();
            }
            Effect::Stream(cmd) => {
                self.read += len as u64;
                if cmd == Cmd::Keepalive {
                    return;
                }
                match cmd {
                    Cmd::Select(db) => self.db = db,
                    // Answered when handed out, with the offset before it: inside a
                    // transaction that is at EXEC, with the offset before MULTI.
                    Cmd::GetAck if self.in_tx => self.held_acks.push(self.applied),
                    Cmd::GetAck => self.sent.extend(ack(self.applied)),
                    Cmd::Multi => self.in_tx = true,
                    _ => {}
                }
                if self.in_tx {
                    self.held.push(self.read);
                    if cmd == Cmd::Exec {
                        self.in_tx = false;
                        for offset in std::mem::take(&mut self.held_acks) {
                            self.sent.extend(ack(offset));
                        }
                        self.delivered.append(&mut self.held);
                        self.applied = self.read;
                        self.applied_db = self.db;
                    }
                } else {
                    self.delivered.push(self.read);
                    self.applied = self.read;
                    self.applied_db = self.db;
                }
                self.stream_checkpoint();
            }
        }
    }

    fn poll_timeout(&self) -> Option<u64> {
        if self.closed.is_some() {
            return None;
        }
        let inactivity = self.last_io + TIMEOUT_MS;
        Some(match (self.phase, self.next_ack) {
            (Phase::Streaming, Some(ack)) => ack.min(inactivity),
            _ => inactivity,
        })
    }
}

struct RefMachine;

impl ReferenceStateMachine for RefMachine {
    type State = Model;
    type Transition = Transition;

    fn init_state() -> BoxedStrategy<Model> {
        script_strategy()
            .prop_map(|(resume, script)| Model {
                script: Arc::new(script),
                resume,
                seg: 0,
                seg_off: 0,
                now: 0,
                last_io: 0,
                phase: Phase::Ping,
                closed: None,
                checkpoint: resume,
                replid: resume.map(|cp| cp.replid),
                position: resume.map(|cp| cp.offset.get()),
                read: 0,
                applied: 0,
                db: 0,
                applied_db: 0,
                in_tx: false,
                held: Vec::new(),
                held_acks: Vec::new(),
                next_ack: None,
                full_offset: 0,
                sent: b"*1\r\n$4\r\nPING\r\n".to_vec(),
                delivered: Vec::new(),
            })
            .boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Transition> {
        let corrupt = state.phase == Phase::Streaming && state.seg_off == 0;
        let others = prop_oneof![
            10 => prop_oneof![1usize..4, 1usize..64, Just(usize::MAX)].prop_map(Transition::Deliver),
            4 => prop_oneof![4 => 0u64..1500, 1 => 55_000u64..65_000].prop_map(Transition::Advance),
            1 => Just(Transition::Eof),
            1 => Just(Transition::Close),
        ];
        if corrupt {
            prop_oneof![1 => Just(Transition::Corrupt), 16 => others].boxed()
        } else {
            others.boxed()
        }
    }

    fn preconditions(state: &Model, transition: &Transition) -> bool {
        match transition {
            Transition::Corrupt => state.phase == Phase::Streaming && state.seg_off == 0,
            _ => true,
        }
    }

    fn apply(mut state: Model, transition: &Transition) -> Model {
        if state.closed.is_some() {
            if let Transition::Advance(ms) = transition {
                state.now += ms;
            }
            return state;
        }
        match *transition {
            Transition::Deliver(n) => {
                let mut left = n.min(state.remaining());
                if left == 0 {
                    return state;
                }
                if matches!(state.phase, Phase::Transfer | Phase::Streaming) {
                    state.last_io = state.now;
                }
                while left > 0 {
                    let seg = state.script[state.seg].clone();
                    let take = left.min(seg.bytes.len() - state.seg_off);
                    state.seg_off += take;
                    left -= take;
                    if state.seg_off == seg.bytes.len() {
                        state.seg += 1;
                        state.seg_off = 0;
                        state.complete(seg.effect, seg.bytes.len());
                    }
                }
            }
            Transition::Advance(ms) => {
                state.now += ms;
                let now = state.now;
                if now >= state.last_io + TIMEOUT_MS {
                    let phase = state.phase;
                    state.close(Closing::TimedOut(phase));
                } else if let Some(due) = state.next_ack.filter(|due| now >= *due) {
                    state.sent.extend(ack(state.applied));
                    let next = due + ACK_MS;
                    state.next_ack = Some(if next > now { next } else { now + ACK_MS });
                }
            }
            Transition::Eof => {
                let phase = state.phase;
                state.close(Closing::Disconnected(phase));
            }
            Transition::Close => state.close(Closing::Local),
            Transition::Corrupt => state.close(Closing::Protocol),
        }
        state
    }
}

struct Sut {
    clock: SimClock,
    base: Instant,
    replica: Replica,
    sent: Vec<u8>,
    delivered: Vec<u64>,
    closes: Vec<CloseReason>,
    offset: Monotonic<Offset>,
    /// The replica's offset when the last step began, before its input and its drain.
    offset_before_step: Option<Offset>,
    /// Script bytes fed so far.
    fed: usize,
}

impl Sut {
    /// Events first, then what to send: handing events out is what answers a `GETACK` or
    /// releases the stream after a diskless snapshot.
    fn drain(&mut self) {
        while let Some(event) = self.replica.poll_event() {
            assert!(self.closes.is_empty(), "event after Closed: {event:?}");
            match event {
                Event::Command(c) => self.delivered.push(c.offset.get()),
                Event::Closed(reason) => self.closes.push(reason),
                _ => {}
            }
        }
        while let Some(bytes) = self.replica.poll_transmit() {
            self.sent.extend_from_slice(&bytes);
        }
    }
}

struct ReplicaMachine;

impl StateMachineTest for ReplicaMachine {
    type SystemUnderTest = Sut;
    type Reference = RefMachine;

    fn init_test(model: &Model) -> Sut {
        let clock = SimClock::start();
        let config = ReplicaConfig::new(6380).with_limits(limits());
        let replica = Replica::new(config, model.resume, clock.now()).expect("config");
        let mut sut = Sut {
            base: clock.now(),
            clock,
            replica,
            sent: Vec::new(),
            delivered: Vec::new(),
            closes: Vec::new(),
            offset: Monotonic::new(),
            offset_before_step: None,
            fed: 0,
        };
        sut.drain();
        sut
    }

    fn apply(mut sut: Sut, model: &Model, transition: Transition) -> Sut {
        sut.offset_before_step = sut.replica.offset();
        match transition {
            Transition::Deliver(_) => {
                // The model already advanced: deliver what it consumed since the last step.
                let delivered_total: usize = model.script[..model.seg]
                    .iter()
                    .map(|s| s.bytes.len())
                    .sum::<usize>()
                    + model.seg_off;
                let all: Vec<u8> = model.script.iter().flat_map(|s| s.bytes.clone()).collect();
                let now = sut.clock.now();
                if delivered_total > sut.fed {
                    sut.replica
                        .handle_input(now, &all[sut.fed..delivered_total]);
                    sut.fed = delivered_total;
                }
            }
            Transition::Advance(ms) => {
                sut.clock.advance(Duration::from_millis(ms));
                let now = sut.clock.now();
                sut.replica.handle_timeout(now);
                if let Some(next) = sut.replica.poll_timeout() {
                    assert!(
                        next > now,
                        "poll_timeout did not move past handle_timeout's now"
                    );
                }
            }
            Transition::Eof => sut.replica.handle_eof(sut.clock.now()),
            Transition::Close => sut.replica.close(),
            Transition::Corrupt => sut.replica.handle_input(sut.clock.now(), b"*1\r\n:5\r\n"),
        }
        sut.drain();
        if let Some(offset) = sut.replica.offset() {
            sut.offset.observe(offset, "offset");
        }
        sut
    }

    fn check_invariants(sut: &Sut, model: &Model) {
        let r = &sut.replica;
        assert_eq!(r.phase(), model.phase, "phase");
        assert_eq!(r.offset(), model.position.map(Offset), "delivered offset");
        if let (Some(before), Some(now)) = (sut.offset_before_step, r.offset()) {
            assert!(now >= before, "offset moved back: {before:?} then {now:?}");
        }
        assert_eq!(r.checkpoint(), model.checkpoint, "checkpoint");
        assert_eq!(sut.sent, model.sent, "bytes sent");
        assert_eq!(sut.delivered, model.delivered, "commands delivered");
        assert_eq!(
            r.poll_timeout(),
            model
                .poll_timeout()
                .map(|ms| sut.base + Duration::from_millis(ms)),
            "poll_timeout"
        );
        let bound = limits().max_line_len.max(limits().max_frame_len);
        assert!(
            r.buffered() <= bound,
            "buffered {} over {bound}",
            r.buffered()
        );
        match &model.closed {
            None => assert!(sut.closes.is_empty(), "closed early: {:?}", sut.closes),
            Some(expected) => {
                assert_eq!(sut.closes.len(), 1, "exactly one Closed");
                let got = &sut.closes[0];
                let ok = match expected {
                    Closing::Disconnected(p) => *got == CloseReason::Disconnected { phase: *p },
                    Closing::TimedOut(p) => *got == CloseReason::TimedOut { phase: *p },
                    Closing::Local => *got == CloseReason::Local,
                    Closing::Protocol => got.is_protocol_error(),
                };
                assert!(ok, "closed with {got:?}, expected {expected:?}");
                assert_eq!(r.buffered(), 0);
            }
        }
    }
}

prop_state_machine! {
    #![proptest_config(proptest_config(512, "replica_machine"))]

    #[test]
    fn replica_follows_its_reference_model(sequential 1..60 => ReplicaMachine);
}
