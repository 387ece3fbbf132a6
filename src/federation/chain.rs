//! `AssumeRole` for callers holding credentials this service issued (role chaining, the
//! portal's role switch) or an IAM user's key.
//!
//! Steps (AWS STS API reference, AssumeRole; IAM user guide "Role chaining", "Session tags",
//! "Policy evaluation logic" for cross-account access):
//! 1. Federated users (`GetFederationToken`) may not call it; a chained session (the caller is
//!    a role session) lasts at most one hour (`ValidationError` above 3600 seconds).
//! 2. Transitive tags and the source identity of the caller's session carry over and cannot
//!    be changed.
//! 3. `SerialNumber` + `TokenCode`: the caller's user must own that MFA device and the code
//!    must be current and unused; then `aws:MultiFactorAuthPresent` is true (age 0) for the
//!    trust policy and the new session records the MFA time. A caller whose own session was
//!    MFA authenticated passes that on.
//! 4. The role's trust policy for `sts:AssumeRole`. A statement naming the caller's session or
//!    role ARN is enough in the same account; one that only trusts the caller's account (or
//!    any cross-account trust) also needs the caller's own permissions (its role's policies
//!    intersected with its session policies) to allow `sts:AssumeRole` on the role
//!    (`AccessDenied`). Tags need `sts:TagSession`, a new source identity `sts:SetSourceIdentity`.
//! 5. Duration within the role's maximum, session policies valid and small enough.
//! 6. Credentials minted; the session and its audit event durable.

use std::time::SystemTime;

use super::steps::{
    SessionPolicies, check_session_tags, check_source_identity, request_keys,
    require_session_extras, require_trust, resolve_role, session_duration,
};
use super::{Domain, Issued, Request};
use crate::action::{Action, SET_SOURCE_IDENTITY};
use crate::clock::unix_seconds;
use crate::config::{Federation, Role};
use crate::creds::{Grant, Session, SessionKind};
use crate::error::ApiError;
use crate::identity::SessionTags;
use crate::origin::Origin;
use crate::policy::{Decision, PrincipalId, RequestContext, evaluate};
use crate::principal::{Authenticator, Caller, MfaCode, PrincipalType, permissions};

const ACTION: &str = Action::AssumeRole.iam_action();
/// Role chaining caps a session at one hour (IAM user guide, "Role chaining").
pub const CHAINED_MAX_SECONDS: i64 = 3600;

/// What a signed caller asks `AssumeRole` for (values already within the model's constraints).
#[derive(Debug, Clone)]
pub struct AssumeRoleAsk<'a> {
    pub role_arn: &'a str,
    pub session_name: &'a str,
    pub duration: Option<i64>,
    pub policy: Option<&'a str>,
    pub policy_arns: Vec<&'a str>,
    pub external_id: Option<&'a str>,
    pub source_identity: Option<&'a str>,
    pub mfa: Option<MfaCode<'a>>,
    pub tags: SessionTags,
}

/// Issue a session of `ask.role_arn` for `caller` (see the module documentation).
pub async fn assume_role(
    domain: &Domain<'_>,
    caller: &Caller,
    ask: &AssumeRoleAsk<'_>,
    request: &Request<'_>,
) -> Result<Issued, ApiError> {
    let (federation, principals) = (domain.federation, domain.principals);
    let (origin, now) = (request.origin, request.now);
    if caller.principal_type() == PrincipalType::FederatedUser {
        return Err(ApiError::AccessDenied {
            action: ACTION,
            detail: "federated users may not call AssumeRole".into(),
        });
    }
    let chained = caller.principal_type() == PrincipalType::AssumedRole;
    if chained && ask.duration.is_some_and(|d| d > CHAINED_MAX_SECONDS) {
        return Err(ApiError::ValidationMessage(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
        ));
    }
    let role = resolve_role(federation, ask.role_arn, ACTION)?;
    let caller_session = caller.session().map(|c| &c.session);
    let tags = chained_tags(caller_session, &ask.tags)?;
    let source_identity = chained_source_identity(caller_session, ask.source_identity)?;
    let mfa_authenticated_at = match &ask.mfa {
        Some(code) => Some(principals.verify_mfa(caller, code, now).await?),
        None => caller.mfa_authenticated_at(),
    };

    let mut trust = trust_request(caller, &role, ask, origin, now, mfa_authenticated_at);
    require_caller_trusted(federation, principals, caller, &role, &mut trust, now).await?;
    // The caller's own source identity is carried, not set: only a new one needs permission.
    let new_source_identity = source_identity
        .as_deref()
        .filter(|_| caller_session.is_none_or(|s| s.source_identity.is_none()));
    require_session_extras(&role, &mut trust, &tags, new_source_identity, now)?;

    let duration = session_duration(ask.duration, &role)?;
    let policies = SessionPolicies::checked(federation, ask.policy, &ask.policy_arns)?;
    let packed = policies.checked_packed_size(&ask.tags)?;
    let (provider, subject) = match caller_session {
        Some(s) if s.kind == SessionKind::AssumedRole => (s.provider.clone(), s.subject.clone()),
        _ => (String::new(), caller.arn()),
    };
    let grant = Grant {
        session: Session {
            identity_arn: role.arn.clone(),
            identity_id: role.role_id.clone(),
            caller_arn: role.session_arn(ask.session_name).to_string(),
            account_id: role.account_id.clone(),
            session_name: ask.session_name.to_owned(),
            source_identity,
            provider,
            subject,
            session_tags: tags.principal_tags,
            transitive_tag_keys: tags.transitive_tag_keys,
            session_policy: policies.inline,
            policy_arns: policies.arns,
            kind: SessionKind::AssumedRole,
            mfa_authenticated_at,
        },
        duration_seconds: duration,
    };
    let extra = serde_json::json!({ "sourceIdentity": grant.session.source_identity });
    let credentials = domain
        .issuer
        .issue(&grant, &caller.arn(), None, request, extra)
        .await?;
    Ok(Issued {
        credentials,
        session: grant.session,
        packed_policy_size: packed,
        saml: None,
    })
}

