//! `godwit local start|stop|status|url`.

use crate::cli::args::{LocalAction, LocalArgs};
use crate::error::{ExitCode, Result};
use crate::local::{LocalCluster, Status};

pub fn run(args: LocalArgs) -> Result<ExitCode> {
    let cluster = LocalCluster::discover()?;
    match args.action {
        LocalAction::Start => {
            let spec = cluster.start()?;
            eprintln!("local cluster running (data in {})", cluster.data_dir().display());
            if !cluster.preloads_pg_stat_statements().unwrap_or(true) {
                eprintln!(
                    "note: this cluster was started without pg_stat_statements, which `godwit inspect` uses for \
                     slow queries; restart it to load it: godwit local stop && godwit local start"
                );
            }
            println!("{spec}");
        }
        LocalAction::Stop => {
            if cluster.stop()? {
                eprintln!("local cluster stopped");
            } else {
                eprintln!("local cluster was not running");
            }
        }
        LocalAction::Status => match cluster.status()? {
            Status::NotCreated => println!("not created (will be created in {})", cluster.data_dir().display()),
            Status::Stopped => println!("stopped ({})", cluster.data_dir().display()),
            Status::Running { port } => println!("running on 127.0.0.1:{port} ({})", cluster.data_dir().display()),
        },
        LocalAction::Url => println!("{}", cluster.spec()?),
    }
    Ok(ExitCode::Ok)
}
