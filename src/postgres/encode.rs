//! PostgreSQL binary COPY encoding, straight from SQLite values.
//!
//! Each field is written as its big-endian length and its binary form
//! (the `*_send` format of its type), with no per-value allocation on the
//! common paths. A value that does not fit is reported, never altered; the
//! caller decides whether that stops the copy or rejects the row.

use crate::source::ValueRef;

use crate::plan::types::{Cast, EpochUnit, PgType};

/// The 11-byte signature, flags and header-extension length.
pub const COPY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
pub const COPY_TRAILER: &[u8] = &[0xff, 0xff];

/// Microseconds between the Unix epoch and PostgreSQL's 2000-01-01.
const PG_EPOCH_OFFSET_US: i64 = 946_684_800_000_000;
const PG_EPOCH_OFFSET_DAYS: i64 = 10_957;
const US_PER_DAY: i64 = 86_400_000_000;
/// Julian day number of 1970-01-01 00:00 UTC.
const UNIX_EPOCH_JULIAN_DAY: f64 = 2_440_587.5;

/// The reason a value was not accepted.
pub type Reject = String;

/// Writes one tuple's field count.
#[inline]
pub fn begin_row(buf: &mut Vec<u8>, fields: usize) {
    buf.extend_from_slice(&i16::try_from(fields).unwrap_or(i16::MAX).to_be_bytes());
}

#[inline]
fn put_null(buf: &mut Vec<u8>) {
    buf.extend_from_slice(&(-1i32).to_be_bytes());
}

#[inline]
fn put_bytes(buf: &mut Vec<u8>, bytes: &[u8]) -> Result<(), Reject> {
    let len = i32::try_from(bytes.len()).map_err(|_| "value larger than PostgreSQL's 1 GB field limit".to_string())?;
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(bytes);
    Ok(())
}

#[inline]
fn put_fixed<const N: usize>(buf: &mut Vec<u8>, bytes: [u8; N]) {
    buf.extend_from_slice(&i32::try_from(N).unwrap_or(i32::MAX).to_be_bytes());
    buf.extend_from_slice(&bytes);
}

/// Reusable scratch space, so numeric and array encoding do not allocate
/// per value.
#[derive(Default)]
pub struct Scratch {
    text: String,
    digits: Vec<u8>,
    inner: Vec<u8>,
}

/// Encodes one SQLite value as one binary COPY field.
pub fn encode_value(buf: &mut Vec<u8>, value: ValueRef<'_>, cast: &Cast, scratch: &mut Scratch) -> Result<(), Reject> {
    if let ValueRef::Null = value {
        put_null(buf);
        return Ok(());
    }
    match cast {
        Cast::Integer { bits } => {
            let v = as_integer(value)?;
            match bits {
                16 => put_fixed(
                    buf,
                    i16::try_from(v)
                        .map_err(|_| format!("{v} does not fit smallint"))?
                        .to_be_bytes(),
                ),
                32 => put_fixed(
                    buf,
                    i32::try_from(v)
                        .map_err(|_| format!("{v} does not fit integer"))?
                        .to_be_bytes(),
                ),
                _ => put_fixed(buf, v.to_be_bytes()),
            }
        }
        Cast::Float { bits } => {
            let v = as_float(value)?;
            if *bits == 32 {
                #[allow(clippy::cast_possible_truncation)] // checked just below
                let narrow = v as f32;
                if f64::from(narrow) != v {
                    return Err(format!("{v} loses precision as real (float4)"));
                }
                put_fixed(buf, narrow.to_be_bytes());
            } else {
                put_fixed(buf, v.to_be_bytes());
            }
        }
        Cast::Numeric {
            precision,
            scale,
            round,
        } => {
            let decimal = decimal_of(value, &mut scratch.text)?;
            encode_numeric(buf, decimal, *precision, *scale, *round, &mut scratch.digits)?;
        }
        Cast::Text { max_chars } => {
            let text = as_text(value, &mut scratch.text)?;
            if let Some(max) = max_chars
                && text.len() > *max as usize
                && text.chars().count() > *max as usize
            {
                return Err(format!(
                    "{} characters, longer than varchar({max})",
                    text.chars().count()
                ));
            }
            put_bytes(buf, text.as_bytes())?;
        }
        Cast::TextLike => {
            let text = as_text(value, &mut scratch.text)?;
            put_bytes(buf, text.as_bytes())?;
        }
        Cast::Enum { labels } => {
            let text = as_text(value, &mut scratch.text)?;
            if !labels.iter().any(|l| l == text) {
                return Err(format!(
                    "{} is not one of the enum's labels ({})",
                    preview(text.as_bytes()),
                    labels.join(", ")
                ));
            }
            put_bytes(buf, text.as_bytes())?;
        }
        Cast::Inet { cidr } => {
            let text = as_text(value, &mut scratch.text)?;
            let field = inet_of(text, *cidr)?;
            put_bytes(buf, &field)?;
        }
        Cast::Bytea => match value {
            ValueRef::Blob(b) => put_bytes(buf, b)?,
            ValueRef::Text(t) => put_bytes(buf, t)?,
            ValueRef::Integer(_) | ValueRef::Real(_) => {
                return Err("a number in a bytea column".into());
            }
            ValueRef::Null => unreachable!("handled above"),
        },
        Cast::Boolean => put_fixed(buf, [u8::from(as_bool(value)?)]),
        Cast::Timestamp { unit, .. } => put_fixed(buf, timestamp_of(value, *unit)?.to_be_bytes()),
        Cast::Date { unit } => put_fixed(buf, date_of(value, *unit)?.to_be_bytes()),
        Cast::Time => put_fixed(buf, time_of(value)?.to_be_bytes()),
        Cast::Json { binary } => {
            let text = json_text(value, &mut scratch.text, *binary)?;
            if *binary {
                let len = i32::try_from(text.len() + 1).map_err(|_| "JSON larger than 1 GB".to_string())?;
                buf.extend_from_slice(&len.to_be_bytes());
                buf.push(1); // jsonb binary format version
                buf.extend_from_slice(text.as_bytes());
            } else {
                put_bytes(buf, text.as_bytes())?;
            }
        }
        Cast::Uuid => put_fixed(buf, uuid_of(value)?),
        Cast::UuidFromInt { namespace } => {
            let v = as_integer(value)?;
            put_fixed(buf, uuid_from_int(namespace, v));
        }
        Cast::SplitArray { element, .. } | Cast::JsonArray { element } => {
            let text = as_text(value, &mut scratch.text)?;
            // A JSON null document is no array at all: SQL NULL.
            if matches!(cast, Cast::JsonArray { .. }) && text.trim() == "null" {
                put_null(buf);
                return Ok(());
            }
            let items_owned = array_items(text, cast)?;
            let items: Vec<Option<&str>> = items_owned.iter().map(|s| s.as_deref()).collect();
            encode_array(buf, element, &items, &mut scratch.inner)?;
        }
    }
    Ok(())
}

