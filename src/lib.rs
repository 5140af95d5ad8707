//! godwit moves an application's data into PostgreSQL, proves the copy is
//! exact, keeps it in sync until the switch, and runs the database after.
//!
//! # Layers
//!
//! Top-level modules, ground floor first. A module imports its own layer
//! and the ones below, never one above; tests/architecture.rs checks this
//! on the source, and lists by name the imports that still break it.
//!
//! 1. Leaves: `error`, `units`, `calendar` (dates and times as integers),
//!    `decimal` (exact decimals as text).
//! 2. `report`: the events and summaries commands emit, and their human or
//!    JSON rendering.
//! 3. What godwit reads and writes: `source` (SQLite, JSON, JSON Lines,
//!    CSV), `postgres` (connections, catalog, DDL, the binary COPY format
//!    and value encoding), `local` (the throwaway cluster).
//! 4. `config` and `plan`: the PostgreSQL schema and every cast.
//! 5. Commands: `prepare`, `copy`, `reverse`, `verify`, `sync`, `migrate`,
//!    `health`, `inspect`, `maintain`, `backup`, `workload`, `roles`, `audit`. Each takes an options
//!    struct and returns a result or emits [`report::Event`]s.
//! 6. `cli`: the only home of clap and of printing (with report/'s
//!    renderers). `main.rs` maps the outcome to an exit code.
//!
//! Data flows one way: `source` → `plan` (and its DDL, `plan::ddl`) → `copy` →
//! `report`.

pub mod audit;
pub mod backup;
pub mod calendar;
pub mod cli;
pub mod config;
pub mod copy;
pub mod decimal;
pub mod error;
pub mod hash;
pub mod health;
pub mod inspect;
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
pub mod workload;

pub use error::{Error, ExitCode, Result};
