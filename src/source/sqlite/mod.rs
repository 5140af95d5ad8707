//! SQLite source.
