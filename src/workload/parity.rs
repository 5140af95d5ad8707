//! Parity: each execution runs on SQLite and on PostgreSQL with the same
//! values, and the rows are compared with godwit's type mapping (the
//! canonical values of `verify`'s view comparison: numbers by value,
//! booleans as 0/1, dates and times as instants, bytes, canonical JSON,
//! UUIDs by their bytes, text exactly).
//!
//! Rows are compared as multisets unless the query orders them; then in
//! order, where rows tied on the ordering keys form a group compared as a
//! multiset (the engines may return ties in any order). Under LIMIT the
//! last group may be cut anywhere, so it is compared on its keys and size.

use std::collections::HashMap;

use postgres::Client;
use postgres::types::Type;
use serde::Serialize;
use sqlparser::ast::{Expr, OrderByKind, Statement as Ast, Value};
use sqlparser::dialect::SQLiteDialect;
use sqlparser::parser::Parser;

use super::engine::{as_refs, pg_error, pg_values};
use super::params::Param;
use super::translate::Translated;
use crate::source::ValueRef;
use crate::verify::views::{Canon, Category, canon_source, canon_target};

/// Rows shown per side in an example.
const EXAMPLE_ROWS: usize = 5;
/// Examples kept per class.
pub const EXAMPLES: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Equal,
    /// Document sources: nothing to compare with.
    NotCompared,
    ErrorSource,
    Untranslatable,
    ErrorTarget,
    Different,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Equal => "equal",
            Verdict::NotCompared => "not_compared",
            Verdict::ErrorSource => "error_source",
            Verdict::Untranslatable => "untranslatable",
            Verdict::ErrorTarget => "error_target",
            Verdict::Different => "different",
        }
    }
}

/// One execution that did not match.
#[derive(Debug, Clone, Serialize)]
pub struct Example {
    pub params: Vec<Param>,
    /// `row count`, `values`, `order`, `columns`, or the side that failed.
    pub kind: String,
    pub detail: String,
    pub source_rows: Vec<String>,
    pub target_rows: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Parity {
    pub verdict: Verdict,
    pub executions: u64,
    /// How rows were compared: `multiset`, `ordered by columns N..`, ...
    pub compared: String,
    pub examples: Vec<Example>,
}

/// How a query's rows are ordered, read from its source text.
#[derive(Debug, Clone, PartialEq)]
enum Ordering {
    None,
    /// Output positions of the ordering keys; None: some key is not an
    /// output column, so whole rows are compared in order.
    Keys {
        keys: Option<Vec<usize>>,
        limited: bool,
    },
}

fn ordering(sql: &str, columns: &[String]) -> Ordering {
    let Ok(statements) = Parser::parse_sql(&SQLiteDialect {}, sql) else {
        return Ordering::None;
    };
    let [Ast::Query(q)] = statements.as_slice() else {
        return Ordering::None;
    };
    let Some(order) = &q.order_by else {
        return Ordering::None;
    };
    let limited = q.limit_clause.is_some();
    let OrderByKind::Expressions(terms) = &order.kind else {
        return Ordering::Keys { keys: None, limited };
    };
    let position = |e: &Expr| -> Option<usize> {
        match e {
            Expr::Value(v) => match &v.value {
                Value::Number(n, _) => n.parse::<usize>().ok().and_then(|n| n.checked_sub(1)),
                _ => None,
            },
            Expr::Identifier(i) => columns.iter().position(|c| c.eq_ignore_ascii_case(&i.value)),
            Expr::CompoundIdentifier(parts) => {
                let last = &parts.last()?.value;
                // Only when the name is unique among the outputs.
                let mut hits = columns.iter().enumerate().filter(|(_, c)| c.eq_ignore_ascii_case(last));
                let first = hits.next()?.0;
                hits.next().is_none().then_some(first)
            }
            _ => None,
        }
    };
    let keys: Option<Vec<usize>> = terms.iter().map(|t| position(&t.expr)).collect();
    Ordering::Keys { keys, limited }
}

type Rows = Vec<Vec<Canon>>;

fn row_text(row: &[Canon]) -> String {
    format!(
        "({})",
        row.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    )
}

fn sample(rows: &Rows) -> Vec<String> {
    let mut out: Vec<String> = rows.iter().take(EXAMPLE_ROWS).map(|r| row_text(r)).collect();
    if rows.len() > EXAMPLE_ROWS {
        out.push(format!("... {} rows in all", rows.len()));
    }
    out
}

/// What one execution found.
enum Outcome {
    Equal,
    Differs(Verdict, Example),
}

/// Runs one class's executions on both engines.
pub struct Checker<'a> {
    pub sqlite: &'a rusqlite::Connection,
    pub pg: &'a mut Client,
    /// A read-write scratch copy of the source, for `--writes`.
    pub scratch: Option<&'a rusqlite::Connection>,
}

