//! Core issues found by the fuzzers, the property tests and the reading of the test kit, each
//! reduced to its smallest input and kept as a regression test. All were fixed in the core.

use std::time::Instant;

use replproto::replica::{CloseReason, Event, Phase, ProtocolError, Replica, ReplicaConfig};
use replproto::resp::{CommandDecoder, RespError};
use replproto::{Checkpoint, Limits, Offset, ReplId};

fn closed(replica: &mut Replica) -> Option<CloseReason> {
    std::iter::from_fn(|| replica.poll_event()).find_map(|e| match e {
        Event::Closed(reason) => Some(reason),
        _ => None,
    })
}

fn streaming_replica(t0: Instant) -> Replica {
    let resume = Checkpoint {
        replid: ReplId::parse(b"e8120531390c7d051bcb7f000ce2b93dfe8b7184").unwrap(),
        offset: Offset(1000),
        db: 0,
    };
    let mut replica = Replica::new(ReplicaConfig::new(6380), Some(resume), t0).unwrap();
    replica.handle_input(t0, b"+PONG\r\n+OK\r\n+OK\r\n+CONTINUE\r\n");
    assert_eq!(replica.phase(), Phase::Streaming);
    replica
}

/// Found by the `chunking` fuzz target (fuzz/corpus/chunking/08e0a05c…): a header whose
/// digits run past the 24-byte header cap and then meet a byte that is neither a digit nor
/// CR got `InvalidLength` when it arrived in one read, `HeaderTooLong` when the digits
/// arrived first. The verdict must not depend on how the bytes were cut.
#[test]
fn header_verdict_does_not_depend_on_chunking() {
    for kind in [&b"*"[..], b"*1\r\n$"] {
        let mut input = kind.to_vec();
        input.extend([b'0'; 30]);
        input.push(b'\t');
        let split = kind.len() + 29;

        let mut whole = CommandDecoder::new(Limits::DEFAULT);
        let whole = whole.decode(&input);
        let mut pieces = CommandDecoder::new(Limits::DEFAULT);
        let first = pieces.decode(&input[..split]);
        let pieces = match first {
            Ok(_) => pieces.decode(&input),
            Err(e) => Err(e),
        };
        assert_eq!(
            whole,
            pieces,
            "decoder, header after {:?}",
            String::from_utf8_lossy(kind)
        );

        let t0 = Instant::now();
        let mut a = streaming_replica(t0);
        a.handle_input(t0, &input);
        let mut b = streaming_replica(t0);
        b.handle_input(t0, &input[..split]);
        b.handle_input(t0, &input[split..]);
        let (a, b) = (closed(&mut a), closed(&mut b));
        assert!(matches!(
            a,
            Some(CloseReason::Protocol(ProtocolError::Resp {
                error: RespError::InvalidLength | RespError::HeaderTooLong,
                ..
            }))
        ));
        assert_eq!(
            a,
            b,
            "replica, header after {:?}",
            String::from_utf8_lossy(kind)
        );
    }
}

/// Found by the session state-machine test: `Master::start_snapshot` (and so
/// `send_snapshot`) for a session that can no longer take one (here it closed while the
/// application was producing the snapshot) returned a misuse error but still forgot the
/// stream's selected database, so the next write of every other replica was preceded by a
/// redundant `SELECT`. A refused call changes nothing.
#[test]
fn a_refused_snapshot_leaves_the_stream_alone() {
    use replproto::master::{Master, MasterConfig, MasterEvent};
    use replproto_testkit::log::resp;

    let t0 = Instant::now();
    let mut master = Master::new(MasterConfig::default(), [1; 32], t0);
    let session = master.add_session(t0);
    master.handle_input(session, t0, &resp(&["PSYNC", "?", "-1"]));
    assert!(std::iter::from_fn(|| master.poll_event())
        .any(|e| matches!(e, MasterEvent::SnapshotNeeded { .. })));
    master.propagate(Some(1), &["SET", "a", "1"]);
    master.handle_eof(session, t0);
    assert!(master
        .send_snapshot(session, t0, bytes::Bytes::from_static(b"RDB"))
        .is_err());
    let before = master.offset().get();
    master.propagate(Some(1), &["SET", "a", "2"]);
    assert_eq!(
        master.offset().get() - before,
        resp(&["SET", "a", "2"]).len() as u64,
        "a SELECT was emitted although database 1 was still selected"
    );
}

