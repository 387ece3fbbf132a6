//! Roles: `roles/NAME.json`, one IAM role each.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_lc_rs::digest;

use super::trust::{self, KnownProviders};
use super::{Problems, file};
use crate::arn::{AssumedRoleArn, RoleArn, is_account_id, is_iam_name_char};
use crate::policy::{Policy, PolicyKind};

/// A validated role with its compiled policies.
#[derive(Debug, Clone)]
pub struct Role {
    pub name: String,
    pub account_id: String,
    pub path: String,
    /// `arn:aws:iam::ACCOUNT:role/PATH/NAME`
    pub arn: String,
    /// `AROA` + 17 characters: the file's `RoleId`, or the id the store keeps for the role's
    /// ARN ([`RoleSet::assign_ids`]); until then one derived from the ARN.
    pub role_id: String,
    pub max_session_duration: u32,
    pub trust_policy: Policy,
    /// Inline permission policies by name.
    pub policies: Vec<(String, Policy)>,
    pub tags: BTreeMap<String, String>,
}

/// Roles by ARN.
#[derive(Debug, Clone, Default)]
pub struct RoleSet {
    by_arn: BTreeMap<String, Arc<Role>>,
    /// ARNs of the roles whose file sets `RoleId`.
    pinned_ids: BTreeSet<String>,
}

impl RoleSet {
    pub fn get(&self, arn: &str) -> Option<&Arc<Role>> {
        self.by_arn.get(arn)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Role>> {
        self.by_arn.values()
    }

    pub fn len(&self) -> usize {
        self.by_arn.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_arn.is_empty()
    }

    pub fn insert(&mut self, role: Role) {
        self.by_arn.insert(role.arn.clone(), Arc::new(role));
    }

    /// Give every role whose file does not set `RoleId` the id `stored` keeps for its ARN, or a
    /// fresh one; return the ids to keep (every role's, so a role no longer configured loses
    /// its id and one created again under its ARN gets another).
    pub fn assign_ids<E>(
        &mut self,
        stored: &BTreeMap<String, String>,
        mut fresh: impl FnMut() -> Result<String, E>,
    ) -> Result<BTreeMap<String, String>, E> {
        let mut kept = BTreeMap::new();
        for (arn, role) in &mut self.by_arn {
            if !self.pinned_ids.contains(arn) {
                let id = match stored.get(arn) {
                    Some(id) => id.clone(),
                    None => fresh()?,
                };
                if id != role.role_id {
                    Arc::make_mut(role).role_id = id;
                }
            }
            kept.insert(arn.clone(), role.role_id.clone());
        }
        Ok(kept)
    }
}

/// The stable role id for a role ARN: `AROA` + 17 base32 characters of its SHA-256.
pub fn derive_role_id(arn: &str) -> String {
    let hash = digest::digest(&digest::SHA256, arn.as_bytes());
    let encoded = data_encoding::BASE32_NOPAD.encode(hash.as_ref());
    format!("AROA{}", &encoded[..17])
}

impl Role {
    /// The ARN of a session of this role, `arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`
    /// (the role's path is not part of it).
    pub fn session_arn(&self, session_name: &str) -> AssumedRoleArn {
        AssumedRoleArn {
            account: self.account_id.clone(),
            role_name: self.name.clone(),
            session_name: session_name.to_owned(),
        }
    }
}

fn valid_path(path: &str) -> bool {
    path.len() <= 512
        && path.starts_with('/')
        && path.ends_with('/')
        && path.chars().all(|c| c == '/' || c.is_ascii_graphic())
        && !path.contains("//")
}

/// The roles of `files`; `known` are the identity providers their trust policies may name.
pub(super) fn load_roles(
    files: &[PathBuf],
    default_account: &str,
    known: &KnownProviders,
    problems: &mut Problems,
) -> RoleSet {
    let mut roles = RoleSet::default();
    for path in files {
        let Ok(text) = std::fs::read_to_string(path) else {
            problems.add(path, None, "cannot read");
            continue;
        };
        let raw: file::RawRole = match serde_json::from_str(&text) {
            Ok(r) => r,
            Err(e) => {
                problems.add(path, None, e.to_string());
                continue;
            }
        };
        let pinned = raw.role_id.is_some();
        if let Some(role) = validate_role(path, raw, default_account, known, problems) {
            if roles.get(&role.arn).is_some() {
                problems.add(
                    path,
                    Some("RoleName"),
                    format!("{} is defined twice", role.arn),
                );
                continue;
            }
            if pinned {
                roles.pinned_ids.insert(role.arn.clone());
            }
            roles.insert(role);
        }
    }
    roles
}

fn validate_role(
    path: &Path,
    raw: file::RawRole,
    default_account: &str,
    known: &KnownProviders,
    problems: &mut Problems,
) -> Option<Role> {
    let before = problems.error_count();
    if raw.role_name.is_empty()
        || raw.role_name.len() > 64
        || !raw.role_name.chars().all(is_iam_name_char)
    {
        problems.add(
            path,
            Some("RoleName"),
            "must be 1-64 characters of [\\w+=,.@-]",
        );
    }
    let account = raw
        .account_id
        .as_deref()
        .unwrap_or(default_account)
        .to_owned();
    if !is_account_id(&account) {
        problems.add(path, Some("AccountId"), "must be 12 digits");
    }
    if !valid_path(&raw.path) {
        problems.add(
            path,
            Some("Path"),
            "must start and end with '/' (e.g. \"/\" or \"/app/\")",
        );
    }
    if !(3600..=43200).contains(&raw.max_session_duration) {
        problems.add(
            path,
            Some("MaxSessionDuration"),
            "must be 3600..43200 seconds",
        );
    }
    if let Some(id) = &raw.role_id
        && !(id.starts_with("AROA") && (16..=128).contains(&id.len()))
    {
        problems.add(
            path,
            Some("RoleId"),
            "must start with AROA and be 16-128 characters",
        );
    }
    let trust_policy =
        match Policy::parse(&raw.assume_role_policy_document.text(), PolicyKind::Trust) {
            Ok(p) => {
                trust::check(path, &p, &account, known, problems);
                Some(p)
            }
            Err(e) => {
                problems.add(path, Some("AssumeRolePolicyDocument"), e.to_string());
                None
            }
        };
    let mut policies = Vec::new();
    for p in &raw.policies {
        match Policy::parse(&p.policy_document.text(), PolicyKind::Identity) {
            Ok(compiled) => policies.push((p.policy_name.clone(), compiled)),
            Err(e) => problems.add(
                path,
                Some(&format!("Policies[{}].PolicyDocument", p.policy_name)),
                e.to_string(),
            ),
        }
    }
    let mut tags = BTreeMap::new();
    for t in &raw.tags {
        if t.key.is_empty() || t.key.len() > 128 || t.value.len() > 256 {
            problems.add(
                path,
                Some("Tags"),
                "tag keys are 1-128 and values 0-256 characters",
            );
        }
        tags.insert(t.key.clone(), t.value.clone());
    }
    if problems.error_count() != before {
        return None;
    }
    let arn = RoleArn {
        account: account.clone(),
        path: raw.path.clone(),
        name: raw.role_name.clone(),
    }
    .to_string();
    let role_id = raw.role_id.unwrap_or_else(|| derive_role_id(&arn));
    Some(Role {
        name: raw.role_name,
        account_id: account,
        path: raw.path,
        arn,
        role_id,
        max_session_duration: raw.max_session_duration,
        trust_policy: trust_policy?,
        policies,
        tags,
    })
}
