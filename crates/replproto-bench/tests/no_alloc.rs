//! Steady state allocates nothing per command.
//!
//! A counting global allocator wraps the system one. A replica already streaming is warmed up
//! with the first reads of a corpus, then the allocations made by `handle_input` (16 KiB
//! reads), `poll_event` (events dropped at once) or `poll_command` (commands borrowed) and
//! `poll_transmit` are counted over at least 100,000 decoded commands. Any allocation fails the test, with the count per command and
//! the backtraces of the first few.
//!
//! `cargo test -p replproto-bench --release --test no_alloc`
#![allow(unsafe_code)] // the one `unsafe impl GlobalAlloc` below

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use replproto_bench::{
    drain, feed_reads, feed_reads_borrowed, hundred_byte_command, incr_corpus, mixed_corpus,
    push_command, set_corpus, streaming_replica, Corpus, Feed, READ_SIZE,
};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);
static TRACES: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Backtraces kept per measurement.
const MAX_TRACES: usize = 3;

thread_local! {
    /// Whether allocations on this thread are counted (each test measures its own thread).
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    /// Set while recording, so the recording's own allocations are not counted.
    static RECORDING: Cell<bool> = const { Cell::new(false) };
}

fn record(size: usize) {
    let counting = COUNTING.try_with(Cell::get).unwrap_or(false);
    let recording = RECORDING.try_with(Cell::get).unwrap_or(true);
    if !counting || recording {
        return;
    }
    ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    BYTES.fetch_add(size as u64, Ordering::Relaxed);
    RECORDING.with(|r| r.set(true));
    if let Ok(mut traces) = TRACES.lock() {
        if traces.len() < MAX_TRACES {
            let trace = std::backtrace::Backtrace::force_capture().to_string();
            traces.push(format!("allocation of {size} bytes at:\n{trace}"));
        }
    }
    RECORDING.with(|r| r.set(false));
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting has no effect
// on the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Tests share the counters: one measurement at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// What one measured stretch allocated.
#[derive(Debug)]
struct Measured {
    commands: u64,
    allocations: u64,
    bytes: u64,
    traces: Vec<String>,
}

fn measure(f: impl FnOnce() -> u64) -> Measured {
    ALLOCATIONS.store(0, Ordering::SeqCst);
    BYTES.store(0, Ordering::SeqCst);
    TRACES.lock().unwrap().clear();
    COUNTING.with(|c| c.set(true));
    let commands = f();
    COUNTING.with(|c| c.set(false));
    Measured {
        commands,
        allocations: ALLOCATIONS.load(Ordering::SeqCst),
        bytes: BYTES.load(Ordering::SeqCst),
        traces: std::mem::take(&mut *TRACES.lock().unwrap()),
    }
}

/// Warms a streaming replica up on the first `warm_up` bytes of `corpus` (whole 16 KiB reads),
/// then counts allocations over the rest.
fn steady_state(corpus: &Corpus, warm_up_reads: usize, feed: Feed) -> Measured {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let now = Instant::now();
    let mut replica = streaming_replica();
    let (warm, rest) = corpus.bytes.split_at(warm_up_reads * READ_SIZE);
    let warmed = feed(&mut replica, now, warm, READ_SIZE);
    assert!(warmed > 0);
    let measured = measure(|| feed(&mut replica, now, rest, READ_SIZE));
    drain(&mut replica);
    assert_eq!(warmed + measured.commands, corpus.commands);
    measured
}

fn assert_no_allocation(corpus: &Corpus, warm_up_reads: usize) {
    assert_no_allocation_with(corpus, warm_up_reads, feed_reads);
}

fn assert_no_allocation_with(corpus: &Corpus, warm_up_reads: usize, feed: Feed) {
    let m = steady_state(corpus, warm_up_reads, feed);
    assert!(
        m.commands >= 100_000,
        "measured only {} commands",
        m.commands
    );
    assert!(
        m.allocations == 0,
        "{}: {} allocations ({} bytes) over {} decoded commands: {:.4} per command, {:.1} bytes \
         per command; first ones:\n{}",
        corpus.name,
        m.allocations,
        m.bytes,
        m.commands,
        m.allocations as f64 / m.commands as f64,
        m.bytes as f64 / m.commands as f64,
        m.traces.join("\n")
    );
}

#[test]
fn set_commands_allocate_nothing_after_warm_up() {
    // 10 reads (about 1,100 commands) of warm-up, then 110,000 commands measured.
    assert_no_allocation(&set_corpus(111_200), 10);
}

#[test]
fn mixed_commands_allocate_nothing_after_warm_up() {
    // The mixed corpus has 4 KiB values: 100 reads of warm-up let the buffers reach size.
    assert_no_allocation(&mixed_corpus(110_000), 100);
}

#[test]
fn tiny_commands_allocate_nothing_after_warm_up() {
    assert_no_allocation(&incr_corpus(200_000), 10);
}

#[test]
fn borrowed_set_commands_allocate_nothing_after_warm_up() {
    assert_no_allocation_with(&set_corpus(111_200), 10, feed_reads_borrowed);
}

#[test]
fn borrowed_mixed_commands_allocate_nothing_after_warm_up() {
    assert_no_allocation_with(&mixed_corpus(110_000), 100, feed_reads_borrowed);
}

#[test]
fn borrowed_tiny_commands_allocate_nothing_after_warm_up() {
    assert_no_allocation_with(&incr_corpus(200_000), 10, feed_reads_borrowed);
}

/// The counter itself works: a `Vec` growing under measurement is seen.
#[test]
fn the_counter_sees_allocations() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let m = measure(|| {
        let v: Vec<u64> = std::hint::black_box((0..1000).collect());
        v.len() as u64
    });
    assert!(m.allocations >= 1, "{m:?}");
}

