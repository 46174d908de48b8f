//! The master's answer to `PSYNC <replid> <offset>`, as a pure function.

use crate::resp::parse_decimal;
use crate::ReplId;

use super::{BacklogWindow, ReplicationIds};

/// The exact error for an offset (or any other number a peer sends) that is not a strict
/// 64-bit decimal.
pub const INVALID_OFFSET: &[u8] = b"-ERR value is not an integer or out of range\r\n";

/// Why a `PSYNC` cannot be served from the backlog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FullResyncReason {
    /// The replica asked for one (`PSYNC ? -1`); not counted as a failed partial resync.
    Requested,
    /// The id matches neither `replid` nor, within its range, `replid2`.
    UnknownHistory,
    /// This node has no backlog.
    NoBacklog,
    /// The offset is outside the backlog window.
    OutOfWindow,
}

impl FullResyncReason {
    /// Whether Redis counts this in `sync_partial_err` (every reason but an explicit `?`).
    pub fn counts_as_partial_error(self) -> bool {
        self != FullResyncReason::Requested
    }
}

/// What to answer a `PSYNC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PsyncDecision {
    /// `+CONTINUE`: stream the backlog from byte `from`, then the live stream.
    Continue {
        /// The first byte to send.
        from: u64,
        /// The id to put on the `+CONTINUE` line (the current `replid`, even when the request
        /// matched `replid2`); `None` for replicas without `capa psync2`, which get a bare
        /// `+CONTINUE`.
        announce: Option<ReplId>,
    },
    /// Start a full resynchronization.
    FullResync(FullResyncReason),
    /// Reply with this exact error line and do nothing else.
    Reject(&'static [u8]),
}

/// Decides a `PSYNC` request exactly as Redis does (`masterTryPartialResynchronization`):
///
/// 1. the offset must be a strict signed 64-bit decimal, else [`INVALID_OFFSET`];
/// 2. the id must equal `replid` (ignoring case), or equal `replid2` with
///    `offset <= second_replid_offset`;
/// 3. a backlog must exist and hold the offset: `first <= offset <= first + histlen`.
///
/// `backlog` is `None` when the node has none. `psync2` is whether the replica sent
/// `REPLCONF capa psync2`.
pub fn decide_psync(
    ids: &ReplicationIds,
    backlog: Option<BacklogWindow>,
    requested_replid: &[u8],
    requested_offset: &[u8],
    psync2: bool,
) -> PsyncDecision {
    let Some(offset) = parse_decimal(requested_offset) else {
        return PsyncDecision::Reject(INVALID_OFFSET);
    };
    if requested_replid.first() == Some(&b'?') {
        return PsyncDecision::FullResync(FullResyncReason::Requested);
    }
    let current = ids.replid.matches(requested_replid);
    let previous =
        ids.replid2.matches(requested_replid) && offset <= ids.second_replid_offset_signed();
    if !current && !previous {
        return PsyncDecision::FullResync(FullResyncReason::UnknownHistory);
    }
    let Some(window) = backlog else {
        return PsyncDecision::FullResync(FullResyncReason::NoBacklog);
    };
    if !window.covers(offset) {
        return PsyncDecision::FullResync(FullResyncReason::OutOfWindow);
    }
    PsyncDecision::Continue {
        from: offset as u64,
        announce: psync2.then_some(ids.replid),
    }
}
