//! Running the real `pg_dump` and `pg_restore`: finding the binaries whose
//! major version matches the server's, and handing them the connection
//! through libpq's environment and a private passfile, never through argv.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::postgres::conn::{ConnSpec, TlsMode};

/// One PostgreSQL client program, as found on this machine.
#[derive(Debug, Clone)]
pub struct Tool {
    pub path: PathBuf,
    /// Its `--version` line, e.g. `pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)`.
    pub version: String,
    pub major: u32,
}

/// Finds `program` for a server of major version `server_major`: the same
/// major first (`/usr/lib/postgresql/<major>/bin`, `pg_config --bindir`,
/// PATH), else the oldest newer one, since pg_dump reads older servers but
/// refuses newer ones.
pub fn find_tool(program: &str, server_major: u32) -> Result<Tool> {
    let mut dirs: Vec<PathBuf> = vec![PathBuf::from(format!("/usr/lib/postgresql/{server_major}/bin"))];
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output()
        && output.status.success()
    {
        dirs.push(PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()));
    }
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut others: Vec<PathBuf> = entries.flatten().map(|e| e.path().join("bin")).collect();
        others.sort();
        dirs.extend(others);
    }
    let mut found: Vec<Tool> = Vec::new();
    for dir in dirs {
        let path = dir.join(program);
        if !path.is_file() || found.iter().any(|t| t.path == path) {
            continue;
        }
        let Ok(output) = Command::new(&path).arg("--version").output() else {
            continue;
        };
        let version = String::from_utf8_lossy(&output.stdout).trim().to_string();
        if let Some(major) = major_of_version_line(&version) {
            found.push(Tool { path, version, major });
        }
    }
    if let Some(exact) = found.iter().find(|t| t.major == server_major) {
        return Ok(exact.clone());
    }
    if let Some(newer) = found.iter().filter(|t| t.major > server_major).min_by_key(|t| t.major) {
        return Ok(newer.clone());
    }
    let seen: Vec<String> = found
        .iter()
        .map(|t| format!("{} ({})", t.path.display(), t.major))
        .collect();
    Err(Error::Backup(format!(
        "no {program} for PostgreSQL {server_major} or newer on this machine (looked in \
         /usr/lib/postgresql/*/bin, pg_config --bindir and PATH; found: {}); install it, e.g. \
         `apt-get install postgresql-client-{server_major}`",
        if seen.is_empty() {
            "none".to_string()
        } else {
            seen.join(", ")
        }
    )))
}

impl Tool {
    /// `15.18` out of `pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)`.
    pub fn number(&self) -> &str {
        self.version
            .split_whitespace()
            .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
            .unwrap_or("?")
    }
}

/// `pg_dump (PostgreSQL) 15.18 (Debian ...)` → 15; `... 9.6.24` → 9.
fn major_of_version_line(line: &str) -> Option<u32> {
    let number = line
        .split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))?;
    number.split('.').next()?.parse().ok()
}

/// The environment and passfile that point libpq at one database.
/// The passfile (mode 0600, removed on drop) keeps the password out of argv
/// and out of the environment that `ps e` shows.
pub struct LibpqEnv {
    vars: Vec<(&'static str, String)>,
    _passfile: Option<tempfile::NamedTempFile>,
}

impl LibpqEnv {
    pub fn new(spec: &ConnSpec) -> Result<LibpqEnv> {
        let sslmode = match spec.tls {
            TlsMode::Disable => "disable",
            TlsMode::Prefer => "prefer",
            TlsMode::Require => "require",
            TlsMode::VerifyCa => "verify-ca",
            TlsMode::VerifyFull => "verify-full",
        };
        let mut vars = vec![
            ("PGHOST", spec.host.clone()),
            ("PGPORT", spec.port.to_string()),
            ("PGUSER", spec.user.clone()),
            ("PGDATABASE", spec.dbname.clone()),
            ("PGSSLMODE", sslmode.to_string()),
            ("PGAPPNAME", spec.application_name.clone()),
        ];
        for (name, value) in [
            ("PGSSLROOTCERT", &spec.ssl_root_cert),
            ("PGSSLCERT", &spec.ssl_cert),
            ("PGSSLKEY", &spec.ssl_key),
        ] {
            if let Some(path) = value {
                vars.push((name, path.display().to_string()));
            }
        }
        if let Some(options) = &spec.options {
            vars.push(("PGOPTIONS", options.clone()));
        }
        if let Some(timeout) = spec.connect_timeout {
            vars.push(("PGCONNECT_TIMEOUT", timeout.as_secs().to_string()));
        }
        let passfile = match spec.password() {
            Some(password) => {
                // tempfile creates the file with mode 0600.
                let mut file =
                    tempfile::NamedTempFile::new().map_err(|e| Error::io("creating a temporary passfile", e))?;
                let escaped = password.replace('\\', "\\\\").replace(':', "\\:");
                writeln!(file, "*:*:*:*:{escaped}").map_err(|e| Error::io("writing a temporary passfile", e))?;
                file.flush().map_err(|e| Error::io("writing a temporary passfile", e))?;
                vars.push(("PGPASSFILE", file.path().display().to_string()));
                Some(file)
            }
            None => None,
        };
        Ok(LibpqEnv {
            vars,
            _passfile: passfile,
        })
    }

