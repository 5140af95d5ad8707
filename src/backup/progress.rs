//! Progress of a backup or restore, from what `pg_dump --verbose` and
//! `pg_restore --verbose` say as they go: tables done, and for a dump the
//! bytes written so far.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::dump;
use crate::report::{Event, Progress, Reporter};
use crate::units::format_bytes;

/// How often the dump directory is measured at most (it holds a file per table).
const MEASURE_EVERY: Duration = Duration::from_secs(1);

/// Watches pg_dump's stderr: a table started, the directory's size so far.
pub fn dump_watcher<'a>(dir: &'a Path, tables: usize, reporter: &'a Reporter) -> impl Fn(&str) + Sync + 'a {
    let total = u64::try_from(tables).unwrap_or(u64::MAX);
    let done = AtomicU64::new(0);
    let measured: Mutex<Option<(Instant, u64)>> = Mutex::new(None);
    move |line: &str| {
        let Some(table) = dump::table_of_verbose_line(line) else {
            return;
        };
        let n = done.fetch_add(1, Ordering::AcqRel) + 1;
        let bytes = {
            let mut last = measured.lock().unwrap_or_else(|e| e.into_inner());
            match *last {
                Some((at, bytes)) if at.elapsed() < MEASURE_EVERY => bytes,
                _ => {
                    let bytes = dir_size(dir);
                    *last = Some((Instant::now(), bytes));
                    bytes
                }
            }
        };
        reporter.emit(Event::Progress(Progress::new(
            "backup",
            n.min(total),
            Some(total),
            "tables",
            format!("{} written, {table}", format_bytes(bytes as f64)),
        )));
    }
}

/// Watches pg_restore's stderr: the data of a table is being loaded.
pub fn restore_watcher(tables: usize, reporter: &Reporter) -> impl Fn(&str) + Sync + '_ {
    let total = u64::try_from(tables).unwrap_or(u64::MAX);
    let done = AtomicU64::new(0);
    move |line: &str| {
        if let Some(table) = dump::table_of_verbose_line(line) {
            let n = done.fetch_add(1, Ordering::AcqRel) + 1;
            reporter.emit(Event::Progress(Progress::new(
                "restore",
                n.min(total),
                Some(total),
                "tables",
                table.to_string(),
            )));
        }
    }
}

/// The bytes of the files directly in `dir` (pg_dump -Fd writes no subdirectories).
fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}
