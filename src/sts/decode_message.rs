//! `DecodeAuthorizationMessage`: the details of a denial the authorization API reported, for
//! callers allowed `sts:DecodeAuthorizationMessage` (AWS STS API reference).

use std::time::SystemTime;

use super::auth::{authenticate, permissions};
use super::error::StsError;
use super::params::{Checker, Echo, Params};
use super::session::request_keys;
use super::{AuditDraft, RequestMeta, StsState, xml};
use crate::policy::RequestContext;

const ACTION: &str = "sts:DecodeAuthorizationMessage";

pub(super) async fn decode_authorization_message(
    state: &StsState,
    meta: &RequestMeta,
    params: &Params,
    now: SystemTime,
    audit: &mut AuditDraft,
) -> Result<String, StsError> {
    let mut check = Checker::default();
    let encoded = check.required_len(
        params,
        "EncodedMessage",
        "encodedMessage",
        (1, 10240),
        Echo::No,
    );
    check.finish()?;
    let encoded =
        encoded.ok_or_else(|| StsError::Internal("required parameter vanished".into()))?;
    let caller = authenticate(state, meta, now, "DecodeAuthorizationMessage", audit)?;
    let mut keys = request_keys(meta, now, "", None);
    keys.remove("sts:RoleSessionName");
    caller.context_keys(now, &mut keys);
    let request = RequestContext {
        principals: Vec::new(),
        action: ACTION.into(),
        resource: Some("*".into()),
        keys,
    };
    if !permissions(state, &caller)?
        .decide(&request, now)
        .is_allow()
    {
        return Err(StsError::AccessDenied {
            action: ACTION,
            detail: "the caller's policies do not allow it".into(),
        });
    }
    let decoded = crate::authz::decode_message(state, encoded)
        .ok_or(StsError::InvalidAuthorizationMessage)?;
    audit.record_success(state, serde_json::json!({})).await?;
    xml::success("DecodeAuthorizationMessage", &meta.request_id, |b| {
        b.leaf("DecodedMessage", &decoded);
    })
}
