//! PostgreSQL values back into SQLite values.
//!
//! Every column is selected as text in a canonical form chosen by its type
//! (timestamps as microseconds since the epoch, bytea as hex, arrays as
//! JSON), then turned into the SQLite value: by the column's recorded
//! [`Restore`] rule for a database godwit copied, else by the generic
//! lossless mapping.

use rusqlite::types::Value;

use crate::postgres::conn::quote_ident;
use crate::reverse::origin::{Restore, US_PER_DAY, Unit, choose_format};

/// The PostgreSQL type of a column, as far as reading it back goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgKind {
    Integer,
    Float,
    Numeric,
    Boolean,
    Timestamp,
    Timestamptz,
    Date,
    Time,
    Bytea,
    Json,
    Uuid,
    Array,
    Text,
    /// Any other type, read as its text (interval, money, ranges...).
    Other(String),
}

impl PgKind {
    /// From `format_type` (domains resolved to their base type).
    pub fn of(type_sql: &str, is_array: bool) -> PgKind {
        if is_array || type_sql.ends_with("[]") {
            return PgKind::Array;
        }
        let base = type_sql.split('(').next().unwrap_or(type_sql).trim();
        match base {
            "smallint" | "integer" | "bigint" | "oid" => PgKind::Integer,
            "real" | "double precision" => PgKind::Float,
            "numeric" => PgKind::Numeric,
            "boolean" => PgKind::Boolean,
            "timestamp without time zone" | "timestamp" => PgKind::Timestamp,
            "timestamp with time zone" => PgKind::Timestamptz,
            "date" => PgKind::Date,
            "time without time zone" | "time" => PgKind::Time,
            "bytea" => PgKind::Bytea,
            "json" | "jsonb" => PgKind::Json,
            "uuid" => PgKind::Uuid,
            "text" | "character varying" | "character" | "citext" | "name" | "\"char\"" => PgKind::Text,
            _ if type_sql.starts_with("timestamp") && type_sql.contains("with time zone") => PgKind::Timestamptz,
            _ if type_sql.starts_with("timestamp") => PgKind::Timestamp,
            _ if type_sql.starts_with("time") && !type_sql.contains("with time zone") => PgKind::Time,
            _ => PgKind::Other(type_sql.to_string()),
        }
    }

    /// The SELECT expression giving the column's canonical text.
    pub fn select(&self, column: &str) -> String {
        let c = quote_ident(column);
        match self {
            PgKind::Timestamp | PgKind::Timestamptz => format!(
                "CASE WHEN isfinite({c}) THEN ((extract(epoch FROM {c}) * 1000000)::bigint)::text ELSE {c}::text END"
            ),
            PgKind::Date => format!("CASE WHEN isfinite({c}) THEN ({c} - DATE '1970-01-01')::text ELSE {c}::text END"),
            PgKind::Time => format!("((extract(epoch FROM {c}) * 1000000)::bigint)::text"),
            PgKind::Bytea => format!("encode({c}, 'hex')"),
            PgKind::Array => format!("array_to_json({c})::text"),
            _ => format!("{c}::text"),
        }
    }

    /// The SQLite declared type of the generic mapping: one whose affinity
    /// keeps the value exactly as written (numeric stays text).
    pub fn declared(&self, type_sql: &str) -> String {
        match self {
            PgKind::Integer if type_sql == "smallint" => "SMALLINT".into(),
            PgKind::Integer if type_sql == "bigint" => "BIGINT".into(),
            PgKind::Integer => "INTEGER".into(),
            PgKind::Float => "REAL".into(),
            PgKind::Boolean => "BOOLEAN".into(),
            PgKind::Timestamp | PgKind::Timestamptz => "DATETIME".into(),
            PgKind::Date => "DATE".into(),
            PgKind::Time => "TIME".into(),
            PgKind::Bytea => "BLOB".into(),
            PgKind::Uuid => "UUID".into(),
            PgKind::Text => match type_sql.split_once('(') {
                Some(("character varying", n)) => format!("VARCHAR({n}"),
                Some(("character", n)) => format!("CHAR({n}"),
                _ => "TEXT".into(),
            },
            PgKind::Numeric | PgKind::Json | PgKind::Array | PgKind::Other(_) => "TEXT".into(),
        }
    }
}

/// Why a value could not be kept exactly, for the report.
pub type Loss = &'static str;

