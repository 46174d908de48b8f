//! Offset accounting on the cases of protocol.md §4 (and the A.3 captures of a real replica
//! facing a scripted master), built by hand against a fake clock.

mod common;

use std::time::{Duration, Instant};

use common::*;
use replproto::rdb::ChecksumStatus;
use replproto::replica::{
    AckMode, CloseReason, Command, CommandKind, Event, HandshakeCommand, Phase, Replica,
    ReplicaConfig, SnapshotFraming,
};
use replproto::{Checkpoint, Offset};

fn commands(events: &[Event]) -> Vec<&Command> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Command(c) => Some(c),
            _ => None,
        })
        .collect()
}

fn set(key: &str, value: &str) -> Vec<u8> {
    cmd(&["SET", key, value])
}

fn select(db: u32) -> Vec<u8> {
    cmd(&["SELECT".to_owned(), db.to_string()])
}

fn checkpoint(id: &[u8], offset: u64, db: u32) -> Checkpoint {
    Checkpoint {
        replid: replid(id),
        offset: Offset(offset),
        db,
    }
}

#[test]
fn master_generated_commands_have_the_documented_sizes() {
    // protocol.md §4.1.
    assert_eq!(PING.len(), 14);
    assert_eq!(GETACK.len(), 37);
    assert_eq!(select(5).len(), 23);
    assert_eq!(MULTI.len(), 15);
    assert_eq!(EXEC.len(), 14);
    assert_eq!(set("a", "b").len(), 27);
}

