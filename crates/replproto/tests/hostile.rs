//! A malformed or hostile master: every case ends the link with a typed error naming what was
//! wrong, keeps memory under the configured limits, delivers exactly the valid commands before
//! the damage, reports one `Closed` and nothing after it, and never panics.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use proptest::prelude::*;
use replproto::rdb::{ChecksumStatus, RdbError};
use replproto::replica::{
    CloseReason, CommandKind, ErrorReply, Event, HandshakeCommand, Phase, ProtocolError, Replica,
    ReplicaConfig,
};
use replproto::resp::RespError;
use replproto::{Checkpoint, Limits, Offset, ReplIdError};

const REGRESSIONS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/proptest-regressions/hostile.txt"
);

fn limits() -> Limits {
    Limits::DEFAULT
        .with_max_line_len(128)
        .with_max_bulk_len(64)
        .with_max_args(8)
        .with_max_frame_len(256)
        .with_max_transaction_len(200)
}

fn config() -> ReplicaConfig {
    ReplicaConfig::new(6380).with_limits(limits())
}

/// The most a replica with [`limits`] may hold of an incomplete line or frame.
fn bound() -> usize {
    limits().max_line_len.max(limits().max_frame_len)
}

fn resume() -> Checkpoint {
    Checkpoint {
        replid: replid(ID_B),
        offset: Offset(42),
        db: 4,
    }
}

fn resp(phase: Phase, error: RespError) -> CloseReason {
    CloseReason::Protocol(ProtocolError::Resp { phase, error })
}

fn protocol(error: ProtocolError) -> CloseReason {
    CloseReason::Protocol(error)
}

fn concat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Handshake, full sync at 1000, a PING (delivered, offset 1014), then `tail`.
fn streaming(tail: &[u8]) -> Vec<u8> {
    concat(&[
        HANDSHAKE_REPLIES,
        &fullresync(ID_A, 1000),
        &length_framed(&tiny_rdb()),
        PING,
        tail,
    ])
}

/// Handshake and `+FULLRESYNC`, then `tail` where the snapshot header belongs.
fn after_fullresync(tail: &[u8]) -> Vec<u8> {
    concat(&[HANDSHAKE_REPLIES, &fullresync(ID_A, 1000), tail])
}

/// Handshake, then `tail` as the reply to PSYNC.
fn psync_reply(tail: &[u8]) -> Vec<u8> {
    concat(&[HANDSHAKE_REPLIES, tail])
}

fn line(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = parts.concat();
    out.extend_from_slice(b"\r\n");
    out
}

/// What a conversation led to, the same whatever the chunking.
#[derive(Debug)]
struct Outcome {
    events: Vec<Event>,
    reason: CloseReason,
    checkpoint: Option<Checkpoint>,
    commands: Vec<(CommandKind, Offset)>,
}

/// Feeds `input` whole, in 7-byte pieces and byte by byte (then the end of the connection if
/// `eof`), checks the invariants every hostile conversation must keep, and returns the outcome.
fn run(config: ReplicaConfig, resume: Option<Checkpoint>, input: &[u8], eof: bool) -> Outcome {
    let limit = config.limits.max_line_len.max(config.limits.max_frame_len);
    let t0 = Instant::now();
    let mut outcomes: Vec<(Vec<Event>, Option<Checkpoint>)> = Vec::new();
    for piece in [input.len().max(1), 7, 1] {
        let mut replica = Replica::new(config.clone(), resume, t0).unwrap();
        let mut events = Vec::new();
        for p in input.chunks(piece) {
            replica.handle_input(t0, p);
            // Undelivered stream bytes wait in the input until asked for: at most one read
            // more than the limit, and within the limit once the events are drained.
            assert!(replica.buffered() <= limit + p.len());
            events.extend(drain_events(&mut replica));
            assert!(
                replica.buffered() <= limit,
                "buffered {} > {limit}",
                replica.buffered()
            );
            drain_sent(&mut replica);
        }
        if eof {
            replica.handle_eof(t0);
            events.extend(drain_events(&mut replica));
        }
        assert!(
            replica.is_closed(),
            "still open after {input:?}: {events:?}"
        );
        // Once closed, nothing moves.
        replica.handle_input(t0, PING);
        replica.handle_input_bytes(t0, Bytes::from_static(PING));
        replica.handle_timeout(t0 + Duration::from_secs(3600));
        replica.handle_eof(t0);
        replica.close();
        assert_eq!(drain_events(&mut replica), vec![]);
        assert_eq!(replica.poll_transmit(), None);
        assert_eq!(replica.poll_timeout(), None);
        assert_eq!(replica.buffered(), 0);
        assert_eq!(replica.phase(), Phase::Closed);
        outcomes.push((events, replica.checkpoint()));
    }
    let (events, checkpoint) = outcomes.remove(0);
    for (other, other_checkpoint) in &outcomes {
        let strip = |e: &[Event]| -> Vec<Event> {
            e.iter()
                .filter(|e| !matches!(e, Event::SnapshotChunk(_)))
                .cloned()
                .collect()
        };
        assert_eq!(strip(other), strip(&events), "chunking changed the outcome");
        assert_eq!(*other_checkpoint, checkpoint);
    }
    let reasons = closes(&events);
    assert_eq!(reasons.len(), 1, "{events:?}");
    let Some(Event::Closed(reason)) = events.last() else {
        panic!("Closed is not the last event: {events:?}");
    };
    if reason.is_protocol_error() {
        assert_eq!(checkpoint, None, "a protocol error keeps no checkpoint");
    }
    let commands = events
        .iter()
        .filter_map(|e| match e {
            Event::Command(c) => Some((c.kind, c.offset)),
            _ => None,
        })
        .collect();
    Outcome {
        reason: reason.clone(),
        events,
        checkpoint,
        commands,
    }
}

