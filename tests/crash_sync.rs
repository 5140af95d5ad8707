//! The crash harness for sync and cutover: killed at seeded random points
//! while the app keeps writing, the next round must bring the target to the
//! source's state (verify: 0 differences), so the recorded fingerprints
//! never claim a state the target does not hold. A cutover killed while it
//! holds SQLite's write lock releases it: the app's writers continue.

mod common;
mod crash_support;

use std::path::Path;
use std::time::Duration;

use common::*;
use crash_support as crash;
use godwit::postgres::conn::ConnSpec;
use rusqlite::{Connection, ErrorCode};

const POINTS: usize = 3;

fn app(dir: &Path) -> std::path::PathBuf {
    sqlite_file(
        dir,
        "app.db",
        "PRAGMA journal_mode = WAL;
         CREATE TABLE items (id INTEGER PRIMARY KEY, body TEXT NOT NULL, n REAL);
         WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 60000)
         INSERT INTO items SELECT i, printf('%.60c', 'x') || i, i * 0.5 FROM s;
         CREATE TABLE tags (item_id INTEGER NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (item_id, tag));
         WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 20000)
         INSERT INTO tags SELECT i, 't' || (i % 7) FROM s;",
    )
}

/// The app's writes between rounds: updates, inserts and deletes spread
/// over the key space, drawn from the seed.
fn app_writes(path: &Path, rng: &mut crash::Rng) {
    let conn = Connection::open(path).unwrap();
    conn.busy_timeout(Duration::from_secs(30)).unwrap();
    let tx = conn.unchecked_transaction().unwrap();
    for _ in 0..400 {
        let id = i64::try_from(1 + rng.below(60_000)).unwrap();
        match rng.below(4) {
            0 => tx.execute("DELETE FROM items WHERE id = ?1", [id]).map(|_| ()),
            1 => tx
                .execute("INSERT OR REPLACE INTO items VALUES (?1, 'replaced', 1.5)", [id])
                .map(|_| ()),
            2 => tx
                .execute("DELETE FROM tags WHERE item_id = ?1", [id % 20_000])
                .map(|_| ()),
            _ => tx.execute("UPDATE items SET n = n + 1 WHERE id = ?1", [id]).map(|_| ()),
        }
        .unwrap();
    }
    tx.commit().unwrap();
}

fn verify_equal(app: &Path, url: &str, what: &str) {
    let out = godwit(&["verify", app.to_str().unwrap(), "--to", url]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: verify finds differences:\n{}",
        stderr(&out)
    );
}

/// The app copied into a fresh database named `name`, then one quiet sync
/// round: it records the fingerprints later rounds start from (a first
/// round that must also find deletes is issue #18 section 0's).
fn copied_and_synced(name: &str) -> (tempfile::TempDir, std::path::PathBuf, ConnSpec) {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    let target = fresh_database(name);
    let url = target.to_string();
    assert_exit(&copy(&app, &target, &[]), 0);
    assert_exit(&godwit(&["sync", app.to_str().unwrap(), "--to", url.as_str(), "-q"]), 0);
    (dir, app, target)
}

#[test]
fn sync_killed_anywhere_then_the_next_round_reaches_the_source() {
    let seed = crash::seed("sync");
    let mut rng = crash::Rng::new(seed);
    let (_dir, app, target) = copied_and_synced("cs_sync");
    let url = target.to_string();
    let args = ["sync", app.to_str().unwrap(), "--to", url.as_str(), "-q"];
    app_writes(&app, &mut rng);
    let span = crash::timed_run(&godwit_bin(), &args);
    let mut tally = crash::Tally::new("sync");
    for point in 0..crash::points(POINTS) {
        app_writes(&app, &mut rng);
        let wait = Duration::from_millis(rng.below(u64::try_from(span.as_millis()).unwrap_or(1000) * 13 / 10 + 1));
        let mut child = crash::spawn(&godwit_bin(), &args, &[]);
        let strike = crash::kill_after(&mut child, wait);
        tally.tried += 1;
        tally.killed += usize::from(strike.finished.is_none());
        // The next round repairs whatever the kill interrupted.
        let out = godwit(&args);
        assert!(
            matches!(out.status.code(), Some(0 | 3)),
            "seed {seed} point {point}: {}",
            stderr(&out)
        );
        verify_equal(&app, &url, &format!("seed {seed} point {point} ({wait:?})"));
        // And the fingerprints it recorded are true: one more change, one more round, still equal.
        app_writes(&app, &mut rng);
        let out = godwit(&args);
        assert!(
            matches!(out.status.code(), Some(0 | 3)),
            "seed {seed} point {point}: {}",
            stderr(&out)
        );
        verify_equal(&app, &url, &format!("seed {seed} point {point}, the round after"));
        tally.consistent += 1;
        tally.reruns_completed += 1;
    }
    tally.print();
}

