//! Decisions: explicit deny wins, then allow, else implicit deny; Action, Resource and their
//! `Not` forms; several policies at once.

use super::{identity, now, request};
use crate::policy::{Decision, RequestContext, StatementRef, evaluate, evaluate_all};

fn decide(policy: &str, action: &str, resource: Option<&str>) -> Decision {
    evaluate(&identity(policy), &request(action, resource, &[]), now())
}

fn allows(policy: &str, action: &str, resource: &str) -> bool {
    decide(policy, action, Some(resource)).is_allow()
}

fn statement(index: usize, sid: &str) -> StatementRef {
    StatementRef {
        index,
        sid: Some(sid.to_owned()),
    }
}

const ALLOW_AND_DENY: &str = r#"{"Version":"2012-10-17","Statement":[
    {"Sid":"ReadAll","Effect":"Allow","Action":"s3:Get*","Resource":"*"},
    {"Sid":"ReadBucket","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"},
    {"Sid":"NoSecrets","Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::b/secret/*"}]}"#;

#[test]
fn explicit_deny_wins_and_names_its_statement() {
    assert_eq!(
        decide(
            ALLOW_AND_DENY,
            "s3:GetObject",
            Some("arn:aws:s3:::b/secret/key")
        ),
        Decision::ExplicitDeny(statement(2, "NoSecrets"))
    );
}

#[test]
fn allow_names_the_first_allowing_statement() {
    assert_eq!(
        decide(
            ALLOW_AND_DENY,
            "s3:GetObject",
            Some("arn:aws:s3:::b/public")
        ),
        Decision::Allow(statement(0, "ReadAll"))
    );
}

#[test]
fn nothing_matching_is_an_implicit_deny() {
    assert_eq!(
        decide(
            ALLOW_AND_DENY,
            "s3:PutObject",
            Some("arn:aws:s3:::b/public")
        ),
        Decision::ImplicitDeny
    );
}

#[test]
fn statement_without_sid_is_named_by_index() {
    let policy = r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#;
    assert_eq!(
        decide(policy, "s3:GetObject", None),
        Decision::Allow(StatementRef {
            index: 0,
            sid: None
        })
    );
}

#[test]
fn action_names_are_case_insensitive() {
    let policy = r#"{"Statement":{"Effect":"Allow","Action":"sts:AssumeRoleWithWebIdentity","Resource":"*"}}"#;
    assert!(allows(
        policy,
        "STS:assumerolewithwebidentity",
        "arn:aws:iam::1:role/r"
    ));
    assert!(!allows(policy, "sts:AssumeRole", "arn:aws:iam::1:role/r"));
}

#[test]
fn action_wildcards() {
    let policy =
        r#"{"Statement":{"Effect":"Allow","Action":["s3:Get*","iam:?etUser"],"Resource":"*"}}"#;
    assert!(allows(policy, "s3:GetObject", "arn:aws:s3:::b"));
    assert!(allows(policy, "S3:GETBUCKETPOLICY", "arn:aws:s3:::b"));
    assert!(allows(policy, "iam:GetUser", "arn:aws:s3:::b"));
    assert!(!allows(policy, "s3:PutObject", "arn:aws:s3:::b"));
    assert!(!allows(policy, "iam:ListUsers", "arn:aws:s3:::b"));
}

#[test]
fn not_action_matches_everything_else() {
    let policy = r#"{"Statement":{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}}"#;
    assert!(allows(policy, "s3:GetObject", "arn:aws:s3:::b"));
    assert!(!allows(policy, "iam:CreateUser", "arn:aws:s3:::b"));
}

#[test]
fn resources_are_case_sensitive() {
    let policy =
        r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::Bucket/*"}}"#;
    assert!(allows(policy, "s3:GetObject", "arn:aws:s3:::Bucket/k"));
    assert!(!allows(policy, "s3:GetObject", "arn:aws:s3:::bucket/k"));
}

#[test]
fn not_resource_matches_everything_else() {
    let policy = r#"{"Statement":[
        {"Effect":"Allow","Action":"s3:*","Resource":"*"},
        {"Effect":"Deny","Action":"s3:*","NotResource":["arn:aws:s3:::b","arn:aws:s3:::b/*"]}]}"#;
    assert!(allows(policy, "s3:GetObject", "arn:aws:s3:::b/k"));
    assert!(!allows(policy, "s3:GetObject", "arn:aws:s3:::other/k"));
}

#[test]
fn request_without_resource_matches_only_star() {
    let star = r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#;
    let arn = r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"arn:*"}}"#;
    assert!(decide(star, "sts:GetCallerIdentity", None).is_allow());
    assert!(!decide(arn, "sts:GetCallerIdentity", None).is_allow());
}

#[test]
fn evaluate_all_combines_policies() {
    let reads = identity(
        r#"{"Statement":{"Sid":"Read","Effect":"Allow","Action":"s3:Get*","Resource":"*"}}"#,
    );
    let writes = identity(
        r#"{"Statement":{"Sid":"Write","Effect":"Allow","Action":"s3:Put*","Resource":"*"}}"#,
    );
    let guard = identity(
        r#"{"Statement":{"Sid":"Guard","Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::vault/*"}}"#,
    );
    let all = [&reads, &writes, &guard];
    let at =
        |action: &str, resource: &str| -> RequestContext { request(action, Some(resource), &[]) };
    assert_eq!(
        evaluate_all(&all, &at("s3:PutObject", "arn:aws:s3:::b/k"), now()),
        Decision::Allow(statement(0, "Write"))
    );
    assert_eq!(
        evaluate_all(&all, &at("s3:GetObject", "arn:aws:s3:::vault/k"), now()),
        Decision::ExplicitDeny(statement(0, "Guard"))
    );
    assert_eq!(
        evaluate_all(&all, &at("s3:DeleteObject", "arn:aws:s3:::b/k"), now()),
        Decision::ImplicitDeny
    );
    assert_eq!(
        evaluate_all(&[], &at("s3:GetObject", "arn:aws:s3:::b/k"), now()),
        Decision::ImplicitDeny
    );
}
