//! The replica's states and every transition between them.

use std::time::Instant;

use bytes::Bytes;

use crate::resp::{encode_bulk_unsigned, parse_line};
use crate::{Offset, ReplId};

use super::snapshot::{Payload, MARK_LEN};
use super::stream::{Link, Stream};
use super::{
    CloseReason, ErrorReply, Event, HandshakeCommand, Phase, ProtocolError, Replica,
    SnapshotFraming,
};

/// `PING` sent; waiting for its reply.
#[derive(Debug)]
pub(super) struct AwaitPong;

/// `AUTH` and the `REPLCONF`s sent in one burst; their replies are read in order.
#[derive(Debug)]
pub(super) struct AwaitReplies {
    /// Commands whose replies are still due, in the order they were sent.
    pub(super) pending: smallvec::SmallVec<[HandshakeCommand; 4]>,
}

/// `PSYNC` sent; waiting for `+FULLRESYNC`, `+CONTINUE` or an error.
#[derive(Debug)]
pub(super) struct AwaitPsync;

/// A full sync was announced (or `SYNC` sent); waiting for the `$` header of the snapshot.
#[derive(Debug)]
pub(super) struct AwaitSnapshot {
    pub(super) link: Link,
    /// The offset the snapshot ends at (`+FULLRESYNC`), 0 for a legacy link.
    pub(super) offset: Offset,
}

/// The snapshot payload is streaming.
#[derive(Debug)]
pub(super) struct Transfer {
    pub(super) link: Link,
    pub(super) offset: Offset,
    pub(super) payload: Payload,
}

/// The command stream.
#[derive(Debug)]
pub(super) struct Streaming {
    pub(super) stream: Stream,
    pub(super) next_ack: Option<Instant>,
}

/// The link is over.
#[derive(Debug)]
pub(super) struct Closed;

/// One state per phase of a link, each with the data only it needs.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "one per link, and the streaming state, the largest, is the hot one: boxing it \
              would add an indirection to every command"
)]
pub(super) enum State {
    AwaitPong(AwaitPong),
    AwaitReplies(AwaitReplies),
    AwaitPsync(AwaitPsync),
    AwaitSnapshot(AwaitSnapshot),
    Transfer(Transfer),
    Streaming(Streaming),
    Closed(Closed),
}

impl State {
    pub(super) fn phase(&self) -> Phase {
        match self {
            State::AwaitPong(_) => Phase::Ping,
            State::AwaitReplies(_) => Phase::Handshake,
            State::AwaitPsync(_) => Phase::Psync,
            State::AwaitSnapshot(_) => Phase::SnapshotHeader,
            State::Transfer(_) => Phase::Transfer,
            State::Streaming(_) => Phase::Streaming,
            State::Closed(_) => Phase::Closed,
        }
    }
}

/// What one step of the machine decided.
enum Step {
    /// Nothing more can be done with the buffered input.
    Wait,
    /// Progress was made; look again.
    Again,
    /// Move to another state.
    Enter(Box<State>),
    /// End the link.
    Close(CloseReason),
}

impl Step {
    fn enter(state: State) -> Step {
        Step::Enter(Box::new(state))
    }
}

impl Replica {
    /// Runs the machine over the buffered input until it needs more.
    pub(super) fn drive(&mut self, now: Instant) {
        loop {
            let step = self.step(now);
            match step {
                Step::Wait => return,
                Step::Again => {}
                Step::Enter(next) => self.enter(*next, now),
                Step::Close(reason) => return self.close_with(reason),
            }
        }
    }

    fn enter(&mut self, next: State, now: Instant) {
        self.last_io = now;
        self.state = next;
    }

    /// Ends the link once, reporting why. (What survives it for the next link follows from
    /// the events delivered, `Closed` included: see `delivery.rs`.)
    ///
    /// Whole commands already received stay deliverable before `Closed`: they are decoded
    /// now, and a protocol error among them, being earlier on the wire, becomes the reason.
    pub(super) fn close_with(&mut self, mut reason: CloseReason) {
        self.settle();
        match &mut self.state {
            State::Closed(_) => return,
            State::Streaming(s) if !reason.is_protocol_error() => loop {
                match s.stream.next_command(&mut self.input) {
                    Ok(Some(command)) => self.events.push_back(Event::Command(command)),
                    Ok(None) => break,
                    Err(e) => {
                        reason = CloseReason::Protocol(e);
                        break;
                    }
                }
            },
            _ => {}
        }
        self.state = State::Closed(Closed);
        self.input = Default::default();
        self.events.push_back(Event::Closed(reason));
    }

