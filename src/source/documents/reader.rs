//! The documents side of the [`Source`] interface. Readers share the
//! model `describe` learned; a scan streams the collection a table comes
//! from (a child or junction table re-reads its parent's collection).

use std::collections::HashSet;
use std::sync::Arc;

use super::DocumentSource;
use super::json::ValueProblem;
use super::normalize::{Model, TableDef};
use super::records::{self, Rec};
use super::rows::{RowBuf, each_row_object};
use super::shape::hash_key;
use crate::error::{Error, Result};
use crate::source::{
    Column, Flow, InferredKind, ProfileFilter, Reader, Row, Scan, Selected, Source, SourceSchema, Table, Value,
    ValueRef,
};

impl Source for DocumentSource {
    fn display_name(&self) -> String {
        self.path().display().to_string()
    }

    fn file_stem(&self) -> String {
        let stem = records::stem_of(self.path());
        if stem.is_empty() { "godwit".into() } else { stem }
    }

    fn describe(&self, _profile: &ProfileFilter<'_>) -> Result<SourceSchema> {
        let model = self.model()?;
        Ok(schema_of(&model))
    }

    fn readers(&self, n: usize) -> Result<Vec<Box<dyn Reader>>> {
        let model = self.model()?;
        Ok((0..n.max(1))
            .map(|_| {
                Box::new(DocumentReader {
                    model: model.clone(),
                    path: self.path().to_path_buf(),
                }) as Box<dyn Reader>
            })
            .collect())
    }

    /// Values of text and integer columns only: the others already have
    /// the type every value fits, which no suggestion would improve.
    fn sample(&self, table: &str, column: &str, n: usize) -> Result<Vec<Value>> {
        let model = self.model()?;
        let suggestible = model
            .tables
            .iter()
            .find(|t| t.name == table)
            .and_then(|t| t.columns.iter().find(|c| c.name == column))
            .is_some_and(|c| matches!(c.inferred.kind, InferredKind::Text | InferredKind::Integer));
        if !suggestible {
            return Ok(Vec::new());
        }
        let mut reader = DocumentReader {
            model,
            path: self.path().to_path_buf(),
        };
        let select = [Selected::Column(column.to_string())];
        let scan = Scan {
            table,
            select: &select,
            rowids: None,
            order_by: None,
        };
        let mut out = Vec::new();
        reader.scan(&scan, &mut |row| {
            let value = match row.value(0) {
                ValueRef::Null => return Ok(Flow::Continue),
                ValueRef::Integer(i) => Value::Integer(i),
                ValueRef::Real(f) => Value::Real(f),
                ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => Value::Blob(b.to_vec()),
            };
            out.push(value);
            Ok(if out.len() >= n { Flow::Stop } else { Flow::Continue })
        })?;
        Ok(out)
    }

    /// Records come in file order, not key order (`order_by` is not
    /// honoured)...
    fn ordered_scans(&self) -> bool {
        false
    }

    /// ...which is key order where the key counts up in the file (ids
    /// exported in order, or the position): verify merges those tables.
    fn ordered_scans_of(&self, table: &str) -> bool {
        self.model()
            .ok()
            .and_then(|m| m.tables.iter().find(|t| t.name == table).map(|t| t.in_key_order))
            .unwrap_or(false)
    }

    fn explain_target_error(&self, error: Error) -> Error {
        match error {
            Error::Postgres {
                context,
                message,
                sqlstate,
            } => Error::Postgres {
                context: format!(
                    "copying {}: PostgreSQL refused the tables or rows godwit made of this file ({context})",
                    self.path().display()
                ),
                message,
                sqlstate,
            },
            other => other,
        }
    }
}

fn schema_of(model: &Model) -> SourceSchema {
    SourceSchema {
        tables: model.tables.iter().map(table_of).collect(),
        views: Vec::new(),
        triggers: Vec::new(),
        unsupported: Vec::new(),
        virtual_tables: Vec::new(),
        inferred: model.inferred.clone(),
        skipped: model.skipped.clone(),
    }
}

