//! A streaming JSON reader that keeps what a lossless copy needs and
//! general-purpose parsers drop: numbers as the exact text written,
//! repeated keys, and the line and column of everything. Whole values are
//! built one record at a time; the levels above a record are walked as a
//! stream, so no file is ever held whole.
//!
//! Problems PostgreSQL would refuse inside a well-formed document (invalid
//! UTF-8, a NUL, a lone surrogate, a repeated key) do not stop the reader:
//! the first one in a record is kept for the caller, who rejects that
//! record. Malformed JSON is an error with its line and column.

use std::io::Read;
use std::sync::Arc;

/// An object member's name. The reader hands out one shared copy of each
/// name it keeps meeting (records repeat their field names), so that a
/// member's name costs no allocation of its own.
pub type Key = Arc<str>;

/// A string or number's text: held in the value itself when it is short
/// (up to 24 bytes, most of a record's values), so that reading it costs
/// no allocation.
pub type Text = compact_str::CompactString;

/// One JSON value, as written.
#[derive(Debug, Clone, PartialEq)]
pub enum JValue {
    Null,
    Bool(bool),
    /// The number's text exactly as written (valid JSON number grammar).
    Number(Text),
    String(Text),
    Array(Vec<JValue>),
    /// Members in the order written.
    Object(Vec<(Key, JValue)>),
}

impl JValue {
    pub fn get(&self, key: &str) -> Option<&JValue> {
        match self {
            JValue::Object(members) => members.iter().find(|(k, _)| **k == *key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value as compact JSON text, numbers exactly as written.
    pub fn write_json(&self, out: &mut String) {
        match self {
            JValue::Null => out.push_str("null"),
            JValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            JValue::Number(n) => out.push_str(n),
            JValue::String(s) => write_json_string(s, out),
            JValue::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_json(out);
                }
                out.push(']');
            }
            JValue::Object(members) => {
                out.push('{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_json_string(k, out);
                    out.push(':');
                    v.write_json(out);
                }
                out.push('}');
            }
        }
    }

    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write_json(&mut out);
        out
    }
}

pub fn write_json_string(s: &str, out: &mut String) {
    use std::fmt::Write;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A place in a file: 1-based line and column (in bytes), and the
/// 0-based byte offset from the start of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    pub line: u64,
    pub column: u64,
    pub offset: u64,
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}, column {}, byte {}", self.line, self.column, self.offset)
    }
}

/// A problem inside a well-formed value that rejects its record.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueProblem {
    pub at: Position,
    pub reason: String,
    /// The field the problem is in, when known.
    pub field: Option<String>,
    /// The record is not well-formed (a broken JSON Lines line): nothing
    /// of it is known, so nothing is learned from it.
    pub malformed: bool,
}

/// Malformed JSON: where, and what was expected.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub at: Position,
    pub message: String,
}

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid JSON at {}: {}", self.at, self.message)
    }
}

pub type JResult<T> = std::result::Result<T, SyntaxError>;

/// What the next value is, from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peeked {
    Object,
    Array,
    Scalar,
    End,
}

const BUFFER: usize = 256 * 1024;
/// Names the reader keeps one shared copy of, by a hash of their bytes.
const KEY_SLOTS: usize = 256;
/// Longer names are read as any string (and not kept).
const LONGEST_KEPT_KEY: usize = 64;
/// Deeper nesting is refused rather than risk the stack.
const MAX_NESTING: usize = 512;

pub struct JsonReader<R: Read> {
    input: R,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    /// Bytes consumed before `buf[0]`.
    consumed: u64,
    line: u64,
    /// Absolute offset of the current line's first byte.
    line_start: u64,
    problem: Option<ValueProblem>,
    io_error: Option<std::io::Error>,
    depth: usize,
    /// JSON Lines: a newline ends the value it is in (an error there),
    /// so that one broken line is one broken record.
    one_per_line: bool,
    /// Members of the objects being read, innermost last.
    members: Vec<(Key, JValue)>,
    /// Member names met lately, each in the slot its bytes hash to.
    keys: Vec<Option<Key>>,
    /// The text of the number being read.
    number_text: String,
}

impl<R: Read> JsonReader<R> {
    pub fn new(input: R) -> Self {
        Self::with_buffer(input, BUFFER)
    }

