//! File checksums that ignore what editors and Git change behind your back:
//! a UTF-8 byte-order mark and CRLF or CR line endings.

use sha2::{Digest, Sha256};

/// The text as godwit compares and runs it: no BOM, `\n` line endings.
pub fn normalise(text: &str) -> String {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// Hex SHA-256 of the normalised text.
pub fn checksum(text: &str) -> String {
    let digest = Sha256::digest(normalise(text).as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_endings_and_bom_do_not_change_the_checksum() {
        let lf = "create table t (id int);\nselect 1;\n";
        assert_eq!(checksum(lf), checksum("create table t (id int);\r\nselect 1;\r\n"));
        assert_eq!(checksum(lf), checksum("\u{feff}create table t (id int);\nselect 1;\n"));
        assert_eq!(checksum(lf), checksum("create table t (id int);\rselect 1;\r"));
        assert_ne!(checksum(lf), checksum("create table t (id bigint);\nselect 1;\n"));
    }
}