/// The generic lossless mapping.
pub fn generic(kind: &PgKind, text: &str) -> (Value, Option<Loss>) {
    match kind {
        PgKind::Integer => match text.parse::<i64>() {
            Ok(i) => (Value::Integer(i), None),
            Err(_) => (Value::Text(text.to_string()), None),
        },
        PgKind::Float => float(text),
        PgKind::Boolean => (Value::Integer(i64::from(text == "true" || text == "t")), None),
        PgKind::Timestamptz => micros(text, |us| iso(us, 'T', "Z")),
        PgKind::Timestamp => micros(text, |us| iso(us, ' ', "")),
        PgKind::Date => days(text, |d| iso(d * US_PER_DAY, ' ', "")[..10].to_string()),
        PgKind::Time => micros(text, |us| iso(us, ' ', "")[11..].to_string()),
        PgKind::Bytea => match hex(text) {
            Some(bytes) => (Value::Blob(bytes), None),
            None => (Value::Text(text.to_string()), Some("bytea that is not hex")),
        },
        PgKind::Numeric | PgKind::Json | PgKind::Uuid | PgKind::Array | PgKind::Text | PgKind::Other(_) => {
            (Value::Text(text.to_string()), None)
        }
    }
}

fn float(text: &str) -> (Value, Option<Loss>) {
    match text {
        "Infinity" => (Value::Real(f64::INFINITY), None),
        "-Infinity" => (Value::Real(f64::NEG_INFINITY), None),
        "NaN" => (Value::Null, Some("NaN, which SQLite stores as NULL")),
        _ => match text.parse::<f64>() {
            Ok(f) => (Value::Real(f), None),
            Err(_) => (Value::Text(text.to_string()), None),
        },
    }
}

/// A timestamp read as microseconds; 'infinity' stays text, and says so.
fn micros(text: &str, write: impl Fn(i64) -> String) -> (Value, Option<Loss>) {
    match text.parse::<i64>() {
        Ok(us) => (Value::Text(write(us)), None),
        Err(_) => (
            Value::Text(text.to_string()),
            Some("infinite dates and times, kept as the text 'infinity'"),
        ),
    }
}

fn days(text: &str, write: impl Fn(i64) -> String) -> (Value, Option<Loss>) {
    match text.parse::<i64>() {
        Ok(d) => (Value::Text(write(d)), None),
        Err(_) => (
            Value::Text(text.to_string()),
            Some("infinite dates and times, kept as the text 'infinity'"),
        ),
    }
}

/// `YYYY-MM-DD<sep>HH:MM:SS[.ffffff]<suffix>`, the fraction only when non-zero.
pub fn iso(unix_us: i64, separator: char, suffix: &str) -> String {
    let days = unix_us.div_euclid(US_PER_DAY);
    let of_day = unix_us.rem_euclid(US_PER_DAY);
    let (y, m, d) = crate::postgres::encode::civil_from_days(days);
    let secs = of_day / 1_000_000;
    let frac = of_day % 1_000_000;
    let mut out = format!(
        "{y:04}-{m:02}-{d:02}{separator}{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    );
    if frac != 0 {
        out.push_str(&format!(".{frac:06}"));
    }
    out.push_str(suffix);
    out
}

fn hex(text: &str) -> Option<Vec<u8>> {
    let b = text.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    b.chunks(2).map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?)).collect()
}

