//! Each statement's PostgreSQL text: through the same translator as views
//! (the tables and columns as the plan of the copy names and types them),
//! with parameters typed by the values they carry.

use sqlparser::dialect::SQLiteDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

use super::params::Param;
use super::queries::Statement;
use crate::plan::translate::{self, Catalog, Kind, Parameter};
use crate::plan::{Plan, names};
use crate::source::sqlite::sql::span_offset;

/// A statement ready for both engines.
#[derive(Debug, Clone)]
pub struct Translated {
    /// The PostgreSQL text, or why there is none.
    pub target: Result<String, String>,
    /// Per SQLite parameter index: its kind and PostgreSQL number.
    pub parameters: Vec<Parameter>,
    /// The statement changes data (INSERT, UPDATE, DELETE, ...).
    pub writes: bool,
    /// Per output column: a `uuid-from-int` key's namespace where the
    /// column is one (SQLite returns the integer, PostgreSQL its UUID).
    pub uuid_columns: Vec<Option<[u8; 16]>>,
}

/// The catalog the copy's plan gives the translator: every table, then
/// every view that translates, in order.
pub fn catalog(plan: &Plan) -> Catalog {
    let mut catalog = Catalog {
        relations: plan
            .tables
            .iter()
            .map(|t| translate::Relation {
                source: t.source.clone(),
                target: t.target.clone(),
                columns: t
                    .columns
                    .iter()
                    .map(|c| translate::Column {
                        source: c.source.clone(),
                        target: c.target.clone(),
                        kind: Kind::of_column(&c.pg_type, &c.cast, &c.observed),
                    })
                    .collect(),
            })
            .collect(),
    };
    let style = plan.identifiers;
    for view in &plan.view_sources {
        if let Ok(v) = translate::view(&view.select, &catalog, &|n| names::styled(n, style)) {
            catalog.relations.push(translate::Relation {
                source: view.name.clone(),
                target: names::styled(&view.name, style),
                columns: v.columns,
            });
        }
    }
    catalog
}

/// The kind each parameter carries, from the values it is given (the
/// first non-NULL kind; integers and reals together are reals).
pub fn parameter_kinds<'a>(count: usize, sets: impl Iterator<Item = &'a [Param]>) -> Vec<Kind> {
    let mut kinds = vec![Kind::Null; count];
    for set in sets {
        for (k, v) in kinds.iter_mut().zip(set) {
            *k = match (*k, v) {
                (k, Param::Null) => k,
                (Kind::Null, Param::Int(_)) => Kind::Int,
                (Kind::Null | Kind::Int, Param::Real(_)) | (Kind::Real, Param::Int(_)) => Kind::Real,
                (Kind::Null, Param::Text(_)) => Kind::Text,
                (Kind::Null, Param::Blob(_)) => Kind::Blob,
                (k, _) => k,
            };
        }
    }
    kinds
}

/// Numbers the parameters for PostgreSQL: those that are ever non-NULL
/// get `$1..`, in SQLite's order.
fn parameters(kinds: &[Kind]) -> Vec<Parameter> {
    let mut next = 0;
    kinds
        .iter()
        .map(|&kind| Parameter {
            kind,
            number: (kind != Kind::Null).then(|| {
                next += 1;
                next
            }),
        })
        .collect()
}

pub fn writes(sql: &str) -> bool {
    let first = sql
        .trim_start_matches(|c: char| c.is_whitespace() || c == '(')
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or("")
        .to_ascii_uppercase();
    !matches!(first.as_str(), "SELECT" | "WITH" | "VALUES")
}

/// Translates one statement. `as_is`: the statement's own text goes to
/// PostgreSQL (parameters renumbered and typed), to see what the app's raw
/// SQL does there.
/// `run_writes`: statements that write may run (on scratch copies).
pub fn statement(
    statement: &Statement,
    kinds: &[Kind],
    catalog: &Catalog,
    as_is: bool,
    run_writes: bool,
) -> Translated {
    let mut parameters = parameters(kinds);
    let mut uuid_columns = Vec::new();
    let writes = writes(&statement.numbered);
    let target = if writes && !run_writes {
        Err("a statement that writes: not run (--writes runs it on scratch copies of both sides)".into())
    } else if writes && !as_is {
        Err("a statement that writes: the translator reads SELECT statements only (--as-is sends its own text)".into())
    } else if as_is {
        Ok(renumber(&statement.numbered, &parameters))
    } else {
        match translate::statement(&statement.numbered, catalog, &parameters) {
            Ok(view) if !view.uuid_parameters.is_empty() => {
                // Integers compared with a uuid-from-int key are bound as
                // the UUIDs the copy made of them: typed so, then written
                // again so that every use of each agrees.
                for (number, namespace) in view.uuid_parameters {
                    if let Some(p) = parameters.iter_mut().find(|p| p.number == Some(number)) {
                        p.kind = Kind::UuidKey(namespace);
                    }
                }
                translate::statement(&statement.numbered, catalog, &parameters).map_err(|e| e.0)
            }
            translated => translated.map_err(|e| e.0),
        }
        .map(|view| {
            uuid_columns = view
                .columns
                .iter()
                .map(|c| match c.kind {
                    Kind::UuidKey(namespace) => Some(namespace),
                    _ => None,
                })
                .collect();
            view.select
        })
    };
    Translated {
        target,
        parameters,
        writes,
        uuid_columns,
    }
}

/// `?NNN` → `$N::type` (or NULL) outside strings and comments.
fn renumber(sql: &str, parameters: &[Parameter]) -> String {
    let Ok(tokens) = Tokenizer::new(&SQLiteDialect {}, sql).tokenize_with_location() else {
        return sql.to_string();
    };
    let mut out = String::with_capacity(sql.len());
    let mut copied = 0;
    for t in tokens {
        let Token::Placeholder(p) = &t.token else { continue };
        let Some(index) = p.strip_prefix('?').and_then(|n| n.parse::<usize>().ok()) else {
            continue;
        };
        let (Some(from), Some(to)) = (span_offset(sql, t.span.start), span_offset(sql, t.span.end)) else {
            continue;
        };
        out.push_str(&sql[copied..from]);
        match index.checked_sub(1).and_then(|i| parameters.get(i)) {
            Some(Parameter { number: Some(n), kind }) => out.push_str(&format!("${n}::{}", pg_type(*kind))),
            _ => out.push_str("NULL"),
        }
        copied = to;
    }
    out.push_str(&sql[copied..]);
    out
}

/// The PostgreSQL type a parameter of this kind is sent as.
pub fn pg_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Int | Kind::Bool => "bigint",
        Kind::Real => "double precision",
        Kind::Blob => "bytea",
        Kind::UuidKey(_) => "uuid",
        _ => "text",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renumbers_for_postgres() {
        let p = parameters(&[Kind::Int, Kind::Null, Kind::Text]);
        assert_eq!(
            renumber("SELECT '?1' FROM t WHERE a = ?1 AND b = ?2 AND c = ?3", &p),
            "SELECT '?1' FROM t WHERE a = $1::bigint AND b = NULL AND c = $2::text"
        );
    }

    #[test]
    fn tells_writes() {
        assert!(!writes("  SELECT 1"));
        assert!(!writes("WITH x AS (SELECT 1) SELECT * FROM x"));
        assert!(writes("UPDATE t SET a = 1"));
    }
}
