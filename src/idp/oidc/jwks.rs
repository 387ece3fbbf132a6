//! The key cache of one IdP. Remote keys are fetched on first use and kept for the lifetime
//! the IdP grants (`Cache-Control: max-age`, clamped). A stale cache keeps answering while one
//! refresh runs in the background; an unknown `kid` waits for a refresh. Whatever triggers them,
//! fetches start at most once per [`REFRESH_INTERVAL`], one at a time (single flight), and a
//! failed fetch keeps the cached keys serving.
//!
//! Time comes from the `now` of each verification, never from the clock.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::sync::OwnedMutexGuard;
use tokio::task::JoinHandle;

use super::discovery::{DiscoveryError, discover_jwks_uri};
use super::fetch::{FetchError, Fetcher};
use super::keys::{KeySet, Selection, VerificationKey, unknown_key};
use crate::idp::{IdpHealth, VerifyError};

/// At most one fetch per IdP in this interval, whatever triggers it (first use, an unknown
/// `kid`, an expired cache).
const REFRESH_INTERVAL: Duration = Duration::from_secs(30);
/// Cache lifetime when the IdP sends no `Cache-Control: max-age`.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// Bounds on the lifetime an IdP may ask for.
const MIN_LIFETIME: Duration = Duration::from_secs(5 * 60);
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
/// JWK Sets are small; anything larger is not one.
const JWKS_LIMIT: usize = 256 * 1024;

/// Where a remote JWK Set is found.
#[derive(Debug)]
pub(crate) enum JwksLocation {
    /// Through the issuer's provider metadata, on every refresh.
    Discovery { issuer: String },
    /// A configured JWK Set URL.
    Uri(String),
}

/// Why a refresh brought no keys.
#[derive(Debug, thiserror::Error)]
enum RefreshError {
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    #[error("JWK Set: {0}")]
    Fetch(#[from] FetchError),
    #[error("JWK Set from {0}: {1}")]
    Document(String, String),
    #[error("JWK Set from {0} has no usable signature key")]
    NoUsableKey(String),
}

/// The keys of one IdP.
#[derive(Debug)]
pub(crate) enum KeyCache {
    /// Keys given in the configuration: never refreshed, never stale.
    Fixed(KeySet),
    /// Keys fetched from the IdP on first use and refreshed as needed.
    Remote(Arc<RemoteKeys>),
}

impl KeyCache {
    /// Keys fetched from `location` on first use.
    pub(crate) fn remote(idp: &str, fetcher: Fetcher, location: JwksLocation) -> Self {
        Self::Remote(Arc::new(RemoteKeys {
            idp: idp.to_owned(),
            fetcher,
            location,
            state: Mutex::new(CacheState {
                keys: Arc::new(KeySet::default()),
                fresh_until: SystemTime::UNIX_EPOCH,
                last_attempt: None,
                attempts: 0,
                last_error: None,
            }),
            in_flight: Arc::new(tokio::sync::Mutex::new(())),
        }))
    }

    /// Whether keys are at hand; with none yet, after one fetch attempt (rate-limited as every
    /// fetch is).
    pub(crate) async fn health(&self, now: SystemTime) -> IdpHealth {
        match self {
            Self::Fixed(keys) => IdpHealth {
                ready: !keys.is_empty(),
                detail: format!("{} configured signature key(s)", keys.len()),
            },
            Self::Remote(remote) => remote.health(now).await,
        }
    }

    /// The key a token designates by `kid` (or the only key, when it has none).
    ///
    /// With no key at all the IdP is unreachable ([`VerifyError::Communication`]); otherwise a
    /// key not in the set is [`crate::idp::TokenFault::UnknownKey`].
    pub(crate) async fn key_for(
        &self,
        kid: Option<&str>,
        now: SystemTime,
    ) -> Result<Arc<VerificationKey>, VerifyError> {
        match self {
            Self::Fixed(keys) => resolve(keys.select(kid), kid, keys, None),
            Self::Remote(remote) => remote.key_for(kid, now).await,
        }
    }
}

fn resolve(
    selection: Selection,
    kid: Option<&str>,
    keys: &KeySet,
    last_error: Option<String>,
) -> Result<Arc<VerificationKey>, VerifyError> {
    match selection {
        Selection::Found(key) => Ok(key),
        _ if keys.is_empty() => Err(VerifyError::Communication(
            last_error.unwrap_or_else(|| "no signature keys are available yet".to_owned()),
        )),
        _ => Err(unknown_key(kid, keys)),
    }
}

/// The cached keys of an IdP reached over HTTP.
#[derive(Debug)]
pub(crate) struct RemoteKeys {
    idp: String,
    fetcher: Fetcher,
    location: JwksLocation,
    state: Mutex<CacheState>,
    /// Held by the one fetch in flight, until its outcome is stored: callers arriving
    /// meanwhile wait for that outcome instead of fetching again (single flight).
    in_flight: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Debug)]
