//! RDB snapshot helpers: the parts of the RDB format that matter to replication.
//!
//! During a full synchronisation the master streams an RDB snapshot to the replica. The
//! replication layer does not need to understand the data records inside it, but it does need
//! to:
//!
//! - recognise the magic string and format version (`REDIS0010`, `VALKEY080`, ...);
//! - read the *aux fields* at the start of the file, in particular `repl-id`, `repl-offset`
//!   and `repl-stream-db`, which let a restarted replica resume replication from a snapshot
//!   it saved earlier ([`read_header`]);
//! - verify the CRC-64 trailer of a payload that streams past in arbitrary chunks, without
//!   buffering it ([`RdbScanner`]).
//!
//! Layout of the part of an RDB file handled here:
//!
//! ```text
//! magic+version   9 bytes: "REDIS" + 4 ASCII digits, or "VALKEY" + 3 ASCII digits
//! aux field       0xFA <string key> <string value>        (repeated)
//! ...             other opcodes and data records (not interpreted here)
//! EOF opcode      0xFF
//! checksum        8 bytes, CRC-64 little-endian (format version >= 5 only; 0 = not computed)
//! ```
//!
//! Everything here is pure computation on byte slices: no I/O, no clock, no `unsafe`, and no
//! input can make these functions panic.

use core::fmt;

use bytes::Bytes;
use crc_fast::{CrcAlgorithm, Digest};

/// Length of the magic string plus format version at the start of every RDB file.
pub const MAGIC_LEN: usize = 9;

/// Length of the CRC-64 trailer (format version >= 5).
pub const CHECKSUM_LEN: usize = 8;

/// First format version whose files end with a CRC-64 trailer.
pub const FIRST_VERSION_WITH_CHECKSUM: u32 = 5;

/// Default cap used by [`RdbScanner::default`] on the bytes buffered to parse the header.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;

/// Opcode introducing an aux field (`<string key> <string value>`).
pub const OP_AUX: u8 = 0xFA;

/// Opcode marking the end of the RDB data (followed by the checksum trailer).
pub const OP_EOF: u8 = 0xFF;

mod writer;
pub use writer::{RdbWriter, WRITE_VERSION};

/// Smallest RDB with a trailer: magic, EOF opcode, checksum.
const MIN_LEN_WITH_CHECKSUM: u64 = (MAGIC_LEN + 1 + CHECKSUM_LEN) as u64;

/// Smallest RDB without a trailer: magic, EOF opcode.
const MIN_LEN_WITHOUT_CHECKSUM: u64 = (MAGIC_LEN + 1) as u64;

/// Largest output an LZF stream can produce per input byte: a 3-byte back-reference
/// copies at most 7 + 255 + 2 = 264 bytes.
const LZF_MAX_EXPANSION: usize = 88;

/// CRC-64 parameters (Jones polynomial, reflected, init 0, no final xor). The engine folds
/// with carry-less multiplication (PCLMULQDQ, VPCLMULQDQ, PMULL), picked once at run time for
/// the CPU, with a table fallback: the checksum is most of the cost of a snapshot transfer.
const CRC64: CrcAlgorithm = CrcAlgorithm::Crc64Redis;

/// The CRC-64/REDIS polynomial in reflected (LSB-first) form.
const CRC64_POLY_REFLECTED: u64 = 0xad93_d235_94c9_35a9_u64.reverse_bits();

/// Bytes [`RdbScanner`] keeps from the end of the payload: EOF opcode and trailer.
const RECENT_LEN: usize = CHECKSUM_LEN + 1;

/// The CRC-64 of an RDB body, from the CRC-64 of the body followed by its 8-byte trailer.
///
/// The CRC register is linear over GF(2): digesting 8 more bytes xors them (little-endian)
/// into the register and then shifts it 64 times. Each shift is undone by looking at the top
/// bit, which is set exactly when the reflected polynomial (top bit set) was xored in.
fn crc_before_trailer(crc_with_trailer: u64, trailer: u64) -> u64 {
    let mut register = crc_with_trailer;
    for _ in 0..64 {
        register = if register >> 63 == 1 {
            ((register ^ CRC64_POLY_REFLECTED) << 1) | 1
        } else {
            register << 1
        };
    }
    register ^ trailer
}

/// CRC-64 as used in RDB trailers.
///
/// This is the "Jones" variant used by Redis (reflected, initial value 0, no final xor):
/// `crc64(b"123456789") == 0xe9c6d914c4b8d9ca`. The trailer of an RDB file is the CRC of
/// every byte before it (magic through the `0xFF` opcode), stored little-endian.
pub fn crc64(data: &[u8]) -> u64 {
    crc_fast::checksum(CRC64, data)
}

/// Which magic string an RDB file starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Magic {
    /// `REDIS` followed by a 4-digit version (Redis, and Valkey before its own format).
    Redis,
    /// `VALKEY` followed by a 3-digit version (newer Valkey releases).
    Valkey,
}

impl Magic {
    /// The ASCII tag that precedes the version digits.
    pub fn tag(self) -> &'static [u8] {
        match self {
            Magic::Redis => b"REDIS",
            Magic::Valkey => b"VALKEY",
        }
    }
}

/// Replication metadata stored as aux fields of an RDB file.
///
/// Every field is `None` when the snapshot did not carry it (e.g. an RDB saved by a server
/// that never took part in replication).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplicationAux {
    /// Raw value of `repl-id`: the replication id (normally 40 hex characters).
    pub repl_id: Option<Bytes>,
    /// Value of `repl-offset`: replication offset of the last byte covered by the snapshot.
    pub repl_offset: Option<i64>,
    /// Value of `repl-stream-db`: the database selected in the replication stream at the time
    /// of the snapshot. A negative stored value (no database selected) reads as `None`.
    pub repl_stream_db: Option<u32>,
}

/// Header of an RDB file: format identification plus the replication aux fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RdbHeader {
    /// Which magic string the file starts with.
    pub magic: Magic,
    /// Format version (the digits after the magic string, e.g. 10 for `REDIS0010`).
    pub version: u32,
    /// Replication aux fields found before the first non-aux opcode.
    pub aux: ReplicationAux,
}

impl RdbHeader {
    /// Whether files of this format version end with a CRC-64 trailer.
    pub fn has_checksum(&self) -> bool {
        self.version >= FIRST_VERSION_WITH_CHECKSUM
    }
}

/// Outcome of a successful checksum check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumStatus {
    /// The trailer matches the CRC-64 of the payload.
    Verified,
    /// The trailer is all zero: the writer did not compute a checksum, nothing to verify.
    NotComputed,
    /// The format version predates checksums (version < 5): there is no trailer.
    Absent,
    /// The trailer did not match, and the reader was configured not to verify it.
    NotChecked,
}

/// Errors found while reading an RDB header or checking an RDB payload.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RdbError {
    /// The data does not start with `REDIS` + 4 digits or `VALKEY` + 3 digits.
    BadMagic,
    /// The magic string is well formed but names a format version that does not exist.
    UnsupportedVersion(u32),
    /// The data ends before the structure being read is complete.
    Truncated,
    /// A length prefix uses an invalid encoding or does not fit in memory.
    BadLength,
    /// A string uses an unknown special encoding (the low 6 bits of its `11xxxxxx` prefix).
    UnknownStringEncoding(u8),
    /// An LZF-compressed string is corrupt or does not expand to its declared length.
    BadLzf,
    /// A known aux field holds a value that cannot be interpreted.
    BadAuxValue {
        /// Name of the aux field (`repl-offset`, `repl-stream-db`).
        key: &'static str,
    },
    /// The byte before the checksum trailer (or the last byte, without a trailer) is not the
    /// EOF opcode `0xFF`.
    MissingEof,
    /// The trailer does not match the CRC-64 of the payload.
    ChecksumMismatch {
        /// Checksum stored in the trailer.
        expected: u64,
        /// Checksum computed over the payload.
        computed: u64,
    },
}

