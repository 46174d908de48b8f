//! What the application has been handed: the source of the checkpoint and of every ACK.
//!
//! The machine decodes ahead of the application (a whole read at a time), so "where the link
//! stands" is defined by delivery, not by decoding: each event's effect on the resume point is
//! applied when [`Replica::poll_event`](super::Replica::poll_event) hands it out. A checkpoint
//! read at any moment therefore never covers an event the application has not received, and
//! an ACK never claims one.

use crate::{Checkpoint, Offset, ReplId};

use super::{AckMode, CommandKind, Event, SnapshotFraming};

/// The delivery ledger of one link.
#[derive(Debug)]
pub(super) struct Delivery {
    /// The history followed, while a next link could resume it.
    replid: Option<ReplId>,
    /// Last byte of the last whole unit handed out (a command outside a transaction, or an
    /// `EXEC`), and the database selected there.
    position: Option<(Offset, u32)>,
    /// Announced by `+FULLRESYNC`, adopted once the snapshot is handed out whole.
    pending_full: Option<(ReplId, Offset)>,
    /// The snapshot being handed out is diskless (the master waits for an ACK after it).
    eof_framed: bool,
    /// `SYNC` replaced a refused `PSYNC`: its snapshot, once it starts, ends the history.
    legacy: bool,
    /// A `MULTI` was handed out, its `EXEC` not yet.
    in_transaction: bool,
    /// What the application confirmed, in [`AckMode::Manual`].
    confirmed: Offset,
    ack_mode: AckMode,
}

impl Delivery {
    pub(super) fn new(resume: Option<Checkpoint>, ack_mode: AckMode) -> Self {
        Delivery {
            replid: resume.map(|c| c.replid),
            position: resume.map(|c| (c.offset, c.db)),
            pending_full: None,
            eof_framed: false,
            legacy: false,
            in_transaction: false,
            confirmed: resume.map_or(Offset::ZERO, |c| c.offset),
            ack_mode,
        }
    }

    /// Where a next link can resume.
    pub(super) fn checkpoint(&self) -> Option<Checkpoint> {
        let (offset, db) = self.position?;
        Some(Checkpoint {
            replid: self.replid?,
            offset,
            db,
        })
    }

    /// The last stream byte handed out.
    pub(super) fn offset(&self) -> Option<Offset> {
        self.position.map(|(offset, _)| offset)
    }

    /// The offset to acknowledge, on a link that acknowledges.
    pub(super) fn ack_offset(&self) -> Option<Offset> {
        let delivered = self.offset()?;
        Some(match self.ack_mode {
            AckMode::OnDelivery => delivered,
            AckMode::Manual => self.confirmed.min(delivered),
        })
    }

    /// Records the application's confirmation, capped to what it was handed.
    pub(super) fn confirm(&mut self, offset: Offset) {
        if let Some(delivered) = self.offset() {
            self.confirmed = self.confirmed.max(offset.min(delivered));
        }
    }

    /// Applies the effect of handing out `event`. Returns the offset to acknowledge at once,
    /// if the event calls for an ACK (a `GETACK`, the end of a diskless snapshot).
    pub(super) fn deliver(&mut self, event: &Event) -> Option<Offset> {
        match event {
            Event::FullResync { replid, offset } => {
                self.replid = None;
                self.position = None;
                self.pending_full = Some((*replid, *offset));
                None
            }
            Event::LegacySync { .. } => {
                // The fallback may still be refused before any snapshot (a missing password):
                // the history stands until a legacy snapshot actually starts.
                self.legacy = true;
                self.pending_full = None;
                None
            }
            Event::SnapshotBegin { framing } => {
                self.eof_framed = *framing == SnapshotFraming::EofMark;
                if self.legacy {
                    self.replid = None;
                    self.position = None;
                }
                None
            }
            Event::SnapshotEnd { db, .. } => {
                let (replid, offset) = match self.pending_full.take() {
                    Some((replid, offset)) => (Some(replid), offset),
                    // A legacy SYNC stream has no id; its offsets count from 0.
                    None => (None, Offset::ZERO),
                };
                self.replid = replid;
                self.position = Some((offset, *db));
                self.confirmed = offset;
                // A master holds the stream after a diskless payload until the first ACK.
                (self.eof_framed && replid.is_some()).then_some(offset)
            }
            Event::PartialResync { replid, .. } => {
                self.replid = Some(*replid);
                None
            }
            Event::Command(command) => {
                self.deliver_command(command.kind, command.offset, command.db)
            }
            Event::Closed(reason) => {
                if reason.is_protocol_error() {
                    // As Redis drops its cached master after a protocol error.
                    self.replid = None;
                }
                None
            }
            Event::HandshakeReply { .. } | Event::SnapshotChunk(_) => None,
        }
    }

    /// Applies the effect of handing out a stream command (the last byte at `offset`, run
    /// in `db`). Returns the offset to acknowledge at once for a `GETACK`.
    #[inline]
    pub(super) fn deliver_command(
        &mut self,
        kind: CommandKind,
        offset: Offset,
        db: u32,
    ) -> Option<Offset> {
        // Answered with the offset before the GETACK's own bytes, as Redis does.
        let answer = (kind == CommandKind::GetAck && self.replid.is_some())
            .then(|| self.ack_offset())
            .flatten();
        let ends_unit = match kind {
            CommandKind::Multi if !self.in_transaction => {
                self.in_transaction = true;
                false
            }
            CommandKind::Exec if self.in_transaction => {
                self.in_transaction = false;
                true
            }
            _ => !self.in_transaction,
        };
        if ends_unit {
            self.position = Some((offset, db));
        }
        answer
    }
}
