//! A copy of a large JSON Lines file or array reads it once: the rows are
//! staged with the types of its start while the whole file is learned,
//! and staged again with the whole file's types when those differ. Either
//! way the target, the rejects, the recorded model and the fingerprints
//! are the ones two reads (learn, then copy) give.
//!
//! `once.toml` reads the files in 64-byte ranges on three threads, which
//! makes these files large enough to be read once (their start is a few
//! records); `two.toml` reads them on one thread, which learns first.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use godwit::postgres::conn::ConnSpec;

const AGAIN: &str = "staging the rows again with the types of the whole source";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn configs(dir: &Path) -> (PathBuf, PathBuf) {
    (
        write(dir, "once.toml", "[documents]\nworkers = 3\nrange_bytes = 64\n"),
        write(dir, "two.toml", "[documents]\nworkers = 1\n"),
    )
}

/// 400 records with ids, a nested object and an array of objects; `late`
/// gives the record that replaces record `i`, if any.
fn records(late: &dyn Fn(usize) -> Option<String>) -> String {
    let mut text = String::new();
    for i in 1..=400 {
        let line = late(i).unwrap_or_else(|| {
            format!(
                r#"{{"id": {i}, "v": {}, "day": "2026-03-{:02}", "device": {{"os": "os{}"}}, "parts": [{{"p": {i}}}, {{"p": {}}}]}}"#,
                i * 7,
                1 + i % 28,
                i % 3,
                i + 1
            )
        });
        text.push_str(&line);
        text.push('\n');
    }
    text
}

/// The same records as one JSON array.
fn as_array(lines: &str) -> String {
    format!("[\n{}\n]\n", lines.trim_end().replace('\n', ",\n"))
}

/// Every table's columns and types, and its rows as JSON, in order.
fn target_of(target: &ConnSpec) -> Vec<Vec<String>> {
    let mut out = rows(
        target,
        "SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable AS a \
         FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position",
    );
    let tables = rows(
        target,
        "SELECT table_name AS a FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    );
    for table in tables {
        out.extend(rows(
            target,
            &format!(
                "SELECT to_jsonb(t)::text AS a FROM {} t ORDER BY to_jsonb(t)::text",
                table[0]
            ),
        ));
    }
    out.extend(rows(
        target,
        "SELECT conrelid::regclass::text || ' ' || pg_get_constraintdef(oid) AS a FROM pg_constraint \
         WHERE connamespace = 'public'::regnamespace ORDER BY 1",
    ));
    out
}

/// What copy recorded for verify (the model, without when) and for sync.
fn recorded(target: &ConnSpec) -> Vec<Vec<String>> {
    let mut out = rows(
        target,
        "SELECT (model - 'source')::text AS a FROM godwit.document_models",
    );
    out.extend(rows(
        target,
        "SELECT name || ' ' || signature || ' ' || width || ' ' || coalesce(whole::text, '-') AS a \
         FROM godwit.sync_tables ORDER BY name",
    ));
    out
}

/// Copies `file` read once and read twice, into two fresh databases;
/// both must end with `exit`. Returns the once-read copy's stderr.
fn copy_both_ways(dir: &Path, file: &Path, name: &str, exit: i32, extra: &[&str]) -> (String, ConnSpec) {
    let (once, two) = configs(dir);
    let a = fresh_database(&format!("{name}_once"));
    let b = fresh_database(&format!("{name}_two"));
    let (ra, rb) = (dir.join(format!("{name}_a.jsonl")), dir.join(format!("{name}_b.jsonl")));
    let mut err = String::new();
    for (target, config, rejects) in [(&a, &once, &ra), (&b, &two, &rb)] {
        let mut args = vec![
            "--config",
            config.to_str().unwrap(),
            "--rejects",
            rejects.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let out = copy(file, target, &args);
        assert_exit(&out, exit);
        if config == &once {
            err = stderr(&out);
        }
    }
    assert_eq!(target_of(&a), target_of(&b), "{name}");
    assert_eq!(recorded(&a), recorded(&b), "{name}");
    assert_eq!(
        std::fs::read_to_string(&ra).ok(),
        std::fs::read_to_string(&rb).ok(),
        "{name}: rejects"
    );
    // Verify takes the recorded model, and finds the copy equal.
    let url = a.to_string();
    let out = godwit(&["verify", file.to_str().unwrap(), "--to", url.as_str()]);
    assert_exit(&out, if exit == 3 { 4 } else { 0 });
    assert!(
        stderr(&out).contains("reusing the model copy learned of"),
        "{}",
        stderr(&out)
    );
    (err, a)
}

#[test]
fn a_file_whose_types_hold_is_copied_as_two_reads_copy_it() {
    let dir = tempfile::tempdir().unwrap();
    let text = records(&|_| None);
    let lines = write(dir.path(), "events.ndjson", &text);
    let array = write(dir.path(), "events.json", &as_array(&text));
    for (file, name) in [(&lines, "onepass_steady_lines"), (&array, "onepass_steady_array")] {
        let (err, target) = copy_both_ways(dir.path(), file, name, 0, &[]);
        assert!(!err.contains(AGAIN), "{name}: {err}");
        assert_eq!(value(&target, "SELECT count(*) AS a FROM events"), "400");
        assert_eq!(value(&target, "SELECT count(*) AS a FROM events__parts"), "800");
    }
}

#[test]
fn a_target_that_already_has_the_tables_stops_the_one_read_copy_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (once, _) = configs(dir.path());
    let lines = write(dir.path(), "events.ndjson", &records(&|_| None));
    let target = fresh_database("onepass_exists");
    let args = ["--config", once.to_str().unwrap()];
    assert_exit(&copy(&lines, &target, &args), 0);
    let out = copy(&lines, &target, &args);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("already exist in the target: public.events"), "{err}");
    // No type of the whole file changes that: it is not read again for it.
    assert!(!err.contains(AGAIN), "{err}");
}

