//! The connection every command shares: `--to`, else DATABASE_URL (clap
//! reads it), else godwit's local cluster; waiting for a restarting server is
//! said on stderr.

use crate::cli::args::TargetArgs;
use crate::error::Result;
use crate::postgres::conn::{ConnSpec, WaitNotice};
use crate::report::{Event, Reporter};

/// `--to`, else DATABASE_URL (clap reads it), else the local cluster,
/// started if needed. Connections wait for a restarting server up to
/// `--connect-timeout`.
pub fn resolve_target(target: &TargetArgs, reporter: &Reporter) -> Result<ConnSpec> {
    resolve_url(target.to.as_deref(), target.connect.connect_timeout, reporter)
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
