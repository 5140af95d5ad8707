//! The concurrency sweep: at each level, N clients (one connection each)
//! run the classes mixed by weight, after a warm-up. On SQLite each client
//! is a thread; on PostgreSQL a few threads drive all the connections
//! ([`super::load_pg`]), as pgbench does, so the harness is not what is
//! measured.
//! Closed loop by default (each client sends the next query when the last
//! returns); with a rate, an open loop where each execution has a
//! scheduled start and its latency counts from there, so a stall shows.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::engine::{connect_sqlite, connect_sqlite_writable, sqlite_busy};
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
    /// The read replica of `--read-replica`.
    Replica,
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
    /// `pg` leads through a transaction pooler: each execution runs in its
    /// own transaction, as an unnamed statement.
    pub pooled: bool,
    pub replica: Option<ConnSpec>,
    /// Threads that drive PostgreSQL's clients (pgbench's `-j`); None:
    /// one per core, never more than the clients.
    pub jobs: Option<usize>,
}

/// One level's result on one engine: a tally per class, and the time the
/// measured part took.
pub struct LevelResult {
    pub tallies: Vec<Tally>,
    pub seconds: f64,
    /// Not every client could connect (the server's max_connections, say):
    /// how many did, and the server's refusal. Nothing was measured.
    pub refused: Option<String>,
}

/// A SQLite client: SQLite is in-process, so each client is a thread of
/// its own with its own connection (the PostgreSQL side is in
/// [`super::load_pg`]).
struct SqliteSession(rusqlite::Connection);

impl SqliteSession {
    fn open(options: &LoadOptions) -> Result<SqliteSession> {
        Ok(SqliteSession(if options.sqlite_writable {
            connect_sqlite_writable(&options.sqlite, Duration::from_secs(5))?
        } else {
            connect_sqlite(&options.sqlite, Duration::from_secs(5))?
        }))
    }

    /// Runs one execution and reads every row; Err(busy, message).
    fn run(&mut self, classes: &[LoadClass], class: usize, statement: usize, values: &[Param]) -> Outcome {
        let LoadStatement { source, writes, .. } = &classes[class].statements[statement];
        let conn = &self.0;
        let sqlite = |e: rusqlite::Error| (sqlite_busy(&e), e.to_string());
        // A write takes SQLite's one write lock up front; waiting for it is
        // part of the latency, and a wait past the busy timeout is a busy
        // error.
        if *writes {
            conn.execute_batch("BEGIN IMMEDIATE").map_err(sqlite)?;
        }
        let outcome = (|| {
            let mut stmt = conn.prepare_cached(source).map_err(sqlite)?;
            let mut rows = stmt.query(rusqlite::params_from_iter(values.iter())).map_err(sqlite)?;
            while rows.next().map_err(sqlite)?.is_some() {}
            Ok(())
        })();
        if *writes {
            conn.execute_batch("ROLLBACK").map_err(sqlite)?;
        }
        outcome
    }
}

/// One execution's outcome: Err(whether it was SQLite's busy lock, the message).
pub(super) type Outcome = std::result::Result<(), (bool, String)>;

/// Picks classes by weight and values per class.
pub(super) struct Picker<'a> {
    classes: &'a [LoadClass],
    cumulative: Vec<u64>,
    rng: Rng,
}

impl<'a> Picker<'a> {
    pub(super) fn new(classes: &'a [LoadClass], seed: u64) -> Picker<'a> {
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

    pub(super) fn class(&mut self) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0).max(1);
        let x = self.rng.next_u64() % total;
        self.cumulative
            .partition_point(|c| *c <= x)
            .min(self.classes.len().saturating_sub(1))
    }

    /// Draws one execution's values into `values` (a buffer the client
    /// keeps); returns the statement of the class they are for.
    pub(super) fn values(&mut self, class: usize, values: &mut Vec<Param>) -> usize {
        values.clear();
        match &self.classes[class].values {
            LoadValues::Captured(runs) => {
                let (s, v) = &runs[self.rng.below(runs.len())];
                values.extend_from_slice(v);
                *s
            }
            LoadValues::Drawn(pools) => {
                values.extend(
                    pools
                        .iter()
                        .map(|p| p.as_ref().map_or(Param::Null, |p| p.draw(&mut self.rng))),
                );
                0
            }
        }
    }
}

