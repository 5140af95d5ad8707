//! SQLite virtual tables: parse `CREATE VIRTUAL TABLE ... USING module(...)`
//! for FTS3/FTS4/FTS5 and rtree, and describe the rows they hold as an
//! ordinary [`Table`] so that copy and verify carry them like any other.

use rusqlite::Connection;

use crate::source::virtual_table::{Content, FullText, FullTextColumn, Rtree, Tokenizer, VirtualKind, VirtualTable};
use crate::source::{Column, SourceSchema, Table};

/// Suffixes of the tables each module keeps its index in: never copied.
fn shadow_suffixes(module: &str) -> &'static [&'static str] {
    match module {
        "fts5" => &["_data", "_idx", "_content", "_docsize", "_config"],
        "fts3" | "fts4" => &["_content", "_segments", "_segdir", "_docsize", "_stat"],
        "rtree" | "rtree_i32" => &["_node", "_parent", "_rowid"],
        _ => &[],
    }
}

/// Whether `name` is a shadow table of one of the virtual tables, given as
/// (name, module). SQLite flags them itself when it knows the module; this
/// also covers a library that does not.
pub fn is_shadow(name: &str, virtual_tables: &[(String, String)]) -> bool {
    virtual_tables.iter().any(|(v, module)| {
        name.len() > v.len()
            && name.is_char_boundary(v.len())
            && name[..v.len()].eq_ignore_ascii_case(v)
            && shadow_suffixes(module)
                .iter()
                .any(|s| name[v.len()..].eq_ignore_ascii_case(s))
    })
}

/// The module a CREATE VIRTUAL TABLE statement uses, lower case.
pub fn module_of(create_sql: &str) -> String {
    module_and_args(create_sql).0
}

/// Parses a CREATE VIRTUAL TABLE statement.
pub fn parse(name: &str, create_sql: &str) -> VirtualTable {
    let (module, args) = module_and_args(create_sql);
    let kind = match module.as_str() {
        "fts5" => VirtualKind::FullText(full_text(&args, true)),
        "fts4" | "fts3" => VirtualKind::FullText(full_text(&args, false)),
        "rtree" | "rtree_i32" => match rtree(&args, module == "rtree_i32") {
            Some(r) => VirtualKind::Rtree(r),
            None => VirtualKind::Unsupported(format!("rtree declaration not understood: {create_sql}")),
        },
        "" => VirtualKind::Unsupported("its CREATE VIRTUAL TABLE statement is not understood".into()),
        other => VirtualKind::Unsupported(format!(
            "module {other} has no PostgreSQL equivalent godwit knows; recreate it by hand"
        )),
    };
    VirtualTable {
        name: name.to_string(),
        module,
        kind,
    }
}

/// Records a virtual table in the schema, and returns the table of rows
/// to copy when it holds its own (see [`carried_table`]).
pub fn describe(conn: &Connection, name: &str, create_sql: &str, schema: &mut SourceSchema) -> Option<Table> {
    let mut vt = parse(name, create_sql);
    if let VirtualKind::Rtree(r) = &mut vt.kind {
        name_rtree_columns(conn, name, r);
    }
    let carried = carried_table(conn, &vt);
    schema.virtual_tables.push(vt);
    match carried {
        Ok(table) => table,
        Err(err) => {
            schema.unsupported.push(format!(
                "virtual table {name}: its rows cannot be read ({err}); recreate it with a PostgreSQL equivalent"
            ));
            None
        }
    }
}

