//! Translation proven by view parity: a view per family of SQLite
//! functions and semantics, copied, then `godwit verify` compares the rows
//! each view returns in SQLite and in PostgreSQL. Also: what cannot be
//! translated is named as not migrated, and a view whose PostgreSQL
//! definition is wrong is caught (exit 4).

mod common;

use std::path::{Path, PathBuf};

use common::*;
use godwit::postgres::conn::ConnSpec;
use serde_json::Value;

const TABLES: &str = r#"
CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    name TEXT,
    qty INTEGER,
    price REAL,
    amount NUMERIC(10,2),
    flag BOOLEAN,
    created DATETIME,
    doc JSON
);
INSERT INTO items VALUES
    (1, 'alpha', 3, 2.5, 10.5, 1, '2024-01-31 10:20:30', '{"a": "x", "b": [1, 2, 3], "n": 4.5, "t": true}'),
    (2, 'Beta', 0, 0.1, 7, 0, '2023-12-31 23:59:59.123', '{"a": "y", "b": [], "n": 2, "t": false}'),
    (3, NULL, -7, -1.25, NULL, NULL, NULL, NULL),
    (4, 'Émile_ß', 12, 1e-3, 0.5, 1, '2024-02-29 00:00:00', '{"a": null, "b": [7]}'),
    (5, 'gamma*[x]', 5, 3.0, 2.25, 0, '1999-06-15 12:00:00', '{}');
CREATE TABLE events (id INTEGER PRIMARY KEY, item INTEGER, at DATETIME);
INSERT INTO events VALUES (1, 1, 1709296496123), (2, 1, 1709296497000), (3, 2, 1709000000000), (4, 9, 1700000000000);
"#;

