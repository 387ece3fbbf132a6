//! From a compiled policy back to policy JSON, in one canonical form: `Statement` is always an
//! array; every list element (Action, Resource, principal ids, condition values) is a string when
//! it holds one item and an array when it holds several; absent elements are left out. What the policy says is kept exactly as written (patterns, condition
//! operators and keys, Sids), except for the rewrites parsing itself makes: an empty Sid is no
//! Sid, an `AWS` account id is its root ARN, condition numbers and booleans are text.
//!
//! Parsing the canonical form gives a policy that evaluates every request as the original did,
//! and re-serialising it gives the same JSON again. The canonical text can be longer than the
//! original (an account id grows into an ARN), so near the size limit it may not re-parse.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::Policy;
use super::condition::Condition;
use super::pattern::Pattern;
use super::principal::PrincipalEntry;
use super::statement::{Effect, Listed, Statement};

impl Policy {
    /// The policy as canonical policy JSON (see the module documentation of the format).
    pub fn to_json(&self) -> Value {
        let mut document = Map::new();
        if let Some(version) = self.version {
            document.insert("Version".into(), version.into());
        }
        if let Some(id) = &self.id {
            document.insert("Id".into(), id.as_str().into());
        }
        document.insert(
            "Statement".into(),
            self.statements.iter().map(statement_json).collect(),
        );
        Value::Object(document)
    }
}

fn statement_json(statement: &Statement) -> Value {
    let mut element = Map::new();
    if let Some(sid) = &statement.sid {
        element.insert("Sid".into(), sid.as_str().into());
    }
    let effect = match statement.effect {
        Effect::Allow => "Allow",
        Effect::Deny => "Deny",
    };
    element.insert("Effect".into(), effect.into());
    if let Some(principal) = &statement.principal {
        element.insert(
            listed_name("Principal", principal),
            principal_json(&principal.items),
        );
    }
    element.insert(
        listed_name("Action", &statement.action),
        patterns_json(&statement.action.items),
    );
    if let Some(resource) = &statement.resource {
        element.insert(
            listed_name("Resource", resource),
            patterns_json(&resource.items),
        );
    }
    if !statement.conditions.is_empty() {
        element.insert("Condition".into(), conditions_json(&statement.conditions));
    }
    Value::Object(element)
}

fn listed_name<T>(name: &str, listed: &Listed<T>) -> String {
    if listed.negated {
        format!("Not{name}")
    } else {
        name.to_owned()
    }
}

/// One item as a string, several as an array.
fn one_or_many<'a>(items: impl IntoIterator<Item = &'a str>) -> Value {
    let mut items: Vec<Value> = items.into_iter().map(Value::from).collect();
    if items.len() == 1 {
        items.remove(0)
    } else {
        Value::Array(items)
    }
}

fn patterns_json(patterns: &[Pattern]) -> Value {
    one_or_many(patterns.iter().map(Pattern::source))
}

/// `"*"` for anyone, otherwise a map of principal type to ids.
fn principal_json(entries: &[PrincipalEntry]) -> Value {
    let mut by_type: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for entry in entries {
        let PrincipalEntry::Typed { kind, id } = entry else {
            return Value::from("*");
        };
        by_type.entry(kind.element_name()).or_default().push(id);
    }
    by_type
        .into_iter()
        .map(|(name, ids)| (name.to_owned(), one_or_many(ids)))
        .collect::<Map<_, _>>()
        .into()
}

/// `{"Operator": {"key": values}}`: conditions under one operator name share its block.
fn conditions_json(conditions: &[Condition]) -> Value {
    let mut operators: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
    for written in conditions.iter().map(Condition::written) {
        operators.entry(&written.operator).or_default().insert(
            written.key.clone(),
            one_or_many(written.values.iter().map(String::as_str)),
        );
    }
    operators
        .into_iter()
        .map(|(operator, keys)| (operator.to_owned(), Value::Object(keys)))
        .collect::<Map<_, _>>()
        .into()
}
