//! Where a collection's records are, and reading them one at a time.
//!
//! Every read streams: a top-level array or object is walked member by
//! member, JSON Lines line by line, CSV record by record, and a directory
//! file by file; only one record is held at a time.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::detect::Format;
use super::json::{JValue, JsonReader, Key, Peeked, Position, SyntaxError, ValueProblem};
use crate::error::{Error, Result};
use crate::source::Flow;

/// Where one collection's records come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A JSON file whose top-level value is an array of records.
    Array { file: PathBuf, split: super::lines::Split },
    /// A JSON file whose top-level object maps keys to records.
    Keyed(PathBuf),
    /// One collection of a JSON file holding several (an app-state dump).
    Member { file: PathBuf, member: String, keyed: bool },
    /// A JSON file holding a single record.
    Single(PathBuf),
    /// The top-level members of an app-state dump that hold no
    /// collection (a version, an export date): one record of them.
    TopFields { file: PathBuf, fields: Vec<String> },
    /// JSON Lines (named, prefixed or seen so): one record a line, read
    /// in ranges on several threads.
    Lines { file: PathBuf, split: super::lines::Split },
    /// A `.json` file holding several values one after another: one a line,
    /// or (when the first spans lines) pretty-printed records.
    Concatenated(PathBuf),
    /// A CSV file, in the dialect detected (or configured) for it.
    Csv {
        file: PathBuf,
        dialect: Box<super::csv::Dialect>,
    },
    /// A directory of one JSON file per record (its record files, in byte
    /// order of their names, are listed again at each read).
    Files(PathBuf),
}

impl Origin {
    /// The file or directory read.
    pub fn path(&self) -> &Path {
        match self {
            Origin::Array { file: p, .. }
            | Origin::Keyed(p)
            | Origin::Single(p)
            | Origin::Concatenated(p)
            | Origin::Files(p) => p,
            Origin::Member { file, .. }
            | Origin::Csv { file, .. }
            | Origin::TopFields { file, .. }
            | Origin::Lines { file, .. } => file,
        }
    }

    /// Whether records come with a key of their own (map key, file stem).
    pub fn has_keys(&self) -> bool {
        matches!(
            self,
            Origin::Keyed(_) | Origin::Member { keyed: true, .. } | Origin::Files(_)
        )
    }

    pub fn key_source(&self) -> &'static str {
        match self {
            Origin::Files(_) => "file name",
            _ => "map key",
        }
    }
}

/// One record as read.
pub struct Rec<'a> {
    /// The map key, or the file stem for a file per record.
    pub key: Option<&'a str>,
    pub value: &'a JValue,
    pub problem: Option<&'a ValueProblem>,
    /// The value was not an object, and is read as `{"value": ...}`.
    pub not_object: bool,
    pub file: &'a Path,
    /// Where the record starts (a CSV record: its line only).
    pub at: Position,
    /// The CSV record number (the header is record 1).
    pub csv_record: Option<u64>,
}

impl Rec<'_> {
    /// Where something in the record is, for messages: `file, line N,
    /// column C, byte B`, or for CSV `file, line N, record M`.
    pub fn place_at(&self, at: &Position) -> String {
        place(self.file, at, self.csv_record)
    }
}

/// `file, line N, column C, byte B`, or for CSV `file, line N, record M`.
pub fn place(file: &Path, at: &Position, csv_record: Option<u64>) -> String {
    match csv_record {
        Some(n) => format!("{}, line {}, record {n}", file.display(), at.line),
        None => format!("{}, {at}", file.display()),
    }
}

pub type Visit<'v> = dyn FnMut(&Rec<'_>) -> Result<Flow> + 'v;

pub fn syntax(file: &Path, e: &SyntaxError) -> Error {
    Error::Source {
        path: file.to_path_buf(),
        message: e.to_string(),
    }
}

fn open(file: &Path) -> Result<std::fs::File> {
    std::fs::File::open(file).map_err(|e| Error::Source {
        path: file.to_path_buf(),
        message: e.to_string(),
    })
}

/// Records that are not objects are read as `{"value": ...}` (and say
/// so: in a collection that mixes them with objects, every record is
/// kept whole in `value`, so that `{}` and `null` stay apart).
pub(super) fn as_record(value: JValue) -> (JValue, bool) {
    match value {
        JValue::Object(_) => (value, false),
        other => (JValue::Object(vec![("value".into(), other)]), true),
    }
}

