//! What `copy` records in the target about the SQLite file it came from, so
//! that the way back (`copy postgresql://... --to sqlite:PATH`) gives the app
//! its own schema and values again: the original CREATE statements, and per
//! column how a PostgreSQL value becomes the SQLite value it was (storage
//! class, epoch unit, boolean spelling, timestamp text format).
//!
//! Stored in `godwit.sqlite_origin`, one row per copied table, written in
//! the copy's publishing transaction so the record and the tables appear
//! together.

use postgres::GenericClient;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::postgres::bookkeeping;

/// The schema where godwit keeps its own bookkeeping in a target.
pub use crate::postgres::bookkeeping::SCHEMA as GODWIT_SCHEMA;

/// One SQLite table as the copy found it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableOrigin {
    /// The SQLite table name.
    pub name: String,
    /// The PostgreSQL table it was copied into.
    pub target: String,
    /// Its place in sqlite_master, so tables are created in the app's order.
    pub position: i64,
    /// The original CREATE TABLE statement.
    pub sql: String,
    /// Indexes and triggers on the table, in sqlite_master order.
    pub objects: Vec<ObjectSql>,
    pub columns: Vec<ColumnOrigin>,
    /// The table's sqlite_sequence value (AUTOINCREMENT tables).
    pub sequence: Option<i64>,
    /// The integer primary key (rowid alias) column, for sqlite_sequence.
    pub rowid_alias: Option<String>,
    /// File-level settings the app may depend on.
    pub file: FileSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObjectSql {
    /// `index`, `trigger` or `view`.
    pub kind: String,
    pub name: String,
    pub sql: String,
}

pub use crate::source::native::FileSettings;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ColumnOrigin {
    pub name: String,
    /// The PostgreSQL column; None when the value was not copied
    /// (generated, or skipped by config).
    pub target: Option<String>,
    pub restore: Restore,
    /// Storage classes seen at copy time, where godwit looked.
    #[serde(default)]
    pub classes: Vec<String>,
}

/// How a PostgreSQL value becomes the SQLite value the column held.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Restore {
    Integer,
    Real,
    Text,
    Blob,
    /// A decimal written as text: the column's NUMERIC affinity stores it
    /// as the integer, real or text it was, as it did for the app.
    DecimalText,
    /// An untyped column of integers and reals: whole values as integers.
    Number,
    /// 0/1 integers, or the text spellings the app used.
    Boolean {
        spelling: Option<(String, String)>,
    },
    /// Epoch numbers.
    Epoch {
        unit: Unit,
        real: bool,
    },
    /// Date/time text in the formats seen, most frequent first.
    TimeText {
        formats: Vec<TimeFormat>,
    },
    Uuid {
        blob: bool,
        upper: bool,
        hyphens: bool,
    },
    /// An array that was `a,b,c` text.
    Split {
        separator: String,
    },
    /// JSON text (also arrays that were JSON arrays).
    JsonText,
    /// The copy changed the values in a way that cannot be undone: they
    /// come back by the generic mapping, and the reverse copy says why.
    Lost {
        why: String,
    },
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Unit {
    Seconds,
    Milliseconds,
    JulianDay,
}

/// The shape of a date/time text: `2024-01-02 03:04:05.123Z` is
/// date + time, separator ' ', seconds, 3 fraction digits, suffix "Z".
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub struct TimeFormat {
    pub date: bool,
    pub time: bool,
    /// Between date and time: ' ' or 'T'.
    pub separator: char,
    pub seconds: bool,
    pub fraction_digits: u8,
    /// As written: "", "Z", "+02:00", "+0200"...
    pub suffix: String,
}

