//! The checks' queries, one function each, named in the rows of
//! [`super::registry::CHECKS`] with their thresholds. Every query reads
//! catalogs or statistics only, and none calls a function that locks a user
//! table (`pg_relation_size` would queue behind an ACCESS EXCLUSIVE lock).

use std::time::{Duration, Instant};

use postgres::Client;

use super::registry::{self, Check, Probe};
use super::thresholds::{Threshold, judge};
use super::{CheckResult, HealthOptions, Status};
use crate::units::{format_bytes, format_seconds};

/// What a check had to say, before the status is judged.
pub struct Measured {
    pub(super) value: Option<f64>,
    pub(super) message: String,
    pub(super) details: Vec<String>,
    /// A status the value alone does not give (an inactive slot, unreadable
    /// objects); the final status is the worse of the two.
    pub(super) at_least: Status,
}

impl Measured {
    pub(super) fn new(value: Option<f64>, message: impl Into<String>) -> Measured {
        Measured {
            value,
            message: message.into(),
            details: Vec::new(),
            at_least: Status::Ok,
        }
    }
}

/// Why a check could not run.
pub struct CannotRun(pub(super) String);

pub type Outcome = Result<Measured, CannotRun>;

/// What the session may see, asked once.
pub struct Session {
    /// Superuser or member of pg_read_all_stats (pg_monitor includes it):
    /// other roles' sessions show their state and query.
    sees_all_activity: bool,
}

/// How each check's transaction begins: read-only, with timeouts that keep
/// one stuck check from holding up the others or queueing behind (and so
/// in front of) the application's locks.
///
/// One transaction per check, its settings LOCAL to it, so that health works
/// through a transaction-pooling proxy (PgBouncer): nothing it sets
/// outlives the transaction into another client's session, and a check's
/// prepared statement lives and dies on the one server session that runs
/// it. A check that fails aborts only its own transaction.
fn begin_sql(query_timeout: Duration) -> String {
    let statement_ms = query_timeout.as_millis().max(1);
    let lock_ms = statement_ms.min(1000);
    format!(
        "BEGIN READ ONLY; SET LOCAL statement_timeout = {statement_ms}; SET LOCAL lock_timeout = {lock_ms}; \
         SET LOCAL idle_in_transaction_session_timeout = 0"
    )
}

/// Runs `f` inside its own read-only transaction; rolls it back after
/// (nothing was written), whatever `f` found.
fn isolated<T>(client: &mut Client, begin: &str, f: impl FnOnce(&mut Client) -> T) -> Result<T, postgres::Error> {
    client.batch_execute(begin)?;
    let out = f(client);
    client.batch_execute("ROLLBACK")?;
    Ok(out)
}

fn open_session(client: &mut Client, begin: &str) -> Result<Session, postgres::Error> {
    // application_name is one of the settings PgBouncer carries per client.
    client.batch_execute("SET application_name = 'godwit health'")?;
    // The value is taken out inside the transaction: a row keeps its
    // prepared statement alive, and a statement closed after the ROLLBACK
    // would be closed in whichever server session a pooler hands out next,
    // leaving it open in this one.
    isolated(client, begin, |c| {
        c.query_one("SELECT pg_has_role(current_user, 'pg_read_all_stats', 'USAGE')", &[])
            .map(|row| row.get::<_, bool>(0))
    })?
    .map(|sees_all_activity| Session { sees_all_activity })
}

pub(super) fn run_all(client: &mut Client, options: &HealthOptions, connect_seconds: f64) -> Vec<CheckResult> {
    let mut results = Vec::new();
    let threshold = |name: &str| super::threshold_for(name, options);

    let round_trip = Instant::now();
    let begin = begin_sql(options.query_timeout);
    let session = match open_session(client, &begin) {
        Ok(session) => session,
        Err(e) => {
            results.push(result(
                registry::get("connection"),
                &threshold("connection"),
                Err(CannotRun(format!(
                    "connected, but the session could not be set up: {}",
                    describe(&e, "LOGIN")
                ))),
            ));
            results.extend(super::not_run(options, "not run: no usable session"));
            return results;
        }
    };
    let round_trip = round_trip.elapsed().as_secs_f64();
    results.push(result(
        registry::get("connection"),
        &threshold("connection"),
        Ok(Measured::new(
            Some(connect_seconds + round_trip),
            format!(
                "connected in {}, round trip {}",
                format_seconds(connect_seconds),
                format_seconds(round_trip)
            ),
        )),
    ));

    for check in registry::CHECKS {
        if !super::applies(check, options) {
            continue;
        }
        match check.probe {
            Probe::Query(measure) => {
                let t = threshold(check.name);
                let outcome = isolated(client, &begin, |c| measure(c, &session, &t))
                    .unwrap_or_else(|e| Err(CannotRun(describe(&e, "LOGIN"))));
                results.push(result(check, &t, outcome));
            }
            Probe::Rule(rule) => {
                let t = Threshold::default();
                let found = isolated(client, &begin, |c| super::security::check(c, check, rule))
                    .unwrap_or_else(|e| result(check, &t, Err(CannotRun(describe(&e, "LOGIN")))));
                results.push(found);
            }
            // Measured above, and after the session.
            Probe::Connection | Probe::Backups | Probe::Pooler => {}
        }
    }
    results
}

