//! `replctl demo` shows, in a few seconds and without any external server, the full sync, the
//! writes propagating, the cut link, the partial resync with `+CONTINUE` and equal offsets.

mod common;

use std::time::{Duration, Instant};

#[test]
fn demo_tells_the_whole_story() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut out = Vec::new();
    let started = Instant::now();
    let summary = runtime
        .block_on(replctl::demo::run(&mut out))
        .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&out)));
    assert!(started.elapsed() < Duration::from_secs(5));
    let text = String::from_utf8(out).unwrap();
    let replid = summary.replid.to_string();
    for expected in [
        "replica> PING ".to_string(),
        "master: +PONG".into(),
        "replica> PSYNC ? -1".into(),
        format!("master: +FULLRESYNC {replid} {}", summary.full_sync_offset),
        "Framing $EOF:<40-byte mark>".into(),
        "Snapshot received: ".into(),
        "CRC-64 verified, holding 2 keys in db 0 (greeting, visits)".into(),
        "replica< \"SET\",\"city\",\"Paris\"".into(),
        "replica< \"SET\",\"lang\",\"fr\"".into(),
        "proxy: both sides of the connection closed".into(),
        "replica: connection closed during the command stream".into(),
        format!(
            "replica> PSYNC {replid} {}",
            summary.resumed_after.next_byte()
        ),
        format!("master: +CONTINUE {replid}"),
        "replica< \"SET\",\"missed:1\",\"while away\"".into(),
        "replica< \"SET\",\"missed:2\",\"still away\"".into(),
        format!(
            "In sync at offset {}, after one full sync (+FULLRESYNC) and one partial resync (+CONTINUE).",
            summary.master_offset
        ),
    ] {
        assert!(text.contains(&expected), "no {expected:?} in:\n{text}");
    }
    assert_eq!(summary.master_offset, summary.replica_offset, "{text}");
    assert_eq!(summary.acked_offset, summary.replica_offset, "{text}");
    assert!(summary.resumed_after > summary.full_sync_offset);
    assert!(summary.master_offset > summary.resumed_after.get());
}

#[test]
fn the_binary_runs_the_demo() {
    let out = common::run(&["demo"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("+CONTINUE"), "{text}");
    assert!(text.contains("In sync at offset"), "{text}");
}
