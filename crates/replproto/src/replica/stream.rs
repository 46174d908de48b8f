//! The command stream after a sync: exact offsets, the selected database, transactions.
//!
//! Commands are decoded on demand, one per [`Stream::next_command`] call, straight from the
//! input buffer: nothing is queued between the bytes and the application except an open
//! transaction, which is held until its `EXEC` arrives.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

use crate::resp::{ArgSpans, CommandDecoder, CommandFrame, Decoded, FrameRef};
use crate::{Limits, Offset, ReplId};

use super::{Command, CommandKind, Phase, ProtocolError};

/// What kind of link the stream runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Link {
    /// After `PSYNC`: ACKs are sent and the link can be resumed.
    Psync(ReplId),
    /// After the `SYNC` fallback: no ACKs, no resume.
    Legacy,
}

/// Replica-side state of a streaming link.
#[derive(Debug)]
pub(super) struct Stream {
    pub(super) link: Link,
    decoder: CommandDecoder,
    /// Last stream byte consumed from the input.
    read: Offset,
    /// Database selected at `read`.
    db: u32,
    /// Bytes of the open `MULTI` … so far, while one is open. Its commands are held back so a
    /// link lost mid-transaction never delivers half of one (the resume point stays before
    /// `MULTI`).
    transaction: Option<usize>,
    /// The commands of a transaction: held while it is open, handed out once its `EXEC` came
    /// (so with no transaction open, any held command is ready). Kept between transactions to
    /// reuse its memory.
    held: VecDeque<Command>,
    /// The bytes of held commands, copied off the input: the input's buffer then never stays
    /// shared with a transaction across reads (it would have to be replaced), and this one is
    /// reused once the application has dropped the commands it handed out. Boxed: only
    /// transactions touch it, and inline it costs every borrowed command about 10 more
    /// instructions (callgrind, INCR corpus).
    held_bytes: Box<BytesMut>,
    /// Keepalive bytes read since the last command, reported with the next one.
    keepalive: u64,
    max_transaction_len: usize,
}

impl Stream {
    pub(super) fn new(link: Link, offset: Offset, db: u32, limits: Limits) -> Self {
        Stream {
            link,
            decoder: CommandDecoder::new(limits),
            read: offset,
            db,
            transaction: None,
            held: VecDeque::new(),
            held_bytes: Box::new(BytesMut::new()),
            keepalive: 0,
            max_transaction_len: limits.max_transaction_len,
        }
    }

    /// The next command to hand out, if `input` holds it whole (and, inside a transaction,
    /// once the transaction's `EXEC` is in). Consumes exactly the bytes decoded.
    #[inline(always)]
    pub(super) fn next_command(
        &mut self,
        input: &mut BytesMut,
    ) -> Result<Option<Command>, ProtocolError> {
        Ok(match self.next(input)? {
            None => None,
            Some(Next::Held(command)) => Some(command),
            Some(Next::AtFront(front)) => Some(front.split_off(input)),
        })
    }

    /// The next command to hand out: either at the front of `input` (not consumed yet: the
    /// caller takes its `len` bytes) or one of a released transaction. Keepalives before it
    /// are consumed.
    #[inline(always)]
    pub(super) fn next(&mut self, input: &mut BytesMut) -> Result<Option<Next>, ProtocolError> {
        loop {
            if self.transaction.is_none() {
                if let Some(command) = self.held.pop_front() {
                    return Ok(Some(Next::Held(command)));
                }
            }
            let decoded = self
                .decoder
                .decode(input)
                .map_err(|error| ProtocolError::Resp {
                    phase: Phase::Streaming,
                    error,
                })?;
            let (len, args) = match decoded {
                Decoded::Command { len, args } => (len, args),
                Decoded::Incomplete => return Ok(None),
                Decoded::Keepalive { len } => {
                    input.advance(len);
                    self.keepalive += len as u64;
                    self.advance_read(len)?;
                    continue;
                }
                Decoded::Inline { .. } => return Err(ProtocolError::InlineCommand),
            };
            self.advance_read(len)?;
            let kind = classify(FrameRef::decoded(&input[..len], &args))?;
            match kind {
                CommandKind::Select(db) => self.db = db,
                CommandKind::Multi if self.transaction.is_none() => {
                    self.transaction = Some(0);
                    // Room for the whole transaction, if it is small: taken back from the
                    // start once the commands of the last one are dropped, so the usual
                    // transaction allocates nothing.
                    self.held_bytes.reserve(HELD_BYTES_BLOCK);
                }
                _ => {}
            }
            let front = Front {
                len,
                args,
                offset: self.read,
                db: self.db,
                kind,
                preceding_len: std::mem::take(&mut self.keepalive),
            };
            let Some(bytes) = &mut self.transaction else {
                return Ok(Some(Next::AtFront(front)));
            };
            *bytes += len;
            if *bytes > self.max_transaction_len {
                return Err(ProtocolError::TransactionTooLarge {
                    limit: self.max_transaction_len,
                });
            }
            self.held
                .push_back(front.copy_off(input, &mut self.held_bytes));
            if kind == CommandKind::Exec {
                self.transaction = None;
            }
        }
    }

    /// Takes back the argument list of a command lent out and no longer used.
    #[inline]
    pub(super) fn recycle(&mut self, args: ArgSpans) {
        self.decoder.recycle(args);
    }

