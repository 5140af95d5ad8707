//! `godwit audit enable|status|disable`: an audit trail of the app's writes.
//!
//! Two modes:
//! - **pgaudit**, when the server preloads it: object auditing of INSERT,
//!   UPDATE and DELETE on the audited tables through a dedicated auditor
//!   role (pgaudit logs a statement when that role holds a privilege it
//!   uses), and session auditing of DDL and role changes. Events go to the
//!   server log, lines starting `AUDIT:`.
//! - **trigger**, everywhere else: a row trigger writes each change into
//!   `godwit.audit_log` ([`trigger`]).
//!
//! A server that has pgaudit installed but not preloaded needs a restart:
//! `enable` prints the exact steps and changes nothing ([`Enabled::NeedsRestart`]).
//! See docs/security.md.

pub mod trigger;

use postgres::GenericClient;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::postgres::conn::{ConnSpec, quote_ident, quote_literal};

/// The role whose privileges tell pgaudit which objects to audit.
pub const AUDITOR: &str = "godwit_auditor";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Pgaudit,
    Trigger,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeChoice {
    /// pgaudit when preloaded; steps to preload it when only installed; else triggers.
    Auto,
    Pgaudit,
    Trigger,
}

#[derive(Debug, Clone)]
pub struct AuditOptions {
    pub target: ConnSpec,
    pub schema: String,
    /// The tables to audit; empty means every table of the schema.
    pub tables: Vec<String>,
    pub mode: ModeChoice,
}

/// What the server offers.
#[derive(Debug, Clone, Copy)]
pub struct Server {
    pub pgaudit_installed: bool,
    pub pgaudit_loaded: bool,
}

pub fn server(client: &mut impl GenericClient) -> Result<Server> {
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pgaudit'), \
                    'pgaudit' = ANY(string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ','))",
            &[],
        )
        .map_err(|e| Error::pg("reading shared_preload_libraries", &e))?;
    Ok(Server {
        pgaudit_installed: row.get(0),
        pgaudit_loaded: row.get(1),
    })
}

#[derive(Debug)]
pub enum Enabled {
    On {
        mode: Mode,
        tables: Vec<String>,
    },
    /// pgaudit is installed but not preloaded: these steps (a restart among
    /// them) come first. Nothing was changed.
    NeedsRestart {
        steps: Vec<String>,
    },
}

/// The tables to audit, schema-qualified and quoted, with their primary
/// key columns; a table that does not exist is an error naming it.
fn resolve_tables(client: &mut impl GenericClient, options: &AuditOptions) -> Result<Vec<(String, Vec<String>)>> {
    let rows = client
        .query(
            "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relname::text, coalesce((SELECT array_agg(a.attname::text ORDER BY k.ord) \
                 FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, ord) \
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
                 WHERE i.indrelid = c.oid AND i.indisprimary), '{}') \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition \
               AND (cardinality($2::text[]) = 0 OR c.relname = ANY($2)) ORDER BY 2",
            &[&options.schema, &options.tables],
        )
        .map_err(|e| Error::pg("reading the tables to audit", &e))?;
    let found: Vec<(String, String, Vec<String>)> = rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect();
    for wanted in &options.tables {
        if !found.iter().any(|(_, name, _)| name == wanted) {
            return Err(Error::Usage(format!(
                "no table {} in schema {}: nothing was changed",
                quote_ident(wanted),
                quote_ident(&options.schema)
            )));
        }
    }
    Ok(found.into_iter().map(|(qualified, _, key)| (qualified, key)).collect())
}

fn pg<'a>(context: &'a str) -> impl Fn(postgres::Error) -> Error + 'a {
    move |e| Error::pg(context, &e)
}

