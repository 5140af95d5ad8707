//! godwit.toml: casts, renames and skipped tables.
