//! One vocabulary for proptest and the fuzzers: a [`Scenario`] is a [`Setup`] (framing,
//! backlog, network, timings) and a list of [`Op`]s the applications perform while the pair
//! runs. [`apply`] runs one on a [`Pair`] and checks everything the pair checks; proptest
//! generates scenarios with [`scenario_strategy`], the fuzzers decode them from bytes with
//! `arbitrary` ([`Scenario::from_bytes`]).

use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};

use crate::netem::{Dir, NetemConfig};
use crate::pair::{Pair, PairConfig, Report};
use crate::store::Write;

/// Most ops one scenario runs (the rest of a longer list is ignored).
pub const MAX_OPS: usize = 48;

/// A write, over a small key space so that writes collide.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub enum Cmd {
    /// `SET k<key> <value>`
    Set {
        /// Key number (mod 8).
        key: u8,
        /// Value seed.
        value: u8,
    },
    /// `INCR n<key>`
    Incr {
        /// Key number (mod 8).
        key: u8,
    },
    /// `APPEND s<key> <len bytes>`
    Append {
        /// Key number (mod 8).
        key: u8,
        /// Bytes appended (mod 64, at least 1).
        len: u8,
    },
    /// `DEL k<key>`
    Del {
        /// Key number (mod 8).
        key: u8,
    },
}

impl Cmd {
    /// The write this stands for.
    pub fn write(&self) -> Write {
        let key = |prefix: &str, k: u8| format!("{prefix}{}", k % 8).into_bytes();
        match *self {
            Cmd::Set { key: k, value } => Write::Set(key("k", k), format!("v{value}").into_bytes()),
            Cmd::Incr { key: k } => Write::Incr(key("n", k)),
            Cmd::Append { key: k, len } => Write::Append(
                key("s", k),
                vec![b'a' + len % 26; usize::from(len % 64).max(1)],
            ),
            Cmd::Del { key: k } => Write::Del(key("k", k)),
        }
    }
}

/// Which way a cut counts bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum Way {
    /// Replica to master.
    ReplicaToMaster,
    /// Master to replica.
    MasterToReplica,
}

impl From<Way> for Dir {
    fn from(way: Way) -> Dir {
        match way {
            Way::ReplicaToMaster => Dir::ReplicaToMaster,
            Way::MasterToReplica => Dir::MasterToReplica,
        }
    }
}

/// What the applications (and the network) do while the pair runs.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub enum Op {
    /// The master propagates one write in database `db` (mod 4).
    Write {
        /// Database (mod 4).
        db: u8,
        /// The write.
        cmd: Cmd,
    },
    /// The master propagates an execution unit: `MULTI` … `EXEC` when it has more than one
    /// write (at most 6 are used).
    Unit {
        /// Database (mod 4).
        db: u8,
        /// The writes.
        cmds: Vec<Cmd>,
    },
    /// `REPLCONF GETACK *` in the stream (a `WAIT`).
    GetAck,
    /// Simulated time passes (at most about 65 s).
    Advance {
        /// Milliseconds.
        millis: u16,
    },
    /// The current link is cut once `after` bytes in total passed `way`.
    Cut {
        /// The direction whose bytes count.
        way: Way,
        /// Bytes before the cut.
        after: u16,
    },
    /// The master writes `kib` KiB (mod 96) at once, overflowing small backlogs.
    Burst {
        /// KiB written.
        kib: u8,
    },
    /// The master is failed over onto itself: a new id, the old one kept as `replid2`.
    Failover,
    /// The replica's application closes the link.
    CloseReplica,
    /// The master's application closes the replica's session.
    CloseSession,
}

/// One direction of the network.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct NetSpec {
    /// Largest segment (0: sends arrive whole).
    pub max_segment: u8,
    /// Segment sizes cycled through (the first 8 are used).
    pub pattern: Vec<u8>,
    /// Delay in milliseconds (mod 250).
    pub delay_ms: u8,
}

impl NetSpec {
    /// The netem settings this stands for.
    pub fn netem(&self) -> NetemConfig {
        NetemConfig {
            max_segment: usize::from(self.max_segment),
            pattern: self
                .pattern
                .iter()
                .take(8)
                .map(|&p| usize::from(p))
                .collect(),
            delay: Duration::from_millis(u64::from(self.delay_ms % 250)),
        }
    }
}

