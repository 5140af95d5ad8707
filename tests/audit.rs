//! `godwit audit enable|status|disable` and `migrate new --recipe audit`
//! against a real server: what the trail records, that the application
//! cannot touch it, and pgaudit where the server loads it.

mod common;

use common::{assert_exit, fresh_database, godwit, rows, stderr, stdout, value};
use godwit::postgres::conn::ConnSpec;

fn as_role(db: &ConnSpec, role: &str) -> ConnSpec {
    ConnSpec::parse(&format!(
        "postgresql://{role}@{}:{}/{}?sslmode=disable",
        db.host, db.port, db.dbname
    ))
    .unwrap()
}

fn status(db: &ConnSpec) -> serde_json::Value {
    let out = godwit(&["audit", "status", "--to", &db.to_string(), "--json"]);
    assert_exit(&out, 0);
    serde_json::from_str(&stdout(&out)).unwrap()
}

#[test]
fn trigger_mode_records_who_what_and_the_row_and_the_app_cannot_touch_it() {
    let db = fresh_database("audit_trigger");
    let app = format!("audit_app_{}", std::process::id());
    let mut admin = db.connect().unwrap();
    admin
        .batch_execute(&format!(
            "CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric);
             CREATE TABLE lines (order_id int, line int, qty int, PRIMARY KEY (order_id, line));
             CREATE TABLE notes (body text);
             CREATE TABLE untouched (id int PRIMARY KEY);
             DROP ROLE IF EXISTS {app}; CREATE ROLE {app} LOGIN;
             GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {app};"
        ))
        .unwrap();
    let url = db.to_string();

    // A table that does not exist is named, and nothing is changed.
    let out = godwit(&[
        "audit",
        "enable",
        "--to",
        &url,
        "--mode",
        "trigger",
        "--tables",
        "accounts,nope",
    ]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("no table \"nope\""), "{}", stderr(&out));
    assert_eq!(
        value(&db, "SELECT (to_regclass('godwit.audit_log') IS NULL)::text"),
        "true"
    );

    let out = godwit(&[
        "audit",
        "enable",
        "--to",
        &url,
        "--mode",
        "trigger",
        "--tables",
        "accounts,lines,notes",
    ]);
    assert_exit(&out, 0);
    let mut client = as_role(&db, &app).connect().unwrap();
    client
        .batch_execute(
            "INSERT INTO accounts VALUES (1, 'ada', 10), (2, 'bob', 20);
             UPDATE accounts SET balance = 15 WHERE id = 1;
             DELETE FROM accounts WHERE id = 2;
             INSERT INTO lines VALUES (7, 1, 3); UPDATE lines SET qty = 4;
             INSERT INTO notes VALUES ('no key');
             INSERT INTO untouched VALUES (1);",
        )
        .unwrap();

    // What happened to account 1, newest last.
    let history = rows(
        &db,
        "SELECT actor AS a, operation AS b, coalesce(old_row->>'balance', '-') AS c, coalesce(new_row->>'balance', '-') AS d \
         FROM godwit.audit_log WHERE table_name = 'public.accounts' AND row_key = '{\"id\": 1}' ORDER BY id",
    );
    assert_eq!(
        history,
        vec![
            vec![app.clone(), "INSERT".into(), "-".into(), "10".into()],
            vec![app.clone(), "UPDATE".into(), "10".into(), "15".into()],
        ]
    );
    assert_eq!(
        value(
            &db,
            "SELECT old_row::text FROM godwit.audit_log WHERE operation = 'DELETE'"
        ),
        r#"{"id": 2, "owner": "bob", "balance": 20}"#
    );
    assert_eq!(
        value(
            &db,
            "SELECT row_key::text FROM godwit.audit_log WHERE table_name = 'public.lines' AND operation = 'UPDATE'"
        ),
        r#"{"line": 1, "order_id": 7}"#
    );
    assert_eq!(
        value(
            &db,
            "SELECT coalesce(row_key::text, 'NULL') FROM godwit.audit_log WHERE table_name = 'public.notes'"
        ),
        "NULL",
        "no key: the whole row is in new_row"
    );
    assert_eq!(
        value(
            &db,
            "SELECT count(*) FROM godwit.audit_log WHERE table_name = 'public.untouched'"
        ),
        "0"
    );
    // Rows land in this month's partition; the row lookup can use its index.
    assert_eq!(
        value(
            &db,
            "SELECT count(DISTINCT tableoid::regclass::text) FROM godwit.audit_log \
             WHERE tableoid::regclass::text = 'godwit.audit_log_' || to_char(now(), 'YYYY_MM')"
        ),
        "1"
    );
    let plan = rows(
        &db,
        "SELECT 1 AS a FROM pg_indexes WHERE schemaname = 'godwit' AND indexdef LIKE '%(table_name, row_key, at)%'",
    );
    assert!(
        !plan.is_empty(),
        "an index on (table_name, row_key, at) on every partition"
    );

    // The application cannot read, change or empty the trail.
    for sql in [
        "SELECT * FROM godwit.audit_log",
        "DELETE FROM godwit.audit_log",
        "UPDATE godwit.audit_log SET actor = 'x'",
        "INSERT INTO godwit.audit_log (table_name, operation) VALUES ('x', 'INSERT')",
    ] {
        let err = client.batch_execute(sql).unwrap_err();
        assert_eq!(err.code().map(|c| c.code()), Some("42501"), "{sql}: {err}");
    }

    let report = status(&db);
    assert_eq!(report["events"], 7, "{report:#}");
    assert_eq!(
        report["trigger_tables"],
        serde_json::json!(["public.accounts", "public.lines", "public.notes"])
    );
    assert!(
        report["last_event"]
            .as_str()
            .unwrap()
            .contains("INSERT on public.notes"),
        "{report:#}"
    );
    let human = godwit(&["audit", "status", "--to", &url]);
    assert!(stdout(&human).contains("audit: trigger"), "{}", stdout(&human));

    // Enabling again changes nothing and duplicates no trigger.
    assert_exit(
        &godwit(&[
            "audit", "enable", "--to", &url, "--mode", "trigger", "--tables", "accounts",
        ]),
        0,
    );
    assert_eq!(
        value(&db, "SELECT count(*) FROM pg_trigger WHERE tgname = 'godwit_audit'"),
        "3"
    );

    let out = godwit(&["audit", "disable", "--to", &url, "--tables", "accounts"]);
    assert_exit(&out, 0);
    client
        .batch_execute("UPDATE accounts SET balance = 0; UPDATE lines SET qty = 5")
        .unwrap();
    assert_eq!(
        value(
            &db,
            "SELECT count(*) FROM godwit.audit_log WHERE table_name = 'public.accounts'"
        ),
        "4",
        "the trail stays; later writes are not recorded"
    );
    assert_eq!(
        value(
            &db,
            "SELECT count(*) FROM godwit.audit_log WHERE table_name = 'public.lines'"
        ),
        "3"
    );
    drop(client);
    admin
        .batch_execute(&format!("DROP OWNED BY {app}; DROP ROLE {app};"))
        .unwrap();
}

