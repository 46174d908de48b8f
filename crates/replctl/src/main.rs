//! `replctl`: run a reference replication node (`serve`).

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use replctl::config::{clock_seed, parse_size, parse_yes_no, ServerConfig};

/// Tools around the Redis replication protocol.
#[derive(Debug, Parser)]
#[command(name = "replctl", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a node that real Redis replicas (and redis-cli --replica / --rdb) can follow.
    Serve(Serve),
}

#[derive(Debug, Args)]
struct Serve {
    /// TCP port to listen on.
    #[arg(long)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: std::net::IpAddr,
    /// Password clients must AUTH with (user "default").
    #[arg(long, value_name = "PASSWORD")]
    requirepass: Option<String>,
    /// Password to AUTH with at this node's own master (with --replicaof).
    #[arg(long, value_name = "PASSWORD")]
    masterauth: Option<String>,
    /// Replication backlog size: bytes, or with a unit such as 16kb, 1mb (at least 16kb).
    #[arg(long, value_name = "SIZE", default_value = "1mb", value_parser = parse_size)]
    backlog_size: usize,
    /// Refuse writes unless this many replicas acknowledged recently (0 = off).
    #[arg(long, value_name = "N", default_value_t = 0)]
    min_replicas_to_write: usize,
    /// A replica counts for --min-replicas-to-write if it acknowledged within this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    min_replicas_max_lag: u64,
    /// Send snapshots diskless ($EOF: framing) to replicas that support it.
    #[arg(
        long,
        value_name = "yes|no",
        default_value = "yes",
        action = clap::ArgAction::Set,
        value_parser = parse_yes_no
    )]
    repl_diskless_sync: bool,
    /// Seconds without traffic after which a replication link is dropped.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    repl_timeout: u64,
    /// Start as a replica of this master.
    #[arg(long, num_args = 2, value_names = ["HOST", "PORT"])]
    replicaof: Option<Vec<String>>,
    /// Print nothing but errors.
    #[arg(long)]
    quiet: bool,
}

impl Serve {
    fn config(self) -> Result<ServerConfig, String> {
        let replicaof = match self.replicaof {
            None => None,
            Some(words) => {
                let port = words[1].parse::<u16>().map_err(|_| {
                    format!(
                        "invalid --replicaof port {:?}: give a host and a port from 0 to 65535, e.g. --replicaof 127.0.0.1 6379",
                        words[1]
                    )
                })?;
                Some((words[0].clone(), port))
            }
        };
        if self.repl_timeout == 0 {
            return Err("invalid --repl-timeout 0: give at least 1 second".into());
        }
        let mut config = ServerConfig::new(self.port);
        config.bind = self.bind;
        config.requirepass = self.requirepass;
        config.masterauth = self.masterauth;
        config.backlog_size = self.backlog_size;
        config.min_replicas_to_write = self.min_replicas_to_write;
        config.min_replicas_max_lag = self.min_replicas_max_lag;
        config.diskless_sync = self.repl_diskless_sync;
        config.repl_timeout = Duration::from_secs(self.repl_timeout);
        config.replicaof = replicaof;
        // Replication ids must differ between runs and between nodes.
        config.seed = clock_seed();
        config.log = !self.quiet;
        Ok(config)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(serve) => {
            let config = match serve.config() {
                Ok(config) => config,
                Err(message) => {
                    eprintln!("error: {message}");
                    return ExitCode::from(2);
                }
            };
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    eprintln!("error: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let (bind, port) = (config.bind, config.port);
            let result = runtime.block_on(replctl::server::serve(config, async {
                let _ = tokio::signal::ctrl_c().await;
            }));
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: cannot listen on {bind}:{port}: {e} (is the port in use? pick another with --port)");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