    /// Reads a part of a file that starts at byte `offset`, on the line
    /// that starts at `line_start`: offsets and columns are the file's,
    /// lines count from 1 at `offset` (the caller adds the lines before
    /// it, or sets them with [`JsonReader::set_line`]).
    pub fn starting_at(input: R, offset: u64, line_start: u64) -> Self {
        let mut reader = Self::new(input);
        reader.consumed = offset;
        reader.line_start = line_start;
        reader
    }

    pub fn set_line(&mut self, line: u64) {
        self.line = line;
    }

    /// After an element of an array: true past a ',', false at the end of
    /// the input; anything else is an error.
    pub fn separator(&mut self) -> JResult<bool> {
        match self.skip_ws() {
            None => Ok(false),
            Some(b',') => {
                self.bump();
                Ok(true)
            }
            Some(b) => self.error(format!("expected ',' or ']', found {}", shown(b))),
        }
    }

    fn with_buffer(input: R, capacity: usize) -> Self {
        JsonReader {
            input,
            buf: vec![0; capacity],
            pos: 0,
            end: 0,
            consumed: 0,
            line: 1,
            line_start: 0,
            problem: None,
            io_error: None,
            depth: 0,
            one_per_line: false,
            members: Vec::new(),
            keys: vec![None; KEY_SLOTS],
            number_text: String::new(),
        }
    }

    /// Reads JSON Lines: no value continues past the end of its line.
    pub fn set_one_value_per_line(&mut self, on: bool) {
        self.one_per_line = on;
    }

    pub fn one_value_per_line_mode(&self) -> bool {
        self.one_per_line
    }

    pub fn position(&self) -> Position {
        let offset = self.consumed + self.pos as u64;
        Position {
            line: self.line,
            column: offset - self.line_start + 1,
            offset,
        }
    }

    /// The first problem met since the last call, if any.
    pub fn take_problem(&mut self) -> Option<ValueProblem> {
        self.problem.take()
    }

    pub fn take_io_error(&mut self) -> Option<std::io::Error> {
        self.io_error.take()
    }

    fn fill(&mut self) -> bool {
        if self.pos < self.end {
            return true;
        }
        self.consumed += self.end as u64;
        self.pos = 0;
        self.end = 0;
        loop {
            match self.input.read(&mut self.buf) {
                Ok(n) => {
                    self.end = n;
                    // A UTF-8 byte order mark before the document is not part of it.
                    if self.consumed == 0 && self.buf[..n].starts_with(&[0xEF, 0xBB, 0xBF]) {
                        self.pos = 3;
                        self.line_start = 3;
                        return n > 3 || self.fill();
                    }
                    return n > 0;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.io_error = Some(e);
                    return false;
                }
            }
        }
    }

    #[inline]
    fn peek_byte(&mut self) -> Option<u8> {
        if self.pos < self.end || self.fill() {
            Some(self.buf[self.pos])
        } else {
            None
        }
    }

    #[inline]
    fn bump(&mut self) {
        self.pos += 1;
    }

    fn error<T>(&self, message: impl Into<String>) -> JResult<T> {
        let message = match &self.io_error {
            Some(e) => format!("read error: {e}"),
            None => message.into(),
        };
        Err(SyntaxError {
            at: self.position(),
            message,
        })
    }

    fn note(&mut self, at: Position, reason: impl Into<String>) {
        if self.problem.is_none() {
            self.problem = Some(ValueProblem {
                at,
                reason: reason.into(),
                field: None,
                malformed: false,
            });
        }
    }

    /// Skips whitespace, counting lines; the byte after it, if any. In
    /// JSON Lines a newline is not skipped: it ends the line's value.
    #[inline]
    pub fn skip_ws(&mut self) -> Option<u8> {
        // Compact JSON: most often the next byte is no whitespace at all.
        if let Some(&b) = self.buf[..self.end].get(self.pos)
            && b > b' '
        {
            return Some(b);
        }
        self.skip_ws_bytes()
    }

    fn skip_ws_bytes(&mut self) -> Option<u8> {
        loop {
            let b = self.peek_byte()?;
            match b {
                b' ' | b'\t' | b'\r' => self.bump(),
                b'\n' if self.one_per_line => return Some(b),
                b'\n' => {
                    self.bump();
                    self.line += 1;
                    self.line_start = self.consumed + self.pos as u64;
                }
                _ => return Some(b),
            }
        }
    }

