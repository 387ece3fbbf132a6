//! The federation as requests use it: the identity providers' verifiers, the roles, the managed
//! policies, the authorization services and the account names. One value, held behind an
//! `ArcSwap` by the daemon, so a request sees one consistent federation and a reload replaces
//! it whole.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{AuthorizationService, FederationConfig, RoleSet, SigninIdp};
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
    /// The IdPs offered on the sign-in page, in file order.
    pub signin: Vec<SigninIdp>,
}

/// A built federation and the background work its new identity providers need (a SAML
/// metadata refresh), by IdP name: the caller spawns it, and aborts an IdP's when the IdP is
/// removed or changed by a reload, or the daemon stops.
pub struct Built {
    pub federation: Federation,
    pub maintenance: Vec<(String, Maintenance)>,
    /// The IdPs whose verifiers (key caches, metadata, refresh loops) were kept from the
    /// previous federation, their configuration unchanged.
    pub kept: Vec<String>,
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
        Self::rebuild(config, extra_idps, None, clock, replay, metrics)
    }

    /// [`build`](Self::build), keeping from `previous` the verifier of every IdP whose
    /// configuration did not change ([`IdpSettings::same_configuration`]): its cached keys or
    /// refreshed metadata stay, and its background work keeps running.
    pub fn rebuild(
        config: &FederationConfig,
        extra_idps: &[IdpSettings],
        previous: Option<&Federation>,
        clock: &Arc<dyn Clock>,
        replay: &Arc<dyn ReplayCache>,
        metrics: &Metrics,
    ) -> Result<Built, BuildError> {
        let mut built_idps = Vec::new();
        let mut maintenance = Vec::new();
        let mut kept = Vec::new();
        for settings in config.idps.iter().chain(extra_idps) {
            let name = settings.name().to_owned();
            let same = previous
                .and_then(|p| p.idps.built(&name))
                .filter(|(before, _)| before.same_configuration(settings));
            let verifier = match same {
                Some((_, verifier)) => {
                    kept.push(name.clone());
                    Arc::clone(verifier)
                }
                None => {
                    let built =
                        idp::build(settings, Arc::clone(clock), Arc::clone(replay), metrics)
                            .map_err(|e| {
                                BuildError::Invalid(format!("identity provider {name}: {e}"))
                            })?;
                    if let Some(work) = built.maintenance {
                        maintenance.push((name.clone(), work));
                    }
                    built.verifier
                }
            };
            built_idps.push((settings.clone(), verifier));
        }
        Ok(Built {
            federation: Self {
                idps: IdpRegistry::with_settings(built_idps),
                roles: config.roles.clone(),
                managed_policies: config.managed_policies.clone(),
                authorization_services: config.authorization_services.clone(),
                accounts: config.accounts.clone(),
                signin: config.signin.clone(),
            },
            maintenance,
            kept,
        })
    }
}
