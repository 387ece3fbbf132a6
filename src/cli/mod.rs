//! Tools of the command line that are not part of the library.

pub mod audit;
pub mod loadgen;
