//! `POST /v1/authorize`: JSON in and out; the service authenticates with
//! `Authorization: Bearer <secret>` (see `authz`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State as Extract};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::{App, new_request_id, origin, respond};
use crate::authz;

pub(super) async fn endpoint(
    Extract(app): Extract<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = new_request_id();
    let span = tracing::info_span!("authorize", request_id = %request_id);
    async move {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let origin = origin(&request_id, peer, &headers);
        match authz::handle(&app.state, bearer, &body, &origin).await {
            Ok(decision) => {
                respond::with_request_id(axum::Json(decision).into_response(), &request_id)
            }
            Err(err) => respond::json_error(&err, &request_id),
        }
    }
    .instrument(span)
    .await
}
