//! Whether the target still looks like the plan the workload translates
//! with. The workload plans the source again to learn the target's names
//! and types; a copy made with another config, other flags, or changed
//! since, would make each translation wrong in ways parity cannot tell
//! from a real difference. So each table and column of the plan is looked
//! up in the target's catalog first, and every mismatch is reported.

use crate::error::Result;
use crate::plan::Plan;
use crate::postgres::catalog;
use crate::postgres::types::PgType;

/// At most this many mismatches are named; the rest are counted.
const NAMED: usize = 20;

/// One line per table or column of the plan that the target does not
/// hold as planned.
pub fn against_target(plan: &Plan, client: &mut postgres::Client, schema: &str) -> Result<Vec<String>> {
    let target = catalog::tables(client, schema)?;
    let mut found = Vec::new();
    for table in &plan.tables {
        let Some(actual) = target.iter().find(|t| t.name == table.target) else {
            found.push(format!(
                "table {} (from {}) is not in schema {schema}",
                table.target, table.source
            ));
            continue;
        };
        for column in &table.columns {
            match actual.columns.iter().find(|c| c.name == column.target) {
                None => found.push(format!(
                    "column {}.{} is not in the target",
                    table.target, column.target
                )),
                Some(c) if !same_type(&c.type_sql, &column.pg_type) => found.push(format!(
                    "column {}.{} is {} in the target, but {} as planned now",
                    table.target,
                    column.target,
                    c.type_sql,
                    column.pg_type.sql()
                )),
                Some(_) => {}
            }
        }
    }
    if found.len() > NAMED {
        let more = found.len() - NAMED;
        found.truncate(NAMED);
        found.push(format!("… and {more} more"));
    }
    Ok(found)
}

fn same_type(actual: &str, planned: &PgType) -> bool {
    PgType::parse(actual).is_some_and(|t| &t == planned) || actual == planned.sql()
}
