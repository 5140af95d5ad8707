//! SQLite full-text tables (FTS3, FTS4, FTS5) become PostgreSQL full-text
//! search: the rows in a real table keyed by rowid, a `tsvector` column
//! `GENERATED ALWAYS AS (...) STORED` weighting the columns in declared
//! order, and a GIN index. Each tokenizer maps to a text search
//! configuration that tokenizes the way SQLite did (docs/fulltext.md).

use crate::plan::types::{Cast, PgType};
use crate::plan::{ColumnPlan, IndexPlan, NameAllocator, Plan, ViewPlan};
use crate::postgres::conn::{quote_ident as q, quote_literal};
use crate::source::virtual_table::{Content, FullText, Tokenizer, VirtualKind, VirtualTable};
use crate::source::{SourceSchema, Trigger};

/// Word token types of PostgreSQL's default parser that SQLite's
/// tokenizers index as words.
const WORD_TOKENS: &str =
    "asciiword, asciihword, hword_asciipart, word, hword, hword_part, numword, numhword, hword_numpart";

/// A full-text table whose index now lives in a generated column:
/// triggers that kept it in step are no longer needed.
pub struct Replaced {
    pub fts_table: String,
    pub content_table: String,
    /// What keeps the search current now, e.g. "the generated column notes.tsv".
    pub by: String,
}

/// Adds the full-text translation to a built plan: columns, indexes,
/// views for external-content tables, and the configurations they need.
pub(super) fn apply(
    plan: &mut Plan,
    schema: &SourceSchema,
    styled: &dyn Fn(&str) -> String,
    allocator: &mut NameAllocator,
) -> Vec<Replaced> {
    let mut replaced = Vec::new();
    for vt in &schema.virtual_tables {
        match &vt.kind {
            VirtualKind::FullText(ft) => {
                if let Some(r) = full_text(plan, vt, ft, styled, allocator) {
                    replaced.push(r);
                }
            }
            VirtualKind::Rtree(_) => {}
            VirtualKind::Unsupported(why) => plan
                .not_migrated
                .push(format!("virtual table {} ({}): {why}", vt.name, vt.module)),
        }
    }
    replaced
}

/// The note for a trigger that kept an external-content index in step.
pub fn replaced_trigger(replaced: &[Replaced], trigger: &Trigger) -> Option<String> {
    let sql = trigger.sql.to_lowercase();
    replaced
        .iter()
        .find(|r| trigger.table.eq_ignore_ascii_case(&r.content_table) && sql.contains(&r.fts_table.to_lowercase()))
        .map(|r| {
            format!(
                "trigger {} on {} kept full-text table {} in step: replaced by {}",
                trigger.name, trigger.table, r.fts_table, r.by
            )
        })
}

