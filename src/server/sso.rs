//! The SSO OIDC API's routes (`<public_url>/sso-oidc/...`): JSON in, `sso` answers out, each
//! error in AWS's OAuth-shaped JSON, with the request id. Served with the portal (it needs the
//! public URL, the start URL of every `sso-session`).

use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use axum::Router;
use axum::body::Body;
use axum::extract::State as Extract;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;
use tracing::Instrument;

use super::{App, MAX_BODY_BYTES, new_request_id, read_body, respond};
use crate::clock::Stopwatch;
use crate::config::PublicUrl;
use crate::creds::Keyring;
use crate::error::ApiError;
use crate::metrics::OK_CODE;
use crate::sso::{self, device, register};

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
}

/// `POST /sso-oidc/client/register`.
async fn register_client(Extract(app): Extract<Arc<App>>, body: Body) -> Response {
    answer(
        &app,
        "RegisterClient",
        body,
        |keyring, public_url, body, now| {
            let request = sso::parse_body(body)?;
            register::register_client(keyring, public_url, request, now, &SystemRandom::new())
        },
    )
    .await
}

/// `POST /sso-oidc/device_authorization`.
async fn start_device_authorization(Extract(app): Extract<Arc<App>>, body: Body) -> Response {
    answer(
        &app,
        "StartDeviceAuthorization",
        body,
        |keyring, public_url, body, now| {
            let request = sso::parse_body(body)?;
            device::start_device_authorization(
                keyring,
                public_url,
                request,
                now,
                &SystemRandom::new(),
            )
        },
    )
    .await
}

/// Answer one operation: read the body, run `operation` with the keyring, the public URL and
/// the time, in the request's span under the request timeout; count it under `action`.
async fn answer<T: Serialize>(
    app: &App,
    action: &'static str,
    body: Body,
    operation: impl FnOnce(&Keyring, &PublicUrl, &[u8], std::time::SystemTime) -> Result<T, ApiError>,
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
        let keyring = app.state.principals().keyring().snapshot();
        operation(
            &keyring,
            portal.public_url(),
            &body,
            app.state.clock().now(),
        )
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
