//! Whether a URL leads to a transaction-pooling proxy (PgBouncer in
//! transaction or statement mode, and the like), which hands one server
//! session to another client as soon as a transaction ends.
//!
//! Through such a pooler whatever outlives a transaction is lost or, worse,
//! left behind for another client: session-level advisory locks, `SET`
//! without LOCAL, named prepared statements, temporary tables. godwit's
//! read-only commands keep each unit of work inside one transaction and
//! work through it; the commands that need one session for their whole run
//! (copy, sync, migrate, maintain, backup) refuse with [`refuse`].
//!
//! The probe: two client connections open at once. Straight to PostgreSQL
//! they are two backends with two pids, always, and each keeps its pid.
//! Through a transaction pooler the second client's transaction runs on the
//! server session the first one just released (PgBouncer reuses the most
//! recently released one), so both report the same backend pid; or, where
//! the pooler picks sessions round-robin, one client reports a different
//! pid from one transaction to the next. A session pooler keeps them apart
//! and each on its own, and that is right: session pooling breaks nothing
//! godwit does.

use postgres::{Client, SimpleQueryMessage};

use super::conn::ConnSpec;
use crate::error::{Error, Result};

fn backend_pid(client: &mut Client) -> Result<String> {
    let messages = client
        .simple_query("SELECT pg_backend_pid()")
        .map_err(|e| Error::pg("probing for a connection pooler", &e))?;
    messages
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .ok_or_else(|| Error::Other("probing for a connection pooler: no backend pid".into()))
}

/// True when two open sessions to `spec` were served by one backend.
pub fn shares_sessions(spec: &ConnSpec) -> Result<bool> {
    let mut first = spec.connect()?;
    let mut second = spec.connect()?;
    // A few rounds: on a busy pooler another client may take the released
    // session in between; a direct connection never matches. A pooler
    // that picks server sessions round-robin (PgBouncer's
    // server_round_robin) shows itself the other way: the first client's
    // second transaction, right after its first, runs in the next backend
    // in line, which a direct session never does. (Alternating the two
    // clients alone would not show it: with two server sessions each
    // client would keep getting its own.)
    for _ in 0..3 {
        let a = backend_pid(&mut first)?;
        let again = backend_pid(&mut first)?;
        let b = backend_pid(&mut second)?;
        if a != again || a == b || again == b {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Refuses `command` when `spec` leads through a transaction pooler, saying
/// what needs the one session and what to do instead.
///
/// A probe that cannot connect (a database restore creates, a server still
/// starting) lets the command go on: it reports its own connection errors,
/// in its own words, and a pooler is then found by the next run.
pub fn refuse(spec: &ConnSpec, command: &str, needs: &str) -> Result<()> {
    if shares_sessions(spec).unwrap_or(false) {
        return Err(Error::Usage(format!(
            "{command} needs one server session for its whole run ({needs}), and {spec} leads through a \
             transaction-pooling proxy (PgBouncer in transaction mode or the like) that hands sessions to \
             other clients between transactions; nothing was changed. Point {command} at PostgreSQL \
             directly (the server's own host and port, e.g. `godwit local url`) and keep the pooled URL \
             for the application"
        )));
    }
    Ok(())
}

/// Runs `f` so that its failure does not abort the transaction around it
/// (a savepoint), for the queries a read-only report tolerates failing (a
/// permission, a lock). Outside a transaction block the savepoint is
/// refused and `f` runs as it is.
pub fn tolerate<T, E>(
    client: &mut Client,
    f: impl FnOnce(&mut Client) -> std::result::Result<T, E>,
) -> std::result::Result<T, E> {
    let in_block = client.batch_execute("SAVEPOINT godwit_tolerate").is_ok();
    let out = f(client);
    if in_block {
        let undo = if out.is_err() {
            "ROLLBACK TO SAVEPOINT godwit_tolerate; RELEASE SAVEPOINT godwit_tolerate"
        } else {
            "RELEASE SAVEPOINT godwit_tolerate"
        };
        let _ = client.batch_execute(undo);
    }
    out
}
