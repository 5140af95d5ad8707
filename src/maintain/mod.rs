//! `godwit maintain`: the safe routine work `inspect` calls for.
//!
//! - VACUUM (ANALYZE) of tables past autovacuum's thresholds;
//! - ANALYZE of tables never analyzed, or past the analyze threshold;
//! - REINDEX INDEX CONCURRENTLY of invalid indexes and of btree indexes
//!   whose leaves are less than half full (with pgstattuple); leftovers
//!   of a failed REINDEX CONCURRENTLY (`*_ccnew`, `*_ccold`) are dropped;
//! - ALTER TABLE ... VALIDATE CONSTRAINT of NOT VALID constraints. When
//!   rows still violate one, their number is reported and the constraint
//!   stays as it is.
//!
//! - time partitions ([`partitions`]): pg_partman's run_maintenance where
//!   it keeps the table, else the missing partitions ahead; and, with
//!   `--archive-older-than`, old partitions archived ([`archive`]).
//!
//! Every statement runs on its own (autocommit) under `lock_timeout`, so a
//! lock the application holds makes the step give up rather than queue,
//! and queue the application behind it. See docs/operations.md.

pub mod archive;
pub mod partitions;

use std::time::{Duration, Instant};

use postgres::Client;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::inspect::tables;
use crate::postgres::conn::{ConnSpec, describe_pg_error, quote_ident};
use crate::report::{Event, Progress, Reporter};
use crate::units::{format_bytes, format_seconds};

#[derive(Debug, Clone)]
pub struct MaintainOptions {
    pub target: ConnSpec,
    /// Print the statements, change nothing.
    pub dry_run: bool,
    /// How long a step may wait for a lock before it is skipped.
    pub lock_timeout: Duration,
    /// Keep partitions ahead with godwit's own statements even where
    /// pg_partman is installed.
    pub without_partman: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Vacuum,
    Analyze,
    Reindex,
    DropLeftoverIndex,
    Validate,
    /// A partition created ahead of the data.
    CreatePartition,
    /// Handing a partitioned table to pg_partman.
    RegisterPartman,
    /// pg_partman's run_maintenance for one table.
    PartmanMaintenance,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// --dry-run: would run.
    Planned,
    Done,
    /// A lock was not free within lock_timeout; nothing changed.
    Skipped,
    /// Rows violate the constraint; it stays NOT VALID.
    Left,
    Failed,
}

