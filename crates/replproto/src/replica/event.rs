//! What a replica reports to its application.

use bytes::Bytes;

use crate::rdb::ChecksumStatus;
use crate::resp::{CommandFrame, FrameRef};
use crate::{Offset, ReplId};

use super::CloseReason;

/// A handshake command whose reply is being reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeCommand {
    /// `PING`
    Ping,
    /// `AUTH`
    Auth,
    /// `REPLCONF listening-port`
    ListeningPort,
    /// `REPLCONF ip-address`
    IpAddress,
    /// `REPLCONF capa eof capa psync2`
    Capa,
    /// `PSYNC`
    Psync,
}

/// How the snapshot is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotFraming {
    /// `$<len>`: exactly this many bytes follow (a snapshot written to disk first).
    Length(u64),
    /// `$EOF:<mark>`: bytes follow until the 40-byte mark repeats (a diskless snapshot).
    EofMark,
}

/// What a command in the stream does to the replication link itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandKind {
    /// `PING`, the master's keepalive.
    Ping,
    /// `SELECT <db>`: the following commands run in this database.
    Select(u32),
    /// `MULTI`: a transaction opens.
    Multi,
    /// `EXEC`: the transaction closes.
    Exec,
    /// `REPLCONF GETACK`: the master asked for an ACK (already answered).
    GetAck,
    /// Anything else: a write to apply.
    Other,
}

/// A command from the replication stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The command's bytes and arguments.
    pub frame: CommandFrame,
    /// Stream offset of the command's last byte: the replica's offset once it is applied.
    pub offset: Offset,
    /// The database the command runs in.
    pub db: u32,
    /// What the command means for the link.
    pub kind: CommandKind,
    /// How many keepalive bytes (empty lines, empty arrays) came right before the command.
    /// They count in offsets, so a relaying node forwards as many; almost always 0. Only the
    /// count is kept, so a flood of keepalives costs no memory.
    pub preceding_len: u64,
}

/// A command from the replication stream, borrowed from the replica's input buffer: what
/// [`Replica::poll_command`](super::Replica::poll_command) hands out. It is a [`Command`]
/// without the reference-counted buffer handle; [`CommandRef::to_command`] copies one out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandRef<'a> {
    /// The command's bytes and arguments.
    pub frame: FrameRef<'a>,
    /// Stream offset of the command's last byte: the replica's offset once it is applied.
    pub offset: Offset,
    /// The database the command runs in.
    pub db: u32,
    /// What the command means for the link.
    pub kind: CommandKind,
    /// Keepalive bytes right before the command (see [`Command::preceding_len`]).
    pub preceding_len: u64,
}

impl CommandRef<'_> {
    /// Stream offset of the command's first byte.
    pub fn start_offset(&self) -> Offset {
        Offset(self.offset.0 + 1 - self.frame.wire_len() as u64)
    }

    /// An owned copy.
    pub fn to_command(&self) -> Command {
        Command {
            frame: self.frame.to_frame(),
            offset: self.offset,
            db: self.db,
            kind: self.kind,
            preceding_len: self.preceding_len,
        }
    }
}

impl Command {
    /// Stream offset of the command's first byte (after any
    /// [`preceding_len`](Self::preceding_len) keepalive bytes).
    pub fn start_offset(&self) -> Offset {
        self.as_ref().start_offset()
    }

    /// The same command, borrowed.
    pub fn as_ref(&self) -> CommandRef<'_> {
        CommandRef {
            frame: self.frame.as_ref(),
            offset: self.offset,
            db: self.db,
            kind: self.kind,
            preceding_len: self.preceding_len,
        }
    }
}

/// Something the application should know, in stream order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The master answered a handshake command (the reply line without its CRLF).
    HandshakeReply {
        /// The command answered.
        command: HandshakeCommand,
        /// The reply line.
        reply: Bytes,
    },
    /// `+FULLRESYNC`: a snapshot follows; everything the application held from this master is
    /// to be replaced by it.
    FullResync {
        /// The history the snapshot belongs to.
        replid: ReplId,
        /// The last stream byte the snapshot contains.
        offset: Offset,
    },
    /// The master refused `PSYNC` with an error; `SYNC` was sent instead and the link runs as a
    /// pre-PSYNC link: a snapshot, then a stream without ACKs or resume.
    LegacySync {
        /// The error that refused `PSYNC`.
        reply: Bytes,
    },
    /// The snapshot payload starts.
    SnapshotBegin {
        /// Its framing.
        framing: SnapshotFraming,
    },
    /// The next piece of the snapshot (RDB bytes, framing removed).
    SnapshotChunk(Bytes),
    /// The snapshot is complete and its checksum was checked.
    SnapshotEnd {
        /// Total RDB bytes.
        size: u64,
        /// Outcome of the CRC-64 check.
        checksum: ChecksumStatus,
        /// The database the stream starts in (`repl-stream-db`, else 0).
        db: u32,
    },
    /// `+CONTINUE`: the stream resumes right after the checkpoint.
    PartialResync {
        /// The master's current replication id.
        replid: ReplId,
        /// The previous id, when the master announced a new one (after a failover).
        previous_replid: Option<ReplId>,
        /// The last byte already held; the stream resumes at the byte after it.
        offset: Offset,
    },
    /// A command from the stream.
    Command(Command),
    /// The link is over. Reported exactly once; nothing follows it.
    Closed(CloseReason),
}
