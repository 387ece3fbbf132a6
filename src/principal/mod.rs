//! Who is calling and what they may do, whatever the protocol: the parts of a request SigV4
//! covers, the credentials behind an access key id, the caller model (role session, federated
//! user, IAM user) and the caller's permissions.
//!
//! Verification is three steps: parse the signature (sync), resolve the key (async: a
//! temporary key `ASIA…` by opening its session token with the keyring, no store lookup; a
//! long-term key `AKIA…` by reading its user from the store), check the signature (sync); then
//! revoked sessions are refused, from the revocation feed the store keeps current. While the
//! store cannot refresh that feed (its database does not answer), sessions are still checked
//! against it for the store's bound, then refused as unavailable (fail closed).
//!
//! `sts/`, `authz` and the portal use this module; it uses none of them.

mod caller;
mod key_use;
mod message;
mod mfa;
mod permissions;
mod resolve;
mod signed;

use std::sync::Arc;
use std::time::SystemTime;

pub use caller::{Caller, PrincipalType, Signer};
pub use message::{decode_message, encode_message};
pub use mfa::MfaCode;
pub use permissions::{IdentityPolicies, Permissions, caller_user, permissions};
pub use resolve::SessionTokens;
pub use signed::SignedParts;

use crate::config::Federation;
use crate::creds::sigv4::{self, SigV4Error};
use crate::creds::{SessionKind, SharedKeyring};
use crate::store::{ReplayCache, RevocationFeed, Revocations, Store, StoreError, Users};

/// Verifies signed requests with every credential this service knows.
pub struct Authenticator {
    keyring: SharedKeyring,
    users: Arc<dyn Users>,
    /// MFA codes already used.
    replay: Arc<dyn ReplayCache>,
    revocations: RevocationFeed,
    /// How far `revocations` can be trusted.
    revocation_store: Arc<dyn Revocations>,
    sigv4: sigv4::Verifier,
    /// Records when long-term keys were last used, at most once an hour per key.
    key_use: key_use::KeyUseRecorder,
}

/// A verified signed request: who signed it, and the service its signature is scoped to.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub caller: Caller,
    pub service: String,
}

impl Authenticator {
    pub fn new(keyring: SharedKeyring, store: &Store) -> Self {
        Self {
            keyring,
            users: Arc::clone(&store.users),
            replay: Arc::clone(&store.replay),
            revocations: store.revocations.feed(),
            revocation_store: Arc::clone(&store.revocations),
            sigv4: sigv4::Verifier::default(),
            key_use: key_use::KeyUseRecorder::new(Arc::clone(&store.key_usage)),
        }
    }

    /// The keyring session tokens and sealed messages are opened with.
    pub fn keyring(&self) -> &SharedKeyring {
        &self.keyring
    }

    /// The users, for the policies and MFA devices of user callers.
    pub fn users(&self) -> &dyn Users {
        self.users.as_ref()
    }

    /// Verify a request signed for `service` (the credential scope's service: `sts` for the
    /// STS endpoint), then refuse revoked sessions and the sessions of roles that are no longer
    /// in `federation` (removed, or created again: another unique id).
    pub async fn verify(
        &self,
        parts: &SignedParts,
        service: &str,
        federation: &Federation,
        now: SystemTime,
    ) -> Result<Authenticated, Refused> {
        let request = parts.request();
        let parsed = self.sigv4.parse(&request, now).map_err(|error| Refused {
            error,
            access_key_id: None,
        })?;
        let access_key_id = parsed.access_key_id().to_owned();
        self.verify_parsed(&request, parsed, service, federation, now)
            .await
            .map_err(|error| Refused {
                error,
                access_key_id: Some(access_key_id),
            })
    }

    async fn verify_parsed(
        &self,
        request: &sigv4::SignedRequest<'_>,
        parsed: sigv4::ParsedSignature<'_>,
        service: &str,
        federation: &Federation,
        now: SystemTime,
    ) -> Result<Authenticated, SigV4Error> {
        if parsed.service() != service {
            return Err(SigV4Error::WrongService);
        }
        let resolved = resolve::resolve(
            &self.keyring,
            self.users.as_ref(),
            parsed.access_key_id(),
            parsed.session_token(),
            now,
        )
        .await?;
        let verified = self.sigv4.check(request, parsed, resolved)?;
        if let Signer::Session(claims) = &verified.principal {
            let freshness = self.revocation_store.freshness(now);
            if !freshness.trusted() {
                tracing::warn!(access_key_id = %claims.access_key_id, ?freshness, "a session refused: the revocation list is stale beyond its bound");
                return Err(SigV4Error::LookupUnavailable);
            }
        }
        if let Signer::Session(claims) = &verified.principal
            && self.revocations.borrow().covers(
                &claims.access_key_id,
                &claims.session.identity_arn,
                claims.issued_at,
            )
        {
            tracing::info!(access_key_id = %claims.access_key_id, "revoked session refused");
            return Err(SigV4Error::InvalidClientTokenId);
        }
        if let Signer::Session(claims) = &verified.principal
            && claims.session.kind == SessionKind::AssumedRole
            && federation
                .roles
                .get(&claims.session.identity_arn)
                .is_none_or(|role| role.role_id != claims.session.identity_id)
        {
            tracing::info!(access_key_id = %claims.access_key_id, role = %claims.session.identity_arn, "a session of a role that is gone refused");
            return Err(SigV4Error::InvalidClientTokenId);
        }
        if let Signer::User(_) = &verified.principal {
            self.key_use
                .record(&verified.access_key_id, &verified.service, now);
        }
        Ok(Authenticated {
            caller: Caller {
                access_key_id: verified.access_key_id,
                signer: verified.principal,
            },
            service: verified.service,
        })
    }
}

/// A refused signed request: why, and the access key id it claimed once its signature could be
/// read (the audit trail records it: an id is no secret).
#[derive(Debug)]
pub struct Refused {
    pub error: SigV4Error,
    pub access_key_id: Option<String>,
}

/// A store failure while resolving a caller: logged, and the request refused (fail closed);
/// while the database does not answer, as unavailable (the caller retries) rather than as an
/// invalid key.
fn refused(e: &StoreError) -> SigV4Error {
    tracing::error!(error = %e, "user lookup failed");
    match e {
        StoreError::Unavailable(_) => SigV4Error::LookupUnavailable,
        _ => SigV4Error::InvalidClientTokenId,
    }
}
