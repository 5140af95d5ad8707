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

use crate::error::{Error, Result};
use crate::postgres::conn::{ConnSpec, WaitNotice};

pub use commands::{baseline, down, new, repair, up, validate};
pub use diff::run as diff;
pub use lint::run as lint;
pub use status::status;

/// Says that godwit waits for a restarting server.
pub type OnWait = std::sync::Arc<dyn Fn(&WaitNotice) + Send + Sync>;

/// Where migrate's report goes: lines of the report (stdout in the CLI) and
/// notes beside it (stderr). migrate/ never prints; cli/ decides.
#[derive(Clone)]
pub struct Output {
    /// Writes text as it is (the caller adds line ends).
    pub report: std::sync::Arc<dyn Fn(&str) + Send + Sync>,
    pub notes: std::sync::Arc<dyn Fn(&str) + Send + Sync>,
}

impl Output {
    /// One line of the report.
    pub fn line(&self, text: &str) {
        (self.report)(&format!("{text}\n"));
    }

    /// Report text without a line end.
    pub fn text(&self, text: &str) {
        (self.report)(text);
    }

    /// One line beside the report: progress, warnings, problems.
    pub fn note(&self, text: &str) {
        (self.notes)(&format!("{text}\n"));
    }
}

/// Where the migrations and the history live.
#[derive(Clone)]
pub struct CommonOptions {
    /// The database URL (a postgresql:// URL or key=value string), if given.
    pub database: Option<String>,
    /// How long to wait for a server that refuses connections or restarts.
    pub connect_timeout: std::time::Duration,
    pub on_wait: OnWait,
    /// Directory holding the migration files.
    pub dir: PathBuf,
    pub history_schema: String,
    pub history_table: String,
    pub out: Output,
    /// Run every statement as this role (`--owner`, see [`crate::roles::run_as`]).
    pub owner: Option<String>,
}

impl CommonOptions {
    /// The connection, or a usage error that says how to get one. It waits
    /// for a restarting server up to the connect timeout.
    pub fn conn_spec(&self) -> Result<ConnSpec> {
        match self.database.as_deref().filter(|url| !url.trim().is_empty()) {
            Some(url) => Ok(
                crate::roles::run_as_optional(ConnSpec::parse(url)?, self.owner.as_deref())
                    .with_retry(self.connect_timeout, self.on_wait.clone()),
            ),
            None => Err(Error::Usage(
                "no database given: pass --to URL (alias --database-url) or set DATABASE_URL \
                 (for the local cluster: --to \"$(godwit local url)\")"
                    .into(),
            )),
        }
    }

    pub fn history_table(&self) -> history::HistoryTable {
        history::HistoryTable {
            schema: self.history_schema.clone(),
            table: self.history_table.clone(),
        }
    }
}

/// `migrate new`: an empty pair of files, or a recipe.
pub struct NewOptions {
    pub name: String,
    pub dir: PathBuf,
    pub recipe: Option<recipe::RecipeKind>,
    pub table: Option<String>,
    pub schema: String,
    pub columns: Vec<String>,
    pub check_expression: Option<String>,
    pub ts_config: String,
    pub database_url: Option<String>,
    pub out: Output,
}

/// `migrate up`.
pub struct UpOptions {
    pub common: CommonOptions,
    /// Seconds to wait for the migration lock held by another runner.
    pub lock_timeout: u64,
    /// The last version to apply.
    pub to_version: Option<i64>,
    pub dry_run: bool,
    pub allow_out_of_order: bool,
}

/// `migrate down`.
pub struct DownOptions {
    pub common: CommonOptions,
    pub lock_timeout: u64,
    pub steps: Option<usize>,
    /// The version to revert down to (it stays applied).
    pub to_version: Option<i64>,
    pub dry_run: bool,
}

/// `migrate status`.
pub struct StatusOptions {
    pub common: CommonOptions,
    pub json: bool,
}

/// `migrate repair`.
pub struct RepairOptions {
    pub common: CommonOptions,
    pub forget_missing: bool,
}

/// `migrate baseline`.
pub struct BaselineOptions {
    pub common: CommonOptions,
    pub version: i64,
}

/// `migrate diff`.
pub struct DiffOptions {
    pub common: CommonOptions,
    pub desired: PathBuf,
    pub write: Option<String>,
    pub check: bool,
}

/// `migrate lint`.
pub struct LintOptions {
    pub common: CommonOptions,
    pub files: Vec<PathBuf>,
    pub all: bool,
    pub json: bool,
    pub rules: bool,
}
