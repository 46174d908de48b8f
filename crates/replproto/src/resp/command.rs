//! Commands as a master propagates them: arrays of bulk strings, decoded without copying.

use bytes::Bytes;
use smallvec::SmallVec;

use super::number::{header, Header};
use super::RespError;
use crate::Limits;

/// Arguments stored inline before a command's argument list spills to the heap.
pub const INLINE_ARGS: usize = 6;

/// Longest argument list kept for reuse by [`CommandDecoder::recycle`] (32 KiB of spans).
const MAX_RECYCLED_ARGS: usize = 4096;

/// The argument spans of one command: inline up to [`INLINE_ARGS`], on the heap beyond.
pub type ArgSpans = SmallVec<[ArgSpan; INLINE_ARGS]>;

/// Where one argument sits inside its command frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgSpan {
    /// First byte of the argument, from the start of the frame.
    pub start: u32,
    /// Length of the argument.
    pub len: u32,
}

impl ArgSpan {
    fn range(self) -> std::ops::Range<usize> {
        let start = self.start as usize;
        start..start + self.len as usize
    }
}

/// What [`CommandDecoder::decode`] found at the front of the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// The buffer does not yet hold a whole frame; call again after more input.
    Incomplete,
    /// A frame that carries no command: an empty line (`\n`, `\r\n`) or an empty array
    /// (`*0\r\n`, `*-1\r\n`). `len` bytes are consumed and still count as stream bytes.
    Keepalive {
        /// Bytes used.
        len: usize,
    },
    /// A multibulk command occupying the first `len` bytes of the buffer.
    Command {
        /// Bytes used.
        len: usize,
        /// The arguments, relative to the frame start.
        args: ArgSpans,
    },
    /// A non-empty inline command line (words separated by spaces), as old replicas send during
    /// their handshake. Masters never send these on a replication link.
    Inline {
        /// Bytes used, LF included.
        len: usize,
        /// The words, relative to the frame start.
        args: ArgSpans,
    },
}

/// Progress through a multibulk frame, kept across calls so each byte is parsed once.
#[derive(Debug, Clone, Default)]
enum Progress {
    #[default]
    FrameStart,
    Elements {
        /// Elements still to parse.
        remaining: usize,
        /// Arguments parsed so far.
        args: ArgSpans,
        /// Next unparsed byte of the frame.
        pos: usize,
        /// The buffer must hold at least this many bytes before parsing can progress.
        wait_for: usize,
    },
}

/// A resumable decoder of command frames.
///
/// The caller keeps the bytes in one buffer, calls [`decode`](Self::decode) after each append,
/// and removes the first `len` bytes whenever a frame is returned. Between those calls the
/// decoder remembers how far it parsed, so a command arriving over many reads costs one pass.
#[derive(Debug, Clone)]
pub struct CommandDecoder {
    limits: Limits,
    progress: Progress,
    /// A heap argument list handed back with [`recycle`](Self::recycle), reused by the next
    /// command too long for the inline one.
    spare: Vec<ArgSpan>,
}

