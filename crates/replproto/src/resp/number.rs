//! Strict decimal headers (`*<n>\r\n`, `$<n>\r\n`, `:<n>\r\n`), parsed with nom.

use nom::bytes::streaming::tag;
use nom::character::streaming::digit1;
use nom::combinator::{opt, recognize};
use nom::sequence::{pair, terminated};
use nom::{IResult, Parser};

use super::RespError;

/// Longest header line we wait for: a type byte, a sign, 20 digits and CRLF.
pub(crate) const MAX_HEADER_LEN: usize = 24;

/// Outcome of parsing one header after its type byte.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Header {
    /// The value and the bytes the whole header used (type byte included).
    Complete(i64, usize),
    /// More bytes are needed.
    Incomplete,
}

fn signed_digits(input: &[u8]) -> IResult<&[u8], &[u8]> {
    terminated(
        recognize(pair(opt(tag(&b"-"[..])), digit1)),
        tag(&b"\r\n"[..]),
    )
    .parse(input)
}

/// Parses the decimal that follows the type byte at `input[0]`.
///
/// The common case (a complete, non-negative length of up to 18 digits without a leading
/// zero) is read by a direct scan; everything else goes through the nom grammar in
/// [`header_by_grammar`], which defines the format. Tests check that both agree.
#[inline]
pub(crate) fn header(input: &[u8]) -> Result<Header, RespError> {
    if let Some((value, used)) = plain_decimal(&input[1..]) {
        return Ok(Header::Complete(value as i64, used + 1));
    }
    header_by_grammar(input)
}

/// A decimal in its plain form at the start of `body`: 1 to 18 digits without a leading zero
/// (a lone `0` is plain), then CRLF. Its value and the bytes used, CRLF included; `None` for
/// anything else, an incomplete header included.
#[inline(always)]
pub(crate) fn plain_decimal(body: &[u8]) -> Option<(u64, usize)> {
    let mut value: u64 = 0;
    let mut digits = 0;
    while let Some(&b) = body.get(digits) {
        if !b.is_ascii_digit() || digits == 18 {
            break;
        }
        value = value * 10 + u64::from(b - b'0');
        digits += 1;
    }
    let plain = digits > 0
        && body.get(digits) == Some(&b'\r')
        && body.get(digits + 1) == Some(&b'\n')
        && (body[0] != b'0' || digits == 1);
    plain.then_some((value, digits + 2))
}

/// The header grammar, in nom: optional `-`, digits, CRLF; strict integer rules on top.
pub(crate) fn header_by_grammar(input: &[u8]) -> Result<Header, RespError> {
    // Sign and digits that leave no room for CRLF within the cap: too long, whatever follows
    // and however the bytes were cut.
    let body = &input[1..];
    let sign = usize::from(body.first() == Some(&b'-'));
    let digits = body[sign..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    if 1 + sign + digits >= MAX_HEADER_LEN - 1 {
        return Err(RespError::HeaderTooLong);
    }
    match signed_digits(&input[1..]) {
        Ok((rest, _)) if input.len() - rest.len() >= MAX_HEADER_LEN => {
            // The same verdict as when the header arrives a byte at a time.
            Err(RespError::HeaderTooLong)
        }
        Ok((rest, digits)) => {
            let value = parse_i64(digits).ok_or(RespError::InvalidLength)?;
            Ok(Header::Complete(value, input.len() - rest.len()))
        }
        Err(nom::Err::Incomplete(_)) if input.len() >= MAX_HEADER_LEN => {
            Err(RespError::HeaderTooLong)
        }
        Err(nom::Err::Incomplete(_)) => Ok(Header::Incomplete),
        Err(_) => Err(RespError::InvalidLength),
    }
}

/// Redis's strict integer rule: optional `-`, no `+`, no leading zeros, fits in an i64.
pub fn parse_i64(digits: &[u8]) -> Option<i64> {
    let (negative, body) = match digits.split_first() {
        Some((b'-', body)) => (true, body),
        _ => (false, digits),
    };
    if body.is_empty() || (body[0] == b'0' && body.len() > 1) || (negative && body == b"0") {
        return None;
    }
    let mut value: i64 = 0;
    for &b in body {
        if !b.is_ascii_digit() {
            return None;
        }
        let digit = i64::from(b - b'0');
        value = if negative {
            value.checked_mul(10)?.checked_sub(digit)?
        } else {
            value.checked_mul(10)?.checked_add(digit)?
        };
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn fast_path_agrees_with_the_grammar(
            kind in prop::sample::select(vec![b'*', b'$', b':']),
            body in prop::collection::vec(
                prop::sample::select(b"0123456789-\r\nx".to_vec()), 0..30),
        ) {
            let mut input = vec![kind];
            input.extend_from_slice(&body);
            prop_assert_eq!(header(&input), header_by_grammar(&input));
        }

        #[test]
        fn fast_path_agrees_on_numbers(value in any::<i64>(), zeros in 0usize..3, tail in 0usize..3) {
            let mut input = format!("${}{}", "0".repeat(zeros), value).into_bytes();
            input.extend_from_slice(&b"\r\nxyz"[..tail + 1]);
            prop_assert_eq!(header(&input), header_by_grammar(&input));
        }
    }

    #[test]
    fn strict_integers() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-1"), Some(-1));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"+5",
            b"05",
            b"-0",
            b"9223372036854775808",
            b"1a",
            b" 1",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn headers_wait_then_complete() {
        assert!(matches!(header(b"*3"), Ok(Header::Incomplete)));
        assert!(matches!(header(b"*3\r"), Ok(Header::Incomplete)));
        assert!(matches!(header(b"*3\r\n"), Ok(Header::Complete(3, 4))));
        assert!(matches!(header(b"$-1\r\nxx"), Ok(Header::Complete(-1, 5))));
        assert_eq!(header(b"$1x\r\n").err(), Some(RespError::InvalidLength));
        assert_eq!(header(b"$0123\r\n").err(), Some(RespError::InvalidLength));
        assert_eq!(
            header(b"$11111111111111111111111111").err(),
            Some(RespError::HeaderTooLong)
        );
    }
}
