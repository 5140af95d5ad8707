//! `godwit migrate`: versioned schema migrations, diff and lint.
//!
//! Files on disk (`files`) and rows in the history table (`history`) are
//! combined into one picture of the database (`state`); `apply` changes the
//! database under an advisory lock (`lock`); `diff` and `lint` never apply
//! anything to the target.

mod apply;
mod checksum;
mod commands;
mod diff;
mod files;
mod history;
mod lint;
mod lock;
pub mod recipe;
mod script;
mod state;
mod status;
mod timestamp;

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::error::{Error, ExitCode, Result};
use crate::postgres::conn::ConnSpec;

const EXIT_CODES: &str = "\
Exit codes:
  0  ok
  1  failed (a migration failed, validation failed, a lint error, a server error)
  2  usage or config error (bad flags, no database URL, malformed file names)
  3  status or repair found problems to review (changed, missing or out-of-order files)
  4  diff --check found differences";

/// Versioned schema migrations, diff and lint.
///
/// Migrations are plain SQL files named `<version>_<name>.up.sql` (and an
/// optional `<version>_<name>.down.sql`) in `--dir`. godwit records what it
/// applied in a history table (`godwit_migrations`) with a checksum of each file.
#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
pub struct MigrateArgs {
    #[command(subcommand)]
    pub command: MigrateCommand,
}

#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Create a pair of migration files named after the current UTC time: empty, or a recipe.
    New(NewArgs),
    /// Apply pending migrations in version order, each in its own transaction.
    ///
    /// Each file commits together with its history row; a failing file rolls back and stops the
    /// run (earlier files stay applied) and the error names the statement, its line and column.
    /// Statements PostgreSQL refuses inside a transaction (CREATE/DROP INDEX CONCURRENTLY, REINDEX
    /// CONCURRENTLY, VACUUM, CREATE DATABASE, ALTER TYPE ... ADD VALUE, ...) are detected with the
    /// PostgreSQL parser and run on their own; a first line `-- godwit:no-transaction` runs the
    /// whole file statement by statement. Several runners may start at once: an advisory lock lets
    /// one work while the others wait (--lock-timeout). Refuses to run while `validate` fails or
    /// when a pending file is older than the newest applied one (see --allow-out-of-order).
    #[command(after_help = EXIT_CODES)]
    Up(UpArgs),
    /// Revert applied migrations with their down files, newest first (one by default).
    #[command(after_help = EXIT_CODES)]
    Down(DownArgs),
    /// Show applied and pending migrations and any problem with the files.
    #[command(after_help = EXIT_CODES)]
    Status(StatusArgs),
    /// Fail (exit 1) when an applied migration file changed on disk or is missing.
    #[command(after_help = EXIT_CODES)]
    Validate(CommonArgs),
    /// Re-record the checksums of changed files, after you reviewed the changes.
    Repair(RepairArgs),
    /// Mark an existing database as being at VERSION without running anything.
    Baseline(BaselineArgs),
    /// Print the SQL that turns the database into the schema of a desired SQL file.
    ///
    /// The desired file runs in a scratch database created on the same server (dropped afterwards,
    /// even on error), then both catalogs are compared: schemas, extensions, enums, sequences,
    /// tables and columns (type, default, NOT NULL, identity, generated), constraints, indexes
    /// (partial and expression ones too) and views. Statements come in dependency order;
    /// destructive ones carry a `-- DESTRUCTIVE:` comment. Prints nothing when there is no
    /// difference. The history table is never part of the diff.
    #[command(after_help = EXIT_CODES)]
    Diff(DiffArgs),
    /// Flag statements that lock or rewrite tables or break a running app.
    ///
    /// Checks the pending migrations by default (or FILES, or --all). Each finding explains the
    /// risk and the safer alternative; exits 1 when a rule of severity error hits. Accept a
    /// finding with a comment `-- godwit:lint-ignore RULE` right above the statement. `--rules`
    /// lists every rule.
    #[command(after_help = EXIT_CODES)]
    Lint(LintArgs),
}

