//! The pair harness: our replica against our master, in memory, driven step by step.
//!
//! A [`Pair`] owns a [`Master`] with its application (the data, the expected stream, the
//! snapshot policy), one link at a time (a [`Replica`], its master-side session and a netem
//! [`Pipe`] per direction), and the replica's application (its data, its position in the
//! stream). Bytes move only in [`Pair::pump`]; time moves only in [`Pair::run_for`], which
//! jumps to the earliest deadline of either side, the network or the harness when both
//! sides are idle. After a link ends the replica reconnects with its checkpoint.
//!
//! Every step checks the properties the protocol promises, and panics with a description
//! when one fails:
//! - each command the replica delivers is the next one of the master's stream (no gap, no
//!   repeat, same bytes, same database), counted across all its links;
//! - a snapshot carries exactly the `+FULLRESYNC` offset and id;
//! - the master resyncs partially exactly when its id history and backlog window hold the
//!   replica's checkpoint, fully otherwise;
//! - offsets never move backwards, `poll_timeout` moves forward after `handle_timeout`,
//!   buffered input and unsent output stay under their caps, each side closes once.
//!
//! The replica's application also relays what it applies into a `Master` of its own
//! (`follow` after a snapshot, `relay_command` for each command, `follow_new_id` after
//! `+CONTINUE <new id>`), as the middle node of a chain does.
//!
//! [`Pair::finish`] then checks the end state: both sides at the same offset, the replica's
//! ACK at that offset, the replica's data equal to the master's, and the relaying node at the
//! same id and offset with a backlog holding the master's stream byte for byte.

use std::time::{Duration, Instant};

use bytes::Bytes;
use replproto::master::session::{SessionCloseReason, SessionPhase};
use replproto::master::{Master, MasterConfig, MasterEvent, SessionId};
use replproto::replica::{CloseReason, Event, Phase, Replica, ReplicaConfig};
use replproto::{Checkpoint, Limits, Offset, ReplId};

use crate::clock::SimClock;
use crate::log::StreamLog;
use crate::monotonic::Monotonic;
use crate::netem::{Delivery, Dir, NetemConfig, Pipe};
use crate::store::{Store, Write};

/// Settings of a pair.
#[derive(Debug, Clone)]
pub struct PairConfig {
    /// The master sends diskless `$EOF:` snapshots to replicas with `capa eof`.
    pub diskless: bool,
    /// The replica advertises `capa eof`.
    pub capa_eof: bool,
    /// Backlog capacity (at least 16 KiB).
    pub backlog_size: usize,
    /// Period of the master's stream `PING`.
    pub ping_period: Duration,
    /// The replica's ACK period.
    pub ack_period: Duration,
    /// Snapshot pieces handed to the session (0: the whole snapshot at once).
    pub snapshot_chunk: usize,
    /// Time the application takes to produce a snapshot once one is needed.
    pub snapshot_delay: Duration,
    /// Time between the end of a link and the next connection.
    pub reconnect_delay: Duration,
    /// Reconnect after a link ends.
    pub auto_reconnect: bool,
    /// Stream bytes the application writes the moment a cut fires (0: none); more than the
    /// backlog holds forces the next sync to be a full one.
    pub burst_on_cut: usize,
    /// Replica to master network.
    pub r2m: NetemConfig,
    /// Master to replica network.
    pub m2r: NetemConfig,
    /// The replica's limits.
    pub replica_limits: Limits,
    /// The session's unsent-output cap.
    pub output_limit: usize,
    /// Seed of the master's ids and end marks.
    pub seed: [u8; 32],
}

impl Default for PairConfig {
    fn default() -> Self {
        PairConfig {
            diskless: true,
            capa_eof: true,
            backlog_size: 64 * 1024,
            ping_period: Duration::from_secs(10),
            ack_period: Duration::from_secs(1),
            snapshot_chunk: 0,
            snapshot_delay: Duration::ZERO,
            reconnect_delay: Duration::from_millis(100),
            auto_reconnect: true,
            burst_on_cut: 0,
            r2m: NetemConfig::default(),
            m2r: NetemConfig::default(),
            replica_limits: Limits::DEFAULT
                .with_max_line_len(4096)
                .with_max_bulk_len(64 * 1024)
                .with_max_frame_len(128 * 1024)
                .with_max_transaction_len(1024 * 1024),
            output_limit: 16 * 1024 * 1024,
            seed: [7; 32],
        }
    }
}

