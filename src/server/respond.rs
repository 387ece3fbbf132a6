//! Answers: the AWS XML of the STS endpoint, the JSON of the authorization API, each error
//! rendered from its row of the error table and logged once, with the request id.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::sts;

/// Count what `err` says beyond its code (a replayed one-time credential); returns the code,
/// the label its request is counted under.
pub(super) fn count_error(metrics: &Metrics, err: &ApiError) -> &'static str {
    if let Some(replayed) = err.replayed() {
        metrics.replay_refused(replayed);
    }
    err.code()
}

/// Log a refusal once: our faults at `error`, the client's at `info`, with the inner detail
/// (never sent to the client; the span carries the request id).
pub(super) fn log(err: &ApiError) {
    if err.status().is_server_error() {
        tracing::error!(code = err.code(), error = %err, "request failed");
    } else {
        tracing::info!(code = err.code(), error = %err, "request refused");
    }
}

pub(super) fn with_request_id(mut response: Response, request_id: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("x-amzn-RequestId", v);
    }
    response
}

pub(super) fn xml(status: StatusCode, body: String, request_id: &str) -> Response {
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    with_request_id(response, request_id)
}

/// An STS error: AWS's `ErrorResponse`.
pub(super) fn xml_error(err: &ApiError, request_id: &str) -> Response {
    log(err);
    xml(err.status(), sts::xml::error(err, request_id), request_id)
}

/// An authorization API error: `{"error": {"code", "message"}, "requestId"}`.
pub(super) fn json_error(err: &ApiError, request_id: &str) -> Response {
    log(err);
    let row = err.row();
    let body = serde_json::json!({
        "error": { "code": row.code, "message": row.message },
        "requestId": request_id,
    });
    let mut response = with_request_id((row.status, axum::Json(body)).into_response(), request_id);
    if matches!(err, ApiError::Unauthorized) {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"stsbridge\""),
        );
    }
    response
}

/// An SSO OIDC API error: AWS's OAuth-shaped `{"error", "error_description"}`, the exception
/// name in `x-amzn-errortype` (where the SDKs read it).
pub(super) fn sso_oidc_error(err: &ApiError, request_id: &str) -> Response {
    log(err);
    let body = crate::sso::error_body(err);
    let mut response =
        with_request_id((err.status(), axum::Json(body)).into_response(), request_id);
    response
        .headers_mut()
        .insert("x-amzn-errortype", HeaderValue::from_static(err.code()));
    if matches!(
        err,
        ApiError::SsoOidc(crate::error::SsoOidcFault::InvalidClient)
    ) {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"stsbridge\""),
        );
    }
    response
}

/// An SSO portal API error: `{"message": ...}`, the exception name in `x-amzn-errortype`
/// (where the SDKs read it), as botocore's `sso` model shapes every exception.
pub(super) fn sso_portal_error(err: &ApiError, request_id: &str) -> Response {
    log(err);
    let row = err.row();
    let body = serde_json::json!({ "message": row.message });
    let mut response = with_request_id((row.status, axum::Json(body)).into_response(), request_id);
    response
        .headers_mut()
        .insert("x-amzn-errortype", HeaderValue::from_static(row.code));
    if matches!(
        err,
        ApiError::SsoPortal(crate::error::SsoPortalFault::Unauthorized)
    ) {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"stsbridge\""),
        );
    }
    response
}