pub fn enable(options: &AuditOptions) -> Result<Enabled> {
    let mut client = options.target.connect()?;
    // Everything, the reads included, in one transaction: through a
    // transaction pooler a statement outside one may land in another
    // server session than the one that prepared it.
    let mut tx = client.transaction().map_err(pg("starting the transaction"))?;
    let offer = server(&mut tx)?;
    let mode = match options.mode {
        ModeChoice::Trigger => Mode::Trigger,
        ModeChoice::Pgaudit | ModeChoice::Auto if offer.pgaudit_loaded => Mode::Pgaudit,
        ModeChoice::Pgaudit | ModeChoice::Auto if offer.pgaudit_installed => {
            return Ok(Enabled::NeedsRestart {
                steps: restart_steps(&mut tx)?,
            });
        }
        ModeChoice::Pgaudit => {
            return Err(Error::Usage(
                "pgaudit is not installed on the server (Debian: apt-get install postgresql-15-pgaudit); \
                 --mode trigger audits without it"
                    .into(),
            ));
        }
        ModeChoice::Auto => Mode::Trigger,
    };
    let tables = resolve_tables(&mut tx, options)?;
    match mode {
        Mode::Trigger => {
            tx.batch_execute(&trigger::install_sql())
                .map_err(pg("creating godwit.audit_log and its trigger function"))?;
            for (table, key) in &tables {
                tx.batch_execute(&trigger::attach_sql(table, key))
                    .map_err(|e| Error::pg(format!("adding the audit trigger to {table}"), &e))?;
            }
        }
        Mode::Pgaudit => {
            let db: String = tx
                .query_one("SELECT current_database()::text", &[])
                .map_err(pg("reading the database name"))?
                .get(0);
            let mut sql = String::from("CREATE EXTENSION IF NOT EXISTS pgaudit;\n");
            let exists: bool = tx
                .query_one("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", &[&AUDITOR])
                .map_err(pg("reading pg_roles"))?
                .get(0);
            if !exists {
                sql.push_str(&format!("CREATE ROLE {AUDITOR} NOLOGIN;\n"));
            }
            for (table, _) in &tables {
                sql.push_str(&format!("GRANT INSERT, UPDATE, DELETE ON {table} TO {AUDITOR};\n"));
            }
            // Session auditing of DDL and role changes; statements only,
            // never their parameters (they may hold secrets).
            sql.push_str(&format!(
                "ALTER DATABASE {d} SET pgaudit.role = {r};\n\
                 ALTER DATABASE {d} SET pgaudit.log = 'ddl, role';\n\
                 ALTER DATABASE {d} SET pgaudit.log_parameter = off;\n\
                 ALTER DATABASE {d} SET pgaudit.log_relation = on;\n",
                d = quote_ident(&db),
                r = quote_literal(AUDITOR)
            ));
            tx.batch_execute(&sql).map_err(pg("configuring pgaudit"))?;
        }
    }
    tx.commit().map_err(pg("committing"))?;
    Ok(Enabled::On {
        mode,
        tables: tables.into_iter().map(|(t, _)| t).collect(),
    })
}

/// What a server with pgaudit installed but not loaded needs, in order.
fn restart_steps(client: &mut impl GenericClient) -> Result<Vec<String>> {
    let current: String = client
        .query_one("SELECT current_setting('shared_preload_libraries')", &[])
        .map_err(pg("reading shared_preload_libraries"))?
        .get(0);
    let libraries = if current.trim().is_empty() {
        "pgaudit".to_string()
    } else {
        format!("{},pgaudit", current.replace(' ', ""))
    };
    Ok(vec![
        format!(
            "ALTER SYSTEM SET shared_preload_libraries = {};",
            quote_literal(&libraries)
        ),
        "restart the server (pg_ctl restart, systemctl restart postgresql, or your provider's reboot; \
         on RDS/Cloud SQL set shared_preload_libraries in the parameter group or flags instead)"
            .into(),
        "godwit audit enable again: it checks that pgaudit is loaded, then configures it".into(),
    ])
}

