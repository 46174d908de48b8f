//! `redis-cli` against the reference master: `--replica` prints the propagated commands,
//! `--rdb` saves a snapshot a real `redis-server` loads, and ordinary commands are answered as
//! a real Redis 7 answers them.

mod master_common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use master_common::{client, dbsize, start_node, TIMEOUT};
use replproto_e2e::{wait_until, Client, Redis, Reply};

fn redis_cli() -> Command {
    Command::new(std::env::var_os("REPLPROTO_REDIS_CLI").unwrap_or_else(|| "redis-cli".into()))
}

/// A child process killed on drop, whatever the test's outcome.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Copies a child's stream, line by line, into a shared transcript.
fn collect(stream: impl Read + Send + 'static, into: Arc<Mutex<String>>) {
    thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { return };
            let mut text = into.lock().unwrap();
            text.push_str(&line);
            text.push('\n');
        }
    });
}

#[test]
fn redis_cli_replica_prints_the_propagated_commands() {
    let node = start_node(|_| {});
    let mut m = client(&node);
    assert!(m.cmd(&["SET", "before", "sync"]).is_ok());
    let mut child = Killed(
        redis_cli()
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &node.port().to_string(),
                "--replica",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run redis-cli (install redis-tools)"),
    );
    let out = Arc::new(Mutex::new(String::new()));
    let err = Arc::new(Mutex::new(String::new()));
    collect(child.0.stdout.take().unwrap(), Arc::clone(&out));
    collect(child.0.stderr.take().unwrap(), Arc::clone(&err));
    wait_until("redis-cli finishes its sync", TIMEOUT, || {
        err.lock()
            .unwrap()
            .contains("Logging commands from master.")
    });
    let transcript = err.lock().unwrap().clone();
    assert!(
        transcript.contains("SYNC with master, discarding bytes of bulk transfer until EOF marker"),
        "{transcript}"
    );

    assert!(m.cmd(&["SET", "cli-seen", "1"]).is_ok());
    assert_eq!(m.cmd(&["INCR", "ctr"]), Reply::Int(1));
    assert!(m.cmd(&["SELECT", "2"]).is_ok());
    assert!(m.cmd(&["SET", "k", "v", "EX", "100"]).is_ok());
    assert_eq!(m.cmd(&["DEL", "k"]), Reply::Int(1));
    let expected = [
        "\"SET\",\"cli-seen\",\"1\"",
        "\"INCR\",\"ctr\"",
        "\"SELECT\",\"2\"",
        "\"SET\",\"k\",\"v\",\"PXAT\",",
        "\"DEL\",\"k\"",
    ];
    wait_until("redis-cli prints every command", TIMEOUT, || {
        out.lock().unwrap().contains("\"DEL\",\"k\"")
    });
    let printed = out.lock().unwrap().clone();
    // redis-cli reads the first stream command as the reply to its `REPLCONF ACK 0` and does
    // not print it (a real Redis master loses its first `SELECT` or `ping` the same way).
    let lines: Vec<&str> = printed
        .lines()
        .filter(|l| *l != "\"ping\"")
        .skip_while(|l| *l == "\"SELECT\",\"0\"")
        .collect();
    assert_eq!(lines.len(), expected.len(), "{printed}");
    for (line, prefix) in lines.iter().zip(expected) {
        assert!(
            line.starts_with(prefix),
            "{line:?} should start with {prefix:?}"
        );
    }
    // The replica is listed while it follows, and forgotten once it is gone.
    assert_eq!(m.replica_offsets().len(), 1);
    drop(child);
    wait_until("the master forgets redis-cli", TIMEOUT, || {
        m.replica_offsets().is_empty()
    });
}

