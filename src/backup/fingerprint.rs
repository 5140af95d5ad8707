//! Row counts and content fingerprints, computed by the server.
//!
//! A table's fingerprint is the sum, as an exact numeric, of a 64-bit hash
//! of each row's text form: `sum(hashtextextended(t::text, 0))`. A sum is
//! order-independent, so it streams through the table in one sequential
//! scan with no sort and constant memory, and a restore in any physical
//! order gives the same value. It is 2.5-3x cheaper than an md5 per row
//! (measured in BENCHMARKS.md). The row text depends on session settings
//! (time zone, date and float output), so every session that computes one
//! pins them first.

use std::collections::VecDeque;
use std::sync::Mutex;

use postgres::Client;

use crate::backup::manifest::TableEntry;
use crate::error::{Error, Result};
use crate::postgres::conn::{ConnSpec, quote_ident, quote_literal};

pub const METHOD: &str = "count(*), sum(hashtextextended(row::text, 0)) under TimeZone=UTC, DateStyle=ISO, \
                          IntervalStyle=postgres, extra_float_digits=1, bytea_output=hex";

/// Settings the row text depends on, identical at backup and at restore.
const SESSION_SETTINGS: &str = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; \
    SET IntervalStyle = 'postgres'; SET extra_float_digits = 1; SET bytea_output = 'hex'; \
    SET lc_monetary = 'C'; SET search_path = pg_catalog; SET row_security = off";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    pub schema: String,
    pub name: String,
}

/// The tables whose data pg_dump carries: ordinary tables (partitions
/// included, each on its own) outside the system schemas and not owned by an
/// extension. Largest first (by the planner's page count, which takes no
/// lock), so parallel workers finish together.
pub fn list_tables(client: &mut Client) -> Result<Vec<TableName>> {
    let rows = client
        .query(
            "SELECT n.nspname::text, c.relname::text
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind = 'r'
                AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
                AND NOT EXISTS (SELECT 1 FROM pg_depend d
                                 WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                   AND d.deptype = 'e')
              ORDER BY c.relpages DESC, 1, 2",
            &[],
        )
        .map_err(|e| Error::pg("listing tables", &e))?;
    Ok(rows
        .iter()
        .map(|r| TableName {
            schema: r.get(0),
            name: r.get(1),
        })
        .collect())
}

/// Cancels the running fingerprint queries from another thread, e.g. when
/// pg_dump failed or Ctrl-C arrived while a big table is being read.
#[derive(Default)]
pub struct Canceller {
    tokens: Mutex<Vec<postgres::CancelToken>>,
    cancelled: std::sync::atomic::AtomicBool,
}

impl Canceller {
    fn register(&self, client: &Client) {
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(client.cancel_token());
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn cancel(&self) {
        self.cancelled.store(true, std::sync::atomic::Ordering::Relaxed);
        for token in self.tokens.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = token.cancel_query(postgres::NoTls);
        }
    }
}

/// Fingerprints `tables` over `jobs` connections. With `snapshot`, every
/// connection imports that exported snapshot, so the figures describe the
/// same instant as the dump.
pub fn fingerprint_tables(
    spec: &ConnSpec,
    tables: &[TableName],
    jobs: usize,
    snapshot: Option<&str>,
) -> Result<Vec<TableEntry>> {
    fingerprint_tables_cancellable(spec, tables, jobs, snapshot, &Canceller::default())
}

pub fn fingerprint_tables_cancellable(
    spec: &ConnSpec,
    tables: &[TableName],
    jobs: usize,
    snapshot: Option<&str>,
    canceller: &Canceller,
) -> Result<Vec<TableEntry>> {
    let queue: Mutex<VecDeque<&TableName>> = Mutex::new(tables.iter().collect());
    let results: Mutex<Vec<TableEntry>> = Mutex::new(Vec::with_capacity(tables.len()));
    let workers = jobs.clamp(1, tables.len().max(1));
    let finished = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| -> Result<()> {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| -> Result<()> {
                    let mut client = open_session(spec, snapshot)?;
                    canceller.register(&client);
                    loop {
                        if crate::report::interrupt::requested() || canceller.is_cancelled() {
                            return Err(Error::Interrupted);
                        }
                        let Some(table) = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front() else {
                            break;
                        };
                        let entry = match fingerprint_one(&mut client, table) {
                            Ok(entry) => entry,
                            Err(_) if canceller.is_cancelled() => return Err(Error::Interrupted),
                            Err(e) => return Err(e),
                        };
                        results.lock().unwrap_or_else(|e| e.into_inner()).push(entry);
                    }
                    let _ = client.batch_execute("COMMIT");
                    Ok(())
                })
            })
            .collect();
        // Ctrl-C / SIGTERM cancels the query in flight, which on a big table
        // may run for minutes, instead of waiting for the next table.
        scope.spawn(|| {
            while !finished.load(std::sync::atomic::Ordering::Relaxed) {
                if crate::report::interrupt::requested() {
                    canceller.cancel();
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        });
        let mut first_error = None;
        for handle in handles {
            let outcome = handle
                .join()
                .unwrap_or_else(|_| Err(Error::Other("a fingerprint worker panicked".into())));
            if let Err(e) = outcome {
                // Stop the other workers at their next table.
                queue.lock().unwrap_or_else(|e| e.into_inner()).clear();
                first_error.get_or_insert(e);
            }
        }
        finished.store(true, std::sync::atomic::Ordering::Relaxed);
        first_error.map_or(Ok(()), Err)
    })?;
    let mut entries = results.into_inner().unwrap_or_else(|e| e.into_inner());
    entries.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    Ok(entries)
}

/// A read-only session with the pinned settings, in the given snapshot.
pub fn open_session(spec: &ConnSpec, snapshot: Option<&str>) -> Result<Client> {
    let mut client = spec.connect()?;
    let mut sql = String::from("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; ");
    if let Some(snapshot) = snapshot {
        sql.push_str(&format!("SET TRANSACTION SNAPSHOT {}; ", quote_literal(snapshot)));
    }
    sql.push_str(SESSION_SETTINGS);
    client
        .batch_execute(&sql)
        .map_err(|e| Error::pg("starting a fingerprint session", &e))?;
    Ok(client)
}

fn fingerprint_one(client: &mut Client, table: &TableName) -> Result<TableEntry> {
    let sql = format!(
        "SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)), 0)::text FROM ONLY {}.{} AS t",
        quote_ident(&table.schema),
        quote_ident(&table.name)
    );
    let row = client
        .query_one(&sql, &[])
        .map_err(|e| Error::pg(format!("fingerprinting {}.{}", table.schema, table.name), &e))?;
    let rows: i64 = row.get(0);
    Ok(TableEntry {
        schema: table.schema.clone(),
        name: table.name.clone(),
        rows: u64::try_from(rows).unwrap_or(0),
        fingerprint: row.get(1),
    })
}