    /// Skips whitespace and blank lines (between JSON Lines records).
    pub fn skip_blank_lines(&mut self) -> Option<u8> {
        loop {
            match self.skip_blanks()? {
                b'\n' => self.newline(),
                b => return Some(b),
            }
        }
    }

    /// After a malformed line: drops the rest of it (and what was noted
    /// about it) so that reading goes on at the next line.
    pub fn skip_rest_of_line(&mut self) {
        self.depth = 0;
        self.problem = None;
        while let Some(b) = self.peek_byte() {
            self.bump();
            if b == b'\n' {
                self.line += 1;
                self.line_start = self.consumed + self.pos as u64;
                return;
            }
        }
    }

    /// Skips spaces and tabs only: the rest of a JSON Lines line.
    pub fn skip_blanks(&mut self) -> Option<u8> {
        loop {
            let b = self.peek_byte()?;
            match b {
                b' ' | b'\t' | b'\r' => self.bump(),
                _ => return Some(b),
            }
        }
    }

    /// The rest of the current line as far as the buffer holds it (up to
    /// its newline, or to the buffer's end), and whether its newline is
    /// in the buffer (else the line may go on past what is read).
    pub fn line_so_far(&self) -> (&[u8], bool) {
        let rest = self.buf.get(self.pos..self.end).unwrap_or_default();
        match memchr::memchr(b'\n', rest) {
            Some(n) => (&rest[..n], true),
            None => (rest, false),
        }
    }

    /// Passes over `len` bytes of the line [`Self::line_so_far`] gave.
    pub fn advance(&mut self, len: usize) {
        self.pos += len;
    }

    /// Consumes one newline (JSON Lines).
    pub fn newline(&mut self) {
        if self.peek_byte() == Some(b'\n') {
            self.bump();
            self.line += 1;
            self.line_start = self.consumed + self.pos as u64;
        }
    }

    pub fn peek(&mut self) -> Peeked {
        match self.skip_ws() {
            None => Peeked::End,
            Some(b'{') => Peeked::Object,
            Some(b'[') => Peeked::Array,
            Some(_) => Peeked::Scalar,
        }
    }

    fn expect(&mut self, byte: u8, what: &str) -> JResult<()> {
        match self.skip_ws() {
            Some(b) if b == byte => {
                self.bump();
                Ok(())
            }
            Some(b) => self.error(format!("expected {what}, found {}", shown(b))),
            None => self.error(format!("expected {what}, found the end of the file")),
        }
    }

    pub fn begin_array(&mut self) -> JResult<()> {
        self.expect(b'[', "'['")
    }

    pub fn begin_object(&mut self) -> JResult<()> {
        self.expect(b'{', "'{'")
    }

    /// Before each element of an open array: true when one follows.
    pub fn next_element(&mut self, first: &mut bool) -> JResult<bool> {
        match self.skip_ws() {
            Some(b']') => {
                self.bump();
                return Ok(false);
            }
            Some(b',') if !*first => self.bump(),
            Some(_) if *first => {}
            Some(b) => return self.error(format!("expected ',' or ']', found {}", shown(b))),
            None => return self.error("unterminated array: the file ends inside it"),
        }
        *first = false;
        Ok(true)
    }

    /// Before each member of an open object: its key, or None at the end.
    pub fn next_key(&mut self, first: &mut bool) -> JResult<Option<String>> {
        if !self.before_key(first)? {
            return Ok(None);
        }
        let key = self.string()?;
        self.expect(b':', "':'")?;
        Ok(Some(key))
    }

    /// [`JsonReader::next_key`], the name shared with earlier members of
    /// that name.
    /// With it, the slot its bytes hash to.
    fn next_member_key(&mut self, first: &mut bool) -> JResult<Option<(Key, usize)>> {
        if !self.before_key(first)? {
            return Ok(None);
        }
        let key = self.member_key()?;
        self.expect(b':', "':'")?;
        Ok(Some(key))
    }

    /// Past the ',' or '{' before a member, at its key's opening quote:
    /// true; false past the object's closing '}'.
    fn before_key(&mut self, first: &mut bool) -> JResult<bool> {
        match self.skip_ws() {
            Some(b'}') => {
                self.bump();
                return Ok(false);
            }
            Some(b',') if !*first => self.bump(),
            Some(_) if *first => {}
            Some(b) => return self.error(format!("expected ',' or '}}', found {}", shown(b))),
            None => return self.error("unterminated object: the file ends inside it"),
        }
        *first = false;
        if self.skip_ws() != Some(b'"') {
            return self.error("expected a string key");
        }
        Ok(true)
    }

