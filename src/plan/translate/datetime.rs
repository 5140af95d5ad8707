//! SQLite's date and time functions. Every one reads a time value, applies
//! modifiers, then formats: here the time value becomes a PostgreSQL
//! `timestamp` holding the UTC wall-clock time (SQLite's own model: it has
//! no zones, only 'localtime'/'utc' shifts), modifiers become timestamp
//! arithmetic, and the result is formatted with to_char and friends.

use sqlparser::ast::{Expr, Value};

use super::{Kind, Result, TemporalType, Translator, Typed, unsupported};
use crate::postgres::conn::quote_literal;

/// The UTC wall-clock `timestamp` of a date/time column.
pub(crate) fn utc_wall_clock(sql: &str, pg: TemporalType) -> String {
    match pg {
        TemporalType::Timestamptz => format!("({sql} AT TIME ZONE 'UTC')"),
        TemporalType::Timestamp => sql.to_string(),
        TemporalType::Date => format!("({sql})::timestamp"),
        TemporalType::Time => format!("('2000-01-01'::date + {sql})"),
    }
}

/// Text compared with a date/time column: read as SQLite would read it
/// (UTC), in the column's type.
pub(crate) fn text_as(sql: &str, pg: TemporalType) -> String {
    let ts = from_text(sql, false);
    match pg {
        TemporalType::Timestamptz => format!("(({ts}) AT TIME ZONE 'UTC')"),
        TemporalType::Timestamp => format!("({ts})"),
        TemporalType::Date => format!("({ts})::date"),
        TemporalType::Time => format!("({ts})::time"),
    }
}

// SQLite reads no space before a date or time (' 2024-01-02' is NULL to
// it), but trailing spaces, and spaces around a number, are fine.
const ISO_PLAIN: &str = r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*$";
const ISO_ZONED: &str = r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*([zZ]|[+-]\d{2}:\d{2})\s*$";
const TIME_ONLY: &str = r"^\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*$";
const NUMBER: &str = r"^\s*-?\d+(\.\d+)?\s*$";

/// SQLite's time-value text formats, as a UTC wall-clock timestamp; NULL
/// for text SQLite would not read either.
fn from_text(x: &str, unixepoch: bool) -> String {
    let number = if unixepoch {
        from_unixepoch(&format!("({x})::double precision"))
    } else {
        from_julian(&format!("({x})::double precision"))
    };
    format!(
        "CASE WHEN {x} ~ {} THEN ({x})::timestamp WHEN {x} ~ {} THEN (({x})::timestamptz AT TIME ZONE 'UTC') \
         WHEN {x} ~ {} THEN ('2000-01-01 ' || btrim({x}))::timestamp WHEN {x} ~ {} THEN {number} END",
        quote_literal(ISO_PLAIN),
        quote_literal(ISO_ZONED),
        quote_literal(TIME_ONLY),
        quote_literal(NUMBER),
    )
}

/// Julian day number → timestamp, within SQLite's range (else NULL).
fn from_julian(x: &str) -> String {
    format!(
        "CASE WHEN {x} BETWEEN 0 AND 5373484.499999 THEN (to_timestamp(({x} - 2440587.5) * 86400) AT TIME ZONE 'UTC') END"
    )
}

/// Unix seconds → timestamp, within SQLite's range (years 0000-9999).
fn from_unixepoch(x: &str) -> String {
    format!("CASE WHEN {x} BETWEEN -62167219200 AND 253402300799 THEN (to_timestamp({x}) AT TIME ZONE 'UTC') END")
}

