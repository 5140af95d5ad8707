//! godwit moves an application's data into PostgreSQL, proves the copy is
//! exact, and manages the schema afterwards.
//!
//! Data flows one way: `source` → `plan` → `postgres::ddl` → `load`
//! → `report`. Commands emit [`report::Event`]s and never print directly.

pub mod audit;
pub mod backup;
pub mod cli;
pub mod config;
pub mod error;
pub mod health;
pub mod inspect;
pub mod load;
pub mod local;
pub mod maintain;
pub mod migrate;
pub mod plan;
pub mod postgres;
pub mod prepare;
pub mod report;
pub mod reverse;
pub mod roles;
pub mod source;
pub mod sync;
pub mod units;
pub mod verify;

pub use error::{Error, ExitCode, Result};
