//! Values survive the copy exactly, or are rejected with a reason naming
//! table, row and column. Real SQLite files, a real PostgreSQL server.

mod common;

use common::*;

const VALUES: &str = r#"
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    at_ms DATETIME,
    at_iso DATETIME,
    flag BOOLEAN,
    price NUMERIC(20,6),
    ratio REAL,
    payload BLOB,
    note TEXT
);
INSERT INTO events VALUES (1, 1709296496123, '2024-03-01T12:34:56.123Z', 1, '1234567.123456', 1e-300, x'', 'plain');
INSERT INTO events VALUES (2, 1709296496000, '2024-03-01 12:34:56', 0, 0.5, 3.141592653589793, NULL, '');
INSERT INTO events VALUES (3, NULL, '2024-03-01T14:34:56.000001+02:00', 'true', 42, -0.0, x'00ff', NULL); -- SQLite itself stores -0.0 as 0
INSERT INTO events VALUES (4, 1709296496999, '2024-03-01', 'f', '-0.000001', 1.7976931348623157e308, zeroblob(1048576), 'ünïcødé ✓');
CREATE TABLE epoch_s (id INTEGER PRIMARY KEY, created TIMESTAMP);
INSERT INTO epoch_s VALUES (1, 1709296496), (2, 0), (3, '2024-03-01 12:34:56');
"#;

#[test]
fn values_read_back_equal() {
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite_file(dir.path(), "values.db", VALUES);
    let target = fresh_database("values");
    let out = copy(&source, &target, &[]);
    assert_exit(&out, 0);
    // DATETIME columns are assumed to hold text; numbers make the copy
    // profile that table and load it again with the unit the values show.
    assert!(
        stderr(&out).contains("events.at_ms holds 1709296496123"),
        "{}",
        stderr(&out)
    );

    // Epoch milliseconds (decided per column from its values) and ISO text with T, Z, offsets and fractions.
    assert_eq!(
        rows(
            &target,
            "SELECT id AS a, to_char(at_ms AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS b FROM events WHERE at_ms IS NOT NULL ORDER BY id"
        ),
        vec![
            vec!["1", "2024-03-01 12:34:56.123000"],
            vec!["2", "2024-03-01 12:34:56.000000"],
            vec!["4", "2024-03-01 12:34:56.999000"],
        ]
    );
    assert_eq!(
        rows(
            &target,
            "SELECT id AS a, to_char(at_iso AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS b FROM events ORDER BY id"
        ),
        vec![
            vec!["1", "2024-03-01 12:34:56.123000"],
            vec!["2", "2024-03-01 12:34:56.000000"],
            vec!["3", "2024-03-01 12:34:56.000001"],
            vec!["4", "2024-03-01 00:00:00.000000"],
        ]
    );
    assert_eq!(
        value(
            &target,
            "SELECT string_agg(flag::text, ',' ORDER BY id) AS a FROM events"
        ),
        "true,false,true,false"
    );
    assert_eq!(
        value(
            &target,
            "SELECT string_agg(price::text, ',' ORDER BY id) AS a FROM events"
        ),
        "1234567.123456,0.500000,42.000000,-0.000001"
    );
    // REAL is double precision: every bit survives.
    assert_eq!(
        value(
            &target,
            "SELECT format_type(atttypid, atttypmod) AS a FROM pg_attribute WHERE attrelid = 'events'::regclass AND attname = 'ratio'"
        ),
        "double precision"
    );
    assert_eq!(
        value(
            &target,
            "SELECT string_agg(ratio::text, ',' ORDER BY id) AS a FROM events"
        ),
        "1e-300,3.141592653589793,0,1.7976931348623157e+308"
    );
    // Empty blob and NULL stay different; a 1 MB blob arrives whole.
    assert_eq!(
        rows(
            &target,
            "SELECT id AS a, coalesce(length(payload)::text, 'NULL') AS b, coalesce(encode(substr(payload, 1, 2), 'hex'), 'NULL') AS c FROM events ORDER BY id"
        ),
        vec![
            vec!["1", "0", ""],
            vec!["2", "NULL", "NULL"],
            vec!["3", "2", "00ff"],
            vec!["4", "1048576", "0000"]
        ]
    );
    assert_eq!(value(&target, "SELECT count(*) AS a FROM events WHERE note = ''"), "1");
    assert_eq!(value(&target, "SELECT note AS a FROM events WHERE id = 4"), "ünïcødé ✓");
    // Epoch seconds in another column, mixed with ISO text.
    assert_eq!(
        value(
            &target,
            "SELECT string_agg(to_char(created AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), ',' ORDER BY id) AS a FROM epoch_s"
        ),
        "2024-03-01 12:34:56,1970-01-01 00:00:00,2024-03-01 12:34:56"
    );
}

