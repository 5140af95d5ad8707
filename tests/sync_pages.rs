//! A round reads only the rows on SQLite pages that changed since the
//! snapshot its fingerprints describe (`source::pages`): a table whose
//! pages are all the same is not read, a changed one only where its leaf
//! pages changed. Whatever moved the pages (an update, a delete, a
//! VACUUM, changes still in the WAL, a row on overflow pages), the round
//! must find every change and leave the target equal to the source.

mod common;
mod sync_support;

use std::path::Path;

use common::*;
use rusqlite::Connection;
use sync_support::*;

fn count(summary: &serde_json::Value, key: &str) -> u64 {
    summary[key].as_u64().unwrap_or_else(|| panic!("{key} in {summary}"))
}

/// 20,000 notes (hundreds of leaf pages), files on overflow pages, and a
/// junction table keyed by two columns.
fn app(dir: &Path) -> std::path::PathBuf {
    sqlite_file(
        dir,
        "app.db",
        "PRAGMA journal_mode = WAL;
         CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL, score INTEGER NOT NULL);
         WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 20000)
         INSERT INTO notes SELECT i, printf('note %d %s', i, hex(randomblob(24))), i % 7 FROM s;
         CREATE TABLE files (id INTEGER PRIMARY KEY, content BLOB NOT NULL);
         WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 40)
         INSERT INTO files SELECT i, randomblob(9000) FROM s;
         CREATE TABLE likes (user_id INTEGER NOT NULL, note_id INTEGER NOT NULL, PRIMARY KEY (user_id, note_id));
         WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 3000)
         INSERT INTO likes SELECT i % 100, i FROM s;",
    )
}

#[test]
fn a_row_changed_on_one_page_is_found_and_unchanged_pages_are_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    let target = fresh_database("pages_one");
    let url = target.to_string();
    assert_exit(&copy(&app, &target, &[]), 0);

    // The first round after the copy: the copy recorded the pages.
    let quiet = sync_json(&app, &url);
    assert_eq!(count(&quiet, "rows_read"), 0, "{quiet}");
    assert_eq!(quiet["wrote"], false, "{quiet}");

    Connection::open(&app)
        .unwrap()
        .execute_batch("UPDATE notes SET score = score + 100 WHERE id = 12345")
        .unwrap();
    let round = sync_json(&app, &url);
    assert_eq!(count(&round, "updated"), 1, "{round}");
    let read = count(&round, "rows_read");
    // The changed leaf's rows and their buckets', not the table's 20,000.
    assert!(read > 0 && read < 500, "{round}");
    assert_eq!(
        value(&target, "SELECT score AS a FROM notes WHERE id = 12345"),
        (12345 % 7 + 100).to_string()
    );
    verify_ok(&app, &url);

    // The maps are stored as they are: compressing them cost seconds a round.
    assert_eq!(
        value(
            &target,
            "SELECT attstorage::text AS a FROM pg_attribute WHERE attrelid = 'godwit.sync_pages'::regclass \
             AND attname = 'pages'"
        ),
        "e"
    );

    // Nothing changed since: nothing read, nothing written.
    let quiet = sync_json(&app, &url);
    assert_eq!(count(&quiet, "rows_read"), 0, "{quiet}");
    assert_eq!(quiet["wrote"], false, "{quiet}");

    // A table keyed by two columns is read whole once a page changed.
    Connection::open(&app)
        .unwrap()
        .execute_batch("DELETE FROM likes WHERE user_id = 7 AND note_id = 7")
        .unwrap();
    let round = sync_json(&app, &url);
    assert_eq!(count(&round, "deleted"), 1, "{round}");
    assert_eq!(count(&round, "rows_read"), 2999, "{round}");
    verify_ok(&app, &url);
}

