//! The way back: `godwit copy postgresql://... --to sqlite:PATH`.
//!
//! A database godwit copied comes back as the app's own SQLite file (DDL,
//! storage classes, value formats, sqlite_sequence); any other PostgreSQL
//! database comes back by a lossless mapping, with what cannot be kept
//! reported; the file appears complete or not at all.

mod common;

use std::path::Path;

use common::*;
use rusqlite::Connection;
use rusqlite::types::Value;

const APP: &str = "
PRAGMA journal_mode = WAL;
PRAGMA user_version = 42;
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    is_admin BOOLEAN NOT NULL DEFAULT 0,
    newsletter BOOLEAN,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    balance NUMERIC(20,6),
    avatar BLOB,
    score REAL,
    misc
);
CREATE INDEX users_name ON users (name COLLATE NOCASE);
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    user_id INTEGER REFERENCES users (id) ON DELETE CASCADE,
    happened_ms DATETIME NOT NULL,
    seen_at TIMESTAMP,
    ref UUID,
    kind VARCHAR(20)
);
CREATE TABLE tags (label TEXT, weight INTEGER);
CREATE TRIGGER users_ai AFTER INSERT ON users BEGIN INSERT INTO tags VALUES ('new user', NEW.id); END;
CREATE VIEW admins AS SELECT id, name FROM users WHERE is_admin = 1;

INSERT INTO users VALUES (1, 'ann', 1, 'true', '2024-01-02 03:04:05', '123.456000', x'00ff10', 1.5, 3);
INSERT INTO users VALUES (2, 'bob', 0, 'false', '2024-01-02 03:04:05.250', 12, x'', -0.25, 2.5);
INSERT INTO users VALUES (3, 'cy', 0, NULL, '2024-02-29 23:59:59', NULL, NULL, NULL, NULL);
INSERT INTO users VALUES (9, 'gone', 0, NULL, '2024-03-01 00:00:00', NULL, NULL, NULL, NULL);
DELETE FROM users WHERE id = 9;
INSERT INTO events VALUES (1, 1, 1704164645123, '2024-01-02T03:04:05Z', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'login');
INSERT INTO events VALUES (2, 2, 1704164645000, NULL, NULL, NULL);
INSERT INTO events VALUES (3, 3, 1709251199999, '2024-02-29T23:59:59Z', 'b1eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', 'logout');
INSERT INTO tags VALUES ('dup', 1), ('dup', 1), (NULL, NULL);
";

/// Every row of a table with its values (the variant is the storage class).
fn table_rows(conn: &Connection, table: &str) -> Vec<Vec<Value>> {
    let mut stmt = conn
        .prepare(&format!("SELECT * FROM \"{table}\" ORDER BY rowid"))
        .unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect())
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn strings(conn: &Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn.prepare(sql).unwrap();
    stmt.query_map([], |r| r.get::<_, Value>(0))
        .unwrap()
        .map(|v| format!("{:?}", v.unwrap()))
        .collect()
}

fn reverse(url: &str, path: &Path, extra: &[&str]) -> std::process::Output {
    let to = format!("sqlite:{}", path.display());
    let mut args = vec!["copy", url, "--to", to.as_str()];
    args.extend_from_slice(extra);
    godwit(&args)
}

#[test]
fn forward_then_back_gives_the_app_its_own_file() {
    let dir = tempfile::tempdir().unwrap();
    let app = sqlite_file(dir.path(), "app.db", APP);
    let target = fresh_database("reverse_roundtrip");
    let out = copy(&app, &target, &[]);
    // The trigger is not migrated (exit 3); it comes back in SQLite.
    assert_exit(&out, 3);

    let back = dir.path().join("back.db");
    let out = reverse(&target.to_string(), &back, &[]);
    assert_exit(&out, 0);

    let a = Connection::open(&app).unwrap();
    let b = Connection::open(&back).unwrap();
    for table in ["users", "events", "tags"] {
        assert_eq!(table_rows(&a, table), table_rows(&b, table), "rows of {table}");
    }
    for sql in [
        "SELECT type || ' ' || name || ': ' || coalesce(sql, '') FROM sqlite_master ORDER BY type, name",
        "SELECT name || '=' || seq FROM sqlite_sequence ORDER BY name",
        "PRAGMA user_version",
        "PRAGMA journal_mode",
        "SELECT typeof(created_at) || typeof(newsletter) || typeof(balance) || typeof(misc) FROM users ORDER BY id",
    ] {
        assert_eq!(strings(&a, sql), strings(&b, sql), "{sql}");
    }
    // sqlite_sequence remembers the deleted id 9, so it is never reused.
    assert_eq!(strings(&b, "SELECT seq FROM sqlite_sequence"), vec!["Integer(9)"]);
    // The app's trigger works again.
    b.execute("INSERT INTO users (name) VALUES ('eve')", []).unwrap();
    assert_eq!(
        strings(&b, "SELECT id FROM users WHERE name = 'eve'"),
        vec!["Integer(10)"]
    );
    drop(b);

    // verify reads the file back with copy's own plan: it must pass.
    let restored = dir.path().join("again.db");
    assert_exit(&reverse(&target.to_string(), &restored, &[]), 0);
    let out = godwit(&["verify", restored.to_str().unwrap(), "--to", &target.to_string()]);
    assert_exit(&out, 0);
}