impl fmt::Display for RdbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RdbError::BadMagic => f.write_str("RDB: bad magic string"),
            RdbError::UnsupportedVersion(v) => write!(f, "RDB: unsupported format version {v}"),
            RdbError::Truncated => f.write_str("RDB: data truncated"),
            RdbError::BadLength => f.write_str("RDB: invalid length encoding"),
            RdbError::UnknownStringEncoding(e) => {
                write!(f, "RDB: unknown string encoding {e}")
            }
            RdbError::BadLzf => f.write_str("RDB: corrupt LZF-compressed string"),
            RdbError::BadAuxValue { key } => write!(f, "RDB: invalid value for aux field {key}"),
            RdbError::MissingEof => f.write_str("RDB: EOF opcode missing before the trailer"),
            RdbError::ChecksumMismatch { expected, computed } => write!(
                f,
                "RDB: checksum mismatch (trailer {expected:#018x}, computed {computed:#018x})"
            ),
        }
    }
}

impl std::error::Error for RdbError {}

/// Reads the header and aux fields from the start of a saved RDB file.
///
/// A prefix of the file is enough: parsing stops at the first opcode that is not an aux
/// field (`0xFA`), which must be present in `data`. Unknown aux keys are skipped; the
/// replication fields may use any string encoding (raw, integer or LZF). The checksum is not
/// verified here (see [`RdbScanner`] or [`verify_checksum`]).
///
/// # Errors
///
/// [`RdbError::BadMagic`] / [`RdbError::UnsupportedVersion`] for a bad magic string,
/// [`RdbError::Truncated`] if `data` ends inside the header, and the string decoding errors
/// ([`RdbError::BadLength`], [`RdbError::UnknownStringEncoding`], [`RdbError::BadLzf`],
/// [`RdbError::BadAuxValue`]) for malformed aux fields.
pub fn read_header(data: &[u8]) -> Result<RdbHeader, RdbError> {
    let (magic, version) = parse_magic(data)?.ok_or(RdbError::Truncated)?;
    let mut parser = HeaderParser::new(magic, version);
    match parser.advance(data) {
        Ok(()) => Ok(parser.header()),
        Err(ParseError::Incomplete(_)) => Err(RdbError::Truncated),
        Err(ParseError::Bad(e)) => Err(e),
    }
}

/// Checks the trailer of a complete RDB held in memory.
///
/// Equivalent to feeding `data` to a fresh [`RdbScanner`] and calling
/// [`RdbScanner::finish`].
///
/// # Errors
///
/// As [`RdbScanner::finish`].
pub fn verify_checksum(data: &[u8]) -> Result<ChecksumStatus, RdbError> {
    let mut scanner = RdbScanner::new(0);
    scanner.feed(data)?;
    scanner.finish()
}

