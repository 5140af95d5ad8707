//! `godwit migrate`'s flags, as clap parses them, turned into the option
//! structs that migrate/ takes. The `--to` spelling rules (a URL, or the
//! older `--to VERSION`) are resolved here.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use crate::error::{ExitCode, Result};
use crate::migrate::{self, recipe::RecipeKind};

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

    #[command(flatten)]
    pub connect: super::connect::ConnectArgs,

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
    /// The database URL: --database-url, else --to unless it names a version
    /// (`up --to 3` / `down --to 0`, the older spelling of --to-version; the
    /// database then comes from DATABASE_URL).
    fn database(&self) -> Option<String> {
        match (self.database_url.as_deref(), self.to.as_deref()) {
            (Some(url), _) => Some(url.to_string()),
            (None, Some(to)) if is_version(to) => std::env::var("DATABASE_URL").ok(),
            (None, other) => other.map(str::to_string),
        }
    }

    /// `--to VERSION`, the spelling `up` and `down` used before `--to` named the database.
    fn version_in_to(&self) -> Option<i64> {
        self.to
            .as_deref()
            .filter(|t| is_version(t))
            .and_then(|t| t.parse().ok())
    }

    fn options(&self) -> migrate::CommonOptions {
        migrate::CommonOptions {
            database: self.database(),
            connect_timeout: self.connect.connect_timeout,
            on_wait: super::connect::wait_on_stderr(),
            dir: self.dir.clone(),
            history_schema: self.history_schema.clone(),
            history_table: self.history_table.clone(),
            out: output(),
            owner: self.owner.clone(),
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
    pub recipe: Option<RecipeArg>,

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

/// `migrate new --recipe KIND`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RecipeArg {
    /// A tsvector over --columns kept current by a trigger, backfilled in batches, with a GIN
    /// index built concurrently.
    Fts,
    /// created_at (where missing) and updated_at, with a trigger keeping updated_at current.
    Timestamps,
    /// deleted_at, unique indexes made partial for live rows, and a view of live rows (reads the
    /// unique indexes from --database-url).
    SoftDelete,
    /// A CHECK (--check EXPR) added NOT VALID, then validated in a second migration.
    Check,
    /// An audit trail of the table's writes in godwit.audit_log (who, when, row key, old and new
    /// row), kept by a trigger; --columns names the key [default: the primary key].
    Audit,
}

impl From<RecipeArg> for RecipeKind {
    fn from(kind: RecipeArg) -> Self {
        match kind {
            RecipeArg::Fts => RecipeKind::Fts,
            RecipeArg::Timestamps => RecipeKind::Timestamps,
            RecipeArg::SoftDelete => RecipeKind::SoftDelete,
            RecipeArg::Check => RecipeKind::Check,
            RecipeArg::Audit => RecipeKind::Audit,
        }
    }
}

/// migrate's report on stdout, its notes on stderr.
fn output() -> migrate::Output {
    migrate::Output {
        report: std::sync::Arc::new(|text: &str| print!("{text}")),
        notes: std::sync::Arc::new(|text: &str| eprint!("{text}")),
    }
}

pub fn run(args: MigrateArgs) -> Result<ExitCode> {
    match args.command {
        MigrateCommand::New(args) => migrate::new(&migrate::NewOptions {
            name: args.name,
            dir: args.dir,
            recipe: args.recipe.map(RecipeKind::from),
            table: args.table,
            schema: args.schema,
            columns: args.columns,
            check_expression: args.check_expression,
            ts_config: args.ts_config,
            database_url: args.database_url,
            out: output(),
        }),
        MigrateCommand::Up(args) => migrate::up(&migrate::UpOptions {
            common: args.common.options(),
            lock_timeout: args.run.lock_timeout,
            to_version: args.to_version.or_else(|| args.common.version_in_to()),
            dry_run: args.dry_run,
            allow_out_of_order: args.allow_out_of_order,
        }),
        MigrateCommand::Down(args) => migrate::down(&migrate::DownOptions {
            common: args.common.options(),
            lock_timeout: args.run.lock_timeout,
            steps: args.steps,
            to_version: args.to_version.or_else(|| args.common.version_in_to()),
            dry_run: args.dry_run,
        }),
        MigrateCommand::Status(args) => migrate::status(&migrate::StatusOptions {
            common: args.common.options(),
            json: args.json,
        }),
        MigrateCommand::Validate(common) => migrate::validate(&common.options()),
        MigrateCommand::Repair(args) => migrate::repair(&migrate::RepairOptions {
            common: args.common.options(),
            forget_missing: args.forget_missing,
        }),
        MigrateCommand::Baseline(args) => migrate::baseline(&migrate::BaselineOptions {
            common: args.common.options(),
            version: args.version,
        }),
        MigrateCommand::Diff(args) => migrate::diff(&migrate::DiffOptions {
            common: args.common.options(),
            desired: args.desired,
            write: args.write,
            check: args.check,
        }),
        MigrateCommand::Lint(args) => migrate::lint(&migrate::LintOptions {
            common: args.common.options(),
            files: args.files,
            all: args.all,
            json: args.json,
            rules: args.rules,
        }),
    }
}
