//! JSON Lines read in byte ranges on several threads: the same file read
//! in one piece and in many small ranges gives the same tables, the same
//! rejects and the same error places, whatever the line endings and
//! however the lines fall across range boundaries.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// `godwit verify FILE --to URL --config CONFIG`.
fn verify_with_config(file: &Path, url: &str, config: &Path) -> std::process::Output {
    godwit(&[
        "verify",
        file.to_str().unwrap(),
        "--to",
        url,
        "--config",
        config.to_str().unwrap(),
    ])
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// godwit.toml files: one reading thread, and three reading 40-byte
/// ranges (every line of these files crosses a range boundary).
fn configs(dir: &Path) -> (PathBuf, PathBuf) {
    (
        write(dir, "one.toml", b"[documents]\nworkers = 1\n"),
        write(dir, "many.toml", b"[documents]\nworkers = 3\nrange_bytes = 40\n"),
    )
}

fn with_config<'a>(config: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--config", config.to_str().unwrap()];
    args.extend_from_slice(extra);
    args
}

/// Records without an id (keyed by their position), mixed line endings,
/// blank lines, a line of 20 kB (far longer than a range), and no newline
/// after the last line.
fn clean_records() -> Vec<u8> {
    let mut out = Vec::new();
    for i in 1..=300 {
        let note = if i == 150 {
            "x".repeat(20_000)
        } else {
            format!("note {i}")
        };
        out.extend_from_slice(
            format!(
                r#"{{"name": "n{i}", "n": {}, "tags": ["a", "b{i}"], "note": "{note}"}}"#,
                i * 7
            )
            .as_bytes(),
        );
        out.extend_from_slice(if i % 2 == 0 { b"\r\n" } else { b"\n" });
        if i % 40 == 0 {
            out.extend_from_slice(b"\n \r\n");
        }
    }
    while out.last().is_some_and(|b| b.is_ascii_whitespace()) {
        out.pop();
    }
    out
}

fn table_rows(target: &godwit::postgres::conn::ConnSpec, table: &str) -> Vec<Vec<String>> {
    rows(
        target,
        &format!("SELECT to_jsonb(t)::text AS a FROM {table} t ORDER BY to_jsonb(t)::text"),
    )
}

#[test]
fn one_and_many_reading_threads_give_identical_targets_that_verify_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let (one, many) = configs(dir.path());
    let file = write(dir.path(), "items.ndjson", &clean_records());
    let a = fresh_database("docs_par_one");
    let b = fresh_database("docs_par_many");
    assert_exit(&copy(&file, &a, &with_config(&one, &[])), 0);
    assert_exit(&copy(&file, &b, &with_config(&many, &[])), 0);
    let rows_a = table_rows(&a, "items");
    assert_eq!(rows_a.len(), 300);
    assert_eq!(rows_a, table_rows(&b, "items"));
    assert_eq!(
        value(
            &a,
            "SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position) AS a FROM information_schema.columns WHERE table_name = 'items'"
        ),
        value(
            &b,
            "SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position) AS a FROM information_schema.columns WHERE table_name = 'items'"
        ),
    );
    // The 150th record is the 150th row, in either read.
    let key = value(
        &b,
        "SELECT column_name AS a FROM information_schema.columns WHERE table_name = 'items' AND ordinal_position = 1",
    );
    assert_eq!(
        value(&b, &format!("SELECT length(note) AS a FROM items WHERE {key} = 150")),
        "20000"
    );
    // Each copy verifies against the file read the other way.
    for (target, config) in [(&a, &many), (&b, &one)] {
        let url = target.to_string();
        let out = verify_with_config(&file, &url, config);
        assert_exit(&out, 0);
    }
}

