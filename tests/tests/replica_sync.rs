//! A follower (each adapter's: `replproto_std` and `replproto_tokio`) against a real master: the full sync in both framings, the
//! writes arriving as commands in order with exact offsets, and the master's own view of the
//! offsets the replica acknowledges (`INFO replication`, `WAIT`).

use std::time::Duration;

use replproto::rdb::ChecksumStatus;
use replproto::replica::{CommandKind, Event, HandshakeCommand, ReplicaConfig, SnapshotFraming};
use replproto::Offset;
use replproto_e2e::{
    assert_contiguous, commands, driver_tests, free_port, incompressible, now_ms, wait_settled,
    wait_until, words, Client, Driver, FollowerThread, Redis, RedisServer, Reply,
};

const TIMEOUT: Duration = Duration::from_secs(10);
const DISK: [&str; 2] = ["--repl-diskless-sync", "no"];
/// The version's default framing (disk for 6.0, diskless for 7), without the 5 s wait for more
/// replicas before a diskless sync.
const NO_DELAY: [&str; 2] = ["--repl-diskless-sync-delay", "0"];
const DISKLESS: [&str; 4] = [
    "--repl-diskless-sync",
    "yes",
    "--repl-diskless-sync-delay",
    "0",
];

/// Keys written before the sync, so the snapshot holds every kind of record.
const STRING_KEYS: u64 = 200;

/// A value of 16 to 400 bytes that does not compress much, so the snapshot has some size.
fn string_value(i: u64) -> String {
    incompressible(i, 16 * (1 + i as usize % 25))
}

fn populate(m: &mut Client) {
    for i in 0..STRING_KEYS {
        assert!(m
            .cmd(&["SET", &format!("key:{i}"), &string_value(i)])
            .is_ok());
    }
    assert_eq!(
        m.cmd(&["HSET", "hash", "f1", "v1", "f2", "v2"]),
        Reply::Int(2)
    );
    assert_eq!(m.cmd(&["RPUSH", "list", "a", "b", "c"]), Reply::Int(3));
    assert_eq!(m.cmd(&["SADD", "set", "x", "y", "z"]), Reply::Int(3));
    assert!(m.cmd(&["SET", "ttl", "v", "EX", "1000"]).is_ok());
    assert!(m.cmd(&["SELECT", "3"]).is_ok());
    assert!(m.cmd(&["SET", "in-db3", "v3"]).is_ok());
    assert!(m.cmd(&["SELECT", "0"]).is_ok());
}