/// The elements an array cast makes of a text: split on the separator
/// (an empty text is an empty array), or the items of a JSON array.
fn array_items(text: &str, cast: &Cast) -> Result<Vec<Option<String>>, Reject> {
    match cast {
        Cast::SplitArray { .. } if text.is_empty() => Ok(Vec::new()),
        Cast::SplitArray { separator, .. } => Ok(text.split(separator.as_str()).map(|s| Some(s.to_string())).collect()),
        _ => {
            let parsed: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
            let serde_json::Value::Array(values) = parsed else {
                return Err("not a JSON array".into());
            };
            Ok(values
                .into_iter()
                .map(|v| match v {
                    serde_json::Value::Null => None,
                    serde_json::Value::String(s) => Some(s),
                    other => Some(other.to_string()),
                })
                .collect())
        }
    }
}

/// One-dimensional array of `element`, items given as text.
fn encode_array(
    buf: &mut Vec<u8>,
    element: &PgType,
    items: &[Option<&str>],
    inner: &mut Vec<u8>,
) -> Result<(), Reject> {
    let (oid, cast) = element_codec(element).ok_or_else(|| format!("arrays of {} are not supported", element.sql()))?;
    inner.clear();
    let dims = i32::from(!items.is_empty());
    inner.extend_from_slice(&dims.to_be_bytes());
    inner.extend_from_slice(&i32::from(items.iter().any(Option::is_none)).to_be_bytes());
    inner.extend_from_slice(&oid.to_be_bytes());
    if !items.is_empty() {
        inner.extend_from_slice(
            &i32::try_from(items.len())
                .map_err(|_| "array too long".to_string())?
                .to_be_bytes(),
        );
        inner.extend_from_slice(&1i32.to_be_bytes());
    }
    let mut scratch = Scratch::default();
    for item in items {
        let value = match item {
            None => ValueRef::Null,
            Some(s) => match element {
                PgType::SmallInt | PgType::Integer | PgType::BigInt => ValueRef::Integer(
                    s.trim()
                        .parse::<i64>()
                        .map_err(|_| format!("array element {s:?} is not an integer"))?,
                ),
                PgType::Double | PgType::Real => ValueRef::Real(
                    s.trim()
                        .parse::<f64>()
                        .map_err(|_| format!("array element {s:?} is not a number"))?,
                ),
                _ => ValueRef::Text(s.as_bytes()),
            },
        };
        encode_value(inner, value, &cast, &mut scratch)?;
    }
    put_bytes(buf, inner)
}

/// Element type OID and cast for array elements.
fn element_codec(element: &PgType) -> Option<(u32, Cast)> {
    Some(match element {
        PgType::Text => (25, Cast::Text { max_chars: None }),
        PgType::Varchar(n) => (1043, Cast::Text { max_chars: *n }),
        PgType::SmallInt => (21, Cast::Integer { bits: 16 }),
        PgType::Integer => (23, Cast::Integer { bits: 32 }),
        PgType::BigInt => (20, Cast::Integer { bits: 64 }),
        PgType::Double => (701, Cast::Float { bits: 64 }),
        PgType::Real => (700, Cast::Float { bits: 32 }),
        PgType::Boolean => (16, Cast::Boolean),
        PgType::Numeric(_) => (
            1700,
            Cast::Numeric {
                precision: None,
                scale: None,
                round: false,
            },
        ),
        PgType::Uuid => (2950, Cast::Uuid),
        PgType::Jsonb => (3802, Cast::Json { binary: true }),
        PgType::Date => (
            1082,
            Cast::Date {
                unit: EpochUnit::Seconds,
            },
        ),
        PgType::Timestamptz => (
            1184,
            Cast::Timestamp {
                unit: EpochUnit::Seconds,
                with_zone: true,
            },
        ),
        PgType::Timestamp => (
            1114,
            Cast::Timestamp {
                unit: EpochUnit::Seconds,
                with_zone: false,
            },
        ),
        _ => return None,
    })
}

fn as_integer(value: ValueRef<'_>) -> Result<i64, Reject> {
    match value {
        ValueRef::Integer(i) => Ok(i),
        ValueRef::Real(f) if f.fract() == 0.0 && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) => {
            #[allow(clippy::cast_possible_truncation)] // whole and in range: exact
            Ok(f as i64)
        }
        ValueRef::Real(f) => Err(format!("{f} is not a whole number")),
        ValueRef::Text(t) => Err(format!("text {} is not an integer", preview(t))),
        ValueRef::Blob(_) => Err("a blob is not an integer".into()),
        ValueRef::Null => unreachable!("handled by the caller"),
    }
}

fn as_float(value: ValueRef<'_>) -> Result<f64, Reject> {
    match value {
        ValueRef::Real(f) => Ok(f),
        ValueRef::Integer(i) if i.unsigned_abs() <= (1u64 << 53) => {
            #[allow(clippy::cast_precision_loss)] // |i| <= 2^53: exact
            Ok(i as f64)
        }
        ValueRef::Integer(i) => Err(format!("{i} is beyond 2^53 and would be rounded as double precision")),
        // Exact decimal text (a document's number, kept exact until a config
        // cast asks for floating point): the nearest double, as PostgreSQL's
        // own float8 input gives.
        ValueRef::Text(t) if is_decimal_text(t) => std::str::from_utf8(t)
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|f| f.is_finite())
            .ok_or_else(|| format!("text {} is out of double precision's range", preview(t))),
        ValueRef::Text(t) => Err(format!("text {} is not a number", preview(t))),
        ValueRef::Blob(_) => Err("a blob is not a number".into()),
        ValueRef::Null => unreachable!("handled by the caller"),
    }
}

/// `-12.5e3` and the like: a number written in digits, never `inf` or `NaN`.
fn is_decimal_text(t: &[u8]) -> bool {
    t.iter().any(u8::is_ascii_digit)
        && t.iter()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
}

/// Text as PostgreSQL accepts it: valid UTF-8 with no NUL byte.
fn as_text<'a>(value: ValueRef<'a>, scratch: &'a mut String) -> Result<&'a str, Reject> {
    match value {
        ValueRef::Text(t) | ValueRef::Blob(t) => {
            let s = std::str::from_utf8(t).map_err(|e| {
                format!(
                    "invalid UTF-8 (byte 0x{:02x} at offset {})",
                    t[e.valid_up_to()],
                    e.valid_up_to()
                )
            })?;
            if t.contains(&0) {
                return Err(format!(
                    "NUL byte at offset {}; PostgreSQL text cannot hold it",
                    t.iter().position(|b| *b == 0).unwrap_or(0)
                ));
            }
            Ok(s)
        }
        ValueRef::Integer(i) => {
            scratch.clear();
            use std::fmt::Write;
            let _ = write!(scratch, "{i}");
            Ok(scratch.as_str())
        }
        ValueRef::Real(f) => {
            scratch.clear();
            use std::fmt::Write;
            // SQLite prints whole reals with ".0".
            if f.fract() == 0.0 && f.abs() < 1e15 {
                let _ = write!(scratch, "{f:.1}");
            } else {
                let _ = write!(scratch, "{f}");
            }
            Ok(scratch.as_str())
        }
        ValueRef::Null => unreachable!("handled by the caller"),
    }
}

