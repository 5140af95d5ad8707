//! Names and values from a source, made safe to show on a terminal.
//!
//! A table may be named with a newline, an escape character or a
//! right-to-left override. Printed raw, such a name could forge a line of
//! output, move the cursor, or reverse the text after it (the "Trojan
//! Source" trick). Human output shows these characters escaped instead,
//! as Rust's `{:?}` does; JSON output needs nothing, its encoding escapes
//! them already.

use std::borrow::Cow;

/// A name on one line: every control character (newline included) and
/// every invisible formatting character escaped, e.g. `a\nb`, `x\u{202e}y`.
pub fn name(s: &str) -> Cow<'_, str> {
    escaped(s, |c| needs_escape(c) || c == '\n' || c == '\t')
}

/// A block of human output: the same escapes, but its own newlines and
/// tabs kept as layout.
pub fn text(s: &str) -> Cow<'_, str> {
    escaped(s, needs_escape)
}

fn escaped(s: &str, escape: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(&escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if escape(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Control characters other than newline and tab, and the characters
/// that change how the text around them is laid out while showing nothing
/// themselves: bidirectional embeddings, overrides and isolates, zero-width
/// characters, the byte order mark.
fn needs_escape(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c,
            '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_stays_on_one_line_and_shows_its_hidden_characters() {
        assert_eq!(name("users"), "users");
        assert!(matches!(name("users"), Cow::Borrowed(_)));
        assert_eq!(name("a\nb"), "a\\nb");
        assert_eq!(name("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
        assert_eq!(name("esc\x1b[2J"), "esc\\u{1b}[2J");
        assert_eq!(name("tab\there"), "tab\\there");
        assert_eq!(name("zero\u{200b}width"), "zero\\u{200b}width");
        assert_eq!(name("é ü 漢字"), "é ü 漢字");
    }

    #[test]
    fn text_keeps_its_layout_but_not_hidden_characters() {
        assert_eq!(text("line 1\n\tline 2\n"), "line 1\n\tline 2\n");
        assert_eq!(text("a\rb\u{2066}c\n"), "a\\rb\\u{2066}c\n");
    }
}