/// A.3, EOF framing: `\n\n+FULLRESYNC aaaa…a 1000`, a diskless payload in 7-byte pieces,
/// then PING → 1014; GETACK → 1014 (excluding itself), next periodic 1051; MULTI, SELECT 5,
/// SET a b → periodic stays 1051 and nothing is delivered; EXEC → all four delivered, 1130;
/// GETACK → 1130, next periodic 1167. (§4.4, §4.5, §9.3 items 40 and 43.)
#[test]
fn a3_walkthrough_with_eof_framing() {
    let t0 = Instant::now();
    let mut replica = Replica::new(ReplicaConfig::new(6380), None, t0).unwrap();
    assert_eq!(drain_sent(&mut replica), cmd(&["PING"]));
    let mut input = HANDSHAKE_REPLIES.to_vec();
    input.extend_from_slice(b"\n\n");
    input.extend(fullresync(ID_A, 1000));
    replica.handle_input(t0, &input);
    let mut expected = cmd(&["REPLCONF", "listening-port", "6380"]);
    expected.extend(cmd(&["REPLCONF", "capa", "eof", "capa", "psync2"]));
    expected.extend(cmd(&["PSYNC", "?", "-1"]));
    assert_eq!(drain_sent(&mut replica), expected);
    assert_eq!(replica.phase(), Phase::SnapshotHeader);

    let payload = eof_framed(&tiny_rdb());
    for piece in payload.chunks(7) {
        replica.handle_input(t0, piece);
    }
    let events = normalize(&drain_events(&mut replica));
    // The master withholds the stream until this first ACK (§3.1, §9.2 item 31).
    assert_eq!(acks_in(&drain_sent(&mut replica)), vec![1000]);
    assert!(events.contains(&Event::FullResync {
        replid: replid(ID_A),
        offset: Offset(1000)
    }));
    assert!(events.contains(&Event::SnapshotBegin {
        framing: SnapshotFraming::EofMark
    }));
    assert!(events.contains(&Event::SnapshotChunk(tiny_rdb().into())));
    assert!(events.contains(&Event::SnapshotEnd {
        size: 18,
        checksum: ChecksumStatus::NotComputed,
        db: 0
    }));
    assert_eq!(replica.offset(), Some(Offset(1000)));
    assert_eq!(replica.poll_timeout(), Some(at(t0, 1000)));

    replica.handle_input(at(t0, 100), PING);
    let events = drain_events(&mut replica);
    let ping = commands(&events);
    assert_eq!(ping.len(), 1);
    assert_eq!(
        (ping[0].kind, ping[0].offset, ping[0].db),
        (CommandKind::Ping, Offset(1014), 0)
    );
    assert_eq!(ping[0].start_offset(), Offset(1001));
    assert_eq!(drain_sent(&mut replica), b"", "no reply to PING");
    replica.handle_timeout(at(t0, 1000));
    assert_eq!(acks_in(&drain_sent(&mut replica)), vec![1014]);

    replica.handle_input(at(t0, 1100), GETACK);
    let events = drain_events(&mut replica);
    assert_eq!(
        acks_in(&drain_sent(&mut replica)),
        vec![1014],
        "GETACK excludes itself"
    );
    assert_eq!(commands(&events)[0].kind, CommandKind::GetAck);
    assert_eq!(commands(&events)[0].offset, Offset(1051));
    replica.handle_timeout(at(t0, 2000));
    assert_eq!(acks_in(&drain_sent(&mut replica)), vec![1051]);

    let mut tx = MULTI.to_vec();
    tx.extend(select(5));
    tx.extend(set("a", "b"));
    replica.handle_input(at(t0, 2100), &tx);
    assert_eq!(drain_events(&mut replica), vec![], "held until EXEC");
    assert_eq!(replica.offset(), Some(Offset(1051)));
    replica.handle_timeout(at(t0, 3000));
    assert_eq!(
        acks_in(&drain_sent(&mut replica)),
        vec![1051],
        "frozen inside MULTI"
    );

    replica.handle_input(at(t0, 3100), EXEC);
    let events = drain_events(&mut replica);
    assert_eq!(
        drain_sent(&mut replica),
        b"",
        "EXEC does not trigger an ACK"
    );
    let delivered: Vec<_> = commands(&events)
        .iter()
        .map(|c| (c.kind, c.offset.get(), c.db))
        .collect();
    assert_eq!(
        delivered,
        vec![
            (CommandKind::Multi, 1066, 0),
            (CommandKind::Select(5), 1089, 5),
            (CommandKind::Other, 1116, 5),
            (CommandKind::Exec, 1130, 5),
        ]
    );
    replica.handle_timeout(at(t0, 4000));
    assert_eq!(acks_in(&drain_sent(&mut replica)), vec![1130]);

    replica.handle_input(at(t0, 4100), GETACK);
    drain_events(&mut replica);
    assert_eq!(acks_in(&drain_sent(&mut replica)), vec![1130]);
    replica.handle_timeout(at(t0, 5000));
    assert_eq!(acks_in(&drain_sent(&mut replica)), vec![1167]);
    assert_eq!(replica.checkpoint(), Some(checkpoint(ID_A, 1167, 5)));
}

/// A.3, length framing: `+FULLRESYNC … 5000\r\n\n\n`, then `$<len>`, the RDB and a PING in one
/// read: no immediate ACK, the PING is stream, the first periodic ACK says 5014 (§3.1, §9.2
/// item 29).
#[test]
fn length_framed_payload_with_a_glued_ping() {
    let t0 = Instant::now();
    let mut replica = Replica::new(ReplicaConfig::new(6380), None, t0).unwrap();
    let mut input = HANDSHAKE_REPLIES.to_vec();
    input.extend(fullresync(ID_A, 5000));
    input.extend_from_slice(b"\n\n");
    replica.handle_input(t0, &input);
    drain_sent(&mut replica);
    let mut glued = length_framed(&tiny_rdb());
    glued.extend_from_slice(PING);
    replica.handle_input(at(t0, 10), &glued);
    let events = drain_events(&mut replica);
    assert_eq!(
        drain_sent(&mut replica),
        b"",
        "no ACK after a length-framed payload"
    );
    assert!(events.contains(&Event::SnapshotBegin {
        framing: SnapshotFraming::Length(18)
    }));
    let delivered = commands(&events);
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].offset, Offset(5014));
    assert_eq!(replica.poll_timeout(), Some(at(t0, 1010)));
    replica.handle_timeout(at(t0, 1010));
    assert_eq!(acks_in(&drain_sent(&mut replica)), vec![5014]);
}

