//! How `replctl tail` prints a propagated command: `text`, `resp` or `json`, one command per
//! line (`resp` is the raw stream, byte for byte).

use std::fmt;

use replproto::replica::Command;
use replproto::resp::write_unsigned;

/// An output format of `replctl tail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// As `redis-cli --replica` prints: every argument double-quoted and escaped as Redis's
    /// `sdscatrepr` does (`\\`, `\"`, `\n`, `\r`, `\t`, `\a`, `\b`, other bytes outside
    /// printable ASCII as `\xHH`), joined by commas: `"SET","k","v"`.
    #[default]
    Text,
    /// The command's exact bytes as they crossed the link, after one `\n` for each keepalive
    /// byte the master sent before it (the core counts those bytes without keeping them;
    /// masters send none in a stream in practice): the concatenated output is the replication
    /// stream after the snapshot, offsets included.
    Resp,
    /// One JSON object per line: `{"offset":N,"db":N,"cmd":["SET","k","v"]}`. `offset` is the
    /// stream offset of the command's last byte, `db` the database it runs in. Each string holds
    /// one character per byte: printable ASCII as itself (`"` and `\` escaped), every other byte
    /// as `\u00XX`, so decoding a string as Latin-1 (ISO-8859-1) gives back the exact bytes.
    Json,
}

impl Format {
    /// The format named `name` (`text`, `resp` or `json`).
    ///
    /// # Errors
    ///
    /// A message listing the three names.
    pub fn parse(name: &str) -> Result<Format, String> {
        match name {
            "text" => Ok(Format::Text),
            "resp" => Ok(Format::Resp),
            "json" => Ok(Format::Json),
            _ => Err(format!("invalid format {name:?}: use text, resp or json")),
        }
    }

    /// Appends `cmd` in this format to `out` (with its line end, except for `resp`).
    pub fn render(self, cmd: &Command, out: &mut Vec<u8>) {
        match self {
            Format::Text => {
                text_line(cmd.frame.args(), out);
                out.push(b'\n');
            }
            Format::Resp => {
                let keepalives = usize::try_from(cmd.preceding_len).unwrap_or(usize::MAX);
                out.resize(out.len().saturating_add(keepalives), b'\n');
                out.extend_from_slice(cmd.frame.raw());
            }
            Format::Json => {
                out.extend_from_slice(b"{\"offset\":");
                write_unsigned(out, cmd.offset.get());
                out.extend_from_slice(b",\"db\":");
                write_unsigned(out, u64::from(cmd.db));
                out.extend_from_slice(b",\"cmd\":[");
                for (i, arg) in cmd.frame.args().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    json_string(arg, out);
                }
                out.extend_from_slice(b"]}\n");
            }
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Text => "text",
            Format::Resp => "resp",
            Format::Json => "json",
        })
    }
}

/// Appends the arguments as `redis-cli --replica` prints a command: each one quoted with
/// [`quote`], separated by commas.
pub fn text_line<'a>(args: impl IntoIterator<Item = &'a [u8]>, out: &mut Vec<u8>) {
    for (i, arg) in args.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        quote(arg, out);
    }
}

/// Appends `bytes` double-quoted and escaped as Redis's `sdscatrepr` does.
pub fn quote(bytes: &[u8], out: &mut Vec<u8>) {
    quoted(bytes, out, |b, out| match b {
        b'\\' => out.extend_from_slice(b"\\\\"),
        b'"' => out.extend_from_slice(b"\\\""),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        0x07 => out.extend_from_slice(b"\\a"),
        0x08 => out.extend_from_slice(b"\\b"),
        _ => {
            out.extend_from_slice(b"\\x");
            push_hex(b, out);
        }
    });
}

/// Appends `bytes` as a JSON string, one character per byte (see [`Format::Json`]).
pub fn json_string(bytes: &[u8], out: &mut Vec<u8>) {
    quoted(bytes, out, |b, out| match b {
        b'\\' => out.extend_from_slice(b"\\\\"),
        b'"' => out.extend_from_slice(b"\\\""),
        _ => {
            out.extend_from_slice(b"\\u00");
            push_hex(b, out);
        }
    });
}

