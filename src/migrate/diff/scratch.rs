//! A throwaway database on the same server, dropped when the guard goes
//! out of scope — after success, on error, and after Ctrl-C (the first
//! signal only raises a flag, so unwinding reaches the drop).

use postgres::Client;

use crate::error::{Error, Result};
use crate::postgres::conn::{ConnSpec, quote_ident};

pub struct ScratchDatabase {
    admin: Client,
    pub name: String,
    pub spec: ConnSpec,
}

impl ScratchDatabase {
    pub fn create(spec: &ConnSpec) -> Result<ScratchDatabase> {
        let mut admin = spec.connect()?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!("godwit_diff_{}_{nanos}", std::process::id());
        admin
            .batch_execute(&format!("CREATE DATABASE {} TEMPLATE template0", quote_ident(&name)))
            .map_err(|e| {
                Error::pg(
                    format!(
                        "creating scratch database {name} for diff (the role needs CREATEDB on {})",
                        spec.host
                    ),
                    &e,
                )
            })?;
        Ok(ScratchDatabase {
            spec: spec.with_dbname(&name),
            admin,
            name,
        })
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(&self.name));
        if let Err(e) = self.admin.batch_execute(&sql) {
            eprintln!(
                "warning: could not drop scratch database {}: {}; drop it by hand",
                self.name,
                crate::postgres::conn::describe_pg_error(&e)
            );
        }
    }
}
