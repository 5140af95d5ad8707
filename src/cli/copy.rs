//! `godwit copy`: resolve flags into settings, plan, load, report.

use std::path::PathBuf;

use crate::cli::args::CopyArgs;
use crate::cli::connect::{resolve_target, wait_on_stderr};
use crate::copy::{self, CopyOptions};
use crate::error::{ExitCode, Result};
use crate::postgres::conn::ConnSpec;
use crate::prepare::{Profiling, plan_source, replan_table, settle_plan};
use crate::report::{Event, Reporter};

pub fn run(args: CopyArgs, reporter: &Reporter) -> Result<ExitCode> {
    if crate::reverse::is_postgres_source(&args.source) {
        return run_reverse(args, reporter);
    }
    if args
        .target
        .database
        .to
        .as_deref()
        .is_some_and(|t| t.starts_with("sqlite:"))
    {
        return Err(crate::error::Error::Usage(
            "--to sqlite:PATH writes SQLite from a PostgreSQL source (postgresql://...); this source is a SQLite file"
                .into(),
        ));
    }
    let mapping = args.mapping.resolve(&args.target.schema)?;
    let source = crate::source::open_with(&args.source, &mapping.config.documents)?;
    let source = source.as_ref();
    let target = crate::roles::run_as_optional(resolve_target(&args.target, reporter)?, args.owner.as_deref());
    crate::postgres::pooler::refuse(
        &target,
        "copy",
        "a session-level advisory lock on its staging schema, and session settings",
    )?;
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
    // A schema copy of large JSON Lines or arrays reads them once: staged
    // with a model of their start, learned whole as the rows are made.
    if !args.data_only {
        source.prefer_provisional_model();
    }
    let existing = match args.data_only {
        true => Some(copy::data_only::existing_tables(&target, &args.target.schema)?),
        false => None,
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
    let outcome = if let Some(existing) = &existing {
        copy::data_only::load_into_existing_tables(source, &schema, plan, existing, &options, args.truncate, reporter)
    } else {
        let replan = |table: &str| replan_table(source, &mapping, table);
        let settle = || settle_plan(source, &mapping, profiling, reporter);
        copy::copy_schema_and_data(source, plan, &replan, &settle, &options, reporter)
    }
    .map_err(|e| source.explain_target_error(e))?;
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
        self.target.database.to.is_none()
    }
}

/// `copy postgresql://... --to sqlite:PATH`: the way back.
fn run_reverse(args: CopyArgs, reporter: &Reporter) -> Result<ExitCode> {
    let Some(path) = args
        .target
        .database
        .to
        .as_deref()
        .and_then(|t| t.strip_prefix("sqlite:"))
    else {
        return Err(crate::error::Error::Usage(
            "the source is a PostgreSQL database: say which SQLite file to write with --to sqlite:PATH".into(),
        ));
    };
    if args.data_only || args.truncate || args.rejects.is_some() || args.mapping.config.is_some() {
        return Err(crate::error::Error::Usage(
            "--data-only, --truncate, --rejects and --config apply to copies into PostgreSQL, not to --to sqlite:PATH"
                .into(),
        ));
    }
    let options = crate::reverse::ReverseOptions {
        source: ConnSpec::parse(&args.source)?
            .with_retry(args.target.database.connect.connect_timeout, wait_on_stderr()),
        schema: args.target.schema.clone(),
        path: PathBuf::from(path),
        replace: args.replace,
    };
    let outcome = crate::reverse::copy_to_sqlite(&options, reporter)?;
    reporter.emit(Event::CopyFinished(outcome.summary));
    if args.verify {
        let written = crate::source::open(&format!("sqlite:{path}"))?;
        // The file is the app's own again: no casts or renames apply to it.
        let mapping = crate::prepare::Mapping {
            config: crate::config::Config::default(),
            schema: options.schema.clone(),
            identifiers: args.mapping.identifiers.into(),
        };
        let verify_options = crate::verify::VerifyOptions {
            target: options.source.clone(),
            schema: options.schema.clone(),
            jobs: args.jobs.unwrap_or_else(crate::verify::default_jobs).max(1),
            max_keys: 100,
        };
        let verified = crate::verify::after_copy(written.as_ref(), &mapping, false, &verify_options, reporter)?;
        if verified == ExitCode::Different {
            return Ok(ExitCode::Different);
        }
    }
    Ok(if outcome.review { ExitCode::Review } else { ExitCode::Ok })
}
