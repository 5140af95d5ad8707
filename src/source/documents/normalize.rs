//! From what the records look like to the tables a person would design:
//! scalar fields become columns, nested objects flattened columns, arrays
//! of objects child tables, arrays of scalars PostgreSQL arrays, fields
//! holding keys of another collection foreign keys, and arrays of such
//! keys junction tables. Every decision is explained in `inferred`.

use std::collections::HashSet;

use super::DocumentOptions;
use super::infer::{KindTally, count};
use super::json::JValue;
use super::lines::{Folding, Made, RangeMaker};
use super::records::{self, Origin};
use super::shape::{ElementShape, KeySet, ObjectShape, key_text};
use crate::error::Result;
use crate::source::{Deferrable, Flow, ForeignKey, Index, IndexPart, Inferred, InferredKind};

/// One collection of records: a table and the tables derived from it.
#[derive(Debug, Clone)]
pub struct Collection {
    pub name: String,
    pub origin: Origin,
    /// Its records mix objects and other values: each is kept whole, as
    /// JSON, in one `value` column.
    pub whole_values: bool,
}

/// Where a column's values come from in a record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ColumnSource {
    /// The record's map key or file stem.
    RecordKey,
    /// The record's position in its collection (1-based): a surrogate key.
    Position,
    /// The 1-based position of the element in the array at this level.
    Ordinal(usize),
    /// A field of the object at a level (0 is the record, n the element of
    /// the table's n-th array), by path through nested objects.
    Field { level: usize, path: Vec<String> },
    /// The element itself (a junction's key).
    Element,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ColumnDef {
    pub name: String,
    pub source: ColumnSource,
    pub inferred: Inferred,
    pub not_null: bool,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TableDef {
    pub name: String,
    pub collection: usize,
    /// The array fields walked from the record down to this table's rows.
    pub arrays: Vec<Vec<String>>,
    pub columns: Vec<ColumnDef>,
    pub primary_key: Vec<String>,
    pub foreign_keys: Vec<ForeignKey>,
    pub indexes: Vec<Index>,
    pub rows: u64,
    /// Its rows come in ascending key order when the collection is read
    /// (an integer key that counts up in the file, or the position), so
    /// verify can merge them with the target's instead of hashing.
    pub in_key_order: bool,
}

impl TableDef {
    /// The columns a child or junction table carries to point at this
    /// table: its key, named for the child (`post_id`, `comment_ordinal`).
    pub fn child_key_columns(&self) -> Vec<ColumnDef> {
        let last = self.arrays.last().map(|a| a.join("__"));
        self.primary_key
            .iter()
            .filter_map(|k| self.columns.iter().find(|c| &c.name == k))
            .map(|c| {
                let name = match (&c.source, &last) {
                    (ColumnSource::Ordinal(_), Some(segment)) if c.name == "ordinal" => {
                        format!("{}_ordinal", singular(segment))
                    }
                    _ if self.arrays.is_empty() => format!("{}_{}", singular(&self.name), c.name),
                    _ => c.name.clone(),
                };
                ColumnDef {
                    name,
                    source: c.source.clone(),
                    inferred: c.inferred.clone(),
                    not_null: true,
                }
            })
            .collect()
    }

    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
}

/// What one pass over a collection learned.
#[derive(Debug, Default)]
pub struct Facts {
    pub records: u64,
    /// Records that are not objects (read as `{"value": ...}`).
    pub not_objects: u64,
    /// Whether the records were read whole (objects and other values mixed).
    pub whole_values: bool,
    pub shape: ObjectShape,
    /// Map keys or file stems, when records have them.
    pub keys: KindTally,
    pub key_set: KeySet,
    /// Records whose `id` is a string or number, and their values.
    pub ids_present: u64,
    pub id_set: KeySet,
    /// Whether every record's `id` equals its map key.
    pub ids_match_keys: bool,
}

impl Facts {
    pub fn new() -> Facts {
        Facts {
            ids_match_keys: true,
            ..Facts::default()
        }
    }

    /// Learns from one record; `keyed` when its map key or stem may be the key.
    pub fn add(&mut self, rec: &records::Rec<'_>, keyed: bool) {
        if rec.problem.is_some_and(|p| p.malformed) {
            return;
        }
        self.records += 1;
        if rec.not_object {
            self.not_objects += 1;
        }
        let JValue::Object(members) = rec.value else {
            return;
        };
        self.shape.add(members);
        if keyed && let Some(key) = rec.key {
            self.keys.add_str(key);
            self.key_set.push(key);
        }
        match rec.value.get("id").and_then(key_text) {
            Some(id) => {
                self.ids_present += 1;
                self.id_set.push(id);
                if rec.key.is_some_and(|k| k != id) {
                    self.ids_match_keys = false;
                }
            }
            None => self.ids_match_keys = false,
        }
    }
}

impl Facts {
    /// Adds what was learned of the records after these (a later range of
    /// the file): the facts one pass over both gives.
    pub fn merge(&mut self, other: Facts) {
        self.records += other.records;
        self.not_objects += other.not_objects;
        self.shape.merge(other.shape);
        self.keys.merge(&other.keys);
        self.key_set.append(other.key_set);
        self.ids_present += other.ids_present;
        self.id_set.append(other.id_set);
        self.ids_match_keys &= other.ids_match_keys;
    }
}

/// The facts of a range's records, learned on the worker that parses
/// them (nothing in them depends on where the range starts).
pub(super) struct LearnRange<'f> {
    facts: Facts,
    file: &'f std::path::Path,
    keyed: bool,
}

