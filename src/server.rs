//! HTTP: the axum router, request ids, body limits, tracing, graceful shutdown.
//!
//! The HTTP layer never touches crypto: it turns a request into [`Params`] and a
//! [`RequestMeta`], calls [`sts::handle`], and renders the result. Every answer on the STS
//! endpoint is AWS XML, errors included.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tracing::Instrument;

use crate::dev::DevIssuer;
use crate::sts::{self, Params, RequestMeta, StsError, StsState};

/// Largest request body accepted (the Query API never needs more: a SAML assertion is at most
/// 100 000 characters, url-encoded).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// What the HTTP handlers share.
pub struct AppState {
    pub sts: StsState,
    pub dev: Option<DevIssuer>,
}

pub fn router(state: Arc<AppState>) -> Router {
    let mut router = Router::new().route("/healthz", get(|| async { "ok\n" }));
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
        let meta = RequestMeta {
            request_id: request_id.clone(),
            source_ip: Some(peer.ip()),
            user_agent: headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            secure_transport: false,
        };
        let result = match read_params(&method, &uri, body).await {
            Ok(params) => sts::handle(&state.sts, &meta, &params).await,
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

/// Parameters from the query string and, for POST, the form body (body values win).
async fn read_params(method: &Method, uri: &Uri, body: Body) -> Result<Params, StsError> {
    let query = Params::parse(uri.query().unwrap_or_default().as_bytes())?;
    if method == Method::GET || method == Method::HEAD {
        return Ok(query);
    }
    if method != Method::POST {
        return Err(StsError::ValidationMessage(
            "The STS endpoint accepts GET and POST requests only.",
        ));
    }
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| StsError::BodyTooLarge)?;
    let mut params = Params::parse(&bytes)?;
    params.merge(query);
    Ok(params)
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
