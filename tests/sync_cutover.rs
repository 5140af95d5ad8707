//! `godwit sync` and `godwit cutover` against a real server: every change
//! kind, the reused rowid, keyless tables, data-only targets, a live writer
//! during rounds and during the cutover, and a failed round that leaves the
//! target at the previous snapshot.

mod common;
mod sync_support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use common::*;
use godwit::postgres::conn::ConnSpec;
use rusqlite::Connection;
use sync_support::*;

const APP: &str = "
PRAGMA journal_mode = WAL;
CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, active BOOLEAN NOT NULL DEFAULT 1, seen DATETIME);
CREATE TABLE posts (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id INTEGER NOT NULL REFERENCES users (id), body TEXT, score NUMERIC(10,2));
CREATE TABLE follows (follower INTEGER NOT NULL, followed INTEGER NOT NULL, since TEXT, PRIMARY KEY (follower, followed));
CREATE TABLE audit (event TEXT, at TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
INSERT INTO users SELECT i, 'user ' || i, i % 2, '2024-01-01 00:00:00' FROM n;
INSERT INTO posts (user_id, body, score) SELECT id, 'post by ' || name, id * 1.5 FROM users;
INSERT INTO follows SELECT id, (id % 300) + 1, 'x' FROM users;
INSERT INTO audit VALUES ('start', 'a'), ('start', 'a'), ('stop', 'b');
";

/// A fresh target copied from `app` and synced once, so its fingerprints
/// are recorded; with its URL.
fn synced_copy(app: &Path, name: &str) -> (ConnSpec, String) {
    let target = fresh_database(name);
    let url = target.to_string();
    assert_exit(&copy(app, &target, &[]), 0);
    sync_json(app, &url);
    (target, url)
}

#[test]
fn each_change_kind_reaches_the_target_and_a_quiet_round_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let app = sqlite_file(dir.path(), "app.db", APP);
    let target = fresh_database("sync_kinds");
    let url = target.to_string();
    assert_exit(&copy(&app, &target, &[]), 0);
    // The first round compares everything and records the fingerprints.
    let first = sync_json(&app, &url);
    assert_eq!(
        first["inserted"].as_u64().unwrap() + first["updated"].as_u64().unwrap(),
        0
    );

    let db = Connection::open(&app).unwrap();
    db.execute_batch(
        "UPDATE users SET name = 'renamed' WHERE id = 7;
         INSERT INTO posts (user_id, body, score) VALUES (3, 'fresh', 2.25);
         DELETE FROM posts WHERE id = 10;
         -- the reused rowid: the largest id goes, a new row takes it
         DELETE FROM posts WHERE user_id = 300;
         DELETE FROM users WHERE id = 300;
         INSERT INTO users (name, active) VALUES ('newcomer', 0);
         -- composite key: an update, an insert, a delete
         UPDATE follows SET since = 'y' WHERE follower = 5;
         INSERT INTO follows VALUES (5, 9, 'z');
         DELETE FROM follows WHERE follower = 6;
         -- keyless: one of two equal rows goes, a new row comes
         DELETE FROM audit WHERE rowid = 1;
         INSERT INTO audit VALUES ('again', 'c');",
    )
    .unwrap();
    assert_eq!(
        db.query_row("SELECT id FROM users WHERE name = 'newcomer'", [], |r| r
            .get::<_, i64>(0))
            .unwrap(),
        300
    );
    let round = sync_json(&app, &url);
    assert_eq!(counts(&round, "users"), (0, 2, 0));
    assert_eq!(counts(&round, "posts"), (1, 0, 2));
    assert_eq!(counts(&round, "follows"), (1, 1, 1));
    assert_eq!(counts(&round, "audit"), (1, 0, 1));
    assert!(round["ranges_read"].as_u64().unwrap() < round["ranges"].as_u64().unwrap() / 4);
    verify_ok(&app, &url);
    assert_eq!(value(&target, "SELECT name AS a FROM users WHERE id = 300"), "newcomer");
    assert_eq!(
        value(&target, "SELECT count(*) AS a FROM audit WHERE event = 'start'"),
        "1"
    );
    // The sequence moved past the new maximum: the app can insert on PostgreSQL.
    assert_eq!(
        value(&target, "INSERT INTO posts (user_id) VALUES (1) RETURNING id AS a"),
        "302"
    );
    target
        .connect()
        .unwrap()
        .batch_execute("DELETE FROM posts WHERE id = 302")
        .unwrap();

    // Nothing changed: nothing is written, not even the fingerprints.
    let before = value(&target, "SELECT max(synced_at)::text AS a FROM godwit.sync_tables");
    let quiet = sync_json(&app, &url);
    assert_eq!(quiet["wrote"], false, "{quiet}");
    assert_eq!(quiet["ranges_read"], 0, "{quiet}");
    assert_eq!(
        value(&target, "SELECT max(synced_at)::text AS a FROM godwit.sync_tables"),
        before
    );
}

