//! Where data goes.
pub mod postgres;
