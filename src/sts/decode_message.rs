//! `DecodeAuthorizationMessage`: the details of a denial the authorization API reported, for
//! callers allowed `sts:DecodeAuthorizationMessage` (AWS STS API reference).

use super::caller::authenticate;
use super::params::{Checker, Echo, Params};
use super::{Context, xml};
use crate::action::Action;
use crate::audit::AuditDraft;
use crate::error::ApiError;
use crate::policy::RequestContext;
use crate::principal::{decode_message, permissions};

pub(super) async fn decode_authorization_message(
    ctx: &Context<'_>,
    params: &Params,
    audit: &mut AuditDraft,
) -> Result<String, ApiError> {
    const ACTION: Action = Action::DecodeAuthorizationMessage;
    let mut check = Checker::default();
    let encoded = check.required_len(
        params,
        "EncodedMessage",
        "encodedMessage",
        (1, 10240),
        Echo::No,
    );
    check.finish()?;
    let caller = authenticate(ctx, ACTION, audit).await?;
    let principals = ctx.state.principals();
    let federation = ctx.state.federation();
    let permissions = permissions(&federation, principals.users(), &caller).await?;
    let mut keys = ctx.origin().context_keys(ctx.now);
    caller.context_keys(ctx.now, &mut keys);
    let request = RequestContext {
        principals: Vec::new(),
        action: ACTION.iam_action().into(),
        resource: Some("*".into()),
        keys,
    };
    if !permissions.decide(&request, ctx.now).is_allow() {
        return Err(ApiError::AccessDenied {
            action: ACTION.iam_action(),
            detail: "the caller's policies do not allow it".into(),
        });
    }
    let decoded = decode_message(&principals.keyring().snapshot(), encoded)
        .ok_or(ApiError::InvalidAuthorizationMessage)?;
    ctx.record_success(audit, serde_json::json!({})).await?;
    xml::success(ACTION, ctx.request_id(), |b| {
        b.leaf("DecodedMessage", &decoded);
    })
}
