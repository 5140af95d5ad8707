//! The workload's report: one block per class and a summary, for the
//! terminal and as the `--json` document.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use super::WorkloadOptions;
use super::advice::Suggestion;
use super::parity::{Example, Parity, Verdict};
use super::queries::Class;
use super::stats::LevelStats;
use super::translate::Translated;
use crate::error::ExitCode;

#[derive(Debug, Clone, Serialize)]
pub struct WorkloadReport {
    pub classes: Vec<ClassReport>,
    pub summary: Summary,
}

#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub source: BTreeMap<String, LevelStats>,
    pub target: BTreeMap<String, LevelStats>,
    /// On the read replica (`--read-replica`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub replica: BTreeMap<String, LevelStats>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClassReport {
    pub name: String,
    pub fingerprint: String,
    pub source_sql: String,
    pub target_sql: Option<String>,
    /// Why there is no PostgreSQL text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub untranslatable: Option<String>,
    pub parity: &'static str,
    /// How rows were compared.
    pub compared: String,
    pub executions: u64,
    /// Distinct statements in the class (a log's class may hold several).
    pub statements: usize,
    pub weight: u32,
    pub examples: Vec<Example>,
    pub latency: Latency,
    pub misses: Vec<String>,
    pub plan_flags: Vec<String>,
    /// CREATE INDEX statements that speed this class.
    pub advice: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// `ok`, `review` (exit 3) or `different` (exit 4).
    pub status: &'static str,
    pub classes: usize,
    pub equal: usize,
    pub different: usize,
    pub error_source: usize,
    pub error_target: usize,
    pub untranslatable: usize,
    pub not_compared: usize,
    /// The engine the source ran on: "sqlite", or "none" for documents.
    pub source_engine: &'static str,
    /// Statements went to PostgreSQL untranslated.
    pub as_is: bool,
    pub levels: Vec<usize>,
    pub p95_target_ms: Option<f64>,
    pub max_ratio: Option<f64>,
    pub misses: Vec<String>,
    pub advice: Vec<Suggestion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advice_unavailable: Option<String>,
    pub notes: Vec<String>,
    /// Tables and columns of the plan the target does not hold as
    /// planned: the translations may be wrong, so the run needs review.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub plan_drift: Vec<String>,
    /// Levels not measured because the server refused connections.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica_lag: Option<super::replica::LagSummary>,
    pub pooled: bool,
}

pub struct Parts<'a> {
    pub prepared: Vec<(&'a Class, &'a [Translated])>,
    pub parities: Vec<Parity>,
    pub latency: Vec<(BTreeMap<String, LevelStats>, BTreeMap<String, LevelStats>)>,
    pub misses: Vec<Vec<String>>,
    pub plan_flags: Vec<Vec<String>>,
    pub suggestions: Vec<Suggestion>,
    pub advice_unavailable: Option<String>,
    pub source_engine: bool,
    pub as_is: bool,
    /// See [`Summary::plan_drift`].
    pub drift: Vec<String>,
    pub options: &'a WorkloadOptions,
    pub replica_latency: Vec<BTreeMap<String, LevelStats>>,
    /// Levels the server would not take, in words.
    pub refused: Vec<String>,
    pub replica_lag: Option<super::replica::LagSummary>,
    /// The target led through a transaction pooler.
    pub pooled: bool,
    /// Transaction control statements left out of the log.
    pub transaction_control: usize,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Each level where PostgreSQL misses a target, in words.
pub fn misses(
    source: &BTreeMap<String, LevelStats>,
    target: &BTreeMap<String, LevelStats>,
    p95: Option<Duration>,
    max_ratio: Option<f64>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (level, t) in target {
        if t.executions == 0 {
            continue;
        }
        if let Some(limit) = p95
            && t.p95_ms > ms(limit)
        {
            out.push(format!(
                "p95 {:.2} ms > {:.2} ms at {level} clients",
                t.p95_ms,
                ms(limit)
            ));
        }
        if let (Some(ratio), Some(s)) = (max_ratio, source.get(level))
            && s.executions > 0
            && t.p95_ms > ratio * s.p95_ms
        {
            out.push(format!(
                "p95 {:.2} ms is {:.1}x SQLite's {:.2} ms at {level} clients (limit {ratio}x)",
                t.p95_ms,
                t.p95_ms / s.p95_ms.max(0.001),
                s.p95_ms
            ));
        }
    }
    out
}

