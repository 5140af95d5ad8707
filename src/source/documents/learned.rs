//! A learned model kept between runs. `copy` records the model it learned
//! of a file in the target; `verify` takes it instead of reading the whole
//! file to learn it again, and so reads the file once. It is taken only
//! when it was learned from exactly these bytes (the same size and the
//! same 128-bit hash of the whole content, checked before it is used), in
//! the same format, with the same `[documents]` settings and by the same
//! godwit: a model that fits other bytes could read a field it never saw
//! as nothing, and call a changed file equal to its copy.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::normalize::{Collection, Model, TableDef};
use super::records::{self, Origin};
use super::{DocumentOptions, DocumentSource, discover_dir, discover_file};
use crate::error::{Error, Result};

/// Bumped when what is recorded changes meaning.
const FORMAT: u32 = 1;

/// The file's content is hashed in blocks of this size on every core.
const BLOCK_BYTES: u64 = 4 << 20;

/// A file's size and modification time.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    size: u64,
    modified: Option<SystemTime>,
}

impl Stamp {
    fn of(path: &Path) -> std::io::Result<Stamp> {
        let meta = std::fs::metadata(path)?;
        Ok(Stamp {
            size: meta.len(),
            modified: meta.modified().ok(),
        })
    }
}

/// Directories with more files than this are not stamped, and no model
/// of them is recorded (a stat a file at each copy, for a model that a
/// directory of one file per record could not use anyway).
const MAX_STAMPED_FILES: usize = 10_000;

/// The size and modification time of every file of a source just before
/// it is learned, by the path discovery gives it.
#[derive(Debug, Clone, Default)]
pub struct Stamps(Vec<(PathBuf, Stamp)>);

impl Stamps {
    /// None when the source is too large a directory, or unreadable.
    pub fn of(path: &Path, is_file: bool) -> Option<Stamps> {
        let mut out = Vec::new();
        if is_file {
            out.push((path.to_path_buf(), Stamp::of(path).ok()?));
        } else {
            stamp_dir(path, &mut out)?;
        }
        Some(Stamps(out))
    }

    fn get(&self, path: &Path) -> Option<&Stamp> {
        self.0.iter().find(|(p, _)| p == path).map(|(_, s)| s)
    }
}

fn stamp_dir(dir: &Path, out: &mut Vec<(PathBuf, Stamp)>) -> Option<()> {
    for name in records::list_dir(dir).ok()? {
        let path = dir.join(name);
        let meta = std::fs::metadata(&path).ok()?;
        if meta.is_dir() {
            stamp_dir(&path, out)?;
        } else {
            if out.len() >= MAX_STAMPED_FILES {
                return None;
            }
            out.push((path.clone(), Stamp::of(&path).ok()?));
        }
    }
    Some(())
}

/// What `copy` records: the model, and what it was learned from.
#[derive(Serialize, Deserialize)]
struct Recorded {
    format: u32,
    godwit: String,
    /// A hash of the format and the settings that shape a model.
    settings: String,
    /// The source, for people who look at the record.
    source: String,
    /// Every file the collections come from, in the order found.
    files: Vec<RecordedFile>,
    collections: Vec<RecordedCollection>,
    tables: Vec<TableDef>,
    inferred: Vec<String>,
    skipped: Vec<String>,
    repeated_keys: Vec<Vec<u64>>,
}

#[derive(Serialize, Deserialize, PartialEq, Eq)]
struct RecordedFile {
    /// Inside the source directory ("" for a source that is one file).
    path: String,
    size: u64,
    /// XXH3-128 of the content, block by block ([`content_hash`]).
    content: String,
}

#[derive(Serialize, Deserialize, PartialEq, Eq)]
struct RecordedCollection {
    name: String,
    whole_values: bool,
}

impl DocumentSource {
    /// The source as an absolute path.
    pub(super) fn model_key_of(&self) -> Option<String> {
        let canonical = std::fs::canonicalize(&self.path).ok()?;
        Some(canonical.display().to_string())
    }

