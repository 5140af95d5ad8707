//! `godwit report`: health, inspect and, where given, verify and a
//! workload on one page; and writing any command's `--html` page.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

use crate::cli::groups::MappingArgs;
use crate::error::{Error, ExitCode, Result};
use crate::report::html::{self, Bar, Dossier};
use crate::report::{ReportOptions, Reporter};

pub const REPORT_EXIT_CODES: &str = "\
Exit codes:
  0  every check ok, nothing to review, the copy equals its source
  1  failed (cannot connect, cannot write the page)
  2  usage error
  3  something to review: a health check not ok, inspect findings, a workload target missed
  4  verify or the workload found differences";

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The database: a postgresql:// URL or a key=value string. PG* variables and .pgpass fill
    /// the gaps.
    #[arg(
        long,
        visible_alias = "database-url",
        value_name = "URL",
        env = "DATABASE_URL",
        hide_env_values = true
    )]
    pub to: Option<String>,

    /// The source the database was copied from (as given to copy): adds verify's section.
    #[arg(long, value_name = "PATH")]
    pub source: Option<String>,

    /// The app's queries, as `godwit workload --queries` reads them: adds the workload section.
    #[arg(long, value_name = "FILE", requires = "source")]
    pub queries: Option<PathBuf>,

    /// A saved `godwit workload --json` document to show as the workload section.
    #[arg(long, value_name = "FILE", conflicts_with = "queries")]
    pub workload: Option<PathBuf>,

    /// Where the page goes.
    #[arg(long, value_name = "FILE")]
    pub html: PathBuf,

    /// Schema the source was copied into (for verify).
    #[arg(long, value_name = "NAME", default_value = "public")]
    pub schema: String,

    #[command(flatten)]
    pub mapping: MappingArgs,

    /// Print {"health": ..., "inspect": ..., "verify": ..., "workload": ...} on stdout: the
    /// documents the page was rendered from, as each command's --json prints them.
    #[arg(long)]
    pub json: bool,

    /// Only errors and the summary.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Writes `page` to `path` and says so on stderr.
pub fn write_page(page: &Dossier, path: &Path) -> Result<()> {
    html::write(page, path)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

pub fn run(args: ReportArgs) -> Result<ExitCode> {
    let config = crate::config::Config::load(args.mapping.config.as_deref())?;
    let thresholds = crate::health::thresholds::from_config(&config)?;
    let target = super::required_target(args.to.as_deref())?;
    let reporter = Reporter::new(ReportOptions {
        json: false,
        quiet: args.quiet,
        hide_summaries: true,
    });
    let mut page = Dossier::new("godwit report", &target.to_string());

    reporter.emit(crate::report::Event::Phase("health".into()));
    let health = crate::health::run(&crate::health::HealthOptions {
        target: target.clone(),
        thresholds,
        connect_timeout: Duration::from_secs(10),
        query_timeout: Duration::from_secs(5),
        backups: config.health.backups.clone(),
    });
    page.health = Some(Dossier::json_of(&health));

    reporter.emit(crate::report::Event::Phase("inspect".into()));
    let inspect = crate::inspect::run(&crate::inspect::InspectOptions {
        target: target.clone(),
        kinds: Default::default(),
        slow_query: Duration::from_millis(100),
        min_stats_age: Duration::from_secs(7 * 86_400),
    })?;
    page.inspect = Some(Dossier::json_of(&inspect));

    if let Some(source) = &args.source {
        let mapping = args.mapping.resolve(&args.schema)?;
        let opened = crate::source::open_with(source, &mapping.config.documents)?;
        let options = crate::verify::VerifyOptions {
            target: target.clone(),
            schema: args.schema.clone(),
            jobs: crate::verify::default_jobs(),
            max_keys: 100,
        };
        crate::verify::run(opened.as_ref(), &mapping, &options, &reporter)?;
        page.verify = reporter.document("verify");
    }
    if let (Some(queries), Some(source)) = (&args.queries, &args.source) {
        reporter.emit(crate::report::Event::Phase("workload".into()));
        let mapping = args.mapping.resolve(&args.schema)?;
        let options = super::workload::report_options(source, queries.clone(), target.clone(), &args.schema);
        let (report, _) = crate::workload::run(&mapping, &options, &reporter)?;
        page.workload = serde_json::from_str(&report.json()).ok();
    }
    if let Some(path) = &args.workload {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        let document: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Config {
            path: path.clone(),
            message: format!("not a `godwit workload --json` document: {e}"),
        })?;
        page.workload = Some(document);
    }

    if args.json {
        let documents = serde_json::json!({
            "health": page.health,
            "inspect": page.inspect,
            "verify": page.verify,
            "workload": page.workload,
        });
        println!("{}", serde_json::to_string_pretty(&documents).unwrap_or_default());
    }
    let bars = html::overview(&page);
    if !args.json {
        print!("{}", overview_text(&bars));
    }
    write_page(&page, &args.html)?;
    Ok(exit_code(&bars))
}

/// The overview as lines: the worst first within each section.
fn overview_text(bars: &[Bar]) -> String {
    let mut out = String::new();
    for bar in bars.iter().filter(|b| b.level != "ok") {
        out.push_str(&format!(
            "{:<9} {:<9} {} {}\n",
            bar.level, bar.section, bar.name, bar.value
        ));
    }
    let ok = bars.iter().filter(|b| b.level == "ok").count();
    out.push_str(&format!("{ok} of {} ok\n", bars.len()));
    out
}

/// Differences (verify, workload parity) outrank everything to review.
fn exit_code(bars: &[Bar]) -> ExitCode {
    let different = bars
        .iter()
        .any(|b| (b.section == "verify" || b.section == "workload") && b.level == "critical");
    if different {
        ExitCode::Different
    } else if bars.iter().any(|b| b.level != "ok") {
        ExitCode::Review
    } else {
        ExitCode::Ok
    }
}