fn result(def: &Check, threshold: &Threshold, outcome: Outcome) -> CheckResult {
    let (status, value, message, details) = match outcome {
        Ok(m) => {
            let judged = m.value.map_or(Status::Ok, |v| judge(def.direction, threshold, v));
            (judged.max(m.at_least), m.value, m.message, m.details)
        }
        Err(CannotRun(why)) => (Status::Unknown, None, why, Vec::new()),
    };
    CheckResult {
        name: def.name.to_string(),
        status,
        value,
        unit: def.unit,
        message,
        warning: threshold.warning,
        critical: threshold.critical,
        details,
    }
}

/// Turns a query error into the reason a check is UNKNOWN, naming the
/// privilege it needs when that is what was missing.
fn describe(err: &postgres::Error, needs: &str) -> String {
    match err.code().map(|c| c.code()) {
        Some("42501") => format!("could not run: permission denied; needs {needs}"),
        Some("57014") => "could not run: timed out (statement_timeout)".into(),
        Some("55P03") => "could not run: a lock it needs is held (lock_timeout); nothing waited".into(),
        _ => format!("could not run: {}", crate::postgres::conn::describe_pg_error(err)),
    }
}

pub(super) fn query(client: &mut Client, sql: &str, needs: &str) -> Result<Vec<postgres::Row>, CannotRun> {
    client.query(sql, &[]).map_err(|e| CannotRun(describe(&e, needs)))
}

/// Limits in messages: "(warning 60s, critical 5min)".
pub(super) fn limits(unit: super::Unit, t: &Threshold) -> String {
    let show = |v: f64| match unit {
        super::Unit::Seconds => format_seconds(v),
        super::Unit::Percent => format!("{v}%"),
        super::Unit::Bytes => format_bytes(v),
        super::Unit::Count => format!("{v}"),
    };
    match (t.warning, t.critical) {
        (Some(w), Some(c)) => format!(" (warning {}, critical {})", show(w), show(c)),
        (Some(w), None) => format!(" (warning {})", show(w)),
        (None, Some(c)) => format!(" (critical {})", show(c)),
        (None, None) => String::new(),
    }
}

const NEEDS_STATS: &str = "pg_read_all_stats (granted by pg_monitor) to see other roles' sessions";

/// Without pg_read_all_stats, other roles' sessions show no state or query:
/// the session-age checks cannot see them and say so.
fn unseen_sessions(session: &Session, m: &mut Measured) {
    if !session.sees_all_activity {
        m.at_least = Status::Unknown;
        m.message
            .push_str(&format!("; other roles' sessions unseen: needs {NEEDS_STATS}"));
    }
}

// connections: client backends against max_connections. 90% / 95%.
pub(super) fn connections(client: &mut Client, _: &Session, t: &Threshold) -> Outcome {
    let rows = query(
        client,
        "SELECT count(*)::float8, current_setting('max_connections')::float8 \
         FROM pg_stat_activity WHERE backend_type = 'client backend'",
        "pg_monitor",
    )?;
    let (used, max): (f64, f64) = (rows[0].get(0), rows[0].get(1));
    let percent = if max > 0.0 { used / max * 100.0 } else { 0.0 };
    Ok(Measured::new(
        Some(percent),
        format!(
            "{used} of {max} connections in use ({percent:.0}%){}",
            limits(super::Unit::Percent, t)
        ),
    ))
}

