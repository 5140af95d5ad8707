//! Binary COPY into one table: the statement and a writer that frames the
//! stream with the header and trailer.

use std::io::Write;

use postgres::{Client, CopyInWriter};

use crate::error::{Error, Result};
use crate::postgres::binary_copy::{COPY_HEADER, COPY_TRAILER};
use crate::postgres::conn::qualified;
use crate::postgres::conn::quote_ident;

pub fn copy_statement(schema: &str, table: &str, columns: &[&str], freeze: bool) -> String {
    let list: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    format!(
        "COPY {} ({}) FROM STDIN (FORMAT binary{})",
        qualified(schema, table),
        list.join(", "),
        if freeze { ", FREEZE" } else { "" }
    )
}

/// One COPY in progress. Encoded rows are appended to `buf` and flushed in
/// large writes.
pub struct BinaryCopy<'a> {
    writer: CopyInWriter<'a>,
    context: String,
}

/// Flush when the buffer holds this much: large enough to amortise
/// syscalls, small enough to keep memory flat.
pub const FLUSH_BYTES: usize = 512 * 1024;

impl<'a> BinaryCopy<'a> {
    pub fn start(client: &'a mut Client, statement: &str, context: String) -> Result<BinaryCopy<'a>> {
        let mut writer = client
            .copy_in(statement)
            .map_err(|e| Error::pg(format!("starting COPY into {context}"), &e))?;
        writer
            .write_all(COPY_HEADER)
            .map_err(|e| Error::io(format!("COPY into {context}"), e))?;
        Ok(BinaryCopy { writer, context })
    }

    pub fn write(&mut self, buf: &[u8]) -> Result<()> {
        self.writer
            .write_all(buf)
            .map_err(|e| Error::io(format!("COPY into {}", self.context), e))
    }

    /// Abandons the COPY, keeping the connection usable. Dropping the
    /// writer would leave the server waiting for data (and holding its
    /// locks), so a tuple with an impossible field count makes it fail.
    pub fn abort(mut self) {
        let _ = self.writer.write_all(&i16::MAX.to_be_bytes());
        let _ = self.writer.finish();
    }

    /// Sends the trailer and completes the COPY; returns the rows written.
    pub fn finish(mut self) -> Result<u64> {
        self.writer
            .write_all(COPY_TRAILER)
            .map_err(|e| Error::io(format!("COPY into {}", self.context), e))?;
        let context = self.context.clone();
        self.writer
            .finish()
            .map_err(|e| Error::pg(format!("COPY into {context}"), &e))
    }
}
