//! Field values as verify compares them: PostgreSQL's binary COPY fields,
//! equal when their bytes are, or, for numeric and JSON, when their
//! canonical forms are (numeric scale, JSON key order and number syntax
//! are spellings, not values). Also order-preserving key bytes and
//! readable renderings for reports.

use crate::plan::types::PgType;
use crate::postgres::encode::{civil_from_days, format_timestamp};

/// How a column's binary field is compared, ordered and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Int,
    Float4,
    Float8,
    Numeric,
    Text,
    Bytea,
    Bool,
    Date,
    Time,
    Timestamp {
        with_zone: bool,
    },
    Json,
    Uuid,
    Inet,
    /// Arrays, enums, citext: compared byte for byte, never used for order.
    Opaque,
}

/// Days between 1970-01-01 and PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_DAYS: i64 = 10_957;

impl FieldKind {
    pub fn of(pg_type: &PgType) -> FieldKind {
        match pg_type {
            PgType::SmallInt | PgType::Integer | PgType::BigInt => FieldKind::Int,
            PgType::Real => FieldKind::Float4,
            PgType::Double => FieldKind::Float8,
            PgType::Numeric(_) => FieldKind::Numeric,
            PgType::Text | PgType::Varchar(_) => FieldKind::Text,
            PgType::Bytea => FieldKind::Bytea,
            PgType::Boolean => FieldKind::Bool,
            PgType::Date => FieldKind::Date,
            PgType::Time => FieldKind::Time,
            PgType::Timestamp => FieldKind::Timestamp { with_zone: false },
            PgType::Timestamptz => FieldKind::Timestamp { with_zone: true },
            PgType::Json | PgType::Jsonb => FieldKind::Json,
            PgType::Uuid => FieldKind::Uuid,
            PgType::Inet | PgType::Cidr => FieldKind::Inet,
            PgType::Array(_) | PgType::TextLike(_) => FieldKind::Opaque,
        }
    }

    /// Whether PostgreSQL's `ORDER BY` (with `COLLATE "C"` on text) sorts
    /// this type the way [`push_key`] bytes sort under memcmp.
    pub fn orderable(self) -> bool {
        matches!(
            self,
            FieldKind::Int
                | FieldKind::Float4
                | FieldKind::Float8
                | FieldKind::Text
                | FieldKind::Bytea
                | FieldKind::Bool
                | FieldKind::Date
                | FieldKind::Time
                | FieldKind::Timestamp { .. }
                | FieldKind::Uuid
        )
    }
}

impl FieldKind {
    /// Whether equal values can have different bytes.
    pub fn has_spellings(self) -> bool {
        matches!(self, FieldKind::Numeric | FieldKind::Json)
    }
}

/// Appends one field as COPY frames it: i32 length (-1 for NULL), bytes.
pub fn push_field(out: &mut Vec<u8>, field: Option<&[u8]>) {
    match field {
        None => out.extend_from_slice(&(-1i32).to_be_bytes()),
        Some(bytes) => {
            out.extend_from_slice(&i32::try_from(bytes.len()).unwrap_or(i32::MAX).to_be_bytes());
            out.extend_from_slice(bytes);
        }
    }
}

/// The canonical bytes of a field whose kind has spellings.
pub fn canonical(kind: FieldKind, bytes: &[u8]) -> Vec<u8> {
    match kind {
        FieldKind::Numeric => numeric_canonical(bytes).into_bytes(),
        // jsonb fields start with a version byte; json fields do not.
        FieldKind::Json => json_canonical(bytes.strip_prefix(&[1]).unwrap_or(bytes)),
        _ => bytes.to_vec(),
    }
}

/// Appends one field (`None` for NULL) in canonical form, framed.
pub fn push_canonical(out: &mut Vec<u8>, kind: FieldKind, field: Option<&[u8]>) {
    match field {
        Some(bytes) if kind.has_spellings() => push_field(out, Some(&canonical(kind, bytes))),
        other => push_field(out, other),
    }
}

/// Whether two fields hold the same value.
pub fn same_value(kind: FieldKind, a: Option<&[u8]>, b: Option<&[u8]>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) if x != y && kind.has_spellings() => canonical(kind, x) == canonical(kind, y),
        _ => a == b,
    }
}

/// Appends a key field: canonical first where values have spellings.
pub fn push_key_field(out: &mut Vec<u8>, kind: FieldKind, field: Option<&[u8]>) {
    match field {
        Some(bytes) if kind.has_spellings() => push_key(out, kind, Some(&canonical(kind, bytes))),
        other => push_key(out, kind, other),
    }
}

