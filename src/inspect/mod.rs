//! `godwit inspect`: findings a person should review, each with the
//! evidence and the SQL they would run.
//!
//! Every kind is one row of [`registry::KINDS`] and one query over the
//! catalogs and statistics views of the current database ([`tables`] holds
//! the per-table statistics that `maintain` shares). The session is read-only with `lock_timeout`, and
//! sizes come from `pg_class.relpages` (what VACUUM and ANALYZE last saw),
//! not from functions that would queue behind an exclusive lock.
//! See docs/operations.md for every kind's rule.

pub mod output;
pub mod registry;
pub mod security;
pub mod tables;

use std::collections::BTreeSet;
use std::time::Duration;

use postgres::Client;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::postgres::conn::{ConnSpec, quote_literal};
use crate::units::{format_bytes, format_seconds};

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub kind: String,
    /// The table, index, statement or setting concerned.
    pub object: String,
    pub evidence: String,
    /// The SQL a person would run (review it first).
    pub suggestion: String,
    /// For dead_tuples and bloat: "estimate" (statistics) or "exact" (pgstattuple).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InspectReport {
    pub target: String,
    pub findings: Vec<Finding>,
    /// What could not be looked at, and how to make it possible.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct InspectOptions {
    pub target: ConnSpec,
    /// Only these kinds (all when empty).
    pub kinds: BTreeSet<String>,
    /// A statement is slow from this mean execution time.
    pub slow_query: Duration,
    /// Statistics must cover at least this long before an index with no
    /// scans counts as unused.
    pub min_stats_age: Duration,
}

impl InspectOptions {
    fn wants(&self, kind: &str) -> bool {
        self.kinds.is_empty() || self.kinds.contains(kind)
    }
}

/// A read-only session that gives up rather than wait on a lock.
pub fn open_session(target: &ConnSpec, application_name: &str) -> Result<Client> {
    let mut client = target.connect()?;
    client
        .batch_execute(&format!(
            "SET lock_timeout = '1s'; SET statement_timeout = '60s'; SET application_name = {}",
            quote_literal(application_name)
        ))
        .map_err(|e| Error::pg("setting up the session", &e))?;
    Ok(client)
}

pub fn run(options: &InspectOptions) -> Result<InspectReport> {
    let mut client = open_session(&options.target, "godwit inspect")?;
    client
        .batch_execute("SET default_transaction_read_only = on")
        .map_err(|e| Error::pg("setting up the session", &e))?;
    let mut report = InspectReport {
        target: options.target.to_string(),
        findings: Vec::new(),
        notes: Vec::new(),
    };
    let pgstattuple = extension_installed(&mut client, "pgstattuple")?;
    let stats = tables::read(&mut client)?;
    let scan = registry::Scan {
        options,
        stats: &stats,
        pgstattuple,
    };
    for kind in registry::KINDS {
        if let registry::Find::Pass(find) = kind.find
            && registry::pass_wanted(kind, options)
        {
            find(&mut client, &scan, &mut report)?;
        }
    }
    Ok(report)
}

/// vacuum_needed and analyze_needed: autovacuum's own formulas, per table.
fn vacuum_and_analyze(_: &mut Client, scan: &registry::Scan, report: &mut InspectReport) -> Result<()> {
    let options = scan.options;
    for t in scan.stats {
        if options.wants("vacuum_needed")
            && let Some(why) = t.vacuum_reason()
        {
            report.findings.push(Finding {
                kind: "vacuum_needed".into(),
                object: t.name.clone(),
                evidence: why,
                suggestion: format!("VACUUM (ANALYZE, VERBOSE) {};", t.name),
                method: None,
            });
        }
        if options.wants("analyze_needed")
            && let Some(why) = t.analyze_reason()
        {
            report.findings.push(Finding {
                kind: "analyze_needed".into(),
                object: t.name.clone(),
                evidence: why,
                suggestion: format!("ANALYZE {};", t.name),
                method: None,
            });
        }
    }
    Ok(())
}