/// One view per family; each must return the same rows in both databases.
const VIEWS: &[(&str, &str)] = &[
    (
        "v_arith",
        "SELECT id, qty / 0 AS d0, qty % 0 AS m0, qty / 2 AS idiv, qty % 3 AS imod, price / 2 AS rdiv, \
         amount / 2 AS ndiv, amount * 3 AS nmul, -qty AS neg, qty * price AS mixed, price % 2 AS rmod, \
         qty / 0.0 AS d00, 7 / 2 AS lit, 7.0 / 2 AS litr, qty & 6 AS band, qty | 8 AS bor, qty << 2 AS shl FROM items",
    ),
    (
        "v_compare",
        "SELECT id, qty > 2 AS gt, name IS NULL AS is_null, qty IS 3 AS is3, qty IS NOT NULL AS not_null, \
         flag = 1 AS flag1, flag, price BETWEEN 1 AND 5 AS btw, name < 'b' AS lt, qty IN (0, 5) AS inlist, \
         name = 'ALPHA' COLLATE NOCASE AS nocase, NOT (qty > 2) AS negated FROM items",
    ),
    (
        // Text compared with a number column takes NUMERIC affinity first
        // (Django binds a Decimal as text); text that is no number stays
        // text and sorts after every number.
        "v_affinity",
        "SELECT id, qty > '2' AS a1, qty = '3' AS a2, price < '1' AS a3, amount >= ' 7 ' AS a4, \
         qty < 'abc' AS a5, qty = 'abc' AS a6, '10' > qty AS a7, 'x' > qty AS a8, amount <> 'zz' AS a9, \
         qty <= '1e1' AS a10, qty = name AS a11, price >= '.1' AS a12, 'x' <= amount AS a13 FROM items",
    ),
    (
        "v_text",
        "SELECT id, name || qty AS cat_int, name || price AS cat_real, price || '' AS real_text, \
         amount || '' AS num_text, flag || '' AS bool_text, substr(name, -2) AS tail, substr(name, 2, 3) AS mid, \
         substr(name, -3, 2) AS negmid, substr(name, 0, 2) AS zero, substr(name, 4, -2) AS back, \
         instr(name, 'a') AS pos, lower(name) AS lo, upper(name) AS up, length(name) AS len, \
         replace(name, 'a', 'o') AS rep, trim('  x  ') AS tr, ltrim('xxy', 'x') AS ltr, hex(name) AS hx, \
         unicode(name) AS uc, char(72, 105) AS ch, concat(name, qty) AS cc, typeof(qty) AS tq, \
         typeof(price) AS tp, typeof(amount) AS ta, typeof(name) AS tn, typeof(doc) AS td FROM items",
    ),
    (
        "v_like",
        "SELECT id, name LIKE 'a%' AS l1, name LIKE '%A%' AS l2, name LIKE 'é%' AS l3, name LIKE '%\\_%' AS l4, \
         name LIKE '%!_%' ESCAPE '!' AS l5, name NOT LIKE '_e%' AS l6, name GLOB 'a*' AS g1, \
         name GLOB '*[[]x]' AS g2, name GLOB '?e*' AS g3, name GLOB '[^a-f]*' AS g4, name GLOB '*.*' AS g5 FROM items",
    ),
    (
        "v_nulls",
        "SELECT id, iif(qty > 2, 'big', 'small') AS size, ifnull(name, '?') AS nm, coalesce(NULL, amount, qty) AS co, \
         nullif(qty, 3) AS nf, max(qty, price) AS mx, min(qty, 5, price) AS mn, max(qty, NULL) AS mxn, \
         CASE WHEN qty < 0 THEN 'neg' WHEN qty = 0 THEN 'zero' ELSE 'pos' END AS sign_word, \
         CASE qty WHEN 3 THEN 'three' END AS c3 FROM items",
    ),
    (
        "v_numbers",
        "SELECT id, round(price) AS r0, round(price, 1) AS r1, round(2.5) AS half, round(-2.5) AS nhalf, \
         round(amount, 1) AS ra, abs(qty) AS ab, CAST(price AS INTEGER) AS ci, CAST('12.9abc' AS INTEGER) AS cs, \
         CAST(qty AS TEXT) AS ct, CAST(price AS TEXT) AS crt, CAST(qty AS REAL) AS cr, sign(qty) AS sg, \
         sqrt(qty) AS sq, floor(price) AS fl, ceil(price) AS ce, power(qty, 2) AS pw, ln(qty) AS l, \
         log(2, qty) AS l2, mod(qty, 3) AS md FROM items",
    ),
    (
        "v_printf",
        "SELECT id, printf('%d', qty) AS d, printf('%5.2f', price) AS f, printf('%-6s|', name) AS ls, \
         printf('%05d', qty) AS z, printf('%x', qty) AS x, printf('%s and %s', name, qty) AS two, \
         printf('%.3s', name) AS pre, printf('100%%') AS pct, printf('%d items at %.1f', qty, price) AS mix FROM items",
    ),
    (
        "v_aggregates",
        "SELECT flag, count(*) AS n, count(DISTINCT qty) AS nd, sum(qty) AS s, total(qty) AS t, avg(price) AS a, \
         group_concat(name, ';' ORDER BY name) AS names, min(name) AS first_name, max(price) AS top, \
         sum(amount) AS sa FROM items GROUP BY flag",
    ),
    (
        "v_json",
        "SELECT id, json_extract(doc, '$.a') AS a, json_extract(doc, '$.b[0]') AS b0, json_extract(doc, '$.n') AS n, \
         json_extract(doc, '$.t') AS t, doc ->> '$.a' AS a2, doc ->> 'n' AS n2, doc -> '$.b' AS b, \
         json_array_length(doc, '$.b') AS nb, json_object('id', id, 'name', name, 'flag', flag) AS obj, \
         json_array(id, name, price) AS arr FROM items",
    ),
    (
        "v_dates",
        "SELECT id, date(created) AS d, time(created) AS t, datetime(created) AS dt, julianday(created) AS jd, \
         unixepoch(created) AS ue, strftime('%Y-%m-%d %H:%M:%f', created) AS f, \
         strftime('%j|%w|%W|%U|%s|%J|%u|%V|%G|%g', created) AS codes, \
         strftime('%e|%k|%l|%I|%p|%P|%F|%T|%R|%%', created) AS more, strftime('Day %d of %Y', created) AS words, \
         date(created, '+1 month') AS plus_month, date(created, '-1 year') AS minus_year, \
         date(created, 'start of month') AS som, date(created, 'start of year', '+2 years') AS soy, \
         datetime(created, '+36 hours') AS h36, datetime(created, '-90 minutes') AS m90, \
         datetime(created, '+30 seconds') AS s30, datetime(created, '+1.5 days') AS d15, \
         date(created, 'weekday 0') AS sunday, datetime(created, 'start of day') AS sod, \
         datetime(created, 'subsec') AS sub FROM items",
    ),
    (
        "v_date_literals",
        "SELECT datetime(1700000000, 'unixepoch') AS ue, date('2024-01-31', '+1 month') AS jan31, \
         date(2460311.5) AS jd, julianday('2024-01-01') AS j, strftime('%s', '2024-01-01 00:00:00') AS s, \
         datetime('2024-03-01T10:00:00Z') AS z, datetime('2024-03-01 10:00:00+02:00') AS off, time('12:34') AS hm, \
         date('not a date') AS bad, unixepoch('1969-12-31 23:59:59') AS neg",
    ),
    (
        "v_epochs",
        "SELECT e.id, e.at, e.at + 1 AS next_ms, datetime(e.at / 1000, 'unixepoch') AS dt, i.name \
         FROM events e LEFT JOIN items i ON i.id = e.item",
    ),
    (
        "v_query",
        "WITH big AS (SELECT id, qty FROM items WHERE qty > 2) \
         SELECT b.id, (SELECT count(*) FROM events WHERE events.item = b.id) AS n_events, \
         EXISTS (SELECT 1 FROM events WHERE item = b.id) AS has_events FROM big b \
         UNION ALL SELECT id, NULL, 0 FROM items WHERE qty <= 2",
    ),
    ("v_order_limit", "SELECT name FROM items ORDER BY name LIMIT 3"),
    (
        "v_window",
        "SELECT id, row_number() OVER (ORDER BY id) AS rn, sum(qty) OVER (PARTITION BY flag) AS per_flag, \
         rank() OVER (ORDER BY qty DESC) AS rk FROM items",
    ),
    ("v_over_view", "SELECT id, size FROM v_nulls WHERE size = 'big'"),
    (
        "v_names",
        "SELECT qty+1, count(*), upper( name ) FROM items GROUP BY qty+1, upper( name )",
    ),
];

