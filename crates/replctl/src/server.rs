//! The network event loop of a node.
//!
//! One task owns everything: the core's [`Master`] (one session per connection), the
//! [`Store`], the clients blocked in `WAIT` and, in replica mode, the state of the link to this
//! node's own master. Nothing is shared, so nothing is locked. Around it:
//!
//! * per connection, a reader task sends `(session, bytes | end)` to the owner over a bounded
//!   channel, and a writer task writes what the owner queues on an unbounded one, closing the
//!   socket when that channel closes;
//! * in replica mode, an [`Upstream`] task drives the core's replica machine and forwards its
//!   events.
//!
//! The owner waits on the listener, the inbound bytes, the upstream events and one timer set to
//! the earliest of the core's deadline, the `WAIT` timeouts and the expiry sweep. After each
//! step it handles every [`MasterEvent`], answers finished `WAIT`s, and moves every session's
//! output to its writer. The clocks are read here and only here: [`Instant`] for the protocol,
//! Unix milliseconds for key expiry.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use replproto::master::session::{SessionConfig, SessionPhase};
use replproto::master::{Master, MasterConfig, MasterEvent, SessionId};
use replproto::replica::{CommandKind, ReplicaConfig};
use replproto::resp::parse_decimal;
use replproto::Offset;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::commands::{self, reply, Scope, Spec};
use crate::config::ServerConfig;
use crate::info::{Counters, View};
use crate::snapshot;
use crate::store::{ExpiryPolicy, Store};
use crate::upstream::{LinkState, Upstream, UpstreamEvent};

/// How often a master deletes expired keys it holds (active expiry).
const SWEEP_PERIOD: Duration = Duration::from_millis(100);
/// Bytes a reader task asks for per read.
const READ_CHUNK: usize = 16 * 1024;
/// Inbound messages that may wait for the owner before readers pause.
const INBOUND_QUEUE: usize = 1024;

const READONLY: &[u8] = b"-READONLY You can't write against a read only replica.\r\n";
const WAIT_ON_REPLICA: &str = "ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.";

/// A node running on a thread of its own (a single-threaded tokio runtime).
///
/// Dropping the handle stops the node and waits for its thread.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ServerHandle {
    /// The address the node listens on (with the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port the node listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Stops the node: every connection is closed, the listener too.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// Binds the listener now (so a busy port is reported here) and runs the node on a new thread.
///
/// # Errors
///
/// When the address cannot be bound or the thread or runtime cannot be started.
pub fn spawn(config: ServerConfig) -> io::Result<ServerHandle> {
    let listener = std::net::TcpListener::bind((config.bind, config.port))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name(format!("replctl-{}", addr.port()))
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match TcpListener::from_std(listener) {
                    Ok(listener) => listener,
                    Err(e) => return eprintln!("replctl: listener: {e}"),
                };
                run(listener, config, async {
                    let _ = stopped.await;
                })
                .await;
            });
        })?;
    Ok(ServerHandle {
        addr,
        stop: Some(stop),
        thread: Some(thread),
    })
}

/// Binds `config.bind:config.port` and runs the node until `shutdown` completes.
///
/// # Errors
///
/// When the address cannot be bound.
pub async fn serve(config: ServerConfig, shutdown: impl Future<Output = ()>) -> io::Result<()> {
    let listener = TcpListener::bind((config.bind, config.port)).await?;
    run(listener, config, shutdown).await;
    Ok(())
}

