//! The link to this node's own master, for replica mode: the core's [`Replica`] driven over a
//! tokio socket by [`replproto_tokio::Link`] in a task of its own, reconnecting until it is
//! stopped.
//!
//! The task owns no data. It forwards what the node must apply, in stream order, over a
//! channel to the task that owns the node: the loaded snapshot after a full sync, the
//! `+CONTINUE` of a partial one, every command, and the state of the link. The checkpoint it
//! resumes from survives reconnections (`replica.checkpoint()` feeds the next `Replica::new`).

use std::time::{Duration, Instant};

use bytes::BytesMut;
use replproto::replica::{Command, Event, Replica, ReplicaConfig};
use replproto::{Checkpoint, Offset, ReplId};
use tokio::net::TcpStream;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use crate::snapshot;
use crate::store::Store;

/// Pause between two connection attempts.
pub const RETRY_DELAY: Duration = Duration::from_millis(500);
/// How long a TCP connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the link is, with the names `ROLE` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Waiting to (re)connect.
    Connect,
    /// TCP connect in progress.
    Connecting,
    /// From `PING` to the answer to `PSYNC`.
    Handshake,
    /// Receiving the snapshot.
    Sync,
    /// Streaming.
    Connected,
}

impl LinkState {
    /// The word `ROLE` shows.
    pub fn name(self) -> &'static str {
        match self {
            LinkState::Connect => "connect",
            LinkState::Connecting => "connecting",
            LinkState::Handshake => "handshake",
            LinkState::Sync => "sync",
            LinkState::Connected => "connected",
        }
    }
}

/// What the link reports to the node.
#[derive(Debug)]
pub enum UpstreamEvent {
    /// The link moved to another state.
    State(LinkState),
    /// A full sync completed: the node's data is replaced by `store`.
    Synced {
        /// The loaded snapshot.
        store: Store,
        /// The master's history (`None` after a legacy `SYNC`, which names none).
        replid: Option<ReplId>,
        /// The last stream byte the snapshot holds.
        offset: Offset,
        /// The database the stream starts in.
        db: u32,
    },
    /// `+CONTINUE`: the stream resumes after `offset`, under history `replid`.
    Continued {
        /// The master's current id.
        replid: ReplId,
        /// The last byte already held.
        offset: Offset,
    },
    /// A command to apply and relay.
    Command(Command),
    /// The link ended (or could not be made), with a message saying why.
    Down(String),
}

/// A running link, tagged with a generation so the node can ignore a stopped link's leftovers.
#[derive(Debug)]
pub struct Upstream {
    /// The master's host.
    pub host: String,
    /// The master's port.
    pub port: u16,
    /// Distinguishes this link from earlier ones.
    pub generation: u64,
    /// Its state, as last reported.
    pub state: LinkState,
    /// When the master last sent anything the node saw.
    pub last_io: Option<Instant>,
    /// When the link went down (`None` while up, or before it ever came up).
    pub down_since: Option<Instant>,
    task: JoinHandle<()>,
}

impl Upstream {
    /// Starts following `host:port` from `resume` (or with a full sync).
    pub fn start(
        host: String,
        port: u16,
        config: ReplicaConfig,
        resume: Option<Checkpoint>,
        generation: u64,
        events: UnboundedSender<(u64, UpstreamEvent)>,
    ) -> Upstream {
        let link = Link {
            host: host.clone(),
            port,
            config,
            generation,
            events,
        };
        let task = tokio::spawn(link.run(resume));
        Upstream {
            host,
            port,
            generation,
            state: LinkState::Connect,
            last_io: None,
            down_since: None,
            task,
        }
    }

    /// Stops the link (its socket is closed).
    pub fn stop(self) {
        self.task.abort();
    }
}

struct Link {
    host: String,
    port: u16,
    config: ReplicaConfig,
    generation: u64,
    events: UnboundedSender<(u64, UpstreamEvent)>,
}

/// A snapshot being received.
struct Incoming {
    replid: Option<ReplId>,
    offset: Offset,
    data: BytesMut,
}

struct Failure(String);

impl Link {
    fn send(&self, event: UpstreamEvent) {
        let _ = self.events.send((self.generation, event));
    }

