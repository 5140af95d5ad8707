//! A table's rows, made from records as they stream by: the record itself
//! for a collection's table, one row per array element for a child or a
//! junction table. Each value arrives as its inferred kind says.

use super::json::Position;
use super::json::{JValue, write_json_string};
use super::normalize::{ColumnSource, TableDef, field_at};
use super::records::{Rec, place};
use super::template::{Cut, Token, unescape};
use crate::source::{InferredKind, Row, RowProblem, ValueRef};

/// Calls `visit` with the objects on the way to each row (the record
/// first, then one element per array) and the element positions (from 1).
pub fn each_row_object<'v>(record: &'v JValue, arrays: &[Vec<String>], visit: &mut dyn FnMut(&[&'v JValue], &[u64])) {
    if arrays.is_empty() {
        // A collection's own table: the record, with no allocation a row.
        visit(&[record], &[]);
        return;
    }
    let mut objects = vec![record];
    let mut ordinals = Vec::with_capacity(arrays.len());
    walk(arrays, &mut objects, &mut ordinals, visit);
}

fn walk<'v>(
    arrays: &[Vec<String>],
    objects: &mut Vec<&'v JValue>,
    ordinals: &mut Vec<u64>,
    visit: &mut dyn FnMut(&[&'v JValue], &[u64]),
) {
    let Some((path, rest)) = arrays.split_first() else {
        visit(objects, ordinals);
        return;
    };
    let Some(JValue::Array(items)) = objects.last().and_then(|o| field_at(o, path)) else {
        return;
    };
    for (i, item) in items.iter().enumerate() {
        objects.push(item);
        ordinals.push(u64::try_from(i).unwrap_or(u64::MAX).saturating_add(1));
        walk(rest, objects, ordinals, visit);
        objects.pop();
        ordinals.pop();
    }
}

#[derive(Debug, Clone, Copy)]
enum Cell {
    Null,
    Integer(i64),
    Text(usize, usize),
}

/// One row, its text values in one buffer.
#[derive(Debug, Default)]
pub struct RowBuf {
    cells: Vec<Cell>,
    text: String,
    /// Per column, where its field was among the last record's members.
    hints: Vec<usize>,
    problem: Option<RowProblem>,
    /// Where its record was read (the file only changes in a directory).
    file: std::path::PathBuf,
    at: Position,
    csv_record: Option<u64>,
    /// Room for a string cut from a line with its escapes undone.
    unescaped: String,
}

impl Row for RowBuf {
    fn value(&self, index: usize) -> ValueRef<'_> {
        match self.cells.get(index) {
            Some(Cell::Integer(i)) => ValueRef::Integer(*i),
            Some(Cell::Text(a, b)) => ValueRef::Text(&self.text.as_bytes()[*a..*b]),
            _ => ValueRef::Null,
        }
    }

    fn problem(&self) -> Option<&RowProblem> {
        self.problem.as_ref()
    }

    fn place(&self) -> Option<String> {
        Some(place(&self.file, &self.at, self.csv_record))
    }
}

impl RowBuf {
    /// Fills the row of `columns` (indexes into the table's columns, None
    /// for a column the table lacks) for one element.
    pub fn fill(
        &mut self,
        table: &TableDef,
        columns: &[Option<usize>],
        rec: &Rec<'_>,
        position: u64,
        objects: &[&JValue],
        ordinals: &[u64],
    ) {
        self.start(rec.file, rec.at, rec.csv_record);
        self.problem = rec.problem.map(|p| RowProblem {
            column: p.field.clone(),
            reason: format!("{}: {}", rec.place_at(&p.at), p.reason),
            value: preview(rec.value),
        });
        self.hints.resize(columns.len(), 0);
        for (n, column) in columns.iter().enumerate() {
            let Some(column) = column.map(|i| &table.columns[i]) else {
                self.cells.push(Cell::Null);
                continue;
            };
            let kind = &column.inferred.kind;
            let cell = match &column.source {
                ColumnSource::RecordKey => match rec.key {
                    Some(key) => self.string(kind, key),
                    None => Cell::Null,
                },
                ColumnSource::Position => Cell::Integer(i64::try_from(position).unwrap_or(i64::MAX)),
                ColumnSource::Ordinal(level) => ordinals
                    .get(*level)
                    .map_or(Cell::Null, |o| Cell::Integer(i64::try_from(*o).unwrap_or(i64::MAX))),
                ColumnSource::Field { level, path } => match objects
                    .get(*level)
                    .and_then(|o| field_at_hinted(o, path, &mut self.hints[n]))
                {
                    Some(value) => self.value(kind, value),
                    None => Cell::Null,
                },
                ColumnSource::Element => match objects.last() {
                    Some(value) => self.value(kind, value),
                    None => Cell::Null,
                },
            };
            self.cells.push(cell);
        }
    }

    /// Fills the row of a record matched by its line's template: the
    /// values it has (by index in `columns`), every other column NULL, as
    /// [`Self::fill`] makes them from the record's tree.
    pub fn fill_tokens(
        &mut self,
        table: &TableDef,
        columns: &[Option<usize>],
        file: &std::path::Path,
        at: Position,
        object: &str,
        cuts: &[(usize, Cut)],
    ) {
        self.start(file, at, None);
        self.problem = None;
        self.cells.resize(columns.len(), Cell::Null);
        for (n, cut) in cuts {
            if let Some(column) = columns[*n].map(|i| &table.columns[i]) {
                self.cells[*n] = self.token(&column.inferred.kind, cut.token(object));
            }
        }
    }

    /// Empties the row for a record read at `at` in `file`.
    fn start(&mut self, file: &std::path::Path, at: Position, csv_record: Option<u64>) {
        self.cells.clear();
        self.text.clear();
        if self.file.as_path() != file {
            self.file = file.to_path_buf();
        }
        self.at = at;
        self.csv_record = csv_record;
    }

    /// [`Self::value`] of a value cut out of a line as written.
    fn token(&mut self, kind: &InferredKind, token: Token<'_>) -> Cell {
        match (kind, token) {
            (_, Token::Null) | (InferredKind::AlwaysNull, _) => Cell::Null,
            (InferredKind::Boolean, Token::Bool(b)) => Cell::Integer(i64::from(b)),
            (InferredKind::Json, Token::Number(n)) => self.push_text(|t| t.push_str(n)),
            (_, Token::String(s) | Token::Number(s)) => self.string(kind, s),
            (_, Token::Escaped(raw)) => {
                let mut text = std::mem::take(&mut self.unescaped);
                text.clear();
                unescape(raw, &mut text);
                let cell = self.string(kind, &text);
                self.unescaped = text;
                cell
            }
            // Compact JSON as written is the JSON the tree would write.
            (_, Token::Bool(b)) => self.push_text(|t| t.push_str(if b { "true" } else { "false" })),
            (_, Token::Strings(text)) => self.push_text(|t| t.push_str(text)),
        }
    }

    fn push_text(&mut self, write: impl FnOnce(&mut String)) -> Cell {
        let start = self.text.len();
        write(&mut self.text);
        Cell::Text(start, self.text.len())
    }

    fn string(&mut self, kind: &InferredKind, text: &str) -> Cell {
        match kind {
            InferredKind::Integer => match text.parse::<i64>() {
                Ok(i) => Cell::Integer(i),
                Err(_) => self.push_text(|t| t.push_str(text)),
            },
            InferredKind::Json => self.push_text(|t| write_json_string(text, t)),
            _ => self.push_text(|t| t.push_str(text)),
        }
    }

    fn value(&mut self, kind: &InferredKind, value: &JValue) -> Cell {
        match (kind, value) {
            (_, JValue::Null) | (InferredKind::AlwaysNull, _) => Cell::Null,
            (InferredKind::Json, v) => self.push_text(|t| v.write_json(t)),
            (InferredKind::Boolean, JValue::Bool(b)) => Cell::Integer(i64::from(*b)),
            (InferredKind::Array(_), JValue::Array(items)) => self.push_text(|t| {
                // Every element as a JSON string: numbers keep their digits.
                t.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        t.push(',');
                    }
                    match item {
                        JValue::Null => t.push_str("null"),
                        JValue::String(s) => write_json_string(s, t),
                        other => write_json_string(&other.to_json(), t),
                    }
                }
                t.push(']');
            }),
            (_, JValue::String(s)) => self.string(kind, s),
            (_, JValue::Number(n)) => self.string(kind, n),
            // Kinds are decided over every value, so nothing else arrives;
            // should it, the value goes as JSON text and the cast says no.
            (_, v) => self.push_text(|t| v.write_json(t)),
        }
    }
}

