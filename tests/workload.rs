//! `godwit workload` against the real server: parity of translated
//! queries, strictness where SQLite and PostgreSQL truly differ, the load
//! sweep's figures and targets, plans and hypopg advice, and the inputs.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

/// A small shop: 2000 users, 30 000 orders (enough for a sequential scan
/// that an index would halve), NULLs, mixed-case statuses, epoch times.
const SHOP: &str = "
CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT, is_active INTEGER NOT NULL DEFAULT 1,
                    score REAL, created_at INTEGER);
CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id), status TEXT, total REAL);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
INSERT INTO users SELECT i, 'User' || i, CASE WHEN i % 7 = 0 THEN NULL ELSE 'u' || i || '@Example.com' END,
                         i % 3 <> 0, i * 1.5, 1700000000000 + i * 1000 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 30000)
INSERT INTO orders SELECT i, 1 + (i * 7) % 2000,
       CASE i % 4 WHEN 0 THEN 'paid' WHEN 1 THEN 'open' WHEN 2 THEN 'Paid' ELSE NULL END, (i % 100) * 1.25 FROM n;
";

/// Queries that read the same on both engines once translated, and
/// where the engines differ when the text is sent as written.
const QUERIES: &str = "
-- name: user_by_id
-- params: :id = users.id
SELECT id, name, email, is_active FROM users WHERE id = :id;

-- name: orders_of_user
-- weight: 3
-- params: ?1 = users.id zipf(1.1)
SELECT o.id, o.total, o.status FROM orders o WHERE o.user_id = ? ORDER BY o.id;

-- name: paid_like
SELECT count(*) FROM orders WHERE status LIKE 'paid';

-- name: emails_nulls
SELECT email FROM users ORDER BY email LIMIT 5;

-- name: total_text
SELECT id, total || ' EUR' FROM orders WHERE id IN (4, 5, 6) ORDER BY id;
";

struct Shop {
    _dir: tempfile::TempDir,
    db: PathBuf,
    target: String,
}

fn shop(prefix: &str) -> Shop {
    let dir = tempfile::tempdir().unwrap();
    let db = common::sqlite_file(dir.path(), "shop.db", SHOP);
    let target = common::fresh_database(prefix);
    common::assert_exit(&common::copy(&db, &target, &["-q"]), 0);
    Shop {
        target: target.to_string(),
        db,
        _dir: dir,
    }
}

fn queries(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn workload(shop: &Shop, queries: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "workload",
        shop.db.to_str().unwrap(),
        "--queries",
        queries.to_str().unwrap(),
        "--to",
        shop.target.as_str(),
    ];
    args.extend_from_slice(extra);
    common::godwit(&args)
}

fn json(out: &Output) -> Value {
    serde_json::from_str(&common::stdout(out))
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", common::stdout(out)))
}

fn class<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["classes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no class {name} in {report:#}"))
}

#[test]
fn translated_queries_are_equal_and_the_json_has_the_documented_shape() {
    let shop = shop("workload_equal");
    let q = queries(shop._dir.path(), "q.sql", QUERIES);
    let out = workload(&shop, &q, &["--parity-only", "--json"]);
    common::assert_exit(&out, 0);
    let report = json(&out);
    for name in [
        "user_by_id",
        "orders_of_user",
        "paid_like",
        "emails_nulls",
        "total_text",
    ] {
        let c = class(&report, name);
        assert_eq!(c["parity"], "equal", "{name}: {c:#}");
        for key in [
            "fingerprint",
            "source_sql",
            "target_sql",
            "examples",
            "latency",
            "plan_flags",
            "advice",
        ] {
            assert!(c.get(key).is_some(), "{name} lacks {key}");
        }
        assert!(c["executions"].as_u64().unwrap() >= 1);
    }
    // The translations that make them equal.
    assert!(
        class(&report, "paid_like")["target_sql"]
            .as_str()
            .unwrap()
            .contains("ILIKE")
    );
    assert!(
        class(&report, "emails_nulls")["target_sql"]
            .as_str()
            .unwrap()
            .contains("NULLS FIRST")
    );
    assert!(
        class(&report, "user_by_id")["target_sql"]
            .as_str()
            .unwrap()
            .contains("$1::bigint")
    );
    // Drawn parameters give several distinct executions.
    assert!(class(&report, "user_by_id")["executions"].as_u64().unwrap() > 5);
    assert_eq!(report["summary"]["equal"], 5);
    assert_eq!(report["summary"]["status"], "ok");
    assert_eq!(report["summary"]["source_engine"], "sqlite");
}

