//! Test harness for the end-to-end tests of `replproto` against real `redis-server` processes.
//!
//! * [`RedisServer`] starts a throwaway server on a free loopback port and stops it on drop.
//! * [`Client`] is a tiny blocking client with its own RESP reader/writer, used for assertions.
//! * [`CutProxy`] forwards TCP traffic and can cut or refuse connections on demand.
//! * [`wait_until`] / [`wait_for`] poll a condition with a deadline instead of sleeping.

mod client;
mod proxy;
mod server;
mod wait;

pub use client::{Client, Reply, SyncStats};
pub use proxy::CutProxy;
pub use server::RedisServer;
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