impl<'f> LearnRange<'f> {
    pub fn new(file: &'f std::path::Path, keyed: bool) -> LearnRange<'f> {
        LearnRange {
            facts: Facts::new(),
            file,
            keyed,
        }
    }

    pub fn add(&mut self, record: &records::Parsed) {
        self.facts.add(&record.rec(self.file), self.keyed);
    }

    pub fn into_facts(self) -> Facts {
        self.facts
    }
}

impl RangeMaker for LearnRange<'_> {
    fn take(&mut self, record: &records::Parsed) -> bool {
        self.add(record);
        true
    }

    fn made(self: Box<Self>) -> Made {
        Box::new(self.facts)
    }
}

/// Reads every record of a collection once, learning its shape and keys;
/// a file read in ranges is learned range by range on the workers, and
/// the ranges' facts merged in file order.
pub fn learn(origin: &Origin) -> Result<Facts> {
    let mut facts = Facts::new();
    let keyed = origin.has_keys();
    if let Origin::Csv { dialect, .. } = origin {
        for name in &dialect.columns {
            facts.shape.declare(name);
        }
    }
    if records::read_in_ranges(origin) {
        let file = origin.path();
        let fold = || Some(Box::new(LearnRange::new(file, keyed)) as Box<dyn RangeMaker>);
        let learned = std::cell::RefCell::new(&mut facts);
        let mut take = |made: Made| {
            let range = made
                .downcast::<Facts>()
                .map_err(|_| crate::error::Error::Other("a range learned as something else".into()))?;
            learned.borrow_mut().merge(*range);
            Ok(Flow::Continue)
        };
        let folding = Folding {
            fold: &fold,
            take: &mut take,
        };
        records::each_folded(origin, Some(folding), &mut |rec| {
            learned.borrow_mut().add(rec, keyed);
            Ok(Flow::Continue)
        })?;
    } else {
        records::each_for_learning(origin, &mut |rec| {
            facts.add(rec, keyed);
            Ok(Flow::Continue)
        })?;
    }
    if facts.not_objects > 0 && facts.not_objects < facts.records {
        // Objects next to other values: `{}` would read as `null`, and a
        // `{"value": 1}` as `1`. Read again, keeping every value whole.
        let mut whole = Facts::new();
        whole.whole_values = true;
        records::each_whole(origin, &mut |rec| {
            whole.add(rec, keyed);
            Ok(Flow::Continue)
        })?;
        return Ok(whole);
    }
    Ok(facts)
}

/// How a collection's records are keyed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RootKey {
    /// The records' own `id`.
    Id,
    /// The map key or file stem, in a column of this name.
    RecordKey(String),
    /// A surrogate from the position, in a column of this name.
    Position(String),
}

/// The tables of every collection, before references are looked for.
pub struct Model {
    pub collections: Vec<Collection>,
    pub tables: Vec<TableDef>,
    pub inferred: Vec<String>,
    pub skipped: Vec<String>,
    /// Per collection, hashes of map keys that occur more than once.
    pub repeated_keys: Vec<Vec<u64>>,
    /// Key sets of the root tables with a natural key, by table index.
    key_sets: Vec<Option<KeySet>>,
    candidates: Vec<Candidate>,
}

impl Model {
    /// A model learned before (and recorded by `copy`), for collections
    /// found again in the same bytes: what resolving references left.
    pub fn recorded(
        collections: Vec<Collection>,
        tables: Vec<TableDef>,
        inferred: Vec<String>,
        skipped: Vec<String>,
        repeated_keys: Vec<Vec<u64>>,
    ) -> Model {
        Model {
            collections,
            tables,
            inferred,
            skipped,
            repeated_keys,
            key_sets: Vec::new(),
            candidates: Vec::new(),
        }
    }
}

/// A field that might refer to another collection's keys.
#[derive(Debug, Clone)]
struct Candidate {
    table: usize,
    column: String,
    /// The field's path in the table's row object.
    path: Vec<String>,
    is_array: bool,
    sample: Vec<String>,
    /// When every value is an integer: how many, the smallest and largest.
    integers: Option<(u64, i64, i64)>,
    /// Root tables it may refer to, with whether the name hints at it.
    targets: Vec<(usize, bool)>,
}

pub fn singular(name: &str) -> String {
    if let Some(stem) = name.strip_suffix("ies") {
        format!("{stem}y")
    } else if name.ends_with("sses") || name.ends_with("xes") {
        name[..name.len() - 2].to_string()
    } else if let Some(stem) = name
        .strip_suffix('s')
        .filter(|s| !s.ends_with('s') && !s.ends_with('u') && s.len() > 1)
    {
        stem.to_string()
    } else {
        name.to_string()
    }
}