/// How a link synchronized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resync {
    /// `+FULLRESYNC`: a snapshot up to this offset.
    Full(Offset),
    /// `+CONTINUE` after this offset; `true` when the master announced a new id.
    Partial(Offset, bool),
}

/// What one link did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkReport {
    /// The checkpoint the replica started from.
    pub resume: Option<Checkpoint>,
    /// Whether the master was expected to resync partially, as decided from its state when
    /// the `PSYNC` arrived.
    pub expected_partial: Option<bool>,
    /// How it synchronized, if it got that far.
    pub resync: Option<Resync>,
    /// Why the replica closed.
    pub replica_close: Option<CloseReason>,
    /// Why the master's session closed.
    pub session_close: Option<SessionCloseReason>,
    /// Bytes that passed each way (replica→master, master→replica).
    pub bytes: [u64; 2],
    /// Whether a cut ended it.
    pub cut: bool,
}

/// The outcome of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Every link, in order.
    pub links: Vec<LinkReport>,
    /// Commands the replica delivered over all its links.
    pub delivered: usize,
    /// The master's final offset.
    pub offset: Offset,
}

impl Report {
    /// Links that resynced partially.
    pub fn partial(&self) -> usize {
        self.links
            .iter()
            .filter(|l| matches!(l.resync, Some(Resync::Partial(..))))
            .count()
    }

    /// Links that resynced fully.
    pub fn full(&self) -> usize {
        self.links
            .iter()
            .filter(|l| matches!(l.resync, Some(Resync::Full(_))))
            .count()
    }
}

#[derive(Debug)]
struct Link {
    session: SessionId,
    replica: Replica,
    r2m: Pipe,
    m2r: Pipe,
    report: LinkReport,
    /// The replica reported `Closed` and its side of the socket was closed.
    replica_done: bool,
    /// The session reported `Closed` and its side of the socket was closed.
    session_done: bool,
    /// When the application hands over the snapshot the session waits for.
    snapshot_at: Option<Instant>,
    /// The expectation for a `PSYNC` arriving with the bytes just fed.
    pending_expectation: Option<bool>,
    /// The replica's offset, which never moves back.
    replica_offset: Monotonic<Offset>,
    /// The ACK offset the session recorded, which never moves back.
    session_ack: Monotonic<Offset>,
}

/// The replica's application.
#[derive(Debug, Default)]
struct ReplicaApp {
    data: Store,
    /// Last stream byte applied (snapshot or commands), across links.
    position: Option<u64>,
    /// The history followed.
    replid: Option<ReplId>,
    /// `+FULLRESYNC` of the snapshot in transfer.
    pending_full: Option<(ReplId, Offset)>,
    snapshot: Vec<u8>,
    delivered: usize,
    checkpoint: Option<Checkpoint>,
}

/// Our replica against our master. See the [module docs](self).
#[derive(Debug)]
pub struct Pair {
    config: PairConfig,
    clock: SimClock,
    master: Master,
    data: Store,
    log: StreamLog,
    link: Option<Link>,
    reconnect_at: Option<Instant>,
    app: ReplicaApp,
    links: Vec<LinkReport>,
    steps: u64,
    /// The replica's own master side: it relays what it applies (`Master::follow`,
    /// `relay_command`, `follow_new_id`), as a node in the middle of a chain does.
    relay: Master,
}

/// The most rounds one `pump` may take before the harness calls it a livelock.
const MAX_ROUNDS: u32 = 1_000_000;

impl Pair {
    /// A master and a replica connecting to it at simulated time zero.
    pub fn new(config: PairConfig) -> Pair {
        let clock = SimClock::start();
        let mut master_config = MasterConfig::default();
        master_config.diskless_sync = config.diskless;
        master_config.backlog_size = config.backlog_size;
        master_config.ping_period = config.ping_period;
        master_config.session.output_limit = config.output_limit;
        let master = Master::new(master_config, config.seed, clock.now());
        let log = StreamLog::new(master.offset().get());
        let mut pair = Pair {
            config,
            clock,
            master,
            data: Store::default(),
            log,
            link: None,
            reconnect_at: None,
            app: ReplicaApp::default(),
            links: Vec::new(),
            steps: 0,
            relay: {
                let mut config = MasterConfig::default();
                config.backlog_size = 4 * 1024 * 1024;
                Master::new(config, [0xee; 32], clock.now())
            },
        };
        pair.connect();
        pair
    }

