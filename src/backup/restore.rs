//! Restoring a backup and proving the result against its manifest.
//!
//! A restore never writes into the target database. It restores into a new
//! database `<target>_godwit_restore_<id>`, proves it (every table's row
//! count and fingerprint), and only then swaps names in one short
//! transaction: the old target is renamed away and the new one takes its
//! name (`ALTER DATABASE ... RENAME` is transactional). A restore killed at
//! any point before that commit leaves the target exactly as it was; the old
//! database is dropped only after the swap committed.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use postgres::Client;

use crate::backup::RestoreOptions;
use crate::backup::dump::{self, LibpqEnv, Tool};
use crate::backup::fingerprint;
use crate::backup::manifest::Manifest;
use crate::error::{Error, Result};
use crate::postgres::conn::{ConnSpec, quote_ident, quote_literal};
use crate::report::{Event, Reporter};

/// PostgreSQL truncates names at 63 bytes.
const MAX_NAME: usize = 63;

/// A database on `server` under a scratch name. Dropped on drop unless
/// kept, so a failed or interrupted run leaves nothing behind.
pub struct ScratchDb {
    server: ConnSpec,
    pub name: String,
    keep: bool,
}

impl ScratchDb {
    pub fn spec(&self) -> ConnSpec {
        self.server.with_dbname(&self.name)
    }

    pub fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        if !self.keep
            && let Ok(mut client) = maintenance_connection(&self.server, &self.name)
        {
            let _ = drop_database(&mut client, &self.name, true);
        }
    }
}

/// A connection to the server on a database other than `avoid` (`postgres`,
/// else `template1`), for CREATE/ALTER/DROP DATABASE.
pub fn maintenance_connection(server: &ConnSpec, avoid: &str) -> Result<Client> {
    let db = if avoid == "postgres" { "template1" } else { "postgres" };
    match server.with_dbname(db).connect() {
        Ok(client) => Ok(client),
        // Some managed servers have no `postgres` database: try the one given.
        Err(_) if server.dbname != avoid => server.connect(),
        Err(e) => Err(e),
    }
}

/// Drops a database; `force` ends its sessions first (PostgreSQL 13+; on
/// older servers a plain DROP is tried).
pub fn drop_database(client: &mut Client, name: &str, force: bool) -> Result<()> {
    let plain = format!("DROP DATABASE IF EXISTS {}", quote_ident(name));
    let outcome = if force {
        client
            .batch_execute(&format!("{plain} WITH (FORCE)"))
            .or_else(|e| match e.code() {
                Some(&postgres::error::SqlState::SYNTAX_ERROR) => client.batch_execute(&plain),
                _ => Err(e),
            })
    } else {
        client.batch_execute(&plain)
    };
    outcome.map_err(|e| Error::pg(format!("dropping database {name}"), &e))
}

/// `<base>_<suffix>` cut to PostgreSQL's name length on a char boundary.
pub fn scratch_name(base: &str, suffix: &str) -> String {
    let room = MAX_NAME.saturating_sub(suffix.len() + 1);
    let mut cut = base.len().min(room);
    while !base.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}_{suffix}", &base[..cut])
}

/// Drops databases left by killed runs (names starting with `prefix`) that
/// nobody uses; one in use belongs to a run still going and stays.
pub fn drop_abandoned(client: &mut Client, prefix: &str, reporter: &Reporter) {
    let Ok(rows) = client.query(
        "SELECT datname::text FROM pg_database WHERE starts_with(datname, $1)",
        &[&prefix],
    ) else {
        return;
    };
    for row in rows {
        let name: String = row.get(0);
        if drop_database(client, &name, false).is_ok() {
            reporter.emit(Event::Info(format!("dropped {name}, left by an interrupted run")));
        }
    }
}

/// Creates `name` like the backed-up database (encoding, locale) and runs
/// pg_restore into it.
pub fn restore_into(
    options: &RestoreOptions,
    name: &str,
    owner: Option<&str>,
    manifest: &Manifest,
    dir: &Path,
    pg_restore: &Tool,
    reporter: &Reporter,
) -> Result<ScratchDb> {
    let server = &options.target;
    let jobs = options.jobs;
    let mut client = maintenance_connection(server, name)?;
    let mut sql = format!(
        "CREATE DATABASE {} TEMPLATE template0 ENCODING {} LC_COLLATE {} LC_CTYPE {}",
        quote_ident(name),
        quote_literal(&manifest.encoding),
        quote_literal(&manifest.lc_collate),
        quote_literal(&manifest.lc_ctype)
    );
    if let Some(icu) = &manifest.icu_locale {
        sql.push_str(&format!(" LOCALE_PROVIDER icu ICU_LOCALE {}", quote_literal(icu)));
    }
    if let Some(owner) = owner {
        sql.push_str(&format!(" OWNER {}", quote_ident(owner)));
    }
    client
        .batch_execute(&sql)
        .map_err(|e| Error::pg(format!("creating database {name}"), &e))?;
    let scratch = ScratchDb {
        server: server.clone(),
        name: name.to_string(),
        keep: false,
    };
    drop(client);
    reporter.emit(Event::Phase(format!(
        "restoring into {name} with pg_restore {} ({}) -j {jobs}",
        pg_restore.number(),
        pg_restore.path.display()
    )));
    let env = LibpqEnv::new(&scratch.spec())?;
    let mut command = Command::new(&pg_restore.path);
    command
        .arg("--format=directory")
        .arg(format!("--jobs={jobs}"))
        .arg("--exit-on-error")
        .arg(format!("--dbname={name}"));
    if options.no_owner {
        command.args(["--no-owner", "--no-privileges"]);
    }
    command.arg(dir);
    env.apply(&mut command);
    dump::run(command, "pg_restore")?;
    Ok(scratch)
}

