//! `replctl tail` against a real `redis-server`: the snapshot saved and loadable, the commands
//! written afterwards printed line by line in the three formats, resuming across restarts
//! (SIGKILL and SIGINT) with `+CONTINUE` and each command printed once, and the one-line errors.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use common::{arg, assert_one_line_error, resp, run, Running, TempDir, TIMEOUT};
use replctl::state::TailState;
use replproto_e2e::{free_port, wait_until, Client, CutProxy, RedisServer, Reply};

/// No keepalive `ping` in the stream while a test runs (Redis sends the first one only after
/// this period), so the expected output is exact.
const QUIET: [&str; 4] = [
    "--repl-ping-replica-period",
    "3600",
    "--repl-diskless-sync-delay",
    "0",
];

fn master(framing: &str) -> RedisServer {
    let mut args = QUIET.to_vec();
    args.extend(["--repl-diskless-sync", framing]);
    RedisServer::start(&args)
}

/// The state file's fields, `None` while it does not exist (or, read while being rewritten,
/// does not parse).
fn state_fields(path: &Path) -> Option<(String, u64, u32, u64)> {
    let text = fs::read_to_string(path).ok()?;
    assert!(
        text.starts_with("replctl-tail-state 1\nreplid "),
        "{text:?}"
    );
    let state = TailState::parse(&text).ok()?;
    Some((
        state.checkpoint.replid.to_string(),
        state.checkpoint.offset.get(),
        state.checkpoint.db,
        state.written.get(),
    ))
}

/// A running `replctl tail` and its files.
struct Tail {
    process: Running,
    port: u16,
    rdb: PathBuf,
    state: PathBuf,
}

impl Tail {
    fn start(master: &RedisServer, dir: &TempDir, name: &str, format: &str) -> Tail {
        Tail::start_on_port(master, dir, name, format, free_port())
    }

    fn start_on_port(
        master: &RedisServer,
        dir: &TempDir,
        name: &str,
        format: &str,
        port: u16,
    ) -> Tail {
        let rdb = dir.path(&format!("{name}.rdb"));
        let state = dir.path(&format!("{name}.state"));
        let process = Running::start(&[
            "tail",
            &master.addr().to_string(),
            "--format",
            format,
            "--rdb-out",
            arg(&rdb),
            "--state",
            arg(&state),
            "--announce-port",
            &port.to_string(),
        ]);
        Tail {
            process,
            port,
            rdb,
            state,
        }
    }

    /// Waits until the master lists this replica online and the state file exists.
    fn wait_online(&self, m: &mut Client) {
        wait_until("the master lists replctl tail online", TIMEOUT, || {
            m.replica_online(self.port) && self.state.exists()
        });
    }
}

