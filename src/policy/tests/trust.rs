//! Trust policies as the federation paths use them: GitHub Actions, Google, Cognito, and the
//! principal forms (`*`, account id, root ARN, service, NotPrincipal).

use super::{keys, now, trust};
use crate::policy::{Decision, Policy, PrincipalId, RequestContext, evaluate};

const ACCOUNT: &str = "123456789012";
const ROLE: &str = "arn:aws:iam::123456789012:role/deploy";
const WEB_IDENTITY: &str = "sts:AssumeRoleWithWebIdentity";

/// From the AWS and GitHub documentation on OIDC federation for GitHub Actions.
const GITHUB_ACTIONS: &str = r#"{
    "Version": "2012-10-17",
    "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {
            "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
            "StringLike": {"token.actions.githubusercontent.com:sub": "repo:octo-org/*"}
        }
    }]
}"#;

/// How the sts layer presents a web identity: provider name and provider ARN.
fn web_identity(provider: &str, action: &str, claims: &[(&str, &str)]) -> RequestContext {
    RequestContext {
        principals: vec![
            PrincipalId::Federated(provider.to_owned()),
            PrincipalId::Federated(format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{provider}")),
        ],
        action: action.to_owned(),
        resource: Some(ROLE.to_owned()),
        keys: keys(claims),
    }
}

fn github(action: &str, aud: &str, sub: &str) -> RequestContext {
    web_identity(
        "token.actions.githubusercontent.com",
        action,
        &[
            ("token.actions.githubusercontent.com:aud", aud),
            ("token.actions.githubusercontent.com:sub", sub),
        ],
    )
}

fn allowed(policy: &Policy, request: &RequestContext) -> bool {
    evaluate(policy, request, now()).is_allow()
}

#[test]
fn github_actions_repository_of_the_org_may_assume() {
    let policy = trust(GITHUB_ACTIONS);
    let main = github(
        WEB_IDENTITY,
        "sts.amazonaws.com",
        "repo:octo-org/app:ref:refs/heads/main",
    );
    assert!(allowed(&policy, &main));
}

#[test]
fn github_actions_other_org_wrong_audience_or_action_is_denied() {
    let policy = trust(GITHUB_ACTIONS);
    let cases = [
        github(
            WEB_IDENTITY,
            "sts.amazonaws.com",
            "repo:evil-org/app:ref:refs/heads/main",
        ),
        github(
            WEB_IDENTITY,
            "https://github.com/octo-org",
            "repo:octo-org/app:ref:refs/heads/main",
        ),
        github(
            "sts:AssumeRole",
            "sts.amazonaws.com",
            "repo:octo-org/app:ref:refs/heads/main",
        ),
    ];
    for request in &cases {
        assert_eq!(
            evaluate(&policy, request, now()),
            Decision::ImplicitDeny,
            "{request:?}"
        );
    }
}

#[test]
fn github_actions_token_from_another_provider_is_denied() {
    let policy = trust(GITHUB_ACTIONS);
    let google = web_identity(
        "accounts.google.com",
        WEB_IDENTITY,
        &[
            (
                "token.actions.githubusercontent.com:aud",
                "sts.amazonaws.com",
            ),
            (
                "token.actions.githubusercontent.com:sub",
                "repo:octo-org/app",
            ),
        ],
    );
    assert!(!allowed(&policy, &google));
}

#[test]
fn google_audience_condition() {
    let policy = trust(
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"Google","Effect":"Allow",
            "Principal":{"Federated":"accounts.google.com"},
            "Action":"sts:AssumeRoleWithWebIdentity",
            "Condition":{"StringEquals":{"accounts.google.com:aud":"66677788899.apps.googleusercontent.com"}}}]}"#,
    );
    let ours = web_identity(
        "accounts.google.com",
        WEB_IDENTITY,
        &[(
            "accounts.google.com:aud",
            "66677788899.apps.googleusercontent.com",
        )],
    );
    let theirs = web_identity(
        "accounts.google.com",
        WEB_IDENTITY,
        &[(
            "accounts.google.com:aud",
            "11122233344.apps.googleusercontent.com",
        )],
    );
    assert!(allowed(&policy, &ours));
    assert!(!allowed(&policy, &theirs));
    let no_audience = web_identity("accounts.google.com", WEB_IDENTITY, &[]);
    assert!(!allowed(&policy, &no_audience));
}

#[test]
fn cognito_authenticated_identities_only() {
    let policy = trust(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow",
            "Principal":{"Federated":"cognito-identity.amazonaws.com"},
            "Action":"sts:AssumeRoleWithWebIdentity",
            "Condition":{
                "StringEquals":{"cognito-identity.amazonaws.com:aud":"us-east-1:12345678-abcd-abcd-abcd-123456789012"},
                "ForAnyValue:StringLike":{"cognito-identity.amazonaws.com:amr":"authenticated"}}}}"#,
    );
    let aud = (
        "cognito-identity.amazonaws.com:aud",
        "us-east-1:12345678-abcd-abcd-abcd-123456789012",
    );
    let signed_in = web_identity(
        "cognito-identity.amazonaws.com",
        WEB_IDENTITY,
        &[
            aud,
            ("cognito-identity.amazonaws.com:amr", "authenticated"),
            ("cognito-identity.amazonaws.com:amr", "accounts.google.com"),
        ],
    );
    let guest = web_identity(
        "cognito-identity.amazonaws.com",
        WEB_IDENTITY,
        &[
            aud,
            ("cognito-identity.amazonaws.com:amr", "unauthenticated"),
        ],
    );
    assert!(allowed(&policy, &signed_in));
    assert!(!allowed(&policy, &guest));
}

