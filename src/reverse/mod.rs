//! The way back: `godwit copy postgresql://... --to sqlite:PATH` writes a
//! SQLite database the app can run on again.
//!
//! A schema godwit copied into has its origin recorded
//! ([`origin`]): the app's own CREATE statements and, per column, how a
//! value becomes what the app stored (epoch integers, 0/1 or 'true',
//! timestamp text in the app's format, the same storage classes). Other
//! tables get a generic lossless mapping ([`generic`]). PostgreSQL is read
//! in one REPEATABLE READ snapshot, streaming through a cursor; SQLite is
//! written into a temporary file next to PATH in one transaction, which is
//! renamed into place only when complete.

pub mod generic;
pub mod origin;
pub mod value;

use std::path::{Path, PathBuf};
use std::time::Instant;

use postgres::{IsolationLevel, Transaction};
use rusqlite::Connection;
use rusqlite::types::Value;

use crate::error::{Error, Result};
use crate::postgres::conn::{ConnSpec, quote_ident};
use crate::report::{CopySummary, Event, Reporter, TableSummary, interrupt};
use crate::source::sqlite::quote;
use origin::{Restore, TableOrigin};
use value::PgKind;

#[derive(Debug, Clone)]
pub struct ReverseOptions {
    pub source: ConnSpec,
    /// The PostgreSQL schema read.
    pub schema: String,
    pub path: PathBuf,
    /// Replace an existing PATH (atomically).
    pub replace: bool,
}

#[derive(Debug)]
pub struct ReverseOutcome {
    pub summary: CopySummary,
    /// Something could not be kept: exit 3.
    pub review: bool,
}

/// Rows fetched from the cursor at a time: bounds memory.
const FETCH_ROWS: i32 = 2_000;

/// Whether a `copy` SOURCE names a PostgreSQL database rather than a file.
pub fn is_postgres_source(source: &str) -> bool {
    source.starts_with("postgresql://")
        || source.starts_with("postgres://")
        || (source.contains('=') && !Path::new(source).exists())
}

/// One SQLite table to write.
struct Job {
    sqlite: String,
    pg: String,
    create: String,
    columns: Vec<JobColumn>,
    /// AUTOINCREMENT bookkeeping: the recorded sqlite_sequence value and the
    /// PostgreSQL sequence behind the key.
    sequence: Option<(Option<i64>, Option<String>)>,
}

struct JobColumn {
    sqlite: String,
    pg: String,
    kind: PgKind,
    restore: Option<Restore>,
}

