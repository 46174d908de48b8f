//! Turns the last criterion run into the tables of `docs/performance.md`: throughput,
//! commands per second, the ratio to each peer, and the targets met or not.
//!
//! `cargo run --release -p replproto-bench --example report [CRITERION_DIR]`
//!
//! `CRITERION_DIR` defaults to `target/criterion` of the workspace (or of
//! `CARGO_TARGET_DIR`). Only the benchmarks present are shown.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use replproto_bench::{INCR_COMMANDS, MIXED_COMMANDS, SET_COMMANDS};
use serde_json::Value;

/// One benchmark's result: mean time per iteration (ns) with its 95% interval, and the bytes
/// one iteration processes.
#[derive(Debug, Clone, Copy)]
struct Estimate {
    mean: f64,
    low: f64,
    high: f64,
    bytes: Option<f64>,
}

impl Estimate {
    fn gbps(&self) -> Option<f64> {
        self.bytes.map(|b| b / self.mean)
    }
}

fn load(dir: &Path, out: &mut BTreeMap<String, Estimate>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "new") {
            let read = |name: &str| -> Option<Value> {
                serde_json::from_str(&std::fs::read_to_string(path.join(name)).ok()?).ok()
            };
            let (Some(bench), Some(est)) = (read("benchmark.json"), read("estimates.json")) else {
                continue;
            };
            let Some(id) = bench["full_id"].as_str() else {
                continue;
            };
            let mean = &est["mean"];
            let (Some(m), Some(lo), Some(hi)) = (
                mean["point_estimate"].as_f64(),
                mean["confidence_interval"]["lower_bound"].as_f64(),
                mean["confidence_interval"]["upper_bound"].as_f64(),
            ) else {
                continue;
            };
            out.insert(
                id.to_string(),
                Estimate {
                    mean: m,
                    low: lo,
                    high: hi,
                    bytes: bench["throughput"]["Bytes"].as_f64(),
                },
            );
        } else {
            load(&path, out);
        }
    }
}

fn time(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.3} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.1} ms", ns / 1e6)
    } else {
        format!("{:.1} µs", ns / 1e3)
    }
}

fn interval(e: &Estimate) -> String {
    format!("{} ({}–{})", time(e.mean), time(e.low), time(e.high))
}

fn ratio(a: Option<&Estimate>, b: Option<&Estimate>) -> Option<f64> {
    // Same work in both: the ratio of speeds is the inverse ratio of times.
    Some(b?.mean / a?.mean)
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "–".to_string(), |r| format!("{r:.2}×"))
}