/// Splits a run of framed fields back into fields.
pub fn fields(mut data: &[u8]) -> Vec<Option<&[u8]>> {
    let mut out = Vec::new();
    while data.len() >= 4 {
        let len = i32::from_be_bytes([data[0], data[1], data[2], data[3]]);
        data = &data[4..];
        match usize::try_from(len) {
            Ok(n) if n <= data.len() => {
                out.push(Some(&data[..n]));
                data = &data[n..];
            }
            _ => out.push(None),
        }
    }
    out
}

/// Appends a key field as bytes whose memcmp order is PostgreSQL's order
/// for the type (NULL first, as SQLite sorts it). Injective for every
/// kind, so keys of unorderable kinds still identify rows.
pub fn push_key(out: &mut Vec<u8>, kind: FieldKind, field: Option<&[u8]>) {
    let Some(bytes) = field else {
        out.push(0);
        return;
    };
    out.push(1);
    let flip_sign = |out: &mut Vec<u8>, bytes: &[u8]| {
        if let Some((first, rest)) = bytes.split_first() {
            out.push(first ^ 0x80);
            out.extend_from_slice(rest);
        }
    };
    match kind {
        FieldKind::Int | FieldKind::Date | FieldKind::Time | FieldKind::Timestamp { .. } => flip_sign(out, bytes),
        FieldKind::Float8 if bytes.len() == 8 => {
            let mut raw = [0u8; 8];
            raw.copy_from_slice(bytes);
            let bits = u64::from_be_bytes(raw);
            let ordered = if bits >> 63 == 1 { !bits } else { bits ^ (1 << 63) };
            out.extend_from_slice(&ordered.to_be_bytes());
        }
        FieldKind::Float4 if bytes.len() == 4 => {
            let bits = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
            let ordered = if bits >> 31 == 1 { !bits } else { bits ^ (1 << 31) };
            out.extend_from_slice(&ordered.to_be_bytes());
        }
        FieldKind::Bool | FieldKind::Uuid => out.extend_from_slice(bytes),
        _ => {
            // Escaped and terminated, so a shorter value sorts before any
            // longer one it prefixes, as in PostgreSQL.
            for b in bytes {
                out.push(*b);
                if *b == 0 {
                    out.push(0xff);
                }
            }
            out.extend_from_slice(&[0, 0]);
        }
    }
}

/// The decimal value of a binary numeric with no superfluous zeros:
/// `1.50` and `1.5` (different scales) are the same number.
pub fn numeric_canonical(field: &[u8]) -> String {
    if field.len() < 8 {
        return format!("invalid numeric {}", hex(field));
    }
    let read = |i: usize| i16::from_be_bytes([field[i], field[i + 1]]);
    let ndigits = usize::try_from(read(0)).unwrap_or(0);
    let weight = i32::from(read(2));
    match u16::from_be_bytes([field[4], field[5]]) {
        0x0000 | 0x4000 => {}
        0xC000 => return "NaN".into(),
        0xD000 => return "Infinity".into(),
        0xF000 => return "-Infinity".into(),
        _ => return format!("invalid numeric {}", hex(field)),
    }
    let negative = u16::from_be_bytes([field[4], field[5]]) == 0x4000;
    let group = |position: i32| -> i16 {
        // Group index counted from the most significant, at `weight`.
        usize::try_from(weight - position)
            .ok()
            .filter(|i| *i < ndigits && 8 + 2 * i + 1 < field.len())
            .map_or(0, |i| read(8 + 2 * i))
    };
    let mut int_part = String::new();
    for position in (0..=weight).rev() {
        let g = group(position);
        if int_part.is_empty() {
            if g != 0 {
                int_part = g.to_string();
            }
        } else {
            int_part.push_str(&format!("{g:04}"));
        }
    }
    let lowest = weight - i32::try_from(ndigits).unwrap_or(0) + 1;
    let mut frac = String::new();
    let mut position = -1;
    while position >= lowest {
        frac.push_str(&format!("{:04}", group(position)));
        position -= 1;
    }
    let frac = frac.trim_end_matches('0');
    if int_part.is_empty() {
        int_part.push('0');
    }
    let zero = int_part == "0" && frac.is_empty();
    let mut s = String::new();
    if negative && !zero {
        s.push('-');
    }
    s.push_str(&int_part);
    if !frac.is_empty() {
        s.push('.');
        s.push_str(frac);
    }
    s
}

/// JSON text in a canonical form: keys sorted, no whitespace, numbers by
/// value (`1`, `1.0` and `1e0` are one number). Text that is not JSON is
/// kept as it is, marked so it never equals a document.
pub fn json_canonical(text: &[u8]) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(text) {
        Ok(value) => {
            let mut out = String::new();
            write_json(&mut out, &value);
            out.into_bytes()
        }
        Err(_) => {
            let mut out = b"\xffnot json:".to_vec();
            out.extend_from_slice(text);
            out
        }
    }
}

