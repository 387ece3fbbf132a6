//! The sign-in portal's routes: HTTP in, `web::Portal` pages out, with the request id.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State as Extract};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::{App, new_request_id, respond};
use tracing::Instrument;

use crate::error::ApiError;
use crate::web::{self, Page, Portal};

/// The portal's routes, added to `router` when the daemon has a public URL.
pub(super) fn routes(router: Router<Arc<App>>) -> Router<Arc<App>> {
    router
        .route("/signin", get(signin))
        .route("/signin/{name}", get(start))
        .route(web::saml::METADATA_PATH, get(sp_metadata))
        .route(web::STYLESHEET_PATH, get(stylesheet))
}

/// Run `answer` with the portal and a fresh request id, in the request's span; without a
/// portal (never routed then), 404.
fn with_portal(app: &App, answer: impl FnOnce(&Portal, &str) -> Page) -> Response {
    let request_id = new_request_id();
    let span = tracing::info_span!("portal", request_id = %request_id);
    let _entered = span.enter();
    let Some(portal) = app.portal.as_deref() else {
        return axum::http::StatusCode::NOT_FOUND.into_response();
    };
    send(answer(portal, &request_id), &request_id)
}

fn send(page: Page, request_id: &str) -> Response {
    respond::with_request_id(response(page), request_id)
}

fn response(page: Page) -> Response {
    let mut response = (page.status, page.body).into_response();
    let headers = response.headers_mut();
    for (name, value) in page.headers {
        headers.insert(name, value);
    }
    response
}

/// The error page of `err`, logged once.
fn error(portal: &Portal, err: &ApiError, request_id: &str) -> Page {
    respond::log(err);
    portal.error(err, request_id)
}

/// `GET /signin[?choose=1]`.
async fn signin(Extract(app): Extract<Arc<App>>, RawQuery(query): RawQuery) -> Response {
    with_portal(&app, |portal, request_id| {
        let params = serde_urlencoded::from_str::<Vec<(String, String)>>(
            query.as_deref().unwrap_or_default(),
        );
        match params {
            Ok(params) => {
                let choose = params.iter().any(|(k, v)| k == "choose" && v == "1");
                portal.signin(&app.state.federation().signin, choose, request_id)
            }
            Err(_) => error(
                portal,
                &ApiError::ValidationMessage("The query string is not well-formed."),
                request_id,
            ),
        }
    })
}

/// `GET /signin/NAME`: start a login at the IdP NAME.
async fn start(Extract(app): Extract<Arc<App>>, Path(name): Path<String>) -> Response {
    let request_id = new_request_id();
    let span = tracing::info_span!("portal", request_id = %request_id);
    let Some(portal) = app.portal.as_deref() else {
        return axum::http::StatusCode::NOT_FOUND.into_response();
    };
    let answer = async {
        let federation = app.state.federation();
        let built = federation.idps.built(&name);
        let keyring = app.state.principals().keyring().snapshot();
        let now = app.state.clock().now();
        match portal
            .start(&federation.signin, &name, built, &keyring, now)
            .await
        {
            Ok(page) => page,
            Err(err) => error(portal, &err, &request_id),
        }
    };
    send(answer.instrument(span).await, &request_id)
}

/// `GET /saml/metadata`.
async fn sp_metadata(Extract(app): Extract<Arc<App>>) -> Response {
    with_portal(&app, |portal, request_id| {
        portal
            .sp_metadata(&app.state.federation().signin)
            .unwrap_or_else(|err| error(portal, &err, request_id))
    })
}

/// `GET /static/style.css`.
async fn stylesheet(Extract(app): Extract<Arc<App>>) -> Response {
    match app.portal.as_deref() {
        Some(portal) => response(portal.stylesheet()),
        None => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
}
