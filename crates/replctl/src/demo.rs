//! `replctl demo`: a master and a replica in one process, over loopback, narrated step by step.
//!
//! The master is the reference server ([`crate::server::spawn`]) on a free port. The replica is
//! a [`replproto_tokio::Follower`] that reaches it through a small proxy in this module, which
//! shows the exact commands the replica sends and can cut the link. A client connection
//! writes to the master. The demo drives everything from one task and waits for each step to
//! be visible before the next, so its story is the same on every run (only ids, ports and the
//! odd keepalive `ping` differ).

use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use replproto::rdb::ChecksumStatus;
use replproto::replica::{Command, Event, ReplicaConfig, SnapshotFraming};
use replproto::resp::{decode_frame, encode_command, CommandDecoder, CommandFrame, Decoded, Frame};
use replproto::{Checkpoint, Limits, Offset, ReplId};
use replproto_tokio::Follower;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};

use crate::config::ServerConfig;
use crate::error::CliError;
use crate::output::text_line;

/// The longest the demo waits for any one step.
const STEP_TIMEOUT: Duration = Duration::from_secs(5);
/// The port the demo replica announces.
const REPLICA_PORT: u16 = 6380;

/// What the demo showed, for its tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSummary {
    /// The master's replication id.
    pub replid: ReplId,
    /// The offset of the full sync.
    pub full_sync_offset: Offset,
    /// The offset the replica resumed after, with `+CONTINUE`.
    pub resumed_after: Offset,
    /// The master's `master_repl_offset` at the end.
    pub master_offset: u64,
    /// The offset the master last saw acknowledged by the replica, at the end.
    pub acked_offset: u64,
    /// The replica's applied offset at the end.
    pub replica_offset: u64,
}

/// Runs the demo, narrating to `out`.
///
/// # Errors
///
/// When a step does not happen within a few seconds, or a socket fails.
pub async fn run(out: &mut impl Write) -> Result<DemoSummary, CliError> {
    let mut config = ServerConfig::new(0);
    config.log = false;
    let master = crate::server::spawn(config)
        .map_err(|e| CliError::new(format!("cannot start the demo master on loopback: {e}")))?;
    let result = Demo::start(master.addr(), out).await?.play().await;
    master.shutdown();
    result
}

/// What one step of the demo narrates to.
struct Demo<'a, W> {
    out: &'a mut W,
    client: Client,
    proxy: Proxy,
    follower: Follower,
    /// The connection number (at the proxy) of the replica's current link.
    link: u64,
    /// The offset of the last command the replica received.
    last: Offset,
}

fn fail(what: impl std::fmt::Display) -> CliError {
    CliError::new(format!("demo failed: {what}"))
}

fn io_fail(e: io::Error) -> CliError {
    fail(e)
}

