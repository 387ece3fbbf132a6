//! IAM users: long-term identities managed with `stsbridge users …`, kept in the store with
//! their secrets sealed under the keyring (see `creds::sealed`).
//!
//! A user has an ARN `arn:aws:iam::ACCOUNT:user/NAME`, a stable `AIDA…` id, inline identity
//! policies, up to two access keys (`AKIA…`, as AWS allows) and at most one virtual MFA device
//! (`arn:aws:iam::ACCOUNT:mfa/NAME`, TOTP). User names are unique within this daemon (not only
//! within an account) and case-sensitive.

use std::time::SystemTime;

use aws_lc_rs::rand::SecureRandom;
use serde::{Deserialize, Serialize};

use crate::clock::unix_seconds;
use crate::creds::ids::{AccessKeyPrefix, new_access_key_id, new_secret_access_key};
use crate::creds::{Keyring, MintError, Secret, UnsealError, sealed, totp};
use crate::policy::{Policy, PolicyError, PolicyKind};

/// AWS allows two access keys per user (so one can be rotated while the other works).
pub const MAX_ACCESS_KEYS: usize = 2;
/// The issuer name authenticator apps show next to the account.
pub const MFA_ISSUER: &str = "stsbridge";

/// A user as stored. Holds sealed secrets only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub name: String,
    pub account_id: String,
    /// `AIDA…`, the `UserId` AWS reports.
    pub user_id: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Inline identity policies (already validated).
    #[serde(default)]
    pub policies: Vec<UserPolicy>,
    #[serde(default)]
    pub access_keys: Vec<AccessKey>,
    #[serde(default)]
    pub mfa: Option<MfaDevice>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserPolicy {
    pub name: String,
    pub document: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKey {
    pub access_key_id: String,
    /// The secret access key, sealed for `user-key:AKID` (see [`secret_purpose`]).
    pub sealed_secret: String,
    /// Unix seconds.
    pub created_at: i64,
    /// An inactive key is refused as AWS refuses it (`InvalidClientTokenId`) until activated.
    #[serde(default)]
    pub status: KeyStatus,
}

/// Whether an access key may sign requests (AWS's `Active` / `Inactive`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyStatus {
    #[default]
    Active,
    Inactive,
}

impl KeyStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::Inactive => "Inactive",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfaDevice {
    /// `arn:aws:iam::ACCOUNT:mfa/NAME`, the `SerialNumber` callers pass.
    pub serial_number: String,
    /// The TOTP seed, sealed for `mfa:SERIAL`.
    pub sealed_seed: String,
    /// Unix seconds.
    pub enabled_at: i64,
}

/// A new access key, shown to the operator once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAccessKey {
    pub user_name: String,
    pub access_key_id: String,
    pub secret_access_key: Secret,
}

/// A new MFA device, shown to the operator once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewMfaDevice {
    pub user_name: String,
    pub serial_number: String,
    /// Base32 TOTP seed.
    pub secret_base32: Secret,
    pub otpauth_url: Secret,
}

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("user name {0:?}: must be 1-64 characters of [A-Za-z0-9+=,.@_-]")]
    InvalidName(String),
    #[error("account id {0:?}: must be 12 digits")]
    InvalidAccount(String),
    #[error("policy {name}: {error}")]
    InvalidPolicy { name: String, error: PolicyError },
    #[error("user {0} already exists")]
    Exists(String),
    #[error("no user {0}")]
    NoSuchUser(String),
    #[error("user {name} already has {MAX_ACCESS_KEYS} access keys; delete one first")]
    TooManyKeys { name: String },
    #[error("user {name} has no access key {access_key_id}")]
    NoSuchKey { name: String, access_key_id: String },
    #[error("user {0} already has an MFA device")]
    MfaExists(String),
    #[error("user {0} has no MFA device")]
    NoMfa(String),
    #[error("access key {access_key_id} of user {name} is already {}", status.as_str())]
    KeyAlreadyInStatus {
        name: String,
        access_key_id: String,
        status: KeyStatus,
    },
    #[error("could not create a secret: {0}")]
    Mint(#[from] MintError),
}

