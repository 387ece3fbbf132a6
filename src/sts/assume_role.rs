//! `AssumeRole` for callers holding credentials this service issued (role chaining,
//! cross-account) or an IAM user's key.
//!
//! 1. Parameters against the model's constraints (`ValidationError`).
//! 2. The caller from the request's SigV4 signature (`InvalidClientTokenId`,
//!    `SignatureDoesNotMatch`, `ExpiredToken`, ...).
//! 3. The session: `federation::assume_role` (chaining rules, MFA, trust, tags, duration,
//!    policies, minting, the durable record).

use super::caller::authenticate;
use super::params::{Checker, Echo, NAME_PATTERN, Params, SessionMembers, is_name_char};
use super::{Context, xml};
use crate::action::Action;
use crate::audit::AuditDraft;
use crate::error::ApiError;
use crate::federation::{AssumeRoleAsk, assume_role as assume};
use crate::identity::SessionTags;

/// `[\w+=,.@:/-]`, the ExternalId pattern.
fn is_external_id_char(c: char) -> bool {
    is_name_char(c) || c == ':' || c == '/'
}

fn parse(params: &Params) -> Result<AssumeRoleAsk<'_>, ApiError> {
    let mut check = Checker::default();
    let (role_arn, session_name) = check.role_and_session_name(params);
    let SessionMembers {
        duration,
        policy,
        policy_arns,
    } = check.session_members(params);
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
    let tags = check.tags(params);
    let transitive = params.members("TransitiveTagKeys", None);
    check.list_len("transitiveTagKeys", transitive.len(), 50);
    check.finish()?;
    Ok(AssumeRoleAsk {
        role_arn,
        session_name,
        duration,
        policy,
        policy_arns,
        external_id,
        source_identity,
        mfa,
        tags: SessionTags {
            transitive_tag_keys: transitive.iter().map(|k| (*k).to_owned()).collect(),
            ..tags
        },
    })
}

pub(super) async fn assume_role(
    ctx: &Context<'_>,
    params: &Params,
    audit: &mut AuditDraft,
) -> Result<String, ApiError> {
    let ask = parse(params)?;
    let caller = authenticate(ctx, Action::AssumeRole, audit).await?;
    let federation = ctx.state.federation();
    let issued = assume(&ctx.domain(&federation), &caller, &ask, &ctx.request(audit)).await?;
    xml::success(Action::AssumeRole, ctx.request_id(), |b| {
        b.credentials(&issued.credentials)
            .assumed_role_user(&issued.session)
            .packed_policy_size(issued.packed_policy_size)
            .optional_leaf("SourceIdentity", issued.session.source_identity.as_deref());
    })
}
