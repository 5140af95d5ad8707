//! SQLite expressions (CHECKs, defaults, index terms, predicates, views)
//! rewritten for PostgreSQL. Names are re-quoted in their target spelling,
//! because PostgreSQL folds unquoted names to lower case; the handful of
//! SQLite-only functions are mapped. What cannot be rewritten is left for
//! the server to reject, and the caller reports that object as not migrated.

use std::collections::HashMap;

use crate::plan::types::{Cast, PgType};
use crate::source::sqlite::sql::{Token, matching_paren, split_commas, tokenize};
use crate::target::postgres::conn::{quote_ident, quote_literal};

/// Source names → target names, for the names an expression may use.
#[derive(Debug, Default, Clone)]
pub struct Names {
    /// Lower-cased source name → every (source spelling, target) pair.
    pub names: HashMap<String, Vec<(String, String)>>,
    /// Lower-cased source names of boolean columns, so `flag = 1` becomes `flag = true`.
    pub booleans: Vec<String>,
}

impl Names {
    pub fn insert(&mut self, source: &str, target: &str) {
        let entry = self.names.entry(source.to_lowercase()).or_default();
        if !entry.iter().any(|(s, _)| s == source) {
            entry.push((source.to_string(), target.to_string()));
        }
    }

    /// SQLite resolves names case-insensitively: the exact spelling wins,
    /// else the one target all spellings agree on. When tables disagree
    /// (`id` here, `Id` there), the name is kept as written.
    fn target(&self, source: &str) -> Option<&str> {
        let candidates = self.names.get(&source.to_lowercase())?;
        if let Some((_, target)) = candidates.iter().find(|(s, _)| s == source) {
            return Some(target);
        }
        let first = &candidates.first()?.1;
        candidates.iter().all(|(_, t)| t == first).then_some(first.as_str())
    }

    fn is_boolean(&self, source: &str) -> bool {
        self.booleans.iter().any(|b| b.eq_ignore_ascii_case(source))
    }
}

const KEYWORDS: &[&str] = &[
    "AND",
    "OR",
    "NOT",
    "IS",
    "NULL",
    "IN",
    "LIKE",
    "BETWEEN",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "CAST",
    "AS",
    "TRUE",
    "FALSE",
    "CURRENT_TIMESTAMP",
    "CURRENT_DATE",
    "CURRENT_TIME",
    "ESCAPE",
    "EXISTS",
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP",
    "BY",
    "ORDER",
    "HAVING",
    "LIMIT",
    "OFFSET",
    "JOIN",
    "LEFT",
    "RIGHT",
    "INNER",
    "OUTER",
    "CROSS",
    "ON",
    "USING",
    "DISTINCT",
    "ALL",
    "UNION",
    "INTERSECT",
    "EXCEPT",
    "ASC",
    "DESC",
    "NULLS",
    "FIRST",
    "LAST",
    "ISNULL",
    "NOTNULL",
    "COLLATE",
    "WITH",
    "RECURSIVE",
    "OVER",
    "PARTITION",
    "FILTER",
    "VALUES",
];

/// Rewrites a SQLite expression or SELECT for PostgreSQL.
pub fn translate(sql: &str, names: &Names) -> String {
    rewrite(&tokenize(sql), names)
}

