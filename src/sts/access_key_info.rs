//! `GetAccessKeyInfo`: the account of an access key id this service issued (AWS STS API
//! reference): a temporary key's from its session record, a long-term key's from its user. The
//! caller must be signed in; the key may be anyone's.

use super::caller::authenticate;
use super::params::{Checker, Echo, Params};
use super::{Context, xml};
use crate::action::Action;
use crate::audit::AuditDraft;
use crate::error::ApiError;

pub(super) async fn get_access_key_info(
    ctx: &Context<'_>,
    params: &Params,
    audit: &mut AuditDraft,
) -> Result<String, ApiError> {
    let mut check = Checker::default();
    let key = check.required_len(params, "AccessKeyId", "accessKeyId", (16, 128), Echo::Yes);
    check.finish()?;
    authenticate(ctx, Action::GetAccessKeyInfo, audit).await?;
    let store = ctx.state.store();
    let account = match store.sessions.get(key).await.map_err(ApiError::from)? {
        Some(session) => Some(session.session.account_id),
        None => store
            .users
            .by_access_key(key)
            .await
            .map_err(ApiError::from)?
            .map(|user| user.account_id),
    }
    .ok_or(ApiError::InvalidParameterValue(
        "The access key ID was not issued by this service.",
    ))?;
    ctx.record_success(audit, serde_json::json!({ "account": account }))
        .await?;
    xml::success(Action::GetAccessKeyInfo, ctx.request_id(), |b| {
        b.leaf("Account", &account);
    })
}