fn string_literal(e: &Expr) -> Option<String> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// The date/time functions; None when `name` is not one.
pub(crate) fn call(t: &mut Translator<'_>, name: &str, args: &[&Expr]) -> Result<Option<Typed>> {
    let now = "(now() AT TIME ZONE 'UTC')";
    if matches!(
        name,
        "current_timestamp"
            | "current_date"
            | "current_time"
            | "date"
            | "time"
            | "datetime"
            | "julianday"
            | "unixepoch"
            | "strftime"
    ) {
        t.not_immutable(&format!("{name}()"));
    }
    match name {
        "current_timestamp" | "current_date" | "current_time" if args.is_empty() => {
            let format = match name {
                "current_timestamp" => "YYYY-MM-DD HH24:MI:SS",
                "current_date" => "YYYY-MM-DD",
                _ => "HH24:MI:SS",
            };
            return Ok(Some(Typed::new(format!("to_char({now}, '{format}')"), Kind::Text)));
        }
        "date" | "time" | "datetime" | "julianday" | "unixepoch" | "strftime" => {}
        "timediff" => return unsupported("the function timediff()"),
        _ => return Ok(None),
    }
    let (format, rest) = if name == "strftime" {
        let Some(first) = args.first() else {
            return unsupported("strftime() without a format");
        };
        let Some(format) = string_literal(first) else {
            return unsupported("strftime() with a format that is not a literal");
        };
        (Some(format), &args[1..])
    } else {
        (None, args)
    };
    let mut modifiers = Vec::new();
    for m in rest.iter().skip(1) {
        match string_literal(m) {
            Some(s) => modifiers.push(s.trim().to_ascii_lowercase()),
            None => return unsupported(format!("{name}() with a modifier that is not a literal")),
        }
    }
    let unixepoch = modifiers.first().is_some_and(|m| m == "unixepoch");
    let mut ts = match rest.first() {
        // No time value means 'now'.
        None => now.to_string(),
        Some(v) => time_value(t, v, unixepoch)?,
    };
    let mut subsec = false;
    for (i, m) in modifiers.iter().enumerate() {
        ts = match m.as_str() {
            "unixepoch" if i == 0 => continue,
            "julianday" if i == 0 => continue,
            "subsec" | "subsecond" => {
                subsec = true;
                continue;
            }
            "start of day" => format!("date_trunc('day', {ts})"),
            "start of month" => format!("date_trunc('month', {ts})"),
            "start of year" => format!("date_trunc('year', {ts})"),
            // SQLite's 'localtime' is the zone of the process running it; here,
            // the PostgreSQL session's TimeZone setting.
            "localtime" => format!("(({ts}) AT TIME ZONE 'UTC' AT TIME ZONE current_setting('TimeZone'))"),
            "utc" => format!("(({ts}) AT TIME ZONE current_setting('TimeZone') AT TIME ZONE 'UTC')"),
            other => match other.strip_prefix("weekday ").map(str::trim) {
                Some(n) if n.len() == 1 && n.chars().all(|c| ('0'..='6').contains(&c)) => {
                    format!("(({ts}) + ((({n} - extract(dow FROM {ts})::integer) + 7) % 7) * interval '1 day')")
                }
                _ => shift(&ts, other)?,
            },
        };
    }
    let typed = match name {
        "date" => Typed::new(format!("to_char({ts}, 'YYYY-MM-DD')"), Kind::Text),
        "time" if subsec => Typed::new(format!("to_char({ts}, 'HH24:MI:SS.MS')"), Kind::Text),
        "time" => Typed::new(format!("to_char({ts}, 'HH24:MI:SS')"), Kind::Text),
        "datetime" if subsec => Typed::new(format!("to_char({ts}, 'YYYY-MM-DD HH24:MI:SS.MS')"), Kind::Text),
        "datetime" => Typed::new(format!("to_char({ts}, 'YYYY-MM-DD HH24:MI:SS')"), Kind::Text),
        "julianday" => Typed::new(
            format!("(extract(epoch FROM {ts}) / 86400 + 2440587.5)::double precision"),
            Kind::Real,
        ),
        "unixepoch" if subsec => Typed::new(format!("(extract(epoch FROM {ts}))::double precision"), Kind::Real),
        // SQLite truncates toward zero.
        "unixepoch" => Typed::new(format!("trunc(extract(epoch FROM {ts}))::bigint"), Kind::Int),
        _ => Typed::new(strftime_sql(format.as_deref().unwrap_or_default(), &ts)?, Kind::Text),
    };
    // A time value that is an application's parameter: SQLite's formats
    // make it a CASE of regular expressions, which PostgreSQL would
    // evaluate again for every row the expression is compared with. As a
    // scalar subquery it is the same expression, computed once per
    // execution (an InitPlan), and a column compared with it can use an
    // index.
    if rest.first().is_some_and(|v| is_parameter(v)) {
        return Ok(Some(Typed::once(&typed.sql, typed.kind)));
    }
    Ok(Some(typed))
}

