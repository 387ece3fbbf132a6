//! A SAML provider as the registry sees it: [`SamlVerifier`] behind the [`IdpVerifier`] seam,
//! run without stalling the async workers, its result mapped to the common [`FederatedIdentity`]. The
//! verifier in use can be swapped while requests run (metadata refresh): each request takes
//! the one current when it starts, without waiting for a swap.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;
use tokio::sync::Semaphore;

use super::{IdpMetadata, SamlError, SamlIdpSettings, SamlVerifier, VerifiedAssertion};
use crate::identity::{FederatedIdentity, ProviderKind, SamlFacts, SessionTags};
use crate::idp::{IdpVerifier, SubjectCredential, TokenFault, VerifyError};

/// The AWS SAML attribute namespace.
const AWS_ATTRIBUTE: &str = "https://aws.amazon.com/SAML/Attributes/";

/// One configured SAML IdP.
pub struct SamlProvider {
    name: String,
    /// Fixed for the provider's life: a metadata with another entityID is refused.
    entity_id: String,
    verifier: ArcSwap<SamlVerifier>,
    /// Verification is CPU-bound (~1 ms): at most one per core at a time, so a burst of SAML
    /// sign-ins queues here instead of starving OIDC requests of blocking threads.
    permits: Arc<Semaphore>,
}

impl SamlProvider {
    pub fn new(settings: SamlIdpSettings) -> Result<Self, SamlError> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let verifier = SamlVerifier::new(settings)?;
        Ok(Self {
            name: verifier.settings().name.clone(),
            entity_id: verifier.settings().metadata.entity_id.clone(),
            verifier: ArcSwap::from_pointee(verifier),
            permits: Arc::new(Semaphore::new(cores)),
        })
    }

    /// The verifier in use now.
    pub fn verifier(&self) -> Arc<SamlVerifier> {
        self.verifier.load_full()
    }

    /// Trust `metadata` from now on, in place of the current metadata, if it is usable:
    /// 1. the same entityID (another is another IdP, not a refresh);
    /// 2. not past its `validUntil` at `now`;
    /// 3. a verifier builds from it (signing certificates present and DER).
    ///
    /// Otherwise the current verifier stays. Returns whether the signing certificates changed.
    pub fn replace_metadata(
        &self,
        metadata: IdpMetadata,
        now: SystemTime,
    ) -> Result<bool, SamlError> {
        let refused = |why: String| {
            Err(SamlError::Config(format!(
                "refreshed metadata of SAML IdP {:?} refused: {why}",
                self.name
            )))
        };
        if metadata.entity_id != self.entity_id {
            return refused(format!(
                "its entityID {:?} is not {:?}",
                super::truncated(&metadata.entity_id),
                self.entity_id
            ));
        }
        if let Some(until) = metadata.valid_until
            && now >= until
        {
            return refused(format!(
                "its validUntil {} has passed",
                crate::clock::iso8601(until)
            ));
        }
        let current = self.verifier.load();
        let changed = current.settings().metadata.signing_certs_der != metadata.signing_certs_der;
        let mut settings = current.settings().clone();
        settings.metadata = metadata;
        let fresh = SamlVerifier::new(settings)?;
        self.verifier.store(Arc::new(fresh));
        Ok(changed)
    }
}

#[async_trait::async_trait]
impl IdpVerifier for SamlProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn issuer(&self) -> &str {
        &self.entity_id
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
        let verifier = self.verifier();
        let skew = verifier.settings().clock_skew;
        let response = (*response).to_owned();
        let verified = off_the_workers(move || verifier.verify(&response, now)).await?;
        match verified {
            Ok(assertion) => Ok(identity(self.name(), assertion, skew)),
            Err(SamlError::Expired) => Err(VerifyError::Expired),
            Err(SamlError::Invalid { fault, detail }) => {
                Err(VerifyError::invalid(TokenFault::Saml(fault), detail))
            }
            // The IdP's metadata, not the response, is at fault: as when an OIDC IdP's keys
            // cannot be had, the client may retry once the metadata is refreshed.
            Err(e @ (SamlError::MetadataExpired { .. } | SamlError::Fetch(_))) => {
                Err(VerifyError::Communication(e.to_string()))
            }
            Err(SamlError::Config(detail)) => Err(VerifyError::invalid(
                TokenFault::Saml(super::SamlFault::Malformed),
                detail,
            )),
        }
    }
}

/// Run CPU-bound `work` (about a millisecond) without stalling the runtime's other tasks: on a
/// multi-threaded runtime, on this thread after handing its other tasks to another worker
/// (`block_in_place`: no hop to a pool thread and back, about 100 µs less per request on two
/// cores); elsewhere (a current-thread runtime) on the blocking pool. A panic is an error.
async fn off_the_workers<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, VerifyError> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                tokio::task::block_in_place(work)
            }))
            .map_err(|_| VerifyError::Communication("SAML verification panicked".into()))
        }
        _ => tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| VerifyError::Communication(format!("SAML verification task: {e}"))),
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