    fn step(&mut self, now: Instant) -> Step {
        match &mut self.state {
            State::Closed(_) => Step::Wait,
            State::AwaitPong(_) => self.on_line(now, |this, line| this.pong(line)),
            State::AwaitReplies(_) => self.on_line(now, |this, line| this.handshake_reply(line)),
            State::AwaitPsync(_) => self.on_line(now, |this, line| this.psync_reply(line, now)),
            State::AwaitSnapshot(_) => self.on_line(now, |this, line| this.snapshot_header(line)),
            State::Transfer(t) => {
                let finished = match t.payload.take(&mut self.input, &mut self.events) {
                    Ok(f) => f,
                    Err(e) => {
                        return Step::Close(CloseReason::Protocol(ProtocolError::Snapshot(e)))
                    }
                };
                match finished {
                    None => Step::Wait,
                    Some(done) => self.snapshot_done(done, now),
                }
            }
            // Commands are decoded when the application asks for them (`poll_event`).
            State::Streaming(_) => Step::Wait,
        }
    }

    /// Takes one whole line off the input (skipping empty keepalive lines) and hands it on.
    fn on_line(&mut self, now: Instant, handle: impl FnOnce(&mut Self, Bytes) -> Step) -> Step {
        let phase = self.state.phase();
        let line = match parse_line(&self.input, self.config.limits.max_line_len) {
            Ok(None) => return Step::Wait,
            Ok(Some(line)) => (line.text.len(), line.consumed),
            Err(error) => {
                return Step::Close(CloseReason::Protocol(ProtocolError::Resp { phase, error }))
            }
        };
        let (text_len, consumed) = line;
        let mut raw = self.input.split_to(consumed).freeze();
        raw.truncate(text_len);
        // Every complete line, keepalives included, shows the master is alive.
        self.last_io = now;
        if raw.is_empty() {
            return Step::Again;
        }
        handle(self, raw)
    }

    fn pong(&mut self, line: Bytes) -> Step {
        self.report(HandshakeCommand::Ping, &line);
        let accepted = line.starts_with(b"+")
            || line.starts_with(b"-NOAUTH")
            || line.starts_with(b"-NOPERM")
            || line.starts_with(b"-ERR operation not permitted");
        if accepted {
            let pending = self.send_handshake_burst();
            Step::enter(State::AwaitReplies(AwaitReplies { pending }))
        } else if line.starts_with(b"-") {
            Step::Close(CloseReason::Refused {
                phase: Phase::Ping,
                reply: ErrorReply(line),
            })
        } else {
            Step::Close(CloseReason::Protocol(ProtocolError::UnexpectedReply {
                command: HandshakeCommand::Ping,
                line,
            }))
        }
    }

    fn handshake_reply(&mut self, line: Bytes) -> Step {
        let State::AwaitReplies(wait) = &mut self.state else {
            unreachable!("called in AwaitReplies");
        };
        let command = wait.pending.remove(0);
        let done = wait.pending.is_empty();
        self.report(command, &line);
        if command == HandshakeCommand::Auth && line.starts_with(b"-") {
            return Step::Close(CloseReason::Refused {
                phase: Phase::Handshake,
                reply: ErrorReply(line),
            });
        }
        // Errors to REPLCONF are not fatal: old masters do not know every option.
        if !done {
            return Step::Again;
        }
        self.send_psync();
        Step::enter(State::AwaitPsync(AwaitPsync))
    }

    fn psync_reply(&mut self, line: Bytes, now: Instant) -> Step {
        self.report(HandshakeCommand::Psync, &line);
        if line.starts_with(b"+FULLRESYNC") {
            return match parse_fullresync(&line) {
                Some((replid, offset)) => {
                    self.events.push_back(Event::FullResync { replid, offset });
                    Step::enter(State::AwaitSnapshot(AwaitSnapshot {
                        link: Link::Psync(replid),
                        offset,
                    }))
                }
                None => Step::Close(CloseReason::Protocol(ProtocolError::MalformedFullResync {
                    line,
                })),
            };
        }
        if line.starts_with(b"+CONTINUE") {
            return self.continue_reply(line, now);
        }
        if line.starts_with(b"-NOMASTERLINK")
            || line.starts_with(b"-LOADING")
            || line.starts_with(b"-BUSY")
        {
            return Step::Close(CloseReason::MasterNotReady(ErrorReply(line)));
        }
        if line.starts_with(b"-") {
            // A master that does not know PSYNC: fall back to SYNC on the same connection.
            self.output.extend_from_slice(b"SYNC\r\n");
            self.events.push_back(Event::LegacySync { reply: line });
            return Step::enter(State::AwaitSnapshot(AwaitSnapshot {
                link: Link::Legacy,
                offset: Offset::ZERO,
            }));
        }
        Step::Close(CloseReason::Protocol(ProtocolError::UnexpectedReply {
            command: HandshakeCommand::Psync,
            line,
        }))
    }