#[test]
fn raw_sql_that_differs_on_postgres_is_reported_never_equal() {
    let shop = shop("workload_strict");
    let extra = "
-- name: bare_group
SELECT user_id, status, max(total) FROM orders GROUP BY user_id ORDER BY user_id LIMIT 5;

-- name: text_vs_number
SELECT count(*) FROM users WHERE name > 5;
";
    let q = queries(shop._dir.path(), "q.sql", &format!("{QUERIES}{extra}"));
    let out = workload(&shop, &q, &["--parity-only", "--as-is", "--json"]);
    common::assert_exit(&out, 4);
    let report = json(&out);
    // Case-insensitive LIKE left as LIKE: PostgreSQL counts only lower-case 'paid'.
    let like = class(&report, "paid_like");
    assert_eq!(like["parity"], "different", "{like:#}");
    assert_eq!(like["examples"][0]["kind"], "values");
    assert_eq!(like["examples"][0]["source_rows"][0], "(15000)");
    assert_eq!(like["examples"][0]["target_rows"][0], "(7500)");
    // NULLs first in SQLite, last in PostgreSQL.
    let nulls = class(&report, "emails_nulls");
    assert_eq!(nulls["parity"], "different", "{nulls:#}");
    assert!(
        nulls["examples"][0]["source_rows"][0]
            .as_str()
            .unwrap()
            .contains("NULL")
    );
    // 5.0 || ' EUR' is "5.0 EUR" in SQLite and "5 EUR" in PostgreSQL.
    let text = class(&report, "total_text");
    assert_eq!(text["parity"], "different", "{text:#}");
    assert!(
        text["examples"][0]["detail"].as_str().unwrap().contains("5.0 EUR"),
        "{text:#}"
    );
    // Bare columns under GROUP BY, and text compared with a number: PostgreSQL refuses.
    for name in ["bare_group", "text_vs_number"] {
        let c = class(&report, name);
        assert_eq!(c["parity"], "error_target", "{c:#}");
        assert!(!c["examples"][0]["detail"].as_str().unwrap().is_empty());
    }
    assert_eq!(class(&report, "user_by_id")["parity"], "equal");
    assert_eq!(report["summary"]["different"], 3);
    assert_eq!(report["summary"]["error_target"], 2);
    assert_eq!(report["summary"]["status"], "different");

    // Translated, the same app's queries are equal except those PostgreSQL cannot run.
    let out = workload(&shop, &q, &["--parity-only", "--json"]);
    common::assert_exit(&out, 4);
    let report = json(&out);
    for name in ["paid_like", "emails_nulls", "total_text"] {
        assert_eq!(class(&report, name)["parity"], "equal", "{name}");
    }
    assert_ne!(class(&report, "bare_group")["parity"], "equal");
    assert_ne!(class(&report, "text_vs_number")["parity"], "equal");
}

#[test]
fn load_sweep_gives_figures_per_class_engine_and_level_and_names_misses() {
    let shop = shop("workload_load");
    let text = "
-- name: user_by_id
-- params: :id = users.id
SELECT id, name FROM users WHERE id = :id;

-- name: open_orders
-- weight: 2
SELECT count(*) FROM orders WHERE status = 'open';
";
    let q = queries(shop._dir.path(), "q.sql", text);
    let out = workload(
        &shop,
        &q,
        &[
            "--clients",
            "1,3",
            "--count",
            "12",
            "--warmup",
            "0s",
            "--p95",
            "0.001ms",
            "--json",
        ],
    );
    common::assert_exit(&out, 3);
    let report = json(&out);
    for name in ["user_by_id", "open_orders"] {
        let c = class(&report, name);
        for engine in ["source", "target"] {
            for level in ["1", "3"] {
                let s = &c["latency"][engine][level];
                assert_eq!(s["executions"], 12, "{name} {engine} {level}: {s:#}");
                assert_eq!(s["errors"], 0, "{name} {engine} {level}: {s:#}");
                for key in ["p50_ms", "p95_ms", "p99_ms", "max_ms", "qps"] {
                    assert!(s[key].as_f64().unwrap() > 0.0, "{name} {engine} {level} {key}: {s:#}");
                }
                assert!(s["p50_ms"].as_f64() <= s["p99_ms"].as_f64());
                assert!(s["p99_ms"].as_f64() <= s["max_ms"].as_f64());
            }
        }
        assert!(!c["misses"].as_array().unwrap().is_empty());
    }
    let misses = report["summary"]["misses"].as_array().unwrap();
    assert!(
        misses
            .iter()
            .any(|m| m.as_str().unwrap().starts_with("open_orders: p95")),
        "{misses:?}"
    );
    assert_eq!(report["summary"]["levels"], serde_json::json!([1, 3]));

    // Open loop: the same figures, latency from the scheduled start.
    let out = workload(
        &shop,
        &q,
        &[
            "--clients",
            "2",
            "--count",
            "5",
            "--warmup",
            "0s",
            "--rate",
            "500",
            "--json",
        ],
    );
    common::assert_exit(&out, 0);
    let report = json(&out);
    assert_eq!(class(&report, "open_orders")["latency"]["target"]["2"]["executions"], 5);
    assert!(report["summary"]["notes"].to_string().contains("open loop"));
}