fn is_parameter(e: &Expr) -> bool {
    match e {
        Expr::Value(v) => matches!(v.value, Value::Placeholder(_)),
        Expr::Nested(inner) => is_parameter(inner),
        _ => false,
    }
}

/// A time value as a UTC wall-clock timestamp.
pub(crate) fn time_value(t: &mut Translator<'_>, e: &Expr, unixepoch: bool) -> Result<String> {
    if let Some(s) = string_literal(e)
        && s.trim().eq_ignore_ascii_case("now")
    {
        return Ok("(now() AT TIME ZONE 'UTC')".into());
    }
    let x = t.expr(e)?;
    let x = t.value(x);
    Ok(match x.kind {
        Kind::Null => "NULL::timestamp".into(),
        Kind::Temporal {
            pg,
            numbers: Some(crate::plan::types::EpochUnit::Seconds),
        } if unixepoch => utc_wall_clock(&x.sql, pg),
        Kind::Temporal { pg, numbers: None } if !unixepoch => utc_wall_clock(&x.sql, pg),
        Kind::Temporal { .. } | Kind::Bool | Kind::Int | Kind::Real | Kind::Numeric => {
            let n = t.number(x, "a date function")?;
            let n = format!("({})::double precision", n.sql);
            if unixepoch { from_unixepoch(&n) } else { from_julian(&n) }
        }
        Kind::Text | Kind::Unknown => from_text(&format!("({})::text", x.sql), unixepoch),
        other => return unsupported(format!("a date function over a {} value", super::kind_name(other))),
    })
}

/// '+N days', '-3 months', '1.5 hours' ... as timestamp arithmetic.
/// Months and years follow SQLite: the day of month overflows into the
/// next month (Jan 31 + 1 month = Mar 2 or 3), as SQLite normalises.
fn shift(ts: &str, modifier: &str) -> Result<String> {
    let bad = || unsupported(format!("the date modifier '{modifier}'"));
    let mut words = modifier.split_whitespace();
    let (Some(amount), Some(unit), None) = (words.next(), words.next(), words.next()) else {
        return bad();
    };
    let number = amount.strip_prefix('+').unwrap_or(amount);
    let Ok(n) = number.parse::<f64>() else {
        return bad();
    };
    if !n.is_finite() || !number.chars().all(|c| c.is_ascii_digit() || c == '.' || c == '-') {
        return bad();
    }
    let unit = unit.strip_suffix('s').unwrap_or(unit);
    match unit {
        "day" | "hour" | "minute" | "second" => Ok(format!("(({ts}) + interval '{number} {unit}s')")),
        "month" | "year" => {
            if number.contains('.') {
                return bad();
            }
            Ok(format!(
                "(date_trunc('month', {ts}) + interval '{number} {unit}s' + (({ts}) - date_trunc('month', {ts})))"
            ))
        }
        _ => bad(),
    }
}

enum Piece {
    /// A to_char pattern.
    Pattern(String),
    /// A SQL text expression.
    Sql(String),
}

