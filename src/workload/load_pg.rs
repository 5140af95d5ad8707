//! The load on PostgreSQL, driven the way pgbench drives it: a few worker
//! threads (`--jobs`, by default one per core), each multiplexing its
//! share of the clients' connections. pgbench's threads wait on all their
//! sockets at once; here each worker is a current-thread tokio runtime and
//! each client a task on it. A thread per client would put 100 threads on
//! 2 cores at 100 clients, and the harness's context switches would show
//! in the figures as the database's latency.
//!
//! Per execution the client reuses its prepared statement and its buffer
//! of parameter values, and counts the rows as they stream in rather than
//! collecting them (the load needs no values; parity checks those).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use postgres::types::ToSql;
use tokio_postgres::{Client, RowStream, Statement};

use super::engine::{PgValue, fill_pg_values, pg_error, pg_types, pooled_begin};
use super::load::{Engine, LoadClass, Outcome, Picker, Recorder, Shared, client_seed, refusal};
use super::params::Param;
use crate::postgres::conn::quote_ident;

/// One client's connection and what it keeps between executions.
struct Session {
    client: Client,
    /// Per (class, statement): prepared once, on first use.
    prepared: std::collections::HashMap<(usize, usize), Statement>,
    /// Through a transaction pooler: how each execution's transaction begins.
    pooled: Option<String>,
    /// The values of the current execution.
    values: Vec<PgValue>,
}

impl Session {
    async fn open(engine: Engine, shared: &Shared) -> crate::error::Result<Session> {
        let options = &shared.options;
        let (spec, pooled) = match engine {
            Engine::Replica => (
                options
                    .replica
                    .as_ref()
                    .ok_or_else(|| crate::error::Error::Usage("no read replica given".into()))?,
                false,
            ),
            _ => (&options.pg, options.pooled),
        };
        let client = spec.connect_async().await?;
        // As `engine::connect_pg`: the copy's schema first, reads only.
        // Through a pooler nothing is set on the session (it would stay
        // behind for other clients); each execution's transaction sets it.
        if !pooled {
            client
                .batch_execute(&format!(
                    "SET search_path TO {}, public; SET default_transaction_read_only = on",
                    quote_ident(&options.schema)
                ))
                .await
                .map_err(|e| crate::error::Error::pg("setting the search path", &e))?;
        }
        Ok(Session {
            client,
            prepared: std::collections::HashMap::new(),
            pooled: pooled.then(|| pooled_begin(&options.schema)),
            values: Vec::new(),
        })
    }

    /// Runs one execution and reads every row.
    async fn run(&mut self, classes: &[LoadClass], class: usize, statement: usize, values: &[Param]) -> Outcome {
        let failed = |e: tokio_postgres::Error| (false, pg_error(&e));
        let st = &classes[class].statements[statement];
        let Some(sql) = &st.target else {
            return Err((false, "not translated".into()));
        };
        fill_pg_values(&mut self.values, &st.parameters, values).map_err(|e| (false, e))?;
        if let Some(begin) = &self.pooled {
            // An unnamed statement with its types given: one round trip
            // through a transaction pooler, which keeps no prepared
            // statements between transactions.
            self.client.batch_execute(begin).await.map_err(failed)?;
            let typed = self
                .values
                .iter()
                .zip(pg_types(&st.parameters))
                .map(|(v, t)| (v as &(dyn ToSql + Sync), t));
            let result = drain(self.client.query_typed_raw(sql, typed).await).await;
            let end = self
                .client
                .batch_execute(if result.is_ok() { "COMMIT" } else { "ROLLBACK" })
                .await;
            result.map_err(failed)?;
            return end.map_err(failed);
        }
        if st.writes {
            self.client.batch_execute("BEGIN READ WRITE").await.map_err(failed)?;
        }
        let prepared = match self.prepared.get(&(class, statement)) {
            Some(s) => Ok(s.clone()),
            None => self.client.prepare(sql).await.inspect(|s| {
                self.prepared.insert((class, statement), s.clone());
            }),
        };
        let outcome = match prepared {
            Ok(stmt) => drain(self.client.query_raw(&stmt, self.values.iter()).await).await,
            Err(e) => Err(e),
        };
        if st.writes {
            self.client.batch_execute("ROLLBACK").await.map_err(failed)?;
        }
        outcome.map_err(failed)
    }
}

/// Reads a result's rows to the end without keeping them.
async fn drain(rows: Result<RowStream, tokio_postgres::Error>) -> Result<(), tokio_postgres::Error> {
    let mut rows = std::pin::pin!(rows?);
    while let Some(row) = rows.next().await {
        row?;
    }
    Ok(())
}

