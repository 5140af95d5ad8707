//! Queries captured from a real framework's logging: the SQLAlchemy test
//! app (tests/framework/app) writes its data on SQLite and runs its usual
//! reads with a cursor-execute listener logging each statement and its
//! parameters (tests/framework/capture_queries.py). `godwit copy` moves
//! the file, and `godwit workload` replays the log on both engines.
//!
//! The Python packages come from target/framework-venv, which
//! framework_alembic.rs also uses: made on first use from
//! tests/framework/requirements.txt, under the same lock and marker.

mod common;

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{run_setup, target_dir};

fn framework_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/framework")
}

fn framework_python() -> PathBuf {
    let requirements_path = framework_dir().join("requirements.txt");
    let requirements = fs::read_to_string(&requirements_path).unwrap();
    let venv = target_dir().join("framework-venv");
    let python = venv.join("bin/python");
    let marker = venv.join("godwit-requirements.txt");
    fs::create_dir_all(target_dir()).unwrap();
    let lock = File::create(target_dir().join("framework-venv.lock")).unwrap();
    lock.lock().unwrap();
    if fs::read_to_string(&marker).is_ok_and(|installed| installed == requirements) {
        return python;
    }
    if venv.exists() {
        fs::remove_dir_all(&venv).unwrap();
    }
    run_setup(
        Command::new("python3").args(["-m", "venv"]).arg(&venv),
        "python3 -m venv",
    );
    run_setup(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "--progress-bar",
                "off",
            ])
            .arg("-r")
            .arg(&requirements_path),
        "pip install -r tests/framework/requirements.txt",
    );
    fs::write(&marker, &requirements).unwrap();
    python
}

/// Runs a framework app's capture script: its SQLite file, its query log
/// and the log's text (the directory holding them lives as long as the
/// first).
fn capture(script: &str) -> (tempfile::TempDir, PathBuf, PathBuf, String) {
    let python = framework_python();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let log = dir.path().join("queries.jsonl");
    run_setup(
        Command::new(&python)
            .arg(framework_dir().join(script))
            .arg(&db)
            .arg(&log)
            .env("PYTHONDONTWRITEBYTECODE", "1"),
        script,
    );
    let captured = fs::read_to_string(&log).unwrap();
    (dir, db, log, captured)
}

/// `godwit workload` of a capture against the copy, with `--json`: the
/// run and its report.
fn workload(
    db: &Path,
    log: &Path,
    target: &godwit::postgres::conn::ConnSpec,
    extra: &[&str],
) -> (std::process::Output, serde_json::Value) {
    let url = target.to_string();
    let mut args = vec![
        "workload",
        db.to_str().unwrap(),
        "--queries",
        log.to_str().unwrap(),
        "--to",
        &url,
        "--json",
    ];
    args.extend_from_slice(extra);
    let out = common::godwit(&args);
    let report = serde_json::from_str(&common::stdout(&out)).unwrap();
    (out, report)
}

#[test]
fn sqlalchemy_queries_replayed_on_the_copy_are_equal() {
    let (_dir, db, log, captured) = capture("capture_queries.py");
    assert!(captured.lines().count() >= 15, "{captured}");

    let target = common::fresh_database("workload_sqlalchemy");
    common::assert_exit(&common::copy(&db, &target, &["-q"]), 0);
    let (out, report) = workload(
        &db,
        &log,
        &target,
        &["--clients", "1,2", "--count", "3", "--warmup", "0s"],
    );
    common::assert_exit(&out, 0);
    let classes = report["classes"].as_array().unwrap();
    assert!(classes.len() >= 12, "{report:#}");
    for c in classes {
        assert_eq!(c["parity"], "equal", "{c:#}");
        assert_eq!(c["latency"]["target"]["2"]["executions"], 3, "{c:#}");
        assert_eq!(c["latency"]["source"]["2"]["errors"], 0, "{c:#}");
    }
    // The ORM's case-insensitive match and its boolean and date parameters were among them.
    let all = report.to_string();
    assert!(all.contains("lower(users.display_name) LIKE lower(?)"));
    assert!(all.contains("users.is_active IS 1"));
    assert!(all.contains("orders.placed_at >= ?"));
}

/// A Django app, captured the way docs/workload.md says: Django's own
/// `execute_wrapper`, which sees `%s` placeholders, and SQL that calls the
/// functions Django registers on SQLite (`django_datetime_trunc` for
/// `TruncMonth`, `django_datetime_extract` for `__week_day`, `REGEXP` for
/// `__regex`). Its JSONField's CHECK (`JSON_VALID`) is kept by the copy.
#[test]
fn django_queries_captured_as_documented_replay_equal() {
    let (_dir, db, log, captured) = capture("capture_django.py");
    assert!(captured.contains("LIKE %s ESCAPE"), "{captured}");

    let target = common::fresh_database("workload_django");
    common::assert_exit(&common::copy(&db, &target, &["-q"]), 0);
    let checks = common::rows(
        &target,
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint \
         WHERE conrelid = 'django_shop_author'::regclass AND contype = 'c'",
    );
    assert!(checks.iter().any(|c| c[0].contains("::json IS NOT NULL")), "{checks:?}");
    let (out, report) = workload(&db, &log, &target, &["--parity-only"]);
    let classes = report["classes"].as_array().unwrap();
    assert!(classes.len() >= 40, "{report:#}");
    let mut equal_sql = String::new();
    for c in classes {
        match c["parity"].as_str() {
            Some("equal") => equal_sql.push_str(c["source_sql"].as_str().unwrap()),
            // JSONField key lookups (JSON_TYPE with a path parameter) are
            // named, not guessed at.
            Some("untranslatable") => {
                assert!(
                    c["examples"][0]["detail"].as_str().unwrap().contains("json_type"),
                    "{c:#}"
                )
            }
            _ => panic!("{c:#}"),
        }
    }
    for django in [
        "django_datetime_trunc",
        "django_datetime_extract",
        "django_datetime_cast_date",
        "django_datetime_cast_time",
        "django_date_trunc",
        "REGEXP",
        "ESCAPE",
    ] {
        assert!(equal_sql.contains(django), "no equal class calls {django}");
    }
    // Untranslatable classes are items to review.
    common::assert_exit(&out, 3);
}
