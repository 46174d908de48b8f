//! Writing RESP.

use bytes::{BufMut, BytesMut};

use super::Frame;

/// Appends the decimal digits of `value` to `out` (a `BytesMut`, a `Vec<u8>`, …).
pub fn write_decimal(out: &mut impl BufMut, value: i64) {
    if value < 0 {
        out.put_u8(b'-');
    }
    write_unsigned(out, value.unsigned_abs());
}

/// Appends the decimal digits of an unsigned `value` to `out` (a `BytesMut`, a `Vec<u8>`, …),
/// without allocating.
pub fn write_unsigned(out: &mut impl BufMut, value: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = value;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.put_slice(&digits[at..]);
}

/// Appends `<kind><len>\r\n`, the header of an array or a bulk string.
fn put_header(out: &mut BytesMut, kind: u8, len: usize) {
    out.put_u8(kind);
    write_unsigned(out, len as u64);
    out.put_slice(b"\r\n");
}

/// Appends `*<len>\r\n`.
pub fn encode_array_header(out: &mut BytesMut, len: usize) {
    put_header(out, b'*', len);
}

/// Appends one bulk string.
pub fn encode_bulk(out: &mut BytesMut, data: &[u8]) {
    put_header(out, b'$', data.len());
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

/// Appends `value` as a bulk string of its decimal digits (`$<n>\r\n<digits>\r\n`), without
/// formatting it anywhere first: a command argument that is a number.
pub fn encode_bulk_unsigned(out: &mut BytesMut, value: u64) {
    let digits = value.checked_ilog10().map_or(1, |log| log + 1);
    put_header(out, b'$', digits as usize);
    write_unsigned(out, value);
    out.put_slice(b"\r\n");
}

/// Appends a command: an array of bulk strings.
pub fn encode_command<A: AsRef<[u8]>>(out: &mut BytesMut, args: &[A]) {
    encode_array_header(out, args.len());
    for arg in args {
        encode_bulk(out, arg.as_ref());
    }
}

/// Appends `+<text>\r\n`. The text must not contain CR or LF.
pub fn encode_simple(out: &mut BytesMut, text: &[u8]) {
    debug_assert!(!text.contains(&b'\n') && !text.contains(&b'\r'));
    out.put_u8(b'+');
    out.put_slice(text);
    out.put_slice(b"\r\n");
}

/// Appends `-<text>\r\n`. The text must not contain CR or LF.
pub fn encode_error(out: &mut BytesMut, text: &[u8]) {
    debug_assert!(!text.contains(&b'\n') && !text.contains(&b'\r'));
    out.put_u8(b'-');
    out.put_slice(text);
    out.put_slice(b"\r\n");
}

/// Appends `:<value>\r\n`.
pub fn encode_integer(out: &mut BytesMut, value: i64) {
    out.put_u8(b':');
    write_decimal(out, value);
    out.put_slice(b"\r\n");
}

/// Appends any value.
pub fn encode_frame(out: &mut BytesMut, frame: &Frame) {
    match frame {
        Frame::Simple(text) => encode_simple(out, text),
        Frame::Error(text) => encode_error(out, text),
        Frame::Integer(value) => encode_integer(out, *value),
        Frame::Bulk(data) => encode_bulk(out, data),
        Frame::NullBulk => out.put_slice(b"$-1\r\n"),
        Frame::NullArray => out.put_slice(b"*-1\r\n"),
        Frame::Array(items) => {
            encode_array_header(out, items.len());
            for item in items {
                encode_frame(out, item);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_bulk_is_the_bulk_of_its_digits() {
        for value in [0, 9, 10, 99, 100, 12_345, u64::MAX] {
            let (mut direct, mut formatted) = (BytesMut::new(), BytesMut::new());
            encode_bulk_unsigned(&mut direct, value);
            encode_bulk(&mut formatted, value.to_string().as_bytes());
            assert_eq!(direct, formatted, "{value}");
        }
    }

    #[test]
    fn exact_handshake_bytes() {
        let mut out = BytesMut::new();
        encode_command(&mut out, &["REPLCONF", "listening-port", "6380"]);
        assert_eq!(
            &out[..],
            b"*3\r\n$8\r\nREPLCONF\r\n$14\r\nlistening-port\r\n$4\r\n6380\r\n"
        );
    }

    #[test]
    fn decimals() {
        for value in [0, 7, -1, 1000, i64::MAX, i64::MIN] {
            let mut out = BytesMut::new();
            write_decimal(&mut out, value);
            assert_eq!(&out[..], value.to_string().as_bytes());
        }
    }
}
