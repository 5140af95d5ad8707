//! Documents into PostgreSQL: every mapping rule, against a real server.
//! Fixtures are written by each test into a temporary directory.

mod common;

use std::path::Path;

use common::*;
use godwit::postgres::conn::ConnSpec;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// `column type` pairs of a table, in column order.
fn columns(target: &ConnSpec, schema: &str, table: &str) -> Vec<(String, String)> {
    rows(
        target,
        &format!(
            "SELECT ordinal_position AS a, column_name AS b, format_type(atttypid, atttypmod) AS c \
             FROM information_schema.columns c JOIN pg_attribute a \
               ON a.attrelid = ('\"{schema}\".\"{table}\"')::regclass AND a.attname = c.column_name \
             WHERE table_schema = '{schema}' AND table_name = '{table}' ORDER BY ordinal_position"
        ),
    )
    .into_iter()
    .map(|r| (r[1].clone(), r[2].clone()))
    .collect()
}

fn column_type(target: &ConnSpec, schema: &str, table: &str, column: &str) -> String {
    columns(target, schema, table)
        .into_iter()
        .find(|(c, _)| c == column)
        .map(|(_, t)| t)
        .unwrap_or_else(|| panic!("{schema}.{table} has no column {column}"))
}

/// Constraint definitions of one kind (`p`, `f`) on a table.
fn constraints(target: &ConnSpec, schema: &str, table: &str, kind: &str) -> Vec<String> {
    rows(
        target,
        &format!(
            "SELECT pg_get_constraintdef(oid) AS a FROM pg_constraint \
             WHERE conrelid = ('\"{schema}\".\"{table}\"')::regclass AND contype = '{kind}' ORDER BY 1"
        ),
    )
    .into_iter()
    .map(|r| r[0].clone())
    .collect()
}

fn tables(target: &ConnSpec, schema: &str) -> Vec<String> {
    rows(
        target,
        &format!("SELECT table_name AS a FROM information_schema.tables WHERE table_schema = '{schema}' ORDER BY 1"),
    )
    .into_iter()
    .map(|r| r[0].clone())
    .collect()
}