/// The sessions of one kind with their age in seconds, oldest first.
fn session_ages(client: &mut Client, sql: &str) -> Result<Vec<(i32, f64, String)>, CannotRun> {
    Ok(query(client, sql, NEEDS_STATS)?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

fn age_check(client: &mut Client, session: &Session, t: &Threshold, sql: &str, what: &str) -> Outcome {
    let sessions = session_ages(client, sql)?;
    let oldest = sessions.first().map_or(0.0, |s| s.1);
    let mut m = match sessions.first() {
        None => Measured::new(Some(0.0), format!("no {what}")),
        Some((pid, age, text)) => Measured::new(
            Some(oldest),
            format!(
                "{} {what}, oldest {} (pid {pid}: {text}){}",
                sessions.len(),
                format_seconds(*age),
                limits(super::Unit::Seconds, t)
            ),
        ),
    };
    m.details = sessions
        .iter()
        .take(10)
        .map(|(pid, age, text)| format!("pid {pid}, {}: {text}", format_seconds(*age)))
        .collect();
    unseen_sessions(session, &mut m);
    Ok(m)
}

// long_running_queries: active queries by age. 60 s / 5 min.
pub(super) fn long_running_queries(client: &mut Client, session: &Session, t: &Threshold) -> Outcome {
    age_check(
        client,
        session,
        t,
        "SELECT pid, extract(epoch FROM now() - query_start)::float8 AS age, \
                coalesce(usename, '?') || '@' || coalesce(datname, '?') || ' ' || left(regexp_replace(query, '\\s+', ' ', 'g'), 80) \
         FROM pg_stat_activity \
         WHERE state = 'active' AND backend_type = 'client backend' AND pid <> pg_backend_pid() \
           AND query_start IS NOT NULL \
         ORDER BY age DESC",
        "active queries",
    )
}

// idle_in_transaction: sessions idle inside a transaction, since their last
// statement. 60 s / 10 min.
pub(super) fn idle_in_transaction(client: &mut Client, session: &Session, t: &Threshold) -> Outcome {
    age_check(
        client,
        session,
        t,
        "SELECT pid, extract(epoch FROM now() - state_change)::float8 AS age, \
                coalesce(usename, '?') || '@' || coalesce(datname, '?') || ' last: ' || left(regexp_replace(query, '\\s+', ' ', 'g'), 80) \
         FROM pg_stat_activity \
         WHERE state IN ('idle in transaction', 'idle in transaction (aborted)') AND state_change IS NOT NULL \
         ORDER BY age DESC",
        "sessions idle in transaction",
    )
}

// blocked_queries: time waiting for a lock (pg_locks.waitstart), with the
// pids that block it. 10 s / 1 min.
pub(super) fn blocked_queries(client: &mut Client, session: &Session, t: &Threshold) -> Outcome {
    age_check(
        client,
        session,
        t,
        "SELECT a.pid, extract(epoch FROM now() - coalesce(w.since, a.query_start, now()))::float8 AS age, \
                'blocked by ' || array_to_string(pg_blocking_pids(a.pid), ',') || ': ' || left(regexp_replace(a.query, '\\s+', ' ', 'g'), 80) \
         FROM pg_stat_activity a \
         CROSS JOIN LATERAL (SELECT min(l.waitstart) AS since FROM pg_locks l WHERE l.pid = a.pid AND NOT l.granted) w \
         WHERE a.wait_event_type = 'Lock' AND a.pid <> pg_backend_pid() \
         ORDER BY age DESC",
        "queries waiting on a lock",
    )
}

// xid_wraparound: the oldest datfrozenxid's age against
// autovacuum_freeze_max_age (autovacuum forces a freeze at 100%; the server
// stops accepting writes near 2^31). 200% / 500%.
pub(super) fn xid_wraparound(client: &mut Client, _: &Session, t: &Threshold) -> Outcome {
    let rows = query(
        client,
        "SELECT datname::text, age(datfrozenxid)::float8, current_setting('autovacuum_freeze_max_age')::float8 \
         FROM pg_database ORDER BY 2 DESC LIMIT 1",
        "pg_monitor",
    )?;
    let (db, age, freeze_max): (String, f64, f64) = (rows[0].get(0), rows[0].get(1), rows[0].get(2));
    let percent = age / freeze_max * 100.0;
    let left = 2_147_483_647.0 - age;
    Ok(Measured::new(
        Some(percent),
        format!(
            "oldest: database {db} at xid age {age:.0}, {percent:.0}% of autovacuum_freeze_max_age {freeze_max:.0}; \
             {left:.0} left before wraparound{}",
            limits(super::Unit::Percent, t)
        ),
    ))
}

// sequences: last value against the lower of the sequence's maximum and its
// owning column's type maximum (a bigint sequence feeding an integer column
// fails at 2^31). 85% / 95%. Sequences this role cannot read are UNKNOWN.
pub(super) fn sequences(client: &mut Client, _: &Session, t: &Threshold) -> Outcome {
    let rows = query(
        client,
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), \
                has_sequence_privilege(c.oid, 'SELECT, USAGE') AS readable, \
                CASE WHEN has_sequence_privilege(c.oid, 'SELECT, USAGE') \
                     THEN pg_sequence_last_value(c.oid)::float8 END AS last_value, \
                s.seqmax::float8, s.seqincrement::float8, \
                coalesce(quote_ident(tn.nspname) || '.' || quote_ident(t.relname) || '.' || quote_ident(a.attname), ''), \
                CASE a.atttypid WHEN 'int2'::regtype THEN 32767::float8 WHEN 'int4'::regtype THEN 2147483647::float8 END \
         FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_sequence s ON s.seqrelid = c.oid \
         LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid \
              AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') \
         LEFT JOIN pg_class t ON t.oid = d.refobjid \
         LEFT JOIN pg_namespace tn ON tn.oid = t.relnamespace \
         LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid \
         WHERE c.relkind = 'S' AND n.nspname NOT IN ('pg_catalog', 'information_schema')",
        "SELECT on the sequences (or pg_read_all_data)",
    )?;
    let mut used: Vec<(f64, String)> = Vec::new();
    let mut unreadable = Vec::new();
    for r in &rows {
        let name: String = r.get(0);
        let readable: bool = r.get(1);
        if !readable {
            unreadable.push(name);
            continue;
        }
        let increment: f64 = r.get(4);
        let Some(last) = r.get::<_, Option<f64>>(2) else {
            continue; // never used
        };
        if increment < 0.0 {
            continue; // descending sequences count down towards their minimum; rare
        }
        let column: String = r.get(5);
        let limit = match r.get::<_, Option<f64>>(6) {
            Some(type_max) => type_max.min(r.get::<_, f64>(3)),
            None => r.get(3),
        };
        let percent = last / limit * 100.0;
        let owner = if column.is_empty() {
            String::new()
        } else {
            format!(" for {column}")
        };
        used.push((
            percent,
            format!("{name}{owner} at {last:.0} of {limit:.0} ({percent:.1}%)"),
        ));
    }
    used.sort_by(|a, b| b.0.total_cmp(&a.0));
    let top = used.first().map_or(0.0, |u| u.0);
    let mut m = match used.first() {
        None => Measured::new(Some(0.0), "no sequence in use"),
        Some((_, text)) => Measured::new(Some(top), format!("fullest: {text}{}", limits(super::Unit::Percent, t))),
    };
    m.details = used.iter().take(10).map(|u| u.1.clone()).collect();
    if !unreadable.is_empty() {
        m.at_least = Status::Unknown;
        m.message.push_str(&format!(
            "; {} sequences not readable ({}...): needs SELECT on them (or pg_read_all_data)",
            unreadable.len(),
            unreadable[0]
        ));
    }
    Ok(m)
}

fn named_objects(client: &mut Client, sql: &str, what: &str, fix: &str) -> Outcome {
    let names: Vec<String> = query(client, sql, "pg_monitor")?.iter().map(|r| r.get(0)).collect();
    let count = f64::from(u32::try_from(names.len()).unwrap_or(u32::MAX));
    let mut m = if names.is_empty() {
        Measured::new(Some(0.0), format!("no {what}"))
    } else {
        Measured::new(
            Some(count),
            format!(
                "{} {what}: {}; {fix}",
                names.len(),
                names.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
            ),
        )
    };
    m.details = names;
    Ok(m)
}

// invalid_indexes: indexes a failed CREATE INDEX CONCURRENTLY left behind
// (not those being built right now). Any is a warning.
pub(super) fn invalid_indexes(client: &mut Client, _: &Session, _: &Threshold) -> Outcome {
    named_objects(
        client,
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) || ' on ' || i.indrelid::regclass::text \
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE NOT i.indisvalid \
           AND NOT EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE p.index_relid = i.indexrelid) \
         ORDER BY 1",
        "invalid indexes",
        "drop and recreate them, or run godwit maintain (REINDEX CONCURRENTLY)",
    )
}

