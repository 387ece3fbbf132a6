//! In-process OIDC IdP on `127.0.0.1:0` serving discovery and JWKS, and minting tokens; and
//! an authorization server running the real authorization-code flow with PKCE (S256 only):
//! `/authorize` signs in whoever [`TestIdp::set_login`] names (no login form) and redirects
//! back with a one-time code, `/token` exchanges it for an ID token carrying the request's
//! `nonce` and the access token's `at_hash`.
//!
//! ```ignore
//! let idp = TestIdp::start().await;
//! let token = idp.token(&idp.claims(now));
//! let verifier = idp.verifier();            // discovery over HTTP, RS256 + ES256
//! ```
//! It starts with one RSA (RS256, the active signer) and one EC (ES256) key, both published.
//! Tests can rotate the active key, add and remove keys, take the IdP down (503) or stop it
//! (connection refused), slow the JWKS down, set `Cache-Control`, serve a wrong discovery
//! issuer or an arbitrary JWKS response, and count fetches.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use aws_lc_rs::encoding::AsDer;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use serde_json::{Value, json};
use std::collections::HashMap;
use stsbridge::arn::oidc_provider_of_issuer as provider_name;
use stsbridge::clock::unix_seconds;
use stsbridge::idp::oidc::OidcVerifier;
use stsbridge::idp::oidc::signer::TokenSigner;
use stsbridge::idp::oidc::{OidcKeySource, OidcSettings as OidcIdpConfig};
use tokio::task::JoinHandle;

/// The client id tokens are minted for and verifiers are configured with.
pub const AUDIENCE: &str = "stsbridge-test-client";
/// The `sub` of [`TestIdp::claims`].
pub const SUBJECT: &str = "test-subject";
/// The IdP's name in [`TestIdp::oidc_config`].
pub const NAME: &str = "test-idp";

/// Key ids unique across every IdP of the test binary.
static NEXT_KID: AtomicUsize = AtomicUsize::new(1);

fn next_kid(prefix: &str) -> String {
    format!("{prefix}-{}", NEXT_KID.fetch_add(1, Ordering::Relaxed))
}

/// What `/jwks` answers (when the IdP is up).
#[derive(Debug, Clone)]
pub enum JwksResponse {
    /// The published keys, as a JWK Set.
    Keys,
    /// This body, as `application/json`.
    Body(String),
    /// `302 Found` to this URL.
    RedirectTo(String),
}

struct Behaviour {
    down: bool,
    cache_control: Option<String>,
    discovery_issuer: Option<String>,
    jwks_response: JwksResponse,
    jwks_delay: Duration,
}

struct Keys {
    active: Arc<TokenSigner>,
    ec: Arc<TokenSigner>,
    published: Vec<Arc<TokenSigner>>,
}

/// A client registered at the authorization server.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    /// `None`: a public client (PKCE only).
    pub secret: Option<String>,
    pub redirect_uris: Vec<String>,
}

/// What `/authorize` remembered of a code it issued.
struct Grant {
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
    nonce: Option<String>,
    claims: Value,
    redeemed: bool,
}

/// The authorization server's state.
#[derive(Default)]
struct Authorization {
    clients: Vec<Client>,
    /// Claims of the person `/authorize` signs in (beside iss, aud, iat, exp, nonce).
    login: Option<Value>,
    codes: HashMap<String, Grant>,
    token_requests: usize,
}

struct Shared {
    issuer: String,
    authorization: Mutex<Authorization>,
    keys: Mutex<Keys>,
    behaviour: Mutex<Behaviour>,
    jwks_fetches: AtomicUsize,
    discovery_fetches: AtomicUsize,
}

impl Shared {
    fn keys(&self) -> MutexGuard<'_, Keys> {
        self.keys.lock().expect("keys lock")
    }

    fn behaviour(&self) -> MutexGuard<'_, Behaviour> {
        self.behaviour.lock().expect("behaviour lock")
    }

    fn authorization(&self) -> MutexGuard<'_, Authorization> {
        self.authorization.lock().expect("authorization lock")
    }
}

