//! Every health check, one row each: its name, what measures it, its unit,
//! which way is worse, its default thresholds, when it runs, and its help.
//! Dispatch (`health::run`), the checks left UNKNOWN without a session,
//! `--threshold` parsing, `health --list` and `--help`, and the tables in
//! docs/operations.md and docs/security.md all read this list, so adding a
//! check is one row here and one function beside the others (as
//! check_postgres and pghero keep one query per check).
//!
//! The order of the rows is the order checks run and are reported in (a
//! report sorts worst first, keeping this order among equals).

use postgres::Client;

use super::checks::{self, Outcome, Session};
use super::replication;
use super::security::{self, Rule};
use super::thresholds::{Direction, Threshold, Unit};

/// What measures a check.
pub enum Probe {
    /// Connecting and one round trip, measured by `health::run` itself.
    Connection,
    /// One query (or a few) in the health session.
    Query(fn(&mut Client, &Session, &Threshold) -> Outcome),
    /// A security rule: a query returning the offending objects; any is a
    /// WARNING. `inspect --kind security` lists them as findings.
    Rule(&'static Rule),
    /// Reads the backup location, not the database.
    Backups,
    /// Reads PgBouncer's admin console (`--pooler`), not the database.
    Pooler,
}

/// When a check runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runs {
    Always,
    /// Only when a threshold is given for it (flag or godwit.toml).
    WithThreshold,
    /// Only with `--backups` (or `[health] backups`).
    WithBackups,
    /// Only with `--pooler`.
    WithPooler,
}

pub struct Check {
    pub name: &'static str,
    pub probe: Probe,
    pub unit: Unit,
    pub direction: Direction,
    pub default: Threshold,
    pub runs: Runs,
    /// One line: `health --list`, and the message of a passing security rule.
    pub help: &'static str,
    /// The docs table's cell: what exactly the query measures (Markdown).
    pub doc: &'static str,
}

impl Check {
    /// Whether it needs the database session (UNKNOWN without one).
    pub fn needs_database(&self) -> bool {
        !matches!(self.probe, Probe::Backups | Probe::Pooler)
    }

    /// Whether `--threshold` may set its levels: security rules have none.
    pub fn takes_thresholds(&self) -> bool {
        !matches!(self.probe, Probe::Rule(_))
    }

    pub fn is_security(&self) -> bool {
        matches!(self.probe, Probe::Rule(_))
    }
}

use Direction::{HigherIsWorse, LowerIsWorse};
use Unit::{Bytes, Count, Percent, Seconds};

const fn measured(
    name: &'static str,
    probe: Probe,
    unit: Unit,
    direction: Direction,
    default: Threshold,
    help: &'static str,
    doc: &'static str,
) -> Check {
    Check {
        name,
        probe,
        unit,
        direction,
        default,
        runs: Runs::Always,
        help,
        doc,
    }
}

const fn rule(name: &'static str, rule: &'static Rule, help: &'static str, doc: &'static str) -> Check {
    Check {
        name,
        probe: Probe::Rule(rule),
        unit: Count,
        direction: HigherIsWorse,
        default: Threshold::NONE,
        runs: Runs::Always,
        help,
        doc,
    }
}

