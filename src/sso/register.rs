//! RegisterClient (`POST /sso-oidc/client/register`): a public client registers for 90 days
//! (as AWS) and gets a client id and a sealed client secret carrying its registration.
//!
//! Checks, in order: `clientName` (1 to [`MAX_CLIENT_NAME`] characters); `clientType` is
//! `public`; `issuerUrl`, when given, is the start URL (the public URL);
//! every scope is one this service grants; every grant type is a supported one; every redirect
//! URI is a loopback `http` URL of an IP literal (RFC 8252 section 7.3), and an
//! `authorization_code` client has one.

use std::time::{Duration, SystemTime};

use aws_lc_rs::rand::SecureRandom;
use data_encoding::BASE64URL_NOPAD;
use serde::{Deserialize, Serialize};

use super::{BASE_PATH, Purpose, Unsealed, fault, is_start_url, open, seal};
use crate::clock::unix_seconds;
use crate::config::PublicUrl;
use crate::creds::Keyring;
use crate::error::{ApiError, SsoOidcFault};

/// How long a registration lasts (AWS registers clients for 90 days).
pub const REGISTRATION_TTL: Duration = Duration::from_secs(90 * 24 * 3600);

/// The only scope this service grants (AWS CLI's default `sso_registration_scopes`).
pub const SCOPE: &str = "sso:account:access";

pub const GRANT_DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";
pub const GRANT_AUTHORIZATION_CODE: &str = "authorization_code";
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";

const MAX_CLIENT_NAME: usize = 128;
/// Most scopes, grant types or redirect URIs a registration may list.
const MAX_LIST: usize = 8;
const MAX_URI_LEN: usize = 512;

/// RegisterClient's input (the model's `RegisterClientRequest`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterClientRequest {
    pub client_name: Option<String>,
    pub client_type: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub grant_types: Vec<String>,
    pub issuer_url: Option<String>,
    pub entitled_application_arn: Option<String>,
}

/// RegisterClient's output (the model's `RegisterClientResponse`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterClientResponse {
    pub client_id: String,
    pub client_secret: String,
    pub client_id_issued_at: i64,
    pub client_secret_expires_at: i64,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
}

impl std::fmt::Debug for RegisterClientResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisterClientResponse")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// A registered client, as its sealed client secret carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    pub client_id: String,
    pub client_name: String,
    pub scopes: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    /// Unix seconds.
    pub issued_at: i64,
}

/// Register a client at `now`.
pub fn register_client(
    keyring: &Keyring,
    public_url: &PublicUrl,
    request: RegisterClientRequest,
    now: SystemTime,
    rng: &dyn SecureRandom,
) -> Result<RegisterClientResponse, ApiError> {
    let expires = now + REGISTRATION_TTL;
    let registration = validate(keyring, public_url, request, now, expires, rng)?;
    let client_secret = seal(keyring, Purpose::Client, &registration, expires, rng)?;
    Ok(RegisterClientResponse {
        client_id: registration.client_id,
        client_secret,
        client_id_issued_at: registration.issued_at,
        client_secret_expires_at: unix_seconds(expires),
        authorization_endpoint: public_url.join(&format!("{BASE_PATH}/authorize")),
        token_endpoint: public_url.join(&format!("{BASE_PATH}/token")),
    })
}

