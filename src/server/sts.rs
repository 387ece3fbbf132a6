//! The STS endpoint: every path but the others, `GET` (query) or `POST` (form), AWS XML out.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Extension, State as Extract};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::Response;
use tracing::Instrument;

use super::{App, Connection, MAX_BODY_BYTES, TlsConnection, new_request_id, respond};
use crate::action::Action;
use crate::clock::Stopwatch;
use crate::error::ApiError;
use crate::metrics::{OK_CODE, UNKNOWN_ACTION};
use crate::principal::SignedParts;
use crate::sts::{self, Params, RequestMeta};

pub(super) async fn endpoint(
    Extract(app): Extract<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    tls: Option<Extension<TlsConnection>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let took = Stopwatch::start();
    let request_id = new_request_id();
    let span = tracing::info_span!("sts", request_id = %request_id);
    // The action the request named, once its parameters are read (counted as unknown until).
    let mut action = UNKNOWN_ACTION;
    let answer = async {
        let result = match read_body(&method, body, app.body_timeout).await {
            Ok(body) => {
                let meta = RequestMeta {
                    origin: app.origin(&request_id, Connection::of(peer, tls), &headers),
                    signed: signed_parts(&method, &uri, &headers, &body),
                    head: method == Method::HEAD,
                };
                match params(&uri, &body) {
                    Ok(params) => {
                        action = action_label(&params);
                        sts::handle(&app.state, &meta, &params).await
                    }
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(xml) => {
                tracing::debug!("ok");
                (OK_CODE, respond::xml(StatusCode::OK, xml, &request_id))
            }
            Err(err) => (
                respond::count_error(app.state.metrics(), &err),
                respond::xml_error(&err, &request_id),
            ),
        }
    };
    let answered = tokio::time::timeout(app.request_timeout, answer.instrument(span.clone())).await;
    let (code, response) = match answered {
        Ok(answered) => answered,
        Err(_elapsed) => span.in_scope(|| {
            let err = ApiError::RequestTimeout;
            (
                respond::count_error(app.state.metrics(), &err),
                respond::xml_error(&err, &request_id),
            )
        }),
    };
    app.state.metrics().request(action, code, took.elapsed());
    response
}

/// The action label of a request: the STS action it names, or unknown (a bounded set: no
/// client-chosen text becomes a label).
fn action_label(params: &Params) -> &'static str {
    params
        .get("Action")
        .and_then(Action::from_name)
        .map_or(UNKNOWN_ACTION, Action::name)
}

/// The body of a POST (bounded in size and time); GET and HEAD have none.
async fn read_body(method: &Method, body: Body, timeout: Duration) -> Result<Bytes, ApiError> {
    if method == Method::GET || method == Method::HEAD {
        return Ok(Bytes::new());
    }
    if method != Method::POST {
        return Err(ApiError::ValidationMessage(
            "The STS endpoint accepts GET and POST requests only.",
        ));
    }
    super::read_body(body, MAX_BODY_BYTES, timeout).await
}

/// Parameters from the query string and the form body (body values win). A presigned request
/// (its signature in the query) takes its parameters from the signed query only: a form body
/// beside it is refused, whatever it says.
fn params(uri: &Uri, body: &[u8]) -> Result<Params, ApiError> {
    let raw_query = uri.query().unwrap_or_default();
    let query = Params::parse(raw_query.as_bytes())?;
    if body.is_empty() {
        return Ok(query);
    }
    if is_presigned(raw_query) {
        return Err(ApiError::InvalidParameterCombination(
            "A presigned request takes its parameters from its signed query string; it may not carry a form body.",
        ));
    }
    let mut params = Params::parse(body)?;
    params.merge(query);
    Ok(params)
}

/// Whether the raw query carries a SigV4 signature (`X-Amz-Signature`, any spelling the
/// verifier would accept).
fn is_presigned(raw_query: &str) -> bool {
    raw_query.split('&').any(|pair| {
        let name = pair.split_once('=').map_or(pair, |(name, _)| name);
        name.eq_ignore_ascii_case("X-Amz-Signature")
            || percent_encoding::percent_decode_str(name)
                .decode_utf8()
                .is_ok_and(|n| n.eq_ignore_ascii_case("X-Amz-Signature"))
    })
}

/// What SigV4 covers, for a request that carries a signature (an `Authorization` header or
/// presigned `X-Amz-Signature`); `None` otherwise, so unsigned federation calls pay nothing.
fn signed_parts(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<SignedParts> {
    let query = uri.query().unwrap_or_default();
    if !headers.contains_key(header::AUTHORIZATION) && !is_presigned(query) {
        return None;
    }
    let headers = headers
        .iter()
        .filter_map(|(name, value)| {
            value
                .to_str()
                .ok()
                .map(|v| (name.as_str().to_owned(), v.to_owned()))
        })
        .collect();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body);
    Some(SignedParts {
        method: method.as_str().to_owned(),
        path: uri.path().to_owned(),
        query: query.to_owned(),
        headers,
        payload_sha256_hex: data_encoding::HEXLOWER.encode(digest.as_ref()),
    })
}
