//! Replication ids.

use std::fmt;

/// A replication id: exactly 40 hexadecimal characters naming one history of a stream.
///
/// Redis draws its ids as lower-case hex; the comparison a master makes on `PSYNC` is
/// case-insensitive ([`ReplId::matches`]), while a replica compares the id in `+CONTINUE`
/// byte for byte ([`PartialEq`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReplId([u8; ReplId::LEN]);

/// Why a byte string is not a replication id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplIdError {
    /// The id is not 40 bytes long.
    WrongLength(usize),
    /// Byte `index` is not a hexadecimal digit.
    NotHex {
        /// Position of the first offending byte.
        index: usize,
    },
}

impl fmt::Display for ReplIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplIdError::WrongLength(len) => {
                write!(f, "replication id has {len} bytes, expected 40")
            }
            ReplIdError::NotHex { index } => {
                write!(f, "replication id byte {index} is not a hex digit")
            }
        }
    }
}

impl std::error::Error for ReplIdError {}

impl ReplId {
    /// Length of every replication id, in bytes.
    pub const LEN: usize = 40;

    /// The "cleared" id Redis uses for an empty `replid2`: forty `'0'` characters.
    pub const CLEARED: ReplId = ReplId([b'0'; ReplId::LEN]);

    /// Parses an id, accepting only 40 bytes of `0-9a-fA-F`.
    pub fn parse(bytes: &[u8]) -> Result<ReplId, ReplIdError> {
        let array: [u8; ReplId::LEN] = bytes
            .try_into()
            .map_err(|_| ReplIdError::WrongLength(bytes.len()))?;
        if let Some(index) = array.iter().position(|b| !b.is_ascii_hexdigit()) {
            return Err(ReplIdError::NotHex { index });
        }
        Ok(ReplId(array))
    }

    /// Builds an id from 40 caller-supplied random bytes, mapping each byte's low nibble to a
    /// lower-case hex digit, as Redis does. The core never draws randomness itself.
    pub fn from_random(random: [u8; ReplId::LEN]) -> ReplId {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        ReplId(random.map(|b| HEX[usize::from(b & 0x0f)]))
    }

    /// The 40 ASCII bytes of the id.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The id as text (always ASCII).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    /// Case-insensitive comparison, the rule a master applies to a `PSYNC` request.
    pub fn matches(&self, requested: &[u8]) -> bool {
        self.0.eq_ignore_ascii_case(requested)
    }
}

impl fmt::Debug for ReplId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReplId({})", self.as_str())
    }
}

impl fmt::Display for ReplId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ReplId {
    type Err = ReplIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ReplId::parse(s.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_forty_hex_bytes() {
        let id = ReplId::parse(b"e8120531390c7d051bcb7f000ce2b93dfe8b7184").unwrap();
        assert_eq!(id.as_str(), "e8120531390c7d051bcb7f000ce2b93dfe8b7184");
        assert_eq!(ReplId::parse(b"abc"), Err(ReplIdError::WrongLength(3)));
        assert_eq!(
            ReplId::parse(b"e8120531390c7d051bcb7f000ce2b93dfe8b718g"),
            Err(ReplIdError::NotHex { index: 39 })
        );
    }

    #[test]
    fn psync_match_ignores_case() {
        let id = ReplId::parse(b"e8120531390c7d051bcb7f000ce2b93dfe8b7184").unwrap();
        assert!(id.matches(b"E8120531390C7D051BCB7F000CE2B93DFE8B7184"));
        assert!(!id.matches(b"?"));
    }

    #[test]
    fn random_bytes_map_to_low_nibbles() {
        let mut random = [0u8; 40];
        random[0] = 0xfa;
        random[1] = 0x13;
        let id = ReplId::from_random(random);
        assert_eq!(&id.as_bytes()[..3], b"a30");
    }
}
