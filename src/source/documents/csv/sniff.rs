//! Dialect detection over a sample of the file's first lines.
//!
//! Every candidate dialect (delimiter × quote × escape × comment) parses
//! the sample, and the table it gives is scored by its consistency, as
//! CleverCSV does ("Wrangling Messy CSV Files by Detecting Row and Type
//! Patterns", van den Burg et al. 2019): a pattern score, high when most
//! records have the same number of fields (and more than one), times a
//! type score, the share of cells whose text is of a recognisable type
//! (number, date, word, empty...). The best score wins; ties go to the more
//! usual dialect. Then, with the dialect chosen, as DuckDB's sniffer does:
//! the records before the first run of records of the table's width are a
//! preamble, and the first record is a header when its cells are names
//! where the cells below are numbers, dates or booleans.

use std::io::Cursor;

use super::cells::{Cell, classify};
use super::dialect::{Dialect, Escape, Overrides, shown_bytes};
use super::reader::{CsvReader, Outcome, Record};

/// Bytes of the file read to detect its dialect.
pub const SAMPLE_BYTES: usize = 256 * 1024;
/// Records each candidate dialect parses to be scored.
const SCORED_RECORDS: usize = 500;
/// Bytes that may separate fields; more than one of them in a row (`, `,
/// ` | `, `||`) is found from how they are surrounded.
const DELIMITER_BYTES: &[u8] = b",;\t| :~^#&!";
/// Patterns of one field count as this much (CleverCSV's epsilon): a
/// dialect that does not split is a poor one, but still comparable.
const EPSILON: f64 = 1e-3;

/// One record of the sample as a dialect reads it.
#[derive(Debug, Clone)]
enum Sampled {
    Fields {
        line: u64,
        /// Line the next record starts on, blank lines not counted.
        end_line: u64,
        cells: Vec<(String, Cell)>,
    },
    Damaged {
        line: u64,
        text: String,
    },
    Blank(u64),
}

impl Sampled {
    fn width(&self) -> Option<usize> {
        match self {
            Sampled::Fields { cells, .. } => Some(cells.len()),
            _ => None,
        }
    }

    fn line(&self) -> u64 {
        match self {
            Sampled::Fields { line, .. } | Sampled::Damaged { line, .. } | Sampled::Blank(line) => *line,
        }
    }
}

fn read_sample(sample: &[u8], dialect: &Dialect, limit: usize) -> Vec<Sampled> {
    let mut reader = CsvReader::new(Cursor::new(sample), dialect);
    let mut record = Record::default();
    let mut out = Vec::new();
    let mut records = 0;
    while records < limit {
        let Ok(outcome) = reader.read(&mut record) else { break };
        match outcome {
            Outcome::End => break,
            Outcome::Blank(line) => out.push(Sampled::Blank(line)),
            Outcome::Damaged(_) => {
                records += 1;
                out.push(Sampled::Damaged {
                    line: record.line,
                    text: record.text(),
                });
            }
            Outcome::Record => {
                records += 1;
                let cells = (0..record.fields.len())
                    .filter_map(|i| record.field(i))
                    .map(|(bytes, quoted)| (String::from_utf8_lossy(bytes).into_owned(), classify(bytes, quoted)))
                    .collect();
                out.push(Sampled::Fields {
                    line: record.line,
                    end_line: reader.line(),
                    cells,
                });
            }
        }
    }
    out
}

