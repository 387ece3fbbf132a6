//! A SAML provider as the registry sees it: [`SamlVerifier`] behind the [`IdpVerifier`] seam,
//! run off the async workers, its result mapped to the common [`FederatedIdentity`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::Semaphore;

use super::{SamlError, SamlIdpSettings, SamlVerifier, VerifiedAssertion};
use crate::identity::{FederatedIdentity, ProviderKind, SamlFacts, SessionTags};
use crate::idp::{IdpVerifier, SubjectCredential, TokenFault, VerifyError};

/// The AWS SAML attribute namespace.
const AWS_ATTRIBUTE: &str = "https://aws.amazon.com/SAML/Attributes/";

/// One configured SAML IdP.
pub struct SamlProvider {
    verifier: Arc<SamlVerifier>,
    /// Verification is CPU-bound (~1 ms): at most one per core at a time, so a burst of SAML
    /// sign-ins queues here instead of starving OIDC requests of blocking threads.
    permits: Arc<Semaphore>,
}

impl SamlProvider {
    pub fn new(settings: SamlIdpSettings) -> Result<Self, SamlError> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(Self {
            verifier: Arc::new(SamlVerifier::new(settings)?),
            permits: Arc::new(Semaphore::new(cores)),
        })
    }
}

#[async_trait::async_trait]
impl IdpVerifier for SamlProvider {
    fn name(&self) -> &str {
        &self.verifier.settings().name
    }

    fn issuer(&self) -> &str {
        &self.verifier.settings().entity_id
    }

    fn kind(&self) -> ProviderKind {
        ProviderKind::Saml
    }

    async fn verify(
        &self,
        credential: &SubjectCredential<'_>,
        now: SystemTime,
    ) -> Result<FederatedIdentity, VerifyError> {
        let SubjectCredential::SamlResponse(response) = credential else {
            return Err(VerifyError::invalid(
                TokenFault::Malformed,
                "a SAML provider verifies SAML responses only",
            ));
        };
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| VerifyError::Communication("SAML verification pool closed".into()))?;
        let verifier = Arc::clone(&self.verifier);
        let response = (*response).to_owned();
        let verified = tokio::task::spawn_blocking(move || verifier.verify(&response, now))
            .await
            .map_err(|e| VerifyError::Communication(format!("SAML verification task: {e}")))?;
        match verified {
            Ok(assertion) => Ok(identity(
                self.name(),
                assertion,
                self.verifier.settings().clock_skew,
            )),
            Err(SamlError::Expired) => Err(VerifyError::Expired),
            Err(SamlError::Invalid { fault, detail }) => {
                Err(VerifyError::invalid(TokenFault::Saml(fault), detail))
            }
            Err(SamlError::Config(detail)) => Err(VerifyError::invalid(
                TokenFault::Saml(super::SamlFault::Malformed),
                detail,
            )),
        }
    }
}

/// The common identity of a verified assertion. Its use ends at NotOnOrAfter plus the skew the
/// verifier allows, so the replay window must last that long too.
fn identity(provider: &str, a: VerifiedAssertion, skew: std::time::Duration) -> FederatedIdentity {
    FederatedIdentity {
        kind: ProviderKind::Saml,
        provider: provider.to_owned(),
        issuer: a.issuer,
        subject: a.name_id,
        audience: a.recipient,
        claims: BTreeMap::new(),
        session_tags: session_tags(&a.attributes),
        saml: Some(SamlFacts {
            assertion_id: a.assertion_id,
            not_on_or_after: a.not_on_or_after + skew,
            session_not_on_or_after: a.session_not_on_or_after,
            name_id_format: a.name_id_format,
            attributes: a.attributes,
        }),
    }
}

/// Session tags from the `PrincipalTag:{Key}` attributes and `TransitiveTagKeys`.
fn session_tags(attributes: &BTreeMap<String, Vec<String>>) -> SessionTags {
    let mut tags = SessionTags::default();
    let prefix = format!("{AWS_ATTRIBUTE}PrincipalTag:");
    for (name, values) in attributes {
        if let (Some(key), Some(value)) = (name.strip_prefix(&prefix), values.first()) {
            tags.principal_tags.insert(key.to_owned(), value.clone());
        }
    }
    if let Some(keys) = attributes.get(&format!("{AWS_ATTRIBUTE}TransitiveTagKeys")) {
        tags.transitive_tag_keys = keys.clone();
    }
    tags
}
