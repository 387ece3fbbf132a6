//! Identity providers: one [`IdpVerifier`] per configured IdP, built by kind, routed by issuer.
//!
//! A new IdP kind is one folder under `src/idp/` and one arm in [`build`].

pub mod oidc;
pub mod saml;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use crate::clock::Clock;
use crate::config::IdpConfig;
use crate::identity::{FederatedIdentity, ProviderKind};

/// What a caller presents to prove who they are.
#[derive(Clone, Copy)]
pub enum SubjectCredential<'a> {
    /// A compact JWS ID token (`AssumeRoleWithWebIdentity`).
    WebIdentityToken(&'a str),
    /// A base64 SAML 2.0 Response (`AssumeRoleWithSAML`).
    SamlResponse(&'a str),
}

impl std::fmt::Debug for SubjectCredential<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::WebIdentityToken(t) => write!(f, "WebIdentityToken(<{} bytes>)", t.len()),
            Self::SamlResponse(r) => write!(f, "SamlResponse(<{} bytes>)", r.len()),
        }
    }
}

/// One configured identity provider.
#[async_trait::async_trait]
pub trait IdpVerifier: Send + Sync {
    /// The configured name (file stem of its `idp-configs/NAME.toml`).
    fn name(&self) -> &str;
    /// The issuer string its tokens or assertions carry.
    fn issuer(&self) -> &str;
    /// Which protocol it speaks (OIDC IdPs are routed by issuer, SAML ones by name).
    fn kind(&self) -> ProviderKind;
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
    /// No SAML provider of that name (`PrincipalArn`).
    UnknownProvider,
    /// A SAML response failed a check.
    Saml(saml::SamlFault),
    /// The assertion was used before, within its validity window.
    Replay,
    /// A SAML attribute AWS requires is missing or invalid (`RoleSessionName`, ...).
    Attribute,
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
            Self::UnknownProvider => {
                "The PrincipalArn does not name a SAML provider of this service."
            }
            Self::Saml(fault) => fault.client_message(),
            Self::Replay => "The SAML assertion has already been used.",
            Self::Attribute => {
                "The SAML assertion lacks a required AWS attribute or one is invalid."
            }
        }
    }
}

/// Errors building a verifier from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0}")]
    Invalid(String),
}

/// Background work an IdP needs while the daemon serves (a metadata refresh loop): the
/// caller spawns it and aborts it at shutdown.
pub type Maintenance = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A verifier and the background work it needs, if any.
pub struct BuiltIdp {
    pub verifier: Arc<dyn IdpVerifier>,
    pub maintenance: Option<Maintenance>,
}

/// Build the verifier for one validated IdP configuration (the registry by kind). `clock` is
/// for the background work (a SAML `metadata_url` is refreshed, and judged by `validUntil`).
pub fn build(config: &IdpConfig, clock: Arc<dyn Clock>) -> Result<BuiltIdp, BuildError> {
    match config {
        IdpConfig::Oidc(c) => Ok(BuiltIdp {
            verifier: Arc::new(oidc::OidcVerifier::new(c.clone())?),
            maintenance: None,
        }),
        IdpConfig::Saml(c) => build_saml(c, clock).map_err(|e| BuildError::Invalid(e.to_string())),
    }
}

fn build_saml(
    settings: &saml::SamlIdpSettings,
    clock: Arc<dyn Clock>,
) -> Result<BuiltIdp, saml::SamlError> {
    let provider = Arc::new(saml::SamlProvider::new(settings.clone())?);
    if let Err(e) = provider.verifier().check_metadata_current(clock.now()) {
        tracing::warn!(idp = %settings.name, error = %e, "its responses are refused until the metadata is replaced");
    }
    let maintenance = match &settings.metadata_source {
        saml::MetadataSource::Url(remote) => {
            let refresher =
                saml::MetadataRefresher::new(Arc::clone(&provider), remote.clone(), clock)?;
            Some(Box::pin(refresher.run()) as Maintenance)
        }
        saml::MetadataSource::File(_) | saml::MetadataSource::Inline => None,
    };
    Ok(BuiltIdp {
        verifier: provider,
        maintenance,
    })
}

/// Every configured IdP: OIDC ones routed by issuer, SAML ones by provider name.
#[derive(Clone, Default)]
pub struct IdpRegistry {
    by_issuer: HashMap<String, Arc<dyn IdpVerifier>>,
    saml_by_name: HashMap<String, Arc<dyn IdpVerifier>>,
}

impl IdpRegistry {
    pub fn new(verifiers: impl IntoIterator<Item = Arc<dyn IdpVerifier>>) -> Self {
        let mut registry = Self::default();
        for v in verifiers {
            match v.kind() {
                ProviderKind::Oidc => registry.by_issuer.insert(v.issuer().to_owned(), v),
                ProviderKind::Saml => registry.saml_by_name.insert(v.name().to_owned(), v),
            };
        }
        registry
    }

    /// Verify a base64 SAML Response with the provider `principal_arn`
    /// (`arn:aws:iam::ACCOUNT:saml-provider/NAME`) names.
    pub async fn verify_saml(
        &self,
        principal_arn: &str,
        response: &str,
        now: SystemTime,
    ) -> Result<FederatedIdentity, VerifyError> {
        let unknown = || {
            VerifyError::invalid(
                TokenFault::UnknownProvider,
                format!("no SAML provider for {principal_arn:?}"),
            )
        };
        let name = saml_provider_name(principal_arn).ok_or_else(unknown)?;
        let verifier = self.saml_by_name.get(name).ok_or_else(unknown)?;
        verifier
            .verify(&SubjectCredential::SamlResponse(response), now)
            .await
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
        self.by_issuer.len() + self.saml_by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `NAME` of `arn:aws:iam::ACCOUNT:saml-provider/NAME` (12-digit account).
pub fn saml_provider_name(arn: &str) -> Option<&str> {
    let rest = arn.strip_prefix("arn:aws:iam::")?;
    let (account, name) = rest.split_once(":saml-provider/")?;
    (crate::config::is_account_id(account) && !name.is_empty()).then_some(name)
}
