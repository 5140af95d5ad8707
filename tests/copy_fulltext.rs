//! Full-text (FTS3/4/5) and rtree tables carried with their rows: searches
//! in PostgreSQL return the same rows as MATCH in SQLite, verify compares
//! the carried rows, and shadow tables stay behind.

mod common;

use std::path::Path;

use common::*;
use godwit::plan::fulltext::tsquery_of_match;
use godwit::postgres::conn::ConnSpec;

const PORTER: &str = r#"
CREATE VIRTUAL TABLE docs USING fts5(title, body, tokenize='porter');
INSERT INTO docs(rowid, title, body) VALUES
  (1, 'The quick brown fox', 'jumps over the lazy dog'),
  (2, 'Running dogs', 'dogs are running in the park'),
  (3, 'Quiet evening', 'a quiet brown house'),
  (4, 'Brown bread', 'the baker runs a bakery'),
  (5, 'Connections', 'connected networks connect people'),
  (6, 'Foxes', 'the fox is quick and brown'),
  (9, 'Nothing here', 'at all'),
  (10, 'Contact', 'e-mail ann@mail.example.org or see http://example.org/dogs?page=3.14');
"#;

const UNICODE61: &str = r#"
CREATE VIRTUAL TABLE docs USING fts5(title, body);
INSERT INTO docs(rowid, title, body) VALUES
  (1, 'Café crème', 'un café noir'),
  (2, 'Creme brulee', 'crème brûlée maison'),
  (3, 'Naïve art', 'l''art naïf'),
  (4, 'Ecole', 'École élémentaire'),
  (5, 'CAFE', 'Élan'),
  (6, 'Co-op «Crème»', 'l''été – déjà vu…');
"#;

/// rowids SQLite returns for `MATCH query`, and those PostgreSQL returns
/// for the translated query on the copied table (or view).
fn both(source: &Path, target: &ConnSpec, relation: &str, config: &str, query: &str) -> (Vec<i64>, Vec<i64>) {
    let conn = rusqlite::Connection::open(source).unwrap();
    let mut stmt = conn
        .prepare(&format!(
            "SELECT rowid FROM {relation} WHERE {relation} MATCH ?1 ORDER BY rowid"
        ))
        .unwrap();
    let sqlite: Vec<i64> = stmt
        .query_map([query], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let tsquery = tsquery_of_match(query).unwrap_or_else(|| panic!("no tsquery for {query}"));
    let mut client = target.connect().unwrap();
    let pg: Vec<i64> = client
        .query(
            &format!("SELECT rowid FROM {relation} WHERE tsv @@ to_tsquery($1::text::regconfig, $2) ORDER BY rowid"),
            &[&config, &tsquery],
        )
        .unwrap_or_else(|e| panic!("{query} → {tsquery}: {e:?}"))
        .iter()
        .map(|r| r.get(0))
        .collect();
    (sqlite, pg)
}

fn assert_same_results(source: &Path, target: &ConnSpec, relation: &str, config: &str, queries: &[&str]) {
    for query in queries {
        let (sqlite, pg) = both(source, target, relation, config, query);
        assert!(!sqlite.is_empty(), "fixture should match {query:?} in SQLite");
        assert_eq!(sqlite, pg, "MATCH {query:?}: SQLite rowids vs PostgreSQL rowids");
    }
}

#[test]
fn porter_searches_return_the_same_rows_as_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite_file(dir.path(), "porter.db", PORTER);
    let plan = godwit(&["plan", source.to_str().unwrap()]);
    assert_exit(&plan, 0);
    let text = stdout(&plan);
    assert!(
        text.contains("Full-text and spatial tables:\n  - fts5 docs (porter unicode61) → column docs.tsv tsvector"),
        "{text}"
    );
    assert!(text.contains("CREATE TEXT SEARCH DICTIONARY \"public\".godwit_english_stem (TEMPLATE = pg_catalog.snowball, Language = english)"));
    let target = fresh_database("fts_porter");
    let out = copy(&source, &target, &[]);
    assert_exit(&out, 0);
    assert_same_results(
        &source,
        &target,
        "docs",
        "godwit_porter",
        &[
            "dog",
            "running",
            "run",
            "quick brown",
            "qui*",
            "\"quick brown\"",
            "connect",
            "the",
            "brown NOT fox",
            "fox OR bakery",
            // PostgreSQL's parser would keep these whole; SQLite splits them.
            "mail",
            "\"e-mail\"",
            "example",
            "14",
            "page",
        ],
    );
    // The vector weights columns in declared order: title A, body B.
    assert_eq!(
        value(&target, "SELECT tsv::text AS a FROM docs WHERE rowid = 2"),
        "'are':4B 'dog':2A,3B 'in':6B 'park':8B 'run':1A,5B 'the':7B"
    );
    assert_eq!(
        value(
            &target,
            "SELECT count(*) AS a FROM pg_indexes WHERE tablename = 'docs' AND indexdef LIKE '%USING gin (tsv)'"
        ),
        "1"
    );
    // Shadow tables stay behind.
    assert_eq!(
        value(
            &target,
            "SELECT count(*) AS a FROM pg_tables WHERE tablename LIKE 'docs\\_%'"
        ),
        "0"
    );
}