    /// A member's name (the opening quote is next): a short plain name
    /// wholly in the buffer is looked up among the names met lately and
    /// shared; any other is read as a string.
    fn member_key(&mut self) -> JResult<(Key, usize)> {
        let rest = &self.buf[self.pos + 1..self.end];
        let scanned = &rest[..rest.len().min(LONGEST_KEPT_KEY + 1)];
        let n = plain_run_len(scanned);
        if scanned.get(n) == Some(&b'"') {
            let name = &scanned[..n];
            let index = key_slot(name);
            let slot = &mut self.keys[index];
            let key = match slot {
                Some(kept) if kept.as_bytes() == name => Some(Arc::clone(kept)),
                // Invalid UTF-8 is read as a string, which notes it.
                _ => std::str::from_utf8(name).ok().map(|text| {
                    let key = Key::from(text);
                    *slot = Some(Arc::clone(&key));
                    key
                }),
            };
            if let Some(key) = key {
                self.pos += n + 2;
                return Ok((key, index));
            }
        }
        let key = Key::from(self.string()?);
        let index = key_slot(key.as_bytes());
        Ok((key, index))
    }

    /// Reads one whole value.
    pub fn value(&mut self) -> JResult<JValue> {
        let Some(b) = self.skip_ws() else {
            return self.error("expected a value, found the end of the file");
        };
        match b {
            b'{' => {
                self.nest()?;
                self.bump();
                // Members gather on a stack shared by every object being
                // read (nested ones above their parent's), then move into a
                // vector of their exact number: no regrowing per object.
                let base = self.members.len();
                let mut first = true;
                // One bit per key slot met in this object: a key whose bit
                // is clear is no repeat, with no comparison.
                let mut slots_met = 0u64;
                let read = loop {
                    let at = self.position();
                    let (key, slot) = match self.next_member_key(&mut first) {
                        Ok(Some(key)) => key,
                        Ok(None) => break Ok(()),
                        Err(e) => break Err(e),
                    };
                    let value = match self.value() {
                        Ok(value) => value,
                        Err(e) => break Err(e),
                    };
                    let bit = 1u64 << (slot % 64);
                    let maybe_repeat = slots_met & bit != 0;
                    slots_met |= bit;
                    if maybe_repeat && has_key(&self.members[base..], &key) {
                        let reason = format!("the key {key:?} appears twice in one object");
                        self.note(at, reason);
                        if let Some(p) = self.problem.as_mut().filter(|p| p.field.is_none() && p.at == at) {
                            p.field = Some(key.to_string());
                        }
                        continue;
                    }
                    self.members.push((key, value));
                };
                let members: Vec<(Key, JValue)> = self.members.drain(base..).collect();
                read?;
                self.depth -= 1;
                Ok(JValue::Object(members))
            }
            b'[' => {
                self.nest()?;
                self.bump();
                let mut items = Vec::new();
                let mut first = true;
                while self.next_element(&mut first)? {
                    items.push(self.value()?);
                }
                self.depth -= 1;
                Ok(JValue::Array(items))
            }
            b'"' => Ok(JValue::String(self.string_value()?)),
            b'-' | b'0'..=b'9' => self.number().map(JValue::Number),
            b't' => self.literal("true", JValue::Bool(true)),
            b'f' => self.literal("false", JValue::Bool(false)),
            b'n' => self.literal("null", JValue::Null),
            other => self.error(format!("expected a value, found {}", shown(other))),
        }
    }

    /// Nothing but whitespace may follow the top-level value.
    pub fn end_of_text(&mut self) -> JResult<()> {
        match self.skip_ws() {
            None => Ok(()),
            Some(b @ (b'{' | b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n')) => self.error(format!(
                "{} starts a second top-level value where the text should end",
                shown(b)
            )),
            Some(b) => self.error(format!("unexpected {} after the top-level value", shown(b))),
        }
    }

