//! `godwit maintain`: flags and printing.

use std::time::Duration;

use clap::Args;

use crate::cli::connect::DatabaseArgs;
use crate::error::{ExitCode, Result};
use crate::maintain::{self, MaintainOptions, output};

pub const MAINTAIN_EXIT_CODES: &str = "\
Exit codes:
  0  every step done (or nothing to do, or --dry-run)
  1  failed (cannot connect, a server error before any step)
  2  usage error
  3  something to review: a constraint left NOT VALID (rows violate it), a step skipped
     because the application held a lock, or a step that failed";

#[derive(Debug, Args)]
#[command(mut_arg("to", |a| a.help(
    "Database to maintain: a postgresql:// URL or a key=value string. PG* variables and .pgpass fill the gaps"
)))]
pub struct MaintainArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Print the exact statements that would run, with why and the current figures; change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Print {"dry_run", "steps": [{"action", "object", "statement", "status", "before", "after", ...}]}.
    #[arg(long)]
    pub json: bool,

    /// How long each step may wait for a lock before it is skipped (so it never queues behind,
    /// or in front of, the application's locks).
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = crate::units::parse_duration)]
    pub lock_timeout: Duration,
}

pub fn run(args: MaintainArgs) -> Result<ExitCode> {
    let target = args.database.required()?;
    // Progress on stderr; nothing at all with --json.
    let reporter = crate::report::Reporter::new(crate::report::ReportOptions {
        json: args.json,
        quiet: false,
        hide_summaries: true,
    });
    let report = maintain::run(
        &MaintainOptions {
            target,
            dry_run: args.dry_run,
            lock_timeout: args.lock_timeout,
        },
        &reporter,
    )?;
    if args.json {
        println!("{}", output::json(&report));
    } else {
        print!("{}", crate::report::shown::text(&output::human(&report)));
    }
    Ok(if report.needs_review() {
        ExitCode::Review
    } else {
        ExitCode::Ok
    })
}
