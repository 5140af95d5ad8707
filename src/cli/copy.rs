//! `godwit copy`: resolve flags into settings, plan, load, report.

use std::path::PathBuf;

use crate::cli::args::CopyArgs;
use crate::error::{ExitCode, Result};
use crate::load::{self, CopyOptions};
use crate::prepare::{Profiling, plan_source, replan_table};
use crate::report::{Event, Reporter};
use crate::target::postgres::conn::ConnSpec;

pub fn run(args: CopyArgs, reporter: &Reporter) -> Result<ExitCode> {
    let mapping = args.mapping.resolve(&args.target.schema)?;
    let source = crate::source::open_with(&args.source, &mapping.config.documents)?;
    let source = source.as_ref();
    let target = resolve_target(args.target.to.as_deref(), reporter)?;
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2))
        .max(1);
    let rejects_path = args
        .rejects
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.rejects.jsonl", source.file_stem())));

    // Data-only needs every column's profile: a target timestamp may take an INTEGER column of epoch values.
    let profiling = if args.data_only {
        Profiling::Everything
    } else {
        Profiling::AsPlanned
    };
    let (schema, plan) = plan_source(source, &mapping, profiling, reporter)?;
    let options = CopyOptions {
        target: target.clone(),
        schema: args.target.schema.clone(),
        replace: args.replace,
        on_error: args.on_error.into(),
        rejects_path,
        jobs,
    };
    let outcome = if args.data_only {
        load::data_only::copy(source, &schema, plan, &options, args.truncate, reporter)?
    } else {
        let replan = |table: &str| replan_table(source, &mapping, table);
        load::copy(source, plan, &replan, &options, reporter)?
    };
    let review = outcome.review;
    reporter.emit(Event::CopyFinished(outcome.summary));
    if args.to_was_local() {
        reporter.emit(Event::Info(format!("connect with: psql \"{target}\"")));
    }
    if args.verify {
        let options = crate::verify::VerifyOptions {
            target: target.clone(),
            schema: args.target.schema.clone(),
            jobs,
            max_keys: 100,
        };
        let verified = crate::verify::after_copy(source, &mapping, args.data_only, &options, reporter)?;
        if verified == ExitCode::Different {
            return Ok(ExitCode::Different);
        }
    }
    Ok(if review { ExitCode::Review } else { ExitCode::Ok })
}

impl CopyArgs {
    fn to_was_local(&self) -> bool {
        self.target.to.is_none()
    }
}

/// `--to`, else DATABASE_URL (clap reads it), else the local cluster,
/// started if needed.
pub fn resolve_target(to: Option<&str>, reporter: &Reporter) -> Result<ConnSpec> {
    match to {
        Some(url) => ConnSpec::parse(url),
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
