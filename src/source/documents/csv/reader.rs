//! Records of delimited text in a given dialect, read as PostgreSQL's COPY
//! ... CSV reads them (an unquoted empty field is NULL, `""` is an empty
//! string, nothing trimmed), and recovered record by record: a record
//! whose quoting is damaged is returned as damaged, with why, and reading
//! goes on at the line after the one it started on.
//!
//! General CSV crates (csv, csv-core) do not say whether a field was
//! quoted, which is the difference between NULL and '', take only
//! one-byte delimiters, and stop or guess at a runaway quote; hence this
//! reader.

use std::io::{Read, Seek, SeekFrom};

use super::dialect::{Dialect, Escape};

/// A record longer than this is taken for a quote that is never closed
/// (it would otherwise read the rest of the file into memory).
pub const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;

/// Longest text of a damaged line kept for the reject file.
const PREVIEW_BYTES: usize = 4096;

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
    /// Record number, counting the header (blank and comment lines are not records).
    pub number: u64,
}

impl Record {
    pub fn field(&self, i: usize) -> Option<(&[u8], bool)> {
        self.fields.get(i).map(|f| (&self.bytes[f.start..f.end], f.quoted))
    }

    /// The record's text as read, for messages (a damaged record holds
    /// the raw text of its first line).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// What one read found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Record,
    /// An empty line, at this line number; not a record.
    Blank(u64),
    /// A record whose quoting is damaged: why. The record holds the raw
    /// text of its first line, which is all that was consumed.
    Damaged(String),
    End,
}

/// A byte buffer over the input that can look ahead a few bytes and go
/// back to an earlier offset (to recover from a runaway quote).
struct Input<R> {
    src: R,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    /// Offset in the input of `buf[0]`.
    base: u64,
    eof: bool,
}

impl<R: Read + Seek> Input<R> {
    fn new(src: R, capacity: usize) -> Self {
        Input {
            src,
            buf: vec![0; capacity.max(8)],
            pos: 0,
            len: 0,
            base: 0,
            eof: false,
        }
    }

    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// The bytes available now, reading more when none are.
    fn fill(&mut self) -> std::io::Result<&[u8]> {
        if self.pos == self.len {
            self.ensure(1)?;
        }
        Ok(&self.buf[self.pos..self.len])
    }

    /// Makes at least `n` bytes available when the input has them; false at its end.
    fn ensure(&mut self, n: usize) -> std::io::Result<bool> {
        while self.len - self.pos < n {
            if self.eof {
                return Ok(false);
            }
            if self.pos > 0 {
                self.buf.copy_within(self.pos..self.len, 0);
                self.base += self.pos as u64;
                self.len -= self.pos;
                self.pos = 0;
            }
            if self.len == self.buf.len() {
                let grown = self.buf.len() * 2;
                self.buf.resize(grown, 0);
            }
            let read = loop {
                match self.src.read(&mut self.buf[self.len..]) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    other => break other?,
                }
            };
            if read == 0 {
                self.eof = true;
            }
            self.len += read;
        }
        Ok(true)
    }

    fn peek(&mut self, at: usize) -> std::io::Result<Option<u8>> {
        Ok(if self.ensure(at + 1)? {
            Some(self.buf[self.pos + at])
        } else {
            None
        })
    }

    fn starts_with(&mut self, bytes: &[u8]) -> std::io::Result<bool> {
        Ok(self.ensure(bytes.len())? && self.buf[self.pos..].starts_with(bytes))
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
    }

    fn seek(&mut self, offset: u64) -> std::io::Result<()> {
        if offset >= self.base && offset <= self.base + self.len as u64 {
            self.pos = usize::try_from(offset - self.base).unwrap_or(self.len);
            return Ok(());
        }
        self.src.seek(SeekFrom::Start(offset))?;
        self.base = offset;
        self.pos = 0;
        self.len = 0;
        self.eof = false;
        Ok(())
    }

    /// Consumes the rest of the line (no quoting) and its line end,
    /// keeping up to `keep` bytes of it in `out`.
    fn skip_line(&mut self, out: &mut Vec<u8>, keep: usize) -> std::io::Result<()> {
        loop {
            let buf = self.fill()?;
            if buf.is_empty() {
                return Ok(());
            }
            match buf.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(i) => {
                    let room = keep.saturating_sub(out.len()).min(i);
                    out.extend_from_slice(&buf[..room]);
                    let cr = buf[i] == b'\r';
                    self.consume(i + 1);
                    if cr && self.peek(0)? == Some(b'\n') {
                        self.consume(1);
                    }
                    return Ok(());
                }
                None => {
                    let n = buf.len();
                    let room = keep.saturating_sub(out.len()).min(n);
                    out.extend_from_slice(&buf[..room]);
                    self.consume(n);
                }
            }
        }
    }
}

/// How a record's reading ended.
enum Parsed {
    Done,
    Damaged(String),
}