fn write_json(out: &mut String, value: &serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.push_str(&i.to_string());
            } else if let Some(u) = n.as_u64() {
                out.push_str(&u.to_string());
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if f.fract() == 0.0 && f.abs() < 9.0e15 {
                    out.push_str(&format!("{f:.0}"));
                } else {
                    out.push_str(&format!("{f:e}"));
                }
            }
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            // serde_json's map is a BTreeMap: keys come sorted.
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_json(out, v);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A field as a person reads it.
pub fn display(kind: FieldKind, field: Option<&[u8]>) -> String {
    let Some(bytes) = field else {
        return "NULL".into();
    };
    if kind.has_spellings() {
        return quoted_text(&canonical(kind, bytes));
    }
    let fixed = |n: usize| (bytes.len() == n).then_some(bytes);
    let text = match kind {
        FieldKind::Int => int_of(bytes).map(|i| i.to_string()),
        FieldKind::Float8 => fixed(8).map(|b| {
            let mut raw = [0u8; 8];
            raw.copy_from_slice(b);
            format!("{:?}", f64::from_be_bytes(raw))
        }),
        FieldKind::Float4 => fixed(4).map(|b| format!("{:?}", f32::from_be_bytes([b[0], b[1], b[2], b[3]]))),
        FieldKind::Bool => fixed(1).map(|b| if b[0] == 0 { "false" } else { "true" }.to_string()),
        FieldKind::Date => fixed(4).map(|b| {
            let days = i64::from(i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
            let (y, m, d) = civil_from_days(days + PG_EPOCH_DAYS);
            format!("{y:04}-{m:02}-{d:02}")
        }),
        FieldKind::Time => int_of(bytes).map(|us| {
            let secs = us / 1_000_000;
            let micros = us % 1_000_000;
            let mut s = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
            if micros != 0 {
                s.push_str(&format!(".{micros:06}"));
            }
            s
        }),
        FieldKind::Timestamp { with_zone } => int_of(bytes).map(|us| {
            let s = format_timestamp(us);
            if with_zone {
                s
            } else {
                s.trim_end_matches("+00").to_string()
            }
        }),
        FieldKind::Uuid => uuid::Uuid::from_slice(bytes).ok().map(|u| u.to_string()),
        FieldKind::Text => Some(quoted_text(bytes)),
        FieldKind::Numeric | FieldKind::Json => None,
        FieldKind::Inet => inet_text(bytes),
        FieldKind::Bytea | FieldKind::Opaque => None,
    };
    text.unwrap_or_else(|| {
        let shown = &bytes[..bytes.len().min(32)];
        format!(
            "\\x{}{} ({} bytes)",
            hex(shown),
            if bytes.len() > 32 { "…" } else { "" },
            bytes.len()
        )
    })
}

fn quoted_text(bytes: &[u8]) -> String {
    const MAX: usize = 80;
    let text = String::from_utf8_lossy(bytes);
    if text.chars().count() > MAX {
        format!("{:?}…", text.chars().take(MAX).collect::<String>())
    } else {
        format!("{text:?}")
    }
}

fn int_of(bytes: &[u8]) -> Option<i64> {
    match bytes.len() {
        2 => Some(i64::from(i16::from_be_bytes([bytes[0], bytes[1]]))),
        4 => Some(i64::from(i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))),
        8 => {
            let mut raw = [0u8; 8];
            raw.copy_from_slice(bytes);
            Some(i64::from_be_bytes(raw))
        }
        _ => None,
    }
}

fn inet_text(bytes: &[u8]) -> Option<String> {
    let (&[family, bits, _cidr, len], address) = bytes.split_first_chunk::<4>()?;
    let ip = match (family, len, address.len()) {
        (2, 4, 4) => std::net::IpAddr::from([address[0], address[1], address[2], address[3]]),
        (3, 16, 16) => {
            let mut raw = [0u8; 16];
            raw.copy_from_slice(address);
            std::net::IpAddr::from(raw)
        }
        _ => return None,
    };
    Some(format!("{ip}/{bits}"))
}