/// Appends the RDB encoding of a length to `out`.
///
/// Uses the shortest form: 6 bits (1 byte), 14 bits (2 bytes), 32 bits (`0x80` + 4 bytes
/// big-endian) or 64 bits (`0x81` + 8 bytes big-endian).
pub fn write_length(out: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.push(0x40 | (len >> 8) as u8);
        out.push(len as u8);
    } else if let Ok(len32) = u32::try_from(len) {
        out.push(0x80);
        out.extend_from_slice(&len32.to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// Appends an RDB string to `out`: its length (see [`write_length`]) followed by the raw
/// bytes. Integer and LZF encodings are never used.
pub fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    write_length(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// Incremental scanner for an RDB payload streaming past in arbitrary chunks.
///
/// It keeps a running CRC-64 of every byte fed, trailer included (the end of the payload is
/// only known at [`finish`](Self::finish)), plus the last 9 bytes, and parses the header and
/// aux fields as soon as enough bytes have arrived. The payload itself is not buffered: only
/// the header section is, up to a cap given to [`new`](Self::new). Once the header is parsed
/// (or abandoned), [`feed`](Self::feed) runs in time proportional to the chunk and does not
/// allocate.
pub struct RdbScanner {
    /// CRC-64 of every byte fed so far, the possible trailer included.
    digest: Digest,
    /// The last `RECENT_LEN` bytes fed, right-aligned (zeros before the first ones): the
    /// possible EOF opcode and trailer.
    recent: [u8; RECENT_LEN],
    total: u64,
    /// Cap on `head`.
    max_header_bytes: usize,
    /// Start of the payload, kept while the header is being parsed.
    head: Vec<u8>,
    /// Length `head` must reach before parsing is worth retrying.
    head_needed: usize,
    magic: Option<(Magic, u32)>,
    header: HeaderState,
    failed: Option<RdbError>,
}

/// What feeding changes in an [`RdbScanner`] once its header is settled
/// ([`RdbScanner::save_point`]).
#[derive(Clone, Copy)]
pub(crate) struct ScanPoint {
    digest: Digest,
    recent: [u8; RECENT_LEN],
    total: u64,
}

/// Progress of header parsing inside [`RdbScanner`].
#[derive(Debug)]
enum HeaderState {
    /// Waiting for the magic string.
    AwaitingMagic,
    /// Magic read; aux fields being parsed.
    Parsing(HeaderParser),
    /// Header and aux fields parsed.
    Parsed(RdbHeader),
    /// Aux fields could not be parsed within the cap (or were malformed).
    Unavailable,
}

impl fmt::Debug for RdbScanner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RdbScanner")
            .field("bytes_seen", &self.total)
            .field("max_header_bytes", &self.max_header_bytes)
            .field("buffered_header_bytes", &self.head.len())
            .field("magic", &self.magic)
            .field("header", &self.header)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl Default for RdbScanner {
    /// A scanner buffering at most [`DEFAULT_MAX_HEADER_BYTES`] for the header.
    fn default() -> Self {
        Self::new(DEFAULT_MAX_HEADER_BYTES)
    }
}

impl RdbScanner {
    /// Creates a scanner that buffers at most `max_header_bytes` (e.g. 64 KiB) to parse the
    /// header and aux fields. The 9 bytes of the magic string are always buffered, whatever
    /// the cap, since the format version decides whether a trailer is expected.
    pub fn new(max_header_bytes: usize) -> Self {
        RdbScanner {
            digest: Digest::new(CRC64),
            recent: [0; RECENT_LEN],
            total: 0,
            max_header_bytes: max_header_bytes.max(MAGIC_LEN),
            head: Vec::new(),
            head_needed: 0,
            magic: None,
            header: HeaderState::AwaitingMagic,
            failed: None,
        }
    }

    /// Feeds the next chunk of payload bytes.
    ///
    /// Updates the running checksum and parses the header and aux fields as soon as enough
    /// bytes are present. If the aux section does not fit in the header cap, or is
    /// malformed, aux parsing is silently abandoned ([`header`](Self::header) stays `None`).
    ///
    /// # Errors
    ///
    /// Only when the payload definitely does not start with a valid magic string
    /// ([`RdbError::BadMagic`], [`RdbError::UnsupportedVersion`]); the error is detected as
    /// soon as the first wrong byte arrives and is returned again by every later call.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), RdbError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        if chunk.is_empty() {
            return Ok(());
        }
        self.total = self.total.saturating_add(chunk.len() as u64);
        // One pass of the CRC engine over the whole chunk: the trailer is digested too, and
        // taken out again at `finish`, rather than held back at the cost of a second, short
        // digest call per chunk.
        self.digest.update(chunk);
        self.remember(chunk);
        if matches!(
            self.header,
            HeaderState::AwaitingMagic | HeaderState::Parsing(_)
        ) {
            if let Err(err) = self.update_header(chunk) {
                self.failed = Some(err.clone());
                return Err(err);
            }
        }
        Ok(())
    }

    /// Header information, once parsed.
    ///
    /// `None` until the whole aux section has arrived, and for good if it could not be parsed
    /// within the cap.
    pub fn header(&self) -> Option<&RdbHeader> {
        match &self.header {
            HeaderState::Parsed(header) => Some(header),
            _ => None,
        }
    }

    /// Number of payload bytes fed so far.
    pub fn bytes_seen(&self) -> u64 {
        self.total
    }

    /// Checks the payload once the transfer framing says it is complete.
    ///
    /// For format version >= 5, the payload must be at least 18 bytes long, the byte before
    /// the 8-byte trailer must be the EOF opcode, and the trailer must match the CRC-64 of
    /// everything before it ([`ChecksumStatus::Verified`]) or be all zero
    /// ([`ChecksumStatus::NotComputed`]). For older versions the last byte must be the EOF
    /// opcode ([`ChecksumStatus::Absent`]). The scanner is left unchanged: calling this
    /// again gives the same answer, and more bytes may still be fed.
    ///
    /// # Errors
    ///
    /// [`RdbError::Truncated`] if too few bytes were fed, the magic error if the magic string
    /// was bad, [`RdbError::MissingEof`] if the EOF opcode is not where it should be, and
    /// [`RdbError::ChecksumMismatch`] if the trailer does not match.
    pub fn finish(&mut self) -> Result<ChecksumStatus, RdbError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let Some((_, version)) = self.magic else {
            return Err(RdbError::Truncated);
        };
        if version < FIRST_VERSION_WITH_CHECKSUM {
            if self.total < MIN_LEN_WITHOUT_CHECKSUM {
                return Err(RdbError::Truncated);
            }
            return if self.recent[RECENT_LEN - 1] == OP_EOF {
                Ok(ChecksumStatus::Absent)
            } else {
                Err(RdbError::MissingEof)
            };
        }
        if self.total < MIN_LEN_WITH_CHECKSUM {
            return Err(RdbError::Truncated);
        }
        let [before_trailer, trailer @ ..] = self.recent;
        if before_trailer != OP_EOF {
            return Err(RdbError::MissingEof);
        }
        let expected = u64::from_le_bytes(trailer);
        if expected == 0 {
            return Ok(ChecksumStatus::NotComputed);
        }
        // The digest covers the trailer too: it is zero exactly when the trailer is the CRC
        // of the bytes before it.
        let residue = self.digest.finalize();
        if residue == 0 {
            Ok(ChecksumStatus::Verified)
        } else {
            Err(RdbError::ChecksumMismatch {
                expected,
                computed: crc_before_trailer(residue, expected),
            })
        }
    }

    /// Where the scanner stands, when feeding can be taken back from here with
    /// [`rewind`](Self::rewind): once the header is parsed or given up (its buffer is not
    /// saved) and no error was met.
    pub(crate) fn save_point(&self) -> Option<ScanPoint> {
        let settled = matches!(
            self.header,
            HeaderState::Parsed(_) | HeaderState::Unavailable
        );
        (settled && self.failed.is_none()).then_some(ScanPoint {
            digest: self.digest,
            recent: self.recent,
            total: self.total,
        })
    }

    /// Takes back every byte fed since `point` was saved.
    pub(crate) fn rewind(&mut self, point: ScanPoint) {
        self.digest = point.digest;
        self.recent = point.recent;
        self.total = point.total;
    }

    /// Keeps the last `RECENT_LEN` bytes fed.
    fn remember(&mut self, chunk: &[u8]) {
        match chunk.len().checked_sub(RECENT_LEN) {
            Some(start) => self.recent.copy_from_slice(&chunk[start..]),
            None => {
                self.recent.copy_within(chunk.len().., 0);
                self.recent[RECENT_LEN - chunk.len()..].copy_from_slice(chunk);
            }
        }
    }

    /// Buffers the start of the payload and advances header parsing.
    fn update_header(&mut self, chunk: &[u8]) -> Result<(), RdbError> {
        let room = self.max_header_bytes.saturating_sub(self.head.len());
        let taken = &chunk[..chunk.len().min(room)];
        self.head.extend_from_slice(taken);

        if matches!(self.header, HeaderState::AwaitingMagic) {
            match parse_magic(&self.head)? {
                None => return Ok(()),
                Some((magic, version)) => {
                    self.magic = Some((magic, version));
                    self.header = HeaderState::Parsing(HeaderParser::new(magic, version));
                    self.head_needed = 0;
                }
            }
        }
        if self.head.len() < self.head_needed {
            // Still short of the field being parsed; `head_needed` never exceeds the cap,
            // so the buffer can still grow to it.
            return Ok(());
        }
        let HeaderState::Parsing(parser) = &mut self.header else {
            return Ok(());
        };
        let next = match parser.advance(&self.head) {
            Ok(()) => HeaderState::Parsed(parser.header()),
            Err(ParseError::Incomplete(needed)) if needed <= self.max_header_bytes => {
                self.head_needed = needed;
                return Ok(());
            }
            // Needs more than the cap allows, or malformed: give up on the aux fields.
            Err(ParseError::Incomplete(_)) | Err(ParseError::Bad(_)) => HeaderState::Unavailable,
        };
        self.header = next;
        self.head = Vec::new();
        self.head_needed = 0;
        Ok(())
    }
}

/// Checks the magic string at the start of `prefix`.
///
/// Returns `Ok(None)` while `prefix` is too short to decide but consistent with a valid
/// magic string, and an error as soon as one byte rules it out.
fn parse_magic(prefix: &[u8]) -> Result<Option<(Magic, u32)>, RdbError> {
    let magic = match prefix.first() {
        None => return Ok(None),
        Some(b'R') => Magic::Redis,
        Some(b'V') => Magic::Valkey,
        Some(_) => return Err(RdbError::BadMagic),
    };
    let tag = magic.tag();
    let known = &prefix[..prefix.len().min(MAGIC_LEN)];
    for (i, &b) in known.iter().enumerate() {
        let ok = match tag.get(i) {
            Some(&expected) => b == expected,
            None => b.is_ascii_digit(),
        };
        if !ok {
            return Err(RdbError::BadMagic);
        }
    }
    if known.len() < MAGIC_LEN {
        return Ok(None);
    }
    let version = known
        .iter()
        .skip(tag.len())
        .fold(0u32, |v, &d| v * 10 + u32::from(d - b'0'));
    if version == 0 {
        return Err(RdbError::UnsupportedVersion(version));
    }
    Ok(Some((magic, version)))
}

/// Failure while parsing from a buffer that may hold only a prefix of the input.
#[derive(Debug)]
enum ParseError {
    /// More input is needed: at least this many bytes in total.
    Incomplete(usize),
    /// The input is malformed.
    Bad(RdbError),
}

impl From<RdbError> for ParseError {
    fn from(err: RdbError) -> Self {
        ParseError::Bad(err)
    }
}

/// Read position over a buffer that may be a prefix of the input.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: u64) -> Result<&'a [u8], ParseError> {
        let available = self.data.len() - self.pos;
        match usize::try_from(n) {
            Ok(n) if n <= available => {
                let out = &self.data[self.pos..self.pos + n];
                self.pos += n;
                Ok(out)
            }
            _ => {
                let needed = (self.pos as u64).saturating_add(n);
                Err(ParseError::Incomplete(
                    usize::try_from(needed).unwrap_or(usize::MAX),
                ))
            }
        }
    }

    fn byte(&mut self) -> Result<u8, ParseError> {
        let b = *self
            .data
            .get(self.pos)
            .ok_or(ParseError::Incomplete(self.pos + 1))?;
        self.pos += 1;
        Ok(b)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ParseError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N as u64)?);
        Ok(out)
    }
}