/// What every client of one level shares: the classes (weighted for this
/// engine), the `--count` schedule, the ticket counter that hands out
/// executions, and where the clients' figures are merged.
pub(super) struct Shared {
    pub(super) classes: Vec<LoadClass>,
    schedule: Vec<u32>,
    pub(super) options: LoadOptions,
    /// Classes that run on this engine.
    pub(super) runnable: Vec<usize>,
    ticket: AtomicU64,
    pub(super) stop: AtomicBool,
    start: OnceLock<Instant>,
    finished: Mutex<Vec<Tally>>,
    last_end: Mutex<Option<Instant>>,
    /// Every class's latencies so far, for the live p95: each client adds
    /// its recent ones every 64 executions, so the lock is rarely taken.
    live: Mutex<hdrhistogram::Histogram<u32>>,
    /// How many clients connected, and the refusal that stopped the rest.
    pub(super) connected: AtomicUsize,
    pub(super) refused: Mutex<Option<String>>,
}

/// The next execution a client owes: its class and, in an open loop, when
/// it is due.
pub(super) struct Turn {
    pub(super) class: usize,
    pub(super) scheduled: Option<Instant>,
}

impl Shared {
    /// The measured part's start: the first client past the warm-up sets it.
    pub(super) fn begin(&self) -> Instant {
        *self.start.get_or_init(Instant::now)
    }

    /// Takes the next ticket; None when the level is over (count reached,
    /// time up, or stopped).
    pub(super) fn next(&self, picker: &mut Picker<'_>, t0: Instant) -> Option<Turn> {
        if self.stop.load(Ordering::Relaxed) || self.runnable.is_empty() {
            return None;
        }
        let n = self.ticket.fetch_add(1, Ordering::Relaxed);
        let class = match self.options.amount {
            Amount::Count(_) => *usize::try_from(n).ok().and_then(|i| self.schedule.get(i))? as usize,
            Amount::Duration(_) => picker.class(),
        };
        let scheduled = self.options.rate.map(|r| {
            #[allow(clippy::cast_precision_loss)] // ticket numbers far below 2^53
            let at = n as f64 / r;
            t0 + Duration::from_secs_f64(at)
        });
        if let Amount::Duration(d) = self.options.amount {
            let due = scheduled.unwrap_or_else(Instant::now);
            if due.duration_since(t0) >= d {
                return None;
            }
        }
        Some(Turn { class, scheduled })
    }

    /// A client's figures, merged once it is done.
    pub(super) fn finish(&self, recorder: &mut Recorder) {
        recorder.flush(self);
        let ended = Instant::now();
        let mut all = self.finished.lock().unwrap_or_else(|e| e.into_inner());
        let mut last = self.last_end.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|l| l < ended) {
            *last = Some(ended);
        }
        for (a, t) in all.iter_mut().zip(&recorder.tallies) {
            a.merge(t);
        }
    }

    /// Records that a client could not connect (the first refusal is kept).
    pub(super) fn refuse(&self, why: String) {
        self.refused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(why);
        self.stop.store(true, Ordering::Relaxed);
    }

    pub(super) fn is_refused(&self) -> bool {
        self.refused.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    }
}

/// One client's figures while it runs.
pub(super) struct Recorder {
    tallies: Vec<Tally>,
    recent: hdrhistogram::Histogram<u32>,
}

impl Recorder {
    pub(super) fn new(classes: usize) -> Recorder {
        Recorder {
            tallies: vec![Tally::new(); classes],
            recent: histogram(),
        }
    }

