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

    /// Create partitions ahead with godwit's own statements even where pg_partman is installed.
    #[arg(long)]
    pub without_partman: bool,

    /// Archive the partitions whose whole range is older than this (e.g. 12months, 90days, 2years):
    /// detach, write to --archive-to with a manifest, read back and prove, then drop.
    #[arg(long, value_name = "AGE", requires = "archive_to", value_parser = maintain::archive::Age::parse)]
    pub archive_older_than: Option<maintain::archive::Age>,

    /// Where archived partitions go: a directory or s3://BUCKET/PREFIX (as for `godwit backup`).
    #[arg(long, value_name = "DIR|s3://...", requires = "archive_older_than")]
    pub archive_to: Option<String>,
}

pub fn run(args: MaintainArgs) -> Result<ExitCode> {
    let target = args.database.required()?;
    crate::postgres::pooler::refuse(&target, "maintain", "its lock_timeout and statement_timeout settings")?;
    // Progress on stderr; nothing at all with --json.
    let reporter = crate::report::Reporter::new(crate::report::ReportOptions {
        json: args.json,
        quiet: false,
        hide_summaries: true,
    });
    let target_for_archive = target.clone();
    let report = maintain::run(
        &MaintainOptions {
            target,
            dry_run: args.dry_run,
            lock_timeout: args.lock_timeout,
            without_partman: args.without_partman,
        },
        &reporter,
    )?;
    let archived = match (args.archive_older_than, &args.archive_to) {
        (Some(older_than), Some(location)) => Some(maintain::archive::run(
            &maintain::archive::ArchiveOptions {
                target: target_for_archive.clone(),
                older_than,
                location: location.clone(),
                dry_run: args.dry_run,
                lock_timeout: args.lock_timeout,
            },
            &reporter,
        )?),
        _ => None,
    };
    if args.json {
        match &archived {
            Some(a) => println!(
                "{}",
                serde_json::json!({"maintain": serde_json::from_str::<serde_json::Value>(&output::json(&report)).unwrap_or_default(), "archive": a})
            ),
            None => println!("{}", output::json(&report)),
        }
    } else {
        print!("{}", crate::report::shown::text(&output::human(&report)));
        if let Some(a) = &archived {
            print!("{}", crate::report::shown::text(&archive_human(a)));
        }
    }
    if archived.as_ref().is_some_and(|a| a.failed()) {
        return Ok(ExitCode::Review);
    }
    Ok(if report.needs_review() {
        ExitCode::Review
    } else {
        ExitCode::Ok
    })
}

fn archive_human(report: &maintain::archive::ArchiveReport) -> String {
    let mut out = format!(
        "\narchive to {} of partitions older than {}{}:\n",
        report.location,
        report.cutoff,
        if report.dry_run { " (dry run)" } else { "" }
    );
    if report.partitions.is_empty() {
        out.push_str("  nothing to archive\n");
    }
    for p in &report.partitions {
        out.push_str(&format!(
            "  {:<8} {} ({}): {}\n",
            p.status, p.partition, p.table, p.message
        ));
    }
    out
}