/// Empty lines and empty arrays are stream bytes, counted when the next command is applied
/// (§4.5): a GETACK after them answers the offset before them.
#[test]
fn keepalives_in_the_stream_count_at_the_next_command() {
    let t0 = Instant::now();
    let mut replica = synced(ReplicaConfig::new(6380), 1000, t0);
    replica.handle_input(t0, b"\n\r\n*0\r\n*-1\r\n");
    assert_eq!(drain_events(&mut replica), vec![]);
    assert_eq!(replica.offset(), Some(Offset(1000)));
    assert_eq!(replica.checkpoint().unwrap().offset, Offset(1000));
    replica.handle_input(t0, GETACK);
    let events = drain_events(&mut replica);
    assert_eq!(acks_in(&drain_sent(&mut replica)), vec![1000]);
    // 1 + 2 + 4 + 5 keepalive bytes, then the 37 of GETACK.
    assert_eq!(commands(&events)[0].offset, Offset(1049));
    assert_eq!(commands(&events)[0].preceding_len, 12);
    replica.handle_input(t0, PING);
    drain_events(&mut replica);
    assert_eq!(replica.offset(), Some(Offset(1063)));
}

/// A keepalive followed by the end of the link does not move the resume point.
#[test]
fn trailing_keepalive_is_not_applied() {
    let t0 = Instant::now();
    let mut replica = synced(ReplicaConfig::new(6380), 1000, t0);
    replica.handle_input(t0, PING);
    replica.handle_input(t0, b"\n");
    replica.handle_eof(t0);
    drain_events(&mut replica);
    assert_eq!(replica.checkpoint(), Some(checkpoint(ID_A, 1014, 0)));
}

/// An EOF-framed payload is acknowledged at once with the FULLRESYNC offset; a length-framed
/// one is not (§3.6, §9.2 items 31 and 39).
#[test]
fn immediate_ack_only_after_an_eof_framed_payload() {
    for (eof, offset) in [(true, 0u64), (true, 77), (false, 0), (false, 77)] {
        let t0 = Instant::now();
        let mut replica = Replica::new(ReplicaConfig::new(6380), None, t0).unwrap();
        let mut input = HANDSHAKE_REPLIES.to_vec();
        input.extend(fullresync(ID_A, offset));
        replica.handle_input(t0, &input);
        drain_sent(&mut replica);
        let payload = if eof {
            eof_framed(&tiny_rdb())
        } else {
            length_framed(&tiny_rdb())
        };
        replica.handle_input(t0, &payload);
        drain_events(&mut replica);
        let sent = drain_sent(&mut replica);
        let expected = if eof { vec![offset] } else { vec![] };
        assert_eq!(acks_in(&sent), expected, "eof framing: {eof}");
        assert_eq!(
            sent,
            if eof {
                cmd(&["REPLCONF".to_owned(), "ACK".to_owned(), offset.to_string()])
            } else {
                vec![]
            }
        );
        assert_eq!(replica.offset(), Some(Offset(offset)));
    }
}

/// `+CONTINUE` and backlog bytes in the same read: the stream starts at the requested byte,
/// in the database of the checkpoint (§9.1 item 22, §1.3).
#[test]
fn continue_followed_by_backlog_in_the_same_read() {
    let t0 = Instant::now();
    let resume = checkpoint(ID_A, 500, 3);
    let mut replica = Replica::new(ReplicaConfig::new(6380), Some(resume), t0).unwrap();
    replica.handle_input(t0, HANDSHAKE_REPLIES);
    let sent = drain_sent(&mut replica);
    assert!(sent.ends_with(&cmd(&[&b"PSYNC"[..], ID_A, b"501"])));
    drain_events(&mut replica);
    let mut input = b"+CONTINUE\r\n".to_vec();
    input.extend(set("k", "v"));
    input.extend_from_slice(PING);
    replica.handle_input(t0, &input);
    let events = drain_events(&mut replica);
    assert_eq!(
        events[1],
        Event::PartialResync {
            replid: replid(ID_A),
            previous_replid: None,
            offset: Offset(500)
        }
    );
    let delivered = commands(&events);
    assert_eq!(delivered.len(), 2);
    assert_eq!((delivered[0].offset, delivered[0].db), (Offset(527), 3));
    assert_eq!(delivered[0].start_offset(), Offset(501));
    assert_eq!((delivered[1].offset, delivered[1].db), (Offset(541), 3));
    assert_eq!(replica.replid2(), None);
    assert_eq!(replica.checkpoint(), Some(checkpoint(ID_A, 541, 3)));
    assert_eq!(drain_sent(&mut replica), b"", "no ACK is due yet");
}

