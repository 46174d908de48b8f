//! What a session reports to the master that owns it.

use std::fmt;

use bytes::Bytes;

use crate::resp::{CommandFrame, RespError};

/// A synchronization request from a replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncRequest {
    /// `PSYNC <replid> <offset>`, arguments as sent.
    Psync {
        /// The requested history (`?` for none).
        replid: Bytes,
        /// The requested first byte, not yet parsed.
        offset: Bytes,
    },
    /// Legacy `SYNC`: always a full sync, no `+FULLRESYNC` line, no ACKs.
    Sync,
}

/// Something the session needs its owner to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// `AUTH`: answer with [`Session::auth_result`](super::Session::auth_result).
    Auth {
        /// The ACL user, when given.
        username: Option<Bytes>,
        /// The password.
        password: Bytes,
    },
    /// A command that is not part of the replication protocol, from an ordinary client:
    /// answer with [`Session::reply`](super::Session::reply).
    Command(CommandFrame),
    /// `PSYNC`/`SYNC`: answer with one of the sync methods of [`Session`](super::Session).
    SyncRequested(SyncRequest),
    /// The replica acknowledged an offset.
    Ack {
        /// The offset acknowledged.
        offset: u64,
    },
    /// The connection is over. Reported exactly once.
    Closed(SessionCloseReason),
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionCloseReason {
    /// The connection was closed by the peer or the network.
    Disconnected,
    /// An online replica sent no ACK for `repl_timeout`.
    TimedOut,
    /// Unsent output exceeded the limit (`client-output-buffer-limit replica`).
    OutputLimit {
        /// The configured limit.
        limit: usize,
    },
    /// Unprocessed input exceeded the limit.
    InputLimit {
        /// The configured limit.
        limit: usize,
    },
    /// The peer sent bytes that are not RESP.
    Protocol(RespError),
    /// A replica sent a command a replica must not send on its link.
    ReplicaCommand(Bytes),
    /// An `rdb-only` peer received its snapshot (drain the output, then close).
    SnapshotDelivered,
    /// The application closed it.
    Local,
}

impl fmt::Display for SessionCloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionCloseReason::Disconnected => f.write_str("connection closed"),
            SessionCloseReason::TimedOut => f.write_str("replica sent no ACK within repl-timeout"),
            SessionCloseReason::OutputLimit { limit } => {
                write!(f, "output buffer over its limit of {limit} bytes")
            }
            SessionCloseReason::InputLimit { limit } => {
                write!(f, "input buffer over its limit of {limit} bytes")
            }
            SessionCloseReason::Protocol(e) => write!(f, "protocol error: {e}"),
            SessionCloseReason::ReplicaCommand(name) => write!(
                f,
                "replica sent {:?}, which a replica link does not allow",
                String::from_utf8_lossy(name)
            ),
            SessionCloseReason::SnapshotDelivered => {
                f.write_str("snapshot delivered to an rdb-only peer")
            }
            SessionCloseReason::Local => f.write_str("closed by the application"),
        }
    }
}

impl std::error::Error for SessionCloseReason {}
