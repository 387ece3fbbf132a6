//! Tools of the command line that are not part of the library.

pub mod loadgen;
pub mod log;
