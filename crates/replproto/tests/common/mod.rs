//! Shared helpers of the integration tests: the recorded transcripts, a hand-written RESP
//! encoder and splitter (independent of the crate's codec), and small builders for a master's
//! side of a conversation.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::test_runner::{Config as ProptestConfig, FileFailurePersistence};
use replproto::replica::{CloseReason, Event, Replica, ReplicaConfig};
use replproto::{Checkpoint, Offset, ReplId};

/// The recorded conversations of real servers, beside the repository checkout.
pub const TRANSCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/transcripts/");

/// Server versions with a transcript folder.
pub const VERSIONS: [&str; 2] = ["redis-7.0.15", "redis-6.0.9"];

// ---------------------------------------------------------------------------------------------
// A flat JSON object parser (each transcript line is one object of scalars).

/// A scalar JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
}

impl Json {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Num(n) => Some(*n),
            _ => None,
        }
    }
}

struct JsonParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl JsonParser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> u8 {
        self.ws();
        *self.s.get(self.i).expect("unexpected end of JSON line")
    }

    fn expect(&mut self, c: u8) {
        let got = self.peek();
        assert_eq!(got as char, c as char, "JSON: at byte {}", self.i);
        self.i += 1;
    }

    fn literal(&mut self, word: &str) {
        self.ws();
        assert!(
            self.s[self.i..].starts_with(word.as_bytes()),
            "JSON: expected {word}"
        );
        self.i += word.len();
    }

    fn object(&mut self) -> BTreeMap<String, Json> {
        let mut map = BTreeMap::new();
        self.expect(b'{');
        if self.peek() == b'}' {
            self.i += 1;
            return map;
        }
        loop {
            let key = self.string();
            self.expect(b':');
            let value = self.value();
            map.insert(key, value);
            match self.peek() {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return map;
                }
                other => panic!("JSON: unexpected {:?}", other as char),
            }
        }
    }

    fn value(&mut self) -> Json {
        match self.peek() {
            b'"' => Json::Str(self.string()),
            b'n' => {
                self.literal("null");
                Json::Null
            }
            b't' => {
                self.literal("true");
                Json::Bool(true)
            }
            b'f' => {
                self.literal("false");
                Json::Bool(false)
            }
            b'-' | b'0'..=b'9' => {
                let start = self.i;
                while self.i < self.s.len()
                    && matches!(
                        self.s[self.i],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.i += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.i]).expect("ascii");
                Json::Num(text.parse().expect("JSON number"))
            }
            other => panic!("JSON: only flat objects of scalars expected, got {other:?}"),
        }
    }

    fn hex4(&mut self) -> u32 {
        let text = std::str::from_utf8(&self.s[self.i..self.i + 4]).expect("ascii");
        self.i += 4;
        u32::from_str_radix(text, 16).expect("JSON \\u escape")
    }

    fn string(&mut self) -> String {
        self.expect(b'"');
        let mut out: Vec<u8> = Vec::new();
        loop {
            let b = self.s[self.i];
            self.i += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    let e = self.s[self.i];
                    self.i += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let mut code = self.hex4();
                            if (0xD800..0xDC00).contains(&code)
                                && self.s[self.i..].starts_with(b"\\u")
                            {
                                self.i += 2;
                                let low = self.hex4();
                                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                            }
                            char::from_u32(code).unwrap_or('\u{fffd}')
                        }
                        other => panic!("JSON: bad escape {:?}", other as char),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                other => out.push(other),
            }
        }
        String::from_utf8(out).expect("JSON strings are UTF-8")
    }
}

/// Parses one line holding a flat JSON object.
pub fn parse_json_object(line: &str) -> BTreeMap<String, Json> {
    JsonParser {
        s: line.as_bytes(),
        i: 0,
    }
    .object()
}

/// Decodes lower- or upper-case hex.
pub fn from_hex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd hex length");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex digit"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Transcripts.

/// Direction of a recorded chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Replica to master.
    R2m,
    /// Master to replica.
    M2r,
}

/// Bytes that crossed the proxy in one read.
#[derive(Debug, Clone)]
pub struct Chunk {
    pub seq: u64,
    pub rel: f64,
    pub dir: Dir,
    pub bytes: Vec<u8>,
}

/// One proxied connection.
#[derive(Debug, Clone)]
pub struct Conn {
    pub id: u64,
    pub open_rel: f64,
    pub chunks: Vec<Chunk>,
    /// How the connection ended (`close`, `drop`), if the capture shows it.
    pub end: Option<(String, f64)>,
}