    /// The model learned in this run with the bytes it was learned from;
    /// `Err(why)` when it cannot be kept (a file changed since it was
    /// learned, or a directory of one file per record).
    pub(super) fn record_model(&self) -> Result<std::result::Result<serde_json::Value, String>> {
        let Some(source) = self.model_key_of() else {
            return Ok(Err("its path cannot be resolved".into()));
        };
        let Some(before) = self.learned_from.lock().unwrap_or_else(|p| p.into_inner()).clone() else {
            return Ok(Err("it is a directory of too many files to fingerprint".into()));
        };
        let model = self.model()?;
        let Some(paths) = self.collection_files(&model.collections) else {
            return Ok(Err("a directory of one file per record is learned each time".into()));
        };
        let mut files = Vec::new();
        for path in paths {
            let content = content_hash(&path)?;
            // Unchanged from before learning to after hashing: the hash is
            // of the bytes the model was learned from.
            let now = Stamp::of(&path).ok();
            if now.is_none() || before.get(&path) != now.as_ref() {
                return Ok(Err(format!("{} changed while it was copied", path.display())));
            }
            files.push(RecordedFile {
                path: self.inside(&path),
                size: now.map_or(0, |s| s.size),
                content: format!("{content:032x}"),
            });
        }
        let recorded = Recorded {
            format: FORMAT,
            godwit: env!("CARGO_PKG_VERSION").to_string(),
            settings: self.settings_hash(),
            source,
            files,
            collections: model
                .collections
                .iter()
                .map(|c| RecordedCollection {
                    name: c.name.clone(),
                    whole_values: c.whole_values,
                })
                .collect(),
            tables: model.tables.clone(),
            inferred: model.inferred.clone(),
            skipped: model.skipped.clone(),
            repeated_keys: model.repeated_keys.clone(),
        };
        serde_json::to_value(&recorded)
            .map(Ok)
            .map_err(|e| Error::Other(format!("recording the model of {}: {e}", self.path.display())))
    }

