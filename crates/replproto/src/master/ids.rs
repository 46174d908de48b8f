//! The replication id history of a node: `replid`, `replid2` and `second_replid_offset`.

use crate::{Offset, ReplId};

/// The histories a node can serve.
///
/// `replid` names the current history. After a promotion (`REPLICAOF NO ONE`, a failover) the
/// old id moves to `replid2`, and replicas of the old history can still resume from it up to
/// `second_replid_offset`: one past the last byte the old history had here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicationIds {
    /// The current history.
    pub replid: ReplId,
    /// The previous history still served, or [`ReplId::CLEARED`].
    pub replid2: ReplId,
    /// The highest offset a `PSYNC` may ask for under `replid2`; `None` when cleared
    /// (Redis shows -1).
    pub second_replid_offset: Option<Offset>,
}

impl ReplicationIds {
    /// A fresh history with no previous one.
    pub fn new(replid: ReplId) -> Self {
        ReplicationIds {
            replid,
            replid2: ReplId::CLEARED,
            second_replid_offset: None,
        }
    }

    /// Promotion: the current history becomes the previous one, servable up to
    /// `master_repl_offset + 1`, and `new_replid` starts a new history.
    pub fn shift(&mut self, new_replid: ReplId, master_repl_offset: Offset) {
        self.replid2 = self.replid;
        self.second_replid_offset = Some(master_repl_offset.advanced(1));
        self.replid = new_replid;
    }

    /// Forgets the previous history.
    pub fn clear_replid2(&mut self) {
        self.replid2 = ReplId::CLEARED;
        self.second_replid_offset = None;
    }

    /// `second_repl_offset` as `INFO` prints it (-1 when cleared).
    pub fn second_replid_offset_signed(&self) -> i64 {
        self.second_replid_offset.map_or(-1, |o| o.get() as i64)
    }
}
