//! Where the keyring lives: a file (`[keys] path`, one daemon, or a copy on every node), or the
//! shared store itself, each key sealed under the key-encryption key (`[keys] kek_file`, with
//! a PostgreSQL store), so every daemon on the database reads one keyring and follows its
//! changes (`keys rotate` on any node is used by all within seconds).
//!
//! A keyring read from its home carries what it was read at; writing it back is refused when
//! the home changed meanwhile (compare-and-swap in the database; the file is changed by one
//! process at a time, under the admin's lock).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::creds::kek::{Kek, KekError};
use crate::creds::{Keyring, KeyringError, SharedKeyring};
use crate::store::{KeyringVault, Store, StoreError};

/// Why the keyring could not be read from, or written to, its home.
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    #[error(transparent)]
    Keyring(#[from] KeyringError),
    #[error("the keyring in the database: {0}")]
    Store(#[from] StoreError),
    /// The KEK does not open the keyring kept: never replaced by a new keyring.
    #[error(
        "the KEK file {} does not open key {key_id} of the keyring kept in the database: it is \
         not the KEK that sealed it (every daemon sharing the database needs the same kek_file); \
         the keyring is left as it is",
        kek_file.display()
    )]
    WrongKek { kek_file: PathBuf, key_id: String },
    #[error("the database keeps no keyring yet (a daemon with kek_file creates it at start)")]
    NoneKept,
    #[error(
        "the database keeps the keyring, sealed under a KEK: set [keys] kek_file to the KEK file \
         the other daemons use (the keyring file {} is not used then)",
        keyring_file.display()
    )]
    KeptInDatabase { keyring_file: PathBuf },
    #[error("[keys] kek_file is read only with a PostgreSQL store")]
    NoVault,
}

/// Where the keyring is read from and written to.
#[derive(Clone)]
pub enum KeyringHome {
    /// The keyring file.
    File(PathBuf),
    /// The store's keyring, each key sealed under `kek`.
    Vault {
        vault: Arc<dyn KeyringVault>,
        kek: Arc<Kek>,
        /// `[keys] path`: the keys a database that keeps no keyring yet starts with, when the
        /// file exists.
        keyring_file: PathBuf,
    },
}

impl std::fmt::Debug for KeyringHome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// What a keyring was read at, for writing it back by compare-and-swap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadAt {
    /// The file (one writer at a time).
    File,
    /// The database's generation.
    Generation(i64),
}

impl KeyringHome {
    /// The home the settings name: the store's vault with the KEK when `kek_file` is set (the
    /// KEK file read now), the keyring file otherwise. A keyring kept in the database while
    /// this daemon has no `kek_file` is refused (two keyrings would seal tokens on one
    /// database).
    pub async fn of(
        keyring_file: &Path,
        kek_file: Option<&Path>,
        store: &Store,
    ) -> Result<Self, HomeError> {
        match (kek_file, &store.keyring_vault) {
            (Some(kek_file), Some(vault)) => Ok(Self::Vault {
                vault: Arc::clone(vault),
                kek: Arc::new(Kek::load(kek_file).map_err(KeyringError::from)?),
                keyring_file: keyring_file.to_owned(),
            }),
            (Some(_), None) => Err(HomeError::NoVault),
            (None, Some(vault)) if vault.load().await?.is_some() => {
                Err(HomeError::KeptInDatabase {
                    keyring_file: keyring_file.to_owned(),
                })
            }
            (None, _) => Ok(Self::File(keyring_file.to_owned())),
        }
    }

    /// For messages: `the keyring file PATH` or `the keyring in the database`.
    pub fn describe(&self) -> String {
        match self {
            Self::File(path) => format!("the keyring file {}", path.display()),
            Self::Vault { kek, .. } => format!(
                "the keyring in the database (sealed under the KEK file {})",
                kek.path().display()
            ),
        }
    }

    /// The keyring as its home keeps it now.
    pub async fn read(&self) -> Result<(Keyring, ReadAt), HomeError> {
        match self {
            Self::File(path) => Ok((Keyring::load(path)?, ReadAt::File)),
            Self::Vault { vault, kek, .. } => {
                let stored = vault.load().await?.ok_or(HomeError::NoneKept)?;
                Ok((
                    open(&stored.keys, kek)?,
                    ReadAt::Generation(stored.generation),
                ))
            }
        }
    }

    /// Keep `keyring`, read at `read_at`, in place of what was read. In the database, fails
    /// with a [`StoreError::Conflict`] when another daemon changed the keyring meanwhile.
    pub async fn write(&self, keyring: &Keyring, read_at: ReadAt) -> Result<(), HomeError> {
        match (self, read_at) {
            (Self::File(path), _) => Ok(keyring.save(path)?),
            (Self::Vault { vault, kek, .. }, ReadAt::Generation(generation)) => {
                vault.swap(generation, &keyring.seal_under(kek)?).await?;
                Ok(())
            }
            (Self::Vault { .. }, ReadAt::File) => Err(HomeError::NoneKept),
        }
    }
}

/// The keyring whose sealed keys `kek` opens, or why not (a wrong KEK said as such).
pub fn open(keys: &[crate::creds::keyring::SealedKey], kek: &Kek) -> Result<Keyring, HomeError> {
    Keyring::open_sealed(keys, kek).map_err(|e| match e {
        KeyringError::Kek(KekError::WrongKek { key_id }) => HomeError::WrongKek {
            kek_file: kek.path().to_owned(),
            key_id,
        },
        other => HomeError::Keyring(other),
    })
}

/// Follow the keyring kept in the database: each time its generation changes (another daemon
/// rotated or retired a key, or this one did), read it again and swap it in. A keyring that
/// cannot be read is logged and the one in use stays. Returns at once for a keyring file;
/// otherwise runs until the task is aborted.
pub async fn follow(home: KeyringHome, shared: SharedKeyring) {
    let KeyringHome::Vault { vault, .. } = &home else {
        return;
    };
    let mut generation = vault.generation();
    // Read once first: a change made between the start's read and this subscription is not
    // announced again.
    loop {
        match home.read().await {
            Ok((keyring, _)) => {
                let before = shared.snapshot().current_key_id();
                let now = keyring.current_key_id();
                shared.replace(keyring);
                if before != now {
                    tracing::info!(current = %now, previous = %before, "the keyring in the database changed");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading the keyring in the database failed; the keyring in use stays")
            }
        }
        if generation.changed().await.is_err() {
            return;
        }
    }
}
