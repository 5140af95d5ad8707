//! Names from a source are data, never SQL: tables, columns, indexes and
//! views named like injections, with quotes, newlines, a right-to-left
//! override, 63/64/200 bytes, or differing only in case go through every
//! command, and come out as exact copies or a clear refusal naming them.
//! The catalog then holds only the intended objects, and the canary tables
//! an injection would drop are still there with their rows.

mod common;

use std::path::Path;

use common::{assert_exit, copy, fresh_database, godwit, rows, stderr, stdout, value};
use godwit::postgres::conn::ConnSpec;

const DROP_USERS: &str = "x\"; DROP TABLE users; --";
const BOBBY: &str = "Robert'); DROP TABLE students;--";
const NEWLINE: &str = "line\nbreak";
const RTL: &str = "evil\u{202e}txt.exe";
const HOSTILE_INDEX: &str = "idx'); DROP TABLE users;--";
const HOSTILE_VIEW: &str = "v\"; DROP TABLE students; --";

fn q(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn hostile_sqlite(dir: &Path) -> std::path::PathBuf {
    let t63 = "t".repeat(63);
    let c63 = "c".repeat(63);
    common::sqlite_file(
        dir,
        "hostile.db",
        &format!(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);
             CREATE TABLE students (id INTEGER PRIMARY KEY);
             INSERT INTO users VALUES (1, 'canary'); INSERT INTO students VALUES (1);
             CREATE TABLE {t} (id INTEGER PRIMARY KEY, {bobby} TEXT, {nl} TEXT, {rtl} INTEGER);
             INSERT INTO {t} VALUES (1, 'it''s \"quoted\"; DROP TABLE users; --', 'a', 1);
             CREATE INDEX {idx} ON {t} ({bobby});
             CREATE VIEW {view} AS SELECT id, {bobby} FROM {t};
             CREATE TABLE {t63} (id INTEGER PRIMARY KEY, {c63} TEXT);
             INSERT INTO {t63} VALUES (1, 'sixty-three');",
            t = q(DROP_USERS),
            bobby = q(BOBBY),
            nl = q(NEWLINE),
            rtl = q(RTL),
            idx = q(HOSTILE_INDEX),
            view = q(HOSTILE_VIEW),
        ),
    )
}

/// The relations of a schema: (name, kind), sorted.
fn relations(db: &ConnSpec, schema: &str) -> Vec<Vec<String>> {
    rows(
        db,
        &format!(
            "SELECT c.relname::text AS a, c.relkind::text AS b FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = '{schema}' AND c.relkind IN ('r', 'v', 'm', 'i', 'S', 'f', 'p') ORDER BY 1"
        ),
    )
}

fn assert_canaries(db: &ConnSpec) {
    assert!(value(db, "SELECT name FROM public.users WHERE id = 1").starts_with("canary"));
    assert_eq!(value(db, "SELECT count(*) FROM public.students"), "1");
}