fn caller(principal: PrincipalId, action: &str) -> RequestContext {
    RequestContext {
        principals: vec![principal],
        action: action.to_owned(),
        resource: Some(ROLE.to_owned()),
        keys: keys(&[]),
    }
}

fn aws(id: &str) -> PrincipalId {
    PrincipalId::Aws(id.to_owned())
}

#[test]
fn account_id_and_root_arn_are_the_same_principal() {
    let by_id = trust(
        r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"sts:AssumeRole"}}"#,
    );
    let by_arn = trust(
        r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::123456789012:root"]},"Action":"sts:AssumeRole"}}"#,
    );
    for policy in [&by_id, &by_arn] {
        assert!(allowed(policy, &caller(aws(ACCOUNT), "sts:AssumeRole")));
        assert!(allowed(
            policy,
            &caller(aws("arn:aws:iam::123456789012:root"), "sts:AssumeRole")
        ));
        assert!(!allowed(
            policy,
            &caller(aws("210987654321"), "sts:AssumeRole")
        ));
        assert!(!allowed(
            policy,
            &caller(aws("arn:aws:iam::210987654321:root"), "sts:AssumeRole")
        ));
        assert!(!allowed(
            policy,
            &caller(PrincipalId::Federated(ACCOUNT.to_owned()), "sts:AssumeRole")
        ));
    }
}

#[test]
fn role_arn_principal_matches_exactly() {
    let policy = trust(
        r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/ci"},"Action":"sts:AssumeRole"}}"#,
    );
    assert!(allowed(
        &policy,
        &caller(aws("arn:aws:iam::123456789012:role/ci"), "sts:AssumeRole")
    ));
    assert!(!allowed(
        &policy,
        &caller(aws("arn:aws:iam::123456789012:role/CI"), "sts:AssumeRole")
    ));
    assert!(!allowed(&policy, &caller(aws(ACCOUNT), "sts:AssumeRole")));
}

#[test]
fn star_principal_matches_anyone() {
    let policy =
        trust(r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole*"}}"#);
    assert!(allowed(&policy, &caller(aws(ACCOUNT), "sts:AssumeRole")));
    assert!(allowed(
        &policy,
        &web_identity("accounts.google.com", WEB_IDENTITY, &[])
    ));
    let nobody = RequestContext {
        principals: Vec::new(),
        action: "sts:AssumeRole".into(),
        ..RequestContext::default()
    };
    assert!(!allowed(&policy, &nobody));
}

#[test]
fn typed_star_matches_any_principal_of_that_type_only() {
    let policy = trust(
        r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole*"}}"#,
    );
    assert!(allowed(
        &policy,
        &caller(aws("arn:aws:iam::210987654321:user/x"), "sts:AssumeRole")
    ));
    assert!(!allowed(
        &policy,
        &web_identity("accounts.google.com", WEB_IDENTITY, &[])
    ));
}

#[test]
fn service_principal() {
    let policy = trust(
        r#"{"Statement":{"Effect":"Allow","Principal":{"Service":["ec2.amazonaws.com","lambda.amazonaws.com"]},"Action":"sts:AssumeRole"}}"#,
    );
    let lambda = caller(
        PrincipalId::Service("lambda.amazonaws.com".into()),
        "sts:AssumeRole",
    );
    let ecs = caller(
        PrincipalId::Service("ecs-tasks.amazonaws.com".into()),
        "sts:AssumeRole",
    );
    assert!(allowed(&policy, &lambda));
    assert!(!allowed(&policy, &ecs));
}

#[test]
fn not_principal_with_deny_spares_only_the_named() {
    let policy = trust(
        r#"{"Statement":[
            {"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"},
            {"Sid":"OnlyCi","Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::123456789012:role/ci"},"Action":"sts:AssumeRole"}]}"#,
    );
    assert!(allowed(
        &policy,
        &caller(aws("arn:aws:iam::123456789012:role/ci"), "sts:AssumeRole")
    ));
    assert!(matches!(
        evaluate(
            &policy,
            &caller(
                aws("arn:aws:iam::123456789012:role/other"),
                "sts:AssumeRole"
            ),
            now()
        ),
        Decision::ExplicitDeny(_)
    ));
}

#[test]
fn trust_statement_without_resource_matches_any_resource() {
    let policy =
        trust(r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}}"#);
    let mut request = caller(aws(ACCOUNT), "sts:AssumeRole");
    request.resource = None;
    assert!(allowed(&policy, &request));
}

#[test]
fn actions_and_federated_principals_are_listed_as_written() {
    let policy = trust(
        r#"{"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Federated": ["accounts.google.com", "*"]},
             "Action": ["sts:assumerolewithwebidentity", "sts:Tag*", "iam:PassRole"]},
            {"Effect": "Deny", "NotPrincipal": {"Federated": "elsewhere.example"},
             "NotAction": "sts:*"},
            {"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "*"}
        ]}"#,
    );
    let asked = ["sts:AssumeRoleWithWebIdentity", "sts:TagSession"];
    // Actions compare without regard to case; NotAction lists what does not apply.
    assert_eq!(policy.actions_matching_none(&asked), [(0, "iam:PassRole")]);
    assert_eq!(
        policy.federated_principals(),
        [(0, "accounts.google.com"), (0, "*")]
    );
}
