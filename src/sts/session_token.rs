//! `GetSessionToken` and `GetFederationToken`: temporary credentials for an IAM user, signed
//! with the user's long-term key (AWS STS API reference). Both refuse temporary credentials as
//! the caller, as AWS does; `federation` decides the rest.

use super::caller::authenticate;
use super::params::{Checker, Echo, NAME_PATTERN, Params, is_name_char};
use super::{Context, xml};
use crate::action::Action;
use crate::audit::AuditDraft;
use crate::creds::MAX_SESSION_DURATION_SECONDS;
use crate::error::ApiError;
use crate::federation::{
    FederationTokenAsk, check_session_tags, get_federation_token as federation_token,
    get_session_token as session_token,
};

/// Default for both actions (AWS: 12 hours).
const DEFAULT_DURATION_SECONDS: i64 = 43_200;

pub(super) async fn get_session_token(
    ctx: &Context<'_>,
    params: &Params,
    audit: &mut AuditDraft,
) -> Result<String, ApiError> {
    let mut check = Checker::default();
    let duration = long_duration(&mut check, params);
    let mfa = check.mfa_code(params);
    check.finish()?;
    let caller = authenticate(ctx, Action::GetSessionToken, audit).await?;
    let federation = ctx.state.federation();
    let issued = session_token(
        &ctx.domain(&federation),
        &caller,
        duration,
        mfa.as_ref(),
        &ctx.request(audit),
    )
    .await?;
    xml::success(Action::GetSessionToken, ctx.request_id(), |b| {
        b.credentials(&issued.credentials);
    })
}

pub(super) async fn get_federation_token(
    ctx: &Context<'_>,
    params: &Params,
    audit: &mut AuditDraft,
) -> Result<String, ApiError> {
    let mut check = Checker::default();
    let name = check.required_len(params, "Name", "name", (2, 32), Echo::Yes);
    if params.get("Name").is_some() {
        check.pattern("name", name, NAME_PATTERN, is_name_char, Echo::Yes);
    }
    let duration = long_duration(&mut check, params);
    let (policy, policy_arns) = check.session_policies(params);
    let tags = check.tags(params);
    check.finish()?;
    check_session_tags(&tags)?;

    let caller = authenticate(ctx, Action::GetFederationToken, audit).await?;
    let ask = FederationTokenAsk {
        name,
        duration_seconds: duration,
        policy,
        policy_arns,
        tags,
    };
    let federation = ctx.state.federation();
    let issued =
        federation_token(&ctx.domain(&federation), &caller, &ask, &ctx.request(audit)).await?;
    xml::success(Action::GetFederationToken, ctx.request_id(), |b| {
        b.credentials(&issued.credentials)
            .open("FederatedUser")
            .leaf("FederatedUserId", &issued.session.caller_id())
            .leaf("Arn", &issued.session.caller_arn)
            .close("FederatedUser")
            .packed_policy_size(issued.packed_policy_size);
    })
}

/// `DurationSeconds` of 900-129600, default 43200.
fn long_duration(check: &mut Checker, params: &Params) -> u32 {
    let max = i64::from(MAX_SESSION_DURATION_SECONDS);
    let seconds = params
        .get("DurationSeconds")
        .and_then(|d| check.integer("durationSeconds", d, 900, max))
        .unwrap_or(DEFAULT_DURATION_SECONDS);
    u32::try_from(seconds).unwrap_or(MAX_SESSION_DURATION_SECONDS)
}
