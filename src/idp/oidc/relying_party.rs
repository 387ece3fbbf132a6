//! The portal as an OpenID Connect relying party (authorization-code flow with PKCE, Core
//! §3.1): the provider's endpoints from its discovery document, and the authorization request
//! built with the `openidconnect` crate. The ID token the flow returns is checked by this IdP's
//! verifier, the one AssumeRoleWithWebIdentity uses, with the request's nonce.

use std::time::{Duration, SystemTime};

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreJsonWebKeySet};
use openidconnect::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, HttpRequest, HttpResponse,
    IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, Scope, TokenUrl,
};

use crate::creds::Secret;

use super::discovery::metadata_url;
use super::fetch::{Fetcher, check_url};
use crate::idp::BuildError;

/// Discovery documents are small; anything larger is not one.
const DISCOVERY_LIMIT: usize = 64 * 1024;

/// How long discovered endpoints are used before the document is fetched again.
const ENDPOINTS_TTL: Duration = Duration::from_secs(3600);

/// Why the flow cannot start or go on.
#[derive(Debug, thiserror::Error)]
pub enum RelyingPartyError {
    /// The discovery document could not be fetched (the IdP is unreachable or answers
    /// otherwise than 200 with JSON).
    #[error("discovery: {0}")]
    Fetch(String),
    #[error("discovery document is not provider metadata: {0}")]
    NotMetadata(String),
    #[error("discovery document names issuer {found:?}, not {expected:?}")]
    IssuerMismatch { expected: String, found: String },
    #[error("discovery document's {field}: {why}")]
    Endpoint { field: &'static str, why: String },
    #[error("the provider does not support PKCE with S256")]
    NoPkce,
    #[error("{0}")]
    Url(String),
    /// The token endpoint refused the code (`invalid_grant`: used, expired, another client's,
    /// a PKCE verifier that does not match).
    #[error("the token endpoint refused the code: {0}")]
    TokenRefused(String),
    /// The token endpoint answered something else than a token response with an ID token.
    #[error("the token endpoint's answer is not usable: {0}")]
    NotTokenResponse(String),
}

/// Largest token response read (an ID token is a few KiB).
const TOKEN_RESPONSE_LIMIT: usize = 64 * 1024;

/// What the token endpoint returned.
pub struct Tokens {
    /// The ID token, compact JWS, not yet verified: the IdP's verifier checks it.
    pub id_token: String,
    /// The access token (its hash may be in the ID token's `at_hash`).
    pub access_token: Secret,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens(<redacted>)")
    }
}

/// What the code exchange sends besides the code.
#[derive(Debug)]
pub struct CodeExchange<'a> {
    pub client_id: &'a str,
    /// `None`: a public client (the PKCE verifier is its proof).
    pub client_secret: Option<&'a Secret>,
    /// The redirect URI the authorization request named.
    pub redirect_uri: &'a str,
    pub code: &'a str,
    pub pkce_verifier: &'a str,
}

/// Why an HTTP exchange with the token endpoint failed.
#[derive(Debug, thiserror::Error)]
enum TokenHttpError {
    #[error("{0}")]
    Request(String),
    #[error("the answer is larger than {TOKEN_RESPONSE_LIMIT} bytes")]
    TooLarge,
}

/// The provider's endpoints of the code flow (Discovery §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub authorization: String,
    pub token: String,
}

#[derive(serde::Deserialize)]
struct ProviderMetadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    #[serde(default)]
    code_challenge_methods_supported: Option<Vec<String>>,
}

/// What the portal sends the person to the IdP with; the caller keeps every value (sealed in
/// the login cookie) to finish the flow.
#[derive(Debug)]
pub struct AuthorizationRequest<'a> {
    pub client_id: &'a str,
    /// `<public_url>/signin/oidc/callback`.
    pub redirect_uri: &'a str,
    /// `openid` is always asked for; these are added.
    pub scopes: &'a [String],
    /// Random values of the caller's.
    pub state: &'a str,
    pub nonce: &'a str,
    /// The PKCE code verifier (RFC 7636 §4.1: 43-128 characters); its S256 challenge is sent.
    pub pkce_verifier: &'a str,
}

/// One OIDC IdP as the portal uses it: its endpoints, discovered and cached.
#[derive(Debug)]
pub struct RelyingParty {
    issuer: String,
    fetcher: Fetcher,
    endpoints: tokio::sync::Mutex<Option<(Endpoints, SystemTime)>>,
}

impl RelyingParty {
    /// The relying party of the IdP `issuer` (`insecure_http`: http URLs allowed, for test
    /// IdPs only).
    pub fn new(issuer: &str, insecure_http: bool) -> Result<Self, BuildError> {
        Ok(Self {
            issuer: issuer.to_owned(),
            fetcher: Fetcher::new(insecure_http)?,
            endpoints: tokio::sync::Mutex::new(None),
        })
    }

