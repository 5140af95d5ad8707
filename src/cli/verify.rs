//! `godwit verify`: flags into verify's options.

use clap::Args;

use super::args::{MappingArgs, OutputArgs, TargetArgs};
use crate::error::{ExitCode, Result};
use crate::report::Reporter;
use crate::verify::{self, VerifyOptions};

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The source: a SQLite file, or a JSON, JSON Lines or CSV file, or a directory of them.
    #[arg(value_name = "SOURCE")]
    pub source: String,

    #[command(flatten)]
    pub target: TargetArgs,

    #[command(flatten)]
    pub mapping: MappingArgs,

    /// Tables compared in parallel [default: number of cores].
    #[arg(long, short, value_name = "N")]
    pub jobs: Option<usize>,

    /// Most keys listed per kind of difference and table; totals are always given.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub max_keys: usize,

    #[command(flatten)]
    pub output: OutputArgs,
}

pub fn run(args: VerifyArgs) -> Result<ExitCode> {
    let reporter = Reporter::new(args.output.options());
    let mapping = args.mapping.resolve(&args.target.schema)?;
    let source = crate::source::open_with(&args.source, &mapping.config.documents)?;
    let target = super::connect::resolve_target(&args.target, &reporter)?;
    let options = VerifyOptions {
        target,
        schema: args.target.schema.clone(),
        jobs: args.jobs.unwrap_or_else(verify::default_jobs).max(1),
        max_keys: args.max_keys,
    };
    verify::run(source.as_ref(), &mapping, &options, &reporter)
}
