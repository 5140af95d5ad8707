//! What copy and verify share before touching the target: read the source
//! schema (profiling what the plan depends on) and build the plan, so both
//! commands see the same casts.

use crate::cli::args::MappingArgs;
use crate::config::Config;
use crate::error::Result;
use crate::plan::types::ProfileNeed;
use crate::plan::{self, Plan, PlanOptions};
use crate::report::{Event, Reporter};
use crate::source::SourceSchema;
use crate::source::sqlite::SqliteSource;

/// Which columns to profile (a full scan of their values) before planning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profiling {
    /// Those only whose values can decide their type, as a schema-mode
    /// copy does before it speculates on the declared types.
    AsPlanned,
    /// Every column: data-only, where a target timestamp may take an
    /// INTEGER column of epoch values.
    Everything,
    /// Only date and time columns, whose epoch unit a cast needs: verify,
    /// which takes every other type from the target's catalog.
    DatesOnly,
}

/// Describes the source and plans it into `schema`.
pub fn plan_source(
    source: &SqliteSource,
    config: &Config,
    mapping: &MappingArgs,
    schema: &str,
    profiling: Profiling,
    reporter: &Reporter,
) -> Result<(SourceSchema, Plan)> {
    reporter.emit(Event::Phase(format!("reading {}", source.path.display())));
    let conn = source.connect()?;
    let source_schema = source.describe(&conn, &|_, c| match profiling {
        Profiling::AsPlanned => plan::types::profile_need(&c.declared_type) == ProfileNeed::Always,
        Profiling::Everything => true,
        Profiling::DatesOnly => {
            plan::types::profile_need(&c.declared_type) != ProfileNeed::None
                && plan::types::is_temporal(&plan::types::parse_declared(&c.declared_type).name)
        }
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
