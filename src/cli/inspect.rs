//! `godwit inspect`: flags and printing.

use std::time::Duration;

use clap::Args;

use crate::cli::connect::ConnectArgs;
use crate::cli::required_target;
use crate::error::{Error, ExitCode, Result};
use crate::inspect::{self, InspectOptions, KINDS, output};
use crate::report::html::Dossier;

pub const INSPECT_EXIT_CODES: &str = "\
Exit codes:
  0  nothing found
  1  failed (cannot connect, a server error)
  2  usage error
  3  findings to review

Kinds: slow_query, duplicate_index, unused_index, missing_fk_index, dead_tuples, bloat,
vacuum_needed, analyze_needed, seq_scans, setting, security (docs/security.md). See docs/operations.md.";

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Database to inspect: a postgresql:// URL or a key=value string. PG* variables and .pgpass
    /// fill the gaps.
    #[arg(
        long,
        visible_alias = "database-url",
        value_name = "URL",
        env = "DATABASE_URL",
        hide_env_values = true
    )]
    pub to: Option<String>,

    #[command(flatten)]
    pub connect: ConnectArgs,

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
        if !KINDS.contains(&kind.as_str()) {
            return Err(Error::Usage(format!(
                "unknown kind {kind:?}; known: {}",
                KINDS.join(", ")
            )));
        }
    }
    let target = required_target(args.to.as_deref())?
        .with_retry(args.connect.connect_timeout, crate::cli::connect::wait_on_stderr());
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