/// How the pair is set up.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct Setup {
    /// The master sends diskless snapshots.
    pub diskless: bool,
    /// The replica advertises `capa eof`.
    pub capa_eof: bool,
    /// Backlog of 16 + (this mod 48) KiB.
    pub backlog_kib: u8,
    /// Snapshot pieces of this many bytes (0: whole).
    pub snapshot_chunk: u16,
    /// Snapshot production time, in milliseconds (mod 3000).
    pub snapshot_delay_ms: u16,
    /// Reconnection delay, in milliseconds (mod 5000).
    pub reconnect_ms: u16,
    /// Master `PING` period, 1 + (this mod 10) seconds.
    pub ping_s: u8,
    /// Replica to master network.
    pub r2m: NetSpec,
    /// Master to replica network.
    pub m2r: NetSpec,
    /// Seed of the master's ids.
    pub seed: u8,
}

impl Setup {
    /// The pair settings this stands for.
    pub fn config(&self) -> PairConfig {
        PairConfig {
            diskless: self.diskless,
            capa_eof: self.capa_eof,
            backlog_size: (16 + usize::from(self.backlog_kib % 48)) * 1024,
            ping_period: Duration::from_secs(1 + u64::from(self.ping_s % 10)),
            snapshot_chunk: usize::from(self.snapshot_chunk),
            snapshot_delay: Duration::from_millis(u64::from(self.snapshot_delay_ms % 3000)),
            reconnect_delay: Duration::from_millis(u64::from(self.reconnect_ms % 5000)),
            r2m: self.r2m.netem(),
            m2r: self.m2r.netem(),
            seed: [self.seed; 32],
            ..PairConfig::default()
        }
    }
}

/// A setup and what happens.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct Scenario {
    /// How the pair is set up.
    pub setup: Setup,
    /// What happens, in order (at most [`MAX_OPS`] are run).
    pub ops: Vec<Op>,
}

impl Scenario {
    /// Decodes a scenario from fuzzer bytes; `None` when the bytes run out too early.
    pub fn from_bytes(data: &[u8]) -> Option<Scenario> {
        Scenario::arbitrary_take_rest(Unstructured::new(data)).ok()
    }
}

/// Runs one op on a pair.
pub fn run_op(pair: &mut Pair, op: &Op) {
    match op {
        Op::Write { db, cmd } => pair.write(u32::from(db % 4), cmd.write()),
        Op::Unit { db, cmds } => {
            let writes = cmds.iter().take(6).map(Cmd::write).collect();
            pair.unit(u32::from(db % 4), writes);
        }
        Op::GetAck => pair.request_acks(),
        Op::Advance { millis } => pair.run_for(Duration::from_millis(u64::from(*millis))),
        Op::Cut { way, after } => {
            let dir = Dir::from(*way);
            let after = pair.link_bytes(dir) + u64::from(*after);
            pair.cut_after(dir, after);
            pair.pump();
        }
        Op::Burst { kib } => pair.burst(usize::from(kib % 96) * 1024),
        Op::Failover => pair.failover(),
        Op::CloseReplica => pair.close_replica(),
        Op::CloseSession => pair.close_session(),
    }
}

/// Runs a scenario: the pair, each op, then [`Pair::finish`]. Panics with a description when
/// a property fails; returns what happened otherwise.
pub fn apply(scenario: &Scenario) -> Report {
    let mut pair = Pair::new(scenario.setup.config());
    for op in scenario.ops.iter().take(MAX_OPS) {
        run_op(&mut pair, op);
    }
    pair.finish()
}

#[cfg(feature = "proptest")]
pub use strategies::*;

#[cfg(feature = "proptest")]
mod strategies {
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;

    /// Writes.
    pub fn cmd_strategy() -> impl Strategy<Value = Cmd> {
        prop_oneof![
            (any::<u8>(), any::<u8>()).prop_map(|(key, value)| Cmd::Set { key, value }),
            any::<u8>().prop_map(|key| Cmd::Incr { key }),
            (any::<u8>(), any::<u8>()).prop_map(|(key, len)| Cmd::Append { key, len }),
            any::<u8>().prop_map(|key| Cmd::Del { key }),
        ]
    }

