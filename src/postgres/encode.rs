//! Value conversion: a source value, through its column's cast, into the
//! binary form of its PostgreSQL type (the `*_send` format), with no
//! per-value allocation on the common paths. A value that does not fit is
//! reported, never altered; the caller decides whether that stops the copy
//! or rejects the row. The field framing is binary_copy.rs's; dates and
//! decimals are read by crate::calendar and crate::decimal.

use crate::calendar::{PG_EPOCH_OFFSET_DAYS, PG_EPOCH_OFFSET_US, UNIX_EPOCH_JULIAN_DAY, US_PER_DAY, parse_iso};
use crate::decimal::{Decimal, is_decimal_text, parse_decimal};
use crate::postgres::binary_copy::{put_bytes, put_fixed, put_null};
use crate::source::ValueRef;
use crate::source::preview::preview;

use crate::postgres::types::{Cast, EpochUnit, PgType};

/// The reason a value was not accepted.
pub type Reject = String;

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
            // A document's array column: strings as written, read in place.
            let plain = match cast {
                Cast::JsonArray { .. } => plain_json_strings(text),
                _ => None,
            };
            let items_owned;
            let items: Vec<Option<&str>> = match plain {
                Some(items) => items,
                None => {
                    items_owned = array_items(text, cast)?;
                    items_owned.iter().map(|s| s.as_deref()).collect()
                }
            };
            encode_array(buf, element, &items, &mut scratch.inner)?;
        }
    }
    Ok(())
}

