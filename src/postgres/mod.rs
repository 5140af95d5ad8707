//! The PostgreSQL layer: connections, catalog, DDL, the binary COPY writer,
//! and godwit's own bookkeeping tables.
pub mod binary_copy;
pub mod bookkeeping;
pub mod catalog;
pub mod conn;
pub mod copy;
pub mod encode;
pub mod partitions;
pub mod pooler;
pub mod sequences;
pub mod types;
