//! A follower (each adapter's: `replproto_std` and `replproto_tokio`) whose link to a real master is cut (through a proxy) while the
//! master keeps taking writes: it resumes with `+CONTINUE` without losing or repeating a
//! command, and falls back to a full sync once the master's backlog no longer holds what it
//! missed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use replproto::rdb::ChecksumStatus;
use replproto::replica::{
    CloseReason, Command, CommandKind, Event, HandshakeCommand, Phase, ReplicaConfig,
};
use replproto::{Checkpoint, Offset};
use replproto_e2e::{
    assert_contiguous, commands, driver_tests, free_port, full_sync, incompressible, links,
    summary, wait_settled, words, Client, CutProxy, Delivered, Driver, FollowerThread, Redis,
    Reply,
};

const TIMEOUT: Duration = Duration::from_secs(10);
const NO_DELAY: [&str; 2] = ["--repl-diskless-sync-delay", "0"];

/// The first cut: the proxy closes both sides and lets the follower straight back in.
const CUT: u64 = 200;
/// The second cut: the proxy also refuses reconnections for `GAP` writes, so they can only
/// reach the follower from the master's backlog.
const BLOCKED_CUT: u64 = 600;
const GAP: u64 = 200;
/// Writes after the second resume.
const TAIL: u64 = 200;

/// The sequence number of a `SET seq:<i> <i>`, checking that the value matches.
fn seq_number(cmd: &Command) -> Option<u64> {
    if !cmd.frame.is("SET") {
        return None;
    }
    let key = std::str::from_utf8(cmd.frame.arg(1)?).ok()?;
    let i: u64 = key.strip_prefix("seq:")?.parse().ok()?;
    assert_eq!(
        cmd.frame.arg(2),
        Some(i.to_string().as_bytes()),
        "{:?}",
        words(cmd)
    );
    Some(i)
}

/// Sets its flag if dropped while the thread unwinds from a panic.
struct OnUnwind<'a>(&'a AtomicBool);

impl Drop for OnUnwind<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

