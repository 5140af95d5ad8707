//! CSV and other delimited text: the dialect detected from a sample
//! ([`sniff`]), the records read as PostgreSQL's COPY ... CSV reads them
//! ([`reader`]), and damaged records recovered one at a time ([`stream`]):
//! each is one rejected record with its line and why, and the records
//! after it still load.

mod cells;
mod dialect;
mod reader;
mod sniff;

use std::io::Read;
use std::path::Path;

pub use dialect::{CsvOptions, Dialect};
pub use reader::{CsvReader, Outcome, Record};

use super::json::{JValue, Key, Position, ValueProblem};
use super::records::{Rec, Visit};
use crate::error::{Error, Result};
use crate::source::Flow;

/// The delimiter's first byte for a text's head (for telling CSV from
/// other text; the whole dialect is detected when the file is read).
pub fn detect_delimiter(head: &[u8]) -> u8 {
    let head = head.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(head);
    sniff::sniff(cut_at_line_end(head), &dialect::Overrides::default())
        .delimiter
        .first()
        .copied()
        .unwrap_or(b',')
}

/// The head up to its last line end, when there is one: a sample cut in
/// the middle of a record would look like a damaged one.
fn cut_at_line_end(head: &[u8]) -> &[u8] {
    match head.iter().rposition(|&b| b == b'\n') {
        Some(i) if i + 1 < head.len() => &head[..=i],
        _ => head,
    }
}

/// The dialect of a CSV file, from its first [`sniff::SAMPLE_BYTES`] and
/// what godwit.toml's `[documents.csv]` fixes.
pub fn sniff_file(file: &Path, options: &CsvOptions) -> Result<Dialect> {
    let fixed = options.parts().map_err(Error::Usage)?;
    let mut head = Vec::with_capacity(sniff::SAMPLE_BYTES);
    std::fs::File::open(file)
        .and_then(|f| f.take(sniff::SAMPLE_BYTES as u64).read_to_end(&mut head))
        .map_err(|e| Error::io(format!("reading {}", file.display()), e))?;
    let whole = head.len() < sniff::SAMPLE_BYTES;
    let text = head.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(&head);
    let sample = if whole { text } else { cut_at_line_end(text) };
    // Sniffed as UTF-8: the delimiters, quotes and line ends of a
    // single-byte encoding are the same ASCII bytes, and the header's
    // names come out as their characters.
    let decoded = fixed
        .encoding
        .map(|encoding| encoding.decode_without_bom_handling(sample).0.into_owned());
    let mut dialect = sniff::sniff(decoded.as_ref().map_or(sample, |d| d.as_bytes()), &fixed);
    if let Some(encoding) = fixed.encoding {
        dialect.encoding = Some(encoding);
        dialect
            .evidence
            .push(format!("{} text, from godwit.toml", encoding.name()));
    }
    Ok(dialect)
}

fn problem(line: u64, reason: String, field: Option<String>) -> ValueProblem {
    ValueProblem {
        at: Position {
            line,
            column: 1,
            ..Position::default()
        },
        reason,
        field,
        malformed: false,
    }
}

