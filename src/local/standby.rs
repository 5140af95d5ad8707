//! Hot standbys of the local cluster: `godwit local start --replicas N`.
//!
//! Each is a `pg_basebackup -R` copy of the primary with its own physical
//! replication slot (so the primary keeps the WAL a stopped standby still
//! needs, and `health` can say how much), its own data directory under
//! the local home and its own free port on loopback. Streaming replication
//! is PostgreSQL's own; godwit only sets it up, starts and stops it.

use std::path::PathBuf;
use std::process::Stdio;

use super::{LOCAL_USER, LocalCluster, Status, free_port};
use crate::error::{Error, Result};
use crate::postgres::conn::ConnSpec;

/// One standby's place on disk.
pub struct Standby {
    pub number: u32,
    root: PathBuf,
}

impl Standby {
    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    fn log_file(&self) -> PathBuf {
        self.root.join("server.log")
    }

    fn port_file(&self) -> PathBuf {
        self.root.join("port")
    }

    /// The name of its slot on the primary, and the application_name it
    /// streams under (pg_stat_replication shows it).
    pub fn slot_name(&self) -> String {
        format!("godwit_replica_{}", self.number)
    }
}

impl LocalCluster {
    pub fn standby(&self, number: u32) -> Standby {
        Standby {
            number,
            root: self.home.join("local").join(format!("replica-{number}")),
        }
    }

    /// The standbys made so far, by number.
    pub fn standbys(&self) -> Vec<Standby> {
        let mut found: Vec<u32> = std::fs::read_dir(self.home.join("local"))
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|e| e.file_name().to_str()?.strip_prefix("replica-")?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        found.sort_unstable();
        found
            .into_iter()
            .map(|n| self.standby(n))
            .filter(|s| s.data_dir().join("PG_VERSION").exists())
            .collect()
    }

    pub fn standby_status(&self, standby: &Standby) -> Result<Status> {
        self.status_of(&standby.data_dir())
    }

    /// Makes (first time) and starts standbys 1..=count; standbys numbered
    /// above `count` are removed with their slots, so the cluster has
    /// exactly the replicas asked for. The primary must be running.
    pub fn start_standbys(&self, count: u32) -> Result<Vec<ConnSpec>> {
        for extra in self.standbys().into_iter().filter(|s| s.number > count) {
            self.remove_standby(&extra)?;
        }
        let mut urls = Vec::new();
        for number in 1..=count {
            let standby = self.standby(number);
            if !standby.data_dir().join("PG_VERSION").exists() {
                self.make_standby(&standby)?;
            }
            urls.push(self.start_standby(&standby)?);
        }
        Ok(urls)
    }

    /// Starts the standbys that exist (after a `local stop`).
    pub fn start_existing_standbys(&self) -> Result<Vec<ConnSpec>> {
        self.standbys().iter().map(|s| self.start_standby(s)).collect()
    }

    /// pg_basebackup from the running primary, with a physical slot made
    /// for it (-C -S) and the standby settings written (-R).
    fn make_standby(&self, standby: &Standby) -> Result<()> {
        let port = self.running_port()?;
        std::fs::create_dir_all(&standby.root)
            .map_err(|e| Error::io(format!("creating {}", standby.root.display()), e))?;
        self.prepare_dirs()?;
        let _ = std::fs::remove_dir_all(standby.data_dir());
        // A slot left by a standby whose directory is gone would make -C fail.
        self.drop_slot(&standby.slot_name())?;
        let conninfo = format!(
            "host={} port={port} user={LOCAL_USER} application_name={}",
            self.socket_dir().display(),
            standby.slot_name()
        );
        let output = self
            .command("pg_basebackup")
            .arg("-d")
            .arg(&conninfo)
            .arg("-D")
            .arg(standby.data_dir())
            .args([
                "-R",
                "-C",
                "-S",
                &standby.slot_name(),
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
            ])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::Local(format!("running pg_basebackup: {e}")))?;
        if !output.status.success() {
            let _ = std::fs::remove_dir_all(standby.data_dir());
            let _ = self.drop_slot(&standby.slot_name());
            return Err(Error::Local(format!(
                "pg_basebackup for replica {} failed: {}",
                standby.number,
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        Ok(())
    }

    fn start_standby(&self, standby: &Standby) -> Result<ConnSpec> {
        if let Status::Running { port } = self.standby_status(standby)? {
            return standby_spec(port);
        }
        let port = reuse_or_free_port(&standby.port_file())?;
        // max_connections must be at least the primary's, or the standby
        // refuses to start; the same settings as the primary otherwise.
        let options = self.server_options(port, &standby.root);
        self.pg_ctl_start(&standby.data_dir(), &standby.log_file(), &options)?;
        standby_spec(port)
    }

    pub fn standby_spec(&self, number: u32) -> Result<ConnSpec> {
        let standby = self.standby(number);
        match self.standby_status(&standby)? {
            Status::Running { port } => standby_spec(port),
            Status::Stopped => Err(Error::Local(format!(
                "replica {number} is stopped; run `godwit local start`"
            ))),
            Status::NotCreated => Err(Error::Local(format!(
                "there is no replica {number}; run `godwit local start --replicas {number}`"
            ))),
        }
    }

    /// Stops every standby; returns how many were running.
    pub fn stop_standbys(&self) -> Result<usize> {
        let mut stopped = 0;
        for standby in self.standbys() {
            if self.pg_ctl_stop(&standby.data_dir())? {
                stopped += 1;
            }
        }
        Ok(stopped)
    }

    fn remove_standby(&self, standby: &Standby) -> Result<()> {
        self.pg_ctl_stop(&standby.data_dir())?;
        std::fs::remove_dir_all(&standby.root)
            .map_err(|e| Error::io(format!("removing {}", standby.root.display()), e))?;
        self.drop_slot(&standby.slot_name())
    }

    fn drop_slot(&self, slot: &str) -> Result<()> {
        let mut client = self.spec()?.connect()?;
        client
            .execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1",
                &[&slot],
            )
            .map_err(|e| Error::pg(format!("dropping the replication slot {slot}"), &e))?;
        Ok(())
    }
}

fn standby_spec(port: u16) -> Result<ConnSpec> {
    ConnSpec::parse(&format!(
        "postgresql://{LOCAL_USER}@127.0.0.1:{port}/postgres?sslmode=disable"
    ))
}

/// The port of the previous start when still free (a stable URL), else a
/// free one; remembered in `file`.
pub(super) fn reuse_or_free_port(file: &std::path::Path) -> Result<u16> {
    let previous = std::fs::read_to_string(file)
        .ok()
        .and_then(|t| t.trim().parse::<u16>().ok())
        .filter(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok());
    let port = match previous {
        Some(p) => p,
        None => free_port()?,
    };
    std::fs::write(file, format!("{port}\n")).map_err(|e| Error::io(format!("writing {}", file.display()), e))?;
    Ok(port)
}