/// [`field_at`], its first step tried first at `hint`, where it was in
/// the record before: a file's records mostly list their members in one
/// order, and a search from the start compares names a dozen times a
/// column. Keys are unique in an object (the reader drops a repeat), so
/// the member found there is the one the search finds.
fn field_at_hinted<'v>(object: &'v JValue, path: &[String], hint: &mut usize) -> Option<&'v JValue> {
    let (Some((first, rest)), JValue::Object(members)) = (path.split_first(), object) else {
        return field_at(object, path);
    };
    let value = match members.get(*hint) {
        Some((key, value)) if **key == **first => value,
        _ => {
            let at = members.iter().position(|(key, _)| **key == **first)?;
            *hint = at;
            &members[at].1
        }
    };
    field_at(value, rest)
}

/// A short preview of a record for reject files.
fn preview(value: &JValue) -> String {
    let mut text = value.to_json();
    if text.len() > 200 {
        let mut cut = 200;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::documents::json::JsonReader;

    fn record(text: &str) -> JValue {
        JsonReader::new(text.as_bytes()).value().unwrap()
    }

    /// A table of one column `v` of `kind`, read from the record's field.
    fn table_of(kind: InferredKind) -> TableDef {
        TableDef {
            name: "t".into(),
            collection: 0,
            arrays: Vec::new(),
            columns: vec![crate::source::documents::normalize::ColumnDef {
                name: "v".into(),
                source: ColumnSource::Field {
                    level: 0,
                    path: vec!["v".into()],
                },
                inferred: crate::source::Inferred {
                    kind,
                    evidence: String::new(),
                },
                not_null: false,
            }],
            primary_key: Vec::new(),
            foreign_keys: Vec::new(),
            indexes: Vec::new(),
            rows: 0,
            in_key_order: false,
        }
    }

    #[test]
    fn a_value_cut_from_its_line_is_the_cell_its_parsed_tree_gives() {
        use crate::source::documents::template::{Paths, Template};
        let kinds = [
            InferredKind::Integer,
            InferredKind::Decimal,
            InferredKind::Boolean,
            InferredKind::Text,
            InferredKind::Timestamptz,
            InferredKind::Json,
            InferredKind::Array(Box::new(InferredKind::Text)),
            InferredKind::AlwaysNull,
        ];
        let values = [
            "null",
            "true",
            "false",
            "0",
            "-12",
            "-0",
            "1.50",
            "1e400",
            "9223372036854775808",
            "\"7\"",
            "\"+7\"",
            "\"x y\"",
            "\"é☃\"",
            "\"\"",
            "[]",
            "[\"a\"]",
            "[\"a\",null,\"b c\"]",
            "\"true\"",
            r#""a\"b\\c\/\n""#,
            r#""\u00e9\ud834\udd1e""#,
            r#""\u0031""#,
        ];
        let file = std::path::Path::new("f.ndjson");
        for kind in kinds {
            let table = table_of(kind.clone());
            let columns = [Some(0)];
            let path = vec!["v".to_string()];
            let paths = Paths::new(vec![Some(path.as_slice())]);
            for value in values {
                let line = format!(r#"{{"v":{value}}}"#);
                let parsed = record(&line);
                let rec = Rec {
                    key: None,
                    value: &parsed,
                    problem: None,
                    not_object: false,
                    file,
                    at: Position::default(),
                    csv_record: None,
                };
                let mut by_tree = RowBuf::default();
                by_tree.fill(&table, &columns, &rec, 0, &[&parsed], &[]);
                let template = Template::learn(line.as_bytes(), &paths).expect("a shape");
                let mut cuts = Vec::new();
                let object = template.matches(line.as_bytes(), &mut cuts).expect(&line);
                let mut by_line = RowBuf::default();
                by_line.fill_tokens(&table, &columns, file, Position::default(), object, &cuts);
                assert_eq!(by_line.value(0), by_tree.value(0), "{kind:?} {value}");
            }
        }
    }

    #[test]
    fn a_field_found_where_it_was_is_the_field_a_search_finds() {
        let path = |p: &str| p.split('.').map(str::to_string).collect::<Vec<_>>();
        let records = [
            r#"{"id": 1, "kind": "a", "device": {"os": "x", "v": 2}}"#,
            r#"{"kind": "b", "id": 2, "device": {"v": 3, "os": "y"}}"#,
            r#"{"id": 3}"#,
            r#"{"device": 4, "id": 5, "kind": null}"#,
            r#"[1, 2]"#,
            r#"{"id": 6, "kind": "c", "device": {"os": "z"}}"#,
        ];
        let paths = [
            path("id"),
            path("kind"),
            path("device.os"),
            path("device.v"),
            path("device"),
            vec![],
        ];
        let mut hints = vec![0; paths.len()];
        for text in records {
            let value = record(text);
            for (p, hint) in paths.iter().zip(hints.iter_mut()) {
                assert_eq!(field_at_hinted(&value, p, hint), field_at(&value, p), "{p:?} in {text}");
            }
        }
    }
}