/// An OIDC identity provider in the test process.
pub struct TestIdp {
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl Drop for TestIdp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TestIdp {
    /// Listen on `127.0.0.1:0` with a fresh RSA (active) and EC key.
    pub async fn start() -> TestIdp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the test IdP");
        let addr = listener.local_addr().expect("local addr");
        let rsa = Arc::new(TokenSigner::generate_rsa(next_kid("rsa")).expect("RSA key"));
        let ec = Arc::new(TokenSigner::generate_ec(next_kid("ec")).expect("EC key"));
        let shared = Arc::new(Shared {
            issuer: format!("http://{addr}"),
            authorization: Mutex::new(Authorization::default()),
            keys: Mutex::new(Keys {
                active: Arc::clone(&rsa),
                ec: Arc::clone(&ec),
                published: vec![rsa, ec],
            }),
            behaviour: Mutex::new(Behaviour {
                down: false,
                cache_control: None,
                discovery_issuer: None,
                jwks_response: JwksResponse::Keys,
                jwks_delay: Duration::ZERO,
            }),
            jwks_fetches: AtomicUsize::new(0),
            discovery_fetches: AtomicUsize::new(0),
        });
        let router = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        TestIdp { shared, server }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn issuer(&self) -> &str {
        &self.shared.issuer
    }

    /// The issuer without its scheme (`127.0.0.1:PORT`): the provider name in trust policies.
    pub fn provider(&self) -> String {
        provider_name(self.issuer())
    }

    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks", self.issuer())
    }

    /// The active RSA signer (RS256); [`TestIdp::token`] signs with it.
    pub fn signer(&self) -> Arc<TokenSigner> {
        Arc::clone(&self.shared.keys().active)
    }

    /// The published EC signer (ES256).
    pub fn ec_signer(&self) -> Arc<TokenSigner> {
        Arc::clone(&self.shared.keys().ec)
    }

    /// Claims a verifier from [`TestIdp::oidc_config`] accepts at `now`: `iss`, `aud`
    /// ([`AUDIENCE`]), `sub` ([`SUBJECT`]), `iat` = now, `exp` = now + 1 h.
    pub fn claims(&self, now: SystemTime) -> Value {
        let now = unix_seconds(now);
        json!({
            "iss": self.issuer(),
            "aud": AUDIENCE,
            "sub": SUBJECT,
            "iat": now,
            "exp": now + 3600,
        })
    }

    /// `claims` signed by the active key.
    pub fn token(&self, claims: &Value) -> String {
        self.signer().sign(claims).expect("sign")
    }

    /// `claims` signed by the EC key.
    pub fn ec_token(&self, claims: &Value) -> String {
        self.ec_signer().sign(claims).expect("sign")
    }

    /// `claims` under an arbitrary `header`, signed by the active key with its own algorithm.
    pub fn token_with_header(&self, header: &Value, claims: &Value) -> String {
        self.signer()
            .sign_with_header(header, claims)
            .expect("sign")
    }

    /// The active key's public key as X.509 `SubjectPublicKeyInfo` DER.
    pub fn public_key_der(&self) -> Vec<u8> {
        let jwk = self.signer().jwk();
        let AlgorithmParameters::RSA(rsa) = &jwk.algorithm else {
            panic!("the active key is RSA");
        };
        let n = URL_SAFE_NO_PAD.decode(&rsa.n).expect("n");
        let e = URL_SAFE_NO_PAD.decode(&rsa.e).expect("e");
        let der = aws_lc_rs::rsa::PublicKeyComponents { n, e }
            .as_der()
            .expect("SPKI DER");
        der.as_ref().to_vec()
    }

