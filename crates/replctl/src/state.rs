//! The state file of `replctl tail`: where the next run resumes, and how far its output went.
//!
//! A small, versioned text format, one `key value` pair per line after a version line:
//!
//! ```text
//! replctl-tail-state 1
//! replid 8c3e9ba9d3b1a30c1a1a32a0fd5ef4d5e3bd6b7a
//! offset 1234
//! db 0
//! written 1301
//! ```
//!
//! - `replid`, `offset`, `db`: the checkpoint the next link asks `PSYNC` for (`offset` is the
//!   last stream byte applied, `db` the database selected at that byte);
//! - `written`: the stream offset of the last command written to the output. It can be ahead of
//!   `offset` (the checkpoint only moves where the link could resume, e.g. not inside
//!   `MULTI` … `EXEC`); commands resent up to it are not printed again.
//!
//! The file always holds one record of [`RECORD_LEN`] bytes (the text above, padded with a
//! line of spaces). It is created, and replaced at each full sync, atomically: written to
//! `FILE.tmp`, flushed to disk, then renamed over `FILE`. After each command it is updated in
//! place with one write of the whole record at its start: a single write call of a few
//! hundred bytes to a regular file is never left half done by a killed process, and costs a
//! few microseconds where a rename costs a metadata update (and, on some file systems, a data
//! flush). Updates are not flushed to disk one by one: a power loss can lose the latest ones
//! (the next run then prints those commands again, never skips one); a clean stop flushes the
//! last.

use std::fmt;
use std::fs;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use replproto::{Checkpoint, Offset, ReplId};

/// The first line of the format, with its version.
const MAGIC: &str = "replctl-tail-state";
/// The version this code reads and writes.
const VERSION: u32 = 1;
/// The size of the record the file holds (the longest state takes 140 bytes).
pub const RECORD_LEN: usize = 192;

/// What a state file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TailState {
    /// Where the next link resumes.
    pub checkpoint: Checkpoint,
    /// The offset of the last command written to the output (at least `checkpoint.offset`).
    pub written: Offset,
}

impl TailState {
    /// The format's text for this state.
    pub fn render(&self) -> String {
        format!(
            "{MAGIC} {VERSION}\nreplid {}\noffset {}\ndb {}\nwritten {}\n",
            self.checkpoint.replid, self.checkpoint.offset, self.checkpoint.db, self.written
        )
    }

    /// The text padded to [`RECORD_LEN`] bytes with a line of spaces.
    pub fn record(&self) -> Vec<u8> {
        let mut record = self.render().into_bytes();
        let pad = RECORD_LEN.saturating_sub(record.len() + 1);
        record.resize(record.len() + pad, b' ');
        record.push(b'\n');
        record
    }

    /// Reads the format (trailing white space, such as the padding of a record, is ignored).
    ///
    /// # Errors
    ///
    /// The first line found wrong (1-based) and what was expected there.
    pub fn parse(text: &str) -> Result<TailState, (usize, String)> {
        let body = text.trim_end_matches([' ', '\n']);
        let mut lines = body.split('\n').enumerate().map(|(i, l)| (i + 1, l));
        let (_, first) = lines.next().unwrap_or((1, ""));
        let version = first
            .strip_prefix(MAGIC)
            .and_then(|rest| rest.strip_prefix(' '))
            .ok_or_else(|| {
                (
                    1,
                    format!("expected `{MAGIC} {VERSION}`, found {:?}", clip(first)),
                )
            })?;
        if version != VERSION.to_string() {
            return Err((
                1,
                format!("version {version:?} is not {VERSION}, the one this replctl reads"),
            ));
        }
        let (mut replid, mut offset, mut db, mut written) = (None, None, None, None);
        let mut written_line = 0;
        let mut last = 1;
        for (number, line) in lines {
            last = number;
            if line.is_empty() {
                return Err((number, "unexpected empty line".into()));
            }
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            let duplicate = || (number, format!("`{key}` given twice"));
            match key {
                "replid" => {
                    let id = ReplId::parse(value.as_bytes()).map_err(|_| {
                        (
                            number,
                            format!(
                                "expected `replid <40 hex characters>`, found {:?}",
                                clip(line)
                            ),
                        )
                    })?;
                    if replid.replace(id).is_some() {
                        return Err(duplicate());
                    }
                }
                "offset" | "written" => {
                    let n = strict_u64(value).ok_or_else(|| {
                        (
                            number,
                            format!("expected `{key} <number>`, found {:?}", clip(line)),
                        )
                    })?;
                    let slot = if key == "offset" {
                        &mut offset
                    } else {
                        written_line = number;
                        &mut written
                    };
                    if slot.replace(Offset(n)).is_some() {
                        return Err(duplicate());
                    }
                }
                "db" => {
                    let n = strict_u64(value)
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or_else(|| {
                            (
                                number,
                                format!("expected `db <number>`, found {:?}", clip(line)),
                            )
                        })?;
                    if db.replace(n).is_some() {
                        return Err(duplicate());
                    }
                }
                _ => return Err((number, format!("unknown key {:?}", clip(key)))),
            }
        }
        let missing = |key: &str| (last + 1, format!("`{key}` is missing"));
        let checkpoint = Checkpoint {
            replid: replid.ok_or_else(|| missing("replid"))?,
            offset: offset.ok_or_else(|| missing("offset"))?,
            db: db.ok_or_else(|| missing("db"))?,
        };
        let written = written.ok_or_else(|| missing("written"))?;
        if written < checkpoint.offset {
            return Err((
                written_line,
                format!(
                    "`written {written}` is before `offset {}`",
                    checkpoint.offset
                ),
            ));
        }
        Ok(TailState {
            checkpoint,
            written,
        })
    }
}

