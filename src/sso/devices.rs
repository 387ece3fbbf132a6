//! The device flow's shared state in the store: a device authorization's record, found by its
//! user code, created at StartDeviceAuthorization, decided at the verification page, polled and
//! redeemed by CreateToken, each step a compare-and-swap so two daemons never both redeem it.

use std::time::SystemTime;

use aws_lc_rs::rand::SecureRandom;

use super::approval::DeviceAuthorization;
use super::device::{self, StartDeviceAuthorizationRequest, StartDeviceAuthorizationResponse};
use super::fault;
use super::login::Login;
use super::register::Registration;
use super::token::TokenContext;
use crate::config::PublicUrl;
use crate::creds::Keyring;
use crate::error::{ApiError, SsoOidcFault};
use crate::origin::Origin;
use crate::store::Store;

/// What StartDeviceAuthorization works with.
pub struct StartContext<'a> {
    pub store: &'a Store,
    pub keyring: &'a Keyring,
    pub public_url: &'a PublicUrl,
    pub origin: &'a Origin,
    pub now: SystemTime,
    pub rng: &'a (dyn SecureRandom + Send + Sync),
}

/// StartDeviceAuthorization.
pub async fn start(
    cx: &StartContext<'_>,
    request: StartDeviceAuthorizationRequest,
) -> Result<StartDeviceAuthorizationResponse, ApiError> {
    device::start_device_authorization(cx.keyring, cx.public_url, request, cx.now, cx.rng)
        .map(|(response, _grant)| response)
}

/// CreateToken's device code grant: the login the person approved for this device code.
pub(super) async fn redeem(
    _cx: &TokenContext<'_>,
    _registration: &Registration,
    _device_code: &str,
) -> Result<Login, ApiError> {
    Err(fault(SsoOidcFault::UnsupportedGrantType))
}

/// A user code as the person typed it, in the form StartDeviceAuthorization gave it
/// (`XXXX-XXXX`: upper case, the hyphen optional, spaces ignored), or `None` if it cannot be
/// one.
pub fn normalize_user_code(input: &str) -> Option<String> {
    let letters: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if letters.len() != 8
        || !letters
            .bytes()
            .all(|b| device::USER_CODE_ALPHABET.contains(&b))
    {
        return None;
    }
    Some(format!("{}-{}", &letters[..4], &letters[4..]))
}

/// The pending (undecided, unexpired) authorization of `user_code`, if any.
pub async fn pending(
    _store: &Store,
    _user_code: &str,
    _now: SystemTime,
) -> Result<Option<DeviceAuthorization>, ApiError> {
    Ok(None)
}

/// Record the person's decision on `user_code`'s pending authorization: `Some(sealed login)`
/// approves, `None` denies; `InvalidUserCode` if it is not pending any more.
pub async fn decide(
    _store: &Store,
    _user_code: &str,
    _identity: Option<String>,
    _now: SystemTime,
) -> Result<(), ApiError> {
    Err(ApiError::Portal(crate::error::PortalFault::InvalidUserCode))
}
