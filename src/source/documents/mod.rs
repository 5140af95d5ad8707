//! Documents as a source: JSON files, JSON Lines, CSV/TSV and directories
//! of JSON files, normalized into related tables.
//!
//! `describe` reads every collection once to learn its shape, types and
//! keys, and once more where a field may hold keys of another collection
//! (to count how many do); scans stream the records again. Nothing holds
//! a whole file. JSON Lines and a top-level array are parsed on every
//! core in ranges ([`lines`], [`array`]), the records still handed on one
//! at a time in file order. Memory is up to two parsed ranges (about 1 MiB
//! of text each) per reading thread, the shape of the fields
//! (grows with distinct field names, not data), per collection its keys
//! (nothing for integer ids that count up by one, else an 8-byte hash a
//! record), and for a directory the names of its entries while it is read
//! (some 40 bytes a file). Measured: 18 MB peak for a 1 GB JSON Lines
//! file, 117 MB for a directory of a million files.

mod array;
mod csv;
pub mod detect;
mod infer;
mod json;
mod learned;
mod lines;
mod normalize;
mod onepass;
mod reader;
mod records;
mod rows;
mod shape;
mod template;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Deserialize;

use detect::Format;
use normalize::{Collection, Model};
use records::{Entry, ObjectShape, Origin};

use crate::error::{Error, Result};

/// How documents are mapped, from godwit.toml's `[documents]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentOptions {
    /// Nested objects are flattened into `parent__child` columns down to
    /// this many levels; deeper ones are kept as jsonb.
    #[serde(default = "default_max_depth")]
    pub max_depth: usize,
    /// `table.column` paths (flattened names) kept as jsonb, not flattened.
    #[serde(default)]
    pub keep_json: Vec<String>,
    /// Relations to add, rename or refuse.
    #[serde(default, rename = "relation")]
    pub relations: Vec<RelationRule>,
    /// `[documents.csv]`: parts of the CSV dialect fixed rather than detected.
    #[serde(default)]
    pub csv: csv::CsvOptions,
    /// Threads that parse one JSON Lines file, each a range of its lines
    /// at a time (0, the default: one per core; 1: read it in one piece).
    #[serde(default)]
    pub workers: usize,
    /// About how many bytes of a JSON Lines file one range holds.
    #[serde(default = "default_range_bytes")]
    pub range_bytes: u64,
}

fn default_range_bytes() -> u64 {
    1 << 20
}

fn default_max_depth() -> usize {
    3
}

impl Default for DocumentOptions {
    fn default() -> Self {
        DocumentOptions {
            max_depth: default_max_depth(),
            keep_json: Vec::new(),
            relations: Vec::new(),
            csv: csv::CsvOptions::default(),
            workers: 0,
            range_bytes: default_range_bytes(),
        }
    }
}

/// `[[documents.relation]]`: `field = "table.column"`, and `to = "table"`
/// to add one the values do not show, `name` to rename it (a junction
/// table, or a foreign key's constraint), or `refuse = true`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelationRule {
    pub field: String,
    pub to: Option<String>,
    pub name: Option<String>,
    #[serde(default)]
    pub refuse: bool,
}

/// A document source: a file or a directory, and its model once described.
pub struct DocumentSource {
    path: PathBuf,
    format: Option<Format>,
    options: DocumentOptions,
    model: Mutex<Option<Arc<Model>>>,
    /// The file's size and modification time just before it was learned:
    /// a model is recorded only if the file still has them after the copy.
    learned_from: Mutex<Option<learned::Stamps>>,
    /// When the content looks like another format than the name says.
    note: Option<String>,
    /// A copy asked for a provisional model ([`onepass`]).
    provisional_wanted: std::sync::atomic::AtomicBool,
    /// While the model is provisional: what the staging scans learn.
    learning: Mutex<Option<Arc<onepass::Learning>>>,
}