fn table_of(def: &TableDef) -> Table {
    Table {
        name: def.name.clone(),
        columns: def
            .columns
            .iter()
            .map(|c| Column {
                name: c.name.clone(),
                declared_type: String::new(),
                not_null: c.not_null,
                default: None,
                generated: None,
                collation: None,
                profile: None,
                inferred: Some(c.inferred.clone()),
            })
            .collect(),
        primary_key: def.primary_key.clone(),
        rowid_alias: None,
        without_rowid: true,
        autoincrement: false,
        sequence: None,
        indexes: def.indexes.clone(),
        foreign_keys: def.foreign_keys.clone(),
        checks: Vec::new(),
        row_count: def.rows,
    }
}

pub struct DocumentReader {
    model: Arc<Model>,
    path: std::path::PathBuf,
}

impl DocumentReader {
    fn table(&self, name: &str) -> Result<usize> {
        self.model
            .tables
            .iter()
            .position(|t| t.name == name)
            .ok_or_else(|| Error::Source {
                path: self.path.clone(),
                message: format!("no table {name} in this source"),
            })
    }
}

impl Reader for DocumentReader {
    fn scan(&mut self, scan: &Scan<'_>, visit: &mut dyn FnMut(&dyn Row) -> Result<Flow>) -> Result<()> {
        let model = self.model.clone();
        let table = &model.tables[self.table(scan.table)?];
        let columns: Vec<Option<usize>> = scan
            .select
            .iter()
            .map(|s| match s {
                Selected::Column(name) => table.column(name),
                Selected::Rowid => None,
            })
            .collect();
        let origin = &model.collections[table.collection].origin;
        let mut row = RowBuf::default();
        let mut position = 0u64;
        let repeated = &model.repeated_keys[table.collection];
        let mut seen: HashSet<String> = HashSet::new();
        let each = if model.collections[table.collection].whole_values {
            records::each_whole
        } else {
            records::each
        };
        each(origin, &mut |rec| {
            position += 1;
            // A key seen before in the same object: that record is rejected.
            let repeat = rec
                .key
                .filter(|k| !repeated.is_empty() && repeated.contains(&hash_key(k)))
                .filter(|k| !seen.insert((*k).to_string()))
                .map(|k| ValueProblem {
                    at: rec.at,
                    reason: format!("the key {k:?} appears twice in one object"),
                    field: None,
                    malformed: false,
                });
            let rec = &Rec {
                key: rec.key,
                value: rec.value,
                problem: repeat.as_ref().or(rec.problem),
                not_object: rec.not_object,
                file: rec.file,
                at: rec.at,
                csv_record: rec.csv_record,
            };
            let mut flow = Flow::Continue;
            let mut failure = None;
            each_row_object(rec.value, &table.arrays, &mut |objects, ordinals| {
                if flow == Flow::Stop || failure.is_some() {
                    return;
                }
                row.fill(table, &columns, rec, position, objects, ordinals);
                match visit(&row) {
                    Ok(f) => flow = f,
                    Err(e) => failure = Some(e),
                }
            });
            match failure {
                Some(e) => Err(e),
                None => Ok(flow),
            }
        })
    }

    fn rowid_bounds(&mut self, _table: &str) -> Result<Option<(i64, i64)>> {
        Ok(None)
    }

    /// The size of the file the table is read from, shared among the
    /// tables read from it by their rows.
    fn estimated_bytes(&mut self, table: &str, _columns: &[String], rows: u64) -> Result<u64> {
        let table = &self.model.tables[self.table(table)?];
        let path = self.model.collections[table.collection].origin.path();
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        Ok(if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
            rows.saturating_mul(1024)
        } else if table.arrays.is_empty() {
            size
        } else {
            size / 4
        })
    }
}