// not_valid_constraints: foreign keys and checks never validated. Any is a
// warning.
pub(super) fn not_valid_constraints(client: &mut Client, _: &Session, _: &Threshold) -> Outcome {
    named_objects(
        client,
        "SELECT quote_ident(conname) || ' on ' || conrelid::regclass::text \
         FROM pg_constraint WHERE NOT convalidated AND contype IN ('f', 'c') ORDER BY 1",
        "NOT VALID constraints",
        "run godwit maintain (VALIDATE CONSTRAINT) once violating rows are fixed",
    )
}

/// Fewer block reads than this and the ratio means nothing (a fresh start).
const CACHE_HIT_MIN_BLOCKS: f64 = 10_000.0;

// cache_hit: blks_hit / (blks_hit + blks_read) of this database, once it
// has read enough blocks to judge. Below 99% / 95%.
pub(super) fn cache_hit(client: &mut Client, _: &Session, t: &Threshold) -> Outcome {
    let rows = query(
        client,
        "SELECT blks_hit::float8, blks_read::float8 FROM pg_stat_database WHERE datname = current_database()",
        "pg_monitor",
    )?;
    let Some(row) = rows.first() else {
        return Ok(Measured::new(None, "no statistics for this database yet"));
    };
    let (hit, read): (f64, f64) = (row.get(0), row.get(1));
    let total = hit + read;
    if total < CACHE_HIT_MIN_BLOCKS {
        return Ok(Measured::new(
            None,
            format!("only {total:.0} block reads so far; judged from {CACHE_HIT_MIN_BLOCKS:.0}"),
        ));
    }
    let percent = hit / total * 100.0;
    Ok(Measured::new(
        Some(percent),
        format!(
            "{percent:.2}% of {total:.0} block reads from cache{}",
            limits(super::Unit::Percent, t)
        ),
    ))
}

