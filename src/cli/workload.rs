//! `godwit workload`: flags into the workload's options, and its report
//! on stdout (human, or the JSON document with --json).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::connect::TargetArgs;
use super::groups::{MappingArgs, OutputArgs};
use crate::error::{Error, ExitCode, Result};
use crate::report::Reporter;
use crate::workload::{self, WorkloadOptions, load::Amount};

pub const WORKLOAD_EXIT_CODES: &str = "\
Exit codes:
  0  every class equal and within the targets
  1  failed (could not connect, bad input)
  2  usage or config error
  3  targets missed, classes untranslatable, or a query that fails on the source
  4  differences: rows differ, or a query works on the source and fails on PostgreSQL (wins over 3)";

#[derive(Debug, Args)]
pub struct WorkloadArgs {
    /// What `copy` read: a SQLite file (a document source runs the workload on PostgreSQL alone).
    #[arg(value_name = "SOURCE")]
    pub source: String,

    /// The queries: a .sql file (`-- name:`, `-- weight:`, `-- params:` comments) or a JSON Lines
    /// capture ({"sql": ..., "params": [...]} per line).
    #[arg(long, value_name = "FILE")]
    pub queries: PathBuf,

    #[command(flatten)]
    pub target: TargetArgs,

    #[command(flatten)]
    pub mapping: MappingArgs,

    /// A hot standby of the target: the read-only classes also run there at each level, and the
    /// report gives their latency per side and the standby's lag sampled while they ran.
    #[arg(long, value_name = "URL")]
    pub read_replica: Option<String>,

    /// Concurrency levels of the sweep.
    #[arg(long, value_name = "N,N,..", value_delimiter = ',', default_value = "1,10")]
    pub clients: Vec<usize>,

    /// Time per level.
    #[arg(long, value_name = "DURATION", value_parser = super::connect::parse_duration, conflicts_with = "count")]
    pub duration: Option<Duration>,

    /// Executions of each class per level (instead of --duration).
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,

    /// Warm-up before each level, not measured.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = super::connect::parse_duration)]
    pub warmup: Duration,

    /// Open loop at this many executions per second (all clients); latency counts from each
    /// execution's scheduled start. Closed loop without it.
    #[arg(long, value_name = "QPS")]
    pub rate: Option<f64>,

    /// Threads that drive PostgreSQL's clients, each multiplexing its share of the connections
    /// (pgbench's -j). Default: one per core, never more than the clients.
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,

    /// Seed of the parameter draws and the mix, for repeatable runs.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Target: PostgreSQL's p95 per class and level, e.g. 100ms.
    #[arg(long, value_name = "DURATION", value_parser = parse_latency)]
    pub p95: Option<Duration>,

    /// Target: PostgreSQL's p95 at most this many times SQLite's, per class and level.
    #[arg(long, value_name = "X")]
    pub max_ratio: Option<f64>,

    /// Compare results only; no load.
    #[arg(long)]
    pub parity_only: bool,

    /// Executions compared per class (each distinct statement at least once).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub parity_runs: usize,

    /// Send each statement to PostgreSQL as written instead of translating it: what the app's raw
    /// SQL does there.
    #[arg(long)]
    pub as_is: bool,

    /// Write the PostgreSQL text of every class to DIR, one file per class.
    #[arg(long, value_name = "DIR")]
    pub emit_sql: Option<PathBuf>,

    /// Write the index advice as a new `godwit migrate` migration in DIR.
    #[arg(long, value_name = "DIR")]
    pub advice_to: Option<PathBuf>,

    /// Classes explained besides those missing a target: the N taking the most time.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub explain_top: usize,

    /// Run statements that write (with --as-is) in parity, each in a transaction rolled back, on a
    /// scratch copy of the SQLite file and on PostgreSQL: neither side keeps the change.
    #[arg(long)]
    pub writes: bool,

