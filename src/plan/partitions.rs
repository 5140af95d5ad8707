//! Time partitions: `[tables.NAME] partition_by = "created_at"` with an
//! `interval` makes the copy create a range-partitioned table, one
//! partition per interval.
//!
//! Intervals are whole UTC days (a day, an ISO week from Monday, a calendar
//! month or year), so a partition's bounds and name come from integer day
//! arithmetic ([`crate::calendar`]), the same on every machine. Names follow
//! pg_partman 4's (`events_p2024_01`, `events_p2024w03`, `events_default`),
//! so that a table godwit created can be handed to pg_partman as it is.
//!
//! PostgreSQL requires every primary key and unique constraint of a
//! partitioned table to include the partition key, and a foreign key that
//! points at it to name such a constraint. Widening keys changes what they
//! promise, so the plan says exactly what would change and refuses unless
//! the config confirms it (`partition_key_in_keys = true`).

use serde::Serialize;

pub use crate::calendar::Interval;
pub use crate::postgres::partitions::{bound_literal, child_name, day_of_encoded, default_name};

use crate::config::Config;
use crate::error::Result;
use crate::plan::Plan;
use crate::plan::types::PgType;
use crate::postgres::conn::quote_ident;

/// How a table is partitioned, as the plan shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PartitionPlan {
    /// Target name of the partition key column.
    pub column: String,
    pub interval: Interval,
    /// Empty partitions kept ahead of the newest data and of today.
    pub premake: u32,
    /// Register the table with pg_partman where it is installed.
    pub partman: bool,
    /// The key column's type: a bound is written as a literal of it.
    #[serde(skip)]
    pub pg_type: PgType,
    /// What the partitioning changed in the keys (with the config's consent).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub key_changes: Vec<String>,
}

/// Above this many partitions, empty intervals between those holding data
/// are not created (their rows, if any come, go to the default partition).
pub const MAX_CONTIGUOUS: usize = 1000;

/// The partitions to create: from the first interval holding data to
/// `premake` past the later of the last one and today, every interval in
/// between included, unless that is more than [`MAX_CONTIGUOUS`]; then
/// the ones holding data and the run from the last (or today) onwards.
/// Returns interval start days, ascending.
pub fn intervals_to_create(interval: Interval, with_data: &[i64], today: i64, premake: u32) -> Vec<i64> {
    let current = interval.start_of(today);
    let last_data = with_data.iter().copied().max();
    let mut ahead_from = last_data.map_or(current, |l| l.max(current));
    let mut end = ahead_from;
    for _ in 0..=premake {
        end = interval.next(end);
    }
    let mut starts: Vec<i64> = Vec::new();
    if let Some(first) = with_data.iter().copied().min() {
        let mut cursor = first;
        let mut contiguous = Vec::new();
        while cursor < end && contiguous.len() <= MAX_CONTIGUOUS {
            contiguous.push(cursor);
            cursor = interval.next(cursor);
        }
        if cursor >= end {
            return contiguous;
        }
        starts.extend(with_data.iter().copied());
        // Data ahead of today keeps its own run; otherwise today's.
        ahead_from = current.max(last_data.unwrap_or(current));
    }
    let mut cursor = ahead_from;
    while cursor < end {
        starts.push(cursor);
        cursor = interval.next(cursor);
    }
    starts.sort_unstable();
    starts.dedup();
    starts
}

