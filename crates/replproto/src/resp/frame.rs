//! Any RESP2 value, for replies to ordinary commands.

use bytes::{Bytes, BytesMut};

use super::line::parse_line;
use super::number::{header, Header};
use super::RespError;
use crate::Limits;

/// A RESP2 value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// `+<text>\r\n`
    Simple(Bytes),
    /// `-<text>\r\n`
    Error(Bytes),
    /// `:<n>\r\n`
    Integer(i64),
    /// `$<len>\r\n<data>\r\n`
    Bulk(Bytes),
    /// `$-1\r\n`
    NullBulk,
    /// `*<n>\r\n` followed by `n` values.
    Array(Vec<Frame>),
    /// `*-1\r\n`
    NullArray,
}

impl Frame {
    /// The text of a simple string or the data of a bulk string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Frame::Simple(b) | Frame::Bulk(b) => Some(b),
            _ => None,
        }
    }
}

/// Walks one value starting at `pos` without building it; returns its end, or `None` when the
/// buffer does not hold all of it yet. Iterative: nesting costs a counter, not stack frames.
fn measure(buf: &[u8], limits: &Limits) -> Result<Option<usize>, RespError> {
    let mut pos = 0;
    // Elements still expected at each open array level.
    let mut pending: Vec<u64> = Vec::new();
    loop {
        let rest = &buf[pos..];
        let Some(&kind) = rest.first() else {
            return Ok(None);
        };
        match kind {
            b'+' | b'-' => match parse_line(rest, limits.max_line_len)? {
                None => return Ok(None),
                Some(line) => {
                    // RESP lines end with CRLF and hold no CR or LF of their own.
                    let crlf = line.consumed == line.text.len() + 2;
                    if !crlf || line.text.contains(&b'\r') {
                        return Err(RespError::InvalidLine);
                    }
                    pos += line.consumed;
                }
            },
            b':' | b'$' | b'*' => {
                let (value, used) = match header(rest) {
                    Ok(Header::Complete(v, used)) => (v, used),
                    Ok(Header::Incomplete) => return Ok(None),
                    Err(RespError::InvalidLength) if kind == b':' => {
                        return Err(RespError::InvalidInteger)
                    }
                    Err(e) => return Err(e),
                };
                pos += used;
                if value < -1 && kind != b':' {
                    return Err(RespError::InvalidLength);
                }
                if kind == b'$' && value >= 0 {
                    let len = value as u64;
                    if len > limits.max_bulk_len as u64 {
                        return Err(RespError::BulkTooLarge {
                            len,
                            limit: limits.max_bulk_len,
                        });
                    }
                    let end = pos as u64 + len + 2;
                    if end > limits.max_frame_len as u64 {
                        return Err(RespError::FrameTooLarge {
                            limit: limits.max_frame_len,
                        });
                    }
                    if (buf.len() as u64) < end {
                        return Ok(None);
                    }
                    let end = end as usize;
                    if &buf[end - 2..end] != b"\r\n" {
                        return Err(RespError::MissingCrlf);
                    }
                    pos = end;
                } else if kind == b'*' && value > 0 {
                    if value as u64 > limits.max_args as u64 {
                        return Err(RespError::TooManyArgs {
                            count: value as u64,
                            limit: limits.max_args,
                        });
                    }
                    if pending.len() >= limits.max_depth {
                        return Err(RespError::TooDeep {
                            limit: limits.max_depth,
                        });
                    }
                    pending.push(value as u64);
                    continue;
                }
            }
            other => return Err(RespError::UnknownType(other)),
        }
        if pos > limits.max_frame_len {
            return Err(RespError::FrameTooLarge {
                limit: limits.max_frame_len,
            });
        }
        // One value finished: close every array it completes.
        loop {
            match pending.last_mut() {
                None => return Ok(Some(pos)),
                Some(1) => {
                    pending.pop();
                }
                Some(n) => {
                    *n -= 1;
                    break;
                }
            }
        }
    }
}