/// Runs the node on `listener` until `shutdown` completes.
pub async fn run(listener: TcpListener, config: ServerConfig, shutdown: impl Future<Output = ()>) {
    let (inbound_tx, mut inbound_rx) = mpsc::channel::<Inbound>(INBOUND_QUEUE);
    let (upstream_tx, mut upstream_rx) = mpsc::unbounded_channel();
    let port = listener.local_addr().map_or(config.port, |a| a.port());
    let mut node = Node::new(config, port, inbound_tx, upstream_tx);
    node.log(format_args!(
        "Ready to accept connections on {}",
        listener
            .local_addr()
            .map_or_else(|e| e.to_string(), |a| a.to_string())
    ));
    if let Some((host, port)) = node.config.replicaof.clone() {
        node.start_following(host, port, false, Instant::now());
    }
    tokio::pin!(shutdown);
    loop {
        let deadline = node.next_deadline();
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => node.on_accept(stream, peer),
                Err(e) => {
                    node.log(format_args!("accept: {e}"));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(inbound) = inbound_rx.recv() => node.on_inbound(inbound),
            Some((generation, event)) = upstream_rx.recv() => node.on_upstream(generation, event),
            () = tokio::time::sleep_until(deadline.into()) => node.on_timer(),
        }
        node.settle();
    }
    node.stop();
}

/// Bytes from a connection, or its end (`None`).
#[derive(Debug)]
struct Inbound {
    session: SessionId,
    data: Option<Bytes>,
}

#[derive(Debug)]
struct Conn {
    output: mpsc::UnboundedSender<Bytes>,
    /// Bytes handed to the writer and not written yet.
    queued: Arc<AtomicUsize>,
    peer: SocketAddr,
    /// The client's selected database.
    db: u32,
    /// The stream offset after this client's last propagated write (what `WAIT` waits for).
    woff: Offset,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl Conn {
    fn send(&self, bytes: Bytes) {
        self.queued.fetch_add(bytes.len(), Ordering::Relaxed);
        let _ = self.output.send(bytes);
    }
}

#[derive(Debug)]
struct PendingWait {
    session: SessionId,
    woff: Offset,
    needed: i64,
    deadline: Option<Instant>,
}

/// The state the owner task holds.
struct Node {
    config: ServerConfig,
    port: u16,
    master: Master,
    store: Store,
    conns: BTreeMap<SessionId, Conn>,
    peers: HashMap<SessionId, IpAddr>,
    inbound: mpsc::Sender<Inbound>,
    upstream_events: mpsc::UnboundedSender<(u64, UpstreamEvent)>,
    upstream: Option<Upstream>,
    generation: u64,
    waits: Vec<PendingWait>,
    acks_wanted: bool,
    next_sweep: Instant,
    counters: Counters,
    started: Instant,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Node {
    fn new(
        config: ServerConfig,
        port: u16,
        inbound: mpsc::Sender<Inbound>,
        upstream_events: mpsc::UnboundedSender<(u64, UpstreamEvent)>,
    ) -> Node {
        let now = Instant::now();
        let mut session = SessionConfig::default();
        session.require_auth = config.requirepass.is_some();
        session.repl_timeout = config.repl_timeout;
        // Redis never lets the limit fall below the backlog size.
        session.output_limit = config.replica_output_limit.max(config.backlog_size);
        let mut master_config = MasterConfig::default();
        master_config.backlog_size = config.backlog_size;
        master_config.diskless_sync = config.diskless_sync;
        master_config.min_replicas_to_write = config.min_replicas_to_write;
        master_config.min_replicas_max_lag = config.min_replicas_max_lag;
        master_config.session = session;
        Node {
            master: Master::new(master_config, config.seed, now),
            config,
            port,
            store: Store::new(),
            conns: BTreeMap::new(),
            peers: HashMap::new(),
            inbound,
            upstream_events,
            upstream: None,
            generation: 0,
            waits: Vec::new(),
            acks_wanted: false,
            next_sweep: now + SWEEP_PERIOD,
            counters: Counters::default(),
            started: now,
        }
    }

    fn log(&self, message: std::fmt::Arguments<'_>) {
        if self.config.log {
            let role = if self.upstream.is_some() { 'S' } else { 'M' };
            eprintln!("replctl:{} {role} {message}", self.port);
        }
    }

    fn is_replica(&self) -> bool {
        self.upstream.is_some()
    }

    fn next_deadline(&self) -> Instant {
        let now = Instant::now();
        let mut deadline = self
            .master
            .poll_timeout()
            .unwrap_or(now + Duration::from_secs(1));
        for wait in &self.waits {
            if let Some(at) = wait.deadline {
                deadline = deadline.min(at);
            }
        }
        if !self.is_replica() && self.store.has_expires() {
            deadline = deadline.min(self.next_sweep);
        }
        deadline
    }

    fn on_accept(&mut self, stream: TcpStream, peer: SocketAddr) {
        let now = Instant::now();
        let _ = stream.set_nodelay(true);
        let session = self.master.add_session(now);
        self.counters.connections += 1;
        let (read, write) = stream.into_split();
        let (output, pending) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let writer = tokio::spawn(write_loop(
            write,
            pending,
            Arc::clone(&queued),
            session,
            self.inbound.clone(),
        ));
        let reader = tokio::spawn(read_loop(read, session, self.inbound.clone()));
        self.peers.insert(session, peer.ip());
        self.conns.insert(
            session,
            Conn {
                output,
                queued,
                peer,
                db: 0,
                woff: Offset::ZERO,
                reader,
                writer,
            },
        );
    }

    fn on_inbound(&mut self, inbound: Inbound) {
        let now = Instant::now();
        match inbound.data {
            Some(data) => self.master.handle_input(inbound.session, now, &data),
            None => self.master.handle_eof(inbound.session, now),
        }
    }

    fn on_timer(&mut self) {
        let now = Instant::now();
        self.master.handle_timeout(now);
        if now >= self.next_sweep {
            self.next_sweep = now + SWEEP_PERIOD;
            if !self.is_replica() {
                self.sweep_expired();
            }
        }
    }

    /// Active expiry on a master: deletes what expired and propagates each `DEL`.
    fn sweep_expired(&mut self) {
        for (db, key) in self.store.purge_expired(unix_ms()) {
            self.counters.expired_keys += 1;
            self.master
                .propagate(Some(db), &[Bytes::from_static(b"DEL"), key]);
        }
    }

    /// Handles every pending event and finished `WAIT`, and hands out the output, until
    /// nothing is left to do.
    fn settle(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(event) = self.master.poll_event() {
                progressed = true;
                self.on_event(event);
            }
            progressed |= self.finish_waits();
            if self.acks_wanted {
                self.acks_wanted = false;
                self.master.request_acks();
                progressed = true;
            }
            for (id, conn) in &self.conns {
                while let Some(bytes) = self.master.poll_transmit(*id) {
                    conn.send(bytes);
                }
            }
            progressed |= self.enforce_output_limit();
            if !progressed {
                break;
            }
        }
    }

