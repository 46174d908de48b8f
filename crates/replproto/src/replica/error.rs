//! Why a replica link ends.

use std::fmt;

use bytes::Bytes;

use crate::rdb::RdbError;
use crate::resp::RespError;
use crate::ReplIdError;

use super::{HandshakeCommand, Phase};

/// An error reply from the master (`-<KIND> <message>`), kept as sent.
#[derive(Clone, PartialEq, Eq)]
pub struct ErrorReply(pub Bytes);

impl ErrorReply {
    /// The reply without its leading `-`.
    pub fn text(&self) -> &[u8] {
        self.0.strip_prefix(b"-").unwrap_or(&self.0)
    }

    /// The first word, e.g. `NOAUTH`, `WRONGPASS`, `ERR`, `LOADING`.
    pub fn kind(&self) -> &[u8] {
        let text = self.text();
        let end = text.iter().position(|&b| b == b' ').unwrap_or(text.len());
        &text[..end]
    }
}

impl fmt::Debug for ErrorReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ErrorReply({:?})", String::from_utf8_lossy(&self.0))
    }
}

impl fmt::Display for ErrorReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.text()))
    }
}

/// The master broke the protocol. The resume checkpoint is dropped: the next link starts with a
/// full resynchronization.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// Bad RESP framing (a length, a header, a limit).
    Resp {
        /// Where it happened.
        phase: Phase,
        /// What was wrong.
        error: RespError,
    },
    /// A reply that makes no sense at this point of the handshake.
    UnexpectedReply {
        /// The command it answered.
        command: HandshakeCommand,
        /// The line received.
        line: Bytes,
    },
    /// `+FULLRESYNC` without exactly a valid replication id and a decimal offset.
    MalformedFullResync {
        /// The line received.
        line: Bytes,
    },
    /// `+CONTINUE` with something other than a valid replication id after it.
    MalformedContinue {
        /// The line received.
        line: Bytes,
    },
    /// A replication id that is not 40 hex characters.
    InvalidReplId(ReplIdError),
    /// `+CONTINUE` although `PSYNC ? -1` asked for a full resynchronization.
    UnrequestedContinue,
    /// The snapshot header was neither `$<len>` nor `$EOF:<40 bytes>`.
    MalformedSnapshotHeader {
        /// The line received.
        line: Bytes,
    },
    /// The snapshot is not a valid RDB (bad magic, truncated, wrong checksum).
    Snapshot(RdbError),
    /// A non-empty inline line in the stream: masters only send RESP arrays.
    InlineCommand,
    /// `SELECT` without a valid database number.
    BadSelect,
    /// The stream offset would pass the largest offset Redis can represent (`i64::MAX`).
    OffsetOverflow,
    /// An open `MULTI` grew past the transaction limit.
    TransactionTooLarge {
        /// The configured limit.
        limit: usize,
    },
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lossy = |b: &Bytes| String::from_utf8_lossy(b).into_owned();
        match self {
            ProtocolError::Resp { phase, error } => write!(f, "bad RESP during {phase}: {error}"),
            ProtocolError::UnexpectedReply { command, line } => {
                write!(f, "unexpected reply to {command:?}: {:?}", lossy(line))
            }
            ProtocolError::MalformedFullResync { line } => {
                write!(f, "malformed FULLRESYNC line: {:?}", lossy(line))
            }
            ProtocolError::MalformedContinue { line } => {
                write!(f, "malformed CONTINUE line: {:?}", lossy(line))
            }
            ProtocolError::InvalidReplId(e) => write!(f, "invalid replication id: {e}"),
            ProtocolError::UnrequestedContinue => {
                f.write_str("master answered CONTINUE to a request for a full resync")
            }
            ProtocolError::MalformedSnapshotHeader { line } => {
                write!(f, "malformed snapshot header: {:?}", lossy(line))
            }
            ProtocolError::Snapshot(e) => write!(f, "bad snapshot: {e}"),
            ProtocolError::InlineCommand => {
                f.write_str("master sent an inline command in the replication stream")
            }
            ProtocolError::BadSelect => f.write_str("SELECT without a valid database number"),
            ProtocolError::OffsetOverflow => {
                f.write_str("stream offset past the largest signed 64-bit value")
            }
            ProtocolError::TransactionTooLarge { limit } => {
                write!(f, "open transaction exceeds {limit} bytes")
            }
        }
    }
}

impl std::error::Error for ProtocolError {}

/// Why a link ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The connection was closed (or reset) by the peer or the network.
    Disconnected {
        /// Where the link was.
        phase: Phase,
    },
    /// Nothing arrived for `repl_timeout`.
    TimedOut {
        /// Where the link was.
        phase: Phase,
    },
    /// The master cannot serve a sync right now (`-LOADING`, `-NOMASTERLINK`, `-BUSY`): try
    /// again later with the same checkpoint.
    MasterNotReady(ErrorReply),
    /// The master refused a step (a failed `AUTH`, a `PING` error, an error instead of the
    /// snapshot).
    Refused {
        /// The step refused.
        phase: Phase,
        /// The master's error.
        reply: ErrorReply,
    },
    /// The master broke the protocol.
    Protocol(ProtocolError),
    /// The application closed the link.
    Local,
}

impl CloseReason {
    /// Whether this ends the link because the master broke the protocol, which also drops the
    /// resume checkpoint.
    pub fn is_protocol_error(&self) -> bool {
        matches!(self, CloseReason::Protocol(_))
    }

    /// Whether connecting again with the same settings can succeed. Not after a refusal of
    /// the credentials or permissions (`NOAUTH`, `WRONGPASS`, `NOPERM`: the settings must
    /// change) or a close by the application; every other end is worth a retry (Redis
    /// replicas retry them all), a protocol error with a full resync.
    pub fn is_retryable(&self) -> bool {
        match self {
            CloseReason::Refused { reply, .. } => {
                !matches!(reply.kind(), b"NOAUTH" | b"WRONGPASS" | b"NOPERM")
            }
            CloseReason::Local => false,
            _ => true,
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::Disconnected { phase } => write!(f, "connection closed during {phase}"),
            CloseReason::TimedOut { phase } => write!(f, "master silent too long during {phase}"),
            CloseReason::MasterNotReady(reply) => {
                write!(f, "master not ready, will retry: {reply}")
            }
            CloseReason::Refused { phase, reply } => {
                write!(f, "master refused {phase}: {reply}")?;
                match reply.kind() {
                    b"NOAUTH" => f.write_str(" (the master needs a password: set one)"),
                    b"WRONGPASS" => f.write_str(" (check the user name and password)"),
                    b"NOPERM" => {
                        f.write_str(" (the ACL user needs permission for PSYNC, SYNC and REPLCONF)")
                    }
                    _ => Ok(()),
                }
            }
            CloseReason::Protocol(e) => write!(f, "protocol error: {e}"),
            CloseReason::Local => f.write_str("closed by the application"),
        }
    }
}

impl std::error::Error for CloseReason {}