/// Builds the value in `raw`, already known to be complete and well formed.
fn build(raw: &Bytes) -> Frame {
    let mut pos = 0;
    let mut stack: Vec<(Vec<Frame>, usize)> = Vec::new();
    loop {
        let kind = raw[pos];
        let value = match kind {
            b'+' | b'-' => {
                let line = parse_line(&raw[pos..], usize::MAX)
                    .ok()
                    .flatten()
                    .expect("measured line");
                let text = raw.slice(pos + 1..pos + line.text.len());
                pos += line.consumed;
                if kind == b'+' {
                    Frame::Simple(text)
                } else {
                    Frame::Error(text)
                }
            }
            _ => {
                let Ok(Header::Complete(n, used)) = header(&raw[pos..]) else {
                    unreachable!("measured header");
                };
                pos += used;
                match (kind, n) {
                    (b':', n) => Frame::Integer(n),
                    (b'$', -1) => Frame::NullBulk,
                    (b'$', len) => {
                        let len = len as usize;
                        let data = raw.slice(pos..pos + len);
                        pos += len + 2;
                        Frame::Bulk(data)
                    }
                    (_, -1) => Frame::NullArray,
                    (_, 0) => Frame::Array(Vec::new()),
                    (_, n) => {
                        stack.push((Vec::with_capacity((n as usize).min(1024)), n as usize));
                        continue;
                    }
                }
            }
        };
        let mut value = value;
        loop {
            match stack.last_mut() {
                None => return value,
                Some((items, expected)) => {
                    items.push(value);
                    if items.len() < *expected {
                        break;
                    }
                    let (items, _) = stack.pop().expect("non-empty");
                    value = Frame::Array(items);
                }
            }
        }
    }
}

/// Decodes one value from the front of `buf`, removing its bytes. `Ok(None)` means the value is
/// not complete yet and nothing was consumed.
pub fn decode_frame(buf: &mut BytesMut, limits: &Limits) -> Result<Option<Frame>, RespError> {
    match measure(buf, limits)? {
        None => Ok(None),
        Some(len) => {
            let raw = buf.split_to(len).freeze();
            Ok(Some(build(&raw)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_arrays_and_nulls() {
        let mut buf = BytesMut::from(
            &b"*3\r\n:-5\r\n*2\r\n$3\r\nabc\r\n$-1\r\n*-1\r\n+OK\r\n-ERR no\r\n"[..],
        );
        let frame = decode_frame(&mut buf, &Limits::DEFAULT).unwrap().unwrap();
        assert_eq!(
            frame,
            Frame::Array(vec![
                Frame::Integer(-5),
                Frame::Array(vec![
                    Frame::Bulk(Bytes::from_static(b"abc")),
                    Frame::NullBulk
                ]),
                Frame::NullArray,
            ])
        );
        let ok = decode_frame(&mut buf, &Limits::DEFAULT).unwrap().unwrap();
        assert_eq!(ok, Frame::Simple(Bytes::from_static(b"OK")));
        let err = decode_frame(&mut buf, &Limits::DEFAULT).unwrap().unwrap();
        assert_eq!(err, Frame::Error(Bytes::from_static(b"ERR no")));
        assert!(buf.is_empty());
    }

    #[test]
    fn incomplete_consumes_nothing() {
        let mut buf = BytesMut::from(&b"*2\r\n$1\r\na\r\n"[..]);
        assert_eq!(decode_frame(&mut buf, &Limits::DEFAULT), Ok(None));
        assert_eq!(buf.len(), 11);
    }

    #[test]
    fn depth_is_limited() {
        let mut buf = BytesMut::from(&b"*1\r\n*1\r\n*1\r\n:1\r\n"[..]);
        let limits = Limits::DEFAULT.with_max_depth(2);
        assert_eq!(
            decode_frame(&mut buf, &limits),
            Err(RespError::TooDeep { limit: 2 })
        );
    }
}