impl CommandDecoder {
    /// A decoder enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        CommandDecoder {
            limits,
            progress: Progress::FrameStart,
            spare: Vec::new(),
        }
    }

    /// Hands back the argument list of a decoded command that is no longer needed, so that a
    /// later command of more than [`INLINE_ARGS`] arguments reuses its memory instead of
    /// allocating. Lists that fit inline are simply dropped, and so are lists of more than
    /// 4,096 arguments, so that one huge command does not leave its memory held.
    pub fn recycle(&mut self, args: ArgSpans) {
        let capacity = args.capacity();
        if args.spilled() && capacity > self.spare.capacity() && capacity <= MAX_RECYCLED_ARGS {
            // A spilled list turns into a `Vec` and back without allocating.
            self.spare = args.into_vec();
            self.spare.clear();
        }
    }

    /// Forgets a partly parsed frame (after the buffer was cleared).
    pub fn reset(&mut self) {
        if let Progress::Elements { args, .. } = std::mem::take(&mut self.progress) {
            self.recycle(args);
        }
    }

    /// Bytes of a partly parsed frame already examined (0 between frames).
    pub fn pending_bytes(&self) -> usize {
        match &self.progress {
            Progress::FrameStart => 0,
            Progress::Elements { pos, .. } => *pos,
        }
    }

    /// Decodes the frame at the start of `buf`.
    ///
    /// `buf` must begin where the previous frame ended and may only have grown since the last
    /// call that returned [`Decoded::Incomplete`].
    pub fn decode(&mut self, buf: &[u8]) -> Result<Decoded, RespError> {
        if let Progress::FrameStart = self.progress {
            if let Some(whole) = self.decode_whole(buf) {
                return Ok(whole);
            }
            match buf.first() {
                None => return Ok(Decoded::Incomplete),
                Some(b'*') => {}
                Some(_) => return self.decode_inline(buf),
            }
            let (count, header_len) = match header(buf)? {
                Header::Incomplete => return Ok(Decoded::Incomplete),
                Header::Complete(count, len) => (count, len),
            };
            if count <= 0 {
                if count < -1 {
                    return Err(RespError::InvalidLength);
                }
                return Ok(Decoded::Keepalive { len: header_len });
            }
            let count = count as u64;
            if count > self.limits.max_args as u64 {
                return Err(RespError::TooManyArgs {
                    count,
                    limit: self.limits.max_args,
                });
            }
            let count = count as usize;
            let args = if count > INLINE_ARGS {
                SmallVec::from_vec(std::mem::take(&mut self.spare))
            } else {
                SmallVec::new()
            };
            self.progress = Progress::Elements {
                remaining: count,
                args,
                pos: header_len,
                wait_for: header_len,
            };
        }
        let max_bulk = self.limits.max_bulk_len;
        let max_frame = self.limits.max_frame_len.min(u32::MAX as usize);
        let Progress::Elements {
            remaining,
            args,
            pos,
            wait_for,
        } = &mut self.progress
        else {
            unreachable!("frame start handled above");
        };
        if buf.len() < *wait_for {
            return Ok(Decoded::Incomplete);
        }
        while *remaining > 0 {
            let rest = &buf[*pos..];
            match rest.first() {
                None => {
                    *wait_for = *pos + 1;
                    return Ok(Decoded::Incomplete);
                }
                Some(b'$') => {}
                Some(&other) => return Err(RespError::ExpectedBulk(other)),
            }
            let (len, header_len) = match header(rest)? {
                Header::Incomplete => {
                    *wait_for = buf.len() + 1;
                    return Ok(Decoded::Incomplete);
                }
                Header::Complete(len, header_len) => (len, header_len),
            };
            if len < 0 {
                return Err(if len == -1 {
                    RespError::NullBulkInCommand
                } else {
                    RespError::InvalidLength
                });
            }
            let len = len as u64;
            if len > max_bulk as u64 {
                return Err(RespError::BulkTooLarge {
                    len,
                    limit: max_bulk,
                });
            }
            let data_start = *pos + header_len;
            let end = data_start as u64 + len + 2;
            if end > max_frame as u64 {
                return Err(RespError::FrameTooLarge { limit: max_frame });
            }
            let end = end as usize;
            if buf.len() < end {
                *wait_for = end;
                return Ok(Decoded::Incomplete);
            }
            if &buf[end - 2..end] != b"\r\n" {
                return Err(RespError::MissingCrlf);
            }
            args.push(ArgSpan {
                start: data_start as u32,
                len: len as u32,
            });
            *pos = end;
            *wait_for = end;
            *remaining -= 1;
        }
        let len = *pos;
        let args = std::mem::take(args);
        self.progress = Progress::FrameStart;
        Ok(Decoded::Command { len, args })
    }

    /// The common case in one pass with no state kept: a whole, well-formed command of at most
    /// [`INLINE_ARGS`] arguments, already in `buf`, within every limit. Anything else (an
    /// incomplete frame, an unusual header, an error) returns `None` and takes the general,
    /// resumable path from the frame start, which gives the same verdict on what this accepts.
    #[inline]
    fn decode_whole(&self, buf: &[u8]) -> Option<Decoded> {
        let (count, mut rest) = match buf {
            [b'*', d @ b'1'..=b'6', b'\r', b'\n', rest @ ..] => (usize::from(d - b'0'), rest),
            _ => return None,
        };
        if count > self.limits.max_args {
            return None;
        }
        let mut spans = [ArgSpan { start: 0, len: 0 }; INLINE_ARGS];
        for span in &mut spans[..count] {
            let (len, data) = bulk_header(rest)?;
            if len > self.limits.max_bulk_len {
                return None;
            }
            rest = match data.get(len..) {
                Some([b'\r', b'\n', next @ ..]) => next,
                _ => return None,
            };
            *span = ArgSpan {
                start: (buf.len() - data.len()) as u32,
                len: len as u32,
            };
        }
        let len = buf.len() - rest.len();
        if len > self.limits.max_frame_len.min(u32::MAX as usize) {
            return None;
        }
        Some(Decoded::Command {
            len,
            args: SmallVec::from_buf_and_len(spans, count),
        })
    }

    fn decode_inline(&mut self, buf: &[u8]) -> Result<Decoded, RespError> {
        let Some(line) = super::parse_line(buf, self.limits.max_line_len)? else {
            return Ok(Decoded::Incomplete);
        };
        let mut args = SmallVec::new();
        let mut start = None;
        for (i, &b) in line.text.iter().enumerate() {
            match (b == b' ' || b == b'\t', start) {
                (true, Some(s)) => {
                    args.push(span(s, i));
                    start = None;
                }
                (false, None) => start = Some(i),
                _ => {}
            }
        }
        if let Some(s) = start {
            args.push(span(s, line.text.len()));
        }
        if args.is_empty() {
            Ok(Decoded::Keepalive { len: line.consumed })
        } else {
            Ok(Decoded::Inline {
                len: line.consumed,
                args,
            })
        }
    }
}