impl Conn {
    pub fn bytes(&self, dir: Dir) -> Vec<u8> {
        self.chunks
            .iter()
            .filter(|c| c.dir == dir)
            .flat_map(|c| c.bytes.iter().copied())
            .collect()
    }

    pub fn chunks(&self, dir: Dir) -> impl Iterator<Item = &Chunk> + '_ {
        self.chunks.iter().filter(move |c| c.dir == dir)
    }
}

/// One readable line of `<scenario>.decoded.txt`.
#[derive(Debug, Clone)]
pub struct DecodedLine {
    pub conn: Option<u64>,
    /// `None` for `##` event lines.
    pub dir: Option<Dir>,
    pub kind: String,
    pub text: String,
}

/// A scenario: its connections and its decoded protocol units.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub version: &'static str,
    pub name: String,
    pub conns: Vec<Conn>,
    pub decoded: Vec<DecodedLine>,
    /// The port the real replica listened on (`<scenario>.notes.json`), which it announces
    /// with `REPLCONF listening-port` when it gets that far.
    pub replica_port: Option<u16>,
}

impl Scenario {
    /// Decoded units of one connection in one direction.
    pub fn decoded(&self, conn: u64, dir: Dir) -> impl Iterator<Item = &DecodedLine> + '_ {
        self.decoded
            .iter()
            .filter(move |l| l.conn == Some(conn) && l.dir == Some(dir))
    }
}

/// Scenario names of a version, sorted.
pub fn scenario_names(version: &str) -> Vec<String> {
    let dir = format!("{TRANSCRIPTS}{version}");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {dir}: {e}"))
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".jsonl").map(str::to_owned)
        })
        .collect();
    names.sort();
    names
}

fn parse_conn_token(token: &str) -> Option<u64> {
    token.strip_prefix('c').and_then(|n| n.parse().ok())
}

fn parse_decoded(text: &str) -> Vec<DecodedLine> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, ' ');
        let (Some(_rel), Some(conn), Some(rest)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let conn = parse_conn_token(conn);
        let (dir, rest) = if let Some(r) = rest.strip_prefix("r2m ") {
            (Some(Dir::R2m), r)
        } else if let Some(r) = rest.strip_prefix("m2r ") {
            (Some(Dir::M2r), r)
        } else if let Some(r) = rest.strip_prefix("## ") {
            (None, r)
        } else {
            panic!("unknown decoded line: {line}");
        };
        let (kind, text) = if dir.is_some() {
            // The unit kind is left-aligned in a 10-character column.
            let kind = rest.get(..10).unwrap_or(rest).trim().to_owned();
            (kind, rest.get(10..).unwrap_or("").to_owned())
        } else {
            let mut p = rest.splitn(2, ' ');
            (
                p.next().unwrap_or("").to_owned(),
                p.next().unwrap_or("").to_owned(),
            )
        };
        out.push(DecodedLine {
            conn,
            dir,
            kind,
            text,
        });
    }
    out
}

/// Loads a scenario of a version.
pub fn load_scenario(version: &'static str, name: &str) -> Scenario {
    let path = format!("{TRANSCRIPTS}{version}/{name}.jsonl");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let mut conns: Vec<Conn> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let obj = parse_json_object(line);
        let Some(id) = obj.get("conn").and_then(Json::as_f64).map(|n| n as u64) else {
            continue;
        };
        let rel = obj.get("rel").and_then(Json::as_f64).unwrap_or(0.0);
        let at = match conns.iter().position(|c| c.id == id) {
            Some(at) => at,
            None => {
                conns.push(Conn {
                    id,
                    open_rel: rel,
                    chunks: Vec::new(),
                    end: None,
                });
                conns.len() - 1
            }
        };
        let conn = &mut conns[at];
        if let Some(dir) = obj.get("dir").and_then(Json::as_str) {
            let dir = match dir {
                "r2m" => Dir::R2m,
                "m2r" => Dir::M2r,
                other => panic!("unknown dir {other}"),
            };
            let bytes = from_hex(obj.get("hex").and_then(Json::as_str).expect("hex field"));
            if let Some(len) = obj.get("len").and_then(Json::as_f64) {
                assert_eq!(len as usize, bytes.len(), "{path}: len field");
            }
            let seq = obj.get("seq").and_then(Json::as_f64).expect("seq") as u64;
            conn.chunks.push(Chunk {
                seq,
                rel,
                dir,
                bytes,
            });
        } else if let Some(event) = obj.get("event").and_then(Json::as_str) {
            match event {
                "open" => conn.open_rel = rel,
                "close" | "drop" => conn.end = Some((event.to_owned(), rel)),
                _ => {}
            }
        }
    }
    let decoded_path = format!("{TRANSCRIPTS}{version}/{name}.decoded.txt");
    let decoded =
        fs::read_to_string(&decoded_path).unwrap_or_else(|e| panic!("reading {decoded_path}: {e}"));
    let notes_path = format!("{TRANSCRIPTS}{version}/{name}.notes.json");
    let notes = fs::read_to_string(&notes_path).unwrap_or_default();
    let replica_port = notes.find("started replica pid=").and_then(|at| {
        let rest = &notes[at..];
        let port = &rest[rest.find(" port=")? + 6..];
        let end = port.find(|c: char| !c.is_ascii_digit())?;
        port[..end].parse().ok()
    });
    Scenario {
        version,
        name: name.to_owned(),
        conns,
        decoded: parse_decoded(&decoded),
        replica_port,
    }
}

