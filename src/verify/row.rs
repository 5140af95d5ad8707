//! One row as the comparison sees it, from either side: key bytes and
//! framed fields, made the same way from the source's encoded values and
//! from the target's COPY fields.

use crate::verify::layout::Layout;
use crate::verify::value::push_key_field;

/// One row, either side.
#[derive(Debug)]
pub struct Row {
    /// Key bytes ([`crate::verify::value::push_key`]) of the key columns;
    /// empty for keyless tables.
    pub key: Vec<u8>,
    /// Every compared column as a COPY field ([`crate::verify::value::push_field`]).
    pub fields: Vec<u8>,
    /// Source only: why the copy would have rejected this row.
    pub rejected: Option<Box<Rejected>>,
    /// Keyless tables only: the hash of `fields`, computed by the producer.
    pub content_hash: u64,
}

#[derive(Debug)]
pub struct Rejected {
    pub column: usize,
    pub reason: String,
    pub value: String,
    /// The key as the source holds it, for rows whose key itself does not
    /// convert (such rows cannot be in the target at all).
    pub source_key: Option<Vec<serde_json::Value>>,
}

/// Appends the row's key columns, from its encoded fields, to its key:
/// the same on the source and the target side, so keys compare as bytes.
pub fn push_key_fields(row: &mut Row, key: &[usize], starts: &[Option<usize>], layout: &Layout) {
    for &p in key {
        let field = starts[p].and_then(|start| field_of(&row.fields[start..]));
        push_key_field(&mut row.key, layout.columns[p].kind, field);
    }
}

/// The first framed field of `encoded`.
fn field_of(encoded: &[u8]) -> Option<&[u8]> {
    let len = usize::try_from(i32::from_be_bytes([encoded[0], encoded[1], encoded[2], encoded[3]])).ok()?;
    encoded.get(4..4 + len)
}
