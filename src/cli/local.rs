//! `godwit local start|stop|status|url`.

use crate::cli::args::{LocalAction, LocalArgs};
use crate::error::{ExitCode, Result};
use crate::local::{LocalCluster, Status};

pub fn run(args: LocalArgs) -> Result<ExitCode> {
    let cluster = LocalCluster::discover()?;
    match args.action {
        LocalAction::Start {
            replicas,
            pooler,
            max_connections,
        } => {
            let cluster = match max_connections {
                Some(n) => cluster.with_max_connections(n),
                None => cluster,
            };
            let spec = cluster.start()?;
            eprintln!("local cluster running (data in {})", cluster.data_dir().display());
            if !cluster.preloads_pg_stat_statements().unwrap_or(true) {
                eprintln!(
                    "note: this cluster was started without pg_stat_statements, which `godwit inspect` uses for \
                     slow queries; restart it to load it: godwit local stop && godwit local start"
                );
            }
            let standbys = match replicas {
                Some(n) => cluster.start_standbys(n)?,
                None => cluster.start_existing_standbys()?,
            };
            for (k, url) in standbys.iter().enumerate() {
                eprintln!("replica {} streaming: {url}", k + 1);
            }
            if pooler {
                let url = cluster.start_pooler()?;
                eprintln!("pooler (PgBouncer, transaction mode): {url}");
            }
            println!("{spec}");
        }
        LocalAction::Stop => {
            // The pooler and the standbys first: neither then waits on a gone primary.
            if cluster.stop_pooler()? {
                eprintln!("pooler stopped");
            }
            let standbys = cluster.stop_standbys()?;
            if standbys > 0 {
                eprintln!("{standbys} replicas stopped");
            }
            if cluster.stop()? {
                eprintln!("local cluster stopped");
            } else {
                eprintln!("local cluster was not running");
            }
        }
        LocalAction::Status => {
            println!("{}", describe(&cluster.status()?, &cluster.data_dir()));
            for standby in cluster.standbys() {
                let status = cluster.standby_status(&standby)?;
                println!("replica {}: {}", standby.number, describe(&status, &standby.data_dir()));
            }
            if let Some(port) = cluster.pooler_port() {
                println!("pooler: running on 127.0.0.1:{port} (PgBouncer, transaction mode)");
            }
        }
        LocalAction::Url { replica, pooled } => match (replica, pooled) {
            (Some(k), _) => println!("{}", cluster.standby_spec(k)?),
            (None, true) => println!("{}", cluster.pooled_spec()?),
            (None, false) => println!("{}", cluster.spec()?),
        },
    }
    Ok(ExitCode::Ok)
}

fn describe(status: &Status, data_dir: &std::path::Path) -> String {
    match status {
        Status::NotCreated => format!("not created (will be created in {})", data_dir.display()),
        Status::Stopped => format!("stopped ({})", data_dir.display()),
        Status::Running { port } => format!("running on 127.0.0.1:{port} ({})", data_dir.display()),
    }
}
