//! What a caller may do: its identity policies (its role's, or its user's) intersected with its
//! session policies.

use std::sync::Arc;
use std::time::SystemTime;

use super::{Caller, Signer};
use crate::config::{Federation, Role};
use crate::creds::SessionKind;
use crate::error::ApiError;
use crate::policy::{
    Decision, EvalDecision, NamedPolicy, Policy, PolicyKind, RequestContext, Simulation,
    evaluate_session, simulate,
};
use crate::store::Users;
use crate::users::UserRecord;

/// The policies that decide what a caller may do.
pub struct Permissions {
    /// Identity policies (the role's, or the user's), with the names reports use.
    pub identity: IdentityPolicies,
    /// Session policies (inline and managed), when the session has any.
    pub session: Vec<(String, Policy)>,
    /// Nothing is allowed: a federated user given no session policy (AWS `GetFederationToken`),
    /// or a session whose managed session policy no longer exists (fail closed: dropping it
    /// would widen the session).
    pub deny_all: bool,
}

/// A caller's identity policies: its role's, shared with the configuration (not copied per
/// request), or its user's, parsed from the stored record.
pub enum IdentityPolicies {
    Role(Arc<Role>),
    Owned(Vec<(String, Policy)>),
}

impl IdentityPolicies {
    pub fn as_slice(&self) -> &[(String, Policy)] {
        match self {
            Self::Role(role) => &role.policies,
            Self::Owned(policies) => policies,
        }
    }
}

impl Permissions {
    /// The decision with its deciding statement (identity ∩ session, explicit deny wins).
    pub fn decide(&self, request: &RequestContext, now: SystemTime) -> Decision {
        if self.deny_all {
            return Decision::ImplicitDeny;
        }
        let identity: Vec<&Policy> = self.identity.as_slice().iter().map(|(_, p)| p).collect();
        let session: Vec<&Policy> = self.session.iter().map(|(_, p)| p).collect();
        evaluate_session(&identity, &session, request, now)
    }

    /// The decision and every statement that decided, named by policy (the authorization API
    /// reports these).
    pub fn simulate(&self, request: &RequestContext, now: SystemTime) -> Simulation {
        if self.deny_all {
            return Simulation {
                decision: EvalDecision::ImplicitDeny,
                matched_statements: Vec::new(),
            };
        }
        simulate(
            &named(self.identity.as_slice()),
            &named(&self.session),
            request,
            now,
        )
    }
}

fn named(policies: &[(String, Policy)]) -> Vec<NamedPolicy<'_>> {
    policies
        .iter()
        .map(|(id, policy)| NamedPolicy { id, policy })
        .collect()
}

/// The IAM user behind the caller as currently stored: a long-term key's record (read when the
/// signature was verified), or for a user session or federated user the record read now, which
/// must be the same user (not one created later under the old name). `None` for a role session.
pub async fn caller_user(
    users: &dyn Users,
    caller: &Caller,
) -> Result<Option<UserRecord>, ApiError> {
    match &caller.signer {
        Signer::User(user) => Ok(Some((**user).clone())),
        Signer::Session(claims) => {
            if claims.session.kind == SessionKind::AssumedRole {
                return Ok(None);
            }
            let Some(name) = caller.user_name() else {
                return Ok(None);
            };
            let user = users.get(&name).await.map_err(ApiError::from)?;
            Ok(user.filter(|u| u.user_id == claims.session.identity_id))
        }
    }
}

/// The caller's permission policies: for a role session its role's policies and its session
/// policies; for a user (key or session token) the user's current policies; for a federated
/// user the user's policies and the session policies it was given. A role or user that no
/// longer exists grants nothing.
pub async fn permissions(
    federation: &Federation,
    users: &dyn Users,
    caller: &Caller,
) -> Result<Permissions, ApiError> {
    let user_policies = |user: Option<UserRecord>| -> Result<IdentityPolicies, ApiError> {
        let parsed = match user {
            Some(user) => user
                .parsed_policies()
                .map_err(|e| ApiError::Internal(format!("stored user policy: {e}")))?,
            None => Vec::new(),
        };
        Ok(IdentityPolicies::Owned(parsed))
    };
    let Signer::Session(claims) = &caller.signer else {
        return Ok(Permissions {
            identity: user_policies(caller_user(users, caller).await?)?,
            session: Vec::new(),
            deny_all: false,
        });
    };
    let session = &claims.session;
    let identity = match session.kind {
        SessionKind::AssumedRole => match federation.roles.get(&session.identity_arn) {
            Some(role) => IdentityPolicies::Role(Arc::clone(role)),
            None => IdentityPolicies::Owned(Vec::new()),
        },
        SessionKind::User | SessionKind::FederatedUser => {
            user_policies(caller_user(users, caller).await?)?
        }
    };
    let mut session_policies = Vec::new();
    let mut deny_all = session.kind == SessionKind::FederatedUser
        && session.session_policy.is_none()
        && session.policy_arns.is_empty();
    if let Some(text) = &session.session_policy {
        let policy = Policy::parse(text, PolicyKind::Session)
            .map_err(|e| ApiError::Internal(format!("sealed session policy: {e}")))?;
        session_policies.push(("session-policy".to_owned(), policy));
    }
    for arn in &session.policy_arns {
        match federation.managed_policies.get(arn) {
            Some(policy) => session_policies.push((arn.clone(), policy.clone())),
            None => {
                tracing::warn!(policy_arn = %arn, "a session policy no longer exists: the session may do nothing");
                deny_all = true;
            }
        }
    }
    Ok(Permissions {
        identity,
        session: session_policies,
        deny_all,
    })
}
