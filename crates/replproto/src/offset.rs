//! Replication offsets.

use std::fmt;

/// A replication offset: a count of replication-stream bytes.
///
/// Redis numbers stream bytes from 1; an offset names the **last** byte a node holds or has
/// applied, so the byte after it is `offset + 1`. `PSYNC` asks for `offset + 1`, "the first byte
/// I do not have". Redis uses `-1` for "no offset"; that sentinel never appears in this API
/// (it is an `Option<Offset>` instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Offset(pub u64);

impl Offset {
    /// Offset zero: nothing received yet in a fresh history.
    pub const ZERO: Offset = Offset(0);

    /// The offset as a plain number.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// This offset moved forward by `bytes`.
    #[must_use]
    pub const fn advanced(self, bytes: u64) -> Offset {
        Offset(self.0.saturating_add(bytes))
    }

    /// The first byte after this offset: what `PSYNC` asks for.
    pub const fn next_byte(self) -> u64 {
        self.0.saturating_add(1)
    }
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<u64> for Offset {
    fn from(value: u64) -> Self {
        Offset(value)
    }
}
