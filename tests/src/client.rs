//! A tiny blocking Redis client with its own RESP2 reader and writer.
//!
//! It is deliberately independent of the `replproto` codec so that the end-to-end tests check
//! the library against a second implementation as well as against the real server.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::ops::Range;
use std::time::Duration;

/// How long a reply may take before the client gives up, so a stuck server fails the test.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// One RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A simple string (`+OK`).
    Status(String),
    /// An error (`-ERR ...`), without the leading `-`.
    Error(String),
    /// An integer (`:42`).
    Int(i64),
    /// A bulk string; `None` is the null bulk string (`$-1`).
    Bulk(Option<Vec<u8>>),
    /// An array; `None` is the null array (`*-1`).
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The text of a status, an error or a UTF-8 bulk string; `None` for anything else.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Reply::Status(s) | Reply::Error(s) => Some(s),
            Reply::Bulk(Some(bytes)) => std::str::from_utf8(bytes).ok(),
            _ => None,
        }
    }

    /// The value of an integer reply, or of a bulk string holding a decimal integer.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Reply::Int(n) => Some(*n),
            Reply::Bulk(Some(_)) => self.as_str()?.parse().ok(),
            _ => None,
        }
    }

    /// Whether this is the status reply `+OK`.
    pub fn is_ok(&self) -> bool {
        matches!(self, Reply::Status(s) if s == "OK")
    }
}

/// The replication counters of `INFO stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncStats {
    /// `sync_full`: full resynchronizations served.
    pub full: u64,
    /// `sync_partial_ok`: accepted partial resynchronizations.
    pub partial_ok: u64,
    /// `sync_partial_err`: refused partial resynchronizations.
    pub partial_err: u64,
}

