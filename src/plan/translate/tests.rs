//! One test per mapping: the PostgreSQL text each SQLite form becomes.
//! That the text computes what SQLite computed is proven against a real
//! server by view parity (tests/translate_parity.rs).

use super::*;
use crate::plan::types::EpochUnit;

fn table() -> Relation {
    let col = |source: &str, target: &str, kind: Kind| Column {
        source: source.into(),
        target: target.into(),
        kind,
    };
    Relation {
        source: "t".into(),
        target: "t".into(),
        columns: vec![
            col("Price", "Price", Kind::Numeric),
            col("n", "n", Kind::Int),
            col("r", "r", Kind::Real),
            col("s", "s", Kind::Text),
            col("published", "published", Kind::Bool),
            col(
                "at",
                "at",
                Kind::Temporal {
                    pg: TemporalType::Timestamptz,
                    numbers: None,
                },
            ),
            col(
                "ms",
                "ms",
                Kind::Temporal {
                    pg: TemporalType::Timestamptz,
                    numbers: Some(EpochUnit::Milliseconds),
                },
            ),
            col("j", "j", Kind::Json),
        ],
    }
}

fn catalog() -> Catalog {
    Catalog {
        relations: vec![table()],
    }
}

fn value(sql: &str) -> String {
    expression(sql, &table(), &catalog(), Context::Value).unwrap()
}

fn condition(sql: &str) -> String {
    expression(sql, &table(), &catalog(), Context::Condition).unwrap()
}

fn fails(sql: &str) -> String {
    expression(sql, &table(), &catalog(), Context::Value).unwrap_err().0
}

#[test]
fn names_are_requoted_in_their_target_spelling() {
    assert_eq!(
        condition("price > 0 AND ifnull(n, 1) == 1"),
        "\"Price\" > 0 AND coalesce(\"n\", 1) = 1"
    );
    assert_eq!(value("[s]"), "\"s\"");
}

#[test]
fn boolean_columns_compare_with_true_and_false() {
    assert_eq!(condition("published = 1"), "\"published\" = true");
    assert_eq!(condition("published IN (0,1)"), "\"published\" IN (false, true)");
    assert_eq!(condition("published"), "\"published\"");
    assert_eq!(value("published + 1"), "(\"published\")::integer + 1");
}

#[test]
fn comparisons_are_zero_or_one_as_values() {
    assert_eq!(value("n > 1"), "(\"n\" > 1)::integer");
    assert_eq!(condition("n"), "(\"n\") <> 0");
}

#[test]
fn is_is_null_safe_equality() {
    assert_eq!(condition("n IS 1"), "\"n\" IS NOT DISTINCT FROM 1");
    assert_eq!(condition("n IS NOT s"), "\"n\" IS DISTINCT FROM \"s\"");
    assert_eq!(condition("n IS NULL"), "\"n\" IS NULL");
}

#[test]
fn division_and_modulo_by_zero_are_null() {
    assert_eq!(value("n / 0"), "\"n\" / NULLIF(0, 0)");
    assert_eq!(value("n % n"), "\"n\" % NULLIF(\"n\", 0)");
    assert!(value("r % 2").contains("trunc((\"r\")::numeric)"));
    // A NUMERIC column's integral values were integers in SQLite: integer division.
    assert!(value("price / 2").starts_with("CASE WHEN \"Price\" = trunc(\"Price\")"));
}

#[test]
fn concatenation_spells_numbers_as_sqlite() {
    assert_eq!(value("s || n"), "\"s\" || (\"n\")::text");
    assert!(value("s || r").contains("|| '.0'"));
}

#[test]
fn text_ordering_is_binary() {
    assert_eq!(condition("s < 'b'"), "\"s\" COLLATE \"C\" < 'b'");
    assert_eq!(
        condition("s = 'A' COLLATE NOCASE"),
        format!("{} = {}", ascii_lower("\"s\""), ascii_lower("'A'"))
    );
}

#[test]
fn like_is_ascii_case_insensitive_without_escape() {
    assert_eq!(condition("s LIKE 'a%'"), "\"s\" ILIKE 'a%' ESCAPE ''");
    assert_eq!(
        condition("s LIKE 'é%'"),
        format!("{} LIKE {} ESCAPE ''", ascii_lower("\"s\""), ascii_lower("'é%'"))
    );
    assert_eq!(
        condition("s NOT LIKE 'a!%' ESCAPE '!'"),
        "\"s\" NOT ILIKE 'a!%' ESCAPE '!'"
    );
}