#[test]
fn tail_saves_the_snapshot_and_prints_each_command_in_three_formats() {
    let master = master("yes");
    let mut m = master.client();
    m.set_keys("key", 0..100);
    assert!(m.cmd(&["SELECT", "3"]).is_ok());
    assert!(m.cmd(&["SET", "in-db3", "v"]).is_ok());
    assert!(m.cmd(&["SELECT", "0"]).is_ok());
    let keyspace = m.keyspace();
    let dir = TempDir::new("formats");
    let tails: Vec<(&str, Tail)> = ["text", "resp", "json"]
        .into_iter()
        .map(|format| (format, Tail::start(&master, &dir, format, format)))
        .collect();
    let mut starts = Vec::new();
    for (_, tail) in &tails {
        tail.wait_online(&mut m);
        assert!(
            tail.rdb.exists(),
            "the snapshot is saved once the sync is over"
        );
        // Right after the sync the state file holds the snapshot's offset.
        let (_, offset, db, written) = state_fields(&tail.state).unwrap();
        assert_eq!((db, written), (0, offset));
        starts.push(offset);
    }

    // The writes: arguments that need quoting, bytes that are not UTF-8, a transaction, a
    // database change.
    let commands: Vec<(Vec<&[u8]>, u32)> = vec![
        (vec![b"SELECT", b"0"], 0),
        (vec![b"SET", b"k1", b"v1"], 0),
        (vec![b"SET", b"sp ace", b"quo\"te\\"], 0),
        (vec![b"SET", b"bin", b"\xff\x00\n\xc3\xa9"], 0),
        (vec![b"INCR", b"ctr"], 0),
        (vec![b"MULTI"], 0),
        (vec![b"SET", b"m1", b"x"], 0),
        (vec![b"INCR", b"ctr"], 0),
        (vec![b"EXEC"], 0),
        (vec![b"SELECT", b"3"], 3),
        (vec![b"SET", b"k3", b"v3"], 3),
        (vec![b"SELECT", b"0"], 0),
        (vec![b"DEL", b"k1"], 0),
    ];
    for (args, _) in &commands[1..5] {
        assert!(!matches!(m.cmd_bytes(args), Reply::Error(_)), "{args:?}");
    }
    assert!(m.cmd(&["MULTI"]).is_ok());
    assert_eq!(m.cmd(&["SET", "m1", "x"]), Reply::Status("QUEUED".into()));
    assert_eq!(m.cmd(&["INCR", "ctr"]), Reply::Status("QUEUED".into()));
    assert!(matches!(m.cmd(&["EXEC"]), Reply::Array(Some(_))));
    assert!(m.cmd(&["SELECT", "3"]).is_ok());
    assert!(m.cmd(&["SET", "k3", "v3"]).is_ok());
    assert!(m.cmd(&["SELECT", "0"]).is_ok());
    assert_eq!(m.cmd(&["DEL", "k1"]), Reply::Int(1));

    let text = "\"SELECT\",\"0\"\n\
                \"SET\",\"k1\",\"v1\"\n\
                \"SET\",\"sp ace\",\"quo\\\"te\\\\\"\n\
                \"SET\",\"bin\",\"\\xff\\x00\\n\\xc3\\xa9\"\n\
                \"INCR\",\"ctr\"\n\
                \"MULTI\"\n\
                \"SET\",\"m1\",\"x\"\n\
                \"INCR\",\"ctr\"\n\
                \"EXEC\"\n\
                \"SELECT\",\"3\"\n\
                \"SET\",\"k3\",\"v3\"\n\
                \"SELECT\",\"0\"\n\
                \"DEL\",\"k1\"\n";
    let raw: Vec<u8> = commands.iter().flat_map(|(args, _)| resp(args)).collect();
    for ((format, tail), start) in tails.iter().zip(starts) {
        let expected: Vec<u8> = match *format {
            "text" => text.as_bytes().to_vec(),
            "resp" => raw.clone(),
            _ => {
                // Offsets: the stream goes on right after the snapshot's offset.
                let json_args = [
                    r#"["SELECT","0"]"#,
                    r#"["SET","k1","v1"]"#,
                    r#"["SET","sp ace","quo\"te\\"]"#,
                    r#"["SET","bin","\u00ff\u0000\u000a\u00c3\u00a9"]"#,
                    r#"["INCR","ctr"]"#,
                    r#"["MULTI"]"#,
                    r#"["SET","m1","x"]"#,
                    r#"["INCR","ctr"]"#,
                    r#"["EXEC"]"#,
                    r#"["SELECT","3"]"#,
                    r#"["SET","k3","v3"]"#,
                    r#"["SELECT","0"]"#,
                    r#"["DEL","k1"]"#,
                ];
                let mut offset = start;
                let mut lines = String::new();
                for ((args, db), json) in commands.iter().zip(json_args) {
                    offset += resp(args).len() as u64;
                    lines.push_str(&format!(
                        "{{\"offset\":{offset},\"db\":{db},\"cmd\":{json}}}\n"
                    ));
                }
                lines.into_bytes()
            }
        };
        tail.process
            .wait_stdout(&format!("{format} output"), |out| {
                out.len() >= expected.len()
            });
        let got = tail.process.stdout();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&expected),
            "--format {format}"
        );
        assert_eq!(got, expected, "--format {format}, byte for byte");
    }

    // Each snapshot is a valid RDB of the master's data: a real server loads it.
    for (format, tail) in &tails {
        let rdb = fs::read(&tail.rdb).unwrap();
        let loaded = RedisServer::start_with_files(
            &RedisServer::default_binary(),
            &[("dump.rdb", &rdb)],
            &[],
        );
        assert_eq!(loaded.client().keyspace(), keyspace, "--format {format}");
        let dbsize = loaded.client().cmd(&["DBSIZE"]);
        assert_eq!(dbsize, Reply::Int(100), "--format {format}");
    }
}

