//! `GetAccessKeyInfo`: the account of an access key id this service issued (AWS STS API
//! reference): a temporary key's from its session record, a long-term key's from its user. The
//! caller must be signed in; the key may be anyone's.

use std::time::SystemTime;

use super::auth::authenticate;
use super::error::StsError;
use super::params::{Checker, Echo, Params};
use super::{AuditDraft, RequestMeta, StsState, xml};

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
    authenticate(state, meta, now, "GetAccessKeyInfo", audit)?;
    let store_error = |e: crate::store::StoreError| StsError::Internal(e.to_string());
    let account = match state.store.get_session(key).map_err(store_error)? {
        Some(session) => Some(session.session.account_id),
        None => state
            .store
            .user_by_access_key(key)
            .map_err(store_error)?
            .map(|user| user.account_id),
    }
    .ok_or(StsError::InvalidParameterValue(
        "The access key ID was not issued by this service.",
    ))?;
    audit
        .record_success(state, serde_json::json!({ "account": account }))
        .await?;
    xml::success("GetAccessKeyInfo", &meta.request_id, |b| {
        b.leaf("Account", &account);
    })
}
