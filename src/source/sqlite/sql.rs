//! A small SQLite tokenizer and the parsing of CREATE TABLE / CREATE INDEX
//! text for what the PRAGMAs leave out: CHECK constraints, generated-column
//! expressions, DEFERRABLE, AUTOINCREMENT, expression-index parts and
//! partial-index predicates.

#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    /// A bare word: keyword or unquoted identifier.
    Word(String),
    /// A quoted identifier ("x", [x] or `x`), unquoted.
    QuotedIdent(String),
    /// A string literal, unquoted.
    Str(String),
    /// A number, as written.
    Number(String),
    /// A blob literal x'..', hex digits as written.
    Blob(String),
    /// Operators and punctuation.
    Punct(String),
}

impl Token {
    pub fn is_word(&self, word: &str) -> bool {
        matches!(self, Token::Word(w) if w.eq_ignore_ascii_case(word))
    }

    pub fn is_punct(&self, p: &str) -> bool {
        matches!(self, Token::Punct(x) if x == p)
    }

    /// The name this token spells, if it can be an identifier.
    pub fn ident(&self) -> Option<&str> {
        match self {
            Token::Word(w) | Token::QuotedIdent(w) => Some(w),
            Token::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The token as SQLite text, re-quoted.
    pub fn to_sql(&self) -> String {
        match self {
            Token::Word(w) => w.clone(),
            Token::QuotedIdent(i) => format!("\"{}\"", i.replace('"', "\"\"")),
            Token::Str(s) => format!("'{}'", s.replace('\'', "''")),
            Token::Number(n) => n.clone(),
            Token::Blob(b) => format!("x'{b}'"),
            Token::Punct(p) => p.clone(),
        }
    }
}

pub fn tokenize(sql: &str) -> Vec<Token> {
    let chars: Vec<char> = sql.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let quoted = |i: &mut usize, close: char| -> String {
        let mut out = String::new();
        *i += 1;
        while *i < chars.len() {
            if chars[*i] == close {
                if *i + 1 < chars.len() && chars[*i + 1] == close && close != ']' {
                    out.push(close);
                    *i += 2;
                    continue;
                }
                *i += 1;
                break;
            }
            out.push(chars[*i]);
            *i += 1;
        }
        out
    };
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            i += 2;
        } else if (c == 'x' || c == 'X') && chars.get(i + 1) == Some(&'\'') {
            i += 1;
            tokens.push(Token::Blob(quoted(&mut i, '\'')));
        } else if c == '\'' {
            tokens.push(Token::Str(quoted(&mut i, '\'')));
        } else if c == '"' {
            tokens.push(Token::QuotedIdent(quoted(&mut i, '"')));
        } else if c == '`' {
            tokens.push(Token::QuotedIdent(quoted(&mut i, '`')));
        } else if c == '[' {
            tokens.push(Token::QuotedIdent(quoted(&mut i, ']')));
        } else if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric()
                    || chars[i] == '.'
                    || ((chars[i] == '+' || chars[i] == '-')
                        && matches!(chars[i - 1], 'e' | 'E')
                        && !chars[start..i].iter().any(|c| *c == 'x' || *c == 'X')))
            {
                i += 1;
            }
            tokens.push(Token::Number(chars[start..i].iter().collect()));
        } else if c.is_alphanumeric() || c == '_' || c == '$' || !c.is_ascii() {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$' || !chars[i].is_ascii())
            {
                i += 1;
            }
            tokens.push(Token::Word(chars[start..i].iter().collect()));
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            if ["||", "<=", ">=", "<>", "!=", "==", "<<", ">>", "->"].contains(&two.as_str()) {
                if two == "->" && chars.get(i + 2) == Some(&'>') {
                    tokens.push(Token::Punct("->>".into()));
                    i += 3;
                } else {
                    tokens.push(Token::Punct(two));
                    i += 2;
                }
            } else {
                tokens.push(Token::Punct(c.to_string()));
                i += 1;
            }
        }
    }
    tokens
}

/// Joins tokens back into SQLite text.
pub fn untokenize(tokens: &[Token]) -> String {
    let mut out = String::new();
    for (i, t) in tokens.iter().enumerate() {
        let text = t.to_sql();
        if i > 0 {
            let prev = &tokens[i - 1];
            let tight = prev.is_punct("(")
                || t.is_punct(")")
                || t.is_punct(",")
                || t.is_punct(".")
                || prev.is_punct(".")
                || (t.is_punct("(") && matches!(prev, Token::Word(_)));
            if !tight {
                out.push(' ');
            }
        }
        out.push_str(&text);
    }
    out
}