/// A decoded length prefix.
enum Length {
    /// A plain length.
    Len(u64),
    /// A special string encoding (`11xxxxxx`): the low 6 bits.
    Special(u8),
}

fn read_length(cur: &mut Cursor<'_>) -> Result<Length, ParseError> {
    let first = cur.byte()?;
    match first >> 6 {
        0b00 => Ok(Length::Len(u64::from(first & 0x3f))),
        0b01 => {
            let low = cur.byte()?;
            Ok(Length::Len((u64::from(first & 0x3f) << 8) | u64::from(low)))
        }
        0b10 => match first {
            0x80 => Ok(Length::Len(u64::from(u32::from_be_bytes(cur.array()?)))),
            0x81 => Ok(Length::Len(u64::from_be_bytes(cur.array()?))),
            _ => Err(ParseError::Bad(RdbError::BadLength)),
        },
        _ => Ok(Length::Special(first & 0x3f)),
    }
}

fn read_plain_length(cur: &mut Cursor<'_>) -> Result<u64, ParseError> {
    match read_length(cur)? {
        Length::Len(n) => Ok(n),
        Length::Special(_) => Err(ParseError::Bad(RdbError::BadLength)),
    }
}

/// Reads the values of an RDB held whole in memory: single bytes, fixed-size fields, length
/// prefixes and strings in every encoding (raw, integer, LZF). A loader walks the records with
/// it; running past the end is [`RdbError::Truncated`].
#[derive(Debug)]
pub struct RdbReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> RdbReader<'a> {
    /// Reads `data` from position `pos` (e.g. [`MAGIC_LEN`] to skip the magic).
    pub fn new(data: &'a [u8], pos: usize) -> Self {
        RdbReader { data, pos }
    }

    /// The position of the next byte.
    pub fn position(&self) -> usize {
        self.pos
    }

    fn with_cursor<T>(
        &mut self,
        read: impl FnOnce(&mut Cursor<'a>) -> Result<T, ParseError>,
    ) -> Result<T, RdbError> {
        let mut cur = Cursor {
            data: self.data,
            pos: self.pos,
        };
        let out = read(&mut cur).map_err(|e| match e {
            ParseError::Incomplete(_) => RdbError::Truncated,
            ParseError::Bad(e) => e,
        })?;
        self.pos = cur.pos;
        Ok(out)
    }

    /// One byte (an opcode or a type).
    pub fn byte(&mut self) -> Result<u8, RdbError> {
        self.with_cursor(|c| c.byte())
    }

    /// `N` bytes, e.g. a little-endian expiry time.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], RdbError> {
        self.with_cursor(|c| c.array())
    }

    /// A plain length prefix.
    pub fn length(&mut self) -> Result<u64, RdbError> {
        self.with_cursor(|c| read_plain_length(c))
    }

    /// A string in any encoding, as its bytes (an integer as its decimal text).
    pub fn string(&mut self) -> Result<Bytes, RdbError> {
        let stored = self.with_cursor(|c| read_string(c))?;
        stored.to_bytes()
    }
}

/// An RDB string as stored, not yet materialised.
enum RdbStr<'a> {
    Raw(&'a [u8]),
    Int(i64),
    Lzf { compressed: &'a [u8], len: usize },
}

fn read_string<'a>(cur: &mut Cursor<'a>) -> Result<RdbStr<'a>, ParseError> {
    match read_length(cur)? {
        Length::Len(n) => Ok(RdbStr::Raw(cur.take(n)?)),
        Length::Special(0) => Ok(RdbStr::Int(i64::from(i8::from_le_bytes(cur.array()?)))),
        Length::Special(1) => Ok(RdbStr::Int(i64::from(i16::from_le_bytes(cur.array()?)))),
        Length::Special(2) => Ok(RdbStr::Int(i64::from(i32::from_le_bytes(cur.array()?)))),
        Length::Special(3) => {
            let compressed_len = read_plain_length(cur)?;
            let len = read_plain_length(cur)?;
            let compressed = cur.take(compressed_len)?;
            let len = usize::try_from(len).map_err(|_| RdbError::BadLength)?;
            Ok(RdbStr::Lzf { compressed, len })
        }
        Length::Special(other) => Err(ParseError::Bad(RdbError::UnknownStringEncoding(other))),
    }
}

impl RdbStr<'_> {
    /// The string value: raw bytes, decimal text of an integer, or decompressed bytes.
    fn to_bytes(&self) -> Result<Bytes, RdbError> {
        match *self {
            RdbStr::Raw(raw) => Ok(Bytes::copy_from_slice(raw)),
            RdbStr::Int(i) => Ok(Bytes::from(i.to_string())),
            RdbStr::Lzf { compressed, len } => lzf_decompress(compressed, len).map(Bytes::from),
        }
    }

    /// Whether the string value equals `expected`.
    fn equals(&self, expected: &[u8]) -> Result<bool, RdbError> {
        match *self {
            RdbStr::Raw(raw) => Ok(raw == expected),
            RdbStr::Lzf { len, .. } if len != expected.len() => Ok(false),
            _ => Ok(self.to_bytes()?.as_ref() == expected),
        }
    }

    /// The string value read as a signed decimal integer.
    fn to_i64(&self, key: &'static str) -> Result<i64, RdbError> {
        let bad = || RdbError::BadAuxValue { key };
        match *self {
            RdbStr::Int(i) => Ok(i),
            _ => crate::resp::parse_decimal(&self.to_bytes()?).ok_or_else(bad),
        }
    }
}

/// Decompresses an LZF stream that must expand to exactly `len` bytes.
fn lzf_decompress(input: &[u8], len: usize) -> Result<Vec<u8>, RdbError> {
    if len > input.len().saturating_mul(LZF_MAX_EXPANSION) {
        return Err(RdbError::BadLzf);
    }
    let mut out = Vec::with_capacity(len);
    let mut i = 0;
    while let Some(&ctrl) = input.get(i) {
        i += 1;
        let ctrl = usize::from(ctrl);
        if ctrl < 32 {
            // Literal run of ctrl + 1 bytes.
            let run = ctrl + 1;
            let literal = input.get(i..i + run).ok_or(RdbError::BadLzf)?;
            if run > len - out.len() {
                return Err(RdbError::BadLzf);
            }
            out.extend_from_slice(literal);
            i += run;
        } else {
            // Back-reference into the output produced so far.
            let mut run = ctrl >> 5;
            if run == 7 {
                run += usize::from(*input.get(i).ok_or(RdbError::BadLzf)?);
                i += 1;
            }
            let low = usize::from(*input.get(i).ok_or(RdbError::BadLzf)?);
            i += 1;
            let distance = ((ctrl & 0x1f) << 8) + low + 1;
            let run = run + 2;
            if distance > out.len() || run > len - out.len() {
                return Err(RdbError::BadLzf);
            }
            let start = out.len() - distance;
            if distance >= run {
                out.extend_from_within(start..start + run);
            } else {
                // Overlapping copy: bytes produced by this copy feed its own continuation.
                for _ in 0..run {
                    let b = out[out.len() - distance];
                    out.push(b);
                }
            }
        }
    }
    if out.len() != len {
        return Err(RdbError::BadLzf);
    }
    Ok(out)
}

/// Resumable parser for the aux section following the magic string.
#[derive(Debug)]
struct HeaderParser {
    magic: Magic,
    version: u32,
    /// Offset just past the last complete aux field.
    pos: usize,
    aux: ReplicationAux,
}

impl HeaderParser {
    fn new(magic: Magic, version: u32) -> Self {
        HeaderParser {
            magic,
            version,
            pos: MAGIC_LEN,
            aux: ReplicationAux::default(),
        }
    }