fn extension_installed(client: &mut Client, name: &str) -> Result<bool> {
    let row = client
        .query_one("SELECT count(*) > 0 FROM pg_extension WHERE extname = $1", &[&name])
        .map_err(|e| Error::pg("reading pg_extension", &e))?;
    Ok(row.get(0))
}

fn pg(context: &str) -> impl Fn(postgres::Error) -> Error + '_ {
    move |e| Error::pg(context, &e)
}

/// slow_query: statements of this database from pg_stat_statements whose
/// mean time reaches the limit, costliest in total first.
fn slow_queries(client: &mut Client, scan: &registry::Scan, report: &mut InspectReport) -> Result<()> {
    let options = scan.options;
    let preloaded: bool = client
        .query_one(
            "SELECT 'pg_stat_statements' = ANY(string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ','))",
            &[],
        )
        .map_err(pg("reading shared_preload_libraries"))?
        .get(0);
    let installed = extension_installed(client, "pg_stat_statements")?;
    if !preloaded || !installed {
        let mut how = Vec::new();
        if !preloaded {
            how.push(
                "add it to shared_preload_libraries (ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'; \
                 then restart the server; `godwit local` clusters preload it)",
            );
        }
        if !installed {
            how.push("run CREATE EXTENSION pg_stat_statements; in this database");
        }
        report.notes.push(format!(
            "slow_query: pg_stat_statements is not available, so slow queries cannot be listed; to enable it: {}",
            how.join(", then ")
        ));
        return Ok(());
    }
    let slow_ms = options.slow_query.as_secs_f64() * 1000.0;
    let rows = client
        .query(
            "SELECT regexp_replace(s.query, '\\s+', ' ', 'g'), s.calls::float8, s.mean_exec_time, s.total_exec_time, \
                    s.rows::float8, coalesce(r.rolname::text, s.userid::text) \
             FROM pg_stat_statements s LEFT JOIN pg_roles r ON r.oid = s.userid \
             WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
               AND s.mean_exec_time >= $1 AND s.query NOT LIKE '%pg_stat_statements%' \
             ORDER BY s.total_exec_time DESC LIMIT 20",
            &[&slow_ms],
        )
        .map_err(pg("reading pg_stat_statements"))?;
    for r in rows {
        let (query, calls, mean, total, rows_out, role): (String, f64, f64, f64, f64, String) =
            (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5));
        report.findings.push(Finding {
            kind: "slow_query".into(),
            object: query.chars().take(200).collect(),
            evidence: format!(
                "mean {}, total {}, {calls:.0} calls, {rows_out:.0} rows, as {role}",
                format_seconds(mean / 1000.0),
                format_seconds(total / 1000.0)
            ),
            suggestion: format!("EXPLAIN (ANALYZE, BUFFERS) {query};  -- with real values for $1, $2..."),
            method: None,
        });
    }
    Ok(())
}