    /// The provider's endpoints: the cached ones, or discovered anew when older than an hour.
    pub async fn endpoints(&self, now: SystemTime) -> Result<Endpoints, RelyingPartyError> {
        let mut cached = self.endpoints.lock().await;
        if let Some((endpoints, at)) = cached.as_ref()
            && now.duration_since(*at).is_ok_and(|age| age < ENDPOINTS_TTL)
        {
            return Ok(endpoints.clone());
        }
        let fetched = self
            .fetcher
            .get(&metadata_url(&self.issuer), DISCOVERY_LIMIT)
            .await
            .map_err(|e| RelyingPartyError::Fetch(e.to_string()))?;
        let endpoints =
            endpoints_from_metadata(&fetched.body, &self.issuer, self.fetcher.allows_http())?;
        *cached = Some((endpoints.clone(), now));
        Ok(endpoints)
    }

    /// The URL to send the person to: `response_type=code`, the client, the redirect URI, the
    /// scopes, `state`, `nonce`, and the PKCE S256 challenge of the verifier.
    pub fn authorization_url(
        &self,
        endpoints: &Endpoints,
        request: &AuthorizationRequest<'_>,
    ) -> Result<String, RelyingPartyError> {
        let url_error = |what: &str, e: openidconnect::url::ParseError| {
            RelyingPartyError::Url(format!("{what}: {e}"))
        };
        let client = CoreClient::new(
            ClientId::new(request.client_id.to_owned()),
            IssuerUrl::new(self.issuer.clone()).map_err(|e| url_error("issuer", e))?,
            CoreJsonWebKeySet::default(),
        )
        .set_auth_uri(
            AuthUrl::new(endpoints.authorization.clone())
                .map_err(|e| url_error("authorization_endpoint", e))?,
        )
        .set_redirect_uri(
            RedirectUrl::new(request.redirect_uri.to_owned())
                .map_err(|e| url_error("redirect URI", e))?,
        );
        let state = request.state.to_owned();
        let nonce = request.nonce.to_owned();
        let verifier = PkceCodeVerifier::new(request.pkce_verifier.to_owned());
        let (url, _, _) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(state),
                move || Nonce::new(nonce),
            )
            // The crate asks for `openid` itself.
            .add_scopes(
                request
                    .scopes
                    .iter()
                    .filter(|s| *s != "openid")
                    .map(|s| Scope::new(s.clone())),
            )
            .set_pkce_challenge(PkceCodeChallenge::from_code_verifier_sha256(&verifier))
            .url();
        Ok(url.to_string())
    }
}

impl RelyingParty {
    /// Exchange an authorization code at the token endpoint (RFC 6749 §4.1.3 with the PKCE
    /// verifier, RFC 7636 §4.5), the client authenticating with HTTP Basic when it has a
    /// secret. The HTTP client follows no redirects and reads at most 64 KiB.
    pub async fn exchange_code(
        &self,
        endpoints: &Endpoints,
        exchange: &CodeExchange<'_>,
    ) -> Result<Tokens, RelyingPartyError> {
        let url_error = |what: &str, e: openidconnect::url::ParseError| {
            RelyingPartyError::Url(format!("{what}: {e}"))
        };
        let mut client = CoreClient::new(
            ClientId::new(exchange.client_id.to_owned()),
            IssuerUrl::new(self.issuer.clone()).map_err(|e| url_error("issuer", e))?,
            CoreJsonWebKeySet::default(),
        )
        .set_token_uri(
            TokenUrl::new(endpoints.token.clone()).map_err(|e| url_error("token_endpoint", e))?,
        )
        .set_redirect_uri(
            RedirectUrl::new(exchange.redirect_uri.to_owned())
                .map_err(|e| url_error("redirect URI", e))?,
        );
        if let Some(secret) = exchange.client_secret {
            client = client.set_client_secret(ClientSecret::new(secret.expose().to_owned()));
        }
        // Owned by each request's future (a borrowed client would keep the future from being
        // Send, which an HTTP handler must be).
        let http = self.fetcher.client().clone();
        let send = move |request: HttpRequest| {
            let http = http.clone();
            async move {
                let request = reqwest::Request::try_from(request)
                    .map_err(|e| TokenHttpError::Request(e.to_string()))?;
                let mut response = http
                    .execute(request)
                    .await
                    .map_err(|e| TokenHttpError::Request(e.to_string()))?;
                let mut body = Vec::new();
                while let Some(chunk) = response
                    .chunk()
                    .await
                    .map_err(|e| TokenHttpError::Request(e.to_string()))?
                {
                    if body.len() + chunk.len() > TOKEN_RESPONSE_LIMIT {
                        return Err(TokenHttpError::TooLarge);
                    }
                    body.extend_from_slice(&chunk);
                }
                let mut answer = HttpResponse::new(body);
                *answer.status_mut() = response.status();
                *answer.headers_mut() = response.headers().clone();
                Ok::<_, TokenHttpError>(answer)
            }
        };
        let response = client
            .exchange_code(AuthorizationCode::new(exchange.code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(exchange.pkce_verifier.to_owned()))
            .request_async(&send)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(refusal) => {
                    RelyingPartyError::TokenRefused(refusal.error().to_string())
                }
                RequestTokenError::Request(e) => RelyingPartyError::Fetch(e.to_string()),
                RequestTokenError::Parse(e, _) => {
                    RelyingPartyError::NotTokenResponse(e.to_string())
                }
                RequestTokenError::Other(e) => RelyingPartyError::NotTokenResponse(e),
            })?;
        let id_token = openidconnect::TokenResponse::id_token(&response)
            .ok_or_else(|| RelyingPartyError::NotTokenResponse("no id_token".to_owned()))?
            .to_string();
        Ok(Tokens {
            id_token,
            access_token: Secret::new(response.access_token().secret().clone()),
        })
    }
}