pub struct CsvReader<R> {
    input: Input<R>,
    dialect: Dialect,
    line: u64,
    records: u64,
    started: bool,
    /// The field count every record should have, once known: a record
    /// that spans lines and has another count is a runaway quote.
    width: Option<usize>,
}

impl<R: Read + Seek> CsvReader<R> {
    pub fn new(input: R, dialect: &Dialect) -> Self {
        Self::with_buffer(input, dialect, 256 * 1024)
    }

    pub(super) fn with_buffer(input: R, dialect: &Dialect, capacity: usize) -> Self {
        CsvReader {
            input: Input::new(input, capacity),
            dialect: dialect.clone(),
            line: 1,
            records: 0,
            started: false,
            width: None,
        }
    }

    /// Sets the field count records should have (see [`Outcome::Damaged`]).
    pub fn expect_width(&mut self, width: usize) {
        self.width = Some(width);
    }

    /// The line the next read starts on.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// Skips the BOM, then the lines the dialect says come before the table.
    fn start(&mut self) -> std::io::Result<()> {
        self.started = true;
        if self.input.starts_with(&[0xEF, 0xBB, 0xBF])? {
            self.input.consume(3);
        }
        let mut sink = Vec::new();
        for _ in 0..self.dialect.skip_lines {
            if self.input.fill()?.is_empty() {
                break;
            }
            self.input.skip_line(&mut sink, 0)?;
            self.line += 1;
        }
        Ok(())
    }

    /// Reads the next record into `record`.
    pub fn read(&mut self, record: &mut Record) -> std::io::Result<Outcome> {
        if !self.started {
            self.start()?;
        }
        record.bytes.clear();
        record.fields.clear();
        loop {
            let Some(first) = self.input.peek(0)? else {
                return Ok(Outcome::End);
            };
            if first == b'\n' || first == b'\r' {
                let line = self.line;
                self.input.skip_line(&mut record.bytes, 0)?;
                self.line += 1;
                return Ok(Outcome::Blank(line));
            }
            if self.dialect.comment == Some(first) {
                self.input.skip_line(&mut record.bytes, 0)?;
                self.line += 1;
                continue;
            }
            break;
        }
        self.records += 1;
        record.line = self.line;
        record.number = self.records;
        let start = self.input.offset();
        let start_line = self.line;
        match self.parse(record)? {
            Parsed::Done => Ok(Outcome::Record),
            Parsed::Damaged(why) => {
                // Back to the record's start: its first line is the damaged
                // record, and the next one starts on the line after.
                self.input.seek(start)?;
                record.bytes.clear();
                record.fields.clear();
                self.input.skip_line(&mut record.bytes, PREVIEW_BYTES)?;
                self.line = start_line + 1;
                Ok(Outcome::Damaged(why))
            }
        }
    }

    fn parse(&mut self, record: &mut Record) -> std::io::Result<Parsed> {
        let first_delimiter = self.dialect.delimiter[0];
        let delimiter_len = self.dialect.delimiter.len();
        let quote = self.dialect.quote;
        let backslash = match self.dialect.escape {
            Escape::Backslash => Some(b'\\'),
            Escape::Doubled => None,
        };
        let start_line = self.line;
        let mut start = 0;
        let mut quoted = false;
        let mut at_field_start = true;
        // Lines the record's quoted fields span before its own line end.
        let spanned = loop {
            let buf = self.input.fill()?;
            if buf.is_empty() {
                break self.line - start_line;
            }
            let b = buf[0];
            if at_field_start && Some(b) == quote {
                self.input.consume(1);
                if let Some(why) = self.quoted_field(record, start_line)? {
                    return Ok(Parsed::Damaged(why));
                }
                quoted = true;
                at_field_start = false;
                // A closed quote ends its field: a delimiter, a line end or the end must follow.
                match self.input.peek(0)? {
                    None | Some(b'\n' | b'\r') => {}
                    Some(_) if self.input.starts_with(&self.dialect.delimiter)? => {}
                    Some(c) => {
                        return Ok(Parsed::Damaged(format!(
                            "text ({}) after the closing quote of field {}",
                            shown(c),
                            record.fields.len() + 1
                        )));
                    }
                }
                continue;
            }
            if b == first_delimiter && (delimiter_len == 1 || self.input.starts_with(&self.dialect.delimiter)?) {
                record.fields.push(Field {
                    start,
                    end: record.bytes.len(),
                    quoted,
                });
                start = record.bytes.len();
                quoted = false;
                at_field_start = true;
                self.input.consume(delimiter_len);
                continue;
            }
            if b == b'\n' || b == b'\r' {
                self.input.consume(1);
                if b == b'\r' && self.input.peek(0)? == Some(b'\n') {
                    self.input.consume(1);
                }
                let spanned = self.line - start_line;
                self.line += 1;
                break spanned;
            }
            if Some(b) == backslash {
                match self.input.peek(1)? {
                    Some(next) => {
                        record.bytes.push(next);
                        self.input.consume(2);
                    }
                    None => {
                        record.bytes.push(b);
                        self.input.consume(1);
                    }
                }
                at_field_start = false;
                continue;
            }
            // A run of plain bytes at once.
            let buf = self.input.fill()?;
            let run = plain_run(buf, first_delimiter, backslash);
            let run = run.max(1);
            record.bytes.extend_from_slice(&buf[..run]);
            self.input.consume(run);
            at_field_start = false;
            if record.bytes.len() > MAX_RECORD_BYTES {
                return Ok(Parsed::Damaged(format!(
                    "a record longer than {} MiB",
                    MAX_RECORD_BYTES >> 20
                )));
            }
        };
        record.fields.push(Field {
            start,
            end: record.bytes.len(),
            quoted,
        });
        if let Some(width) = self.width
            && spanned > 0
            && record.fields.len() != width
        {
            return Ok(Parsed::Damaged(format!(
                "a quoted field runs over {} lines into a record of {} fields where {width} are expected: \
                 its quote is probably not closed",
                spanned + 1,
                record.fields.len()
            )));
        }
        Ok(Parsed::Done)
    }