pub fn disable(options: &AuditOptions) -> Result<Vec<String>> {
    let mut client = options.target.connect()?;
    let mut tx = client.transaction().map_err(pg("starting the transaction"))?;
    let audited = audited_tables(&mut tx)?;
    let named: Vec<String> = if options.tables.is_empty() {
        Vec::new()
    } else {
        resolve_tables(&mut tx, options)?.into_iter().map(|(t, _)| t).collect()
    };
    let mut removed = Vec::new();
    for table in audited.triggers.iter().chain(audited.pgaudit.iter()) {
        let wanted = options.tables.is_empty() || named.contains(table);
        if !wanted || removed.contains(table) {
            continue;
        }
        if audited.triggers.contains(table) {
            tx.batch_execute(&trigger::detach_sql(table))
                .map_err(|e| Error::pg(format!("removing the audit trigger of {table}"), &e))?;
        }
        if audited.pgaudit.contains(table) {
            tx.batch_execute(&format!("REVOKE INSERT, UPDATE, DELETE ON {table} FROM {AUDITOR}"))
                .map_err(|e| Error::pg(format!("revoking {AUDITOR}'s privileges on {table}"), &e))?;
        }
        removed.push(table.clone());
    }
    if options.tables.is_empty() && !audited.pgaudit.is_empty() {
        let db: String = tx
            .query_one("SELECT current_database()::text", &[])
            .map_err(pg("reading the database name"))?
            .get(0);
        tx.batch_execute(&format!(
            "ALTER DATABASE {d} RESET pgaudit.role; ALTER DATABASE {d} RESET pgaudit.log; \
             ALTER DATABASE {d} RESET pgaudit.log_parameter; ALTER DATABASE {d} RESET pgaudit.log_relation;",
            d = quote_ident(&db)
        ))
        .map_err(pg("resetting the pgaudit settings"))?;
    }
    tx.commit().map_err(pg("committing"))?;
    Ok(removed)
}

struct Audited {
    /// Tables with godwit's audit trigger.
    triggers: Vec<String>,
    /// Tables the auditor role holds write privileges on.
    pgaudit: Vec<String>,
}

fn audited_tables(client: &mut impl GenericClient) -> Result<Audited> {
    let triggers = client
        .query(
            "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_trigger t \
             JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE t.tgname = $1 ORDER BY 1",
            &[&trigger::TRIGGER],
        )
        .map_err(pg("reading pg_trigger"))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let pgaudit = client
        .query(
            "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1) \
               AND c.relkind IN ('r', 'p') AND has_table_privilege($1, c.oid, 'INSERT') \
               AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
            &[&AUDITOR],
        )
        .map_err(pg("reading the auditor's privileges"))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    Ok(Audited { triggers, pgaudit })
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub pgaudit_installed: bool,
    pub pgaudit_loaded: bool,
    /// pgaudit's session logging classes for this database, when set.
    pub pgaudit_log: Option<String>,
    pub trigger_tables: Vec<String>,
    pub pgaudit_tables: Vec<String>,
    /// The newest row of godwit.audit_log, when there is one.
    pub last_event: Option<String>,
    pub events: i64,
    /// The newest `AUDIT:` line of the server's current log file, when
    /// pgaudit is configured and the log can be read from SQL.
    pub pgaudit_last_event: Option<String>,
    /// Why the pgaudit events could not be read, when they could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pgaudit_log_unreadable: Option<String>,
    /// Steps still missing (pgaudit configured for this database but not loaded).
    pub problems: Vec<String>,
}

impl Status {
    pub fn modes(&self) -> Vec<Mode> {
        let mut modes = Vec::new();
        if !self.pgaudit_tables.is_empty() || self.pgaudit_log.is_some() {
            modes.push(Mode::Pgaudit);
        }
        if !self.trigger_tables.is_empty() {
            modes.push(Mode::Trigger);
        }
        modes
    }
}

