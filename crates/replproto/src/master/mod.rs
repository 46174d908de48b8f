//! The master side: replication ids, the backlog and the `PSYNC` decision.

mod backlog;
mod decision;
mod ids;

pub use backlog::{Backlog, BacklogWindow, DEFAULT_BACKLOG_SIZE, MIN_BACKLOG_SIZE};
pub use decision::{decide_psync, FullResyncReason, PsyncDecision, INVALID_OFFSET};
pub use ids::ReplicationIds;
