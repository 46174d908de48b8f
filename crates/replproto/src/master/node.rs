//! A replication source: the id history, the backlog, the stream offset, and its sessions.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::resp::{
    encode_array_header, encode_bulk, encode_bulk_unsigned, encode_command, CommandFrame,
};
use crate::{Checkpoint, Offset, ReplId};

use super::session::{
    Session, SessionCloseReason, SessionConfig, SessionEvent, SessionMisuse, SessionPhase,
    SnapshotHeader, SyncRequest,
};
use super::{decide_psync, Backlog, PsyncDecision, ReplicationIds, DEFAULT_BACKLOG_SIZE};

/// The exact reply to a write refused by the min-replicas check.
pub const NOREPLICAS: &[u8] = b"-NOREPLICAS Not enough good replicas to write.\r\n";
/// The exact reply to a sync request while this node's own master link is down.
pub const NOMASTERLINK: &[u8] = b"-NOMASTERLINK Can't SYNC while not connected with my master\r\n";

const PING: &[u8] = b"*1\r\n$4\r\nping\r\n";

/// Settings of a replication source.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MasterConfig {
    /// Backlog capacity (`repl-backlog-size`, default 1 MiB, at least 16 KiB).
    pub backlog_size: usize,
    /// Send diskless `$EOF:` snapshots to replicas that announced `capa eof`
    /// (`repl-diskless-sync`, default yes since Redis 7.0).
    pub diskless_sync: bool,
    /// Period of the `PING` a master puts in the stream (`repl-ping-replica-period`, 10 s).
    pub ping_period: Duration,
    /// Writes need at least this many good replicas (`min-replicas-to-write`, 0 = off).
    pub min_replicas_to_write: usize,
    /// A good replica acknowledged within this many seconds (`min-replicas-max-lag`, 10).
    pub min_replicas_max_lag: u64,
    /// Settings of each session.
    pub session: SessionConfig,
}

impl Default for MasterConfig {
    fn default() -> Self {
        MasterConfig {
            backlog_size: DEFAULT_BACKLOG_SIZE,
            diskless_sync: true,
            ping_period: Duration::from_secs(10),
            min_replicas_to_write: 0,
            min_replicas_max_lag: 10,
            session: SessionConfig::default(),
        }
    }
}

/// Names one session of a [`Master`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(pub u64);

/// What the application must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MasterEvent {
    /// `AUTH`: answer with [`Master::auth_result`].
    Auth {
        /// The session.
        session: SessionId,
        /// The ACL user, when given.
        username: Option<Bytes>,
        /// The password.
        password: Bytes,
    },
    /// An ordinary command: answer with [`Master::reply`].
    Command {
        /// The session.
        session: SessionId,
        /// The command.
        frame: CommandFrame,
    },
    /// A replica needs a full sync: produce a snapshot of the data set as of
    /// [`Master::offset`] (with [`Master::snapshot_aux`]) and hand it over with
    /// [`Master::send_snapshot`], or stream it with [`Master::start_snapshot`].
    SnapshotNeeded {
        /// The session.
        session: SessionId,
        /// The replica asked for a snapshot without keys (`REPLCONF rdb-filter-only`, as
        /// `redis-cli --replica` does): send one with the aux fields and no databases.
        without_data: bool,
    },
    /// A replica's partial resync was accepted.
    PartialResyncAccepted {
        /// The session.
        session: SessionId,
        /// The first byte sent from the backlog.
        from: u64,
    },
    /// A session ended.
    Closed {
        /// The session.
        session: SessionId,
        /// Why.
        reason: SessionCloseReason,
    },
}

/// Whether this node is a master or replicates from one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// It generates the stream.
    Master,
    /// It relays a stream received from its own master.
    Replica {
        /// Whether its link to its master is up; while down it refuses syncs.
        link_up: bool,
    },
}

/// Counters as `INFO stats` shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyncStats {
    /// `sync_full`.
    pub full: u64,
    /// `sync_partial_ok`.
    pub partial_ok: u64,
    /// `sync_partial_err`.
    pub partial_err: u64,
}

