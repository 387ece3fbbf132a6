//! `GetAccessKeyInfo`: the account of an access key id this service issued (AWS STS API
//! reference). The caller must be signed in; the key may be anyone's.

use std::time::SystemTime;

use super::auth::authenticate;
use super::error::StsError;
use super::params::{Checker, Echo, Params};
use super::{AuditDraft, RequestMeta, StsState, xml};
use crate::store::AuditIdentity;

pub(super) async fn get_access_key_info(
    state: &StsState,
    meta: &RequestMeta,
    params: &Params,
    now: SystemTime,
    audit: &mut AuditDraft,
) -> Result<String, StsError> {
    let mut check = Checker::default();
    let key = check.required_len(params, "AccessKeyId", "accessKeyId", (16, 128), Echo::Yes);
    check.finish()?;
    let key = key.ok_or_else(|| StsError::Internal("required parameter vanished".into()))?;
    let caller = authenticate(state, meta, now)?;
    audit.identify(AuditIdentity {
        kind: "AssumedRole".into(),
        identity_provider: None,
        principal_id: Some(caller.session.assumed_role_id()),
        user_name: None,
    });
    let session = state
        .store
        .get_session(key)
        .map_err(|e| StsError::Internal(e.to_string()))?
        .ok_or(StsError::InvalidParameterValue(
            "The access key ID was not issued by this service.",
        ))?;
    let event = audit.succeeded(serde_json::json!({ "account": session.session.account_id }));
    state
        .store
        .append_audit(&event)
        .await
        .map_err(|e| StsError::Internal(e.to_string()))?;
    xml::success("GetAccessKeyInfo", &meta.request_id, |b| {
        b.leaf("Account", &session.session.account_id);
    })
}
