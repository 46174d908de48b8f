//! A real Redis 7 replica of the reference master: the full sync with disk (`$<len>`) and
//! diskless (`$EOF:`) framing, writes reaching the replica, and `WAIT`.

mod master_common;

use std::time::{Duration, Instant};

use master_common::{
    assert_same_data, client, real_replica_of, start_node, wait_caught_up, wait_link_up,
    write_workload, TIMEOUT,
};
use replproto_e2e::{wait_until, Reply};

/// Full sync in the given framing, then streaming: the replica's own log names the framing,
/// and its data equals the master's before and after more writes.
fn full_sync_then_stream(diskless: bool) {
    let node = start_node(|c| c.diskless_sync = diskless);
    let mut m = client(&node);
    write_workload(&mut m, "before", 24);

    let replica = real_replica_of(node.port(), &[]);
    let mut r = replica.client();
    wait_link_up(&mut r);
    let log = replica.log();
    if diskless {
        assert!(
            log.contains("MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF"),
            "{log}"
        );
    } else {
        let line = log
            .lines()
            .find(|l| l.contains("MASTER <-> REPLICA sync: receiving "))
            .unwrap_or_else(|| panic!("no transfer line in the replica log:\n{log}"));
        assert!(
            line.contains(" bytes from master to disk") && !line.contains("EOF"),
            "{line}"
        );
    }
    assert!(log.contains("MASTER <-> REPLICA sync: Finished with success"));
    wait_caught_up(&mut m, &mut r);
    assert!(assert_same_data(&mut m, &mut r) >= 70);

    // Streaming: the writes arrive (GET on the replica), expiry included.
    write_workload(&mut m, "after", 24);
    assert!(m.cmd(&["SET", "last", "write"]).is_ok());
    wait_until("the last write reaches the replica", TIMEOUT, || {
        r.cmd(&["GET", "last"]) == Reply::Bulk(Some(b"write".to_vec()))
    });
    wait_caught_up(&mut m, &mut r);
    assert!(assert_same_data(&mut m, &mut r) >= 140);
    let ttl = r.cmd(&["TTL", "after:ttl"]).as_int().unwrap();
    assert!((990..=1000).contains(&ttl), "TTL on the replica: {ttl}");

    let stats = m.stats();
    assert_eq!((stats.full, stats.partial_ok, stats.partial_err), (1, 0, 0));
    let replicas = m.replica_offsets();
    assert_eq!(replicas.len(), 1, "{replicas:?}");
    assert_eq!(replicas[0].1, replica.port());
    assert_eq!(replicas[0].2, "online");
}

#[test]
fn full_sync_disk_framing() {
    full_sync_then_stream(false);
}

#[test]
fn full_sync_diskless_framing() {
    full_sync_then_stream(true);
}

/// `WAIT 1 900` after a write returns 1 (the master asks for an ACK with `GETACK` rather than
/// waiting for the replica's periodic one), `WAIT 2 …` times out with the count it has, and a
/// `WAIT` with nothing to wait for answers at once.
#[test]
fn wait_counts_the_acknowledging_replica() {
    let node = start_node(|_| {});
    let mut m = client(&node);
    let replica = real_replica_of(node.port(), &[]);
    let mut r = replica.client();
    wait_link_up(&mut r);

    for i in 0..5 {
        assert!(m.cmd(&["SET", &format!("w:{i}"), "v"]).is_ok());
        // The replica's periodic ACK comes once a second, so it cannot answer five WAITs in a
        // row within 900 ms each (counted by the master itself): GETACK makes it answer sooner.
        assert_eq!(m.cmd(&["WAIT", "1", "900"]), Reply::Int(1));
    }
    assert_eq!(r.cmd(&["GET", "w:4"]), Reply::Bulk(Some(b"v".to_vec())));

    assert!(m.cmd(&["SET", "w:more", "v"]).is_ok());
    let start = Instant::now();
    assert_eq!(m.cmd(&["WAIT", "2", "300"]), Reply::Int(1));
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(290) && waited < Duration::from_secs(2),
        "{waited:?}"
    );
    assert_eq!(m.cmd(&["WAIT", "0", "0"]).as_int(), Some(1));
    assert_eq!(
        m.cmd(&["WAIT", "1", "-1"]),
        Reply::Error("ERR timeout is negative".into())
    );
    // A client blocked in WAIT does not hold up the others.
    let mut other = client(&node);
    assert!(other.cmd(&["PING"]) == Reply::Status("PONG".into()));
}

/// With `requirepass`, clients and replicas must authenticate: a real replica with the right
/// `masterauth` syncs, a wrong password is refused with Redis's words.
#[test]
fn requirepass_guards_clients_and_replicas() {
    let node = start_node(|c| c.requirepass = Some("s3cret".into()));
    let mut m = client(&node);
    assert_eq!(
        m.cmd(&["SET", "k", "v"]),
        Reply::Error("NOAUTH Authentication required.".into())
    );
    assert_eq!(
        m.cmd(&["AUTH", "wrong"]),
        Reply::Error("WRONGPASS invalid username-password pair or user is disabled.".into())
    );
    assert_eq!(
        m.cmd(&["AUTH", "someone", "s3cret"]),
        Reply::Error("WRONGPASS invalid username-password pair or user is disabled.".into())
    );
    assert!(m.cmd(&["AUTH", "default", "s3cret"]).is_ok());
    assert!(m.cmd(&["SET", "k", "v"]).is_ok());

    let replica = real_replica_of(node.port(), &["--masterauth", "s3cret"]);
    let mut r = replica.client();
    wait_link_up(&mut r);
    wait_caught_up(&mut m, &mut r);
    assert_eq!(r.cmd(&["GET", "k"]), Reply::Bulk(Some(b"v".to_vec())));
}

/// `min-replicas-to-write 1`: writes are refused until a replica is online, reads never are.
#[test]
fn min_replicas_refuses_writes_without_a_replica() {
    let node = start_node(|c| c.min_replicas_to_write = 1);
    let mut m = client(&node);
    assert_eq!(
        m.cmd(&["SET", "k", "v"]),
        Reply::Error("NOREPLICAS Not enough good replicas to write.".into())
    );
    assert_eq!(m.cmd(&["GET", "k"]), Reply::Bulk(None));
    assert_eq!(m.info_replication()["min_slaves_good_slaves"], "0");
    let replica = real_replica_of(node.port(), &[]);
    let mut r = replica.client();
    wait_link_up(&mut r);
    wait_until("writes are accepted", TIMEOUT, || {
        m.cmd(&["SET", "k", "v"]).is_ok()
    });
    assert_eq!(m.info_replication()["min_slaves_good_slaves"], "1");
    wait_caught_up(&mut m, &mut r);
    assert_eq!(r.cmd(&["GET", "k"]), Reply::Bulk(Some(b"v".to_vec())));
}