/// One replica as `INFO replication` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaStatus {
    /// The session.
    pub session: SessionId,
    /// The address it announced (or none).
    pub ip_address: Option<Bytes>,
    /// The port it announced.
    pub listening_port: Option<i64>,
    /// Its phase.
    pub phase: SessionPhase,
    /// Its acknowledged offset (0 before the first ACK).
    pub ack_offset: Offset,
    /// Seconds since its last ACK.
    pub lag: Duration,
}

/// A small deterministic generator, seeded by the caller: the core draws no hidden randomness.
#[derive(Debug, Clone)]
struct Entropy(u64);

impl Entropy {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A new replication id.
    fn replid(&mut self) -> ReplId {
        let mut random = [0u8; 40];
        for chunk in random.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes());
        }
        ReplId::from_random(random)
    }

    /// A diskless end mark: 40 hex characters, drawn like an id.
    fn mark(&mut self) -> [u8; 40] {
        let mut mark = [0u8; 40];
        mark.copy_from_slice(self.replid().as_bytes());
        mark
    }
}

/// A replication source: owns the id history, the backlog, the stream offset and one
/// [`Session`] per connection, answers `PSYNC` with [`decide_psync`], and propagates writes to
/// every replica and the backlog with one offset.
#[derive(Debug)]
pub struct Master {
    config: MasterConfig,
    role: Role,
    ids: ReplicationIds,
    offset: Offset,
    backlog: Option<Backlog>,
    /// The database last selected in the stream (`slaveseldb`).
    selected_db: Option<u32>,
    sessions: BTreeMap<SessionId, Session>,
    next_session: u64,
    events: VecDeque<MasterEvent>,
    entropy: Entropy,
    stats: SyncStats,
    next_ping: Instant,
    /// The latest time any input carried, for work that input triggers indirectly.
    clock: Instant,
}

impl Master {
    /// A master with a fresh history at offset 0. `seed` feeds every id and end mark it draws.
    pub fn new(config: MasterConfig, seed: [u8; 32], now: Instant) -> Master {
        let mut entropy = Entropy(u64::from_le_bytes(seed[..8].try_into().unwrap_or_default()));
        for chunk in seed[8..].chunks(8) {
            entropy.0 ^= u64::from_le_bytes(chunk.try_into().unwrap_or_default());
            entropy.next();
        }
        let replid = entropy.replid();
        Master {
            next_ping: now + config.ping_period,
            config,
            role: Role::Master,
            ids: ReplicationIds::new(replid),
            offset: Offset::ZERO,
            backlog: None,
            selected_db: None,
            sessions: BTreeMap::new(),
            next_session: 1,
            events: VecDeque::new(),
            entropy,
            stats: SyncStats::default(),
            clock: now,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &MasterConfig {
        &self.config
    }

    /// The id history.
    pub fn ids(&self) -> &ReplicationIds {
        &self.ids
    }

    /// The offset of the last stream byte (`master_repl_offset`).
    pub fn offset(&self) -> Offset {
        self.offset
    }

    /// The backlog, once the first replica created it.
    pub fn backlog(&self) -> Option<&Backlog> {
        self.backlog.as_ref()
    }

    /// The role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The sync counters.
    pub fn stats(&self) -> SyncStats {
        self.stats
    }

    /// What a snapshot taken now must carry in its aux fields: `repl-id`, `repl-offset`,
    /// `repl-stream-db`.
    pub fn snapshot_aux(&self) -> (ReplId, Offset, u32) {
        (self.ids.replid, self.offset, self.selected_db.unwrap_or(0))
    }

    /// Opens a session for a new connection.
    pub fn add_session(&mut self, now: Instant) -> SessionId {
        let id = SessionId(self.next_session);
        self.next_session += 1;
        self.sessions
            .insert(id, Session::new(self.config.session.clone(), now));
        id
    }

    /// A session, to read its state.
    pub fn session(&self, id: SessionId) -> Option<&Session> {
        self.sessions.get(&id)
    }

    /// Bytes received on a session's connection.
    pub fn handle_input(&mut self, id: SessionId, now: Instant, data: &[u8]) {
        self.clock = self.clock.max(now);
        if let Some(session) = self.sessions.get_mut(&id) {
            session.handle_input(now, data);
            self.collect(id, now);
        }
    }

    /// A session's connection ended.
    pub fn handle_eof(&mut self, id: SessionId, now: Instant) {
        self.clock = self.clock.max(now);
        if let Some(session) = self.sessions.get_mut(&id) {
            session.handle_eof(now);
            self.collect(id, now);
        }
    }

    /// Time passed: session timers and the stream `PING`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.clock = self.clock.max(now);
        let ids: Vec<SessionId> = self.sessions.keys().copied().collect();
        for id in ids {
            if let Some(session) = self.sessions.get_mut(&id) {
                session.handle_timeout(now);
                self.collect(id, now);
            }
        }
        if now >= self.next_ping {
            let has_replicas = self.sessions.values().any(Session::is_replica);
            if self.role == Role::Master && has_replicas {
                self.append_stream(Bytes::from_static(PING));
            }
            let next = self.next_ping + self.config.ping_period;
            self.next_ping = if next > now {
                next
            } else {
                now + self.config.ping_period
            };
        }
    }

    /// The earliest deadline of the master and its sessions.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let sessions = self
            .sessions
            .values()
            .filter_map(Session::poll_timeout)
            .min();
        Some(sessions.map_or(self.next_ping, |s| s.min(self.next_ping)))
    }

