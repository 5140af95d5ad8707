use crate::cli::args::PlanArgs;
use crate::error::{Error, ExitCode, Result};

pub fn run(_args: PlanArgs) -> Result<ExitCode> {
    Err(Error::Usage("not built yet".into()))
}
