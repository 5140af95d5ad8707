//! CSV and TSV read as PostgreSQL's COPY ... CSV reads them: RFC 4180
//! quoting (quoted newlines and doubled quotes), UTF-8 with an optional
//! BOM, nothing trimmed, and an unquoted empty field is NULL while `""` is
//! an empty string. General CSV crates do not say whether a field was
//! quoted, which is the difference between NULL and '', hence this reader.

use std::io::{BufRead, BufReader, Read};

/// One field of a record: its bytes in the record buffer, and whether it was quoted.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub start: usize,
    pub end: usize,
    pub quoted: bool,
}

/// A record: its fields and where it starts.
#[derive(Debug, Default)]
pub struct Record {
    pub bytes: Vec<u8>,
    pub fields: Vec<Field>,
    /// Physical line the record starts on (1-based).
    pub line: u64,
    /// Record number, the header being record 1.
    pub number: u64,
}

impl Record {
    pub fn field(&self, i: usize) -> Option<(&[u8], bool)> {
        self.fields.get(i).map(|f| (&self.bytes[f.start..f.end], f.quoted))
    }
}

pub struct CsvReader<R: Read> {
    input: BufReader<R>,
    delimiter: u8,
    line: u64,
    records: u64,
    started: bool,
    /// The last record ended with a carriage return: a line feed right
    /// after it belongs to the same line end.
    after_cr: bool,
}

impl<R: Read> CsvReader<R> {
    pub fn new(input: R, delimiter: u8) -> Self {
        Self::with_buffer(input, delimiter, 256 * 1024)
    }

    fn with_buffer(input: R, delimiter: u8, capacity: usize) -> Self {
        CsvReader {
            input: BufReader::with_capacity(capacity, input),
            delimiter,
            line: 1,
            records: 0,
            started: false,
            after_cr: false,
        }
    }

    /// Reads the next record into `record`; false at the end of the input.
    /// An unterminated quoted field is an error (the file is cut short).
    /// Works a buffer at a time, copying runs of plain bytes at once.
    pub fn read(&mut self, record: &mut Record) -> Result<bool, String> {
        let io = |e: std::io::Error| format!("read error: {e}");
        if !self.started {
            self.started = true;
            let buf = self.input.fill_buf().map_err(io)?;
            if buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
                self.input.consume(3);
            }
        }
        if self.after_cr {
            self.after_cr = false;
            if self.input.fill_buf().map_err(io)?.first() == Some(&b'\n') {
                self.input.consume(1);
            }
        }
        record.bytes.clear();
        record.fields.clear();
        if self.input.fill_buf().map_err(io)?.is_empty() {
            return Ok(false);
        }
        self.records += 1;
        record.line = self.line;
        record.number = self.records;
        let delimiter = self.delimiter;
        let mut start = 0;
        let mut quoted = false;
        let mut in_quotes = false;
        let mut quote_pending = false;
        let mut at_field_start = true;
        loop {
            let buf = self.input.fill_buf().map_err(io)?;
            if buf.is_empty() {
                if in_quotes && !quote_pending {
                    return Err(format!(
                        "line {}: a quoted field opened in record {} is never closed",
                        record.line, record.number
                    ));
                }
                break;
            }
            let mut i = 0;
            let mut ended = false;
            while i < buf.len() {
                let b = buf[i];
                if quote_pending {
                    quote_pending = false;
                    if b == b'"' {
                        record.bytes.push(b'"');
                        i += 1;
                        continue;
                    }
                    in_quotes = false;
                }
                if in_quotes {
                    let run = buf[i..].iter().position(|&c| c == b'"').unwrap_or(buf.len() - i);
                    let chunk = &buf[i..i + run];
                    self.line += u64::try_from(chunk.iter().filter(|&&c| c == b'\n').count()).unwrap_or(0);
                    record.bytes.extend_from_slice(chunk);
                    i += run;
                    if i < buf.len() {
                        quote_pending = true;
                        i += 1;
                    }
                    continue;
                }
                if b == b'"' && at_field_start {
                    in_quotes = true;
                    quoted = true;
                    at_field_start = false;
                    i += 1;
                } else if b == delimiter {
                    record.fields.push(Field {
                        start,
                        end: record.bytes.len(),
                        quoted,
                    });
                    start = record.bytes.len();
                    quoted = false;
                    at_field_start = true;
                    i += 1;
                } else if b == b'\n' || b == b'\r' {
                    self.line += 1;
                    self.after_cr = b == b'\r';
                    i += 1;
                    ended = true;
                    break;
                } else {
                    let run = buf[i..]
                        .iter()
                        .position(|&c| c == delimiter || c == b'\n' || c == b'\r')
                        .unwrap_or(buf.len() - i);
                    record.bytes.extend_from_slice(&buf[i..i + run]);
                    at_field_start = false;
                    i += run;
                }
            }
            self.input.consume(i);
            if ended {
                break;
            }
        }
        record.fields.push(Field {
            start,
            end: record.bytes.len(),
            quoted,
        });
        Ok(true)
    }
}

