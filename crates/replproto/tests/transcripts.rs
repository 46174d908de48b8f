//! Replays the master's side of every recorded conversation of real Redis servers into a
//! `Replica` configured like the real replica, and checks that ours says and understands the
//! same things: the handshake bytes, the decoded commands, the offsets in the ACKs, the final
//! offset, and the `PSYNC` it sends when it reconnects.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use replproto::rdb::ChecksumStatus;
use replproto::replica::{
    CloseReason, CommandKind, Event, Phase, Replica, ReplicaConfig, SnapshotFraming,
};
use replproto::{Checkpoint, Offset, ReplId};

macro_rules! scenarios {
    ($($test:ident => $version:literal, $name:literal;)*) => {
        $(
            #[test]
            fn $test() {
                replay($version, $name);
            }
        )*
        const COVERED: &[(&str, &str)] = &[$(($version, $name)),*];
    };
}

scenarios! {
    v7_a_fullsync_disk => "redis-7.0.15", "a-fullsync-disk";
    v7_a2_fullsync_disk_wait_bgsave => "redis-7.0.15", "a2-fullsync-disk-wait-bgsave";
    v7_b_fullsync_diskless => "redis-7.0.15", "b-fullsync-diskless";
    v7_c_propagation => "redis-7.0.15", "c-propagation";
    v7_d_partial_resync => "redis-7.0.15", "d-partial-resync";
    v7_e_replica_restart => "redis-7.0.15", "e-replica-restart";
    v7_f_failover => "redis-7.0.15", "f-failover";
    v7_g1_auth_ok => "redis-7.0.15", "g1-auth-ok";
    v7_g2_auth_wrong => "redis-7.0.15", "g2-auth-wrong";
    v7_g3_auth_missing => "redis-7.0.15", "g3-auth-missing";
    v7_g4_auth_unneeded => "redis-7.0.15", "g4-auth-unneeded";
    v7_g5_acl_user => "redis-7.0.15", "g5-acl-user";
    v7_g6_acl_noperm => "redis-7.0.15", "g6-acl-noperm";
    v7_h_backlog_overflow => "redis-7.0.15", "h-backlog-overflow";
    v7_i1_cli_replica => "redis-7.0.15", "i1-cli-replica";
    v7_i2_cli_rdb => "redis-7.0.15", "i2-cli-rdb";
    v7_k_announce_ip => "redis-7.0.15", "k-announce-ip";
    v7_l_aof_replica => "redis-7.0.15", "l-aof-replica";
    v6_a_fullsync_disk => "redis-6.0.9", "a-fullsync-disk";
    v6_a2_fullsync_disk_wait_bgsave => "redis-6.0.9", "a2-fullsync-disk-wait-bgsave";
    v6_b_fullsync_diskless => "redis-6.0.9", "b-fullsync-diskless";
    v6_c_propagation => "redis-6.0.9", "c-propagation";
    v6_d_partial_resync => "redis-6.0.9", "d-partial-resync";
    v6_e_replica_restart => "redis-6.0.9", "e-replica-restart";
    v6_f_failover => "redis-6.0.9", "f-failover";
    v6_g1_auth_ok => "redis-6.0.9", "g1-auth-ok";
    v6_g2_auth_wrong => "redis-6.0.9", "g2-auth-wrong";
    v6_g3_auth_missing => "redis-6.0.9", "g3-auth-missing";
    v6_g4_auth_unneeded => "redis-6.0.9", "g4-auth-unneeded";
    v6_g5_acl_user => "redis-6.0.9", "g5-acl-user";
    v6_g6_acl_noperm => "redis-6.0.9", "g6-acl-noperm";
    v6_h_backlog_overflow => "redis-6.0.9", "h-backlog-overflow";
    v6_i1_cli_replica => "redis-6.0.9", "i1-cli-replica";
    v6_i2_cli_rdb => "redis-6.0.9", "i2-cli-rdb";
    v6_k_announce_ip => "redis-6.0.9", "k-announce-ip";
    v6_l_aof_replica => "redis-6.0.9", "l-aof-replica";
}

