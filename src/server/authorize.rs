//! `POST /v1/authorize`: JSON in and out; the service authenticates with
//! `Authorization: Bearer <secret>` (see `authz`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Extension, State as Extract};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::{App, Connection, MAX_BODY_BYTES, TlsConnection, new_request_id, read_body, respond};
use crate::authz;
use crate::clock::Stopwatch;
use crate::error::ApiError;
use crate::metrics::OK_CODE;

pub(super) async fn endpoint(
    Extract(app): Extract<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    tls: Option<Extension<TlsConnection>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let took = Stopwatch::start();
    let request_id = new_request_id();
    let span = tracing::info_span!("authorize", request_id = %request_id);
    let metrics = app.state.metrics();
    let answer = async {
        let body = match read_body(body, MAX_BODY_BYTES, app.body_timeout).await {
            Ok(body) => body,
            Err(err) => {
                let code = respond::count_error(metrics, &err);
                return (code, respond::json_error(&err, &request_id));
            }
        };
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let origin = app.origin(&request_id, Connection::of(peer, tls), &headers);
        match authz::handle(&app.state, bearer, &body, &origin).await {
            Ok(decision) => (
                OK_CODE,
                respond::with_request_id(axum::Json(decision).into_response(), &request_id),
            ),
            Err(err) => (
                respond::count_error(metrics, &err),
                respond::json_error(&err, &request_id),
            ),
        }
    };
    let answered = tokio::time::timeout(app.request_timeout, answer.instrument(span.clone())).await;
    let (code, response) = match answered {
        Ok(answered) => answered,
        Err(_elapsed) => span.in_scope(|| {
            let err = ApiError::RequestTimeout;
            (
                respond::count_error(metrics, &err),
                respond::json_error(&err, &request_id),
            )
        }),
    };
    metrics.request(AUTHORIZE_ACTION, code, took.elapsed());
    response
}

/// The action label authorization requests are counted under.
const AUTHORIZE_ACTION: &str = "Authorize";
