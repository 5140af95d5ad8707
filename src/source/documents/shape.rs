//! What the records of a collection look like, learned over every record
//! in one pass: for each field, the kinds of its values, the fields of its
//! nested objects and the elements of its arrays. Memory grows with the
//! number of distinct fields, not with the data.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use super::infer::KindTally;
use super::json::{JValue, Key};

/// How many distinct values of a field are kept (as hashes) to pick the
/// collections it might refer to before the exact check.
pub const SAMPLE: usize = 64;

/// The fields of the objects seen at one place.
#[derive(Debug, Default, Clone)]
pub struct ObjectShape {
    pub fields: Vec<FieldShape>,
    index: HashMap<String, usize>,
    /// Objects seen here.
    pub count: u64,
}

#[derive(Debug, Default, Clone)]
pub struct FieldShape {
    pub name: String,
    /// Scalars, nulls included (a missing field counts as null).
    pub scalars: KindTally,
    pub objects: u64,
    pub object: Option<Box<ObjectShape>>,
    pub arrays: u64,
    pub elements: Option<Box<ElementShape>>,
    /// The first distinct scalar values (of elements, for arrays), to
    /// guess which keys they may be; emptied for good by a long value.
    pub sample: Vec<String>,
    pub long_values: bool,
    /// The count of its object when this field was last present.
    seen_in: u64,
    /// The reader's shared copy of the name when last met: the same copy
    /// again is this field with no comparison of the text.
    last_key: Option<Key>,
}

/// The elements of every array seen in one field.
#[derive(Debug, Default, Clone)]
pub struct ElementShape {
    pub scalars: KindTally,
    pub objects: ObjectShape,
    pub arrays: u64,
    pub count: u64,
}

/// A value's text as keys compare: strings as they are, numbers as written.
pub fn key_text(value: &JValue) -> Option<&str> {
    match value {
        JValue::String(s) => Some(s),
        JValue::Number(n) => Some(n),
        _ => None,
    }
}