/// A replica keeps acknowledging once per second after a partial resync, as after a full one
/// (§4.4 (b), §9.3 item 51): a master drops a replica whose ACKs stop for `repl-timeout`.
#[test]
fn periodic_acks_continue_after_a_partial_resync() {
    let t0 = Instant::now();
    let resume = checkpoint(ID_A, 500, 0);
    let mut replica = Replica::new(ReplicaConfig::new(6380), Some(resume), t0).unwrap();
    replica.handle_input(t0, HANDSHAKE_REPLIES);
    let mut input = b"+CONTINUE\r\n".to_vec();
    input.extend_from_slice(PING);
    replica.handle_input(t0, &input);
    drain_events(&mut replica);
    drain_sent(&mut replica);
    assert!(
        replica.poll_timeout() <= Some(at(t0, 1000)),
        "next deadline {:?} is not the ACK period",
        replica.poll_timeout().map(|d| d - t0)
    );
    let mut acks = Vec::new();
    for second in 1..=3 {
        replica.handle_timeout(t0 + Duration::from_secs(second));
        acks.extend(acks_in(&drain_sent(&mut replica)));
    }
    assert_eq!(acks, vec![514, 514, 514]);
}

/// `+CONTINUE <new id>` after a failover: the old id becomes replid2, covering up to the byte
/// after our offset; the checkpoint follows the new id (§1.1, §2.5, §9.1 item 20).
#[test]
fn continue_with_a_new_id_shifts_the_history() {
    let t0 = Instant::now();
    let resume = checkpoint(ID_A, 138, 0);
    let mut replica = Replica::new(ReplicaConfig::new(6380), Some(resume), t0).unwrap();
    replica.handle_input(t0, HANDSHAKE_REPLIES);
    let mut line = b"+CONTINUE ".to_vec();
    line.extend_from_slice(ID_B);
    line.extend_from_slice(b"\r\n");
    replica.handle_input(t0, &line);
    let events = drain_events(&mut replica);
    assert!(events.contains(&Event::PartialResync {
        replid: replid(ID_B),
        previous_replid: Some(replid(ID_A)),
        offset: Offset(138)
    }));
    assert_eq!(replica.replid2(), Some((replid(ID_A), Offset(139))));
    assert_eq!(replica.checkpoint(), Some(checkpoint(ID_B, 138, 0)));
    replica.handle_input(t0, PING);
    replica.handle_eof(t0);
    drain_events(&mut replica);
    assert_eq!(replica.checkpoint(), Some(checkpoint(ID_B, 152, 0)));
}

/// `+CONTINUE <same id>` changes nothing; the id is compared byte for byte, so the same id in
/// upper case is a new id (§2.5).
#[test]
fn continue_with_the_same_id() {
    let t0 = Instant::now();
    for (announced, shifted) in [(ID_A.to_vec(), false), (ID_A.to_ascii_uppercase(), true)] {
        let resume = checkpoint(ID_A, 10, 2);
        let mut replica = Replica::new(ReplicaConfig::new(6380), Some(resume), t0).unwrap();
        replica.handle_input(t0, HANDSHAKE_REPLIES);
        let mut line = b"+CONTINUE ".to_vec();
        line.extend_from_slice(&announced);
        line.extend_from_slice(b"\r\n");
        replica.handle_input(t0, &line);
        drain_events(&mut replica);
        assert_eq!(replica.replid2().is_some(), shifted);
        assert_eq!(
            replica.checkpoint().unwrap().replid.as_bytes(),
            &announced[..]
        );
        assert_eq!(replica.checkpoint().unwrap().db, 2);
    }
}