/// strftime's format as PostgreSQL text over the timestamp `ts`.
pub(crate) fn strftime_sql(format: &str, ts: &str) -> Result<String> {
    let mut pieces: Vec<Piece> = Vec::new();
    let push_pattern = |pieces: &mut Vec<Piece>, p: &str| match pieces.last_mut() {
        Some(Piece::Pattern(last)) => last.push_str(p),
        _ => pieces.push(Piece::Pattern(p.to_string())),
    };
    let two = |sql: String| format!("lpad(({sql})::text, 2, '0')");
    let spaced = |pattern: &str| format!("lpad(to_char({ts}, '{pattern}'), 2, ' ')");
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            // Letters and quotes would be to_char patterns: keep them as literal text.
            if c.is_ascii_alphabetic() || c == '"' || c == '\\' || !c.is_ascii() {
                match pieces.last_mut() {
                    Some(Piece::Sql(last))
                        if last.starts_with('\'') && last.ends_with('\'') && !last.contains("''") =>
                    {
                        let inner = &last[1..last.len() - 1];
                        *last = quote_literal(&format!("{inner}{c}"));
                    }
                    _ => pieces.push(Piece::Sql(quote_literal(&c.to_string()))),
                }
            } else {
                push_pattern(&mut pieces, &c.to_string());
            }
            continue;
        }
        let Some(code) = chars.next() else {
            return unsupported("a strftime format ending in %");
        };
        match code {
            'd' => push_pattern(&mut pieces, "DD"),
            'm' => push_pattern(&mut pieces, "MM"),
            'Y' => push_pattern(&mut pieces, "YYYY"),
            'H' => push_pattern(&mut pieces, "HH24"),
            'M' => push_pattern(&mut pieces, "MI"),
            'S' => push_pattern(&mut pieces, "SS"),
            'f' => push_pattern(&mut pieces, "SS.MS"),
            'F' => push_pattern(&mut pieces, "YYYY-MM-DD"),
            'T' => push_pattern(&mut pieces, "HH24:MI:SS"),
            'R' => push_pattern(&mut pieces, "HH24:MI"),
            'j' => push_pattern(&mut pieces, "DDD"),
            'I' => push_pattern(&mut pieces, "HH12"),
            'p' => push_pattern(&mut pieces, "AM"),
            'P' => push_pattern(&mut pieces, "am"),
            'u' => push_pattern(&mut pieces, "ID"),
            'V' => push_pattern(&mut pieces, "IW"),
            'G' => push_pattern(&mut pieces, "IYYY"),
            'g' => push_pattern(&mut pieces, "IY"),
            'e' => pieces.push(Piece::Sql(spaced("FMDD"))),
            'k' => pieces.push(Piece::Sql(spaced("FMHH24"))),
            'l' => pieces.push(Piece::Sql(spaced("FMHH12"))),
            'w' => pieces.push(Piece::Sql(format!("extract(dow FROM {ts})::integer::text"))),
            's' => pieces.push(Piece::Sql(format!("trunc(extract(epoch FROM {ts}))::bigint::text"))),
            'J' => pieces.push(Piece::Sql(format!(
                "trim_scale(round(extract(epoch FROM {ts}) / 86400 + 2440587.5, 9))::text"
            ))),
            'U' => pieces.push(Piece::Sql(two(format!(
                "(extract(doy FROM {ts})::integer - 1 - extract(dow FROM {ts})::integer + 7) / 7"
            )))),
            'W' => pieces.push(Piece::Sql(two(format!(
                "(extract(doy FROM {ts})::integer - 1 - (extract(isodow FROM {ts})::integer - 1) + 7) / 7"
            )))),
            '%' => push_pattern(&mut pieces, "%"),
            other => return unsupported(format!("the strftime code %{other}")),
        }
    }
    let parts: Vec<String> = pieces
        .into_iter()
        .map(|p| match p {
            Piece::Pattern(p) => format!("to_char({ts}, {})", quote_literal(&p)),
            Piece::Sql(s) => s,
        })
        .collect();
    Ok(match parts.len() {
        0 => "''".to_string(),
        // A literal-only format still gives NULL for a NULL time.
        _ if parts.iter().all(|p| p.starts_with('\'')) => {
            format!("CASE WHEN {ts} IS NOT NULL THEN {} END", parts.join(" || "))
        }
        _ => parts.join(" || "),
    })
}