pub fn status(target: &ConnSpec) -> Result<Status> {
    let mut client = target.connect()?;
    // One read-only transaction for every read (through a transaction
    // pooler, one server session); dropping the client rolls it back.
    client
        .batch_execute("BEGIN READ ONLY")
        .map_err(pg("starting a read-only transaction"))?;
    let offer = server(&mut client)?;
    let audited = audited_tables(&mut client)?;
    let pgaudit_log: Option<String> = client
        .query_one(
            "SELECT (SELECT substr(s, length('pgaudit.log=') + 1) FROM pg_db_role_setting d \
                     CROSS JOIN LATERAL unnest(d.setconfig) s \
              WHERE d.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                AND d.setrole = 0 AND s LIKE 'pgaudit.log=%')",
            &[],
        )
        .map_err(pg("reading pg_db_role_setting"))?
        .get(0);
    let has_log = crate::postgres::bookkeeping::exists(&mut client, trigger::LOG, "looking for godwit.audit_log")?;
    let (mut last_event, mut events) = (None, 0);
    if has_log {
        let row = client
            .query_one(
                &format!(
                    "SELECT count(*), (SELECT to_char(at, 'YYYY-MM-DD HH24:MI:SS.US TZ') || ' ' || operation || ' on ' \
                            || table_name || coalesce(' key ' || row_key::text, '') || ' by ' || actor \
                       FROM {} ORDER BY id DESC LIMIT 1) FROM {}",
                    trigger::LOG,
                    trigger::LOG
                ),
                &[],
            )
            .map_err(pg("reading godwit.audit_log"))?;
        events = row.get(0);
        last_event = row.get(1);
    }
    let (mut pgaudit_last_event, mut pgaudit_log_unreadable) = (None, None);
    if pgaudit_log.is_some() || !audited.pgaudit.is_empty() {
        match crate::postgres::pooler::tolerate(&mut client, last_pgaudit_line) {
            Ok(line) => pgaudit_last_event = line,
            Err(why) => pgaudit_log_unreadable = Some(why),
        }
    }
    let mut problems = Vec::new();
    if (pgaudit_log.is_some() || !audited.pgaudit.is_empty()) && !offer.pgaudit_loaded {
        problems.push(
            "pgaudit is configured for this database but the server does not preload it: \
             add it to shared_preload_libraries and restart"
                .into(),
        );
    }
    Ok(Status {
        pgaudit_installed: offer.pgaudit_installed,
        pgaudit_loaded: offer.pgaudit_loaded,
        pgaudit_log,
        trigger_tables: audited.triggers,
        pgaudit_tables: audited.pgaudit,
        last_event,
        events,
        pgaudit_last_event,
        pgaudit_log_unreadable,
        problems,
    })
}

/// How much of the end of the server log is searched for the last event.
const LOG_TAIL_BYTES: i64 = 1 << 20;

/// The newest pgaudit line of the server's current log file. pgaudit
/// writes only to the server log, so this reads that file's end through
/// SQL (`pg_current_logfile`, `pg_read_file`): it needs the logging
/// collector on, and superuser or `pg_read_server_files`. Err says which
/// is missing.
fn last_pgaudit_line(client: &mut postgres::Client) -> std::result::Result<Option<String>, String> {
    let file: Option<String> = client
        .query_one("SELECT pg_current_logfile()", &[])
        .map_err(|e| {
            format!(
                "could not ask for the server log: {}",
                crate::postgres::conn::describe_pg_error(&e)
            )
        })?
        .get(0);
    let Some(file) = file else {
        return Err("the server logs to stderr (logging_collector is off), so its log cannot be read                     from SQL: look for `AUDIT:` lines where the server's stderr goes"
            .into());
    };
    let tail = client
        .query_one(
            "SELECT convert_from(pg_read_binary_file($1, greatest(0, (pg_stat_file($1)).size - $2), $2),                     'SQL_ASCII')",
            &[&file, &LOG_TAIL_BYTES],
        )
        .map_err(|e| match e.code().map(postgres::error::SqlState::code) {
            Some("42501") => format!(
                "reading the server log {file} needs superuser or pg_read_server_files;                  look for `AUDIT:` lines there"
            ),
            _ => format!(
                "could not read the server log {file}: {}",
                crate::postgres::conn::describe_pg_error(&e)
            ),
        })?;
    let text: String = tail.get(0);
    Ok(newest_audit_line(&text))
}

/// The last `AUDIT:` line of a log excerpt, cut to a readable length.
fn newest_audit_line(log: &str) -> Option<String> {
    let line = log.lines().rev().find(|l| l.contains("AUDIT: "))?;
    let line = line.trim();
    Some(match line.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::newest_audit_line;

    #[test]
    fn the_newest_audit_line_is_found_among_other_log_lines() {
        let log = "2026-12-06 10:00:00.000 UTC [1] LOG:  AUDIT: OBJECT,1,1,WRITE,INSERT,TABLE,public.payments,insert\n\
                   2026-12-06 10:00:01.000 UTC [1] LOG:  AUDIT: SESSION,2,1,DDL,CREATE TABLE,TABLE,public.x,create\n\
                   2026-12-06 10:00:02.000 UTC [2] LOG:  checkpoint starting: time\n";
        let line = newest_audit_line(log).unwrap();
        assert!(line.contains("AUDIT: SESSION,2,1,DDL,CREATE TABLE"), "{line}");
        assert_eq!(newest_audit_line("LOG:  database system is ready\n"), None);
        let long = format!("LOG:  AUDIT: SESSION,{}", "x".repeat(1000));
        assert_eq!(newest_audit_line(&long).unwrap().chars().count(), 301);
    }
}
