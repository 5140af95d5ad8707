//! `godwit health` against the real server, each condition induced in a
//! database of the test's own (server-wide checks are asserted on the
//! sessions the test made, since other tests share the server).

mod common;

use std::time::Duration;

use common::{assert_exit, fresh_database, godwit, stderr, stdout};
use godwit::postgres::conn::ConnSpec;
use serde_json::Value;

fn health(target: &ConnSpec, extra: &[&str]) -> (std::process::Output, Value) {
    let url = target.to_string();
    let mut args = vec!["health", "--to", url.as_str(), "--json"];
    args.extend_from_slice(extra);
    let out = godwit(&args);
    let json: Value = serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| {
        panic!(
            "health --json: {e}\nstdout:\n{}\nstderr:\n{}",
            stdout(&out),
            stderr(&out)
        )
    });
    (out, json)
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {report:#}"))
}

/// Waits until `sql` (a boolean query) is true: the induced condition has set in.
fn wait_until(target: &ConnSpec, sql: &str) {
    let mut client = target.connect().unwrap();
    for _ in 0..600 {
        if client.query_one(sql, &[]).unwrap().get::<_, bool>(0) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("condition never held: {sql}");
}

#[test]
fn long_query_and_idle_transaction_are_named_by_pid() {
    let db = fresh_database("health_sessions");
    // A long query on its own connection.
    let mut sleeper = db.connect().unwrap();
    let sleeper_pid: i32 = sleeper.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    let sleeping = std::thread::spawn(move || sleeper.batch_execute("SELECT pg_sleep(600)"));
    // A session idle in a transaction.
    let mut idle = db.connect().unwrap();
    let idle_pid: i32 = idle.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    idle.batch_execute("BEGIN; SELECT 1").unwrap();
    wait_until(
        &db,
        &format!(
            "SELECT count(*) = 2 FROM pg_stat_activity WHERE \
             (pid = {sleeper_pid} AND state = 'active' AND now() - query_start > interval '1.2 s') OR \
             (pid = {idle_pid} AND state = 'idle in transaction' AND now() - state_change > interval '1.2 s')"
        ),
    );

    let (out, report) = health(
        &db,
        &[
            "--threshold",
            "long_running_queries=1s,1h",
            "--threshold",
            "idle_in_transaction=1s,1h",
        ],
    );
    let long = check(&report, "long_running_queries");
    assert_eq!(long["status"], "warning", "{long:#}");
    assert!(
        long["details"].to_string().contains(&format!("pid {sleeper_pid}")),
        "{long:#}"
    );
    assert!(long["details"].to_string().contains("pg_sleep"), "{long:#}");
    let idle_check = check(&report, "idle_in_transaction");
    assert_eq!(idle_check["status"], "warning", "{idle_check:#}");
    assert!(
        idle_check["details"].to_string().contains(&format!("pid {idle_pid}")),
        "{idle_check:#}"
    );
    // Exit code follows the worst status; nothing here is critical within an hour.
    assert_ne!(out.status.code(), Some(0), "{report:#}");
    assert!(
        report["status"] == "warning" || report["status"] == "critical",
        "{report:#}"
    );

    // Human output: one line per check, the worst first.
    let url = db.to_string();
    let human = godwit(&["health", "--to", &url, "--threshold", "long_running_queries=1s,1h"]);
    let text = stdout(&human);
    let lines: Vec<&str> = text.lines().skip(1).collect();
    assert!(lines.len() >= 13, "{text}");
    let rank = |l: &str| {
        ["CRITICAL", "WARNING", "UNKNOWN", "OK"]
            .iter()
            .position(|s| l.starts_with(s))
            .unwrap()
    };
    assert!(
        lines.windows(2).all(|w| rank(w[0]) <= rank(w[1])),
        "not worst first:\n{text}"
    );

    db.connect()
        .unwrap()
        .batch_execute(&format!("SELECT pg_cancel_backend({sleeper_pid})"))
        .unwrap();
    assert!(sleeping.join().unwrap().is_err(), "the sleep was cancelled");
    drop(idle);
}

fn catalog_problems(db: &ConnSpec) {
    db.connect()
        .unwrap()
        .batch_execute(
            "CREATE TABLE orders (id serial PRIMARY KEY, customer_id int);
             SELECT setval('orders_id_seq', 2040109466); -- 95% of int4
             CREATE TABLE customers (id int PRIMARY KEY);
             INSERT INTO orders (customer_id) VALUES (99);
             ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id)
                 REFERENCES customers (id) NOT VALID;
             CREATE TABLE emails (address text);
             INSERT INTO emails VALUES ('a@x'), ('a@x');",
        )
        .unwrap();
    // A unique index over duplicates: CREATE INDEX CONCURRENTLY fails and leaves it invalid.
    let err = db
        .connect()
        .unwrap()
        .batch_execute("CREATE UNIQUE INDEX CONCURRENTLY emails_address_key ON emails (address)")
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("23505"), "{err}");
}