struct CacheState {
    keys: Arc<KeySet>,
    fresh_until: SystemTime,
    last_attempt: Option<SystemTime>,
    /// Fetches started so far: tells a waiting caller that the fetch it waited for happened.
    attempts: u64,
    last_error: Option<String>,
}

/// What a caller saw of the cache, taken under one lock.
struct View {
    keys: Arc<KeySet>,
    stale: bool,
    attempts: u64,
    last_error: Option<String>,
}

impl RemoteKeys {
    /// - a key found in a fresh cache is returned at once;
    /// - a key found in a stale cache is returned at once, and a refresh starts in the
    ///   background (the caller does not wait for the IdP);
    /// - a missing key waits for a refresh, then looks again.
    ///
    /// Refreshes are subject to [`REFRESH_INTERVAL`]; a failed one keeps the cached keys.
    async fn key_for(
        self: &Arc<Self>,
        kid: Option<&str>,
        now: SystemTime,
    ) -> Result<Arc<VerificationKey>, VerifyError> {
        let view = self.view(now);
        match view.keys.select(kid) {
            Selection::Missing => {}
            found_or_ambiguous => {
                if view.stale {
                    self.refresh_in_background(now, view.attempts);
                }
                return resolve(found_or_ambiguous, kid, &view.keys, view.last_error);
            }
        }
        self.refresh(now, view.attempts).await;
        let view = self.view(now);
        resolve(view.keys.select(kid), kid, &view.keys, view.last_error)
    }

    async fn health(self: &Arc<Self>, now: SystemTime) -> IdpHealth {
        let view = self.view(now);
        if view.keys.is_empty() {
            self.refresh(now, view.attempts).await;
        }
        let view = self.view(now);
        match (view.keys.len(), view.last_error) {
            (0, error) => IdpHealth {
                ready: false,
                detail: error.unwrap_or_else(|| "no signature keys fetched yet".to_owned()),
            },
            (n, None) => IdpHealth {
                ready: true,
                detail: format!(
                    "{n} signature key(s){}",
                    if view.stale {
                        ", due for a refresh"
                    } else {
                        ""
                    }
                ),
            },
            (n, Some(error)) => IdpHealth {
                ready: true,
                detail: format!("{n} cached signature key(s); the last refresh failed: {error}"),
            },
        }
    }

    fn lock(&self) -> MutexGuard<'_, CacheState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn view(&self, now: SystemTime) -> View {
        let state = self.lock();
        View {
            keys: Arc::clone(&state.keys),
            stale: now >= state.fresh_until,
            attempts: state.attempts,
            last_error: state.last_error.clone(),
        }
    }

    /// Wait for the fetch in flight, or for one started now if [`Self::start_fetch`] allows.
    async fn refresh(self: &Arc<Self>, now: SystemTime, seen_attempts: u64) {
        let flight = Arc::clone(&self.in_flight).lock_owned().await;
        if let Some(fetch) = self.start_fetch(now, seen_attempts, flight)
            && let Err(e) = fetch.await
        {
            tracing::error!(idp = %self.idp, error = %e, "signature key fetch task failed");
        }
    }

    /// Start a fetch unless one is in flight or [`Self::start_fetch`] refuses; do not wait.
    fn refresh_in_background(self: &Arc<Self>, now: SystemTime, seen_attempts: u64) {
        if let Ok(flight) = Arc::clone(&self.in_flight).try_lock_owned() {
            // Detached: the fetch stores its outcome itself.
            let _ = self.start_fetch(now, seen_attempts, flight);
        }
    }

    /// Spawn a fetch holding `flight` until its outcome is stored, unless another fetch
    /// started since the caller looked (`seen_attempts`) or the last one started less than
    /// [`REFRESH_INTERVAL`] from `now`. The fetch runs as its own task, so a caller that gives
    /// up waiting does not cancel it for the others.
    fn start_fetch(
        self: &Arc<Self>,
        now: SystemTime,
        seen_attempts: u64,
        flight: OwnedMutexGuard<()>,
    ) -> Option<JoinHandle<()>> {
        {
            let mut state = self.lock();
            if state.attempts != seen_attempts || !refresh_allowed(state.last_attempt, now) {
                return None;
            }
            state.attempts += 1;
            state.last_attempt = Some(now);
        }
        let this = Arc::clone(self);
        Some(tokio::spawn(async move {
            let outcome = this.fetch().await;
            this.store(outcome, now);
            drop(flight);
        }))
    }

    fn store(&self, outcome: Result<(KeySet, Option<Duration>), RefreshError>, now: SystemTime) {
        self.fetcher.outcomes().record(outcome.is_ok());
        let mut state = self.lock();
        match outcome {
            Ok((keys, max_age)) => {
                let lifetime = cache_lifetime(max_age);
                tracing::info!(idp = %self.idp, keys = keys.len(), lifetime_secs = lifetime.as_secs(), "signature keys refreshed");
                state.keys = Arc::new(keys);
                state.fresh_until = now.checked_add(lifetime).unwrap_or(now);
                state.last_error = None;
            }
            Err(e) => {
                tracing::warn!(idp = %self.idp, cached_keys = state.keys.len(), error = %e, "signature key refresh failed");
                state.last_error = Some(e.to_string());
            }
        }
    }

    async fn fetch(&self) -> Result<(KeySet, Option<Duration>), RefreshError> {
        let uri = match &self.location {
            JwksLocation::Discovery { issuer } => discover_jwks_uri(&self.fetcher, issuer).await?,
            JwksLocation::Uri(uri) => uri.clone(),
        };
        let fetched = self.fetcher.get(&uri, JWKS_LIMIT).await?;
        let keys = KeySet::from_document(&self.idp, &fetched.body)
            .map_err(|e| RefreshError::Document(uri.clone(), e))?;
        if keys.is_empty() {
            return Err(RefreshError::NoUsableKey(uri));
        }
        Ok((keys, fetched.max_age))
    }
}

