//! The shape of a JSON Lines record, learned from one line and matched
//! against the next ones byte for byte, so that a scan whose columns are
//! known makes a line's row without building its tree of values.
//!
//! Machine-written JSON Lines repeat one shape: the same members in the
//! same order, the same spacing, only the values change. A template is
//! that line with its values cut out: literal bytes (braces, member names,
//! colons, commas, spaces) between slots. A line that has every literal
//! where the template has it, and in every slot a token of the few kinds
//! below, is exactly the object the full reader would build: the same
//! members, with these values. Any other line (an escape in a string, a
//! nested array, one member more or less, other spacing) is left to the
//! full reader, which is the rule; the template only ever says "same
//! record as the reader would make" or "don't know".

use std::ops::Range;

use super::json::plain_run_len;

/// One value cut out of a line, as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token<'l> {
    Null,
    Bool(bool),
    /// A number's text (valid JSON number grammar).
    Number(&'l str),
    /// A string's text, with no escape, no control byte, valid UTF-8.
    String(&'l str),
    /// A string's text as written between its quotes, with escapes: each
    /// one RFC 8259 allows, except those the reader reports as a problem
    /// (a NUL, a lone surrogate). [`unescape`] gives its text.
    Escaped(&'l str),
    /// An array of such strings and nulls written compactly (`["a",null]`
    /// or `[]`): its text is the compact JSON the reader would write of it.
    Strings(&'l str),
}

/// A value's place in its object's text and its kind: a [`Token`] once
/// the text is known to be UTF-8. A line is matched on its bytes and only
/// its object's bytes are checked, so that a line holding many records
/// (a minified array) is not checked again for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    kind: CutKind,
    start: usize,
    end: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CutKind {
    Null,
    Bool(bool),
    Number,
    String,
    Escaped,
    Strings,
}

impl Cut {
    /// The value in `object`, the text [`Template::matches`] gave.
    pub fn token<'l>(&self, object: &'l str) -> Token<'l> {
        // Cuts start and end at ASCII bytes of that text; a string's text
        // is between its quotes.
        let text = |from: usize, to: usize| object.get(from..to).unwrap_or_default();
        match self.kind {
            CutKind::Null => Token::Null,
            CutKind::Bool(b) => Token::Bool(b),
            CutKind::Number => Token::Number(text(self.start, self.end)),
            CutKind::String => Token::String(text(self.start + 1, self.end - 1)),
            CutKind::Escaped => Token::Escaped(text(self.start + 1, self.end - 1)),
            CutKind::Strings => Token::Strings(text(self.start, self.end)),
        }
    }
}

/// Where a value goes: a selected column (by its index in the scan), or
/// nowhere (a member no column reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Column(usize),
    Skip,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(Range<usize>),
    Slot(Slot),
}

/// What a member's path means for the scan's columns.
enum PathUse {
    /// The value of the column at this index of the scan.
    Column(usize),
    /// An object some columns read inside.
    Inside,
    /// No column reads it.
    Unused,
}

/// The member paths of the columns a scan selects (None: a column read
/// from elsewhere than a field of the record, or not read at all).
pub struct Paths<'p> {
    paths: Vec<Option<&'p [String]>>,
}

impl<'p> Paths<'p> {
    pub fn new(paths: Vec<Option<&'p [String]>>) -> Paths<'p> {
        Paths { paths }
    }

    fn use_of(&self, path: &[&str]) -> Option<PathUse> {
        let mut found = PathUse::Unused;
        for (n, p) in self.paths.iter().enumerate() {
            let Some(p) = p else { continue };
            let common = p.len().min(path.len());
            if p[..common].iter().zip(&path[..common]).any(|(a, b)| a != b) {
                continue;
            }
            found = match (found, p.len() == path.len()) {
                // Two columns of one path, or a column that is also an
                // object others read inside: not a shape to cut.
                (PathUse::Column(_), _) | (PathUse::Inside, true) => return None,
                (PathUse::Unused, true) => PathUse::Column(n),
                (_, false) if p.len() > path.len() => PathUse::Inside,
                (found, false) => found,
            };
        }
        Some(found)
    }
}

/// Objects nested deeper than this are left to the full reader.
const MAX_DEPTH: usize = 16;

/// A record's shape: literal bytes and slots, in the order written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Template {
    literals: Vec<u8>,
    parts: Vec<Part>,
}