/// The selected database survives a reconnect: the master does not repeat SELECT after
/// `+CONTINUE` (§1.3, §4.2, §9.3 item 48).
#[test]
fn select_persists_across_a_resume() {
    let t0 = Instant::now();
    let mut first = synced(ReplicaConfig::new(6380), 1000, t0);
    let mut input = select(7);
    input.extend(set("a", "1"));
    first.handle_input(t0, &input);
    first.handle_eof(t0);
    drain_events(&mut first);
    let resume = first.checkpoint().expect("resumable");
    assert_eq!(resume, checkpoint(ID_A, 1000 + 23 + 27, 7));

    let mut second = Replica::new(ReplicaConfig::new(6380), Some(resume), t0).unwrap();
    second.handle_input(t0, HANDSHAKE_REPLIES);
    assert!(drain_sent(&mut second).ends_with(&cmd(&[&b"PSYNC"[..], ID_A, b"1051"])));
    let mut input = b"+CONTINUE\r\n".to_vec();
    input.extend(set("b", "2"));
    second.handle_input(t0, &input);
    let events = drain_events(&mut second);
    assert_eq!(commands(&events)[0].db, 7);
}

/// The database announced in the snapshot (`repl-stream-db`) is where the stream starts.
#[test]
fn stream_starts_in_the_snapshot_database() {
    let t0 = Instant::now();
    let rdb = rdb_with_aux(&[
        (b"redis-ver", b"7.0.15"),
        (b"repl-stream-db", b"3"),
        (b"repl-id", ID_A),
        (b"repl-offset", b"1000"),
    ]);
    let mut replica = Replica::new(ReplicaConfig::new(6380), None, t0).unwrap();
    let mut input = HANDSHAKE_REPLIES.to_vec();
    input.extend(fullresync(ID_A, 1000));
    input.extend(length_framed(&rdb));
    input.extend(set("k", "v"));
    replica.handle_input(t0, &input);
    let events = drain_events(&mut replica);
    assert!(events.contains(&Event::SnapshotEnd {
        size: rdb.len() as u64,
        checksum: ChecksumStatus::Verified,
        db: 3
    }));
    assert_eq!(commands(&events)[0].db, 3);
    assert_eq!(replica.checkpoint(), Some(checkpoint(ID_A, 1027, 3)));
}

/// A link lost inside MULTI resumes before MULTI, in the database selected before it; nothing
/// of the transaction is delivered (§4.5, §4.6).
#[test]
fn link_lost_inside_a_transaction() {
    let t0 = Instant::now();
    let mut replica = synced(ReplicaConfig::new(6380), 1000, t0);
    let mut input = select(2);
    input.extend_from_slice(MULTI);
    input.extend(select(5));
    input.extend(set("a", "b"));
    replica.handle_input(t0, &input);
    let events = drain_events(&mut replica);
    assert_eq!(commands(&events).len(), 1, "only the SELECT before MULTI");
    replica.handle_eof(t0);
    assert_eq!(
        drain_events(&mut replica),
        vec![Event::Closed(CloseReason::Disconnected {
            phase: Phase::Streaming
        })]
    );
    let resume = replica.checkpoint().unwrap();
    assert_eq!(resume, checkpoint(ID_A, 1023, 2));
    // The next link asks for the first byte of MULTI.
    let mut next = Replica::new(ReplicaConfig::new(6380), Some(resume), t0).unwrap();
    next.handle_input(t0, HANDSHAKE_REPLIES);
    let sent = drain_sent(&mut next);
    let psync = split_units(&sent).pop().unwrap().unit;
    assert_eq!(
        psync,
        Unit::Command(vec![b"PSYNC".to_vec(), ID_A.to_vec(), b"1024".to_vec()])
    );
}

