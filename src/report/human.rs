//! Human output: a progress bar per table on a terminal, plain lines off
//! one. Everything but the final summary goes to stderr.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{CopySummary, Event};

pub struct Human {
    bars: Option<Bars>,
    quiet: bool,
    /// Print the final summaries on stdout.
    summaries: bool,
}

struct Bars {
    multi: MultiProgress,
    by_table: Mutex<HashMap<String, ProgressBar>>,
}

impl Human {
    pub fn new(terminal: bool, quiet: bool) -> Human {
        let bars = terminal.then(|| Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(8)),
            by_table: Mutex::new(HashMap::new()),
        });
        Human {
            bars,
            quiet,
            summaries: true,
        }
    }

    pub fn with_summaries(self, summaries: bool) -> Human {
        Human { summaries, ..self }
    }

    fn line(&self, text: &str) {
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
                    bar.set_prefix(truncate(table, 24));
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
                    t.table,
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
            Event::CopyFinished(summary) if self.summaries => print_summary(summary),
            Event::VerifyFinished(summary) if self.summaries => print!("{}", summary.human()),
            Event::SyncRound(summary) if self.summaries => println!("{}", summary.human()),
            Event::CutoverFinished(summary) if self.summaries => println!("{}", summary.human()),
            _ => {}
        }
    }
}

fn print_summary(s: &CopySummary) {
    let width = s
        .tables
        .iter()
        .map(|t| t.table.chars().count())
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
            t.table,
            t.rows,
            human_bytes(t.bytes),
            t.seconds,
            t.rejects
        );
    }
    let rows: u64 = s.tables.iter().map(|t| t.rows).sum();
    println!(
        "\n{} tables, {} rows copied into {} (schema {}) in {:.2}s: {}",
        s.tables.len(),
        rows,
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
            println!("  - {item}");
        }
    }
    if !s.warnings.is_empty() {
        println!("warnings ({}):", s.warnings.len());
        for w in &s.warnings {
            println!("  - {w}");
        }
    }
    if let Some(file) = &s.rejects_file {
        println!("rejected rows written to {file}");
    }
}

/// The first words of a phase, for the one-line breakdown.
fn short_phase(phase: &str) -> String {
    phase.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
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