/// Every record kept whole in one `value` field.
pub fn each_whole(origin: &Origin, visit: &mut Visit<'_>) -> Result<()> {
    each(origin, &mut |rec| {
        if rec.not_object {
            return visit(rec);
        }
        let value = JValue::Object(vec![("value".into(), rec.value.clone())]);
        visit(&Rec {
            value: &value,
            not_object: true,
            ..*rec
        })
    })
}

/// Streams the records a collection's shape and types are learned from:
/// every record, but for the damaged records of a CSV file (rejected when
/// copied, they say nothing of the table).
pub fn each_for_learning(origin: &Origin, visit: &mut Visit<'_>) -> Result<()> {
    match origin {
        Origin::Csv { file, dialect } => super::csv::stream(file, dialect, true, visit),
        other => each(other, visit),
    }
}

/// Streams every record of a collection to `visit`.
pub fn each(origin: &Origin, visit: &mut Visit<'_>) -> Result<()> {
    each_folded(origin, None, visit)
}

/// Whether the records of `origin` are parsed in ranges on workers, which
/// can make them into batches there ([`each_folded`]).
pub fn read_in_ranges(origin: &Origin) -> bool {
    matches!(origin, Origin::Array { .. } | Origin::Lines { .. })
}

/// [`each`], the ranges parsed whole on workers made into batches there
/// when `folding` says so (JSON Lines and arrays; others visit every
/// record).
pub fn each_folded(
    origin: &Origin,
    folding: Option<super::lines::Folding<'_, '_>>,
    visit: &mut Visit<'_>,
) -> Result<()> {
    match origin {
        Origin::Array { file, split } => super::array::each(file, *split, folding, visit, &mut |visit| {
            let mut r = JsonReader::new(open(file)?);
            // Stopped early, the rest of the file is not read.
            match stream_array(&mut r, file, visit)? {
                Flow::Continue => trailing(&mut r, file),
                Flow::Stop => Ok(()),
            }
        }),
        Origin::Keyed(file) => {
            let mut r = JsonReader::new(open(file)?);
            match stream_keyed(&mut r, file, visit)? {
                Flow::Continue => trailing(&mut r, file),
                Flow::Stop => Ok(()),
            }
        }
        Origin::Member { file, member, keyed } => {
            let mut r = JsonReader::new(open(file)?);
            let s = |e| syntax(file, &e);
            r.begin_object().map_err(s)?;
            let mut first = true;
            while let Some(key) = r.next_key(&mut first).map_err(s)? {
                if &key == member {
                    return if *keyed {
                        stream_keyed(&mut r, file, visit).map(|_| ())
                    } else {
                        stream_array(&mut r, file, visit).map(|_| ())
                    };
                }
                r.skip().map_err(s)?;
            }
            Ok(())
        }
        Origin::Single(file) => {
            let mut r = JsonReader::new(open(file)?);
            let at = skip_to_value(&mut r);
            let (value, not_object) = as_record(r.value().map_err(|e| syntax(file, &e))?);
            let problem = r.take_problem();
            trailing(&mut r, file)?;
            visit(&Rec {
                key: None,
                value: &value,
                problem: problem.as_ref(),
                not_object,
                file,
                at,
                csv_record: None,
            })
            .map(|_| ())
        }
        Origin::TopFields { file, fields } => {
            let mut r = JsonReader::new(open(file)?);
            let s = |e| syntax(file, &e);
            let at = skip_to_value(&mut r);
            r.begin_object().map_err(s)?;
            let mut members = Vec::with_capacity(fields.len());
            let mut first = true;
            while let Some(key) = r.next_key(&mut first).map_err(s)? {
                if fields.contains(&key) && !members.iter().any(|(k, _): &(Key, JValue)| **k == *key) {
                    members.push((Key::from(key), r.value().map_err(s)?));
                } else {
                    r.skip().map_err(s)?;
                }
            }
            let problem = r.take_problem();
            let value = JValue::Object(members);
            visit(&Rec {
                key: None,
                value: &value,
                problem: problem.as_ref(),
                not_object: false,
                file,
                at,
                csv_record: None,
            })
            .map(|_| ())
        }
        Origin::Lines { file, split } => super::lines::each_folded(file, *split, folding, visit),
        Origin::Concatenated(file) => stream_concatenated(file, visit),
        Origin::Csv { file, dialect } => super::csv::stream(file, dialect, false, visit),
        Origin::Files(dir) => {
            for name in list_dir(dir)? {
                let file = dir.join(name);
                let (entry, bytes) = entry_kind(&file)?;
                if entry == Entry::Record && read_record_file(&file, bytes, visit)? == Flow::Stop {
                    break;
                }
            }
            Ok(())
        }
    }
}

