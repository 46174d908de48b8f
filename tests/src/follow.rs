//! Runs a follower on a background thread and hands its events to the test thread over a
//! channel, so the test can write to the master while it waits for events with a deadline.
//!
//! The follower is either adapter's ([`Driver`]): the blocking [`replproto_std::Follower`], or
//! the async [`replproto_tokio::Follower`] on a single-threaded runtime of its own. The events
//! reach the test the same way, so one test body checks both.

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use replproto::rdb::ChecksumStatus;
use replproto::replica::{Command, Event, HandshakeCommand, ReplicaConfig, SnapshotFraming};
use replproto::{Checkpoint, Offset, ReplId};
use replproto_std::Follower;

use crate::Client;

/// Pause between a link's end and the next attempt: short, to keep the tests quick.
pub const RECONNECT_DELAY: Duration = Duration::from_millis(50);

/// How many recent events a timeout message shows.
const HISTORY: usize = 40;

/// Which adapter drives the follower.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// `replproto_std::Follower`, blocking I/O.
    Std,
    /// `replproto_tokio::Follower`, on a current-thread tokio runtime.
    Tokio,
}

impl fmt::Display for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Driver::Std => "std",
            Driver::Tokio => "tokio",
        })
    }
}

/// Defines, for each `fn name(driver) { body }`, a module `name` with two tests running the
/// body with `driver` set to [`Driver::Std`] and to [`Driver::Tokio`]: one test body, two
/// drivers, reported separately (`name::std_driver`, `name::tokio_driver`).
#[macro_export]
macro_rules! driver_tests {
    ($($(#[$meta:meta])* fn $name:ident($driver:ident) $body:block)*) => {$(
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            fn std_driver() {
                let $driver = $crate::Driver::Std;
                $body
            }

            #[test]
            fn tokio_driver() {
                let $driver = $crate::Driver::Tokio;
                $body
            }
        }
    )*};
}

/// One event of the follower, with the checkpoint it held right after it (for
/// [`Event::Closed`]: the checkpoint the next link resumes from).
#[derive(Debug, Clone)]
pub struct Delivered {
    /// The event.
    pub event: Event,
    /// [`Follower::checkpoint`] right after the event.
    pub checkpoint: Option<Checkpoint>,
}

/// A follower running on its own thread.
///
/// Dropping it asks the thread to stop after its current link: declare it after the servers
/// and proxies it talks to, so it is dropped first and never reconnects to a port the test no
/// longer owns.
#[derive(Debug)]
pub struct FollowerThread {
    events: Receiver<Result<Delivered, String>>,
    stop: Arc<AtomicBool>,
    history: Mutex<VecDeque<String>>,
}

impl FollowerThread {
    /// Follows the master at `addr` with `config` and a [`RECONNECT_DELAY`] between links,
    /// driven by `driver`.
    pub fn start_with(driver: Driver, addr: SocketAddr, config: ReplicaConfig) -> FollowerThread {
        FollowerThread::resume_with(driver, addr, config, None)
    }

    /// Like [`start_with`](Self::start_with), resuming from `checkpoint`.
    pub fn resume_with(
        driver: Driver,
        addr: SocketAddr,
        config: ReplicaConfig,
        checkpoint: Option<Checkpoint>,
    ) -> FollowerThread {
        match driver {
            Driver::Std => FollowerThread::spawn(
                Follower::new(addr, config)
                    .with_checkpoint(checkpoint)
                    .with_reconnect_delay(RECONNECT_DELAY),
            ),
            Driver::Tokio => FollowerThread::spawn_tokio(
                replproto_tokio::Follower::new(addr.to_string(), config)
                    .with_checkpoint(checkpoint)
                    .with_reconnect_delay(RECONNECT_DELAY),
            ),
        }
    }

    /// Runs `follower` on a new thread.
    pub fn spawn(mut follower: Follower) -> FollowerThread {
        FollowerThread::run(move || {
            let item = follower
                .next_event()
                .map(|event| (event, follower.checkpoint()));
            item.map_err(|e| e.to_string())
        })
    }

    /// Runs the async `follower` on a new thread, on a current-thread runtime.
    ///
    /// # Panics
    ///
    /// Panics if the runtime cannot be built.
    pub fn spawn_tokio(mut follower: replproto_tokio::Follower) -> FollowerThread {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("build a tokio runtime for the follower");
        FollowerThread::run(move || {
            let item = runtime
                .block_on(follower.next_event())
                .map(|event| (event, follower.checkpoint()));
            item.map_err(|e| e.to_string())
        })
    }