/// Where the migrations and the history live.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Database to migrate: a postgresql:// URL or a key=value string. PG* variables and
    /// .pgpass fill the gaps. For the local cluster: --to "$(godwit local url)".
    #[arg(long, value_name = "URL", env = "DATABASE_URL", hide_env_values = true)]
    pub to: Option<String>,

    /// The same as --to, the name `migrate` used first. With both, --to may name a version (see up).
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,

    /// How long to wait for a server that refuses connections, is starting up or shutting down
    /// (a restart), retrying with backoff, e.g. 30s or 2min.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = crate::units::parse_duration)]
    pub connect_timeout: std::time::Duration,

    /// Directory holding the migration files.
    #[arg(long, value_name = "DIR", default_value = "migrations")]
    pub dir: PathBuf,

    /// Schema of the history table (created on first `up` or `baseline` if missing).
    #[arg(long, value_name = "NAME", default_value = "public")]
    pub history_schema: String,

    /// Name of the history table.
    #[arg(long, value_name = "NAME", default_value = "godwit_migrations")]
    pub history_table: String,
    /// Run every statement as this role (SET ROLE), e.g. the PREFIX_owner of `godwit roles`, so
    /// new objects belong to it and its default privileges grant them to the app at once.
    #[arg(long, value_name = "ROLE")]
    pub owner: Option<String>,
}

impl CommonArgs {
    /// The connection, or a usage error that says how to get one. It waits
    /// for a restarting server up to --connect-timeout, saying so on stderr.
    pub fn conn_spec(&self) -> Result<ConnSpec> {
        let url = match (self.database_url.as_deref(), self.to.as_deref()) {
            (Some(url), _) => Some(url.to_string()),
            // `up --to 3` / `down --to 0` name a version (older spelling of --to-version);
            // the database then comes from DATABASE_URL.
            (None, Some(to)) if is_version(to) => std::env::var("DATABASE_URL").ok(),
            (None, other) => other.map(str::to_string),
        };
        match url.filter(|url| !url.trim().is_empty()) {
            Some(url) => Ok(
                crate::roles::run_as_optional(ConnSpec::parse(&url)?, self.owner.as_deref()).with_retry(
                    self.connect_timeout,
                    std::sync::Arc::new(|notice: &crate::postgres::conn::WaitNotice| eprintln!("{notice}")),
                ),
            ),
            None => Err(Error::Usage(
                "no database given: pass --to URL (alias --database-url) or set DATABASE_URL \
                 (for the local cluster: --to \"$(godwit local url)\")"
                    .into(),
            )),
        }
    }

    /// `--to VERSION`, the spelling `up` and `down` used before `--to` named the database.
    fn version_in_to(&self) -> Option<i64> {
        self.to
            .as_deref()
            .filter(|t| is_version(t))
            .and_then(|t| t.parse().ok())
    }

