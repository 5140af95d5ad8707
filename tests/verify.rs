//! `godwit verify` against a real server: a clean copy verifies clean, and
//! every kind of tampering with the target is found with the right key.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use godwit::postgres::conn::ConnSpec;
use serde_json::{Value, json};

const APP: &str = r#"
CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    note TEXT,
    data BLOB,
    created DATETIME,
    flag BOOLEAN,
    price NUMERIC(10,2),
    doc JSON,
    uid UUID
);
INSERT INTO items VALUES (1, 'one', 'n1', x'00ff10', 1709296496123, 1, 1.5, '{"b": [1, 2.0], "a": {"y": null, "x": "s"}}', '0e984725c51c4bf49960e1c80e27aba0');
INSERT INTO items VALUES (2, 'two', '', x'', 1709296497000, 0, 2, '[]', '1F984725-C51C-4BF4-9960-E1C80E27ABA1');
INSERT INTO items VALUES (3, 'three', NULL, NULL, 1709296498000, NULL, NULL, NULL, NULL);
INSERT INTO items VALUES (4, 'four', 'n4', x'0102', 1709296499001, 1, 12345678.99, '{"n": 1e2}', '2a984725c51c4bf49960e1c80e27aba2');
INSERT INTO items VALUES (5, 'five', NULL, x'aa', 1709296500000, 0, 0.01, '"text"', NULL);
-- A text key whose byte order differs from case-insensitive and locale order.
CREATE TABLE tags (code TEXT PRIMARY KEY COLLATE NOCASE, label TEXT);
INSERT INTO tags VALUES ('Zeta', 'z'), ('alpha', 'a'), ('Beta', 'b'), ('éclair', 'e'), ('_x', 'x');
CREATE TABLE pairs (a INTEGER, b TEXT, v REAL, PRIMARY KEY (a, b)) WITHOUT ROWID;
INSERT INTO pairs VALUES (1, 'x', 0.1), (1, 'y', -0.0), (2, 'x', 1e300), (-3, 'z', 2.5);
-- No key: compared as a multiset of rows, duplicates included.
CREATE TABLE log (msg TEXT, n INTEGER);
INSERT INTO log VALUES ('a', 1), ('a', 1), ('b', 2), (NULL, NULL);
-- No key, and JSON that jsonb prints in another key order and spacing.
CREATE TABLE audit (doc JSON, at DATETIME);
INSERT INTO audit VALUES ('{"bb": 1, "a": [2.0, {"z":null,"y":true}]}', '2024-03-01 10:00:00'), ('{"bb": 1, "a": [2.0, {"z":null,"y":true}]}', '2024-03-01 10:00:00'), ('[]', NULL);
"#;

fn app(dir: &Path) -> PathBuf {
    sqlite_file(dir, "app.db", APP)
}

fn verify(source: &Path, target: &ConnSpec, extra: &[&str]) -> std::process::Output {
    let url = target.to_string();
    let mut args = vec!["verify", source.to_str().unwrap(), "--to", url.as_str()];
    args.extend_from_slice(extra);
    godwit(&args)
}

/// Runs verify --json; returns the exit code and the document.
fn verify_json(source: &Path, target: &ConnSpec, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    let out = verify(source, target, &args);
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| {
        panic!(
            "verify --json output is not JSON ({e}):\n{}\n{}",
            stdout(&out),
            stderr(&out)
        )
    });
    (out.status.code().unwrap_or(-1), doc)
}

fn table<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == name)
        .unwrap_or_else(|| panic!("no table {name} in {doc:#}"))
}

fn execute(target: &ConnSpec, sql: &str) {
    target.connect().unwrap().batch_execute(sql).unwrap();
}

/// Copies the app into a fresh database.
fn copied(prefix: &str) -> (tempfile::TempDir, PathBuf, ConnSpec) {
    let dir = tempfile::tempdir().unwrap();
    let source = app(dir.path());
    let target = fresh_database(prefix);
    assert_exit(&copy(&source, &target, &[]), 0);
    (dir, source, target)
}

