//! Human output: a progress bar per table on a terminal, plain lines off
//! one. Everything but the final summary goes to stderr.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::shown;
use super::{CopySummary, Event, Progress};

/// Off a terminal, a step's progress is one line at most this often (and
/// its first and last), so that a CI log stays readable.
const PLAIN_EVERY: Duration = Duration::from_secs(10);

pub struct Human {
    bars: Option<Bars>,
    quiet: bool,
    /// Print the final summaries on stdout.
    summaries: bool,
    /// Off a terminal, per step: when its last line was written, and the
    /// progress not written yet.
    plain: Mutex<HashMap<String, PlainStep>>,
}

#[derive(Default)]
struct PlainStep {
    last_line: Option<Instant>,
    unwritten: Option<Progress>,
}

struct Bars {
    multi: MultiProgress,
    by_table: Mutex<HashMap<String, ProgressBar>>,
    by_task: Mutex<HashMap<String, ProgressBar>>,
}

impl Human {
    pub fn new(terminal: bool, quiet: bool) -> Human {
        let bars = terminal.then(|| Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(8)),
            by_table: Mutex::new(HashMap::new()),
            by_task: Mutex::new(HashMap::new()),
        });
        Human {
            bars,
            quiet,
            summaries: true,
            plain: Mutex::new(HashMap::new()),
        }
    }

    pub fn with_summaries(self, summaries: bool) -> Human {
        Human { summaries, ..self }
    }

    fn line(&self, text: &str) {
        let text = shown::text(text);
        match &self.bars {
            Some(bars) => {
                let _ = bars.multi.println(text);
            }
            None => eprintln!("{text}"),
        }
    }

    pub fn handle(&self, event: &Event) {
        match event {
            Event::Phase(p) if !self.quiet => self.line(&format!("==> {p}")),
            Event::Info(i) if !self.quiet => self.line(i),
            Event::Warning(w) => self.line(&format!("warning: {w}")),
            Event::TableStarted { table, rows } => {
                if let Some(bars) = &self.bars {
                    let bar = bars.multi.add(ProgressBar::new(*rows));
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{prefix:>24.bold} [{bar:30}] {human_pos:>10}/{human_len:10} rows {msg} ETA {eta}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    );
                    bar.set_prefix(truncate(&shown::name(table), 24));
                    bar.enable_steady_tick(Duration::from_millis(250));
                    bars.by_table
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(table.clone(), bar);
                }
            }
            Event::TableProgress { table, rows, bytes } => {
                if let Some(bars) = &self.bars
                    && let Some(bar) = bars.by_table.lock().unwrap_or_else(|e| e.into_inner()).get(table)
                {
                    bar.set_position(*rows);
                    let secs = bar.elapsed().as_secs_f64().max(1e-3);
                    bar.set_message(format!("{:.1} MB/s", *bytes as f64 / 1e6 / secs));
                }
            }
            Event::TableFinished(t) => match &self.bars {
                Some(bars) => {
                    if let Some(bar) = bars.by_table.lock().unwrap_or_else(|e| e.into_inner()).remove(&t.table) {
                        bar.finish_and_clear();
                    }
                }
                None if !self.quiet => eprintln!(
                    "{}: {} rows, {} in {:.2}s{}",
                    shown::name(&t.table),
                    t.rows,
                    human_bytes(t.bytes),
                    t.seconds,
                    if t.rejects > 0 {
                        format!(", {} rejected", t.rejects)
                    } else {
                        String::new()
                    }
                ),
                None => {}
            },
            Event::Progress(p) if !self.quiet => self.progress(p),
            Event::ProgressDone(task) if !self.quiet => self.progress_done(task),
            Event::CopyFinished(summary) if self.summaries => print_summary(summary),
            Event::VerifyFinished(summary) if self.summaries => print!("{}", shown::text(&summary.human())),
            Event::SyncRound(summary) if self.summaries => println!("{}", shown::text(&summary.human())),
            Event::CutoverFinished(summary) if self.summaries => {
                println!("{}", shown::text(&summary.human()));
            }
            _ => {}
        }
    }
}

