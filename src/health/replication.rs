//! The replication checks, on a primary and on a standby. Each reads
//! statistics views a pg_monitor role can read in full (pg_stat_replication
//! and pg_stat_wal_receiver hide their details from roles without
//! pg_read_all_stats, and then the check says so rather than guessing).
//!
//! On a primary: each standby's lag in time (`replication`) and in bytes
//! (`replication_lag_bytes`), the streaming standbys against the number
//! expected (`replicas`), and slots no one uses that keep WAL
//! (`replication_slots`). On a standby: its lag as the time since the last
//! transaction it replayed while behind, the bytes received but not
//! replayed, its WAL receiver (`standby_receiver`) and whether replay is
//! paused (`replay_paused`).

use postgres::Client;

use super::Status;
use super::checks::{CannotRun, Measured, Outcome, Session, limits, query};
use super::thresholds::{Threshold, Unit};
use crate::units::{format_bytes, format_seconds};

const NEEDS: &str = "pg_read_all_stats (granted by pg_monitor)";

fn in_recovery(client: &mut Client) -> Result<bool, CannotRun> {
    Ok(query(client, "SELECT pg_is_in_recovery()", "pg_monitor")?[0].get(0))
}

/// One standby as the primary sees it.
struct StandbyRow {
    name: String,
    state: Option<String>,
    behind_bytes: Option<f64>,
    replay_lag: Option<f64>,
}

impl StandbyRow {
    fn describe(&self) -> String {
        format!(
            "{}: {}, {} behind, replay lag {}",
            self.name,
            self.state.as_deref().unwrap_or("state unseen"),
            self.behind_bytes.map_or("?".into(), format_bytes),
            self.replay_lag.map_or("none measured".into(), format_seconds)
        )
    }
}

/// The standbys connected to this primary, most behind first.
fn standbys(client: &mut Client) -> Result<Vec<StandbyRow>, CannotRun> {
    let rows = query(
        client,
        "SELECT coalesce(nullif(application_name, ''), 'pid ' || pid) || ' (' || coalesce(client_addr::text, 'local') || ')', \
                state, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::float8, \
                extract(epoch FROM replay_lag)::float8 \
         FROM pg_stat_replication \
         ORDER BY 3 DESC NULLS FIRST, 4 DESC NULLS LAST",
        NEEDS,
    )?;
    Ok(rows
        .iter()
        .map(|r| StandbyRow {
            name: r.get(0),
            state: r.get(1),
            behind_bytes: r.get(2),
            replay_lag: r.get(3),
        })
        .collect())
}

/// Without pg_read_all_stats the rows exist but their positions are NULL.
fn unseen(rows: &[StandbyRow]) -> bool {
    rows.iter().any(|r| r.state.is_none())
}

fn needs_stats(m: &mut Measured) {
    m.at_least = m.at_least.max(Status::Unknown);
    m.message
        .push_str(&format!("; standby positions unseen: needs {NEEDS}"));
}

// replication: on a primary, each standby's replay_lag (PostgreSQL
// interpolates it while replay is stuck, so a paused standby's lag grows);
// on a standby, the time since the last replayed transaction while
// received WAL waits to be replayed (0 when caught up: an idle primary
// sends nothing to replay; since the standby started when it has replayed
// no transaction yet). 60 s / 5 min.
pub(super) fn replication(client: &mut Client, _: &Session, t: &Threshold) -> Outcome {
    if in_recovery(client)? {
        let rows = query(
            client,
            "SELECT CASE WHEN pg_last_wal_receive_lsn() IS NULL OR pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0 \
                    ELSE extract(epoch FROM now() - coalesce(pg_last_xact_replay_timestamp(), pg_postmaster_start_time())) END::float8, \
                    extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8",
            "pg_monitor",
        )?;
        let (lag, since_last): (Option<f64>, Option<f64>) = (rows[0].get(0), rows[0].get(1));
        let last = since_last.map_or("none replayed yet".into(), |s| format!("{} ago", format_seconds(s)));
        return Ok(Measured::new(
            lag,
            match lag {
                Some(l) => format!(
                    "standby, replay {} behind (last transaction replayed {last}){}",
                    format_seconds(l),
                    limits(Unit::Seconds, t)
                ),
                None => format!("standby, nothing to judge yet (last transaction replayed {last})"),
            },
        ));
    }
    let rows = standbys(client)?;
    if rows.is_empty() {
        return Ok(Measured::new(None, "primary with no standby streaming"));
    }
    let worst = rows
        .iter()
        .filter_map(|r| r.replay_lag)
        .fold(None, |acc: Option<f64>, l| Some(acc.map_or(l, |a| a.max(l))));
    let mut m = Measured::new(
        Some(worst.unwrap_or(0.0)),
        format!(
            "{} standbys, most behind in time: {}{}",
            rows.len(),
            worst.map_or("no lag measured (caught up)".into(), format_seconds),
            limits(Unit::Seconds, t)
        ),
    );
    m.details = rows.iter().map(StandbyRow::describe).collect();
    if unseen(&rows) {
        needs_stats(&mut m);
    }
    Ok(m)
}

