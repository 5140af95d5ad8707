//! Keeping time partitions ahead of the data.
//!
//! The copy records each partitioned table in `godwit.partition_sets`
//! (key column, interval, premake). Where pg_partman is installed the table
//! is registered with it (`create_parent`) and `maintain` runs its
//! `run_maintenance`; otherwise `maintain` creates the missing partitions
//! ahead itself, named and bounded as pg_partman 4 would. Bounds are UTC
//! days: every session here pins TimeZone to UTC, so that pg_partman's
//! `date_trunc` agrees with godwit's day arithmetic.

use postgres::GenericClient;

use crate::calendar::Interval;
use crate::error::{Error, Result};
use crate::postgres::conn::qualified;
use crate::postgres::conn::{quote_ident, quote_literal};
pub use crate::postgres::partitions::{Child, PartitionSet, ahead, children, record, sets, today};
use crate::postgres::partitions::{bound_literal, child_name, default_name};
use crate::postgres::types::PgType;

/// Where pg_partman is installed: its schema and version.
pub fn partman(client: &mut impl GenericClient) -> Result<Option<(String, String)>> {
    let row = client
        .query_opt(
            "SELECT n.nspname::text, e.extversion FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
              WHERE e.extname = 'pg_partman'",
            &[],
        )
        .map_err(|e| Error::pg("looking for pg_partman", &e))?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

/// pg_partman names a table `schema.table`, unquoted.
fn partman_name(schema: &str, table: &str) -> String {
    format!("{schema}.{table}")
}

pub fn partman_registered(client: &mut impl GenericClient, partman_schema: &str, set: &PartitionSet) -> Result<bool> {
    client
        .query_one(
            &format!(
                "SELECT count(*) > 0 FROM {}.part_config WHERE parent_table = $1",
                quote_ident(partman_schema)
            ),
            &[&partman_name(&set.schema, &set.name)],
        )
        .map(|r| r.get(0))
        .map_err(|e| Error::pg("reading pg_partman's part_config", &e))
}

/// Registers a table godwit recorded with pg_partman, when it is installed
/// and the table is not registered yet. Returns what it did.
pub fn register_with_partman(client: &mut postgres::Client, schema: &str, table: &str) -> Result<Option<String>> {
    let Some((partman_schema, version)) = partman(client)? else {
        return Ok(None);
    };
    let Some(set) = sets(client)?
        .into_iter()
        .find(|s| s.schema == schema && s.name == table)
    else {
        return Ok(None);
    };
    if partman_registered(client, &partman_schema, &set)? {
        return Ok(None);
    }
    let sql = registration(client, &set, &partman_schema, &version)?;
    client
        .batch_execute(&sql)
        .map_err(|e| Error::pg(format!("registering {} with pg_partman", set.qualified()), &e))?;
    Ok(Some(format!(
        "{} registered with pg_partman {version} ({} partitions, premake {}); `godwit maintain` runs its maintenance",
        set.qualified(),
        set.interval.partman(),
        set.premake
    )))
}

/// The statements that hand a table to pg_partman, as one transaction.
///
/// pg_partman's create_parent makes its own default partition, so godwit's
/// is detached and renamed first, and any rows in it are moved back in
/// through the parent once pg_partman's partitions exist. Partitioning
/// starts where godwit's last partition ends: pg_partman adopts the
/// existing ones by name (version 4) and only adds after them.
pub fn registration(
    client: &mut impl GenericClient,
    set: &PartitionSet,
    partman_schema: &str,
    version: &str,
) -> Result<String> {
    let children = children(client, &set.schema, &set.name)?;
    let start = children
        .iter()
        .filter(|c| !c.is_default)
        .filter_map(|c| c.to)
        .max()
        .unwrap_or_else(|| set.interval.start_of(chrono::Utc::now().timestamp().div_euclid(86_400)));
    let start = bound_literal(&PgType::Timestamptz, start);
    let parent = set.qualified();
    let mut sql = String::from("SET LOCAL TimeZone = 'UTC';\n");
    let old_default = children.iter().find(|c| c.is_default).map(|c| c.name.clone());
    let parked = child_name(&set.name, "godwit_old_default");
    if let Some(old) = &old_default {
        sql.push_str(&format!(
            "ALTER TABLE {parent} DETACH PARTITION {};\nALTER TABLE {} RENAME TO {};\n",
            qualified(&set.schema, old),
            qualified(&set.schema, old),
            quote_ident(&parked)
        ));
    }
    let ps = quote_ident(partman_schema);
    let name = quote_literal(&partman_name(&set.schema, &set.name));
    let column = quote_literal(&set.column);
    sql.push_str(&create_parent_call(
        &ps,
        &name,
        &column,
        set.interval,
        set.premake,
        &start,
        version,
    ));
    if old_default.is_some() {
        let columns = insertable_columns(client, &set.schema, &set.name)?;
        sql.push_str(&format!(
            "INSERT INTO {parent} ({columns}) SELECT {columns} FROM {};\nDROP TABLE {};\n",
            qualified(&set.schema, &parked),
            qualified(&set.schema, &parked)
        ));
        // pg_partman's default partition is named as godwit's was.
        debug_assert_eq!(default_name(&set.name), old_default.clone().unwrap_or_default());
    }
    Ok(sql)
}

/// `create_parent` as the installed pg_partman spells it. Version 4 (what
/// Debian 12 ships, 4.7) takes `p_type 'native'` and a named interval
/// (`'monthly'`); version 5 dropped both for `p_type 'range'` and a plain
/// PostgreSQL interval (`'1 month'`). Arguments are passed by name, which
/// both versions accept.
fn create_parent_call(
    partman_schema: &str,
    parent: &str,
    column: &str,
    interval: Interval,
    premake: u32,
    start: &str,
    version: &str,
) -> String {
    let major: u32 = version
        .split('.')
        .next()
        .and_then(|m| m.trim().parse().ok())
        .unwrap_or(5);
    let (kind, every) = if major <= 4 {
        ("native", interval.partman())
    } else {
        (
            "range",
            match interval {
                Interval::Day => "1 day",
                Interval::Week => "1 week",
                Interval::Month => "1 month",
                Interval::Year => "1 year",
            },
        )
    };
    format!(
        "SELECT {partman_schema}.create_parent(p_parent_table := {parent}, p_control := {column}, \
         p_type := '{kind}', p_interval := '{every}', p_premake := {premake}, p_start_partition := {start});\n"
    )
}

/// The columns an INSERT can name (not generated ones), quoted, in order.
pub fn insertable_columns(client: &mut impl GenericClient, schema: &str, table: &str) -> Result<String> {
    let rows = client
        .query(
            "SELECT quote_ident(attname) FROM pg_attribute
              WHERE attrelid = (quote_ident($1) || '.' || quote_ident($2))::regclass
                AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
            &[&schema, &table],
        )
        .map_err(|e| Error::pg(format!("reading the columns of {schema}.{table}"), &e))?;
    Ok(rows
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join(", "))
}

/// The partitions to create ahead for a set that pg_partman does not keep:
/// (name, statement), up to `premake` intervals past the current one.
pub fn missing_ahead(client: &mut impl GenericClient, set: &PartitionSet, today: i64) -> Result<Vec<(String, String)>> {
    let children = children(client, &set.schema, &set.name)?;
    let current = set.interval.start_of(today);
    let mut end = current;
    for _ in 0..=set.premake {
        end = set.interval.next(end);
    }
    let covered = |day: i64| {
        children
            .iter()
            .any(|c| c.from.is_some_and(|f| f <= day) && c.to.is_some_and(|t| day < t))
    };
    let mut out = Vec::new();
    let mut cursor = current;
    while cursor < end {
        let next = set.interval.next(cursor);
        if !covered(cursor) {
            let name = child_name(&set.name, &set.interval.suffix(cursor));
            out.push((
                name.clone(),
                format!(
                    "CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({});",
                    qualified(&set.schema, &name),
                    set.qualified(),
                    bound_literal(&set.pg_type, cursor),
                    bound_literal(&set.pg_type, next)
                ),
            ));
        }
        cursor = next;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(version: &str, interval: Interval) -> String {
        create_parent_call(
            "partman",
            "'public.events'",
            "'created_at'",
            interval,
            4,
            "'2026-01-01 00:00:00+00'",
            version,
        )
    }

    #[test]
    fn pg_partman_4_gets_native_and_a_named_interval() {
        // 4.7.2 is Debian 12's postgresql-15-partman.
        for version in ["4.7.2", "4.0.0", "3.2.1"] {
            let sql = call(version, Interval::Month);
            assert!(sql.contains("p_type := 'native'"), "{version}: {sql}");
            assert!(sql.contains("p_interval := 'monthly'"), "{version}: {sql}");
        }
        assert!(call("4.7.2", Interval::Day).contains("p_interval := 'daily'"));
        assert!(call("4.7.2", Interval::Week).contains("p_interval := 'weekly'"));
        assert!(call("4.7.2", Interval::Year).contains("p_interval := 'yearly'"));
    }

    #[test]
    fn pg_partman_5_gets_range_and_a_plain_interval() {
        for version in ["5.0.0", "5.2.4", "10.1"] {
            let sql = call(version, Interval::Month);
            assert!(sql.contains("p_type := 'range'"), "{version}: {sql}");
            assert!(sql.contains("p_interval := '1 month'"), "{version}: {sql}");
        }
        assert!(call("5.1.0", Interval::Week).contains("p_interval := '1 week'"));
        let sql = call("5.1.0", Interval::Year);
        assert!(
            sql.contains("p_premake := 4") && sql.contains("p_start_partition := '2026-01-01 00:00:00+00'"),
            "{sql}"
        );
    }
}
