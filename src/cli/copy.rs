//! `godwit copy`: resolve flags into settings, plan, load, report.

use std::path::PathBuf;

use crate::cli::args::{CopyArgs, TargetArgs};
use crate::config::Config;
use crate::error::{ExitCode, Result};
use crate::load::{self, CopyOptions};
use crate::plan::{self, PlanOptions};
use crate::report::{Event, Reporter};
use crate::source::sqlite::SqliteSource;
use crate::target::postgres::conn::{ConnSpec, WaitNotice};

pub fn run(args: CopyArgs, reporter: &Reporter) -> Result<ExitCode> {
    let source = SqliteSource::open(&args.source)?;
    let config = Config::load(args.mapping.config.as_deref())?;
    let target = resolve_target(&args.target, reporter)?;
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
/// started if needed. Connections wait for a restarting server up to
/// `--connect-timeout`.
pub fn resolve_target(target: &TargetArgs, reporter: &Reporter) -> Result<ConnSpec> {
    match target.to.as_deref() {
        Some(url) => Ok(ConnSpec::parse(url)?.with_retry(target.connect.connect_timeout, wait_on_stderr())),
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

fn default_rejects_path(source: &std::path::Path) -> PathBuf {
    let stem = source
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "godwit".into());
    PathBuf::from(format!("{stem}.rejects.jsonl"))
}
