//! `MalformedPolicyDocument`: one negative test per validation rule, plus the size quotas and
//! the guarantee that every problem is reported at once.

use crate::policy::{Policy, PolicyError, PolicyKind};

fn problems(text: &str, kind: PolicyKind) -> Vec<String> {
    match Policy::parse(text, kind) {
        Ok(_) => panic!("policy should be rejected:\n{text}"),
        Err(PolicyError { problems }) => problems,
    }
}

/// Asserts that `text` is rejected with a problem containing `expected`.
fn rejected(text: &str, kind: PolicyKind, expected: &str) {
    let found = problems(text, kind);
    assert!(
        found.iter().any(|problem| problem.contains(expected)),
        "expected a problem containing {expected:?}, got {found:?}"
    );
}

fn rejected_identity(text: &str, expected: &str) {
    rejected(text, PolicyKind::Identity, expected);
}

/// An identity statement with `extra` spliced in after Effect.
fn identity_statement(extra: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow",{extra}}}}}"#)
}

/// An identity statement allowing everything, guarded by `condition`.
fn with_condition(condition: &str) -> String {
    identity_statement(&format!(
        r#""Action":"*","Resource":"*","Condition":{condition}"#
    ))
}

#[test]
fn invalid_json() {
    rejected_identity(r#"{"Statement": ["#, "Syntax errors in policy");
    rejected_identity("", "Syntax errors in policy");
}

#[test]
fn document_must_be_an_object() {
    rejected_identity(r#"[{"Effect":"Allow"}]"#, "must be a JSON object");
}

#[test]
fn unknown_top_level_field() {
    rejected_identity(
        r#"{"Version":"2012-10-17","Statements":[],"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
        "Unknown field Statements",
    );
}

#[test]
fn bad_version() {
    rejected_identity(
        r#"{"Version":"2020-01-01","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
        "Version must be",
    );
    rejected_identity(
        r#"{"Version":2012,"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
        "Version must be",
    );
}

#[test]
fn id_must_be_a_string() {
    rejected_identity(
        r#"{"Id":7,"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
        "Id must be a string",
    );
}

#[test]
fn statement_missing_empty_or_wrong_type() {
    rejected_identity(
        r#"{"Version":"2012-10-17"}"#,
        "Missing required field Statement",
    );
    rejected_identity(r#"{"Statement":[]}"#, "at least one statement");
    rejected_identity(
        r#"{"Statement":"Allow"}"#,
        "Statement must be an object or an array",
    );
    rejected_identity(
        r#"{"Statement":["Allow"]}"#,
        "Statement[0]: a statement must be a JSON object",
    );
}

#[test]
fn unknown_statement_element() {
    rejected_identity(
        &identity_statement(r#""Action":"*","Resource":"*","Actions":"s3:*""#),
        "Statement[0]: Unknown field Actions",
    );
}

#[test]
fn bad_effect() {
    rejected_identity(
        r#"{"Statement":{"Action":"*","Resource":"*"}}"#,
        "Missing required field Effect",
    );
    rejected_identity(
        r#"{"Statement":{"Effect":"allow","Action":"*","Resource":"*"}}"#,
        "Effect must be \"Allow\" or \"Deny\"",
    );
    rejected_identity(
        r#"{"Statement":{"Effect":"Permit","Action":"*","Resource":"*"}}"#,
        "Effect must be",
    );
}

#[test]
fn action_rules() {
    rejected_identity(
        &identity_statement(r#""Resource":"*""#),
        "Missing required field Action",
    );
    rejected_identity(
        &identity_statement(r#""Action":"s3:*","NotAction":"iam:*","Resource":"*""#),
        "both Action and NotAction",
    );
    rejected_identity(
        &identity_statement(r#""Action":[1],"Resource":"*""#),
        "Action must be",
    );
    rejected_identity(
        &identity_statement(r#""Action":[],"Resource":"*""#),
        "Action must be",
    );
    rejected_identity(
        &identity_statement(r#""Action":"","Resource":"*""#),
        "Action must be",
    );
    rejected_identity(
        &identity_statement(r#""NotAction":{},"Resource":"*""#),
        "NotAction must be",
    );
    rejected_identity(
        &identity_statement(r#""Action":"GetObject","Resource":"*""#),
        "prefaced by a vendor",
    );
    rejected_identity(
        &identity_statement(r#""Action":"s3:Get:Object","Resource":"*""#),
        "prefaced by a vendor",
    );
}

#[test]
fn principal_required_in_trust_policies() {
    rejected(
        r#"{"Statement":{"Effect":"Allow","Action":"sts:AssumeRoleWithWebIdentity"}}"#,
        PolicyKind::Trust,
        "Missing required field Principal",
    );
}

#[test]
fn principal_forbidden_in_identity_and_session_policies() {
    let text = identity_statement(r#""Principal":"*","Action":"*","Resource":"*""#);
    rejected(
        &text,
        PolicyKind::Identity,
        "Has prohibited field Principal",
    );
    rejected(&text, PolicyKind::Session, "Has prohibited field Principal");
    let not =
        identity_statement(r#""NotPrincipal":{"AWS":"123456789012"},"Action":"*","Resource":"*""#);
    rejected(
        &not,
        PolicyKind::Session,
        "Has prohibited field NotPrincipal",
    );
}

#[test]
fn principal_shapes() {
    let trust = |principal: &str| {
        format!(r#"{{"Statement":{{"Effect":"Allow",{principal},"Action":"sts:AssumeRole"}}}}"#)
    };
    rejected(
        &trust(r#""Principal":"someone""#),
        PolicyKind::Trust,
        "Invalid principal",
    );
    rejected(
        &trust(r#""Principal":{}"#),
        PolicyKind::Trust,
        "Invalid principal",
    );
    rejected(
        &trust(r#""Principal":{"User":"x"}"#),
        PolicyKind::Trust,
        "unknown principal type User",
    );
    rejected(
        &trust(r#""Principal":{"AWS":[]}"#),
        PolicyKind::Trust,
        "Principal.AWS must be",
    );
    rejected(
        &trust(r#""Principal":{"Federated":7}"#),
        PolicyKind::Trust,
        "Principal.Federated must be",
    );
    rejected(
        &trust(r#""Principal":"*","NotPrincipal":"*""#),
        PolicyKind::Trust,
        "both Principal and NotPrincipal",
    );
}

#[test]
fn resource_required_in_identity_and_session_policies() {
    let text = identity_statement(r#""Action":"s3:*""#);
    rejected(
        &text,
        PolicyKind::Identity,
        "Missing required field Resource",
    );
    rejected(
        &text,
        PolicyKind::Session,
        "Missing required field Resource",
    );
}

#[test]
fn resource_shapes() {
    rejected_identity(
        &identity_statement(r#""Action":"*","Resource":"*","NotResource":"arn:aws:s3:::b""#),
        "both Resource and NotResource",
    );
    rejected_identity(
        &identity_statement(r#""Action":"*","Resource":"my-bucket""#),
        "must be in ARN format",
    );
    rejected_identity(
        &identity_statement(r#""Action":"*","Resource":[true]"#),
        "Resource must be",
    );
}

#[test]
fn sid_rules() {
    rejected_identity(
        r#"{"Statement":{"Sid":"not allowed!","Effect":"Allow","Action":"*","Resource":"*"}}"#,
        "must be alpha-numeric",
    );
    rejected_identity(
        r#"{"Statement":{"Sid":1,"Effect":"Allow","Action":"*","Resource":"*"}}"#,
        "Sid must be a string",
    );
    rejected_identity(
        r#"{"Statement":[{"Sid":"A","Effect":"Allow","Action":"*","Resource":"*"},
                         {"Sid":"A","Effect":"Deny","Action":"*","Resource":"*"}]}"#,
        "must be unique",
    );
}

#[test]
fn condition_shapes() {
    rejected_identity(
        &with_condition(r#""StringEquals""#),
        "Condition must be a JSON object",
    );
    rejected_identity(
        &with_condition(r#"{"StringEquals":"x"}"#),
        "must map condition keys to values",
    );
    rejected_identity(
        &with_condition(r#"{"StringEquals":{"aws:username":null}}"#),
        "condition values must be strings, numbers or booleans",
    );
    rejected_identity(
        &with_condition(r#"{"StringEquals":{"aws:username":[{"a":1}]}}"#),
        "condition values must be strings, numbers or booleans",
    );
    rejected_identity(
        &with_condition(r#"{"StringEquals":{"aws:username":[]}}"#),
        "at least one value",
    );
    rejected_identity(
        &with_condition(r#"{"StringEquals":{"username":"x"}}"#),
        "prefaced by a vendor",
    );
}

#[test]
fn unknown_condition_operator() {
    for operator in [
        "StringEqual",
        "ForSomeValues:StringEquals",
        "stringequals",
        "NullIfExists",
    ] {
        rejected_identity(
            &with_condition(&format!(r#"{{"{operator}":{{"aws:username":"x"}}}}"#)),
            "condition operator",
        );
    }
}

#[test]
fn condition_values_must_fit_their_operator() {
    let cases = [
        (
            r#"{"NumericLessThan":{"s3:max-keys":"ten"}}"#,
            "is not a number",
        ),
        (
            r#"{"NumericEquals":{"s3:max-keys":"NaN"}}"#,
            "is not a number",
        ),
        (
            r#"{"DateGreaterThan":{"aws:CurrentTime":"next week"}}"#,
            "ISO 8601",
        ),
        (
            r#"{"Bool":{"aws:SecureTransport":"yes"}}"#,
            "is not true or false",
        ),
        (
            r#"{"IpAddress":{"aws:SourceIp":"203.0.113.0/33"}}"#,
            "not an IP address",
        ),
        (r#"{"BinaryEquals":{"ex:binary":"***"}}"#, "not base64"),
        (
            r#"{"ArnLike":{"aws:SourceArn":"arn:aws:s3"}}"#,
            "six colon-separated parts",
        ),
        (
            r#"{"Null":{"aws:TokenIssueTime":"maybe"}}"#,
            "is not true or false",
        ),
        (
            r#"{"Null":{"aws:TokenIssueTime":["true","false"]}}"#,
            "exactly one value",
        ),
        (
            r#"{"ForAllValues:Null":{"aws:TokenIssueTime":"true"}}"#,
            "Null takes neither",
        ),
    ];
    for (condition, expected) in cases {
        rejected_identity(&with_condition(condition), expected);
    }
}

#[test]
fn bad_policy_variables() {
    rejected_identity(
        &identity_statement(r#""Action":"*","Resource":"arn:aws:s3:::b/${aws:username""#),
        "unterminated policy variable",
    );
    rejected_identity(
        &identity_statement(r#""Action":"*","Resource":"arn:aws:s3:::b/${aws:username, nobody}""#),
        "single quotes",
    );
    rejected_identity(
        &with_condition(r#"{"StringEquals":{"aws:username":"${}"}}"#),
        "invalid policy variable",
    );
}

/// Builds a policy of `kind` whose size without whitespace is exactly `size`, padded with a
/// long Sid and with whitespace that must not count.
fn policy_of_size(kind: PolicyKind, size: usize) -> String {
    let template = |pad: &str| match kind {
        PolicyKind::Trust => format!(
            "{{ \"Statement\": {{ \"Sid\": \"{pad}\", \"Effect\": \"Allow\", \"Principal\": \"*\", \"Action\": \"sts:AssumeRole\" }} }}"
        ),
        PolicyKind::Identity | PolicyKind::Session => format!(
            "{{\n  \"Statement\": {{\n    \"Sid\": \"{pad}\",\n    \"Effect\": \"Allow\",\n    \"Action\": \"*\",\n    \"Resource\": \"*\"\n  }}\n}}"
        ),
    };
    let base = Policy::len_without_whitespace(&template(""));
    let text = template(&"A".repeat(size - base));
    assert_eq!(Policy::len_without_whitespace(&text), size);
    text
}

#[test]
fn size_limits_count_characters_without_whitespace() {
    for (kind, limit) in [
        (PolicyKind::Trust, 2048),
        (PolicyKind::Identity, 10240),
        (PolicyKind::Session, 2048),
    ] {
        assert_eq!(kind.size_limit(), limit);
        let at_limit = policy_of_size(kind, limit);
        assert!(
            at_limit.len() > limit,
            "whitespace makes the raw text longer"
        );
        assert!(
            Policy::parse(&at_limit, kind).is_ok(),
            "{kind:?} at its limit"
        );
        rejected(
            &policy_of_size(kind, limit + 1),
            kind,
            &format!("the limit is {limit}"),
        );
    }
}

#[test]
fn len_without_whitespace_ignores_all_whitespace() {
    assert_eq!(Policy::len_without_whitespace(" {\n\t\"a\" : 1 }\r\n"), 7);
    assert_eq!(Policy::len_without_whitespace("é"), 1);
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = r#"{"Version":"1999","Statement":[
        {"Effect":"Maybe","Action":"s3:*","Resource":"*"},
        {"Effect":"Allow","Resource":"*","Condition":{"StringEqualz":{"aws:username":"x"}}}]}"#;
    let found = problems(text, PolicyKind::Identity);
    assert_eq!(found.len(), 4, "{found:?}");
    let error = Policy::parse(text, PolicyKind::Identity).expect_err("rejected");
    assert_eq!(error.to_string(), found.join("; "));
}

#[test]
fn accepted_shapes() {
    let accepted = [
        (
            r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
            PolicyKind::Identity,
        ),
        (
            r#"{"Version":"2008-10-17","Id":"p","Statement":[{"Sid":"","Effect":"Deny","NotAction":["s3:*"],"NotResource":"arn:aws:s3:::b"}]}"#,
            PolicyKind::Session,
        ),
        (
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"","Effect":"Allow","Principal":{"Federated":"accounts.google.com"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"Bool":{"aws:MultiFactorAuthPresent":true},"NumericLessThan":{"sts:DurationSeconds":3600}}}]}"#,
            PolicyKind::Trust,
        ),
        (
            r#"{"Statement":[{"Sid":"","Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"},{"Sid":"","Effect":"Allow","Principal":"*","Action":"sts:TagSession"}]}"#,
            PolicyKind::Trust,
        ),
    ];
    for (text, kind) in accepted {
        if let Err(error) = Policy::parse(text, kind) {
            panic!("{kind:?} policy should parse: {error}\n{text}");
        }
        assert_eq!(Policy::parse(text, kind).map(|p| p.kind()).ok(), Some(kind));
    }
}