impl Checker<'_> {
    /// Compares a class: every execution, each with its statement.
    pub fn class(&mut self, translated: &[Translated], sources: &[&str], runs: &[(usize, Vec<Param>)]) -> Parity {
        let mut parity = Parity {
            verdict: Verdict::Equal,
            executions: 0,
            compared: String::new(),
            examples: Vec::new(),
        };
        for (statement, values) in runs {
            let t = &translated[*statement];
            let outcome = self.execution(t, sources[*statement], values, &mut parity.compared);
            parity.executions += 1;
            if let Outcome::Differs(verdict, example) = outcome {
                if verdict > parity.verdict {
                    // The worst kind leads; its examples come first.
                    parity.examples.retain(|_| false);
                    parity.verdict = verdict;
                }
                let repeated = parity
                    .examples
                    .iter()
                    .any(|e| e.detail == example.detail && e.source_rows == example.source_rows);
                if verdict == parity.verdict && parity.examples.len() < EXAMPLES && !repeated {
                    parity.examples.push(example);
                }
            }
        }
        if parity.compared.is_empty() {
            parity.compared = "(no rows compared: an engine failed or the class has no PostgreSQL text)".into();
        }
        parity
    }

    fn execution(&mut self, t: &Translated, source_sql: &str, values: &[Param], compared: &mut String) -> Outcome {
        let example = |kind: &str, detail: String, s: &Rows, g: &Rows| Example {
            params: values.to_vec(),
            kind: kind.to_string(),
            detail,
            source_rows: sample(s),
            target_rows: sample(g),
        };
        let none = Rows::new();
        let target_sql = match &t.target {
            Ok(sql) => sql,
            Err(why) => {
                return Outcome::Differs(
                    Verdict::Untranslatable,
                    example("untranslatable", why.clone(), &none, &none),
                );
            }
        };
        if t.writes {
            return self.write(t, target_sql, source_sql, values);
        }
        // PostgreSQL's column types say how both sides' values are read.
        let prepared: Result<Vec<Type>, String> = self
            .pg
            .prepare(target_sql)
            .map(|s| s.columns().iter().map(|c| c.type_().clone()).collect())
            .map_err(|e| pg_error(&e));
        let categories: Vec<Category> = prepared.iter().flatten().map(Category::of).collect();
        let (source_rows, source_columns) = match self.source_rows(source_sql, values, &categories, &t.uuid_columns) {
            Ok(rows) => rows,
            Err(e) => return Outcome::Differs(Verdict::ErrorSource, example("error_source", e, &none, &none)),
        };
        let types = match prepared {
            Ok(types) => types,
            Err(e) => {
                return Outcome::Differs(Verdict::ErrorTarget, example("error_target", e, &source_rows, &none));
            }
        };
        if types.len() != source_columns.len() {
            return Outcome::Differs(
                Verdict::Different,
                example(
                    "columns",
                    format!(
                        "SQLite returns {} columns, PostgreSQL {}",
                        source_columns.len(),
                        types.len()
                    ),
                    &source_rows,
                    &none,
                ),
            );
        }
        let target_rows = match self.target_rows(t, target_sql, &types, &categories, values) {
            Ok(rows) => rows,
            Err(e) => return Outcome::Differs(Verdict::ErrorTarget, example("error_target", e, &source_rows, &none)),
        };
        let order = ordering(source_sql, &source_columns);
        if compared.is_empty() {
            *compared = match &order {
                Ordering::None => "as multisets (the query does not order its rows)".into(),
                Ordering::Keys { keys: Some(k), .. } => format!(
                    "in order of {}; ties as multisets",
                    k.iter()
                        .map(|i| source_columns[*i].clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Ordering::Keys { keys: None, .. } => {
                    "in order, whole rows (an ordering key is not an output column)".into()
                }
            };
        }
        match compare(&source_rows, &target_rows, &order) {
            None => Outcome::Equal,
            Some((kind, detail)) => {
                Outcome::Differs(Verdict::Different, example(kind, detail, &source_rows, &target_rows))
            }
        }
    }

    /// A statement that writes (`--writes`): in a transaction rolled back
    /// on each side, on a scratch copy of the SQLite file, so every
    /// execution starts from the copied data and neither side keeps it.
    /// Compared: the rows it returns (RETURNING), else how many it changed.
    fn write(&mut self, t: &Translated, target_sql: &str, source_sql: &str, values: &[Param]) -> Outcome {
        let none = Rows::new();
        let example = |kind: &str, detail: String, s: &Rows, g: &Rows| Example {
            params: values.to_vec(),
            kind: kind.to_string(),
            detail,
            source_rows: sample(s),
            target_rows: sample(g),
        };
        let Some(scratch) = self.scratch else {
            return Outcome::Differs(
                Verdict::Untranslatable,
                example(
                    "untranslatable",
                    "a statement that writes, without --writes".into(),
                    &none,
                    &none,
                ),
            );
        };
        let mut tx = match self.pg.build_transaction().read_only(false).start() {
            Ok(tx) => tx,
            Err(e) => {
                return Outcome::Differs(
                    Verdict::ErrorTarget,
                    example("error_target", pg_error(&e), &none, &none),
                );
            }
        };
        let prepared: Result<Vec<Type>, String> = tx
            .prepare(target_sql)
            .map(|s| s.columns().iter().map(|c| c.type_().clone()).collect())
            .map_err(|e| pg_error(&e));
        let categories: Vec<Category> = prepared.iter().flatten().map(Category::of).collect();
        let source = scratch_rows(scratch, source_sql, values, &categories);
        let (source_rows, source_changed) = match source {
            Ok(r) => r,
            Err(e) => return Outcome::Differs(Verdict::ErrorSource, example("error_source", e, &none, &none)),
        };
        let types = match prepared {
            Ok(t) => t,
            Err(e) => return Outcome::Differs(Verdict::ErrorTarget, example("error_target", e, &source_rows, &none)),
        };
        let pg_values = match pg_values(&t.parameters, values) {
            Ok(v) => v,
            Err(e) => return Outcome::Differs(Verdict::ErrorTarget, example("error_target", e, &source_rows, &none)),
        };
        let target: Result<(Rows, u64), String> = if types.is_empty() {
            tx.execute(target_sql, &as_refs(&pg_values))
                .map(|n| (Rows::new(), n))
                .map_err(|e| pg_error(&e))
        } else {
            let names: Vec<String> = (1..=types.len()).map(|i| format!("c{i}")).collect();
            let terms: Vec<String> = types
                .iter()
                .zip(&categories)
                .zip(&names)
                .map(|((ty, cat), name)| cat.select(ty, name))
                .collect();
            let sql = format!(
                "WITH q({}) AS ({target_sql}\n) SELECT {} FROM q",
                names.join(", "),
                terms.join(", ")
            );
            tx.query(&sql, &as_refs(&pg_values))
                .map(|rows| {
                    let rows: Rows = rows
                        .iter()
                        .map(|row| {
                            categories
                                .iter()
                                .enumerate()
                                .map(|(i, c)| canon_target(*c, row.get::<_, Option<String>>(i)))
                                .collect()
                        })
                        .collect();
                    let n = rows.len() as u64;
                    (rows, n)
                })
                .map_err(|e| pg_error(&e))
        };
        let _ = tx.rollback();
        let (target_rows, target_changed) = match target {
            Ok(r) => r,
            Err(e) => return Outcome::Differs(Verdict::ErrorTarget, example("error_target", e, &source_rows, &none)),
        };
        if source_changed != target_changed {
            return Outcome::Differs(
                Verdict::Different,
                example(
                    "row count",
                    format!("SQLite changed {source_changed} rows, PostgreSQL {target_changed}"),
                    &source_rows,
                    &target_rows,
                ),
            );
        }
        match multiset(&source_rows, &target_rows) {
            None => Outcome::Equal,
            Some((kind, detail)) => {
                Outcome::Differs(Verdict::Different, example(kind, detail, &source_rows, &target_rows))
            }
        }
    }

    /// `uuid_columns`: where an output column is a `uuid-from-int` key,
    /// SQLite's integer is compared as the UUID the copy made of it.
    fn source_rows(
        &self,
        sql: &str,
        values: &[Param],
        categories: &[Category],
        uuid_columns: &[Option<[u8; 16]>],
    ) -> Result<(Rows, Vec<String>), String> {
        let mut stmt = self.sqlite.prepare_cached(sql).map_err(|e| e.to_string())?;
        let columns: Vec<String> = stmt.column_names().map(ToString::to_string).collect();
        let width = columns.len();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(values.iter()))
            .map_err(|e| e.to_string())?;
        let mut out = Rows::new();
        while let Some(row) = rows.next().map_err(|e| e.to_string())? {
            let mut canon = Vec::with_capacity(width);
            for i in 0..width {
                let v = sqlite_value(row.get_ref(i).map_err(|e| e.to_string())?);
                let category = categories.get(i).copied().unwrap_or(Category::Text);
                canon.push(match (uuid_columns.get(i).copied().flatten(), category, v) {
                    (Some(namespace), Category::Uuid, ValueRef::Integer(key)) => {
                        Canon::Bytes(crate::postgres::encode::uuid_in_namespace(namespace, key).to_vec())
                    }
                    (_, category, v) => canon_source(category, v),
                });
            }
            out.push(canon);
        }
        Ok((out, columns))
    }

    fn target_rows(
        &mut self,
        t: &Translated,
        sql: &str,
        types: &[Type],
        categories: &[Category],
        values: &[Param],
    ) -> Result<Rows, String> {
        let values = pg_values(&t.parameters, values)?;
        // Each column read as canonical text; the subquery keeps the
        // query's own order (a plain projection over it is not re-sorted).
        let names: Vec<String> = (1..=types.len()).map(|i| format!("c{i}")).collect();
        let terms: Vec<String> = types
            .iter()
            .zip(categories)
            .zip(&names)
            .map(|((ty, cat), name)| cat.select(ty, name))
            .collect();
        let wrapped = if types.is_empty() {
            sql.to_string()
        } else {
            format!("SELECT {} FROM ({sql}\n) AS q({})", terms.join(", "), names.join(", "))
        };
        let rows = self.pg.query(&wrapped, &as_refs(&values)).map_err(|e| pg_error(&e))?;
        Ok(rows
            .iter()
            .map(|row| {
                categories
                    .iter()
                    .enumerate()
                    .map(|(i, c)| canon_target(*c, row.get::<_, Option<String>>(i)))
                    .collect()
            })
            .collect())
    }
}