/// duplicate_index: a valid index whose key columns (same operator classes,
/// no expressions, same predicate) lead another index on the same table.
/// A unique index is a duplicate only of an identical unique index, and
/// never one that backs a constraint.
fn duplicate_indexes(client: &mut Client, _: &registry::Scan, report: &mut InspectReport) -> Result<()> {
    let rows = client
        .query(
            "SELECT a.indexrelid::regclass::text, b.indexrelid::regclass::text, a.indrelid::regclass::text, \
                    pg_get_indexdef(a.indexrelid), pg_get_indexdef(b.indexrelid), \
                    (SELECT relpages::float8 FROM pg_class WHERE oid = a.indexrelid) * current_setting('block_size')::float8 \
             FROM pg_index a \
             JOIN pg_index b ON b.indrelid = a.indrelid AND b.indexrelid <> a.indexrelid \
             JOIN pg_class ac ON ac.oid = a.indexrelid JOIN pg_class bc ON bc.oid = b.indexrelid \
             JOIN pg_namespace n ON n.oid = ac.relnamespace \
             WHERE a.indisvalid AND b.indisvalid AND ac.relam = bc.relam \
               AND a.indexprs IS NULL AND b.indexprs IS NULL \
               AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') \
               AND coalesce(pg_get_expr(a.indpred, a.indrelid), '') = coalesce(pg_get_expr(b.indpred, b.indrelid), '') \
               AND (b.indkey::int2[])[0:a.indnkeyatts - 1] = (a.indkey::int2[])[0:a.indnkeyatts - 1] \
               AND (b.indclass::oid[])[0:a.indnkeyatts - 1] = (a.indclass::oid[])[0:a.indnkeyatts - 1] \
               AND b.indnkeyatts >= a.indnkeyatts \
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = a.indexrelid) \
               AND (NOT a.indisunique OR (b.indisunique AND b.indnkeyatts = a.indnkeyatts)) \
               AND (b.indnkeyatts > a.indnkeyatts OR a.indisunique < b.indisunique OR a.indexrelid > b.indexrelid \
                    OR EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = b.indexrelid)) \
             ORDER BY 1",
            &[],
        )
        .map_err(pg("looking for duplicate indexes"))?;
    let mut seen = BTreeSet::new();
    for r in rows {
        let (index, covering, table, def, covering_def, bytes): (String, String, String, String, String, f64) =
            (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5));
        if !seen.insert(index.clone()) {
            continue;
        }
        report.findings.push(Finding {
            kind: "duplicate_index".into(),
            object: index.clone(),
            evidence: format!(
                "on {table}: {def} is covered by {covering}: {covering_def}; about {} to drop",
                format_bytes(bytes)
            ),
            suggestion: format!("DROP INDEX CONCURRENTLY {index};"),
            method: None,
        });
    }
    Ok(())
}