/// Runs a table of cases that must end with `expected` after the given commands.
fn table(
    config: &ReplicaConfig,
    resume: Option<Checkpoint>,
    cases: Vec<(&str, Vec<u8>, CloseReason)>,
    commands: &[(CommandKind, Offset)],
    checkpoint: Option<Checkpoint>,
) {
    for (name, input, expected) in cases {
        let outcome = run(config.clone(), resume, &input, false);
        assert_eq!(outcome.reason, expected, "{name}");
        assert_eq!(outcome.commands, commands, "{name}");
        let keep = if expected.is_protocol_error() {
            None
        } else {
            checkpoint
        };
        assert_eq!(outcome.checkpoint, keep, "{name}");
    }
}

#[test]
fn bad_framing_in_the_stream() {
    use Phase::Streaming as S;
    let mut too_big = b"*4\r\n".to_vec();
    for _ in 0..4 {
        too_big.extend(cmd(&[[b'x'; 60]])[4..].iter());
    }
    let mut long_count = b"*".to_vec();
    long_count.extend([b'1'; 30]);
    let cases: Vec<(&str, Vec<u8>, CloseReason)> = vec![
        (
            "bulk claim above the limit",
            streaming(b"*1\r\n$65\r\n"),
            resp(S, RespError::BulkTooLarge { len: 65, limit: 64 }),
        ),
        (
            "huge bulk claim",
            streaming(b"*1\r\n$9223372036854775807\r\n"),
            resp(
                S,
                RespError::BulkTooLarge {
                    len: i64::MAX as u64,
                    limit: 64,
                },
            ),
        ),
        (
            "argument count above the limit",
            streaming(b"*9\r\n"),
            resp(S, RespError::TooManyArgs { count: 9, limit: 8 }),
        ),
        (
            "huge argument count",
            streaming(b"*9223372036854775807\r\n"),
            resp(
                S,
                RespError::TooManyArgs {
                    count: i64::MAX as u64,
                    limit: 8,
                },
            ),
        ),
        (
            "frame above the limit",
            streaming(&too_big),
            resp(S, RespError::FrameTooLarge { limit: 256 }),
        ),
        (
            "negative bulk length",
            streaming(b"*1\r\n$-5\r\n"),
            resp(S, RespError::InvalidLength),
        ),
        (
            "null bulk",
            streaming(b"*1\r\n$-1\r\n"),
            resp(S, RespError::NullBulkInCommand),
        ),
        (
            "negative count",
            streaming(b"*-2\r\n"),
            resp(S, RespError::InvalidLength),
        ),
        (
            "garbage count",
            streaming(b"*x\r\n"),
            resp(S, RespError::InvalidLength),
        ),
        (
            "signed count",
            streaming(b"*+1\r\n"),
            resp(S, RespError::InvalidLength),
        ),
        (
            "garbage bulk length",
            streaming(b"*1\r\n$abc\r\n"),
            resp(S, RespError::InvalidLength),
        ),
        (
            "leading zero",
            streaming(b"*1\r\n$04\r\nping\r\n"),
            resp(S, RespError::InvalidLength),
        ),
        (
            "count without its CRLF",
            streaming(&long_count),
            resp(S, RespError::HeaderTooLong),
        ),
        (
            "missing CRLF after a bulk",
            streaming(b"*1\r\n$3\r\nSETxx"),
            resp(S, RespError::MissingCrlf),
        ),
        (
            "LF instead of CRLF after a bulk",
            streaming(b"*1\r\n$3\r\nSET\n\n"),
            resp(S, RespError::MissingCrlf),
        ),
        (
            "integer element",
            streaming(b"*1\r\n:5\r\n"),
            resp(S, RespError::ExpectedBulk(b':')),
        ),
        (
            "nested array",
            streaming(b"*1\r\n*1\r\n$4\r\nping\r\n"),
            resp(S, RespError::ExpectedBulk(b'*')),
        ),
        (
            "endless inline line",
            streaming(&[b'x'; 300]),
            resp(S, RespError::LineTooLong { limit: 128 }),
        ),
        (
            "inline command",
            streaming(b"SET a b\r\n"),
            protocol(ProtocolError::InlineCommand),
        ),
        (
            "inline PING",
            streaming(b"PING\r\n"),
            protocol(ProtocolError::InlineCommand),
        ),
    ];
    table(
        &config(),
        None,
        cases,
        &[(CommandKind::Ping, Offset(1014))],
        None,
    );
}

#[test]
fn select_without_a_valid_database() {
    let bad: [&[&[u8]]; 8] = [
        &[b"SELECT", b"abc"],
        &[b"SELECT", b"-1"],
        &[b"SELECT", b"+1"],
        &[b"SELECT", b""],
        &[b"SELECT", b"99999999999"],
        &[b"SELECT", b" 1"],
        &[b"SELECT"],
        &[b"SELECT", b"1", b"2"],
    ];
    let cases = bad
        .iter()
        .map(|args| {
            (
                "bad SELECT",
                streaming(&cmd(args)),
                protocol(ProtocolError::BadSelect),
            )
        })
        .collect();
    table(
        &config(),
        None,
        cases,
        &[(CommandKind::Ping, Offset(1014))],
        None,
    );
    // Valid forms for comparison: any case, large but in range.
    let first = cmd(&["select", "4294967295"]);
    let second = cmd(&["SeLeCt", "0"]);
    let outcome = run(
        config(),
        None,
        &streaming(&concat(&[&first, &second])),
        true,
    );
    let after_first = 1014 + first.len() as u64;
    assert_eq!(
        outcome.commands[1..],
        [
            (CommandKind::Select(u32::MAX), Offset(after_first)),
            (
                CommandKind::Select(0),
                Offset(after_first + second.len() as u64)
            ),
        ]
    );
}

#[test]
fn an_open_transaction_is_capped() {
    let mut tail = MULTI.to_vec();
    for _ in 0..8 {
        tail.extend(cmd(&["SET", "a", "b"]));
    }
    table(
        &config(),
        None,
        vec![(
            "transaction above the limit",
            streaming(&tail),
            protocol(ProtocolError::TransactionTooLarge { limit: 200 }),
        )],
        &[(CommandKind::Ping, Offset(1014))],
        None,
    );
}

