//! One table per operator family, each row an AWS IAM User Guide example or one of the
//! missing-key / multivalued-key rules.

use super::{Row, check_rows};

#[test]
fn string_operators() {
    check_rows(&[
        Row {
            name: "StringEquals matches the exact value",
            condition: r#"{"StringEquals":{"aws:PrincipalTag/job-category":"iamuser-admin"}}"#,
            keys: &[("aws:PrincipalTag/job-category", "iamuser-admin")],
            allowed: true,
        },
        Row {
            name: "StringEquals is case-sensitive in values",
            condition: r#"{"StringEquals":{"aws:PrincipalTag/job-category":"iamuser-admin"}}"#,
            keys: &[("aws:PrincipalTag/job-category", "IAMUser-Admin")],
            allowed: false,
        },
        Row {
            name: "condition key names are case-insensitive",
            condition: r#"{"StringEquals":{"AWS:PRINCIPALTAG/Job-Category":"iamuser-admin"}}"#,
            keys: &[("aws:principaltag/job-category", "iamuser-admin")],
            allowed: true,
        },
        Row {
            name: "StringEquals on a missing key is false",
            condition: r#"{"StringEquals":{"aws:PrincipalTag/job-category":"iamuser-admin"}}"#,
            keys: &[],
            allowed: false,
        },
        Row {
            name: "several values for one key are ORed",
            condition: r#"{"StringEquals":{"aws:PrincipalTag/role":["audit","security"]}}"#,
            keys: &[("aws:PrincipalTag/role", "security")],
            allowed: true,
        },
        Row {
            name: "a value outside the list does not match",
            condition: r#"{"StringEquals":{"aws:PrincipalTag/role":["audit","security"]}}"#,
            keys: &[("aws:PrincipalTag/role", "dev")],
            allowed: false,
        },
        Row {
            name: "StringNotEquals with several values needs none to match",
            condition: r#"{"StringNotEquals":{"aws:PrincipalTag/role":["audit","security"]}}"#,
            keys: &[("aws:PrincipalTag/role", "audit")],
            allowed: false,
        },
        Row {
            name: "StringNotEquals on another value is true",
            condition: r#"{"StringNotEquals":{"aws:PrincipalTag/role":["audit","security"]}}"#,
            keys: &[("aws:PrincipalTag/role", "dev")],
            allowed: true,
        },
        Row {
            name: "StringNotEquals on a missing key is true",
            condition: r#"{"StringNotEquals":{"aws:PrincipalTag/role":"audit"}}"#,
            keys: &[],
            allowed: true,
        },
        Row {
            name: "StringEqualsIgnoreCase ignores case",
            condition: r#"{"StringEqualsIgnoreCase":{"aws:username":"john"}}"#,
            keys: &[("aws:username", "John")],
            allowed: true,
        },
        Row {
            name: "StringEqualsIgnoreCase folds non-ASCII letters too",
            condition: r#"{"StringEqualsIgnoreCase":{"aws:username":"ÉLODIE"}}"#,
            keys: &[("aws:username", "élodie")],
            allowed: true,
        },
        Row {
            name: "StringNotEqualsIgnoreCase on the same name in another case is false",
            condition: r#"{"StringNotEqualsIgnoreCase":{"aws:username":"john"}}"#,
            keys: &[("aws:username", "JOHN")],
            allowed: false,
        },
        Row {
            name: "StringLike with * matches a prefix",
            condition: r#"{"StringLike":{"s3:prefix":["home/","home/*"]}}"#,
            keys: &[("s3:prefix", "home/david/notes.txt")],
            allowed: true,
        },
        Row {
            name: "StringLike without wildcards is an exact match",
            condition: r#"{"StringLike":{"s3:prefix":"home/"}}"#,
            keys: &[("s3:prefix", "home/david")],
            allowed: false,
        },
        Row {
            name: "StringLike ? matches exactly one character",
            condition: r#"{"StringLike":{"aws:username":"ann?"}}"#,
            keys: &[("aws:username", "anne")],
            allowed: true,
        },
        Row {
            name: "StringLike ? does not match two characters",
            condition: r#"{"StringLike":{"aws:username":"ann?"}}"#,
            keys: &[("aws:username", "annie")],
            allowed: false,
        },
        Row {
            name: "StringEquals treats * literally",
            condition: r#"{"StringEquals":{"aws:username":"a*"}}"#,
            keys: &[("aws:username", "abc")],
            allowed: false,
        },
        Row {
            name: "StringNotLike on a matching value is false",
            condition: r#"{"StringNotLike":{"s3:prefix":"private/*"}}"#,
            keys: &[("s3:prefix", "private/x")],
            allowed: false,
        },
        Row {
            name: "StringNotLike on a missing key is true",
            condition: r#"{"StringNotLike":{"s3:prefix":"private/*"}}"#,
            keys: &[],
            allowed: true,
        },
    ]);
}