/// Reads a file that holds one record (its bytes when already read),
/// keyed by its stem.
pub fn read_record_file(file: &Path, bytes: Option<Vec<u8>>, visit: &mut Visit<'_>) -> Result<Flow> {
    let stem = stem_of(file);
    let bytes = match bytes {
        Some(b) => b,
        None => std::fs::read(file).map_err(|e| Error::Source {
            path: file.to_path_buf(),
            message: e.to_string(),
        })?,
    };
    let mut r = JsonReader::new(bytes.as_slice());
    let at = skip_to_value(&mut r);
    let (value, not_object) = as_record(r.value().map_err(|e| syntax(file, &e))?);
    let problem = r.take_problem();
    visit(&Rec {
        key: Some(&stem),
        value: &value,
        problem: problem.as_ref(),
        not_object,
        file,
        at,
        csv_record: None,
    })
}

fn skip_to_value<R: Read>(r: &mut JsonReader<R>) -> Position {
    r.skip_ws();
    r.position()
}

/// Nothing but whitespace may follow the document.
pub(super) fn trailing<R: Read>(r: &mut JsonReader<R>, file: &Path) -> Result<()> {
    if let Err(e) = r.end_of_text() {
        return Err(Error::Source {
            path: file.to_path_buf(),
            message: if e.message.contains("second top-level value") {
                format!("{e} (for JSON Lines, name it ndjson:{})", file.display())
            } else {
                e.to_string()
            },
        });
    }
    if let Some(e) = r.take_io_error() {
        return Err(Error::io(format!("reading {}", file.display()), e));
    }
    Ok(())
}

/// Visits the elements of an array; Stop when `visit` stopped early.
fn stream_array<R: Read>(r: &mut JsonReader<R>, file: &Path, visit: &mut Visit<'_>) -> Result<Flow> {
    r.begin_array().map_err(|e| syntax(file, &e))?;
    let mut first = true;
    while r.next_element(&mut first).map_err(|e| syntax(file, &e))? {
        if visit_value(r, None, file, visit)? == Flow::Stop {
            return Ok(Flow::Stop);
        }
    }
    Ok(Flow::Continue)
}

/// Visits the members of an object; Stop when `visit` stopped early.
fn stream_keyed<R: Read>(r: &mut JsonReader<R>, file: &Path, visit: &mut Visit<'_>) -> Result<Flow> {
    r.begin_object().map_err(|e| syntax(file, &e))?;
    let mut first = true;
    while let Some(key) = r.next_key(&mut first).map_err(|e| syntax(file, &e))? {
        if visit_value(r, Some(&key), file, visit)? == Flow::Stop {
            return Ok(Flow::Stop);
        }
    }
    Ok(Flow::Continue)
}

/// Reads the value the reader stands before as one record and visits it.
pub(super) fn visit_value<R: Read>(
    r: &mut JsonReader<R>,
    key: Option<&str>,
    file: &Path,
    visit: &mut Visit<'_>,
) -> Result<Flow> {
    let at = skip_to_value(r);
    let (value, not_object) = as_record(r.value().map_err(|e| syntax(file, &e))?);
    let problem = r.take_problem();
    visit(&Rec {
        key,
        value: &value,
        problem: problem.as_ref(),
        not_object,
        file,
        at,
        csv_record: None,
    })
}

/// One record as read from a JSON Lines (or concatenated) stream.
pub struct Parsed {
    pub value: JValue,
    pub not_object: bool,
    pub problem: Option<ValueProblem>,
    pub at: Position,
}

impl Parsed {
    pub fn rec<'a>(&'a self, file: &'a Path) -> Rec<'a> {
        Rec {
            key: None,
            value: &self.value,
            problem: self.problem.as_ref(),
            not_object: self.not_object,
            file,
            at: self.at,
            csv_record: None,
        }
    }
}

