//! Running one statement on either engine, with the same values: SQLite
//! read-only (as `copy` opens it), PostgreSQL with parameters sent in the
//! types the translation cast them to.

use postgres::types::{IsNull, ToSql, Type};

use super::params::Param;
use crate::plan::translate::{Kind, Parameter};
use crate::postgres::conn::{ConnSpec, quote_ident};

/// A value as PostgreSQL receives it: one of the kinds a SQLite value
/// maps to, held by value so that a client reuses one buffer of them for
/// every execution instead of boxing each value anew.
#[derive(Debug, Clone, PartialEq)]
pub enum PgValue {
    Int(Option<i64>),
    Real(Option<f64>),
    Bytes(Option<Vec<u8>>),
    Text(Option<String>),
    /// A `uuid-from-int` key's UUID, made of the integer the app sent.
    Uuid(Option<[u8; 16]>),
}

impl ToSql for PgValue {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            PgValue::Int(v) => v.to_sql(ty, out),
            PgValue::Real(v) => v.to_sql(ty, out),
            PgValue::Bytes(v) => v.to_sql(ty, out),
            PgValue::Text(v) => v.to_sql(ty, out),
            PgValue::Uuid(None) => Ok(IsNull::Yes),
            PgValue::Uuid(Some(bytes)) => {
                out.extend_from_slice(bytes);
                Ok(IsNull::No)
            }
        }
    }

    /// Any type one of the variants takes; `to_sql_checked` then checks
    /// the variant actually held against the statement's type.
    fn accepts(ty: &Type) -> bool {
        <i64 as ToSql>::accepts(ty)
            || <f64 as ToSql>::accepts(ty)
            || <Vec<u8> as ToSql>::accepts(ty)
            || <String as ToSql>::accepts(ty)
            || *ty == Type::UUID
    }

    fn to_sql_checked(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            PgValue::Int(v) => v.to_sql_checked(ty, out),
            PgValue::Real(v) => v.to_sql_checked(ty, out),
            PgValue::Bytes(v) => v.to_sql_checked(ty, out),
            PgValue::Text(v) => v.to_sql_checked(ty, out),
            PgValue::Uuid(_) if *ty == Type::UUID => self.to_sql(ty, out),
            PgValue::Uuid(_) => Err(Box::new(postgres::types::WrongType::new::<[u8; 16]>(ty.clone()))),
        }
    }
}

/// The values of one execution for PostgreSQL, in `$N` order.
pub fn pg_values(parameters: &[Parameter], values: &[Param]) -> Result<Vec<PgValue>, String> {
    let mut out = Vec::with_capacity(parameters.len());
    fill_pg_values(&mut out, parameters, values)?;
    Ok(out)
}

/// [`pg_values`] into a buffer the caller keeps between executions.
pub fn fill_pg_values(out: &mut Vec<PgValue>, parameters: &[Parameter], values: &[Param]) -> Result<(), String> {
    out.clear();
    for (i, p) in parameters.iter().enumerate() {
        if p.number.is_none() {
            continue;
        }
        let v = values.get(i).unwrap_or(&Param::Null);
        let value = match (p.kind, v) {
            (Kind::Int | Kind::Bool, Param::Int(x)) => PgValue::Int(Some(*x)),
            (Kind::Int | Kind::Bool, Param::Null) => PgValue::Int(None),
            (Kind::UuidKey(namespace), Param::Int(x)) => {
                PgValue::Uuid(Some(crate::postgres::encode::uuid_in_namespace(namespace, *x)))
            }
            (Kind::UuidKey(_), Param::Null) => PgValue::Uuid(None),
            (Kind::Real, Param::Int(x)) => {
                #[allow(clippy::cast_precision_loss)] // SQLite compares an integer with a real the same way
                PgValue::Real(Some(*x as f64))
            }
            (Kind::Real, Param::Real(x)) => PgValue::Real(Some(*x)),
            (Kind::Real, Param::Null) => PgValue::Real(None),
            (Kind::Blob, Param::Blob(b)) => PgValue::Bytes(Some(b.clone())),
            (Kind::Blob, Param::Null) => PgValue::Bytes(None),
            (Kind::Text, Param::Text(t)) => PgValue::Text(Some(t.clone())),
            (Kind::Text, Param::Null) => PgValue::Text(None),
            (Kind::Text, Param::Int(x)) => PgValue::Text(Some(x.to_string())),
            (Kind::Text, Param::Real(x)) => PgValue::Text(Some(format!("{x:?}"))),
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
    Ok(())
}

pub fn as_refs(values: &[PgValue]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

/// A PostgreSQL session for the workload: the copy's schema first on the
/// search path, as the application will have it.
/// Its transactions are read-only unless one says otherwise: a statement
/// taken for a read can never change the target.
///
/// Through a transaction pooler (`pooled`) nothing is set on the session:
/// a SET would stay behind on a server session other clients get. Each
/// unit of work then opens its own transaction with [`pooled_begin`].
pub fn connect_pg(spec: &ConnSpec, schema: &str, pooled: bool) -> crate::error::Result<postgres::Client> {
    let mut client = spec.connect()?;
    if pooled {
        return Ok(client);
    }
    client
        .batch_execute(&format!(
            "SET search_path TO {}, public; SET default_transaction_read_only = on",
            quote_ident(schema)
        ))
        .map_err(|e| crate::error::Error::pg("setting the search path", &e))?;
    Ok(client)
}

/// How a unit of work begins through a transaction pooler: a read-only
/// transaction with the search path LOCAL to it.
pub fn pooled_begin(schema: &str) -> String {
    format!(
        "BEGIN READ ONLY; SET LOCAL search_path TO {}, public",
        quote_ident(schema)
    )
}

/// The types `pg_values` sends, for unnamed statements (`query_typed`),
/// which a transaction pooler carries in one round trip.
pub fn pg_types(parameters: &[Parameter]) -> Vec<postgres::types::Type> {
    use postgres::types::Type;
    parameters
        .iter()
        .filter(|p| p.number.is_some())
        .map(|p| match p.kind {
            Kind::Int | Kind::Bool => Type::INT8,
            Kind::Real => Type::FLOAT8,
            Kind::Blob => Type::BYTEA,
            Kind::UuidKey(_) => Type::UUID,
            _ => Type::TEXT,
        })
        .collect()
}

/// A read-only SQLite connection.
pub fn connect_sqlite(path: &std::path::Path, busy: std::time::Duration) -> crate::error::Result<rusqlite::Connection> {
    open_sqlite(path, busy, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
}

/// A read-write SQLite connection, for `--writes` on the scratch copy.
pub fn connect_sqlite_writable(
    path: &std::path::Path,
    busy: std::time::Duration,
) -> crate::error::Result<rusqlite::Connection> {
    open_sqlite(path, busy, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)
}

fn open_sqlite(
    path: &std::path::Path,
    busy: std::time::Duration,
    mode: rusqlite::OpenFlags,
) -> crate::error::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open_with_flags(path, mode | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| crate::error::Error::sqlite(path, e))?;
    conn.busy_timeout(busy)
        .map_err(|e| crate::error::Error::sqlite(path, e))?;
    conn.set_prepared_statement_cache_capacity(256);
    // The functions an app's framework adds to its own connections.
    super::django::register(&conn).map_err(|e| crate::error::Error::sqlite(path, e))?;
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
