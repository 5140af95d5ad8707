//! SQL literals for column defaults, produced by the same cast as the
//! column's data so that the two always agree.

use crate::calendar::{PG_EPOCH_OFFSET_DAYS, civil_from_days, format_timestamp};
use crate::decimal::numeric_text;
use crate::plan::types::{Cast, PgType};
use crate::postgres::encode::{Reject, Scratch, array_items, encode_value};
use crate::source::ValueRef;

/// A SQL literal for a default value, produced by the same cast as the
/// column's data so that the two always agree.
pub fn literal_for(literal: &crate::plan::translate::Literal, pg_type: &PgType, cast: &Cast) -> Result<String, Reject> {
    use crate::plan::translate::Literal;
    use crate::postgres::conn::quote_literal;
    let value = match literal {
        Literal::Null => return Ok("NULL".into()),
        Literal::Integer(i) => ValueRef::Integer(*i),
        Literal::Real(f) => ValueRef::Real(*f),
        Literal::Text(t) => ValueRef::Text(t.as_bytes()),
        Literal::Blob(b) => ValueRef::Blob(b),
    };
    let mut buf = Vec::new();
    encode_value(&mut buf, value, cast, &mut Scratch::default())?;
    let field = &buf[4..];
    let typed = |text: String| format!("{}::{}", quote_literal(&text), pg_type.sql());
    Ok(match cast {
        Cast::Boolean => if field[0] == 1 { "true" } else { "false" }.into(),
        Cast::Integer { .. } | Cast::Float { .. } => match value {
            ValueRef::Integer(i) => i.to_string(),
            ValueRef::Real(f) => format!("{f:?}"),
            ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
            _ => return Err("not a number".into()),
        },
        Cast::Numeric { .. } => typed(numeric_text(field)),
        Cast::Text { .. } | Cast::TextLike | Cast::Enum { .. } => quote_literal(&String::from_utf8_lossy(field)),
        Cast::Json { binary } => typed(String::from_utf8_lossy(if *binary { &field[1..] } else { field }).into_owned()),
        Cast::Bytea => format!(
            "'\\x{}'::bytea",
            field.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ),
        Cast::Timestamp { .. } => {
            let us = i64::from_be_bytes(field.try_into().map_err(|_| "bad timestamp".to_string())?);
            typed(format_timestamp(us))
        }
        Cast::Date { .. } => {
            let days = i32::from_be_bytes(field.try_into().map_err(|_| "bad date".to_string())?);
            let (y, m, d) = civil_from_days(i64::from(days) + PG_EPOCH_OFFSET_DAYS);
            typed(format!("{y:04}-{m:02}-{d:02}"))
        }
        Cast::Uuid | Cast::UuidFromInt { .. } => {
            typed(uuid::Uuid::from_slice(field).map_err(|e| e.to_string())?.to_string())
        }
        Cast::SplitArray { .. } | Cast::JsonArray { .. } => {
            let ValueRef::Text(t) = value else {
                return Err("no literal form".into());
            };
            let items = array_items(&String::from_utf8_lossy(t), cast)?;
            let items: Vec<String> = items
                .iter()
                .map(|i| i.as_deref().map_or("NULL".to_string(), quote_literal))
                .collect();
            if items.is_empty() {
                format!("'{{}}'::{}", pg_type.sql())
            } else {
                format!("ARRAY[{}]::{}", items.join(", "), pg_type.sql())
            }
        }
        Cast::Time | Cast::Inet { .. } => match value {
            ValueRef::Text(t) => typed(String::from_utf8_lossy(t).into_owned()),
            _ => return Err("no literal form".into()),
        },
    })
}
