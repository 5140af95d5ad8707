//! `godwit health`: a monitoring check of one PostgreSQL database.
//!
//! Every check is one row of [`registry::CHECKS`]: its name, the query that
//! measures it ([`checks`], [`security`]), its unit and thresholds, its help. All of them run in one short read-only session whose
//! `statement_timeout` and `lock_timeout` keep it from hanging behind a
//! lock. A check that cannot run (a privilege missing, a timeout) is
//! UNKNOWN and says why, never OK. The exit code follows the monitoring
//! plugin convention (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN), unlike the
//! rest of godwit. See docs/operations.md.

pub mod backups;
pub mod checks;
pub mod output;
pub mod partitions;
pub mod pooler;
pub mod registry;
mod replication;
pub mod security;
pub mod thresholds;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::ExitCode;
use crate::postgres::conn::ConnSpec;
pub use registry::{CHECKS, Check};
pub use thresholds::{Direction, Threshold, Unit};

/// A check's verdict. Ordered by how bad it is: the overall status is the
/// worst, and an UNKNOWN outranks OK so it is never hidden behind one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Unknown,
    Warning,
    Critical,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Unknown => "UNKNOWN",
            Status::Warning => "WARNING",
            Status::Critical => "CRITICAL",
        }
    }

    /// The monitoring plugin convention (Nagios, Icinga, Sensu).
    pub fn code(self) -> i32 {
        match self {
            Status::Ok => 0,
            Status::Warning => 1,
            Status::Critical => 2,
            Status::Unknown => 3,
        }
    }

    /// The process exit code for `godwit health`. Its numbers follow the
    /// plugin convention above; they coincide with these variants' values.
    pub fn exit_code(self) -> ExitCode {
        match self {
            Status::Ok => ExitCode::Ok,
            Status::Warning => ExitCode::Failed,
            Status::Critical => ExitCode::Usage,
            Status::Unknown => ExitCode::Review,
        }
    }
}

/// One check's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub name: String,
    pub status: Status,
    /// What was measured, in `unit`; absent when nothing could be measured.
    pub value: Option<f64>,
    pub unit: Unit,
    pub message: String,
    pub warning: Option<f64>,
    pub critical: Option<f64>,
    /// The offending objects or sessions, worst first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HealthReport {
    pub status: Status,
    pub target: String,
    pub checks: Vec<CheckResult>,
}

#[derive(Debug, Clone)]
pub struct HealthOptions {
    pub target: ConnSpec,
    /// Overrides of the defaults in [`CHECKS`], by check name.
    pub thresholds: BTreeMap<String, Threshold>,
    /// Longest wait for the connection; an unreachable server is CRITICAL after it.
    pub connect_timeout: Duration,
    /// statement_timeout of every check's query.
    pub query_timeout: Duration,
    /// Where `last_backup` looks, when given.
    pub backups: Option<String>,
    /// PgBouncer in front of the database, for the pooler_* checks.
    pub pooler: Option<ConnSpec>,
}

/// Runs every check and returns them worst first.
pub fn run(options: &HealthOptions) -> HealthReport {
    let mut results = Vec::new();
    let started = Instant::now();
    match options.target.connect_once(Some(options.connect_timeout)) {
        Ok(mut client) => {
            let connect_seconds = started.elapsed().as_secs_f64();
            results.extend(checks::run_all(&mut client, options, connect_seconds));
        }
        Err(e) => {
            let def = registry::get("connection");
            results.push(CheckResult {
                name: def.name.into(),
                status: Status::Critical,
                value: None,
                unit: def.unit,
                message: format!("cannot connect: {e}"),
                warning: None,
                critical: None,
                details: Vec::new(),
            });
            results.extend(not_run(options, "not run: no connection"));
        }
    }
    if let Some(pooler) = &options.pooler {
        results.extend(pooler::run(pooler, options));
    }
    // Checks that read files run after the session, whatever became of it.
    for check in CHECKS {
        if let registry::Probe::Backups = check.probe
            && let Some(location) = &options.backups
        {
            results.push(backups::check(check, location, &threshold_for(check.name, options)));
        }
    }
    finish(results, &options.target)
}

/// The database checks after `connection` (security rules included), each
/// UNKNOWN for `why`, so that every check's status stays visible.
fn not_run(options: &HealthOptions, why: &str) -> Vec<CheckResult> {
    CHECKS
        .iter()
        .filter(|d| d.needs_database() && !matches!(d.probe, registry::Probe::Connection) && applies(d, options))
        .map(|def| CheckResult {
            name: def.name.into(),
            status: Status::Unknown,
            value: None,
            unit: def.unit,
            message: why.to_string(),
            warning: None,
            critical: None,
            details: Vec::new(),
        })
        .collect()
}

/// Whether a check runs at all: some only when asked for.
fn applies(def: &Check, options: &HealthOptions) -> bool {
    match def.runs {
        registry::Runs::Always => true,
        registry::Runs::WithThreshold => options.thresholds.contains_key(def.name),
        registry::Runs::WithBackups => options.backups.is_some(),
        registry::Runs::WithPooler => options.pooler.is_some(),
    }
}

fn threshold_for(name: &str, options: &HealthOptions) -> Threshold {
    options
        .thresholds
        .get(name)
        .copied()
        .unwrap_or_else(|| registry::get(name).default)
}

fn finish(mut checks: Vec<CheckResult>, target: &ConnSpec) -> HealthReport {
    // Worst first; equal statuses keep the documented check order.
    checks.sort_by_key(|c| std::cmp::Reverse(c.status));
    let status = checks.iter().map(|c| c.status).max().unwrap_or(Status::Unknown);
    HealthReport {
        status,
        target: target.to_string(),
        checks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_status_wins_and_unknown_outranks_ok() {
        let mut all = vec![Status::Ok, Status::Unknown, Status::Ok];
        assert_eq!(all.iter().max(), Some(&Status::Unknown));
        all.push(Status::Warning);
        assert_eq!(all.iter().max(), Some(&Status::Warning));
        all.push(Status::Critical);
        assert_eq!(all.iter().max(), Some(&Status::Critical));
        assert_eq!(Status::Unknown.code(), 3);
        assert_eq!(Status::Critical.exit_code().code(), 2);
        assert_eq!(Status::Warning.exit_code().code(), 1);
        assert_eq!(Status::Unknown.exit_code().code(), 3);
    }
}