    /// Skips one value without building it, still checking its syntax.
    pub fn skip(&mut self) -> JResult<()> {
        match self.skip_ws() {
            Some(b'{') => {
                self.nest()?;
                self.bump();
                let mut first = true;
                while self.next_key(&mut first)?.is_some() {
                    self.skip()?;
                }
                self.depth -= 1;
                Ok(())
            }
            Some(b'[') => {
                self.nest()?;
                self.bump();
                let mut first = true;
                while self.next_element(&mut first)? {
                    self.skip()?;
                }
                self.depth -= 1;
                Ok(())
            }
            _ => self.value().map(|_| ()),
        }
    }

    fn nest(&mut self) -> JResult<()> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return self.error(format!("nested deeper than {MAX_NESTING} levels"));
        }
        Ok(())
    }

    fn literal(&mut self, word: &str, value: JValue) -> JResult<JValue> {
        if self.buf[self.pos..self.end].starts_with(word.as_bytes()) {
            self.pos += word.len();
            return Ok(value);
        }
        let start = self.position();
        for expected in word.bytes() {
            if self.peek_byte() != Some(expected) {
                return Err(SyntaxError {
                    at: start,
                    message: format!("invalid literal, expected {word}"),
                });
            }
            self.bump();
        }
        Ok(value)
    }

    /// A number's text, checked against JSON's grammar.
    fn number(&mut self) -> JResult<Text> {
        // Wholly in the buffer and well-formed: taken as it stands.
        if let Some(n) = plain_number_len(&self.buf[self.pos..self.end])
            && let Ok(text) = std::str::from_utf8(&self.buf[self.pos..self.pos + n])
        {
            let number = Text::from(text);
            self.pos += n;
            return Ok(number);
        }
        let text = &mut self.number_text;
        text.clear();
        let mut text = std::mem::take(text);
        let result = self.number_into(&mut text).map(|()| Text::from(text.as_str()));
        self.number_text = text;
        result
    }

    fn number_into(&mut self, text: &mut String) -> JResult<()> {
        let take_digits = |this: &mut Self, text: &mut String| -> usize {
            let mut n = 0;
            while let Some(b) = this.peek_byte().filter(u8::is_ascii_digit) {
                text.push(char::from(b));
                this.bump();
                n += 1;
            }
            n
        };
        if self.peek_byte() == Some(b'-') {
            text.push('-');
            self.bump();
        }
        let int_start = text.len();
        if take_digits(self, text) == 0 {
            return self.error("invalid number: no digits");
        }
        if text[int_start..].len() > 1 && text.as_bytes()[int_start] == b'0' {
            return self.error("invalid number: leading zero");
        }
        if self.peek_byte() == Some(b'.') {
            text.push('.');
            self.bump();
            if take_digits(self, text) == 0 {
                return self.error("invalid number: no digits after the decimal point");
            }
        }
        if let Some(e @ (b'e' | b'E')) = self.peek_byte() {
            text.push(char::from(e));
            self.bump();
            if let Some(sign @ (b'+' | b'-')) = self.peek_byte() {
                text.push(char::from(sign));
                self.bump();
            }
            if take_digits(self, text) == 0 {
                return self.error("invalid number: no digits in the exponent");
            }
        }
        Ok(())
    }

    /// A string value (the opening quote is next). One wholly in the
    /// buffer, valid UTF-8 with no escape and no control byte, is taken as
    /// it stands; any other is read by [`Self::string`].
    fn string_value(&mut self) -> JResult<Text> {
        let rest = self.buf.get(self.pos + 1..self.end).unwrap_or_default();
        let plain = plain_run_len(rest);
        if rest.get(plain) == Some(&b'"')
            && let Ok(text) = std::str::from_utf8(&rest[..plain])
        {
            let value = Text::from(text);
            self.pos += plain + 2;
            return Ok(value);
        }
        self.string().map(Text::from)
    }

    /// Reads a string (the opening quote is next). Invalid UTF-8, NUL and
    /// lone surrogates are noted as problems; the text keeps a lossy copy.
    fn string(&mut self) -> JResult<String> {
        let start = self.position();
        self.bump();
        let mut bytes: Vec<u8> = Vec::new();
        let mut nul = false;
        // A high surrogate (\uD800-\uDBFF) waiting for its low half.
        let mut high: Option<u32> = None;
        loop {
            if !(self.pos < self.end || self.fill()) {
                // Only the column: a string never spans lines (a raw
                // newline in one is an error of its own), so it starts on
                // the error's line, which a reader of a range does not
                // know yet (its caller adds the lines before the range).
                return self.error(format!("unterminated string starting at column {}", start.column));
            }
            // Copy the run of plain bytes in one go.
            let plain = plain_run_len(&self.buf[self.pos..self.end]);
            if plain > 0 && high.take().is_some() {
                self.lone_surrogate(start, &mut bytes);
            }
            let run = &self.buf[self.pos..self.pos + plain];
            bytes.extend_from_slice(run);
            self.pos += plain;
            if self.pos == self.end {
                // The run reached the end of the buffer: refill and go on.
                continue;
            }
            let b = self.buf[self.pos];
            if b == b'\\' {
                self.bump();
                let Some(e) = self.peek_byte() else { continue };
                self.bump();
                if e == b'u' {
                    let unit = self.hex4()?;
                    match high.take() {
                        Some(h) if (0xDC00..0xE000).contains(&unit) => {
                            let code = 0x10000 + ((h - 0xD800) << 10) + (unit - 0xDC00);
                            push_char(&mut bytes, char::from_u32(code).unwrap_or('\u{FFFD}'));
                            continue;
                        }
                        Some(_) => self.lone_surrogate(start, &mut bytes),
                        None => {}
                    }
                    if (0xD800..0xDC00).contains(&unit) {
                        high = Some(unit);
                    } else {
                        match char::from_u32(unit) {
                            Some('\0') => nul = true,
                            Some(c) => push_char(&mut bytes, c),
                            None => self.lone_surrogate(start, &mut bytes),
                        }
                    }
                    continue;
                }
                if high.take().is_some() {
                    self.lone_surrogate(start, &mut bytes);
                }
                match e {
                    b'"' => bytes.push(b'"'),
                    b'\\' => bytes.push(b'\\'),
                    b'/' => bytes.push(b'/'),
                    b'b' => bytes.push(8),
                    b'f' => bytes.push(12),
                    b'n' => bytes.push(b'\n'),
                    b'r' => bytes.push(b'\r'),
                    b't' => bytes.push(b'\t'),
                    other => return self.error(format!("invalid escape \\{}", shown(other))),
                }
                continue;
            }
            if high.take().is_some() {
                self.lone_surrogate(start, &mut bytes);
            }
            if b == b'"' {
                self.bump();
                break;
            }
            return self.error(format!(
                "control character 0x{b:02x} inside a string (it must be escaped)"
            ));
        }
        if nul {
            self.note(
                start,
                "a NUL character (\\u0000) in a string, which PostgreSQL text cannot hold",
            );
        }
        match String::from_utf8(bytes) {
            Ok(s) => Ok(s),
            Err(e) => {
                let valid = e.utf8_error().valid_up_to();
                let bad = e.as_bytes()[valid];
                self.note(
                    start,
                    format!("invalid UTF-8 in a string (byte 0x{bad:02x} after {valid} valid bytes)"),
                );
                Ok(String::from_utf8_lossy(e.as_bytes()).into_owned())
            }
        }
    }

    /// A UTF-16 surrogate without its other half: kept as U+FFFD in the
    /// text, and the record is rejected for it.
    fn lone_surrogate(&mut self, start: Position, bytes: &mut Vec<u8>) {
        self.note(start, "a lone UTF-16 surrogate (\\u escape) in a string");
        push_char(bytes, '\u{FFFD}');
    }

    fn hex4(&mut self) -> JResult<u32> {
        let mut v = 0u32;
        for _ in 0..4 {
            let Some(b) = self.peek_byte() else {
                return self.error("unterminated \\u escape");
            };
            let d = char::from(b)
                .to_digit(16)
                .map_or_else(|| self.error("invalid \\u escape: expected 4 hex digits"), Ok)?;
            v = v * 16 + d;
            self.bump();
        }
        Ok(v)
    }
}

