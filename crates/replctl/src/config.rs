//! Settings of a server node, and the small parsers the command line shares with them.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use replproto::master::DEFAULT_BACKLOG_SIZE;

/// What a node needs to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Address to listen on.
    pub bind: IpAddr,
    /// Port to listen on (0: any free port, see [`ServerHandle::addr`](crate::server::ServerHandle::addr)).
    pub port: u16,
    /// Password of the `default` user (`requirepass`).
    pub requirepass: Option<String>,
    /// Password to send to this node's own master (`masterauth`).
    pub masterauth: Option<String>,
    /// Backlog capacity in bytes (`repl-backlog-size`, at least 16 KiB).
    pub backlog_size: usize,
    /// `min-replicas-to-write` (0: off).
    pub min_replicas_to_write: usize,
    /// `min-replicas-max-lag`, in seconds.
    pub min_replicas_max_lag: u64,
    /// `repl-diskless-sync`: `$EOF:` framing for replicas that can read it.
    pub diskless_sync: bool,
    /// `repl-timeout`, both towards replicas and towards this node's master.
    pub repl_timeout: Duration,
    /// Unsent bytes after which a streaming replica is dropped
    /// (`client-output-buffer-limit replica`, hard limit).
    pub replica_output_limit: usize,
    /// Follow this master (`replicaof host port`) from the start.
    pub replicaof: Option<(String, u16)>,
    /// Feeds the replication ids and end marks the node draws.
    pub seed: [u8; 32],
    /// Log replication events to standard error.
    pub log: bool,
}

impl ServerConfig {
    /// Redis's defaults on `127.0.0.1:port`, seeded from the clock ([`clock_seed`]).
    pub fn new(port: u16) -> ServerConfig {
        ServerConfig {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port,
            requirepass: None,
            masterauth: None,
            backlog_size: DEFAULT_BACKLOG_SIZE,
            min_replicas_to_write: 0,
            min_replicas_max_lag: 10,
            diskless_sync: true,
            repl_timeout: Duration::from_secs(60),
            replica_output_limit: 256 * 1024 * 1024,
            replicaof: None,
            seed: clock_seed(),
            log: false,
        }
    }
}

/// 32 bytes of seed from the wall clock's nanoseconds, the process id and a counter (so two
/// nodes started by one process at the same instant still differ).
pub fn clock_seed() -> [u8; 32] {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut seed = [0u8; 32];
    seed[..16].copy_from_slice(&nanos.to_le_bytes());
    seed[16..20].copy_from_slice(&std::process::id().to_le_bytes());
    seed[24..].copy_from_slice(&COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    seed
}

/// Parses a memory size the way Redis configuration does: a plain number of bytes, or a number
/// followed by `k`/`m`/`g` (powers of 1000) or `kb`/`mb`/`gb` (powers of 1024), in any case.
///
/// ```
/// assert_eq!(replctl::config::parse_size("16kb"), Ok(16 * 1024));
/// assert_eq!(replctl::config::parse_size("1MB"), Ok(1024 * 1024));
/// assert_eq!(replctl::config::parse_size("2k"), Ok(2000));
/// assert!(replctl::config::parse_size("12 parsecs").is_err());
/// ```
///
/// # Errors
///
/// A message saying what a valid size looks like.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let lower = text.trim().to_ascii_lowercase();
    let split = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(split);
    let multiplier: usize = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => usize::MAX,
    };
    digits
        .parse::<usize>()
        .ok()
        .filter(|_| multiplier != usize::MAX)
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| {
            format!("invalid size {text:?}: use a number of bytes, optionally with a unit such as 16kb, 1mb or 1gb")
        })
}

/// Parses a Redis `yes`/`no` setting.
///
/// # Errors
///
/// A message naming the two accepted words.
pub fn parse_yes_no(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err(format!("invalid value {text:?}: use yes or no")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("1gb"), Ok(1 << 30));
        assert_eq!(parse_size("3M"), Ok(3_000_000));
        for bad in ["", "mb", "1tb", "-1", "1.5mb"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn seeds_differ() {
        assert_ne!(clock_seed(), clock_seed());
        assert_eq!(parse_yes_no("YES"), Ok(true));
        assert!(parse_yes_no("maybe").is_err());
    }
}