/// Waits for an open loop's scheduled start. tokio's timer counts whole
/// milliseconds, so the task sleeps to within one and then yields until
/// the moment: a late wake-up would otherwise be charged to the query
/// (latency counts from the scheduled start either way).
async fn until(at: Instant) {
    let margin = Duration::from_millis(1);
    if let Some(early) = at.checked_sub(margin)
        && early > Instant::now()
    {
        tokio::time::sleep_until(early.into()).await;
    }
    while Instant::now() < at {
        tokio::task::yield_now().await;
    }
}

/// How many worker threads drive `clients` connections.
pub(super) fn jobs(requested: Option<usize>, clients: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    requested.unwrap_or(cores).clamp(1, clients.max(1))
}

/// Starts the level's worker threads; the clients are dealt out among
/// them. Each worker connects its clients, warms up, waits for every other
/// worker, then runs the measured part. A refused connection stops every
/// worker before anything is measured (see [`Shared::refuse`]).
pub(super) fn workers(engine: Engine, clients: usize, shared: &Arc<Shared>) -> Vec<std::thread::JoinHandle<()>> {
    let jobs = jobs(shared.options.jobs, clients);
    let barrier = Arc::new(Barrier::new(jobs));
    (0..jobs)
        .map(|job| {
            // Clients job, job + jobs, job + 2 jobs, ...
            let mine: Vec<usize> = (job..clients).step_by(jobs).collect();
            let shared = Arc::clone(shared);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || worker(engine, clients, &mine, &shared, &barrier))
        })
        .collect()
}

fn worker(engine: Engine, clients: usize, mine: &[usize], shared: &Arc<Shared>, barrier: &Barrier) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => Some(runtime),
        Err(e) => {
            shared.refuse(format!("could not start a load worker: {e}"));
            None
        }
    };
    // 1. Connect this worker's clients.
    let sessions = runtime.as_ref().map(|rt| {
        rt.block_on(async {
            let mut sessions = Vec::with_capacity(mine.len());
            for _ in mine {
                if shared.is_refused() {
                    break;
                }
                match Session::open(engine, shared).await {
                    Ok(session) => {
                        shared.connected.fetch_add(1, Ordering::Relaxed);
                        sessions.push(session);
                    }
                    Err(e) => shared.refuse(refusal(shared.connected.load(Ordering::Relaxed), clients, &e)),
                }
            }
            sessions
        })
    });
    barrier.wait();
    let (Some(runtime), Some(sessions)) = (runtime, sessions) else {
        barrier.wait();
        return;
    };
    if shared.is_refused() {
        barrier.wait();
        return;
    }
    // 2. Warm-up: caches and plans settle (every class once, then the
    // mix for the warm-up's time); nothing recorded.
    let warm_until = Instant::now() + shared.options.warmup;
    let sessions: Vec<(usize, Session)> = runtime.block_on(async {
        let tasks: Vec<_> = mine
            .iter()
            .copied()
            .zip(sessions)
            .map(|(client, mut session)| {
                let shared = Arc::clone(shared);
                tokio::spawn(async move {
                    let classes = &shared.classes;
                    // Its own draws, apart from the measured part's.
                    let mut picker = Picker::new(classes, !client_seed(shared.options.seed, client));
                    let mut values = Vec::new();
                    for &c in &shared.runnable {
                        let s = picker.values(c, &mut values);
                        let _ = session.run(classes, c, s, &values).await;
                    }
                    while Instant::now() < warm_until
                        && !shared.stop.load(Ordering::Relaxed)
                        && !shared.runnable.is_empty()
                    {
                        let c = picker.class();
                        let s = picker.values(c, &mut values);
                        let _ = session.run(classes, c, s, &values).await;
                    }
                    (client, session)
                })
            })
            .collect();
        let mut warmed = Vec::with_capacity(tasks.len());
        for task in tasks {
            if let Ok(done) = task.await {
                warmed.push(done);
            }
        }
        warmed
    });
    barrier.wait();
    // 3. The measured part: every client a task, its figures merged when
    // it is done.
    runtime.block_on(async {
        let tasks: Vec<_> = sessions
            .into_iter()
            .map(|(client, mut session)| {
                let shared = Arc::clone(shared);
                tokio::spawn(async move {
                    let classes = &shared.classes;
                    let mut picker = Picker::new(classes, client_seed(shared.options.seed, client));
                    let mut values = Vec::new();
                    let mut recorder = Recorder::new(classes.len());
                    let t0 = shared.begin();
                    while let Some(turn) = shared.next(&mut picker, t0) {
                        if let Some(at) = turn.scheduled {
                            until(at).await;
                        }
                        let s = picker.values(turn.class, &mut values);
                        let began = turn.scheduled.unwrap_or_else(Instant::now);
                        let outcome = session.run(classes, turn.class, s, &values).await;
                        recorder.record(&shared, turn.class, outcome, began);
                    }
                    shared.finish(&mut recorder);
                })
            })
            .collect();
        for task in tasks {
            let _ = task.await;
        }
    });
}