#[test]
fn unicode61_searches_ignore_accents_like_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite_file(dir.path(), "unicode.db", UNICODE61);
    let target = fresh_database("fts_unicode");
    assert_exit(&copy(&source, &target, &[]), 0);
    assert_same_results(
        &source,
        &target,
        "docs",
        "godwit_unicode61",
        &[
            "cafe",
            "café",
            "CRÈME",
            "crème brûlée",
            "ecole",
            "\"creme brulee\"",
            "naï*",
            "el*",
            "cafe NOT noir",
            "op",
            "\"co-op\"",
            "ete",
            "deja vu",
        ],
    );
}

const VARIETY: &str = r#"
CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT, body TEXT, author TEXT);
INSERT INTO notes VALUES (1, 'Garden plans', 'tomatoes and beans', 'ann'), (2, 'Trip', 'trains to the mountains', 'bob'),
  (5, 'Beans again', 'more beans', 'ann');
CREATE VIRTUAL TABLE notes_fts USING fts5(title, body, content='notes', content_rowid='id', tokenize='porter');
INSERT INTO notes_fts(notes_fts) VALUES ('rebuild');
CREATE TRIGGER notes_ai AFTER INSERT ON notes BEGIN
  INSERT INTO notes_fts(rowid, title, body) VALUES (new.id, new.title, new.body);
