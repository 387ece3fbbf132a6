//! `AssumeRoleWithWebIdentity`: an OIDC ID token for temporary credentials of a role.
//!
//! Steps (AWS STS API reference, AssumeRoleWithWebIdentity):
//! 1. Parameters against the model's constraints (`ValidationError`).
//! 2. The token against the IdP its `iss` names (`InvalidIdentityToken`, `ExpiredTokenException`,
//!    `IDPCommunicationError`).
//! 3. The role's trust policy for `sts:AssumeRoleWithWebIdentity` with principal
//!    `{"Federated": provider}` / the provider ARN and the provider's claim keys (`AccessDenied`);
//!    session tags need `sts:TagSession`, a source identity `sts:SetSourceIdentity`.
//! 4. Duration within the role's maximum, session policies valid and small enough.
//! 5. Credentials minted; the session and its audit event durable; then the response.

use std::time::SystemTime;

use super::error::StsError;
use super::params::{Checker, Echo, Params, SessionMembers};
use super::session::{
    IssueContext, check_source_identity, checked_packed_size, federated_grant, issue,
    render_credentials, request_keys, require_session_extras, require_trust, resolve_role,
    session_duration, session_policies,
};
use super::{AuditDraft, RequestMeta, StsState, xml};
use crate::config::Role;
use crate::identity::FederatedIdentity;
use crate::policy::{PrincipalId, RequestContext};
use crate::store::AuditIdentity;

const ACTION: &str = "sts:AssumeRoleWithWebIdentity";
/// The claim AWS reads a source identity from.
const SOURCE_IDENTITY_CLAIM: &str = "https://aws.amazon.com/source_identity";

/// The request's parameters after the model's constraints were checked.
struct WebIdentityRequest<'p> {
    role_arn: &'p str,
    session_name: &'p str,
    token: &'p str,
    session: SessionMembers<'p>,
    provider_id: Option<&'p str>,
}

impl<'p> WebIdentityRequest<'p> {
    fn parse(params: &'p Params) -> Result<Self, StsError> {
        let mut check = Checker::default();
        let (role_arn, session_name) = check.role_and_session_name(params);
        let token = check.required_len(
            params,
            "WebIdentityToken",
            "webIdentityToken",
            (4, 20000),
            Echo::No,
        );
        let session = check.session_members(params);
        let provider_id = params.get("ProviderId");
        if let Some(p) = provider_id {
            check.length("providerId", p, 4, 2048, Echo::Yes);
        }
        check.finish()?;
        match (role_arn, session_name, token) {
            (Some(role_arn), Some(session_name), Some(token)) => Ok(Self {
                role_arn,
                session_name,
                token,
                session,
                provider_id,
            }),
            _ => Err(StsError::Internal("required parameters vanished".into())),
        }
    }
}

pub(super) async fn assume_role_with_web_identity(
    state: &StsState,
    meta: &RequestMeta,
    params: &Params,
    now: SystemTime,
    audit: &mut AuditDraft,
) -> Result<String, StsError> {
    let req = WebIdentityRequest::parse(params)?;
    if req.provider_id.is_some() {
        return Err(StsError::InvalidParameterValue(
            "ProviderId is only for OAuth 2.0 access tokens, which this service does not accept; omit it for OpenID Connect ID tokens.",
        ));
    }

    // Token files written with `echo` end in a newline the SDKs send along; whitespace is never
    // part of a compact JWS.
    let token = req.token.trim_matches(|c: char| c.is_ascii_whitespace());
    let identity = state.idps.verify_web_identity(token, now).await?;
    audit.identify(AuditIdentity {
        kind: "WebIdentityUser".into(),
        identity_provider: Some(identity.provider.clone()),
        principal_id: Some(format!(
            "{}:{}:{}",
            identity.provider, identity.audience, identity.subject
        )),
        user_name: Some(identity.subject.clone()),
    });

    let role = resolve_role(state, req.role_arn, ACTION)?;
    let mut trust = trust_request(&identity, &role, &req, meta, now);
    require_trust(&role, &trust, now, ACTION)?;

    let tags = &identity.session_tags;
    let source_identity = source_identity(&identity)?;
    require_session_extras(&role, &mut trust, tags, source_identity.as_deref(), now)?;

    let duration = session_duration(req.session.duration, &role)?;
    let policies = session_policies(state, req.session.policy, &req.session.policy_arns)?;
    let packed = checked_packed_size(&policies, tags)?;

    let grant = federated_grant(
        &role,
        req.session_name,
        &identity.provider,
        &identity,
        source_identity,
        policies,
        duration,
    );
    let credentials = issue(
        state,
        &grant,
        now,
        IssueContext::new(
            meta,
            &identity.audience,
            audit,
            serde_json::json!({
                "subjectFromWebIdentityToken": identity.subject,
                "provider": identity.provider,
                "audience": identity.audience,
            }),
        ),
    )
    .await?;

    xml::success("AssumeRoleWithWebIdentity", &meta.request_id, |b| {
        render_credentials(b, &credentials, &grant.session);
        b.leaf("SubjectFromWebIdentityToken", &identity.subject);
        if let Some(packed) = packed {
            b.leaf("PackedPolicySize", &packed.to_string());
        }
        b.leaf("Provider", &identity.provider);
        b.leaf("Audience", &identity.audience);
        b.optional_leaf("SourceIdentity", grant.session.source_identity.as_deref());
    })
}

/// The trust-policy request: who (the provider by name and by ARN), what, and every condition
/// key this request carries.
fn trust_request(
    identity: &FederatedIdentity,
    role: &Role,
    req: &WebIdentityRequest<'_>,
    meta: &RequestMeta,
    now: SystemTime,
) -> RequestContext {
    let provider_arn = format!(
        "arn:aws:iam::{}:oidc-provider/{}",
        role.account_id, identity.provider
    );
    let mut keys = request_keys(meta, now, req.session_name, req.session.duration);
    for (claim, values) in &identity.claims {
        let key = format!("{}:{claim}", identity.provider);
        for v in values {
            keys.insert(&key, v.clone());
        }
    }
    keys.insert("aws:FederatedProvider", provider_arn.clone());
    RequestContext {
        principals: vec![
            PrincipalId::Federated(identity.provider.clone()),
            PrincipalId::Federated(provider_arn),
        ],
        action: ACTION.into(),
        resource: Some(role.arn.clone()),
        keys,
    }
}

/// The source identity the token asks for (2-64 characters of `[\w+=,.@-]`), if any.
fn source_identity(identity: &FederatedIdentity) -> Result<Option<String>, StsError> {
    let Some(value) = identity
        .claims
        .get(SOURCE_IDENTITY_CLAIM)
        .and_then(|v| v.first())
    else {
        return Ok(None);
    };
    check_source_identity(value)?;
    Ok(Some(value.clone()))
}