    #[inline]
    fn advance_read(&mut self, len: usize) -> Result<(), ProtocolError> {
        self.read = self.read.advanced(len as u64);
        if self.read.get() > i64::MAX as u64 {
            return Err(ProtocolError::OffsetOverflow);
        }
        Ok(())
    }
}

/// Room made for the bytes of a transaction when it opens.
const HELD_BYTES_BLOCK: usize = 4096;

/// What [`Stream::next`] found.
pub(super) enum Next {
    /// A command occupying the front of the input.
    AtFront(Front),
    /// A command of a transaction, held until its `EXEC` came.
    Held(Command),
}

/// A decoded command still at the front of the input: everything but its bytes.
pub(super) struct Front {
    pub(super) len: usize,
    pub(super) args: ArgSpans,
    pub(super) offset: Offset,
    pub(super) db: u32,
    pub(super) kind: CommandKind,
    pub(super) preceding_len: u64,
}

impl Front {
    /// Takes the command's bytes off the input as an owned, shared buffer.
    #[inline(always)]
    pub(super) fn split_off(self, input: &mut BytesMut) -> Command {
        let bytes = input.split_to(self.len).freeze();
        self.with_bytes(bytes)
    }

    /// Moves the command's bytes off the input into `held_bytes`, as an owned buffer of its
    /// own there.
    fn copy_off(self, input: &mut BytesMut, held_bytes: &mut BytesMut) -> Command {
        held_bytes.extend_from_slice(&input[..self.len]);
        input.advance(self.len);
        self.with_bytes(held_bytes.split().freeze())
    }

    /// The command, its bytes being `bytes`.
    #[inline(always)]
    fn with_bytes(self, bytes: Bytes) -> Command {
        Command {
            frame: CommandFrame::decoded(bytes, self.args),
            offset: self.offset,
            db: self.db,
            kind: self.kind,
            preceding_len: self.preceding_len,
        }
    }
}

/// Recognizes the commands that matter to the link itself.
#[inline]
fn classify(frame: FrameRef<'_>) -> Result<CommandKind, ProtocolError> {
    let name = frame.name();
    // Length and first letter first: almost every command is a write, told apart in two
    // comparisons without looking at the rest of its name.
    let first = name.first().map_or(0, u8::to_ascii_lowercase);
    Ok(match (name.len(), first) {
        (4, b'p') if name.eq_ignore_ascii_case(b"ping") => CommandKind::Ping,
        (4, b'e') if name.eq_ignore_ascii_case(b"exec") => CommandKind::Exec,
        (5, b'm') if name.eq_ignore_ascii_case(b"multi") => CommandKind::Multi,
        (6, b's') if name.eq_ignore_ascii_case(b"select") => {
            let db = frame
                .arg(1)
                .filter(|_| frame.argc() == 2)
                .and_then(|d| std::str::from_utf8(d).ok())
                .and_then(|d| d.parse::<u32>().ok())
                .filter(|_| {
                    frame
                        .arg(1)
                        .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
                })
                .ok_or(ProtocolError::BadSelect)?;
            CommandKind::Select(db)
        }
        (8, b'r')
            if name.eq_ignore_ascii_case(b"replconf")
                && frame
                    .arg(1)
                    .is_some_and(|a| a.eq_ignore_ascii_case(b"getack")) =>
        {
            CommandKind::GetAck
        }
        _ => CommandKind::Other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::encode_command;

    fn stream() -> Stream {
        Stream::new(Link::Legacy, Offset(0), 0, Limits::DEFAULT)
    }

    /// Takes every command ready, as an application draining events would.
    fn drain(stream: &mut Stream, input: &mut BytesMut) -> Vec<Command> {
        let mut commands = Vec::new();
        while let Some(command) = stream.next_command(input).expect("a valid stream") {
            commands.push(command);
        }
        commands
    }

    fn transaction(value_len: usize) -> BytesMut {
        let mut wire = BytesMut::new();
        encode_command(&mut wire, &["MULTI"]);
        encode_command(&mut wire, &[&b"SET"[..], b"k", &vec![b'v'; value_len]]);
        encode_command(&mut wire, &["EXEC"]);
        wire
    }

    #[test]
    fn a_small_transaction_reuses_the_held_buffer() {
        let mut stream = stream();
        let mut input = transaction(100);
        let first = drain(&mut stream, &mut input);
        assert_eq!(first.len(), 3);
        let held_at = first[0].frame.raw().as_ptr();
        drop(first);
        let mut input = transaction(100);
        let second = drain(&mut stream, &mut input);
        assert_eq!(second.len(), 3);
        assert_eq!(second[0].frame.raw().as_ptr(), held_at);
        assert!(second[1].frame.is("SET"));
    }

    #[test]
    fn a_large_transaction_leaves_no_large_buffer_behind() {
        let mut stream = stream();
        let mut input = transaction(16 * HELD_BYTES_BLOCK);
        let commands = drain(&mut stream, &mut input);
        assert_eq!(commands.len(), 3);
        let value = commands[1].frame.arg(2).map(<[u8]>::len);
        assert_eq!(value, Some(16 * HELD_BYTES_BLOCK));
        drop(commands);
        // What stays for the next transaction is the room it opens with, not the large value's.
        let mut input = transaction(10);
        assert_eq!(drain(&mut stream, &mut input).len(), 3);
        let kept = stream.held_bytes.capacity() + stream.held_bytes.len();
        assert!(kept < 4 * HELD_BYTES_BLOCK, "{kept} bytes kept");
    }
}
