//! What a file holds. A name that says (`.json`, `.ndjson`/`.jsonl`,
//! `.csv`/`.tsv`, or a `json:`/`ndjson:`/`csv:` prefix) decides the
//! format; the first bytes decide only for other names, and when they
//! contradict the name, both are said.

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
    /// Binary content that is none of the above: where its first byte
    /// that is not text is.
    Binary(NotText),
    /// Text in a two- or four-byte encoding (Excel's "Unicode text" is
    /// UTF-16LE), which godwit does not read: read as UTF-8 it is NULs
    /// between letters.
    Wide(Wide),
    /// A compressed file (gzip, zstd, bzip2, xz, zip): godwit reads what it
    /// holds once decompressed, not the archive.
    Compressed(Compressed),
}

/// A compression format, by its magic bytes, and the command that undoes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compressed {
    pub format: &'static str,
    pub magic: &'static str,
    /// Decompresses the file named after it to stdout; for zip, which
    /// holds files, extracts them.
    pub command: &'static str,
    /// The name ending this format's files carry.
    pub extension: &'static str,
}

/// A text encoding of two or four bytes per unit, and how it was told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wide {
    /// As iconv names it.
    pub encoding: &'static str,
    pub evidence: &'static str,
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
    if let Some(compressed) = compressed(head) {
        return Kind::Compressed(compressed);
    }
    if let Some(wide) = wide_text(head) {
        return Kind::Wide(wide);
    }
    let text = head.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(head);
    if !looks_textual(text) {
        return Kind::Binary(first_non_text(head));
    }
    let Some(first) = text.iter().position(|b| !b.is_ascii_whitespace()) else {
        return Kind::Empty;
    };
    match text[first] {
        b'[' | b'{' => Kind::Document(json_or_lines(&text[first..])),
        // A whole file that is one JSON scalar (`42`, `"text"`).
        b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n' if head.len() < SNIFF && super::check_json(text).is_ok() => {
            Kind::Document(Format::Json)
        }
        _ => Kind::Document(Format::Csv(super::csv::detect_delimiter(text))),
    }
}

/// A compressed file, by the magic bytes its format starts with.
fn compressed(head: &[u8]) -> Option<Compressed> {
    const FORMATS: [(&[u8], &str, &str, &str, &str); 4] = [
        (&[0x1F, 0x8B], "gzip", "1F 8B", "gzip -dc", "gz"),
        (&[0x28, 0xB5, 0x2F, 0xFD], "zstd", "28 B5 2F FD", "zstd -dc", "zst"),
        (
            &[0xFD, b'7', b'z', b'X', b'Z', 0],
            "xz",
            "FD 37 7A 58 5A 00",
            "xz -dc",
            "xz",
        ),
        (b"PK\x03\x04", "zip", "PK 03 04", "unzip", "zip"),
    ];
    if let Some(&(_, format, magic, command, extension)) = FORMATS.iter().find(|(magic, ..)| head.starts_with(magic)) {
        return Some(Compressed {
            format,
            magic,
            command,
            extension,
        });
    }
    // bzip2's "BZh" could start a line of text: with the block size digit
    // and the first block's (or the empty stream's end) magic after it.
    let block = head.get(4..10);
    let bzip2 = head.starts_with(b"BZh")
        && head.get(3).is_some_and(|d| (b'1'..=b'9').contains(d))
        && (block == Some(&[0x31, 0x41, 0x59, 0x26, 0x53, 0x59][..])
            || block == Some(&[0x17, 0x72, 0x45, 0x38, 0x50, 0x90][..]));
    bzip2.then_some(Compressed {
        format: "bzip2",
        magic: "BZh",
        command: "bzip2 -dc",
        extension: "bz2",
    })
}

/// UTF-32 or UTF-16 text: by its byte order mark, else by NULs in every
/// other byte (the high byte of ASCII letters) and almost none between.
fn wide_text(head: &[u8]) -> Option<Wide> {
    const BOMS: [(&[u8], &str, &str); 4] = [
        (
            &[0xFF, 0xFE, 0, 0],
            "UTF-32LE",
            "it starts with the byte order mark FF FE 00 00",
        ),
        (
            &[0, 0, 0xFE, 0xFF],
            "UTF-32BE",
            "it starts with the byte order mark 00 00 FE FF",
        ),
        (&[0xFF, 0xFE], "UTF-16LE", "it starts with the byte order mark FF FE"),
        (&[0xFE, 0xFF], "UTF-16BE", "it starts with the byte order mark FE FF"),
    ];
    if let Some((_, encoding, evidence)) = BOMS.iter().find(|(bom, _, _)| head.starts_with(bom)) {
        return Some(Wide { encoding, evidence });
    }
    // Too few bytes say nothing by their zeros.
    let pairs = head.len() / 2;
    if pairs < 8 {
        return None;
    }
    let zeros_at = |parity: usize| head.iter().skip(parity).step_by(2).filter(|&&b| b == 0).count();
    let (even, odd) = (zeros_at(0), zeros_at(1));
    let encoding = if odd * 10 >= pairs * 3 && even * 50 <= pairs {
        "UTF-16LE"
    } else if even * 10 >= pairs * 3 && odd * 50 <= pairs {
        "UTF-16BE"
    } else {
        return None;
    };
    Some(Wide {
        encoding,
        evidence: "every other byte is 0",
    })
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

/// Where a file's first byte that is not text is, for messages (`byte
/// 0x00 (a NUL) at line 3, column 5, byte 27`), and whether the file may
/// be text in a single-byte encoding (Windows-1252, Latin-1): a byte that
/// is not UTF-8 and no NUL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotText {
    pub at: String,
    pub maybe_single_byte: bool,
}

