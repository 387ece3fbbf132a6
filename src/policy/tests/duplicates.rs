//! A member named twice in one object is `MalformedPolicyDocument`, wherever the object is
//! (serde_json alone keeps the last, so a trust statement with two `Condition` members lost
//! its `sub` condition), and the problem says which member and where.

use crate::policy::{Policy, PolicyError, PolicyKind};

fn problems(text: &str, kind: PolicyKind) -> Vec<String> {
    match Policy::parse(text, kind) {
        Ok(_) => panic!("a policy naming a member twice should be rejected:\n{text}"),
        Err(PolicyError { problems }) => problems,
    }
}

/// The problem for `name` repeated in the object at `at` (the root when empty).
fn duplicate(at: &str, name: &str) -> String {
    let what = format!("Duplicate member \"{name}\": a JSON object may name each member only once");
    if at.is_empty() {
        what
    } else {
        format!("{at}: {what}")
    }
}

/// The case from the issue: the second `Condition` replaced the first, and with it the `sub`
/// condition, so any subject of the provider could assume the role.
const TWO_CONDITIONS: &str = include_str!("../../../tests/fixtures/policy/two-conditions.json");
/// What its author meant: both operators in one `Condition` block.
const ONE_CONDITION: &str = include_str!("../../../tests/fixtures/policy/one-condition.json");

#[test]
fn two_condition_members_in_a_trust_statement() {
    assert_eq!(
        problems(TWO_CONDITIONS, PolicyKind::Trust),
        vec![duplicate("Statement[0]", "Condition")]
    );
}

#[test]
fn at_the_top_level() {
    let text = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"},
                   "Statement":{"Effect":"Deny","Action":"*","Resource":"*"}}"#;
    assert_eq!(
        problems(text, PolicyKind::Identity),
        vec![duplicate("", "Statement")]
    );
}

#[test]
fn in_a_statement() {
    let text = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"*","Resource":"*"},
        {"Effect":"Deny","Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
    assert_eq!(
        problems(text, PolicyKind::Session),
        vec![duplicate("Statement[1]", "Effect")]
    );
    // A single statement object is at `Statement`.
    let text = r#"{"Statement":{"Effect":"Allow","Action":"*","Action":"s3:*","Resource":"*"}}"#;
    assert_eq!(
        problems(text, PolicyKind::Identity),
        vec![duplicate("Statement", "Action")]
    );
}

#[test]
fn in_a_condition_block() {
    let text = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*",
        "Condition":{"StringEquals":{"aws:PrincipalTag/team":"a"},"StringEquals":{"aws:username":"b"}}}}"#;
    assert_eq!(
        problems(text, PolicyKind::Identity),
        vec![duplicate("Statement.Condition", "StringEquals")]
    );
}

#[test]
fn in_an_operators_keys() {
    let text = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
        "Principal":{"Federated":"accounts.google.com"},"Action":"sts:AssumeRoleWithWebIdentity",
        "Condition":{"StringEquals":{"accounts.google.com:sub":"alice","accounts.google.com:sub":"bob"}}}]}"#;
    assert_eq!(
        problems(text, PolicyKind::Trust),
        vec![duplicate(
            "Statement[0].Condition.StringEquals",
            "accounts.google.com:sub"
        )]
    );
}

#[test]
fn in_a_principal() {
    let text = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
        "Principal":{"Federated":"accounts.google.com","Federated":"cognito-identity.amazonaws.com"},
        "Action":"sts:AssumeRoleWithWebIdentity"}]}"#;
    assert_eq!(
        problems(text, PolicyKind::Trust),
        vec![duplicate("Statement[0].Principal", "Federated")]
    );
    let text = r#"{"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":"123456789012","AWS":"*"},
        "Action":"sts:AssumeRole"}]}"#;
    assert_eq!(
        problems(text, PolicyKind::Trust),
        vec![duplicate("Statement[0].NotPrincipal", "AWS")]
    );
}

#[test]
fn names_are_compared_after_unescaping() {
    let escaped = TWO_CONDITIONS.replacen("\"Condition\"", r#""Cond\u0069tion""#, 1);
    assert_ne!(escaped, TWO_CONDITIONS);
    assert_eq!(
        problems(&escaped, PolicyKind::Trust),
        vec![duplicate("Statement[0]", "Condition")]
    );
    let text = r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*",
        "Condition":{"StringEquals":{"aws:PrincipalTag\/team":"a","aws:PrincipalTag/team":"b"}}}}"#;
    assert_eq!(
        problems(text, PolicyKind::Identity),
        vec![duplicate(
            "Statement.Condition.StringEquals",
            "aws:PrincipalTag/team"
        )]
    );
}

#[test]
fn every_duplicate_is_reported_with_the_other_problems() {
    let text = r#"{"Version":"2012-10-17","Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"*","Resource":"*","Resource":"*"},
        {"Effect":"Maybe","Action":"s3:*","Resource":"*",
         "Condition":{"Bool":{"aws:SecureTransport":"true","aws:SecureTransport":"false"}}}]}"#;
    let found = problems(text, PolicyKind::Identity);
    for expected in [
        duplicate("", "Version"),
        duplicate("Statement[0]", "Resource"),
        duplicate("Statement[1].Condition.Bool", "aws:SecureTransport"),
        "Statement[1]: Effect must be \"Allow\" or \"Deny\", not \"Maybe\"".to_owned(),
    ] {
        assert!(found.contains(&expected), "{expected:?} not in {found:?}");
    }
    assert_eq!(found.len(), 4, "{found:?}");
}

#[test]
fn the_name_is_quoted_with_its_escapes() {
    let text = "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\",\
                \"x\\ny\":1,\"x\\ny\":2}}";
    let found = problems(text, PolicyKind::Identity);
    assert!(
        found.contains(&duplicate("Statement", "x\\ny")),
        "{found:?}"
    );
}

#[test]
fn the_same_name_in_different_objects_is_fine() {
    let text = r#"{"Version":"2012-10-17","Statement":[
        {"Sid":"A","Effect":"Allow","Action":"*","Resource":"*",
         "Condition":{"StringEquals":{"aws:username":"a"},"StringLike":{"aws:username":"b*"}}},
        {"Sid":"B","Effect":"Allow","Action":"*","Resource":"*",
         "Condition":{"StringEquals":{"aws:username":"a"}}}]}"#;
    assert!(Policy::parse(text, PolicyKind::Identity).is_ok());
    assert!(Policy::parse(ONE_CONDITION, PolicyKind::Trust).is_ok());
}