/// Streams the records of a CSV file to `visit`. Damaged records (and a
/// damaged header) come with their problem, so that the copy rejects
/// them; while `learning` the table's shape and types, they are left out.
/// Blank lines are not records, except in a one-column table, where a
/// blank line between records is a NULL (as PostgreSQL writes one).
pub fn stream(file: &Path, dialect: &Dialect, learning: bool, visit: &mut Visit<'_>) -> Result<()> {
    let input = std::fs::File::open(file).map_err(|e| Error::Source {
        path: file.to_path_buf(),
        message: e.to_string(),
    })?;
    let io = |e: std::io::Error| Error::io(format!("reading {}", file.display()), e);
    let mut reader = CsvReader::new(input, dialect);
    let names = &dialect.columns;
    // The columns' names, shared by every record's members.
    let keys: Vec<Key> = names.iter().map(|name| Key::from(name.as_str())).collect();
    let width = names.len();
    if width > 0 {
        reader.expect_width(width);
    }
    let mut record = Record::default();
    let emit =
        |visit: &mut Visit<'_>, value: &JValue, problem: Option<&ValueProblem>, line: u64, number: Option<u64>| {
            visit(&Rec {
                key: None,
                value,
                problem,
                not_object: false,
                file,
                at: Position {
                    line,
                    ..Position::default()
                },
                csv_record: number,
            })
        };
    if dialect.header {
        let outcome = loop {
            match reader.read(&mut record).map_err(io)? {
                Outcome::Blank(_) => {}
                other => break other,
            }
        };
        if outcome == Outcome::End {
            return Ok(());
        }
        if let Some(why) = dialect.header_problem.as_ref().filter(|_| !learning) {
            let text = raw_text(&record, &outcome, dialect);
            let p = problem(record.line, format!("the header is damaged: {why}"), None);
            if emit(
                visit,
                &JValue::String(text.into()),
                Some(&p),
                record.line,
                Some(record.number),
            )? == Flow::Stop
            {
                return Ok(());
            }
        }
    }
    let mut blanks: Vec<u64> = Vec::new();
    let mut after_blank = false;
    let mut other_table: Option<u64> = None;
    let mut previous_width: Option<(usize, u64)> = None;
    loop {
        let outcome = reader.read(&mut record).map_err(io)?;
        if outcome == Outcome::End {
            break;
        }
        if let Outcome::Blank(line) = outcome {
            if width == 1 {
                blanks.push(line);
            }
            after_blank = true;
            continue;
        }
        // Blank lines before a record are NULLs of a one-column table.
        for line in blanks.drain(..) {
            let value = JValue::Object(vec![(Key::clone(&keys[0]), JValue::Null)]);
            if emit(visit, &value, None, line, None)? == Flow::Stop {
                return Ok(());
            }
        }
        let flow = match outcome {
            Outcome::Damaged(why) => {
                after_blank = false;
                if learning {
                    continue;
                }
                let p = problem(record.line, why, None);
                emit(
                    visit,
                    &JValue::String(record.text().into()),
                    Some(&p),
                    record.line,
                    Some(record.number),
                )?
            }
            _ => {
                // Records of another width after a blank line, or two in a
                // row of the same other width: another table.
                let fields = record.fields.len();
                if fields != width && other_table.is_none() {
                    match previous_width {
                        Some((w, line)) if w == fields => other_table = Some(line),
                        _ if after_blank => other_table = Some(record.line),
                        _ => {}
                    }
                }
                previous_width = (fields != width).then_some((fields, record.line));
                after_blank = false;
                let (value, p) = record_value(&record, dialect, &keys, other_table);
                if learning && p.as_ref().is_some_and(|p| p.field.is_none()) {
                    continue;
                }
                emit(visit, &value, p.as_ref(), record.line, Some(record.number))?
            }
        };
        if flow == Flow::Stop {
            break;
        }
    }
    Ok(())
}

/// A record's text for a reject: its fields joined by the delimiter (or
/// the raw line of a damaged one).
fn raw_text(record: &Record, outcome: &Outcome, dialect: &Dialect) -> String {
    if matches!(outcome, Outcome::Damaged(_)) {
        return record.text();
    }
    let delimiter = String::from_utf8_lossy(&dialect.delimiter);
    (0..record.fields.len())
        .filter_map(|i| record.field(i))
        .map(|(b, _)| match dialect.text(b) {
            Ok(text) => text.into_owned(),
            Err(_) => String::from_utf8_lossy(b).into_owned(),
        })
        .collect::<Vec<_>>()
        .join(&delimiter)
}