    /// Output the core handed out is queued at the writers, where the core's own output limit
    /// cannot see it: drops a streaming replica whose socket fell that far behind
    /// (`client-output-buffer-limit replica`). Whether any was dropped.
    fn enforce_output_limit(&mut self) -> bool {
        let limit = self.master.config().session.output_limit;
        let over: Vec<SessionId> = self
            .conns
            .iter()
            .filter(|(id, conn)| {
                conn.queued.load(Ordering::Relaxed) > limit
                    && self
                        .master
                        .session(**id)
                        .is_some_and(|s| s.phase() == SessionPhase::Online)
            })
            .map(|(id, _)| *id)
            .collect();
        let now = Instant::now();
        for id in &over {
            if let Some(conn) = self.conns.get(id) {
                self.log(format_args!(
                    "Client {} closed for overcoming of output buffer limits.",
                    conn.peer
                ));
                // What is queued is never sent: the replica will resynchronize.
                conn.writer.abort();
            }
            self.master.close_session(*id, now);
        }
        !over.is_empty()
    }

    fn on_event(&mut self, event: MasterEvent) {
        let now = Instant::now();
        match event {
            MasterEvent::Auth {
                session,
                username,
                password,
            } => {
                let user_ok = username.as_deref().is_none_or(|u| u == b"default");
                let ok = user_ok
                    && self
                        .config
                        .requirepass
                        .as_ref()
                        .is_none_or(|p| p.as_bytes() == password.as_ref());
                let _ = self.master.auth_result(session, now, ok);
            }
            MasterEvent::Command { session, frame } => {
                let args: Vec<Bytes> = (0..frame.argc())
                    .filter_map(|i| frame.arg_bytes(i))
                    .collect();
                self.counters.commands += 1;
                self.command(session, &args, now);
            }
            MasterEvent::SnapshotNeeded {
                session,
                without_data,
            } => {
                if !self.is_replica() {
                    self.sweep_expired();
                }
                let (replid, offset, db) = self.master.snapshot_aux();
                let ctime = unix_ms() / 1000;
                let empty = Store::new();
                let data = if without_data { &empty } else { &self.store };
                let rdb = snapshot::write(data, replid, offset, db, ctime);
                let peer = self.conns.get(&session).map(|c| c.peer);
                self.log(format_args!(
                    "Full resync requested by replica {peer:?}: sending a {} byte snapshot at offset {}",
                    rdb.len(),
                    offset.get()
                ));
                if let Err(e) = self.master.send_snapshot(session, now, rdb) {
                    self.log(format_args!("snapshot: {e}"));
                }
            }
            MasterEvent::PartialResyncAccepted { session, from } => {
                let peer = self.conns.get(&session).map(|c| c.peer);
                self.log(format_args!(
                    "Partial resynchronization request from {peer:?} accepted, sending from offset {from}"
                ));
            }
            MasterEvent::Closed { session, reason } => {
                if let Some(conn) = self.conns.remove(&session) {
                    while let Some(bytes) = self.master.poll_transmit(session) {
                        conn.send(bytes);
                    }
                    conn.reader.abort();
                    if self
                        .master
                        .session(session)
                        .is_some_and(|s| s.info().listening_port.is_some())
                    {
                        self.log(format_args!(
                            "Connection with replica {} lost: {reason}",
                            conn.peer
                        ));
                    }
                    // Dropping `conn.output` lets the writer flush, then close the socket.
                }
                self.master.remove_session(session);
                self.peers.remove(&session);
                self.waits.retain(|w| w.session != session);
            }
            _ => {}
        }
    }