    /// The settings.
    pub fn config(&self) -> &PairConfig {
        &self.config
    }

    /// The current simulated instant.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Simulated time since the start.
    pub fn elapsed(&self) -> Duration {
        self.clock.elapsed()
    }

    /// The master.
    pub fn master(&self) -> &Master {
        &self.master
    }

    /// The replica of the current link.
    pub fn replica(&self) -> Option<&Replica> {
        self.link.as_ref().map(|l| &l.replica)
    }

    /// The expected stream.
    pub fn log(&self) -> &StreamLog {
        &self.log
    }

    /// Every link so far, the current one last.
    pub fn links(&self) -> Vec<LinkReport> {
        let mut links = self.links.clone();
        links.extend(self.link.as_ref().map(|l| l.report.clone()));
        links
    }

    /// Bytes that passed in `dir` on the current link.
    pub fn link_bytes(&self, dir: Dir) -> u64 {
        self.link.as_ref().map_or(0, |l| match dir {
            Dir::ReplicaToMaster => l.r2m.sent(),
            Dir::MasterToReplica => l.m2r.sent(),
        })
    }

    /// Arms a cut of the current link once `after` bytes in total passed in `dir`.
    pub fn cut_after(&mut self, dir: Dir, after: u64) {
        if let Some(link) = &mut self.link {
            match dir {
                Dir::ReplicaToMaster => link.r2m.cut_after(after),
                Dir::MasterToReplica => link.m2r.cut_after(after),
            }
        }
    }

    fn connect(&mut self) {
        let now = self.now();
        let session = self.master.add_session(now);
        let config = ReplicaConfig::new(6380)
            .with_capa_eof(self.config.capa_eof)
            .with_ack_period(self.config.ack_period)
            .with_limits(self.config.replica_limits);
        let resume = self.app.checkpoint;
        let replica = Replica::new(config, resume, now).expect("valid replica config");
        self.reconnect_at = None;
        self.link = Some(Link {
            session,
            replica,
            r2m: Pipe::new(self.config.r2m.clone()),
            m2r: Pipe::new(self.config.m2r.clone()),
            report: LinkReport {
                resume,
                expected_partial: None,
                resync: None,
                replica_close: None,
                session_close: None,
                bytes: [0, 0],
                cut: false,
            },
            replica_done: false,
            session_done: false,
            snapshot_at: None,
            pending_expectation: None,
            replica_offset: Monotonic::new(),
            session_ack: Monotonic::new(),
        });
    }

    // -----------------------------------------------------------------------------------------
    // The master's application.

    /// Propagates one write in `db`.
    pub fn write(&mut self, db: u32, write: Write) {
        self.unit(db, vec![write]);
    }

    /// Propagates one execution unit in `db` (wrapped in `MULTI` … `EXEC` when it holds more
    /// than one write).
    pub fn unit(&mut self, db: u32, writes: Vec<Write>) {
        if writes.is_empty() {
            return;
        }
        for w in &writes {
            self.data.apply(db, w);
        }
        if self.master.backlog().is_some() {
            self.log.unit(db, &writes);
        }
        let args: Vec<Vec<Vec<u8>>> = writes.iter().map(Write::args).collect();
        self.master.propagate_unit(Some(db), &args);
        self.check_master_offset("propagate_unit");
        self.pump();
    }

    /// Asks for ACKs with `REPLCONF GETACK *` in the stream.
    pub fn request_acks(&mut self) {
        if self.master.backlog().is_some() {
            self.log.getack();
        }
        self.master.request_acks();
        self.check_master_offset("request_acks");
        self.pump();
    }

    /// Writes at least `bytes` stream bytes (1 KiB values), e.g. to overflow the backlog.
    pub fn burst(&mut self, bytes: usize) {
        let value = vec![b'b'; 1024];
        let mut i = 0usize;
        let target = self.master.offset().get() + bytes as u64;
        while self.master.backlog().is_some() && self.master.offset().get() < target {
            let key = format!("burst:{}", i % 64).into_bytes();
            self.write(0, Write::Set(key, value.clone()));
            i += 1;
        }
        if self.master.backlog().is_none() {
            self.data.apply(
                0,
                &Write::Set(b"burst".to_vec(), bytes.to_string().into_bytes()),
            );
        }
    }