/// unused_index: no scan since statistics began, on a table that is read,
/// and never a primary-key, unique, constraint or invalid index. Only when
/// statistics are old enough to mean something (see [`statistics_age`]).
fn unused_indexes(client: &mut Client, scan: &registry::Scan, report: &mut InspectReport) -> Result<()> {
    let options = scan.options;
    let age = statistics_age(client)?;
    if let Some(why_young) = age.too_young(options.min_stats_age) {
        report.notes.push(format!(
            "unused_index: not judged, statistics are too young: {why_young}. Every index shows zero scans then."
        ));
        return Ok(());
    }
    let rows = client
        .query(
            "SELECT s.indexrelid::regclass::text, s.relid::regclass::text, pg_get_indexdef(s.indexrelid), \
                    c.relpages::float8 * current_setting('block_size')::float8, \
                    coalesce(t.seq_scan, 0)::float8 + coalesce(t.idx_scan, 0)::float8 \
             FROM pg_stat_user_indexes s \
             JOIN pg_index i ON i.indexrelid = s.indexrelid \
             JOIN pg_class c ON c.oid = s.indexrelid \
             JOIN pg_stat_user_tables t ON t.relid = s.relid \
             WHERE s.idx_scan = 0 AND i.indisvalid AND NOT i.indisunique AND NOT i.indisprimary \
               AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = s.indexrelid) \
               AND coalesce(t.seq_scan, 0) + coalesce(t.idx_scan, 0) > 0 \
             ORDER BY 4 DESC",
            &[],
        )
        .map_err(pg("reading index statistics"))?;
    for r in rows {
        let (index, table, def, bytes, reads): (String, String, String, f64, f64) =
            (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
        report.findings.push(Finding {
            kind: "unused_index".into(),
            object: index.clone(),
            evidence: format!(
                "0 scans in {} of statistics while {table} was read {reads:.0} times; {def}; about {}",
                age.describe(),
                format_bytes(bytes)
            ),
            suggestion: format!(
                "DROP INDEX CONCURRENTLY {index};  -- check replicas and rare jobs (monthly reports) first"
            ),
            method: None,
        });
    }
    Ok(())
}

/// How long the index statistics of this database have been collecting.
struct StatisticsAge {
    /// Since the statistics were reset, or the database's files were made,
    /// when either is known.
    seconds: Option<f64>,
    /// Where that came from.
    since: &'static str,
    /// Index scans counted in the whole database.
    index_scans: f64,
    user_indexes: f64,
}

impl StatisticsAge {
    /// Why the statistics cannot tell unused from not-yet-used, if so.
    fn too_young(&self, minimum: Duration) -> Option<String> {
        if self.user_indexes > 0.0 && self.index_scans == 0.0 {
            return Some(
                "no index of this database has been scanned since statistics began \
                 (a database just restored, copied or reset)"
                    .into(),
            );
        }
        match self.seconds {
            Some(s) if s < minimum.as_secs_f64() => Some(format!(
                "they cover {} ({}), less than --min-stats-age {}",
                format_seconds(s),
                self.since,
                format_seconds(minimum.as_secs_f64())
            )),
            Some(_) => None,
            None => Some(
                "their age cannot be told: never reset, the database's creation time is unreadable \
                 (pg_stat_file needs superuser or pg_read_server_files) and no table was ever vacuumed or analyzed"
                    .into(),
            ),
        }
    }

    fn describe(&self) -> String {
        match self.seconds {
            Some(s) => format!("at least {} ({})", format_seconds(s), self.since),
            None => "an unknown span".into(),
        }
    }
}

/// The statistics' age: since `pg_stat_database.stats_reset`, else since
/// the database directory was created (readable with pg_stat_file, which
/// superusers and pg_read_server_files have), else at least since the
/// oldest vacuum or analyze the statistics remember; and whether any index
/// has been scanned at all. Undatable statistics count as young. (PostgreSQL 15 keeps statistics across a clean
/// restart, so the postmaster's start time does not bound them; a crash
/// or immediate shutdown resets them, which stats_reset does not show, so
/// the any-index-scanned test is the backstop.)
fn statistics_age(client: &mut Client) -> Result<StatisticsAge> {
    let row = client
        .query_one(
            "SELECT extract(epoch FROM now() - d.stats_reset)::float8, \
                    has_function_privilege('pg_stat_file(text)', 'EXECUTE'), \
                    (SELECT coalesce(sum(idx_scan), 0)::float8 FROM pg_stat_user_indexes), \
                    (SELECT count(*)::float8 FROM pg_stat_user_indexes) \
             FROM pg_stat_database d WHERE d.datname = current_database()",
            &[],
        )
        .map_err(pg("reading database statistics"))?;
    let reset: Option<f64> = row.get(0);
    let can_stat_file: bool = row.get(1);
    let mut age = StatisticsAge {
        seconds: reset,
        since: "since stats_reset",
        index_scans: row.get(2),
        user_indexes: row.get(3),
    };
    if age.seconds.is_none() && can_stat_file {
        let created = client
            .query_one(
                "SELECT extract(epoch FROM now() - (pg_stat_file('base/' || oid || '/PG_VERSION')).modification)::float8 \
                 FROM pg_database WHERE datname = current_database()",
                &[],
            )
            .ok()
            .and_then(|r| r.get::<_, Option<f64>>(0));
        if created.is_some() {
            age.seconds = created;
            age.since = "since the database was created";
        }
    }
    if age.seconds.is_none() {
        // Vacuum and analyze times live in the statistics too and vanish with
        // them: the oldest one shows they have been collecting at least that long.
        let oldest = client
            .query_one(
                "SELECT extract(epoch FROM now() - min(least(last_vacuum, last_autovacuum, last_analyze, last_autoanalyze)))::float8 \
                 FROM pg_stat_user_tables",
                &[],
            )
            .map_err(pg("reading table statistics"))?;
        if let Some(seconds) = oldest.get::<_, Option<f64>>(0) {
            age.seconds = Some(seconds);
            age.since = "since the oldest recorded vacuum or analyze";
        }
    }
    Ok(age)
}

/// missing_fk_index: a foreign key whose columns no valid, non-partial
/// index leads with (in any order); deletes and updates on the referenced
/// table then scan this one.
fn missing_fk_indexes(client: &mut Client, _: &registry::Scan, report: &mut InspectReport) -> Result<()> {
    let rows = client
        .query(
            "SELECT c.conname::text, c.conrelid::regclass::text, c.confrelid::regclass::text, \
                    (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.ord) \
                       FROM unnest(c.conkey) WITH ORDINALITY k(attnum, ord) \
                       JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum), \
                    t.reltuples::float8 \
             FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid \
             JOIN pg_namespace n ON n.oid = t.relnamespace \
             WHERE c.contype = 'f' AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
               AND NOT EXISTS ( \
                   SELECT 1 FROM pg_index i \
                   WHERE i.indrelid = c.conrelid AND i.indisvalid AND i.indpred IS NULL \
                     AND i.indnkeyatts >= cardinality(c.conkey) \
                     AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] @> c.conkey \
                     AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] <@ c.conkey) \
             ORDER BY 2, 1",
            &[],
        )
        .map_err(pg("looking for unindexed foreign keys"))?;
    for r in rows {
        let (name, table, referenced, columns, tuples): (String, String, String, String, f64) =
            (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
        let rows_text = if tuples >= 0.0 {
            format!("{tuples:.0} rows (estimate)")
        } else {
            "rows not counted yet".into()
        };
        report.findings.push(Finding {
            kind: "missing_fk_index".into(),
            object: format!("{table} ({columns})"),
            evidence: format!(
                "foreign key {name} references {referenced}, but no index on {table} starts with ({columns}); \
                 every delete or key update on {referenced} scans {table}: {rows_text}"
            ),
            suggestion: format!("CREATE INDEX CONCURRENTLY ON {table} ({columns});"),
            method: None,
        });
    }
    Ok(())
}

