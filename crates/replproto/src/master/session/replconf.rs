//! `REPLCONF` as a master reads it (protocol.md §5.7).

use bytes::Bytes;

use crate::master::INVALID_OFFSET;
use crate::resp::{parse_decimal, CommandFrame};

/// What the replica announced so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplicaInfo {
    /// `REPLCONF listening-port`.
    pub listening_port: Option<i64>,
    /// `REPLCONF ip-address`.
    pub ip_address: Option<Bytes>,
    /// `capa eof`: the replica can read a diskless `$EOF:` snapshot.
    pub capa_eof: bool,
    /// `capa psync2`: the replica understands `+CONTINUE <id>`.
    pub capa_psync2: bool,
    /// `rdb-only 1`: the replica wants the snapshot and no stream (`redis-cli --rdb`).
    pub rdb_only: bool,
    /// `rdb-filter-only <filters>`: a snapshot without keys (`""`), or with functions only
    /// (`functions`, `true` here); this library sends neither keys nor functions then.
    pub rdb_filter: Option<bool>,
}

/// The outcome of one `REPLCONF`.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Replconf {
    /// Reply with this line (`+OK` or an error).
    Reply(&'static [u8]),
    /// Reply with an error built from the request.
    ReplyOwned(Vec<u8>),
    /// `ACK <offset>` (no reply ever).
    Ack(Option<u64>),
    /// `GETACK` or a bad `ACK`: no reply.
    Silent,
}

/// Applies `REPLCONF <opt> <val> …` to `info`, left to right, as Redis does: a bad pair stops
/// with its error (earlier pairs stay applied), `ack`/`getack` end processing without a reply.
pub(super) fn apply(frame: &CommandFrame, info: &mut ReplicaInfo) -> Replconf {
    if frame.argc().is_multiple_of(2) {
        return Replconf::Reply(b"-ERR syntax error\r\n");
    }
    let mut i = 1;
    while i + 1 < frame.argc() {
        let (option, value) = (
            frame.arg(i).unwrap_or_default(),
            frame.arg(i + 1).unwrap_or_default(),
        );
        i += 2;
        let is = |name: &str| option.eq_ignore_ascii_case(name.as_bytes());
        if is("listening-port") {
            match parse_decimal(value) {
                Some(port) => info.listening_port = Some(port),
                None => return Replconf::Reply(INVALID_OFFSET),
            }
        } else if is("ip-address") {
            if value.len() >= 256 {
                return Replconf::ReplyOwned(
                    format!(
                        "-ERR REPLCONF ip-address provided by replica instance is too long: {} bytes\r\n",
                        value.len()
                    )
                    .into_bytes(),
                );
            }
            info.ip_address = frame.arg_bytes(i - 1);
        } else if is("capa") {
            if value.eq_ignore_ascii_case(b"eof") {
                info.capa_eof = true;
            } else if value.eq_ignore_ascii_case(b"psync2") {
                info.capa_psync2 = true;
            }
        } else if is("ack") {
            return match parse_decimal(value) {
                Some(offset) if offset >= 0 => Replconf::Ack(Some(offset as u64)),
                _ => Replconf::Ack(None),
            };
        } else if is("getack") {
            return Replconf::Silent;
        } else if is("rdb-only") {
            match parse_decimal(value) {
                Some(v @ 0..=1) => info.rdb_only = v == 1,
                Some(_) => {
                    return Replconf::Reply(
                        b"-ERR value is out of range, value must between 0 and 1\r\n",
                    )
                }
                None => return Replconf::Reply(INVALID_OFFSET),
            }
        } else if is("rdb-filter-only") {
            let mut functions = false;
            for filter in value.split(|&b| b == b' ').filter(|f| !f.is_empty()) {
                if filter.eq_ignore_ascii_case(b"functions") {
                    functions = true;
                } else {
                    return option_error(b"-ERR Unsupported rdb-filter-only option: ", filter);
                }
            }
            info.rdb_filter = Some(functions);
        } else {
            return option_error(b"-ERR Unrecognized REPLCONF option: ", option);
        }
    }
    Replconf::Reply(b"+OK\r\n")
}

/// The error line `prefix` + `what`, with CR and LF dropped so the reply stays one line.
fn option_error(prefix: &[u8], what: &[u8]) -> Replconf {
    let mut line = prefix.to_vec();
    line.extend(what.iter().filter(|b| !matches!(b, b'\r' | b'\n')));
    line.extend_from_slice(b"\r\n");
    Replconf::ReplyOwned(line)
}