fn full_text(
    plan: &mut Plan,
    vt: &VirtualTable,
    ft: &FullText,
    styled: &dyn Fn(&str) -> String,
    allocator: &mut NameAllocator,
) -> Option<Replaced> {
    let (table_source, rowid_column) = match &ft.content {
        Content::Contentless => {
            plan.not_migrated.push(format!(
                "full-text table {} ({}) is contentless (content=''): SQLite kept only its index, so its text cannot be \
                 recovered; build the search on the table that holds the text (see docs/fulltext.md)",
                vt.name, vt.module
            ));
            return None;
        }
        Content::Own => (vt.name.clone(), None),
        Content::External { table, rowid_column } => (table.clone(), rowid_column.clone()),
    };
    let Some(ti) = plan.tables.iter().position(|t| t.source == table_source).or_else(|| {
        plan.tables
            .iter()
            .position(|t| t.source.eq_ignore_ascii_case(&table_source))
    }) else {
        if ft.content != Content::Own {
            plan.not_migrated.push(format!(
                "full-text table {} ({}): its content table {table_source} is not copied, so there is nothing to index",
                vt.name, vt.module
            ));
        }
        return None;
    };
    let mut indexed = Vec::new();
    for column in ft.indexed_columns() {
        match plan.tables[ti]
            .columns
            .iter()
            .find(|c| c.source.eq_ignore_ascii_case(&column.name))
        {
            Some(c) => indexed.push(c.clone()),
            None => {
                plan.not_migrated.push(format!(
                    "full-text table {}: column {} is not a copied column of {table_source}",
                    vt.name, column.name
                ));
                return None;
            }
        }
    }
    if indexed.is_empty() {
        plan.warnings.push(format!(
            "full-text table {}: every column is UNINDEXED, so there is nothing to search; its rows are copied",
            vt.name
        ));
        return None;
    }
    let (config, note) = if ft.tokenizer == Tokenizer::Trigram {
        (String::new(), None)
    } else {
        configuration(plan, &ft.tokenizer)
    };
    let table = &plan.tables[ti];
    let target = table.target.clone();
    let column_name = |c: &ColumnPlan| -> String {
        if matches!(c.pg_type, PgType::Text | PgType::Varchar(_)) {
            q(&c.target)
        } else {
            format!("{}::text", q(&c.target))
        }
    };

    if ft.tokenizer == Tokenizer::Trigram {
        setup(plan, "CREATE EXTENSION IF NOT EXISTS pg_trgm".into());
        let parts: Vec<String> = indexed
            .iter()
            .map(|c| format!("({}) gin_trgm_ops", column_name(c)))
            .collect();
        let index = allocator.allocate(&format!("{target}_trgm_idx"));
        plan.tables[ti].indexes.push(IndexPlan {
            name: index.clone(),
            unique: false,
            definition: format!("USING gin ({})", parts.join(", ")),
        });
        let view = match ft.content {
            Content::Own => String::new(),
            _ => format!(
                ", view {}",
                external_view(plan, vt, ft, ti, rowid_column.as_deref(), None, styled, allocator)
            ),
        };
        plan.translations.push(format!(
            "{} {} (trigram) → rows in {target}{view}, pg_trgm GIN index {index} on {}; MATCH/LIKE/GLOB become ILIKE, \
             LIKE or ~ on those columns, which the index serves",
            vt.module,
            vt.name,
            names_of(&indexed)
        ));
        return Some(Replaced {
            fts_table: vt.name.clone(),
            content_table: table_source,
            by: format!("the pg_trgm index {index}, which PostgreSQL keeps current"),
        });
    }

    if let Some(note) = note {
        plan.warnings.push(format!("full-text table {}: {note}", vt.name));
    }
    let config_literal = format!("{}::regconfig", quote_literal(&config));
    let separators = separators(&ft.tokenizer).map(quote_literal);
    let weighted: Vec<String> = indexed
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let weight = ["A", "B", "C", "D"][i.min(3)];
            let text = format!("coalesce({}, '')", column_name(c));
            let text = match &separators {
                Some(pattern) => format!("regexp_replace({text}, {pattern}, ' ', 'g')"),
                None => text,
            };
            format!("setweight(to_tsvector({config_literal}, {text}), '{weight}')")
        })
        .collect();
    let taken: Vec<String> = table.columns.iter().map(|c| c.target.clone()).collect();
    let vector = free_column_name(&taken, "tsv");
    let index = allocator.allocate(&format!("{target}_{vector}_idx"));
    let table = &mut plan.tables[ti];
    table.columns.push(ColumnPlan {
        source: String::new(),
        target: vector.clone(),
        declared: String::new(),
        observed: Vec::new(),
        // Not a value godwit copies: PostgreSQL computes it.
        pg_type: PgType::TextLike("tsvector".into()),
        cast: Cast::TextLike,
        reason: format!("full-text vector of {} {}", vt.module, vt.name),
        not_null: false,
        default: None,
        generated: Some(weighted.join(" || ")),
        identity: false,
        speculative: false,
    });
    table.indexes.push(IndexPlan {
        name: index.clone(),
        unique: false,
        definition: format!("USING gin ({})", q(&vector)),
    });
    let weights: Vec<String> = indexed
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{} {}", c.target, ["A", "B", "C", "D"][i.min(3)]))
        .collect();
    let query_on = if ft.content == Content::Own {
        target.clone()
    } else {
        external_view(
            plan,
            vt,
            ft,
            ti,
            rowid_column.as_deref(),
            Some(&vector),
            styled,
            allocator,
        )
    };
    plan.translations.push(format!(
        "{} {} ({}) → {}column {target}.{vector} tsvector GENERATED ALWAYS AS (...) STORED with config {config}, \
         weights {}, GIN index {index}; query: SELECT ... FROM {query_on} WHERE {vector} @@ websearch_to_tsquery({}, 'words') \
         ORDER BY ts_rank_cd({vector}, ...) DESC",
        vt.module,
        vt.name,
        tokenizer_name(&ft.tokenizer),
        match &ft.content {
            Content::External { .. } => format!("view {query_on} over "),
            _ => String::new(),
        },
        weights.join(", "),
        quote_literal(&config)
    ));
    Some(Replaced {
        fts_table: vt.name.clone(),
        content_table: table_source,
        by: format!("the generated column {target}.{vector}"),
    })
}

