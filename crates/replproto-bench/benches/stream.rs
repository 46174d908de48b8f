//! Stream decoding: three corpora through the replica (commands handed out owned by
//! `poll_event` and borrowed by `poll_command`), against `redis-protocol`'s zero-copy decoder
//! and a `memchr` scan of every `\n`.
//!
//! `cargo bench -p replproto-bench --bench stream`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, SamplingMode, Throughput};
use replproto::replica::Event;
use replproto_bench::{
    check_streamed, command_decoder_reads, command_lengths, feed_owned_reads, feed_reads,
    feed_reads_borrowed, incr_corpus, memchr_newlines, mixed_corpus, owned_handles, owned_reads,
    redis_protocol_reads, redis_protocol_whole, set_corpus, streaming_replica, Corpus, Feed,
    INCR_COMMANDS, MIXED_COMMANDS, READ_SIZE, SET_COMMANDS,
};

fn bench_corpus(c: &mut Criterion, corpus: &Corpus) {
    let data = &corpus.bytes[..];
    eprintln!(
        "corpus {}: {} bytes, {} commands ({:.1} bytes/command); size_of::<Event>() = {}",
        corpus.name,
        corpus.len(),
        corpus.commands,
        corpus.len() as f64 / corpus.commands as f64,
        std::mem::size_of::<Event>()
    );
    let mut group = c.benchmark_group(format!("stream/{}", corpus.name));
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Bytes(corpus.len() as u64));

    // The replica, fed in 16 KiB reads and whole. "replproto": each read copied in by
    // `handle_input`, events drained after each; "borrowed": the same, commands taken by
    // `poll_command` (no buffer handle each); "bytes": each read handed over owned
    // (`handle_input_bytes`, no copy).
    for (mode, read) in [("16k", READ_SIZE), ("whole", data.len())] {
        for (name, feed) in [
            ("replproto", feed_reads as Feed),
            ("replproto-borrowed", feed_reads_borrowed),
        ] {
            group.bench_function(format!("{name}/{mode}"), |b| {
                b.iter_batched(
                    streaming_replica,
                    |mut replica| {
                        let commands = feed(&mut replica, Instant::now(), data, read);
                        check_streamed(&replica, corpus, commands);
                        replica
                    },
                    BatchSize::PerIteration,
                );
            });
        }
        group.bench_function(format!("replproto-bytes/{mode}"), |b| {
            b.iter_batched(
                || (streaming_replica(), owned_reads(data, read)),
                |(mut replica, reads)| {
                    let commands = feed_owned_reads(&mut replica, Instant::now(), reads);
                    check_streamed(&replica, corpus, commands);
                    replica
                },
                BatchSize::PerIteration,
            );
        });
    }
    // Diagnostic: the RESP command decoder alone, without the replica around it.
    group.bench_function("replproto-decoder/16k", |b| {
        b.iter(|| {
            let (commands, consumed) = command_decoder_reads(black_box(data), READ_SIZE);
            assert_eq!((commands, consumed), (corpus.commands, corpus.len()));
        });
    });
    group.bench_function("redis-protocol/16k", |b| {
        b.iter(|| {
            let (frames, consumed) = redis_protocol_reads(black_box(data), READ_SIZE);
            assert_eq!((frames, consumed), (corpus.commands, corpus.len()));
        });
    });
    group.bench_function("redis-protocol/whole", |b| {
        b.iter(|| {
            let (frames, consumed) = redis_protocol_whole(black_box(data));
            assert_eq!((frames, consumed), (corpus.commands, corpus.len()));
        });
    });
    // The floor of the owned path: one `Bytes` split off the read buffer per command and
    // dropped, nothing decoded.
    let lengths = command_lengths(data);
    group.bench_function("bytes-handle/16k", |b| {
        b.iter(|| {
            assert_eq!(
                owned_handles(black_box(data), &lengths, READ_SIZE),
                data.len()
            )
        });
    });
    let newlines = memchr_newlines(data, data.len());
    group.bench_function("memchr/16k", |b| {
        b.iter(|| assert_eq!(memchr_newlines(black_box(data), READ_SIZE), newlines));
    });
    group.bench_function("memchr/whole", |b| {
        b.iter(|| assert_eq!(memchr_newlines(black_box(data), data.len()), newlines));
    });
    group.finish();
}

fn set(c: &mut Criterion) {
    bench_corpus(c, &set_corpus(SET_COMMANDS));
}

fn mixed(c: &mut Criterion) {
    bench_corpus(c, &mixed_corpus(MIXED_COMMANDS));
}

fn incr(c: &mut Criterion) {
    bench_corpus(c, &incr_corpus(INCR_COMMANDS));
}

criterion_group!(benches, set, mixed, incr);
criterion_main!(benches);
