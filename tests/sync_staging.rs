//! A round writes a keyed table through a stage: its new and changed rows
//! go by binary COPY into a temporary table, then into the table by one
//! `INSERT ... ON CONFLICT DO UPDATE`, its deleted keys by one
//! `DELETE ... USING`. What reaches the target must be exactly the
//! source (verify exits 0), value for value, and a round killed after
//! staging and before the writes leaves the target and its fingerprints
//! as they were, for the next round to finish.
//!
//! Each target table here carries a statement-level trigger that notes
//! the statements writing to it, so a test can tell the stage's two
//! statements from the statement-by-statement path tables without a
//! usable key keep.

mod common;
mod crash_support;
mod sync_support;

use std::path::Path;
use std::time::Duration;

use common::*;
use crash_support as crash;
use godwit::postgres::conn::ConnSpec;
use sync_support::*;

fn execute(target: &ConnSpec, sql: &str) {
    target.connect().unwrap().batch_execute(sql).unwrap();
}

/// Copies `app` into a fresh database and notes, from then on, every
/// statement that writes to the given tables (in `written`, outside the
/// synced schema).
fn copied_and_watched(app: &Path, name: &str, tables: &[&str]) -> (ConnSpec, String) {
    let target = fresh_database(name);
    let url = target.to_string();
    assert_exit(&copy(app, &target, &[]), 0);
    execute(
        &target,
        "CREATE SCHEMA watch;
         CREATE TABLE watch.written (tbl text, op text, query text);
         CREATE FUNCTION watch.note() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN INSERT INTO watch.written VALUES (TG_TABLE_NAME, TG_OP, current_query()); RETURN NULL; END $$;",
    );
    for table in tables {
        execute(
            &target,
            &format!(
                "CREATE TRIGGER note AFTER INSERT OR UPDATE OR DELETE ON public.{table}
                 FOR EACH STATEMENT EXECUTE FUNCTION watch.note()"
            ),
        );
    }
    (target, url)
}

/// The statements that wrote to `table` since the last call, as (operation,
/// first words of the statement), and forgets them.
fn statements(target: &ConnSpec, table: &str) -> Vec<(String, String)> {
    let found = rows(
        target,
        &format!(
            "SELECT op AS a, left(regexp_replace(query, '\\s+', ' ', 'g'), 40) AS b FROM watch.written
              WHERE tbl = '{table}' ORDER BY op, query"
        ),
    );
    execute(target, &format!("DELETE FROM watch.written WHERE tbl = '{table}'"));
    found.into_iter().map(|r| (r[0].clone(), r[1].clone())).collect()
}

const UPSERT: &str = "WITH written AS (INSERT INTO \"public\".";

#[test]
fn updates_inserts_and_deletes_of_a_table_are_one_upsert_and_one_delete() {
    let dir = tempfile::tempdir().unwrap();
    let app = sqlite_file(
        dir.path(),
        "app.db",
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, n INTEGER);
         WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 3000)
         INSERT INTO items SELECT i, 'item ' || i, i FROM s;
         CREATE TABLE loose (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
         INSERT INTO loose SELECT id, name FROM items WHERE id <= 500;",
    );
    let (target, url) = copied_and_watched(&app, "stage_kinds", &["items", "loose"]);
    // A table the target keeps no unique key on: written statement by statement.
    execute(&target, "ALTER TABLE loose DROP CONSTRAINT loose_pkey");
    assert_eq!(changes(&sync_json(&app, &url)), 0);
    app_writes(
        &app,
        "UPDATE items SET n = n * 10 WHERE id % 97 = 0;
         UPDATE items SET name = 'renamed' WHERE id BETWEEN 1500 AND 1504;
         INSERT INTO items SELECT id + 5000, 'new ' || id, NULL FROM items WHERE id % 150 = 0;
         DELETE FROM items WHERE id % 301 = 0;
         UPDATE loose SET name = 'renamed' WHERE id % 50 = 0;
         INSERT INTO loose VALUES (1000, 'new');
         DELETE FROM loose WHERE id = 7;",
    );
    let round = sync_json(&app, &url);
    assert_eq!(counts(&round, "items"), (20, 30 + 5, 9));
    assert_eq!(counts(&round, "loose"), (1, 10, 1));
    verify_ok(&app, &url);
    // Two statements for items whatever the number of rows: the upsert
    // (PostgreSQL fires both INSERT and UPDATE statement triggers for it)
    // and the delete.
    let items = statements(&target, "items");
    assert_eq!(items.len(), 3, "{items:?}");
    assert_eq!(items[0].0, "DELETE");
    assert!(
        items[0].1.starts_with("DELETE FROM \"public\".\"items\" t USING"),
        "{items:?}"
    );
    for (op, query) in &items[1..] {
        assert!(op == "INSERT" || op == "UPDATE", "{items:?}");
        assert!(query.starts_with(UPSERT), "{items:?}");
    }
    // The keyless target table: no upsert can be arbitrated there.
    let loose = statements(&target, "loose");
    assert!(loose.iter().all(|(_, q)| !q.starts_with(UPSERT)), "{loose:?}");
    assert!(loose.iter().any(|(op, _)| op == "UPDATE"), "{loose:?}");
    // A quiet round finds nothing: the fingerprints recorded are true.
    assert_eq!(changes(&sync_json(&app, &url)), 0);
}

