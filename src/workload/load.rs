//! The concurrency sweep: at each level, N clients (one thread and one
//! connection each) run the classes mixed by weight, after a warm-up.
//! Closed loop by default (each client sends the next query when the last
//! returns); with a rate, an open loop where each execution has a
//! scheduled start and its latency counts from there, so a stall shows.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::engine::{as_refs, connect_pg, connect_sqlite, connect_sqlite_writable, pg_error, pg_values, sqlite_busy};
use super::params::{Param, Pool, Rng};
use super::stats::{Tally, histogram};
use crate::error::Result;
use crate::plan::translate::Parameter;
use crate::postgres::conn::ConnSpec;

/// Where a class's values come from during the load.
#[derive(Debug, Clone)]
pub enum LoadValues {
    Captured(Vec<(usize, Vec<Param>)>),
    /// One pool per parameter index (None: NULL).
    Drawn(Vec<Option<Arc<Pool>>>),
}

/// A class as the load runs it.
#[derive(Debug, Clone)]
pub struct LoadClass {
    pub weight: u32,
    pub statements: Vec<LoadStatement>,
    pub values: LoadValues,
}

/// One statement of a class, as each engine runs it.
#[derive(Debug, Clone)]
pub struct LoadStatement {
    pub source: String,
    /// None: not run on PostgreSQL.
    pub target: Option<String>,
    pub parameters: Vec<Parameter>,
    /// It changes data: run in a transaction of its own, then rolled back
    /// (only with `--writes`, on SQLite's scratch copy).
    pub writes: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, Copy)]
pub enum Amount {
    /// Time per level.
    Duration(Duration),
    /// Executions of each class per level.
    Count(u64),
}

#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub amount: Amount,
    pub warmup: Duration,
    /// Open loop at this many executions per second (all clients together).
    pub rate: Option<f64>,
    pub seed: u64,
    /// The SQLite file the clients read: the source, or with `--writes`
    /// its scratch copy (the source is never written).
    pub sqlite: std::path::PathBuf,
    /// Open SQLite read-write (for `--writes`).
    pub sqlite_writable: bool,
    pub pg: ConnSpec,
    pub schema: String,
}

/// One level's result on one engine: a tally per class, and the time the
/// measured part took.
pub struct LevelResult {
    pub tallies: Vec<Tally>,
    pub seconds: f64,
}

enum Session {
    Sqlite(rusqlite::Connection),
    Postgres {
        client: Box<postgres::Client>,
        prepared: std::collections::HashMap<(usize, usize), postgres::Statement>,
    },
}

impl Session {
    fn open(engine: Engine, options: &LoadOptions) -> Result<Session> {
        Ok(match engine {
            Engine::Sqlite if options.sqlite_writable => {
                Session::Sqlite(connect_sqlite_writable(&options.sqlite, Duration::from_secs(5))?)
            }
            Engine::Sqlite => Session::Sqlite(connect_sqlite(&options.sqlite, Duration::from_secs(5))?),
            Engine::Postgres => Session::Postgres {
                client: Box::new(connect_pg(&options.pg, &options.schema)?),
                prepared: std::collections::HashMap::new(),
            },
        })
    }

    /// Runs one execution and reads every row; Err(busy, message).
    fn run(
        &mut self,
        classes: &[LoadClass],
        class: usize,
        statement: usize,
        values: &[Param],
    ) -> std::result::Result<(), (bool, String)> {
        let LoadStatement {
            source: source_sql,
            target: target_sql,
            parameters,
            writes,
        } = &classes[class].statements[statement];
        match self {
            Session::Sqlite(conn) => {
                let sqlite = |e: rusqlite::Error| (sqlite_busy(&e), e.to_string());
                // A write takes SQLite's one write lock up front; waiting
                // for it is part of the latency, and a wait past the busy
                // timeout is a busy error.
                if *writes {
                    conn.execute_batch("BEGIN IMMEDIATE").map_err(sqlite)?;
                }
                let outcome = (|| {
                    let mut stmt = conn.prepare_cached(source_sql).map_err(sqlite)?;
                    let mut rows = stmt.query(rusqlite::params_from_iter(values.iter())).map_err(sqlite)?;
                    while rows.next().map_err(sqlite)?.is_some() {}
                    Ok(())
                })();
                if *writes {
                    conn.execute_batch("ROLLBACK").map_err(sqlite)?;
                }
                outcome
            }
            Session::Postgres { client, prepared } => {
                let Some(sql) = target_sql else {
                    return Err((false, "not translated".into()));
                };
                if *writes {
                    client
                        .batch_execute("BEGIN READ WRITE")
                        .map_err(|e| (false, pg_error(&e)))?;
                }
                let stmt = match prepared.get(&(class, statement)) {
                    Some(s) => s.clone(),
                    None => {
                        let s = client.prepare(sql).map_err(|e| (false, pg_error(&e)))?;
                        prepared.insert((class, statement), s.clone());
                        s
                    }
                };
                let values = pg_values(parameters, values).map_err(|e| (false, e))?;
                let outcome = client
                    .query(&stmt, &as_refs(&values))
                    .map(|_| ())
                    .map_err(|e| (false, pg_error(&e)));
                if *writes {
                    client.batch_execute("ROLLBACK").map_err(|e| (false, pg_error(&e)))?;
                }
                outcome
            }
        }
    }
}