    /// Run the load on PostgreSQL only (parity still compares both engines).
    #[arg(long)]
    pub target_only: bool,

    /// Also write the report as one self-contained HTML page to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// `100ms`, `0.5s`, `2s`: durations below a second are the usual targets.
fn parse_latency(text: &str) -> std::result::Result<Duration, String> {
    let t = text.trim();
    if let Some(ms) = t.strip_suffix("ms") {
        return ms
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite() && *x >= 0.0)
            .map(|x| Duration::from_secs_f64(x / 1000.0))
            .ok_or_else(|| format!("{text:?} is not a duration such as 100ms"));
    }
    crate::units::parse_duration(t)
}

/// What `godwit report --queries` runs: the defaults of `godwit workload`,
/// with a short sweep (1 and 10 clients, 50 executions of each class).
pub fn report_options(
    source: &str,
    queries: PathBuf,
    target: crate::postgres::conn::ConnSpec,
    schema: &str,
) -> WorkloadOptions {
    WorkloadOptions {
        source: source.to_string(),
        queries,
        target,
        schema: schema.to_string(),
        clients: vec![1, 10],
        amount: Amount::Count(50),
        warmup: Duration::from_millis(500),
        rate: None,
        seed: 1,
        jobs: None,
        p95: None,
        max_ratio: None,
        parity_only: false,
        parity_runs: 20,
        as_is: false,
        emit_sql: None,
        advice_to: None,
        explain_top: 3,
        target_only: false,
        writes: false,
        read_replica: None,
    }
}

pub fn run(args: WorkloadArgs) -> Result<ExitCode> {
    let reporter = Reporter::new(crate::report::ReportOptions {
        json: args.output.json,
        quiet: args.output.quiet,
        hide_summaries: false,
    });
    if args.clients.is_empty() || args.clients.contains(&0) {
        return Err(Error::Usage(
            "--clients takes counts of 1 or more, e.g. 1,10,100".into(),
        ));
    }
    if args.jobs == Some(0) {
        return Err(Error::Usage("--jobs takes a number of threads of 1 or more".into()));
    }
    if args.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        return Err(Error::Usage(
            "--rate takes a number of executions per second above 0".into(),
        ));
    }
    if args.max_ratio.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        return Err(Error::Usage("--max-ratio takes a number above 0, e.g. 2".into()));
    }
    let mapping = args.mapping.resolve(&args.target.schema)?;
    let target = super::connect::resolve_target(&args.target, &reporter)?;
    let amount = match (args.count, args.duration) {
        (Some(n), _) => Amount::Count(n.max(1)),
        (None, Some(d)) => Amount::Duration(d),
        (None, None) => Amount::Duration(Duration::from_secs(30)),
    };
    let options = WorkloadOptions {
        source: args.source.clone(),
        queries: args.queries.clone(),
        target,
        schema: args.target.schema.clone(),
        clients: args.clients.clone(),
        amount,
        warmup: args.warmup,
        rate: args.rate,
        seed: args.seed,
        jobs: args.jobs,
        p95: args.p95,
        max_ratio: args.max_ratio,
        parity_only: args.parity_only,
        parity_runs: args.parity_runs.max(1),
        as_is: args.as_is,
        emit_sql: args.emit_sql.clone(),
        advice_to: args.advice_to.clone(),
        explain_top: args.explain_top,
        target_only: args.target_only,
        writes: args.writes,
        read_replica: args
            .read_replica
            .as_deref()
            .map(crate::postgres::conn::ConnSpec::parse)
            .transpose()?,
    };
    let (report, code) = workload::run(&mapping, &options, &reporter)?;
    if let Some(path) = &args.html {
        let mut page = crate::report::html::Dossier::new("godwit workload", &options.target.to_string());
        page.workload = serde_json::from_str(&report.json()).ok();
        super::report::write_page(&page, path)?;
    }
    if args.output.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.human());
    }
    Ok(code)
}