#[test]
fn a_directory_reads_every_shape_and_skips_what_it_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    write(&app, ".hidden.json", r#"{"a": 1}"#);
    write(&app, "notes.md", "# notes\nnot data\n");
    write(
        &app,
        "events.json",
        r#"[{"kind": "a", "at": "2024-01-01T00:00:00Z"}, {"kind": "b", "at": "2024-01-02T00:00:00+01:00"}]"#,
    );
    write(&app, "users.json", r#"{"ann": {"age": 30}, "bob": {"age": 40}}"#);
    write(
        &app,
        "teams.json",
        r#"{"1": {"id": 1, "name": "red"}, "2": {"id": 2, "name": "blue"}}"#,
    );
    write(
        &app,
        "things.json",
        r#"{"x": {"id": 5, "v": 1}, "y": {"id": 6, "v": 2}}"#,
    );
    // JSON Lines, recognised by content whatever the name says.
    write(&app, "log.data", "{\"n\": 1}\n\n{\"n\": 2}\n");
    write(&app, "r2.json", r#"{"title": "second", "score": 2}"#);
    write(&app, "r1.json", r#"{"title": "first", "score": 1}"#);
    write(&app, "memories/m1.json", r#"{"id": "m1", "text": "likes tea"}"#);
    write(&app, "memories/m2.json", r#"{"id": "m2", "text": "has a cat"}"#);

    let plan = godwit(&["plan", app.to_str().unwrap()]);
    assert_exit(&plan, 0);
    let text = stdout(&plan);
    assert!(text.contains(".hidden.json: hidden"), "{text}");
    assert!(text.contains("notes.md: text that is not JSON"), "{text}");

    let target = fresh_database("docs_dir");
    let out = copy(&app, &target, &[]);
    assert_exit(&out, 0);
    assert_eq!(
        tables(&target, "public"),
        ["app", "events", "log", "memories", "teams", "things", "users"]
    );
    // One file per record: the file stem is the key, in byte order.
    assert_eq!(
        rows(&target, "SELECT id AS a, title AS b, score AS c FROM app ORDER BY id"),
        [["r1", "first", "1"], ["r2", "second", "2"]]
    );
    assert_eq!(constraints(&target, "public", "app", "p"), ["PRIMARY KEY (id)"]);
    // A subdirectory is a table of its own, keyed by the records' id.
    assert_eq!(
        rows(&target, "SELECT id AS a, text AS b FROM memories ORDER BY id"),
        [["m1", "likes tea"], ["m2", "has a cat"]]
    );
    // An array of records without ids: a surrogate key from the position.
    assert_eq!(column_type(&target, "public", "events", "id"), "bigint");
    assert_eq!(
        column_type(&target, "public", "events", "at"),
        "timestamp with time zone"
    );
    assert_eq!(
        rows(&target, "SELECT id AS a, kind AS b FROM events ORDER BY id"),
        [["1", "a"], ["2", "b"]]
    );
    // An object keyed by id: the key becomes the primary key...
    assert_eq!(
        rows(&target, "SELECT id AS a, age AS b FROM users ORDER BY id"),
        [["ann", "30"], ["bob", "40"]]
    );
    // ...unless each record carries the same value as its own id...
    assert_eq!(columns(&target, "public", "teams")[0], ("id".into(), "bigint".into()));
    assert_eq!(constraints(&target, "public", "teams", "p"), ["PRIMARY KEY (id)"]);
    // ...and when their id differs, both are kept.
    assert_eq!(
        rows(&target, "SELECT key AS a, id AS b FROM things ORDER BY key"),
        [["x", "5"], ["y", "6"]]
    );
    assert_eq!(constraints(&target, "public", "things", "p"), ["PRIMARY KEY (key)"]);
    assert_eq!(value(&target, "SELECT sum(n) AS a FROM log"), "3");
}

#[test]
fn csv_and_tsv_are_read_as_postgres_reads_csv() {
    let dir = tempfile::tempdir().unwrap();
    // BOM, semicolons, a quoted newline, "" against an empty field, spaces kept.
    let csv = write(
        dir.path(),
        "prices.csv",
        "\u{feff}code;price;note;label\n007;1.50;\"two\nlines\";\" padded \"\n012;2.25;;\"\"\n",
    );
    let tsv = write(dir.path(), "people.tsv", "id\tname\n1\tann\n2\tbob, jr\n");
    let target = fresh_database("docs_csv");
    assert_exit(&copy(&csv, &target, &[]), 0);
    assert_eq!(column_type(&target, "public", "prices", "code"), "text");
    assert_eq!(column_type(&target, "public", "prices", "price"), "numeric");
    assert_eq!(
        rows(
            &target,
            "SELECT code AS a, price::text AS b, coalesce(note, 'NULL!') AS c, '[' || coalesce(label, 'NULL!') || ']' AS d \
             FROM prices ORDER BY code"
        ),
        [
            ["007", "1.50", "two\nlines", "[ padded ]"],
            ["012", "2.25", "NULL!", "[]"]
        ]
    );
    assert_exit(&copy(&tsv, &target, &[]), 0);
    assert_eq!(column_type(&target, "public", "people", "id"), "bigint");
    assert_eq!(constraints(&target, "public", "people", "p"), ["PRIMARY KEY (id)"]);
    assert_eq!(value(&target, "SELECT name AS a FROM people WHERE id = 2"), "bob, jr");
    // A pipe-delimited file named .txt, read as CSV when the prefix says so.
    let piped = write(dir.path(), "codes.txt", "a|b\nx|1\n");
    let spec = format!("csv:{}", piped.display());
    let url = target.to_string();
    assert_exit(&godwit(&["copy", &spec, "--to", &url]), 0);
    assert_eq!(value(&target, "SELECT b AS a FROM codes"), "1");
    // A header and no rows: the columns still exist.
    let empty = write(dir.path(), "empty.csv", "when,what\n");
    assert_exit(&copy(&empty, &target, &[]), 0);
    assert_eq!(
        columns(&target, "public", "empty"),
        [
            ("id".to_string(), "bigint".to_string()),
            ("when".into(), "text".into()),
            ("what".into(), "text".into())
        ]
    );
}

#[test]
fn every_type_is_decided_over_every_value() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "things.json",
        r#"[
  {"id": 1, "big": 18446744073709551617, "dec": 0.1000, "flag": true, "at": "2024-05-01T10:00:00.123456Z",
   "local": "2024-05-01T10:00:00", "day": "2024-05-01", "uid": "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
   "zip": "007", "count": "12", "mixed": 1, "nothing": null, "tags": ["a", "b"], "scores": [1, 2],
   "a": {"b": {"c": {"d": 1}, "e": "x"}}, "fine": 1.5e3},
  {"id": 2, "big": 1, "dec": 2, "flag": false, "at": "2024-05-02T10:00:00+02:00",
   "local": "2024-05-02 11:00:00", "day": "2024-05-02", "uid": "6ba7b811-9dad-11d1-80b4-00c04fd430c8",
   "zip": "12", "count": "-3", "mixed": "one", "tags": [], "scores": [3],
   "a": {"b": {"c": {"d": 2}, "e": "y"}}, "fine": 2}
]"#,
    );
    let target = fresh_database("docs_types");
    assert_exit(&copy(&file, &target, &[]), 0);
    let expect = [
        ("id", "bigint"),
        ("big", "numeric"),
        ("dec", "numeric"),
        ("flag", "boolean"),
        ("at", "timestamp with time zone"),
        ("local", "timestamp without time zone"),
        ("day", "date"),
        ("uid", "uuid"),
        ("zip", "text"),
        ("count", "bigint"),
        ("mixed", "jsonb"),
        ("nothing", "text"),
        ("tags", "text[]"),
        ("scores", "bigint[]"),
        ("a__b__c", "jsonb"),
        ("a__b__e", "text"),
        ("fine", "numeric"),
    ];
    let got = columns(&target, "public", "things");
    let expected: Vec<(String, String)> = expect.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    assert_eq!(got, expected);
    // Exact to the digit, read back as PostgreSQL's text.
    assert_eq!(
        rows(
            &target,
            "SELECT big::text AS a, dec::text AS b, zip AS c, mixed::text AS d, a__b__c::text AS e, \
             fine::text AS f, tags::text AS g, scores::text AS h, (at AT TIME ZONE 'UTC')::text AS i FROM things WHERE id = 1"
        ),
        [[
            "18446744073709551617",
            "0.1000",
            "007",
            "1",
            "{\"d\": 1}",
            "1500",
            "{a,b}",
            "{1,2}",
            "2024-05-01 10:00:00.123456"
        ]]
    );
    assert_eq!(
        value(&target, "SELECT mixed::text AS a FROM things WHERE id = 2"),
        "\"one\""
    );
    assert_eq!(
        value(&target, "SELECT count(*) AS a FROM things WHERE nothing IS NULL"),
        "2"
    );
    assert_eq!(value(&target, "SELECT count AS a FROM things WHERE id = 2"), "-3");
}

#[test]
fn arrays_of_objects_become_child_tables_and_depth_is_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "orders.ndjson",
        concat!(
            r#"{"id": "o1", "customer": {"name": "ann", "address": {"city": "Oslo"}}, "lines": [{"sku": "a", "qty": 2, "options": [{"k": "gift"}]}, {"sku": "b", "qty": 1}]}"#,
            "\n",
            r#"{"id": "o2", "customer": {"name": "bob", "address": {"city": "Rome"}}, "lines": [{"sku": "c", "qty": 5}]}"#,
            "\n"
        ),
    );
    let target = fresh_database("docs_child");
    assert_exit(&copy(&file, &target, &[]), 0);
    assert_eq!(
        columns(&target, "public", "orders")
            .into_iter()
            .map(|(c, _)| c)
            .collect::<Vec<_>>(),
        ["id", "customer__name", "customer__address__city"]
    );
    assert_eq!(
        constraints(&target, "public", "orders__lines", "p"),
        ["PRIMARY KEY (order_id, ordinal)"]
    );
    assert_eq!(
        constraints(&target, "public", "orders__lines", "f"),
        ["FOREIGN KEY (order_id) REFERENCES orders(id)"]
    );
    assert_eq!(
        rows(
            &target,
            "SELECT order_id AS a, ordinal AS b, sku AS c, qty AS d FROM orders__lines ORDER BY 1, 2"
        ),
        [["o1", "1", "a", "2"], ["o1", "2", "b", "1"], ["o2", "1", "c", "5"]]
    );
    // A child of a child points at its parent's whole key.
    assert_eq!(
        constraints(&target, "public", "orders__lines__options", "f"),
        ["FOREIGN KEY (order_id, line_ordinal) REFERENCES orders__lines(order_id, ordinal)"]
    );
    assert_eq!(
        rows(
            &target,
            "SELECT order_id AS a, line_ordinal AS b, ordinal AS c, k AS d FROM orders__lines__options"
        ),
        [["o1", "1", "1", "gift"]]
    );

    // godwit.toml: flatten one level only, and keep a path as JSON.
    let config = write(
        dir.path(),
        "godwit.toml",
        "[documents]\nmax_depth = 2\nkeep_json = [\"orders.lines\"]\n",
    );
    let again = fresh_database("docs_depth");
    assert_exit(&copy(&file, &again, &["--config", config.to_str().unwrap()]), 0);
    assert_eq!(
        columns(&again, "public", "orders"),
        [
            ("id".to_string(), "text".to_string()),
            ("customer__name".into(), "text".into()),
            ("customer__address".into(), "jsonb".into()),
            ("lines".into(), "jsonb".into()),
        ]
    );
    assert_eq!(
        value(
            &again,
            "SELECT customer__address->>'city' AS a FROM orders WHERE id = 'o2'"
        ),
        "Rome"
    );
}