impl UserRecord {
    /// A new user with no keys and no MFA device. Policies are validated as identity policies.
    pub fn new(
        name: &str,
        account_id: &str,
        policies: Vec<UserPolicy>,
        now: SystemTime,
        rng: &dyn SecureRandom,
    ) -> Result<Self, UserError> {
        if !is_user_name(name) {
            return Err(UserError::InvalidName(name.to_owned()));
        }
        if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(UserError::InvalidAccount(account_id.to_owned()));
        }
        for p in &policies {
            parse_policy(p)?;
        }
        Ok(Self {
            name: name.to_owned(),
            account_id: account_id.to_owned(),
            user_id: new_access_key_id(AccessKeyPrefix::User, rng)?,
            created_at: unix_seconds(now),
            policies,
            access_keys: Vec::new(),
            mfa: None,
        })
    }

    /// `arn:aws:iam::ACCOUNT:user/NAME`
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::{}:user/{}", self.account_id, self.name)
    }

    /// `arn:aws:iam::ACCOUNT:mfa/NAME`, the serial number of the user's virtual MFA device.
    pub fn mfa_serial(&self) -> String {
        format!("arn:aws:iam::{}:mfa/{}", self.account_id, self.name)
    }

    /// The user's identity policies, parsed.
    pub fn parsed_policies(&self) -> Result<Vec<(String, Policy)>, UserError> {
        self.policies
            .iter()
            .map(|p| parse_policy(p).map(|policy| (p.name.clone(), policy)))
            .collect()
    }

    /// Add a new access key (sealed) and return it in clear, once.
    pub fn create_access_key(
        &mut self,
        keyring: &Keyring,
        now: SystemTime,
        rng: &dyn SecureRandom,
    ) -> Result<NewAccessKey, UserError> {
        if self.access_keys.len() >= MAX_ACCESS_KEYS {
            return Err(UserError::TooManyKeys {
                name: self.name.clone(),
            });
        }
        let access_key_id = new_access_key_id(AccessKeyPrefix::LongTerm, rng)?;
        let secret = new_secret_access_key(rng)?;
        let sealed_secret = sealed::seal(
            keyring,
            &secret_purpose(&access_key_id),
            secret.expose().as_bytes(),
            rng,
        )?;
        self.access_keys.push(AccessKey {
            access_key_id: access_key_id.clone(),
            sealed_secret,
            created_at: unix_seconds(now),
            status: KeyStatus::Active,
        });
        Ok(NewAccessKey {
            user_name: self.name.clone(),
            access_key_id,
            secret_access_key: secret,
        })
    }

    /// Remove an access key.
    pub fn delete_access_key(&mut self, access_key_id: &str) -> Result<(), UserError> {
        let before = self.access_keys.len();
        self.access_keys
            .retain(|k| k.access_key_id != access_key_id);
        if self.access_keys.len() == before {
            return Err(UserError::NoSuchKey {
                name: self.name.clone(),
                access_key_id: access_key_id.to_owned(),
            });
        }
        Ok(())
    }

    /// Make an access key active or inactive; refused when it already is.
    pub fn set_access_key_status(
        &mut self,
        access_key_id: &str,
        status: KeyStatus,
    ) -> Result<(), UserError> {
        let name = self.name.clone();
        let key = self
            .access_keys
            .iter_mut()
            .find(|k| k.access_key_id == access_key_id)
            .ok_or_else(|| UserError::NoSuchKey {
                name: name.clone(),
                access_key_id: access_key_id.to_owned(),
            })?;
        if key.status == status {
            return Err(UserError::KeyAlreadyInStatus {
                name,
                access_key_id: access_key_id.to_owned(),
                status,
            });
        }
        key.status = status;
        Ok(())
    }

    /// Whether `access_key_id` is one of the user's keys and active.
    pub fn key_is_active(&self, access_key_id: &str) -> bool {
        self.access_keys
            .iter()
            .any(|k| k.access_key_id == access_key_id && k.status == KeyStatus::Active)
    }

    /// Replace the inline identity policies, validated as [`new`](Self::new) validates them
    /// (nothing changes if one is invalid).
    pub fn set_policies(&mut self, policies: Vec<UserPolicy>) -> Result<(), UserError> {
        for p in &policies {
            parse_policy(p)?;
        }
        self.policies = policies;
        Ok(())
    }

    /// Remove the MFA device; returns its serial number.
    pub fn disable_mfa(&mut self) -> Result<String, UserError> {
        self.mfa
            .take()
            .map(|device| device.serial_number)
            .ok_or_else(|| UserError::NoMfa(self.name.clone()))
    }

    /// The secret of one of the user's keys, opened with the keyring.
    pub fn secret_of(&self, access_key_id: &str, keyring: &Keyring) -> Option<Secret> {
        let key = self
            .access_keys
            .iter()
            .find(|k| k.access_key_id == access_key_id)?;
        let plain = sealed::open(keyring, &secret_purpose(access_key_id), &key.sealed_secret)
            .map_err(|e| tracing::error!(user = %self.name, access_key_id, error = %e, "a stored user secret does not open"))
            .ok()?;
        String::from_utf8(plain).ok().map(Secret::new)
    }

    /// Enable a virtual MFA device: a fresh TOTP seed, sealed; returned in clear once.
    pub fn enable_mfa(
        &mut self,
        keyring: &Keyring,
        now: SystemTime,
        rng: &dyn SecureRandom,
    ) -> Result<NewMfaDevice, UserError> {
        if self.mfa.is_some() {
            return Err(UserError::MfaExists(self.name.clone()));
        }
        let serial_number = self.mfa_serial();
        let seed = totp::new_seed(rng)?;
        let sealed_seed = sealed::seal(keyring, &mfa_purpose(&serial_number), &seed, rng)?;
        self.mfa = Some(MfaDevice {
            serial_number: serial_number.clone(),
            sealed_seed,
            enabled_at: unix_seconds(now),
        });
        Ok(NewMfaDevice {
            user_name: self.name.clone(),
            serial_number,
            secret_base32: Secret::new(totp::seed_base32(&seed)),
            otpauth_url: Secret::new(totp::otpauth_url(MFA_ISSUER, &self.name, &seed)),
        })
    }

    /// The TOTP seed of the user's MFA device if `serial_number` names it.
    pub fn mfa_seed(&self, serial_number: &str, keyring: &Keyring) -> Option<Vec<u8>> {
        let device = self.mfa.as_ref()?;
        if device.serial_number != serial_number {
            return None;
        }
        sealed::open(keyring, &mfa_purpose(serial_number), &device.sealed_seed)
            .map_err(|e: UnsealError| tracing::error!(user = %self.name, error = %e, "a stored MFA seed does not open"))
            .ok()
    }

    /// Re-seal every secret not sealed by the keyring's current key (before a retired key is
    /// pruned). Returns whether anything changed.
    pub fn reseal(&mut self, keyring: &Keyring, rng: &dyn SecureRandom) -> Result<bool, UserError> {
        let current = keyring.current_key_id();
        let mut changed = false;
        for key in &mut self.access_keys {
            if sealed::sealing_key_id(&key.sealed_secret).as_deref() == Some(current.as_str()) {
                continue;
            }
            let purpose = secret_purpose(&key.access_key_id);
            if let Ok(plain) = sealed::open(keyring, &purpose, &key.sealed_secret) {
                key.sealed_secret = sealed::seal(keyring, &purpose, &plain, rng)?;
                changed = true;
            }
        }
        if let Some(device) = &mut self.mfa
            && sealed::sealing_key_id(&device.sealed_seed).as_deref() != Some(current.as_str())
        {
            let purpose = mfa_purpose(&device.serial_number);
            if let Ok(plain) = sealed::open(keyring, &purpose, &device.sealed_seed) {
                device.sealed_seed = sealed::seal(keyring, &purpose, &plain, rng)?;
                changed = true;
            }
        }
        Ok(changed)
    }

    /// What an operator may see: no sealed values. `last_used` gives the last recorded use
    /// (unix seconds) of an access key, if any.
    pub fn summary(&self, last_used: impl Fn(&str) -> Option<i64>) -> serde_json::Value {
        let date = |t: i64| crate::clock::iso8601(crate::clock::from_unix_seconds(t));
        let keys: Vec<serde_json::Value> = self
            .access_keys
            .iter()
            .map(|k| {
                serde_json::json!({
                    "AccessKeyId": k.access_key_id,
                    "Status": k.status.as_str(),
                    "CreateDate": date(k.created_at),
                    "LastUsedDate": last_used(&k.access_key_id).map(date),
                })
            })
            .collect();
        serde_json::json!({
            "UserName": self.name,
            "UserId": self.user_id,
            "Arn": self.arn(),
            "CreateDate": date(self.created_at),
            "Policies": self.policies.iter().map(|p| &p.name).collect::<Vec<_>>(),
            "AccessKeys": keys,
            "MFADevice": self.mfa.as_ref().map(|m| &m.serial_number),
        })
    }
}

