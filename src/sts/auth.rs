//! Who signed a request: SigV4 verification with the credentials this service issued.
//!
//! Temporary credentials (`ASIA…`) are verified by unsealing their session token with the
//! keyring: no store lookup on this path. Long-term user keys arrive with the users issue.

use std::time::SystemTime;

use super::error::StsError;
use super::{RequestMeta, StsState};
use crate::creds::sigv4::{ResolvedKey, SecretLookup, SigV4Error, SignedRequest};
use crate::creds::token::{self, SessionClaims};
use crate::creds::{Keyring, UnsealError};

/// The parts of an HTTP request SigV4 covers, owned (the server fills it in when a request
/// carries a signature).
#[derive(Clone)]
pub struct SignedParts {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    /// Hex SHA-256 of the body.
    pub payload_sha256_hex: String,
}

impl std::fmt::Debug for SignedParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Headers and query carry the signature and the session token: never printed.
        f.debug_struct("SignedParts")
            .field("method", &self.method)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Resolves `ASIA…` keys by opening their session token with the keyring (no store lookup).
pub struct SessionTokens<'a> {
    pub keyring: &'a Keyring,
    pub now: SystemTime,
}

impl SecretLookup for SessionTokens<'_> {
    type Principal = SessionClaims;

    fn secret_for(
        &self,
        access_key_id: &str,
        session_token: Option<&str>,
    ) -> Result<ResolvedKey<SessionClaims>, SigV4Error> {
        let token = session_token.ok_or(SigV4Error::InvalidClientTokenId)?;
        let claims = token::unseal(self.keyring, token).map_err(|e| match e {
            UnsealError::Malformed | UnsealError::UnknownKey | UnsealError::Invalid => {
                SigV4Error::InvalidClientTokenId
            }
        })?;
        if claims.access_key_id != access_key_id {
            return Err(SigV4Error::InvalidClientTokenId);
        }
        if claims.is_expired(self.now) {
            return Err(SigV4Error::ExpiredToken);
        }
        Ok(ResolvedKey {
            secret: claims.secret_access_key.clone(),
            principal: claims,
        })
    }
}

/// The verified caller of a signed request.
pub(crate) fn authenticate(
    state: &StsState,
    meta: &RequestMeta,
    now: SystemTime,
) -> Result<SessionClaims, StsError> {
    let parts = meta
        .signed
        .as_ref()
        .ok_or(StsError::Auth(SigV4Error::MissingAuthenticationToken))?;
    let request = SignedRequest {
        method: &parts.method,
        path: &parts.path,
        query: &parts.query,
        headers: &parts.headers,
        payload_sha256_hex: Some(&parts.payload_sha256_hex),
    };
    let keyring = state.keyring.snapshot();
    let lookup = SessionTokens {
        keyring: &keyring,
        now,
    };
    let caller = state
        .sigv4
        .verify(&request, &lookup, now)
        .map(|verified| verified.principal)
        .map_err(StsError::Auth)?;
    if state.revocations.is_revoked(&caller) {
        tracing::info!(access_key_id = %caller.access_key_id, "revoked session refused");
        return Err(StsError::Auth(SigV4Error::InvalidClientTokenId));
    }
    Ok(caller)
}