#[test]
fn rejects_are_the_same_records_in_the_same_order_with_the_same_places() {
    let dir = tempfile::tempdir().unwrap();
    let (one, many) = configs(dir.path());
    let mut text = String::new();
    for i in 1..=120 {
        let line = match i {
            17 | 64 => format!(r#"{{"id": {i}, "v": "#),
            33 => format!(r#"{{"id": {i}, "v": "a\u0000b"}}"#),
            90 => format!(r#"{{"id": {i}, "v": 1, "v": 2}}"#),
            _ => format!(r#"{{"id": {i}, "v": "value {i}"}}"#),
        };
        text.push_str(&line);
        text.push_str(if i % 3 == 0 { "\r\n" } else { "\n" });
    }
    // The last line is broken too, in the last range, with no newline after it.
    text.push_str(r#"{"id": 121, "v": tru"#);
    let file = write(dir.path(), "rows.ndjson", text.as_bytes());
    let rejects = |name: &str| dir.path().join(name);
    let a = fresh_database("docs_par_rej_one");
    let b = fresh_database("docs_par_rej_many");
    let (ra, rb) = (rejects("a.jsonl"), rejects("b.jsonl"));
    let skip = |r: &Path| -> Vec<String> {
        vec![
            "--on-error".into(),
            "skip".into(),
            "--rejects".into(),
            r.to_str().unwrap().into(),
        ]
    };
    let args_a = skip(&ra);
    let args_b = skip(&rb);
    let args_a: Vec<&str> = args_a.iter().map(String::as_str).collect();
    let args_b: Vec<&str> = args_b.iter().map(String::as_str).collect();
    assert_exit(&copy(&file, &a, &with_config(&one, &args_a)), 3);
    assert_exit(&copy(&file, &b, &with_config(&many, &args_b)), 3);
    let written = std::fs::read_to_string(&ra).unwrap();
    assert_eq!(written, std::fs::read_to_string(&rb).unwrap());
    let reasons: Vec<serde_json::Value> = written.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let lines: Vec<&str> = reasons
        .iter()
        .map(|r| {
            let reason = r["reason"].as_str().unwrap();
            let at = reason.find(", line ").unwrap() + 7;
            &reason[at..at + reason[at..].find(',').unwrap()]
        })
        .collect();
    assert_eq!(lines, ["17", "33", "64", "90", "121"], "{written}");
    let start_121 = text.rfind('\n').unwrap() + 1;
    let reason = reasons[4]["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!(
            "rows.ndjson, line 121, column 18, byte {}: invalid JSON",
            start_121 + 17
        )),
        "{reason}"
    );
    let start_64 = text.match_indices('\n').nth(62).unwrap().0 + 1;
    let reason = reasons[2]["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("line 64, column 17, byte {}: invalid JSON", start_64 + 16)),
        "{reason}"
    );
    assert_eq!(table_rows(&a, "rows"), table_rows(&b, "rows"));
    assert_eq!(value(&b, "SELECT count(*) AS a FROM rows"), "116");
}

#[test]
fn an_error_in_the_last_range_stops_the_copy_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let (_, many) = configs(dir.path());
    let mut text = String::new();
    for i in 1..=200 {
        text.push_str(&format!("{{\"id\": {i}}}\r\n"));
    }
    text.push_str("{\"id\": 201, \"x\": [1, 2}\r\n");
    let file = write(dir.path(), "last.ndjson", text.as_bytes());
    let target = fresh_database("docs_par_last");
    let out = copy(&file, &target, &with_config(&many, &[]));
    assert_exit(&out, 1);
    let at = text.rfind("{\"id\": 201").unwrap() + 22;
    assert!(
        stderr(&out).contains(&format!("last.ndjson, line 201, column 23, byte {at}: invalid JSON")),
        "{}",
        stderr(&out)
    );
}

#[test]
fn verify_merges_tables_whose_keys_count_up_in_the_file_and_hashes_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let in_order: String = (1..=500)
        .map(|i| format!("{{\"id\": {i}, \"v\": {}}}\n", i * 2))
        .collect();
    let shuffled: String = (1..=500)
        .map(|i| (i * 7919) % 500 + 1)
        .map(|i| format!("{{\"id\": {i}, \"v\": {}}}\n", i * 2))
        .collect();
    let no_id: String = (1..=500).map(|i| format!("{{\"v\": {}}}\n", i * 2)).collect();
    for (name, text, method) in [
        ("ordered.ndjson", in_order, "merge"),
        ("shuffled.ndjson", shuffled, "hash"),
        ("positions.ndjson", no_id, "merge"),
    ] {
        let file = write(dir.path(), name, text.as_bytes());
        let target = fresh_database("docs_par_verify");
        assert_exit(&copy(&file, &target, &[]), 0);
        let url = target.to_string();
        let verify = || godwit(&["verify", file.to_str().unwrap(), "--to", &url]);
        let out = verify();
        assert_exit(&out, 0);
        assert!(
            stderr(&out).contains(&format!(", {method})")),
            "{name}: {}",
            stderr(&out)
        );
        // A changed value is found whichever way the rows are matched.
        let table = name.trim_end_matches(".ndjson");
        target
            .connect()
            .unwrap()
            .batch_execute(&format!("UPDATE {table} SET v = -1 WHERE v = 500"))
            .unwrap();
        let out = verify();
        assert_exit(&out, 4);
        assert!(stdout(&out).contains("1 differ"), "{name}: {}", stdout(&out));
    }
}

/// One JSON array, pretty-printed over several lines a record, with
/// strings holding commas, brackets and escaped quotes.
fn array_records(n: usize) -> String {
    let mut text = String::from("\u{feff}\n[\n");
    for i in 1..=n {
        if i > 1 {
            text.push_str(",\r\n");
        }
        text.push_str(&format!(
            "  {{\"id\": {i},\n   \"s\": \"a, ]}} \\\" [{{ {i}\",\n   \"list\": [{i}, [\"x\", {{\"y\": \",\"}}]]}}"
        ));
    }
    text.push_str("\n]\n");
    text
}

#[test]
fn a_json_array_read_in_ranges_gives_the_same_target_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (one, many) = configs(dir.path());
    let file = write(dir.path(), "things.json", array_records(200).as_bytes());
    let a = fresh_database("docs_par_arr_one");
    let b = fresh_database("docs_par_arr_many");
    assert_exit(&copy(&file, &a, &with_config(&one, &[])), 0);
    assert_exit(&copy(&file, &b, &with_config(&many, &[])), 0);
    let rows_a = table_rows(&a, "things");
    assert_eq!(rows_a.len(), 200);
    assert_eq!(rows_a, table_rows(&b, "things"));
    let url = b.to_string();
    let out = verify_with_config(&file, &url, &one);
    assert_exit(&out, 0);

    // Damaged arrays fail with the same error, at the same place, either way.
    let good = array_records(120);
    let damaged = [
        ("late.json", good.replacen("\"id\": 97,", "\"id\": 97,,", 1)),
        ("comma.json", good.replacen("\n]\n", ",\n]\n", 1)),
        ("cut.json", good[..good.len() - 4].to_string()),
        ("after.json", format!("{good}[]")),
        (
            "quote.json",
            good.replacen("\"s\": \"a, ]} \\\" [{ 60\"", "\"s\": \"a, ]} \" [{ 60\"", 1),
        ),
    ];
    for (name, text) in damaged {
        let file = write(dir.path(), name, text.as_bytes());
        let errors: Vec<String> = [&one, &many]
            .iter()
            .map(|config| {
                let target = fresh_database("docs_par_arr_bad");
                let out = copy(&file, &target, &with_config(config, &[]));
                assert_ne!(out.status.code(), Some(0), "{name}");
                stderr(&out)
                    .lines()
                    .filter(|l| l.contains("invalid JSON"))
                    .map(String::from)
                    .collect()
            })
            .collect();
        assert!(
            errors[0].contains(&format!("{name}: invalid JSON at line")),
            "{name}: {}",
            errors[0]
        );
        assert_eq!(errors[0], errors[1], "{name}");
    }
}