    /// Calls `next` on a new thread until stopped, sending what it returns.
    #[allow(clippy::type_complexity)]
    fn run(
        mut next: impl FnMut() -> Result<(Event, Option<Checkpoint>), String> + Send + 'static,
    ) -> FollowerThread {
        let (tx, events) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        thread::Builder::new()
            .name("follower".into())
            .spawn(move || {
                while !stopped.load(Ordering::SeqCst) {
                    let item = next().map(|(event, checkpoint)| Delivered { event, checkpoint });
                    if tx.send(item).is_err() {
                        break;
                    }
                }
            })
            .expect("spawn the follower thread");
        FollowerThread {
            events,
            stop,
            history: Mutex::new(VecDeque::new()),
        }
    }

    /// The next event, or `None` if none came within `timeout`.
    ///
    /// # Panics
    ///
    /// Panics if the follower could not connect (every test keeps its master or proxy
    /// listening), or if its thread ended.
    pub fn next_within(&self, timeout: Duration) -> Option<Delivered> {
        match self.events.recv_timeout(timeout) {
            Ok(Ok(delivered)) => {
                self.remember(&delivered.event);
                Some(delivered)
            }
            Ok(Err(e)) => panic!("the follower could not connect: {e}{}", self.recent()),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                panic!("the follower thread ended{}", self.recent())
            }
        }
    }

    /// The next event, if one is already waiting.
    pub fn try_next(&self) -> Option<Delivered> {
        self.next_within(Duration::ZERO)
    }

    /// Every event up to and including the first one for which `done` is true.
    ///
    /// # Panics
    ///
    /// Panics naming `what` if that event does not come within `timeout`.
    pub fn until(
        &self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&Event) -> bool,
    ) -> Vec<Delivered> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let delivered = self.next_within(left).unwrap_or_else(|| {
                panic!(
                    "timed out after {timeout:?} waiting for {what}{}",
                    self.recent()
                )
            });
            let finished = done(&delivered.event);
            seen.push(delivered);
            if finished {
                return seen;
            }
        }
    }

    /// Reads a full sync: every event up to and including `SnapshotEnd`, checked and
    /// summed up by [`full_sync`].
    ///
    /// # Panics
    ///
    /// Panics if `SnapshotEnd` does not come within `timeout`, or if the events before it are
    /// not those of one full sync.
    pub fn until_snapshot_end(&self, timeout: Duration) -> FullSync {
        full_sync(&self.until("the end of the snapshot", timeout, |e| {
            matches!(e, Event::SnapshotEnd { .. })
        }))
    }

    /// Reads a full sync ([`until_snapshot_end`](Self::until_snapshot_end)), then waits until
    /// `master` lists the replica that announced `port` online
    /// ([`Client::wait_replica_online`]): from then on, writes to the master reach the
    /// follower as commands.
    ///
    /// # Panics
    ///
    /// Panics if either does not happen within `timeout`.
    pub fn until_synced(&self, master: &mut Client, port: u16, timeout: Duration) -> FullSync {
        let sync = self.until_snapshot_end(timeout);
        master.wait_replica_online(port, timeout);
        sync
    }

    fn remember(&self, event: &Event) {
        let mut history = self.history.lock().unwrap();
        if history.len() == HISTORY {
            history.pop_front();
        }
        history.push_back(summary(event));
    }

    /// The last events received, for failure messages.
    fn recent(&self) -> String {
        let history = self.history.lock().unwrap();
        let mut text = String::from("; last events received:");
        for line in history.iter() {
            text.push_str("\n  ");
            text.push_str(line);
        }
        text
    }
}

impl Drop for FollowerThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// A one-line description of an event (a snapshot chunk by its size only).
pub fn summary(event: &Event) -> String {
    match event {
        Event::SnapshotChunk(chunk) => format!("SnapshotChunk({} bytes)", chunk.len()),
        Event::Command(cmd) => format!(
            "Command {:?} db={} offset={}..={}",
            words(cmd),
            cmd.db,
            cmd.start_offset(),
            cmd.offset
        ),
        other => format!("{other:?}"),
    }
}

/// A command as text: the name upper-cased, then its arguments.
pub fn words(cmd: &Command) -> Vec<String> {
    cmd.frame
        .args()
        .enumerate()
        .map(|(i, arg)| {
            let text = String::from_utf8_lossy(arg).into_owned();
            if i == 0 {
                text.to_ascii_uppercase()
            } else {
                text
            }
        })
        .collect()
}

/// The commands among `delivered`, in order.
pub fn commands(delivered: &[Delivered]) -> Vec<Command> {
    delivered
        .iter()
        .filter_map(|d| match &d.event {
            Event::Command(cmd) => Some(cmd.clone()),
            _ => None,
        })
        .collect()
}

