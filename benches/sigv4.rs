//! SigV4 verification of a typical header-signed STS request (AssumeRole form body, session
//! token, `x-amz-content-sha256`), signed by the official `aws-sigv4` crate, with the
//! signing-key cache warm. Session-token unsealing is not included (the lookup is a constant).

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials as AwsCredentials;
use aws_lc_rs::digest;
use aws_sigv4::http_request::{
    PayloadChecksumKind, SignableBody, SignableRequest, SigningParams, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use data_encoding::HEXLOWER;
use futures::FutureExt as _;
use stsbridge::creds::Secret;
use stsbridge::creds::sigv4::{ResolvedKey, SecretLookup, SigV4Error, SignedRequest, Verifier};
use stsbridge::principal::{Authenticator, SignedParts};

const AKID: &str = "ASIAEXAMPLEKEYID0001";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TOKEN: &str = "AQoDYXdzEJr1K8Ec7sZ0example-session-token-of-a-few-hundred-characters";
const HOST: &str = "sts.example.internal";
const BODY: &[u8] = b"Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fdeploy&RoleSessionName=ci-run-42&DurationSeconds=3600";

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_795_000_000)
}

struct OneKey;

impl SecretLookup for OneKey {
    type Principal = ();
    fn secret_for(&self, _: &str, _: Option<&str>) -> Result<ResolvedKey<()>, SigV4Error> {
        Ok(ResolvedKey {
            secret: Secret::new(SECRET.to_owned()),
            principal: (),
        })
    }
}

/// Headers as the server receives them, signed by aws-sigv4.
fn signed_headers() -> Vec<(String, String)> {
    let base = [
        (
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
        ("user-agent", "aws-sdk-rust/1.0 os/linux lang/rust/1.94"),
        ("content-length", "140"),
    ];
    let identity = AwsCredentials::new(AKID, SECRET, Some(TOKEN.to_owned()), None, "bench").into();
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    let params: SigningParams<'_> = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("sts")
        .time(now())
        .settings(settings)
        .build()
        .expect("signing params")
        .into();
    let request = SignableRequest::new(
        "POST",
        format!("https://{HOST}/"),
        base.iter().copied(),
        SignableBody::Bytes(BODY),
    )
    .expect("signable");
    let (instructions, _) = sign(request, &params).expect("sign").into_parts();
    let mut headers = vec![("Host".to_owned(), HOST.to_owned())];
    headers.extend(base.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())));
    headers.extend(
        instructions
            .headers()
            .map(|(n, v)| (n.to_owned(), v.to_owned())),
    );
    headers
}

fn verify_header_signed(c: &mut Criterion) {
    let headers = signed_headers();
    let payload = HEXLOWER.encode(digest::digest(&digest::SHA256, BODY).as_ref());
    let request = SignedRequest {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
        payload_sha256_hex: Some(&payload),
    };
    let verifier = Verifier::default();
    verifier
        .verify(&request, &OneKey, now())
        .expect("the signed request verifies");

    let mut group = c.benchmark_group("sigv4");
    group.throughput(Throughput::Elements(1));
    group.bench_function("verify_header_signed_sts_warm_cache", |b| {
        b.iter(|| verifier.verify(black_box(&request), &OneKey, now()))
    });
    group.finish();
}

