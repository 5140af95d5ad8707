//! Shared test plumbing: a real PostgreSQL server from `godwit local`, and a
//! fresh database per test so tests can run in parallel.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use godwit::postgres::conn::ConnSpec;

/// The test server: `GODWIT_TEST_URL` when set (make test sets it), else the
/// local cluster under `GODWIT_HOME` (default /tmp/godwit-test-home), started
/// on demand.
pub fn server() -> ConnSpec {
    if let Ok(url) = std::env::var("GODWIT_TEST_URL") {
        return ConnSpec::parse(&url).expect("GODWIT_TEST_URL");
    }
    let home = std::env::var("GODWIT_HOME").unwrap_or_else(|_| "/tmp/godwit-test-home".into());
    let out = Command::new(godwit_bin())
        .args(["local", "start"])
        .env("GODWIT_HOME", home)
        .output()
        .expect("run godwit local start");
    assert!(
        out.status.success(),
        "godwit local start: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    ConnSpec::parse(String::from_utf8_lossy(&out.stdout).trim()).unwrap()
}

/// Creates an empty database named after the test and returns its spec.
pub fn fresh_database(prefix: &str) -> ConnSpec {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let server = server();
    let name = format!(
        "t_{}_{}_{}",
        prefix.to_lowercase().replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let mut client = server.connect().expect("connect to test server");
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\""))
        .unwrap();
    client.batch_execute(&format!("CREATE DATABASE \"{name}\"")).unwrap();
    server.with_dbname(&name)
}

/// The built binary under test.
pub fn godwit_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_godwit"))
}

/// Runs godwit with args; returns the output (never panics on exit code).
pub fn godwit(args: &[&str]) -> Output {
    Command::new(godwit_bin())
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run godwit")
}

pub fn corpus(name: &str) -> PathBuf {
    // GODWIT_CORPUS points a checkout that does not sit next to shared/ (a git
    // worktree, say) at the corpus.
    let root = std::env::var_os("GODWIT_CORPUS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"),
        PathBuf::from,
    );
    let path = root.join("sqlite").join(name);
    assert!(path.exists(), "test corpus file missing: {}", path.display());
    path
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Writes a SQLite database from SQL into `dir` and returns its path.
pub fn sqlite_file(dir: &std::path::Path, name: &str, sql: &str) -> PathBuf {
    let path = dir.join(name);
    let conn = rusqlite::Connection::open(&path).expect("create sqlite file");
    // Like most apps, and like SQLite by default, fixtures do not enforce foreign keys.
    conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
    conn.execute_batch(sql).expect("fixture SQL");
    path
}

/// Runs `godwit copy SOURCE --to URL EXTRA...`.
pub fn copy(source: &std::path::Path, target: &ConnSpec, extra: &[&str]) -> Output {
    let url = target.to_string();
    let mut args = vec!["copy", source.to_str().unwrap(), "--to", url.as_str()];
    args.extend_from_slice(extra);
    godwit(&args)
}

/// Runs one query and returns every value as text (NULL as "NULL").
pub fn rows(target: &ConnSpec, sql: &str) -> Vec<Vec<String>> {
    let mut client = target.connect().unwrap();
    let wrapped = format!("WITH q AS ({sql}) SELECT to_jsonb(q)::text FROM q");
    client
        .query(&wrapped, &[])
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
        .iter()
        .map(|r| {
            let json: serde_json::Value = serde_json::from_str(&r.get::<_, String>(0)).unwrap();
            let obj = json.as_object().unwrap();
            // to_jsonb keeps column order only by name; callers alias columns a, b, c...
            let mut keys: Vec<&String> = obj.keys().collect();
            keys.sort();
            keys.iter()
                .map(|k| match &obj[*k] {
                    serde_json::Value::Null => "NULL".to_string(),
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect()
}

/// The single value of a one-row, one-column query, as text.
pub fn value(target: &ConnSpec, sql: &str) -> String {
    let r = rows(target, sql);
    assert_eq!(r.len(), 1, "{sql} returned {} rows", r.len());
    r[0][0].clone()
}

pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "expected exit {code}\nstdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
}

/// The cargo target directory, where tests keep the venvs they build.
pub fn target_dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target")
}

/// Runs a setup command; panics with its whole output when it fails.
pub fn run_setup(command: &mut Command, what: &str) {
    let out = command
        .output()
        .unwrap_or_else(|err| panic!("{what}: could not start it: {err}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