/// Every check, in the order they run and are reported.
pub const CHECKS: &[Check] = &[
    measured(
        "connection",
        Probe::Connection,
        Seconds,
        HigherIsWorse,
        Threshold::NONE,
        "connect and round-trip time",
        "connect time plus one round trip; CRITICAL when it fails",
    ),
    measured(
        "connections",
        Probe::Query(checks::connections),
        Percent,
        HigherIsWorse,
        Threshold::both(90.0, 95.0),
        "client connections in use against max_connections",
        "client backends in `pg_stat_activity` against `max_connections`",
    ),
    measured(
        "long_running_queries",
        Probe::Query(checks::long_running_queries),
        Seconds,
        HigherIsWorse,
        Threshold::both(60.0, 300.0),
        "age of the oldest active query",
        "age of the oldest `active` query (`now() - query_start`), with pid, user, database and query",
    ),
    measured(
        "idle_in_transaction",
        Probe::Query(checks::idle_in_transaction),
        Seconds,
        HigherIsWorse,
        Threshold::both(60.0, 600.0),
        "longest time a session sits idle inside a transaction",
        "longest time a session has sat `idle in transaction` (`now() - state_change`)",
    ),
    measured(
        "blocked_queries",
        Probe::Query(checks::blocked_queries),
        Seconds,
        HigherIsWorse,
        Threshold::both(10.0, 60.0),
        "longest wait on a lock, with who blocks it",
        "longest wait on a lock (`pg_locks.waitstart`), with `pg_blocking_pids`",
    ),
    measured(
        "xid_wraparound",
        Probe::Query(checks::xid_wraparound),
        Percent,
        HigherIsWorse,
        Threshold::both(200.0, 500.0),
        "oldest database's transaction-id age against autovacuum_freeze_max_age",
        "oldest `age(datfrozenxid)` of any database, as % of `autovacuum_freeze_max_age`; the message says how \
         many xids are left before wraparound",
    ),
    measured(
        "sequences",
        Probe::Query(checks::sequences),
        Percent,
        HigherIsWorse,
        Threshold::both(85.0, 95.0),
        "each sequence's value against its column type's maximum",
        "each sequence's last value against the lower of its own maximum and its owning column's type maximum \
         (a bigint sequence behind an `integer` column fails at 2^31), naming table and column",
    ),
    measured(
        "invalid_indexes",
        Probe::Query(checks::invalid_indexes),
        Count,
        HigherIsWorse,
        Threshold::warning_only(1.0),
        "indexes left invalid by a failed CREATE INDEX CONCURRENTLY",
        "indexes with `indisvalid = false` that no `CREATE INDEX` is building right now",
    ),
    measured(
        "not_valid_constraints",
        Probe::Query(checks::not_valid_constraints),
        Count,
        HigherIsWorse,
        Threshold::warning_only(1.0),
        "foreign keys and checks added NOT VALID and never validated",
        "foreign keys and checks with `convalidated = false`",
    ),
    measured(
        "cache_hit",
        Probe::Query(checks::cache_hit),
        Percent,
        LowerIsWorse,
        Threshold::both(99.0, 95.0),
        "share of block reads served from shared buffers",
        "`blks_hit / (blks_hit + blks_read)` of the database, once it has read 10,000 blocks",
    ),
    measured(
        "replication",
        Probe::Query(replication::replication),
        Seconds,
        HigherIsWorse,
        Threshold::both(60.0, 300.0),
        "each standby's replay lag in time (on a standby: since the last replayed transaction while behind)",
        "on a primary: each standby's `replay_lag` (PostgreSQL interpolates it while replay is stuck, so a paused \
         standby's lag grows); on a standby: the time since the last replayed transaction while received WAL \
         waits to be replayed (0 when caught up)",
    ),
    measured(
        "replication_lag_bytes",
        Probe::Query(replication::replication_lag_bytes),
        Bytes,
        HigherIsWorse,
        Threshold::both(100.0 * 1024.0 * 1024.0, 1024.0 * 1024.0 * 1024.0),
        "each standby's WAL not yet replayed, in bytes",
        "on a primary: each standby's `pg_current_wal_lsn() - replay_lsn`, the standbys named in the details; on \
         a standby: WAL received and not yet replayed",
    ),
    Check {
        runs: Runs::WithThreshold,
        ..measured(
            "replicas",
            Probe::Query(replication::replicas),
            Count,
            LowerIsWorse,
            Threshold::NONE,
            "standbys streaming against the number expected (only with replicas=N: fewer is critical)",
            "standbys `streaming` in `pg_stat_replication` against the number expected; only with \
             `--threshold replicas=N`, where one value means fewer than N is CRITICAL",
        )
    },
    measured(
        "replication_slots",
        Probe::Query(replication::replication_slots),
        Bytes,
        HigherIsWorse,
        Threshold::both(1024.0 * 1024.0 * 1024.0, 10.0 * 1024.0 * 1024.0 * 1024.0),
        "replication slots no one uses, and the WAL they keep (any is a warning)",
        "slots no one streams from and the WAL each keeps (`restart_lsn` to now); any is a warning, a slot whose \
         WAL is gone (`wal_status = lost`) is critical",
    ),
    measured(
        "standby_receiver",
        Probe::Query(replication::standby_receiver),
        Count,
        HigherIsWorse,
        Threshold::NONE,
        "on a standby: its WAL receiver is streaming from the primary",
        "on a standby: `pg_stat_wal_receiver` has a receiver and it is `streaming`; none, or another state, is \
         critical",
    ),
    measured(
        "replay_paused",
        Probe::Query(replication::replay_paused),
        Count,
        HigherIsWorse,
        Threshold::NONE,
        "on a standby: WAL replay is not paused",
        "on a standby: `pg_get_wal_replay_pause_state()`; paused is a warning",
    ),
    measured(
        "prepared_transactions",
        Probe::Query(checks::prepared_transactions),
        Seconds,
        HigherIsWorse,
        // check_postgres's defaults.
        Threshold::both(1.0, 30.0),
        "age of the oldest prepared (two-phase) transaction",
        "age of the oldest two-phase transaction left prepared",
    ),
    measured(
        "autovacuum",
        Probe::Query(checks::autovacuum),
        Count,
        HigherIsWorse,
        Threshold::NONE,
        "autovacuum is on",
        "`autovacuum` is on; off is a warning",
    ),
    Check {
        runs: Runs::WithThreshold,
        ..measured(
            "database_size",
            Probe::Query(checks::database_size),
            Bytes,
            HigherIsWorse,
            Threshold::NONE,
            "size of the database (only with thresholds)",
            "`pg_database_size`; only runs when a threshold is given",
        )
    },
    Check {
        // Any row in a default partition is critical; fewer partitions
        // ahead than premake, or a pending detach, is a warning.
        default: Threshold {
            warning: None,
            critical: Some(1.0),
        },
        ..measured(
            "partitions",
            Probe::Query(checks::partitions),
            Count,
            HigherIsWorse,
            Threshold::NONE,
            "rows in default partitions; fewer partitions ahead than premake",
            "for the time-partitioned tables godwit made ([partitions.md](partitions.md)): rows in a default \
             partition (counted up to 1,000) are critical; fewer partitions ahead of the current interval than \
             `premake`, or a detach left pending, is a warning",
        )
    },
    rule(
        "app_role",
        &security::APP_ROLE,
        "the application connects as neither a superuser nor the owner of its tables",
        "the roles connected to this database (but `psql`, `pg_dump`, `pg_restore` and godwit itself) and the \
         connecting role are neither superusers nor owners of tables here",
    ),
    rule(
        "superusers",
        &security::SUPERUSERS,
        "one superuser that can log in, the bootstrap one",
        "one superuser with LOGIN (the bootstrap one)",
    ),
    rule(
        "pg_hba",
        &security::PG_HBA,
        "no trust, password or md5 login beyond local sockets and loopback, and no `host all all 0.0.0.0/0`",
        "no `trust`, `password` or `md5` line beyond local sockets and loopback (`127.0.0.0/8`, `::1`, \
         `localhost`, `samehost`); no `host all all 0.0.0.0/0` (or `::/0`, `all`), whatever the method",
    ),
    rule(
        "password_encryption",
        &security::PASSWORD_ENCRYPTION,
        "new passwords are stored as SCRAM-SHA-256",
        "`password_encryption` is `scram-sha-256`",
    ),
    rule(
        "md5_passwords",
        &security::MD5_PASSWORDS,
        "no role keeps an md5 password hash",
        "no role keeps an md5 hash (needs superuser: `pg_authid`)",
    ),
    rule(
        "ssl",
        &security::SSL,
        "TLS is on whenever the server listens beyond loopback",
        "`ssl = on` whenever `listen_addresses` is not loopback only",
    ),
    rule(
        "schema_create",
        &security::SCHEMA_CREATE,
        "PUBLIC may not CREATE in any schema (public included)",
        "PUBLIC may not CREATE in any schema, `public` included",
    ),
    rule(
        "security_definer",
        &security::SECURITY_DEFINER,
        "every SECURITY DEFINER function fixes its search_path",
        "every SECURITY DEFINER function (not an extension's) has `SET search_path`",
    ),
    rule(
        "connection_logging",
        &security::CONNECTION_LOGGING,
        "connections and disconnections are logged, as an audit trail needs",
        "`log_connections` and `log_disconnections` on, as an audit trail needs",
    ),
    rule(
        "extension_updates",
        &security::EXTENSION_UPDATES,
        "every extension runs the version its installed package provides",
        "each extension at the version its installed package provides (`ALTER EXTENSION ... UPDATE`)",
    ),
    Check {
        runs: Runs::WithPooler,
        ..measured(
            "pooler_waiting",
            Probe::Pooler,
            Seconds,
            HigherIsWorse,
            Threshold::both(1.0, 5.0),
            "clients waiting for a server connection in PgBouncer, and the longest wait (with --pooler)",
            "with `--pooler URL`: clients waiting for a server connection in PgBouncer (`SHOW POOLS` \
             `cl_waiting`) and the longest wait (`maxwait`)",
        )
    },
    Check {
        runs: Runs::WithPooler,
        ..measured(
            "pooler_servers",
            Probe::Pooler,
            Percent,
            HigherIsWorse,
            Threshold::both(90.0, 100.0),
            "PgBouncer's server connections open against the pool size, fullest pool (with --pooler)",
            "with `--pooler URL`: server connections open against `pool_size`, fullest pool",
        )
    },
    Check {
        runs: Runs::WithPooler,
        ..measured(
            "pooler_efficiency",
            Probe::Pooler,
            Percent,
            LowerIsWorse,
            Threshold::NONE,
            "1 - server connections / client connections in PgBouncer (with --pooler)",
            "with `--pooler URL`: 1 − server connections / client connections (see \"A connection pooler\"); no \
             default threshold",
        )
    },
    Check {
        name: "last_backup",
        probe: Probe::Backups,
        unit: Seconds,
        direction: HigherIsWorse,
        // A daily backup that missed one run warns; two runs is critical.
        default: Threshold::both(26.0 * 3600.0, 50.0 * 3600.0),
        runs: Runs::WithBackups,
        help: "age of the newest complete backup, and whether it was verified (with --backups)",
        doc: "with `--backups DIR`: the newest complete backup's age and whether it was verified; none at all is \
              critical",
    },
];

