//! The resume point of a replica.

use crate::{Offset, ReplId};

/// Where a replica can resume: the history it follows, the last stream byte it applied, and the
/// database selected in the stream at that byte.
///
/// The database matters because a master answering `+CONTINUE` does not repeat `SELECT`: the
/// stream goes on in whatever database was selected before the link broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Checkpoint {
    /// The replication id of the history.
    pub replid: ReplId,
    /// The last applied byte; `PSYNC` asks for the byte after it.
    pub offset: Offset,
    /// The database selected in the stream at `offset`.
    pub db: u32,
}