#[test]
fn surrogate_keys_are_the_same_on_every_run() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "readings.json",
        r#"[{"v": "a"}, {"v": "b"}, {"v": "a"}, {"v": "c", "id": null}]"#,
    );
    let target = fresh_database("docs_surrogate");
    let query = "SELECT _id AS a, v AS b FROM readings ORDER BY _id";
    assert_exit(&copy(&file, &target, &[]), 0);
    let first = rows(&target, query);
    assert_eq!(first, [["1", "a"], ["2", "b"], ["3", "a"], ["4", "c"]]);
    assert_exit(&copy(&file, &target, &["--replace"]), 0);
    assert_eq!(rows(&target, query), first);
}

#[test]
fn dangling_references_make_a_not_valid_foreign_key_and_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "blog.json",
        r#"{"users": [{"id": 1, "name": "ann"}, {"id": 2, "name": "bob"}],
            "posts": [{"id": 10, "user_id": 1}, {"id": 11, "user_id": 2}, {"id": 12, "user_id": 9}]}"#,
    );
    let plan = godwit(&["plan", file.to_str().unwrap()]);
    assert!(
        stdout(&plan).contains("posts.user_id: 2 of 3 values are keys of users"),
        "{}",
        stdout(&plan)
    );
    let target = fresh_database("docs_dangling");
    let out = copy(&file, &target, &[]);
    assert_exit(&out, 3);
    assert_eq!(
        value(
            &target,
            "SELECT convalidated::text AS a FROM pg_constraint WHERE conname = 'posts_user_id_fkey'"
        ),
        "false"
    );
    // Nothing deleted.
    assert_eq!(value(&target, "SELECT count(*) AS a FROM posts"), "3");
}

