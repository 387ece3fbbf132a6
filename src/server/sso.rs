//! The SSO OIDC API's routes (`<public_url>/sso-oidc/...`): JSON in, `sso` answers out, each
//! error in AWS's OAuth-shaped JSON, with the request id. Served with the portal (it needs the
//! public URL, the start URL of every `sso-session`).

use std::sync::Arc;
use std::time::SystemTime;

use aws_lc_rs::rand::SystemRandom;
use axum::Router;
use axum::body::Body;
use axum::extract::State as Extract;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;
use tracing::Instrument;

use super::portal::Inbound;
use super::{App, MAX_BODY_BYTES, new_request_id, read_body, respond};
use crate::clock::Stopwatch;
use crate::config::PublicUrl;
use crate::creds::Keyring;
use crate::error::ApiError;
use crate::metrics::OK_CODE;
use crate::origin::Origin;
use crate::sso::{self, devices, register, token};

/// The API's routes, added to `router` with the portal's.
pub(super) fn routes(router: Router<Arc<App>>) -> Router<Arc<App>> {
    router
        .route(
            &format!("{}/client/register", sso::BASE_PATH),
            post(register_client),
        )
        .route(
            &format!("{}/device_authorization", sso::BASE_PATH),
            post(start_device_authorization),
        )
        .route(&format!("{}/token", sso::BASE_PATH), post(create_token))
}

/// What an operation works with.
struct Call<'a> {
    app: &'a App,
    keyring: Arc<Keyring>,
    public_url: &'a PublicUrl,
    origin: Origin,
    body: axum::body::Bytes,
    now: SystemTime,
}

/// `POST /sso-oidc/client/register`.
async fn register_client(
    Extract(app): Extract<Arc<App>>,
    inbound: Inbound,
    body: Body,
) -> Response {
    answer(
        &app,
        inbound,
        "RegisterClient",
        body,
        async |call: &Call<'_>| {
            let request = sso::parse_body(&call.body)?;
            register::register_client(
                &call.keyring,
                call.public_url,
                request,
                call.now,
                &SystemRandom::new(),
            )
        },
    )
    .await
}

/// `POST /sso-oidc/device_authorization`.
async fn start_device_authorization(
    Extract(app): Extract<Arc<App>>,
    inbound: Inbound,
    body: Body,
) -> Response {
    answer(
        &app,
        inbound,
        "StartDeviceAuthorization",
        body,
        async |call: &Call<'_>| {
            // A device authorization is a login attempt (and a record stored for ten minutes):
            // throttled per source address as the portal's logins are, answered as the model's
            // SlowDownException.
            if let Some(portal) = call.app.portal.as_deref() {
                portal
                    .admit_attempt(call.origin.source_ip)
                    .map_err(|_| ApiError::SsoOidc(crate::error::SsoOidcFault::SlowDown))?;
            }
            let request = sso::parse_body(&call.body)?;
            let cx = devices::StartContext {
                store: call.app.state.store(),
                keyring: &call.keyring,
                public_url: call.public_url,
                origin: &call.origin,
                now: call.now,
                rng: &SystemRandom::new(),
            };
            devices::start(&cx, request).await
        },
    )
    .await
}

/// `POST /sso-oidc/token`.
async fn create_token(Extract(app): Extract<Arc<App>>, inbound: Inbound, body: Body) -> Response {
    answer(
        &app,
        inbound,
        "CreateToken",
        body,
        async |call: &Call<'_>| {
            let request = sso::parse_body(&call.body)?;
            let cx = token::TokenContext {
                state: &call.app.state,
                keyring: &call.keyring,
                origin: &call.origin,
                now: call.now,
                rng: &SystemRandom::new(),
            };
            token::create_token(&cx, request).await
        },
    )
    .await
}

/// Answer one operation: read the body, run `operation`, in the request's span under the
/// request timeout; count it under `action`.
async fn answer<T: Serialize>(
    app: &App,
    inbound: Inbound,
    action: &'static str,
    body: Body,
    operation: impl AsyncFnOnce(&Call<'_>) -> Result<T, ApiError>,
) -> Response {
    let took = Stopwatch::start();
    let request_id = new_request_id();
    let span = tracing::info_span!("sso_oidc", request_id = %request_id, action);
    let metrics = app.state.metrics();
    let work = async {
        let Some(portal) = app.portal.as_deref() else {
            return Err(ApiError::NotFound);
        };
        let body = read_body(body, MAX_BODY_BYTES, app.body_timeout).await?;
        let call = Call {
            app,
            keyring: app.state.principals().keyring().snapshot(),
            public_url: portal.public_url(),
            origin: inbound.origin(app, &request_id),
            body,
            now: app.state.clock().now(),
        };
        operation(&call).await
    };
    let answered = tokio::time::timeout(app.request_timeout, work.instrument(span.clone())).await;
    let (code, response) = span.in_scope(|| match answered {
        Ok(Ok(value)) => (
            OK_CODE,
            respond::with_request_id(axum::Json(value).into_response(), &request_id),
        ),
        Ok(Err(err)) => (
            respond::count_error(metrics, &err),
            respond::sso_oidc_error(&err, &request_id),
        ),
        Err(_elapsed) => {
            let err = ApiError::RequestTimeout;
            (
                respond::count_error(metrics, &err),
                respond::sso_oidc_error(&err, &request_id),
            )
        }
    });
    metrics.request(action, code, took.elapsed());
    response
}
