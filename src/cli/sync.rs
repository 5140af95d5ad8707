//! `godwit sync` and `godwit cutover`: flags into sync's options.

use clap::Args;

use super::connect::TargetArgs;
use super::groups::{MappingArgs, OutputArgs};
use crate::error::{ExitCode, Result};
use crate::report::{Event, Reporter};
use crate::sync::{self, SyncOptions};

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The source the target was copied from: a SQLite file path, or sqlite:PATH. It is only read.
    #[arg(value_name = "SOURCE")]
    pub source: String,

    #[command(flatten)]
    pub target: TargetArgs,

    #[command(flatten)]
    pub mapping: MappingArgs,

    /// Run a round every SECONDS until Ctrl-C, one line per round.
    #[arg(long, value_name = "SECONDS")]
    pub watch: Option<f64>,

    /// Tables read in parallel [default: number of cores].
    #[arg(long, short, value_name = "N")]
    pub jobs: Option<usize>,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct CutoverArgs {
    /// The source the target was copied from: a SQLite file path, or sqlite:PATH. Its writers
    /// wait during the final round (they need a busy_timeout longer than the pause).
    #[arg(value_name = "SOURCE")]
    pub source: String,

    #[command(flatten)]
    pub target: TargetArgs,

    #[command(flatten)]
    pub mapping: MappingArgs,

    /// Tables read in parallel [default: number of cores].
    #[arg(long, short, value_name = "N")]
    pub jobs: Option<usize>,

    #[command(flatten)]
    pub output: OutputArgs,
}

fn options(target: &TargetArgs, jobs: Option<usize>, reporter: &Reporter) -> Result<SyncOptions> {
    let spec = super::connect::resolve_target(target, reporter)?;
    crate::postgres::pooler::refuse(
        &spec,
        "sync",
        "session settings and prepared statements that outlive its transactions",
    )?;
    Ok(SyncOptions {
        target: spec,
        schema: target.schema.clone(),
        jobs: jobs.unwrap_or_else(crate::verify::default_jobs).max(1),
    })
}

pub fn run(args: SyncArgs) -> Result<ExitCode> {
    let reporter = Reporter::new(args.output.options());
    let source = crate::source::open(&args.source)?;
    let mapping = args.mapping.resolve(&args.target.schema)?;
    let options = options(&args.target, args.jobs, &reporter)?;
    sync::run(source.as_ref(), &mapping, &options, args.watch, &reporter)?;
    Ok(ExitCode::Ok)
}

pub fn run_cutover(args: CutoverArgs) -> Result<ExitCode> {
    let reporter = Reporter::new(args.output.options());
    let source = crate::source::open(&args.source)?;
    let mapping = args.mapping.resolve(&args.target.schema)?;
    let options = options(&args.target, args.jobs, &reporter)?;
    let summary = sync::cutover::run(source.as_ref(), &mapping, &options, &reporter)?;
    let differences = summary.differences;
    reporter.emit(Event::CutoverFinished(Box::new(summary)));
    Ok(if differences > 0 {
        ExitCode::Different
    } else {
        ExitCode::Ok
    })
}