/// Compares a restored database with the manifest: the same tables, and
/// in each the same row count and fingerprint. Returns the differences.
pub fn prove(spec: &ConnSpec, manifest: &Manifest, jobs: usize) -> Result<Vec<String>> {
    if manifest.fingerprint_method != fingerprint::METHOD {
        return Err(Error::Backup(format!(
            "backup {} was fingerprinted as \"{}\", which this godwit does not compute; use the godwit \
             version that made it ({})",
            manifest.id, manifest.fingerprint_method, manifest.godwit_version
        )));
    }
    let mut client = fingerprint::open_session(spec, None)?;
    let found = fingerprint::list_tables(&mut client)?;
    drop(client);
    let mut differences = Vec::new();
    for table in &found {
        if !manifest
            .tables
            .iter()
            .any(|t| t.schema == table.schema && t.name == table.name)
        {
            differences.push(format!(
                "table {}.{}: restored, but not in the backup",
                table.schema, table.name
            ));
        }
    }
    let restored = fingerprint::fingerprint_tables(spec, &found, jobs, None)?;
    for expected in &manifest.tables {
        match restored
            .iter()
            .find(|t| t.schema == expected.schema && t.name == expected.name)
        {
            None => differences.push(format!(
                "table {}: in the backup, missing after restore",
                expected.qualified()
            )),
            Some(got) if got.rows != expected.rows => differences.push(format!(
                "table {}: {} rows in the backup, {} after restore",
                expected.qualified(),
                expected.rows,
                got.rows
            )),
            Some(got) if got.fingerprint != expected.fingerprint => differences.push(format!(
                "table {}: same {} rows, but the content fingerprint differs",
                expected.qualified(),
                expected.rows
            )),
            Some(_) => {}
        }
    }
    Ok(differences)
}

/// How many tables a database holds outside the system schemas; None when
/// it does not exist.
pub fn table_count(server: &ConnSpec, name: &str) -> Result<Option<i64>> {
    let mut client = maintenance_connection(server, name)?;
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .map_err(|e| Error::pg("looking for the target database", &e))?
        .is_some();
    drop(client);
    if !exists {
        return Ok(None);
    }
    let mut target = server.with_dbname(name).connect()?;
    let row = target
        .query_one(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind IN ('r', 'p')
                AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                AND n.nspname NOT LIKE 'pg\\_toast%'",
            &[],
        )
        .map_err(|e| Error::pg(format!("counting tables in {name}"), &e))?;
    Ok(Some(row.get(0)))
}

pub fn owner_of(server: &ConnSpec, name: &str) -> Result<Option<String>> {
    let mut client = maintenance_connection(server, name)?;
    let row = client
        .query_opt(
            "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .map_err(|e| Error::pg("reading the target's owner", &e))?;
    Ok(row.map(|r| r.get(0)))
}

/// Puts `restored` in the place of `target` in one transaction; the old
/// target (if any) is renamed to `old` and dropped after the commit.
/// Sessions on the old target are ended first; a session that reconnects
/// in between makes the rename fail, and the swap is retried.
pub fn swap(server: &ConnSpec, target: &str, scratch: ScratchDb, old: &str, reporter: &Reporter) -> Result<()> {
    let mut client = maintenance_connection(server, target)?;
    let target_exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&target])
        .map_err(|e| Error::pg("looking for the target database", &e))?
        .is_some();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let outcome = (|| -> std::result::Result<(), postgres::Error> {
            let mut tx = client.transaction()?;
            if target_exists {
                tx.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                      WHERE datname = $1 AND pid <> pg_backend_pid()",
                    &[&target],
                )?;
                tx.batch_execute(&format!(
                    "ALTER DATABASE {} RENAME TO {}",
                    quote_ident(target),
                    quote_ident(old)
                ))?;
            }
            tx.batch_execute(&format!(
                "ALTER DATABASE {} RENAME TO {}",
                quote_ident(&scratch.name),
                quote_ident(target)
            ))?;
            tx.commit()
        })();
        match outcome {
            Ok(()) => break,
            Err(e) if attempt < 5 => {
                reporter.emit(Event::Info(format!(
                    "swap attempt {attempt} failed ({}); retrying",
                    crate::postgres::conn::describe_pg_error(&e)
                )));
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => return Err(Error::pg(format!("swapping {} into {target}", scratch.name), &e)),
        }
    }
    // The scratch database now is the target: never drop it.
    scratch.keep();
    if target_exists {
        drop_database(&mut client, old, true)?;
    }
    Ok(())
}