    fn continue_reply(&mut self, line: Bytes, now: Instant) -> Step {
        let Some(resume) = self.requested else {
            return Step::Close(CloseReason::Protocol(ProtocolError::UnrequestedContinue));
        };
        let announced = match &line[b"+CONTINUE".len()..] {
            [] => None,
            [b' ', id @ ..] => match ReplId::parse(id) {
                Ok(id) => Some(id),
                Err(e) => {
                    return Step::Close(CloseReason::Protocol(ProtocolError::InvalidReplId(e)))
                }
            },
            _ => {
                return Step::Close(CloseReason::Protocol(ProtocolError::MalformedContinue {
                    line,
                }))
            }
        };
        let replid = announced.unwrap_or(resume.replid);
        let previous_replid = (replid != resume.replid).then_some(resume.replid);
        if let Some(old) = previous_replid {
            // PSYNC2: the old id stays servable up to the byte after our offset.
            self.replid2 = Some((old, resume.offset.advanced(1)));
        }
        self.events.push_back(Event::PartialResync {
            replid,
            previous_replid,
            offset: resume.offset,
        });
        let stream = Stream::new(
            Link::Psync(replid),
            resume.offset,
            resume.db,
            self.config.limits,
        );
        Step::enter(State::Streaming(Streaming {
            stream,
            next_ack: Some(now + self.config.ack_period),
        }))
    }

    fn snapshot_header(&mut self, line: Bytes) -> Step {
        let State::AwaitSnapshot(wait) = &self.state else {
            unreachable!("called in AwaitSnapshot");
        };
        let (link, offset) = (wait.link, wait.offset);
        if line.starts_with(b"-") {
            return Step::Close(CloseReason::Refused {
                phase: Phase::SnapshotHeader,
                reply: ErrorReply(line),
            });
        }
        let malformed = || {
            Step::Close(CloseReason::Protocol(
                ProtocolError::MalformedSnapshotHeader { line: line.clone() },
            ))
        };
        let (framing, mark) = if let Some(mark) = line.strip_prefix(b"$EOF:") {
            let Ok(mark) = <[u8; MARK_LEN]>::try_from(mark) else {
                return malformed();
            };
            (SnapshotFraming::EofMark, Some(mark))
        } else if let Some(len) = line.strip_prefix(b"$") {
            match crate::resp::parse_decimal(len) {
                Some(len) if len >= 0 => (SnapshotFraming::Length(len as u64), None),
                _ => return malformed(),
            }
        } else {
            return malformed();
        };
        self.events.push_back(Event::SnapshotBegin { framing });
        Step::enter(State::Transfer(Transfer {
            link,
            offset,
            payload: Payload::new(framing, mark),
        }))
    }

    fn snapshot_done(&mut self, done: super::snapshot::Finished, now: Instant) -> Step {
        let State::Transfer(t) = &self.state else {
            unreachable!("called in Transfer");
        };
        let (link, offset) = (t.link, t.offset);
        let checksum = match done.checksum {
            Ok(status) => status,
            Err(crate::rdb::RdbError::ChecksumMismatch { .. }) if !self.config.verify_checksum => {
                crate::rdb::ChecksumStatus::NotChecked
            }
            Err(e) => return Step::Close(CloseReason::Protocol(ProtocolError::Snapshot(e))),
        };
        self.events.push_back(Event::SnapshotEnd {
            size: done.size,
            checksum,
            db: done.stream_db,
        });
        let stream = Stream::new(link, offset, done.stream_db, self.config.limits);
        let next_ack = matches!(link, Link::Psync(_)).then(|| now + self.config.ack_period);
        Step::enter(State::Streaming(Streaming { stream, next_ack }))
    }

    fn report(&mut self, command: HandshakeCommand, line: &Bytes) {
        self.events.push_back(Event::HandshakeReply {
            command,
            reply: line.clone(),
        });
    }
}

/// `+FULLRESYNC <40 hex> <offset>`, nothing more, nothing less.
fn parse_fullresync(line: &[u8]) -> Option<(ReplId, Offset)> {
    let rest = line.strip_prefix(b"+FULLRESYNC ")?;
    let space = rest.iter().position(|&b| b == b' ')?;
    let replid = ReplId::parse(&rest[..space]).ok()?;
    let offset = crate::resp::parse_decimal(&rest[space + 1..])?;
    (offset >= 0).then_some((replid, Offset(offset as u64)))
}

/// Appends `REPLCONF ACK <offset>`.
pub(super) fn encode_ack(output: &mut bytes::BytesMut, offset: Offset) {
    output.extend_from_slice(b"*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n");
    encode_bulk_unsigned(output, offset.get());
}
