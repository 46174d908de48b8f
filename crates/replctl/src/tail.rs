//! `replctl tail`: follow a master as a replica and print every propagated command.
//!
//! The follower is [`replproto_tokio::Follower`]; every protocol decision (the handshake, what
//! to ask `PSYNC` for, offsets, transactions, ACKs) is the core's. This module decides what
//! to print and what to keep on disk:
//!
//! - with `--rdb-out FILE`, the snapshot is written to `FILE.tmp` and renamed to `FILE` at its
//!   end (after the core checked its CRC-64);
//! - commands are rendered into a buffer, written to the output and flushed in one piece,
//!   **then** the state file is updated (one write of a fixed-size record, see
//!   [`crate::state`]), **then** the last of them is acknowledged to the master
//!   ([`AckMode::Manual`]): the master never counts a command that is not printed. Without a
//!   state file the buffer is written whenever the input runs dry (no decoded command is
//!   waiting and the socket has nothing more to read) or holds [`BATCH_BYTES`], so a busy
//!   stream costs one write call per socket read rather than one per command; with a state
//!   file each command is written, then recorded, on its own (see the guarantee below);
//! - the state file holds the checkpoint to resume from and the offset of the last command
//!   written; a restarted `tail` asks `PSYNC` for that checkpoint and does not print again the
//!   commands up to the written offset.
//!
//! Guarantee: across any number of runs sharing a state file, stopped by Ctrl-C, SIGTERM, a
//! lost link, a closed output or the master going away, every command is printed exactly
//! once, as long as the master can still resume (`+CONTINUE`). Killed with SIGKILL (or a
//! crash of the process), the one command whose line was being written when the signal came
//! may be printed again by the next run: its line was written but the state not yet updated
//! (a line longer than the pipe's atomic size may also be cut short before its full copy).
//! No command is ever skipped. A power loss can additionally roll the state back to the last
//! full sync or clean stop (updates are not flushed to disk one by one), which again repeats
//! lines and never skips one. When the master answers a resume with `+FULLRESYNC` (its
//! backlog no longer holds what was missed), the new snapshot replaces everything and printing
//! goes on after it.

use std::fs;
use std::future::Future;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use crate::credentials::with_credentials;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use replproto::rdb::ChecksumStatus;
use replproto::replica::{
    AckMode, CloseReason, Command, Event, HandshakeCommand, ReplicaConfig, SnapshotFraming,
};
use replproto::{Checkpoint, Offset};
use replproto_tokio::Follower;
use tracing::{debug, info, warn};

use crate::error::{connect_error, refused, CliError};
use crate::output::Format;
use crate::state::{sync_parent, temp_path, StateFile, TailState};

/// Output buffered before it is written even though more input is ready (a busy stream whose
/// socket never runs dry still reaches the output in pieces of this size).
pub const BATCH_BYTES: usize = 256 * 1024;

/// The capacity the output buffer is given and kept at: a batch is written once it reaches
/// [`BATCH_BYTES`], so it holds that much plus the rendering of the command that crossed it.
const PENDING_CAPACITY: usize = BATCH_BYTES + 64 * 1024;

/// What `replctl tail` is asked to do.
#[derive(Debug, Clone)]
pub struct TailOptions {
    /// The master, `host:port`.
    pub addr: String,
    /// How commands are printed.
    pub format: Format,
    /// Where to save the snapshot.
    pub rdb_out: Option<PathBuf>,
    /// Where to keep the resume point.
    pub state: Option<PathBuf>,
    /// ACL user for `AUTH`.
    pub user: Option<String>,
    /// Password for `AUTH`.
    pub password: Option<String>,
    /// Port announced with `REPLCONF listening-port`.
    pub announce_port: u16,
    /// Draw a progress bar on stderr during the snapshot.
    pub progress: bool,
    /// Pause between two connection attempts.
    pub reconnect_delay: Duration,
    /// Bound on establishing a connection.
    pub connect_timeout: Duration,
}