pub fn copy_to_sqlite(options: &ReverseOptions, reporter: &Reporter) -> Result<ReverseOutcome> {
    let started = Instant::now();
    if options.path.exists() && !options.replace {
        return Err(Error::TargetExists(format!(
            "{} already exists. godwit never overwrites: use --replace to replace it (atomically)",
            options.path.display()
        )));
    }
    let dir = match options.path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(Error::Usage(format!("{}: no such directory", dir.display())));
    }
    let mut client = options.source.connect()?;
    let mut tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .map_err(|e| Error::pg("starting the snapshot", &e))?;
    // LOCAL: the settings end with the snapshot, so that none is left in a
    // server session a transaction pooler hands to another client.
    tx.batch_execute("SET LOCAL application_name = 'godwit reverse copy'; SET LOCAL extra_float_digits = 1")
        .map_err(|e| Error::pg("setting up the session", &e))?;
    reporter.emit(Event::Phase(format!(
        "reading schema {} of {}",
        options.schema, options.source
    )));
    let recorded = origin::read(&mut tx, &options.schema)?;
    let tables = generic::read(&mut tx, &options.schema)?;
    if tables.is_empty() {
        return Err(Error::Usage(format!(
            "schema {} of {} has no tables to copy",
            options.schema, options.source
        )));
    }
    let mut items: Vec<String> = Vec::new();
    let (jobs, post) = plan_jobs(&recorded, &tables, &options.schema, &mut items);
    let file_settings = recorded.first().map(|t| t.file.clone());
    if !recorded.is_empty() {
        reporter.emit(Event::Info(format!(
            "schema {} was copied by godwit ({} tables recorded): the app's own SQLite schema and value formats come back",
            options.schema,
            recorded.len()
        )));
    }

    let temp = TempFile::new(&options.path);
    let written = (|| -> Result<Vec<TableSummary>> {
        let sqlite = Connection::open(&temp.path).map_err(|e| Error::sqlite(&temp.path, e))?;
        let e = |err| Error::sqlite(&temp.path, err);
        if let Some(f) = &file_settings {
            // Both must be set before the first table exists.
            sqlite
                .execute_batch(&format!(
                    "PRAGMA page_size = {}; PRAGMA auto_vacuum = {};",
                    f.page_size, f.auto_vacuum
                ))
                .map_err(e)?;
        }
        // A temporary file: a crash loses nothing worth a journal.
        sqlite
            .execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA foreign_keys = OFF; BEGIN")
            .map_err(e)?;
        for job in &jobs {
            sqlite
                .execute_batch(&job.create)
                .map_err(|err| Error::Other(format!("creating SQLite table {}: {err}\n{}", job.sqlite, job.create)))?;
        }
        reporter.emit(Event::Phase(format!(
            "copying {} tables into {}",
            jobs.len(),
            temp.path.display()
        )));
        let mut summaries = Vec::new();
        let mut losses: Vec<(String, String, value::Loss)> = Vec::new();
        for job in &jobs {
            reporter.emit(Event::TableStarted {
                table: job.sqlite.clone(),
                rows: 0,
            });
            let table_started = Instant::now();
            let rows = copy_table(&mut tx, &sqlite, &options.schema, job, &mut losses).map_err(|err| match err {
                Error::Sqlite { source, .. } => Error::Other(format!("writing table {}: {source}", job.sqlite)),
                other => other,
            })?;
            if let Some((recorded, pg_sequence)) = &job.sequence {
                set_sequence(&mut tx, &sqlite, job, *recorded, pg_sequence.as_deref()).map_err(|err| match err {
                    Error::Sqlite { source, .. } => {
                        Error::Other(format!("sqlite_sequence of {}: {source}", job.sqlite))
                    }
                    other => other,
                })?;
            }
            let summary = TableSummary {
                table: job.sqlite.clone(),
                rows,
                bytes: 0,
                seconds: table_started.elapsed().as_secs_f64(),
                rejects: 0,
            };
            reporter.emit(Event::TableFinished(summary.clone()));
            summaries.push(summary);
        }
        losses.dedup();
        for (table, column, why) in losses {
            items.push(format!("{table}.{column}: {why}"));
        }
        reporter.emit(Event::Phase("indexes, triggers and views".into()));
        for (what, sql) in &post {
            if let Err(err) = sqlite.execute_batch(sql) {
                items.push(format!("{what} could not be created in SQLite ({err}): {sql}"));
            }
        }
        if let Some(f) = &file_settings {
            sqlite
                .execute_batch(&format!(
                    "PRAGMA user_version = {}; PRAGMA application_id = {};",
                    f.user_version, f.application_id
                ))
                .map_err(e)?;
        }
        if interrupt::requested() {
            return Err(Error::Interrupted);
        }
        sqlite.execute_batch("COMMIT").map_err(e)?;
        if file_settings.as_ref().is_some_and(|f| f.wal) {
            sqlite
                .query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
                .map_err(e)?;
        }
        sqlite.close().map_err(|(_, err)| e(err))?;
        Ok(summaries)
    })();
    drop(tx);
    let summaries = written?;
    temp.publish(&options.path, options.replace)?;
    let review = !items.is_empty();
    Ok(ReverseOutcome {
        summary: CopySummary {
            source: options.source.to_string(),
            target: format!("sqlite:{}", options.path.display()),
            schema: options.schema.clone(),
            tables: summaries,
            warnings: Vec::new(),
            not_migrated: items,
            rejects_file: None,
            seconds: started.elapsed().as_secs_f64(),
            status: if review {
                "finished with items to review".into()
            } else {
                "ok".into()
            },
            phases: Vec::new(),
        },
        review,
    })
}

