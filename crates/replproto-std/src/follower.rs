//! Following a master across reconnects.

use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use replproto::replica::{Event, Following, Replica, ReplicaConfig};
use replproto::Checkpoint;

use crate::Link;

/// Follows a master over TCP: connects, runs a [`Link`], and when the link ends reconnects and
/// resumes from the checkpoint it left (a partial resync when the master still can). The
/// carry-over between links is [`Following`]'s.
#[derive(Debug)]
pub struct Follower {
    addrs: io::Result<Vec<SocketAddr>>,
    following: Following,
    link: Option<Link<TcpStream>>,
    connect_timeout: Duration,
}

impl Follower {
    /// A follower of the master at `addr`; it connects on the first
    /// [`next_event`](Self::next_event).
    pub fn new(addr: impl ToSocketAddrs, config: ReplicaConfig) -> Self {
        Follower {
            addrs: addr.to_socket_addrs().map(Iterator::collect),
            following: Following::new(config),
            link: None,
            connect_timeout: Duration::from_secs(5),
        }
    }

    /// Resumes from a saved checkpoint instead of asking for a full sync.
    #[must_use]
    pub fn with_checkpoint(mut self, checkpoint: Option<Checkpoint>) -> Self {
        self.following = self.following.with_checkpoint(checkpoint);
        self
    }

    /// Pause between connection attempts (default 1 s).
    #[must_use]
    pub fn with_reconnect_delay(mut self, delay: Duration) -> Self {
        self.following = self.following.with_reconnect_delay(delay);
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
            None => self.following.checkpoint(),
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
                let event = link.next_event();
                if matches!(event, Some(Event::Closed(_)) | None) {
                    self.following.end_link(link.replica());
                    self.link = None;
                }
                if let Some(event) = event {
                    return Ok(event);
                }
            }
            if let Some(at) = self.following.next_attempt() {
                std::thread::sleep(at.saturating_duration_since(Instant::now()));
            }
            self.following.attempt(Instant::now());
            let stream = self.connect()?;
            let _ = stream.set_nodelay(true);
            let replica = self
                .following
                .start_link(Instant::now())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            self.link = Some(Link::new(stream, replica));
        }
    }

    fn connect(&self) -> io::Result<TcpStream> {
        let addrs = self
            .addrs
            .as_ref()
            .map_err(|e| io::Error::new(e.kind(), e.to_string()))?;
        let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no address to connect to");
        for addr in addrs {
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
