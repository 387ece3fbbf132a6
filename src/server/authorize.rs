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
use crate::error::ApiError;

pub(super) async fn endpoint(
    Extract(app): Extract<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    tls: Option<Extension<TlsConnection>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let request_id = new_request_id();
    let span = tracing::info_span!("authorize", request_id = %request_id);
    let answer = async {
        let body = match read_body(body, MAX_BODY_BYTES, app.body_timeout).await {
            Ok(body) => body,
            Err(err) => return respond::json_error(&err, &request_id),
        };
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let origin = app.origin(&request_id, Connection::of(peer, tls), &headers);
        match authz::handle(&app.state, bearer, &body, &origin).await {
            Ok(decision) => {
                respond::with_request_id(axum::Json(decision).into_response(), &request_id)
            }
            Err(err) => respond::json_error(&err, &request_id),
        }
    };
    match tokio::time::timeout(app.request_timeout, answer.instrument(span.clone())).await {
        Ok(response) => response,
        Err(_elapsed) => {
            span.in_scope(|| respond::json_error(&ApiError::RequestTimeout, &request_id))
        }
    }
}
