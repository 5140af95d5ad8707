//! `godwit roles plan|apply` against a real server: what each role may and
//! may not do, idempotence, default privileges for later migrations and
//! copies, and passwords that appear nowhere but where they are meant to.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{assert_exit, fresh_database, godwit, godwit_bin, sqlite_file, stderr, stdout, value};
use godwit::postgres::conn::ConnSpec;

/// Role names are cluster-wide: each test gets its own prefix.
fn prefix(name: &str) -> String {
    format!("{name}{}", std::process::id())
}

fn as_role(db: &ConnSpec, role: &str) -> ConnSpec {
    ConnSpec::parse(&format!(
        "postgresql://{role}@{}:{}/{}?sslmode=disable",
        db.host, db.port, db.dbname
    ))
    .unwrap()
}

/// The SQLSTATE `sql` fails with as `role`, or None when it succeeds.
fn attempt(db: &ConnSpec, role: &str, sql: &str) -> Option<String> {
    let mut client = as_role(db, role).connect().unwrap();
    client
        .batch_execute(sql)
        .err()
        .map(|e| e.code().map(|c| c.code().to_string()).unwrap_or_else(|| e.to_string()))
}

fn drop_roles(db: &ConnSpec, prefix: &str) {
    let server = db.with_dbname("postgres");
    let mut admin = server.connect().unwrap();
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", db.dbname))
        .unwrap();
    for suffix in ["app", "readonly", "monitor", "owner"] {
        admin
            .batch_execute(&format!("DROP ROLE IF EXISTS {prefix}_{suffix}"))
            .unwrap();
    }
}

const SCHEMA: &str = "CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL);
     CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, user_id int REFERENCES users, total numeric);
     CREATE SEQUENCE invoice_numbers;
     CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100;
     CREATE FUNCTION order_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM orders';
     CREATE TYPE status AS ENUM ('new', 'paid');
     INSERT INTO users (name) VALUES ('ada');";

#[test]
fn plan_changes_nothing_and_apply_gives_each_role_only_its_part() {
    let db = fresh_database("roles_apply");
    let p = prefix("shop");
    db.connect().unwrap().batch_execute(SCHEMA).unwrap();
    let url = db.to_string();

    let plan = godwit(&["roles", "plan", "--to", &url, "--prefix", &p]);
    assert_exit(&plan, 0);
    let script = stdout(&plan);
    assert!(script.contains(&format!("CREATE ROLE \"{p}_app\" LOGIN")), "{script}");
    assert!(script.contains("ALTER TABLE public.users OWNER TO"), "{script}");
    assert!(script.contains("ALTER DEFAULT PRIVILEGES"), "{script}");
    assert_eq!(
        value(
            &db,
            &format!("SELECT count(*) FROM pg_roles WHERE rolname LIKE '{p}\\_%'")
        ),
        "0",
        "plan created roles"
    );
    assert_eq!(
        value(
            &db,
            "SELECT pg_get_userbyid(relowner)::text FROM pg_class WHERE relname = 'users'"
        ),
        "postgres"
    );

    let applied = godwit(&["roles", "apply", "--to", &url, "--prefix", &p]);
    assert_exit(&applied, 0);
    let owner = format!("{p}_owner");
    let owners = value(
        &db,
        "SELECT string_agg(DISTINCT pg_get_userbyid(relowner)::text, ',') FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'",
    );
    assert_eq!(
        owners, owner,
        "every relation re-owned (indexes and owned sequences follow)"
    );
    assert_eq!(
        value(
            &db,
            "SELECT pg_get_userbyid(proowner)::text FROM pg_proc WHERE proname = 'order_count'"
        ),
        owner
    );
    assert_eq!(
        value(
            &db,
            "SELECT pg_get_userbyid(nspowner)::text FROM pg_namespace WHERE nspname = 'public'"
        ),
        owner
    );
    assert_eq!(
        value(
            &db,
            &format!("SELECT rolcanlogin::text || rolsuper::text FROM pg_roles WHERE rolname = '{owner}'")
        ),
        "falsefalse"
    );

    // The second run changes nothing and says so; plan agrees.
    let again = godwit(&["roles", "apply", "--to", &url, "--prefix", &p]);
    assert_exit(&again, 0);
    assert!(stdout(&again).contains("nothing changed"), "{}", stdout(&again));
    let plan = godwit(&["roles", "plan", "--to", &url, "--prefix", &p]);
    assert!(stdout(&plan).contains("nothing to change"), "{}", stdout(&plan));

    // The app: rows yes, structure no.
    let app = format!("{p}_app");
    for ok in [
        "INSERT INTO users (name) VALUES ('bob')",
        "INSERT INTO orders (user_id, total) VALUES (1, 150)",
        "UPDATE users SET name = 'Ada' WHERE id = 1",
        "SELECT count(*) FROM big_orders",
        "SELECT order_count()",
        "SELECT nextval('invoice_numbers')",
        "DELETE FROM orders",
    ] {
        assert_eq!(attempt(&db, &app, ok), None, "app: {ok}");
    }
    for refused in [
        "DROP TABLE users",
        "CREATE TABLE evil (id int)",
        "TRUNCATE orders",
        "ALTER TABLE users ADD COLUMN x int",
        "CREATE INDEX ON users (name)",
        "CREATE SCHEMA evil",
    ] {
        assert_eq!(attempt(&db, &app, refused).as_deref(), Some("42501"), "app: {refused}");
    }
    // Read-only reads and nothing else.
    let readonly = format!("{p}_readonly");
    assert_eq!(attempt(&db, &readonly, "SELECT * FROM users, orders"), None);
    for refused in [
        "INSERT INTO users (name) VALUES ('x')",
        "DELETE FROM users",
        "SELECT nextval('invoice_numbers')",
    ] {
        assert_eq!(
            attempt(&db, &readonly, refused).as_deref(),
            Some("42501"),
            "readonly: {refused}"
        );
    }
    // Monitoring reads no rows.
    let monitor = format!("{p}_monitor");
    assert_eq!(attempt(&db, &monitor, "SELECT * FROM users").as_deref(), Some("42501"));
    assert_eq!(
        value(
            &db,
            &format!("SELECT pg_has_role('{monitor}', 'pg_monitor', 'MEMBER')::text")
        ),
        "true"
    );

    drop_roles(&db, &p);
}