#[test]
fn bad_replies_during_the_handshake() {
    let long = [b'x'; 300];
    let cases: Vec<(&str, Vec<u8>, CloseReason)> = vec![
        (
            "endless PING reply",
            long.to_vec(),
            resp(Phase::Ping, RespError::LineTooLong { limit: 128 }),
        ),
        (
            "endless REPLCONF reply",
            concat(&[b"+PONG\r\n+", &long]),
            resp(Phase::Handshake, RespError::LineTooLong { limit: 128 }),
        ),
        (
            "endless PSYNC reply",
            psync_reply(&concat(&[b"+FULLRESYNC ", &long])),
            resp(Phase::Psync, RespError::LineTooLong { limit: 128 }),
        ),
        (
            "PING answered with garbage",
            b"hello\r\n".to_vec(),
            protocol(ProtocolError::UnexpectedReply {
                command: HandshakeCommand::Ping,
                line: Bytes::from_static(b"hello"),
            }),
        ),
        (
            "PSYNC answered +OK",
            psync_reply(b"+OK\r\n"),
            protocol(ProtocolError::UnexpectedReply {
                command: HandshakeCommand::Psync,
                line: Bytes::from_static(b"+OK"),
            }),
        ),
        (
            "PSYNC answered with garbage",
            psync_reply(b"$3\r\n"),
            protocol(ProtocolError::UnexpectedReply {
                command: HandshakeCommand::Psync,
                line: Bytes::from_static(b"$3"),
            }),
        ),
    ];
    table(&config(), Some(resume()), cases, &[], Some(resume()));
}

#[test]
fn refusals_keep_the_checkpoint() {
    let refused = |phase, text: &'static [u8]| CloseReason::Refused {
        phase,
        reply: ErrorReply(Bytes::from_static(text)),
    };
    let not_ready =
        |text: &'static [u8]| CloseReason::MasterNotReady(ErrorReply(Bytes::from_static(text)));
    let cases: Vec<(&str, Vec<u8>, CloseReason)> = vec![
        (
            "PING refused",
            b"-ERR nope\r\n".to_vec(),
            refused(Phase::Ping, b"-ERR nope"),
        ),
        (
            "PING while loading (§9.1 item 5)",
            b"-LOADING Redis is loading the dataset in memory\r\n".to_vec(),
            refused(
                Phase::Ping,
                b"-LOADING Redis is loading the dataset in memory",
            ),
        ),
        (
            "PING to a master with its link down",
            b"-MASTERDOWN Link with MASTER is down\r\n".to_vec(),
            refused(Phase::Ping, b"-MASTERDOWN Link with MASTER is down"),
        ),
        (
            "PSYNC while loading",
            psync_reply(b"-LOADING Redis is loading the dataset in memory\r\n"),
            not_ready(b"-LOADING Redis is loading the dataset in memory"),
        ),
        (
            "PSYNC to a replica without master",
            psync_reply(b"-NOMASTERLINK Can't SYNC while not connected with my master\r\n"),
            not_ready(b"-NOMASTERLINK Can't SYNC while not connected with my master"),
        ),
        (
            "PSYNC to a busy master",
            psync_reply(b"-BUSY\r\n"),
            not_ready(b"-BUSY"),
        ),
    ];
    table(&config(), Some(resume()), cases, &[], Some(resume()));

    let with_password = config().with_password("secret");
    let outcome = run(
        with_password,
        Some(resume()),
        &concat(&[
            b"-NOAUTH Authentication required.\r\n",
            b"-WRONGPASS invalid username-password pair\r\n",
            b"+OK\r\n+OK\r\n",
        ]),
        false,
    );
    assert_eq!(
        outcome.reason,
        refused(
            Phase::Handshake,
            b"-WRONGPASS invalid username-password pair"
        )
    );
    assert_eq!(outcome.checkpoint, Some(resume()));
}

#[test]
fn malformed_fullresync() {
    let id = &ID_A[..];
    let bad_lines: Vec<Vec<u8>> = vec![
        line(&[b"+FULLRESYNC ", &[b'z'; 40], b" 100"]),
        line(&[b"+FULLRESYNC ", &[b'a'; 39], b" 100"]),
        line(&[b"+FULLRESYNC ", &[b'a'; 41], b" 100"]),
        line(&[b"+FULLRESYNC ", id]),
        line(&[b"+FULLRESYNC ", id, b" "]),
        line(&[b"+FULLRESYNC ", id, b" -5"]),
        line(&[b"+FULLRESYNC ", id, b" 12x"]),
        line(&[b"+FULLRESYNC ", id, b" +5"]),
        line(&[b"+FULLRESYNC ", id, b" 100 extra"]),
        line(&[b"+FULLRESYNC ", id, b"  100"]),
        line(&[b"+FULLRESYNC  ", id, b" 100"]),
        line(&[b"+FULLRESYNC ", id, b" 99999999999999999999"]),
        line(&[b"+FULLRESYNC"]),
        line(&[b"+FULLRESYNCX ", id, b" 100"]),
    ];
    let cases = bad_lines
        .into_iter()
        .map(|l| {
            let text = Bytes::copy_from_slice(&l[..l.len() - 2]);
            (
                "bad FULLRESYNC",
                psync_reply(&l),
                protocol(ProtocolError::MalformedFullResync { line: text }),
            )
        })
        .collect();
    table(&config(), Some(resume()), cases, &[], None);
}