#[test]
fn nulls_bytes_numerics_and_timestamps_arrive_exactly() {
    // Rows 1001-1005 hold the values as the copy wrote them; the round
    // gives other rows the same source values, which must arrive alike.
    let dir = tempfile::tempdir().unwrap();
    let app = sqlite_file(
        dir.path(),
        "app.db",
        "CREATE TABLE facts (id INTEGER PRIMARY KEY, label TEXT, data BLOB, amount DECIMAL(30,10),
                             ratio REAL, at DATETIME, flag BOOLEAN);
         WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 400)
         INSERT INTO facts SELECT i, 'label ' || i, randomblob(16), 1.5, i * 0.25,
                                  '2024-01-01 00:00:00', i % 2 FROM s;
         INSERT INTO facts VALUES
           (1001, NULL, NULL, NULL, NULL, NULL, NULL),
           (1002, 'tab\tquote''s \\ backslash', X'00FF005C0A0D', '12345678901234567890.0123456789', 0.1,
                  '2024-02-29 23:59:59.123456', 1),
           (1003, '', X'', '-0.0000000001', -1.7976931348623157e308, '1999-12-31 23:59:59.999999', 1),
           (1004, 'caf' || char(233) || ' ' || char(128512), X'DEADBEEF00', 123456789012345678, 5e-324,
                  '2038-01-19 03:14:08.000001', 0),
           (1005, 'x', randomblob(3000), '0.5', 0.0, '2000-01-01 00:00:00.5', NULL);",
    );
    let (target, url) = copied_and_watched(&app, "stage_values", &["facts"]);
    app_writes(
        &app,
        "-- every column to NULL, and back from NULL
         UPDATE facts SET (label, data, amount, ratio, at, flag) =
           (SELECT label, data, amount, ratio, at, flag FROM facts WHERE id = 1001) WHERE id = 10;
         UPDATE facts SET (label, data, amount, ratio, at, flag) =
           (SELECT label, data, amount, ratio, at, flag FROM facts WHERE id = 1002) WHERE id = 11;
         UPDATE facts SET (label, data, amount, ratio, at, flag) =
           (SELECT label, data, amount, ratio, at, flag FROM facts WHERE id = 1003) WHERE id = 12;
         INSERT INTO facts SELECT 401, label, data, amount, ratio, at, flag FROM facts WHERE id = 1004;
         INSERT INTO facts SELECT 402, label, data, amount, ratio, at, flag FROM facts WHERE id = 1005;
         UPDATE facts SET label = NULL, data = NULL, amount = NULL, ratio = NULL, at = NULL, flag = NULL WHERE id = 1001;
         UPDATE facts SET label = 'back from NULL', data = X'01', amount = 2, ratio = 2, at = '2001-01-01 00:00:00', flag = 0
          WHERE id = 1001;
         DELETE FROM facts WHERE id = 13;",
    );
    let round = sync_json(&app, &url);
    assert_eq!(counts(&round, "facts"), (2, 4, 1));
    verify_ok(&app, &url);
    // Each synced row is the copied one, value for value.
    let same = value(
        &target,
        "SELECT count(*) AS a FROM (VALUES (10, 1001), (11, 1002), (12, 1003), (401, 1004), (402, 1005)) p(x, y)
           JOIN facts a ON a.id = p.x JOIN facts b ON b.id = p.y
          WHERE (a.label, a.data, a.amount::text, a.ratio::text, a.at::text, a.flag)
                IS NOT DISTINCT FROM (b.label, b.data, b.amount::text, b.ratio::text, b.at::text, b.flag)",
    );
    assert_eq!(same, "4", "row 10 must differ: row 1001 came back from NULL");
    assert_eq!(
        rows(
            &target,
            "SELECT coalesce(label, 'NULL') AS a, coalesce(encode(data, 'hex'), 'NULL') AS b,
                    coalesce((at AT TIME ZONE 'UTC')::text, 'NULL') AS c FROM facts WHERE id IN (10, 11, 1001) ORDER BY id"
        ),
        vec![
            vec!["NULL", "NULL", "NULL"],
            vec![
                "tab\tquote's \\ backslash",
                "00ff005c0a0d",
                "2024-02-29 23:59:59.123456"
            ],
            vec!["back from NULL", "01", "2001-01-01 00:00:00"],
        ]
    );
    assert_eq!(
        value(&target, "SELECT amount::text AS a FROM facts WHERE id = 401"),
        value(&target, "SELECT amount::text AS a FROM facts WHERE id = 1004")
    );
    assert_eq!(value(&target, "SELECT count(*) AS a FROM facts WHERE id = 13"), "0");
    assert!(
        statements(&target, "facts").iter().any(|(_, q)| q.starts_with(UPSERT)),
        "the round did not write facts through the stage"
    );
    assert_eq!(changes(&sync_json(&app, &url)), 0);
}