/// 120,000 units of 100-byte `SET`s, every 100th replaced by what `special` appends (it
/// returns how many commands it added).
fn set_corpus_with(name: &'static str, special: impl Fn(&mut Vec<u8>) -> u64) -> Corpus {
    let mut bytes = Vec::new();
    let mut commands = 0;
    for i in 0..120_000u64 {
        if i % 100 == 99 {
            commands += special(&mut bytes);
        } else {
            bytes.extend_from_slice(&hundred_byte_command(i));
            commands += 1;
        }
    }
    Corpus {
        name,
        bytes,
        commands,
    }
}

// Streams real masters send beside plain writes: GETACK answers, transactions and long
// commands taken borrowed allocate nothing.

/// Masters send `REPLCONF GETACK *` for `WAIT` and before a failover; the replica answers each
/// with an ACK, written straight into its output buffer.
#[test]
fn getack_answers_allocate_nothing_after_warm_up() {
    let corpus = set_corpus_with("set+getack", |out| {
        push_command(out, &[b"REPLCONF", b"GETACK", b"*"]);
        1
    });
    assert_no_allocation(&corpus, 10);
}

/// Transactions (and, in Redis 7, scripts) are propagated as `MULTI` ... `EXEC`. Their commands
/// are held until `EXEC` in a buffer of their own, reused once they are dropped, so a
/// transaction spanning two reads does not keep the read buffer shared either.
#[test]
fn transactions_allocate_nothing_after_warm_up() {
    let corpus = set_corpus_with("set+multi", |out| {
        push_command(out, &[b"MULTI"]);
        out.extend_from_slice(&hundred_byte_command(7));
        push_command(out, &[b"EXEC"]);
        3
    });
    assert_no_allocation(&corpus, 10);
}

/// `MSET` of three pairs: 7 arguments, one more than a command keeps inline (`INLINE_ARGS`).
fn wide_corpus() -> Corpus {
    set_corpus_with("set+mset", |out| {
        push_command(out, &[b"MSET", b"a", b"1", b"b", b"2", b"c", b"3"]);
        1
    })
}

/// Commands of more than `INLINE_ARGS` arguments (`MSET` of three pairs, `HSET` of three
/// fields, `ZADD` of several members), taken borrowed: their argument list goes back to the
/// decoder when the next command is asked for, and the next long command reuses it.
#[test]
fn borrowed_wide_commands_allocate_nothing_after_warm_up() {
    assert_no_allocation_with(&wide_corpus(), 10, feed_reads_borrowed);
}

/// Taken owned, a long command carries its own argument list out: one allocation for each such
/// command and nothing else (the 99 plain `SET`s around each one allocate nothing).
#[test]
fn owned_wide_commands_allocate_only_their_argument_list() {
    let corpus = wide_corpus();
    let m = steady_state(&corpus, 10, feed_reads);
    let wide = m.commands / 100;
    assert!(wide >= 1_000, "{m:?}");
    assert!(
        m.allocations.abs_diff(wide) <= 1,
        "{} allocations for about {wide} wide commands among {}; first ones:\n{}",
        m.allocations,
        m.commands,
        m.traces.join("\n")
    );
}