/// A refresh may start when none started yet, or the last one started at least
/// [`REFRESH_INTERVAL`] away from `now` (either way, so a clock stepped back cannot block
/// refreshes for long).
fn refresh_allowed(last_attempt: Option<SystemTime>, now: SystemTime) -> bool {
    let Some(last) = last_attempt else {
        return true;
    };
    let distance = now
        .duration_since(last)
        .or_else(|_| last.duration_since(now))
        .unwrap_or(Duration::ZERO);
    distance >= REFRESH_INTERVAL
}

/// How long fetched keys stay fresh: the IdP's `max-age`, clamped to
/// [`MIN_LIFETIME`]..=[`MAX_LIFETIME`].
fn cache_lifetime(max_age: Option<Duration>) -> Duration {
    max_age
        .unwrap_or(DEFAULT_LIFETIME)
        .clamp(MIN_LIFETIME, MAX_LIFETIME)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::from_unix_seconds;
    use crate::idp::TokenFault;
    use crate::idp::oidc::signer::TokenSigner;

    #[test]
    fn lifetime_is_clamped() {
        assert_eq!(cache_lifetime(None), DEFAULT_LIFETIME);
        assert_eq!(cache_lifetime(Some(Duration::ZERO)), MIN_LIFETIME);
        assert_eq!(
            cache_lifetime(Some(Duration::from_secs(600))),
            Duration::from_secs(600)
        );
        assert_eq!(
            cache_lifetime(Some(Duration::from_secs(10_000_000))),
            MAX_LIFETIME
        );
    }

    #[test]
    fn refreshes_are_spaced() {
        let t = from_unix_seconds(1_000);
        assert!(refresh_allowed(None, t));
        assert!(!refresh_allowed(Some(t), t));
        assert!(!refresh_allowed(Some(t), t + Duration::from_secs(29)));
        assert!(refresh_allowed(Some(t), t + REFRESH_INTERVAL));
        assert!(!refresh_allowed(Some(t), t - Duration::from_secs(29)));
        assert!(refresh_allowed(Some(t), t - Duration::from_secs(3600)));
    }

    #[tokio::test]
    async fn fixed_keys_are_found_by_kid_and_never_fetched() {
        let signer = TokenSigner::generate_ec("e1").expect("ec");
        let set = jsonwebtoken::jwk::JwkSet {
            keys: vec![signer.jwk()],
        };
        let cache = KeyCache::Fixed(KeySet::from_jwks("t", &set));
        let now = from_unix_seconds(1_000);
        assert!(cache.key_for(Some("e1"), now).await.is_ok());
        assert!(cache.key_for(None, now).await.is_ok());
        assert!(matches!(
            cache.key_for(Some("other"), now).await,
            Err(VerifyError::Invalid {
                fault: TokenFault::UnknownKey,
                ..
            })
        ));
    }

    #[tokio::test]
    async fn unreachable_idp_without_keys_is_a_communication_error() {
        let fetcher = Fetcher::new(true).expect("client");
        // Port 9 (discard) is not listening: the connection is refused.
        let cache = KeyCache::remote(
            "t",
            fetcher,
            JwksLocation::Uri("http://127.0.0.1:9/jwks".into()),
        );
        let now = from_unix_seconds(1_000);
        assert!(matches!(
            cache.key_for(Some("k"), now).await,
            Err(VerifyError::Communication(_))
        ));
        // Within the refresh interval the cache does not try again, and says why it has no keys.
        match cache.key_for(Some("k"), now + Duration::from_secs(1)).await {
            Err(VerifyError::Communication(why)) => assert!(why.contains("127.0.0.1:9"), "{why}"),
            other => panic!("expected a communication error, got {other:?}"),
        }
        let KeyCache::Remote(remote) = &cache else {
            panic!("a remote cache");
        };
        assert_eq!(remote.lock().attempts, 1);
    }
}
