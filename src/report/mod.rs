//! Events in, output out. Commands emit [`Event`]s; the reporter chosen at
//! start decides how they look: progress bars on a terminal, plain log
//! lines otherwise, and a JSON document on stdout with `--json`.

pub mod html;
mod human;
pub mod interrupt;
pub mod shown;

use std::io::IsTerminal;
use std::sync::Mutex;

use serde::Serialize;

/// What a command tells the user about.
#[derive(Debug)]
pub enum Event {
    /// A step of the work began (connecting, creating tables, indexes...).
    Phase(String),
    /// A line of information.
    Info(String),
    /// Something the user should review; it makes the command exit 3.
    Warning(String),
    TableStarted {
        table: String,
        rows: u64,
    },
    TableProgress {
        table: String,
        rows: u64,
        bytes: u64,
    },
    TableFinished(TableSummary),
    /// The final summary of a copy.
    CopyFinished(CopySummary),
    /// The result of `verify`.
    VerifyFinished(Box<dyn Summary>),
    /// One round of `sync`.
    SyncRound(Box<dyn Summary>),
    /// The result of `cutover`.
    CutoverFinished(Box<dyn Summary>),
    /// How far a long step has come: a bar on a terminal, an occasional
    /// line elsewhere.
    Progress(Progress),
    /// The step of that name is over: its bar goes away.
    ProgressDone(String),
}

/// How far a long step has come.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// The step, e.g. "verify" or "backup"; one bar per step.
    pub task: String,
    pub done: u64,
    /// None when the end is not known in advance.
    pub total: Option<u64>,
    /// What `done` counts: "tables", "steps", "bytes"...
    pub unit: &'static str,
    /// The item in hand or just finished, and any other figure.
    pub detail: String,
}

impl Progress {
    pub fn new(task: &str, done: u64, total: Option<u64>, unit: &'static str, detail: impl Into<String>) -> Progress {
        Progress {
            task: task.to_string(),
            done,
            total,
            unit,
            detail: detail.into(),
        }
    }

    /// Done counts every item: the step has reached its end.
    pub fn complete(&self) -> bool {
        self.total.is_some_and(|total| self.done >= total)
    }
}

/// A command's result as report/ renders it. The command owns the type;
/// report/ needs only its two faces, so it imports nothing from above.
pub trait Summary: std::fmt::Debug + Send + Sync {
    /// What a person reads.
    fn human(&self) -> String;
    /// The JSON document, pretty or on one line.
    fn to_json(&self, pretty: bool) -> String;
}

/// [`Summary::to_json`] for any serializable summary.
pub fn json_of<T: Serialize>(summary: &T, pretty: bool) -> String {
    let text = if pretty {
        serde_json::to_string_pretty(summary)
    } else {
        serde_json::to_string(summary)
    };
    text.unwrap_or_default()
}

