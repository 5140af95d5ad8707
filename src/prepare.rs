//! What copy and verify share before touching the target: read the source
//! schema (profiling what the plan depends on) and build the plan, so both
//! commands see the same casts.

use crate::config::Config;
use crate::error::Result;
use crate::plan::types::{self, ProfileNeed};
use crate::plan::{self, IdentifierStyle, Plan, PlanOptions};
use crate::report::{Event, Reporter};
use crate::source::{ColumnProfile, Flow, Scan, Selected, Source, SourceSchema};

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

/// Whether `profiling` wants a column's values scanned.
fn wants(profiling: Profiling, _table: &crate::source::Table, column: &crate::source::Column) -> bool {
    let need = plan::types::profile_need(&column.declared_type);
    match profiling {
        Profiling::AsPlanned => need == ProfileNeed::Always,
        Profiling::Everything => true,
        Profiling::DatesOnly => {
            need != ProfileNeed::None
                && plan::types::is_temporal(&plan::types::parse_declared(&column.declared_type).name)
        }
    }
}

/// How the source is planned into the target.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub config: Config,
    pub schema: String,
    pub identifiers: IdentifierStyle,
}

impl Mapping {
    pub fn plan_options(&self) -> PlanOptions {
        PlanOptions {
            schema: self.schema.clone(),
            identifiers: self.identifiers,
        }
    }
}

/// Describes the source and plans it, reporting the plan's warnings.
pub fn plan_source(
    source: &dyn Source,
    mapping: &Mapping,
    profiling: Profiling,
    reporter: &Reporter,
) -> Result<(SourceSchema, Plan)> {
    reporter.emit(Event::Phase(format!("reading {}", source.display_name())));
    let (source_schema, plan) = describe_and_plan(source, mapping, &|t, c| wants(profiling, t, c))?;
    // A provisional plan's notes are not the copy's: the settled plan's are.
    if !source.model_is_provisional() {
        for w in &plan.warnings {
            reporter.emit(Event::Info(format!("note: {w}")));
        }
    }
    Ok((source_schema, plan))
}

/// After a copy staged its rows with a provisional plan: the source's
/// whole model, planned (its notes reported), and whether the source says
/// it stages the same rows as the provisional one.
pub fn settle_plan(
    source: &dyn Source,
    mapping: &Mapping,
    profiling: Profiling,
    reporter: &Reporter,
) -> Result<(bool, Plan)> {
    let same = source.settle_model()?;
    let (_, plan) = describe_and_plan(source, mapping, &|t, c| wants(profiling, t, c))?;
    for w in &plan.warnings {
        reporter.emit(Event::Info(format!("note: {w}")));
    }
    Ok((same, plan))
}

/// Describes the source, profiling what `profile` asks for, and plans it.
pub fn describe_and_plan(
    source: &dyn Source,
    mapping: &Mapping,
    profile: &crate::source::ProfileFilter<'_>,
) -> Result<(SourceSchema, Plan)> {
    let mut source_schema = source.describe(profile)?;
    profile_details(source, &mut source_schema)?;
    let plan = plan::build(
        &source.display_name(),
        &source_schema,
        &mapping.config,
        &mapping.plan_options(),
    )?;
    Ok((source_schema, plan))
}

/// Re-plans one table after profiling its values, for a table where a
/// value broke what its speculative types assumed.
pub fn replan_table(source: &dyn Source, mapping: &Mapping, table: &str) -> Result<plan::TablePlan> {
    let (_, fresh) = describe_and_plan(source, mapping, &|t, c| {
        t.name == table && plan::types::profile_need(&c.declared_type) != ProfileNeed::None
    })?;
    fresh
        .tables
        .into_iter()
        .find(|t| t.source == table)
        .ok_or_else(|| crate::error::Error::Other(format!("table {table} vanished while re-planning")))
}

/// Fills what an aggregate profile cannot say, with one more scan of each
/// table over the profiled columns that need it ([`types::detail_need`]).
fn profile_details(source: &dyn Source, schema: &mut SourceSchema) -> Result<()> {
    let mut reader: Option<Box<dyn crate::source::Reader>> = None;
    for table in &mut schema.tables {
        let wanted: Vec<(usize, types::DetailNeed)> = table
            .columns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| types::detail_need(c).map(|need| (i, need)))
            .collect();
        if wanted.is_empty() {
            continue;
        }
        if reader.is_none() {
            reader = source.readers(1)?.pop();
        }
        let Some(reader) = reader.as_mut() else { return Ok(()) };
        let select: Vec<Selected> = wanted
            .iter()
            .map(|(i, _)| Selected::Column(table.columns[*i].name.clone()))
            .collect();
        let mut profiles: Vec<ColumnProfile> = wanted
            .iter()
            .map(|(i, _)| table.columns[*i].profile.clone().unwrap_or_default())
            .collect();
        let scan = Scan::whole(&table.name, &select);
        reader.scan(&scan, &mut |row| {
            for (slot, (_, need)) in wanted.iter().enumerate() {
                types::add_detail(*need, row.value(slot), &mut profiles[slot]);
            }
            Ok(Flow::Continue)
        })?;
        for ((i, need), profile) in wanted.iter().zip(profiles) {
            let mut profile = profile;
            // Measured, even when nothing was seen: the plan tells "none" from "not measured".
            match need {
                types::DetailNeed::DecimalDigits => {
                    profile.decimal_digits.get_or_insert((0, 0));
                }
                types::DetailNeed::EpochMagnitudes => {
                    profile.epoch_magnitudes.get_or_insert_with(Default::default);
                }
            }
            table.columns[*i].profile = Some(profile);
        }
    }
    Ok(())
}