/// A table's dead tuples are worth a look from this share of its rows...
const DEAD_SHARE: f64 = 0.2;
/// ...and this many of them.
const DEAD_MIN: f64 = 1000.0;
/// Tables smaller than this are not called bloated, whatever the ratio.
const BLOAT_MIN_BYTES: f64 = 1024.0 * 1024.0;
/// Wasted share from which a table or index is called bloated.
const BLOAT_SHARE: f64 = 0.5;

/// dead_tuples and bloat. The estimate: n_dead_tup against n_live_tup, and
/// the table's pages against what its live rows need (pg_stats widths plus
/// tuple headers, at the table's fillfactor). With pgstattuple installed,
/// candidates are measured exactly (a full read of each candidate only),
/// and btree indexes by pgstatindex's leaf density.
fn dead_tuples_and_bloat(client: &mut Client, scan: &registry::Scan, report: &mut InspectReport) -> Result<()> {
    let (options, pgstattuple, stats) = (scan.options, scan.pgstattuple, scan.stats);
    let block_size: f64 = client
        .query_one("SELECT current_setting('block_size')::float8", &[])
        .map_err(pg("reading block_size"))?
        .get(0);
    for t in stats {
        let dead_candidate = t.dead_tuples >= DEAD_MIN && t.dead_tuples >= DEAD_SHARE * (t.live_tuples + t.dead_tuples);
        let bytes = t.pages * block_size;
        let needed = t.live_tuples.max(0.0) * t.tuple_bytes / t.fillfactor;
        let waste = if bytes > 0.0 {
            (bytes - needed).max(0.0) / bytes
        } else {
            0.0
        };
        let bloat_candidate = bytes >= BLOAT_MIN_BYTES && waste >= BLOAT_SHARE && t.tuple_bytes > 0.0;
        if !dead_candidate && !bloat_candidate {
            continue;
        }
        let exact = if pgstattuple {
            exact_table(client, &t.name)
        } else {
            None
        };
        match exact {
            Some(e) => {
                if options.wants("dead_tuples") && e.dead_percent >= DEAD_SHARE * 100.0 && e.dead_count >= DEAD_MIN {
                    report.findings.push(dead_finding(
                        t,
                        format!(
                            "{:.0} dead tuples, {:.1}% of the table (pgstattuple, exact)",
                            e.dead_count, e.dead_percent
                        ),
                        "exact",
                    ));
                }
                let wasted = e.dead_percent + e.free_percent;
                if options.wants("bloat") && e.table_bytes >= BLOAT_MIN_BYTES && wasted >= BLOAT_SHARE * 100.0 {
                    report.findings.push(bloat_finding(
                        &t.name,
                        format!(
                            "{:.0}% of {} is dead or free space (pgstattuple, exact)",
                            wasted,
                            format_bytes(e.table_bytes)
                        ),
                        "exact",
                    ));
                }
            }
            None => {
                if options.wants("dead_tuples") && dead_candidate {
                    report.findings.push(dead_finding(
                        t,
                        format!(
                            "{:.0} dead and {:.0} live tuples (pg_stat_user_tables, estimate{})",
                            t.dead_tuples,
                            t.live_tuples,
                            if pgstattuple {
                                "; pgstattuple could not read it"
                            } else {
                                ""
                            }
                        ),
                        "estimate",
                    ));
                }
                if options.wants("bloat") && bloat_candidate {
                    report.findings.push(bloat_finding(
                        &t.name,
                        format!(
                            "about {:.0}% of {} is not live rows (pages against live rows × width from {}, estimate)",
                            waste * 100.0,
                            format_bytes(bytes),
                            if t.width_from_stats {
                                "pg_stats"
                            } else {
                                "the column types, never analyzed"
                            }
                        ),
                        "estimate",
                    ));
                }
            }
        }
    }
    if options.wants("bloat") {
        if pgstattuple {
            bloated_indexes(client, report)?;
        } else {
            report.notes.push(
                "bloat: figures are estimates from statistics and index bloat is not measured; for exact figures: \
                 CREATE EXTENSION pgstattuple;"
                    .into(),
            );
        }
    }
    Ok(())
}

