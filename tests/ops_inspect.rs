//! `godwit inspect` against the real server: each kind induced in the
//! test's own database.

mod common;

use std::time::Duration;

use common::{assert_exit, fresh_database, godwit, stdout};
use godwit::postgres::conn::ConnSpec;
use serde_json::Value;

fn inspect(target: &ConnSpec, extra: &[&str]) -> (std::process::Output, Value) {
    let url = target.to_string();
    let mut args = vec!["inspect", "--to", url.as_str(), "--json"];
    args.extend_from_slice(extra);
    let out = godwit(&args);
    let json: Value = serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| {
        panic!(
            "inspect --json: {e}\nstdout:\n{}\nstderr:\n{}",
            stdout(&out),
            common::stderr(&out)
        )
    });
    (out, json)
}

fn findings<'a>(report: &'a Value, kind: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == kind)
        .collect()
}

/// Statistics reach the views when the writing session ends; wait for them.
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

#[test]
fn a_clean_database_has_no_findings() {
    let db = fresh_database("inspect_clean");
    db.connect()
        .unwrap()
        .batch_execute(
            "CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int PRIMARY KEY, a_id int REFERENCES a);
             CREATE INDEX ON b (a_id);",
        )
        .unwrap();
    let (out, report) = inspect(
        &db,
        &["--kind", "duplicate_index,missing_fk_index,unused_index,dead_tuples"],
    );
    assert_exit(&out, 0);
    assert_eq!(report["findings"].as_array().unwrap().len(), 0, "{report:#}");
}

#[test]
fn duplicate_index_and_unindexed_foreign_key() {
    let db = fresh_database("inspect_indexes");
    db.connect()
        .unwrap()
        .batch_execute(
            "CREATE TABLE customers (id int PRIMARY KEY, email text UNIQUE);
             CREATE INDEX customers_email_idx ON customers (email);     -- covered by the UNIQUE one
             CREATE INDEX customers_id_email_idx ON customers (id, email);
             CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers, note text);
             CREATE INDEX orders_note_idx ON orders (note, customer_id); -- does not lead with customer_id",
        )
        .unwrap();
    let (out, report) = inspect(&db, &["--kind", "duplicate_index,missing_fk_index"]);
    assert_exit(&out, 3);
    let dups: Vec<&str> = findings(&report, "duplicate_index")
        .iter()
        .map(|f| f["object"].as_str().unwrap())
        .collect();
    assert_eq!(dups, vec!["customers_email_idx"], "{report:#}");
    let dup = findings(&report, "duplicate_index")[0];
    assert_eq!(dup["suggestion"], "DROP INDEX CONCURRENTLY customers_email_idx;");
    assert!(
        dup["evidence"].as_str().unwrap().contains("customers_email_key"),
        "{dup:#}"
    );

    let fks = findings(&report, "missing_fk_index");
    assert_eq!(fks.len(), 1, "{report:#}");
    assert_eq!(fks[0]["object"], "orders (customer_id)");
    assert_eq!(
        fks[0]["suggestion"],
        "CREATE INDEX CONCURRENTLY ON orders (customer_id);"
    );
}