    pub fn history_table(&self) -> history::HistoryTable {
        history::HistoryTable {
            schema: self.history_schema.clone(),
            table: self.history_table.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// Short description, e.g. add_users_email. Letters, digits and underscores are kept.
    #[arg(value_name = "NAME")]
    pub name: String,

    /// Directory to create the files in (created if missing).
    #[arg(long, value_name = "DIR", default_value = "migrations")]
    pub dir: PathBuf,

    /// Write a ready-made, lint-clean change and its exact undo instead of empty files.
    #[arg(long, value_name = "KIND", requires = "table")]
    pub recipe: Option<recipe::RecipeKind>,

    /// Table the recipe changes.
    #[arg(long, value_name = "TABLE")]
    pub table: Option<String>,

    /// Schema of --table.
    #[arg(long, value_name = "NAME", default_value = "public")]
    pub schema: String,

    /// Columns the fts recipe searches, in weight order (A, B, C, then D).
    #[arg(long, value_name = "A,B", value_delimiter = ',')]
    pub columns: Vec<String>,

    /// The CHECK expression of the check recipe, e.g. --check 'price >= 0'.
    #[arg(long = "check", value_name = "EXPR")]
    pub check_expression: Option<String>,

    /// Text search configuration of the fts recipe.
    #[arg(long, value_name = "NAME", default_value = "english")]
    pub ts_config: String,

    /// Database whose catalog the recipe reads (soft-delete: its unique indexes; timestamps:
    /// which columns exist). Without it, timestamps adds only missing columns at run time.
    #[arg(long, value_name = "URL", env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

/// How long to wait for other runners, and what to accept.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Seconds to wait for the migration lock held by another runner before giving up.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub lock_timeout: u64,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub common: CommonArgs,

    #[command(flatten)]
    pub run: RunArgs,

    /// Apply pending migrations up to and including this version only. (`--to VERSION`, all
    /// digits, still works: a database URL is never a bare number.)
    #[arg(long, value_name = "VERSION")]
    pub to_version: Option<i64>,

    /// Print the SQL that would run, in order, and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Apply pending files older than the newest applied migration (normally refused).
    #[arg(long)]
    pub allow_out_of_order: bool,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    #[command(flatten)]
    pub common: CommonArgs,

    #[command(flatten)]
    pub run: RunArgs,

    /// Number of migrations to revert, newest first.
    #[arg(long, value_name = "N", conflicts_with = "to_version")]
    pub steps: Option<usize>,

    /// Revert every applied migration newer than VERSION (VERSION itself stays applied).
    /// (`--to VERSION`, all digits, still works.)
    #[arg(long, value_name = "VERSION")]
    pub to_version: Option<i64>,

    /// Print the SQL that would run, in order, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub common: CommonArgs,

    /// Print a JSON document on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RepairArgs {
    #[command(flatten)]
    pub common: CommonArgs,

    /// Also delete history rows whose files are gone (the schema changes they made stay).
    #[arg(long)]
    pub forget_missing: bool,
}

#[derive(Debug, Args)]
pub struct BaselineArgs {
    #[command(flatten)]
    pub common: CommonArgs,

    /// Files up to and including this version count as applied; none of them run.
    #[arg(value_name = "VERSION")]
    pub version: i64,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub common: CommonArgs,

    /// SQL file describing the whole desired schema (CREATE TABLE ..., CREATE INDEX ...).
    #[arg(long, value_name = "FILE.sql")]
    pub desired: PathBuf,

    /// Save the output as a new migration NAME (up file) with the reverse diff as its down file.
    #[arg(long, value_name = "NAME")]
    pub write: Option<String>,

    /// Exit 4 when there are differences (for CI drift checks).
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct LintArgs {
    #[command(flatten)]
    pub common: CommonArgs,

    /// Files to check. Without files: the pending migrations (needs the database).
    #[arg(value_name = "FILES")]
    pub files: Vec<PathBuf>,

    /// Check every up file in --dir, without asking the database what is pending.
    #[arg(long, conflicts_with = "files")]
    pub all: bool,

    /// Print findings as JSON on stdout.
    #[arg(long)]
    pub json: bool,

    /// List every rule with its severity, risk and safer alternative, and exit.
    #[arg(long)]
    pub rules: bool,
}

fn is_version(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

impl UpArgs {
    /// The last version to apply: --to-version, or the older `--to VERSION`.
    pub fn target_version(&self) -> Option<i64> {
        self.to_version.or_else(|| self.common.version_in_to())
    }
}

impl DownArgs {
    /// The version to revert down to: --to-version, or the older `--to VERSION`.
    pub fn target_version(&self) -> Option<i64> {
        self.to_version.or_else(|| self.common.version_in_to())
    }
}

pub fn run_cli(args: MigrateArgs) -> Result<ExitCode> {
    match args.command {
        MigrateCommand::New(args) => commands::new(&args),
        MigrateCommand::Up(args) => commands::up(&args),
        MigrateCommand::Down(args) => commands::down(&args),
        MigrateCommand::Status(args) => status::status(&args),
        MigrateCommand::Validate(args) => commands::validate(&args),
        MigrateCommand::Repair(args) => commands::repair(&args),
        MigrateCommand::Baseline(args) => commands::baseline(&args),
        MigrateCommand::Diff(args) => diff::run(&args),
        MigrateCommand::Lint(args) => lint::run(&args),
    }
}