impl<'a, W: Write> Demo<'a, W> {
    async fn start(master: SocketAddr, out: &'a mut W) -> Result<Demo<'a, W>, CliError> {
        let client = Client::connect(master).await?;
        let proxy = Proxy::start(master).await.map_err(io_fail)?;
        let config = ReplicaConfig::new(REPLICA_PORT).with_ack_period(Duration::from_millis(100));
        let follower = Follower::new(proxy.addr.to_string(), config)
            .with_reconnect_delay(Duration::from_millis(100));
        Ok(Demo {
            out,
            client,
            proxy,
            follower,
            link: 0,
            last: Offset::ZERO,
        })
    }

    fn say(&mut self, text: impl std::fmt::Display) -> Result<(), CliError> {
        writeln!(self.out, "{text}").map_err(io_fail)
    }

    async fn play(mut self) -> Result<DemoSummary, CliError> {
        let master = self.client.addr;
        self.say(
            "replctl demo: a master and a replica in one process, speaking the Redis replication \
             protocol over loopback.",
        )?;
        self.say("")?;
        self.say(format!(
            "1. The master: the reference server (`replctl serve`) listens on {master}. A client \
             writes two keys before any replica exists:"
        ))?;
        self.write(&["SET", "greeting", "hello, replica"]).await?;
        self.write(&["INCR", "visits"]).await?;
        self.say("")?;

        self.say(format!(
            "2. A replica connects, through a proxy on {} that can cut the link, and introduces \
             itself. With no history to resume from it asks for everything (PSYNC ? -1):",
            self.proxy.addr
        ))?;
        let (replid, full_offset) = self.full_sync().await?;
        self.say("")?;

        self.say(
            "4. Writes on the master reach the replica as commands, each with its stream offset:",
        )?;
        self.write(&["SET", "city", "Paris"]).await?;
        self.write(&["INCR", "visits"]).await?;
        self.write(&["SELECT", "2"]).await?;
        self.write(&["SET", "lang", "fr"]).await?;
        self.receive_until(b"lang").await?;
        self.wait_ack().await?;
        self.say("")?;

        self.say("5. The link is cut:")?;
        let checkpoint = self.cut().await?;
        self.say("   Meanwhile the master takes writes the replica cannot see:")?;
        self.write(&["SET", "missed:1", "while away"]).await?;
        self.write(&["SET", "missed:2", "still away"]).await?;
        let info = self.client.info_replication().await?;
        self.say(format!(
            "   master_repl_offset is now {}; its backlog still holds every byte after {}.",
            info.master_offset, checkpoint.offset
        ))?;
        self.say("")?;

        self.say(format!(
            "6. The replica reconnects and asks to resume right after its checkpoint (PSYNC {} {}):",
            checkpoint.replid,
            checkpoint.offset.next_byte()
        ))?;
        let resumed_after = self.resume().await?;
        self.receive_until(b"missed:2").await?;
        self.say("   Writes after the resume stream on as before:")?;
        self.write(&["SELECT", "0"]).await?;
        self.write(&["INCR", "visits"]).await?;
        self.receive_until(b"visits").await?;
        self.wait_ack().await?;
        let mut info = self.client.info_replication().await?;
        for _ in 0..3 {
            if info.master_offset <= self.last.get() {
                break;
            }
            // A keepalive the master sent meanwhile: let it arrive and be acknowledged.
            self.wait_ack_of(info.master_offset).await?;
            info = self.client.info_replication().await?;
        }
        self.say("")?;

        let replica_offset = self
            .follower
            .checkpoint()
            .map_or(0, |c: Checkpoint| c.offset.get());
        self.say("7. The offsets on both sides:")?;
        self.say(format!(
            "   master  master_repl_offset          {}",
            info.master_offset
        ))?;
        self.say(format!(
            "   master  replica acknowledged at     {}",
            info.replica_offset.unwrap_or(0)
        ))?;
        self.say(format!(
            "   replica applied offset              {replica_offset}"
        ))?;
        let summary = DemoSummary {
            replid,
            full_sync_offset: full_offset,
            resumed_after,
            master_offset: info.master_offset,
            acked_offset: info.replica_offset.unwrap_or(0),
            replica_offset,
        };
        if summary.master_offset == replica_offset && summary.acked_offset == replica_offset {
            self.say(format!(
                "   In sync at offset {replica_offset}, after one full sync (+FULLRESYNC) and one \
                 partial resync (+CONTINUE)."
            ))?;
        } else {
            self.say("   Not in sync yet.")?;
        }
        self.follower.close();
        Ok(summary)
    }

    /// A client write, narrated with its reply.
    async fn write(&mut self, args: &[&str]) -> Result<(), CliError> {
        let reply = self.client.cmd(args).await?;
        let mut line = Vec::new();
        let bytes: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        text_line(bytes, &mut line);
        let line = String::from_utf8_lossy(&line).into_owned();
        self.say(format!(
            "   client>  {line:<44} master: {}",
            show_reply(&reply)
        ))
    }

    /// The next follower event.
    async fn event(&mut self, what: &str) -> Result<Event, CliError> {
        match timeout(STEP_TIMEOUT, self.follower.next_event()).await {
            Ok(Ok(event)) => Ok(event),
            Ok(Err(e)) => Err(fail(format!("the replica cannot connect: {e}"))),
            Err(_) => Err(fail(format!("no {what} within {STEP_TIMEOUT:?}"))),
        }
    }

    /// A handshake reply, shown after the command it answers as the proxy saw it.
    async fn handshake_reply(&mut self, reply: &[u8]) -> Result<(), CliError> {
        let sent = self.proxy.next_sent(self.link).await?;
        self.say(format!(
            "   replica> {:<44} master: {}",
            show_words(&sent),
            String::from_utf8_lossy(reply)
        ))
    }

    /// Step 2 and 3: the handshake, `+FULLRESYNC` and the snapshot.
    async fn full_sync(&mut self) -> Result<(ReplId, Offset), CliError> {
        self.link += 1;
        let mut rdb = Vec::new();
        let mut full = None;
        loop {
            match self.event("full sync").await? {
                Event::HandshakeReply { reply, .. } => self.handshake_reply(&reply).await?,
                Event::FullResync { replid, offset } => {
                    self.say(format!(
                        "   The master starts a new history for its first replica: id {replid}, \
                         the snapshot covers the stream up to offset {offset}."
                    ))?;
                    self.say("")?;
                    self.say("3. Full sync: the snapshot (an RDB file) comes first.")?;
                    full = Some((replid, offset));
                }
                Event::SnapshotBegin { framing } => match framing {
                    SnapshotFraming::EofMark => self.say(
                        "   Framing $EOF:<40-byte mark>: diskless, streamed while the master \
                         produces it, its end marked by the mark repeated.",
                    )?,
                    SnapshotFraming::Length(len) => self.say(format!(
                        "   Framing ${len}: {len} bytes announced up front."
                    ))?,
                },
                Event::SnapshotChunk(chunk) => rdb.extend_from_slice(&chunk),
                Event::SnapshotEnd { size, checksum, db } => {
                    let checked = if checksum == ChecksumStatus::Verified {
                        "its CRC-64 verified"
                    } else {
                        "no CRC-64 to verify"
                    };
                    let keys = match crate::snapshot::load(&rdb) {
                        Ok(store) => {
                            let names: Vec<String> = store
                                .iter(0)
                                .map(|(key, _)| String::from_utf8_lossy(key).into_owned())
                                .collect::<std::collections::BTreeSet<_>>()
                                .into_iter()
                                .collect();
                            format!("{} keys in db 0 ({})", names.len(), names.join(", "))
                        }
                        Err(e) => format!("data the demo cannot read ({e})"),
                    };
                    self.say(format!(
                        "   Snapshot received: {size} bytes, {checked}, holding {keys}. \
                         The stream starts in db {db}."
                    ))?;
                    let (replid, offset) =
                        full.ok_or_else(|| fail("a snapshot without +FULLRESYNC"))?;
                    self.last = offset;
                    return Ok((replid, offset));
                }
                Event::Closed(reason) => return Err(fail(format!("the link closed: {reason}"))),
                _ => {}
            }
        }
    }

    /// Narrates a command the replica received.
    fn received(&mut self, cmd: &Command) -> Result<(), CliError> {
        let mut line = Vec::new();
        text_line(cmd.frame.args(), &mut line);
        let line = String::from_utf8_lossy(&line).into_owned();
        let note = if cmd.frame.is("ping") {
            "  (the master's keepalive)"
        } else {
            ""
        };
        self.last = cmd.offset;
        self.say(format!(
            "   replica< {line:<44} offset {}..={} db {}{note}",
            cmd.start_offset(),
            cmd.offset,
            cmd.db
        ))
    }

    /// Receives commands until one whose first argument is `key`.
    async fn receive_until(&mut self, key: &[u8]) -> Result<(), CliError> {
        loop {
            match self.event("propagated command").await? {
                Event::Command(cmd) => {
                    self.received(&cmd)?;
                    if cmd.frame.arg(1) == Some(key) {
                        return Ok(());
                    }
                }
                Event::Closed(reason) => return Err(fail(format!("the link closed: {reason}"))),
                other => return Err(fail(format!("unexpected event {other:?}"))),
            }
        }
    }

    /// Waits for the replica's `REPLCONF ACK` of its last command, as the proxy sees it.
    async fn wait_ack(&mut self) -> Result<u64, CliError> {
        self.wait_ack_of(self.last.get()).await
    }

    /// Waits for a `REPLCONF ACK` of at least `target`, narrating the commands meanwhile.
    async fn wait_ack_of(&mut self, target: u64) -> Result<u64, CliError> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            tokio::select! {
                sent = self.proxy.sent.recv() => {
                    let Some((link, words)) = sent else {
                        return Err(fail("the proxy stopped"));
                    };
                    let acked = (link == self.link
                        && words.len() == 3
                        && words[0].eq_ignore_ascii_case(b"REPLCONF")
                        && words[1].eq_ignore_ascii_case(b"ACK"))
                    .then(|| String::from_utf8_lossy(&words[2]).parse::<u64>().ok())
                    .flatten();
                    if let Some(offset) = acked.filter(|&o| o >= target) {
                        self.say(format!(
                            "   replica> {:<44} (it confirms every byte up to {offset})",
                            show_words(&words)
                        ))?;
                        return Ok(offset);
                    }
                }
                event = self.follower.next_event() => match event {
                    Ok(Event::Command(cmd)) => self.received(&cmd)?,
                    Ok(other) => return Err(fail(format!("unexpected event {other:?}"))),
                    Err(e) => return Err(fail(e)),
                },
                () = tokio::time::sleep_until(deadline) => {
                    return Err(fail(format!("no REPLCONF ACK {target} within {STEP_TIMEOUT:?}")));
                }
            }
        }
    }

    /// Step 5: cuts the link and shows what the replica kept.
    async fn cut(&mut self) -> Result<Checkpoint, CliError> {
        self.proxy.cut();
        self.say("   proxy: both sides of the connection closed")?;
        loop {
            match self.event("the end of the link").await? {
                Event::Command(cmd) => self.received(&cmd)?,
                Event::Closed(reason) => {
                    let checkpoint = self
                        .follower
                        .checkpoint()
                        .ok_or_else(|| fail("no checkpoint survived the cut"))?;
                    self.say(format!(
                        "   replica: {reason}. It keeps its checkpoint: replid {}, offset {}, db {}.",
                        checkpoint.replid, checkpoint.offset, checkpoint.db
                    ))?;
                    return Ok(checkpoint);
                }
                other => return Err(fail(format!("unexpected event {other:?}"))),
            }
        }
    }

    /// Step 6: the handshake again, and `+CONTINUE`.
    async fn resume(&mut self) -> Result<Offset, CliError> {
        self.link += 1;
        loop {
            match self.event("partial resync").await? {
                Event::HandshakeReply { reply, .. } => self.handshake_reply(&reply).await?,
                Event::PartialResync { offset, .. } => {
                    self.say(format!(
                        "   Partial resync: no snapshot this time. The stream resumes at offset {} \
                         from the master's backlog, in db {} (the master does not repeat SELECT):",
                        offset.next_byte(),
                        self.follower.checkpoint().map_or(0, |c| c.db)
                    ))?;
                    return Ok(offset);
                }
                Event::FullResync { .. } => {
                    return Err(fail("the master answered +FULLRESYNC instead of +CONTINUE"))
                }
                Event::Closed(reason) => return Err(fail(format!("the link closed: {reason}"))),
                _ => {}
            }
        }
    }
}