#[test]
fn composite_keys_go_through_the_stage() {
    let dir = tempfile::tempdir().unwrap();
    let app = sqlite_file(
        dir.path(),
        "app.db",
        "CREATE TABLE tags (item INTEGER NOT NULL, tag TEXT NOT NULL, weight REAL, PRIMARY KEY (item, tag));
         WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 2000)
         INSERT INTO tags SELECT i / 4, 't' || (i % 4), i FROM s;",
    );
    let (target, url) = copied_and_watched(&app, "stage_composite", &["tags"]);
    app_writes(
        &app,
        "UPDATE tags SET weight = -weight WHERE item % 50 = 0;
         -- a key's second column changes: its old key goes, its new one comes
         UPDATE tags SET tag = 'renamed' WHERE item = 77 AND tag = 't1';
         INSERT INTO tags VALUES (5000, 'a', 1), (5000, 'b', 2), (3, 'extra', 3);
         DELETE FROM tags WHERE item = 100;
         DELETE FROM tags WHERE item = 101 AND tag = 't2';",
    );
    let round = sync_json(&app, &url);
    // item % 50 = 0 over items 0..=500 is 11 items of 4 tags (item 0 has 3,
    // 500 has 1), less item 100's 4, which go.
    assert_eq!(counts(&round, "tags"), (4, 36, 6));
    verify_ok(&app, &url);
    assert_eq!(
        value(
            &target,
            "SELECT weight::text AS a FROM tags WHERE item = 77 AND tag = 'renamed'"
        ),
        "309"
    );
    assert!(statements(&target, "tags").iter().any(|(_, q)| q.starts_with(UPSERT)));
    assert_eq!(changes(&sync_json(&app, &url)), 0);
}