#[test]
fn the_audit_recipe_is_a_migration_that_goes_up_and_down() {
    let db = fresh_database("audit_recipe");
    let url = db.to_string();
    db.connect()
        .unwrap()
        .batch_execute("CREATE TABLE \"Orders\" (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, total int)")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let migrations = dir.path().join("m");
    let migrations = migrations.to_str().unwrap();
    let out = godwit(&[
        "migrate",
        "new",
        "audit orders",
        "--recipe",
        "audit",
        "--table",
        "Orders",
        "--dir",
        migrations,
    ]);
    assert_exit(&out, 0);
    assert_exit(&godwit(&["migrate", "lint", "--dir", migrations, "--all"]), 0);
    assert_exit(&godwit(&["migrate", "up", "--to", &url, "--dir", migrations]), 0);
    db.connect()
        .unwrap()
        .batch_execute("INSERT INTO \"Orders\" (total) VALUES (5)")
        .unwrap();
    assert_eq!(
        value(&db, "SELECT table_name || ' ' || row_key::text FROM godwit.audit_log"),
        r#"public."Orders" {"id": 1}"#
    );
    assert_exit(&godwit(&["migrate", "down", "--to", &url, "--dir", migrations]), 0);
    assert_eq!(
        value(&db, "SELECT count(*) FROM pg_trigger WHERE tgname = 'godwit_audit'"),
        "0"
    );
    assert_eq!(
        value(&db, "SELECT count(*) FROM godwit.audit_log"),
        "1",
        "the trail stays"
    );
}

