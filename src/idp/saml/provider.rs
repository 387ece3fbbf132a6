//! A SAML provider as the registry sees it: [`SamlVerifier`] behind the [`IdpVerifier`] seam,
//! run without stalling the async workers, guarded against replays, its result mapped to the
//! common [`FederatedIdentity`]. The verifier in use can be swapped while requests run
//! (metadata refresh): each request takes the one current when it starts, without waiting for a
//! swap.
//!
//! Replay guard (SAML Profiles §4.1.4.5): an assertion ID is remembered in the replay cache
//! until its NotOnOrAfter plus the skew, so each assertion is used once, whatever entry point
//! presented it (the STS API, the portal's assertion consumer). The provider refuses an
//! assertion already used: before the costly verification when the (unverified) ID is known,
//! and after it by the verified ID. Using it (remembering the ID, atomically: of two concurrent
//! uses one wins) is the issuer's, when credentials are issued: a refused request (a role the
//! assertion does not grant, a trust policy that says no) leaves the assertion usable, and a
//! role picker can show an assertion's roles without using it up.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwapOption;
use tokio::sync::Semaphore;

use super::{
    IdpMetadata, SamlError, SamlFault, SamlIdpSettings, SamlVerifier, VerifiedAssertion, aws,
    peek_assertion_id,
};
use crate::clock::unix_seconds;
use crate::identity::{FederatedIdentity, ProviderKind, SamlFacts};
use crate::idp::{Expectations, IdpVerifier, SubjectCredential, TokenFault, VerifyError};
use crate::store::{ReplayCache, ReplayKey};

/// One configured SAML IdP.
pub struct SamlProvider {
    name: String,
    /// The entityID of the first metadata trusted, fixed from then on: a metadata with another
    /// entityID is refused.
    entity_id: std::sync::OnceLock<String>,
    /// What verifiers are built from, with each new metadata.
    settings: SamlIdpSettings,
    /// `None` until the IdP's metadata could be had (a `metadata_url` down since start-up).
    verifier: ArcSwapOption<SamlVerifier>,
    /// Verification is CPU-bound (~1 ms): at most one per core at a time, so a burst of SAML
    /// sign-ins queues here instead of starving OIDC requests of blocking threads.
    permits: Arc<Semaphore>,
    /// Assertion IDs already used.
    replay: Arc<dyn ReplayCache>,
    /// Why the last metadata refresh failed, until one succeeds.
    refresh_error: std::sync::Mutex<Option<String>>,
}

