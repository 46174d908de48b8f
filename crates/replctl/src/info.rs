//! `INFO` and `ROLE`, worded as Redis 7 words them (protocol.md §7.2, §7.3).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use replproto::master::session::SessionPhase;
use replproto::master::{Master, SessionId};

use crate::commands::reply;
use crate::snapshot::REDIS_VERSION;
use crate::store::{Store, DATABASES};
use crate::upstream::{LinkState, Upstream};

/// Counters `INFO stats` shows besides the core's sync counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Connections accepted.
    pub connections: u64,
    /// Commands answered by the application (not those the session answers itself).
    pub commands: u64,
    /// Keys deleted because they expired.
    pub expired_keys: u64,
}

/// Everything `INFO` and `ROLE` read, borrowed from the node for one answer.
#[derive(Debug)]
pub struct View<'a> {
    /// The replication state.
    pub master: &'a Master,
    /// The data.
    pub store: &'a Store,
    /// The link to this node's master, in replica mode.
    pub upstream: Option<&'a Upstream>,
    /// Peer address of each connection, for replicas that did not announce one.
    pub peers: &'a HashMap<SessionId, IpAddr>,
    /// Open client connections.
    pub clients: usize,
    /// The port the node listens on.
    pub port: u16,
    /// When the node started.
    pub started: Instant,
    /// The time of the answer.
    pub now: Instant,
    /// The counters.
    pub counters: Counters,
}

fn secs(d: Duration) -> u64 {
    d.as_secs()
}

