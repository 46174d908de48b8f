//! `replctl probe`: run the replica handshake against a server and report what it speaks,
//! without downloading its snapshot.
//!
//! One [`Replica`] with no checkpoint (so `PSYNC ? -1`) is driven over a
//! [`replproto_tokio::Link`] until the snapshot header shows the framing; then the link is
//! closed. Note that the master starts producing a snapshot for the probe (as for any replica
//! asking for a full sync) and drops it when the probe leaves.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use crate::credentials::with_credentials;
use replproto::replica::{
    CloseReason, Event, HandshakeCommand, Phase, Replica, ReplicaConfig, SnapshotFraming,
};
use replproto::{Offset, ReplId};
use replproto_tokio::Link;
use tokio::net::TcpStream;

use crate::error::{connect_error, refused, CliError};

/// What `replctl probe` is asked to do.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// The server, `host:port`.
    pub addr: String,
    /// ACL user for `AUTH`.
    pub user: Option<String>,
    /// Password for `AUTH`.
    pub password: Option<String>,
    /// Port announced with `REPLCONF listening-port`.
    pub announce_port: u16,
    /// Bound on the connection, and on the silence between two replies.
    pub timeout: Duration,
}

impl ProbeOptions {
    /// Defaults for probing `addr`.
    pub fn new(addr: impl Into<String>) -> ProbeOptions {
        ProbeOptions {
            addr: addr.into(),
            user: None,
            password: None,
            announce_port: 0,
            timeout: Duration::from_secs(10),
        }
    }

    fn replica_config(&self) -> ReplicaConfig {
        let config = ReplicaConfig::new(self.announce_port).with_repl_timeout(self.timeout);
        with_credentials(config, self.user.as_deref(), self.password.as_deref())
    }
}

/// How the server answered `PSYNC ? -1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PsyncSupport {
    /// `+FULLRESYNC <replid> <offset>`.
    Supported {
        /// The server's replication id.
        replid: ReplId,
        /// Its replication offset.
        offset: Offset,
    },
    /// An error: the server only knows the old `SYNC`.
    LegacyOnly {
        /// The error it answered.
        reply: String,
    },
}

/// What a probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeReport {
    /// Each handshake command and the server's reply, in order.
    pub replies: Vec<(HandshakeCommand, String)>,
    /// The answer to `PSYNC`.
    pub psync: PsyncSupport,
    /// The snapshot framing, if its header came before the probe gave up waiting.
    pub framing: Option<SnapshotFraming>,
}

/// The command a handshake reply answers, as sent (the password left out).
pub fn sent_command(command: HandshakeCommand, config: &ReplicaConfig) -> String {
    match command {
        HandshakeCommand::Ping => "PING".into(),
        HandshakeCommand::Auth => match config.auth.as_ref().and_then(|a| a.username.as_ref()) {
            Some(user) => format!("AUTH {} <password>", String::from_utf8_lossy(user)),
            None => "AUTH <password>".into(),
        },
        HandshakeCommand::ListeningPort => {
            format!("REPLCONF listening-port {}", config.listening_port)
        }
        HandshakeCommand::IpAddress => format!(
            "REPLCONF ip-address {}",
            String::from_utf8_lossy(config.announce_ip.as_deref().unwrap_or_default())
        ),
        HandshakeCommand::Capa if config.capa_eof => "REPLCONF capa eof capa psync2".into(),
        HandshakeCommand::Capa => "REPLCONF capa psync2".into(),
        HandshakeCommand::Psync => "PSYNC ? -1".into(),
        other => format!("{other:?}"),
    }
}