#[test]
fn pgaudit_mode_where_the_server_loads_it_and_steps_where_it_does_not() {
    let db = fresh_database("audit_pgaudit");
    let url = db.to_string();
    db.connect()
        .unwrap()
        .batch_execute("CREATE TABLE payments (id int PRIMARY KEY, amount int)")
        .unwrap();
    let loaded = value(
        &db,
        "SELECT ('pgaudit' = ANY(string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ',')))::text",
    ) == "true";
    let installed = value(
        &db,
        "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pgaudit')::text",
    ) == "true";
    let out = godwit(&["audit", "enable", "--to", &url, "--mode", "pgaudit"]);
    if !loaded {
        if installed {
            assert_exit(&out, 3);
            assert!(
                stdout(&out).contains("ALTER SYSTEM SET shared_preload_libraries"),
                "{}",
                stdout(&out)
            );
            assert!(stdout(&out).contains("restart"), "{}", stdout(&out));
        } else {
            assert_exit(&out, 2);
            assert!(stderr(&out).contains("--mode trigger"), "{}", stderr(&out));
        }
        assert_eq!(
            value(&db, "SELECT count(*) FROM pg_extension WHERE extname = 'pgaudit'"),
            "0"
        );
        return;
    }
    assert_exit(&out, 0);
    let report = status(&db);
    assert_eq!(
        report["pgaudit_tables"],
        serde_json::json!(["public.payments"]),
        "{report:#}"
    );
    assert_eq!(report["pgaudit_log"], "ddl, role");
    // A new session is audited: the write through the auditor role, DDL and role changes by session.
    let marker = format!("audit_marker_{}", std::process::id());
    db.connect()
        .unwrap()
        .batch_execute(&format!(
            "INSERT INTO payments VALUES (1, 100); SELECT * FROM payments; CREATE TABLE {marker} (x int); DROP TABLE {marker};"
        ))
        .unwrap();
    // status shows the newest pgaudit event, read from the server log.
    let report = status(&db);
    let collected = value(&db, "SELECT current_setting('logging_collector')") == "on";
    match report["pgaudit_last_event"].as_str() {
        Some(event) => assert!(
            event.contains("AUDIT: SESSION") && event.contains(&format!("DROP TABLE,TABLE,public.{marker}")),
            "{report:#}"
        ),
        None => assert!(
            !collected
                && report["pgaudit_log_unreadable"]
                    .as_str()
                    .is_some_and(|why| why.contains("AUDIT:")),
            "neither the event nor why it is unknown: {report:#}"
        ),
    }
    let home = std::env::var("GODWIT_HOME").unwrap_or_else(|_| "/tmp/godwit-test-home".into());
    let log_path = std::path::Path::new(&home).join("local").join("server.log");
    if let Ok(log) = std::fs::read_to_string(&log_path) {
        assert!(
            log.contains("AUDIT: OBJECT") && log.contains("WRITE,INSERT,TABLE,public.payments"),
            "object write audited"
        );
        assert!(
            log.lines()
                .any(|l| l.contains("AUDIT: SESSION") && l.contains(&format!("CREATE TABLE,TABLE,public.{marker}"))),
            "DDL audited"
        );
    }
    let out = godwit(&["audit", "disable", "--to", &url]);
    assert_exit(&out, 0);
    let report = status(&db);
    assert_eq!(report["pgaudit_tables"], serde_json::json!([]), "{report:#}");
    assert!(report["pgaudit_log"].is_null(), "{report:#}");
}