// ---------------------------------------------------------------------------------------------
// A hand-written RESP encoder and splitter, independent of the crate under test.

/// Encodes a command as an array of bulk strings.
pub fn cmd<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        let a = a.as_ref();
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// One protocol unit found in a byte string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unit {
    Command(Vec<Vec<u8>>),
    Inline(Vec<u8>),
    Empty,
}

impl Unit {
    /// Whether this is the command `name` (ASCII case ignored).
    pub fn is(&self, name: &str) -> bool {
        match self {
            Unit::Command(args) => args
                .first()
                .is_some_and(|a| a.eq_ignore_ascii_case(name.as_bytes())),
            Unit::Inline(text) => text
                .split(|&b| b == b' ')
                .next()
                .is_some_and(|a| a.eq_ignore_ascii_case(name.as_bytes())),
            Unit::Empty => false,
        }
    }

    /// The offset of a `REPLCONF ACK <offset> [...]`.
    pub fn ack_offset(&self) -> Option<u64> {
        match self {
            Unit::Command(args)
                if args.len() >= 3
                    && args[0].eq_ignore_ascii_case(b"REPLCONF")
                    && args[1].eq_ignore_ascii_case(b"ACK") =>
            {
                std::str::from_utf8(&args[2]).ok()?.parse().ok()
            }
            _ => None,
        }
    }
}

/// A unit with its place in the byte string.
#[derive(Debug, Clone)]
pub struct WireUnit {
    pub start: usize,
    pub end: usize,
    pub unit: Unit,
}

/// The line starting at `pos` (without CR LF) and the position after its LF.
pub fn line_at(bytes: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let lf = bytes[pos..].iter().position(|&b| b == b'\n')?;
    let text = &bytes[pos..pos + lf];
    let text = text.strip_suffix(b"\r").unwrap_or(text);
    Some((text, pos + lf + 1))
}

fn number(text: &[u8]) -> usize {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("bad length {:?}", String::from_utf8_lossy(text)))
}

/// Splits well-formed replica or master bytes into units; stops at an incomplete one.
pub fn split_units(bytes: &[u8]) -> Vec<WireUnit> {
    let mut out = Vec::new();
    let mut pos = 0;
    'units: while pos < bytes.len() {
        let start = pos;
        if bytes[pos] == b'*' {
            let Some((header, mut at)) = line_at(bytes, pos) else {
                break;
            };
            let count = number(&header[1..]);
            let mut args = Vec::with_capacity(count);
            for _ in 0..count {
                let Some((header, next)) = line_at(bytes, at) else {
                    break 'units;
                };
                assert_eq!(header.first(), Some(&b'$'), "bulk expected");
                let len = number(&header[1..]);
                if bytes.len() < next + len + 2 {
                    break 'units;
                }
                args.push(bytes[next..next + len].to_vec());
                at = next + len + 2;
            }
            pos = at;
            out.push(WireUnit {
                start,
                end: pos,
                unit: Unit::Command(args),
            });
        } else {
            let Some((text, next)) = line_at(bytes, pos) else {
                break;
            };
            pos = next;
            let unit = if text.is_empty() {
                Unit::Empty
            } else {
                Unit::Inline(text.to_vec())
            };
            out.push(WireUnit {
                start,
                end: pos,
                unit,
            });
        }
    }
    out
}

