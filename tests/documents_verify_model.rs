//! `verify` of a document copy reuses the model `copy` recorded in the
//! target (godwit.document_models) instead of reading the file once more
//! to learn it, only when the file holds exactly the bytes the model was
//! learned from, and it is as strict either way: a changed value, a
//! missing row, an extra row and a file edited after the copy are all
//! differences (exit 4, the row named).

mod common;

use std::path::{Path, PathBuf};

use common::*;
use godwit::postgres::conn::ConnSpec;

const REUSED: &str = "reusing the model copy learned of";

/// 300 events with an id that counts up, nested items and a timestamp.
fn events(v_of_7: &str) -> String {
    let mut out = String::new();
    for i in 1..=300 {
        let v = if i == 7 {
            v_of_7.to_string()
        } else {
            (i * 3).to_string()
        };
        out.push_str(&format!(
            r#"{{"id": {i}, "v": {v}, "name": "n{i}", "at": "2024-01-0{}T10:00:00Z", "items": [{{"sku": "s{i}", "q": {i}}}]}}"#,
            1 + i % 9
        ));
        out.push('\n');
    }
    out
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn verify(file: &Path, target: &ConnSpec, extra: &[&str]) -> std::process::Output {
    let url = target.to_string();
    let mut args = vec!["verify", file.to_str().unwrap(), "--to", url.as_str()];
    args.extend_from_slice(extra);
    godwit(&args)
}

fn execute(target: &ConnSpec, sql: &str) {
    target.connect().unwrap().batch_execute(sql).unwrap();
}

/// JSON Lines and a JSON array: verify reuses the model, and a changed
/// value, a missing row and an extra row are still found, each named.
#[test]
fn verify_reuses_the_recorded_model_and_still_finds_changed_missing_and_extra_rows() {
    let dir = tempfile::tempdir().unwrap();
    let lines = write(dir.path(), "events.ndjson", &events("21"));
    let array_text = format!("[\n{}]\n", events("21").trim_end().replace('\n', ",\n"));
    let array = write(dir.path(), "events.json", &array_text);
    for file in [&lines, &array] {
        let target = fresh_database("docverify_reuse");
        assert_exit(&copy(file, &target, &[]), 0);
        let recorded = value(
            &target,
            "SELECT count(*) AS a FROM godwit.document_models WHERE schema = 'public'",
        );
        assert_eq!(recorded, "1");

        let equal = verify(file, &target, &[]);
        assert_exit(&equal, 0);
        assert!(stderr(&equal).contains(REUSED), "{}", stderr(&equal));

        execute(
            &target,
            "UPDATE events SET v = 0 WHERE id = 7;
             DELETE FROM events__items WHERE event_id = 9; DELETE FROM events WHERE id = 9;
             INSERT INTO events (id, v, name, at) VALUES (5000, 1, 'new', now());",
        );
        let differ = verify(file, &target, &[]);
        assert_exit(&differ, 4);
        let (out, err) = (stdout(&differ), stderr(&differ));
        assert!(err.contains(REUSED), "{err}");
        assert!(out.contains("1 changed: [7]"), "{out}");
        assert!(out.contains("v: source 21  target 0"), "{out}");
        assert!(out.contains("1 missing from the target: [9]"), "{out}");
        assert!(out.contains("1 extra in the target: [5000]"), "{out}");
    }
}

/// How many threads read the file and how it is cut are not part of
/// the model: a copy read in one piece serves a verify read in ranges.
#[test]
fn verify_reuses_the_model_whatever_the_reading_threads() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "events.ndjson", &events("21"));
    let one = write(dir.path(), "one.toml", "[documents]\nworkers = 1\n");
    let many = write(dir.path(), "many.toml", "[documents]\nworkers = 3\nrange_bytes = 200\n");
    let target = fresh_database("docverify_threads");
    assert_exit(&copy(&file, &target, &["--config", one.to_str().unwrap()]), 0);
    let out = verify(&file, &target, &["--config", many.to_str().unwrap()]);
    assert_exit(&out, 0);
    assert!(stderr(&out).contains(REUSED), "{}", stderr(&out));
}

/// A file edited after the copy is learned again, even when the edit
/// keeps its size and its modification time: the content hash differs.
#[test]
fn verify_learns_again_and_finds_the_row_when_the_file_changed_after_the_copy() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "events.ndjson", &events("21"));
    let target = fresh_database("docverify_edited");
    assert_exit(&copy(&file, &target, &[]), 0);

    // The same length, the modification time put back.
    let modified = std::fs::metadata(&file).unwrap().modified().unwrap();
    std::fs::write(&file, events("99")).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    let out = verify(&file, &target, &[]);
    assert_exit(&out, 4);
    let (text, err) = (stdout(&out), stderr(&out));
    assert!(
        err.contains("again: ") && err.contains("events.ndjson changed since the copy (the same size, other content)"),
        "{err}"
    );
    assert!(!err.contains(REUSED), "{err}");
    assert!(text.contains("1 changed: [7]"), "{text}");
    assert!(text.contains("v: source 99  target 21"), "{text}");

    // A record appended, with a field the copy never saw.
    let mut longer = events("21");
    longer.push_str(r#"{"id": 301, "v": 1, "name": "n301", "at": "2024-01-01T10:00:00Z", "items": [], "new": true}"#);
    longer.push('\n');
    std::fs::write(&file, longer).unwrap();
    let out = verify(&file, &target, &[]);
    assert_exit(&out, 4);
    let (text, err) = (stdout(&out), stderr(&out));
    assert!(err.contains("events.ndjson changed since the copy ("), "{err}");
    assert!(err.contains(" bytes then, "), "{err}");
    assert!(text.contains("1 missing from the target: [301]"), "{text}");
}

