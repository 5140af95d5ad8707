//! CSV files as they come, most of them made by others (tests/data/csv/,
//! from the Pollock benchmark and DuckDB's tests): the dialect is detected
//! from how consistent a table it gives, a header is told from data by its
//! types, and a damaged record is one rejected record while the rest loads.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn data(corpus: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/csv")
        .join(corpus)
        .join(name)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn plan_json(source: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["plan", "--format", "json", source.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = godwit(&args);
    assert_exit(&out, 0);
    serde_json::from_str(&stdout(&out)).unwrap()
}

/// The plan's notes about the CSV dialect.
fn dialect_notes(plan: &serde_json::Value) -> String {
    plan["inferred"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Column names of the plan's only table, without the surrogate key.
fn columns(plan: &serde_json::Value) -> Vec<String> {
    plan["tables"][0]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["source"].as_str().unwrap().to_string())
        .filter(|c| c != "id")
        .collect()
}

const POLLOCK_COLUMNS: [&str; 9] = [
    "DATE",
    "TIME",
    "Qty",
    "PRODUCTID",
    "Price",
    "ProductType",
    "ProductDescription",
    "URL",
    "Comments",
];

/// Copies under `--on-error skip` and returns the exit and the rejects.
fn copy_skipping(source: &Path, target: &godwit::postgres::conn::ConnSpec) -> (i32, Vec<serde_json::Value>) {
    let dir = tempfile::tempdir().unwrap();
    let rejects = dir.path().join("rejects.jsonl");
    let out = copy(
        source,
        target,
        &[
            "--replace",
            "--on-error",
            "skip",
            "--rejects",
            rejects.to_str().unwrap(),
        ],
    );
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let written = std::fs::read_to_string(&rejects).unwrap_or_default();
    (
        out.status.code().unwrap(),
        written.lines().map(|l| serde_json::from_str(l).unwrap()).collect(),
    )
}

fn why(rejects: &[serde_json::Value]) -> Vec<String> {
    rejects
        .iter()
        .map(|r| r["reason"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn delimiters_quotes_and_escapes_are_detected_from_the_consistency_of_many_lines() {
    for (file, delimiter, quote) in [
        ("file_field_delimiter_0x20.csv", r#"delimiter " ""#, r#"quote "\"""#),
        (
            "file_field_delimiter_0x2C_0x20.csv",
            r#"delimiter ", ""#,
            r#"quote "\"" (escaped doubled)"#,
        ),
        ("file_quotation_char_0x27.csv", r#"delimiter ",""#, r#"quote "'""#),
        ("file_escape_char_0x5C.csv", r#"delimiter ",""#, "(escaped backslash)"),
    ] {
        let plan = plan_json(&data("pollock", file), &[]);
        let notes = dialect_notes(&plan);
        let line = notes.lines().find(|l| l.contains("CSV dialect:")).unwrap_or_default();
        assert!(line.contains(delimiter) && line.contains(quote), "{file}: {notes}");
        assert!(
            notes.contains("consistency over the first 84 records"),
            "{file}: {notes}"
        );
        assert_eq!(columns(&plan), POLLOCK_COLUMNS, "{file}");
    }
    let plan = plan_json(&data("duckdb", "tab_single_quote_varchar.csv"), &[]);
    assert!(
        dialect_notes(&plan).contains(r#"CSV dialect: delimiter "\t", quote "'""#),
        "{}",
        dialect_notes(&plan)
    );
}

#[test]
fn a_comma_space_delimited_file_loads_every_record_unpadded() {
    let target = fresh_database("csv_comma_space");
    let (exit, rejects) = copy_skipping(&data("pollock", "file_field_delimiter_0x2C_0x20.csv"), &target);
    assert_eq!((exit, rejects.len()), (0, 0), "{rejects:?}");
    assert_eq!(
        rows(
            &target,
            r#"SELECT count(*) AS a, min("PRODUCTID") AS b, max("Qty")::text AS c FROM "file_field_delimiter_0x2C_0x20""#
        ),
        [["83", "AN-1646", "33"]]
    );
    // A quoted field after ", " is unquoted, its commas kept.
    assert_eq!(
        value(
            &target,
            r#"SELECT "ProductType" AS a FROM "file_field_delimiter_0x2C_0x20" WHERE "PRODUCTID" = 'CC-9259'"#
        ),
        "Throw Pillow, Wooden Paddles"
    );
}

#[test]
fn single_quotes_and_backslash_escapes_load_as_written() {
    let target = fresh_database("csv_quotes");
    let (exit, rejects) = copy_skipping(&data("pollock", "file_quotation_char_0x27.csv"), &target);
    assert_eq!((exit, rejects.len()), (0, 0), "{rejects:?}");
    assert_eq!(
        rows(
            &target,
            r#"SELECT count(*) AS a, max("ProductType") FILTER (WHERE "PRODUCTID" = 'CC-9259') AS b,
                      max("ProductDescription") FILTER (WHERE "PRODUCTID" = 'RI-3895') AS c
               FROM file_quotation_char_0x27"#
        )[0][..2],
        ["83", "Throw Pillow, Wooden Paddles"]
    );
    // An apostrophe the writer did not double stays text.
    assert!(
        value(
            &target,
            r#"SELECT "ProductDescription" AS a FROM file_quotation_char_0x27 WHERE "PRODUCTID" = 'RI-3895'"#
        )
        .ends_with("won't let you down.")
    );
    let (exit, rejects) = copy_skipping(&data("pollock", "file_escape_char_0x5C.csv"), &target);
    assert_eq!((exit, rejects.len()), (0, 0), "{rejects:?}");
    assert_eq!(
        value(
            &target,
            r#"SELECT "ProductType" AS a FROM "file_escape_char_0x5C" WHERE "PRODUCTID" = 'BH-9827'"#
        ),
        "All-Weather Dining Table, Round 48\""
    );
}

#[test]
fn a_file_without_a_header_gets_numbered_columns_and_keeps_its_first_record() {
    let plan = plan_json(&data("pollock", "file_no_header.csv"), &[]);
    assert_eq!(
        columns(&plan),
        (1..=9).map(|i| format!("column{i}")).collect::<Vec<_>>()
    );
    assert!(
        dialect_notes(&plan).contains("no header row: the first record holds values of the types below it"),
        "{}",
        dialect_notes(&plan)
    );
    let target = fresh_database("csv_no_header");
    let (exit, _) = copy_skipping(&data("duckdb", "no_header.csv"), &target);
    assert_eq!(exit, 0);
    assert_eq!(
        rows(
            &target,
            "SELECT column1::text AS a, column2 AS b, column3::text AS c FROM no_header ORDER BY id"
        ),
        [["123.0", "TEST1", "2000-12-12"], ["345.0", "TEST1", "2000-12-13"]]
    );
}

#[test]
fn comment_and_preamble_lines_are_not_records() {
    let plan = plan_json(&data("pollock", "file_preamble.csv"), &[]);
    assert_eq!(columns(&plan), POLLOCK_COLUMNS);
    assert_eq!(plan["tables"][0]["row_count"], 83);
    assert!(dialect_notes(&plan).contains("2 preamble line(s) skipped"));
    let plan = plan_json(&data("duckdb", "multiple_skip_row.csv"), &[]);
    assert_eq!(columns(&plan), ["number", "text", "date"]);
    assert!(
        dialect_notes(&plan).contains("lines 1 to 2 are a preamble"),
        "{}",
        dialect_notes(&plan)
    );
    let target = fresh_database("csv_comments");
    let (exit, _) = copy_skipping(&data("duckdb", "comment_simple_with_header.csv"), &target);
    assert_eq!(exit, 0);
    assert_eq!(
        rows(&target, "SELECT a, b FROM comment_simple_with_header ORDER BY id"),
        [["1", "3"], ["6", "7"]]
    );
}

#[test]
fn a_second_table_in_the_file_is_reported_and_its_records_rejected() {
    let source = data("pollock", "file_multitable_less.csv");
    let plan = plan_json(&source, &[]);
    assert!(
        dialect_notes(&plan).contains("line 85 starts another table (8 fields from there on)"),
        "{}",
        dialect_notes(&plan)
    );
    let target = fresh_database("csv_multitable");
    let (exit, rejects) = copy_skipping(&source, &target);
    assert_eq!(exit, 3);
    assert_eq!(value(&target, "SELECT count(*) AS a FROM file_multitable_less"), "83");
    let reasons = why(&rejects);
    assert!(
        reasons[0].contains("line 85, record 85: 8 fields where the header has 9"),
        "{reasons:?}"
    );
    assert!(reasons[1].contains("another table?"), "{reasons:?}");
}

#[test]
fn an_unclosed_quote_is_one_rejected_record_and_the_rest_of_the_file_loads() {
    let target = fresh_database("csv_unclosed");
    // Record 84 opens a quote that closes in the middle of it.
    let (exit, rejects) = copy_skipping(&data("pollock", "row_extra_quote83_col0.csv"), &target);
    assert_eq!(exit, 3);
    assert_eq!(value(&target, "SELECT count(*) AS a FROM row_extra_quote83_col0"), "82");
    assert_eq!(rejects.len(), 1, "{rejects:?}");
    assert!(
        why(&rejects)[0].contains("line 84, record 84: 4 fields where the header has 9"),
        "{rejects:?}"
    );
    // A quote opened and never closed: its line is the rejected record.
    let (exit, rejects) = copy_skipping(&data("duckdb", "unquoted_new_line.csv"), &target);
    assert_eq!(exit, 3);
    assert_eq!(
        rows(&target, "SELECT a, b::text FROM unquoted_new_line ORDER BY id"),
        [
            ["bla", "1"],
            ["bla", "2"],
            ["bla", "3"],
            ["bla", "1"],
            ["bla", "2"],
            ["bla", "3"]
        ]
    );
    let reasons = why(&rejects);
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[0].contains("line 5, record 5:"), "{reasons:?}");
    assert!(reasons[1].contains("line 6, record 6:"), "{reasons:?}");
    // At the end of the file too.
    let dir = tempfile::tempdir().unwrap();
    let cut = write(dir.path(), "cut.csv", b"a,b\n1,x\n2,\"open\n3,y\n");
    let (exit, rejects) = copy_skipping(&cut, &target);
    assert_eq!(exit, 3);
    assert_eq!(
        rows(&target, "SELECT a::text, b FROM cut ORDER BY id"),
        [["1", "x"], ["3", "y"]]
    );
    assert!(
        why(&rejects)[0].contains("line 3, record 3: a quoted field opened on line 3 is never closed"),
        "{rejects:?}"
    );
}

#[test]
fn a_record_with_a_field_too_many_or_too_few_is_rejected_alone() {
    let target = fresh_database("csv_widths");
    for (file, fields) in [("row_less_sep_row40_col3.csv", 8), ("row_more_sep_row40_col3.csv", 10)] {
        let (exit, rejects) = copy_skipping(&data("pollock", file), &target);
        assert_eq!(exit, 3, "{file}");
        let table = file.trim_end_matches(".csv");
        assert_eq!(value(&target, &format!("SELECT count(*) AS a FROM {table}")), "82");
        assert_eq!(
            why(&rejects),
            [format!(
                "{}, line 41, record 41: {fields} fields where the header has 9",
                data("pollock", file).display()
            )]
        );
    }
}

#[test]
fn a_damaged_header_still_names_the_columns_and_the_records_below_load() {
    let target = fresh_database("csv_header");
    for (file, expected) in [
        ("row_extra_quote0_col1.csv", "its quoting is broken (a stray quote)"),
        (
            "row_less_sep_row0_col1.csv",
            "the header has 8 field(s) where the records below have 9",
        ),
        (
            "row_more_sep_row0_col1.csv",
            "the header has 10 field(s) where the records below have 9",
        ),
    ] {
        let source = data("pollock", file);
        let plan = plan_json(&source, &[]);
        let names = columns(&plan);
        assert_eq!(names.len(), 9, "{file}: {names:?}");
        if file != "row_less_sep_row0_col1.csv" {
            assert_eq!(names, POLLOCK_COLUMNS, "{file}");
        }
        let (exit, rejects) = copy_skipping(&source, &target);
        assert_eq!(exit, 3, "{file}");
        let table = file.trim_end_matches(".csv");
        assert_eq!(value(&target, &format!("SELECT count(*) AS a FROM {table}")), "83");
        // The decision is the one rejected record: the header, line 1.
        let reasons = why(&rejects);
        assert_eq!(reasons.len(), 1, "{file}: {reasons:?}");
        assert!(
            reasons[0].contains("line 1, record 1: the header is damaged: ") && reasons[0].contains(expected),
            "{file}: {reasons:?}"
        );
    }
}

#[test]
fn blank_lines_are_not_records() {
    let target = fresh_database("csv_blank");
    let (exit, rejects) = copy_skipping(&data("pollock", "file_double_trailing_newline.csv"), &target);
    assert_eq!((exit, rejects.len()), (0, 0), "{rejects:?}");
    assert_eq!(
        value(&target, "SELECT count(*) AS a FROM file_double_trailing_newline"),
        "83"
    );
    let dir = tempfile::tempdir().unwrap();
    let gaps = write(dir.path(), "gaps.csv", b"a,b\n1,x\n\n2,y\r\n\r\n\n");
    let (exit, rejects) = copy_skipping(&gaps, &target);
    assert_eq!((exit, rejects.len()), (0, 0), "{rejects:?}");
    assert_eq!(
        rows(&target, "SELECT a::text, b FROM gaps ORDER BY id"),
        [["1", "x"], ["2", "y"]]
    );
    // In a one-column file a blank line between records is a NULL, as
    // PostgreSQL writes one; blank lines at the end are nothing.
    let single = write(dir.path(), "single.csv", b"v\n1\n\n2\n\n\n");
    let (exit, _) = copy_skipping(&single, &target);
    assert_eq!(exit, 0);
    assert_eq!(
        rows(&target, "SELECT v::text FROM single ORDER BY id"),
        [["1"], ["NULL"], ["2"]]
    );
}

#[test]
fn godwit_toml_fixes_each_part_of_the_dialect() {
    let dir = tempfile::tempdir().unwrap();
    let source = write(
        dir.path(),
        "fixed.csv",
        b"exported by a tool\n1;'a;b';x\n2;'c';y\n// not a comment here\n",
    );
    let config = write(
        dir.path(),
        "godwit.toml",
        b"[documents.csv]\ndelimiter = \";\"\nquote = \"'\"\nescape = \"doubled\"\nheader = false\nskip_lines = 1\n",
    );
    let plan = plan_json(&source, &["--config", config.to_str().unwrap()]);
    let notes = dialect_notes(&plan);
    assert!(notes.contains("delimiter \";\" from godwit.toml"), "{notes}");
    assert!(notes.contains("no header row from godwit.toml"), "{notes}");
    assert_eq!(columns(&plan), ["column1", "column2", "column3"]);
    let target = fresh_database("csv_config");
    let url = target.to_string();
    let rejects = dir.path().join("r.jsonl");
    let out = godwit(&[
        "copy",
        source.to_str().unwrap(),
        "--to",
        &url,
        "--config",
        config.to_str().unwrap(),
        "--on-error",
        "skip",
        "--rejects",
        rejects.to_str().unwrap(),
    ]);
    assert_exit(&out, 3);
    assert_eq!(
        rows(
            &target,
            "SELECT column1::text AS a, column2 AS b, column3 AS c FROM fixed ORDER BY id"
        ),
        [["1", "a;b", "x"], ["2", "c", "y"]]
    );
    // A part that cannot be a dialect's is a usage error.
    std::fs::write(&config, "[documents.csv]\nquote = \"ab\"\n").unwrap();
    let out = godwit(&["plan", source.to_str().unwrap(), "--config", config.to_str().unwrap()]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("documents.csv.quote must be one ASCII character"),
        "{}",
        stderr(&out)
    );
}

/// A CSV that Excel saved on Windows is Windows-1252, not UTF-8: each row
/// with a letter beyond ASCII is rejected, with a hint, until godwit.toml
/// names the encoding; then every letter (and the euro sign, which
/// Latin-1 lacks) loads, in the header too, and verify agrees.
#[test]
fn a_windows_1252_file_loads_its_letters_once_godwit_toml_names_the_encoding() {
    let dir = tempfile::tempdir().unwrap();
    let source = write(
        dir.path(),
        "kunden.csv",
        b"id;name;stra\xdfe;preis\r\n1;Jos\xe9;M\xfcnchen;12 \x80\r\n2;Ann;Paris;3 \x80\r\n3;Zo\xeb;K\xf6ln;\x93quoted\x94\r\n",
    );
    let target = fresh_database("csv_cp1252");
    let url = target.to_string();
    let out = godwit(&["copy", source.to_str().unwrap(), "--to", &url]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains(
            "a file in another encoding says so in godwit.toml, e.g. [documents.csv] encoding = \"windows-1252\""
        ),
        "{}",
        stderr(&out)
    );
    let config = write(
        dir.path(),
        "godwit.toml",
        b"[documents.csv]\nencoding = \"windows-1252\"\n",
    );
    let with_config = |command: &str| {
        godwit(&[
            command,
            source.to_str().unwrap(),
            "--to",
            &url,
            "--config",
            config.to_str().unwrap(),
        ])
    };
    assert_exit(&with_config("copy"), 0);
    assert_eq!(
        rows(
            &target,
            "SELECT id::text AS a, name AS b, \"straße\" AS c, preis AS d FROM kunden ORDER BY id"
        ),
        [
            ["1", "José", "München", "12 €"],
            ["2", "Ann", "Paris", "3 €"],
            ["3", "Zoë", "Köln", "\u{201c}quoted\u{201d}"],
        ]
    );
    assert_exit(&with_config("verify"), 0);
    // Verified without the encoding the copy was told, the accented rows
    // differ, each with its reason and the hint.
    let out = godwit(&["verify", source.to_str().unwrap(), "--to", &url]);
    assert_exit(&out, 4);
    let report = stdout(&out);
    assert!(report.contains("3 changed: [1] [2] [3]"), "{report}");
    assert!(
        report.contains("e.g. [documents.csv] encoding = \"windows-1252\""),
        "{report}"
    );
    let plan = plan_json(&source, &["--config", config.to_str().unwrap()]);
    assert!(
        dialect_notes(&plan).contains("windows-1252 text, from godwit.toml"),
        "{plan}"
    );
    // Only single-byte encodings are read this way.
    for (label, expected) in [
        ("utf-16", "convert UTF-16LE text to UTF-8 first"),
        ("klingon", "names no encoding"),
    ] {
        std::fs::write(&config, format!("[documents.csv]\nencoding = \"{label}\"\n")).unwrap();
        let out = godwit(&["plan", source.to_str().unwrap(), "--config", config.to_str().unwrap()]);
        assert_exit(&out, 2);
        assert!(stderr(&out).contains(expected), "{label}: {}", stderr(&out));
    }
}

/// A Windows-1252 export whose name says nothing (`export.txt`) and whose
/// accents make it look like no text: the refusal says how to read it as
/// what it probably is, and doing what it says loads every letter. A file
/// with a NUL gets no such advice.
#[test]
fn a_windows_1252_file_with_no_csv_name_is_refused_with_the_way_to_read_it() {
    let dir = tempfile::tempdir().unwrap();
    let source = write(
        dir.path(),
        "export.txt",
        b"id;name\r\n1;Caf\xe9\r\n2;Na\xefve\r\n3;\xc9t\xe9\r\n",
    );
    let target = fresh_database("csv_cp1252_unnamed");
    let url = target.to_string();
    let out = godwit(&["copy", source.to_str().unwrap(), "--to", &url]);
    assert_exit(&out, 1);
    let named = format!("csv:{}", source.display());
    let advice = format!("name it {named} and set encoding = \"windows-1252\" under [documents.csv] in godwit.toml");
    assert!(stderr(&out).contains(&advice), "{}", stderr(&out));
    let config = write(
        dir.path(),
        "godwit.toml",
        b"[documents.csv]\nencoding = \"windows-1252\"\n",
    );
    let out = godwit(&["copy", &named, "--to", &url, "--config", config.to_str().unwrap()]);
    assert_exit(&out, 0);
    assert_eq!(
        rows(&target, "SELECT id::text AS a, name AS b FROM export ORDER BY id"),
        [["1", "Café"], ["2", "Naïve"], ["3", "Été"]]
    );
    let nul = write(dir.path(), "dump.bin", b"id;name\r\n1;a\x00\xe9\r\n");
    let out = godwit(&["plan", nul.to_str().unwrap()]);
    assert_exit(&out, 1);
    assert!(!stderr(&out).contains("single-byte"), "{}", stderr(&out));
}