/// Two cuts while a writer thread keeps writing `SET seq:<i> <i>`: both reconnections resume
/// with `+CONTINUE`, and every write arrives exactly once, in order, with the offsets of
/// consecutive links joining up.
fn cut_and_resume_scenario(driver: Driver, redis: Redis) {
    let master = redis.start(&NO_DELAY);
    let proxy = CutProxy::start(master.addr());
    let port = free_port();
    let follower = FollowerThread::start_with(driver, proxy.addr(), ReplicaConfig::new(port));
    let mut m = master.client();
    let sync = follower.until_synced(&mut m, port, TIMEOUT);
    let stats = m.stats();
    assert_eq!((stats.full, stats.partial_ok, stats.partial_err), (1, 0, 0));

    let resumes = AtomicU64::new(0);
    let failed = AtomicBool::new(false);
    let mut delivered: Vec<Delivered> = Vec::new();
    let total = thread::scope(|s| {
        let writer = s.spawn(|| {
            let deadline = Instant::now() + Duration::from_secs(30);
            let going = || Instant::now() < deadline && !failed.load(Ordering::SeqCst);
            let mut w = master.client();
            let mut end = u64::MAX;
            let mut i = 0;
            while i < end && going() {
                if i == CUT {
                    proxy.cut();
                }
                if i == BLOCKED_CUT {
                    // Cut again only once the first resume is over.
                    while resumes.load(Ordering::SeqCst) < 1 && going() {
                        thread::sleep(Duration::from_millis(5));
                    }
                    proxy.set_blocked(true);
                    proxy.cut();
                }
                if i == BLOCKED_CUT + GAP {
                    proxy.set_blocked(false);
                }
                if end == u64::MAX && resumes.load(Ordering::SeqCst) >= 2 {
                    end = i + TAIL;
                }
                let n = i.to_string();
                let reply = w.cmd(&["SET", &format!("seq:{n}"), &n]);
                assert!(reply.is_ok(), "SET seq:{n}: {reply:?}");
                i += 1;
            }
            i
        });
        // Stops the writer at once if this thread fails.
        let _stop_on_failure = OnUnwind(&failed);
        // Follow both resumes as they happen, checking the master counted each one.
        for expected in 1..=2 {
            delivered.extend(follower.until("a partial resync", TIMEOUT, |e| {
                matches!(e, Event::PartialResync { .. })
            }));
            let stats = m.stats();
            assert_eq!(
                (stats.full, stats.partial_ok, stats.partial_err),
                (1, expected, 0),
                "the master's counters after resume {expected}"
            );
            resumes.store(expected, Ordering::SeqCst);
        }
        writer.join().expect("the writer thread")
    });
    assert!(
        total > BLOCKED_CUT + GAP,
        "the writer stopped early, at {total}"
    );
    let last_key = format!("seq:{}", total - 1);
    delivered.extend(follower.until(
        "the last write",
        TIMEOUT,
        |e| matches!(e, Event::Command(c) if c.frame.arg(1) == Some(last_key.as_bytes())),
    ));

    // Link by link: where it resumed, that it joined up with the previous one, how it ended.
    let mut start = sync.offset;
    let mut checkpoint = Some(Checkpoint {
        replid: sync.replid,
        offset: sync.offset,
        db: sync.db,
    });
    let mut resumed_links = 0;
    let mut seqs = Vec::new();
    let mut seqs_per_link = Vec::new();
    for (index, link) in links(&delivered).into_iter().enumerate() {
        let describe = || {
            let list: Vec<String> = link.iter().map(|d| summary(&d.event)).collect();
            format!("link {index}:\n  {}", list.join("\n  "))
        };
        let mut events = link.iter().peekable();
        if index > 0 {
            // A new connection: handshake, then +CONTINUE, unless the proxy refused it.
            let mut replies = Vec::new();
            while let Some(Delivered {
                event: Event::HandshakeReply { command, reply },
                ..
            }) = events.peek()
            {
                replies.push((*command, String::from_utf8_lossy(reply).into_owned()));
                events.next();
            }
            match events.next().map(|d| &d.event) {
                Some(Event::Closed(CloseReason::Disconnected { phase: Phase::Ping })) => {
                    assert!(replies.is_empty(), "{}", describe());
                    assert_eq!(link[0].checkpoint, checkpoint, "{}", describe());
                    continue;
                }
                Some(Event::PartialResync {
                    replid,
                    previous_replid,
                    offset,
                }) => {
                    let expected = [
                        (HandshakeCommand::Ping, "+PONG".to_string()),
                        (HandshakeCommand::ListeningPort, "+OK".into()),
                        (HandshakeCommand::Capa, "+OK".into()),
                        (
                            HandshakeCommand::Psync,
                            format!("+CONTINUE {}", sync.replid.as_str()),
                        ),
                    ];
                    assert_eq!(replies, expected, "{}", describe());
                    assert_eq!(*replid, sync.replid);
                    assert_eq!(*previous_replid, None);
                    assert_eq!(
                        Some(*offset),
                        checkpoint.map(|c| c.offset),
                        "{}",
                        describe()
                    );
                    start = *offset;
                    resumed_links += 1;
                }
                _ => panic!("neither a refused nor a resumed link; {}", describe()),
            }
        }
        let rest: Vec<Delivered> = events.cloned().collect();
        let (body, end) = match rest.split_last() {
            Some((last, body)) if matches!(last.event, Event::Closed(_)) => (body, Some(last)),
            _ => (&rest[..], None),
        };
        let cmds = commands(body);
        assert_eq!(cmds.len(), body.len(), "only commands; {}", describe());
        let last = assert_contiguous(start, &cmds);
        let link_seqs: Vec<u64> = cmds.iter().filter_map(seq_number).collect();
        seqs_per_link.push(link_seqs.clone());
        seqs.extend(link_seqs);
        if let Some(end) = end {
            assert_eq!(
                end.event,
                Event::Closed(CloseReason::Disconnected {
                    phase: Phase::Streaming
                }),
                "{}",
                describe()
            );
            // The next link resumes right after the last command this one delivered.
            checkpoint = end.checkpoint;
            assert_eq!(
                checkpoint,
                Some(Checkpoint {
                    replid: sync.replid,
                    offset: last,
                    db: 0
                }),
                "{}",
                describe()
            );
        }
    }
    assert_eq!(resumed_links, 2);
    assert_eq!(seqs_per_link.len(), 3, "three streaming links");
    // The writes made while the proxy refused the follower came from the master's backlog.
    assert!(
        seqs_per_link[1].last() < Some(&BLOCKED_CUT)
            && seqs_per_link[2].first() <= Some(&BLOCKED_CUT),
        "the second cut did not fall between the links: {:?} / {:?}",
        seqs_per_link[1].last(),
        seqs_per_link[2].first()
    );
    let expected: Vec<u64> = (0..total).collect();
    if seqs != expected {
        let repeated = seqs.windows(2).find(|w| w[1] <= w[0]);
        let missing = expected.iter().find(|i| seqs.binary_search(i).is_err());
        panic!(
            "{} writes, {} delivered; first out of order or repeated: {repeated:?}; \
             first missing: {missing:?}",
            total,
            seqs.len()
        );
    }

    // The master's view: two accepted partial resyncs, one full sync, and our replica at its
    // offset.
    let stats = m.stats();
    assert_eq!((stats.full, stats.partial_ok, stats.partial_err), (1, 2, 0));
    let accepted = format!("Partial resynchronization request from 127.0.0.1:{port} accepted");
    assert_eq!(
        master.log().matches(&accepted).count(),
        2,
        "{}",
        master.log()
    );
    let mut last = delivered
        .iter()
        .rev()
        .find_map(|d| match &d.event {
            Event::Command(c) => Some(c.offset),
            _ => None,
        })
        .expect("commands were delivered");
    wait_settled(&follower, &mut m, port, &mut last, TIMEOUT);
    assert_eq!(m.cmd(&["WAIT", "1", "2000"]), Reply::Int(1));
}

driver_tests! {
    fn cut_links_resume_with_continue_without_loss_redis7(driver) {
        cut_and_resume_scenario(driver, Redis::Default);
    }
}

