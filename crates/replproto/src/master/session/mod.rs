//! One connection to a master: an ordinary client until it asks to sync, then a replica.
//!
//! A [`Session`] answers what the replication protocol owns itself (`PING`, `REPLCONF`, the
//! framing of `+FULLRESYNC`/`+CONTINUE` and the snapshot, `ACK`s) and hands everything that
//! needs the application's judgement out as a [`SessionEvent`]: an `AUTH` verdict, an ordinary
//! command, a sync request. While such an event waits for its answer the session reads no
//! further input, so replies keep their order. Normally a [`Master`](super::Master) owns the
//! sessions and answers sync requests itself.

mod config;
mod event;
mod replconf;

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};

use crate::outbox::Outbox;
use crate::resp::{encode_bulk, write_unsigned, CommandDecoder, CommandFrame, Decoded};
use crate::{Offset, ReplId};

pub use config::SessionConfig;
pub use event::{SessionCloseReason, SessionEvent, SyncRequest};
pub use replconf::ReplicaInfo;

use replconf::Replconf;

/// Length of the diskless end mark.
pub const EOF_MARK_LEN: usize = 40;

/// How a snapshot is framed for a replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotHeader {
    /// `$<len>`: exactly this many bytes follow; the stream follows them at once.
    Length(u64),
    /// `$EOF:<mark>`: the snapshot ends with the mark; the stream waits for the first ACK.
    EofMark([u8; EOF_MARK_LEN]),
}

/// Where a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SessionPhase {
    /// An ordinary client (possibly a replica in its handshake).
    Client,
    /// A full sync was decided; the snapshot is being prepared (`wait_bgsave`).
    AwaitSnapshot,
    /// The snapshot is being sent (`send_bulk`).
    SendingSnapshot,
    /// A diskless snapshot was sent; the stream waits for the first ACK.
    AwaitFirstAck,
    /// Streaming (`online`).
    Online,
    /// Over.
    Closed,
}

impl SessionPhase {
    /// The state name `INFO replication` shows for a replica in this phase.
    pub fn info_state(self) -> &'static str {
        match self {
            SessionPhase::AwaitSnapshot => "wait_bgsave",
            SessionPhase::SendingSnapshot => "send_bulk",
            _ => "online",
        }
    }
}

/// The application called a session method that does not fit its phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionMisuse {
    /// The method called.
    pub call: &'static str,
    /// The phase the session was in.
    pub phase: SessionPhase,
}

impl fmt::Display for SessionMisuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is not valid in phase {:?}", self.call, self.phase)
    }
}

impl std::error::Error for SessionMisuse {}

/// Whether a sync runs on a `PSYNC` link (ACKs, timeouts) or a legacy `SYNC` one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Psync,
    Legacy,
}

/// What an ordinary client session is waiting for from the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waiting {
    Auth,
    Reply,
    Sync(Link),
}

/// Stream bytes held back until the replica may receive them.
#[derive(Debug, Default)]
struct Held {
    pieces: VecDeque<Bytes>,
    len: usize,
}

#[derive(Debug)]
enum State {
    Client {
        waiting: Option<Waiting>,
    },
    AwaitSnapshot {
        link: Link,
        next_keepalive: Instant,
    },
    SendingSnapshot {
        link: Link,
        /// How the payload ends; a `Length` counts down the bytes still due.
        framing: SnapshotHeader,
        held: Held,
    },
    AwaitFirstAck {
        link: Link,
        held: Held,
        since: Instant,
    },
    Online {
        link: Link,
        ack: Option<u64>,
        last_ack: Instant,
    },
    Closed,
}

impl State {
    fn phase(&self) -> SessionPhase {
        match self {
            State::Client { .. } => SessionPhase::Client,
            State::AwaitSnapshot { .. } => SessionPhase::AwaitSnapshot,
            State::SendingSnapshot { .. } => SessionPhase::SendingSnapshot,
            State::AwaitFirstAck { .. } => SessionPhase::AwaitFirstAck,
            State::Online { .. } => SessionPhase::Online,
            State::Closed => SessionPhase::Closed,
        }
    }
}

/// The master's side of one connection. See the [module docs](self).
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    state: State,
    decoder: CommandDecoder,
    input: BytesMut,
    outbox: Outbox,
    events: VecDeque<SessionEvent>,
    info: ReplicaInfo,
    authenticated: bool,
}

const NOAUTH: &[u8] = b"-NOAUTH Authentication required.\r\n";
const PENDING_OUTPUT: &[u8] = b"-ERR SYNC and PSYNC are invalid with pending output\r\n";

