//! The SQL functions Django registers on every SQLite connection it opens
//! (django/db/backends/sqlite3/_functions.py). Its ORM writes them into
//! the statements it sends: `__date`, `__month`, `__week_day`, `Trunc*`,
//! `Extract*` and `dates()` call `django_datetime_*`/`django_date_*`, and
//! `__regex` is `REGEXP`. A log captured from a Django app replays on the
//! source only if godwit's SQLite connection has them too, computing what
//! Django's Python computes. The PostgreSQL side is the translator's
//! (plan/translate/django.rs).
//!
//! Time zones: Django passes the current zone (`TIME_ZONE` with `USE_TZ`)
//! and the connection's (UTC unless `DATABASES[...]["TIME_ZONE"]`); the
//! stored wall-clock time is read in the connection's zone and shown in
//! the current one, from the system's zone database as Python's zoneinfo
//! reads it. A zone the database does not know (or a name with an offset
//! appended, from a fixed-offset tzinfo) fails: the class is reported as
//! failing on the source, never computed in another zone.

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use rusqlite::Connection;
use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::{Value, ValueRef};

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Registers Django's date/time functions and REGEXP on `conn`.
pub fn register(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("django_date_extract", 2, flags, |ctx| {
        extract(&text(ctx, 0)?, parsed(ctx, 1, None)?)
    })?;
    conn.create_scalar_function("django_datetime_extract", 4, flags, |ctx| {
        extract(&text(ctx, 0)?, parsed(ctx, 1, Some((2, 3)))?)
    })?;
    conn.create_scalar_function("django_date_trunc", 4, flags, |ctx| {
        date_trunc(&text(ctx, 0)?, parsed(ctx, 1, Some((2, 3)))?)
    })?;
    conn.create_scalar_function("django_datetime_trunc", 4, flags, |ctx| {
        datetime_trunc(&text(ctx, 0)?, parsed(ctx, 1, Some((2, 3)))?)
    })?;
    conn.create_scalar_function("django_datetime_cast_date", 3, flags, |ctx| {
        Ok(parsed(ctx, 0, Some((1, 2)))?.map(|dt| dt.format("%Y-%m-%d").to_string()))
    })?;
    conn.create_scalar_function("django_datetime_cast_time", 3, flags, |ctx| {
        Ok(parsed(ctx, 0, Some((1, 2)))?.map(|dt| iso_time(dt.time())))
    })?;
    conn.create_scalar_function("django_time_extract", 2, flags, |ctx| {
        let kind = text(ctx, 0)?;
        let time = match ctx.get_raw(1) {
            ValueRef::Text(t) => std::str::from_utf8(t).ok().and_then(time_of),
            _ => None,
        };
        extract(&kind, time.map(|t| NaiveDate::MIN.and_time(t)))
    })?;
    conn.create_scalar_function("regexp", 2, flags, regexp)?;
    Ok(())
}

fn user_error(message: String) -> rusqlite::Error {
    rusqlite::Error::UserFunctionError(message.into())
}

fn text(ctx: &Context<'_>, i: usize) -> rusqlite::Result<String> {
    match ctx.get_raw(i) {
        ValueRef::Text(t) => Ok(String::from_utf8_lossy(t).into_owned()),
        other => Err(user_error(format!(
            "argument {} is {:?}, not text",
            i + 1,
            other.data_type()
        ))),
    }
}

/// Django's `_sqlite_datetime_parse`: the value read as its
/// `typecast_timestamp` reads it (None for what it cannot read), with the
/// zones at `zones` (current, connection) when given.
fn parsed(ctx: &Context<'_>, i: usize, zones: Option<(usize, usize)>) -> rusqlite::Result<Option<NaiveDateTime>> {
    let value = match ctx.get_raw(i) {
        ValueRef::Text(t) => std::str::from_utf8(t).ok().and_then(typecast_timestamp),
        _ => None,
    };
    if let Some((current, connection)) = zones {
        let zone = |i: usize| -> rusqlite::Result<Option<String>> {
            match ctx.get_raw(i) {
                ValueRef::Null => Ok(None),
                _ => text(ctx, i).map(Some),
            }
        };
        let (current, connection) = (zone(current)?, zone(connection)?);
        if let (Some(value), Some(current)) = (value, current)
            && Some(&current) != connection.as_ref()
        {
            let Some(connection) = connection else {
                // Django's localtime() refuses a naive time.
                return Err(user_error(format!(
                    "the time zone {current:?} without the connection's"
                )));
            };
            return in_zone(value, &connection, &current).map(Some);
        }
    }
    Ok(value)
}

