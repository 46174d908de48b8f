//! The master side: replication ids, the backlog and the `PSYNC` decision.

mod backlog;
mod decision;
mod ids;
mod node;

pub use backlog::{Backlog, BacklogWindow, DEFAULT_BACKLOG_SIZE, MIN_BACKLOG_SIZE};
pub use decision::{decide_psync, FullResyncReason, PsyncDecision, INVALID_OFFSET};
pub use ids::ReplicationIds;
pub use node::{
    Master, MasterConfig, MasterEvent, ReplicaStatus, Role, SessionId, SyncStats, NOMASTERLINK,
    NOREPLICAS,
};
pub mod session;
