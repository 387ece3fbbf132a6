//! The device flow's shared state in the store: a device authorization's record, found by its
//! user code, created at StartDeviceAuthorization, decided at the verification page, polled and
//! redeemed by CreateToken, each step a compare-and-swap so two daemons never both redeem it.
//!
//! The store holds the record as bytes (postcard of [`DeviceAuthorization`]); an approval's
//! identity in it is the login sealed by the keyring, never in clear.

use std::time::SystemTime;

use aws_lc_rs::rand::SecureRandom;

use super::approval::{DecideError, DeviceAuthorization};
use super::device::{self, StartDeviceAuthorizationRequest, StartDeviceAuthorizationResponse};
use super::login::{Login, open_login};
use super::register::Registration;
use super::{Unsealed, fault};
use crate::clock::unix_seconds;
use crate::config::PublicUrl;
use crate::creds::Keyring;
use crate::error::{ApiError, PortalFault, SsoOidcFault};
use crate::origin::Origin;
use crate::store::{DeviceRecord, Store};

/// How often a compare-and-swap that lost a race is tried again.
const ATTEMPTS: usize = 4;

/// What StartDeviceAuthorization works with.
pub struct StartContext<'a> {
    pub store: &'a Store,
    pub keyring: &'a Keyring,
    pub public_url: &'a PublicUrl,
    pub origin: &'a Origin,
    pub now: SystemTime,
    pub rng: &'a (dyn SecureRandom + Send + Sync),
}

fn encode(record: &DeviceAuthorization) -> Result<Vec<u8>, ApiError> {
    postcard::to_stdvec(record)
        .map_err(|e| ApiError::Internal(format!("encoding a device authorization: {e}")))
}

fn decode(bytes: &[u8]) -> Result<DeviceAuthorization, ApiError> {
    postcard::from_bytes(bytes).map_err(|e| {
        ApiError::Internal(format!(
            "a stored device authorization does not decode: {e}"
        ))
    })
}

/// StartDeviceAuthorization: the answer, once its pending record is durable in the store (a
/// user code already in use, about one in 20^8, is drawn again).
pub async fn start(
    cx: &StartContext<'_>,
    request: StartDeviceAuthorizationRequest,
) -> Result<StartDeviceAuthorizationResponse, ApiError> {
    let now_unix = unix_seconds(cx.now);
    let requested_from = cx
        .origin
        .source_ip
        .map_or_else(|| "an unknown address".to_owned(), |ip| ip.to_string());
    for _ in 0..ATTEMPTS {
        let again = StartDeviceAuthorizationRequest {
            client_id: request.client_id.clone(),
            client_secret: request.client_secret.clone(),
            start_url: request.start_url.clone(),
        };
        let (response, grant) =
            device::start_device_authorization(cx.keyring, cx.public_url, again, cx.now, cx.rng)?;
        let expires_at = unix_seconds(cx.now + device::DEVICE_CODE_TTL);
        let record = DeviceAuthorization::new(&grant, requested_from.clone(), expires_at);
        let stored = DeviceRecord {
            user_code: grant.user_code.clone(),
            expires_at,
            state: encode(&record)?,
        };
        if cx.store.devices.create_device(&stored, now_unix).await? {
            tracing::info!(client = %grant.client_name, "device authorization started");
            return Ok(response);
        }
        tracing::warn!("a new user code was in use; drawing another");
    }
    Err(ApiError::Internal("no free user code".into()))
}

/// CreateToken's device code grant: the login the person approved for this device code, once.
pub(super) async fn redeem(
    store: &Store,
    keyring: &Keyring,
    now: SystemTime,
    registration: &Registration,
    device_code: &str,
) -> Result<Login, ApiError> {
    let grant = device::open_device_code(keyring, device_code, now)?;
    if grant.client_id != registration.client_id {
        tracing::info!("device code of another client");
        return Err(fault(SsoOidcFault::InvalidGrant));
    }
    let devices = &store.devices;
    let now_unix = unix_seconds(now);
    for _ in 0..ATTEMPTS {
        let Some(stored) = devices.device(&grant.user_code, now_unix).await? else {
            // Purged after expiry (the device code itself expires with it).
            return Err(fault(SsoOidcFault::ExpiredToken));
        };
        let record = decode(&stored.state)?;
        let (next, answer) = record.poll(&registration.client_id, now_unix);
        if next != record {
            let swapped = devices
                .swap_device(&grant.user_code, &stored.state, &encode(&next)?)
                .await?;
            if !swapped {
                // Decided or polled meanwhile (another daemon): read it again.
                continue;
            }
        }
        let sealed = answer.map_err(fault)?;
        let login = open_login(keyring, &sealed, now).map_err(|e| match e {
            Unsealed::Expired => fault(SsoOidcFault::ExpiredToken),
            Unsealed::Refused => fault(SsoOidcFault::InvalidGrant),
        })?;
        if login.client_id != registration.client_id {
            return Err(fault(SsoOidcFault::InvalidGrant));
        }
        return Ok(login);
    }
    Err(fault(SsoOidcFault::SlowDown))
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
    store: &Store,
    user_code: &str,
    now: SystemTime,
) -> Result<Option<DeviceAuthorization>, ApiError> {
    let now_unix = unix_seconds(now);
    let Some(stored) = store.devices.device(user_code, now_unix).await? else {
        return Ok(None);
    };
    let record = decode(&stored.state)?;
    let pending =
        record.decision == super::approval::Decision::Pending && !record.expired(now_unix);
    Ok(pending.then_some(record))
}

/// Record the person's decision on `user_code`'s pending authorization: `Some(sealed login)`
/// approves, `None` denies; `InvalidUserCode` if it is not pending any more.
pub async fn decide(
    store: &Store,
    user_code: &str,
    identity: Option<String>,
    now: SystemTime,
) -> Result<(), ApiError> {
    let now_unix = unix_seconds(now);
    let gone = || ApiError::Portal(PortalFault::InvalidUserCode);
    for _ in 0..ATTEMPTS {
        let stored = store
            .devices
            .device(user_code, now_unix)
            .await?
            .ok_or_else(gone)?;
        let record = decode(&stored.state)?;
        let next = record
            .decide(identity.clone(), now_unix)
            .map_err(|e: DecideError| {
                tracing::info!(reason = %e, "device decision refused");
                gone()
            })?;
        if store
            .devices
            .swap_device(user_code, &stored.state, &encode(&next)?)
            .await?
        {
            return Ok(());
        }
    }
    Err(gone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_read_as_people_type_them() {
        assert_eq!(
            normalize_user_code("bcdf-ghjk").as_deref(),
            Some("BCDF-GHJK")
        );
        assert_eq!(
            normalize_user_code(" BCDF GHJK ").as_deref(),
            Some("BCDF-GHJK")
        );
        assert_eq!(
            normalize_user_code("BCDFGHJK").as_deref(),
            Some("BCDF-GHJK")
        );
        for bad in [
            "",
            "BCDF-GHJ",
            "BCDF-GHJKL",
            "ABCD-EFGH",
            "BCDF-GHJ1",
            "ВCDF-GHJK",
        ] {
            assert_eq!(normalize_user_code(bad), None, "{bad}");
        }
    }
}
