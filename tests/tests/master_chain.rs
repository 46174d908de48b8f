//! The reference node as a replica (the core's replica side feeding the core's master side):
//! following a real Redis 7 master, relaying to a real sub-replica, and being promoted.

mod master_common;

use master_common::{
    assert_same_data, client, dump_real, log_count, read_keys, real_replica_of, start_node,
    wait_caught_up, wait_link_up, write_workload, TIMEOUT,
};
use replproto_e2e::{wait_until, Client, Redis, Reply};

/// A (reference master) ← B (reference replica) ← C (real Redis). B is promoted: it keeps A's
/// history as `replid2` up to its offset + 1, and C resumes against it with a partial resync
/// that announces B's new id.
#[test]
fn promoted_reference_replica_keeps_the_old_history() {
    let a = start_node(|_| {});
    let b = start_node(|c| c.replicaof = Some(("127.0.0.1".into(), a.port())));
    let mut ma = client(&a);
    let mut mb = client(&b);
    write_workload(&mut ma, "early", 10);
    wait_link_up(&mut mb);
    // Leave A's stream in database 5 when C takes its snapshot from B: C must start in that
    // database, since A will not select it again.
    assert!(ma.cmd(&["SELECT", "5"]).is_ok());
    assert!(ma.cmd(&["SET", "stream-db", "5"]).is_ok());
    wait_caught_up(&mut ma, &mut mb);
    let c = real_replica_of(b.port(), &[]);
    let mut mc = c.client();
    wait_link_up(&mut mc);
    assert!(ma.cmd(&["SET", "still-in-5", "yes"]).is_ok());
    assert!(ma.cmd(&["SELECT", "0"]).is_ok());
    assert!(mc.cmd(&["SELECT", "5"]).is_ok());
    wait_until("C applies A's write in database 5", TIMEOUT, || {
        mc.cmd(&["GET", "still-in-5"]) == Reply::Bulk(Some(b"yes".to_vec()))
    });
    assert!(mc.cmd(&["SELECT", "0"]).is_ok());

    // Writes on A reach C through B, with the same bytes and offsets all along.
    write_workload(&mut ma, "chained", 10);
    assert!(ma.cmd(&["SET", "through", "b"]).is_ok());
    wait_until("the write reaches C", TIMEOUT, || {
        mc.cmd(&["GET", "through"]) == Reply::Bulk(Some(b"b".to_vec()))
    });
    wait_caught_up(&mut ma, &mut mb);
    wait_caught_up(&mut mb, &mut mc);
    let old_id = ma.info_replication()["master_replid"].clone();
    let info_b = mb.info_replication();
    assert_eq!(info_b["role"], "slave");
    assert_eq!(info_b["master_host"], "127.0.0.1");
    assert_eq!(info_b["master_port"], a.port().to_string());
    assert_eq!(info_b["master_replid"], old_id);
    assert_eq!(mc.info_replication()["master_replid"], old_id);
    assert_eq!(info_b["connected_slaves"], "1");
    let offset: u64 = info_b["master_repl_offset"].parse().unwrap();
    let Reply::Array(Some(role)) = mb.cmd(&["ROLE"]) else {
        panic!("ROLE is an array");
    };
    assert_eq!(role[0].as_str(), Some("slave"));
    assert_eq!(role[2], Reply::Int(i64::from(a.port())));
    assert_eq!(role[3].as_str(), Some("connected"));
    assert_eq!(role[4], Reply::Int(offset as i64));
    assert_eq!(
        mb.cmd(&["SET", "x", "1"]),
        Reply::Error("READONLY You can't write against a read only replica.".into())
    );
    assert_same_data(&mut mb, &mut mc);

    // Promotion.
    let partial_before = log_count(&c, "Successful partial resynchronization with master.");
    assert!(mb.cmd(&["REPLICAOF", "NO", "ONE"]).is_ok());
    let info_b = mb.info_replication();
    assert_eq!(info_b["role"], "master");
    let new_id = info_b["master_replid"].clone();
    assert_ne!(new_id, old_id);
    assert_eq!(info_b["master_replid2"], old_id);
    assert_eq!(info_b["second_repl_offset"], (offset + 1).to_string());
    assert_eq!(info_b["master_repl_offset"], offset.to_string());

    // C was dropped and resumes against the old history, learning the new id.
    wait_until("C resumes against B", TIMEOUT, || {
        log_count(&c, "Successful partial resynchronization with master.") > partial_before
    });
    let log = c.log();
    assert!(
        log.contains(&format!(
            "Trying a partial resynchronization (request {old_id}:{})",
            offset + 1
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!("Master replication ID changed to {new_id}")),
        "{log}"
    );
    assert_eq!(log_count(&c, "Full resync from master"), 1, "{log}");
    let stats = mb.stats();
    assert_eq!((stats.full, stats.partial_ok), (1, 1));
    wait_link_up(&mut mc);
    let info_c = mc.info_replication();
    assert_eq!(info_c["master_replid"], new_id);
    assert_eq!(info_c["master_replid2"], old_id);

    // B takes writes now, and C follows them; A is on its own.
    assert!(mb.cmd(&["SET", "after", "promotion"]).is_ok());
    write_workload(&mut mb, "late", 5);
    wait_caught_up(&mut mb, &mut mc);
    assert_eq!(
        mc.cmd(&["GET", "after"]),
        Reply::Bulk(Some(b"promotion".to_vec()))
    );
    assert!(assert_same_data(&mut mb, &mut mc) > 80);
    assert_eq!(ma.cmd(&["GET", "after"]), Reply::Bulk(None));
    assert_eq!(mb.cmd(&["WAIT", "1", "2000"]), Reply::Int(1));
}

/// The reference node follows a real Redis master: the snapshot (integer, LZF-compressed and
/// expiring strings in several databases) loads, the stream applies, `WAIT` on the real master
/// counts the node's ACKs, and `REPLICAOF` at run time behaves as in Redis.
#[test]
fn reference_replica_of_a_real_master() {
    let real = Redis::Default.start(&["--repl-diskless-sync-delay", "0"]);
    let mut r = real.client();
    for i in 0..50 {
        assert!(r
            .cmd(&["SET", &format!("int:{i}"), &(i * 1000).to_string()])
            .is_ok());
        assert!(r
            .cmd(&[
                "SET",
                &format!("lzf:{i}"),
                &format!("{i}-{}", "abc".repeat(40))
            ])
            .is_ok());
    }
    assert!(r.cmd(&["SET", "neg", "-123456789"]).is_ok());
    assert!(r.cmd(&["SET", "ttl", "v", "EX", "1000"]).is_ok());
    assert!(r.cmd(&["SELECT", "7"]).is_ok());
    assert!(r.cmd(&["SET", "in7", "seven"]).is_ok());
    assert!(r.cmd(&["SELECT", "0"]).is_ok());

    let b = start_node(|c| c.replicaof = Some(("127.0.0.1".into(), real.port())));
    let mut mb = client(&b);
    wait_link_up(&mut mb);
    assert_eq!(dbsize_all(&mut mb), 103);
    let compare = |mb: &mut Client, r: &mut Client| {
        for db in [0, 7] {
            let theirs = dump_real(r, db);
            assert_eq!(read_keys(mb, db, theirs.keys()), theirs, "db {db}");
        }
    };
    compare(&mut mb, &mut r);

    // The stream: writes in several databases, counters, expiry, deletion.
    for i in 0..20 {
        assert!(r.cmd(&["SET", &format!("new:{i}"), "x"]).is_ok());
    }
    assert_eq!(r.cmd(&["INCR", "int:3"]), Reply::Int(3001));
    assert_eq!(r.cmd(&["EXPIRE", "int:4", "100"]), Reply::Int(1));
    assert_eq!(r.cmd(&["DEL", "lzf:0"]), Reply::Int(1));
    assert!(r.cmd(&["SELECT", "7"]).is_ok());
    assert!(r.cmd(&["SET", "in7", "again"]).is_ok());
    assert!(r.cmd(&["SELECT", "0"]).is_ok());
    assert_eq!(r.cmd(&["WAIT", "1", "2000"]), Reply::Int(1));
    wait_caught_up(&mut r, &mut mb);
    compare(&mut mb, &mut r);
    let ttl = mb.cmd(&["TTL", "int:4"]).as_int().unwrap();
    assert!((95..=100).contains(&ttl), "{ttl}");

    // REPLICAOF to the same master changes nothing; a bad port is refused.
    assert_eq!(
        mb.cmd(&["REPLICAOF", "127.0.0.1", &real.port().to_string()]),
        Reply::Status("OK Already connected to specified master".into())
    );
    assert_eq!(
        mb.cmd(&["REPLICAOF", "127.0.0.1", "70000"]),
        Reply::Error("ERR Invalid master port".into())
    );
    let stats = r.stats();
    assert_eq!((stats.full, stats.partial_ok), (1, 0));
    // Promoted, the node takes writes and keeps the data.
    assert!(mb.cmd(&["REPLICAOF", "NO", "ONE"]).is_ok());
    assert!(mb.cmd(&["SET", "mine", "now"]).is_ok());
    assert_eq!(mb.cmd(&["GET", "new:19"]), Reply::Bulk(Some(b"x".to_vec())));
    assert_eq!(mb.info_replication()["role"], "master");
}

fn dbsize_all(c: &mut Client) -> i64 {
    (0..16).map(|db| master_common::dbsize(c, db)).sum()
}

/// The reference replica's link to a real master is cut while the master takes writes: it
/// reconnects from its checkpoint and resumes with a partial resync, losing nothing.
#[test]
fn reference_replica_resumes_after_a_cut() {
    let real = Redis::Default.start(&["--repl-diskless-sync-delay", "0"]);
    let proxy = replproto_e2e::CutProxy::start(real.addr());
    let b = start_node(|c| c.replicaof = Some(("127.0.0.1".into(), proxy.port())));
    let mut mb = client(&b);
    let mut r = real.client();
    wait_link_up(&mut mb);
    for i in 0..100 {
        assert!(r.cmd(&["SET", &format!("k:{i}"), &i.to_string()]).is_ok());
    }
    proxy.set_blocked(true);
    proxy.cut();
    wait_until("the node sees its link down", TIMEOUT, || {
        mb.link_up() == Some(false)
    });
    assert!(r.cmd(&["SELECT", "2"]).is_ok());
    for i in 100..300 {
        assert!(r.cmd(&["SET", &format!("k:{i}"), &i.to_string()]).is_ok());
    }
    assert!(r.cmd(&["SELECT", "0"]).is_ok());
    proxy.set_blocked(false);
    wait_link_up(&mut mb);
    wait_caught_up(&mut r, &mut mb);
    let stats = r.stats();
    assert_eq!((stats.full, stats.partial_ok, stats.partial_err), (1, 1, 0));
    for db in [0, 2] {
        let theirs = dump_real(&mut r, db);
        assert_eq!(theirs.len(), if db == 0 { 100 } else { 200 });
        assert_eq!(read_keys(&mut mb, db, theirs.keys()), theirs, "db {db}");
    }
}
