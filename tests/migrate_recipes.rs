//! `godwit migrate new NAME --recipe KIND`: each recipe passes lint, applies
//! on a real server with the expected catalog, and its down file restores
//! the catalog exactly.

mod common;
#[path = "migrate_support/mod.rs"]
mod support;

use std::process::Command;

use support::{Project, expect_code};

const APP: &str = "
CREATE TABLE posts (id bigint PRIMARY KEY, title text, body text, email text UNIQUE, slug text, created_at timestamptz);
CREATE UNIQUE INDEX posts_slug_idx ON posts (slug) WHERE slug <> '';
CREATE TABLE comments (id bigint PRIMARY KEY, post_email text REFERENCES posts (email));
INSERT INTO posts SELECT g, 'title ' || g, 'dogs running ' || g, 'e' || g, 's' || g FROM generate_series(1, 3000) g;
UPDATE posts SET title = 'The quick fox' WHERE id = 7;
";

/// Everything the recipes can touch in schema public, as sorted text.
fn catalog(project: &Project) -> Vec<String> {
    let sql = "
        SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
               || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
               || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
               || coalesce(' comment ' || col_description(c.oid, a.attnum), '')
          FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v') AND a.attnum > 0 AND NOT a.attisdropped
           AND c.relname <> 'godwit_migrations'
        UNION ALL SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename <> 'godwit_migrations'
        UNION ALL SELECT 'constraint ' || conname || ' ' || pg_get_constraintdef(oid) || ' valid=' || convalidated
          FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND conrelid <> coalesce(to_regclass('godwit_migrations')::oid, 0)
        UNION ALL SELECT 'trigger ' || tgname FROM pg_trigger WHERE NOT tgisinternal
        UNION ALL SELECT 'function ' || proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace
        UNION ALL SELECT 'view ' || viewname FROM pg_views WHERE schemaname = 'public'";
    let mut out: Vec<String> = project
        .client()
        .query(sql, &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    out.sort();
    out
}

/// Writes the recipe, lints up and down files, applies it, and checks that
/// `down` restores the catalog. Returns the catalog while applied.
fn round_trip(project: &Project, name: &str, recipe: &[&str], migrations: usize) -> Vec<String> {
    let before = catalog(project);
    let mut args = vec![name, "--recipe"];
    args.extend_from_slice(recipe);
    let out = project.run("new", &args);
    expect_code(&out, 0);
    let written: Vec<_> = std::fs::read_dir(project.migrations()).unwrap().collect();
    assert_eq!(written.len(), migrations * 2, "an up and a down file per migration");
    let lint = project.run("lint", &["--all"]);
    expect_code(&lint, 0);
    assert!(
        common::stdout(&lint).contains("0 error(s)"),
        "{}",
        common::stdout(&lint)
    );
    let downs: Vec<String> = std::fs::read_dir(project.migrations())
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| p.ends_with(".down.sql"))
        .collect();
    let down_refs: Vec<&str> = downs.iter().map(String::as_str).collect();
    expect_code(&project.run("lint", &down_refs), 0);

    expect_code(&project.run("up", &[]), 0);
    let applied = catalog(project);
    assert_ne!(applied, before);
    let steps = migrations.to_string();
    expect_code(&project.run("down", &["--steps", &steps]), 0);
    assert_eq!(catalog(project), before, "down restores exactly what up changed");
    // And again: the pair can be applied after being undone.
    expect_code(&project.run("up", &[]), 0);
    assert_eq!(catalog(project), applied);
    applied
}

fn project(prefix: &str) -> Project {
    let project = Project::new(prefix);
    project.client().batch_execute(APP).unwrap();
    project
}

fn has(catalog: &[String], wanted: &str) -> bool {
    catalog.iter().any(|line| line == wanted)
}