    async fn run(self, mut resume: Option<Checkpoint>) {
        loop {
            self.send(UpstreamEvent::State(LinkState::Connecting));
            let connect = TcpStream::connect((self.host.as_str(), self.port));
            let reason = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
                Ok(Ok(stream)) => {
                    let (checkpoint, reason) = self.drive(stream, resume).await;
                    resume = checkpoint;
                    format!("Connection with master lost: {reason}")
                }
                Ok(Err(e)) => format!(
                    "Error connecting to MASTER {}:{}: {e}",
                    self.host, self.port
                ),
                Err(_) => format!("Timeout connecting to MASTER {}:{}", self.host, self.port),
            };
            self.send(UpstreamEvent::Down(reason));
            self.send(UpstreamEvent::State(LinkState::Connect));
            tokio::time::sleep(RETRY_DELAY).await;
        }
    }

    /// Runs one connection to its end; where the next one resumes, and why this one ended.
    async fn drive(
        &self,
        stream: TcpStream,
        resume: Option<Checkpoint>,
    ) -> (Option<Checkpoint>, String) {
        let _ = stream.set_nodelay(true);
        let replica = match Replica::new(self.config.clone(), resume, Instant::now()) {
            Ok(replica) => replica,
            Err(e) => return (resume, format!("bad replica settings: {e:?}")),
        };
        self.send(UpstreamEvent::State(LinkState::Handshake));
        // The link writes what the machine queued (a final ACK included) before it ends.
        let mut link = replproto_tokio::Link::new(stream, replica);
        let mut incoming: Option<Incoming> = None;
        let mut reason = String::from("connection closed");
        let mut failed = false;
        while let Some(event) = link.next_event().await {
            match event {
                // What follows a failed sync applies to data this node does not hold, and the
                // `Closed` it ends with would hide why.
                _ if failed => {}
                Event::Closed(why) => reason = why.to_string(),
                event => {
                    if let Err(Failure(why)) = self.on_event(event, &mut incoming) {
                        reason = why;
                        failed = true;
                        link.close();
                    }
                }
            }
        }
        // After a failed sync the checkpoint names a snapshot that was never loaded: the next
        // link must sync in full.
        let checkpoint = if failed {
            None
        } else {
            link.replica().checkpoint()
        };
        (checkpoint, reason)
    }

    fn on_event(&self, event: Event, incoming: &mut Option<Incoming>) -> Result<(), Failure> {
        match event {
            Event::FullResync { replid, offset } => {
                *incoming = Some(Incoming {
                    replid: Some(replid),
                    offset,
                    data: BytesMut::new(),
                });
                self.send(UpstreamEvent::State(LinkState::Sync));
            }
            Event::LegacySync { .. } => {
                *incoming = Some(Incoming {
                    replid: None,
                    offset: Offset::ZERO,
                    data: BytesMut::new(),
                });
                self.send(UpstreamEvent::State(LinkState::Sync));
            }
            Event::SnapshotChunk(chunk) => {
                if let Some(incoming) = incoming {
                    incoming.data.extend_from_slice(&chunk);
                }
            }
            Event::SnapshotEnd { db, .. } => {
                let Some(done) = incoming.take() else {
                    return Err(Failure("snapshot ended without a start".into()));
                };
                let store = snapshot::load(&done.data).map_err(|e| {
                    Failure(format!(
                        "Failed trying to load the MASTER synchronization DB: {e}"
                    ))
                })?;
                self.send(UpstreamEvent::Synced {
                    store,
                    replid: done.replid,
                    offset: done.offset,
                    db,
                });
                self.send(UpstreamEvent::State(LinkState::Connected));
            }
            Event::PartialResync { replid, offset, .. } => {
                self.send(UpstreamEvent::Continued { replid, offset });
                self.send(UpstreamEvent::State(LinkState::Connected));
            }
            Event::Command(command) => self.send(UpstreamEvent::Command(command)),
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use replproto::rdb::RdbWriter;
    use replproto::resp::{decode_frame, encode_command, Frame};
    use replproto::Limits;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;
    use tokio::sync::mpsc::unbounded_channel;

    /// Plays the master's part of the handshake up to `PSYNC`; the words of the `PSYNC`.
    async fn handshake(socket: &mut TcpStream) -> Vec<String> {
        let mut input = BytesMut::new();
        loop {
            while let Some(frame) = decode_frame(&mut input, &Limits::DEFAULT).unwrap() {
                let Frame::Array(items) = frame else {
                    panic!("not a command: {frame:?}");
                };
                let words: Vec<String> = items
                    .iter()
                    .map(|item| String::from_utf8_lossy(item.as_bytes().unwrap()).into_owned())
                    .collect();
                match words[0].as_str() {
                    "PING" => socket.write_all(b"+PONG\r\n").await.unwrap(),
                    "PSYNC" => return words,
                    _ => socket.write_all(b"+OK\r\n").await.unwrap(),
                }
            }
            let n = socket.read_buf(&mut input).await.unwrap();
            assert!(n > 0, "the replica left during the handshake");
        }
    }

    #[tokio::test]
    async fn a_snapshot_that_cannot_be_loaded_ends_the_link_and_the_next_one_syncs_in_full() {
        let run = async {
            let master = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = master.local_addr().unwrap().port();
            let (events, mut received) = unbounded_channel();
            let config = ReplicaConfig::new(6380);
            let upstream = Upstream::start("127.0.0.1".into(), port, config, None, 7, events);

            let (mut socket, _) = master.accept().await.unwrap();
            assert_eq!(handshake(&mut socket).await, ["PSYNC", "?", "-1"]);
            // A well-formed RDB (the core checks its CRC) that this server refuses: database 99.
            let mut rdb = RdbWriter::new("7.0.0");
            rdb.start_db(99, 0, 0);
            let rdb = rdb.finish();
            let replid = "0123456789abcdef0123456789abcdef01234567";
            let mut out = BytesMut::from(
                format!("+FULLRESYNC {replid} 100\r\n${}\r\n", rdb.len()).as_bytes(),
            );
            out.extend_from_slice(&rdb);
            // Commands right behind the snapshot, read with it.
            encode_command(&mut out, &["SELECT", "0"]);
            encode_command(&mut out, &["SET", "k", "v"]);
            socket.write_all(&out).await.unwrap();

            let reason = loop {
                let (generation, event) = received.recv().await.unwrap();
                assert_eq!(generation, 7);
                match event {
                    UpstreamEvent::State(_) => {}
                    UpstreamEvent::Down(reason) => break reason,
                    other => panic!("forwarded after a failed load: {other:?}"),
                }
            };
            assert!(
                reason.contains("Failed trying to load the MASTER synchronization DB"),
                "{reason}"
            );

            // Not a resume from the snapshot that was never loaded.
            let (mut socket, _) = master.accept().await.unwrap();
            assert_eq!(handshake(&mut socket).await, ["PSYNC", "?", "-1"]);
            upstream.stop();
        };
        tokio::time::timeout(Duration::from_secs(10), run)
            .await
            .expect("the test took too long");
    }
}