#[test]
fn glob_becomes_an_anchored_regex() {
    assert_eq!(condition("s GLOB 'a*'"), "\"s\" ~ '^a.*$'");
    assert_eq!(functions::glob_regex("[^a-c]?.x").unwrap(), "^[^a-c].\\.x$");
    assert_eq!(functions::glob_regex("[]x]").unwrap(), "^[\\]x]$");
    assert!(functions::glob_regex("[ab").is_none());
}

#[test]
fn functions_map_to_their_postgresql_forms() {
    assert_eq!(
        value("iif(n > 1, 'a', 'b')"),
        "CASE WHEN \"n\" > 1 THEN 'a' ELSE 'b' END"
    );
    assert_eq!(value("instr(s, 'x')"), "strpos(\"s\", 'x')");
    assert!(value("substr(s, -2)").contains("length(\"s\") + (-2)::integer + 1"));
    assert_eq!(
        value("round(r, 1)"),
        "round((\"r\")::numeric, greatest(trunc((1)::numeric)::integer, 0))::double precision"
    );
    assert_eq!(
        value("max(n, r)"),
        "CASE WHEN \"n\" IS NULL OR \"r\" IS NULL THEN NULL ELSE greatest(\"n\", \"r\") END"
    );
    assert_eq!(value("total(n)"), "coalesce(sum((\"n\")::double precision), 0.0)");
    assert_eq!(value("group_concat(s)"), "string_agg(\"s\", ',')");
    assert_eq!(value("upper(s)"), ascii_upper("\"s\""));
}

#[test]
fn more_scalar_mappings() {
    assert_eq!(
        value("iif(published, 1, NULL)"),
        "CASE WHEN \"published\" THEN 1 ELSE NULL END"
    );
    assert_eq!(value("nullif(n, 0)"), "nullif(\"n\", 0)");
    assert_eq!(value("char(72, 105)"), "chr((72)::integer) || chr((105)::integer)");
    assert_eq!(value("unicode(s)"), "nullif(ascii(\"s\"), 0)");
    assert_eq!(value("length(n)"), "length((\"n\")::text)");
    assert_eq!(value("trim(s, 'x')"), "btrim(\"s\", 'x')");
    assert_eq!(value("abs(published)"), "abs((\"published\")::integer)");
    assert_eq!(value("likely(n)"), "\"n\"");
    assert_eq!(
        value("typeof(n)"),
        "CASE WHEN \"n\" IS NULL THEN 'null' ELSE 'integer' END"
    );
    assert!(value("typeof(price)").contains("= trunc(\"Price\") THEN 'integer' ELSE 'real'"));
    assert_eq!(value("CAST(n AS BLOB)"), "convert_to((\"n\")::text, 'UTF8')");
    assert_eq!(value("x'00ff'"), "'\\x00ff'::bytea");
    assert_eq!(value("0x10 + 1"), "16 + 1");
    assert_eq!(value("n << 2"), "(\"n\")::bigint << (2)::integer");
    assert!(fails("n << n").contains("negative"));
    assert_eq!(
        value("sqrt(r)"),
        "CASE WHEN (\"r\")::double precision >= 0 THEN sqrt((\"r\")::double precision) END"
    );
    assert_eq!(value("count(DISTINCT s)"), "count(DISTINCT \"s\")");
    assert_eq!(value("sum(n)"), "(sum(\"n\"))::bigint");
    assert_eq!(value("avg(n)"), "avg((\"n\")::double precision)");
    assert_eq!(
        value("group_concat(s, '; ' ORDER BY n DESC)"),
        "string_agg(\"s\", '; ' ORDER BY \"n\" DESC NULLS LAST)"
    );
    assert_eq!(
        value("json_array_length(j)"),
        "CASE WHEN \"j\" IS NULL THEN NULL WHEN jsonb_typeof(\"j\") = 'array' THEN jsonb_array_length(\"j\") ELSE 0 END"
    );
    assert_eq!(
        value("CURRENT_DATE"),
        "to_char((now() AT TIME ZONE 'UTC'), 'YYYY-MM-DD')"
    );
    assert!(value("datetime(at, 'localtime')").contains("current_setting('TimeZone')"));
    assert!(value("date(at, 'weekday 1')").contains("extract(dow FROM"));
    assert!(fails("date(at, s)").contains("not a literal"));
}