driver_tests! {
    fn cut_links_resume_with_continue_without_loss_redis6(driver) {
        cut_and_resume_scenario(driver, Redis::V6);
    }
}

/// Writes of `len` bytes each under `big:<i>`.
fn write_big(m: &mut Client, keys: std::ops::Range<u64>, len: usize) {
    for i in keys {
        let reply = m.cmd(&["SET", &format!("big:{i}"), &incompressible(i, len)]);
        assert!(reply.is_ok(), "SET big:{i}: {reply:?}");
    }
}

driver_tests! {
    fn backlog_overflow_forces_full_resync(driver) {
        backlog_overflow_scenario(driver);
    }
}

/// While the follower is kept away, the master writes more than its 16 KiB backlog holds: the
/// reconnection asks to resume, gets `+FULLRESYNC`, and the stream goes on after the new
/// snapshot.
fn backlog_overflow_scenario(driver: Driver) {
    let master = Redis::Default.start(&[
        "--repl-backlog-size",
        "16kb",
        "--repl-diskless-sync-delay",
        "0",
    ]);
    let proxy = CutProxy::start(master.addr());
    let port = free_port();
    let follower = FollowerThread::start_with(driver, proxy.addr(), ReplicaConfig::new(port));
    let mut m = master.client();
    let first = follower.until_synced(&mut m, port, TIMEOUT);
    m.set_keys("before", 0..10);
    let streamed = follower.until(
        "SET before:9",
        TIMEOUT,
        |e| matches!(e, Event::Command(c) if c.frame.arg(1) == Some(b"before:9")),
    );
    let last = assert_contiguous(first.offset, &commands(&streamed));

    proxy.set_blocked(true);
    proxy.cut();
    let closed = follower.until("the link to close", TIMEOUT, |e| {
        matches!(e, Event::Closed(_))
    });
    let closed = closed.last().unwrap();
    assert_eq!(
        closed.event,
        Event::Closed(CloseReason::Disconnected {
            phase: Phase::Streaming
        })
    );
    let checkpoint = closed.checkpoint.expect("a checkpoint survives the cut");
    assert_eq!(checkpoint.offset, last);
    assert_eq!(checkpoint.replid, first.replid);

    // 100 KiB while the follower is away: the backlog drops the byte it needs next.
    write_big(&mut m, 0..100, 1024);
    let info = m.info_replication();
    let backlog_start: u64 = info["repl_backlog_first_byte_offset"].parse().unwrap();
    let master_offset: u64 = info["master_repl_offset"].parse().unwrap();
    assert!(
        backlog_start > checkpoint.offset.next_byte(),
        "the backlog still starts at {backlog_start}"
    );
    assert!(master_offset >= checkpoint.offset.get() + 100 * 1024);
    let stats = m.stats();
    assert_eq!((stats.full, stats.partial_ok, stats.partial_err), (1, 0, 0));
    proxy.set_blocked(false);

    let delivered = follower.until("the new snapshot", TIMEOUT, |e| {
        matches!(e, Event::SnapshotEnd { .. })
    });
    let parts = links(&delivered);
    let (resynced, refused) = parts.split_last().unwrap();
    for link in refused {
        // Reconnections the proxy refused: nothing but the close, the checkpoint kept.
        assert_eq!(link.len(), 1, "{link:?}");
        assert_eq!(
            link[0].event,
            Event::Closed(CloseReason::Disconnected { phase: Phase::Ping })
        );
        assert_eq!(link[0].checkpoint, Some(checkpoint));
    }
    let second = full_sync(resynced);
    assert!(second.handshake[3].1.starts_with("+FULLRESYNC "));
    assert_eq!(second.replid, first.replid, "the same history goes on");
    assert_eq!(second.offset, Offset(master_offset));
    assert_eq!(second.checksum, ChecksumStatus::Verified);
    assert!(
        second.size > 100 * 1024,
        "a snapshot of {} bytes",
        second.size
    );

    // The master's view: it could not resume us for lack of backlog, and served a full sync.
    let stats = m.stats();
    assert_eq!((stats.full, stats.partial_ok, stats.partial_err), (2, 0, 1));
    let lack = format!(
        "Unable to partial resync with replica 127.0.0.1:{port} for lack of backlog \
         (Replica request was: {}).",
        checkpoint.offset.next_byte()
    );
    assert!(master.log().contains(&lack), "{}", master.log());

    // The stream goes on after the new snapshot.
    m.wait_replica_online(port, TIMEOUT);
    assert!(m.cmd(&["SET", "after-overflow", "1"]).is_ok());
    let streamed = follower.until(
        "SET after-overflow",
        TIMEOUT,
        |e| matches!(e, Event::Command(c) if c.frame.arg(1) == Some(b"after-overflow")),
    );
    let cmds = commands(&streamed);
    assert_eq!(cmds.len(), streamed.len());
    assert_contiguous(second.offset, &cmds);
    let writes: Vec<Vec<String>> = cmds
        .iter()
        .filter(|c| c.kind != CommandKind::Ping)
        .map(words)
        .collect();
    assert_eq!(
        writes,
        [vec!["SELECT", "0"], vec!["SET", "after-overflow", "1"]]
    );
}