#[test]
fn every_recorded_scenario_is_replayed() {
    let mut on_disk = Vec::new();
    for version in VERSIONS {
        for name in scenario_names(version) {
            on_disk.push((version.to_owned(), name));
        }
    }
    let mut covered: Vec<(String, String)> = COVERED
        .iter()
        .map(|(v, n)| ((*v).to_owned(), (*n).to_owned()))
        .collect();
    on_disk.sort();
    covered.sort();
    assert_eq!(on_disk, covered);
}

/// How a scenario whose master refuses the replica must end each connection.
fn expected_refusal(name: &str) -> Option<(Phase, &'static [u8])> {
    match name {
        // AUTH answered -WRONGPASS: abort (protocol.md §9.1 item 8).
        "g2-auth-wrong" => Some((Phase::Handshake, b"WRONGPASS")),
        // No password: -NOAUTH to PSYNC → SYNC fallback → -NOAUTH at the bulk stage
        // (§9.1 item 9).
        "g3-auth-missing" => Some((Phase::SnapshotHeader, b"NOAUTH")),
        // AUTH to a master without a password: -ERR, abort (§2.2 step 3).
        "g4-auth-unneeded" => Some((Phase::Handshake, b"ERR")),
        // ACL user without PSYNC/SYNC permission: SYNC fallback, then -NOPERM (§9.1 item 27).
        "g6-acl-noperm" => Some((Phase::SnapshotHeader, b"NOPERM")),
        _ => None,
    }
}

/// Bytes that print escaped in assertion messages.
fn show(bytes: &[u8]) -> Bytes {
    Bytes::copy_from_slice(bytes)
}

/// What the decoded transcript says the replica's stream must look like.
#[derive(Debug, Default)]
struct ExpectedStream {
    replid: Option<Vec<u8>>,
    /// Offset the stream starts after (FULLRESYNC offset, or the byte before the PSYNC start).
    base: Option<u64>,
    /// Commands a replica applies, in order (an unfinished transaction left out).
    delivered: Vec<Vec<Vec<u8>>>,
    /// Last applied byte, and the database selected there.
    applied: u64,
    applied_db: u32,
    /// Every offset the replica passes through between whole commands.
    boundaries: BTreeSet<u64>,
    /// Snapshot: framing and size.
    snapshot: Option<(bool, u64)>,
}

