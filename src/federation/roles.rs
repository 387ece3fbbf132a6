//! The roles a verified identity may assume: what a role picker offers.

use std::sync::Arc;
use std::time::SystemTime;

use super::federated::may_assume;
use crate::config::{Federation, Role};
use crate::identity::FederatedIdentity;
use crate::origin::Origin;

/// A role the identity may assume.
#[derive(Debug, Clone)]
pub struct AssumableRole {
    pub role: Arc<Role>,
    /// SAML: the provider ARN the assertion grants the role with (the `PrincipalArn` to use).
    pub provider_arn: Option<String>,
}

/// Every configured role `identity` may assume now, by ARN: for a SAML identity the `Role`
/// attribute's pairs whose role exists and whose trust policy admits it; for an OIDC identity
/// every role whose trust policy admits it. `session_name` is the name a session would get (an
/// OIDC identity's chosen one; a SAML identity's `RoleSessionName`, which must be present).
/// The trust decisions are exactly those of issuing: the action, session tags and source
/// identity.
pub fn assumable_roles(
    federation: &Federation,
    identity: &FederatedIdentity,
    session_name: &str,
    origin: &Origin,
    now: SystemTime,
) -> Vec<AssumableRole> {
    let mut found: Vec<AssumableRole> = match &identity.saml {
        Some(facts) => {
            let Some(name) = facts.grant.session_name.as_deref() else {
                return Vec::new();
            };
            facts
                .grant
                .roles
                .iter()
                .filter_map(|pair| {
                    let role = federation.roles.get(&pair.role_arn)?;
                    may_assume(identity, role, Some(&pair.provider_arn), name, origin, now).then(
                        || AssumableRole {
                            role: Arc::clone(role),
                            provider_arn: Some(pair.provider_arn.clone()),
                        },
                    )
                })
                .collect()
        }
        None => federation
            .roles
            .iter()
            .filter(|role| may_assume(identity, role, None, session_name, origin, now))
            .map(|role| AssumableRole {
                role: Arc::clone(role),
                provider_arn: None,
            })
            .collect(),
    };
    found.sort_by(|a, b| a.role.arn.cmp(&b.role.arn));
    found.dedup_by(|a, b| a.role.arn == b.role.arn);
    found
}
