//! LF-terminated lines: handshake replies and keepalives.

use nom::bytes::streaming::take_until;
use nom::{IResult, Parser};

use super::RespError;

/// One line read off the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// The line without its LF and without a CR directly before the LF.
    pub text: &'a [u8],
    /// Bytes the line used on the wire, terminator included.
    pub consumed: usize,
}

fn up_to_lf(input: &[u8]) -> IResult<&[u8], &[u8]> {
    take_until(&b"\n"[..]).parse(input)
}

/// Parses one line the way Redis reads handshake replies: up to and including LF, dropping a CR
/// right before the LF. `Ok(None)` means the LF has not arrived yet.
pub fn parse_line(input: &[u8], max_len: usize) -> Result<Option<Line<'_>>, RespError> {
    match up_to_lf(input) {
        Ok((_, text)) => {
            let consumed = text.len() + 1;
            if consumed > max_len {
                return Err(RespError::LineTooLong { limit: max_len });
            }
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            Ok(Some(Line { text, consumed }))
        }
        Err(_) if input.len() >= max_len => Err(RespError::LineTooLong { limit: max_len }),
        Err(_) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_strip_crlf_or_lf() {
        let line = parse_line(b"+PONG\r\nrest", 100).unwrap().unwrap();
        assert_eq!(line.text, b"+PONG");
        assert_eq!(line.consumed, 7);
        let keepalive = parse_line(b"\n+FULL", 100).unwrap().unwrap();
        assert_eq!(keepalive.text, b"");
        assert_eq!(keepalive.consumed, 1);
        assert_eq!(parse_line(b"+PON", 100), Ok(None));
        assert_eq!(
            parse_line(b"+PONGPONG", 4),
            Err(RespError::LineTooLong { limit: 4 })
        );
    }
}
