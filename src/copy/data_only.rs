//! `copy --data-only`: load into tables the app's framework created.
//!
//! One transaction on one connection, so it is all tables or nothing:
//! tables in foreign-key order (parents first), deferrable constraints
//! deferred for cycles, `--truncate` in the same transaction, then every
//! identity and serial sequence moved past the loaded ids.

use std::collections::BTreeMap;
use std::time::Instant;

use postgres::Client;

use crate::copy::rejects::RejectSink;
use crate::copy::worker::{Chunk, ChunkOutcome, CopyMode, TableCopy, TableProgress, copy_chunk};
use crate::copy::{CopyOptions, CopyOutcome};
use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::plan::retarget::{self, Fit};
use crate::postgres::catalog::{self, TargetTable};
use crate::postgres::conn::quote_ident;
use crate::postgres::conn::{ConnSpec, qualified};
use crate::report::{CopySummary, Event, Reporter, TableSummary, interrupt};
use crate::source::Source;
use crate::source::SourceSchema;

/// A foreign key between two loaded tables, as the target defines it.
struct TargetForeignKey {
    child: String,
    parent: String,
    deferrable: bool,
}

/// The tables the app's framework made in `schema`, looked up before the
/// source is read: a schema with none is a usage error that should not
/// wait for a large file to be learned.
pub fn existing_tables(target: &ConnSpec, schema: &str) -> Result<Vec<TargetTable>> {
    let mut client = target.connect()?;
    let targets = catalog::tables(&mut client, schema)?;
    if targets.is_empty() {
        return Err(Error::Usage(format!(
            "--data-only loads into existing tables, but schema {schema} has none; create the schema with your framework \
             (e.g. `alembic upgrade head`, `manage.py migrate`, `prisma migrate deploy`), or drop --data-only"
        )));
    }
    Ok(targets)
}

pub fn load_into_existing_tables(
    source: &dyn Source,
    schema: &SourceSchema,
    mut plan: Plan,
    targets: &[TargetTable],
    options: &CopyOptions,
    truncate: bool,
    reporter: &Reporter,
) -> Result<CopyOutcome> {
    let started = Instant::now();
    let mut client = options.target.connect()?;
    let Fit { unmatched, .. } = retarget::retarget(&mut plan, schema, targets)?;
    for item in &unmatched {
        reporter.emit(Event::Warning(item.clone()));
    }
    let foreign_keys = target_foreign_keys(&mut client, &options.schema, &plan)?;
    let (order, cycle_notes) = load_order(&plan, &foreign_keys, &mut client)?;
    let mut notes: Vec<String> = cycle_notes;

    let mut reader = source
        .readers(1)?
        .pop()
        .ok_or_else(|| Error::Other("no source reader".into()))?;
    let rejects = RejectSink::new(options.on_error, options.rejects_path.clone());
    client
        .batch_execute("BEGIN; SET CONSTRAINTS ALL DEFERRED")
        .map_err(|e| Error::pg("starting the load transaction", &e))?;
    if notes.iter().any(|n| n.contains("session_replication_role")) {
        client
            .batch_execute("SET LOCAL session_replication_role = replica")
            .map_err(|e| Error::pg("turning foreign-key triggers off for a cycle", &e))?;
    }
    let result = (|| -> Result<Vec<TableSummary>> {
        if truncate {
            let names: Vec<String> = plan
                .tables
                .iter()
                .map(|t| qualified(&options.schema, &t.target))
                .collect();
            reporter.emit(Event::Phase(format!("emptying {} tables (--truncate)", names.len())));
            client
                .batch_execute(&format!("TRUNCATE {}", names.join(", ")))
                .map_err(|e| {
                    Error::pg(
                        "--truncate (a table outside the load references these; load it too, or empty it first)",
                        &e,
                    )
                })?;
        }
        let mut summaries = Vec::new();
        for &i in &order {
            let table = &plan.tables[i];
            if table.columns.is_empty() {
                continue;
            }
            let copy = TableCopy::new(&options.schema, table, &[]);
            let progress = TableProgress::default();
            let _ = progress.started.set(Instant::now());
            reporter.emit(Event::TableStarted {
                table: table.target.clone(),
                rows: table.row_count,
            });
            let outcome = copy_chunk(
                reader.as_mut(),
                &mut client,
                &copy,
                Chunk {
                    range: None,
                    mode: CopyMode::Plain,
                },
                &progress,
                &rejects,
                None,
                &interrupt::requested,
            )
            .map_err(|e| explain_load_error(e, &table.target))?;
            // Data-only profiles every column first, so nothing is speculative.
            if let ChunkOutcome::Unforeseen { column, why } = outcome {
                return Err(Error::Other(format!(
                    "{}.{column} {why}: unexpected after profiling",
                    table.source
                )));
            }
            let summary = TableSummary {
                table: table.target.clone(),
                rows: progress.rows.load(std::sync::atomic::Ordering::Relaxed),
                bytes: progress.bytes.load(std::sync::atomic::Ordering::Relaxed),
                seconds: progress.started.get().map(|s| s.elapsed().as_secs_f64()).unwrap_or(0.0),
                rejects: progress.rejects.load(std::sync::atomic::Ordering::Relaxed),
            };
            reporter.emit(Event::TableFinished(summary.clone()));
            summaries.push(summary);
        }
        if notes.iter().any(|n| n.contains("session_replication_role")) {
            check_foreign_keys(&mut client, &options.schema, &plan)?;
        }
        reporter.emit(Event::Phase("moving sequences past the loaded ids".into()));
        move_sequences(&mut client, &options.schema, &plan)?;
        if interrupt::requested() {
            return Err(Error::Interrupted);
        }
        match crate::copy::origin::gather(source, &plan) {
            Ok(tables) => {
                if let Some(note) = crate::copy::origin::record(&mut client, &options.schema, &plan.source, &tables) {
                    notes.push(note);
                }
            }
            Err(e) => notes.push(format!(
                "could not read the SQLite origin ({e}); a reverse copy will use the generic mapping"
            )),
        }
        client
            .batch_execute("COMMIT")
            .map_err(|e| Error::pg("committing the load (deferred foreign keys are checked here)", &e))?;
        Ok(summaries)
    })();
    let tables = match result {
        Ok(t) => t,
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK");
            return Err(e);
        }
    };
    for t in &plan.tables {
        let _ = client.batch_execute(&format!("ANALYZE {}", qualified(&options.schema, &t.target)));
    }
    let rejected = rejects.count();
    let rejects_file = rejects.finish()?;
    notes.extend(unmatched.iter().cloned());
    let review = rejected > 0 || !unmatched.is_empty();
    Ok(CopyOutcome {
        summary: CopySummary {
            phases: Vec::new(),
            source: plan.source.clone(),
            target: options.target.to_string(),
            schema: options.schema.clone(),
            tables,
            warnings: notes,
            not_migrated: Vec::new(),
            rejects_file: rejects_file.map(|p| p.display().to_string()),
            seconds: started.elapsed().as_secs_f64(),
            status: if review {
                "finished with items to review".into()
            } else {
                "ok".into()
            },
        },
        review,
    })
}

