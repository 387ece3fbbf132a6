//! HTTP: the axum router, request ids, body limits, tracing.
//!
//! The HTTP layer never touches crypto: it turns a request into what a protocol adapter takes
//! (parameters, an [`Origin`], the signed parts), calls the adapter, and renders the result or
//! the error (from the one error table, logged once, with the request id).

mod authorize;
mod health;
mod respond;
mod sts;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State as Extract;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::dev::DevIssuer;
use crate::origin::Origin;
use crate::state::State;

/// Largest request body accepted (the Query API never needs more: a SAML assertion is at most
/// 100 000 characters, url-encoded).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// What the HTTP handlers share.
pub struct App {
    state: Arc<State>,
    dev: Option<DevIssuer>,
}

impl App {
    /// The handlers over `state`, with the development issuer's routes when `dev` is given.
    pub(crate) fn new(state: Arc<State>, dev: Option<DevIssuer>) -> Self {
        Self { state, dev }
    }
}

pub fn router(app: Arc<App>) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(health::liveness))
        .route("/readyz", get(health::readiness))
        .route("/v1/authorize", post(authorize::endpoint));
    if app.dev.is_some() {
        router = router
            .route("/dev/.well-known/openid-configuration", get(dev_discovery))
            .route("/dev/jwks.json", get(dev_jwks));
    }
    router.fallback(sts::endpoint).with_state(app)
}

/// A fresh request id (also sent as `x-amzn-RequestId`).
fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Where a request came from: the peer address and the user agent it sent.
fn origin(request_id: &str, peer: SocketAddr, headers: &HeaderMap) -> Origin {
    Origin {
        request_id: request_id.to_owned(),
        source_ip: Some(peer.ip()),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        secure_transport: false,
    }
}

async fn dev_discovery(Extract(app): Extract<Arc<App>>) -> Response {
    match &app.dev {
        Some(dev) => axum::Json(dev.discovery_document()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn dev_jwks(Extract(app): Extract<Arc<App>>) -> Response {
    match &app.dev {
        Some(dev) => axum::Json(dev.jwks()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
