//! `AssumeRoleWithWebIdentity`: an OIDC ID token for temporary credentials of a role.
//!
//! 1. Parameters against the model's constraints (`ValidationError`); `ProviderId` is for OAuth
//!    2.0 access tokens, which are not accepted.
//! 2. The token against the IdP its `iss` names (`InvalidIdentityToken`, `ExpiredTokenException`,
//!    `IDPCommunicationError`).
//! 3. The session: `federation::assume_role_with_identity` (trust, tags, duration, policies,
//!    minting, the durable record).

use super::params::{Checker, Echo, Params, SessionMembers};
use super::{Context, xml};
use crate::action::Action;
use crate::audit::{AuditDraft, AuditIdentity};
use crate::error::ApiError;
use crate::federation::{SessionAsk, assume_role_with_identity};

/// The request's parameters after the model's constraints were checked.
struct WebIdentityRequest<'p> {
    role_arn: &'p str,
    session_name: &'p str,
    token: &'p str,
    session: SessionMembers<'p>,
}

impl<'p> WebIdentityRequest<'p> {
    fn parse(params: &'p Params) -> Result<Self, ApiError> {
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
        if provider_id.is_some() {
            return Err(ApiError::InvalidParameterValue(
                "ProviderId is only for OAuth 2.0 access tokens, which this service does not accept; omit it for OpenID Connect ID tokens.",
            ));
        }
        Ok(Self {
            role_arn,
            session_name,
            token,
            session,
        })
    }
}

pub(super) async fn assume_role_with_web_identity(
    ctx: &Context<'_>,
    params: &Params,
    audit: &mut AuditDraft,
) -> Result<String, ApiError> {
    let req = WebIdentityRequest::parse(params)?;
    let federation = ctx.state.federation();
    // Token files written with `echo` end in a newline the SDKs send along; whitespace is never
    // part of a compact JWS.
    let token = req.token.trim_matches(|c: char| c.is_ascii_whitespace());
    let identity = federation
        .idps
        .verify_web_identity(token, ctx.now)
        .await
        .map_err(ApiError::from)?;
    audit.identify(AuditIdentity::web_identity(
        &identity.provider,
        &identity.audience,
        &identity.subject,
    ));
    let ask = SessionAsk {
        role_arn: req.role_arn,
        provider_arn: None,
        session_name: Some(req.session_name),
        duration: req.session.duration,
        policy: req.session.policy,
        policy_arns: &req.session.policy_arns,
    };
    let issued = assume_role_with_identity(
        &ctx.domain(&federation),
        &identity,
        &ask,
        &ctx.request(audit),
    )
    .await?;
    xml::success(Action::AssumeRoleWithWebIdentity, ctx.request_id(), |b| {
        b.credentials(&issued.credentials)
            .assumed_role_user(&issued.session)
            .leaf("SubjectFromWebIdentityToken", &identity.subject)
            .packed_policy_size(issued.packed_policy_size)
            .leaf("Provider", &identity.provider)
            .leaf("Audience", &identity.audience)
            .optional_leaf("SourceIdentity", issued.session.source_identity.as_deref());
    })
}
