//! The SQLite side of the [`Source`] interface: readers are read-only
//! connections inside one snapshot, and a scan is one SELECT.

use rusqlite::Connection;
use rusqlite::types::ValueRef as SqliteValue;

use super::{SqliteSource, quote};
use crate::error::{Error, Result};
use crate::source::{Flow, ProfileFilter, Reader, Row, Scan, Selected, Source, SourceSchema, Value, ValueRef};

impl Source for SqliteSource {
    fn display_name(&self) -> String {
        self.path.display().to_string()
    }

    fn file_stem(&self) -> String {
        self.path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "godwit".into())
    }

    fn describe(&self, profile: &ProfileFilter<'_>) -> Result<SourceSchema> {
        let conn = self.connect()?;
        self.describe_with(&conn, profile)
    }

    fn readers(&self, n: usize) -> Result<Vec<Box<dyn Reader>>> {
        Ok(self
            .snapshot(n)?
            .into_iter()
            .map(|conn| {
                Box::new(SqliteReader {
                    conn,
                    source: self.clone(),
                }) as Box<dyn Reader>
            })
            .collect())
    }

    fn sample(&self, table: &str, column: &str, n: usize) -> Result<Vec<Value>> {
        let conn = self.connect()?;
        let sql = format!(
            "SELECT {c} FROM {t} WHERE {c} IS NOT NULL LIMIT {n}",
            c = quote(column),
            t = quote(table)
        );
        let mut stmt = conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| r.get_ref(0).map(owned))
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    fn native_ddl(&self) -> Result<Option<crate::source::native::NativeDdl>> {
        self.native().map(Some)
    }

    fn hold_writers(&self) -> Result<Option<Box<dyn crate::source::WriterHold>>> {
        Ok(Some(Box::new(self.hold()?)))
    }

    fn ordered_scans(&self) -> bool {
        true
    }
}

/// One connection of a snapshot ([`SqliteSource::snapshot`]).
pub struct SqliteReader {
    conn: Connection,
    source: SqliteSource,
}

impl SqliteReader {
    fn fail(&self, table: &str) -> impl Fn(rusqlite::Error) -> Error + '_ {
        let table = table.to_string();
        move |e| Error::Source {
            path: self.source.path.clone(),
            message: format!("reading table {table}: {e}"),
        }
    }
}

impl Reader for SqliteReader {
    fn scan(&mut self, scan: &Scan<'_>, visit: &mut dyn FnMut(&dyn Row) -> Result<Flow>) -> Result<()> {
        let fail = self.fail(scan.table);
        let mut stmt = self.conn.prepare_cached(&select_sql(scan)).map_err(&fail)?;
        // Bounds are parameters: the many ranges of one table (sync reads
        // those of changed pages) share one prepared statement.
        let range = scan.rowids.unwrap_or_default();
        let mut bounds: Vec<(&str, &dyn rusqlite::ToSql)> = Vec::new();
        if let Some(from) = &range.from {
            bounds.push((":from", from));
        }
        if let Some(to) = &range.to {
            bounds.push((":to", to));
        }
        let mut rows = stmt.query(bounds.as_slice()).map_err(&fail)?;
        while let Some(row) = rows.next().map_err(&fail)? {
            if visit(&SqliteRow(row))? == Flow::Stop {
                break;
            }
        }
        Ok(())
    }

