//! Steps every session-issuing path shares: role lookup, trust decision, duration, session
//! policies and tags, the condition keys of the request.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use crate::action::{SET_SOURCE_IDENTITY, TAG_SESSION};
use crate::arn::is_iam_name_char;
use crate::config::{Federation, Role};
use crate::error::ApiError;
use crate::identity::SessionTags;
use crate::origin::Origin;
use crate::policy::{ContextKeys, Decision, Policy, PolicyKind, RequestContext, evaluate};

/// The role a request names. An unknown role is denied exactly like one whose trust policy says
/// no, so callers cannot probe which roles exist.
pub(crate) fn resolve_role(
    federation: &Federation,
    arn: &str,
    action: &'static str,
) -> Result<Arc<Role>, ApiError> {
    federation
        .roles
        .get(arn)
        .cloned()
        .ok_or_else(|| ApiError::AccessDenied {
            action,
            detail: "no such role".into(),
        })
}

/// Require the role's trust policy to allow `request` (its action is the one checked).
pub(crate) fn require_trust(
    role: &Role,
    request: &RequestContext,
    now: SystemTime,
    action: &'static str,
) -> Result<(), ApiError> {
    match evaluate(&role.trust_policy, request, now) {
        Decision::Allow(_) => Ok(()),
        Decision::ExplicitDeny(stmt) => Err(ApiError::AccessDenied {
            action,
            detail: format!(
                "explicit deny in the trust policy of {} (statement {} {:?})",
                role.arn, stmt.index, stmt.sid
            ),
        }),
        Decision::ImplicitDeny => Err(ApiError::AccessDenied {
            action,
            detail: format!("no statement of the trust policy of {} allows it", role.arn),
        }),
    }
}

/// The session length: the requested one (already range-checked) or one hour, never above the
/// role's maximum.
pub(crate) fn session_duration(requested: Option<i64>, role: &Role) -> Result<u32, ApiError> {
    let seconds = requested.unwrap_or(3600);
    if seconds > i64::from(role.max_session_duration) {
        return Err(ApiError::ValidationMessage(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        ));
    }
    u32::try_from(seconds).map_err(|_| ApiError::Internal("duration out of range".into()))
}

/// Session policies passed with the request, validated.
#[derive(Debug, Clone, Default)]
pub struct SessionPolicies {
    pub inline: Option<String>,
    pub arns: Vec<String>,
}

impl SessionPolicies {
    /// The inline policy (parsed as a session policy) and the managed policy ARNs (which must
    /// exist).
    pub(crate) fn checked(
        federation: &Federation,
        inline: Option<&str>,
        arns: &[&str],
    ) -> Result<Self, ApiError> {
        if let Some(text) = inline {
            Policy::parse(text, PolicyKind::Session)
                .map_err(|e| ApiError::MalformedPolicy(e.to_string()))?;
        }
        for arn in arns {
            if !federation.managed_policies.contains_key(*arn) {
                return Err(ApiError::InvalidParameterValue(
                    "PolicyArns names a policy that does not exist.",
                ));
            }
        }
        Ok(Self {
            inline: inline.map(str::to_owned),
            arns: arns.iter().map(|a| (*a).to_owned()).collect(),
        })
    }

    /// PackedPolicySize for these policies and `tags` (see `policy::packed_policy_size`).
    pub(crate) fn packed_size(&self, tags: &SessionTags) -> u32 {
        crate::policy::packed_policy_size(
            self.inline.as_deref(),
            &self.arns,
            &tags.principal_tags,
            &tags.transitive_tag_keys,
        )
    }

    /// The PackedPolicySize to report: `None` when no session policy or tag was passed (AWS
    /// then omits the element), `PackedPolicyTooLarge` above 100 percent.
    pub(crate) fn checked_packed_size(&self, tags: &SessionTags) -> Result<Option<u32>, ApiError> {
        let packed = self.packed_size(tags);
        if packed > 100 {
            return Err(ApiError::PackedPolicyTooLarge(packed));
        }
        let passed = self.inline.is_some() || !self.arns.is_empty() || !tags.is_empty();
        Ok(passed.then_some(packed))
    }
}

/// Session tag limits: at most 50 tags, keys 1-128 and values 0-256 characters, keys unique
/// ignoring case, transitive keys among the tags.
pub fn check_session_tags(tags: &SessionTags) -> Result<(), ApiError> {
    let invalid = |m: &'static str| ApiError::ValidationMessage(m);
    if tags.principal_tags.len() > 50 {
        return Err(invalid("Session tags: at most 50 tags may be passed."));
    }
    let mut lower = BTreeMap::new();
    for (k, v) in &tags.principal_tags {
        let klen = k.chars().count();
        if !(1..=128).contains(&klen) || v.chars().count() > 256 {
            return Err(invalid(
                "Session tags: keys must be 1-128 and values 0-256 characters.",
            ));
        }
        if !k.chars().chain(v.chars()).all(is_tag_char) {
            return Err(invalid(
                "Session tags: keys and values may hold letters, digits, spaces and _.:/=+-@ only.",
            ));
        }
        if k.get(..4)
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case("aws:"))
        {
            return Err(invalid(
                "Session tags: keys may not begin with aws: (the prefix is reserved for AWS).",
            ));
        }
        if lower.insert(k.to_lowercase(), ()).is_some() {
            return Err(invalid(
                "Session tags: duplicate tag keys (keys are case-insensitive).",
            ));
        }
    }
    if tags.transitive_tag_keys.len() > 50
        || tags
            .transitive_tag_keys
            .iter()
            .any(|k| !lower.contains_key(&k.to_lowercase()))
    {
        return Err(invalid(
            "Session tags: every transitive tag key must name a passed session tag.",
        ));
    }
    Ok(())
}

