//! The application's queries: a `.sql` file with `-- name:`, `-- weight:`
//! and `-- params:` comments, or a JSON Lines log of captured statements
//! grouped into classes by fingerprint.
//!
//! Every statement's parameters are rewritten to `?NNN` with SQLite's own
//! numbering (`?` takes the largest index so far + 1, `?NNN` is NNN, a
//! name takes the index of its first occurrence), so SQLite runs the same
//! text and translation knows which value each placeholder carries.

use std::collections::HashMap;
use std::path::Path;

use sqlparser::dialect::SQLiteDialect;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer, Whitespace};

use super::params::{Draw, Param, ParamSpec};
use crate::error::{Error, Result};
use crate::source::sqlite::sql::span_offset;

/// One statement text with its parameters numbered.
#[derive(Debug, Clone)]
pub struct Statement {
    /// As written by the application (for the report).
    pub written: String,
    /// Parameters rewritten to `?NNN`.
    pub numbered: String,
    /// Parameter names by index (index 1 is `names[0]`); None for `?`.
    pub names: Vec<Option<String>>,
}

/// Where a class's parameter values come from.
#[derive(Debug, Clone)]
pub enum Values {
    /// Drawn per execution from the source's columns (`-- params:`).
    Drawn(Vec<ParamSpec>),
    /// Captured with the statement: (statement index, values).
    Captured(Vec<(usize, Vec<Param>)>),
}

/// A query class: one query (or, from a log, the statements sharing a
/// fingerprint) with its parameter values.
#[derive(Debug, Clone)]
pub struct Class {
    pub name: String,
    pub fingerprint: String,
    pub weight: u32,
    /// Distinct texts of the class; `.sql` classes have one.
    pub statements: Vec<Statement>,
    pub values: Values,
    /// Where the class was read from: `FILE:LINE`.
    pub origin: String,
}

/// What a queries file holds.
#[derive(Debug)]
pub struct Queries {
    pub classes: Vec<Class>,
    /// Transaction control in a captured log (`BEGIN`, `COMMIT`,
    /// `SAVEPOINT`...), left out: each execution runs as its own unit.
    pub transaction_control: usize,
}

/// Reads a `.sql` file or a `.jsonl`/`.json`/`.log` capture.
pub fn read(path: &Path) -> Result<Queries> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let jsonl = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jsonl" | "ndjson" | "json" | "log"));
    let (classes, transaction_control) = if jsonl || text.trim_start().starts_with('{') {
        read_log(path, &text)?
    } else {
        (read_sql(path, &text)?, 0)
    };
    if classes.is_empty() {
        return Err(Error::Usage(format!("{}: no queries found", path.display())));
    }
    Ok(Queries {
        classes,
        transaction_control,
    })
}

/// Whether a statement only begins, ends or marks a transaction.
fn is_transaction_control(sql: &str) -> bool {
    let first = sql
        .trim_start()
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    matches!(
        first.as_str(),
        "BEGIN" | "COMMIT" | "END" | "ROLLBACK" | "SAVEPOINT" | "RELEASE"
    )
}

fn tokens(sql: &str) -> std::result::Result<Vec<TokenWithSpan>, String> {
    Tokenizer::new(&SQLiteDialect {}, sql)
        .tokenize_with_location()
        .map_err(|e| e.to_string())
}