/// The view that keeps an external-content table's name queryable:
/// `rowid`, the FTS columns and the vector (when there is one), read from
/// the content table. Returns its name.
#[allow(clippy::too_many_arguments)]
fn external_view(
    plan: &mut Plan,
    vt: &VirtualTable,
    ft: &FullText,
    ti: usize,
    rowid_column: Option<&str>,
    vector: Option<&str>,
    styled: &dyn Fn(&str) -> String,
    allocator: &mut NameAllocator,
) -> String {
    let table = &plan.tables[ti];
    let view = allocator.allocate(&styled(&vt.name));
    let mut select = Vec::new();
    let key = match rowid_column {
        Some(c) => table.columns.iter().find(|p| p.source.eq_ignore_ascii_case(c)),
        None => table
            .identity
            .as_ref()
            .and_then(|id| table.columns.iter().find(|p| p.target == id.column)),
    };
    match key {
        Some(k) => select.push(format!("{} AS rowid", q(&k.target))),
        None => plan.warnings.push(format!(
            "full-text table {}: the rowid of {} is not a copied column, so view {view} has no rowid",
            vt.name, table.source
        )),
    }
    for column in &ft.columns {
        if let Some(c) = table
            .columns
            .iter()
            .find(|c| c.source.eq_ignore_ascii_case(&column.name))
        {
            select.push(if c.target == column.name {
                q(&c.target)
            } else {
                format!("{} AS {}", q(&c.target), q(&column.name))
            });
        }
    }
    select.extend(vector.map(q));
    let from = q(&table.target);
    plan.views.push(ViewPlan {
        source: vt.name.clone(),
        target: view.clone(),
        select: format!("SELECT {} FROM {from}", select.join(", ")),
    });
    view
}

fn names_of(columns: &[ColumnPlan]) -> String {
    columns.iter().map(|c| c.target.as_str()).collect::<Vec<_>>().join(", ")
}

fn free_column_name(taken: &[String], base: &str) -> String {
    let mut name = base.to_string();
    let mut n = 1;
    while taken.iter().any(|t| t == &name) {
        name = format!("{base}_{n}");
        n += 1;
    }
    name
}

/// The characters SQLite's tokenizer splits words at, as a regular
/// expression. PostgreSQL's parser keeps some runs whole that SQLite splits
/// (e-mail addresses, URLs, hosts, hyphenated words, decimals); turning every
/// separator into a space first makes both see the same words. The ranges
/// are code points, so the result does not depend on the database's locale:
/// ASCII punctuation, Latin-1 punctuation and symbols, general punctuation,
/// CJK punctuation. ascii tokenizes only at ASCII separators. Whitespace
/// already separates words in both, and leaving it out of the pattern keeps
/// the cost low (about 12% more time computing the vector, BENCHMARKS.md).
fn separators(tokenizer: &Tokenizer) -> Option<&'static str> {
    const ASCII: &str = r"[!-/:-@\[-`{-~]";
    const UNICODE: &str = r"[!-/:-@\[-`{-~\u00A0-\u00BF\u2000-\u206F\u3000-\u303F]";
    match tokenizer {
        Tokenizer::Porter { .. } | Tokenizer::Unicode61 { .. } => Some(UNICODE),
        Tokenizer::Ascii => Some(ASCII),
        Tokenizer::Trigram | Tokenizer::Other(_) => None,
    }
}

fn tokenizer_name(t: &Tokenizer) -> String {
    match t {
        Tokenizer::Porter { unaccent: true } => "porter unicode61".into(),
        Tokenizer::Porter { unaccent: false } => "porter".into(),
        Tokenizer::Unicode61 { unaccent: true } => "unicode61".into(),
        Tokenizer::Unicode61 { unaccent: false } => "unicode61 remove_diacritics 0".into(),
        Tokenizer::Ascii => "ascii".into(),
        Tokenizer::Trigram => "trigram".into(),
        Tokenizer::Other(s) => s.clone(),
    }
}