/// Records with ids (rows are then made on the reading threads), a nested
/// object, an array of objects (a child table), values that widen late
/// (an integer field that holds 1.5 at line 230, a date field that holds
/// text at line 240), a malformed line and a NUL in the middle, and a
/// line far longer than a range.
fn widening_records() -> String {
    let mut text = String::new();
    for i in 1..=250 {
        let v = if i == 230 { "1.5".to_string() } else { i.to_string() };
        let day = if i == 240 {
            "\"soon\"".to_string()
        } else {
            format!("\"2026-02-{:02}\"", 1 + i % 28)
        };
        let note = if i == 120 {
            "q".repeat(3_000)
        } else {
            format!("note {i}")
        };
        let line = match i {
            77 => r#"{"id": 77, "v": "#.to_string(),
            91 => r#"{"id": 91, "note": "a\u0000b"}"#.to_string(),
            _ => format!(
                r#"{{"id": {i}, "v": {v}, "day": {day}, "device": {{"os": "os{}", "build": {i}}}, "parts": [{{"p": {i}}}, {{"p": {}}}], "note": "{note}"}}"#,
                i % 4,
                i * 2
            ),
        };
        text.push_str(&line);
        text.push_str(if i % 4 == 0 { "\r\n" } else { "\n" });
    }
    text
}

