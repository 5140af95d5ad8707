//! `godwit workload`: the application's own queries on the source (SQLite)
//! and on its PostgreSQL copy. Parity of their results first, then a
//! concurrency sweep with latency per class, engine and level, targets,
//! plans of the slow classes, and index advice checked with hypothetical
//! indexes. docs/workload.md describes the inputs, the comparison rules
//! and the output.

pub mod advice;
mod django;
mod drift;
pub mod engine;
pub mod explain;
pub mod load;
mod load_pg;
pub mod params;
pub mod parity;
pub mod queries;
pub mod replica;
pub mod report;
pub mod stats;
pub mod translate;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, ExitCode, Result};
use crate::plan::translate::Kind;
use crate::postgres::conn::ConnSpec;
use crate::prepare::{Mapping, Profiling};
use crate::report::{Event, Reporter};
use load::{Amount, Engine, LoadClass, LoadOptions, LoadStatement, LoadValues};
use params::{Param, Pool, Rng};
use parity::{Parity, Verdict};
pub use report::{ClassReport, Summary, WorkloadReport};
use stats::LevelStats;

#[derive(Debug, Clone)]
pub struct WorkloadOptions {
    pub source: String,
    pub queries: PathBuf,
    pub target: ConnSpec,
    pub schema: String,
    pub clients: Vec<usize>,
    pub amount: Amount,
    pub warmup: Duration,
    pub rate: Option<f64>,
    pub seed: u64,
    /// Threads driving PostgreSQL's clients; None: one per core.
    pub jobs: Option<usize>,
    /// Target p95 per class and level.
    pub p95: Option<Duration>,
    /// PostgreSQL's p95 at most this many times SQLite's.
    pub max_ratio: Option<f64>,
    pub parity_only: bool,
    /// Executions compared per class (at least one per distinct statement).
    pub parity_runs: usize,
    /// Send each statement's own text to PostgreSQL instead of translating it.
    pub as_is: bool,
    pub emit_sql: Option<PathBuf>,
    pub advice_to: Option<PathBuf>,
    /// Classes explained besides those that miss a target: the N with the most time.
    pub explain_top: usize,
    /// The load runs on PostgreSQL only (parity still runs on both).
    pub target_only: bool,
    /// Statements that write run in parity, on scratch copies.
    pub writes: bool,
    /// A hot standby: the read-only classes also run there, with its lag sampled.
    pub read_replica: Option<ConnSpec>,
}

/// Executions: (statement index, values).
type Runs = Vec<(usize, Vec<Param>)>;

/// Everything prepared about one class before it runs.
struct Prepared {
    class: queries::Class,
    translated: Vec<translate::Translated>,
    load_values: LoadValues,
    /// Executions for parity: (statement, values).
    runs: Vec<(usize, Vec<Param>)>,
}

