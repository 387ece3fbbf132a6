//! Metadata from a `metadata_url`: fetched once at start-up by the configuration layer (so
//! `check-config` reports a URL that does not serve usable metadata), then again on an interval
//! by a [`MetadataRefresher`] while the daemon serves.
//!
//! A refresh:
//! 1. GETs the configured URL and no other, through the bounded fetcher the OIDC key sources use
//!    (https unless `insecure_http`; 5 s connect and total timeouts; no redirects; at most
//!    1 MiB);
//! 2. reads it as [`parse_metadata`] does: one IdP, at least one signing certificate, every
//!    signing KeyDescriptor pinned (so a certificate rollover announced in the metadata works);
//! 3. keeps it only when its entityID is the one the provider started with and its `validUntil`
//!    has not passed ([`SamlProvider::replace_metadata`]);
//! 4. keeps the document as the last good copy ([`kept`](super::kept)), so a start while the
//!    IdP is down still has it;
//! 5. on any failure keeps the metadata in use, logs a warning, and tries again sooner.
//!
//! The next refresh comes after the configured interval, or sooner when the metadata's
//! `cacheDuration` is shorter or its `validUntil` comes first (SAML Metadata §2.3.2), never
//! sooner than [`MIN_METADATA_REFRESH`]. After failures in a row it comes after 5 s, then 10 s,
//! 20 s and so on up to five minutes (and never later than the interval): an IdP that was down
//! when the daemon started is picked up soon after it is back, without hammering it meanwhile.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::metadata::MAX_METADATA_LEN;
use super::{
    IdpMetadata, Loaded, MIN_METADATA_REFRESH, RemoteMetadata, SamlError, SamlProvider, kept,
    parse_metadata,
};
use crate::clock::Clock;
use crate::idp::oidc::fetch::Fetcher;
use crate::metrics::FetchOutcomes;

/// The metadata media type (SAML Metadata §4.1.1), then generic XML.
const ACCEPT: &str = "application/samlmetadata+xml, application/xml;q=0.9, text/xml;q=0.8";
/// The wait before trying again after a first failure; doubled after each further failure.
const FIRST_RETRY: Duration = Duration::from_secs(5);
/// The longest wait before trying again after failures.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(300);

/// GET `url` and read it as IdP metadata; also the document as served.
async fn fetch_metadata(fetcher: &Fetcher, url: &str) -> Result<(IdpMetadata, String), SamlError> {
    let fetched = fetcher
        .get_accepting(url, MAX_METADATA_LEN, ACCEPT)
        .await
        .map_err(|e| SamlError::Fetch(e.to_string()))?;
    let xml = String::from_utf8(fetched.body)
        .map_err(|_| SamlError::Fetch(format!("GET {url}: the metadata is not UTF-8")))?;
    Ok((parse_metadata(&xml)?, xml))
}

/// [`fetch_metadata`] for synchronous callers (the configuration layer), inside or outside an
/// async runtime: on a thread of its own with a runtime of its own, so it blocks only the
/// calling thread, for at most the fetch timeouts.
pub fn fetch_metadata_blocking(
    url: &str,
    insecure_http: bool,
) -> Result<(IdpMetadata, String), SamlError> {
    let fetch = || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| SamlError::Fetch(format!("cannot start a runtime to fetch {url}: {e}")))?;
        let fetcher = Fetcher::new(insecure_http).map_err(|e| SamlError::Fetch(e.to_string()))?;
        runtime.block_on(fetch_metadata(&fetcher, url))
    };
    std::thread::scope(|scope| {
        scope
            .spawn(fetch)
            .join()
            .unwrap_or_else(|_| Err(SamlError::Fetch(format!("fetching {url} failed"))))
    })
}

/// What a successful refresh found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refreshed {
    /// Whether the set of signing certificates differs from the one in use before.
    pub certificates_changed: bool,
    pub valid_until: Option<SystemTime>,
    pub cache_duration: Option<Duration>,
}

/// Keeps one provider's metadata fresh from its `metadata_url`.
pub struct MetadataRefresher {
    provider: Arc<SamlProvider>,
    remote: RemoteMetadata,
    fetcher: Fetcher,
    clock: Arc<dyn Clock>,
}

impl MetadataRefresher {
    /// Each refresh is counted into `fetches`.
    pub fn new(
        provider: Arc<SamlProvider>,
        remote: RemoteMetadata,
        clock: Arc<dyn Clock>,
        fetches: FetchOutcomes,
    ) -> Result<Self, SamlError> {
        let fetcher = Fetcher::new(remote.insecure_http)
            .map_err(|e| SamlError::Config(e.to_string()))?
            .counting(fetches);
        Ok(Self {
            provider,
            remote,
            fetcher,
            clock,
        })
    }

