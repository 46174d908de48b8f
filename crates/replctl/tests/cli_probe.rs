//! `replctl probe`: the handshake against real servers (both framings, Redis 6 and 7, with and
//! without a password), and against a server that only knows the old `SYNC`.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::thread;

use common::{assert_one_line_error, run};
use replctl::probe::{probe, ProbeOptions, PsyncSupport};
use replproto::replica::SnapshotFraming;
use replproto_e2e::{Redis, RedisServer};

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn probe_reports_psync_and_the_framing() {
    for (redis, framing, expected) in [
        (
            Redis::Default,
            "yes",
            "snapshot framing: $EOF:<40-byte mark> (diskless",
        ),
        (Redis::Default, "no", "snapshot framing: $<len>, "),
        (Redis::V6, "no", "snapshot framing: $<len>, "),
    ] {
        let master = redis.start(&[
            "--repl-diskless-sync",
            framing,
            "--repl-diskless-sync-delay",
            "0",
        ]);
        let mut m = master.client();
        m.set_keys("k", 0..10);
        let out = run(&[
            "probe",
            &master.addr().to_string(),
            "--announce-port",
            "7001",
        ]);
        let text = stdout(&out);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let replid = m.info_replication()["master_replid"].clone();
        for line in [
            "  PING                               -> +PONG",
            "  REPLCONF listening-port 7001       -> +OK",
            "  REPLCONF capa eof capa psync2      -> +OK",
            &format!("  PSYNC ? -1                         -> +FULLRESYNC {replid} "),
            &format!("PSYNC: supported; replication id {replid}, offset "),
            expected,
            "closed before the snapshot: nothing was downloaded",
        ] {
            assert!(
                text.contains(line),
                "{redis} {framing}: no {line:?} in:\n{text}"
            );
        }
    }
}

#[test]
fn probe_with_passwords() {
    let master =
        RedisServer::start(&["--requirepass", "secret", "--repl-diskless-sync-delay", "0"]);
    let addr = master.addr().to_string();

    let out = run(&["probe", &addr]);
    assert_one_line_error(&out, 1, &["NOAUTH", "pass --password or set REDISCLI_AUTH"]);

    let out = run(&["probe", &addr, "--password", "nope"]);
    assert_one_line_error(&out, 1, &["WRONGPASS", "check --user and --password"]);
    assert!(stdout(&out).contains("AUTH <password>                    -> -WRONGPASS"));

    let out = common::replctl()
        .args(["probe", &addr])
        .env("REDISCLI_AUTH", "secret")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.contains("AUTH <password>                    -> +OK"),
        "{text}"
    );
    assert!(text.contains("PSYNC: supported"), "{text}");

    // The password never shows.
    assert!(!text.contains("secret"));

    let out = run(&["probe", "127.0.0.1:1"]);
    assert_one_line_error(
        &out,
        1,
        &["cannot connect to 127.0.0.1:1: connection refused"],
    );
}

/// A server from before PSYNC: it answers `-ERR unknown command` and serves `SYNC`.
#[test]
fn probe_reports_a_legacy_sync_server() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut writer = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        // Each command is a RESP array; answer by its name.
        while reader.read_line(&mut line).unwrap() > 0 {
            let words = line.trim_end().to_ascii_uppercase();
            line.clear();
            let reply: &[u8] = match words.as_str() {
                "PING" => b"+PONG\r\n",
                "REPLCONF" => b"+OK\r\n",
                "PSYNC" => b"-ERR unknown command 'PSYNC'\r\n",
                "SYNC" => b"$18\r\n",
                _ => continue,
            };
            writer.write_all(reply).unwrap();
            if words == "SYNC" {
                return;
            }
        }
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut out = Vec::new();
    let report = runtime
        .block_on(probe(&ProbeOptions::new(addr.to_string()), &mut out))
        .unwrap();
    server.join().unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        report.psync,
        PsyncSupport::LegacyOnly {
            reply: "-ERR unknown command 'PSYNC'".into()
        },
        "{text}"
    );
    assert_eq!(report.framing, Some(SnapshotFraming::Length(18)));
    assert!(
        text.contains("PSYNC: not supported (-ERR unknown command 'PSYNC'); this server only speaks the old SYNC"),
        "{text}"
    );
}