pub fn run(mapping: &Mapping, options: &WorkloadOptions, reporter: &Reporter) -> Result<(WorkloadReport, ExitCode)> {
    let queries::Queries {
        classes,
        transaction_control,
    } = queries::read(&options.queries)?;
    reporter.emit(Event::Phase(format!(
        "{} query classes from {}",
        classes.len(),
        options.queries.display()
    )));
    // A SQLite source runs the queries itself; documents have no engine.
    let sqlite = crate::source::sqlite::SqliteSource::open(&options.source).ok();
    let source = crate::source::open_with(&options.source, &mapping.config.documents)?;
    let (_, plan) = crate::prepare::plan_source(source.as_ref(), mapping, Profiling::DatesOnly, reporter)?;
    let catalog = translate::catalog(&plan);
    let sqlite_path = sqlite.as_ref().map(|s| s.path.clone());
    let as_is = options.as_is || sqlite_path.is_none();
    let sqlite_conn = match &sqlite_path {
        Some(p) => Some(engine::connect_sqlite(p, Duration::from_secs(30))?),
        None => None,
    };

    let prepared = prepare(classes, sqlite_conn.as_ref(), &catalog, as_is, options)?;
    if let Some(dir) = &options.emit_sql {
        emit_sql(dir, &prepared)?;
    }

    // --writes: a scratch copy of the SQLite file (the source is never written).
    let scratch_dir = tempfile::tempdir().map_err(|e| Error::io("creating a scratch directory", e))?;
    let scratch = match (&sqlite_conn, options.writes) {
        (Some(conn), true) => {
            let path = scratch_dir.path().join("scratch.db");
            // VACUUM INTO reads the source as it is and leaves it unchanged.
            conn.execute("VACUUM INTO ?1", [path.to_string_lossy()])
                .map_err(|e| Error::sqlite(&path, e))?;
            let conn = rusqlite::Connection::open(&path).map_err(|e| Error::sqlite(&path, e))?;
            django::register(&conn).map_err(|e| Error::sqlite(&path, e))?;
            Some(conn)
        }
        _ => None,
    };
    // Through a transaction pooler every unit of work is one transaction
    // and nothing is set on the session (docs/operations.md).
    let pooled = crate::postgres::pooler::shares_sessions(&options.target)?;
    if pooled && options.writes {
        return Err(Error::Usage(format!(
            "--writes runs each writing statement in a transaction it rolls back, on one server session; {} \
             leads through a transaction pooler: point --to at PostgreSQL directly for --writes",
            options.target
        )));
    }
    if let Some(replica) = &options.read_replica {
        replica::check_standby(replica)?;
    }
    let scratch_path = scratch.as_ref().map(|_| scratch_dir.path().join("scratch.db"));
    let begin = engine::pooled_begin(&options.schema);
    let mut pg = engine::connect_pg(&options.target, &options.schema, pooled)?;
    if pooled {
        pg.batch_execute(&begin)
            .map_err(|e| Error::pg("starting a read-only transaction", &e))?;
    }
    let drift = drift::against_target(&plan, &mut pg, &options.schema)?;
    if pooled {
        pg.batch_execute("ROLLBACK")
            .map_err(|e| Error::pg("ending a read-only transaction", &e))?;
    }
    for mismatch in &drift {
        reporter.emit(Event::Warning(format!(
            "the target is not as the source plans now: {mismatch}; run workload with the copy's config and flags"
        )));
    }
    // Parity.
    let mut parities: Vec<Parity> = Vec::new();
    for (i, p) in prepared.iter().enumerate() {
        if pooled {
            pg.batch_execute(&begin)
                .map_err(|e| Error::pg("starting a read-only transaction", &e))?;
        }
        let parity = match &sqlite_conn {
            Some(conn) => {
                let sources: Vec<&str> = p.class.statements.iter().map(|s| s.numbered.as_str()).collect();
                let mut checker = parity::Checker {
                    sqlite: conn,
                    pg: &mut pg,
                    scratch: scratch.as_ref(),
                };
                checker.class(&p.translated, &sources, &p.runs)
            }
            None => target_only(&mut pg, p),
        };
        if pooled {
            pg.batch_execute("ROLLBACK")
                .map_err(|e| Error::pg("ending a read-only transaction", &e))?;
        }
        reporter.emit(Event::Info(format!(
            "[{}/{}] {}: {}",
            i + 1,
            prepared.len(),
            p.class.name,
            parity.verdict.name()
        )));
        parities.push(parity);
        if crate::report::interrupt::requested() {
            return Err(Error::Interrupted);
        }
    }

    // Load: this session closes so that every connection the server
    // allows can go to the clients.
    drop(pg);
    let mut latency: Vec<(BTreeMap<String, LevelStats>, BTreeMap<String, LevelStats>)> =
        vec![(BTreeMap::new(), BTreeMap::new()); prepared.len()];
    let mut replica_latency: Vec<BTreeMap<String, LevelStats>> = vec![BTreeMap::new(); prepared.len()];
    let mut refused: Vec<String> = Vec::new();
    let mut replica_lag: Option<replica::LagSummary> = None;
    if !options.parity_only {
        let load_classes: Arc<Vec<LoadClass>> = Arc::new(
            prepared
                .iter()
                .map(|p| LoadClass {
                    weight: p.class.weight.max(1),
                    statements: p
                        .class
                        .statements
                        .iter()
                        .zip(&p.translated)
                        .map(|(s, t)| LoadStatement {
                            source: s.numbered.clone(),
                            target: t.target.clone().ok(),
                            parameters: t.parameters.clone(),
                            writes: t.writes,
                        })
                        .collect(),
                    values: p.load_values.clone(),
                })
                .collect(),
        );
        let load_options = LoadOptions {
            amount: options.amount,
            warmup: options.warmup,
            rate: options.rate,
            seed: options.seed,
            sqlite: match &scratch_path {
                Some(path) => path.clone(),
                None => sqlite_path.clone().unwrap_or_default(),
            },
            sqlite_writable: scratch_path.is_some(),
            pg: options.target.clone(),
            schema: options.schema.clone(),
            pooled,
            replica: options.read_replica.clone(),
            jobs: options.jobs,
        };
        // Writes join the load only with --writes: each in a transaction
        // of its own that is rolled back, on SQLite's scratch copy.
        let on_sqlite: Vec<bool> = prepared
            .iter()
            .map(|p| options.writes || !p.translated.iter().any(|t| t.writes))
            .collect();
        let on_pg: Vec<bool> = prepared
            .iter()
            .map(|p| {
                p.translated
                    .iter()
                    .all(|t| t.target.is_ok() && (options.writes || !t.writes))
            })
            .collect();
        // A standby takes reads only: the writing classes stay off it.
        let on_replica: Vec<bool> = prepared
            .iter()
            .map(|p| p.translated.iter().all(|t| t.target.is_ok() && !t.writes))
            .collect();
        for &clients in &options.clients {
            let mut engines: Vec<Engine> = if sqlite_path.is_some() && !options.target_only {
                vec![Engine::Sqlite, Engine::Postgres]
            } else {
                vec![Engine::Postgres]
            };
            if options.read_replica.is_some() {
                engines.push(Engine::Replica);
            }
            for &engine in &engines {
                let engine_name = match engine {
                    Engine::Sqlite => "SQLite",
                    Engine::Postgres => "PostgreSQL",
                    Engine::Replica => "the read replica",
                };
                reporter.emit(Event::Phase(format!("load: {clients} clients on {engine_name}")));
                let runnable = match engine {
                    Engine::Sqlite => &on_sqlite,
                    Engine::Postgres => &on_pg,
                    Engine::Replica => &on_replica,
                };
                let sampler = match (engine, &options.read_replica) {
                    (Engine::Replica, Some(spec)) => Some(replica::LagSampler::start(spec)?),
                    _ => None,
                };
                let result = load::level(
                    engine,
                    clients,
                    &load_classes,
                    runnable,
                    &load_options,
                    &|done, total, p95| {
                        let p95 = p95.map(|ms| format!(", p95 {ms:.1} ms")).unwrap_or_default();
                        reporter.emit(Event::Progress(crate::report::Progress::new(
                            "workload",
                            done,
                            total,
                            "queries",
                            format!("{clients} clients on {engine_name}{p95}"),
                        )));
                        crate::report::interrupt::requested()
                    },
                );
                reporter.emit(Event::ProgressDone("workload".into()));
                if let Some(sampler) = sampler {
                    replica::merge(replica_lag.get_or_insert_with(Default::default), &sampler.finish());
                }
                let result = result?;
                if let Some(why) = result.refused {
                    let line = format!("{clients} clients on {engine_name}: {why}");
                    reporter.emit(Event::Warning(line.clone()));
                    refused.push(line);
                    continue;
                }
                for (i, tally) in result.tallies.iter().enumerate() {
                    if !runnable[i] {
                        continue;
                    }
                    let stats = LevelStats::of(tally, result.seconds);
                    let side = match engine {
                        Engine::Sqlite => &mut latency[i].0,
                        Engine::Postgres => &mut latency[i].1,
                        Engine::Replica => &mut replica_latency[i],
                    };
                    side.insert(clients.to_string(), stats);
                }
                if crate::report::interrupt::requested() {
                    return Err(Error::Interrupted);
                }
            }
        }
    }

    let mut pg = engine::connect_pg(&options.target, &options.schema, pooled)?;
    // Targets.
    let misses: Vec<Vec<String>> = latency
        .iter()
        .map(|(source, target)| report::misses(source, target, options.p95, options.max_ratio))
        .collect();

    // Plans: classes that miss a target, and those with the most time on PostgreSQL.
    let mut chosen: Vec<usize> = (0..prepared.len()).filter(|i| !misses[*i].is_empty()).collect();
    let mut by_time: Vec<(f64, usize)> = latency
        .iter()
        .enumerate()
        .filter_map(|(i, (_, target))| {
            let busiest = target.values().last()?;
            #[allow(clippy::cast_precision_loss)] // counts far below 2^53
            Some((busiest.p50_ms * busiest.executions as f64, i))
        })
        .collect();
    by_time.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (_, i) in by_time.into_iter().take(options.explain_top) {
        if !chosen.contains(&i) {
            chosen.push(i);
        }
    }
    let mut plan_flags: Vec<Vec<String>> = vec![Vec::new(); prepared.len()];
    let mut candidates_data: Vec<(usize, String, Vec<Param>, Vec<explain::Hotspot>)> = Vec::new();
    // Plans and hypothetical indexes live in one server session: not
    // through a transaction pooler.
    if pooled {
        chosen.clear();
    }
    for &i in &chosen {
        let p = &prepared[i];
        let Some((statement, values)) = p.runs.first() else {
            continue;
        };
        let t = &p.translated[*statement];
        let (Ok(sql), false) = (&t.target, t.writes) else {
            continue;
        };
        reporter.emit(Event::Phase(format!("explaining {}", p.class.name)));
        let pg_values = match engine::pg_values(&t.parameters, values) {
            Ok(v) => v,
            Err(e) => {
                plan_flags[i].push(format!("not explained: {e}"));
                continue;
            }
        };
        match explain::analyze(&mut pg, sql, &pg_values) {
            Ok(explained) => {
                plan_flags[i] = explained.flags;
                if !explained.hotspots.is_empty() {
                    candidates_data.push((i, sql.clone(), values.clone(), explained.hotspots));
                }
            }
            Err(e) => plan_flags[i].push(format!("not explained: {e}")),
        }
    }
    let mut advice_unavailable = None;
    let mut suggestions = Vec::new();
    if !chosen.is_empty() {
        match advice::available(&mut pg) {
            Err(why) => advice_unavailable = Some(format!("index advice is unavailable: {why}")),
            Ok(()) if !candidates_data.is_empty() => {
                reporter.emit(Event::Phase("checking index candidates with hypopg".into()));
                let mut candidates = Vec::new();
                for (i, sql, values, hotspots) in &candidates_data {
                    let p = &prepared[*i];
                    let t = &p.translated[p.runs.first().map_or(0, |r| r.0)];
                    if let Ok(values) = engine::pg_values(&t.parameters, values) {
                        candidates.push(advice::Candidate {
                            class: &p.class.name,
                            sql,
                            values,
                            hotspots: hotspots.clone(),
                        });
                    }
                }
                suggestions = advice::advise(&mut pg, &options.schema, &candidates).map_err(|e| Error::Postgres {
                    context: "checking hypothetical indexes".into(),
                    message: e,
                    sqlstate: None,
                })?;
            }
            Ok(()) => {}
        }
    }
    if let Some(dir) = &options.advice_to
        && !suggestions.is_empty()
    {
        write_migration(dir, &suggestions, &options.schema)?;
    }

    let report = report::build(report::Parts {
        prepared: prepared.iter().map(|p| (&p.class, p.translated.as_slice())).collect(),
        parities,
        latency,
        misses,
        plan_flags,
        suggestions,
        advice_unavailable,
        source_engine: sqlite_path.is_some(),
        as_is,
        drift,
        options,
        replica_latency,
        refused,
        replica_lag,
        pooled,
        transaction_control,
    });
    let code = report.exit_code();
    Ok((report, code))
}

