//! Re-serialising policies: the canonical form, and that it keeps what the policy says.

use serde_json::{Value, json};

use super::{identity, parsed, trust};
use crate::policy::{Policy, PolicyKind};

/// Parses the canonical form of `policy` again, as the same kind.
fn reparsed(policy: &Policy) -> Policy {
    parsed(&policy.to_json().to_string(), policy.kind())
}

fn assert_fixed_point(policy: &Policy) {
    let canonical = policy.to_json();
    assert_eq!(reparsed(policy).to_json(), canonical);
}

#[test]
fn statement_is_always_an_array_and_lists_hold_one_string_or_an_array() {
    let policy = identity(
        r#"{"Statement":{"Sid":"","Effect":"Allow","Action":["s3:GetObject"],
            "Resource":["arn:aws:s3:::b/*","arn:aws:s3:::c/*"],
            "Condition":{"StringEquals":{"aws:PrincipalTag/team":["a","b"]},
                         "StringLike":{"s3:prefix":["home/*"]}}}}"#,
    );
    assert_eq!(
        policy.to_json(),
        json!({"Statement": [{
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": ["arn:aws:s3:::b/*", "arn:aws:s3:::c/*"],
            "Condition": {
                "StringEquals": {"aws:PrincipalTag/team": ["a", "b"]},
                "StringLike": {"s3:prefix": "home/*"}
            }
        }]})
    );
    assert_fixed_point(&policy);
}

#[test]
fn version_id_sids_and_not_elements_are_kept() {
    let policy = identity(
        r#"{"Version":"2012-10-17","Id":"reads","Statement":[
            {"Sid":"Everything","Effect":"Allow","NotAction":"iam:*","Resource":"*"},
            {"Effect":"Deny","Action":"s3:*","NotResource":"arn:aws:s3:::b/${aws:username}/*"}]}"#,
    );
    assert_eq!(
        policy.to_json(),
        json!({"Version": "2012-10-17", "Id": "reads", "Statement": [
            {"Sid": "Everything", "Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "s3:*", "NotResource": "arn:aws:s3:::b/${aws:username}/*"}
        ]})
    );
    assert_fixed_point(&policy);
    let legacy = identity(
        r#"{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::${x}"}}"#,
    );
    assert_eq!(legacy.to_json()["Version"], json!("2008-10-17"));
    assert_fixed_point(&legacy);
}

#[test]
fn condition_values_become_text_and_operators_stay_as_written() {
    let policy = identity(
        r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{
            "NumericLessThan":{"s3:max-keys":5},
            "Bool":{"aws:SecureTransport":true},
            "ArnEquals":{"aws:SourceArn":"arn:aws:s3:::a"},
            "ArnLike":{"aws:SourceArn":"arn:aws:s3:::b*"},
            "ForAnyValue:StringEqualsIgnoreCase":{"aws:TagKeys":["Env","Team"]}}}}"#,
    );
    assert_eq!(
        policy.to_json()["Statement"][0]["Condition"],
        json!({
            "NumericLessThan": {"s3:max-keys": "5"},
            "Bool": {"aws:SecureTransport": "true"},
            "ArnEquals": {"aws:SourceArn": "arn:aws:s3:::a"},
            "ArnLike": {"aws:SourceArn": "arn:aws:s3:::b*"},
            "ForAnyValue:StringEqualsIgnoreCase": {"aws:TagKeys": ["Env", "Team"]}
        })
    );
    assert_fixed_point(&policy);
}

#[test]
fn trust_policy_principals() {
    let policy = trust(
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"},
            {"Effect":"Allow","Principal":{"AWS":["123456789012","arn:aws:iam::210987654321:role/ci"],
                "Federated":"accounts.google.com","Service":"ec2.amazonaws.com"},
             "Action":["sts:AssumeRole","sts:TagSession"]},
            {"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:*"}]}"#,
    );
    assert_eq!(
        policy.to_json()["Statement"],
        json!([
            {"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"},
            {"Effect": "Allow",
             "Principal": {
                 "AWS": ["arn:aws:iam::123456789012:root", "arn:aws:iam::210987654321:role/ci"],
                 "Federated": "accounts.google.com",
                 "Service": "ec2.amazonaws.com"},
             "Action": ["sts:AssumeRole", "sts:TagSession"]},
            {"Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:*"}
        ])
    );
    assert_fixed_point(&policy);
}

#[test]
fn escaped_wildcards_and_variables_survive() {
    let policy = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject",
            "Resource":"arn:aws:s3:::b/${*}/${aws:PrincipalTag/team, 'none'}/*"}}"#,
    );
    assert_eq!(
        policy.to_json()["Statement"][0]["Resource"],
        json!("arn:aws:s3:::b/${*}/${aws:PrincipalTag/team, 'none'}/*")
    );
    assert_fixed_point(&policy);
}

#[test]
fn canonical_json_is_a_policy_document_of_the_same_kind() {
    let session = parsed(
        r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#,
        PolicyKind::Session,
    );
    let again = reparsed(&session);
    assert_eq!(again.kind(), PolicyKind::Session);
    assert!(matches!(session.to_json(), Value::Object(_)));
}