/// The registration of the client `client_id` whose secret is `client_secret`, at `now`;
/// `InvalidClientException` for anything else (fail closed: unknown, tampered, expired, or
/// another client's secret).
pub fn authenticate(
    keyring: &Keyring,
    client_id: &str,
    client_secret: &str,
    now: SystemTime,
) -> Result<Registration, ApiError> {
    let registration: Registration =
        open(keyring, Purpose::Client, client_secret, now).map_err(|e: Unsealed| {
            tracing::info!(refusal = ?e, "client secret refused");
            fault(SsoOidcFault::InvalidClient)
        })?;
    if !constant_time_eq(registration.client_id.as_bytes(), client_id.as_bytes()) {
        tracing::info!("client secret of another client");
        return Err(fault(SsoOidcFault::InvalidClient));
    }
    Ok(registration)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

fn validate(
    keyring: &Keyring,
    public_url: &PublicUrl,
    request: RegisterClientRequest,
    now: SystemTime,
    expires: SystemTime,
    rng: &dyn SecureRandom,
) -> Result<Registration, ApiError> {
    // The name is shown on the consent page a person is asked to trust, and logged: no control
    // or bidirectional formatting character.
    let client_name = request
        .client_name
        .filter(|n| {
            !n.trim().is_empty()
                && n.chars().count() <= MAX_CLIENT_NAME
                && crate::text::is_plain_display_text(n)
        })
        .ok_or(fault(SsoOidcFault::InvalidRequest(
            "clientName must be 1 to 128 characters, none of them control or bidirectional formatting characters.",
        )))?;
    if request.client_type.as_deref() != Some("public") {
        return Err(fault(SsoOidcFault::InvalidClientMetadata(
            "clientType must be \"public\".",
        )));
    }
    if request.entitled_application_arn.is_some() {
        return Err(fault(SsoOidcFault::InvalidRequest(
            "entitledApplicationArn is not supported.",
        )));
    }
    if let Some(issuer) = &request.issuer_url
        && !is_start_url(public_url, issuer)
    {
        return Err(fault(SsoOidcFault::InvalidClientMetadata(
            "issuerUrl must be this service's start URL (its public URL).",
        )));
    }
    let lists = [
        &request.scopes,
        &request.grant_types,
        &request.redirect_uris,
    ];
    if lists.iter().any(|l| l.len() > MAX_LIST) {
        return Err(fault(SsoOidcFault::InvalidRequest(
            "Too many scopes, grant types or redirect URIs.",
        )));
    }
    if request.scopes.iter().any(|s| s != SCOPE) {
        return Err(fault(SsoOidcFault::InvalidScope));
    }
    let supported = [
        GRANT_DEVICE_CODE,
        GRANT_AUTHORIZATION_CODE,
        GRANT_REFRESH_TOKEN,
    ];
    if request
        .grant_types
        .iter()
        .any(|g| !supported.contains(&g.as_str()))
    {
        return Err(fault(SsoOidcFault::UnsupportedGrantType));
    }
    if !request
        .redirect_uris
        .iter()
        .all(|u| is_loopback_redirect(u))
    {
        return Err(fault(SsoOidcFault::InvalidRedirectUri));
    }
    let wants_code = request
        .grant_types
        .iter()
        .any(|g| g == GRANT_AUTHORIZATION_CODE);
    if wants_code && request.redirect_uris.is_empty() {
        return Err(fault(SsoOidcFault::InvalidRedirectUri));
    }
    let client = Client {
        nonce: random_nonce(rng)?,
        client_name,
        redirect_uris: request.redirect_uris,
        grant_types: request.grant_types,
    };
    Ok(Registration {
        client_id: seal(keyring, Purpose::ClientId, &client, expires, rng)?,
        client_name: client.client_name,
        scopes: request.scopes,
        redirect_uris: client.redirect_uris,
        grant_types: client.grant_types,
        issued_at: unix_seconds(now),
    })
}

/// What a client id says of its client, to the endpoints that get the id without the secret
/// (the browser's `authorize`): sealed, so it is authentic but not secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    /// 128 random bits: two registrations alike get different ids.
    nonce: String,
    pub client_name: String,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
}

impl Client {
    /// Whether the client registered the grant type `grant` (a registration that names none,
    /// as the AWS CLI's device-flow registration, has the device code grant and refresh).
    pub fn has_grant(&self, grant: &str) -> bool {
        if self.grant_types.is_empty() {
            return grant == GRANT_DEVICE_CODE || grant == GRANT_REFRESH_TOKEN;
        }
        self.grant_types.iter().any(|g| g == grant)
    }

    /// Whether `uri` is one of the client's redirect URIs, any port (RFC 8252 section 7.3:
    /// a native client listens on whatever loopback port it gets).
    pub fn redirects_to(&self, uri: &str) -> bool {
        if !is_loopback_redirect(uri) {
            return false;
        }
        let Some(asked) = without_port(uri) else {
            return false;
        };
        self.redirect_uris
            .iter()
            .filter_map(|registered| without_port(registered))
            .any(|registered| registered == asked)
    }
}

/// `uri` with its port taken out.
fn without_port(uri: &str) -> Option<String> {
    let mut url = reqwest::Url::parse(uri).ok()?;
    url.set_port(None).ok()?;
    Some(url.to_string())
}

/// The client a client id names, not expired at `now`; `InvalidClientException` otherwise.
pub fn open_client_id(
    keyring: &Keyring,
    client_id: &str,
    now: SystemTime,
) -> Result<Client, ApiError> {
    open(keyring, Purpose::ClientId, client_id, now).map_err(|e: Unsealed| {
        tracing::info!(refusal = ?e, "client id refused");
        fault(SsoOidcFault::InvalidClient)
    })
}

