//! HTTP: the axum router, request ids, body limits, tracing, graceful shutdown.
//!
//! The HTTP layer never touches crypto: it turns a request into [`Params`] and a
//! [`RequestMeta`], calls [`sts::handle`], and renders the result. Every answer on the STS
//! endpoint is AWS XML, errors included.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tracing::Instrument;

use crate::authz::{self, AuthorizeError, AuthorizeRequest};
use crate::config::AuthorizationService;
use crate::dev::DevIssuer;
use crate::sts::auth::SignedParts;
use crate::sts::{self, Params, RequestMeta, StsError, StsState};

/// Largest request body accepted (the Query API never needs more: a SAML assertion is at most
/// 100 000 characters, url-encoded).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// What the HTTP handlers share.
pub struct AppState {
    pub sts: StsState,
    pub dev: Option<DevIssuer>,
    /// Services allowed to call `POST /v1/authorize`.
    pub authorization_services: Vec<AuthorizationService>,
}

pub fn router(state: Arc<AppState>) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/v1/authorize", post(authorize_endpoint));
    if state.dev.is_some() {
        router = router
            .route("/dev/.well-known/openid-configuration", get(dev_discovery))
            .route("/dev/jwks.json", get(dev_jwks));
    }
    router.fallback(sts_endpoint).with_state(state)
}

/// A fresh request id (also sent as `x-amzn-RequestId`).
fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn sts_endpoint(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let request_id = new_request_id();
    let span = tracing::info_span!("sts", request_id = %request_id);
    async move {
        let result = match read_body(&method, body).await {
            Ok(body) => {
                let meta = RequestMeta {
                    request_id: request_id.clone(),
                    source_ip: Some(peer.ip()),
                    user_agent: headers
                        .get(header::USER_AGENT)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned),
                    secure_transport: false,
                    signed: signed_parts(&method, &uri, &headers, &body),
                };
                match params(&uri, &body) {
                    Ok(params) => sts::handle(&state.sts, &meta, &params).await,
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(xml) => {
                tracing::debug!("ok");
                xml_response(StatusCode::OK, xml, &request_id)
            }
            Err(err) => {
                if err.status().is_server_error() {
                    tracing::error!(code = err.code(), error = %err, "request failed");
                } else {
                    tracing::info!(code = err.code(), error = %err, "request refused");
                }
                xml_response(
                    err.status(),
                    sts::xml::error(&err, &request_id),
                    &request_id,
                )
            }
        }
    }
    .instrument(span)
    .await
}

/// The body of a POST (bounded); GET and HEAD have none.
async fn read_body(method: &Method, body: Body) -> Result<Bytes, StsError> {
    if method == Method::GET || method == Method::HEAD {
        return Ok(Bytes::new());
    }
    if method != Method::POST {
        return Err(StsError::ValidationMessage(
            "The STS endpoint accepts GET and POST requests only.",
        ));
    }
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| StsError::BodyTooLarge)
}

/// Parameters from the query string and the form body (body values win).
fn params(uri: &Uri, body: &[u8]) -> Result<Params, StsError> {
    let query = Params::parse(uri.query().unwrap_or_default().as_bytes())?;
    if body.is_empty() {
        return Ok(query);
    }
    let mut params = Params::parse(body)?;
    params.merge(query);
    Ok(params)
}

/// What SigV4 covers, for a request that carries a signature (an `Authorization` header or
/// presigned `X-Amz-Signature`); `None` otherwise, so unsigned federation calls pay nothing.
fn signed_parts(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<SignedParts> {
    let query = uri.query().unwrap_or_default();
    if !headers.contains_key(header::AUTHORIZATION) && !query.contains("X-Amz-Signature=") {
        return None;
    }
    let headers = headers
        .iter()
        .filter_map(|(name, value)| {
            value
                .to_str()
                .ok()
                .map(|v| (name.as_str().to_owned(), v.to_owned()))
        })
        .collect();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body);
    Some(SignedParts {
        method: method.as_str().to_owned(),
        path: uri.path().to_owned(),
        query: query.to_owned(),
        headers,
        payload_sha256_hex: data_encoding::HEXLOWER.encode(digest.as_ref()),
    })
}

