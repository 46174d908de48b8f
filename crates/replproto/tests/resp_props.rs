//! RESP round trips: whatever the encoder writes, the decoders read back exactly, consuming
//! exactly its bytes, and any incomplete prefix means "wait for more".

mod common;

use bytes::{Bytes, BytesMut};
use common::*;
use proptest::prelude::*;
use replproto::resp::{
    decode_frame, encode_command, encode_frame, parse_decimal, parse_line, write_decimal,
    CommandDecoder, CommandFrame, Decoded, Frame, RespError,
};
use replproto::Limits;

const REGRESSIONS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/proptest-regressions/resp_props.txt"
);

/// Text of a simple string or error: anything but CR and LF.
fn line_text() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(
        any::<u8>().prop_filter("no CR/LF", |b| *b != b'\r' && *b != b'\n'),
        0..24,
    )
    .prop_map(Bytes::from)
}

fn bulk() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..48),
        // Payloads that look like RESP themselves.
        prop::collection::vec(prop::sample::select(&b"\r\n*$+-:0123456789"[..]), 0..16),
    ]
    .prop_map(Bytes::from)
}

fn frame() -> impl Strategy<Value = Frame> {
    let leaf = prop_oneof![
        line_text().prop_map(Frame::Simple),
        line_text().prop_map(Frame::Error),
        any::<i64>().prop_map(Frame::Integer),
        bulk().prop_map(Frame::Bulk),
        Just(Frame::NullBulk),
        Just(Frame::NullArray),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop::collection::vec(inner, 0..6).prop_map(Frame::Array)
    })
}

fn encoded(frame: &Frame) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode_frame(&mut out, frame);
    out.to_vec()
}

/// A reference encoder, written from the RESP2 specification.
fn reference(frame: &Frame, out: &mut Vec<u8>) {
    match frame {
        Frame::Simple(t) => {
            out.push(b'+');
            out.extend_from_slice(t);
            out.extend_from_slice(b"\r\n");
        }
        Frame::Error(t) => {
            out.push(b'-');
            out.extend_from_slice(t);
            out.extend_from_slice(b"\r\n");
        }
        Frame::Integer(n) => out.extend_from_slice(format!(":{n}\r\n").as_bytes()),
        Frame::Bulk(b) => {
            out.extend_from_slice(format!("${}\r\n", b.len()).as_bytes());
            out.extend_from_slice(b);
            out.extend_from_slice(b"\r\n");
        }
        Frame::NullBulk => out.extend_from_slice(b"$-1\r\n"),
        Frame::NullArray => out.extend_from_slice(b"*-1\r\n"),
        Frame::Array(items) => {
            out.extend_from_slice(format!("*{}\r\n", items.len()).as_bytes());
            for item in items {
                reference(item, out);
            }
        }
    }
}

fn args() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(bulk().prop_map(|b| b.to_vec()), 1..8)
}

/// Feeds `wire` to a command decoder through a growing buffer cut at `cuts`, removing each
/// frame as it is returned; collects what it decoded.
/// A decoded command: its wire bytes and its arguments.
type DecodedCommand = (Vec<u8>, Vec<Vec<u8>>);