/// The length of the well-formed JSON number `bytes` start with, when a
/// byte that cannot continue it follows within `bytes`; None when it is
/// malformed or may go on past them (the byte-wise reader judges those).
fn plain_number_len(bytes: &[u8]) -> Option<usize> {
    let digits_from = |i: usize| {
        bytes
            .get(i..)
            .map_or(0, |rest| rest.iter().take_while(|b| b.is_ascii_digit()).count())
    };
    let mut i = usize::from(bytes.first() == Some(&b'-'));
    let int = digits_from(i);
    if int == 0 || (int > 1 && bytes[i] == b'0') {
        return None;
    }
    i += int;
    if bytes.get(i) == Some(&b'.') {
        let frac = digits_from(i + 1);
        if frac == 0 {
            return None;
        }
        i += 1 + frac;
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp = digits_from(i);
        if exp == 0 {
            return None;
        }
        i += exp;
    }
    (i < bytes.len()).then_some(i)
}

/// How many bytes of a string's text go as they are: up to its closing
/// quote, an escape or a control byte (an error), or the end of `run`.
pub(super) fn plain_run_len(run: &[u8]) -> usize {
    let quote_or_escape = memchr::memchr2(b'"', b'\\', run).unwrap_or(run.len());
    run[..quote_or_escape]
        .iter()
        .position(|&b| b < 0x20)
        .unwrap_or(quote_or_escape)
}

