//! The IAM policy language: parse, validate, evaluate.
//!
//! Pure: no I/O, no clock reads, no async. Policies are compiled once at load and evaluated many
//! times.
//!
//! CONTRACT (used by config/ and sts/; keep these signatures):
//! - `Policy::parse(text, PolicyKind) -> Result<Policy, PolicyError>`
//! - `evaluate(&Policy, &RequestContext, now) -> Decision`
//! - `RequestContext { principals, action, resource, keys }`, `ContextKeys::insert`.

use std::collections::BTreeMap;
use std::time::SystemTime;

/// Where a policy is used; decides which elements are required or forbidden and the size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// A role's trust policy (`AssumeRolePolicyDocument`): Principal required; 2048 chars.
    Trust,
    /// An identity (permission) policy attached to a role or user: no Principal; 10240 chars.
    Identity,
    /// A session policy passed to an STS call: no Principal; 2048 chars.
    Session,
}

/// A parsed, validated, compiled policy.
#[derive(Debug, Clone)]
pub struct Policy {
    _private: (),
}

/// Why a policy was rejected (`MalformedPolicyDocument`). Lists every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", problems.join("; "))]
pub struct PolicyError {
    pub problems: Vec<String>,
}

impl Policy {
    pub fn parse(_text: &str, _kind: PolicyKind) -> Result<Policy, PolicyError> {
        Err(PolicyError {
            problems: vec!["not implemented".into()],
        })
    }
}

/// Who is asking, as trust-policy principals see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalId {
    /// `{"Federated": X}`: an OIDC provider name or a provider ARN.
    Federated(String),
    /// `{"AWS": X}`: account id, account root ARN, user/role/assumed-role ARN.
    Aws(String),
    Service(String),
    CanonicalUser(String),
}

/// Condition-key values of one request. Key names are case-insensitive (stored lower-cased);
/// values are kept as given. A key may carry several values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContextKeys {
    map: BTreeMap<String, Vec<String>>,
}

impl ContextKeys {
    pub fn insert(&mut self, key: &str, value: impl Into<String>) {
        self.map
            .entry(key.to_ascii_lowercase())
            .or_default()
            .push(value.into());
    }

    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.map.get(&key.to_ascii_lowercase()).map(Vec::as_slice)
    }
}

/// The request a policy is evaluated against.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// Every identity the caller matches as (e.g. both the provider name and the provider ARN).
    pub principals: Vec<PrincipalId>,
    /// e.g. `sts:AssumeRoleWithWebIdentity`.
    pub action: String,
    /// The resource ARN (the role ARN for trust policies).
    pub resource: Option<String>,
    pub keys: ContextKeys,
}

/// Which statement decided: policy-local index and Sid if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementRef {
    pub index: usize,
    pub sid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow(StatementRef),
    ExplicitDeny(StatementRef),
    ImplicitDeny,
}

impl Decision {
    pub fn is_allow(&self) -> bool {
        matches!(self, Self::Allow(_))
    }
}

pub fn evaluate(_policy: &Policy, _request: &RequestContext, _now: SystemTime) -> Decision {
    Decision::ImplicitDeny
}
