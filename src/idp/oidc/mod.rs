//! OpenID Connect ID tokens: discovery, JWKS cache, token checks. (Being implemented.)

use std::time::SystemTime;

use super::{BuildError, IdpVerifier, SubjectCredential, TokenFault, VerifyError};
use crate::config::OidcIdpConfig;
use crate::identity::FederatedIdentity;

pub struct OidcVerifier {
    config: OidcIdpConfig,
}

impl OidcVerifier {
    pub fn new(config: OidcIdpConfig) -> Result<Self, BuildError> {
        Ok(Self { config })
    }
}

/// The unverified `iss` of a compact JWS, for routing only.
pub fn peek_issuer(_token: &str) -> Result<String, VerifyError> {
    Err(VerifyError::invalid(TokenFault::Malformed, "not implemented"))
}

#[async_trait::async_trait]
impl IdpVerifier for OidcVerifier {
    fn name(&self) -> &str {
        &self.config.name
    }
    fn issuer(&self) -> &str {
        &self.config.issuer
    }
    async fn verify(
        &self,
        _credential: &SubjectCredential<'_>,
        _now: SystemTime,
    ) -> Result<FederatedIdentity, VerifyError> {
        Err(VerifyError::invalid(TokenFault::Malformed, "not implemented"))
    }
}
