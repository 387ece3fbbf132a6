//! Identity providers: one [`IdpVerifier`] per configured IdP, built by kind, routed by issuer.
//!
//! A new IdP kind is one folder under `src/idp/` and one arm in [`build`].

pub mod oidc;
pub mod saml;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use crate::config::IdpConfig;
use crate::identity::FederatedIdentity;

/// What a caller presents to prove who they are.
#[derive(Clone, Copy)]
pub enum SubjectCredential<'a> {
    /// A compact JWS ID token (`AssumeRoleWithWebIdentity`).
    WebIdentityToken(&'a str),
}

impl std::fmt::Debug for SubjectCredential<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::WebIdentityToken(t) => write!(f, "WebIdentityToken(<{} bytes>)", t.len()),
        }
    }
}

/// One configured identity provider.
#[async_trait::async_trait]
pub trait IdpVerifier: Send + Sync {
    /// The configured name (file stem of its `idp-configs/NAME.toml`).
    fn name(&self) -> &str;
    /// The issuer string tokens of this IdP carry (routing key).
    fn issuer(&self) -> &str;
    /// Verify the credential completely, or say which check failed.
    async fn verify(
        &self,
        credential: &SubjectCredential<'_>,
        now: SystemTime,
    ) -> Result<FederatedIdentity, VerifyError>;
}

/// Why a credential was not accepted. The client sees only the fixed message of
/// [`TokenFault::client_message`]; `detail` strings go to the log.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The token's lifetime is over (`ExpiredTokenException`).
    #[error("token expired")]
    Expired,
    /// Any other fault of the token itself (`InvalidIdentityToken`).
    #[error("invalid token: {fault:?}: {detail}")]
    Invalid { fault: TokenFault, detail: String },
    /// The IdP's keys could not be obtained and none are cached (`IDPCommunicationError`).
    #[error("identity provider unreachable: {0}")]
    Communication(String),
}

impl VerifyError {
    pub fn invalid(fault: TokenFault, detail: impl Into<String>) -> Self {
        Self::Invalid {
            fault,
            detail: detail.into(),
        }
    }
}

/// The check a token failed, in the general words AWS uses towards clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFault {
    /// Not a well-formed compact JWS (or bad base64 / JSON inside it).
    Malformed,
    /// No configured IdP has this issuer.
    UnknownIssuer,
    /// `iss` differs from the configured issuer.
    Issuer,
    /// No configured audience in `aud` (or `azp`).
    Audience,
    /// `alg` outside the IdP's allow-list, or disagreeing with the key.
    Algorithm,
    /// No key with that `kid`, even after a refresh.
    UnknownKey,
    /// The signature does not verify.
    Signature,
    /// `nbf` (or `iat`) lies in the future beyond the leeway.
    NotYetValid,
    /// A required claim is missing or has the wrong type (`sub`, `exp`, integer timestamps).
    Claims,
}

impl TokenFault {
    /// The fixed client-facing message (never derived from input).
    pub fn client_message(self) -> &'static str {
        match self {
            Self::Malformed => "The ID token provided is not a valid JWT.",
            Self::UnknownIssuer => {
                "No OpenIDConnect provider found in your account for the token's issuer."
            }
            Self::Issuer => "Incorrect token issuer.",
            Self::Audience => "Incorrect token audience.",
            Self::Algorithm => "The token's signing algorithm is not allowed for this provider.",
            Self::UnknownKey => "The token's signing key is not known to the provider.",
            Self::Signature => "The token signature could not be verified.",
            Self::NotYetValid => "The token is not yet valid.",
            Self::Claims => "The token is missing a required claim or has a malformed claim.",
        }
    }
}

/// Errors building a verifier from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0}")]
    Invalid(String),
}

/// Build the verifier for one validated IdP configuration (the registry by kind).
pub fn build(config: &IdpConfig) -> Result<Arc<dyn IdpVerifier>, BuildError> {
    match config {
        IdpConfig::Oidc(c) => Ok(Arc::new(oidc::OidcVerifier::new(c.clone())?)),
    }
}

/// Every configured IdP, routed by issuer.
#[derive(Clone, Default)]
pub struct IdpRegistry {
    by_issuer: HashMap<String, Arc<dyn IdpVerifier>>,
}

impl IdpRegistry {
    pub fn new(verifiers: impl IntoIterator<Item = Arc<dyn IdpVerifier>>) -> Self {
        let by_issuer = verifiers
            .into_iter()
            .map(|v| (v.issuer().to_owned(), v))
            .collect();
        Self { by_issuer }
    }

    /// Verify a web identity token with the IdP its (unverified) `iss` names.
    pub async fn verify_web_identity(
        &self,
        token: &str,
        now: SystemTime,
    ) -> Result<FederatedIdentity, VerifyError> {
        let issuer = oidc::peek_issuer(token)?;
        let verifier = self.by_issuer.get(&issuer).ok_or_else(|| {
            VerifyError::invalid(
                TokenFault::UnknownIssuer,
                format!("no IdP for issuer {issuer:?}"),
            )
        })?;
        verifier
            .verify(&SubjectCredential::WebIdentityToken(token), now)
            .await
    }

    pub fn len(&self) -> usize {
        self.by_issuer.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_issuer.is_empty()
    }
}
