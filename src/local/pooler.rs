//! PgBouncer in front of the local cluster: `godwit local start --pooler`.
//!
//! Transaction pooling, as managed platforms run it, so that godwit's own
//! commands and the workload meet the pooler they will meet in production.
//! The config and the auth file live under the local home, readable by
//! their owner only (0600). Authentication is `trust`, like the cluster's:
//! loopback only, and no password exists to leak.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{LOCAL_USER, LocalCluster};
use crate::error::{Error, Result};
use crate::postgres::conn::ConnSpec;

/// Server connections per database and user: what PgBouncer opens to the
/// cluster whatever the number of clients.
pub const POOL_SIZE: u32 = 20;
/// Clients PgBouncer accepts; well past any local max_connections, which
/// is the point of a pooler.
pub const MAX_CLIENTS: u32 = 2000;

impl LocalCluster {
    fn pooler_dir(&self) -> PathBuf {
        self.home.join("local").join("pooler")
    }

    fn pooler_pid_file(&self) -> PathBuf {
        self.pooler_dir().join("pgbouncer.pid")
    }

    /// The pid of the running PgBouncer, if any.
    fn pooler_pid(&self) -> Option<u32> {
        let pid: u32 = std::fs::read_to_string(self.pooler_pid_file())
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let alive = Command::new("kill")
            .args(["-0", &pid.to_string()])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        alive.then_some(pid)
    }

