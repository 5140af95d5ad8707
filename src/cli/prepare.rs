//! What copy and verify share before touching the target: read the source
//! schema (profiling what the plan depends on) and build the plan, so both
//! commands see the same casts.

use crate::cli::args::MappingArgs;
use crate::config::Config;
use crate::error::Result;
use crate::plan::{self, Plan, PlanOptions};
use crate::report::{Event, Reporter};
use crate::source::SourceSchema;
use crate::source::sqlite::SqliteSource;

/// Describes the source and plans it into `schema`. `profile_all` profiles
/// every column (data-only: a target timestamp may take an INTEGER column
/// of epoch values), else only those whose type depends on their values.
pub fn plan_source(
    source: &SqliteSource,
    config: &Config,
    mapping: &MappingArgs,
    schema: &str,
    profile_all: bool,
    reporter: &Reporter,
) -> Result<(SourceSchema, Plan)> {
    reporter.emit(Event::Phase(format!("reading {}", source.path.display())));
    let conn = source.connect()?;
    let source_schema = source.describe(&conn, &|_, c| {
        profile_all || plan::types::needs_profile(&c.declared_type)
    })?;
    drop(conn);
    let plan = plan::build(
        &source.path.display().to_string(),
        &source_schema,
        config,
        &PlanOptions {
            schema: schema.to_string(),
            identifiers: mapping.identifiers,
        },
    )?;
    for w in &plan.warnings {
        reporter.emit(Event::Info(format!("note: {w}")));
    }
    Ok((source_schema, plan))
}
