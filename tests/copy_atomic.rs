//! Nothing half-done: a copy killed or interrupted mid-way leaves the
//! target as it was, and the next run cleans up and succeeds.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;

/// A source large enough that the copy is still running when we strike.
fn big_source(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("big.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
         CREATE TABLE items (id INTEGER PRIMARY KEY, body TEXT NOT NULL, n REAL);
         WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < 600000)
         INSERT INTO items SELECT i, printf('%.200c', 'x') || i, i * 0.5 FROM seq;
         CREATE TABLE small (id INTEGER PRIMARY KEY);
         INSERT INTO small VALUES (1), (2);",
    )
    .unwrap();
    path
}

/// Starts a copy and waits until it is moving data.
fn start_copy(source: &std::path::Path, target: &godwit::postgres::conn::ConnSpec) -> std::process::Child {
    let mut child = Command::new(godwit_bin())
        .args([
            "copy",
            source.to_str().unwrap(),
            "--to",
            &target.to_string(),
            "--jobs",
            "2",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    for line in lines.by_ref() {
        if line.unwrap().contains("copying data") {
            break;
        }
    }
    // Let some COPY data reach the server before striking.
    std::thread::sleep(std::time::Duration::from_millis(300));
    std::thread::spawn(move || for _ in lines {});
    child
}

fn public_tables(target: &godwit::postgres::conn::ConnSpec) -> String {
    value(
        target,
        "SELECT count(*) AS a FROM pg_tables WHERE schemaname = 'public'",
    )
}

fn staging_schemas(target: &godwit::postgres::conn::ConnSpec) -> String {
    value(
        target,
        "SELECT count(*) AS a FROM pg_namespace WHERE nspname LIKE 'godwit_staging_%'",
    )
}

#[test]
fn killed_copy_leaves_the_target_unchanged_and_a_rerun_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let source = big_source(dir.path());
    let target = fresh_database("killed");
    let mut child = start_copy(&source, &target);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        public_tables(&target),
        "0",
        "a killed copy must not leave tables in the target"
    );
    let rerun = copy(&source, &target, &[]);
    assert_exit(&rerun, 0);
    assert!(
        stderr(&rerun).contains("removed staging left by an interrupted run"),
        "{}",
        stderr(&rerun)
    );
    assert_eq!(staging_schemas(&target), "0");
    assert_eq!(value(&target, "SELECT count(*) AS a FROM items"), "600000");
}

#[test]
fn interrupted_copy_exits_1_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let source = big_source(dir.path());
    let target = fresh_database("interrupted");
    let child = start_copy(&source, &target);
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "Ctrl-C must not exit 0");
    assert_eq!(public_tables(&target), "0");
    assert_eq!(
        staging_schemas(&target),
        "0",
        "an interrupted copy removes its own staging"
    );
}
