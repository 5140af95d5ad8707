//! What godwit knows about a source's virtual tables: full-text (FTS3,
//! FTS4, FTS5) and spatial (rtree) ones are carried over with their rows;
//! others are reported. Read by `plan::fulltext`.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct VirtualTable {
    pub name: String,
    /// The module, lower case: `fts5`, `fts4`, `fts3`, `rtree`, `rtree_i32`...
    pub module: String,
    pub kind: VirtualKind,
}

#[derive(Debug, Clone, Serialize)]
pub enum VirtualKind {
    FullText(FullText),
    Rtree(Rtree),
    /// A module godwit does not carry over, with the reason.
    Unsupported(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct FullText {
    /// Declared columns, in order.
    pub columns: Vec<FullTextColumn>,
    pub tokenizer: Tokenizer,
    pub content: Content,
}

impl FullText {
    pub fn indexed_columns(&self) -> impl Iterator<Item = &FullTextColumn> {
        self.columns.iter().filter(|c| c.indexed)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FullTextColumn {
    pub name: String,
    /// False for `UNINDEXED` (FTS5) and `notindexed=` (FTS4) columns.
    pub indexed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Tokenizer {
    /// Porter stemming over another tokenizer; `unaccent` when that one
    /// removes diacritics (unicode61, the FTS5 default).
    Porter {
        unaccent: bool,
    },
    /// unicode61: Unicode case folding, diacritics removed unless
    /// `remove_diacritics 0`.
    Unicode61 {
        unaccent: bool,
    },
    /// ascii (FTS5) and simple (FTS3/4): ASCII case folding only.
    Ascii,
    Trigram,
    /// Anything else (icu, an application's own tokenizer), as written.
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Content {
    /// The FTS table stores its own copy of the text.
    Own,
    /// `content='table'`: the text lives in an ordinary table, whose key
    /// (`content_rowid`, else its rowid) is the FTS rowid.
    External {
        table: String,
        rowid_column: Option<String>,
    },
    /// `content=''`: only the index is stored; the text is gone.
    Contentless,
}

#[derive(Debug, Clone, Serialize)]
pub struct Rtree {
    pub id: String,
    /// (min, max) column pairs, one per dimension.
    pub dimensions: Vec<(String, String)>,
    /// `+name` auxiliary columns: (name, declared type).
    pub auxiliary: Vec<(String, String)>,
    /// rtree_i32 stores 32-bit integer coordinates; rtree 32-bit floats.
    pub integer: bool,
}