impl TailOptions {
    /// Defaults for following `addr`: text output, no files, no progress bar.
    pub fn new(addr: impl Into<String>) -> TailOptions {
        TailOptions {
            addr: addr.into(),
            format: Format::Text,
            rdb_out: None,
            state: None,
            user: None,
            password: None,
            announce_port: 0,
            progress: false,
            reconnect_delay: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(5),
        }
    }

    fn replica_config(&self) -> ReplicaConfig {
        let config = ReplicaConfig::new(self.announce_port).with_ack_mode(AckMode::Manual);
        with_credentials(config, self.user.as_deref(), self.password.as_deref())
    }
}

/// What a run of `tail` did, for tests and the final log line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TailSummary {
    /// Commands written to the output.
    pub printed: u64,
    /// Commands received again after a resume and not printed twice.
    pub skipped: u64,
    /// Full syncs received.
    pub full_syncs: u64,
    /// Resumes with `+CONTINUE`.
    pub partial_syncs: u64,
    /// The state saved last.
    pub state: Option<TailState>,
}

/// Follows the master until `shutdown` completes (then saves the state and returns), the
/// output is closed, or the master refuses the link.
///
/// # Errors
///
/// One line for people: the master unreachable at the first attempt, a refused
/// authentication, an unusable state file or snapshot file, an output that cannot be written.
pub async fn tail<W: Write>(
    options: TailOptions,
    out: W,
    shutdown: impl Future<Output = ()>,
) -> Result<TailSummary, CliError> {
    let state_file = options.state.as_ref().map(StateFile::new);
    let saved = match &state_file {
        Some(file) => file.load()?,
        None => None,
    };
    if let Some(rdb) = &options.rdb_out {
        check_writable(rdb)?;
    }
    match &saved {
        Some(state) => info!(
            "resuming from {}: replid {}, offset {}, db {} (output up to offset {})",
            state_file
                .as_ref()
                .map_or(Path::new(""), |f| f.path())
                .display(),
            state.checkpoint.replid,
            state.checkpoint.offset,
            state.checkpoint.db,
            state.written
        ),
        None => info!("no saved state: starting with a full sync"),
    }
    let follower = Follower::new(options.addr.clone(), options.replica_config())
        .with_checkpoint(saved.map(|s| s.checkpoint))
        .with_reconnect_delay(options.reconnect_delay)
        .with_connect_timeout(options.connect_timeout);
    let mut run = Run {
        options,
        out,
        pending: Vec::with_capacity(PENDING_CAPACITY),
        batch: Batch::default(),
        state_file,
        saved,
        written: saved.map(|s| s.written),
        legacy: false,
        snapshot: None,
        connected: false,
        summary: TailSummary::default(),
    };
    run.summary.state = saved;
    let result = run.follow(follower, shutdown).await;
    run.abandon_snapshot();
    // Whatever stopped the run, the state on disk is the last consistent one; make it durable.
    if let Some(file) = &mut run.state_file {
        file.sync()?;
    }
    result?;
    info!(
        "stopped: {} commands printed, {} already printed before",
        run.summary.printed, run.summary.skipped
    );
    Ok(run.summary)
}

/// The state of one `tail` run.
struct Run<W> {
    options: TailOptions,
    out: W,
    /// The rendering of the commands of `batch`, not written yet.
    pending: Vec<u8>,
    /// The commands handled since the output was last written.
    batch: Batch,
    state_file: Option<StateFile>,
    /// The state last stored (or loaded).
    saved: Option<TailState>,
    /// The offset of the last command written to the output, in the current history.
    written: Option<Offset>,
    /// `PSYNC` was refused and `SYNC` sent on this link.
    legacy: bool,
    snapshot: Option<Snapshot>,
    /// Whether a connection ever succeeded.
    connected: bool,
    summary: TailSummary,
}

/// The commands handled since the last [`Run::commit`]: rendered into `Run::pending` (or
/// skipped, when an earlier run printed them), neither recorded nor acknowledged yet.
#[derive(Debug, Default)]
struct Batch {
    /// Commands rendered.
    printed: u64,
    /// The offset of the last command handled, rendered or skipped.
    last: Option<Offset>,
    /// The link's checkpoint once the last command was handed out.
    checkpoint: Option<Checkpoint>,
}

