//! Properties of evaluation over generated policies and requests: adding a Deny never grants,
//! adding an Allow never takes away, nothing matching is an implicit deny; a session policy only
//! narrows and the simulation agrees with the session decision; re-serialising a policy is a
//! fixed point that decides every request alike; and the glob matcher agrees with a plain
//! recursive definition.

use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value};

use super::{identity, now};
use crate::policy::pattern::{Case, Pattern, Syntax};
use crate::policy::{
    ContextKeys, Decision, EvalDecision, NamedPolicy, Policy, PolicyKind, RequestContext,
    StatementRef, evaluate, evaluate_all, evaluate_session, simulate,
};

const ACTIONS: [&str; 7] = [
    "*",
    "s3:*",
    "s3:Get*",
    "s3:GetObject",
    "s3:Put?bject",
    "iam:*",
    "sts:AssumeRole*",
];
const RESOURCES: [&str; 5] = [
    "*",
    "arn:aws:s3:::b/*",
    "arn:aws:s3:::b/secret/*",
    "arn:aws:s3:::other/*",
    "arn:aws:iam::*:role/*",
];
const CONDITIONS: [&str; 9] = [
    "",
    r#","Condition":{"StringEquals":{"aws:PrincipalTag/team":"a"}}"#,
    r#","Condition":{"StringNotEquals":{"aws:PrincipalTag/team":"a"}}"#,
    r#","Condition":{"ForAllValues:StringLike":{"aws:TagKeys":"k*"}}"#,
    r#","Condition":{"ForAnyValue:StringEquals":{"aws:TagKeys":"k1"}}"#,
    r#","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#,
    r#","Condition":{"NumericLessThan":{"s3:max-keys":5}}"#,
    r#","Condition":{"Null":{"aws:PrincipalTag/team":"true"}}"#,
    r#","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}"#,
];
const REQUEST_ACTIONS: [&str; 5] = [
    "s3:GetObject",
    "s3:PutObject",
    "iam:CreateUser",
    "sts:AssumeRole",
    "ec2:RunInstances",
];
const REQUEST_RESOURCES: [&str; 4] = [
    "arn:aws:s3:::b/k",
    "arn:aws:s3:::b/secret/k",
    "arn:aws:s3:::other/k",
    "arn:aws:iam::1:role/r",
];

fn statement(effect: &'static str) -> impl Strategy<Value = String> {
    (
        select(&ACTIONS[..]),
        any::<bool>(),
        select(&RESOURCES[..]),
        any::<bool>(),
        select(&CONDITIONS[..]),
    )
        .prop_map(move |(action, not_action, resource, not_resource, condition)| {
            let action_element = if not_action { "NotAction" } else { "Action" };
            let resource_element = if not_resource { "NotResource" } else { "Resource" };
            format!(
                r#"{{"Effect":"{effect}","{action_element}":"{action}","{resource_element}":"{resource}"{condition}}}"#
            )
        })
}

fn any_statement() -> impl Strategy<Value = String> {
    prop_oneof![statement("Allow"), statement("Deny")]
}

fn statements() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(any_statement(), 1..5)
}

fn compile(statements: &[String]) -> Policy {
    identity(&format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        statements.join(",")
    ))
}

fn with(statements: &[String], extra: &str) -> Policy {
    let mut all = statements.to_vec();
    all.push(extra.to_owned());
    compile(&all)
}

fn request() -> impl Strategy<Value = RequestContext> {
    (
        select(&REQUEST_ACTIONS[..]),
        select(&REQUEST_RESOURCES[..]),
        prop::option::of(select(&["a", "b"][..])),
        prop::collection::vec(select(&["k1", "k2", "x"][..]), 0..3),
        prop::option::of(select(&["10.1.2.3", "192.0.2.1"][..])),
        prop::option::of(0u32..10),
    )
        .prop_map(|(action, resource, team, tag_keys, ip, max_keys)| {
            let mut keys = ContextKeys::default();
            if let Some(team) = team {
                keys.insert("aws:PrincipalTag/team", team);
            }
            for tag_key in tag_keys {
                keys.insert("aws:TagKeys", tag_key);
            }
            if let Some(ip) = ip {
                keys.insert("aws:SourceIp", ip);
            }
            if let Some(max_keys) = max_keys {
                keys.insert("s3:max-keys", max_keys.to_string());
            }
            RequestContext {
                principals: Vec::new(),
                action: action.to_owned(),
                resource: Some(resource.to_owned()),
                keys,
            }
        })
}