/// End of a handshake in `bytes`: just past `PSYNC`, and past an inline `SYNC` sent right
/// after it; `None` without `PSYNC`.
pub fn handshake_end(bytes: &[u8]) -> Option<usize> {
    let units = split_units(bytes);
    let at = units.iter().position(|u| u.unit.is("PSYNC"))?;
    match units.get(at + 1) {
        Some(next) if next.unit == Unit::Inline(b"SYNC".to_vec()) => Some(next.end),
        _ => Some(units[at].end),
    }
}

/// Offsets carried by every `REPLCONF ACK` in `bytes`.
pub fn acks_in(bytes: &[u8]) -> Vec<u64> {
    split_units(bytes)
        .iter()
        .filter_map(|u| u.unit.ack_offset())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// What the real replica of a connection did, and a configuration that makes ours do the same.

/// The real replica's side of a connection, read from its bytes.
#[derive(Debug, Clone, Default)]
pub struct RealReplica {
    /// Whether the connection started with `PING` (a real replica; redis-cli does not).
    pub is_replica: bool,
    pub listening_port: Option<u16>,
    pub auth: Option<(Option<Vec<u8>>, Vec<u8>)>,
    pub announce_ip: Option<Vec<u8>>,
    pub capa_eof: bool,
    /// `PSYNC` arguments (replid, offset).
    pub psync: Option<(Vec<u8>, Vec<u8>)>,
    /// Whether it fell back to the inline `SYNC`.
    pub sync: bool,
    /// End of the handshake in the concatenated replica bytes: just past `PSYNC` (and the
    /// `SYNC` right after it, if any); `None` when it never sent `PSYNC`.
    pub handshake_end: Option<usize>,
    /// Every `REPLCONF ACK` it sent: (seq of the chunk completing it, offset).
    pub acks: Vec<(u64, u64)>,
}

impl RealReplica {
    pub fn from_conn(conn: &Conn) -> RealReplica {
        let mut ends = Vec::new(); // (end position in the concatenation, seq)
        let mut all = Vec::new();
        for c in conn.chunks(Dir::R2m) {
            all.extend_from_slice(&c.bytes);
            ends.push((all.len(), c.seq));
        }
        let seq_of = |end: usize| {
            ends.iter()
                .find(|(e, _)| *e >= end)
                .map(|(_, s)| *s)
                .unwrap_or(u64::MAX)
        };
        let units = split_units(&all);
        let mut real = RealReplica {
            is_replica: units.first().is_some_and(|u| u.unit.is("PING")),
            ..RealReplica::default()
        };
        for u in &units {
            let Unit::Command(args) = &u.unit else {
                if let Unit::Inline(text) = &u.unit {
                    if text.eq_ignore_ascii_case(b"SYNC") {
                        real.sync = true;
                    }
                }
                continue;
            };
            let arg = |n: usize| args.get(n).cloned().unwrap_or_default();
            if u.unit.is("AUTH") {
                real.auth = Some(match args.len() {
                    2 => (None, arg(1)),
                    _ => (Some(arg(1)), arg(2)),
                });
            } else if u.unit.is("PSYNC") {
                real.psync = Some((arg(1), arg(2)));
            } else if let Some(offset) = u.unit.ack_offset() {
                real.acks.push((seq_of(u.end), offset));
            } else if u.unit.is("REPLCONF") {
                let key = arg(1).to_ascii_lowercase();
                match &key[..] {
                    b"listening-port" => {
                        real.listening_port = Some(number(&arg(2)) as u16);
                    }
                    b"ip-address" => real.announce_ip = Some(arg(2)),
                    b"capa" => {
                        real.capa_eof = args.iter().any(|a| a.eq_ignore_ascii_case(b"eof"));
                    }
                    _ => {}
                }
            }
        }
        real.handshake_end = handshake_end(&all);
        real
    }

    /// A configuration that makes our replica introduce itself the same way; `port` is used
    /// when the real replica was refused before it announced its own.
    pub fn config(&self, port: Option<u16>) -> ReplicaConfig {
        let port = self
            .listening_port
            .or(port)
            .expect("listening port of the replica");
        let mut config = ReplicaConfig::new(port);
        if let Some((user, password)) = &self.auth {
            config = match user {
                Some(user) => config.with_user(user.clone(), password.clone()),
                None => config.with_password(password.clone()),
            };
        }
        if let Some(ip) = &self.announce_ip {
            config = config.with_announce_ip(ip.clone());
        }
        config.with_capa_eof(self.capa_eof)
    }

    /// The checkpoint the real replica's `PSYNC` asked to resume from (the database is not on
    /// the wire: 0).
    pub fn resume(&self) -> Option<Checkpoint> {
        let (id, offset) = self.psync.as_ref()?;
        if id == b"?" {
            return None;
        }
        let next: u64 = number(offset) as u64;
        Some(Checkpoint {
            replid: ReplId::parse(id).expect("replid in PSYNC"),
            offset: Offset(next - 1),
            db: 0,
        })
    }
}

/// One replica connection of a transcript, ready to be fed to a fresh `Replica`.
#[derive(Debug, Clone)]
pub struct ConnCase {
    pub label: String,
    pub config: ReplicaConfig,
    pub resume: Option<Checkpoint>,
    /// The master's bytes, in the recorded chunks.
    pub chunks: Vec<Vec<u8>>,
}

impl ConnCase {
    pub fn m2r(&self) -> Vec<u8> {
        self.chunks.concat()
    }
}

/// Every replica connection of every transcript (redis-cli connections excluded), resuming
/// from the checkpoint its real `PSYNC` named.
pub fn all_connections() -> &'static [ConnCase] {
    static CASES: OnceLock<Vec<ConnCase>> = OnceLock::new();
    CASES.get_or_init(|| {
        let mut cases = Vec::new();
        for version in VERSIONS {
            for name in scenario_names(version) {
                let scenario = load_scenario(version, &name);
                for conn in &scenario.conns {
                    if conn.chunks.is_empty() {
                        continue;
                    }
                    let real = RealReplica::from_conn(conn);
                    if !real.is_replica {
                        continue;
                    }
                    cases.push(ConnCase {
                        label: format!("{version}/{name}/c{}", conn.id),
                        config: real.config(scenario.replica_port),
                        resume: real.resume(),
                        chunks: conn.chunks(Dir::M2r).map(|c| c.bytes.clone()).collect(),
                    });
                }
            }
        }
        assert!(cases.len() > 40, "transcripts missing: {}", cases.len());
        cases
    })
}

