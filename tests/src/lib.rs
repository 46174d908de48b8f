//! Test harness for the end-to-end tests of `replproto` against real `redis-server` processes.
//!
//! * [`RedisServer`] starts a throwaway server on a free loopback port and stops it on drop.
//! * [`Client`] is a tiny blocking client with its own RESP reader/writer, used for assertions.
//! * [`CutProxy`] forwards TCP traffic and can cut or refuse connections on demand.
//! * [`wait_until`] / [`wait_for`] poll a condition with a deadline instead of sleeping.
//! * [`FollowerThread`] runs a follower (either adapter's, see [`Driver`]) on a thread and
//!   hands its events over; [`driver_tests!`] runs one test body with both.
//! * [`Redis`] names the server version a scenario runs against.

mod client;
mod follow;
mod proxy;
mod server;
mod version;
mod wait;

pub use client::{Client, Reply, SyncStats};
pub use follow::{
    assert_contiguous, commands, full_sync, links, summary, wait_settled, words, Delivered, Driver,
    FollowerThread, FullSync, RECONNECT_DELAY,
};
pub use proxy::CutProxy;
pub use server::RedisServer;
pub use version::{Redis, REDIS6_ENV};
pub use wait::{wait_for, wait_until};

use std::net::{Ipv4Addr, TcpListener};

/// Returns a loopback TCP port that was free a moment ago.
///
/// The port is found by binding a listener to port 0 and dropping it, so another process may
/// grab it before the caller binds it; [`RedisServer::start`] retries with a new port when that
/// happens.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("bind a loopback listener to find a free port")
        .port()
}

/// The value [`Client::set_keys`] stores under key `{prefix}:{i}`, for checking a replica's copy.
pub fn workload_value(prefix: &str, i: u64) -> String {
    format!("{prefix}-value-{i}")
}

/// Milliseconds since the Unix epoch, as the server's clock counts them.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis() as u64
}

/// `len` hex digits drawn from `seed` (a xorshift sequence): values that do not compress, so a
/// snapshot or a backlog grows by about their size.
pub fn incompressible(seed: u64, len: usize) -> String {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut text = String::with_capacity(len + 16);
    while text.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        text.push_str(&format!("{x:016x}"));
    }
    text.truncate(len);
    text
}

/// The README's Rust examples, compiled as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeExamples;
