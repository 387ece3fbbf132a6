//! `AssumeRoleWithSAML`: a SAML 2.0 Response from a corporate IdP for temporary credentials of
//! one of the roles the assertion grants.
//!
//! 1. Parameters against the model's constraints (`ValidationError`).
//! 2. The provider named by `PrincipalArn`; the Response verified by its pinned certificates,
//!    its assertion ID not used before within its window (`InvalidIdentityToken`,
//!    `ExpiredTokenException`).
//! 3. The session: `federation::assume_role_with_identity` (the `Role` attribute, trust, tags,
//!    duration, policies, minting, the durable record).

use super::params::{Checker, Echo, Params, SessionMembers};
use super::{Context, xml};
use crate::action::Action;
use crate::audit::{AuditDraft, AuditIdentity};
use crate::error::ApiError;
use crate::federation::{SessionAsk, assume_role_with_identity};

/// The request's parameters after the model's constraints were checked.
struct SamlRequest<'p> {
    role_arn: &'p str,
    principal_arn: &'p str,
    assertion: &'p str,
    session: SessionMembers<'p>,
}

impl<'p> SamlRequest<'p> {
    fn parse(params: &'p Params) -> Result<Self, ApiError> {
        let mut check = Checker::default();
        let role_arn = check.required_len(params, "RoleArn", "roleArn", (20, 2048), Echo::Yes);
        let principal_arn = check.required_len(
            params,
            "PrincipalArn",
            "principalArn",
            (20, 2048),
            Echo::Yes,
        );
        let assertion = check.required_len(
            params,
            "SAMLAssertion",
            "sAMLAssertion",
            (4, 100_000),
            Echo::No,
        );
        let session = check.session_members(params);
        check.finish()?;
        Ok(Self {
            role_arn,
            principal_arn,
            assertion,
            session,
        })
    }
}

pub(super) async fn assume_role_with_saml(
    ctx: &Context<'_>,
    params: &Params,
    audit: &mut AuditDraft,
) -> Result<String, ApiError> {
    let req = SamlRequest::parse(params)?;
    let federation = ctx.state.federation();
    let identity = federation
        .idps
        .verify_saml(req.principal_arn, req.assertion.trim(), ctx.now)
        .await
        .map_err(ApiError::from)?;
    audit.identify(AuditIdentity::saml(req.principal_arn, &identity.subject));
    let ask = SessionAsk {
        role_arn: req.role_arn,
        provider_arn: Some(req.principal_arn),
        session_name: None,
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
    let subject = issued
        .saml
        .as_ref()
        .ok_or_else(|| ApiError::Internal("a SAML session without its subject".into()))?;
    xml::success(Action::AssumeRoleWithSaml, ctx.request_id(), |b| {
        b.credentials(&issued.credentials)
            .assumed_role_user(&issued.session)
            .packed_policy_size(issued.packed_policy_size)
            .leaf("Subject", &identity.subject)
            .leaf("SubjectType", &subject.subject_type)
            .leaf("Issuer", &identity.issuer)
            .leaf("Audience", &identity.audience)
            .leaf("NameQualifier", &subject.name_qualifier)
            .optional_leaf("SourceIdentity", issued.session.source_identity.as_deref());
    })
}
