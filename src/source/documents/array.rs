//! A JSON file holding one array of records, read on every core. A quick
//! pass over the bytes, which follows only strings and nesting, finds
//! where the top-level elements end and cuts the array into ranges of
//! whole elements; workers parse the ranges, and the records come to the
//! caller in file order with exact lines, columns and bytes.
//!
//! The quick pass can be misled only by malformed JSON, and then a range
//! fails to parse (each is parsed strictly: values separated by commas).
//! From the first range that fails, the file is read as it always was, one
//! element after another, so an error is the one a sequential read gives,
//! at the same place.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use super::json::JsonReader;
use super::lines::{Fold, Folding, FoundRange, Gather, ParsedRange, Ranges, Span, Split, each_span, open_span};
use super::records::{Parsed, Visit, as_record, syntax, trailing, visit_value};
use crate::error::{Error, Result};
use crate::source::Flow;

fn read_error(file: &Path, e: std::io::Error) -> Error {
    Error::io(format!("reading {}", file.display()), e)
}

/// Where the array closes: its `]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Close {
    at: u64,
    line_start: u64,
    lines_before: u64,
}

/// Where a range being grown starts, for reading on from there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Open {
    start: u64,
    line_start: u64,
    lines_before: u64,
}

/// How the quick pass ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CutEnd {
    /// At the array's `]`: every range was found.
    Closed(Close),
    /// At something only a full parse can judge (or the end of the file):
    /// the rest is read from the start of the range being grown, or the
    /// whole file when no range was found.
    GaveUp(Option<Open>),
    /// The reader wanted no more ranges.
    Stopped,
}

/// The bytes the quick pass must see inside an element.
static INSIDE: [bool; 256] = {
    let mut table = [false; 256];
    let mut k = 0;
    let special = *b"\"[]{}\n";
    while k < special.len() {
        table[special[k] as usize] = true;
        k += 1;
    }
    table
};

/// The quick pass: ranges of about `range_bytes`, each ending before a
/// comma between two top-level elements, handed on as they are found.
fn cut(f: &mut File, range_bytes: u64, found: &mut FoundRange<'_>) -> std::io::Result<CutEnd> {
    let mut buf = vec![0u8; 1 << 20];
    let mut base = 0u64;
    let mut lines = 0u64;
    let mut line_start = 0u64;
    let mut depth = 0u32;
    let mut in_string = false;
    let mut escaped = false;
    let mut any_found = false;
    // The range being grown: its start, its line's start, lines before it,
    // and whether anything but whitespace is in it yet.
    let mut open: Option<(u64, u64, u64, bool)> = None;
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => {
                let open = open.filter(|_| any_found);
                return Ok(CutEnd::GaveUp(open.map(|(start, line_start, lines_before, _)| Open {
                    start,
                    line_start,
                    lines_before,
                })));
            }
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let bytes = &buf[..n];
        let mut i = 0;
        while i < n {
            if in_string {
                if escaped {
                    escaped = false;
                    i += 1;
                    continue;
                }
                match memchr::memchr2(b'"', b'\\', &bytes[i..]) {
                    None => i = n,
                    Some(j) => {
                        if bytes[i + j] == b'\\' {
                            escaped = true;
                        } else {
                            in_string = false;
                        }
                        i += j + 1;
                    }
                }
                continue;
            }
            if depth >= 2 {
                // Inside an element: only strings, nesting and line ends
                // matter (its range already has content), so the bytes
                // between them are skipped without the steps below.
                i += bytes[i..].iter().position(|&b| INSIDE[usize::from(b)]).unwrap_or(n - i);
                if i == n {
                    continue;
                }
            }
            let at = base + i as u64;
            let b = bytes[i];
            i += 1;
            match b {
                b'\n' => {
                    lines += 1;
                    line_start = at + 1;
                    continue;
                }
                b' ' | b'\t' | b'\r' => continue,
                _ => {}
            }
            if depth == 0 {
                // Before the array: a byte order mark, then `[`.
                match b {
                    b'[' => {
                        depth = 1;
                        open = Some((at + 1, line_start, lines, false));
                    }
                    0xEF | 0xBB | 0xBF if at < 3 => {}
                    _ => return Ok(CutEnd::GaveUp(None)),
                }
                continue;
            }
            let Some((start, start_line, lines_before, content)) = open.as_mut() else {
                return Ok(CutEnd::GaveUp(None));
            };
            if depth == 1 && (b == b',' || b == b']') {
                if !*content {
                    // `[]`, `[1,]`, `[,`: for the full parse to judge.
                    return Ok(CutEnd::GaveUp(any_found.then_some(Open {
                        start: *start,
                        line_start: *start_line,
                        lines_before: *lines_before,
                    })));
                }
                if b == b']' || at - *start >= range_bytes {
                    let span = Span {
                        start: *start,
                        end: at,
                        line_start: *start_line,
                        lines_before: Some(*lines_before),
                    };
                    if !found(span) {
                        return Ok(CutEnd::Stopped);
                    }
                    any_found = true;
                    if b == b']' {
                        return Ok(CutEnd::Closed(Close {
                            at,
                            line_start,
                            lines_before: lines,
                        }));
                    }
                    open = Some((at + 1, line_start, lines, false));
                } else {
                    *content = false;
                }
                continue;
            }
            *content = true;
            match b {
                b'"' => in_string = true,
                b'[' | b'{' => depth += 1,
                b']' | b'}' => depth -= 1,
                _ => {}
            }
        }
        base += n as u64;
    }
}

