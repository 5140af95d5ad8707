//! Shared test plumbing: a real PostgreSQL server from `godwit local`, and a
//! fresh database per test so tests can run in parallel.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use godwit::target::postgres::conn::ConnSpec;

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
    assert!(out.status.success(), "godwit local start: {}", String::from_utf8_lossy(&out.stderr));
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
    client.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\"")).unwrap();
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
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/sqlite").join(name);
    assert!(path.exists(), "test corpus file missing: {}", path.display());
    path
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}