/// The row of a known check.
pub fn get(name: &str) -> &'static Check {
    find(name).unwrap_or_else(|| panic!("health check {name} is not in the registry"))
}

pub fn find(name: &str) -> Option<&'static Check> {
    CHECKS.iter().find(|c| c.name == name)
}

/// The default thresholds as the docs write them: `60s / 5min`, `below 99% / 95%`.
fn limits_text(check: &Check) -> String {
    let show = |v: f64| match check.unit {
        Seconds if v >= 3600.0 && v % 3600.0 == 0.0 => format!("{} h", v / 3600.0),
        Seconds if v >= 120.0 && v % 60.0 == 0.0 => format!("{} min", v / 60.0),
        Seconds => format!("{v} s"),
        Percent => format!("{v}%"),
        Bytes => crate::units::format_bytes(v),
        Count => format!("{v}"),
    };
    let below = if check.direction == LowerIsWorse { "below " } else { "" };
    match (check.default.warning, check.default.critical) {
        (Some(w), None) if check.unit == Count && w <= 1.0 => "any is a warning".into(),
        (Some(w), Some(c)) => format!("{below}{} / {}", show(w), show(c)),
        (Some(w), None) => format!("{below}{} / –", show(w)),
        (None, Some(c)) => format!("{below}– / {}", show(c)),
        (None, None) => "–".into(),
    }
}