/// Streams the elements of a file's top-level array to `visit`, in
/// order, parsed on `split.workers` threads; `sequential` reads it the
/// plain way (small files, or when the quick pass cannot cut it).
pub fn each(
    file: &Path,
    split: Split,
    folding: Option<Folding<'_, '_>>,
    visit: &mut Visit<'_>,
    sequential: &mut dyn FnMut(&mut Visit<'_>) -> Result<()>,
) -> Result<()> {
    let mut f = File::open(file).map_err(|e| Error::Source {
        path: file.to_path_buf(),
        message: e.to_string(),
    })?;
    let len = f.metadata().map_err(|e| read_error(file, e))?.len();
    if split.workers <= 1 || len <= split.range_bytes {
        return sequential(visit);
    }
    let mut end = Ok(CutEnd::Stopped);
    let mut find = |found: &mut FoundRange<'_>| end = cut(&mut f, split.range_bytes, found);
    let mut stopped = false;
    let mut read_on = false;
    let mut counted = |rec: &super::records::Rec<'_>| {
        let flow = visit(rec)?;
        stopped |= flow == Flow::Stop;
        Ok(flow)
    };
    let mut fallback = |span: &Span, lines_before: u64, _: Error, visit: &mut Visit<'_>| {
        read_on = true;
        read_from(file, span, lines_before, visit)
    };
    let (fold, mut take) = match folding {
        Some(Folding { fold, take }) => (Some(fold), Some(take)),
        None => (None, None),
    };
    let mut batch_stopped = false;
    let mut counted_take = |batch: super::lines::Made| {
        let take = take
            .as_deref_mut()
            .ok_or_else(|| Error::Other("a batch nobody takes".into()))?;
        let flow = take(batch)?;
        batch_stopped |= flow == Flow::Stop;
        Ok(flow)
    };
    each_span(
        file,
        Ranges::Found(&mut find),
        split.workers,
        &|span| parse_elements(file, span, fold),
        &mut fallback,
        &mut counted,
        Some(&mut counted_take),
    )?;
    let stopped = stopped || batch_stopped;
    if stopped || read_on {
        return Ok(());
    }
    let close = match end.map_err(|e| read_error(file, e))? {
        CutEnd::Closed(close) => close,
        // Nothing was found, so nothing was read: the plain way, whole.
        CutEnd::GaveUp(None) => return sequential(visit),
        // Read on, one element after another, as a sequential read does.
        CutEnd::GaveUp(Some(open)) => {
            let span = Span {
                start: open.start,
                end: len,
                line_start: open.line_start,
                lines_before: Some(open.lines_before),
            };
            return read_from(file, &span, open.lines_before, visit);
        }
        CutEnd::Stopped => return Ok(()),
    };
    // Past the `]`, nothing but whitespace.
    let rest = Span {
        start: close.at,
        end: len,
        line_start: close.line_start,
        lines_before: None,
    };
    let mut r = open_span(file, &rest)?;
    r.set_line(close.lines_before + 1);
    if r.next_element(&mut false).map_err(|e| syntax(file, &e))? {
        return Err(Error::Other(format!(
            "{}: the array did not end where it was cut",
            file.display()
        )));
    }
    trailing(&mut r, file)
}

