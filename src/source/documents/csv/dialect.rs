//! A CSV dialect: how a file's text splits into records and fields, what
//! comes before the table, and what its columns are called. Detected by
//! [`super::sniff`], each part overridable in godwit.toml's `[documents.csv]`.

use serde::Deserialize;

/// How a quote character is written inside a quoted field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// Twice (`""`), as RFC 4180 and PostgreSQL write it.
    Doubled,
    /// After a backslash (`\"`); a backslash escapes any byte, itself included.
    Backslash,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialect {
    /// One or more bytes (`,`, tab, space, `, `, `§`...).
    pub delimiter: Vec<u8>,
    /// None: no quoting at all.
    pub quote: Option<u8>,
    pub escape: Escape,
    /// Lines starting with this byte are comments, not records.
    pub comment: Option<u8>,
    /// Lines before the table (a preamble), skipped as they are.
    pub skip_lines: u64,
    /// Whether the first record names the columns.
    pub header: bool,
    /// The columns: from the header, or `column1`..`columnN` without one.
    pub columns: Vec<String>,
    /// Why the header could not be read as it stands, when it is damaged;
    /// the header is then one rejected record with this reason.
    pub header_problem: Option<String>,
    /// What was detected and why, for `plan`.
    pub evidence: Vec<String>,
    /// The single-byte encoding godwit.toml names; None: UTF-8.
    pub encoding: Option<&'static encoding_rs::Encoding>,
}

impl Default for Dialect {
    fn default() -> Self {
        Dialect {
            delimiter: b",".to_vec(),
            quote: Some(b'"'),
            escape: Escape::Doubled,
            comment: None,
            skip_lines: 0,
            header: true,
            columns: Vec::new(),
            header_problem: None,
            evidence: Vec::new(),
            encoding: None,
        }
    }
}

impl Dialect {
    /// `delimiter ",", quote '"' (doubled), header` and so on, for `plan`.
    pub fn summary(&self) -> String {
        let mut out = format!("delimiter {}", shown_bytes(&self.delimiter));
        match self.quote {
            None => out.push_str(", no quoting"),
            Some(q) => {
                let escape = match self.escape {
                    Escape::Doubled => "doubled",
                    Escape::Backslash => "backslash",
                };
                out.push_str(&format!(", quote {} (escaped {escape})", shown_bytes(&[q])));
            }
        }
        if let Some(c) = self.comment {
            out.push_str(&format!(", comment lines start with {}", shown_bytes(&[c])));
        }
        if self.skip_lines > 0 {
            out.push_str(&format!(", {} preamble line(s) skipped", self.skip_lines));
        }
        out.push_str(if self.header { ", header row" } else { ", no header row" });
        if let Some(encoding) = self.encoding {
            out.push_str(&format!(", {} text", encoding.name()));
        }
        out
    }

    /// A field's text: UTF-8 as it stands, or decoded from the encoding
    /// godwit.toml names (every byte of a single-byte encoding is a
    /// character, so that never fails).
    pub fn text<'b>(&self, bytes: &'b [u8]) -> Result<std::borrow::Cow<'b, str>, std::str::Utf8Error> {
        match self.encoding {
            Some(encoding) => Ok(encoding.decode_without_bom_handling(bytes).0),
            None => std::str::from_utf8(bytes).map(std::borrow::Cow::Borrowed),
        }
    }
}

/// Text of delimiter or quote bytes for messages: `","`, `"\t"`, `" "`.
pub fn shown_bytes(bytes: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(bytes))
}

/// godwit.toml's `[documents.csv]`: each part of the dialect fixed rather
/// than detected. Applies to every CSV file of the source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvOptions {
    /// One or more characters; `"\t"` for tab.
    pub delimiter: Option<String>,
    /// `"\""`, `"'"`, or `""` for no quoting.
    pub quote: Option<String>,
    /// `"doubled"` or `"backslash"`.
    pub escape: Option<String>,
    /// Whether the first row (after any skipped lines) is a header.
    pub header: Option<bool>,
    /// Lines to skip before the table.
    pub skip_lines: Option<u64>,
    /// A character starting comment lines; `""` for none.
    pub comment: Option<String>,
    /// The text encoding when not UTF-8: a single-byte one such as
    /// `"windows-1252"` (Excel's CSV on Windows) or `"iso-8859-15"`.
    pub encoding: Option<String>,
}

impl CsvOptions {
    /// The overrides as dialect parts, or why one is not usable.
    pub fn parts(&self) -> Result<Overrides, String> {
        let delimiter = match &self.delimiter {
            Some(d) if d.is_empty() => return Err("documents.csv.delimiter is empty".into()),
            Some(d) if d.contains(['\n', '\r']) => {
                return Err("documents.csv.delimiter holds a line end".into());
            }
            Some(d) => Some(d.as_bytes().to_vec()),
            None => None,
        };
        let one_byte = |name: &str, v: &Option<String>| -> Result<Option<Option<u8>>, String> {
            match v.as_deref() {
                None => Ok(None),
                Some("") => Ok(Some(None)),
                Some(s) if s.len() == 1 => Ok(Some(Some(s.as_bytes()[0]))),
                Some(s) => Err(format!(
                    "documents.csv.{name} must be one ASCII character or \"\", not {s:?}"
                )),
            }
        };
        let quote = one_byte("quote", &self.quote)?;
        let comment = one_byte("comment", &self.comment)?;
        let escape = match self.escape.as_deref() {
            None => None,
            Some("doubled") => Some(Escape::Doubled),
            Some("backslash") => Some(Escape::Backslash),
            Some(other) => {
                return Err(format!(
                    "documents.csv.escape is \"doubled\" or \"backslash\", not {other:?}"
                ));
            }
        };
        let encoding = match self.encoding.as_deref() {
            None => None,
            Some(label) => match encoding_rs::Encoding::for_label(label.trim().as_bytes()) {
                None => {
                    return Err(format!(
                        "documents.csv.encoding {label:?} names no encoding (e.g. \"windows-1252\", \"iso-8859-15\", \"utf-8\")"
                    ));
                }
                Some(encoding) if encoding == encoding_rs::UTF_8 => None,
                Some(encoding) if encoding.is_single_byte() => Some(encoding),
                Some(encoding) => {
                    return Err(format!(
                        "documents.csv.encoding {label:?}: godwit reads UTF-8 and single-byte encodings \
                         (windows-1252, iso-8859-x, koi8-r...); convert {} text to UTF-8 first, e.g. with iconv",
                        encoding.name()
                    ));
                }
            },
        };
        Ok(Overrides {
            delimiter,
            quote,
            escape,
            header: self.header,
            skip_lines: self.skip_lines,
            comment,
            encoding,
        })
    }
}

/// The parts of a dialect fixed by configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub delimiter: Option<Vec<u8>>,
    pub quote: Option<Option<u8>>,
    pub escape: Option<Escape>,
    pub header: Option<bool>,
    pub skip_lines: Option<u64>,
    pub comment: Option<Option<u8>>,
    pub encoding: Option<&'static encoding_rs::Encoding>,
}
