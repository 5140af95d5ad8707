//! Schema fidelity: keys, indexes, constraints, defaults, sequences, views
//! and names arrive as the app made them.

mod common;

use common::*;

const SCHEMA: &str = r#"
CREATE TABLE "User Accounts" (
    "Id" INTEGER PRIMARY KEY AUTOINCREMENT,
    "Email" TEXT NOT NULL UNIQUE,
    "select" TEXT DEFAULT 'it''s',
    "Quote""d" INTEGER DEFAULT 0,
    is_admin BOOLEAN NOT NULL DEFAULT 0,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    stamp TEXT DEFAULT (datetime('now')),
    age INTEGER CHECK (age >= 0)
);
INSERT INTO "User Accounts" ("Email", age) VALUES ('a@x', 30), ('b@x', 40), ('c@x', NULL);
DELETE FROM "User Accounts" WHERE "Email" = 'c@x';
CREATE TABLE memberships (
    user_id INTEGER NOT NULL REFERENCES "User Accounts"("Id") ON DELETE CASCADE,
    group_name TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'member',
    PRIMARY KEY (user_id, group_name)
) WITHOUT ROWID;
INSERT INTO memberships VALUES (1, 'admins', 'owner'), (2, 'users', 'member');
CREATE TABLE comments (
    id INTEGER PRIMARY KEY,
    parent_id INTEGER REFERENCES comments(id) DEFERRABLE INITIALLY DEFERRED,
    author_id INTEGER REFERENCES "User Accounts"("Id"),
    body TEXT NOT NULL,
    deleted BOOLEAN NOT NULL DEFAULT 0
);
INSERT INTO comments VALUES (1, NULL, 1, 'first', 0), (2, 1, 2, 'reply', 0), (3, 1, 99, 'orphan author', 1), (4, 77, 1, 'orphan parent', 0);
CREATE INDEX comments_live ON comments (author_id) WHERE deleted = 0;
CREATE INDEX comments_lower_body ON comments (lower(body));
CREATE UNIQUE INDEX comments_body_parent ON comments (body, parent_id DESC);
CREATE VIEW live_comments AS SELECT c.id, c.body, u."Email" FROM comments c JOIN "User Accounts" u ON u."Id" = c.author_id WHERE c.deleted = 0;
CREATE VIEW weird AS SELECT quote(body) AS t FROM comments;
CREATE TRIGGER comments_touch AFTER UPDATE ON comments BEGIN SELECT 1; END;
"#;

struct Copied {
    dir: tempfile::TempDir,
    spec: godwit::postgres::conn::ConnSpec,
    out: std::process::Output,
}

fn copied() -> Copied {
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite_file(dir.path(), "app.db", SCHEMA);
    let spec = fresh_database("schema");
    let out = copy(&source, &spec, &[]);
    Copied { dir, spec, out }
}

#[test]
fn keys_indexes_checks_and_views_arrive() {
    let t = copied();
    // Orphans and the trigger make this a finish with items to review.
    assert_exit(&t.out, 3);
    let target = &t.spec;
    let constraints = rows(
        target,
        "SELECT conrelid::regclass::text AS a, contype::text AS b, pg_get_constraintdef(oid) AS c, convalidated::text AS d \
         FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2, 3",
    );
    let has = |table: &str, kind: &str, def: &str, valid: &str| {
        assert!(
            constraints
                .iter()
                .any(|r| r[0] == table && r[1] == kind && r[2] == def && r[3] == valid),
            "missing {table} {kind} {def} valid={valid} in {constraints:#?}"
        )
    };
    has("\"User Accounts\"", "p", "PRIMARY KEY (\"Id\")", "true");
    has("\"User Accounts\"", "u", "UNIQUE (\"Email\")", "true");
    has("\"User Accounts\"", "c", "CHECK ((age >= 0))", "true");
    has("memberships", "p", "PRIMARY KEY (user_id, group_name)", "true");
    has(
        "memberships",
        "f",
        "FOREIGN KEY (user_id) REFERENCES \"User Accounts\"(\"Id\") ON DELETE CASCADE",
        "true",
    );
    has(
        "comments",
        "f",
        "FOREIGN KEY (parent_id) REFERENCES comments(id) DEFERRABLE INITIALLY DEFERRED NOT VALID",
        "false",
    );
    has(
        "comments",
        "f",
        "FOREIGN KEY (author_id) REFERENCES \"User Accounts\"(\"Id\") NOT VALID",
        "false",
    );
    let indexes = rows(
        target,
        "SELECT indexdef AS a FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1",
    );
    let flat: Vec<&str> = indexes.iter().map(|r| r[0].as_str()).collect();
    assert!(
        flat.contains(&"CREATE INDEX comments_live ON public.comments USING btree (author_id) WHERE (deleted = false)"),
        "{flat:#?}"
    );
    assert!(
        flat.contains(&"CREATE INDEX comments_lower_body ON public.comments USING btree (lower(body))"),
        "{flat:#?}"
    );
    assert!(
        flat.contains(
            &"CREATE UNIQUE INDEX comments_body_parent ON public.comments USING btree (body, parent_id DESC)"
        ),
        "{flat:#?}"
    );
    // The view translates; the one using SQLite's quote() is reported, as is the trigger.
    assert_eq!(
        value(
            target,
            "SELECT string_agg(id::text, ',' ORDER BY id) AS a FROM live_comments"
        ),
        "1,2,4"
    );
    let summary = stdout(&t.out);
    assert!(summary.contains("view weird"), "{summary}");
    assert!(summary.contains("trigger comments_touch"), "{summary}");
    assert!(summary.contains("1 row violates it"), "{summary}");
    // Nothing was deleted: orphans are still there.
    assert_eq!(value(target, "SELECT count(*) AS a FROM comments"), "4");
}