/// The whole check of a request signed with credentials this service issued: the signature and
/// the session token opened with the keyring (what `GetCallerIdentity` and `AssumeRole` do).
fn verify_with_session_token(c: &mut Criterion) {
    use stsbridge::creds::{
        CredentialMinter, Grant, Keyring, Minter, Session, SessionKind, SharedKeyring,
    };
    let shared = SharedKeyring::new(Keyring::generate(now()).expect("keyring"));
    let minter = Minter::new(shared.clone());
    let grant = Grant {
        session: Session {
            identity_arn: "arn:aws:iam::123456789012:role/deploy".into(),
            identity_id: "AROAEXAMPLEEXAMPLE000".into(),
            caller_arn: "arn:aws:sts::123456789012:assumed-role/deploy/ci".into(),
            account_id: "123456789012".into(),
            session_name: "ci".into(),
            source_identity: None,
            provider: "token.actions.githubusercontent.com".into(),
            subject: "repo:example-org/app:ref:refs/heads/main".into(),
            session_tags: Default::default(),
            transitive_tag_keys: vec![],
            session_policy: None,
            policy_arns: vec![],
            kind: SessionKind::AssumedRole,
            mfa_authenticated_at: None,
        },
        duration_seconds: 3600,
    };
    let (creds, _) = minter.mint(&grant, now()).expect("mint");
    let identity = AwsCredentials::new(
        creds.access_key_id.clone(),
        creds.secret_access_key.expose().to_owned(),
        Some(creds.session_token.expose().to_owned()),
        None,
        "bench",
    )
    .into();
    let params: SigningParams<'_> = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("sts")
        .time(now())
        .settings(SigningSettings::default())
        .build()
        .expect("signing params")
        .into();
    let body = b"Action=GetCallerIdentity&Version=2011-06-15";
    let base = [(
        "content-type",
        "application/x-www-form-urlencoded; charset=utf-8",
    )];
    let request = SignableRequest::new(
        "POST",
        format!("https://{HOST}/"),
        base.iter().copied(),
        SignableBody::Bytes(body),
    )
    .expect("signable");
    let (instructions, _) = sign(request, &params).expect("sign").into_parts();
    let mut headers = vec![("Host".to_owned(), HOST.to_owned())];
    headers.extend(base.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())));
    headers.extend(
        instructions
            .headers()
            .map(|(n, v)| (n.to_owned(), v.to_owned())),
    );
    let payload = HEXLOWER.encode(digest::digest(&digest::SHA256, body).as_ref());
    let parts = SignedParts {
        method: "POST".into(),
        path: "/".into(),
        query: String::new(),
        headers,
        payload_sha256_hex: payload,
    };
    // The daemon's verification: parse, resolve the key (`AKIA…` through the store, anything
    // else by unsealing: the store is never touched for a temporary key, so the future completes
    // without waiting), check, then the revocation feed.
    let dir = tempfile::tempdir().expect("tempdir");
    let store = stsbridge::store::open(&stsbridge::store::StorageSettings::new(
        dir.path().join("sled"),
        16 << 20,
    ))
    .expect("sled");
    let principals = Authenticator::new(shared, &store);
    let federation = federation_with_role("deploy", "AROAEXAMPLEEXAMPLE000");
    let verify = |parts: &SignedParts| {
        principals
            .verify(parts, "sts", &federation, now())
            .now_or_never()
            .expect("a temporary key resolves without waiting")
    };
    verify(&parts).expect("the signed request verifies");
    let mut group = c.benchmark_group("sigv4");
    group.throughput(Throughput::Elements(1));
    group.bench_function("verify_with_session_token_unsealing", |b| {
        b.iter(|| verify(black_box(&parts)))
    });
    group.finish();
}

/// A federation holding the one role the benchmark's session is of (sessions of roles that are
/// gone are refused).
fn federation_with_role(name: &str, role_id: &str) -> stsbridge::config::Federation {
    use stsbridge::policy::{Policy, PolicyKind};
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"x"},"Action":"sts:AssumeRoleWithWebIdentity"}]}"#;
    let mut roles = stsbridge::config::RoleSet::default();
    roles.insert(stsbridge::config::Role {
        name: name.into(),
        account_id: "123456789012".into(),
        path: "/".into(),
        arn: format!("arn:aws:iam::123456789012:role/{name}"),
        role_id: role_id.into(),
        max_session_duration: 3600,
        trust_policy: Policy::parse(trust, PolicyKind::Trust).expect("trust policy"),
        policies: Vec::new(),
        tags: Default::default(),
    });
    stsbridge::config::Federation {
        idps: Default::default(),
        roles,
        managed_policies: Default::default(),
        authorization_services: Vec::new(),
        accounts: Default::default(),
        signin: Vec::new(),
    }
}

criterion_group!(benches, verify_header_signed, verify_with_session_token);
criterion_main!(benches);
