//! `godwit health`: flags, and printing the report in the chosen format.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::cli::connect::DatabaseArgs;
use crate::config::Config;
use crate::error::{ExitCode, Result};
use crate::health::{self, HealthOptions, Threshold, output};
use crate::report::html::Dossier;

const HEALTH_EXIT_CODES: &str = "\
Exit codes (the monitoring plugin convention, unlike other godwit commands):
  0  OK        every check passed
  1  WARNING   a check passed its warning threshold
  2  CRITICAL  a check passed its critical threshold, or the server is unreachable
  3  UNKNOWN   a check could not run (missing privilege, timeout), or bad flags or config
The overall status is the worst check: critical > warning > unknown > ok.";

/// `health --help`'s closing text: exit codes, then the checks by name from the registry.
pub fn after_help() -> String {
    format!(
        "{HEALTH_EXIT_CODES}\n\n{}\nSee docs/operations.md for what each measures and its defaults \
         (or godwit health --list).",
        health::registry::help_names()
    )
}

#[derive(Debug, Args)]
#[command(
    mut_arg("to", |a| a.help(
        "Database to check: a postgresql:// URL or a key=value string. PG* variables and .pgpass fill the \
         gaps. Server-wide checks (sessions, connections) see the whole server; catalog checks (sequences, \
         indexes, constraints) this database"
    )),
    // health never retries: an unreachable server is what it reports.
    mut_arg("connect_timeout", |a| a.help(
        "An unreachable server is CRITICAL after this long; health never waits beyond it"
    ))
)]
pub struct HealthArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// List every check with its unit, default thresholds and what it measures, and exit.
    #[arg(long)]
    pub list: bool,

    /// Print {"status": ..., "checks": [...]} on stdout (same as --format json).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,

    /// Output format.
    #[arg(long, value_enum, default_value_t = HealthFormat::Human)]
    pub format: HealthFormat,

    /// Override a check's thresholds, e.g. long_running_queries=30s,2min or sequences=,99
    /// (critical only). Repeatable; wins over the [health] table of godwit.toml.
    #[arg(long, value_name = "CHECK=WARN[,CRIT]", value_parser = health::thresholds::parse_assignment)]
    pub threshold: Vec<(String, Threshold)>,

    /// Backup directory for the last_backup check (newest DIR/<id> with a manifest.json).
    #[arg(long, value_name = "DIR")]
    pub backups: Option<String>,

    /// Config file with a [health] table. Defaults to ./godwit.toml when present.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Also write the report as one self-contained HTML page to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,

    /// statement_timeout of each check's query; a check that takes longer is UNKNOWN.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = crate::units::parse_duration)]
    pub query_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HealthFormat {
    /// One line per check, worst first.
    Human,
    /// {"status": ..., "checks": [{"name", "status", "value", "message", ...}]}.
    Json,
    /// One Nagios plugin line with perfdata.
    Nagios,
    /// Prometheus text exposition, for node_exporter's textfile collector.
    Prometheus,
}

pub fn run(args: HealthArgs) -> ExitCode {
    if args.list {
        print!("{}", health::registry::list());
        return ExitCode::Ok;
    }
    let format = if args.json { HealthFormat::Json } else { args.format };
    match options(&args) {
        Ok(options) => {
            let report = health::run(&options);
            let text = match format {
                HealthFormat::Human => crate::report::shown::text(&output::human(&report)).into_owned(),
                HealthFormat::Json => output::json(&report),
                HealthFormat::Nagios => crate::report::shown::text(&output::nagios(&report)).into_owned(),
                HealthFormat::Prometheus => output::prometheus(&report),
            };
            println!("{}", text.trim_end());
            if let Some(path) = &args.html {
                let mut page = Dossier::new("godwit health", &report.target);
                page.health = Some(Dossier::json_of(&report));
                if let Err(e) = super::report::write_page(&page, path) {
                    eprintln!("error: {e}");
                    return health::Status::Unknown.exit_code();
                }
            }
            report.status.exit_code()
        }
        Err(e) => {
            // Monitoring reads stdout and the exit code: a bad setup is UNKNOWN, not CRITICAL.
            let message = crate::postgres::conn::redact_urls(&e.to_string());
            if format == HealthFormat::Nagios {
                println!("POSTGRES UNKNOWN - {}", message.replace('\n', " "));
            }
            eprintln!("error: {message}");
            health::Status::Unknown.exit_code()
        }
    }
}

fn options(args: &HealthArgs) -> Result<HealthOptions> {
    let config = Config::load(args.config.as_deref())?;
    let target = super::required_target(args.database.to.as_deref())?;
    Ok(HealthOptions {
        target,
        thresholds: health::thresholds::merge(&health::thresholds::from_config(&config)?, &args.threshold),
        connect_timeout: args.database.connect.connect_timeout,
        query_timeout: args.query_timeout,
        backups: args.backups.clone().or(config.health.backups),
    })
}
