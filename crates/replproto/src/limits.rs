//! Caps on what a peer can make us buffer.

/// Limits on peer-controlled sizes. Every length a peer declares is checked against these before
/// a single byte is buffered for it; exceeding one ends the link with a typed error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Longest status or error line accepted during the handshake, CRLF included.
    pub max_line_len: usize,
    /// Largest single bulk argument of a command (`proto-max-bulk-len` in Redis; the master link
    /// is exempt there, so the default is generous).
    pub max_bulk_len: usize,
    /// Most arguments in one command.
    pub max_args: usize,
    /// Largest whole command frame, headers included: the cap on buffered, incomplete input.
    pub max_frame_len: usize,
    /// Largest open `MULTI` … `EXEC` transaction held back until its `EXEC` arrives.
    pub max_transaction_len: usize,
    /// Deepest nesting of arrays in a generic RESP reply.
    pub max_depth: usize,
}

impl Limits {
    /// Defaults: lines of 64 KiB, bulks of 512 MiB, frames and transactions of 1 GiB.
    pub const DEFAULT: Limits = Limits {
        max_line_len: 64 * 1024,
        max_bulk_len: 512 * 1024 * 1024,
        max_args: 1 << 24,
        max_frame_len: 1024 * 1024 * 1024,
        max_transaction_len: 1024 * 1024 * 1024,
        max_depth: 32,
    };

    /// Sets [`Limits::max_line_len`].
    #[must_use]
    pub const fn with_max_line_len(mut self, value: usize) -> Self {
        self.max_line_len = value;
        self
    }

    /// Sets [`Limits::max_bulk_len`].
    #[must_use]
    pub const fn with_max_bulk_len(mut self, value: usize) -> Self {
        self.max_bulk_len = value;
        self
    }

    /// Sets [`Limits::max_args`].
    #[must_use]
    pub const fn with_max_args(mut self, value: usize) -> Self {
        self.max_args = value;
        self
    }

    /// Sets [`Limits::max_frame_len`] (at most `u32::MAX`, the span a frame index can address).
    #[must_use]
    pub const fn with_max_frame_len(mut self, value: usize) -> Self {
        self.max_frame_len = value;
        self
    }

    /// Sets [`Limits::max_transaction_len`].
    #[must_use]
    pub const fn with_max_transaction_len(mut self, value: usize) -> Self {
        self.max_transaction_len = value;
        self
    }

    /// Sets [`Limits::max_depth`].
    #[must_use]
    pub const fn with_max_depth(mut self, value: usize) -> Self {
        self.max_depth = value;
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}