fn rewrite(tokens: &[Token], names: &Names) -> String {
    let mut out: Vec<String> = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        let next_is_paren = tokens.get(i + 1).is_some_and(|n| n.is_punct("("));
        match t {
            Token::Word(w) if next_is_paren && !KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(w)) => {
                let close = matching_paren(tokens, i + 1).unwrap_or(tokens.len() - 1);
                let args: Vec<String> = split_commas(&tokens[i + 2..close])
                    .into_iter()
                    .map(|a| rewrite(a, names))
                    .collect();
                out.push(function(w, &args, &tokens[i + 2..close]));
                i = close + 1;
                continue;
            }
            Token::Word(w) if w.eq_ignore_ascii_case("CAST") => {
                // CAST(x AS type): map the SQLite type name.
                if let Some(close) = tokens
                    .get(i + 1)
                    .filter(|n| n.is_punct("("))
                    .and_then(|_| matching_paren(tokens, i + 1))
                {
                    let inner = &tokens[i + 2..close];
                    if let Some(as_pos) = inner.iter().rposition(|t| t.is_word("AS")) {
                        let type_text: Vec<String> = inner[as_pos + 1..].iter().map(Token::to_sql).collect();
                        out.push(format!(
                            "CAST({} AS {})",
                            rewrite(&inner[..as_pos], names),
                            cast_type(&type_text.join(" "))
                        ));
                        i = close + 1;
                        continue;
                    }
                }
                out.push("CAST".into());
            }
            Token::Word(w) if w.eq_ignore_ascii_case("GLOB") => out.push("SIMILAR TO".into()),
            Token::Word(w) if KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(w)) => out.push(w.to_ascii_uppercase()),
            Token::Word(w) | Token::QuotedIdent(w) => {
                let quoted = matches!(t, Token::QuotedIdent(_));
                match names.target(w) {
                    Some(target) => {
                        out.push(quote_ident(target));
                        if names.is_boolean(w)
                            && let Some(rest) = boolean_comparison(&tokens[i + 1..])
                        {
                            out.push(rest.0);
                            i += rest.1 + 1;
                            continue;
                        }
                    }
                    None if quoted => out.push(quote_ident(w)),
                    None => out.push(w.clone()),
                }
            }
            Token::Str(s) => out.push(quote_literal(s)),
            Token::Number(n) => out.push(n.clone()),
            Token::Blob(hex) => out.push(format!("'\\x{hex}'::bytea")),
            Token::Punct(p) if p == "==" => out.push("=".into()),
            Token::Punct(p) => out.push(p.clone()),
        }
        i += 1;
    }
    join(&out)
}

/// `= 1`, `<> 0`, `IN (0, 1)` after a boolean column, rewritten with
/// true/false. Returns the text and how many tokens it consumed.
fn boolean_comparison(rest: &[Token]) -> Option<(String, usize)> {
    let literal = |t: &Token| match t {
        Token::Number(n) if n == "0" => Some("false"),
        Token::Number(n) if n == "1" => Some("true"),
        _ => None,
    };
    let op = rest.first()?;
    if ["=", "==", "!=", "<>"].iter().any(|o| op.is_punct(o)) {
        let value = literal(rest.get(1)?)?;
        let op = if op.is_punct("==") {
            "="
        } else if let Token::Punct(p) = op {
            p.as_str()
        } else {
            "="
        };
        return Some((format!("{op} {value}"), 2));
    }
    if op.is_word("IN") && rest.get(1)?.is_punct("(") {
        let close = matching_paren(rest, 1)?;
        let values: Option<Vec<&str>> = split_commas(&rest[2..close])
            .into_iter()
            .map(|a| if a.len() == 1 { literal(&a[0]) } else { None })
            .collect();
        return Some((format!("IN ({})", values?.join(", ")), close + 1));
    }
    None
}

fn join(parts: &[String]) -> String {
    let mut out = String::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            let prev = parts[i - 1].as_str();
            let tight = prev == "(" || p == ")" || p == "," || p == "." || prev == "." || prev == "::";
            if !tight {
                out.push(' ');
            }
        }
        out.push_str(p);
    }
    out
}

fn cast_type(sqlite_type: &str) -> String {
    let upper = sqlite_type.to_ascii_uppercase();
    match crate::plan::types::affinity(&upper) {
        crate::plan::types::Affinity::Integer => "bigint".into(),
        crate::plan::types::Affinity::Text => "text".into(),
        crate::plan::types::Affinity::Blob => "bytea".into(),
        crate::plan::types::Affinity::Real => "double precision".into(),
        crate::plan::types::Affinity::Numeric => "numeric".into(),
    }
}

