//! Progress of long commands when stderr is not a terminal (a CI log): a
//! few plain lines per step, never a stream of redraws, and never anything
//! on stdout with --json.

mod common;

use common::*;
use serde_json::Value;

const APP: &str = "
CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);
INSERT INTO users VALUES (1, 'ann'), (2, 'bob');
CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER, title TEXT);
INSERT INTO posts VALUES (1, 1, 'hello'), (2, 2, 'again');
CREATE TABLE tags (name TEXT PRIMARY KEY);
INSERT INTO tags VALUES ('a'), ('b');
";

/// No carriage returns or terminal escapes: each line stands on its own.
fn assert_plain(text: &str) {
    assert!(!text.contains('\r'), "a redraw in {text:?}");
    assert!(!text.contains('\x1b'), "a terminal escape in {text:?}");
}

/// The progress lines of one step: `TASK: ...`.
fn lines_of<'a>(text: &'a str, task: &str) -> Vec<&'a str> {
    let prefix = format!("{task}: ");
    text.lines().filter(|l| l.starts_with(&prefix)).collect()
}

#[test]
fn verify_progress_is_a_few_plain_lines_and_none_with_json() {
    let db = fresh_database("progress_verify");
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite_file(dir.path(), "app.db", APP);
    assert_exit(&copy(&source, &db, &[]), 0);
    let url = db.to_string();

    let out = godwit(&["verify", source.to_str().unwrap(), "--to", &url]);
    assert_exit(&out, 0);
    let err = stderr(&out);
    assert_plain(&err);
    let progress = lines_of(&err, "verify");
    // The first table, and the last with the count complete; nothing between
    // unless ten seconds pass.
    assert!(!progress.is_empty() && progress.len() <= 3, "{err}");
    assert!(progress.last().unwrap().starts_with("verify: 3/3 tables ("), "{err}");

    let out = godwit(&["verify", source.to_str().unwrap(), "--to", &url, "--json"]);
    assert_exit(&out, 0);
    let json: Value = serde_json::from_str(&stdout(&out)).expect("stdout is the JSON document alone");
    assert_eq!(json["status"], "equal");
    assert!(lines_of(&stderr(&out), "verify").is_empty(), "{}", stderr(&out));
}

#[test]
fn backup_restore_and_proof_report_tables_as_they_go() {
    let db = fresh_database("progress_backup");
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite_file(dir.path(), "app.db", APP);
    assert_exit(&copy(&source, &db, &[]), 0);
    let backups = dir.path().join("backups");
    let url = db.to_string();

    let out = godwit(&[
        "backup",
        "--to",
        &url,
        "--dir",
        backups.to_str().unwrap(),
        "--jobs",
        "2",
    ]);
    assert_exit(&out, 0);
    let err = stderr(&out);
    assert_plain(&err);
    // pg_dump --verbose names each table; the line also gives the bytes written.
    let dumped = lines_of(&err, "backup");
    assert!(!dumped.is_empty() && dumped.len() <= 3, "{err}");
    let last = dumped.last().unwrap();
    assert!(last.contains("tables (") && last.contains(" written, "), "{err}");
    let path = stdout(&out).trim().to_string();

    // Restoring into a scratch database and proving it against the manifest.
    let out = godwit(&["backup", "verify", &path, "--to", &server().to_string()]);
    assert_exit(&out, 0);
    let err = stderr(&out);
    assert_plain(&err);
    assert!(!lines_of(&err, "restore").is_empty(), "{err}");
    let proof = lines_of(&err, "proof");
    let last = proof.last().unwrap_or_else(|| panic!("no proof progress: {err}"));
    let (done, total) = last["proof: ".len()..]
        .split_once(' ')
        .unwrap()
        .0
        .split_once('/')
        .unwrap();
    assert_eq!(done, total, "the last line is the whole proof: {err}");

    let out = godwit(&["backup", "--to", &url, "--dir", backups.to_str().unwrap(), "--json"]);
    assert_exit(&out, 0);
    let json: Value = serde_json::from_str(&stdout(&out)).expect("stdout is the JSON document alone");
    assert!(json["tables"].as_u64().unwrap() >= 3);
    assert!(lines_of(&stderr(&out), "backup").is_empty(), "{}", stderr(&out));
}

#[test]
fn maintain_counts_its_steps_and_keeps_json_clean() {
    let db = fresh_database("progress_maintain");
    let mut client = db.connect().unwrap();
    client
        .batch_execute(
            "CREATE TABLE t (id int PRIMARY KEY, v text);
             INSERT INTO t SELECT g, 'x' FROM generate_series(1, 200) g;
             ALTER TABLE t ADD CONSTRAINT positive CHECK (id > 0) NOT VALID;
             ALTER TABLE t ADD CONSTRAINT short CHECK (length(v) < 5) NOT VALID;",
        )
        .unwrap();
    let url = db.to_string();
    let out = godwit(&["maintain", "--to", &url]);
    let err = stderr(&out);
    assert_plain(&err);
    let steps = lines_of(&err, "maintain");
    let last = steps.last().unwrap_or_else(|| panic!("no maintain progress: {err}"));
    assert!(last.starts_with("maintain: 2/2 steps (ALTER TABLE"), "{err}");

    let out = godwit(&["maintain", "--to", &url, "--json"]);
    serde_json::from_str::<Value>(&stdout(&out)).expect("stdout is the JSON document alone");
    assert!(lines_of(&stderr(&out), "maintain").is_empty(), "{}", stderr(&out));
}