    /// Reads a quoted field up to its closing quote (consumed). Some(why)
    /// when it is never closed.
    fn quoted_field(&mut self, record: &mut Record, start_line: u64) -> std::io::Result<Option<String>> {
        let quote = self.dialect.quote.unwrap_or(b'"');
        let backslash = matches!(self.dialect.escape, Escape::Backslash);
        let opened_at = self.line;
        // The line of a quote inside the field that closed nothing.
        let mut stray: Option<u64> = None;
        loop {
            let buf = self.input.fill()?;
            if buf.is_empty() {
                return Ok(Some(format!(
                    "a quoted field opened on line {opened_at} is never closed (the file ends inside it)"
                )));
            }
            let stop = if backslash {
                memchr::memchr3(quote, b'\n', b'\\', buf)
            } else {
                memchr::memchr2(quote, b'\n', buf)
            }
            .unwrap_or(buf.len());
            let more = stop == buf.len();
            record.bytes.extend_from_slice(&buf[..stop]);
            self.input.consume(stop);
            if record.bytes.len() > MAX_RECORD_BYTES {
                return Ok(Some(format!(
                    "a quoted field opened on line {opened_at} runs over {} MiB and {} lines: its quote is probably not closed",
                    MAX_RECORD_BYTES >> 20,
                    self.line - start_line
                )));
            }
            if more {
                continue;
            }
            let Some(c) = self.input.peek(0)? else { continue };
            if c == b'\n' {
                if let Some(at) = stray {
                    return Ok(Some(stray_quote(at, opened_at)));
                }
                record.bytes.push(c);
                self.input.consume(1);
                self.line += 1;
            } else if backslash && c == b'\\' {
                match self.input.peek(1)? {
                    Some(next) => {
                        record.bytes.push(next);
                        self.input.consume(2);
                    }
                    None => {
                        record.bytes.push(c);
                        self.input.consume(1);
                    }
                }
            } else if !backslash && self.input.peek(1)? == Some(quote) {
                // Doubled, the quote stands for itself.
                record.bytes.push(quote);
                self.input.consume(2);
            } else {
                // It closes the field when a delimiter, a line end or the end
                // follows. Otherwise it is a quote the writer did not escape
                // (`'won't'`), kept as text, as long as the field stays on
                // its line: past a line end, the quote that opened the field
                // was probably never closed.
                self.input.consume(1);
                match self.input.peek(0)? {
                    None | Some(b'\n' | b'\r') => return Ok(None),
                    Some(_) if self.input.starts_with(&self.dialect.delimiter)? => return Ok(None),
                    Some(_) => {
                        if self.line > opened_at {
                            return Ok(Some(stray_quote(self.line, opened_at)));
                        }
                        record.bytes.push(quote);
                        stray = Some(self.line);
                    }
                }
            }
        }
    }
}

fn stray_quote(at: u64, opened_at: u64) -> String {
    format!(
        "a quote on line {at} inside the quoted field opened on line {opened_at} is not doubled, \
         and the field runs on past the line end: its quote is probably not closed"
    )
}

/// How many bytes from the start of `buf` hold no delimiter start, line
/// end or escape.
fn plain_run(buf: &[u8], delimiter: u8, backslash: Option<u8>) -> usize {
    match backslash {
        None => memchr::memchr3(delimiter, b'\n', b'\r', buf),
        Some(escape) => buf
            .iter()
            .position(|&c| c == delimiter || c == b'\n' || c == b'\r' || c == escape),
    }
    .unwrap_or(buf.len())
}

/// A byte for a message: itself when printable, else its code.
pub fn shown(b: u8) -> String {
    if b.is_ascii_graphic() || b == b' ' {
        format!("{:?}", char::from(b))
    } else {
        format!("byte 0x{b:02x}")
    }
}