    /// One execution, its latency counted from `began` (the scheduled
    /// start in an open loop).
    pub(super) fn record(&mut self, shared: &Shared, class: usize, outcome: Outcome, began: Instant) {
        let took = u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX).max(1);
        let tally = &mut self.tallies[class];
        match outcome {
            Ok(()) => {
                tally.latency.saturating_record(took);
                self.recent.saturating_record(took);
                if self.recent.len() >= 64 {
                    self.flush(shared);
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

    fn flush(&mut self, shared: &Shared) {
        let _ = shared.live.lock().unwrap_or_else(|e| e.into_inner()).add(&self.recent);
        self.recent.reset();
    }
}

/// Each client's seed: the run's seed mixed with its number.
pub(super) fn client_seed(seed: u64, client: usize) -> u64 {
    seed ^ (client as u64).wrapping_mul(0x9E37_79B9)
}

/// The message of a level the server would not take.
pub(super) fn refusal(connected: usize, clients: usize, error: &crate::error::Error) -> String {
    format!(
        "{connected} of {clients} clients connected, then the server refused: {}",
        crate::postgres::conn::redact_urls(&error.to_string())
    )
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
    let schedule: Vec<u32> = match options.amount {
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
    };
    let weighted: Vec<LoadClass> = classes
        .iter()
        .zip(runnable)
        .map(|(c, run)| LoadClass {
            weight: if *run { c.weight } else { 0 },
            ..c.clone()
        })
        .collect();
    let shared = Arc::new(Shared {
        runnable: (0..weighted.len()).filter(|c| weighted[*c].weight > 0).collect(),
        classes: weighted,
        schedule,
        options: options.clone(),
        ticket: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        start: OnceLock::new(),
        finished: Mutex::new(vec![Tally::new(); classes.len()]),
        last_end: Mutex::new(None),
        live: Mutex::new(histogram()),
        connected: AtomicUsize::new(0),
        refused: Mutex::new(None),
    });
    let handles = match engine {
        Engine::Sqlite => sqlite_clients(clients, &shared),
        Engine::Postgres | Engine::Replica => super::load_pg::workers(engine, clients, &shared),
    };
    // Report progress and watch for Ctrl-C while the level runs.
    let total = match options.amount {
        Amount::Count(_) => Some(shared.schedule.len() as u64),
        Amount::Duration(_) => None,
    };
    let mut polls: u32 = 0;
    while handles.iter().any(|h| !h.is_finished()) {
        // Every 200 ms: the progress figure, and a look for Ctrl-C.
        let done = shared.ticket.load(Ordering::Relaxed);
        let done = total.map_or(done, |t| done.min(t));
        if polls.is_multiple_of(10) && !shared.is_refused() && watch(done, total, live_p95(&shared.live)) {
            shared.stop.store(true, Ordering::Relaxed);
        }
        polls = polls.wrapping_add(1);
        std::thread::sleep(Duration::from_millis(20));
    }
    for h in handles {
        let _ = h.join();
    }
    // A refused connection (max_connections reached, most often) ends the
    // level unmeasured, and says so: a level the server cannot take is a
    // finding, not a crash.
    if let Some(refused) = shared.refused.lock().unwrap_or_else(|e| e.into_inner()).take() {
        return Ok(LevelResult {
            tallies: vec![Tally::new(); classes.len()],
            seconds: 0.0,
            refused: Some(refused),
        });
    }
    // The level's last figure, so its end is seen however short it was.
    let done = shared.ticket.load(Ordering::Relaxed);
    watch(total.map_or(done, |t| done.min(t)), total, live_p95(&shared.live));
    let ended = (*shared.last_end.lock().unwrap_or_else(|e| e.into_inner())).unwrap_or_else(Instant::now);
    let seconds = shared
        .start
        .get()
        .map_or(0.0, |s| ended.duration_since(*s).as_secs_f64());
    let tallies = std::mem::take(&mut *shared.finished.lock().unwrap_or_else(|e| e.into_inner()));
    Ok(LevelResult {
        tallies,
        seconds,
        refused: None,
    })
}

/// SQLite's clients: every connection opened first, then one thread each.
fn sqlite_clients(clients: usize, shared: &Arc<Shared>) -> Vec<std::thread::JoinHandle<()>> {
    let mut sessions = Vec::with_capacity(clients);
    for _ in 0..clients {
        match SqliteSession::open(&shared.options) {
            Ok(session) => sessions.push(session),
            Err(e) => {
                shared.refuse(refusal(sessions.len(), clients, &e));
                return Vec::new();
            }
        }
    }
    let barrier = Arc::new(Barrier::new(clients));
    sessions
        .into_iter()
        .enumerate()
        .map(|(client, mut session)| {
            let shared = Arc::clone(shared);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let classes = &shared.classes;
                let mut picker = Picker::new(classes, client_seed(shared.options.seed, client));
                let mut values = Vec::new();
                // Warm-up: caches and plans settle; nothing recorded.
                let warm_until = Instant::now() + shared.options.warmup;
                for &c in &shared.runnable {
                    let s = picker.values(c, &mut values);
                    let _ = session.run(classes, c, s, &values);
                }
                while Instant::now() < warm_until && !shared.stop.load(Ordering::Relaxed) && !shared.runnable.is_empty()
                {
                    let c = picker.class();
                    let s = picker.values(c, &mut values);
                    let _ = session.run(classes, c, s, &values);
                }
                barrier.wait();
                let t0 = shared.begin();
                let mut recorder = Recorder::new(classes.len());
                while let Some(turn) = shared.next(&mut picker, t0) {
                    if let Some(at) = turn.scheduled {
                        let now = Instant::now();
                        if at > now {
                            std::thread::sleep(at - now);
                        }
                    }
                    let s = picker.values(turn.class, &mut values);
                    let began = turn.scheduled.unwrap_or_else(Instant::now);
                    let outcome = session.run(classes, turn.class, s, &values);
                    recorder.record(&shared, turn.class, outcome, began);
                }
                shared.finish(&mut recorder);
            })
        })
        .collect()
}

/// The p95 so far, in milliseconds; None before the first execution.
fn live_p95(live: &Mutex<hdrhistogram::Histogram<u32>>) -> Option<f64> {
    let h = live.lock().unwrap_or_else(|e| e.into_inner());
    #[allow(clippy::cast_precision_loss)] // microseconds far below 2^53
    let ms = (!h.is_empty()).then(|| h.value_at_quantile(0.95) as f64 / 1000.0);
    ms
}