/// Found reading the core change that handed keepalive bytes out with the next command: the
/// replica stashed every empty line or empty array of the stream until a command arrived,
/// without a cap, appending to the stash by copying it whole. A master sending newlines
/// (200 KB here) made the replica hold all of them, past every limit it was given, and spend
/// time quadratic in their number (800 KB took 21 s). Now only their count is kept
/// (`Command::preceding_len`).
#[test]
fn stream_keepalives_stay_bounded() {
    let t0 = Instant::now();
    let limits = Limits::DEFAULT
        .with_max_line_len(256)
        .with_max_frame_len(4096);
    let resume = Checkpoint {
        replid: ReplId::parse(b"e8120531390c7d051bcb7f000ce2b93dfe8b7184").unwrap(),
        offset: Offset(1000),
        db: 0,
    };
    let config = ReplicaConfig::new(6380).with_limits(limits);
    let mut replica = Replica::new(config, Some(resume), t0).unwrap();
    replica.handle_input(t0, b"+PONG\r\n+OK\r\n+OK\r\n+CONTINUE\r\n");
    assert_eq!(replica.phase(), Phase::Streaming);
    while replica.poll_event().is_some() {}
    let newlines = vec![b'\n'; 200 * 1024];
    let started = std::time::Instant::now();
    for chunk in newlines.chunks(16 * 1024) {
        replica.handle_input(t0, chunk);
        // Stream input is decoded when events are asked for: once they are drained, the
        // keepalives are counted, not held. Nothing is left (the limits would allow one
        // incomplete frame of at most 4096 bytes).
        let events: Vec<Event> = std::iter::from_fn(|| replica.poll_event()).collect();
        assert!(events.is_empty(), "keepalives are no events: {events:?}");
        assert_eq!(
            replica.buffered(),
            0,
            "keepalive bytes held after the events were drained"
        );
    }
    let took = started.elapsed();
    replica.handle_input(t0, b"*1\r\n$4\r\nping\r\n");
    let preceding = std::iter::from_fn(|| replica.poll_event())
        .find_map(|e| match e {
            Event::Command(c) => Some(c.preceding_len),
            _ => None,
        })
        .expect("the PING is delivered");
    assert_eq!(replica.offset(), Some(Offset(1000 + 200 * 1024 + 14)));
    assert_eq!(preceding, 200 * 1024, "every keepalive byte is counted");
    assert!(took.as_secs() < 2, "200 KB of newlines took {took:?}");
}

/// Found by the `resp_decode` fuzz target (fuzz/corpus/resp_decode/1e9de342… and d73eca9f…,
/// reduced here): `decode_frame` read `+\r\r\n` as a simple string holding a lone CR, which
/// `encode_frame` refuses (a debug assertion, so a panic in debug builds), and took a bare LF
/// as a line end, so a line just under the length cap re-encoded (with CRLF) one byte over
/// it. Every decoded reply must re-encode.
#[test]
fn decoded_lines_re_encode() {
    use bytes::{Bytes, BytesMut};
    use replproto::resp::{decode_frame, Frame};
    let limits = Limits::DEFAULT.with_max_line_len(1024);
    let mut long = b"+".to_vec();
    long.extend([b'a'; 1022]);
    long.push(b'\n');
    // The longest line the cap allows, CRLF included.
    let mut longest = b"+".to_vec();
    longest.extend([b'a'; 1021]);
    longest.extend_from_slice(b"\r\n");
    type Decoded = Result<Option<Frame>, RespError>;
    let cases: [(&[u8], Decoded); 7] = [
        // A CR inside a line and a bare LF as a line end are refused.
        (b"+\r\r\n", Err(RespError::InvalidLine)),
        (b"-ERR a\rb\r\n", Err(RespError::InvalidLine)),
        (b"+OK\n", Err(RespError::InvalidLine)),
        (&long, Err(RespError::InvalidLine)),
        // Their well-formed neighbours decode, and re-encode to the same bytes.
        (
            b"+OK\r\n",
            Ok(Some(Frame::Simple(Bytes::from_static(b"OK")))),
        ),
        (
            b"-ERR a b\r\n",
            Ok(Some(Frame::Error(Bytes::from_static(b"ERR a b")))),
        ),
        (
            &longest,
            Ok(Some(Frame::Simple(Bytes::from(vec![b'a'; 1021])))),
        ),
    ];
    for (input, expected) in cases {
        let mut buf = BytesMut::from(input);
        let decoded = decode_frame(&mut buf, &limits);
        assert_eq!(decoded, expected, "{input:?}");
        let Ok(Some(frame)) = decoded else {
            continue;
        };
        assert!(buf.is_empty(), "{input:?}: {} bytes left", buf.len());
        if let Frame::Simple(text) | Frame::Error(text) = &frame {
            assert!(
                !text.contains(&b'\r'),
                "{input:?} decodes to a line the encoder refuses: {text:?}"
            );
        }
        let mut again = BytesMut::new();
        replproto::resp::encode_frame(&mut again, &frame);
        assert_eq!(&again[..], input, "re-encoded");
        assert_eq!(
            decode_frame(&mut again, &limits),
            Ok(Some(frame)),
            "{input:?}"
        );
    }
}