#[test]
fn dead_tuples_with_autovacuum_off_estimate_then_exact() {
    let db = fresh_database("inspect_dead");
    db.connect()
        .unwrap()
        .batch_execute(
            "CREATE TABLE events (id int PRIMARY KEY, body text) WITH (autovacuum_enabled = false);
             INSERT INTO events SELECT g, repeat('x', 50) FROM generate_series(1, 10000) g;
             DELETE FROM events WHERE id % 2 = 0;",
        )
        .unwrap();
    wait_until(
        &db,
        "SELECT n_dead_tup >= 5000 FROM pg_stat_user_tables WHERE relname = 'events'",
    );
    let (out, report) = inspect(&db, &["--kind", "dead_tuples,vacuum_needed,analyze_needed,bloat"]);
    assert_exit(&out, 3);
    let dead = findings(&report, "dead_tuples");
    assert_eq!(dead.len(), 1, "{report:#}");
    assert_eq!(dead[0]["object"], "events");
    assert_eq!(dead[0]["method"], "estimate");
    assert!(
        dead[0]["evidence"].as_str().unwrap().contains("autovacuum is off"),
        "{dead:#?}"
    );
    let vacuum = findings(&report, "vacuum_needed");
    assert_eq!(vacuum.len(), 1, "{report:#}");
    assert!(
        vacuum[0]["evidence"]
            .as_str()
            .unwrap()
            .contains("autovacuum_vacuum_threshold")
    );
    assert_eq!(findings(&report, "analyze_needed").len(), 1, "{report:#}");
    assert!(
        report["notes"].to_string().contains("pgstattuple"),
        "says how to get exact figures"
    );

    // With pgstattuple the same table is measured exactly.
    db.connect()
        .unwrap()
        .batch_execute("CREATE EXTENSION pgstattuple")
        .unwrap();
    let (_, report) = inspect(&db, &["--kind", "dead_tuples"]);
    let dead = findings(&report, "dead_tuples");
    assert_eq!(dead.len(), 1, "{report:#}");
    assert_eq!(dead[0]["method"], "exact");
    assert!(
        dead[0]["evidence"].as_str().unwrap().contains("pgstattuple"),
        "{dead:#?}"
    );
}

#[test]
fn slow_statement_from_pg_stat_statements() {
    let db = fresh_database("inspect_slow");
    // Without the extension in this database: a note saying how to enable it.
    let (_, report) = inspect(&db, &["--kind", "slow_query"]);
    assert!(
        report["notes"]
            .to_string()
            .contains("CREATE EXTENSION pg_stat_statements"),
        "{report:#}"
    );
    let mut client = db.connect().unwrap();
    client
        .batch_execute("CREATE EXTENSION pg_stat_statements; SELECT pg_sleep(0.15) AS godwit_slow_marker;")
        .unwrap();
    let (out, report) = inspect(&db, &["--kind", "slow_query"]);
    assert_exit(&out, 3);
    let slow = findings(&report, "slow_query");
    let marker = slow
        .iter()
        .find(|f| f["object"].as_str().unwrap().contains("godwit_slow_marker"))
        .unwrap_or_else(|| panic!("no slow_query for the pg_sleep statement: {report:#}"));
    let evidence = marker["evidence"].as_str().unwrap();
    assert!(
        evidence.contains("mean") && evidence.contains("total") && evidence.contains("1 calls"),
        "{evidence}"
    );
    assert!(
        marker["suggestion"]
            .as_str()
            .unwrap()
            .starts_with("EXPLAIN (ANALYZE, BUFFERS)")
    );
}

#[test]
fn unused_index_waits_for_old_enough_statistics() {
    let db = fresh_database("inspect_unused");
    db.connect()
        .unwrap()
        .batch_execute(
            "CREATE TABLE items (id int PRIMARY KEY, sku text, colour text);
             CREATE INDEX items_sku_idx ON items (sku);
             CREATE INDEX items_colour_idx ON items (colour);
             INSERT INTO items SELECT g, 's' || g, 'c' || (g % 7) FROM generate_series(1, 1000) g;",
        )
        .unwrap();
    // A fresh database: no index has been used, so none is called unused.
    let (_, report) = inspect(&db, &["--kind", "unused_index", "--min-stats-age", "0s"]);
    assert!(findings(&report, "unused_index").is_empty(), "{report:#}");
    assert!(
        report["notes"]
            .to_string()
            .contains("no index of this database has been scanned"),
        "{report:#}"
    );

    // The app uses the sku index; the colour index stays unused.
    {
        let mut app = db.connect().unwrap();
        app.batch_execute("SET enable_seqscan = off; SELECT * FROM items WHERE sku = 's5';")
            .unwrap();
    }
    wait_until(
        &db,
        "SELECT idx_scan > 0 FROM pg_stat_user_indexes WHERE indexrelname = 'items_sku_idx'",
    );
    // Statistics younger than the default 7 days: still not judged.
    let (_, report) = inspect(&db, &["--kind", "unused_index"]);
    assert!(findings(&report, "unused_index").is_empty(), "{report:#}");
    assert!(report["notes"].to_string().contains("min-stats-age"), "{report:#}");
    // Old enough by the caller's measure: the colour index, never the primary key.
    let (out, report) = inspect(&db, &["--kind", "unused_index", "--min-stats-age", "0s"]);
    assert_exit(&out, 3);
    let unused: Vec<&str> = findings(&report, "unused_index")
        .iter()
        .map(|f| f["object"].as_str().unwrap())
        .collect();
    assert_eq!(unused, vec!["items_colour_idx"], "{report:#}");
}