#[test]
fn malformed_continue() {
    let cases: Vec<(&str, Vec<u8>, CloseReason)> = vec![
        (
            "short id",
            psync_reply(b"+CONTINUE xyz\r\n"),
            protocol(ProtocolError::InvalidReplId(ReplIdError::WrongLength(3))),
        ),
        (
            "empty id",
            psync_reply(b"+CONTINUE \r\n"),
            protocol(ProtocolError::InvalidReplId(ReplIdError::WrongLength(0))),
        ),
        (
            "non-hex id",
            psync_reply(&line(&[b"+CONTINUE ", &[b'g'; 40]])),
            protocol(ProtocolError::InvalidReplId(ReplIdError::NotHex {
                index: 0,
            })),
        ),
        (
            "last byte not hex",
            psync_reply(&line(&[b"+CONTINUE ", &[b'a'; 39], b"g"])),
            protocol(ProtocolError::InvalidReplId(ReplIdError::NotHex {
                index: 39,
            })),
        ),
        (
            "no space",
            psync_reply(b"+CONTINUEXYZ\r\n"),
            protocol(ProtocolError::MalformedContinue {
                line: Bytes::from_static(b"+CONTINUEXYZ"),
            }),
        ),
    ];
    table(&config(), Some(resume()), cases, &[], None);

    // +CONTINUE although PSYNC ? -1 asked for a full sync.
    table(
        &config(),
        None,
        vec![
            (
                "unrequested",
                psync_reply(b"+CONTINUE\r\n"),
                protocol(ProtocolError::UnrequestedContinue),
            ),
            (
                "unrequested with id",
                psync_reply(&line(&[b"+CONTINUE ", ID_A])),
                protocol(ProtocolError::UnrequestedContinue),
            ),
        ],
        &[],
        None,
    );
}

#[test]
fn bad_snapshot_headers() {
    let malformed = |text: &[u8]| {
        protocol(ProtocolError::MalformedSnapshotHeader {
            line: Bytes::copy_from_slice(text),
        })
    };
    let mut cases: Vec<(&str, Vec<u8>, CloseReason)> = Vec::new();
    let bad: Vec<Vec<u8>> = vec![
        b"hello".to_vec(),
        b"+OK".to_vec(),
        b"$EOF:abc".to_vec(),
        concat(&[b"$EOF:", &[b'a'; 39]]),
        concat(&[b"$EOF:", &[b'a'; 41]]),
        b"$EOF:".to_vec(),
        b"$-5".to_vec(),
        b"$-1".to_vec(),
        b"$abc".to_vec(),
        b"$".to_vec(),
        b"$ 18".to_vec(),
        b"$+18".to_vec(),
        b"$18x".to_vec(),
        b"$99999999999999999999".to_vec(),
    ];
    for text in &bad {
        cases.push((
            "bad header",
            after_fullresync(&line(&[text])),
            malformed(text),
        ));
    }
    cases.push((
        "endless header",
        after_fullresync(&[b'$'; 300]),
        resp(Phase::SnapshotHeader, RespError::LineTooLong { limit: 128 }),
    ));
    cases.push((
        "BGSAVE failed (§9.2 item 33)",
        after_fullresync(b"\n\n-ERR BGSAVE failed, replication can't continue\r\n"),
        CloseReason::Refused {
            phase: Phase::SnapshotHeader,
            reply: ErrorReply(Bytes::from_static(
                b"-ERR BGSAVE failed, replication can't continue",
            )),
        },
    ));
    // The old checkpoint went with +FULLRESYNC: nothing to resume, whatever the reason.
    table(&config(), Some(resume()), cases, &[], None);
}

#[test]
fn bad_snapshots() {
    let rdb = rdb_with_aux(&[(b"redis-ver", b"7.0.15"), (b"repl-offset", b"1000")]);
    let mut wrong_crc = rdb.clone();
    let n = wrong_crc.len();
    wrong_crc[n - 1] ^= 0x5a;
    let stored = u64::from_le_bytes(wrong_crc[n - 8..].try_into().unwrap());
    let computed = replproto::rdb::crc64(&rdb[..n - 8]);
    let mismatch = protocol(ProtocolError::Snapshot(RdbError::ChecksumMismatch {
        expected: stored,
        computed,
    }));
    let mut no_eof = tiny_rdb();
    no_eof[9] = 0xfe;
    let snapshot = |e| protocol(ProtocolError::Snapshot(e));
    let cases: Vec<(&str, Vec<u8>, CloseReason)> = vec![
        (
            "wrong CRC, length framed",
            after_fullresync(&concat(&[&length_framed(&wrong_crc), PING])),
            mismatch.clone(),
        ),
        (
            "wrong CRC, EOF framed",
            after_fullresync(&concat(&[&eof_framed(&wrong_crc), PING])),
            mismatch,
        ),
        (
            "bad magic",
            after_fullresync(&length_framed(b"XEDIS0010\xff\0\0\0\0\0\0\0\0")),
            snapshot(RdbError::BadMagic),
        ),
        (
            "bad magic, EOF framed",
            after_fullresync(&eof_framed(b"JUNKJUNKJUNKJUNKJUNK")),
            snapshot(RdbError::BadMagic),
        ),
        (
            "version zero",
            after_fullresync(&length_framed(b"REDIS0000\xff\0\0\0\0\0\0\0\0")),
            snapshot(RdbError::UnsupportedVersion(0)),
        ),
        (
            "payload shorter than an RDB",
            after_fullresync(&concat(&[b"$5\r\nREDIS", PING])),
            snapshot(RdbError::Truncated),
        ),
        (
            "empty payload",
            after_fullresync(b"$0\r\n"),
            snapshot(RdbError::Truncated),
        ),
        (
            "no EOF opcode before the trailer",
            after_fullresync(&length_framed(&no_eof)),
            snapshot(RdbError::MissingEof),
        ),
    ];
    table(&config(), Some(resume()), cases, &[], None);

    // The same CRC error is tolerated when checking is turned off.
    let mut lenient = config();
    lenient.verify_checksum = false;
    let mut replica = Replica::new(lenient, None, Instant::now()).unwrap();
    replica.handle_input(
        Instant::now(),
        &after_fullresync(&concat(&[&length_framed(&wrong_crc), PING])),
    );
    let events = drain_events(&mut replica);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::SnapshotEnd {
            checksum: ChecksumStatus::NotChecked,
            ..
        }
    )));
    assert_eq!(replica.offset(), Some(Offset(1014)));
}

