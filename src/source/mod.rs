//! Sources godwit reads.
pub mod sqlite;
