//! Identity and serial sequences after rows arrive from elsewhere.

use postgres::GenericClient;

use crate::error::{Error, Result};
use crate::postgres::conn::qualified;
use crate::postgres::conn::{quote_ident, quote_literal};

/// Moves every identity and serial sequence of a table past its largest
/// value and past `floor` (SQLite's sqlite_sequence for AUTOINCREMENT),
/// never back, so the app's next insert gets an id no row ever had.
pub fn move_past_max(client: &mut impl GenericClient, schema: &str, table: &str, floor: Option<i64>) -> Result<()> {
    let target = qualified(schema, table);
    let rows = client
        .query(
            "SELECT a.attname::text, pg_get_serial_sequence($1, a.attname) FROM pg_attribute a \
             WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped \
               AND pg_get_serial_sequence($1, a.attname) IS NOT NULL",
            &[&target],
        )
        .map_err(|e| Error::pg(format!("finding the sequences of {table}"), &e))?;
    for row in rows {
        let (column, sequence): (String, String) = (row.get(0), row.get(1));
        let sql = format!(
            "SELECT setval({seq}, greatest(\
                 coalesce((SELECT max({col})::bigint FROM {target}), 0), {floor}, \
                 (SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM {sequence})) + 1, false)",
            seq = quote_literal(&sequence),
            col = quote_ident(&column),
            floor = floor.unwrap_or(0),
        );
        client
            .query_one(&sql, &[])
            .map_err(|e| Error::pg(format!("moving sequence {sequence}"), &e))?;
    }
    Ok(())
}
