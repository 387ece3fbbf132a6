//! Identity providers: one [`IdpVerifier`] per configured IdP, built by kind, routed by issuer.
//!
//! A new IdP kind is one folder under `src/idp/` (owning its settings type) and one arm in
//! [`IdpSettings`] and [`build`].

pub mod oidc;
pub mod saml;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use crate::arn::SamlProviderArn;
use crate::clock::Clock;
use crate::identity::{FederatedIdentity, ProviderKind};
use crate::metrics::{FetchOutcomes, Metrics};
use crate::store::ReplayCache;

/// One identity provider's settings, by kind (validated by the configuration layer).
#[derive(Debug, Clone)]
pub enum IdpSettings {
    Oidc(oidc::OidcSettings),
    Saml(saml::SamlIdpSettings),
}

impl IdpSettings {
    /// The configured name (file stem, or a SAML provider's `name`).
    pub fn name(&self) -> &str {
        match self {
            Self::Oidc(c) => &c.name,
            Self::Saml(c) => &c.name,
        }
    }

    /// Whether a verifier built from `self` may stand for one built from `other`: the same
    /// configuration, whatever metadata a `metadata_url` served at each reading (the running
    /// verifier keeps its own, refreshed copy). A reload keeps the verifier, its key cache and
    /// its refresh loop when this holds.
    pub fn same_configuration(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Oidc(a), Self::Oidc(b)) => a == b,
            (Self::Saml(a), Self::Saml(b)) => {
                let refreshed = |s: &saml::SamlIdpSettings| {
                    let mut s = s.clone();
                    if let saml::MetadataSource::Url(remote) = &mut s.metadata_source {
                        remote.loaded = saml::Loaded::Nothing(String::new());
                        s.metadata = None;
                    }
                    s
                };
                refreshed(a) == refreshed(b)
            }
            _ => false,
        }
    }
}

/// What the caller of a check expects beyond the IdP's own settings: the values a sign-in that
/// started at this service sent to the IdP. The STS API has none; the portal has both.
#[derive(Debug, Clone, Copy, Default)]
pub struct Expectations<'a> {
    /// The OIDC `nonce` of the authorization request: the ID token must carry it.
    pub nonce: Option<&'a str>,
    /// The access token the token endpoint returned with the ID token (code flow): the ID
    /// token's `at_hash`, when present, must be its hash (OIDC Core §3.1.3.8).
    pub access_token: Option<&'a str>,
    /// The SAML AuthnRequest ID: the response must answer it (`InResponseTo`).
    pub in_response_to: Option<&'a str>,
}

impl Expectations<'_> {
    /// Nothing expected: a credential presented on its own (the STS API, an IdP-initiated login).
    pub const NONE: Expectations<'static> = Expectations {
        nonce: None,
        access_token: None,
        in_response_to: None,
    };
}

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
    /// Whether the IdP can verify credentials now (its keys or metadata at hand), and why not.
    /// May fetch keys that were never fetched (subject to the key cache's own rate limit).
    async fn health(&self, now: SystemTime) -> IdpHealth;
    /// Where a sign-in that starts at this service sends people with a SAML AuthnRequest (the
    /// HTTP-Redirect SingleSignOnService of the metadata in use now, refreshed or not); `None`
    /// for kinds without one, or without metadata yet.
    fn sso_redirect_url(&self) -> Option<String> {
        None
    }
    /// Verify the credential completely, with what the caller `expect`s, or say which check
    /// failed.
    async fn verify(
        &self,
        credential: &SubjectCredential<'_>,
        expect: &Expectations<'_>,
        now: SystemTime,
    ) -> Result<FederatedIdentity, VerifyError>;
}

/// What `/readyz` reports of one IdP.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IdpHealth {
    pub ready: bool,
    /// What it has (keys, metadata and until when) or why it cannot verify.
    pub detail: String,
}

/// Why a credential was not accepted. The client sees only the fixed words of the fault
/// (`error`'s table); `detail` strings go to the log.
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
    /// The daemon could not do its part (the replay cache failed): no fault of the credential.
    #[error("internal: {0}")]
    Internal(String),
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
    /// The ID token's `nonce` is not the one the sign-in sent.
    Nonce,
    /// The ID token's `at_hash` is not the hash of the access token it came with.
    AccessTokenHash,
    /// No SAML provider of that name (`PrincipalArn`).
    UnknownProvider,
    /// A SAML response failed a check.
    Saml(saml::SamlFault),
    /// The assertion was used before, within its validity window.
    Replay,
    /// A SAML attribute AWS requires is missing or invalid (`RoleSessionName`, ...).
    Attribute,
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