#[derive(Debug, Clone, Serialize)]
pub struct TableSummary {
    pub table: String,
    pub rows: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub rejects: u64,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct CopySummary {
    pub source: String,
    pub target: String,
    pub schema: String,
    pub tables: Vec<TableSummary>,
    pub warnings: Vec<String>,
    pub not_migrated: Vec<String>,
    pub rejects_file: Option<String>,
    pub seconds: f64,
    pub status: String,
    /// How long each phase took, filled by the reporter from the phase events.
    pub phases: Vec<PhaseTiming>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PhaseTiming {
    pub phase: String,
    pub seconds: f64,
}

/// The `--json` document of a finished command, by kind.
fn document_of(event: &Event) -> Option<(&'static str, serde_json::Value)> {
    let (kind, value) = match event {
        Event::CopyFinished(summary) => ("copy", serde_json::to_value(summary)),
        // Summaries owned by the commands above report/ come as their JSON text.
        Event::VerifyFinished(summary) => ("verify", serde_json::from_str(&summary.to_json(false))),
        Event::CutoverFinished(summary) => ("cutover", serde_json::from_str(&summary.to_json(false))),
        _ => return None,
    };
    value.ok().map(|v| (kind, v))
}

/// Receives events from any thread.
pub struct Reporter {
    mode: Mode,
    /// The documents of finished commands, as `--json` prints them, by kind
    /// ("copy", "verify", "cutover"): what `--html` renders.
    documents: Mutex<Vec<(&'static str, serde_json::Value)>>,
    warnings: Mutex<Vec<String>>,
    phases: Mutex<Vec<(String, std::time::Instant)>>,
}

/// How a command's events are shown.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReportOptions {
    /// A machine-readable JSON document on stdout.
    pub json: bool,
    /// Only errors and the summary.
    pub quiet: bool,
    /// Keep the final summaries to [`Reporter::document`] instead of
    /// printing them (`godwit report` prints its own).
    pub hide_summaries: bool,
}

enum Mode {
    Human(human::Human),
    Json,
}

impl Reporter {
    pub fn new(output: ReportOptions) -> Reporter {
        let mode = if output.json {
            Mode::Json
        } else {
            Mode::Human(
                human::Human::new(std::io::stderr().is_terminal() && !output.quiet, output.quiet)
                    .with_summaries(!output.hide_summaries),
            )
        };
        Reporter {
            mode,
            documents: Mutex::new(Vec::new()),
            warnings: Mutex::new(Vec::new()),
            phases: Mutex::new(Vec::new()),
        }
    }

    /// A reporter that prints nothing, for library callers and tests.
    pub fn silent() -> Reporter {
        Reporter {
            mode: Mode::Human(human::Human::new(false, true)),
            documents: Mutex::new(Vec::new()),
            warnings: Mutex::new(Vec::new()),
            phases: Mutex::new(Vec::new()),
        }
    }

    pub fn emit(&self, mut event: Event) {
        match &mut event {
            Event::Warning(w) => self.warnings.lock().unwrap_or_else(|e| e.into_inner()).push(w.clone()),
            Event::Phase(p) => self
                .phases
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((p.clone(), std::time::Instant::now())),
            Event::CopyFinished(summary) => summary.phases = self.phase_timings(),
            _ => {}
        }
        if let Some(document) = document_of(&event) {
            self.documents.lock().unwrap_or_else(|e| e.into_inner()).push(document);
        }
        match &self.mode {
            Mode::Human(h) => h.handle(&event),
            Mode::Json => {
                // The documents --json promises on stdout.
                match &event {
                    Event::CopyFinished(summary) => {
                        println!("{}", serde_json::to_string_pretty(summary).unwrap_or_default());
                    }
                    Event::VerifyFinished(summary) => println!("{}", summary.to_json(true)),
                    // One line per round, so --watch output is JSON lines.
                    Event::SyncRound(summary) => println!("{}", summary.to_json(false)),
                    Event::CutoverFinished(summary) => println!("{}", summary.to_json(true)),
                    _ => {}
                }
            }
        }
    }

    /// Each phase runs until the next one starts; the last until now.
    fn phase_timings(&self) -> Vec<PhaseTiming> {
        let phases = self.phases.lock().unwrap_or_else(|e| e.into_inner());
        let now = std::time::Instant::now();
        phases
            .iter()
            .enumerate()
            .map(|(i, (phase, start))| PhaseTiming {
                phase: phase.clone(),
                seconds: phases
                    .get(i + 1)
                    .map_or(now, |next| next.1)
                    .duration_since(*start)
                    .as_secs_f64(),
            })
            .collect()
    }

    /// The last document of this kind a finished command gave, exactly as
    /// `--json` prints it.
    pub fn document(&self, kind: &str) -> Option<serde_json::Value> {
        let documents = self.documents.lock().unwrap_or_else(|e| e.into_inner());
        documents.iter().rev().find(|(k, _)| *k == kind).map(|(_, v)| v.clone())
    }

    pub fn warnings(&self) -> Vec<String> {
        self.warnings.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
