//! A tiny resource service that protects one endpoint with stsbridge's authorization API.
//!
//! `GET /photos/{id}` is served only when the request is signed (SigV4, service name
//! `photos`) with credentials stsbridge issued or an IAM user's key, and the signer's policies
//! allow `photos:GetPhoto` on `arn:photos:::photo/{id}`. Everything else is stsbridge's job:
//! the service forwards what it received and acts on the answer.
//!
//! ```text
//! STSBRIDGE_URL=http://127.0.0.1:8080 STSBRIDGE_SERVICE_SECRET=... \
//!     cargo run --example protected_service
//! ```
//!
//! The daemon's `stsbridge.toml` lists the service with the SHA-256 of that secret:
//!
//! ```toml
//! [[authorization.services]]
//! name = "photos"
//! bearer_sha256 = "<printf %s \"$SECRET\" | sha256sum>"
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

struct Service {
    http: reqwest::Client,
    authorize_url: String,
    secret: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = std::env::var("STSBRIDGE_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let secret = std::env::var("STSBRIDGE_SERVICE_SECRET")?;
    let service = Arc::new(Service {
        http: reqwest::Client::new(),
        authorize_url: format!("{base}/v1/authorize"),
        secret,
    });
    let app = Router::new()
        .route("/photos/{id}", get(get_photo))
        .with_state(service);
    let addr: SocketAddr = "127.0.0.1:8081".parse()?;
    println!("photos service on http://{addr}");
    axum::serve(tokio::net::TcpListener::bind(addr).await?, app).await?;
    Ok(())
}

async fn get_photo(
    State(service): State<Arc<Service>>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let question = serde_json::json!({
        "request": {
            "method": method.as_str(),
            "path": uri.path(),
            "query": uri.query().unwrap_or_default(),
            "headers": headers
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                .collect::<std::collections::BTreeMap<_, _>>(),
            "payload_sha256": hex_sha256(&body),
        },
        "action": "photos:GetPhoto",
        "resource": format!("arn:photos:::photo/{id}"),
    });
    let answer = service
        .http
        .post(&service.authorize_url)
        .bearer_auth(&service.secret)
        .header("content-type", "application/json")
        .body(question.to_string())
        .send()
        .await;
    let Ok(answer) = answer else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "authorization unavailable\n",
        )
            .into_response();
    };
    let status = answer.status();
    let decision = answer
        .bytes()
        .await
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    let Some(decision) = decision else {
        return (StatusCode::BAD_GATEWAY, "bad authorization answer\n").into_response();
    };
    if status.is_success() && decision["allowed"] == true {
        let who = decision["principal"]["arn"].as_str().unwrap_or("?");
        return (StatusCode::OK, format!("photo {id} for {who}\n")).into_response();
    }
    // Denied (with the encoded message the caller can decode), or the signature was refused.
    let detail = decision["encoded_authorization_message"]
        .as_str()
        .or(decision["error"]["code"].as_str())
        .unwrap_or("denied");
    (StatusCode::FORBIDDEN, format!("AccessDenied: {detail}\n")).into_response()
}

fn hex_sha256(body: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body);
    data_encoding::HEXLOWER.encode(digest.as_ref())
}
