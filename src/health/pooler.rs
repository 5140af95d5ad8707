//! `health --pooler URL`: PgBouncer's own view of its pools, read from its
//! admin console (`SHOW POOLS`, `SHOW DATABASES`, `SHOW STATS`, simple
//! query protocol only). The role needs to be in PgBouncer's
//! `stats_users` (or `admin_users`).
//!
//! - pooler_waiting: the longest a client has waited for a server
//!   connection, with how many wait;
//! - pooler_servers: server connections open against the pool size, in the
//!   fullest pool;
//! - pooler_efficiency: 1 - server connections / client connections, over
//!   every pool: the share of clients that needed no server connection of
//!   their own. 1,000 clients on 20 server connections is 98%; as many
//!   servers as clients is 0% (the pooler saves nothing). The message adds
//!   the transactions and queries served per server connection.

use std::collections::BTreeMap;

use postgres::{Client, SimpleQueryMessage};

use super::registry;
use super::thresholds::{self, Threshold};
use super::{CheckResult, HealthOptions, Status};
use crate::postgres::conn::ConnSpec;
use crate::units::format_seconds;

/// The admin console's rows, each column by name.
type Rows = Vec<BTreeMap<String, String>>;

fn show(client: &mut Client, what: &str) -> Result<Rows, String> {
    let messages = client
        .simple_query(&format!("SHOW {what}"))
        .map_err(|e| format!("SHOW {what}: {}", crate::postgres::conn::describe_pg_error(&e)))?;
    Ok(messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(
                row.columns()
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.name().to_string(), row.get(i).unwrap_or("").to_string()))
                    .collect(),
            ),
            _ => None,
        })
        .collect())
}

fn number(row: &BTreeMap<String, String>, column: &str) -> f64 {
    row.get(column).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
}

/// The admin console's own pseudo-database is no pool of the application.
fn is_admin(row: &BTreeMap<String, String>) -> bool {
    row.get("database").is_some_and(|d| d == "pgbouncer") || row.get("name").is_some_and(|d| d == "pgbouncer")
}

/// What the three checks read.
struct Pools {
    pools: Rows,
    pool_sizes: BTreeMap<String, f64>,
    stats: Rows,
}

fn read(spec: &ConnSpec, options: &HealthOptions) -> Result<Pools, String> {
    let admin = spec.with_dbname("pgbouncer");
    let mut client = admin
        .connect_once(Some(options.connect_timeout))
        .map_err(|e| format!("cannot reach PgBouncer's admin console (database pgbouncer): {e}"))?;
    let pools: Rows = show(&mut client, "POOLS")?
        .into_iter()
        .filter(|r| !is_admin(r))
        .collect();
    let pool_sizes = show(&mut client, "DATABASES")?
        .into_iter()
        .filter(|r| !is_admin(r))
        .filter_map(|r| Some((r.get("name")?.clone(), number(&r, "pool_size"))))
        .collect();
    let stats = show(&mut client, "STATS")?
        .into_iter()
        .filter(|r| !is_admin(r))
        .collect();
    Ok(Pools {
        pools,
        pool_sizes,
        stats,
    })
}

fn servers(row: &BTreeMap<String, String>) -> f64 {
    ["sv_active", "sv_idle", "sv_used", "sv_tested", "sv_login"]
        .iter()
        .map(|c| number(row, c))
        .sum()
}

fn clients(row: &BTreeMap<String, String>) -> f64 {
    number(row, "cl_active") + number(row, "cl_waiting")
}

fn pool_name(row: &BTreeMap<String, String>) -> String {
    format!(
        "{}/{}",
        row.get("database").map_or("?", String::as_str),
        row.get("user").map_or("?", String::as_str)
    )
}

/// The pooler checks, or each UNKNOWN with why.
pub fn run(spec: &ConnSpec, options: &HealthOptions) -> Vec<CheckResult> {
    let threshold = |name: &str| super::threshold_for(name, options);
    match read(spec, options) {
        Ok(pools) => vec![
            waiting(&pools, &threshold("pooler_waiting")),
            servers_used(&pools, &threshold("pooler_servers")),
            efficiency(&pools, &threshold("pooler_efficiency")),
        ],
        Err(why) => ["pooler_waiting", "pooler_servers", "pooler_efficiency"]
            .iter()
            .map(|name| outcome(name, &threshold(name), None, why.clone(), Status::Unknown, Vec::new()))
            .collect(),
    }
}