/// The connection ends in the middle of the payload: a plain disconnect, but the full sync
/// had started replacing the data, so there is nothing to resume from.
#[test]
fn truncated_snapshot() {
    let rdb = rdb_with_aux(&[(b"redis-ver", b"7.0.15")]);
    for payload in [length_framed(&rdb), eof_framed(&rdb)] {
        for cut in [0, 3, payload.len() / 2, payload.len() - 1] {
            let outcome = run(
                config(),
                Some(resume()),
                &after_fullresync(&payload[..cut]),
                true,
            );
            let phase = if cut < payload.iter().position(|&b| b == b'\n').unwrap() + 1 {
                Phase::SnapshotHeader
            } else {
                Phase::Transfer
            };
            assert_eq!(
                outcome.reason,
                CloseReason::Disconnected { phase },
                "cut {cut}"
            );
            assert_eq!(outcome.checkpoint, None, "cut {cut}");
            assert!(!outcome
                .events
                .iter()
                .any(|e| matches!(e, Event::SnapshotEnd { .. })));
        }
    }
}

/// A length header longer than any number (here 25 digits, or 23 zeros and a 1): one typed
/// error, the same whether its CRLF arrives in the same read or later.
#[test]
fn an_overlong_length_gets_the_same_error_whatever_the_chunking() {
    let mut headers = Vec::new();
    for digits in [
        &b"1111111111111111111111111"[..],
        b"000000000000000000000001",
    ] {
        for kind in [&b"*"[..], b"*1\r\n$"] {
            headers.push(concat(&[kind, digits, b"\r\n"]));
        }
    }
    for header in headers {
        let input = streaming(&header);
        let whole = feed(config(), None, [&input[..]], Instant::now());
        let split = feed(config(), None, input.chunks(1), Instant::now());
        assert_eq!(
            closes(&split.events),
            closes(&whole.events),
            "{:?} byte by byte vs whole",
            Bytes::from(header)
        );
        assert_eq!(closes(&whole.events).len(), 1);
    }
}

#[test]
fn endless_line_during_the_handshake_stays_bounded() {
    let t0 = Instant::now();
    let mut replica = Replica::new(config(), None, t0).unwrap();
    let mut fed = 0;
    while !replica.is_closed() {
        replica.handle_input(t0, b"aaaaaaa");
        fed += 7;
        assert!(replica.buffered() <= 128);
        assert!(fed < 1000);
    }
    assert_eq!(
        drain_events(&mut replica),
        vec![Event::Closed(resp(
            Phase::Ping,
            RespError::LineTooLong { limit: 128 }
        ))]
    );
}

#[test]
fn handshake_timeout_keeps_the_checkpoint() {
    let t0 = Instant::now();
    let mut replica = Replica::new(config(), Some(resume()), t0).unwrap();
    assert_eq!(replica.poll_timeout(), Some(t0 + Duration::from_secs(60)));
    replica.handle_timeout(t0 + Duration::from_millis(59_999));
    assert_eq!(drain_events(&mut replica), vec![]);
    replica.handle_timeout(t0 + Duration::from_secs(60));
    assert_eq!(
        drain_events(&mut replica),
        vec![Event::Closed(CloseReason::TimedOut { phase: Phase::Ping })]
    );
    assert_eq!(replica.checkpoint(), Some(resume()));
}

/// Only a whole line shows the master is alive during the handshake (§9.1 items 6, 7, 13).
#[test]
fn handshake_timer_counts_from_the_last_whole_line() {
    let t0 = Instant::now();
    let s = |n| t0 + Duration::from_secs(n);
    let mut replica = Replica::new(config(), None, t0).unwrap();
    replica.handle_input(s(30), b"+PO");
    assert_eq!(
        replica.poll_timeout(),
        Some(s(60)),
        "a partial line is no sign of life"
    );
    replica.handle_input(s(50), b"NG\r\n+OK\r\n+OK\r\n");
    assert_eq!(replica.poll_timeout(), Some(s(110)));
    // Keepalives before +FULLRESYNC refresh the timer.
    replica.handle_input(s(100), b"\n");
    assert_eq!(replica.poll_timeout(), Some(s(160)));
    replica.handle_timeout(s(159));
    assert!(!replica.is_closed());
    replica.handle_timeout(s(160));
    assert_eq!(
        closes(&drain_events(&mut replica)),
        vec![&CloseReason::TimedOut {
            phase: Phase::Psync
        }]
    );
}

#[test]
fn transfer_timeout_counts_from_the_last_byte() {
    let t0 = Instant::now();
    let s = |n| t0 + Duration::from_secs(n);
    let mut replica = Replica::new(config(), Some(resume()), t0).unwrap();
    replica.handle_input(t0, &after_fullresync(b"$1000\r\nREDIS0010"));
    replica.handle_input(s(50), &[0u8; 100]);
    replica.handle_input(s(100), &[0u8; 100]);
    replica.handle_timeout(s(159));
    assert!(!replica.is_closed());
    replica.handle_timeout(s(160));
    assert_eq!(
        closes(&drain_events(&mut replica)),
        vec![&CloseReason::TimedOut {
            phase: Phase::Transfer
        }]
    );
    assert_eq!(replica.checkpoint(), None, "the full sync had started");
}

/// A silent master is given up after `repl_timeout`; our own ACKs are no sign of its life; the
/// checkpoint survives (§9.3 item 50).
#[test]
fn stream_inactivity_timeout() {
    let t0 = Instant::now();
    let mut replica = synced(config(), 1000, t0);
    replica.handle_input(t0 + Duration::from_secs(10), PING);
    drain_events(&mut replica);
    let limit = t0 + Duration::from_secs(70);
    let mut acks = 0;
    loop {
        let deadline = replica.poll_timeout().unwrap();
        assert!(deadline <= limit);
        if deadline == limit {
            break;
        }
        replica.handle_timeout(deadline);
        acks += acks_in(&drain_sent(&mut replica)).len();
        assert!(!replica.is_closed());
    }
    assert!(acks >= 60, "{acks} ACKs");
    replica.handle_timeout(limit - Duration::from_millis(1));
    assert!(!replica.is_closed());
    replica.handle_timeout(limit);
    assert_eq!(
        drain_events(&mut replica),
        vec![Event::Closed(CloseReason::TimedOut {
            phase: Phase::Streaming
        })]
    );
    assert_eq!(
        replica.checkpoint(),
        Some(Checkpoint {
            replid: replid(ID_A),
            offset: Offset(1014),
            db: 0
        })
    );
}

