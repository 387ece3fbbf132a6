//! The CPU cost of one AssumeRoleWithWebIdentity, step by step: RS256 signature alone (the
//! ceiling reference), the whole OIDC token verification, the trust-policy decision, and the
//! response rendering. Minting and the durable store write are in `benches/store.rs`.

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{Criterion, criterion_group, criterion_main};
use stsbridge::idp::oidc::OidcVerifier;
use stsbridge::idp::oidc::signer::TokenSigner;
use stsbridge::idp::oidc::{OidcKeySource, OidcSettings as OidcIdpConfig};
use stsbridge::idp::{Expectations, IdpVerifier, SubjectCredential};
use stsbridge::policy::{ContextKeys, Policy, PolicyKind, PrincipalId, RequestContext, evaluate};

const ISSUER: &str = "https://token.actions.githubusercontent.com";
const PROVIDER: &str = "token.actions.githubusercontent.com";
const NOW: u64 = 1_795_000_000;

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}

fn claims() -> serde_json::Value {
    serde_json::json!({
        "iss": ISSUER,
        "aud": "sts.amazonaws.com",
        "sub": "repo:example-org/app:ref:refs/heads/main",
        "repository": "example-org/app",
        "ref": "refs/heads/main",
        "workflow": "deploy",
        "iat": NOW,
        "nbf": NOW,
        "exp": NOW + 300,
    })
}

fn signature_only(c: &mut Criterion) {
    let signer = TokenSigner::generate_rsa("bench").expect("key");
    let token = signer.sign(&claims()).expect("token");
    let key = jsonwebtoken::DecodingKey::from_jwk(&signer.jwk()).expect("jwk");
    let (message, signature) = token.rsplit_once('.').expect("three parts");
    c.bench_function("rs256_signature_only", |b| {
        b.iter(|| {
            jsonwebtoken::crypto::verify(
                black_box(signature),
                black_box(message.as_bytes()),
                &key,
                jsonwebtoken::Algorithm::RS256,
            )
            .expect("verifies")
        })
    });
}

fn token_verification(c: &mut Criterion) {
    let signer = TokenSigner::generate_rsa("bench").expect("key");
    let token = signer.sign(&claims()).expect("token");
    let verifier = OidcVerifier::new(OidcIdpConfig {
        name: "github".into(),
        issuer: ISSUER.into(),
        provider: PROVIDER.into(),
        audiences: vec!["sts.amazonaws.com".into()],
        algorithms: vec![jsonwebtoken::Algorithm::RS256],
        keys: OidcKeySource::Static(jsonwebtoken::jwk::JwkSet {
            keys: vec![signer.jwk()],
        }),
        leeway: Duration::from_secs(60),
        insecure_http: false,
    })
    .expect("verifier");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    c.bench_function("oidc_verify_rs256", |b| {
        b.iter(|| {
            runtime
                .block_on(verifier.verify(
                    &SubjectCredential::WebIdentityToken(black_box(&token)),
                    &Expectations::NONE,
                    now(),
                ))
                .expect("valid")
        })
    });
}

const TRUST: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "Deploy",
      "Effect": "Allow",
      "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},
      "Action": "sts:AssumeRoleWithWebIdentity",
      "Condition": {
        "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
        "StringLike": {"token.actions.githubusercontent.com:sub": "repo:example-org/*:ref:refs/heads/main"},
        "IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.0.2.0/24"]}
      }
    },
    {
      "Sid": "NoForks",
      "Effect": "Deny",
      "Principal": {"Federated": "token.actions.githubusercontent.com"},
      "Action": "sts:*",
      "Condition": {"StringLike": {"token.actions.githubusercontent.com:sub": "repo:*-fork/*"}}
    }
  ]
}"#;