fn number_after<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let at = text.find(key)? + key.len();
    let rest = &text[at..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

fn expected_stream(
    scenario: &Scenario,
    conn: u64,
    real: &RealReplica,
    resume: Option<Checkpoint>,
) -> ExpectedStream {
    let mut exp = ExpectedStream::default();
    let mut read = 0u64;
    let mut db = 0u32;
    let mut transaction: Option<Vec<Vec<Vec<u8>>>> = None;
    for line in scenario.decoded(conn, Dir::M2r) {
        match line.kind.as_str() {
            "LINE" if line.text.starts_with("+FULLRESYNC ") => {
                let mut words = line.text.split(' ').skip(1);
                exp.replid = Some(words.next().expect("replid").as_bytes().to_vec());
                read = words.next().expect("offset").parse().expect("offset");
                db = 0;
                exp.base = Some(read);
            }
            "LINE" if line.text.starts_with("+CONTINUE") => {
                let (psync_id, psync_off) = real.psync.clone().expect("PSYNC sent");
                let next: u64 = String::from_utf8(psync_off).unwrap().parse().unwrap();
                read = next - 1;
                db = resume.map_or(0, |r| r.db);
                exp.replid = Some(match line.text.strip_prefix("+CONTINUE ") {
                    Some(id) => id.as_bytes().to_vec(),
                    None => psync_id,
                });
                exp.base = Some(read);
            }
            "RDB" | "RDB-EOF" => {
                let size: u64 = number_after(&line.text, " + ")
                    .expect("payload size")
                    .parse()
                    .unwrap();
                exp.snapshot = Some((line.kind == "RDB-EOF", size));
                if let Some(stream_db) = number_after(&line.text, "repl-stream-db=") {
                    db = stream_db.parse().unwrap();
                }
            }
            "CMD" => {
                let args: Vec<Vec<u8>> = line
                    .text
                    .split(' ')
                    .map(|a| a.as_bytes().to_vec())
                    .collect();
                read += cmd(&args).len() as u64;
                let name = args[0].to_ascii_uppercase();
                if name == b"SELECT" {
                    db = String::from_utf8(args[1].clone()).unwrap().parse().unwrap();
                }
                match (&mut transaction, &name[..]) {
                    (None, b"MULTI") => {
                        transaction = Some(vec![args]);
                        continue;
                    }
                    (Some(held), b"EXEC") => {
                        held.push(args);
                        exp.delivered.append(held);
                        transaction = None;
                    }
                    (Some(held), _) => {
                        held.push(args);
                        continue;
                    }
                    (None, _) => exp.delivered.push(args),
                }
                exp.applied = read;
                exp.applied_db = db;
                exp.boundaries.insert(read);
            }
            _ => {}
        }
        if let Some(base) = exp.base {
            if exp.boundaries.is_empty() {
                exp.applied = base;
                exp.applied_db = db;
                exp.boundaries.insert(base);
            }
        }
    }
    exp
}

/// Offsets our replica passed through, from its events.
fn our_boundaries(events: &[Event]) -> BTreeSet<u64> {
    let mut out = BTreeSet::new();
    let mut in_transaction = false;
    for event in events {
        match event {
            Event::FullResync { offset, .. } | Event::PartialResync { offset, .. } => {
                out.insert(offset.get());
            }
            Event::Command(c) => match c.kind {
                CommandKind::Multi => in_transaction = true,
                CommandKind::Exec => {
                    in_transaction = false;
                    out.insert(c.offset.get());
                }
                _ if !in_transaction => {
                    out.insert(c.offset.get());
                }
                _ => {}
            },
            _ => {}
        }
    }
    out
}

fn replay(version: &'static str, name: &str) {
    let scenario = load_scenario(version, name);
    let t0 = Instant::now();
    let mut carried: Option<Checkpoint> = None;
    let mut replica_conns = 0;
    let mut refused = 0;
    for conn in &scenario.conns {
        if conn.chunks.is_empty() {
            // Refused by the proxy before any byte crossed.
            continue;
        }
        let label = format!("{version}/{name}/c{}", conn.id);
        let real = RealReplica::from_conn(conn);
        if !real.is_replica {
            replay_cli(&scenario, conn, &label);
            continue;
        }
        replica_conns += 1;
        // A reconnect resumes from what our previous link left: its PSYNC must be the real one.
        let resume = carried.or_else(|| real.resume());
        let (checkpoint, was_refused) = replay_conn(&scenario, conn, &real, resume, t0, &label);
        refused += usize::from(was_refused);
        carried = checkpoint;
    }
    let cli = name.starts_with("i1-") || name.starts_with("i2-");
    assert_eq!(
        replica_conns > 0,
        !cli,
        "{version}/{name}: replica connections"
    );
    if expected_refusal(name).is_some() {
        assert!(refused > 0, "{version}/{name}: no connection was refused");
    }
}

/// Replays one replica connection; returns the checkpoint it left and whether the master
/// refused it as the scenario intends.
fn replay_conn(
    scenario: &Scenario,
    conn: &Conn,
    real: &RealReplica,
    resume: Option<Checkpoint>,
    t0: Instant,
    label: &str,
) -> (Option<Checkpoint>, bool) {
    let now_of = |rel: f64| t0 + Duration::from_secs_f64(rel);
    let mut replica = Replica::new(
        real.config(scenario.replica_port),
        resume,
        now_of(conn.open_rel),
    )
    .unwrap();
    let mut events = drain_events(&mut replica);
    let mut sent = drain_sent(&mut replica);
    // ACKs sent in reaction to a chunk of input: (seq of the chunk, offsets).
    let mut reactive: Vec<(u64, Vec<u64>)> = Vec::new();
    let mut periodic: Vec<u64> = Vec::new();
    let mut last = conn.open_rel;
    for chunk in conn.chunks(Dir::M2r) {
        let now = now_of(chunk.rel);
        last = chunk.rel;
        while let Some(deadline) = replica.poll_timeout() {
            if deadline > now {
                break;
            }
            replica.handle_timeout(deadline);
            events.extend(drain_events(&mut replica));
            periodic.extend(acks_in(&drain_sent(&mut replica)));
        }
        replica.handle_input(now, &chunk.bytes);
        // Events first: handing them out is what may call for an ACK.
        events.extend(drain_events(&mut replica));
        let out = drain_sent(&mut replica);
        let acks = acks_in(&out);
        if !acks.is_empty() {
            reactive.push((chunk.seq, acks));
        }
        sent.extend(out);
    }

    // (a) The handshake, byte for byte, up to and including PSYNC (and the SYNC fallback).
    let real_sent = conn.bytes(Dir::R2m);
    match real.handshake_end {
        Some(real_end) => {
            let our_end = handshake_end(&sent)
                .unwrap_or_else(|| panic!("{label}: we sent no PSYNC: {:?}", show(&sent)));
            assert_eq!(
                show(&sent[..our_end]),
                show(&real_sent[..real_end]),
                "{label}: handshake bytes differ"
            );
        }
        None => {
            // The master refused before PSYNC. A ≤ 6.0 replica sends one command at a time, so
            // it stopped earlier than our pipelined AUTH + REPLCONF burst.
            assert!(
                sent.starts_with(&real_sent),
                "{label}: ours {:?} does not start with the real {:?}",
                show(&sent),
                show(&real_sent)
            );
            assert_eq!(
                handshake_end(&sent),
                None,
                "{label}: PSYNC sent after a refusal"
            );
        }
    }

    // Every reply line we reported is the master's, in order.
    let our_lines: Vec<Vec<u8>> = events
        .iter()
        .filter_map(|e| match e {
            Event::HandshakeReply { reply, .. } => Some(reply.to_vec()),
            _ => None,
        })
        .collect();
    let their_lines: Vec<Vec<u8>> = scenario
        .decoded(conn.id, Dir::M2r)
        .filter(|l| l.kind == "LINE")
        .map(|l| l.text.as_bytes().to_vec())
        .collect();
    // The decoded file of a looping scenario may be cut in the middle of a connection.
    let decoded_complete = scenario.decoded.iter().any(|l| {
        l.conn == Some(conn.id) && l.dir.is_none() && (l.kind == "close" || l.kind == "drop")
    });
    let common_len = if decoded_complete {
        our_lines.len()
    } else {
        our_lines.len().min(their_lines.len())
    };
    assert!(
        their_lines.starts_with(&our_lines[..common_len]),
        "{label}: reported replies {:?} vs {:?}",
        our_lines
            .iter()
            .map(|l| String::from_utf8_lossy(l))
            .collect::<Vec<_>>(),
        their_lines
            .iter()
            .map(|l| String::from_utf8_lossy(l))
            .collect::<Vec<_>>()
    );

    let closes_before_eof: Vec<CloseReason> = closes(&events).into_iter().cloned().collect();
    if let Some((phase, kind)) = expected_refusal(&scenario.name) {
        match &closes_before_eof[..] {
            [CloseReason::Refused { phase: p, reply }] => {
                assert_eq!(*p, phase, "{label}: refused in the wrong phase");
                assert_eq!(
                    reply.kind(),
                    kind,
                    "{label}: refused with {reply:?}, expected {}",
                    String::from_utf8_lossy(kind)
                );
                if phase == Phase::SnapshotHeader {
                    // PSYNC was refused with the same error first: fallback to SYNC.
                    assert!(
                        events.iter().any(|e| matches!(
                            e,
                            Event::LegacySync { reply } if reply.strip_prefix(b"-")
                                .is_some_and(|r| r.starts_with(kind))
                        )),
                        "{label}: no SYNC fallback: {events:?}"
                    );
                    assert!(sent.ends_with(b"SYNC\r\n"), "{label}");
                }
                assert!(replica.is_closed());
                assert_eq!(
                    replica.checkpoint(),
                    resume,
                    "{label}: checkpoint after a refusal"
                );
                assert_eq!(drain_sent(&mut replica), b"");
                return (replica.checkpoint(), true);
            }
            [] if conn.end.is_none() => {
                // The capture was cut before the master's refusal.
                return (resume, false);
            }
            other => panic!("{label}: expected a refusal, got {other:?}"),
        }
    }
    assert_eq!(
        closes_before_eof,
        Vec::<CloseReason>::new(),
        "{label}: the link ended early"
    );
    assert_eq!(replica.phase(), Phase::Streaming, "{label}");

    let exp = expected_stream(scenario, conn.id, real, resume);

    // (b) The commands, exactly those the decoded transcript shows.
    assert_eq!(
        command_args(&events)
            .iter()
            .map(|c| c
                .iter()
                .map(|a| String::from_utf8_lossy(a))
                .collect::<Vec<_>>())
            .collect::<Vec<_>>(),
        exp.delivered
            .iter()
            .map(|c| c
                .iter()
                .map(|a| String::from_utf8_lossy(a))
                .collect::<Vec<_>>())
            .collect::<Vec<_>>(),
        "{label}: decoded commands"
    );

    // The snapshot: framing, size, checksum.
    let begin = events.iter().find_map(|e| match e {
        Event::SnapshotBegin { framing } => Some(*framing),
        _ => None,
    });
    let end = events.iter().find_map(|e| match e {
        Event::SnapshotEnd { size, checksum, db } => Some((*size, *checksum, *db)),
        _ => None,
    });
    let chunk_bytes: u64 = events
        .iter()
        .map(|e| match e {
            Event::SnapshotChunk(c) => c.len() as u64,
            _ => 0,
        })
        .sum();
    match exp.snapshot {
        Some((eof, size)) => {
            let framing = if eof {
                SnapshotFraming::EofMark
            } else {
                SnapshotFraming::Length(size)
            };
            assert_eq!(begin, Some(framing), "{label}");
            let (got_size, checksum, _) = end.unwrap_or_else(|| panic!("{label}: no SnapshotEnd"));
            assert_eq!(got_size, size, "{label}");
            assert_eq!(chunk_bytes, size, "{label}");
            assert_eq!(checksum, ChecksumStatus::Verified, "{label}");
        }
        None => assert_eq!((begin, end), (None, None), "{label}"),
    }

    // (c) ACKs sent in reaction to input answer GETACKs (with the offset before the GETACK)
    // and end a diskless payload; each carries what the real replica's next ACK carried.
    let getacks = events
        .iter()
        .filter(|e| matches!(e, Event::Command(c) if c.kind == CommandKind::GetAck))
        .count();
    let eof_acks = usize::from(begin == Some(SnapshotFraming::EofMark));
    let total: usize = reactive.iter().map(|(_, a)| a.len()).sum();
    assert_eq!(
        total,
        getacks + eof_acks,
        "{label}: reactive ACKs {reactive:?}"
    );
    for (seq, ours) in &reactive {
        let theirs: Vec<u64> = real
            .acks
            .iter()
            .filter(|(s, _)| s > seq)
            .map(|(_, o)| *o)
            .take(ours.len())
            .collect();
        assert_eq!(
            ours, &theirs,
            "{label}: ACK answering the input of seq {seq}"
        );
    }

    // (d) The final offset: the snapshot offset plus the bytes of every applied command.
    let base = exp.base.unwrap_or_else(|| panic!("{label}: no sync"));
    assert_eq!(
        replica.offset(),
        Some(Offset(exp.applied)),
        "{label}: final offset (stream started at {base})"
    );

    // Every offset the real replica acknowledged, and every periodic ACK of ours, is an
    // offset between whole commands (transactions counted at EXEC).
    let ours = our_boundaries(&events);
    assert_eq!(ours, exp.boundaries, "{label}: command boundaries");
    for (_, offset) in &real.acks {
        assert!(
            ours.contains(offset),
            "{label}: the real replica acknowledged {offset}, not a boundary of ours"
        );
    }
    assert!(
        real.acks.iter().all(|(_, o)| *o <= exp.applied),
        "{label}: the real replica acknowledged more than we applied"
    );

    // Time runs on to the end of the capture.
    let end_rel = conn.end.as_ref().map_or(last, |(_, rel)| *rel);
    while let Some(deadline) = replica.poll_timeout() {
        if deadline > now_of(end_rel) {
            break;
        }
        replica.handle_timeout(deadline);
        periodic.extend(acks_in(&drain_sent(&mut replica)));
        assert_eq!(drain_events(&mut replica), vec![], "{label}");
    }
    for offset in &periodic {
        assert!(ours.contains(offset), "{label}: periodic ACK {offset}");
    }

    // The link ends as the capture does: the resume point is the last applied command.
    replica.handle_eof(now_of(end_rel));
    let tail = drain_events(&mut replica);
    assert_eq!(
        tail,
        vec![Event::Closed(CloseReason::Disconnected {
            phase: Phase::Streaming
        })],
        "{label}"
    );
    let expected_checkpoint = Checkpoint {
        replid: ReplId::parse(exp.replid.as_deref().expect("replid")).unwrap(),
        offset: Offset(exp.applied),
        db: exp.applied_db,
    };
    assert_eq!(replica.checkpoint(), Some(expected_checkpoint), "{label}");
    assert_eq!(replica.poll_timeout(), None, "{label}");

    // The real replica acknowledged once per second beyond its answers to GETACK and to a
    // diskless payload; so must we (protocol.md §4.4 (b), §9.3 item 51).
    if real.acks.len() > total {
        assert!(
            !periodic.is_empty(),
            "{label}: the real replica sent {} periodic ACKs over {:.1} s, we sent none",
            real.acks.len() - total,
            end_rel - conn.open_rel
        );
    }
    (replica.checkpoint(), false)
}

/// redis-cli as "replica" (`--replica`, `--rdb`) sends `SYNC` instead of `PSYNC`: a replica of
/// ours gets there through the fallback after an error reply to `PSYNC` (protocol.md §2.5).
/// The master's bytes after `SYNC` are fed to it after that fallback.
fn replay_cli(scenario: &Scenario, conn: &Conn, label: &str) {
    let real_units = split_units(&conn.bytes(Dir::R2m));
    let replies = real_units
        .iter()
        .take_while(|u| u.unit != Unit::Inline(b"SYNC".to_vec()))
        .count();
    assert!(replies < real_units.len(), "{label}: no SYNC");
    let m2r = conn.bytes(Dir::M2r);
    let mut pos = 0;
    for _ in 0..replies {
        pos = line_at(&m2r, pos).expect("reply line").1;
    }
    let mut prefix = HANDSHAKE_REPLIES.to_vec();
    prefix.extend_from_slice(b"-ERR unknown command 'PSYNC'\r\n");

    let t0 = Instant::now();
    let fed = feed(
        ReplicaConfig::new(6380),
        None,
        [&prefix[..], &m2r[pos..]],
        t0,
    );
    let mut replica = fed.replica;
    let mut events = fed.events;
    assert!(
        events.iter().any(|e| matches!(e, Event::LegacySync { .. })),
        "{label}"
    );
    assert!(
        fed.sent.ends_with(b"SYNC\r\n"),
        "{label}: {:?}",
        show(&fed.sent)
    );
    assert_eq!(
        closes(&events),
        Vec::<&CloseReason>::new(),
        "{label}: {events:?}"
    );
    let expected: Vec<Vec<Vec<u8>>> = scenario
        .decoded(conn.id, Dir::M2r)
        .filter(|l| l.kind == "CMD")
        .map(|l| l.text.split(' ').map(|a| a.as_bytes().to_vec()).collect())
        .collect();
    assert_eq!(command_args(&events), expected, "{label}");
    let size: u64 = scenario
        .decoded(conn.id, Dir::M2r)
        .find(|l| l.kind.starts_with("RDB"))
        .and_then(|l| number_after(&l.text, " + "))
        .expect("payload")
        .parse()
        .unwrap();
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::SnapshotEnd { size: s, checksum: ChecksumStatus::Verified, .. } if *s == size
        )),
        "{label}"
    );
    // A pre-PSYNC link sends no ACK, ever, and cannot be resumed.
    assert_eq!(replica.checkpoint(), None, "{label}");
    for second in 1..=5 {
        replica.handle_timeout(t0 + Duration::from_secs(second));
    }
    assert_eq!(drain_sent(&mut replica), b"", "{label}: sent an ACK");
    assert_eq!(acks_in(&fed.sent), Vec::<u64>::new(), "{label}");
    replica.handle_eof(t0 + Duration::from_secs(6));
    events = drain_events(&mut replica);
    assert_eq!(
        events,
        vec![Event::Closed(CloseReason::Disconnected {
            phase: Phase::Streaming
        })],
        "{label}"
    );
    assert_eq!(replica.checkpoint(), None, "{label}");
}