fn fixture(dir: &Path) -> PathBuf {
    let mut sql = TABLES.to_string();
    for (name, select) in VIEWS {
        sql.push_str(&format!("CREATE VIEW {name} AS {select};\n"));
    }
    sql.push_str("CREATE VIEW v_collist (item, doubled) AS SELECT id, qty * 2 FROM items;\n");
    // SQLite accepts views over functions it does not know until they are read.
    sql.push_str("CREATE VIEW v_unknown AS SELECT frobnicate(qty) AS f FROM items;\n");
    sql.push_str("CREATE VIEW v_quote AS SELECT quote(name) AS q FROM items;\n");
    sqlite_file(dir, "parity.db", &sql)
}

fn verify_json(source: &Path, target: &ConnSpec) -> (i32, Value) {
    let url = target.to_string();
    let out = godwit(&["verify", source.to_str().unwrap(), "--to", url.as_str(), "--json"]);
    let doc: Value = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("verify --json: {e}\n{}\n{}", stdout(&out), stderr(&out)));
    (out.status.code().unwrap_or(-1), doc)
}

fn view_report<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["views"]
        .as_array()
        .expect("views in the verify document")
        .iter()
        .find(|v| v["view"] == name)
        .unwrap_or_else(|| panic!("no view {name} in {doc:#}"))
}