/// The next record of values one after another, None at the end. In
/// JSON Lines mode a malformed line is one record with its problem, and
/// reading goes on at the next line. Otherwise values may span lines
/// (pretty-printed) when the first does, and a malformed one is an error,
/// as in one JSON document; `first` is true before the first record.
pub fn next_record<R: Read>(r: &mut JsonReader<R>, file: &Path, first: &mut bool) -> Result<Option<Parsed>> {
    // Blank lines are allowed between records.
    if r.skip_blank_lines().is_none() {
        if let Some(e) = r.take_io_error() {
            return Err(Error::io(format!("reading {}", file.display()), e));
        }
        return Ok(None);
    }
    let at = r.position();
    let parsed = r.value().and_then(|value| match r.skip_blanks() {
        None | Some(b'\n') => Ok(value),
        Some(_) => Err(SyntaxError {
            at: r.position(),
            message: "another value on the same line (JSON Lines holds one a line)".into(),
        }),
    });
    if let Some(e) = r.take_io_error() {
        return Err(Error::io(format!("reading {}", file.display()), e));
    }
    let record = match parsed {
        Ok(value) => {
            if *first && r.position().line == at.line {
                r.set_one_value_per_line(true);
            }
            let problem = r.take_problem();
            r.newline();
            let (value, not_object) = as_record(value);
            Parsed {
                value,
                not_object,
                problem,
                at,
            }
        }
        Err(e) if r.one_value_per_line_mode() => {
            r.skip_rest_of_line();
            let problem = ValueProblem {
                at: e.at,
                reason: format!("invalid JSON: {}", e.message),
                field: None,
                malformed: true,
            };
            Parsed {
                value: JValue::Object(Vec::new()),
                not_object: false,
                problem: Some(problem),
                at,
            }
        }
        Err(e) => return Err(syntax(file, &e)),
    };
    *first = false;
    Ok(Some(record))
}

/// Values one after another in a `.json` file: one a line, or (when the
/// first spans lines) pretty-printed records.
fn stream_concatenated(file: &Path, visit: &mut Visit<'_>) -> Result<()> {
    let mut r = JsonReader::new(open(file)?);
    let mut first = true;
    while let Some(record) = next_record(&mut r, file, &mut first)? {
        if visit(&record.rec(file))? == Flow::Stop {
            break;
        }
    }
    Ok(())
}

pub fn stem_of(file: &Path) -> String {
    file.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// What a top-level JSON object holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectShape {
    /// Collections by name: (member, whether it maps keys to records).
    /// Members that are no collection are listed in the second vector.
    Collections(Vec<(String, bool)>, Vec<String>),
    /// Keys mapping to records.
    Keyed,
    /// One record.
    Record,
    /// The first of several records, one a line.
    Lines,
}

/// Walks a top-level object without building it, to tell its shape:
/// collections when every member is an array or an object of objects,
/// records by key when every member is an object, else one record.
pub fn object_shape<R: Read>(r: &mut JsonReader<R>, file: &Path) -> Result<ObjectShape> {
    let s = |e| syntax(file, &e);
    r.begin_object().map_err(s)?;
    let mut first = true;
    let mut collections = Vec::new();
    let mut scalars = Vec::new();
    let mut plain_objects = 0usize;
    while let Some(key) = r.next_key(&mut first).map_err(s)? {
        match r.peek() {
            Peeked::Array => {
                r.skip().map_err(s)?;
                collections.push((key, false));
            }
            Peeked::Object => {
                r.begin_object().map_err(s)?;
                let mut inner_first = true;
                let mut all_objects = true;
                while r.next_key(&mut inner_first).map_err(s)?.is_some() {
                    all_objects &= r.peek() == Peeked::Object;
                    r.skip().map_err(s)?;
                }
                if all_objects {
                    collections.push((key, true));
                } else {
                    plain_objects += 1;
                }
            }
            _ => {
                r.skip().map_err(s)?;
                scalars.push(key);
            }
        }
    }
    Ok(if !collections.is_empty() && plain_objects == 0 {
        ObjectShape::Collections(collections, scalars)
    } else if scalars.is_empty() && collections.iter().all(|(_, keyed)| *keyed) {
        ObjectShape::Keyed
    } else {
        ObjectShape::Record
    })
}

/// The shape of a JSON file whose first byte is `{`.
/// Another object on a later line makes it JSON Lines whose first
/// record was too long to tell from the first bytes.
pub fn file_object_shape(file: &Path) -> Result<ObjectShape> {
    object_shape_of(JsonReader::new(open(file)?), file)
}

