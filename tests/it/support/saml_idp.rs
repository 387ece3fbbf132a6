//! A SAML identity provider on `127.0.0.1:0` for SP-initiated logins: its SingleSignOnService
//! (`GET /sso`, HTTP-Redirect binding) reads the `SAMLRequest` (DEFLATE, base64), signs a
//! Response answering it (`InResponseTo` = the AuthnRequest's ID, audience = its Issuer, the
//! portal's entity ID) with [`saml_signer`](super::saml_signer), and answers with the
//! HTTP-POST binding's page: a form that posts the Response (and the `RelayState`) to the
//! assertion consumer by itself. It signs everyone in as alice@example.com, granting the roles
//! it was started with; it does not check the AuthnRequest's signature.

use std::collections::HashMap;
use std::io::Read as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use stsbridge::clock::{Clock as _, SystemClock};
use tokio::task::JoinHandle;

use super::saml_signer::{SamlResponse, SigningKey};

struct Shared {
    /// `(role ARN, provider ARN)` granted to everyone.
    roles: Vec<(String, String)>,
    /// The assertion consumer the Responses go to; until set, `/sso` answers 503.
    acs_url: Mutex<Option<String>>,
    /// The IDs of the AuthnRequests answered, in order.
    answered: Mutex<Vec<String>>,
}

pub struct TestSamlIdp {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl TestSamlIdp {
    /// Listen on `127.0.0.1:0`, granting `roles` (`(role ARN, provider ARN)`).
    pub async fn start(roles: Vec<(String, String)>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shared = Arc::new(Shared {
            roles,
            acs_url: Mutex::new(None),
            answered: Mutex::new(Vec::new()),
        });
        let router = Router::new()
            .route("/sso", get(single_sign_on))
            // Browsers ask for it by themselves; a 404 would be a failed load in the browser test.
            .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            addr,
            shared,
            server,
        }
    }

    /// The SingleSignOnService URL on `host` (`localhost` makes the IdP another site than a
    /// daemon on `127.0.0.1`, as a real IdP is).
    pub fn sso_url(&self, host: &str) -> String {
        format!("http://{host}:{}/sso", self.addr.port())
    }

    /// Where the Responses are posted (the daemon's `<public_url>/saml`).
    pub fn set_acs_url(&self, url: &str) {
        *self.shared.acs_url.lock().expect("lock") = Some(url.to_owned());
    }

    /// The IDs of the AuthnRequests answered so far.
    pub fn answered(&self) -> Vec<String> {
        self.shared.answered.lock().expect("lock").clone()
    }
}

impl Drop for TestSamlIdp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// `GET /sso?SAMLRequest=...&RelayState=...` (SAML Bindings §3.4.4): the login page a real IdP
/// would show is skipped; the answer posts itself to the assertion consumer.
async fn single_sign_on(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(acs_url) = shared.acs_url.lock().expect("lock").clone() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "no assertion consumer yet").into_response();
    };
    let request = match query.get("SAMLRequest").map(|r| authn_request(r)) {
        Some(Ok(request)) => request,
        Some(Err(problem)) => return (StatusCode::BAD_REQUEST, problem).into_response(),
        None => return (StatusCode::BAD_REQUEST, "no SAMLRequest").into_response(),
    };
    if let Some(asked) = &request.assertion_consumer_service_url
        && *asked != acs_url
    {
        return (
            StatusCode::BAD_REQUEST,
            format!("AssertionConsumerServiceURL {asked}, not {acs_url}"),
        )
            .into_response();
    }
    let Some(audience) = request.issuer.as_ref().and_then(|i| i.value.clone()) else {
        return (StatusCode::BAD_REQUEST, "an AuthnRequest without Issuer").into_response();
    };
    let mut response = SamlResponse::new(&acs_url, SystemClock.now());
    response.roles = shared.roles.clone();
    response.audience = audience;
    response.in_response_to = Some(request.id.clone());
    let posted = response.sign_base64(&SigningKey::idp());
    shared.answered.lock().expect("lock").push(request.id);
    let relay_state = query
        .get("RelayState")
        .map(|r| {
            format!(
                "<input type=\"hidden\" name=\"RelayState\" value=\"{}\">",
                html_escape(r)
            )
        })
        .unwrap_or_default();
    Html(format!(
        "<!doctype html><html><head><title>Signing in</title></head><body>\n\
         <form id=\"to-sp\" method=\"post\" action=\"{}\">\n\
         <input type=\"hidden\" name=\"SAMLResponse\" value=\"{posted}\">{relay_state}\n\
         <noscript><button type=\"submit\">Continue</button></noscript>\n\
         </form>\n\
         <script>document.getElementById('to-sp').submit();</script>\n\
         </body></html>\n",
        html_escape(&acs_url)
    ))
    .into_response()
}

/// The AuthnRequest of the HTTP-Redirect binding: base64 of the DEFLATE of its XML.
fn authn_request(encoded: &str) -> Result<samael::schema::AuthnRequest, String> {
    let deflated = STANDARD
        .decode(encoded)
        .map_err(|e| format!("SAMLRequest base64: {e}"))?;
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(deflated.as_slice())
        .read_to_string(&mut xml)
        .map_err(|e| format!("SAMLRequest DEFLATE: {e}"))?;
    xml.parse()
        .map_err(|e| format!("SAMLRequest is no AuthnRequest: {e}"))
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