#[test]
fn redis_cli_rdb_saves_a_snapshot_that_redis_server_loads() {
    for diskless in [true, false] {
        let node = start_node(|c| c.diskless_sync = diskless);
        let mut m = client(&node);
        master_common::write_workload(&mut m, "rdb", 30);
        let dir =
            std::env::temp_dir().join(format!("replctl-cli-rdb-{}-{diskless}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("saved.rdb");
        let mut child = Killed(
            redis_cli()
                .args(["-h", "127.0.0.1", "-p", &node.port().to_string(), "--rdb"])
                .arg(&path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("run redis-cli (install redis-tools)"),
        );
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            if let Some(status) = child.0.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "redis-cli --rdb did not finish");
            thread::sleep(Duration::from_millis(10));
        };
        let mut stderr = String::new();
        child
            .0
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert!(status.success(), "{status}: {stderr}");
        assert!(
            stderr.contains("Transfer finished with success"),
            "{stderr}"
        );
        let rdb = std::fs::read(&path).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(rdb.starts_with(b"REDIS0009"));

        let loaded = Redis::Default.start_with_files(&[("dump.rdb", &rdb)], &[]);
        let mut l = loaded.client();
        assert!(
            loaded.log().contains("Done loading RDB"),
            "{}",
            loaded.log()
        );
        let compared = master_common::assert_same_data(&mut m, &mut l);
        // 30 keys, a counter and an expiring key in each of 3 databases, one key deleted.
        assert_eq!(compared, 3 * 32 - 1, "diskless={diskless}");
        assert!(l.cmd(&["TTL", "rdb:ttl"]).as_int().unwrap() > 900);
        assert_eq!(dbsize(&mut l, 5), dbsize(&mut m, 5));
        // rdb-only clients are not kept as replicas.
        wait_until("the master forgets redis-cli --rdb", TIMEOUT, || {
            m.replica_offsets().is_empty()
        });
    }
}

/// Runs a script through `redis-cli` (commands on standard input) and returns what it printed.
fn cli_script(port: u16, script: &str) -> String {
    let mut child = Killed(
        redis_cli()
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run redis-cli (install redis-tools)"),
    );
    child
        .0
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let mut out = String::new();
    child
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(child.0.wait().unwrap().success());
    out
}

/// The same `redis-cli` session against the reference master and a real Redis 7: identical
/// output, errors included.
#[test]
fn redis_cli_session_is_answered_like_redis() {
    let script = "\
PING
PING hello
SET greeting hello
GET greeting
GET missing
SET n 41
INCR n
INCR greeting
SET big 9223372036854775807
INCR big
SET k v EX 0
SET k v PX 10 EX 10
SET k v NX XX
SET t v EX 100
TTL t
EXPIRE t 200
TTL t
EXPIRE missing 10
DEL greeting missing
DEL greeting
SELECT 16
SELECT 3
SET in3 x
DBSIZE
SELECT 0
DBSIZE
GET
frobnicate a b
ECHO hi
WAIT 0 0
WAIT 0 -1
WAIT x 0
ROLE
";
    let node = start_node(|_| {});
    let real = Redis::Default.start(&[]);
    let ours = cli_script(node.port(), script);
    let theirs = cli_script(real.port(), script);
    assert_eq!(ours, theirs);
    assert!(ours.contains("ERR unknown command 'frobnicate', with args beginning with: 'a' 'b'"));

    // INFO replication: the fields Redis shows, in its order.
    let mut m = Client::connect(node.addr());
    let reply = m.cmd(&["INFO", "replication"]);
    let info = reply.as_str().unwrap();
    let keys: Vec<&str> = info
        .lines()
        .filter_map(|l| l.split_once(':').map(|(k, _)| k))
        .collect();
    let mut r = real.client();
    let real_reply = r.cmd(&["INFO", "replication"]);
    let real_keys: Vec<&str> = real_reply
        .as_str()
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(':').map(|(k, _)| k))
        .collect();
    assert_eq!(keys, real_keys);
    assert!(info.starts_with("# Replication\r\nrole:master\r\n"));
    let replid = m.info_replication()["master_replid"].clone();
    assert_eq!(replid.len(), 40);
    assert!(replid.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(m.cmd(&["QUIT"]), Reply::Status("OK".into()));

    // Pipelined commands, inline ones included, are answered in order.
    let mut raw = std::net::TcpStream::connect(node.addr()).unwrap();
    raw.set_read_timeout(Some(TIMEOUT)).unwrap();
    raw.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\nGET a\r\n*2\r\n$4\r\nINCR\r\n$1\r\na\r\nQUIT\r\n")
        .unwrap();
    let mut replies = Vec::new();
    raw.read_to_end(&mut replies).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&replies),
        "+OK\r\n$1\r\n1\r\n:2\r\n+OK\r\n"
    );
}