fn object_shape_of<R: Read>(mut r: JsonReader<R>, file: &Path) -> Result<ObjectShape> {
    let shape = object_shape(&mut r, file)?;
    let line = r.position().line;
    if r.skip_ws() == Some(b'{') && r.position().line > line {
        return Ok(ObjectShape::Lines);
    }
    trailing(&mut r, file)?;
    Ok(shape)
}

/// The names in a directory, in byte order. A million names take some
/// 40 MB while the directory is read.
pub fn list_dir(dir: &Path) -> Result<Vec<std::ffi::OsString>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::Source {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut names: Vec<std::ffi::OsString> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::Source {
            path: dir.to_path_buf(),
            message: e.to_string(),
        })?;
        names.push(entry.file_name());
    }
    names.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
    Ok(names)
}

/// What one entry of a directory is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Hidden,
    Subdirectory,
    /// One record of the directory's own table.
    Record,
    /// A file holding collections of its own.
    Collections(Format),
    /// Not a document, with why.
    Unrecognised(String),
}

pub fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.as_encoded_bytes().first() == Some(&b'.'))
}

/// Files up to this size are read once, whole, to be looked at and read.
const SMALL_FILE: u64 = 1 << 20;

/// Looks at one directory entry. CSV is taken only from `.csv`/`.tsv`
/// files here: any other text would read as a one-column CSV. A small
/// file is read whole once, and its bytes come back for reading it.
pub fn entry_kind(path: &Path) -> Result<(Entry, Option<Vec<u8>>)> {
    use super::detect::{Kind, kind_of, kind_of_head};
    if is_hidden(path) {
        return Ok((Entry::Hidden, None));
    }
    let fail = |e: std::io::Error| Error::Source {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let meta = std::fs::metadata(path).map_err(fail)?;
    let bytes = if meta.is_file() && meta.len() <= SMALL_FILE {
        Some(std::fs::read(path).map_err(fail)?)
    } else {
        None
    };
    let kind = match &bytes {
        Some(b) => kind_of_head(&b[..b.len().min(64 * 1024)]),
        None => kind_of(path).map_err(fail)?,
    };
    let entry = match kind {
        Kind::Directory => Entry::Subdirectory,
        Kind::Sqlite => Entry::Unrecognised("a SQLite database inside a directory source".into()),
        Kind::Empty => Entry::Unrecognised("empty".into()),
        Kind::Binary(at) => Entry::Unrecognised(format!("binary, not JSON or CSV: {at} is not text")),
        Kind::Compressed(_) | Kind::Wide(_) => {
            Entry::Unrecognised(super::detect::unreadable(path, &kind).unwrap_or_default())
        }
        Kind::Document(_) if super::detect::format_of_name(path) == Some(Format::JsonLines) => {
            Entry::Collections(Format::JsonLines)
        }
        Kind::Document(Format::Csv(d)) => {
            let ext = path
                .extension()
                .map(|e| e.to_string_lossy().to_ascii_lowercase())
                .unwrap_or_default();
            if ext == "csv" || ext == "tsv" {
                Entry::Collections(Format::Csv(d))
            } else {
                Entry::Unrecognised("text that is not JSON (CSV is read from .csv and .tsv files)".into())
            }
        }
        Kind::Document(Format::JsonLines) => Entry::Collections(Format::JsonLines),
        Kind::Document(Format::Json) => {
            let first = match &bytes {
                Some(b) => first_of(b),
                None => first_byte(path)?,
            };
            let shape = match (first, &bytes) {
                (Some(b'{'), Some(b)) => Some(object_shape_of(JsonReader::new(b.as_slice()), path)?),
                (Some(b'{'), None) => Some(file_object_shape(path)?),
                _ => None,
            };
            match shape {
                Some(ObjectShape::Record) => Entry::Record,
                // Read as the file's collections, which knows they follow
                // one another.
                Some(ObjectShape::Lines) => Entry::Collections(Format::Json),
                _ => Entry::Collections(Format::Json),
            }
        }
    };
    Ok((entry, bytes))
}

fn first_of(bytes: &[u8]) -> Option<u8> {
    let bytes = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
    bytes.iter().copied().find(|b| !b.is_ascii_whitespace())
}

fn first_byte(path: &Path) -> Result<Option<u8>> {
    let mut head = Vec::new();
    open(path)?
        .take(64 * 1024)
        .read_to_end(&mut head)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let head = head.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(&head);
    Ok(head.iter().copied().find(|b| !b.is_ascii_whitespace()))
}