/// Statements of a `.sql` file, split at `;` outside strings and comments,
/// with the comment lines before each.
fn read_sql(path: &Path, text: &str) -> Result<Vec<Class>> {
    let at = |line: u64, message: String| Error::Source {
        path: path.to_path_buf(),
        message: format!("line {line}: {message}"),
    };
    let toks = tokens(text).map_err(|e| at(0, format!("cannot read the SQL: {e}")))?;
    let mut classes = Vec::new();
    let mut comments: Vec<(u64, String)> = Vec::new();
    let mut start: Option<(usize, u64)> = None;
    let mut flush = |start: &mut Option<(usize, u64)>, end: usize, comments: &mut Vec<(u64, String)>| -> Result<()> {
        let Some((from, line)) = start.take() else {
            comments.clear();
            return Ok(());
        };
        let written = text[from..end].trim().to_string();
        let mut name = None;
        let mut weight = 1;
        let mut params = Vec::new();
        for (cline, c) in comments.drain(..) {
            let c = c.trim();
            if let Some(v) = c.strip_prefix("name:") {
                name = Some(v.trim().to_string());
            } else if let Some(v) = c.strip_prefix("weight:") {
                weight = v
                    .trim()
                    .parse::<u32>()
                    .map_err(|_| at(cline, format!("weight {:?} is not a whole number", v.trim())))?;
            } else if let Some(v) = c.strip_prefix("params:") {
                params.extend(super::params::parse_specs(v).map_err(|e| at(cline, e))?);
            }
        }
        let written = from_python_format(&written).map_err(|e| at(line, e))?.into_owned();
        let statement = number(&written).map_err(|e| at(line, e))?;
        for spec in &params {
            if statement.index_of(&spec.name).is_none() {
                return Err(at(
                    line,
                    format!("-- params: names {}, which the statement does not use", spec.name),
                ));
            }
        }
        let index = classes.len() + 1;
        classes.push(Class {
            name: name.unwrap_or_else(|| format!("query_{index}")),
            fingerprint: fingerprint(&written),
            weight,
            statements: vec![statement],
            values: Values::Drawn(params),
            origin: format!("{}:{line}", path.display()),
        });
        Ok(())
    };
    for t in &toks {
        match &t.token {
            Token::Whitespace(Whitespace::SingleLineComment { comment, prefix }) if prefix == "--" => {
                if start.is_none() {
                    comments.push((t.span.start.line, comment.clone()));
                }
            }
            Token::Whitespace(_) => {}
            Token::SemiColon => {
                let end = span_offset(text, t.span.start).unwrap_or(text.len());
                flush(&mut start, end, &mut comments)?;
            }
            _ => {
                if start.is_none() {
                    let from = span_offset(text, t.span.start).unwrap_or(0);
                    start = Some((from, t.span.start.line));
                }
            }
        }
    }
    flush(&mut start, text.len(), &mut comments)?;
    // Names must tell classes apart in the report and in --emit-sql files.
    let mut seen = HashMap::new();
    for c in &classes {
        if let Some(other) = seen.insert(c.name.clone(), c.origin.clone()) {
            return Err(Error::Usage(format!(
                "{}: the name {} is given twice (also at {other})",
                c.origin, c.name
            )));
        }
    }
    Ok(classes)
}

/// A captured log: `{"sql": "...", "params": [...]}` per line (also
/// `"query"`/`"statement"` and `"parameters"`/`"args"`, as loggers spell them).
fn read_log(path: &Path, text: &str) -> Result<(Vec<Class>, usize)> {
    let mut classes: Vec<Class> = Vec::new();
    let mut transaction_control = 0;
    let mut by_fingerprint: HashMap<String, usize> = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let at = |message: String| Error::Source {
            path: path.to_path_buf(),
            message: format!("line {line_no}: {message}"),
        };
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(line).map_err(|e| at(format!("not a JSON object: {e}")))?;
        let sql = ["sql", "query", "statement"]
            .iter()
            .find_map(|k| value.get(*k).and_then(|v| v.as_str()))
            .ok_or_else(|| at("no \"sql\" string".into()))?;
        let params = ["params", "parameters", "args"]
            .iter()
            .find_map(|k| value.get(*k))
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        if is_transaction_control(sql) {
            transaction_control += 1;
            continue;
        }
        let sql = from_python_format(sql).map_err(at)?;
        let statement = number(&sql).map_err(at)?;
        let values = super::params::from_json(&params, &statement).map_err(at)?;
        let print = fingerprint(&sql);
        let class_index = *by_fingerprint.entry(print.clone()).or_insert_with(|| {
            classes.push(Class {
                name: format!("q{:08x}", xxhash_rust::xxh3::xxh3_64(print.as_bytes()) >> 32),
                fingerprint: print.clone(),
                weight: 0,
                statements: Vec::new(),
                values: Values::Captured(Vec::new()),
                origin: format!("{}:{line_no}", path.display()),
            });
            classes.len() - 1
        });
        let class = &mut classes[class_index];
        // Each captured execution counts once in the mix: busy classes weigh more.
        class.weight += 1;
        let statement_index = match class.statements.iter().position(|s| s.numbered == statement.numbered) {
            Some(p) => p,
            None => {
                class.statements.push(statement);
                class.statements.len() - 1
            }
        };
        if let Values::Captured(list) = &mut class.values {
            list.push((statement_index, values));
        }
    }
    Ok((classes, transaction_control))
}

