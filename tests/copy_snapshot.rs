//! The source is read as one consistent snapshot even while the app keeps
//! writing to it (WAL mode), and it is never modified.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::*;

#[test]
fn copy_reads_one_snapshot_while_the_app_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE orders (id INTEGER PRIMARY KEY, note TEXT NOT NULL);
         CREATE TABLE order_lines (id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL, note TEXT NOT NULL);
         WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < 300000)
         INSERT INTO orders SELECT i, printf('%.100c', 'o') FROM seq;
         INSERT INTO order_lines SELECT id, id, note FROM orders;",
    )
    .unwrap();
    // The app: every transaction adds one order and its line, so the two
    // tables always hold the same number of rows in any snapshot.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, path) = (Arc::clone(&stop), path.clone());
        std::thread::spawn(move || {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
            let mut written = 0;
            while !stop.load(Ordering::Relaxed) {
                conn.execute_batch(
                    "BEGIN IMMEDIATE;
                     INSERT INTO orders (note) VALUES ('live');
                     INSERT INTO order_lines (order_id, note) VALUES (last_insert_rowid(), 'live');
                     COMMIT;",
                )
                .unwrap();
                written += 1;
            }
            written
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(200));
    let target = fresh_database("snapshot");
    let out = copy(&path, &target, &["--jobs", "2"]);
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    assert_exit(&out, 0);
    assert!(written > 0, "the app wrote nothing during the copy");
    let orders = value(&target, "SELECT count(*) AS a FROM orders");
    let lines = value(&target, "SELECT count(*) AS a FROM order_lines");
    assert_eq!(orders, lines, "the two tables come from different moments");
    let source_now: i64 = conn.query_row("SELECT count(*) FROM orders", [], |r| r.get(0)).unwrap();
    assert!(orders.parse::<i64>().unwrap() <= source_now);
}

#[test]
fn source_file_is_never_modified() {
    let source = corpus("Chinook_Sqlite.sqlite");
    let before = std::fs::read(&source).unwrap();
    let target = fresh_database("readonly");
    assert_exit(&copy(&source, &target, &[]), 0);
    assert!(std::fs::read(&source).unwrap() == before, "the source file changed");
}
