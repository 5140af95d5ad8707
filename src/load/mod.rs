//! Orchestrates a copy.