/// Build the verifier for one validated IdP (the registry by kind). `clock` is for the
/// background work (a SAML `metadata_url` is refreshed, and judged by `validUntil`); `replay`
/// remembers the one-time credentials a kind has (SAML assertion IDs); the refreshes of keys
/// and metadata are counted in `metrics`.
pub fn build(
    settings: &IdpSettings,
    clock: Arc<dyn Clock>,
    replay: Arc<dyn ReplayCache>,
    metrics: &Metrics,
) -> Result<BuiltIdp, BuildError> {
    match settings {
        IdpSettings::Oidc(c) => Ok(BuiltIdp {
            verifier: Arc::new(oidc::OidcVerifier::counting(
                c.clone(),
                metrics.fetch_outcomes(&c.name, "jwks"),
            )?),
            maintenance: None,
        }),
        IdpSettings::Saml(c) => {
            let fetches = metrics.fetch_outcomes(&c.name, "metadata");
            build_saml(c, clock, replay, fetches).map_err(|e| BuildError::Invalid(e.to_string()))
        }
    }
}

fn build_saml(
    settings: &saml::SamlIdpSettings,
    clock: Arc<dyn Clock>,
    replay: Arc<dyn ReplayCache>,
    fetches: FetchOutcomes,
) -> Result<BuiltIdp, saml::SamlError> {
    let provider = Arc::new(saml::SamlProvider::new(settings.clone(), replay)?);
    match provider.verifier() {
        Some(verifier) => {
            if let Err(e) = verifier.check_metadata_current(clock.now()) {
                tracing::warn!(idp = %settings.name, error = %e, "its responses are refused until the metadata is replaced");
            }
        }
        None => {
            tracing::warn!(idp = %settings.name, "no metadata: its responses are refused (IDPCommunicationError) until it can be fetched");
        }
    }
    let maintenance = match &settings.metadata_source {
        saml::MetadataSource::Url(remote) => {
            let refresher = saml::MetadataRefresher::new(
                Arc::clone(&provider),
                remote.clone(),
                clock,
                fetches,
            )?;
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
    /// The settings each verifier was built from, by IdP name, when the registry was built from
    /// settings: what a reload compares to keep a verifier.
    settings: HashMap<String, (IdpSettings, Arc<dyn IdpVerifier>)>,
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

    /// The registry of verifiers built from the settings beside them.
    pub fn with_settings(built: Vec<(IdpSettings, Arc<dyn IdpVerifier>)>) -> Self {
        let mut registry = Self::new(built.iter().map(|(_, v)| Arc::clone(v)));
        registry.settings = built
            .into_iter()
            .map(|(s, v)| (s.name().to_owned(), (s, v)))
            .collect();
        registry
    }

    /// The IdP named `name`: the settings it was built from, and its verifier.
    pub fn built(&self, name: &str) -> Option<&(IdpSettings, Arc<dyn IdpVerifier>)> {
        self.settings.get(name)
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
        let arn = SamlProviderArn::parse(principal_arn).ok_or_else(unknown)?;
        let verifier = self.saml_by_name.get(&arn.name).ok_or_else(unknown)?;
        verifier
            .verify(
                &SubjectCredential::SamlResponse(response),
                &Expectations::NONE,
                now,
            )
            .await
    }

    /// Verify a base64 SAML Response posted to the portal's assertion consumer, which names no
    /// provider: with the SAML provider `name` when given (the login started here, its flow
    /// names the IdP), else with the one SAML provider whose entityID is the response's
    /// (unverified) Issuer ([`saml::peek_issuer`]); `expect` as the caller has it.
    /// No such provider, or several with that entityID (the response cannot tell which it
    /// is for): [`TokenFault::UnknownProvider`].
    pub async fn verify_posted_saml(
        &self,
        name: Option<&str>,
        response: &str,
        expect: &Expectations<'_>,
        now: SystemTime,
    ) -> Result<FederatedIdentity, VerifyError> {
        let unknown = |detail: String| VerifyError::invalid(TokenFault::UnknownProvider, detail);
        let verifier = match name {
            Some(name) => self
                .saml_by_name
                .get(name)
                .ok_or_else(|| unknown(format!("no SAML provider named {name:?}")))?,
            None => {
                let issuer = saml::peek_issuer(response)
                    .ok_or_else(|| unknown("the response names no Issuer".to_owned()))?;
                let mut matching = self.saml_by_name.values().filter(|v| v.issuer() == issuer);
                match (matching.next(), matching.next()) {
                    (Some(only), None) => only,
                    (None, _) => {
                        return Err(unknown(format!(
                            "no SAML provider has the entityID {:?}",
                            truncated(&issuer)
                        )));
                    }
                    (Some(_), Some(_)) => {
                        return Err(unknown(format!(
                            "several SAML providers have the entityID {:?}: an IdP-initiated \
                             response cannot tell which it is for",
                            truncated(&issuer)
                        )));
                    }
                }
            }
        };
        verifier
            .verify(&SubjectCredential::SamlResponse(response), expect, now)
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
            .verify(
                &SubjectCredential::WebIdentityToken(token),
                &Expectations::NONE,
                now,
            )
            .await
    }

    pub fn len(&self) -> usize {
        self.by_issuer.len() + self.saml_by_name.len()
    }

    /// Every IdP, OIDC ones first.
    pub fn all(&self) -> impl Iterator<Item = &Arc<dyn IdpVerifier>> {
        self.by_issuer.values().chain(self.saml_by_name.values())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// At most 64 characters of an attacker-chosen string, for log details.
pub(crate) fn truncated(s: &str) -> String {
    s.chars().take(64).collect()
}