#[test]
fn undatable_statistics_count_as_young_for_a_plain_role() {
    let db = fresh_database("inspect_undatable");
    let role = format!("inspect_plain_{}", std::process::id());
    let mut admin = db.connect().unwrap();
    admin
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN;
             CREATE TABLE items (id int PRIMARY KEY, sku text, colour text) WITH (autovacuum_enabled = false);
             CREATE INDEX items_sku_idx ON items (sku);
             CREATE INDEX items_colour_idx ON items (colour);
             INSERT INTO items SELECT g, 's' || g, 'c' || (g % 7) FROM generate_series(1, 1000) g;
             SET enable_seqscan = off; SELECT * FROM items WHERE sku = 's5';"
        ))
        .unwrap();
    drop(admin);
    wait_until(
        &db,
        "SELECT idx_scan > 0 FROM pg_stat_user_indexes WHERE indexrelname = 'items_sku_idx'",
    );
    // A role that can neither read reset times nor the database's creation time, in a
    // database never vacuumed or analyzed: the statistics' age cannot be told.
    let plain = ConnSpec::parse(&format!(
        "postgresql://{role}@{}:{}/{}?sslmode=disable",
        db.host, db.port, db.dbname
    ))
    .unwrap();
    let (_, report) = inspect(&plain, &["--kind", "unused_index", "--min-stats-age", "0s"]);
    assert!(findings(&report, "unused_index").is_empty(), "{report:#}");
    assert!(report["notes"].to_string().contains("cannot be told"), "{report:#}");
    // An ANALYZE dates them: statistics have been collecting at least since then.
    db.connect().unwrap().batch_execute("ANALYZE items").unwrap();
    let (_, report) = inspect(&plain, &["--kind", "unused_index", "--min-stats-age", "0s"]);
    let unused: Vec<&str> = findings(&report, "unused_index")
        .iter()
        .map(|f| f["object"].as_str().unwrap())
        .collect();
    assert_eq!(unused, vec!["items_colour_idx"], "{report:#}");
    db.connect()
        .unwrap()
        .batch_execute(&format!("DROP ROLE {role}"))
        .unwrap();
}

#[test]
fn sequential_scans_and_settings() {
    let db = fresh_database("inspect_seq");
    {
        let mut app = db.connect().unwrap();
        app.batch_execute(
            "CREATE TABLE logs (id int PRIMARY KEY, level text);
             INSERT INTO logs SELECT g, 'info' FROM generate_series(1, 12000) g;",
        )
        .unwrap();
        for _ in 0..3 {
            app.batch_execute("SELECT count(*) FROM logs WHERE level = 'error'")
                .unwrap();
        }
    }
    wait_until(
        &db,
        "SELECT n_live_tup >= 12000 AND seq_scan >= 3 FROM pg_stat_user_tables WHERE relname = 'logs'",
    );
    let (out, report) = inspect(&db, &["--kind", "seq_scans,setting"]);
    assert_exit(&out, 3);
    let seq = findings(&report, "seq_scans");
    assert_eq!(seq.len(), 1, "{report:#}");
    assert_eq!(seq[0]["object"], "logs");
    assert!(
        seq[0]["suggestion"].as_str().unwrap().contains("pg_stat_statements"),
        "{seq:#?}"
    );
    // godwit local runs with PostgreSQL's defaults for these.
    let settings: Vec<&str> = findings(&report, "setting")
        .iter()
        .map(|f| f["object"].as_str().unwrap())
        .collect();
    assert!(settings.contains(&"random_page_cost"), "{report:#}");
}
