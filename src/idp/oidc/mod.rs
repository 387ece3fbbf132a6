//! OpenID Connect ID tokens: discovery, JWKS cache, token checks.
//!
//! [`OidcVerifier::verify`] accepts a token only when every step passes, in this order:
//! 1. length 4..=20000 and a strict compact JWS: three unpadded base64url parts, JSON object
//!    header and payload with unique member names at any depth, no `crit` (RFC 7515 §4, §7.1;
//!    RFC 7519 §7.2);
//! 2. header `alg` in the IdP's allow-list, never `none` or HMAC (RFC 8725 §3.1; OIDC Core
//!    3.1.3.7 step 7);
//! 3. the key named by `kid`, or the only key without one, from the IdP's configured key source
//!    only (RFC 7515 §4.1.4; header `jku`/`jwk`/`x5u` are ignored): `use`, if present, is
//!    `sig`, the JWK's `alg`, if present, equals the header's, and the key type fits the
//!    algorithm (RFC 7517 §4.2-§4.4);
//! 4. the signature (RFC 7515 §5.2; OIDC Core 3.1.3.7 step 6);
//! 5. integer `exp` not passed, `nbf`/`iat` not ahead, within the leeway (RFC 7519 §4.1.4-§4.1.6;
//!    OIDC Core 3.1.3.7 steps 9-10);
//! 6. `iss` identical to the configured issuer (OIDC Core 3.1.3.7 step 2);
//! 7. a configured client id in `aud`, or Google's `azp` (OIDC Core 3.1.3.7 steps 3-5);
//! 8. a string `sub` (OIDC Core §2), and well-formed session tags;
//! 9. when the caller expects one (a sign-in that started here), `nonce` equal to it (OIDC Core
//!    3.1.3.7 step 11).
//!
//! Expiry is [`VerifyError::Expired`]; an IdP whose keys cannot be had is
//! [`VerifyError::Communication`]; everything else is [`VerifyError::Invalid`] with its
//! [`TokenFault`]. Details never quote the token.

mod claims;
mod discovery;
pub(crate) mod fetch;
mod jwks;
mod jws;
mod keys;
pub mod relying_party;
mod settings;
pub mod signer;

use std::time::SystemTime;

use jsonwebtoken::AlgorithmFamily;

use super::{BuildError, Expectations as Expected, IdpVerifier, SubjectCredential, VerifyError};
use crate::identity::{FederatedIdentity, ProviderKind};
use crate::metrics::FetchOutcomes;
use claims::Expectations;
use fetch::{Fetcher, check_url};
use jwks::{JwksLocation, KeyCache};
use jws::UnverifiedToken;
use keys::KeySet;
pub use settings::{ALLOWED_ALGORITHMS, OidcKeySource, OidcSettings};

/// Verifies the ID tokens of one OIDC identity provider.
#[derive(Debug)]
pub struct OidcVerifier {
    config: OidcSettings,
    keys: KeyCache,
}

impl OidcVerifier {
    /// Build the verifier; remote keys are fetched on first use, so an IdP that is down does
    /// not stop the daemon from starting. A `jwks_file` is read now.
    pub fn new(config: OidcSettings) -> Result<Self, BuildError> {
        Self::counting(config, FetchOutcomes::default())
    }

    /// [`new`](Self::new), each refresh of remote keys counted into `fetches`.
    pub fn counting(config: OidcSettings, fetches: FetchOutcomes) -> Result<Self, BuildError> {
        check_config(&config)?;
        let keys = key_cache(&config, fetches)?;
        Ok(Self { config, keys })
    }

    fn expectations<'a>(
        &'a self,
        expect: &Expected<'a>,
        algorithm: jsonwebtoken::Algorithm,
    ) -> Expectations<'a> {
        Expectations {
            issuer: &self.config.issuer,
            provider: &self.config.provider,
            audiences: &self.config.audiences,
            nonce: expect.nonce,
            access_token: expect.access_token.map(|t| (t, algorithm)),
        }
    }

    async fn verify_token(
        &self,
        token: &str,
        expect: &Expected<'_>,
        now: SystemTime,
    ) -> Result<FederatedIdentity, VerifyError> {
        let token = UnverifiedToken::parse(token)?;
        let algorithm = jws::allowed_algorithm(token.header().alg(), &self.config.algorithms)?;
        let key = self.keys.key_for(token.header().kid(), now).await?;
        key.check_algorithm(algorithm)?;
        token
            .verify_signature(&key, algorithm)?
            .check_times(now, self.config.leeway)?
            .into_identity(&self.expectations(expect, algorithm))
    }
}

