//! A real Redis 7 replica of the reference master, with a proxy on the link: cutting the link
//! while writing ends in a partial resync, and a gap larger than the backlog in a full one.

mod master_common;

use master_common::{
    assert_same_data, client, log_count, real_replica_of, start_node, wait_caught_up, wait_link_up,
    TIMEOUT,
};
use replproto_e2e::{wait_until, CutProxy, Reply};

const PARTIAL_OK: &str = "Successful partial resynchronization with master.";
const FULL: &str = "Full resync from master";

#[test]
fn cut_while_writing_ends_in_a_partial_resync() {
    let node = start_node(|_| {});
    let proxy = CutProxy::start(node.addr());
    let replica = real_replica_of(proxy.port(), &[]);
    let mut r = replica.client();
    wait_link_up(&mut r);
    let mut m = client(&node);

    let mut i = 0u64;
    let mut write = |m: &mut replproto_e2e::Client| {
        assert!(m.cmd(&["SET", &format!("seq:{i}"), &i.to_string()]).is_ok());
        assert!(m.cmd(&["INCR", "counter"]).as_int().is_some());
        i += 1;
    };
    for _ in 0..100 {
        write(&mut m);
    }
    // Cut with writes in flight, and keep the replica out while more accumulate.
    proxy.set_blocked(true);
    proxy.cut();
    for _ in 0..300 {
        write(&mut m);
    }
    proxy.set_blocked(false);
    // Keep writing while the replica reconnects and resumes.
    wait_until("the replica resumes partially", TIMEOUT, || {
        write(&mut m);
        log_count(&replica, PARTIAL_OK) == 1
    });
    for _ in 0..100 {
        write(&mut m);
    }
    wait_caught_up(&mut m, &mut r);

    let log = replica.log();
    assert_eq!(log_count(&replica, FULL), 1, "{log}");
    assert!(log.contains("Trying a partial resynchronization"), "{log}");
    let stats = m.stats();
    assert_eq!((stats.full, stats.partial_ok, stats.partial_err), (1, 1, 0));
    assert!(assert_same_data(&mut m, &mut r) >= 500);
    assert_eq!(r.cmd(&["GET", "counter"]), m.cmd(&["GET", "counter"]));
}

#[test]
fn gap_larger_than_the_backlog_ends_in_a_full_resync() {
    let node = start_node(|c| c.backlog_size = 16 * 1024);
    let proxy = CutProxy::start(node.addr());
    let replica = real_replica_of(proxy.port(), &[]);
    let mut r = replica.client();
    wait_link_up(&mut r);
    let mut m = client(&node);
    assert!(m.cmd(&["SET", "before", "cut"]).is_ok());
    wait_caught_up(&mut m, &mut r);

    proxy.set_blocked(true);
    proxy.cut();
    // 48 KiB of writes: three times what the backlog holds.
    let value = "v".repeat(1024);
    for i in 0..48 {
        assert!(m.cmd(&["SET", &format!("big:{i}"), &value]).is_ok());
    }
    let info = m.info_replication();
    assert_eq!(info["repl_backlog_size"], "16384");
    let first: u64 = info["repl_backlog_first_byte_offset"].parse().unwrap();
    assert!(first > 1, "the backlog dropped its start: {info:?}");
    proxy.set_blocked(false);

    wait_until("the replica syncs again", TIMEOUT, || {
        log_count(&replica, FULL) == 2
    });
    wait_caught_up(&mut m, &mut r);
    let stats = m.stats();
    assert_eq!((stats.full, stats.partial_ok, stats.partial_err), (2, 0, 1));
    assert_eq!(log_count(&replica, PARTIAL_OK), 0);
    assert_eq!(assert_same_data(&mut m, &mut r), 49);
    assert_eq!(
        r.cmd(&["GET", "big:47"]),
        Reply::Bulk(Some(value.into_bytes()))
    );
}

/// A replica that stops reading is dropped once its unsent output passes the limit, and the
/// master keeps serving everyone else.
#[test]
fn replica_that_stops_reading_is_dropped() {
    use std::io::{Read, Write};

    let node = start_node(|c| c.replica_output_limit = 1024 * 1024);
    let mut stalled = std::net::TcpStream::connect(node.addr()).unwrap();
    // A read returns as soon as data arrives; the timeout only bounds a stuck master.
    stalled.set_read_timeout(Some(TIMEOUT)).unwrap();
    stalled
        .write_all(b"*3\r\n$8\r\nREPLCONF\r\n$14\r\nlistening-port\r\n$4\r\n7777\r\n")
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = stalled.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"+OK\r\n");
    stalled
        .write_all(b"*3\r\n$5\r\nPSYNC\r\n$1\r\n?\r\n$2\r\n-1\r\n")
        .unwrap();
    let n = stalled.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"+FULLRESYNC "));
    let mut m = client(&node);
    wait_until("the stalled replica is online", TIMEOUT, || {
        m.replica_offsets().iter().any(|r| r.2 == "online")
    });

    // Far more than the socket buffers and the limit hold together, in writes small enough
    // that the output only passes the limit once the socket stops taking it.
    let value = "z".repeat(64 * 1024);
    let mut written = 0;
    while !m.replica_offsets().is_empty() {
        assert!(written < 2048, "the stalled replica was never dropped");
        assert!(m.cmd(&["SET", &format!("huge:{written}"), &value]).is_ok());
        written += 1;
    }
    assert!(written > 16, "dropped before its output grew: {written}");
    assert_eq!(m.info_replication()["connected_slaves"], "0");
    assert_eq!(
        m.cmd(&["GET", "huge:0"]).as_str().map(str::len),
        Some(value.len())
    );
}