#[test]
fn relations_can_be_refused_renamed_and_added_in_config() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "club.json",
        r#"{"people": {"p1": {"name": "ann", "friends": ["p2"], "mentor": "p2"}, "p2": {"name": "bob", "friends": [], "mentor": null}},
            "groups": [{"title": "chess", "member_ids": ["p1", "p2"], "owner": "p1"}]}"#,
    );
    let config = write(
        dir.path(),
        "godwit.toml",
        r#"
[[documents.relation]]
field = "people.friends"
refuse = true

[[documents.relation]]
field = "groups.member_ids"
name = "group_members"
"#,
    );
    let target = fresh_database("docs_relations");
    assert_exit(&copy(&file, &target, &["--config", config.to_str().unwrap()]), 0);
    // Refused: stays an array.
    assert_eq!(column_type(&target, "public", "people", "friends"), "text[]");
    // Renamed junction, both foreign keys, order kept.
    assert_eq!(
        constraints(&target, "public", "group_members", "f"),
        [
            "FOREIGN KEY (group_id) REFERENCES groups(id)",
            "FOREIGN KEY (member_id) REFERENCES people(id)"
        ]
    );
    assert_eq!(
        rows(
            &target,
            "SELECT ordinal AS a, member_id AS b FROM group_members ORDER BY ordinal"
        ),
        [["1", "p1"], ["2", "p2"]]
    );
    // Inferred from the values alone: text keys of one collection only.
    assert_eq!(
        constraints(&target, "public", "groups", "f"),
        ["FOREIGN KEY (owner) REFERENCES people(id)"]
    );
    assert_eq!(
        constraints(&target, "public", "people", "f"),
        ["FOREIGN KEY (mentor) REFERENCES people(id)"]
    );

    // Integers without a name that says so are no relation, unless config adds it.
    let league = write(
        dir.path(),
        "league.json",
        r#"{"teams": [{"id": 1}, {"id": 2}], "players": [{"id": 10, "squad": 2}]}"#,
    );
    let plain = fresh_database("docs_relations_plain");
    assert_exit(&copy(&league, &plain, &[]), 0);
    assert!(constraints(&plain, "public", "players", "f").is_empty());
    let added = write(
        dir.path(),
        "added.toml",
        "[[documents.relation]]\nfield = \"players.squad\"\nto = \"teams\"\n",
    );
    let with_config = fresh_database("docs_relations_added");
    assert_exit(&copy(&league, &with_config, &["--config", added.to_str().unwrap()]), 0);
    assert_eq!(
        constraints(&with_config, "public", "players", "f"),
        ["FOREIGN KEY (squad) REFERENCES teams(id)"]
    );
}

