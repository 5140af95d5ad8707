//! Key ranges are sized by bytes, not rows: a table of wide rows gets a
//! row per bucket, one of narrow rows many, so a changed range costs about
//! the same to compare whatever the rows' width. A table keeps the width
//! its fingerprints were recorded with (an older godwit's, or one taken
//! when its rows were narrower): rounds then go on comparing the same
//! ranges and never diverge.

mod common;
mod sync_support;

use common::*;
use godwit::postgres::conn::ConnSpec;
use rusqlite::Connection;
use sync_support::*;

fn width(target: &ConnSpec, table: &str) -> i64 {
    value(
        target,
        &format!("SELECT width AS a FROM godwit.sync_tables WHERE name = '{table}'"),
    )
    .parse()
    .unwrap()
}

#[test]
fn wide_rows_get_a_bucket_each_and_narrow_rows_share_one() {
    let dir = tempfile::tempdir().unwrap();
    let app = sqlite_file(
        dir.path(),
        "app.db",
        "CREATE TABLE files (id INTEGER PRIMARY KEY, content BLOB NOT NULL);
         WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 300)
         INSERT INTO files SELECT i, randomblob(8000) FROM s;
         CREATE TABLE marks (id INTEGER PRIMARY KEY, ok BOOLEAN NOT NULL);
         WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 3000)
         INSERT INTO marks SELECT i, i % 2 FROM s;",
    );
    let target = fresh_database("buckets_bytes");
    let url = target.to_string();
    assert_exit(&copy(&app, &target, &[]), 0);
    // Dense rowids: the width is the rows per bucket.
    assert_eq!(width(&target, "files"), 1);
    assert_eq!(width(&target, "marks"), 32);
    // A change to one file compares that file's range only: one range.
    Connection::open(&app)
        .unwrap()
        .execute_batch("UPDATE files SET content = randomblob(8000) WHERE id = 150")
        .unwrap();
    let round = sync_json(&app, &url);
    assert_eq!(round["updated"].as_u64().unwrap(), 1);
    assert_eq!(round["ranges_read"].as_u64().unwrap(), 1);
    verify_ok(&app, &url);
}

#[test]
fn a_table_keeps_the_width_its_fingerprints_were_recorded_with() {
    let dir = tempfile::tempdir().unwrap();
    let app = sqlite_file(
        dir.path(),
        "app.db",
        "PRAGMA journal_mode = WAL;
         CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
         WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 4000)
         INSERT INTO notes SELECT i, 'n' || i FROM s;",
    );
    let target = fresh_database("buckets_kept");
    let url = target.to_string();
    assert_exit(&copy(&app, &target, &[]), 0);
    let recorded = width(&target, "notes");
    assert!(recorded > 8, "narrow rows share a bucket: width {recorded}");
    // The rows grow a hundredfold: a table synced afresh would now get
    // narrower buckets, as one recorded under another rule would differ.
    let db = Connection::open(&app).unwrap();
    db.execute_batch("UPDATE notes SET body = printf('%.1000c', 'x') || id WHERE id % 2 = 0")
        .unwrap();
    let round = sync_json(&app, &url);
    assert_eq!(round["updated"].as_u64().unwrap(), 2000);
    assert_eq!(width(&target, "notes"), recorded);
    verify_ok(&app, &url);
    // Later rounds on the kept width: deletes, inserts past the end, a
    // whole range emptied; each lands, and a quiet round finds nothing.
    db.execute_batch(
        "DELETE FROM notes WHERE id BETWEEN 1000 AND 1200;
         DELETE FROM notes WHERE id % 97 = 0;
         INSERT INTO notes SELECT id + 4000, body FROM notes WHERE id <= 300;
         UPDATE notes SET body = 'short' WHERE id % 13 = 0;",
    )
    .unwrap();
    assert!(changes(&sync_json(&app, &url)) > 0);
    assert_eq!(width(&target, "notes"), recorded);
    verify_ok(&app, &url);
    assert_eq!(changes(&sync_json(&app, &url)), 0);
}