impl Statement {
    /// The index of a parameter written `:name`, `@name`, `$name`, `?NNN`
    /// or `NNN`.
    pub fn index_of(&self, written: &str) -> Option<usize> {
        let bare = written.trim_start_matches(['?', ':', '@', '$']);
        if let Ok(n) = bare.parse::<usize>() {
            return (n >= 1 && n <= self.names.len()).then_some(n);
        }
        self.names
            .iter()
            .position(|n| {
                n.as_deref()
                    .is_some_and(|n| n.trim_start_matches([':', '@', '$']) == bare)
            })
            .map(|i| i + 1)
    }

    pub fn parameter_count(&self) -> usize {
        self.names.len()
    }
}

/// A statement logged in Python's DB-API `format`/`pyformat` style, as
/// Django's `execute_wrapper` and psycopg-style drivers log it, in the
/// text SQLite runs: `%s` becomes `?`, `%(name)s` becomes `:name`, and
/// `%%` becomes `%` throughout (Django's own conversion before it calls
/// SQLite). Only a statement with a `%s` or `%(name)s` outside strings and
/// comments is in that style: any other text is returned as it is, so
/// `strftime('%s', ...)` in a `?` statement keeps its meaning.
pub fn from_python_format(sql: &str) -> std::result::Result<std::borrow::Cow<'_, str>, String> {
    let toks = tokens(sql).map_err(|e| format!("cannot read the SQL: {e}"))?;
    let text = |t: &TokenWithSpan| -> &str {
        let from = span_offset(sql, t.span.start).unwrap_or(sql.len());
        let to = span_offset(sql, t.span.end).unwrap_or(sql.len());
        &sql[from.min(to)..to]
    };
    let adjacent = |a: &TokenWithSpan, b: &TokenWithSpan| a.span.end == b.span.start;
    // (tokens consumed, what replaces them) at a `%` that starts a parameter.
    let parameter_at = |i: usize| -> Option<(usize, String)> {
        let next = toks.get(i + 1)?;
        match &next.token {
            Token::Word(w) if w.quote_style.is_none() && w.value == "s" && adjacent(&toks[i], next) => {
                Some((2, "?".to_string()))
            }
            Token::LParen if adjacent(&toks[i], next) => {
                let (name, close, s) = (toks.get(i + 2)?, toks.get(i + 3)?, toks.get(i + 4)?);
                match (&name.token, &close.token, &s.token) {
                    (Token::Word(n), Token::RParen, Token::Word(w))
                        if n.quote_style.is_none()
                            && w.value == "s"
                            && adjacent(next, name)
                            && adjacent(name, close)
                            && adjacent(close, s) =>
                    {
                        Some((5, format!(":{}", n.value)))
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    };
    let is_escaped_percent = |i: usize| {
        toks.get(i + 1)
            .is_some_and(|n| n.token == Token::Mod && adjacent(&toks[i], n))
    };
    let mut in_format_style = false;
    let mut i = 0;
    while i < toks.len() {
        if toks[i].token == Token::Mod {
            if is_escaped_percent(i) {
                i += 2;
                continue;
            }
            if parameter_at(i).is_some() {
                in_format_style = true;
                break;
            }
        }
        i += 1;
    }
    if !in_format_style {
        return Ok(std::borrow::Cow::Borrowed(sql));
    }
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    while i < toks.len() {
        if toks[i].token == Token::Mod {
            if is_escaped_percent(i) {
                out.push('%');
                i += 2;
                continue;
            }
            if let Some((consumed, replacement)) = parameter_at(i) {
                out.push_str(&replacement);
                i += consumed;
                continue;
            }
        }
        // Inside strings, identifiers and comments too, as Django does.
        out.push_str(&text(&toks[i]).replace("%%", "%"));
        i += 1;
    }
    Ok(std::borrow::Cow::Owned(out))
}

/// Rewrites the parameters of one statement to `?NNN` with SQLite's numbering.
pub fn number(sql: &str) -> std::result::Result<Statement, String> {
    let toks = tokens(sql).map_err(|e| format!("cannot read the SQL: {e}"))?;
    let mut names: Vec<Option<String>> = Vec::new();
    let mut out = String::with_capacity(sql.len());
    let mut copied = 0usize;
    let mut i = 0;
    let assign = |names: &mut Vec<Option<String>>, name: Option<String>, explicit: Option<usize>| -> usize {
        if let Some(n) = explicit {
            if names.len() < n {
                names.resize(n, None);
            }
            return n;
        }
        if let Some(name) = &name
            && let Some(p) = names.iter().position(|x| x.as_ref() == Some(name))
        {
            return p + 1;
        }
        names.push(name);
        names.len()
    };
    while i < toks.len() {
        let t = &toks[i];
        let from = span_offset(sql, t.span.start).unwrap_or(sql.len());
        // (index, tokens consumed)
        let found: Option<(usize, usize)> = match &t.token {
            Token::Placeholder(p) if p == "?" => Some((assign(&mut names, None, None), 1)),
            Token::Placeholder(p) if p.starts_with('?') => {
                let n: usize = p[1..].parse().map_err(|_| format!("the parameter {p} is not ?NNN"))?;
                if n == 0 || n > 32766 {
                    return Err(format!("the parameter {p} is out of SQLite's range 1..32766"));
                }
                Some((assign(&mut names, None, Some(n)), 1))
            }
            Token::Placeholder(p) if p.starts_with('$') && p.len() > 1 => {
                Some((assign(&mut names, Some(p.clone()), None), 1))
            }
            Token::Word(w) if w.value.starts_with('@') && w.value.len() > 1 && w.quote_style.is_none() => {
                Some((assign(&mut names, Some(w.value.clone()), None), 1))
            }
            Token::Colon | Token::AtSign => match toks.get(i + 1) {
                Some(TokenWithSpan {
                    token: Token::Word(w),
                    span,
                }) if w.quote_style.is_none() && span.start == t.span.end => {
                    let sigil = if t.token == Token::Colon { ':' } else { '@' };
                    Some((assign(&mut names, Some(format!("{sigil}{}", w.value)), None), 2))
                }
                _ => None,
            },
            _ => None,
        };
        if let Some((index, consumed)) = found {
            let last = &toks[i + consumed - 1];
            let to = span_offset(sql, last.span.end).unwrap_or(sql.len());
            out.push_str(&sql[copied..from]);
            out.push_str(&format!("?{index}"));
            copied = to;
            i += consumed;
        } else {
            i += 1;
        }
    }
    out.push_str(&sql[copied..]);
    // A final `;` token (not one inside a comment or string) ends the text.
    let ends_with_semicolon = toks
        .iter()
        .rev()
        .find(|t| {
            !matches!(
                t.token,
                Token::Whitespace(Whitespace::Space | Whitespace::Newline | Whitespace::Tab)
            )
        })
        .is_some_and(|t| t.token == Token::SemiColon);
    let mut numbered = out.trim_end().to_string();
    if ends_with_semicolon {
        numbered.pop();
    }
    Ok(Statement {
        written: sql.trim().to_string(),
        numbered: numbered.trim().to_string(),
        names,
    })
}

/// The statement with literals and parameters out: lower-case words,
/// single spaces, `?` for every value, and `(?+)` for a list of them, so
/// `IN (1, 2)` and `IN (?, ?, ?)` are one class.
pub fn fingerprint(sql: &str) -> String {
    let Ok(toks) = tokens(sql) else {
        return sql.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    };
    let mut words: Vec<String> = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let t = &toks[i].token;
        let word = match t {
            Token::Whitespace(_) | Token::SemiColon => None,
            Token::Number(..)
            | Token::SingleQuotedString(_)
            | Token::HexStringLiteral(_)
            | Token::Placeholder(_)
            | Token::NationalStringLiteral(_) => Some("?".to_string()),
            Token::Colon | Token::AtSign if matches!(toks.get(i + 1).map(|t| &t.token), Some(Token::Word(w)) if w.quote_style.is_none()) =>
            {
                i += 1;
                Some("?".to_string())
            }
            Token::Word(w) if w.quote_style.is_none() && w.value.starts_with('@') => Some("?".to_string()),
            Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_lowercase()),
            Token::Word(w) => Some(w.value.to_lowercase()),
            Token::Minus
                if matches!(
                    words.last().map(String::as_str),
                    Some("(" | "," | "=" | "<" | ">" | "in")
                ) =>
            {
                // A sign, not a subtraction: part of the literal that follows.
                None
            }
            other => Some(other.to_string()),
        };
        if let Some(w) = word {
            words.push(w);
        }
        i += 1;
    }
    // Collapse lists of values: ( ? , ? , ? ) -> (?+)
    let mut out: Vec<String> = Vec::new();
    let mut j = 0;
    while j < words.len() {
        if words[j] == "(" && words.get(j + 1).is_some_and(|w| w == "?") {
            let mut k = j + 2;
            while words.get(k).is_some_and(|w| w == ",") && words.get(k + 1).is_some_and(|w| w == "?") {
                k += 2;
            }
            if words.get(k).is_some_and(|w| w == ")") && k > j + 2 {
                out.push("(?+)".into());
                j = k + 1;
                continue;
            }
        }
        out.push(words[j].clone());
        j += 1;
    }
    out.join(" ")
}

/// The draw for every named parameter of a statement, in index order
/// (None where the spec names none: such a class runs with NULL there).
pub fn draws_for<'a>(statement: &Statement, specs: &'a [ParamSpec]) -> Vec<Option<&'a Draw>> {
    (1..=statement.parameter_count())
        .map(|i| {
            specs
                .iter()
                .find(|s| statement.index_of(&s.name) == Some(i))
                .map(|s| &s.draw)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parameters_as_sqlite_does() {
        let s = number("SELECT * FROM t WHERE a = ? AND b = :b AND c = ?5 AND d = :b AND e = ? AND f = @f AND g = $g")
            .unwrap();
        assert_eq!(
            s.numbered,
            "SELECT * FROM t WHERE a = ?1 AND b = ?2 AND c = ?5 AND d = ?2 AND e = ?6 AND f = ?7 AND g = ?8"
        );
        assert_eq!(s.index_of(":b"), Some(2));
        assert_eq!(s.index_of("b"), Some(2));
        assert_eq!(s.index_of("@f"), Some(7));
        assert_eq!(s.index_of("$g"), Some(8));
        assert_eq!(s.parameter_count(), 8);
    }

    #[test]
    fn leaves_strings_and_comments_alone() {
        let s = number("SELECT ':x', '?' FROM t -- ?\nWHERE a = ?").unwrap();
        assert_eq!(s.numbered, "SELECT ':x', '?' FROM t -- ?\nWHERE a = ?1");
    }

    #[test]
    fn python_format_parameters_become_sqlite_parameters() {
        // As Django's execute_wrapper sees a statement, before its SQLite
        // backend converts it.
        let django = r#"SELECT "t"."id" FROM "t" WHERE "t"."title" LIKE %s ESCAPE '\' AND "t"."n" = %s AND strftime('%%Y', "t"."at") = '2023' AND "t"."pct" LIKE '5%%'"#;
        assert_eq!(
            from_python_format(django).unwrap(),
            r#"SELECT "t"."id" FROM "t" WHERE "t"."title" LIKE ? ESCAPE '\' AND "t"."n" = ? AND strftime('%Y', "t"."at") = '2023' AND "t"."pct" LIKE '5%'"#
        );
        let s = number(&from_python_format("SELECT * FROM t WHERE a = %(a)s AND b = %(b)s AND c = %(a)s").unwrap())
            .unwrap();
        assert_eq!(s.numbered, "SELECT * FROM t WHERE a = ?1 AND b = ?2 AND c = ?1");
        assert_eq!(s.index_of("a"), Some(1));
        // Not in that style: `%s` inside a string, `%` as modulo, `%%s` escaped.
        for sql in [
            "SELECT strftime('%s', at) FROM t WHERE a = ?",
            "SELECT a % 2 FROM t",
            "SELECT '%%s' FROM t",
        ] {
            assert_eq!(from_python_format(sql).unwrap(), sql);
        }
        assert_eq!(
            fingerprint(&from_python_format("SELECT a FROM t WHERE b = %s").unwrap()),
            fingerprint("SELECT a FROM t WHERE b = 5")
        );
    }

    #[test]
    fn fingerprint_takes_values_out() {
        assert_eq!(
            fingerprint("SELECT * FROM  t WHERE a = 5 AND b IN (1, 2, 3) AND c = 'x'"),
            fingerprint("select * from t where a = ? and b in (?, ?) and c = :c")
        );
        assert_ne!(fingerprint("SELECT a FROM t"), fingerprint("SELECT b FROM t"));
    }
}

#[cfg(test)]
mod file_tests {
    use super::*;

    #[test]
    fn sql_file_comments_describe_the_statement_after_them() {
        let text = "-- a file comment\n\n-- name: one\n-- weight: 4\n-- params: :id = users.id\nSELECT * FROM users WHERE id = :id;\n\nSELECT ';' FROM t -- trailing ;\n;\n";
        let classes = read_sql(Path::new("q.sql"), text).unwrap();
        assert_eq!(classes.len(), 2);
        assert_eq!(classes[0].name, "one");
        assert_eq!(classes[0].weight, 4);
        assert_eq!(classes[0].origin, "q.sql:6");
        assert!(matches!(&classes[0].values, Values::Drawn(specs) if specs.len() == 1));
        assert_eq!(classes[1].name, "query_2");
        assert_eq!(classes[1].statements[0].numbered, "SELECT ';' FROM t -- trailing ;");
    }

    #[test]
    fn transaction_control_in_a_log_is_counted_and_left_out() {
        let log = "{\"sql\": \"BEGIN\", \"params\": []}\n{\"sql\": \"SELECT 1\"}\n{\"sql\": \"savepoint \\\"s1\\\"\"}\n{\"sql\": \"COMMIT\"}\n";
        let (classes, transaction_control) = read_log(Path::new("q.jsonl"), log).unwrap();
        assert_eq!(classes.len(), 1);
        assert_eq!(transaction_control, 3);
        assert!(!is_transaction_control("SELECT begin FROM t"));
    }

    #[test]
    fn params_must_name_a_parameter_of_the_statement() {
        let err = read_sql(Path::new("q.sql"), "-- params: :nope = users.id\nSELECT 1;").unwrap_err();
        assert!(err.to_string().contains(":nope"), "{err}");
    }
}
