//! A sync round whose server restarts under it (fast shutdown, then
//! start) runs again and finishes; when the server stays away, sync exits
//! 1 saying what state the target is in and what to run next.
//!
//! Each test runs its own cluster: restarting the shared test server would
//! break the tests running beside it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use godwit::postgres::conn::ConnSpec;
use rusqlite::Connection;

/// A cluster of the test's own, stopped when the test ends.
struct OwnCluster {
    home: tempfile::TempDir,
}

impl OwnCluster {
    fn start() -> OwnCluster {
        let home = tempfile::tempdir().unwrap();
        let cluster = OwnCluster { home };
        cluster.local("start");
        cluster
    }

    fn local(&self, action: &str) -> Output {
        let out = Command::new(godwit_bin())
            .args(["local", action])
            .env("GODWIT_HOME", self.home.path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_exit(&out, 0);
        out
    }

    fn server(&self) -> ConnSpec {
        ConnSpec::parse(stdout(&self.local("url")).trim()).unwrap()
    }

    fn database(&self, name: &str) -> ConnSpec {
        let server = self.server();
        server
            .connect()
            .unwrap()
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        server.with_dbname(name)
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = Command::new(godwit_bin())
            .args(["local", "stop"])
            .env("GODWIT_HOME", self.home.path())
            .output();
    }
}

/// An app with 20,000 items, copied and synced once, then changed.
fn changed_copy(dir: &Path, cluster: &OwnCluster) -> (PathBuf, ConnSpec) {
    let app = sqlite_file(
        dir,
        "app.db",
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
         INSERT INTO items SELECT i, 'item ' || i FROM n;",
    );
    let target = cluster.database("app");
    assert_exit(&copy(&app, &target, &[]), 0);
    assert_exit(&sync(&app, &target, &[]), 0);
    Connection::open(&app)
        .unwrap()
        .execute_batch(
            "UPDATE items SET name = 'renamed' WHERE id % 100 = 0;
             DELETE FROM items WHERE id % 333 = 0;
             INSERT INTO items VALUES (50000, 'new');",
        )
        .unwrap();
    (app, target)
}

fn sync_command(app: &Path, target: &ConnSpec, extra: &[&str]) -> Command {
    let mut command = Command::new(godwit_bin());
    command
        .args(["sync", app.to_str().unwrap(), "--to", &target.to_string(), "--json"])
        .args(extra)
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn sync(app: &Path, target: &ConnSpec, extra: &[&str]) -> Output {
    sync_command(app, target, extra).output().unwrap()
}

/// Holds an exclusive lock on `items` until the server goes down, and
/// waits until the round queues behind it: the restart then lands in the
/// middle of the round, however loaded the machine is.
fn hold_the_round(target: &ConnSpec) -> postgres::Client {
    let mut holder = target.connect().unwrap();
    holder
        .batch_execute("BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    holder
}

fn wait_for_the_round_to_queue(target: &ConnSpec) {
    let mut watcher = target.connect().unwrap();
    let started = Instant::now();
    loop {
        let waiting: i64 = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE application_name LIKE 'godwit sync%' AND wait_event_type = 'Lock'",
                &[],
            )
            .unwrap()
            .get(0);
        if waiting > 0 {
            return;
        }
        // A guard against a hang, not a measure: the round reaches the lock in well under a second.
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the round never reached the lock"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn counts(out: &Output) -> (u64, u64, u64) {
    let summary: serde_json::Value = serde_json::from_str(stdout(out).trim()).unwrap();
    (
        summary["inserted"].as_u64().unwrap(),
        summary["updated"].as_u64().unwrap(),
        summary["deleted"].as_u64().unwrap(),
    )
}

fn settled(app: &Path, target: &ConnSpec) {
    let url = target.to_string();
    assert_exit(&godwit(&["verify", app.to_str().unwrap(), "--to", &url]), 0);
    let again = sync(app, target, &[]);
    assert_exit(&again, 0);
    assert_eq!(counts(&again), (0, 0, 0), "{}", stdout(&again));
}

#[test]
fn a_round_whose_server_restarts_runs_again_and_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = OwnCluster::start();
    let (app, target) = changed_copy(dir.path(), &cluster);
    let holder = hold_the_round(&target);
    let round = sync_command(&app, &target, &["--connect-timeout", "2min"])
        .spawn()
        .unwrap();
    wait_for_the_round_to_queue(&target);
    // pg_ctl restart -m fast: every session ends with 57P01.
    cluster.local("stop");
    drop(holder);
    cluster.local("start");
    let out = round.wait_with_output().unwrap();
    assert_exit(&out, 0);
    let summary: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert!(summary["retried"].as_u64().unwrap() >= 1, "{summary}");
    assert_eq!(counts(&out), (1, 200, 60), "{}", stdout(&out));
    settled(&app, &target);
}

#[test]
fn a_round_whose_server_stays_down_says_what_the_target_holds_and_what_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = OwnCluster::start();
    let (app, target) = changed_copy(dir.path(), &cluster);
    let holder = hold_the_round(&target);
    let round = sync_command(&app, &target, &["--connect-timeout", "1s"])
        .spawn()
        .unwrap();
    wait_for_the_round_to_queue(&target);
    cluster.local("stop");
    drop(holder);
    let out = round.wait_with_output().unwrap();
    assert_exit(&out, 1);
    let message = stderr(&out);
    assert!(
        message.contains("lost the connection to PostgreSQL during the sync round"),
        "{message}"
    );
    assert!(message.contains("at the previous round's snapshot"), "{message}");
    assert!(
        message.contains(&format!("next: run `godwit sync {}", app.display())),
        "{message}"
    );
    assert!(!message.contains("panicked"), "{message}");

    // The server is back: the next round brings everything.
    cluster.local("start");
    let again = sync(&app, &target, &[]);
    assert_exit(&again, 0);
    assert_eq!(counts(&again), (1, 200, 60), "{}", stdout(&again));
    settled(&app, &target);
}