    fn rowid_bounds(&mut self, table: &str) -> Result<Option<(i64, i64)>> {
        let fail = self.fail(table);
        let bounds: (Option<i64>, Option<i64>) = self
            .conn
            .query_row(
                &format!("SELECT min(rowid), max(rowid) FROM {}", quote(table)),
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(fail)?;
        Ok(bounds.0.zip(bounds.1))
    }

    fn page_map(&mut self, table: &str) -> Result<Option<crate::source::pages::PageMap>> {
        super::pages::page_map(&self.conn, table).map_err(self.fail(table))
    }

    /// From the average size of the first rows: cheap, and enough to
    /// balance the work (a BLOB table has few rows but many bytes).
    fn estimated_bytes(&mut self, table: &str, columns: &[String], rows: u64) -> Result<u64> {
        if columns.is_empty() {
            return Ok(0);
        }
        let lengths: Vec<String> = columns
            .iter()
            .map(|c| format!("coalesce(length(CAST({} AS BLOB)), 0)", quote(c)))
            .collect();
        let fail = self.fail(table);
        let average: Option<f64> = self
            .conn
            .query_row(
                &format!(
                    "SELECT avg({}) FROM (SELECT * FROM {} LIMIT 1000)",
                    lengths.join(" + "),
                    quote(table)
                ),
                [],
                |r| r.get(0),
            )
            .map_err(fail)?;
        let average = average.unwrap_or(0.0).max(0.0);
        // Estimates only: precision loss is irrelevant here.
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        Ok((average * rows as f64) as u64)
    }
}

struct SqliteRow<'stmt>(&'stmt rusqlite::Row<'stmt>);

impl Row for SqliteRow<'_> {
    fn value(&self, index: usize) -> ValueRef<'_> {
        // Positions come from the scan's own select list, so they are in range.
        self.0.get_ref(index).map(borrowed).unwrap_or(ValueRef::Null)
    }
}

fn borrowed(value: SqliteValue<'_>) -> ValueRef<'_> {
    match value {
        SqliteValue::Null => ValueRef::Null,
        SqliteValue::Integer(i) => ValueRef::Integer(i),
        SqliteValue::Real(f) => ValueRef::Real(f),
        SqliteValue::Text(t) => ValueRef::Text(t),
        SqliteValue::Blob(b) => ValueRef::Blob(b),
    }
}

fn owned(value: SqliteValue<'_>) -> Value {
    match value {
        SqliteValue::Null => Value::Null,
        SqliteValue::Integer(i) => Value::Integer(i),
        SqliteValue::Real(f) => Value::Real(f),
        SqliteValue::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        SqliteValue::Blob(b) => Value::Blob(b.to_vec()),
    }
}

/// The SELECT a scan runs. Key order is BINARY (memcmp), whatever
/// collation a column declares, to match the target's `COLLATE "C"`.
fn select_sql(scan: &Scan<'_>) -> String {
    let list: Vec<String> = scan
        .select
        .iter()
        .map(|s| match s {
            Selected::Column(name) => quote(name),
            Selected::Rowid => "rowid".to_string(),
        })
        .collect();
    let mut sql = format!(
        "SELECT {} FROM {}",
        if list.is_empty() {
            "NULL".to_string()
        } else {
            list.join(", ")
        },
        quote(scan.table)
    );
    if let Some(range) = scan.rowids {
        let mut conditions = Vec::new();
        if range.from.is_some() {
            conditions.push("rowid >= :from");
        }
        if range.to.is_some() {
            conditions.push("rowid < :to");
        }
        if !conditions.is_empty() {
            sql.push_str(&format!(" WHERE {}", conditions.join(" AND ")));
        }
    }
    if let Some(key) = scan.order_by.filter(|k| !k.is_empty()) {
        let order: Vec<String> = key.iter().map(|c| format!("{} COLLATE BINARY", quote(c))).collect();
        sql.push_str(&format!(" ORDER BY {}", order.join(", ")));
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::RowidRange;

    #[test]
    fn scans_become_one_select() {
        let select = [Selected::Column("a b".into()), Selected::Rowid];
        let key = ["k".to_string()];
        let scan = Scan {
            table: "t",
            select: &select,
            rowids: Some(RowidRange {
                from: Some(5),
                to: None,
            }),
            order_by: Some(&key),
        };
        assert_eq!(
            select_sql(&scan),
            "SELECT \"a b\", rowid FROM \"t\" WHERE rowid >= :from ORDER BY \"k\" COLLATE BINARY"
        );
    }
}
