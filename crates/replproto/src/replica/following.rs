//! What carries over from one master link to the next.

use std::time::{Duration, Instant};

use crate::Checkpoint;

use super::{ConfigError, Replica, ReplicaConfig};

/// Follows a master across links: starts each [`Replica`] from the checkpoint the previous
/// link left, and paces reconnection attempts. Drivers own the sockets; this owns the
/// decisions.
#[derive(Debug, Clone)]
pub struct Following {
    config: ReplicaConfig,
    checkpoint: Option<Checkpoint>,
    reconnect_delay: Duration,
    last_attempt: Option<Instant>,
}

impl Following {
    /// Follows with `config`, starting with a full sync unless a checkpoint is given.
    pub fn new(config: ReplicaConfig) -> Self {
        Following {
            config,
            checkpoint: None,
            reconnect_delay: Duration::from_secs(1),
            last_attempt: None,
        }
    }

    /// Resumes from a saved checkpoint (e.g. [`Checkpoint::from_rdb`]).
    #[must_use]
    pub fn with_checkpoint(mut self, checkpoint: Option<Checkpoint>) -> Self {
        self.checkpoint = checkpoint;
        self
    }

    /// Minimum time between two connection attempts (default 1 s, Redis's retry cadence).
    #[must_use]
    pub fn with_reconnect_delay(mut self, delay: Duration) -> Self {
        self.reconnect_delay = delay;
        self
    }

    /// The checkpoint the next link starts from.
    pub fn checkpoint(&self) -> Option<Checkpoint> {
        self.checkpoint
    }

    /// When the next connection attempt may start (`None`: at once).
    pub fn next_attempt(&self) -> Option<Instant> {
        self.last_attempt.map(|at| at + self.reconnect_delay)
    }

    /// Records a connection attempt starting at `now`.
    pub fn attempt(&mut self, now: Instant) {
        self.last_attempt = Some(now);
    }

    /// The machine for a link just connected at `now`.
    pub fn start_link(&self, now: Instant) -> Result<Replica, ConfigError> {
        Replica::new(self.config.clone(), self.checkpoint, now)
    }

    /// Takes over what a finished (or abandoned) link leaves to the next one.
    pub fn end_link(&mut self, replica: &Replica) {
        self.checkpoint = replica.checkpoint();
    }
}
