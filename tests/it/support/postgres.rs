//! The throwaway PostgreSQL cluster of this test process (the store's unit tests use the same
//! code): one per process, a database per test.

#[path = "../../../src/store/postgres/test_cluster.rs"]
mod cluster;

pub use cluster::{SUPERUSER, fresh_database, tls_cluster};

/// The `[storage]` lines of a daemon on a fresh database (`Setup::storage`).
pub fn storage_on(url: &str) -> String {
    format!("kind = \"postgres\"\nurl = \"{url}\"\npool_size = 4\n")
}