#[test]
fn blocks_are_anded() {
    check_rows(&[
        Row {
            name: "two keys under one operator: both must hold",
            condition: r#"{"StringEquals":{"aws:PrincipalTag/team":"a","aws:PrincipalTag/env":"prod"}}"#,
            keys: &[
                ("aws:PrincipalTag/team", "a"),
                ("aws:PrincipalTag/env", "prod"),
            ],
            allowed: true,
        },
        Row {
            name: "two keys under one operator: one failing fails the block",
            condition: r#"{"StringEquals":{"aws:PrincipalTag/team":"a","aws:PrincipalTag/env":"prod"}}"#,
            keys: &[
                ("aws:PrincipalTag/team", "a"),
                ("aws:PrincipalTag/env", "dev"),
            ],
            allowed: false,
        },
        Row {
            name: "two operators: both must hold",
            condition: r#"{"StringEquals":{"aws:PrincipalTag/team":"a"},"StringLike":{"s3:prefix":"a/*"}}"#,
            keys: &[("aws:PrincipalTag/team", "a"), ("s3:prefix", "b/x")],
            allowed: false,
        },
        Row {
            name: "an empty Condition object always holds",
            condition: "{}",
            keys: &[],
            allowed: true,
        },
    ]);
}

#[test]
fn if_exists() {
    check_rows(&[
        Row {
            name: "StringEqualsIfExists on a missing key is true",
            condition: r#"{"StringEqualsIfExists":{"ec2:InstanceType":["t1.*","t2.*"]}}"#,
            keys: &[],
            allowed: true,
        },
        Row {
            name: "StringLikeIfExists on a present key still compares",
            condition: r#"{"StringLikeIfExists":{"ec2:InstanceType":["t1.*","t2.*"]}}"#,
            keys: &[("ec2:InstanceType", "m5.large")],
            allowed: false,
        },
        Row {
            name: "StringLikeIfExists on a matching key is true",
            condition: r#"{"StringLikeIfExists":{"ec2:InstanceType":["t1.*","t2.*"]}}"#,
            keys: &[("ec2:InstanceType", "t2.micro")],
            allowed: true,
        },
        Row {
            name: "BoolIfExists on a missing key is true",
            condition: r#"{"BoolIfExists":{"aws:MultiFactorAuthPresent":"true"}}"#,
            keys: &[],
            allowed: true,
        },
        Row {
            name: "BoolIfExists on a present false key is false",
            condition: r#"{"BoolIfExists":{"aws:MultiFactorAuthPresent":"true"}}"#,
            keys: &[("aws:MultiFactorAuthPresent", "false")],
            allowed: false,
        },
    ]);
}

#[test]
fn multivalued_keys_without_qualifier() {
    check_rows(&[
        Row {
            name: "a positive operator matches when any request value matches",
            condition: r#"{"StringEquals":{"cognito-identity.amazonaws.com:amr":"authenticated"}}"#,
            keys: &[
                ("cognito-identity.amazonaws.com:amr", "authenticated"),
                ("cognito-identity.amazonaws.com:amr", "accounts.google.com"),
            ],
            allowed: true,
        },
        Row {
            name: "a negated operator fails when any request value matches",
            condition: r#"{"StringNotEquals":{"cognito-identity.amazonaws.com:amr":"unauthenticated"}}"#,
            keys: &[
                ("cognito-identity.amazonaws.com:amr", "authenticated"),
                ("cognito-identity.amazonaws.com:amr", "unauthenticated"),
            ],
            allowed: false,
        },
        Row {
            name: "a negated operator holds when no request value matches",
            condition: r#"{"StringNotEquals":{"cognito-identity.amazonaws.com:amr":"unauthenticated"}}"#,
            keys: &[
                ("cognito-identity.amazonaws.com:amr", "authenticated"),
                ("cognito-identity.amazonaws.com:amr", "accounts.google.com"),
            ],
            allowed: true,
        },
    ]);
}