impl TimeFormat {
    /// The shape of an ISO-8601 text, or None when it has none godwit reads.
    pub fn of(text: &str) -> Option<TimeFormat> {
        let b = text.as_bytes();
        let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
        let mut i = 0;
        let date = b.len() >= 10 && digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10);
        let mut separator = ' ';
        if date {
            i = 10;
            if i == b.len() {
                return Some(TimeFormat {
                    date: true,
                    time: false,
                    separator,
                    seconds: false,
                    fraction_digits: 0,
                    suffix: String::new(),
                });
            }
            separator = match b[i] {
                b' ' => ' ',
                b'T' => 'T',
                b't' => 't',
                _ => return None,
            };
            i += 1;
        }
        if !(digits(i..i + 2) && b.get(i + 2) == Some(&b':') && digits(i + 3..i + 5)) {
            return None;
        }
        i += 5;
        let seconds = b.get(i) == Some(&b':') && digits(i + 1..i + 3);
        let mut fraction_digits = 0u8;
        if seconds {
            i += 3;
            if b.get(i) == Some(&b'.') {
                i += 1;
                while b.get(i).is_some_and(u8::is_ascii_digit) {
                    fraction_digits = fraction_digits.saturating_add(1);
                    i += 1;
                }
            }
        }
        let suffix = &text[i..];
        if !(suffix.is_empty() || suffix.eq_ignore_ascii_case("z") || offset_minutes(suffix).is_some()) {
            return None;
        }
        Some(TimeFormat {
            date,
            time: true,
            separator,
            seconds,
            fraction_digits,
            suffix: suffix.to_string(),
        })
    }

    /// Writes microseconds since the Unix epoch (UTC) in this shape.
    pub fn write(&self, unix_us: i64) -> String {
        let local = unix_us + offset_minutes(&self.suffix).unwrap_or(0) * 60_000_000;
        let days = local.div_euclid(US_PER_DAY);
        let of_day = local.rem_euclid(US_PER_DAY);
        let mut out = String::new();
        if self.date {
            let (y, m, d) = crate::calendar::civil_from_days(days);
            out.push_str(&format!("{y:04}-{m:02}-{d:02}"));
            if self.time {
                out.push(self.separator);
            }
        }
        if self.time {
            out.push_str(&time_of_day(of_day, self.seconds, self.fraction_digits));
            out.push_str(&self.suffix);
        }
        out
    }

    /// Whether the shape holds this instant without losing digits.
    pub fn exact_for(&self, unix_us: i64) -> bool {
        let of_day = unix_us.rem_euclid(US_PER_DAY);
        let kept_us = if !self.time {
            US_PER_DAY
        } else if !self.seconds {
            60_000_000
        } else {
            10i64.pow(6u32.saturating_sub(u32::from(self.fraction_digits.min(6))))
        };
        of_day % kept_us == 0
    }

    /// Same shape but for the fraction digits.
    fn same_but_fraction(&self, other: &TimeFormat) -> bool {
        self.date == other.date
            && self.time == other.time
            && self.separator == other.separator
            && self.seconds == other.seconds
            && self.suffix == other.suffix
    }
}

pub const US_PER_DAY: i64 = 86_400_000_000;

fn time_of_day(of_day_us: i64, seconds: bool, fraction_digits: u8) -> String {
    let secs = of_day_us / 1_000_000;
    let micros = of_day_us % 1_000_000;
    let mut out = format!("{:02}:{:02}", secs / 3600, (secs / 60) % 60);
    if seconds {
        out.push_str(&format!(":{:02}", secs % 60));
        if fraction_digits > 0 {
            let six = format!("{micros:06}");
            let n = usize::from(fraction_digits);
            out.push('.');
            if n <= 6 {
                out.push_str(&six[..n]);
            } else {
                out.push_str(&six);
                out.push_str(&"0".repeat(n - 6));
            }
        }
    }
    out
}

/// Minutes east of UTC for `+HH:MM`, `+HHMM`, `+HH`, `Z`.
fn offset_minutes(suffix: &str) -> Option<i64> {
    if suffix.is_empty() || suffix.eq_ignore_ascii_case("z") {
        return Some(0);
    }
    let sign = match suffix.as_bytes()[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let rest: String = suffix[1..].chars().filter(|c| *c != ':').collect();
    if !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m) = match rest.len() {
        2 => (rest.parse::<i64>().ok()?, 0),
        4 => (rest[..2].parse::<i64>().ok()?, rest[2..].parse::<i64>().ok()?),
        _ => return None,
    };
    Some(sign * (h * 60 + m))
}

/// Picks the format for one value among those a column used: the most
/// frequent shape, with the fewest fraction digits that keep the value
/// (apps that print fractions only when non-zero, like Python's isoformat).
pub fn choose_format(formats: &[TimeFormat], unix_us: i64) -> Option<&TimeFormat> {
    let primary = formats.first()?;
    let mut candidates: Vec<&TimeFormat> = formats.iter().filter(|f| f.same_but_fraction(primary)).collect();
    candidates.sort_by_key(|f| f.fraction_digits);
    candidates
        .iter()
        .find(|f| f.exact_for(unix_us))
        .or(candidates.last())
        .copied()
}

