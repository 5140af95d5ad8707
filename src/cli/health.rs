//! `godwit health`: flags, and printing the report in the chosen format.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::config::Config;
use crate::error::{ExitCode, Result};
use crate::health::{self, HealthOptions, Threshold, output};
use crate::report::html::Dossier;

pub const HEALTH_EXIT_CODES: &str = "\
Exit codes (the monitoring plugin convention, unlike other godwit commands):
  0  OK        every check passed
  1  WARNING   a check passed its warning threshold
  2  CRITICAL  a check passed its critical threshold, or the server is unreachable
  3  UNKNOWN   a check could not run (missing privilege, timeout), or bad flags or config
The overall status is the worst check: critical > warning > unknown > ok.

Checks: connection, connections, long_running_queries, idle_in_transaction, blocked_queries,
xid_wraparound, sequences, invalid_indexes, not_valid_constraints, cache_hit, replication,
prepared_transactions, autovacuum, database_size (with a threshold), last_backup (with --backups).
Security (WARNING when a rule fails, see docs/security.md): app_role, superusers, pg_hba,
password_encryption, md5_passwords, ssl, schema_create, security_definer, connection_logging,
extension_updates.
See docs/operations.md for what each measures and its defaults.";

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Database to check: a postgresql:// URL or a key=value string. PG* variables and .pgpass
    /// fill the gaps. Server-wide checks (sessions, connections) see the whole server;
    /// catalog checks (sequences, indexes, constraints) this database.
    #[arg(
        long,
        visible_alias = "database-url",
        value_name = "URL",
        env = "DATABASE_URL",
        hide_env_values = true
    )]
    pub to: Option<String>,

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

    /// An unreachable server is CRITICAL after this long; health never waits beyond it.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = crate::units::parse_duration)]
    pub connect_timeout: Duration,

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
    let target = super::required_target(args.to.as_deref())?;
    Ok(HealthOptions {
        target,
        thresholds: health::thresholds::merge(&config.health.thresholds, &args.threshold),
        connect_timeout: args.connect_timeout,
        query_timeout: args.query_timeout,
        backups: args.backups.clone().or(config.health.backups),
    })
}
