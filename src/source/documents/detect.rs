//! What a file holds, from its first bytes rather than its name.

use std::io::Read;
use std::path::Path;

/// A document format godwit reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON value: an array of records, an object of records, or an
    /// object of collections.
    Json,
    /// One JSON value per line.
    JsonLines,
    /// Delimited text with a header row; the delimiter byte.
    Csv(u8),
}

/// What a path is, looked at its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Document(Format),
    Directory,
    Empty,
    /// Binary content that is none of the above, with a short description.
    Binary,
}

const SNIFF: usize = 64 * 1024;

pub fn kind_of(path: &Path) -> std::io::Result<Kind> {
    let meta = std::fs::metadata(path)?;
    if meta.is_dir() {
        return Ok(Kind::Directory);
    }
    let mut head = Vec::with_capacity(SNIFF);
    std::fs::File::open(path)?.take(SNIFF as u64).read_to_end(&mut head)?;
    Ok(kind_of_head(&head))
}

pub fn kind_of_head(head: &[u8]) -> Kind {
    if head.is_empty() {
        return Kind::Empty;
    }
    if head.starts_with(b"SQLite format 3\0") {
        return Kind::Sqlite;
    }
    let text = head.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(head);
    if !looks_textual(text) {
        return Kind::Binary;
    }
    let Some(first) = text.iter().position(|b| !b.is_ascii_whitespace()) else {
        return Kind::Empty;
    };
    match text[first] {
        b'[' | b'{' => Kind::Document(json_or_lines(&text[first..])),
        _ => Kind::Document(Format::Csv(super::csv::detect_delimiter(text))),
    }
}

/// Text with no NUL and few control bytes; invalid UTF-8 is allowed (a
/// value may be rejected for it later), a cut-off sequence at the end too.
fn looks_textual(head: &[u8]) -> bool {
    let controls = head
        .iter()
        .filter(|&&b| b == 0 || (b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t' | 0x0c)))
        .count();
    // Encrypted or compressed bytes are mostly invalid UTF-8.
    let invalid: usize = head.utf8_chunks().map(|c| c.invalid().len()).sum();
    !head.contains(&0) && controls * 100 <= head.len() && invalid * 20 <= head.len()
}

/// JSON Lines when the first value ends on its line and another value
/// starts on a later line; one JSON document otherwise.
fn json_or_lines(text: &[u8]) -> Format {
    let mut reader = super::json::JsonReader::new(text);
    if reader.skip().is_err() {
        // The first value is longer than the sniffed head (one big
        // document), or malformed: the JSON reader will say where.
        return Format::Json;
    }
    let line = reader.position().line;
    match reader.skip_ws() {
        Some(b'{' | b'[') if reader.position().line > line => Format::JsonLines,
        _ => Format::Json,
    }
}

pub fn format_of_prefix(spec: &str) -> Option<(Option<Format>, &str)> {
    if let Some(rest) = spec.strip_prefix("json:") {
        return Some((Some(Format::Json), rest));
    }
    if let Some(rest) = spec.strip_prefix("ndjson:").or_else(|| spec.strip_prefix("jsonl:")) {
        return Some((Some(Format::JsonLines), rest));
    }
    if let Some(rest) = spec.strip_prefix("csv:").or_else(|| spec.strip_prefix("tsv:")) {
        // The delimiter is still detected (a placeholder until then).
        return Some((Some(Format::Csv(0)), rest));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognised_by_content() {
        assert_eq!(kind_of_head(b"SQLite format 3\0xx"), Kind::Sqlite);
        assert_eq!(kind_of_head(b" [ {\"a\":1} ]"), Kind::Document(Format::Json));
        assert_eq!(
            kind_of_head(b"{\"a\":1}\n{\"a\":2}\n"),
            Kind::Document(Format::JsonLines)
        );
        assert_eq!(kind_of_head(b"{\"a\":\n1}\n"), Kind::Document(Format::Json));
        assert_eq!(kind_of_head(b"a;b\n1;2\n"), Kind::Document(Format::Csv(b';')));
        assert_eq!(kind_of_head(b"\x00\x01\x02\x03binary"), Kind::Binary);
        assert_eq!(kind_of_head(b"   \n"), Kind::Empty);
        assert_eq!(kind_of_head(&[0x8d; 64]), Kind::Binary);
        assert_eq!(
            kind_of_head(b"a,b\n\xff,1\n1,2\n3,4\n5,6\n7,8\n9,10\n11,12\n"),
            Kind::Document(Format::Csv(b','))
        );
    }
}