const BAD_VALUES: &str = r#"
CREATE TABLE docs (id INTEGER PRIMARY KEY, body TEXT, qty INTEGER NOT NULL);
INSERT INTO docs VALUES (1, 'fine', 1);
INSERT INTO docs VALUES (2, CAST(x'610062' AS TEXT), 2);
INSERT INTO docs VALUES (3, CAST(x'61ff62' AS TEXT), 3);
INSERT INTO docs VALUES (4, 'ok', 'lots-of-it');
INSERT INTO docs VALUES (5, 'also fine', 5);
"#;

#[test]
fn bad_values_stop_the_copy_and_leave_the_target_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite_file(dir.path(), "bad.db", BAD_VALUES);
    let target = fresh_database("bad_stop");
    let out = copy(&source, &target, &[]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("table docs") && err.contains("id=2") && err.contains("column body") && err.contains("NUL byte"),
        "{err}"
    );
    assert_eq!(
        value(
            &target,
            "SELECT count(*) AS a FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        ),
        "0"
    );
    assert_eq!(
        value(
            &target,
            "SELECT count(*) AS a FROM pg_namespace WHERE nspname LIKE 'godwit_staging_%'"
        ),
        "0"
    );
}

#[test]
fn bad_values_are_rejected_to_a_file_under_skip() {
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite_file(dir.path(), "bad.db", BAD_VALUES);
    let rejects = dir.path().join("rejects.jsonl");
    let target = fresh_database("bad_skip");
    let out = copy(
        &source,
        &target,
        &["--on-error", "skip", "--rejects", rejects.to_str().unwrap()],
    );
    assert_exit(&out, 3);
    assert_eq!(
        value(&target, "SELECT string_agg(id::text, ',' ORDER BY id) AS a FROM docs"),
        "1,5"
    );
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&rejects)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    let by_id = |id: i64| {
        lines
            .iter()
            .find(|l| l["key"]["id"] == id)
            .unwrap_or_else(|| panic!("no reject for id {id}"))
    };
    assert_eq!(by_id(2)["column"], "body");
    assert!(by_id(2)["reason"].as_str().unwrap().contains("NUL byte"));
    assert_eq!(by_id(3)["column"], "body");
    assert!(by_id(3)["reason"].as_str().unwrap().contains("invalid UTF-8"));
    assert_eq!(by_id(4)["column"], "qty");
    assert_eq!(by_id(4)["table"], "docs");
    assert!(by_id(4)["value"].as_str().unwrap().contains("lots-of-it"));
}

/// SQLite never bounds DECIMAL(10,2): a value with more decimals widens
/// the column's scale (issue 13) rather than being rounded or rejected.
#[test]
fn numeric_values_that_would_round_widen_the_column_not_round() {
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite_file(
        dir.path(),
        "money.db",
        "CREATE TABLE prices (id INTEGER PRIMARY KEY, amount DECIMAL(10,2));
         INSERT INTO prices VALUES (1, 0.99), (2, 0.125), (3, '19.90');",
    );
    let target = fresh_database("rounding");
    let out = copy(
        &source,
        &target,
        &[
            "--on-error",
            "skip",
            "--rejects",
            dir.path().join("r.jsonl").to_str().unwrap(),
        ],
    );
    assert_exit(&out, 0);
    assert_eq!(
        value(
            &target,
            "SELECT string_agg(amount::text, ',' ORDER BY id) || ' ' || format_type(atttypid, atttypmod) AS a \
             FROM prices, pg_attribute WHERE attrelid = 'prices'::regclass AND attname = 'amount' \
             GROUP BY atttypid, atttypmod"
        ),
        "0.990,0.125,19.900 numeric(11,3)"
    );
}