/// A proptest configuration running `cases` cases (or `PROPTEST_CASES`, for a deeper run) and
/// keeping failures in `file`.
pub fn prop_config(cases: u32, file: &'static str) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(file))),
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Driving a replica.

/// Everything a replica produced while being fed.
#[derive(Debug)]
pub struct Fed {
    pub replica: Replica,
    pub events: Vec<Event>,
    pub sent: Vec<u8>,
    /// Largest `buffered()` seen once the events of an input were drained.
    pub max_buffered: usize,
}

/// Drains all events.
pub fn drain_events(replica: &mut Replica) -> Vec<Event> {
    std::iter::from_fn(|| replica.poll_event()).collect()
}

/// Drains all output.
pub fn drain_sent(replica: &mut Replica) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(b) = replica.poll_transmit() {
        out.extend_from_slice(&b);
    }
    out
}

/// Feeds `pieces` one after another at `now`, collecting output and events after each.
pub fn feed<'a>(
    config: ReplicaConfig,
    resume: Option<Checkpoint>,
    pieces: impl IntoIterator<Item = &'a [u8]>,
    now: Instant,
) -> Fed {
    let mut replica = Replica::new(config, resume, now).expect("valid config");
    let mut events = drain_events(&mut replica);
    let mut sent = drain_sent(&mut replica);
    let mut max_buffered = 0;
    for piece in pieces {
        replica.handle_input(now, piece);
        // The canonical order: events first (delivering them may call for an ACK), then
        // what to send.
        events.extend(drain_events(&mut replica));
        // What stays once the events are drained: at most an incomplete frame or line.
        max_buffered = max_buffered.max(replica.buffered());
        sent.extend(drain_sent(&mut replica));
    }
    Fed {
        replica,
        events,
        sent,
        max_buffered,
    }
}

/// Cuts `data` at the given positions (any order, duplicates and out-of-range ignored).
pub fn split_at_points<'a>(data: &'a [u8], points: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = points.iter().map(|&p| p.min(data.len())).collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut pieces = Vec::new();
    let mut from = 0;
    for cut in cuts {
        pieces.push(&data[from..cut]);
        from = cut;
    }
    pieces.push(&data[from..]);
    pieces
}

/// Events with consecutive snapshot chunks merged (their boundaries follow the reads).
pub fn normalize(events: &[Event]) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::new();
    for event in events {
        if let Event::SnapshotChunk(chunk) = event {
            if let Some(Event::SnapshotChunk(prev)) = out.last_mut() {
                let mut merged = prev.to_vec();
                merged.extend_from_slice(chunk);
                *prev = Bytes::from(merged);
                continue;
            }
            if chunk.is_empty() {
                continue;
            }
        }
        out.push(event.clone());
    }
    out
}