// replication_lag_bytes: on a primary, WAL written but not yet replayed by
// each standby; on a standby, WAL received but not replayed. 100 MB / 1 GB.
pub(super) fn replication_lag_bytes(client: &mut Client, _: &Session, t: &Threshold) -> Outcome {
    if in_recovery(client)? {
        let rows = query(
            client,
            "SELECT greatest(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0)::float8",
            "pg_monitor",
        )?;
        let behind: Option<f64> = rows[0].get(0);
        return Ok(Measured::new(
            Some(behind.unwrap_or(0.0)),
            format!(
                "standby, {} received and not yet replayed{}",
                format_bytes(behind.unwrap_or(0.0)),
                limits(Unit::Bytes, t)
            ),
        ));
    }
    let rows = standbys(client)?;
    if rows.is_empty() {
        return Ok(Measured::new(None, "primary with no standby streaming"));
    }
    let worst = rows.iter().filter_map(|r| r.behind_bytes).fold(0.0, f64::max);
    let mut m = Measured::new(
        Some(worst),
        format!(
            "{} standbys, most behind: {} not yet replayed{}",
            rows.len(),
            format_bytes(worst),
            limits(Unit::Bytes, t)
        ),
    );
    m.details = rows.iter().map(StandbyRow::describe).collect();
    if unseen(&rows) {
        needs_stats(&mut m);
    }
    Ok(m)
}

// replicas: standbys streaming from this primary against the number
// expected; runs only with `--threshold replicas=N` (fewer than N is
// CRITICAL) or `replicas=WARN,CRIT`.
pub(super) fn replicas(client: &mut Client, _: &Session, t: &Threshold) -> Outcome {
    if in_recovery(client)? {
        return Ok(Measured::new(None, "standby: count replicas on the primary"));
    }
    let rows = standbys(client)?;
    let streaming: Vec<&StandbyRow> = rows
        .iter()
        .filter(|r| r.state.as_deref() == Some("streaming"))
        .collect();
    let count = f64::from(u32::try_from(streaming.len()).unwrap_or(u32::MAX));
    let expected = t.warning.into_iter().chain(t.critical).fold(0.0, f64::max);
    let missing = (expected - count).max(0.0);
    let mut m = Measured::new(
        Some(count),
        if missing > 0.0 {
            format!(
                "{count} standbys streaming, {missing} missing of {expected} expected{}",
                limits(Unit::Count, t)
            )
        } else {
            format!("{count} standbys streaming{}", limits(Unit::Count, t))
        },
    );
    m.details = rows.iter().map(StandbyRow::describe).collect();
    if unseen(&rows) {
        needs_stats(&mut m);
    }
    Ok(m)
}