fn show_words(words: &[Vec<u8>]) -> String {
    words
        .iter()
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn show_reply(frame: &Frame) -> String {
    match frame {
        Frame::Simple(s) => format!("+{}", String::from_utf8_lossy(s)),
        Frame::Error(e) => format!("-{}", String::from_utf8_lossy(e)),
        Frame::Integer(n) => format!(":{n}"),
        Frame::Bulk(b) => format!("\"{}\"", String::from_utf8_lossy(b)),
        Frame::NullBulk | Frame::NullArray => "(nil)".into(),
        Frame::Array(items) => format!("({} items)", items.len()),
    }
}

/// A client connection to the master.
struct Client {
    addr: SocketAddr,
    stream: TcpStream,
    buf: BytesMut,
}

/// What `INFO replication` says about offsets.
struct ReplicationInfo {
    master_offset: u64,
    replica_offset: Option<u64>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Result<Client, CliError> {
        let stream = TcpStream::connect(addr).await.map_err(io_fail)?;
        Ok(Client {
            addr,
            stream,
            buf: BytesMut::new(),
        })
    }

    async fn cmd(&mut self, args: &[&str]) -> Result<Frame, CliError> {
        let mut wire = BytesMut::new();
        encode_command(&mut wire, args);
        self.stream.write_all(&wire).await.map_err(io_fail)?;
        loop {
            if let Some(frame) = decode_frame(&mut self.buf, &Limits::DEFAULT).map_err(fail)? {
                return Ok(frame);
            }
            let read = timeout(STEP_TIMEOUT, self.stream.read_buf(&mut self.buf))
                .await
                .map_err(|_| fail("the master did not answer"))?
                .map_err(io_fail)?;
            if read == 0 {
                return Err(fail("the master closed the client connection"));
            }
        }
    }

    async fn info_replication(&mut self) -> Result<ReplicationInfo, CliError> {
        let reply = self.cmd(&["INFO", "replication"]).await?;
        let text = String::from_utf8_lossy(reply.as_bytes().unwrap_or_default()).into_owned();
        let field = |line: &str, key: &str| {
            line.split(',')
                .find_map(|kv| kv.strip_prefix(key))
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let mut info = ReplicationInfo {
            master_offset: 0,
            replica_offset: None,
        };
        for line in text.lines() {
            if let Some(n) = field(line, "master_repl_offset:") {
                info.master_offset = n;
            }
            if line.starts_with("slave0:") {
                info.replica_offset = field(line, "offset=");
            }
        }
        Ok(info)
    }
}

/// A TCP proxy between the replica and the master: it reports the commands the replica
/// sends, numbered by connection, and can cut every connection.
struct Proxy {
    addr: SocketAddr,
    sent: mpsc::UnboundedReceiver<(u64, Vec<Vec<u8>>)>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    listener: JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.listener.abort();
    }
}

impl Proxy {
    async fn start(target: SocketAddr) -> io::Result<Proxy> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let (tx, sent) = mpsc::unbounded_channel();
        let conns = Arc::new(Mutex::new(Vec::new()));
        let live = Arc::clone(&conns);
        let listener = tokio::spawn(async move {
            let mut number = 0;
            while let Ok((replica, _)) = listener.accept().await {
                number += 1;
                let Ok(master) = TcpStream::connect(target).await else {
                    continue;
                };
                let task = tokio::spawn(forward(number, replica, master, tx.clone()));
                live.lock().unwrap_or_else(|e| e.into_inner()).push(task);
            }
        });
        Ok(Proxy {
            addr,
            sent,
            conns,
            listener,
        })
    }

    /// Closes every connection (both peers see it end).
    fn cut(&self) {
        for task in self
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }

    /// The next command the replica sent on connection `link`.
    async fn next_sent(&mut self, link: u64) -> Result<Vec<Vec<u8>>, CliError> {
        loop {
            match timeout(STEP_TIMEOUT, self.sent.recv()).await {
                Ok(Some((number, words))) if number == link => return Ok(words),
                Ok(Some(_)) => {}
                Ok(None) => return Err(fail("the proxy stopped")),
                Err(_) => return Err(fail("the proxy saw no command from the replica")),
            }
        }
    }
}

