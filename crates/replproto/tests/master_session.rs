//! A master session fed what replicas and clients send, good and bad: exact replies, and
//! hostile input ending the session with a typed reason and bounded memory.

use std::time::{Duration, Instant};

use bytes::Bytes;
use replproto::master::session::{
    Session, SessionCloseReason, SessionConfig, SessionEvent, SessionPhase, SnapshotHeader,
    SyncRequest,
};
use replproto::master::{Master, MasterConfig, MasterEvent};
use replproto::resp::RespError;
use replproto::{Limits, Offset, ReplId};

fn session() -> (Session, Instant) {
    let t0 = Instant::now();
    (Session::new(SessionConfig::default(), t0), t0)
}

fn sent(session: &mut Session) -> Vec<u8> {
    std::iter::from_fn(|| session.poll_transmit())
        .flat_map(|b| b.to_vec())
        .collect()
}

fn events(session: &mut Session) -> Vec<SessionEvent> {
    std::iter::from_fn(|| session.poll_event()).collect()
}

fn cmd(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend(format!("${}\r\n{a}\r\n", a.len()).bytes());
    }
    out
}

#[test]
fn replconf_replies_are_exact() {
    let (mut s, t0) = session();
    let cases: [(&[&str], &[u8]); 8] = [
        (&["REPLCONF", "listening-port", "6380"], b"+OK\r\n"),
        (
            &["REPLCONF", "capa", "eof", "capa", "psync2", "capa", "zstd"],
            b"+OK\r\n",
        ),
        (
            &["REPLCONF", "listening-port", "x"],
            b"-ERR value is not an integer or out of range\r\n",
        ),
        (&["REPLCONF", "listening-port"], b"-ERR syntax error\r\n"),
        (
            &["REPLCONF", "nope", "1"],
            b"-ERR Unrecognized REPLCONF option: nope\r\n",
        ),
        (
            &["REPLCONF", "rdb-only", "2"],
            b"-ERR value is out of range, value must between 0 and 1\r\n",
        ),
        (&["REPLCONF", "ack", "5"], b""),
        (&["REPLCONF", "getack", "*"], b""),
    ];
    for (args, reply) in cases {
        s.handle_input(t0, &cmd(args));
        assert_eq!(sent(&mut s), reply, "{args:?}");
    }
    let long = "1".repeat(256);
    s.handle_input(t0, &cmd(&["REPLCONF", "ip-address", &long]));
    assert_eq!(
        sent(&mut s),
        b"-ERR REPLCONF ip-address provided by replica instance is too long: 256 bytes\r\n"
    );
    assert!(s.info().capa_eof && s.info().capa_psync2);
    assert_eq!(s.info().listening_port, Some(6380));
}

#[test]
fn inline_handshake_of_old_replicas_is_understood() {
    let (mut s, t0) = session();
    s.handle_input(
        t0,
        b"PING\r\nREPLCONF listening-port 6380\r\nREPLCONF capa eof\r\n",
    );
    assert_eq!(sent(&mut s), b"+PONG\r\n+OK\r\n+OK\r\n");
    s.handle_input(t0, b"PSYNC ? -1\r\n");
    let got = events(&mut s);
    assert!(
        matches!(&got[..], [SessionEvent::SyncRequested(SyncRequest::Psync { replid, .. })] if &replid[..] == b"?")
    );
}

#[test]
fn pipelined_psync_is_refused_like_redis() {
    let (mut s, t0) = session();
    let mut burst = cmd(&["REPLCONF", "capa", "psync2"]);
    burst.extend(cmd(&["PSYNC", "?", "-1"]));
    s.handle_input(t0, &burst);
    assert_eq!(
        sent(&mut s),
        b"+OK\r\n-ERR SYNC and PSYNC are invalid with pending output\r\n"
    );
    assert!(events(&mut s).is_empty());
}

#[test]
fn authentication_is_required_before_anything_else() {
    let t0 = Instant::now();
    let mut config = SessionConfig::default();
    config.require_auth = true;
    let mut s = Session::new(config, t0);
    s.handle_input(t0, &cmd(&["REPLCONF", "listening-port", "1"]));
    s.handle_input(t0, &cmd(&["PSYNC", "?", "-1"]));
    assert_eq!(
        sent(&mut s),
        b"-NOAUTH Authentication required.\r\n-NOAUTH Authentication required.\r\n"
    );
    // AUTH and the REPLCONF behind it: the REPLCONF waits for the verdict.
    let mut burst = cmd(&["AUTH", "wrong"]);
    burst.extend(cmd(&["REPLCONF", "listening-port", "1"]));
    s.handle_input(t0, &burst);
    assert!(matches!(&events(&mut s)[..], [SessionEvent::Auth { .. }]));
    assert!(sent(&mut s).is_empty());
    s.auth_result(t0, false).unwrap();
    assert_eq!(
        sent(&mut s),
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n-NOAUTH Authentication required.\r\n"
    );
    s.handle_input(t0, &cmd(&["AUTH", "secret"]));
    events(&mut s);
    s.auth_result(t0, true).unwrap();
    assert_eq!(sent(&mut s), b"+OK\r\n");
    assert!(s.auth_result(t0, true).is_err(), "no AUTH is pending");
}