/// Condition blocks the round-trip documents combine: every operator family, single and
/// multiple values, numbers and booleans, `IfExists`, set qualifiers and policy variables.
const CONDITION_BLOCKS: [&str; 12] = [
    r#"{"StringEquals":{"aws:PrincipalTag/team":"a"}}"#,
    r#"{"StringNotEquals":{"aws:PrincipalTag/team":["a","b"]}}"#,
    r#"{"ForAllValues:StringLike":{"aws:TagKeys":["k*","x"]}}"#,
    r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":"k1"}}"#,
    r#"{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","192.0.2.1"]}}"#,
    r#"{"NumericLessThan":{"s3:max-keys":5}}"#,
    r#"{"NumericGreaterThanEquals":{"s3:max-keys":"2.5"}}"#,
    r#"{"Null":{"aws:PrincipalTag/team":true}}"#,
    r#"{"DateGreaterThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}"#,
    r#"{"StringLikeIfExists":{"aws:PrincipalTag/Team":"${aws:PrincipalTag/team}*"}}"#,
    r#"{"ArnLike":{"aws:SourceArn":"arn:aws:s3:::b*"}}"#,
    r#"{"ArnEquals":{"aws:SourceArn":["arn:aws:s3:::b","arn:aws:s3:::c"]}}"#,
];
const ROUND_TRIP_RESOURCES: [&str; 7] = [
    "*",
    "arn:aws:s3:::b/*",
    "arn:aws:s3:::b/secret/*",
    "arn:aws:s3:::b/${aws:PrincipalTag/team}/*",
    "arn:aws:s3:::b/${*}",
    "arn:aws:s3:::other/${aws:username, 'k'}",
    "arn:aws:iam::*:role/*",
];

/// A list element as policies write it: one string, or an array of one or more.
fn one_or_many(pool: &'static [&'static str]) -> impl Strategy<Value = Value> {
    (prop::collection::vec(select(pool), 1..4), any::<bool>()).prop_map(|(items, bare)| match items
        .as_slice()
    {
        [one] if bare => Value::from(*one),
        _ => Value::from(items),
    })
}

/// A Condition element: up to three blocks, merged (blocks of the same operator share it).
fn condition() -> impl Strategy<Value = Option<Value>> {
    prop::collection::vec(select(&CONDITION_BLOCKS[..]), 0..4).prop_map(|blocks| {
        let mut operators = Map::new();
        for block in blocks {
            let Ok(Value::Object(block)) = serde_json::from_str::<Value>(block) else {
                continue;
            };
            for (operator, keys) in block {
                if let (Value::Object(merged), Value::Object(keys)) = (
                    operators
                        .entry(operator)
                        .or_insert_with(|| Value::Object(Map::new())),
                    keys,
                ) {
                    merged.extend(keys);
                }
            }
        }
        (!operators.is_empty()).then_some(Value::Object(operators))
    })
}