impl SamlProvider {
    /// The provider of `settings`; without metadata (`settings.metadata` is `None`), one that
    /// refuses every response with `IDPCommunicationError` until
    /// [`replace_metadata`](Self::replace_metadata) gives it some.
    pub fn new(settings: SamlIdpSettings, replay: Arc<dyn ReplayCache>) -> Result<Self, SamlError> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let verifier = match settings.metadata {
            Some(_) => Some(Arc::new(SamlVerifier::new(settings.clone())?)),
            None => None,
        };
        let entity_id = std::sync::OnceLock::new();
        if let Some(verifier) = &verifier {
            let _ = entity_id.set(verifier.metadata().entity_id.clone());
        }
        Ok(Self {
            name: settings.name.clone(),
            entity_id,
            settings,
            verifier: ArcSwapOption::new(verifier),
            permits: Arc::new(Semaphore::new(cores)),
            replay,
            refresh_error: std::sync::Mutex::new(None),
        })
    }

    /// Remember how the last metadata refresh ended (for `/readyz`).
    pub(crate) fn refreshed(&self, outcome: Result<(), String>) {
        *self
            .refresh_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = outcome.err();
    }

    fn replay_key(&self, assertion_id: &str) -> ReplayKey {
        ReplayKey::saml_assertion(&self.name, assertion_id)
    }

    /// Verify `response` (base64) at `now`: the signature and every check, off the async
    /// workers.
    async fn verify_response(
        &self,
        response: &str,
        now: SystemTime,
    ) -> Result<VerifiedAssertion, VerifyError> {
        let verifier = self.verifier().ok_or_else(|| {
            VerifyError::Communication(format!(
                "SAML IdP {:?} has no metadata yet ({})",
                self.name,
                self.last_refresh_error()
                    .unwrap_or_else(|| "not fetched yet".into())
            ))
        })?;
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| VerifyError::Communication("SAML verification pool closed".into()))?;
        let response = response.to_owned();
        let verified = off_the_workers(move || verifier.verify(&response, now)).await?;
        match verified {
            Ok(assertion) => Ok(assertion),
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
                TokenFault::Saml(SamlFault::Malformed),
                detail,
            )),
        }
    }

    /// Whether the assertion ID `id` was used before, within its window.
    async fn seen(&self, id: &str, now: SystemTime) -> Result<bool, VerifyError> {
        self.replay
            .is_remembered(&self.replay_key(id), unix_seconds(now))
            .await
            .map_err(|e| VerifyError::Internal(e.to_string()))
    }

    /// The verifier in use now (`None` while the IdP has no metadata).
    pub fn verifier(&self) -> Option<Arc<SamlVerifier>> {
        self.verifier.load_full()
    }

    /// The provider's name (`arn:aws:iam::ACCOUNT:saml-provider/NAME`).
    pub fn provider_name(&self) -> &str {
        &self.name
    }

    /// Why the last metadata refresh failed, until one succeeds.
    fn last_refresh_error(&self) -> Option<String> {
        self.refresh_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Trust `metadata` from now on, in place of the current metadata, if it is usable:
    /// 1. the same entityID as the first metadata trusted (another is another IdP, not a
    ///    refresh);
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
        if let Some(expected) = self.entity_id.get()
            && metadata.entity_id != *expected
        {
            return refused(format!(
                "its entityID {:?} is not {:?}",
                super::truncated(&metadata.entity_id),
                expected
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
        let changed = self.verifier().is_none_or(|current| {
            current.metadata().signing_certs_der != metadata.signing_certs_der
        });
        let entity_id = metadata.entity_id.clone();
        let mut settings = self.settings.clone();
        settings.metadata = Some(metadata);
        let fresh = SamlVerifier::new(settings)?;
        // Only the refresh task replaces metadata: the first entityID is set once.
        let _ = self.entity_id.set(entity_id);
        self.verifier.store(Some(Arc::new(fresh)));
        Ok(changed)
    }
}

#[async_trait::async_trait]
impl IdpVerifier for SamlProvider {
    fn name(&self) -> &str {
        &self.name
    }

    /// The IdP's entityID (empty while it has no metadata).
    fn issuer(&self) -> &str {
        self.entity_id.get().map_or("", String::as_str)
    }

    fn kind(&self) -> ProviderKind {
        ProviderKind::Saml
    }

    /// The SingleSignOnService of the metadata in use (refreshed from a `metadata_url`).
    fn sso_redirect_url(&self) -> Option<String> {
        self.verifier()
            .and_then(|v| v.metadata().sso_redirect_url.clone())
    }

    async fn health(&self, now: SystemTime) -> crate::idp::IdpHealth {
        let refresh_error = self.last_refresh_error();
        let Some(verifier) = self.verifier() else {
            return crate::idp::IdpHealth {
                ready: false,
                detail: format!(
                    "no metadata: {}",
                    refresh_error.unwrap_or_else(|| "not fetched yet".into())
                ),
            };
        };
        let metadata = verifier.metadata();
        match verifier.check_metadata_current(now) {
            Err(e) => crate::idp::IdpHealth {
                ready: false,
                detail: e.to_string(),
            },
            Ok(()) => crate::idp::IdpHealth {
                ready: true,
                detail: format!(
                    "{} signing certificate(s){}{}",
                    metadata.signing_certs_der.len(),
                    metadata
                        .valid_until
                        .map_or_else(String::new, |until| format!(
                            ", metadata valid until {}",
                            crate::clock::iso8601(until)
                        )),
                    refresh_error
                        .map_or_else(String::new, |e| format!("; the last refresh failed: {e}")),
                ),
            },
        }
    }

    /// The response verified ([`SamlVerifier::verify`]), the InResponseTo the caller expects
    /// (when the login started here: the bearer confirmation must answer that AuthnRequest,
    /// and so must the Response if it says), and its assertion not used before (see the module
    /// documentation).
    async fn verify(
        &self,
        credential: &SubjectCredential<'_>,
        expect: &Expectations<'_>,
        now: SystemTime,
    ) -> Result<FederatedIdentity, VerifyError> {
        let SubjectCredential::SamlResponse(response) = credential else {
            return Err(VerifyError::invalid(
                TokenFault::Malformed,
                "a SAML provider verifies SAML responses only",
            ));
        };
        // Refuse a known replay before verifying: verification is the costly step (and leaks
        // memory in samael 0.0.22). The unverified ID can only cause a refusal here.
        if let Some(id) = peek_assertion_id(response)
            && self.seen(&id, now).await?
        {
            return Err(replayed(&id));
        }
        let assertion = self.verify_response(response, now).await?;
        if let Some(request_id) = expect.in_response_to {
            check_in_response_to(&assertion, request_id)?;
        }
        let skew = self.settings.clock_skew;
        let identity = identity(self.name(), assertion, skew);
        let facts = identity
            .saml
            .as_ref()
            .ok_or_else(|| VerifyError::Internal("a SAML identity without its facts".into()))?;
        if self.seen(&facts.assertion_id, now).await? {
            return Err(replayed(&facts.assertion_id));
        }
        Ok(identity)
    }
}

pub(crate) fn replayed(assertion_id: &str) -> VerifyError {
    VerifyError::invalid(
        TokenFault::Replay,
        format!(
            "assertion {:?} was used before",
            crate::idp::truncated(assertion_id)
        ),
    )
}

/// A response to the AuthnRequest `request_id`: its bearer confirmation says so, and the
/// Response, if it names a request, names that one.
fn check_in_response_to(
    assertion: &VerifiedAssertion,
    request_id: &str,
) -> Result<(), VerifyError> {
    let answers = |value: &Option<String>| value.as_deref() == Some(request_id);
    if answers(&assertion.confirmation_in_response_to)
        && (assertion.response_in_response_to.is_none()
            || answers(&assertion.response_in_response_to))
    {
        Ok(())
    } else {
        Err(VerifyError::invalid(
            TokenFault::Saml(SamlFault::InResponseTo),
            "the response does not answer the AuthnRequest this login sent",
        ))
    }
}

/// Run CPU-bound `work` (about a millisecond) without stalling the runtime's other tasks: on a
/// multi-threaded runtime, on this thread after handing its other tasks to another worker
/// (`block_in_place`: no hop to a pool thread and back, which shows in a request's latency on two
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
    let (grant, session_tags, source_identity) = aws::read(&a.attributes);
    let in_response_to = a.confirmation_in_response_to.or(a.response_in_response_to);
    FederatedIdentity {
        kind: ProviderKind::Saml,
        provider: provider.to_owned(),
        issuer: a.issuer,
        subject: a.name_id,
        audience: a.recipient,
        claims: BTreeMap::new(),
        session_tags,
        source_identity,
        saml: Some(SamlFacts {
            assertion_id: a.assertion_id,
            not_on_or_after: a.not_on_or_after + skew,
            session_not_on_or_after: a.session_not_on_or_after,
            name_id_format: a.name_id_format,
            attributes: a.attributes,
            grant,
            in_response_to,
        }),
    }
}
