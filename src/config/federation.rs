//! The federation as requests use it: the identity providers' verifiers, the roles, the managed
//! policies, the authorization services and the account names. One value, held behind an
//! `ArcSwap` by the daemon, so a request sees one consistent federation and a reload replaces
//! it whole.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{AuthorizationService, FederationConfig, RoleSet};
use crate::clock::Clock;
use crate::idp::{self, BuildError, IdpRegistry, IdpSettings, Maintenance};
use crate::metrics::Metrics;
use crate::policy::Policy;
use crate::store::ReplayCache;

/// The federation, built.
pub struct Federation {
    pub idps: IdpRegistry,
    pub roles: RoleSet,
    /// Managed policies by ARN, for `PolicyArns`.
    pub managed_policies: BTreeMap<String, Policy>,
    /// Services allowed to call `POST /v1/authorize`.
    pub authorization_services: Vec<AuthorizationService>,
    /// Display names of accounts: 12-digit id -> name.
    pub accounts: BTreeMap<String, String>,
}

/// A built federation and the background work its identity providers need (a SAML metadata
/// refresh): the caller spawns it, and aborts it when the federation is replaced or the daemon
/// stops.
pub struct Built {
    pub federation: Federation,
    pub maintenance: Vec<Maintenance>,
}

impl Federation {
    /// Build the verifiers of `config`, plus `extra_idps` (the development issuer). `clock`
    /// drives the background work; `replay` remembers one-time credentials; the IdPs' fetches
    /// are counted in `metrics`.
    pub fn build(
        config: &FederationConfig,
        extra_idps: &[IdpSettings],
        clock: &Arc<dyn Clock>,
        replay: &Arc<dyn ReplayCache>,
        metrics: &Metrics,
    ) -> Result<Built, BuildError> {
        let mut verifiers = Vec::with_capacity(config.idps.len() + extra_idps.len());
        let mut maintenance = Vec::new();
        for settings in config.idps.iter().chain(extra_idps) {
            let built = idp::build(settings, Arc::clone(clock), Arc::clone(replay), metrics)
                .map_err(|e| {
                    BuildError::Invalid(format!("identity provider {}: {e}", settings.name()))
                })?;
            verifiers.push(built.verifier);
            maintenance.extend(built.maintenance);
        }
        Ok(Built {
            federation: Self {
                idps: IdpRegistry::new(verifiers),
                roles: config.roles.clone(),
                managed_policies: config.managed_policies.clone(),
                authorization_services: config.authorization_services.clone(),
                accounts: config.accounts.clone(),
            },
            maintenance,
        })
    }
}