#[test]
fn names_defaults_and_sequences_work_for_the_app() {
    let t = copied();
    let target = &t.spec;
    // Exact names, quoted: spaces, quotes, reserved words and upper case.
    assert_eq!(
        value(
            target,
            "SELECT string_agg(attname, '|' ORDER BY attnum) AS a FROM pg_attribute WHERE attrelid = '\"User Accounts\"'::regclass AND attnum > 0"
        ),
        "Id|Email|select|Quote\"d|is_admin|created_at|stamp|age"
    );
    // Inserting without the defaulted columns works, and ids continue past
    // sqlite_sequence (3, because AUTOINCREMENT never reuses the deleted id).
    let inserted = rows(
        target,
        "INSERT INTO \"User Accounts\" (\"Email\") VALUES ('new@x') \
         RETURNING \"Id\"::text AS a, \"select\" AS b, \"Quote\"\"d\"::text AS c, is_admin::text AS d, (created_at > now() - interval '1 minute')::text AS e, (stamp ~ '^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d$')::text AS f",
    );
    assert_eq!(inserted, vec![vec!["4", "it's", "0", "false", "true", "true"]]);
    assert_eq!(
        value(
            target,
            "INSERT INTO comments (body) VALUES ('x') RETURNING id::text AS a"
        ),
        "5"
    );
    assert_eq!(
        value(
            target,
            "SELECT attidentity::text AS a FROM pg_attribute WHERE attrelid = 'comments'::regclass AND attname = 'id'"
        ),
        "d"
    );
    assert_eq!(
        value(
            target,
            "INSERT INTO memberships (user_id, group_name) VALUES (1, 'z') RETURNING role AS a"
        ),
        "member"
    );
}

#[test]
fn existing_tables_are_never_overwritten_and_replace_is_atomic() {
    let t = copied();
    let target = &t.spec;
    let source = t.dir.path().join("app.db");
    let again = copy(&source, target, &[]);
    assert_exit(&again, 1);
    let err = stderr(&again);
    assert!(
        err.contains("already exist") && err.contains("--replace") && err.contains("--data-only"),
        "{err}"
    );
    let mut client = target.connect().unwrap();
    client
        .batch_execute("INSERT INTO memberships VALUES (2, 'extra', 'member')")
        .unwrap();
    let replaced = copy(&source, target, &["--replace"]);
    assert_exit(&replaced, 3);
    assert_eq!(value(target, "SELECT count(*) AS a FROM memberships"), "2");
}

#[test]
fn another_schema_and_a_missing_source() {
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite_file(
        dir.path(),
        "s.db",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a');",
    );
    let target = fresh_database("schema_flag");
    assert_exit(&copy(&source, &target, &["--schema", "app"]), 0);
    assert_eq!(value(&target, "SELECT v AS a FROM app.t"), "a");
    let missing = copy(&dir.path().join("nope.db"), &target, &[]);
    assert_exit(&missing, 1);
    assert!(
        stderr(&missing).contains("nope.db: no such file"),
        "{}",
        stderr(&missing)
    );
    // A CSV file is a document source now: it copies.
    let csv = dir.path().join("data.csv");
    std::fs::write(&csv, "id,name\n1,a\n").unwrap();
    let out = copy(&csv, &target, &["--schema", "csv"]);
    assert_exit(&out, 0);
    assert_eq!(value(&target, "SELECT name AS a FROM csv.data WHERE id = 1"), "a");
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, "").unwrap();
    assert!(stderr(&copy(&empty, &target, &[])).contains("is empty"));
    let nothing = dir.path().join("nothing");
    std::fs::create_dir(&nothing).unwrap();
    std::fs::write(nothing.join("notes.md"), "# notes\n").unwrap();
    let out = copy(&nothing, &target, &[]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("no JSON or CSV"), "{}", stderr(&out));
    let encrypted = dir.path().join("enc.db");
    std::fs::write(&encrypted, [0x8du8; 4096]).unwrap();
    assert!(stderr(&copy(&encrypted, &target, &[])).contains("encrypted"));
}