/// Splits `tokens` at top-level commas.
pub fn split_commas(tokens: &[Token]) -> Vec<&[Token]> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, t) in tokens.iter().enumerate() {
        if t.is_punct("(") {
            depth += 1;
        } else if t.is_punct(")") {
            depth -= 1;
        } else if t.is_punct(",") && depth == 0 {
            parts.push(&tokens[start..i]);
            start = i + 1;
        }
    }
    if start < tokens.len() {
        parts.push(&tokens[start..]);
    }
    parts
}

/// Index of the `)` matching the `(` at `open`.
pub fn matching_paren(tokens: &[Token], open: usize) -> Option<usize> {
    let mut depth = 0;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        if t.is_punct("(") {
            depth += 1;
        } else if t.is_punct(")") {
            depth -= 1;
            if depth == 0 {
                return Some(i);
            }
        }
    }
    None
}

/// What the CREATE TABLE text says beyond the PRAGMAs.
#[derive(Debug, Default, Clone)]
pub struct TableText {
    pub checks: Vec<(Option<String>, String)>,
    /// Column name → (expression, stored).
    pub generated: Vec<(String, String, bool)>,
    /// Column name → collation.
    pub collations: Vec<(String, String)>,
    pub autoincrement: bool,
    /// (child columns, parent table, deferrable, constraint name) in order of appearance.
    pub foreign_keys: Vec<(Vec<String>, String, crate::source::Deferrable, Option<String>)>,
}

const COLUMN_CONSTRAINT_WORDS: &[&str] = &[
    "CONSTRAINT",
    "PRIMARY",
    "NOT",
    "NULL",
    "UNIQUE",
    "CHECK",
    "DEFAULT",
    "COLLATE",
    "REFERENCES",
    "GENERATED",
    "AS",
];

pub fn parse_create_table(sql: &str) -> TableText {
    let tokens = tokenize(sql);
    let mut text = TableText::default();
    let Some(open) = tokens.iter().position(|t| t.is_punct("(")) else {
        return text;
    };
    let Some(close) = matching_paren(&tokens, open) else {
        return text;
    };
    for item in split_commas(&tokens[open + 1..close]) {
        let Some(first) = item.first() else { continue };
        let is_table_constraint = ["CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"]
            .iter()
            .any(|w| first.is_word(w));
        if is_table_constraint {
            parse_table_constraint(item, &mut text);
        } else {
            parse_column_def(item, &mut text);
        }
    }
    text
}

fn parse_table_constraint(item: &[Token], text: &mut TableText) {
    let mut i = 0;
    let mut name = None;
    if item[0].is_word("CONSTRAINT") {
        name = item.get(1).and_then(|t| t.ident()).map(str::to_string);
        i = 2;
    }
    let Some(head) = item.get(i) else { return };
    if head.is_word("CHECK") {
        if let Some(expr) = parenthesised(item, i + 1) {
            text.checks.push((name, expr));
        }
    } else if head.is_word("FOREIGN") {
        // FOREIGN KEY (cols) REFERENCES parent ...
        let open = i + 2;
        if let Some(close) = item
            .get(open)
            .filter(|t| t.is_punct("("))
            .and_then(|_| matching_paren(item, open))
        {
            let columns: Vec<String> = item[open + 1..close]
                .iter()
                .filter_map(|t| t.ident())
                .map(str::to_string)
                .collect();
            parse_references(&item[close + 1..], columns, name, text);
        }
    } else if head.is_word("PRIMARY") && item.iter().any(|t| t.is_word("AUTOINCREMENT")) {
        text.autoincrement = true;
    }
}