/// A link lost in the middle of a command does not deliver it or count its bytes (§4.5).
#[test]
fn link_lost_inside_a_command() {
    let t0 = Instant::now();
    let mut replica = synced(ReplicaConfig::new(6380), 1000, t0);
    let mut input = PING.to_vec();
    let partial = set("key", "value");
    input.extend_from_slice(&partial[..partial.len() - 3]);
    replica.handle_input(t0, &input);
    let events = drain_events(&mut replica);
    assert_eq!(commands(&events).len(), 1);
    assert!(replica.buffered() > 0);
    replica.handle_eof(t0);
    let events = drain_events(&mut replica);
    assert_eq!(commands(&events).len(), 0);
    assert_eq!(replica.checkpoint(), Some(checkpoint(ID_A, 1014, 0)));
}

/// ACKs once per period; the deadline moves forward after each, and a late call sends one
/// ACK, not a burst (§9.3 item 51).
#[test]
fn ack_period_moves_the_deadline_forward() {
    let t0 = Instant::now();
    let mut replica = synced(ReplicaConfig::new(6380), 1000, t0);
    assert_eq!(replica.poll_timeout(), Some(at(t0, 1000)));
    replica.handle_timeout(at(t0, 999));
    assert_eq!(drain_sent(&mut replica), b"");
    assert_eq!(replica.poll_timeout(), Some(at(t0, 1000)));
    replica.handle_timeout(at(t0, 1000));
    assert_eq!(acks_in(&drain_sent(&mut replica)), vec![1000]);
    assert_eq!(replica.poll_timeout(), Some(at(t0, 2000)));
    replica.handle_timeout(at(t0, 1500));
    assert_eq!(drain_sent(&mut replica), b"");
    // Late by several periods: one ACK, and the next deadline is in the future.
    replica.handle_input(at(t0, 5000), PING);
    drain_events(&mut replica);
    replica.handle_timeout(at(t0, 5500));
    assert_eq!(acks_in(&drain_sent(&mut replica)), vec![1014]);
    let next = replica.poll_timeout().unwrap();
    assert!(
        next > at(t0, 5500) && next <= at(t0, 6500),
        "{:?}",
        next - t0
    );
    // The deadline never passes the inactivity limit.
    let mut now = at(t0, 5500);
    for _ in 0..200 {
        let deadline = replica.poll_timeout().unwrap();
        assert!(deadline > now);
        assert!(deadline <= at(t0, 5000) + Duration::from_secs(60));
        now = deadline;
        replica.handle_timeout(now);
        if replica.is_closed() {
            break;
        }
    }
    assert!(replica.is_closed());
    assert_eq!(now, at(t0, 5000) + Duration::from_secs(60));
}

/// With a custom period, ACKs follow it.
#[test]
fn custom_ack_period() {
    let t0 = Instant::now();
    let config = ReplicaConfig::new(6380).with_ack_period(Duration::from_millis(250));
    let mut replica = synced(config, 1000, t0);
    let mut acks = Vec::new();
    for ms in (250..=1000).step_by(250) {
        replica.handle_timeout(at(t0, ms));
        acks.extend(acks_in(&drain_sent(&mut replica)));
    }
    assert_eq!(acks, vec![1000; 4]);
}

/// In manual mode the ACK carries what the application confirmed, capped at what was
/// delivered; GETACK answers the same.
#[test]
fn manual_acks_follow_confirmations() {
    let t0 = Instant::now();
    let config = ReplicaConfig::new(6380).with_ack_mode(AckMode::Manual);
    let mut replica = synced(config, 1000, t0);
    replica.handle_input(t0, PING);
    drain_events(&mut replica);
    replica.handle_timeout(at(t0, 1000));
    assert_eq!(acks_in(&drain_sent(&mut replica)), vec![1000]);
    replica.acknowledge(Offset(1014));
    replica.handle_input(t0, GETACK);
    drain_events(&mut replica);
    assert_eq!(acks_in(&drain_sent(&mut replica)), vec![1014]);
    replica.acknowledge(Offset(999_999));
    replica.handle_timeout(at(t0, 2000));
    assert_eq!(acks_in(&drain_sent(&mut replica)), vec![1051]);
    // The resume point is what was delivered, whatever was confirmed.
    assert_eq!(replica.checkpoint().unwrap().offset, Offset(1051));
}