    /// A failover onto the same node: it follows its own history, then is promoted, so the
    /// old id moves to `replid2` and replicas resume with `+CONTINUE <new id>` (or resync
    /// fully when they lacked bytes).
    pub fn failover(&mut self) {
        let now = self.now();
        if self.master.backlog().is_none() {
            return;
        }
        let replid = self.master.ids().replid;
        let offset = self.master.offset();
        self.master.follow(replid, offset, 0, now);
        self.master.promote(now);
        self.log.restart_at(offset.get());
        self.log.reset_select();
        assert_eq!(
            self.master.ids().replid2,
            replid,
            "promotion keeps the old id"
        );
        self.pump();
    }

    /// Closes the replica's side from the application.
    pub fn close_replica(&mut self) {
        if let Some(link) = &mut self.link {
            link.replica.close();
        }
        self.pump();
    }

    /// Closes the session from the master's application.
    pub fn close_session(&mut self) {
        let now = self.now();
        if let Some(link) = &self.link {
            self.master.close_session(link.session, now);
        }
        self.pump();
    }

    fn check_master_offset(&self, what: &str) {
        assert_eq!(
            self.master.offset().get(),
            self.log.offset(),
            "{what}: the master's offset differs from the stream the model expects"
        );
    }

    // -----------------------------------------------------------------------------------------
    // Moving bytes and time.

    /// Moves bytes between the sides until nothing more can move at the current instant.
    pub fn pump(&mut self) {
        let mut rounds = 0u32;
        loop {
            rounds += 1;
            assert!(
                rounds < MAX_ROUNDS,
                "livelock: bytes keep moving at one instant"
            );
            self.steps += 1;
            if !self.round() {
                return;
            }
        }
    }

    /// One round of the event loop; whether anything moved.
    fn round(&mut self) -> bool {
        let now = self.now();
        let mut moved = false;
        if self.link.is_none() {
            return false;
        }
        // The replica's output.
        let mut cut = false;
        {
            let link = self.link.as_mut().expect("link");
            while let Some(bytes) = link.replica.poll_transmit() {
                moved = true;
                cut |= link.r2m.send(now, bytes);
            }
        }
        if cut {
            self.break_link(Dir::ReplicaToMaster);
            return true;
        }
        moved |= self.master_events();
        // Snapshot due.
        if let Some(link) = &self.link {
            if link.snapshot_at.is_some_and(|at| at <= now) {
                self.send_snapshot();
                moved = true;
            }
        }
        // The session's output.
        if let Some(link) = &mut self.link {
            while let Some(bytes) = self.master.poll_transmit(link.session) {
                moved = true;
                cut |= link.m2r.send(now, bytes);
            }
        }
        if cut {
            self.break_link(Dir::MasterToReplica);
            return true;
        }
        moved |= self.deliver(now);
        moved |= self.replica_events();
        moved |= self.teardown();
        moved
    }

    /// Delivers what the network holds for `now`.
    fn deliver(&mut self, now: Instant) -> bool {
        let mut moved = false;
        loop {
            let Some(link) = &mut self.link else {
                return moved;
            };
            let session = link.session;
            let resume = link.report.resume;
            if let Some(delivery) = link.r2m.poll(now) {
                moved = true;
                match delivery {
                    Delivery::Data(bytes) => {
                        link.report.bytes[0] += bytes.len() as u64;
                        if self
                            .master
                            .session(session)
                            .is_some_and(|s| s.phase() == SessionPhase::Client)
                        {
                            let expectation = self.expect_partial(resume);
                            if let Some(link) = &mut self.link {
                                link.pending_expectation = Some(expectation);
                            }
                        }
                        self.master.handle_input(session, now, &bytes);
                        self.check_session();
                    }
                    Delivery::Eof => self.master.handle_eof(session, now),
                }
                self.master_events();
                continue;
            }
            if let Some(delivery) = link.m2r.poll(now) {
                moved = true;
                match delivery {
                    Delivery::Data(bytes) => {
                        link.report.bytes[1] += bytes.len() as u64;
                        link.replica.handle_input(now, &bytes);
                    }
                    Delivery::Eof => link.replica.handle_eof(now),
                }
                self.replica_events();
                // Once its events are drained, a replica keeps at most an incomplete frame.
                let bound = self
                    .config
                    .replica_limits
                    .max_line_len
                    .max(self.config.replica_limits.max_frame_len);
                if let Some(link) = &self.link {
                    assert!(
                        link.replica.buffered() <= bound,
                        "replica buffers {} bytes, over its cap of {bound}",
                        link.replica.buffered()
                    );
                }
                continue;
            }
            return moved;
        }
    }

