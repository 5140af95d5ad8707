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

    /// A PostgreSQL error, with what godwit was doing at the time, and the
    /// server's SQLSTATE when the server sent one.
    #[error("{context}: {message}")]
    Postgres {
        context: String,
        message: String,
        sqlstate: Option<String>,
    },

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
            message: describe_pg_error(err),
            sqlstate: err.code().map(|code| code.code().to_string()),
        }
    }

    /// The SQLSTATE of a server error, as the server sent it.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            Error::Postgres { sqlstate, .. } => sqlstate.as_deref(),
            _ => None,
        }
    }

    pub fn sqlite(path: &std::path::Path, source: rusqlite::Error) -> Self {
        Error::Sqlite {
            path: path.to_path_buf(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Replaces the password part of any `scheme://user:password@` in `text`.
pub fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (before, after) = rest.split_at(pos + 3);
        out.push_str(before);
        let end = after
            .find(|c: char| c.is_whitespace() || c == '/' || c == '"' || c == '\'')
            .unwrap_or(after.len());
        let authority = &after[..end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..colon]);
                        out.push_str(":********");
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// The server's message with its detail and hint, or the driver's text.
pub fn describe_pg_error(err: &postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => {
            let mut text = String::new();
            if let Some(words) = server_condition(db.code().code()) {
                text.push_str(words);
                text.push_str(": ");
            }
            text.push_str(&format!("{} ({})", db.message(), db.code().code()));
            if let Some(detail) = db.detail() {
                text.push_str(&format!("\n  detail: {detail}"));
            }
            if let Some(hint) = db.hint() {
                text.push_str(&format!("\n  hint: {hint}"));
            }
            redact_urls(&text)
        }
        None => {
            let mut text = err.to_string();
            let mut source = std::error::Error::source(err);
            while let Some(s) = source {
                text.push_str(&format!(": {s}"));
                source = s.source();
            }
            redact_urls(&text)
        }
    }
}

/// What a server-side condition means for the user, in our words, for the
/// SQLSTATEs that are about the server's resources rather than the data:
/// the server's own message names a file or a block, not the remedy.
pub fn server_condition(sqlstate: &str) -> Option<&'static str> {
    Some(match sqlstate {
        DISK_FULL => {
            "the server's disk is full (No space left on device); \
             free space or grow the disk, then run the same command again"
        }
        "53200" => "the server ran out of memory; lower the load on it or raise its memory, then run again",
        "53300" => "the server refuses more connections (max_connections reached); use fewer jobs or raise it",
        _ => return None,
    })
}

/// SQLSTATE 53100: the server could not write, for want of disk space.
pub const DISK_FULL: &str = "53100";

/// The same condition seen in the text a client program (pg_restore,
/// pg_dump) prints, which carries no SQLSTATE: PostgreSQL says either the
/// OS's ENOSPC text or, for a short write, "could not extend file" with its
/// "Check free disk space." hint.
pub fn server_condition_in_text(lines: &[String]) -> Option<&'static str> {
    let disk_full = lines.iter().any(|line| {
        line.contains("No space left on device")
            || line.contains("could not extend file")
            || line.contains("Check free disk space")
    });
    disk_full.then(|| server_condition(DISK_FULL)).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstate_is_data_never_read_back_from_the_message() {
        let e = Error::Postgres {
            context: "writing into t".into(),
            message: "duplicate key value violates unique constraint \"t_name_key\" (23505)".into(),
            sqlstate: Some("23505".into()),
        };
        assert_eq!(e.sqlstate(), Some("23505"));
        let e = Error::Postgres {
            context: "connecting".into(),
            message: "gave up (08006)".into(),
            sqlstate: None,
        };
        assert_eq!(e.sqlstate(), None, "a code in the text is not a SQLSTATE");
        assert_eq!(Error::Other("x (23505)".into()).sqlstate(), None);
    }

    #[test]
    fn a_full_disk_is_named_in_our_words_whether_the_write_failed_or_fell_short() {
        let short_write = [
            "pg_restore: error: COPY failed for table \"orders\": ERROR:  could not extend file \"base/1/2\": wrote only 4096 of 8192 bytes at block 58".to_string(),
            "HINT:  Check free disk space.".to_string(),
        ];
        let enospc = ["ERROR:  could not write to file \"base/1/3\": No space left on device".to_string()];
        for lines in [&short_write[..], &enospc[..]] {
            let words = server_condition_in_text(lines).unwrap();
            assert!(words.contains("disk is full"), "{words}");
        }
        assert_eq!(
            server_condition_in_text(&["ERROR:  relation \"t\" does not exist".to_string()]),
            None
        );
        assert_eq!(server_condition(DISK_FULL), server_condition_in_text(&enospc));
        assert_eq!(server_condition("23505"), None, "data errors keep their own message");
    }
}