/// SQLite functions with another name or form in PostgreSQL.
fn function(name: &str, args: &[String], raw: &[Token]) -> String {
    let lower = name.to_ascii_lowercase();
    let all = args.join(", ");
    match lower.as_str() {
        "ifnull" => format!("coalesce({all})"),
        "instr" if args.len() == 2 => format!("strpos({}, {})", args[0], args[1]),
        "substr" | "substring" => format!("substr({all})"),
        "json_valid" if args.len() == 1 => format!("({} IS NULL OR pg_input_is_valid({}, 'jsonb'))", args[0], args[0]),
        "group_concat" if args.len() == 1 => format!("string_agg(({})::text, ',')", args[0]),
        "group_concat" if args.len() == 2 => {
            format!("string_agg(({})::text, {})", args[0], args[1])
        }
        "total" => format!("coalesce(sum({all}), 0.0)"),
        "datetime" | "date" | "time" | "strftime" | "julianday" | "unixepoch" => {
            now_function(&lower, raw).unwrap_or_else(|| format!("{lower}({all})"))
        }
        _ => format!("{name}({all})"),
    }
}

/// The SQLite date functions applied to 'now', as PostgreSQL expressions
/// that produce the same text SQLite would.
fn now_function(name: &str, args: &[Token]) -> Option<String> {
    let strs: Vec<&str> = args
        .iter()
        .filter_map(|t| if let Token::Str(s) = t { Some(s.as_str()) } else { None })
        .collect();
    let utc = "(now() AT TIME ZONE 'UTC')";
    match name {
        "datetime" if strs.first() == Some(&"now") => Some(format!("to_char({utc}, 'YYYY-MM-DD HH24:MI:SS')")),
        "date" if strs.first() == Some(&"now") => Some(format!("to_char({utc}, 'YYYY-MM-DD')")),
        "time" if strs.first() == Some(&"now") => Some(format!("to_char({utc}, 'HH24:MI:SS')")),
        "unixepoch" if strs.first() == Some(&"now") => Some("extract(epoch FROM now())::bigint".into()),
        "julianday" if strs.first() == Some(&"now") => Some("(extract(epoch FROM now()) / 86400.0 + 2440587.5)".into()),
        "strftime" if strs.get(1) == Some(&"now") => {
            let format = strs[0];
            if format == "%s" {
                return Some("extract(epoch FROM now())::bigint::text".into());
            }
            Some(format!("to_char({utc}, {})", quote_literal(&strftime_to_char(format)?)))
        }
        _ => None,
    }
}

/// strftime format → to_char format; None for what to_char cannot say.
fn strftime_to_char(format: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            // to_char treats letters as patterns; quote literal text.
            if c.is_ascii_alphabetic() {
                out.push('"');
                out.push(c);
                out.push('"');
            } else {
                out.push(c);
            }
            continue;
        }
        out.push_str(match chars.next()? {
            'Y' => "YYYY",
            'm' => "MM",
            'd' => "DD",
            'H' => "HH24",
            'M' => "MI",
            'S' => "SS",
            'f' => "SS.MS",
            'j' => "DDD",
            'J' => return None,
            '%' => "%",
            _ => return None,
        });
    }
    Some(out)
}

/// Why a default could not be carried over.
pub type DefaultError = String;

/// Rewrites a SQLite column default for the chosen target type. Literals
/// go through the same cast as the column's values, so `DEFAULT 0` on a
/// boolean becomes `false` and on a timestamp the epoch.
pub fn translate_default(default: &str, pg_type: &PgType, cast: &Cast, names: &Names) -> Result<String, DefaultError> {
    let tokens = tokenize(default);
    let unwrapped = strip_parens(&tokens);
    let is_now = is_now_default(unwrapped);
    if is_now {
        return Ok(now_default(pg_type, unwrapped));
    }
    if let Some(value) = literal_value(unwrapped) {
        let value = apply_affinity(value, cast);
        return crate::target::postgres::encode::literal_for(&value, pg_type, cast)
            .map_err(|why| format!("default {default} does not fit {}: {why}", pg_type.sql()));
    }
    Ok(translate(default, names))
}

