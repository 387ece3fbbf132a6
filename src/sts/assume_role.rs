//! `AssumeRole` for callers holding credentials this service issued: role chaining.
//!
//! Steps (AWS STS API reference, AssumeRole; IAM user guide "Role chaining", "Session tags",
//! "Policy evaluation logic" for cross-account access):
//! 1. Parameters against the model's constraints (`ValidationError`).
//! 2. The caller from the request's SigV4 signature (`InvalidClientTokenId`,
//!    `SignatureDoesNotMatch`, `ExpiredToken`, ...).
//! 3. The role's trust policy for `sts:AssumeRole`. A statement naming the caller's session or
//!    role ARN is enough in the same account; one that only trusts the caller's account (or
//!    any cross-account trust) also needs the caller's own permissions (its role's policies
//!    intersected with its session policies) to allow `sts:AssumeRole` on the role
//!    (`AccessDenied`). Tags need `sts:TagSession`, a new source identity `sts:SetSourceIdentity`.
//! 4. A chained session (the caller is a role session) lasts at most one hour (`ValidationError`
//!    above 3600 seconds); transitive tags and the source identity of the caller's session carry
//!    over and cannot be changed. Federated users (`GetFederationToken`) may not call it.
//! 5. `SerialNumber` + `TokenCode`: the caller's user must own that MFA device and the code must
//!    be current and unused; then `aws:MultiFactorAuthPresent` is true (age 0) for the trust
//!    policy and the new session records the MFA time. A caller whose own session was MFA
//!    authenticated passes that on.
//! 6. Credentials minted; the session and its audit event durable; then the response.

use std::time::SystemTime;

use super::auth::{Caller, PrincipalType, authenticate, permissions};
use super::error::StsError;
use super::mfa::verify_mfa;
use super::params::{Checker, Echo, MfaCode, NAME_PATTERN, Params, SessionMembers, is_name_char};
use super::session::{
    IssueContext, assumed_role_arn, check_session_tags, check_source_identity, checked_packed_size,
    issue, render_credentials, request_keys, require_session_extras, require_trust, resolve_role,
    session_duration, session_policies,
};
use super::{AuditDraft, RequestMeta, StsState, xml};
use crate::clock::unix_seconds;
use crate::config::Role;
use crate::creds::{Grant, Session, SessionKind};
use crate::identity::SessionTags;
use crate::policy::{Decision, PrincipalId, RequestContext, evaluate};

const ACTION: &str = "sts:AssumeRole";
/// Role chaining caps a session at one hour (IAM user guide, "Role chaining").
const CHAINED_MAX_SECONDS: i64 = 3600;

/// `[\w+=,.@:/-]`, the ExternalId pattern.
fn is_external_id_char(c: char) -> bool {
    is_name_char(c) || c == ':' || c == '/'
}

struct AssumeRoleRequest<'p> {
    role_arn: &'p str,
    session_name: &'p str,
    session: SessionMembers<'p>,
    external_id: Option<&'p str>,
    source_identity: Option<&'p str>,
    mfa: Option<MfaCode<'p>>,
    tags: SessionTags,
}

impl<'p> AssumeRoleRequest<'p> {
    fn parse(params: &'p Params) -> Result<Self, StsError> {
        let mut check = Checker::default();
        let (role_arn, session_name) = check.role_and_session_name(params);
        let session = check.session_members(params);
        let external_id = params.get("ExternalId");
        if let Some(id) = external_id {
            check.length("externalId", id, 2, 1224, Echo::No);
            check.pattern(
                "externalId",
                id,
                "[\\w+=,.@:\\/-]*",
                is_external_id_char,
                Echo::No,
            );
        }
        let source_identity = params.get("SourceIdentity");
        if let Some(si) = source_identity {
            check.length("sourceIdentity", si, 2, 64, Echo::Yes);
            check.pattern("sourceIdentity", si, NAME_PATTERN, is_name_char, Echo::Yes);
        }
        let mfa = check.mfa_code(params);
        let keys = params.members("Tags", Some("Key"));
        let values = params.members("Tags", Some("Value"));
        check.list_len("tags", keys.len(), 50);
        let transitive = params.members("TransitiveTagKeys", None);
        check.list_len("transitiveTagKeys", transitive.len(), 50);
        check.finish()?;
        let mut tags = SessionTags::default();
        for (i, key) in keys.iter().enumerate() {
            let value = values.get(i).copied().unwrap_or_default();
            tags.principal_tags
                .insert((*key).to_owned(), value.to_owned());
        }
        tags.transitive_tag_keys = transitive.iter().map(|k| (*k).to_owned()).collect();
        match (role_arn, session_name) {
            (Some(role_arn), Some(session_name)) => Ok(Self {
                role_arn,
                session_name,
                session,
                external_id,
                source_identity,
                mfa,
                tags,
            }),
            _ => Err(StsError::Internal("required parameters vanished".into())),
        }
    }
}