#[derive(Debug, Clone, Copy, Serialize, Default)]
pub struct Measure {
    pub dead_tuples: Option<f64>,
    pub bytes: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub action: Action,
    pub object: String,
    /// The table whose figures are measured.
    #[serde(skip)]
    table: String,
    pub statement: String,
    pub reason: String,
    pub status: StepStatus,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub violating_rows: Option<i64>,
    pub before: Measure,
    pub after: Measure,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct MaintainReport {
    pub target: String,
    pub dry_run: bool,
    pub steps: Vec<Step>,
}

impl MaintainReport {
    /// Whether something needs a person: a constraint left NOT VALID, a
    /// step skipped for a lock or failed.
    pub fn needs_review(&self) -> bool {
        self.steps
            .iter()
            .any(|s| matches!(s.status, StepStatus::Skipped | StepStatus::Left | StepStatus::Failed))
    }
}

pub fn run(options: &MaintainOptions, reporter: &Reporter) -> Result<MaintainReport> {
    let mut client = options.target.connect()?;
    let lock_ms = options.lock_timeout.as_millis().max(1);
    client
        .batch_execute(&format!(
            "SET lock_timeout = {lock_ms}; SET statement_timeout = 0; SET application_name = 'godwit maintain'"
        ))
        .map_err(|e| Error::pg("setting up the session", &e))?;
    let mut steps = plan(&mut client)?;
    steps.extend(partition_steps(&mut client, options.without_partman)?);
    let before = measure_all(&mut client, &steps);
    let total = u64::try_from(steps.len()).ok();
    for (done, step) in (1u64..).zip(steps.iter_mut()) {
        step.before = before
            .get(&step.table)
            .copied()
            .unwrap_or_else(|| measure(&mut client, &step.table));
        if options.dry_run {
            step.status = StepStatus::Planned;
            step.after = step.before;
            continue;
        }
        execute(&mut client, step);
        step.after = measure(&mut client, &step.table);
        reporter.emit(Event::Progress(Progress::new(
            "maintain",
            done,
            total,
            "steps",
            step.statement.clone(),
        )));
    }
    reporter.emit(Event::ProgressDone("maintain".into()));
    Ok(MaintainReport {
        target: options.target.to_string(),
        dry_run: options.dry_run,
        steps,
    })
}

fn step(action: Action, object: &str, table: &str, statement: String, reason: String) -> Step {
    Step {
        action,
        object: object.to_string(),
        table: table.to_string(),
        statement,
        reason,
        status: StepStatus::Planned,
        message: String::new(),
        violating_rows: None,
        before: Measure::default(),
        after: Measure::default(),
        seconds: 0.0,
    }
}

/// The steps, in a safe order: statistics first (cheap, and the later
/// steps' plans use them), then indexes, then constraint validation.
fn plan(client: &mut Client) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    for t in tables::read(client)? {
        if let Some(why) = t.vacuum_reason() {
            steps.push(step(
                Action::Vacuum,
                &t.name,
                &t.name,
                format!("VACUUM (ANALYZE) {};", t.name),
                why,
            ));
        } else if let Some(why) = t.analyze_reason() {
            steps.push(step(
                Action::Analyze,
                &t.name,
                &t.name,
                format!("ANALYZE {};", t.name),
                why,
            ));
        }
    }
    let invalid = client
        .query(
            "SELECT c.oid::regclass::text, i.indrelid::regclass::text, \
                    c.relname ~ '_cc(new|old)[0-9]*$' \
             FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE NOT i.indisvalid AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') \
               AND NOT EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE p.index_relid = i.indexrelid) \
             ORDER BY 1",
            &[],
        )
        .map_err(|e| Error::pg("looking for invalid indexes", &e))?;
    for r in invalid {
        let (index, table, leftover): (String, String, bool) = (r.get(0), r.get(1), r.get(2));
        if leftover {
            steps.push(step(
                Action::DropLeftoverIndex,
                &index,
                &table,
                format!("DROP INDEX CONCURRENTLY IF EXISTS {index};"),
                "left behind by a failed REINDEX CONCURRENTLY".into(),
            ));
        } else {
            steps.push(step(
                Action::Reindex,
                &index,
                &table,
                format!("REINDEX INDEX CONCURRENTLY {index};"),
                "invalid: a CREATE INDEX CONCURRENTLY failed or was cancelled".into(),
            ));
        }
    }
    let pgstattuple: bool = client
        .query_one(
            "SELECT count(*) > 0 FROM pg_extension WHERE extname = 'pgstattuple'",
            &[],
        )
        .map_err(|e| Error::pg("reading pg_extension", &e))?
        .get(0);
    if pgstattuple {
        for (index, bytes, density) in crate::inspect::bloated_index_list(client) {
            let table: String = client
                .query_one(
                    "SELECT indrelid::regclass::text FROM pg_index WHERE indexrelid = $1::text::regclass",
                    &[&index],
                )
                .map_err(|e| Error::pg("reading pg_index", &e))?
                .get(0);
            steps.push(step(
                Action::Reindex,
                &index,
                &table,
                format!("REINDEX INDEX CONCURRENTLY {index};"),
                format!("bloated: leaves {density:.0}% full, {}", format_bytes(bytes)),
            ));
        }
    }
    let constraints = client
        .query(
            "SELECT c.conname::text, c.conrelid::regclass::text, c.contype::text \
             FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace \
             WHERE NOT c.convalidated AND c.contype IN ('f', 'c') \
               AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
             ORDER BY 2, 1",
            &[],
        )
        .map_err(|e| Error::pg("looking for NOT VALID constraints", &e))?;
    for r in constraints {
        let (name, table, kind): (String, String, String) = (r.get(0), r.get(1), r.get(2));
        steps.push(step(
            Action::Validate,
            &format!("{name} on {table}"),
            &table,
            format!("ALTER TABLE {table} VALIDATE CONSTRAINT {};", quote_ident(&name)),
            format!(
                "{} added NOT VALID",
                if kind == "f" { "foreign key" } else { "check constraint" }
            ),
        ));
    }
    Ok(steps)
}

