//! The sign-in portal's routes: HTTP in, `web::Portal` pages out, with the request id.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Extension, Path, RawQuery, State as Extract};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::{App, Connection, MAX_BODY_BYTES, TlsConnection, new_request_id, read_body, respond};
use tracing::Instrument;

use crate::error::ApiError;
use crate::web::{self, Page, Portal, Visit};

/// The portal's routes, added to `router` when the daemon has a public URL.
pub(super) fn routes(router: Router<Arc<App>>) -> Router<Arc<App>> {
    router
        .route("/signin", get(signin))
        .route("/signin/{name}", get(start))
        .route(web::login::OIDC_CALLBACK_PATH, get(oidc_callback))
        .route(web::flow::ROLES_PATH, get(roles_page).post(choose_role))
        .route("/signin/roles.json", get(roles_json))
        .route(web::flow::CONSOLE_PATH, get(console))
        .route("/console/credentials", get(console_credentials))
        .route("/console/switch-role", post(switch_role))
        .route("/signout", post(signout))
        .route("/federation", get(federation))
        .route(crate::config::signin::ACS_PATH, post(saml_acs))
        .route(web::saml::METADATA_PATH, get(sp_metadata))
        .route(web::STYLESHEET_PATH, get(stylesheet))
        .route(web::SCRIPT_PATH, get(script))
        .route("/favicon.ico", get(no_icon))
        .route(web::sso::DEVICE_PATH, get(device_page).post(device_decide))
        .route(
            crate::sso::authorize::AUTHORIZE_PATH,
            get(sso_authorize).post(sso_authorize_decide),
        )
}

/// What every portal (and SSO portal API) request arrives with.
pub(super) struct Inbound {
    pub(super) peer: SocketAddr,
    pub(super) tls: Option<Extension<TlsConnection>>,
    pub(super) headers: HeaderMap,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Inbound {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        // The accept loop puts the peer address in every request; an unknown peer is none of
        // the trusted proxies.
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |c| c.0);
        Ok(Self {
            peer,
            tls: parts
                .extensions
                .get::<TlsConnection>()
                .copied()
                .map(Extension),
            headers: parts.headers.clone(),
        })
    }
}

impl Inbound {
    /// Where the request came from, as the trusted proxies say.
    pub(super) fn origin(&self, app: &App, request_id: &str) -> crate::origin::Origin {
        app.origin(
            request_id,
            Connection::of(self.peer, self.tls),
            &self.headers,
        )
    }

    pub(super) fn header_values(&self, name: header::HeaderName) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect()
    }
}