/// Whether a field's name says it holds keys of `table`: `user_id`,
/// `userId`, `user_ids`, `author_user_id`, or `users` itself.
fn name_hints(field: &str, table: &str) -> bool {
    let field_l = field.to_ascii_lowercase();
    let table_l = table.to_ascii_lowercase();
    let one = singular(&table_l);
    if field_l == table_l {
        return true;
    }
    let stem = ["_ids", "_id", "ids", "id"]
        .iter()
        .find_map(|suffix| field_l.strip_suffix(suffix))
        .map(|s| s.trim_end_matches('_'));
    match stem {
        Some(stem) if !stem.is_empty() => stem == one || stem == table_l || stem.ends_with(&format!("_{one}")),
        _ => false,
    }
}

/// The names of every PostgreSQL table's system columns.
const SYSTEM_COLUMNS: [&str; 6] = ["tableoid", "xmin", "cmin", "xmax", "cmax", "ctid"];

/// PostgreSQL's longest identifier, in bytes (longer ones are cut).
const MAX_IDENTIFIER: usize = 63;

/// A name PostgreSQL takes as it is: not empty, at most 63 bytes (cut at
/// a character boundary to leave `room` bytes for a suffix).
fn representable(name: &str, room: usize) -> String {
    if name.is_empty() {
        return "unnamed".into();
    }
    // PostgreSQL's system columns: no column may take their names.
    if SYSTEM_COLUMNS.contains(&name) {
        return format!("{name}_field");
    }
    let mut end = name.len().min(MAX_IDENTIFIER - room);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].to_string()
}

/// A name no other in `taken` has, that PostgreSQL takes. Exact: `Name`
/// and `name` are two PostgreSQL names when quoted, so both keys keep their
/// spelling; `--identifiers lower` then refuses the pair by name in `plan`.
fn unique_name(taken: &mut HashSet<String>, base: &str) -> String {
    let mut name = representable(base, 0);
    let mut n = 2;
    while !taken.insert(name.clone()) {
        let suffix = format!("_{n}");
        name = format!("{}{suffix}", representable(base, suffix.len()));
        n += 1;
    }
    name
}

fn key_kinds_match(a: &InferredKind, b: &InferredKind) -> bool {
    a == b && matches!(a, InferredKind::Integer | InferredKind::Text | InferredKind::Uuid)
}

struct Builder<'a> {
    options: &'a DocumentOptions,
    model: Model,
    table_names: HashSet<String>,
}

/// Decides every table, column and key from what the pass learned.
pub fn build(
    collections: Vec<Collection>,
    facts: Vec<Facts>,
    skipped: Vec<String>,
    options: &DocumentOptions,
) -> Model {
    let mut b = Builder {
        options,
        model: Model {
            collections,
            tables: Vec::new(),
            inferred: Vec::new(),
            skipped,
            repeated_keys: Vec::new(),
            key_sets: Vec::new(),
            candidates: Vec::new(),
        },
        table_names: HashSet::new(),
    };
    // Root names first, so that derived tables never take a collection's name.
    let roots: Vec<String> = b
        .model
        .collections
        .iter()
        .map(|c| c.name.clone())
        .collect::<Vec<_>>()
        .into_iter()
        .map(|n| {
            let name = unique_name(&mut b.table_names, &n);
            if representable(&n, 0) != n {
                b.model.inferred.push(format!(
                    "the collection {n:?} has no name PostgreSQL takes as it is (empty, longer than {MAX_IDENTIFIER} bytes, or a system column's): its table is {name:?}"
                ));
            }
            name
        })
        .collect();
    b.model.repeated_keys = vec![Vec::new(); b.model.collections.len()];
    let mut facts = facts;
    let mut pending_children = Vec::new();
    for (i, f) in facts.iter_mut().enumerate() {
        let name = roots[i].clone();
        b.model.collections[i].name = name.clone();
        if let Origin::TopFields { file, fields } = &b.model.collections[i].origin {
            b.model.inferred.push(format!(
                "{name}: the top-level fields of {} beside its collections ({}), kept as one row",
                file.display(),
                fields.join(", ")
            ));
        }
        if f.whole_values {
            b.model.collections[i].whole_values = true;
            b.model.inferred.push(format!(
                "{name}: its records mix objects and other values: each is kept whole, as JSON, in the column value"
            ));
        }
        let table = b.root_table(i, &name, f, &mut pending_children);
        let _ = table;
    }
    // Child tables, breadth first, after every root so key sets line up.
    while !pending_children.is_empty() {
        let (parent, path, elements) = pending_children.remove(0);
        b.child_table(parent, path, &elements, &mut pending_children);
    }
    b.model.key_sets.resize_with(b.model.tables.len(), || None);
    b.find_targets();
    b.model
}