#[test]
fn deletes_inserts_and_overflow_changes_are_all_found() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    let target = fresh_database("pages_kinds");
    let url = target.to_string();
    assert_exit(&copy(&app, &target, &[]), 0);
    // A run of rows spanning several leaves gone (whole pages freed), rows
    // added past the end, and a file changed only in its overflow part
    // (same length, so its leaf cell may stay as it was).
    Connection::open(&app)
        .unwrap()
        .execute_batch(
            "DELETE FROM notes WHERE id BETWEEN 5000 AND 5999;
             INSERT INTO notes VALUES (30000, 'new', 1), (30001, 'newer', 2);
             UPDATE files SET content = substr(content, 1, 8000) || x'00112233' || substr(content, 8005) WHERE id = 20;",
        )
        .unwrap();
    let round = sync_json(&app, &url);
    assert_eq!(count(&round, "deleted"), 1000, "{round}");
    assert_eq!(count(&round, "inserted"), 2, "{round}");
    assert_eq!(count(&round, "updated"), 1, "{round}");
    assert!(count(&round, "rows_read") < 5000, "{round}");
    verify_ok(&app, &url);
}

#[test]
fn a_vacuumed_source_still_syncs_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    let target = fresh_database("pages_vacuum");
    let url = target.to_string();
    assert_exit(&copy(&app, &target, &[]), 0);
    let source = Connection::open(&app).unwrap();
    source
        .execute_batch(
            "DELETE FROM notes WHERE id % 3 = 0;
             UPDATE notes SET body = 'moved' WHERE id = 10;
             PRAGMA journal_mode = DELETE;
             VACUUM;
             PRAGMA journal_mode = WAL;",
        )
        .unwrap();
    drop(source);
    // Every page moved: the whole table is read, and every change found.
    let round = sync_json(&app, &url);
    assert_eq!(count(&round, "deleted"), 6666, "{round}");
    assert_eq!(count(&round, "updated"), 1, "{round}");
    verify_ok(&app, &url);
    // The pages recorded are the vacuumed file's: later rounds read little.
    Connection::open(&app)
        .unwrap()
        .execute_batch("UPDATE notes SET score = -1 WHERE id = 19999")
        .unwrap();
    let round = sync_json(&app, &url);
    assert_eq!(count(&round, "updated"), 1, "{round}");
    assert!(count(&round, "rows_read") < 500, "{round}");
    verify_ok(&app, &url);
}

#[test]
fn changes_still_in_the_wal_are_read_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    let target = fresh_database("pages_wal");
    let url = target.to_string();
    assert_exit(&copy(&app, &target, &[]), 0);
    // The app keeps its connection open and never checkpoints: the
    // changed pages exist only in the WAL while the round reads.
    let writer = Connection::open(&app).unwrap();
    writer
        .execute_batch(
            "PRAGMA wal_autocheckpoint = 0;
             UPDATE notes SET body = 'in the wal' WHERE id = 777;
             DELETE FROM files WHERE id = 3;",
        )
        .unwrap();
    let round = sync_json(&app, &url);
    assert_eq!(count(&round, "updated"), 1, "{round}");
    assert_eq!(count(&round, "deleted"), 1, "{round}");
    assert_eq!(
        value(&target, "SELECT body AS a FROM notes WHERE id = 777"),
        "in the wal"
    );
    verify_ok(&app, &url);
    drop(writer);
}

#[test]
fn a_public_database_changed_in_one_row_is_synced_reading_one_page() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("chinook.db");
    std::fs::copy(corpus("Chinook_Sqlite.sqlite"), &app).unwrap();
    let target = fresh_database("pages_chinook");
    let url = target.to_string();
    assert_exit(&copy(&app, &target, &[]), 0);
    let quiet = sync_json(&app, &url);
    assert_eq!(count(&quiet, "rows_read"), 0, "{quiet}");
    Connection::open(&app)
        .unwrap()
        .execute_batch("UPDATE Track SET Name = 'Renamed' WHERE TrackId = 2000")
        .unwrap();
    let round = sync_json(&app, &url);
    assert_eq!(count(&round, "updated"), 1, "{round}");
    // Track has 3,503 rows; one leaf holds a few dozen.
    assert!(count(&round, "rows_read") < 200, "{round}");
    verify_ok(&app, &url);
}
