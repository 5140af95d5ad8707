//! Values that do not fit: under `--on-error stop` the first one fails the
//! copy; under `skip` each rejected row goes to a JSON-lines file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::copy::OnError;
use crate::error::{Error, Result};

#[derive(Debug, Serialize)]
pub struct RejectRecord<'a> {
    pub table: &'a str,
    /// The row's key as `{column: value}`; `rowid` when the table has none.
    pub key: serde_json::Map<String, serde_json::Value>,
    pub column: &'a str,
    pub reason: &'a str,
    /// The start of the value, for a person to recognise it.
    pub value: String,
}

pub struct RejectSink {
    mode: OnError,
    path: PathBuf,
    file: Mutex<Option<BufWriter<File>>>,
    count: AtomicU64,
}

impl RejectSink {
    pub fn new(mode: OnError, path: PathBuf) -> RejectSink {
        RejectSink {
            mode,
            path,
            file: Mutex::new(None),
            count: AtomicU64::new(0),
        }
    }

    /// Records a rejected row, or fails the copy under `--on-error stop`.
    pub fn record(&self, record: &RejectRecord<'_>) -> Result<()> {
        if self.mode == OnError::Stop {
            return Err(Error::Reject {
                table: record.table.to_string(),
                key: key_text(&record.key),
                column: record.column.to_string(),
                reason: record.reason.to_string(),
                value: record.value.clone(),
            });
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let mut guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            let file = File::create(&self.path)
                .map_err(|e| Error::io(format!("creating reject file {}", self.path.display()), e))?;
            *guard = Some(BufWriter::new(file));
        }
        let writer = guard
            .as_mut()
            .ok_or_else(|| Error::Other("reject file unavailable".into()))?;
        let line = serde_json::to_string(record).map_err(|e| Error::Other(e.to_string()))?;
        writeln!(writer, "{line}").map_err(|e| Error::io(format!("writing {}", self.path.display()), e))
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub fn finish(&self) -> Result<Option<PathBuf>> {
        let mut guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_mut() {
            Some(w) => {
                w.flush()
                    .map_err(|e| Error::io(format!("writing {}", self.path.display()), e))?;
                Ok(Some(self.path.clone()))
            }
            None => Ok(None),
        }
    }
}

/// `id=42` or `a=1, b="x"`, for messages.
pub fn key_text(key: &serde_json::Map<String, serde_json::Value>) -> String {
    key.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub use crate::source::json_of;
