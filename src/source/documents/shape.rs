//! What the records of a collection look like, learned over every record
//! in one pass: for each field, the kinds of its values, the fields of its
//! nested objects and the elements of its arrays. Memory grows with the
//! number of distinct fields, not with the data.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use super::infer::KindTally;
use super::json::JValue;

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
    /// Hashes of the first distinct scalar values (of elements, for arrays).
    pub sample: Vec<u64>,
    /// The count of its object when this field was last present.
    seen_in: u64,
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

fn sample_value(sample: &mut Vec<u64>, value: &JValue) {
    if sample.len() < SAMPLE
        && let Some(text) = key_text(value)
    {
        let h = hash_key(text);
        if !sample.contains(&h) {
            sample.push(h);
        }
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
    pub fn add(&mut self, members: &[(String, JValue)]) {
        self.count += 1;
        for (name, value) in members {
            let i = match self.index.get(name.as_str()) {
                Some(&i) => i,
                None => {
                    self.index.insert(name.clone(), self.fields.len());
                    self.fields.push(FieldShape {
                        name: name.clone(),
                        // Earlier objects lacked this field: nulls.
                        scalars: KindTally::with_nulls(self.count - 1),
                        ..FieldShape::default()
                    });
                    self.fields.len() - 1
                }
            };
            self.fields[i].add(value);
            self.fields[i].seen_in = self.count;
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

impl FieldShape {
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
                let elements = self.elements.get_or_insert_with(Box::default);
                for item in items {
                    elements.count += 1;
                    match item {
                        JValue::Object(members) => elements.objects.add(members),
                        JValue::Array(_) => elements.arrays += 1,
                        scalar => {
                            elements.scalars.add(scalar);
                            sample_value(&mut self.sample, scalar);
                        }
                    }
                }
            }
            scalar => {
                self.scalars.add(scalar);
                sample_value(&mut self.sample, scalar);
            }
        }
    }
}

/// Keys of one collection: as hashes, sorted, to test uniqueness and
/// whether another field's values are among them. 8 bytes a record.
#[derive(Debug, Default, Clone)]
pub struct KeySet {
    hashes: Vec<u64>,
    sorted: bool,
}

impl KeySet {
    pub fn push(&mut self, text: &str) {
        self.hashes.push(hash_key(text));
        self.sorted = false;
    }

    /// Sorts, keeps each key once, and returns the hashes that repeated
    /// (empty when every key was distinct).
    pub fn seal(&mut self) -> Vec<u64> {
        self.hashes.sort_unstable();
        let repeated: Vec<u64> = self.hashes.windows(2).filter(|w| w[0] == w[1]).map(|w| w[0]).collect();
        self.hashes.dedup();
        self.sorted = true;
        let mut repeated = repeated;
        repeated.dedup();
        repeated
    }

    pub fn contains_hash(&self, h: u64) -> bool {
        debug_assert!(self.sorted);
        self.hashes.binary_search(&h).is_ok()
    }

    pub fn contains(&self, text: &str) -> bool {
        self.contains_hash(hash_key(text))
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
}
