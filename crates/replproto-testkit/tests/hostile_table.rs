//! The hostile-peer table of `docs/hostile-inputs.md`: every row is a case here. A hostile
//! master faces our replica, a hostile replica (or client) faces our master's session. Each
//! case checks the typed outcome exactly, the memory bound after every piece of input (fed
//! whole, in 7-byte pieces and byte by byte), exactly one `Closed` with nothing after it, and
//! that the table in the doc lists the case.
//!
//! `HOSTILE_TABLE=1 cargo test -p replproto-testkit --test hostile_table -- --nocapture`
//! prints the rows of the doc's tables.

use std::fmt::Debug;
use std::time::{Duration, Instant};

use bytes::Bytes;
use replproto::master::session::SessionCloseReason;
use replproto::master::{Master, MasterConfig, MasterEvent, SessionId};
use replproto::rdb::{RdbError, RdbWriter};
use replproto::replica::{
    CloseReason, ErrorReply, Event, HandshakeCommand, Phase, ProtocolError, Replica, ReplicaConfig,
};
use replproto::resp::RespError;
use replproto::{Checkpoint, Limits, Offset, ReplId, ReplIdError};
use replproto_testkit::log::resp;

const DOC: &str = include_str!("../../../docs/hostile-inputs.md");
const ID: &str = "e8120531390c7d051bcb7f000ce2b93dfe8b7184";
const MARK: &[u8; 40] = b"0123456789abcdef0123456789abcdef01234567";

// ---------------------------------------------------------------------------------------------
// The tables.

/// A row of one of the doc's tables.
trait Row {
    fn name(&self) -> &'static str;
    /// The typed outcome, as the doc's table prints it.
    fn expected(&self) -> &dyn Debug;
    /// Runs the case, checking everything it expects.
    fn run(&self);
}