fn dead_finding(t: &tables::TableStats, evidence: String, method: &str) -> Finding {
    let autovacuum = if t.autovacuum_enabled {
        String::new()
    } else {
        " autovacuum is off for this table (autovacuum_enabled = false).".into()
    };
    Finding {
        kind: "dead_tuples".into(),
        object: t.name.clone(),
        evidence: format!("{evidence}.{autovacuum}"),
        suggestion: format!("VACUUM (ANALYZE, VERBOSE) {};", t.name),
        method: Some(method.into()),
    }
}

fn bloat_finding(object: &str, evidence: String, method: &str) -> Finding {
    Finding {
        kind: "bloat".into(),
        object: object.into(),
        evidence,
        suggestion: format!(
            "VACUUM (ANALYZE) {object};  -- returns space for reuse; to shrink the file, VACUUM FULL {object} \
             (ACCESS EXCLUSIVE lock for the whole rewrite) or pg_repack"
        ),
        method: Some(method.into()),
    }
}

pub(crate) struct ExactTable {
    pub table_bytes: f64,
    pub dead_count: f64,
    pub dead_percent: f64,
    pub free_percent: f64,
}

/// pgstattuple on one table; None when it cannot (a lock, a permission).
pub(crate) fn exact_table(client: &mut Client, table: &str) -> Option<ExactTable> {
    let row = client
        .query_one(
            "SELECT table_len::float8, dead_tuple_count::float8, dead_tuple_percent, free_percent \
             FROM pgstattuple($1::text::regclass)",
            &[&table],
        )
        .ok()?;
    Some(ExactTable {
        table_bytes: row.get(0),
        dead_count: row.get(1),
        dead_percent: row.get(2),
        free_percent: row.get(3),
    })
}

/// Indexes called bloated (needs pgstattuple): valid btree indexes of at
/// least 1 MB whose leaves are less than half full.
pub(crate) fn bloated_index_list(client: &mut Client) -> Vec<(String, f64, f64)> {
    let candidates = client
        .query(
            "SELECT c.oid::regclass::text, c.relpages::float8 * current_setting('block_size')::float8 \
             FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid JOIN pg_am am ON am.oid = c.relam \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE am.amname = 'btree' AND i.indisvalid AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') \
               AND c.relpages::float8 * current_setting('block_size')::float8 >= $1",
            &[&BLOAT_MIN_BYTES],
        )
        .unwrap_or_default();
    let mut out = Vec::new();
    for c in candidates {
        let (index, bytes): (String, f64) = (c.get(0), c.get(1));
        if let Ok(row) = client.query_one(
            "SELECT avg_leaf_density FROM pgstatindex($1::text::regclass)",
            &[&index],
        ) {
            let density: f64 = row.get(0);
            if !density.is_nan() && density < BLOAT_SHARE * 100.0 {
                out.push((index, bytes, density));
            }
        }
    }
    out
}

