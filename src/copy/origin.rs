//! Records where a copy came from (see [`crate::reverse::origin`]): the
//! SQLite file's own DDL, and per column what the values looked like, so
//! the copy can be taken back to SQLite exactly.

use std::collections::HashMap;
use std::sync::Mutex;

use postgres::GenericClient;

use crate::error::{Error, Result};
use crate::plan::types::{Affinity, Cast, EpochUnit, affinity, parse_declared};
use crate::plan::{Plan, TablePlan};
pub use crate::reverse::origin::TableOrigin;
use crate::reverse::origin::{self, ColumnOrigin, ObjectSql, Restore, TimeFormat, Unit};
use crate::source::native::{NativeDdl, NativeTable};
use crate::source::{Flow, Reader, Scan, Selected, Source, ValueRef};

/// Distinct date/time shapes kept per column; more means free-form text.
const MAX_FORMATS: usize = 16;

/// Reads what the reverse copy needs from the source: its own DDL and file
/// settings, and one scan of the columns whose values' spelling the casts
/// forget (dates and times, booleans, UUIDs). Empty for a source that has
/// no DDL of its own to go back to.
pub fn gather(source: &dyn Source, plan: &Plan) -> Result<Vec<TableOrigin>> {
    let Some(native) = source.native_ddl()? else {
        return Ok(Vec::new());
    };
    let mut columns = scan_tables(source, plan, &native)?;
    let mut out: Vec<TableOrigin> = Vec::new();
    for (i, table) in plan.tables.iter().enumerate() {
        let Some(object) = native
            .objects
            .iter()
            .find(|o| o.kind == "table" && o.name == table.source)
        else {
            continue;
        };
        let Some(declared) = native.tables.iter().find(|t| t.name == table.source) else {
            continue;
        };
        let objects = native
            .objects
            .iter()
            .filter(|o| (o.kind == "index" || o.kind == "trigger") && o.table == table.source)
            .map(|o| ObjectSql {
                kind: o.kind.clone(),
                name: o.name.clone(),
                sql: o.sql.clone(),
            })
            .collect();
        let columns = columns.remove(&i).unwrap_or_default();
        out.push(TableOrigin {
            name: table.source.clone(),
            target: table.target.clone(),
            position: object.position,
            sql: object.sql.clone(),
            objects,
            columns,
            sequence: declared.sequence,
            rowid_alias: declared.rowid_alias.clone(),
            file: native.settings.clone(),
        });
    }
    // Views belong to no one table: each goes with the last copied table
    // created before it, so it is created again after all tables exist.
    for view in native.objects.iter().filter(|o| o.kind == "view") {
        if let Some(owner) = out
            .iter_mut()
            .filter(|t| t.position < view.position)
            .max_by_key(|t| t.position)
        {
            owner.objects.push(ObjectSql {
                kind: view.kind.clone(),
                name: view.name.clone(),
                sql: view.sql.clone(),
            });
        }
    }
    Ok(out)
}

/// Every table's column rules, tables scanned in parallel (one snapshot):
/// the copy's workers are done by now, so this takes the cores they had.
fn scan_tables(source: &dyn Source, plan: &Plan, native: &NativeDdl) -> Result<HashMap<usize, Vec<ColumnOrigin>>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(plan.tables.len())
        .max(1);
    let readers = source.readers(threads)?;
    let queue = Mutex::new(plan.tables.iter().enumerate());
    let done: Mutex<HashMap<usize, Vec<ColumnOrigin>>> = Mutex::new(HashMap::new());
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for mut reader in readers {
            let (queue, done, first_error) = (&queue, &done, &first_error);
            scope.spawn(move || {
                loop {
                    let Some((i, table)) = queue.lock().unwrap_or_else(|p| p.into_inner()).next() else {
                        return;
                    };
                    let Some(declared) = native.tables.iter().find(|t| t.name == table.source) else {
                        continue;
                    };
                    match describe_columns(reader.as_mut(), table, declared) {
                        Ok(columns) => {
                            done.lock().unwrap_or_else(|p| p.into_inner()).insert(i, columns);
                        }
                        Err(e) => {
                            first_error.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
                            return;
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    Ok(done.into_inner().unwrap_or_else(|p| p.into_inner()))
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

/// Every column of the table in the source's order, with its rule.
fn describe_columns(reader: &mut dyn Reader, table: &TablePlan, native: &NativeTable) -> Result<Vec<ColumnOrigin>> {
    let scanned: Vec<&crate::plan::ColumnPlan> = table.copied_columns().filter(|c| needs_scan(&c.cast)).collect();
    let mut facts: Vec<Facts> = scanned.iter().map(|_| Facts::default()).collect();
    if !scanned.is_empty() {
        let select: Vec<Selected> = scanned.iter().map(|c| Selected::Column(c.source.clone())).collect();
        let scan = Scan::whole(&table.source, &select);
        reader.scan(&scan, &mut |row| {
            for (i, f) in facts.iter_mut().enumerate() {
                observe(f, &scanned[i].cast, row.value(i));
            }
            Ok(Flow::Continue)
        })?;
    }
    let mut columns = Vec::new();
    for (name, declared) in &native.columns {
        let Some(planned) = table.copied_columns().find(|c| &c.source == name) else {
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
    Ok(columns)
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

/// Records the model the source learned of its values (documents), tied
/// to the bytes it was learned from, so `verify` can take it instead of
/// reading the file once more to learn it. After the copy's commit: a
/// copy that cannot record it is still whole, and verify then learns.
pub fn record_learned_model(
    client: &mut impl GenericClient,
    source: &dyn Source,
    schema: &str,
    reporter: &crate::report::Reporter,
) {
    let Some(key) = source.model_key() else { return };
    let note = match source.learned_model() {
        Ok(Ok(model)) => match crate::postgres::bookkeeping::record_document_model(client, schema, &key, &model) {
            Ok(()) => return,
            Err(e) => format!("could not record the model learned of {key} ({e}); verify will learn it again"),
        },
        Ok(Err(why)) => format!("no model of {key} recorded for verify, which will learn it: {why}"),
        Err(e) => format!("could not record the model learned of {key} ({e}); verify will learn it again"),
    };
    reporter.emit(crate::report::Event::Info(format!("note: {note}")));
}
