//! PostgreSQL's binary COPY format and nothing else: the header and trailer
//! of the stream, a tuple's field count, and each field framed as its
//! big-endian length and bytes (-1 for NULL). What goes into a field is
//! encode.rs's business.

/// The 11-byte signature, flags and header-extension length.
pub const COPY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The end of the stream: a field count of -1.
pub const COPY_TRAILER: &[u8] = &[0xff, 0xff];

/// Writes one tuple's field count.
#[inline]
pub fn begin_row(buf: &mut Vec<u8>, fields: usize) {
    buf.extend_from_slice(&i16::try_from(fields).unwrap_or(i16::MAX).to_be_bytes());
}

/// A NULL field: length -1, no bytes.
#[inline]
pub fn put_null(buf: &mut Vec<u8>) {
    buf.extend_from_slice(&(-1i32).to_be_bytes());
}

#[inline]
/// A field too large for PostgreSQL (1 GB) is refused with the reason.
#[allow(clippy::doc_markdown)]
pub fn put_bytes(buf: &mut Vec<u8>, bytes: &[u8]) -> Result<(), String> {
    let len = i32::try_from(bytes.len()).map_err(|_| "value larger than PostgreSQL's 1 GB field limit".to_string())?;
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(bytes);
    Ok(())
}

/// A fixed-width field (an int8, a uuid, ...).
#[inline]
pub fn put_fixed<const N: usize>(buf: &mut Vec<u8>, bytes: [u8; N]) {
    buf.extend_from_slice(&i32::try_from(N).unwrap_or(i32::MAX).to_be_bytes());
    buf.extend_from_slice(&bytes);
}