/// Partition upkeep: pg_partman's maintenance for the tables it keeps
/// (registering those it does not keep yet), godwit's own CREATE TABLE ...
/// PARTITION OF for the others.
fn partition_steps(client: &mut Client, without_partman: bool) -> Result<Vec<Step>> {
    let sets = partitions::sets(client)?;
    let partman = if without_partman {
        None
    } else {
        partitions::partman(client)?
    };
    let today = partitions::today();
    let mut steps = Vec::new();
    for set in sets {
        let table = set.qualified();
        if let Some((schema, version)) = partman.as_ref().filter(|_| set.partman) {
            if !partitions::partman_registered(client, schema, &set)? {
                steps.push(step(
                    Action::RegisterPartman,
                    &table,
                    &table,
                    partitions::registration(client, &set, schema, version)?,
                    format!("pg_partman {version} is installed and does not keep {table} yet"),
                ));
            }
            steps.push(step(
                Action::PartmanMaintenance,
                &table,
                &table,
                format!(
                    "SET TimeZone = 'UTC'; SELECT {}.run_maintenance(p_parent_table := {});",
                    quote_ident(schema),
                    crate::postgres::conn::quote_literal(&format!("{}.{}", set.schema, set.name))
                ),
                format!("pg_partman keeps {} partitions ahead", set.premake),
            ));
            continue;
        }
        for (name, statement) in partitions::missing_ahead(client, &set, today)? {
            steps.push(step(
                Action::CreatePartition,
                &crate::postgres::conn::qualified(&set.schema, &name),
                &table,
                statement,
                format!(
                    "{} keeps {} {} partitions ahead",
                    table,
                    set.premake,
                    set.interval.name()
                ),
            ));
        }
    }
    Ok(steps)
}

