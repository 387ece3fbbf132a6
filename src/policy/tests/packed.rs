//! `PackedPolicySize`: the properties the model promises and the STS API Reference's examples.

use std::collections::BTreeMap;

use crate::policy::{Policy, PolicyKind, packed_policy_size};

/// The inline policy of the STS API Reference's AssumeRole and GetFederationToken examples.
const EXAMPLE_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Stmt1","Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}"#;

fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

/// A valid session policy of exactly `size` characters without whitespace, indented as people
/// write them.
fn session_policy_of(size: usize) -> String {
    let head = r#"{ "Version": "2012-10-17", "Statement": [ { "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/"#;
    let tail = r#"" } ] }"#;
    let frame = Policy::len_without_whitespace(head) + Policy::len_without_whitespace(tail);
    format!("{head}{}{tail}", "k".repeat(size - frame))
}

#[test]
fn nothing_passed_is_zero() {
    assert_eq!(packed_policy_size(None, &[], &BTreeMap::new(), &[]), 0);
}

#[test]
fn a_session_policy_at_the_plaintext_limit_alone_fits() {
    let limit = PolicyKind::Session.size_limit();
    let policy = session_policy_of(limit);
    assert!(
        Policy::parse(&policy, PolicyKind::Session).is_ok(),
        "the test policy is a valid session policy at the limit"
    );
    assert_eq!(
        packed_policy_size(Some(&policy), &[], &BTreeMap::new(), &[]),
        100
    );
    let over = session_policy_of(limit + 1);
    assert!(packed_policy_size(Some(&over), &[], &BTreeMap::new(), &[]) > 100);
}

#[test]
fn whitespace_in_the_policy_is_free() {
    let spaced = session_policy_of(1024);
    let compact: String = spaced.chars().filter(|c| !c.is_whitespace()).collect();
    assert_ne!(spaced, compact);
    assert_eq!(
        packed_policy_size(Some(&spaced), &[], &BTreeMap::new(), &[]),
        packed_policy_size(Some(&compact), &[], &BTreeMap::new(), &[])
    );
    assert_eq!(
        packed_policy_size(Some(&compact), &[], &BTreeMap::new(), &[]),
        50
    );
}

#[test]
fn fifty_maximal_tags_exceed_the_limit() {
    let maximal: BTreeMap<String, String> = (0..50)
        .map(|n| (format!("{n:0>128}"), "v".repeat(256)))
        .collect();
    assert_eq!(maximal.len(), 50);
    let size = packed_policy_size(None, &[], &maximal, &[]);
    assert!(size > 100, "{size}");
    assert_eq!(size, 938);
}

#[test]
fn matches_the_sts_api_reference_examples() {
    let assume_role = packed_policy_size(
        Some(EXAMPLE_POLICY),
        &[],
        &tags(&[
            ("Project", "Unicorn"),
            ("Team", "Automation"),
            ("Cost-Center", "12345"),
        ]),
        &strings(&["Project", "Cost-Center"]),
    );
    assert_eq!(assume_role, 8);
    let federation_token = packed_policy_size(
        Some(EXAMPLE_POLICY),
        &[],
        &tags(&[("Project", "Pegasus"), ("Cost-Center", "98765")]),
        &[],
    );
    assert_eq!(federation_token, 8);
}

#[test]
fn policy_arns_and_tags_count_by_character_rounded_up() {
    let arn = "arn:aws:iam::123456789012:policy/ReadOnly";
    assert_eq!(arn.len(), 41);
    assert_eq!(
        packed_policy_size(None, &strings(&[arn]), &BTreeMap::new(), &[]),
        3,
        "41 of 2048 is 2.002%, rounded up"
    );
    assert_eq!(packed_policy_size(None, &[], &tags(&[("k", "")]), &[]), 1);
    assert_eq!(
        packed_policy_size(None, &[], &tags(&[("é", "ü")]), &[]),
        packed_policy_size(None, &[], &tags(&[("e", "u")]), &[]),
        "characters, not bytes"
    );
    let all = packed_policy_size(
        Some(&session_policy_of(1024)),
        &strings(&[&"a".repeat(512)]),
        &tags(&[(&"k".repeat(256), &"v".repeat(256))]),
        &[],
    );
    assert_eq!(
        all, 100,
        "1024 + 512 + 512 characters fill the space exactly"
    );
}