impl std::fmt::Display for NotText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.at)
    }
}

/// Where the first byte that is not text is, for messages.
pub fn first_non_text(head: &[u8]) -> NotText {
    let not_text = |at: String, what: &str| NotText {
        maybe_single_byte: what == "not valid UTF-8" && !head.contains(&0),
        at,
    };
    let start = if head.starts_with(&[0xEF, 0xBB, 0xBF]) { 3 } else { 0 };
    let mut line = 1u64;
    let mut line_start = 0usize;
    let mut i = start;
    while i < head.len() {
        let b = head[i];
        let what = match b {
            0 => Some("a NUL"),
            b'\n' => {
                line += 1;
                line_start = i + 1;
                None
            }
            b'\r' | b'\t' | 0x0c => None,
            b if b < 0x20 || b == 0x7f => Some("a control character"),
            b if b >= 0x80 => match head[i..].utf8_chunks().next() {
                Some(chunk)
                    if chunk.valid().is_empty()
                        && !chunk.invalid().is_empty()
                        && i + chunk.invalid().len() < head.len() =>
                {
                    Some("not valid UTF-8")
                }
                Some(chunk) => {
                    i += chunk.valid().len().max(1);
                    continue;
                }
                None => None,
            },
            _ => None,
        };
        if let Some(what) = what {
            let at = format!(
                "byte 0x{b:02x} ({what}) at line {line}, column {}, byte {i}",
                i - line_start + 1
            );
            return not_text(at, what);
        }
        i += 1;
    }
    not_text("mostly bytes that are not text".into(), "")
}

/// Why a UTF-16 or UTF-32 file, or a compressed one, is not read, and the
/// command that makes it readable; None for what godwit reads or refuses
/// otherwise (iconv turns a byte order mark into the
/// UTF-8 one godwit skips).
pub fn unreadable(path: &Path, kind: &Kind) -> Option<String> {
    Some(match kind {
        Kind::Wide(wide) => {
            let stem = path.file_stem().map_or("source".into(), |s| s.to_string_lossy());
            let extension = path.extension().map_or("txt".into(), |e| e.to_string_lossy());
            let utf8 = path.with_file_name(format!("{stem}-utf8.{extension}"));
            format!(
                "is {} text ({}), and godwit reads UTF-8: convert it first, e.g. `iconv -f {} -t UTF-8 {} > {}`",
                wide.encoding,
                wide.evidence,
                wide.encoding,
                path.display(),
                utf8.display()
            )
        }
        Kind::Compressed(c) => {
            let extension = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase());
            let what = format!("is {}-compressed (it starts with {})", c.format, c.magic);
            if c.format == "zip" && matches!(extension.as_deref(), Some("xlsx" | "xlsm" | "ods")) {
                return Some(format!(
                    "{what}: a spreadsheet workbook, which godwit does not read; save each sheet as CSV (UTF-8) and copy those"
                ));
            }
            if c.format == "zip" {
                return Some(format!(
                    "{what}, and godwit reads the files it holds: extract them first, e.g. `unzip {}`, and name those",
                    path.display()
                ));
            }
            // events.ndjson.gz gives events.ndjson; another name keeps its own.
            let plain = match extension.as_deref() {
                Some(e) if e == c.extension => path.with_extension(""),
                Some(e) => path.with_file_name(format!(
                    "{}-decompressed.{e}",
                    path.file_stem().map_or("source".into(), |n| n.to_string_lossy())
                )),
                None => path.with_file_name(format!(
                    "{}-decompressed",
                    path.file_name().map_or("source".into(), |n| n.to_string_lossy())
                )),
            };
            format!(
                "{what}, and godwit reads the text it holds: decompress it first, e.g. `{} {} > {}`, and name that",
                c.command,
                path.display(),
                plain.display()
            )
        }
        _ => return None,
    })
}

