//! The name decides the format where it says one (`.json`, `.ndjson`,
//! `.jsonl`, `.csv`, `.tsv`, and the `json:`/`ndjson:`/`csv:` prefixes);
//! the content decides only for other names, and when it contradicts the
//! name both are said. Every error names the file, line, column and byte.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn plan(source: &str) -> std::process::Output {
    godwit(&["plan", source])
}

#[test]
fn a_json_name_never_loads_as_a_csv_table() {
    let dir = tempfile::tempdir().unwrap();
    let star = write(dir.path(), "star.json", b"*");
    let out = plan(star.to_str().unwrap());
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("star.json: invalid JSON at line 1, column 1, byte 0: expected a value, found '*'"),
        "{err}"
    );
    assert!(
        err.contains("the name says JSON, but the content looks like CSV"),
        "{err}"
    );

    let bracket = write(dir.path(), "one.json", b"1]");
    let out = plan(bracket.to_str().unwrap());
    assert_exit(&out, 1);
    assert!(
        stderr(&out)
            .contains("one.json: invalid JSON at line 1, column 2, byte 1: unexpected ']' after the top-level value"),
        "{}",
        stderr(&out)
    );
    assert!(!stdout(&out).contains("CREATE TABLE"), "{}", stdout(&out));
}

#[test]
fn a_lone_json_scalar_is_a_one_row_table() {
    let dir = tempfile::tempdir().unwrap();
    let answer = write(dir.path(), "answer.json", b"42\n");
    let target = fresh_database("docs_scalar");
    let out = copy(&answer, &target, &[]);
    assert_exit(&out, 0);
    assert_eq!(rows(&target, "SELECT id AS a, value AS b FROM answer"), [["1", "42"]]);
}

#[test]
fn a_broken_ndjson_line_is_one_rejected_record_named_by_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let events = write(
        dir.path(),
        "events.ndjson",
        b"{\"id\": 1, \"v\": \"a\"}\n{\"id\": 2, \"v\": \"b\"}\n{\"id\": 3, \"v\": \n{\"id\": 4, \"v\": \"d\"}\n\n{\"id\": 5, \"v\": \"e\"}\n",
    );
    let target = fresh_database("docs_ndjson_line");
    let out = copy(&events, &target, &[]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains(
            "events.ndjson, line 3, column 16, byte 55: invalid JSON: expected a value, found the end of the line"
        ),
        "{err}"
    );
    let rejects = dir.path().join("rejects.jsonl");
    let out = copy(
        &events,
        &target,
        &["--on-error", "skip", "--rejects", rejects.to_str().unwrap()],
    );
    assert_exit(&out, 3);
    assert_eq!(
        rows(&target, "SELECT id AS a, v AS b FROM events ORDER BY id"),
        [["1", "a"], ["2", "b"], ["4", "d"], ["5", "e"]]
    );
    let written = std::fs::read_to_string(&rejects).unwrap();
    assert_eq!(written.lines().count(), 1, "{written}");
    assert!(
        written.contains("events.ndjson, line 3, column 16, byte 55"),
        "{written}"
    );
}

#[test]
fn a_jsonl_name_reads_lines_even_when_the_first_line_is_broken() {
    let dir = tempfile::tempdir().unwrap();
    let events = write(dir.path(), "first.jsonl", b"{\"id\": 1,\n{\"id\": 2}\n");
    let target = fresh_database("docs_jsonl_first");
    let out = copy(&events, &target, &["--on-error", "skip"]);
    assert_exit(&out, 3);
    assert_eq!(rows(&target, "SELECT id AS a FROM first"), [["2"]]);
    // So does the ndjson: prefix, whatever the name.
    let text = write(dir.path(), "export.txt", b"not json\n{\"id\": 7}\n");
    let spec = format!("ndjson:{}", text.display());
    let out = godwit(&["copy", &spec, "--to", &target.to_string(), "--on-error", "skip"]);
    assert_exit(&out, 3);
    assert_eq!(rows(&target, "SELECT id AS a FROM export"), [["7"]]);
}

#[test]
fn text_that_is_not_text_is_named_by_line_column_and_byte() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes, expected) in [
        (
            "nul",
            &b"a,b\n1,\x002\n"[..],
            "byte 0x00 (a NUL) at line 2, column 3, byte 6 is not text",
        ),
        (
            "control",
            &b"name\nann\nb\x01b\x02\x03\n"[..],
            "byte 0x01 (a control character) at line 3, column 2, byte 10 is not text",
        ),
        (
            "latin1",
            &b"x\n\xe9\xe9\xe9\n"[..],
            "byte 0xe9 (not valid UTF-8) at line 2, column 1, byte 2 is not text",
        ),
    ] {
        let file = write(dir.path(), name, bytes);
        let out = plan(file.to_str().unwrap());
        assert_exit(&out, 1);
        assert!(stderr(&out).contains(expected), "{name}: {}", stderr(&out));
    }
    // Named JSON, the same bytes are read as JSON and refused where they are.
    let json = write(dir.path(), "nul.json", b"[{\"a\": 1},\n \x00]");
    let out = plan(json.to_str().unwrap());
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("nul.json: invalid JSON at line 2, column 2, byte 12: expected a value, found byte 0x00"),
        "{err}"
    );
    assert!(
        err.contains(
            "the name says JSON, but the content looks like not text (byte 0x00 (a NUL) at line 2, column 2, byte 12)"
        ),
        "{err}"
    );
}