    /// Takes a recorded model when it fits these files exactly; says why not otherwise.
    pub(super) fn reuse_recorded(&self, value: &serde_json::Value) -> Result<std::result::Result<(), String>> {
        let Ok(recorded) = Recorded::deserialize(value) else {
            return Ok(Err(
                "the model recorded there is in a form this godwit does not read".into()
            ));
        };
        if recorded.format != FORMAT || recorded.godwit != env!("CARGO_PKG_VERSION") {
            return Ok(Err(format!(
                "the model recorded there was made by godwit {}, this is {}",
                recorded.godwit,
                env!("CARGO_PKG_VERSION")
            )));
        }
        if recorded.settings != self.settings_hash() {
            return Ok(Err(
                "the copy read it in another format or with other [documents] settings".into(),
            ));
        }
        // Sizes first: the cheap way to see most changes.
        for file in &recorded.files {
            let path = if file.path.is_empty() {
                self.path.clone()
            } else {
                self.path.join(&file.path)
            };
            let size = Stamp::of(&path).map(|s| s.size).ok();
            if size != Some(file.size) {
                return Ok(Err(format!(
                    "{} changed since the copy ({} bytes then, {} now)",
                    path.display(),
                    file.size,
                    size.map_or_else(|| "none".to_string(), |s| s.to_string())
                )));
            }
        }
        let mut found = Vec::new();
        let mut skipped = Vec::new();
        match self.format {
            Some(format) => discover_file(&self.path, format, &self.options, &mut found)?,
            None => discover_dir(&self.path, &self.options, &mut found, &mut skipped)?,
        }
        let collections: Vec<Collection> = found.into_iter().map(|(c, _)| c).collect();
        let files = self.collection_files(&collections);
        let same_files = files.as_ref().is_some_and(|files| {
            files.len() == recorded.files.len()
                && files.iter().zip(&recorded.files).all(|(f, r)| self.inside(f) == r.path)
        });
        if !same_files || skipped != recorded.skipped {
            return Ok(Err("its files are not the ones the copy read".into()));
        }
        for (path, file) in files.unwrap_or_default().iter().zip(&recorded.files) {
            if format!("{:032x}", content_hash(path)?) != file.content {
                return Ok(Err(format!(
                    "{} changed since the copy (the same size, other content)",
                    path.display()
                )));
            }
        }
        let fits = collections.len() == recorded.collections.len()
            && collections
                .iter()
                .zip(&recorded.collections)
                .all(|(c, r)| c.name == r.name)
            && recorded.repeated_keys.len() == collections.len()
            && recorded.tables.iter().all(|t| t.collection < collections.len());
        if !fits {
            return Ok(Err("its collections are not the ones recorded".into()));
        }
        let collections: Vec<Collection> = collections
            .into_iter()
            .zip(&recorded.collections)
            .map(|(mut c, r)| {
                c.whole_values = r.whole_values;
                c
            })
            .collect();
        let model = Model::recorded(
            collections,
            recorded.tables,
            recorded.inferred,
            recorded.skipped,
            recorded.repeated_keys,
        );
        *self.model.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(model));
        Ok(Ok(()))
    }

    /// The files the collections come from, each once, in order; None when
    /// one is a directory of one file per record.
    fn collection_files(&self, collections: &[Collection]) -> Option<Vec<PathBuf>> {
        let mut out: Vec<PathBuf> = Vec::new();
        for c in collections {
            if matches!(c.origin, Origin::Files(_)) {
                return None;
            }
            let path = c.origin.path();
            if !out.iter().any(|p| p == path) {
                out.push(path.to_path_buf());
            }
        }
        Some(out)
    }

    /// A file's path inside the source ("" for the source itself).
    fn inside(&self, path: &Path) -> String {
        path.strip_prefix(&self.path)
            .map_or_else(|_| path.display().to_string(), |p| p.display().to_string())
    }

    /// The format and the settings a model depends on (not how many
    /// threads read the file, nor how it is cut into ranges).
    fn settings_hash(&self) -> String {
        let options = DocumentOptions {
            workers: 0,
            range_bytes: 0,
            ..self.options.clone()
        };
        let text = format!("{:?} {options:?}", self.format);
        format!("{:032x}", xxhash_rust::xxh3::xxh3_128(text.as_bytes()))
    }
}

/// A hash of the whole content: XXH3-128 of each block, on every core,
/// then of the size and the blocks' hashes in order.
fn content_hash(path: &Path) -> Result<u128> {
    let failed = |e| Error::io(format!("reading {}", path.display()), e);
    let size = std::fs::metadata(path).map_err(failed)?.len();
    let blocks = size.div_ceil(BLOCK_BYTES).max(1);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(usize::try_from(blocks).unwrap_or(1));
    let next = AtomicU64::new(0);
    let hashed: Vec<std::io::Result<Vec<(u64, u128)>>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut file = std::fs::File::open(path)?;
                    let mut buffer = Vec::new();
                    let mut out = Vec::new();
                    loop {
                        let block = next.fetch_add(1, Ordering::Relaxed);
                        if block >= blocks {
                            return Ok(out);
                        }
                        file.seek(SeekFrom::Start(block * BLOCK_BYTES))?;
                        buffer.clear();
                        (&mut file).take(BLOCK_BYTES).read_to_end(&mut buffer)?;
                        out.push((block, xxhash_rust::xxh3::xxh3_128(&buffer)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("a hashing thread panicked")))
            })
            .collect()
    });
    let mut all = Vec::new();
    for part in hashed {
        all.extend(part.map_err(failed)?);
    }
    all.sort_unstable_by_key(|(block, _)| *block);
    let mut summary = size.to_le_bytes().to_vec();
    for (_, hash) in all {
        summary.extend_from_slice(&hash.to_le_bytes());
    }
    Ok(xxhash_rust::xxh3::xxh3_128(&summary))
}
