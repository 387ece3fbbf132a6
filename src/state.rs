//! What the protocol adapters share: the federation in force (replaced whole on reload), the
//! store, the clock, who-is-calling and what-to-issue.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::clock::Clock;
use crate::config::Federation;
use crate::creds::{Minter, SharedKeyring};
use crate::federation::Issuer;
use crate::metrics::Metrics;
use crate::principal::Authenticator;
use crate::store::Store;

/// The daemon's shared state. Built once; the federation can be replaced while requests run,
/// each request keeping the one it started with.
pub struct State {
    federation: ArcSwap<Federation>,
    store: Store,
    clock: Arc<dyn Clock>,
    principals: Authenticator,
    issuer: Issuer,
    metrics: Arc<Metrics>,
}

impl State {
    /// Credentials are sealed and opened with `keyring`; every record goes to `store`.
    pub fn new(
        federation: Federation,
        store: Store,
        keyring: SharedKeyring,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self::with_metrics(federation, store, keyring, clock, Arc::new(Metrics::new()))
    }

    /// [`new`](Self::new), counting into the daemon's `metrics`.
    pub fn with_metrics(
        federation: Federation,
        store: Store,
        keyring: SharedKeyring,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let minter = Arc::new(Minter::new(keyring.clone()));
        Self {
            federation: ArcSwap::from_pointee(federation),
            principals: Authenticator::new(keyring, &store),
            issuer: Issuer::new(minter, &store, Arc::clone(&metrics)),
            store,
            clock,
            metrics,
        }
    }

    /// The daemon's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The federation in force now (a request takes it once and keeps it).
    pub fn federation(&self) -> Arc<Federation> {
        self.federation.load_full()
    }

    /// Put `federation` in force for every request that starts from now on.
    pub fn replace_federation(&self, federation: Federation) {
        self.federation.store(Arc::new(federation));
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// Who is calling: signed requests, MFA codes, the keyring.
    pub fn principals(&self) -> &Authenticator {
        &self.principals
    }

    /// Mints and records credentials.
    pub fn issuer(&self) -> &Issuer {
        &self.issuer
    }
}