fn fmt_pct(r: Option<f64>) -> String {
    r.map_or_else(|| "–".to_string(), |r| format!("{:.0}%", r * 100.0))
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
                || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
                PathBuf::from,
            );
            target.join("criterion")
        });
    let mut all = BTreeMap::new();
    load(&dir, &mut all);
    if all.is_empty() {
        eprintln!("no criterion results under {}", dir.display());
        std::process::exit(1);
    }
    let get = |id: &str| all.get(id);
    let mut targets: Vec<(String, String, String, &str)> = Vec::new();

    println!("### Stream decoding\n");
    for (corpus, commands) in [
        ("set", SET_COMMANDS),
        ("mixed", MIXED_COMMANDS),
        ("incr", INCR_COMMANDS),
    ] {
        let group = format!("stream/{corpus}");
        if !all.keys().any(|k| k.starts_with(&format!("{group}/"))) {
            continue;
        }
        println!("`{group}` ({commands} commands)\n");
        println!("| decoder / reads | time per pass (95% CI) | GB/s | M commands/s | vs redis-protocol | of the memchr floor |");
        println!("| --- | --- | ---: | ---: | ---: | ---: |");
        for name in [
            "replproto-borrowed/16k",
            "replproto/16k",
            "replproto-bytes/16k",
            "replproto-borrowed/whole",
            "replproto/whole",
            "replproto-bytes/whole",
            "replproto-decoder/16k",
            "bytes-handle/16k",
            "redis-protocol/16k",
            "redis-protocol/whole",
            "memchr/16k",
            "memchr/whole",
        ] {
            let Some(e) = get(&format!("{group}/{name}")) else {
                continue;
            };
            let mode = name.rsplit('/').next().unwrap_or("16k");
            let peer = get(&format!("{group}/redis-protocol/{mode}"));
            let floor = get(&format!("{group}/memchr/{mode}"));
            let peer_ratio = if name.starts_with("redis-protocol")
                || name.starts_with("memchr")
                || name.starts_with("bytes-handle")
            {
                "–".to_string()
            } else {
                fmt_ratio(ratio(Some(e), peer))
            };
            let floor_ratio = if name.starts_with("memchr") {
                "–".to_string()
            } else {
                fmt_pct(ratio(Some(e), floor))
            };
            println!(
                "| {name} | {} | {:.2} | {:.1} | {peer_ratio} | {floor_ratio} |",
                interval(e),
                e.gbps().unwrap_or(0.0),
                commands as f64 / e.mean * 1e3,
            );
        }
        println!();
        // Owning each command costs at least its buffer handle: the owned path is the
        // borrowed one plus the handle floor, give or take the event move.
        if let (Some(owned), Some(borrowed), Some(handle)) = (
            get(&format!("{group}/replproto/16k")),
            get(&format!("{group}/replproto-borrowed/16k")),
            get(&format!("{group}/bytes-handle/16k")),
        ) {
            let per_command = |e: &Estimate| e.mean / commands as f64;
            println!(
                "Per command, 16 KiB reads: borrowed {:.1} ns, owned {:.1} ns, a `Bytes` handle \
                 alone {:.1} ns (borrowed + handle = {:.1} ns).\n",
                per_command(borrowed),
                per_command(owned),
                per_command(handle),
                per_command(borrowed) + per_command(handle),
            );
        }
        // The targets are the decoder's, offsets counted: the borrowed path.
        for (path, how) in [("replproto-borrowed/16k", "poll_command")] {
            let Some(e) = get(&format!("{group}/{path}")) else {
                continue;
            };
            if corpus == "set" {
                let gbps = e.gbps().unwrap_or(0.0);
                targets.push((
                    format!("SET corpus, 16 KiB reads, {how}: ≥ 3 GB/s"),
                    "3.00 GB/s".into(),
                    format!("{gbps:.2} GB/s"),
                    verdict(gbps >= 3.0),
                ));
                if let Some(r) = ratio(Some(e), get(&format!("{group}/redis-protocol/16k"))) {
                    targets.push((
                        format!("SET corpus, 16 KiB reads, {how}: ≥ 2× redis-protocol"),
                        "2.00×".into(),
                        format!("{r:.2}×"),
                        verdict(r >= 2.0),
                    ));
                }
            }
            if corpus == "incr" {
                let rate = commands as f64 / e.mean * 1e3;
                targets.push((
                    format!("INCR corpus, 16 KiB reads, {how}: ≥ 25 M commands/s"),
                    "25.0 M/s".into(),
                    format!("{rate:.1} M/s"),
                    verdict(rate >= 25.0),
                ));
            }
        }
    }

    if all.keys().any(|k| k.starts_with("snapshot/")) {
        println!("### Snapshot transfer\n");
        println!("| path / reads | time per pass (95% CI) | GB/s | of a plain copy, same reads |");
        println!("| --- | --- | ---: | ---: |");
        for read in ["16k", "64k", "whole"] {
            for name in [
                "replproto-length",
                "replproto-bytes-length",
                "replproto-eof",
                "replproto-bytes-eof",
                "replproto-bytes-eof-hex",
                "crc64-only",
                "plain-copy",
            ] {
                let id = format!("snapshot/{name}/{read}");
                let Some(e) = get(&id) else {
                    continue;
                };
                let copy = get(&format!("snapshot/plain-copy/{read}"));
                let of_copy = if name == "plain-copy" {
                    "–".to_string()
                } else {
                    fmt_pct(ratio(Some(e), copy))
                };
                println!(
                    "| {name}/{read} | {} | {:.2} | {of_copy} |",
                    interval(e),
                    e.gbps().unwrap_or(0.0)
                );
                // The tokio driver's path: 64 KiB reads handed over owned. Reads copied in
                // include the copy itself, so they are shown beside it, not held to it.
                let target_row = matches!(
                    (read, name),
                    (
                        "64k",
                        "replproto-bytes-length"
                            | "replproto-bytes-eof"
                            | "replproto-bytes-eof-hex"
                    )
                );
                if target_row {
                    if let Some(r) = ratio(Some(e), copy) {
                        // Criterion times the replica and the copy minutes apart, which
                        // on a machine whose memory speed drifts swings these rows more
                        // than any code change: the verdict comes from passes alternated
                        // moments apart.
                        targets.push((
                            format!("snapshot `{name}/{read}`: ≥ 80% of a plain copy"),
                            "80%".into(),
                            format!("{:.0}%", r * 100.0),
                            "judged in pairs: `snapshot_ratio`",
                        ));
                    }
                }
            }
        }
        println!();
    }

    if all.keys().any(|k| k.starts_with("backlog/")) {
        println!("### Backlog\n");
        println!("| operation | time per pass (95% CI) | GB/s | vs the ring buffer |");
        println!("| --- | --- | ---: | ---: |");
        for size in ["1mb", "64mb"] {
            for (name, peer) in [
                ("append/replproto", "append/ring"),
                ("append/ring", ""),
                ("serve/replproto-slices", "serve/ring-copied"),
                ("serve/replproto-copied", "serve/ring-copied"),
                ("serve/ring-copied", ""),
            ] {
                let Some(e) = get(&format!("backlog/{name}/{size}")) else {
                    continue;
                };
                let vs = if peer.is_empty() {
                    "–".to_string()
                } else {
                    fmt_ratio(ratio(Some(e), get(&format!("backlog/{peer}/{size}"))))
                };
                // Handing out slices moves no byte: a rate would mean nothing.
                let (rate, vs) = if name.ends_with("slices") {
                    ("no copy".to_string(), "–".to_string())
                } else {
                    (format!("{:.2}", e.gbps().unwrap_or(0.0)), vs)
                };
                println!("| {name}/{size} | {} | {rate} | {vs} |", interval(e));
            }
        }
        println!();
    }

    if !targets.is_empty() {
        println!("### Targets (micro-benchmarks)\n");
        println!("| target | wanted | measured | |");
        println!("| --- | ---: | ---: | --- |");
        for (what, wanted, got, verdict) in targets {
            println!("| {what} | {wanted} | {got} | {verdict} |");
        }
    }
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "not met"
    }
}
