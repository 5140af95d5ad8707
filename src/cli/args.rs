//! Raw flags, as clap parses them: the command line and the flags of
//! copy, plan and local. The groups several commands flatten live in
//! connect.rs and groups.rs, so every command spells a flag the same way.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use super::connect::TargetArgs;
use super::groups::{MappingArgs, OutputArgs};

const EXIT_CODES: &str = "\
Exit codes:
  0  ok
  1  failed; the target is unchanged
  2  usage or config error
  3  finished with items to review (rejected rows, NOT VALID constraints, objects not migrated)
  4  verify found differences
`godwit health` exits 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN instead, as monitoring expects.";

/// Move an application's data into PostgreSQL, prove it arrived exactly, and
/// manage the schema afterwards.
#[derive(Debug, Parser)]
#[command(name = "godwit", version, after_help = EXIT_CODES, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read a source and show the PostgreSQL schema and every cast, touching no database.
    Plan(PlanArgs),
    /// Copy schema and data (or data only) from a source into PostgreSQL, atomically.
    #[command(after_help = EXIT_CODES)]
    Copy(CopyArgs),
    /// Compare every table of the source with its copy, row by row.
    #[command(after_help = EXIT_CODES)]
    Verify(super::verify::VerifyArgs),
    /// Bring a copy up to the source's current state: the rows inserted, updated and deleted since the last copy or sync.
    #[command(after_help = EXIT_CODES)]
    Sync(super::sync::SyncArgs),
    /// Switch to PostgreSQL: sync until little is left, then a final round with the source's
    /// writers held.
    #[command(after_help = EXIT_CODES)]
    Cutover(super::sync::CutoverArgs),
    /// Versioned schema migrations, diff and lint.
    Migrate(super::migrate::MigrateArgs),
    /// Take a pg_dump backup with a manifest that proves each restore; list, prune, verify.
    Backup(crate::cli::backup::BackupArgs),
    /// Restore a backup into a database, prove it against the manifest, then swap it in.
    Restore(crate::cli::backup::RestoreArgs),
    /// Manage a throwaway local PostgreSQL cluster.
    Local(LocalArgs),
    /// Check a database for monitoring (Nagios, Prometheus): exit 0 OK, 1 WARNING, 2 CRITICAL, 3
    /// UNKNOWN.
    ///
    /// Every check runs in one short read-only session with statement_timeout and lock_timeout,
    /// so it never waits on the application's locks. A check that could not run is UNKNOWN and
    /// names the missing privilege; an OK elsewhere never hides it.
    #[command(after_help = crate::cli::health::after_help())]
    Health(crate::cli::health::HealthArgs),
    /// List what deserves a look: slow queries, duplicate, unused and missing indexes, dead
    /// tuples, bloat, tables due for VACUUM or ANALYZE, settings. Each with the SQL to run.
    #[command(after_help = crate::cli::inspect::after_help())]
    Inspect(crate::cli::inspect::InspectArgs),
    /// Do the safe routine work inspect calls for: VACUUM (ANALYZE), ANALYZE, REINDEX CONCURRENTLY
    /// of invalid or bloated indexes, VALIDATE of NOT VALID constraints.
    ///
    /// Every step runs under lock_timeout: when the application holds a conflicting lock the step
    /// is skipped, never queued. Rows that violate a NOT VALID constraint are counted and the
    /// constraint is left as it is. The report shows dead tuples and sizes before and after.
    #[command(after_help = crate::cli::maintain::MAINTAIN_EXIT_CODES)]
    Maintain(crate::cli::maintain::MaintainArgs),
    /// Run the app's own queries on the source and on PostgreSQL: prove the results equal, measure
    /// latency at N clients, explain the slow ones and advise indexes.
    #[command(after_help = crate::cli::workload::WORKLOAD_EXIT_CODES)]
    Workload(crate::cli::workload::WorkloadArgs),
    /// Write one self-contained HTML page about a database: health, inspect and, with --source,
    /// verify; overview bars at the top link to each section. The move's dossier, to mail
    /// around or keep as a CI artifact.
    #[command(after_help = crate::cli::report::REPORT_EXIT_CODES)]
    Report(crate::cli::report::ReportArgs),
    /// Least-privilege roles for one schema: owner, app, readonly, monitor.
    Roles(crate::cli::roles::RolesArgs),
    /// An audit trail of the app's writes: pgaudit when the server loads it, else triggers.
    Audit(crate::cli::audit::AuditArgs),
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The source: a SQLite file path, or sqlite:PATH.
    #[arg(value_name = "SOURCE")]
    pub source: String,

    #[command(flatten)]
    pub mapping: MappingArgs,

    /// Target schema the DDL is written for.
    #[arg(long, value_name = "NAME", default_value = "public")]
    pub schema: String,

    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
}

