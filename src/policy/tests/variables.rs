//! Policy variables (`Version` 2012-10-17): substitution in Resource and condition values,
//! defaults, special characters, and unresolvable variables making a statement not apply.

use super::{identity, now, request};
use crate::policy::pattern::{Case, Pattern, Syntax};
use crate::policy::{ContextKeys, Decision, StatementRef, evaluate};

const HOME_POLICY: &str = r#"{
    "Version": "2012-10-17",
    "Statement": {
        "Effect": "Allow",
        "Action": ["s3:GetObject", "s3:PutObject"],
        "Resource": "arn:aws:s3:::amzn-s3-demo-bucket/home/${aws:username}/*"
    }
}"#;

fn allowed(policy: &str, resource: &str, pairs: &[(&str, &str)]) -> bool {
    evaluate(
        &identity(policy),
        &request("s3:GetObject", Some(resource), pairs),
        now(),
    )
    .is_allow()
}

#[test]
fn resource_variable_is_substituted() {
    let own = "arn:aws:s3:::amzn-s3-demo-bucket/home/david/notes.txt";
    let other = "arn:aws:s3:::amzn-s3-demo-bucket/home/eve/notes.txt";
    assert!(allowed(HOME_POLICY, own, &[("aws:username", "david")]));
    assert!(!allowed(HOME_POLICY, other, &[("aws:username", "david")]));
}

#[test]
fn unresolvable_resource_variable_does_not_match() {
    let own = "arn:aws:s3:::amzn-s3-demo-bucket/home/david/notes.txt";
    assert!(!allowed(HOME_POLICY, own, &[]));
}

#[test]
fn multivalued_key_is_not_a_variable() {
    let own = "arn:aws:s3:::amzn-s3-demo-bucket/home/david/notes.txt";
    let pairs = [("aws:username", "david"), ("aws:username", "eve")];
    assert!(!allowed(HOME_POLICY, own, &pairs));
}

#[test]
fn default_value_applies_when_key_is_missing() {
    let policy = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*",
        "Resource":"arn:aws:s3:::bucket/${ aws:username , 'anonymous' }/*"}}"#;
    assert!(allowed(policy, "arn:aws:s3:::bucket/anonymous/x", &[]));
    assert!(allowed(
        policy,
        "arn:aws:s3:::bucket/david/x",
        &[("aws:username", "david")]
    ));
    assert!(!allowed(
        policy,
        "arn:aws:s3:::bucket/anonymous/x",
        &[("aws:username", "david")]
    ));
}

#[test]
fn special_characters_are_literal() {
    let policy = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*",
        "Resource":"arn:aws:s3:::bucket/${*}${?}${$}"}}"#;
    assert!(allowed(policy, "arn:aws:s3:::bucket/*?$", &[]));
    assert!(!allowed(policy, "arn:aws:s3:::bucket/ab$", &[]));
}

#[test]
fn substituted_values_are_matched_literally() {
    let policy = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*",
        "Resource":"arn:aws:s3:::bucket/${aws:username}"}}"#;
    assert!(!allowed(
        policy,
        "arn:aws:s3:::bucket/anything",
        &[("aws:username", "*")]
    ));
    assert!(allowed(
        policy,
        "arn:aws:s3:::bucket/*",
        &[("aws:username", "*")]
    ));
}

#[test]
fn version_2008_has_no_variables() {
    let policy = r#"{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"s3:*",
        "Resource":"arn:aws:s3:::bucket/${aws:username}"}}"#;
    assert!(allowed(
        policy,
        "arn:aws:s3:::bucket/${aws:username}",
        &[("aws:username", "d")]
    ));
    assert!(!allowed(
        policy,
        "arn:aws:s3:::bucket/d",
        &[("aws:username", "d")]
    ));
    let unversioned = r#"{"Statement":{"Effect":"Allow","Action":"s3:*",
        "Resource":"arn:aws:s3:::bucket/${aws:username}"}}"#;
    assert!(!allowed(
        unversioned,
        "arn:aws:s3:::bucket/d",
        &[("aws:username", "d")]
    ));
}