/// Answer a portal request: `run` with the portal and the request's [`Visit`], in the
/// request's span, under the request timeout; an error is its HTML page.
async fn answer(
    app: &App,
    inbound: Inbound,
    run: impl AsyncFnOnce(&Portal, &Visit<'_>) -> Result<Page, ApiError>,
) -> Response {
    let request_id = new_request_id();
    let span = tracing::info_span!("portal", request_id = %request_id);
    let Some(portal) = app.portal.as_deref() else {
        return axum::http::StatusCode::NOT_FOUND.into_response();
    };
    let origin = inbound.origin(app, &request_id);
    let visit = Visit {
        state: &app.state,
        origin: &origin,
        cookie_headers: inbound.header_values(header::COOKIE),
        origin_headers: inbound.header_values(header::ORIGIN),
        now: app.state.clock().now(),
    };
    let work = async {
        match tokio::time::timeout(app.request_timeout, run(portal, &visit)).await {
            Ok(Ok(page)) => page,
            Ok(Err(err)) => error(portal, &err, &request_id),
            Err(_elapsed) => error(portal, &ApiError::RequestTimeout, &request_id),
        }
    };
    let page = work.instrument(span).await;
    send(page, &request_id)
}

/// The form of a POST body (`application/x-www-form-urlencoded`).
async fn form(app: &App, body: Body) -> Result<Vec<(String, String)>, ApiError> {
    let bytes = read_body(body, MAX_BODY_BYTES, app.body_timeout).await?;
    serde_urlencoded::from_bytes(&bytes)
        .map_err(|_| ApiError::ValidationMessage("The form is not well-formed."))
}

/// The pairs of a query string.
fn query_pairs(query: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_str(query.unwrap_or_default())
        .map_err(|_| ApiError::ValidationMessage("The query string is not well-formed."))
}

/// `GET /signin/oidc/callback`.
async fn oidc_callback(
    Extract(app): Extract<Arc<App>>,
    inbound: Inbound,
    RawQuery(query): RawQuery,
) -> Response {
    answer(&app, inbound, async |portal, visit| {
        portal.admit_login(visit)?;
        let params = query_pairs(query.as_deref())?;
        portal.oidc_callback(visit, &params).await
    })
    .await
}

/// `GET /signin/roles`.
async fn roles_page(Extract(app): Extract<Arc<App>>, inbound: Inbound) -> Response {
    answer(&app, inbound, async |portal, visit| {
        portal.roles_page(visit).await
    })
    .await
}

/// `POST /signin/roles`.
async fn choose_role(Extract(app): Extract<Arc<App>>, inbound: Inbound, body: Body) -> Response {
    let app2 = Arc::clone(&app);
    answer(&app, inbound, async move |portal, visit| {
        let form = form(&app2, body).await?;
        portal.choose_role(visit, &form).await
    })
    .await
}

/// `GET /signin/roles.json`.
async fn roles_json(Extract(app): Extract<Arc<App>>, inbound: Inbound) -> Response {
    answer(&app, inbound, async |portal, visit| {
        portal.roles_json(visit).await
    })
    .await
}

/// `GET /console`.
async fn console(Extract(app): Extract<Arc<App>>, inbound: Inbound) -> Response {
    answer(&app, inbound, async |portal, visit| {
        portal.console(visit).await
    })
    .await
}

/// `GET /console/credentials`.
async fn console_credentials(Extract(app): Extract<Arc<App>>, inbound: Inbound) -> Response {
    answer(&app, inbound, async |portal, visit| {
        portal.console_credentials(visit).await
    })
    .await
}

/// `POST /console/switch-role`.
async fn switch_role(Extract(app): Extract<Arc<App>>, inbound: Inbound, body: Body) -> Response {
    let app2 = Arc::clone(&app);
    answer(&app, inbound, async move |portal, visit| {
        let form = form(&app2, body).await?;
        portal.switch_role(visit, &form).await
    })
    .await
}

/// `POST /signout`.
async fn signout(Extract(app): Extract<Arc<App>>, inbound: Inbound, body: Body) -> Response {
    let app2 = Arc::clone(&app);
    answer(&app, inbound, async move |portal, visit| {
        let form = form(&app2, body).await?;
        portal.signout(visit, &form).await
    })
    .await
}

/// `POST /saml`: the assertion consumer.
async fn saml_acs(Extract(app): Extract<Arc<App>>, inbound: Inbound, body: Body) -> Response {
    let app2 = Arc::clone(&app);
    answer(&app, inbound, async move |portal, visit| {
        portal.admit_login(visit)?;
        let form = form(&app2, body).await?;
        portal.saml_acs(visit, &form).await
    })
    .await
}

/// `GET /federation?Action=getSigninToken|login&...`.
async fn federation(
    Extract(app): Extract<Arc<App>>,
    inbound: Inbound,
    RawQuery(query): RawQuery,
) -> Response {
    answer(&app, inbound, async |portal, visit| {
        portal.admit_login(visit)?;
        let params = query_pairs(query.as_deref())?;
        portal.federation(visit, &params).await
    })
    .await
}

/// `GET /static/console.js`.
async fn script(Extract(app): Extract<Arc<App>>) -> Response {
    match app.portal.as_deref() {
        Some(portal) => response(portal.script()),
        None => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
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
        if name == header::SET_COOKIE {
            headers.append(name, value);
        } else {
            headers.insert(name, value);
        }
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
                let flag = |name: &str| params.iter().any(|(k, v)| k == name && v == "1");
                portal.signin(
                    &app.state.federation().signin,
                    flag("choose") || flag("signed_out"),
                    flag("signed_out"),
                    None,
                    request_id,
                )
            }
            Err(_) => error(
                portal,
                &ApiError::ValidationMessage("The query string is not well-formed."),
                request_id,
            ),
        }
    })
}

