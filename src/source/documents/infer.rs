//! Column kinds decided over every value of a field, never a sample.

use crate::source::{Inferred, InferredKind};

use super::json::JValue;

/// What the scalar values of one field were, counted as they stream by.
#[derive(Debug, Clone)]
pub struct KindTally {
    pub nulls: u64,
    pub bools: u64,
    /// Numbers without fraction or exponent that fit 64 bits.
    pub integers: u64,
    /// Numbers beyond 64 bits, or with a fraction or an exponent.
    pub decimals: u64,
    /// Numbers PostgreSQL's numeric cannot hold (`1e999999`).
    pub beyond_numeric: u64,
    pub strings: u64,
    /// The smallest and largest of the integers, and how many were
    /// written `-0` (a key as text, `-0` is not `0`).
    pub int_min: i64,
    pub int_max: i64,
    negative_zeros: u64,
    /// Whether every string seen so far has each shape.
    all_timestamptz: bool,
    all_timestamp: bool,
    all_date: bool,
    all_uuid: bool,
    all_integer_text: bool,
    all_decimal_text: bool,
}

impl Default for KindTally {
    fn default() -> Self {
        KindTally {
            nulls: 0,
            bools: 0,
            integers: 0,
            decimals: 0,
            beyond_numeric: 0,
            strings: 0,
            int_min: i64::MAX,
            int_max: i64::MIN,
            negative_zeros: 0,
            all_timestamptz: true,
            all_timestamp: true,
            all_date: true,
            all_uuid: true,
            all_integer_text: true,
            all_decimal_text: true,
        }
    }
}

impl KindTally {
    /// A tally that starts with `n` nulls (objects that lacked the field).
    pub fn with_nulls(n: u64) -> Self {
        KindTally {
            nulls: n,
            ..KindTally::default()
        }
    }

    /// Counts one scalar (objects and arrays are counted by the caller).
    pub fn add(&mut self, value: &JValue) {
        match value {
            JValue::Null => self.nulls += 1,
            JValue::Bool(_) => self.bools += 1,
            JValue::Number(n) => {
                if let Ok(v) = n.parse::<i64>() {
                    self.integers += 1;
                    self.int_min = self.int_min.min(v);
                    self.int_max = self.int_max.max(v);
                    if v == 0 && n.starts_with('-') {
                        self.negative_zeros += 1;
                    }
                } else {
                    self.decimals += 1;
                    if beyond_numeric(n) {
                        self.beyond_numeric += 1;
                    }
                }
            }
            JValue::String(s) => self.add_str(s),
            JValue::Array(_) | JValue::Object(_) => {}
        }
    }

    /// Adds what another tally counted (of values after these).
    pub fn merge(&mut self, other: &KindTally) {
        self.nulls += other.nulls;
        self.bools += other.bools;
        self.integers += other.integers;
        self.decimals += other.decimals;
        self.beyond_numeric += other.beyond_numeric;
        self.strings += other.strings;
        self.int_min = self.int_min.min(other.int_min);
        self.int_max = self.int_max.max(other.int_max);
        self.negative_zeros += other.negative_zeros;
        self.all_timestamptz &= other.all_timestamptz;
        self.all_timestamp &= other.all_timestamp;
        self.all_date &= other.all_date;
        self.all_uuid &= other.all_uuid;
        self.all_integer_text &= other.all_integer_text;
        self.all_decimal_text &= other.all_decimal_text;
    }

    pub fn add_str(&mut self, s: &str) {
        self.strings += 1;
        if self.all_uuid {
            self.all_uuid = is_uuid(s);
        }
        if self.all_date {
            self.all_date = is_date(s.as_bytes());
        }
        if self.all_timestamptz || self.all_timestamp {
            let shape = timestamp_shape(s.as_bytes());
            self.all_timestamptz &= shape == Some(true);
            self.all_timestamp &= shape == Some(false);
        }
        if self.all_integer_text {
            self.all_integer_text = is_canonical_integer(s) && s.parse::<i64>().is_ok();
        }
        if self.all_decimal_text {
            self.all_decimal_text = is_canonical_decimal(s);
        }
    }

    /// When every value is an integer (or null): how many, the smallest
    /// and the largest.
    pub fn integer_range(&self) -> Option<(u64, i64, i64)> {
        (self.bools == 0 && self.decimals == 0 && self.strings == 0 && self.negative_zeros == 0).then_some((
            self.integers,
            self.int_min,
            self.int_max,
        ))
    }

    pub fn non_null(&self) -> u64 {
        self.bools + self.integers + self.decimals + self.strings
    }