/// An rtree's columns as the table has them (what `xColumn` answers, seen
/// through PRAGMA table_info), not as the declaration's text spells them:
/// SQLite ignores what a name is written with (quotes, comments), and so
/// must the copy. The declaration still tells coordinates from auxiliary
/// columns and gives the latter's types, which the module does not keep.
fn name_rtree_columns(conn: &Connection, name: &str, rtree: &mut Rtree) {
    let names: rusqlite::Result<Vec<String>> = conn
        .prepare(&format!("PRAGMA table_info({})", super::quote(name)))
        .and_then(|mut s| s.query_map([], |r| r.get::<_, String>(1))?.collect());
    let Ok(names) = names else { return };
    if names.len() != 1 + 2 * rtree.dimensions.len() + rtree.auxiliary.len() {
        return;
    }
    let mut names = names.into_iter();
    if let Some(id) = names.next() {
        rtree.id = id;
    }
    for (min, max) in &mut rtree.dimensions {
        if let (Some(a), Some(b)) = (names.next(), names.next()) {
            *min = a;
            *max = b;
        }
    }
    for (aux, _) in &mut rtree.auxiliary {
        if let Some(n) = names.next() {
            *aux = n;
        }
    }
}

/// The rows a virtual table holds, as an ordinary table keyed by its
/// rowid: a full-text table that stores its own text, or an rtree.
/// `None` when the rows live elsewhere (external content) or nowhere
/// (contentless), or the module is not one godwit carries.
pub fn carried_table(conn: &Connection, vt: &VirtualTable) -> rusqlite::Result<Option<Table>> {
    let column = |name: &str, declared: &str| Column {
        name: name.to_string(),
        declared_type: declared.to_string(),
        ..Column::default()
    };
    let (columns, primary_key) = match &vt.kind {
        VirtualKind::FullText(ft) if ft.content == Content::Own => {
            // Full-text columns are text; `rowid` resolves to the FTS rowid
            // (FTS3/4's docid) when selected by name.
            let mut columns = vec![column("rowid", "INTEGER")];
            columns.extend(ft.columns.iter().map(|c| column(&c.name, "TEXT")));
            (columns, "rowid".to_string())
        }
        VirtualKind::Rtree(r) => {
            let coordinate = if r.integer { "INT" } else { "REAL" };
            let mut columns = vec![column(&r.id, "INTEGER")];
            for (min, max) in &r.dimensions {
                columns.push(column(min, coordinate));
                columns.push(column(max, coordinate));
            }
            columns.extend(r.auxiliary.iter().map(|(n, t)| column(n, t)));
            (columns, r.id.clone())
        }
        _ => return Ok(None),
    };
    let row_count: i64 = conn.query_row(&format!("SELECT count(*) FROM {}", super::quote(&vt.name)), [], |r| {
        r.get(0)
    })?;
    Ok(Some(Table {
        name: vt.name.clone(),
        columns,
        primary_key: vec![primary_key],
        rowid_alias: Some(0),
        without_rowid: false,
        autoincrement: false,
        sequence: None,
        indexes: Vec::new(),
        foreign_keys: Vec::new(),
        checks: Vec::new(),
        row_count: u64::try_from(row_count).unwrap_or(0),
    }))
}

/// `USING module(args)`: the module name (lower case) and its arguments,
/// split at top-level commas.
fn module_and_args(sql: &str) -> (String, Vec<String>) {
    let sql = &without_comments(sql);
    let lower = sql.to_ascii_lowercase();
    let Some(using) = find_word(&lower, "using") else {
        return (String::new(), Vec::new());
    };
    let rest = &sql[using + "using".len()..];
    let open = rest.find('(');
    let module = rest[..open.unwrap_or(rest.len())].trim();
    let module = unquote(module).to_ascii_lowercase();
    let Some(open) = open else {
        return (module, Vec::new());
    };
    let body = &rest[open + 1..];
    let close = body.rfind(')').unwrap_or(body.len());
    (module, split_top_level(&body[..close]))
}