    /// `claims` under `{"alg": "HS256", "kid": <active kid>}`, MACed with `secret`.
    pub fn hs256_token(&self, claims: &Value, secret: &[u8]) -> String {
        let header = json!({"alg": "HS256", "kid": self.signer().kid(), "typ": "JWT"});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mac = jsonwebtoken::crypto::sign(
            input.as_bytes(),
            &jsonwebtoken::EncodingKey::from_secret(secret),
            Algorithm::HS256,
        )
        .expect("HMAC");
        format!("{input}.{mac}")
    }

    /// The key-confusion forgery: HS256 keyed with the active RSA public key (SPKI DER).
    pub fn hs256_with_public_key(&self, claims: &Value) -> String {
        self.hs256_token(claims, &self.public_key_der())
    }

    /// A new RSA key becomes the active signer and is published; the previous active key is
    /// withdrawn from the JWKS.
    pub fn rotate_key(&self) -> Arc<TokenSigner> {
        let fresh = Arc::new(TokenSigner::generate_rsa(next_kid("rsa")).expect("RSA key"));
        let mut keys = self.shared.keys();
        let old = keys.active.kid().to_owned();
        keys.published.retain(|k| k.kid() != old);
        keys.published.push(Arc::clone(&fresh));
        keys.active = Arc::clone(&fresh);
        fresh
    }

    /// Publish another key (it does not become the active signer).
    pub fn add_key(&self, signer: TokenSigner) -> Arc<TokenSigner> {
        let signer = Arc::new(signer);
        self.shared.keys().published.push(Arc::clone(&signer));
        signer
    }

    /// Withdraw the key with `kid` from the JWKS.
    pub fn remove_key(&self, kid: &str) {
        self.shared.keys().published.retain(|k| k.kid() != kid);
    }

    /// A fresh RSA signer whose key is not published (a `kid` the IdP does not know).
    pub fn unpublished_signer(&self) -> TokenSigner {
        TokenSigner::generate_rsa(next_kid("unpublished")).expect("RSA key")
    }

    /// While down, every endpoint answers `503 Service Unavailable`.
    pub fn set_down(&self, down: bool) {
        self.shared.behaviour().down = down;
    }

    /// Stop listening: connections are refused from now on.
    pub fn stop(&self) {
        self.server.abort();
    }

    /// The `Cache-Control` header of JWKS responses (none by default).
    pub fn set_cache_control(&self, value: Option<&str>) {
        self.shared.behaviour().cache_control = value.map(str::to_owned);
    }

    /// Advertise this issuer in the discovery document instead of the real one.
    pub fn set_discovery_issuer(&self, issuer: Option<&str>) {
        self.shared.behaviour().discovery_issuer = issuer.map(str::to_owned);
    }

    pub fn set_jwks_response(&self, response: JwksResponse) {
        self.shared.behaviour().jwks_response = response;
    }

    /// Wait this long before answering `/jwks` (to overlap concurrent fetches).
    pub fn set_jwks_delay(&self, delay: Duration) {
        self.shared.behaviour().jwks_delay = delay;
    }

    /// Requests `/jwks` received so far (whatever was answered).
    pub fn jwks_fetches(&self) -> usize {
        self.shared.jwks_fetches.load(Ordering::SeqCst)
    }

    /// Requests for the discovery document received so far.
    pub fn discovery_fetches(&self) -> usize {
        self.shared.discovery_fetches.load(Ordering::SeqCst)
    }

    /// A configuration trusting this IdP through discovery: audience [`AUDIENCE`], RS256 and
    /// ES256, 60 s leeway, `insecure_http`.
    pub fn oidc_config(&self) -> OidcIdpConfig {
        OidcIdpConfig {
            name: NAME.to_owned(),
            issuer: self.issuer().to_owned(),
            provider: self.provider(),
            audiences: vec![AUDIENCE.to_owned()],
            algorithms: vec![Algorithm::RS256, Algorithm::ES256],
            keys: OidcKeySource::Discovery,
            leeway: Duration::from_secs(60),
            insecure_http: true,
        }
    }

