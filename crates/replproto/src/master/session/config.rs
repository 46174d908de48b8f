//! Settings of a master's sessions.

use std::time::Duration;

use crate::Limits;

/// How a session treats its peer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionConfig {
    /// Whether clients must `AUTH` before anything else (`requirepass` or ACL users).
    pub require_auth: bool,
    /// Silence (no ACK) after which an online replica is dropped (`repl-timeout`).
    pub repl_timeout: Duration,
    /// Period of `\n` keepalives to a replica waiting for its snapshot.
    pub keepalive_period: Duration,
    /// Cap on unsent output (`client-output-buffer-limit replica` hard limit).
    pub output_limit: usize,
    /// Caps on what a peer can make the session buffer.
    pub limits: Limits,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            require_auth: false,
            repl_timeout: Duration::from_secs(60),
            keepalive_period: Duration::from_secs(1),
            output_limit: 256 * 1024 * 1024,
            limits: Limits::DEFAULT,
        }
    }
}
