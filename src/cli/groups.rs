//! Flag groups several commands flatten: how the source is mapped, and how
//! results are shown.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// How the source is read and mapped.
#[derive(Debug, Clone, Args)]
pub struct MappingArgs {
    /// Config file with casts, renames and skipped tables. Defaults to ./godwit.toml when present.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// How table and column names are spelled in PostgreSQL.
    #[arg(long, value_enum, default_value_t = IdentifierStyle::Exact)]
    pub identifiers: IdentifierStyle,
}

/// `--identifiers`, resolved into [`crate::plan::IdentifierStyle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IdentifierStyle {
    /// Keep the exact spelling and case, quoted where needed.
    Exact,
    /// Lower-case every name.
    Lower,
    /// Lower snake_case: CamelCase becomes camel_case.
    Snake,
}

/// How results are shown.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Print a machine-readable JSON summary on stdout.
    #[arg(long)]
    pub json: bool,

    /// Only errors and the summary.
    #[arg(long, short)]
    pub quiet: bool,
}

impl From<IdentifierStyle> for crate::plan::IdentifierStyle {
    fn from(style: IdentifierStyle) -> Self {
        match style {
            IdentifierStyle::Exact => Self::Exact,
            IdentifierStyle::Lower => Self::Lower,
            IdentifierStyle::Snake => Self::Snake,
        }
    }
}

impl OutputArgs {
    pub fn options(&self) -> crate::report::ReportOptions {
        crate::report::ReportOptions {
            json: self.json,
            quiet: self.quiet,
            hide_summaries: false,
        }
    }
}

impl MappingArgs {
    /// Loads the config file and resolves the mapping into `schema`.
    pub fn resolve(&self, schema: &str) -> crate::error::Result<crate::prepare::Mapping> {
        Ok(crate::prepare::Mapping {
            config: crate::config::Config::load(self.config.as_deref())?,
            schema: schema.to_string(),
            identifiers: self.identifiers.into(),
        })
    }
}
