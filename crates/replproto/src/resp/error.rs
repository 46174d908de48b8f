use std::fmt;

/// What was wrong with RESP bytes from a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RespError {
    /// A line ran past the configured limit without its LF.
    LineTooLong {
        /// The configured limit.
        limit: usize,
    },
    /// A `*` or `$` header was not a well-formed decimal (leading zero, sign, overflow, junk).
    InvalidLength,
    /// A header ran on without its CRLF.
    HeaderTooLong,
    /// An array element of a command was not a bulk string (it began with this byte).
    ExpectedBulk(u8),
    /// A command carried a null bulk string (`$-1`).
    NullBulkInCommand,
    /// A bulk string was declared larger than the limit.
    BulkTooLarge {
        /// Declared length.
        len: u64,
        /// The configured limit.
        limit: usize,
    },
    /// A command declared more arguments than the limit.
    TooManyArgs {
        /// Declared count.
        count: u64,
        /// The configured limit.
        limit: usize,
    },
    /// A whole frame would exceed the limit on buffered input.
    FrameTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// The two bytes after a bulk string's data were not CRLF.
    MissingCrlf,
    /// A value began with a byte that starts no RESP type.
    UnknownType(u8),
    /// Arrays nested deeper than the limit.
    TooDeep {
        /// The configured limit.
        limit: usize,
    },
    /// A RESP integer (`:`) was not a valid signed 64-bit decimal.
    InvalidInteger,
    /// A simple string or error line not ended by CRLF, or holding a CR.
    InvalidLine,
}

impl fmt::Display for RespError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RespError::LineTooLong { limit } => write!(f, "line longer than {limit} bytes"),
            RespError::InvalidLength => f.write_str("malformed length in a RESP header"),
            RespError::HeaderTooLong => f.write_str("RESP header without CRLF"),
            RespError::ExpectedBulk(b) => {
                write!(
                    f,
                    "command element starts with {:?}, expected '$'",
                    char::from(*b)
                )
            }
            RespError::NullBulkInCommand => f.write_str("null bulk string inside a command"),
            RespError::BulkTooLarge { len, limit } => {
                write!(f, "bulk string of {len} bytes exceeds the limit of {limit}")
            }
            RespError::TooManyArgs { count, limit } => {
                write!(
                    f,
                    "command with {count} arguments exceeds the limit of {limit}"
                )
            }
            RespError::FrameTooLarge { limit } => {
                write!(f, "frame exceeds the limit of {limit} buffered bytes")
            }
            RespError::MissingCrlf => f.write_str("bulk string not followed by CRLF"),
            RespError::UnknownType(b) => {
                write!(f, "unknown RESP type byte {:?}", char::from(*b))
            }
            RespError::TooDeep { limit } => write!(f, "arrays nested deeper than {limit}"),
            RespError::InvalidInteger => f.write_str("malformed RESP integer"),
            RespError::InvalidLine => {
                f.write_str("simple string or error line not ended by CRLF, or holding a CR")
            }
        }
    }
}

impl std::error::Error for RespError {}