/// Why following stopped without an error.
enum Stop {
    Shutdown,
    OutputClosed,
}

impl<W: Write> Run<W> {
    async fn follow(
        &mut self,
        mut follower: Follower,
        shutdown: impl Future<Output = ()>,
    ) -> Result<Stop, CliError> {
        tokio::pin!(shutdown);
        // Whether the last event was a command: the next one is then taken if it is ready,
        // without writing the output first.
        let mut streaming = false;
        loop {
            let ready = if streaming {
                ready_event(&mut follower).await
            } else {
                None
            };
            let event = match ready {
                Some(event) => event,
                None => {
                    // The input ran dry: what was rendered goes out, is recorded and
                    // acknowledged before waiting. A shutdown is seen only here, so it lands
                    // between two batches, with everything printed also saved.
                    if let Some(stop) = self.commit(&mut follower)? {
                        return Ok(stop);
                    }
                    tokio::select! {
                        biased;
                        () = &mut shutdown => return Ok(Stop::Shutdown),
                        event = follower.next_event() => event,
                    }
                }
            };
            let event = match event {
                Ok(event) => event,
                Err(e) if !self.connected => {
                    return Err(connect_error(
                        &self.options.addr,
                        &e,
                        self.options.connect_timeout,
                    ))
                }
                Err(e) => {
                    streaming = false;
                    warn!("cannot reconnect to {}: {e}; retrying", self.options.addr);
                    continue;
                }
            };
            self.connected = true;
            if let Event::Command(cmd) = &event {
                streaming = true;
                self.on_command(cmd, &follower);
                // With a state file every command is recorded as soon as it is printed, so a
                // SIGKILL repeats at most one line.
                if self.state_file.is_some() || self.pending.len() >= BATCH_BYTES {
                    if let Some(stop) = self.commit(&mut follower)? {
                        return Ok(stop);
                    }
                }
                continue;
            }
            streaming = false;
            // Anything else is handled once the commands before it are out and recorded.
            if let Some(stop) = self.commit(&mut follower)? {
                return Ok(stop);
            }
            if let Some(stop) = self.on_event(event, &mut follower)? {
                return Ok(stop);
            }
        }
    }

    fn on_event(
        &mut self,
        event: Event,
        follower: &mut Follower,
    ) -> Result<Option<Stop>, CliError> {
        match event {
            Event::HandshakeReply { command, reply } => {
                let reply = String::from_utf8_lossy(&reply);
                if command == HandshakeCommand::Psync {
                    info!("PSYNC answered: {reply}");
                } else {
                    debug!("{command:?} answered: {reply}");
                }
            }
            Event::FullResync { replid, offset } => {
                info!("full sync: master history {replid}, snapshot at offset {offset}");
            }
            Event::LegacySync { reply } => {
                info!(
                    "PSYNC answered with an error ({}): falling back to SYNC",
                    String::from_utf8_lossy(&reply)
                );
                self.legacy = true;
            }
            Event::SnapshotBegin { framing } => {
                if std::mem::take(&mut self.legacy) {
                    warn!("the master does not support PSYNC: following with SYNC, which cannot resume after a lost link");
                }
                self.snapshot = Some(Snapshot::begin(
                    framing,
                    self.options.rdb_out.as_deref(),
                    self.options.progress,
                )?);
            }
            Event::SnapshotChunk(chunk) => {
                if let Some(snapshot) = &mut self.snapshot {
                    snapshot.write(&chunk)?;
                }
            }
            Event::SnapshotEnd { size, checksum, db } => {
                if let Some(snapshot) = self.snapshot.take() {
                    snapshot.finish(size, checksum)?;
                }
                self.summary.full_syncs += 1;
                // The data is replaced: output starts over after the snapshot, whose history
                // the link's checkpoint now holds (none for a SYNC link).
                let checkpoint = follower.checkpoint();
                self.written = checkpoint.map(|c| c.offset);
                match checkpoint {
                    Some(checkpoint) => self.save(
                        TailState {
                            checkpoint,
                            written: checkpoint.offset,
                        },
                        true,
                    )?,
                    None => {
                        // A SYNC link cannot be resumed: nothing to keep.
                        if let Some(file) = &mut self.state_file {
                            file.remove()?;
                        }
                        self.saved = None;
                    }
                }
                info!("streaming commands from db {db}");
            }
            Event::PartialResync {
                replid,
                previous_replid,
                offset,
            } => {
                self.summary.partial_syncs += 1;
                match previous_replid {
                    Some(previous) => info!(
                        "resumed with +CONTINUE after offset {offset}; the master's history moved from {previous} to {replid}"
                    ),
                    None => info!("resumed with +CONTINUE after offset {offset}"),
                }
            }
            Event::Closed(reason) => {
                self.abandon_snapshot();
                self.legacy = false;
                if let (false, CloseReason::Refused { phase, reply }) =
                    (reason.is_retryable(), &reason)
                {
                    return Err(refused(&self.options.addr, *phase, reply));
                }
                match reason {
                    CloseReason::Protocol(e) => warn!(
                        "link to {} ended on a protocol error ({e}); reconnecting for a full sync",
                        self.options.addr
                    ),
                    other => warn!("link to {} lost: {other}; reconnecting", self.options.addr),
                }
            }
            other => debug!("{other:?}"),
        }
        Ok(None)
    }

