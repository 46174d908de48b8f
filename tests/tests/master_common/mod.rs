//! Helpers shared by the `master_*` tests: the reference node started in-process, real
//! replicas of it, and comparisons of their data.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use replctl::config::ServerConfig;
use replctl::server::{self, ServerHandle};
use replproto_e2e::{wait_until, Client, Redis, RedisServer, Reply};

/// Deadline for anything replication does on loopback.
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// Databases the tests write to.
pub const DBS: [u32; 3] = [0, 3, 5];

/// Starts a reference node on a free loopback port; `tune` adjusts its settings first.
pub fn start_node(tune: impl FnOnce(&mut ServerConfig)) -> ServerHandle {
    let mut config = ServerConfig::new(0);
    config.log = true;
    tune(&mut config);
    server::spawn(config).expect("start the reference node")
}

/// A test client of a reference node.
pub fn client(node: &ServerHandle) -> Client {
    Client::connect(node.addr())
}

/// A real `redis-server` replicating from `port` on loopback, with `extra` options.
pub fn real_replica_of(port: u16, extra: &[&str]) -> RedisServer {
    let port = port.to_string();
    let mut args = vec!["--replicaof", "127.0.0.1", &port];
    args.extend_from_slice(extra);
    Redis::Default.start(&args)
}

/// Waits until a replica (real or reference) reports its link up.
pub fn wait_link_up(replica: &mut Client) {
    wait_until("the replica's link is up", TIMEOUT, || {
        replica.link_up() == Some(true)
    });
}

/// Waits until the replica has applied everything the master produced so far.
pub fn wait_caught_up(master: &mut Client, replica: &mut Client) {
    let target = master.master_repl_offset();
    wait_until(
        &format!("the replica reaches offset {target}"),
        TIMEOUT,
        || replica.link_up() == Some(true) && replica.master_repl_offset() >= target,
    );
    assert_eq!(
        replica.master_repl_offset(),
        master.master_repl_offset(),
        "offsets differ after catching up"
    );
}

fn select(c: &mut Client, db: u32) {
    assert!(c.cmd(&["SELECT", &db.to_string()]).is_ok());
}

/// Every key of `db` with its value and whether it has an expiry, read from a real server (the
/// reference node has no `KEYS`).
pub fn dump_real(c: &mut Client, db: u32) -> BTreeMap<String, (String, bool)> {
    select(c, db);
    let Reply::Array(Some(keys)) = c.cmd(&["KEYS", "*"]) else {
        panic!("KEYS gave no array");
    };
    let mut out = BTreeMap::new();
    for key in keys {
        let key = key.as_str().expect("text key").to_owned();
        let value = c
            .cmd(&["GET", &key])
            .as_str()
            .expect("string value")
            .to_owned();
        let ttl = c.cmd(&["PTTL", &key]).as_int().expect("PTTL integer");
        out.insert(key, (value, ttl >= 0));
    }
    select(c, 0);
    out
}

/// Reads the same keys from a reference node.
pub fn read_keys<'a>(
    c: &mut Client,
    db: u32,
    keys: impl IntoIterator<Item = &'a String>,
) -> BTreeMap<String, (String, bool)> {
    select(c, db);
    let mut out = BTreeMap::new();
    for key in keys {
        let value = c.cmd(&["GET", key]);
        let value = value.as_str().unwrap_or_else(|| panic!("{key}: {value:?}"));
        let ttl = c.cmd(&["PTTL", key]).as_int().expect("PTTL integer");
        out.insert(key.clone(), (value.to_owned(), ttl >= 0));
    }
    select(c, 0);
    out
}

/// `DBSIZE` of `db`.
pub fn dbsize(c: &mut Client, db: u32) -> i64 {
    select(c, db);
    let n = c.cmd(&["DBSIZE"]).as_int().expect("DBSIZE integer");
    select(c, 0);
    n
}

/// Asserts that a real server holds exactly the data of a reference node in every database:
/// the same number of keys, and each of the real server's keys with the same value and the
/// same presence of an expiry on the reference node. Returns the number of keys compared.
pub fn assert_same_data(reference: &mut Client, real: &mut Client) -> usize {
    let mut compared = 0;
    for db in 0..16 {
        let theirs = dump_real(real, db);
        assert_eq!(
            dbsize(reference, db),
            theirs.len() as i64,
            "DBSIZE of db {db} differs"
        );
        let ours = read_keys(reference, db, theirs.keys());
        assert_eq!(ours, theirs, "data of db {db} differs");
        compared += theirs.len();
    }
    compared
}

/// Writes a mixed workload to a reference master: plain, integer and large values, counters,
/// an expiring key, deletions, in several databases.
pub fn write_workload(c: &mut Client, prefix: &str, n: u64) {
    for (round, db) in DBS.iter().enumerate() {
        select(c, *db);
        for i in 0..n {
            let key = format!("{prefix}:{i}");
            let value = match i % 4 {
                0 => i.to_string(),
                1 => format!("{prefix}-value-{i}"),
                2 => "x".repeat(100 + i as usize),
                _ => replproto_e2e::incompressible(i, 40),
            };
            assert!(c.cmd(&["SET", &key, &value]).is_ok(), "SET {key}");
        }
        assert!(c
            .cmd(&["INCR", &format!("{prefix}:ctr")])
            .as_int()
            .is_some());
        assert!(c
            .cmd(&["SET", &format!("{prefix}:ttl"), "v", "EX", "1000"])
            .is_ok());
        assert_eq!(
            c.cmd(&["EXPIRE", &format!("{prefix}:0"), "500"]),
            Reply::Int(1)
        );
        if n > 3 && round == 0 {
            assert_eq!(c.cmd(&["DEL", &format!("{prefix}:3")]), Reply::Int(1));
        }
    }
    select(c, 0);
}

/// How many times `needle` appears in a server's log.
pub fn log_count(server: &RedisServer, needle: &str) -> usize {
    server.log().matches(needle).count()
}
