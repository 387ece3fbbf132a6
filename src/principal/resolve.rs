//! Credential resolution: the secret and the principal behind an access key id.
//!
//! Temporary credentials (`ASIA…`) are resolved by unsealing their session token with the
//! keyring: no store lookup on this path. Long-term keys (`AKIA…`) belong to IAM users: one
//! store read finds the user, whose secret is opened with the keyring; a deleted or inactive
//! key stops resolving the moment the store records the change.

use std::time::SystemTime;

use super::Signer;
use crate::creds::sigv4::{ResolvedKey, SecretLookup, SigV4Error};
use crate::creds::token::{self, SessionClaims};
use crate::creds::{Keyring, SharedKeyring, UnsealError};
use crate::store::Users;

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

/// Either kind of key: `AKIA…` through the store's user records, anything else as a session
/// token ([`SessionTokens`]).
pub(super) async fn resolve(
    keyring: &SharedKeyring,
    users: &dyn Users,
    access_key_id: &str,
    session_token: Option<&str>,
    now: SystemTime,
) -> Result<ResolvedKey<Signer>, SigV4Error> {
    let keyring = keyring.snapshot();
    if !access_key_id.starts_with("AKIA") {
        let sessions = SessionTokens {
            keyring: &keyring,
            now,
        };
        return sessions
            .secret_for(access_key_id, session_token)
            .map(|resolved| ResolvedKey {
                secret: resolved.secret,
                principal: Signer::Session(Box::new(resolved.principal)),
            });
    }
    // A long-term key signs without a session token (AWS refuses the pair).
    if session_token.is_some() {
        return Err(SigV4Error::InvalidClientTokenId);
    }
    let user = users
        .by_access_key(access_key_id)
        .await
        .map_err(|e| super::refused(&e))?
        .ok_or(SigV4Error::InvalidClientTokenId)?;
    if !user.key_is_active(access_key_id) {
        tracing::info!(access_key_id, user = %user.name, "inactive access key refused");
        return Err(SigV4Error::InvalidClientTokenId);
    }
    let secret = user
        .secret_of(access_key_id, &keyring)
        .ok_or(SigV4Error::InvalidClientTokenId)?;
    Ok(ResolvedKey {
        secret,
        principal: Signer::User(Box::new(user)),
    })
}
