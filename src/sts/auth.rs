//! Who signed a request: SigV4 verification with the credentials this service issued, and what
//! that caller may do.
//!
//! Temporary credentials (`ASIA…`) are verified by unsealing their session token with the
//! keyring: no store lookup on this path. Long-term keys (`AKIA…`) belong to IAM users: one
//! store read finds the user, whose secret is opened with the keyring; a deleted key stops
//! resolving the moment the store records the deletion.

use std::sync::Arc;
use std::time::SystemTime;

use super::error::StsError;
use super::{AuditDraft, RequestMeta, StsState};
use crate::clock::{from_unix_seconds, iso8601, unix_seconds};
use crate::config::Role;
use crate::creds::sigv4::{ResolvedKey, SecretLookup, SigV4Error, SignedRequest};
use crate::creds::token::{self, SessionClaims};
use crate::creds::{Keyring, SessionKind, UnsealError};
use crate::policy::{
    ContextKeys, Decision, EvalDecision, NamedPolicy, Policy, PolicyKind, PrincipalId,
    RequestContext, Simulation, evaluate_session, simulate,
};
use crate::store::SessionStore;
use crate::users::UserRecord;

/// The parts of an HTTP request SigV4 covers, owned (the server fills it in when a request
/// carries a signature).
#[derive(Clone)]
pub struct SignedParts {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    /// Hex SHA-256 of the body, or `UNSIGNED-PAYLOAD` where a service allows it.
    pub payload_sha256_hex: String,
}

impl std::fmt::Debug for SignedParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Headers and query carry the signature and the session token: never printed.
        f.debug_struct("SignedParts")
            .field("method", &self.method)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Resolves `ASIA…` keys by opening their session token with the keyring (no store lookup).
pub struct SessionTokens<'a> {
    pub keyring: &'a Keyring,
    pub now: SystemTime,
}

impl SecretLookup for SessionTokens<'_> {
    type Principal = SessionClaims;

    fn secret_for(
        &self,
        access_key_id: &str,
        session_token: Option<&str>,
    ) -> Result<ResolvedKey<SessionClaims>, SigV4Error> {
        let token = session_token.ok_or(SigV4Error::InvalidClientTokenId)?;
        let claims = token::unseal(self.keyring, token).map_err(|e| match e {
            UnsealError::Malformed | UnsealError::UnknownKey | UnsealError::Invalid => {
                SigV4Error::InvalidClientTokenId
            }
        })?;
        if claims.access_key_id != access_key_id {
            return Err(SigV4Error::InvalidClientTokenId);
        }
        if claims.is_expired(self.now) {
            return Err(SigV4Error::ExpiredToken);
        }
        Ok(ResolvedKey {
            secret: claims.secret_access_key.clone(),
            principal: claims,
        })
    }
}

/// Resolves both kinds of keys: `AKIA…` through the store's user records, anything else as a
/// session token ([`SessionTokens`]).
pub struct AnyCredentials<'a> {
    pub keyring: &'a Keyring,
    pub store: &'a dyn SessionStore,
    pub now: SystemTime,
}

impl SecretLookup for AnyCredentials<'_> {
    type Principal = Signer;

    fn secret_for(
        &self,
        access_key_id: &str,
        session_token: Option<&str>,
    ) -> Result<ResolvedKey<Signer>, SigV4Error> {
        if !access_key_id.starts_with("AKIA") {
            let sessions = SessionTokens {
                keyring: self.keyring,
                now: self.now,
            };
            return sessions
                .secret_for(access_key_id, session_token)
                .map(|resolved| ResolvedKey {
                    secret: resolved.secret,
                    principal: Signer::Session(Box::new(resolved.principal)),
                });
        }
        // A long-term key signs without a session token (AWS refuses the pair).
        if session_token.is_some() {
            return Err(SigV4Error::InvalidClientTokenId);
        }
        let user = match self.store.user_by_access_key(access_key_id) {
            Ok(Some(user)) => user,
            Ok(None) => return Err(SigV4Error::InvalidClientTokenId),
            Err(e) => {
                // Fail closed: the request is refused, the operator sees why.
                tracing::error!(error = %e, "user lookup failed");
                return Err(SigV4Error::InvalidClientTokenId);
            }
        };
        let secret = user
            .secret_of(access_key_id, self.keyring)
            .ok_or(SigV4Error::InvalidClientTokenId)?;
        Ok(ResolvedKey {
            secret,
            principal: Signer::User(Box::new(user)),
        })
    }
}

