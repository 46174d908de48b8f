//! RESP, the Redis serialization protocol: a streaming decoder built on nom, and an encoder.
//!
//! Three decoders cover what crosses a replication link:
//! - [`parse_line`]: one LF-terminated line, for handshake replies (`+PONG`, `+FULLRESYNC …`);
//! - [`CommandDecoder`]: commands (arrays of bulk strings) as a master propagates them, resumable
//!   across reads so a large command is never re-parsed from its start;
//! - [`decode_frame`]: any RESP2 value, for replies to ordinary commands.
//!
//! Incomplete input always means "wait for more", never an error. Every length a peer declares is
//! checked against [`Limits`](crate::Limits) before any byte is buffered for it, and decoded
//! values leave as [`Bytes`](bytes::Bytes) slices of the input buffer, without copying.

mod command;
mod encode;
mod error;
mod frame;
mod line;
mod number;

pub use command::{
    ArgSpan, ArgSpans, CommandDecoder, CommandFrame, Decoded, FrameRef, INLINE_ARGS,
};
pub use encode::{
    encode_array_header, encode_bulk, encode_bulk_unsigned, encode_command, encode_error,
    encode_frame, encode_integer, encode_simple, write_decimal, write_unsigned,
};
pub use error::RespError;
pub use frame::{decode_frame, Frame};
pub use line::{parse_line, Line};
pub use number::parse_i64 as parse_decimal;