/// Document sources: each class runs once on PostgreSQL (errors show).
fn target_only(pg: &mut postgres::Client, p: &Prepared) -> Parity {
    let mut parity = Parity {
        verdict: Verdict::NotCompared,
        executions: 0,
        compared: "not compared: a document source has no query engine; the workload runs on PostgreSQL alone".into(),
        examples: Vec::new(),
    };
    if let Some((statement, values)) = p.runs.first() {
        let t = &p.translated[*statement];
        let result = t.target.clone().and_then(|sql| {
            let v = engine::pg_values(&t.parameters, values)?;
            pg.query(&sql, &engine::as_refs(&v)).map_err(|e| engine::pg_error(&e))
        });
        parity.executions = 1;
        if let Err(e) = result {
            parity.verdict = Verdict::ErrorTarget;
            parity.examples.push(parity::Example {
                params: values.clone(),
                kind: "error_target".into(),
                detail: e,
                source_rows: Vec::new(),
                target_rows: Vec::new(),
            });
        }
    }
    parity
}

fn prepare(
    classes: Vec<queries::Class>,
    sqlite: Option<&rusqlite::Connection>,
    catalog: &crate::plan::translate::Catalog,
    as_is: bool,
    options: &WorkloadOptions,
) -> Result<Vec<Prepared>> {
    let mut pools: HashMap<String, Arc<Pool>> = HashMap::new();
    let mut out = Vec::new();
    for (n, class) in classes.into_iter().enumerate() {
        let (load_values, runs, kinds): (LoadValues, Runs, Vec<Vec<Kind>>) = match &class.values {
            queries::Values::Captured(list) => {
                let kinds = class
                    .statements
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        translate::parameter_kinds(
                            s.parameter_count(),
                            list.iter().filter(|(si, _)| *si == i).map(|(_, v)| v.as_slice()),
                        )
                    })
                    .collect();
                // Every distinct statement once, then more executions up to the budget.
                let mut runs: Vec<(usize, Vec<Param>)> = Vec::new();
                for i in 0..class.statements.len() {
                    if let Some(r) = list.iter().find(|(si, _)| *si == i) {
                        runs.push(r.clone());
                    }
                }
                for r in list {
                    if runs.len() >= options.parity_runs {
                        break;
                    }
                    if !runs.contains(r) {
                        runs.push(r.clone());
                    }
                }
                (LoadValues::Captured(list.clone()), runs, kinds)
            }
            queries::Values::Drawn(specs) => {
                let statement = &class.statements[0];
                let draws = queries::draws_for(statement, specs);
                let mut class_pools = Vec::new();
                for d in draws {
                    let pool = match d {
                        None => None,
                        Some(d) => {
                            let key = format!("{}.{}.{:?}", d.table, d.column, d.distribution);
                            let pool = match pools.get(&key) {
                                Some(p) => Arc::clone(p),
                                None => {
                                    let conn = sqlite.ok_or_else(|| {
                                        Error::Usage(format!(
                                            "{}: -- params: draws from the source's columns, which a document source cannot give; capture the values in a JSON Lines log instead",
                                            class.origin
                                        ))
                                    })?;
                                    let p = Arc::new(Pool::load(conn, d).map_err(|e| Error::Source {
                                        path: options.queries.clone(),
                                        message: format!("{}: {e}", class.origin),
                                    })?);
                                    pools.insert(key, Arc::clone(&p));
                                    p
                                }
                            };
                            Some(pool)
                        }
                    };
                    class_pools.push(pool);
                }
                let mut rng = Rng::new(options.seed ^ u64::try_from(n).unwrap_or(0));
                // Distinct draws only: a class without parameters runs once.
                let mut runs: Vec<(usize, Vec<Param>)> = Vec::new();
                for _ in 0..options.parity_runs.max(1) {
                    let values: Vec<Param> = class_pools
                        .iter()
                        .map(|p| p.as_ref().map_or(Param::Null, |p| p.draw(&mut rng)))
                        .collect();
                    if !runs.iter().any(|(_, v)| *v == values) {
                        runs.push((0, values));
                    }
                }
                let samples: Vec<Vec<Param>> = vec![
                    class_pools
                        .iter()
                        .map(|p| p.as_ref().map_or(Param::Null, |p| p.sample().clone()))
                        .collect(),
                ];
                let kinds = translate::parameter_kinds(
                    statement.parameter_count(),
                    samples.iter().chain(runs.iter().map(|r| &r.1)).map(Vec::as_slice),
                );
                (LoadValues::Drawn(class_pools), runs, vec![kinds])
            }
        };
        let translated = class
            .statements
            .iter()
            .zip(&kinds)
            .map(|(s, k)| translate::statement(s, k, catalog, as_is, options.writes))
            .collect();
        out.push(Prepared {
            class,
            translated,
            load_values,
            runs,
        });
    }
    Ok(out)
}