/// A key field as a JSON value: numbers and booleans as themselves,
/// everything else as its text.
pub fn key_json(kind: FieldKind, field: Option<&[u8]>) -> serde_json::Value {
    use serde_json::Value;
    let Some(bytes) = field else {
        return Value::Null;
    };
    match kind {
        FieldKind::Int => int_of(bytes).map_or(Value::Null, Value::from),
        FieldKind::Bool => Value::Bool(bytes.first().is_some_and(|b| *b != 0)),
        FieldKind::Float8 | FieldKind::Float4 => display(kind, field)
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Null, Value::Number),
        FieldKind::Text => Value::String(String::from_utf8_lossy(bytes).into_owned()),
        FieldKind::Json | FieldKind::Numeric => {
            Value::String(String::from_utf8_lossy(&canonical(kind, bytes)).into_owned())
        }
        FieldKind::Bytea | FieldKind::Opaque => Value::String(format!("\\x{}", hex(bytes))),
        _ => Value::String(display(kind, field)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric_field(ndigits: i16, weight: i16, sign: u16, dscale: i16, groups: &[i16]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&ndigits.to_be_bytes());
        f.extend_from_slice(&weight.to_be_bytes());
        f.extend_from_slice(&sign.to_be_bytes());
        f.extend_from_slice(&dscale.to_be_bytes());
        for g in groups {
            f.extend_from_slice(&g.to_be_bytes());
        }
        f
    }

    #[test]
    fn numerics_compare_by_value_not_scale() {
        assert_eq!(numeric_canonical(&numeric_field(2, 0, 0, 2, &[1, 5000])), "1.5");
        assert_eq!(numeric_canonical(&numeric_field(2, 0, 0, 1, &[1, 5000])), "1.5");
        assert_eq!(numeric_canonical(&numeric_field(1, 1, 0x4000, 0, &[12])), "-120000");
        assert_eq!(numeric_canonical(&numeric_field(1, -2, 0, 8, &[5])), "0.00000005");
        assert_eq!(numeric_canonical(&numeric_field(0, 0, 0, 3, &[])), "0");
        assert_eq!(numeric_canonical(&numeric_field(0, 0, 0xC000, 0, &[])), "NaN");
    }

    #[test]
    fn json_ignores_key_order_spacing_and_number_spelling() {
        let a = json_canonical(br#"{"b": [1, 2.0, 1e2], "a": {"y": null, "x": "s"}}"#);
        let b = json_canonical(br#"{"a":{"x":"s","y":null},"b":[1.0,2,100]}"#);
        assert_eq!(a, b);
        assert_ne!(json_canonical(br#"{"a": 1}"#), json_canonical(br#"{"a": 2}"#));
        assert_ne!(json_canonical(br#"{"a": "1"}"#), json_canonical(br#"{"a": 1}"#));
        assert_ne!(json_canonical(b"{bad"), json_canonical(b"{}"));
    }

    #[test]
    fn key_bytes_sort_like_postgres() {
        let key = |kind, v: &[u8]| {
            let mut out = Vec::new();
            push_key(&mut out, kind, Some(v));
            out
        };
        assert!(key(FieldKind::Int, &(-5i64).to_be_bytes()) < key(FieldKind::Int, &3i64.to_be_bytes()));
        assert!(key(FieldKind::Float8, &(-1.5f64).to_be_bytes()) < key(FieldKind::Float8, &(-0.5f64).to_be_bytes()));
        assert!(key(FieldKind::Float8, &(0.5f64).to_be_bytes()) < key(FieldKind::Float8, &(2.0f64).to_be_bytes()));
        assert!(key(FieldKind::Text, b"ab") < key(FieldKind::Text, b"abc"));
        assert!(key(FieldKind::Text, b"ab\0") < key(FieldKind::Text, b"ab\x01"));
        assert!(key(FieldKind::Text, b"Z") < key(FieldKind::Text, b"a"));
        let mut null = Vec::new();
        push_key(&mut null, FieldKind::Text, None);
        assert!(null < key(FieldKind::Text, b""));
    }

    #[test]
    fn spellings_are_the_same_value() {
        let jsonb = |t: &str| [&[1u8][..], t.as_bytes()].concat();
        assert!(same_value(
            FieldKind::Json,
            Some(&jsonb(r#"{"a": 1.0}"#)),
            Some(&jsonb(r#"{"a":1}"#))
        ));
        assert!(!same_value(FieldKind::Json, Some(&jsonb(r#"{"a": 1}"#)), None));
        assert!(!same_value(FieldKind::Text, Some(b"a"), Some(b"A")));
        let one_and_a_half = numeric_field(2, 0, 0, 1, &[1, 5000]);
        let same_at_scale_2 = numeric_field(2, 0, 0, 2, &[1, 5000]);
        assert!(same_value(
            FieldKind::Numeric,
            Some(&one_and_a_half),
            Some(&same_at_scale_2)
        ));
    }

    #[test]
    fn null_and_empty_are_different_fields() {
        let mut null = Vec::new();
        push_canonical(&mut null, FieldKind::Text, None);
        let mut empty = Vec::new();
        push_canonical(&mut empty, FieldKind::Text, Some(b""));
        assert_ne!(null, empty);
        assert_eq!(fields(&null), vec![None]);
        assert_eq!(fields(&empty), vec![Some(&b""[..])]);
    }
}
