//! `GetCallerIdentity`: who the signed caller is. Needs no permission, and a Deny does not block
//! it (AWS STS API reference). Users (long-term keys or session tokens), role sessions and
//! federated users all get their AWS answers.

use std::time::SystemTime;

use super::auth::authenticate;
use super::error::StsError;
use super::{AuditDraft, RequestMeta, StsState, xml};

pub(super) async fn get_caller_identity(
    state: &StsState,
    meta: &RequestMeta,
    now: SystemTime,
    audit: &mut AuditDraft,
) -> Result<String, StsError> {
    let caller = authenticate(state, meta, now, "GetCallerIdentity", audit)?;
    audit.record_success(state, serde_json::json!({})).await?;
    xml::success("GetCallerIdentity", &meta.request_id, |b| {
        b.leaf("Arn", &caller.arn());
        b.leaf("UserId", &caller.user_id());
        b.leaf("Account", caller.account_id());
    })
}