    /// Bytes to write on a session's connection.
    pub fn poll_transmit(&mut self, id: SessionId) -> Option<Bytes> {
        self.sessions.get_mut(&id)?.poll_transmit()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<MasterEvent> {
        self.events.pop_front()
    }

    /// Forgets a closed session (after its output was written and its socket closed).
    pub fn remove_session(&mut self, id: SessionId) {
        self.sessions.remove(&id);
    }

    /// Closes a session from this side.
    pub fn close_session(&mut self, id: SessionId, now: Instant) {
        if let Some(session) = self.sessions.get_mut(&id) {
            session.close();
            self.collect(id, now);
        }
    }

    /// Answers [`MasterEvent::Auth`].
    pub fn auth_result(
        &mut self,
        id: SessionId,
        now: Instant,
        ok: bool,
    ) -> Result<(), SessionMisuse> {
        self.with_session(id, now, |s| s.auth_result(now, ok))
    }

    /// Answers [`MasterEvent::Command`].
    pub fn reply(
        &mut self,
        id: SessionId,
        now: Instant,
        reply: &[u8],
    ) -> Result<(), SessionMisuse> {
        self.with_session(id, now, |s| s.reply(now, reply))
    }

    /// Starts the snapshot for a session that needs one, taken at [`Master::offset`]: with
    /// `Some(len)` length-framed, with `None` diskless (`$EOF:`), which needs `capa eof`.
    pub fn start_snapshot(
        &mut self,
        id: SessionId,
        now: Instant,
        len: Option<u64>,
    ) -> Result<(), SessionMisuse> {
        let header = match len {
            Some(len) => SnapshotHeader::Length(len),
            None => SnapshotHeader::EofMark(self.entropy.mark()),
        };
        let (replid, offset) = (self.ids.replid, self.offset);
        self.with_session(id, now, |s| s.start_snapshot(now, replid, offset, header))?;
        // The next keyed command re-selects its database, as after any full-sync setup.
        self.selected_db = None;
        Ok(())
    }

    /// Sends the next piece of a started snapshot.
    pub fn snapshot_chunk(
        &mut self,
        id: SessionId,
        now: Instant,
        chunk: Bytes,
    ) -> Result<(), SessionMisuse> {
        self.with_session(id, now, |s| s.snapshot_chunk(chunk))
    }

    /// Ends a started snapshot.
    pub fn finish_snapshot(&mut self, id: SessionId, now: Instant) -> Result<(), SessionMisuse> {
        self.with_session(id, now, |s| s.finish_snapshot(now))
    }

    /// Sends a whole snapshot, framed as the replica and the configuration allow.
    pub fn send_snapshot(
        &mut self,
        id: SessionId,
        now: Instant,
        rdb: Bytes,
    ) -> Result<(), SessionMisuse> {
        // Filtered snapshots always go diskless, as in Redis (the replica must have capa eof).
        let eof = self.sessions.get(&id).is_some_and(|s| {
            s.info().capa_eof && (self.config.diskless_sync || s.info().rdb_filter.is_some())
        });
        self.start_snapshot(id, now, (!eof).then_some(rdb.len() as u64))?;
        self.snapshot_chunk(id, now, rdb)?;
        self.finish_snapshot(id, now)
    }

    /// Whether a write may run now: `Err` holds the exact `-NOREPLICAS` reply when fewer than
    /// `min_replicas_to_write` online replicas acknowledged within `min_replicas_max_lag`.
    pub fn check_write(&self, now: Instant) -> Result<(), &'static [u8]> {
        let needed = self.config.min_replicas_to_write;
        let max_lag = self.config.min_replicas_max_lag;
        if self.role != Role::Master || needed == 0 || max_lag == 0 {
            return Ok(());
        }
        let good = self
            .sessions
            .values()
            .filter(|s| s.phase() == SessionPhase::Online && s.lag(now).as_secs() <= max_lag)
            .count();
        if good >= needed {
            Ok(())
        } else {
            Err(NOREPLICAS)
        }
    }