#[test]
fn tables_from_a_later_migration_or_copy_as_owner_are_usable_at_once() {
    let db = fresh_database("roles_later");
    let p = prefix("later");
    let url = db.to_string();
    assert_exit(&godwit(&["roles", "apply", "--to", &url, "--prefix", &p]), 0);
    let owner = format!("{p}_owner");
    let app = format!("{p}_app");

    let dir = tempfile::tempdir().unwrap();
    let migrations = dir.path().join("migrations");
    std::fs::create_dir(&migrations).unwrap();
    std::fs::write(
        migrations.join("1_create_notes.up.sql"),
        "CREATE TABLE notes (id bigserial PRIMARY KEY, body text);\n",
    )
    .unwrap();
    let up = godwit(&[
        "migrate",
        "up",
        "--to",
        &url,
        "--dir",
        migrations.to_str().unwrap(),
        "--owner",
        &owner,
    ]);
    assert_exit(&up, 0);
    assert_eq!(
        value(
            &db,
            "SELECT pg_get_userbyid(relowner)::text FROM pg_class WHERE relname = 'notes'"
        ),
        owner
    );
    assert_eq!(
        attempt(&db, &app, "INSERT INTO notes (body) VALUES ('hi'); SELECT * FROM notes"),
        None
    );
    assert_eq!(attempt(&db, &app, "DROP TABLE notes").as_deref(), Some("42501"));

    let source = sqlite_file(
        dir.path(),
        "app.db",
        "CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT); INSERT INTO items (name) VALUES ('a');",
    );
    let copied = godwit(&["copy", source.to_str().unwrap(), "--to", &url, "--owner", &owner]);
    assert_exit(&copied, 0);
    assert_eq!(
        value(
            &db,
            "SELECT pg_get_userbyid(relowner)::text FROM pg_class WHERE relname = 'items'"
        ),
        owner
    );
    assert_eq!(
        attempt(
            &db,
            &app,
            "INSERT INTO items (name) VALUES ('b'); UPDATE items SET name = 'c'"
        ),
        None
    );
    assert_eq!(attempt(&db, &app, "TRUNCATE items").as_deref(), Some("42501"));

    // What they made is already covered: nothing left to apply.
    let plan = godwit(&["roles", "plan", "--to", &url, "--prefix", &p]);
    assert!(stdout(&plan).contains("nothing to change"), "{}", stdout(&plan));

    // The monitoring role now reads every sequence: health's sequences check answers.
    let monitor_url = as_role(&db, &format!("{p}_monitor")).to_string();
    let health = godwit(&["health", "--to", &monitor_url, "--json"]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&health)).unwrap();
    let sequences = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "sequences")
        .unwrap();
    assert_eq!(sequences["status"], "ok", "{sequences:#}");

    drop_roles(&db, &p);
}

/// The server log of the test cluster, when the tests run against godwit's own.
fn server_log() -> Option<std::path::PathBuf> {
    let home = std::env::var("GODWIT_HOME").unwrap_or_else(|_| "/tmp/godwit-test-home".into());
    let log = std::path::Path::new(&home).join("local").join("server.log");
    log.exists().then_some(log)
}