impl Human {
    fn progress(&self, p: &Progress) {
        match &self.bars {
            Some(bars) => {
                let mut by_task = bars.by_task.lock().unwrap_or_else(|e| e.into_inner());
                let bar = by_task.entry(p.task.clone()).or_insert_with(|| new_bar(&bars.multi, p));
                if let Some(total) = p.total {
                    bar.set_length(total);
                }
                bar.set_position(p.done);
                bar.set_message(p.detail.clone());
            }
            None => {
                let mut steps = self.plain.lock().unwrap_or_else(|e| e.into_inner());
                let step = steps.entry(p.task.clone()).or_default();
                let now = Instant::now();
                if plain_due(step.last_line, now, p) {
                    eprintln!("{}", shown::text(&plain_line(p)));
                    step.last_line = Some(now);
                    step.unwritten = None;
                } else {
                    step.unwritten = Some(p.clone());
                }
            }
        }
    }

    fn progress_done(&self, task: &str) {
        match &self.bars {
            Some(bars) => {
                if let Some(bar) = bars.by_task.lock().unwrap_or_else(|e| e.into_inner()).remove(task) {
                    bar.finish_and_clear();
                }
            }
            None => {
                // The log ends with the step's last figures.
                let step = self.plain.lock().unwrap_or_else(|e| e.into_inner()).remove(task);
                if let Some(p) = step.and_then(|s| s.unwritten) {
                    eprintln!("{}", shown::text(&plain_line(&p)));
                }
            }
        }
    }
}