    /// Fetch the metadata once and, if it is usable, verify with it from now on (the module
    /// documentation lists the rules). On error the metadata in use stays.
    pub async fn refresh(&self) -> Result<Refreshed, SamlError> {
        let (metadata, xml) = fetch_metadata(&self.fetcher, &self.remote.url).await?;
        let (valid_until, cache_duration) = (metadata.valid_until, metadata.cache_duration);
        let certificates_changed = self.provider.replace_metadata(metadata, self.clock.now())?;
        self.keep(&xml);
        Ok(Refreshed {
            certificates_changed,
            valid_until,
            cache_duration,
        })
    }

    /// Keep `xml` as the last good copy, if the daemon keeps one (a failure is logged: the
    /// metadata is in use all the same).
    fn keep(&self, xml: &str) {
        if let Some(path) = &self.remote.kept_copy
            && let Err(e) = kept::keep(path, xml)
        {
            tracing::warn!(idp = %self.provider.provider_name(), path = %path.display(), error = %e, "could not keep a copy of the SAML metadata for a start while the IdP is down");
        }
    }

    /// Refresh forever (until the task is aborted). The document the configuration fetched at
    /// start-up is kept first; when it could not be fetched, the first retry comes soon.
    pub async fn run(self) {
        let name = self.provider.provider_name().to_owned();
        let mut failures: u32 = 0;
        let mut delay = match &self.remote.loaded {
            Loaded::Fetched(xml) => {
                self.keep(xml);
                self.delay_for_current()
            }
            Loaded::KeptCopy(error) | Loaded::Nothing(error) => {
                self.provider.refreshed(Err(error.clone()));
                failures = 1;
                self.retry_delay(failures)
            }
        };
        loop {
            tokio::time::sleep(delay).await;
            let outcome = self.refresh().await;
            self.fetcher.outcomes().record(outcome.is_ok());
            self.provider
                .refreshed(outcome.as_ref().map(drop).map_err(ToString::to_string));
            delay = match outcome {
                Ok(refreshed) => {
                    if failures > 0 {
                        tracing::info!(idp = %name, failures, "SAML metadata fetched again");
                    }
                    failures = 0;
                    if refreshed.certificates_changed {
                        let count = self
                            .provider
                            .verifier()
                            .map_or(0, |v| v.metadata().signing_certs_der.len());
                        tracing::info!(idp = %name, signing_certificates = count, "SAML metadata refreshed: signing certificates changed");
                    } else {
                        tracing::debug!(idp = %name, "SAML metadata refreshed");
                    }
                    self.next_delay(refreshed.cache_duration, refreshed.valid_until)
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let retry = self.retry_delay(failures);
                    if self.provider.verifier().is_some() {
                        tracing::warn!(idp = %name, url = %self.remote.url, error = %e, failures, retry_in_secs = retry.as_secs(), "SAML metadata refresh failed; the metadata in use stays");
                    } else {
                        tracing::warn!(idp = %name, url = %self.remote.url, error = %e, failures, retry_in_secs = retry.as_secs(), "SAML metadata still unavailable: the IdP's responses are refused (IDPCommunicationError)");
                    }
                    retry
                }
            };
        }
    }

    /// The next refresh after the metadata in use (none: soon).
    fn delay_for_current(&self) -> Duration {
        match self.provider.verifier() {
            Some(verifier) => {
                let metadata = verifier.metadata();
                self.next_delay(metadata.cache_duration, metadata.valid_until)
            }
            None => self.retry_delay(1),
        }
    }

    fn retry_delay(&self, failures: u32) -> Duration {
        retry_delay(failures, self.remote.refresh_interval)
    }

    /// The configured interval, shortened to the metadata's `cacheDuration` and to the time
    /// left before its `validUntil`, never below [`MIN_METADATA_REFRESH`].
    fn next_delay(
        &self,
        cache_duration: Option<Duration>,
        valid_until: Option<SystemTime>,
    ) -> Duration {
        let mut delay = self.remote.refresh_interval;
        if let Some(cache) = cache_duration {
            delay = delay.min(cache);
        }
        if let Some(left) =
            valid_until.and_then(|until| until.duration_since(self.clock.now()).ok())
        {
            delay = delay.min(left);
        }
        delay.max(MIN_METADATA_REFRESH)
    }
}

/// The wait after `failures` failures in a row: 5 s doubled each time, at most five minutes and
/// the configured `interval`.
fn retry_delay(failures: u32, interval: Duration) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    FIRST_RETRY
        .saturating_mul(1 << doublings)
        .min(RETRY_AFTER_FAILURE)
        .min(interval)
        .max(MIN_METADATA_REFRESH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_up_to_five_minutes_and_the_interval() {
        let hour = Duration::from_secs(3600);
        let waits: Vec<u64> = (1..=9).map(|n| retry_delay(n, hour).as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(retry_delay(u32::MAX, hour), RETRY_AFTER_FAILURE);
        assert_eq!(retry_delay(6, Duration::from_secs(60)).as_secs(), 60);
        assert_eq!(retry_delay(1, Duration::from_secs(5)).as_secs(), 5);
    }
}