    /// Renders a command into the batch unless an earlier run printed it.
    fn on_command(&mut self, cmd: &Command, follower: &Follower) {
        if self.written.is_some_and(|written| cmd.offset <= written) {
            self.summary.skipped += 1;
        } else {
            self.options.format.render(cmd, &mut self.pending);
            self.batch.printed += 1;
        }
        self.batch.last = Some(cmd.offset);
        // The checkpoint follows what was handed out (it stays before an open MULTI, whose
        // commands `written` keeps from being printed twice after a restart).
        self.batch.checkpoint = follower.checkpoint();
    }

    /// Writes and flushes the batch's output, **then** saves the state, **then** acknowledges
    /// its last command. Nothing to do for an empty batch.
    fn commit(&mut self, follower: &mut Follower) -> Result<Option<Stop>, CliError> {
        let Some(last) = self.batch.last else {
            return Ok(None);
        };
        if !self.pending.is_empty() {
            let written = self
                .out
                .write_all(&self.pending)
                .and_then(|()| self.out.flush());
            match written {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                    debug!("the output was closed");
                    return Ok(Some(Stop::OutputClosed));
                }
                Err(e) => return Err(CliError::new(format!("cannot write the output: {e}"))),
            }
            self.pending.clear();
            if self.pending.capacity() > 4 * BATCH_BYTES {
                // One huge command passed: do not keep its memory.
                self.pending.shrink_to(PENDING_CAPACITY);
            }
        }
        let batch = std::mem::take(&mut self.batch);
        self.summary.printed += batch.printed;
        // Skipped commands are at or before `written` and printed ones after it: the batch's
        // last command is the new `written` exactly when the batch printed one.
        self.written = self.written.map(|written| written.max(last));
        if let (Some(written), Some(checkpoint)) = (self.written, batch.checkpoint) {
            self.save(
                TailState {
                    checkpoint,
                    written,
                },
                false,
            )?;
        }
        if let Some(replica) = follower.replica_mut() {
            replica.acknowledge(last);
        }
        Ok(None)
    }

    /// Records `state`: in place after a command, or as a new file made durable (`fresh`,
    /// after a full sync).
    fn save(&mut self, state: TailState, fresh: bool) -> Result<(), CliError> {
        if let Some(file) = &mut self.state_file {
            if fresh {
                file.store(&state)?;
            } else if self.saved != Some(state) {
                file.update(&state)?;
            }
        }
        self.saved = Some(state);
        self.summary.state = Some(state);
        Ok(())
    }

    fn abandon_snapshot(&mut self) {
        if let Some(snapshot) = self.snapshot.take() {
            snapshot.abandon();
        }
    }
}