impl Template {
    /// The shape of the object that starts `line` (what follows it is the
    /// caller's to judge), or None when it is not an object of the kinds
    /// of values matched.
    pub fn learn(line: &[u8], paths: &Paths<'_>) -> Option<Template> {
        let mut learner = Learner {
            line,
            at: 0,
            literal_from: 0,
            template: Template::default(),
            path: Vec::new(),
        };
        learner.object(paths)?;
        learner.literal_to(learner.at);
        Some(learner.template)
    }

    /// Matches the start of `line` against the shape: the object's text
    /// (the line up to where it ends, valid UTF-8), and in `cuts` the value
    /// of every column it has, with its scan index.
    pub fn matches<'l>(&self, line: &'l [u8], cuts: &mut Vec<(usize, Cut)>) -> Option<&'l str> {
        cuts.clear();
        let mut at = 0;
        for part in &self.parts {
            match part {
                Part::Literal(range) => {
                    let literal = &self.literals[range.clone()];
                    if !line[at..].starts_with(literal) {
                        return None;
                    }
                    at += literal.len();
                }
                Part::Slot(slot) => {
                    let (kind, end) = token_at(line, at)?;
                    if let Slot::Column(n) = slot {
                        cuts.push((*n, Cut { kind, start: at, end }));
                    }
                    at = end;
                }
            }
        }
        // One check of the whole object costs less than one a string.
        std::str::from_utf8(&line[..at]).ok()
    }
}

/// Only blanks (spaces, tabs, a carriage return) after `end`: the rest of
/// a JSON Lines line after its record.
pub fn blank_after(line: &[u8], end: usize) -> bool {
    line[end..].iter().all(|b| matches!(b, b' ' | b'\t' | b'\r'))
}

struct Learner<'l> {
    line: &'l [u8],
    at: usize,
    /// Where the literal being gathered started.
    literal_from: usize,
    template: Template,
    path: Vec<&'l str>,
}

impl<'l> Learner<'l> {
    fn byte(&self) -> Option<u8> {
        self.line.get(self.at).copied()
    }

    fn spaces(&mut self) {
        while matches!(self.byte(), Some(b' ' | b'\t' | b'\r')) {
            self.at += 1;
        }
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        (self.byte()? == b).then(|| self.at += 1)
    }

    fn literal_to(&mut self, end: usize) {
        if end > self.literal_from {
            let start = self.template.literals.len();
            self.template
                .literals
                .extend_from_slice(&self.line[self.literal_from..end]);
            self.template
                .parts
                .push(Part::Literal(start..self.template.literals.len()));
        }
    }

    fn slot(&mut self, slot: Slot) -> Option<()> {
        let (_, end) = token_at(self.line, self.at)?;
        self.literal_to(self.at);
        self.template.parts.push(Part::Slot(slot));
        self.at = end;
        self.literal_from = end;
        Some(())
    }