fn bloated_indexes(client: &mut Client, report: &mut InspectReport) -> Result<()> {
    for (index, bytes, density) in bloated_index_list(client) {
        report.findings.push(Finding {
            kind: "bloat".into(),
            object: index.clone(),
            evidence: format!(
                "index leaves are {density:.0}% full (pgstatindex, exact; a fresh btree is about 90%), {}",
                format_bytes(bytes)
            ),
            suggestion: format!("REINDEX INDEX CONCURRENTLY {index};"),
            method: Some("exact".into()),
        });
    }
    Ok(())
}

/// seq_scans: tables of at least 10,000 rows read more often by
/// sequential than by index scans, each reading many rows.
fn seq_scans(_: &mut Client, scan: &registry::Scan, report: &mut InspectReport) -> Result<()> {
    for t in scan.stats {
        if t.live_tuples >= 10_000.0 && t.seq_scan > t.idx_scan && t.seq_scan > 0.0 {
            let per_scan = t.seq_tup_read / t.seq_scan;
            if per_scan < 1000.0 {
                continue;
            }
            report.findings.push(Finding {
                kind: "seq_scans".into(),
                object: t.name.clone(),
                evidence: format!(
                    "{:.0} sequential scans reading {per_scan:.0} rows each on average, {:.0} index scans, {:.0} rows",
                    t.seq_scan, t.idx_scan, t.live_tuples
                ),
                suggestion: format!(
                    "SELECT query, calls, mean_exec_time FROM pg_stat_statements WHERE query ILIKE {} \
                     ORDER BY total_exec_time DESC LIMIT 10;  -- then index the columns they filter on",
                    quote_literal(&format!(
                        "%{}%",
                        t.name.rsplit('.').next().unwrap_or(&t.name).trim_matches('"')
                    ))
                ),
                method: None,
            });
        }
    }
    Ok(())
}

/// setting: server settings left at values that hurt most applications.
fn settings(client: &mut Client, _: &registry::Scan, report: &mut InspectReport) -> Result<()> {
    let rows = client
        .query(
            "SELECT name, setting, unit, source FROM pg_settings \
             WHERE name IN ('autovacuum', 'track_counts', 'shared_buffers', 'random_page_cost')",
            &[],
        )
        .map_err(pg("reading pg_settings"))?;
    for r in rows {
        let (name, setting, source): (String, String, String) = (r.get(0), r.get(1), r.get(3));
        let finding = match (name.as_str(), setting.as_str()) {
            ("autovacuum", "off") => Some((
                "autovacuum is off: dead tuples pile up and only emergency freezes prevent wraparound".to_string(),
                "ALTER SYSTEM SET autovacuum = on; SELECT pg_reload_conf();".to_string(),
            )),
            ("track_counts", "off") => Some((
                "track_counts is off: autovacuum and godwit inspect have no statistics to go on".into(),
                "ALTER SYSTEM SET track_counts = on; SELECT pg_reload_conf();".into(),
            )),
            // 16384 pages of 8 kB: the 128 MB initdb default.
            ("shared_buffers", "16384") if source == "default" || source == "configuration file" => Some((
                "shared_buffers is 128MB, the initdb default; most servers do better with about 25% of memory".into(),
                "ALTER SYSTEM SET shared_buffers = '2GB';  -- about 25% of the server's memory; needs a restart".into(),
            )),
            ("random_page_cost", "4") => Some((
                "random_page_cost is 4, the default for spinning disks; on SSD or cloud storage index scans look \
                 costlier to the planner than they are"
                    .into(),
                "ALTER SYSTEM SET random_page_cost = 1.1; SELECT pg_reload_conf();".into(),
            )),
            _ => None,
        };
        if let Some((evidence, suggestion)) = finding {
            report.findings.push(Finding {
                kind: "setting".into(),
                object: name,
                evidence,
                suggestion,
                method: None,
            });
        }
    }
    Ok(())
}
