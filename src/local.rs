//! `godwit local`: a throwaway PostgreSQL cluster for people who have none
//! running, and for godwit's own tests.
//!
//! It uses the system's server binaries, listens on loopback only, on a free
//! port, with trust authentication (so no password exists to leak). Run as
//! root, it starts the server as an unprivileged user, because postgres
//! refuses to run as root.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Error, Result};
use crate::postgres::conn::ConnSpec;

/// The superuser created in the local cluster.
pub const LOCAL_USER: &str = "postgres";

pub struct LocalCluster {
    home: PathBuf,
    bindir: PathBuf,
    /// Set when running as root: the account the server runs as.
    run_as: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    NotCreated,
    Stopped,
    Running { port: u16 },
}

impl LocalCluster {
    /// Finds the server binaries and the cluster's home directory:
    /// `$GODWIT_HOME`, else the user's data directory (`/var/lib/godwit` for
    /// root, whose home an unprivileged server could not enter).
    pub fn discover() -> Result<LocalCluster> {
        let run_as = if is_root() { Some(unprivileged_user()?) } else { None };
        let home = match std::env::var_os("GODWIT_HOME").filter(|h| !h.is_empty()) {
            Some(h) => PathBuf::from(h),
            None if run_as.is_some() => PathBuf::from("/var/lib/godwit"),
            None => dirs::data_dir()
                .map(|d| d.join("godwit"))
                .ok_or_else(|| Error::Local("no data directory; set GODWIT_HOME".into()))?,
        };
        let home = if home.is_absolute() {
            home
        } else {
            std::env::current_dir()
                .map_err(|e| Error::io("current directory", e))?
                .join(home)
        };
        Ok(LocalCluster {
            home,
            bindir: find_bindir()?,
            run_as,
        })
    }

    pub fn data_dir(&self) -> PathBuf {
        self.home.join("local").join("data")
    }

    fn socket_dir(&self) -> PathBuf {
        self.home.join("local").join("run")
    }

    fn log_file(&self) -> PathBuf {
        self.home.join("local").join("server.log")
    }

    pub fn status(&self) -> Result<Status> {
        if !self.data_dir().join("PG_VERSION").exists() {
            return Ok(Status::NotCreated);
        }
        let running = self
            .command("pg_ctl")
            .arg("status")
            .arg("-D")
            .arg(self.data_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| Error::Local(format!("running pg_ctl: {e}")))?
            .success();
        if !running {
            return Ok(Status::Stopped);
        }
        Ok(Status::Running {
            port: self.running_port()?,
        })
    }

