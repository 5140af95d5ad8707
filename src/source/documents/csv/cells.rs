//! What a cell's text looks like: the "type" half of the consistency
//! measure (a dialect that cuts the text into cells of recognisable types
//! is likelier the right one) and the evidence for a header row (its cells
//! are names where the cells below are numbers or dates).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    Empty,
    Number,
    Date,
    Bool,
    /// One word (letters, digits, `_-.`), a URL or an e-mail address; or,
    /// when quoted, words separated by single spaces.
    Word,
    /// Anything else: text of no recognisable type.
    Text,
}

impl Cell {
    /// Whether the cell is of a type a header name never is.
    pub fn is_typed(self) -> bool {
        matches!(self, Cell::Number | Cell::Date | Cell::Bool)
    }

    pub fn is_known(self) -> bool {
        self != Cell::Text
    }

    pub fn name(self) -> &'static str {
        match self {
            Cell::Empty => "empty",
            Cell::Number => "numbers",
            Cell::Date => "dates or times",
            Cell::Bool => "booleans",
            Cell::Word => "words",
            Cell::Text => "text",
        }
    }
}

pub fn classify(text: &[u8], quoted: bool) -> Cell {
    if text.is_empty() {
        return Cell::Empty;
    }
    let Ok(s) = std::str::from_utf8(text) else {
        return Cell::Text;
    };
    if is_number(s) {
        Cell::Number
    } else if is_date(s) {
        Cell::Date
    } else if is_bool(s) {
        Cell::Bool
    } else if is_word(s) || (quoted && s.split(' ').all(is_word)) || is_url_or_email(s) {
        Cell::Word
    } else {
        Cell::Text
    }
}

/// `12`, `-3.5`, `1,234.50`, `3,14`, `1e-3`, `$12`, `45%`.
fn is_number(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let s = s.strip_prefix(['$', '€', '£']).unwrap_or(s);
    let s = s.strip_suffix('%').unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    if let Some(e) = exponent {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        if e.is_empty() || !e.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    let m = mantissa.strip_prefix('.').unwrap_or(mantissa);
    !m.is_empty()
        && m.bytes().next().is_some_and(|b| b.is_ascii_digit())
        && m.bytes().last().is_some_and(|b| b.is_ascii_digit())
        && m.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b',')
        && !m.contains("..")
        && !m.contains(",,")
        && !m.contains(".,")
        && !m.contains(",.")
}

/// `2024-01-31`, `31/01/2024`, `12:30`, `2024-01-31T12:30:00Z`, `2024-01-31 12:30:00+02:00`.
fn is_date(s: &str) -> bool {
    let body = s.strip_suffix('Z').unwrap_or(s);
    let body = body
        .strip_suffix(" AM")
        .or_else(|| body.strip_suffix(" PM"))
        .unwrap_or(body);
    let mut groups = 0;
    let mut separators = 0;
    let mut digits = 0;
    for b in body.bytes() {
        match b {
            b'0'..=b'9' => {
                if digits == 0 {
                    groups += 1;
                }
                digits += 1;
                if digits > 4 && separators < 5 {
                    // Fractions of a second are long; other groups are not.
                    return false;
                }
            }
            b'-' | b'/' | b'.' | b':' | b'T' | b' ' | b'+' => {
                if digits == 0 && b != b'T' && b != b' ' && b != b'+' {
                    return false;
                }
                separators += 1;
                digits = 0;
            }
            _ => return false,
        }
    }
    groups >= 2 && separators >= 1 && digits > 0 && (body.contains(['-', '/', ':']) || groups >= 3)
}

fn is_bool(s: &str) -> bool {
    ["true", "false", "yes", "no"].iter().any(|w| s.eq_ignore_ascii_case(w))
}

fn is_word(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn is_url_or_email(s: &str) -> bool {
    !s.contains(char::is_whitespace)
        && (s.contains("://") || s.split_once('@').is_some_and(|(a, b)| !a.is_empty() && b.contains('.')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_recognised() {
        for n in ["12", "-3.5", "1,234.50", "3,14", "1e-3", "$12", "45%", ".5"] {
            assert_eq!(classify(n.as_bytes(), false), Cell::Number, "{n}");
        }
        for d in [
            "2024-01-31",
            "31/01/2024",
            "12:30",
            "2024-01-31T12:30:00Z",
            "2024-01-31 12:30:00.123456+02:00",
        ] {
            assert_eq!(classify(d.as_bytes(), false), Cell::Date, "{d}");
        }
        assert_eq!(classify(b"name", false), Cell::Word);
        assert_eq!(classify(b"New York", false), Cell::Text);
        assert_eq!(classify(b"New York", true), Cell::Word);
        assert_eq!(classify(b" 2", false), Cell::Text);
        assert_eq!(classify(b"a@b.org", false), Cell::Word);
        assert_eq!(classify(b"1,2,", false), Cell::Text);
        assert_eq!(classify(b"", false), Cell::Empty);
    }
}
