//! View parity: every translated view returns the same rows in PostgreSQL
//! as it does in SQLite, compared as multisets (views have no key and
//! their order is not part of their meaning).
//!
//! Values are canonicalised by the PostgreSQL column's type, so one value
//! has one spelling on both sides: numbers by value (integers exactly,
//! others to 12 significant digits, since PostgreSQL's numeric and
//! SQLite's double round differently in the last places), booleans as
//! 0/1, dates and times as microseconds (SQLite's ISO text, epoch seconds
//! or milliseconds by magnitude), JSON canonical, UUIDs by their bytes,
//! and text as SQLite would spell a number it held.

use std::collections::HashMap;

use postgres::Client;
use postgres::types::Type;
use serde::Serialize;

use crate::calendar::parse_iso;
use crate::error::{Error, Result};
use crate::plan::ViewPlan;
use crate::postgres::conn::quote_ident;
use crate::report::{Event, Reporter};
use crate::source::{Flow, Reader, Scan, Selected, ValueRef};
use crate::verify::VerifySummary;
use crate::verify::value::json_canonical;

/// Rows listed per view and direction when a view differs.
const SAMPLES: usize = 5;

#[derive(Debug, Clone, Serialize)]
pub struct ViewReport {
    /// The source view's name.
    pub view: String,
    pub target_view: String,
    /// "equal", "different", or "not in the target" (the copy reported it
    /// as not migrated; not a difference of the data).
    pub status: &'static str,
    pub rows_source: u64,
    pub rows_target: u64,
    /// Rows SQLite returns that PostgreSQL does not (with multiplicity).
    pub missing_count: u64,
    /// Rows PostgreSQL returns that SQLite does not.
    pub extra_count: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<String>,
    /// Why a side could not be read (a PostgreSQL error where SQLite
    /// returned rows is a difference).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl VerifySummary {
    /// The summary with the views compared; any differing view makes it
    /// "different" (exit 4).
    pub fn with_views(mut self, views: Vec<ViewReport>) -> VerifySummary {
        if views.iter().any(|v| v.status == "different") {
            self.status = "different";
        }
        self.views = views;
        self
    }
}

/// How a PostgreSQL column's values are read and canonicalised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Category {
    Number,
    /// Microseconds since the Unix epoch (of day, for time).
    Instant,
    TimeOfDay,
    Bytes,
    Json,
    Uuid,
    Text,
}

impl Category {
    pub(crate) fn of(t: &Type) -> Category {
        match *t {
            Type::BOOL
            | Type::INT2
            | Type::INT4
            | Type::INT8
            | Type::FLOAT4
            | Type::FLOAT8
            | Type::NUMERIC
            | Type::OID => Category::Number,
            Type::TIMESTAMP | Type::TIMESTAMPTZ | Type::DATE => Category::Instant,
            Type::TIME => Category::TimeOfDay,
            Type::BYTEA => Category::Bytes,
            Type::JSON | Type::JSONB => Category::Json,
            Type::UUID => Category::Uuid,
            _ => Category::Text,
        }
    }

