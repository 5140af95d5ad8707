//! Files and history rows combined: what is applied, pending, changed,
//! missing or out of order.

use std::collections::BTreeMap;

use super::files::MigrationFile;
use super::history::AppliedRow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryState {
    /// Applied, and the file matches what was applied.
    Applied,
    /// The baseline row written by `migrate baseline`.
    Baseline,
    /// A file at or below the baseline: counts as applied, never runs.
    BelowBaseline,
    Pending,
    /// Pending, but older than the newest applied migration.
    OutOfOrder,
    /// Applied, and the file changed since.
    Changed,
    /// Applied, and the file is gone.
    Missing,
}

impl EntryState {
    pub fn label(self) -> &'static str {
        match self {
            EntryState::Applied => "applied",
            EntryState::Baseline => "baseline",
            EntryState::BelowBaseline => "below baseline",
            EntryState::Pending => "pending",
            EntryState::OutOfOrder => "OUT OF ORDER",
            EntryState::Changed => "CHANGED",
            EntryState::Missing => "MISSING",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub version: i64,
    pub name: String,
    pub state: EntryState,
    pub file: Option<MigrationFile>,
    pub applied: Option<AppliedRow>,
}

impl Entry {
    pub fn label(&self) -> String {
        format!("{}_{}", self.version, self.name)
    }

    /// One sentence on what is wrong and what to do, for problem states.
    pub fn problem(&self) -> Option<String> {
        let label = self.label();
        match self.state {
            EntryState::Changed => Some(format!(
                "{label}: file changed after it was applied (checksum {} recorded, {} on disk); \
                 restore the file, or review the change and run `godwit migrate repair`",
                short(self.applied.as_ref().and_then(|a| a.checksum.as_deref())),
                short(self.file.as_ref().map(|f| f.checksum.as_str()))
            )),
            EntryState::Missing => Some(format!(
                "{label}: applied but its file is missing; restore it, or run `godwit migrate repair --forget-missing`"
            )),
            EntryState::OutOfOrder => Some(format!(
                "{label}: pending but older than the newest applied migration; \
                 rename it to a newer version or run `up --allow-out-of-order`"
            )),
            _ => None,
        }
    }
}

fn short(checksum: Option<&str>) -> String {
    checksum.map_or_else(|| "none".to_string(), |c| c.chars().take(12).collect())
}

#[derive(Debug, Clone)]
pub struct State {
    pub entries: Vec<Entry>,
}

impl State {
    pub fn build(files: &[MigrationFile], rows: &[AppliedRow]) -> State {
        let newest_applied = rows.iter().map(|r| r.version).max();
        let baseline = rows.iter().filter(|r| r.is_baseline()).map(|r| r.version).max();
        let mut by_version: BTreeMap<i64, Entry> = BTreeMap::new();
        for row in rows {
            let state = if row.is_baseline() {
                EntryState::Baseline
            } else {
                EntryState::Missing
            };
            by_version.insert(
                row.version,
                Entry {
                    version: row.version,
                    name: row.name.clone(),
                    state,
                    file: None,
                    applied: Some(row.clone()),
                },
            );
        }
        for file in files {
            let entry = by_version.entry(file.version).or_insert_with(|| Entry {
                version: file.version,
                name: file.name.clone(),
                state: EntryState::Pending,
                file: None,
                applied: None,
            });
            entry.file = Some(file.clone());
            entry.state = match (&entry.applied, entry.state) {
                (Some(_), EntryState::Baseline) => EntryState::Baseline,
                (Some(row), _) if row.checksum.as_deref() == Some(file.checksum.as_str()) => EntryState::Applied,
                (Some(_), _) => EntryState::Changed,
                (None, _) if baseline.is_some_and(|b| file.version <= b) => EntryState::BelowBaseline,
                (None, _) if newest_applied.is_some_and(|n| file.version < n) => EntryState::OutOfOrder,
                (None, _) => EntryState::Pending,
            };
            if entry.state != EntryState::Applied {
                entry.name = file.name.clone();
            }
        }
        State {
            entries: by_version.into_values().collect(),
        }
    }

    /// Files still to run, oldest first (out-of-order ones included).
    pub fn pending(&self) -> Vec<&Entry> {
        self.entries
            .iter()
            .filter(|e| matches!(e.state, EntryState::Pending | EntryState::OutOfOrder))
            .collect()
    }

    /// What `validate` fails on: changed or missing applied files.
    pub fn validation_problems(&self) -> Vec<&Entry> {
        self.entries
            .iter()
            .filter(|e| matches!(e.state, EntryState::Changed | EntryState::Missing))
            .collect()
    }

    pub fn out_of_order(&self) -> Vec<&Entry> {
        self.entries
            .iter()
            .filter(|e| e.state == EntryState::OutOfOrder)
            .collect()
    }

    /// Applied migrations (not baselines), newest first: candidates for `down`.
    pub fn applied_newest_first(&self) -> Vec<&Entry> {
        self.entries
            .iter()
            .rev()
            .filter(|e| e.applied.as_ref().is_some_and(|a| !a.is_baseline()))
            .collect()
    }

    pub fn current_version(&self) -> Option<i64> {
        self.entries
            .iter()
            .filter(|e| e.applied.is_some())
            .map(|e| e.version)
            .max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn file(version: i64, checksum: &str) -> MigrationFile {
        MigrationFile {
            version,
            name: format!("m{version}"),
            up_path: PathBuf::from(format!("{version}_m.up.sql")),
            down_path: None,
            up_sql: String::new(),
            checksum: checksum.into(),
        }
    }

    fn row(version: i64, checksum: &str, kind: &str) -> AppliedRow {
        AppliedRow {
            version,
            name: format!("m{version}"),
            checksum: Some(checksum.into()),
            kind: kind.into(),
            applied_at: String::new(),
            duration_ms: 0,
            applied_by: String::new(),
        }
    }

    #[test]
    fn every_state() {
        let files = [file(1, "a"), file(2, "b"), file(3, "c"), file(5, "e"), file(7, "g")];
        let rows = [
            row(2, "b", "migration"),
            row(3, "X", "migration"),
            row(4, "d", "migration"),
            row(6, "f", "migration"),
        ];
        let state = State::build(&files, &rows);
        let states: Vec<_> = state.entries.iter().map(|e| (e.version, e.state)).collect();
        assert_eq!(
            states,
            vec![
                (1, EntryState::OutOfOrder),
                (2, EntryState::Applied),
                (3, EntryState::Changed),
                (4, EntryState::Missing),
                (5, EntryState::OutOfOrder),
                (6, EntryState::Missing),
                (7, EntryState::Pending),
            ]
        );
        assert_eq!(state.pending().len(), 3);
        assert_eq!(state.validation_problems().len(), 3);
    }

    #[test]
    fn baseline_hides_older_files() {
        let files = [file(1, "a"), file(2, "b"), file(3, "c")];
        let rows = [row(2, "", "baseline")];
        let state = State::build(&files, &rows);
        let states: Vec<_> = state.entries.iter().map(|e| e.state).collect();
        assert_eq!(
            states,
            vec![EntryState::BelowBaseline, EntryState::Baseline, EntryState::Pending]
        );
    }
}
