//! Source values as a person reads them in a message.

use crate::source::ValueRef;

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