/// The record as an object of the columns, and what is wrong with it: a
/// field count other than the table's (no field named), or a value that
/// PostgreSQL text cannot hold (its field named).
fn record_value(
    record: &Record,
    dialect: &Dialect,
    keys: &[Key],
    other_table: Option<u64>,
) -> (JValue, Option<ValueProblem>) {
    let names = &dialect.columns;
    let mut found = None;
    if record.fields.len() != names.len() {
        let against = if dialect.header {
            "the header has"
        } else {
            "the table has"
        };
        let mut reason = format!("{} fields where {against} {}", record.fields.len(), names.len());
        if let Some(line) = other_table {
            reason.push_str(&format!(
                " (line {line} starts a block of another width after a blank line: another table?)"
            ));
        }
        found = Some(problem(record.line, reason, None));
    } else if dialect.header
        && dialect.header_problem.is_none()
        && (0..names.len()).all(|i| record.field(i).is_some_and(|(b, _)| b == names[i].as_bytes()))
    {
        found = Some(problem(
            record.line,
            "the header again: another table starts here?".into(),
            None,
        ));
    }
    let mut members = Vec::with_capacity(names.len());
    for (i, (name, key)) in names.iter().zip(keys).enumerate() {
        let value = match record.field(i) {
            None => JValue::Null,
            Some((bytes, quoted)) if bytes.is_empty() && !quoted => JValue::Null,
            Some((bytes, _)) => match dialect.text(bytes) {
                Ok(text) if text.contains('\0') => {
                    found.get_or_insert_with(|| {
                        problem(
                            record.line,
                            "a NUL character, which PostgreSQL text cannot hold".into(),
                            Some(name.clone()),
                        )
                    });
                    JValue::String(text.replace('\0', "").into())
                }
                Ok(text) => JValue::String(text.as_ref().into()),
                Err(e) => {
                    found.get_or_insert_with(|| {
                        problem(
                            record.line,
                            format!(
                                "invalid UTF-8 (byte 0x{:02x} after {} valid bytes); a file in another encoding \
                                 says so in godwit.toml, e.g. [documents.csv] encoding = \"windows-1252\"",
                                bytes[e.valid_up_to()],
                                e.valid_up_to()
                            ),
                            Some(name.clone()),
                        )
                    });
                    JValue::String(String::from_utf8_lossy(bytes).into())
                }
            },
        };
        members.push((Key::clone(key), value));
    }
    (JValue::Object(members), found)
}

#[cfg(test)]
mod tests {
    use super::dialect::{Escape, Overrides};
    use super::*;
    use std::io::Cursor;

    fn dialect(delimiter: &[u8]) -> Dialect {
        Dialect {
            delimiter: delimiter.to_vec(),
            ..Dialect::default()
        }
    }

    fn records(text: &[u8], d: &Dialect) -> Vec<Result<Vec<(String, bool)>, String>> {
        let all = records_with(text, d, 1 << 16);
        // Every buffer boundary gives the same records.
        for capacity in 8..14 {
            assert_eq!(records_with(text, d, capacity), all, "buffer of {capacity}");
        }
        all
    }

    fn records_with(text: &[u8], d: &Dialect, capacity: usize) -> Vec<Result<Vec<(String, bool)>, String>> {
        let mut r = CsvReader::with_buffer(Cursor::new(text), d, capacity);
        if !d.columns.is_empty() {
            r.expect_width(d.columns.len());
        }
        let mut rec = Record::default();
        let mut out = Vec::new();
        loop {
            match r.read(&mut rec).unwrap() {
                Outcome::End => break,
                Outcome::Blank(_) => {}
                Outcome::Damaged(why) => out.push(Err(format!("line {}: {why}: {}", rec.line, rec.text()))),
                Outcome::Record => out.push(Ok((0..rec.fields.len())
                    .map(|i| {
                        let (b, q) = rec.field(i).unwrap();
                        (String::from_utf8_lossy(b).into_owned(), q)
                    })
                    .collect())),
            }
        }
        out
    }