/// The unverified `iss` of a compact JWS, for routing only: the token is length-checked and
/// parsed as strictly as for verification, but nothing it says is trusted.
pub fn peek_issuer(token: &str) -> Result<String, VerifyError> {
    jws::peek_issuer(token)
}

#[async_trait::async_trait]
impl IdpVerifier for OidcVerifier {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn issuer(&self) -> &str {
        &self.config.issuer
    }

    fn kind(&self) -> ProviderKind {
        ProviderKind::Oidc
    }

    async fn health(&self, now: SystemTime) -> super::IdpHealth {
        self.keys.health(now).await
    }

    async fn verify(
        &self,
        credential: &SubjectCredential<'_>,
        expect: &Expected<'_>,
        now: SystemTime,
    ) -> Result<FederatedIdentity, VerifyError> {
        let SubjectCredential::WebIdentityToken(token) = credential else {
            return Err(VerifyError::invalid(
                super::TokenFault::Malformed,
                "an OIDC provider verifies ID tokens only",
            ));
        };
        let result = self.verify_token(token, expect, now).await;
        if let Err(e) = &result {
            tracing::debug!(idp = %self.config.name, error = %e, "ID token refused");
        }
        result
    }
}

/// What the configuration layer already validated, checked again where it matters for safety.
fn check_config(config: &OidcSettings) -> Result<(), BuildError> {
    let invalid = |why: &str| Err(BuildError::Invalid(format!("IdP {}: {why}", config.name)));
    if config.algorithms.is_empty() {
        return invalid("no algorithms allowed");
    }
    if config
        .algorithms
        .iter()
        .any(|a| a.family() == AlgorithmFamily::Hmac)
    {
        return invalid("HMAC algorithms are never allowed");
    }
    if config.audiences.is_empty() {
        return invalid("no audiences configured");
    }
    Ok(())
}

fn key_cache(config: &OidcSettings, fetches: FetchOutcomes) -> Result<KeyCache, BuildError> {
    let name = &config.name;
    let remote = |location: JwksLocation| -> Result<KeyCache, BuildError> {
        Ok(KeyCache::remote(
            name,
            Fetcher::new(config.insecure_http)?.counting(fetches),
            location,
        ))
    };
    match &config.keys {
        OidcKeySource::Discovery => {
            check_url(&config.issuer, config.insecure_http)
                .map_err(|e| BuildError::Invalid(format!("IdP {name}: issuer: {e}")))?;
            remote(JwksLocation::Discovery {
                issuer: config.issuer.clone(),
            })
        }
        OidcKeySource::JwksUri(uri) => {
            check_url(uri, config.insecure_http)
                .map_err(|e| BuildError::Invalid(format!("IdP {name}: jwks_uri: {e}")))?;
            remote(JwksLocation::Uri(uri.clone()))
        }
        OidcKeySource::JwksFile(path) => {
            let body = std::fs::read(path).map_err(|e| {
                BuildError::Invalid(format!("IdP {name}: cannot read {}: {e}", path.display()))
            })?;
            let keys = KeySet::from_document(name, &body)
                .map_err(|e| BuildError::Invalid(format!("IdP {name}: {}: {e}", path.display())))?;
            fixed(name, keys)
        }
        OidcKeySource::Static(set) => fixed(name, KeySet::from_jwks(name, set)),
    }
}

/// Configured keys must include at least one usable signature key: an IdP without a pinned
/// key is refused (fail closed).
fn fixed(name: &str, keys: KeySet) -> Result<KeyCache, BuildError> {
    if keys.is_empty() {
        return Err(BuildError::Invalid(format!(
            "IdP {name}: the configured JWK Set has no usable signature key"
        )));
    }
    Ok(KeyCache::Fixed(keys))
}

#[cfg(test)]
mod tests;