    /// Whether the master should accept a `PSYNC` from `resume` now: the id is the current
    /// one, or the previous one within its range, and the window holds the next byte.
    fn expect_partial(&self, resume: Option<Checkpoint>) -> bool {
        let Some(cp) = resume else {
            return false;
        };
        let ids = self.master.ids();
        let next = cp.offset.next_byte();
        let history = ids.replid == cp.replid
            || (ids.replid2 == cp.replid
                && ids.second_replid_offset.is_some_and(|s| next <= s.get()));
        let window = self.master.backlog().map(|b| b.window());
        history && window.is_some_and(|w| w.covers(next as i64))
    }

    fn check_session(&mut self) {
        let Some(link) = &mut self.link else {
            return;
        };
        let Some(session) = self.master.session(link.session) else {
            return;
        };
        assert!(
            session.is_closed() || session.pending_output() <= self.config.output_limit,
            "session holds {} unsent bytes, over its cap of {}",
            session.pending_output(),
            self.config.output_limit
        );
        if let Some(ack) = session.ack_offset() {
            link.session_ack.observe(ack, "the session's ACK offset");
            assert!(
                ack <= self.master.offset(),
                "the replica acknowledged {ack}, past the master's offset {}",
                self.master.offset()
            );
        }
    }

    fn master_events(&mut self) -> bool {
        let mut moved = false;
        while let Some(event) = self.master.poll_event() {
            moved = true;
            let now = self.now();
            let Some(link) = &mut self.link else {
                continue;
            };
            match event {
                MasterEvent::SnapshotNeeded { session, .. } if session == link.session => {
                    let expected = link.pending_expectation.take();
                    link.report.expected_partial = expected;
                    assert_eq!(
                        expected,
                        Some(false),
                        "full resync although the master could continue from {:?} (ids {:?}, window {:?})",
                        link.report.resume,
                        self.master.ids(),
                        self.master.backlog().map(|b| b.window())
                    );
                    link.snapshot_at = Some(now + self.config.snapshot_delay);
                }
                MasterEvent::PartialResyncAccepted { session, from } if session == link.session => {
                    let expected = link.pending_expectation.take();
                    link.report.expected_partial = expected;
                    assert_eq!(
                        expected,
                        Some(true),
                        "partial resync from {from} that the window or history does not allow"
                    );
                    let resume = link
                        .report
                        .resume
                        .expect("partial resync needs a checkpoint");
                    assert_eq!(
                        from,
                        resume.offset.next_byte(),
                        "served from the wrong byte"
                    );
                }
                MasterEvent::Closed { session, reason } if session == link.session => {
                    assert!(
                        link.report.session_close.is_none(),
                        "the session closed twice"
                    );
                    assert!(
                        !matches!(
                            reason,
                            SessionCloseReason::Protocol(_)
                                | SessionCloseReason::ReplicaCommand(_)
                                | SessionCloseReason::InputLimit { .. }
                        ),
                        "our master called our replica a protocol violator: {reason:?}"
                    );
                    link.report.session_close = Some(reason);
                }
                MasterEvent::Command { session, .. } | MasterEvent::Auth { session, .. } => {
                    panic!("our replica sent the master a client command on {session:?}");
                }
                _ => {}
            }
        }
        moved
    }