fn as_bool(value: ValueRef<'_>) -> Result<bool, Reject> {
    match value {
        ValueRef::Integer(0) => Ok(false),
        ValueRef::Integer(1) => Ok(true),
        ValueRef::Real(0.0) => Ok(false),
        ValueRef::Real(1.0) => Ok(true),
        ValueRef::Text(t) => match t.to_ascii_lowercase().as_slice() {
            b"1" | b"t" | b"true" | b"y" | b"yes" | b"on" => Ok(true),
            b"0" | b"f" | b"false" | b"n" | b"no" | b"off" => Ok(false),
            _ => Err(format!("text {} is not a boolean", preview(t))),
        },
        ValueRef::Integer(i) => Err(format!("{i} is not a boolean (0 or 1)")),
        ValueRef::Real(f) => Err(format!("{f} is not a boolean (0 or 1)")),
        ValueRef::Blob(_) => Err("a blob is not a boolean".into()),
        ValueRef::Null => unreachable!("handled by the caller"),
    }
}

fn json_text<'a>(value: ValueRef<'a>, scratch: &'a mut String, binary: bool) -> Result<&'a str, Reject> {
    let text = as_text(value, scratch)?;
    // Validate here: one bad document would otherwise abort the whole COPY.
    serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|e| format!("invalid JSON: {e}"))?;
    if binary && text.contains("\\u0000") {
        return Err("JSON contains \\u0000, which jsonb cannot store".into());
    }
    Ok(text)
}

fn uuid_of(value: ValueRef<'_>) -> Result<[u8; 16], Reject> {
    match value {
        ValueRef::Blob(b) if b.len() == 16 => Ok(b.try_into().unwrap_or([0; 16])),
        ValueRef::Text(t) => {
            let s = std::str::from_utf8(t).map_err(|_| "invalid UTF-8 in a UUID".to_string())?;
            let hex: String = s
                .trim()
                .trim_start_matches('{')
                .trim_end_matches('}')
                .chars()
                .filter(|c| *c != '-')
                .collect();
            let dashed_ok = matches!(s.trim().len(), 32 | 36 | 38);
            if hex.len() != 32 || !dashed_ok {
                return Err(format!("text {} is not a UUID", preview(t)));
            }
            let mut out = [0u8; 16];
            for (i, byte) in out.iter_mut().enumerate() {
                *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                    .map_err(|_| format!("text {} is not a UUID", preview(t)))?;
            }
            Ok(out)
        }
        ValueRef::Blob(b) => Err(format!("a {}-byte blob is not a UUID (16 bytes)", b.len())),
        ValueRef::Integer(i) => Err(format!(
            "{i} is not a UUID; use `using = \"uuid-from-int\"` in godwit.toml"
        )),
        _ => Err("not a UUID".into()),
    }
}

/// A name-based (v5) UUID: the same table and integer give the same UUID on
/// every run, so foreign keys converted the same way still match.
pub fn uuid_from_int(namespace: &str, value: i64) -> [u8; 16] {
    let ns = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("godwit:{namespace}").as_bytes());
    *uuid::Uuid::new_v5(&ns, value.to_string().as_bytes()).as_bytes()
}

/// inet/cidr binary form: family, bits, is_cidr, length, address.
fn inet_of(text: &str, cidr: bool) -> Result<Vec<u8>, Reject> {
    let bad = || {
        format!(
            "{} is not an IP address{}",
            preview(text.as_bytes()),
            if cidr { " or network" } else { "" }
        )
    };
    let (addr, bits) = match text.trim().split_once('/') {
        Some((a, b)) => (a, Some(b.parse::<u8>().map_err(|_| bad())?)),
        None => (text.trim(), None),
    };
    let ip: std::net::IpAddr = addr.parse().map_err(|_| bad())?;
    let (family, max_bits, bytes): (u8, u8, Vec<u8>) = match ip {
        std::net::IpAddr::V4(v4) => (2, 32, v4.octets().to_vec()),
        std::net::IpAddr::V6(v6) => (3, 128, v6.octets().to_vec()),
    };
    let bits = bits.unwrap_or(max_bits);
    if bits > max_bits {
        return Err(bad());
    }
    let mut out = vec![family, bits, u8::from(cidr), u8::try_from(bytes.len()).unwrap_or(16)];
    out.extend(bytes);
    Ok(out)
}

// ---- dates and times -------------------------------------------------

/// Days since 1970-01-01 for a proleptic Gregorian date.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) for days since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// A parsed ISO-8601 instant: microseconds since the Unix epoch, UTC.
#[derive(Debug, PartialEq)]
pub struct Instant {
    pub unix_us: i64,
    pub has_time: bool,
}

/// Parses `YYYY-MM-DD[( |T)HH:MM[:SS[.f+]]][Z|±HH[:MM]]`.
pub fn parse_iso(s: &str) -> Option<Instant> {
    let b = s.trim().as_bytes();
    // Runs for every timestamp: plain digit arithmetic, no str parsing.
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        b.get(range)?.iter().try_fold(0u32, |acc, d| {
            d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
        })
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = i64::from(num(0..4)?);
    let (month, day) = (num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let mut us = days_from_civil(year, month, day) * US_PER_DAY;
    let mut i = 10;
    let mut has_time = false;
    if i < b.len() && (b[i] == b' ' || b[i] == b'T' || b[i] == b't') && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        let hour = num(i + 1..i + 3)?;
        if b.get(i + 3) != Some(&b':') {
            return None;
        }
        let minute = num(i + 4..i + 6)?;
        i += 6;
        let mut second = 0;
        let mut micros: i64 = 0;
        if b.get(i) == Some(&b':') {
            second = num(i + 1..i + 3)?;
            i += 3;
            if b.get(i) == Some(&b'.') {
                i += 1;
                let start = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                let digits = &b[start..i];
                if digits.is_empty() {
                    return None;
                }
                // Beyond microseconds would be lost: only zeros may follow.
                if digits.len() > 6 && digits[6..].iter().any(|d| *d != b'0') {
                    return None;
                }
                for k in 0..6 {
                    micros = micros * 10 + i64::from(digits.get(k).map_or(0, |d| d - b'0'));
                }
            }
        }
        if hour > 24 || minute > 59 || second > 60 || (hour == 24 && (minute, second, micros) != (0, 0, 0)) {
            return None;
        }
        has_time = true;
        us += (i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second)) * 1_000_000 + micros;
    }
    // Zone: Z, or ±HH, ±HHMM, ±HH:MM; SQLite also allows a space before it.
    while i < b.len() && b[i] == b' ' {
        i += 1;
    }
    if i < b.len() {
        match b[i] {
            b'Z' | b'z' if i + 1 == b.len() => {}
            sign @ (b'+' | b'-') => {
                let hh = num(i + 1..i + 3)?;
                let rest = &b[i + 3..];
                let mm = match rest {
                    [] => 0,
                    [b':', a, c] | [a, c] if a.is_ascii_digit() && c.is_ascii_digit() => {
                        u32::from(a - b'0') * 10 + u32::from(c - b'0')
                    }
                    _ => return None,
                };
                let offset = (i64::from(hh) * 3600 + i64::from(mm) * 60) * 1_000_000;
                // Local time minus its offset is UTC.
                us = if sign == b'+' { us - offset } else { us + offset };
            }
            _ => return None,
        }
    }
    Some(Instant { unix_us: us, has_time })
}

