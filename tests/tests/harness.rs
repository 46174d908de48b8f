//! Proves the harness itself against real `redis-server` processes: server start and stop, the
//! client, INFO parsing, the cutting proxy and the waiting helpers.

use std::path::Path;
use std::time::Duration;

use replproto_e2e::{wait_for, wait_until, workload_value, Client, CutProxy, RedisServer, Reply};

const TIMEOUT: Duration = Duration::from_secs(20);
const DISKLESS: [&str; 4] = [
    "--repl-diskless-sync",
    "yes",
    "--repl-diskless-sync-delay",
    "0",
];

#[test]
fn server_answers_and_reports_master_role() {
    let server = RedisServer::start(&[]);
    let mut client = server.client();
    assert_eq!(client.cmd(&["PING"]), Reply::Status("PONG".into()));
    assert!(client.cmd(&["SET", "k", "v"]).is_ok());
    assert_eq!(client.cmd(&["GET", "k"]).as_str(), Some("v"));
    assert_eq!(client.cmd(&["GET", "missing"]), Reply::Bulk(None));
    assert_eq!(client.cmd(&["INCRBY", "n", "5"]).as_int(), Some(5));
    assert!(matches!(client.cmd(&["NOSUCHCOMMAND"]), Reply::Error(e) if e.starts_with("ERR")));
    let binary = client.cmd_bytes(&[b"SET", b"bin", b"\x00\r\n\xff"]);
    assert!(binary.is_ok());
    assert_eq!(
        client.cmd(&["GET", "bin"]),
        Reply::Bulk(Some(b"\x00\r\n\xff".to_vec()))
    );
    let info = client.info_replication();
    assert_eq!(info["role"], "master");
    assert_eq!(info["connected_slaves"], "0");
    assert!(client.replica_offsets().is_empty());
    assert_eq!(client.stats().full, 0);
    assert!(server.log().contains("Ready to accept connections"));
}

#[test]
fn requirepass_is_honoured_by_the_server_client() {
    let server = RedisServer::start(&["--requirepass", "s3cret"]);
    let mut anonymous = Client::connect(server.addr());
    assert!(matches!(anonymous.cmd(&["GET", "k"]), Reply::Error(e) if e.starts_with("NOAUTH")));
    assert!(server.client().cmd(&["SET", "k", "v"]).is_ok());
}

#[test]
fn dropping_a_server_stops_it_and_removes_its_dir() {
    let server = RedisServer::start(&[]);
    let (addr, dir) = (server.addr(), server.dir().to_owned());
    assert!(dir.join("redis.log").exists());
    drop(server);
    assert!(Client::try_connect(addr).is_err());
    assert!(!dir.exists());
}

#[test]
#[should_panic(expected = "not found")]
fn a_missing_binary_is_a_failure() {
    RedisServer::start_with(Path::new("/nonexistent/redis-server"), &[]);
}

#[test]
#[should_panic(expected = "did not start")]
fn a_server_that_cannot_start_is_a_failure() {
    RedisServer::start(&["--no-such-option", "x"]);
}

#[test]
fn replica_through_cut_proxy_resyncs_partially() {
    let master = RedisServer::start(&DISKLESS);
    let proxy = CutProxy::start(master.addr());
    let proxy_port = proxy.port().to_string();
    let replica = RedisServer::start(&["--replicaof", "127.0.0.1", &proxy_port]);
    let (mut m, mut r) = (master.client(), replica.client());

    wait_until("replica link up", TIMEOUT, || r.link_up() == Some(true));
    assert_eq!(r.info_replication()["role"], "slave");
    assert_eq!(m.stats().full, 1);
    m.set_keys("a", 0..100);
    wait_until("replica has a:99", TIMEOUT, || {
        r.cmd(&["GET", "a:99"]).as_str() == Some(&*workload_value("a", 99))
    });
    let offset = m.master_repl_offset();
    wait_until("master sees the replica's ack", TIMEOUT, || {
        match m.replica_offsets().as_slice() {
            [(ip, port, state, acked)] => {
                (ip.as_str(), *port, state.as_str()) == ("127.0.0.1", replica.port(), "online")
                    && *acked >= offset
            }
            _ => false,
        }
    });
    let connections = proxy.connections();
    assert!(connections >= 1);
    assert!(proxy.bytes_to_target() > 0 && proxy.bytes_from_target() > 0);

    // Cut the link, keep writing, and let the replica come back through the backlog.
    let partial_before = m.stats().partial_ok;
    proxy.cut();
    m.set_keys("b", 0..100);
    wait_until("replica link up after cut", TIMEOUT, || {
        proxy.connections() > connections && r.link_up() == Some(true)
    });
    wait_until("replica has b:99", TIMEOUT, || {
        r.cmd(&["GET", "b:99"]).as_str() == Some(&*workload_value("b", 99))
    });
    let stats = m.stats();
    assert_eq!(stats.partial_ok, partial_before + 1);
    assert_eq!((stats.full, stats.partial_err), (1, 0));
    assert!(replica
        .log()
        .contains("Successful partial resynchronization with master."));
    assert!(replica
        .log()
        .contains("MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization."));
    let accepted = format!(
        "Partial resynchronization request from 127.0.0.1:{} accepted.",
        replica.port()
    );
    assert!(master.log().contains(&accepted));

    // While blocked, the replica's reconnections are refused and its link stays down.
    proxy.set_blocked(true);
    proxy.cut();
    wait_until("replica link down", TIMEOUT, || r.link_up() == Some(false));
    m.set_keys("c", 0..10);
    let blocked_from = proxy.connections();
    let refused = wait_for("two refused reconnections", TIMEOUT, || {
        let attempts = proxy.connections();
        (attempts >= blocked_from + 2).then_some(attempts)
    });
    assert_eq!(r.link_up(), Some(false));
    proxy.set_blocked(false);
    wait_until("replica link up after unblock", TIMEOUT, || {
        r.link_up() == Some(true)
    });
    assert!(proxy.connections() > refused);
    wait_until("replica has c:9", TIMEOUT, || {
        r.cmd(&["GET", "c:9"]).as_str() == Some(&*workload_value("c", 9))
    });
    assert_eq!(m.stats().partial_ok, partial_before + 2);
    assert_eq!(m.stats().full, 1);
}
