//! The SQLite source: recognise the file, describe its schema from PRAGMAs
//! and sqlite_master, profile what columns hold, and open consistent
//! read-only snapshots for parallel readers.

mod hold;
mod native;
mod pages;
mod reader;
pub mod sql;

pub use reader::SqliteReader;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::error::{Error, Result};
use crate::source::{
    Check, Column, ColumnProfile, Deferrable, ForeignKey, Generated, Index, IndexPart, SourceSchema, Table, Trigger,
    View,
};

// Full-text and rtree tables: parsed, and their rows described as tables.
pub mod virtual_tables;

/// A SQLite database file, checked to be one.
#[derive(Debug, Clone)]
pub struct SqliteSource {
    pub path: PathBuf,
}

/// The first copy of the wal-index header at the start of a -shm file.
///
/// Read through a descriptor that stays open for the life of the process:
/// closing any descriptor of a file drops every POSIX lock the process
/// holds on it, and SQLite's WAL locks (godwit's own readers' and
/// cutover's write lock) are locks on the -shm file. Opening and closing
/// it here let the app commit through cutover's hold.
fn wal_index_header(shm: &Path) -> Option<[u8; 48]> {
    use std::os::unix::fs::{FileExt, MetadataExt};
    static KEPT_OPEN: std::sync::Mutex<Vec<(PathBuf, u64, std::fs::File)>> = std::sync::Mutex::new(Vec::new());
    let inode = std::fs::metadata(shm).ok()?.ino();
    let mut kept = KEPT_OPEN.lock().unwrap_or_else(|p| p.into_inner());
    let position = match kept.iter().position(|(p, i, _)| p == shm && *i == inode) {
        Some(position) => position,
        None => {
            // A new -shm (SQLite recreated it) is opened anew; the old
            // descriptor stays open too.
            kept.push((shm.to_path_buf(), inode, std::fs::File::open(shm).ok()?));
            kept.len() - 1
        }
    };
    let mut header = [0u8; 48];
    kept[position].2.read_exact_at(&mut header, 0).ok()?;
    Some(header)
}

/// See [`SqliteSource::wal_state`].
#[derive(Debug, PartialEq, Eq)]
struct WalState {
    index: [u8; 48],
    wal_len: u64,
    wal_header: [u8; 32],
    wal_modified: Option<std::time::SystemTime>,
}

