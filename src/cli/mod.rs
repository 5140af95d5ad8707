//! Command-line interface: raw flags (`args`) are parsed by clap, then
//! resolved into settings by each command. `main` maps the outcome to the
//! documented exit codes and prints errors to stderr.

pub mod args;
mod copy;
mod local;
mod plan;
mod sync;
mod verify;

pub use args::{Cli, Command, OutputArgs, TargetArgs};
pub use copy::resolve_target;

use clap::Parser;

use crate::error::{Error, ExitCode};
use crate::report::Reporter;

/// Parses the process arguments and runs the command.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let code = if err.use_stderr() {
                ExitCode::Usage
            } else {
                ExitCode::Ok
            };
            let _ = err.print();
            return code;
        }
    };
    crate::report::interrupt::install();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!(
                "error: {}",
                crate::target::postgres::conn::redact_urls(&err.to_string())
            );
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
        Command::Migrate(args) => crate::migrate::run_cli(args),
        Command::Local(args) => local::run(args),
    }
}