/// CleverCSV's pattern score over field counts, times the type score.
fn consistency(records: &[Sampled]) -> (f64, f64) {
    let mut patterns: Vec<(usize, usize)> = Vec::new();
    let mut cells = 0usize;
    let mut known = 0usize;
    for r in records {
        let width = match r {
            // A damaged record counts for nothing, and is no pattern of its
            // own: one stray quote should not outweigh the quoting of
            // every other record.
            Sampled::Blank(_) | Sampled::Damaged { .. } => continue,
            Sampled::Fields { cells: c, .. } => {
                cells += c.len();
                known += c.iter().filter(|(_, t)| t.is_known()).count();
                c.len()
            }
        };
        match patterns.iter_mut().find(|(w, _)| *w == width) {
            Some((_, n)) => *n += 1,
            None => patterns.push((width, 1)),
        }
    }
    if patterns.is_empty() {
        return (0.0, 0.0);
    }
    let pattern: f64 = patterns
        .iter()
        .map(|&(width, n)| {
            let l = width.max(1) as f64;
            n as f64 * EPSILON.max(l - 1.0) / l
        })
        .sum::<f64>()
        / patterns.len() as f64;
    let types = if cells == 0 { 0.0 } else { known as f64 / cells as f64 };
    (pattern, types.max(1e-10))
}

/// The delimiters worth trying: bytes on most lines, and their usual
/// company (`, ` when every comma is followed by a space).
fn delimiter_candidates(sample: &[u8]) -> Vec<Vec<u8>> {
    let lines: Vec<&[u8]> = sample
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty() && l != b"\r")
        .take(SCORED_RECORDS)
        .collect();
    let mut out: Vec<Vec<u8>> = Vec::new();
    for &d in DELIMITER_BYTES {
        let on_lines = lines.iter().filter(|l| l.contains(&d)).count();
        if on_lines == 0 || on_lines * 3 < lines.len() {
            continue;
        }
        out.push(vec![d]);
        if d == b' ' {
            continue;
        }
        // What surrounds it, when it is always the same.
        let mut total = 0usize;
        let mut after_space = 0usize;
        let mut before_space = 0usize;
        let mut doubled = 0usize;
        for l in &lines {
            for (i, &b) in l.iter().enumerate() {
                if b != d {
                    continue;
                }
                total += 1;
                if l.get(i + 1) == Some(&b' ') {
                    after_space += 1;
                }
                if i > 0 && l[i - 1] == b' ' {
                    before_space += 1;
                }
                if l.get(i + 1) == Some(&d) {
                    doubled += 1;
                }
            }
        }
        let mostly = |n: usize| n * 10 >= total * 9;
        if mostly(after_space) && mostly(before_space) {
            out.push(vec![b' ', d, b' ']);
        } else if mostly(after_space) {
            out.push(vec![d, b' ']);
        }
        if mostly(doubled * 2) {
            out.push(vec![d, d]);
        }
    }
    if out.is_empty() {
        out.push(b",".to_vec());
    }
    out
}

/// Whether a quote starts a field somewhere: at a line start or after the delimiter.
fn opens_fields(sample: &[u8], delimiter: &[u8], quote: u8) -> bool {
    sample.first() == Some(&quote)
        || sample.windows(2).any(|w| w == [b'\n', quote])
        || sample
            .windows(delimiter.len() + 1)
            .any(|w| w[..delimiter.len()] == *delimiter && w[delimiter.len()] == quote)
}

/// `sep=;` on the first line (as spreadsheets write it): the delimiter, said outright.
fn separator_line(sample: &[u8]) -> Option<Vec<u8>> {
    let first = sample.split(|&b| b == b'\n').next()?;
    let first = first.strip_suffix(b"\r").unwrap_or(first);
    let d = first.strip_prefix(b"sep=")?;
    (!d.is_empty() && d.len() <= 4).then(|| d.to_vec())
}

struct Scored {
    dialect: Dialect,
    pattern: f64,
    types: f64,
    /// Records the sample gave (blank lines not counted).
    records: usize,
}

impl Scored {
    fn score(&self) -> f64 {
        self.pattern * self.types
    }
}