/// The statement with its `-- line` and `/* block */` comments (outside
/// quotes) turned into a space, as SQLite's tokenizer reads it.
fn without_comments(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            out.push(c);
            continue;
        }
        match (c, chars.peek()) {
            ('-', Some('-')) => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
                out.push(' ');
            }
            ('/', Some('*')) => {
                chars.next();
                let mut last = ' ';
                for c in chars.by_ref() {
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
                out.push(' ');
            }
            ('\'' | '"' | '`', _) => {
                quote = Some(c);
                out.push(c);
            }
            ('[', _) => {
                quote = Some(']');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Byte offset of `word` standing alone (outside quotes) in `sql`.
fn find_word(sql: &str, word: &str) -> Option<usize> {
    let bytes = sql.as_bytes();
    let mut quote: Option<u8> = None;
    for i in 0..bytes.len() {
        let b = bytes[i];
        if let Some(q) = quote {
            if b == q {
                quote = None;
            }
            continue;
        }
        match b {
            b'\'' | b'"' | b'`' => quote = Some(b),
            b'[' => quote = Some(b']'),
            _ => {}
        }
        let boundary = |j: usize| j >= bytes.len() || !(bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_');
        if sql.is_char_boundary(i)
            && sql[i..].starts_with(word)
            && (i == 0 || boundary(i - 1))
            && boundary(i + word.len())
        {
            return Some(i);
        }
    }
    None
}

/// Splits at commas outside quotes and parentheses; each part trimmed.
fn split_top_level(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut depth = 0usize;
    for c in text.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '\'' | '"' | '`' => quote = Some(c),
                '[' => quote = Some(']'),
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                ',' if depth == 0 => {
                    parts.push(current.trim().to_string());
                    current.clear();
                    continue;
                }
                _ => {}
            },
        }
        current.push(c);
    }
    if !current.trim().is_empty() {
        parts.push(current.trim().to_string());
    }
    parts
}

/// Words separated by whitespace, quotes kept together.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match quote {
            Some(q) if c == q => {
                quote = None;
                current.push(c);
            }
            Some(_) => current.push(c),
            None if c.is_whitespace() => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
            None => {
                match c {
                    '\'' | '"' | '`' => quote = Some(c),
                    '[' => quote = Some(']'),
                    _ => {}
                }
                current.push(c);
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// An identifier or string without its quotes.
fn unquote(text: &str) -> String {
    let t = text.trim();
    let mut chars = t.chars();
    let (Some(first), Some(last)) = (chars.next(), t.chars().last()) else {
        return t.to_string();
    };
    let close = match first {
        '\'' | '"' | '`' => first,
        '[' => ']',
        _ => return t.to_string(),
    };
    if t.len() >= 2 && last == close {
        let inner = &t[1..t.len() - 1];
        if close == ']' {
            inner.to_string()
        } else {
            inner.replace(&format!("{close}{close}"), &close.to_string())
        }
    } else {
        t.to_string()
    }
}

/// `key = value` (value unquoted), when the argument is an option.
fn option(arg: &str) -> Option<(String, String)> {
    let mut quote: Option<char> = None;
    for (i, c) in arg.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '\'' | '"' | '`' => quote = Some(c),
                '[' => quote = Some(']'),
                '=' => {
                    return Some((unquote(&arg[..i]).to_ascii_lowercase(), unquote(&arg[i + 1..])));
                }
                _ => {}
            },
        }
    }
    None
}

fn full_text(args: &[String], fts5: bool) -> FullText {
    let mut columns = Vec::new();
    let mut tokenize: Option<String> = None;
    let mut content: Option<String> = None;
    let mut content_rowid: Option<String> = None;
    let mut not_indexed: Vec<String> = Vec::new();
    for arg in args {
        if let Some((key, value)) = option(arg) {
            match key.as_str() {
                "tokenize" => tokenize = Some(value),
                "content" => content = Some(value),
                "content_rowid" => content_rowid = Some(value),
                "notindexed" => not_indexed.push(value),
                _ => {}
            }
            continue;
        }
        let parts = words(arg);
        let Some(first) = parts.first() else { continue };
        // FTS3's older spelling: `tokenize porter`.
        if !fts5 && first.eq_ignore_ascii_case("tokenize") && parts.len() > 1 {
            tokenize = Some(parts[1..].join(" "));
            continue;
        }
        columns.push(FullTextColumn {
            name: unquote(first),
            indexed: !(fts5 && parts[1..].iter().any(|w| w.eq_ignore_ascii_case("UNINDEXED"))),
        });
    }
    for column in &mut columns {
        if not_indexed.iter().any(|n| n.eq_ignore_ascii_case(&column.name)) {
            column.indexed = false;
        }
    }
    let content = match content {
        None => Content::Own,
        Some(c) if c.is_empty() => Content::Contentless,
        Some(table) => Content::External {
            table,
            rowid_column: content_rowid,
        },
    };
    FullText {
        columns,
        tokenizer: tokenizer(tokenize.as_deref().unwrap_or(""), fts5),
        content,
    }
}