/// SQLite converts a numeric-looking text default to a number in columns
/// of numeric affinity, so `DEFAULT '0'` on an INTEGER column is 0.
fn apply_affinity(value: Literal, cast: &Cast) -> Literal {
    let numeric = !matches!(
        cast,
        Cast::Text { .. } | Cast::TextLike | Cast::Bytea | Cast::Json { .. } | Cast::Uuid
    );
    match value {
        Literal::Text(t) if numeric => {
            let trimmed = t.trim();
            if let Ok(i) = trimmed.parse::<i64>() {
                Literal::Integer(i)
            } else if let Ok(f) = trimmed
                .parse::<f64>()
                .map_err(|_| ())
                .and_then(|f| if f.is_finite() { Ok(f) } else { Err(()) })
            {
                Literal::Real(f)
            } else {
                Literal::Text(t)
            }
        }
        other => other,
    }
}

fn strip_parens(tokens: &[Token]) -> &[Token] {
    let mut t = tokens;
    while t.len() >= 2 && t[0].is_punct("(") && matching_paren(t, 0) == Some(t.len() - 1) {
        t = &t[1..t.len() - 1];
    }
    t
}

fn is_now_default(tokens: &[Token]) -> bool {
    match tokens {
        [t] => t.is_word("CURRENT_TIMESTAMP") || t.is_word("CURRENT_DATE") || t.is_word("CURRENT_TIME"),
        [Token::Word(f), open, rest @ ..] if open.is_punct("(") => {
            let f = f.to_ascii_lowercase();
            let strs: Vec<&str> = rest
                .iter()
                .filter_map(|t| if let Token::Str(s) = t { Some(s.as_str()) } else { None })
                .collect();
            match f.as_str() {
                "datetime" | "date" | "time" | "unixepoch" | "julianday" => strs.first() == Some(&"now"),
                "strftime" => strs.get(1) == Some(&"now"),
                _ => false,
            }
        }
        _ => false,
    }
}

/// "now" in the shape the column holds.
fn now_default(pg_type: &PgType, tokens: &[Token]) -> String {
    let date_only = tokens
        .first()
        .is_some_and(|t| t.is_word("CURRENT_DATE") || t.is_word("date"));
    let time_only = tokens
        .first()
        .is_some_and(|t| t.is_word("CURRENT_TIME") || t.is_word("time"));
    match pg_type {
        // SQLite's date('now') is today's date, which a timestamp reads as UTC midnight.
        PgType::Timestamptz if date_only => "(date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')".into(),
        PgType::Timestamp if date_only => "date_trunc('day', now() AT TIME ZONE 'UTC')".into(),
        PgType::Timestamptz => "CURRENT_TIMESTAMP".into(),
        PgType::Timestamp => "(now() AT TIME ZONE 'UTC')".into(),
        PgType::Date => "((now() AT TIME ZONE 'UTC')::date)".into(),
        PgType::Time => "((now() AT TIME ZONE 'UTC')::time)".into(),
        PgType::BigInt | PgType::Integer => "(extract(epoch FROM now())::bigint)".into(),
        PgType::Double | PgType::Numeric(_) => "(extract(epoch FROM now()) / 86400.0 + 2440587.5)".into(),
        _ => {
            // Text keeps SQLite's own format.
            let format = if date_only {
                "YYYY-MM-DD"
            } else if time_only {
                "HH24:MI:SS"
            } else {
                match tokens {
                    [Token::Word(f), ..] if f.eq_ignore_ascii_case("strftime") => {
                        return match tokens
                            .iter()
                            .find_map(|t| if let Token::Str(s) = t { Some(s) } else { None })
                            .and_then(|f| strftime_to_char(f))
                        {
                            Some(fmt) => format!("to_char(now() AT TIME ZONE 'UTC', {})", quote_literal(&fmt)),
                            None => "CURRENT_TIMESTAMP::text".into(),
                        };
                    }
                    _ => "YYYY-MM-DD HH24:MI:SS",
                }
            };
            format!("to_char(now() AT TIME ZONE 'UTC', '{format}')")
        }
    }
}

