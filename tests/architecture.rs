//! The layering rules written at the top of src/lib.rs, checked on the
//! source: clap and printing live in cli/ (report/ renders), and no module
//! imports one from a layer above its own. Reads src/ as text; touches no
//! database.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules, ground floor first. A module may import its own
/// layer and those below, never one above.
const LAYERS: &[&[&str]] = &[
    &["error", "units", "calendar", "decimal", "hash"],
    &["report"],
    &["source", "postgres", "local"],
    &["config", "plan"],
    &[
        "prepare", "copy", "reverse", "verify", "sync", "migrate", "health", "inspect", "maintain", "backup",
        "workload", "roles", "audit",
    ],
    &["cli"],
];

/// Imports that still climb a layer, as `file -> module`. The list may only
/// shrink: a new climb fails the test, and so does a fixed one still listed.
const KNOWN_CLIMBS: &[&str] = &[];

/// Library files that still print instead of emitting events. May only shrink.
const KNOWN_PRINTERS: &[&str] = &[];

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The file's code without comments and without its `#[cfg(test)]` module,
/// which may use anything.
fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("read file");
    let text = match text.find("#[cfg(test)]\nmod ") {
        Some(at) => &text[..at],
        None => &text[..],
    };
    text.lines()
        .map(|line| match line.trim_start().starts_with("//") {
            true => "",
            false => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `src/a/b.rs` → ("a/b", "a"); `src/lib.rs` → ("lib", "").
fn names(path: &Path) -> (String, String) {
    let relative = path.strip_prefix(src()).expect("under src");
    let display = relative.with_extension("").to_string_lossy().replace('\\', "/");
    let top = match relative.components().count() {
        1 => display.clone(),
        _ => relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .into_owned(),
    };
    (display, top)
}

/// Top-level modules a file names through `crate::`, including `use crate::{a, b::c}`.
fn imported_modules(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let ident = |s: &str| {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect::<String>()
    };
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let preceded_by_ident = rest[..at]
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        let after = &rest[at + "crate::".len()..];
        if !preceded_by_ident {
            if let Some(group) = after.strip_prefix('{') {
                let mut depth = 0;
                let end = group
                    .char_indices()
                    .find(|(_, c)| {
                        match c {
                            '{' => depth += 1,
                            '}' if depth == 0 => return true,
                            '}' => depth -= 1,
                            _ => {}
                        }
                        false
                    })
                    .map_or(group.len(), |(i, _)| i);
                let mut depth = 0;
                let mut start = 0;
                for (i, c) in group[..end].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            out.insert(ident(group[start..i].trim()));
                            start = i + 1;
                        }
                        _ => {}
                    }
                }
                out.insert(ident(group[start..end].trim()));
            } else {
                out.insert(ident(after));
            }
        }
        rest = after;
    }
    out.remove("");
    out
}

struct Source {
    display: String,
    top: String,
    code: String,
}

fn sources() -> Vec<Source> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let (display, top) = names(&path);
            Source {
                display,
                top,
                code: code_of(&path),
            }
        })
        .collect()
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

#[test]
fn every_module_has_a_layer() {
    let unplaced: BTreeSet<String> = sources()
        .into_iter()
        .filter(|s| !["lib", "main"].contains(&s.top.as_str()))
        .filter(|s| layer_of(&s.top).is_none())
        .map(|s| s.top)
        .collect();
    assert!(
        unplaced.is_empty(),
        "give these modules a layer in LAYERS (and lib.rs): {unplaced:?}"
    );
}

#[test]
fn clap_and_cli_stay_in_cli() {
    let offenders: Vec<String> = sources()
        .into_iter()
        .filter(|s| s.top != "cli" && s.top != "main")
        .filter(|s| {
            s.code.contains("clap::") || s.code.contains("use clap") || imported_modules(&s.code).contains("cli")
        })
        .map(|s| s.display)
        .collect();
    assert!(
        offenders.is_empty(),
        "clap or crate::cli outside src/cli/: {offenders:?}"
    );
}

