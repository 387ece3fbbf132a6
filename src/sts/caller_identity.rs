//! `GetCallerIdentity`: who the signed caller is. Needs no permission, and a Deny does not block
//! it (AWS STS API reference). Users (long-term keys or session tokens), role sessions and
//! federated users all get their AWS answers.

use super::caller::authenticate;
use super::{Context, xml};
use crate::action::Action;
use crate::audit::AuditDraft;
use crate::error::ApiError;

pub(super) async fn get_caller_identity(
    ctx: &Context<'_>,
    audit: &mut AuditDraft,
) -> Result<String, ApiError> {
    let caller = authenticate(ctx, Action::GetCallerIdentity, audit).await?;
    ctx.record_success(audit, serde_json::json!({})).await?;
    xml::success(Action::GetCallerIdentity, ctx.request_id(), |b| {
        b.leaf("Arn", &caller.arn());
        b.leaf("UserId", &caller.user_id());
        b.leaf("Account", caller.account_id());
    })
}
