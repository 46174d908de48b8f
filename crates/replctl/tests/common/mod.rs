//! Running the built `replctl` binary in tests: its output collected as it comes, the process
//! killed on drop.

#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use bytes::BytesMut;

pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The binary under test.
pub fn replctl() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_replctl"));
    command.env_remove("REDISCLI_AUTH").env_remove("RUST_LOG");
    command
}

/// Runs `replctl args…` to completion.
pub fn run(args: &[&str]) -> Output {
    replctl()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run replctl")
}

/// Asserts that a failed run printed exactly one line on stderr, containing each of `parts`,
/// nothing on stdout, and exited with `code`.
pub fn assert_one_line_error(output: &Output, code: i32, parts: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(code), "stderr: {stderr}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "one line on stderr, got: {stderr:?}"
    );
    assert!(stderr.starts_with("error: "), "{stderr:?}");
    for part in parts {
        assert!(stderr.contains(part), "{stderr:?} should contain {part:?}");
    }
    stderr
}

/// The RESP encoding of a command, as a client sends it.
pub fn resp(args: &[&[u8]]) -> Vec<u8> {
    let mut out = BytesMut::new();
    replproto::resp::encode_command(&mut out, args);
    out.into()
}

/// A scratch directory, removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "replctl-{name}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temp dir");
        TempDir(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `replctl`, its stdout and stderr collected; killed on drop.
#[derive(Debug)]
pub struct Running {
    child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// The threads reading stdout and stderr, until the pipes close.
    collectors: Vec<JoinHandle<()>>,
}

fn collect(mut stream: impl Read + Send + 'static, into: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => into.lock().unwrap().extend_from_slice(&buf[..n]),
            }
        }
    })
}

impl Running {
    pub fn start(args: &[&str]) -> Running {
        Running::start_with(replctl(), args)
    }

    pub fn start_with(mut command: Command, args: &[&str]) -> Running {
        let mut child = command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start replctl");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let collectors = vec![
            collect(child.stdout.take().unwrap(), Arc::clone(&stdout)),
            collect(child.stderr.take().unwrap(), Arc::clone(&stderr)),
        ];
        Running {
            child,
            stdout,
            stderr,
            collectors,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stdout(&self) -> Vec<u8> {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8(self.stdout()).expect("UTF-8 output")
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Waits until stdout satisfies `done`.
    pub fn wait_stdout(&self, what: &str, mut done: impl FnMut(&[u8]) -> bool) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if done(&self.stdout.lock().unwrap()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; stdout so far:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&self.stdout()),
                self.stderr_text()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends `signal` (a `kill` name such as `KILL` or `INT`).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits for the process to end, and for everything it wrote to be collected; its exit
    /// status.
    pub fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for replctl") {
                // The pipes are closed with the process: the collectors end once they read
                // what is left.
                for collector in self.collectors.drain(..) {
                    collector.join().expect("collect the output");
                }
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "replctl did not exit; stderr:\n{}",
                self.stderr_text()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The path as a `&str` argument.
pub fn arg(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temp path")
}
