//! A compiled statement and whether it applies to a request.

use std::time::SystemTime;

use super::condition::Condition;
use super::pattern::{Case, Pattern};
use super::principal::PrincipalEntry;
use super::{PrincipalId, RequestContext, all_of, any_of};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Effect {
    Allow,
    Deny,
}

/// A list element together with its `Not` form (`Action`/`NotAction`, ...): the element matches
/// when the request matches one of the items or, negated, none of them.
#[derive(Debug, Clone)]
pub(super) struct Listed<T> {
    pub items: Vec<T>,
    pub negated: bool,
}

#[derive(Debug, Clone)]
pub(super) struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    /// `None` where the policy kind has no principals (identity and session policies).
    pub principal: Option<Listed<PrincipalEntry>>,
    pub action: Listed<Pattern>,
    /// `None` when the statement has no Resource element (allowed in trust policies only),
    /// which matches any resource.
    pub resource: Option<Listed<Pattern>>,
    /// All must hold.
    pub conditions: Vec<Condition>,
}

impl<T> Listed<T> {
    fn matches(&self, item_matches: impl Fn(&T) -> Option<bool>) -> Option<bool> {
        any_of(self.items.iter().map(item_matches)).map(|hit| hit != self.negated)
    }
}

impl Statement {
    /// Whether every element of the statement matches the request. A policy variable that
    /// cannot be resolved makes the statement not apply, whatever its effect.
    pub(super) fn applies(&self, request: &RequestContext, now: SystemTime) -> bool {
        self.principal_matches(&request.principals)
            && self.action_matches(request) == Some(true)
            && self.resource_matches(request) == Some(true)
            && all_of(
                self.conditions
                    .iter()
                    .map(|condition| condition.holds(&request.keys, now)),
            ) == Some(true)
    }

    fn principal_matches(&self, callers: &[PrincipalId]) -> bool {
        self.principal.as_ref().is_none_or(|principal| {
            principal.matches(|entry| Some(entry.matches_any(callers))) == Some(true)
        })
    }

    fn action_matches(&self, request: &RequestContext) -> Option<bool> {
        self.action.matches(|pattern| {
            pattern.matches(&request.action, &request.keys, Case::AsciiInsensitive)
        })
    }

    /// A request without a resource is matched as the empty string, which only `*` matches.
    fn resource_matches(&self, request: &RequestContext) -> Option<bool> {
        let resource = request.resource.as_deref().unwrap_or_default();
        self.resource.as_ref().map_or(Some(true), |listed| {
            listed.matches(|pattern| pattern.matches(resource, &request.keys, Case::Sensitive))
        })
    }
}
