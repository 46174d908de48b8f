//! The resume point of a replica.

use crate::{Offset, ReplId};

/// Where a replica can resume: the history it follows, the last stream byte it applied, and the
/// database selected in the stream at that byte.
///
/// The database matters because a master answering `+CONTINUE` does not repeat `SELECT`: the
/// stream goes on in whatever database was selected before the link broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Checkpoint {
    /// The replication id of the history.
    pub replid: ReplId,
    /// The last applied byte; `PSYNC` asks for the byte after it.
    pub offset: Offset,
    /// The database selected in the stream at `offset`.
    pub db: u32,
}

impl Checkpoint {
    /// Reads the checkpoint a saved snapshot carries in its aux fields (`repl-id`,
    /// `repl-offset`, `repl-stream-db`), so a restarted process can resume with `PSYNC` instead
    /// of a full sync. Only the start of the file is needed. `Ok(None)` when the snapshot holds
    /// no replication info.
    pub fn from_rdb(data: &[u8]) -> Result<Option<Checkpoint>, crate::rdb::RdbError> {
        use crate::rdb::{read_header, RdbError};
        let aux = read_header(data)?.aux;
        let (Some(id), Some(offset)) = (aux.repl_id, aux.repl_offset) else {
            return Ok(None);
        };
        let replid = ReplId::parse(&id).map_err(|_| RdbError::BadAuxValue { key: "repl-id" })?;
        let offset =
            u64::try_from(offset).map_err(|_| RdbError::BadAuxValue { key: "repl-offset" })?;
        Ok(Some(Checkpoint {
            replid,
            offset: Offset(offset),
            db: aux.repl_stream_db.unwrap_or(0),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::{crc64, write_string};

    fn rdb_with_aux(fields: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut rdb = b"REDIS0010".to_vec();
        for (key, value) in fields {
            rdb.push(0xfa);
            write_string(&mut rdb, key);
            write_string(&mut rdb, value);
        }
        rdb.push(0xff);
        let crc = crc64(&rdb);
        rdb.extend_from_slice(&crc.to_le_bytes());
        rdb
    }

    #[test]
    fn reads_the_resume_point_of_a_saved_snapshot() {
        let id = b"e8120531390c7d051bcb7f000ce2b93dfe8b7184";
        let rdb = rdb_with_aux(&[
            (b"redis-ver", b"7.0.15"),
            (b"repl-stream-db", b"3"),
            (b"repl-id", id),
            (b"repl-offset", b"206944"),
        ]);
        let checkpoint = Checkpoint::from_rdb(&rdb).unwrap().unwrap();
        assert_eq!(checkpoint.replid.as_bytes(), id);
        assert_eq!(checkpoint.offset, Offset(206944));
        assert_eq!(checkpoint.db, 3);
    }

    #[test]
    fn no_replication_info_means_no_checkpoint() {
        let rdb = rdb_with_aux(&[(b"redis-ver", b"7.0.15")]);
        assert_eq!(Checkpoint::from_rdb(&rdb), Ok(None));
    }

    #[test]
    fn a_malformed_id_is_an_error() {
        let rdb = rdb_with_aux(&[(b"repl-id", b"not-an-id"), (b"repl-offset", b"1")]);
        assert!(Checkpoint::from_rdb(&rdb).is_err());
    }
}