fn unix_us_of_number(value: ValueRef<'_>, unit: EpochUnit) -> Result<i64, Reject> {
    let overflow = || "timestamp out of range".to_string();
    match (value, unit) {
        (ValueRef::Integer(i), EpochUnit::Seconds) => i.checked_mul(1_000_000).ok_or_else(overflow),
        (ValueRef::Integer(i), EpochUnit::Milliseconds) => i.checked_mul(1_000).ok_or_else(overflow),
        (ValueRef::Integer(i), EpochUnit::JulianDay) => {
            #[allow(clippy::cast_precision_loss)] // julian day numbers are small
            real_us((i as f64 - UNIX_EPOCH_JULIAN_DAY) * 86_400e6)
        }
        (ValueRef::Real(f), EpochUnit::Seconds) => real_us(f * 1e6),
        (ValueRef::Real(f), EpochUnit::Milliseconds) => real_us(f * 1e3),
        (ValueRef::Real(f), EpochUnit::JulianDay) => real_us((f - UNIX_EPOCH_JULIAN_DAY) * 86_400e6),
        _ => Err("not a number".into()),
    }
}

fn real_us(us: f64) -> Result<i64, Reject> {
    if !us.is_finite() || us.abs() > 9.0e18 {
        return Err("timestamp out of range".into());
    }
    #[allow(clippy::cast_possible_truncation)] // finite and within i64
    Ok(us.round() as i64)
}

/// PostgreSQL's timestamp: microseconds since 2000-01-01 UTC.
fn timestamp_of(value: ValueRef<'_>, unit: EpochUnit) -> Result<i64, Reject> {
    let unix_us = match value {
        ValueRef::Text(t) => {
            let s = std::str::from_utf8(t).map_err(|_| "invalid UTF-8 in a timestamp".to_string())?;
            parse_iso(s)
                .ok_or_else(|| format!("text {} is not an ISO-8601 date or timestamp", preview(t)))?
                .unix_us
        }
        ValueRef::Blob(_) => return Err("a blob is not a timestamp".into()),
        number => unix_us_of_number(number, unit)?,
    };
    // PostgreSQL's range: 4713 BC to 294276 AD.
    if unix_us < -210_866_803_200_000_000 {
        return Err("timestamp out of PostgreSQL's range".into());
    }
    Ok(unix_us - PG_EPOCH_OFFSET_US)
}

fn date_of(value: ValueRef<'_>, unit: EpochUnit) -> Result<i32, Reject> {
    let unix_us = match value {
        ValueRef::Text(t) => {
            let s = std::str::from_utf8(t).map_err(|_| "invalid UTF-8 in a date".to_string())?;
            parse_iso(s)
                .ok_or_else(|| format!("text {} is not an ISO-8601 date", preview(t)))?
                .unix_us
        }
        ValueRef::Blob(_) => return Err("a blob is not a date".into()),
        number => unix_us_of_number(number, unit)?,
    };
    if unix_us.rem_euclid(US_PER_DAY) != 0 {
        return Err("has a time of day, which a date column would drop".into());
    }
    i32::try_from(unix_us.div_euclid(US_PER_DAY) - PG_EPOCH_OFFSET_DAYS).map_err(|_| "date out of range".into())
}

fn time_of(value: ValueRef<'_>) -> Result<i64, Reject> {
    let ValueRef::Text(t) = value else {
        return Err("not a time of day (HH:MM[:SS[.ffffff]])".into());
    };
    let s = std::str::from_utf8(t).map_err(|_| "invalid UTF-8 in a time".to_string())?;
    let instant = parse_iso(&format!("2000-01-01 {}", s.trim()))
        .ok_or_else(|| format!("text {} is not a time of day", preview(t)))?;
    Ok(instant.unix_us - PG_EPOCH_OFFSET_US)
}

// ---- numeric -----------------------------------------------------------

/// A decimal as digits and a scale: value = digits × 10^-scale.
#[derive(Debug, PartialEq)]
pub struct Decimal<'a> {
    pub negative: bool,
    /// ASCII digits, no sign; may have leading zeros.
    pub digits: &'a [u8],
    pub scale: i64,
}

/// The exact decimal a SQLite value holds: integers as they are, reals by
/// the shortest text that reads back as the same double.
fn decimal_of<'a>(value: ValueRef<'_>, text: &'a mut String) -> Result<Decimal<'a>, Reject> {
    use std::fmt::Write;
    text.clear();
    match value {
        ValueRef::Integer(i) => {
            let _ = write!(text, "{i}");
        }
        ValueRef::Real(f) if f.is_finite() => {
            let _ = write!(text, "{f:e}");
        }
        ValueRef::Real(f) => return Err(format!("{f} has no decimal value")),
        ValueRef::Text(t) => {
            let s = std::str::from_utf8(t).map_err(|_| "invalid UTF-8".to_string())?;
            text.push_str(s.trim());
        }
        ValueRef::Blob(_) => return Err("a blob is not a number".into()),
        ValueRef::Null => unreachable!("handled by the caller"),
    }
    match parse_decimal(text) {
        Some((negative, scale)) => Ok(Decimal {
            negative,
            digits: text.as_bytes(),
            scale,
        }),
        None => Err(format!("text {} is not a number", preview(text.as_bytes()))),
    }
}

