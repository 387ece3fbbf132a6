//! The IAM policy language: parse, validate, evaluate.
//!
//! Pure: no I/O, no clock reads, no async. Policies are compiled once at load (every check that can
//! be done without a request is done by [`Policy::parse`]) and evaluated many times, so
//! [`evaluate`] only walks compiled statements: no regex, no JSON, no per-request compilation.
//!
//! Semantics follow the AWS IAM User Guide ("Policy evaluation logic", "Condition operators",
//! "Single-valued vs. multivalued context keys", "Policy variables"):
//! - an explicit `Deny` wins, then any `Allow`, otherwise the request is implicitly denied;
//! - inside a `Condition` block operators and keys are ANDed, the values listed for one key are
//!   ORed (for negated operators: the request value must match none of them);
//! - a key missing from the request makes a positive operator false and a negated one true;
//!   `...IfExists` makes it true; `ForAllValues:` is true and `ForAnyValue:` false on a missing or
//!   empty key;
//! - a policy variable that cannot be resolved makes its statement not apply.

mod condition;
mod packed;
mod parse;
mod pattern;
mod principal;
mod serialize;
mod simulate;
mod statement;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::SystemTime;

use statement::{Effect, Statement};

pub use packed::packed_policy_size;
pub use simulate::{
    EvalDecision, MatchedStatement, NamedPolicy, Simulation, evaluate_session, simulate,
};

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

impl PolicyKind {
    /// The most characters a policy of this kind may have, whitespace not counted (the IAM
    /// quotas; the sts layer also needs it to report `PackedPolicySize`).
    pub const fn size_limit(self) -> usize {
        match self {
            Self::Trust | Self::Session => 2048,
            Self::Identity => 10240,
        }
    }

    /// Trust policies say who may assume the role, so their statements need a principal; the
    /// other kinds apply to whoever holds them, so a principal there is an error.
    const fn wants_principal(self) -> bool {
        matches!(self, Self::Trust)
    }

    /// Identity and session policies grant on resources, so each statement must say which;
    /// a trust policy's resource is the role itself.
    const fn requires_resource(self) -> bool {
        !matches!(self, Self::Trust)
    }

    /// How the kind is named in problem messages.
    const fn label(self) -> &'static str {
        match self {
            Self::Trust => "trust policy",
            Self::Identity => "identity policy",
            Self::Session => "session policy",
        }
    }
}

/// A parsed, validated, compiled policy.
#[derive(Debug, Clone)]
pub struct Policy {
    kind: PolicyKind,
    /// `Version` as written (`None`: absent, read as the 2008 language).
    version: Option<&'static str>,
    id: Option<String>,
    statements: Vec<Statement>,
}

/// Why a policy was rejected (`MalformedPolicyDocument`). Lists every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", problems.join("; "))]
pub struct PolicyError {
    pub problems: Vec<String>,
}

impl Policy {
    /// Parses, validates and compiles `text` as a policy of `kind`, reporting every problem at
    /// once so an operator fixes a document in one pass.
    pub fn parse(text: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
        parse::parse_policy(text, kind).map_err(|problems| PolicyError { problems })
    }

    /// The policy's size as AWS counts it against the quotas: characters, whitespace excluded.
    pub fn len_without_whitespace(text: &str) -> usize {
        text.chars().filter(|c| !c.is_whitespace()).count()
    }

    /// The kind the policy was validated as.
    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    /// The entries of the statements' `Action` elements (not `NotAction`) that match none of
    /// `actions`, as written, each with its statement's index. Given the actions a trust policy
    /// is asked about, these are the entries that never apply (a misspelled action, or one of
    /// another service).
    pub fn actions_matching_none(&self, actions: &[&str]) -> Vec<(usize, &str)> {
        let no_keys = ContextKeys::default();
        let mut found = Vec::new();
        for (index, statement) in self.statements.iter().enumerate() {
            if statement.action.negated {
                continue;
            }
            for pattern in &statement.action.items {
                let matches_one = actions.iter().any(|action| {
                    // Actions have no policy variables, so the answer is always known.
                    pattern.matches(action, &no_keys, pattern::Case::AsciiInsensitive)
                        != Some(false)
                });
                if !matches_one {
                    found.push((index, pattern.source()));
                }
            }
        }
        found
    }