/// Excel's "Unicode text" and many Windows exports are UTF-16: read as
/// UTF-8 they are NULs between letters, which loaded a header of NULs as
/// column names and failed on the first value. They are named as what
/// they are, with the command that makes them UTF-8, whatever the name.
#[test]
fn utf16_text_is_named_with_its_encoding_and_how_to_convert_it() {
    let dir = tempfile::tempdir().unwrap();
    let text = "id\tname\r\n1\tJosé\r\n2\tZoë\r\n";
    let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
    let with_bom = [&[0xFF, 0xFE][..], &le].concat();
    for (name, bytes, expected) in [
        (
            "excel.csv",
            &with_bom,
            "is UTF-16LE text (it starts with the byte order mark FF FE)",
        ),
        (
            "excel.txt",
            &with_bom,
            "is UTF-16LE text (it starts with the byte order mark FF FE)",
        ),
        ("plain.tsv", &le, "is UTF-16LE text (every other byte is 0)"),
        ("records.json", &be, "is UTF-16BE text (every other byte is 0)"),
    ] {
        let file = write(dir.path(), name, bytes);
        let out = plan(file.to_str().unwrap());
        assert_exit(&out, 1);
        let err = stderr(&out);
        assert!(err.contains(expected), "{name}: {err}");
        assert!(
            err.contains("godwit reads UTF-8: convert it first, e.g. `iconv -f UTF-16"),
            "{name}: {err}"
        );
    }
    // In a directory, such a file is listed as not read, beside the others.
    let folder = dir.path().join("folder");
    std::fs::create_dir(&folder).unwrap();
    write(&folder, "ok.csv", b"id,name\n1,a\n");
    write(&folder, "excel.csv", &with_bom);
    let out = godwit(&["plan", folder.to_str().unwrap(), "--format", "json"]);
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(all.contains("UTF-16LE text"), "{all}");
}

/// A compressed export is named as such, with the command that gives the
/// text inside, whatever its name says; a workbook is told apart.
#[test]
fn compressed_files_are_named_with_how_to_decompress_them() {
    let dir = tempfile::tempdir().unwrap();
    let gzip = [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3, 0x4B, 0x4C];
    for (name, bytes, expected) in [
        (
            "events.ndjson.gz",
            &gzip[..],
            "is gzip-compressed (it starts with 1F 8B), and godwit reads the text it holds: decompress it first, e.g. `gzip -dc ",
        ),
        ("events.ndjson.gz", &gzip[..], "events.ndjson`"),
        ("misnamed.ndjson", &gzip[..], "misnamed-decompressed.ndjson`"),
        (
            "export.zip",
            b"PK\x03\x04\x14\0\0\0",
            "extract them first, e.g. `unzip ",
        ),
        (
            "book.xlsx",
            b"PK\x03\x04\x14\0\0\0",
            "a spreadsheet workbook, which godwit does not read; save each sheet as CSV",
        ),
        ("t.csv.zst", &[0x28, 0xB5, 0x2F, 0xFD, 0, 0][..], "is zstd-compressed"),
    ] {
        let file = write(dir.path(), name, bytes);
        let out = plan(file.to_str().unwrap());
        assert_exit(&out, 1);
        assert!(stderr(&out).contains(expected), "{name}: {}", stderr(&out));
    }
    // In a directory, listed as not read beside what is.
    let folder = dir.path().join("folder");
    std::fs::create_dir(&folder).unwrap();
    write(&folder, "ok.csv", b"id,name\n1,a\n");
    write(&folder, "old.ndjson.gz", &gzip);
    let out = godwit(&["plan", folder.to_str().unwrap()]);
    assert!(
        stdout(&out)
            .contains("old.ndjson.gz: is gzip-compressed (it starts with 1F 8B), and godwit reads the text it holds"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn the_name_or_prefix_decides_and_a_contradiction_is_said() {
    let dir = tempfile::tempdir().unwrap();
    // CSV content in a file named .csv, and the same under a prefix.
    let people = write(dir.path(), "people.txt", b"{\"name\": \"ann\"}\n");
    let out = plan(&format!("csv:{}", people.display()));
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(
        text.contains("the prefix says CSV, but the content looks like JSON; read as the name says"),
        "{text}"
    );
    // Without a name that says, the content decides.
    let out = plan(people.to_str().unwrap());
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("\"name\" text"), "{}", stdout(&out));
    // A SQLite database named .json is refused, saying both.
    let db = sqlite_file(dir.path(), "app.json", "CREATE TABLE t(a)");
    let out = plan(db.to_str().unwrap());
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("the name says a document, but it is a SQLite database: name it sqlite:"),
        "{}",
        stderr(&out)
    );
}