    /// Parses aux fields from `data` (the start of the file, possibly only a prefix of it,
    /// always extending the prefix given to earlier calls) until the first non-aux opcode.
    fn advance(&mut self, data: &[u8]) -> Result<(), ParseError> {
        loop {
            let mut cur = Cursor {
                data,
                pos: self.pos.min(data.len()),
            };
            if cur.byte()? != OP_AUX {
                return Ok(());
            }
            let key = read_string(&mut cur)?;
            let value = read_string(&mut cur)?;
            self.apply(&key, &value)?;
            self.pos = cur.pos;
        }
    }

    fn apply(&mut self, key: &RdbStr<'_>, value: &RdbStr<'_>) -> Result<(), RdbError> {
        if key.equals(b"repl-id")? {
            self.aux.repl_id = Some(value.to_bytes()?);
        } else if key.equals(b"repl-offset")? {
            self.aux.repl_offset = Some(value.to_i64("repl-offset")?);
        } else if key.equals(b"repl-stream-db")? {
            const KEY: &str = "repl-stream-db";
            let db = value.to_i64(KEY)?;
            self.aux.repl_stream_db = if db < 0 {
                None
            } else {
                Some(u32::try_from(db).map_err(|_| RdbError::BadAuxValue { key: KEY })?)
            };
        }
        Ok(())
    }

    fn header(&self) -> RdbHeader {
        RdbHeader {
            magic: self.magic,
            version: self.version,
            aux: self.aux.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A full sync found in a transcript: the `+FULLRESYNC` reply and the RDB that followed.
    #[derive(Debug)]
    struct FullSync {
        repl_id: Vec<u8>,
        offset: i64,
        rdb: Vec<u8>,
    }

    fn decode_hex(hex: &str) -> Vec<u8> {
        let digit = |c: u8| match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => panic!("bad hex digit {c}"),
        };
        hex.as_bytes()
            .chunks(2)
            .map(|p| (digit(p[0]) << 4) | digit(p[1]))
            .collect()
    }

    /// Value of a `"name": ...` field on one JSON line, up to the next `,` / `}` or `"`.
    fn json_field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
        let key = format!("\"{name}\": ");
        let rest = &line[line.find(&key)? + key.len()..];
        if let Some(s) = rest.strip_prefix('"') {
            Some(&s[..s.find('"')?])
        } else {
            Some(&rest[..rest.find([',', '}'])?])
        }
    }

    fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
        haystack
            .get(from..)?
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p + from)
    }

    /// Every full sync in a transcript, per connection in order.
    fn full_syncs(rel: &str, text: &str) -> Vec<FullSync> {
        let mut streams: Vec<(String, Vec<u8>)> = Vec::new();
        for line in text.lines() {
            if json_field(line, "dir") != Some("m2r") {
                continue;
            }
            let conn = json_field(line, "conn").unwrap().to_string();
            let bytes = decode_hex(json_field(line, "hex").unwrap());
            match streams.iter_mut().find(|(c, _)| *c == conn) {
                Some((_, s)) => s.extend_from_slice(&bytes),
                None => streams.push((conn, bytes)),
            }
        }
        let mut out = Vec::new();
        for (_, s) in &streams {
            let mut at = 0;
            while let Some(p) = find(s, b"+FULLRESYNC ", at) {
                let eol = find(s, b"\r\n", p).unwrap();
                let line = std::str::from_utf8(&s[p + 12..eol]).unwrap();
                let (id, offset) = line.split_once(' ').unwrap();
                let mut q = eol + 2;
                while s[q] == b'\n' {
                    q += 1;
                }
                assert_eq!(s[q], b'$');
                let rdb = if s[q + 1..].starts_with(b"EOF:") {
                    let mark = &s[q + 5..q + 45];
                    let start = q + 47;
                    let end = find(s, mark, start).unwrap();
                    s[start..end].to_vec()
                } else {
                    let eol = find(s, b"\r\n", q).unwrap();
                    let len: usize = std::str::from_utf8(&s[q + 1..eol])
                        .unwrap()
                        .parse()
                        .unwrap();
                    s[eol + 2..eol + 2 + len].to_vec()
                };
                out.push(FullSync {
                    repl_id: id.as_bytes().to_vec(),
                    offset: offset.parse().unwrap(),
                    rdb,
                });
                at = eol;
            }
        }
        assert!(!out.is_empty(), "no full sync in {rel}");
        out
    }

    /// Full syncs of several transcripts of both server versions, read once.
    fn real_samples() -> &'static [(String, FullSync)] {
        static SAMPLES: std::sync::OnceLock<Vec<(String, FullSync)>> = std::sync::OnceLock::new();
        SAMPLES.get_or_init(load_samples)
    }

    /// A capture, embedded at compile time (the core's code reads no files, tests included).
    macro_rules! capture {
        ($version:literal, $scenario:literal) => {
            (
                concat!($version, "/", $scenario, ".jsonl"),
                include_str!(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../../../shared/transcripts/",
                    $version,
                    "/",
                    $scenario,
                    ".jsonl"
                )),
            )
        };
    }

    const CAPTURES: [(&str, &str); 8] = [
        capture!("redis-7.0.15", "a-fullsync-disk"),
        capture!("redis-7.0.15", "b-fullsync-diskless"),
        capture!("redis-7.0.15", "e-replica-restart"),
        capture!("redis-7.0.15", "h-backlog-overflow"),
        capture!("redis-6.0.9", "a-fullsync-disk"),
        capture!("redis-6.0.9", "b-fullsync-diskless"),
        capture!("redis-6.0.9", "e-replica-restart"),
        capture!("redis-6.0.9", "h-backlog-overflow"),
    ];

    fn load_samples() -> Vec<(String, FullSync)> {
        let mut out = Vec::new();
        for (rel, text) in CAPTURES {
            for sync in full_syncs(rel, text) {
                out.push((rel.to_string(), sync));
            }
        }
        out
    }

    fn scan(data: &[u8], cuts: &[usize], cap: usize) -> RdbScanner {
        let mut scanner = RdbScanner::new(cap);
        let mut start = 0;
        for &cut in cuts {
            let cut = cut.clamp(start, data.len());
            scanner.feed(&data[start..cut]).unwrap();
            start = cut;
        }
        scanner.feed(&data[start..]).unwrap();
        scanner
    }

    /// A small RDB with the given aux fields (already encoded), an EOF opcode and a trailer.
    fn build_rdb(magic: &[u8], aux: &[u8], checksum: bool) -> Vec<u8> {
        let mut rdb = magic.to_vec();
        rdb.extend_from_slice(aux);
        rdb.extend_from_slice(&[0xFE, 0x00, OP_EOF]);
        if checksum {
            let crc = crc64(&rdb);
            rdb.extend_from_slice(&crc.to_le_bytes());
        }
        rdb
    }

    fn aux_field(out: &mut Vec<u8>, key: &[u8], encoded_value: &[u8]) {
        out.push(OP_AUX);
        write_string(out, key);
        out.extend_from_slice(encoded_value);
    }

    fn raw(s: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_string(&mut out, s);
        out
    }

    #[test]
    fn crc_check_value() {
        assert_eq!(crc64(b"123456789"), 0xe9c6d914c4b8d9ca);
        assert_eq!(crc64(b""), 0);
    }

    #[test]
    fn crc_before_trailer_undoes_the_trailer() {
        let mut body = Vec::new();
        for len in [0usize, 1, 7, 8, 9, 63, 64, 65, 300, 4099] {
            body.clear();
            body.extend((0..len).map(|i| (i as u8).wrapping_mul(167) ^ (i >> 8) as u8));
            let crc = crc64(&body);
            for trailer in [crc, 0, 1, u64::MAX, crc ^ 1, crc.rotate_left(17)] {
                let mut with_trailer = body.clone();
                with_trailer.extend_from_slice(&trailer.to_le_bytes());
                let residue = crc64(&with_trailer);
                assert_eq!(residue == 0, trailer == crc, "len {len}");
                assert_eq!(crc_before_trailer(residue, trailer), crc, "len {len}");
            }
        }
    }

    #[test]
    fn empty_redis_7_rdb_layout() {
        // Same layout as an empty Redis 7.0.15 snapshot; time/memory/id bytes are made up.
        let id = b"0123456789abcdef0123456789abcdef01234567";
        let mut rdb = b"REDIS0010".to_vec();
        aux_field(&mut rdb, b"redis-ver", &raw(b"7.0.15"));
        aux_field(&mut rdb, b"redis-bits", &[0xC0, 0x40]);
        aux_field(&mut rdb, b"ctime", &[0xC2, 0x11, 0xF0, 0x01, 0x6B]);
        aux_field(&mut rdb, b"used-mem", &[0xC2, 0xF8, 0x9A, 0x10, 0x00]);
        aux_field(&mut rdb, b"repl-stream-db", &[0xC0, 0x00]);
        aux_field(&mut rdb, b"repl-id", &raw(id));
        aux_field(&mut rdb, b"repl-offset", &[0xC0, 0x00]);
        aux_field(&mut rdb, b"aof-base", &[0xC0, 0x00]);
        rdb.push(OP_EOF);
        let crc = crc64(&rdb);
        rdb.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(rdb.len(), 172);
        assert_eq!(&rdb[9..21], b"\xfa\x09redis-ver\x06");

        let header = read_header(&rdb).unwrap();
        assert_eq!(header.magic, Magic::Redis);
        assert_eq!(header.version, 10);
        assert!(header.has_checksum());
        assert_eq!(
            header.aux,
            ReplicationAux {
                repl_id: Some(Bytes::from_static(id)),
                repl_offset: Some(0),
                repl_stream_db: Some(0),
            }
        );
        assert_eq!(verify_checksum(&rdb), Ok(ChecksumStatus::Verified));
        let mut scanner = scan(&rdb, &[1, 5, 60, 163, 164, 170], 164);
        assert_eq!(scanner.header(), Some(&header));
        assert_eq!(scanner.finish(), Ok(ChecksumStatus::Verified));
        assert_eq!(scanner.bytes_seen(), 172);
    }

    #[test]
    fn real_rdbs_verify_and_carry_replication_aux() {
        let samples = real_samples();
        assert!(samples.len() >= 10);
        let mut nonzero_offsets = 0;
        for (rel, sync) in samples {
            let header = read_header(&sync.rdb).unwrap_or_else(|e| panic!("{rel}: {e}"));
            assert_eq!(header.magic, Magic::Redis);
            let expected_version = if rel.starts_with("redis-7") { 10 } else { 9 };
            assert_eq!(header.version, expected_version, "{rel}");
            assert_eq!(
                header.aux.repl_id.as_deref(),
                Some(&sync.repl_id[..]),
                "{rel}"
            );
            assert_eq!(header.aux.repl_offset, Some(sync.offset), "{rel}");
            assert_eq!(header.aux.repl_stream_db, Some(0), "{rel}");
            if sync.offset != 0 {
                nonzero_offsets += 1;
            }

            let trailer: [u8; 8] = sync.rdb[sync.rdb.len() - 8..].try_into().unwrap();
            let body = &sync.rdb[..sync.rdb.len() - 8];
            assert_eq!(crc64(body), u64::from_le_bytes(trailer), "{rel}");
            assert_eq!(verify_checksum(&sync.rdb), Ok(ChecksumStatus::Verified));

            let mut scanner = scan(&sync.rdb, &[], DEFAULT_MAX_HEADER_BYTES);
            assert_eq!(scanner.header(), Some(&header));
            assert_eq!(scanner.finish(), Ok(ChecksumStatus::Verified), "{rel}");
            assert_eq!(scanner.bytes_seen(), sync.rdb.len() as u64);
        }
        // h-backlog-overflow resyncs at a non-zero offset (int32-encoded in the RDB).
        assert_eq!(nonzero_offsets, 2);
    }

    #[test]
    fn real_rdb_lzf_values_decompress() {
        // The second snapshot of h-backlog-overflow holds 1000-byte values stored as LZF:
        // C3 <clen 0x12> <len 0x43E8 = 1000> <18 compressed bytes>.
        let (rel, text) = CAPTURES[3];
        let syncs = full_syncs(rel, text);
        let rdb = &syncs.last().unwrap().rdb;
        let at = find(rdb, &[0xC3, 0x12, 0x43, 0xE8], 0).expect("LZF value");
        let mut cur = Cursor { data: rdb, pos: at };
        let value = read_string(&mut cur).unwrap().to_bytes().unwrap();
        assert_eq!(value.len(), 1000);
        assert!(value.iter().all(|&b| b == b'x'));
        assert_eq!(cur.pos, at + 4 + 18);
    }

    #[test]
    fn string_encodings() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"\x05hello", b"hello"),
            (b"\x00", b""),
            (b"\xc0\x7f", b"127"),
            (b"\xc0\x80", b"-128"),
            (b"\xc1\x39\x30", b"12345"),
            (b"\xc1\x00\x80", b"-32768"),
            (b"\xc2\x60\x28\x03\x00", b"206944"),
            (b"\xc2\xff\xff\xff\xff", b"-1"),
            // LZF: one literal run of 3 bytes.
            (b"\xc3\x04\x03\x02abc", b"abc"),
            // LZF: literal "ab", then back-reference distance 2, length 4 (overlapping).
            (b"\xc3\x05\x06\x01ab\x40\x01", b"ababab"),
            // LZF: literal "x", then long back-reference (len 7 + 3, +2) at distance 1.
            (b"\xc3\x05\x0d\x00x\xe0\x03\x00", b"xxxxxxxxxxxxx"),
        ];
        for (encoded, expected) in cases {
            let mut cur = Cursor {
                data: encoded,
                pos: 0,
            };
            let value = read_string(&mut cur).unwrap().to_bytes().unwrap();
            assert_eq!(&value[..], *expected, "{encoded:?}");
            assert_eq!(cur.pos, encoded.len());
        }

        // 14-bit, 32-bit and 64-bit lengths, through the encoder and back.
        for len in [0usize, 63, 64, 300, 16383, 16384, 70000] {
            let s = vec![b'z'; len];
            let mut encoded = Vec::new();
            write_string(&mut encoded, &s);
            let prefix = encoded.len() - len;
            let expected_prefix = match len {
                0..=63 => 1,
                64..=16383 => 2,
                _ => 5,
            };
            assert_eq!(prefix, expected_prefix, "{len}");
            let mut cur = Cursor {
                data: &encoded,
                pos: 0,
            };
            assert_eq!(&read_string(&mut cur).unwrap().to_bytes().unwrap()[..], &s);
        }
        let mut big = Vec::new();
        write_length(&mut big, 1 << 40);
        assert_eq!(big, [0x81, 0, 0, 1, 0, 0, 0, 0, 0]);
        let mut cur = Cursor { data: &big, pos: 0 };
        assert!(matches!(read_length(&mut cur), Ok(Length::Len(n)) if n == 1 << 40));
        let mut cur = Cursor {
            data: b"\x41\x2c",
            pos: 0,
        };
        assert!(matches!(read_length(&mut cur), Ok(Length::Len(300))));
        let mut cur = Cursor {
            data: b"\x80\x00\x01\x00\x00",
            pos: 0,
        };
        assert!(matches!(read_length(&mut cur), Ok(Length::Len(65536))));
    }

    #[test]
    fn lzf_rejects_bad_input() {
        assert_eq!(lzf_decompress(b"\x02abc", 3), Ok(b"abc".to_vec()));
        assert_eq!(lzf_decompress(b"", 0), Ok(Vec::new()));
        // Literal run longer than the input.
        assert_eq!(lzf_decompress(b"\x05ab", 6), Err(RdbError::BadLzf));
        // Back-reference before the start of the output.
        assert_eq!(lzf_decompress(b"\x00a\x20\x01", 4), Err(RdbError::BadLzf));
        // Missing offset byte.
        assert_eq!(lzf_decompress(b"\x00a\x20", 4), Err(RdbError::BadLzf));
        // Missing extra-length byte of a long back-reference.
        assert_eq!(lzf_decompress(b"\x00a\xe0", 20), Err(RdbError::BadLzf));
        // Output shorter or longer than declared.
        assert_eq!(lzf_decompress(b"\x02abc", 4), Err(RdbError::BadLzf));
        assert_eq!(lzf_decompress(b"\x02abc", 2), Err(RdbError::BadLzf));
        assert_eq!(lzf_decompress(b"\x00a\x40\x00", 3), Err(RdbError::BadLzf));
        // Declared length impossible for the compressed size.
        assert_eq!(lzf_decompress(b"\x00a", 1 << 40), Err(RdbError::BadLzf));
    }

    #[test]
    fn aux_fields_in_every_encoding() {
        let id = b"f2e6907c6b15fe110d7f121edf6507af6752a30f";
        // repl-id LZF-compressed: literal runs of 32 and 8 bytes.
        let mut lzf_id = vec![0xC3];
        write_length(&mut lzf_id, 42);
        write_length(&mut lzf_id, 40);
        lzf_id.push(31);
        lzf_id.extend_from_slice(&id[..32]);
        lzf_id.push(7);
        lzf_id.extend_from_slice(&id[32..]);

        let mut aux = Vec::new();
        aux_field(&mut aux, b"redis-ver", &raw(b"7.2.4"));
        aux_field(&mut aux, b"repl-stream-db", &raw(b"3"));
        aux_field(&mut aux, b"repl-id", &lzf_id);
        aux_field(&mut aux, b"repl-offset", &raw(b"123456789012"));
        // An unknown key with an int-encoded value, and one with an LZF value.
        aux_field(&mut aux, b"ctime", &[0xC2, 1, 2, 3, 4]);
        aux_field(&mut aux, b"blob", b"\xc3\x05\x06\x01ab\x40\x01");
        let rdb = build_rdb(b"VALKEY080", &aux, true);

        let header = read_header(&rdb).unwrap();
        assert_eq!(header.magic, Magic::Valkey);
        assert_eq!(header.version, 80);
        assert_eq!(header.aux.repl_id.as_deref(), Some(&id[..]));
        assert_eq!(header.aux.repl_offset, Some(123_456_789_012));
        assert_eq!(header.aux.repl_stream_db, Some(3));
        assert_eq!(verify_checksum(&rdb), Ok(ChecksumStatus::Verified));

        // Int-encoded repl-id and an LZF-compressed key.
        let mut aux = Vec::new();
        aux_field(&mut aux, b"repl-id", &[0xC1, 0x39, 0x30]);
        aux.extend_from_slice(b"\xfa\xc3\x0d\x0b\x04repl-\x05offset\xc0\x07");
        aux_field(&mut aux, b"repl-stream-db", &raw(b"-1"));
        let header = read_header(&build_rdb(b"REDIS0011", &aux, true)).unwrap();
        assert_eq!(header.aux.repl_id.as_deref(), Some(&b"12345"[..]));
        assert_eq!(header.aux.repl_offset, Some(7));
        assert_eq!(header.aux.repl_stream_db, None);

        // No aux fields at all.
        let header = read_header(&build_rdb(b"REDIS0012", &[], true)).unwrap();
        assert_eq!(header.version, 12);
        assert_eq!(header.aux, ReplicationAux::default());
    }

    #[test]
    fn bad_aux_values_and_encodings() {
        for (value, key) in [
            (raw(b"12x"), "repl-offset"),
            (raw(b""), "repl-offset"),
            (raw(b"99999999999999999999"), "repl-offset"),
        ] {
            let mut aux = Vec::new();
            aux_field(&mut aux, b"repl-offset", &value);
            let rdb = build_rdb(b"REDIS0010", &aux, true);
            assert_eq!(read_header(&rdb), Err(RdbError::BadAuxValue { key }));
            // The scanner gives up on the aux fields but still checks the payload.
            let mut scanner = scan(&rdb, &[], 1024);
            assert_eq!(scanner.header(), None);
            assert_eq!(scanner.finish(), Ok(ChecksumStatus::Verified));
        }
        let mut aux = Vec::new();
        aux_field(&mut aux, b"repl-stream-db", &raw(b"4294967296"));
        assert_eq!(
            read_header(&build_rdb(b"REDIS0010", &aux, true)),
            Err(RdbError::BadAuxValue {
                key: "repl-stream-db"
            })
        );
        let mut aux = Vec::new();
        aux_field(&mut aux, b"x", &[0xC4]);
        assert_eq!(
            read_header(&build_rdb(b"REDIS0010", &aux, true)),
            Err(RdbError::UnknownStringEncoding(4))
        );
        let mut aux = Vec::new();
        aux_field(&mut aux, b"x", &[0x82]);
        assert_eq!(
            read_header(&build_rdb(b"REDIS0010", &aux, true)),
            Err(RdbError::BadLength)
        );
        let mut aux = Vec::new();
        aux_field(&mut aux, b"repl-id", b"\xc3\x02\x03\x05ab");
        assert_eq!(
            read_header(&build_rdb(b"REDIS0010", &aux, true)),
            Err(RdbError::BadLzf)
        );
    }

    #[test]
    fn bad_magic() {
        for data in [
            &b"RDB0010"[..],
            b"redis0010",
            b"REDIS001x",
            b"VALKEY08",
            b"VALKEYX80",
            b"\xfa",
            b"REDIX",
        ] {
            let err = read_header(data).unwrap_err();
            let complete_prefix = data == b"VALKEY08";
            if complete_prefix {
                assert_eq!(err, RdbError::Truncated);
            } else {
                assert_eq!(err, RdbError::BadMagic, "{data:?}");
                let mut scanner = RdbScanner::new(64);
                assert_eq!(scanner.feed(data), Err(RdbError::BadMagic));
                assert_eq!(scanner.feed(b"more"), Err(RdbError::BadMagic));
                assert_eq!(scanner.finish(), Err(RdbError::BadMagic));
            }
        }
        // Detected on the first wrong byte, even one byte at a time.
        let mut scanner = RdbScanner::new(64);
        assert_eq!(scanner.feed(b"RED"), Ok(()));
        assert_eq!(scanner.feed(b"I"), Ok(()));
        assert_eq!(scanner.feed(b"X"), Err(RdbError::BadMagic));
        assert_eq!(
            read_header(b"REDIS0000\xff"),
            Err(RdbError::UnsupportedVersion(0))
        );
    }

    #[test]
    fn corrupted_byte_is_a_checksum_mismatch() {
        let (_, sync) = &real_samples()[0];
        let good = crc64(&sync.rdb[..sync.rdb.len() - 8]);
        for pos in [0usize, 20, 100, sync.rdb.len() - 10] {
            let mut rdb = sync.rdb.clone();
            rdb[pos] ^= 0x01;
            let computed = crc64(&rdb[..rdb.len() - 8]);
            assert_ne!(computed, good);
            let mut scanner = RdbScanner::new(1024);
            if scanner.feed(&rdb).is_err() {
                assert_eq!(pos, 0, "only the magic byte breaks feeding");
                continue;
            }
            assert_eq!(
                scanner.finish(),
                Err(RdbError::ChecksumMismatch {
                    expected: good,
                    computed
                })
            );
        }
        // A corrupted trailer byte.
        let mut rdb = sync.rdb.clone();
        let last = rdb.len() - 1;
        rdb[last] ^= 0x80;
        assert!(matches!(
            verify_checksum(&rdb),
            Err(RdbError::ChecksumMismatch { computed, .. }) if computed == good
        ));
    }

    #[test]
    fn zero_trailer_is_not_computed() {
        let (_, sync) = &real_samples()[1];
        let mut rdb = sync.rdb.clone();
        let n = rdb.len();
        rdb[n - 8..].fill(0);
        assert_eq!(verify_checksum(&rdb), Ok(ChecksumStatus::NotComputed));
        // Still requires the EOF opcode before the trailer.
        rdb[n - 9] = 0x00;
        assert_eq!(verify_checksum(&rdb), Err(RdbError::MissingEof));
    }

    #[test]
    fn old_versions_have_no_trailer() {
        let rdb = build_rdb(b"REDIS0004", &[], false);
        assert_eq!(verify_checksum(&rdb), Ok(ChecksumStatus::Absent));
        assert_eq!(
            verify_checksum(b"REDIS0003\xff"),
            Ok(ChecksumStatus::Absent)
        );
        assert_eq!(verify_checksum(b"REDIS0003"), Err(RdbError::Truncated));
        assert_eq!(verify_checksum(b"REDIS0003\xfe"), Err(RdbError::MissingEof));
        assert!(!read_header(&rdb).unwrap().has_checksum());
    }

    #[test]
    fn truncated_payloads() {
        let (_, sync) = &real_samples()[0];
        let rdb = &sync.rdb;
        for len in [0, 1, 8, 9, 17] {
            assert_eq!(
                verify_checksum(&rdb[..len]),
                Err(RdbError::Truncated),
                "{len}"
            );
        }
        // Cut inside the data: the EOF opcode is not where the trailer would start, or the
        // checksum does not match.
        for len in [18, 100, rdb.len() - 1] {
            assert!(matches!(
                verify_checksum(&rdb[..len]),
                Err(RdbError::MissingEof | RdbError::ChecksumMismatch { .. })
            ));
        }
        // read_header needs the opcode that follows the aux fields.
        let header_end = find(rdb, b"\xfe\x00", 9).unwrap();
        for len in [0, 5, 9, 10, 40, header_end] {
            assert_eq!(read_header(&rdb[..len]), Err(RdbError::Truncated), "{len}");
        }
        assert!(read_header(&rdb[..header_end + 1]).is_ok());
    }

    #[test]
    fn scanner_header_cap() {
        let (_, sync) = &real_samples()[0];
        let rdb = &sync.rdb;
        let header_end = find(rdb, b"\xfe\x00", 9).unwrap();
        // Just enough to see the opcode after the aux fields.
        let mut scanner = scan(rdb, &[3, 50], header_end + 1);
        assert!(scanner.header().is_some());
        assert_eq!(scanner.finish(), Ok(ChecksumStatus::Verified));
        // One byte short: aux parsing is abandoned silently, the checksum still verifies.
        let mut scanner = scan(rdb, &[3, 50], header_end);
        assert_eq!(scanner.header(), None);
        assert_eq!(scanner.finish(), Ok(ChecksumStatus::Verified));
        assert!(format!("{scanner:?}").contains("Unavailable"));
        // A huge declared aux value is abandoned too, without buffering it.
        let mut data = b"REDIS0010\xfa\x01k\x81\x00\x00\x01\x00\x00\x00\x00\x00".to_vec();
        data.extend_from_slice(&[0; 100]);
        let mut scanner = scan(&data, &[], 1 << 20);
        assert_eq!(scanner.header(), None);
        assert!(scanner.finish().is_err());
    }

    #[test]
    fn byte_by_byte_feeding() {
        for (rel, sync) in real_samples() {
            let mut scanner = RdbScanner::new(DEFAULT_MAX_HEADER_BYTES);
            for b in &sync.rdb {
                scanner.feed(core::slice::from_ref(b)).unwrap();
            }
            assert_eq!(
                scanner.header(),
                Some(&read_header(&sync.rdb).unwrap()),
                "{rel}"
            );
            assert_eq!(scanner.finish(), Ok(ChecksumStatus::Verified), "{rel}");
        }
    }

    #[test]
    fn error_display() {
        let err = RdbError::ChecksumMismatch {
            expected: 1,
            computed: 2,
        };
        assert!(err.to_string().contains("checksum mismatch"));
        let boxed: Box<dyn std::error::Error> = Box::new(RdbError::BadMagic);
        assert_eq!(boxed.to_string(), "RDB: bad magic string");
    }

    proptest! {
        #[test]
        fn split_feeding_matches_single_feed(
            sample in 0usize..16,
            cuts in proptest::collection::vec(0usize..7000, 0..12),
            flip in proptest::option::of((0usize..7000, 1u8..=255)),
            cap in prop_oneof![Just(DEFAULT_MAX_HEADER_BYTES), 0usize..400],
        ) {
            let samples = real_samples();
            let (_, sync) = &samples[sample % samples.len()];
            let mut rdb = sync.rdb.clone();
            if let Some((pos, mask)) = flip {
                let pos = 9 + pos % (rdb.len() - 9);
                rdb[pos] ^= mask;
            }
            let mut cuts = cuts;
            cuts.sort_unstable();
            let mut whole = scan(&rdb, &[], cap);
            let mut split = scan(&rdb, &cuts, cap);
            prop_assert_eq!(whole.header(), split.header());
            prop_assert_eq!(whole.bytes_seen(), split.bytes_seen());
            prop_assert_eq!(whole.finish(), split.finish());
            if flip.is_none() {
                prop_assert_eq!(split.finish(), Ok(ChecksumStatus::Verified));
                if cap == DEFAULT_MAX_HEADER_BYTES {
                    prop_assert_eq!(split.header(), Some(&read_header(&rdb).unwrap()));
                }
            }
        }

        #[test]
        fn never_panics_on_arbitrary_bytes(
            prefix in prop_oneof![
                Just(&b""[..]),
                Just(&b"REDIS0010"[..]),
                Just(&b"REDIS0003"[..]),
                Just(&b"VALKEY080\xfa"[..]),
            ],
            body in proptest::collection::vec(any::<u8>(), 0..300),
            cuts in proptest::collection::vec(0usize..320, 0..6),
            cap in 0usize..128,
        ) {
            let mut data = prefix.to_vec();
            data.extend_from_slice(&body);
            let _ = read_header(&data);
            let _ = verify_checksum(&data);
            let mut scanner = RdbScanner::new(cap);
            let mut cuts = cuts;
            cuts.sort_unstable();
            let mut start = 0;
            for cut in cuts.into_iter().chain([data.len()]) {
                let cut = cut.clamp(start, data.len());
                let _ = scanner.feed(&data[start..cut]);
                start = cut;
            }
            let _ = scanner.header();
            let _ = scanner.finish();
            let _ = lzf_decompress(&body, body.len() * 3);
        }

        #[test]
        fn aux_values_round_trip(
            offset in any::<i64>(),
            db in any::<u32>(),
            id in proptest::collection::vec(any::<u8>(), 0..100),
        ) {
            let mut aux = Vec::new();
            aux_field(&mut aux, b"repl-id", &raw(&id));
            aux_field(&mut aux, b"repl-offset", &raw(offset.to_string().as_bytes()));
            aux_field(&mut aux, b"repl-stream-db", &raw(db.to_string().as_bytes()));
            let header = read_header(&build_rdb(b"REDIS0010", &aux, true)).unwrap();
            prop_assert_eq!(header.aux.repl_id.as_deref(), Some(&id[..]));
            prop_assert_eq!(header.aux.repl_offset, Some(offset));
            prop_assert_eq!(header.aux.repl_stream_db, Some(db));
        }
    }
}
