//! Index advice checked by the planner: hypothetical indexes (hypopg) on
//! the columns a flagged scan filters or sorts on, single columns first,
//! then pairs; kept only where the class's cost drops by half or more,
//! skipped where an existing btree already starts with those columns.
//! Always on one pinned session, reset before and after.

use std::collections::BTreeMap;

use postgres::Client;
use serde::Serialize;

use super::engine::PgValue;
use super::explain::{self, Hotspot};
use crate::postgres::conn::quote_ident;

/// A suggestion must at least halve the class's cost.
pub const MIN_GAIN: f64 = 0.5;
/// Columns tried per relation (pairs grow as the square).
const MAX_COLUMNS: usize = 4;

#[derive(Debug, Clone, Serialize)]
pub struct Suggestion {
    pub statement: String,
    pub table: String,
    pub columns: Vec<String>,
    pub estimated_bytes: i64,
    /// Class names it speeds, with the cost before and after.
    pub classes: Vec<Speedup>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Speedup {
    pub class: String,
    pub cost_before: f64,
    pub cost_after: f64,
}

/// Whether hypopg can be used here; Err says why not.
pub fn available(client: &mut Client) -> Result<(), String> {
    let installed: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'hypopg')",
            &[],
        )
        .map_err(|e| e.to_string())?
        .get(0);
    if installed {
        return Ok(());
    }
    let offered: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'hypopg')",
            &[],
        )
        .map_err(|e| e.to_string())?
        .get(0);
    if !offered {
        return Err("the hypopg extension is not installed on this server (Debian: postgresql-15-hypopg)".into());
    }
    // The workload's sessions are read-only by default; creating the
    // extension is the one write it makes, in a transaction of its own.
    client
        .batch_execute("BEGIN READ WRITE; CREATE EXTENSION IF NOT EXISTS hypopg; COMMIT")
        .map_err(|e| {
            // Leave the session usable for the rest of the run.
            let _ = client.batch_execute("ROLLBACK");
            format!(
                "hypopg is available but could not be created: {}",
                super::engine::pg_error(&e)
            )
        })
}

/// One class to advise on.
pub struct Candidate<'a> {
    pub class: &'a str,
    pub sql: &'a str,
    pub values: Vec<PgValue>,
    pub hotspots: Vec<Hotspot>,
}