fn outcome(
    name: &str,
    threshold: &Threshold,
    value: Option<f64>,
    message: String,
    at_least: Status,
    details: Vec<String>,
) -> CheckResult {
    let def = registry::get(name);
    let judged = value.map_or(Status::Ok, |v| thresholds::judge(def.direction, threshold, v));
    CheckResult {
        name: name.to_string(),
        status: judged.max(at_least),
        value,
        unit: def.unit,
        message,
        warning: threshold.warning,
        critical: threshold.critical,
        details,
    }
}

// pooler_waiting: clients queued for a server connection, and the longest
// wait (maxwait + maxwait_us). 1 s / 5 s.
fn waiting(pools: &Pools, t: &Threshold) -> CheckResult {
    let mut longest = 0.0;
    let mut waiting = 0.0;
    let mut details = Vec::new();
    for row in &pools.pools {
        let wait = number(row, "maxwait") + number(row, "maxwait_us") / 1e6;
        let queued = number(row, "cl_waiting");
        waiting += queued;
        if queued > 0.0 {
            details.push(format!(
                "{}: {queued} waiting, longest {}",
                pool_name(row),
                format_seconds(wait)
            ));
        }
        longest = f64::max(longest, wait);
    }
    outcome(
        "pooler_waiting",
        t,
        Some(longest),
        format!(
            "{waiting} clients waiting for a server connection, longest wait {}",
            format_seconds(longest)
        ),
        Status::Ok,
        details,
    )
}

// pooler_servers: server connections open against pool_size, in the
// fullest pool (at 100% new transactions queue). 90% / 100%.
fn servers_used(pools: &Pools, t: &Threshold) -> CheckResult {
    let mut fullest: Option<(f64, String)> = None;
    let mut details = Vec::new();
    for row in &pools.pools {
        let database = row.get("database").cloned().unwrap_or_default();
        let Some(size) = pools.pool_sizes.get(&database).copied().filter(|s| *s > 0.0) else {
            continue;
        };
        let used = servers(row);
        let percent = used / size * 100.0;
        let line = format!(
            "{}: {used} of {size} server connections ({percent:.0}%)",
            pool_name(row)
        );
        details.push(line.clone());
        if fullest.as_ref().is_none_or(|(p, _)| percent > *p) {
            fullest = Some((percent, line));
        }
    }
    match fullest {
        Some((percent, line)) => outcome(
            "pooler_servers",
            t,
            Some(percent),
            format!("fullest pool {line}"),
            Status::Ok,
            details,
        ),
        None => outcome(
            "pooler_servers",
            t,
            None,
            "no pool in use yet".into(),
            Status::Ok,
            details,
        ),
    }
}

// pooler_efficiency: 1 - server connections / client connections over all
// pools (docs/operations.md). No default threshold: a quiet pool with few
// clients saves little and is fine; `pooler_efficiency=90` checks a plan's
// "pool efficiency > 90%".
fn efficiency(pools: &Pools, t: &Threshold) -> CheckResult {
    let client_total: f64 = pools.pools.iter().map(clients).sum();
    let server_total: f64 = pools.pools.iter().map(servers).sum();
    let transactions: f64 = pools.stats.iter().map(|r| number(r, "total_xact_count")).sum();
    let queries: f64 = pools.stats.iter().map(|r| number(r, "total_query_count")).sum();
    let served = if server_total > 0.0 {
        format!(
            "; {:.0} transactions and {:.0} queries served per server connection since PgBouncer started",
            transactions / server_total,
            queries / server_total
        )
    } else {
        String::new()
    };
    if client_total <= 0.0 {
        return outcome(
            "pooler_efficiency",
            t,
            None,
            format!("no clients connected{served}"),
            Status::Ok,
            Vec::new(),
        );
    }
    let percent = ((1.0 - server_total / client_total) * 100.0).max(0.0);
    outcome(
        "pooler_efficiency",
        t,
        Some(percent),
        format!("{client_total} clients on {server_total} server connections: {percent:.1}% efficiency{served}"),
        Status::Ok,
        Vec::new(),
    )
}