#[test]
fn a_key_or_unique_value_taken_from_a_row_deleted_in_the_same_round() {
    let dir = tempfile::tempdir().unwrap();
    let app = sqlite_file(
        dir.path(),
        "app.db",
        "CREATE TABLE people (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT);
         WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 500)
         INSERT INTO people SELECT i, 'p' || i || '@example.com', 'person ' || i FROM s;",
    );
    let (target, url) = copied_and_watched(&app, "stage_taken", &["people"]);
    app_writes(
        &app,
        "-- row 7 takes the key of row 5, deleted in the same round
         DELETE FROM people WHERE id = 5;
         UPDATE people SET id = 5 WHERE id = 7;
         -- row 20 takes the unique email of row 300, deleted in the same round
         DELETE FROM people WHERE id = 300;
         UPDATE people SET email = 'p300@example.com' WHERE id = 20;
         -- and a new row takes the email of row 400, deleted too
         DELETE FROM people WHERE id = 400;
         INSERT INTO people VALUES (900, 'p400@example.com', 'newcomer');",
    );
    let round = sync_json(&app, &url);
    // Key 5 now holds row 7's values (an update); key 7 goes.
    assert_eq!(counts(&round, "people"), (1, 2, 3));
    verify_ok(&app, &url);
    assert_eq!(
        value(&target, "SELECT email AS a FROM people WHERE id = 5"),
        "p7@example.com"
    );
    assert_eq!(
        value(
            &target,
            "SELECT id::text AS a FROM people WHERE email = 'p300@example.com'"
        ),
        "20"
    );
    assert_eq!(
        value(
            &target,
            "SELECT id::text AS a FROM people WHERE email = 'p400@example.com'"
        ),
        "900"
    );
    assert_eq!(changes(&sync_json(&app, &url)), 0);
}

/// The target's rows and godwit's recorded fingerprints, as digests.
fn snapshot(target: &ConnSpec) -> (Vec<(String, i64, String)>, String) {
    let fingerprints = value(
        target,
        "SELECT coalesce(md5(string_agg(b::text, '|' ORDER BY b::text)), '') AS a FROM godwit.sync_buckets b",
    );
    let tables = value(
        target,
        "SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') AS a FROM godwit.sync_tables t",
    );
    (crash::table_digests(target), format!("{fingerprints} {tables}"))
}

#[test]
fn a_round_killed_between_staging_and_writing_leaves_the_target_and_fingerprints_for_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let app = sqlite_file(
        dir.path(),
        "app.db",
        "PRAGMA journal_mode = WAL;
         CREATE TABLE items (id INTEGER PRIMARY KEY, body TEXT NOT NULL, n REAL);
         WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 5000)
         INSERT INTO items SELECT i, 'body ' || i, i * 0.5 FROM s;",
    );
    let target = fresh_database("stage_killed");
    let url = target.to_string();
    assert_exit(&copy(&app, &target, &[]), 0);
    app_writes(
        &app,
        "UPDATE items SET n = -n WHERE id % 40 = 0;
         INSERT INTO items SELECT id + 10000, 'new', NULL FROM items WHERE id % 100 = 0;
         DELETE FROM items WHERE id % 333 = 0;",
    );
    let before = snapshot(&target);
    // Another session holds the table against writes (SHARE blocks the
    // upsert's ROW EXCLUSIVE, not the round's reads or its staging), so
    // the round stops exactly where its rows are staged and none written.
    let mut holder = target.connect().unwrap();
    holder
        .batch_execute("BEGIN; LOCK TABLE public.items IN SHARE MODE")
        .unwrap();
    let args = ["sync", app.to_str().unwrap(), "--to", url.as_str(), "-q"];
    let mut child = crash::spawn(&godwit_bin(), &args, &[]);
    let mut watcher = server().connect().unwrap();
    let database = value(&target, "SELECT current_database() AS a");
    crash::wait_until("the round to wait with its rows staged", || {
        watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'godwit sync'
                   AND wait_event_type = 'Lock' AND query LIKE 'WITH written AS (INSERT INTO%'",
                &[&database],
            )
            .unwrap()
            .get::<_, i64>(0)
            == 1
    });
    let strike = crash::kill_after(&mut child, Duration::ZERO);
    assert!(strike.finished.is_none(), "the round ended before it was killed");
    holder.batch_execute("ROLLBACK").unwrap();
    // The server ends the dead client's session (its transaction rolled back).
    crash::wait_until("the killed round's session to end", || {
        watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'godwit sync%'",
                &[&database],
            )
            .unwrap()
            .get::<_, i64>(0)
            == 0
    });
    assert_eq!(
        snapshot(&target),
        before,
        "the killed round changed the target or its fingerprints"
    );
    // The next round does the whole change, and records true fingerprints.
    let round = sync_json(&app, &url);
    assert_eq!(counts(&round, "items"), (50, 125, 15));
    verify_ok(&app, &url);
    app_writes(&app, "UPDATE items SET body = 'later' WHERE id % 500 = 1;");
    assert_eq!(counts(&sync_json(&app, &url), "items"), (0, 10, 0));
    verify_ok(&app, &url);
}