/// The `seq:<i>` numbers in json lines, with their offsets.
fn seqs(output: &str) -> Vec<(u64, u64)> {
    output
        .lines()
        .filter_map(|line| {
            let offset = line
                .strip_prefix("{\"offset\":")?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            let seq = line
                .split("\"seq:")
                .nth(1)?
                .split('"')
                .next()?
                .parse()
                .ok()?;
            Some((seq, offset))
        })
        .collect()
}

fn write_seqs(m: &mut Client, range: std::ops::Range<u64>) {
    for i in range {
        let n = i.to_string();
        assert!(m.cmd(&["SET", &format!("seq:{n}"), &n]).is_ok());
    }
}

/// Waits until the output holds `seq:<last>` and the state file says it was written.
fn wait_written(tail: &Tail, last: u64) {
    let needle = format!("\"seq:{last}\"");
    tail.process.wait_stdout(&needle, |out| {
        String::from_utf8_lossy(out).contains(&needle)
    });
    let offset = seqs(&tail.process.stdout_text())
        .iter()
        .find(|(seq, _)| *seq == last)
        .map(|(_, offset)| *offset)
        .unwrap();
    wait_until("the state file records the last line", TIMEOUT, || {
        state_fields(&tail.state).is_some_and(|(_, _, _, written)| written == offset)
    });
}

#[test]
fn tail_resumes_after_sigkill_and_sigint_printing_each_command_once() {
    let master = master("no");
    let mut m = master.client();
    m.set_keys("before", 0..20);
    let dir = TempDir::new("resume");
    let port = free_port();

    // Run 1: the full sync, 50 writes, then SIGKILL once they are printed and saved.
    let mut run1 = Tail::start_on_port(&master, &dir, "t", "json", port);
    run1.wait_online(&mut m);
    let (replid, synced_at, _, _) = state_fields(&run1.state).unwrap();
    assert_eq!(m.info_replication()["master_replid"], replid);
    write_seqs(&mut m, 0..50);
    wait_written(&run1, 49);
    run1.process.signal("KILL");
    run1.process.wait();
    let stats = m.stats();
    assert_eq!((stats.full, stats.partial_ok), (1, 0));

    // While it is down, the master takes 50 more.
    wait_until("the master drops the killed replica", TIMEOUT, || {
        m.replica_offsets().is_empty()
    });
    write_seqs(&mut m, 50..100);

    // Run 2: resumes with +CONTINUE (no new snapshot), gets the 50 it missed and 50 more,
    // then stops on SIGINT with exit code 0.
    let rdb_before = fs::read(&run1.rdb).unwrap();
    let mut run2 = Tail::start_on_port(&master, &dir, "t", "json", port);
    run2.wait_online(&mut m);
    write_seqs(&mut m, 100..150);
    wait_written(&run2, 149);
    let stats = m.stats();
    assert_eq!(
        (stats.full, stats.partial_ok),
        (1, 1),
        "one partial resync, no new full sync"
    );
    assert_eq!(fs::read(&run2.rdb).unwrap(), rdb_before, "no new snapshot");
    run2.process.signal("INT");
    let status = run2.process.wait();
    assert_eq!(status.code(), Some(0), "{}", run2.process.stderr_text());
    assert_eq!(
        run2.process.stderr_text(),
        "",
        "a clean stop prints nothing"
    );
    // At rest, the checkpoint is the last command written.
    let (saved_id, offset, db, written) = state_fields(&run2.state).unwrap();
    assert_eq!((saved_id.as_str(), db), (replid.as_str(), 0));
    assert_eq!(offset, written);
    assert_eq!(written, m.master_repl_offset());

    // Run 3: resumes again and follows new writes.
    wait_until("the master drops the stopped replica", TIMEOUT, || {
        m.replica_offsets().is_empty()
    });
    let run3 = Tail::start_on_port(&master, &dir, "t", "json", port);
    run3.wait_online(&mut m);
    write_seqs(&mut m, 150..160);
    wait_written(&run3, 159);
    let stats = m.stats();
    assert_eq!((stats.full, stats.partial_ok), (1, 2));

    // Across the three runs, every write exactly once, in order, offsets increasing.
    let mut all = Vec::new();
    for run in [&run1, &run2, &run3] {
        all.extend(seqs(&run.process.stdout_text()));
    }
    let numbers: Vec<u64> = all.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(numbers, (0..160).collect::<Vec<_>>());
    assert!(all[0].1 > synced_at);
    assert!(all.windows(2).all(|w| w[0].1 < w[1].1));
}

