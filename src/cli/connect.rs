//! The connection every command shares: `--to`, else DATABASE_URL (clap
//! reads it), else godwit's local cluster; waiting for a restarting server is
//! said on stderr.

use clap::Args;

use crate::error::Result;
use crate::postgres::conn::{ConnSpec, WaitNotice};
use crate::report::{Event, Reporter};

/// `--to`, else DATABASE_URL (clap reads it), else the local cluster,
/// started if needed. Connections wait for a restarting server up to
/// `--connect-timeout`.
pub fn resolve_target(target: &TargetArgs, reporter: &Reporter) -> Result<ConnSpec> {
    resolve_url(
        target.database.to.as_deref(),
        target.database.connect.connect_timeout,
        reporter,
    )
}

/// [`resolve_target`] for commands that spell their own target flag.
pub fn resolve_url(to: Option<&str>, connect_timeout: std::time::Duration, reporter: &Reporter) -> Result<ConnSpec> {
    match to {
        Some(url) => Ok(ConnSpec::parse(url)?.with_retry(connect_timeout, wait_on_stderr())),
        None => {
            let cluster = crate::local::LocalCluster::discover()?;
            reporter.emit(Event::Info(
                "no --to or DATABASE_URL: using godwit's local cluster".into(),
            ));
            let spec = cluster.start()?;
            Ok(spec)
        }
    }
}

/// Says on stderr that godwit waits for the server (also under --json,
/// whose stdout stays one document).
pub fn wait_on_stderr() -> std::sync::Arc<dyn Fn(&WaitNotice) + Send + Sync> {
    std::sync::Arc::new(|notice: &WaitNotice| eprintln!("{notice}"))
}

/// The database a command works on: `--to` (alias `--database-url`), else
/// DATABASE_URL, and how long to wait for it. Every command that names a
/// database flattens this group; one whose `--to` says more (what the role
/// must be, what is looked at) sets that help with
/// `#[command(mut_arg("to", |a| a.help(...)))]`, so the flag itself is
/// defined here only.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Database: a postgresql:// URL or a key=value string. PG* variables and .pgpass fill the gaps.
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
}

impl DatabaseArgs {
    /// The database named by `--to` or DATABASE_URL (never the local
    /// cluster), waiting for a restarting server up to `--connect-timeout`.
    pub fn required(&self) -> Result<ConnSpec> {
        Ok(super::required_target(self.to.as_deref())?.with_retry(self.connect.connect_timeout, wait_on_stderr()))
    }
}

/// Where the data goes: the database (the local cluster when none is named) and the schema.
#[derive(Debug, Clone, Args)]
#[command(mut_arg("to", |a| a.help(
    "Target database: a postgresql:// URL or a key=value string. PG* variables and .pgpass fill the gaps. \
     Without it (and without DATABASE_URL) godwit uses its local cluster, starting it if needed"
)))]
pub struct TargetArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Target schema.
    #[arg(long, value_name = "NAME", default_value = "public")]
    pub schema: String,
}

/// How long to wait for a server that is not accepting connections yet.
#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// How long to wait for a server that refuses connections, is starting up or shutting down
    /// (a restart), retrying with backoff, e.g. 30s or 2min.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub connect_timeout: std::time::Duration,
}

/// For clap: `30s`, `5min`, or seconds.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    crate::units::parse_duration(text)
}