/// What a link that ran a full sync reported, from its first event to `SnapshotEnd`.
#[derive(Debug, Clone)]
pub struct FullSync {
    /// The replies to the handshake commands, in order, as text.
    pub handshake: Vec<(HandshakeCommand, String)>,
    /// The replication id of `+FULLRESYNC`.
    pub replid: ReplId,
    /// The offset of `+FULLRESYNC`: the last stream byte the snapshot holds.
    pub offset: Offset,
    /// The snapshot's framing.
    pub framing: SnapshotFraming,
    /// The snapshot's bytes, every chunk concatenated.
    pub rdb: Vec<u8>,
    /// The size `SnapshotEnd` reported.
    pub size: u64,
    /// The checksum outcome `SnapshotEnd` reported.
    pub checksum: ChecksumStatus,
    /// The database `SnapshotEnd` says the stream starts in.
    pub db: u32,
}

/// Reads the events of a full sync: handshake replies, then exactly `FullResync`,
/// `SnapshotBegin`, the chunks and `SnapshotEnd`, which must be the last event given.
///
/// # Panics
///
/// Panics, listing the events, if they are not in that shape.
pub fn full_sync(delivered: &[Delivered]) -> FullSync {
    let fail = |why: &str| -> ! {
        let list: Vec<String> = delivered.iter().map(|d| summary(&d.event)).collect();
        panic!("{why}; events:\n  {}", list.join("\n  "))
    };
    let mut events = delivered.iter().map(|d| &d.event).peekable();
    let mut handshake = Vec::new();
    while let Some(Event::HandshakeReply { command, reply }) = events.peek() {
        handshake.push((*command, String::from_utf8_lossy(reply).into_owned()));
        events.next();
    }
    let Some(Event::FullResync { replid, offset }) = events.next() else {
        fail("expected FullResync after the handshake replies")
    };
    let Some(Event::SnapshotBegin { framing }) = events.next() else {
        fail("expected SnapshotBegin after FullResync")
    };
    let mut rdb = Vec::new();
    loop {
        match events.next() {
            Some(Event::SnapshotChunk(chunk)) => rdb.extend_from_slice(chunk),
            Some(Event::SnapshotEnd { size, checksum, db }) => {
                if events.next().is_some() {
                    fail("events after SnapshotEnd");
                }
                return FullSync {
                    handshake,
                    replid: *replid,
                    offset: *offset,
                    framing: *framing,
                    rdb,
                    size: *size,
                    checksum: *checksum,
                    db: *db,
                };
            }
            _ => fail("expected snapshot chunks, then SnapshotEnd"),
        }
    }
}

/// Checks that `commands` follow each other without a gap or an overlap, the first one
/// starting right after `after`, and returns the offset of the last one (`after` if none).
///
/// # Panics
///
/// Panics naming the first command that does not start where the previous one ended.
pub fn assert_contiguous(after: Offset, commands: &[Command]) -> Offset {
    let mut last = after;
    for cmd in commands {
        assert_eq!(
            cmd.start_offset(),
            last.advanced(1),
            "{:?} (offset {}) does not start right after offset {last}",
            words(cmd),
            cmd.offset
        );
        assert!(cmd.offset > last, "{:?} has an empty frame", words(cmd));
        last = cmd.offset;
    }
    last
}

/// Splits a run of events into links: every part but the last ends with its `Closed` event.
pub fn links(delivered: &[Delivered]) -> Vec<&[Delivered]> {
    let mut parts = Vec::new();
    let mut start = 0;
    for (i, d) in delivered.iter().enumerate() {
        if matches!(d.event, Event::Closed(_)) {
            parts.push(&delivered[start..=i]);
            start = i + 1;
        }
    }
    if start < delivered.len() {
        parts.push(&delivered[start..]);
    }
    parts
}

/// Waits until the master (through `master`) lists the replica that announced `port` online
/// with an acknowledged offset equal to its own `master_repl_offset`, and the follower's last
/// command ends at that same offset. Commands arriving meanwhile must continue the stream
/// after `last`, which follows them.
///
/// # Panics
///
/// Panics with the offsets last seen if that does not happen within `timeout`, or if an event
/// other than a command arrives.
pub fn wait_settled(
    follower: &FollowerThread,
    master: &mut Client,
    port: u16,
    last: &mut Offset,
    timeout: Duration,
) {
    let deadline = Instant::now() + timeout;
    loop {
        while let Some(d) = follower.try_next() {
            match d.event {
                Event::Command(cmd) => *last = assert_contiguous(*last, &[cmd]),
                other => panic!("unexpected event while streaming: {}", summary(&other)),
            }
        }
        let (master_offset, acked) = master.online_replica_offset(port);
        if acked == Some(master_offset) && *last == Offset(master_offset) {
            return;
        }
        if Instant::now() >= deadline {
            panic!(
                "after {timeout:?}: the master is at offset {master_offset} and lists our \
                 replica (port {port}) online at {acked:?}; our last command ends at {last}"
            );
        }
        thread::sleep(Duration::from_millis(10));
    }
}
