//! The PostgreSQL layer: connections, catalog, DDL and the binary COPY writer.
pub mod binary_copy;
pub mod catalog;
pub mod conn;
pub mod copy;
pub mod ddl;
pub mod encode;
pub mod partitions;
pub mod sequences;
pub mod types;
