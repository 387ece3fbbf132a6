//! StartDeviceAuthorization (`POST /sso-oidc/device_authorization`, RFC 8628 section 3.1-3.2):
//! an authenticated client gets a sealed device code to poll with and a user code the person
//! types at `<public_url>/device`.
//!
//! Checks, in order: the client id and secret ([`super::register::authenticate`]); `startUrl`
//! is the start URL (the public URL).

use std::time::{Duration, SystemTime};

use aws_lc_rs::rand::SecureRandom;
use serde::{Deserialize, Serialize};

use super::register::authenticate;
use super::{Purpose, Unsealed, fault, is_start_url, open, seal};
use crate::clock::unix_seconds;
use crate::config::PublicUrl;
use crate::creds::Keyring;
use crate::error::{ApiError, SsoOidcFault};

/// How long a device authorization may wait for the person (as AWS: 10 minutes).
pub const DEVICE_CODE_TTL: Duration = Duration::from_secs(600);
/// The least time between two polls, in seconds (as AWS).
pub const POLL_INTERVAL_SECONDS: u32 = 5;
/// The verification page, under the public URL.
pub const VERIFICATION_PATH: &str = "/device";

/// The user code's alphabet: consonants without vowels (no words) and without letters people
/// confuse, as RFC 8628 section 6.1 suggests: 20^8 codes, about 34.6 bits.
pub(super) const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
const USER_CODE_LEN: usize = 8;

/// StartDeviceAuthorization's input.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartDeviceAuthorizationRequest {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub start_url: Option<String>,
}

/// StartDeviceAuthorization's output.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StartDeviceAuthorizationResponse {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: u64,
    pub interval: u32,
}

impl std::fmt::Debug for StartDeviceAuthorizationResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartDeviceAuthorizationResponse")
            .field("device_code", &"<redacted>")
            .field("user_code", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// What a sealed device code carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceGrant {
    pub client_id: String,
    pub client_name: String,
    pub user_code: String,
    /// Unix seconds.
    pub issued_at: i64,
}

/// Start a device authorization at `now`: the answer, and the grant its device code carries
/// (for the shared record the verification page decides).
pub fn start_device_authorization(
    keyring: &Keyring,
    public_url: &PublicUrl,
    request: StartDeviceAuthorizationRequest,
    now: SystemTime,
    rng: &dyn SecureRandom,
) -> Result<(StartDeviceAuthorizationResponse, DeviceGrant), ApiError> {
    let (Some(client_id), Some(client_secret), Some(start_url)) =
        (request.client_id, request.client_secret, request.start_url)
    else {
        return Err(fault(SsoOidcFault::InvalidRequest(
            "clientId, clientSecret and startUrl are required.",
        )));
    };
    let registration = authenticate(keyring, &client_id, &client_secret, now)?;
    if !is_start_url(public_url, &start_url) {
        return Err(fault(SsoOidcFault::InvalidRequest(
            "startUrl must be this service's start URL (its public URL).",
        )));
    }
    let user_code = new_user_code(rng)?;
    let grant = DeviceGrant {
        client_id: registration.client_id,
        client_name: registration.client_name,
        user_code: user_code.clone(),
        issued_at: unix_seconds(now),
    };
    let device_code = seal(
        keyring,
        Purpose::DeviceCode,
        &grant,
        now + DEVICE_CODE_TTL,
        rng,
    )?;
    let verification_uri = public_url.join(VERIFICATION_PATH);
    let response = StartDeviceAuthorizationResponse {
        device_code,
        verification_uri_complete: format!("{verification_uri}?user_code={user_code}"),
        verification_uri,
        user_code,
        expires_in: DEVICE_CODE_TTL.as_secs(),
        interval: POLL_INTERVAL_SECONDS,
    };
    Ok((response, grant))
}

/// The grant of a device code issued here and not expired at `now`:
/// `ExpiredTokenException` once expired, `InvalidGrantException` for anything else.
pub fn open_device_code(
    keyring: &Keyring,
    device_code: &str,
    now: SystemTime,
) -> Result<DeviceGrant, ApiError> {
    open(keyring, Purpose::DeviceCode, device_code, now).map_err(|e| match e {
        Unsealed::Expired => fault(SsoOidcFault::ExpiredToken),
        Unsealed::Refused => fault(SsoOidcFault::InvalidGrant),
    })
}

/// A new user code, `XXXX-XXXX` over [`USER_CODE_ALPHABET`] (uniform: bytes at or above the
/// largest multiple of the alphabet's size are drawn again).
fn new_user_code(rng: &dyn SecureRandom) -> Result<String, ApiError> {
    let size = USER_CODE_ALPHABET.len();
    let limit = 256 - 256 % size;
    let mut code = String::with_capacity(USER_CODE_LEN + 1);
    let mut drawn = 0;
    while drawn < USER_CODE_LEN {
        let mut byte = [0u8; 1];
        rng.fill(&mut byte)
            .map_err(|_| ApiError::Internal("no randomness for a user code".to_owned()))?;
        let value = usize::from(byte[0]);
        if value >= limit {
            continue;
        }
        if drawn == USER_CODE_LEN / 2 {
            code.push('-');
        }
        code.push(char::from(USER_CODE_ALPHABET[value % size]));
        drawn += 1;
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;

    #[test]
    fn user_codes_are_two_groups_of_four_unambiguous_letters() {
        let rng = SystemRandom::new();
        for _ in 0..200 {
            let code = new_user_code(&rng).unwrap();
            let (a, b) = code.split_once('-').unwrap();
            assert_eq!((a.len(), b.len()), (4, 4), "{code}");
            assert!(
                a.bytes()
                    .chain(b.bytes())
                    .all(|c| USER_CODE_ALPHABET.contains(&c)),
                "{code}"
            );
        }
    }
}
