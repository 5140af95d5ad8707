//! Casts the user asks for in godwit.toml: the classic Prisma-on-SQLite
//! move (integer ids to UUIDs with the foreign keys following, comma lists
//! to arrays, JSON text to jsonb, epoch ms to timestamptz), renames and
//! skipped tables.

mod common;

use common::*;

const PRISMA_APP: &str = r#"
CREATE TABLE "User" (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    roles TEXT NOT NULL DEFAULT '',
    settings TEXT,
    createdAt INTEGER NOT NULL,
    scores TEXT
);
INSERT INTO "User" VALUES (1, 'ada@x', 'admin,editor', '{"theme": "dark", "n": [1, 2]}', 1709296496123, '[1, 2, 3]');
INSERT INTO "User" VALUES (2, 'bob@x', '', NULL, 1709296497000, '[]');
CREATE TABLE "Post" (
    id INTEGER PRIMARY KEY,
    authorId INTEGER NOT NULL REFERENCES "User"(id),
    title TEXT NOT NULL
);
INSERT INTO "Post" VALUES (10, 1, 'hello'), (11, 2, 'world'), (12, 1, 'again');
CREATE TABLE _prisma_migrations (id TEXT PRIMARY KEY, checksum TEXT);
INSERT INTO _prisma_migrations VALUES ('m1', 'abc');
"#;

const CONFIG: &str = r#"
[[cast]]
column = "User.id"
to = "uuid"
using = "uuid-from-int"

[[cast]]
column = "User.roles"
to = "text[]"
using = "split(',')"

[[cast]]
column = "User.settings"
to = "jsonb"

[[cast]]
column = "User.createdAt"
to = "timestamptz"
using = "epoch-ms"

[[cast]]
column = "User.scores"
to = "integer[]"
using = "json-array"

[tables._prisma_migrations]
skip = true

[tables.Post]
rename = "posts"

[tables.Post.columns.title]
rename = "headline"
"#;

#[test]
fn prisma_move_with_uuid_keys_arrays_jsonb_and_epoch_ms() {
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite_file(dir.path(), "prisma.db", PRISMA_APP);
    let config = dir.path().join("godwit.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let target = fresh_database("prisma");
    let out = copy(&source, &target, &["--config", config.to_str().unwrap()]);
    assert_exit(&out, 0);

    assert_eq!(
        value(
            &target,
            "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum) AS a FROM pg_attribute WHERE attrelid = '\"User\"'::regclass AND attnum > 0"
        ),
        "id uuid, email text, roles text[], settings jsonb, createdAt timestamp with time zone, scores integer[]"
    );
    assert_eq!(
        rows(
            &target,
            "SELECT email AS a, roles::text AS b, coalesce(settings->>'theme', 'NULL') AS c, to_char(\"createdAt\" AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') AS d, scores::text AS e FROM \"User\" ORDER BY email"
        ),
        vec![
            vec!["ada@x", "{admin,editor}", "dark", "2024-03-01 12:34:56.123", "{1,2,3}"],
            vec!["bob@x", "{}", "NULL", "2024-03-01 12:34:57.000", "{}"],
        ]
    );
    // The foreign key followed the key to uuid, and still joins.
    assert_eq!(
        value(
            &target,
            "SELECT format_type(atttypid, atttypmod) AS a FROM pg_attribute WHERE attrelid = 'posts'::regclass AND attname = 'authorId'"
        ),
        "uuid"
    );
    assert_eq!(
        value(
            &target,
            "SELECT string_agg(p.headline || '=' || u.email, ',' ORDER BY p.id) AS a FROM posts p JOIN \"User\" u ON u.id = p.\"authorId\""
        ),
        "hello=ada@x,world=bob@x,again=ada@x"
    );
    assert_eq!(
        value(
            &target,
            "SELECT count(*) AS a FROM pg_constraint WHERE conrelid = 'posts'::regclass AND contype = 'f' AND convalidated"
        ),
        "1"
    );
    assert_eq!(
        value(
            &target,
            "SELECT count(*) AS a FROM pg_tables WHERE tablename = '_prisma_migrations'"
        ),
        "0"
    );

    // The same on every run: deterministic UUIDs.
    let again = fresh_database("prisma_again");
    assert_exit(&copy(&source, &again, &["--config", config.to_str().unwrap()]), 0);
    assert_eq!(
        value(
            &target,
            "SELECT string_agg(id::text, ',' ORDER BY email) AS a FROM \"User\""
        ),
        value(
            &again,
            "SELECT string_agg(id::text, ',' ORDER BY email) AS a FROM \"User\""
        )
    );
}

#[test]
fn config_errors_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite_file(dir.path(), "prisma.db", PRISMA_APP);
    let config = dir.path().join("godwit.toml");
    let target = fresh_database("prisma_bad_config");
    for (text, expected) in [
        (
            "[tables.Nope]\nskip = true\n",
            "line 1: [tables.Nope]: no table \"Nope\"",
        ),
        (
            "\n[[cast]]\ncolumn = \"User.email\"\nto = \"text[]\"\n",
            "line 2: a cast to an array needs",
        ),
        (
            "[[cast]]\ncolumn = \"User.id\"\nto = \"geometry\"\n",
            "line 3: cast.to \"geometry\"",
        ),
        (
            "[[cast]]\ntype = \"datetime\"\nto = \"timestamp\"\n",
            "no source column is declared \"datetime\"",
        ),
    ] {
        std::fs::write(&config, text).unwrap();
        let out = copy(&source, &target, &["--config", config.to_str().unwrap()]);
        assert_exit(&out, 2);
        assert!(stderr(&out).contains(expected), "{text:?}: {}", stderr(&out));
    }
    assert_eq!(
        value(
            &target,
            "SELECT count(*) AS a FROM pg_tables WHERE schemaname = 'public'"
        ),
        "0"
    );
}

#[test]
fn godwit_toml_in_the_current_directory_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite_file(dir.path(), "prisma.db", PRISMA_APP);
    std::fs::write(
        dir.path().join("godwit.toml"),
        "[tables._prisma_migrations]\nskip = true\n",
    )
    .unwrap();
    let target = fresh_database("toml_cwd");
    let out = std::process::Command::new(godwit_bin())
        .current_dir(dir.path())
        .args(["copy", "prisma.db", "--to", &target.to_string()])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_eq!(
        value(
            &target,
            "SELECT count(*) AS a FROM pg_tables WHERE tablename = '_prisma_migrations'"
        ),
        "0"
    );
    let _ = source;
}
