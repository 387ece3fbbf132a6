//! `stsbridge keys`: the sealing keyring, seen and changed through [`super::execute`] (the
//! running daemon's admin socket, or the store and keyring file directly when it is stopped).
//!
//! What still needs a key is read from the store: the unexpired sessions issued while it was
//! current (the keyring says from when to when; the store's record of the current key, kept
//! now and then by every daemon, can extend that), and the user secrets and MFA seeds it
//! sealed. A key is removed only when nothing needs it: the secrets are sealed again with the
//! current key first, and the sessions must have expired.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Admin, AdminResponse};
use crate::audit::{AuditDraft, EventName};
use crate::clock::{from_unix_seconds, iso8601, unix_seconds};
use crate::creds::keyring::KeyInfo;
use crate::creds::{Keyring, MAX_SESSION_DURATION_SECONDS, sealed};
use crate::keyring_home::{KeyringHome, ReadAt};
use crate::store::{LiveSessions, Store, StoreError};

/// What an operator may see of one key (never its material).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyStatus {
    /// Hex key id.
    pub id: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Whether it seals new tokens and secrets.
    pub current: bool,
    /// A retired key: unix seconds after which no token it sealed can still be valid.
    pub retire_after: Option<i64>,
    /// The unexpired sessions issued while it was current.
    pub live_sessions: LiveSessions,
    /// User secret access keys it sealed.
    pub user_secrets: u64,
    /// MFA seeds it sealed.
    pub mfa_seeds: u64,
}

impl KeyStatus {
    /// Whether anything still needs the key.
    pub fn needed(&self) -> bool {
        self.current || self.live_sessions.count > 0 || self.user_secrets > 0 || self.mfa_seeds > 0
    }
}

/// Every key of the keyring in use, current first, with what needs it.
pub(super) async fn list(admin: &Admin) -> Result<AdminResponse, StoreError> {
    let keyring = admin.keyring.snapshot();
    let now = unix_seconds(admin.clock.now());
    let recorded = admin.store.sealing_keys.list().await?;
    let sealed = sealed_by(&admin.store).await?;
    let current = keyring.current_key_id();
    let mut keys = Vec::new();
    for info in keyring.keys() {
        let (from, to) = issued_window(&info, &recorded, now);
        let live_sessions = admin
            .store
            .sessions
            .live_issued_between(from, to, now)
            .await?;
        let (user_secrets, mfa_seeds) = sealed.get(&info.id).copied().unwrap_or_default();
        keys.push(KeyStatus {
            current: info.id == current,
            id: info.id,
            created_at: info.created_at,
            retire_after: info.retire_after,
            live_sessions,
            user_secrets,
            mfa_seeds,
        });
    }
    Ok(AdminResponse::Keys(keys))
}

/// A fresh key, made current where the keyring lives (the file, rewritten atomically, 0600;
/// or the database, by compare-and-swap, where every daemon picks it up) and in the keyring
/// in use, so new tokens are sealed with it at once; the old key stays to open what it sealed.
pub(super) async fn rotate(admin: &Admin) -> Result<AdminResponse, StoreError> {
    let _one_change = admin.keyring_change.lock().await;
    let (home, keyring, read_at) = match read_keyring(admin).await {
        Ok(found) => found,
        Err(refused) => return Ok(refused),
    };
    let now = admin.clock.now();
    let previous = keyring.current_key_id();
    let rotated = match keyring.rotated(now) {
        Ok(rotated) => rotated,
        Err(e) => return Ok(AdminResponse::Error(e.to_string())),
    };
    if let Err(e) = home.write(&rotated, read_at).await {
        return Ok(AdminResponse::Error(format!(
            "{}: {e}; the keyring is unchanged",
            home.describe()
        )));
    }
    let current = rotated.current_key_id();
    tracing::info!(retired = %previous, current = %current, keyring = %home.describe(), "rotated keyring");
    admin.keyring.replace(rotated);
    // The old key sealed tokens until now, the new one from now on: a later start must find
    // both (`startup::open_keyring`).
    let at = unix_seconds(now);
    admin
        .store
        .sealing_keys
        .record_current(&previous, at)
        .await?;
    admin
        .store
        .sealing_keys
        .record_current(&current, at)
        .await?;
    let event = AuditDraft::operator(
        EventName::RotateSealingKey,
        serde_json::json!({ "previousKeyId": previous }),
        now,
    )
    .succeeded(serde_json::json!({ "keyId": current }));
    admin.store.audit.append(&event).await?;
    Ok(AdminResponse::Done(format!(
        "key {current} is current; {previous} is retired and still opens what it sealed (`stsbridge keys retire {previous}` once nothing needs it)"
    )))
}