/// One range: elements separated by commas, each a record. A range that
/// fails holds nothing, not even what was made of its first records: it
/// is read again from its start.
fn parse_elements(file: &Path, span: &Span, fold: Option<&Fold<'_>>) -> ParsedRange {
    let mut r = match open_span(file, span) {
        Ok(r) => r,
        Err(e) => return ParsedRange::failed(e),
    };
    let mut gather = Gather::new(fold);
    loop {
        r.skip_ws();
        let at = r.position();
        // An element the maker takes as it stands in its line is not
        // parsed here; what follows it is read as after any other. A line
        // the buffer cuts short is no match (its object never closes).
        let taken = if gather.takes_lines() {
            gather.take_line(r.line_so_far().0, at, false)
        } else {
            None
        };
        match taken {
            Some(end) => r.advance(end),
            None => {
                let value = match r.value() {
                    Ok(v) => v,
                    Err(e) => return ParsedRange::failed(syntax(file, &e)),
                };
                let problem = r.take_problem();
                let (value, not_object) = as_record(value);
                gather.push(Parsed {
                    value,
                    not_object,
                    problem,
                    at,
                });
            }
        }
        match r.separator() {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return ParsedRange::failed(syntax(file, &e)),
        }
    }
    if let Some(e) = r.take_io_error() {
        return ParsedRange::failed(read_error(file, e));
    }
    gather.finish(r.position().line - 1, None)
}

/// Reads on from the start of a range to the end of the file, one element
/// after another, as a sequential read does from there.
fn read_from(file: &Path, span: &Span, lines_before: u64, visit: &mut Visit<'_>) -> Result<()> {
    let mut f = File::open(file).map_err(|e| read_error(file, e))?;
    f.seek(SeekFrom::Start(span.start)).map_err(|e| read_error(file, e))?;
    let mut r = JsonReader::starting_at(f, span.start, span.line_start);
    r.set_line(lines_before + 1);
    loop {
        if visit_value(&mut r, None, file, visit)? == Flow::Stop {
            return Ok(());
        }
        if !r.next_element(&mut false).map_err(|e| syntax(file, &e))? {
            break;
        }
    }
    trailing(&mut r, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ranges the quick pass finds, when it gets to the `]`.
    fn cut_of(text: &str, range_bytes: u64) -> Option<Vec<(u64, u64, u64)>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        std::fs::write(&path, text).unwrap();
        let mut f = File::open(&path).unwrap();
        let mut spans = Vec::new();
        let end = cut(&mut f, range_bytes, &mut |s| {
            spans.push((s.start, s.end, s.lines_before.unwrap()));
            true
        })
        .unwrap();
        matches!(end, CutEnd::Closed(_)).then_some(spans)
    }

    #[test]
    fn ranges_end_between_top_level_elements_only() {
        // Commas inside strings, objects and arrays do not cut.
        let text = "[{\"a\": \"x,]\\\"\"},\n [1, [2, 3]],\n 4]";
        assert_eq!(cut_of(text, 1), Some(vec![(1, 15, 0), (16, 29, 0), (30, 33, 1)]));
        assert_eq!(cut_of(text, 1000), Some(vec![(1, 33, 0)]));
    }

    #[test]
    fn inside_elements_only_strings_nesting_and_line_ends_count() {
        // Line ends deep in an element, and brackets in an escaped string.
        let text = "[{\"a\":\n{\"b\": [1,\n2]}},\n{\"c\": \"}\\n{\"}\n]";
        assert_eq!(cut_of(text, 1), Some(vec![(1, 21, 0), (22, 37, 2)]));
        assert_eq!(cut_of(text, 1000), Some(vec![(1, 37, 0)]));
    }

    #[test]
    fn what_only_a_full_parse_can_judge_is_not_cut() {
        for text in ["[1,]", "[]", "[1, 2", "{\"a\": 1}", "[1}, 2]"] {
            assert_eq!(cut_of(text, 1), None, "{text}");
        }
    }
}
