//! `godwit inspect`: flags and printing.

use std::time::Duration;

use clap::Args;

use crate::cli::connect::DatabaseArgs;
use crate::error::{Error, ExitCode, Result};
use crate::inspect::{self, InspectOptions, output};
use crate::report::html::Dossier;

const INSPECT_EXIT_CODES: &str = "\
Exit codes:
  0  nothing found
  1  failed (cannot connect, a server error)
  2  usage error
  3  findings to review";

/// `inspect --help`'s closing text: exit codes, then the kinds from the registry.
pub fn after_help() -> String {
    format!(
        "{INSPECT_EXIT_CODES}\n\n{} See docs/operations.md.",
        crate::units::wrap(
            &format!("Kinds: {} (docs/security.md).", inspect::registry::names().join(", ")),
            100
        )
    )
}

#[derive(Debug, Args)]
#[command(mut_arg("to", |a| a.help(
    "Database to inspect: a postgresql:// URL or a key=value string. PG* variables and .pgpass fill the gaps"
)))]
pub struct InspectArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Print {"findings": [{"kind", "object", "evidence", "suggestion", ...}], "notes": [...]}.
    #[arg(long)]
    pub json: bool,

    /// Also write the findings as one self-contained HTML page to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<std::path::PathBuf>,

    /// Only these kinds (repeatable, or comma-separated).
    #[arg(long, value_name = "KIND", value_delimiter = ',')]
    pub kind: Vec<String>,

    /// A statement from pg_stat_statements is slow from this mean time.
    #[arg(long, value_name = "DURATION", default_value = "100ms", value_parser = crate::units::parse_duration)]
    pub slow_query: Duration,

    /// Index statistics must cover at least this long before an index with no scans is called
    /// unused (and some index of the database must have been scanned at all).
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = crate::units::parse_duration)]
    pub min_stats_age: Duration,
}

pub fn run(args: InspectArgs) -> Result<ExitCode> {
    for kind in &args.kind {
        if !inspect::registry::known(kind) {
            return Err(Error::Usage(format!(
                "unknown kind {kind:?}; known: {}",
                inspect::registry::names().join(", ")
            )));
        }
    }
    let target = args.database.required()?;
    let report = inspect::run(&InspectOptions {
        target,
        kinds: args.kind.iter().cloned().collect(),
        slow_query: args.slow_query,
        min_stats_age: args.min_stats_age,
    })?;
    if args.json {
        println!("{}", output::json(&report));
    } else {
        print!("{}", crate::report::shown::text(&output::human(&report)));
    }
    if let Some(path) = &args.html {
        let mut page = Dossier::new("godwit inspect", &report.target);
        page.inspect = Some(Dossier::json_of(&report));
        super::report::write_page(&page, path)?;
    }
    Ok(if report.findings.is_empty() {
        ExitCode::Ok
    } else {
        ExitCode::Review
    })
}