#[test]
fn data_only_loads_into_tables_made_by_sql() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "shop.json",
        r#"{"products": {"p1": {"name": "tea", "price": "3.50"}, "p2": {"name": "jam", "price": "4.00"}},
            "orders": [{"id": 1, "product_id": "p1", "lines": [{"qty": 2}]}]}"#,
    );
    let target = fresh_database("docs_data_only");
    let mut client = target.connect().unwrap();
    client
        .batch_execute(
            "CREATE TABLE products (id text PRIMARY KEY, name text NOT NULL, price numeric(6,2));
             CREATE TABLE orders (id bigint PRIMARY KEY, product_id text REFERENCES products);
             CREATE TABLE orders__lines (order_id bigint REFERENCES orders, ordinal int, qty int, PRIMARY KEY (order_id, ordinal));",
        )
        .unwrap();
    assert_exit(&copy(&file, &target, &["--data-only"]), 0);
    assert_eq!(
        rows(&target, "SELECT id AS a, price::text AS b FROM products ORDER BY id"),
        [["p1", "3.50"], ["p2", "4.00"]]
    );
    assert_eq!(value(&target, "SELECT qty AS a FROM orders__lines"), "2");
    assert_exit(&copy(&file, &target, &["--data-only", "--truncate"]), 0);
    assert_eq!(value(&target, "SELECT count(*) AS a FROM products"), "2");
}

#[test]
fn json_lines_with_a_long_first_record_and_forced_formats() {
    let dir = tempfile::tempdir().unwrap();
    let long = "x".repeat(100_000);
    let file = write(
        dir.path(),
        "notes.json",
        &format!("{{\"id\": 1, \"body\": \"{long}\"}}\n{{\"id\": 2, \"body\": \"short\"}}\n"),
    );
    let target = fresh_database("docs_long_line");
    assert_exit(&copy(&file, &target, &[]), 0);
    assert_eq!(value(&target, "SELECT sum(length(body)) AS a FROM notes"), "100005");
    // One record a line, forced: a single line is one record.
    let one = write(dir.path(), "one.txt", "{\"id\": 7}\n");
    let url = target.to_string();
    let spec = format!("ndjson:{}", one.display());
    assert_exit(&godwit(&["copy", &spec, "--to", &url]), 0);
    assert_eq!(value(&target, "SELECT id AS a FROM one"), "7");
}

#[test]
fn floating_point_only_when_config_asks_and_verify_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "readings.ndjson",
        "{\"id\": 1, \"ratio\": 0.1, \"exact\": 0.1}\n{\"id\": 2, \"ratio\": 2.5e3, \"exact\": 2.5e3}\n",
    );
    let config = write(
        dir.path(),
        "godwit.toml",
        "[[cast]]\ncolumn = \"readings.ratio\"\nto = \"double precision\"\n",
    );
    let target = fresh_database("docs_float");
    let with_config = ["--config", config.to_str().unwrap()];
    assert_exit(&copy(&file, &target, &with_config), 0);
    assert_eq!(column_type(&target, "public", "readings", "ratio"), "double precision");
    assert_eq!(column_type(&target, "public", "readings", "exact"), "numeric");
    assert_eq!(
        rows(
            &target,
            "SELECT ratio::text AS a, exact::text AS b FROM readings ORDER BY id"
        ),
        [["0.1", "0.1"], ["2500", "2500"]]
    );
    let verified = godwit(&[
        "verify",
        file.to_str().unwrap(),
        "--to",
        &target.to_string(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_exit(&verified, 0);
}