/// The close reasons among `events`.
pub fn closes(events: &[Event]) -> Vec<&CloseReason> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Closed(r) => Some(r),
            _ => None,
        })
        .collect()
}

/// The arguments of every delivered command.
pub fn command_args(events: &[Event]) -> Vec<Vec<Vec<u8>>> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Command(c) => Some(c.frame.args().map(<[u8]>::to_vec).collect()),
            _ => None,
        })
        .collect()
}

/// `base + millis`.
pub fn at(base: Instant, millis: u64) -> Instant {
    base + Duration::from_millis(millis)
}

// ---------------------------------------------------------------------------------------------
// The master's side, built by hand.

/// Replication id `aaaa…a`.
pub const ID_A: &[u8; 40] = b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
/// Replication id `bbbb…b`.
pub const ID_B: &[u8; 40] = b"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
/// A diskless end mark.
pub const MARK: &[u8; 40] = b"0123456789abcdef0123456789abcdef01234567";

pub fn replid(id: &[u8]) -> ReplId {
    ReplId::parse(id).expect("valid replid")
}

/// Replies to `PING`, `REPLCONF listening-port` and `REPLCONF capa` (no AUTH configured).
pub const HANDSHAKE_REPLIES: &[u8] = b"+PONG\r\n+OK\r\n+OK\r\n";

/// The smallest valid RDB: magic, EOF opcode, a zero ("not computed") checksum.
pub fn tiny_rdb() -> Vec<u8> {
    let mut rdb = b"REDIS0010".to_vec();
    rdb.push(0xff);
    rdb.extend_from_slice(&[0; 8]);
    rdb
}

/// An RDB with aux fields and a real CRC-64 trailer.
pub fn rdb_with_aux(fields: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut rdb = b"REDIS0010".to_vec();
    for (key, value) in fields {
        rdb.push(0xfa);
        replproto::rdb::write_string(&mut rdb, key);
        replproto::rdb::write_string(&mut rdb, value);
    }
    rdb.push(0xff);
    let crc = replproto::rdb::crc64(&rdb);
    rdb.extend_from_slice(&crc.to_le_bytes());
    rdb
}

/// `$<len>\r\n<rdb>`.
pub fn length_framed(rdb: &[u8]) -> Vec<u8> {
    let mut out = format!("${}\r\n", rdb.len()).into_bytes();
    out.extend_from_slice(rdb);
    out
}

/// `$EOF:<mark>\r\n<rdb><mark>`.
pub fn eof_framed(rdb: &[u8]) -> Vec<u8> {
    let mut out = b"$EOF:".to_vec();
    out.extend_from_slice(MARK);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(rdb);
    out.extend_from_slice(MARK);
    out
}

/// `+FULLRESYNC <id> <offset>\r\n`.
pub fn fullresync(id: &[u8], offset: u64) -> Vec<u8> {
    let mut out = b"+FULLRESYNC ".to_vec();
    out.extend_from_slice(id);
    out.extend_from_slice(format!(" {offset}\r\n").as_bytes());
    out
}

/// Master keepalive `PING` (14 bytes).
pub const PING: &[u8] = b"*1\r\n$4\r\nping\r\n";
/// `REPLCONF GETACK *` (37 bytes).
pub const GETACK: &[u8] = b"*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n";
/// `MULTI` (15 bytes).
pub const MULTI: &[u8] = b"*1\r\n$5\r\nMULTI\r\n";
/// `EXEC` (14 bytes).
pub const EXEC: &[u8] = b"*1\r\n$4\r\nEXEC\r\n";

/// A replica (default config except `config`) that completed the handshake and read a full
/// sync announced at `offset` with a length-framed tiny RDB; events and output drained.
pub fn synced(config: ReplicaConfig, offset: u64, now: Instant) -> Replica {
    let mut replica = Replica::new(config, None, now).expect("valid config");
    let mut input = HANDSHAKE_REPLIES.to_vec();
    input.extend(fullresync(ID_A, offset));
    input.extend(length_framed(&tiny_rdb()));
    replica.handle_input(now, &input);
    assert_eq!(replica.phase(), replproto::replica::Phase::Streaming);
    drain_events(&mut replica);
    drain_sent(&mut replica);
    replica
}
