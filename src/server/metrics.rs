//! `GET /metrics`: the daemon's metrics in the Prometheus text format, on the main listener or
//! on a listener of its own (`[metrics] listen`), behind a bearer secret when one is configured.

use std::sync::Arc;

use axum::Router;
use axum::extract::State as Extract;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::App;
use crate::creds::bearer::bearer_matches;
use crate::metrics::{CONTENT_TYPE, Sampled};

/// The path metrics are served at.
pub const PATH: &str = "/metrics";

/// A router serving only `/metrics` (for `[metrics] listen`).
pub fn router(app: Arc<App>) -> Router {
    Router::new().route(PATH, get(endpoint)).with_state(app)
}

pub(super) async fn endpoint(Extract(app): Extract<Arc<App>>, headers: HeaderMap) -> Response {
    if let Some(sha256) = &app.metrics_bearer {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        if !bearer.is_some_and(|secret| bearer_matches(secret, sha256)) {
            let mut response = (
                StatusCode::UNAUTHORIZED,
                "a valid bearer secret is required\n",
            )
                .into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"stsbridge metrics\""),
            );
            return response;
        }
    }
    let state = &app.state;
    let store = state.store();
    let footprint = store.health.footprint();
    let sampled = Sampled {
        sessions: footprint.sessions,
        revocations: store.revocations.feed().borrow().len() as u64,
        store_bytes: footprint.bytes_on_disk,
    };
    match state.metrics().render(&sampled) {
        Ok(text) => {
            let mut response = text.into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "rendering the metrics failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