fn explain_load_error(e: Error, table: &str) -> Error {
    match &e {
        Error::Postgres { message, sqlstate, .. } if e.sqlstate() == Some("23505") => Error::Postgres {
            context: format!("loading {table}"),
            message: format!(
                "{message}\n  the table already holds rows with these keys; use --truncate to replace its contents"
            ),
            sqlstate: sqlstate.clone(),
        },
        _ => e,
    }
}

fn target_foreign_keys(client: &mut Client, schema: &str, plan: &Plan) -> Result<Vec<TargetForeignKey>> {
    let rows = client
        .query(
            "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text, c.condeferrable, \
                    cl.relname::text, pl.relname::text \
             FROM pg_constraint c JOIN pg_class cl ON cl.oid = c.conrelid JOIN pg_class pl ON pl.oid = c.confrelid \
             JOIN pg_namespace n ON n.oid = cl.relnamespace \
             WHERE c.contype = 'f' AND n.nspname = $1",
            &[&schema],
        )
        .map_err(|e| Error::pg("reading the target's foreign keys", &e))?;
    let loaded = |name: &str| plan.tables.iter().any(|t| t.target == name);
    Ok(rows
        .iter()
        .map(|r| TargetForeignKey {
            child: r.get(3),
            parent: r.get(4),
            deferrable: r.get(2),
        })
        .filter(|fk| loaded(&fk.child) && loaded(&fk.parent) && fk.child != fk.parent)
        .collect())
}

