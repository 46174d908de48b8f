//! Snapshot transfer: a 1 GiB RDB payload, `$<len>` and `$EOF:` framed, through the replica
//! (framing, CRC-64 verification, chunk events), against a plain copy of the same bytes.
//!
//! `cargo bench -p replproto-bench --bench snapshot`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, SamplingMode, Throughput};
use replproto::Limits;
use replproto_bench::{
    big_rdb, big_rdb_of, feed_snapshot, owned_reads, plain_copy_reads, replica_awaiting_snapshot,
    PayloadReads, PayloadText, SnapshotWire, READ_SIZE,
};

/// The tokio driver's read size (`replproto-tokio`), beside Redis's 16 KiB.
const DRIVER_READ: usize = 64 * 1024;

fn snapshot(c: &mut Criterion) {
    let payload = big_rdb(1 << 30);
    eprintln!("snapshot payload: {} bytes", payload.len());
    let mut group = c.benchmark_group("snapshot");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Bytes(payload.len() as u64));
    for read in [READ_SIZE, DRIVER_READ] {
        let kib = read / 1024;
        for (name, wire) in [
            ("length", SnapshotWire::length(payload.len())),
            ("eof", SnapshotWire::eof()),
        ] {
            group.bench_function(format!("replproto-{name}/{kib}k"), |b| {
                b.iter_batched(
                    || replica_awaiting_snapshot(Limits::DEFAULT),
                    |mut replica| {
                        let reads = PayloadReads::Copied(&payload, read);
                        feed_snapshot(&mut replica, &wire, reads, payload.len());
                        replica
                    },
                    BatchSize::PerIteration,
                );
            });
            // Owned reads (`handle_input_bytes`): the replica may keep the buffer, not copy it.
            group.bench_function(format!("replproto-bytes-{name}/{kib}k"), |b| {
                b.iter_batched(
                    || {
                        let reads = PayloadReads::Owned(owned_reads(&payload, read));
                        (replica_awaiting_snapshot(Limits::DEFAULT), reads)
                    },
                    |(mut replica, reads)| {
                        feed_snapshot(&mut replica, &wire, reads, payload.len());
                        replica
                    },
                    BatchSize::PerIteration,
                );
            });
        }
        let mut buf = vec![0u8; read];
        group.bench_function(format!("plain-copy/{kib}k"), |b| {
            b.iter(|| plain_copy_reads(black_box(&payload), read, &mut buf));
        });
    }
    // Values of hex digits, like the end mark: the ordinary payload with the most near-misses
    // for the mark search. The driver's path only.
    let hex = big_rdb_of(1 << 30, PayloadText::Hex);
    assert_eq!(hex.len(), payload.len(), "both payloads are the same size");
    group.bench_function(
        format!("replproto-bytes-eof-hex/{}k", DRIVER_READ / 1024),
        |b| {
            b.iter_batched(
                || {
                    let reads = PayloadReads::Owned(owned_reads(&hex, DRIVER_READ));
                    (replica_awaiting_snapshot(Limits::DEFAULT), reads)
                },
                |(mut replica, reads)| {
                    feed_snapshot(&mut replica, &SnapshotWire::eof(), reads, hex.len());
                    replica
                },
                BatchSize::PerIteration,
            );
        },
    );
    drop(hex);
    // The checksum alone, over the whole payload: the work a verifying replica cannot skip.
    group.bench_function("crc64-only/whole", |b| {
        b.iter(|| replproto::rdb::crc64(black_box(&payload)));
    });
    // One memcpy of the whole payload into a buffer of its size (pages already touched).
    let mut dest = vec![0u8; payload.len()];
    group.bench_function("plain-copy/whole", |b| {
        b.iter(|| {
            dest.copy_from_slice(black_box(&payload));
            black_box(&mut dest);
        });
    });
    group.finish();
}

criterion_group!(benches, snapshot);
criterion_main!(benches);