#[test]
fn garbage_and_oversized_claims_end_the_session_without_buffering() {
    let t0 = Instant::now();
    let mut config = SessionConfig::default();
    config.limits = Limits::DEFAULT
        .with_max_bulk_len(1024)
        .with_max_frame_len(4096);
    let cases: [(&[u8], SessionCloseReason); 4] = [
        (
            b"*1\r\n$999999\r\n",
            SessionCloseReason::Protocol(RespError::BulkTooLarge {
                len: 999999,
                limit: 1024,
            }),
        ),
        (
            b"*1\r\n:5\r\n",
            SessionCloseReason::Protocol(RespError::ExpectedBulk(b':')),
        ),
        (
            b"*-5\r\n",
            SessionCloseReason::Protocol(RespError::InvalidLength),
        ),
        (
            b"*1\r\n$3\r\nabcde",
            SessionCloseReason::Protocol(RespError::MissingCrlf),
        ),
    ];
    for (input, reason) in cases {
        let mut s = Session::new(config.clone(), t0);
        s.handle_input(t0, input);
        assert_eq!(events(&mut s), vec![SessionEvent::Closed(reason)]);
        assert!(s.is_closed());
        s.handle_input(t0, b"*1\r\n$4\r\nPING\r\n");
        assert!(events(&mut s).is_empty(), "nothing after Closed");
    }
    // A client piling up commands while one waits for its reply hits the input limit.
    let mut s = Session::new(config, t0);
    s.handle_input(t0, &cmd(&["GET", "k"]));
    let filler = cmd(&["GET", &"x".repeat(1000)]).repeat(5);
    s.handle_input(t0, &filler);
    let got = events(&mut s);
    assert!(
        matches!(
            got.last(),
            Some(SessionEvent::Closed(SessionCloseReason::InputLimit {
                limit: 4096
            }))
        ),
        "{got:?}"
    );
}

fn online_replica(t0: Instant) -> Session {
    let mut s = Session::new(SessionConfig::default(), t0);
    s.handle_input(t0, &cmd(&["PSYNC", "?", "-1"]));
    events(&mut s);
    let id = ReplId::parse(b"e8120531390c7d051bcb7f000ce2b93dfe8b7184").unwrap();
    s.start_snapshot(t0, id, Offset(100), SnapshotHeader::Length(3))
        .unwrap();
    s.snapshot_chunk(Bytes::from_static(b"RDB")).unwrap();
    s.finish_snapshot(t0).unwrap();
    assert_eq!(s.phase(), SessionPhase::Online);
    sent(&mut s);
    s
}

#[test]
fn acks_never_go_backwards_and_replicas_may_not_send_commands() {
    let t0 = Instant::now();
    let mut s = online_replica(t0);
    s.handle_input(t0, &cmd(&["REPLCONF", "ACK", "150"]));
    s.handle_input(t0, &cmd(&["REPLCONF", "ACK", "120"]));
    s.handle_input(t0, &cmd(&["REPLCONF", "ACK", "garbage"]));
    assert_eq!(s.ack_offset(), Some(Offset(150)));
    assert!(sent(&mut s).is_empty(), "ACKs are never answered");
    s.handle_input(t0, b"\n");
    s.handle_input(t0, &cmd(&["SET", "k", "v"]));
    let got = events(&mut s);
    assert!(
        matches!(got.last(), Some(SessionEvent::Closed(SessionCloseReason::ReplicaCommand(name))) if &name[..] == b"SET")
    );
}