/// Copies bytes both ways, decoding what the replica sends.
async fn forward(
    number: u64,
    replica: TcpStream,
    master: TcpStream,
    sent: mpsc::UnboundedSender<(u64, Vec<Vec<u8>>)>,
) {
    let _ = replica.set_nodelay(true);
    let _ = master.set_nodelay(true);
    let (mut from_replica, mut to_replica) = replica.into_split();
    let (mut from_master, mut to_master) = master.into_split();
    let upstream = async {
        let mut decoder = CommandDecoder::new(Limits::DEFAULT);
        let mut buf = BytesMut::new();
        loop {
            match from_replica.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            // Whole commands are forwarded as they are decoded.
            loop {
                match decoder.decode(&buf) {
                    Ok(Decoded::Command { len, args } | Decoded::Inline { len, args }) => {
                        let frame = CommandFrame::new(buf.split_to(len).freeze(), args);
                        if to_master.write_all(frame.raw()).await.is_err() {
                            return;
                        }
                        let words = frame.args().map(<[u8]>::to_vec).collect();
                        let _ = sent.send((number, words));
                    }
                    Ok(Decoded::Keepalive { len }) => {
                        let bytes = buf.split_to(len);
                        if to_master.write_all(&bytes).await.is_err() {
                            return;
                        }
                    }
                    Ok(Decoded::Incomplete) => break,
                    Err(_) => {
                        // Not RESP: forward as is.
                        decoder.reset();
                        let bytes = buf.split();
                        if to_master.write_all(&bytes).await.is_err() {
                            return;
                        }
                        break;
                    }
                }
            }
        }
    };
    let downstream = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from_master.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if to_replica.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    tokio::select! {
        () = upstream => {}
        () = downstream => {}
    }
}
