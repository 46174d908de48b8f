//! The replica side of a master link.
//!
//! A [`Replica`] is the state machine of one connection to a master, from the first `PING` to
//! the end of the link. It never touches a socket or a clock: the driver feeds it bytes with
//! [`handle_input`](Replica::handle_input), the end of the connection with
//! [`handle_eof`](Replica::handle_eof) and the passing of time with
//! [`handle_timeout`](Replica::handle_timeout), then drains the bytes to send
//! ([`poll_transmit`](Replica::poll_transmit)), the events ([`poll_event`](Replica::poll_event))
//! and the next deadline ([`poll_timeout`](Replica::poll_timeout)).
//!
//! When a link ends, [`Replica::checkpoint`] tells where the next link can resume: it survives
//! a plain disconnect or timeout and is dropped after a protocol error or once a full
//! resynchronization has started replacing the data.
//!
//! See `docs/replica-states.md` for the state diagram.

mod config;
mod delivery;
mod error;
mod event;
mod following;
mod machine;
mod mark;
mod snapshot;
mod stream;

use std::collections::VecDeque;
use std::fmt;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use crate::resp::encode_command;
use crate::{Checkpoint, Offset, ReplId};

pub use config::{AckMode, Auth, ConfigError, ReplicaConfig};
pub use error::{CloseReason, ErrorReply, ProtocolError};
pub use event::{Command, CommandKind, CommandRef, Event, HandshakeCommand, SnapshotFraming};
pub use following::Following;

use delivery::Delivery;
use machine::{encode_ack, AwaitPong, State};
use stream::Next;

/// Where a link is, for logs, errors and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase {
    /// `PING` sent, waiting for its reply.
    Ping,
    /// `AUTH`/`REPLCONF` sent, reading their replies.
    Handshake,
    /// `PSYNC` sent, waiting for its reply.
    Psync,
    /// Full sync announced, waiting for the snapshot header.
    SnapshotHeader,
    /// Receiving the snapshot.
    Transfer,
    /// Receiving the command stream.
    Streaming,
    /// Over.
    Closed,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Ping => "PING",
            Phase::Handshake => "the handshake",
            Phase::Psync => "PSYNC",
            Phase::SnapshotHeader => "the snapshot header",
            Phase::Transfer => "the snapshot transfer",
            Phase::Streaming => "the command stream",
            Phase::Closed => "closed link",
        })
    }
}

/// The replica side of one connection to a master. See the [module docs](self).
pub struct Replica {
    config: ReplicaConfig,
    state: State,
    /// Received bytes not yet consumed; only an incomplete line or frame stays here.
    input: BytesMut,
    /// Bytes to send, handed out by `poll_transmit`.
    output: BytesMut,
    events: VecDeque<Event>,
    /// The checkpoint this link asked to resume from with `PSYNC`.
    requested: Option<Checkpoint>,
    /// What the application has been handed: the checkpoint and the ACK offset follow it.
    delivery: Delivery,
    /// The previous history after a `+CONTINUE <new id>`, and the first offset it does not cover.
    replid2: Option<(ReplId, Offset)>,
    /// Last time the master showed it was alive, for `repl_timeout`.
    last_io: Instant,
    /// Bytes at the front of `input` lent out by `poll_command`, dropped at the next call.
    /// A command is lent either from there or from `lent_command`, never both. (Three
    /// fields rather than one enum: moving a decoded command into an enum costs every
    /// borrowed INCR about 27 more instructions, callgrind.)
    lent: usize,
    /// The argument spans of the command lent out from `input`.
    lent_args: crate::resp::ArgSpans,
    /// A command lent out that was already owned (a released transaction, a queued event).
    lent_command: Option<Command>,
}

impl fmt::Debug for Replica {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replica")
            .field("phase", &self.phase())
            .field("buffered", &self.buffered())
            .field("pending_output", &self.output.len())
            .field("events", &self.events.len())
            .finish()
    }
}

