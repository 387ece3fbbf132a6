//! The SSO portal API's routes (`<public_url>/sso/...`): the access token from the
//! `x-amz-sso_bearer_token` header and the query in, `sso::portal` answers out as JSON, each
//! error as botocore's `sso` model shapes it, with the request id. Served with the portal.

use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::extract::{RawQuery, State as Extract};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tracing::Instrument;

use super::portal::Inbound;
use super::{App, Connection, new_request_id, respond};
use crate::clock::Stopwatch;
use crate::error::ApiError;
use crate::metrics::OK_CODE;
use crate::origin::Origin;
use crate::sso::login::Login;
use crate::sso::portal::{self, BASE_PATH, BEARER_HEADER, Query};
use crate::state::State;

/// The API's routes, added to `router` with the portal's.
pub(super) fn routes(router: Router<Arc<App>>) -> Router<Arc<App>> {
    router
        .route(
            &format!("{BASE_PATH}/assignment/accounts"),
            get(list_accounts),
        )
        .route(
            &format!("{BASE_PATH}/assignment/roles"),
            get(list_account_roles),
        )
        .route(
            &format!("{BASE_PATH}/federation/credentials"),
            get(get_role_credentials),
        )
        .route(&format!("{BASE_PATH}/logout"), post(logout))
}

/// A request whose access token opened: the person's login, the query, where it came from.
struct Call<'a> {
    state: &'a State,
    login: Login,
    query: Query,
    origin: Origin,
    now: SystemTime,
}

/// `GET /sso/assignment/accounts?next_token&max_result`.
async fn list_accounts(
    Extract(app): Extract<Arc<App>>,
    inbound: Inbound,
    RawQuery(query): RawQuery,
) -> Response {
    answer(&app, "ListAccounts", inbound, query, async |call| {
        let federation = call.state.federation();
        portal::list_accounts(
            &federation,
            &call.login,
            &call.query,
            &call.origin,
            call.now,
        )
        .map(|list| axum::Json(list).into_response())
    })
    .await
}

/// `GET /sso/assignment/roles?account_id&next_token&max_result`.
async fn list_account_roles(
    Extract(app): Extract<Arc<App>>,
    inbound: Inbound,
    RawQuery(query): RawQuery,
) -> Response {
    answer(&app, "ListAccountRoles", inbound, query, async |call| {
        let federation = call.state.federation();
        portal::list_account_roles(
            &federation,
            &call.login,
            &call.query,
            &call.origin,
            call.now,
        )
        .map(|list| axum::Json(list).into_response())
    })
    .await
}

/// `GET /sso/federation/credentials?role_name&account_id`.
async fn get_role_credentials(
    Extract(app): Extract<Arc<App>>,
    inbound: Inbound,
    RawQuery(query): RawQuery,
) -> Response {
    answer(&app, "GetRoleCredentials", inbound, query, async |call| {
        portal::get_role_credentials(call.state, &call.login, &call.query, &call.origin, call.now)
            .await
            .map(|credentials| axum::Json(credentials).into_response())
    })
    .await
}

/// `POST /sso/logout`: an empty 200.
async fn logout(
    Extract(app): Extract<Arc<App>>,
    inbound: Inbound,
    RawQuery(query): RawQuery,
) -> Response {
    answer(&app, "Logout", inbound, query, async |call| {
        portal::logout(call.state, &call.login, &call.origin, call.now)
            .await
            .map(|()| ().into_response())
    })
    .await
}

/// Answer one operation: open the access token, parse the query, run `operation`, in the
/// request's span under the request timeout; count it under `action`.
async fn answer(
    app: &App,
    action: &'static str,
    inbound: Inbound,
    query: Option<String>,
    operation: impl AsyncFnOnce(&Call<'_>) -> Result<Response, ApiError>,
) -> Response {
    let took = Stopwatch::start();
    let request_id = new_request_id();
    let span = tracing::info_span!("sso", request_id = %request_id, action);
    let metrics = app.state.metrics();
    let work = async {
        if app.portal.is_none() {
            return Err(ApiError::NotFound);
        }
        let now = app.state.clock().now();
        let keyring = app.state.principals().keyring().snapshot();
        let bearer = inbound
            .headers
            .get(BEARER_HEADER)
            .and_then(|v| v.to_str().ok());
        let login = if action == "Logout" {
            portal::signed_in_to_log_out(&keyring, app.state.store(), bearer, now)?
        } else {
            portal::signed_in(&keyring, app.state.store(), bearer, now)?
        };
        let call = Call {
            state: &app.state,
            login,
            query: Query::parse(query.as_deref())?,
            origin: app.origin(
                &request_id,
                Connection::of(inbound.peer, inbound.tls),
                &inbound.headers,
            ),
            now,
        };
        operation(&call).await
    };
    let answered = tokio::time::timeout(app.request_timeout, work.instrument(span.clone())).await;
    let (code, response) = span.in_scope(|| match answered {
        Ok(Ok(response)) => (OK_CODE, respond::with_request_id(response, &request_id)),
        Ok(Err(err)) => (
            respond::count_error(metrics, &err),
            respond::sso_portal_error(&err, &request_id),
        ),
        Err(_elapsed) => {
            let err = ApiError::RequestTimeout;
            (
                respond::count_error(metrics, &err),
                respond::sso_portal_error(&err, &request_id),
            )
        }
    });
    metrics.request(action, code, took.elapsed());
    response
}
