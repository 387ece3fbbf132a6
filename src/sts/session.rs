//! Steps every session-issuing action shares: role lookup, trust decision, duration, session
//! policies and tags, minting and the durable record.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use super::error::StsError;
use super::params::is_name_char;
use super::xml::XmlBody;
use super::{AuditDraft, RequestMeta, StsState};
use crate::clock::{iso8601, unix_seconds};
use crate::config::Role;
use crate::creds::{Credentials, Grant, MintError, Session, SessionKind};
use crate::identity::{FederatedIdentity, SessionTags};
use crate::policy::{ContextKeys, Decision, Policy, PolicyKind, RequestContext, evaluate};
use crate::store::SessionRecord;

/// The role a request names. An unknown role is denied exactly like one whose trust policy says
/// no, so callers cannot probe which roles exist.
pub(crate) fn resolve_role(
    state: &StsState,
    arn: &str,
    action: &'static str,
) -> Result<Arc<Role>, StsError> {
    state
        .roles
        .get(arn)
        .cloned()
        .ok_or_else(|| StsError::AccessDenied {
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
) -> Result<(), StsError> {
    match evaluate(&role.trust_policy, request, now) {
        Decision::Allow(_) => Ok(()),
        Decision::ExplicitDeny(stmt) => Err(StsError::AccessDenied {
            action,
            detail: format!(
                "explicit deny in the trust policy of {} (statement {} {:?})",
                role.arn, stmt.index, stmt.sid
            ),
        }),
        Decision::ImplicitDeny => Err(StsError::AccessDenied {
            action,
            detail: format!("no statement of the trust policy of {} allows it", role.arn),
        }),
    }
}

/// The session length: the requested one (already range-checked) or one hour, never above the
/// role's maximum.
pub(crate) fn session_duration(requested: Option<i64>, role: &Role) -> Result<u32, StsError> {
    let seconds = requested.unwrap_or(3600);
    if seconds > i64::from(role.max_session_duration) {
        return Err(StsError::ValidationMessage(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        ));
    }
    u32::try_from(seconds).map_err(|_| StsError::Internal("duration out of range".into()))
}

/// Session policies passed with the request, validated.
pub(crate) struct SessionPolicies {
    pub inline: Option<String>,
    pub arns: Vec<String>,
}

pub(crate) fn session_policies(
    state: &StsState,
    inline: Option<&str>,
    arns: &[&str],
) -> Result<SessionPolicies, StsError> {
    if let Some(text) = inline {
        Policy::parse(text, PolicyKind::Session)
            .map_err(|e| StsError::MalformedPolicy(e.to_string()))?;
    }
    for arn in arns {
        if !state.managed_policies.contains_key(*arn) {
            return Err(StsError::InvalidParameterValue(
                "PolicyArns names a policy that does not exist.",
            ));
        }
    }
    Ok(SessionPolicies {
        inline: inline.map(str::to_owned),
        arns: arns.iter().map(|a| (*a).to_owned()).collect(),
    })
}

/// PackedPolicySize for the session policies and tags passed (see `policy::packed_policy_size`).
pub(crate) fn packed_policy_size(policies: &SessionPolicies, tags: &SessionTags) -> u32 {
    crate::policy::packed_policy_size(
        policies.inline.as_deref(),
        &policies.arns,
        &tags.principal_tags,
        &tags.transitive_tag_keys,
    )
}

/// The PackedPolicySize to report: `None` when no session policy or tag was passed (AWS then
/// omits the element), `PackedPolicyTooLarge` above 100 percent.
pub(crate) fn checked_packed_size(
    policies: &SessionPolicies,
    tags: &SessionTags,
) -> Result<Option<u32>, StsError> {
    let packed = packed_policy_size(policies, tags);
    if packed > 100 {
        return Err(StsError::PackedPolicyTooLarge(packed));
    }
    let passed = policies.inline.is_some() || !policies.arns.is_empty() || !tags.is_empty();
    Ok(passed.then_some(packed))
}

/// The grant of a federated session: `role` for `session_name`, on behalf of the identity's
/// subject at `provider`, with the tags it passed and the session policies.
pub(crate) fn federated_grant(
    role: &Role,
    session_name: &str,
    provider: &str,
    identity: &FederatedIdentity,
    source_identity: Option<String>,
    policies: SessionPolicies,
    duration_seconds: u32,
) -> Grant {
    Grant {
        session: Session {
            role_arn: role.arn.clone(),
            role_id: role.role_id.clone(),
            assumed_role_arn: assumed_role_arn(role, session_name),
            account_id: role.account_id.clone(),
            session_name: session_name.to_owned(),
            source_identity,
            provider: provider.to_owned(),
            subject: identity.subject.clone(),
            session_tags: identity.session_tags.principal_tags.clone(),
            transitive_tag_keys: identity.session_tags.transitive_tag_keys.clone(),
            session_policy: policies.inline,
            policy_arns: policies.arns,
            kind: SessionKind::AssumedRole,
            mfa_authenticated_at: None,
        },
        duration_seconds,
    }
}

/// Session tag limits: at most 50 tags, keys 1-128 and values 0-256 characters, keys unique
/// ignoring case, transitive keys among the tags.
pub(crate) fn check_session_tags(tags: &SessionTags) -> Result<(), StsError> {
    let invalid = |m: &'static str| StsError::ValidationMessage(m);
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

/// Condition keys every session-issuing request carries, whoever the caller is.
pub(crate) fn request_keys(
    meta: &RequestMeta,
    now: SystemTime,
    session_name: &str,
    duration: Option<i64>,
) -> ContextKeys {
    let mut keys = ContextKeys::default();
    keys.insert("aws:CurrentTime", iso8601(now));
    keys.insert("aws:EpochTime", unix_seconds(now).to_string());
    keys.insert("aws:SecureTransport", meta.secure_transport.to_string());
    if let Some(ip) = meta.source_ip {
        keys.insert("aws:SourceIp", ip.to_string());
    }
    if let Some(ua) = &meta.user_agent {
        keys.insert("aws:UserAgent", ua.clone());
    }
    keys.insert("sts:RoleSessionName", session_name);
    if let Some(d) = duration {
        keys.insert("sts:DurationSeconds", d.to_string());
    }
    keys
}

/// The trust decisions a federated session needs beyond its action: `sts:TagSession` when the
/// IdP passes session tags, `sts:SetSourceIdentity` when it sets a source identity. `trust` is
/// the request that was allowed for the action; it gains the tag and source-identity keys.
pub(crate) fn require_session_extras(
    role: &Role,
    trust: &mut RequestContext,
    tags: &SessionTags,
    source_identity: Option<&str>,
    now: SystemTime,
) -> Result<(), StsError> {
    if !tags.is_empty() {
        check_session_tags(tags)?;
        trust.action = "sts:TagSession".into();
        for (k, v) in &tags.principal_tags {
            trust.keys.insert(&format!("aws:RequestTag/{k}"), v.clone());
            trust.keys.insert("aws:TagKeys", k.clone());
        }
        for k in &tags.transitive_tag_keys {
            trust.keys.insert("sts:TransitiveTagKeys", k.clone());
        }
        require_trust(role, trust, now, "sts:TagSession")?;
    }
    if let Some(si) = source_identity {
        trust.action = "sts:SetSourceIdentity".into();
        trust.keys.insert("sts:SourceIdentity", si);
        require_trust(role, trust, now, "sts:SetSourceIdentity")?;
    }
    Ok(())
}

/// A source identity: 2-64 characters of `[\w+=,.@-]`.
pub(crate) fn check_source_identity(value: &str) -> Result<(), StsError> {
    let n = value.chars().count();
    if !(2..=64).contains(&n) || !value.chars().all(is_name_char) {
        return Err(StsError::ValidationMessage(
            "The source identity must be 2-64 characters of [\\w+=,.@-].",
        ));
    }
    Ok(())
}

/// `<Credentials>`, as every session-issuing result has it.
pub(crate) fn render_credentials_only(b: &mut XmlBody, credentials: &Credentials) {
    b.open("Credentials")
        .leaf("AccessKeyId", &credentials.access_key_id)
        .leaf("SecretAccessKey", credentials.secret_access_key.expose())
        .leaf("SessionToken", credentials.session_token.expose())
        .leaf("Expiration", &iso8601(credentials.expiration))
        .close("Credentials");
}

/// `<Credentials>` and `<AssumedRoleUser>`, as every AssumeRole* result has them.
pub(crate) fn render_credentials(b: &mut XmlBody, credentials: &Credentials, session: &Session) {
    render_credentials_only(b, credentials);
    b.open("AssumedRoleUser")
        .leaf("AssumedRoleId", &session.assumed_role_id())
        .leaf("Arn", &session.assumed_role_arn)
        .close("AssumedRoleUser");
}

/// What a session-issuing action records beyond the grant.
pub(crate) struct IssueContext<'a> {
    pub audience: &'a str,
    pub request_id: &'a str,
    pub source_ip: Option<String>,
    pub audit: &'a AuditDraft,
    /// Action-specific response elements for the audit event.
    pub response_extra: serde_json::Value,
}

impl<'a> IssueContext<'a> {
    pub(crate) fn new(
        meta: &'a RequestMeta,
        audience: &'a str,
        audit: &'a AuditDraft,
        response_extra: serde_json::Value,
    ) -> Self {
        Self {
            audience,
            request_id: &meta.request_id,
            source_ip: meta.source_ip.map(|ip| ip.to_string()),
            audit,
            response_extra,
        }
    }
}

/// Mint credentials for `grant` and make the session record and its audit event durable before
/// returning them.
pub(crate) async fn issue(
    state: &StsState,
    grant: &Grant,
    now: SystemTime,
    ctx: IssueContext<'_>,
) -> Result<Credentials, StsError> {
    let (credentials, _claims) = state.minter.mint(grant, now).map_err(|e| match e {
        // Sealed sessions have a size cap; policies and tags are what make one large.
        MintError::TooLarge { .. } => StsError::PackedPolicyTooLarge(101),
        other => StsError::Internal(other.to_string()),
    })?;
    let record = SessionRecord {
        access_key_id: credentials.access_key_id.clone(),
        session: grant.session.clone(),
        audience: ctx.audience.to_owned(),
        issued_at: unix_seconds(now),
        expires_at: unix_seconds(credentials.expiration),
        request_id: ctx.request_id.to_owned(),
        source_ip: ctx.source_ip,
    };
    let mut response = serde_json::json!({
        "credentials": {
            "accessKeyId": record.access_key_id,
            "expiration": crate::clock::iso8601(credentials.expiration),
        },
        "assumedRoleUser": {
            "assumedRoleId": record.session.assumed_role_id(),
            "arn": record.session.assumed_role_arn,
        },
    });
    if let (Some(obj), serde_json::Value::Object(extra)) =
        (response.as_object_mut(), ctx.response_extra)
    {
        obj.extend(extra);
    }
    let event = ctx.audit.succeeded(response);
    state
        .store
        .put_session(&record, &event)
        .await
        .map_err(|e| StsError::Internal(e.to_string()))?;
    Ok(credentials)
}

/// `arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION` (the role's path is not part of it).
pub(crate) fn assumed_role_arn(role: &Role, session_name: &str) -> String {
    format!(
        "arn:aws:sts::{}:assumed-role/{}/{}",
        role.account_id, role.name, session_name
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_size_is_zero_without_policies_or_tags() {
        let p = SessionPolicies {
            inline: None,
            arns: vec![],
        };
        assert_eq!(packed_policy_size(&p, &SessionTags::default()), 0);
    }

    #[test]
    fn packed_size_counts_policy_without_whitespace() {
        let text = format!("{}{}", "a".repeat(1024), " ".repeat(500));
        let p = SessionPolicies {
            inline: Some(text),
            arns: vec![],
        };
        assert_eq!(packed_policy_size(&p, &SessionTags::default()), 50);
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
}
