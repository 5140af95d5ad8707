//! `godwit plan --format json` for every corpus file, snapshot-tested: the
//! plan is pure and deterministic, so any change in a type, cast or
//! translated expression shows up here for review.

mod common;

use common::*;

fn plan_json(file: &str) -> serde_json::Value {
    let path = corpus(file);
    let out = godwit(&["plan", path.to_str().unwrap(), "--format", "json"]);
    assert_exit(&out, 0);
    let mut json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    // The absolute path differs between machines.
    json["source"] = serde_json::Value::String(file.to_string());
    json
}

macro_rules! plan_snapshot {
    ($name:ident, $file:expr) => {
        #[test]
        fn $name() {
            insta::assert_json_snapshot!(plan_json($file));
        }
    };
}

plan_snapshot!(plan_chinook, "Chinook_Sqlite.sqlite");
plan_snapshot!(plan_chinook_autoincrement, "Chinook_Sqlite_AutoIncrementPKs.sqlite");
plan_snapshot!(plan_edge_cases, "sqlite.db");
plan_snapshot!(plan_web2py_storage, "storage.sqlite");
plan_snapshot!(plan_test_pk, "test_pk.db");
plan_snapshot!(plan_bad_utf8, "bad-utf8.db");
plan_snapshot!(plan_type_mismatch, "type-mismatch.db");
plan_snapshot!(plan_matviews, "matviews.sqlite");
plan_snapshot!(plan_cli_with, "cli_with.db");

#[test]
fn plan_collision_is_a_clear_usage_error() {
    let path = corpus("collision.db");
    let out = godwit(&["plan", path.to_str().unwrap()]);
    assert_exit(&out, 2);
    insta::assert_snapshot!(stderr(&out));
}

#[test]
fn plan_text_shows_ddl_casts_and_suggestions() {
    let path = corpus("sqlite.db");
    let out = godwit(&["plan", path.to_str().unwrap()]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("CREATE TABLE \"public\".\"reals\""), "{text}");
    assert!(text.contains("double precision"), "{text}");
    assert!(text.contains("→ numeric(20,6): exact decimal, scale 6"), "{text}");
    assert!(text.contains("Not migrated:"), "{text}");
}

#[test]
fn plan_touches_no_database() {
    let path = corpus("Chinook_Sqlite.sqlite");
    let out = std::process::Command::new(godwit_bin())
        .args(["plan", path.to_str().unwrap()])
        .env("DATABASE_URL", "postgresql://nobody:secret@127.0.0.1:1/none")
        .env("GODWIT_HOME", "/nonexistent")
        .output()
        .unwrap();
    assert_exit(&out, 0);
}
