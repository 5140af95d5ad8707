//! Time-partitioned tables in the catalog: godwit's record of each
//! (`godwit.partition_sets`: key column, interval, premake), their
//! partitions with bounds as UTC days, and how partitions are named and
//! bounded (pg_partman 4's names, so a table godwit made can be handed to
//! pg_partman as it is). `maintain` keeps them, `health` checks them.

use postgres::GenericClient;

use crate::calendar::{Interval, US_PER_DAY, civil_from_days, parse_iso};
use crate::error::{Error, Result};
use crate::postgres::conn::qualified;
use crate::postgres::types::PgType;

/// godwit's bookkeeping schema (the same as `reverse::origin::GODWIT_SCHEMA`).
const GODWIT_SCHEMA: &str = crate::postgres::bookkeeping::SCHEMA;

/// A partition's name: the parent's, cut so that the whole fits in
/// PostgreSQL's 63 bytes, then the suffix (pg_partman's check_name_length).
pub fn child_name(parent: &str, suffix: &str) -> String {
    // PostgreSQL keeps 63 bytes of a name (NAMEDATALEN - 1).
    let room = 63usize.saturating_sub(suffix.len() + 1);
    let mut end = room.min(parent.len());
    while !parent.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}_{suffix}", &parent[..end])
}

pub fn default_name(parent: &str) -> String {
    child_name(parent, "default")
}

/// A bound as a literal of the key's type: midnight UTC of `day`.
pub fn bound_literal(pg_type: &PgType, day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    match pg_type {
        PgType::Date => format!("'{y:04}-{m:02}-{d:02}'"),
        PgType::Timestamptz => format!("'{y:04}-{m:02}-{d:02} 00:00:00+00'"),
        _ => format!("'{y:04}-{m:02}-{d:02} 00:00:00'"),
    }
}

/// The day (since 1970-01-01, UTC) of a value the COPY encoder wrote for
/// a date or timestamp column: its last 4 (date: days since 2000-01-01) or
/// 8 (timestamp: microseconds since 2000-01-01) bytes.
pub fn day_of_encoded(pg_type: &PgType, encoded: &[u8]) -> Option<i64> {
    use crate::calendar::{PG_EPOCH_OFFSET_DAYS, PG_EPOCH_OFFSET_US, US_PER_DAY};
    match pg_type {
        PgType::Date => {
            let bytes: [u8; 4] = encoded.get(encoded.len().checked_sub(4)?..)?.try_into().ok()?;
            Some(i64::from(i32::from_be_bytes(bytes)) + PG_EPOCH_OFFSET_DAYS)
        }
        PgType::Timestamp | PgType::Timestamptz => {
            let bytes: [u8; 8] = encoded.get(encoded.len().checked_sub(8)?..)?.try_into().ok()?;
            let unix_us = i64::from_be_bytes(bytes).checked_add(PG_EPOCH_OFFSET_US)?;
            Some(unix_us.div_euclid(US_PER_DAY))
        }
        _ => None,
    }
}

/// One partitioned table godwit created.
#[derive(Debug, Clone)]
pub struct PartitionSet {
    pub schema: String,
    pub name: String,
    pub column: String,
    pub pg_type: PgType,
    pub interval: Interval,
    pub premake: u32,
    /// The config asked for pg_partman where it is installed.
    pub partman: bool,
}

impl PartitionSet {
    pub fn qualified(&self) -> String {
        qualified(&self.schema, &self.name)
    }
}

/// One partition of a table.
#[derive(Debug, Clone)]
pub struct Child {
    pub name: String,
    /// `[from, to)` in days since 1970-01-01 (UTC); None for the default
    /// partition or a MINVALUE/MAXVALUE bound.
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub is_default: bool,
    /// A DETACH ... CONCURRENTLY that did not finish.
    pub detach_pending: bool,
}

/// What the copy records about a table it partitioned.
pub struct NewSet<'a> {
    pub column: &'a str,
    pub pg_type: &'a PgType,
    pub interval: Interval,
    pub premake: u32,
    pub partman: bool,
}