/// Applies each `partition_by` of the config to the planned tables: the
/// key column must be a date or timestamp, the table must have a primary
/// key, and every key change PostgreSQL requires is listed. Without the
/// config's consent the plan stops there (a config error naming them all).
pub fn apply(plan: &mut Plan, config: &Config) -> Result<()> {
    for (source_name, rule) in &config.tables {
        let Some(rule) = &rule.partition else {
            continue;
        };
        let Some(ti) = plan.tables.iter().position(|t| &t.source == source_name) else {
            continue;
        };
        let table = &plan.tables[ti];
        let fail = |message: String| config.error(rule.line, format!("[tables.{source_name}] {message}"));
        let Some(column) = table
            .columns
            .iter()
            .find(|c| c.source.eq_ignore_ascii_case(&rule.column))
        else {
            return Err(fail(format!(
                "partition_by = {:?}: the table has no such copied column (columns: {})",
                rule.column,
                table
                    .columns
                    .iter()
                    .map(|c| c.source.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        if !matches!(column.pg_type, PgType::Date | PgType::Timestamp | PgType::Timestamptz) {
            return Err(fail(format!(
                "partition_by = {:?}: the column becomes {}, and time partitions need a date or timestamp; \
                 add a [[cast]] (e.g. to = \"timestamptz\", with using = \"epoch-s\" for Unix times)",
                rule.column,
                column.pg_type.sql()
            )));
        }
        if table.primary_key.is_empty() {
            return Err(fail(format!(
                "partition_by: {} has no primary key; godwit partitions only tables with one \
                 (sync finds a keyless table's rows by their place, which partitions repeat)",
                table.source
            )));
        }
        let key = column.target.clone();
        let nullable = !column.not_null;
        let pg_type = column.pg_type.clone();
        let mut changes = Vec::new();
        if !table.primary_key.contains(&key) {
            changes.push(format!(
                "primary key {} ({}) becomes ({}, {key})",
                table.primary_key_name,
                table.primary_key.join(", "),
                table.primary_key.join(", ")
            ));
        }
        for u in table.uniques.iter().filter(|u| !u.columns.contains(&key)) {
            changes.push(format!(
                "unique constraint {} ({}) becomes ({}, {key}): two rows at different times may then repeat the values",
                u.name,
                u.columns.join(", "),
                u.columns.join(", ")
            ));
        }
        for i in table
            .indexes
            .iter()
            .filter(|i| i.unique && !mentions(&i.definition, &key))
        {
            changes.push(format!(
                "unique index {} {} gains {key}: two rows at different times may then repeat the values",
                i.name, i.definition
            ));
        }
        let target = table.target.clone();
        let incoming: Vec<(usize, String)> = plan
            .tables
            .iter()
            .enumerate()
            .flat_map(|(ci, child)| {
                child
                    .foreign_keys
                    .iter()
                    .filter(|fk| fk.parent_table == target && !fk.parent_columns.contains(&key))
                    .map(move |fk| (ci, fk.name.clone()))
            })
            .collect();
        for (ci, name) in &incoming {
            let child = &plan.tables[*ci];
            let Some(fk) = child.foreign_keys.iter().find(|f| &f.name == name) else {
                continue;
            };
            changes.push(format!(
                "foreign key {name} {}({}) -> {target}({}) is not created: PostgreSQL needs it to name {key} too, \
                 which {} does not hold; add the column to {} or check the reference in the application",
                child.target,
                fk.columns.join(", "),
                fk.parent_columns.join(", "),
                child.target,
                child.target
            ));
        }
        if !changes.is_empty() && !rule.keys_include_partition_key {
            return Err(fail(format!(
                "partitioning {} by {key} changes its keys, because PostgreSQL requires every primary key and \
                 unique constraint of a partitioned table to include the partition key:\n  - {}\n\
                 Nothing was changed. If that is what you want, add `partition_key_in_keys = true` to [tables.{source_name}].",
                table.source,
                changes.join("\n  - ")
            )));
        }
        let table = &mut plan.tables[ti];
        if !table.primary_key.contains(&key) {
            table.primary_key.push(key.clone());
        }
        for u in table.uniques.iter_mut().filter(|u| !u.columns.contains(&key)) {
            u.columns.push(key.clone());
        }
        for i in table
            .indexes
            .iter_mut()
            .filter(|i| i.unique && !mentions(&i.definition, &key))
        {
            i.definition = with_key_term(&i.definition, &key);
        }
        table.partitioning = Some(PartitionPlan {
            column: key.clone(),
            interval: rule.interval,
            premake: rule.premake,
            partman: rule.partman,
            pg_type,
            key_changes: changes,
        });
        if nullable {
            plan.warnings.push(format!(
                "{}.{}: partition key is nullable; rows without one land in {}, which `health` reports as CRITICAL",
                source_name,
                rule.column,
                default_name(&target)
            ));
        }
        for (ci, name) in incoming {
            let child = &mut plan.tables[ci];
            child.foreign_keys.retain(|f| f.name != name);
            plan.not_migrated.push(format!(
                "foreign key {name} on {} -> {target}: {target} is partitioned by {key}, which the key does not name \
                 (confirmed by partition_key_in_keys)",
                child.target
            ));
        }
    }
    Ok(())
}

/// Whether an index definition names the column (quoted, as the plan writes it).
fn mentions(definition: &str, column: &str) -> bool {
    let (terms, _) = split_definition(definition);
    terms.contains(&quote_ident(column))
}

/// `(a, lower(b)) WHERE c` → (`(a, lower(b))`, ` WHERE c`), minding
/// parentheses inside terms and double-quoted names.
fn split_definition(definition: &str) -> (&str, &str) {
    let mut depth = 0i32;
    let mut quoted = false;
    for (i, ch) in definition.char_indices() {
        match ch {
            '"' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => {
                depth -= 1;
                if depth == 0 {
                    return definition.split_at(i + 1);
                }
            }
            _ => {}
        }
    }
    (definition, "")
}

fn with_key_term(definition: &str, column: &str) -> String {
    let (terms, rest) = split_definition(definition);
    let inner = terms.strip_suffix(')').unwrap_or(terms);
    format!("{inner}, {}){rest}", quote_ident(column))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::days_from_civil;

    fn day(y: i64, m: u32, d: u32) -> i64 {
        days_from_civil(y, m, d)
    }

    #[test]
    fn intervals_start_and_follow_on_calendar_boundaries() {
        let t = day(2024, 2, 29);
        assert_eq!(Interval::Month.start_of(t), day(2024, 2, 1));
        assert_eq!(Interval::Month.next(day(2024, 12, 1)), day(2025, 1, 1));
        assert_eq!(Interval::Year.start_of(t), day(2024, 1, 1));
        // 2024-02-29 was a Thursday; its ISO week started Monday the 26th.
        assert_eq!(Interval::Week.start_of(t), day(2024, 2, 26));
        assert_eq!(Interval::Week.start_of(day(2024, 2, 26)), day(2024, 2, 26));
        assert_eq!(Interval::Day.next(t), day(2024, 3, 1));
    }

    #[test]
    fn names_are_pg_partmans() {
        assert_eq!(Interval::Month.suffix(day(2024, 1, 1)), "p2024_01");
        assert_eq!(Interval::Day.suffix(day(2024, 3, 9)), "p2024_03_09");
        assert_eq!(Interval::Year.suffix(day(2023, 1, 1)), "p2023");
        // ISO week 1 of 2025 starts on Monday 2024-12-30; 2021-01-04 is week 1 of 2021.
        assert_eq!(Interval::Week.suffix(day(2024, 12, 30)), "p2025w01");
        assert_eq!(Interval::Week.suffix(day(2021, 1, 4)), "p2021w01");
        assert_eq!(Interval::Week.suffix(day(2020, 12, 28)), "p2020w53");
        assert_eq!(child_name("events", "p2024_01"), "events_p2024_01");
        let long = "e".repeat(70);
        assert_eq!(child_name(&long, "p2024_01").len(), 63);
        assert_eq!(default_name("events"), "events_default");
    }

    #[test]
    fn partitions_cover_the_data_and_premake_ahead() {
        let today = day(2026, 12, 6);
        let data = [day(2026, 9, 1), day(2026, 11, 1)];
        let starts = intervals_to_create(Interval::Month, &data, today, 2);
        // September to December (with the empty October), then 2 ahead.
        assert_eq!(
            starts,
            vec![
                day(2026, 9, 1),
                day(2026, 10, 1),
                day(2026, 11, 1),
                day(2026, 12, 1),
                day(2027, 1, 1),
                day(2027, 2, 1)
            ]
        );
        // No data: today's and the premade ones.
        assert_eq!(
            intervals_to_create(Interval::Year, &[], today, 1),
            vec![day(2026, 1, 1), day(2027, 1, 1)]
        );
        // One row in 1970 and today: far too many days to fill the gap.
        let sparse = intervals_to_create(Interval::Day, &[day(1970, 1, 1)], today, 3);
        assert_eq!(sparse.len(), 1 + 4);
        assert_eq!(sparse[0], day(1970, 1, 1));
        assert_eq!(sparse[1], today);
    }

    #[test]
    fn unique_index_definitions_gain_the_key() {
        assert_eq!(with_key_term("(lower(\"a\"))", "t"), "(lower(\"a\"), \"t\")");
        assert_eq!(
            with_key_term("(\"a)\", \"b\") WHERE (\"b\" > 0)", "t"),
            "(\"a)\", \"b\", \"t\") WHERE (\"b\" > 0)"
        );
        assert!(mentions("(\"t\", \"b\") WHERE x", "t"));
        assert!(!mentions("(\"b\") WHERE \"t\" > 0", "t"));
    }

    #[test]
    fn encoded_values_give_their_day() {
        // 2000-01-02 as a date: 1 day after PostgreSQL's epoch.
        let date = [0, 0, 0, 4, 0, 0, 0, 1];
        assert_eq!(day_of_encoded(&PgType::Date, &date), Some(day(2000, 1, 2)));
        // One microsecond before 2000-01-01: the day before.
        let ts = (-1i64).to_be_bytes();
        assert_eq!(day_of_encoded(&PgType::Timestamptz, &ts), Some(day(1999, 12, 31)));
        assert_eq!(
            bound_literal(&PgType::Timestamptz, day(2024, 1, 1)),
            "'2024-01-01 00:00:00+00'"
        );
    }
}