#[test]
fn set_qualifiers() {
    check_rows(&[
        Row {
            name: "ForAnyValue: one matching request value is enough",
            condition: r#"{"ForAnyValue:StringLike":{"cognito-identity.amazonaws.com:amr":"authenticated"}}"#,
            keys: &[
                ("cognito-identity.amazonaws.com:amr", "graph.facebook.com"),
                ("cognito-identity.amazonaws.com:amr", "authenticated"),
            ],
            allowed: true,
        },
        Row {
            name: "ForAnyValue: no matching request value",
            condition: r#"{"ForAnyValue:StringLike":{"cognito-identity.amazonaws.com:amr":"authenticated"}}"#,
            keys: &[("cognito-identity.amazonaws.com:amr", "unauthenticated")],
            allowed: false,
        },
        Row {
            name: "ForAnyValue on a missing key is false",
            condition: r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["environment","cost-center"]}}"#,
            keys: &[],
            allowed: false,
        },
        Row {
            name: "ForAnyValue with a negated operator on a missing key is false",
            condition: r#"{"ForAnyValue:StringNotEquals":{"aws:TagKeys":"environment"}}"#,
            keys: &[],
            allowed: false,
        },
        Row {
            name: "ForAllValues: every request value is in the list",
            condition: r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["environment","cost-center"]}}"#,
            keys: &[
                ("aws:TagKeys", "environment"),
                ("aws:TagKeys", "cost-center"),
            ],
            allowed: true,
        },
        Row {
            name: "ForAllValues: one request value outside the list",
            condition: r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["environment","cost-center"]}}"#,
            keys: &[("aws:TagKeys", "environment"), ("aws:TagKeys", "owner")],
            allowed: false,
        },
        Row {
            name: "ForAllValues on a missing key is true",
            condition: r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["environment","cost-center"]}}"#,
            keys: &[],
            allowed: true,
        },
        Row {
            name: "ForAllValues:StringLike with a prefix wildcard",
            condition: r#"{"ForAllValues:StringLike":{"aws:TagKeys":"key1*"}}"#,
            keys: &[("aws:TagKeys", "key1a"), ("aws:TagKeys", "key1b")],
            allowed: true,
        },
        Row {
            name: "ForAnyValue:StringNotEquals: one request value outside the list",
            condition: r#"{"ForAnyValue:StringNotEquals":{"aws:TagKeys":"a"}}"#,
            keys: &[("aws:TagKeys", "a"), ("aws:TagKeys", "b")],
            allowed: true,
        },
        Row {
            name: "ForAnyValue:StringNotEquals: every request value in the list",
            condition: r#"{"ForAnyValue:StringNotEquals":{"aws:TagKeys":"a"}}"#,
            keys: &[("aws:TagKeys", "a")],
            allowed: false,
        },
        Row {
            name: "ForAllValues:StringNotEquals: no request value in the list",
            condition: r#"{"ForAllValues:StringNotEquals":{"aws:TagKeys":"a"}}"#,
            keys: &[("aws:TagKeys", "b"), ("aws:TagKeys", "c")],
            allowed: true,
        },
        Row {
            name: "ForAllValues:StringNotEquals: one request value in the list",
            condition: r#"{"ForAllValues:StringNotEquals":{"aws:TagKeys":"a"}}"#,
            keys: &[("aws:TagKeys", "a"), ("aws:TagKeys", "c")],
            allowed: false,
        },
        Row {
            name: "ForAnyValue:StringEqualsIfExists on a missing key is true",
            condition: r#"{"ForAnyValue:StringEqualsIfExists":{"aws:TagKeys":"a"}}"#,
            keys: &[],
            allowed: true,
        },
    ]);
}