#[test]
fn printf_conversions() {
    assert_eq!(value("printf('%d items', n)"), "(coalesce(\"n\", 0))::text || ' items'");
    assert_eq!(
        value("printf('%.2f', r)"),
        "round((coalesce(\"r\", 0))::numeric, 2)::text"
    );
    assert_eq!(
        value("printf('%x%%', n)"),
        "to_hex((coalesce(\"n\", 0))::bigint) || '%'"
    );
    // Width and precision count bytes, as SQLite's do.
    assert_eq!(
        value("printf('%5s', s)"),
        "repeat(' ', greatest(5 - octet_length(coalesce(\"s\", '')), 0)) || coalesce(\"s\", '')"
    );
    assert!(fails("printf('%q', s)").contains("%q"));
}

#[test]
fn json_functions_and_arrows() {
    assert_eq!(
        value("json_extract(s, '$.a[0]')"),
        "CASE jsonb_typeof(((\"s\")::jsonb #> '{\"a\",\"0\"}')) WHEN 'boolean' THEN ((((\"s\")::jsonb #> '{\"a\",\"0\"}'))::boolean)::integer::text WHEN 'null' THEN NULL ELSE ((\"s\")::jsonb #> '{\"a\",\"0\"}') #>> '{}' END"
    );
    assert_eq!(value("j -> 'a'"), "(\"j\" #> '{\"a\"}')");
    assert_eq!(
        value("json_object('a', n, 'b', published)"),
        "jsonb_build_object('a', \"n\", 'b', (\"published\")::integer)"
    );
    assert_eq!(value("json_array(1, s)"), "jsonb_build_array(1, \"s\")");
}

#[test]
fn casts_follow_sqlite_affinity() {
    assert_eq!(value("CAST(r AS INTEGER)"), "trunc(\"r\")::bigint");
    assert_eq!(value("CAST(n AS TEXT)"), "(\"n\")::text");
    assert!(value("CAST(s AS INTEGER)").contains("coalesce(substring("));
}

#[test]
fn dates_format_like_sqlite() {
    assert_eq!(
        value("date('now')"),
        "to_char((now() AT TIME ZONE 'UTC'), 'YYYY-MM-DD')"
    );
    assert_eq!(
        value("datetime(at)"),
        "to_char((\"at\" AT TIME ZONE 'UTC'), 'YYYY-MM-DD HH24:MI:SS')"
    );
    assert_eq!(
        value("date(at, 'start of month', '+1 month', '-1 day')"),
        "to_char((((date_trunc('month', date_trunc('month', (\"at\" AT TIME ZONE 'UTC'))) + interval '1 months' + ((date_trunc('month', (\"at\" AT TIME ZONE 'UTC'))) - date_trunc('month', date_trunc('month', (\"at\" AT TIME ZONE 'UTC')))))) + interval '-1 days'), 'YYYY-MM-DD')"
    );
    assert_eq!(
        value("unixepoch(at)"),
        "trunc(extract(epoch FROM (\"at\" AT TIME ZONE 'UTC')))::bigint"
    );
    assert!(value("datetime(n, 'unixepoch')").contains("to_timestamp((\"n\")::double precision)"));
    assert!(value("strftime('%Y-%m-%d %H:%M:%f', at)").contains("'YYYY-MM-DD HH24:MI:SS.MS'"));
    assert!(value("strftime('%W %w %s %J', at)").contains("isodow"));
    // Epoch-millisecond columns read back as the numbers SQLite held.
    assert_eq!(
        value("ms / 1000"),
        "(extract(epoch FROM \"ms\") * 1000)::bigint / NULLIF(1000, 0)"
    );
    assert!(fails("strftime('%Q', at)").contains("%Q"));
    assert!(fails("date(at, '+1.5 months')").contains("+1.5 months"));
}

#[test]
fn strftime_keeps_literal_letters_out_of_patterns() {
    let sql = datetime::strftime_sql("Day %d of %Y", "ts").unwrap();
    assert_eq!(sql, "'Day' || to_char(ts, ' DD ') || 'of' || to_char(ts, ' YYYY')");
}

#[test]
fn indexes_and_generated_columns_refuse_what_is_not_immutable() {
    let index = |sql: &str| expression(sql, &table(), &catalog(), Context::IndexTerm);
    assert!(index("date(at)").unwrap_err().0.contains("date()"));
    assert!(index("ms / 1000").unwrap_err().0.contains("not immutable"));
    assert_eq!(index("lower(s)").unwrap(), "lower(\"s\")");
    let predicate = expression("at IS NULL AND n > 0", &table(), &catalog(), Context::IndexPredicate).unwrap();
    assert_eq!(predicate, "\"at\" IS NULL AND \"n\" > 0");
    assert!(expression("datetime('now')", &table(), &catalog(), Context::Generated).is_err());
}

