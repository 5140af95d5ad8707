//! Command-line interface: raw flags (`args`) are parsed by clap, then
//! resolved into settings by each command. `main` maps the outcome to the
//! documented exit codes and prints errors to stderr.

pub mod args;
pub mod audit;
pub mod backup;
pub mod connect;
pub(crate) mod copy;
pub mod groups;
pub mod health;
pub mod inspect;
mod local;
pub mod maintain;
pub mod migrate;
mod plan;
pub mod report;
pub mod roles;
mod sync;
mod verify;
pub mod workload;

pub use args::{Cli, Command};
pub use connect::TargetArgs;
pub use connect::resolve_target;
pub use groups::OutputArgs;

use clap::Parser;

use crate::error::{Error, ExitCode};
use crate::report::Reporter;

/// Parses the process arguments and runs the command.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let code = if !err.use_stderr() {
                ExitCode::Ok
            } else if std::env::args().nth(1).as_deref() == Some("health") {
                // Monitoring reads a bad command line as UNKNOWN, not CRITICAL.
                crate::health::Status::Unknown.exit_code()
            } else {
                ExitCode::Usage
            };
            let _ = err.print();
            return code;
        }
    };
    crate::report::interrupt::install();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", crate::postgres::conn::redact_urls(&err.to_string()));
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            err.exit_code()
        }
    }
}

pub fn run(cli: Cli) -> Result<ExitCode, Error> {
    match cli.command {
        Command::Plan(args) => plan::run(args),
        Command::Copy(args) => {
            let reporter = Reporter::new(args.output.options());
            copy::run(args, &reporter)
        }
        Command::Verify(args) => verify::run(args),
        Command::Sync(args) => sync::run(args),
        Command::Cutover(args) => sync::run_cutover(args),
        Command::Migrate(args) => migrate::run(args),
        Command::Backup(args) => backup::run(args),
        Command::Restore(args) => backup::restore(args),
        Command::Local(args) => local::run(args),
        Command::Health(args) => Ok(health::run(args)),
        Command::Inspect(args) => inspect::run(args),
        Command::Maintain(args) => maintain::run(args),
        Command::Workload(args) => workload::run(args),
        Command::Report(args) => report::run(args),
        Command::Roles(args) => roles::run(args),
        Command::Audit(args) => audit::run(args),
    }
}

/// `--to` or DATABASE_URL; these commands never start the local cluster.
pub fn required_target(to: Option<&str>) -> Result<crate::postgres::conn::ConnSpec, Error> {
    match to.filter(|url| !url.trim().is_empty()) {
        Some(url) => crate::postgres::conn::ConnSpec::parse(url),
        None => Err(Error::Usage(
            "no database given: pass --to URL or set DATABASE_URL \
             (for the local cluster: --to \"$(godwit local url)\")"
                .into(),
        )),
    }
}