/// AWS's tag character set, `[\p{L}\p{Z}\p{N}_.:/=+\-@]`: letters, separators (spaces), numbers
/// and six punctuation marks; never a control character.
fn is_tag_char(c: char) -> bool {
    c.is_alphanumeric() || (c.is_whitespace() && !c.is_control()) || "_.:/=+-@".contains(c)
}

/// Condition keys every session-issuing request carries, whoever the caller is.
pub(crate) fn request_keys(
    origin: &Origin,
    now: SystemTime,
    session_name: &str,
    duration: Option<i64>,
) -> ContextKeys {
    let mut keys = origin.context_keys(now);
    keys.insert("sts:RoleSessionName", session_name);
    if let Some(d) = duration {
        keys.insert("sts:DurationSeconds", d.to_string());
    }
    keys
}

/// The tags a request passes, as the policy language sees them: `aws:RequestTag/KEY` and
/// `aws:TagKeys`.
pub(crate) fn insert_request_tags(keys: &mut ContextKeys, tags: &SessionTags) {
    for (k, v) in &tags.principal_tags {
        keys.insert(&format!("aws:RequestTag/{k}"), v.clone());
        keys.insert("aws:TagKeys", k.clone());
    }
}

/// The trust decisions a session needs beyond its action: `sts:TagSession` when session tags
/// are passed, `sts:SetSourceIdentity` when a source identity is set. `trust` is the request
/// that was allowed for the action; it gains the tag and source-identity keys.
pub(crate) fn require_session_extras(
    role: &Role,
    trust: &mut RequestContext,
    tags: &SessionTags,
    source_identity: Option<&str>,
    now: SystemTime,
) -> Result<(), ApiError> {
    if !tags.is_empty() {
        check_session_tags(tags)?;
        trust.action = TAG_SESSION.into();
        insert_request_tags(&mut trust.keys, tags);
        for k in &tags.transitive_tag_keys {
            trust.keys.insert("sts:TransitiveTagKeys", k.clone());
        }
        require_trust(role, trust, now, TAG_SESSION)?;
    }
    if let Some(si) = source_identity {
        trust.action = SET_SOURCE_IDENTITY.into();
        trust.keys.insert("sts:SourceIdentity", si);
        require_trust(role, trust, now, SET_SOURCE_IDENTITY)?;
    }
    Ok(())
}

/// A source identity: 2-64 characters of `[\w+=,.@-]`.
pub(crate) fn check_source_identity(value: &str) -> Result<(), ApiError> {
    let n = value.chars().count();
    if !(2..=64).contains(&n) || !value.chars().all(is_iam_name_char) {
        return Err(ApiError::ValidationMessage(
            "The source identity must be 2-64 characters of [\\w+=,.@-].",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_size_is_zero_without_policies_or_tags() {
        let p = SessionPolicies::default();
        assert_eq!(p.packed_size(&SessionTags::default()), 0);
    }

    #[test]
    fn packed_size_counts_policy_without_whitespace() {
        let text = format!("{}{}", "a".repeat(1024), " ".repeat(500));
        let p = SessionPolicies {
            inline: Some(text),
            arns: vec![],
        };
        assert_eq!(p.packed_size(&SessionTags::default()), 50);
    }

    #[test]
    fn tag_limits() {
        let mut t = SessionTags::default();
        t.principal_tags.insert("Team".into(), "a".into());
        assert!(check_session_tags(&t).is_ok());
        t.transitive_tag_keys.push("team".into());
        assert!(check_session_tags(&t).is_ok());
        t.transitive_tag_keys.push("other".into());
        assert!(check_session_tags(&t).is_err());
        t.transitive_tag_keys.pop();
        t.principal_tags.insert("TEAM".into(), "b".into());
        assert!(check_session_tags(&t).is_err());
        let mut big = SessionTags::default();
        big.principal_tags.insert("k".repeat(129), String::new());
        assert!(check_session_tags(&big).is_err());
    }

    #[test]
    fn reserved_and_control_characters_are_refused_in_tags() {
        let tags = |key: &str, value: &str| {
            let mut t = SessionTags::default();
            t.principal_tags.insert(key.into(), value.into());
            t
        };
        for (key, value) in [
            ("aws:team", "x"),
            ("AWS:team", "x"),
            ("team", "a\u{1}b"),
            ("te\nam", "x"),
            ("team", "a;b"),
        ] {
            assert!(
                check_session_tags(&tags(key, value)).is_err(),
                "{key:?}={value:?}"
            );
        }
        for (key, value) in [
            ("team", "blue green"),
            ("cost-center", "42/7:a=b+c@d.e_f"),
            ("équipe", "bleu"),
            ("awsome", ""),
        ] {
            assert!(
                check_session_tags(&tags(key, value)).is_ok(),
                "{key:?}={value:?}"
            );
        }
    }
}
