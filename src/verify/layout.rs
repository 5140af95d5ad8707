//! What is compared for one table: the columns both sides hold, with the
//! cast the copy applied, the key, and the two queries that stream rows.

use crate::plan::TablePlan;
use crate::plan::types::{Cast, PgType};
use crate::postgres::conn::qualified;
use crate::postgres::conn::quote_ident;
use crate::source::{RowidRange, Selected};
use crate::verify::value::FieldKind;

#[derive(Debug, Clone)]
pub struct Column {
    pub source: String,
    pub target: String,
    pub kind: FieldKind,
    pub pg_type: PgType,
    pub cast: Cast,
    pub not_null: bool,
}

/// Part of a table by its integer key (the rowid alias), so one large
/// table is compared in parallel pieces; open-ended at either end so that
/// target rows outside the source's key range are still seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRange {
    /// Inclusive.
    pub from: Option<i64>,
    /// Exclusive.
    pub to: Option<i64>,
}

impl KeyRange {
    /// The same range on the source side, where the key is the rowid.
    pub fn rowids(&self) -> RowidRange {
        RowidRange {
            from: self.from,
            to: self.to,
        }
    }

    fn conditions(&self, column: &str) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(from) = self.from {
            out.push(format!("{column} >= {from}"));
        }
        if let Some(to) = self.to {
            out.push(format!("{column} < {to}"));
        }
        out
    }
}

#[derive(Debug, Clone)]
pub struct Layout {
    pub source_table: String,
    pub target_table: String,
    /// False when the target has no such table: every row is missing.
    pub target_exists: bool,
    pub columns: Vec<Column>,
    /// Positions in `columns` of the row key; None for tables without a
    /// primary key (rowid tables), which are compared as multisets.
    pub key: Option<Vec<usize>>,
    /// Both sides can stream in the same key order (merge join).
    pub orderable: bool,
    /// Source columns the target has no column for (not loaded, not compared).
    pub not_compared: Vec<String>,
    pub row_count: u64,
    /// The source SELECT ends with `rowid`, to name rows whose key is NULL
    /// (SQLite allows NULL in a non-integer primary key of a rowid table).
    pub selects_rowid: bool,
    /// The key is the rowid alias and still an integer in the target: the
    /// table can be split into [`KeyRange`]s.
    pub rowid_key: bool,
}

impl Layout {
    /// `rowid_alias`: the plan's key is SQLite's INTEGER PRIMARY KEY.
    pub fn new(table: &TablePlan, target_exists: bool, not_compared: Vec<String>, rowid_alias: bool) -> Layout {
        let columns: Vec<Column> = table
            .copied_columns()
            .map(|c| Column {
                source: c.source.clone(),
                target: c.target.clone(),
                kind: FieldKind::of(&c.pg_type),
                pg_type: c.pg_type.clone(),
                cast: c.cast.clone(),
                not_null: c.not_null,
            })
            .collect();
        // `rowid` names SQLite's hidden rowid, unless a copied column carries
        // it (full-text and rtree tables keep theirs as a column).
        let key: Option<Vec<usize>> = if table
            .row_key
            .iter()
            .any(|k| k == "rowid" && !columns.iter().any(|c| c.source == "rowid"))
        {
            None
        } else {
            table
                .row_key
                .iter()
                .map(|k| columns.iter().position(|c| &c.source == k))
                .collect()
        };
        // uuid-from-int turns ordered integers into unordered UUIDs.
        let orderable = key.as_ref().is_some_and(|positions| {
            positions
                .iter()
                .all(|&p| columns[p].kind.orderable() && !matches!(columns[p].cast, Cast::UuidFromInt { .. }))
        });
        let key_is_some = key.is_some();
        let rowid_key = rowid_alias
            && key
                .as_deref()
                .is_some_and(|k| k.len() == 1 && matches!(columns[k[0]].cast, Cast::Integer { .. }));
        Layout {
            source_table: table.source.clone(),
            target_table: table.target.clone(),
            target_exists,
            columns,
            key,
            orderable,
            not_compared,
            row_count: table.row_count,
            selects_rowid: table.has_rowid && key_is_some,
            rowid_key,
        }
    }