/// A blocking connection to a Redis server, for test assertions.
///
/// The methods without a `try_` prefix panic on I/O errors, which is what a test wants.
#[derive(Debug)]
pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    /// Connects to `addr`.
    ///
    /// # Panics
    ///
    /// Panics if the connection fails.
    pub fn connect(addr: impl ToSocketAddrs + std::fmt::Debug) -> Client {
        Client::try_connect(&addr).unwrap_or_else(|e| panic!("connect to {addr:?}: {e}"))
    }

    /// Connects to `addr`, returning the error instead of panicking.
    pub fn try_connect(addr: impl ToSocketAddrs) -> io::Result<Client> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(Client {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        })
    }

    /// Sends a command made of text arguments and reads its reply.
    ///
    /// # Panics
    ///
    /// Panics on an I/O or protocol error (an error *reply* is returned as [`Reply::Error`]).
    pub fn cmd(&mut self, args: &[&str]) -> Reply {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.cmd_bytes(&args)
    }

    /// Sends a command made of binary arguments and reads its reply.
    ///
    /// # Panics
    ///
    /// Panics on an I/O or protocol error.
    pub fn cmd_bytes(&mut self, args: &[&[u8]]) -> Reply {
        self.try_cmd_bytes(args)
            .unwrap_or_else(|e| panic!("command {:?}: {e}", String::from_utf8_lossy(args[0])))
    }

    /// Sends a command and reads its reply, returning I/O and protocol errors.
    pub fn try_cmd_bytes(&mut self, args: &[&[u8]]) -> io::Result<Reply> {
        let mut frame = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            frame.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            frame.extend_from_slice(arg);
            frame.extend_from_slice(b"\r\n");
        }
        self.writer.write_all(&frame)?;
        read_reply(&mut self.reader)
    }

    /// Authenticates with `AUTH <password>` (the `default` user).
    ///
    /// # Panics
    ///
    /// Panics unless the server answers `+OK`.
    pub fn auth(&mut self, password: &str) {
        let reply = self.cmd(&["AUTH", password]);
        assert!(reply.is_ok(), "AUTH failed: {reply:?}");
    }

    /// Runs `INFO <section>` and returns its `key:value` lines as a map.
    pub fn info(&mut self, section: &str) -> HashMap<String, String> {
        let reply = self.cmd(&["INFO", section]);
        let text = reply
            .as_str()
            .unwrap_or_else(|| panic!("INFO {section}: unexpected reply {reply:?}"));
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| line.split_once(':'))
            .map(|(k, v)| (k.to_owned(), v.trim_end().to_owned()))
            .collect()
    }

    /// Runs `INFO replication` (see protocol.md §7.3 for the fields).
    pub fn info_replication(&mut self) -> HashMap<String, String> {
        self.info("replication")
    }

    /// The `sync_full`, `sync_partial_ok` and `sync_partial_err` counters of `INFO stats`.
    pub fn stats(&mut self) -> SyncStats {
        let info = self.info("stats");
        let get = |key: &str| -> u64 {
            info.get(key)
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("INFO stats has no numeric {key}"))
        };
        SyncStats {
            full: get("sync_full"),
            partial_ok: get("sync_partial_ok"),
            partial_err: get("sync_partial_err"),
        }
    }

    /// The replicas a master reports, from its `slaveN:ip=..,port=..,state=..,offset=..` lines,
    /// in `N` order, as `(ip, listening port, state, acknowledged offset)`.
    pub fn replica_offsets(&mut self) -> Vec<(String, u16, String, u64)> {
        let mut replicas: Vec<(u32, (String, u16, String, u64))> = self
            .info_replication()
            .iter()
            .filter_map(|(key, value)| {
                let index = key.strip_prefix("slave")?.parse().ok()?;
                let fields: HashMap<&str, &str> =
                    value.split(',').filter_map(|f| f.split_once('=')).collect();
                let replica = (
                    fields.get("ip")?.to_string(),
                    fields.get("port")?.parse().ok()?,
                    fields.get("state")?.to_string(),
                    fields.get("offset")?.parse().ok()?,
                );
                Some((index, replica))
            })
            .collect();
        replicas.sort_by_key(|(index, _)| *index);
        replicas.into_iter().map(|(_, replica)| replica).collect()
    }

    /// From one `INFO replication`: the master's `master_repl_offset` and the offset the
    /// replica that announced `port` acknowledged, if the master lists it as `online`.
    pub fn online_replica_offset(&mut self, port: u16) -> (u64, Option<u64>) {
        let info = self.info_replication();
        let master = info
            .get("master_repl_offset")
            .and_then(|v| v.parse().ok())
            .expect("INFO replication has a numeric master_repl_offset");
        let port = format!("port={port},");
        let acked = info
            .iter()
            .filter(|(key, _)| key.starts_with("slave"))
            .map(|(_, value)| value)
            .find(|value| value.contains(&port) && value.contains("state=online"))
            .and_then(|value| {
                value
                    .split(',')
                    .find_map(|field| field.strip_prefix("offset="))?
                    .parse()
                    .ok()
            });
        (master, acked)
    }

    /// Whether the master lists the replica that announced `port` as `online`.
    pub fn replica_online(&mut self, port: u16) -> bool {
        self.online_replica_offset(port).1.is_some()
    }

    /// Waits until the master lists the replica that announced `port` as `online`.
    ///
    /// # Panics
    ///
    /// Panics if that does not happen within `timeout`.
    pub fn wait_replica_online(&mut self, port: u16, timeout: Duration) {
        crate::wait_until(
            &format!("the master lists our replica (port {port}) online"),
            timeout,
            || self.replica_online(port),
        );
    }

    /// Whether a replica's link to its master is up: `master_link_status` of
    /// `INFO replication` is `up` (`Some(true)`) or `down` (`Some(false)`); `None` when the
    /// server reports no such link (it is no replica).
    pub fn link_up(&mut self) -> Option<bool> {
        self.info_replication()
            .get("master_link_status")
            .map(|status| status == "up")
    }

    /// The `dbN:keys=..,expires=..` lines of `INFO keyspace`, reduced to
    /// `dbN -> (keys, expires)`.
    pub fn keyspace(&mut self) -> HashMap<String, (u64, u64)> {
        self.info("keyspace")
            .into_iter()
            .map(|(db, value)| {
                let fields: HashMap<&str, u64> = value
                    .split(',')
                    .filter_map(|f| f.split_once('='))
                    .filter_map(|(k, v)| Some((k, v.parse().ok()?)))
                    .collect();
                let counts = (
                    fields.get("keys").copied().unwrap_or(0),
                    fields.get("expires").copied().unwrap_or(0),
                );
                (db, counts)
            })
            .collect()
    }

    /// The `master_repl_offset` of `INFO replication`.
    pub fn master_repl_offset(&mut self) -> u64 {
        let info = self.info_replication();
        info.get("master_repl_offset")
            .and_then(|v| v.parse().ok())
            .expect("INFO replication has a numeric master_repl_offset")
    }

    /// Writes a small workload: `SET {prefix}:{i} {workload_value(prefix, i)}` for each `i`.
    ///
    /// [`workload_value`](crate::workload_value) gives the expected value back for checking.
    pub fn set_keys(&mut self, prefix: &str, keys: Range<u64>) {
        for i in keys {
            let key = format!("{prefix}:{i}");
            let reply = self.cmd(&["SET", &key, &crate::workload_value(prefix, i)]);
            assert!(reply.is_ok(), "SET {key}: {reply:?}");
        }
    }
}