#[test]
fn slow_class_gets_plan_flags_and_checked_index_advice_as_a_migration() {
    let shop = shop("workload_advice");
    let text = "
-- name: orders_of_user
-- params: :u = users.id
SELECT id, total FROM orders WHERE user_id = :u ORDER BY id;

-- name: user_by_id
-- params: :id = users.id
SELECT id, name FROM users WHERE id = :id;
";
    let q = queries(shop._dir.path(), "q.sql", text);
    let migrations = shop._dir.path().join("migrations");
    let out = workload(
        &shop,
        &q,
        &[
            "--clients",
            "1",
            "--count",
            "3",
            "--warmup",
            "0s",
            "--json",
            "--advice-to",
            migrations.to_str().unwrap(),
        ],
    );
    common::assert_exit(&out, 0);
    let report = json(&out);
    let c = class(&report, "orders_of_user");
    let flags = c["plan_flags"].to_string();
    assert!(flags.contains("sequential scan of orders"), "{c:#}");
    let hypopg = common::value(
        &godwit::postgres::conn::ConnSpec::parse(&shop.target).unwrap(),
        "SELECT count(*)::text AS a FROM pg_available_extensions WHERE name = 'hypopg'",
    );
    if hypopg == "0" {
        // No guessing without the extension: the report says so.
        assert!(
            report["summary"]["advice_unavailable"]
                .as_str()
                .unwrap()
                .contains("hypopg")
        );
        return;
    }
    let advice = report["summary"]["advice"].as_array().unwrap();
    assert_eq!(advice.len(), 1, "{advice:#?}");
    let statement = advice[0]["statement"].as_str().unwrap();
    assert!(statement.starts_with("CREATE INDEX CONCURRENTLY"), "{statement}");
    assert!(statement.contains("(\"user_id\")"), "{statement}");
    assert!(advice[0]["estimated_bytes"].as_i64().unwrap() > 0);
    assert_eq!(advice[0]["classes"][0]["class"], "orders_of_user");
    let gain = &advice[0]["classes"][0];
    assert!(gain["cost_after"].as_f64().unwrap() <= gain["cost_before"].as_f64().unwrap() / 2.0);
    assert_eq!(c["advice"][0], statement);
    // The primary key already covers users.id: nothing suggested for it.
    assert!(class(&report, "user_by_id")["advice"].as_array().unwrap().is_empty());
    // The migration: no transaction (CONCURRENTLY), and a down file.
    let files: Vec<String> = std::fs::read_dir(&migrations)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let up = files
        .iter()
        .find(|f| f.ends_with("_workload_indexes.up.sql"))
        .expect("up file");
    assert!(files.iter().any(|f| f.ends_with("_workload_indexes.down.sql")));
    let up_text = std::fs::read_to_string(migrations.join(up)).unwrap();
    assert!(up_text.starts_with("-- godwit:no-transaction"));
    assert!(up_text.contains(statement));
    // hypopg left nothing behind.
    let hypothetical = common::rows(
        &godwit::postgres::conn::ConnSpec::parse(&shop.target).unwrap(),
        "SELECT count(*)::text AS a FROM pg_indexes WHERE tablename = 'orders' AND indexdef LIKE '%user_id%'",
    );
    assert_eq!(hypothetical[0][0], "0");
}