/// A bulk header in its plain form (`$`, digits without a leading zero, CRLF): the length and
/// what follows the header. Short lengths match a pattern; longer ones (up to 18 digits) are
/// scanned by the header rule of `number.rs`. `None` for anything else, an incomplete header
/// included: the general path decides.
#[inline(always)]
fn bulk_header(rest: &[u8]) -> Option<(usize, &[u8])> {
    let digit = |d: &u8| usize::from(d - b'0');
    match rest {
        [b'$', d @ b'0'..=b'9', b'\r', b'\n', data @ ..] => Some((digit(d), data)),
        [b'$', d1 @ b'1'..=b'9', d2 @ b'0'..=b'9', b'\r', b'\n', data @ ..] => {
            Some((digit(d1) * 10 + digit(d2), data))
        }
        [b'$', d1 @ b'1'..=b'9', d2 @ b'0'..=b'9', d3 @ b'0'..=b'9', b'\r', b'\n', data @ ..] => {
            Some((digit(d1) * 100 + digit(d2) * 10 + digit(d3), data))
        }
        [b'$', body @ ..] => {
            let (len, used) = super::number::plain_decimal(body)?;
            Some((usize::try_from(len).ok()?, &body[used..]))
        }
        _ => None,
    }
}

fn span(start: usize, end: usize) -> ArgSpan {
    ArgSpan {
        start: start as u32,
        len: (end - start) as u32,
    }
}

/// One whole command: its exact wire bytes and where each argument lies in them.
///
/// Arguments are handed out as slices of the one frame buffer, never copied.
#[derive(Clone, PartialEq, Eq)]
pub struct CommandFrame {
    raw: Bytes,
    args: ArgSpans,
}

impl CommandFrame {
    /// Builds a frame from its wire bytes and the spans a [`CommandDecoder`] reported.
    ///
    /// # Panics
    /// If a span lies outside `raw` or there is no span (a caller bug, not peer input).
    pub fn new(raw: Bytes, args: ArgSpans) -> Self {
        assert!(!args.is_empty(), "a command has at least one argument");
        assert!(
            args.iter().all(|a| a.range().end <= raw.len()),
            "argument span outside its frame"
        );
        CommandFrame { raw, args }
    }

    /// A frame whose spans come straight from [`CommandDecoder::decode`] on `raw`: they are in
    /// bounds by construction, so only debug builds check them again.
    #[inline]
    pub(crate) fn decoded(raw: Bytes, args: ArgSpans) -> Self {
        debug_assert!(!args.is_empty() && args.iter().all(|a| a.range().end <= raw.len()));
        CommandFrame { raw, args }
    }

    /// The exact bytes of the command on the wire.
    #[inline]
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// Length of the command on the wire.
    #[inline]
    pub fn wire_len(&self) -> usize {
        self.as_ref().wire_len()
    }

    /// Number of arguments, the command name included.
    #[inline]
    pub fn argc(&self) -> usize {
        self.as_ref().argc()
    }

    /// Argument `index` (0 is the command name), or `None` past the end.
    #[inline]
    pub fn arg(&self, index: usize) -> Option<&[u8]> {
        self.as_ref().arg(index)
    }