/// Tries hypothetical indexes for every candidate; merges what helps.
pub fn advise(client: &mut Client, schema: &str, candidates: &[Candidate<'_>]) -> Result<Vec<Suggestion>, String> {
    client
        .batch_execute("SELECT hypopg_reset()")
        .map_err(|e| e.to_string())?;
    let result = advise_pinned(client, schema, candidates);
    // Always leave the session without hypothetical indexes.
    let _ = client.batch_execute("SELECT hypopg_reset()");
    result
}

fn advise_pinned(client: &mut Client, schema: &str, candidates: &[Candidate<'_>]) -> Result<Vec<Suggestion>, String> {
    let mut found: BTreeMap<(String, Vec<String>), Suggestion> = BTreeMap::new();
    for c in candidates {
        let before = explain::cost(client, c.sql, &c.values)?;
        let mut per_relation: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for h in &c.hotspots {
            let columns = columns_named(client, schema, &h.relation, &h.text)?;
            let list = per_relation.entry(h.relation.clone()).or_default();
            for col in columns {
                if !list.contains(&col) && list.len() < MAX_COLUMNS {
                    list.push(col);
                }
            }
        }
        for (relation, columns) in per_relation {
            let existing = btree_prefixes(client, schema, &relation)?;
            let singles: Vec<Vec<String>> = columns.iter().map(|c| vec![c.clone()]).collect();
            let pairs: Vec<Vec<String>> = columns
                .iter()
                .flat_map(|a| {
                    columns
                        .iter()
                        .filter(move |b| *b != a)
                        .map(move |b| vec![a.clone(), b.clone()])
                })
                .collect();
            let mut kept_single = false;
            for (round, sets) in [singles, pairs].into_iter().enumerate() {
                if round == 1 && kept_single {
                    break;
                }
                let mut best: Option<(f64, Vec<String>, i64)> = None;
                for set in sets {
                    if existing
                        .iter()
                        .any(|idx| idx.len() >= set.len() && idx[..set.len()] == set[..])
                    {
                        continue;
                    }
                    let (after, bytes) = hypothetical(client, schema, &relation, &set, c)?;
                    if after <= before * (1.0 - MIN_GAIN) && best.as_ref().is_none_or(|b| after < b.0) {
                        best = Some((after, set, bytes));
                    }
                }
                if let Some((after, set, bytes)) = best {
                    kept_single |= round == 0;
                    let entry = found
                        .entry((relation.clone(), set.clone()))
                        .or_insert_with(|| Suggestion {
                            statement: create_statement(schema, &relation, &set),
                            table: relation.clone(),
                            columns: set.clone(),
                            estimated_bytes: bytes,
                            classes: Vec::new(),
                        });
                    entry.classes.push(Speedup {
                        class: c.class.to_string(),
                        cost_before: before,
                        cost_after: after,
                    });
                }
            }
        }
    }
    Ok(found.into_values().collect())
}

/// The cost with one hypothetical index, and its estimated size.
fn hypothetical(
    client: &mut Client,
    schema: &str,
    relation: &str,
    columns: &[String],
    c: &Candidate<'_>,
) -> Result<(f64, i64), String> {
    let create = format!(
        "CREATE INDEX ON {}.{} ({})",
        quote_ident(schema),
        quote_ident(relation),
        columns.iter().map(|c| quote_ident(c)).collect::<Vec<_>>().join(", ")
    );
    let row = client
        .query_one(
            "SELECT indexrelid, hypopg_relation_size(indexrelid) FROM hypopg_create_index($1)",
            &[&create],
        )
        .map_err(|e| super::engine::pg_error(&e))?;
    let bytes: i64 = row.get(1);
    let after = explain::cost(client, c.sql, &c.values);
    client
        .batch_execute("SELECT hypopg_reset()")
        .map_err(|e| e.to_string())?;
    Ok((after?, bytes))
}

fn create_statement(schema: &str, relation: &str, columns: &[String]) -> String {
    let mut name = format!("{relation}_{}_idx", columns.join("_"));
    name.truncate(63);
    format!(
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS {} ON {}.{} ({});",
        quote_ident(&name),
        quote_ident(schema),
        quote_ident(relation),
        columns.iter().map(|c| quote_ident(c)).collect::<Vec<_>>().join(", ")
    )
}

pub fn index_name(statement: &str) -> Option<&str> {
    statement
        .strip_prefix("CREATE INDEX CONCURRENTLY IF NOT EXISTS ")?
        .split(" ON ")
        .next()
}

/// The relation's columns whose names appear as words in `text`.
fn columns_named(client: &mut Client, schema: &str, relation: &str, text: &str) -> Result<Vec<String>, String> {
    let rows = client
        .query(
            "SELECT a.attname::text FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            &[&schema, &relation],
        )
        .map_err(|e| e.to_string())?;
    let words: Vec<&str> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    // In the order the text names them: the filter's first column leads.
    let mut out: Vec<String> = Vec::new();
    for w in words {
        for r in &rows {
            let name: String = r.get(0);
            if name == w && !out.contains(&name) {
                out.push(name);
            }
        }
    }
    Ok(out)
}

/// Each btree index's leading columns (expression parts end the list).
fn btree_prefixes(client: &mut Client, schema: &str, relation: &str) -> Result<Vec<Vec<String>>, String> {
    let rows = client
        .query(
            "SELECT array_agg(a.attname::text ORDER BY k.n) FILTER (WHERE a.attname IS NOT NULL) \
             FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace s ON s.oid = t.relnamespace \
             JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam \
             CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n) \
             LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum \
             WHERE s.nspname = $1 AND t.relname = $2 AND am.amname = 'btree' AND i.indpred IS NULL \
             GROUP BY i.indexrelid",
            &[&schema, &relation],
        )
        .map_err(|e| e.to_string())?;
    Ok(rows
        .iter()
        .map(|r| r.get::<_, Option<Vec<String>>>(0).unwrap_or_default())
        .collect())
}

/// The suggestions as a `godwit migrate` migration: an up file that
/// builds them concurrently (outside a transaction) and a down file that
/// drops them.
pub fn migration(suggestions: &[Suggestion], schema: &str) -> (String, String) {
    let mut up = String::from(
        "-- godwit:no-transaction\n-- Indexes suggested by godwit workload (checked with hypothetical indexes).\n",
    );
    let mut down = String::from("-- godwit:no-transaction\n");
    for s in suggestions {
        let classes: Vec<&str> = s.classes.iter().map(|c| c.class.as_str()).collect();
        up.push_str(&format!("-- speeds: {}\n{}\n", classes.join(", "), s.statement));
        if let Some(name) = index_name(&s.statement) {
            down.push_str(&format!(
                "DROP INDEX CONCURRENTLY IF EXISTS {}.{name};\n",
                quote_ident(schema)
            ));
        }
    }
    (up, down)
}