/// The delimiter of a CSV text from its first line: whichever of `,` `;`
/// tab `|` occurs most outside quotes (comma when none does).
pub fn detect_delimiter(head: &[u8]) -> u8 {
    let mut counts = [0usize; 4];
    let candidates = [b',', b'\t', b';', b'|'];
    let mut in_quotes = false;
    for &b in head {
        match b {
            b'"' => in_quotes = !in_quotes,
            b'\n' | b'\r' if !in_quotes => break,
            _ if !in_quotes => {
                if let Some(i) = candidates.iter().position(|c| *c == b) {
                    counts[i] += 1;
                }
            }
            _ => {}
        }
    }
    let best = (0..4).max_by_key(|&i| (counts[i], std::cmp::Reverse(i))).unwrap_or(0);
    if counts[best] == 0 { b',' } else { candidates[best] }
}

/// Column names from a header record: empty names become `column_N`,
/// repeated names get a suffix.
pub fn header_names(record: &Record) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for i in 0..record.fields.len() {
        let (bytes, _) = record.field(i).unwrap_or((&[], false));
        let mut name = String::from_utf8_lossy(bytes).replace('\0', "");
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

#[cfg(test)]
mod tests {
    use super::*;

    fn records(text: &[u8], delimiter: u8) -> Vec<Vec<(String, bool)>> {
        let all = records_with(text, delimiter, 1 << 16);
        // Every buffer boundary gives the same records.
        for capacity in 3..10 {
            assert_eq!(records_with(text, delimiter, capacity), all, "buffer of {capacity}");
        }
        all
    }

    fn records_with(text: &[u8], delimiter: u8, capacity: usize) -> Vec<Vec<(String, bool)>> {
        let mut r = CsvReader::with_buffer(text, delimiter, capacity);
        let mut rec = Record::default();
        let mut out = Vec::new();
        while r.read(&mut rec).unwrap() {
            out.push(
                (0..rec.fields.len())
                    .map(|i| {
                        let (b, q) = rec.field(i).unwrap();
                        (String::from_utf8_lossy(b).into_owned(), q)
                    })
                    .collect(),
            );
        }
        out
    }

    #[test]
    fn quoting_as_postgres_reads_it() {
        let rows = records(b"\xEF\xBB\xBFa,b,c\r\n1,,\"\"\n\"x\ny\",\" s \",\"q\"\"q\"\r\n", b',');
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0][0].0, "a");
        assert_eq!(
            rows[1],
            vec![("1".into(), false), (String::new(), false), (String::new(), true)]
        );
        assert_eq!(rows[2][0].0, "x\ny");
        assert_eq!(rows[2][1].0, " s ");
        assert_eq!(rows[2][2].0, "q\"q");
    }

    #[test]
    fn delimiters_are_detected() {
        assert_eq!(detect_delimiter(b"a;b;c\n1,5;2;3"), b';');
        assert_eq!(detect_delimiter(b"a\tb\n"), b'\t');
        assert_eq!(detect_delimiter(b"\"a,b\"|c\n"), b'|');
        assert_eq!(detect_delimiter(b"single\n"), b',');
    }
}