fn sqlite_value(v: rusqlite::types::ValueRef<'_>) -> ValueRef<'_> {
    match v {
        rusqlite::types::ValueRef::Null => ValueRef::Null,
        rusqlite::types::ValueRef::Integer(i) => ValueRef::Integer(i),
        rusqlite::types::ValueRef::Real(f) => ValueRef::Real(f),
        rusqlite::types::ValueRef::Text(t) => ValueRef::Text(t),
        rusqlite::types::ValueRef::Blob(b) => ValueRef::Blob(b),
    }
}

/// None when equal; else the kind of difference and what it is.
fn compare(source: &Rows, target: &Rows, order: &Ordering) -> Option<(&'static str, String)> {
    match order {
        Ordering::None => multiset(source, target),
        Ordering::Keys { keys: None, .. } => {
            multiset(source, target)?;
            let at = source.iter().zip(target).position(|(a, b)| a != b)?;
            Some(("order", format!("row {} differs in position", at + 1)))
        }
        Ordering::Keys {
            keys: Some(keys),
            limited,
        } => {
            let key = |r: &Vec<Canon>| keys.iter().map(|k| r.get(*k).cloned()).collect::<Vec<_>>();
            if source.len() != target.len() {
                return multiset(source, target);
            }
            // Under LIMIT the last group of ties may be cut anywhere: only
            // its keys and size must agree.
            let (s, t) = match (limited, source.last()) {
                (true, Some(last)) => {
                    let k = key(last);
                    let tail = |rows: &Rows| rows.iter().rev().take_while(|r| key(r) == k).count();
                    let (ns, nt) = (tail(source), tail(target));
                    if ns != nt {
                        return Some((
                            "order",
                            format!("the last {ns} rows tie on the ordering keys in SQLite, {nt} in PostgreSQL"),
                        ));
                    }
                    (&source[..source.len() - ns], &target[..target.len() - nt])
                }
                _ => (&source[..], &target[..]),
            };
            if let Some(d) = multiset(&s.to_vec(), &t.to_vec()) {
                return Some(d);
            }
            let at = s.iter().zip(t).position(|(a, b)| key(a) != key(b))?;
            Some((
                "order",
                format!(
                    "row {}: SQLite orders {} there, PostgreSQL {}",
                    at + 1,
                    row_text(&s[at]),
                    row_text(&t[at])
                ),
            ))
        }
    }
}

/// Multiset comparison of whole rows.
fn multiset(source: &Rows, target: &Rows) -> Option<(&'static str, String)> {
    if source.len() != target.len() {
        return Some((
            "row count",
            format!("SQLite returns {} rows, PostgreSQL {}", source.len(), target.len()),
        ));
    }
    let mut balance: HashMap<&Vec<Canon>, i64> = HashMap::new();
    for r in source {
        *balance.entry(r).or_default() += 1;
    }
    for r in target {
        *balance.entry(r).or_default() -= 1;
    }
    let mut missing: Vec<String> = balance
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(r, _)| row_text(r))
        .collect();
    if missing.is_empty() {
        return None;
    }
    missing.sort();
    let mut extra: Vec<String> = balance
        .iter()
        .filter(|(_, n)| **n < 0)
        .map(|(r, _)| row_text(r))
        .collect();
    extra.sort();
    Some((
        "values",
        format!(
            "only in SQLite: {}; only in PostgreSQL: {}",
            missing.iter().take(3).cloned().collect::<Vec<_>>().join(" "),
            extra.iter().take(3).cloned().collect::<Vec<_>>().join(" ")
        ),
    ))
}