    fn object(&mut self, paths: &Paths<'_>) -> Option<()> {
        if self.path.len() >= MAX_DEPTH {
            return None;
        }
        self.expect(b'{')?;
        self.spaces();
        if self.byte()? == b'}' {
            self.at += 1;
            return Some(());
        }
        let mut names: Vec<&str> = Vec::new();
        loop {
            let name = self.name()?;
            // A repeated member is a problem the full reader reports.
            if names.contains(&name) {
                return None;
            }
            names.push(name);
            self.spaces();
            self.expect(b':')?;
            self.spaces();
            self.path.push(name);
            match paths.use_of(&self.path)? {
                PathUse::Column(n) => self.slot(Slot::Column(n))?,
                PathUse::Unused => self.slot(Slot::Skip)?,
                PathUse::Inside => self.object(paths)?,
            }
            self.path.pop();
            self.spaces();
            match self.byte()? {
                b',' => {
                    self.at += 1;
                    self.spaces();
                }
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A member name with no escape (the name is the bytes written).
    fn name(&mut self) -> Option<&'l str> {
        let (CutKind::String, end) = token_at(self.line, self.at)? else {
            return None;
        };
        let name = std::str::from_utf8(&self.line[self.at + 1..end - 1]).ok()?;
        self.at = end;
        Some(name)
    }
}

/// The kind of the value at `at` and where it ends, if it is one of the
/// kinds matched. Values start and end at ASCII bytes.
fn token_at(line: &[u8], at: usize) -> Option<(CutKind, usize)> {
    let rest = line.get(at..)?;
    match *rest.first()? {
        b'"' => {
            let (end, escaped) = string_end(rest)?;
            Some((if escaped { CutKind::Escaped } else { CutKind::String }, at + end))
        }
        // What follows the number is the template's next literal, which
        // must match: a number read too short (`1.5` of `1.5.3`) fails there.
        b'-' | b'0'..=b'9' => Some((CutKind::Number, at + json_number_len(rest)?)),
        b't' if rest.starts_with(b"true") => Some((CutKind::Bool(true), at + 4)),
        b'f' if rest.starts_with(b"false") => Some((CutKind::Bool(false), at + 5)),
        b'n' if rest.starts_with(b"null") => Some((CutKind::Null, at + 4)),
        b'[' => Some((CutKind::Strings, at + strings_array_len(rest)?)),
        _ => None,
    }
}

/// The length of a plain string at the start of `rest`, both quotes in.
fn plain_string_end(rest: &[u8]) -> Option<usize> {
    let plain = plain_run_len(&rest[1..]);
    (rest.get(1 + plain) == Some(&b'"')).then_some(plain + 2)
}

/// The length of the string at the start of `rest`, both quotes in, and
/// whether it holds an escape; None for a control byte, an escape the
/// grammar has not, or one the reader reports as a problem.
fn string_end(rest: &[u8]) -> Option<(usize, bool)> {
    let mut at = 1;
    let mut escaped = false;
    loop {
        at += plain_run_len(&rest[at..]);
        match rest.get(at)? {
            b'"' => return Some((at + 1, escaped)),
            b'\\' => {
                escaped = true;
                at += escape_len(&rest[at..])?;
            }
            _ => return None,
        }
    }
}

/// The length of the escape at the start of `escape` (a backslash first).
fn escape_len(escape: &[u8]) -> Option<usize> {
    const HIGH: std::ops::Range<u32> = 0xD800..0xDC00;
    const LOW: std::ops::Range<u32> = 0xDC00..0xE000;
    match escape.get(1)? {
        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(2),
        b'u' => match hex4(escape.get(2..6)?)? {
            0 => None,
            high if HIGH.contains(&high) => {
                let low = (escape.get(6..8)? == b"\\u").then(|| hex4(escape.get(8..12)?))??;
                LOW.contains(&low).then_some(12)
            }
            low if LOW.contains(&low) => None,
            _ => Some(6),
        },
        _ => None,
    }
}

fn hex4(digits: &[u8]) -> Option<u32> {
    digits
        .iter()
        .try_fold(0u32, |acc, &d| Some(acc * 16 + char::from(d).to_digit(16)?))
}

/// The text of an [`Token::Escaped`] string, appended to `out`.
pub fn unescape(raw: &str, out: &mut String) {
    let mut rest = raw;
    while let Some(slash) = rest.find('\\') {
        out.push_str(&rest[..slash]);
        let escape = &rest.as_bytes()[slash..];
        let len = escape_len(escape).unwrap_or(2);
        let c = match escape[1] {
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let first = hex4(&escape[2..6]).unwrap_or(0xFFFD);
                let code = if len == 12 {
                    let low = hex4(&escape[8..12]).unwrap_or(0xDC00);
                    0x10000 + ((first - 0xD800) << 10) + (low - 0xDC00)
                } else {
                    first
                };
                char::from_u32(code).unwrap_or('\u{FFFD}')
            }
            other => char::from(other),
        };
        out.push(c);
        rest = &rest[slash + len..];
    }
    out.push_str(rest);
}

/// The length of a compact array of plain strings and nulls at the start
/// of `rest`.
fn strings_array_len(rest: &[u8]) -> Option<usize> {
    let mut at = 1;
    if rest.get(at) == Some(&b']') {
        return Some(2);
    }
    loop {
        match rest.get(at)? {
            b'"' => at += plain_string_end(&rest[at..])?,
            b'n' if rest[at..].starts_with(b"null") => at += 4,
            _ => return None,
        }
        match rest.get(at)? {
            b',' => at += 1,
            b']' => return Some(at + 1),
            _ => return None,
        }
    }
}

/// The length of the number at the start of `text` by RFC 8259's grammar,
/// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, the longest
/// it reads; None when no number starts there.
fn json_number_len(text: &[u8]) -> Option<usize> {
    fn digits(text: &[u8], at: &mut usize) -> usize {
        let start = *at;
        while text.get(*at).is_some_and(u8::is_ascii_digit) {
            *at += 1;
        }
        *at - start
    }
    let mut at = usize::from(text.first() == Some(&b'-'));
    match text.get(at)? {
        b'0' => at += 1,
        b'1'..=b'9' => {
            digits(text, &mut at);
        }
        _ => return None,
    }
    if text.get(at) == Some(&b'.') {
        at += 1;
        if digits(text, &mut at) == 0 {
            return None;
        }
    }
    if matches!(text.get(at), Some(b'e' | b'E')) {
        at += 1;
        if matches!(text.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        if digits(text, &mut at) == 0 {
            return None;
        }
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(list: &[&str]) -> Vec<Vec<String>> {
        list.iter()
            .map(|p| p.split('.').map(str::to_string).collect())
            .collect()
    }

    fn index(paths: &[Vec<String>]) -> Paths<'_> {
        Paths::new(paths.iter().map(|p| Some(p.as_slice())).collect())
    }

    /// The tokens of a JSON Lines line, nothing but blanks after its record.
    fn tokens<'l>(template: &Template, line: &'l str) -> Option<Vec<(usize, Token<'l>)>> {
        let mut cuts = Vec::new();
        let object = template.matches(line.as_bytes(), &mut cuts)?;
        blank_after(line.as_bytes(), object.len()).then(|| cuts.iter().map(|(n, c)| (*n, c.token(object))).collect())
    }

    /// The one value a string is, as a line's value.
    fn token_of(text: &str) -> Option<(Token<'_>, usize)> {
        let (kind, end) = token_at(text.as_bytes(), 0)?;
        Some((Cut { kind, start: 0, end }.token(text), end))
    }

    #[test]
    fn a_line_of_the_same_shape_gives_its_values_by_column() {
        let p = paths(&["id", "kind", "device.os", "tags", "ok"]);
        let first = r#"{"id":1,"kind":"view","device":{"os":"mac","v":"1"},"tags":["a"],"ok":true,"x":null}"#;
        let t = Template::learn(first.as_bytes(), &index(&p)).unwrap();
        let line = r#"{"id":-2.5e3,"kind":"é","device":{"os":null,"v":7},"tags":[],"ok":false,"x":"skip"}  "#;
        assert_eq!(
            tokens(&t, line).unwrap(),
            vec![
                (0, Token::Number("-2.5e3")),
                (1, Token::String("é")),
                (2, Token::Null),
                (3, Token::Strings("[]")),
                (4, Token::Bool(false)),
            ]
        );
    }

    #[test]
    fn lines_the_reader_would_read_otherwise_do_not_match() {
        let p = paths(&["id", "kind", "tags"]);
        let t = Template::learn(br#"{"id": 1, "kind": "a", "tags": ["x", null]}"#, &index(&p));
        assert!(t.is_none(), "an array with spaces is not one of the matched values");
        let t = Template::learn(br#"{"id": 1, "kind": "a", "tags": ["x",null]}"#, &index(&p)).unwrap();
        for line in [
            r#"{"id": 1, "kind": "a\u0000b", "tags": []}"#,
            r#"{"id": 1, "kind": "a", "tags": ["\n"]}"#,
            r#"{"id": 1, "kind": "a", "tags": [1]}"#,
            r#"{"id": 01, "kind": "a", "tags": []}"#,
            r#"{"id": 1., "kind": "a", "tags": []}"#,
            r#"{"id": 1,"kind": "a", "tags": []}"#,
            r#"{"id": 1, "kind": "a", "tags": [], "more": 1}"#,
            r#"{"id": 1, "kind": {"a": 1}, "tags": []}"#,
            r#"{"id": 1, "kind": "a", "tags": []} 1"#,
            r#"{"id": 1, "kind": "	", "tags": []}"#,
            r#"{"id": 1, "kind": "a", "tags": ["x",]}"#,
            r#"{"id": tru, "kind": "a", "tags": []}"#,
        ] {
            assert_eq!(tokens(&t, line), None, "{line}");
        }
        let bad_utf8 = b"{\"id\": 1, \"kind\": \"\xff\", \"tags\": []}";
        assert_eq!(t.matches(bad_utf8, &mut Vec::new()), None);
    }

    #[test]
    fn shapes_the_full_reader_must_judge_are_not_learned() {
        let p = paths(&["id", "a.b", "c"]);
        for line in [
            r#"{"id":1,"id":2}"#,
            r#"{"id":1,"a":2}"#,
            r#"{"id":1,"c":{"d":1}}"#,
            r#"{"id":1,"z":[1,2]}"#,
            r#"{"i\u0064":1}"#,
            r#"[1]"#,
        ] {
            assert_eq!(Template::learn(line.as_bytes(), &index(&p)), None, "{line}");
        }
        let two = paths(&["a", "a.b"]);
        assert_eq!(Template::learn(br#"{"a":{"b":1}}"#, &index(&two)), None);
    }

    #[test]
    fn escapes_are_read_as_the_reader_reads_them_and_problems_are_left_to_it() {
        for (raw, text) in [
            (r#"a\"b"#, "a\"b"),
            (r#"\\\/\b\f\n\r\t"#, "\\/\u{8}\u{c}\n\r\t"),
            (r#"\u00e9\u00E9x"#, "ééx"),
            (r#"\ud834\udd1e"#, "𝄞"),
        ] {
            let token = format!("\"{raw}\"");
            assert_eq!(token_of(&token), Some((Token::Escaped(raw), token.len())), "{raw}");
            let mut out = String::new();
            unescape(raw, &mut out);
            assert_eq!(out, text, "{raw}");
        }
        for raw in [
            r#"\u0000"#,
            r#"\ud834"#,
            r#"\ud834x"#,
            r#"\ud834\u0041"#,
            r#"\udd1e"#,
            r#"\x"#,
            r#"\u12"#,
            r#"\u12g4"#,
        ] {
            let token = format!("\"{raw}\"");
            assert_eq!(token_of(&token), None, "{raw}");
        }
    }

    #[test]
    fn numbers_follow_the_json_grammar() {
        for good in ["0", "-0", "12", "1.5", "-1.5e10", "1E+2", "1e-2", "0.0"] {
            assert_eq!(json_number_len(good.as_bytes()), Some(good.len()), "{good}");
        }
        for bad in ["", "-", "1.", ".5", "1e", "1e+", "+1", "--1", "1.x", "-a"] {
            assert_eq!(json_number_len(bad.as_bytes()), None, "{bad}");
        }
        // Read as far as the grammar goes; the literal after it decides.
        for (text, len) in [("01", Some(1)), ("1-2", Some(1)), ("1.2.3", Some(3)), ("1ee2", None)] {
            assert_eq!(json_number_len(text.as_bytes()), len, "{text}");
        }
    }
}
