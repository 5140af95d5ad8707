//! Documents that cannot be read as they stand: a clear error naming the
//! file, line (and column or CSV record) and reason, and nothing
//! half-written; rejected records follow --on-error as on the SQLite path.

mod common;

use std::path::Path;

use common::*;

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn table_count(target: &godwit::postgres::conn::ConnSpec) -> String {
    value(
        target,
        "SELECT count(*) AS a FROM information_schema.tables WHERE table_schema = 'public'",
    )
}

#[test]
fn invalid_json_names_file_line_and_column_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let target = fresh_database("docs_invalid");
    let array = write(dir.path(), "broken.json", b"[{\"a\": 1},\n {\"a\": 2,, }]");
    let out = copy(&array, &target, &[]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("broken.json: invalid JSON at line 2, column 10"), "{err}");
    // JSON Lines: a bad line stops the copy too, at its line.
    let lines = write(dir.path(), "events.ndjson", b"{\"a\": 1}\n{\"a\": 2}\n{\"a\": tru}\n");
    let out = copy(&lines, &target, &[]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("events.ndjson, line 3, column 7, byte 24: invalid JSON: invalid literal"),
        "{}",
        stderr(&out)
    );
    // A CSV file cut inside a quoted field.
    let csv = write(dir.path(), "cut.csv", b"a,b\n1,\"open\n");
    let out = copy(&csv, &target, &[]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("cut.csv, line 2, record 2: a quoted field opened on line 2 is never closed"),
        "{}",
        stderr(&out)
    );
    assert_eq!(table_count(&target), "0");
}

#[test]
fn rejected_records_stop_or_are_skipped_with_their_place_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let lines = write(
        dir.path(),
        "rows.ndjson",
        b"{\"id\": 1, \"v\": \"ok\"}\n{\"id\": 2, \"v\": \"a\", \"v\": \"b\"}\n{\"id\": 3, \"v\": \"x\\u0000y\"}\n{\"id\": 4, \"v\": \"\xff\"}\n{\"id\": 5, \"v\": \"fine\"}\n",
    );
    let target = fresh_database("docs_rejects");
    let out = copy(&lines, &target, &[]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("row id=2")
            && err.contains("rows.ndjson, line 2, column 19, byte 39: the key \"v\" appears twice in one object"),
        "{err}"
    );
    assert_eq!(table_count(&target), "0");

    let rejects = dir.path().join("rejects.jsonl");
    let out = copy(
        &lines,
        &target,
        &["--on-error", "skip", "--rejects", rejects.to_str().unwrap()],
    );
    assert_exit(&out, 3);
    assert_eq!(
        rows(&target, "SELECT id AS a, v AS b FROM rows ORDER BY id"),
        [["1", "ok"], ["5", "fine"]]
    );
    let written = std::fs::read_to_string(&rejects).unwrap();
    let reasons: Vec<serde_json::Value> = written.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(reasons.len(), 3, "{written}");
    assert_eq!(reasons[0]["key"]["id"], 2);
    let reason = |i: usize| reasons[i]["reason"].as_str().unwrap().to_string();
    assert!(
        reason(0).contains("line 2, column 19, byte 39: the key \"v\" appears twice"),
        "{written}"
    );
    assert!(
        reason(1).contains("line 3, column 16, byte 66: a NUL character"),
        "{written}"
    );
    assert!(
        reason(2).contains("line 4, column 16, byte 93: invalid UTF-8"),
        "{written}"
    );
}

#[test]
fn a_csv_record_with_the_wrong_number_of_fields_is_rejected_with_its_record_number() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(
        dir.path(),
        "short.csv",
        b"id,name\n1,ann\n2\n3,\"multi\nline\"\n4,bob,extra\n5,\xffx\n",
    );
    let target = fresh_database("docs_csv_rejects");
    let out = copy(&csv, &target, &[]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("short.csv, line 3, record 3: 1 fields where the header has 2"),
        "{}",
        stderr(&out)
    );
    let rejects = dir.path().join("r.jsonl");
    let out = copy(
        &csv,
        &target,
        &["--on-error", "skip", "--rejects", rejects.to_str().unwrap()],
    );
    assert_exit(&out, 3);
    assert_eq!(
        rows(&target, "SELECT id AS a, name AS b FROM short ORDER BY id"),
        [["1", "ann"], ["3", "multi\nline"]]
    );
    let written = std::fs::read_to_string(&rejects).unwrap();
    assert_eq!(written.lines().count(), 3, "{written}");
    // The quoted newline moves the next record down a line.
    assert!(
        written.contains("short.csv, line 6, record 5: 3 fields where the header has 2"),
        "{written}"
    );
    assert!(
        written.contains("short.csv, line 7, record 6: invalid UTF-8"),
        "{written}"
    );
}

#[test]
fn a_repeated_map_key_rejects_the_later_record() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "users.json",
        b"{\"ann\": {\"age\": 30},\n \"bob\": {\"age\": 40},\n \"ann\": {\"age\": 31}}",
    );
    let target = fresh_database("docs_repeated_key");
    let rejects = dir.path().join("r.jsonl");
    let out = copy(
        &file,
        &target,
        &["--on-error", "skip", "--rejects", rejects.to_str().unwrap()],
    );
    assert_exit(&out, 3);
    assert_eq!(
        rows(&target, "SELECT id AS a, age AS b FROM users ORDER BY id"),
        [["ann", "30"], ["bob", "40"]]
    );
    let written = std::fs::read_to_string(&rejects).unwrap();
    assert!(
        written.contains("users.json, line 3, column 9, byte 50: the key \\\"ann\\\" appears twice in one object"),
        "{written}"
    );
}

#[test]
fn a_postgresql_error_during_a_document_copy_names_the_file_and_the_line_of_the_row_in_our_words() {
    let dir = tempfile::tempdir().unwrap();
    let target = fresh_database("docs_pg_error");
    let mut client = target.connect().unwrap();
    client
        .batch_execute("CREATE TABLE items (id bigint PRIMARY KEY, n bigint CHECK (n > 0))")
        .unwrap();
    let file = write(dir.path(), "items.json", br#"[{"id": 1, "n": 5}, {"id": 2, "n": -1}]"#);
    let out = copy(&file, &target, &["--data-only"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("items.json: PostgreSQL refused the tables or rows godwit made of this file")
            && err.contains("the row it refused: ")
            && err.contains("items.json, line 1, column 21, byte 20 (id=2)")
            && err.contains("(23514)"),
        "{err}"
    );
    assert_eq!(value(&target, "SELECT count(*) AS a FROM items"), "0");

    // The row is counted as the copy sent it: records it rejected itself
    // (line 2, a NUL) are passed over.
    let lines = write(
        dir.path(),
        "items.ndjson",
        b"{\"id\": 1, \"n\": 5}\n{\"id\": 2, \"n\": 6, \"s\": \"a\\u0000\"}\n\n{\"id\": 3, \"n\": -1}\n",
    );
    let out = copy(&lines, &target, &["--data-only", "--on-error", "skip"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("items.ndjson, line 4, column 1, byte 53 (id=3)"), "{err}");
    // A CSV row is named by its line and record.
    let csv = write(dir.path(), "items.csv", b"id,n\n1,4\n2,0\n");
    let out = copy(&csv, &target, &["--data-only"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("items.csv, line 3, record 3 (id=2)"),
        "{}",
        stderr(&out)
    );
}