#[test]
fn a_data_only_target_is_synced_through_the_same_casts() {
    let dir = tempfile::tempdir().unwrap();
    let app = sqlite_file(
        dir.path(),
        "app.db",
        "CREATE TABLE events (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, done INTEGER NOT NULL, tag TEXT);
         INSERT INTO events VALUES (1, 1704164645123, 1, 'a'), (2, 1704164646000, 0, NULL);",
    );
    let target = fresh_database("sync_data_only");
    let url = target.to_string();
    // The framework's schema: timestamps and booleans where SQLite had integers.
    target
        .connect()
        .unwrap()
        .batch_execute(
            "CREATE TABLE events (id bigserial PRIMARY KEY, at timestamptz NOT NULL, done boolean NOT NULL, tag varchar(10))",
        )
        .unwrap();
    assert_exit(&copy(&app, &target, &["--data-only"]), 0);
    sync_json(&app, &url);
    app_writes(
        &app,
        "UPDATE events SET done = 1 WHERE id = 2; INSERT INTO events VALUES (3, 1704164647500, 0, 'c');",
    );
    let round = sync_json(&app, &url);
    assert_eq!(counts(&round, "events"), (1, 1, 0));
    assert_eq!(
        value(
            &target,
            "SELECT (at AT TIME ZONE 'UTC')::text || ' ' || done AS a FROM events WHERE id = 3"
        ),
        "2024-01-02 03:04:07.5 false"
    );
    verify_ok(&app, &url);
}

/// Moves money between two accounts in one transaction per step, and adds
/// a row per step: every snapshot has the same total and no gap in steps.
fn writer(path: &Path, stop: Arc<AtomicBool>, steps: Arc<AtomicI64>) -> std::thread::JoinHandle<()> {
    let path = path.to_path_buf();
    std::thread::spawn(move || {
        let db = Connection::open(&path).unwrap();
        // Writers wait for the cutover's hold instead of failing.
        db.busy_timeout(std::time::Duration::from_secs(60)).unwrap();
        let mut step = 0i64;
        while !stop.load(Ordering::Relaxed) {
            step += 1;
            db.execute_batch(&format!(
                "BEGIN IMMEDIATE;
                 UPDATE accounts SET balance = balance - 1 WHERE id = 1;
                 UPDATE accounts SET balance = balance + 1 WHERE id = 2;
                 INSERT INTO steps (id, note) VALUES ({step}, 'step {step}');
                 DELETE FROM steps WHERE id = {step} - 50;
                 COMMIT;"
            ))
            .unwrap_or_else(|e| panic!("the app's write {step} failed: {e}"));
            steps.store(step, Ordering::Relaxed);
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    })
}

const LEDGER: &str = "
PRAGMA journal_mode = WAL;
CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);
CREATE TABLE steps (id INTEGER PRIMARY KEY, note TEXT);
INSERT INTO accounts VALUES (1, 1000000), (2, 1000000);
";

