//! The `partitions` check, for the time-partitioned tables godwit created
//! (`godwit.partition_sets`):
//! - WARNING when fewer than `premake` partitions lie ahead of the current
//!   interval (the next inserts past them would land in the default);
//! - CRITICAL when rows sit in a default partition: a partition they
//!   belong to is missing, and every later partition for that range will
//!   fail to be created until they are moved;
//! - WARNING for a partition whose DETACH ... CONCURRENTLY never finished
//!   (an archive run was killed; the next one finalizes it).
//!
//! The rows of a default partition are counted up to [`COUNT_CAP`] with a
//! LIMIT, so the check stays cheap however many there are.

use postgres::Client;

use crate::postgres::conn::describe_pg_error;
use crate::postgres::conn::qualified;
use crate::postgres::partitions::{ahead, children, sets, today};

const COUNT_CAP: i64 = 1000;

/// What the check found; `value` is the rows in default partitions.
pub struct Found {
    pub value: f64,
    pub message: String,
    pub details: Vec<String>,
    /// Fewer partitions ahead than asked, or a detach left pending.
    pub warn: bool,
}

pub fn measure(client: &mut Client) -> Result<Found, String> {
    let sets = sets(client).map_err(|e| e.to_string())?;
    if sets.is_empty() {
        return Ok(Found {
            value: 0.0,
            message: "no time-partitioned tables".into(),
            details: Vec::new(),
            warn: false,
        });
    }
    let today = today();
    let mut details = Vec::new();
    let mut in_default = 0i64;
    let mut short = 0;
    for set in &sets {
        let parts = children(client, &set.schema, &set.name).map_err(|e| e.to_string())?;
        let n = ahead(&parts, set.interval, today);
        if n < usize::try_from(set.premake).unwrap_or(usize::MAX) {
            short += 1;
            details.push(format!(
                "{}: {n} {} partition{} ahead, fewer than premake {}: run `godwit maintain`",
                set.qualified(),
                set.interval.name(),
                if n == 1 { "" } else { "s" },
                set.premake
            ));
        }
        for pending in parts.iter().filter(|c| c.detach_pending) {
            short += 1;
            details.push(format!(
                "{}: detach of {} left pending by an interrupted archive run; run the archive again to finish it",
                set.qualified(),
                pending.name
            ));
        }
        if let Some(default) = parts.iter().find(|c| c.is_default) {
            let table = qualified(&set.schema, &default.name);
            let rows: i64 = client
                .query_one(
                    &format!("SELECT count(*) FROM (SELECT 1 FROM ONLY {table} LIMIT {COUNT_CAP}) r"),
                    &[],
                )
                .map_err(|e| format!("reading {table}: {}", describe_pg_error(&e)))?
                .get(0);
            if rows > 0 {
                in_default += rows;
                details.push(format!(
                    "{table} holds {}{rows} row{}: no partition covers them; create it (moving the rows) or fix the {}",
                    if rows >= COUNT_CAP { "at least " } else { "" },
                    if rows == 1 { "" } else { "s" },
                    set.column
                ));
            }
        }
    }
    let message = if in_default > 0 {
        format!("{in_default} row(s) in default partitions")
    } else if short > 0 {
        format!("{short} partitioned table(s) need attention")
    } else {
        format!("{} partitioned table(s), each with its partitions ahead", sets.len())
    };
    Ok(Found {
        value: in_default as f64,
        message,
        details,
        warn: short > 0,
    })
}