/// Whose credentials signed a request.
#[derive(Debug, Clone)]
pub enum Signer {
    /// An IAM user's long-term key.
    User(Box<UserRecord>),
    /// Temporary credentials this service issued.
    Session(Box<SessionClaims>),
}

/// The verified caller of a signed request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub access_key_id: String,
    pub signer: Signer,
}

/// The principal type AWS reports (`aws:PrincipalType`, CloudTrail `userIdentity.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalType {
    User,
    AssumedRole,
    FederatedUser,
}

impl PrincipalType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "User",
            Self::AssumedRole => "AssumedRole",
            Self::FederatedUser => "FederatedUser",
        }
    }

    /// CloudTrail's name for it.
    pub fn audit_kind(self) -> &'static str {
        match self {
            Self::User => "IAMUser",
            Self::AssumedRole => "AssumedRole",
            Self::FederatedUser => "FederatedUser",
        }
    }
}

impl Caller {
    pub fn principal_type(&self) -> PrincipalType {
        match &self.signer {
            Signer::User(_) => PrincipalType::User,
            Signer::Session(c) => match c.session.kind {
                SessionKind::AssumedRole => PrincipalType::AssumedRole,
                SessionKind::User => PrincipalType::User,
                SessionKind::FederatedUser => PrincipalType::FederatedUser,
            },
        }
    }

    /// The claims of temporary credentials; `None` for a long-term key.
    pub fn session(&self) -> Option<&SessionClaims> {
        match &self.signer {
            Signer::User(_) => None,
            Signer::Session(c) => Some(c),
        }
    }

    /// The ARN `GetCallerIdentity` reports.
    pub fn arn(&self) -> String {
        match &self.signer {
            Signer::User(u) => u.arn(),
            Signer::Session(c) => c.session.caller_arn().to_owned(),
        }
    }

    /// The `UserId` `GetCallerIdentity` reports.
    pub fn user_id(&self) -> String {
        match &self.signer {
            Signer::User(u) => u.user_id.clone(),
            Signer::Session(c) => c.session.assumed_role_id(),
        }
    }

    pub fn account_id(&self) -> &str {
        match &self.signer {
            Signer::User(u) => &u.account_id,
            Signer::Session(c) => &c.session.account_id,
        }
    }

    /// `aws:PrincipalArn`: the user ARN, the role ARN of a role session, the federated-user ARN.
    pub fn principal_arn(&self) -> String {
        match &self.signer {
            Signer::User(u) => u.arn(),
            Signer::Session(c) => c.session.principal_arn().to_owned(),
        }
    }

    /// The IAM user behind the caller (a long-term key, a user session or a federated user):
    /// its name, from the user ARN the session records.
    pub fn user_name(&self) -> Option<String> {
        match &self.signer {
            Signer::User(u) => Some(u.name.clone()),
            Signer::Session(c) => match c.session.kind {
                SessionKind::AssumedRole => None,
                SessionKind::User | SessionKind::FederatedUser => c
                    .session
                    .role_arn
                    .rsplit_once(":user/")
                    .map(|(_, name)| name.to_owned()),
            },
        }
    }

    /// Unix seconds of the MFA authentication behind these credentials, if any.
    pub fn mfa_authenticated_at(&self) -> Option<i64> {
        self.session().and_then(|c| c.session.mfa_authenticated_at)
    }

    /// Unix seconds at which the temporary credentials were issued (`aws:TokenIssueTime`).
    pub fn token_issued_at(&self) -> Option<i64> {
        self.session().map(|c| c.issued_at)
    }

