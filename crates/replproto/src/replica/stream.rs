//! The command stream after a sync: exact offsets, the selected database, transactions.

use std::collections::VecDeque;

use bytes::{Buf, BytesMut};

use crate::resp::{CommandDecoder, CommandFrame, Decoded};
use crate::{Limits, Offset, ReplId};

use super::{Command, CommandKind, Event, Phase, ProtocolError};

/// What kind of link the stream runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Link {
    /// After `PSYNC`: ACKs are sent and the link can be resumed.
    Psync(ReplId),
    /// After the `SYNC` fallback: no ACKs, no resume.
    Legacy,
}

/// An open `MULTI`: its commands are held back until `EXEC`, so a link lost mid-transaction
/// never delivers half of one (the resume point is the byte before `MULTI`).
#[derive(Debug, Default)]
struct Transaction {
    /// Bytes of the transaction so far.
    bytes: usize,
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
    transaction: Option<Transaction>,
    /// The commands of the open transaction; kept between transactions to reuse its memory.
    held: Vec<Command>,
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
            held: Vec::new(),
            keepalive: 0,
            max_transaction_len: limits.max_transaction_len,
        }
    }

    /// Decodes every whole command in `input` into events; a transaction's commands are
    /// queued only once its `EXEC` arrived.
    pub(super) fn decode(
        &mut self,
        input: &mut BytesMut,
        events: &mut VecDeque<Event>,
    ) -> Result<(), ProtocolError> {
        loop {
            let decoded = self
                .decoder
                .decode(input)
                .map_err(|error| ProtocolError::Resp {
                    phase: Phase::Streaming,
                    error,
                })?;
            let (len, args) = match decoded {
                Decoded::Incomplete => return Ok(()),
                Decoded::Keepalive { len } => {
                    input.advance(len);
                    self.keepalive += len as u64;
                    self.advance_read(len)?;
                    continue;
                }
                Decoded::Inline { .. } => return Err(ProtocolError::InlineCommand),
                Decoded::Command { len, args } => (len, args),
            };
            let frame = CommandFrame::new(input.split_to(len).freeze(), args);
            self.advance_read(len)?;
            let kind = classify(&frame)?;
            match kind {
                CommandKind::Select(db) => self.db = db,
                CommandKind::Multi if self.transaction.is_none() => {
                    self.transaction = Some(Transaction::default());
                }
                _ => {}
            }
            let command = Command {
                frame,
                offset: self.read,
                db: self.db,
                kind,
                preceding_len: std::mem::take(&mut self.keepalive),
            };
            match &mut self.transaction {
                Some(tx) => {
                    tx.bytes += len;
                    if tx.bytes > self.max_transaction_len {
                        return Err(ProtocolError::TransactionTooLarge {
                            limit: self.max_transaction_len,
                        });
                    }
                    self.held.push(command);
                    if kind == CommandKind::Exec {
                        self.transaction = None;
                        events.extend(self.held.drain(..).map(Event::Command));
                    }
                }
                None => events.push_back(Event::Command(command)),
            }
        }
    }

    fn advance_read(&mut self, len: usize) -> Result<(), ProtocolError> {
        self.read = self.read.advanced(len as u64);
        if self.read.get() > i64::MAX as u64 {
            return Err(ProtocolError::OffsetOverflow);
        }
        Ok(())
    }
}

/// Recognizes the commands that matter to the link itself.
fn classify(frame: &CommandFrame) -> Result<CommandKind, ProtocolError> {
    let name = frame.name();
    Ok(match name.len() {
        4 if name.eq_ignore_ascii_case(b"ping") => CommandKind::Ping,
        4 if name.eq_ignore_ascii_case(b"exec") => CommandKind::Exec,
        5 if name.eq_ignore_ascii_case(b"multi") => CommandKind::Multi,
        6 if name.eq_ignore_ascii_case(b"select") => {
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
        8 if name.eq_ignore_ascii_case(b"replconf")
            && frame
                .arg(1)
                .is_some_and(|a| a.eq_ignore_ascii_case(b"getack")) =>
        {
            CommandKind::GetAck
        }
        _ => CommandKind::Other,
    })
}