/// A SIGKILL while writes stream in: the next run loses nothing, and prints again at most the
/// one line whose state was not saved yet.
#[test]
fn tail_killed_mid_stream_loses_nothing() {
    let mut args = QUIET.to_vec();
    args.extend(["--repl-backlog-size", "64mb"]);
    let master = RedisServer::start(&args);
    let mut m = master.client();
    let dir = TempDir::new("kill");
    let port = free_port();
    let mut run1 = Tail::start_on_port(&master, &dir, "k", "text", port);
    run1.wait_online(&mut m);
    // After a diskless sync the master starts the stream on the replica's first ACK, which
    // may take a second: write only once the stream flows, so the restart below stays within
    // the backlog however fast the writer goes.
    assert!(m.cmd(&["SET", "flowing", "1"]).is_ok());
    run1.process.wait_stdout("the stream", |out| {
        String::from_utf8_lossy(out).contains("\"flowing\"")
    });
    let kill_at = 500u64;
    // The writer goes on until told where to stop, so writes are in flight at the kill.
    let written = AtomicU64::new(0);
    let stop_at = AtomicU64::new(u64::MAX);
    let (total, run2) = thread::scope(|s| {
        let writer = s.spawn(|| {
            let mut w = master.client();
            let mut i = 0;
            while i < stop_at.load(Ordering::SeqCst) {
                write_seqs(&mut w, i..i + 1);
                i += 1;
                written.store(i, Ordering::SeqCst);
            }
            i
        });
        let needle = format!("\"seq:{kill_at}\"");
        run1.process.wait_stdout(&needle, |out| {
            String::from_utf8_lossy(out).contains(&needle)
        });
        run1.process.signal("KILL");
        run1.process.wait();
        let run2 = Tail::start_on_port(&master, &dir, "k", "text", port);
        stop_at.store(written.load(Ordering::SeqCst) + 300, Ordering::SeqCst);
        let total = writer.join().unwrap();
        let last = format!("\"seq:{}\"", total - 1);
        run2.process
            .wait_stdout(&last, |out| String::from_utf8_lossy(out).contains(&last));
        (total, run2)
    });
    let stats = m.stats();
    assert_eq!((stats.full, stats.partial_ok), (1, 1));
    let numbers = |text: &str| -> Vec<u64> {
        text.lines()
            .filter_map(|l| {
                l.strip_prefix("\"SET\",\"seq:")?
                    .split('"')
                    .next()?
                    .parse()
                    .ok()
            })
            .collect()
    };
    let first = numbers(&run1.process.stdout_text());
    let second = numbers(&run2.process.stdout_text());
    assert!(first.len() as u64 > kill_at);
    let mut all = first.clone();
    // The one line the killed run may have written without saving its state.
    if first.last().is_some() && first.last() == second.first() {
        all.pop();
    }
    all.extend(&second);
    assert_eq!(all, (0..total).collect::<Vec<_>>());
}