/// The tokenizer a `tokenize=` value names. FTS5's default is unicode61;
/// FTS3/4's is `simple` (ASCII folding), and their porter works on ASCII.
fn tokenizer(spec: &str, fts5: bool) -> Tokenizer {
    let parts: Vec<String> = words(spec).iter().map(|w| unquote(w)).collect();
    let keeps_accents = |rest: &[String]| {
        let joined = rest.join(" ").to_ascii_lowercase().replace('=', " ");
        let tokens: Vec<&str> = joined.split_whitespace().collect();
        tokens.windows(2).any(|w| w[0] == "remove_diacritics" && w[1] == "0")
    };
    let first = parts.first().map(|p| p.to_ascii_lowercase()).unwrap_or_default();
    match first.as_str() {
        "" if fts5 => Tokenizer::Unicode61 { unaccent: true },
        "" | "simple" | "ascii" => Tokenizer::Ascii,
        "unicode61" => Tokenizer::Unicode61 {
            unaccent: !keeps_accents(&parts[1..]),
        },
        "porter" => {
            let inner = parts.get(1).map(|p| p.to_ascii_lowercase()).unwrap_or_default();
            let unaccent = match inner.as_str() {
                "" => fts5,
                "unicode61" => !keeps_accents(&parts[2..]),
                _ => false,
            };
            Tokenizer::Porter { unaccent }
        }
        "trigram" => Tokenizer::Trigram,
        _ => Tokenizer::Other(spec.to_string()),
    }
}