    /// Argument `index` as an owned [`Bytes`] sharing the frame's buffer.
    pub fn arg_bytes(&self, index: usize) -> Option<Bytes> {
        self.args.get(index).map(|a| self.raw.slice(a.range()))
    }

    /// The command name as sent (its case is the master's).
    #[inline]
    pub fn name(&self) -> &[u8] {
        self.as_ref().name()
    }

    /// All arguments in order.
    #[inline]
    pub fn args(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        self.as_ref().args()
    }

    /// Whether the command name equals `name`, ignoring ASCII case.
    #[inline]
    pub fn is(&self, name: &str) -> bool {
        self.as_ref().is(name)
    }

    /// The same frame, borrowed.
    #[inline]
    pub fn as_ref(&self) -> FrameRef<'_> {
        FrameRef {
            raw: &self.raw,
            args: &self.args,
        }
    }
}

/// A command frame borrowed from a decoder's buffer: what [`CommandFrame`] is, without a
/// reference-counted handle. [`FrameRef::to_frame`] copies it out when it must be kept.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FrameRef<'a> {
    raw: &'a [u8],
    args: &'a [ArgSpan],
}

impl<'a> FrameRef<'a> {
    /// A frame whose spans come straight from [`CommandDecoder::decode`] on `raw`.
    #[inline]
    pub(crate) fn decoded(raw: &'a [u8], args: &'a [ArgSpan]) -> Self {
        debug_assert!(!args.is_empty() && args.iter().all(|a| a.range().end <= raw.len()));
        FrameRef { raw, args }
    }

    /// The exact bytes of the command on the wire.
    #[inline]
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Length of the command on the wire.
    #[inline]
    pub fn wire_len(&self) -> usize {
        self.raw.len()
    }

    /// Number of arguments, the command name included.
    #[inline]
    pub fn argc(&self) -> usize {
        self.args.len()
    }

    /// Argument `index` (0 is the command name), or `None` past the end.
    #[inline]
    pub fn arg(&self, index: usize) -> Option<&'a [u8]> {
        self.args.get(index).map(|a| &self.raw[a.range()])
    }

    /// The command name as sent (its case is the master's).
    #[inline]
    pub fn name(&self) -> &'a [u8] {
        &self.raw[self.args[0].range()]
    }

    /// All arguments in order.
    #[inline]
    pub fn args(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + 'a {
        let raw = self.raw;
        self.args.iter().map(move |a| &raw[a.range()])
    }

    /// Whether the command name equals `name`, ignoring ASCII case.
    #[inline]
    pub fn is(&self, name: &str) -> bool {
        self.name().eq_ignore_ascii_case(name.as_bytes())
    }

    /// An owned copy (one allocation for the bytes).
    pub fn to_frame(&self) -> CommandFrame {
        CommandFrame {
            raw: Bytes::copy_from_slice(self.raw),
            args: SmallVec::from_slice(self.args),
        }
    }
}

impl std::fmt::Debug for FrameRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.args().map(|a| String::from_utf8_lossy(a)))
            .finish()
    }
}