#[test]
fn rounds_during_live_writes_each_land_on_one_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let app = sqlite_file(dir.path(), "ledger.db", LEDGER);
    let target = fresh_database("sync_live");
    let url = target.to_string();
    assert_exit(&copy(&app, &target, &[]), 0);
    let stop = Arc::new(AtomicBool::new(false));
    let steps = Arc::new(AtomicI64::new(0));
    let handle = writer(&app, stop.clone(), steps.clone());
    for _ in 0..4 {
        let out = godwit(&["sync", app.to_str().unwrap(), "--to", &url, "-q"]);
        assert_exit(&out, 0);
        // A snapshot: the transfer is whole, and the steps kept are the last 50 up to one step.
        assert_eq!(
            value(&target, "SELECT sum(balance)::text AS a FROM accounts"),
            "2000000"
        );
        let (lo, hi, n): (i64, i64, i64) = {
            let r = rows(
                &target,
                "SELECT coalesce(min(id), 0) AS a, coalesce(max(id), 0) AS b, count(*) AS c FROM steps",
            );
            (
                r[0][0].parse().unwrap(),
                r[0][1].parse().unwrap(),
                r[0][2].parse().unwrap(),
            )
        };
        assert_eq!(n, if hi == 0 { 0 } else { hi - lo + 1 }, "steps {lo}..{hi}: {n} rows");
        assert_eq!(
            value(
                &target,
                "SELECT (1000000 - balance)::text AS a FROM accounts WHERE id = 1"
            ),
            hi.to_string()
        );
    }
    stop.store(true, Ordering::Relaxed);
    handle.join().unwrap();
    let out = godwit(&["sync", app.to_str().unwrap(), "--to", &url, "-q"]);
    assert_exit(&out, 0);
    verify_ok(&app, &url);
    assert!(steps.load(Ordering::Relaxed) > 0);
}

#[test]
fn cutover_holds_the_writers_and_everything_before_the_pause_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let app = sqlite_file(dir.path(), "ledger.db", LEDGER);
    let target = fresh_database("sync_cutover");
    let url = target.to_string();
    assert_exit(&copy(&app, &target, &[]), 0);
    let stop = Arc::new(AtomicBool::new(false));
    let steps = Arc::new(AtomicI64::new(0));
    let handle = writer(&app, stop.clone(), steps.clone());
    std::thread::sleep(std::time::Duration::from_millis(200));
    let out = godwit(&["cutover", app.to_str().unwrap(), "--to", &url, "--json"]);
    // The app is switched now: its later writes to SQLite are not copied.
    let after_cutover = steps.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    // The writer never failed: it waited while the source was held.
    handle.join().unwrap();
    assert_exit(&out, 0);
    let summary: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(summary["differences"], 0, "{summary}");
    assert!(summary["source_paused_s"].as_f64().unwrap() > 0.0);
    assert!(
        summary["next_steps"][0]
            .as_str()
            .unwrap()
            .contains("point the app at PostgreSQL")
    );
    // PostgreSQL holds one snapshot taken during the pause: a prefix of the
    // app's steps, which includes every step committed before the cutover returned
    // minus those made after the pause ended.
    let synced: i64 = value(
        &target,
        "SELECT (1000000 - balance)::text AS a FROM accounts WHERE id = 1",
    )
    .parse()
    .unwrap();
    assert_eq!(
        value(&target, "SELECT sum(balance)::text AS a FROM accounts"),
        "2000000"
    );
    assert_eq!(
        value(&target, "SELECT coalesce(max(id), 0)::text AS a FROM steps"),
        synced.to_string()
    );
    assert!(
        synced > 0 && synced <= after_cutover,
        "synced {synced}, app at {after_cutover}"
    );
    // verify shows the writes after the pause as missing rows, nothing else.
    let out = godwit(&["verify", app.to_str().unwrap(), "--to", &url, "--json"]);
    let total = steps.load(Ordering::Relaxed);
    if total == synced {
        assert_exit(&out, 0);
    } else {
        assert_exit(&out, 4);
        let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        let text = report.to_string();
        assert!(text.contains("steps"), "{text}");
    }
}