/// Detects the dialect of a sample (the file's first bytes, BOM removed,
/// ideally cut at a line end), with what configuration fixes.
pub fn sniff(sample: &[u8], fixed: &Overrides) -> Dialect {
    let mut evidence = Vec::new();
    let mut skip_lines = 0u64;
    let mut from_line = sample;
    let mut delimiters = match &fixed.delimiter {
        Some(d) => {
            evidence.push(format!("delimiter {} from godwit.toml", shown_bytes(d)));
            vec![d.clone()]
        }
        None => match separator_line(sample) {
            Some(d) => {
                evidence.push(format!("delimiter {} from the file's sep= line", shown_bytes(&d)));
                skip_lines = 1;
                vec![d]
            }
            None => Vec::new(),
        },
    };
    if skip_lines > 0 {
        let cut = sample.iter().position(|&b| b == b'\n').map_or(sample.len(), |i| i + 1);
        from_line = &sample[cut..];
    }
    if delimiters.is_empty() {
        delimiters = delimiter_candidates(from_line);
    }
    let quotes: Vec<Option<u8>> = match fixed.quote {
        Some(q) => vec![q],
        None => {
            let mut q = vec![];
            if from_line.contains(&b'"') {
                q.push(Some(b'"'));
            }
            q.push(None);
            if from_line.contains(&b'\'') {
                q.push(Some(b'\''));
            }
            q
        }
    };
    let escapes: Vec<Escape> = match fixed.escape {
        Some(e) => vec![e],
        None if from_line.windows(2).any(|w| w == b"\\\"" || w == b"\\'") => {
            vec![Escape::Doubled, Escape::Backslash]
        }
        None => vec![Escape::Doubled],
    };
    let comments: Vec<Option<u8>> = match fixed.comment {
        Some(c) => vec![c],
        None if from_line.starts_with(b"#") || from_line.windows(2).any(|w| w == b"\n#") => vec![None, Some(b'#')],
        None => vec![None],
    };

    let mut best: Option<Scored> = None;
    let mut tried: Vec<(String, f64, f64)> = Vec::new();
    for delimiter in &delimiters {
        for &quote in &quotes {
            for &escape in &escapes {
                if quote.is_none() && escape == Escape::Backslash {
                    continue;
                }
                for &comment in &comments {
                    if comment.is_some_and(|c| delimiter.contains(&c)) {
                        continue;
                    }
                    let dialect = Dialect {
                        delimiter: delimiter.clone(),
                        quote,
                        escape,
                        comment,
                        skip_lines,
                        ..Dialect::default()
                    };
                    let records = read_sample(sample, &dialect, SCORED_RECORDS);
                    let (pattern, mut types) = consistency(&records);
                    // A field that starts with a quote is evidence of
                    // quoting, which a small sample's counts may not show.
                    if quote.is_none() && quotes.len() > 1 && opens_fields(sample, delimiter, b'"') {
                        types *= 0.5;
                    }
                    let scored = Scored {
                        dialect,
                        pattern,
                        types,
                        records: records.iter().filter(|r| !matches!(r, Sampled::Blank(_))).count(),
                    };
                    tried.push((scored.dialect.summary_parts(), pattern, types));
                    // Candidates come most usual first: a later one must do better.
                    if best.as_ref().is_none_or(|b| scored.score() > b.score() * (1.0 + 1e-9)) {
                        best = Some(scored);
                    }
                }
            }
        }
    }
    let Some(best) = best else {
        return Dialect::default();
    };
    tried.sort_by(|a, b| (b.1 * b.2).total_cmp(&(a.1 * a.2)));
    let shown: Vec<String> = tried
        .iter()
        .take(4)
        .map(|(what, p, t)| format!("{what}: pattern {p:.2} × type {t:.2} = {:.2}", p * t))
        .collect();
    evidence.push(format!(
        "consistency over the first {} records of {} dialect(s) tried: {}",
        best.records,
        tried.len(),
        shown.join("; ")
    ));
    let mut dialect = best.dialect;
    dialect.evidence = evidence;
    shape(sample, dialect, fixed)
}