    /// Clears every inherited PG* variable (a stray PGPASSWORD or PGSERVICE
    /// would override ours) and sets this connection's.
    pub fn apply(&self, command: &mut Command) {
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("PG") {
                command.env_remove(&name);
            }
        }
        for (name, value) in &self.vars {
            command.env(name, value);
        }
    }
}

/// Runs a client program to the end, polling for Ctrl-C / SIGTERM so that
/// an interrupted run stops its child too. Fails with the program's own
/// error lines.
pub fn run(mut command: Command, what: &str) -> Result<()> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|e| Error::io(format!("starting {what}"), e))?;
    let stderr = child.stderr.take();
    // Read stderr on a thread so a chatty child never blocks on a full pipe.
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = stderr {
            let _ = std::io::Read::read_to_string(&mut pipe, &mut text);
        }
        text
    });
    let status = wait_interruptibly(&mut child, what)?;
    let errors = reader.join().unwrap_or_default();
    if !status.success() {
        let tail: Vec<&str> = errors.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(Error::Backup(format!("{what} failed ({status}):\n{}", tail.join("\n"))));
    }
    Ok(())
}

fn wait_interruptibly(child: &mut Child, what: &str) -> Result<std::process::ExitStatus> {
    loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| Error::io(format!("waiting for {what}"), e))?
        {
            return Ok(status);
        }
        if crate::report::interrupt::requested() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::Interrupted);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// How `--compress` becomes pg_dump arguments. pg_dump 16 added lz4 and
/// zstd; pg_dump 15 and older know only gzip levels 0-9.
pub fn compress_args(method: &str, pg_dump: &Tool) -> Result<Vec<String>> {
    match (method, pg_dump.major >= 16) {
        ("none", true) | ("gzip", true) | ("lz4", true) | ("zstd", true) => Ok(vec![format!("--compress={method}")]),
        ("none", false) => Ok(vec!["--compress=0".into()]),
        ("gzip", false) => Ok(vec!["--compress=6".into()]),
        ("lz4" | "zstd", false) => Err(Error::Usage(format!(
            "--compress {method} needs pg_dump 16 or later; {} is version {} and supports gzip and none",
            pg_dump.path.display(),
            pg_dump.major
        ))),
        (other, _) => Err(Error::Usage(format!(
            "unknown --compress {other:?}: use zstd, lz4, gzip or none"
        ))),
    }
}

/// The best compression the found pg_dump offers.
pub fn default_compress(pg_dump: &Tool) -> &'static str {
    if pg_dump.major >= 16 { "zstd" } else { "gzip" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_lines() {
        assert_eq!(
            major_of_version_line("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"),
            Some(15)
        );
        assert_eq!(major_of_version_line("pg_restore (PostgreSQL) 9.6.24"), Some(9));
        assert_eq!(major_of_version_line("nonsense"), None);
    }

    #[test]
    fn compression_by_version() {
        let tool = |major| Tool {
            path: PathBuf::from("/x/pg_dump"),
            version: String::new(),
            major,
        };
        assert_eq!(compress_args("gzip", &tool(15)).unwrap(), vec!["--compress=6"]);
        assert_eq!(compress_args("none", &tool(15)).unwrap(), vec!["--compress=0"]);
        assert!(matches!(compress_args("zstd", &tool(15)), Err(Error::Usage(_))));
        assert_eq!(compress_args("zstd", &tool(16)).unwrap(), vec!["--compress=zstd"]);
        assert_eq!(default_compress(&tool(15)), "gzip");
        assert_eq!(default_compress(&tool(17)), "zstd");
    }
}
