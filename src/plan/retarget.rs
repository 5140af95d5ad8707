//! Fits a plan to tables that already exist (made by the app's framework):
//! tables and columns matched by name, exact first, then case-insensitive,
//! and every value cast to the target column's actual type. Used by
//! `copy --data-only` and by `verify`.

use crate::error::{Error, Result};
use crate::plan::types::{Cast, EpochUnit, PgType};
use crate::plan::{Plan, cast_for_type};
use crate::postgres::catalog::{TargetColumn, TargetTable};
use crate::source::SourceSchema;

/// What matching found that the user should know before anything loads.
#[derive(Debug, Default, Clone)]
pub struct Fit {
    /// Source tables and columns with no target, which are not loaded.
    pub unmatched: Vec<String>,
    /// Target tables that no source table fills.
    pub untouched_targets: Vec<String>,
}

fn find<'a, T>(items: &'a [T], name: &str, key: impl Fn(&T) -> &str) -> Option<&'a T> {
    items
        .iter()
        .find(|i| key(i) == name)
        .or_else(|| items.iter().find(|i| key(i).eq_ignore_ascii_case(name)))
}

/// Rewrites `plan` for the target's actual tables. Errors (exit 2) when a
/// target NOT NULL column without default has no source, or a target type
/// cannot be written.
pub fn retarget(plan: &mut Plan, source: &SourceSchema, targets: &[TargetTable]) -> Result<Fit> {
    let mut fit = Fit::default();
    let mut problems = Vec::new();
    plan.tables.retain(|t| {
        let found = find(targets, &t.target, |x| x.name.as_str()).is_some()
            || find(targets, &t.source, |x| x.name.as_str()).is_some();
        if !found {
            fit.unmatched.push(format!(
                "source table {} has no table in the target; it is not loaded",
                t.source
            ));
        }
        found
    });
    for table in &mut plan.tables {
        // Columns the plan adds itself (a full-text vector) have no source value to load.
        table.columns.retain(|c| !c.source.is_empty());
        let target = find(targets, &table.target, |x| x.name.as_str())
            .or_else(|| find(targets, &table.source, |x| x.name.as_str()))
            .cloned()
            .unwrap_or_else(|| TargetTable {
                name: table.target.clone(),
                columns: Vec::new(),
                is_partition: false,
            });
        table.target = target.name.clone();
        let source_table = source.table(&table.source);
        let mut kept = Vec::new();
        for mut column in std::mem::take(&mut table.columns) {
            let Some(tc) = find(&target.columns, &column.target, |c| c.name.as_str())
                .or_else(|| find(&target.columns, &column.source, |c| c.name.as_str()))
            else {
                fit.unmatched.push(format!(
                    "source column {}.{} has no column in {}; it is not loaded",
                    table.source, column.source, target.name
                ));
                continue;
            };
            if tc.generated {
                fit.unmatched.push(format!(
                    "{}.{} is generated in the target; it is computed, not loaded",
                    target.name, tc.name
                ));
                continue;
            }
            column.target = tc.name.clone();
            column.generated = None;
            column.identity = false;
            column.default = None;
            column.not_null = tc.not_null;
            let Some(pg_type) = target_type(tc) else {
                problems.push(format!(
                    "{}.{} has type {}, which godwit cannot write yet",
                    target.name, tc.name, tc.type_sql
                ));
                continue;
            };
            // Where the target has the planned type, the plan's cast stands
            // (uuid-from-int keys and the foreign keys that follow them,
            // split arrays, epoch units); only numeric rounding changes,
            // because now the target demands the scale.
            if pg_type == column.pg_type {
                if let Cast::Numeric { round, .. } = &mut column.cast {
                    *round = true;
                }
            } else {
                let unit = source_table
                    .and_then(|t| t.column(&column.source))
                    .and_then(|c| c.profile.as_ref())
                    .map(epoch_unit)
                    .unwrap_or(match column.cast {
                        Cast::Timestamp { unit, .. } | Cast::Date { unit } => unit,
                        _ => EpochUnit::Seconds,
                    });
                column.reason = format!("the target column is {}", tc.type_sql);
                column.cast = match (&pg_type, &tc.enum_labels) {
                    (PgType::TextLike(_), Some(labels)) if !tc.is_array => Cast::Enum { labels: labels.clone() },
                    // The target's scale demands it: reals are rounded to it.
                    (PgType::Numeric(Some((p, s))), _) => Cast::Numeric {
                        precision: Some(*p),
                        scale: Some(*s),
                        round: true,
                    },
                    _ => cast_for_type(&pg_type, unit),
                };
                column.pg_type = pg_type;
            }
            kept.push(column);
        }
        for tc in &target.columns {
            let covered = kept.iter().any(|c| c.target == tc.name);
            if !covered && tc.not_null && !tc.has_default && !tc.identity && !tc.generated {
                problems.push(format!(
                    "{}.{} is NOT NULL with no default, and the source table {} has no column for it",
                    target.name, tc.name, table.source
                ));
            }
        }
        table.columns = kept;
        table.primary_key.clear();
        table.identity = None;
        table.uniques.clear();
        table.indexes.clear();
        table.checks.clear();
        table.foreign_keys.clear();
    }
    if !problems.is_empty() {
        return Err(Error::Usage(format!(
            "the target schema cannot take the source as it is:\n  - {}\nNothing was written.",
            problems.join("\n  - ")
        )));
    }
    for t in targets {
        if !plan.tables.iter().any(|p| p.target == t.name) {
            fit.untouched_targets.push(t.name.clone());
        }
    }
    Ok(fit)
}

/// The unit of numbers in a column, from its values.
fn epoch_unit(p: &crate::source::ColumnProfile) -> EpochUnit {
    let max = [p.integer_min, p.integer_max]
        .into_iter()
        .flatten()
        .map(i64::unsigned_abs)
        .max()
        .unwrap_or(0);
    let real_max = [p.real_min, p.real_max]
        .into_iter()
        .flatten()
        .map(f64::abs)
        .fold(0.0, f64::max);
    if max >= 100_000_000_000 || real_max >= 1e11 {
        EpochUnit::Milliseconds
    } else if p.integers == 0 && p.reals > 0 && (1e6..1e7).contains(&real_max) {
        EpochUnit::JulianDay
    } else {
        EpochUnit::Seconds
    }
}

/// The PostgreSQL type godwit writes for a target column.
fn target_type(c: &TargetColumn) -> Option<PgType> {
    if let Some(t) = PgType::parse(&c.type_sql) {
        return Some(t);
    }
    if c.enum_labels.is_some() {
        let element = PgType::TextLike(c.type_sql.trim_end_matches("[]").to_string());
        return Some(if c.is_array {
            PgType::Array(Box::new(element))
        } else {
            element
        });
    }
    // timestamp(3), time(0) and friends: the precision is the column's.
    let base = strip_precision(&c.type_sql);
    PgType::parse(&base)
}

fn strip_precision(type_sql: &str) -> String {
    match (type_sql.find('('), type_sql.find(')')) {
        (Some(open), Some(close)) if open < close => {
            let inner = &type_sql[open + 1..close];
            if inner.chars().all(|c| c.is_ascii_digit())
                && (type_sql.starts_with("timestamp") || type_sql.starts_with("time"))
            {
                format!("{}{}", &type_sql[..open], &type_sql[close + 1..])
            } else {
                type_sql.to_string()
            }
        }
        _ => type_sql.to_string(),
    }
}
