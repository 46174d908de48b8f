//! `replctl`: the command-line tool of `replproto`. Each subcommand lives in its own module of
//! the library; this file parses the command line, sets up logging and the runtime, and turns
//! failures into one line and an exit code.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{Args, Parser, Subcommand};
use replctl::config::{clock_seed, parse_size, parse_yes_no, ServerConfig};
use replctl::error::{check_addr, CliError};
use replctl::output::Format;
use replctl::probe::ProbeOptions;
use replctl::tail::TailOptions;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Tools around the Redis replication protocol.
#[derive(Debug, Parser)]
#[command(name = "replctl", version, about)]
struct Cli {
    /// More logs on stderr: -v for each replication step, -vv for every handshake reply
    /// (RUST_LOG, e.g. RUST_LOG=debug, overrides it).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// A master and a replica in one process, narrated: handshake, full sync, writes, a cut
    /// link, +CONTINUE.
    ///
    /// Starts the reference master on a free loopback port and a replica that follows it
    /// through a proxy able to cut the link, writes a few keys, and shows each step with the
    /// real protocol lines and offsets. Needs no external server; takes about a second.
    Demo,
    Tail(Tail),
    Probe(Probe),
    /// Run a node that real Redis replicas (and redis-cli --replica / --rdb) can follow.
    Serve(Serve),
}

/// Follow a master as a replica: save its snapshot, then print every propagated command to
/// stdout, one per line.
///
/// Formats (--format):
///   text  as redis-cli --replica prints: "SET","k","v" (Redis's quoting: \" \\ \n \r \t \a \b,
///         other bytes outside printable ASCII as \xHH)
///   resp  the bytes of the stream as received, offsets exact (keepalives between commands,
///         which masters practically never send, come out as that many newlines)
///   json  {"offset":N,"db":N,"cmd":["SET","k","v"]}: offset is the stream offset of the
///         command's last byte. Strings hold one character per byte: printable ASCII as itself
///         (\" and \\ escaped), every other byte as \u00XX, so reading a string as Latin-1
///         gives back the exact bytes (Python: s.encode("latin-1")).
///
/// Every command is printed, the master's keepalive "ping" included, as redis-cli does.
///
/// With --state FILE, stopping (Ctrl-C, SIGTERM) and starting again resumes with +CONTINUE and
/// prints each command exactly once across the runs. Each line is written and flushed, then
/// the state file is updated, then the command is acknowledged to the master. After a SIGKILL
/// or a crash the next run may print the last line once more (written, state not yet updated);
/// it never skips one. A master that can no longer resume sends a new snapshot. Without
/// --state, output is written in blocks, whenever the input runs dry, and a command is
/// acknowledged once its block is written.
///
/// Link losses are retried every second, resuming with PSYNC. An unreachable master at start,
/// a refused authentication or an unusable state file end the run with one line and exit
/// code 1.
#[derive(Debug, Args)]
#[command(
    verbatim_doc_comment,
    about = "Follow a master as a replica: save its snapshot, then print every propagated command"
)]
struct Tail {
    /// The master, as HOST:PORT.
    #[arg(value_name = "HOST:PORT", value_parser = check_addr)]
    addr: String,
    /// Output format: text, resp or json.
    #[arg(long, value_name = "FORMAT", default_value = "text", value_parser = Format::parse)]
    format: Format,
    /// Save the snapshot here (written to FILE.tmp, renamed once complete and checked).
    #[arg(long, value_name = "FILE")]
    rdb_out: Option<PathBuf>,
    /// Keep the resume point here, to continue where the last run stopped.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    #[command(flatten)]
    auth: AuthArgs,
}

/// Run only the replica handshake against a server and report what it speaks.
///
/// It shows the replies to PING, AUTH and REPLCONF, whether PSYNC is supported (with the
/// replication id and offset), and the snapshot framing the server would use ($<len>: written
/// to disk first; $EOF: diskless). The connection closes at the snapshot header: nothing is
/// downloaded, but the server starts producing a snapshot as it would for any new replica.
///
/// Exits with code 1 and one line when the server cannot be reached or refuses a step.
#[derive(Debug, Args)]
struct Probe {
    /// The server, as HOST:PORT.
    #[arg(value_name = "HOST:PORT", value_parser = check_addr)]
    addr: String,
    /// Seconds to wait for the connection and for each reply.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    timeout: u64,
    #[command(flatten)]
    auth: AuthArgs,
}