impl Session {
    /// A new connection.
    pub fn new(config: SessionConfig, _now: Instant) -> Session {
        let decoder = CommandDecoder::new(config.limits);
        Session {
            config,
            state: State::Client { waiting: None },
            decoder,
            input: BytesMut::new(),
            outbox: Outbox::default(),
            events: VecDeque::new(),
            info: ReplicaInfo::default(),
            authenticated: false,
        }
    }

    /// Feeds bytes received from the peer.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) {
        if self.is_closed() {
            return;
        }
        self.input.extend_from_slice(data);
        self.drive(now);
    }

    /// The connection ended.
    pub fn handle_eof(&mut self, _now: Instant) {
        self.close_with(SessionCloseReason::Disconnected);
    }

    /// Time passed: keepalives to a replica waiting for its snapshot, the ACK timeout.
    pub fn handle_timeout(&mut self, now: Instant) {
        let period = self.config.keepalive_period;
        let timeout = self.config.repl_timeout;
        match &mut self.state {
            State::AwaitSnapshot { next_keepalive, .. } if now >= *next_keepalive => {
                self.outbox.extend(b"\n");
                let next = *next_keepalive + period;
                *next_keepalive = if next > now { next } else { now + period };
            }
            State::Online {
                link: Link::Psync,
                last_ack,
                ..
            }
            | State::AwaitFirstAck {
                link: Link::Psync,
                since: last_ack,
                ..
            } if now >= *last_ack + timeout => self.close_with(SessionCloseReason::TimedOut),
            _ => {}
        }
    }

    /// The next deadline; `None` when nothing is timed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let timeout = self.config.repl_timeout;
        match &self.state {
            State::AwaitSnapshot { next_keepalive, .. } => Some(*next_keepalive),
            State::Online {
                link: Link::Psync,
                last_ack,
                ..
            }
            | State::AwaitFirstAck {
                link: Link::Psync,
                since: last_ack,
                ..
            } => Some(*last_ack + timeout),
            _ => None,
        }
    }

    /// Bytes to write to the peer.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.outbox.pop()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// Where the session is.
    pub fn phase(&self) -> SessionPhase {
        self.state.phase()
    }

    /// Whether the session is over (drain `poll_transmit`, then close the socket).
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// What the peer announced with `REPLCONF`.
    pub fn info(&self) -> &ReplicaInfo {
        &self.info
    }

    /// Whether the peer asked for `PSYNC`/`SYNC` and is now a replica.
    pub fn is_replica(&self) -> bool {
        !matches!(self.state, State::Client { .. } | State::Closed)
    }

    /// Whether this is a legacy `SYNC` replica (no ACKs expected).
    pub fn is_legacy(&self) -> bool {
        matches!(
            self.state,
            State::AwaitSnapshot {
                link: Link::Legacy,
                ..
            } | State::SendingSnapshot {
                link: Link::Legacy,
                ..
            } | State::AwaitFirstAck {
                link: Link::Legacy,
                ..
            } | State::Online {
                link: Link::Legacy,
                ..
            }
        )
    }

    /// The highest offset the replica acknowledged.
    pub fn ack_offset(&self) -> Option<Offset> {
        match &self.state {
            State::Online { ack, .. } => ack.map(Offset),
            _ => None,
        }
    }

    /// Seconds since the last ACK of an online replica (`lag` in `INFO`), 0 otherwise.
    pub fn lag(&self, now: Instant) -> Duration {
        match &self.state {
            State::Online { last_ack, .. } => now.saturating_duration_since(*last_ack),
            _ => Duration::ZERO,
        }
    }

    /// Unsent output, in bytes (held stream bytes included).
    pub fn pending_output(&self) -> usize {
        self.outbox.len() + self.held().map_or(0, |h| h.len)
    }

    /// Closes the session from this side.
    pub fn close(&mut self) {
        self.close_with(SessionCloseReason::Local);
    }

    /// Answers an [`SessionEvent::Auth`].
    pub fn auth_result(&mut self, now: Instant, ok: bool) -> Result<(), SessionMisuse> {
        self.take_waiting(Waiting::Auth, "auth_result")?;
        if ok {
            self.authenticated = true;
            self.outbox.extend(b"+OK\r\n");
        } else {
            self.outbox
                .extend(b"-WRONGPASS invalid username-password pair or user is disabled.\r\n");
        }
        self.drive(now);
        Ok(())
    }

    /// Answers an [`SessionEvent::Command`] with a complete RESP reply.
    pub fn reply(&mut self, now: Instant, reply: &[u8]) -> Result<(), SessionMisuse> {
        self.take_waiting(Waiting::Reply, "reply")?;
        self.outbox.extend(reply);
        self.check_output();
        self.drive(now);
        Ok(())
    }

    /// Answers a sync request with an error line (e.g. `-NOMASTERLINK …`, a bad offset); the
    /// peer stays an ordinary client.
    pub fn reject_sync(&mut self, now: Instant, line: &[u8]) -> Result<(), SessionMisuse> {
        self.take_sync("reject_sync")?;
        self.outbox.extend(line);
        self.drive(now);
        Ok(())
    }

    /// Accepts a `PSYNC` partially: `+CONTINUE[ <id>]`, then the backlog from the requested
    /// offset, then the live stream through [`feed_stream`](Self::feed_stream).
    pub fn accept_partial(
        &mut self,
        now: Instant,
        announce: Option<ReplId>,
        backlog: impl IntoIterator<Item = Bytes>,
    ) -> Result<(), SessionMisuse> {
        let link = self.take_sync("accept_partial")?;
        match announce {
            Some(id) => {
                self.outbox.extend(b"+CONTINUE ");
                self.outbox.extend(id.as_bytes());
                self.outbox.extend(b"\r\n");
            }
            None => self.outbox.extend(b"+CONTINUE\r\n"),
        }
        for piece in backlog {
            self.outbox.push(piece);
        }
        self.state = State::Online {
            link,
            ack: None,
            last_ack: now,
        };
        self.check_output();
        self.drive(now);
        Ok(())
    }

    /// Starts a full sync whose snapshot is not ready yet: the replica gets `\n` keepalives
    /// until [`start_snapshot`](Self::start_snapshot).
    pub fn prepare_full_sync(&mut self, now: Instant) -> Result<(), SessionMisuse> {
        let link = self.take_sync("prepare_full_sync")?;
        self.state = State::AwaitSnapshot {
            link,
            next_keepalive: now + self.config.keepalive_period,
        };
        Ok(())
    }

    /// The snapshot taken at stream offset `offset` of history `replid` starts: writes
    /// `+FULLRESYNC <replid> <offset>` (not for legacy `SYNC`) and the payload header. Stream
    /// bytes after `offset` must be fed from now on; they are held until the replica may
    /// receive them.
    pub fn start_snapshot(
        &mut self,
        _now: Instant,
        replid: ReplId,
        offset: Offset,
        header: SnapshotHeader,
    ) -> Result<(), SessionMisuse> {
        let link = match self.state {
            State::AwaitSnapshot { link, .. } => link,
            State::Client {
                waiting: Some(Waiting::Sync(link)),
            } => link,
            _ => return Err(self.misuse("start_snapshot")),
        };
        let out = self.outbox.buffer();
        let before = out.len();
        if link == Link::Psync {
            out.extend_from_slice(b"+FULLRESYNC ");
            out.extend_from_slice(replid.as_bytes());
            out.extend_from_slice(b" ");
            write_unsigned(out, offset.get());
            out.extend_from_slice(b"\r\n");
        }
        match header {
            SnapshotHeader::Length(len) => {
                out.extend_from_slice(b"$");
                write_unsigned(out, len);
            }
            SnapshotHeader::EofMark(mark) => {
                out.extend_from_slice(b"$EOF:");
                out.extend_from_slice(&mark);
            }
        }
        out.extend_from_slice(b"\r\n");
        self.outbox.commit(before);
        self.state = State::SendingSnapshot {
            link,
            framing: header,
            held: Held::default(),
        };
        Ok(())
    }

    /// The next piece of the snapshot, queued without copying.
    pub fn snapshot_chunk(&mut self, chunk: Bytes) -> Result<(), SessionMisuse> {
        let State::SendingSnapshot { framing, .. } = &mut self.state else {
            return Err(self.misuse("snapshot_chunk"));
        };
        if let SnapshotHeader::Length(left) = framing {
            if chunk.len() as u64 > *left {
                return Err(self.misuse("snapshot_chunk (past the announced length)"));
            }
            *left -= chunk.len() as u64;
        }
        self.outbox.push(chunk);
        self.check_output();
        Ok(())
    }

    /// The snapshot is complete. A length-framed snapshot is followed by the held stream at
    /// once; a diskless one by its end mark, and the stream waits for the replica's first ACK.
    /// An `rdb-only` peer is done after its snapshot.
    pub fn finish_snapshot(&mut self, now: Instant) -> Result<(), SessionMisuse> {
        let State::SendingSnapshot {
            link,
            framing,
            held,
        } = &mut self.state
        else {
            return Err(self.misuse("finish_snapshot"));
        };
        let diskless = match *framing {
            SnapshotHeader::Length(0) => false,
            SnapshotHeader::Length(_) => {
                return Err(SessionMisuse {
                    call: "finish_snapshot (before the announced length was sent)",
                    phase: SessionPhase::SendingSnapshot,
                })
            }
            SnapshotHeader::EofMark(mark) => {
                self.outbox.extend(&mark);
                true
            }
        };
        let (link, held) = (*link, std::mem::take(held));
        if self.info.rdb_only {
            self.close_with(SessionCloseReason::SnapshotDelivered);
            return Ok(());
        }
        if diskless {
            self.state = State::AwaitFirstAck {
                link,
                held,
                since: now,
            };
        } else {
            self.go_online(link, held, None, now);
        }
        self.drive(now);
        Ok(())
    }

    /// Stream bytes propagated by the master after the replica's starting offset. Ignored
    /// before a sync started; held while the snapshot is on its way; queued once online.
    pub fn feed_stream(&mut self, bytes: Bytes) {
        if self.info.rdb_only {
            return;
        }
        match &mut self.state {
            State::SendingSnapshot { held, .. } | State::AwaitFirstAck { held, .. } => {
                held.len += bytes.len();
                held.pieces.push_back(bytes);
            }
            State::Online { .. } => self.outbox.push(bytes),
            _ => return,
        }
        self.check_output();
    }

    fn held(&self) -> Option<&Held> {
        match &self.state {
            State::SendingSnapshot { held, .. } | State::AwaitFirstAck { held, .. } => Some(held),
            _ => None,
        }
    }

    fn go_online(&mut self, link: Link, held: Held, ack: Option<u64>, now: Instant) {
        for piece in held.pieces {
            self.outbox.push(piece);
        }
        self.state = State::Online {
            link,
            ack,
            last_ack: now,
        };
    }

    fn check_output(&mut self) {
        if self.pending_output() > self.config.output_limit && self.is_replica() {
            let limit = self.config.output_limit;
            self.close_with(SessionCloseReason::OutputLimit { limit });
        }
    }

    fn misuse(&self, call: &'static str) -> SessionMisuse {
        SessionMisuse {
            call,
            phase: self.phase(),
        }
    }

    fn take_waiting(&mut self, expected: Waiting, call: &'static str) -> Result<(), SessionMisuse> {
        match &mut self.state {
            State::Client { waiting } if *waiting == Some(expected) => {
                *waiting = None;
                Ok(())
            }
            _ => Err(self.misuse(call)),
        }
    }

    fn take_sync(&mut self, call: &'static str) -> Result<Link, SessionMisuse> {
        match &mut self.state {
            State::Client {
                waiting: Some(Waiting::Sync(link)),
            } => {
                let link = *link;
                self.state = State::Client { waiting: None };
                Ok(link)
            }
            _ => Err(self.misuse(call)),
        }
    }

    fn close_with(&mut self, reason: SessionCloseReason) {
        if self.is_closed() {
            return;
        }
        self.state = State::Closed;
        self.input = BytesMut::new();
        // A delivered snapshot still has to reach the peer; nothing more is sent to a peer
        // that broke the rules or fell behind.
        if !matches!(
            reason,
            SessionCloseReason::Disconnected
                | SessionCloseReason::Local
                | SessionCloseReason::SnapshotDelivered
        ) {
            self.outbox.clear();
        }
        self.events.push_back(SessionEvent::Closed(reason));
    }

    /// Processes buffered input until it runs out or an answer from the application is due.
    fn drive(&mut self, now: Instant) {
        loop {
            if let State::Client { waiting: Some(_) } = self.state {
                let limit = self.config.limits.max_frame_len;
                if self.input.len() > limit {
                    self.close_with(SessionCloseReason::InputLimit { limit });
                }
                return;
            }
            if self.is_closed() {
                return;
            }
            let decoded = match self.decoder.decode(&self.input) {
                Ok(decoded) => decoded,
                Err(e) => return self.close_with(SessionCloseReason::Protocol(e)),
            };
            let (len, args) = match decoded {
                Decoded::Incomplete => return,
                Decoded::Keepalive { len } => {
                    self.input.advance(len);
                    // A bare newline from a replica shows it is alive.
                    if let State::Online { last_ack, .. } = &mut self.state {
                        *last_ack = now;
                    }
                    continue;
                }
                Decoded::Command { len, args } | Decoded::Inline { len, args } => (len, args),
            };
            let frame = CommandFrame::decoded(self.input.split_to(len).freeze(), args);
            if self.is_replica() {
                self.replica_command(frame, now);
            } else {
                self.client_command(frame);
            }
        }
    }

    /// A command on a replica link: only `REPLCONF ACK`/`GETACK` are allowed, since any reply
    /// would corrupt the stream the replica reads.
    fn replica_command(&mut self, frame: CommandFrame, now: Instant) {
        if frame.is("replconf") {
            match replconf::apply(&frame, &mut self.info) {
                Replconf::Ack(Some(offset)) => return self.ack(offset, now),
                Replconf::Ack(None) | Replconf::Silent => return,
                Replconf::Reply(_) | Replconf::ReplyOwned(_) => {}
            }
        }
        let name = frame.arg_bytes(0).unwrap_or_default();
        self.close_with(SessionCloseReason::ReplicaCommand(name));
    }

    fn ack(&mut self, offset: u64, now: Instant) {
        match &mut self.state {
            State::Online { ack, last_ack, .. } => {
                *ack = Some(ack.map_or(offset, |a| a.max(offset)));
                *last_ack = now;
            }
            State::AwaitFirstAck { .. } => {
                let State::AwaitFirstAck { link, held, .. } =
                    std::mem::replace(&mut self.state, State::Closed)
                else {
                    unreachable!("matched above");
                };
                self.go_online(link, held, Some(offset), now);
            }
            _ => return,
        }
        self.events.push_back(SessionEvent::Ack { offset });
    }

    fn client_command(&mut self, frame: CommandFrame) {
        let allowed_unauthenticated = frame.is("auth") || frame.is("quit") || frame.is("hello");
        if self.config.require_auth && !self.authenticated && !allowed_unauthenticated {
            return self.outbox.extend(NOAUTH);
        }
        if frame.is("ping") {
            match frame.argc() {
                1 => self.outbox.extend(b"+PONG\r\n"),
                2 => {
                    let before = self.outbox.buffer().len();
                    encode_bulk(self.outbox.buffer(), frame.arg(1).unwrap_or_default());
                    self.outbox.commit(before);
                }
                _ => self.wrong_arity("ping"),
            }
        } else if frame.is("auth") {
            match (frame.argc(), self.config.require_auth) {
                (2, false) => self.outbox.extend(
                    b"-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n",
                ),
                (2, true) | (3, _) => {
                    let (username, password) = if frame.argc() == 3 {
                        (frame.arg_bytes(1), frame.arg_bytes(2).unwrap_or_default())
                    } else {
                        (None, frame.arg_bytes(1).unwrap_or_default())
                    };
                    self.state = State::Client { waiting: Some(Waiting::Auth) };
                    self.events.push_back(SessionEvent::Auth { username, password });
                }
                _ => self.wrong_arity("auth"),
            }
        } else if frame.is("replconf") {
            match replconf::apply(&frame, &mut self.info) {
                Replconf::Reply(line) => self.outbox.extend(line),
                Replconf::ReplyOwned(line) => self.outbox.extend(&line),
                Replconf::Ack(_) | Replconf::Silent => {}
            }
        } else if frame.is("psync") || frame.is("sync") {
            let psync = frame.is("psync");
            if (psync && frame.argc() < 3) || (!psync && frame.argc() != 1) {
                return self.wrong_arity(if psync { "psync" } else { "sync" });
            }
            if !self.outbox.is_empty() {
                return self.outbox.extend(PENDING_OUTPUT);
            }
            if self.info.rdb_filter.is_some() && !self.info.capa_eof {
                return self
                    .outbox
                    .extend(b"-ERR Filtered replica requires EOF capability\r\n");
            }
            let (link, request) = if psync {
                let request = SyncRequest::Psync {
                    replid: frame.arg_bytes(1).unwrap_or_default(),
                    offset: frame.arg_bytes(2).unwrap_or_default(),
                };
                (Link::Psync, request)
            } else {
                (Link::Legacy, SyncRequest::Sync)
            };
            self.state = State::Client {
                waiting: Some(Waiting::Sync(link)),
            };
            self.events.push_back(SessionEvent::SyncRequested(request));
        } else {
            self.state = State::Client {
                waiting: Some(Waiting::Reply),
            };
            self.events.push_back(SessionEvent::Command(frame));
        }
    }

    fn wrong_arity(&mut self, command: &str) {
        self.outbox.extend(b"-ERR wrong number of arguments for '");
        self.outbox.extend(command.as_bytes());
        self.outbox.extend(b"' command\r\n");
    }
}