#[test]
fn every_translated_view_returns_what_sqlite_returns() {
    let dir = tempfile::tempdir().unwrap();
    let source = fixture(dir.path());
    let target = fresh_database("parity");
    let out = copy(&source, &target, &[]);
    // The two untranslatable views make the copy finish with items to review.
    assert_exit(&out, 3);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("view v_unknown") && text.contains("frobnicate()"),
        "{text}"
    );
    assert!(text.contains("view v_quote") && text.contains("quote()"), "{text}");

    let (code, doc) = verify_json(&source, &target);
    let differing: Vec<&Value> = doc["views"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["status"] != "equal")
        .collect();
    assert!(
        differing.is_empty(),
        "views that differ: {differing:#?}\ncopy said:\n{text}"
    );
    assert_eq!(code, 0, "{doc:#}");
    // Unaliased expressions keep the names SQLite gives them: their text.
    let names = rows(
        &target,
        "SELECT string_agg(attname, '|' ORDER BY attnum) AS a FROM pg_attribute \
         WHERE attrelid = 'v_names'::regclass AND attnum > 0",
    );
    assert_eq!(names[0][0], "qty+1|count(*)|upper( name )");
    assert_eq!(view_report(&doc, "v_collist")["status"], "equal");
    let names = rows(
        &target,
        "SELECT string_agg(attname, '|' ORDER BY attnum) AS a FROM pg_attribute \
         WHERE attrelid = 'v_collist'::regclass AND attnum > 0",
    );
    assert_eq!(names[0][0], "item|doubled");
    for (name, _) in VIEWS {
        let report = view_report(&doc, name);
        assert_eq!(report["status"], "equal");
        assert!(
            report["rows_source"].as_u64().unwrap() > 0,
            "{name} returned no rows: {report}"
        );
    }
}

#[test]
fn a_wrong_view_definition_is_a_difference() {
    let dir = tempfile::tempdir().unwrap();
    let source = fixture(dir.path());
    let target = fresh_database("parity_wrong");
    assert_exit(&copy(&source, &target, &[]), 3);
    // What a naive translation would do: PostgreSQL's integer division by
    // zero raises, and its ILIKE folds non-ASCII letters SQLite keeps.
    let mut pg = target.connect().unwrap();
    pg.batch_execute(
        "CREATE OR REPLACE VIEW v_order_limit AS SELECT name FROM items ORDER BY name LIMIT 3; \
         DROP VIEW v_over_view; DROP VIEW v_nulls; \
         CREATE VIEW v_nulls AS SELECT id, CASE WHEN qty > 2 THEN 'big' ELSE 'small' END AS size, \
         coalesce(name, '?') AS nm, coalesce(NULL, amount, qty) AS co, nullif(qty, 3) AS nf, \
         greatest(qty, price) AS mx, least(qty, 5, price) AS mn, greatest(qty, NULL) AS mxn, \
         CASE WHEN qty < 0 THEN 'neg' WHEN qty = 0 THEN 'zero' ELSE 'pos' END AS sign_word, \
         CASE qty WHEN 3 THEN 'three' END AS c3 FROM items",
    )
    .unwrap();
    let (code, doc) = verify_json(&source, &target);
    assert_eq!(code, 4, "{doc:#}");
    assert_eq!(doc["status"], "different");
    // ORDER BY without NULLS FIRST puts NULL last: another row makes the top 3.
    assert_eq!(view_report(&doc, "v_order_limit")["status"], "different");
    // greatest(qty, NULL) is qty; SQLite's max(qty, NULL) is NULL.
    let nulls = view_report(&doc, "v_nulls");
    assert_eq!(nulls["status"], "different");
    assert!(nulls["missing_count"].as_u64().unwrap() > 0, "{nulls}");
    assert_eq!(view_report(&doc, "v_over_view")["status"], "not in the target");
    assert_eq!(view_report(&doc, "v_arith")["status"], "equal");
}