fn push_char(bytes: &mut Vec<u8>, c: char) {
    let mut utf8 = [0u8; 4];
    bytes.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
}

fn has_key(members: &[(Key, JValue)], key: &Key) -> bool {
    members.iter().any(|(k, _)| Arc::ptr_eq(k, key) || k == key)
}

/// The slot of a member name among those kept (FNV-1a of its bytes).
fn key_slot(name: &[u8]) -> usize {
    let hash = name
        .iter()
        .fold(0x811c_9dc5_u32, |h, &b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    usize::from(hash.to_le_bytes()[0]) ^ usize::from(hash.to_le_bytes()[1])
}

fn shown(b: u8) -> String {
    if b == b'\n' {
        "the end of the line".into()
    } else if b.is_ascii_graphic() {
        format!("'{}'", char::from(b))
    } else {
        format!("byte 0x{b:02x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (JValue, Option<ValueProblem>) {
        let mut r = JsonReader::new(text.as_bytes());
        let v = r.value().unwrap();
        (v, r.take_problem())
    }

    #[test]
    fn an_unterminated_string_names_its_start_on_the_error_line() {
        let mut r = JsonReader::new("{\"a\": 1,\n \"b\": \"no end".as_bytes());
        let e = r.value().unwrap_err();
        assert_eq!(e.at.line, 2);
        assert_eq!(e.message, "unterminated string starting at column 7");
        let mut r = JsonReader::new("[\"a\nb\"]".as_bytes());
        let e = r.value().unwrap_err();
        assert!(e.message.starts_with("control character 0x0a"), "{}", e.message);
    }

    #[test]
    fn numbers_keep_their_text() {
        let (v, _) = parse(r#"[18446744073709551617, 0.1000, -1.5e-7]"#);
        assert_eq!(v.to_json(), "[18446744073709551617,0.1000,-1.5e-7]");
    }

    /// Objects share one stack of members while read: nested ones, a
    /// repeated key inside one, and a line broken inside one leave the
    /// next value exactly its own members.
    #[test]
    fn nested_and_broken_objects_keep_their_own_members() {
        let text = "{\"a\": {\"b\": 1, \"c\": {\"d\": [1, {\"e\": 2}]}, \"b\": 3}, \"f\": -0.5}\n{\"x\": {\"y\": 1, \"z\": \n{\"p\": 1, \"q\": 2.50}\n";
        let mut r = JsonReader::new(text.as_bytes());
        r.set_one_value_per_line(true);
        let first = r.value().unwrap();
        assert_eq!(first.to_json(), r#"{"a":{"b":1,"c":{"d":[1,{"e":2}]}},"f":-0.5}"#);
        assert!(r.take_problem().is_some_and(|p| p.field.as_deref() == Some("b")));
        r.newline();
        assert!(r.value().is_err(), "the second line ends inside an object");
        r.skip_rest_of_line();
        let third = r.value().unwrap();
        assert_eq!(third.to_json(), r#"{"p":1,"q":2.50}"#);
        assert_eq!(r.take_problem(), None);
    }

    #[test]
    fn repeated_keys_and_nul_are_problems() {
        let (v, p) = parse(r#"{"a": 1, "a": 2}"#);
        assert_eq!(v.to_json(), r#"{"a":1}"#);
        assert!(p.unwrap().reason.contains("twice"));
        let (_, p) = parse(r#"{"a": "x\u0000y"}"#);
        assert!(p.unwrap().reason.contains("NUL"));
        let mut r = JsonReader::new(&b"\"a\xffb\""[..]);
        r.value().unwrap();
        assert!(r.take_problem().unwrap().reason.contains("UTF-8"));
    }

    #[test]
    fn syntax_errors_have_positions() {
        let mut r = JsonReader::new("[1,\n  2,, 3]".as_bytes());
        let e = r.value().unwrap_err();
        assert_eq!(
            e.at,
            Position {
                line: 2,
                column: 5,
                offset: 8
            }
        );
        let e = JsonReader::new("{\"a\": 01}".as_bytes()).value().unwrap_err();
        assert!(e.message.contains("leading zero"), "{e}");
    }

    #[test]
    fn every_buffer_boundary_reads_the_same() {
        let text = "\u{feff}[{\"a\": \"long string \\n with \\u00e9scapes and é\", \"n\": -12.5e+3},\n {\"b\": [true, false, null], \"a\": 1}]";
        let whole = JsonReader::new(text.as_bytes()).value().unwrap();
        for capacity in 3..24 {
            let mut r = JsonReader::with_buffer(text.as_bytes(), capacity);
            assert_eq!(r.value().unwrap(), whole, "buffer of {capacity}");
            assert!(r.take_problem().is_none());
            assert_eq!(r.position().line, 2, "buffer of {capacity}");
        }
    }

    /// Keys shared from the reader's slots, numbers and literals taken
    /// whole from the buffer: the same values, problems and errors (at
    /// the same places) as byte by byte, whatever the buffer's size.
    #[test]
    fn whole_tokens_read_as_byte_by_byte() {
        // 300 distinct keys (slots are shared), a repeat written escaped,
        // a long key, and each kind of scalar.
        let mut text = String::from("{");
        for i in 0..300 {
            text.push_str(&format!("\"k{i}\": {i}, "));
        }
        text.push_str(&format!(
            "\"{}\": -0.5e+7, \"t\": true, \"f\": false, \"n\": null, \"\\u006b7\": 1}}",
            "x".repeat(100)
        ));
        let whole = JsonReader::new(text.as_bytes()).value().unwrap();
        let JValue::Object(members) = &whole else {
            panic!("an object")
        };
        assert_eq!(members.len(), 304);
        assert_eq!(whole.get("k299"), Some(&JValue::Number("299".into())));
        assert_eq!(whole.get(&"x".repeat(100)), Some(&JValue::Number("-0.5e+7".into())));
        for capacity in [5, 7, 16, 64] {
            let mut r = JsonReader::with_buffer(text.as_bytes(), capacity);
            assert_eq!(r.value().unwrap(), whole, "buffer of {capacity}");
            let p = r.take_problem().expect("k7 appears twice");
            assert_eq!(p.field.as_deref(), Some("k7"));
        }
        let mut r = JsonReader::new(text.as_bytes());
        r.value().unwrap();
        assert_eq!(
            r.take_problem().unwrap().at.column,
            text.find("\"\\u006b7").unwrap() as u64 - 1
        );
        // Malformed numbers and literals fail where they did.
        for (bad, column, words) in [
            ("[1, 01]", 7, "leading zero"),
            ("[1, -]", 6, "no digits"),
            ("[1.]", 4, "no digits after the decimal point"),
            ("[1e+]", 5, "no digits in the exponent"),
            ("[tru]", 2, "expected true"),
            ("{\"a\" 1}", 6, "expected ':'"),
        ] {
            for capacity in [3, 4, 64] {
                let e = JsonReader::with_buffer(bad.as_bytes(), capacity).value().unwrap_err();
                assert_eq!(e.at.column, column, "{bad} with a buffer of {capacity}: {e}");
                assert!(e.message.contains(words), "{bad}: {e}");
            }
        }
    }

    #[test]
    fn escapes_and_surrogates() {
        let (v, p) = parse(r#""\ud83d\ude00 \u00e9\n""#);
        assert_eq!(v, JValue::String("😀 é\n".into()));
        assert!(p.is_none());
        let (_, p) = parse(r#""\ud83d""#);
        assert!(p.unwrap().reason.contains("surrogate"));
        // Nothing after a lone half is lost with it.
        let (v, p) = parse(r#""\ud800\u0041\ud800\n\ud800\ud83d\ude00x""#);
        assert_eq!(v, JValue::String("\u{FFFD}A\u{FFFD}\n\u{FFFD}😀x".into()));
        assert!(p.unwrap().reason.contains("surrogate"));
    }
}
