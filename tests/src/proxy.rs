//! An in-test TCP proxy that can cut its connections and refuse new ones.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

/// A TCP proxy on a free loopback port forwarding every connection to a target address, with a
/// thread per direction.
///
/// Put it between a replica and its master (`--replicaof 127.0.0.1 <proxy port>`) to break the
/// link at a chosen moment with [`CutProxy::cut`], and to keep it broken with
/// [`CutProxy::set_blocked`]. Dropping the proxy stops its listener and cuts every connection.
#[derive(Debug)]
pub struct CutProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    listener: Option<JoinHandle<()>>,
}

/// State shared by the proxy handle, its listener thread and its copy threads.
#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    blocked: AtomicBool,
    accepted: AtomicU64,
    to_target: AtomicU64,
    from_target: AtomicU64,
    /// Clones of both sockets of every live connection, by connection number, for `cut()`.
    live: Mutex<HashMap<u64, (TcpStream, TcpStream)>>,
}

impl CutProxy {
    /// Starts a proxy on a free loopback port that forwards to `target`.
    ///
    /// # Panics
    ///
    /// Panics if no loopback listener can be bound.
    pub fn start(target: SocketAddr) -> CutProxy {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind proxy listener");
        let addr = listener.local_addr().expect("proxy listener address");
        let shared = Arc::new(Shared::default());
        let thread_shared = Arc::clone(&shared);
        let handle = thread::spawn(move || accept_loop(&listener, target, &thread_shared));
        CutProxy {
            addr,
            shared,
            listener: Some(handle),
        }
    }

    /// The address clients should connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port clients should connect to.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Closes both sides of every live connection (both peers see the connection end).
    pub fn cut(&self) {
        for (client, server) in self.shared.live.lock().unwrap().values() {
            let _ = client.shutdown(Shutdown::Both);
            let _ = server.shutdown(Shutdown::Both);
        }
    }

    /// While `blocked` is true, new connections are accepted and closed at once, so a peer that
    /// reconnects keeps failing. Existing connections are not affected (use [`CutProxy::cut`]).
    pub fn set_blocked(&self, blocked: bool) {
        self.shared.blocked.store(blocked, Ordering::SeqCst);
    }

    /// How many connections were accepted so far, including those refused while blocked.
    pub fn connections(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Bytes forwarded so far from clients to the target.
    pub fn bytes_to_target(&self) -> u64 {
        self.shared.to_target.load(Ordering::SeqCst)
    }

    /// Bytes forwarded so far from the target to clients.
    pub fn bytes_from_target(&self) -> u64 {
        self.shared.from_target.load(Ordering::SeqCst)
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept() so the listener thread sees the stop flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(handle) = self.listener.take() {
            let _ = handle.join();
        }
        self.cut();
    }
}

/// Accepts connections until the stop flag is set, and starts forwarding each one.
fn accept_loop(listener: &TcpListener, target: SocketAddr, shared: &Arc<Shared>) {
    for (id, client) in listener.incoming().enumerate() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        if shared.blocked.load(Ordering::SeqCst) {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let Ok(server) = TcpStream::connect(target) else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let id = id as u64;
        let (Ok(c2), Ok(s2), Ok(c3), Ok(s3)) = (
            client.try_clone(),
            server.try_clone(),
            client.try_clone(),
            server.try_clone(),
        ) else {
            continue;
        };
        shared.live.lock().unwrap().insert(id, (c3, s3));
        let up = Arc::clone(shared);
        thread::spawn(move || copy(id, client, server, &up, &up.to_target));
        let down = Arc::clone(shared);
        thread::spawn(move || copy(id, s2, c2, &down, &down.from_target));
    }
}

/// Copies `from` into `to` until either side ends, then closes the whole connection.
fn copy(id: u64, mut from: TcpStream, mut to: TcpStream, shared: &Shared, counter: &AtomicU64) {
    let mut buf = [0; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
                counter.fetch_add(n as u64, Ordering::SeqCst);
            }
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
    shared.live.lock().unwrap().remove(&id);
}
