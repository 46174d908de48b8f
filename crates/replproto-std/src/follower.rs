//! Following a master across reconnects.

use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use replproto::replica::{Event, Replica, ReplicaConfig};
use replproto::Checkpoint;

use crate::Link;

/// Follows a master over TCP: connects, runs a [`Link`], and when the link ends reconnects and
/// resumes from the checkpoint it left (a partial resync when the master still can).
#[derive(Debug)]
pub struct Follower {
    addrs: Vec<SocketAddr>,
    resolve_error: Option<String>,
    config: ReplicaConfig,
    checkpoint: Option<Checkpoint>,
    link: Option<Link<TcpStream>>,
    reconnect_delay: Duration,
    connect_timeout: Duration,
    next_attempt: Option<Instant>,
}

impl Follower {
    /// A follower of the master at `addr`; it connects on the first
    /// [`next_event`](Self::next_event).
    pub fn new(addr: impl ToSocketAddrs, config: ReplicaConfig) -> Self {
        let (addrs, resolve_error) = match addr.to_socket_addrs() {
            Ok(addrs) => (addrs.collect(), None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        Follower {
            addrs,
            resolve_error,
            config,
            checkpoint: None,
            link: None,
            reconnect_delay: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(5),
            next_attempt: None,
        }
    }

    /// Resumes from a saved checkpoint instead of asking for a full sync.
    #[must_use]
    pub fn with_checkpoint(mut self, checkpoint: Option<Checkpoint>) -> Self {
        self.checkpoint = checkpoint;
        self
    }

    /// Pause between a link's end and the next connection attempt (default 1 s).
    #[must_use]
    pub fn with_reconnect_delay(mut self, delay: Duration) -> Self {
        self.reconnect_delay = delay;
        self
    }

    /// Bound on establishing a TCP connection (default 5 s).
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The checkpoint the next link would resume from (or the live one while streaming).
    pub fn checkpoint(&self) -> Option<Checkpoint> {
        match &self.link {
            Some(link) => link.replica().checkpoint(),
            None => self.checkpoint,
        }
    }

    /// The current link's state machine, if connected.
    pub fn replica_mut(&mut self) -> Option<&mut Replica> {
        self.link.as_mut().map(Link::replica_mut)
    }

    /// Blocks until the next event of the current link, connecting or reconnecting first when
    /// needed. Each link's events end with `Closed`; the next call starts a new link. A failed
    /// connection attempt is returned as an error, and the next call tries again after the
    /// reconnect delay.
    pub fn next_event(&mut self) -> io::Result<Event> {
        loop {
            if let Some(link) = &mut self.link {
                match link.next_event() {
                    Some(event) => {
                        if let Event::Closed(_) = event {
                            self.finish_link();
                        }
                        return Ok(event);
                    }
                    None => self.finish_link(),
                }
                continue;
            }
            if let Some(at) = self.next_attempt {
                let now = Instant::now();
                if at > now {
                    std::thread::sleep(at - now);
                }
            }
            self.next_attempt = Some(Instant::now() + self.reconnect_delay);
            let stream = self.connect()?;
            let _ = stream.set_nodelay(true);
            let replica = Replica::new(self.config.clone(), self.checkpoint, Instant::now())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            self.link = Some(Link::new(stream, replica));
        }
    }

    fn finish_link(&mut self) {
        if let Some(link) = self.link.take() {
            self.checkpoint = link.into_replica().checkpoint();
        }
    }

    fn connect(&self) -> io::Result<TcpStream> {
        if let Some(e) = &self.resolve_error {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, e.clone()));
        }
        let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no address to connect to");
        for addr in &self.addrs {
            match TcpStream::connect_timeout(addr, self.connect_timeout) {
                Ok(stream) => return Ok(stream),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Ends the current link from this side.
    pub fn close(&mut self) -> io::Result<()> {
        match &mut self.link {
            Some(link) => link.close(),
            None => Ok(()),
        }
    }
}
