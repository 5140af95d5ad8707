//! Records where a copy came from (see [`crate::reverse::origin`]): the
//! SQLite file's own DDL, and per column what the values looked like, so
//! the copy can be taken back to SQLite exactly.

use std::collections::HashMap;

use postgres::GenericClient;
use rusqlite::types::ValueRef;

use crate::error::Result;
use crate::plan::types::{Affinity, Cast, EpochUnit, affinity, parse_declared};
use crate::plan::{Plan, TablePlan};
pub use crate::reverse::origin::TableOrigin;
use crate::reverse::origin::{self, ColumnOrigin, FileSettings, ObjectSql, Restore, TimeFormat, Unit};
use crate::source::sqlite::{SqliteSource, quote};

/// Distinct date/time shapes kept per column; more means free-form text.
const MAX_FORMATS: usize = 16;

/// Reads what the reverse copy needs from the source: sqlite_master, the
/// file's PRAGMAs, and one scan of the columns whose values' spelling the
/// casts forget (dates and times, booleans, UUIDs).
pub fn gather(source: &SqliteSource, plan: &Plan) -> Result<Vec<TableOrigin>> {
    let conn = source.connect()?;
    let e = |err| source.err(err);
    let pragma = |name: &str| -> Result<i64> { conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0)).map_err(e) };
    let journal: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).map_err(e)?;
    let file = FileSettings {
        page_size: pragma("page_size")?,
        auto_vacuum: pragma("auto_vacuum")?,
        user_version: pragma("user_version")?,
        application_id: pragma("application_id")?,
        wal: journal.eq_ignore_ascii_case("wal"),
    };
    let mut stmt = conn
        .prepare("SELECT type, name, tbl_name, sql, rowid FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid")
        .map_err(e)?;
    let master: Vec<(String, String, String, String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .map_err(e)?
        .collect::<Result<_, _>>()
        .map_err(e)?;
    let sequences: HashMap<String, i64> = conn
        .prepare("SELECT name, seq FROM sqlite_sequence")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
                .collect::<rusqlite::Result<_>>()
        })
        .unwrap_or_default();

    let mut out: Vec<TableOrigin> = Vec::new();
    for table in &plan.tables {
        let Some((_, _, _, sql, position)) = master
            .iter()
            .find(|(kind, name, ..)| kind == "table" && name == &table.source)
        else {
            continue;
        };
        let objects = master
            .iter()
            .filter(|(kind, _, tbl, ..)| (kind == "index" || kind == "trigger") && tbl == &table.source)
            .map(|(kind, name, _, sql, _)| ObjectSql {
                kind: kind.clone(),
                name: name.clone(),
                sql: sql.clone(),
            })
            .collect();
        let columns = describe_columns(&conn, table).map_err(e)?;
        out.push(TableOrigin {
            name: table.source.clone(),
            target: table.target.clone(),
            position: *position,
            sql: sql.clone(),
            objects,
            columns: columns.0,
            sequence: sequences.get(&table.source).copied(),
            rowid_alias: columns.1,
            file: file.clone(),
        });
    }
    // Views belong to no one table: each goes with the last copied table
    // created before it, so it is created again after all tables exist.
    for (kind, name, _, sql, position) in &master {
        if kind != "view" {
            continue;
        }
        if let Some(owner) = out
            .iter_mut()
            .filter(|t| t.position < *position)
            .max_by_key(|t| t.position)
        {
            owner.objects.push(ObjectSql {
                kind: kind.clone(),
                name: name.clone(),
                sql: sql.clone(),
            });
        }
    }
    Ok(out)
}

/// Records the origin inside the caller's open transaction. A target where
/// godwit may not create its schema still gets its copy: the record is
/// dropped (a savepoint) and the returned note says so.
pub fn record(client: &mut impl GenericClient, schema: &str, source: &str, tables: &[TableOrigin]) -> Option<String> {
    if client.batch_execute("SAVEPOINT godwit_origin").is_err() {
        return Some("could not record the SQLite origin; a reverse copy will use the generic mapping".into());
    }
    match origin::write(client, schema, source, tables) {
        Ok(()) => {
            let _ = client.batch_execute("RELEASE SAVEPOINT godwit_origin");
            None
        }
        Err(err) => {
            let _ = client.batch_execute("ROLLBACK TO SAVEPOINT godwit_origin");
            Some(format!(
                "could not record the SQLite origin in schema godwit ({err}); a reverse copy \
                 (copy postgresql://... --to sqlite:PATH) will use the generic mapping"
            ))
        }
    }
}

