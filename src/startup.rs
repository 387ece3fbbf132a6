//! What the daemon checks and prepares before it serves, between the configuration, the keyring
//! and the store:
//! - the keyring must open everything the store holds sealed: a keyring file that was deleted
//!   (and would silently be created anew) or replaced refuses the start, naming the key ids and
//!   the file, instead of every user key, MFA device and live session failing request by request;
//! - the roles get the unique ids the store keeps;
//! - user secrets sealed by a retired key are sealed again with the current one.
//!
//! While the daemon serves, the current sealing key is recorded in the store now and then, so a
//! later start knows which keys the live sessions need.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_lc_rs::rand::SystemRandom;

use crate::audit::{AuditDraft, EventName};
use crate::clock::{Clock, iso8601, unix_seconds};
use crate::config::RoleSet;
use crate::creds::ids::{AccessKeyPrefix, new_access_key_id};
use crate::creds::{Keyring, MAX_SESSION_DURATION_SECONDS, SharedKeyring, sealed};
use crate::keyring_home::{self, HomeError, KeyringHome};
use crate::store::{Store, StoreError};
use crate::users::UserRecord;

/// Why the daemon may not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("keyring: {0}")]
    Keyring(#[from] crate::creds::KeyringError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The keyring lacks keys that seal what the store holds.
    #[error(
        "the keyring {} lacks key(s) {} that seal {}; restore that keyring file (from a backup) rather than start with another",
        file.display(),
        missing.keys().cloned().collect::<Vec<_>>().join(", "),
        missing.values().cloned().collect::<Vec<_>>().join("; ")
    )]
    KeysMissing {
        file: std::path::PathBuf,
        /// Key id -> what it seals.
        missing: BTreeMap<String, String>,
    },
    /// The keyring kept in the database lacks keys that seal what the store holds.
    #[error(
        "the keyring in the database lacks key(s) {} that seal {}; restore the database's \
         keyring (keyring and keyring_keys, from a backup) rather than start with another",
        missing.keys().cloned().collect::<Vec<_>>().join(", "),
        missing.values().cloned().collect::<Vec<_>>().join("; ")
    )]
    KeysMissingInDatabase {
        /// Key id -> what it seals.
        missing: BTreeMap<String, String>,
    },
    #[error("users: {0}")]
    Users(String),
    #[error("role ids: {0}")]
    RoleIds(String),
    #[error("keyring: {0}")]
    Home(#[from] HomeError),
}

/// The keyring from its home ([`KeyringHome::of`] the settings), checked against the store as
/// [`open_keyring`] does.
pub async fn open_keyring_at(
    home: &KeyringHome,
    store: &Store,
    now: SystemTime,
) -> Result<Keyring, StartupError> {
    match home {
        KeyringHome::File(path) => open_keyring(path, store, now).await,
        KeyringHome::Vault {
            vault,
            kek,
            keyring_file,
        } => {
            let needed = needed_keys(store, now).await?;
            let stored = match vault.load().await? {
                Some(stored) => stored,
                None => {
                    // Never keep a keyring that lacks what the store needs: the start is
                    // refused and the database keeps none, until the right keys are at hand.
                    let first = first_keyring(keyring_file, now)?;
                    check_holds(&first, needed.clone())?;
                    vault.create_if_none(&first.seal_under(kek)?).await?
                }
            };
            let keyring = keyring_home::open(&stored.keys, kek)?;
            check_holds(&keyring, needed)?;
            store
                .sealing_keys
                .record_current(&keyring.current_key_id(), unix_seconds(now))
                .await?;
            Ok(keyring)
        }
    }
}

/// The keyring the database starts with: the keyring file's, when there is one (a deployment
/// that kept a copy on each node moves into the database by setting `kek_file`), or a fresh
/// one (which holds none of the keys the store may need: the caller checks).
fn first_keyring(keyring_file: &Path, now: SystemTime) -> Result<Keyring, StartupError> {
    if keyring_file.exists() {
        let keyring = Keyring::load(keyring_file)?;
        tracing::info!(
            file = %keyring_file.display(),
            "the database keeps no keyring yet: it starts with the keyring file's keys"
        );
        Ok(keyring)
    } else {
        Ok(Keyring::generate(now)?)
    }
}

/// Refuse a keyring lacking a key that `needed` lists.
fn check_holds(keyring: &Keyring, needed: BTreeMap<String, String>) -> Result<(), StartupError> {
    let held: Vec<String> = keyring.keys().into_iter().map(|k| k.id).collect();
    let missing: BTreeMap<String, String> = needed
        .into_iter()
        .filter(|(id, _)| !held.contains(id))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(StartupError::KeysMissingInDatabase { missing })
    }
}