/// A target with no recorded model (copied by an older godwit, or the
/// record removed): verify learns the file, as before, just as strictly.
#[test]
fn verify_learns_when_copy_recorded_no_model() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "events.ndjson", &events("21"));
    let target = fresh_database("docverify_none");
    assert_exit(&copy(&file, &target, &[]), 0);
    execute(&target, "DROP TABLE godwit.document_models");

    let out = verify(&file, &target, &[]);
    assert_exit(&out, 0);
    let err = stderr(&out);
    assert!(
        err.contains("no model of it recorded by copy in schema public"),
        "{err}"
    );
    assert!(!err.contains(REUSED), "{err}");

    execute(&target, "UPDATE events SET name = 'x' WHERE id = 12");
    let out = verify(&file, &target, &[]);
    assert_exit(&out, 4);
    assert!(stdout(&out).contains("1 changed: [12]"), "{}", stdout(&out));
}

/// Settings that shape the model (here the nesting depth) differ from
/// the copy's: verify learns with its own.
#[test]
fn verify_learns_again_when_the_documents_settings_changed() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "events.ndjson", &events("21"));
    let shallow = write(dir.path(), "shallow.toml", "[documents]\nmax_depth = 1\n");
    let target = fresh_database("docverify_settings");
    assert_exit(&copy(&file, &target, &[]), 0);
    let out = verify(&file, &target, &["--config", shallow.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(
        err.contains("again: the copy read it in another format or with other [documents] settings"),
        "{err}"
    );
    assert!(!err.contains(REUSED), "{err}");
}

/// A directory of collection files (as the benchmark's data is) is
/// reused file by file; a file of it edited after the copy is found.
#[test]
fn verify_reuses_the_model_of_a_directory_and_finds_an_edited_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    write(&data, "events.ndjson", &events("21"));
    write(
        &data,
        "users.json",
        r#"[{"id": 1, "name": "ann"}, {"id": 2, "name": "bob"}]"#,
    );
    let target = fresh_database("docverify_dir");
    assert_exit(&copy(&data, &target, &[]), 0);
    let out = verify(&data, &target, &[]);
    assert_exit(&out, 0);
    assert!(stderr(&out).contains(REUSED), "{}", stderr(&out));

    write(
        &data,
        "users.json",
        r#"[{"id": 1, "name": "ann"}, {"id": 2, "name": "bot"}]"#,
    );
    let out = verify(&data, &target, &[]);
    assert_exit(&out, 4);
    let err = stderr(&out);
    assert!(
        err.contains("users.json changed since the copy (the same size, other content)"),
        "{err}"
    );
    assert!(stdout(&out).contains("1 changed: [2]"), "{}", stdout(&out));
}

/// A CSV file (its dialect found again from the same bytes) and an app
/// dump holding several collections in one file are reused too.
#[test]
fn verify_reuses_the_model_of_a_csv_file_and_of_a_dump_of_collections() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(
        dir.path(),
        "items.csv",
        "id;name;price\n1;apple;1.50\n2;pear;0.99\n3;fig;2.00\n",
    );
    let dump = write(
        dir.path(),
        "app.json",
        r#"{"version": 3, "users": [{"id": 1, "name": "ann"}, {"id": 2, "name": "bob"}],
            "orders": [{"id": 10, "user_id": 1, "total": 9.5}, {"id": 11, "user_id": 2, "total": 3}]}"#,
    );
    for (file, table, changed) in [(&csv, "items", "1 changed: [2]"), (&dump, "users", "1 changed: [2]")] {
        let target = fresh_database("docverify_kinds");
        assert_exit(&copy(file, &target, &[]), 0);
        let out = verify(file, &target, &[]);
        assert_exit(&out, 0);
        assert!(stderr(&out).contains(REUSED), "{}", stderr(&out));
        execute(&target, &format!("UPDATE {table} SET name = 'zed' WHERE id = 2"));
        let out = verify(file, &target, &[]);
        assert_exit(&out, 4);
        assert!(stderr(&out).contains(REUSED), "{}", stderr(&out));
        assert!(stdout(&out).contains(changed), "{}", stdout(&out));
    }
}