/// Probes the server, printing each step to `out` as it happens.
///
/// # Errors
///
/// One line for people: the server unreachable, silent, refusing a step, or closing the
/// connection before answering `PSYNC`.
pub async fn probe(options: &ProbeOptions, out: &mut impl Write) -> Result<ProbeReport, CliError> {
    let output_error = |e: io::Error| CliError::new(format!("cannot write the output: {e}"));
    let addr = &options.addr;
    let stream = tokio::time::timeout(options.timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connection timed out"))
        .and_then(|connected| connected)
        .map_err(|e| connect_error(addr, &e, options.timeout))?;
    let _ = stream.set_nodelay(true);
    let peer = stream
        .peer_addr()
        .map_or_else(|_| addr.clone(), |a| a.to_string());
    writeln!(out, "connected to {addr} ({peer}); handshake as a replica:").map_err(output_error)?;
    let config = options.replica_config();
    let replica = Replica::new(config.clone(), None, Instant::now())
        .map_err(|e| CliError::new(e.to_string()))?;
    let mut link = Link::new(stream, replica);
    let mut replies = Vec::new();
    let mut psync = None;
    loop {
        let waited = if psync.is_some() {
            // The framing comes once the snapshot is ready, which can take a while on a
            // master that writes it to disk first; the probe does not wait for long.
            tokio::time::timeout(options.timeout, link.next_event()).await
        } else {
            Ok(link.next_event().await)
        };
        let Ok(event) = waited else {
            writeln!(
                out,
                "snapshot framing: unknown (no snapshot header within {} s)",
                options.timeout.as_secs_f64()
            )
            .map_err(output_error)?;
            break;
        };
        match event {
            Some(Event::HandshakeReply { command, reply }) => {
                let reply = String::from_utf8_lossy(&reply).into_owned();
                writeln!(out, "  {:<34} -> {reply}", sent_command(command, &config))
                    .map_err(output_error)?;
                replies.push((command, reply));
            }
            Some(Event::FullResync { replid, offset }) => {
                writeln!(
                    out,
                    "PSYNC: supported; replication id {replid}, offset {offset}"
                )
                .map_err(output_error)?;
                writeln!(
                    out,
                    "waiting for the snapshot header (the master may first wait for more replicas or save to disk)..."
                )
                .map_err(output_error)?;
                out.flush().map_err(output_error)?;
                psync = Some(PsyncSupport::Supported { replid, offset });
            }
            Some(Event::LegacySync { reply }) => {
                let reply = String::from_utf8_lossy(&reply).into_owned();
                writeln!(
                    out,
                    "PSYNC answered with an error: falling back to the old SYNC, as a Redis replica does"
                )
                .map_err(output_error)?;
                psync = Some(PsyncSupport::LegacyOnly { reply });
            }
            Some(Event::SnapshotBegin { framing }) => {
                if let Some(PsyncSupport::LegacyOnly { reply }) = &psync {
                    writeln!(
                        out,
                        "PSYNC: not supported ({reply}); this server only speaks the old SYNC"
                    )
                    .map_err(output_error)?;
                }
                match framing {
                    SnapshotFraming::Length(len) => writeln!(
                        out,
                        "snapshot framing: $<len>, {len} bytes (written to disk, then sent)"
                    ),
                    SnapshotFraming::EofMark => writeln!(
                        out,
                        "snapshot framing: $EOF:<40-byte mark> (diskless: streamed while produced)"
                    ),
                }
                .map_err(output_error)?;
                let psync = psync.clone().ok_or_else(|| {
                    CliError::new("the snapshot header came before the PSYNC reply")
                })?;
                link.close();
                writeln!(out, "closed before the snapshot: nothing was downloaded")
                    .map_err(output_error)?;
                return Ok(ProbeReport {
                    replies,
                    psync,
                    framing: Some(framing),
                });
            }
            Some(Event::Closed(reason)) => {
                return Err(closed_error(addr, &reason, psync.is_some()))
            }
            Some(_) => {}
            None => break,
        }
    }
    link.close();
    match psync {
        Some(psync) => Ok(ProbeReport {
            replies,
            psync,
            framing: None,
        }),
        None => Err(CliError::new(format!(
            "{addr} closed the connection before answering PSYNC"
        ))),
    }
}

fn closed_error(addr: &str, reason: &CloseReason, answered_psync: bool) -> CliError {
    match reason {
        CloseReason::Refused { phase, reply } => refused(addr, *phase, reply),
        CloseReason::MasterNotReady(reply) => CliError::new(format!(
            "{addr} cannot serve a replica right now: {reply} (try again later)"
        )),
        CloseReason::Disconnected { phase } if !answered_psync => CliError::new(format!(
            "{addr} closed the connection during {phase} (is it a Redis server? does it allow replicas?)"
        )),
        CloseReason::Disconnected { phase } => CliError::new(format!(
            "{addr} closed the connection during {phase}, before the snapshot header"
        )),
        CloseReason::TimedOut { phase: Phase::Ping } => CliError::new(format!(
            "{addr} did not answer PING (is it a Redis server?)"
        )),
        CloseReason::TimedOut { phase } => CliError::new(format!(
            "{addr} went silent during {phase} (try a longer --timeout)"
        )),
        CloseReason::Protocol(e) => CliError::new(format!(
            "{addr} broke the replication protocol: {e}"
        )),
        other => CliError::new(format!("{addr}: {other}")),
    }
}
