//! Running one statement on either engine, with the same values: SQLite
//! read-only (as `copy` opens it), PostgreSQL with parameters sent in the
//! types the translation cast them to.

use postgres::types::ToSql;

use super::params::Param;
use crate::plan::translate::{Kind, Parameter};
use crate::postgres::conn::{ConnSpec, quote_ident};

/// A value as PostgreSQL receives it.
pub type PgValue = Box<dyn ToSql + Sync + Send>;

/// The values of one execution for PostgreSQL, in `$N` order.
pub fn pg_values(parameters: &[Parameter], values: &[Param]) -> Result<Vec<PgValue>, String> {
    let mut out: Vec<PgValue> = Vec::new();
    for (i, p) in parameters.iter().enumerate() {
        if p.number.is_none() {
            continue;
        }
        let v = values.get(i).unwrap_or(&Param::Null);
        let value: PgValue = match (p.kind, v) {
            (Kind::Int | Kind::Bool, Param::Int(x)) => Box::new(*x),
            (Kind::Int | Kind::Bool, Param::Null) => Box::new(None::<i64>),
            (Kind::Real, Param::Int(x)) => {
                #[allow(clippy::cast_precision_loss)] // SQLite compares an integer with a real the same way
                Box::new(*x as f64)
            }
            (Kind::Real, Param::Real(x)) => Box::new(*x),
            (Kind::Real, Param::Null) => Box::new(None::<f64>),
            (Kind::Blob, Param::Blob(b)) => Box::new(b.clone()),
            (Kind::Blob, Param::Null) => Box::new(None::<Vec<u8>>),
            (Kind::Text, Param::Text(t)) => Box::new(t.clone()),
            (Kind::Text, Param::Null) => Box::new(None::<String>),
            (Kind::Text, Param::Int(x)) => Box::new(x.to_string()),
            (Kind::Text, Param::Real(x)) => Box::new(format!("{x:?}")),
            (kind, v) => {
                return Err(format!(
                    "parameter {} is {v} here but {} in other executions; give it values of one type",
                    i + 1,
                    crate::plan::translate::kind_name(kind)
                ));
            }
        };
        out.push(value);
    }
    Ok(out)
}

pub fn as_refs(values: &[PgValue]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|v| &**v as &(dyn ToSql + Sync)).collect()
}

/// A PostgreSQL session for the workload: the copy's schema first on the
/// search path, as the application will have it.
/// Its transactions are read-only unless one says otherwise: a statement
/// taken for a read can never change the target.
pub fn connect_pg(spec: &ConnSpec, schema: &str) -> crate::error::Result<postgres::Client> {
    let mut client = spec.connect()?;
    client
        .batch_execute(&format!(
            "SET search_path TO {}, public; SET default_transaction_read_only = on",
            quote_ident(schema)
        ))
        .map_err(|e| crate::error::Error::pg("setting the search path", &e))?;
    Ok(client)
}

/// A read-only SQLite connection.
pub fn connect_sqlite(path: &std::path::Path, busy: std::time::Duration) -> crate::error::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| crate::error::Error::sqlite(path, e))?;
    conn.busy_timeout(busy)
        .map_err(|e| crate::error::Error::sqlite(path, e))?;
    conn.set_prepared_statement_cache_capacity(256);
    Ok(conn)
}

/// A read-write SQLite connection, for `--writes` on the scratch copy.
pub fn connect_sqlite_writable(
    path: &std::path::Path,
    busy: std::time::Duration,
) -> crate::error::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| crate::error::Error::sqlite(path, e))?;
    conn.busy_timeout(busy)
        .map_err(|e| crate::error::Error::sqlite(path, e))?;
    conn.set_prepared_statement_cache_capacity(256);
    Ok(conn)
}

/// A PostgreSQL error in our words: the server's message and SQLSTATE.
pub fn pg_error(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

/// Whether a SQLite error is the single writer's lock (busy or locked).
pub fn sqlite_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}