#[test]
fn unknown_functions_and_constructs_are_named() {
    assert_eq!(fails("frobnicate(n)"), "the function frobnicate()");
    assert_eq!(fails("random()"), "the function random()");
    assert_eq!(fails("quote(s)"), "the function quote()");
    assert!(fails("rowid + 1").contains("rowid"));
    assert_eq!(
        fails("django_format_dtdelta('+', at, 5)"),
        "Django's function django_format_dtdelta()"
    );
}

#[test]
fn djangos_sqlite_functions_become_postgresql_expressions() {
    // REGEXP is the function the app registers (Django's is re.search).
    assert_eq!(condition("s REGEXP 'a.c'"), "\"s\" ~ ('a.c')");
    let trunc = value("django_datetime_trunc('month', at, 'UTC', 'UTC')");
    assert!(trunc.starts_with("to_char(date_trunc('month', "), "{trunc}");
    assert!(trunc.ends_with("'YYYY-MM-DD HH24:MI:SS')"), "{trunc}");
    let week_day = value("django_datetime_extract('week_day', at, NULL, NULL)");
    assert!(week_day.contains("WHEN 'week_day' THEN extract(dow FROM"), "{week_day}");
}

#[test]
fn views_are_translated_with_output_names() {
    let v = view(
        "SELECT n, count(*), s AS Label FROM t WHERE published GROUP BY n ORDER BY n DESC LIMIT 2, 3",
        &catalog(),
        &|n| n.to_string(),
    )
    .unwrap();
    assert_eq!(
        v.select,
        "SELECT \"n\", count(*) AS \"count(*)\", \"s\" AS \"Label\" FROM \"t\" WHERE \"published\" GROUP BY \"n\" ORDER BY \"n\" DESC NULLS LAST LIMIT 3 OFFSET 2"
    );
    assert_eq!(
        v.columns.iter().map(|c| c.kind).collect::<Vec<_>>(),
        [Kind::Int, Kind::Int, Kind::Text]
    );
    let err = view("SELECT * FROM json_each(s)", &catalog(), &|n| n.to_string()).unwrap_err();
    assert!(err.0.contains("json_each"), "{err}");
}

#[test]
fn view_bodies_keep_their_text() {
    assert_eq!(
        crate::source::sqlite::sql::view_body("CREATE VIEW \"as\" (a) AS SELECT a+b AS x, f(a) FROM t;").as_deref(),
        Some("SELECT * FROM (SELECT a+b AS x, f(a) FROM t) AS godwit_view(\"a\")")
    );
    assert_eq!(
        crate::source::sqlite::sql::view_body("CREATE VIEW v AS\n  SELECT 'as' AS y").as_deref(),
        Some("SELECT 'as' AS y")
    );
    // The column list renames the outputs.
    let body = crate::source::sqlite::sql::view_body("CREATE VIEW v (total, label) AS SELECT n + 1, s FROM t").unwrap();
    let v = view(&body, &catalog(), &|n| n.to_string()).unwrap();
    assert_eq!(
        v.select,
        "SELECT * FROM (SELECT \"n\" + 1 AS \"n + 1\", \"s\" FROM \"t\") AS \"godwit_view\"(\"total\", \"label\")"
    );
    assert_eq!(v.columns[0].target, "total");
}

#[test]
fn joins_qualify_names() {
    let v = view("SELECT a.n, b.s FROM t a JOIN t AS b ON a.n = b.n", &catalog(), &|n| {
        n.to_string()
    })
    .unwrap();
    assert_eq!(
        v.select,
        "SELECT \"a\".\"n\", \"b\".\"s\" FROM \"t\" AS \"a\" JOIN \"t\" AS \"b\" ON \"a\".\"n\" = \"b\".\"n\""
    );
}

#[test]
fn subqueries_see_outer_names_qualified() {
    let v = view(
        "SELECT n, (SELECT count(*) FROM t AS inner_t WHERE inner_t.s > s) AS c FROM t WHERE EXISTS (SELECT 1 FROM t x WHERE x.n = t.n)",
        &catalog(),
        &|n| n.to_string(),
    )
    .unwrap();
    assert_eq!(
        v.select,
        "SELECT \"n\", (SELECT count(*) FROM \"t\" AS \"inner_t\" WHERE \"inner_t\".\"s\" COLLATE \"C\" > \"s\") AS \"c\" FROM \"t\" \
         WHERE EXISTS (SELECT 1 FROM \"t\" AS \"x\" WHERE \"x\".\"n\" = \"t\".\"n\")"
    );
}

