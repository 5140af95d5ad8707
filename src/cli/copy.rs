use crate::cli::args::CopyArgs;
use crate::error::{Error, ExitCode, Result};
use crate::report::Reporter;

pub fn run(_args: CopyArgs, _reporter: &Reporter) -> Result<ExitCode> {
    Err(Error::Usage("not built yet".into()))
}