fn new_bar(multi: &MultiProgress, p: &Progress) -> ProgressBar {
    let bar = multi.add(match p.total {
        Some(total) => ProgressBar::new(total),
        None => ProgressBar::new_spinner(),
    });
    let counts = match (p.unit, p.total) {
        ("bytes", Some(_)) => "{bytes:>10}/{total_bytes:10}".to_string(),
        ("bytes", None) => "{bytes:>10}".to_string(),
        (unit, Some(_)) => format!("{{human_pos:>8}}/{{human_len:8}} {unit}"),
        (unit, None) => format!("{{human_pos:>8}} {unit}"),
    };
    let template = if p.total.is_some() {
        format!("{{prefix:>24.bold}} [{{bar:30}}] {counts} {{wide_msg}} ETA {{eta}}")
    } else {
        format!("{{prefix:>24.bold}} {{spinner}} {counts} {{wide_msg}}")
    };
    bar.set_style(
        ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(truncate(&shown::name(&p.task), 24));
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

/// Off a terminal: a step's first report, its completion, and otherwise
/// one line per [`PLAIN_EVERY`].
fn plain_due(last_line: Option<Instant>, now: Instant, p: &Progress) -> bool {
    match last_line {
        None => true,
        Some(_) if p.complete() => true,
        Some(last) => now.duration_since(last) >= PLAIN_EVERY,
    }
}

/// `verify: 12/40 tables (users)`, `backup: 3 of 9 tables, 1.2 MB dumped`.
pub fn plain_line(p: &Progress) -> String {
    let count = |n: u64| {
        if p.unit == "bytes" {
            human_bytes(n)
        } else {
            n.to_string()
        }
    };
    let task = shown::name(&p.task);
    let mut line = match p.total {
        Some(total) if p.unit == "bytes" => format!("{task}: {} of {}", count(p.done), count(total)),
        Some(total) => format!("{task}: {}/{} {}", p.done, total, p.unit),
        None if p.unit == "bytes" => format!("{task}: {}", count(p.done)),
        None => format!("{task}: {} {}", p.done, p.unit),
    };
    if !p.detail.is_empty() {
        line.push_str(&format!(" ({})", shown::name(&p.detail)));
    }
    line
}

fn print_summary(s: &CopySummary) {
    let width = s
        .tables
        .iter()
        .map(|t| shown::name(&t.table).chars().count())
        .max()
        .unwrap_or(5)
        .max(5);
    println!();
    println!(
        "{:<width$}  {:>10}  {:>10}  {:>8}  {:>7}",
        "table", "rows", "bytes", "time", "rejects"
    );
    for t in &s.tables {
        println!(
            "{:<width$}  {:>10}  {:>10}  {:>7.2}s  {:>7}",
            shown::name(&t.table),
            t.rows,
            human_bytes(t.bytes),
            t.seconds,
            t.rejects
        );
    }
    let rows: u64 = s.tables.iter().map(|t| t.rows).sum();
    println!(
        "\n{}, {} copied into {} (schema {}) in {:.2}s: {}",
        crate::units::count(s.tables.len(), "table"),
        crate::units::count(usize::try_from(rows).unwrap_or(usize::MAX), "row"),
        s.target,
        s.schema,
        s.seconds,
        s.status
    );
    if !s.phases.is_empty() {
        let phases: Vec<String> = s
            .phases
            .iter()
            .map(|p| format!("{} {:.2}s", short_phase(&p.phase), p.seconds))
            .collect();
        println!("phases: {}", phases.join(", "));
    }
    if !s.not_migrated.is_empty() {
        println!("not migrated (review these):");
        for item in &s.not_migrated {
            println!("  - {}", shown::text(item));
        }
    }
    if !s.warnings.is_empty() {
        println!("warnings ({}):", s.warnings.len());
        for w in &s.warnings {
            println!("  - {}", shown::text(w));
        }
    }
    if let Some(file) = &s.rejects_file {
        println!("rejected rows written to {file}");
    }
}

/// The first words of a phase, for the one-line breakdown.
/// A phase's name for the one-line timing summary: its verb and what it
/// works on, without counts, paths or names ("creating 2 tables in staging
/// schema x" is "creating tables", "reading data/app.db" is "reading").
fn short_phase(phase: &str) -> String {
    let mut words: Vec<&str> = Vec::new();
    for word in phase.split_whitespace() {
        if words.len() == 2 || ["into", "with", "in", "and", "past", "of"].contains(&word) {
            break;
        }
        let bare = word.trim_end_matches(',');
        let named = word.contains(['/', '.', '(', ':']) || bare.chars().all(|c| c.is_ascii_digit());
        if !named {
            words.push(bare);
        }
        if bare.len() != word.len() {
            break;
        }
    }
    words.join(" ")
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

pub fn human_bytes(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{bytes} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phase_is_summed_up_by_its_verb_and_what_it_works_on() {
        for (phase, short) in [
            ("reading bench/out/docs/events.ndjson", "reading"),
            (
                "creating 2 tables in staging schema godwit_staging_1",
                "creating tables",
            ),
            ("copying data with 2 readers and COPY connections", "copying data"),
            ("keys, constraints and defaults", "keys"),
            ("validating 1 constraint and analyzing", "validating constraint"),
            ("publishing into schema public", "publishing"),
            ("emptying 3 tables (--truncate)", "emptying tables"),
            ("moving sequences past the loaded ids", "moving sequences"),
            ("health", "health"),
        ] {
            assert_eq!(short_phase(phase), short, "{phase}");
        }
    }

    #[test]
    fn plain_lines_name_the_step_and_its_counts() {
        let verify = Progress::new("verify", 12, Some(40), "tables", "users");
        assert_eq!(plain_line(&verify), "verify: 12/40 tables (users)");
        let dump = Progress::new("backup", 1_500_000, None, "bytes", "3/9 tables");
        assert_eq!(plain_line(&dump), "backup: 1.5 MB (3/9 tables)");
        let round = Progress::new("sync round", 2, None, "tables", "");
        assert_eq!(plain_line(&round), "sync round: 2 tables");
        for line in [plain_line(&verify), plain_line(&dump)] {
            assert!(!line.contains('\r') && !line.contains('\x1b') && !line.contains('\n'));
        }
    }

    #[test]
    fn plain_lines_are_occasional_but_the_first_and_last_always_show() {
        let start = Instant::now();
        let midway = Progress::new("verify", 5, Some(10), "tables", "");
        let last = Progress::new("verify", 10, Some(10), "tables", "");
        assert!(plain_due(None, start, &midway), "the first report");
        assert!(!plain_due(Some(start), start + Duration::from_secs(1), &midway));
        assert!(plain_due(Some(start), start + PLAIN_EVERY, &midway));
        assert!(plain_due(Some(start), start + Duration::from_secs(1), &last), "the end");
    }
}