/// `GET /signin/NAME[?return_to=PATH]`: start a login at the IdP NAME (coming back to an SSO
/// page when `return_to` names one).
async fn start(
    Extract(app): Extract<Arc<App>>,
    inbound: Inbound,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    answer(&app, inbound, async |portal, visit| {
        portal.admit_login(visit)?;
        let params = query_pairs(query.as_deref())?;
        let return_to = params
            .iter()
            .find(|(k, _)| k == "return_to")
            .map(|(_, v)| v.as_str());
        let federation = visit.state.federation();
        let built = federation.idps.built(&name);
        let keyring = visit.state.principals().keyring().snapshot();
        portal
            .start(
                &federation.signin,
                &name,
                built,
                &keyring,
                return_to,
                visit.now,
            )
            .await
    })
    .await
}

/// `GET /device[?user_code=...]`.
async fn device_page(
    Extract(app): Extract<Arc<App>>,
    inbound: Inbound,
    RawQuery(query): RawQuery,
) -> Response {
    answer(&app, inbound, async |portal, visit| {
        let query = query.unwrap_or_default();
        portal.device(visit, &query, &visit.origin.request_id).await
    })
    .await
}

/// `POST /device`.
async fn device_decide(Extract(app): Extract<Arc<App>>, inbound: Inbound, body: Body) -> Response {
    let app2 = Arc::clone(&app);
    answer(&app, inbound, async move |portal, visit| {
        let form = form(&app2, body).await?;
        portal
            .device_decide(visit, &form, &visit.origin.request_id)
            .await
    })
    .await
}

/// `GET /sso-oidc/authorize?...`.
async fn sso_authorize(
    Extract(app): Extract<Arc<App>>,
    inbound: Inbound,
    RawQuery(query): RawQuery,
) -> Response {
    answer(&app, inbound, async |portal, visit| {
        let query = query.unwrap_or_default();
        portal
            .sso_authorize(visit, &query, &visit.origin.request_id)
            .await
    })
    .await
}

/// `POST /sso-oidc/authorize`.
async fn sso_authorize_decide(
    Extract(app): Extract<Arc<App>>,
    inbound: Inbound,
    body: Body,
) -> Response {
    let app2 = Arc::clone(&app);
    answer(&app, inbound, async move |portal, visit| {
        let form = form(&app2, body).await?;
        portal.sso_authorize_decide(visit, &form).await
    })
    .await
}

/// `GET /saml/metadata`.
async fn sp_metadata(Extract(app): Extract<Arc<App>>) -> Response {
    with_portal(&app, |portal, request_id| {
        portal
            .sp_metadata(&app.state.federation().signin)
            .unwrap_or_else(|err| error(portal, &err, request_id))
    })
}

/// `GET /favicon.ico`, which browsers ask for on every page: no icon, rather than the STS
/// endpoint refusing it as an API call (a 400 in the browser's console, an error counted in
/// the metrics and logged for each page a person sees).
async fn no_icon() -> axum::http::StatusCode {
    axum::http::StatusCode::NO_CONTENT
}

/// `GET /static/style.css`.
async fn stylesheet(Extract(app): Extract<Arc<App>>) -> Response {
    match app.portal.as_deref() {
        Some(portal) => response(portal.stylesheet()),
        None => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
}