/// A resume checkpoint makes PSYNC ask for the byte after it; without one, `PSYNC ? -1`.
#[test]
fn psync_asks_for_the_byte_after_the_checkpoint() {
    let t0 = Instant::now();
    for (resume, id, next) in [
        (None, &b"?"[..], &b"-1"[..]),
        (Some(checkpoint(ID_A, 0, 0)), &ID_A[..], &b"1"[..]),
        (
            Some(checkpoint(ID_B, 206_944, 9)),
            &ID_B[..],
            &b"206945"[..],
        ),
    ] {
        let mut replica = Replica::new(ReplicaConfig::new(6380), resume, t0).unwrap();
        assert_eq!(replica.checkpoint(), resume);
        replica.handle_input(t0, HANDSHAKE_REPLIES);
        let sent = drain_sent(&mut replica);
        let units = split_units(&sent);
        assert_eq!(
            units.last().unwrap().unit,
            Unit::Command(vec![b"PSYNC".to_vec(), id.to_vec(), next.to_vec()])
        );
        let events = drain_events(&mut replica);
        let replied: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                Event::HandshakeReply { command, .. } => Some(*command),
                _ => None,
            })
            .collect();
        assert_eq!(
            replied,
            vec![
                HandshakeCommand::Ping,
                HandshakeCommand::ListeningPort,
                HandshakeCommand::Capa
            ]
        );
    }
}

/// A full sync replaces the old history: after `+FULLRESYNC` the old checkpoint is gone.
#[test]
fn full_resync_drops_the_old_checkpoint() {
    let t0 = Instant::now();
    let resume = checkpoint(ID_B, 5, 0);
    let mut replica = Replica::new(ReplicaConfig::new(6380), Some(resume), t0).unwrap();
    let mut input = HANDSHAKE_REPLIES.to_vec();
    input.extend(fullresync(ID_A, 9000));
    replica.handle_input(t0, &input);
    // Until the application is told of the full resync, the old history still stands.
    assert_eq!(replica.checkpoint(), Some(resume));
    drain_events(&mut replica);
    assert_eq!(replica.checkpoint(), None);
    replica.handle_input(t0, &length_framed(&tiny_rdb()));
    drain_events(&mut replica);
    assert_eq!(replica.checkpoint(), Some(checkpoint(ID_A, 9000, 0)));
}

/// The checkpoint follows delivery, not decoding: a whole read of commands moves it one
/// event at a time as the application takes them, never ahead (a transaction moves it once,
/// at its EXEC).
#[test]
fn the_checkpoint_never_runs_ahead_of_delivered_events() {
    let t0 = Instant::now();
    let mut replica = synced(ReplicaConfig::new(6380), 1000, t0);
    let mut input = set("a", "1");
    input.extend(select(3));
    input.extend_from_slice(MULTI);
    input.extend(set("b", "2"));
    input.extend_from_slice(EXEC);
    input.extend_from_slice(PING);
    replica.handle_input(t0, &input);
    assert_eq!(replica.checkpoint(), Some(checkpoint(ID_A, 1000, 0)));
    let mut seen = Vec::new();
    while let Some(event) = replica.poll_event() {
        let Event::Command(command) = event else {
            continue;
        };
        seen.push((command.kind, replica.checkpoint().unwrap().offset.get()));
    }
    assert_eq!(
        seen,
        vec![
            (CommandKind::Other, 1027),
            (CommandKind::Select(3), 1050),
            (CommandKind::Multi, 1050),
            (CommandKind::Other, 1050),
            (CommandKind::Exec, 1050 + 15 + 27 + 14),
            (CommandKind::Ping, 1050 + 15 + 27 + 14 + 14),
        ]
    );
}