#[test]
fn every_command_treats_hostile_sqlite_names_as_names() {
    let dir = tempfile::tempdir().unwrap();
    let source = hostile_sqlite(dir.path());
    let db = fresh_database("hostile_sqlite");
    let url = db.to_string();

    assert_exit(&copy(&source, &db, &[]), 0);
    assert_canaries(&db);
    let t63 = "t".repeat(63);
    let tables: Vec<String> = relations(&db, "public")
        .into_iter()
        .filter(|r| r[1] == "r")
        .map(|r| r[0].clone())
        .collect();
    let mut expected = vec![DROP_USERS.to_string(), "students".into(), t63.clone(), "users".into()];
    expected.sort();
    assert_eq!(tables, expected, "only the intended tables");
    assert_eq!(
        value(&db, &format!("SELECT {} FROM {}", q(BOBBY), q(DROP_USERS))),
        "it's \"quoted\"; DROP TABLE users; --"
    );
    let columns = rows(
        &db,
        &format!(
            "SELECT attname::text AS a FROM pg_attribute WHERE attrelid = '{}'::regclass AND attnum > 0 ORDER BY attnum",
            q(DROP_USERS).replace('\'', "''")
        ),
    );
    let columns: Vec<&str> = columns.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(columns, ["id", BOBBY, NEWLINE, RTL], "column names byte for byte");
    let kinds = relations(&db, "public");
    assert!(
        kinds.contains(&vec![HOSTILE_INDEX.to_string(), "i".into()]),
        "{kinds:?}"
    );
    assert!(kinds.contains(&vec![HOSTILE_VIEW.to_string(), "v".into()]), "{kinds:?}");

    let verified = godwit(&["verify", source.to_str().unwrap(), "--to", &url]);
    assert_exit(&verified, 0);

    // sync: a new row and a changed one, values that look like SQL too.
    let conn = rusqlite::Connection::open(&source).unwrap();
    conn.execute_batch(&format!(
        "INSERT INTO {t} VALUES (2, '''); DELETE FROM users; --', 'b', 2);
         UPDATE users SET name = 'canary''); DROP TABLE students;--' WHERE id = 1;",
        t = q(DROP_USERS)
    ))
    .unwrap();
    drop(conn);
    assert_exit(&godwit(&["sync", source.to_str().unwrap(), "--to", &url]), 0);
    assert_eq!(value(&db, &format!("SELECT count(*) FROM {}", q(DROP_USERS))), "2");
    assert_eq!(value(&db, "SELECT count(*) FROM students"), "1");
    assert_exit(&godwit(&["verify", source.to_str().unwrap(), "--to", &url]), 0);

    // reverse: back into SQLite, the same names.
    let back = dir.path().join("back.db");
    let out = godwit(&["copy", &url, "--to", &format!("sqlite:{}", back.display())]);
    assert_exit(&out, 0);
    let back_conn = rusqlite::Connection::open(&back).unwrap();
    let count: i64 = back_conn
        .query_row(&format!("SELECT count(*) FROM {}", q(DROP_USERS)), [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, 2);
    let column: String = back_conn
        .query_row(
            &format!("SELECT {} FROM {} WHERE id = 1", q(BOBBY), q(DROP_USERS)),
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(column, "it's \"quoted\"; DROP TABLE users; --");

    // backup and restore into another database: proven equal, same objects.
    let backups = dir.path().join("backups");
    let out = godwit(&["backup", "--to", &url, "--dir", backups.to_str().unwrap()]);
    assert_exit(&out, 0);
    let restored = db.with_dbname(&format!("{}_r", db.dbname));
    let out = godwit(&["restore", backups.to_str().unwrap(), "--to", &restored.to_string()]);
    assert_exit(&out, 0);
    assert_eq!(relations(&restored, "public"), relations(&db, "public"));
    assert_canaries(&restored);

    // inspect and maintain read and act on the same names.
    let out = godwit(&["inspect", "--to", &url, "--json"]);
    assert!(matches!(out.status.code(), Some(0 | 3)), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(report["findings"].is_array());
    let out = godwit(&["maintain", "--to", &url]);
    assert!(matches!(out.status.code(), Some(0 | 3)), "{}", stderr(&out));
    assert_eq!(relations(&db, "public"), relations(&restored, "public"));
    assert_canaries(&db);
    let mut admin = db.with_dbname("postgres").connect().unwrap();
    admin
        .batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", q(&restored.dbname)))
        .unwrap();
}

#[test]
fn names_longer_than_postgresql_holds_are_refused_by_name_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let (u64a, u64b, v200) = ("u".repeat(64), format!("{}x", "u".repeat(63)), "v".repeat(200));
    let source = common::sqlite_file(
        dir.path(),
        "long.db",
        &format!(
            "CREATE TABLE {} (id INTEGER PRIMARY KEY); CREATE TABLE {} (id INTEGER PRIMARY KEY);
             CREATE TABLE {} (id INTEGER PRIMARY KEY, {} TEXT);",
            q(&u64a),
            q(&u64b),
            q(&v200),
            q(&"c".repeat(100))
        ),
    );
    let db = fresh_database("hostile_long");
    let out = copy(&source, &db, &[]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(err.contains(&format!("table \"{u64a}\"")), "{err}");
    assert!(err.contains("64 bytes: PostgreSQL keeps only 63"), "{err}");
    assert!(err.contains("200 bytes"), "{err}");
    assert!(err.contains("would both be named"), "{err}");
    assert_eq!(
        value(
            &db,
            "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace"
        ),
        "0",
        "nothing created"
    );
    assert_eq!(
        value(&db, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'godwit%'"),
        "0",
        "no staging schema left"
    );
}

#[test]
fn hostile_json_keys_csv_headers_and_directory_names() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join(DROP_USERS);
    std::fs::create_dir(&folder).unwrap();
    let record = serde_json::json!({
        "id": 1, DROP_USERS: "a", BOBBY: "b", "Name": "upper", "name": "lower", NEWLINE: "n", RTL: "r"
    });
    let json = folder.join("people.json");
    std::fs::write(&json, serde_json::json!({ "people": [record] }).to_string()).unwrap();
    let csv = folder.join("h.csv");
    std::fs::write(
        &csv,
        format!("id,\"x\"\"; DROP TABLE users; --\",{BOBBY},Name,name\n1,a,b,c,d\n"),
    )
    .unwrap();

    let db = fresh_database("hostile_docs");
    db.connect()
        .unwrap()
        .batch_execute("CREATE TABLE users (id int); INSERT INTO users VALUES (1)")
        .unwrap();
    assert_exit(&copy(&json, &db, &["--schema", "docs"]), 0);
    assert_exit(&copy(&csv, &db, &["--schema", "docs"]), 0);
    assert_eq!(value(&db, "SELECT count(*) FROM public.users"), "1");
    let people = rows(
        &db,
        &format!(
            "SELECT {} AS a, {} AS b, \"Name\" AS c, name AS d, {} AS e, {} AS f FROM docs.people",
            q(DROP_USERS),
            q(BOBBY),
            q(NEWLINE),
            q(RTL)
        ),
    );
    // Keys that differ only in case are two PostgreSQL names, kept exactly;
    // every value arrives.
    assert_eq!(people, vec![vec!["a", "b", "upper", "lower", "n", "r"]]);
    assert_eq!(
        value(
            &db,
            &format!(
                "SELECT {} || {} || \"Name\" || name FROM docs.h",
                q(DROP_USERS),
                q(BOBBY)
            )
        ),
        "abcd"
    );
    // Folding case would merge them: refused, naming both, nothing created.
    let out = copy(&csv, &db, &["--schema", "lowered", "--identifiers", "lower"]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("\"h.Name\"") && err.contains("\"h.name\""), "{err}");
    assert_eq!(
        value(&db, "SELECT count(*) FROM pg_namespace WHERE nspname = 'lowered'"),
        "0"
    );
    let tables = rows(
        &db,
        "SELECT relname::text AS a FROM pg_class WHERE relnamespace = 'docs'::regnamespace AND relkind = 'r' ORDER BY 1",
    );
    assert_eq!(tables, vec![vec!["h"], vec!["people"]]);
    assert_exit(
        &godwit(&[
            "verify",
            json.to_str().unwrap(),
            "--to",
            &db.to_string(),
            "--schema",
            "docs",
        ]),
        0,
    );

    // A NUL cannot be part of a PostgreSQL name or text: refused, naming where.
    let nul = dir.path().join("nul.json");
    std::fs::write(&nul, "{\"things\": [{\"id\": 1, \"a\\u0000b\": 1}]}").unwrap();
    let out = copy(&nul, &db, &["--schema", "nul"]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("table things") && err.contains("NUL"), "{err}");
    assert_eq!(
        value(&db, "SELECT count(*) FROM pg_namespace WHERE nspname = 'nul'"),
        "0"
    );
}

#[test]
fn human_output_shows_hidden_characters_in_names_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let source = common::sqlite_file(
        dir.path(),
        "hidden.db",
        &format!(
            "CREATE TABLE {nl} (id INTEGER PRIMARY KEY, {rtl} TEXT);
             INSERT INTO {nl} VALUES (1, 'a'), (2, 'b');
             CREATE TABLE {rtl} (id INTEGER PRIMARY KEY, v TEXT);
             INSERT INTO {rtl} VALUES (1, 'c');",
            nl = q(NEWLINE),
            rtl = q(RTL),
        ),
    );
    let db = fresh_database("hostile_shown");
    let url = db.to_string();
    let copied = copy(&source, &db, &[]);
    assert_exit(&copied, 0);
    // The target holds the names byte for byte...
    assert_eq!(value(&db, &format!("SELECT count(*) FROM {}", q(NEWLINE))), "2");
    // ...while a change makes verify name the table in its report.
    db.connect()
        .unwrap()
        .batch_execute(&format!("UPDATE {} SET v = 'changed'", q(RTL)))
        .unwrap();
    let verified = godwit(&["verify", source.to_str().unwrap(), "--to", &url]);
    assert_exit(&verified, 4);
    let planned = godwit(&["plan", source.to_str().unwrap()]);
    assert_exit(&planned, 0);
    for (what, out) in [("copy", &copied), ("verify", &verified), ("plan", &planned)] {
        let all = format!("{}{}", stdout(out), stderr(out));
        assert!(
            !all.contains('\u{202e}'),
            "{what} printed a raw right-to-left override:\n{all}"
        );
        if what == "plan" {
            // Its DDL quotes the name as SQL must; its table list escapes it.
            assert!(all.contains("\nline\\nbreak → line\\nbreak (2 rows)"), "{all}");
            continue;
        }
        assert!(
            !all.lines()
                .any(|l| l.trim_end().ends_with("line") || l.starts_with("break")),
            "{what} split a name across lines:\n{all}"
        );
    }
    let verify_out = stdout(&verified);
    assert!(verify_out.contains("evil\\u{202e}txt.exe differs"), "{verify_out}");
    assert!(verify_out.contains("line\\nbreak"), "{verify_out}");
}
