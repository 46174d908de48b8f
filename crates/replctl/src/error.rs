//! Errors for people: one line that says what happened and what to do.

use std::fmt;
use std::io;
use std::time::Duration;

/// A failure of a subcommand, as the one line the tool prints before exiting non-zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    message: String,
}

impl CliError {
    /// An error with this message (one line, no `error:` prefix).
    pub fn new(message: impl Into<String>) -> CliError {
        let message: String = message.into();
        // One line, whatever a peer put in its error text.
        CliError {
            message: message.replace(['\r', '\n'], " "),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

impl From<crate::state::StateError> for CliError {
    fn from(e: crate::state::StateError) -> CliError {
        CliError::new(e.to_string())
    }
}

/// Checks that `addr` looks like `host:port` (`[v6]:port` for IPv6 addresses).
///
/// ```
/// assert!(replctl::error::check_addr("127.0.0.1:6379").is_ok());
/// assert!(replctl::error::check_addr("[::1]:6379").is_ok());
/// assert!(replctl::error::check_addr("localhost").is_err());
/// ```
///
/// # Errors
///
/// A message showing the expected form.
pub fn check_addr(addr: &str) -> Result<String, String> {
    let bad = || format!("invalid address {addr:?}: use host:port, e.g. 127.0.0.1:6379");
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(bad());
    }
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err(format!(
            "invalid address {addr:?}: write an IPv6 address in brackets, e.g. [::1]:6379"
        ));
    }
    Ok(addr.to_string())
}

/// The message for a failed connection to `addr`.
pub fn connect_error(addr: &str, error: &io::Error, timeout: Duration) -> CliError {
    let what = match error.kind() {
        io::ErrorKind::ConnectionRefused => {
            "connection refused (is a Redis server listening there? check the host and port)"
                .to_string()
        }
        io::ErrorKind::TimedOut => format!(
            "no answer within {} s (check the host, the port and any firewall in between)",
            timeout.as_secs_f64()
        ),
        _ if error.to_string().contains("lookup") => {
            format!("cannot resolve the host name ({error}): check its spelling")
        }
        _ => format!("{error} (check the host and port)"),
    };
    CliError::new(format!("cannot connect to {addr}: {what}"))
}

/// The message for a server that refused a step of the handshake with `reply`.
pub fn refused(
    addr: &str,
    phase: replproto::replica::Phase,
    reply: &replproto::replica::ErrorReply,
) -> CliError {
    let text = reply.to_string();
    let hint = match reply.kind() {
        b"NOAUTH" => "the server needs a password: pass --password or set REDISCLI_AUTH",
        b"WRONGPASS" => "check --user and --password, or REDISCLI_AUTH",
        b"NOPERM" => "the user needs permission to run PSYNC, SYNC and REPLCONF",
        _ if text.contains("invalid password") => "check --password, or REDISCLI_AUTH",
        _ if text.contains("without any password configured") => {
            "the server needs no password: leave out --password and unset REDISCLI_AUTH"
        }
        _ => "the server cannot serve a replica as asked",
    };
    CliError::new(format!(
        "{addr} refused the replica during {phase}: {text} ({hint})"
    ))
}