#[test]
fn untranslatable_and_writing_statements_are_named_and_emit_sql_writes_each_class() {
    let shop = shop("workload_emit");
    let text = "
-- name: user_by_id
-- params: :id = users.id
SELECT id, name FROM users WHERE id = :id;

-- name: deactivate
UPDATE users SET is_active = 0 WHERE id = 1;

-- name: unknown_function
SELECT my_app_function(name) FROM users;
";
    let q = queries(shop._dir.path(), "q.sql", text);
    let emit = shop._dir.path().join("pg");
    let out = workload(&shop, &q, &["--parity-only", "--emit-sql", emit.to_str().unwrap()]);
    common::assert_exit(&out, 3);
    let human = common::stdout(&out);
    assert!(human.contains("deactivate [UNTRANSLATABLE]"), "{human}");
    assert!(human.contains("a statement that writes"), "{human}");
    assert!(human.contains("unknown_function [UNTRANSLATABLE]"), "{human}");
    assert!(human.contains("my_app_function"), "{human}");
    assert!(human.contains("status: review"), "{human}");
    let user = std::fs::read_to_string(emit.join("user_by_id.sql")).unwrap();
    assert!(user.contains("WHERE \"id\" = $1::bigint;"), "{user}");
    let unknown = std::fs::read_to_string(emit.join("unknown_function.sql")).unwrap();
    assert!(unknown.contains("-- untranslatable:"), "{unknown}");
    // The UPDATE never ran: the source is untouched.
    let conn = rusqlite::Connection::open(&shop.db).unwrap();
    let active: i64 = conn
        .query_row("SELECT is_active FROM users WHERE id = 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(active, 1);
}

#[test]
fn a_captured_log_is_grouped_into_classes_by_fingerprint() {
    let shop = shop("workload_log");
    let log = r#"{"sql": "SELECT id, name FROM users WHERE id = ?", "params": [1]}
{"sql": "SELECT id, name FROM users WHERE id = ?", "params": [2]}
{"sql": "SELECT id, name FROM users WHERE id = 3", "params": []}
{"sql": "SELECT count(*) FROM orders WHERE status IN (?, ?)", "params": ["paid", "open"]}
{"sql": "SELECT count(*) FROM orders WHERE status IN (?, ?, ?)", "params": ["paid", "Paid", "open"]}
{"sql": "SELECT name FROM users WHERE id = :id", "params": {"id": 7}}
"#;
    let q = queries(shop._dir.path(), "capture.jsonl", log);
    let out = workload(&shop, &q, &["--parity-only", "--json"]);
    common::assert_exit(&out, 0);
    let report = json(&out);
    let classes = report["classes"].as_array().unwrap();
    assert_eq!(classes.len(), 3, "{report:#}");
    let by_id = classes
        .iter()
        .find(|c| c["source_sql"].as_str().unwrap().contains("id, name"))
        .unwrap();
    assert_eq!(by_id["executions"], 3);
    assert_eq!(by_id["statements"], 2);
    assert_eq!(by_id["fingerprint"], "select id , name from users where id = ?");
    let in_list = classes
        .iter()
        .find(|c| c["source_sql"].as_str().unwrap().contains("IN"))
        .unwrap();
    assert_eq!(in_list["statements"], 2);
    assert!(classes.iter().all(|c| c["parity"] == "equal"));
}

#[test]
fn a_document_source_runs_on_postgres_alone_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("people.jsonl");
    std::fs::write(
        &docs,
        "{\"id\": 1, \"name\": \"Ann\"}\n{\"id\": 2, \"name\": \"Bob\"}\n",
    )
    .unwrap();
    let target = common::fresh_database("workload_docs");
    common::assert_exit(&common::copy(&docs, &target, &["-q"]), 0);
    let q = queries(
        dir.path(),
        "q.sql",
        "-- name: by_name\nSELECT count(*) FROM people WHERE name = 'Ann';\n",
    );
    let url = target.to_string();
    let out = common::godwit(&[
        "workload",
        docs.to_str().unwrap(),
        "--queries",
        q.to_str().unwrap(),
        "--to",
        &url,
        "--clients",
        "1",
        "--count",
        "3",
        "--warmup",
        "0s",
        "--json",
    ]);
    common::assert_exit(&out, 0);
    let report = json(&out);
    assert_eq!(report["summary"]["source_engine"], "none");
    assert!(report["summary"]["notes"].to_string().contains("PostgreSQL alone"));
    let c = class(&report, "by_name");
    assert_eq!(c["parity"], "not_compared");
    assert_eq!(c["latency"]["target"]["1"]["executions"], 3);
    assert!(c["latency"]["source"].as_object().unwrap().is_empty());
}