/// `--on-error`, resolved into [`crate::copy::OnError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnError {
    /// Fail the copy at the first value that does not fit; the target stays unchanged.
    Stop,
    /// Load everything else, write rejected rows to the reject file, exit 3.
    Skip,
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The source: a SQLite file path, or sqlite:PATH. Or, to go back, a PostgreSQL database
    /// (postgresql://... or key=value) copied into the SQLite file given by --to sqlite:PATH.
    #[arg(value_name = "SOURCE")]
    pub source: String,

    #[command(flatten)]
    pub target: TargetArgs,

    #[command(flatten)]
    pub mapping: MappingArgs,

    /// Drop and recreate target tables that already exist (atomically).
    #[arg(long, conflicts_with = "data_only")]
    pub replace: bool,

    /// Load data only, into tables that already exist (made by the app's framework).
    #[arg(long)]
    pub data_only: bool,

    /// With --data-only: empty the loaded tables first, in the same transaction.
    #[arg(long, requires = "data_only")]
    pub truncate: bool,

    /// What to do with a value that does not fit its column.
    #[arg(long, value_enum, default_value_t = OnError::Stop)]
    pub on_error: OnError,

    /// Where --on-error skip writes rejected rows (JSON lines).
    #[arg(long, value_name = "FILE")]
    pub rejects: Option<PathBuf>,

    /// Parallel readers and COPY connections [default: number of cores].
    #[arg(long, short, value_name = "N")]
    pub jobs: Option<usize>,

    /// Run `godwit verify` right after the copy.
    #[arg(long)]
    pub verify: bool,

    /// Create the tables as this role (SET ROLE), e.g. the PREFIX_owner of `godwit roles`, so
    /// they belong to it and its default privileges grant them to the app at once.
    #[arg(long, value_name = "ROLE")]
    pub owner: Option<String>,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct LocalArgs {
    #[command(subcommand)]
    pub action: LocalAction,
}

#[derive(Debug, Clone, Copy, Subcommand)]
pub enum LocalAction {
    /// Create (first time) and start the cluster; prints its URL.
    Start {
        /// Also run N hot standbys (streaming replication, a physical slot each); extra ones from
        /// an earlier start are removed. Without it, standbys made before start again.
        #[arg(long, value_name = "N")]
        replicas: Option<u32>,
        /// Also run PgBouncer in transaction mode in front of the cluster (`local url --pooled`).
        #[arg(long)]
        pooler: bool,
        /// max_connections of the servers started now (default 200).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(5..))]
        max_connections: Option<u32>,
    },
    /// Stop the cluster, its standbys and its pooler.
    Stop,
    /// Say whether the cluster, its standbys and its pooler exist and run.
    Status,
    /// Print the running cluster's connection URL.
    Url {
        /// The URL of standby K (1 is the first) instead.
        #[arg(long, value_name = "K", conflicts_with = "pooled")]
        replica: Option<u32>,
        /// The URL through the pooler instead.
        #[arg(long)]
        pooled: bool,
    },
}

impl From<OnError> for crate::copy::OnError {
    fn from(mode: OnError) -> Self {
        match mode {
            OnError::Stop => Self::Stop,
            OnError::Skip => Self::Skip,
        }
    }
}