/// Full sync with the given master options: the handshake, the framing, the snapshot bytes
/// (loaded into a second server to prove they are a valid RDB of the master's data), and the
/// first write after it.
fn full_sync_scenario(driver: Driver, redis: Redis, master_args: &[&str], diskless: bool) {
    let master = redis.start(master_args);
    let mut m = master.client();
    populate(&mut m);
    let keyspace = m.keyspace();
    assert_eq!(keyspace["db0"], (STRING_KEYS + 4, 1));
    assert_eq!(keyspace["db3"], (1, 0));
    // Without replicas there is no stream yet: the offset the snapshot is cut at is this one.
    let offset_before = m.master_repl_offset();

    let port = free_port();
    let follower = FollowerThread::start_with(driver, master.addr(), ReplicaConfig::new(port));
    let sync = follower.until_snapshot_end(TIMEOUT);

    let handshake: Vec<HandshakeCommand> = sync.handshake.iter().map(|(c, _)| *c).collect();
    assert_eq!(
        handshake,
        [
            HandshakeCommand::Ping,
            HandshakeCommand::ListeningPort,
            HandshakeCommand::Capa,
            HandshakeCommand::Psync
        ]
    );
    assert_eq!(sync.handshake[0].1, "+PONG");
    assert_eq!(sync.handshake[1].1, "+OK");
    assert_eq!(sync.handshake[2].1, "+OK");
    assert_eq!(
        sync.handshake[3].1,
        format!("+FULLRESYNC {} {}", sync.replid.as_str(), sync.offset)
    );
    assert_eq!(sync.offset, Offset(offset_before));

    match (diskless, sync.framing) {
        (false, SnapshotFraming::Length(len)) => assert_eq!(len, sync.size),
        (true, SnapshotFraming::EofMark) => {}
        (_, framing) => panic!("diskless={diskless} but the framing is {framing:?}"),
    }
    assert_eq!(sync.rdb.len() as u64, sync.size);
    assert!(
        sync.rdb.starts_with(redis.rdb_prefix()),
        "the snapshot starts with {:?}",
        String::from_utf8_lossy(&sync.rdb[..sync.rdb.len().min(9)])
    );
    assert_eq!(sync.checksum, ChecksumStatus::Verified);
    assert_eq!(sync.db, 0);
    assert!(sync.size > 20_000, "a snapshot of {} bytes", sync.size);

    // The master's view: our replica is online, under the id the snapshot belongs to.
    m.wait_replica_online(port, TIMEOUT);
    assert_eq!(
        m.info_replication()["master_replid"],
        sync.replid.as_str(),
        "the replication id of +FULLRESYNC is the master's"
    );
    assert_eq!(m.stats().full, 1);

    // The stream starts right after the snapshot's offset.
    assert!(m.cmd(&["SET", "after-sync", "1"]).is_ok());
    let delivered = follower.until(
        "SET after-sync",
        TIMEOUT,
        |e| matches!(e, Event::Command(c) if c.frame.is("SET")),
    );
    let cmds = commands(&delivered);
    assert_eq!(
        cmds.len(),
        delivered.len(),
        "only commands after the snapshot"
    );
    assert_contiguous(sync.offset, &cmds);
    let writes: Vec<Vec<String>> = cmds
        .iter()
        .filter(|c| c.kind != CommandKind::Ping)
        .map(words)
        .collect();
    assert_eq!(
        writes,
        [vec!["SELECT", "0"], vec!["SET", "after-sync", "1"]]
    );

    // The bytes are a valid RDB of the master's data set: a second server loads them.
    let loaded = redis.start_with_files(&[("dump.rdb", &sync.rdb)], &[]);
    assert!(
        loaded.log().contains("DB loaded from disk"),
        "the server did not load the snapshot:\n{}",
        loaded.log()
    );
    let mut l = loaded.client();
    assert_eq!(l.keyspace(), keyspace);
    assert_eq!(l.cmd(&["GET", "key:7"]).as_str(), Some(&*string_value(7)));
    assert_eq!(
        l.cmd(&["LRANGE", "list", "0", "-1"]),
        Reply::Array(Some(vec![
            Reply::Bulk(Some(b"a".to_vec())),
            Reply::Bulk(Some(b"b".to_vec())),
            Reply::Bulk(Some(b"c".to_vec())),
        ]))
    );
    assert!(l.cmd(&["TTL", "ttl"]).as_int().is_some_and(|t| t > 900));
}

driver_tests! {
    fn full_sync_disk_framing_redis7(driver) {
        full_sync_scenario(driver, Redis::Default, &DISK, false);
    }
}

driver_tests! {
    fn full_sync_diskless_framing_redis7(driver) {
        full_sync_scenario(driver, Redis::Default, &DISKLESS, true);
    }
}

driver_tests! {
    fn full_sync_disk_framing_redis6(driver) {
        // 6.0 sends disk-framed snapshots by default; say it anyway.
        full_sync_scenario(driver, Redis::V6, &DISK, false);
    }
}

/// Starts a master of `redis`, follows it, and returns once the master lists the follower
/// online, with the offset the stream starts after.
fn synced(driver: Driver, redis: Redis, port: u16) -> (RedisServer, FollowerThread, Offset) {
    let master = redis.start(&NO_DELAY);
    let follower = FollowerThread::start_with(driver, master.addr(), ReplicaConfig::new(port));
    let sync = follower.until_synced(&mut master.client(), port, TIMEOUT);
    (master, follower, sync.offset)
}

