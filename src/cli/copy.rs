//! `godwit copy`: resolve flags into settings, plan, load, report.

use std::path::PathBuf;

use crate::cli::args::CopyArgs;
use crate::config::Config;
use crate::error::{ExitCode, Result};
use crate::load::{self, CopyOptions};
use crate::plan::{self, PlanOptions};
use crate::report::{Event, Reporter};
use crate::source::sqlite::SqliteSource;
use crate::target::postgres::conn::ConnSpec;

pub fn run(args: CopyArgs, reporter: &Reporter) -> Result<ExitCode> {
    if crate::reverse::is_postgres_source(&args.source) {
        return run_reverse(args, reporter);
    }
    if args.target.to.as_deref().is_some_and(|t| t.starts_with("sqlite:")) {
        return Err(crate::error::Error::Usage(
            "--to sqlite:PATH writes SQLite from a PostgreSQL source (postgresql://...); this source is a SQLite file"
                .into(),
        ));
    }
    let source = SqliteSource::open(&args.source)?;
    let config = Config::load(args.mapping.config.as_deref())?;
    let target = resolve_target(args.target.to.as_deref(), reporter)?;
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2))
        .max(1);
    let rejects_path = args
        .rejects
        .clone()
        .unwrap_or_else(|| default_rejects_path(&source.path));

    reporter.emit(Event::Phase(format!("reading {}", source.path.display())));
    let conn = source.connect()?;
    // Data-only needs every column's profile: a target timestamp may take an INTEGER column of epoch values.
    let schema = source.describe(&conn, &|_, c| {
        args.data_only || plan::types::profile_need(&c.declared_type) == plan::types::ProfileNeed::Always
    })?;
    drop(conn);
    let plan = plan::build(
        &source.path.display().to_string(),
        &schema,
        &config,
        &PlanOptions {
            schema: args.target.schema.clone(),
            identifiers: args.mapping.identifiers,
        },
    )?;
    for w in &plan.warnings {
        reporter.emit(Event::Info(format!("note: {w}")));
    }
    let options = CopyOptions {
        target: target.clone(),
        schema: args.target.schema.clone(),
        replace: args.replace,
        on_error: args.on_error,
        rejects_path,
        jobs,
    };
    let outcome = if args.data_only {
        load::data_only::copy(&source, &schema, plan, &options, args.truncate, reporter)?
    } else {
        let plan_options = PlanOptions {
            schema: args.target.schema.clone(),
            identifiers: args.mapping.identifiers,
        };
        let replan = |table: &str| -> Result<plan::TablePlan> {
            let conn = source.connect()?;
            let profiled = source.describe(&conn, &|t, c| {
                t.name == table && plan::types::profile_need(&c.declared_type) != plan::types::ProfileNeed::None
            })?;
            let fresh = plan::build(&source.path.display().to_string(), &profiled, &config, &plan_options)?;
            fresh
                .tables
                .into_iter()
                .find(|t| t.source == table)
                .ok_or_else(|| crate::error::Error::Other(format!("table {table} vanished while re-planning")))
        };
        load::copy(&source, plan, &replan, &options, reporter)?
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
        let verified = crate::verify::after_copy(&source, &config, &args.mapping, args.data_only, &options, reporter)?;
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

fn default_rejects_path(source: &std::path::Path) -> PathBuf {
    let stem = source
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "godwit".into());
    PathBuf::from(format!("{stem}.rejects.jsonl"))
}

/// `copy postgresql://... --to sqlite:PATH`: the way back.
fn run_reverse(args: CopyArgs, reporter: &Reporter) -> Result<ExitCode> {
    let Some(path) = args.target.to.as_deref().and_then(|t| t.strip_prefix("sqlite:")) else {
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
        source: ConnSpec::parse(&args.source)?,
        schema: args.target.schema.clone(),
        path: PathBuf::from(path),
        replace: args.replace,
    };
    let outcome = crate::reverse::copy(&options, reporter)?;
    reporter.emit(Event::CopyFinished(outcome.summary));
    if args.verify {
        let source = SqliteSource::open(path)?;
        // The file is the app's own again: no casts or renames apply to it.
        let config = Config::default();
        let verify_options = crate::verify::VerifyOptions {
            target: options.source.clone(),
            schema: options.schema.clone(),
            jobs: args.jobs.unwrap_or_else(crate::verify::default_jobs).max(1),
            max_keys: 100,
        };
        let verified = crate::verify::after_copy(&source, &config, &args.mapping, false, &verify_options, reporter)?;
        if verified == ExitCode::Different {
            return Ok(ExitCode::Different);
        }
    }
    Ok(if outcome.review { ExitCode::Review } else { ExitCode::Ok })
}
