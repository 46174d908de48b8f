//! The master's backlog: appending 100-byte commands, and serving a partial resync of the
//! whole window, against a ring buffer of the same capacity (Redis 6's layout).
//!
//! `cargo bench -p replproto-bench --bench backlog`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, SamplingMode, Throughput};
use replproto::master::{Backlog, DEFAULT_BACKLOG_SIZE};
use replproto::Offset;
use replproto_bench::{hundred_byte_command, RingBacklog};

/// Commands appended per iteration.
const APPENDS: u64 = 1_000_000;

fn commands() -> Vec<u8> {
    // 1,024 distinct commands, cycled: the bytes vary, the generator stays out of the loop.
    (0..1024).flat_map(hundred_byte_command).collect()
}

fn append(c: &mut Criterion) {
    let cmds = commands();
    let mut group = c.benchmark_group("backlog/append");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Bytes(APPENDS * 100));
    for (size, label) in [(DEFAULT_BACKLOG_SIZE, "1mb"), (64 << 20, "64mb")] {
        group.bench_function(format!("replproto/{label}"), |b| {
            b.iter_batched(
                || Backlog::new(size, Offset(0)),
                |mut backlog| {
                    for cmd in cmds.chunks_exact(100).cycle().take(APPENDS as usize) {
                        backlog.append(black_box(cmd));
                    }
                    assert_eq!(backlog.last_offset(), Offset(APPENDS * 100));
                    backlog
                },
                BatchSize::PerIteration,
            );
        });
        group.bench_function(format!("ring/{label}"), |b| {
            b.iter_batched(
                || RingBacklog::new(size, 1),
                |mut ring| {
                    for cmd in cmds.chunks_exact(100).cycle().take(APPENDS as usize) {
                        ring.append(black_box(cmd));
                    }
                    ring
                },
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

fn serve(c: &mut Criterion) {
    let cmds = commands();
    let mut group = c.benchmark_group("backlog/serve");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (size, label) in [(DEFAULT_BACKLOG_SIZE, "1mb"), (64 << 20, "64mb")] {
        // A full window: twice the capacity appended, so the oldest blocks were trimmed.
        let mut backlog = Backlog::new(size, Offset(0));
        let mut ring = RingBacklog::new(size, 1);
        let total = 2 * size as u64 / 100 + 1;
        for cmd in cmds.chunks_exact(100).cycle().take(total as usize) {
            backlog.append(cmd);
            ring.append(cmd);
        }
        let window = backlog.window();
        assert_eq!(window.histlen, size as u64);
        assert_eq!(ring.first_offset(), window.first_offset);
        group.throughput(Throughput::Bytes(window.histlen));
        // What `Master` hands a resuming replica: slices of the blocks, no copy.
        group.bench_function(format!("replproto-slices/{label}"), |b| {
            b.iter(|| {
                let pieces = backlog.read_from(black_box(window.first_offset)).unwrap();
                assert_eq!(
                    pieces.iter().map(|p| p.len() as u64).sum::<u64>(),
                    window.histlen
                );
                pieces
            });
        });
        // The same, then every byte copied out once (as a write to a socket copies it).
        let mut out = Vec::with_capacity(size);
        group.bench_function(format!("replproto-copied/{label}"), |b| {
            b.iter(|| {
                out.clear();
                for piece in backlog.read_from(black_box(window.first_offset)).unwrap() {
                    out.extend_from_slice(&piece);
                }
                assert_eq!(out.len() as u64, window.histlen);
                black_box(&mut out);
            });
        });
        group.bench_function(format!("ring-copied/{label}"), |b| {
            b.iter(|| {
                out.clear();
                assert!(ring.copy_from(black_box(window.first_offset), &mut out));
                assert_eq!(out.len() as u64, window.histlen);
                black_box(&mut out);
            });
        });
    }
    group.finish();
}

criterion_group!(benches, append, serve);
criterion_main!(benches);
