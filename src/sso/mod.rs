//! The SSO OIDC API the AWS SDKs speak for `sso-session` sign-in (botocore's `sso-oidc`
//! 2019-06-10 model): an adapter like `web`, over the keyring and the public URL. It parses,
//! checks, and answers JSON; the server routes `<public_url>/sso-oidc/...` to it.
//!
//! A client's registration rides in its sealed client secret and a device authorization's
//! grant in its sealed device code, so any node holding the keyring accepts them. The one
//! state to share is whether the person approved a device authorization (`approval`): it
//! belongs in the store, found by user code.
//!
//! Sealing purposes (the associated data of `creds::sealed`): `sso-oidc:client` and
//! `sso-oidc:device-code`. No other sealed value uses the `sso-oidc:` prefix, so a client
//! secret never opens as a device code, a portal cookie or a session token, nor the reverse.
//!
//! - `register`: RegisterClient (`POST /client/register`);
//! - `device`: StartDeviceAuthorization (`POST /device_authorization`);
//! - `approval`: a device authorization's transitions (approve, deny, poll), for a store to hold;
//! - `portal`: the SSO portal API (`<public_url>/sso`, botocore's `sso`) the SDKs take role
//!   credentials from with the access token.

pub mod approval;
pub mod authorize;
pub mod device;
pub mod devices;
pub mod login;
pub mod portal;
pub mod register;
pub mod token;

use std::time::SystemTime;

use aws_lc_rs::rand::SecureRandom;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::clock::unix_seconds;
use crate::config::PublicUrl;
use crate::creds::{Keyring, MintError, sealed};
use crate::error::{ApiError, PortalFault, SsoOidcFault};

/// Where the API is served, under the public URL.
pub const BASE_PATH: &str = "/sso-oidc";

/// The longest sealed value accepted: what the keyring seals at most (a token carries the
/// person's identity, compressed; longer input is refused before opening).
const MAX_SEALED_INPUT: usize = sealed::MAX_SEALED_LEN;

/// The most a sealed value opens to, decompressed.
const MAX_PLAIN: usize = 256 * 1024;

/// What a sealed value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Client,
    /// A client id: the client's name and redirect URIs, authentic, not secret.
    ClientId,
    DeviceCode,
    /// A login handed from the verification page or the authorize endpoint to CreateToken.
    Login,
    AccessToken,
    RefreshToken,
    AuthorizationCode,
}

impl Purpose {
    fn aad(self) -> &'static str {
        match self {
            Self::Client => "sso-oidc:client",
            Self::ClientId => "sso-oidc:client-id",
            Self::DeviceCode => "sso-oidc:device-code",
            Self::Login => "sso-oidc:login",
            Self::AccessToken => "sso-oidc:access-token",
            Self::RefreshToken => "sso-oidc:refresh-token",
            Self::AuthorizationCode => "sso-oidc:authorization-code",
        }
    }
}

/// The sealed plaintext: the value and when it stops being accepted.
#[derive(Serialize, serde::Deserialize)]
struct Envelope<T> {
    /// Unix seconds; the value is refused from this instant on.
    expires: i64,
    value: T,
}

/// Why a sealed value was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsealed {
    /// Tampered, of another purpose, too long, or sealed by a key the keyring no longer holds.
    Refused,
    Expired,
}

fn seal<T: Serialize>(
    keyring: &Keyring,
    purpose: Purpose,
    value: &T,
    expires: SystemTime,
    rng: &dyn SecureRandom,
) -> Result<String, ApiError> {
    let envelope = Envelope {
        expires: unix_seconds(expires),
        value,
    };
    // Compressed: an identity's claims or attributes (group ids, role ARNs) repeat a lot, and
    // what is sealed has a size cap.
    let plain = postcard::to_stdvec(&envelope).map_err(|_| MintError::Seal);
    plain
        .and_then(|plain| zstd::bulk::compress(&plain, 3).map_err(|_| MintError::Seal))
        .and_then(|packed| sealed::seal(keyring, purpose.aad(), &packed, rng))
        .map_err(|e| match e {
            MintError::TooLarge { .. } => ApiError::Portal(PortalFault::IdentityTooLarge),
            other => ApiError::Internal(format!("sealing an SSO OIDC value: {other}")),
        })
}

