//! The check and kind tables in docs/ are generated from the registries
//! (`health::registry::CHECKS`, `inspect::registry::KINDS`): this test fails
//! when a row changes and the docs do not. `GODWIT_BLESS=1` rewrites the
//! tables in place from the registries. Touches no database.

use std::path::PathBuf;

fn docs(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs").join(file)
}

/// The text between `<!-- begin NAME -->` and `<!-- end NAME -->` must be
/// `table`; with GODWIT_BLESS set, it is made so.
fn generated(file: &str, name: &str, table: &str) {
    let path = docs(file);
    let text = std::fs::read_to_string(&path).expect("read docs");
    let begin = format!("<!-- begin {name}: generated from the registry, see tests/docs_registry.rs -->\n");
    let end = format!("<!-- end {name} -->");
    let start = text
        .find(&begin)
        .unwrap_or_else(|| panic!("{file} has no {begin:?} marker"))
        + begin.len();
    let stop = start
        + text[start..]
            .find(&end)
            .unwrap_or_else(|| panic!("{file} has no {end:?} marker"));
    if text[start..stop] == *table {
        return;
    }
    if std::env::var_os("GODWIT_BLESS").is_some() {
        let updated = format!("{}{table}{}", &text[..start], &text[stop..]);
        std::fs::write(&path, updated).expect("write docs");
        return;
    }
    panic!(
        "the {name} table of docs/{file} differs from the registry; run GODWIT_BLESS=1 cargo test --test \
         docs_registry to regenerate it.\nexpected:\n{table}\nfound:\n{}",
        &text[start..stop]
    );
}

/// One test for the three tables: two share a file, and blessing them in
/// parallel would race.
#[test]
fn docs_tables_match_the_registries() {
    generated(
        "operations.md",
        "health checks",
        &godwit::health::registry::docs_table(),
    );
    generated(
        "operations.md",
        "inspect kinds",
        &godwit::inspect::registry::docs_table(),
    );
    generated(
        "security.md",
        "security checks",
        &godwit::health::registry::security_docs_table(),
    );
}

#[test]
fn every_registered_check_is_documented_by_name() {
    let operations = std::fs::read_to_string(docs("operations.md")).expect("read docs");
    let security = std::fs::read_to_string(docs("security.md")).expect("read docs");
    for check in godwit::health::registry::CHECKS {
        let doc = if check.is_security() { &security } else { &operations };
        assert!(
            doc.contains(&format!("| `{}` |", check.name)),
            "{} is not in the docs",
            check.name
        );
    }
}

#[test]
fn health_list_shows_every_check_with_its_defaults() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_godwit"))
        .args(["health", "--list"])
        .env_remove("DATABASE_URL")
        .output()
        .expect("run godwit");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(text.lines().count(), godwit::health::registry::CHECKS.len(), "{text}");
    for check in godwit::health::registry::CHECKS {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(check.name))
            .unwrap_or_else(|| panic!("{} missing from --list:\n{text}", check.name));
        assert!(line.contains(check.help), "{line}");
    }
    assert!(text.contains("90% / 95%"), "{text}");
    assert!(text.contains("below 99% / 95%"), "{text}");
}