impl Replica {
    /// Starts a link on a freshly connected socket: queues `PING`.
    ///
    /// `resume` is the checkpoint of an earlier link (or one read back from a saved snapshot);
    /// with it the replica asks `PSYNC <replid> <offset + 1>`, without it `PSYNC ? -1`.
    pub fn new(
        config: ReplicaConfig,
        resume: Option<Checkpoint>,
        now: Instant,
    ) -> Result<Replica, ConfigError> {
        config.validate()?;
        let config_ack_mode = config.ack_mode;
        let mut replica = Replica {
            config,
            state: State::AwaitPong(AwaitPong),
            input: BytesMut::new(),
            output: BytesMut::with_capacity(256),
            events: VecDeque::new(),
            requested: resume,
            delivery: Delivery::new(resume, config_ack_mode),
            replid2: None,
            last_io: now,
            lent: 0,
            lent_args: crate::resp::ArgSpans::new(),
            lent_command: None,
        };
        encode_command(&mut replica.output, &["PING"]);
        Ok(replica)
    }

    /// Feeds bytes received from the master.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) {
        if self.is_closed() || data.is_empty() {
            return;
        }
        self.settle();
        // Any byte of a snapshot or of the stream shows the master is alive; during the
        // handshake only complete lines count, as in Redis.
        if matches!(self.state.phase(), Phase::Transfer | Phase::Streaming) {
            self.last_io = now;
        }
        self.input.extend_from_slice(data);
        self.drive(now);
    }

    /// Feeds bytes received from the master, taking ownership: when nothing is buffered and
    /// `data` is not shared, its allocation is reused instead of copied.
    pub fn handle_input_bytes(&mut self, now: Instant, data: Bytes) {
        if self.is_closed() || data.is_empty() {
            return;
        }
        self.settle();
        // Any byte of a snapshot or of the stream shows the master is alive; during the
        // handshake only complete lines count, as in Redis.
        if matches!(self.state.phase(), Phase::Transfer | Phase::Streaming) {
            self.last_io = now;
        }
        if self.input.is_empty() {
            match data.try_into_mut() {
                Ok(owned) => self.input = owned,
                Err(shared) => self.input.extend_from_slice(&shared),
            }
        } else {
            self.input.extend_from_slice(&data);
        }
        self.drive(now);
    }

    /// The connection ended (closed by the peer, reset, or failed to write).
    pub fn handle_eof(&mut self, _now: Instant) {
        let phase = self.state.phase();
        self.close_with(CloseReason::Disconnected { phase });
    }

    /// Time passed: gives up a silent link, sends the periodic ACK.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_closed() {
            return;
        }
        if now >= self.last_io + self.config.repl_timeout {
            let phase = self.state.phase();
            return self.close_with(CloseReason::TimedOut { phase });
        }
        let period = self.config.ack_period;
        if let State::Streaming(s) = &mut self.state {
            if let Some(due) = s.next_ack.filter(|due| now >= *due) {
                // Only what was handed out, and only for the history this link streams.
                let delivered = self.delivery.checkpoint();
                if delivered.is_some_and(|c| s.stream.link == stream::Link::Psync(c.replid)) {
                    if let Some(offset) = self.delivery.ack_offset() {
                        encode_ack(&mut self.output, offset);
                    }
                }
                // Keep the cadence, but never schedule in the past after a late call.
                let next = due + period;
                s.next_ack = Some(if next > now { next } else { now + period });
            }
        }
    }

    /// Closes the link from this side (the driver then closes the socket).
    pub fn close(&mut self) {
        self.close_with(CloseReason::Local);
    }

    /// Confirms that everything up to `offset` is applied, in [`AckMode::Manual`]. Offsets
    /// beyond what was delivered are capped to it.
    pub fn acknowledge(&mut self, offset: Offset) {
        self.delivery.confirm(offset);
    }

    /// Bytes to write to the master, if any (all pending output in one buffer).
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        if self.output.is_empty() {
            None
        } else {
            Some(self.output.split().freeze())
        }
    }

    /// The next event, in stream order.
    ///
    /// Handing out an event is what moves the [`checkpoint`](Self::checkpoint) and the
    /// acknowledged offset, and may queue an ACK (the answer to a `GETACK`, or the ACK that
    /// starts the stream after a diskless snapshot): drain [`poll_transmit`](Self::poll_transmit)
    /// after the events.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.settle();
        let event = match self.events.pop_front() {
            Some(event) => event,
            None => self.next_streamed()?,
        };
        let ack = self.delivery.deliver(&event);
        self.send_ack(ack);
        Some(event)
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next; `None` once closed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let inactivity = self.last_io + self.config.repl_timeout;
        match &self.state {
            State::Closed(_) => None,
            State::Streaming(s) => Some(s.next_ack.map_or(inactivity, |ack| ack.min(inactivity))),
            _ => Some(inactivity),
        }
    }

    /// The next event if it is a stream command, borrowed rather than owned: no buffer
    /// handle is created, so a loop that applies each command and moves on does the least
    /// work per command. Returns `None` when the next event is anything else (or nothing is
    /// ready); [`poll_event`](Self::poll_event) then hands that out. Delivery has the same
    /// effects as through `poll_event` (the checkpoint, the acknowledged offset, a `GETACK`
    /// answer), and the two may be mixed freely:
    ///
    /// ```text
    /// loop {
    ///     while let Some(command) = replica.poll_command() { apply(command) }
    ///     match replica.poll_event() { Some(event) => handle(event), None => break }
    /// }
    /// ```
    #[inline]
    pub fn poll_command(&mut self) -> Option<CommandRef<'_>> {
        self.settle();
        if let Some(event) = self.events.front() {
            if !matches!(event, Event::Command(_)) {
                return None;
            }
            let Some(Event::Command(command)) = self.events.pop_front() else {
                unreachable!("checked above");
            };
            return Some(self.lend_owned(command));
        }
        let State::Streaming(s) = &mut self.state else {
            return None;
        };
        match s.stream.next(&mut self.input) {
            Ok(None) => None,
            Ok(Some(Next::Held(command))) => Some(self.lend_owned(command)),
            Ok(Some(Next::AtFront(front))) => {
                self.deliver_command(front.kind, front.offset, front.db);
                self.lent = front.len;
                self.lent_args = front.args;
                Some(CommandRef {
                    frame: crate::resp::FrameRef::decoded(
                        &self.input[..front.len],
                        &self.lent_args,
                    ),
                    offset: front.offset,
                    db: front.db,
                    kind: front.kind,
                    preceding_len: front.preceding_len,
                })
            }
            Err(e) => {
                // The `Closed` event is queued: `poll_event` hands it out.
                self.close_with(CloseReason::Protocol(e));
                None
            }
        }
    }

    fn lend_owned(&mut self, command: Command) -> CommandRef<'_> {
        self.deliver_command(command.kind, command.offset, command.db);
        self.lent_command.insert(command).as_ref()
    }

    #[inline]
    fn deliver_command(&mut self, kind: CommandKind, offset: Offset, db: u32) {
        let ack = self.delivery.deliver_command(kind, offset, db);
        self.send_ack(ack);
    }

    /// Queues the ACK that handing out an event called for, unless the link is over.
    #[inline]
    fn send_ack(&mut self, ack: Option<Offset>) {
        if let Some(offset) = ack {
            if !self.is_closed() {
                encode_ack(&mut self.output, offset);
            }
        }
    }

    /// Drops what `poll_command` lent out: its borrow has ended.
    #[inline(always)]
    fn settle(&mut self) {
        if self.lent > 0 {
            bytes::Buf::advance(&mut self.input, self.lent);
            self.lent = 0;
            if self.lent_args.spilled() {
                self.recycle_lent_args();
            }
        }
        self.lent_command = None;
    }

    /// A long argument list goes back to the decoder, so the next long command reuses it.
    #[cold]
    #[inline(never)]
    fn recycle_lent_args(&mut self) {
        if let State::Streaming(s) = &mut self.state {
            s.stream.recycle(std::mem::take(&mut self.lent_args));
        }
    }

    /// Decodes the next command of the stream from the input, or ends the link on a
    /// protocol error (then the `Closed` event is next).
    #[inline(always)]
    fn next_streamed(&mut self) -> Option<Event> {
        let State::Streaming(s) = &mut self.state else {
            return None;
        };
        match s.stream.next_command(&mut self.input) {
            Ok(command) => command.map(Event::Command),
            Err(e) => {
                self.close_with(CloseReason::Protocol(e));
                self.events.pop_front()
            }
        }
    }

    /// Where the link is.
    pub fn phase(&self) -> Phase {
        self.state.phase()
    }

    /// Whether the link is over (the driver should close the socket once output is drained).
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed(_))
    }

    /// Where a next link can resume: the last whole command (outside a transaction) handed out
    /// by [`poll_event`](Self::poll_event) or [`poll_command`](Self::poll_command), in its
    /// history. Dropped once a full resync or a protocol error has been handed out; kept
    /// across a disconnect or a timeout.
    pub fn checkpoint(&self) -> Option<Checkpoint> {
        self.delivery.checkpoint()
    }

    /// The offset of the last stream byte handed out, once streaming.
    pub fn offset(&self) -> Option<Offset> {
        self.delivery.offset()
    }

    /// The previous replication id after a `+CONTINUE <new id>`, with the first offset it no
    /// longer covers (what a master serving sub-replicas would call `replid2` and
    /// `second_replid_offset`).
    pub fn replid2(&self) -> Option<(ReplId, Offset)> {
        self.replid2
    }

    /// Bytes received and not yet handed out: an incomplete line or frame, or, while
    /// streaming, commands not yet handed out (they are decoded when asked for). After the
    /// events are drained, at most one incomplete frame within [`Limits`](crate::Limits)
    /// remains.
    pub fn buffered(&self) -> usize {
        self.input.len() - self.lent
    }

    /// The configuration.
    pub fn config(&self) -> &ReplicaConfig {
        &self.config
    }

    /// Queues AUTH and the REPLCONFs in one burst (PSYNC is never part of it).
    fn send_handshake_burst(&mut self) -> smallvec::SmallVec<[HandshakeCommand; 4]> {
        let mut pending = smallvec::SmallVec::new();
        let out = &mut self.output;
        if let Some(auth) = &self.config.auth {
            match &auth.username {
                Some(user) => encode_command(out, &[&b"AUTH"[..], user, &auth.password]),
                None => encode_command(out, &[&b"AUTH"[..], &auth.password]),
            }
            pending.push(HandshakeCommand::Auth);
        }
        let mut port = BytesMut::new();
        crate::resp::write_decimal(&mut port, i64::from(self.config.listening_port));
        encode_command(out, &[&b"REPLCONF"[..], b"listening-port", &port]);
        pending.push(HandshakeCommand::ListeningPort);
        if let Some(ip) = &self.config.announce_ip {
            encode_command(out, &[&b"REPLCONF"[..], b"ip-address", ip]);
            pending.push(HandshakeCommand::IpAddress);
        }
        if self.config.capa_eof {
            encode_command(out, &["REPLCONF", "capa", "eof", "capa", "psync2"]);
        } else {
            encode_command(out, &["REPLCONF", "capa", "psync2"]);
        }
        pending.push(HandshakeCommand::Capa);
        pending
    }

    fn send_psync(&mut self) {
        match self.requested {
            Some(resume) => {
                let mut next = BytesMut::new();
                crate::resp::write_unsigned(&mut next, resume.offset.next_byte());
                encode_command(
                    &mut self.output,
                    &[&b"PSYNC"[..], resume.replid.as_bytes(), &next],
                );
            }
            None => encode_command(&mut self.output, &["PSYNC", "?", "-1"]),
        }
    }
}