#[test]
fn diskless_stream_waits_for_the_first_ack() {
    let t0 = Instant::now();
    let mut s = Session::new(SessionConfig::default(), t0);
    s.handle_input(t0, &cmd(&["REPLCONF", "capa", "eof"]));
    assert_eq!(sent(&mut s), b"+OK\r\n");
    s.handle_input(t0, &cmd(&["SYNC"]));
    events(&mut s);
    s.start_snapshot(
        t0,
        ReplId::CLEARED,
        Offset(0),
        SnapshotHeader::EofMark([b'a'; 40]),
    )
    .unwrap();
    s.feed_stream(Bytes::from_static(b"*1\r\n$4\r\nping\r\n"));
    s.finish_snapshot(t0).unwrap();
    let wire = sent(&mut s);
    assert!(
        wire.starts_with(b"$EOF:aaaa") && wire.ends_with(&[b'a'; 40]),
        "legacy SYNC: no +FULLRESYNC line"
    );
    assert_eq!(s.phase(), SessionPhase::AwaitFirstAck);
    s.handle_input(t0, &cmd(&["REPLCONF", "ACK", "0"]));
    assert_eq!(sent(&mut s), b"*1\r\n$4\r\nping\r\n");
    assert_eq!(s.phase(), SessionPhase::Online);
}

#[test]
fn a_replica_that_stops_reading_is_dropped_at_the_output_limit() {
    let t0 = Instant::now();
    let mut config = SessionConfig::default();
    config.output_limit = 64 * 1024;
    let mut s = Session::new(config, t0);
    s.handle_input(t0, &cmd(&["PSYNC", "?", "-1"]));
    events(&mut s);
    s.start_snapshot(t0, ReplId::CLEARED, Offset(0), SnapshotHeader::Length(0))
        .unwrap();
    s.finish_snapshot(t0).unwrap();
    let chunk = Bytes::from(vec![b'x'; 8 * 1024]);
    for _ in 0..9 {
        s.feed_stream(chunk.clone());
    }
    assert_eq!(
        events(&mut s),
        vec![SessionEvent::Closed(SessionCloseReason::OutputLimit {
            limit: 64 * 1024
        })]
    );
    assert!(
        s.poll_transmit().is_none(),
        "a dropped replica gets nothing more"
    );
}

#[test]
fn psync_with_a_bad_offset_gets_the_exact_error_and_no_sync() {
    let t0 = Instant::now();
    let mut m = Master::new(MasterConfig::default(), [1; 32], t0);
    let id = m.add_session(t0);
    let replid = m.ids().replid;
    for bad in ["abc", "+5", "05", "-0", "99999999999999999999"] {
        m.handle_input(id, t0, &cmd(&["PSYNC", replid.as_str(), bad]));
        let reply: Vec<u8> = std::iter::from_fn(|| m.poll_transmit(id))
            .flat_map(|b| b.to_vec())
            .collect();
        assert_eq!(
            reply, b"-ERR value is not an integer or out of range\r\n",
            "{bad}"
        );
    }
    assert!(std::iter::from_fn(|| m.poll_event())
        .all(|e| !matches!(e, MasterEvent::SnapshotNeeded { .. })));
    assert_eq!(m.stats().full, 0);
}

#[test]
fn min_replicas_to_write_refuses_with_noreplicas() {
    let t0 = Instant::now();
    let mut config = MasterConfig::default();
    config.min_replicas_to_write = 1;
    config.min_replicas_max_lag = 10;
    let mut m = Master::new(config, [2; 32], t0);
    assert_eq!(
        m.check_write(t0),
        Err(&b"-NOREPLICAS Not enough good replicas to write.\r\n"[..])
    );
    let id = m.add_session(t0);
    m.handle_input(id, t0, &cmd(&["PSYNC", "?", "-1"]));
    while m.poll_event().is_some() {}
    m.send_snapshot(id, t0, Bytes::from_static(b"RDB")).unwrap();
    assert_eq!(m.check_write(t0), Ok(()));
    // Silent for longer than the allowed lag: no longer a good replica.
    assert!(m.check_write(t0 + Duration::from_secs(11)).is_err());
    m.handle_input(
        id,
        t0 + Duration::from_secs(11),
        &cmd(&["REPLCONF", "ACK", "0"]),
    );
    assert_eq!(m.check_write(t0 + Duration::from_secs(11)), Ok(()));
}

#[test]
fn misuse_is_a_typed_error_not_a_panic() {
    let (mut s, t0) = session();
    assert!(s.reply(t0, b"+OK\r\n").is_err());
    assert!(s.snapshot_chunk(Bytes::new()).is_err());
    assert!(s.finish_snapshot(t0).is_err());
    assert!(s.accept_partial(t0, None, Vec::new()).is_err());
}