    /// Online replicas that acknowledged at least `offset` (what `WAIT` counts).
    pub fn replicas_acked(&self, offset: Offset) -> usize {
        self.sessions
            .values()
            .filter(|s| s.ack_offset().is_some_and(|a| a >= offset))
            .count()
    }

    /// Asks every replica for an ACK by putting `REPLCONF GETACK *` in the stream.
    pub fn request_acks(&mut self) {
        if self.role == Role::Master {
            self.append_stream(Bytes::from_static(
                b"*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n",
            ));
        }
    }

    /// The replicas, as `INFO replication` lists them.
    pub fn replicas(&self, now: Instant) -> Vec<ReplicaStatus> {
        self.sessions
            .iter()
            .filter(|(_, s)| s.is_replica() && !s.info().rdb_only)
            .map(|(id, s)| ReplicaStatus {
                session: *id,
                ip_address: s.info().ip_address.clone(),
                listening_port: s.info().listening_port,
                phase: s.phase(),
                ack_offset: s.ack_offset().unwrap_or_default(),
                lag: s.lag(now),
            })
            .collect()
    }

    /// Propagates one command run in database `db` (`None` for commands that address no
    /// database): appends `SELECT` first when the stream's database differs, then the command,
    /// to the backlog and every replica. Returns the new offset. Without a backlog (no replica
    /// ever attached) nothing is recorded, as in Redis.
    pub fn propagate<A: AsRef<[u8]>>(&mut self, db: Option<u32>, args: &[A]) -> Offset {
        self.propagate_unit(db, std::slice::from_ref(&args))
    }

    /// Propagates the commands of one execution unit (a transaction, a script): more than
    /// one is wrapped in `MULTI` … `EXEC`, with any `SELECT` after the `MULTI`.
    pub fn propagate_unit<A: AsRef<[u8]>, C: AsRef<[A]>>(
        &mut self,
        db: Option<u32>,
        commands: &[C],
    ) -> Offset {
        if self.backlog.is_none() || self.role != Role::Master || commands.is_empty() {
            return self.offset;
        }
        let mut out = BytesMut::new();
        let wrap = commands.len() > 1;
        if wrap {
            encode_command(&mut out, &["MULTI"]);
        }
        if let Some(db) = db {
            if self.selected_db != Some(db) {
                encode_select(&mut out, db);
                self.selected_db = Some(db);
            }
        }
        for command in commands {
            encode_command(&mut out, command.as_ref());
        }
        if wrap {
            encode_command(&mut out, &["EXEC"]);
        }
        self.append_stream(out.freeze());
        self.offset
    }