    /// The `Federated` principals the statements name (not under `NotPrincipal`), as written
    /// (`*` included), each with its statement's index.
    pub fn federated_principals(&self) -> Vec<(usize, &str)> {
        let mut found = Vec::new();
        for (index, statement) in self.statements.iter().enumerate() {
            let Some(principal) = statement.principal.as_ref().filter(|p| !p.negated) else {
                continue;
            };
            for entry in &principal.items {
                if let principal::PrincipalEntry::Typed {
                    kind: principal::PrincipalType::Federated,
                    id,
                } = entry
                {
                    found.push((index, id.as_str()));
                }
            }
        }
        found
    }

    /// The statements that apply to `request`, with their indexes, in policy order.
    fn applying<'a>(
        &'a self,
        request: &'a RequestContext,
        now: SystemTime,
    ) -> impl Iterator<Item = (usize, &'a Statement)> {
        self.statements
            .iter()
            .enumerate()
            .filter(move |(_, statement)| statement.applies(request, now))
    }
}

/// Who is asking, as trust-policy principals see it.
///
/// The engine compares principals exactly (an account id and its `:root` ARN are the same
/// principal). The caller supplies every form the identity matches as: for web identity both
/// the provider name and the provider ARN, for a role session the role ARN as well as the
/// assumed-role ARN, and the account id when account-wide trust should apply.
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

    /// Every key (lower-cased) with its values, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Vec<String>)> {
        self.map.iter()
    }

    /// Drop every value of `key`.
    pub fn remove(&mut self, key: &str) {
        self.map.remove(&key.to_ascii_lowercase());
    }

    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.map.get(&key.to_ascii_lowercase()).map(Vec::as_slice)
    }

    /// Looks up a key the policy compiler already lower-cased, without allocating per request.
    fn get_lowercase(&self, key: &str) -> Option<&[String]> {
        self.map.get(key).map(Vec::as_slice)
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

/// Decides `request` against one policy: the first applying `Deny` statement wins; otherwise
/// the first applying `Allow`; otherwise an implicit deny.
pub fn evaluate(policy: &Policy, request: &RequestContext, now: SystemTime) -> Decision {
    let mut allow = None;
    for (index, statement) in policy.applying(request, now) {
        match statement.effect {
            Effect::Deny => return Decision::ExplicitDeny(statement_ref(index, statement)),
            Effect::Allow => {
                allow.get_or_insert((index, statement));
            }
        }
    }
    allow.map_or(Decision::ImplicitDeny, |(index, statement)| {
        Decision::Allow(statement_ref(index, statement))
    })
}

/// Decides `request` against several policies that all apply to the same principal (a role's
/// inline and managed policies): an explicit deny in any wins, then an allow in any, otherwise
/// an implicit deny. The `StatementRef` is local to the policy it came from.
///
/// This is the union of the policies' grants; a session policy narrows a role's permissions
/// instead, which [`evaluate_session`] expresses by requiring an allow from both sets.
pub fn evaluate_all(policies: &[&Policy], request: &RequestContext, now: SystemTime) -> Decision {
    let mut allow = None;
    for policy in policies {
        match evaluate(policy, request, now) {
            deny @ Decision::ExplicitDeny(_) => return deny,
            found @ Decision::Allow(_) => {
                allow.get_or_insert(found);
            }
            Decision::ImplicitDeny => {}
        }
    }
    allow.unwrap_or(Decision::ImplicitDeny)
}

/// "Any" over outcomes where `None` means "a policy variable could not be resolved": that
/// poisons the whole result, so that a negation above it cannot turn it into a match.
fn any_of(outcomes: impl IntoIterator<Item = Option<bool>>) -> Option<bool> {
    outcomes
        .into_iter()
        .try_fold(false, |found, outcome| outcome.map(|hit| found || hit))
}

/// "All" with the same treatment of unresolvable outcomes as [`any_of`].
fn all_of(outcomes: impl IntoIterator<Item = Option<bool>>) -> Option<bool> {
    outcomes
        .into_iter()
        .try_fold(true, |every, outcome| outcome.map(|hit| every && hit))
}

fn statement_ref(index: usize, statement: &Statement) -> StatementRef {
    StatementRef {
        index,
        sid: statement.sid.clone(),
    }
}
