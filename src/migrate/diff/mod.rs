//! `migrate diff` (in progress).
use crate::error::{Error, ExitCode, Result};
pub fn run(_args: &super::DiffArgs) -> Result<ExitCode> {
    Err(Error::Usage("migrate diff is not built yet".into()))
}