/// The elements an array cast makes of a text: split on the separator
/// (an empty text is an empty array), or the items of a JSON array.
pub(crate) fn array_items(text: &str, cast: &Cast) -> Result<Vec<Option<String>>, Reject> {
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

/// The items of a JSON array of strings without escapes, and nulls (what
/// a document's array column holds), borrowed from the text; None for
/// anything else, which [`array_items`] reads with serde_json. Saves a
/// parse into values and a string per item on every row.
fn plain_json_strings(text: &str) -> Option<Vec<Option<&str>>> {
    let bytes = text.as_bytes();
    let skip_ws = |mut i: usize| {
        while matches!(bytes.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            i += 1;
        }
        i
    };
    let mut i = skip_ws(0);
    if bytes.get(i) != Some(&b'[') {
        return None;
    }
    i = skip_ws(i + 1);
    let mut items = Vec::new();
    if bytes.get(i) == Some(&b']') {
        return (skip_ws(i + 1) == bytes.len()).then_some(items);
    }
    loop {
        match bytes.get(i)? {
            b'"' => {
                let start = i + 1;
                let end = start + memchr::memchr2(b'"', b'\\', &bytes[start..])?;
                let item = &text[start..end];
                // An escape, or a control character serde_json refuses.
                if bytes[end] != b'"' || item.bytes().any(|b| b < 0x20) {
                    return None;
                }
                items.push(Some(item));
                i = end + 1;
            }
            b'n' if bytes[i..].starts_with(b"null") => {
                items.push(None);
                i += 4;
            }
            _ => return None,
        }
        i = skip_ws(i);
        match bytes.get(i)? {
            b',' => i = skip_ws(i + 1),
            b']' => return (skip_ws(i + 1) == bytes.len()).then_some(items),
            _ => return None,
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
    uuid_in_namespace(uuid_namespace(namespace), value)
}

/// The v5 namespace of a `uuid-from-int` key (`table.column`): kept by the
/// query translator, which converts integer parameters and literals
/// compared with the key exactly as the copy converted the key itself.
pub fn uuid_namespace(namespace: &str) -> [u8; 16] {
    *uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("godwit:{namespace}").as_bytes()).as_bytes()
}

/// [`uuid_from_int`] with the namespace already derived.
pub fn uuid_in_namespace(namespace: [u8; 16], value: i64) -> [u8; 16] {
    *uuid::Uuid::new_v5(&uuid::Uuid::from_bytes(namespace), value.to_string().as_bytes()).as_bytes()
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

/// The decimal's digits (0-9, no sign) in `work`, cut to `scale` the way
/// numeric(p,s) would (rounding half away from zero only when `round` is
/// asked for): returns how many of them follow the decimal point.
fn scaled_digits(
    decimal: &Decimal<'_>,
    precision: Option<u32>,
    scale: Option<u32>,
    round: bool,
    work: &mut Vec<u8>,
) -> Result<usize, Reject> {
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
    usize::try_from(scale_now).map_err(|_| "number too large".to_string())
}

/// A binary numeric's length and header: digit count, weight, sign and
/// display scale (the base-10000 digits follow).
fn numeric_header(buf: &mut Vec<u8>, ndigits: usize, weight: i64, negative: bool, dscale: usize) -> Result<(), Reject> {
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
    let sign: u16 = if negative && ndigits > 0 { 0x4000 } else { 0 };
    buf.extend_from_slice(&sign.to_be_bytes());
    buf.extend_from_slice(
        &i16::try_from(dscale)
            .map_err(|_| "scale too large".to_string())?
            .to_be_bytes(),
    );
    Ok(())
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
    let scale_now = scaled_digits(&decimal, precision, scale, round, work)?;
    let target_scale = scale.map(i64::from);
    // Leading zeros of the integer part do not count towards precision.
    let leading_zeros = work
        .iter()
        .take(work.len().saturating_sub(scale_now))
        .take_while(|d| **d == 0)
        .count();
    let digits = &work[leading_zeros..];
    let int_len = digits.len() - scale_now.min(digits.len());
    let frac_pad = scale_now.saturating_sub(digits.len());
    if let (Some(p), Some(s)) = (precision, scale)
        && int_len > (p - s.min(p)) as usize
    {
        return Err(format!(
            "needs {int_len} digits before the point; numeric({p},{s}) allows {}",
            p - s.min(p)
        ));
    }
    let dscale = target_scale.map_or(scale_now, |t| usize::try_from(t).unwrap_or(0).max(scale_now));
    // Base-10000 groups aligned on the decimal point, read in place: the
    // digits, after zeros that align the integer part on a group (and the
    // fraction's zeros before its first digit), then zeros to the end.
    let groups = Groups {
        digits,
        offset: (int_len.div_ceil(4) * 4 - int_len) + frac_pad,
    };
    let int_groups = int_len.div_ceil(4);
    let all_groups = int_groups + (frac_pad + digits.len() - int_len).div_ceil(4);
    let mut weight = i64::try_from(int_groups).unwrap_or(0) - 1;
    // Strip leading and trailing zero groups; PostgreSQL stores none.
    let first = (0..all_groups).find(|&k| groups.at(k) != 0);
    let (ndigits, weight, start) = match first {
        None => (0, 0, 0),
        Some(first) => {
            let last = (first..all_groups).rev().find(|&k| groups.at(k) != 0).unwrap_or(first);
            weight -= i64::try_from(first).unwrap_or(0);
            (last + 1 - first, weight, first)
        }
    };
    numeric_header(buf, ndigits, weight, decimal.negative, dscale)?;
    for k in start..start + ndigits {
        buf.extend_from_slice(&groups.at(k).to_be_bytes());
    }
    Ok(())
}

/// A numeric's decimal digits seen as base-10000 groups: `offset` zeros,
/// then `digits`, then zeros.
struct Groups<'a> {
    digits: &'a [u8],
    offset: usize,
}

impl Groups<'_> {
    /// The value of group `k` (0 to 9999).
    fn at(&self, k: usize) -> i16 {
        // Most groups lie within the digits: four at once.
        if let Some(&[a, b, c, d]) = (4 * k)
            .checked_sub(self.offset)
            .and_then(|from| self.digits.get(from..from + 4))
        {
            return i16::from(a) * 1000 + i16::from(b) * 100 + i16::from(c) * 10 + i16::from(d);
        }
        (4 * k..4 * k + 4).fold(0i16, |acc, i| {
            let digit = i
                .checked_sub(self.offset)
                .and_then(|i| self.digits.get(i))
                .copied()
                .unwrap_or(0);
            acc * 10 + i16::from(digit)
        })
    }
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
            // Decimal text with nothing around it, as a document's numbers
            // are, is read in one pass; anything else as it always was.
            if let Some((negative, scale)) = plain_decimal(t, text) {
                return Ok(Decimal {
                    negative,
                    digits: text.as_bytes(),
                    scale,
                });
            }
            text.clear();
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

/// `[+-]digits[.digits][e[+-]digits]` and nothing else (no space around
/// it): the sign and scale [`parse_decimal`] gives for it, its digits
/// written to `digits`; None for any other text. Such text is ASCII, and
/// trimming leaves it as it is, so this is what the general path reads,
/// without its UTF-8 check, trim, copy and second pass.
fn plain_decimal(t: &[u8], digits: &mut String) -> Option<(bool, i64)> {
    let (mantissa, exponent) = match t.iter().position(|b| matches!(b, b'e' | b'E')) {
        Some(pos) => (&t[..pos], std::str::from_utf8(&t[pos + 1..]).ok()?.parse::<i64>().ok()?),
        None => (t, 0),
    };
    let (negative, unsigned) = match mantissa.first()? {
        b'-' => (true, &mantissa[1..]),
        b'+' => (false, &mantissa[1..]),
        _ => (false, mantissa),
    };
    let (int_part, frac_part) = match unsigned.iter().position(|b| *b == b'.') {
        Some(dot) => (&unsigned[..dot], &unsigned[dot + 1..]),
        None => (unsigned, &[][..]),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if !int_part.iter().chain(frac_part).all(u8::is_ascii_digit) {
        return None;
    }
    let scale = i64::try_from(frac_part.len()).ok()? - exponent;
    digits.clear();
    // ASCII digits (checked above): copied whole, not char by char.
    digits.push_str(std::str::from_utf8(int_part).ok()?);
    digits.push_str(std::str::from_utf8(frac_part).ok()?);
    Some((negative, scale))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::format_timestamp;
    use crate::decimal::numeric_text;
    #[test]
    fn decimal_digits_are_what_numeric_needs() {
        assert_eq!(decimal_digits(ValueRef::Real(12345678.9)), Some((8, 1)));
        assert_eq!(decimal_digits(ValueRef::Integer(-120)), Some((3, 0)));
        assert_eq!(decimal_digits(ValueRef::Text(b"0.0500")), Some((0, 2)));
        assert_eq!(decimal_digits(ValueRef::Real(1e20)), Some((21, 0)));
        assert_eq!(decimal_digits(ValueRef::Text(b"abc")), None);
    }

    #[test]
    fn json_arrays_of_plain_strings_read_in_place_give_the_items_serde_json_gives() {
        let cast = Cast::JsonArray { element: PgType::Text };
        let plain = [
            r#"[]"#,
            r#" [ ] "#,
            r#"["beta"]"#,
            r#"["gamma","delta"]"#,
            "[ \"a b\" ,\tnull,\r\n\"é€😀\" ]",
            r#"[null]"#,
            r#"["", "1"]"#,
        ];
        for text in plain {
            let fast = plain_json_strings(text).unwrap_or_else(|| panic!("{text} is read in place"));
            let serde = array_items(text, &cast).unwrap();
            assert_eq!(fast, serde.iter().map(|s| s.as_deref()).collect::<Vec<_>>(), "{text}");
        }
        // Escapes, numbers, nesting, control characters and malformed
        // text go to serde_json (which gives the value or the error).
        let other = [
            r#"["a\"b"]"#,
            r#"["\u00e9"]"#,
            r#"[1, "a"]"#,
            r#"[["a"]]"#,
            "[\"a\tb\"]",
            r#"["a",]"#,
            r#"["a""#,
            r#"["a"] x"#,
            r#"[nul]"#,
            r#"{"a": 1}"#,
            r#"null"#,
        ];
        for text in other {
            assert_eq!(plain_json_strings(text), None, "{text}");
        }
        // And the encoded arrays are the same either way.
        let via_serde = |text: &str| {
            let items = array_items(text, &cast).unwrap();
            let items: Vec<Option<&str>> = items.iter().map(|s| s.as_deref()).collect();
            let mut buf = Vec::new();
            encode_array(&mut buf, &PgType::Text, &items, &mut Vec::new()).unwrap();
            buf
        };
        for text in [r#"["gamma","delta"]"#, r#"["x", null]"#, r#"[]"#] {
            assert_eq!(
                encode(ValueRef::Text(text.as_bytes()), cast.clone()).unwrap(),
                via_serde(text)
            );
        }
    }

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

    /// The grouping `encode_numeric` did before it read the digits in
    /// place (one vector per value each for the groups and the padded
    /// digits): the reference its output must equal byte for byte.
    fn encode_numeric_by_copies(
        buf: &mut Vec<u8>,
        decimal: Decimal<'_>,
        precision: Option<u32>,
        scale: Option<u32>,
        round: bool,
        work: &mut Vec<u8>,
    ) -> Result<(), Reject> {
        let scale_now = scaled_digits(&decimal, precision, scale, round, work)?;
        let target_scale = scale.map(i64::from);
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
        numeric_header(buf, ndigits, weight, decimal.negative, dscale)?;
        for g in &groups[start..start + ndigits] {
            buf.extend_from_slice(&g.to_be_bytes());
        }
        Ok(())
    }

    #[test]
    fn numerics_grouped_in_place_give_the_bytes_and_errors_of_the_grouping_by_copies() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let typmods = [
            (None, None),
            (Some(5), Some(2)),
            (Some(10), Some(0)),
            (Some(20), Some(6)),
            (Some(3), Some(3)),
            (Some(30), Some(12)),
        ];
        let mut texts = vec![
            "0".to_string(),
            "-0".into(),
            "0.000".into(),
            "5e-3".into(),
            "1e5".into(),
            "9999.9999".into(),
            "-0.00012".into(),
            "00001234.5000".into(),
            "1e-300".into(),
        ];
        for _ in 0..3000 {
            let mut t = String::new();
            if next(3) == 0 {
                t.push('-');
            }
            for _ in 0..next(12) {
                t.push(char::from(b'0' + u8::try_from(next(10)).unwrap()));
            }
            if next(2) == 0 {
                t.push('.');
                for _ in 0..=next(14) {
                    t.push(char::from(b'0' + u8::try_from(next(10)).unwrap()));
                }
            }
            if next(5) == 0 {
                t.push_str(&format!("e{}", i64::try_from(next(40)).unwrap() - 20));
            }
            texts.push(t);
        }
        let (mut text, mut work) = (String::new(), Vec::new());
        for t in &texts {
            for &(precision, scale) in &typmods {
                for round in [false, true] {
                    let Ok(decimal) = decimal_of(ValueRef::Text(t.as_bytes()), &mut text) else {
                        continue;
                    };
                    let (mut new, mut reference) = (vec![7u8], vec![7u8]);
                    let got = encode_numeric(&mut new, decimal, precision, scale, round, &mut work);
                    let decimal = decimal_of(ValueRef::Text(t.as_bytes()), &mut text).unwrap();
                    let want = encode_numeric_by_copies(&mut reference, decimal, precision, scale, round, &mut work);
                    assert_eq!(got, want, "{t} numeric({precision:?},{scale:?}) round {round}");
                    assert_eq!(new, reference, "{t} numeric({precision:?},{scale:?}) round {round}");
                }
            }
        }
    }

    /// How `decimal_of` read text before [`plain_decimal`]: the reference
    /// it must agree with.
    fn decimal_of_text_as_before<'a>(t: &[u8], text: &'a mut String) -> Result<Decimal<'a>, Reject> {
        text.clear();
        let s = std::str::from_utf8(t).map_err(|_| "invalid UTF-8".to_string())?;
        text.push_str(s.trim());
        match parse_decimal(text) {
            Some((negative, scale)) => Ok(Decimal {
                negative,
                digits: text.as_bytes(),
                scale,
            }),
            None => Err(format!("text {} is not a number", preview(text.as_bytes()))),
        }
    }

    #[test]
    fn decimal_text_read_in_one_pass_is_what_the_general_path_reads() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            usize::try_from(seed % u64::try_from(n).unwrap()).unwrap()
        };
        let pieces = [
            "0",
            "1",
            "5",
            "9",
            "00",
            "123",
            ".",
            "-",
            "+",
            "e",
            "E",
            "e-",
            "e+",
            " ",
            "\t",
            "\n",
            "\u{a0}",
            "é",
            "x",
            "99999999999999999999",
        ];
        let mut texts: Vec<Vec<u8>> = [
            "",
            "12",
            "-0.50",
            "+.5",
            "5.",
            ".",
            "1e5",
            "1E-3",
            "1e",
            " 1.5 ",
            "1.5\u{a0}",
            "1.2.3",
            "--1",
        ]
        .iter()
        .map(|t| t.as_bytes().to_vec())
        .collect();
        texts.push(b"1\xff".to_vec());
        texts.push(b"\xff1".to_vec());
        for _ in 0..20_000 {
            let text: String = (0..=next(7)).map(|_| pieces[next(pieces.len())]).collect();
            texts.push(text.into_bytes());
        }
        let (mut a, mut b) = (String::new(), String::new());
        for t in &texts {
            let got = decimal_of(ValueRef::Text(t), &mut a);
            let want = decimal_of_text_as_before(t, &mut b);
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(t));
        }
    }
}