#[test]
fn rows_changed_in_postgres_come_back_in_the_app_formats() {
    let dir = tempfile::tempdir().unwrap();
    let app = sqlite_file(dir.path(), "app.db", APP);
    let target = fresh_database("reverse_after_writes");
    assert_exit(&copy(&app, &target, &[]), 3);
    // The app ran on PostgreSQL for a while.
    let mut pg = target.connect().unwrap();
    pg.batch_execute(
        "INSERT INTO users (name, is_admin, newsletter, created_at, balance) \
             VALUES ('zed', true, true, '2025-06-01 12:00:00.5+00', 7.25);
         INSERT INTO events (user_id, happened_ms, kind) VALUES (1, '2025-06-01 12:00:00.123+00', 'pg');
         DELETE FROM events WHERE id = 2;",
    )
    .unwrap();
    let back = dir.path().join("back.db");
    // --verify compares the new file with PostgreSQL right away.
    assert_exit(&reverse(&target.to_string(), &back, &["--verify"]), 0);
    let b = Connection::open(&back).unwrap();
    assert_eq!(
        strings(
            &b,
            "SELECT quote(id) || ' ' || quote(newsletter) || ' ' || quote(created_at) || ' ' || typeof(balance) \
             FROM users WHERE name = 'zed'"
        ),
        vec!["Text(\"10 'true' '2025-06-01 12:00:00.500' real\")"]
    );
    assert_eq!(
        strings(&b, "SELECT happened_ms FROM events WHERE kind = 'pg'"),
        vec!["Integer(1748779200123)"]
    );
    // The PostgreSQL identity handed out id 10: SQLite continues after it.
    assert_eq!(strings(&b, "SELECT seq FROM sqlite_sequence"), vec!["Integer(10)"]);
    drop(b);
    let out = godwit(&["verify", back.to_str().unwrap(), "--to", &target.to_string()]);
    assert_exit(&out, 0);
}

#[test]
fn any_postgres_database_comes_back_losslessly() {
    let target = fresh_database("reverse_generic");
    let mut pg = target.connect().unwrap();
    pg.batch_execute(
        "CREATE TABLE accounts (
             id serial PRIMARY KEY,
             amount numeric(30,10) NOT NULL DEFAULT 0,
             opened timestamptz NOT NULL DEFAULT now(),
             doc jsonb,
             codes int[],
             token uuid UNIQUE,
             photo bytea,
             active bool NOT NULL DEFAULT true,
             note text DEFAULT 'it''s new',
             CHECK (amount > -1000)
         );
         CREATE INDEX accounts_opened ON accounts (opened DESC);
         CREATE INDEX accounts_lower_note ON accounts (lower(note));
         CREATE TABLE entries (account_id int NOT NULL REFERENCES accounts (id) ON DELETE CASCADE, line int, PRIMARY KEY (account_id, line));
         CREATE TABLE odd (span interval);
         INSERT INTO odd VALUES ('1 day 02:00');
         INSERT INTO accounts (amount, opened, doc, codes, token, photo, active) VALUES
             (12345678901234567890.0123456789, '2024-01-02 03:04:05.123456+02', '{\"b\": [1, 2.50], \"a\": null}',
              '{1,2,3}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\\x00ff', true),
             (-0.0000000001, '1999-12-31 23:59:59+00', '\"text\"', '{}', NULL, '\\x', false),
             (0, '2024-06-01 00:00:00+00', NULL, NULL, NULL, NULL, true);
         INSERT INTO entries VALUES (1, 1), (1, 2), (2, 1);",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let back = dir.path().join("back.db");
    let out = reverse(&target.to_string(), &back, &["--json"]);
    // The CHECK, the expression index and the interval are reported.
    assert_exit(&out, 3);
    let summary: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let items = summary["not_migrated"].to_string();
    assert!(items.contains("check accounts_amount_check"), "{items}");
    assert!(items.contains("accounts_lower_note"), "{items}");
    assert!(items.contains("odd.span (interval)"), "{items}");

    let b = Connection::open(&back).unwrap();
    let rows = table_rows(&b, "accounts");
    let text = |s: &str| Value::Text(s.to_string());
    assert_eq!(
        rows[0],
        vec![
            Value::Integer(1),
            text("12345678901234567890.0123456789"),
            text("2024-01-02T01:04:05.123456Z"),
            text("{\"a\": null, \"b\": [1, 2.50]}"),
            text("[1,2,3]"),
            text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            Value::Blob(vec![0, 255]),
            Value::Integer(1),
            text("it's new"),
        ]
    );
    assert_eq!(table_rows(&b, "odd"), vec![vec![text("1 day 02:00:00")]]);
    assert_eq!(rows[1][1], text("-0.0000000001"));
    assert_eq!(rows[1][2], text("1999-12-31T23:59:59Z"));
    assert_eq!(rows[1][3], text("\"text\""));
    assert_eq!(rows[1][4], text("[]"));
    assert_eq!(rows[1][6], Value::Blob(Vec::new()));
    assert_eq!(rows[1][7], Value::Integer(0));
    assert_eq!(rows[2][1], text("0.0000000000"));
    // Keys, the unique constraint, foreign keys, defaults and plain indexes hold.
    assert_eq!(table_rows(&b, "entries").len(), 3);
    let fk = strings(
        &b,
        "SELECT \"table\" || ' ' || on_delete FROM pragma_foreign_key_list('entries')",
    );
    assert_eq!(fk, vec!["Text(\"accounts CASCADE\")"]);
    assert!(
        b.execute(
            "INSERT INTO accounts (token) VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')",
            []
        )
        .is_err()
    );
    b.execute("INSERT INTO accounts DEFAULT VALUES", []).unwrap();
    assert_eq!(
        strings(
            &b,
            "SELECT id || ' ' || amount || ' ' || active || ' ' || note FROM accounts WHERE id = 4"
        ),
        vec!["Text(\"4 0 1 it's new\")"]
    );
    let indexes = strings(
        &b,
        "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL",
    );
    assert_eq!(indexes, vec!["Text(\"accounts_opened\")"]);
    drop(b);

    // verify fits the file's values to the PostgreSQL types, as for a data-only
    // copy (it cannot read interval yet: that table goes first).
    pg.batch_execute("DROP TABLE odd").unwrap();
    let again = dir.path().join("again.db");
    assert_exit(&reverse(&target.to_string(), &again, &[]), 3);
    let out = godwit(&["verify", again.to_str().unwrap(), "--to", &target.to_string()]);
    assert_exit(&out, 0);
}