/// Tampers with a clean copy and checks that exactly `table` differs, with
/// `kind` (missing, extra or changed) listing exactly `keys`.
fn tampered(prefix: &str, sql: &str, table_name: &str, kind: &str, keys: Value) -> Value {
    let (_dir, source, target) = copied(prefix);
    execute(&target, sql);
    let (code, doc) = verify_json(&source, &target, &[]);
    assert_eq!(code, 4, "{doc:#}");
    assert_eq!(doc["status"], "different");
    for t in doc["tables"].as_array().unwrap() {
        let expected = if t["table"] == table_name { "different" } else { "equal" };
        assert_eq!(t["status"], expected, "{t:#}");
    }
    let t = table(&doc, table_name);
    assert_eq!(t[kind], keys, "{t:#}");
    for other in ["missing", "extra", "changed"].iter().filter(|k| **k != kind) {
        assert_eq!(t[*other], json!([]), "{t:#}");
    }
    t.clone()
}

#[test]
fn a_clean_copy_verifies_clean() {
    let (_dir, source, target) = copied("verify_clean");
    let (code, doc) = verify_json(&source, &target, &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["status"], "equal");
    let items = table(&doc, "items");
    assert_eq!(items["rows_source"], 5);
    assert_eq!(items["rows_target"], 5);
    assert_eq!(items["key"], json!(["id"]));
    assert_eq!(items["missing_count"], 0);
    assert_eq!(table(&doc, "tags")["method"], "merge");
    let log = table(&doc, "log");
    assert_eq!(log["key"], Value::Null);
    assert_eq!(log["missing_hashes"], 0);
    assert_eq!(log["extra_hashes"], 0);
    assert_eq!(log["rows_source"], 4);
    assert_eq!(table(&doc, "audit")["status"], "equal");

    // Human output names every table and says so.
    let out = verify(&source, &target, &[]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("the target equals the source"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn an_updated_cell_is_changed_with_a_column_diff() {
    let t = tampered(
        "verify_update",
        "UPDATE items SET name = 'TWO' WHERE id = 2",
        "items",
        "changed",
        json!([[2]]),
    );
    assert_eq!(
        t["diffs"],
        json!([{"key": [2], "columns": [{"column": "name", "source": "\"two\"", "target": "\"TWO\""}]}])
    );
}

#[test]
fn a_deleted_row_is_missing() {
    tampered(
        "verify_delete",
        "DELETE FROM items WHERE id = 3",
        "items",
        "missing",
        json!([[3]]),
    );
}

#[test]
fn an_inserted_row_is_extra() {
    tampered(
        "verify_insert",
        "INSERT INTO items (id, name) VALUES (100, 'new')",
        "items",
        "extra",
        json!([[100]]),
    );
}

#[test]
fn one_blob_byte_is_a_change() {
    tampered(
        "verify_blob",
        "UPDATE items SET data = set_byte(data, 1, 254) WHERE id = 1",
        "items",
        "changed",
        json!([[1]]),
    );
}

#[test]
fn a_one_microsecond_shift_is_a_change() {
    let t = tampered(
        "verify_micro",
        "UPDATE items SET created = created + interval '1 microsecond' WHERE id = 4",
        "items",
        "changed",
        json!([[4]]),
    );
    let column = &t["diffs"][0]["columns"][0];
    assert_eq!(column["column"], "created");
    assert_eq!(column["source"], "2024-03-01 12:34:59.001000+00");
    assert_eq!(column["target"], "2024-03-01 12:34:59.001001+00");
}

#[test]
fn null_turned_into_empty_text_is_a_change() {
    let t = tampered(
        "verify_null",
        "UPDATE items SET note = '' WHERE id = 3",
        "items",
        "changed",
        json!([[3]]),
    );
    assert_eq!(t["diffs"][0]["columns"][0]["source"], "NULL");
    assert_eq!(t["diffs"][0]["columns"][0]["target"], "\"\"");
}

#[test]
fn one_character_of_a_text_key_table_is_a_change() {
    tampered(
        "verify_textkey",
        "UPDATE tags SET label = 'É' WHERE code = 'éclair'",
        "tags",
        "changed",
        json!([["éclair"]]),
    );
}

#[test]
fn json_documents_and_booleans_compare_by_value() {
    // A different JSON document (not just spelling) is found.
    tampered(
        "verify_json",
        r#"UPDATE items SET doc = '{"n": 101}' WHERE id = 4"#,
        "items",
        "changed",
        json!([[4]]),
    );
    tampered(
        "verify_bool",
        "UPDATE items SET flag = NOT flag WHERE id = 5",
        "items",
        "changed",
        json!([[5]]),
    );
}

#[test]
fn composite_keys_are_reported_as_lists() {
    tampered(
        "verify_composite",
        "DELETE FROM pairs WHERE a = 1 AND b = 'y'",
        "pairs",
        "missing",
        json!([[1, "y"]]),
    );
}

#[test]
fn keyless_tables_report_row_counts_by_content() {
    let (_dir, source, target) = copied("verify_keyless");
    execute(
        &target,
        "DELETE FROM log WHERE ctid IN (SELECT ctid FROM log WHERE msg = 'a' LIMIT 1); INSERT INTO log VALUES ('c', 3)",
    );
    let (code, doc) = verify_json(&source, &target, &[]);
    assert_eq!(code, 4);
    let log = table(&doc, "log");
    assert_eq!(log["status"], "different");
    assert_eq!(log["missing_hashes"], 1);
    assert_eq!(log["extra_hashes"], 1);
    assert!(log.get("missing").is_none(), "{log:#}");
}

#[test]
fn keyless_tables_compare_json_by_value() {
    let (_dir, source, target) = copied("verify_keyless_json");
    execute(
        &target,
        r#"UPDATE audit SET doc = '{"bb": 1, "a": [2.0, {"z": null, "y": false}]}' WHERE ctid IN (SELECT ctid FROM audit WHERE doc ? 'bb' LIMIT 1)"#,
    );
    let (code, doc) = verify_json(&source, &target, &[]);
    assert_eq!(code, 4);
    let audit = table(&doc, "audit");
    assert_eq!(audit["missing_hashes"], 1, "{audit:#}");
    assert_eq!(audit["extra_hashes"], 1, "{audit:#}");
    assert_eq!(table(&doc, "log")["status"], "equal");
}

#[test]
fn long_key_lists_are_capped_with_totals() {
    let (_dir, source, target) = copied("verify_cap");
    execute(&target, "DELETE FROM items WHERE id IN (1, 2, 4)");
    let (code, doc) = verify_json(&source, &target, &["--max-keys", "2"]);
    assert_eq!(code, 4);
    let items = table(&doc, "items");
    assert_eq!(items["missing"], json!([[1], [2]]));
    assert_eq!(items["missing_count"], 3);
}

#[test]
fn human_output_names_tables_keys_and_columns() {
    let (_dir, source, target) = copied("verify_human");
    execute(
        &target,
        "UPDATE items SET note = 'changed' WHERE id = 1; DELETE FROM tags WHERE code = 'Zeta'",
    );
    let out = verify(&source, &target, &[]);
    assert_exit(&out, 4);
    let text = stdout(&out);
    assert!(text.contains("items differs"), "{text}");
    assert!(text.contains("1 changed: [1]"), "{text}");
    assert!(text.contains("note: source \"n1\"  target \"changed\""), "{text}");
    assert!(text.contains("1 missing from the target: [\"Zeta\"]"), "{text}");
    assert!(stderr(&out).contains("items: different"), "{}", stderr(&out));
}

#[test]
fn a_missing_target_table_is_a_difference() {
    let (_dir, source, target) = copied("verify_droptable");
    execute(&target, "DROP TABLE pairs");
    let (code, doc) = verify_json(&source, &target, &[]);
    assert_eq!(code, 4);
    let pairs = table(&doc, "pairs");
    assert_eq!(pairs["target_missing"], true);
    assert_eq!(pairs["missing_count"], 4);
}

#[test]
fn copy_verify_runs_verify_after_the_copy() {
    let dir = tempfile::tempdir().unwrap();
    let source = app(dir.path());
    let target = fresh_database("verify_copyflag");
    let out = copy(&source, &target, &["--verify"]);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("the target equals the source"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn config_renames_and_skips_are_followed() {
    let dir = tempfile::tempdir().unwrap();
    let source = app(dir.path());
    let config = dir.path().join("godwit.toml");
    std::fs::write(
        &config,
        "[tables.log]\nskip = true\n\n[tables.tags]\nrename = \"labels\"\n\n[tables.items.columns.note]\nrename = \"remark\"\n",
    )
    .unwrap();
    let target = fresh_database("verify_config");
    let config_arg = config.to_str().unwrap();
    assert_exit(&copy(&source, &target, &["--config", config_arg]), 0);
    let (code, doc) = verify_json(&source, &target, &["--config", config_arg]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(table(&doc, "tags")["target_table"], "labels");
    assert!(doc["tables"].as_array().unwrap().iter().all(|t| t["table"] != "log"));
    execute(&target, "UPDATE items SET remark = 'x' WHERE id = 1");
    let (code, doc) = verify_json(&source, &target, &["--config", config_arg]);
    assert_eq!(code, 4);
    assert_eq!(table(&doc, "items")["changed"], json!([[1]]));
}

#[test]
fn bad_usage_exits_2_and_an_unreachable_target_exits_1() {
    let out = godwit(&["verify"]);
    assert_exit(&out, 2);
    let dir = tempfile::tempdir().unwrap();
    let source = app(dir.path());
    let out = godwit(&[
        "verify",
        source.to_str().unwrap(),
        "--to",
        "postgresql://nobody@127.0.0.1:1/none",
    ]);
    assert_exit(&out, 1);
}

const FRAMEWORK_SOURCE: &str = r#"
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    uid TEXT NOT NULL,
    payload TEXT,
    active INTEGER NOT NULL,
    at INTEGER NOT NULL,
    amount REAL
);
INSERT INTO events VALUES (1, '0e984725c51c4bf49960e1c80e27aba0', '{"k": [1, 2], "a": 1.0}', 1, 1709296496123, 10.1);
INSERT INTO events VALUES (2, '1F984725-C51C-4BF4-9960-E1C80E27ABA1', NULL, 0, 1709296497000, 0.125);
INSERT INTO events VALUES (3, '2a984725c51c4bf49960e1c80e27aba2', '"s"', 1, 1709296498999, 3);
"#;

const FRAMEWORK_TARGET: &str = r#"
CREATE TABLE events (
    id bigint PRIMARY KEY,
    uid uuid NOT NULL,
    payload jsonb,
    active boolean NOT NULL,
    at timestamptz NOT NULL,
    amount numeric(12,3),
    created_by text NOT NULL DEFAULT 'import'
);
"#;

#[test]
fn data_only_copies_into_framework_types_verify_clean() {
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite_file(dir.path(), "events.db", FRAMEWORK_SOURCE);
    let target = fresh_database("verify_dataonly");
    execute(&target, FRAMEWORK_TARGET);
    let out = copy(&source, &target, &["--data-only", "--verify"]);
    assert_exit(&out, 0);
    let (code, doc) = verify_json(&source, &target, &[]);
    assert_eq!(code, 0, "{doc:#}");
    let events = table(&doc, "events");
    assert_eq!(events["rows_target"], 3);

    execute(
        &target,
        "UPDATE events SET at = at + interval '1 millisecond' WHERE id = 3; \
         UPDATE events SET payload = '{\"k\": [1, 2], \"a\": 2}' WHERE id = 1; \
         UPDATE events SET active = true WHERE id = 2",
    );
    let (code, doc) = verify_json(&source, &target, &[]);
    assert_eq!(code, 4);
    assert_eq!(table(&doc, "events")["changed"], json!([[1], [2], [3]]));
}

#[test]
fn a_hand_loaded_framework_schema_verifies_like_data_only() {
    // What copy --data-only writes, loaded by hand: uuid from hex, jsonb from
    // text, boolean from 0/1, timestamptz from epoch milliseconds.
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite_file(dir.path(), "events.db", FRAMEWORK_SOURCE);
    let target = fresh_database("verify_byhand");
    execute(&target, FRAMEWORK_TARGET);
    execute(
        &target,
        r#"INSERT INTO events (id, uid, payload, active, at, amount) VALUES
           (1, '0e984725-c51c-4bf4-9960-e1c80e27aba0', '{"a": 1.0, "k": [1, 2]}', true, to_timestamp(1709296496.123), 10.1),
           (2, '1f984725-c51c-4bf4-9960-e1c80e27aba1', NULL, false, to_timestamp(1709296497), 0.125),
           (3, '2a984725-c51c-4bf4-9960-e1c80e27aba2', '"s"', true, to_timestamp(1709296498.999), 3)"#,
    );
    let (code, doc) = verify_json(&source, &target, &[]);
    assert_eq!(code, 0, "{doc:#}");
    execute(
        &target,
        "UPDATE events SET uid = '2a984725-c51c-4bf4-9960-e1c80e27aba3' WHERE id = 3",
    );
    let (code, doc) = verify_json(&source, &target, &[]);
    assert_eq!(code, 4);
    assert_eq!(table(&doc, "events")["changed"], json!([[3]]));
}

#[test]
fn keys_a_cast_reorders_fall_back_to_hashing() {
    // Mixed-case hex UUID keys: SQLite's text order is not uuid order.
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite_file(
        dir.path(),
        "u.db",
        "CREATE TABLE u (id UUID PRIMARY KEY, v TEXT);
         INSERT INTO u VALUES ('a0000000000000000000000000000000', 'lower'),
                              ('B0000000000000000000000000000000', 'upper'),
                              ('10000000-0000-0000-0000-000000000000', 'dashed'),
                              ('c0000000000000000000000000000000', 'last');",
    );
    let target = fresh_database("verify_reorder");
    assert_exit(&copy(&source, &target, &[]), 0);
    let (code, doc) = verify_json(&source, &target, &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(table(&doc, "u")["method"], "hash");
    execute(&target, "DELETE FROM u WHERE v = 'upper'");
    let (code, doc) = verify_json(&source, &target, &[]);
    assert_eq!(code, 4);
    assert_eq!(
        table(&doc, "u")["missing"],
        json!([["b0000000-0000-0000-0000-000000000000"]])
    );
}

#[test]
fn a_large_table_is_compared_in_key_ranges_without_losing_rows_at_the_edges() {
    // 600,000 rows: split into three key ranges, open-ended at both ends.
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite_file(
        dir.path(),
        "big.db",
        "CREATE TABLE big (id INTEGER PRIMARY KEY, v TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 600000)
         INSERT INTO big SELECT i * 2, 'v' || i FROM n;",
    );
    let target = fresh_database("verify_ranges");
    assert_exit(&copy(&source, &target, &[]), 0);
    let (code, doc) = verify_json(&source, &target, &[]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(table(&doc, "big")["rows_target"], 600_000);
    execute(
        &target,
        "DELETE FROM big WHERE id IN (2, 400002, 1200000);
         INSERT INTO big VALUES (-5, 'before'), (400003, 'between'), (9999999, 'after');
         UPDATE big SET v = 'x' WHERE id IN (400000, 800002)",
    );
    let (code, doc) = verify_json(&source, &target, &[]);
    assert_eq!(code, 4);
    let big = table(&doc, "big");
    assert_eq!(big["missing"], json!([[2], [400002], [1200000]]), "{big:#}");
    assert_eq!(big["extra"], json!([[-5], [400003], [9999999]]), "{big:#}");
    assert_eq!(big["changed"], json!([[400000], [800002]]), "{big:#}");
    assert_eq!(big["rows_source"], 600_000);
    assert_eq!(big["rows_target"], 600_000);
}

#[test]
fn differences_in_the_rows_at_batch_boundaries_are_found() {
    // Rows travel from each side in batches of 2048: rows 2048 and 2049
    // end one batch and start the next, 4096 ends the second.
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite_file(
        dir.path(),
        "batches.db",
        "CREATE TABLE b (id INTEGER PRIMARY KEY, v TEXT, n NUMERIC);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 6145)
         INSERT INTO b SELECT i, 'v' || i, i * 0.25 FROM n;",
    );
    let target = fresh_database("verify_batch_edges");
    assert_exit(&copy(&source, &target, &[]), 0);
    let (code, doc) = verify_json(&source, &target, &[]);
    assert_eq!(code, 0, "{doc:#}");
    execute(
        &target,
        "UPDATE b SET v = 'x' WHERE id IN (1, 2048, 4097);
         UPDATE b SET n = n + 0.01 WHERE id = 2049;
         DELETE FROM b WHERE id IN (4096, 6145);
         INSERT INTO b VALUES (6146, 'after', 1)",
    );
    let (code, doc) = verify_json(&source, &target, &[]);
    assert_eq!(code, 4, "{doc:#}");
    let b = table(&doc, "b");
    assert_eq!(b["changed"], json!([[1], [2048], [2049], [4097]]), "{b:#}");
    assert_eq!(b["missing"], json!([[4096], [6145]]), "{b:#}");
    assert_eq!(b["extra"], json!([[6146]]), "{b:#}");
    assert_eq!(b["rows_source"], 6145);
    assert_eq!(b["rows_target"], 6144);
}

#[test]
fn copy_verify_keeps_3_for_review_items_and_exits_4_for_rejected_rows() {
    let dir = tempfile::tempdir().unwrap();
    // A trigger is not migrated (exit 3), but every row arrives: verify is clean.
    let with_trigger = sqlite_file(
        dir.path(),
        "trigger.db",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
         INSERT INTO t VALUES (1, 'a'), (2, 'b');
         CREATE TRIGGER t_touch AFTER UPDATE ON t BEGIN UPDATE t SET v = v WHERE id = 0; END;",
    );
    let out = copy(&with_trigger, &fresh_database("verify_review"), &["--verify"]);
    assert_exit(&out, 3);
    assert!(
        stdout(&out).contains("the target equals the source"),
        "{}",
        stdout(&out)
    );

    // A rejected row is legitimately missing: copy --verify says so with exit 4.
    let with_bad_value = sqlite_file(
        dir.path(),
        "reject.db",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER);
         INSERT INTO t VALUES (1, 10), (2, 'not a number'), (3, 30);",
    );
    let rejects = dir.path().join("rejects.jsonl");
    let out = copy(
        &with_bad_value,
        &fresh_database("verify_reject"),
        &["--verify", "--on-error", "skip", "--rejects", rejects.to_str().unwrap()],
    );
    assert_exit(&out, 4);
    assert!(
        stdout(&out).contains("1 missing from the target: [2]"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn uuid_from_int_keys_and_array_casts_verify_by_hash() {
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite_file(
        dir.path(),
        "users.db",
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, tags TEXT);
         CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id), body TEXT);
         INSERT INTO users VALUES (1, 'ada', 'a,b'), (2, 'bob', ''), (3, 'eve', NULL);
         INSERT INTO posts VALUES (10, 1, 'hello'), (11, 3, 'hi');",
    );
    let config = dir.path().join("godwit.toml");
    std::fs::write(
        &config,
        "[[cast]]\ncolumn = \"users.id\"\nto = \"uuid\"\nusing = \"uuid-from-int\"\n\n\
         [[cast]]\ncolumn = \"users.tags\"\nto = \"text[]\"\nusing = \"split(',')\"\n",
    )
    .unwrap();
    let config_arg = config.to_str().unwrap();
    let target = fresh_database("verify_uuidint");
    assert_exit(&copy(&source, &target, &["--config", config_arg]), 0);
    let (code, doc) = verify_json(&source, &target, &["--config", config_arg]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(table(&doc, "users")["method"], "hash");
    execute(
        &target,
        "UPDATE users SET tags = '{a,c}' WHERE name = 'ada'; UPDATE posts SET user_id = NULL WHERE id = 11",
    );
    let (code, doc) = verify_json(&source, &target, &["--config", config_arg]);
    assert_eq!(code, 4);
    let users = table(&doc, "users");
    assert_eq!(users["changed_count"], 1, "{users:#}");
    assert_eq!(users["diffs"][0]["columns"][0]["column"], "tags", "{users:#}");
    assert_eq!(table(&doc, "posts")["changed"], json!([[11]]));
}