fn rtree(args: &[String], integer: bool) -> Option<Rtree> {
    let mut names = Vec::new();
    let mut auxiliary = Vec::new();
    for arg in args {
        let parts = words(arg);
        let first = parts.first()?;
        if let Some(aux) = first.strip_prefix('+') {
            auxiliary.push((unquote(aux), parts[1..].join(" ")));
        } else if auxiliary.is_empty() {
            names.push(unquote(first));
        } else {
            return None;
        }
    }
    let (id, coordinates) = names.split_first()?;
    if coordinates.is_empty() || coordinates.len() % 2 != 0 || coordinates.len() > 10 {
        return None;
    }
    Some(Rtree {
        id: id.clone(),
        dimensions: coordinates
            .chunks(2)
            .map(|pair| (pair[0].clone(), pair[1].clone()))
            .collect(),
        auxiliary,
        integer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ft(sql: &str) -> FullText {
        match parse("t", sql).kind {
            VirtualKind::FullText(f) => f,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn fts5_columns_options_and_tokenizers() {
        let f = ft(
            "CREATE VIRTUAL TABLE t USING fts5(title, \"body text\" UNINDEXED, tokenize = 'porter unicode61 remove_diacritics 0')",
        );
        assert_eq!(f.columns.len(), 2);
        assert_eq!(f.columns[1].name, "body text");
        assert!(f.columns[0].indexed && !f.columns[1].indexed);
        assert_eq!(f.tokenizer, Tokenizer::Porter { unaccent: false });
        assert_eq!(
            ft("create virtual table t using FTS5(a)").tokenizer,
            Tokenizer::Unicode61 { unaccent: true }
        );
        assert_eq!(
            ft("CREATE VIRTUAL TABLE t USING fts5(a, tokenize=porter)").tokenizer,
            Tokenizer::Porter { unaccent: true }
        );
        assert_eq!(
            ft("CREATE VIRTUAL TABLE t USING fts5(a, tokenize=\"trigram\")").tokenizer,
            Tokenizer::Trigram
        );
        let ext = ft("CREATE VIRTUAL TABLE t USING fts5(a, content='notes', content_rowid='id')");
        assert_eq!(
            ext.content,
            Content::External {
                table: "notes".into(),
                rowid_column: Some("id".into())
            }
        );
        assert_eq!(
            ft("CREATE VIRTUAL TABLE t USING fts5(a, content='')").content,
            Content::Contentless
        );
    }

    #[test]
    fn names_with_quotes_and_non_ascii_letters() {
        let vt = parse(
            "café",
            "CREATE VIRTUAL TABLE \"café\" USING fts5(\"prix €\", [note], tokenize = \"unicode61 remove_diacritics 2\")",
        );
        let VirtualKind::FullText(f) = vt.kind else { panic!() };
        assert_eq!(vt.module, "fts5");
        assert_eq!(
            f.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["prix €", "note"]
        );
        assert_eq!(f.tokenizer, Tokenizer::Unicode61 { unaccent: true });
        assert_eq!(module_of("CREATE VIRTUAL TABLE émoji USING csv(filename='x')"), "csv");
    }

    #[test]
    fn fts4_and_fts3() {
        let f = ft("CREATE VIRTUAL TABLE t USING fts4(a, b, tokenize=unicode61 \"remove_diacritics=0\", notindexed=b)");
        assert_eq!(f.tokenizer, Tokenizer::Unicode61 { unaccent: false });
        assert!(!f.columns[1].indexed);
        assert_eq!(
            ft("CREATE VIRTUAL TABLE t USING fts3(a TEXT, b)").tokenizer,
            Tokenizer::Ascii
        );
        assert_eq!(
            ft("CREATE VIRTUAL TABLE t USING fts4(a, tokenize=porter)").tokenizer,
            Tokenizer::Porter { unaccent: false }
        );
    }

    #[test]
    fn rtree_declarations() {
        let VirtualKind::Rtree(r) = parse(
            "r",
            "CREATE VIRTUAL TABLE r USING rtree(id, minX, maxX, minY, maxY, +name TEXT)",
        )
        .kind
        else {
            panic!()
        };
        assert_eq!(
            r.dimensions,
            vec![("minX".into(), "maxX".into()), ("minY".into(), "maxY".into())]
        );
        assert_eq!(r.auxiliary, vec![("name".into(), "TEXT".into())]);
        assert!(matches!(
            parse("r", "CREATE VIRTUAL TABLE r USING rtree(id, a)").kind,
            VirtualKind::Unsupported(_)
        ));
    }

    #[test]
    fn comments_in_a_declaration_are_not_names() {
        // The example of SQLite's own rtree documentation.
        let VirtualKind::Rtree(r) = parse(
            "demo_index",
            "CREATE VIRTUAL TABLE demo_index USING rtree(\n   id,              -- Integer primary key\n   minX, maxX,      -- Minimum and maximum X coordinate\n   minY, maxY       /* Minimum and maximum Y coordinate */\n)",
        )
        .kind
        else {
            panic!()
        };
        assert_eq!(r.id, "id");
        assert_eq!(
            r.dimensions,
            vec![("minX".into(), "maxX".into()), ("minY".into(), "maxY".into())]
        );
        assert_eq!(without_comments("a '--x' -- y\nb"), "a '--x'  b");
    }

    #[test]
    fn shadow_names() {
        let v = vec![("docs".to_string(), "fts5".to_string())];
        assert!(is_shadow("docs_data", &v) && is_shadow("DOCS_config", &v));
        assert!(!is_shadow("docs_segdir", &v) && !is_shadow("docs_archive", &v) && !is_shadow("docs", &v));
    }
}