    fn reply(&mut self, session: SessionId, bytes: &[u8], now: Instant) {
        let _ = self.master.reply(session, now, bytes);
    }

    fn command(&mut self, session: SessionId, args: &[Bytes], now: Instant) {
        let spec = match commands::check(args) {
            Ok(spec) => spec,
            Err(error) => return self.reply(session, &error, now),
        };
        if spec.scope == Scope::Node {
            return self.node_command(session, spec, args, now);
        }
        if spec.write {
            if self.is_replica() {
                return self.reply(session, READONLY, now);
            }
            if let Err(line) = self.master.check_write(now) {
                return self.reply(session, line, now);
            }
        }
        let policy = if self.is_replica() {
            ExpiryPolicy::Hide
        } else {
            ExpiryPolicy::Delete
        };
        let Some(conn) = self.conns.get_mut(&session) else {
            return;
        };
        let db = conn.db;
        let mut new_db = db;
        let effect = commands::execute(&mut self.store, &mut new_db, args, unix_ms(), policy);
        conn.db = new_db;
        self.counters.expired_keys += effect.expired;
        if !effect.propagate.is_empty() && !self.is_replica() {
            let offset = self.master.propagate_unit(Some(db), &effect.propagate);
            if let Some(conn) = self.conns.get_mut(&session) {
                conn.woff = offset;
            }
        }
        self.reply(session, &effect.reply, now);
    }

    fn node_command(&mut self, session: SessionId, spec: &Spec, args: &[Bytes], now: Instant) {
        match spec.name {
            "info" => {
                let sections: Vec<&[u8]> = args[1..].iter().map(|a| &a[..]).collect();
                let text = self.view(now).info(&sections);
                self.reply(session, &reply::bulk(text.as_bytes()), now);
            }
            "role" => {
                let role = self.view(now).role();
                self.reply(session, &role, now);
            }
            "wait" => self.wait(session, args, now),
            "replicaof" | "slaveof" => self.replicaof(session, args, now),
            _ => {
                // QUIT: answer, then close once the answer is out.
                self.reply(session, &reply::ok(), now);
                self.master.close_session(session, now);
            }
        }
    }