/// The follower's next event if it is at hand: already decoded, or decodable from bytes the
/// socket holds, without waiting. `None` when getting one would wait (for the master, for the
/// socket to take an ACK, or for the task's cooperative budget). Dropping the unfinished
/// `next_event` is safe: it is cancel-safe, and only ever called here on a live link (after a
/// command), so it never starts a connection attempt it would abandon.
async fn ready_event(follower: &mut Follower) -> Option<io::Result<Event>> {
    std::future::poll_fn(|cx| match pin!(follower.next_event()).poll(cx) {
        Poll::Ready(event) => Poll::Ready(Some(event)),
        Poll::Pending => Poll::Ready(None),
    })
    .await
}

/// Fails early, with a clear line, when the snapshot file cannot be created.
fn check_writable(path: &Path) -> Result<(), CliError> {
    let temp = temp_path(path);
    fs::File::create(&temp)
        .and_then(|_| fs::remove_file(&temp))
        .map_err(|e| create_error(path, &e))
}

/// A snapshot being received: its file (if saved) and its progress bar.
struct Snapshot {
    file: Option<(BufWriter<fs::File>, PathBuf, PathBuf)>,
    bar: ProgressBar,
}

impl Snapshot {
    fn begin(
        framing: SnapshotFraming,
        rdb_out: Option<&Path>,
        progress: bool,
    ) -> Result<Snapshot, CliError> {
        let target = if progress {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = match framing {
            SnapshotFraming::Length(len) => {
                info!("snapshot of {len} bytes ($<len> framing: written to disk first)");
                let bar = ProgressBar::with_draw_target(Some(len), target);
                bar.set_style(
                    ProgressStyle::with_template(
                        "snapshot [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                bar
            }
            SnapshotFraming::EofMark => {
                info!("snapshot of unknown size ($EOF: framing: diskless)");
                let bar = ProgressBar::with_draw_target(None, target);
                bar.set_style(
                    ProgressStyle::with_template(
                        "snapshot {spinner} {bytes} {binary_bytes_per_sec} (diskless: size unknown)",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar
            }
        };
        let file = match rdb_out {
            Some(path) => {
                let temp = temp_path(path);
                let file = fs::File::create(&temp).map_err(|e| create_error(&temp, &e))?;
                Some((
                    BufWriter::with_capacity(256 * 1024, file),
                    temp,
                    path.to_path_buf(),
                ))
            }
            None => None,
        };
        Ok(Snapshot { file, bar })
    }

    fn write(&mut self, chunk: &[u8]) -> Result<(), CliError> {
        if let Some((file, temp, _)) = &mut self.file {
            file.write_all(chunk).map_err(|e| write_error(temp, &e))?;
        }
        self.bar.inc(chunk.len() as u64);
        Ok(())
    }

    fn finish(self, size: u64, checksum: ChecksumStatus) -> Result<(), CliError> {
        self.bar.finish_and_clear();
        let checked = match checksum {
            ChecksumStatus::Verified => "CRC-64 verified",
            ChecksumStatus::NotComputed => "no CRC-64 computed by the master",
            ChecksumStatus::Absent => "no CRC-64 in this RDB version",
            _ => "CRC-64 not checked",
        };
        if let Some((file, temp, path)) = self.file {
            let file = file
                .into_inner()
                .map_err(|e| write_error(&temp, e.error()))?;
            file.sync_all().map_err(|e| write_error(&temp, &e))?;
            drop(file);
            fs::rename(&temp, &path).map_err(|e| write_error(&path, &e))?;
            sync_parent(&path);
            info!(
                "snapshot received: {size} bytes, {checked}, saved to {}",
                path.display()
            );
        } else {
            info!("snapshot received: {size} bytes, {checked} (not saved: see --rdb-out)");
        }
        Ok(())
    }

    fn abandon(self) {
        self.bar.finish_and_clear();
        if let Some((file, temp, _)) = self.file {
            drop(file);
            let _ = fs::remove_file(&temp);
        }
    }
}

fn create_error(path: &Path, e: &io::Error) -> CliError {
    CliError::new(format!(
        "cannot write the snapshot to {}: {e} (check the directory and its permissions)",
        path.display()
    ))
}

fn write_error(path: &Path, e: &io::Error) -> CliError {
    CliError::new(format!(
        "cannot write the snapshot to {}: {e} (check the free space)",
        path.display()
    ))
}