#[test]
fn passwords_go_to_the_file_only_never_to_output_argv_activity_or_the_server_log() {
    let db = fresh_database("roles_secret");
    let p = prefix("sec");
    let mut admin = db.connect().unwrap();
    admin.batch_execute(SCHEMA).unwrap();
    // Every statement of the apply lands in the server log.
    admin
        .batch_execute(&format!("ALTER DATABASE \"{}\" SET log_statement = 'all'", db.dbname))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("passwords");

    // Hold a lock that the re-owning needs, so apply is caught mid-way,
    // after the passwords are set, while ps and pg_stat_activity are read.
    let mut blocker = db.connect().unwrap();
    let mut lock = blocker.transaction().unwrap();
    lock.batch_execute("LOCK TABLE orders IN ACCESS SHARE MODE").unwrap();
    let child = Command::new(godwit_bin())
        .args([
            "roles",
            "apply",
            "--to",
            &db.to_string(),
            "--prefix",
            &p,
            "--password-file",
        ])
        .arg(&file)
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut waiting = false;
    for _ in 0..600 {
        waiting = value(
            &db,
            &format!(
                "SELECT count(*)::text FROM pg_stat_activity WHERE datname = '{}' AND wait_event_type = 'Lock'",
                db.dbname
            ),
        ) != "0";
        if waiting {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(waiting, "apply never reached the locked table");
    let ps = Command::new("ps").args(["-eww", "-o", "args"]).output().unwrap();
    let ps = String::from_utf8_lossy(&ps.stdout).into_owned();
    let activity = common::rows(
        &db,
        "SELECT coalesce(query, '') AS a FROM pg_stat_activity WHERE backend_type = 'client backend'",
    );
    lock.rollback().unwrap();
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 0);

    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = std::fs::read_to_string(&file).unwrap();
    let secrets: Vec<(String, String)> = text
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            assert_eq!(fields.len(), 5, ".pgpass line: host:port:db:role:password");
            assert_eq!(fields[2], db.dbname);
            (fields[3].to_string(), fields[4].to_string())
        })
        .collect();
    assert_eq!(secrets.len(), 3, "{text}");
    let log = server_log().map(|path| std::fs::read_to_string(path).unwrap_or_default());
    for (role, secret) in &secrets {
        assert!(secret.len() >= 24, "a long password for {role}");
        for (what, text) in [
            ("stdout", stdout(&out)),
            ("stderr", stderr(&out)),
            ("ps", ps.clone()),
            ("pg_stat_activity", format!("{activity:?}")),
        ] {
            assert!(!text.contains(secret.as_str()), "{role}'s password in {what}");
        }
        assert!(
            value(
                &db,
                &format!("SELECT rolpassword FROM pg_authid WHERE rolname = '{role}'")
            )
            .starts_with("SCRAM-SHA-256$4096:"),
            "{role} stored as SCRAM"
        );
        if let Some(log) = &log {
            assert!(!log.contains(secret.as_str()), "{role}'s password in the server log");
        }
    }
    if let Some(log) = &log {
        assert!(
            log.contains(&format!("ALTER ROLE \"{p}_app\" PASSWORD 'SCRAM-SHA-256$")),
            "the statements were logged, with the verifier only"
        );
    }

    // Shown once on stdout without a file; a file is never overwritten.
    drop_roles(&db, &p);
    let db = fresh_database("roles_secret_shown");
    let shown = godwit(&["roles", "apply", "--to", &db.to_string(), "--prefix", &p]);
    assert_exit(&shown, 0);
    assert!(stdout(&shown).contains("shown once"), "{}", stdout(&shown));
    let again = godwit(&[
        "roles",
        "apply",
        "--to",
        &db.to_string(),
        "--prefix",
        &format!("{p}x"),
        "--password-file",
        file.to_str().unwrap(),
    ]);
    assert_exit(&again, 2);
    assert!(stderr(&again).contains("already exists"), "{}", stderr(&again));
    assert_eq!(
        value(
            &db,
            &format!("SELECT count(*) FROM pg_roles WHERE rolname LIKE '{p}x\\_%'")
        ),
        "0",
        "a refused password file leaves no role behind"
    );
    drop_roles(&db, &p);
}

#[test]
fn bad_prefixes_are_refused_before_connecting() {
    let out = godwit(&[
        "roles",
        "plan",
        "--to",
        "postgresql://nobody@127.0.0.1:1/x",
        "--prefix",
        "x\"; DROP",
    ]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("role prefix"), "{}", stderr(&out));
}