/// `POST /v1/authorize`: a resource service asks whether a signed request may do an action.
/// JSON in and out; the service authenticates with `Authorization: Bearer <secret>`. Every
/// decision (and every refusal of a signature) is recorded in the audit trail.
async fn authorize_endpoint(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = new_request_id();
    let span = tracing::info_span!("authorize", request_id = %request_id);
    async move {
        let Some(service) = bearer_service(&state.authorization_services, &headers) else {
            tracing::info!("authorization API call without a valid service bearer secret");
            let mut response = json_error(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "A valid service bearer secret is required.",
                &request_id,
            );
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"stsbridge\""),
            );
            return response;
        };
        let input: AuthorizeRequest = match serde_json::from_slice(&body) {
            Ok(input) => input,
            Err(e) => {
                // Position only: serde's text may quote a value, and the input carries the
                // signed request's headers (session token, signature).
                return json_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequest",
                    &format!(
                        "The request is not a valid authorization request ({:?} error at line {}, column {}).",
                        e.classify(),
                        e.line(),
                        e.column()
                    ),
                    &request_id,
                );
            }
        };
        let now = state.sts.clock.now();
        let outcome = authz::authorize(&state.sts, &input, now);
        let event = authz::audit_event(&service.name, &input, &outcome, &request_id, now);
        if let Err(e) = state.sts.store.append_audit(&event).await {
            tracing::error!(error = %e, "could not record the authorization decision");
            return json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalFailure",
                "We encountered an internal error. Please try again.",
                &request_id,
            );
        }
        match outcome {
            Ok(decision) => {
                tracing::info!(service = %service.name, action = %input.action, allowed = decision.allowed, "authorization decided");
                with_request_id(axum::Json(decision).into_response(), &request_id)
            }
            Err(err) => {
                let status = match &err {
                    AuthorizeError::Auth(e) => StsError::Auth(*e).status(),
                    AuthorizeError::Invalid(_) => StatusCode::BAD_REQUEST,
                    AuthorizeError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
                };
                let message = match &err {
                    AuthorizeError::Auth(e) => StsError::Auth(*e).message(),
                    AuthorizeError::Invalid(m) => m.clone(),
                    AuthorizeError::Internal(_) => {
                        "We encountered an internal error. Please try again.".into()
                    }
                };
                tracing::info!(service = %service.name, code = err.code(), error = %err, "authorization refused");
                json_error(status, err.code(), &message, &request_id)
            }
        }
    }
    .instrument(span)
    .await
}

/// The configured service whose bearer secret the request carries. Every service's digest is
/// compared in constant time (no early exit reveals which one, or how much, matched).
fn bearer_service<'s>(
    services: &'s [AuthorizationService],
    headers: &HeaderMap,
) -> Option<&'s AuthorizationService> {
    use subtle::ConstantTimeEq as _;
    let secret = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?
        .trim();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
    let mut found = None;
    for service in services {
        if bool::from(service.bearer_sha256.ct_eq(digest.as_ref())) {
            found.get_or_insert(service);
        }
    }
    found
}

/// `{"error": {"code", "message"}, "requestId"}` with `status`.
fn json_error(status: StatusCode, code: &str, message: &str, request_id: &str) -> Response {
    let body = serde_json::json!({
        "error": { "code": code, "message": message },
        "requestId": request_id,
    });
    with_request_id((status, axum::Json(body)).into_response(), request_id)
}

fn with_request_id(mut response: Response, request_id: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("x-amzn-RequestId", v);
    }
    response
}

fn xml_response(status: StatusCode, body: String, request_id: &str) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-RequestId", v);
    }
    response
}

async fn dev_discovery(State(state): State<Arc<AppState>>) -> Response {
    match &state.dev {
        Some(dev) => axum::Json(dev.discovery_document()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn dev_jwks(State(state): State<Arc<AppState>>) -> Response {
    match &state.dev {
        Some(dev) => axum::Json(dev.jwks()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