/// The checks table of docs/operations.md (security rules excepted).
pub fn docs_table() -> String {
    let mut out = String::from("| check | what the query measures | warning / critical |\n|---|---|---|\n");
    for c in CHECKS.iter().filter(|c| !c.is_security()) {
        out.push_str(&format!("| `{}` | {} | {} |\n", c.name, c.doc, limits_text(c)));
    }
    out
}

/// The rules table of docs/security.md.
pub fn security_docs_table() -> String {
    let mut out = String::from("| check | wants | CIS / pgdsat |\n|---|---|---|\n");
    for c in CHECKS {
        if let Probe::Rule(rule) = c.probe {
            out.push_str(&format!("| `{}` | {} | {} |\n", c.name, c.doc, rule.reference));
        }
    }
    out
}

/// `health --list`: one line per check with its unit, default levels and help.
pub fn list() -> String {
    let width = CHECKS.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for c in CHECKS {
        let unit = match c.unit {
            Seconds => "seconds",
            Percent => "percent",
            Bytes => "bytes",
            Count => "count",
        };
        let limits = if c.is_security() {
            "any is a warning".to_string()
        } else {
            limits_text(c)
        };
        out.push_str(&format!("{:<width$}  {unit:<7}  {limits:<18}  {}\n", c.name, c.help));
    }
    out
}

/// The names for `health --help`: the checks, then the security rules,
/// each wrapped at 100 columns.
pub fn help_names() -> String {
    let named = |c: &Check| match c.runs {
        Runs::Always => c.name.to_string(),
        Runs::WithThreshold => format!("{} (with a threshold)", c.name),
        Runs::WithBackups => format!("{} (with --backups)", c.name),
        Runs::WithPooler => format!("{} (with --pooler)", c.name),
    };
    let checks: Vec<String> = CHECKS.iter().filter(|c| !c.is_security()).map(named).collect();
    let rules: Vec<String> = CHECKS.iter().filter(|c| c.is_security()).map(named).collect();
    format!(
        "{}\n{}",
        crate::units::wrap(&format!("Checks: {}.", checks.join(", ")), 100),
        crate::units::wrap(
            &format!(
                "Security (WARNING when a rule fails, see docs/security.md): {}.",
                rules.join(", ")
            ),
            100
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_levels_ordered() {
        let mut names = std::collections::BTreeSet::new();
        for c in CHECKS {
            assert!(names.insert(c.name), "{} twice", c.name);
            if let (Some(w), Some(c2)) = (c.default.warning, c.default.critical) {
                match c.direction {
                    HigherIsWorse => assert!(w <= c2, "{}", c.name),
                    LowerIsWorse => assert!(w >= c2, "{}", c.name),
                }
            }
        }
        assert!(matches!(CHECKS[0].probe, Probe::Connection));
    }
}