#[test]
fn never_overwrites_and_leaves_no_file_when_it_fails() {
    let dir = tempfile::tempdir().unwrap();
    let app = sqlite_file(
        dir.path(),
        "app.db",
        "CREATE TABLE stock (id INTEGER PRIMARY KEY, qty INTEGER NOT NULL CHECK (qty >= 0));
         INSERT INTO stock VALUES (1, 5), (2, 0);",
    );
    let target = fresh_database("reverse_atomic");
    assert_exit(&copy(&app, &target, &[]), 0);
    let back = dir.path().join("back.db");
    std::fs::write(&back, b"keep me").unwrap();
    let out = reverse(&target.to_string(), &back, &[]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("--replace"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&back).unwrap(), b"keep me");

    // PostgreSQL now holds a row the app's own CHECK refuses: the write fails
    // half-way, and neither the file nor a temporary one is left.
    let mut pg = target.connect().unwrap();
    pg.batch_execute("ALTER TABLE stock DROP CONSTRAINT stock_check; UPDATE stock SET qty = -1 WHERE id = 2")
        .unwrap();
    let fresh = dir.path().join("fresh.db");
    let out = reverse(&target.to_string(), &fresh, &[]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("CHECK"), "{}", stderr(&out));
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("fresh"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");

    // --replace swaps the old file for a complete new one.
    pg.batch_execute("UPDATE stock SET qty = 0 WHERE id = 2").unwrap();
    assert_exit(&reverse(&target.to_string(), &back, &["--replace"]), 0);
    let b = Connection::open(&back).unwrap();
    assert_eq!(table_rows(&b, "stock").len(), 2);
}

#[test]
fn a_data_only_copy_comes_back_in_the_app_formats() {
    let dir = tempfile::tempdir().unwrap();
    let app = sqlite_file(
        dir.path(),
        "app.db",
        "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, done INTEGER NOT NULL,
                              ref TEXT, tag TEXT);
         INSERT INTO events VALUES (1, 1704164645123, 1, 'A0EEBC999C0B4EF8BB6D6BB9BD380A11', 'a'),
                                   (2, 1704164646000, 0, NULL, NULL);",
    );
    let target = fresh_database("reverse_data_only");
    // The framework's schema: other types than SQLite's for the same values.
    target
        .connect()
        .unwrap()
        .batch_execute(
            "CREATE TABLE events (id bigserial PRIMARY KEY, at timestamptz NOT NULL, done boolean NOT NULL,
                                  ref uuid, tag varchar(10));
             CREATE TABLE schema_migrations (version text PRIMARY KEY);
             INSERT INTO schema_migrations VALUES ('20240101');",
        )
        .unwrap();
    assert_exit(&copy(&app, &target, &["--data-only"]), 0);
    let back = dir.path().join("back.db");
    let out = reverse(&target.to_string(), &back, &[]);
    assert_exit(&out, 0);
    let a = Connection::open(&app).unwrap();
    let b = Connection::open(&back).unwrap();
    assert_eq!(table_rows(&a, "events"), table_rows(&b, "events"));
    assert_eq!(
        strings(&a, "SELECT sql FROM sqlite_master WHERE name = 'events'"),
        strings(&b, "SELECT sql FROM sqlite_master WHERE name = 'events'")
    );
    // The framework's own table comes along by the generic mapping.
    assert_eq!(
        table_rows(&b, "schema_migrations"),
        vec![vec![Value::Text("20240101".into())]]
    );
}