    fn send_snapshot(&mut self) {
        let now = self.now();
        let Some(link) = &mut self.link else {
            return;
        };
        link.snapshot_at = None;
        let id = link.session;
        let Some(session) = self.master.session(id) else {
            return;
        };
        if session.phase() != SessionPhase::AwaitSnapshot {
            return;
        }
        let eof = self.config.diskless && session.info().capa_eof;
        let (replid, offset, db) = self.master.snapshot_aux();
        let rdb = Bytes::from(self.data.snapshot(replid, offset, db));
        self.master
            .start_snapshot(id, now, (!eof).then_some(rdb.len() as u64))
            .expect("start_snapshot");
        self.log.reset_select();
        let chunk = match self.config.snapshot_chunk {
            0 => rdb.len().max(1),
            n => n,
        };
        let mut rest = rdb;
        while !rest.is_empty() {
            let piece = rest.split_to(chunk.min(rest.len()));
            if self.master.snapshot_chunk(id, now, piece).is_err() {
                // The session closed under the snapshot (its output cap).
                return;
            }
        }
        let _ = self.master.finish_snapshot(id, now);
        self.check_session();
    }

    fn replica_events(&mut self) -> bool {
        let mut moved = false;
        loop {
            let Some(link) = &mut self.link else {
                return moved;
            };
            let Some(event) = link.replica.poll_event() else {
                break;
            };
            moved = true;
            let app = &mut self.app;
            match event {
                Event::FullResync { replid, offset } => {
                    app.pending_full = Some((replid, offset));
                    app.position = None;
                    link.report.resync = Some(Resync::Full(offset));
                }
                Event::SnapshotBegin { .. } => app.snapshot.clear(),
                Event::SnapshotChunk(bytes) => app.snapshot.extend_from_slice(&bytes),
                Event::SnapshotEnd { db, size, .. } => {
                    let (replid, offset) = app
                        .pending_full
                        .take()
                        .expect("snapshot without +FULLRESYNC");
                    assert_eq!(size, app.snapshot.len() as u64, "snapshot size");
                    let (data, aux) = Store::load(&app.snapshot).expect("the snapshot reads back");
                    let aux_of = |k: &[u8]| aux.get(k).cloned().unwrap_or_default();
                    assert_eq!(
                        aux_of(b"repl-id"),
                        replid.as_bytes(),
                        "snapshot of another history"
                    );
                    assert_eq!(
                        aux_of(b"repl-offset"),
                        offset.get().to_string().into_bytes(),
                        "snapshot taken at another offset than +FULLRESYNC said"
                    );
                    assert_eq!(aux_of(b"repl-stream-db"), db.to_string().into_bytes());
                    app.data = data;
                    app.position = Some(offset.get());
                    app.replid = Some(replid);
                    self.relay.follow(replid, offset, db, self.clock.now());
                }
                Event::PartialResync {
                    replid,
                    previous_replid,
                    offset,
                } => {
                    let resume = link.report.resume.expect("+CONTINUE without a checkpoint");
                    assert_eq!(offset, resume.offset);
                    assert_eq!(
                        app.position,
                        Some(offset.get()),
                        "resumed at another byte than the application holds"
                    );
                    assert_eq!(previous_replid.is_some(), replid != resume.replid);
                    app.replid = Some(replid);
                    self.relay.follow_new_id(replid, self.clock.now());
                    link.report.resync = Some(Resync::Partial(offset, previous_replid.is_some()));
                }
                Event::LegacySync { reply } => {
                    panic!(
                        "our master refused PSYNC: {:?}",
                        String::from_utf8_lossy(&reply)
                    )
                }
                Event::Command(c) => {
                    let position = app.position.expect("a command before any sync");
                    let start = c.start_offset().get();
                    assert_eq!(
                        start,
                        position + 1,
                        "command at {start} after position {position}: {}",
                        if start <= position {
                            "delivered twice"
                        } else {
                            "bytes lost"
                        }
                    );
                    let entry = self.log.get(start).unwrap_or_else(|| {
                        panic!("no command of the master's stream starts at {start}")
                    });
                    assert_eq!(entry.raw, *c.frame.raw(), "different bytes at {start}");
                    assert_eq!(c.preceding_len, 0, "keepalive bytes our master never sent");
                    assert_eq!(entry.end, c.offset.get());
                    if let Some(db) = entry.db {
                        assert_eq!(c.db, db, "write at {start} applied in the wrong database");
                        let write = Write::parse(c.frame.args()).expect("a write of the model");
                        app.data.apply(db, &write);
                    }
                    app.position = Some(c.offset.get());
                    app.delivered += 1;
                    assert_eq!(
                        self.relay.relay_command(&c),
                        c.offset,
                        "the relaying node's offset left the stream's"
                    );
                }
                Event::Closed(reason) => {
                    assert!(link.report.replica_close.is_none(), "Closed twice");
                    assert!(
                        !reason.is_protocol_error(),
                        "our replica called our master a protocol violator: {reason}"
                    );
                    let checkpoint = link.replica.checkpoint();
                    if let Some(cp) = checkpoint {
                        assert_eq!(
                            Some(cp.offset.get()),
                            app.position,
                            "the checkpoint is not where the application is"
                        );
                        assert_eq!(Some(cp.replid), app.replid);
                    }
                    app.checkpoint = checkpoint;
                    link.report.replica_close = Some(reason);
                }
                _ => {}
            }
            if let Some(offset) = link.replica.offset() {
                link.replica_offset.observe(offset, "the replica's offset");
            }
        }
        moved
    }

