//! One pass of a corpus through one decoder, for profilers (`perf`, `valgrind --tool=callgrind`)
//! that want a plain process rather than a criterion run.
//!
//! ```text
//! cargo build --release -p replproto-bench --example profile
//! valgrind --tool=callgrind target/release/examples/profile incr 1000000 replproto
//! ```
//!
//! Arguments: corpus (`set`, `mixed`, `incr`), commands, decoder (`replproto`, `borrowed`, `decoder`,
//! `redis-protocol`, `memchr`), read size in bytes (default 16384). Generating the corpus is
//! part of the process: subtract a run with decoder `none` to isolate the decoding.

use std::time::Instant;

use replproto_bench::{
    check_streamed, command_decoder_reads, feed_reads, feed_reads_borrowed, incr_corpus,
    memchr_newlines, mixed_corpus, redis_protocol_reads, set_corpus, streaming_replica, READ_SIZE,
};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: profile set|mixed|incr COMMANDS replproto|borrowed|decoder|redis-protocol|memchr|none [READ]";
    let (Some(kind), Some(count), Some(decoder)) = (args.first(), args.get(1), args.get(2)) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let count: u64 = count.parse().expect("COMMANDS is a number");
    let read: usize = args
        .get(3)
        .map_or(READ_SIZE, |r| r.parse().expect("READ is a number"));
    let corpus = match kind.as_str() {
        "set" => set_corpus(count),
        "mixed" => mixed_corpus(count),
        "incr" => incr_corpus(count),
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    let start = Instant::now();
    match decoder.as_str() {
        "replproto" => {
            let mut replica = streaming_replica();
            let commands = feed_reads(&mut replica, Instant::now(), &corpus.bytes, read);
            check_streamed(&replica, &corpus, commands);
        }
        "borrowed" => {
            let mut replica = streaming_replica();
            let commands = feed_reads_borrowed(&mut replica, Instant::now(), &corpus.bytes, read);
            check_streamed(&replica, &corpus, commands);
        }
        "decoder" => {
            assert_eq!(
                command_decoder_reads(&corpus.bytes, read),
                (corpus.commands, corpus.len())
            );
        }
        "redis-protocol" => {
            assert_eq!(
                redis_protocol_reads(&corpus.bytes, read),
                (corpus.commands, corpus.len())
            );
        }
        "memchr" => {
            std::hint::black_box(memchr_newlines(&corpus.bytes, read));
        }
        "none" => {}
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    }
    let elapsed = start.elapsed();
    eprintln!(
        "{} {} commands, {} bytes, {decoder}, {read}-byte reads: {:.3} s, {:.1} M commands/s, {:.2} GB/s",
        corpus.name,
        corpus.commands,
        corpus.len(),
        elapsed.as_secs_f64(),
        corpus.commands as f64 / elapsed.as_secs_f64() / 1e6,
        corpus.len() as f64 / elapsed.as_secs_f64() / 1e9,
    );
}