/// CHECKs, generated columns and index expressions go through the same
/// translator; what PostgreSQL cannot hold (a non-immutable date function
/// in an index, an unknown function) is named as not migrated and the
/// rest of the copy goes on.
#[test]
fn table_expressions_are_translated_or_named() {
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite_file(
        dir.path(),
        "exprs.db",
        "CREATE TABLE orders (
             id INTEGER PRIMARY KEY,
             name TEXT CHECK (length(name) > 0),
             qty INTEGER CHECK (qty BETWEEN 0 AND 100),
             price REAL,
             paid BOOLEAN CHECK (paid IN (0, 1)),
             created DATETIME DEFAULT CURRENT_TIMESTAMP,
             total REAL GENERATED ALWAYS AS (round(qty * price, 2)) STORED,
             label TEXT GENERATED ALWAYS AS (printf('%s x%d', name, qty)) STORED,
             CONSTRAINT strict_qty CHECK (typeof(qty) = 'integer'),
             CONSTRAINT odd CHECK (quote(name) IS NOT NULL)
         );
         CREATE INDEX orders_name ON orders (lower(name));
         CREATE INDEX orders_unpaid ON orders (qty) WHERE paid = 0 AND name LIKE 'a%';
         CREATE INDEX orders_day ON orders (date(created));
         INSERT INTO orders (id, name, qty, price, paid, created) VALUES
             (1, 'apple', 3, 1.255, 0, '2024-01-01 10:00:00'), (2, 'Pear', 10, 0.5, 1, '2024-01-02 11:00:00');",
    );
    let target = fresh_database("table_exprs");
    let out = copy(&source, &target, &[]);
    assert_exit(&out, 3);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("check odd on orders") && text.contains("quote()"),
        "{text}"
    );
    assert!(
        text.contains("index orders_day on orders") && text.contains("not immutable"),
        "{text}"
    );
    assert_eq!(
        rows(
            &target,
            "SELECT id::text AS a, total::text AS b, label AS c FROM orders ORDER BY id"
        ),
        vec![
            vec!["1".to_string(), "3.77".into(), "apple x3".into()],
            vec!["2".to_string(), "5".into(), "Pear x10".into()]
        ]
    );
    let indexes = rows(
        &target,
        "SELECT indexname AS a FROM pg_indexes WHERE tablename = 'orders' ORDER BY 1",
    );
    let names: Vec<&str> = indexes.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names, ["orders_name", "orders_pkey", "orders_unpaid"]);
    let url = target.to_string();
    assert_exit(&godwit(&["verify", source.to_str().unwrap(), "--to", url.as_str()]), 0);
    let mut pg = target.connect().unwrap();
    // The translated CHECKs hold in PostgreSQL as they did in SQLite.
    assert!(
        pg.batch_execute("INSERT INTO orders (id, name, qty) VALUES (3, '', 1)")
            .is_err()
    );
    assert!(
        pg.batch_execute("INSERT INTO orders (id, name, qty) VALUES (4, 'x', 101)")
            .is_err()
    );
    pg.batch_execute("INSERT INTO orders (id, name, qty, price) VALUES (5, 'x', 2, 2.5)")
        .unwrap();
    assert_exit(&godwit(&["verify", source.to_str().unwrap(), "--to", url.as_str()]), 4);
}

/// 'localtime' and 'utc' stand for the PostgreSQL session's TimeZone (the
/// chosen mapping): with the database in the zone the app ran in, the view
/// returns what SQLite returned in that zone.
#[test]
fn localtime_follows_the_session_time_zone() {
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite_file(
        dir.path(),
        "zones.db",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, at DATETIME);
         INSERT INTO t VALUES (1, '2024-01-15 12:00:00'), (2, '2024-07-15 03:30:00'), (3, NULL);
         CREATE VIEW v_local AS SELECT id, datetime(at, 'localtime') AS l, date(at, 'localtime') AS d, \
             datetime(datetime(at, 'localtime'), 'utc') AS back FROM t;",
    );
    let target = fresh_database("zones");
    assert_exit(&copy(&source, &target, &[]), 0);
    let mut pg = target.connect().unwrap();
    let db: String = pg.query_one("SELECT current_database()", &[]).unwrap().get(0);
    pg.batch_execute(&format!("ALTER DATABASE \"{db}\" SET timezone = 'America/New_York'"))
        .unwrap();
    let url = target.to_string();
    let out = std::process::Command::new(godwit_bin())
        .args(["verify", source.to_str().unwrap(), "--to", url.as_str(), "--json"])
        .env("TZ", "America/New_York")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(view_report(&doc, "v_local")["status"], "equal", "{doc:#}");
    assert_exit(&out, 0);
    assert_eq!(
        value(&target, "SELECT l AS a FROM v_local WHERE id = 2"),
        "2024-07-14 23:30:00"
    );
}