#[test]
fn rows_made_on_the_reading_threads_give_the_same_tables_types_and_rejects() {
    let dir = tempfile::tempdir().unwrap();
    let (one, many) = configs(dir.path());
    let text = widening_records();
    let lines = write(dir.path(), "events.ndjson", text.as_bytes());
    let records: Vec<&str> = text.lines().filter(|l| !l.ends_with(": ")).collect();
    let array = write(
        dir.path(),
        "events.json",
        format!("[{}]", records.join(",\n")).as_bytes(),
    );
    for (file, expected_exit) in [(&lines, 3), (&array, 3)] {
        let name = file.file_name().unwrap().to_str().unwrap().to_string();
        let a = fresh_database("docs_par_rows_one");
        let b = fresh_database("docs_par_rows_many");
        let (ra, rb) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
        for (target, config, rejects) in [(&a, &one, &ra), (&b, &many, &rb)] {
            let out = copy(
                file,
                target,
                &with_config(config, &["--on-error", "skip", "--rejects", rejects.to_str().unwrap()]),
            );
            assert_exit(&out, expected_exit);
        }
        assert_eq!(
            std::fs::read_to_string(&ra).unwrap(),
            std::fs::read_to_string(&rb).unwrap(),
            "{name}"
        );
        let types = "SELECT string_agg(table_name || '.' || column_name || ' ' || data_type, ', ' ORDER BY table_name, ordinal_position) AS a FROM information_schema.columns WHERE table_schema = 'public'";
        let types_a = value(&a, types);
        assert_eq!(types_a, value(&b, types), "{name}");
        assert!(types_a.contains("events.v numeric"), "{name}: {types_a}");
        assert!(types_a.contains("events.day text"), "{name}: {types_a}");
        let tables: Vec<String> = rows(
            &a,
            "SELECT table_name AS a FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
        )
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
        assert!(tables.len() >= 2, "{name}: {tables:?}");
        for table in &tables {
            assert_eq!(table_rows(&a, table), table_rows(&b, table), "{name}: {table}");
        }
        // JSON Lines: lines 77 and 91 rejected; the array lacks line 77.
        assert_eq!(value(&b, "SELECT count(*) AS a FROM events"), "248", "{name}");
        // A table with rows left out records no sync fingerprints.
        for target in [&a, &b] {
            assert_eq!(fingerprints(target, "events"), Vec::<Vec<String>>::new(), "{name}");
        }
        assert_eq!(value(&b, "SELECT v::text AS a FROM events WHERE id = 230"), "1.5");
        assert_eq!(
            value(&b, "SELECT length(note)::text AS a FROM events WHERE id = 120"),
            "3000"
        );
        // Each copy verifies against the file read the other way: equal
        // but for the rows the copy rejected (verify lists them).
        let missing = if file == &lines {
            "2 missing from the target: [null] [91]"
        } else {
            "1 missing from the target: [91]"
        };
        for (target, config) in [(&a, &many), (&b, &one)] {
            let url = target.to_string();
            let out = verify_with_config(file, &url, config);
            assert_exit(&out, 4);
            assert!(stdout(&out).contains(missing), "{name}: {}", stdout(&out));
            assert!(stdout(&out).contains("events__parts") && !stdout(&out).contains("events__parts differs"));
        }
    }
}

/// The sync fingerprints a copy records (godwit.sync_tables) of one table.
fn fingerprints(target: &godwit::postgres::conn::ConnSpec, table: &str) -> Vec<Vec<String>> {
    rows(
        target,
        &format!(
            "SELECT signature || ' ' || width || ' ' || coalesce(whole::text, '-') AS a FROM godwit.sync_tables \
             WHERE name = '{table}'"
        ),
    )
}

#[test]
fn sync_fingerprints_taken_on_the_reading_threads_are_the_ones_taken_row_by_row() {
    let dir = tempfile::tempdir().unwrap();
    let (one, many) = configs(dir.path());
    let records = clean_records();
    let lines = write(dir.path(), "items.ndjson", &records);
    // The same records as one JSON text after another in a .json file:
    // not read in ranges, so every row is made and fingerprinted in turn
    // on the copy's thread.
    let concatenated = write(dir.path(), "items.json", &records);
    let mut seen = Vec::new();
    for (file, config, name) in [
        (&lines, &one, "docs_prints_one"),
        (&lines, &many, "docs_prints_many"),
        (&concatenated, &one, "docs_prints_concat"),
    ] {
        let target = fresh_database(name);
        assert_exit(&copy(file, &target, &with_config(config, &[])), 0);
        assert_eq!(value(&target, "SELECT count(*) AS a FROM items"), "300");
        let prints = fingerprints(&target, "items");
        assert_eq!(prints.len(), 1, "{name}: {prints:?}");
        assert!(
            !prints[0][0].ends_with(" -") && !prints[0][0].ends_with(" 0"),
            "{name}: {prints:?}"
        );
        seen.push(prints);
    }
    assert_eq!(seen[0], seen[1], "one reading thread and many");
    assert_eq!(seen[0], seen[2], "in ranges and row by row");
}