impl DocumentSource {
    /// A file in a known format (None: a directory).
    pub fn new(path: PathBuf, format: Option<Format>, options: &DocumentOptions) -> Self {
        DocumentSource {
            path,
            format,
            options: options.clone(),
            model: Mutex::new(None),
            learned_from: Mutex::new(None),
            note: None,
            provisional_wanted: std::sync::atomic::AtomicBool::new(false),
            learning: Mutex::new(None),
        }
    }

    /// What the content looked like, when it contradicts the name: said
    /// with any error reading the file, and in the plan.
    pub fn with_note(mut self, note: Option<String>) -> Self {
        self.note = note;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The model, learned on first use and kept: the files are read once
    /// for all the commands of one run.
    fn model(&self) -> Result<Arc<Model>> {
        let mut slot = self.model.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(model) = slot.as_ref() {
            return Ok(model.clone());
        }
        let stamp = learned::Stamps::of(&self.path, self.format.is_some());
        *self.learned_from.lock().unwrap_or_else(|p| p.into_inner()) = stamp;
        let model = match self.learn() {
            Ok(model) => Arc::new(self.noted(model)),
            Err(Error::Source { path, message }) if self.note.is_some() => {
                return Err(Error::Source {
                    path,
                    message: format!("{message} ({})", self.note.as_deref().unwrap_or_default()),
                });
            }
            Err(e) => return Err(e),
        };
        *slot = Some(model.clone());
        Ok(model)
    }

    /// The model with what the content looked like, when it contradicts the name.
    fn noted(&self, mut model: Model) -> Model {
        if let Some(note) = &self.note {
            model
                .inferred
                .insert(0, format!("{}: {note}; read as the name says", self.path.display()));
        }
        model
    }

    /// The collections found, with what was learned of them on the way,
    /// and what was skipped.
    fn discover(&self) -> Result<(Vec<Found>, Vec<String>)> {
        let mut found = Vec::new();
        let mut skipped = Vec::new();
        match self.format {
            None => discover_dir(&self.path, &self.options, &mut found, &mut skipped)?,
            Some(format) => discover_file(&self.path, format, &self.options, &mut found)?,
        }
        if found.is_empty() {
            let mut message = "holds no JSON or CSV records godwit reads".to_string();
            if !skipped.is_empty() {
                message.push_str(&format!(" (skipped: {})", skipped.join("; ")));
            }
            return Err(Error::Source {
                path: self.path.clone(),
                message,
            });
        }
        Ok((found, skipped))
    }

    /// The model of collections whose facts are known (of their first
    /// records only, as many as `within` says, for a provisional model).
    fn model_of(
        &self,
        collections: Vec<Collection>,
        facts: Vec<normalize::Facts>,
        skipped: Vec<String>,
        within: Option<&[u64]>,
    ) -> Result<Model> {
        let dialects = csv_dialects(&collections);
        let mut model = normalize::build(collections, facts, skipped, &self.options);
        model.inferred.extend(dialects);
        model.resolve_references(&self.options, within)?;
        Ok(model)
    }

    fn learn(&self) -> Result<Model> {
        let (found, skipped) = self.discover()?;
        let (collections, known): (Vec<Collection>, Vec<Option<normalize::Facts>>) = found.into_iter().unzip();
        if self.provisional_wanted.load(std::sync::atomic::Ordering::Relaxed)
            && onepass::worth_it(&collections, &self.options)
            && let Some(model) = self.learn_provisionally(&collections, &skipped)?
        {
            return Ok(model);
        }
        let facts = learn_all(&collections, known)?;
        self.model_of(collections, facts, skipped, None)
    }

    /// A model of the first ranges of each file, when its every collection
    /// can be learned by the scans that stage its rows.
    fn learn_provisionally(&self, collections: &[Collection], skipped: &[String]) -> Result<Option<Model>> {
        let mut facts = Vec::new();
        let mut within = Vec::new();
        let mut scales = Vec::new();
        for c in collections {
            let mut prefix = onepass::learn_prefix(&c.origin, self.options.range_bytes)?;
            onepass::lean_to_numeric(&mut prefix.facts.shape);
            if prefix.facts.not_objects > 0 && prefix.facts.not_objects < prefix.facts.records {
                return Ok(None);
            }
            within.push(prefix.records);
            scales.push(prefix.scale);
            facts.push(prefix.facts);
        }
        let mut model = self.model_of(collections.to_vec(), facts, skipped.to_vec(), Some(&within))?;
        let Some(learners) = onepass::learners(&model) else {
            return Ok(None);
        };
        for t in &mut model.tables {
            t.rows = t.rows.saturating_mul(scales[t.collection]);
        }
        let learning = onepass::Learning::new(collections.to_vec(), skipped.to_vec(), learners);
        *self.learning.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(learning));
        Ok(Some(model))
    }