/// Creates the bookkeeping table if needed.
pub fn ensure_table(client: &mut impl GenericClient) -> Result<()> {
    bookkeeping::ensure(client, &[&bookkeeping::SQLITE_ORIGIN], "creating godwit.sqlite_origin")
}

/// Records the tables of one copy, replacing earlier records of the same
/// tables in the same target schema.
pub fn write(client: &mut impl GenericClient, schema: &str, source: &str, tables: &[TableOrigin]) -> Result<()> {
    ensure_table(client)?;
    for table in tables {
        let json = serde_json::to_string(table).map_err(|e| Error::Other(format!("recording the origin: {e}")))?;
        client
            .execute(
                &format!(
                    "INSERT INTO {GODWIT_SCHEMA}.sqlite_origin (schema, name, target, source, origin) \
                     VALUES ($1, $2, $3, $4, $5::text::jsonb) \
                     ON CONFLICT (schema, name) DO UPDATE SET target = excluded.target, source = excluded.source, \
                     recorded_at = now(), origin = excluded.origin"
                ),
                &[&schema, &table.name, &table.target, &source, &json],
            )
            .map_err(|e| Error::pg(format!("recording the origin of {}", table.name), &e))?;
        // Another SQLite table copied earlier into the same PostgreSQL table
        // (a rename) is no longer its origin.
        client
            .execute(
                &format!("DELETE FROM {GODWIT_SCHEMA}.sqlite_origin WHERE schema = $1 AND target = $2 AND name <> $3"),
                &[&schema, &table.target, &table.name],
            )
            .map_err(|e| Error::pg("recording the origin", &e))?;
    }
    Ok(())
}

/// The recorded tables of a target schema, in the app's order; empty when
/// godwit did not copy into it.
pub fn read(client: &mut impl GenericClient, schema: &str) -> Result<Vec<TableOrigin>> {
    let origin = bookkeeping::SQLITE_ORIGIN.qualified();
    if !bookkeeping::exists(client, &origin, "looking for godwit.sqlite_origin")? {
        return Ok(Vec::new());
    }
    let rows = client
        .query(
            &format!("SELECT origin::text FROM {GODWIT_SCHEMA}.sqlite_origin WHERE schema = $1"),
            &[&schema],
        )
        .map_err(|e| Error::pg("reading godwit.sqlite_origin", &e))?;
    let mut tables = Vec::new();
    for row in rows {
        let text: String = row.get(0);
        let table: TableOrigin = serde_json::from_str(&text)
            .map_err(|e| Error::Other(format!("godwit.sqlite_origin holds a record godwit cannot read: {e}")))?;
        tables.push(table);
    }
    tables.sort_by_key(|t| t.position);
    Ok(tables)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_round_trip() {
        for text in [
            "2024-01-02 03:04:05",
            "2024-01-02T03:04:05.123Z",
            "2024-01-02T03:04:05.123456+02:00",
            "2024-01-02",
            "2024-01-02 03:04",
            "13:14:15.5",
        ] {
            let f = TimeFormat::of(text).unwrap();
            let us = crate::calendar::parse_iso(text)
                .map(|i| i.unix_us)
                .unwrap_or(((13 * 3600 + 14 * 60 + 15) * 1_000_000) + 500_000);
            assert_eq!(f.write(us), text);
        }
        assert!(TimeFormat::of("yesterday").is_none());
    }

    #[test]
    fn fraction_only_when_needed() {
        let formats = vec![
            TimeFormat::of("2024-01-02 03:04:05").unwrap(),
            TimeFormat::of("2024-01-02 03:04:05.123456").unwrap(),
        ];
        let whole = crate::calendar::parse_iso("2024-01-02 03:04:05").unwrap().unix_us;
        assert_eq!(
            choose_format(&formats, whole).unwrap().write(whole),
            "2024-01-02 03:04:05"
        );
        let fine = whole + 10;
        assert_eq!(
            choose_format(&formats, fine).unwrap().write(fine),
            "2024-01-02 03:04:05.000010"
        );
    }
}