    fn texts(rows: &[Result<Vec<(String, bool)>, String>]) -> Vec<Vec<String>> {
        rows.iter()
            .map(|r| match r {
                Ok(f) => f.iter().map(|(t, _)| t.clone()).collect(),
                Err(e) => vec![e.clone()],
            })
            .collect()
    }

    #[test]
    fn quoting_as_postgres_reads_it() {
        let rows = records(
            b"\xEF\xBB\xBFa,b,c\r\n1,,\"\"\n\"x\ny\",\" s \",\"q\"\"q\"\r\n",
            &dialect(b","),
        );
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows[1],
            Ok(vec![("1".into(), false), (String::new(), false), (String::new(), true)])
        );
        assert_eq!(texts(&rows)[2], ["x\ny", " s ", "q\"q"]);
    }

    #[test]
    fn multi_byte_delimiters_and_backslash_escapes_are_read() {
        let rows = records(b"a, b, c\n\"x, y\", 2, 3\n", &dialect(b", "));
        assert_eq!(texts(&rows), [vec!["a", "b", "c"], vec!["x, y", "2", "3"]]);
        let d = Dialect {
            quote: Some(b'\''),
            escape: Escape::Backslash,
            ..dialect(b";")
        };
        let rows = records(b"'it\\'s';'a\\\\b'\n", &d);
        assert_eq!(texts(&rows), [vec!["it's", "a\\b"]]);
    }

    #[test]
    fn a_runaway_quote_is_one_damaged_line_and_reading_goes_on() {
        let d = Dialect {
            columns: vec!["a".into(), "b".into()],
            ..dialect(b",")
        };
        let rows = records(b"1,x\n2,\"open\n3,y\n4,\"z\"\n5,w\n", &d);
        let t = texts(&rows);
        assert_eq!(t[0], ["1", "x"]);
        assert!(t[1][0].starts_with("line 2: "), "{t:?}");
        assert_eq!(&t[2..], [vec!["3", "y"], vec!["4", "z"], vec!["5", "w"]]);
        // Cut short: the file ends inside the quote.
        let rows = records(b"1,x\n2,\"open\n3,y\n", &d);
        assert!(texts(&rows)[1][0].contains("never closed"), "{rows:?}");
        assert_eq!(texts(&rows)[2], ["3", "y"]);
    }

    #[test]
    fn dialects_are_detected_from_many_lines() {
        let sniff = |text: &[u8]| sniff::sniff(text, &Overrides::default());
        let d = sniff(b"a;b;c\n1,5;2;3\n4,5;6;7\n");
        assert_eq!(d.delimiter, b";");
        let d = sniff(b"name age city\nann 31 Paris\nbob 42 Rome\ncid 25 Oslo\n");
        assert_eq!(d.delimiter, b" ");
        let d = sniff(b"\"a\", \"b\"\n\"x, y\", 2\n\"z\", 3\n");
        assert_eq!(d.delimiter, b", ");
        let d = sniff(b"'id','name'\n1,'ann, jr'\n2,'bob'\n");
        assert_eq!((d.delimiter.as_slice(), d.quote), (&b","[..], Some(b'\'')));
        let d = sniff(b"1,2.5,2024-01-01\n2,3.5,2024-01-02\n3,4.5,2024-01-03\n");
        assert!(!d.header, "{:?}", d.evidence);
        assert_eq!(d.columns, ["column1", "column2", "column3"]);
    }

    #[test]
    fn the_delimiter_for_telling_csv_from_text() {
        assert_eq!(detect_delimiter(b"a;b;c\n1,5;2;3"), b';');
        assert_eq!(detect_delimiter(b"a\tb\n1\t2\n"), b'\t');
        assert_eq!(detect_delimiter(b"\"a,b\"|c\n1|2\n"), b'|');
        assert_eq!(detect_delimiter(b"single\n"), b',');
    }
}