/// The tables to write, and what to create after the data: recorded tables
/// with the app's DDL, others by the generic mapping.
fn plan_jobs(
    recorded: &[TableOrigin],
    tables: &[generic::PgTable],
    schema: &str,
    items: &mut Vec<String>,
) -> (Vec<Job>, Vec<(String, String)>) {
    let mut jobs = Vec::new();
    let mut post: Vec<(i64, String, String)> = Vec::new();
    for origin in recorded {
        let Some(pg) = tables.iter().find(|t| t.name == origin.target) else {
            items.push(format!(
                "table {} (copied into {}.{}) no longer exists in PostgreSQL; it is not written",
                origin.name, schema, origin.target
            ));
            continue;
        };
        let mut columns = Vec::new();
        for c in &origin.columns {
            let Some(target) = &c.target else { continue };
            let Some(pc) = pg.columns.iter().find(|p| &p.name == target) else {
                items.push(format!(
                    "{}.{}: its column {}.{} no longer exists in PostgreSQL; the column comes back empty",
                    origin.name, c.name, origin.target, target
                ));
                continue;
            };
            if let Restore::Lost { why } = &c.restore {
                items.push(format!("{}.{}: {why}", origin.name, c.name));
            }
            columns.push(JobColumn {
                sqlite: c.name.clone(),
                pg: pc.name.clone(),
                kind: pc.kind.clone(),
                restore: Some(c.restore.clone()),
            });
        }
        for pc in &pg.columns {
            if !origin
                .columns
                .iter()
                .any(|c| c.target.as_deref() == Some(pc.name.as_str()))
            {
                items.push(format!(
                    "{}.{} was added in PostgreSQL after the copy; the app's SQLite table has no such column, so it is not written",
                    origin.target, pc.name
                ));
            }
        }
        let sequence = origin
            .rowid_alias
            .as_ref()
            .filter(|_| origin.sequence.is_some() || has_autoincrement(&origin.sql))
            .map(|alias| {
                let pg_sequence = origin
                    .columns
                    .iter()
                    .find(|c| &c.name == alias)
                    .and_then(|c| c.target.as_ref())
                    .and_then(|t| pg.columns.iter().find(|p| &p.name == t))
                    .and_then(|p| p.sequence.clone());
                (origin.sequence, pg_sequence)
            });
        for object in &origin.objects {
            post.push((
                origin.position,
                format!("{} {}", object.kind, object.name),
                object.sql.clone(),
            ));
        }
        jobs.push(Job {
            sqlite: origin.name.clone(),
            pg: origin.target.clone(),
            create: origin.sql.clone(),
            columns,
            sequence,
        });
    }
    // Tables godwit did not copy (or all, for a database it did not copy).
    let mut generic_post = Vec::new();
    for table in tables {
        if recorded.iter().any(|o| o.target == table.name) {
            continue;
        }
        let (create, indexes, notes) = generic::ddl(table, schema);
        items.extend(notes);
        let key = match table.primary_key.as_slice() {
            [k] => table.columns.iter().find(|c| &c.name == k && c.kind == PgKind::Integer),
            _ => None,
        };
        jobs.push(Job {
            sqlite: table.name.clone(),
            pg: table.name.clone(),
            create,
            columns: table
                .columns
                .iter()
                .map(|c| JobColumn {
                    sqlite: c.name.clone(),
                    pg: c.name.clone(),
                    kind: c.kind.clone(),
                    restore: None,
                })
                .collect(),
            sequence: key.and_then(|k| k.sequence.clone()).map(|s| (None, Some(s))),
        });
        for sql in indexes {
            generic_post.push((format!("index on {}", table.name), sql));
        }
    }
    // The app's own order: an index or trigger right after its table, a
    // view after the tables it reads.
    post.sort_by_key(|(position, ..)| *position);
    let mut all: Vec<(String, String)> = post.into_iter().map(|(_, what, sql)| (what, sql)).collect();
    all.extend(generic_post);
    (jobs, all)
}

fn has_autoincrement(sql: &str) -> bool {
    sql.to_ascii_uppercase().contains("AUTOINCREMENT")
}

/// Streams one table from the snapshot into SQLite; returns the row count.
fn copy_table(
    tx: &mut Transaction<'_>,
    sqlite: &Connection,
    schema: &str,
    job: &Job,
    losses: &mut Vec<(String, String, value::Loss)>,
) -> Result<u64> {
    if job.columns.is_empty() {
        return Ok(0);
    }
    let select: Vec<String> = job.columns.iter().map(|c| c.kind.select(&c.pg)).collect();
    let query = format!(
        "SELECT {} FROM {}.{}",
        select.join(", "),
        quote_ident(schema),
        quote_ident(&job.pg)
    );
    let insert = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        quote(&job.sqlite),
        job.columns
            .iter()
            .map(|c| quote(&c.sqlite))
            .collect::<Vec<_>>()
            .join(", "),
        (1..=job.columns.len())
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut stmt = sqlite
        .prepare(&insert)
        .map_err(|e| Error::Other(format!("{insert}: {e}")))?;
    let portal = tx
        .bind(query.as_str(), &[])
        .map_err(|e| Error::pg(format!("reading table {}", job.pg), &e))?;
    let mut rows = 0u64;
    let mut values: Vec<Value> = Vec::with_capacity(job.columns.len());
    loop {
        let batch = tx
            .query_portal(&portal, FETCH_ROWS)
            .map_err(|e| Error::pg(format!("reading table {}", job.pg), &e))?;
        if batch.is_empty() {
            break;
        }
        for row in &batch {
            values.clear();
            for (i, c) in job.columns.iter().enumerate() {
                let text: Option<&str> = row
                    .try_get(i)
                    .map_err(|e| Error::Other(format!("reading {}.{}: {e}", job.pg, c.pg)))?;
                let Some(text) = text else {
                    values.push(Value::Null);
                    continue;
                };
                let (value, loss) = match &c.restore {
                    Some(rule) => value::restore(rule, &c.kind, text),
                    None => value::generic(&c.kind, text),
                };
                if let Some(why) = loss
                    && !losses
                        .iter()
                        .any(|(t, col, w)| t == &job.sqlite && col == &c.sqlite && *w == why)
                {
                    losses.push((job.sqlite.clone(), c.sqlite.clone(), why));
                }
                values.push(value);
            }
            stmt.execute(rusqlite::params_from_iter(values.iter()))
                .map_err(|e| Error::Other(format!("writing a row of {}: {e}", job.sqlite)))?;
            rows += 1;
        }
        if interrupt::requested() {
            return Err(Error::Interrupted);
        }
    }
    Ok(rows)
}

