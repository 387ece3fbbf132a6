//! HTTP: the axum router, request ids, body limits, tracing.
//!
//! The HTTP layer never touches crypto: it turns a request into what a protocol adapter takes
//! (parameters, an [`Origin`], the signed parts), calls the adapter, and renders the result or
//! the error (from the one error table, logged once, with the request id).

mod authorize;
mod forwarded;
mod health;
mod idle;
mod listen;
pub mod metrics;
mod portal;
mod respond;
mod sso;
mod sso_portal;
mod sts;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Extension, State as Extract};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ipnet::IpNet;

use crate::config::{MetricsSettings, ServerSettings};
use crate::dev::DevIssuer;
use crate::origin::Origin;
use crate::state::State;

/// Largest request body accepted (the Query API never needs more: a SAML assertion is at most
/// 100 000 characters, url-encoded).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

pub use listen::serve;

/// What the HTTP handlers share.
pub struct App {
    state: Arc<State>,
    dev: Option<DevIssuer>,
    /// A request body must arrive within this.
    body_timeout: Duration,
    /// A request is answered within this, or refused with `RequestTimeout`.
    request_timeout: Duration,
    /// Peers whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed.
    trusted_proxies: Vec<IpNet>,
    /// Said on `/readyz` (and logged at start) without making the daemon unready.
    warnings: Vec<String>,
    /// A scrape of `/metrics` must carry the bearer secret of this SHA-256.
    metrics_bearer: Option<[u8; 32]>,
    /// Whether the main router serves `/metrics` (no listener of its own is configured).
    metrics_here: bool,
    /// The sign-in portal (served when there is a public URL).
    portal: Option<Arc<crate::web::Portal>>,
}

impl App {
    /// The handlers over `state`, with the development issuer's routes when `dev` is given,
    /// under the limits of `server`, serving `/metrics` as `metrics` says.
    pub(crate) fn new(
        state: Arc<State>,
        dev: Option<DevIssuer>,
        server: &ServerSettings,
        metrics: &MetricsSettings,
    ) -> Self {
        Self {
            state,
            dev,
            body_timeout: server.body_timeout,
            request_timeout: server.request_timeout,
            trusted_proxies: server.trusted_proxies.clone(),
            warnings: Vec::new(),
            metrics_bearer: metrics.bearer_sha256,
            metrics_here: metrics.listen.is_none(),
            portal: None,
        }
    }

    /// Also serve the sign-in `portal`.
    pub(crate) fn with_portal(mut self, portal: Option<Arc<crate::web::Portal>>) -> Self {
        self.portal = portal;
        self
    }

    /// Also say `warnings` on `/readyz`.
    pub(crate) fn with_warnings(mut self, warnings: Vec<String>) -> Self {
        self.warnings = warnings;
        self
    }

    /// Where a request came from: the client address and transport (through trusted proxies,
    /// see `forwarded`) and the user agent it sent.
    fn origin(&self, request_id: &str, connection: Connection, headers: &HeaderMap) -> Origin {
        let client = forwarded::client(
            connection.peer.ip(),
            connection.tls,
            headers,
            &self.trusted_proxies,
        );
        Origin {
            request_id: request_id.to_owned(),
            source_ip: Some(client.ip),
            user_agent: headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            secure_transport: client.secure_transport,
        }
    }
}

/// The connection a request arrived on, as handlers see it.
#[derive(Debug, Clone, Copy)]
struct Connection {
    peer: SocketAddr,
    tls: bool,
}

impl Connection {
    /// The peer address (`ConnectInfo`) and whether the accept loop marked the connection as
    /// TLS.
    fn of(peer: SocketAddr, tls: Option<Extension<TlsConnection>>) -> Self {
        Self {
            peer,
            tls: tls.is_some(),
        }
    }
}

/// In the extensions of every request that arrived over TLS (the accept loop inserts it).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TlsConnection;

/// The warning for a daemon listening on `listen` beyond loopback with neither TLS (`tls`) nor
/// trusted proxies: credentials would cross the network in clear text.
pub fn transport_warning(
    listen: SocketAddr,
    tls: bool,
    trusted_proxies: &[IpNet],
) -> Option<String> {
    let exposed = !listen.ip().to_canonical().is_loopback();
    (exposed && !tls && trusted_proxies.is_empty()).then(|| {
        format!(
            "listening on {listen}, beyond loopback, in plain HTTP with no trusted proxy: \
             credentials and tokens cross the network unencrypted (set [server] tls_cert_file \
             and tls_key_file, or trusted_proxies for a TLS-terminating proxy)"
        )
    })
}

pub fn router(app: Arc<App>) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(health::liveness))
        .route("/readyz", get(health::readiness))
        .route("/v1/authorize", post(authorize::endpoint));
    // Served on its own listener: not here, and not taken for an STS request either.
    let metrics_route = if app.metrics_here {
        get(metrics::endpoint)
    } else {
        get(|| async { StatusCode::NOT_FOUND })
    };
    router = router.route(metrics::PATH, metrics_route);
    if app.portal.is_some() {
        router = portal::routes(router);
        router = sso::routes(router);
        router = sso_portal::routes(router);
    }
    if app.dev.is_some() {
        router = router
            .route("/dev/.well-known/openid-configuration", get(dev_discovery))
            .route("/dev/jwks.json", get(dev_jwks));
    }
    router.fallback(sts::endpoint).with_state(app)
}

/// The body of a request, at most `limit` bytes, within `timeout`.
async fn read_body(
    body: axum::body::Body,
    limit: usize,
    timeout: Duration,
) -> Result<axum::body::Bytes, crate::error::ApiError> {
    use crate::error::ApiError;
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, limit)).await {
        Err(_elapsed) => Err(ApiError::RequestTimeout),
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => {
            let over_limit = e
                .into_inner()
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            Err(if over_limit {
                ApiError::BodyTooLarge
            } else {
                ApiError::MalformedBody
            })
        }
    }
}

/// A fresh request id (also sent as `x-amzn-RequestId`).
fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
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