/// Reads one RESP2 reply.
fn read_reply(reader: &mut impl BufRead) -> io::Result<Reply> {
    let line = read_line(reader)?;
    let (kind, rest) = line.split_at(1);
    let number = || -> io::Result<i64> {
        rest.parse()
            .map_err(|_| protocol_error(format!("bad number in {line:?}")))
    };
    Ok(match kind {
        "+" => Reply::Status(rest.to_owned()),
        "-" => Reply::Error(rest.to_owned()),
        ":" => Reply::Int(number()?),
        "$" => match usize::try_from(number()?) {
            Err(_) => Reply::Bulk(None),
            Ok(len) => {
                let mut data = vec![0; len + 2];
                reader.read_exact(&mut data)?;
                if !data.ends_with(b"\r\n") {
                    return Err(protocol_error("bulk string not followed by CRLF".into()));
                }
                data.truncate(len);
                Reply::Bulk(Some(data))
            }
        },
        "*" => match usize::try_from(number()?) {
            Err(_) => Reply::Array(None),
            Ok(len) => Reply::Array(Some(
                (0..len)
                    .map(|_| read_reply(reader))
                    .collect::<io::Result<_>>()?,
            )),
        },
        _ => return Err(protocol_error(format!("unexpected reply line {line:?}"))),
    })
}

/// Reads one CRLF-terminated, non-empty line and returns it without the CRLF.
fn read_line(reader: &mut impl BufRead) -> io::Result<String> {
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    if line.len() < 3 || !line.ends_with(b"\r\n") {
        return Err(protocol_error(format!(
            "bad reply line {:?}",
            String::from_utf8_lossy(&line)
        )));
    }
    line.truncate(line.len() - 2);
    String::from_utf8(line).map_err(|_| protocol_error("reply line is not UTF-8".into()))
}

fn protocol_error(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> io::Result<Reply> {
        read_reply(&mut &bytes[..])
    }

    #[test]
    fn parses_every_reply_kind() {
        assert!(parse(b"+OK\r\n").unwrap().is_ok());
        assert_eq!(
            parse(b"-ERR no\r\n").unwrap(),
            Reply::Error("ERR no".into())
        );
        assert_eq!(parse(b":-7\r\n").unwrap().as_int(), Some(-7));
        assert_eq!(parse(b"$-1\r\n").unwrap(), Reply::Bulk(None));
        assert_eq!(parse(b"$4\r\na\r\nb\r\n").unwrap().as_str(), Some("a\r\nb"));
        assert_eq!(parse(b"*-1\r\n").unwrap(), Reply::Array(None));
        assert_eq!(
            parse(b"*2\r\n:1\r\n*1\r\n$0\r\n\r\n").unwrap(),
            Reply::Array(Some(vec![
                Reply::Int(1),
                Reply::Array(Some(vec![Reply::Bulk(Some(vec![]))])),
            ]))
        );
    }

    #[test]
    fn rejects_malformed_replies() {
        assert!(parse(b"").is_err());
        assert!(parse(b"+OK\n").is_err());
        assert!(parse(b"$3\r\nabcd\r\n").is_err());
        assert!(parse(b"?x\r\n").is_err());
        assert!(parse(b"*2\r\n:1\r\n").is_err());
    }
}