/// `--emit-sql DIR`: the PostgreSQL text of every class, one file each.
fn emit_sql(dir: &std::path::Path, prepared: &[Prepared]) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    for p in prepared {
        let mut text = format!("-- {} ({})\n", p.class.name, p.class.origin);
        for (s, t) in p.class.statements.iter().zip(&p.translated) {
            text.push_str(&format!("-- SQLite: {}\n", s.written.replace('\n', "\n--   ")));
            match &t.target {
                Ok(sql) => text.push_str(&format!("{sql};\n\n")),
                Err(why) => text.push_str(&format!("-- untranslatable: {why}\n\n")),
            }
        }
        let file: String = p
            .class
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = dir.join(format!("{file}.sql"));
        std::fs::write(&path, text).map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    }
    Ok(())
}

/// `--advice-to DIR`: a new migration with the suggested indexes.
fn write_migration(dir: &std::path::Path, suggestions: &[advice::Suggestion], schema: &str) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let version = chrono::Utc::now().format("%Y%m%d%H%M%S");
    let (up, down) = advice::migration(suggestions, schema);
    for (suffix, text) in [("up", up), ("down", down)] {
        let path = dir.join(format!("{version}_workload_indexes.{suffix}.sql"));
        std::fs::write(&path, text).map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    }
    Ok(())
}