/// The digits before and after the point a value needs as an exact
/// decimal, read as the numeric cast reads it (reals by their shortest
/// round-trip text); None for what is not a number.
pub fn decimal_digits(value: ValueRef<'_>) -> Option<(u32, u32)> {
    if value == ValueRef::Null {
        return None;
    }
    let mut text = String::new();
    let decimal = decimal_of(value, &mut text).ok()?;
    let mut digits = decimal.digits;
    let mut scale = decimal.scale;
    // Trailing zeros after the point need no room.
    while scale > 0 && digits.last() == Some(&b'0') {
        digits = &digits[..digits.len() - 1];
        scale -= 1;
    }
    let total = i64::try_from(digits.len()).ok()?;
    let (int_len, frac_len) = if scale < 0 {
        (total - scale, 0)
    } else {
        ((total - scale).max(0), scale)
    };
    let leading_zeros = i64::try_from(digits.iter().take_while(|d| **d == b'0').count()).ok()?;
    let int_len = (int_len - leading_zeros.min(int_len)).max(0);
    Some((u32::try_from(int_len).ok()?, u32::try_from(frac_len).ok()?))
}

/// Parses `[+-]digits[.digits][e[+-]digits]` into sign and scale,
/// rewriting `text` to hold only the digits (untouched on failure).
fn parse_decimal(text: &mut String) -> Option<(bool, i64)> {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(pos) => (&text[..pos], text[pos + 1..].parse::<i64>().ok()?),
        None => (text.as_str(), 0),
    };
    let (negative, unsigned) = match mantissa.as_bytes().first()? {
        b'-' => (true, &mantissa[1..]),
        b'+' => (false, &mantissa[1..]),
        _ => (false, mantissa),
    };
    let (int_part, frac_part) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if !int_part.bytes().chain(frac_part.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let scale = i64::try_from(frac_part.len()).ok()? - exponent;
    // Keep only the digits, in place: this runs for every numeric value.
    let mantissa_len = mantissa.len();
    text.truncate(mantissa_len);
    text.retain(|c| c.is_ascii_digit());
    Some((negative, scale))
}

/// Writes a numeric in PostgreSQL's binary form (base-10000 digits),
/// checking precision and scale the way numeric(p,s) would, but rejecting
/// where PostgreSQL would silently round, unless `round` is asked for.
fn encode_numeric(
    buf: &mut Vec<u8>,
    decimal: Decimal<'_>,
    precision: Option<u32>,
    scale: Option<u32>,
    round: bool,
    work: &mut Vec<u8>,
) -> Result<(), Reject> {
    // Normalise into `work`: digits with the decimal point after `int_len`.
    work.clear();
    work.extend(decimal.digits.iter().map(|d| d - b'0'));
    let mut scale_now = decimal.scale;
    // Drop trailing zeros beyond the target scale (and any negative scale).
    if scale_now < 0 {
        work.extend(std::iter::repeat_n(
            0,
            usize::try_from(-scale_now).map_err(|_| "number too large".to_string())?,
        ));
        scale_now = 0;
    }
    let target_scale = scale.map(i64::from);
    if let Some(ts) = target_scale {
        while scale_now > ts {
            let last = *work.last().unwrap_or(&0);
            if last == 0 {
                work.pop();
                scale_now -= 1;
                continue;
            }
            if !round {
                return Err(format!(
                    "has more than {ts} decimal places; numeric({},{ts}) would round it",
                    precision.unwrap_or(0)
                ));
            }
            // Round half away from zero, as PostgreSQL does.
            let cut = usize::try_from(scale_now - ts).unwrap_or(0);
            let keep = work.len().saturating_sub(cut);
            let round_up = work.get(keep).is_some_and(|d| *d >= 5);
            work.truncate(keep);
            scale_now = ts;
            if round_up {
                let mut k = work.len();
                loop {
                    if k == 0 {
                        work.insert(0, 1);
                        break;
                    }
                    k -= 1;
                    if work[k] == 9 {
                        work[k] = 0;
                    } else {
                        work[k] += 1;
                        break;
                    }
                }
            }
        }
    }
    let scale_now = usize::try_from(scale_now).map_err(|_| "number too large".to_string())?;
    // Leading zeros of the integer part do not count towards precision.
    while work.len() > scale_now && work.first() == Some(&0) {
        work.remove(0);
    }
    let int_len = work.len() - scale_now.min(work.len());
    let frac_pad = scale_now.saturating_sub(work.len());
    if let (Some(p), Some(s)) = (precision, scale)
        && int_len > (p - s.min(p)) as usize
    {
        return Err(format!(
            "needs {int_len} digits before the point; numeric({p},{s}) allows {}",
            p - s.min(p)
        ));
    }
    let dscale = target_scale.map_or(scale_now, |t| usize::try_from(t).unwrap_or(0).max(scale_now));
    // Base-10000 groups aligned on the decimal point.
    let int_digits = &work[..int_len];
    let mut frac_digits: Vec<u8> = std::iter::repeat_n(0, frac_pad)
        .chain(work[int_len..].iter().copied())
        .collect();
    let int_groups = int_len.div_ceil(4);
    let lead_pad = int_groups * 4 - int_len;
    let mut groups: Vec<i16> = Vec::with_capacity(int_groups + frac_digits.len().div_ceil(4));
    let mut padded: Vec<u8> = std::iter::repeat_n(0, lead_pad)
        .chain(int_digits.iter().copied())
        .collect();
    for chunk in padded.chunks(4) {
        groups.push(chunk.iter().fold(0i16, |acc, d| acc * 10 + i16::from(*d)));
    }
    while !frac_digits.len().is_multiple_of(4) {
        frac_digits.push(0);
    }
    for chunk in frac_digits.chunks(4) {
        groups.push(chunk.iter().fold(0i16, |acc, d| acc * 10 + i16::from(*d)));
    }
    padded.clear();
    let mut weight = i64::try_from(int_groups).unwrap_or(0) - 1;
    // Strip leading and trailing zero groups; PostgreSQL stores none.
    let first = groups.iter().position(|g| *g != 0);
    let (ndigits, weight, start) = match first {
        None => (0, 0, 0),
        Some(first) => {
            let last = groups.iter().rposition(|g| *g != 0).unwrap_or(first);
            weight -= i64::try_from(first).unwrap_or(0);
            (last + 1 - first, weight, first)
        }
    };
    let total = 8 + 2 * ndigits;
    buf.extend_from_slice(
        &i32::try_from(total)
            .map_err(|_| "number too large".to_string())?
            .to_be_bytes(),
    );
    buf.extend_from_slice(
        &i16::try_from(ndigits)
            .map_err(|_| "number has too many digits".to_string())?
            .to_be_bytes(),
    );
    buf.extend_from_slice(
        &i16::try_from(weight)
            .map_err(|_| "number out of numeric's range".to_string())?
            .to_be_bytes(),
    );
    let sign: u16 = if decimal.negative && ndigits > 0 { 0x4000 } else { 0 };
    buf.extend_from_slice(&sign.to_be_bytes());
    buf.extend_from_slice(
        &i16::try_from(dscale)
            .map_err(|_| "scale too large".to_string())?
            .to_be_bytes(),
    );
    for g in &groups[start..start + ndigits] {
        buf.extend_from_slice(&g.to_be_bytes());
    }
    Ok(())
}