/// Check the metadata document and take the code flow's endpoints:
/// 1. a JSON object with string `issuer`, `authorization_endpoint` and `token_endpoint`;
/// 2. `issuer` identical to the configured issuer (Discovery §4.3);
/// 3. both endpoints https URLs (http when the IdP is configured `insecure_http`);
/// 4. `code_challenge_methods_supported`, when the provider lists it, includes `S256` (RFC 8414
///    §2): the flow always uses PKCE.
fn endpoints_from_metadata(
    body: &[u8],
    issuer: &str,
    allow_http: bool,
) -> Result<Endpoints, RelyingPartyError> {
    let metadata: ProviderMetadata =
        serde_json::from_slice(body).map_err(|e| RelyingPartyError::NotMetadata(e.to_string()))?;
    if metadata.issuer != issuer {
        return Err(RelyingPartyError::IssuerMismatch {
            expected: issuer.to_owned(),
            found: metadata.issuer,
        });
    }
    for (field, url) in [
        ("authorization_endpoint", &metadata.authorization_endpoint),
        ("token_endpoint", &metadata.token_endpoint),
    ] {
        check_url(url, allow_http).map_err(|e| RelyingPartyError::Endpoint {
            field,
            why: e.to_string(),
        })?;
    }
    if let Some(methods) = &metadata.code_challenge_methods_supported
        && !methods.iter().any(|m| m == "S256")
    {
        return Err(RelyingPartyError::NoPkce);
    }
    Ok(Endpoints {
        authorization: metadata.authorization_endpoint,
        token: metadata.token_endpoint,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ISSUER: &str = "https://idp.example";

    fn document(extra: serde_json::Value) -> Vec<u8> {
        let mut doc = json!({
            "issuer": ISSUER,
            "authorization_endpoint": "https://idp.example/authorize",
            "token_endpoint": "https://idp.example/token",
        });
        if let (Some(doc), Some(extra)) = (doc.as_object_mut(), extra.as_object()) {
            doc.extend(extra.clone());
        }
        doc.to_string().into_bytes()
    }

    #[test]
    fn endpoints_are_taken_when_the_document_is_the_issuers() {
        let endpoints = endpoints_from_metadata(&document(json!({})), ISSUER, false).unwrap();
        assert_eq!(endpoints.authorization, "https://idp.example/authorize");
        assert_eq!(endpoints.token, "https://idp.example/token");
        assert!(matches!(
            endpoints_from_metadata(
                &document(json!({"issuer": "https://evil.example"})),
                ISSUER,
                false
            ),
            Err(RelyingPartyError::IssuerMismatch { .. })
        ));
        assert!(matches!(
            endpoints_from_metadata(
                &document(json!({"token_endpoint": "http://idp.example/token"})),
                ISSUER,
                false
            ),
            Err(RelyingPartyError::Endpoint {
                field: "token_endpoint",
                ..
            })
        ));
        assert!(matches!(
            endpoints_from_metadata(
                &document(json!({"code_challenge_methods_supported": ["plain"]})),
                ISSUER,
                false
            ),
            Err(RelyingPartyError::NoPkce)
        ));
        assert!(matches!(
            endpoints_from_metadata(b"[]", ISSUER, false),
            Err(RelyingPartyError::NotMetadata(_))
        ));
    }

    #[test]
    fn the_authorization_url_carries_the_code_flow_with_pkce() {
        let rp = RelyingParty::new(ISSUER, false).unwrap();
        let endpoints = endpoints_from_metadata(&document(json!({})), ISSUER, false).unwrap();
        let verifier = "v".repeat(43);
        let url = rp
            .authorization_url(
                &endpoints,
                &AuthorizationRequest {
                    client_id: "portal",
                    redirect_uri: "https://sts.example.com/signin/oidc/callback",
                    scopes: &["openid".to_owned(), "email".to_owned()],
                    state: "st",
                    nonce: "nn",
                    pkce_verifier: &verifier,
                },
            )
            .unwrap();
        let url = reqwest::Url::parse(&url).unwrap();
        assert_eq!(
            url.as_str().split('?').next(),
            Some("https://idp.example/authorize")
        );
        let params: std::collections::BTreeMap<String, String> =
            url.query_pairs().into_owned().collect();
        let challenge = {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
                &aws_lc_rs::digest::SHA256,
                verifier.as_bytes(),
            ))
        };
        let expected: std::collections::BTreeMap<String, String> = [
            ("response_type", "code"),
            ("client_id", "portal"),
            (
                "redirect_uri",
                "https://sts.example.com/signin/oidc/callback",
            ),
            ("scope", "openid email"),
            ("state", "st"),
            ("nonce", "nn"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(params, expected);
    }
}
