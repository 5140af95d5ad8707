//! `godwit plan`: read the source, print the schema and every cast.

use crate::cli::args::{PlanArgs, PlanFormat};
use crate::config::Config;
use crate::error::{ExitCode, Result};
use crate::plan::{self, Plan, PlanOptions};
use crate::source::sqlite::{SqliteSource, quote};
use crate::target::postgres::ddl;

pub fn run(args: PlanArgs) -> Result<ExitCode> {
    let source = SqliteSource::open(&args.source)?;
    let config = Config::load(args.mapping.config.as_deref())?;
    let conn = source.connect()?;
    let schema = source.describe(&conn, &|_, _| true)?;
    let mut plan = plan::build(
        &source.path.display().to_string(),
        &schema,
        &config,
        &PlanOptions {
            schema: args.schema.clone(),
            identifiers: args.mapping.identifiers,
        },
    )?;
    for table in &plan.tables {
        for column in &table.columns {
            let samples = sample(&conn, &table.source, &column.source);
            if column.reason.starts_with("cast in config") {
                continue;
            }
            if let Some(s) = plan::suggest::for_column(&table.source, &column.source, &column.declared, &samples) {
                plan.suggestions.push(s);
            }
        }
    }
    match args.format {
        PlanFormat::Json => println!("{}", serde_json::to_string_pretty(&plan).unwrap_or_default()),
        PlanFormat::Text => print!("{}", render(&plan)),
    }
    Ok(ExitCode::Ok)
}

fn sample(conn: &rusqlite::Connection, table: &str, column: &str) -> Vec<rusqlite::types::Value> {
    let sql = format!(
        "SELECT {c} FROM {t} WHERE {c} IS NOT NULL LIMIT 50",
        c = quote(column),
        t = quote(table)
    );
    let Ok(mut stmt) = conn.prepare(&sql) else {
        return Vec::new();
    };
    stmt.query_map([], |r| r.get::<_, rusqlite::types::Value>(0))
        .map(|rows| rows.flatten().collect())
        .unwrap_or_default()
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
        out.push_str(&format!("\n{} → {} ({} rows)\n", t.source, t.target, t.row_count));
        for c in &t.columns {
            let observed = if c.observed.is_empty() {
                String::new()
            } else {
                format!(" [{}]", c.observed.join(", "))
            };
            out.push_str(&format!(
                "  {:<24} {:<16}{} → {}: {} ({})\n",
                c.source,
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
