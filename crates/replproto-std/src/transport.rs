//! What the driver needs from a byte stream.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A blocking byte stream whose reads can be bounded in time.
pub trait Transport: Read + Write {
    /// Bounds the next reads: after `timeout` a read fails with `WouldBlock` or `TimedOut`.
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()>;
    /// Closes both directions, if the stream can.
    fn shutdown(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for TcpStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }

    fn shutdown(&mut self) -> io::Result<()> {
        TcpStream::shutdown(self, std::net::Shutdown::Both)
    }
}

/// Any `Read + Write` stream without read timeouts (a pipe, an in-memory buffer, a TLS stream
/// wrapped elsewhere). Deadlines are then only checked between reads.
#[derive(Debug)]
pub struct Untimed<S>(pub S);

impl<S: Read> Read for Untimed<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<S: Write> Write for Untimed<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl<S: Read + Write> Transport for Untimed<S> {
    fn set_read_timeout(&mut self, _timeout: Option<Duration>) -> io::Result<()> {
        Ok(())
    }
}
