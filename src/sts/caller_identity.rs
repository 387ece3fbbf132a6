//! `GetCallerIdentity`: who the signed caller is. Needs no permission, and a Deny does not block
//! it (AWS STS API reference).

use std::time::SystemTime;

use super::auth::authenticate;
use super::error::StsError;
use super::{AuditDraft, RequestMeta, StsState, xml};
use crate::store::AuditIdentity;

pub(super) async fn get_caller_identity(
    state: &StsState,
    meta: &RequestMeta,
    now: SystemTime,
    audit: &mut AuditDraft,
) -> Result<String, StsError> {
    let caller = authenticate(state, meta, now)?;
    let session = &caller.session;
    let user_id = session.assumed_role_id();
    audit.identify(AuditIdentity {
        kind: "AssumedRole".into(),
        identity_provider: None,
        principal_id: Some(user_id.clone()),
        user_name: None,
    });
    let event = audit.succeeded(serde_json::json!({}));
    state
        .store
        .append_audit(&event)
        .await
        .map_err(|e| StsError::Internal(e.to_string()))?;
    xml::success("GetCallerIdentity", &meta.request_id, |b| {
        b.leaf("Arn", &session.assumed_role_arn);
        b.leaf("UserId", &user_id);
        b.leaf("Account", &session.account_id);
    })
}
