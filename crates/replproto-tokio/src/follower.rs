//! Following a master across reconnects.

use std::io;
use std::time::Duration;

use replproto::replica::{Event, Following, Replica, ReplicaConfig};
use replproto::Checkpoint;
use tokio::net::TcpStream;

use crate::Link;

fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// Follows a master over TCP: connects, runs a [`Link`], and when the link ends reconnects
/// and resumes from the checkpoint it left. The carry-over between links is [`Following`]'s.
#[derive(Debug)]
pub struct Follower {
    addr: String,
    following: Following,
    link: Option<Link<TcpStream>>,
    connect_timeout: Duration,
}

impl Follower {
    /// A follower of the master at `addr` (`host:port`); it connects on the first
    /// [`next_event`](Self::next_event).
    pub fn new(addr: impl Into<String>, config: ReplicaConfig) -> Self {
        Follower {
            addr: addr.into(),
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

    /// The next event of the current link, connecting first when needed. Each link's events
    /// end with `Closed`; a failed connection attempt is returned as an error and retried on
    /// the next call after the reconnect delay. Cancel-safe.
    pub async fn next_event(&mut self) -> io::Result<Event> {
        loop {
            if let Some(link) = &mut self.link {
                let event = link.next_event().await;
                if matches!(event, Some(Event::Closed(_)) | None) {
                    self.following.end_link(link.replica());
                    self.link = None;
                }
                if let Some(event) = event {
                    return Ok(event);
                }
            }
            if let Some(at) = self.following.next_attempt() {
                tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
            }
            self.following.attempt(now());
            let connect = TcpStream::connect(&self.addr);
            let stream = tokio::time::timeout(self.connect_timeout, connect)
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connection timed out"))??;
            let _ = stream.set_nodelay(true);
            let replica = self
                .following
                .start_link(now())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            self.link = Some(Link::new(stream, replica));
        }
    }

    /// Ends the current link from this side.
    pub fn close(&mut self) {
        if let Some(link) = &mut self.link {
            link.close();
        }
    }
}