impl Builder<'_> {
    fn keep_json(&self, table: &str, column: &str) -> bool {
        self.options.keep_json.iter().any(|p| {
            p.split_once('.')
                .is_some_and(|(t, c)| t.eq_ignore_ascii_case(table) && c.eq_ignore_ascii_case(column))
        })
    }

    fn root_table(
        &mut self,
        collection: usize,
        name: &str,
        facts: &mut Facts,
        pending: &mut Vec<(usize, Vec<String>, ElementShape)>,
    ) -> usize {
        let origin = self.model.collections[collection].origin.clone();
        let has_id_field = facts.shape.field("id").is_some();
        let id_kind = facts
            .shape
            .field("id")
            .filter(|f| f.objects == 0 && f.arrays == 0)
            .map(|f| f.scalars.decide(0).kind);
        let id_usable = facts.ids_present == facts.records
            && facts.records > 0
            && id_kind.as_ref().is_some_and(|k| key_kinds_match(k, k));
        let key = if origin.has_keys() && !(id_usable && facts.ids_match_keys) {
            let repeated = facts.key_set.seal();
            let column = if has_id_field { "key" } else { "id" };
            let column = if facts.shape.field(column).is_some() {
                "_key"
            } else {
                column
            };
            self.model.inferred.push(format!(
                "{name}: primary key {column} from each record's {} ({} records{})",
                origin.key_source(),
                count(facts.records),
                if has_id_field {
                    "; their own id differs from it"
                } else {
                    ""
                }
            ));
            if !repeated.is_empty() {
                self.model.inferred.push(format!(
                    "{name}: {} {}s appear more than once: each record after the first with a key is rejected",
                    count(u64::try_from(repeated.len()).unwrap_or(u64::MAX)),
                    origin.key_source()
                ));
                self.model.repeated_keys[collection] = repeated;
            }
            RootKey::RecordKey(column.to_string())
        } else if id_usable {
            let unique = facts.id_set.seal().is_empty();
            if unique {
                self.model.inferred.push(format!(
                    "{name}: primary key id, unique in all {} records",
                    count(facts.records)
                ));
                RootKey::Id
            } else {
                self.surrogate(name, has_id_field, "its id values repeat")
            }
        } else if has_id_field {
            self.surrogate(
                name,
                true,
                "id is missing, null or not a string or integer in some records",
            )
        } else {
            self.surrogate(name, false, "its records carry no id")
        };

        let mut columns = Vec::new();
        let mut taken = HashSet::new();
        let key_column = match &key {
            RootKey::Id => {
                let f = facts.shape.field("id").map(|f| f.scalars.decide(0));
                ColumnDef {
                    name: "id".into(),
                    source: ColumnSource::Field {
                        level: 0,
                        path: vec!["id".into()],
                    },
                    inferred: f.unwrap_or(Inferred {
                        kind: InferredKind::Text,
                        evidence: String::new(),
                    }),
                    not_null: true,
                }
            }
            RootKey::RecordKey(column) => ColumnDef {
                name: column.clone(),
                source: ColumnSource::RecordKey,
                inferred: {
                    let mut d = facts.keys.decide(0);
                    d.evidence = format!("{} ({})", origin.key_source(), d.evidence);
                    d
                },
                not_null: true,
            },
            RootKey::Position(column) => ColumnDef {
                name: column.clone(),
                source: ColumnSource::Position,
                inferred: Inferred {
                    kind: InferredKind::Integer,
                    evidence: "surrogate key: the record's position in its file".into(),
                },
                not_null: true,
            },
        };
        taken.insert(key_column.name.clone());
        let primary_key = vec![key_column.name.clone()];
        columns.push(key_column);
        let index = self.model.tables.len();
        let mut table = TableDef {
            name: name.to_string(),
            collection,
            arrays: Vec::new(),
            columns: Vec::new(),
            primary_key,
            foreign_keys: Vec::new(),
            indexes: Vec::new(),
            rows: facts.records,
            in_key_order: match &key {
                RootKey::Id => {
                    matches!(facts.id_set, KeySet::Run { .. }) && matches!(&id_kind, Some(InferredKind::Integer))
                }
                RootKey::Position(_) => true,
                RootKey::RecordKey(_) => false,
            },
        };
        let skip_id = key == RootKey::Id;
        self.expand(
            &mut table,
            index,
            &facts.shape,
            0,
            &[],
            1,
            &mut columns,
            &mut taken,
            skip_id,
            pending,
        );
        table.columns = columns;
        self.model.tables.push(table);
        self.model.key_sets.resize_with(index + 1, || None);
        self.model.key_sets[index] = match key {
            RootKey::Id => Some(std::mem::take(&mut facts.id_set)),
            RootKey::RecordKey(_) => Some(std::mem::take(&mut facts.key_set)),
            RootKey::Position(_) => None,
        };
        index
    }

    fn surrogate(&mut self, table: &str, has_id_field: bool, why: &str) -> RootKey {
        let column = if has_id_field { "_id" } else { "id" };
        self.model.inferred.push(format!(
            "{table}: surrogate primary key {column} from each record's position in its file ({why})"
        ));
        RootKey::Position(column.to_string())
    }

    /// Adds the columns of an object's fields, flattening nested objects.
    #[allow(clippy::too_many_arguments)]
    fn expand(
        &mut self,
        table: &mut TableDef,
        table_index: usize,
        shape: &ObjectShape,
        level: usize,
        prefix: &[String],
        depth: usize,
        columns: &mut Vec<ColumnDef>,
        taken: &mut HashSet<String>,
        skip_id: bool,
        pending: &mut Vec<(usize, Vec<String>, ElementShape)>,
    ) {
        for field in &shape.fields {
            if skip_id && prefix.is_empty() && field.name == "id" {
                continue;
            }
            let mut path = prefix.to_vec();
            path.push(field.name.clone());
            let flat = path.join("__");
            if representable(&flat, 0) != flat {
                // The key cannot be a column's name as it is: say which it took.
                self.model.inferred.push(format!(
                    "{}: the field {:?} has no name PostgreSQL takes as it is (empty, longer than {MAX_IDENTIFIER} bytes, or a system column's): its column is {:?}",
                    table.name,
                    flat,
                    representable(&flat, 0)
                ));
            }
            let keep = self.keep_json(&table.name, &flat);
            let scalars = field.scalars.non_null();
            let column = |name: String, inferred: Inferred| ColumnDef {
                name,
                source: ColumnSource::Field {
                    level,
                    path: path.clone(),
                },
                inferred,
                not_null: false,
            };
            let only_objects = field.objects > 0 && field.arrays == 0 && scalars == 0;
            let only_arrays = field.arrays > 0 && field.objects == 0 && scalars == 0;
            if keep {
                let name = unique_name(taken, &flat);
                columns.push(column(
                    name,
                    Inferred {
                        kind: InferredKind::Json,
                        evidence: "kept as JSON by godwit.toml".into(),
                    },
                ));
            } else if only_objects && field.object.as_ref().is_some_and(|inner| inner.fields.is_empty()) {
                // `{}` has no field to flatten into: kept as JSON, so that it
                // is not read back as null.
                let name = unique_name(taken, &flat);
                columns.push(column(
                    name,
                    Inferred {
                        kind: InferredKind::Json,
                        evidence: "objects with no fields: kept as JSON".into(),
                    },
                ));
            } else if only_objects && depth < self.options.max_depth {
                if let Some(inner) = &field.object {
                    self.expand(
                        table,
                        table_index,
                        inner,
                        level,
                        &path,
                        depth + 1,
                        columns,
                        taken,
                        false,
                        pending,
                    );
                }
            } else if only_objects {
                let name = unique_name(taken, &flat);
                columns.push(column(
                    name,
                    Inferred {
                        kind: InferredKind::Json,
                        evidence: format!(
                            "objects nested deeper than {} levels (documents.max_depth)",
                            self.options.max_depth
                        ),
                    },
                ));
            } else if only_arrays && let Some(elements) = &field.elements {
                let element_scalars = elements.scalars.non_null();
                if elements.arrays == 0 && elements.objects.count > 0 && element_scalars == 0 {
                    pending.push((table_index, path.clone(), (**elements).clone()));
                } else if elements.arrays == 0 && elements.objects.count == 0 {
                    let inner = elements.scalars.decide(0);
                    let inferred = match inner.kind {
                        InferredKind::Json => Inferred {
                            kind: InferredKind::Json,
                            evidence: format!("arrays whose elements are of several kinds: {}", inner.evidence),
                        },
                        InferredKind::AlwaysNull => Inferred {
                            kind: InferredKind::Array(Box::new(InferredKind::Text)),
                            evidence: "arrays that are empty or hold only nulls".into(),
                        },
                        kind => Inferred {
                            evidence: format!("arrays of one kind: {}", inner.evidence),
                            kind: InferredKind::Array(Box::new(kind)),
                        },
                    };
                    let name = unique_name(taken, &flat);
                    if let InferredKind::Array(element) = &inferred.kind {
                        self.model.candidates.push(Candidate {
                            table: table_index,
                            column: name.clone(),
                            path: path.clone(),
                            is_array: true,
                            sample: field.sample.clone(),
                            integers: None,
                            targets: Vec::new(),
                        });
                        let _ = element;
                    }
                    columns.push(column(name, inferred));
                } else {
                    let name = unique_name(taken, &flat);
                    columns.push(column(
                        name,
                        Inferred {
                            kind: InferredKind::Json,
                            evidence: "arrays mixing objects, arrays and scalars".into(),
                        },
                    ));
                }
            } else {
                let others = field.objects + field.arrays;
                let inferred = field.scalars.decide(others);
                let name = unique_name(taken, &flat);
                if others == 0 {
                    self.model.candidates.push(Candidate {
                        table: table_index,
                        column: name.clone(),
                        path: path.clone(),
                        is_array: false,
                        sample: field.sample.clone(),
                        integers: field.scalars.integer_range(),
                        targets: Vec::new(),
                    });
                }
                columns.push(column(name, inferred));
            }
        }
    }

    /// The columns a table's children carry to point at it, with their sources.
    fn parent_key(&self, parent: usize) -> Vec<ColumnDef> {
        self.model.tables[parent].child_key_columns()
    }

    fn child_table(
        &mut self,
        parent: usize,
        path: Vec<String>,
        elements: &ElementShape,
        pending: &mut Vec<(usize, Vec<String>, ElementShape)>,
    ) {
        let flat = path.join("__");
        let parent_name = self.model.tables[parent].name.clone();
        let name = unique_name(&mut self.table_names, &format!("{parent_name}__{flat}"));
        let mut arrays = self.model.tables[parent].arrays.clone();
        arrays.push(path);
        let level = arrays.len();
        let mut taken = HashSet::new();
        let mut columns = self.parent_key(parent);
        for c in &columns {
            taken.insert(c.name.clone());
        }
        let fk_columns: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
        let ordinal = unique_name(&mut taken, "ordinal");
        columns.push(ColumnDef {
            name: ordinal.clone(),
            source: ColumnSource::Ordinal(level - 1),
            inferred: Inferred {
                kind: InferredKind::Integer,
                evidence: format!("position in {parent_name}.{flat}, from 1: keeps the order"),
            },
            not_null: true,
        });
        let mut primary_key = fk_columns.clone();
        primary_key.push(ordinal);
        let index = self.model.tables.len();
        let mut table = TableDef {
            name: name.clone(),
            collection: self.model.tables[parent].collection,
            arrays,
            columns: Vec::new(),
            primary_key,
            foreign_keys: vec![ForeignKey {
                name: None,
                columns: fk_columns,
                parent_table: parent_name.clone(),
                parent_columns: self.model.tables[parent].primary_key.clone(),
                on_update: "NO ACTION".into(),
                on_delete: "NO ACTION".into(),
                deferrable: Deferrable::No,
            }],
            indexes: Vec::new(),
            rows: elements.count,
            // Its key is the parent's then the element's position, and its
            // rows come parent by parent, element by element.
            in_key_order: self.model.tables[parent].in_key_order,
        };
        self.model.inferred.push(format!(
            "{name}: child table of {parent_name} for the {} objects in {parent_name}.{flat}, keyed by its parent's key and their position",
            count(elements.count)
        ));
        self.model.tables.push(table.clone());
        self.expand(
            &mut table,
            index,
            &elements.objects,
            level,
            &[],
            1,
            &mut columns,
            &mut taken,
            false,
            pending,
        );
        table.columns = columns;
        self.model.tables[index] = table;
    }

    /// For each candidate field, the collections whose keys it may hold:
    /// the name hints at them, or the first values are all among their keys.
    fn find_targets(&mut self) {
        let refused = |table: &str, column: &str| {
            self.options
                .relations
                .iter()
                .any(|r| r.refuse && r.field.split_once('.').is_some_and(|(t, c)| t == table && c == column))
        };
        let mut kept = Vec::new();
        for mut cand in std::mem::take(&mut self.model.candidates) {
            let table_name = self.model.tables[cand.table].name.clone();
            if refused(&table_name, &cand.column) {
                self.model.inferred.push(format!(
                    "{table_name}.{}: not a relation (refused by godwit.toml)",
                    cand.column
                ));
                continue;
            }
            let table = &self.model.tables[cand.table];
            let Some(column) = table.columns.iter().find(|c| c.name == cand.column) else {
                continue;
            };
            let kind = match &column.inferred.kind {
                InferredKind::Array(k) => (**k).clone(),
                k => k.clone(),
            };
            let field = cand.path.last().cloned().unwrap_or_default();
            let forced = self.options.relations.iter().find(|r| {
                !r.refuse
                    && r.to.is_some()
                    && r.field
                        .split_once('.')
                        .is_some_and(|(t, c)| t == table_name && c == cand.column)
            });
            for (t, target) in self.model.tables.iter().enumerate() {
                let Some(keys) = &self.model.key_sets[t] else { continue };
                let target_key = target
                    .columns
                    .iter()
                    .find(|c| Some(&c.name) == target.primary_key.first());
                if !target_key.is_some_and(|k| key_kinds_match(&k.inferred.kind, &kind)) {
                    continue;
                }
                // A table's own key refers to nothing.
                if t == cand.table && target.primary_key.first() == Some(&cand.column) {
                    continue;
                }
                if let Some(rule) = forced {
                    if rule.to.as_deref().is_some_and(|to| to == target.name) {
                        cand.targets.push((t, true));
                    }
                    continue;
                }
                let hint = name_hints(&field, &target.name);
                let sampled = !cand.sample.is_empty() && cand.sample.iter().all(|v| keys.contains(v));
                if hint || (sampled && kind != InferredKind::Integer) {
                    cand.targets.push((t, hint));
                }
            }
            if !cand.targets.is_empty() {
                kept.push(cand);
            }
        }
        self.model.candidates = kept;
    }
}

