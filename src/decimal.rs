//! Exact decimals as text: `[+-]digits[.digits][e[+-]digits]` read as
//! digits and a scale, and the text of a binary numeric field. A leaf
//! (std only), shared by the encoder and plan's default literals.

/// A decimal as digits and a scale: value = digits × 10^-scale.
#[derive(Debug, PartialEq)]
pub struct Decimal<'a> {
    pub negative: bool,
    /// ASCII digits, no sign; may have leading zeros.
    pub digits: &'a [u8],
    pub scale: i64,
}

/// `-12.5e3` and the like: a number written in digits, never `inf` or `NaN`.
pub fn is_decimal_text(t: &[u8]) -> bool {
    t.iter().any(u8::is_ascii_digit)
        && t.iter()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
}

/// Parses `[+-]digits[.digits][e[+-]digits]` into sign and scale,
/// rewriting `text` to hold only the digits (untouched on failure).
pub fn parse_decimal(text: &mut String) -> Option<(bool, i64)> {
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