#[test]
fn sequence_invalid_index_and_not_valid_fk() {
    let db = fresh_database("health_catalog");
    catalog_problems(&db);
    let (out, report) = health(&db, &["--threshold", "database_size=1kB,1TB"]);
    let seq = check(&report, "sequences");
    assert_eq!(seq["status"], "critical", "{seq:#}");
    assert!(
        seq["message"].as_str().unwrap().contains("orders.id"),
        "names table and column: {seq:#}"
    );
    assert!(seq["value"].as_f64().unwrap() >= 95.0, "{seq:#}");
    let index = check(&report, "invalid_indexes");
    assert_eq!(index["status"], "warning", "{index:#}");
    assert!(
        index["message"].as_str().unwrap().contains("emails_address_key"),
        "{index:#}"
    );
    let fk = check(&report, "not_valid_constraints");
    assert_eq!(fk["status"], "warning", "{fk:#}");
    assert!(fk["message"].as_str().unwrap().contains("orders_customer_fk"), "{fk:#}");
    assert_eq!(check(&report, "database_size")["status"], "warning");
    assert_eq!(report["status"], "critical");
    assert_exit(&out, 2);

    // The same in Nagios and Prometheus form.
    let url = db.to_string();
    let nagios = godwit(&["health", "--to", &url, "--format", "nagios"]);
    assert_exit(&nagios, 2);
    let line = stdout(&nagios);
    assert_eq!(line.trim_end().lines().count(), 1, "{line}");
    assert!(line.starts_with("POSTGRES CRITICAL - "), "{line}");
    assert!(line.contains(" | ") && line.contains("sequences=9"), "{line}");
    let prom = godwit(&["health", "--to", &url, "--format", "prometheus"]);
    assert_exit(&prom, 2);
    assert!(
        stdout(&prom).contains("godwit_health_check_status{check=\"sequences\"} 2"),
        "{}",
        stdout(&prom)
    );

    // A threshold from godwit.toml, overridden by a flag.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("godwit.toml");
    std::fs::write(&config, "[health]\nsequences = \"99%,99.9%\"\n").unwrap();
    let (out, report) = health(&db, &["--config", config.to_str().unwrap()]);
    assert_eq!(check(&report, "sequences")["status"], "ok", "{report:#}");
    assert_ne!(out.status.code(), Some(2), "{report:#}");
    let (_, report) = health(
        &db,
        &["--config", config.to_str().unwrap(), "--threshold", "sequences=90,99"],
    );
    assert_eq!(check(&report, "sequences")["status"], "warning", "{report:#}");
}

#[test]
fn pg_monitor_role_sees_what_it_may_and_names_what_it_may_not() {
    let db = fresh_database("health_monitor");
    catalog_problems(&db);
    let suffix = std::process::id();
    let monitor = format!("health_mon_{suffix}");
    let plain = format!("health_plain_{suffix}");
    let mut admin = db.connect().unwrap();
    admin
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {monitor}; DROP ROLE IF EXISTS {plain};
             CREATE ROLE {monitor} LOGIN IN ROLE pg_monitor; CREATE ROLE {plain} LOGIN;"
        ))
        .unwrap();
    let as_role = |role: &str| {
        ConnSpec::parse(&format!(
            "postgresql://{role}@{}:{}/{}?sslmode=disable",
            db.host, db.port, db.dbname
        ))
        .unwrap()
    };

    let (out, report) = health(&as_role(&monitor), &[]);
    let seq = check(&report, "sequences");
    assert_eq!(seq["status"], "unknown", "{seq:#}");
    assert!(
        seq["message"].as_str().unwrap().contains("pg_read_all_data"),
        "names the privilege: {seq:#}"
    );
    for name in [
        "long_running_queries",
        "idle_in_transaction",
        "blocked_queries",
        "connections",
    ] {
        assert_ne!(
            check(&report, name)["status"],
            "unknown",
            "pg_monitor sees {name}: {report:#}"
        );
    }
    // What it can see is still judged: the invalid index and NOT VALID FK.
    assert_eq!(check(&report, "invalid_indexes")["status"], "warning");
    assert_eq!(check(&report, "not_valid_constraints")["status"], "warning");
    assert_ne!(out.status.code(), Some(0));

    // Without pg_monitor, other roles' sessions are invisible: UNKNOWN, naming pg_read_all_stats.
    let (_, report) = health(&as_role(&plain), &[]);
    let long = check(&report, "long_running_queries");
    assert_eq!(long["status"], "unknown", "{long:#}");
    assert!(
        long["message"].as_str().unwrap().contains("pg_read_all_stats"),
        "{long:#}"
    );

    admin
        .batch_execute(&format!("DROP ROLE {monitor}; DROP ROLE {plain};"))
        .unwrap();
}