#[test]
fn bad_query_files_are_refused_naming_the_line() {
    let shop = shop("workload_bad");
    let q = queries(
        shop._dir.path(),
        "q.sql",
        "SELECT 1;\n\n-- name: x\n-- weight: heavy\nSELECT 2;\n",
    );
    let out = workload(&shop, &q, &["--parity-only"]);
    assert_ne!(out.status.code(), Some(0));
    let err = common::stderr(&out);
    assert!(
        err.contains("q.sql") && err.contains("line 4") && err.contains("heavy"),
        "{err}"
    );

    let q = queries(
        shop._dir.path(),
        "q2.sql",
        "-- params: :id = users.nope\nSELECT id FROM users WHERE id = :id;\n",
    );
    let out = workload(&shop, &q, &["--parity-only"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(common::stderr(&out).contains("users.nope"), "{}", common::stderr(&out));
}

#[test]
fn writes_run_only_with_writes_on_scratch_copies_and_leave_both_sides_unchanged() {
    let shop = shop("workload_writes");
    let text = "
-- name: deactivate
UPDATE users SET is_active = 0 WHERE id <= 10;

-- name: delete_returning
-- params: :u = users.id
DELETE FROM orders WHERE user_id = :u RETURNING id;

-- name: hidden_write
WITH gone AS (DELETE FROM orders WHERE id = 1 RETURNING id) SELECT count(*) FROM gone;
";
    let q = queries(shop._dir.path(), "q.sql", text);
    let target = godwit::postgres::conn::ConnSpec::parse(&shop.target).unwrap();
    let counts = |target: &godwit::postgres::conn::ConnSpec| {
        common::value(
            target,
            "SELECT (SELECT count(*) FROM orders)::text || '/' || (SELECT count(*) FROM users WHERE is_active = 0)::text AS a",
        )
    };
    let before = counts(&target);

    // Without --writes nothing that writes runs, even sent as written.
    let out = workload(&shop, &q, &["--parity-only", "--as-is", "--json"]);
    let report = json(&out);
    for name in ["deactivate", "delete_returning"] {
        let c = class(&report, name);
        assert_eq!(c["parity"], "untranslatable", "{c:#}");
        assert!(c["untranslatable"].as_str().unwrap().contains("--writes"), "{c:#}");
    }
    // A write hidden in a WITH is refused by the read-only session.
    assert_ne!(class(&report, "hidden_write")["parity"], "equal");
    assert_eq!(counts(&target), before);

    // With --writes: compared on scratch copies, each rolled back.
    let out = workload(&shop, &q, &["--parity-only", "--as-is", "--writes", "--json"]);
    let report = json(&out);
    assert_eq!(class(&report, "deactivate")["parity"], "equal", "{report:#}");
    let returning = class(&report, "delete_returning");
    assert_eq!(returning["parity"], "equal", "{returning:#}");
    assert!(returning["executions"].as_u64().unwrap() > 1);
    assert_eq!(counts(&target), before);
    let conn = rusqlite::Connection::open(&shop.db).unwrap();
    let sqlite: (i64, i64) = conn
        .query_row(
            "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM users WHERE is_active = 0)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(format!("{}/{}", sqlite.0, sqlite.1), before);
}

#[test]
fn workload_html_and_report_queries_carry_the_same_classes_as_the_json() {
    let shop = shop("workload_html");
    let dir = tempfile::tempdir().unwrap();
    let file = queries(dir.path(), "q.sql", QUERIES);
    let page = dir.path().join("workload.html");
    let out = workload(
        &shop,
        &file,
        &[
            "--json",
            "--clients",
            "1",
            "--count",
            "5",
            "--html",
            page.to_str().unwrap(),
        ],
    );
    let report = json(&out);
    let html = std::fs::read_to_string(&page).expect("workload --html writes its page");
    for class in report["classes"].as_array().unwrap() {
        let name = class["name"].as_str().unwrap();
        assert!(html.contains(name), "the page names class {name}");
    }

    // `godwit report --queries` runs the same workload into the dossier.
    let dossier = dir.path().join("report.html");
    let out = common::godwit(&[
        "report",
        "--to",
        shop.target.as_str(),
        "--source",
        shop.db.to_str().unwrap(),
        "--queries",
        file.to_str().unwrap(),
        "--html",
        dossier.to_str().unwrap(),
        "--json",
    ]);
    let documents = json(&out);
    let classes = documents["workload"]["classes"]
        .as_array()
        .unwrap_or_else(|| panic!("report --json has the workload document: {documents:#}"));
    assert_eq!(classes.len(), report["classes"].as_array().unwrap().len());
    let html = std::fs::read_to_string(&dossier).expect("report --html writes its page");
    assert!(html.contains("user_by_id"), "the dossier has the workload section");
}

#[test]
fn the_load_sweep_reports_progress_in_plain_lines_and_none_with_json() {
    let shop = shop("workload_progress");
    let dir = tempfile::tempdir().unwrap();
    let file = queries(dir.path(), "q.sql", QUERIES);
    let out = workload(&shop, &file, &["--clients", "1,2", "--count", "5", "--warmup", "0s"]);
    let err = common::stderr(&out);
    assert!(
        !err.contains('\r') && !err.contains('\x1b'),
        "plain lines only: {err:?}"
    );
    let progress: Vec<&str> = err.lines().filter(|l| l.starts_with("workload: ")).collect();
    // Each level ends with its count complete: 5 classes x 5 executions.
    assert!(
        progress.iter().any(|l| l.starts_with("workload: 25/25 queries")),
        "{err}"
    );
    assert!(progress.iter().any(|l| l.contains("2 clients on PostgreSQL")), "{err}");
    // The live p95 over the level's executions so far.
    assert!(
        progress
            .iter()
            .any(|l| l.starts_with("workload: 25/25") && l.contains(", p95 ") && l.contains(" ms")),
        "{err}"
    );

    let out = workload(&shop, &file, &["--clients", "1", "--count", "5", "--json"]);
    json(&out);
    assert!(
        !common::stderr(&out).lines().any(|l| l.starts_with("workload: ")),
        "no progress with --json"
    );
}

#[test]
fn writes_join_the_load_with_writes_rolled_back_and_sqlite_contention_counted() {
    let shop = shop("workload_write_load");
    let text = "
-- name: touch_user
-- params: :u = users.id
UPDATE users SET name = name || '!' WHERE id = :u;

-- name: read_user
-- params: :u = users.id
SELECT name FROM users WHERE id = :u;
";
    let q = queries(shop._dir.path(), "q.sql", text);
    let target = godwit::postgres::conn::ConnSpec::parse(&shop.target).unwrap();
    let names = |target: &godwit::postgres::conn::ConnSpec| {
        common::value(target, "SELECT md5(string_agg(name, ',' ORDER BY id)) FROM users")
    };
    let before = names(&target);

    // Without --writes the writing class stays out of the load.
    let out = workload(
        &shop,
        &q,
        &["--clients", "1,4", "--count", "20", "--warmup", "0s", "--json"],
    );
    let report = json(&out);
    let touch = class(&report, "touch_user");
    assert!(
        touch["latency"]["target"]["4"].is_null() || touch["latency"]["target"]["4"]["qps"] == 0.0,
        "{touch:#}"
    );

    let out = workload(
        &shop,
        &q,
        &[
            "--as-is",
            "--writes",
            "--clients",
            "1,4",
            "--count",
            "20",
            "--warmup",
            "0s",
            "--json",
        ],
    );
    let report = json(&out);
    let touch = class(&report, "touch_user");
    for engine in ["source", "target"] {
        for level in ["1", "4"] {
            let stats = &touch["latency"][engine][level];
            assert!(stats["qps"].as_f64().unwrap() > 0.0, "{engine} at {level}: {touch:#}");
            assert!(stats["p50_ms"].as_f64().is_some(), "{engine} at {level}: {touch:#}");
        }
    }
    // PostgreSQL's row locks queue writers; nothing fails there.
    assert_eq!(touch["latency"]["target"]["4"]["errors"], 0, "{touch:#}");
    // Each write was rolled back: both sides are as they were.
    assert_eq!(names(&target), before);
    let conn = rusqlite::Connection::open(&shop.db).unwrap();
    let unchanged: i64 = conn
        .query_row("SELECT count(*) FROM users WHERE name LIKE '%!'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(unchanged, 0);
}

#[test]
fn a_target_that_is_not_as_planned_is_named_and_needs_review() {
    let shop = shop("workload_drift");
    let dir = tempfile::tempdir().unwrap();
    let q = queries(dir.path(), "q.sql", "-- name: one\nSELECT count(*) FROM users;\n");
    let out = workload(&shop, &q, &["--parity-only", "--json"]);
    common::assert_exit(&out, 0);
    assert!(json(&out)["summary"]["plan_drift"].is_null());

    // Someone changed the copy since (or it was made with another config):
    // translations would be wrong, so each difference is named.
    let target = godwit::postgres::conn::ConnSpec::parse(&shop.target).unwrap();
    target
        .connect()
        .unwrap()
        .batch_execute("ALTER TABLE users RENAME COLUMN email TO mail; ALTER TABLE orders ALTER COLUMN total TYPE text")
        .unwrap();
    let out = workload(&shop, &q, &["--parity-only", "--json"]);
    common::assert_exit(&out, 3);
    let drift = json(&out)["summary"]["plan_drift"].clone();
    let drift: Vec<&str> = drift.as_array().unwrap().iter().map(|d| d.as_str().unwrap()).collect();
    assert!(
        drift.iter().any(|d| d.contains("users.email is not in the target")),
        "{drift:?}"
    );
    assert!(
        drift.iter().any(|d| d.contains("orders.total is text in the target")),
        "{drift:?}"
    );
    let out = workload(&shop, &q, &["--parity-only"]);
    common::assert_exit(&out, 3);
    let human = format!("{}{}", common::stdout(&out), common::stderr(&out));
    assert!(human.contains("run workload with the copy's config"), "{human}");
    assert!(
        human.contains("review: the target is not as the source plans now"),
        "{human}"
    );
}

/// PostgreSQL's clients run as tasks on a few threads (`--jobs`): the
/// `--count` schedule is still run exactly once across them, and a client
/// the server refuses leaves the level unmeasured, saying so.
#[test]
fn postgres_clients_shared_by_jobs_run_the_schedule_once_and_a_refusal_is_reported() {
    let shop = shop("workload_jobs");
    let q = queries(
        shop._dir.path(),
        "q.sql",
        "-- name: user_by_id\n-- params: :id = users.id\nSELECT id, name FROM users WHERE id = :id;\n\n\
         -- name: paid\nSELECT count(*) FROM orders WHERE status = 'paid';\n",
    );
    for jobs in ["1", "2", "9"] {
        let out = workload(
            &shop,
            &q,
            &[
                "--clients",
                "1,5",
                "--jobs",
                jobs,
                "--count",
                "9",
                "--warmup",
                "0s",
                "--target-only",
                "--json",
            ],
        );
        common::assert_exit(&out, 0);
        let report = json(&out);
        for name in ["user_by_id", "paid"] {
            for level in ["1", "5"] {
                let s = &class(&report, name)["latency"]["target"][level];
                assert_eq!(s["executions"], 9, "--jobs {jobs}, {name} at {level}: {s:#}");
                assert_eq!(s["errors"], 0, "--jobs {jobs}, {name} at {level}: {s:#}");
            }
        }
    }
    let out = workload(&shop, &q, &["--jobs", "0", "--count", "1"]);
    common::assert_exit(&out, 2);
    assert!(common::stderr(&out).contains("--jobs"), "{}", common::stderr(&out));

    // A role the server lets hold two connections: parity's connection
    // and one client fit, five clients do not.
    let role = format!("workload_limited_{}", std::process::id());
    let admin_spec = godwit::postgres::conn::ConnSpec::parse(&shop.target).unwrap();
    let mut admin = admin_spec.connect().unwrap();
    admin
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN CONNECTION LIMIT 2; \
             GRANT USAGE ON SCHEMA public TO {role}; GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}; \
             GRANT USAGE ON SCHEMA godwit TO {role}; GRANT SELECT ON ALL TABLES IN SCHEMA godwit TO {role};"
        ))
        .unwrap();
    let limited = Shop {
        target: shop.target.replacen("://postgres@", &format!("://{role}@"), 1),
        db: shop.db.clone(),
        _dir: tempfile::tempdir().unwrap(),
    };
    assert_ne!(limited.target, shop.target);
    let out = workload(
        &limited,
        &q,
        &[
            "--clients",
            "5",
            "--jobs",
            "2",
            "--count",
            "3",
            "--warmup",
            "0s",
            "--target-only",
            "--json",
        ],
    );
    admin
        .batch_execute(&format!(
            "DROP OWNED BY {role}; SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'"
        ))
        .unwrap();
    let _ = admin.batch_execute(&format!("DROP ROLE {role}"));
    common::assert_exit(&out, 3);
    let report = json(&out);
    let refused = report["summary"]["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 1, "{refused:?}");
    let line = refused[0].as_str().unwrap();
    assert!(
        line.starts_with("5 clients on PostgreSQL: ")
            && line.contains("of 5 clients connected, then the server refused"),
        "{line}"
    );
    assert!(line.contains("too many connections"), "{line}");
    assert!(
        class(&report, "user_by_id")["latency"]["target"].get("5").is_none(),
        "{report:#}"
    );
}

/// An integer key that config turned into a UUID: the app still sends the
/// integer, and the workload binds it (and writes a literal) as the UUID
/// the copy made of it, for the key and for the foreign keys following it.
#[test]
fn integer_parameters_compared_with_a_uuid_from_int_key_are_converted_as_the_copy_did() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::sqlite_file(
        dir.path(),
        "app.db",
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
         CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id), body TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
         INSERT INTO users SELECT i, 'user ' || i FROM n;
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 600)
         INSERT INTO posts SELECT i, 1 + i % 200, 'post ' || i FROM n;",
    );
    let config = dir.path().join("godwit.toml");
    std::fs::write(
        &config,
        "[[cast]]\ncolumn = \"users.id\"\nto = \"uuid\"\nusing = \"uuid-from-int\"\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let target = common::fresh_database("workload_uuid_key");
    common::assert_exit(&common::copy(&db, &target, &["-q", "--config", config]), 0);
    let shop = Shop {
        target: target.to_string(),
        db,
        _dir: dir,
    };
    let q = queries(
        shop._dir.path(),
        "q.sql",
        "-- name: user_by_id\n-- params: :id = users.id\nSELECT name FROM users WHERE id = :id;\n\n\
         -- name: posts_of_user\n-- params: ?1 = users.id\nSELECT body FROM posts WHERE user_id = ? ORDER BY body;\n\n\
         -- name: literal_key\nSELECT name FROM users WHERE 17 = id;\n\n\
         -- name: key_returned\n-- params: :uid = users.id\nSELECT id, user_id, body FROM posts WHERE user_id = :uid;\n\n\
         -- name: join_on_keys\n-- params: :id = users.id\n\
         SELECT u.name, p.body FROM users u JOIN posts p ON p.user_id = u.id WHERE u.id = :id ORDER BY p.body;\n",
    );
    let emit = shop._dir.path().join("emitted");
    let out = workload(
        &shop,
        &q,
        &[
            "--config",
            config,
            "--parity-runs",
            "10",
            "--clients",
            "2",
            "--count",
            "20",
            "--warmup",
            "0s",
            "--emit-sql",
            emit.to_str().unwrap(),
            "--json",
        ],
    );
    common::assert_exit(&out, 0);
    let report = json(&out);
    for name in [
        "user_by_id",
        "posts_of_user",
        "literal_key",
        "key_returned",
        "join_on_keys",
    ] {
        let c = class(&report, name);
        assert_eq!(c["parity"], "equal", "{name}: {c:#}");
        let load = &c["latency"]["target"]["2"];
        assert_eq!(load["executions"], 20, "{name}: {load:#}");
        assert_eq!(load["errors"], 0, "{name}: {load:#}");
    }
    // Parameters are sent as UUIDs; the literal is the copy's UUID of 17.
    assert!(
        class(&report, "user_by_id")["target_sql"]
            .as_str()
            .unwrap()
            .contains("$1::uuid"),
        "{report:#}"
    );
    let ns = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, b"godwit:users.id");
    let seventeen = uuid::Uuid::new_v5(&ns, b"17").to_string();
    let literal = class(&report, "literal_key")["target_sql"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(literal.contains(&format!("'{seventeen}'::uuid")), "{literal}");
    let mut pg = godwit::postgres::conn::ConnSpec::parse(&shop.target)
        .unwrap()
        .connect()
        .unwrap();
    let name: String = pg
        .query_one(&format!("SELECT name FROM users WHERE id = '{seventeen}'"), &[])
        .unwrap()
        .get(0);
    assert_eq!(name, "user 17");
}