/// A decimal number without sign, spaces or leading zeros (except `0` itself).
fn strict_u64(text: &str) -> Option<u64> {
    let ok = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    ok.then(|| text.parse().ok()).flatten()
}

/// At most 60 characters of `text`, for messages.
fn clip(text: &str) -> String {
    if text.chars().count() <= 60 {
        text.to_string()
    } else {
        let head: String = text.chars().take(57).collect();
        format!("{head}...")
    }
}

/// Why a state file could not be used.
#[derive(Debug)]
pub enum StateError {
    /// The file is not in the format.
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The 1-based line found wrong.
        line: usize,
        /// What was wrong.
        what: String,
    },
    /// The file could not be read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        error: io::Error,
    },
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateError::Corrupt { path, line, what } => write!(
                f,
                "state file {} is corrupt (line {line}: {what}): delete it to start with a full sync",
                path.display()
            ),
            StateError::Io { path, error } => write!(
                f,
                "cannot use state file {}: {error} (check the path and its permissions)",
                path.display()
            ),
        }
    }
}

impl std::error::Error for StateError {}

/// A state file on disk.
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
    temp: PathBuf,
    /// The file as last stored, open for updates in place.
    open: Option<fs::File>,
}

impl StateFile {
    /// The state file at `path` (nothing is read or created yet).
    pub fn new(path: impl Into<PathBuf>) -> StateFile {
        let path = path.into();
        let temp = temp_path(&path);
        StateFile {
            path,
            temp,
            open: None,
        }
    }

    /// Where it lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved state, `None` when the file does not exist.
    ///
    /// # Errors
    ///
    /// When it cannot be read or is not in the format.
    pub fn load(&self) -> Result<Option<TailState>, StateError> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(StateError::Io {
                    path: self.path.clone(),
                    error,
                })
            }
        };
        let corrupt = |line, what| StateError::Corrupt {
            path: self.path.clone(),
            line,
            what,
        };
        let text = std::str::from_utf8(&bytes).map_err(|e| {
            let line = 1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            corrupt(line, "not text".into())
        })?;
        TailState::parse(text)
            .map(Some)
            .map_err(|(line, what)| corrupt(line, what))
    }

    /// Replaces the file with `state` atomically (a new file renamed over the old one) and
    /// waits until it is on disk.
    ///
    /// # Errors
    ///
    /// When the temporary file cannot be written or renamed.
    pub fn store(&mut self, state: &TailState) -> Result<(), StateError> {
        let io = |error| StateError::Io {
            path: self.path.clone(),
            error,
        };
        self.open = None;
        let mut file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&self.temp)
            .map_err(io)?;
        file.write_all(&state.record()).map_err(io)?;
        file.sync_all().map_err(io)?;
        fs::rename(&self.temp, &self.path).map_err(io)?;
        sync_parent(&self.path);
        self.open = Some(file);
        Ok(())
    }

    /// Overwrites the record of the file last [`store`](Self::store)d with `state`, in one
    /// write; stores it first when there is none.
    ///
    /// # Errors
    ///
    /// When the file cannot be written.
    pub fn update(&mut self, state: &TailState) -> Result<(), StateError> {
        let Some(file) = &mut self.open else {
            return self.store(state);
        };
        file.seek(SeekFrom::Start(0))
            .and_then(|_| file.write_all(&state.record()))
            .map_err(|error| StateError::Io {
                path: self.path.clone(),
                error,
            })
    }

    /// Waits until the last update is on disk.
    ///
    /// # Errors
    ///
    /// When the file cannot be flushed.
    pub fn sync(&mut self) -> Result<(), StateError> {
        match &self.open {
            Some(file) => file.sync_data().map_err(|error| StateError::Io {
                path: self.path.clone(),
                error,
            }),
            None => Ok(()),
        }
    }

    /// Deletes the file (nothing to resume from any more); a missing file is fine.
    ///
    /// # Errors
    ///
    /// When it exists and cannot be deleted.
    pub fn remove(&mut self) -> Result<(), StateError> {
        self.open = None;
        match fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(StateError::Io {
                path: self.path.clone(),
                error,
            }),
        }
    }
}