    /// Creates the cluster if needed and starts it. Returns its URL.
    pub fn start(&self) -> Result<ConnSpec> {
        if let Status::Running { .. } = self.status()? {
            return self.spec();
        }
        self.prepare_dirs()?;
        if !self.data_dir().join("PG_VERSION").exists() {
            self.initdb()?;
        }
        let port = self.port_to_use()?;
        // pg_stat_statements is preloaded so that `godwit inspect` can show
        // slow queries once a database runs CREATE EXTENSION pg_stat_statements;
        // pgaudit, when installed, so that `godwit audit enable` needs no
        // restart (it logs nothing until configured).
        // The logging collector writes to the same server.log, so that SQL
        // can read it too (`pg_current_logfile`): `godwit audit status`
        // finds pgaudit's last event there. One file, never rotated.
        let options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='{}' \
             -c max_wal_size=4GB -c checkpoint_timeout=30min -c max_connections=200 \
             -c shared_preload_libraries={} \
             -c logging_collector=on -c log_directory='{}' -c log_filename=server.log \
             -c log_rotation_age=0 -c log_rotation_size=0",
            self.socket_dir().display(),
            self.preload_libraries(),
            self.home.join("local").display()
        );
        let output = self
            .command("pg_ctl")
            .arg("start")
            .arg("-w")
            .arg("-t")
            .arg("60")
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.log_file())
            .arg("-o")
            .arg(options)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::Local(format!("running pg_ctl start: {e}")))?;
        if !output.status.success() {
            let log = std::fs::read_to_string(self.log_file()).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(10).collect();
            return Err(Error::Local(format!(
                "pg_ctl start failed: {}{}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            )));
        }
        self.spec()
    }

    /// The port of the previous start when it is still free, so that the
    /// URL stays the same across a restart (clients waiting with
    /// --connect-timeout find the server again); else any free port.
    fn port_to_use(&self) -> Result<u16> {
        let file = self.port_file();
        let previous = std::fs::read_to_string(&file)
            .ok()
            .and_then(|t| t.trim().parse::<u16>().ok())
            .filter(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok());
        let port = match previous {
            Some(p) => p,
            None => free_port()?,
        };
        std::fs::write(&file, format!("{port}\n")).map_err(|e| Error::io(format!("writing {}", file.display()), e))?;
        Ok(port)
    }

    fn port_file(&self) -> PathBuf {
        self.home.join("local").join("port")
    }

    /// pg_stat_statements, and pgaudit when the server's package has it.
    fn preload_libraries(&self) -> &'static str {
        let pgaudit = self.bindir.parent().map(|dir| dir.join("lib").join("pgaudit.so"));
        if pgaudit.is_some_and(|lib| lib.exists()) {
            "pg_stat_statements,pgaudit"
        } else {
            "pg_stat_statements"
        }
    }

    /// Whether the running server preloads pg_stat_statements (clusters
    /// started by godwit before it did so do not, until restarted).
    pub fn preloads_pg_stat_statements(&self) -> Result<bool> {
        let mut client = self.spec()?.connect()?;
        let row = client
            .query_one("SHOW shared_preload_libraries", &[])
            .map_err(|e| Error::pg("reading shared_preload_libraries", &e))?;
        let libraries: String = row.get(0);
        Ok(libraries.split(',').any(|l| l.trim() == "pg_stat_statements"))
    }

    pub fn stop(&self) -> Result<bool> {
        if !matches!(self.status()?, Status::Running { .. }) {
            return Ok(false);
        }
        let output = self
            .command("pg_ctl")
            .arg("stop")
            .arg("-w")
            .arg("-m")
            .arg("fast")
            .arg("-D")
            .arg(self.data_dir())
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::Local(format!("running pg_ctl stop: {e}")))?;
        if !output.status.success() {
            return Err(Error::Local(format!(
                "pg_ctl stop failed: {}",
                String::from_utf8_lossy(&output.stderr)
            )));
        }
        Ok(true)
    }

    /// The running cluster's connection settings.
    pub fn spec(&self) -> Result<ConnSpec> {
        let port = self.running_port()?;
        ConnSpec::parse(&format!(
            "postgresql://{LOCAL_USER}@127.0.0.1:{port}/postgres?sslmode=disable"
        ))
    }

    fn running_port(&self) -> Result<u16> {
        // postmaster.pid: pid, data dir, start time, port, socket dir, ...
        let pid_file = self.data_dir().join("postmaster.pid");
        let text = std::fs::read_to_string(&pid_file)
            .map_err(|_| Error::Local("the local cluster is not running; run `godwit local start`".into()))?;
        text.lines()
            .nth(3)
            .and_then(|l| l.trim().parse().ok())
            .ok_or_else(|| Error::Local(format!("no port in {}", pid_file.display())))
    }

    fn prepare_dirs(&self) -> Result<()> {
        for dir in [self.home.join("local"), self.socket_dir()] {
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        }
        if let Some(user) = &self.run_as {
            // The server account must own its directories and reach them.
            let status = Command::new("chown")
                .arg("-R")
                .arg(format!("{user}:"))
                .arg(self.home.join("local"))
                .status()
                .map_err(|e| Error::Local(format!("chown: {e}")))?;
            if !status.success() {
                return Err(Error::Local(format!(
                    "could not give {} to {user}",
                    self.home.display()
                )));
            }
            let reachable = Command::new("runuser")
                .args(["-u", user, "--", "test", "-w"])
                .arg(self.home.join("local"))
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if !reachable {
                return Err(Error::Local(format!(
                    "{} is not reachable by the unprivileged user {user} the server runs as; \
                     set GODWIT_HOME to a directory outside root's home",
                    self.home.display()
                )));
            }
        }
        Ok(())
    }

    fn initdb(&self) -> Result<()> {
        let output = self
            .command("initdb")
            .arg("-D")
            .arg(self.data_dir())
            .args([
                "-U",
                LOCAL_USER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::Local(format!("running initdb: {e}")))?;
        if !output.status.success() {
            return Err(Error::Local(format!(
                "initdb failed:\n{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )));
        }
        Ok(())
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bindir.join(program);
        match &self.run_as {
            Some(user) => {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", user, "--"]).arg(path);
                cmd
            }
            None => Command::new(path),
        }
    }

    pub fn bindir(&self) -> &Path {
        &self.bindir
    }

    pub fn home(&self) -> &Path {
        &self.home
    }
}

fn is_root() -> bool {
    // `id -u` rather than libc, to keep unsafe code out.
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The account a root-started server runs as: `postgres` when the OS
/// package made it, else a `godwit` system user created now.
fn unprivileged_user() -> Result<String> {
    for user in ["postgres", "godwit"] {
        if Command::new("id")
            .arg(user)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            return Ok(user.to_string());
        }
    }
    let status = Command::new("useradd")
        .args(["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "godwit"])
        .status()
        .map_err(|e| Error::Local(format!("useradd: {e}")))?;
    if !status.success() {
        return Err(Error::Local(
            "could not create an unprivileged user to run postgres as".into(),
        ));
    }
    Ok("godwit".to_string())
}

/// `pg_config --bindir`, then `/usr/lib/postgresql/<newest>/bin`, then PATH.
pub fn find_bindir() -> Result<PathBuf> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output()
        && output.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if has_server(&dir) {
            return Ok(dir);
        }
    }
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<(u32, PathBuf)> = entries
            .flatten()
            .filter_map(|e| {
                let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
                Some((version, e.path().join("bin")))
            })
            .filter(|(_, dir)| has_server(dir))
            .collect();
        versions.sort();
        if let Some((_, dir)) = versions.pop() {
            return Ok(dir);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if has_server(&dir) {
                return Ok(dir);
            }
        }
    }
    Err(Error::Local(
        "no PostgreSQL server binaries found (looked at pg_config --bindir, /usr/lib/postgresql/*/bin and PATH); \
         install them, e.g. `apt-get install postgresql`, or run `make demo` which does"
            .into(),
    ))
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| Error::io("finding a free port", e))?;
    let port = listener
        .local_addr()
        .map_err(|e| Error::io("finding a free port", e))?
        .port();
    Ok(port)
}