    /// See [`crate::source::Source::settle_model`].
    fn settle(&self) -> Result<bool> {
        let Some(learning) = self.learning.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return Ok(true);
        };
        let provisional = self.model()?;
        let facts = learning.whole_facts()?;
        let whole = self.noted(self.model_of(learning.collections.clone(), facts, learning.skipped.clone(), None)?);
        let same = onepass::stage_alike(&provisional, &whole);
        *self.model.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(whole));
        Ok(same)
    }

    /// What the staging scans of a provisional model learn into.
    fn learning(&self) -> Option<Arc<onepass::Learning>> {
        self.learning.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The dialect of each CSV collection and the evidence for it, for `plan`.
fn csv_dialects(collections: &[Collection]) -> Vec<String> {
    let mut out = Vec::new();
    for c in collections {
        if let records::Origin::Csv { dialect, .. } = &c.origin {
            out.push(format!("{}: CSV dialect: {}", c.name, dialect.summary()));
            out.extend(dialect.evidence.iter().map(|e| format!("{}: {e}", c.name)));
        }
    }
    out
}

/// A collection found, with what was learned of it on the way (a
/// directory's records are learned as the directory is looked through).
type Found = (Collection, Option<normalize::Facts>);

/// Learns every collection, several at once when there are several.
fn learn_all(collections: &[Collection], known: Vec<Option<normalize::Facts>>) -> Result<Vec<normalize::Facts>> {
    let todo: Vec<usize> = (0..collections.len()).filter(|&i| known[i].is_none()).collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(todo.len())
        .max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Vec<(usize, Result<normalize::Facts>)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&i) = todo.get(n) else { return done };
                        let c = &collections[i];
                        done.push((i, normalize::learn(&c.origin)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| vec![(0, Err(Error::Other("a reading thread panicked".into())))])
            })
            .collect()
    });
    let mut slots = known;
    for (i, result) in results.into_iter().flatten() {
        slots[i] = Some(result?);
    }
    slots
        .into_iter()
        .map(|s| s.ok_or_else(|| Error::Other("a collection was not read".into())))
        .collect()
}

fn file_name(path: &Path) -> String {
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    canonical
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "documents".into())
}

fn first_byte(path: &Path) -> Result<Option<u8>> {
    use std::io::Read;
    let mut head = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(4096).read_to_end(&mut head))
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let head = head.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(&head);
    Ok(head.iter().copied().find(|b| !b.is_ascii_whitespace()))
}