#[test]
fn set_operations_ctes_and_windows() {
    let v = view(
        "WITH RECURSIVE c(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM c WHERE k < 3) \
         SELECT k, sum(k) OVER (ORDER BY k ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS w FROM c",
        &catalog(),
        &|n| n.to_string(),
    )
    .unwrap();
    assert_eq!(
        v.select,
        "WITH RECURSIVE \"c\"(\"k\") AS (SELECT 1 AS \"1\" UNION ALL SELECT \"k\" + 1 AS \"k + 1\" FROM \"c\" WHERE \"k\" < 3) \
         SELECT \"k\", sum(\"k\") OVER (ORDER BY \"k\" NULLS FIRST ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS \"w\" FROM \"c\""
    );
}

#[test]
fn defaults_keep_literals_and_now() {
    let text = Cast::Text { max_chars: None };
    let ts = Cast::Timestamp {
        unit: EpochUnit::Seconds,
        with_zone: true,
    };
    let d = |sql: &str, pg: &PgType, cast: &Cast| default(sql, pg, cast, &table(), &catalog()).unwrap();
    assert_eq!(d("CURRENT_TIMESTAMP", &PgType::Timestamptz, &ts), "CURRENT_TIMESTAMP");
    assert_eq!(
        d("(strftime('%Y-%m-%d %H:%M:%f', 'now'))", &PgType::Text, &text),
        "to_char((now() AT TIME ZONE 'UTC'), 'YYYY-MM-DD HH24:MI:SS.MS')"
    );
    assert_eq!(
        d("datetime('now')", &PgType::Text, &text),
        "to_char((now() AT TIME ZONE 'UTC'), 'YYYY-MM-DD HH24:MI:SS')"
    );
    assert_eq!(d("'0'", &PgType::Boolean, &Cast::Boolean), "false");
    assert_eq!(d("0", &PgType::BigInt, &Cast::Integer { bits: 64 }), "0");
    assert!(
        default(
            "'\"0\"'",
            &PgType::BigInt,
            &Cast::Integer { bits: 64 },
            &table(),
            &catalog()
        )
        .is_err()
    );
    assert_eq!(d("\"\"", &PgType::Text, &text), "''");
    assert_eq!(d("(1 + 2)", &PgType::BigInt, &Cast::Integer { bits: 64 }), "(1 + 2)");
}

#[test]
fn a_date_function_of_a_parameter_is_computed_once_per_execution() {
    let text = [Parameter {
        kind: Kind::Text,
        number: Some(1),
    }];
    let q = statement("SELECT n FROM t WHERE at >= date(?1)", &catalog(), &text).unwrap();
    // The parameter's CASE of SQLite's formats sits in a scalar subquery:
    // an InitPlan, evaluated once rather than for every row.
    assert!(
        q.select.contains("(SELECT to_char(CASE WHEN ($1::text)::text ~ "),
        "{}",
        q.select
    );
    // So is text compared with a date/time column.
    let q = statement("SELECT n FROM t WHERE at < ?1", &catalog(), &text).unwrap();
    assert!(
        q.select
            .contains("\"at\" < (SELECT ((CASE WHEN godwit_parameter.godwit_value ~ "),
        "{}",
        q.select
    );
    assert!(
        q.select
            .contains("FROM (SELECT $1::text AS godwit_value) AS godwit_parameter)"),
        "{}",
        q.select
    );
    assert_eq!(q.select.matches("$1").count(), 1, "{}", q.select);
    let q = statement("SELECT n FROM t WHERE at >= date(?1)", &catalog(), &text).unwrap();
    assert!(
        q.select
            .contains("\"at\" >= (SELECT ((CASE WHEN godwit_parameter.godwit_value ~ "),
        "{}",
        q.select
    );
    // A column's own value is read per row, as before.
    let q = statement("SELECT n FROM t WHERE date(at) = ?1", &catalog(), &text).unwrap();
    assert!(!q.select.contains("(SELECT"), "{}", q.select);
    assert!(
        q.select.contains("to_char((\"at\" AT TIME ZONE 'UTC'), 'YYYY-MM-DD')"),
        "{}",
        q.select
    );
}