/// One statement of an identity policy, its Sid (if any) made unique by `index`.
fn statement_document(index: usize) -> impl Strategy<Value = Value> {
    (
        0u8..3,
        any::<bool>(),
        (any::<bool>(), one_or_many(&ACTIONS)),
        (any::<bool>(), one_or_many(&ROUND_TRIP_RESOURCES)),
        condition(),
    )
        .prop_map(move |(sid, allow, action, resource, condition)| {
            let mut statement = Map::new();
            match sid {
                0 => {}
                1 => {
                    statement.insert("Sid".into(), "".into());
                }
                _ => {
                    statement.insert("Sid".into(), format!("S{index}").into());
                }
            }
            statement.insert("Effect".into(), if allow { "Allow" } else { "Deny" }.into());
            let (not_action, action) = action;
            statement.insert(
                if not_action { "NotAction" } else { "Action" }.into(),
                action,
            );
            let (not_resource, resource) = resource;
            statement.insert(
                if not_resource {
                    "NotResource"
                } else {
                    "Resource"
                }
                .into(),
                resource,
            );
            if let Some(condition) = condition {
                statement.insert("Condition".into(), condition);
            }
            Value::Object(statement)
        })
}

/// An identity-policy document as text.
fn policy_document() -> impl Strategy<Value = String> {
    (
        select(&[None, Some("2008-10-17"), Some("2012-10-17")][..]),
        prop::option::of(select(&["doc", ""][..])),
        (1usize..4).prop_flat_map(|count| (0..count).map(statement_document).collect::<Vec<_>>()),
        any::<bool>(),
    )
        .prop_map(|(version, id, statements, bare)| {
            let mut document = Map::new();
            if let Some(version) = version {
                document.insert("Version".into(), version.into());
            }
            if let Some(id) = id {
                document.insert("Id".into(), id.into());
            }
            let statement = match statements.as_slice() {
                [one] if bare => one.clone(),
                _ => Value::from(statements),
            };
            document.insert("Statement".into(), statement);
            Value::Object(document).to_string()
        })
}

fn parse_identity(text: &str) -> Result<Policy, TestCaseError> {
    Policy::parse(text, PolicyKind::Identity)
        .map_err(|error| TestCaseError::fail(format!("{error}\n{text}")))
}

fn statement_ref(decision: &Decision) -> Option<&StatementRef> {
    match decision {
        Decision::Allow(statement) | Decision::ExplicitDeny(statement) => Some(statement),
        Decision::ImplicitDeny => None,
    }
}

/// The definition of `*`/`?` matching, written for clarity rather than speed.
fn reference_glob(pattern: &[char], text: &[char]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some(('*', rest)) => (0..=text.len()).any(|skip| reference_glob(rest, &text[skip..])),
        Some(('?', rest)) => !text.is_empty() && reference_glob(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && reference_glob(rest, &text[1..]),
    }
}

