//! Every file of the shared corpus copies with every table's row count
//! equal, or fails with a clear message under `--on-error stop` and loads
//! everything else under `--on-error skip`.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;

fn corpus_files() -> Vec<std::path::PathBuf> {
    let dir = corpus("Chinook_Sqlite.sqlite").parent().unwrap().to_path_buf();
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 10, "corpus looks incomplete: {files:?}");
    files
}

fn source_counts(path: &Path) -> BTreeMap<String, i64> {
    let conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .unwrap();
    let tables: Vec<String> = stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
    tables
        .into_iter()
        .map(|t| {
            let n: i64 = conn
                .query_row(
                    &format!("SELECT count(*) FROM \"{}\"", t.replace('"', "\"\"")),
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            (t, n)
        })
        .collect()
}

fn target_count(target: &godwit::postgres::conn::ConnSpec, table: &str) -> i64 {
    value(
        target,
        &format!("SELECT count(*) AS a FROM public.\"{}\"", table.replace('"', "\"\"")),
    )
    .parse()
    .unwrap()
}

#[test]
fn every_corpus_file_copies_exactly_or_fails_clearly() {
    for file in corpus_files() {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let counts = source_counts(&file);
        let target = fresh_database("corpus_stop");
        let out = copy(&file, &target, &[]);
        match out.status.code() {
            Some(0) | Some(3) => {
                for (table, n) in &counts {
                    assert_eq!(target_count(&target, table), *n, "{name}: table {table}");
                }
            }
            Some(1) => {
                let err = stderr(&out);
                assert!(
                    err.contains("table ") && err.contains("row ") && err.contains("column "),
                    "{name}: unclear error: {err}"
                );
                assert!(err.contains("nothing was written"), "{name}: {err}");
                assert_eq!(
                    value(
                        &target,
                        "SELECT count(*) AS a FROM pg_tables WHERE schemaname = 'public'"
                    ),
                    "0",
                    "{name}"
                );
            }
            Some(2) => {
                let err = stderr(&out);
                assert!(
                    err.contains("63") && err.contains("godwit.toml"),
                    "{name}: unclear usage error: {err}"
                );
            }
            other => panic!("{name}: exit {other:?}\n{}", stderr(&out)),
        }
    }
}

#[test]
fn every_corpus_file_loads_everything_else_under_skip() {
    let dir = tempfile::tempdir().unwrap();
    for file in corpus_files() {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let counts = source_counts(&file);
        let target = fresh_database("corpus_skip");
        let rejects = dir.path().join(format!("{name}.jsonl"));
        let out = copy(
            &file,
            &target,
            &["--on-error", "skip", "--rejects", rejects.to_str().unwrap()],
        );
        let code = out.status.code();
        if code == Some(2) {
            assert_eq!(
                name,
                "collision.db",
                "only the name collision is a usage error: {}",
                stderr(&out)
            );
            continue;
        }
        assert!(
            code == Some(0) || code == Some(3),
            "{name}: exit {code:?}\n{}",
            stderr(&out)
        );
        let mut rejected: BTreeMap<String, i64> = BTreeMap::new();
        if let Ok(text) = std::fs::read_to_string(&rejects) {
            assert_eq!(code, Some(3), "{name}: rejects written but exit 0");
            for line in text.lines() {
                let record: serde_json::Value = serde_json::from_str(line).unwrap();
                for field in ["table", "key", "column", "reason", "value"] {
                    assert!(!record[field].is_null(), "{name}: reject without {field}: {line}");
                }
                *rejected
                    .entry(record["table"].as_str().unwrap().to_string())
                    .or_default() += 1;
            }
        }
        for (table, n) in &counts {
            let loaded = target_count(&target, table);
            assert_eq!(
                loaded + rejected.get(table).copied().unwrap_or(0),
                *n,
                "{name}: table {table}"
            );
        }
    }
}

#[test]
fn regression_bad_utf8_names_the_row() {
    let target = fresh_database("bad_utf8");
    let out = copy(&corpus("bad-utf8.db"), &target, &[]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("table files, row id=2, column filename: invalid UTF-8 (byte 0x96"),
        "{err}"
    );
}

#[test]
fn regression_type_mismatch_names_the_value() {
    let target = fresh_database("type_mismatch");
    let out = copy(&corpus("type-mismatch.db"), &target, &[]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("column qty: text \"lots-of-it\" is not an integer"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn regression_collision_is_reported_before_any_work() {
    let target = fresh_database("collision");
    let out = copy(&corpus("collision.db"), &target, &[]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("col_very_long_name_that_exceeds_postgresql_identifier_limit_aaax") && err.contains("64 bytes"),
        "{err}"
    );
    // A rename in godwit.toml resolves it.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("godwit.toml");
    std::fs::write(
        &config,
        "[tables.products.columns.col_very_long_name_that_exceeds_postgresql_identifier_limit_aaax]\nrename = \"long_x\"\n\
         [tables.products.columns.col_very_long_name_that_exceeds_postgresql_identifier_limit_aaay]\nrename = \"long_y\"\n",
    )
    .unwrap();
    let out = copy(
        &corpus("collision.db"),
        &target,
        &["--config", config.to_str().unwrap()],
    );
    assert_exit(&out, 0);
    assert_eq!(
        value(&target, "SELECT count(long_x) + count(long_y) >= 0 AS a FROM products"),
        "true"
    );
}
