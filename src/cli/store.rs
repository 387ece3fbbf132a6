//! `stsbridge store copy --from sled --to postgres`: move a stopped daemon's records into the
//! PostgreSQL database its configuration now names, and its keyring file into that database
//! under the KEK.

use std::path::{Path, PathBuf};

use clap::{Subcommand, ValueEnum};
use stsbridge::clock::{Clock, SystemClock, unix_seconds};
use stsbridge::config::Settings;
use stsbridge::creds::Keyring;
use stsbridge::creds::kek::Kek;
use stsbridge::store::postgres::PostgresStore;
use stsbridge::store::sled::SledStore;
use stsbridge::store::{KeyringVault, StorageSettings, StoreError};

#[derive(Subcommand)]
pub enum StoreCommand {
    /// Copy every record of a stopped daemon's sled store (live sessions, revocations, users
    /// and their keys, role ids, replay-cache entries still in their window, the audit trail)
    /// into the PostgreSQL database of `[storage]`, and with `[keys] kek_file` the keyring
    /// file into it; what is there already is kept. Running it twice copies nothing twice.
    Copy(CopyArgs),
}

#[derive(clap::Args)]
pub struct CopyArgs {
    /// The store to read (sled only).
    #[arg(long, value_enum)]
    from: StoreKind,
    /// The store to write (postgres only: the configured database).
    #[arg(long, value_enum)]
    to: StoreKind,
    /// The sled directory to read [default: the configuration's `[storage] path`].
    #[arg(long, value_name = "DIR")]
    sled_path: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    Sled,
    Postgres,
}

/// Run `store copy`: the lines to print, or why nothing (or not everything) was copied.
pub async fn copy(settings: &Settings, args: &CopyArgs) -> Result<Vec<String>, String> {
    if (args.from, args.to) != (StoreKind::Sled, StoreKind::Postgres) {
        return Err("store copy copies --from sled --to postgres only".into());
    }
    let Some(database) = &settings.storage.postgres else {
        return Err(format!(
            "{}: [storage] kind is not \"postgres\": name the database to copy into there (url, \
             url_file) before copying",
            settings.source.display()
        ));
    };
    let sled_path = args.sled_path.as_deref().unwrap_or(&settings.storage.path);
    if !sled_path.join("conf").is_file() {
        return Err(format!("no sled store in {}", sled_path.display()));
    }
    let sled = SledStore::open(&StorageSettings {
        postgres: None,
        min_free_bytes: 0,
        ..StorageSettings::new(sled_path.to_owned(), settings.storage.cache_capacity_bytes)
    })
    .map_err(|e| match e {
        StoreError::Locked { .. } => format!("{e}: stop the daemon before copying its store"),
        e => format!("the sled store {}: {e}", sled_path.display()),
    })?;
    let postgres = PostgresStore::open(database)
        .await
        .map_err(|e| format!("{}: {e}", database.describe()))?;
    let mut lines = Vec::new();
    // The keyring first: records whose keys the database's keyring lacks are not copied.
    lines.push(copy_keyring(settings, &postgres).await?);
    let report =
        stsbridge::store::copy::sled_to_postgres(&sled, &postgres, unix_seconds(SystemClock.now()))
            .await
            .map_err(|e| format!("copying into {}: {e}", database.describe()))?;
    lines.push(format!(
        "copied {} into {}:",
        sled_path.display(),
        database.describe()
    ));
    lines.extend(report.lines().into_iter().map(|l| format!("  {l}")));
    Ok(lines)
}

/// The keyring file into the database under the KEK (`[keys] kek_file`), unless the database
/// keeps a keyring already, which must then hold every key of the file.
async fn copy_keyring(settings: &Settings, postgres: &PostgresStore) -> Result<String, String> {
    let file = &settings.keyring_path;
    let Some(kek_file) = &settings.kek_file else {
        return Ok(format!(
            "keyring: [keys] kek_file is not set, so the keyring stays in {} (every daemon on the \
             database needs a copy of it)",
            file.display()
        ));
    };
    let keyring = Keyring::load(file).map_err(|e| e.to_string())?;
    let kek = Kek::load(kek_file).map_err(|e| e.to_string())?;
    let sealed = keyring.seal_under(&kek).map_err(|e| e.to_string())?;
    let kept = postgres
        .create_if_none(&sealed)
        .await
        .map_err(|e| format!("keeping the keyring in the database: {e}"))?;
    if kept.keys == sealed {
        return Ok(format!(
            "keyring: the {} key(s) of {} are kept in the database, sealed under {}",
            sealed.len(),
            file.display(),
            kek_file.display()
        ));
    }
    let held: Vec<&str> = kept.keys.iter().map(|k| k.id.as_str()).collect();
    let lacking: Vec<String> = keyring
        .keys()
        .into_iter()
        .map(|k| k.id)
        .filter(|id| !held.contains(&id.as_str()))
        .collect();
    if lacking.is_empty() {
        Ok(format!(
            "keyring: the database keeps a keyring holding every key of {} already",
            file.display()
        ))
    } else {
        Err(format!(
            "the database keeps another keyring, without key(s) {} of {}: the records sealed by \
             them would not open there; nothing was copied",
            lacking.join(", "),
            file.display()
        ))
    }
}

/// The settings `store copy` reads: the main file's.
pub fn settings(config: &Path) -> Result<Settings, String> {
    stsbridge::config::load(config)
        .map(|c| c.settings)
        .map_err(|e| format!("invalid configuration:\n{e}"))
}