// ---- literals for defaults ---------------------------------------------

/// A SQL literal for a default value, produced by the same cast as the
/// column's data so that the two always agree.
pub fn literal_for(literal: &crate::plan::translate::Literal, pg_type: &PgType, cast: &Cast) -> Result<String, Reject> {
    use crate::plan::translate::Literal;
    use crate::postgres::conn::quote_literal;
    let value = match literal {
        Literal::Null => return Ok("NULL".into()),
        Literal::Integer(i) => ValueRef::Integer(*i),
        Literal::Real(f) => ValueRef::Real(*f),
        Literal::Text(t) => ValueRef::Text(t.as_bytes()),
        Literal::Blob(b) => ValueRef::Blob(b),
    };
    let mut buf = Vec::new();
    encode_value(&mut buf, value, cast, &mut Scratch::default())?;
    let field = &buf[4..];
    let typed = |text: String| format!("{}::{}", quote_literal(&text), pg_type.sql());
    Ok(match cast {
        Cast::Boolean => if field[0] == 1 { "true" } else { "false" }.into(),
        Cast::Integer { .. } | Cast::Float { .. } => match value {
            ValueRef::Integer(i) => i.to_string(),
            ValueRef::Real(f) => format!("{f:?}"),
            ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
            _ => return Err("not a number".into()),
        },
        Cast::Numeric { .. } => typed(numeric_text(field)),
        Cast::Text { .. } | Cast::TextLike | Cast::Enum { .. } => quote_literal(&String::from_utf8_lossy(field)),
        Cast::Json { binary } => typed(String::from_utf8_lossy(if *binary { &field[1..] } else { field }).into_owned()),
        Cast::Bytea => format!(
            "'\\x{}'::bytea",
            field.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ),
        Cast::Timestamp { .. } => {
            let us = i64::from_be_bytes(field.try_into().map_err(|_| "bad timestamp".to_string())?);
            typed(format_timestamp(us))
        }
        Cast::Date { .. } => {
            let days = i32::from_be_bytes(field.try_into().map_err(|_| "bad date".to_string())?);
            let (y, m, d) = civil_from_days(i64::from(days) + PG_EPOCH_OFFSET_DAYS);
            typed(format!("{y:04}-{m:02}-{d:02}"))
        }
        Cast::Uuid | Cast::UuidFromInt { .. } => {
            typed(uuid::Uuid::from_slice(field).map_err(|e| e.to_string())?.to_string())
        }
        Cast::SplitArray { .. } | Cast::JsonArray { .. } => {
            let ValueRef::Text(t) = value else {
                return Err("no literal form".into());
            };
            let items = array_items(&String::from_utf8_lossy(t), cast)?;
            let items: Vec<String> = items
                .iter()
                .map(|i| i.as_deref().map_or("NULL".to_string(), quote_literal))
                .collect();
            if items.is_empty() {
                format!("'{{}}'::{}", pg_type.sql())
            } else {
                format!("ARRAY[{}]::{}", items.join(", "), pg_type.sql())
            }
        }
        Cast::Time | Cast::Inet { .. } => match value {
            ValueRef::Text(t) => typed(String::from_utf8_lossy(t).into_owned()),
            _ => return Err("no literal form".into()),
        },
    })
}