fn decode_commands(wire: &[u8], cuts: &[usize]) -> Result<Vec<DecodedCommand>, RespError> {
    let mut decoder = CommandDecoder::new(Limits::DEFAULT);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in split_at_points(wire, cuts) {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&buf)? {
                Decoded::Incomplete => break,
                Decoded::Command { len, args } => {
                    assert!(len <= buf.len());
                    let frame = CommandFrame::new(buf.split_to(len).freeze(), args);
                    out.push((
                        frame.raw().to_vec(),
                        frame.args().map(<[u8]>::to_vec).collect(),
                    ));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert!(buf.is_empty(), "bytes left: {buf:?}");
    Ok(out)
}

proptest! {
    #![proptest_config(prop_config(256, REGRESSIONS))]

    /// encode_frame writes RESP2 as specified; decode_frame gives back the same frame and
    /// consumes exactly its bytes, leaving what follows.
    #[test]
    fn frames_round_trip(f in frame(), trailing in prop::collection::vec(any::<u8>(), 0..8)) {
        let wire = encoded(&f);
        let mut expected = Vec::new();
        reference(&f, &mut expected);
        prop_assert_eq!(&wire, &expected);
        let mut buf = BytesMut::from(&wire[..]);
        buf.extend_from_slice(&trailing);
        let decoded = decode_frame(&mut buf, &Limits::DEFAULT).unwrap();
        prop_assert_eq!(decoded, Some(f));
        prop_assert_eq!(&buf[..], &trailing[..]);
    }

    /// Every proper prefix of an encoded frame is incomplete, and consumes nothing.
    #[test]
    fn frame_prefixes_are_incomplete(f in frame()) {
        let wire = encoded(&f);
        for end in 0..wire.len() {
            let mut buf = BytesMut::from(&wire[..end]);
            prop_assert_eq!(decode_frame(&mut buf, &Limits::DEFAULT), Ok(None), "prefix {}", end);
            prop_assert_eq!(buf.len(), end);
        }
    }

    /// Several frames back to back decode one after another.
    #[test]
    fn frame_sequences_round_trip(frames in prop::collection::vec(frame(), 1..5)) {
        let mut buf = BytesMut::new();
        for f in &frames {
            buf.extend_from_slice(&encoded(f));
        }
        for f in &frames {
            prop_assert_eq!(decode_frame(&mut buf, &Limits::DEFAULT).unwrap(), Some(f.clone()));
        }
        prop_assert!(buf.is_empty());
    }

    /// encode_command writes an array of bulk strings; the command decoder returns the same
    /// arguments and exact wire bytes, whatever the chunking.
    #[test]
    fn commands_round_trip_for_any_split(
        commands in prop::collection::vec(args(), 1..5),
        cuts in prop::collection::vec(0usize..600, 0..20),
    ) {
        let mut wire = Vec::new();
        let mut expected = Vec::new();
        for args in &commands {
            let mut one = BytesMut::new();
            encode_command(&mut one, args);
            prop_assert_eq!(&one[..], &cmd(args)[..]);
            wire.extend_from_slice(&one);
            expected.push((one.to_vec(), args.clone()));
        }
        prop_assert_eq!(decode_commands(&wire, &cuts).unwrap(), expected.clone());
        // One byte at a time.
        let every: Vec<usize> = (0..wire.len()).collect();
        prop_assert_eq!(decode_commands(&wire, &every).unwrap(), expected);
    }

    /// A command's proper prefixes are incomplete, for a fresh decoder each time.
    #[test]
    fn command_prefixes_are_incomplete(args in args()) {
        let wire = cmd(&args);
        for end in 0..wire.len() {
            let mut decoder = CommandDecoder::new(Limits::DEFAULT);
            let got = decoder.decode(&wire[..end]);
            prop_assert_eq!(got, Ok(Decoded::Incomplete), "prefix {}", end);
        }
    }

    /// Decimals as written are read back; anything else is refused, never misread.
    #[test]
    fn decimals_round_trip(n in any::<i64>()) {
        let mut out = BytesMut::new();
        write_decimal(&mut out, n);
        let text = n.to_string();
        prop_assert_eq!(&out[..], text.as_bytes());
        prop_assert_eq!(parse_decimal(&out), Some(n));
        let mut plus = b"+".to_vec();
        plus.extend_from_slice(&out);
        prop_assert_eq!(parse_decimal(&plus), None);
    }

    /// Lines: the text without CR LF, and the bytes used.
    #[test]
    fn lines_round_trip(
        text in line_text(),
        crlf in any::<bool>(),
        rest in prop::collection::vec(any::<u8>(), 0..8),
    ) {
        let mut wire = text.to_vec();
        wire.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
        let used = wire.len();
        wire.extend_from_slice(&rest);
        let line = parse_line(&wire, 1024).unwrap().unwrap();
        prop_assert_eq!(line.text, &text[..]);
        prop_assert_eq!(line.consumed, used);
        for end in 0..used {
            prop_assert_eq!(parse_line(&wire[..end], 1024), Ok(None));
        }
    }

    /// Arbitrary bytes never panic a decoder; a returned length is within the input.
    #[test]
    fn decoders_survive_arbitrary_bytes(
        data in prop::collection::vec(
            prop_oneof![
                prop::sample::select(&b"\r\n*$+-:0123456789"[..]),
                any::<u8>(),
            ],
            0..64,
        ),
    ) {
        let limits = Limits::DEFAULT.with_max_bulk_len(32).with_max_args(8).with_max_frame_len(64);
        let mut decoder = CommandDecoder::new(limits);
        match decoder.decode(&data) {
            Ok(
                Decoded::Command { len, .. }
                | Decoded::Inline { len, .. }
                | Decoded::Keepalive { len },
            ) => {
                prop_assert!(len > 0 && len <= data.len());
            }
            Ok(Decoded::Incomplete) | Err(_) => {}
        }
        let mut buf = BytesMut::from(&data[..]);
        let before = buf.len();
        match decode_frame(&mut buf, &limits.with_max_depth(3)) {
            Ok(Some(f)) => {
                // What was consumed reads back as the same frame (a bare LF may end a line, so
                // it need not be the canonical encoding).
                let used = before - buf.len();
                prop_assert!(used > 0);
                let mut again = BytesMut::from(&data[..used]);
                prop_assert_eq!(decode_frame(&mut again, &limits.with_max_depth(3)), Ok(Some(f)));
                prop_assert!(again.is_empty());
            }
            Ok(None) | Err(_) => prop_assert_eq!(buf.len(), before),
        }
    }
}

#[test]
fn limits_are_checked_on_the_declared_size() {
    let limits = Limits::DEFAULT
        .with_max_bulk_len(16)
        .with_max_args(4)
        .with_max_depth(2)
        .with_max_frame_len(64);
    let cases: [(&[u8], RespError); 5] = [
        (b"$17\r\n", RespError::BulkTooLarge { len: 17, limit: 16 }),
        (b"*5\r\n", RespError::TooManyArgs { count: 5, limit: 4 }),
        (b"*1\r\n*1\r\n*1\r\n", RespError::TooDeep { limit: 2 }),
        (b"%1\r\n", RespError::UnknownType(b'%')),
        (b":1x\r\n", RespError::InvalidInteger),
    ];
    for (wire, error) in cases {
        let mut buf = BytesMut::from(wire);
        assert_eq!(decode_frame(&mut buf, &limits), Err(error), "{wire:?}");
        assert_eq!(&buf[..], wire, "nothing consumed on error");
    }
}