/// sqlite_sequence for an AUTOINCREMENT table: past every id the app or
/// PostgreSQL ever handed out, so none is reused after going back.
fn set_sequence(
    tx: &mut Transaction<'_>,
    sqlite: &Connection,
    job: &Job,
    recorded: Option<i64>,
    pg_sequence: Option<&str>,
) -> Result<()> {
    let handed_out: Option<i64> = match pg_sequence {
        Some(seq) => tx
            .query_one(
                &format!("SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM {seq}"),
                &[],
            )
            .map_err(|e| Error::pg(format!("reading sequence {seq}"), &e))?
            .get(0),
        None => None,
    };
    let Some(floor) = [recorded, handed_out].into_iter().flatten().max() else {
        return Ok(());
    };
    let e = |err| Error::Other(format!("sqlite_sequence of {}: {err}", job.sqlite));
    let has_table: bool = sqlite
        .query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE name = 'sqlite_sequence'",
            [],
            |r| r.get(0),
        )
        .map_err(e)?;
    if !has_table {
        return Ok(());
    }
    let changed = sqlite
        .execute(
            "UPDATE sqlite_sequence SET seq = max(seq, ?1) WHERE name = ?2",
            rusqlite::params![floor, job.sqlite],
        )
        .map_err(e)?;
    if changed == 0 {
        sqlite
            .execute(
                "INSERT INTO sqlite_sequence (name, seq) VALUES (?1, ?2)",
                rusqlite::params![job.sqlite, floor],
            )
            .map_err(e)?;
    }
    Ok(())
}

/// The file being written, next to PATH; removed unless published.
struct TempFile {
    path: PathBuf,
    published: bool,
}

impl TempFile {
    fn new(target: &Path) -> TempFile {
        remove_abandoned_temp_files(target);
        let mut name = target.as_os_str().to_owned();
        name.push(format!(".tmp-{}", std::process::id()));
        let path = PathBuf::from(name);
        let temp = TempFile { path, published: false };
        temp.remove();
        temp
    }

    fn remove(&self) {
        for suffix in ["", "-journal", "-wal", "-shm"] {
            let mut name = self.path.as_os_str().to_owned();
            name.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(name));
        }
    }

    /// Flushes the file and moves it into place: a rename over PATH with
    /// --replace; else a hard link, which fails rather than overwrite a
    /// PATH that appeared meanwhile.
    fn publish(mut self, target: &Path, replace: bool) -> Result<()> {
        let io = |what: &str, e| Error::io(format!("{what} {}", target.display()), e);
        std::fs::File::open(&self.path)
            .and_then(|f| f.sync_all())
            .map_err(|e| io("flushing", e))?;
        if replace {
            // The old file's WAL may hold committed transactions: move them
            // into the file first, so that a kill between removing the WAL
            // and the rename leaves the old database whole, not rolled back.
            if target.exists()
                && let Ok(old) = Connection::open(target)
            {
                let _ = old.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
            }
            for suffix in ["-wal", "-shm", "-journal"] {
                let mut name = target.as_os_str().to_owned();
                name.push(suffix);
                let _ = std::fs::remove_file(PathBuf::from(name));
            }
            std::fs::rename(&self.path, target).map_err(|e| io("moving the new database to", e))?;
        } else {
            std::fs::hard_link(&self.path, target).map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    Error::TargetExists(format!(
                        "{} appeared while godwit was writing it; use --replace to replace it",
                        target.display()
                    ))
                } else {
                    io("moving the new database to", e)
                }
            })?;
            let _ = std::fs::remove_file(&self.path);
        }
        self.published = true;
        Ok(())
    }
}

/// Removes the temporary files (`PATH.tmp-<pid>` and its journal, WAL and
/// shared memory) of earlier runs whose process is gone: a SIGKILLed run
/// cannot remove its own. A live pid's files belong to a run still going.
fn remove_abandoned_temp_files(target: &Path) {
    let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
        return;
    };
    // Without /proc, liveness is unknown: leave everything.
    if !Path::new("/proc/self").exists() {
        return;
    }
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!("{}.tmp-", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = file.strip_prefix(&prefix) else {
            continue;
        };
        let pid: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let suffix = &rest[pid.len()..];
        if pid.is_empty() || !["", "-journal", "-wal", "-shm"].contains(&suffix) {
            continue;
        }
        if !Path::new("/proc").join(&pid).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.published {
            self.remove();
        }
    }
}