/// The reconnect of d (partial resync) asks exactly where the first link stopped: checked in
/// `replay` for every scenario; this pins the numbers of the 7.0.15 capture.
#[test]
fn partial_resync_asks_for_the_first_missing_byte() {
    let scenario = load_scenario("redis-7.0.15", "d-partial-resync");
    let first = &scenario.conns[0];
    let real = RealReplica::from_conn(first);
    let fed = feed(
        real.config(scenario.replica_port),
        None,
        first.chunks(Dir::M2r).map(|c| &c.bytes[..]),
        Instant::now(),
    );
    let mut replica = fed.replica;
    replica.handle_eof(Instant::now());
    let checkpoint = replica.checkpoint().expect("resumable");
    assert_eq!(checkpoint.offset, Offset(1173));
    assert_eq!(
        checkpoint.replid.as_bytes(),
        b"b2e745369c0e16aabcd923a48735b06147a3ce27"
    );

    let second = RealReplica::from_conn(&scenario.conns[1]);
    let mut next = Replica::new(
        second.config(scenario.replica_port),
        Some(checkpoint),
        Instant::now(),
    )
    .unwrap();
    next.handle_input(Instant::now(), HANDSHAKE_REPLIES);
    let sent = drain_sent(&mut next);
    assert!(sent.ends_with(&cmd(&[
        &b"PSYNC"[..],
        b"b2e745369c0e16aabcd923a48735b06147a3ce27",
        b"1174"
    ])));
}