    /// Register a client of the authorization server.
    pub fn register_client(&self, client: Client) {
        self.shared.authorization().clients.push(client);
    }

    /// `/authorize` signs in a person with these claims (`sub` and more) from now on; `None`:
    /// it refuses (`access_denied`).
    pub fn set_login(&self, claims: Option<Value>) {
        self.shared.authorization().login = claims;
    }

    /// Requests `/token` received so far.
    pub fn token_requests(&self) -> usize {
        self.shared.authorization().token_requests
    }

    /// `http://127.0.0.1:PORT/authorize`.
    pub fn authorization_endpoint(&self) -> String {
        format!("{}/authorize", self.issuer())
    }

    /// `http://127.0.0.1:PORT/token`.
    pub fn token_endpoint(&self) -> String {
        format!("{}/token", self.issuer())
    }

    /// A verifier built from [`TestIdp::oidc_config`].
    pub fn verifier(&self) -> OidcVerifier {
        OidcVerifier::new(self.oidc_config()).expect("verifier")
    }
}

async fn discovery(State(shared): State<Arc<Shared>>) -> Response {
    shared.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    let behaviour = shared.behaviour();
    if behaviour.down {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let issuer = behaviour
        .discovery_issuer
        .clone()
        .unwrap_or_else(|| shared.issuer.clone());
    axum::Json(json!({
        "issuer": issuer,
        "jwks_uri": format!("{}/jwks", shared.issuer),
        "authorization_endpoint": format!("{}/authorize", shared.issuer),
        "token_endpoint": format!("{}/token", shared.issuer),
        "response_types_supported": ["code", "id_token"],
        "grant_types_supported": ["authorization_code"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "scopes_supported": ["openid", "email", "profile"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
    }))
    .into_response()
}

async fn jwks(State(shared): State<Arc<Shared>>) -> Response {
    shared.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let delay = shared.behaviour().jwks_delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let (down, cache_control, answer) = {
        let b = shared.behaviour();
        (b.down, b.cache_control.clone(), b.jwks_response.clone())
    };
    if down {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let mut response = match answer {
        JwksResponse::Keys => {
            let set = JwkSet {
                keys: shared.keys().published.iter().map(|k| k.jwk()).collect(),
            };
            axum::Json(set).into_response()
        }
        JwksResponse::Body(body) => {
            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        JwksResponse::RedirectTo(url) => {
            (StatusCode::FOUND, [(header::LOCATION, url)]).into_response()
        }
    };
    if let Some(value) = cache_control.and_then(|v| HeaderValue::from_str(&v).ok()) {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    response
}

/// The PKCE S256 challenge of `verifier` (RFC 7636 §4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        verifier.as_bytes(),
    ))
}

/// `at_hash` of an access token for an RS256/ES256 ID token: the left half of its SHA-256
/// (OpenID Connect Core §3.1.3.6).
pub fn at_hash(access_token: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest.as_ref()[..16])
}

/// A redirect to `redirect_uri` with `params` added to its query.
fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    let mut url = reqwest::Url::parse(redirect_uri).expect("a registered redirect URI");
    url.query_pairs_mut().extend_pairs(params);
    (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response()
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

/// `GET /authorize` (RFC 6749 §4.1.1, RFC 7636 §4.3, OpenID Connect Core §3.1.2.1). A request
/// with an unknown client or a redirect URI it did not register is answered here (400), never
/// redirected; other errors go back to the client's redirect URI with `error` and `state`.
async fn authorize(
    State(shared): State<Arc<Shared>>,
    axum::extract::Query(query): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    if shared.behaviour().down {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let param = |name: &str| query.get(name).map(String::as_str);
    let mut auth = shared.authorization();
    let client = param("client_id").and_then(|id| auth.clients.iter().find(|c| c.id == id));
    let Some(client) = client.cloned() else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_client", "unknown client");
    };
    let Some(redirect_uri) =
        param("redirect_uri").filter(|r| client.redirect_uris.iter().any(|u| u == r))
    else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "redirect_uri not registered",
        );
    };
    let state = param("state").unwrap_or_default();
    let refuse = |error: &str| redirect_with(redirect_uri, &[("error", error), ("state", state)]);
    if param("response_type") != Some("code") {
        return refuse("unsupported_response_type");
    }
    if !param("scope")
        .unwrap_or_default()
        .split(' ')
        .any(|s| s == "openid")
    {
        return refuse("invalid_scope");
    }
    let (Some(challenge), Some("S256")) = (param("code_challenge"), param("code_challenge_method"))
    else {
        return refuse("invalid_request");
    };
    let Some(claims) = auth.login.clone() else {
        return refuse("access_denied");
    };
    let code = uuid::Uuid::new_v4().simple().to_string();
    auth.codes.insert(
        code.clone(),
        Grant {
            client_id: client.id.clone(),
            redirect_uri: redirect_uri.to_owned(),
            code_challenge: challenge.to_owned(),
            nonce: param("nonce").map(str::to_owned),
            claims,
            redeemed: false,
        },
    );
    redirect_with(redirect_uri, &[("code", &code), ("state", state)])
}

/// `POST /token`, `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.6): the client
/// authenticates (Basic or form secret) unless it is public; the code is single use, issued to
/// this client for this redirect URI, and the verifier matches its challenge.
async fn token(
    State(shared): State<Arc<Shared>>,
    headers: axum::http::HeaderMap,
    axum::extract::Form(form): axum::extract::Form<HashMap<String, String>>,
) -> Response {
    let now = unix_seconds(stsbridge::clock::Clock::now(&stsbridge::clock::SystemClock));
    let mut auth = shared.authorization();
    auth.token_requests += 1;
    let param = |name: &str| form.get(name).map(String::as_str);
    if param("grant_type") != Some("authorization_code") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "code only",
        );
    }
    // Client authentication: HTTP Basic (RFC 6749 §2.3.1), else the form's client_id/secret.
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            let (id, secret) = s.split_once(':')?;
            let decode = |t: &str| {
                percent_encoding::percent_decode_str(t)
                    .decode_utf8()
                    .ok()
                    .map(|c| c.into_owned())
            };
            Some((decode(id)?, Some(decode(secret)?)))
        });
    let (client_id, secret) = basic.unwrap_or_else(|| {
        (
            param("client_id").unwrap_or_default().to_owned(),
            param("client_secret").map(str::to_owned),
        )
    });
    let Some(client) = auth.clients.iter().find(|c| c.id == client_id).cloned() else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "unknown client");
    };
    if client.secret.is_some() && client.secret != secret {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "wrong secret");
    }
    let Some(grant) = param("code").and_then(|c| auth.codes.get_mut(c)) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "unknown code");
    };
    if grant.redeemed {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "code already used",
        );
    }
    grant.redeemed = true;
    if grant.client_id != client.id || param("redirect_uri") != Some(grant.redirect_uri.as_str()) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "another client's code",
        );
    }
    if param("code_verifier").map(pkce_challenge).as_deref() != Some(grant.code_challenge.as_str())
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "PKCE verifier mismatch",
        );
    }
    let access_token = uuid::Uuid::new_v4().simple().to_string();
    let mut claims = json!({
        "iss": shared.issuer,
        "aud": client.id,
        "iat": now,
        "exp": now + 3600,
        "at_hash": at_hash(&access_token),
    });
    if let (Some(map), Some(extra)) = (claims.as_object_mut(), grant.claims.as_object()) {
        map.extend(extra.clone());
    }
    if let (Some(nonce), Some(map)) = (&grant.nonce, claims.as_object_mut()) {
        map.insert("nonce".to_owned(), json!(nonce));
    }
    let id_token = shared.keys().active.sign(&claims).expect("sign");
    let mut response = axum::Json(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": 3600,
        "id_token": id_token,
    }))
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