/// How the tool introduces itself to a master.
#[derive(Debug, Args)]
struct AuthArgs {
    /// ACL user to authenticate as (Redis 6+).
    #[arg(long, value_name = "USER")]
    user: Option<String>,
    /// Password to authenticate with (default: the REDISCLI_AUTH environment variable).
    #[arg(long, value_name = "PASSWORD")]
    password: Option<String>,
    /// Port to announce with REPLCONF listening-port (shown by the master in INFO and ROLE).
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    announce_port: u16,
}

impl AuthArgs {
    fn password(&self) -> Option<String> {
        self.password.clone().or_else(|| {
            std::env::var("REDISCLI_AUTH")
                .ok()
                .filter(|p| !p.is_empty())
        })
    }
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
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    init_logs(cli.verbose);
    match cli.command {
        Command::Serve(serve) => serve_main(serve),
        Command::Demo => run(async {
            let mut out = std::io::stdout().lock();
            replctl::demo::run(&mut out).await.map(|_| ())
        }),
        Command::Tail(tail) => {
            let options = TailOptions {
                format: tail.format,
                rdb_out: tail.rdb_out,
                state: tail.state,
                user: tail.auth.user.clone(),
                password: tail.auth.password(),
                announce_port: tail.auth.announce_port,
                progress: std::io::stderr().is_terminal(),
                ..TailOptions::new(tail.addr)
            };
            run(async {
                let out = std::io::stdout().lock();
                replctl::tail::tail(options, out, stop_signal())
                    .await
                    .map(|_| ())
            })
        }
        Command::Probe(probe) => {
            if probe.timeout == 0 {
                return fail(&CliError::new(
                    "invalid --timeout 0: give at least 1 second",
                ));
            }
            let options = ProbeOptions {
                user: probe.auth.user.clone(),
                password: probe.auth.password(),
                announce_port: probe.auth.announce_port,
                timeout: Duration::from_secs(probe.timeout),
                ..ProbeOptions::new(probe.addr)
            };
            run(async {
                let mut out = std::io::stdout().lock();
                replctl::probe::probe(&options, &mut out).await.map(|_| ())
            })
        }
    }
}

/// Runs a subcommand on a single-threaded runtime: exit code 0, or its error on one line and 1.
fn run(task: impl std::future::Future<Output = Result<(), CliError>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(&CliError::new(format!("cannot start the runtime: {e}"))),
    };
    match runtime.block_on(task) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(error: &CliError) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::FAILURE
}

/// Completes on Ctrl-C (SIGINT) or, on Unix, SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Logs to stderr: warnings by default, more with -v, or what RUST_LOG says.
fn init_logs(verbose: u8) {
    let level = match verbose {
        0 => LevelFilter::WARN,
        1 => LevelFilter::INFO,
        2 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|spec| spec.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(level));
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .without_time();
    let _ = tracing_subscriber::registry()
        .with(layer)
        .with(filter)
        .try_init();
}

/// A command line clap refused, as one line (help and version print as usual).
fn usage_error(error: &clap::Error) -> ExitCode {
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = error.print();
        return if error.use_stderr() {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        };
    }
    let text = error.to_string();
    let mut parts: Vec<&str> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        if !line.is_empty() {
            parts.push(line.strip_prefix("error: ").unwrap_or(line));
        }
    }
    let subcommand = std::env::args()
        .skip(1)
        .find(|a| ["demo", "tail", "probe", "serve"].contains(&a.as_str()));
    let help = match subcommand {
        Some(name) => format!("replctl {name} --help"),
        None => "replctl --help".into(),
    };
    eprintln!("error: {} (see '{help}')", parts.join("; "));
    ExitCode::from(2)
}

fn serve_main(serve: Serve) -> ExitCode {
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