/// Checks a table: at least 30 rows, every row run, and every row listed in the doc. With
/// `HOSTILE_TABLE` set, prints the rows as the doc's table lists them.
fn check_table(rows: &[impl Row]) {
    assert!(
        rows.len() >= 30,
        "the table needs at least 30 rows, has {}",
        rows.len()
    );
    for row in rows {
        row.run();
    }
    if std::env::var_os("HOSTILE_TABLE").is_some() {
        for (i, row) in rows.iter().enumerate() {
            println!("| {} | {} | `{:?}` |", i + 1, row.name(), row.expected());
        }
    }
    for row in rows {
        assert!(
            DOC.contains(&format!("| {} |", row.name())),
            "docs/hostile-inputs.md lacks {:?}",
            row.name()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// A hostile master.

const REPLICA_LIMITS: Limits = Limits::DEFAULT
    .with_max_line_len(128)
    .with_max_bulk_len(64)
    .with_max_args(8)
    .with_max_frame_len(256)
    .with_max_transaction_len(200);

/// The most a replica with these limits may buffer of an incomplete line or frame: the larger
/// of the line and frame caps.
const REPLICA_BOUND: usize = if REPLICA_LIMITS.max_line_len > REPLICA_LIMITS.max_frame_len {
    REPLICA_LIMITS.max_line_len
} else {
    REPLICA_LIMITS.max_frame_len
};

fn resume() -> Checkpoint {
    Checkpoint {
        replid: ReplId::parse(ID.as_bytes()).expect("id"),
        offset: Offset(42),
        db: 0,
    }
}

fn rdb() -> Vec<u8> {
    let mut w = RdbWriter::new("hostile");
    w.start_db(0, 1, 0);
    w.string(b"k", b"v", None);
    w.finish()
}

fn handshake() -> Vec<u8> {
    b"+PONG\r\n+OK\r\n+OK\r\n".to_vec()
}

fn fullresync(offset: u64) -> Vec<u8> {
    let mut out = handshake();
    out.extend(format!("+FULLRESYNC {ID} {offset}\r\n").bytes());
    out
}

/// Handshake and a full sync at 1000 with a length-framed snapshot, then `tail`.
fn streaming(tail: &[u8]) -> Vec<u8> {
    let mut out = fullresync(1000);
    let rdb = rdb();
    out.extend(format!("${}\r\n", rdb.len()).bytes());
    out.extend(rdb);
    out.extend_from_slice(tail);
    out
}

fn after_fullresync(tail: &[u8]) -> Vec<u8> {
    let mut out = fullresync(1000);
    out.extend_from_slice(tail);
    out
}

fn psync_reply(tail: &[u8]) -> Vec<u8> {
    let mut out = handshake();
    out.extend_from_slice(tail);
    out
}

fn resp_err(phase: Phase, error: RespError) -> CloseReason {
    CloseReason::Protocol(ProtocolError::Resp { phase, error })
}

fn refused(phase: Phase, line: &str) -> CloseReason {
    CloseReason::Refused {
        phase,
        reply: ErrorReply(Bytes::copy_from_slice(line.as_bytes())),
    }
}

fn line_bytes(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

struct ReplicaCase {
    name: &'static str,
    config: ReplicaConfig,
    resume: Option<Checkpoint>,
    input: Vec<u8>,
    /// Silence after the input, then `handle_timeout`.
    silence: Option<Duration>,
    eof: bool,
    expect: CloseReason,
}

fn case(name: &'static str, input: Vec<u8>, expect: CloseReason) -> ReplicaCase {
    ReplicaCase {
        name,
        config: ReplicaConfig::new(6380).with_limits(REPLICA_LIMITS),
        resume: None,
        input,
        silence: None,
        eof: false,
        expect,
    }
}

fn replica_cases() -> Vec<ReplicaCase> {
    use Phase::Streaming as S;
    let mut too_big = b"*4\r\n".to_vec();
    for _ in 0..4 {
        too_big.extend(resp(&["x".repeat(60)])[4..].iter());
    }
    let mut tx = resp(&["MULTI"]);
    for _ in 0..6 {
        tx.extend(resp(&["SET", "key", &"v".repeat(20)]));
    }
    let rdb = rdb();
    let mut bad_crc = rdb.clone();
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 0xff;
    let mut bad_magic = rdb.clone();
    bad_magic[..5].copy_from_slice(b"RADIS");
    let framed = |r: &[u8]| {
        let mut out = format!("${}\r\n", r.len()).into_bytes();
        out.extend_from_slice(r);
        out
    };
    let mut eof_framed_bad = b"$EOF:".to_vec();
    eof_framed_bad.extend_from_slice(MARK);
    eof_framed_bad.extend_from_slice(b"\r\n");
    eof_framed_bad.extend_from_slice(&bad_magic);
    eof_framed_bad.extend_from_slice(MARK);
    let mut digits = b"*".to_vec();
    digits.extend([b'1'; 30]);
    let endless_line = vec![b'+'; 300];

    let mut with_auth = case(
        "AUTH refused",
        b"+PONG\r\n-WRONGPASS invalid username-password pair\r\n+OK\r\n+OK\r\n".to_vec(),
        refused(
            Phase::Handshake,
            "-WRONGPASS invalid username-password pair",
        ),
    );
    with_auth.config = with_auth.config.clone().with_password("secret");
    let resumed = |mut c: ReplicaCase| {
        c.resume = Some(resume());
        c
    };
    let silent = |mut c: ReplicaCase, secs: u64| {
        c.silence = Some(Duration::from_secs(secs));
        c
    };
    let closed_by_peer = |mut c: ReplicaCase| {
        c.eof = true;
        c
    };
    vec![
        // The handshake.
        case(
            "PING answered with an error",
            b"-ERR no\r\n".to_vec(),
            refused(Phase::Ping, "-ERR no"),
        ),
        case(
            "PING answered with a non-reply",
            b":1\r\n".to_vec(),
            CloseReason::Protocol(ProtocolError::UnexpectedReply {
                command: HandshakeCommand::Ping,
                line: line_bytes(":1"),
            }),
        ),
        case(
            "endless reply line",
            endless_line,
            resp_err(Phase::Ping, RespError::LineTooLong { limit: 128 }),
        ),
        with_auth,
        case(
            "PSYNC answered -NOMASTERLINK",
            psync_reply(b"-NOMASTERLINK Can't SYNC while not connected with my master\r\n"),
            CloseReason::MasterNotReady(ErrorReply(line_bytes(
                "-NOMASTERLINK Can't SYNC while not connected with my master",
            ))),
        ),
        case(
            "PSYNC answered -LOADING",
            psync_reply(b"-LOADING loading\r\n"),
            CloseReason::MasterNotReady(ErrorReply(line_bytes("-LOADING loading"))),
        ),
        case(
            "PSYNC answered -BUSY",
            psync_reply(b"-BUSY busy\r\n"),
            CloseReason::MasterNotReady(ErrorReply(line_bytes("-BUSY busy"))),
        ),
        case(
            "+CONTINUE to PSYNC ? -1",
            psync_reply(b"+CONTINUE\r\n"),
            CloseReason::Protocol(ProtocolError::UnrequestedContinue),
        ),
        resumed(case(
            "+CONTINUE with a bad id",
            psync_reply(b"+CONTINUE xyz\r\n"),
            CloseReason::Protocol(ProtocolError::InvalidReplId(ReplIdError::WrongLength(3))),
        )),
        resumed(case(
            "+CONTINUE glued to garbage",
            psync_reply(b"+CONTINUEx\r\n"),
            CloseReason::Protocol(ProtocolError::MalformedContinue {
                line: line_bytes("+CONTINUEx"),
            }),
        )),
        case(
            "+FULLRESYNC with a short id",
            psync_reply(b"+FULLRESYNC abc 0\r\n"),
            CloseReason::Protocol(ProtocolError::MalformedFullResync {
                line: line_bytes("+FULLRESYNC abc 0"),
            }),
        ),
        case(
            "+FULLRESYNC with a negative offset",
            psync_reply(format!("+FULLRESYNC {ID} -5\r\n").as_bytes()),
            CloseReason::Protocol(ProtocolError::MalformedFullResync {
                line: line_bytes(&format!("+FULLRESYNC {ID} -5")),
            }),
        ),
        case(
            "+FULLRESYNC with an offset past i64",
            psync_reply(format!("+FULLRESYNC {ID} 99999999999999999999\r\n").as_bytes()),
            CloseReason::Protocol(ProtocolError::MalformedFullResync {
                line: line_bytes(&format!("+FULLRESYNC {ID} 99999999999999999999")),
            }),
        ),
        case(
            "PSYNC answered with a non-reply",
            psync_reply(b":5\r\n"),
            CloseReason::Protocol(ProtocolError::UnexpectedReply {
                command: HandshakeCommand::Psync,
                line: line_bytes(":5"),
            }),
        ),
        // The snapshot.
        case(
            "error instead of the snapshot",
            after_fullresync(b"-ERR BGSAVE failed, replication can't continue\r\n"),
            refused(
                Phase::SnapshotHeader,
                "-ERR BGSAVE failed, replication can't continue",
            ),
        ),
        case(
            "snapshot header of another type",
            after_fullresync(b"#5\r\n"),
            CloseReason::Protocol(ProtocolError::MalformedSnapshotHeader {
                line: line_bytes("#5"),
            }),
        ),
        case(
            "short end mark",
            after_fullresync(b"$EOF:short\r\n"),
            CloseReason::Protocol(ProtocolError::MalformedSnapshotHeader {
                line: line_bytes("$EOF:short"),
            }),
        ),
        case(
            "negative snapshot length",
            after_fullresync(b"$-1\r\n"),
            CloseReason::Protocol(ProtocolError::MalformedSnapshotHeader {
                line: line_bytes("$-1"),
            }),
        ),
        case(
            "snapshot with a bad magic",
            after_fullresync(&framed(&bad_magic)),
            CloseReason::Protocol(ProtocolError::Snapshot(RdbError::BadMagic)),
        ),
        case(
            "diskless snapshot with a bad magic",
            after_fullresync(&eof_framed_bad),
            CloseReason::Protocol(ProtocolError::Snapshot(RdbError::BadMagic)),
        ),
        case(
            "snapshot with a wrong checksum",
            after_fullresync(&framed(&bad_crc)),
            CloseReason::Protocol(ProtocolError::Snapshot(RdbError::ChecksumMismatch {
                expected: u64::from_le_bytes(bad_crc[last - 7..].try_into().expect("8 bytes")),
                computed: u64::from_le_bytes(rdb[last - 7..].try_into().expect("8 bytes")),
            })),
        ),
        closed_by_peer(case(
            "snapshot cut short by the peer",
            after_fullresync(&framed(&rdb)[..20]),
            CloseReason::Disconnected {
                phase: Phase::Transfer,
            },
        )),
        // The stream.
        case(
            "bulk above the limit",
            streaming(b"*1\r\n$65\r\n"),
            resp_err(S, RespError::BulkTooLarge { len: 65, limit: 64 }),
        ),
        case(
            "bulk claiming i64::MAX bytes",
            streaming(b"*1\r\n$9223372036854775807\r\n"),
            resp_err(
                S,
                RespError::BulkTooLarge {
                    len: i64::MAX as u64,
                    limit: 64,
                },
            ),
        ),
        case(
            "too many arguments",
            streaming(b"*9\r\n"),
            resp_err(S, RespError::TooManyArgs { count: 9, limit: 8 }),
        ),
        case(
            "frame above the limit",
            streaming(&too_big),
            resp_err(S, RespError::FrameTooLarge { limit: 256 }),
        ),
        case(
            "negative bulk length",
            streaming(b"*1\r\n$-5\r\n"),
            resp_err(S, RespError::InvalidLength),
        ),
        case(
            "null bulk in a command",
            streaming(b"*1\r\n$-1\r\n"),
            resp_err(S, RespError::NullBulkInCommand),
        ),
        case(
            "integer element",
            streaming(b"*1\r\n:5\r\n"),
            resp_err(S, RespError::ExpectedBulk(b':')),
        ),
        case(
            "nested array",
            streaming(b"*1\r\n*1\r\n$4\r\nping\r\n"),
            resp_err(S, RespError::ExpectedBulk(b'*')),
        ),
        case(
            "missing CRLF after a bulk",
            streaming(b"*1\r\n$3\r\nSETxx"),
            resp_err(S, RespError::MissingCrlf),
        ),
        case(
            "endless count header",
            streaming(&digits),
            resp_err(S, RespError::HeaderTooLong),
        ),
        case(
            "inline command",
            streaming(b"SET a b\r\n"),
            CloseReason::Protocol(ProtocolError::InlineCommand),
        ),
        case(
            "endless inline line",
            streaming(&[b'x'; 300]),
            resp_err(S, RespError::LineTooLong { limit: 128 }),
        ),
        case(
            "SELECT of a non-number",
            streaming(&resp(&["SELECT", "abc"])),
            CloseReason::Protocol(ProtocolError::BadSelect),
        ),
        case(
            "SELECT with two arguments",
            streaming(&resp(&["SELECT", "1", "2"])),
            CloseReason::Protocol(ProtocolError::BadSelect),
        ),
        case(
            "transaction above the limit",
            streaming(&tx),
            CloseReason::Protocol(ProtocolError::TransactionTooLarge { limit: 200 }),
        ),
        case(
            "stream past the largest offset",
            {
                let mut out = fullresync(i64::MAX as u64 - 5);
                out.extend(framed(&rdb));
                out.extend(resp(&["ping"]));
                out
            },
            CloseReason::Protocol(ProtocolError::OffsetOverflow),
        ),
        silent(
            case(
                "silent master during the handshake",
                b"+PONG\r\n+OK".to_vec(),
                CloseReason::TimedOut {
                    phase: Phase::Handshake,
                },
            ),
            60,
        ),
        silent(
            case(
                "silent master while streaming",
                streaming(b"*1\r\n$4\r\nping"),
                CloseReason::TimedOut {
                    phase: Phase::Streaming,
                },
            ),
            60,
        ),
    ]
}

fn run_replica_case(c: &ReplicaCase) {
    let t0 = Instant::now();
    let mut reports = Vec::new();
    for piece in [c.input.len().max(1), 7, 1] {
        let mut replica = Replica::new(c.config.clone(), c.resume, t0).expect("config");
        let mut events = Vec::new();
        for p in c.input.chunks(piece) {
            replica.handle_input(t0, p);
            events.extend(std::iter::from_fn(|| replica.poll_event()));
            // Once the events are drained, at most an incomplete frame or line is kept.
            assert!(
                replica.buffered() <= REPLICA_BOUND,
                "{}: buffered {} > {REPLICA_BOUND}",
                c.name,
                replica.buffered()
            );
            while replica.poll_transmit().is_some() {}
        }
        if let Some(silence) = c.silence {
            replica.handle_timeout(t0 + silence);
        }
        if c.eof {
            replica.handle_eof(t0);
        }
        events.extend(std::iter::from_fn(|| replica.poll_event()));
        let closes: Vec<&CloseReason> = events
            .iter()
            .filter_map(|e| match e {
                Event::Closed(r) => Some(r),
                _ => None,
            })
            .collect();
        assert_eq!(closes, vec![&c.expect], "{} (pieces of {piece})", c.name);
        assert!(
            matches!(events.last(), Some(Event::Closed(_))),
            "{}: Closed is last",
            c.name
        );
        // Nothing after Closed.
        replica.handle_input(t0, b"*1\r\n$4\r\nping\r\n");
        replica.handle_timeout(t0 + Duration::from_secs(3600));
        replica.handle_eof(t0);
        assert!(
            replica.poll_event().is_none(),
            "{}: event after Closed",
            c.name
        );
        assert_eq!(replica.buffered(), 0, "{}: input kept after Closed", c.name);
        if c.expect.is_protocol_error() {
            assert_eq!(
                replica.checkpoint(),
                None,
                "{}: a protocol error drops the checkpoint",
                c.name
            );
        }
        reports.push(replica.checkpoint());
    }
    assert!(
        reports.windows(2).all(|w| w[0] == w[1]),
        "{}: chunking changed the checkpoint",
        c.name
    );
}

impl Row for ReplicaCase {
    fn name(&self) -> &'static str {
        self.name
    }

    fn expected(&self) -> &dyn Debug {
        &self.expect
    }

    fn run(&self) {
        run_replica_case(self);
    }
}

#[test]
fn hostile_masters() {
    check_table(&replica_cases());
}

// ---------------------------------------------------------------------------------------------
// A hostile replica or client.

const OUTPUT_LIMIT: usize = 4096;

fn session_limits() -> Limits {
    Limits::DEFAULT
        .with_max_bulk_len(1024)
        .with_max_args(16)
        .with_max_frame_len(4096)
        .with_max_line_len(512)
}

#[derive(Debug, Clone)]
enum Step {
    Send(Vec<u8>),
    /// The application hands over the snapshot it was asked for.
    Snapshot,
    /// The application propagates `n` writes of 100 bytes.
    Propagate(usize),
    /// The peer stops reading what it is sent.
    StopReading,
    /// The peer reads again.
    Read,
    /// The application stops answering commands (it is busy).
    Busy,
    Advance(u64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    /// The session closes with this reason.
    Closed(SessionCloseReason),
    /// The session stays open and the peer receives exactly these bytes after the setup.
    Reply(Vec<u8>),
    /// A full resync is started (`+FULLRESYNC`), counted as a failed partial one.
    FullResync,
    /// Nothing is sent back and the acknowledged offset stays at this value.
    Acked(u64),
}

struct SessionCase {
    name: &'static str,
    require_auth: bool,
    setup: Vec<Step>,
    steps: Vec<Step>,
    expect: Expect,
}

fn scase(name: &'static str, steps: Vec<Step>, expect: Expect) -> SessionCase {
    SessionCase {
        name,
        require_auth: false,
        setup: Vec::new(),
        steps,
        expect,
    }
}

fn send(bytes: Vec<u8>) -> Vec<Step> {
    vec![Step::Send(bytes)]
}

fn cmd(args: &[&str]) -> Vec<u8> {
    resp(args)
}

fn online() -> Vec<Step> {
    vec![Step::Send(cmd(&["PSYNC", "?", "-1"])), Step::Snapshot]
}

fn acked(offset: u64) -> Vec<Step> {
    let mut steps = online();
    steps.push(Step::Send(cmd(&["REPLCONF", "ACK", &offset.to_string()])));
    steps
}

fn closed(reason: SessionCloseReason) -> Expect {
    Expect::Closed(reason)
}

fn proto(error: RespError) -> Expect {
    Expect::Closed(SessionCloseReason::Protocol(error))
}

fn reply(line: &str) -> Expect {
    Expect::Reply(line.as_bytes().to_vec())
}

fn session_cases() -> Vec<SessionCase> {
    let mut big_frame = b"*8\r\n".to_vec();
    for _ in 0..8 {
        big_frame.extend(resp(&["x".repeat(600)])[4..].iter());
    }
    let mut digits = b"*".to_vec();
    digits.extend([b'1'; 30]);
    let mut pipelined = cmd(&["GET", "k"]);
    for _ in 0..5 {
        pipelined.extend(cmd(&["GET", &"x".repeat(1000)]));
    }
    let mut pending = cmd(&["REPLCONF", "capa", "psync2"]);
    pending.extend(cmd(&["PSYNC", "?", "-1"]));
    let with_setup = |mut c: SessionCase, setup: Vec<Step>| {
        c.setup = setup;
        c
    };
    let authed = |mut c: SessionCase| {
        c.require_auth = true;
        c
    };
    let ip = "1".repeat(300);
    vec![
        // Bad RESP.
        scase("bulk above the limit", send(b"*1\r\n$99999\r\n".to_vec()), proto(RespError::BulkTooLarge { len: 99999, limit: 1024 })),
        scase("too many arguments", send(b"*99999\r\n".to_vec()), proto(RespError::TooManyArgs { count: 99999, limit: 16 })),
        scase("frame above the limit", send(big_frame), proto(RespError::FrameTooLarge { limit: 4096 })),
        scase("negative count", send(b"*-5\r\n".to_vec()), proto(RespError::InvalidLength)),
        scase("integer element", send(b"*1\r\n:5\r\n".to_vec()), proto(RespError::ExpectedBulk(b':'))),
        scase("missing CRLF after a bulk", send(b"*1\r\n$3\r\nabcde".to_vec()), proto(RespError::MissingCrlf)),
        scase("null bulk in a command", send(b"*1\r\n$-1\r\n".to_vec()), proto(RespError::NullBulkInCommand)),
        scase("garbage bulk length", send(b"*1\r\n$abc\r\n".to_vec()), proto(RespError::InvalidLength)),
        scase("endless count header", send(digits), proto(RespError::HeaderTooLong)),
        scase("endless inline line", send(vec![b'x'; 600]), proto(RespError::LineTooLong { limit: 512 })),
        scase("commands piled up behind an unanswered one", vec![Step::Busy, Step::Send(pipelined)], closed(SessionCloseReason::InputLimit { limit: 4096 })),
        // The sync request.
        scase("PSYNC pipelined behind a reply", vec![Step::StopReading, Step::Send(pending), Step::Read], reply("+OK\r\n-ERR SYNC and PSYNC are invalid with pending output\r\n")),
        scase("PSYNC with two words", send(cmd(&["PSYNC", "?"])), reply("-ERR wrong number of arguments for 'psync' command\r\n")),
        scase("SYNC with an argument", send(cmd(&["SYNC", "x"])), reply("-ERR wrong number of arguments for 'sync' command\r\n")),
        scase("PSYNC offset with a plus sign", send(cmd(&["PSYNC", "?", "+5"])), reply("-ERR value is not an integer or out of range\r\n")),
        scase("PSYNC offset past i64", send(cmd(&["PSYNC", ID, "99999999999999999999"])), reply("-ERR value is not an integer or out of range\r\n")),
        scase("PSYNC of an unknown history", send(cmd(&["PSYNC", ID, "5"])), Expect::FullResync),
        // REPLCONF.
        scase("REPLCONF with an odd number of words", send(cmd(&["REPLCONF", "listening-port"])), reply("-ERR syntax error\r\n")),
        scase("REPLCONF unknown option", send(cmd(&["REPLCONF", "nope", "1"])), reply("-ERR Unrecognized REPLCONF option: nope\r\n")),
        scase("REPLCONF listening-port not a number", send(cmd(&["REPLCONF", "listening-port", "x"])), reply("-ERR value is not an integer or out of range\r\n")),
        scase(
            "REPLCONF ip-address too long",
            send(cmd(&["REPLCONF", "ip-address", &ip])),
            reply("-ERR REPLCONF ip-address provided by replica instance is too long: 300 bytes\r\n"),
        ),
        scase("REPLCONF rdb-only out of range", send(cmd(&["REPLCONF", "rdb-only", "5"])), reply("-ERR value is out of range, value must between 0 and 1\r\n")),
        // Authentication.
        scase(
            "AUTH without a password configured",
            send(cmd(&["AUTH", "x"])),
            reply("-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n"),
        ),
        authed(scase("PSYNC before AUTH", send(cmd(&["PSYNC", "?", "-1"])), reply("-NOAUTH Authentication required.\r\n"))),
        authed(scase("wrong password", send(cmd(&["AUTH", "wrong"])), reply("-WRONGPASS invalid username-password pair or user is disabled.\r\n"))),
        scase("PING with two arguments", send(cmd(&["PING", "a", "b"])), reply("-ERR wrong number of arguments for 'ping' command\r\n")),
        // A replica link.
        with_setup(scase("write on a replica link", send(cmd(&["SET", "k", "v"])), closed(SessionCloseReason::ReplicaCommand(Bytes::from_static(b"SET")))), online()),
        with_setup(scase("PING on a replica link", send(cmd(&["PING"])), closed(SessionCloseReason::ReplicaCommand(Bytes::from_static(b"PING")))), online()),
        with_setup(
            scase("REPLCONF option on a replica link", send(cmd(&["REPLCONF", "listening-port", "1"])), closed(SessionCloseReason::ReplicaCommand(Bytes::from_static(b"REPLCONF")))),
            online(),
        ),
        with_setup(scase("PSYNC on a replica link", send(cmd(&["PSYNC", "?", "-1"])), closed(SessionCloseReason::ReplicaCommand(Bytes::from_static(b"PSYNC")))), online()),
        with_setup(scase("bad RESP on a replica link", send(b"*1\r\n:1\r\n".to_vec()), proto(RespError::ExpectedBulk(b':'))), online()),
        with_setup(scase("ACK with a garbage offset", send(cmd(&["REPLCONF", "ACK", "x"])), Expect::Acked(5)), acked(5)),
        with_setup(scase("ACK going backwards", send(cmd(&["REPLCONF", "ACK", "0"])), Expect::Acked(5)), acked(5)),
        with_setup(scase("replica that never acknowledges", vec![Step::Advance(61)], closed(SessionCloseReason::TimedOut)), online()),
        with_setup(
            scase(
                "diskless replica that never sends its first ACK",
                vec![Step::Advance(61)],
                closed(SessionCloseReason::TimedOut),
            ),
            vec![
                Step::Send(cmd(&["REPLCONF", "capa", "eof"])),
                Step::Send(cmd(&["PSYNC", "?", "-1"])),
                Step::Snapshot,
            ],
        ),
        with_setup(
            scase(
                "replica that stops reading",
                vec![Step::StopReading, Step::Propagate(60)],
                closed(SessionCloseReason::OutputLimit { limit: OUTPUT_LIMIT }),
            ),
            online(),
        ),
    ]
}

struct SessionRun {
    master: Master,
    session: SessionId,
    now: Instant,
    reading: bool,
    answering: bool,
    received: Vec<u8>,
    closes: Vec<SessionCloseReason>,
    snapshot_needed: bool,
    full_resyncs: usize,
}

impl SessionRun {
    fn new(require_auth: bool) -> SessionRun {
        let now = Instant::now();
        let mut config = MasterConfig::default();
        config.backlog_size = 16 * 1024;
        config.session.output_limit = OUTPUT_LIMIT;
        config.session.limits = session_limits();
        config.session.require_auth = require_auth;
        let mut master = Master::new(config, [9; 32], now);
        let session = master.add_session(now);
        SessionRun {
            master,
            session,
            now,
            reading: true,
            answering: true,
            received: Vec::new(),
            closes: Vec::new(),
            snapshot_needed: false,
            full_resyncs: 0,
        }
    }

    fn step(&mut self, step: &Step, piece: usize, name: &str) {
        match step {
            Step::Send(bytes) => {
                for p in bytes.chunks(piece.max(1)) {
                    self.master.handle_input(self.session, self.now, p);
                    self.serve(name);
                }
            }
            Step::Snapshot => {
                if std::mem::take(&mut self.snapshot_needed) {
                    let rdb = Bytes::from(vec![b'R'; 100]);
                    self.master
                        .send_snapshot(self.session, self.now, rdb)
                        .expect("snapshot");
                }
            }
            Step::Propagate(n) => {
                for i in 0..*n {
                    self.master
                        .propagate(Some(0), &["SET", &format!("k{i}"), &"v".repeat(80)]);
                    self.serve(name);
                }
            }
            Step::StopReading => self.reading = false,
            Step::Busy => self.answering = false,
            Step::Read => self.reading = true,
            Step::Advance(secs) => {
                self.now += Duration::from_secs(*secs);
                self.master.handle_timeout(self.now);
            }
        }
        self.serve(name);
    }

    fn serve(&mut self, name: &str) {
        while let Some(event) = self.master.poll_event() {
            assert!(
                self.closes.is_empty(),
                "{name}: event after Closed: {event:?}"
            );
            match event {
                MasterEvent::Auth { password, .. } => {
                    let ok = &password[..] == b"secret";
                    self.master
                        .auth_result(self.session, self.now, ok)
                        .expect("auth");
                }
                MasterEvent::Command { .. } if self.answering => {
                    // The session may have closed behind the command (its input limit).
                    let _ = self.master.reply(self.session, self.now, b"+OK\r\n");
                }
                MasterEvent::SnapshotNeeded { .. } => {
                    self.snapshot_needed = true;
                    self.full_resyncs += 1;
                }
                MasterEvent::Closed { reason, .. } => self.closes.push(reason),
                _ => {}
            }
        }
        if let Some(s) = self.master.session(self.session) {
            assert!(
                s.is_closed() || s.pending_output() <= OUTPUT_LIMIT,
                "{name}: unsent output {} over {OUTPUT_LIMIT}",
                s.pending_output()
            );
        }
        if self.reading {
            while let Some(bytes) = self.master.poll_transmit(self.session) {
                self.received.extend_from_slice(&bytes);
            }
        }
    }
}

fn run_session_case(c: &SessionCase) {
    for piece in [usize::MAX, 7, 1] {
        let mut run = SessionRun::new(c.require_auth);
        for step in &c.setup {
            run.step(step, usize::MAX, c.name);
        }
        assert!(
            run.closes.is_empty(),
            "{}: the setup closed the session",
            c.name
        );
        let syncs_before = run.full_resyncs;
        run.received.clear();
        for step in &c.steps {
            run.step(step, piece, c.name);
        }
        match &c.expect {
            Expect::Closed(reason) => {
                assert_eq!(
                    run.closes,
                    vec![reason.clone()],
                    "{} (pieces of {piece})",
                    c.name
                );
                // Nothing after Closed.
                run.master
                    .handle_input(run.session, run.now, &cmd(&["PING"]));
                run.master
                    .handle_timeout(run.now + Duration::from_secs(3600));
                assert!(
                    run.master.poll_event().is_none(),
                    "{}: event after Closed",
                    c.name
                );
            }
            Expect::Reply(bytes) => {
                assert!(
                    run.closes.is_empty(),
                    "{}: closed: {:?}",
                    c.name,
                    run.closes
                );
                assert_eq!(
                    String::from_utf8_lossy(&run.received),
                    String::from_utf8_lossy(bytes),
                    "{} (pieces of {piece})",
                    c.name
                );
                assert_eq!(run.full_resyncs, syncs_before, "{}: a sync started", c.name);
            }
            Expect::Acked(offset) => {
                assert!(
                    run.closes.is_empty(),
                    "{}: closed: {:?}",
                    c.name,
                    run.closes
                );
                assert!(run.received.is_empty(), "{}: a reply was sent", c.name);
                let session = run.master.session(run.session).expect("session");
                assert_eq!(session.ack_offset(), Some(Offset(*offset)), "{}", c.name);
            }
            Expect::FullResync => {
                assert!(
                    run.closes.is_empty(),
                    "{}: closed: {:?}",
                    c.name,
                    run.closes
                );
                assert_eq!(run.full_resyncs, syncs_before + 1, "{}", c.name);
                assert_eq!(run.master.stats().partial_err, 1, "{}", c.name);
            }
        }
        run.master.handle_eof(run.session, run.now);
        run.serve(c.name);
        assert_eq!(run.closes.len(), 1, "{}: exactly one Closed", c.name);
    }
}

impl Row for SessionCase {
    fn name(&self) -> &'static str {
        self.name
    }

    fn expected(&self) -> &dyn Debug {
        &self.expect
    }

    fn run(&self) {
        run_session_case(self);
    }
}

#[test]
fn hostile_replicas_and_clients() {
    check_table(&session_cases());
}