/// The keyring at `path`, checked against the store: every key that seals a user secret or
/// MFA seed, or was current within the longest session (so may seal a live session token),
/// must be in it. A missing file is created only when the store needs no key.
pub async fn open_keyring(
    path: &Path,
    store: &Store,
    now: SystemTime,
) -> Result<Keyring, StartupError> {
    let needed = needed_keys(store, now).await?;
    let keyring = if path.exists() || needed.is_empty() {
        Keyring::load_or_create(path, now)?
    } else {
        return Err(StartupError::KeysMissing {
            file: path.to_owned(),
            missing: needed,
        });
    };
    let held: Vec<String> = keyring.keys().into_iter().map(|k| k.id).collect();
    let missing: BTreeMap<String, String> = needed
        .into_iter()
        .filter(|(id, _)| !held.contains(id))
        .collect();
    if !missing.is_empty() {
        return Err(StartupError::KeysMissing {
            file: path.to_owned(),
            missing,
        });
    }
    store
        .sealing_keys
        .record_current(&keyring.current_key_id(), unix_seconds(now))
        .await?;
    Ok(keyring)
}

/// Key id -> what it seals, of every key the store's data needs.
async fn needed_keys(
    store: &Store,
    now: SystemTime,
) -> Result<BTreeMap<String, String>, StartupError> {
    let mut needed: BTreeMap<String, String> = BTreeMap::new();
    let longest = i64::from(MAX_SESSION_DURATION_SECONDS);
    for (id, current_at) in store.sealing_keys.list().await? {
        let live_until = current_at.saturating_add(longest);
        if live_until > unix_seconds(now) {
            needed.insert(
                id,
                format!(
                    "session tokens that may be valid until {}",
                    iso8601(crate::clock::from_unix_seconds(live_until))
                ),
            );
        }
    }
    let mut users_by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for user in store.users.list().await? {
        for id in sealing_key_ids(&user) {
            users_by_key.entry(id).or_default().push(user.name.clone());
        }
    }
    for (id, users) in users_by_key {
        let what = format!("the secrets of user(s) {}", users.join(", "));
        needed
            .entry(id)
            .and_modify(|w| {
                w.push_str(" and ");
                w.push_str(&what);
            })
            .or_insert(what);
    }
    Ok(needed)
}

/// The keys a user's sealed access keys and MFA seed were sealed by.
fn sealing_key_ids(user: &UserRecord) -> Vec<String> {
    user.access_keys
        .iter()
        .map(|k| k.sealed_secret.as_str())
        .chain(user.mfa.iter().map(|m| m.sealed_seed.as_str()))
        .filter_map(sealed::sealing_key_id)
        .collect()
}

/// Give the configured roles the unique ids the store keeps (fresh ones for new roles), and
/// keep exactly those: a role removed from the configuration loses its id for good.
pub async fn assign_role_ids(store: &Store, roles: &mut RoleSet) -> Result<(), StartupError> {
    if let Some(ids) = plan_role_ids(store, roles).await? {
        store.role_ids.replace(&ids).await?;
    }
    Ok(())
}

/// [`assign_role_ids`] without the write: the ids `roles` now carry, for the store to keep when
/// the roles are put in force (`None`: the store already keeps exactly these).
pub async fn plan_role_ids(
    store: &Store,
    roles: &mut RoleSet,
) -> Result<Option<BTreeMap<String, String>>, StartupError> {
    let rng = SystemRandom::new();
    let stored = store.role_ids.list().await?;
    let kept = roles
        .assign_ids(&stored, || new_access_key_id(AccessKeyPrefix::Role, &rng))
        .map_err(|e| StartupError::RoleIds(e.to_string()))?;
    Ok((kept != stored).then_some(kept))
}

/// Move every user secret sealed by a retired key to the current one, so pruning retired keys
/// (after their session tokens expired) never strands a long-term key or an MFA seed.
pub async fn reseal_user_secrets(
    store: &Store,
    keyring: &Keyring,
    now: SystemTime,
) -> Result<(), StartupError> {
    let rng = SystemRandom::new();
    for user in store.users.list().await? {
        let mut resealed = user.clone();
        let changed = resealed
            .reseal(keyring, &rng)
            .map_err(|e| StartupError::Users(e.to_string()))?;
        if changed {
            let event = AuditDraft::operator(
                EventName::ResealUserSecrets,
                serde_json::json!({ "userName": user.name, "keyId": keyring.current_key_id() }),
                now,
            )
            .done();
            store
                .users
                .swap(&user.name, Some(&user), Some(&resealed), &event)
                .await?;
            tracing::info!(user = %user.name, "user secrets re-sealed with the current key");
        }
    }
    Ok(())
}

/// Record the keyring's current key as current, every `interval`, until the task is aborted.
pub async fn record_sealing_key_every(
    store: Store,
    keyring: SharedKeyring,
    clock: Arc<dyn Clock>,
    interval: Duration,
) {
    let mut ticker = tokio::time::interval(interval);
    loop {
        ticker.tick().await;
        let key_id = keyring.snapshot().current_key_id();
        if let Err(e) = store
            .sealing_keys
            .record_current(&key_id, unix_seconds(clock.now()))
            .await
        {
            tracing::warn!(error = %e, "recording the current sealing key failed");
        }
    }
}