/// A wall-clock time in zone `from`, as the wall clock in zone `to`.
fn in_zone(value: NaiveDateTime, from: &str, to: &str) -> rusqlite::Result<NaiveDateTime> {
    let zone =
        |name: &str| jiff::tz::TimeZone::get(name).map_err(|e| user_error(format!("the time zone {name:?}: {e}")));
    let small = |n: u32| i8::try_from(n).unwrap_or_default();
    let civil = jiff::civil::DateTime::new(
        i16::try_from(value.year()).map_err(|_| user_error(format!("the year of {value}")))?,
        small(value.month()),
        small(value.day()),
        small(value.hour()),
        small(value.minute()),
        small(value.second()),
        i32::try_from(value.nanosecond()).unwrap_or_default(),
    )
    .map_err(|e| user_error(format!("{value}: {e}")))?;
    // Python's replace(tzinfo=...) with fold 0: an ambiguous time is the
    // earlier, a time in a gap moves forward (jiff's "compatible").
    let shown = civil
        .to_zoned(zone(from)?)
        .map_err(|e| user_error(format!("{value} in {from:?}: {e}")))?
        .with_time_zone(zone(to)?)
        .datetime();
    let part = |n: i8| u32::from(n.unsigned_abs());
    let date = NaiveDate::from_ymd_opt(i32::from(shown.year()), part(shown.month()), part(shown.day()));
    let time = NaiveTime::from_hms_nano_opt(
        part(shown.hour()),
        part(shown.minute()),
        part(shown.second()),
        shown.subsec_nanosecond().unsigned_abs(),
    );
    match (date, time) {
        (Some(d), Some(t)) => Ok(d.and_time(t)),
        _ => Err(user_error(format!("{value} shown in {to:?}"))),
    }
}

/// Django's `typecast_timestamp`: "YYYY-MM-DD HH:MM:SS[.ffffff][±zone]",
/// the zone ignored; a value without a space is a date.
fn typecast_timestamp(s: &str) -> Option<NaiveDateTime> {
    if s.is_empty() {
        return None;
    }
    let mut parts = s.split_whitespace();
    let date = date_of(parts.next()?)?;
    let Some(time) = parts.next() else {
        return Some(date.and_time(NaiveTime::MIN));
    };
    if parts.next().is_some() {
        return None;
    }
    let time = time.split(['-', '+']).next()?;
    Some(date.and_time(time_of(time)?))
}

fn number<T: std::str::FromStr>(s: &str) -> Option<T> {
    // Python's int() takes surrounding spaces and a sign; Django's fields never hold them.
    s.trim().parse().ok()
}

fn date_of(s: &str) -> Option<NaiveDate> {
    let mut p = s.split('-');
    let (y, m, d) = (number(p.next()?)?, number(p.next()?)?, number(p.next()?)?);
    if p.next().is_some() {
        return None;
    }
    NaiveDate::from_ymd_opt(y, m, d)
}

/// Django's `typecast_time`: "HH:MM:SS[.ffffff]", the fraction cut to
/// microseconds.
fn time_of(s: &str) -> Option<NaiveTime> {
    let mut p = s.split(':');
    let (h, m) = (number(p.next()?)?, number(p.next()?)?);
    let seconds = p.next().unwrap_or("0");
    if p.next().is_some() {
        return None;
    }
    let (whole, fraction) = seconds.split_once('.').unwrap_or((seconds, "0"));
    let micros: String = format!("{fraction}000000").chars().take(6).collect();
    NaiveTime::from_hms_micro_opt(h, m, number(whole)?, number(&micros)?)
}

