//! Shared test fixtures: in-process IdPs, a running daemon, helpers.

pub mod daemon;
pub mod idp;