fn open<T: DeserializeOwned>(
    keyring: &Keyring,
    purpose: Purpose,
    text: &str,
    now: SystemTime,
) -> Result<T, Unsealed> {
    let envelope: Envelope<T> = open_envelope(keyring, purpose, text)?;
    if unix_seconds(now) >= envelope.expires {
        return Err(Unsealed::Expired);
    }
    Ok(envelope.value)
}

/// The sealed value of `text`, authentic, whether or not it has expired (Logout ends a login
/// with an access token past its hour).
fn open_envelope<T: DeserializeOwned>(
    keyring: &Keyring,
    purpose: Purpose,
    text: &str,
) -> Result<Envelope<T>, Unsealed> {
    if text.len() > MAX_SEALED_INPUT {
        return Err(Unsealed::Refused);
    }
    let packed = sealed::open(keyring, purpose.aad(), text).map_err(|_| Unsealed::Refused)?;
    let plain = zstd::bulk::decompress(&packed, MAX_PLAIN).map_err(|_| Unsealed::Refused)?;
    postcard::from_bytes(&plain).map_err(|_| Unsealed::Refused)
}

/// Whether `url` names this service's start URL: the public URL, with or without its
/// trailing `/`.
fn is_start_url(public_url: &PublicUrl, url: &str) -> bool {
    url.strip_suffix('/').unwrap_or(url) == public_url.origin()
}

fn fault(f: SsoOidcFault) -> ApiError {
    ApiError::SsoOidc(f)
}

/// A JSON request body of the API, or `InvalidRequestException`.
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|_| {
        fault(SsoOidcFault::InvalidRequest(
            "The request body is not a JSON object of this operation's members.",
        ))
    })
}

/// The JSON body of an error: `{"error": ..., "error_description": ...}`, as AWS answers; the
/// exception name goes in the `x-amzn-errortype` header ([`ApiError::code`]).
pub fn error_body(err: &ApiError) -> serde_json::Value {
    let error = match err {
        ApiError::SsoOidc(f) => f.oauth_error(),
        e if e.status().is_server_error() => "server_error",
        _ => "invalid_request",
    };
    serde_json::json!({ "error": error, "error_description": err.message() })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use aws_lc_rs::rand::SystemRandom;

    use super::*;
    use crate::clock::from_unix_seconds;

    const T0: i64 = 1_795_000_000;

    #[test]
    fn a_sealed_value_opens_only_as_its_own_purpose_until_it_expires() {
        let keyring = Keyring::generate(from_unix_seconds(T0)).unwrap();
        let now = from_unix_seconds(T0);
        let value = "client-1".to_owned();
        let rng = SystemRandom::new();
        let secret = seal(
            &keyring,
            Purpose::Client,
            &value,
            now + Duration::from_secs(60),
            &rng,
        )
        .unwrap();
        let opened: String = open(&keyring, Purpose::Client, &secret, now).unwrap();
        assert_eq!(opened, value);
        assert_eq!(
            open::<String>(&keyring, Purpose::DeviceCode, &secret, now),
            Err(Unsealed::Refused),
            "a client secret is no device code"
        );
        let later = now + Duration::from_secs(60);
        assert_eq!(
            open::<String>(&keyring, Purpose::Client, &secret, later),
            Err(Unsealed::Expired)
        );
        let other = Keyring::generate(from_unix_seconds(T0)).unwrap();
        assert_eq!(
            open::<String>(&other, Purpose::Client, &secret, now),
            Err(Unsealed::Refused),
            "another keyring's"
        );
        let long = "A".repeat(MAX_SEALED_INPUT + 1);
        assert_eq!(
            open::<String>(&keyring, Purpose::Client, &long, now),
            Err(Unsealed::Refused)
        );
    }

    #[test]
    fn the_start_url_is_the_public_url_with_or_without_its_slash() {
        let url = PublicUrl::parse("https://sso.example.com").unwrap();
        assert!(is_start_url(&url, "https://sso.example.com"));
        assert!(is_start_url(&url, "https://sso.example.com/"));
        for other in [
            "https://sso.example.com/start",
            "http://sso.example.com",
            "https://sso.example.com.evil",
            "https://sso.example.com//",
            "",
        ] {
            assert!(!is_start_url(&url, other), "{other}");
        }
    }
}
