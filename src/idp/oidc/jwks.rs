//! The key cache of one IdP: keys fetched lazily, kept for the lifetime the IdP grants, refreshed
//! at most once per [`REFRESH_INTERVAL`] by a single in-flight fetch, and kept serving while the
//! IdP is unreachable.
//!
//! Time comes from the `now` of each verification, never from the clock.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use super::discovery::{DiscoveryError, discover_jwks_uri};
use super::fetch::{FetchError, Fetcher};
use super::keys::{KeySet, Selection, VerificationKey, unknown_key};
use crate::idp::VerifyError;

/// At most one fetch per IdP in this interval, whatever triggers it (first use, an unknown
/// `kid`, an expired cache).
pub(crate) const REFRESH_INTERVAL: Duration = Duration::from_secs(30);
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
pub(crate) struct KeyCache {
    idp: String,
    remote: Option<Remote>,
    state: Mutex<CacheState>,
    /// Held for the duration of one fetch: callers arriving meanwhile wait for its outcome
    /// instead of fetching again (single flight).
    refreshing: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct Remote {
    fetcher: Fetcher,
    location: JwksLocation,
}

#[derive(Debug)]
struct CacheState {
    keys: Arc<KeySet>,
    /// Until when the keys are fresh; `None` for keys that never expire (configured ones).
    fresh_until: Option<SystemTime>,
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

impl KeyCache {
    /// Keys given in the configuration: never refreshed, never stale.
    pub(crate) fn fixed(idp: &str, keys: KeySet) -> Self {
        Self::with(idp, None, keys, None)
    }

    /// Keys fetched from `location` on first use.
    pub(crate) fn remote(idp: &str, fetcher: Fetcher, location: JwksLocation) -> Self {
        let remote = Remote { fetcher, location };
        Self::with(
            idp,
            Some(remote),
            KeySet::default(),
            Some(SystemTime::UNIX_EPOCH),
        )
    }

    fn with(
        idp: &str,
        remote: Option<Remote>,
        keys: KeySet,
        fresh_until: Option<SystemTime>,
    ) -> Self {
        Self {
            idp: idp.to_owned(),
            remote,
            state: Mutex::new(CacheState {
                keys: Arc::new(keys),
                fresh_until,
                last_attempt: None,
                attempts: 0,
                last_error: None,
            }),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// The key a token designates by `kid` (or the only key, when it has none).
    ///
    /// A missing key or a stale cache triggers a refresh, subject to [`REFRESH_INTERVAL`];
    /// a failed refresh keeps the cached keys. With no key at all the IdP is unreachable
    /// ([`VerifyError::Communication`]); otherwise a missing key is
    /// [`crate::idp::TokenFault::UnknownKey`].
    pub(crate) async fn key_for(
        &self,
        kid: Option<&str>,
        now: SystemTime,
    ) -> Result<Arc<VerificationKey>, VerifyError> {
        let mut view = self.view(now);
        let mut selection = view.keys.select(kid);
        let wants_refresh = view.stale || matches!(selection, Selection::Missing);
        if let (true, Some(remote)) = (wants_refresh, &self.remote) {
            self.refresh(remote, now, view.attempts).await;
            view = self.view(now);
            selection = view.keys.select(kid);
        }
        match selection {
            Selection::Found(key) => Ok(key),
            _ if view.keys.is_empty() => Err(VerifyError::Communication(
                view.last_error
                    .unwrap_or_else(|| "no signature keys are available yet".to_owned()),
            )),
            _ => Err(unknown_key(kid, &view.keys)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, CacheState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn view(&self, now: SystemTime) -> View {
        let state = self.lock();
        View {
            keys: Arc::clone(&state.keys),
            stale: state.fresh_until.is_some_and(|until| now >= until),
            attempts: state.attempts,
            last_error: state.last_error.clone(),
        }
    }

    /// Fetch the key set once, unless a fetch already started since the caller looked
    /// (`seen_attempts`) or the last one started less than [`REFRESH_INTERVAL`] from `now`.
    async fn refresh(&self, remote: &Remote, now: SystemTime, seen_attempts: u64) {
        let _flight = self.refreshing.lock().await;
        {
            let mut state = self.lock();
            if state.attempts != seen_attempts || !refresh_allowed(state.last_attempt, now) {
                return;
            }
            state.attempts += 1;
            state.last_attempt = Some(now);
        }
        let outcome = self.fetch(remote).await;
        let mut state = self.lock();
        match outcome {
            Ok((keys, max_age)) => {
                let lifetime = cache_lifetime(max_age);
                tracing::info!(idp = %self.idp, keys = keys.len(), lifetime_secs = lifetime.as_secs(), "signature keys refreshed");
                state.keys = Arc::new(keys);
                state.fresh_until = Some(now + lifetime);
                state.last_error = None;
            }
            Err(e) => {
                tracing::warn!(idp = %self.idp, cached_keys = state.keys.len(), error = %e, "signature key refresh failed");
                state.last_error = Some(e.to_string());
            }
        }
    }

    async fn fetch(&self, remote: &Remote) -> Result<(KeySet, Option<Duration>), RefreshError> {
        let uri = match &remote.location {
            JwksLocation::Discovery { issuer } => {
                discover_jwks_uri(&remote.fetcher, issuer).await?
            }
            JwksLocation::Uri(uri) => uri.clone(),
        };
        let fetched = remote.fetcher.get(&uri, JWKS_LIMIT).await?;
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
        let cache = KeyCache::fixed("t", KeySet::from_jwks("t", &set));
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
        assert_eq!(cache.lock().attempts, 1);
    }
}