/// Runs a writing statement on the scratch copy inside a transaction that
/// is rolled back: its RETURNING rows, and how many rows it changed.
fn scratch_rows(
    scratch: &rusqlite::Connection,
    sql: &str,
    values: &[Param],
    categories: &[Category],
) -> Result<(Rows, u64), String> {
    scratch.execute_batch("BEGIN").map_err(|e| e.to_string())?;
    let result = (|| {
        let mut stmt = scratch.prepare(sql).map_err(|e| e.to_string())?;
        if stmt.column_count() == 0 {
            let n = stmt
                .execute(rusqlite::params_from_iter(values.iter()))
                .map_err(|e| e.to_string())?;
            return Ok((Rows::new(), u64::try_from(n).unwrap_or(u64::MAX)));
        }
        let width = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(values.iter()))
            .map_err(|e| e.to_string())?;
        let mut out = Rows::new();
        while let Some(row) = rows.next().map_err(|e| e.to_string())? {
            let mut canon = Vec::with_capacity(width);
            for i in 0..width {
                let v = sqlite_value(row.get_ref(i).map_err(|e| e.to_string())?);
                canon.push(canon_source(categories.get(i).copied().unwrap_or(Category::Text), v));
            }
            out.push(canon);
        }
        let n = u64::try_from(out.len()).unwrap_or(u64::MAX);
        Ok((out, n))
    })();
    let _ = scratch.execute_batch("ROLLBACK");
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(x: &str) -> Canon {
        Canon::Number(x.into())
    }

    #[test]
    fn ordering_reads_keys() {
        let cols = vec!["id".to_string(), "name".to_string()];
        assert_eq!(ordering("SELECT id, name FROM t", &cols), Ordering::None);
        assert_eq!(
            ordering("SELECT id, name FROM t ORDER BY name, 1 LIMIT 3", &cols),
            Ordering::Keys {
                keys: Some(vec![1, 0]),
                limited: true
            }
        );
        assert_eq!(
            ordering("SELECT id, name FROM t ORDER BY lower(name)", &cols),
            Ordering::Keys {
                keys: None,
                limited: false
            }
        );
    }

    #[test]
    fn ties_may_come_in_any_order_but_keys_may_not() {
        let order = Ordering::Keys {
            keys: Some(vec![0]),
            limited: false,
        };
        let a = vec![vec![n("1"), n("10")], vec![n("1"), n("11")], vec![n("2"), n("12")]];
        let tied = vec![vec![n("1"), n("11")], vec![n("1"), n("10")], vec![n("2"), n("12")]];
        assert_eq!(compare(&a, &tied, &order), None);
        let swapped = vec![vec![n("2"), n("12")], vec![n("1"), n("10")], vec![n("1"), n("11")]];
        assert_eq!(compare(&a, &swapped, &order).map(|d| d.0), Some("order"));
        assert_eq!(compare(&a, &swapped, &Ordering::None), None);
        assert_eq!(
            compare(&a, &a[..2].to_vec(), &Ordering::None).map(|d| d.0),
            Some("row count")
        );
    }
}