impl Model {
    /// Checks each candidate against every value, then adds the foreign
    /// keys and junction tables that hold. One more pass over the
    /// collections that have candidates (over only the first records of
    /// each, as many as `within` says, for a provisional model).
    pub fn resolve_references(&mut self, options: &DocumentOptions, within: Option<&[u64]>) -> Result<()> {
        let candidates = std::mem::take(&mut self.candidates);
        // (total values, hits per target)
        let mut tallies: Vec<(u64, Vec<u64>)> = candidates.iter().map(|c| (0, vec![0; c.targets.len()])).collect();
        for (collection_index, collection) in self.collections.iter().enumerate() {
            let mine: Vec<usize> = (0..candidates.len())
                .filter(|&i| self.tables[candidates[i].table].collection == collection_index)
                .collect();
            if mine.is_empty() {
                continue;
            }
            // Integers all inside the runs of integer keys they may refer
            // to are all keys: no need to read the collection again.
            let known: Vec<Option<u64>> = mine.iter().map(|&i| self.all_in_runs(&candidates[i])).collect();
            if known.iter().all(Option::is_some) {
                for (&i, n) in mine.iter().zip(known) {
                    let n = n.unwrap_or(0);
                    tallies[i] = (n, vec![n; candidates[i].targets.len()]);
                }
                continue;
            }
            let limit = within.and_then(|w| w.get(collection_index).copied());
            let mut read = 0u64;
            records::each(&collection.origin, &mut |rec| {
                read += 1;
                if limit.is_some_and(|limit| read > limit) {
                    return Ok(Flow::Stop);
                }
                for &i in &mine {
                    let cand = &candidates[i];
                    let table = &self.tables[cand.table];
                    let (total, hits) = &mut tallies[i];
                    super::rows::each_row_object(rec.value, &table.arrays, &mut |objects, _| {
                        let Some(value) = objects.last().and_then(|o| field_at(o, &cand.path)) else {
                            return;
                        };
                        let mut check = |v: &JValue| {
                            if let Some(text) = key_text(v) {
                                *total += 1;
                                for (n, (t, _)) in cand.targets.iter().enumerate() {
                                    if self.key_sets[*t].as_ref().is_some_and(|k| k.contains(text)) {
                                        hits[n] += 1;
                                    }
                                }
                            }
                        };
                        match value {
                            JValue::Array(items) if cand.is_array => items.iter().for_each(&mut check),
                            v => check(v),
                        }
                    });
                }
                Ok(Flow::Continue)
            })?;
        }
        for (cand, (total, hits)) in candidates.into_iter().zip(tallies) {
            let source = self.tables[cand.table].name.clone();
            let label = format!("{source}.{}", cand.column);
            let full: Vec<usize> = (0..hits.len()).filter(|&n| total > 0 && hits[n] == total).collect();
            let hinted: Vec<usize> = (0..hits.len()).filter(|&n| cand.targets[n].1).collect();
            let choice = full
                .iter()
                .find(|n| cand.targets[**n].1)
                .copied()
                .or_else(|| (full.len() == 1).then(|| full[0]))
                .or_else(|| {
                    (hinted.len() == 1 && hits[hinted[0]] > 0 && hits[hinted[0]] * 2 >= total).then(|| hinted[0])
                });
            let Some(n) = choice else {
                if full.len() > 1 {
                    let names: Vec<&str> = full
                        .iter()
                        .map(|n| self.tables[cand.targets[*n].0].name.as_str())
                        .collect();
                    self.inferred.push(format!(
                        "{label}: not a relation: its values are keys of several collections ({})",
                        names.join(", ")
                    ));
                }
                continue;
            };
            let target = cand.targets[n].0;
            let target_name = self.tables[target].name.clone();
            let mut evidence = format!(
                "{label}: {} of {} values are keys of {target_name}",
                count(hits[n]),
                count(total)
            );
            if cand.targets[n].1 {
                evidence.push_str(" (the name says so too)");
            }
            if hits[n] < total {
                evidence.push_str(&format!(
                    "; {} dangle, so the foreign key is created NOT VALID",
                    count(total - hits[n])
                ));
            }
            let rename = options
                .relations
                .iter()
                .find(|r| r.field == label)
                .and_then(|r| r.name.clone());
            if cand.is_array {
                let junction = self.junction(cand.table, &cand, target, rename, total);
                self.inferred.push(format!("{evidence}: junction table {junction}"));
            } else {
                let parent_columns = self.tables[target].primary_key.clone();
                let table = &mut self.tables[cand.table];
                table.foreign_keys.push(ForeignKey {
                    name: rename,
                    columns: vec![cand.column.clone()],
                    parent_table: target_name.clone(),
                    parent_columns,
                    on_update: "NO ACTION".into(),
                    on_delete: "NO ACTION".into(),
                    deferrable: Deferrable::No,
                });
                if table.primary_key.first() != Some(&cand.column) {
                    table.indexes.push(Index {
                        name: format!("{}_{}_idx", table.name, cand.column),
                        unique: false,
                        parts: vec![IndexPart::Column {
                            name: cand.column.clone(),
                            descending: false,
                            collation: None,
                        }],
                        predicate: None,
                        from_constraint: false,
                    });
                }
                self.inferred.push(format!("{evidence}: foreign key"));
            }
        }
        self.key_sets.clear();
        Ok(())
    }

