//! Typed errors and the documented exit codes they map to.
//!
//! Exit codes (also in README.md and `godwit --help`):
//! 0 ok · 1 failed, target unchanged · 2 usage or config error ·
//! 3 finished with items to review · 4 verify found differences.

use std::path::PathBuf;

/// The exit codes godwit documents. Kept in one place so the binary, the
/// reporters and the tests agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    Ok = 0,
    Failed = 1,
    Usage = 2,
    Review = 3,
    Different = 4,
}

impl ExitCode {
    pub fn code(self) -> i32 {
        self as i32
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad flags, a bad config file, or a request that cannot be expressed.
    #[error("{0}")]
    Usage(String),

    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },

    #[error("source {path}: {message}")]
    Source { path: PathBuf, message: String },

    #[error("sqlite error reading {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    /// A PostgreSQL error, with what godwit was doing at the time.
    #[error("{context}: {message}")]
    Postgres { context: String, message: String },

    /// A value that does not fit its target column, under `--on-error stop`.
    #[error(
        "table {table}, row {key}, column {column}: {reason} (value: {value}); \
         nothing was written. Use --on-error skip to load the other rows, or a [[cast]] in godwit.toml"
    )]
    Reject {
        table: String,
        key: String,
        column: String,
        reason: String,
        value: String,
    },

    /// The target already holds what the copy would create.
    #[error("{0}")]
    TargetExists(String),

    #[error("interrupted; the target is unchanged")]
    Interrupted,

    /// A migration run that stopped: a failing statement, failed validation,
    /// lint errors or an interruption. The message says what stays applied.
    #[error("{0}")]
    Migrate(String),

    #[error("local cluster: {0}")]
    Local(String),

    /// A backup, restore or backup store that could not do its work.
    #[error("{0}")]
    Backup(String),

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Usage(_) | Error::Config { .. } => ExitCode::Usage,
            _ => ExitCode::Failed,
        }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// Wraps a PostgreSQL error with context, taking the server's message,
    /// detail and hint rather than the driver's terse "db error".
    pub fn pg(context: impl Into<String>, err: &postgres::Error) -> Self {
        Error::Postgres {
            context: context.into(),
            message: crate::postgres::conn::describe_pg_error(err),
        }
    }

    /// The SQLSTATE of a server error (`describe_pg_error` ends the
    /// message's first line with it in parentheses).
    pub fn sqlstate(&self) -> Option<&str> {
        let Error::Postgres { message, .. } = self else {
            return None;
        };
        let first = message.lines().next()?;
        let code = first.strip_suffix(')')?.rsplit_once('(')?.1;
        (code.len() == 5 && code.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(code)
    }

    pub fn sqlite(path: &std::path::Path, source: rusqlite::Error) -> Self {
        Error::Sqlite {
            path: path.to_path_buf(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstate_comes_from_the_server_message() {
        let e = Error::Postgres {
            context: "writing into t".into(),
            message: "duplicate key value violates unique constraint \"t_name_key\" (23505)\n  detail: Key (name)=(beta) already exists.".into(),
        };
        assert_eq!(e.sqlstate(), Some("23505"));
        let e = Error::Postgres {
            context: "connecting".into(),
            message: "connection refused (os error 111)".into(),
        };
        assert_eq!(e.sqlstate(), None);
        assert_eq!(Error::Other("x (23505)".into()).sqlstate(), None);
    }
}
