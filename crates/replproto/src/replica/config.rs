//! How a replica introduces itself and how long it waits.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;

use crate::Limits;

/// Credentials sent with `AUTH` before any `REPLCONF`.
#[derive(Clone, PartialEq, Eq)]
pub struct Auth {
    /// ACL user (Redis 6+); `None` sends `AUTH <password>`.
    pub username: Option<Bytes>,
    /// The password, sent with its exact bytes.
    pub password: Bytes,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// When the replica tells its master it has applied a byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AckMode {
    /// Acknowledge every whole command as soon as it is handed out as an event, as a Redis
    /// replica acknowledges what it has executed (frozen inside `MULTI` … `EXEC`).
    #[default]
    OnDelivery,
    /// Acknowledge only what the application confirmed with
    /// [`Replica::acknowledge`](super::Replica::acknowledge), e.g. after a durable write.
    Manual,
}

/// Settings of a replica link.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplicaConfig {
    /// Port announced with `REPLCONF listening-port` (shown by the master in `INFO` and `ROLE`).
    pub listening_port: u16,
    /// Address announced with `REPLCONF ip-address`, if any.
    pub announce_ip: Option<Bytes>,
    /// Credentials, if the master requires them.
    pub auth: Option<Auth>,
    /// Advertise `capa eof`, letting the master send a diskless `$EOF:` snapshot.
    pub capa_eof: bool,
    /// Silence after which the link is given up (`repl-timeout`): since the last handshake
    /// line, the last snapshot byte, or the last stream byte.
    pub repl_timeout: Duration,
    /// Period of `REPLCONF ACK` while streaming.
    pub ack_period: Duration,
    /// What the acknowledged offset follows.
    pub ack_mode: AckMode,
    /// Check the snapshot's CRC-64 trailer when it is not zero.
    pub verify_checksum: bool,
    /// Caps on what the master can make this replica buffer.
    pub limits: Limits,
}

impl Default for ReplicaConfig {
    fn default() -> Self {
        ReplicaConfig {
            listening_port: 6380,
            announce_ip: None,
            auth: None,
            capa_eof: true,
            repl_timeout: Duration::from_secs(60),
            ack_period: Duration::from_secs(1),
            ack_mode: AckMode::OnDelivery,
            verify_checksum: true,
            limits: Limits::DEFAULT,
        }
    }
}

impl ReplicaConfig {
    /// A configuration announcing `listening_port`, with Redis's defaults otherwise.
    pub fn new(listening_port: u16) -> Self {
        ReplicaConfig {
            listening_port,
            ..ReplicaConfig::default()
        }
    }

    /// Authenticates with a password (`AUTH <password>`).
    #[must_use]
    pub fn with_password(mut self, password: impl Into<Bytes>) -> Self {
        self.auth = Some(Auth {
            username: None,
            password: password.into(),
        });
        self
    }

    /// Authenticates as an ACL user (`AUTH <user> <password>`).
    #[must_use]
    pub fn with_user(mut self, username: impl Into<Bytes>, password: impl Into<Bytes>) -> Self {
        self.auth = Some(Auth {
            username: Some(username.into()),
            password: password.into(),
        });
        self
    }

    /// Announces an address with `REPLCONF ip-address`.
    #[must_use]
    pub fn with_announce_ip(mut self, ip: impl Into<Bytes>) -> Self {
        self.announce_ip = Some(ip.into());
        self
    }

    /// Sets whether `capa eof` is advertised.
    #[must_use]
    pub fn with_capa_eof(mut self, capa_eof: bool) -> Self {
        self.capa_eof = capa_eof;
        self
    }

    /// Sets the inactivity timeout.
    #[must_use]
    pub fn with_repl_timeout(mut self, timeout: Duration) -> Self {
        self.repl_timeout = timeout;
        self
    }

    /// Sets the ACK period.
    #[must_use]
    pub fn with_ack_period(mut self, period: Duration) -> Self {
        self.ack_period = period;
        self
    }

    /// Sets the ACK mode.
    #[must_use]
    pub fn with_ack_mode(mut self, mode: AckMode) -> Self {
        self.ack_mode = mode;
        self
    }

    /// Sets the limits.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Checks the settings, naming the one to fix.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.repl_timeout.is_zero() {
            return Err(ConfigError("repl_timeout must be greater than zero"));
        }
        if self.ack_period.is_zero() {
            return Err(ConfigError("ack_period must be greater than zero"));
        }
        if self.limits.max_line_len < 64 {
            return Err(ConfigError(
                "limits.max_line_len must be at least 64 bytes to hold a +FULLRESYNC line",
            ));
        }
        if self.limits.max_frame_len > u32::MAX as usize {
            return Err(ConfigError(
                "limits.max_frame_len must not exceed 4 GiB - 1",
            ));
        }
        if self
            .announce_ip
            .as_ref()
            .is_some_and(|ip| ip.is_empty() || ip.len() > 255)
        {
            return Err(ConfigError("announce_ip must be 1 to 255 bytes"));
        }
        Ok(())
    }
}

/// A setting that cannot work; the text says which and how to fix it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigError(pub &'static str);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid replica configuration: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}