#[test]
fn a_type_that_widens_late_from_integers_to_fractions_to_text_is_staged_again_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let text = records(&|i| match i {
        300 => Some(r#"{"id": 300, "v": 2.25, "day": "2026-03-01", "device": {"os": "os0"}, "parts": []}"#.into()),
        390 => Some(r#"{"id": 390, "v": "lots", "day": "2026-03-02", "device": {"os": "os0"}, "parts": []}"#.into()),
        _ => None,
    });
    let fraction_only: String = text
        .lines()
        .filter(|l| !l.contains("lots"))
        .map(|l| format!("{l}\n"))
        .collect();
    let widened = write(dir.path(), "events.ndjson", &text);
    let fraction = write(dir.path(), "fractions.ndjson", &fraction_only);
    let array = write(dir.path(), "events.json", &as_array(&text));
    for (file, name) in [(&widened, "onepass_widen_lines"), (&array, "onepass_widen_array")] {
        let (err, target) = copy_both_ways(dir.path(), file, name, 0, &[]);
        assert!(err.contains(AGAIN), "{name}: {err}");
        assert_eq!(value(&target, "SELECT v::text AS a FROM events WHERE id = 300"), "2.25");
        assert_eq!(
            value(&target, "SELECT v::text AS a FROM events WHERE id = 390"),
            "\"lots\""
        );
        assert_eq!(value(&target, "SELECT v::text AS a FROM events WHERE id = 7"), "49");
    }
    let (err, target) = copy_both_ways(dir.path(), &fraction, "onepass_widen_fraction", 0, &[]);
    assert!(err.contains(AGAIN), "{err}");
    assert_eq!(
        value(
            &target,
            "SELECT data_type AS a FROM information_schema.columns WHERE table_name = 'fractions' AND column_name = 'v'"
        ),
        "numeric"
    );
    assert_eq!(
        value(&target, "SELECT v::text AS a FROM fractions WHERE id = 300"),
        "2.25"
    );
}

#[test]
fn a_field_that_first_appears_late_is_a_column_with_its_values() {
    let dir = tempfile::tempdir().unwrap();
    let text = records(&|i| {
        (i > 380).then(|| {
            format!(
                r#"{{"id": {i}, "v": 1, "day": "2026-03-03", "device": {{"os": "os1", "arch": "arm{i}"}}, "parts": [], "coupon": "c{i}"}}"#
            )
        })
    });
    let file = write(dir.path(), "events.ndjson", &text);
    let (err, target) = copy_both_ways(dir.path(), &file, "onepass_late_field", 0, &[]);
    assert!(err.contains(AGAIN), "{err}");
    assert_eq!(value(&target, "SELECT coupon AS a FROM events WHERE id = 399"), "c399");
    assert_eq!(
        value(&target, "SELECT device__arch AS a FROM events WHERE id = 381"),
        "arm381"
    );
    assert_eq!(value(&target, "SELECT count(coupon)::text AS a FROM events"), "20");
}

/// A date column whose last value is no date, and an integer column whose
/// last value is beyond bigint: the types of the start cannot encode them.
/// Under --on-error skip they must not be rejected (nor, under stop, fail
/// the copy): the whole file's types hold them.
#[test]
fn a_value_the_types_of_the_start_cannot_hold_is_staged_again_never_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let text = records(&|i| {
        match i {
        397 => Some(r#"{"id": 397, "v": 1, "day": "soon", "device": {"os": "os1"}, "parts": []}"#.into()),
        398 => Some(
            r#"{"id": 398, "v": 123456789012345678901234567890, "day": "2026-03-04", "device": {"os": "os1"}, "parts": []}"#
                .into(),
        ),
        _ => None,
    }
    });
    let file = write(dir.path(), "events.ndjson", &text);
    for (mode, name) in [("skip", "onepass_unheld_skip"), ("stop", "onepass_unheld_stop")] {
        let (err, target) = copy_both_ways(dir.path(), &file, name, 0, &["--on-error", mode]);
        assert!(err.contains(AGAIN), "{name}: {err}");
        assert!(
            !dir.path().join(format!("{name}_a.jsonl")).exists(),
            "{name}: a reject file"
        );
        assert_eq!(value(&target, "SELECT day AS a FROM events WHERE id = 397"), "soon");
        assert_eq!(
            value(&target, "SELECT v::text AS a FROM events WHERE id = 398"),
            "123456789012345678901234567890"
        );
    }
}

/// Rejected records (a malformed line, a NUL) under both modes: the same
/// rejects, the same error, and the target unchanged by a failed copy.
#[test]
fn rejects_and_errors_are_those_of_two_reads() {
    let dir = tempfile::tempdir().unwrap();
    let text = records(&|i| match i {
        250 => Some(r#"{"id": 250, "v": "#.into()),
        330 => Some(r#"{"id": 330, "v": 3, "day": "a\u0000b", "device": {"os": "os1"}, "parts": []}"#.into()),
        _ => None,
    });
    let file = write(dir.path(), "events.ndjson", &text);
    copy_both_ways(dir.path(), &file, "onepass_rejects", 3, &["--on-error", "skip"]);
    let (once, two) = configs(dir.path());
    let mut errors = Vec::new();
    for (config, name) in [(&once, "onepass_fails_once"), (&two, "onepass_fails_two")] {
        let target = fresh_database(name);
        let out = copy(&file, &target, &["--config", config.to_str().unwrap()]);
        assert_exit(&out, 1);
        assert_eq!(
            value(
                &target,
                "SELECT count(*)::text AS a FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
            ),
            "0",
            "{name}: the target changed"
        );
        let err = stderr(&out);
        errors.push(
            err.lines()
                .filter(|l| l.starts_with("error"))
                .map(String::from)
                .collect::<Vec<_>>(),
        );
    }
    assert!(!errors[0].is_empty());
    assert_eq!(errors[0], errors[1]);
}

/// A counter that starts just below the bigint limit and passes it late
/// (as the benchmark's `seq` does) is staged as numeric from the start:
/// one read. One that stays below is staged again as bigint.
#[test]
fn integers_near_the_64_bit_limit_are_staged_as_numeric_and_checked_against_the_whole_file() {
    let dir = tempfile::tempdir().unwrap();
    let near = |i: usize, base: i128| {
        format!(
            r#"{{"id": {i}, "seq": {}, "device": {{"os": "os{}"}}, "parts": [{{"p": {i}}}]}}"#,
            base + i as i128,
            i % 3
        )
    };
    let passes = write(
        dir.path(),
        "passes.ndjson",
        &(1..=400)
            .map(|i| near(i, 9_223_372_036_854_775_500) + "\n")
            .collect::<String>(),
    );
    let stays = write(
        dir.path(),
        "stays.ndjson",
        &(1..=400)
            .map(|i| near(i, 9_223_372_036_854_000_000) + "\n")
            .collect::<String>(),
    );
    let (err, target) = copy_both_ways(dir.path(), &passes, "onepass_near_passes", 0, &[]);
    assert!(!err.contains(AGAIN), "{err}");
    assert_eq!(
        value(&target, "SELECT seq::text AS a FROM passes WHERE id = 400"),
        "9223372036854775900"
    );
    let (err, target) = copy_both_ways(dir.path(), &stays, "onepass_near_stays", 0, &[]);
    assert!(err.contains(AGAIN), "{err}");
    assert_eq!(
        value(
            &target,
            "SELECT data_type AS a FROM information_schema.columns WHERE table_name = 'stays' AND column_name = 'seq'"
        ),
        "bigint"
    );
    // Signed 64-bit hashes reach as far from zero, on both sides, and never
    // pass the limit: bigint from the start, one read.
    let hashes = write(
        dir.path(),
        "hashes.ndjson",
        &(1..=400)
            .map(|i| {
                let sign = if i % 2 == 0 { 1 } else { -1 };
                near(i, sign * 9_223_372_036_854_000_000) + "\n"
            })
            .collect::<String>(),
    );
    let (err, target) = copy_both_ways(dir.path(), &hashes, "onepass_near_hashes", 0, &[]);
    assert!(!err.contains(AGAIN), "{err}");
    assert_eq!(
        value(
            &target,
            "SELECT data_type AS a FROM information_schema.columns WHERE table_name = 'hashes' AND column_name = 'seq'"
        ),
        "bigint"
    );
}