// prepared_transactions: the oldest two-phase transaction left prepared;
// it holds locks and the xmin horizon. 1 s / 30 s (check_postgres's).
pub(super) fn prepared_transactions(client: &mut Client, _: &Session, t: &Threshold) -> Outcome {
    let rows = query(
        client,
        "SELECT gid, extract(epoch FROM now() - prepared)::float8, database::text FROM pg_prepared_xacts ORDER BY 2 DESC",
        "pg_monitor",
    )?;
    let Some(first) = rows.first() else {
        return Ok(Measured::new(Some(0.0), "no prepared transactions"));
    };
    let (gid, age, db): (String, f64, String) = (first.get(0), first.get(1), first.get(2));
    Ok(Measured::new(
        Some(age),
        format!(
            "{} prepared transactions, oldest {} ({gid} in {db}){}",
            rows.len(),
            format_seconds(age),
            limits(super::Unit::Seconds, t)
        ),
    ))
}

// autovacuum: off means dead tuples pile up and wraparound is only
// prevented by emergency freezes. Off is a warning.
pub(super) fn autovacuum(client: &mut Client, _: &Session, _: &Threshold) -> Outcome {
    let on: bool = query(client, "SELECT current_setting('autovacuum') = 'on'", "pg_monitor")?[0].get(0);
    let mut m = Measured::new(None, if on { "autovacuum is on" } else { "autovacuum is off" });
    if !on {
        m.at_least = Status::Warning;
    }
    Ok(m)
}

// partitions: see super::partitions.
pub(super) fn partitions(client: &mut Client, _: &Session, _: &Threshold) -> Outcome {
    let found = super::partitions::measure(client).map_err(CannotRun)?;
    let mut m = Measured::new(Some(found.value), found.message);
    m.details = found.details;
    if found.warn {
        m.at_least = Status::Warning;
    }
    Ok(m)
}

// database_size: pg_database_size, only when thresholds are given.
pub(super) fn database_size(client: &mut Client, _: &Session, t: &Threshold) -> Outcome {
    let size: f64 = query(
        client,
        "SELECT pg_database_size(current_database())::float8",
        "CONNECT on the database (or pg_read_all_stats)",
    )?[0]
        .get(0);
    Ok(Measured::new(
        Some(size),
        format!("{}{}", format_bytes(size), limits(super::Unit::Bytes, t)),
    ))
}