/// ISO text of a PostgreSQL timestamp (µs since 2000-01-01), in UTC.
pub fn format_timestamp(pg_us: i64) -> String {
    let unix_us = pg_us + PG_EPOCH_OFFSET_US;
    let days = unix_us.div_euclid(US_PER_DAY);
    let in_day = unix_us.rem_euclid(US_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let secs = in_day / 1_000_000;
    let micros = in_day % 1_000_000;
    let mut s = format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    if micros != 0 {
        s.push_str(&format!(".{micros:06}"));
    }
    s.push_str("+00");
    s
}

/// Decimal text of a binary numeric field.
pub fn numeric_text(field: &[u8]) -> String {
    let read = |i: usize| i16::from_be_bytes([field[i], field[i + 1]]);
    let (ndigits, weight, sign, dscale) = (read(0), read(2), u16::from_be_bytes([field[4], field[5]]), read(6));
    let groups: Vec<i16> = (0..usize::try_from(ndigits).unwrap_or(0))
        .map(|k| read(8 + 2 * k))
        .collect();
    let mut int_part = String::new();
    for w in 0..=i32::from(weight).max(-1) {
        let g = groups.get(usize::try_from(w).unwrap_or(0)).copied().unwrap_or(0);
        if int_part.is_empty() {
            if g != 0 {
                int_part = g.to_string();
            }
        } else {
            int_part.push_str(&format!("{g:04}"));
        }
    }
    if int_part.is_empty() {
        int_part.push('0');
    }
    let mut frac = String::new();
    let first_frac = i32::from(weight) + 1;
    let dscale = usize::try_from(dscale).unwrap_or(0);
    let mut k = first_frac;
    while frac.len() < dscale {
        let g = if k < 0 {
            0
        } else {
            groups.get(usize::try_from(k).unwrap_or(0)).copied().unwrap_or(0)
        };
        frac.push_str(&format!("{g:04}"));
        k += 1;
    }
    frac.truncate(dscale);
    let mut s = String::new();
    if sign == 0x4000 {
        s.push('-');
    }
    s.push_str(&int_part);
    if !frac.is_empty() {
        s.push('.');
        s.push_str(&frac);
    }
    s
}

/// A source value as a person reads it in a message: text quoted and cut,
/// blobs as their first bytes in hex.
pub fn value_preview(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::Null => "NULL".into(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(f) => f.to_string(),
        ValueRef::Text(t) => preview(t),
        ValueRef::Blob(b) => {
            let hex: String = b.iter().take(20).map(|x| format!("{x:02x}")).collect();
            format!("x'{hex}{}' ({} bytes)", if b.len() > 20 { "…" } else { "" }, b.len())
        }
    }
}

/// The start of a value, for messages.
pub fn preview(bytes: &[u8]) -> String {
    const MAX: usize = 40;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX)]).into_owned();
    let text: String = text.chars().map(|c| if c == '\0' { '\u{2400}' } else { c }).collect();
    if bytes.len() > MAX {
        format!("{text:?}…")
    } else {
        format!("{text:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(value: ValueRef<'_>, cast: Cast) -> Result<Vec<u8>, Reject> {
        let mut buf = Vec::new();
        encode_value(&mut buf, value, &cast, &mut Scratch::default())?;
        Ok(buf)
    }

    fn numeric(value: ValueRef<'_>, precision: Option<u32>, scale: Option<u32>, round: bool) -> Result<String, Reject> {
        let buf = encode(
            value,
            Cast::Numeric {
                precision,
                scale,
                round,
            },
        )?;
        Ok(numeric_text(&buf[4..]))
    }

    #[test]
    fn float_casts_take_exact_decimal_text_but_not_words() {
        let float = |t: &str| encode(ValueRef::Text(t.as_bytes()), Cast::Float { bits: 64 });
        assert_eq!(float("1.25").unwrap()[4..], 1.25f64.to_be_bytes());
        assert_eq!(float("-2e3").unwrap()[4..], (-2000.0f64).to_be_bytes());
        assert!(float("NaN").unwrap_err().contains("not a number"));
        assert!(float("inf").is_err());
        assert!(float("1e999").unwrap_err().contains("range"));
        assert!(float("12 apples").is_err());
    }

    #[test]
    fn iso_timestamps_with_t_z_offsets_and_fractions() {
        let base = parse_iso("2024-03-01 12:34:56").unwrap().unix_us;
        assert_eq!(base, 1_709_296_496_000_000);
        assert_eq!(parse_iso("2024-03-01T12:34:56Z").unwrap().unix_us, base);
        assert_eq!(parse_iso("2024-03-01T14:34:56+02:00").unwrap().unix_us, base);
        assert_eq!(parse_iso("2024-03-01T07:34:56-0500").unwrap().unix_us, base);
        assert_eq!(parse_iso("2024-03-01 12:34:56.123456").unwrap().unix_us, base + 123_456);
        assert_eq!(parse_iso("2024-03-01 12:34:56.5").unwrap().unix_us, base + 500_000);
        assert!(
            parse_iso("2024-03-01 12:34:56.1234567").is_none(),
            "sub-microsecond digits would be lost"
        );
        assert!(parse_iso("2024-02-30").is_none());
        assert!(parse_iso("toto").is_none());
        assert_eq!(
            parse_iso("1970-01-01").unwrap(),
            Instant {
                unix_us: 0,
                has_time: false
            }
        );
    }

    #[test]
    fn epoch_units() {
        let s = timestamp_of(ValueRef::Integer(1_709_296_496), EpochUnit::Seconds).unwrap();
        let ms = timestamp_of(ValueRef::Integer(1_709_296_496_000), EpochUnit::Milliseconds).unwrap();
        let iso = timestamp_of(ValueRef::Text(b"2024-03-01 12:34:56"), EpochUnit::Seconds).unwrap();
        assert_eq!(s, iso);
        assert_eq!(ms, iso);
        let jd = timestamp_of(ValueRef::Real(2_440_587.5), EpochUnit::JulianDay).unwrap();
        assert_eq!(jd, -PG_EPOCH_OFFSET_US);
        assert_eq!(format_timestamp(iso), "2024-03-01 12:34:56+00");
    }

    #[test]
    fn civil_round_trip() {
        for days in [-800_000i64, -1, 0, 1, 10_957, 19_000, 2_000_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn decimal_digits_are_what_numeric_needs() {
        assert_eq!(decimal_digits(ValueRef::Real(12345678.9)), Some((8, 1)));
        assert_eq!(decimal_digits(ValueRef::Integer(-120)), Some((3, 0)));
        assert_eq!(decimal_digits(ValueRef::Text(b"0.0500")), Some((0, 2)));
        assert_eq!(decimal_digits(ValueRef::Real(1e20)), Some((21, 0)));
        assert_eq!(decimal_digits(ValueRef::Text(b"abc")), None);
    }

    #[test]
    fn numerics_are_exact() {
        assert_eq!(
            numeric(ValueRef::Integer(-1234567890123), None, None, false).unwrap(),
            "-1234567890123"
        );
        assert_eq!(numeric(ValueRef::Real(0.99), Some(10), Some(2), false).unwrap(), "0.99");
        assert_eq!(
            numeric(ValueRef::Text(b"12345.678900"), Some(20), Some(6), false).unwrap(),
            "12345.678900"
        );
        assert_eq!(numeric(ValueRef::Real(1e-300), None, None, false).unwrap().len(), 302);
        assert_eq!(numeric(ValueRef::Integer(0), Some(5), Some(2), false).unwrap(), "0.00");
        assert_eq!(numeric(ValueRef::Real(1.23456), None, None, false).unwrap(), "1.23456");
        assert!(
            numeric(ValueRef::Real(0.125), Some(10), Some(2), false).is_err(),
            "would round"
        );
        assert_eq!(numeric(ValueRef::Real(0.125), Some(10), Some(2), true).unwrap(), "0.13");
        assert_eq!(
            numeric(ValueRef::Real(9.995), Some(10), Some(2), true).unwrap(),
            "10.00"
        );
        assert!(
            numeric(ValueRef::Integer(123456), Some(5), Some(2), false).is_err(),
            "overflow"
        );
        assert!(numeric(ValueRef::Text(b"12abc"), None, None, false).is_err());
    }

    #[test]
    fn rejects_instead_of_changing() {
        assert!(encode(ValueRef::Text(b"toto"), Cast::Integer { bits: 64 }).is_err());
        assert!(encode(ValueRef::Real(12.3), Cast::Integer { bits: 64 }).is_err());
        assert!(encode(ValueRef::Integer(70_000), Cast::Integer { bits: 16 }).is_err());
        assert!(encode(ValueRef::Text(b"a\x96b"), Cast::Text { max_chars: None }).is_err());
        assert!(encode(ValueRef::Text(b"a\0b"), Cast::Text { max_chars: None }).is_err());
        assert!(encode(ValueRef::Integer(2), Cast::Boolean).is_err());
        assert!(encode(ValueRef::Text(b"{bad"), Cast::Json { binary: true }).is_err());
        assert!(encode(ValueRef::Integer((1 << 53) + 1), Cast::Float { bits: 64 }).is_err());
        assert!(
            encode(
                ValueRef::Text(b"2024-01-01 10:00:00"),
                Cast::Date {
                    unit: EpochUnit::Seconds
                }
            )
            .is_err()
        );
    }

    #[test]
    fn field_layouts() {
        assert_eq!(encode(ValueRef::Null, Cast::Bytea).unwrap(), vec![0xff; 4]);
        assert_eq!(encode(ValueRef::Blob(b""), Cast::Bytea).unwrap(), vec![0, 0, 0, 0]);
        assert_eq!(
            encode(ValueRef::Integer(1), Cast::Boolean).unwrap(),
            vec![0, 0, 0, 1, 1]
        );
        assert_eq!(
            encode(ValueRef::Text(b"t"), Cast::Boolean).unwrap(),
            vec![0, 0, 0, 1, 1]
        );
        assert_eq!(
            encode(ValueRef::Integer(7), Cast::Integer { bits: 16 }).unwrap(),
            vec![0, 0, 0, 2, 0, 7]
        );
        assert_eq!(
            encode(ValueRef::Text(b"{}"), Cast::Json { binary: true }).unwrap(),
            vec![0, 0, 0, 3, 1, b'{', b'}']
        );
        let pi = encode(ValueRef::Real(std::f64::consts::PI), Cast::Float { bits: 64 }).unwrap();
        assert_eq!(&pi[4..], &std::f64::consts::PI.to_be_bytes());
    }

    #[test]
    fn arrays_from_delimited_text_and_json() {
        let split = Cast::SplitArray {
            separator: ",".into(),
            element: PgType::Text,
        };
        let two = encode(ValueRef::Text(b"a,b"), split.clone()).unwrap();
        // ndim 1, no nulls, text oid 25, 2 elements from 1, then "a" and "b".
        assert_eq!(&two[4..16], &[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 25]);
        assert_eq!(&two[16..24], &[0, 0, 0, 2, 0, 0, 0, 1]);
        let empty = encode(ValueRef::Text(b""), split).unwrap();
        assert_eq!(
            &empty[4..],
            &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 25],
            "'' is an empty array"
        );
        let ints = Cast::JsonArray {
            element: PgType::Integer,
        };
        assert!(encode(ValueRef::Text(b"[1, null, 3]"), ints.clone()).is_ok());
        assert_eq!(
            encode(ValueRef::Text(b"null"), ints.clone()).unwrap(),
            vec![0xff; 4],
            "JSON null is SQL NULL"
        );
        assert!(
            encode(ValueRef::Text(b"[1, \"x\"]"), ints.clone())
                .unwrap_err()
                .contains("not an integer")
        );
        assert!(
            encode(ValueRef::Text(b"{\"a\": 1}"), ints.clone())
                .unwrap_err()
                .contains("not a JSON array")
        );
        assert!(
            encode(ValueRef::Text(b"[1,"), ints)
                .unwrap_err()
                .contains("invalid JSON")
        );
    }

    #[test]
    fn enums_inet_and_text_like() {
        let status = Cast::Enum {
            labels: vec!["paid".into(), "lost".into()],
        };
        assert_eq!(&encode(ValueRef::Text(b"paid"), status.clone()).unwrap()[4..], b"paid");
        assert!(
            encode(ValueRef::Text(b"refunded"), status)
                .unwrap_err()
                .contains("not one of the enum's labels")
        );
        assert_eq!(
            &encode(ValueRef::Text(b"10.0.0.1"), Cast::Inet { cidr: false }).unwrap()[4..],
            &[2, 32, 0, 4, 10, 0, 0, 1]
        );
        assert_eq!(
            encode(ValueRef::Text(b"::1/128"), Cast::Inet { cidr: false }).unwrap()[4..8],
            [3, 128, 0, 16]
        );
        assert!(encode(ValueRef::Text(b"10.0.0.1/33"), Cast::Inet { cidr: true }).is_err());
        assert!(encode(ValueRef::Text(b"not-an-ip"), Cast::Inet { cidr: false }).is_err());
        assert_eq!(
            &encode(ValueRef::Text(b"MiXeD"), Cast::TextLike).unwrap()[4..],
            b"MiXeD"
        );
    }

    #[test]
    fn epoch_units_into_dates_and_timestamps_without_zone() {
        let ts = Cast::Timestamp {
            unit: EpochUnit::Milliseconds,
            with_zone: false,
        };
        assert_eq!(
            encode(ValueRef::Integer(0), ts).unwrap()[4..],
            (-PG_EPOCH_OFFSET_US).to_be_bytes()
        );
        let date = Cast::Date {
            unit: EpochUnit::Seconds,
        };
        assert_eq!(
            encode(ValueRef::Integer(86_400), date.clone()).unwrap()[4..],
            (1 - 10_957i32).to_be_bytes()
        );
        assert!(
            encode(ValueRef::Integer(86_401), date)
                .unwrap_err()
                .contains("time of day")
        );
        assert!(
            encode(
                ValueRef::Blob(b"x"),
                Cast::Timestamp {
                    unit: EpochUnit::Seconds,
                    with_zone: true
                }
            )
            .is_err()
        );
        assert_eq!(
            encode(ValueRef::Text(b"12:30:00.5"), Cast::Time).unwrap()[4..],
            45_000_500_000i64.to_be_bytes()
        );
        assert!(encode(ValueRef::Integer(5), Cast::Time).is_err());
    }

    #[test]
    fn integers_range_checked_and_reals_that_are_whole() {
        assert_eq!(
            encode(ValueRef::Real(12.0), Cast::Integer { bits: 32 }).unwrap()[4..],
            12i32.to_be_bytes()
        );
        assert!(encode(ValueRef::Integer(i64::from(i32::MAX) + 1), Cast::Integer { bits: 32 }).is_err());
        assert!(encode(ValueRef::Real(1e300), Cast::Integer { bits: 64 }).is_err());
        assert!(encode(ValueRef::Blob(b"1"), Cast::Integer { bits: 64 }).is_err());
        assert!(
            encode(ValueRef::Real(0.1), Cast::Float { bits: 32 })
                .unwrap_err()
                .contains("loses precision")
        );
        // Decimal text is a number a float cast can take (a document's exact number); words are not.
        assert!(encode(ValueRef::Text(b"1.5"), Cast::Float { bits: 64 }).is_ok());
        assert!(encode(ValueRef::Text(b"one and a half"), Cast::Float { bits: 64 }).is_err());
        assert!(encode(ValueRef::Integer(1), Cast::Bytea).is_err());
        assert_eq!(
            &encode(ValueRef::Integer(42), Cast::Text { max_chars: None }).unwrap()[4..],
            b"42"
        );
        assert_eq!(
            &encode(ValueRef::Real(1.0), Cast::Text { max_chars: None }).unwrap()[4..],
            b"1.0"
        );
        assert!(encode(ValueRef::Text("héllo".as_bytes()), Cast::Text { max_chars: Some(4) }).is_err());
        assert!(encode(ValueRef::Text("héll".as_bytes()), Cast::Text { max_chars: Some(4) }).is_ok());
    }

    #[test]
    fn uuids_from_hex_dashed_and_blob() {
        let dashed = encode(ValueRef::Text(b"0e984725-c51c-4bf4-9960-e1c80e27aba0"), Cast::Uuid).unwrap();
        let hex = encode(ValueRef::Text(b"0E984725C51C4BF49960E1C80E27ABA0"), Cast::Uuid).unwrap();
        assert_eq!(dashed, hex);
        let blob = encode(ValueRef::Blob(&dashed[4..]), Cast::Uuid).unwrap();
        assert_eq!(blob, dashed);
        assert!(encode(ValueRef::Text(b"not-a-uuid"), Cast::Uuid).is_err());
        assert_eq!(uuid_from_int("users.id", 42), uuid_from_int("users.id", 42));
        assert_ne!(uuid_from_int("users.id", 42), uuid_from_int("users.id", 43));
    }
}