/// Every kind of write arrives as commands, in order, in the right database, with offsets
/// that tile the stream; then the master sees our replica at its own offset and `WAIT` counts
/// it.
fn writes_in_order_scenario(driver: Driver, redis: Redis) {
    let port = free_port();
    let (master, follower, start) = synced(driver, redis, port);
    let mut m = master.client();

    assert!(m.cmd(&["SET", "foo", "bar"]).is_ok());
    assert_eq!(m.cmd(&["DEL", "foo"]), Reply::Int(1));
    assert!(m.cmd(&["SET", "k2", "v2"]).is_ok());
    let before_expire = now_ms();
    assert_eq!(m.cmd(&["EXPIRE", "k2", "1000"]), Reply::Int(1));
    let after_expire = now_ms();
    assert_eq!(m.cmd(&["INCR", "counter"]), Reply::Int(1));
    assert!(m.cmd(&["MULTI"]).is_ok());
    assert_eq!(m.cmd(&["SET", "m1", "x"]), Reply::Status("QUEUED".into()));
    assert_eq!(m.cmd(&["INCR", "counter"]), Reply::Status("QUEUED".into()));
    assert!(matches!(m.cmd(&["EXEC"]), Reply::Array(Some(r)) if r.len() == 2));
    let script = "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('INCR', KEYS[2])";
    assert_eq!(
        m.cmd(&["EVAL", script, "2", "lua1", "counter", "hello"]),
        Reply::Int(3)
    );
    assert!(m.cmd(&["SELECT", "5"]).is_ok());
    assert!(m.cmd(&["SET", "db5key", "v5"]).is_ok());
    assert!(m.cmd(&["SELECT", "0"]).is_ok());
    assert!(m.cmd(&["SET", "back", "v"]).is_ok());

    let delivered = follower.until(
        "SET back",
        TIMEOUT,
        |e| matches!(e, Event::Command(c) if c.frame.arg(1) == Some(b"back")),
    );
    let cmds = commands(&delivered);
    assert_eq!(cmds.len(), delivered.len(), "only commands while streaming");
    let mut last = assert_contiguous(start, &cmds);

    let writes: Vec<_> = cmds
        .iter()
        .filter(|c| c.kind != CommandKind::Ping)
        .collect();
    let mut seen: Vec<Vec<String>> = writes.iter().map(|c| words(c)).collect();
    // The expiry's form depends on the version: 7.0 turns it into an absolute PEXPIREAT.
    let expire_at = 4;
    let expire = match redis {
        Redis::V6 => vec!["EXPIRE", "k2", "1000"],
        Redis::Default => {
            let ts: u64 = seen[expire_at]
                .get(2)
                .and_then(|ts| ts.parse().ok())
                .unwrap_or_else(|| panic!("no timestamp in {:?}", seen[expire_at]));
            let range = (before_expire + 1_000_000 - 1000)..=(after_expire + 1_000_000 + 1000);
            assert!(
                range.contains(&ts),
                "PEXPIREAT {ts} is not 1000 s after the EXPIRE ({range:?})"
            );
            seen[expire_at][2] = "<ts>".into();
            vec!["PEXPIREAT", "k2", "<ts>"]
        }
    };
    let expected: Vec<Vec<&str>> = vec![
        vec!["SELECT", "0"],
        vec!["SET", "foo", "bar"],
        vec!["DEL", "foo"],
        vec!["SET", "k2", "v2"],
        expire,
        vec!["INCR", "counter"],
        vec!["MULTI"],
        vec!["SET", "m1", "x"],
        vec!["INCR", "counter"],
        vec!["EXEC"],
        vec!["MULTI"],
        vec!["SET", "lua1", "hello"],
        vec!["INCR", "counter"],
        vec!["EXEC"],
        vec!["SELECT", "5"],
        vec!["SET", "db5key", "v5"],
        vec!["SELECT", "0"],
        vec!["SET", "back", "v"],
    ];
    assert_eq!(seen, expected);

    let dbs: Vec<u32> = writes.iter().map(|c| c.db).collect();
    let mut expected_dbs = vec![0; expected.len()];
    expected_dbs[14] = 5;
    expected_dbs[15] = 5;
    assert_eq!(dbs, expected_dbs);
    let kinds: Vec<CommandKind> = writes.iter().map(|c| c.kind).collect();
    let mut expected_kinds = vec![CommandKind::Other; expected.len()];
    expected_kinds[0] = CommandKind::Select(0);
    expected_kinds[6] = CommandKind::Multi;
    expected_kinds[9] = CommandKind::Exec;
    expected_kinds[10] = CommandKind::Multi;
    expected_kinds[13] = CommandKind::Exec;
    expected_kinds[14] = CommandKind::Select(5);
    expected_kinds[16] = CommandKind::Select(0);
    assert_eq!(kinds, expected_kinds);

    // The master's view once the writes stop: our replica acknowledged everything, and our
    // last command ends at the master's own offset.
    wait_settled(&follower, &mut m, port, &mut last, TIMEOUT);
    let mut w = master.client();
    assert_eq!(w.cmd(&["WAIT", "1", "2000"]), Reply::Int(1));
    wait_settled(&follower, &mut m, port, &mut last, TIMEOUT);
}