#[test]
fn a_failed_round_leaves_the_target_at_the_previous_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let app = sqlite_file(dir.path(), "app.db", APP);
    let (target, url) = synced_copy(&app, "sync_failed");
    // The target refuses one of the round's rows (applied after users).
    let mut pg = target.connect().unwrap();
    pg.batch_execute("ALTER TABLE posts ADD CONSTRAINT no_spam CHECK (body <> 'spam')")
        .unwrap();
    app_writes(
        &app,
        "UPDATE users SET name = 'changed' WHERE id = 1; INSERT INTO posts (user_id, body) VALUES (1, 'spam');",
    );
    let out = godwit(&["sync", app.to_str().unwrap(), "--to", &url]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("no_spam"), "{}", stderr(&out));
    assert_eq!(value(&target, "SELECT name AS a FROM users WHERE id = 1"), "user 1");
    // Nothing of the failed round was recorded: the next one applies it all.
    pg.batch_execute("ALTER TABLE posts DROP CONSTRAINT no_spam").unwrap();
    let round = sync_json(&app, &url);
    assert_eq!(counts(&round, "users"), (0, 1, 0));
    assert_eq!(counts(&round, "posts"), (1, 0, 0));
    verify_ok(&app, &url);
}

#[test]
fn epoch_numbers_in_a_datetime_column_keep_the_copy_s_unit() {
    let dir = tempfile::tempdir().unwrap();
    let app = sqlite_file(
        dir.path(),
        "app.db",
        "CREATE TABLE visits (id INTEGER PRIMARY KEY, at DATETIME NOT NULL);
         INSERT INTO visits VALUES (1, 1704164645123), (2, 1704164646000);",
    );
    let (target, url) = synced_copy(&app, "sync_epoch");
    app_writes(
        &app,
        "INSERT INTO visits VALUES (3, 1704164647250); UPDATE visits SET at = at + 1 WHERE id = 1;",
    );
    let round = sync_json(&app, &url);
    assert_eq!(counts(&round, "visits"), (1, 1, 0));
    assert_eq!(
        value(
            &target,
            "SELECT (at AT TIME ZONE 'UTC')::text AS a FROM visits WHERE id = 3"
        ),
        "2024-01-02 03:04:07.25"
    );
    verify_ok(&app, &url);
}