    /// Every form the caller matches as in a trust policy's `AWS` principal: its own ARN, the
    /// role ARN of a role session. The account (`"123456789012"`, its root ARN) is added by the
    /// caller of this only where account-wide trust applies.
    pub fn principal_ids(&self) -> Vec<PrincipalId> {
        let mut ids = vec![PrincipalId::Aws(self.arn())];
        if self.principal_type() == PrincipalType::AssumedRole {
            ids.push(PrincipalId::Aws(self.principal_arn()));
        }
        ids
    }

    /// The global condition keys AWS sets for this principal (IAM user guide, "AWS global
    /// condition context keys"): `aws:PrincipalArn`, `aws:PrincipalAccount`,
    /// `aws:PrincipalType`, `aws:userid`, `aws:username` (users), `aws:TokenIssueTime`,
    /// `aws:MultiFactorAuthPresent` and `aws:MultiFactorAuthAge` (temporary credentials),
    /// `aws:PrincipalTag/*`, `aws:SourceIdentity`, `aws:FederatedProvider`.
    pub fn context_keys(&self, now: SystemTime, keys: &mut ContextKeys) {
        keys.insert("aws:PrincipalArn", self.principal_arn());
        keys.insert("aws:PrincipalAccount", self.account_id());
        keys.insert("aws:PrincipalType", self.principal_type().as_str());
        keys.insert("aws:userid", self.user_id());
        if let Signer::User(u) = &self.signer {
            keys.insert("aws:username", u.name.clone());
        }
        if let Some(claims) = self.session() {
            let session = &claims.session;
            if session.kind == SessionKind::User
                && let Some(name) = self.user_name()
            {
                keys.insert("aws:username", name);
            }
            keys.insert(
                "aws:TokenIssueTime",
                iso8601(from_unix_seconds(claims.issued_at)),
            );
            // Present (true or false) for temporary credentials only, as AWS does: a long-term
            // key request has no MFA keys at all, so `...IfExists` conditions can tell.
            match session.mfa_authenticated_at {
                Some(at) => {
                    keys.insert("aws:MultiFactorAuthPresent", "true");
                    keys.insert(
                        "aws:MultiFactorAuthAge",
                        unix_seconds(now).saturating_sub(at).max(0).to_string(),
                    );
                }
                None => keys.insert("aws:MultiFactorAuthPresent", "false"),
            }
            for (k, v) in &session.session_tags {
                keys.insert(&format!("aws:PrincipalTag/{k}"), v.clone());
            }
            if let Some(si) = &session.source_identity {
                keys.insert("aws:SourceIdentity", si.clone());
            }
            if session.kind == SessionKind::AssumedRole && !session.provider.is_empty() {
                keys.insert("aws:FederatedProvider", session.provider.clone());
            }
        }
    }
}

/// The STS actions each kind of temporary credentials may call, as AWS limits them: none may
/// call `GetSessionToken` or `GetFederationToken`; a federated user only `GetCallerIdentity`; an IAM user's session token only `AssumeRole` and
/// `GetCallerIdentity` (IAM user guide, "Comparing the AWS STS API operations").
pub(crate) fn require_sts_caller(caller: &Caller, action: &str) -> Result<(), StsError> {
    let allowed = match (caller.session().map(|c| c.session.kind), action) {
        (Some(_), "GetSessionToken" | "GetFederationToken") => false,
        (None | Some(SessionKind::AssumedRole), _) => true,
        (Some(SessionKind::User), action) => matches!(action, "AssumeRole" | "GetCallerIdentity"),
        (Some(SessionKind::FederatedUser), action) => action == "GetCallerIdentity",
    };
    if allowed {
        Ok(())
    } else {
        Err(StsError::AccessDeniedMessage(match action {
            "GetSessionToken" => "Cannot call GetSessionToken with session credentials",
            "GetFederationToken" => "Cannot call GetFederationToken with session credentials",
            _ => "These temporary credentials may not call this STS action.",
        }))
    }
}