driver_tests! {
    fn writes_arrive_in_order_and_offsets_match_redis7(driver) {
        writes_in_order_scenario(driver, Redis::Default);
    }
}

driver_tests! {
    fn writes_arrive_in_order_and_offsets_match_redis6(driver) {
        writes_in_order_scenario(driver, Redis::V6);
    }
}

/// `WAIT` right after a write, with periodic ACKs far away: only our answer to the master's
/// `REPLCONF GETACK` can satisfy it, and that answer leaves out the GETACK's own bytes.
///
/// Disk framing: after a diskless payload the master starts the stream on an ACK, and drops
/// one that arrives before it has reaped its snapshot child, counting on the next periodic one.
fn getack_scenario(driver: Driver, redis: Redis) {
    let port = free_port();
    let master = redis.start(&DISK);
    let config = ReplicaConfig::new(port).with_ack_period(Duration::from_secs(3600));
    let follower = FollowerThread::start_with(driver, master.addr(), config);
    let mut m = master.client();
    follower.until_synced(&mut m, port, TIMEOUT);

    assert!(m.cmd(&["SET", "before-wait", "1"]).is_ok());
    // Answered within 1.5 s by the master's own clock, and only our answer to its GETACK can
    // answer it (no periodic ACK comes).
    assert_eq!(m.cmd(&["WAIT", "1", "1500"]), Reply::Int(1));

    let delivered = follower.until(
        "REPLCONF GETACK",
        TIMEOUT,
        |e| matches!(e, Event::Command(c) if c.kind == CommandKind::GetAck),
    );
    let cmds = commands(&delivered);
    let getack = cmds.last().expect("the GETACK");
    assert_eq!(words(getack), ["REPLCONF", "GETACK", "*"]);
    let set = cmds
        .iter()
        .rfind(|c| c.frame.is("SET"))
        .expect("the SET before the GETACK");
    assert_eq!(words(set), ["SET", "before-wait", "1"]);
    wait_until("the master to record our ACK", TIMEOUT, || {
        let (master_offset, acked) = m.online_replica_offset(port);
        master_offset >= getack.offset.get() && acked == Some(getack.start_offset().get() - 1)
    });
}

driver_tests! {
    fn getack_is_answered_at_once_redis7(driver) {
        getack_scenario(driver, Redis::Default);
    }
}

driver_tests! {
    fn getack_is_answered_at_once_redis6(driver) {
        getack_scenario(driver, Redis::V6);
    }
}