/// Appends `bytes` between double quotes: runs of printable ASCII other than `"` and `\` are
/// copied whole (most arguments are one such run), every other byte is written by `escape`.
fn quoted(bytes: &[u8], out: &mut Vec<u8>, escape: impl Fn(u8, &mut Vec<u8>)) {
    out.push(b'"');
    let mut rest = bytes;
    while let Some(at) = rest
        .iter()
        .position(|&b| !matches!(b, 0x20..=0x7e) || b == b'"' || b == b'\\')
    {
        out.extend_from_slice(&rest[..at]);
        escape(rest[at], out);
        rest = &rest[at + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

fn push_hex(b: u8, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(HEX[usize::from(b >> 4)]);
    out.push(HEX[usize::from(b & 0xf)]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use replproto::replica::CommandKind;
    use replproto::resp::{encode_command, CommandDecoder, CommandFrame, Decoded};
    use replproto::{Limits, Offset};

    fn command(args: &[&[u8]], offset: u64, db: u32, preceding_len: u64) -> Command {
        let mut wire = BytesMut::new();
        encode_command(&mut wire, args);
        let Ok(Decoded::Command { len, args }) = CommandDecoder::new(Limits::DEFAULT).decode(&wire)
        else {
            panic!("not a command")
        };
        Command {
            frame: CommandFrame::new(wire.split_to(len).freeze(), args),
            offset: Offset(offset),
            db,
            kind: CommandKind::Other,
            preceding_len,
        }
    }

    fn rendered(format: Format, cmd: &Command) -> String {
        let mut out = Vec::new();
        format.render(cmd, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn text_is_redis_cli_replica_output() {
        let cmd = command(&[b"SET", b"cli-seen", b"1"], 10, 0, 0);
        assert_eq!(rendered(Format::Text, &cmd), "\"SET\",\"cli-seen\",\"1\"\n");
        let cmd = command(&[b"ping"], 10, 0, 0);
        assert_eq!(rendered(Format::Text, &cmd), "\"ping\"\n");
        let odd = command(
            &[b"SET", b"a\"b\\c", b"\r\n\t\x07\x08\x00\x7f\xc3\xa9 ~"],
            10,
            0,
            0,
        );
        assert_eq!(
            rendered(Format::Text, &odd),
            "\"SET\",\"a\\\"b\\\\c\",\"\\r\\n\\t\\a\\b\\x00\\x7f\\xc3\\xa9 ~\"\n"
        );
    }

    #[test]
    fn json_has_offset_db_and_lossless_strings() {
        let cmd = command(&[b"SET", b"k", b"v"], 1234, 5, 0);
        assert_eq!(
            rendered(Format::Json, &cmd),
            "{\"offset\":1234,\"db\":5,\"cmd\":[\"SET\",\"k\",\"v\"]}\n"
        );
        let odd = command(&[b"SET", b"\"\\/", b"\n\x00\x7f\xc3\xa9\xff"], 1, 0, 0);
        assert_eq!(
            rendered(Format::Json, &odd),
            "{\"offset\":1,\"db\":0,\"cmd\":[\"SET\",\"\\\"\\\\/\",\
             \"\\u000a\\u0000\\u007f\\u00c3\\u00a9\\u00ff\"]}\n"
        );
        // Every byte value comes back by reading the string as Latin-1.
        let all: Vec<u8> = (0..=255).collect();
        let mut out = Vec::new();
        json_string(&all, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(latin1_json_decode(&text), all);
    }

    /// A minimal decoder for the strings [`json_string`] writes.
    fn latin1_json_decode(text: &str) -> Vec<u8> {
        let inner = &text[1..text.len() - 1];
        let mut bytes = Vec::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next().unwrap() {
                    'u' => {
                        let hex: String = chars.by_ref().take(4).collect();
                        bytes.push(u8::try_from(u32::from_str_radix(&hex, 16).unwrap()).unwrap());
                    }
                    other => bytes.push(other as u8),
                }
            } else {
                bytes.push(c as u8);
            }
        }
        bytes
    }

    #[test]
    fn strings_render_as_their_bytes_one_by_one() {
        // Copying runs whole gives what escaping each byte on its own gives.
        let mut input: Vec<u8> = (0..=255).collect();
        input.extend_from_slice(b"a plain run, \"quoted\" \\ and\r\n");
        for render in [quote as fn(&[u8], &mut Vec<u8>), json_string] {
            let mut whole = Vec::new();
            render(&input, &mut whole);
            let mut bytewise = vec![b'"'];
            for b in &input {
                let mut one = Vec::new();
                render(std::slice::from_ref(b), &mut one);
                bytewise.extend_from_slice(&one[1..one.len() - 1]);
            }
            bytewise.push(b'"');
            assert_eq!(whole, bytewise);
        }
    }

    #[test]
    fn resp_is_the_exact_stream_bytes() {
        let cmd = command(&[b"SET", b"k", b"v"], 10, 0, 1);
        assert_eq!(
            rendered(Format::Resp, &cmd),
            "\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"
        );
    }

    #[test]
    fn decimals() {
        for n in [0, 7, 10, 1234, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            write_unsigned(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
        }
    }

    #[test]
    fn names() {
        for format in [Format::Text, Format::Resp, Format::Json] {
            assert_eq!(Format::parse(&format.to_string()), Ok(format));
        }
        assert!(Format::parse("xml").is_err());
    }
}