pub fn build(parts: Parts<'_>) -> WorkloadReport {
    let mut classes = Vec::new();
    let mut summary_misses = Vec::new();
    for (i, ((class, translated), parity)) in parts.prepared.iter().zip(parts.parities).enumerate() {
        let first = translated.first();
        let untranslatable = translated.iter().find_map(|t| t.target.as_ref().err().cloned());
        let (source, target) = parts.latency[i].clone();
        for m in &parts.misses[i] {
            summary_misses.push(format!("{}: {m}", class.name));
        }
        let advice = parts
            .suggestions
            .iter()
            .filter(|s| s.classes.iter().any(|c| c.class == class.name))
            .map(|s| s.statement.clone())
            .collect();
        classes.push(ClassReport {
            name: class.name.clone(),
            fingerprint: class.fingerprint.clone(),
            source_sql: class.statements.first().map(|s| s.written.clone()).unwrap_or_default(),
            target_sql: first.and_then(|t| t.target.clone().ok()),
            untranslatable,
            parity: parity.verdict.name(),
            compared: parity.compared,
            executions: parity.executions,
            statements: class.statements.len(),
            weight: class.weight,
            examples: parity.examples,
            latency: Latency {
                source,
                target,
                replica: parts.replica_latency.get(i).cloned().unwrap_or_default(),
            },
            misses: parts.misses[i].clone(),
            plan_flags: parts.plan_flags[i].clone(),
            advice,
        });
    }
    let count = |v: &str| classes.iter().filter(|c| c.parity == v).count();
    let mut notes = Vec::new();
    if !parts.source_engine {
        notes.push(
            "the source is documents, which have no query engine: the workload ran on PostgreSQL alone \
             (no parity, no ratio to the source)"
                .to_string(),
        );
    } else if parts.as_is {
        notes.push("--as-is: statements went to PostgreSQL as the application wrote them, not translated".into());
    }
    if parts.pooled {
        notes.push(
            "the target leads through a transaction pooler: each execution ran in its own read-only transaction \
             (BEGIN with SET LOCAL search_path, the statement unnamed, COMMIT), three round trips where a direct \
             session takes one; plans and index advice need a direct connection and were not run"
                .into(),
        );
    }
    if parts.transaction_control > 0 {
        notes.push(format!(
            "{} transaction control statements in the log (BEGIN, COMMIT, SAVEPOINT ...) were left out: \
             each execution runs as its own unit",
            parts.transaction_control
        ));
    }
    if parts.options.rate.is_some() {
        notes.push("open loop: latency counts from each execution's scheduled start".into());
    }
    let mut summary = Summary {
        status: "ok",
        classes: classes.len(),
        equal: count(Verdict::Equal.name()),
        different: count(Verdict::Different.name()),
        error_source: count(Verdict::ErrorSource.name()),
        error_target: count(Verdict::ErrorTarget.name()),
        untranslatable: count(Verdict::Untranslatable.name()),
        not_compared: count(Verdict::NotCompared.name()),
        source_engine: if parts.source_engine { "sqlite" } else { "none" },
        as_is: parts.as_is,
        levels: if parts.options.parity_only {
            Vec::new()
        } else {
            parts.options.clients.clone()
        },
        p95_target_ms: parts.options.p95.map(ms),
        max_ratio: parts.options.max_ratio,
        misses: summary_misses,
        advice: parts.suggestions,
        advice_unavailable: parts.advice_unavailable,
        notes,
        plan_drift: parts.drift,
        refused: parts.refused,
        replica_lag: parts.replica_lag,
        pooled: parts.pooled,
    };
    summary.status = if summary.different + summary.error_target > 0 {
        "different"
    } else if summary.untranslatable + summary.error_source > 0
        || !summary.misses.is_empty()
        || !summary.plan_drift.is_empty()
        || !summary.refused.is_empty()
    {
        "review"
    } else {
        "ok"
    };
    WorkloadReport { classes, summary }
}