#[test]
fn null_and_bool() {
    check_rows(&[
        Row {
            name: "Null true holds when the key is absent",
            condition: r#"{"Null":{"aws:TokenIssueTime":"true"}}"#,
            keys: &[],
            allowed: true,
        },
        Row {
            name: "Null true fails when the key is present",
            condition: r#"{"Null":{"aws:TokenIssueTime":"true"}}"#,
            keys: &[("aws:TokenIssueTime", "2011-05-03T00:00:00Z")],
            allowed: false,
        },
        Row {
            name: "Null false holds when the key is present",
            condition: r#"{"Null":{"aws:TokenIssueTime":false}}"#,
            keys: &[("aws:TokenIssueTime", "2011-05-03T00:00:00Z")],
            allowed: true,
        },
        Row {
            name: "Null false fails when the key is absent",
            condition: r#"{"Null":{"aws:TokenIssueTime":"false"}}"#,
            keys: &[],
            allowed: false,
        },
        Row {
            name: "aws:CurrentTime is always present",
            condition: r#"{"Null":{"aws:CurrentTime":"false"}}"#,
            keys: &[],
            allowed: true,
        },
        Row {
            name: "Bool with a JSON boolean value",
            condition: r#"{"Bool":{"aws:MultiFactorAuthPresent":true}}"#,
            keys: &[("aws:MultiFactorAuthPresent", "true")],
            allowed: true,
        },
        Row {
            name: "Bool compares true and false without regard to case",
            condition: r#"{"Bool":{"aws:SecureTransport":"True"}}"#,
            keys: &[("aws:SecureTransport", "TRUE")],
            allowed: true,
        },
        Row {
            name: "Bool on a false value",
            condition: r#"{"Bool":{"aws:MultiFactorAuthPresent":"true"}}"#,
            keys: &[("aws:MultiFactorAuthPresent", "false")],
            allowed: false,
        },
        Row {
            name: "Bool on a missing key is false",
            condition: r#"{"Bool":{"aws:MultiFactorAuthPresent":"true"}}"#,
            keys: &[],
            allowed: false,
        },
    ]);
}

#[test]
fn numeric_operators() {
    check_rows(&[
        Row {
            name: "NumericLessThanEquals at the bound",
            condition: r#"{"NumericLessThanEquals":{"s3:max-keys":"10"}}"#,
            keys: &[("s3:max-keys", "10")],
            allowed: true,
        },
        Row {
            name: "NumericLessThanEquals above the bound",
            condition: r#"{"NumericLessThanEquals":{"s3:max-keys":"10"}}"#,
            keys: &[("s3:max-keys", "11")],
            allowed: false,
        },
        Row {
            name: "NumericLessThan at the bound",
            condition: r#"{"NumericLessThan":{"s3:max-keys":10}}"#,
            keys: &[("s3:max-keys", "10")],
            allowed: false,
        },
        Row {
            name: "NumericGreaterThan with a JSON number",
            condition: r#"{"NumericGreaterThan":{"sts:DurationSeconds":3600}}"#,
            keys: &[("sts:DurationSeconds", "7200")],
            allowed: true,
        },
        Row {
            name: "NumericGreaterThanEquals at the bound",
            condition: r#"{"NumericGreaterThanEquals":{"sts:DurationSeconds":3600}}"#,
            keys: &[("sts:DurationSeconds", "3600")],
            allowed: true,
        },
        Row {
            name: "NumericEquals compares numbers, not text",
            condition: r#"{"NumericEquals":{"s3:max-keys":"1.0"}}"#,
            keys: &[("s3:max-keys", "1")],
            allowed: true,
        },
        Row {
            name: "a request value that is not a number matches nothing",
            condition: r#"{"NumericLessThan":{"s3:max-keys":"10"}}"#,
            keys: &[("s3:max-keys", "many")],
            allowed: false,
        },
        Row {
            name: "NumericNotEquals on a missing key is true",
            condition: r#"{"NumericNotEquals":{"s3:max-keys":"10"}}"#,
            keys: &[],
            allowed: true,
        },
        Row {
            name: "NumericNotEquals on an equal value is false",
            condition: r#"{"NumericNotEquals":{"s3:max-keys":["10","20"]}}"#,
            keys: &[("s3:max-keys", "20")],
            allowed: false,
        },
    ]);
}