END;
CREATE TRIGGER notes_ad AFTER DELETE ON notes BEGIN
  INSERT INTO notes_fts(notes_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
END;
CREATE VIRTUAL TABLE tags USING fts4(name, secret, notindexed=secret);
INSERT INTO tags(docid, name, secret) VALUES (7, 'red green', 's1'), (8, 'blue', 's2');
CREATE VIRTUAL TABLE old USING fts3(subject, content);
INSERT INTO old VALUES ('hello world', 'greetings'), ('bye', NULL);
CREATE VIRTUAL TABLE labels USING fts5(label, tokenize='trigram');
INSERT INTO labels(rowid, label) VALUES (1, 'Hello world'), (2, 'yellow'), (3, 'other');
CREATE TABLE items (id INTEGER PRIMARY KEY, code TEXT);
INSERT INTO items VALUES (4, 'AB-1234'), (5, 'XY-9912');
CREATE VIRTUAL TABLE items_search USING fts5(code, content='items', content_rowid='id', tokenize='trigram');
CREATE TRIGGER items_ai AFTER INSERT ON items BEGIN
  INSERT INTO items_search(rowid, code) VALUES (new.id, new.code);
END;
CREATE VIRTUAL TABLE places USING rtree(id, minX, maxX, minY, maxY, +name TEXT);
INSERT INTO places VALUES (1, 0.1, 0.2, 10.3, 10.4, 'a'), (2, -5, 5, -1e10, 1e10, 'b'), (3, 1, 1, 2, 2, NULL);
CREATE VIRTUAL TABLE boxes USING rtree(id, x0, x1, y0, y1, z0, z1);
INSERT INTO boxes VALUES (10, 0, 1, 0, 1, 0, 1), (11, 2.5, 3.5, 2.5, 3.5, 2.5, 3.5);
CREATE VIRTUAL TABLE grid USING rtree_i32(id, a0, a1, b0, b1);
INSERT INTO grid VALUES (1, -2147483648, 2147483647, 0, 3), (2, 5, 6, 7, 8);
"#;

#[test]
fn external_content_fts4_fts3_and_rtree_are_carried_and_verified() {
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite_file(dir.path(), "variety.db", VARIETY);
    let target = fresh_database("fts_variety");
    let out = copy(&source, &target, &[]);
    assert_exit(&out, 0);
    let summary = stderr(&out) + &stdout(&out);
    // Exit 0 above: the sync triggers are not items to review.
    assert!(
        summary.contains("trigger notes_ai on notes kept full-text table notes_fts in step: replaced by the generated column notes.tsv"),
        "{summary}"
    );

    assert!(
        summary.contains("trigger items_ai on items kept full-text table items_search in step: replaced by the pg_trgm index items_trgm_idx"),
        "{summary}"
    );
    assert_eq!(
        value(&target, "SELECT rowid AS a FROM items_search WHERE code ILIKE '%991%'"),
        "5"
    );

    // External content: the vector lives on notes, the FTS name is a view.
    assert_same_results(
        &source,
        &target,
        "notes_fts",
        "godwit_porter",
        &["bean", "train", "garden OR trip"],
    );
    assert_eq!(
        value(
            &target,
            "SELECT relkind::text AS a FROM pg_class WHERE relname = 'notes_fts'"
        ),
        "v"
    );
    assert_eq!(
        value(&target, "SELECT count(*) AS a FROM notes WHERE tsv @@ 'bean'"),
        "2"
    );
    // FTS4 notindexed and FTS3 (simple tokenizer) tables keep their rowids.
    assert_eq!(value(&target, "SELECT rowid AS a FROM tags WHERE tsv @@ 'green'"), "7");
    assert_eq!(value(&target, "SELECT count(*) AS a FROM tags WHERE tsv @@ 's1'"), "0");
    assert_eq!(
        value(
            &target,
            "SELECT subject AS a FROM old WHERE tsv @@ to_tsquery('simple', 'greetings')"
        ),
        "hello world"
    );

    // trigram: a pg_trgm GIN index; MATCH 'llo' is a case-insensitive substring search.
    let conn = rusqlite::Connection::open(&source).unwrap();
    let sqlite_hits: Vec<i64> = conn
        .prepare("SELECT rowid FROM labels WHERE labels MATCH 'LLO' ORDER BY rowid")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(sqlite_hits, vec![1, 2]);
    let pg_hits = rows(
        &target,
        "SELECT rowid AS a FROM labels WHERE label ILIKE '%LLO%' ORDER BY rowid",
    );
    assert_eq!(pg_hits, vec![vec!["1".to_string()], vec!["2".to_string()]]);
    assert_eq!(
        value(
            &target,
            "SELECT indexdef AS a FROM pg_indexes WHERE tablename = 'labels' AND indexname LIKE '%trgm%'"
        ),
        "CREATE INDEX labels_trgm_idx ON public.labels USING gin (label gin_trgm_ops)"
    );

    // rtree: coordinates as SQLite returns them, GiST on box / cube.
    let sqlite_min_y: f64 = conn
        .query_row("SELECT minY FROM places WHERE id = 1", [], |r| r.get(0))
        .unwrap();
    let mut client = target.connect().unwrap();
    let pg_min_y: f32 = client
        .query_one("SELECT \"minY\" FROM places WHERE id = 1", &[])
        .unwrap()
        .get(0);
    assert_eq!(f64::from(pg_min_y), sqlite_min_y);
    // An overlap search finds the same rows as the rtree does.
    let sqlite_hits: Vec<i64> = conn
        .prepare(
            "SELECT id FROM places WHERE maxX >= 0.15 AND minX <= 0.16 AND maxY >= 10.35 AND minY <= 10.36 ORDER BY id",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let pg_hits: Vec<i64> = client
        .query(
            "SELECT id FROM places WHERE box(point(\"minX\", \"minY\"), point(\"maxX\", \"maxY\")) && box(point(0.15, 10.35), point(0.16, 10.36)) ORDER BY id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(sqlite_hits, vec![1, 2]);
    assert_eq!(pg_hits, sqlite_hits);
    let defs = rows(
        &target,
        "SELECT tablename AS a, indexdef AS b FROM pg_indexes WHERE indexdef LIKE '%USING gist%' ORDER BY 1",
    );
    assert_eq!(defs.len(), 3, "{defs:?}");
    assert!(defs[0][0] == "boxes" && defs[0][1].contains("cube(ARRAY["), "{defs:?}");
    assert!(defs[2][0] == "places" && defs[2][1].contains("box(point("), "{defs:?}");
    assert_eq!(
        value(
            &target,
            "SELECT id AS a FROM boxes WHERE cube(ARRAY[x0, y0, z0]::float8[], ARRAY[x1, y1, z1]::float8[]) @> cube(ARRAY[3, 3, 3]::float8[])"
        ),
        "11"
    );
    assert_eq!(
        value(
            &target,
            "SELECT format_type(atttypid, atttypmod) AS a FROM pg_attribute WHERE attrelid = 'grid'::regclass AND attname = 'a0'"
        ),
        "integer"
    );
    assert_eq!(value(&target, "SELECT a0 AS a FROM grid WHERE id = 1"), "-2147483648");
    // No shadow table of any kind was copied.
    assert_eq!(
        value(
            &target,
            "SELECT count(*) AS a FROM pg_tables WHERE schemaname = 'public' AND tablename ~ '_(data|idx|content|docsize|config|segments|segdir|stat|node|parent|rowid)$'"
        ),
        "0"
    );

    // verify compares every carried row, and sees a change in each kind.
    let url = target.to_string();
    let verify = |target_url: &str| godwit(&["verify", source.to_str().unwrap(), "--to", target_url]);
    let clean = verify(&url);
    assert_exit(&clean, 0);
    for table in ["tags", "old", "labels", "places", "boxes", "grid"] {
        assert!(
            stdout(&clean).contains(table),
            "verify lists {table}:\n{}",
            stdout(&clean)
        );
    }
    client
        .batch_execute(
            "UPDATE tags SET secret = 'changed' WHERE rowid = 8; UPDATE places SET \"maxX\" = 0.25 WHERE id = 1",
        )
        .unwrap();
    let changed = verify(&url);
    assert_exit(&changed, 4);
    let report = stdout(&changed);
    // Keyed by the carried rowid / id: the changed rows are named.
    assert!(
        report.contains("tags differs") && report.contains("1 changed: [8]"),
        "{report}"
    );
    assert!(
        report.contains("places differs") && report.contains("1 changed: [1]"),
        "{report}"
    );
}

#[test]
fn contentless_fts_is_reported_not_silently_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite_file(
        dir.path(),
        "contentless.db",
        "CREATE VIRTUAL TABLE idx USING fts5(a, content='');
         INSERT INTO idx(rowid, a) VALUES (1, 'gone for good');
         CREATE TABLE kept (id INTEGER PRIMARY KEY);",
    );
    let plan = godwit(&["plan", source.to_str().unwrap()]);
    assert_exit(&plan, 0);
    assert!(stdout(&plan).contains("contentless"), "{}", stdout(&plan));
    let target = fresh_database("fts_contentless");
    let out = copy(&source, &target, &[]);
    assert_exit(&out, 3);
    let summary = stdout(&out) + &stderr(&out);
    assert!(summary.contains("text cannot be recovered"), "{summary}");
    assert_eq!(
        value(
            &target,
            "SELECT count(*) AS a FROM pg_tables WHERE schemaname = 'public'"
        ),
        "1"
    );
    let verify = godwit(&["verify", source.to_str().unwrap(), "--to", &target.to_string()]);
    assert_exit(&verify, 0);
    assert!(
        stderr(&verify).contains("full-text table idx is contentless: SQLite kept no text to compare"),
        "{}",
        stderr(&verify)
    );
}

#[test]
fn data_only_reloads_full_text_rows_and_postgres_recomputes_the_vector() {
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite_file(dir.path(), "porter.db", PORTER);
    let target = fresh_database("fts_data_only");
    assert_exit(&copy(&source, &target, &[]), 0);
    target.connect().unwrap().batch_execute("DELETE FROM docs").unwrap();
    // The generated vector is not a source column: nothing is reported as unmatched.
    let out = copy(&source, &target, &["--data-only", "--truncate", "--verify"]);
    assert_exit(&out, 0);
    assert_same_results(&source, &target, "docs", "godwit_porter", &["dog", "qui*"]);
}