// replication_slots: slots no one streams from keep every WAL segment
// since their restart_lsn, until the disk fills. Any such slot is a
// warning; the WAL they hold is judged at 1 GB / 10 GB; a slot whose WAL
// is already gone (wal_status lost) is CRITICAL: its standby can never
// catch up.
pub(super) fn replication_slots(client: &mut Client, _: &Session, t: &Threshold) -> Outcome {
    // On a standby pg_current_wal_lsn() fails: measure from the last replayed position.
    let position = if in_recovery(client)? {
        "pg_last_wal_replay_lsn()"
    } else {
        "pg_current_wal_lsn()"
    };
    let rows = query(
        client,
        &format!(
            "SELECT slot_name::text, slot_type, \
                    coalesce(pg_wal_lsn_diff({position}, restart_lsn), 0)::float8, coalesce(wal_status, '') \
             FROM pg_replication_slots WHERE NOT active ORDER BY 3 DESC"
        ),
        "pg_monitor",
    )?;
    if rows.is_empty() {
        return Ok(Measured::new(Some(0.0), "no inactive replication slot"));
    }
    let mut m = Measured::new(None, String::new());
    let mut total = 0.0;
    for r in &rows {
        let (name, kind, retained, wal_status): (String, String, f64, String) =
            (r.get(0), r.get(1), r.get(2), r.get(3));
        total += retained;
        if wal_status == "lost" {
            m.at_least = Status::Critical;
            m.details.push(format!(
                "{kind} slot {name}: the WAL it needs is gone (wal_status lost)"
            ));
        } else {
            m.details.push(format!(
                "inactive {kind} slot {name} retains {}",
                format_bytes(retained)
            ));
        }
    }
    m.value = Some(rows.iter().map(|r| r.get::<_, f64>(2)).fold(0.0, f64::max));
    m.at_least = m.at_least.max(Status::Warning);
    m.message = format!(
        "{} inactive slots hold {} of WAL ({}){}; start their standby or drop the slot: \
         SELECT pg_drop_replication_slot('name')",
        rows.len(),
        format_bytes(total),
        m.details.join(", "),
        limits(Unit::Bytes, t)
    );
    Ok(m)
}

// standby_receiver: on a standby, its WAL receiver must be streaming; no
// receiver, or one in any other state, means it replays nothing new: CRITICAL.
pub(super) fn standby_receiver(client: &mut Client, _: &Session, _: &Threshold) -> Outcome {
    if !in_recovery(client)? {
        return Ok(Measured::new(None, "primary: no WAL receiver to check"));
    }
    let rows = query(
        client,
        "SELECT status, coalesce(sender_host, '?') || ':' || coalesce(sender_port::text, '?'), \
                extract(epoch FROM now() - last_msg_receipt_time)::float8, slot_name \
         FROM pg_stat_wal_receiver",
        NEEDS,
    )?;
    let Some(row) = rows.first() else {
        let mut m = Measured::new(
            None,
            "standby with no WAL receiver: it is not streaming from a primary (primary down or \
             unreachable, or primary_conninfo wrong; see the standby's log)",
        );
        m.at_least = Status::Critical;
        return Ok(m);
    };
    let status: Option<String> = row.get(0);
    let Some(status) = status else {
        let mut m = Measured::new(None, format!("WAL receiver state unseen: needs {NEEDS}"));
        m.at_least = Status::Unknown;
        return Ok(m);
    };
    let sender: String = row.get(1);
    let quiet: Option<f64> = row.get(2);
    let slot: Option<String> = row.get(3);
    let mut m = Measured::new(
        None,
        format!(
            "WAL receiver {status} from {sender}{}, last message {}",
            slot.map_or(String::new(), |s| format!(" (slot {s})")),
            quiet.map_or("never".into(), |q| format!("{} ago", format_seconds(q)))
        ),
    );
    if status != "streaming" {
        m.at_least = Status::Critical;
    }
    Ok(m)
}

// replay_paused: on a standby, pg_wal_replay_pause() stops replay while WAL
// keeps arriving; reads then see an ever older state. A warning.
pub(super) fn replay_paused(client: &mut Client, _: &Session, _: &Threshold) -> Outcome {
    if !in_recovery(client)? {
        return Ok(Measured::new(None, "primary: no replay to pause"));
    }
    let state: String = query(client, "SELECT pg_get_wal_replay_pause_state()", "pg_monitor")?[0].get(0);
    let mut m = Measured::new(None, format!("replay {state}"));
    if state != "not paused" {
        m.at_least = Status::Warning;
        m.message
            .push_str("; reads on this standby fall behind until SELECT pg_wal_replay_resume()");
    }
    Ok(m)
}
