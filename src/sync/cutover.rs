//! `godwit cutover`: sync rounds until what is left is small, then hold
//! the source's writers (they wait; they are not refused) for a final
//! round and a check of the ranges it changed, then let them go.

use std::time::Instant;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::prepare::Mapping;
use crate::report::{Event, Reporter};
use crate::source::Source;
use crate::sync::{RoundSummary, SyncOptions, Syncer};

/// Catch-up rounds run before the pause at most.
const MAX_ROUNDS: usize = 10;
/// Changes a round may still find for the next one to be the final one.
const SMALL_ROUND: u64 = 1_000;

#[derive(Debug, Clone, Serialize)]
pub struct CutoverSummary {
    pub source: String,
    pub target: String,
    pub schema: String,
    /// Rounds run while the app kept writing.
    pub rounds: Vec<RoundSummary>,
    /// The round run with the writers held: every write committed before
    /// the pause is in PostgreSQL.
    pub final_round: RoundSummary,
    /// Rows that still differ in the ranges the final round changed (0).
    pub differences: u64,
    /// How long the source's writers waited.
    pub source_paused_s: f64,
    pub next_steps: Vec<String>,
}

impl CutoverSummary {
    pub fn human(&self) -> String {
        let mut out = format!(
            "cutover: {} catch-up round(s); final round with writes held: {} inserted, {} updated, {} deleted; \
             checked: {} rows differ; source paused {:.3}s",
            self.rounds.len(),
            self.final_round.inserted,
            self.final_round.updated,
            self.final_round.deleted,
            self.differences,
            self.source_paused_s
        );
        for step in &self.next_steps {
            out.push_str(&format!("\nnext: {step}"));
        }
        out
    }
}

pub fn run(
    source: &dyn Source,
    mapping: &Mapping,
    options: &SyncOptions,
    reporter: &Reporter,
) -> Result<CutoverSummary> {
    let rerun = format!("godwit cutover {} --to {}", source.display_name(), options.target);
    let mut syncer = crate::sync::retry::retrying(reporter, &rerun, &mut 0, || {
        Syncer::prepare(source, mapping, options, reporter)
    })?;
    syncer.rerun_with(rerun);
    let mut rounds = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let (summary, _) = syncer.round(None, reporter)?;
        reporter.emit(Event::Info(summary.human()));
        let small = summary.changes() <= SMALL_ROUND;
        rounds.push(summary);
        if small {
            break;
        }
    }
    reporter.emit(Event::Phase("holding the source's writers for the final round".into()));
    let Some(hold) = source.hold_writers()? else {
        return Err(Error::Usage(format!(
            "{} cannot hold its writers; stop the app, then run godwit sync once more",
            source.display_name()
        )));
    };
    let paused = Instant::now();
    let result = (|| -> Result<(RoundSummary, RoundSummary)> {
        let syncer = &mut syncer;
        let (last, changed) = syncer.round(None, reporter)?;
        let (check, _) = syncer.round(Some(&changed), reporter)?;
        Ok((last, check))
    })();
    let released = hold.release();
    let source_paused_s = paused.elapsed().as_secs_f64();
    let (final_round, check) = result?;
    released?;
    let url = options.target.to_string();
    let next_steps = vec![
        format!("point the app at PostgreSQL now ({url}, schema {})", options.schema),
        "writes the app makes to SQLite from here on are not copied; \
         `godwit verify SOURCE --to URL` lists them as missing rows"
            .to_string(),
        format!(
            "to go back: stop the app, then `godwit copy {url} --to sqlite:PATH` writes the app's SQLite file again"
        ),
    ];
    Ok(CutoverSummary {
        source: source.display_name(),
        target: url,
        schema: options.schema.clone(),
        rounds,
        differences: check.changes(),
        final_round,
        source_paused_s,
        next_steps,
    })
}