fn parse_policy(p: &UserPolicy) -> Result<Policy, UserError> {
    Policy::parse(&p.document, PolicyKind::Identity).map_err(|error| UserError::InvalidPolicy {
        name: p.name.clone(),
        error,
    })
}

/// The purpose a user's secret access key is sealed for.
fn secret_purpose(access_key_id: &str) -> String {
    format!("user-key:{access_key_id}")
}

/// The purpose an MFA seed is sealed for.
fn mfa_purpose(serial_number: &str) -> String {
    format!("mfa:{serial_number}")
}

/// IAM user names: 1-64 characters of `[\w+=,.@-]`.
pub fn is_user_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::rand::SystemRandom;

    use super::*;
    use crate::clock::from_unix_seconds;

    const ACCOUNT: &str = "123456789012";

    fn setup() -> (Keyring, UserRecord, SystemRandom) {
        let now = from_unix_seconds(1_795_000_000);
        let rng = SystemRandom::new();
        let keyring = Keyring::generate(now).unwrap();
        let user = UserRecord::new("alice", ACCOUNT, Vec::new(), now, &rng).unwrap();
        (keyring, user, rng)
    }

    #[test]
    fn a_user_has_aws_shaped_ids() {
        let (_, user, _) = setup();
        assert_eq!(user.arn(), "arn:aws:iam::123456789012:user/alice");
        assert_eq!(user.mfa_serial(), "arn:aws:iam::123456789012:mfa/alice");
        assert!(user.user_id.starts_with("AIDA") && user.user_id.len() == 20);
    }

    #[test]
    fn names_accounts_and_policies_are_checked() {
        let now = from_unix_seconds(1);
        let rng = SystemRandom::new();
        for bad in ["", "a b", "a/b", &"x".repeat(65)] {
            assert!(matches!(
                UserRecord::new(bad, ACCOUNT, vec![], now, &rng),
                Err(UserError::InvalidName(_))
            ));
        }
        assert!(matches!(
            UserRecord::new("a", "12345", vec![], now, &rng),
            Err(UserError::InvalidAccount(_))
        ));
        let bad_policy = UserPolicy {
            name: "p".into(),
            document: "{}".into(),
        };
        assert!(matches!(
            UserRecord::new("a", ACCOUNT, vec![bad_policy], now, &rng),
            Err(UserError::InvalidPolicy { .. })
        ));
        // A member named twice is refused, not read as its last occurrence.
        let twice = UserPolicy {
            name: "p".into(),
            document:
                r#"{"Statement":{"Effect":"Deny","Effect":"Allow","Action":"*","Resource":"*"}}"#
                    .into(),
        };
        assert!(matches!(
            UserRecord::new("a", ACCOUNT, vec![twice], now, &rng),
            Err(UserError::InvalidPolicy { error, .. })
                if error.problems.iter().any(|p| p.contains("Duplicate member \"Effect\""))
        ));
    }

    #[test]
    fn keys_are_sealed_and_open_only_for_their_id() {
        let (keyring, mut user, rng) = setup();
        let now = from_unix_seconds(1_795_000_000);
        let key = user.create_access_key(&keyring, now, &rng).unwrap();
        assert!(key.access_key_id.starts_with("AKIA"));
        assert_eq!(key.secret_access_key.expose().len(), 40);
        let stored = &user.access_keys[0];
        assert!(
            !stored
                .sealed_secret
                .contains(key.secret_access_key.expose())
        );
        assert_eq!(
            user.secret_of(&key.access_key_id, &keyring),
            Some(key.secret_access_key.clone())
        );
        // A sealed secret moved to another key id does not open.
        let mut moved = user.clone();
        moved.access_keys[0].access_key_id = "AKIAOTHEROTHEROTHER2".into();
        assert_eq!(moved.secret_of("AKIAOTHEROTHEROTHER2", &keyring), None);
        // Another keyring cannot open it.
        assert_eq!(
            user.secret_of(&key.access_key_id, &Keyring::generate(now).unwrap()),
            None
        );
    }

    #[test]
    fn at_most_two_keys_and_deletion() {
        let (keyring, mut user, rng) = setup();
        let now = from_unix_seconds(1_795_000_000);
        let first = user.create_access_key(&keyring, now, &rng).unwrap();
        user.create_access_key(&keyring, now, &rng).unwrap();
        assert!(matches!(
            user.create_access_key(&keyring, now, &rng),
            Err(UserError::TooManyKeys { .. })
        ));
        user.delete_access_key(&first.access_key_id).unwrap();
        assert_eq!(user.secret_of(&first.access_key_id, &keyring), None);
        assert!(matches!(
            user.delete_access_key(&first.access_key_id),
            Err(UserError::NoSuchKey { .. })
        ));
    }

    #[test]
    fn keys_deactivate_and_activate_once_each() {
        let (keyring, mut user, rng) = setup();
        let now = from_unix_seconds(1_795_000_000);
        let key = user.create_access_key(&keyring, now, &rng).unwrap();
        let id = key.access_key_id.as_str();
        assert!(user.key_is_active(id));
        user.set_access_key_status(id, KeyStatus::Inactive).unwrap();
        assert!(!user.key_is_active(id));
        assert!(matches!(
            user.set_access_key_status(id, KeyStatus::Inactive),
            Err(UserError::KeyAlreadyInStatus { .. })
        ));
        assert!(matches!(
            user.set_access_key_status("AKIANOSUCHKEY", KeyStatus::Active),
            Err(UserError::NoSuchKey { .. })
        ));
        user.set_access_key_status(id, KeyStatus::Active).unwrap();
        assert!(user.key_is_active(id));
        let summary = user.summary(|k| (k == id).then_some(1_795_000_000));
        assert_eq!(summary["AccessKeys"][0]["Status"], "Active");
        assert_eq!(
            summary["AccessKeys"][0]["LastUsedDate"],
            "2026-11-18T11:06:40Z"
        );
        assert!(
            !summary
                .to_string()
                .contains(&key.secret_access_key.expose()[..8])
        );
    }

    #[test]
    fn policies_are_replaced_only_by_valid_ones_and_mfa_disabled_once() {
        let (keyring, mut user, rng) = setup();
        let valid = UserPolicy {
            name: "p".into(),
            document: r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#.into(),
        };
        let invalid = UserPolicy {
            name: "q".into(),
            document: "{}".into(),
        };
        user.set_policies(vec![valid.clone()]).unwrap();
        assert!(matches!(
            user.set_policies(vec![valid.clone(), invalid]),
            Err(UserError::InvalidPolicy { .. })
        ));
        assert_eq!(user.policies, [valid]);
        assert!(matches!(user.disable_mfa(), Err(UserError::NoMfa(_))));
        user.enable_mfa(&keyring, from_unix_seconds(1), &rng)
            .unwrap();
        assert_eq!(user.disable_mfa().unwrap(), user.mfa_serial());
        assert!(user.mfa.is_none());
    }

    #[test]
    fn mfa_seed_opens_for_its_serial_only() {
        let (keyring, mut user, rng) = setup();
        let now = from_unix_seconds(1_795_000_000);
        let device = user.enable_mfa(&keyring, now, &rng).unwrap();
        let seed = user.mfa_seed(&device.serial_number, &keyring).unwrap();
        assert_eq!(totp::seed_base32(&seed), device.secret_base32.expose());
        assert!(device.otpauth_url.expose().starts_with("otpauth://totp/"));
        assert_eq!(
            user.mfa_seed("arn:aws:iam::123456789012:mfa/bob", &keyring),
            None
        );
        assert!(matches!(
            user.enable_mfa(&keyring, now, &rng),
            Err(UserError::MfaExists(_))
        ));
    }

    #[test]
    fn reseal_moves_secrets_to_the_current_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyring.json");
        let now = from_unix_seconds(1_795_000_000);
        let rng = SystemRandom::new();
        let mut keyring = Keyring::load_or_create(&path, now).unwrap();
        let mut user = UserRecord::new("alice", ACCOUNT, vec![], now, &rng).unwrap();
        let key = user.create_access_key(&keyring, now, &rng).unwrap();
        let device = user.enable_mfa(&keyring, now, &rng).unwrap();
        keyring.rotate(&path, now).unwrap();
        assert!(user.reseal(&keyring, &rng).unwrap());
        assert!(
            !user.reseal(&keyring, &rng).unwrap(),
            "nothing left to move"
        );
        keyring.prune(from_unix_seconds(1_795_000_000 + 200_000));
        assert_eq!(
            user.secret_of(&key.access_key_id, &keyring),
            Some(key.secret_access_key)
        );
        assert!(user.mfa_seed(&device.serial_number, &keyring).is_some());
    }
}
