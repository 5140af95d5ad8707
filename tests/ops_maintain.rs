//! `godwit maintain` against the real server: dead tuples with autovacuum
//! off, a never-analyzed table, an index left invalid by a cancelled
//! CREATE INDEX CONCURRENTLY, NOT VALID constraints with and without
//! violating rows, and a lock the application holds.

mod common;

use std::time::Duration;

use common::{assert_exit, fresh_database, godwit, stdout, value};
use godwit::postgres::conn::ConnSpec;
use serde_json::Value;

fn maintain(target: &ConnSpec, extra: &[&str]) -> (std::process::Output, Value) {
    let url = target.to_string();
    let mut args = vec!["maintain", "--to", url.as_str(), "--json"];
    args.extend_from_slice(extra);
    let out = godwit(&args);
    let json: Value = serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| {
        panic!(
            "maintain --json: {e}\nstdout:\n{}\nstderr:\n{}",
            stdout(&out),
            common::stderr(&out)
        )
    });
    (out, json)
}

fn step<'a>(report: &'a Value, statement_start: &str) -> &'a Value {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["statement"].as_str().unwrap().starts_with(statement_start))
        .unwrap_or_else(|| panic!("no step {statement_start}: {report:#}"))
}

fn wait_until(target: &ConnSpec, sql: &str) {
    let mut client = target.connect().unwrap();
    for _ in 0..600 {
        client.batch_execute("SELECT pg_stat_clear_snapshot()").unwrap();
        if client.query_one(sql, &[]).unwrap().get::<_, bool>(0) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("condition never held: {sql}");
}

/// CREATE INDEX CONCURRENTLY waits for transactions older than it; cancel
/// it while it waits, as an operator pressing Ctrl-C would, and it leaves
/// an invalid index behind.
fn cancelled_concurrent_index(db: &ConnSpec, sql: &str) {
    let mut old_transaction = db.connect().unwrap();
    old_transaction
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT txid_current();")
        .unwrap();
    let mut builder = db.connect().unwrap();
    let builder_pid: i32 = builder.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    let sql = sql.to_string();
    let building = std::thread::spawn(move || builder.batch_execute(&sql));
    wait_until(
        db,
        &format!("SELECT count(*) = 1 FROM pg_stat_activity WHERE pid = {builder_pid} AND wait_event_type = 'Lock'"),
    );
    db.connect()
        .unwrap()
        .batch_execute(&format!("SELECT pg_cancel_backend({builder_pid})"))
        .unwrap();
    let err = building.join().unwrap().unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("57014"), "{err}");
    old_transaction.batch_execute("COMMIT").unwrap();
}

fn setup(db: &ConnSpec) {
    db.connect()
        .unwrap()
        .batch_execute(
            "CREATE TABLE events (id int PRIMARY KEY, body text) WITH (autovacuum_enabled = false);
             INSERT INTO events SELECT g, repeat('x', 50) FROM generate_series(1, 10000) g;
             DELETE FROM events WHERE id % 2 = 0;
             CREATE TABLE customers (id int PRIMARY KEY);
             INSERT INTO customers VALUES (1);
             CREATE TABLE orders (id int PRIMARY KEY, customer_id int, amount int) WITH (autovacuum_enabled = false);
             INSERT INTO orders VALUES (1, 1, 10), (2, 99, 20), (3, NULL, 30);
             ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers NOT VALID;
             ALTER TABLE orders ADD CONSTRAINT orders_amount_positive CHECK (amount > 0) NOT VALID;",
        )
        .unwrap();
    cancelled_concurrent_index(db, "CREATE INDEX CONCURRENTLY events_body_idx ON events (body)");
    assert_eq!(
        value(
            db,
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'events_body_idx'::regclass"
        ),
        "false"
    );
    wait_until(
        db,
        "SELECT n_dead_tup >= 5000 FROM pg_stat_user_tables WHERE relname = 'events'",
    );
}

#[test]
fn dry_run_then_maintain() {
    let db = fresh_database("maintain");
    setup(&db);

    // --dry-run prints the exact statements and changes nothing.
    let url = db.to_string();
    let dry = godwit(&["maintain", "--to", &url, "--dry-run"]);
    assert_exit(&dry, 0);
    let text = stdout(&dry);
    for statement in [
        "VACUUM (ANALYZE) events;",
        "REINDEX INDEX CONCURRENTLY events_body_idx;",
        "ALTER TABLE orders VALIDATE CONSTRAINT \"orders_customer_fk\";",
        "ALTER TABLE orders VALIDATE CONSTRAINT \"orders_amount_positive\";",
        "ANALYZE customers;",
    ] {
        assert!(text.lines().any(|l| l == statement), "missing {statement}:\n{text}");
    }
    assert_eq!(
        value(
            &db,
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'events_body_idx'::regclass"
        ),
        "false"
    );
    assert_eq!(
        value(&db, "SELECT count(*) FROM pg_constraint WHERE NOT convalidated"),
        "2"
    );
    assert_eq!(
        value(
            &db,
            "SELECT last_vacuum IS NULL FROM pg_stat_user_tables WHERE relname = 'events'"
        ),
        "true"
    );

    let (out, report) = maintain(&db, &[]);
    assert_exit(&out, 3); // the FK keeps its violating row
    let vacuum = step(&report, "VACUUM (ANALYZE) events");
    assert_eq!(vacuum["status"], "done", "{vacuum:#}");
    assert!(
        vacuum["before"]["dead_tuples"].as_f64().unwrap() >= 5000.0,
        "{vacuum:#}"
    );
    assert_eq!(vacuum["after"]["dead_tuples"].as_f64().unwrap(), 0.0, "{vacuum:#}");
    assert!(vacuum["after"]["bytes"].as_f64().unwrap() > 0.0);
    assert_eq!(step(&report, "ANALYZE customers")["status"], "done");
    assert_eq!(
        step(&report, "REINDEX INDEX CONCURRENTLY events_body_idx")["status"],
        "done"
    );
    assert_eq!(
        value(
            &db,
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'events_body_idx'::regclass"
        ),
        "true"
    );
    let check = step(
        &report,
        "ALTER TABLE orders VALIDATE CONSTRAINT \"orders_amount_positive\"",
    );
    assert_eq!(check["status"], "done", "{check:#}");
    let fk = step(&report, "ALTER TABLE orders VALIDATE CONSTRAINT \"orders_customer_fk\"");
    assert_eq!(fk["status"], "left", "{fk:#}");
    assert_eq!(
        fk["violating_rows"], 1,
        "only customer 99 is missing; NULL passes: {fk:#}"
    );
    assert_eq!(
        value(
            &db,
            "SELECT convalidated FROM pg_constraint WHERE conname = 'orders_customer_fk'"
        ),
        "false"
    );
    assert_eq!(value(&db, "SELECT count(*) FROM orders"), "3", "no row was deleted");
}