#[test]
fn invalid_configurations_are_refused() {
    let t0 = Instant::now();
    let bad = [
        ReplicaConfig::new(6380).with_repl_timeout(Duration::ZERO),
        ReplicaConfig::new(6380).with_ack_period(Duration::ZERO),
        ReplicaConfig::new(6380).with_limits(Limits::DEFAULT.with_max_line_len(63)),
        ReplicaConfig::new(6380).with_announce_ip(""),
        ReplicaConfig::new(6380).with_announce_ip(vec![b'1'; 256]),
    ];
    for config in bad {
        assert!(
            Replica::new(config.clone(), None, t0).is_err(),
            "{config:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Arbitrary input.

/// Bytes that often mean something to RESP, mixed with anything.
fn hostile_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        4 => prop::sample::select(&b"\r\n*$+-:0123456789 "[..]).prop_map(|b| vec![b]),
        2 => any::<u8>().prop_map(|b| vec![b]),
        1 => prop::sample::select(vec![
            PING.to_vec(),
            GETACK.to_vec(),
            MULTI.to_vec(),
            EXEC.to_vec(),
            cmd(&["SELECT", "3"]),
            cmd(&["SET", "k", "v"]),
            b"*1\r\n$".to_vec(),
            b"$18\r\n".to_vec(),
            b"$EOF:".to_vec(),
            MARK.to_vec(),
            tiny_rdb(),
            b"\r\n".to_vec(),
            b"*0\r\n".to_vec(),
        ]),
    ];
    prop::collection::vec(token, 0..max).prop_map(|t| t.concat())
}

/// Checks the invariants of any conversation; returns the events.
fn check_any(prefix: &[u8], data: &[u8], cuts: &[usize], eof: bool) -> Vec<Event> {
    let run = run_drained(prefix, data, cuts, eof, drain_events);
    let events = run.events;
    let ends = events
        .iter()
        .filter(|e| matches!(e, Event::Closed(_)))
        .count();
    assert!(ends <= 1, "{events:?}");
    assert_eq!(ends, usize::from(run.closed));
    if let Some(at) = events.iter().position(|e| matches!(e, Event::Closed(_))) {
        assert_eq!(at, events.len() - 1, "events after Closed");
        if let Event::Closed(reason) = &events[at] {
            if reason.is_protocol_error() {
                assert_eq!(run.checkpoint, None);
            }
        }
    }
    // Commands arrive once each, in stream order.
    let mut last = None;
    for e in &events {
        if let Event::Command(c) = e {
            if let Some(prev) = last {
                assert!(c.start_offset() > prev, "{e:?} after {prev:?}");
            }
            last = Some(c.offset);
        }
    }
    events
}

proptest! {
    #![proptest_config(prop_config(192, REGRESSIONS))]

    /// From the first byte.
    #[test]
    fn arbitrary_handshake_bytes(
        data in hostile_bytes(80),
        cuts in prop::collection::vec(0usize..400, 0..10),
        eof in any::<bool>(),
    ) {
        check_any(b"", &data, &cuts, eof);
    }

    /// Where the snapshot header belongs.
    #[test]
    fn arbitrary_bytes_after_fullresync(
        data in hostile_bytes(80),
        cuts in prop::collection::vec(0usize..400, 0..10),
        eof in any::<bool>(),
    ) {
        check_any(&after_fullresync(b""), &data, &cuts, eof);
    }

    /// In the command stream.
    #[test]
    fn arbitrary_stream_bytes(
        data in hostile_bytes(120),
        cuts in prop::collection::vec(0usize..600, 0..10),
        eof in any::<bool>(),
    ) {
        check_any(&streaming(b""), &data, &cuts, eof);
    }
}

/// Hands out every event, stream commands through `poll_command` (copied out) and the rest
/// through `poll_event`, as a loop that wants no buffer handle per command does.
fn drain_borrowed(replica: &mut Replica) -> Vec<Event> {
    let mut events = Vec::new();
    loop {
        while let Some(command) = replica.poll_command() {
            events.push(Event::Command(command.to_command()));
        }
        match replica.poll_event() {
            Some(event) => events.push(event),
            None => return events,
        }
    }
}

/// What a conversation produced, drained one way.
#[derive(Debug, PartialEq)]
struct Drained {
    events: Vec<Event>,
    sent: Vec<u8>,
    /// The checkpoint at the end.
    checkpoint: Option<Checkpoint>,
    /// Whether the link ended.
    closed: bool,
}

/// Feeds `prefix`, then `data` cut at `cuts`, draining with `drain` after each piece and
/// checking the memory bound before and after; then a timeout and, with `eof`, the end of the
/// connection.
fn run_drained(
    prefix: &[u8],
    data: &[u8],
    cuts: &[usize],
    eof: bool,
    drain: fn(&mut Replica) -> Vec<Event>,
) -> Drained {
    let t0 = Instant::now();
    let mut replica = Replica::new(config(), Some(resume()), t0).unwrap();
    let mut events = Vec::new();
    let mut sent = Vec::new();
    for piece in std::iter::once(prefix).chain(split_at_points(data, cuts)) {
        replica.handle_input(t0, piece);
        // Undelivered bytes wait in the input until asked for: at most one read over the
        // bound, and within it once the events are drained.
        assert!(replica.buffered() <= bound() + piece.len());
        events.extend(drain(&mut replica));
        assert!(replica.buffered() <= bound());
        sent.extend(drain_sent(&mut replica));
    }
    replica.handle_timeout(t0 + Duration::from_secs(1));
    events.extend(drain(&mut replica));
    sent.extend(drain_sent(&mut replica));
    if eof {
        replica.handle_eof(t0);
        events.extend(drain(&mut replica));
        assert!(replica.is_closed());
    }
    Drained {
        events,
        sent,
        checkpoint: replica.checkpoint(),
        closed: replica.is_closed(),
    }
}

proptest! {
    #![proptest_config(prop_config(192, REGRESSIONS))]

    /// Commands handed out borrowed (`poll_command`) have the same effects as owned ones:
    /// the same events in the same order, the same ACKs and GETACK answers, the same
    /// checkpoint, whatever the damage and the cuts.
    #[test]
    fn borrowed_delivery_equals_owned_delivery(
        data in hostile_bytes(120),
        cuts in prop::collection::vec(0usize..600, 0..10),
        eof in any::<bool>(),
    ) {
        let prefix = streaming(b"");
        let owned = run_drained(&prefix, &data, &cuts, eof, drain_events);
        let borrowed = run_drained(&prefix, &data, &cuts, eof, drain_borrowed);
        prop_assert_eq!(borrowed, owned);
    }
}

/// A stream unit a master could send.
#[derive(Debug, Clone)]
enum StreamUnit {
    Command(Vec<Vec<u8>>),
    Transaction(Vec<Vec<Vec<u8>>>),
}

fn stream_unit() -> impl Strategy<Value = StreamUnit> {
    let args = prop::collection::vec(prop::collection::vec(any::<u8>(), 0..12), 1..4).prop_map(
        |mut args| {
            // Never a command the link itself interprets.
            args.insert(0, b"SET".to_vec());
            args
        },
    );
    prop_oneof![
        3 => args.clone().prop_map(StreamUnit::Command),
        1 => prop::collection::vec(args, 0..3).prop_map(StreamUnit::Transaction),
    ]
}

fn encode_unit(unit: &StreamUnit) -> (Vec<u8>, Vec<Vec<Vec<u8>>>) {
    match unit {
        StreamUnit::Command(args) => (cmd(args), vec![args.clone()]),
        StreamUnit::Transaction(commands) => {
            let mut wire = MULTI.to_vec();
            let mut all = vec![vec![b"MULTI".to_vec()]];
            for c in commands {
                wire.extend(cmd(c));
                all.push(c.clone());
            }
            wire.extend_from_slice(EXEC);
            all.push(vec![b"EXEC".to_vec()]);
            (wire, all)
        }
    }
}

fn damage() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(vec![
        b"*-2\r\n".to_vec(),
        b"*1\r\n:1\r\n".to_vec(),
        b"SET x y\r\n".to_vec(),
        b"*1\r\n$-5\r\n".to_vec(),
        b"*1\r\n$1\r\nab\r\n".to_vec(),
        cmd(&["SELECT", "x"]),
        b"*1\r\n$100000\r\n".to_vec(),
        b"*99\r\n".to_vec(),
    ])
}