const PROJECTS: &str = "
PRAGMA foreign_keys = ON;
CREATE TABLE projects (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE tasks (id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE, title TEXT);
INSERT INTO projects VALUES (1, 'alpha'), (2, 'beta'), (3, 'gamma');
INSERT INTO tasks VALUES (1, 1, 'moves'), (2, 1, 'goes with alpha'), (3, 2, 'stays'), (4, 3, 'stays too');
";

/// The app moves a task to another project and deletes the old project in
/// one go; a deleted project's name is taken by a new one. With the
/// target's ON DELETE CASCADE, deleting the old project before moving the
/// task would take the task with it.
#[test]
fn moved_children_survive_their_old_parent_and_freed_unique_values_are_reused() {
    let dir = tempfile::tempdir().unwrap();
    let app = sqlite_file(dir.path(), "projects.db", PROJECTS);
    let (target, url) = synced_copy(&app, "sync_moves");
    let db = Connection::open(&app).unwrap();
    db.execute_batch("PRAGMA foreign_keys = ON").unwrap();

    // A child moves to a new parent; its old parent (and its other child) go.
    db.execute_batch(
        "INSERT INTO projects VALUES (4, 'delta');
         UPDATE tasks SET project_id = 4 WHERE id = 1;
         DELETE FROM projects WHERE id = 1;",
    )
    .unwrap();
    let round = sync_json(&app, &url);
    assert_eq!(counts(&round, "projects"), (1, 0, 1));
    assert_eq!(counts(&round, "tasks"), (0, 1, 1));
    assert_eq!(
        value(&target, "SELECT project_id::text AS a FROM tasks WHERE id = 1"),
        "4"
    );
    verify_ok(&app, &url);

    // A deleted row's unique name is taken by a new row, and a child moves
    // off the deleted row: the round is read again keeping its rows and
    // written updates first.
    db.execute_batch(
        "UPDATE tasks SET project_id = 3 WHERE id = 3;
         DELETE FROM projects WHERE id = 2;
         INSERT INTO projects VALUES (5, 'beta');",
    )
    .unwrap();
    let out = godwit(&["sync", app.to_str().unwrap(), "--to", &url]);
    assert_exit(&out, 0);
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(said.contains("the round runs again"), "{said}");
    assert!(said.contains("sync: 1 inserted, 1 updated, 1 deleted"), "{said}");
    assert_eq!(
        value(&target, "SELECT id::text AS a FROM projects WHERE name = 'beta'"),
        "5"
    );
    assert_eq!(
        value(&target, "SELECT project_id::text AS a FROM tasks WHERE id = 3"),
        "3"
    );
    verify_ok(&app, &url);

    // An update takes a freed name: deletes first.
    db.execute_batch("DELETE FROM projects WHERE id = 5; UPDATE projects SET name = 'beta' WHERE id = 4;")
        .unwrap();
    let round = sync_json(&app, &url);
    assert_eq!(counts(&round, "projects"), (0, 1, 1));
    verify_ok(&app, &url);
}

/// Enough changed rows that the large table's changes reach the round's
/// transaction in several parts while it is still being read.
#[test]
fn a_large_table_is_written_in_parts_while_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let app = sqlite_file(
        dir.path(),
        "big.db",
        "CREATE TABLE owners (id INTEGER PRIMARY KEY, name TEXT);
         CREATE TABLE items (id INTEGER PRIMARY KEY, owner_id INTEGER REFERENCES owners (id), n INTEGER);
         WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 100)
         INSERT INTO owners SELECT i, 'owner ' || i FROM k;
         WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 60000)
         INSERT INTO items SELECT i, 1 + i % 100, i FROM k;",
    );
    let (target, url) = synced_copy(&app, "sync_parts");
    app_writes(
        &app,
        "INSERT INTO owners VALUES (101, 'new owner');
             UPDATE items SET n = -n WHERE id % 2 = 0;
             UPDATE items SET owner_id = 101 WHERE id % 10 = 5;
             DELETE FROM items WHERE id % 7 = 0 AND id % 2 = 1;
             WITH RECURSIVE k(i) AS (SELECT 60001 UNION ALL SELECT i + 1 FROM k WHERE i < 61000)
             INSERT INTO items SELECT i, 101, i FROM k;",
    );
    let round = sync_json(&app, &url);
    assert_eq!(counts(&round, "owners"), (1, 0, 0));
    // 30,000 updates keep their owner (written as found), 5,143 move to the
    // new owner (written once it is in).
    assert_eq!(counts(&round, "items"), (1000, 35143, 4286));
    assert_eq!(
        value(&target, "SELECT count(*)::text AS a FROM items WHERE owner_id = 101"),
        "6143"
    );
    verify_ok(&app, &url);
}

/// Threads: a comment's parent is another comment. The app adds a reply
/// and re-parents an old comment under it; a new comment answers another
/// new one with a higher id; in a table large enough to be written in
/// parts.
#[test]
fn rows_pointing_at_rows_new_in_the_same_table_arrive_together() {
    let dir = tempfile::tempdir().unwrap();
    let app = sqlite_file(
        dir.path(),
        "threads.db",
        "CREATE TABLE comments (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES comments (id), body TEXT);
         WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 40000)
         INSERT INTO comments SELECT i, CASE WHEN i > 1 THEN i - 1 END, 'c' || i FROM k;",
    );
    let (target, url) = synced_copy(&app, "sync_threads");
    app_writes(
        &app,
        "UPDATE comments SET body = body || '!' WHERE id % 3 = 0;
             INSERT INTO comments VALUES (50000, NULL, 'new root');
             UPDATE comments SET parent_id = 50000 WHERE id = 5;
             INSERT INTO comments VALUES (50001, 50000, 'new reply');
             INSERT INTO comments VALUES (40001, 50001, 'answers a newer comment');",
    );
    let round = sync_json(&app, &url);
    assert_eq!(counts(&round, "comments"), (3, 13334, 0));
    assert_eq!(
        value(&target, "SELECT parent_id::text AS a FROM comments WHERE id = 5"),
        "50000"
    );
    verify_ok(&app, &url);
}
