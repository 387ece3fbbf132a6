//! Shared test fixtures: in-process IdPs, a running daemon, helpers.

pub mod botocore;
pub mod daemon;
pub mod idp;
pub mod pki;
pub mod postgres;
pub mod process;
pub mod saml_idp;
pub mod saml_signer;
pub mod sso;

/// A real store on a temporary directory (kept as long as the directory lives).
pub fn scratch_store() -> (tempfile::TempDir, stsbridge::store::Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = stsbridge::store::open(&stsbridge::store::StorageSettings::new(
        dir.path().join("sled"),
        8 << 20,
    ))
    .expect("store");
    (dir, store)
}