/// The value a column godwit copied held, by its recorded rule.
pub fn restore(rule: &Restore, kind: &PgKind, text: &str) -> (Value, Option<Loss>) {
    let temporal_us = || -> Option<i64> {
        let n = text.parse::<i64>().ok()?;
        match kind {
            PgKind::Timestamp | PgKind::Timestamptz | PgKind::Time => Some(n),
            PgKind::Date => n.checked_mul(US_PER_DAY),
            _ => None,
        }
    };
    match rule {
        Restore::Integer => match (kind, text.parse::<i64>()) {
            (PgKind::Boolean, _) => generic(kind, text),
            (_, Ok(i)) => (Value::Integer(i), None),
            _ => generic(kind, text),
        },
        Restore::Real => match kind {
            PgKind::Integer | PgKind::Float | PgKind::Numeric => match float(text) {
                (Value::Text(_), _) => generic(kind, text),
                done => done,
            },
            _ => generic(kind, text),
        },
        Restore::Text | Restore::JsonText => match kind {
            PgKind::Bytea => match hex(text).map(String::from_utf8) {
                Some(Ok(s)) => (Value::Text(s), None),
                _ => generic(kind, text),
            },
            PgKind::Text | PgKind::Json | PgKind::Uuid | PgKind::Array | PgKind::Numeric | PgKind::Other(_) => {
                (Value::Text(text.to_string()), None)
            }
            _ => generic(kind, text),
        },
        Restore::Blob => match kind {
            PgKind::Bytea => generic(kind, text),
            PgKind::Text => (Value::Blob(text.as_bytes().to_vec()), None),
            _ => generic(kind, text),
        },
        Restore::DecimalText => match kind {
            PgKind::Integer | PgKind::Numeric | PgKind::Float => (Value::Text(text.to_string()), None),
            _ => generic(kind, text),
        },
        Restore::Number => match text.parse::<i64>() {
            Ok(i) => (Value::Integer(i), None),
            Err(_) => match float(text) {
                (Value::Text(_), _) => generic(kind, text),
                done => done,
            },
        },
        Restore::Boolean { spelling } => match (kind, spelling) {
            (PgKind::Boolean, Some((yes, no))) => {
                (Value::Text(if text == "true" { yes.clone() } else { no.clone() }), None)
            }
            _ => generic(kind, text),
        },
        Restore::Epoch { unit, real } => {
            let Some(us) = temporal_us() else {
                return generic(kind, text);
            };
            #[allow(clippy::cast_precision_loss)] // epoch values are far below 2^53 µs
            let value = match (unit, real) {
                (Unit::Milliseconds, false) => Value::Integer(us.div_euclid(1000)),
                (Unit::Seconds, false) => Value::Integer(us.div_euclid(1_000_000)),
                (Unit::Milliseconds, true) => Value::Real(us as f64 / 1e3),
                (Unit::Seconds, true) => Value::Real(us as f64 / 1e6),
                (Unit::JulianDay, _) => Value::Real(us as f64 / 86_400e6 + 2_440_587.5),
            };
            (value, None)
        }
        Restore::TimeText { formats } => {
            let Some(us) = temporal_us() else {
                return generic(kind, text);
            };
            match choose_format(formats, us) {
                Some(format) => (Value::Text(format.write(us)), None),
                None => generic(kind, text),
            }
        }
        Restore::Uuid { blob, upper, hyphens } => {
            let Ok(id) = uuid::Uuid::parse_str(text) else {
                return generic(kind, text);
            };
            if *blob {
                return (Value::Blob(id.as_bytes().to_vec()), None);
            }
            let mut s = if *hyphens {
                id.hyphenated().to_string()
            } else {
                id.simple().to_string()
            };
            if *upper {
                s = s.to_ascii_uppercase();
            }
            (Value::Text(s), None)
        }
        Restore::Split { separator } => match serde_json::from_str::<Vec<serde_json::Value>>(text) {
            Ok(items) => {
                let parts: Vec<String> = items
                    .into_iter()
                    .map(|v| match v {
                        serde_json::Value::String(s) => s,
                        serde_json::Value::Null => String::new(),
                        other => other.to_string(),
                    })
                    .collect();
                (Value::Text(parts.join(separator)), None)
            }
            Err(_) => generic(kind, text),
        },
        Restore::Lost { .. } => generic(kind, text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reverse::origin::TimeFormat;

    #[test]
    fn generic_values() {
        assert_eq!(generic(&PgKind::Boolean, "true").0, Value::Integer(1));
        assert_eq!(
            generic(&PgKind::Timestamptz, "1704164645123456").0,
            Value::Text("2024-01-02T03:04:05.123456Z".into())
        );
        assert_eq!(generic(&PgKind::Date, "19724").0, Value::Text("2024-01-02".into()));
        assert_eq!(generic(&PgKind::Bytea, "00ff").0, Value::Blob(vec![0, 255]));
        assert_eq!(
            generic(&PgKind::Numeric, "12345678901234567890.0123456789").0,
            Value::Text("12345678901234567890.0123456789".into())
        );
        assert!(generic(&PgKind::Float, "NaN").1.is_some());
    }

    #[test]
    fn restored_values() {
        let ms = Restore::Epoch {
            unit: Unit::Milliseconds,
            real: false,
        };
        assert_eq!(
            restore(&ms, &PgKind::Timestamptz, "1704164645123000").0,
            Value::Integer(1_704_164_645_123)
        );
        let text = Restore::TimeText {
            formats: vec![TimeFormat::of("2024-01-02 03:04:05").unwrap()],
        };
        assert_eq!(
            restore(&text, &PgKind::Timestamptz, "1704164645000000").0,
            Value::Text("2024-01-02 03:04:05".into())
        );
        let upper = Restore::Uuid {
            blob: false,
            upper: true,
            hyphens: false,
        };
        assert_eq!(
            restore(&upper, &PgKind::Uuid, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11").0,
            Value::Text("A0EEBC999C0B4EF8BB6D6BB9BD380A11".into())
        );
        let split = Restore::Split { separator: ",".into() };
        assert_eq!(
            restore(&split, &PgKind::Array, "[\"a\",\"b\"]").0,
            Value::Text("a,b".into())
        );
    }
}