    /// The kind every value fits, and why. `others` counts objects and
    /// arrays seen in the same field (which make it JSON).
    pub fn decide(&self, others: u64) -> Inferred {
        let numbers = self.integers + self.decimals;
        let kinds = [self.bools, numbers, self.strings, others]
            .iter()
            .filter(|&&n| n > 0)
            .count();
        let inferred = |kind, evidence: String| Inferred { kind, evidence };
        if kinds == 0 {
            return inferred(
                InferredKind::AlwaysNull,
                format!("all {} values are null", count(self.nulls)),
            );
        }
        if kinds > 1 {
            let mut seen = Vec::new();
            for (n, what) in [
                (self.bools, "booleans"),
                (numbers, "numbers"),
                (self.strings, "strings"),
                (others, "objects or arrays"),
            ] {
                if n > 0 {
                    seen.push(format!("{} {what}", count(n)));
                }
            }
            return inferred(
                InferredKind::Json,
                format!(
                    "holds several kinds ({}): kept as JSON, nothing coerced",
                    seen.join(", ")
                ),
            );
        }
        if others > 0 {
            return inferred(InferredKind::Json, format!("{} nested values", count(others)));
        }
        if self.bools > 0 {
            return inferred(
                InferredKind::Boolean,
                format!("all {} values are booleans", count(self.bools)),
            );
        }
        if self.beyond_numeric > 0 {
            return inferred(
                InferredKind::Text,
                format!(
                    "{} of {} numbers are beyond PostgreSQL numeric (more than {NUMERIC_MAX_INTEGER_DIGITS} digits before the point or {NUMERIC_MAX_SCALE} after): kept as their text, exactly",
                    count(self.beyond_numeric),
                    count(numbers)
                ),
            );
        }
        if numbers > 0 {
            return if self.decimals == 0 {
                inferred(
                    InferredKind::Integer,
                    format!("all {} numbers are integers that fit 64 bits", count(numbers)),
                )
            } else {
                inferred(
                    InferredKind::Decimal,
                    format!(
                        "{} of {} numbers have a fraction, an exponent or more than 64 bits: exact numeric",
                        count(self.decimals),
                        count(numbers)
                    ),
                )
            };
        }
        let n = count(self.strings);
        if self.all_uuid {
            inferred(InferredKind::Uuid, format!("all {n} strings are UUIDs"))
        } else if self.all_date {
            inferred(InferredKind::Date, format!("all {n} strings are ISO 8601 dates"))
        } else if self.all_timestamptz {
            inferred(
                InferredKind::Timestamptz,
                format!("all {n} strings are RFC 3339 timestamps with an offset"),
            )
        } else if self.all_timestamp {
            inferred(
                InferredKind::Timestamp,
                format!("all {n} strings are ISO 8601 timestamps without an offset"),
            )
        } else if self.all_integer_text {
            inferred(
                InferredKind::Integer,
                format!("all {n} strings are integers that read back as written"),
            )
        } else if self.all_decimal_text {
            inferred(
                InferredKind::Decimal,
                format!("all {n} strings are decimals that read back as written (scale kept)"),
            )
        } else {
            inferred(InferredKind::Text, format!("{n} strings"))
        }
    }
}

/// The most digits PostgreSQL's numeric holds before the decimal point,
/// and after it.
const NUMERIC_MAX_INTEGER_DIGITS: i64 = 131_072;
const NUMERIC_MAX_SCALE: i64 = 16_383;
const NUMERIC_MAX_SCALE_DIGITS: usize = 16_383;

/// Whether a JSON number (valid grammar) is beyond what numeric holds,
/// once its exponent moves the point: `1e200000`, `123e-10000000`.
fn beyond_numeric(n: &str) -> bool {
    // Without an exponent, no more digits than the text's length on
    // either side of the point: within both bounds when that is short.
    if n.len() <= NUMERIC_MAX_SCALE_DIGITS && !n.bytes().any(|b| b == b'e' || b == b'E') {
        return false;
    }
    let unsigned = n.strip_prefix('-').unwrap_or(n);
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], &unsigned[at + 1..]),
        None => (unsigned, "0"),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.bytes().chain(frac.bytes()).all(|b| b == b'0') {
        return false;
    }
    // An exponent too long to parse is far beyond either bound.
    let Ok(exponent) = exponent.trim_start_matches('+').parse::<i64>() else {
        return true;
    };
    let significant_int = i64::try_from(int.trim_start_matches('0').len()).unwrap_or(i64::MAX);
    let frac_len = i64::try_from(frac.len()).unwrap_or(i64::MAX);
    significant_int.saturating_add(exponent) > NUMERIC_MAX_INTEGER_DIGITS
        || frac_len.saturating_sub(exponent) > NUMERIC_MAX_SCALE
}

/// 1234567 → "1,234,567", as evidence lines show counts.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn digits(b: &[u8]) -> bool {
    !b.is_empty() && b.iter().all(u8::is_ascii_digit)
}

fn number(b: &[u8]) -> u32 {
    b.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0'))
}

/// `-?(0|[1-9][0-9]*)`: an integer PostgreSQL prints back the same.
pub fn is_canonical_integer(s: &str) -> bool {
    let b = s.strip_prefix('-').unwrap_or(s).as_bytes();
    digits(b) && (b.len() == 1 || b[0] != b'0') && s != "-0"
}

/// An integer, or `int.digits`: numeric prints it back the same, scale kept.
pub fn is_canonical_decimal(s: &str) -> bool {
    match s.split_once('.') {
        None => is_canonical_integer(s),
        Some((int, frac)) => {
            let unsigned = int.strip_prefix('-').unwrap_or(int);
            digits(frac.as_bytes())
                && digits(unsigned.as_bytes())
                && (unsigned.len() == 1 || !unsigned.starts_with('0'))
                // "-0.0" prints as "0.0"
                && !(int.starts_with('-') && unsigned == "0" && frac.bytes().all(|d| d == b'0'))
        }
    }
}

pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                *c == b'-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => 29,
        2 => 28,
        _ => 31,
    }
}

/// `YYYY-MM-DD`, a real calendar date.
pub fn is_date(b: &[u8]) -> bool {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let (y, m, d) = (&b[0..4], &b[5..7], &b[8..10]);
    if !(digits(y) && digits(m) && digits(d)) {
        return false;
    }
    let (y, m, d) = (number(y), number(m), number(d));
    y >= 1 && (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m)
}

/// `date[T ]HH:MM:SS[.ffffff]` then an offset (`Z` or `±HH:MM`) or none:
/// Some(true) with an offset, Some(false) without, None when not a
/// timestamp PostgreSQL keeps exactly (more than microseconds).
pub fn timestamp_shape(b: &[u8]) -> Option<bool> {
    if b.len() < 19 || !is_date(&b[..10]) || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let t = &b[11..];
    if t[2] != b':' || t[5] != b':' || !digits(&t[0..2]) || !digits(&t[3..5]) || !digits(&t[6..8]) {
        return None;
    }
    if number(&t[0..2]) > 23 || number(&t[3..5]) > 59 || number(&t[6..8]) > 59 {
        return None;
    }
    let mut rest = &t[8..];
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 6 {
            return None;
        }
        rest = &frac[n..];
    }
    match rest {
        [] => Some(false),
        [b'Z' | b'z'] => Some(true),
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            let (h, m) = ([*h1, *h2], [*m1, *m2]);
            (digits(&h) && digits(&m) && number(&h) <= 15 && number(&m) <= 59).then_some(true)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(values: &[JValue]) -> InferredKind {
        let mut t = KindTally::default();
        for v in values {
            t.add(v);
        }
        t.decide(0).kind
    }

    fn s(v: &str) -> JValue {
        JValue::String(v.into())
    }

    fn n(v: &str) -> JValue {
        JValue::Number(v.into())
    }

    #[test]
    fn every_value_decides() {
        assert_eq!(kind(&[n("1"), n("2")]), InferredKind::Integer);
        assert_eq!(kind(&[n("1"), n("18446744073709551617")]), InferredKind::Decimal);
        assert_eq!(kind(&[n("1"), n("0.1000")]), InferredKind::Decimal);
        assert_eq!(kind(&[s("007"), s("1")]), InferredKind::Text);
        assert_eq!(kind(&[s("1.50"), s("2")]), InferredKind::Decimal);
        assert_eq!(kind(&[s("12"), s("-3")]), InferredKind::Integer);
        assert_eq!(kind(&[s("1"), n("1")]), InferredKind::Json);
        assert_eq!(kind(&[JValue::Null]), InferredKind::AlwaysNull);
        assert_eq!(kind(&[JValue::Bool(true), JValue::Null]), InferredKind::Boolean);
        assert_eq!(
            kind(&[s("2024-01-02T03:04:05Z"), s("2024-01-02 03:04:05.123456+02:00")]),
            InferredKind::Timestamptz
        );
        assert_eq!(kind(&[s("2024-01-02T03:04:05.1234567Z")]), InferredKind::Text);
        assert_eq!(kind(&[s("2024-01-02T03:04:05")]), InferredKind::Timestamp);
        assert_eq!(
            kind(&[s("2024-01-02T03:04:05"), s("2024-01-02T03:04:05Z")]),
            InferredKind::Text
        );
        assert_eq!(kind(&[s("2024-02-29")]), InferredKind::Date);
        assert_eq!(kind(&[s("2023-02-29")]), InferredKind::Text);
        assert_eq!(kind(&[s("6ba7b810-9dad-11d1-80b4-00c04fd430c8")]), InferredKind::Uuid);
    }

    #[test]
    fn numbers_beyond_numeric_are_kept_as_text() {
        assert!(
            beyond_numeric("123e-10000000")
                && beyond_numeric("1e131073")
                && beyond_numeric("1.5e999999999999999999999")
        );
        assert!(!beyond_numeric("1e400") && !beyond_numeric("-1.5e-7") && !beyond_numeric("0e99999999999999999999"));
        assert_eq!(kind(&[n("1"), n("123e-10000000")]), InferredKind::Text);
        // Long plain numbers: the scale's bound is met by its last digit.
        let fraction = |digits: usize| format!("0.{}", "1".repeat(digits));
        assert!(!beyond_numeric(&fraction(16_383)) && beyond_numeric(&fraction(16_384)));
        let integer = |digits: usize| format!("-{}", "9".repeat(digits));
        assert!(!beyond_numeric(&integer(131_072)) && beyond_numeric(&integer(131_073)));
    }

    #[test]
    fn counts_read_like_numbers() {
        assert_eq!(count(1200), "1,200");
        assert_eq!(count(12), "12");
        assert_eq!(count(1_234_567), "1,234,567");
    }
}
