//! SQLite read as SQLite reads itself: an rtree's columns are the ones the
//! table has, whatever its declaration's text holds (comments), and a
//! date/time column whose numbers no PostgreSQL timestamp holds is widened
//! like any other value SQLite never bounded, not refused.

mod common;

use common::*;

#[test]
fn an_rtree_declared_with_comments_copies_with_its_columns() {
    let dir = tempfile::tempdir().unwrap();
    // The example of SQLite's rtree documentation, comments and all.
    let source = sqlite_file(
        dir.path(),
        "demo.db",
        "CREATE VIRTUAL TABLE demo_index USING rtree(
           id,              -- Integer primary key
           minX, maxX,      -- Minimum and maximum X coordinate
           minY, maxY       /* Minimum and maximum Y coordinate */
        );
        INSERT INTO demo_index VALUES (28215, -80.781227, -80.604706, 35.208813, 35.297367),
                                      (28216, -80.957283, -80.840599, 35.235920, 35.367825);",
    );
    let target = fresh_database("sqlite_rtree_comments");
    let out = copy(&source, &target, &["--verify"]);
    assert_exit(&out, 0);
    assert_eq!(
        rows(
            &target,
            r#"SELECT id AS a, "minX" < "maxX" AS b, "minY" < "maxY" AS c FROM demo_index ORDER BY id"#
        ),
        [["28215", "true", "true"], ["28216", "true", "true"]]
    );
}

#[test]
fn an_epoch_column_beyond_timestamp_range_is_widened_not_refused() {
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite_file(
        dir.path(),
        "events.db",
        "CREATE TABLE events (id INTEGER PRIMARY KEY, at TIMESTAMP);
         INSERT INTO events VALUES (1, 1700000000), (2, 99999999999999999), (3, 1700000001);
         CREATE TABLE fine (id INTEGER PRIMARY KEY, at TIMESTAMP);
         INSERT INTO fine VALUES (1, 1700000000);",
    );
    let plan = godwit(&["plan", source.to_str().unwrap()]);
    assert_exit(&plan, 0);
    assert!(
        stdout(&plan).contains(
            "events.at: declared TIMESTAMP, but holds numbers that as epoch seconds fall beyond the range of PostgreSQL timestamps (e.g. 99999999999999999)"
        ),
        "{}",
        stdout(&plan)
    );
    let target = fresh_database("sqlite_epoch_beyond");
    let out = copy(&source, &target, &["--verify"]);
    assert_exit(&out, 0);
    assert_eq!(
        rows(&target, "SELECT id AS a, at AS b FROM events ORDER BY id"),
        [["1", "1700000000"], ["2", "99999999999999999"], ["3", "1700000001"]]
    );
    // Epochs in range stay timestamps.
    assert_eq!(
        value(&target, "SELECT at::text AS a FROM fine"),
        "2023-11-14 22:13:20+00"
    );
}