/// Parents before children. Tables in a cycle are loaded last: when every
/// foreign key in the cycle is deferrable, deferring them is enough; else
/// foreign-key triggers are turned off (superusers only) and the keys are
/// checked by query before commit.
fn load_order(plan: &Plan, fks: &[TargetForeignKey], client: &mut Client) -> Result<(Vec<usize>, Vec<String>)> {
    let index: BTreeMap<&str, usize> = plan
        .tables
        .iter()
        .enumerate()
        .map(|(i, t)| (t.target.as_str(), i))
        .collect();
    let mut done = vec![false; plan.tables.len()];
    let mut order = Vec::new();
    loop {
        let mut progressed = false;
        for (i, t) in plan.tables.iter().enumerate() {
            if done[i] {
                continue;
            }
            let ready = fks
                .iter()
                .filter(|fk| fk.child == t.target)
                .all(|fk| index.get(fk.parent.as_str()).is_none_or(|p| done[*p]));
            if ready {
                done[i] = true;
                order.push(i);
                progressed = true;
            }
        }
        if !progressed {
            break;
        }
    }
    let cyclic: Vec<usize> = (0..plan.tables.len()).filter(|i| !done[*i]).collect();
    if cyclic.is_empty() {
        return Ok((order, Vec::new()));
    }
    let names: Vec<&str> = cyclic.iter().map(|i| plan.tables[*i].target.as_str()).collect();
    order.extend(&cyclic);
    let in_cycle = |n: &str| names.contains(&n);
    let blocking: Vec<&TargetForeignKey> = fks
        .iter()
        .filter(|fk| in_cycle(&fk.child) && in_cycle(&fk.parent) && !fk.deferrable)
        .collect();
    if blocking.is_empty() {
        return Ok((
            order,
            vec![format!(
                "tables {} reference each other; their deferrable foreign keys were deferred to commit",
                names.join(", ")
            )],
        ));
    }
    let superuser: bool = client
        .query_one("SELECT rolsuper FROM pg_roles WHERE rolname = current_user", &[])
        .map(|r| r.get(0))
        .unwrap_or(false);
    if !superuser {
        return Err(Error::Usage(format!(
            "tables {} reference each other through foreign keys that are not DEFERRABLE ({}), so no load order \
             satisfies them. Make those constraints DEFERRABLE in the target schema, or run as a superuser so \
             godwit can turn foreign-key triggers off during the load (it checks the keys before commit).",
            names.join(", "),
            blocking
                .iter()
                .map(|fk| format!("{} → {}", fk.child, fk.parent))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok((
        order,
        vec![format!(
            "tables {} reference each other through non-deferrable foreign keys: foreign-key triggers were turned off \
             for the load (session_replication_role = replica) and every key was checked by query before commit",
            names.join(", ")
        )],
    ))
}

/// With triggers off, checks every foreign key touching the loaded tables
/// by query, and fails (rolling back) on any orphan.
fn check_foreign_keys(client: &mut Client, schema: &str, plan: &Plan) -> Result<()> {
    let rows = client
        .query(
            "SELECT c.conname::text, cl.relname::text, pl.relname::text, \
               (SELECT array_agg(a.attname::text ORDER BY k.ord) FROM unnest(c.conkey) WITH ORDINALITY k(attnum, ord) \
                  JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum), \
               (SELECT array_agg(a.attname::text ORDER BY k.ord) FROM unnest(c.confkey) WITH ORDINALITY k(attnum, ord) \
                  JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum) \
             FROM pg_constraint c JOIN pg_class cl ON cl.oid = c.conrelid JOIN pg_class pl ON pl.oid = c.confrelid \
             JOIN pg_namespace n ON n.oid = cl.relnamespace WHERE c.contype = 'f' AND n.nspname = $1",
            &[&schema],
        )
        .map_err(|e| Error::pg("reading foreign keys", &e))?;
    for row in rows {
        let (name, child, parent): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        let (child_cols, parent_cols): (Vec<String>, Vec<String>) = (row.get(3), row.get(4));
        if !plan.tables.iter().any(|t| t.target == child || t.target == parent) {
            continue;
        }
        let not_null: Vec<String> = child_cols
            .iter()
            .map(|c| format!("c.{} IS NOT NULL", quote_ident(c)))
            .collect();
        let join: Vec<String> = child_cols
            .iter()
            .zip(&parent_cols)
            .map(|(c, p)| format!("p.{} = c.{}", quote_ident(p), quote_ident(c)))
            .collect();
        let sql = format!(
            "SELECT count(*) FROM {} c WHERE {} AND NOT EXISTS (SELECT 1 FROM {} p WHERE {})",
            qualified(schema, &child),
            not_null.join(" AND "),
            qualified(schema, &parent),
            join.join(" AND ")
        );
        let orphans: i64 = client
            .query_one(&sql, &[])
            .map_err(|e| Error::pg(format!("checking foreign key {name}"), &e))?
            .get(0);
        if orphans > 0 {
            return Err(Error::Other(format!(
                "foreign key {name} on {child}: {orphans} loaded row(s) point at no row of {parent}; nothing was written"
            )));
        }
    }
    Ok(())
}

/// Every identity and serial sequence of the loaded tables moves past the
/// largest loaded value, so the app's next insert gets a fresh id.
fn move_sequences(client: &mut Client, schema: &str, plan: &Plan) -> Result<()> {
    for table in &plan.tables {
        crate::postgres::sequences::move_past_max(client, schema, &table.target, None)?;
    }
    Ok(())
}