#[test]
fn errors_are_one_line_with_what_to_do() {
    let dir = TempDir::new("errors");

    // Nobody listening.
    let port = free_port().to_string();
    let out = run(&["tail", &format!("127.0.0.1:{port}")]);
    assert_one_line_error(
        &out,
        1,
        &[
            &format!("cannot connect to 127.0.0.1:{port}: connection refused"),
            "check the host and port",
        ],
    );

    // A bad flag, a bad format, a bad address.
    let out = run(&["tail", "--bogus", "127.0.0.1:6379"]);
    assert_one_line_error(
        &out,
        2,
        &["unexpected argument '--bogus'", "replctl tail --help"],
    );
    let out = run(&["tail", "127.0.0.1:6379", "--format", "xml"]);
    assert_one_line_error(&out, 2, &["invalid format \"xml\": use text, resp or json"]);
    let out = run(&["tail", "localhost"]);
    assert_one_line_error(&out, 2, &["use host:port, e.g. 127.0.0.1:6379"]);

    // A corrupt state file is named, with its line and the way out.
    let state = dir.path("bad.state");
    fs::write(&state, "replctl-tail-state 1\nreplid 1234\noffset 5\n").unwrap();
    let out = run(&["tail", "127.0.0.1:1", "--state", arg(&state)]);
    assert_one_line_error(
        &out,
        1,
        &[
            &format!("state file {} is corrupt (line 2: ", state.display()),
            "delete it to start with a full sync",
        ],
    );
    assert!(state.exists(), "a corrupt state file is left for the user");

    // Authentication: missing, wrong, and right through REDISCLI_AUTH.
    let secured =
        RedisServer::start(&["--requirepass", "secret", "--repl-diskless-sync-delay", "0"]);
    let addr = secured.addr().to_string();
    let out = run(&["tail", &addr]);
    assert_one_line_error(
        &out,
        1,
        &[
            "NOAUTH Authentication required",
            "pass --password or set REDISCLI_AUTH",
        ],
    );
    let out = run(&["tail", &addr, "--password", "wrong"]);
    assert_one_line_error(
        &out,
        1,
        &[
            &format!("{addr} refused the replica during the handshake: WRONGPASS"),
            "check --user and --password",
        ],
    );
    let mut command = common::replctl();
    command.env("REDISCLI_AUTH", "secret");
    let mut tail = Running::start_with(command, &["tail", &addr, "--announce-port", "7777"]);
    let mut m = secured.client();
    wait_until("the master lists the authenticated tail", TIMEOUT, || {
        m.replica_online(7777)
    });
    assert!(m.cmd(&["SET", "authed", "1"]).is_ok());
    tail.wait_stdout("the write", |out| {
        String::from_utf8_lossy(out).contains("\"SET\",\"authed\",\"1\"")
    });
    tail.signal("TERM");
    assert_eq!(tail.wait().code(), Some(0));
}

/// A link cut while `tail` runs: it reconnects by itself, resumes with `+CONTINUE`, and prints
/// each command once.
#[test]
fn tail_reconnects_and_resumes_after_a_cut_link() {
    let master = master("yes");
    let proxy = CutProxy::start(master.addr());
    let mut m = master.client();
    let port = free_port();
    let tail = Running::start(&[
        "tail",
        &proxy.addr().to_string(),
        "--announce-port",
        &port.to_string(),
    ]);
    wait_until("the master lists replctl tail online", TIMEOUT, || {
        m.replica_online(port)
    });
    write_seqs(&mut m, 0..20);
    tail.wait_stdout("seq:19", |out| {
        String::from_utf8_lossy(out).contains("\"seq:19\"")
    });
    proxy.set_blocked(true);
    proxy.cut();
    wait_until("the master drops the cut link", TIMEOUT, || {
        m.replica_offsets().is_empty()
    });
    write_seqs(&mut m, 20..40);
    proxy.set_blocked(false);
    tail.wait_stdout("seq:39", |out| {
        String::from_utf8_lossy(out).contains("\"seq:39\"")
    });
    let stats = m.stats();
    assert_eq!((stats.full, stats.partial_ok), (1, 1));
    let lines: Vec<String> = tail
        .stdout_text()
        .lines()
        .filter(|l| l.contains("seq:"))
        .map(str::to_string)
        .collect();
    let expected: Vec<String> = (0..40)
        .map(|i| format!("\"SET\",\"seq:{i}\",\"{i}\""))
        .collect();
    assert_eq!(lines, expected);
    let stderr = tail.stderr_text();
    assert!(
        stderr.contains("lost: connection closed during the command stream; reconnecting"),
        "{stderr}"
    );
}