/// Adds a setup statement once.
pub(super) fn setup(plan: &mut Plan, sql: String) {
    if !plan.setup.contains(&sql) {
        plan.setup.push(sql);
    }
}

/// The text search configuration for a tokenizer, created in the target
/// schema when it is not a built-in one, and a note when the match is
/// only approximate.
fn configuration(plan: &mut Plan, tokenizer: &Tokenizer) -> (String, Option<String>) {
    let schema = plan.schema.clone();
    let (name, unaccent, stem) = match tokenizer {
        Tokenizer::Porter { unaccent } => (
            if *unaccent {
                "godwit_porter"
            } else {
                "godwit_porter_keep_accents"
            },
            *unaccent,
            true,
        ),
        Tokenizer::Unicode61 { unaccent: true } => ("godwit_unicode61", true, false),
        Tokenizer::Unicode61 { unaccent: false } | Tokenizer::Ascii => return ("pg_catalog.simple".into(), None),
        Tokenizer::Other(spec) => {
            return (
                "pg_catalog.simple".into(),
                Some(format!(
                    "tokenizer {spec:?} has no PostgreSQL twin; the simple configuration is used, so results may differ"
                )),
            );
        }
        Tokenizer::Trigram => unreachable!("trigram tables get a pg_trgm index"),
    };
    if unaccent {
        setup(plan, "CREATE EXTENSION IF NOT EXISTS unaccent".into());
    }
    setup(plan, format!("CREATE SCHEMA IF NOT EXISTS {}", q(&schema)));
    let exists = |catalog: &str, namespace: &str, column: &str, object: &str| {
        format!(
            "SELECT 1 FROM pg_catalog.{catalog} x JOIN pg_catalog.pg_namespace n ON n.oid = x.{namespace} \
             WHERE n.nspname = {} AND x.{column} = '{object}'",
            quote_literal(&schema)
        )
    };
    let qualified = |object: &str| format!("{}.{object}", q(&schema));
    // The dictionaries, in order, as SQL expressions giving their names.
    let mut dictionaries = Vec::new();
    if unaccent {
        // The unaccent dictionary lives in whichever schema the extension is in.
        dictionaries.push(
            "(SELECT extnamespace::regnamespace::text FROM pg_catalog.pg_extension WHERE extname = 'unaccent') || '.unaccent'"
                .to_string(),
        );
    }
    if stem {
        // Snowball English without a stopword list: SQLite's porter keeps
        // every word, so "the" and "and" must stay searchable.
        setup(
            plan,
            format!(
                "DO $godwit$\nBEGIN\n  IF NOT EXISTS ({}) THEN\n    CREATE TEXT SEARCH DICTIONARY {} (TEMPLATE = pg_catalog.snowball, Language = english);\n  END IF;\nEND\n$godwit$",
                exists("pg_ts_dict", "dictnamespace", "dictname", "godwit_english_stem"),
                qualified("godwit_english_stem")
            ),
        );
        dictionaries.push(quote_literal(&qualified("godwit_english_stem")));
    } else {
        dictionaries.push(quote_literal("pg_catalog.simple"));
    }
    let body = format!(
        "  IF NOT EXISTS ({}) THEN\n    CREATE TEXT SEARCH CONFIGURATION {} (COPY = pg_catalog.simple);\n    \
         EXECUTE {} || concat_ws(', ', {});\n  END IF;\n",
        exists("pg_ts_config", "cfgnamespace", "cfgname", name),
        qualified(name),
        quote_literal(&format!(
            "ALTER TEXT SEARCH CONFIGURATION {} ALTER MAPPING FOR {WORD_TOKENS} WITH ",
            qualified(name)
        )),
        dictionaries.join(", ")
    );
    setup(plan, format!("DO $godwit$\nBEGIN\n{body}END\n$godwit$"));
    (qualified(name), None)
}