proptest! {
    #[test]
    fn adding_a_deny_never_grants(base in statements(), deny in statement("Deny"), request in request()) {
        let before = evaluate(&compile(&base), &request, now());
        let after = evaluate(&with(&base, &deny), &request, now());
        prop_assert!(!after.is_allow() || before.is_allow(), "{before:?} -> {after:?}");
    }

    #[test]
    fn adding_an_allow_never_takes_away(base in statements(), allow in statement("Allow"), request in request()) {
        let before = evaluate(&compile(&base), &request, now());
        let after = evaluate(&with(&base, &allow), &request, now());
        prop_assert!(!before.is_allow() || after.is_allow(), "{before:?} -> {after:?}");
    }

    #[test]
    fn an_explicit_deny_survives_any_addition(base in statements(), extra in any_statement(), request in request()) {
        let before = evaluate(&compile(&base), &request, now());
        let after = evaluate(&with(&base, &extra), &request, now());
        if matches!(before, Decision::ExplicitDeny(_)) {
            prop_assert_eq!(before, after);
        }
    }

    #[test]
    fn nothing_matching_is_an_implicit_deny(base in statements(), request in request()) {
        let mut unmatched = request;
        unmatched.action = "ec2:RunInstances".to_owned();
        let named_actions: Vec<String> = base
            .iter()
            .filter(|s| !s.contains("\"NotAction\"") && !s.contains("\"Action\":\"*\""))
            .cloned()
            .collect();
        prop_assume!(!named_actions.is_empty());
        prop_assert_eq!(evaluate(&compile(&named_actions), &unmatched, now()), Decision::ImplicitDeny);
    }

    #[test]
    fn evaluate_all_lets_any_explicit_deny_win(first in statements(), second in statements(), request in request()) {
        let (first, second) = (compile(&first), compile(&second));
        let one = [evaluate(&first, &request, now()), evaluate(&second, &request, now())];
        let all = evaluate_all(&[&first, &second], &request, now());
        let expected_deny = one.iter().any(|d| matches!(d, Decision::ExplicitDeny(_)));
        let expected_allow = !expected_deny && one.iter().any(Decision::is_allow);
        prop_assert_eq!(matches!(all, Decision::ExplicitDeny(_)), expected_deny);
        prop_assert_eq!(all.is_allow(), expected_allow);
    }

    #[test]
    fn session_policies_only_narrow(role in statements(), session in prop::collection::vec(statements(), 0..3), request in request()) {
        let role = compile(&role);
        let session: Vec<Policy> = session.iter().map(|s| compile(s)).collect();
        let session: Vec<&Policy> = session.iter().collect();
        let granted = evaluate_all(&[&role], &request, now());
        let decided = evaluate_session(&[&role], &session, &request, now());
        if session.is_empty() {
            prop_assert_eq!(&decided, &granted);
        }
        let bounded = evaluate_all(&session, &request, now());
        if decided.is_allow() {
            prop_assert!(granted.is_allow());
            prop_assert!(session.is_empty() || bounded.is_allow());
        }
        let any_deny = [&granted, &bounded].iter().any(|d| matches!(d, Decision::ExplicitDeny(_)));
        prop_assert_eq!(matches!(decided, Decision::ExplicitDeny(_)), any_deny);
    }

    #[test]
    fn simulation_agrees_with_the_session_decision(role in statements(), session in prop::collection::vec(statements(), 0..3), request in request()) {
        let role = compile(&role);
        let session: Vec<Policy> = session.iter().map(|s| compile(s)).collect();
        let ids: Vec<String> = (0..session.len()).map(|n| format!("session{n}")).collect();
        let named: Vec<NamedPolicy<'_>> = session.iter().zip(&ids).map(|(policy, id)| NamedPolicy { id, policy }).collect();
        let simulation = simulate(&[NamedPolicy { id: "role", policy: &role }], &named, &request, now());
        let decided = evaluate_session(&[&role], &session.iter().collect::<Vec<_>>(), &request, now());
        let expected = match decided {
            Decision::Allow(_) => EvalDecision::Allowed,
            Decision::ExplicitDeny(_) => EvalDecision::ExplicitDeny,
            Decision::ImplicitDeny => EvalDecision::ImplicitDeny,
        };
        prop_assert_eq!(simulation.decision, expected);
        let first = simulation.matched_statements.first().map(|m| StatementRef { index: m.index, sid: m.sid.clone() });
        prop_assert_eq!(first.as_ref(), statement_ref(&decided));
    }

    #[test]
    fn reserialising_is_a_fixed_point_that_decides_alike(text in policy_document(), requests in prop::collection::vec(request(), 1..8)) {
        let original = parse_identity(&text)?;
        let canonical = original.to_json();
        let again = parse_identity(&canonical.to_string())?;
        prop_assert_eq!(again.to_json(), canonical);
        for request in &requests {
            prop_assert_eq!(evaluate(&original, request, now()), evaluate(&again, request, now()));
        }
    }

    #[test]
    fn glob_agrees_with_the_definition(pattern in "[ab*?]{0,8}", text in "[ab]{0,10}") {
        let syntax = Syntax { wildcards: true, variables: false };
        let compiled = Pattern::compile(&pattern, syntax).map_err(TestCaseError::fail)?;
        let pattern_chars: Vec<char> = pattern.chars().collect();
        let text_chars: Vec<char> = text.chars().collect();
        prop_assert_eq!(
            compiled.matches(&text, &ContextKeys::default(), Case::Sensitive),
            Some(reference_glob(&pattern_chars, &text_chars))
        );
    }
}
