//! Sync must never diverge for good: every round, the first as much as a
//! later one, finds every row the target holds that the source no longer
//! has, and the fingerprints it records never claim a state the target
//! does not hold (a second round then finds nothing, and verify agrees).
//!
//! The first case is the one a user met: a junction table with a
//! composite key, 50 rows deleted across the key space, and the first
//! sync deleted 47; the three whose key group emptied stayed for good.

mod common;
mod sync_support;

use std::path::Path;

use common::*;
use rusqlite::Connection;
use sync_support::*;

fn counts(summary: &serde_json::Value, table: &str) -> (u64, u64, u64) {
    summary["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == table)
        .map(|t| {
            (
                t["inserted"].as_u64().unwrap(),
                t["updated"].as_u64().unwrap(),
                t["deleted"].as_u64().unwrap(),
            )
        })
        .unwrap_or_else(|| panic!("no {table} in {summary}"))
}

fn source_count(app: &Path, sql: &str) -> i64 {
    Connection::open(app).unwrap().query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Removes the fingerprints the copy recorded, as for a target loaded by
/// `copy --data-only` or by an earlier godwit: the first round then has
/// none to start from and must compare every key.
fn without_fingerprints(target: &godwit::postgres::conn::ConnSpec) {
    target
        .connect()
        .unwrap()
        .batch_execute("DELETE FROM godwit.sync_buckets; DELETE FROM godwit.sync_tables")
        .unwrap();
}

/// The round that follows `first` finds nothing and writes nothing, and
/// verify agrees: the fingerprints hold what the target holds.
fn settled(app: &Path, url: &str) {
    verify_ok(app, url);
    let again = sync_json(app, url);
    assert_eq!(changes(&again), 0, "{again}");
    assert_eq!(again["wrote"], false, "{again}");
}

#[test]
fn the_first_sync_deletes_every_row_gone_from_a_composite_key_junction_table() {
    let dir = tempfile::tempdir().unwrap();
    // 150,000 memberships of 70,000 users in 3,000 subreddits, in an
    // order that scatters each user's rows over the rowids; about one
    // user in eight has a single membership.
    let app = dir.path().join("app.db");
    let mut db = Connection::open(&app).unwrap();
    db.execute_batch(
        "CREATE TABLE memberships (user_id INTEGER NOT NULL, subreddit_id INTEGER NOT NULL, \
             joined TEXT, PRIMARY KEY (user_id, subreddit_id))",
    )
    .unwrap();
    let rows = db.transaction().unwrap();
    {
        let mut insert = rows
            .prepare("INSERT OR IGNORE INTO memberships VALUES (?1, ?2, 'joined')")
            .unwrap();
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            // xorshift64: the same scattered memberships on every run.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            i64::try_from(state % 1_000_000).unwrap()
        };
        let mut count = 0;
        while count < 150_000 {
            let (user, subreddit) = (next() % 70_000 + 1, next() % 3_000 + 1);
            count += insert.execute((user, subreddit)).unwrap();
        }
    }
    rows.commit().unwrap();
    drop(db);
    assert_eq!(source_count(&app, "SELECT count(*) FROM memberships"), 150_000);
    let target = fresh_database("diverge_junction");
    let url = target.to_string();
    assert_exit(&copy(&app, &target, &[]), 0);
    without_fingerprints(&target);

    // 50 rows by rowid, spread across the key space.
    let db = Connection::open(&app).unwrap();
    db.execute_batch(
        "CREATE TEMP TABLE gone AS SELECT user_id, subreddit_id FROM memberships WHERE rowid % 3000 = 1 LIMIT 50;
         DELETE FROM memberships WHERE (user_id, subreddit_id) IN (SELECT user_id, subreddit_id FROM gone);",
    )
    .unwrap();
    // The case that diverged: some users lost their only membership.
    let emptied: i64 = db
        .query_row(
            "SELECT count(*) FROM gone WHERE user_id NOT IN (SELECT user_id FROM memberships)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(emptied > 0);
    drop(db);
    assert_eq!(source_count(&app, "SELECT count(*) FROM memberships"), 149_950);

    let first = sync_json(&app, &url);
    assert_eq!(counts(&first, "memberships"), (0, 0, 50), "{first}");
    assert_eq!(value(&target, "SELECT count(*) AS a FROM memberships"), "149950");
    settled(&app, &url);
}

/// The corpus next to the repository, or the shared one when the
/// repository is a worktree elsewhere.
fn chinook() -> std::path::PathBuf {
    let shared = Path::new("/work/shared/corpus/sqlite/Chinook_Sqlite.sqlite");
    if shared.exists() {
        shared.to_path_buf()
    } else {
        corpus("Chinook_Sqlite.sqlite")
    }
}

#[test]
fn a_playlist_emptied_before_the_first_sync_is_emptied_in_the_target() {
    // Chinook's PlaylistTrack: a junction table with a composite key,
    // where playlists 9 and 18 hold a single track.
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("chinook.db");
    std::fs::copy(chinook(), &app).unwrap();
    let target = fresh_database("diverge_chinook");
    let url = target.to_string();
    assert_exit(&copy(&app, &target, &[]), 0);
    without_fingerprints(&target);
    let before = source_count(&app, "SELECT count(*) FROM PlaylistTrack");
    app_writes(
        &app,
        "DELETE FROM PlaylistTrack WHERE PlaylistId IN (9, 11, 18);
         DELETE FROM PlaylistTrack WHERE PlaylistId = 1 AND TrackId % 100 = 0;",
    );
    let removed = u64::try_from(before - source_count(&app, "SELECT count(*) FROM PlaylistTrack")).unwrap();
    assert!(removed > 41);
    let first = sync_json(&app, &url);
    assert_eq!(counts(&first, "PlaylistTrack"), (0, 0, removed), "{first}");
    assert_eq!(
        value(
            &target,
            "SELECT count(*) AS a FROM \"PlaylistTrack\" WHERE \"PlaylistId\" IN (9, 11, 18)"
        ),
        "0"
    );
    settled(&app, &url);

    // And a later round: the last track of a playlist goes.
    app_writes(&app, "DELETE FROM PlaylistTrack WHERE PlaylistId = 17;");
    let later = sync_json(&app, &url);
    assert_eq!(counts(&later, "PlaylistTrack"), (0, 0, 26), "{later}");
    settled(&app, &url);
}

#[test]
fn rows_deleted_in_whole_ranges_and_past_the_last_key_before_the_first_sync_are_deleted() {
    // A rowid-keyed table is cut into ranges of about 8 keys, sized on
    // the first round from the keys the source has then: a block of
    // deleted keys empties whole ranges, and deleting the largest keys
    // moves the last range's end below rows the target still holds.
    let dir = tempfile::tempdir().unwrap();
    let app = sqlite_file(
        dir.path(),
        "app.db",
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
         INSERT INTO items SELECT i, 'item ' || i FROM n;",
    );
    let target = fresh_database("diverge_ranges");
    let url = target.to_string();
    assert_exit(&copy(&app, &target, &[]), 0);
    without_fingerprints(&target);
    app_writes(
        &app,
        "DELETE FROM items WHERE id BETWEEN 1 AND 100;
         DELETE FROM items WHERE id BETWEEN 2000 AND 2400;
         DELETE FROM items WHERE id > 4000;",
    );
    let first = sync_json(&app, &url);
    assert_eq!(counts(&first, "items"), (0, 0, 100 + 401 + 1000), "{first}");
    settled(&app, &url);

    // Later rounds keep the first round's ranges; rows past their end
    // and in emptied ranges still go, and new rows far beyond arrive.
    app_writes(
        &app,
        "DELETE FROM items WHERE id BETWEEN 3000 AND 3100;
         INSERT INTO items VALUES (9000000, 'far'), (-5, 'negative');",
    );
    let later = sync_json(&app, &url);
    assert_eq!(counts(&later, "items"), (2, 0, 101), "{later}");
    settled(&app, &url);
}

#[test]
fn text_keys_whose_order_differs_between_sqlite_and_postgresql_are_synced() {
    // SQLite orders text by bytes; the target's collation may not (case,
    // accents, punctuation). Deletes, updates and inserts all arrive.
    let dir = tempfile::tempdir().unwrap();
    let app = sqlite_file(
        dir.path(),
        "app.db",
        "CREATE TABLE tags (name TEXT PRIMARY KEY, uses INTEGER NOT NULL);
         CREATE TABLE pairs (a TEXT NOT NULL, b INTEGER NOT NULL, PRIMARY KEY (a, b));
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
         INSERT INTO tags SELECT CASE i % 4 WHEN 0 THEN 'a' WHEN 1 THEN 'B' WHEN 2 THEN 'é' ELSE '_z' END || i, i FROM n;
         INSERT INTO pairs SELECT name, uses % 3 FROM tags;",
    );
    let target = fresh_database("diverge_text");
    let url = target.to_string();
    assert_exit(&copy(&app, &target, &[]), 0);
    without_fingerprints(&target);
    app_writes(
        &app,
        "DELETE FROM tags WHERE uses % 97 = 0;
         UPDATE tags SET uses = -uses WHERE uses % 89 = 0;
         INSERT INTO tags VALUES ('Zebra', 1), ('zebra', 2), ('ébène', 3);
         DELETE FROM pairs WHERE b = 2 AND a LIKE 'é%';",
    );
    let first = sync_json(&app, &url);
    assert_eq!(counts(&first, "tags"), (3, 22, 20), "{first}");
    settled(&app, &url);
}

#[test]
fn an_integer_key_holding_text_digits_is_synced() {
    // A key column without a declared type keeps '7' as text, which
    // SQLite orders after every integer; PostgreSQL's bigint key holds 7.
    let dir = tempfile::tempdir().unwrap();
    let app = sqlite_file(
        dir.path(),
        "app.db",
        "CREATE TABLE events (id PRIMARY KEY, what TEXT NOT NULL);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
         INSERT INTO events SELECT CASE WHEN i % 500 = 0 THEN CAST(i AS TEXT) ELSE i END, 'event ' || i FROM n;",
    );
    let target = fresh_database("diverge_mixed");
    let url = target.to_string();
    assert_exit(&copy(&app, &target, &[]), 0);
    without_fingerprints(&target);
    app_writes(
        &app,
        "DELETE FROM events WHERE id IN ('1000', 1001, 1002);
         UPDATE events SET what = 'changed' WHERE id = '2000';
         INSERT INTO events VALUES ('5000', 'text key'), (5001, 'integer key');",
    );
    let first = sync_json(&app, &url);
    let summary = format!("{first}");
    assert_eq!(counts(&first, "events"), (2, 1, 3), "{summary}");
    settled(&app, &url);
}

#[test]
fn the_first_sync_after_a_copy_compares_only_what_changed_since_the_copy() {
    // The copy records each key range's fingerprint with the rows: the
    // first round is as cheap as any later one, and as exact.
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("chinook.db");
    std::fs::copy(chinook(), &app).unwrap();
    let target = fresh_database("seeded_chinook");
    let url = target.to_string();
    assert_exit(&copy(&app, &target, &[]), 0);
    let quiet = sync_json(&app, &url);
    assert_eq!(quiet["ranges_read"], 0, "{quiet}");
    assert_eq!(quiet["wrote"], false, "{quiet}");

    app_writes(
        &app,
        "DELETE FROM PlaylistTrack WHERE PlaylistId IN (9, 18);
         UPDATE Track SET Name = 'renamed' WHERE TrackId = 5;
         INSERT INTO Genre VALUES (99, 'new');
         DELETE FROM InvoiceLine WHERE InvoiceLineId IN (1, 2240);",
    );
    let first = sync_json(&app, &url);
    assert_eq!(counts(&first, "PlaylistTrack"), (0, 0, 2), "{first}");
    assert_eq!(counts(&first, "Track"), (0, 1, 0), "{first}");
    assert_eq!(counts(&first, "InvoiceLine"), (0, 0, 2), "{first}");
    assert_eq!(counts(&first, "Genre"), (1, 0, 0), "{first}");
    assert!(first["ranges_read"].as_u64().unwrap() <= 6, "{first}");
    settled(&app, &url);
}

#[test]
fn a_table_the_copy_left_rows_out_of_starts_without_fingerprints() {
    // --on-error skip: the target lacks the rejected row, so no
    // fingerprint may claim it holds the table; the first round compares
    // that table whole and finds the row (which still does not fit).
    let dir = tempfile::tempdir().unwrap();
    let app = sqlite_file(
        dir.path(),
        "app.db",
        "CREATE TABLE scores (id INTEGER PRIMARY KEY, points INTEGER NOT NULL);
         CREATE TABLE names (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
         INSERT INTO scores SELECT i, i FROM n;
         INSERT INTO names SELECT id, 'name ' || id FROM scores;
         UPDATE scores SET points = 'lots' WHERE id = 250;",
    );
    let target = fresh_database("seeded_skip");
    let url = target.to_string();
    assert_exit(&copy(&app, &target, &["--on-error", "skip"]), 3);
    assert_eq!(
        value(
            &target,
            "SELECT count(*) AS a FROM godwit.sync_tables WHERE name = 'scores'"
        ),
        "0"
    );
    assert_eq!(
        value(
            &target,
            "SELECT count(*) AS a FROM godwit.sync_tables WHERE name = 'names'"
        ),
        "1"
    );
    app_writes(&app, "UPDATE scores SET points = 250 WHERE id = 250;");
    let first = sync_json(&app, &url);
    assert_eq!(counts(&first, "scores"), (1, 0, 0), "{first}");
    assert_eq!(counts(&first, "names"), (0, 0, 0), "{first}");
    settled(&app, &url);
}