#[test]
fn fts_recipe_adds_a_backfilled_vector_and_a_concurrent_gin_index() {
    let project = project("recipe_fts");
    let applied = round_trip(
        &project,
        "posts_search",
        &["fts", "--table", "posts", "--columns", "title,body"],
        1,
    );
    assert!(has(&applied, "column posts.search_vector tsvector"), "{applied:#?}");
    assert!(has(
        &applied,
        "index CREATE INDEX posts_search_vector_idx ON public.posts USING gin (search_vector)"
    ));
    assert!(has(&applied, "trigger posts_search_vector_update"));
    let up = std::fs::read_dir(project.migrations())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".up.sql"))
        .unwrap();
    let text = std::fs::read_to_string(up).unwrap();
    assert!(text.starts_with("-- godwit:no-transaction\n") && text.contains("Why not `ADD COLUMN ... GENERATED"));
    let mut client = project.client();
    // Every existing row was backfilled, in weight order.
    let missing: i64 = client
        .query_one("SELECT count(*) FROM posts WHERE search_vector IS NULL", &[])
        .unwrap()
        .get(0);
    assert_eq!(missing, 0);
    let hit: i64 = client
        .query_one(
            "SELECT id FROM posts WHERE search_vector @@ websearch_to_tsquery('english', 'quick fox')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(hit, 7);
    // The trigger keeps new and changed rows current.
    client
        .batch_execute(
            "INSERT INTO posts (id, title) VALUES (9001, 'Lazy cats'); UPDATE posts SET body = 'jumping' WHERE id = 1",
        )
        .unwrap();
    let found: i64 = client
        .query_one(
            "SELECT count(*) FROM posts WHERE search_vector @@ to_tsquery('english', 'cat | jump')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(found, 2);
}

#[test]
fn timestamps_recipe_keeps_updated_at_current() {
    let project = project("recipe_timestamps");
    let applied = round_trip(&project, "posts_timestamps", &["timestamps", "--table", "posts"], 1);
    // created_at existed: kept as it was; updated_at added.
    assert!(
        has(&applied, "column posts.created_at timestamp with time zone"),
        "{applied:#?}"
    );
    assert!(has(
        &applied,
        "column posts.updated_at timestamp with time zone not null default now()"
    ));
    let mut client = project.client();
    client
        .batch_execute(
            "UPDATE posts SET updated_at = '2000-01-01' WHERE id = 1; UPDATE posts SET title = 'x' WHERE id = 1",
        )
        .unwrap();
    let recent: bool = client
        .query_one(
            "SELECT updated_at > now() - interval '1 hour' FROM posts WHERE id = 1",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(recent, "an UPDATE moves updated_at");
    client
        .batch_execute("UPDATE posts SET updated_at = '2000-01-01' WHERE id = 2")
        .unwrap();
    let kept: String = client
        .query_one("SELECT updated_at::date::text FROM posts WHERE id = 2", &[])
        .unwrap()
        .get(0);
    assert_eq!(kept, "2000-01-01", "a statement that sets updated_at itself wins");
}

#[test]
fn timestamps_recipe_without_the_catalog_drops_only_what_it_added() {
    let project = project("recipe_timestamps_nodb");
    let before = catalog(&project);
    let out = Command::new(common::godwit_bin())
        .args([
            "migrate",
            "new",
            "stamps",
            "--recipe",
            "timestamps",
            "--table",
            "posts",
            "--dir",
        ])
        .arg(project.migrations())
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    expect_code(&out, 0);
    expect_code(&project.run("lint", &["--all"]), 0);
    expect_code(&project.run("up", &[]), 0);
    let applied = catalog(&project);
    assert!(
        has(&applied, "column posts.created_at timestamp with time zone"),
        "{applied:#?}"
    );
    assert!(
        applied
            .iter()
            .any(|l| l.starts_with("column posts.updated_at timestamp with time zone not null default now() comment"))
    );
    expect_code(&project.run("down", &[]), 0);
    assert_eq!(catalog(&project), before);
}

#[test]
fn soft_delete_recipe_makes_unique_indexes_partial() {
    let project = project("recipe_soft_delete");
    let applied = round_trip(&project, "posts_soft_delete", &["soft-delete", "--table", "posts"], 1);
    assert!(
        has(&applied, "column posts.deleted_at timestamp with time zone"),
        "{applied:#?}"
    );
    assert!(has(
        &applied,
        "index CREATE UNIQUE INDEX posts_slug_idx_live ON public.posts USING btree (slug) WHERE ((slug <> ''::text) AND (deleted_at IS NULL))"
    ));
    assert!(has(&applied, "view posts_live"));
    // email is referenced by a foreign key, so it stays a full unique constraint.
    assert!(has(&applied, "constraint posts_email_key UNIQUE (email) valid=true"));
    let mut client = project.client();
    client
        .batch_execute(
            "UPDATE posts SET deleted_at = now() WHERE id = 1; INSERT INTO posts (id, slug) VALUES (9001, 's1')",
        )
        .expect("a deleted row no longer blocks its slug");
    let live: i64 = client.query_one("SELECT count(*) FROM posts_live", &[]).unwrap().get(0);
    assert_eq!(live, 3000);
    assert!(
        client
            .batch_execute("INSERT INTO posts (id, slug) VALUES (9002, 's2')")
            .is_err()
    );
}

#[test]
fn soft_delete_recipe_without_a_database_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(common::godwit_bin())
        .args([
            "migrate",
            "new",
            "sd",
            "--recipe",
            "soft-delete",
            "--table",
            "posts",
            "--dir",
        ])
        .arg(dir.path())
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    expect_code(&out, 2);
    assert!(
        common::stderr(&out).contains("--database-url"),
        "{}",
        common::stderr(&out)
    );
}

#[test]
fn check_recipe_adds_not_valid_then_validates() {
    let project = project("recipe_check");
    let applied = round_trip(
        &project,
        "positive_id",
        &["check", "--table", "posts", "--check", "id > 0"],
        2,
    );
    assert!(
        has(
            &applied,
            "constraint posts_positive_id_check CHECK ((id > 0)) valid=true"
        ),
        "{applied:#?}"
    );
    expect_code(&project.run("down", &[]), 0);
    assert!(has(
        &catalog(&project),
        "constraint posts_positive_id_check CHECK ((id > 0)) NOT VALID valid=false"
    ));
}