proptest! {
    #![proptest_config(prop_config(192, REGRESSIONS))]

    /// Valid commands, maybe an open transaction, then damage: exactly the valid whole
    /// commands are delivered, once each, with exact offsets; the open transaction is not.
    #[test]
    fn valid_commands_before_damage_are_delivered_exactly(
        units in prop::collection::vec(stream_unit(), 0..6),
        open in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..6), 0..3),
        bad in damage(),
        cuts in prop::collection::vec(0usize..800, 0..12),
    ) {
        let mut wire = Vec::new();
        let mut expected = vec![vec![b"ping".to_vec()]];
        let mut offset = 1014u64;
        for unit in &units {
            let (bytes, commands) = encode_unit(unit);
            offset += bytes.len() as u64;
            wire.extend(bytes);
            expected.extend(commands);
        }
        if !open.is_empty() {
            wire.extend_from_slice(MULTI);
            for value in &open {
                wire.extend(cmd(&[&b"SET"[..], b"k", value]));
            }
        }
        wire.extend(&bad);
        let events = check_any(&streaming(b""), &wire, &cuts, false);
        prop_assert_eq!(command_args(&events), expected);
        let closed = closes(&events);
        prop_assert_eq!(closed.len(), 1);
        prop_assert!(closed[0].is_protocol_error(), "{:?}", closed[0]);
        let last = events.iter().rev().find_map(|e| match e {
            Event::Command(c) => Some(c.offset.get()),
            _ => None,
        });
        prop_assert_eq!(last.unwrap_or(1014), offset);
    }

    /// The same without damage, cut by the end of the connection: the checkpoint is the last
    /// whole command outside a transaction.
    #[test]
    fn valid_commands_then_disconnect(
        units in prop::collection::vec(stream_unit(), 0..6),
        partial in 0usize..40,
        cuts in prop::collection::vec(0usize..800, 0..12),
    ) {
        let mut wire = Vec::new();
        let mut offset = 1014u64;
        for unit in &units {
            let (bytes, _) = encode_unit(unit);
            offset += bytes.len() as u64;
            wire.extend(bytes);
        }
        let set = vec![b"SET".to_vec(), b"k".to_vec(), b"v".to_vec()];
        let (tail, _) = encode_unit(&StreamUnit::Transaction(vec![set]));
        wire.extend_from_slice(&tail[..partial.min(tail.len() - 1)]);
        let t0 = Instant::now();
        let mut replica = Replica::new(config(), None, t0).unwrap();
        for piece in split_at_points(&concat(&[&streaming(b""), &wire]), &cuts) {
            replica.handle_input(t0, piece);
        }
        replica.handle_eof(t0);
        // The checkpoint follows what the application was handed.
        drain_events(&mut replica);
        let expected = Checkpoint { replid: replid(ID_A), offset: Offset(offset), db: 0 };
        prop_assert_eq!(replica.checkpoint(), Some(expected));
    }
}