#[test]
fn condition_values_take_variables() {
    let policy = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:ListBucket",
        "Resource":"arn:aws:s3:::bucket",
        "Condition":{"StringLike":{"s3:prefix":["${aws:username}/*"]}}}}"#;
    let request = |prefix: &str| {
        request(
            "s3:ListBucket",
            Some("arn:aws:s3:::bucket"),
            &[("aws:username", "david"), ("s3:prefix", prefix)],
        )
    };
    assert!(evaluate(&identity(policy), &request("david/photos"), now()).is_allow());
    assert!(!evaluate(&identity(policy), &request("eve/photos"), now()).is_allow());
}

#[test]
fn provider_claim_variable_in_arn_condition() {
    let policy = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*",
        "Resource":"*",
        "Condition":{"ArnLike":{"ex:target":"arn:aws:s3:::bucket/${accounts.google.com:sub}/*"},
                     "StringEqualsIgnoreCase":{"ex:owner":"${accounts.google.com:sub}"}}}}"#;
    let pairs = [
        ("accounts.google.com:sub", "110169484474386276334"),
        (
            "ex:target",
            "arn:aws:s3:::bucket/110169484474386276334/file",
        ),
        ("ex:owner", "110169484474386276334"),
    ];
    assert!(allowed(policy, "arn:aws:s3:::x", &pairs));
    let elsewhere = [
        ("accounts.google.com:sub", "110169484474386276334"),
        ("ex:target", "arn:aws:s3:::bucket/other/file"),
        ("ex:owner", "110169484474386276334"),
    ];
    assert!(!allowed(policy, "arn:aws:s3:::x", &elsewhere));
}

/// An unresolvable variable under a negated operator must not make a Deny apply (the statement
/// is invalid, not "not equal").
#[test]
fn unresolvable_variable_makes_a_deny_not_apply() {
    let policy = r#"{"Version":"2012-10-17","Statement":[
        {"Sid":"Owner","Effect":"Deny","Action":"s3:*","Resource":"*",
         "Condition":{"StringNotEquals":{"aws:ResourceTag/owner":"${aws:username}"}}},
        {"Sid":"All","Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
    let decision = evaluate(
        &identity(policy),
        &request(
            "s3:GetObject",
            Some("arn:aws:s3:::b"),
            &[("aws:ResourceTag/owner", "eve")],
        ),
        now(),
    );
    assert_eq!(
        decision,
        Decision::Allow(StatementRef {
            index: 1,
            sid: Some("All".into())
        })
    );
    let with_user = evaluate(
        &identity(policy),
        &request(
            "s3:GetObject",
            Some("arn:aws:s3:::b"),
            &[("aws:ResourceTag/owner", "eve"), ("aws:username", "david")],
        ),
        now(),
    );
    assert!(matches!(with_user, Decision::ExplicitDeny(_)));
}

#[test]
fn unresolvable_variable_makes_not_resource_not_apply() {
    let policy = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*",
        "NotResource":"arn:aws:s3:::bucket/${aws:username}/*"}}"#;
    assert!(!allowed(policy, "arn:aws:s3:::elsewhere", &[]));
    assert!(allowed(
        policy,
        "arn:aws:s3:::elsewhere",
        &[("aws:username", "d")]
    ));
}

/// The hand-written glob against the cases that usually break one.
#[test]
fn glob_edge_cases() {
    let syntax = Syntax {
        wildcards: true,
        variables: false,
    };
    let keys = ContextKeys::default();
    let cases = [
        ("*", "", true),
        ("", "", true),
        ("", "a", false),
        ("a*", "a", true),
        ("*a", "ba", true),
        ("*a", "ab", false),
        ("a*b*c", "abbbcbc", true),
        ("a*b*c", "abbbcb", false),
        ("?", "é", true),
        ("??", "é", false),
        ("*é*", "caféine", true),
        ("**", "x", true),
        ("*?*?*", "a", false),
        ("*aab", "aaaab", true),
    ];
    for (pattern, text, expected) in cases {
        let compiled = Pattern::compile(pattern, syntax).expect("pattern compiles");
        assert_eq!(
            compiled.matches(text, &keys, Case::Sensitive),
            Some(expected),
            "{pattern:?} vs {text:?}"
        );
    }
}
