//! Tools of the command line that are not part of the library.

pub mod audit;
pub mod json;
pub mod keys;
pub mod loadgen;
pub mod log;
pub mod login;
pub mod packaging;
pub mod sessions;
pub mod storage;
pub mod store;
pub mod users;