/// Every step's table measured in one query; empty when one of them is
/// locked (the caller then measures them one by one, under lock_timeout).
fn measure_all(client: &mut Client, steps: &[Step]) -> std::collections::HashMap<String, Measure> {
    let tables: Vec<&str> = steps.iter().map(|s| s.table.as_str()).collect();
    client
        .query(
            "SELECT t, pg_stat_get_dead_tuples(t::regclass)::float8, pg_total_relation_size(t::regclass)::float8 \
             FROM unnest($1::text[]) AS t",
            &[&tables],
        )
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    (
                        r.get::<_, String>(0),
                        Measure {
                            dead_tuples: Some(r.get(1)),
                            bytes: r.get(2),
                        },
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Dead tuples and size of a table, or nothing when a lock or privilege
/// prevents reading them.
fn measure(client: &mut Client, table: &str) -> Measure {
    // Fresh figures after a step: the statistics snapshot is per transaction.
    let _ = client.batch_execute("SELECT pg_stat_clear_snapshot()");
    // The per-table function, not the pg_stat_all_tables view, which would
    // build a row for every table of the database each time.
    let dead = client
        .query_one("SELECT pg_stat_get_dead_tuples($1::text::regclass)::float8", &[&table])
        .ok()
        .map(|r| r.get::<_, f64>(0));
    let bytes = client
        .query_one("SELECT pg_total_relation_size($1::text::regclass)::float8", &[&table])
        .ok()
        .and_then(|r| r.get::<_, Option<f64>>(0));
    Measure {
        dead_tuples: dead,
        bytes,
    }
}

fn execute(client: &mut Client, step: &mut Step) {
    let started = Instant::now();
    let outcome = client.batch_execute(&step.statement);
    step.seconds = started.elapsed().as_secs_f64();
    match outcome {
        Ok(()) => {
            step.status = StepStatus::Done;
            step.message = format!("done in {}", format_seconds(step.seconds));
        }
        Err(e) => match e.code().map(|c| c.code()) {
            Some("55P03") => {
                step.status = StepStatus::Skipped;
                step.message = "skipped: the application holds a conflicting lock (lock_timeout); nothing changed, \
                                run again later"
                    .into();
            }
            Some("23503" | "23514") if step.action == Action::Validate => {
                step.status = StepStatus::Left;
                let count = count_violations(client, &step.object);
                step.violating_rows = count.as_ref().ok().map(|(n, _)| *n);
                step.message = match count {
                    Ok((n, find)) => format!(
                        "{n} rows violate it; the constraint stays NOT VALID (new rows are still checked). \
                         Find them: {find}"
                    ),
                    Err(why) => format!("rows violate it; the constraint stays NOT VALID ({why})"),
                };
            }
            _ => {
                step.status = StepStatus::Failed;
                step.message = describe_pg_error(&e);
                if step.action == Action::Reindex {
                    step.message.push_str(&drop_reindex_leftovers(client, &step.object));
                    step.message
                        .push_str("; the index stays invalid: fix the cause, or drop it with DROP INDEX CONCURRENTLY");
                }
            }
        },
    }
}

/// A failed REINDEX CONCURRENTLY leaves its half-built copy (`<index>_ccnew`)
/// behind, invalid, still slowing every write; drop it.
fn drop_reindex_leftovers(client: &mut Client, index: &str) -> String {
    let leftovers: Vec<String> = client
        .query(
            "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid \
             WHERE NOT i.indisvalid AND c.relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = $1::text::regclass) \
               AND c.relname ~ ('^' || (SELECT relname FROM pg_class WHERE oid = $1::text::regclass) || '_ccnew[0-9]*$')",
            &[&index],
        )
        .map(|rows| rows.iter().map(|r| r.get(0)).collect())
        .unwrap_or_default();
    let mut dropped = Vec::new();
    for leftover in leftovers {
        if client
            .batch_execute(&format!("DROP INDEX CONCURRENTLY IF EXISTS {leftover}"))
            .is_ok()
        {
            dropped.push(leftover);
        }
    }
    if dropped.is_empty() {
        String::new()
    } else {
        format!("; dropped its leftover {}", dropped.join(", "))
    }
}

/// The rows that violate a NOT VALID constraint: their count, and a query
/// that lists them. `object` is "name on table".
fn count_violations(client: &mut Client, object: &str) -> std::result::Result<(i64, String), String> {
    let (name, table) = object.split_once(" on ").ok_or("unknown constraint")?;
    let row = client
        .query_one(
            "SELECT c.contype::text, c.confrelid::regclass::text, \
                    (SELECT array_agg(quote_ident(a.attname) ORDER BY k.ord) FROM unnest(c.conkey) WITH ORDINALITY k(n, ord) \
                       JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n), \
                    (SELECT array_agg(quote_ident(a.attname) ORDER BY k.ord) FROM unnest(c.confkey) WITH ORDINALITY k(n, ord) \
                       JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n), \
                    pg_get_expr(c.conbin, c.conrelid) \
             FROM pg_constraint c WHERE c.conname = $1 AND c.conrelid = $2::text::regclass",
            &[&name, &table],
        )
        .map_err(|e| describe_pg_error(&e))?;
    let kind: String = row.get(0);
    let filter = if kind == "f" {
        let referenced: String = row.get(1);
        let columns: Vec<String> = row.get(2);
        let referenced_columns: Vec<String> = row.get(3);
        let not_null: Vec<String> = columns.iter().map(|c| format!("t.{c} IS NOT NULL")).collect();
        let join: Vec<String> = columns
            .iter()
            .zip(&referenced_columns)
            .map(|(c, r)| format!("p.{r} = t.{c}"))
            .collect();
        format!(
            "{} AND NOT EXISTS (SELECT 1 FROM {referenced} p WHERE {})",
            not_null.join(" AND "),
            join.join(" AND ")
        )
    } else {
        let expression: String = row.get(4);
        format!("NOT ({expression})")
    };
    let count: i64 = client
        .query_one(&format!("SELECT count(*) FROM {table} t WHERE {filter}"), &[])
        .map_err(|e| describe_pg_error(&e))?
        .get(0);
    Ok((count, format!("SELECT t.* FROM {table} t WHERE {filter} LIMIT 100;")))
}

pub mod output {
    //! Printing the report: for people, or JSON.

    use super::{MaintainReport, Measure, StepStatus};
    use crate::units::format_bytes;

    fn figures(m: &Measure) -> String {
        let dead = m.dead_tuples.map_or("?".into(), |d| format!("{d:.0}"));
        let bytes = m.bytes.map_or("?".into(), format_bytes);
        format!("{dead} dead tuples, {bytes}")
    }

    pub fn human(report: &MaintainReport) -> String {
        let mut out = String::new();
        if report.steps.is_empty() {
            out.push_str(&format!("nothing to do for {}\n", report.target));
            return out;
        }
        if report.dry_run {
            out.push_str(&format!(
                "-- godwit maintain --dry-run for {}: these statements would run, each under lock_timeout\n",
                report.target
            ));
            for s in &report.steps {
                out.push_str(&format!(
                    "-- {}: {} ({})\n{}\n",
                    s.object,
                    s.reason,
                    figures(&s.before),
                    s.statement
                ));
            }
            return out;
        }
        for s in &report.steps {
            let status = match s.status {
                StepStatus::Planned => "planned",
                StepStatus::Done => "done",
                StepStatus::Skipped => "skipped",
                StepStatus::Left => "left",
                StepStatus::Failed => "failed",
            };
            out.push_str(&format!("{status:<8} {}\n", s.statement));
            out.push_str(&format!("         why:    {}\n", s.reason));
            out.push_str(&format!(
                "         before: {}\n         after:  {}\n",
                figures(&s.before),
                figures(&s.after)
            ));
            out.push_str(&format!(
                "         {}\n",
                s.message.replace("\n ", ";").replace('\n', " ")
            ));
        }
        out
    }

    pub fn json(report: &MaintainReport) -> String {
        serde_json::to_string_pretty(report).unwrap_or_default()
    }
}