/// The format a file's name fixes, if it names one.
pub fn format_of_name(path: &Path) -> Option<Format> {
    let ext = path.extension()?.to_string_lossy().to_ascii_lowercase();
    match ext.as_str() {
        "json" => Some(Format::Json),
        "ndjson" | "jsonl" => Some(Format::JsonLines),
        // The delimiter is still detected (a placeholder until then).
        "csv" | "tsv" => Some(Format::Csv(0)),
        _ => None,
    }
}

fn family(format: Format) -> &'static str {
    match format {
        Format::Json | Format::JsonLines => "JSON",
        Format::Csv(_) => "CSV",
    }
}

fn described(kind: &Kind) -> String {
    match kind {
        Kind::Sqlite => "a SQLite database".into(),
        Kind::Document(Format::Json) => "JSON".into(),
        Kind::Document(Format::JsonLines) => "JSON Lines".into(),
        Kind::Document(Format::Csv(_)) => "CSV".into(),
        Kind::Directory => "a directory".into(),
        Kind::Empty => "empty".into(),
        Kind::Binary(at) => format!("not text ({at})"),
        Kind::Wide(wide) => format!("{} text", wide.encoding),
        Kind::Compressed(c) => format!("{}-compressed data", c.format),
    }
}

/// When the content looks like another format than the name (or prefix)
/// says: both, for messages. The name still decides.
pub fn contradiction(named: Format, how: &str, content: &Kind) -> Option<String> {
    let agrees = match content {
        Kind::Document(found) => family(*found) == family(named),
        Kind::Empty | Kind::Directory => true,
        Kind::Sqlite | Kind::Binary(_) | Kind::Wide(_) | Kind::Compressed(_) => false,
    };
    if agrees {
        return None;
    }
    Some(format!(
        "{how} says {}, but the content looks like {}",
        match named {
            Format::Json => "JSON",
            Format::JsonLines => "JSON Lines",
            Format::Csv(_) => "CSV",
        },
        described(content)
    ))
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
    fn utf16_and_utf32_text_is_told_by_its_mark_or_its_zeros() {
        let utf16le: Vec<u8> = "id\tname\r\n1\tJosé\r\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let utf16be: Vec<u8> = "id,name\n1,Zoë\n".encode_utf16().flat_map(u16::to_be_bytes).collect();
        let encoding = |head: &[u8]| match kind_of_head(head) {
            Kind::Wide(w) => Some((w.encoding, w.evidence.contains("mark"))),
            _ => None,
        };
        assert_eq!(encoding(&utf16le), Some(("UTF-16LE", false)));
        assert_eq!(encoding(&utf16be), Some(("UTF-16BE", false)));
        assert_eq!(
            encoding(&[&[0xFF, 0xFE][..], &utf16le].concat()),
            Some(("UTF-16LE", true))
        );
        assert_eq!(
            encoding(&[&[0xFE, 0xFF][..], &utf16be].concat()),
            Some(("UTF-16BE", true))
        );
        assert_eq!(encoding(&[0xFF, 0xFE, 0, 0, b'{', 0, 0, 0]), Some(("UTF-32LE", true)));
        // UTF-8 with a NUL here and there is not wide text.
        assert_eq!(encoding(b"id,name\n1,a\0b\n2,c\n"), None);
        assert_eq!(encoding("{\"a\": \"é\"}".as_bytes()), None);
    }

    #[test]
    fn compressed_files_are_told_by_their_magic_bytes() {
        let format = |head: &[u8]| match kind_of_head(head) {
            Kind::Compressed(c) => Some(c.format),
            _ => None,
        };
        assert_eq!(format(&[0x1F, 0x8B, 8, 0, 0, 0]), Some("gzip"));
        assert_eq!(format(&[0x28, 0xB5, 0x2F, 0xFD, 0]), Some("zstd"));
        assert_eq!(format(b"BZh91AY&SY\x01"), Some("bzip2"));
        assert_eq!(format(&[0xFD, b'7', b'z', b'X', b'Z', 0, 0]), Some("xz"));
        assert_eq!(format(b"PK\x03\x04\x14\0"), Some("zip"));
        assert_eq!(format(b"BZh is a word\n"), None, "text may start so");
        assert_eq!(format(b"id,name\n1,a\n"), None);
    }

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
        assert_eq!(
            kind_of_head(b"\x00\x01\x02\x03binary"),
            Kind::Binary(NotText {
                at: "byte 0x00 (a NUL) at line 1, column 1, byte 0".into(),
                maybe_single_byte: false,
            })
        );
        assert_eq!(kind_of_head(b"   \n"), Kind::Empty);
        assert!(matches!(kind_of_head(&[0x8d; 64]), Kind::Binary(_)));
        assert_eq!(
            kind_of_head(b"a,b\n\xff,1\n1,2\n3,4\n5,6\n7,8\n9,10\n11,12\n"),
            Kind::Document(Format::Csv(b','))
        );
    }
}