    /// The SELECT term that reads a column as canonical text.
    pub(crate) fn select(self, t: &Type, column: &str) -> String {
        let c = quote_ident(column);
        match (self, t) {
            (Category::Number, &Type::BOOL) => format!("({c})::integer::text"),
            (Category::Instant, &Type::DATE) => format!("(({c} - date '1970-01-01')::bigint * 86400000000)::text"),
            (Category::Instant | Category::TimeOfDay, _) => {
                format!("(extract(epoch FROM {c}) * 1000000)::bigint::text")
            }
            (Category::Bytes, _) => format!("encode({c}, 'hex')"),
            _ => format!("({c})::text"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Canon {
    Null,
    Number(String),
    Instant(i64),
    Bytes(Vec<u8>),
    Text(String),
}

impl std::fmt::Display for Canon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Canon::Null => f.write_str("NULL"),
            Canon::Number(n) => f.write_str(n),
            Canon::Instant(us) => write!(f, "{}", crate::calendar::format_timestamp(us - 946_684_800_000_000)),
            Canon::Bytes(b) => write!(f, "x'{}'", b.iter().map(|x| format!("{x:02x}")).collect::<String>()),
            Canon::Text(t) => write!(f, "{t:?}"),
        }
    }
}

/// A number's canonical spelling: integers exactly, others to 12
/// significant digits.
fn number_key(f: f64) -> String {
    if f.is_finite() && f == f.trunc() && f.abs() < 9.0e15 {
        #[allow(clippy::cast_possible_truncation)] // integral and within i64
        return format!("{}", f as i64);
    }
    format!("{f:.11e}")
}

fn number_of_text(s: &str) -> Option<String> {
    let s = s.trim();
    if let Ok(i) = s.parse::<i64>() {
        return Some(i.to_string());
    }
    s.parse::<f64>().ok().map(number_key)
}

/// SQLite's text of a real (`%!.15g`, with ".0" on integral values).
fn sqlite_real_text(f: f64) -> String {
    if f.is_finite() && f == f.trunc() && f.abs() < 1e15 {
        return format!("{f:.1}");
    }
    let s = format!("{f:.14e}");
    let (mantissa, exponent) = s.split_once('e').unwrap_or((&s, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let negative = f < 0.0;
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let sign = if negative { "-" } else { "" };
    if (-4..15).contains(&exponent) {
        let point = exponent + 1;
        let text = if point <= 0 {
            format!("0.{}{digits}", "0".repeat(usize::try_from(-point).unwrap_or(0)))
        } else {
            let point = usize::try_from(point).unwrap_or(0);
            if digits.len() > point {
                format!("{}.{}", &digits[..point], &digits[point..])
            } else {
                format!("{}{}.0", digits, "0".repeat(point - digits.len()))
            }
        };
        format!("{sign}{text}")
    } else {
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() { "0" } else { rest };
        format!(
            "{sign}{first}.{rest}e{}{:02}",
            if exponent < 0 { '-' } else { '+' },
            exponent.abs()
        )
    }
}

pub(crate) fn canon_target(category: Category, text: Option<String>) -> Canon {
    let Some(text) = text else { return Canon::Null };
    match category {
        Category::Number => number_of_text(&text).map_or(Canon::Text(text), Canon::Number),
        Category::Instant | Category::TimeOfDay => text.parse().map_or(Canon::Text(text), Canon::Instant),
        Category::Bytes => (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()
            .map_or(Canon::Text(text), Canon::Bytes),
        Category::Json => Canon::Bytes(json_canonical(text.as_bytes())),
        Category::Uuid => {
            uuid::Uuid::parse_str(&text).map_or(Canon::Text(text), |u| Canon::Bytes(u.as_bytes().to_vec()))
        }
        Category::Text => Canon::Text(text),
    }
}

/// Epoch seconds or milliseconds by magnitude (1e11 s is the year 5138);
/// reals between 1e6 and 1e7 are julian days.
fn instant_of_number(f: f64) -> Option<i64> {
    let us = if (1.0e6..1.0e7).contains(&f) {
        (f - 2_440_587.5) * 86_400e6
    } else if f.abs() >= 1.0e11 {
        f * 1e3
    } else {
        f * 1e6
    };
    #[allow(clippy::cast_possible_truncation)] // checked finite and in range
    (us.is_finite() && us.abs() < 9.0e18).then(|| us.round() as i64)
}

pub(crate) fn canon_source(category: Category, value: ValueRef<'_>) -> Canon {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    #[allow(clippy::cast_precision_loss)] // a date's epoch number, far below 2^53
    match (category, value) {
        (_, ValueRef::Null) => Canon::Null,
        (Category::Number, ValueRef::Integer(i)) => Canon::Number(i.to_string()),
        (Category::Number, ValueRef::Real(f)) => Canon::Number(number_key(f)),
        (Category::Number, ValueRef::Text(t)) => number_of_text(&text(t)).map_or(Canon::Text(text(t)), Canon::Number),
        (Category::Instant, ValueRef::Text(t)) => {
            parse_iso(&text(t)).map_or(Canon::Text(text(t)), |i| Canon::Instant(i.unix_us))
        }
        (Category::Instant, ValueRef::Integer(i)) => {
            instant_of_number(i as f64).map_or(Canon::Number(i.to_string()), Canon::Instant)
        }
        (Category::Instant, ValueRef::Real(f)) => {
            instant_of_number(f).map_or(Canon::Number(number_key(f)), Canon::Instant)
        }
        (Category::TimeOfDay, ValueRef::Text(t)) => {
            parse_iso(&format!("1970-01-01 {}", text(t))).map_or(Canon::Text(text(t)), |i| Canon::Instant(i.unix_us))
        }
        (Category::Bytes, ValueRef::Blob(b)) => Canon::Bytes(b.to_vec()),
        (Category::Bytes, ValueRef::Text(t)) => Canon::Bytes(t.to_vec()),
        (Category::Json, ValueRef::Text(t) | ValueRef::Blob(t)) => Canon::Bytes(json_canonical(t)),
        (Category::Json, ValueRef::Integer(i)) => Canon::Bytes(json_canonical(i.to_string().as_bytes())),
        (Category::Json, ValueRef::Real(f)) => Canon::Bytes(json_canonical(sqlite_real_text(f).as_bytes())),
        (Category::Uuid, ValueRef::Blob(b)) => {
            uuid::Uuid::from_slice(b).map_or(Canon::Bytes(b.to_vec()), |u| Canon::Bytes(u.as_bytes().to_vec()))
        }
        (Category::Uuid, ValueRef::Text(t)) => {
            uuid::Uuid::parse_str(&text(t)).map_or(Canon::Text(text(t)), |u| Canon::Bytes(u.as_bytes().to_vec()))
        }
        (_, ValueRef::Integer(i)) => Canon::Text(i.to_string()),
        (_, ValueRef::Real(f)) => Canon::Text(sqlite_real_text(f)),
        (_, ValueRef::Text(t)) => Canon::Text(text(t)),
        (_, ValueRef::Blob(b)) => Canon::Text(text(b)),
    }
}

fn row_text(row: &[Canon]) -> String {
    format!(
        "({})",
        row.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    )
}

/// Compares every view of the plan; views the target lacks are listed as
/// such (the copy reported them as not migrated).
pub fn compare(
    source: &mut dyn Reader,
    pg: &mut Client,
    schema: &str,
    views: &[(&ViewPlan, &[String])],
    reporter: &Reporter,
) -> Result<Vec<ViewReport>> {
    let mut reports = Vec::new();
    for (view, columns) in views {
        let report = compare_view(source, pg, schema, view, columns)?;
        reporter.emit(Event::Info(format!(
            "view {}: {} ({} rows source, {} rows target)",
            crate::report::shown::name(&report.view),
            report.status,
            report.rows_source,
            report.rows_target
        )));
        reports.push(report);
    }
    Ok(reports)
}

/// `source_columns`: the view's columns as the source names them.
fn compare_view(
    source: &mut dyn Reader,
    pg: &mut Client,
    schema: &str,
    view: &ViewPlan,
    source_columns: &[String],
) -> Result<ViewReport> {
    let mut report = ViewReport {
        view: view.source.clone(),
        target_view: view.target.clone(),
        status: "equal",
        rows_source: 0,
        rows_target: 0,
        missing_count: 0,
        extra_count: 0,
        missing: Vec::new(),
        extra: Vec::new(),
        error: None,
    };
    let exists: bool = pg
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_views WHERE schemaname = $1 AND viewname = $2)",
            &[&schema, &view.target],
        )
        .map_err(|e| Error::pg(format!("looking for view {}", view.target), &e))?
        .get(0);
    if !exists {
        report.status = "not in the target";
        return Ok(report);
    }
    let qualified = format!("{}.{}", quote_ident(schema), quote_ident(&view.target));
    let statement = pg
        .prepare(&format!("SELECT * FROM {qualified}"))
        .map_err(|e| Error::pg(format!("reading view {}", view.target), &e))?;
    let columns: Vec<(String, Type)> = statement
        .columns()
        .iter()
        .map(|c| (c.name().to_string(), c.type_().clone()))
        .collect();
    let categories: Vec<Category> = columns.iter().map(|(_, t)| Category::of(t)).collect();
    let terms: Vec<String> = columns
        .iter()
        .zip(&categories)
        .map(|((name, t), cat)| cat.select(t, name))
        .collect();

    // +1 per source row, -1 per target row: what is left differs.
    let mut balance: HashMap<Vec<Canon>, i64> = HashMap::new();
    let select: Vec<Selected> = source_columns.iter().map(|c| Selected::Column(c.clone())).collect();
    let width = select.len();
    let mut read_source = || -> Result<u64> {
        let mut n = 0u64;
        let scan = Scan::whole(&view.source, &select);
        source.scan(&scan, &mut |row| {
            let mut canon = Vec::with_capacity(width);
            for (i, category) in categories.iter().enumerate().take(width) {
                canon.push(canon_source(*category, row.value(i)));
            }
            // A column count that differs shows as every row differing.
            canon.extend((categories.len()..width).map(|_| Canon::Text("<extra source column>".into())));
            *balance.entry(canon).or_default() += 1;
            n += 1;
            Ok(Flow::Continue)
        })?;
        Ok(n)
    };
    match read_source() {
        Ok(n) => report.rows_source = n,
        Err(e) => {
            // SQLite cannot run its own view (a function of an extension): nothing to compare.
            report.status = "not compared";
            report.error = Some(format!("SQLite: {e}"));
            return Ok(report);
        }
    }
    let sql = format!(
        "SELECT {} FROM {qualified}",
        if terms.is_empty() { "1".into() } else { terms.join(", ") }
    );
    match crate::postgres::pooler::tolerate(pg, |c| c.query(&sql, &[])) {
        Ok(rows) => {
            for row in rows {
                let canon: Vec<Canon> = categories
                    .iter()
                    .enumerate()
                    .map(|(i, category)| canon_target(*category, row.get::<_, Option<String>>(i)))
                    .collect();
                *balance.entry(canon).or_default() -= 1;
                report.rows_target += 1;
            }
        }
        Err(e) if e.as_db_error().is_some() => {
            report.status = "different";
            report.error = Some(format!(
                "PostgreSQL: {}",
                e.as_db_error().map(|d| d.message().to_string()).unwrap_or_default()
            ));
            return Ok(report);
        }
        Err(e) => return Err(Error::pg(format!("reading view {}", view.target), &e)),
    }
    let mut differing: Vec<(&Vec<Canon>, i64)> =
        balance.iter().filter(|(_, n)| **n != 0).map(|(r, n)| (r, *n)).collect();
    differing.sort_by_key(|(r, _)| row_text(r));
    for (row, n) in differing {
        let count = n.unsigned_abs();
        if n > 0 {
            report.missing_count += count;
            if report.missing.len() < SAMPLES {
                report.missing.push(row_text(row));
            }
        } else {
            report.extra_count += count;
            if report.extra.len() < SAMPLES {
                report.extra.push(row_text(row));
            }
        }
    }
    if report.missing_count + report.extra_count > 0 {
        report.status = "different";
    }
    Ok(report)
}

/// The views' part of the human summary.
pub fn human(views: &[ViewReport]) -> String {
    if views.is_empty() {
        return String::new();
    }
    let width = views.iter().map(|v| v.view.chars().count()).max().unwrap_or(4).max(4);
    let mut out = format!(
        "\n{:<width$}  {:>12}  {:>12}  status\n",
        "view", "rows source", "rows target"
    );
    for v in views {
        out.push_str(&format!(
            "{:<width$}  {:>12}  {:>12}  {}\n",
            v.view, v.rows_source, v.rows_target, v.status
        ));
    }
    for v in views.iter().filter(|v| v.status != "equal") {
        out.push_str(&format!("\nview {} {}:\n", v.view, v.status));
        if let Some(e) = &v.error {
            out.push_str(&format!("  {e}\n"));
        }
        if v.missing_count > 0 {
            out.push_str(&format!(
                "  {} rows only in SQLite: {}\n",
                v.missing_count,
                v.missing.join(" ")
            ));
        }
        if v.extra_count > 0 {
            out.push_str(&format!(
                "  {} rows only in PostgreSQL: {}\n",
                v.extra_count,
                v.extra.join(" ")
            ));
        }
    }
    let different = views.iter().filter(|v| v.status == "different").count();
    out.push_str(&format!(
        "{} views compared: {}\n",
        views
            .iter()
            .filter(|v| v.status == "equal" || v.status == "different")
            .count(),
        if different == 0 {
            "they return the same rows".to_string()
        } else {
            format!("{different} differ")
        }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reals_are_spelled_as_sqlite_does() {
        assert_eq!(sqlite_real_text(1.0), "1.0");
        assert_eq!(sqlite_real_text(0.1 + 0.2), "0.3");
        assert_eq!(sqlite_real_text(-2.5), "-2.5");
        assert_eq!(sqlite_real_text(1e20), "1.0e+20");
        assert_eq!(sqlite_real_text(0.000123), "0.000123");
    }

    #[test]
    fn numbers_compare_by_value() {
        assert_eq!(
            canon_target(Category::Number, Some("5.00".into())),
            Canon::Number("5".into())
        );
        assert_eq!(
            canon_source(Category::Number, ValueRef::Integer(5)),
            Canon::Number("5".into())
        );
        assert_eq!(
            canon_target(Category::Number, Some("0.33333333333333333333".into())),
            canon_source(Category::Number, ValueRef::Real(1.0 / 3.0))
        );
        assert_eq!(
            canon_target(Category::Number, Some("1".into())),
            canon_source(Category::Number, ValueRef::Integer(1))
        );
    }

    #[test]
    fn instants_from_text_and_epochs() {
        let iso = canon_source(Category::Instant, ValueRef::Text(b"2024-01-02 03:04:05"));
        assert_eq!(iso, canon_source(Category::Instant, ValueRef::Integer(1_704_164_645)));
        assert_eq!(
            iso,
            canon_source(Category::Instant, ValueRef::Integer(1_704_164_645_000))
        );
        assert_eq!(iso, canon_target(Category::Instant, Some("1704164645000000".into())));
    }
}
