//! The SQL functions Django registers on its SQLite connections, as its
//! ORM writes them (`django_datetime_trunc(%s, "col", %s, %s)` for
//! `TruncMonth`, `REGEXP` for `__regex`): PostgreSQL computing what
//! Django's Python computes (django/db/backends/sqlite3/_functions.py;
//! godwit's source side runs the same in workload/django.rs). The unit
//! and zone arguments are usually parameters, so they stay expressions:
//! `date_trunc` and `date_part` take the unit as text.

use sqlparser::ast::Expr;

use super::{Kind, Result, Translator, Typed, datetime, paren, unsupported};

/// Django's functions; None when `name` is not one of them.
pub(crate) fn call(t: &mut Translator<'_>, name: &str, args: &[&Expr]) -> Result<Option<Typed>> {
    let (unit, value, zones) = match (name, args) {
        ("django_date_extract" | "django_time_extract", [unit, value]) => (Some(*unit), *value, None),
        (
            "django_datetime_extract" | "django_date_trunc" | "django_datetime_trunc",
            [unit, value, current, connection],
        ) => (Some(*unit), *value, Some((*current, *connection))),
        ("django_datetime_cast_date" | "django_datetime_cast_time", [value, current, connection]) => {
            (None, *value, Some((*current, *connection)))
        }
        (n, _) if n.starts_with("django_") => return unsupported(format!("Django's function {n}()")),
        _ => return Ok(None),
    };
    t.not_immutable(&format!("{name}()"));
    let unit = match unit {
        Some(u) => {
            let u = t.expr(u)?;
            let u = t.value(u);
            Some(t.text(u).sql)
        }
        None => None,
    };
    // The wall-clock time Django stored (its connection's zone), then in
    // the current zone when the two differ, as `_sqlite_datetime_parse`.
    let stored = datetime::time_value(t, value, false)?;
    let local = match zones {
        None => stored,
        Some((current, connection)) => {
            let current = t.expr(current)?;
            let current = t.value(current);
            let current = t.text(current).sql;
            let connection = t.expr(connection)?;
            let connection = t.value(connection);
            let connection = format!("coalesce({}, 'UTC')", t.text(connection).sql);
            format!(
                "(CASE WHEN {current} IS NULL OR {current} = {connection} THEN {stored} \
                 ELSE (({stored}) AT TIME ZONE {connection}) AT TIME ZONE {current} END)"
            )
        }
    };
    let unit = unit.unwrap_or_default();
    Ok(Some(match name {
        "django_date_extract" | "django_time_extract" | "django_datetime_extract" => Typed::new(
            format!(
                "(CASE {unit} WHEN 'week_day' THEN extract(dow FROM {local}) + 1 \
                 WHEN 'iso_week_day' THEN extract(isodow FROM {local}) \
                 WHEN 'iso_year' THEN extract(isoyear FROM {local}) \
                 WHEN 'second' THEN floor(extract(second FROM {local})) \
                 ELSE date_part({unit}, {local}) END)::bigint"
            ),
            Kind::Int,
        ),
        "django_date_trunc" => Typed::new(
            format!("to_char(date_trunc({unit}, {local}), 'YYYY-MM-DD')"),
            Kind::Text,
        ),
        "django_datetime_trunc" => Typed::new(
            format!("to_char(date_trunc({unit}, {local}), 'YYYY-MM-DD HH24:MI:SS')"),
            Kind::Text,
        ),
        "django_datetime_cast_date" => Typed::new(format!("to_char({local}, 'YYYY-MM-DD')"), Kind::Text),
        // Python's time.isoformat(): microseconds only when there are some.
        _ => Typed::new(
            format!(
                "(to_char({local}, 'HH24:MI:SS') || CASE WHEN extract(microseconds FROM {local})::bigint % 1000000 <> 0 \
                 THEN to_char({local}, '.US') ELSE '' END)"
            ),
            Kind::Text,
        ),
    }))
}

/// `string REGEXP pattern`: the pattern Django's `regexp()` searches for,
/// as a PostgreSQL regular expression (the same syntax for the patterns
/// apps write; parity shows any where they part).
pub(crate) fn regexp(t: &mut Translator<'_>, left: &Expr, right: &Expr) -> Result<Typed> {
    let subject = t.expr(left)?;
    let subject = t.value(subject);
    let subject = t.text(subject).sql;
    let pattern = t.expr(right)?;
    let pattern = t.value(pattern);
    let pattern = t.text(pattern).sql;
    Ok(Typed::new(
        format!("{} ~ {}", paren(&subject), paren(&pattern)),
        Kind::Bool,
    ))
}