/// The verified caller of a signed STS request for `action`, named in the audit event, and
/// allowed to call that action with its kind of credentials ([`require_sts_caller`]).
pub(crate) fn authenticate(
    state: &StsState,
    meta: &RequestMeta,
    now: SystemTime,
    action: &str,
    audit: &mut AuditDraft,
) -> Result<Caller, StsError> {
    let parts = meta
        .signed
        .as_ref()
        .ok_or(StsError::Auth(SigV4Error::MissingAuthenticationToken))?;
    let (caller, _service) = verify_signed(state, parts, now).map_err(StsError::Auth)?;
    audit.identify_caller(&caller);
    require_sts_caller(&caller, action)?;
    Ok(caller)
}

/// Verify a signed request with every credential this service knows, then refuse revoked
/// sessions. Returns the caller and the service the signature was scoped to.
pub fn verify_signed(
    state: &StsState,
    parts: &SignedParts,
    now: SystemTime,
) -> Result<(Caller, String), SigV4Error> {
    let request = SignedRequest {
        method: &parts.method,
        path: &parts.path,
        query: &parts.query,
        headers: &parts.headers,
        payload_sha256_hex: Some(&parts.payload_sha256_hex),
    };
    let keyring = state.keyring.snapshot();
    let lookup = AnyCredentials {
        keyring: &keyring,
        store: state.store.as_ref(),
        now,
    };
    let verified = state.sigv4.verify(&request, &lookup, now)?;
    if let Signer::Session(claims) = &verified.principal
        && state.revocations.is_revoked(claims)
    {
        tracing::info!(access_key_id = %claims.access_key_id, "revoked session refused");
        return Err(SigV4Error::InvalidClientTokenId);
    }
    Ok((
        Caller {
            access_key_id: verified.access_key_id,
            signer: verified.principal,
        },
        verified.service,
    ))
}

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
pub(crate) fn caller_user(
    state: &StsState,
    caller: &Caller,
) -> Result<Option<UserRecord>, StsError> {
    match &caller.signer {
        Signer::User(user) => Ok(Some((**user).clone())),
        Signer::Session(claims) => {
            if claims.session.kind == SessionKind::AssumedRole {
                return Ok(None);
            }
            let Some(name) = caller.user_name() else {
                return Ok(None);
            };
            let user = state
                .store
                .get_user(&name)
                .map_err(|e| StsError::Internal(e.to_string()))?;
            Ok(user.filter(|u| u.user_id == claims.session.role_id))
        }
    }
}

/// The caller's permission policies: for a role session its role's policies and its session
/// policies; for a user (key or session token) the user's current policies; for a federated
/// user the user's policies and the session policies it was given. A role or user that no
/// longer exists grants nothing.
pub fn permissions(state: &StsState, caller: &Caller) -> Result<Permissions, StsError> {
    let user_policies = |user: Option<UserRecord>| -> Result<IdentityPolicies, StsError> {
        let parsed = match user {
            Some(user) => user
                .parsed_policies()
                .map_err(|e| StsError::Internal(format!("stored user policy: {e}")))?,
            None => Vec::new(),
        };
        Ok(IdentityPolicies::Owned(parsed))
    };
    match &caller.signer {
        Signer::User(_) => Ok(Permissions {
            identity: user_policies(caller_user(state, caller)?)?,
            session: Vec::new(),
            deny_all: false,
        }),
        Signer::Session(claims) => {
            let session = &claims.session;
            let identity = match session.kind {
                SessionKind::AssumedRole => match state.roles.get(&session.role_arn) {
                    Some(role) => IdentityPolicies::Role(Arc::clone(role)),
                    None => IdentityPolicies::Owned(Vec::new()),
                },
                SessionKind::User | SessionKind::FederatedUser => {
                    user_policies(caller_user(state, caller)?)?
                }
            };
            let mut session_policies = Vec::new();
            let mut deny_all = session.kind == SessionKind::FederatedUser
                && session.session_policy.is_none()
                && session.policy_arns.is_empty();
            if let Some(text) = &session.session_policy {
                let policy = Policy::parse(text, PolicyKind::Session)
                    .map_err(|e| StsError::Internal(format!("sealed session policy: {e}")))?;
                session_policies.push(("session-policy".to_owned(), policy));
            }
            for arn in &session.policy_arns {
                match state.managed_policies.get(arn) {
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
    }
}