impl WorkloadReport {
    /// 4 differences (a query failing only on PostgreSQL too), else 3 for
    /// misses, untranslatable classes or queries failing on the source.
    pub fn exit_code(&self) -> ExitCode {
        match self.summary.status {
            "different" => ExitCode::Different,
            "review" => ExitCode::Review,
            _ => ExitCode::Ok,
        }
    }

    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    pub fn human(&self) -> String {
        let mut out = String::new();
        for c in &self.classes {
            let _ = writeln!(out, "{} [{}]", c.name, c.parity.to_uppercase());
            let _ = writeln!(out, "  SQLite:     {}", one_line(&c.source_sql));
            match (&c.target_sql, &c.untranslatable) {
                (_, Some(why)) => {
                    let _ = writeln!(out, "  PostgreSQL: untranslatable: {why}");
                }
                (Some(sql), None) => {
                    let _ = writeln!(out, "  PostgreSQL: {}", one_line(sql));
                }
                _ => {}
            }
            if c.statements > 1 {
                let _ = writeln!(out, "  {} distinct statements share this fingerprint", c.statements);
            }
            let _ = writeln!(out, "  parity: {} executions compared {}", c.executions, c.compared);
            for e in &c.examples {
                let params: Vec<String> = e.params.iter().map(ToString::to_string).collect();
                let _ = writeln!(out, "    {} with ({}): {}", e.kind, params.join(", "), e.detail);
                if !e.source_rows.is_empty() {
                    let _ = writeln!(out, "      SQLite:     {}", e.source_rows.join(" "));
                }
                if !e.target_rows.is_empty() {
                    let _ = writeln!(out, "      PostgreSQL: {}", e.target_rows.join(" "));
                }
            }
            if !c.latency.target.is_empty() || !c.latency.source.is_empty() || !c.latency.replica.is_empty() {
                let _ = writeln!(
                    out,
                    "  {:>8} {:>10} {:>9} {:>9} {:>9} {:>9} {:>10} {:>7}",
                    "clients", "engine", "p50 ms", "p95 ms", "p99 ms", "max ms", "qps", "errors"
                );
                let mut levels: Vec<&String> = c
                    .latency
                    .source
                    .keys()
                    .chain(c.latency.target.keys())
                    .chain(c.latency.replica.keys())
                    .collect();
                levels.sort_by_key(|l| l.parse::<usize>().unwrap_or(0));
                levels.dedup();
                for level in levels {
                    for (engine, side) in [
                        ("SQLite", &c.latency.source),
                        ("PostgreSQL", &c.latency.target),
                        ("replica", &c.latency.replica),
                    ] {
                        if let Some(s) = side.get(level) {
                            let busy = if s.busy > 0 {
                                format!(" ({} busy)", s.busy)
                            } else {
                                String::new()
                            };
                            let _ = writeln!(
                                out,
                                "  {:>8} {:>10} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>10.1} {:>7}{busy}",
                                level, engine, s.p50_ms, s.p95_ms, s.p99_ms, s.max_ms, s.qps, s.errors
                            );
                        }
                    }
                }
            }
            for m in &c.misses {
                let _ = writeln!(out, "  MISS: {m}");
            }
            for f in &c.plan_flags {
                let _ = writeln!(out, "  plan: {f}");
            }
            for a in &c.advice {
                let _ = writeln!(out, "  advice: {a}");
            }
            out.push('\n');
        }
        let s = &self.summary;
        let _ = writeln!(
            out,
            "{} classes: {} equal, {} different, {} error_source, {} error_target, {} untranslatable{}",
            s.classes,
            s.equal,
            s.different,
            s.error_source,
            s.error_target,
            s.untranslatable,
            if s.not_compared > 0 {
                format!(", {} not compared", s.not_compared)
            } else {
                String::new()
            }
        );
        for m in &s.misses {
            let _ = writeln!(out, "missed: {m}");
        }
        for r in &s.refused {
            let _ = writeln!(out, "level not measured: {r}");
        }
        if let Some(lag) = &s.replica_lag {
            let _ = writeln!(
                out,
                "read replica lag while it ran: at most {} behind and {} not yet replayed ({} samples)",
                crate::units::format_seconds(lag.max_seconds),
                crate::units::format_bytes(lag.max_bytes),
                lag.samples
            );
        }
        for a in &s.advice {
            let classes: Vec<&str> = a.classes.iter().map(|c| c.class.as_str()).collect();
            let _ = writeln!(
                out,
                "advice: {} (about {} kB; speeds {})",
                a.statement,
                a.estimated_bytes / 1024,
                classes.join(", ")
            );
        }
        if let Some(why) = &s.advice_unavailable {
            let _ = writeln!(out, "{why}");
        }
        for n in &s.notes {
            let _ = writeln!(out, "note: {n}");
        }
        for d in &s.plan_drift {
            let _ = writeln!(out, "review: the target is not as the source plans now: {d}");
        }
        let _ = writeln!(out, "status: {}", s.status);
        out
    }
}

fn one_line(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}
