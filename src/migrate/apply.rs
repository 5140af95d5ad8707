//! Runs one migration script: statements in a transaction together with the
//! history change, except those PostgreSQL refuses inside one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use postgres::Client;

use crate::error::{Error, Result};
use crate::postgres::conn::describe_pg_error;

use super::history::HistoryTable;
use super::script::{Script, Statement};

/// What to write into the history once the statements succeeded.
pub enum HistoryChange<'a> {
    Record {
        version: i64,
        name: &'a str,
        checksum: &'a str,
    },
    Forget {
        version: i64,
    },
}

/// Runs `script` and the history change. Transactional statements share a
/// transaction with the history change; a statement that cannot run in a
/// transaction (or a file marked `-- godwit:no-transaction`) runs on its
/// own, committing what came before it.
///
/// Returns the elapsed time. On failure the open transaction is rolled
/// back and the error says what, if anything, stays committed.
pub fn run_script(
    client: &mut Client,
    history: &HistoryTable,
    label: &str,
    file: &std::path::Path,
    script: &Script,
    change: HistoryChange<'_>,
) -> Result<Duration> {
    let started = Instant::now();
    let _watch = CancelOnInterrupt::start(client);
    let mut in_transaction = false;
    // Statements committed for good before a failure (only possible when
    // the script leaves the transaction).
    let mut committed = 0;
    let mut executed = 0;
    for statement in &script.statements {
        let outside = script.forced_no_transaction || statement.outside_transaction.is_some();
        if outside && in_transaction {
            simple(client, "COMMIT")?;
            in_transaction = false;
            committed = executed;
        }
        if !outside && !in_transaction {
            simple(client, "BEGIN")?;
            in_transaction = true;
        }
        if crate::report::interrupt::requested() {
            return Err(abort(
                client,
                in_transaction,
                label,
                committed,
                "before",
                statement,
                None,
            ));
        }
        if let Err(err) = client.batch_execute(&statement.text) {
            return Err(abort(
                client,
                in_transaction,
                label,
                committed,
                "at",
                statement,
                Some((file, &err)),
            ));
        }
        executed += 1;
        if outside {
            committed = executed;
        }
    }
    if !in_transaction {
        simple(client, "BEGIN")?;
    }
    let elapsed = started.elapsed();
    let duration_ms = i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX);
    let written = match change {
        HistoryChange::Record {
            version,
            name,
            checksum,
        } => history.record(client, version, name, Some(checksum), "migration", duration_ms),
        HistoryChange::Forget { version } => history.forget(client, version),
    };
    if let Err(err) = written.and_then(|()| simple(client, "COMMIT")) {
        let _ = client.batch_execute("ROLLBACK");
        return Err(err);
    }
    if crate::report::interrupt::requested() {
        return Err(Error::Migrate(format!(
            "interrupted; {label} finished and is recorded, nothing after it ran"
        )));
    }
    Ok(elapsed)
}

fn simple(client: &mut Client, sql: &str) -> Result<()> {
    client.batch_execute(sql).map_err(|e| Error::pg(sql.to_string(), &e))
}

fn abort(
    client: &mut Client,
    in_transaction: bool,
    label: &str,
    committed: usize,
    what: &str,
    statement: &Statement,
    failure: Option<(&std::path::Path, &postgres::Error)>,
) -> Error {
    if in_transaction {
        let _ = client.batch_execute("ROLLBACK");
    }
    let interrupted = crate::report::interrupt::requested();
    let mut message = match failure {
        Some((file, err)) if !interrupted => {
            let (line, column) = err
                .as_db_error()
                .and_then(|db| match db.position() {
                    Some(postgres::error::ErrorPosition::Original(p)) => usize::try_from(*p).ok(),
                    _ => None,
                })
                .map_or((statement.line, statement.column), |p| statement.file_position_of(p));
            format!(
                "migration {label} failed at {}\n  file: {}:{line}:{column}\n  statement: {}\n  error: {}",
                statement.position(),
                file.display(),
                statement.excerpt(),
                describe_pg_error(err).replace('\n', "\n  ")
            )
        }
        _ => format!("interrupted: migration {label} stopped {what} {}", statement.position()),
    };
    if committed == 0 {
        message.push_str(&format!(
            "\n  {label} was rolled back and is not recorded; migrations before it stay applied"
        ));
    } else {
        message.push_str(&format!(
            "\n  {label} ran partly outside a transaction: its first {committed} statement(s) stay committed \
             but the migration is not recorded; make the file safe to re-run (IF NOT EXISTS) before the next `up`"
        ));
    }
    Error::Migrate(message)
}

/// Cancels the running statement when Ctrl-C arrives, so a long migration
/// stops promptly (and rolls back) instead of running to its end.
pub(super) struct CancelOnInterrupt {
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CancelOnInterrupt {
    pub(super) fn start(client: &Client) -> CancelOnInterrupt {
        let token = client.cancel_token();
        let done = Arc::new(AtomicBool::new(false));
        let finished = Arc::clone(&done);
        let thread = std::thread::spawn(move || {
            while !finished.load(Ordering::Relaxed) {
                if crate::report::interrupt::requested() {
                    // Cancel requests travel on a separate connection; without TLS a
                    // server that demands it refuses, and the statement just finishes.
                    let _ = token.cancel_query(postgres::NoTls);
                    return;
                }
                std::thread::park_timeout(Duration::from_millis(50));
            }
        });
        CancelOnInterrupt {
            done,
            thread: Some(thread),
        }
    }
}

impl Drop for CancelOnInterrupt {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            // Wake it so a run of many small migrations does not wait out the poll interval.
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}
