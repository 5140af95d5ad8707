//! Running the real `pg_dump` and `pg_restore`: finding the binaries whose
//! major version matches the server's, and handing them the connection
//! through libpq's environment and a private passfile, never through argv.

use std::io::Write;
use std::os::unix::process::CommandExt;
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

    /// Makes the program's server sessions check every second that their
    /// client is still there (PostgreSQL 14+), so that those of a killed
    /// pg_dump or pg_restore end even while waiting on a lock or building
    /// an index, instead of when that finishes.
    pub fn check_client_connection(&mut self, server_major: u32) {
        if server_major < 14 {
            return;
        }
        let setting = "-c client_connection_check_interval=1000";
        match self.vars.iter_mut().find(|(name, _)| *name == "PGOPTIONS") {
            Some((_, options)) => {
                options.push(' ');
                options.push_str(setting);
            }
            None => self.vars.push(("PGOPTIONS", setting.to_string())),
        }
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

/// The supervisor a client program runs under, as `sh -c SUPERVISOR
/// godwit-supervisor PROGRAM ARGS...`, in a process group of its own.
///
/// godwit holds the only write end of the supervisor's stdin and never
/// writes to it. The watcher reads it until end of file, which comes when
/// godwit exits or dies, even by SIGKILL (the kernel closes its files):
/// then it signals the whole group, so pg_dump or pg_restore and their
/// parallel workers never outlive godwit. At a normal end the program has
/// exited first and the supervisor stops the watcher.
/// A shell script rather than `pre_exec`/`prctl(PR_SET_PDEATHSIG)`: no
/// unsafe code, and it covers the program's own worker processes too.
const SUPERVISOR: &str = r#"exec 3<&0 0</dev/null
"$@" 3<&- &
child=$!
{
  trap '' TERM
  while read -r _ <&3; do :; done
  kill -TERM 0
  sleep 3
  kill -KILL 0
} >/dev/null 2>&1 &
watcher=$!
exec 3<&-
wait "$child"
status=$?
kill -KILL "$watcher" 2>/dev/null
exit "$status"
"#;

/// Runs a client program to the end under [`SUPERVISOR`], polling for
/// Ctrl-C / SIGTERM so that an interrupted run stops its child too. Fails
/// with the program's own error lines.
pub fn run(command: Command, what: &str) -> Result<()> {
    run_watching(command, what, &|_| {})
}

/// [`run`], handing each line the program writes on stderr to `on_line` as
/// it comes: with `--verbose`, pg_dump and pg_restore name each table.
pub fn run_watching(command: Command, what: &str, on_line: &(dyn Fn(&str) + Sync)) -> Result<()> {
    let mut supervised = Command::new("sh");
    supervised
        .arg("-c")
        .arg(SUPERVISOR)
        .arg("godwit-supervisor")
        .arg(command.get_program())
        .args(command.get_args());
    for (name, value) in command.get_envs() {
        match value {
            Some(value) => supervised.env(name, value),
            None => supervised.env_remove(name),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        supervised.current_dir(dir);
    }
    supervised
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        // Its own group: the watcher signals exactly the program and its workers.
        .process_group(0);
    let mut child = supervised
        .spawn()
        .map_err(|e| Error::io(format!("starting {what}"), e))?;
    // Held, never written, until the child has ended: its closing is the signal.
    let lifeline = child.stdin.take();
    let stderr = child.stderr.take();
    std::thread::scope(|scope| {
        // Read stderr on a thread so a chatty child never blocks on a full pipe.
        let reader = scope.spawn(move || {
            let mut errors: Vec<String> = Vec::new();
            if let Some(pipe) = stderr {
                for line in std::io::BufRead::lines(std::io::BufReader::new(pipe)).map_while(|l| l.ok()) {
                    on_line(&line);
                    if !is_verbose_chatter(&line, what) {
                        errors.push(line);
                    }
                }
            }
            errors
        });
        let status = wait_interruptibly(&mut child, lifeline, what);
        let errors = reader.join().unwrap_or_default();
        let status = status?;
        if !status.success() {
            let tail = &errors[errors.len().saturating_sub(20)..];
            let cause = match crate::error::server_condition_in_text(tail) {
                Some(words) => format!(": {words}"),
                None => String::new(),
            };
            return Err(Error::Backup(format!(
                "{what} failed ({status}){cause}:\n{}",
                tail.join("\n")
            )));
        }
        Ok(())
    })
}

/// `pg_dump: dumping contents of table ...`: what --verbose says along the
/// way, as opposed to its `error:`, `warning:`, `detail:` and `hint:` lines.
fn is_verbose_chatter(line: &str, what: &str) -> bool {
    match line.strip_prefix(what).and_then(|rest| rest.strip_prefix(": ")) {
        Some(message) => !["error:", "warning:", "detail:", "hint:", "fatal:"]
            .iter()
            .any(|level| message.to_lowercase().starts_with(level)),
        None => false,
    }
}

/// The table a `--verbose` line says is being dumped or restored, if any.
pub fn table_of_verbose_line(line: &str) -> Option<&str> {
    let rest = line
        .split_once("dumping contents of table ")
        .or_else(|| line.split_once("processing data for table "))?
        .1;
    Some(rest.trim().trim_matches('"'))
}

fn wait_interruptibly(
    child: &mut Child,
    lifeline: Option<std::process::ChildStdin>,
    what: &str,
) -> Result<std::process::ExitStatus> {
    loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| Error::io(format!("waiting for {what}"), e))?
        {
            drop(lifeline);
            return Ok(status);
        }
        if crate::report::interrupt::requested() {
            // Closing the lifeline makes the supervisor stop the whole group.
            drop(lifeline);
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
    fn verbose_lines_name_tables_and_errors_are_kept() {
        assert_eq!(
            table_of_verbose_line("pg_dump: dumping contents of table \"public.users\""),
            Some("public.users")
        );
        assert_eq!(
            table_of_verbose_line("pg_restore: processing data for table \"public.posts\""),
            Some("public.posts")
        );
        assert_eq!(table_of_verbose_line("pg_dump: reading schemas"), None);
        assert!(is_verbose_chatter("pg_dump: reading schemas", "pg_dump"));
        assert!(!is_verbose_chatter("pg_dump: error: query failed", "pg_dump"));
        assert!(!is_verbose_chatter(
            "pg_restore: error: could not execute query",
            "pg_dump"
        ));
        assert!(!is_verbose_chatter("Command was: CREATE TABLE x", "pg_restore"));
    }

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
