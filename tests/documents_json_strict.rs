//! RFC 8259, exactly: every case of the public JSONTestSuite
//! (tests/data/jsontestsuite, MIT, from nst/JSONTestSuite `test_parsing/`)
//! that must be accepted is, every one that must be rejected is, with a
//! position, and the cases the RFC leaves to the parser are as
//! docs/documents.md says.

use std::path::PathBuf;

use godwit::source::documents::check_json;

fn suite() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/jsontestsuite");
    let mut cases: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    cases.sort();
    assert!(cases.len() >= 300, "the suite is there: {}", cases.len());
    cases
}

#[test]
fn every_valid_text_of_the_suite_is_accepted() {
    let mut refused = Vec::new();
    for (name, bytes) in suite().iter().filter(|(n, _)| n.starts_with("y_")) {
        if let Err(e) = check_json(bytes) {
            refused.push(format!("{name}: {e}"));
        }
    }
    assert!(refused.is_empty(), "{refused:#?}");
}

#[test]
fn every_invalid_text_of_the_suite_is_rejected_with_its_position() {
    let mut accepted = Vec::new();
    for (name, bytes) in suite().iter().filter(|(n, _)| n.starts_with("n_")) {
        match check_json(bytes) {
            Ok(()) => accepted.push(name.clone()),
            Err(e) => {
                assert!(e.at.line >= 1 && e.at.column >= 1, "{name}: {e}");
                assert!(e.at.offset <= bytes.len() as u64, "{name}: {e}");
                assert!(e.to_string().contains(&format!("byte {}", e.at.offset)), "{name}: {e}");
            }
        }
    }
    assert!(accepted.is_empty(), "{accepted:#?}");
}

/// The cases RFC 8259 leaves to the parser, as docs/documents.md lists
/// them: accepted (the value may still be rejected as a record when
/// PostgreSQL cannot hold it) or refused with a position.
#[test]
fn cases_left_to_the_parser_go_as_documented() {
    let refused: Vec<&str> = vec![
        "i_string_UTF-16LE_with_BOM.json",
        "i_string_utf16BE_no_BOM.json",
        "i_string_utf16LE_no_BOM.json",
    ];
    let mut seen = Vec::new();
    for (name, bytes) in suite().iter().filter(|(n, _)| n.starts_with("i_")) {
        let outcome = check_json(bytes);
        seen.push(format!("{name}: {outcome:?}"));
        assert_eq!(
            outcome.is_err(),
            refused.contains(&name.as_str()),
            "{name}: {outcome:?}"
        );
    }
    assert_eq!(seen.len(), 35, "{seen:#?}");
}