fn trust_request() -> RequestContext {
    let mut keys = ContextKeys::default();
    keys.insert(
        "token.actions.githubusercontent.com:aud",
        "sts.amazonaws.com",
    );
    keys.insert(
        "token.actions.githubusercontent.com:sub",
        "repo:example-org/app:ref:refs/heads/main",
    );
    keys.insert("aws:SourceIp", "10.1.2.3");
    keys.insert("sts:RoleSessionName", "deploy-42");
    RequestContext {
        principals: vec![
            PrincipalId::Federated(PROVIDER.into()),
            PrincipalId::Federated(format!(
                "arn:aws:iam::123456789012:oidc-provider/{PROVIDER}"
            )),
        ],
        action: "sts:AssumeRoleWithWebIdentity".into(),
        resource: Some("arn:aws:iam::123456789012:role/ci/deploy".into()),
        keys,
    }
}

fn trust_evaluation(c: &mut Criterion) {
    let policy = Policy::parse(TRUST, PolicyKind::Trust).expect("valid trust policy");
    let request = trust_request();
    c.bench_function("trust_policy_evaluate", |b| {
        b.iter(|| {
            let decision = evaluate(black_box(&policy), black_box(&request), now());
            assert!(decision.is_allow());
            decision
        })
    });
    c.bench_function("trust_policy_parse", |b| {
        b.iter(|| Policy::parse(black_box(TRUST), PolicyKind::Trust).expect("valid"))
    });
}

fn permission_evaluation(c: &mut Criterion) {
    let statements: Vec<String> = (0..50)
        .map(|i| {
            format!(
                r#"{{"Sid":"S{i}","Effect":"Allow","Action":"s3:Get*","Resource":"arn:aws:s3:::b{i}/${{aws:PrincipalTag/team}}/*","Condition":{{"StringEquals":{{"aws:RequestedRegion":"eu-west-1"}}}}}}"#
            )
        })
        .collect();
    let text = format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        statements.join(",")
    );
    let policy = Policy::parse(&text, PolicyKind::Identity).expect("valid permission policy");
    let mut keys = ContextKeys::default();
    keys.insert("aws:PrincipalTag/team", "blue");
    keys.insert("aws:RequestedRegion", "eu-west-1");
    keys.insert("aws:SecureTransport", "true");
    let request = RequestContext {
        principals: vec![],
        action: "s3:GetObject".into(),
        resource: Some("arn:aws:s3:::b49/blue/report.csv".into()),
        keys,
    };
    c.bench_function("permission_policy_50_statements_evaluate", |b| {
        b.iter(|| {
            let decision = evaluate(black_box(&policy), black_box(&request), now());
            assert!(decision.is_allow());
            decision
        })
    });
}

fn response_rendering(c: &mut Criterion) {
    let token = "A".repeat(420);
    c.bench_function("response_xml_render", |b| {
        b.iter(|| {
            stsbridge::sts::xml::success(
                stsbridge::action::Action::AssumeRoleWithWebIdentity,
                "3b4c9a1e-0000-4000-8000-000000000000",
                |x| {
                    x.open("Credentials")
                        .leaf("AccessKeyId", "ASIAEXAMPLEEXAMPLE00")
                        .leaf(
                            "SecretAccessKey",
                            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                        )
                        .leaf("SessionToken", black_box(&token))
                        .leaf("Expiration", "2026-11-22T20:00:00Z")
                        .close("Credentials");
                    x.leaf(
                        "SubjectFromWebIdentityToken",
                        "repo:example-org/app:ref:refs/heads/main",
                    );
                    x.open("AssumedRoleUser")
                        .leaf("AssumedRoleId", "AROAEXAMPLEEXAMPLE000:deploy")
                        .leaf(
                            "Arn",
                            "arn:aws:sts::123456789012:assumed-role/deploy/deploy",
                        )
                        .close("AssumedRoleUser");
                    x.leaf("Provider", PROVIDER);
                    x.leaf("Audience", "sts.amazonaws.com");
                },
            )
            .expect("xml")
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = signature_only, token_verification, trust_evaluation, permission_evaluation, response_rendering
}
criterion_main!(benches);