pub(super) async fn assume_role(
    state: &StsState,
    meta: &RequestMeta,
    params: &Params,
    now: SystemTime,
    audit: &mut AuditDraft,
) -> Result<String, StsError> {
    let req = AssumeRoleRequest::parse(params)?;
    let caller = authenticate(state, meta, now, "AssumeRole", audit)?;
    if caller.principal_type() == PrincipalType::FederatedUser {
        return Err(StsError::AccessDenied {
            action: ACTION,
            detail: "federated users may not call AssumeRole".into(),
        });
    }
    let chained = caller.principal_type() == PrincipalType::AssumedRole;
    if chained
        && req
            .session
            .duration
            .is_some_and(|d| d > CHAINED_MAX_SECONDS)
    {
        return Err(StsError::ValidationMessage(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
        ));
    }
    let role = resolve_role(state, req.role_arn, ACTION)?;
    let caller_session = caller.session().map(|c| &c.session);
    let tags = chained_tags(caller_session, &req.tags)?;
    let source_identity = chained_source_identity(caller_session, req.source_identity)?;
    let mfa_authenticated_at = match &req.mfa {
        Some(code) => Some(verify_mfa(state, &caller, code, now).await?),
        None => caller.mfa_authenticated_at(),
    };

    let mut trust = trust_request(&caller, &role, &req, meta, now, mfa_authenticated_at);
    require_caller_trusted(state, &caller, &role, &mut trust, now)?;
    // The caller's own source identity is carried, not set: only a new one needs permission.
    let new_source_identity = source_identity
        .as_deref()
        .filter(|_| caller_session.is_none_or(|s| s.source_identity.is_none()));
    require_session_extras(&role, &mut trust, &tags, new_source_identity, now)?;

    let duration = session_duration(req.session.duration, &role)?;
    let policies = session_policies(state, req.session.policy, &req.session.policy_arns)?;
    let packed = checked_packed_size(&policies, &req.tags)?;
    let (provider, subject) = match caller_session {
        Some(s) if s.kind == SessionKind::AssumedRole => (s.provider.clone(), s.subject.clone()),
        _ => (String::new(), caller.arn()),
    };
    let grant = Grant {
        session: Session {
            role_arn: role.arn.clone(),
            role_id: role.role_id.clone(),
            assumed_role_arn: assumed_role_arn(&role, req.session_name),
            account_id: role.account_id.clone(),
            session_name: req.session_name.to_owned(),
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
    let credentials = issue(
        state,
        &grant,
        now,
        IssueContext::new(
            meta,
            &caller.arn(),
            audit,
            serde_json::json!({ "sourceIdentity": grant.session.source_identity }),
        ),
    )
    .await?;
    xml::success("AssumeRole", &meta.request_id, |b| {
        render_credentials(b, &credentials, &grant.session);
        if let Some(packed) = packed {
            b.leaf("PackedPolicySize", &packed.to_string());
        }
        b.optional_leaf("SourceIdentity", grant.session.source_identity.as_deref());
    })
}

/// The caller's transitive tags carried over, plus the tags of this request (which may not
/// redefine a carried key, keys compared ignoring case as AWS does).
fn chained_tags(
    caller: Option<&Session>,
    requested: &SessionTags,
) -> Result<SessionTags, StsError> {
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
            return Err(StsError::InvalidParameterValue(
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
) -> Result<Option<String>, StsError> {
    match (caller.and_then(|c| c.source_identity.as_ref()), requested) {
        (Some(kept), Some(asked)) if kept != asked => Err(StsError::AccessDenied {
            action: "sts:SetSourceIdentity",
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
    req: &AssumeRoleRequest<'_>,
    meta: &RequestMeta,
    now: SystemTime,
    mfa_authenticated_at: Option<i64>,
) -> RequestContext {
    let mut keys = request_keys(meta, now, req.session_name, req.session.duration);
    caller.context_keys(now, &mut keys);
    if req.mfa.is_some()
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
    if let Some(id) = req.external_id {
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
fn require_caller_trusted(
    state: &StsState,
    caller: &Caller,
    role: &Role,
    trust: &mut RequestContext,
    now: SystemTime,
) -> Result<(), StsError> {
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
    if permissions(state, caller)?.decide(&request, now).is_allow() {
        Ok(())
    } else {
        Err(StsError::AccessDenied {
            action: ACTION,
            detail: format!(
                "the caller's permissions do not allow sts:AssumeRole on {}",
                role.arn
            ),
        })
    }
}