/// Remove the retired key `key_id` from the keyring: first seal again with the current key the
/// user secrets and MFA seeds it sealed, then refuse while unexpired sessions still need it.
pub(super) async fn retire(admin: &Admin, key_id: &str) -> Result<AdminResponse, StoreError> {
    let _one_change = admin.keyring_change.lock().await;
    let (home, keyring, read_at) = match read_keyring(admin).await {
        Ok(found) => found,
        Err(refused) => return Ok(refused),
    };
    let now = admin.clock.now();
    if keyring.current_key_id() == key_id {
        return Ok(AdminResponse::Error(format!(
            "{key_id} is the current sealing key: rotate first (`stsbridge keys rotate`), then retire it once nothing needs it"
        )));
    }
    let Some(info) = keyring.keys().into_iter().find(|k| k.id == key_id) else {
        return Ok(AdminResponse::Error(format!(
            "{} has no key {key_id}",
            home.describe()
        )));
    };
    if let Err(e) = crate::startup::reseal_user_secrets(&admin.store, &keyring, now).await {
        return Ok(AdminResponse::Error(format!(
            "sealing user secrets again with the current key failed: {e}; {key_id} is kept"
        )));
    }
    let (user_secrets, mfa_seeds) = sealed_by(&admin.store)
        .await?
        .get(key_id)
        .copied()
        .unwrap_or_default();
    if user_secrets + mfa_seeds > 0 {
        return Ok(AdminResponse::Error(format!(
            "{user_secrets} user secret(s) and {mfa_seeds} MFA seed(s) sealed by {key_id} do not open (see the log); {key_id} is kept"
        )));
    }
    let recorded = admin.store.sealing_keys.list().await?;
    let now_unix = unix_seconds(now);
    let (from, to) = issued_window(&info, &recorded, now_unix);
    let live = admin
        .store
        .sessions
        .live_issued_between(from, to, now_unix)
        .await?;
    if let Some(last) = live.last_expiry {
        return Ok(AdminResponse::Error(format!(
            "{} unexpired session token(s) sealed by {key_id} still need it; the last expires at {}: retire it after then",
            live.count,
            iso8601(from_unix_seconds(last))
        )));
    }
    let kept = match keyring.without_retired(key_id) {
        Ok(Some(kept)) => kept,
        Ok(None) => {
            return Ok(AdminResponse::Error(format!(
                "{} has no retired key {key_id}",
                home.describe()
            )));
        }
        Err(e) => return Ok(AdminResponse::Error(e.to_string())),
    };
    if let Err(e) = home.write(&kept, read_at).await {
        return Ok(AdminResponse::Error(format!(
            "{}: {e}; {key_id} is kept",
            home.describe()
        )));
    }
    tracing::info!(retired = key_id, keyring = %home.describe(), "removed a retired key from the keyring");
    admin.keyring.replace(kept);
    admin.store.sealing_keys.forget(key_id).await?;
    let event = AuditDraft::operator(
        EventName::RetireSealingKey,
        serde_json::json!({ "keyId": key_id }),
        now,
    )
    .done();
    admin.store.audit.append(&event).await?;
    // SSO client registrations (90 days) are sealed and not stored: the ones sealed by this key
    // no longer open. Said here, since nothing in the store counts them.
    Ok(AdminResponse::Done(format!(
        "key {key_id} retired: removed from {}; SSO clients registered while it was current \
         (aws sso login, stsbridge login: 90 days) must register again: their users sign in \
         again after removing their ~/.aws/sso/cache entry",
        home.describe()
    )))
}

/// The keyring this admin endpoint may change, read now from where it lives (the caller holds
/// `keyring_change`), or the answer saying why not.
async fn read_keyring(admin: &Admin) -> Result<(&KeyringHome, Keyring, ReadAt), AdminResponse> {
    let Some(home) = admin.keyring_home.as_ref() else {
        return Err(AdminResponse::Error(
            "this admin endpoint was given no keyring to change".into(),
        ));
    };
    home.read()
        .await
        .map(|(keyring, read_at)| (home, keyring, read_at))
        .map_err(|e| AdminResponse::Error(e.to_string()))
}

/// When the tokens a key sealed were issued, in unix seconds: from its creation until it was
/// retired (the current key: until now), or until the store last saw it current if later (a
/// daemon that had not yet read the rotation).
fn issued_window(info: &KeyInfo, recorded: &BTreeMap<String, i64>, now: i64) -> (i64, i64) {
    let until = info.retire_after.map_or(now, |after| {
        after.saturating_sub(i64::from(MAX_SESSION_DURATION_SECONDS))
    });
    let until = recorded
        .get(&info.id)
        .map_or(until, |seen| until.max(*seen));
    (info.created_at, until)
}

/// Key id -> how many user secrets and MFA seeds it sealed.
async fn sealed_by(store: &Store) -> Result<BTreeMap<String, (u64, u64)>, StoreError> {
    let mut counts: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for user in store.users.list().await? {
        for key in &user.access_keys {
            if let Some(id) = sealed::sealing_key_id(&key.sealed_secret) {
                counts.entry(id).or_default().0 += 1;
            }
        }
        if let Some(id) = user
            .mfa
            .as_ref()
            .and_then(|m| sealed::sealing_key_id(&m.sealed_seed))
        {
            counts.entry(id).or_default().1 += 1;
        }
    }
    Ok(counts)
}