fn parse_column_def(item: &[Token], text: &mut TableText) {
    let Some(column) = item[0].ident().map(str::to_string) else {
        return;
    };
    let mut i = 1;
    // Skip the type name (words and a parenthesised size) up to the first constraint word.
    while i < item.len() && !COLUMN_CONSTRAINT_WORDS.iter().any(|w| item[i].is_word(w)) {
        if item[i].is_punct("(") {
            i = matching_paren(item, i).unwrap_or(item.len());
        }
        i += 1;
    }
    let mut constraint_name = None;
    while i < item.len() {
        let t = &item[i];
        if t.is_word("CONSTRAINT") {
            constraint_name = item.get(i + 1).and_then(|t| t.ident()).map(str::to_string);
            i += 2;
            continue;
        }
        if t.is_word("CHECK") {
            if let Some(expr) = parenthesised(item, i + 1) {
                text.checks.push((constraint_name.take(), expr));
            }
        } else if t.is_word("AUTOINCREMENT") {
            text.autoincrement = true;
        } else if t.is_word("COLLATE") {
            if let Some(name) = item.get(i + 1).and_then(|t| t.ident()) {
                text.collations.push((column.clone(), name.to_string()));
            }
        } else if t.is_word("AS") {
            if let Some(expr) = parenthesised(item, i + 1) {
                let after = matching_paren(item, i + 1).map(|c| c + 1).unwrap_or(item.len());
                let stored = item.get(after).is_some_and(|t| t.is_word("STORED"));
                text.generated.push((column.clone(), expr, stored));
            }
        } else if t.is_word("REFERENCES") {
            parse_references(&item[i..], vec![column.clone()], constraint_name.take(), text);
            // Skip past the references clause (its words are not column constraints).
            break;
        }
        if item.get(i + 1).is_some_and(|n| n.is_punct("(")) {
            i = matching_paren(item, i + 1).unwrap_or(item.len());
        }
        i += 1;
    }
}

fn parse_references(tokens: &[Token], columns: Vec<String>, name: Option<String>, text: &mut TableText) {
    use crate::source::Deferrable;
    let Some(pos) = tokens.iter().position(|t| t.is_word("REFERENCES")) else {
        return;
    };
    let Some(parent) = tokens.get(pos + 1).and_then(|t| t.ident()) else {
        return;
    };
    let mut deferrable = Deferrable::No;
    for (i, t) in tokens.iter().enumerate() {
        if t.is_word("DEFERRABLE") && !tokens.get(i.wrapping_sub(1)).is_some_and(|p| p.is_word("NOT")) {
            deferrable = if tokens.get(i + 1).is_some_and(|x| x.is_word("INITIALLY"))
                && tokens.get(i + 2).is_some_and(|x| x.is_word("DEFERRED"))
            {
                Deferrable::InitiallyDeferred
            } else {
                Deferrable::InitiallyImmediate
            };
        }
    }
    text.foreign_keys.push((columns, parent.to_string(), deferrable, name));
}

/// The text inside the parentheses starting at `open`.
fn parenthesised(tokens: &[Token], open: usize) -> Option<String> {
    if !tokens.get(open)?.is_punct("(") {
        return None;
    }
    let close = matching_paren(tokens, open)?;
    Some(untokenize(&tokens[open + 1..close]))
}

/// What the CREATE INDEX text says: each part's SQL and the WHERE clause.
#[derive(Debug, Default, Clone)]
pub struct IndexText {
    /// Each indexed term as SQLite SQL, with its DESC flag.
    pub parts: Vec<(Vec<Token>, bool)>,
    pub predicate: Option<String>,
}

pub fn parse_create_index(sql: &str) -> IndexText {
    let tokens = tokenize(sql);
    let mut out = IndexText::default();
    let Some(on) = tokens.iter().position(|t| t.is_word("ON")) else {
        return out;
    };
    let Some(open) = tokens.iter().skip(on).position(|t| t.is_punct("(")).map(|p| p + on) else {
        return out;
    };
    let Some(close) = matching_paren(&tokens, open) else {
        return out;
    };
    for part in split_commas(&tokens[open + 1..close]) {
        let mut part = part.to_vec();
        let mut descending = false;
        if part.last().is_some_and(|t| t.is_word("DESC")) {
            descending = true;
            part.pop();
        } else if part.last().is_some_and(|t| t.is_word("ASC")) {
            part.pop();
        }
        out.parts.push((part, descending));
    }
    if let Some(w) = tokens[close..].iter().position(|t| t.is_word("WHERE")) {
        out.predicate = Some(untokenize(&tokens[close + w + 1..]));
    }
    out
}

