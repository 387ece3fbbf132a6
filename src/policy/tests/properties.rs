//! Properties of evaluation over generated policies and requests: adding a Deny never grants,
//! adding an Allow never takes away, nothing matching is an implicit deny; and the glob matcher
//! agrees with a plain recursive definition.

use proptest::prelude::*;
use proptest::sample::select;

use super::{identity, now};
use crate::policy::pattern::{Case, Pattern, Syntax};
use crate::policy::{ContextKeys, Decision, Policy, RequestContext, evaluate, evaluate_all};

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