#[test]
fn stopped_server_is_critical_and_bad_thresholds_unknown() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgresql://nobody@127.0.0.1:{port}/db?sslmode=disable");
    let out = godwit(&["health", "--to", &url, "--connect-timeout", "3s", "--json"]);
    assert_exit(&out, 2);
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["status"], "critical");
    assert_eq!(report["checks"][0]["name"], "connection");
    assert!(
        report["checks"][0]["message"].as_str().unwrap().contains("refused"),
        "{report:#}"
    );

    let out = godwit(&["health", "--to", &url, "--threshold", "long_running_queries=soon"]);
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("invalid duration"), "{}", stderr(&out));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("godwit.toml");
    std::fs::write(&config, "[health]\nlong_runing_queries = \"30s\"\n").unwrap();
    let out = godwit(&[
        "health",
        "--to",
        &url,
        "--config",
        config.to_str().unwrap(),
        "--format",
        "nagios",
    ]);
    assert_exit(&out, 3);
    assert!(stdout(&out).starts_with("POSTGRES UNKNOWN - "), "{}", stdout(&out));
    assert!(stderr(&out).contains("line 2"), "{}", stderr(&out));
}

#[test]
fn last_backup_from_a_backup_directory() {
    let db = fresh_database("health_backup");
    db.connect()
        .unwrap()
        .batch_execute("CREATE TABLE notes (id int PRIMARY KEY); INSERT INTO notes VALUES (1), (2);")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path().to_str().unwrap();
    let (out, report) = health(&db, &["--backups", backups]);
    assert_eq!(check(&report, "last_backup")["status"], "critical", "{report:#}");
    assert_exit(&out, 2);

    let url = db.to_string();
    let taken = godwit(&["backup", "--to", &url, "--dir", backups]);
    assert!(taken.status.success(), "{}", String::from_utf8_lossy(&taken.stderr));
    let (_, report) = health(&db, &["--backups", backups]);
    let last = check(&report, "last_backup");
    assert_eq!(last["status"], "warning", "never verified: {last:#}");

    let newest = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join("manifest.json").is_file())
        .unwrap();
    let verified = godwit(&["backup", "verify", newest.to_str().unwrap(), "--to", &url]);
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    let (_, report) = health(&db, &["--backups", backups]);
    assert_eq!(check(&report, "last_backup")["status"], "ok", "{report:#}");
    // A threshold below the backup's age makes it stale.
    let (_, report) = health(&db, &["--backups", backups, "--threshold", "last_backup=0s,1h"]);
    assert_eq!(check(&report, "last_backup")["status"], "warning", "{report:#}");
}

#[test]
fn blocked_query_names_its_blocker_and_health_never_waits_on_a_lock() {
    let db = fresh_database("health_locks");
    db.connect()
        .unwrap()
        .batch_execute("CREATE TABLE accounts (id serial PRIMARY KEY); INSERT INTO accounts DEFAULT VALUES;")
        .unwrap();
    // The application holds the table and its sequence exclusively...
    let mut holder = db.connect().unwrap();
    let holder_pid: i32 = holder.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    holder
        .batch_execute(
            "BEGIN; LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE; ALTER SEQUENCE accounts_id_seq INCREMENT BY 1;",
        )
        .unwrap();
    // ...and another session waits for it.
    let mut waiter = db.connect().unwrap();
    let waiter_pid: i32 = waiter.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    let waiting = std::thread::spawn(move || waiter.batch_execute("SELECT count(*) FROM accounts"));
    wait_until(
        &db,
        &format!(
            "SELECT count(*) = 1 FROM pg_locks WHERE pid = {waiter_pid} AND NOT granted \
             AND now() - waitstart > interval '1.2 s'"
        ),
    );

    let (_, report) = health(&db, &["--threshold", "blocked_queries=1s,1h"]);
    let blocked = check(&report, "blocked_queries");
    assert_eq!(blocked["status"], "warning", "{blocked:#}");
    let details = blocked["details"].to_string();
    assert!(
        details.contains(&format!("pid {waiter_pid}")) && details.contains(&format!("blocked by {holder_pid}")),
        "{blocked:#}"
    );
    // The sequence cannot be read without its lock: UNKNOWN after lock_timeout, not a hang.
    let sequences = check(&report, "sequences");
    assert_eq!(sequences["status"], "unknown", "{sequences:#}");
    assert!(sequences["message"].as_str().unwrap().contains("lock"), "{sequences:#}");
    // Everything else about the database was still judged.
    assert_eq!(check(&report, "invalid_indexes")["status"], "ok");

    holder.batch_execute("COMMIT").unwrap();
    waiting.join().unwrap().unwrap();
}

#[test]
fn an_inactive_replication_slot_is_a_warning() {
    let db = fresh_database("health_slot");
    let slot = format!("godwit_test_slot_{}", std::process::id());
    let mut admin = db.connect().unwrap();
    // A physical slot that reserves WAL at once and that no replica uses.
    admin
        .batch_execute(&format!("SELECT pg_create_physical_replication_slot('{slot}', true)"))
        .unwrap();
    let (_, report) = health(&db, &[]);
    admin
        .batch_execute(&format!("SELECT pg_drop_replication_slot('{slot}')"))
        .unwrap();
    let replication = check(&report, "replication_slots");
    assert_eq!(replication["status"], "warning", "{replication:#}");
    assert!(
        replication["message"].as_str().unwrap().contains(&slot),
        "{replication:#}"
    );
}
