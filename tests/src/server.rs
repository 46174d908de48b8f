//! A real `redis-server` process on a free loopback port, stopped on drop.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::{free_port, Client, Reply};

/// Environment variable naming the `redis-server` binary to use instead of the one in `PATH`.
const SERVER_ENV: &str = "REPLPROTO_REDIS_SERVER";
/// How long a server may take to start answering.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How many ports to try before giving up (another process may take a port we picked).
const START_ATTEMPTS: u32 = 5;

/// Distinguishes the temp dirs of the servers started by one test process.
static DIR_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A `redis-server` child process bound to `127.0.0.1` on a free port, with its own temp dir
/// (working dir and log file) and no persistence.
///
/// Dropping it kills the process and removes the temp dir, also when the test panicked; in that
/// case the server log is printed first to help the diagnosis.
#[derive(Debug)]
pub struct RedisServer {
    child: Child,
    port: u16,
    dir: PathBuf,
    password: Option<String>,
}

impl RedisServer {
    /// Starts the server named by `$REPLPROTO_REDIS_SERVER`, else `redis-server` from `PATH`,
    /// with `extra_args` appended to the harness's own (for example
    /// `&["--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"]`), and waits until
    /// it answers.
    ///
    /// # Panics
    ///
    /// Panics if the binary cannot be found (a missing server is a failure, never a skip), or if
    /// the server does not come up.
    pub fn start(extra_args: &[&str]) -> RedisServer {
        RedisServer::start_with(&RedisServer::default_binary(), extra_args)
    }

    /// The binary [`RedisServer::start`] runs: `$REPLPROTO_REDIS_SERVER`, else `redis-server`
    /// (looked up in `PATH`).
    pub fn default_binary() -> PathBuf {
        std::env::var_os(SERVER_ENV)
            .unwrap_or_else(|| "redis-server".into())
            .into()
    }

    /// Like [`RedisServer::start`], with an explicit server binary (for example another Redis
    /// version).
    ///
    /// # Panics
    ///
    /// As [`RedisServer::start`].
    pub fn start_with(binary: &Path, extra_args: &[&str]) -> RedisServer {
        RedisServer::start_with_files(binary, &[], extra_args)
    }

    /// Like [`RedisServer::start_with`], with `files` (name, contents) written into the
    /// server's dir before it starts, for example a `dump.rdb` for it to load.
    ///
    /// # Panics
    ///
    /// As [`RedisServer::start`], and if a file cannot be written.
    pub fn start_with_files(
        binary: &Path,
        files: &[(&str, &[u8])],
        extra_args: &[&str],
    ) -> RedisServer {
        let dir = std::env::temp_dir().join(format!(
            "replproto-e2e-{}-{}",
            std::process::id(),
            DIR_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        for (name, contents) in files {
            let path = dir.join(name);
            fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        }
        let password = extra_args
            .iter()
            .position(|a| *a == "--requirepass")
            .and_then(|i| extra_args.get(i + 1))
            .map(|p| p.to_string());

        let log_path = dir.join("redis.log");
        let mut last_log = String::new();
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            let mut child = match spawn(binary, port, &dir, extra_args) {
                Ok(child) => child,
                Err(e) => {
                    let _ = fs::remove_dir_all(&dir);
                    match e.kind() {
                        io::ErrorKind::NotFound => panic!(
                            "{} not found: install redis-server (scripts/test does) or set {SERVER_ENV}",
                            binary.display()
                        ),
                        _ => panic!("spawn {}: {e}", binary.display()),
                    }
                }
            };
            if wait_ready(&mut child, port, password.as_deref()) {
                return RedisServer {
                    child,
                    port,
                    dir,
                    password,
                };
            }
            // Most likely another process took the port meanwhile: retry with a fresh log.
            let _ = child.kill();
            let _ = child.wait();
            last_log = fs::read_to_string(&log_path).unwrap_or_default();
            let _ = fs::remove_file(&log_path);
        }
        let _ = fs::remove_dir_all(&dir);
        panic!(
            "{} did not start after {START_ATTEMPTS} attempts; last log:\n{last_log}",
            binary.display()
        );
    }

    /// The TCP port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address the server listens on (`127.0.0.1:<port>`).
    pub fn addr(&self) -> SocketAddr {
        (Ipv4Addr::LOCALHOST, self.port).into()
    }

    /// The server's temp dir (its `--dir`, holding `redis.log`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The current contents of the server's log file.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// A new [`Client`] connected to this server, authenticated when the server was started
    /// with `--requirepass`.
    pub fn client(&self) -> Client {
        let mut client = Client::connect(self.addr());
        if let Some(password) = &self.password {
            client.auth(password);
        }
        client
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("redis.log")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!(
                "--- log of redis-server on port {} ---\n{}--- end of log ---",
                self.port,
                self.log()
            );
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Polls `port` until the server answers as this very process (`INFO server` reports the
/// child's `process_id`, so another server that took the port is not mistaken for ours);
/// `false` if the process exits or the start deadline passes first.
fn wait_ready(child: &mut Child, port: u16, password: Option<&str>) -> bool {
    let deadline = Instant::now() + START_TIMEOUT;
    let pid_line = format!("process_id:{}\r\n", child.id());
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return false;
        }
        let answer = Client::try_connect((Ipv4Addr::LOCALHOST, port)).and_then(|mut client| {
            if let Some(password) = password {
                client.try_cmd_bytes(&[b"AUTH", password.as_bytes()])?;
            }
            client.try_cmd_bytes(&[b"INFO", b"server"])
        });
        if let Ok(Reply::Bulk(Some(info))) = answer {
            if String::from_utf8_lossy(&info).contains(&pid_line) {
                return true;
            }
        }
        thread::sleep(Duration::from_millis(10));
    }
    false
}

/// Spawns the server process with the harness's fixed options followed by `extra_args`.
fn spawn(binary: &Path, port: u16, dir: &Path, extra_args: &[&str]) -> io::Result<Child> {
    let mut args: Vec<OsString> = [
        "--bind",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    args.extend([
        "--logfile".into(),
        dir.join("redis.log").into_os_string(),
        "--dir".into(),
        dir.as_os_str().to_owned(),
    ]);
    args.extend(extra_args.iter().map(OsString::from));
    Command::new(binary)
        .args(&args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
}
