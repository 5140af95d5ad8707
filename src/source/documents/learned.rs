//! A learned model kept between runs. `copy` records the model it learned
//! of a file in the target; `verify` takes it instead of reading the whole
//! file to learn it again, and so reads the file once. It is taken only
//! when it was learned from exactly these bytes (the same size and the
//! same 128-bit hash of the whole content, checked before it is used), in
//! the same format, with the same `[documents]` settings and by the same
//! godwit: a model that fits other bytes could read a field it never saw
//! as nothing, and call a changed file equal to its copy.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::normalize::{Collection, Model, TableDef};
use super::{DocumentOptions, DocumentSource, discover_file};
use crate::error::{Error, Result};

/// Bumped when what is recorded changes meaning.
const FORMAT: u32 = 1;

/// The file's content is hashed in blocks of this size on every core.
const BLOCK_BYTES: u64 = 4 << 20;

/// A file's size and modification time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    size: u64,
    modified: Option<SystemTime>,
}

impl Stamp {
    pub fn of(path: &Path) -> std::io::Result<Stamp> {
        let meta = std::fs::metadata(path)?;
        Ok(Stamp {
            size: meta.len(),
            modified: meta.modified().ok(),
        })
    }
}

/// What `copy` records: the model, and what it was learned from.
#[derive(Serialize, Deserialize)]
struct Recorded {
    format: u32,
    godwit: String,
    /// A hash of the format and the settings that shape a model.
    settings: String,
    /// The file, for people who look at the record.
    file: String,
    size: u64,
    /// XXH3-128 of the content, block by block ([`content_hash`]).
    content: String,
    collections: Vec<RecordedCollection>,
    tables: Vec<TableDef>,
    inferred: Vec<String>,
    skipped: Vec<String>,
    repeated_keys: Vec<Vec<u64>>,
}

#[derive(Serialize, Deserialize, PartialEq, Eq)]
struct RecordedCollection {
    name: String,
    whole_values: bool,
}

impl DocumentSource {
    /// The file as an absolute path; None for a directory, whose model is
    /// learned each time (its files would each need a fingerprint).
    pub(super) fn model_key_of(&self) -> Option<String> {
        self.format?;
        let canonical = std::fs::canonicalize(&self.path).ok()?;
        Some(canonical.display().to_string())
    }

    /// The model learned in this run with the bytes it was learned from;
    /// None when the file changed since it was learned (or was not learned).
    pub(super) fn record_model(&self) -> Result<Option<serde_json::Value>> {
        let Some(file) = self.model_key_of() else {
            return Ok(None);
        };
        let Some(before) = self.learned_from.lock().unwrap_or_else(|p| p.into_inner()).clone() else {
            return Ok(None);
        };
        let model = self.model()?;
        let content = content_hash(&self.path)?;
        // Unchanged from before learning to after hashing: the hash is of
        // the bytes the model was learned from.
        if Stamp::of(&self.path).ok().as_ref() != Some(&before) {
            return Ok(None);
        }
        let recorded = Recorded {
            format: FORMAT,
            godwit: env!("CARGO_PKG_VERSION").to_string(),
            settings: self.settings_hash(),
            file,
            size: before.size,
            content: format!("{content:032x}"),
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
            .map(Some)
            .map_err(|e| Error::Other(format!("recording the model of {}: {e}", self.path.display())))
    }

    /// Takes a recorded model when it fits this file exactly; says why not otherwise.
    pub(super) fn reuse_recorded(&self, value: &serde_json::Value) -> Result<std::result::Result<(), String>> {
        let Some(format) = self.format else {
            return Ok(Err("a directory is learned each time".into()));
        };
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
        let now = Stamp::of(&self.path).map_err(|e| Error::io(format!("reading {}", self.path.display()), e))?;
        if now.size != recorded.size {
            return Ok(Err(format!(
                "the file changed since the copy ({} bytes then, {} now)",
                recorded.size, now.size
            )));
        }
        if format!("{:032x}", content_hash(&self.path)?) != recorded.content {
            return Ok(Err(
                "the file changed since the copy (the same size, other content)".into()
            ));
        }
        let mut found = Vec::new();
        discover_file(&self.path, format, &self.options, &mut found)?;
        let fits = found.len() == recorded.collections.len()
            && found
                .iter()
                .zip(&recorded.collections)
                .all(|((c, _), r)| c.name == r.name)
            && recorded.repeated_keys.len() == found.len()
            && recorded.tables.iter().all(|t| t.collection < found.len());
        if !fits {
            return Ok(Err("its collections are not the ones recorded".into()));
        }
        let collections: Vec<Collection> = found
            .into_iter()
            .zip(&recorded.collections)
            .map(|((mut c, _), r)| {
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
