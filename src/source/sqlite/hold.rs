//! Holding SQLite's writers: `BEGIN IMMEDIATE` on a connection of our own
//! takes the write lock, writing nothing. The app's writers wait in their
//! busy handler (their `busy_timeout` must outlast the hold); readers go on.

use rusqlite::{Connection, OpenFlags};

use super::SqliteSource;
use crate::error::{Error, Result};
use crate::source::WriterHold;

/// How long godwit itself waits for a writer to finish before it holds.
const WAIT_FOR_WRITER: std::time::Duration = std::time::Duration::from_secs(30);

pub struct SqliteHold {
    conn: Connection,
    source: SqliteSource,
}

impl SqliteSource {
    pub fn hold(&self) -> Result<SqliteHold> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| Error::Source {
            path: self.path.clone(),
            message: format!("cannot open it to hold its writers ({e}); godwit needs write permission for the lock"),
        })?;
        conn.busy_timeout(WAIT_FOR_WRITER).map_err(|e| self.err(e))?;
        conn.execute_batch("BEGIN IMMEDIATE").map_err(|e| self.err(e))?;
        Ok(SqliteHold {
            conn,
            source: self.clone(),
        })
    }
}

impl WriterHold for SqliteHold {
    fn release(self: Box<Self>) -> Result<()> {
        self.conn.execute_batch("ROLLBACK").map_err(|e| self.source.err(e))
    }
}