    /// Appends stream bytes verbatim, for a relaying node that tracks the stream's database
    /// itself; prefer [`relay_command`](Self::relay_command).
    pub fn relay(&mut self, bytes: Bytes) -> Offset {
        self.append_stream(bytes);
        self.offset
    }

    /// Relays a command this node applied from its own master: as many keepalive bytes as
    /// preceded it (as `\n`, which every replica counts and skips alike), then its frame
    /// verbatim, so offsets stay equal along a chain; and the stream's database as of the
    /// command, for the `repl-stream-db` of snapshots served from here.
    pub fn relay_command(&mut self, command: &crate::replica::Command) -> Offset {
        const NEWLINES: &[u8; 4096] = &[b'\n'; 4096];
        let mut keepalive = command.preceding_len;
        while keepalive > 0 {
            let n = keepalive.min(NEWLINES.len() as u64) as usize;
            self.relay(Bytes::from_static(&NEWLINES[..n]));
            keepalive -= n as u64;
        }
        self.selected_db = Some(command.db);
        self.relay(command.frame.raw().clone())
    }

    /// Turns this master into a replica of another master (`REPLICAOF host port`), keeping
    /// its history, backlog and replicas. Returns the checkpoint to resume from: its own id
    /// and offset, so the new master (a former replica of it, say) can answer `+CONTINUE`.
    /// Until [`set_link_up`](Self::set_link_up) the node refuses syncs.
    pub fn become_replica(&mut self) -> Checkpoint {
        self.role = Role::Replica { link_up: false };
        Checkpoint {
            replid: self.ids.replid,
            offset: self.offset,
            db: self.selected_db.unwrap_or(0),
        }
    }

    fn append_stream(&mut self, bytes: Bytes) {
        let Some(backlog) = &mut self.backlog else {
            return;
        };
        backlog.append(&bytes);
        self.offset = self.offset.advanced(bytes.len() as u64);
        // Only a session this closes (over its output limit) has events to collect, and
        // an empty `Vec` does not allocate.
        let mut closed = Vec::new();
        for (&id, session) in &mut self.sessions {
            let was_closed = session.is_closed();
            session.feed_stream(bytes.clone());
            if !was_closed && session.is_closed() {
                closed.push(id);
            }
        }
        for id in closed {
            self.collect(id, self.clock);
        }
    }

    /// Turns this node into a replica that follows history `replid` from `offset` (after a
    /// full sync from its own master): ids reset, a fresh backlog, sub-replicas dropped.
    pub fn follow(&mut self, replid: ReplId, offset: Offset, db: u32, now: Instant) {
        self.role = Role::Replica { link_up: true };
        self.ids = ReplicationIds::new(replid);
        self.offset = offset;
        self.backlog = Some(Backlog::new(self.config.backlog_size, offset));
        self.selected_db = Some(db);
        self.drop_replicas(now);
    }

    /// After `+CONTINUE <new id>` from this node's master: the old id becomes `replid2` up to
    /// the byte after our offset; sub-replicas are dropped so they resume under the new id.
    pub fn follow_new_id(&mut self, replid: ReplId, now: Instant) {
        if replid != self.ids.replid {
            self.ids.shift(replid, self.offset);
            self.drop_replicas(now);
        }
    }

    /// Whether this node's own master link is up (a replica refuses syncs while it is down).
    pub fn set_link_up(&mut self, up: bool) {
        if let Role::Replica { link_up } = &mut self.role {
            *link_up = up;
        }
    }

    /// `REPLICAOF NO ONE`: becomes a master with a new id, keeping the old history as
    /// `replid2` (servable up to `offset + 1`) and its backlog, so replicas of the old history
    /// resume with `+CONTINUE <new id>`.
    pub fn promote(&mut self, now: Instant) {
        if self.role == Role::Master {
            return;
        }
        let new = self.entropy.replid();
        self.ids.shift(new, self.offset);
        self.role = Role::Master;
        self.selected_db = None;
        self.drop_replicas(now);
    }