impl View<'_> {
    /// The replicas as `(ip, port, state, ack offset, lag seconds, online)`.
    fn replicas(&self) -> Vec<(String, i64, &'static str, u64, u64, bool)> {
        self.master
            .replicas(self.now)
            .into_iter()
            .map(|r| {
                let ip = match &r.ip_address {
                    Some(ip) => String::from_utf8_lossy(ip).into_owned(),
                    None => self
                        .peers
                        .get(&r.session)
                        .map_or_else(|| "?".to_owned(), ToString::to_string),
                };
                let online = matches!(r.phase, SessionPhase::Online | SessionPhase::AwaitFirstAck);
                (
                    ip,
                    r.listening_port.unwrap_or(0),
                    r.phase.info_state(),
                    r.ack_offset.get(),
                    secs(r.lag),
                    online,
                )
            })
            .collect()
    }

    /// The `# Replication` section.
    pub fn replication(&self) -> String {
        let mut out = String::from("# Replication\r\n");
        let m = self.master;
        let line = |out: &mut String, key: &str, value: &dyn std::fmt::Display| {
            let _ = write!(out, "{key}:{value}\r\n");
        };
        match self.upstream {
            None => line(&mut out, "role", &"master"),
            Some(up) => {
                let connected = up.state == LinkState::Connected;
                line(&mut out, "role", &"slave");
                line(&mut out, "master_host", &up.host);
                line(&mut out, "master_port", &up.port);
                line(
                    &mut out,
                    "master_link_status",
                    &if connected { "up" } else { "down" },
                );
                let last_io = match (connected, up.last_io) {
                    (true, Some(t)) => secs(self.now.saturating_duration_since(t)) as i64,
                    (true, None) => 0,
                    _ => -1,
                };
                line(&mut out, "master_last_io_seconds_ago", &last_io);
                line(
                    &mut out,
                    "master_sync_in_progress",
                    &u8::from(up.state == LinkState::Sync),
                );
                line(&mut out, "slave_read_repl_offset", &m.offset().get());
                line(&mut out, "slave_repl_offset", &m.offset().get());
                if !connected {
                    let down = up
                        .down_since
                        .map_or(-1, |t| secs(self.now.saturating_duration_since(t)) as i64);
                    line(&mut out, "master_link_down_since_seconds", &down);
                }
                line(&mut out, "slave_priority", &100);
                line(&mut out, "slave_read_only", &1);
                line(&mut out, "replica_announced", &1);
            }
        }
        let replicas = self.replicas();
        line(&mut out, "connected_slaves", &replicas.len());
        let config = m.config();
        if self.upstream.is_none()
            && config.min_replicas_to_write > 0
            && config.min_replicas_max_lag > 0
        {
            let good = replicas
                .iter()
                .filter(|r| r.5 && r.4 <= config.min_replicas_max_lag)
                .count();
            line(&mut out, "min_slaves_good_slaves", &good);
        }
        for (i, (ip, port, state, offset, lag, _)) in replicas.iter().enumerate() {
            let _ = write!(
                out,
                "slave{i}:ip={ip},port={port},state={state},offset={offset},lag={lag}\r\n"
            );
        }
        let ids = m.ids();
        line(&mut out, "master_failover_state", &"no-failover");
        line(&mut out, "master_replid", &ids.replid.as_str());
        line(&mut out, "master_replid2", &ids.replid2.as_str());
        line(&mut out, "master_repl_offset", &m.offset().get());
        line(
            &mut out,
            "second_repl_offset",
            &ids.second_replid_offset_signed(),
        );
        match m.backlog() {
            Some(backlog) => {
                let window = backlog.window();
                line(&mut out, "repl_backlog_active", &1);
                line(&mut out, "repl_backlog_size", &backlog.capacity());
                line(
                    &mut out,
                    "repl_backlog_first_byte_offset",
                    &window.first_offset,
                );
                line(&mut out, "repl_backlog_histlen", &window.histlen);
            }
            None => {
                line(&mut out, "repl_backlog_active", &0);
                line(&mut out, "repl_backlog_size", &config.backlog_size);
                line(&mut out, "repl_backlog_first_byte_offset", &0);
                line(&mut out, "repl_backlog_histlen", &0);
            }
        }
        out
    }

    fn server(&self) -> String {
        format!(
            "# Server\r\nredis_version:{REDIS_VERSION}\r\nreplctl_version:{}\r\nredis_mode:standalone\r\nprocess_id:{}\r\ntcp_port:{}\r\nuptime_in_seconds:{}\r\n",
            env!("CARGO_PKG_VERSION"),
            std::process::id(),
            self.port,
            secs(self.now.saturating_duration_since(self.started)),
        )
    }

    fn clients(&self) -> String {
        format!("# Clients\r\nconnected_clients:{}\r\n", self.clients)
    }

    fn stats(&self) -> String {
        let s = self.master.stats();
        format!(
            "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\nexpired_keys:{}\r\nsync_full:{}\r\nsync_partial_ok:{}\r\nsync_partial_err:{}\r\n",
            self.counters.connections,
            self.counters.commands,
            self.counters.expired_keys,
            s.full,
            s.partial_ok,
            s.partial_err,
        )
    }

    fn keyspace(&self) -> String {
        let mut out = String::from("# Keyspace\r\n");
        for db in 0..DATABASES {
            let keys = self.store.len(db);
            if keys > 0 {
                let _ = write!(
                    out,
                    "db{db}:keys={keys},expires={},avg_ttl=0\r\n",
                    self.store.expires(db)
                );
            }
        }
        out
    }

    /// `INFO [section ...]`: the named sections (all of them for none, `all`, `default` or
    /// `everything`), separated by blank lines; unknown sections add nothing.
    pub fn info(&self, sections: &[&[u8]]) -> String {
        const ALL: [&str; 5] = ["server", "clients", "stats", "replication", "keyspace"];
        let wanted: Vec<&str> = if sections.is_empty()
            || sections.iter().any(|s| {
                [&b"all"[..], b"default", b"everything"]
                    .iter()
                    .any(|a| s.eq_ignore_ascii_case(a))
            }) {
            ALL.to_vec()
        } else {
            ALL.iter()
                .copied()
                .filter(|name| {
                    sections
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(name.as_bytes()))
                })
                .collect()
        };
        wanted
            .iter()
            .map(|name| match *name {
                "server" => self.server(),
                "clients" => self.clients(),
                "stats" => self.stats(),
                "replication" => self.replication(),
                _ => self.keyspace(),
            })
            .collect::<Vec<_>>()
            .join("\r\n")
    }

    /// The `ROLE` reply.
    pub fn role(&self) -> BytesMut {
        let mut out = BytesMut::new();
        match self.upstream {
            None => {
                reply::push_array(&mut out, 3);
                reply::push_bulk(&mut out, b"master");
                reply::push_int(&mut out, self.master.offset().get() as i64);
                let online: Vec<_> = self.replicas().into_iter().filter(|r| r.5).collect();
                reply::push_array(&mut out, online.len());
                for (ip, port, _, offset, _, _) in online {
                    reply::push_array(&mut out, 3);
                    reply::push_bulk(&mut out, ip.as_bytes());
                    reply::push_bulk(&mut out, port.to_string().as_bytes());
                    reply::push_bulk(&mut out, offset.to_string().as_bytes());
                }
            }
            Some(up) => {
                reply::push_array(&mut out, 5);
                reply::push_bulk(&mut out, b"slave");
                reply::push_bulk(&mut out, up.host.as_bytes());
                reply::push_int(&mut out, i64::from(up.port));
                reply::push_bulk(&mut out, up.state.name().as_bytes());
                let offset = if up.state == LinkState::Connected {
                    self.master.offset().get() as i64
                } else {
                    -1
                };
                reply::push_int(&mut out, offset);
            }
        }
        out
    }
}