fn extract(kind: &str, dt: Option<NaiveDateTime>) -> rusqlite::Result<Option<i64>> {
    let Some(dt) = dt else { return Ok(None) };
    let weekday = i64::from(dt.weekday().number_from_monday());
    Ok(Some(match kind {
        "week_day" => weekday % 7 + 1,
        "iso_week_day" => weekday,
        "week" => i64::from(dt.iso_week().week()),
        "iso_year" => i64::from(dt.iso_week().year()),
        "quarter" => i64::from(dt.month().div_ceil(3)),
        "year" => i64::from(dt.year()),
        "month" => i64::from(dt.month()),
        "day" => i64::from(dt.day()),
        "hour" => i64::from(dt.hour()),
        "minute" => i64::from(dt.minute()),
        "second" => i64::from(dt.second()),
        other => return Err(user_error(format!("no part {other:?} of a date to extract"))),
    }))
}

/// The first day of `kind` (year, quarter, month, week, day) around `dt`.
fn day_trunc(kind: &str, dt: NaiveDateTime) -> Option<NaiveDate> {
    let d = dt.date();
    match kind {
        "year" => NaiveDate::from_ymd_opt(d.year(), 1, 1),
        "quarter" => NaiveDate::from_ymd_opt(d.year(), d.month() - (d.month() - 1) % 3, 1),
        "month" => NaiveDate::from_ymd_opt(d.year(), d.month(), 1),
        "week" => d.checked_sub_days(chrono::Days::new(u64::from(d.weekday().num_days_from_monday()))),
        "day" => Some(d),
        _ => None,
    }
}

fn date_trunc(kind: &str, dt: Option<NaiveDateTime>) -> rusqlite::Result<Option<String>> {
    let Some(dt) = dt else { return Ok(None) };
    match day_trunc(kind, dt) {
        Some(d) => Ok(Some(d.format("%Y-%m-%d").to_string())),
        None => Err(user_error(format!("no unit {kind:?} to truncate a date to"))),
    }
}

fn datetime_trunc(kind: &str, dt: Option<NaiveDateTime>) -> rusqlite::Result<Option<String>> {
    let Some(dt) = dt else { return Ok(None) };
    let day = dt.format("%Y-%m-%d");
    let out = match kind {
        "hour" => format!("{day} {:02}:00:00", dt.hour()),
        "minute" => format!("{day} {:02}:{:02}:00", dt.hour(), dt.minute()),
        "second" => format!("{day} {:02}:{:02}:{:02}", dt.hour(), dt.minute(), dt.second()),
        _ => match day_trunc(kind, dt) {
            Some(d) => format!("{} 00:00:00", d.format("%Y-%m-%d")),
            None => return Err(user_error(format!("no unit {kind:?} to truncate a time to"))),
        },
    };
    Ok(Some(out))
}

/// Python's `time.isoformat()`: microseconds only when there are some.
fn iso_time(t: NaiveTime) -> String {
    let micros = t.nanosecond() / 1000;
    if micros == 0 {
        t.format("%H:%M:%S").to_string()
    } else {
        format!("{}.{micros:06}", t.format("%H:%M:%S"))
    }
}