    fn drop_replicas(&mut self, now: Instant) {
        let replicas: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.is_replica())
            .map(|(id, _)| *id)
            .collect();
        for id in replicas {
            self.close_session(id, now);
        }
    }

    fn with_session(
        &mut self,
        id: SessionId,
        now: Instant,
        f: impl FnOnce(&mut Session) -> Result<(), SessionMisuse>,
    ) -> Result<(), SessionMisuse> {
        self.clock = self.clock.max(now);
        let session = self.sessions.get_mut(&id).ok_or(SessionMisuse {
            call: "unknown session",
            phase: SessionPhase::Closed,
        })?;
        let result = f(session);
        self.collect(id, now);
        result
    }

    /// Moves a session's events out, answering sync requests on the way.
    fn collect(&mut self, id: SessionId, now: Instant) {
        loop {
            let Some(event) = self.sessions.get_mut(&id).and_then(Session::poll_event) else {
                return;
            };
            match event {
                SessionEvent::Auth { username, password } => {
                    self.events.push_back(MasterEvent::Auth {
                        session: id,
                        username,
                        password,
                    })
                }
                SessionEvent::Command(frame) => self
                    .events
                    .push_back(MasterEvent::Command { session: id, frame }),
                SessionEvent::Ack { .. } => {}
                SessionEvent::SyncRequested(request) => self.sync(id, now, request),
                SessionEvent::Closed(reason) => self.events.push_back(MasterEvent::Closed {
                    session: id,
                    reason,
                }),
            }
        }
    }

    fn sync(&mut self, id: SessionId, now: Instant, request: SyncRequest) {
        let Some(session) = self.sessions.get_mut(&id) else {
            return;
        };
        if self.role == (Role::Replica { link_up: false }) {
            let _ = session.reject_sync(now, NOMASTERLINK);
            return;
        }
        if let SyncRequest::Psync { replid, offset } = &request {
            let window = self.backlog.as_ref().map(Backlog::window);
            let psync2 = session.info().capa_psync2;
            match decide_psync(&self.ids, window, replid, offset, psync2) {
                PsyncDecision::Reject(line) => {
                    let _ = session.reject_sync(now, line);
                    return;
                }
                PsyncDecision::Continue { from, announce } => {
                    let pieces = self
                        .backlog
                        .as_mut()
                        .and_then(|b| b.read_from(from))
                        .unwrap_or_default();
                    let _ = session.accept_partial(now, announce, pieces);
                    self.stats.partial_ok += 1;
                    self.events
                        .push_back(MasterEvent::PartialResyncAccepted { session: id, from });
                    return;
                }
                PsyncDecision::FullResync(reason) => {
                    if reason.counts_as_partial_error() {
                        self.stats.partial_err += 1;
                    }
                }
            }
        }
        self.stats.full += 1;
        if self.backlog.is_none() {
            // The first replica starts a new history with a backlog to serve it from.
            self.ids = ReplicationIds::new(self.entropy.replid());
            self.backlog = Some(Backlog::new(self.config.backlog_size, self.offset));
        }
        let _ = session.prepare_full_sync(now);
        let without_data = session.info().rdb_filter.is_some();
        self.events.push_back(MasterEvent::SnapshotNeeded {
            session: id,
            without_data,
        });
    }
}

/// Appends `SELECT <db>`, the number written straight into `out`.
fn encode_select(out: &mut BytesMut, db: u32) {
    encode_array_header(out, 2);
    encode_bulk(out, b"SELECT");
    encode_bulk_unsigned(out, u64::from(db));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_is_the_encoded_command() {
        for db in [0, 9, 10, 99, 100, 12_345, u32::MAX] {
            let (mut direct, mut encoded) = (BytesMut::new(), BytesMut::new());
            encode_select(&mut direct, db);
            encode_command(&mut encoded, &["SELECT", &db.to_string()]);
            assert_eq!(direct, encoded, "db {db}");
        }
    }
}
