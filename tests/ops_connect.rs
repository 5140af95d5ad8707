//! Connections: a command waits for a server that is restarting, a
//! connection lost mid-command fails at once (exit 1, target unchanged),
//! and `--to` names the database for every command.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{assert_exit, fresh_database, godwit, godwit_bin, sqlite_file, stderr, value};
use godwit::postgres::conn::ConnSpec;

fn wait_until(target: &ConnSpec, sql: &str) {
    let mut client = target.connect().unwrap();
    for _ in 0..1200 {
        if client.query_one(sql, &[]).unwrap().get::<_, bool>(0) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("condition never held: {sql}");
}

/// A throwaway cluster of the test's own, so stopping it disturbs nobody.
struct OwnCluster {
    home: tempfile::TempDir,
}

impl OwnCluster {
    fn local(&self, action: &str) -> String {
        let out = Command::new(godwit_bin())
            .args(["local", action])
            .env("GODWIT_HOME", self.home.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "godwit local {action}: {}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = Command::new(godwit_bin())
            .args(["local", "stop"])
            .env("GODWIT_HOME", self.home.path())
            .output();
    }
}

#[test]
fn a_command_waits_for_a_restarting_server() {
    // Under /tmp: when tests run as root the server's own account must reach it.
    let cluster = OwnCluster {
        home: tempfile::Builder::new()
            .prefix("godwit-restart-")
            .tempdir_in("/tmp")
            .unwrap(),
    };
    // Run as root, the server runs as another account, which must be able to enter the directory.
    std::fs::set_permissions(cluster.home.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let url = cluster.local("start");
    cluster.local("stop");

    let mut waiting = Command::new(godwit_bin())
        .args(["maintain", "--to", &url, "--connect-timeout", "60s", "--dry-run"])
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(waiting.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(
        first.contains("waiting for PostgreSQL") && first.contains("connection refused"),
        "{first}"
    );

    // The server comes back (on the same port) while the command waits.
    assert_eq!(
        cluster.local("start"),
        url,
        "the cluster keeps its port across a restart"
    );
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    let status = waiting.wait().unwrap();
    assert!(status.success(), "exit {status:?}; stderr after waiting: {rest:?}");

    // health does not wait: a stopped server is CRITICAL at once.
    cluster.local("stop");
    let out = godwit(&["health", "--to", &url, "--connect-timeout", "60s", "--format", "nagios"]);
    assert_exit(&out, 2);
    assert!(common::stdout(&out).starts_with("POSTGRES CRITICAL"));
}

#[test]
fn a_refused_connection_gives_up_after_connect_timeout() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgresql://nobody@127.0.0.1:{port}/db?sslmode=disable");
    let out = godwit(&["inspect", "--to", &url, "--connect-timeout", "1s"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    // (On a loaded machine the first attempt may use up the second, with no wait to announce.)
    assert!(
        err.contains("connection refused") && err.contains("gave up after 1s"),
        "{err}"
    );
}

#[test]
fn a_connection_lost_during_a_migration_fails_at_once() {
    let db = fresh_database("lost_migrate");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("1_slow.up.sql"),
        "CREATE TABLE godwit_lost_marker (id int);\nSELECT pg_sleep(600);\n",
    )
    .unwrap();
    let url = db.to_string();
    let child = Command::new(godwit_bin())
        .args(["migrate", "up", "--to", &url, "--dir"])
        .arg(dir.path())
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(
        &db,
        "SELECT count(*) = 1 FROM pg_stat_activity WHERE datname = current_database() AND query LIKE '%pg_sleep(600)%' \
         AND pid <> pg_backend_pid()",
    );
    db.connect()
        .unwrap()
        .batch_execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE '%pg_sleep(600)%' AND pid <> pg_backend_pid()",
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("connection closed") || err.contains("terminat"), "{err}");
    assert_eq!(
        value(
            &db,
            "SELECT count(*) FROM pg_class WHERE relname = 'godwit_lost_marker'"
        ),
        "0",
        "the migration rolled back"
    );
}

#[test]
fn a_connection_lost_during_a_copy_leaves_the_target_unchanged() {
    let db = fresh_database("lost_copy");
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite_file(
        dir.path(),
        "app.db",
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
         INSERT INTO notes VALUES (1, 'one'), (2, 'two');",
    );
    db.connect()
        .unwrap()
        .batch_execute("CREATE TABLE notes (id bigint PRIMARY KEY, body text); INSERT INTO notes VALUES (7, 'kept');")
        .unwrap();
    // The application holds the table; the copy queues behind it, then its connection is cut.
    let mut app = db.connect().unwrap();
    let app_pid: i32 = app.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    app.batch_execute("BEGIN; LOCK TABLE notes IN ACCESS EXCLUSIVE MODE;")
        .unwrap();
    let url = db.to_string();
    let child = Command::new(godwit_bin())
        .args([
            "copy",
            source.to_str().unwrap(),
            "--to",
            &url,
            "--data-only",
            "--truncate",
        ])
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let waiting_copy = "SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = current_database() \
                        AND application_name = 'godwit' AND wait_event_type = 'Lock'";
    wait_until(&db, waiting_copy);
    db.connect()
        .unwrap()
        .batch_execute(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = 'godwit' \
               AND pid NOT IN (pg_backend_pid(), {app_pid})"
        ))
        .unwrap();
    let out = child.wait_with_output().unwrap();
    app.batch_execute("ROLLBACK").unwrap();
    assert_exit(&out, 1);
    assert_eq!(
        value(&db, "SELECT string_agg(id || ':' || body, ',') FROM notes"),
        "7:kept"
    );
}

#[test]
fn to_and_database_url_name_the_database_everywhere() {
    let db = fresh_database("to_everywhere");
    let url = db.to_string();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("1_t.up.sql"), "CREATE TABLE t (id int);\n").unwrap();
    std::fs::write(dir.path().join("2_u.up.sql"), "CREATE TABLE u (id int);\n").unwrap();
    let migrations = dir.path().to_str().unwrap();
    // migrate takes --to for the database, and still --database-url and `--to VERSION`.
    let out = godwit(&["migrate", "up", "--to", &url, "--dir", migrations, "--to-version", "1"]);
    assert_exit(&out, 0);
    assert_eq!(
        value(&db, "SELECT count(*) FROM pg_class WHERE relname IN ('t', 'u')"),
        "1"
    );
    let out = godwit(&["migrate", "status", "--database-url", &url, "--dir", migrations]);
    assert_exit(&out, 0);
    assert!(
        common::stdout(&out).contains("1 applied, 1 pending"),
        "{}",
        common::stdout(&out)
    );
    // The older spelling: --database-url for the database, --to for the version.
    let out = godwit(&[
        "migrate",
        "up",
        "--database-url",
        &url,
        "--dir",
        migrations,
        "--to",
        "2",
    ]);
    assert_exit(&out, 0);
    assert_eq!(
        value(&db, "SELECT count(*) FROM pg_class WHERE relname IN ('t', 'u')"),
        "2"
    );
    for command in ["health", "inspect", "maintain"] {
        let out = godwit(&[command, "--database-url", &url, "--help"]);
        assert_exit(&out, 0);
        let out = Command::new(godwit_bin())
            .args([command, "--json"])
            .env("DATABASE_URL", &url)
            .output()
            .unwrap();
        assert!(
            matches!(out.status.code(), Some(0 | 1 | 3)) && !common::stdout(&out).is_empty(),
            "{command} with DATABASE_URL: {}",
            stderr(&out)
        );
    }
}