/// Text parameters read as dates (compared with a date/time column, or
/// through date()) are computed once per execution on PostgreSQL; the
/// rows stay exactly SQLite's, whatever format the app sends.
#[test]
fn date_parameters_computed_once_per_execution_keep_parity() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::sqlite_file(
        dir.path(),
        "events.db",
        "CREATE TABLE events (id INTEGER PRIMARY KEY, at DATETIME NOT NULL, day TEXT NOT NULL);
         CREATE INDEX events_at ON events(at);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
         INSERT INTO events SELECT i, datetime(1717200000 + i * 997, 'unixepoch'),
                date(1717200000 + i * 997, 'unixepoch') FROM n;",
    );
    let target = common::fresh_database("workload_date_params");
    common::assert_exit(&common::copy(&db, &target, &["-q"]), 0);
    let shop = Shop {
        target: target.to_string(),
        db,
        _dir: dir,
    };
    // Formats SQLite reads (and a few it does not: NULL to date()).
    let as_dates = [
        "2024-06-10 12:00:00",
        "2024-06-10",
        "2024-06-10T12:00:00Z",
        "2024-06-10 14:00:00+02:00",
        "2024-06-11 00:00 ",
        " 2024-06-11 00:00",
        " 2460472.5 ",
        "12:00:00",
        "not a date",
        "2024-6-10",
    ];
    let mut log = String::new();
    let mut push = |sql: &str, t: &str| {
        let params = vec![t; sql.matches('?').count()];
        log.push_str(&serde_json::json!({"sql": sql, "params": params}).to_string());
        log.push('\n');
    };
    for t in as_dates {
        for sql in [
            "SELECT count(*) FROM events WHERE at >= date(?)",
            "SELECT count(*) FROM events WHERE day = date(?, '+1 day')",
            "SELECT count(*), min(id) FROM events WHERE at BETWEEN datetime(?) AND datetime(?, '+6 hours')",
        ] {
            push(sql, t);
        }
    }
    // Text compared with the column: SQLite compares the stored text, so
    // only values in the stored format (or shorter forms of it) are the
    // same comparison on both engines.
    for t in ["2024-06-10 12:00:00", "2024-06-10", "2024-06-10 12:00:00.5"] {
        for sql in [
            "SELECT count(*) FROM events WHERE at >= ?",
            "SELECT count(*) FROM events WHERE ? > at",
        ] {
            push(sql, t);
        }
    }
    let q = queries(shop._dir.path(), "q.jsonl", &log);
    let out = workload(&shop, &q, &["--parity-only", "--json"]);
    common::assert_exit(&out, 0);
    let report = json(&out);
    let classes = report["classes"].as_array().unwrap();
    assert_eq!(classes.len(), 5, "{report:#}");
    for c in classes {
        assert_eq!(c["parity"], "equal", "{c:#}");
        assert!(c["executions"].as_u64().unwrap() >= 3, "{c:#}");
        let sql = c["target_sql"].as_str().unwrap();
        assert!(sql.contains("(SELECT "), "computed once per execution: {sql}");
    }
}