/// Records a partitioned table, in the copy's final transaction.
pub fn record(client: &mut impl GenericClient, schema: &str, table: &str, set: &NewSet<'_>) -> Result<()> {
    client
        .batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {GODWIT_SCHEMA};
             CREATE TABLE IF NOT EXISTS {GODWIT_SCHEMA}.partition_sets (
                 schema text NOT NULL, name text NOT NULL, key_column text NOT NULL, key_type text NOT NULL,
                 interval text NOT NULL, premake integer NOT NULL, partman boolean NOT NULL,
                 PRIMARY KEY (schema, name))"
        ))
        .map_err(|e| Error::pg("creating godwit.partition_sets", &e))?;
    let premake = i32::try_from(set.premake).unwrap_or(i32::MAX);
    client
        .execute(
            &format!(
                "INSERT INTO {GODWIT_SCHEMA}.partition_sets VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (schema, name) DO UPDATE SET key_column = excluded.key_column,
                   key_type = excluded.key_type, interval = excluded.interval, premake = excluded.premake,
                   partman = excluded.partman"
            ),
            &[
                &schema,
                &table,
                &set.column,
                &set.pg_type.sql(),
                &set.interval.name(),
                &premake,
                &set.partman,
            ],
        )
        .map_err(|e| Error::pg("recording a partitioned table", &e))?;
    Ok(())
}

/// Every partitioned table godwit recorded that still exists.
pub fn sets(client: &mut impl GenericClient) -> Result<Vec<PartitionSet>> {
    let exists: bool = client
        .query_one(
            &format!("SELECT to_regclass('{GODWIT_SCHEMA}.partition_sets') IS NOT NULL"),
            &[],
        )
        .map_err(|e| Error::pg("looking for godwit.partition_sets", &e))?
        .get(0);
    if !exists {
        return Ok(Vec::new());
    }
    let rows = client
        .query(
            &format!(
                "SELECT s.schema, s.name, s.key_column, s.key_type, s.interval, s.premake, s.partman
                   FROM {GODWIT_SCHEMA}.partition_sets s
                   JOIN pg_namespace n ON n.nspname = s.schema
                   JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.name AND c.relkind = 'p'
                  ORDER BY 1, 2"
            ),
            &[],
        )
        .map_err(|e| Error::pg("reading godwit.partition_sets", &e))?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(PartitionSet {
                schema: r.get(0),
                name: r.get(1),
                column: r.get(2),
                pg_type: PgType::parse(r.get(3))?,
                interval: Interval::parse(r.get(4))?,
                premake: u32::try_from(r.get::<_, i32>(5)).unwrap_or(0),
                partman: r.get(6),
            })
        })
        .collect())
}

/// A table's partitions, ordered by their lower bound (the default last).
pub fn children(client: &mut impl GenericClient, schema: &str, parent: &str) -> Result<Vec<Child>> {
    // Bounds print in the session's TimeZone; UTC makes them days.
    client
        .batch_execute("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'")
        .map_err(|e| Error::pg("setting the time zone", &e))?;
    let rows = client
        .query(
            "SELECT c.relname::text, pg_get_expr(c.relpartbound, c.oid), i.inhdetachpending
               FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
              WHERE i.inhparent = (quote_ident($1) || '.' || quote_ident($2))::regclass",
            &[&schema, &parent],
        )
        .map_err(|e| Error::pg(format!("listing the partitions of {schema}.{parent}"), &e))?;
    let mut out: Vec<Child> = rows
        .iter()
        .map(|r| {
            let bound: String = r.get(1);
            let (from, to) = bound_days(&bound);
            Child {
                name: r.get(0),
                from,
                to,
                is_default: bound == "DEFAULT",
                detach_pending: r.get(2),
            }
        })
        .collect();
    out.sort_by_key(|c| (c.is_default, c.from, c.name.clone()));
    Ok(out)
}

/// `FOR VALUES FROM ('2024-01-01 00:00:00+00') TO ('2024-02-01 ...')` → days.
fn bound_days(bound: &str) -> (Option<i64>, Option<i64>) {
    let literals: Vec<&str> = bound.split('\'').skip(1).step_by(2).collect();
    let day = |text: Option<&&str>| {
        text.and_then(|t| parse_iso(t))
            .map(|i| i.unix_us.div_euclid(US_PER_DAY))
    };
    (day(literals.first()), day(literals.get(1)))
}

/// How many ranged partitions start after the current interval.
pub fn ahead(children: &[Child], interval: Interval, today: i64) -> usize {
    let current = interval.start_of(today);
    children
        .iter()
        .filter(|c| !c.is_default && c.from.is_some_and(|f| f > current))
        .count()
}

pub fn today() -> i64 {
    chrono::Utc::now().timestamp().div_euclid(86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_become_days() {
        let (from, to) = bound_days("FOR VALUES FROM ('2024-01-01 00:00:00+00') TO ('2024-02-01 00:00:00+00')");
        assert_eq!(from, Some(crate::calendar::days_from_civil(2024, 1, 1)));
        assert_eq!(to, Some(crate::calendar::days_from_civil(2024, 2, 1)));
        assert_eq!(bound_days("FOR VALUES FROM ('2024-03-01') TO (MAXVALUE)").1, None);
        assert_eq!(bound_days("DEFAULT"), (None, None));
    }
}
