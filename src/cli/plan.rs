//! `godwit plan`: read the source, print the schema and every cast.

use crate::cli::args::{PlanArgs, PlanFormat};
use crate::error::{ExitCode, Result};
use crate::plan::ddl;
use crate::plan::{self, Plan};
use crate::prepare::describe_and_plan;
use crate::report::shown;

pub fn run(args: PlanArgs) -> Result<ExitCode> {
    let mapping = args.mapping.resolve(&args.schema)?;
    let source = crate::source::open_with(&args.source, &mapping.config.documents)?;
    let (_, mut plan) = describe_and_plan(source.as_ref(), &mapping, &|_, _| true)?;
    for table in &plan.tables {
        for column in &table.columns {
            if column.reason.starts_with("cast in config") {
                continue;
            }
            // Suggestions are a courtesy: a column that cannot be sampled gets none.
            let samples = source.sample(&table.source, &column.source, 50).unwrap_or_default();
            if let Some(s) = plan::suggest::for_column(&table.source, &column.source, &column.declared, &samples) {
                plan.suggestions.push(s);
            }
        }
    }
    match args.format {
        PlanFormat::Json => println!("{}", serde_json::to_string_pretty(&plan).unwrap_or_default()),
        PlanFormat::Text => print!("{}", shown::text(&render(&plan))),
    }
    Ok(ExitCode::Ok)
}

/// The human form: DDL, then a table of columns and casts, then notes.
pub fn render(plan: &Plan) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "-- godwit plan for {} → schema {}\n\n",
        plan.source, plan.schema
    ));
    out.push_str(&ddl::script(plan));
    out.push_str("\n-- Columns: source declared type [observed storage classes] → PostgreSQL type: cast (why)\n");
    for t in &plan.tables {
        out.push_str(&format!(
            "\n{} → {} ({} rows)\n",
            shown::name(&t.source),
            shown::name(&t.target),
            t.row_count
        ));
        for c in &t.columns {
            let observed = if c.observed.is_empty() {
                String::new()
            } else {
                format!(" [{}]", c.observed.join(", "))
            };
            out.push_str(&format!(
                "  {:<24} {:<16}{} → {}: {} ({})\n",
                shown::name(&c.source),
                if c.declared.is_empty() {
                    "(none)"
                } else {
                    c.declared.as_str()
                },
                observed,
                c.pg_type.sql(),
                c.cast.describe(),
                c.reason
            ));
        }
    }
    for (title, items) in [
        ("Keys and relations inferred", &plan.inferred),
        ("Skipped files", &plan.skipped),
        ("Not migrated", &plan.not_migrated),
        ("Warnings", &plan.warnings),
        ("Suggestions", &plan.suggestions),
        ("Full-text and spatial tables", &plan.translations),
    ] {
        if !items.is_empty() {
            out.push_str(&format!("\n{title}:\n"));
            for i in items {
                out.push_str(&format!("  - {i}\n"));
            }
        }
    }
    out
}
