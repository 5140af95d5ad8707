//! `godwit verify`: prove the target equals the source, row by row.

use crate::error::{Error, ExitCode, Result};

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {}

pub fn run_cli(_args: VerifyArgs) -> Result<ExitCode> {
    Err(Error::Usage("godwit verify is not built yet".into()))
}