/// `string REGEXP pattern`: Python's `re.search` in Django; here the regex
/// crate's, which reads the same syntax except lookaround and
/// backreferences (a pattern with them fails, it is not guessed at).
fn regexp(ctx: &Context<'_>) -> rusqlite::Result<Option<bool>> {
    if matches!(ctx.get_raw(0), ValueRef::Null) || matches!(ctx.get_raw(1), ValueRef::Null) {
        return Ok(None);
    }
    let pattern: std::sync::Arc<regex::Regex> =
        ctx.get_or_create_aux(0, |v| -> Result<_, BoxError> { Ok(regex::Regex::new(v.as_str()?)?) })?;
    // Django searches str(value): numbers as Python prints them.
    let subject = match ctx.get::<Value>(1)? {
        Value::Text(s) => s,
        Value::Integer(i) => i.to_string(),
        Value::Real(r) if r.is_finite() && r.fract() == 0.0 && r.abs() < 1e16 => format!("{r:.1}"),
        Value::Real(r) => r.to_string(),
        Value::Blob(_) | Value::Null => return Err(user_error("REGEXP over a BLOB".into())),
    };
    Ok(Some(pattern.is_match(&subject)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one<T: rusqlite::types::FromSql>(conn: &Connection, sql: &str) -> T {
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// Each value is what Django 5.2's Python functions return for the
    /// same call (checked against django/db/backends/sqlite3/_functions.py).
    #[test]
    fn django_date_functions_compute_what_django_computes() {
        let conn = Connection::open_in_memory().unwrap();
        register(&conn).unwrap();
        let at = "'2024-12-29 23:05:07.250000'";
        let ex = |kind: &str| -> i64 {
            one(
                &conn,
                &format!("SELECT django_datetime_extract('{kind}', {at}, 'UTC', 'UTC')"),
            )
        };
        // A Sunday, in ISO week 52 of 2024.
        assert_eq!(ex("week_day"), 1);
        assert_eq!(ex("iso_week_day"), 7);
        assert_eq!(ex("week"), 52);
        assert_eq!(ex("iso_year"), 2024);
        assert_eq!(ex("quarter"), 4);
        assert_eq!(ex("second"), 7);
        let tr = |kind: &str| -> String {
            one(
                &conn,
                &format!("SELECT django_datetime_trunc('{kind}', {at}, 'UTC', 'UTC')"),
            )
        };
        assert_eq!(tr("quarter"), "2024-10-01 00:00:00");
        assert_eq!(tr("week"), "2024-12-23 00:00:00");
        assert_eq!(tr("minute"), "2024-12-29 23:05:00");
        let s: String = one(&conn, &format!("SELECT django_date_trunc('month', {at}, NULL, NULL)"));
        assert_eq!(s, "2024-12-01");
        let s: String = one(&conn, &format!("SELECT django_datetime_cast_time({at}, 'UTC', 'UTC')"));
        assert_eq!(s, "23:05:07.250000");
        let s: String = one(
            &conn,
            "SELECT django_datetime_cast_date('2024-02-29 10:00:00+02:00', NULL, NULL)",
        );
        assert_eq!(s, "2024-02-29");
        let n: i64 = one(&conn, "SELECT django_date_extract('year', '1999-06-15')");
        assert_eq!(n, 1999);
        // What typecast_timestamp cannot read is NULL, as in Django.
        let none: Option<String> = one(
            &conn,
            "SELECT django_datetime_trunc('day', '2024-01-01T10:00', 'UTC', 'UTC')",
        );
        assert_eq!(none, None);
        // The current zone: 23:05 UTC on 29 December is 00:05 on the 30th in Paris.
        let s: String = one(
            &conn,
            &format!("SELECT django_datetime_trunc('day', {at}, 'Europe/Paris', 'UTC')"),
        );
        assert_eq!(s, "2024-12-30 00:00:00");
        let n: i64 = one(
            &conn,
            &format!("SELECT django_datetime_extract('hour', {at}, 'America/Chicago', 'UTC')"),
        );
        assert_eq!(n, 17);
        // A zone nobody knows is refused, not computed in UTC.
        let err = conn
            .query_row(
                &format!("SELECT django_datetime_trunc('day', {at}, 'Mars/Olympus', 'UTC')"),
                [],
                |r| r.get::<_, String>(0),
            )
            .unwrap_err();
        assert!(err.to_string().contains("Mars/Olympus"), "{err}");
    }

    #[test]
    fn regexp_searches_as_python_does() {
        let conn = Connection::open_in_memory().unwrap();
        register(&conn).unwrap();
        assert!(one::<bool>(&conn, "SELECT 'The Book' REGEXP '^T.e B'"));
        assert!(!one::<bool>(&conn, "SELECT 'the book' REGEXP '^T'"));
        assert!(one::<bool>(&conn, "SELECT 'x 42 y' REGEXP '\\d+'"));
        assert!(one::<bool>(&conn, "SELECT 3.0 REGEXP '^3\\.0$'"));
        assert_eq!(one::<Option<bool>>(&conn, "SELECT NULL REGEXP 'a'"), None);
        assert!(
            conn.query_row("SELECT 'a' REGEXP '(?<=a)b'", [], |r| r.get::<_, bool>(0))
                .is_err()
        );
    }
}
