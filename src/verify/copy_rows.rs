//! The target's rows, cut from a binary `COPY ... TO STDOUT` stream as its
//! messages arrive. A message usually holds one row, but the protocol does
//! not promise it (the header comes with the first row): a row cut across
//! messages is carried over to the next one.

use crate::error::{Error, Result};
use crate::hash::hash_of;
use crate::verify::layout::Layout;
use crate::verify::row::{Row, push_key_fields};
use crate::verify::session::More;

/// Binary COPY's signature, then flags (4 bytes) and the extension's length (4).
const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";
const HEADER: usize = 19;

pub struct CopyRows<'a> {
    layout: &'a Layout,
    context: &'a str,
    /// The header has been read (and its extension skipped).
    started: bool,
    /// The end-of-data marker has been read.
    ended: bool,
    /// The start of a row (or of the header) whose end is in a later message.
    carry: Vec<u8>,
    /// Where each column's field starts in the row being cut.
    starts: Vec<Option<usize>>,
    /// The last row's key length: room for the next one's.
    key_len: usize,
}

impl<'a> CopyRows<'a> {
    pub fn new(layout: &'a Layout, context: &'a str) -> CopyRows<'a> {
        CopyRows {
            layout,
            context,
            started: false,
            ended: false,
            carry: Vec::new(),
            starts: vec![None; layout.columns.len()],
            key_len: 0,
        }
    }

    /// Cuts the rows one message completes, handing each to `take` until
    /// it wants no more.
    pub fn take(&mut self, message: &[u8], take: &mut dyn FnMut(Row) -> More) -> Result<More> {
        if self.carry.is_empty() {
            let (used, more) = self.cut(message, take)?;
            if more == More::Yes {
                self.carry.extend_from_slice(&message[used..]);
            }
            return Ok(more);
        }
        let mut data = std::mem::take(&mut self.carry);
        data.extend_from_slice(message);
        let (used, more) = self.cut(&data, take)?;
        data.drain(..used);
        self.carry = data;
        Ok(more)
    }

    /// After the last message: the stream must have ended as COPY ends it.
    pub fn finish(&self) -> Result<()> {
        if !self.ended || !self.carry.is_empty() {
            return Err(self.malformed("it ends within a row"));
        }
        Ok(())
    }

    fn malformed(&self, what: &str) -> Error {
        Error::Other(format!("{}: malformed COPY stream ({what})", self.context))
    }

    /// The rows complete in `data`; how many bytes they (and the header)
    /// took, and whether `take` wants more.
    fn cut(&mut self, data: &[u8], take: &mut dyn FnMut(Row) -> More) -> Result<(usize, More)> {
        let mut at = 0;
        if !self.started {
            if data.len() < HEADER {
                return Ok((0, More::Yes));
            }
            if &data[..SIGNATURE.len()] != SIGNATURE {
                return Err(self.malformed("signature"));
            }
            let extension = u32::from_be_bytes([data[15], data[16], data[17], data[18]]);
            let end = usize::try_from(extension)
                .ok()
                .and_then(|n| n.checked_add(HEADER))
                .ok_or_else(|| self.malformed("header"))?;
            if data.len() < end {
                return Ok((0, More::Yes));
            }
            at = end;
            self.started = true;
        }
        while !self.ended {
            let Some(length) = self.row_length(&data[at..])? else {
                break;
            };
            if length == 2 {
                // The end-of-data marker (-1 fields).
                self.ended = true;
                at += 2;
                break;
            }
            let row = self.row(&data[at + 2..at + length]);
            at += length;
            if take(row) == More::No {
                return Ok((at, More::No));
            }
        }
        // Whatever follows the end marker is not data; drop it.
        if self.ended {
            at = data.len();
        }
        Ok((at, More::Yes))
    }

    /// The length of the row at the start of `data` (2 for the end
    /// marker), noting where its fields start; None when it is not all there.
    fn row_length(&mut self, data: &[u8]) -> Result<Option<usize>> {
        let Some(count) = data.get(..2) else {
            return Ok(None);
        };
        let count = i16::from_be_bytes([count[0], count[1]]);
        if count == -1 {
            return Ok(Some(2));
        }
        let count = usize::try_from(count).map_err(|_| self.malformed("field count"))?;
        if count != self.layout.columns.len().max(1) {
            return Err(self.malformed("field count"));
        }
        let mut at = 2;
        for i in 0..count {
            let Some(len) = data.get(at..at + 4) else {
                return Ok(None);
            };
            if let Some(slot) = self.starts.get_mut(i) {
                *slot = Some(at - 2);
            }
            // Fields are kept framed exactly as COPY sends them; a NULL
            // (length -1) has no bytes.
            at += 4 + usize::try_from(i32::from_be_bytes([len[0], len[1], len[2], len[3]])).unwrap_or(0);
            if at > data.len() {
                return Ok(None);
            }
        }
        Ok(Some(at))
    }

    /// One row from its framed fields.
    fn row(&mut self, fields: &[u8]) -> Row {
        let mut row = Row {
            key: Vec::with_capacity(self.key_len),
            fields: if self.layout.columns.is_empty() {
                Vec::new()
            } else {
                fields.to_vec()
            },
            rejected: None,
            content_hash: 0,
        };
        if let Some(key) = &self.layout.key {
            push_key_fields(&mut row, key, &self.starts, self.layout);
            self.key_len = row.key.len();
        }
        if self.layout.key.is_none() {
            row.content_hash = hash_of(&row.fields);
        }
        row
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::types::{Cast, PgType};
    use crate::verify::layout::Column;
    use crate::verify::value::FieldKind;

    fn layout(key: Option<Vec<usize>>) -> Layout {
        let column = |name: &str, kind, pg_type, cast| Column {
            source: name.into(),
            target: name.into(),
            kind,
            pg_type,
            cast,
            not_null: false,
        };
        Layout {
            source_table: "t".into(),
            target_table: "t".into(),
            target_exists: true,
            columns: vec![
                column("id", FieldKind::Int, PgType::BigInt, Cast::Integer { bits: 64 }),
                column("v", FieldKind::Text, PgType::Text, Cast::Text { max_chars: None }),
            ],
            key,
            orderable: true,
            not_compared: Vec::new(),
            row_count: 0,
            selects_rowid: false,
            rowid_key: false,
        }
    }

    /// A binary COPY stream of (id, v) rows, with a header extension.
    fn stream(rows: &[(i64, Option<&str>)]) -> Vec<u8> {
        let mut out = SIGNATURE.to_vec();
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&3u32.to_be_bytes());
        out.extend_from_slice(b"ext");
        for (id, v) in rows {
            out.extend_from_slice(&2i16.to_be_bytes());
            out.extend_from_slice(&8i32.to_be_bytes());
            out.extend_from_slice(&id.to_be_bytes());
            match v {
                Some(v) => {
                    out.extend_from_slice(&i32::try_from(v.len()).unwrap().to_be_bytes());
                    out.extend_from_slice(v.as_bytes());
                }
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        out.extend_from_slice(&(-1i16).to_be_bytes());
        out
    }

    /// A row as (key, fields, content hash).
    type Cut = (Vec<u8>, Vec<u8>, u64);

    /// The rows of `messages`.
    fn cut(layout: &Layout, messages: &[&[u8]]) -> Result<Vec<Cut>> {
        let mut rows = CopyRows::new(layout, "reading target table t");
        let mut out = Vec::new();
        for message in messages {
            rows.take(message, &mut |row| {
                out.push((row.key, row.fields, row.content_hash));
                More::Yes
            })?;
        }
        rows.finish()?;
        Ok(out)
    }

    const ROWS: &[(i64, Option<&str>)] = &[(1, Some("one")), (2, None), (-3, Some("")), (4, Some("four"))];

    #[test]
    fn rows_cut_across_messages_are_the_rows_of_the_whole_stream() {
        for key in [Some(vec![0]), None] {
            let layout = layout(key);
            let data = stream(ROWS);
            let whole = cut(&layout, &[&data]).unwrap();
            assert_eq!(whole.len(), ROWS.len());
            // The second row's fields exactly as framed: int8 2, then NULL.
            assert_eq!(
                whole[1].1,
                [&8i32.to_be_bytes()[..], &2i64.to_be_bytes(), &(-1i32).to_be_bytes()].concat()
            );
            if layout.key.is_some() {
                assert_eq!(whole[0].0, [&[1u8][..], &[0x80, 0, 0, 0, 0, 0, 0, 1]].concat());
            } else {
                assert_ne!(whole[0].2, whole[1].2);
            }
            for at in 0..=data.len() {
                assert_eq!(cut(&layout, &[&data[..at], &data[at..]]).unwrap(), whole, "cut at {at}");
            }
            let bytes: Vec<&[u8]> = data.chunks(1).collect();
            assert_eq!(cut(&layout, &bytes).unwrap(), whole, "one byte a message");
        }
    }

    #[test]
    fn a_stream_that_ends_within_a_row_or_before_its_end_marker_is_malformed() {
        let layout = layout(Some(vec![0]));
        let data = stream(ROWS);
        for at in [5, 25, data.len() - 3, data.len() - 1] {
            let err = cut(&layout, &[&data[..at]]).unwrap_err().to_string();
            assert!(
                err.contains("reading target table t: malformed COPY stream"),
                "{at}: {err}"
            );
        }
    }

    #[test]
    fn a_bad_signature_or_field_count_is_malformed() {
        let layout = layout(Some(vec![0]));
        let mut data = stream(ROWS);
        data[0] = b'X';
        assert!(cut(&layout, &[&data]).unwrap_err().to_string().contains("(signature)"));
        let mut data = stream(ROWS);
        data[22] = 3;
        assert!(
            cut(&layout, &[&data])
                .unwrap_err()
                .to_string()
                .contains("(field count)")
        );
    }

    #[test]
    fn a_consumer_that_wants_no_more_stops_the_cutting() {
        let layout = layout(Some(vec![0]));
        let data = stream(ROWS);
        let mut rows = CopyRows::new(&layout, "t");
        let mut seen = 0;
        let more = rows
            .take(&data, &mut |_| {
                seen += 1;
                if seen == 2 { More::No } else { More::Yes }
            })
            .unwrap();
        assert_eq!((more, seen), (More::No, 2));
    }
}