#[test]
fn date_operators() {
    // now() is 2023-11-14T22:13:20Z, epoch 1700000000.
    check_rows(&[
        Row {
            name: "aws:CurrentTime falls back to now (after)",
            condition: r#"{"DateGreaterThan":{"aws:CurrentTime":"2020-04-01T00:00:00Z"}}"#,
            keys: &[],
            allowed: true,
        },
        Row {
            name: "aws:CurrentTime falls back to now (before)",
            condition: r#"{"DateLessThan":{"aws:CurrentTime":"2020-06-30T23:59:59Z"}}"#,
            keys: &[],
            allowed: false,
        },
        Row {
            name: "a date-only value is midnight UTC",
            condition: r#"{"DateGreaterThan":{"aws:CurrentTime":"2023-11-14"}}"#,
            keys: &[],
            allowed: true,
        },
        Row {
            name: "aws:EpochTime falls back to now, compared with epoch seconds",
            condition: r#"{"DateGreaterThanEquals":{"aws:EpochTime":1700000000}}"#,
            keys: &[],
            allowed: true,
        },
        Row {
            name: "aws:EpochTime against an ISO value",
            condition: r#"{"DateLessThan":{"aws:EpochTime":"2023-11-14T22:13:21Z"}}"#,
            keys: &[],
            allowed: true,
        },
        Row {
            name: "a request value of aws:CurrentTime wins over now",
            condition: r#"{"DateGreaterThan":{"aws:CurrentTime":"2020-04-01T00:00:00Z"}}"#,
            keys: &[("aws:CurrentTime", "2019-01-01T00:00:00Z")],
            allowed: false,
        },
        Row {
            name: "DateEquals across formats",
            condition: r#"{"DateEquals":{"aws:TokenIssueTime":"2023-11-14T22:13:20Z"}}"#,
            keys: &[("aws:TokenIssueTime", "1700000000")],
            allowed: true,
        },
        Row {
            name: "offsets are honoured",
            condition: r#"{"DateEquals":{"aws:TokenIssueTime":"2023-11-15T00:13:20+02:00"}}"#,
            keys: &[("aws:TokenIssueTime", "2023-11-14T22:13:20Z")],
            allowed: true,
        },
        Row {
            name: "fractional seconds are honoured",
            condition: r#"{"DateLessThan":{"aws:TokenIssueTime":"2023-11-14T22:13:20.500Z"}}"#,
            keys: &[("aws:TokenIssueTime", "2023-11-14T22:13:20Z")],
            allowed: true,
        },
        Row {
            name: "a missing date key is false",
            condition: r#"{"DateGreaterThan":{"aws:TokenIssueTime":"2020-01-01T00:00:00Z"}}"#,
            keys: &[],
            allowed: false,
        },
        Row {
            name: "DateNotEquals on a missing key is true",
            condition: r#"{"DateNotEquals":{"aws:TokenIssueTime":"2020-01-01T00:00:00Z"}}"#,
            keys: &[],
            allowed: true,
        },
        Row {
            name: "a request date that does not parse matches nothing",
            condition: r#"{"DateLessThan":{"aws:TokenIssueTime":"2030-01-01T00:00:00Z"}}"#,
            keys: &[("aws:TokenIssueTime", "yesterday")],
            allowed: false,
        },
    ]);
}