    fn view(&self, now: Instant) -> View<'_> {
        View {
            master: &self.master,
            store: &self.store,
            upstream: self.upstream.as_ref(),
            peers: &self.peers,
            clients: self.conns.len(),
            port: self.port,
            started: self.started,
            now,
            counters: self.counters,
        }
    }

    fn wait(&mut self, session: SessionId, args: &[Bytes], now: Instant) {
        if self.is_replica() {
            return self.reply(session, &reply::error(WAIT_ON_REPLICA), now);
        }
        let Some(needed) = parse_decimal(&args[1]) else {
            return self.reply(
                session,
                &reply::error("ERR value is not an integer or out of range"),
                now,
            );
        };
        let timeout = match parse_decimal(&args[2]) {
            None => {
                return self.reply(
                    session,
                    &reply::error("ERR timeout is not an integer or out of range"),
                    now,
                )
            }
            Some(t) if t < 0 => {
                return self.reply(session, &reply::error("ERR timeout is negative"), now)
            }
            Some(t) => t as u64,
        };
        let woff = self.conns.get(&session).map_or(Offset::ZERO, |c| c.woff);
        let count = self.master.replicas_acked(woff);
        if count as i64 >= needed {
            return self.reply(session, &reply::int(count as i64), now);
        }
        // Blocked: the session reads nothing more until it is answered.
        self.waits.push(PendingWait {
            session,
            woff,
            needed,
            deadline: (timeout > 0).then(|| now + Duration::from_millis(timeout)),
        });
        self.acks_wanted = true;
    }

    /// Answers every `WAIT` that is satisfied or timed out; whether any was.
    fn finish_waits(&mut self) -> bool {
        if self.waits.is_empty() {
            return false;
        }
        let now = Instant::now();
        let mut done = Vec::new();
        self.waits.retain(|w| {
            let count = self.master.replicas_acked(w.woff);
            let finished = count as i64 >= w.needed || w.deadline.is_some_and(|d| now >= d);
            if finished {
                done.push((w.session, count));
            }
            !finished
        });
        for (session, count) in &done {
            self.reply(*session, &reply::int(*count as i64), now);
        }
        !done.is_empty()
    }

    fn replicaof(&mut self, session: SessionId, args: &[Bytes], now: Instant) {
        if args[1].eq_ignore_ascii_case(b"no") && args[2].eq_ignore_ascii_case(b"one") {
            if let Some(upstream) = self.upstream.take() {
                upstream.stop();
                self.master.promote(now);
                self.log(format_args!(
                    "MASTER MODE enabled: new replication id {}, previous {} valid up to offset {}",
                    self.master.ids().replid.as_str(),
                    self.master.ids().replid2.as_str(),
                    self.master.ids().second_replid_offset_signed()
                ));
            }
            return self.reply(session, &reply::ok(), now);
        }
        let port = parse_decimal(&args[2]).and_then(|p| u16::try_from(p).ok());
        let Some(port) = port else {
            return self.reply(session, &reply::error("ERR Invalid master port"), now);
        };
        let host = String::from_utf8_lossy(&args[1]).into_owned();
        if let Some(up) = &self.upstream {
            if up.host.eq_ignore_ascii_case(&host) && up.port == port {
                return self.reply(
                    session,
                    &reply::status("OK Already connected to specified master"),
                    now,
                );
            }
        }
        self.start_following(host, port, true, now);
        self.reply(session, &reply::ok(), now);
    }

    /// Starts (or moves) the link to a master. With `resume_own`, the first `PSYNC` asks to
    /// continue this node's own history, as Redis does after `REPLICAOF` at run time.
    fn start_following(&mut self, host: String, port: u16, resume_own: bool, now: Instant) {
        if let Some(old) = self.upstream.take() {
            old.stop();
        }
        // History, backlog and replicas are kept; syncs are refused until the link is up.
        let own = self.master.become_replica();
        // Clients blocked in WAIT are released, as REPLICAOF does in Redis.
        for wait in std::mem::take(&mut self.waits) {
            let count = self.master.replicas_acked(wait.woff);
            self.reply(wait.session, &reply::int(count as i64), now);
        }
        let resume = resume_own.then_some(own);
        let mut config = ReplicaConfig::new(self.port).with_repl_timeout(self.config.repl_timeout);
        if let Some(password) = &self.config.masterauth {
            config = config.with_password(Bytes::copy_from_slice(password.as_bytes()));
        }
        self.generation += 1;
        self.log(format_args!("Connecting to MASTER {host}:{port}"));
        self.upstream = Some(Upstream::start(
            host,
            port,
            config,
            resume,
            self.generation,
            self.upstream_events.clone(),
        ));
    }

