//! `godwit migrate`: versioned schema migrations, diff and lint.

use crate::error::{Error, ExitCode, Result};

#[derive(Debug, clap::Args)]
pub struct MigrateArgs {}

pub fn run_cli(_args: MigrateArgs) -> Result<ExitCode> {
    Err(Error::Usage("godwit migrate is not built yet".into()))
}
