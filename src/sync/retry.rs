//! A round that loses its server (a restart, a failover, a dropped
//! connection) runs again.
//!
//! That is always safe: a round writes in one transaction that commits
//! last, so a lost connection either rolled it back (the target and its
//! fingerprints are at the previous snapshot) or, when it went while
//! committing, committed it whole (at this round's snapshot). Either way
//! the next round starts from what the target holds and finds the rest.
//! Connecting again waits for the server as `--connect-timeout` allows.
//! When the server stays away, the round fails with a message that says
//! so and what to run next.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::report::{Event, Reporter};

/// Times a round runs again after losing its server.
pub const ATTEMPTS_AFTER_LOSS: u32 = 3;

/// Whether an error means the server or the connection went away, rather
/// than something the round did: a shutdown (57P01 admin, 57P02 crash), a
/// server that cannot take connections yet (57P03), a connection failure
/// (class 08), or a connection the driver found closed.
pub fn connection_lost(error: &Error) -> bool {
    match error {
        Error::Postgres { message, .. } => {
            error.sqlstate().is_some_and(lost_code) || lost_text(message.lines().next().unwrap_or(""))
        }
        Error::Io { source, .. } => {
            let driver = source
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<postgres::Error>());
            match driver {
                Some(e) => match e.as_db_error() {
                    Some(db) => lost_code(db.code().code()),
                    None => e.is_closed() || lost_text(&e.to_string()),
                },
                None => matches!(
                    source.kind(),
                    std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::BrokenPipe
                        | std::io::ErrorKind::UnexpectedEof
                ),
            }
        }
        _ => false,
    }
}

fn lost_code(code: &str) -> bool {
    matches!(code, "57P01" | "57P02" | "57P03") || code.starts_with("08")
}

/// The driver's own words for a connection that went away (it has no
/// SQLSTATE then).
fn lost_text(text: &str) -> bool {
    [
        "connection closed",
        "error communicating with the server",
        "connection refused",
    ]
    .iter()
    .any(|t| text.contains(t))
}

/// Runs `round` again while it loses its server, at most
/// [`ATTEMPTS_AFTER_LOSS`] more times, counting the runs again in
/// `retries`. `command` is what to run again when the server stays away
/// ("godwit sync ...").
pub fn retrying<T>(
    reporter: &Reporter,
    command: &str,
    retries: &mut u32,
    mut round: impl FnMut() -> Result<T>,
) -> Result<T> {
    let mut first_loss: Option<Error> = None;
    let mut attempt: u32 = 0;
    loop {
        match round() {
            Err(e) if connection_lost(&e) => {
                // Connecting already waited as long as --connect-timeout allows.
                let waited = e.to_string().contains("gave up after");
                let first = first_loss.get_or_insert_with(|| clone_of(&e));
                if attempt == ATTEMPTS_AFTER_LOSS || waited {
                    let first = first_loss.take().unwrap_or_else(|| clone_of(&e));
                    return Err(gave_up(first, (attempt > 0).then_some(&e), command));
                }
                attempt += 1;
                *retries += 1;
                reporter.emit(Event::Info(format!(
                    "lost the connection to PostgreSQL during the round ({first}); nothing of it is half \
                     written: running it again (attempt {} of {})",
                    attempt + 1,
                    ATTEMPTS_AFTER_LOSS + 1
                )));
                if crate::report::interrupt::requested() {
                    return Err(Error::Interrupted);
                }
                // A server that restarts refuses connections for a moment;
                // connecting waits for it (--connect-timeout).
                std::thread::sleep(Duration::from_millis(500 << attempt));
            }
            other => return other,
        }
    }
}

/// The parts of an error a message needs (errors are not Clone).
fn clone_of(error: &Error) -> Error {
    match error {
        Error::Postgres {
            context,
            message,
            sqlstate,
        } => Error::Postgres {
            context: context.clone(),
            message: message.clone(),
            sqlstate: sqlstate.clone(),
        },
        other => Error::Other(other.to_string()),
    }
}

/// The error a round gives up with: the loss (its first line keeps the
/// SQLSTATE), how the last attempt ended, the state the target is in, and
/// what to run next.
fn gave_up(first: Error, last: Option<&Error>, command: &str) -> Error {
    let state = "the target and its sync fingerprints are consistent: at the previous round's \
                 snapshot (the round rolled back), or at this round's if the connection went while \
                 it committed";
    let next = format!("run `{command}` again once PostgreSQL accepts connections; it picks up from either");
    let then = last.map(|e| format!("\n  then: {e}")).unwrap_or_default();
    match first {
        Error::Postgres {
            context,
            message,
            sqlstate,
        } => Error::Postgres {
            context: format!("lost the connection to PostgreSQL during the sync round, {context}"),
            message: format!("{message}{then}\n  {state}\n  next: {next}"),
            sqlstate,
        },
        other => Error::Other(format!(
            "lost the connection to PostgreSQL during the sync round: {other}{then}\n  {state}\n  next: {next}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shutdown_is_a_lost_connection_and_a_constraint_is_not() {
        let shutdown = Error::Postgres {
            context: "reading target table t".into(),
            message: "terminating connection due to administrator command (57P01)".into(),
            sqlstate: Some("57P01".into()),
        };
        assert!(connection_lost(&shutdown));
        let closed = Error::Postgres {
            context: "committing the round".into(),
            message: "connection closed".into(),
            sqlstate: None,
        };
        assert!(connection_lost(&closed));
        let unique = Error::Postgres {
            context: "writing t".into(),
            message: "duplicate key value violates unique constraint \"t_pkey\" (23505)".into(),
            sqlstate: Some("23505".into()),
        };
        assert!(!connection_lost(&unique));
        assert!(!connection_lost(&Error::Other("connection closed".into())));
    }

    #[test]
    fn giving_up_says_the_state_and_the_next_step_and_keeps_the_sqlstate() {
        let refused = Error::Postgres {
            context: "connecting to postgresql://h/db".into(),
            message: "connection refused; gave up after 10s".into(),
            sqlstate: None,
        };
        let e = gave_up(
            Error::Postgres {
                context: "reading target table t".into(),
                message: "terminating connection due to administrator command (57P01)".into(),
                sqlstate: Some("57P01".into()),
            },
            Some(&refused),
            "godwit sync app.db --to URL",
        );
        assert_eq!(e.sqlstate(), Some("57P01"));
        let text = e.to_string();
        assert!(
            text.contains("then: connecting to postgresql://h/db: connection refused"),
            "{text}"
        );
        assert!(text.contains("previous round's snapshot"), "{text}");
        assert!(text.contains("next: run `godwit sync app.db --to URL` again"), "{text}");
    }
}