/// Whether the app could take SQLite's write lock right now.
fn write_lock_free(app: &Path) -> bool {
    let conn = Connection::open(app).unwrap();
    conn.busy_timeout(Duration::ZERO).unwrap();
    match conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK") {
        Ok(()) => true,
        Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == ErrorCode::DatabaseBusy => false,
        Err(e) => panic!("probing the write lock: {e}"),
    }
}

#[test]
fn a_cutover_killed_while_holding_the_write_lock_lets_the_app_write_again() {
    let seed = crash::seed("cutover-lock");
    let mut rng = crash::Rng::new(seed);
    let (_dir, app, target) = copied_and_synced("cs_cutover_lock");
    let url = target.to_string();
    let args = ["cutover", app.to_str().unwrap(), "--to", url.as_str(), "-q"];
    let mut caught = false;
    for _attempt in 0..20 {
        app_writes(&app, &mut rng);
        let mut child = crash::spawn(&godwit_bin(), &args, &[]);
        // Probe until the cutover holds the writers, then SIGKILL it there.
        let held = loop {
            if child.try_wait().unwrap().is_some() {
                break false;
            }
            if !write_lock_free(&app) {
                break true;
            }
        };
        if !held {
            continue;
        }
        let strike = crash::kill_after(&mut child, Duration::ZERO);
        if strike.finished.is_some() {
            continue;
        }
        caught = true;
        // The OS dropped the lock with the process: the app writes at once
        // (a generous busy timeout only so a slow machine is not a failure).
        let conn = Connection::open(&app).unwrap();
        conn.busy_timeout(Duration::from_secs(30)).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE; INSERT INTO items VALUES (999999, 'after the kill', 0); COMMIT")
            .expect("the app cannot write after the cutover was killed");
        drop(conn);
        // A rerun completes and the target equals the source.
        let out = godwit(&args);
        assert_exit(&out, 0);
        verify_equal(&app, &url, "after the rerun");
        break;
    }
    assert!(
        caught,
        "seed {seed}: never caught the cutover holding the lock in 20 tries"
    );
}

#[test]
fn cutover_killed_anywhere_then_a_rerun_completes() {
    let seed = crash::seed("cutover");
    let mut rng = crash::Rng::new(seed);
    let (_dir, app, target) = copied_and_synced("cs_cutover");
    let url = target.to_string();
    let args = ["cutover", app.to_str().unwrap(), "--to", url.as_str(), "-q"];
    app_writes(&app, &mut rng);
    let span = crash::timed_run(&godwit_bin(), &args);
    let mut tally = crash::Tally::new("cutover");
    for point in 0..crash::points(POINTS) {
        app_writes(&app, &mut rng);
        let wait = Duration::from_millis(rng.below(u64::try_from(span.as_millis()).unwrap_or(1000) * 13 / 10 + 1));
        let mut child = crash::spawn(&godwit_bin(), &args, &[]);
        let strike = crash::kill_after(&mut child, wait);
        tally.tried += 1;
        tally.killed += usize::from(strike.finished.is_none());
        assert!(
            write_lock_free(&app),
            "seed {seed} point {point}: the write lock is still held"
        );
        tally.consistent += 1;
        let out = godwit(&args);
        assert_exit(&out, 0);
        verify_equal(&app, &url, &format!("seed {seed} point {point} ({wait:?})"));
        tally.reruns_completed += 1;
    }
    tally.print();
}