    /// Closes each side's socket after its machine closed; ends the link when both are.
    fn teardown(&mut self) -> bool {
        let now = self.now();
        let mut moved = false;
        let Some(link) = &mut self.link else {
            return false;
        };
        if !link.replica_done && link.replica.is_closed() {
            while let Some(bytes) = link.replica.poll_transmit() {
                link.r2m.send(now, bytes);
            }
            link.r2m.close(now);
            link.replica_done = true;
            moved = true;
        }
        let session_closed = self
            .master
            .session(link.session)
            .is_none_or(|s| s.is_closed());
        if !link.session_done && session_closed {
            while let Some(bytes) = self.master.poll_transmit(link.session) {
                link.m2r.send(now, bytes);
            }
            link.m2r.close(now);
            link.session_done = true;
            moved = true;
        }
        if link.replica_done && link.session_done {
            // Both sockets closed: what is still in flight has nowhere to go.
            let link = self.link.take().expect("link");
            self.master.remove_session(link.session);
            self.links.push(link.report);
            if self.config.auto_reconnect {
                self.reconnect_at = Some(now + self.config.reconnect_delay);
            }
            moved = true;
        }
        moved
    }

    /// The armed cut fired: the connection is reset. The bytes before the cut point that are
    /// due arrive, whatever else is in flight is lost, and both sides see the end at once.
    fn break_link(&mut self, dir: Dir) {
        let now = self.now();
        if let Some(link) = &mut self.link {
            link.report.cut = true;
            let _ = dir;
        }
        self.deliver(now);
        if let Some(link) = &mut self.link {
            link.r2m.drop_in_flight();
            link.m2r.drop_in_flight();
            link.replica.handle_eof(now);
            self.master.handle_eof(link.session, now);
        }
        self.master_events();
        self.replica_events();
        if self.config.burst_on_cut > 0 {
            self.burst(self.config.burst_on_cut);
        }
    }

    /// The earliest instant something is due: a timer of either side, a delivery, a
    /// snapshot, a reconnection.
    pub fn next_deadline(&self) -> Option<Instant> {
        let mut due = [self.master.poll_timeout(), self.reconnect_at]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>();
        if let Some(link) = &self.link {
            due.extend(link.replica.poll_timeout());
            due.extend(link.r2m.next_due());
            due.extend(link.m2r.next_due());
            due.extend(link.snapshot_at);
        }
        due.into_iter().min()
    }

    /// Fires every timer due at the current instant.
    fn fire(&mut self) {
        let now = self.now();
        if let Some(link) = &mut self.link {
            if link.replica.poll_timeout().is_some_and(|t| t <= now) {
                link.replica.handle_timeout(now);
                if let Some(next) = link.replica.poll_timeout() {
                    assert!(next > now, "replica poll_timeout did not move past {now:?}");
                }
            }
        }
        if self.master.poll_timeout().is_some_and(|t| t <= now) {
            let before = self.master.offset();
            self.master.handle_timeout(now);
            let grew = self.master.offset().get() - before.get();
            if grew > 0 {
                assert_eq!(
                    grew, 14,
                    "the master's timer added something else than PING"
                );
                self.log.ping();
            }
            if let Some(next) = self.master.poll_timeout() {
                assert!(next > now, "master poll_timeout did not move past now");
            }
            self.check_session();
        }
        if self.link.is_none() && self.reconnect_at.is_some_and(|t| t <= now) {
            self.connect();
        }
    }

