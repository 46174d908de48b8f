//! Following a master across reconnects.

use std::io;
use std::time::Duration;

use replproto::replica::{Event, Replica, ReplicaConfig};
use replproto::Checkpoint;
use tokio::net::TcpStream;

use crate::Link;

/// Follows a master over TCP: connects, runs a [`Link`], and when the link ends reconnects
/// and resumes from the checkpoint it left.
#[derive(Debug)]
pub struct Follower {
    addr: String,
    config: ReplicaConfig,
    checkpoint: Option<Checkpoint>,
    link: Option<Link<TcpStream>>,
    reconnect_delay: Duration,
    connect_timeout: Duration,
    next_attempt: Option<tokio::time::Instant>,
}

impl Follower {
    /// A follower of the master at `addr` (`host:port`); it connects on the first
    /// [`next_event`](Self::next_event).
    pub fn new(addr: impl Into<String>, config: ReplicaConfig) -> Self {
        Follower {
            addr: addr.into(),
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

    /// The next event of the current link, connecting first when needed. Each link's events
    /// end with `Closed`; a failed connection attempt is returned as an error and retried on
    /// the next call after the reconnect delay. Cancel-safe.
    pub async fn next_event(&mut self) -> io::Result<Event> {
        loop {
            if let Some(link) = &mut self.link {
                match link.next_event().await {
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
                tokio::time::sleep_until(at).await;
            }
            self.next_attempt = Some(tokio::time::Instant::now() + self.reconnect_delay);
            let stream = tokio::time::timeout(self.connect_timeout, TcpStream::connect(&self.addr))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connection timed out"))??;
            let _ = stream.set_nodelay(true);
            let now = tokio::time::Instant::now().into_std();
            let replica = Replica::new(self.config.clone(), self.checkpoint, now)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            self.link = Some(Link::new(stream, replica));
        }
    }

    fn finish_link(&mut self) {
        if let Some(link) = self.link.take() {
            self.checkpoint = link.into_replica().checkpoint();
        }
    }

    /// Ends the current link from this side.
    pub fn close(&mut self) {
        if let Some(link) = &mut self.link {
            link.close();
        }
    }
}