/// `FILE.tmp` beside `FILE`.
pub fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Makes a rename in the directory of `path` durable (best effort: not every platform can).
pub fn sync_parent(path: &Path) {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if let Ok(dir) = fs::File::open(dir) {
        let _ = dir.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> TailState {
        TailState {
            checkpoint: Checkpoint {
                replid: ReplId::parse(b"8c3e9ba9d3b1a30c1a1a32a0fd5ef4d5e3bd6b7a").unwrap(),
                offset: Offset(1234),
                db: 3,
            },
            written: Offset(1301),
        }
    }

    #[test]
    fn round_trip() {
        let text = state().render();
        assert_eq!(
            text,
            "replctl-tail-state 1\nreplid 8c3e9ba9d3b1a30c1a1a32a0fd5ef4d5e3bd6b7a\n\
             offset 1234\ndb 3\nwritten 1301\n"
        );
        assert_eq!(TailState::parse(&text), Ok(state()));
        // Keys in any order, the last line end optional.
        let shuffled = "replctl-tail-state 1\ndb 3\nwritten 1301\noffset 1234\n\
                        replid 8c3e9ba9d3b1a30c1a1a32a0fd5ef4d5e3bd6b7a";
        assert_eq!(TailState::parse(shuffled), Ok(state()));
    }

    #[test]
    fn corruption_names_the_line() {
        let good = state().render();
        let cases: Vec<(String, usize, &str)> = vec![
            (String::new(), 1, "expected `replctl-tail-state 1`"),
            ("hello\n".into(), 1, "expected `replctl-tail-state 1`"),
            (good.replace("state 1", "state 2"), 1, "version \"2\""),
            (
                good.replace("replid 8c3e", "replid zz3e"),
                2,
                "expected `replid",
            ),
            (
                good.replace("offset 1234", "offset -4"),
                3,
                "expected `offset",
            ),
            (
                good.replace("offset 1234", "offset 01234"),
                3,
                "expected `offset",
            ),
            (good.replace("db 3", "db 99999999999"), 4, "expected `db"),
            (good.replace("db 3", "colour blue"), 4, "unknown key"),
            (
                good.replace("db 3\n", "db 3\n\n"),
                5,
                "unexpected empty line",
            ),
            (
                good.replace("db 3\n", "db 3\ndb 4\n"),
                5,
                "`db` given twice",
            ),
            (
                good.replace("written 1301\n", ""),
                5,
                "`written` is missing",
            ),
            (good.replace("written 1301", "written 12"), 5, "is before"),
        ];
        for (text, line, what) in cases {
            let (got_line, got_what) = TailState::parse(&text).unwrap_err();
            assert_eq!(got_line, line, "{text:?}: {got_what}");
            assert!(got_what.contains(what), "{text:?}: {got_what}");
        }
    }

    #[test]
    fn store_load_remove() {
        let dir = std::env::temp_dir().join(format!("replctl-state-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let mut file = StateFile::new(dir.join("tail.state"));
        assert!(file.load().unwrap().is_none());
        file.update(&state()).unwrap();
        assert_eq!(file.load().unwrap(), Some(state()));
        assert!(!temp_path(file.path()).exists());
        assert_eq!(fs::metadata(file.path()).unwrap().len(), RECORD_LEN as u64);
        // Updates in place keep one record of the same size, whatever the numbers' lengths.
        let mut longest = state();
        longest.checkpoint.offset = Offset(i64::MAX as u64);
        longest.checkpoint.db = u32::MAX;
        longest.written = Offset(u64::MAX);
        assert!(longest.render().len() < RECORD_LEN);
        for next in [longest, state()] {
            file.update(&next).unwrap();
            file.sync().unwrap();
            assert_eq!(file.load().unwrap(), Some(next));
            assert_eq!(fs::metadata(file.path()).unwrap().len(), RECORD_LEN as u64);
        }
        file.store(&state()).unwrap();
        assert_eq!(file.load().unwrap(), Some(state()));
        fs::write(file.path(), "replctl-tail-state 1\nreplid nope\n").unwrap();
        let error = file.load().unwrap_err().to_string();
        assert_eq!(
            error,
            format!(
                "state file {} is corrupt (line 2: expected `replid <40 hex characters>`, \
                 found \"replid nope\"): delete it to start with a full sync",
                file.path().display()
            )
        );
        file.remove().unwrap();
        file.remove().unwrap();
        assert!(file.load().unwrap().is_none());
        let _ = fs::remove_dir_all(&dir);
    }
}