#[test]
fn a_lock_held_by_the_application_skips_the_step() {
    let db = fresh_database("maintain_lock");
    db.connect()
        .unwrap()
        .batch_execute(
            "CREATE TABLE customers (id int PRIMARY KEY);
             CREATE TABLE orders (id int PRIMARY KEY, customer_id int);
             INSERT INTO orders VALUES (1, NULL);
             ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers NOT VALID;
             ANALYZE customers, orders;",
        )
        .unwrap();
    let mut app = db.connect().unwrap();
    app.batch_execute("BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE;")
        .unwrap();
    let (out, report) = maintain(&db, &["--lock-timeout", "200ms"]);
    assert_exit(&out, 3);
    let fk = step(&report, "ALTER TABLE orders VALIDATE CONSTRAINT");
    assert_eq!(fk["status"], "skipped", "{fk:#}");
    assert!(fk["message"].as_str().unwrap().contains("lock"), "{fk:#}");
    app.batch_execute("ROLLBACK").unwrap();
    // With the lock gone the same step runs.
    let (out, report) = maintain(&db, &[]);
    assert_exit(&out, 0);
    assert_eq!(
        step(&report, "ALTER TABLE orders VALIDATE CONSTRAINT")["status"],
        "done"
    );
}

#[test]
fn bloated_table_and_indexes_are_measured_then_indexes_rebuilt() {
    let db = fresh_database("maintain_bloat");
    let mut client = db.connect().unwrap();
    // 100,000 rows, then nine in ten deleted and vacuumed: the pages stay, mostly empty.
    client
        .batch_execute(
            "CREATE TABLE readings (id int PRIMARY KEY, v int) WITH (autovacuum_enabled = false);
             INSERT INTO readings SELECT g, g FROM generate_series(1, 100000) g;
             CREATE INDEX readings_v_idx ON readings (v);
             DELETE FROM readings WHERE id % 10 <> 0;",
        )
        .unwrap();
    client.batch_execute("VACUUM readings").unwrap();

    // Without pgstattuple: the table's bloat is an estimate, and index bloat is not measured.
    let url = db.to_string();
    let inspect = |kinds: &str| -> Value {
        let out = godwit(&["inspect", "--to", &url, "--json", "--kind", kinds]);
        serde_json::from_str(&stdout(&out)).unwrap()
    };
    let report = inspect("bloat");
    let bloat = report["findings"].as_array().unwrap();
    assert_eq!(bloat.len(), 1, "{report:#}");
    assert_eq!(
        (bloat[0]["object"].as_str(), bloat[0]["method"].as_str()),
        (Some("readings"), Some("estimate"))
    );

    // With it: exact figures for the table and both indexes.
    client.batch_execute("CREATE EXTENSION pgstattuple").unwrap();
    let report = inspect("bloat");
    let mut exact: Vec<(String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["object"].as_str().unwrap().to_string(),
                f["method"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    exact.sort();
    assert_eq!(
        exact,
        vec![
            ("readings".to_string(), "exact".to_string()),
            ("readings_pkey".to_string(), "exact".to_string()),
            ("readings_v_idx".to_string(), "exact".to_string()),
        ],
        "{report:#}"
    );

    let (out, report) = maintain(&db, &[]);
    assert_exit(&out, 0);
    for index in ["readings_pkey", "readings_v_idx"] {
        let reindex = step(&report, &format!("REINDEX INDEX CONCURRENTLY {index}"));
        assert_eq!(reindex["status"], "done", "{reindex:#}");
        assert!(
            reindex["after"]["bytes"].as_f64().unwrap() < reindex["before"]["bytes"].as_f64().unwrap(),
            "the rebuilt index is smaller: {reindex:#}"
        );
    }
    let density: f64 = value(&db, "SELECT avg_leaf_density FROM pgstatindex('readings_v_idx')")
        .parse()
        .unwrap();
    assert!(density > 50.0, "leaves {density}% full after REINDEX");
}
