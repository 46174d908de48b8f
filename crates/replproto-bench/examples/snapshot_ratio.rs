//! A 1 GiB snapshot through the replica and a plain copy of the same bytes, alternated round by
//! round in one process: each round's ratio compares two passes made moments apart, so a
//! machine whose memory speed drifts between runs (a shared virtual machine) still gives a
//! fair figure. Prints every round and the median ratio.
//!
//! ```text
//! cargo run --release -p replproto-bench --example snapshot_ratio -- eof 16384 copied 7
//! ```
//!
//! Arguments: framing (`length`, `eof`), read size in bytes, how reads are handed over
//! (`copied`: `handle_input`; `owned`: `handle_input_bytes`), rounds (default 7), what the
//! values are made of (`letters`, the default, or `hex`: the alphabet of Redis's end marks).

use std::hint::black_box;
use std::time::Instant;

use replproto::Limits;
use replproto_bench::{
    big_rdb_of, feed_snapshot, owned_reads, plain_copy_reads, replica_awaiting_snapshot,
    PayloadReads, PayloadText, SnapshotWire,
};

const USAGE: &str =
    "usage: snapshot_ratio length|eof READ_BYTES copied|owned [ROUNDS] [letters|hex]";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let fail = |why: &str| -> ! {
        eprintln!("{why}; {USAGE}");
        std::process::exit(2);
    };
    let eof = match args.first().map(String::as_str) {
        Some("length") => false,
        Some("eof") => true,
        _ => fail("framing must be `length` or `eof`"),
    };
    let read: usize = match args.get(1).and_then(|r| r.parse().ok()) {
        Some(read) if read > 0 => read,
        _ => fail("READ_BYTES must be a positive number"),
    };
    let owned = match args.get(2).map(String::as_str) {
        Some("copied") => false,
        Some("owned") => true,
        _ => fail("reads are `copied` or `owned`"),
    };
    let rounds: usize = match args.get(3).map(|r| r.parse()) {
        None => 7,
        Some(Ok(rounds)) if rounds > 0 => rounds,
        Some(_) => fail("ROUNDS must be a positive number"),
    };

    let text = match args.get(4).map(String::as_str) {
        None | Some("letters") => PayloadText::Letters,
        Some("hex") => PayloadText::Hex,
        Some(_) => fail("values are `letters` or `hex`"),
    };

    let payload = big_rdb_of(1 << 30, text);
    let wire = if eof {
        SnapshotWire::eof()
    } else {
        SnapshotWire::length(payload.len())
    };
    let mut buf = vec![0u8; read];
    let mut ratios = Vec::with_capacity(rounds);
    for round in 1..=rounds {
        // Owned reads are made before the clock starts, as a driver would have them.
        let reads = if owned {
            PayloadReads::Owned(owned_reads(&payload, read))
        } else {
            PayloadReads::Copied(&payload, read)
        };
        let mut replica = replica_awaiting_snapshot(Limits::DEFAULT);
        let start = Instant::now();
        feed_snapshot(&mut replica, &wire, reads, payload.len());
        let through = start.elapsed();
        let start = Instant::now();
        plain_copy_reads(black_box(&payload), read, &mut buf);
        let copy = start.elapsed();
        let ratio = copy.as_secs_f64() / through.as_secs_f64();
        ratios.push(ratio);
        println!(
            "round {round}: replica {:.1} ms, plain copy {:.1} ms, {:.0}% of a plain copy",
            through.as_secs_f64() * 1e3,
            copy.as_secs_f64() * 1e3,
            ratio * 100.0
        );
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "{} {} KiB {}, {text:?} values: median {:.0}% of a plain copy over {rounds} rounds (min {:.0}%, max {:.0}%)",
        if eof { "$EOF:" } else { "$<len>" },
        read / 1024,
        if owned { "owned" } else { "copied" },
        ratios[rounds / 2] * 100.0,
        ratios[0] * 100.0,
        ratios[rounds - 1] * 100.0
    );
}