/// The collections of one file.
fn discover_file(path: &Path, format: Format, options: &DocumentOptions, out: &mut Vec<Found>) -> Result<()> {
    let name = records::stem_of(path);
    let collection = |origin| {
        (
            Collection {
                name: name.clone(),
                origin,
                whole_values: false,
            },
            None,
        )
    };
    match format {
        Format::JsonLines => out.push(collection(Origin::Lines {
            file: path.to_path_buf(),
            split: lines::Split::new(options.workers, options.range_bytes),
        })),
        // The whole dialect is detected here, from a larger sample than
        // the one that told CSV from other content.
        Format::Csv(_) => out.push(collection(Origin::Csv {
            file: path.to_path_buf(),
            dialect: Box::new(csv::sniff_file(path, &options.csv)?),
        })),
        Format::Json => match first_byte(path)? {
            Some(b'[') => out.push(collection(Origin::Array {
                file: path.to_path_buf(),
                split: lines::Split::new(options.workers, options.range_bytes),
            })),
            Some(b'{') => match records::file_object_shape(path)? {
                ObjectShape::Collections(members, others) => {
                    for (member, keyed) in members {
                        out.push((
                            Collection {
                                name: member.clone(),
                                origin: Origin::Member {
                                    file: path.to_path_buf(),
                                    member,
                                    keyed,
                                },
                                whole_values: false,
                            },
                            None,
                        ));
                    }
                    // Members beside the collections (a version, an export
                    // date) are kept: one row of them, named after the file.
                    if !others.is_empty() {
                        out.push(collection(Origin::TopFields {
                            file: path.to_path_buf(),
                            fields: others,
                        }));
                    }
                }
                ObjectShape::Keyed => out.push(collection(Origin::Keyed(path.to_path_buf()))),
                ObjectShape::Record => out.push(collection(Origin::Single(path.to_path_buf()))),
                ObjectShape::Lines => out.push(collection(Origin::Concatenated(path.to_path_buf()))),
            },
            None => {
                return Err(Error::Source {
                    path: path.to_path_buf(),
                    message: "is empty: nothing to read".into(),
                });
            }
            // A lone scalar is a one-row table (or, when it is not JSON,
            // an error with its position).
            Some(_) => out.push(collection(Origin::Single(path.to_path_buf()))),
        },
    }
    Ok(())
}

/// The collections of a directory: its own one-file-per-record table,
/// the collections of its other files, then its subdirectories'.
fn discover_dir(dir: &Path, options: &DocumentOptions, out: &mut Vec<Found>, skipped: &mut Vec<String>) -> Result<()> {
    let mut records = normalize::Facts::new();
    let mut subdirectories = Vec::new();
    let mut files = Vec::new();
    for name in records::list_dir(dir)? {
        let path = dir.join(name);
        let (entry, bytes) = records::entry_kind(&path)?;
        match entry {
            Entry::Hidden => skipped.push(format!("{}: hidden", path.display())),
            Entry::Subdirectory => subdirectories.push(path),
            Entry::Record => {
                records::read_record_file(&path, bytes, &mut |rec| {
                    records.add(rec, true);
                    Ok(crate::source::Flow::Continue)
                })?;
            }
            Entry::Collections(format) => files.push((path, format)),
            Entry::Unrecognised(why) => skipped.push(format!("{}: {why}", path.display())),
        }
    }
    if records.records > 0 {
        out.push((
            Collection {
                name: file_name(dir),
                origin: Origin::Files(dir.to_path_buf()),
                whole_values: false,
            },
            Some(records),
        ));
    }
    for (path, format) in files {
        discover_file(&path, format, options, out)?;
    }
    for sub in subdirectories {
        discover_dir(&sub, options, out, skipped)?;
    }
    Ok(())
}

pub use json::{Position, SyntaxError as JsonSyntaxError};

/// Checks that `bytes` are exactly one JSON text as RFC 8259 defines it
/// (a byte order mark before it is allowed), as godwit's reader sees it:
/// the first error with its position. Values PostgreSQL cannot hold
/// (invalid UTF-8 in a string, a NUL, a lone surrogate, a repeated key)
/// are valid JSON and are reported per record when copied, not here.
pub fn check_json(bytes: &[u8]) -> std::result::Result<(), JsonSyntaxError> {
    let mut reader = json::JsonReader::new(bytes);
    reader.skip()?;
    reader.end_of_text()
}