#[test]
fn relayed_commands_carry_the_stream_database_into_snapshots() {
    use replproto::replica::{Event, Replica, ReplicaConfig};
    let t0 = Instant::now();
    let id = ReplId::parse(b"e8120531390c7d051bcb7f000ce2b93dfe8b7184").unwrap();
    let mut replica = Replica::new(ReplicaConfig::new(1), None, t0).unwrap();
    let mut rdb = replproto::rdb::RdbWriter::new("t");
    rdb.replication_info(id, Offset(0), 0);
    let rdb = rdb.finish();
    let mut wire =
        b"+PONG\r\n+OK\r\n+OK\r\n+FULLRESYNC e8120531390c7d051bcb7f000ce2b93dfe8b7184 0\r\n"
            .to_vec();
    wire.extend(format!("${}\r\n", rdb.len()).bytes());
    wire.extend(&rdb);
    wire.extend(b"\n*2\r\n$6\r\nSELECT\r\n$1\r\n5\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
    replica.handle_input(t0, &wire);
    let mut b = Master::new(MasterConfig::default(), [4; 32], t0);
    b.follow(id, Offset(0), 0, t0);
    while let Some(event) = replica.poll_event() {
        if let Event::Command(command) = event {
            b.relay_command(&command);
        }
    }
    assert_eq!(b.snapshot_aux(), (id, replica.offset().unwrap(), 5));
    // The keepalive byte before SELECT was relayed too: offsets agree along the chain.
    assert_eq!(b.offset(), Offset(1 + 23 + 27));
}

#[test]
fn a_master_turned_replica_keeps_its_history_and_backlog() {
    let t0 = Instant::now();
    let mut m = Master::new(MasterConfig::default(), [5; 32], t0);
    let id = m.add_session(t0);
    m.handle_input(id, t0, &cmd(&["PSYNC", "?", "-1"]));
    while m.poll_event().is_some() {}
    m.send_snapshot(id, t0, Bytes::from_static(b"RDB")).unwrap();
    m.propagate(Some(0), &["SET", "k", "v"]);
    let before = (m.ids().replid, m.offset(), m.backlog().unwrap().window());
    let resume = m.become_replica();
    assert_eq!(
        (resume.replid, resume.offset, resume.db),
        (before.0, before.1, 0)
    );
    assert_eq!(m.backlog().unwrap().window(), before.2);
    assert!(
        m.session(id).unwrap().is_replica(),
        "replicas stay connected"
    );
    // Until its own link is up it refuses syncs.
    let other = m.add_session(t0);
    m.handle_input(other, t0, &cmd(&["PSYNC", "?", "-1"]));
    let reply: Vec<u8> = std::iter::from_fn(|| m.poll_transmit(other))
        .flat_map(|b| b.to_vec())
        .collect();
    assert_eq!(
        reply,
        b"-NOMASTERLINK Can't SYNC while not connected with my master\r\n"
    );
}

#[test]
fn rdb_filter_only_asks_for_a_diskless_snapshot_without_data() {
    let t0 = Instant::now();
    let mut config = MasterConfig::default();
    config.diskless_sync = false;
    let mut m = Master::new(config, [6; 32], t0);
    let id = m.add_session(t0);
    m.handle_input(id, t0, &cmd(&["REPLCONF", "rdb-filter-only", "bogus"]));
    m.handle_input(id, t0, b"");
    let reply: Vec<u8> = std::iter::from_fn(|| m.poll_transmit(id))
        .flat_map(|b| b.to_vec())
        .collect();
    assert_eq!(reply, b"-ERR Unsupported rdb-filter-only option: bogus\r\n");
    m.handle_input(id, t0, &cmd(&["REPLCONF", "rdb-filter-only", ""]));
    while m.poll_transmit(id).is_some() {}
    m.handle_input(id, t0, &cmd(&["SYNC"]));
    let reply: Vec<u8> = std::iter::from_fn(|| m.poll_transmit(id))
        .flat_map(|b| b.to_vec())
        .collect();
    assert_eq!(reply, b"-ERR Filtered replica requires EOF capability\r\n");
    m.handle_input(id, t0, &cmd(&["REPLCONF", "capa", "eof"]));
    while m.poll_transmit(id).is_some() {}
    m.handle_input(id, t0, &cmd(&["SYNC"]));
    let events: Vec<MasterEvent> = std::iter::from_fn(|| m.poll_event()).collect();
    assert!(matches!(
        events[..],
        [MasterEvent::SnapshotNeeded {
            without_data: true,
            ..
        }]
    ));
    m.send_snapshot(id, t0, Bytes::from_static(b"RDB")).unwrap();
    let wire: Vec<u8> = std::iter::from_fn(|| m.poll_transmit(id))
        .flat_map(|b| b.to_vec())
        .collect();
    assert!(
        wire.starts_with(b"$EOF:"),
        "filtered snapshots are diskless even with diskless_sync off"
    );
}