/// f (failover): the sibling resumes with `+CONTINUE <new id>`; the old id becomes replid2
/// up to the byte after its offset (protocol.md §1.1, §9.1 item 20).
#[test]
fn failover_continue_with_new_id_shifts_replid() {
    for version in VERSIONS {
        let scenario = load_scenario(version, "f-failover");
        let conn = &scenario.conns[0];
        let real = RealReplica::from_conn(conn);
        let resume = real.resume().expect("PSYNC with an id");
        let fed = feed(
            real.config(scenario.replica_port),
            Some(resume),
            conn.chunks(Dir::M2r).map(|c| &c.bytes[..]),
            Instant::now(),
        );
        let continued = fed
            .events
            .iter()
            .find_map(|e| match e {
                Event::PartialResync {
                    replid,
                    previous_replid,
                    offset,
                } => Some((*replid, *previous_replid, *offset)),
                _ => None,
            })
            .expect("partial resync");
        assert_ne!(continued.0, resume.replid, "{version}");
        assert_eq!(continued.1, Some(resume.replid), "{version}");
        assert_eq!(continued.2, resume.offset, "{version}");
        assert_eq!(
            fed.replica.replid2(),
            Some((resume.replid, resume.offset.advanced(1))),
            "{version}"
        );
        assert_eq!(
            fed.replica.checkpoint().map(|c| c.replid),
            Some(continued.0),
            "{version}"
        );
    }
}