    /// The key's column names (source spelling), for reports.
    pub fn key_names(&self) -> Option<Vec<String>> {
        self.key
            .as_ref()
            .map(|k| k.iter().map(|&p| self.columns[p].source.clone()).collect())
    }

    /// What the source scan selects: the compared columns, then the rowid
    /// when rows with a NULL key need it for a name.
    pub fn source_select(&self) -> Vec<Selected> {
        let mut list: Vec<Selected> = self
            .columns
            .iter()
            .map(|c| Selected::Column(c.source.clone()))
            .collect();
        if self.selects_rowid {
            list.push(Selected::Rowid);
        }
        list
    }

    pub fn target_copy(&self, schema: &str, ordered: bool, range: Option<&KeyRange>) -> String {
        let list: Vec<String> = self.columns.iter().map(|c| quote_ident(&c.target)).collect();
        let mut select = format!(
            "SELECT {} FROM {}",
            if list.is_empty() {
                "NULL".to_string()
            } else {
                list.join(", ")
            },
            qualified(schema, &self.target_table)
        );
        if let (Some(range), Some(key)) = (range, &self.key) {
            let column = quote_ident(&self.columns[key[0]].target);
            select.push_str(&format!(" WHERE {}", range.conditions(&column).join(" AND ")));
        }
        if ordered && let Some(key) = &self.key {
            let order: Vec<String> = key
                .iter()
                .map(|&p| {
                    let c = &self.columns[p];
                    let collate = if c.kind == FieldKind::Text {
                        " COLLATE \"C\""
                    } else {
                        ""
                    };
                    // Plain ascending order, so the primary key's index
                    // serves it without a sort. NULL keys (only possible in
                    // a framework table without a key) sort last here but
                    // first in SQLite: the merge sees the order break and
                    // the table is compared by hash instead.
                    format!("{}{collate}", quote_ident(&c.target))
                })
                .collect();
            select.push_str(&format!(" ORDER BY {}", order.join(", ")));
        }
        format!("COPY ({select}) TO STDOUT (FORMAT binary)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::value::FieldKind;

    fn column(name: &str, pg_type: PgType, cast: Cast) -> Column {
        Column {
            source: name.into(),
            target: name.to_lowercase(),
            kind: FieldKind::of(&pg_type),
            pg_type,
            cast,
            not_null: true,
        }
    }

    fn layout(key: Vec<Column>) -> Layout {
        let positions = (0..key.len()).collect();
        Layout {
            source_table: "Items".into(),
            target_table: "items".into(),
            target_exists: true,
            columns: key,
            key: Some(positions),
            orderable: true,
            not_compared: Vec::new(),
            row_count: 0,
            selects_rowid: false,
            rowid_key: true,
        }
    }

    #[test]
    fn both_sides_order_by_bytes() {
        let l = layout(vec![
            column("Code", PgType::Text, Cast::Text { max_chars: None }),
            column("N", PgType::BigInt, Cast::Integer { bits: 64 }),
        ]);
        assert_eq!(
            l.source_select(),
            vec![Selected::Column("Code".into()), Selected::Column("N".into())]
        );
        assert_eq!(l.key_names(), Some(vec!["Code".to_string(), "N".to_string()]));
        assert_eq!(
            l.target_copy("app", true, None),
            r#"COPY (SELECT "code", "n" FROM "app"."items" ORDER BY "code" COLLATE "C", "n") TO STDOUT (FORMAT binary)"#
        );
    }

    #[test]
    fn key_ranges_are_open_at_the_ends() {
        let l = layout(vec![column("Id", PgType::BigInt, Cast::Integer { bits: 64 })]);
        let first = KeyRange {
            from: None,
            to: Some(100),
        };
        let middle = KeyRange {
            from: Some(100),
            to: Some(200),
        };
        let last = KeyRange {
            from: Some(200),
            to: None,
        };
        assert_eq!(
            first.rowids(),
            RowidRange {
                from: None,
                to: Some(100)
            }
        );
        assert_eq!(
            middle.rowids(),
            RowidRange {
                from: Some(100),
                to: Some(200)
            }
        );
        assert!(
            l.target_copy("s", true, Some(&last))
                .contains(r#"WHERE "id" >= 200 ORDER BY "id")"#)
        );
    }
}