pub fn hash_key(text: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

/// Longer texts are no keys worth guessing at.
const LONGEST_KEY: usize = 128;

fn sample_value(field: &mut FieldShape, value: &JValue) {
    let Some(text) = key_text(value) else { return };
    if text.len() > LONGEST_KEY {
        field.long_values = true;
        field.sample = Vec::new();
    } else if !field.long_values && field.sample.len() < SAMPLE && !field.sample.iter().any(|s| s == text) {
        field.sample.push(text.to_string());
    }
}

impl ObjectShape {
    pub fn field(&self, name: &str) -> Option<&FieldShape> {
        self.index.get(name).map(|&i| &self.fields[i])
    }

    /// Declares a field before any value is seen (a CSV header's
    /// columns, so that a file with no rows still has them).
    pub fn declare(&mut self, name: &str) {
        if !self.index.contains_key(name) {
            self.index.insert(name.to_string(), self.fields.len());
            self.fields.push(FieldShape {
                name: name.to_string(),
                scalars: KindTally::with_nulls(self.count),
                seen_in: self.count,
                ..FieldShape::default()
            });
        }
    }

    /// Adds one object's members.
    pub fn add(&mut self, members: &[(Key, JValue)]) {
        self.count += 1;
        // Records nearly always keep one order of fields: the field after
        // the last one found is tried first, before the index.
        let mut next = 0;
        for (name, value) in members {
            let guessed = self.fields.get(next).filter(|f| f.is_named(name)).map(|_| next);
            let i = match guessed.or_else(|| self.index.get(&**name).copied()) {
                Some(i) => i,
                None => {
                    self.index.insert(name.to_string(), self.fields.len());
                    self.fields.push(FieldShape {
                        name: name.to_string(),
                        // Earlier objects lacked this field: nulls.
                        scalars: KindTally::with_nulls(self.count - 1),
                        ..FieldShape::default()
                    });
                    self.fields.len() - 1
                }
            };
            let field = &mut self.fields[i];
            field.add(value);
            field.seen_in = self.count;
            if !field.last_key.as_ref().is_some_and(|k| Arc::ptr_eq(k, name)) {
                field.last_key = Some(Arc::clone(name));
            }
            next = i + 1;
        }
        // Fields this object lacks count as null.
        if members.len() < self.fields.len() {
            for field in &mut self.fields {
                if field.seen_in != self.count {
                    field.scalars.nulls += 1;
                }
            }
        }
    }
}

impl ObjectShape {
    /// Adds what another shape learned of the objects that follow these
    /// (a later range of the file): the same shape one pass over both
    /// gives. Fields keep the order they first appeared in; a field only
    /// one side has counts the other side's objects as nulls.
    pub fn merge(&mut self, other: ObjectShape) {
        for field in &mut self.fields {
            if !other.index.contains_key(&field.name) {
                field.scalars.nulls += other.count;
            }
        }
        for theirs in other.fields {
            match self.index.get(&theirs.name) {
                Some(&i) => self.fields[i].merge(theirs),
                None => {
                    let mut field = FieldShape {
                        name: theirs.name.clone(),
                        scalars: KindTally::with_nulls(self.count),
                        ..FieldShape::default()
                    };
                    field.merge(theirs);
                    self.index.insert(field.name.clone(), self.fields.len());
                    self.fields.push(field);
                }
            }
        }
        self.count += other.count;
        // No field was seen in an object after the merged ones.
        for field in &mut self.fields {
            field.seen_in = 0;
        }
    }
}

impl ElementShape {
    fn merge(&mut self, other: ElementShape) {
        self.scalars.merge(&other.scalars);
        self.objects.merge(other.objects);
        self.arrays += other.arrays;
        self.count += other.count;
    }
}

impl FieldShape {
    fn is_named(&self, name: &Key) -> bool {
        self.last_key.as_ref().is_some_and(|k| Arc::ptr_eq(k, name)) || *self.name == **name
    }

    fn merge(&mut self, other: FieldShape) {
        self.scalars.merge(&other.scalars);
        self.objects += other.objects;
        match (&mut self.object, other.object) {
            (Some(mine), Some(theirs)) => mine.merge(*theirs),
            (None, Some(theirs)) => self.object = Some(theirs),
            _ => {}
        }
        self.arrays += other.arrays;
        match (&mut self.elements, other.elements) {
            (Some(mine), Some(theirs)) => mine.merge(*theirs),
            (None, Some(theirs)) => self.elements = Some(theirs),
            _ => {}
        }
        if self.long_values || other.long_values {
            self.long_values = true;
            self.sample = Vec::new();
        } else {
            for value in other.sample {
                if self.sample.len() >= SAMPLE {
                    break;
                }
                if !self.sample.contains(&value) {
                    self.sample.push(value);
                }
            }
        }
    }

    fn add(&mut self, value: &JValue) {
        match value {
            JValue::Object(members) => {
                self.objects += 1;
                let shape = self.object.get_or_insert_with(Box::default);
                // Objects begin counting where this field was first an object.
                shape.add(members);
            }
            JValue::Array(items) => {
                self.arrays += 1;
                let mut elements = self.elements.take().unwrap_or_default();
                for item in items {
                    elements.count += 1;
                    match item {
                        JValue::Object(members) => elements.objects.add(members),
                        JValue::Array(_) => elements.arrays += 1,
                        scalar => {
                            elements.scalars.add(scalar);
                            sample_value(self, scalar);
                        }
                    }
                }
                self.elements = Some(elements);
            }
            scalar => {
                self.scalars.add(scalar);
                sample_value(self, scalar);
            }
        }
    }
}

/// Keys of one collection, to test uniqueness and whether another
/// field's values are among them. Integer keys that count up by one (as
/// exported ids do) take no memory at all: the run's ends say it. Other
/// keys are kept as 64-bit hashes, sorted: 8 bytes a record.
#[derive(Debug, Clone)]
pub enum KeySet {
    Run { first: i64, last: i64 },
    Hashes { hashes: Vec<u64>, sorted: bool },
}

impl Default for KeySet {
    fn default() -> Self {
        KeySet::Hashes {
            hashes: Vec::new(),
            sorted: true,
        }
    }
}

/// The integer a key's text is, when written canonically.
fn integer_key(text: &str) -> Option<i64> {
    super::infer::is_canonical_integer(text)
        .then(|| text.parse().ok())
        .flatten()
}

impl KeySet {
    pub fn push(&mut self, text: &str) {
        match self {
            KeySet::Run { last, .. } if integer_key(text).is_some_and(|v| Some(v) == last.checked_add(1)) => {
                *last += 1;
                return;
            }
            KeySet::Hashes { hashes, .. } if hashes.is_empty() => {
                if let Some(v) = integer_key(text) {
                    *self = KeySet::Run { first: v, last: v };
                    return;
                }
            }
            _ => {}
        }
        if let KeySet::Run { first, last } = *self {
            // The run ends: hash its keys, then go on with hashes.
            let hashes = (first..=last).map(|v| hash_key(&v.to_string())).collect();
            *self = KeySet::Hashes { hashes, sorted: false };
        }
        if let KeySet::Hashes { hashes, sorted } = self {
            hashes.push(hash_key(text));
            *sorted = false;
        }
    }

    /// Adds the keys another set gathered of the records after these: the
    /// set one pass over both makes.
    pub fn append(&mut self, other: KeySet) {
        match (&mut *self, other) {
            (KeySet::Hashes { hashes, .. }, other) if hashes.is_empty() => *self = other,
            (_, KeySet::Hashes { hashes, .. }) if hashes.is_empty() => {}
            (KeySet::Run { last, .. }, KeySet::Run { first, last: end }) if last.checked_add(1) == Some(first) => {
                *last = end;
            }
            (_, mut other) => {
                let mut mine = self.take_hashes();
                mine.append(&mut other.take_hashes());
                *self = KeySet::Hashes {
                    hashes: mine,
                    sorted: false,
                };
            }
        }
    }

    /// The set's keys as hashes (a run's keys hashed), leaving it empty.
    fn take_hashes(&mut self) -> Vec<u64> {
        match std::mem::take(self) {
            KeySet::Run { first, last } => (first..=last).map(|v| hash_key(&v.to_string())).collect(),
            KeySet::Hashes { hashes, .. } => hashes,
        }
    }

    /// Sorts, keeps each key once, and returns the hashes that repeated
    /// (empty when every key was distinct).
    pub fn seal(&mut self) -> Vec<u64> {
        let KeySet::Hashes { hashes, sorted } = self else {
            return Vec::new();
        };
        hashes.sort_unstable();
        let mut repeated: Vec<u64> = hashes.windows(2).filter(|w| w[0] == w[1]).map(|w| w[0]).collect();
        hashes.dedup();
        *sorted = true;
        repeated.dedup();
        repeated
    }

    pub fn contains(&self, text: &str) -> bool {
        match self {
            KeySet::Run { first, last } => integer_key(text).is_some_and(|v| (*first..=*last).contains(&v)),
            KeySet::Hashes { hashes, sorted } => {
                debug_assert!(*sorted);
                hashes.binary_search(&hash_key(text)).is_ok()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::InferredKind;

    #[test]
    fn missing_fields_count_as_null() {
        let mut shape = ObjectShape::default();
        shape.add(&[("a".into(), JValue::Number("1".into()))]);
        shape.add(&[("b".into(), JValue::String("x".into()))]);
        assert_eq!(shape.field("a").unwrap().scalars.nulls, 1);
        assert_eq!(shape.field("b").unwrap().scalars.nulls, 1);
        assert_eq!(shape.field("a").unwrap().scalars.decide(0).kind, InferredKind::Integer);
    }

    /// Fields found by their place, by the reader's shared name, or by the
    /// index: the same shape whatever the order of the members.
    #[test]
    fn fields_in_any_order_are_found() {
        let n = |v: &str| JValue::Number(v.into());
        let shared: Key = "b".into();
        let mut shape = ObjectShape::default();
        shape.add(&[("a".into(), n("1")), (Arc::clone(&shared), n("2"))]);
        shape.add(&[(Arc::clone(&shared), n("3")), ("a".into(), n("4"))]);
        shape.add(&[("c".into(), n("5")), ("b".into(), JValue::String("x".into()))]);
        shape.add(&[("a".into(), n("6"))]);
        let names: Vec<&str> = shape.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        let a = &shape.field("a").unwrap().scalars;
        assert_eq!((a.integers, a.nulls, a.int_min, a.int_max), (3, 1, 1, 6));
        let b = &shape.field("b").unwrap().scalars;
        assert_eq!((b.integers, b.strings, b.nulls), (2, 1, 1));
        let c = &shape.field("c").unwrap().scalars;
        assert_eq!((c.integers, c.nulls), (1, 3));
    }

    #[test]
    fn keys_are_checked_for_repeats() {
        let mut keys = KeySet::default();
        keys.push("a");
        keys.push("b");
        assert!(keys.seal().is_empty());
        assert!(keys.contains("a") && !keys.contains("c"));
        keys.push("a");
        assert_eq!(keys.seal(), [hash_key("a")]);
    }

    #[test]
    fn counting_keys_take_no_memory_until_they_stop_counting() {
        let mut keys = KeySet::default();
        for v in 5..1000 {
            keys.push(&v.to_string());
        }
        assert!(matches!(keys, KeySet::Run { first: 5, last: 999 }));
        assert!(keys.seal().is_empty());
        assert!(keys.contains("5") && keys.contains("999") && !keys.contains("1000") && !keys.contains("05"));
        keys.push("7");
        assert_eq!(keys.seal(), [hash_key("7")]);
        assert!(keys.contains("999") && !keys.contains("1000"));
    }
}