impl std::fmt::Debug for CommandFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.as_ref(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recycled_argument_list_is_reused_by_the_next_long_command() {
        let wide = b"*7\r\n$4\r\nMSET\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n";
        let mut decoder = CommandDecoder::new(Limits::DEFAULT);
        let Ok(Decoded::Command { len, args }) = decoder.decode(wide) else {
            panic!("a whole command");
        };
        assert_eq!((len, args.len()), (wide.len(), 7));
        assert!(args.spilled());
        let list = args.as_ptr();
        decoder.recycle(args);
        // A short command neither takes the list nor drops it.
        assert!(matches!(
            decoder.decode(b"*1\r\n$4\r\nPING\r\n"),
            Ok(Decoded::Command { .. })
        ));
        let Ok(Decoded::Command { args, .. }) = decoder.decode(wide) else {
            panic!("a whole command");
        };
        assert_eq!(args.as_ptr(), list);
        assert_eq!(args.len(), 7);
        assert_eq!(
            args[6],
            ArgSpan {
                start: wide.len() as u32 - 3,
                len: 1
            }
        );
    }

    #[test]
    fn a_huge_argument_list_is_not_kept() {
        let mut wide = bytes::BytesMut::new();
        let words: Vec<&[u8]> = std::iter::repeat_n(&b"x"[..], MAX_RECYCLED_ARGS + 1).collect();
        crate::resp::encode_command(&mut wide, &words);
        let mut decoder = CommandDecoder::new(Limits::DEFAULT);
        let Ok(Decoded::Command { args, .. }) = decoder.decode(&wide) else {
            panic!("a whole command");
        };
        assert_eq!(args.len(), MAX_RECYCLED_ARGS + 1);
        decoder.recycle(args);
        assert_eq!(decoder.spare.capacity(), 0);
    }

    fn decode_all(input: &[u8]) -> Result<Vec<Decoded>, RespError> {
        let mut decoder = CommandDecoder::new(Limits::DEFAULT);
        let mut out = Vec::new();
        let mut at = 0;
        loop {
            match decoder.decode(&input[at..])? {
                Decoded::Incomplete => return Ok(out),
                d => {
                    at += match &d {
                        Decoded::Keepalive { len }
                        | Decoded::Command { len, .. }
                        | Decoded::Inline { len, .. } => *len,
                        Decoded::Incomplete => 0,
                    };
                    out.push(d);
                }
            }
        }
    }

    #[test]
    fn decodes_a_set_command() {
        let wire = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n";
        let mut decoder = CommandDecoder::new(Limits::DEFAULT);
        let Decoded::Command { len, args } = decoder.decode(wire).unwrap() else {
            panic!("expected a command");
        };
        assert_eq!(len, wire.len());
        let frame = CommandFrame::new(Bytes::from_static(wire), args);
        assert_eq!(frame.args().collect::<Vec<_>>(), [&b"SET"[..], b"k", b"v"]);
        assert!(frame.is("set"));
    }

    #[test]
    fn resumes_byte_by_byte() {
        let wire = b"*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n";
        let mut decoder = CommandDecoder::new(Limits::DEFAULT);
        for end in 0..wire.len() {
            assert_eq!(decoder.decode(&wire[..end]).unwrap(), Decoded::Incomplete);
        }
        assert!(matches!(
            decoder.decode(wire).unwrap(),
            Decoded::Command { len: 23, .. }
        ));
    }

    #[test]
    fn keepalives_and_empty_arrays() {
        let got = decode_all(b"\n\r\n*0\r\n*-1\r\n").unwrap();
        assert_eq!(
            got,
            vec![
                Decoded::Keepalive { len: 1 },
                Decoded::Keepalive { len: 2 },
                Decoded::Keepalive { len: 4 },
                Decoded::Keepalive { len: 5 },
            ]
        );
    }

    #[test]
    fn inline_words() {
        let got = decode_all(b"REPLCONF  listening-port 6380\r\n").unwrap();
        let [Decoded::Inline { len, args }] = &got[..] else {
            panic!("{got:?}")
        };
        assert_eq!(*len, 31);
        assert_eq!(args.len(), 3);
    }

    #[test]
    fn limits_are_checked_before_buffering() {
        let limits = Limits::DEFAULT.with_max_bulk_len(10).with_max_args(2);
        let mut decoder = CommandDecoder::new(limits);
        assert_eq!(
            decoder.decode(b"*1\r\n$11\r\n"),
            Err(RespError::BulkTooLarge { len: 11, limit: 10 })
        );
        let mut decoder = CommandDecoder::new(limits);
        assert_eq!(
            decoder.decode(b"*3\r\n"),
            Err(RespError::TooManyArgs { count: 3, limit: 2 })
        );
        let mut decoder = CommandDecoder::new(Limits::DEFAULT.with_max_frame_len(16));
        assert_eq!(
            decoder.decode(b"*1\r\n$9\r\n"),
            Err(RespError::FrameTooLarge { limit: 16 })
        );
    }

    #[test]
    fn malformed_frames_are_errors() {
        let cases: [(&[u8], RespError); 5] = [
            (b"*1\r\n:1\r\n", RespError::ExpectedBulk(b':')),
            (b"*1\r\n$-1\r\n", RespError::NullBulkInCommand),
            (b"*1\r\n$1\r\nab\r\n", RespError::MissingCrlf),
            (b"*x\r\n", RespError::InvalidLength),
            (b"*1\r\n$01\r\na\r\n", RespError::InvalidLength),
        ];
        for (wire, expected) in cases {
            let mut decoder = CommandDecoder::new(Limits::DEFAULT);
            assert_eq!(decoder.decode(wire), Err(expected));
        }
    }
}