/// PING replies that let the handshake go on (§9.1 items 1–4), and REPLCONF errors that are
/// ignored (§9.1 item 10).
#[test]
fn tolerated_replies_during_the_handshake() {
    let t0 = Instant::now();
    for pong in [
        &b"+PONG\r\n"[..],
        b"+OK\r\n",
        b"-NOAUTH Authentication required.\r\n",
        b"-NOPERM this user has no permissions to run the 'ping' command\r\n",
        b"-ERR operation not permitted\r\n",
    ] {
        for replconf in [
            &b"+OK\r\n+OK\r\n"[..],
            b"-ERR Unrecognized REPLCONF option: listening-port\r\n\
              -ERR Unrecognized REPLCONF option: capa\r\n",
            b"-NOAUTH Authentication required.\r\n\r\n\n-NOAUTH Authentication required.\r\n",
        ] {
            let mut replica = Replica::new(config(), None, t0).unwrap();
            replica.handle_input(t0, &concat(&[pong, replconf]));
            assert_eq!(replica.phase(), Phase::Psync, "{pong:?} {replconf:?}");
            assert!(drain_sent(&mut replica).ends_with(&cmd(&["PSYNC", "?", "-1"])));
        }
    }
}

/// Bytes of a diskless payload are a sign of life even while they sit in the window that
/// may hold the start of the end mark (Redis refreshes its transfer timer on every read).
#[test]
fn diskless_payload_bytes_refresh_the_transfer_timer() {
    let t0 = Instant::now();
    let s = |n| t0 + Duration::from_secs(n);
    let mut replica = Replica::new(config(), None, t0).unwrap();
    let payload = eof_framed(&tiny_rdb());
    let header_len = 5 + 40 + 2;
    replica.handle_input(t0, &after_fullresync(&payload[..header_len]));
    assert_eq!(replica.phase(), Phase::Transfer);
    replica.handle_input(s(50), &payload[header_len..header_len + 20]);
    replica.handle_timeout(s(60));
    assert!(
        !replica.is_closed(),
        "timed out 10 s after the last byte: {:?}",
        drain_events(&mut replica).last()
    );
    replica.handle_input(s(70), &payload[header_len + 20..]);
    assert_eq!(replica.phase(), Phase::Streaming);
}

/// The `ACK` numbers in `sent`, as written.
fn ack_numbers(sent: &[u8]) -> Vec<Vec<u8>> {
    split_units(sent)
        .into_iter()
        .filter_map(|u| match u.unit {
            Unit::Command(args) if args[0] == b"REPLCONF" && args[1] == b"ACK" => {
                Some(args[2].clone())
            }
            _ => None,
        })
        .collect()
}

/// The arguments of the `PSYNC` a new link resuming from `resume` sends after the handshake.
fn next_psync(resume: Option<Checkpoint>) -> Vec<Vec<u8>> {
    let t0 = Instant::now();
    let mut next = Replica::new(config(), resume, t0).unwrap();
    next.handle_input(t0, HANDSHAKE_REPLIES);
    let sent = drain_sent(&mut next);
    let Some(Unit::Command(psync)) = split_units(&sent).pop().map(|u| u.unit) else {
        panic!("no PSYNC");
    };
    psync
}

/// A hostile `+FULLRESYNC` offset at the top of the range: whatever happens, the replica never
/// writes a negative offset in `REPLCONF ACK` or in its next `PSYNC`. A stream that ends exactly
/// at the largest offset Redis can represent (`i64::MAX`) is acknowledged and resumed from
/// there; a stream that would pass it ends the link.
#[test]
fn offsets_on_the_wire_never_go_negative() {
    let t0 = Instant::now();
    let top = i64::MAX as u64;
    let text = |n: u64| n.to_string().into_bytes();

    // A PING and a GETACK take the stream from the announced offset exactly to the top.
    let announced = top - (PING.len() + GETACK.len()) as u64;
    let mut replica = Replica::new(config(), None, t0).unwrap();
    let input = concat(&[
        HANDSHAKE_REPLIES,
        &fullresync(ID_A, announced),
        &eof_framed(&tiny_rdb()),
        PING,
        GETACK,
    ]);
    replica.handle_input(t0, &input);
    // Handing the events out releases the stream after the diskless snapshot and answers the
    // GETACK.
    let events = drain_events(&mut replica);
    assert_eq!(closes(&events), Vec::<&CloseReason>::new());
    assert_eq!(replica.offset(), Some(Offset(top)));
    replica.handle_timeout(t0 + Duration::from_secs(1));
    let sent = drain_sent(&mut replica);
    let numbers = ack_numbers(&sent);
    for n in &numbers {
        assert!(
            !n.starts_with(b"-"),
            "sent REPLCONF ACK {}",
            String::from_utf8_lossy(n)
        );
    }
    // The ACK that starts the stream after a diskless snapshot, at the snapshot's offset; the
    // answer to the GETACK, leaving out its own bytes; the periodic one, at the top.
    assert_eq!(
        numbers,
        [
            text(announced),
            text(announced + PING.len() as u64),
            text(top)
        ]
    );
    replica.handle_eof(t0);
    let resume = replica.checkpoint();
    assert_eq!(
        resume,
        Some(Checkpoint {
            replid: replid(ID_A),
            offset: Offset(top),
            db: 0,
        })
    );
    let psync = next_psync(resume);
    assert!(
        !psync[2].starts_with(b"-"),
        "sent PSYNC {}",
        String::from_utf8_lossy(&psync[2])
    );
    assert_eq!(psync, [b"PSYNC".to_vec(), ID_A.to_vec(), text(top + 1)]);

    // Announced at the top, the first byte of the stream passes it: the link ends with a
    // protocol error after the ACK of the snapshot (at the top), and the next link starts over.
    let mut replica = Replica::new(config(), None, t0).unwrap();
    let input = concat(&[
        HANDSHAKE_REPLIES,
        &fullresync(ID_A, top),
        &eof_framed(&tiny_rdb()),
        PING,
        GETACK,
    ]);
    replica.handle_input(t0, &input);
    let events = drain_events(&mut replica);
    assert_eq!(
        closes(&events),
        [&protocol(ProtocolError::OffsetOverflow)],
        "{events:?}"
    );
    replica.handle_timeout(t0 + Duration::from_secs(1));
    let sent = drain_sent(&mut replica);
    assert_eq!(ack_numbers(&sent), [text(top)]);
    replica.handle_eof(t0);
    assert_eq!(replica.checkpoint(), None);
    assert_eq!(next_psync(None), [&b"PSYNC"[..], b"?", b"-1"]);
}