    /// Ops, weighted toward writes and time.
    pub fn op_strategy() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0u8..4, cmd_strategy()).prop_map(|(db, cmd)| Op::Write { db, cmd }),
            3 => (0u8..4, vec(cmd_strategy(), 1..5)).prop_map(|(db, cmds)| Op::Unit { db, cmds }),
            1 => Just(Op::GetAck),
            4 => prop_oneof![0u16..1500, 0u16..=u16::MAX].prop_map(|millis| Op::Advance { millis }),
            2 => (prop_oneof![Just(Way::ReplicaToMaster), Just(Way::MasterToReplica)], 0u16..600)
                .prop_map(|(way, after)| Op::Cut { way, after }),
            1 => (0u8..80).prop_map(|kib| Op::Burst { kib }),
            1 => Just(Op::Failover),
            1 => Just(Op::CloseReplica),
            1 => Just(Op::CloseSession),
        ]
    }

    /// Network settings: mostly whole sends, sometimes tiny segments and delays.
    pub fn net_strategy() -> impl Strategy<Value = NetSpec> {
        (
            prop_oneof![Just(0u8), 1u8..16, any::<u8>()],
            vec(any::<u8>(), 0..4),
            prop_oneof![Just(0u8), any::<u8>()],
        )
            .prop_map(|(max_segment, pattern, delay_ms)| NetSpec {
                max_segment,
                pattern,
                delay_ms,
            })
    }

    /// Setups.
    pub fn setup_strategy() -> impl Strategy<Value = Setup> {
        (
            (any::<bool>(), any::<bool>(), any::<u8>()),
            (
                prop_oneof![Just(0u16), 1u16..64, any::<u16>()],
                0u16..3000,
                0u16..5000,
            ),
            (any::<u8>(), net_strategy(), net_strategy(), any::<u8>()),
        )
            .prop_map(
                |(
                    (diskless, capa_eof, backlog_kib),
                    (snapshot_chunk, snapshot_delay_ms, reconnect_ms),
                    (ping_s, r2m, m2r, seed),
                )| Setup {
                    diskless,
                    capa_eof,
                    backlog_kib,
                    snapshot_chunk,
                    snapshot_delay_ms,
                    reconnect_ms,
                    ping_s,
                    r2m,
                    m2r,
                    seed,
                },
            )
    }

    /// Scenarios of up to `max_ops` ops.
    pub fn scenario_strategy(max_ops: usize) -> impl Strategy<Value = Scenario> {
        (setup_strategy(), vec(op_strategy(), 0..max_ops))
            .prop_map(|(setup, ops)| Scenario { setup, ops })
    }
}

/// The scripted session of the every-byte cut test: writes before and after the full sync,
/// `SELECT` changes, transactions (with `SELECT` inside `MULTI`), `GETACK`s and, with a short
/// `PING` period, master `PING`s, over about nine simulated seconds.
pub fn scripted_session() -> Vec<Op> {
    let set = |key, value| Cmd::Set { key, value };
    vec![
        // Before the first sync: no backlog yet, the write reaches the replica in the snapshot.
        Op::Write {
            db: 0,
            cmd: set(0, 1),
        },
        Op::Advance { millis: 500 },
        Op::Write {
            db: 0,
            cmd: set(1, 2),
        },
        Op::Unit {
            db: 3,
            cmds: vec![
                set(2, 3),
                Cmd::Incr { key: 1 },
                Cmd::Append { key: 1, len: 5 },
            ],
        },
        Op::Advance { millis: 1000 },
        Op::Write {
            db: 1,
            cmd: Cmd::Incr { key: 1 },
        },
        Op::GetAck,
        Op::Write {
            db: 1,
            cmd: Cmd::Del { key: 0 },
        },
        Op::Advance { millis: 1200 },
        Op::Unit {
            db: 1,
            cmds: vec![Cmd::Incr { key: 1 }, Cmd::Incr { key: 1 }],
        },
        Op::Write {
            db: 2,
            cmd: set(3, 4),
        },
        Op::Advance { millis: 3000 },
        Op::GetAck,
        Op::Write {
            db: 0,
            cmd: Cmd::Append { key: 2, len: 3 },
        },
        Op::Advance { millis: 2000 },
    ]
}

/// A proptest configuration for the test kit's tests: `cases` cases (or `PROPTEST_CASES`, for
/// a deeper run), failures kept in `proptest-regressions/<file>.txt` of this crate, where
/// they are replayed first on every later run.
#[cfg(feature = "proptest")]
pub fn proptest_config(cases: u32, file: &str) -> proptest::test_runner::Config {
    use proptest::test_runner::{Config, FileFailurePersistence};
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    let path = format!(
        "{}/proptest-regressions/{file}.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(Box::leak(
            path.into_boxed_str(),
        )))),
        ..Config::default()
    }
}
