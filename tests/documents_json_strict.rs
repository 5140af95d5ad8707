//! RFC 8259, exactly: every case of the public JSONTestSuite
//! (tests/data/jsontestsuite, MIT, from nst/JSONTestSuite `test_parsing/`)
//! that must be accepted is, every one that must be rejected is, with a
//! position, and the cases the RFC leaves to the parser are as
//! docs/documents.md says.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use godwit::source::documents::check_json;

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn suite() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/jsontestsuite");
    let mut cases: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    cases.sort();
    assert!(cases.len() >= 300, "the suite is there: {}", cases.len());
    cases
}

#[test]
fn every_valid_text_of_the_suite_is_accepted_and_planned_as_tables() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/jsontestsuite");
    let mapping = godwit::prepare::Mapping {
        config: godwit::config::Config::default(),
        schema: "public".into(),
        identifiers: Default::default(),
    };
    let mut refused = Vec::new();
    for (name, bytes) in suite().iter().filter(|(n, _)| n.starts_with("y_")) {
        if let Err(e) = check_json(bytes) {
            refused.push(format!("{name}: {e}"));
        }
        // As `plan` reads the file: a table, whatever the value's shape.
        let planned = godwit::source::open(dir.join(name).to_str().unwrap())
            .and_then(|source| godwit::prepare::describe_and_plan(source.as_ref(), &mapping, &|_, _| true));
        match planned {
            Ok((schema, _)) => assert!(!schema.tables.is_empty(), "{name}: no table"),
            Err(e) => refused.push(format!("{name}: plan: {e}")),
        }
    }
    assert!(refused.is_empty(), "{refused:#?}");
}

#[test]
fn every_invalid_text_of_the_suite_is_rejected_with_its_position() {
    let mut accepted = Vec::new();
    for (name, bytes) in suite().iter().filter(|(n, _)| n.starts_with("n_")) {
        match check_json(bytes) {
            Ok(()) => accepted.push(name.clone()),
            Err(e) => {
                assert!(e.at.line >= 1 && e.at.column >= 1, "{name}: {e}");
                assert!(e.at.offset <= bytes.len() as u64, "{name}: {e}");
                assert!(e.to_string().contains(&format!("byte {}", e.at.offset)), "{name}: {e}");
            }
        }
    }
    assert!(accepted.is_empty(), "{accepted:#?}");
}

/// The cases RFC 8259 leaves to the parser, as docs/documents.md lists
/// them: accepted (the value may still be rejected as a record when
/// PostgreSQL cannot hold it) or refused with a position.
#[test]
fn cases_left_to_the_parser_go_as_documented() {
    let refused: Vec<&str> = vec![
        "i_string_UTF-16LE_with_BOM.json",
        "i_string_utf16BE_no_BOM.json",
        "i_string_utf16LE_no_BOM.json",
    ];
    let mut seen = Vec::new();
    for (name, bytes) in suite().iter().filter(|(n, _)| n.starts_with("i_")) {
        let outcome = check_json(bytes);
        seen.push(format!("{name}: {outcome:?}"));
        assert_eq!(
            outcome.is_err(),
            refused.contains(&name.as_str()),
            "{name}: {outcome:?}"
        );
    }
    assert_eq!(seen.len(), 35, "{seen:#?}");
}

#[test]
fn an_empty_object_is_kept_apart_from_null() {
    let dir = tempfile::tempdir().unwrap();
    // JSON null is SQL NULL; `{}` is `{}`, and `{"value": 2}` is not `2`.
    let mixed = write(dir.path(), "mixed.json", br#"[null, 1, "1", {}, {"value": 2}]"#);
    let target = fresh_database("docs_empty_object");
    let out = copy(&mixed, &target, &[]);
    assert_exit(&out, 0);
    assert_eq!(
        rows(
            &target,
            "SELECT id AS a, coalesce(value::text, 'NULL') AS b FROM mixed ORDER BY id"
        ),
        [
            ["1", "NULL"],
            ["2", "1"],
            ["3", "\"1\""],
            ["4", "{}"],
            ["5", "{\"value\": 2}"]
        ]
    );
    let plan = godwit(&["plan", mixed.to_str().unwrap()]);
    assert!(
        stdout(&plan).contains("mixed: its records mix objects and other values: each is kept whole"),
        "{}",
        stdout(&plan)
    );
    // A field that is only ever `{}` is a JSON column, not no column.
    let nested = write(
        dir.path(),
        "nested.json",
        br#"[{"id": 1, "meta": {}}, {"id": 2, "meta": null}]"#,
    );
    let out = copy(&nested, &target, &[]);
    assert_exit(&out, 0);
    assert_eq!(
        rows(
            &target,
            "SELECT id AS a, coalesce(meta::text, 'NULL') AS b FROM nested ORDER BY id"
        ),
        [["1", "{}"], ["2", "NULL"]]
    );
}

#[test]
fn top_level_scalars_beside_collections_are_a_one_row_table_listed_by_plan() {
    let dir = tempfile::tempdir().unwrap();
    let dump = write(
        dir.path(),
        "dump.json",
        br#"{"x": [{"a": 1}, {"a": 2}], "id": "dump-1", "version": 3, "meta": null}"#,
    );
    let plan = godwit(&["plan", dump.to_str().unwrap()]);
    assert_exit(&plan, 0);
    let text = stdout(&plan);
    assert!(
        text.contains("dump: the top-level fields of")
            && text.contains("beside its collections (id, version, meta), kept as one row"),
        "{text}"
    );
    let target = fresh_database("docs_top_scalars");
    let out = copy(&dump, &target, &[]);
    assert_exit(&out, 0);
    assert_eq!(
        rows(&target, "SELECT id AS a, version AS b FROM dump"),
        [["dump-1", "3"]]
    );
    assert_eq!(value(&target, "SELECT count(*) AS a FROM x"), "2");
}

#[test]
fn empty_and_overlong_keys_get_a_recorded_column_name() {
    let dir = tempfile::tempdir().unwrap();
    let long = "k".repeat(70);
    let file = write(
        dir.path(),
        "keys.json",
        format!(r#"[{{"": 0, "{long}": 1, "{long}x": 2, "xmin": 3}}]"#).as_bytes(),
    );
    let target = fresh_database("docs_empty_key");
    let out = copy(&file, &target, &[]);
    assert_exit(&out, 0);
    let err = stderr(&out);
    assert!(!err.contains("zero-length delimited identifier"), "{err}");
    let cut = "k".repeat(63);
    let cut2 = format!("{}_2", "k".repeat(61));
    assert_eq!(
        rows(
            &target,
            &format!(r#"SELECT unnamed AS a, "{cut}" AS b, "{cut2}" AS c FROM keys"#)
        ),
        [["0", "1", "2"]]
    );
    let plan = godwit(&["plan", file.to_str().unwrap()]);
    assert!(
        stdout(&plan).contains(r#"keys: the field "" has no name PostgreSQL takes as it is (empty, longer than 63 bytes, or a system column's): its column is "unnamed""#),
        "{}",
        stdout(&plan)
    );
}

#[test]
fn numbers_beyond_postgresql_numeric_are_kept_as_their_text() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "huge.json",
        br#"[{"n": 1.5}, {"n": 123e-10000000}, {"n": 1E400}]"#,
    );
    let target = fresh_database("docs_huge_numbers");
    let out = copy(&file, &target, &[]);
    assert_exit(&out, 0);
    assert_eq!(
        rows(&target, "SELECT n AS a FROM huge ORDER BY id"),
        [["1.5"], ["123e-10000000"], ["1E400"]]
    );
}
