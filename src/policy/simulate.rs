//! A session's effective permissions: the role's identity (permission) policies narrowed by the
//! session policies passed to the STS call; and the report `stsbridge policy simulate` prints.
//!
//! Semantics (AWS IAM User Guide, "Policy evaluation logic" and "How AWS enforcement code logic
//! evaluates requests to allow or deny access"; STS API Reference, `AssumeRole`: "the resulting
//! session's permissions are the intersection of the role's identity-based policy and the
//! session policies"):
//! 1. deny evaluation: every policy, identity and session alike, is searched for an applying
//!    `Deny`; one is enough for an explicit deny;
//! 2. identity-based policies: one applying `Allow` in any of them is needed (their grants are a
//!    union), otherwise the request is implicitly denied;
//! 3. session policies: when any were passed (the inline `Policy` and the `PolicyArns` managed
//!    policies alike), one applying `Allow` among them is needed too, otherwise implicit deny.
//!    A session policy never grants beyond the role; without session policies the role's
//!    policies decide alone.
//!
//! Resource-based policies, permissions boundaries and organization policies do not exist in
//! this bridge. The request is built by the caller: a session's tags go in as
//! `aws:PrincipalTag/KEY` context keys.

use std::fmt;
use std::time::SystemTime;

use serde::Serialize;

use super::statement::Effect;
use super::{Decision, Policy, RequestContext, evaluate_all};

/// The decision, named as `aws iam simulate-custom-policy` names it (`EvalDecision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum EvalDecision {
    Allowed,
    ExplicitDeny,
    ImplicitDeny,
}

/// A statement that decided, and which policy it is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatchedStatement {
    /// The id the caller gave the policy (the CLI uses the file name).
    pub source_policy_id: String,
    pub sid: Option<String>,
    /// The statement's position in its policy, from 0.
    pub index: usize,
}

/// What [`simulate`] found: the decision and the statements that decided it (every applying
/// `Deny` for an explicit deny; the applying `Allow`s of both sets for an allow; none for an
/// implicit deny).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Simulation {
    pub decision: EvalDecision,
    pub matched_statements: Vec<MatchedStatement>,
}

/// A policy and the id reports name it by.
#[derive(Debug, Clone, Copy)]
pub struct NamedPolicy<'a> {
    pub id: &'a str,
    pub policy: &'a Policy,
}

/// The applying statements of one set of policies, by effect, in policy and statement order.
#[derive(Default)]
struct Applying {
    denies: Vec<MatchedStatement>,
    allows: Vec<MatchedStatement>,
}

/// Decides `request` for a session as AWS does (see the module documentation): an explicit deny
/// in any policy wins; otherwise it is allowed only if the identity policies allow it and, when
/// session policies were passed (`session` is not empty), the session policies allow it too.
///
/// The decision names the deciding statement, local to its policy as in [`evaluate_all`]: for
/// a deny the first applying `Deny`, identity policies searched before session policies; for an
/// allow the identity-policy statement that grants it.
pub fn evaluate_session(
    identity: &[&Policy],
    session: &[&Policy],
    request: &RequestContext,
    now: SystemTime,
) -> Decision {
    let granted = evaluate_all(identity, request, now);
    if session.is_empty() || matches!(granted, Decision::ExplicitDeny(_)) {
        return granted;
    }
    match (granted, evaluate_all(session, request, now)) {
        (_, deny @ Decision::ExplicitDeny(_)) => deny,
        (allow @ Decision::Allow(_), Decision::Allow(_)) => allow,
        _ => Decision::ImplicitDeny,
    }
}

/// Decides `request` as [`evaluate_session`] does and reports every statement that decided,
/// for `stsbridge policy simulate`. `session` empty means no session policies were passed.
pub fn simulate(
    identity: &[NamedPolicy<'_>],
    session: &[NamedPolicy<'_>],
    request: &RequestContext,
    now: SystemTime,
) -> Simulation {
    let granted = applying(identity, request, now);
    let bounded = applying(session, request, now);
    let denied = !granted.denies.is_empty() || !bounded.denies.is_empty();
    let allowed = !granted.allows.is_empty() && (session.is_empty() || !bounded.allows.is_empty());
    let (decision, matched_statements) = if denied {
        (EvalDecision::ExplicitDeny, [granted.denies, bounded.denies])
    } else if allowed {
        (EvalDecision::Allowed, [granted.allows, bounded.allows])
    } else {
        (EvalDecision::ImplicitDeny, Default::default())
    };
    Simulation {
        decision,
        matched_statements: matched_statements.concat(),
    }
}

fn applying(policies: &[NamedPolicy<'_>], request: &RequestContext, now: SystemTime) -> Applying {
    let mut found = Applying::default();
    for named in policies {
        for (index, statement) in named.policy.applying(request, now) {
            let matched = MatchedStatement {
                source_policy_id: named.id.to_owned(),
                sid: statement.sid.clone(),
                index,
            };
            match statement.effect {
                Effect::Deny => found.denies.push(matched),
                Effect::Allow => found.allows.push(matched),
            }
        }
    }
    found
}

impl EvalDecision {
    /// The name `simulate-custom-policy` reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::ExplicitDeny => "explicitDeny",
            Self::ImplicitDeny => "implicitDeny",
        }
    }
}

impl fmt::Display for EvalDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The decision on the first line, then one line per deciding statement:
/// `  by FILE Statement[INDEX] (SID)`.
impl fmt::Display for Simulation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.decision)?;
        for matched in &self.matched_statements {
            write!(
                f,
                "  by {} Statement[{}]",
                matched.source_policy_id, matched.index
            )?;
            match &matched.sid {
                Some(sid) => writeln!(f, " ({sid})")?,
                None => writeln!(f)?,
            }
        }
        Ok(())
    }
}