    /// How many values a candidate has, when they are integers that all
    /// fall inside every target's run of keys (keys that count up by one,
    /// with no gaps): then every value is a key of every target.
    fn all_in_runs(&self, cand: &Candidate) -> Option<u64> {
        let (count, min, max) = cand.integers.filter(|_| !cand.is_array)?;
        let inside = cand.targets.iter().all(|(t, _)| match self.key_sets[*t].as_ref() {
            Some(KeySet::Run { first, last }) => count == 0 || (*first <= min && max <= *last),
            _ => false,
        });
        inside.then_some(count)
    }

    /// Replaces an array column of keys by a junction table, one row per element.
    fn junction(&mut self, table: usize, cand: &Candidate, target: usize, rename: Option<String>, rows: u64) -> String {
        let mut names: HashSet<String> = self.tables.iter().map(|t| t.name.clone()).collect();
        let parent = &self.tables[table];
        let parent_name = parent.name.clone();
        let name = unique_name(
            &mut names,
            &rename.unwrap_or_else(|| format!("{parent_name}__{}", cand.column)),
        );
        let column_index = parent.column(&cand.column);
        let mut arrays = parent.arrays.clone();
        arrays.push(cand.path.clone());
        let level = arrays.len();
        // The parent's key, as a child table carries it.
        let mut taken = HashSet::new();
        let mut columns: Vec<ColumnDef> = parent
            .child_key_columns()
            .into_iter()
            .map(|c| ColumnDef {
                name: unique_name(&mut taken, &c.name),
                ..c
            })
            .collect();
        let parent_fk: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
        let ordinal = unique_name(&mut taken, "ordinal");
        columns.push(ColumnDef {
            name: ordinal.clone(),
            source: ColumnSource::Ordinal(level - 1),
            inferred: Inferred {
                kind: InferredKind::Integer,
                evidence: format!("position in {parent_name}.{}, from 1: keeps the order", cand.column),
            },
            not_null: true,
        });
        let target_table = &self.tables[target];
        let target_key = target_table.primary_key[0].clone();
        // Named after the field (`reply_ids` → `reply_id`), else the target.
        let field = cand.path.last().map(String::as_str).unwrap_or_default();
        let stem = ["_ids", "Ids", "_id", "Id"]
            .iter()
            .find_map(|s| field.strip_suffix(s))
            .unwrap_or(field);
        let by_field = format!("{}_{target_key}", singular(stem));
        let base = if stem.is_empty() || taken.contains(&by_field) {
            format!("{}_{target_key}", singular(&target_table.name))
        } else {
            by_field
        };
        let element_name = unique_name(&mut taken, &base);
        let element_kind = target_table
            .columns
            .iter()
            .find(|c| c.name == target_key)
            .map(|c| c.inferred.kind.clone())
            .unwrap_or(InferredKind::Text);
        columns.push(ColumnDef {
            name: element_name.clone(),
            source: ColumnSource::Element,
            inferred: Inferred {
                kind: element_kind,
                evidence: format!(
                    "an element of {parent_name}.{}: a key of {}",
                    cand.column, target_table.name
                ),
            },
            not_null: false,
        });
        let mut primary_key = parent_fk.clone();
        primary_key.push(ordinal);
        let junction = TableDef {
            name: name.clone(),
            collection: parent.collection,
            arrays,
            columns,
            primary_key,
            foreign_keys: vec![
                ForeignKey {
                    name: None,
                    columns: parent_fk,
                    parent_table: parent_name.clone(),
                    parent_columns: parent.primary_key.clone(),
                    on_update: "NO ACTION".into(),
                    on_delete: "NO ACTION".into(),
                    deferrable: Deferrable::No,
                },
                ForeignKey {
                    name: None,
                    columns: vec![element_name.clone()],
                    parent_table: target_table.name.clone(),
                    parent_columns: vec![target_key],
                    on_update: "NO ACTION".into(),
                    on_delete: "NO ACTION".into(),
                    deferrable: Deferrable::No,
                },
            ],
            indexes: vec![Index {
                name: format!("{name}_{element_name}_idx"),
                unique: false,
                parts: vec![IndexPart::Column {
                    name: element_name,
                    descending: false,
                    collation: None,
                }],
                predicate: None,
                from_constraint: false,
            }],
            rows,
            in_key_order: parent.in_key_order,
        };
        if let Some(i) = column_index {
            self.tables[table].columns.remove(i);
        }
        self.tables.push(junction);
        name
    }
}

/// The value at a path of nested objects.
pub fn field_at<'v>(object: &'v JValue, path: &[String]) -> Option<&'v JValue> {
    let mut value = object;
    for segment in path {
        value = value.get(segment)?;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_hint_at_collections() {
        assert_eq!(singular("users"), "user");
        assert_eq!(singular("memories"), "memory");
        assert_eq!(singular("addresses"), "address");
        assert_eq!(singular("status"), "status");
        assert!(name_hints("user_id", "users"));
        assert!(name_hints("userId", "users"));
        assert!(name_hints("post_ids", "posts"));
        assert!(name_hints("author_user_id", "users"));
        assert!(name_hints("posts", "posts"));
        assert!(!name_hints("author_id", "users"));
        assert!(!name_hints("paid", "users"));
    }
}