    /// Runs the pair for `by` of simulated time: pumps, and while both sides are idle jumps to
    /// the earliest deadline.
    pub fn run_for(&mut self, by: Duration) {
        let end = self.now() + by;
        loop {
            self.pump();
            match self.next_deadline() {
                Some(next) if next <= end => {
                    self.clock.jump_to(next);
                    self.fire();
                }
                _ => {
                    self.clock.jump_to(end);
                    self.pump();
                    return;
                }
            }
        }
    }

    /// The relaying node holds the same id and offset as the master, and its backlog the
    /// master's stream byte for byte: a replica of it asking for the first byte it holds
    /// gets exactly the bytes the master propagated.
    fn check_relay(&mut self) {
        let now = self.now();
        // The master may have appended a PING the replica has not received yet.
        let position = self.app.position.expect("the replica is in sync");
        assert_eq!(self.relay.offset().get(), position, "relay offset");
        assert_eq!(
            self.relay.ids().replid,
            self.master.ids().replid,
            "relay id"
        );
        let window = self.relay.backlog().expect("the relay follows").window();
        let first = window.first_offset;
        let session = self.relay.add_session(now);
        let replid = self.relay.ids().replid;
        let psync = crate::log::resp(&[
            "PSYNC".to_string(),
            replid.as_str().to_string(),
            first.to_string(),
        ]);
        self.relay.handle_input(session, now, &psync);
        let mut sent = Vec::new();
        while let Some(bytes) = self.relay.poll_transmit(session) {
            sent.extend_from_slice(&bytes);
        }
        let stream = sent.strip_prefix(&b"+CONTINUE\r\n"[..]).unwrap_or_else(|| {
            panic!(
                "the relay refused its own window: {:?}",
                String::from_utf8_lossy(&sent)
            )
        });
        let expected = self.log.bytes_from(first);
        let held = (position + 1).saturating_sub(first) as usize;
        assert_eq!(
            stream,
            &expected[..held.min(expected.len())],
            "the relay's backlog differs from the master's stream from {first}"
        );
        self.relay.remove_session(session);
        while self.relay.poll_event().is_some() {}
    }

    /// Whether the replica is streaming and caught up with the master.
    pub fn in_sync(&self) -> bool {
        let Some(link) = &self.link else {
            return false;
        };
        let offset = self.master.offset();
        link.replica.phase() == Phase::Streaming
            && link.replica.offset() == Some(offset)
            && self.app.position == Some(offset.get())
    }

    /// The offset the master's session last saw acknowledged.
    pub fn acked(&self) -> Option<Offset> {
        let link = self.link.as_ref()?;
        self.master.session(link.session)?.ack_offset()
    }

    /// Lets the pair settle (reconnecting as needed) and checks the end state: the replica at
    /// the master's offset with the master's data, then its ACK reaching that offset.
    /// Returns what happened.
    pub fn finish(mut self) -> Report {
        self.config.auto_reconnect = true;
        if self.link.is_none() && self.reconnect_at.is_none() {
            self.reconnect_at = Some(self.now());
        }
        let deadline = self.now() + Duration::from_secs(600);
        // A step unrelated to the PING and ACK periods, so that a check lands between a PING
        // and its delivery only by chance.
        let step = Duration::from_millis(37);
        while !self.in_sync() {
            assert!(
                self.now() < deadline,
                "the pair did not settle: links {:#?}, master offset {}, replica at {:?}",
                self.links(),
                self.master.offset(),
                self.app.position
            );
            self.run_for(step);
        }
        assert_eq!(
            self.app.data, self.data,
            "the replica's data differs from the master's"
        );
        let caught_up = self.master.offset();
        while self.acked().is_none_or(|a| a < caught_up) {
            assert!(
                self.now() < deadline,
                "the replica's ACK never reached {caught_up}: {:?}",
                self.acked()
            );
            self.run_for(step);
        }
        let offset = self.master.offset();
        let link = self.link.as_ref().expect("link");
        let cp = link
            .replica
            .checkpoint()
            .expect("a streaming replica has a checkpoint");
        assert!(cp.offset <= offset && cp.offset >= caught_up);
        assert_eq!(
            cp.replid,
            self.master.ids().replid,
            "the replica follows another id"
        );
        self.check_relay();
        Report {
            links: self.links(),
            delivered: self.app.delivered,
            offset,
        }
    }
}