/// A default literal as a SQLite value.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

fn literal_value(tokens: &[Token]) -> Option<Literal> {
    let (negative, tokens) = match tokens {
        [sign, rest @ ..] if sign.is_punct("-") => (true, rest),
        [sign, rest @ ..] if sign.is_punct("+") => (false, rest),
        _ => (false, tokens),
    };
    match tokens {
        [Token::Number(n)] => {
            let text = if negative { format!("-{n}") } else { n.clone() };
            if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
                return i64::from_str_radix(hex, 16).ok().map(Literal::Integer);
            }
            text.parse::<i64>()
                .map(Literal::Integer)
                .ok()
                .or_else(|| text.parse::<f64>().ok().map(Literal::Real))
        }
        [Token::Str(s)] if !negative => Some(Literal::Text(s.clone())),
        // SQLite reads a double-quoted default it cannot resolve as a string.
        [Token::QuotedIdent(s)] if !negative => Some(Literal::Text(s.clone())),
        [Token::Blob(hex)] if !negative => {
            let bytes: Option<Vec<u8>> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
                .collect();
            bytes.map(Literal::Blob)
        }
        [t] if t.is_word("NULL") => Some(Literal::Null),
        [t] if t.is_word("TRUE") => Some(Literal::Integer(1)),
        [t] if t.is_word("FALSE") => Some(Literal::Integer(0)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::types::EpochUnit;

    fn names() -> Names {
        let mut n = Names::default();
        n.insert("Price", "Price");
        n.insert("published", "published");
        n.booleans.push("published".into());
        n
    }

    #[test]
    fn requotes_names_and_maps_functions() {
        assert_eq!(
            translate("price > 0 AND ifnull(x, 1) == 1", &names()),
            "\"Price\" > 0 AND coalesce(x, 1) = 1"
        );
        assert_eq!(translate("published = 1", &names()), "\"published\" = true");
        assert_eq!(
            translate("published IN (0,1)", &names()),
            "\"published\" IN (false, true)"
        );
        assert_eq!(
            translate("CAST(price AS INTEGER)", &names()),
            "CAST(\"Price\" AS bigint)"
        );
    }

    #[test]
    fn now_defaults_follow_the_column_type() {
        let n = Names::default();
        let text = Cast::Text { max_chars: None };
        let ts = Cast::Timestamp {
            unit: EpochUnit::Seconds,
            with_zone: true,
        };
        assert_eq!(
            translate_default("CURRENT_TIMESTAMP", &PgType::Timestamptz, &ts, &n).unwrap(),
            "CURRENT_TIMESTAMP"
        );
        assert_eq!(
            translate_default("(strftime('%Y-%m-%d %H:%M:%f', 'now'))", &PgType::Text, &text, &n).unwrap(),
            "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS')"
        );
        assert_eq!(
            translate_default("datetime('now')", &PgType::Text, &text, &n).unwrap(),
            "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')"
        );
    }

    #[test]
    fn literal_defaults_go_through_the_cast() {
        let n = Names::default();
        assert_eq!(
            translate_default("'0'", &PgType::Boolean, &Cast::Boolean, &n).unwrap(),
            "false"
        );
        assert_eq!(
            translate_default("0", &PgType::BigInt, &Cast::Integer { bits: 64 }, &n).unwrap(),
            "0"
        );
        assert!(translate_default("'\"0\"'", &PgType::BigInt, &Cast::Integer { bits: 64 }, &n).is_err());
        assert_eq!(
            translate_default("\"\"", &PgType::Text, &Cast::Text { max_chars: None }, &n).unwrap(),
            "''"
        );
    }
}
