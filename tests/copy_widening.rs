//! SQLite never enforces NUMERIC(p,s) or VARCHAR(n): values beyond the
//! declared bound are kept by widening the type (with a plan warning),
//! never rejected, both when `plan` profiles the values and when the copy,
//! which speculates on declared types, meets one mid-load.

mod common;

use common::*;

const FIXTURE: &str = r#"
CREATE TABLE prices (
    id INTEGER PRIMARY KEY,
    wide DECIMAL(10,5),
    fine NUMERIC(6,2),
    whole NUMERIC(4),
    fits NUMERIC(8,2),
    label VARCHAR(5)
);
INSERT INTO prices VALUES (1, 12.5, 1.5, 12, 1.25, 'ab');
INSERT INTO prices VALUES (2, 12345678.9, 1.234, 12345, 2.5, 'longer than five');
INSERT INTO prices VALUES (3, NULL, '99.125', -3, NULL, NULL);
"#;

fn plan(source: &std::path::Path) -> serde_json::Value {
    let out = godwit(&["plan", source.to_str().unwrap(), "--format", "json"]);
    assert_exit(&out, 0);
    serde_json::from_str(&stdout(&out)).unwrap()
}

fn column_type(plan: &serde_json::Value, column: &str) -> String {
    plan["tables"][0]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["source"] == column)
        .unwrap_or_else(|| panic!("no column {column}"))["pg_type"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn plan_widens_what_sqlite_never_bounded_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite_file(dir.path(), "prices.db", FIXTURE);
    let plan = plan(&source);
    assert_eq!(column_type(&plan, "wide"), "numeric(13,5)");
    assert_eq!(column_type(&plan, "fine"), "numeric(7,3)");
    assert_eq!(column_type(&plan, "whole"), "numeric(5,0)");
    assert_eq!(column_type(&plan, "fits"), "numeric(8,2)");
    assert_eq!(column_type(&plan, "label"), "text");
    let warnings = plan["warnings"].to_string();
    for column in ["prices.wide", "prices.fine", "prices.whole", "prices.label"] {
        assert!(
            warnings.contains(&format!("{column}: declared")),
            "{column} in {warnings}"
        );
    }
    assert!(!warnings.contains("prices.fits"), "{warnings}");
}

#[test]
fn the_speculating_copy_widens_instead_of_rejecting() {
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite_file(dir.path(), "prices.db", FIXTURE);
    let target = fresh_database("widening");
    let out = copy(&source, &target, &["--on-error", "skip"]);
    assert_exit(&out, 0);
    assert!(stderr(&out).contains("profiling prices"), "{}", stderr(&out));
    let types = rows(
        &target,
        "SELECT column_name AS a, format_type(atttypid, atttypmod) AS b FROM information_schema.columns c \
         JOIN pg_attribute ON attrelid = 'prices'::regclass AND attname = column_name \
         WHERE table_name = 'prices' ORDER BY ordinal_position",
    );
    let of = |c: &str| types.iter().find(|r| r[0] == c).unwrap()[1].clone();
    assert_eq!(of("wide"), "numeric(13,5)");
    assert_eq!(of("fine"), "numeric(7,3)");
    assert_eq!(of("whole"), "numeric(5,0)");
    assert_eq!(of("fits"), "numeric(8,2)");
    assert_eq!(of("label"), "text");
    assert_eq!(
        value(&target, "SELECT wide::text AS a FROM prices WHERE id = 2"),
        "12345678.90000"
    );
    assert_eq!(
        value(&target, "SELECT fine::text AS a FROM prices WHERE id = 3"),
        "99.125"
    );
    assert_eq!(
        value(&target, "SELECT label AS a FROM prices WHERE id = 2"),
        "longer than five"
    );
    assert_eq!(value(&target, "SELECT count(*)::text AS a FROM prices"), "3");
    let url = target.to_string();
    let verified = godwit(&["verify", source.to_str().unwrap(), "--to", url.as_str()]);
    assert_exit(&verified, 0);
}

/// A DATETIME column takes its unit from the bulk of its values: a few
/// small numbers among epoch milliseconds are read as milliseconds too and
/// named in the plan; a column of years stays text.
#[test]
fn a_few_small_outliers_among_epoch_milliseconds_stay_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let mut sql = String::from(
        "CREATE TABLE events (id INTEGER PRIMARY KEY, at DATETIME);\n\
         CREATE TABLE books (id INTEGER PRIMARY KEY, published DATETIME);\n\
         INSERT INTO books VALUES (1, 1999), (2, 2024), (3, '2020-01-01');\n",
    );
    for i in 0..20 {
        sql.push_str(&format!(
            "INSERT INTO events VALUES ({i}, {});\n",
            1_709_296_496_123_i64 + i * 60_000
        ));
    }
    sql.push_str("INSERT INTO events VALUES (100, 1000), (101, 86400000), (102, NULL);\n");
    let source = sqlite_file(dir.path(), "events.db", &sql);

    let plan = plan(&source);
    let warnings = plan["warnings"].to_string();
    assert!(
        warnings.contains("events.at: 2 number(s) far from the bulk") && warnings.contains("86400000"),
        "{warnings}"
    );
    let cast = &plan["tables"][0]["columns"][1]["cast"];
    assert_eq!(cast["unit"], "milliseconds", "{cast}");
    assert_eq!(plan["tables"][1]["columns"][1]["pg_type"], "text");

    let target = fresh_database("outliers");
    let out = copy(&source, &target, &[]);
    assert_exit(&out, 0);
    assert_eq!(
        value(
            &target,
            "SELECT string_agg(to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS'), ',' ORDER BY id) AS a \
             FROM events WHERE id >= 100 OR id = 0"
        ),
        "2024-03-01 12:34:56.123,1970-01-01 00:00:01.000,1970-01-02 00:00:00.000"
    );
    assert_eq!(value(&target, "SELECT published AS a FROM books WHERE id = 1"), "1999");
    let url = target.to_string();
    assert_exit(&godwit(&["verify", source.to_str().unwrap(), "--to", url.as_str()]), 0);
}