/// The SELECT of a `CREATE VIEW` exactly as written (SQLite names an
/// expression column by its text, spaces included): what follows the
/// first top-level `AS`. None when the statement cannot be tokenized.
pub fn view_body(create: &str) -> Option<String> {
    use sqlparser::keywords::Keyword;
    use sqlparser::tokenizer::{Token as Tok, Tokenizer};
    let dialect = sqlparser::dialect::SQLiteDialect {};
    let tokens = Tokenizer::new(&dialect, create).tokenize_with_location().ok()?;
    let mut depth = 0i32;
    // `CREATE VIEW v(a, b) AS ...`: the names SQLite gives the columns.
    let mut columns: Vec<String> = Vec::new();
    for t in &tokens {
        match &t.token {
            Tok::LParen => depth += 1,
            Tok::RParen => depth -= 1,
            Tok::Word(w) if depth == 1 => columns.push(w.value.clone()),
            Tok::Word(w) if depth == 0 && w.keyword == Keyword::AS && w.quote_style.is_none() => {
                let start = span_offset(create, t.span.end)?;
                let select = create.get(start..)?.trim().trim_end_matches(';').trim_end().to_string();
                if columns.is_empty() {
                    return Some(select);
                }
                // Said as a derived table with column aliases, which the translator renames.
                let list: Vec<String> = columns
                    .iter()
                    .map(|c| format!("\"{}\"", c.replace('"', "\"\"")))
                    .collect();
                return Some(format!("SELECT * FROM ({select}) AS godwit_view({})", list.join(", ")));
            }
            _ => {}
        }
    }
    None
}

pub fn span_offset(source: &str, at: sqlparser::tokenizer::Location) -> Option<usize> {
    let mut pos = 0usize;
    for (i, l) in source.split_inclusive('\n').enumerate() {
        if u64::try_from(i + 1).ok()? == at.line {
            let col = usize::try_from(at.column.checked_sub(1)?).ok()?;
            return Some(pos + l.char_indices().nth(col).map(|(b, _)| b).unwrap_or(l.len()));
        }
        pos += l.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Deferrable;

    #[test]
    fn tokenizes_quotes_and_comments() {
        let t = tokenize(
            r#"SELECT "a""b", [c d], `e`, 'it''s', x'00ff', 1.5e-3 -- no
        /* gone */ FROM t"#,
        );
        assert_eq!(t[1], Token::QuotedIdent("a\"b".into()));
        assert_eq!(t[3], Token::QuotedIdent("c d".into()));
        assert_eq!(t[5], Token::QuotedIdent("e".into()));
        assert_eq!(t[7], Token::Str("it's".into()));
        assert_eq!(t[9], Token::Blob("00ff".into()));
        assert_eq!(t[11], Token::Number("1.5e-3".into()));
        assert!(t[12].is_word("FROM"));
    }

    #[test]
    fn finds_checks_generated_fks_and_autoincrement() {
        let text = parse_create_table(
            "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, a INT CHECK (a > 0), \
             b TEXT COLLATE NOCASE, c INT GENERATED ALWAYS AS (a * 2) STORED, d AS (a + 1), \
             p INT REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED, \
             CONSTRAINT ck CHECK (a < 100), FOREIGN KEY (a, b) REFERENCES other (x, y) ON DELETE CASCADE)",
        );
        assert!(text.autoincrement);
        assert_eq!(
            text.checks,
            vec![(None, "a > 0".to_string()), (Some("ck".into()), "a < 100".to_string())]
        );
        assert_eq!(
            text.generated,
            vec![("c".into(), "a * 2".into(), true), ("d".into(), "a + 1".into(), false)]
        );
        assert_eq!(text.collations, vec![("b".into(), "NOCASE".into())]);
        assert_eq!(text.foreign_keys.len(), 2);
        assert_eq!(text.foreign_keys[0].2, Deferrable::InitiallyDeferred);
        assert_eq!(text.foreign_keys[1].0, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(text.foreign_keys[1].2, Deferrable::No);
    }

    #[test]
    fn parses_expression_and_partial_indexes() {
        let idx = parse_create_index("CREATE INDEX i ON t (lower(name) DESC, \"Age\") WHERE deleted = 0");
        assert_eq!(idx.parts.len(), 2);
        assert!(idx.parts[0].1);
        assert_eq!(untokenize(&idx.parts[0].0), "lower(name)");
        assert_eq!(idx.predicate.as_deref(), Some("deleted = 0"));
    }
}