/// What one column's values looked like, for the casts that forget it.
#[derive(Default)]
struct Facts {
    integers: u64,
    reals: u64,
    texts: u64,
    blobs: u64,
    formats: HashMap<TimeFormat, u64>,
    /// Text spellings of true and false with their counts.
    spellings: HashMap<(bool, String), u64>,
    upper: u64,
    hyphens: u64,
}

impl Facts {
    fn classes(&self) -> Vec<String> {
        [
            (self.integers, "integer"),
            (self.reals, "real"),
            (self.texts, "text"),
            (self.blobs, "blob"),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(_, c)| c.to_string())
        .collect()
    }
}

fn needs_scan(cast: &Cast) -> bool {
    matches!(
        cast,
        Cast::Boolean | Cast::Uuid | Cast::Timestamp { .. } | Cast::Date { .. } | Cast::Time
    )
}

/// Every column of the table in SQLite order, and the rowid alias.
fn describe_columns(
    conn: &rusqlite::Connection,
    table: &TablePlan,
) -> rusqlite::Result<(Vec<ColumnOrigin>, Option<String>)> {
    let mut stmt = conn.prepare("SELECT name, type, pk FROM pragma_table_xinfo(?1) ORDER BY cid")?;
    let info: Vec<(String, String, i64)> = stmt
        .query_map([&table.source], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let keys = info.iter().filter(|(_, _, pk)| *pk > 0).count();
    let rowid_alias = info
        .iter()
        .find(|(_, declared, pk)| *pk > 0 && keys == 1 && declared.eq_ignore_ascii_case("INTEGER") && table.has_rowid)
        .map(|(name, ..)| name.clone());

    let scanned: Vec<&crate::plan::ColumnPlan> = table.copied_columns().filter(|c| needs_scan(&c.cast)).collect();
    let mut facts: Vec<Facts> = scanned.iter().map(|_| Facts::default()).collect();
    if !scanned.is_empty() {
        let list: Vec<String> = scanned.iter().map(|c| quote(&c.source)).collect();
        let mut select = conn.prepare(&format!("SELECT {} FROM {}", list.join(", "), quote(&table.source)))?;
        let mut rows = select.query([])?;
        while let Some(row) = rows.next()? {
            for (i, f) in facts.iter_mut().enumerate() {
                observe(f, &scanned[i].cast, row.get_ref(i)?);
            }
        }
    }

    let mut columns = Vec::new();
    for (name, declared, _) in &info {
        let planned = table.copied_columns().find(|c| &c.source == name);
        let Some(planned) = planned else {
            columns.push(ColumnOrigin {
                name: name.clone(),
                target: None,
                restore: Restore::Text,
                classes: Vec::new(),
            });
            continue;
        };
        let found = scanned
            .iter()
            .position(|c| c.source == planned.source)
            .map(|i| &facts[i]);
        let classes = match found {
            Some(f) => f.classes(),
            None => planned
                .observed
                .iter()
                .filter(|c| **c != "null")
                .map(|c| c.to_string())
                .collect(),
        };
        columns.push(ColumnOrigin {
            name: name.clone(),
            target: Some(planned.target.clone()),
            restore: restore_for(&planned.cast, declared, found),
            classes,
        });
    }
    Ok((columns, rowid_alias))
}

fn observe(f: &mut Facts, cast: &Cast, value: ValueRef<'_>) {
    match value {
        ValueRef::Null => {}
        ValueRef::Integer(_) => f.integers += 1,
        ValueRef::Real(_) => f.reals += 1,
        ValueRef::Blob(_) => f.blobs += 1,
        ValueRef::Text(bytes) => {
            f.texts += 1;
            let Ok(text) = std::str::from_utf8(bytes) else { return };
            match cast {
                Cast::Boolean => {
                    let lower = text.to_ascii_lowercase();
                    let truth = matches!(lower.as_str(), "1" | "t" | "true" | "y" | "yes" | "on");
                    if f.spellings.len() < MAX_FORMATS || f.spellings.contains_key(&(truth, text.to_string())) {
                        *f.spellings.entry((truth, text.to_string())).or_default() += 1;
                    }
                }
                Cast::Uuid => {
                    f.upper += u64::from(text.bytes().any(|b| b.is_ascii_uppercase()));
                    f.hyphens += u64::from(text.contains('-'));
                }
                _ => {
                    if let Some(format) = TimeFormat::of(text)
                        && (f.formats.len() < MAX_FORMATS || f.formats.contains_key(&format))
                    {
                        *f.formats.entry(format).or_default() += 1;
                    }
                }
            }
        }
    }
}

/// How the reverse copy writes the column's PostgreSQL values back.
fn restore_for(cast: &Cast, declared: &str, facts: Option<&Facts>) -> Restore {
    let empty = Facts::default();
    let f = facts.unwrap_or(&empty);
    match cast {
        Cast::Integer { .. } => Restore::Integer,
        Cast::Float { .. } => Restore::Real,
        Cast::Numeric { .. } if affinity(&parse_declared(declared).name) == Affinity::Blob => Restore::Number,
        Cast::Numeric { .. } => Restore::DecimalText,
        Cast::Bytea => Restore::Blob,
        Cast::Boolean => {
            if f.texts > f.integers + f.reals {
                let most = |truth: bool| {
                    f.spellings
                        .iter()
                        .filter(|((t, _), _)| *t == truth)
                        .max_by_key(|(_, n)| **n)
                        .map(|((_, s), _)| s.clone())
                };
                let yes = most(true).unwrap_or_else(|| "true".into());
                let no = most(false).unwrap_or_else(|| "false".into());
                Restore::Boolean {
                    spelling: Some((yes, no)),
                }
            } else {
                Restore::Boolean { spelling: None }
            }
        }
        Cast::Timestamp { unit, .. } | Cast::Date { unit } if f.integers + f.reals > f.texts => Restore::Epoch {
            unit: match unit {
                EpochUnit::Seconds => Unit::Seconds,
                EpochUnit::Milliseconds => Unit::Milliseconds,
                EpochUnit::JulianDay => Unit::JulianDay,
            },
            real: f.reals > f.integers,
        },
        Cast::Timestamp { .. } | Cast::Date { .. } | Cast::Time => {
            let mut seen: Vec<(&TimeFormat, &u64)> = f.formats.iter().collect();
            seen.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.fraction_digits.cmp(&b.0.fraction_digits)));
            let mut formats: Vec<TimeFormat> = seen.into_iter().map(|(t, _)| t.clone()).collect();
            if formats.is_empty() {
                // Nothing to learn from: SQLite's own CURRENT_TIMESTAMP shapes.
                let examples: &[&str] = match cast {
                    Cast::Date { .. } => &["2000-01-01"],
                    Cast::Time => &["00:00:00", "00:00:00.000000"],
                    _ => &["2000-01-01 00:00:00", "2000-01-01 00:00:00.000000"],
                };
                formats = examples.iter().filter_map(|e| TimeFormat::of(e)).collect();
            }
            Restore::TimeText { formats }
        }
        Cast::Json { .. } | Cast::JsonArray { .. } => Restore::JsonText,
        Cast::Uuid => Restore::Uuid {
            blob: f.blobs > f.texts,
            upper: f.upper * 2 > f.texts,
            hyphens: f.hyphens * 2 >= f.texts,
        },
        Cast::SplitArray { separator, .. } => Restore::Split {
            separator: separator.clone(),
        },
        Cast::UuidFromInt { namespace } => Restore::Lost {
            why: format!(
                "its integers became name-based UUIDs (uuid-from-int, {namespace}), which cannot be turned back"
            ),
        },
        Cast::Text { .. } | Cast::TextLike | Cast::Enum { .. } | Cast::Inet { .. } => Restore::Text,
    }
}