/// Picks classes by weight and values per class.
struct Picker<'a> {
    classes: &'a [LoadClass],
    cumulative: Vec<u64>,
    rng: Rng,
}

impl<'a> Picker<'a> {
    fn new(classes: &'a [LoadClass], seed: u64) -> Picker<'a> {
        let mut total = 0u64;
        let cumulative = classes
            .iter()
            .map(|c| {
                total += u64::from(c.weight);
                total
            })
            .collect();
        Picker {
            classes,
            cumulative,
            rng: Rng::new(seed),
        }
    }

    fn class(&mut self) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0).max(1);
        let x = self.rng.next_u64() % total;
        self.cumulative
            .partition_point(|c| *c <= x)
            .min(self.classes.len().saturating_sub(1))
    }

    fn values(&mut self, class: usize) -> (usize, Vec<Param>) {
        match &self.classes[class].values {
            LoadValues::Captured(runs) => {
                let (s, v) = &runs[self.rng.below(runs.len())];
                (*s, v.clone())
            }
            LoadValues::Drawn(pools) => (
                0,
                pools
                    .iter()
                    .map(|p| p.as_ref().map_or(Param::Null, |p| p.draw(&mut self.rng)))
                    .collect(),
            ),
        }
    }
}

/// Runs one level on one engine. `runnable[class]`: whether the class runs
/// on this engine (an untranslated class does not run on PostgreSQL).
/// `watch(done, total, p95_ms)` is called while the level runs, with the
/// executions started so far (and the level's total under `--count`) and
/// the p95 so far over every class; it returns true to stop the level
/// (Ctrl-C).
pub fn level(
    engine: Engine,
    clients: usize,
    classes: &Arc<Vec<LoadClass>>,
    runnable: &[bool],
    options: &LoadOptions,
    watch: &dyn Fn(u64, Option<u64>, Option<f64>) -> bool,
) -> Result<LevelResult> {
    let clients = clients.max(1);
    // The whole schedule for --count: each class N times, shuffled.
    let schedule: Arc<Vec<u32>> = Arc::new(match options.amount {
        Amount::Count(n) => {
            let mut s: Vec<u32> = Vec::new();
            for (i, _) in classes.iter().enumerate().filter(|(i, _)| runnable[*i]) {
                let i = u32::try_from(i).unwrap_or(u32::MAX);
                s.extend(std::iter::repeat_n(i, usize::try_from(n).unwrap_or(usize::MAX)));
            }
            let mut rng = Rng::new(options.seed);
            for k in (1..s.len()).rev() {
                s.swap(k, rng.below(k + 1));
            }
            s
        }
        Amount::Duration(_) => Vec::new(),
    });
    let weighted: Arc<Vec<LoadClass>> = Arc::new(
        classes
            .iter()
            .zip(runnable)
            .map(|(c, run)| LoadClass {
                weight: if *run { c.weight } else { 0 },
                ..c.clone()
            })
            .collect(),
    );
    // Connect everyone first: a connection failure stops the level early.
    let mut sessions = Vec::with_capacity(clients);
    for _ in 0..clients {
        sessions.push(Session::open(engine, options)?);
    }
    let ticket = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(clients));
    let start: Arc<OnceLock<Instant>> = Arc::new(OnceLock::new());
    let finished: Arc<Mutex<Vec<Tally>>> = Arc::new(Mutex::new(vec![Tally::new(); classes.len()]));
    let last_end: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    // Every class's latencies so far, for the live p95: each worker adds
    // its recent ones every 64 executions, so the lock is rarely taken.
    let live = Arc::new(Mutex::new(histogram()));
    let mut handles = Vec::new();
    for (worker, mut session) in sessions.into_iter().enumerate() {
        let last_end = Arc::clone(&last_end);
        let live = Arc::clone(&live);
        let (weighted, schedule, ticket, stop, barrier, start, finished) = (
            Arc::clone(&weighted),
            Arc::clone(&schedule),
            Arc::clone(&ticket),
            Arc::clone(&stop),
            Arc::clone(&barrier),
            Arc::clone(&start),
            Arc::clone(&finished),
        );
        let options = options.clone();
        handles.push(std::thread::spawn(move || {
            let mut picker = Picker::new(&weighted, options.seed ^ (worker as u64).wrapping_mul(0x9E37_79B9));
            let mut tallies = vec![Tally::new(); weighted.len()];
            let mut recent = histogram();
            let flush = |recent: &mut hdrhistogram::Histogram<u32>| {
                let _ = live.lock().unwrap_or_else(|e| e.into_inner()).add(&*recent);
                recent.reset();
            };
            // Warm-up: caches, plans and connections settle; nothing recorded.
            let warm_until = Instant::now() + options.warmup;
            let runnable_classes: Vec<usize> = (0..weighted.len()).filter(|c| weighted[*c].weight > 0).collect();
            for &c in &runnable_classes {
                let (s, v) = picker.values(c);
                let _ = session.run(&weighted, c, s, &v);
            }
            while Instant::now() < warm_until && !stop.load(Ordering::Relaxed) && !runnable_classes.is_empty() {
                let c = picker.class();
                let (s, v) = picker.values(c);
                let _ = session.run(&weighted, c, s, &v);
            }
            barrier.wait();
            let t0 = *start.get_or_init(Instant::now);
            loop {
                if stop.load(Ordering::Relaxed) || runnable_classes.is_empty() {
                    break;
                }
                let n = ticket.fetch_add(1, Ordering::Relaxed);
                let class = match options.amount {
                    Amount::Count(_) => match usize::try_from(n).ok().and_then(|i| schedule.get(i)) {
                        Some(c) => *c as usize,
                        None => break,
                    },
                    Amount::Duration(_) => picker.class(),
                };
                let scheduled = options.rate.map(|r| {
                    #[allow(clippy::cast_precision_loss)] // ticket numbers far below 2^53
                    let at = n as f64 / r;
                    t0 + Duration::from_secs_f64(at)
                });
                if let Amount::Duration(d) = options.amount {
                    let due = scheduled.unwrap_or_else(Instant::now);
                    if due.duration_since(t0) >= d {
                        break;
                    }
                }
                if let Some(at) = scheduled {
                    let now = Instant::now();
                    if at > now {
                        std::thread::sleep(at - now);
                    }
                }
                let (s, v) = picker.values(class);
                let began = scheduled.unwrap_or_else(Instant::now);
                let result = session.run(&weighted, class, s, &v);
                let took = u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX).max(1);
                let tally = &mut tallies[class];
                match result {
                    Ok(()) => {
                        tally.latency.saturating_record(took);
                        recent.saturating_record(took);
                        if recent.len() >= 64 {
                            flush(&mut recent);
                        }
                    }
                    Err((busy, message)) => {
                        tally.errors += 1;
                        if busy {
                            tally.busy += 1;
                        }
                        tally.first_error.get_or_insert(message);
                    }
                }
            }
            flush(&mut recent);
            let ended = Instant::now();
            let mut all = finished.lock().unwrap_or_else(|e| e.into_inner());
            let mut last = last_end.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_none_or(|l| l < ended) {
                *last = Some(ended);
            }
            for (a, t) in all.iter_mut().zip(&tallies) {
                a.merge(t);
            }
        }));
    }
    // Report progress and watch for Ctrl-C while the level runs.
    let total = match options.amount {
        Amount::Count(_) => Some(schedule.len() as u64),
        Amount::Duration(_) => None,
    };
    let mut polls: u32 = 0;
    while handles.iter().any(|h| !h.is_finished()) {
        // Every 200 ms: the progress figure, and a look for Ctrl-C.
        let done = ticket.load(Ordering::Relaxed);
        let done = total.map_or(done, |t| done.min(t));
        if polls.is_multiple_of(10) && watch(done, total, live_p95(&live)) {
            stop.store(true, Ordering::Relaxed);
        }
        polls = polls.wrapping_add(1);
        std::thread::sleep(Duration::from_millis(20));
    }
    // The level's last figure, so its end is seen however short it was.
    let done = ticket.load(Ordering::Relaxed);
    watch(total.map_or(done, |t| done.min(t)), total, live_p95(&live));
    for h in handles {
        let _ = h.join();
    }
    let ended = (*last_end.lock().unwrap_or_else(|e| e.into_inner())).unwrap_or_else(Instant::now);
    let seconds = start.get().map_or(0.0, |s| ended.duration_since(*s).as_secs_f64());
    let tallies = std::mem::take(&mut *finished.lock().unwrap_or_else(|e| e.into_inner()));
    Ok(LevelResult { tallies, seconds })
}

/// The p95 so far, in milliseconds; None before the first execution.
fn live_p95(live: &Mutex<hdrhistogram::Histogram<u32>>) -> Option<f64> {
    let h = live.lock().unwrap_or_else(|e| e.into_inner());
    #[allow(clippy::cast_precision_loss)] // microseconds far below 2^53
    let ms = (!h.is_empty()).then(|| h.value_at_quantile(0.95) as f64 / 1000.0);
    ms
}