/// A loopback redirect URI of an IP literal (RFC 8252 section 7.3): `http`, host `127.0.0.1`
/// or `[::1]`, any port, no credentials or fragment. `localhost` is refused (RFC 8252
/// section 8.3: it may resolve elsewhere).
pub fn is_loopback_redirect(uri: &str) -> bool {
    if uri.len() > MAX_URI_LEN {
        return false;
    }
    let Ok(url) = reqwest::Url::parse(uri) else {
        return false;
    };
    url.scheme() == "http"
        && matches!(url.host_str(), Some("127.0.0.1" | "[::1]"))
        && url.username().is_empty()
        && url.password().is_none()
        && url.fragment().is_none()
}

/// 16 random bytes, base64url.
fn random_nonce(rng: &dyn SecureRandom) -> Result<String, ApiError> {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes)
        .map_err(|_| ApiError::Internal("no randomness for a client id".to_owned()))?;
    Ok(BASE64URL_NOPAD.encode(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_ip_literals_over_http_are_redirect_uris() {
        for good in [
            "http://127.0.0.1/oauth/callback",
            "http://127.0.0.1:43123/oauth/callback",
            "http://[::1]:8080/cb",
        ] {
            assert!(is_loopback_redirect(good), "{good}");
        }
        for bad in [
            "https://127.0.0.1/cb",
            "http://localhost/cb",
            "http://127.0.0.2/cb",
            "http://evil.example/cb",
            "http://127.0.0.1.evil.example/cb",
            "http://user@127.0.0.1/cb",
            "http://127.0.0.1/cb#frag",
            "javascript:alert(1)",
            "",
        ] {
            assert!(!is_loopback_redirect(bad), "{bad}");
        }
    }

    #[test]
    fn client_names_that_would_mislead_on_the_consent_page_or_in_logs_are_refused() {
        let keyring = Keyring::generate(crate::clock::from_unix_seconds(1_800_000_000)).unwrap();
        let url = PublicUrl::parse("https://sso.example.com").unwrap();
        let register = |name: &str| {
            register_client(
                &keyring,
                &url,
                RegisterClientRequest {
                    client_name: Some(name.to_owned()),
                    client_type: Some("public".into()),
                    scopes: vec![],
                    redirect_uris: vec![],
                    grant_types: vec![],
                    issuer_url: None,
                    entitled_application_arn: None,
                },
                crate::clock::from_unix_seconds(1_800_000_000),
                &aws_lc_rs::rand::SystemRandom::new(),
            )
        };
        assert!(register("aws-cli on Zoë's laptop").is_ok());
        for bad in [
            "aws-cli\nINFO forged",
            "evil\u{202E}ilc-swa",
            " ",
            &"x".repeat(129),
        ] {
            let err = register(bad).err().unwrap();
            assert_eq!(err.code(), "InvalidRequestException", "{bad:?}");
        }
    }

    #[test]
    fn a_client_redirects_to_its_uris_on_any_port_only() {
        let client = Client {
            nonce: "n".into(),
            client_name: "aws-cli".into(),
            redirect_uris: vec!["http://127.0.0.1/oauth/callback".into()],
            grant_types: vec![GRANT_AUTHORIZATION_CODE.into()],
        };
        assert!(client.redirects_to("http://127.0.0.1:53123/oauth/callback"));
        assert!(client.redirects_to("http://127.0.0.1/oauth/callback"));
        for bad in [
            "http://127.0.0.1:53123/oauth/other",
            "http://[::1]:53123/oauth/callback",
            "https://127.0.0.1:53123/oauth/callback",
            "http://evil.example:53123/oauth/callback",
            "http://127.0.0.1:53123/oauth/callback?x=1",
        ] {
            assert!(!client.redirects_to(bad), "{bad}");
        }
        assert!(client.has_grant(GRANT_AUTHORIZATION_CODE));
        assert!(!client.has_grant(GRANT_DEVICE_CODE));
        let legacy = Client {
            grant_types: vec![],
            ..client
        };
        assert!(legacy.has_grant(GRANT_DEVICE_CODE) && legacy.has_grant(GRANT_REFRESH_TOKEN));
        assert!(!legacy.has_grant(GRANT_AUTHORIZATION_CODE));
    }
}