    fn on_upstream(&mut self, generation: u64, event: UpstreamEvent) {
        let now = Instant::now();
        let Some(up) = self
            .upstream
            .as_mut()
            .filter(|u| u.generation == generation)
        else {
            return;
        };
        match event {
            UpstreamEvent::State(state) => {
                up.state = state;
                if state != LinkState::Connected {
                    self.master.set_link_up(false);
                }
            }
            UpstreamEvent::Down(reason) => {
                up.down_since = Some(now);
                self.master.set_link_up(false);
                self.log(format_args!("{reason}"));
            }
            UpstreamEvent::Synced {
                store,
                replid,
                offset,
                db,
            } => {
                up.state = LinkState::Connected;
                up.last_io = Some(now);
                up.down_since = None;
                let keys: usize = (0..crate::store::DATABASES).map(|d| store.len(d)).sum();
                self.store = store;
                let replid = replid.unwrap_or(self.master.ids().replid);
                self.master.follow(replid, offset, db, now);
                self.log(format_args!(
                    "MASTER <-> REPLICA sync: Finished with success ({keys} keys, history {} at offset {})",
                    replid.as_str(),
                    offset.get()
                ));
            }
            UpstreamEvent::Continued { replid, offset } => {
                up.state = LinkState::Connected;
                up.last_io = Some(now);
                up.down_since = None;
                if self.master.offset() == offset {
                    self.master.follow_new_id(replid, now);
                } else {
                    // Not where this node stands: start over from what the master says.
                    let (_, _, db) = self.master.snapshot_aux();
                    self.master.follow(replid, offset, db, now);
                }
                self.master.set_link_up(true);
                self.log(format_args!(
                    "Successful partial resynchronization with master (history {} from offset {})",
                    replid.as_str(),
                    offset.get()
                ));
            }
            UpstreamEvent::Command(command) => {
                up.last_io = Some(now);
                if command.kind == CommandKind::Other {
                    let args: Vec<Bytes> = (0..command.frame.argc())
                        .filter_map(|i| command.frame.arg_bytes(i))
                        .collect();
                    commands::apply_replicated(&mut self.store, command.db, &args, unix_ms());
                }
                self.master.relay_command(&command);
            }
        }
    }

    fn stop(&mut self) {
        if let Some(upstream) = self.upstream.take() {
            upstream.stop();
        }
        for (_, conn) in std::mem::take(&mut self.conns) {
            conn.reader.abort();
            conn.writer.abort();
        }
    }
}

async fn read_loop(mut read: OwnedReadHalf, session: SessionId, inbound: mpsc::Sender<Inbound>) {
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    loop {
        buf.reserve(READ_CHUNK);
        let data = match read.read_buf(&mut buf).await {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(buf.split().freeze()),
        };
        let end = data.is_none();
        if inbound.send(Inbound { session, data }).await.is_err() || end {
            return;
        }
    }
}

async fn write_loop(
    mut write: OwnedWriteHalf,
    mut pending: mpsc::UnboundedReceiver<Bytes>,
    queued: Arc<AtomicUsize>,
    session: SessionId,
    inbound: mpsc::Sender<Inbound>,
) {
    while let Some(bytes) = pending.recv().await {
        if write.write_all(&bytes).await.is_err() {
            let end = Inbound {
                session,
                data: None,
            };
            let _ = inbound.send(end).await;
            return;
        }
        queued.fetch_sub(bytes.len(), Ordering::Relaxed);
    }
    let _ = write.shutdown().await;
}