/// The caller's transitive tags carried over, plus the tags of this request (which may not
/// redefine a carried key, keys compared ignoring case as AWS does).
fn chained_tags(
    caller: Option<&Session>,
    requested: &SessionTags,
) -> Result<SessionTags, ApiError> {
    check_session_tags(requested)?;
    let mut tags = requested.clone();
    let Some(caller) = caller else {
        return Ok(tags);
    };
    for key in &caller.transitive_tag_keys {
        let Some(value) = caller.session_tags.get(key) else {
            continue;
        };
        if requested
            .principal_tags
            .keys()
            .any(|k| k.eq_ignore_ascii_case(key))
        {
            return Err(ApiError::InvalidParameterValue(
                "A transitive session tag of the calling session cannot be overridden.",
            ));
        }
        tags.principal_tags.insert(key.clone(), value.clone());
        if !tags.transitive_tag_keys.iter().any(|k| k == key) {
            tags.transitive_tag_keys.push(key.clone());
        }
    }
    check_session_tags(&tags)?;
    Ok(tags)
}

/// The source identity of the chain: the caller's, which cannot be changed, or a new one.
fn chained_source_identity(
    caller: Option<&Session>,
    requested: Option<&str>,
) -> Result<Option<String>, ApiError> {
    match (caller.and_then(|c| c.source_identity.as_ref()), requested) {
        (Some(kept), Some(asked)) if kept != asked => Err(ApiError::AccessDenied {
            action: SET_SOURCE_IDENTITY,
            detail: "a source identity cannot be changed along a role chain".into(),
        }),
        (Some(kept), _) => Ok(Some(kept.clone())),
        (None, Some(asked)) => {
            check_source_identity(asked)?;
            Ok(Some(asked.to_owned()))
        }
        (None, None) => Ok(None),
    }
}

/// The trust-policy request: the caller as every ARN it matches as, and the keys AWS sets for
/// its principal.
fn trust_request(
    caller: &Caller,
    role: &Role,
    ask: &AssumeRoleAsk<'_>,
    origin: &Origin,
    now: SystemTime,
    mfa_authenticated_at: Option<i64>,
) -> RequestContext {
    let mut keys = request_keys(origin, now, ask.session_name, ask.duration);
    caller.context_keys(now, &mut keys);
    if ask.mfa.is_some()
        && let Some(at) = mfa_authenticated_at
    {
        // This request's own MFA code: the keys describe it, whatever the caller's session said.
        keys.remove("aws:MultiFactorAuthPresent");
        keys.remove("aws:MultiFactorAuthAge");
        keys.insert("aws:MultiFactorAuthPresent", "true");
        keys.insert(
            "aws:MultiFactorAuthAge",
            unix_seconds(now).saturating_sub(at).max(0).to_string(),
        );
    }
    if let Some(id) = ask.external_id {
        keys.insert("sts:ExternalId", id);
    }
    RequestContext {
        principals: caller.principal_ids(),
        action: ACTION.into(),
        resource: Some(role.arn.clone()),
        keys,
    }
}

/// Trust by name is enough in the same account; trust of the caller's account (or any
/// cross-account trust) also needs the caller's own permissions to allow `sts:AssumeRole`.
async fn require_caller_trusted(
    federation: &Federation,
    principals: &Authenticator,
    caller: &Caller,
    role: &Role,
    trust: &mut RequestContext,
    now: SystemTime,
) -> Result<(), ApiError> {
    let same_account = caller.account_id() == role.account_id;
    let named = evaluate(&role.trust_policy, trust, now);
    if matches!(named, Decision::ExplicitDeny(_)) {
        return require_trust(role, trust, now, ACTION);
    }
    if named.is_allow() && same_account {
        return Ok(());
    }
    trust
        .principals
        .push(PrincipalId::Aws(caller.account_id().to_owned()));
    require_trust(role, trust, now, ACTION)?;
    let request = RequestContext {
        principals: Vec::new(),
        action: ACTION.into(),
        resource: Some(role.arn.clone()),
        keys: trust.keys.clone(),
    };
    if permissions(federation, principals.users(), caller)
        .await?
        .decide(&request, now)
        .is_allow()
    {
        Ok(())
    } else {
        Err(ApiError::AccessDenied {
            action: ACTION,
            detail: format!(
                "the caller's permissions do not allow sts:AssumeRole on {}",
                role.arn
            ),
        })
    }
}