#[test]
fn ip_address_operators() {
    check_rows(&[
        Row {
            name: "IpAddress inside an IPv4 block",
            condition: r#"{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#,
            keys: &[("aws:SourceIp", "203.0.113.7")],
            allowed: true,
        },
        Row {
            name: "IpAddress outside the block",
            condition: r#"{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#,
            keys: &[("aws:SourceIp", "198.51.100.1")],
            allowed: false,
        },
        Row {
            name: "IpAddress with several blocks, IPv4 and IPv6",
            condition: r#"{"IpAddress":{"aws:SourceIp":["203.0.113.0/24","2001:DB8:1234:5678::/64"]}}"#,
            keys: &[("aws:SourceIp", "2001:db8:1234:5678::1")],
            allowed: true,
        },
        Row {
            name: "a bare address is a /32",
            condition: r#"{"IpAddress":{"aws:SourceIp":"203.0.113.7"}}"#,
            keys: &[("aws:SourceIp", "203.0.113.8")],
            allowed: false,
        },
        Row {
            name: "NotIpAddress inside the block is false",
            condition: r#"{"NotIpAddress":{"aws:SourceIp":["192.0.2.0/24","203.0.113.0/24"]}}"#,
            keys: &[("aws:SourceIp", "192.0.2.10")],
            allowed: false,
        },
        Row {
            name: "NotIpAddress outside every block is true",
            condition: r#"{"NotIpAddress":{"aws:SourceIp":["192.0.2.0/24","203.0.113.0/24"]}}"#,
            keys: &[("aws:SourceIp", "198.51.100.1")],
            allowed: true,
        },
        Row {
            name: "NotIpAddress on a missing key is true",
            condition: r#"{"NotIpAddress":{"aws:SourceIp":"192.0.2.0/24"}}"#,
            keys: &[],
            allowed: true,
        },
        Row {
            name: "a request value that is not an address matches nothing",
            condition: r#"{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}"#,
            keys: &[("aws:SourceIp", "localhost")],
            allowed: false,
        },
    ]);
}

#[test]
fn arn_and_binary_operators() {
    check_rows(&[
        Row {
            name: "ArnLike with wildcards per part",
            condition: r#"{"ArnLike":{"aws:SourceArn":"arn:aws:cloudtrail:*:111122223333:trail/*"}}"#,
            keys: &[(
                "aws:SourceArn",
                "arn:aws:cloudtrail:us-east-1:111122223333:trail/main",
            )],
            allowed: true,
        },
        Row {
            name: "ArnLike in another account",
            condition: r#"{"ArnLike":{"aws:SourceArn":"arn:aws:cloudtrail:*:111122223333:trail/*"}}"#,
            keys: &[(
                "aws:SourceArn",
                "arn:aws:cloudtrail:us-east-1:444455556666:trail/main",
            )],
            allowed: false,
        },
        Row {
            name: "an ARN wildcard does not run across a colon",
            condition: r#"{"ArnLike":{"aws:SourceArn":"arn:aws:iam::*:role/x"}}"#,
            keys: &[("aws:SourceArn", "arn:aws:iam::1:2:role/x")],
            allowed: false,
        },
        Row {
            name: "the resource part may contain colons",
            condition: r#"{"ArnEquals":{"aws:SourceArn":"arn:aws:logs:us-east-1:111122223333:log-group:app:*"}}"#,
            keys: &[(
                "aws:SourceArn",
                "arn:aws:logs:us-east-1:111122223333:log-group:app:stream",
            )],
            allowed: true,
        },
        Row {
            name: "ArnLike with every part a wildcard matches any ARN",
            condition: r#"{"ArnLike":{"aws:SourceArn":"arn:*:*:*:*:*"}}"#,
            keys: &[("aws:SourceArn", "arn:aws:sns:us-east-1:111122223333:topic")],
            allowed: true,
        },
        Row {
            name: "a request value that is not an ARN matches nothing",
            condition: r#"{"ArnLike":{"aws:SourceArn":"arn:*:*:*:*:*"}}"#,
            keys: &[("aws:SourceArn", "not-an-arn")],
            allowed: false,
        },
        Row {
            name: "ArnNotEquals on a missing key is true",
            condition: r#"{"ArnNotEquals":{"aws:SourceArn":"arn:aws:sns:us-east-1:111122223333:topic"}}"#,
            keys: &[],
            allowed: true,
        },
        Row {
            name: "ArnNotLike on a matching ARN is false",
            condition: r#"{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/admin-*"}}"#,
            keys: &[(
                "aws:PrincipalArn",
                "arn:aws:iam::111122223333:role/admin-ops",
            )],
            allowed: false,
        },
        Row {
            name: "BinaryEquals on the same base64 value",
            condition: r#"{"BinaryEquals":{"ex:binary":"QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}"#,
            keys: &[("ex:binary", "QmluYXJ5VmFsdWVJbkJhc2U2NA==")],
            allowed: true,
        },
        Row {
            name: "BinaryEquals on another value",
            condition: r#"{"BinaryEquals":{"ex:binary":"QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}"#,
            keys: &[("ex:binary", "b3RoZXI=")],
            allowed: false,
        },
    ]);
}