#[test]
fn only_cli_and_report_print() {
    let printing = [
        "println!",
        "eprintln!",
        "print!(",
        "eprint!(",
        "io::stdout()",
        "io::stderr()",
    ];
    let printers: BTreeSet<String> = sources()
        .into_iter()
        .filter(|s| !["cli", "report", "main"].contains(&s.top.as_str()))
        .filter(|s| printing.iter().any(|p| s.code.contains(p)))
        .map(|s| s.display)
        .collect();
    let known: BTreeSet<String> = KNOWN_PRINTERS.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        printers, known,
        "library code prints (emit a report::Event or return a summary instead), or a file no longer prints: update KNOWN_PRINTERS"
    );
}

#[test]
fn no_import_climbs_a_layer() {
    let mut climbs = BTreeSet::new();
    for source in sources() {
        let Some(own) = layer_of(&source.top) else { continue };
        for module in imported_modules(&source.code) {
            if module == source.top {
                continue;
            }
            if layer_of(&module).is_some_and(|layer| layer > own) {
                climbs.insert(format!("{} -> {module}", source.display));
            }
        }
    }
    let known: BTreeSet<String> = KNOWN_CLIMBS.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        climbs, known,
        "an import climbs to a higher layer (move the shared type down instead), or a climb was fixed: update KNOWN_CLIMBS"
    );
}

/// Top-level modules that reach themselves through their imports.
fn modules_in_circles(graph: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<String> {
    let reaches = |from: &str, to: &str| {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&str> = graph
            .get(from)
            .map(|m| m.iter().map(String::as_str).collect())
            .unwrap_or_default();
        while let Some(module) = stack.pop() {
            if module == to {
                return true;
            }
            if seen.insert(module) {
                stack.extend(graph.get(module).into_iter().flatten().map(String::as_str));
            }
        }
        false
    };
    graph.keys().filter(|m| reaches(m, m)).cloned().collect()
}

/// Top-level modules still caught in an import circle. May only shrink.
const KNOWN_IN_CIRCLES: &[&str] = &[];

#[test]
fn top_level_modules_import_in_no_circle() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for source in sources() {
        for module in imported_modules(&source.code) {
            if module != source.top {
                graph.entry(source.top.clone()).or_default().insert(module);
            }
        }
    }
    let known: BTreeSet<String> = KNOWN_IN_CIRCLES.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        modules_in_circles(&graph),
        known,
        "top-level modules import each other in a circle, or a circle was broken: update KNOWN_IN_CIRCLES"
    );
}

/// The files a file names through `crate::a::b::...` paths (the longest
/// prefix that is a file of src/), e.g. `verify/compare`.
fn imported_files(code: &str, files: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        let path: String = after
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
        for end in (1..=segments.len()).rev() {
            let file = segments[..end].join("/");
            if files.contains(&file) {
                out.insert(file);
                break;
            }
            let module = format!("{file}/mod");
            if files.contains(&module) {
                out.insert(module);
                break;
            }
        }
        rest = after;
    }
    out
}

/// Files inside one module that import each other in a circle (through
/// `crate::` paths). May only shrink.
const KNOWN_FILE_CIRCLES: &[&str] = &[];

#[test]
fn files_of_a_module_import_in_no_circle() {
    let sources = sources();
    let files: BTreeSet<String> = sources.iter().map(|s| s.display.clone()).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for source in &sources {
        for file in imported_files(&source.code, &files) {
            // A module's mod.rs declares its files; only imports between
            // sibling files (and of mod.rs by them) count.
            if file != source.display && file.split('/').next() == Some(source.top.as_str()) {
                graph.entry(source.display.clone()).or_default().insert(file);
            }
        }
    }
    let known: BTreeSet<String> = KNOWN_FILE_CIRCLES.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        modules_in_circles(&graph),
        known,
        "files of one module import each other in a circle (move what both need to a leaf), or a circle was \
         broken: update KNOWN_FILE_CIRCLES"
    );
}
