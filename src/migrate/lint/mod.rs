//! `migrate lint` (in progress).
use crate::error::{Error, ExitCode, Result};
pub fn run(_args: &super::LintArgs) -> Result<ExitCode> {
    Err(Error::Usage("migrate lint is not built yet".into()))
}