/// Translates a simple SQLite `MATCH` query into PostgreSQL `to_tsquery`
/// text: words (implicit AND), `AND`, `OR`, `NOT`, `"phrases"`, `prefix*`
/// and parentheses. `None` for what has no tsquery equivalent here
/// (column filters, `NEAR`, `^`), so a caller never runs a different search.
pub fn tsquery_of_match(query: &str) -> Option<String> {
    enum Item {
        Operand(String),
        And,
        Or,
        Not,
        Open,
        Close,
    }
    let word_parts = |text: &str| -> Vec<String> {
        text.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(|w| format!("'{}'", w.to_lowercase().replace('\'', "''")))
            .collect()
    };
    let phrase = |parts: Vec<String>, prefix: bool| -> Option<String> {
        let mut parts = parts;
        if parts.is_empty() {
            return None;
        }
        if prefix && let Some(last) = parts.last_mut() {
            last.push_str(":*");
        }
        Some(if parts.len() == 1 {
            parts.remove(0)
        } else {
            format!("({})", parts.join(" <-> "))
        })
    };
    let chars: Vec<char> = query.chars().collect();
    let mut items = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' || c == ')' {
            items.push(if c == '(' { Item::Open } else { Item::Close });
            i += 1;
        } else if c == '"' {
            let start = i + 1;
            let end = chars[start..].iter().position(|&c| c == '"')? + start;
            let prefix = chars.get(end + 1) == Some(&'*');
            items.push(Item::Operand(phrase(
                word_parts(&chars[start..end].iter().collect::<String>()),
                prefix,
            )?));
            i = end + 1 + usize::from(prefix);
        } else {
            let start = i;
            while i < chars.len() && !chars[i].is_whitespace() && !matches!(chars[i], '(' | ')' | '"') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            match word.as_str() {
                "AND" => items.push(Item::And),
                "OR" => items.push(Item::Or),
                "NOT" => items.push(Item::Not),
                "NEAR" => return None,
                _ if word.contains(':') || word.contains('^') || word.contains('+') => return None,
                _ => {
                    let (body, prefix) = match word.strip_suffix('*') {
                        Some(b) => (b, true),
                        None => (word.as_str(), false),
                    };
                    if body.contains('*') {
                        return None;
                    }
                    items.push(Item::Operand(phrase(word_parts(body), prefix)?));
                }
            }
        }
    }
    let mut out = String::new();
    let mut after_operand = false;
    for item in items {
        match item {
            Item::Operand(text) => {
                if after_operand {
                    out.push_str(" & ");
                }
                out.push_str(&text);
                after_operand = true;
            }
            Item::Open => {
                if after_operand {
                    out.push_str(" & ");
                }
                out.push('(');
                after_operand = false;
            }
            Item::Close => {
                out.push(')');
                after_operand = true;
            }
            Item::And => {
                out.push_str(" & ");
                after_operand = false;
            }
            Item::Or => {
                out.push_str(" | ");
                after_operand = false;
            }
            Item::Not => {
                out.push_str(" & !");
                after_operand = false;
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Virtual tables whose rows no table holds in the target, so verify
/// cannot compare them: said aloud rather than reported as equal.
pub fn not_compared(schema: &SourceSchema) -> Vec<String> {
    schema
        .virtual_tables
        .iter()
        .filter_map(|vt| match &vt.kind {
            VirtualKind::FullText(ft) if ft.content == Content::Contentless => Some(format!(
                "full-text table {} is contentless: SQLite kept no text to compare",
                vt.name
            )),
            VirtualKind::Unsupported(_) => Some(format!(
                "virtual table {} ({}) was not migrated, so its rows are not compared",
                vt.name, vt.module
            )),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::tsquery_of_match;

    #[test]
    fn match_queries_become_tsquery_text() {
        assert_eq!(tsquery_of_match("dogs").as_deref(), Some("'dogs'"));
        assert_eq!(tsquery_of_match("quick dogs").as_deref(), Some("'quick' & 'dogs'"));
        assert_eq!(tsquery_of_match("qui*").as_deref(), Some("'qui':*"));
        assert_eq!(
            tsquery_of_match("\"quick brown\"").as_deref(),
            Some("('quick' <-> 'brown')")
        );
        assert_eq!(tsquery_of_match("a OR b NOT c").as_deref(), Some("'a' | 'b' & !'c'"));
        assert_eq!(tsquery_of_match("(a OR b) c").as_deref(), Some("('a' | 'b') & 'c'"));
        assert_eq!(tsquery_of_match("Café").as_deref(), Some("'café'"));
        assert_eq!(tsquery_of_match("title:dogs"), None);
        assert_eq!(tsquery_of_match("NEAR(a b)"), None);
    }
}