impl Dialect {
    /// The splitting parts only, to name a candidate.
    fn summary_parts(&self) -> String {
        let quote = match (self.quote, self.escape) {
            (None, _) => "no quoting".to_string(),
            (Some(q), Escape::Doubled) => format!("quote {}", shown_bytes(&[q])),
            (Some(q), Escape::Backslash) => format!("quote {} with \\ escapes", shown_bytes(&[q])),
        };
        let comment = self
            .comment
            .map(|c| format!(", comments {}", shown_bytes(&[c])))
            .unwrap_or_default();
        format!("{} {quote}{comment}", shown_bytes(&self.delimiter))
    }
}

/// With the splitting decided: where the table starts, its width, whether
/// it has a header, and its column names.
fn shape(sample: &[u8], mut dialect: Dialect, fixed: &Overrides) -> Dialect {
    let records = read_sample(sample, &dialect, usize::MAX);
    let mut counts: Vec<(usize, usize)> = Vec::new();
    for w in records.iter().filter_map(Sampled::width) {
        match counts.iter_mut().find(|(x, _)| *x == w) {
            Some((_, n)) => *n += 1,
            None => counts.push((w, 1)),
        }
    }
    let (width, in_width) = counts.iter().copied().max_by_key(|&(w, n)| (n, w)).unwrap_or((1, 0));
    let rows = records.iter().filter(|r| !matches!(r, Sampled::Blank(_))).count();
    dialect
        .evidence
        .push(format!("{width} field(s) in {in_width} of {rows} records sampled"));

    // The table starts at the first record of its width that is not a
    // spreadsheet's preamble row (a title, then empty cells).
    let data: Vec<&Sampled> = records.iter().filter(|r| !matches!(r, Sampled::Blank(_))).collect();
    if data.is_empty() {
        return dialect;
    }
    let dense = |r: &Sampled| match r {
        Sampled::Fields { cells, .. } => {
            cells.len() == width && !(width >= 3 && cells[1..].iter().all(|(t, _)| t.is_empty()))
        }
        _ => false,
    };
    let first_fit = (0..data.len()).find(|&i| dense(data[i])).unwrap_or(0);
    let mut start = first_fit;
    let mut damaged_header = None;
    if first_fit > 0 && width > 1 && fixed.header != Some(false) && !header_evidence(&data[first_fit..], width).0 {
        // The record right above (no blank line between) is a header of the
        // wrong shape, not a preamble line.
        let above = data[first_fit - 1];
        let adjacent = match above {
            Sampled::Fields { end_line, .. } => *end_line == data[first_fit].line(),
            Sampled::Damaged { line, .. } => line + 1 == data[first_fit].line(),
            Sampled::Blank(_) => false,
        };
        let header_like = match above {
            Sampled::Fields { cells, .. } => cells.len() > 1 && cells.iter().all(|(_, t)| !t.is_typed()),
            _ => true,
        };
        if adjacent && header_like {
            start = first_fit - 1;
            damaged_header = Some(above);
        }
    }
    if let Some(skip) = fixed.skip_lines {
        dialect.skip_lines = skip;
    } else if start > 0 {
        let first_line = data[start].line();
        let skipped = (first_line - 1).saturating_sub(dialect.skip_lines);
        dialect.evidence.push(format!(
            "lines 1 to {} are a preamble before the table: {} record(s) of another width ({})",
            first_line - 1,
            start,
            data[..start]
                .iter()
                .take(3)
                .map(|r| match r {
                    Sampled::Fields { cells, .. } => format!(
                        "{:?}",
                        cells.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>().join(" ")
                    ),
                    Sampled::Damaged { text, .. } => format!("{text:?}"),
                    Sampled::Blank(_) => String::new(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ));
        dialect.skip_lines += skipped;
    }
    let table = &data[start.min(data.len())..];

    // Header or not.
    match (fixed.header, damaged_header) {
        (Some(h), _) => {
            dialect.header = h;
            dialect.evidence.push(format!(
                "{} from godwit.toml",
                if h { "header row" } else { "no header row" }
            ));
        }
        (None, Some(_)) => dialect.header = true,
        (None, None) => {
            let (header, why) = header_evidence(table, width);
            dialect.header = header;
            dialect.evidence.push(why);
        }
    }

    // Column names.
    if let Some(above) = damaged_header.filter(|_| dialect.header) {
        let (names, why) = repaired_header(above, width, &dialect, sample);
        dialect.columns = dedupe(names);
        dialect.header_problem = Some(why.clone());
        dialect.evidence.push(format!("the header is damaged: {why}"));
    } else if dialect.header {
        let names = match table.first() {
            Some(Sampled::Fields { cells, .. }) => cells.iter().map(|(t, _)| t.clone()).collect(),
            _ => Vec::new(),
        };
        if names.len() != width && !names.is_empty() {
            let (names, why) = reconciled(names, width);
            dialect.header_problem = Some(why.clone());
            dialect.evidence.push(format!("the header is damaged: {why}"));
            dialect.columns = dedupe(names);
        } else {
            dialect.columns = dedupe(names);
        }
    } else {
        dialect.columns = (1..=width).map(|i| format!("column{i}")).collect();
        dialect.evidence.push(format!("columns named column1 to column{width}"));
    }

    // Another table further down: a run of records of another width, or
    // the header again.
    let body = &data[start + usize::from(dialect.header)..];
    for (i, r) in body.iter().enumerate() {
        let Sampled::Fields { line, cells, .. } = r else {
            continue;
        };
        let repeats_header = dialect.header
            && cells.len() == dialect.columns.len()
            && cells.iter().zip(&dialect.columns).all(|((t, _), n)| t == n);
        let run = body[i..]
            .iter()
            .take(3)
            .filter(|n| n.width() == Some(cells.len()))
            .count();
        let header_like = cells.iter().all(|(_, t)| !t.is_typed());
        if repeats_header || (cells.len() != width && run == 3 && header_like) {
            dialect.evidence.push(format!(
                "line {line} starts another table ({}): its records load only where they have {width} fields, the others are rejected",
                if repeats_header {
                    "the header again".to_string()
                } else {
                    format!("{} fields from there on", cells.len())
                }
            ));
            break;
        }
    }
    dialect
}

/// Whether the first record is a header, and why: its cells against the
/// types of the cells below them.
fn header_evidence(table: &[&Sampled], width: usize) -> (bool, String) {
    let Some(Sampled::Fields { cells: first, .. }) = table.first() else {
        return (true, "header row (nothing to compare it with)".into());
    };
    let below: Vec<&Vec<(String, Cell)>> = table[1..]
        .iter()
        .filter_map(|r| match r {
            Sampled::Fields { cells, .. } if cells.len() == width => Some(cells),
            _ => None,
        })
        .collect();
    let mut names_over_typed = Vec::new();
    let mut typed_like_below = Vec::new();
    for (j, (text, cell)) in first.iter().enumerate() {
        let column: Vec<Cell> = below
            .iter()
            .filter_map(|c| c.get(j).map(|x| x.1))
            .filter(|t| *t != Cell::Empty)
            .collect();
        if column.is_empty() {
            continue;
        }
        let typed = column.iter().filter(|t| t.is_typed()).count();
        let mostly_typed = typed * 10 >= column.len() * 9;
        if mostly_typed && !cell.is_typed() && *cell != Cell::Empty {
            names_over_typed.push(format!("{text:?} over {}", column[0].name()));
        } else if mostly_typed && cell.is_typed() {
            typed_like_below.push(format!("{text:?} like the {} below", column[0].name()));
        }
    }
    // As DuckDB decides: one column whose first cell does not have the
    // type of the values below it makes the first record a header.
    if !names_over_typed.is_empty() {
        return (
            true,
            format!(
                "header row: its cells are names where the records below hold typed values ({})",
                names_over_typed.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
            ),
        );
    }
    if !typed_like_below.is_empty() {
        return (
            false,
            format!(
                "no header row: the first record holds values of the types below it ({})",
                typed_like_below.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
            ),
        );
    }
    // Only text: a header when its cells are non-empty and not repeated below.
    let named = first.iter().all(|(t, _)| !t.is_empty());
    let repeated = first
        .iter()
        .enumerate()
        .any(|(j, (t, _))| below.iter().any(|c| c.get(j).is_some_and(|x| &x.0 == t)));
    if named && !repeated {
        (
            true,
            "header row: every column is text, and the first record's cells are names not repeated below".into(),
        )
    } else {
        (
            false,
            "no header row: every column is text, and the first record has empty or repeated cells".into(),
        )
    }
}

/// Names from a damaged header: its fields as read when they fit the
/// table's width; else its line split at the delimiter with quotes
/// dropped, when that fits (a stray quote); else the fields fitted to the
/// width by [`reconciled`].
fn repaired_header(above: &Sampled, width: usize, dialect: &Dialect, sample: &[u8]) -> (Vec<String>, String) {
    let raw = sample
        .split(|&b| b == b'\n')
        .nth(usize::try_from(above.line().saturating_sub(1)).unwrap_or(usize::MAX))
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .unwrap_or_default();
    let quote = dialect.quote.map(char::from);
    let plain: Vec<String> = split_bytes(raw, &dialect.delimiter)
        .into_iter()
        .map(|f| {
            let t = String::from_utf8_lossy(f).into_owned();
            match quote {
                Some(q) => t.replace(q, ""),
                None => t,
            }
        })
        .collect();
    let read = match above {
        Sampled::Fields { cells, .. } => Some(cells.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>()),
        _ => None,
    };
    let non_empty = |names: &[String]| names.iter().filter(|n| !n.is_empty()).count();
    if let Some(read) = read.as_ref().filter(|r| r.len() == width) {
        return (read.clone(), "its fields are read as they are".into());
    }
    let stray = match (&read, quote) {
        (None, _) => true,
        (Some(r), Some(q)) => r.iter().any(|n| n.contains(q)),
        (Some(_), None) => false,
    };
    if stray && (plain.len() == width || (plain.len() > width && non_empty(&plain) == width)) {
        let (names, _) = reconciled(plain, width);
        let why = format!(
            "its quoting is broken (a stray quote); read without quotes, the columns are named {}",
            names.join(", ")
        );
        return (names, why);
    }
    reconciled(read.unwrap_or(plain), width)
}

/// Fits header names to the width of the records below: empty names are
/// dropped first when there are too many, then the last ones; missing
/// ones are named `columnN`.
fn reconciled(mut names: Vec<String>, width: usize) -> (Vec<String>, String) {
    let had = names.len();
    if names.len() > width {
        while names.len() > width {
            match names.iter().rposition(String::is_empty) {
                Some(i) => {
                    names.remove(i);
                }
                None => {
                    names.truncate(width);
                }
            }
        }
    }
    while names.len() < width {
        names.push(format!("column{}", names.len() + 1));
    }
    let why = format!(
        "the header has {had} field(s) where the records below have {width}: the columns are named {}",
        names.join(", ")
    );
    (names, why)
}

fn split_bytes<'a>(text: &'a [u8], delimiter: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + delimiter.len() <= text.len() {
        if text[i..].starts_with(delimiter) {
            out.push(&text[start..i]);
            i += delimiter.len();
            start = i;
        } else {
            i += 1;
        }
    }
    out.push(&text[start..]);
    out
}

/// Column names made usable: NULs dropped, empty names `column_N`,
/// repeated names suffixed.
pub fn dedupe(raw: Vec<String>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (i, name) in raw.into_iter().enumerate() {
        let mut name = name.replace('\0', "");
        if name.is_empty() {
            name = format!("column_{}", i + 1);
        }
        let base = name.clone();
        let mut n = 2;
        while names.contains(&name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        names.push(name);
    }
    names
}