    /// The running pooler's port, if it runs.
    pub fn pooler_port(&self) -> Option<u16> {
        self.pooler_pid()?;
        std::fs::read_to_string(self.pooler_dir().join("port"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Starts PgBouncer in front of the running primary; returns its URL.
    pub fn start_pooler(&self) -> Result<ConnSpec> {
        if let Some(port) = self.pooler_port() {
            return pooled_spec(port);
        }
        let binary = find_pgbouncer()?;
        let primary_port = self.running_port()?;
        let dir = self.pooler_dir();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let port = super::standby::reuse_or_free_port(&dir.join("port"))?;
        let auth_file = dir.join("userlist.txt");
        write_private(&auth_file, &format!("\"{LOCAL_USER}\" \"\"\n"))?;
        let config = dir.join("pgbouncer.ini");
        write_private(
            &config,
            &pooler_config(
                &self.socket_dir().display().to_string(),
                primary_port,
                port,
                &auth_file.display().to_string(),
                &dir,
                prepared_statements_supported(&binary),
            ),
        )?;
        self.prepare_dirs()?;
        // Each client and server connection is a file descriptor: the usual
        // soft limit of 1024 (which runuser's PAM session also sets) would
        // make PgBouncer refuse clients long before max_client_conn.
        let raise_fd_limit = format!(
            "ulimit -n {} 2>/dev/null || ulimit -n \"$(ulimit -Hn)\" 2>/dev/null; exec \"$@\"",
            MAX_CLIENTS * 2 + 100
        );
        let mut command = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]);
                c
            }
            None => Command::new("sh"),
        };
        if self.run_as.is_some() {
            command.arg("sh");
        }
        let output = command
            .args(["-c", &raise_fd_limit, "pgbouncer"])
            .arg(&binary)
            .arg("-d")
            .arg(&config)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::Local(format!("running {}: {e}", binary.display())))?;
        if !output.status.success() {
            return Err(Error::Local(format!(
                "pgbouncer did not start: {}{}",
                String::from_utf8_lossy(&output.stderr).trim(),
                self.pooler_log_tail()
            )));
        }
        // -d returns once it forked; wait until it accepts connections.
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err(Error::Local(format!(
                    "pgbouncer did not listen on 127.0.0.1:{port} within 10s{}",
                    self.pooler_log_tail()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        pooled_spec(port)
    }

    fn pooler_log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.pooler_dir().join("pgbouncer.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(5).collect();
        if tail.is_empty() {
            String::new()
        } else {
            format!("\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"))
        }
    }

    /// Stops PgBouncer; false when it was not running.
    pub fn stop_pooler(&self) -> Result<bool> {
        let Some(pid) = self.pooler_pid() else {
            return Ok(false);
        };
        // SIGINT: a safe shutdown that waits for clients' transactions to end.
        let _ = Command::new("kill").args(["-INT", &pid.to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.pooler_pid().is_some() {
            if Instant::now() > deadline {
                let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(true)
    }

    /// The pooled URL of the running pooler.
    pub fn pooled_spec(&self) -> Result<ConnSpec> {
        match self.pooler_port() {
            Some(port) => pooled_spec(port),
            None => Err(Error::Local(
                "the pooler is not running; run `godwit local start --pooler`".into(),
            )),
        }
    }
}

fn pooled_spec(port: u16) -> Result<ConnSpec> {
    ConnSpec::parse(&format!(
        "postgresql://{LOCAL_USER}@127.0.0.1:{port}/postgres?sslmode=disable"
    ))
}

fn pooler_config(
    socket_dir: &str,
    primary_port: u16,
    port: u16,
    auth_file: &str,
    dir: &std::path::Path,
    prepared_statements: bool,
) -> String {
    // Protocol-level prepared statements arrived in PgBouncer 1.21; older
    // ones (Debian 12 ships 1.18) reject the setting, and godwit sends no
    // named statement outside a transaction through them (docs/operations.md).
    let prepared = if prepared_statements {
        "max_prepared_statements = 200\n"
    } else {
        ""
    };
    format!(
        "; Written by `godwit local start --pooler`; rewritten at each start.\n\
         [databases]\n\
         * = host={socket_dir} port={primary_port}\n\
         \n\
         [pgbouncer]\n\
         listen_addr = 127.0.0.1\n\
         listen_port = {port}\n\
         unix_socket_dir =\n\
         auth_type = trust\n\
         auth_file = {auth_file}\n\
         pool_mode = transaction\n\
         default_pool_size = {POOL_SIZE}\n\
         max_client_conn = {MAX_CLIENTS}\n\
         admin_users = {LOCAL_USER}\n\
         stats_users = {LOCAL_USER}\n\
         {prepared}\
         pidfile = {pid}\n\
         logfile = {log}\n\
         log_connections = 0\n\
         log_disconnections = 0\n",
        pid = dir.join("pgbouncer.pid").display(),
        log = dir.join("pgbouncer.log").display(),
    )
}

/// Writes a file only its owner can read.
fn write_private(path: &std::path::Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::fs::PermissionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    // An older file keeps its mode through open(): set it again.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .and_then(|()| file.write_all(text.as_bytes()))
        .map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

/// PgBouncer 1.21 or later understands max_prepared_statements.
fn prepared_statements_supported(binary: &std::path::Path) -> bool {
    let Ok(output) = Command::new(binary).arg("--version").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&output.stdout);
    let version = text.split_whitespace().nth(1).unwrap_or("");
    let mut parts = version.split('.').filter_map(|p| p.parse::<u32>().ok());
    matches!((parts.next(), parts.next()), (Some(major), Some(minor)) if major > 1 || (major == 1 && minor >= 21))
}

/// `pgbouncer` on PATH, else where Debian puts it.
fn find_pgbouncer() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("pgbouncer");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    let debian = PathBuf::from("/usr/sbin/pgbouncer");
    if debian.is_file() {
        return Ok(debian);
    }
    Err(Error::Local(
        "pgbouncer is not installed; install it, e.g. `apt-get install pgbouncer` (scripts/install-deps.sh does)"
            .into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_mode_and_prepared_statements_only_where_supported() {
        let dir = std::path::Path::new("/h/pooler");
        let old = pooler_config("/h/run", 5432, 6432, "/h/pooler/userlist.txt", dir, false);
        assert!(old.contains("pool_mode = transaction"));
        assert!(old.contains("* = host=/h/run port=5432"));
        assert!(!old.contains("max_prepared_statements"));
        let new = pooler_config("/h/run", 5432, 6432, "/h/pooler/userlist.txt", dir, true);
        assert!(new.contains("max_prepared_statements = 200"));
    }
}