impl SqliteSource {
    /// Accepts `PATH` or `sqlite:PATH`, and checks the file header so that a
    /// CSV, a directory or an encrypted file gets a clear error.
    pub fn open(source: &str) -> Result<SqliteSource> {
        let path = PathBuf::from(source.strip_prefix("sqlite:").unwrap_or(source));
        let fail = |message: String| Error::Source {
            path: path.clone(),
            message,
        };
        let meta = std::fs::metadata(&path).map_err(|e| {
            fail(if e.kind() == std::io::ErrorKind::NotFound {
                "no such file".to_string()
            } else {
                e.to_string()
            })
        })?;
        if meta.is_dir() {
            return Err(fail("is a directory, not a SQLite database file".into()));
        }
        if meta.len() == 0 {
            return Err(fail("is empty (0 bytes), not a SQLite database".into()));
        }
        let mut header = [0u8; 16];
        use std::io::Read;
        let read = std::fs::File::open(&path)
            .and_then(|mut f| f.read(&mut header))
            .map_err(|e| fail(e.to_string()))?;
        if read < 16 || &header != b"SQLite format 3\0" {
            let looks_textual = header[..read]
                .iter()
                .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace());
            return Err(fail(if looks_textual {
                "is a text file (CSV or similar), not a SQLite database; godwit reads SQLite files for now".into()
            } else {
                "is not a SQLite database (no SQLite header: another format, or an encrypted database)".into()
            }));
        }
        Ok(SqliteSource { path })
    }

    /// A read-only connection; never modifies the file.
    pub fn connect(&self) -> Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| self.err(e))?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(|e| self.err(e))?;
        Ok(conn)
    }

    pub fn err(&self, e: rusqlite::Error) -> Error {
        Error::sqlite(&self.path, e)
    }

    /// Opens `n` connections that all see the same snapshot, each inside an
    /// open read transaction. In rollback-journal mode the first reader's
    /// shared lock keeps writers out while the others start. In WAL mode
    /// readers do not block writers, so the WAL is checked not to have
    /// changed while they started; when an app commits too often for that,
    /// godwit holds SQLite's write lock for the few milliseconds the readers
    /// take to start (writing nothing: the transaction is rolled back).
    pub fn snapshot(&self, n: usize) -> Result<Vec<Connection>> {
        for _ in 0..3 {
            let before = self.wal_state();
            let conns = self.open_readers(n)?;
            if self.wal_state() == before {
                return Ok(conns);
            }
        }
        let gate = Connection::open_with_flags(&self.path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(|e| Error::Source {
                path: self.path.clone(),
                message: format!(
                    "the database keeps changing while godwit opens its readers, and godwit cannot pause its writers ({e}); \
                     try again when writes are quieter, or with --jobs 1"
                ),
            })?;
        gate.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(|e| self.err(e))?;
        gate.execute_batch("BEGIN IMMEDIATE").map_err(|e| self.err(e))?;
        let conns = self.open_readers(n);
        gate.execute_batch("ROLLBACK").map_err(|e| self.err(e))?;
        conns
    }

    fn open_readers(&self, n: usize) -> Result<Vec<Connection>> {
        let mut conns = Vec::with_capacity(n);
        for _ in 0..n.max(1) {
            let conn = self.connect()?;
            conn.execute_batch("BEGIN").map_err(|e| self.err(e))?;
            // The snapshot starts at the first read.
            conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0))
                .map_err(|e| self.err(e))?;
            conns.push(conn);
        }
        Ok(conns)
    }

    /// What says which commit a new reader would see: the wal-index
    /// header at the start of the -shm file (its change counter and last
    /// valid frame, which readers take their snapshot from), and the size,
    /// header and time of the -wal file. The WAL alone is not enough: a
    /// commit's frames are in the file (and synced) before the wal-index
    /// says so, and a reader starting in between sees the previous commit.
    fn wal_state(&self) -> Option<WalState> {
        use std::io::Read;
        let sibling = |suffix: &str| {
            let mut name = self.path.clone().into_os_string();
            name.push(suffix);
            PathBuf::from(name)
        };
        let mut file = std::fs::File::open(sibling("-wal")).ok()?;
        let meta = file.metadata().ok()?;
        let mut header = [0u8; 32];
        let _ = file.read(&mut header);
        Some(WalState {
            index: wal_index_header(&sibling("-shm")).unwrap_or([0; 48]),
            wal_len: meta.len(),
            wal_header: header,
            wal_modified: meta.modified().ok(),
        })
    }

    /// Reads the schema. `profile` says which columns to profile (a full
    /// scan per table), given table and column.
    pub fn describe_with(&self, conn: &Connection, profile: &crate::source::ProfileFilter<'_>) -> Result<SourceSchema> {
        let e = |err| self.err(err);
        let mut schema = SourceSchema {
            tables: Vec::new(),
            views: Vec::new(),
            triggers: Vec::new(),
            virtual_tables: Vec::new(),
            unsupported: Vec::new(),
            inferred: Vec::new(),
            skipped: Vec::new(),
        };
        let sequences = read_sequences(conn);
        let mut stmt = conn
            .prepare("SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master ORDER BY rowid")
            .map_err(e)?;
        let objects: Vec<(String, String, String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .map_err(e)?
            .collect::<Result<_, _>>()
            .map_err(e)?;
        let shadow = shadow_tables(conn);
        let is_virtual = |sql: &str| sql.to_ascii_uppercase().starts_with("CREATE VIRTUAL");
        let virtual_names: Vec<(String, String)> = objects
            .iter()
            .filter(|(kind, _, _, sql)| kind == "table" && is_virtual(sql))
            .map(|(_, name, _, sql)| (name.clone(), virtual_tables::module_of(sql)))
            .collect();
        let mut to_profile: Vec<(usize, Vec<usize>)> = Vec::new();
        for (kind, name, table, sql) in &objects {
            match kind.as_str() {
                "table"
                    if name.starts_with("sqlite_")
                        || shadow.contains(name)
                        || virtual_tables::is_shadow(name, &virtual_names) => {}
                "table" => {
                    let mut t = if is_virtual(sql) {
                        match virtual_tables::describe(conn, name, sql, &mut schema) {
                            Some(t) => t,
                            None => continue,
                        }
                    } else {
                        self.describe_table(conn, name, sql)?
                    };
                    t.sequence = sequences.iter().find(|(n, _)| n == name).map(|(_, s)| *s);
                    let wanted: Vec<usize> = (0..t.columns.len())
                        .filter(|&i| t.columns[i].generated.is_none() && profile(&t, &t.columns[i]))
                        .collect();
                    if !wanted.is_empty() {
                        to_profile.push((schema.tables.len(), wanted));
                    }
                    schema.tables.push(t);
                }
                "view" => schema.views.push(View {
                    name: name.clone(),
                    select: sql::view_body(sql).unwrap_or_else(|| view_select(sql)),
                    columns: view_columns(conn, name),
                }),
                "trigger" => schema.triggers.push(Trigger {
                    name: name.clone(),
                    table: table.clone(),
                    sql: sql.clone(),
                }),
                _ => {}
            }
        }
        self.profile_tables(&mut schema.tables, to_profile)?;
        Ok(schema)
    }

    /// Profiles columns with one aggregate scan per table, tables in
    /// parallel on connections of their own: each scan reads the whole table.
    fn profile_tables(&self, tables: &mut [Table], work: Vec<(usize, Vec<usize>)>) -> Result<()> {
        /// (table, its profiled columns, their profiles)
        type Profiled = Vec<(usize, Vec<usize>, Vec<ColumnProfile>)>;
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(work.len())
            .max(1);
        let queue = std::sync::Mutex::new(work.into_iter());
        let shared: &[Table] = tables;
        let results: Vec<Result<Profiled>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| -> Result<Profiled> {
                        let conn = self.connect()?;
                        let mut done = Vec::new();
                        loop {
                            let next = queue.lock().unwrap_or_else(|p| p.into_inner()).next();
                            let Some((table, wanted)) = next else { return Ok(done) };
                            let t = &shared[table];
                            let profiles =
                                profile_columns(&conn, &t.name, &t.columns, &wanted).map_err(|e| self.err(e))?;
                            done.push((table, wanted, profiles));
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| {
                    w.join()
                        .unwrap_or_else(|_| Err(Error::Other("profiling thread panicked".into())))
                })
                .collect()
        });
        for result in results {
            for (table, wanted, profiles) in result? {
                for (i, p) in wanted.into_iter().zip(profiles) {
                    tables[table].columns[i].profile = Some(p);
                }
            }
        }
        Ok(())
    }

    fn describe_table(&self, conn: &Connection, name: &str, create_sql: &str) -> Result<Table> {
        let e = |err| self.err(err);
        let text = sql::parse_create_table(create_sql);
        let mut stmt = conn
            .prepare("SELECT name, type, \"notnull\", dflt_value, pk, hidden FROM pragma_table_xinfo(?1)")
            .map_err(e)?;
        let rows: Vec<(String, String, bool, Option<String>, i64, i64)> = stmt
            .query_map([name], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
            })
            .map_err(e)?
            .collect::<Result<_, _>>()
            .map_err(e)?;
        let mut columns = Vec::new();
        let mut key: Vec<(i64, String)> = Vec::new();
        for (col, declared, not_null, default, pk, hidden) in rows {
            if pk > 0 {
                key.push((pk, col.clone()));
            }
            let generated = (hidden == 2 || hidden == 3).then(|| Generated {
                expression: text
                    .generated
                    .iter()
                    .find(|(c, _, _)| c.eq_ignore_ascii_case(&col))
                    .map(|(_, expr, _)| expr.clone())
                    .unwrap_or_default(),
                stored: hidden == 3,
            });
            let collation = text
                .collations
                .iter()
                .find(|(c, _)| c.eq_ignore_ascii_case(&col))
                .map(|(_, coll)| coll.clone())
                .filter(|c| !c.eq_ignore_ascii_case("BINARY"));
            columns.push(Column {
                name: col,
                declared_type: declared,
                not_null,
                default,
                generated,
                collation,
                profile: None,
                inferred: None,
            });
        }
        key.sort();
        let primary_key: Vec<String> = key.into_iter().map(|(_, c)| c).collect();
        let without_rowid: bool = conn
            .query_row(
                "SELECT wr FROM pragma_table_list WHERE name = ?1 AND schema = 'main'",
                [name],
                |r| r.get(0),
            )
            .unwrap_or(false);
        let rowid_alias = if !without_rowid && primary_key.len() == 1 {
            columns
                .iter()
                .position(|c| c.name == primary_key[0] && c.declared_type.eq_ignore_ascii_case("INTEGER"))
        } else {
            None
        };
        let row_count: i64 = conn
            .query_row(&format!("SELECT count(*) FROM {}", quote(name)), [], |r| r.get(0))
            .map_err(e)?;
        let mut table = Table {
            name: name.to_string(),
            columns,
            primary_key,
            rowid_alias,
            without_rowid,
            autoincrement: text.autoincrement,
            sequence: None,
            indexes: Vec::new(),
            foreign_keys: Vec::new(),
            checks: text
                .checks
                .iter()
                .map(|(n, e)| Check {
                    name: n.clone(),
                    expression: e.clone(),
                })
                .collect(),
            row_count: u64::try_from(row_count).unwrap_or(0),
        };
        table.indexes = self.describe_indexes(conn, &table)?;
        table.foreign_keys = self.describe_foreign_keys(conn, &table, &text)?;
        Ok(table)
    }

    fn describe_indexes(&self, conn: &Connection, table: &Table) -> Result<Vec<Index>> {
        let e = |err| self.err(err);
        let mut stmt = conn
            .prepare("SELECT name, \"unique\", origin FROM pragma_index_list(?1) ORDER BY seq DESC")
            .map_err(e)?;
        let list: Vec<(String, bool, String)> = stmt
            .query_map([&table.name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(e)?
            .collect::<Result<_, _>>()
            .map_err(e)?;
        let mut indexes = Vec::new();
        for (name, unique, origin) in list {
            if origin == "pk" {
                continue;
            }
            let index_sql: Option<String> = conn
                .query_row(
                    "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?1",
                    [&name],
                    |r| r.get(0),
                )
                .unwrap_or(None);
            let text = index_sql.as_deref().map(sql::parse_create_index).unwrap_or_default();
            let mut xinfo = conn
                .prepare("SELECT cid, name, \"desc\", coll FROM pragma_index_xinfo(?1) WHERE key = 1 ORDER BY seqno")
                .map_err(e)?;
            let keys: Vec<(i64, Option<String>, bool, Option<String>)> = xinfo
                .query_map([&name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .map_err(e)?
                .collect::<Result<_, _>>()
                .map_err(e)?;
            let mut parts = Vec::new();
            for (i, (cid, column, descending, collation)) in keys.into_iter().enumerate() {
                let collation = collation.filter(|c| !c.eq_ignore_ascii_case("BINARY"));
                match column {
                    Some(name) if cid >= 0 => parts.push(IndexPart::Column {
                        name,
                        descending,
                        collation,
                    }),
                    _ => {
                        let sql = text
                            .parts
                            .get(i)
                            .map(|(tokens, _)| sql::untokenize(tokens))
                            .unwrap_or_default();
                        parts.push(IndexPart::Expression { sql, descending });
                    }
                }
            }
            indexes.push(Index {
                name,
                unique,
                parts,
                predicate: text.predicate,
                from_constraint: origin == "u",
            });
        }
        Ok(indexes)
    }

    fn describe_foreign_keys(
        &self,
        conn: &Connection,
        table: &Table,
        text: &sql::TableText,
    ) -> Result<Vec<ForeignKey>> {
        let e = |err| self.err(err);
        let mut stmt = conn
            .prepare("SELECT id, \"table\", \"from\", \"to\", on_update, on_delete FROM pragma_foreign_key_list(?1) ORDER BY id, seq")
            .map_err(e)?;
        let rows: Vec<(i64, String, String, Option<String>, String, String)> = stmt
            .query_map([&table.name], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
            })
            .map_err(e)?
            .collect::<Result<_, _>>()
            .map_err(e)?;
        let mut fks: Vec<(i64, ForeignKey)> = Vec::new();
        for (id, parent, from, to, on_update, on_delete) in rows {
            match fks.last_mut() {
                Some((last, fk)) if *last == id => {
                    fk.columns.push(from);
                    fk.parent_columns.extend(to);
                }
                _ => fks.push((
                    id,
                    ForeignKey {
                        name: None,
                        columns: vec![from],
                        parent_table: parent,
                        parent_columns: to.into_iter().collect(),
                        on_update,
                        on_delete,
                        deferrable: Deferrable::No,
                    },
                )),
            }
        }
        // PRAGMA lists foreign keys newest first; the text lists them in order.
        let mut out: Vec<ForeignKey> = fks.into_iter().map(|(_, fk)| fk).collect();
        for fk in &mut out {
            if let Some((_, _, deferrable, name)) = text.foreign_keys.iter().find(|(cols, parent, _, _)| {
                parent.eq_ignore_ascii_case(&fk.parent_table)
                    && cols.len() == fk.columns.len()
                    && cols.iter().zip(&fk.columns).all(|(a, b)| a.eq_ignore_ascii_case(b))
            }) {
                fk.deferrable = *deferrable;
                fk.name = name.clone();
            }
        }
        Ok(out)
    }
}

fn read_sequences(conn: &Connection) -> Vec<(String, i64)> {
    let Ok(mut stmt) = conn.prepare("SELECT name, seq FROM sqlite_sequence") else {
        return Vec::new();
    };
    stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .map(|rows| rows.flatten().collect())
        .unwrap_or_default()
}

/// Tables that belong to a virtual table (FTS and the like).
fn shadow_tables(conn: &Connection) -> Vec<String> {
    let Ok(mut stmt) = conn.prepare("SELECT name FROM pragma_table_list WHERE type = 'shadow'") else {
        return Vec::new();
    };
    stmt.query_map([], |r| r.get::<_, String>(0))
        .map(|rows| rows.flatten().collect())
        .unwrap_or_default()
}

/// The names of a view's columns, as SQLite gives them.
fn view_columns(conn: &Connection, view: &str) -> Vec<String> {
    let Ok(mut stmt) = conn.prepare("SELECT name FROM pragma_table_info(?1)") else {
        return Vec::new();
    };
    stmt.query_map([view], |r| r.get::<_, String>(0))
        .map(|rows| rows.flatten().collect())
        .unwrap_or_default()
}

/// The SELECT of a CREATE VIEW statement.
fn view_select(create: &str) -> String {
    let tokens = sql::tokenize(create);
    match tokens.iter().position(|t| t.is_word("AS")) {
        Some(pos) => sql::untokenize(&tokens[pos + 1..]),
        None => String::new(),
    }
}

/// Quotes an identifier for SQLite.
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// One scan of the table, aggregating every requested column at once.
fn profile_columns(
    conn: &Connection,
    table: &str,
    columns: &[Column],
    wanted: &[usize],
) -> rusqlite::Result<Vec<ColumnProfile>> {
    const PER_COLUMN: usize = 11;
    let mut select = Vec::new();
    for &i in wanted {
        let c = quote(&columns[i].name);
        select.push(format!(
            "sum(typeof({c})='null'), sum(typeof({c})='integer'), sum(typeof({c})='real'), \
             sum(typeof({c})='text'), sum(typeof({c})='blob'), \
             min(CASE WHEN typeof({c})='integer' THEN {c} END), max(CASE WHEN typeof({c})='integer' THEN {c} END), \
             min(CASE WHEN typeof({c})='real' THEN {c} END), max(CASE WHEN typeof({c})='real' THEN {c} END), \
             max(CASE WHEN typeof({c})='text' THEN length({c}) END), \
             sum(typeof({c})='real' AND {c} <> CAST({c} AS INTEGER))"
        ));
    }
    let query = format!("SELECT {} FROM {}", select.join(", "), quote(table));
    conn.query_row(&query, [], |r| {
        let count = |i: usize| -> rusqlite::Result<u64> {
            Ok(u64::try_from(r.get::<_, Option<i64>>(i)?.unwrap_or(0)).unwrap_or(0))
        };
        let mut out = Vec::new();
        for k in 0..wanted.len() {
            let b = k * PER_COLUMN;
            out.push(ColumnProfile {
                nulls: count(b)?,
                integers: count(b + 1)?,
                reals: count(b + 2)?,
                texts: count(b + 3)?,
                blobs: count(b + 4)?,
                integer_min: r.get(b + 5)?,
                integer_max: r.get(b + 6)?,
                real_min: r.get(b + 7)?,
                real_max: r.get(b + 8)?,
                text_max_chars: r.get::<_, Option<i64>>(b + 9)?.and_then(|v| u64::try_from(v).ok()),
                fractional_reals: count(b + 10)?,
                decimal_digits: None,
                epoch_magnitudes: None,
            });
        }
        Ok(out)
    })
}
