//! AssumeRoleWithWebIdentity end to end: the real AWS SDK against the daemon, an in-process IdP
//! serving discovery and JWKS, sled on a temp dir.

use std::time::{Duration, UNIX_EPOCH};

use aws_sdk_sts::error::ProvideErrorMetadata;
use serde_json::{Value, json};
use stsbridge::clock::Clock as _;

use crate::support::daemon::{ACCOUNT, Daemon, Setup, code, signed_client, sts_client};
use crate::support::idp::TestIdp;

const CLIENT: &str = "client-a";

fn now_secs() -> i64 {
    stsbridge::clock::SystemClock
        .now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

pub(crate) fn role_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{name}")
}

pub(crate) fn idp_toml(issuer: &str) -> String {
    format!(
        "kind = \"oidc\"\nissuer = \"{issuer}\"\naudiences = [\"{CLIENT}\"]\n\
         algorithms = [\"RS256\", \"ES256\"]\ninsecure_http = true\n"
    )
}

/// `app`: users `user-*` of CLIENT; tags allowed. `guarded`: allows all, denies `user-banned`.
pub(crate) fn roles(provider: &str) -> Vec<(String, String)> {
    let app = json!({
        "RoleName": "app",
        "MaxSessionDuration": 7200,
        "AssumeRolePolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Federated": provider},
                "Action": ["sts:AssumeRoleWithWebIdentity", "sts:TagSession"],
                "Condition": {
                    "StringEquals": {format!("{provider}:aud"): CLIENT},
                    "StringLike": {format!("{provider}:sub"): "user-*"}
                }
            }]
        }
    });
    let guarded = json!({
        "RoleName": "guarded",
        "AssumeRolePolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{provider}")},
                    "Action": "sts:AssumeRoleWithWebIdentity"
                },
                {
                    "Sid": "NoBanned",
                    "Effect": "Deny",
                    "Principal": {"Federated": provider},
                    "Action": "sts:*",
                    "Condition": {"StringEquals": {format!("{provider}:sub"): "user-banned"}}
                }
            ]
        }
    });
    vec![
        ("app".into(), app.to_string()),
        ("guarded".into(), guarded.to_string()),
    ]
}

const READ_ONLY: &str = r#"{"PolicyDocument":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:Get*","Resource":"*"}]}}"#;

pub(crate) struct Fixture {
    pub(crate) idp: TestIdp,
    pub(crate) daemon: Daemon,
}

/// A presigned `GetCallerIdentity` URL for the credentials of `out`, signed for `service` over
/// `body` (the AWS SDKs' presigners sign the hash of the empty body; S3-style ones
/// `UNSIGNED-PAYLOAD`).
pub(crate) fn presigned_url(
    f: &Fixture,
    creds: &aws_sdk_sts::types::Credentials,
    service: &str,
    body: aws_sigv4::http_request::SignableBody<'_>,
) -> reqwest::Url {
    use aws_sigv4::http_request::{SignableRequest, SignatureLocation, SigningSettings, sign};
    let identity = aws_credential_types::Credentials::new(
        creds.access_key_id(),
        creds.secret_access_key(),
        Some(creds.session_token().to_owned()),
        None,
        "test",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(300));
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name(service)
        .time(stsbridge::clock::SystemClock.now())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let base = format!(
        "{}/?Action=GetCallerIdentity&Version=2011-06-15",
        f.daemon.url
    );
    let signable = SignableRequest::new("GET", &base, std::iter::empty(), body).unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut url = reqwest::Url::parse(&base).unwrap();
    for (name, value) in instructions.params() {
        url.query_pairs_mut().append_pair(name, value);
    }
    url
}

pub(crate) async fn fixture() -> Fixture {
    let idp = TestIdp::start().await;
    let daemon = Daemon::start(Setup {
        idps: vec![("test".into(), idp_toml(idp.issuer()))],
        roles: roles(&idp.provider()),
        policies: vec![("read-only".into(), READ_ONLY.into())],
        ..Setup::default()
    })
    .await;
    Fixture { idp, daemon }
}

fn claims(idp: &TestIdp, sub: &str) -> Value {
    let now = now_secs();
    json!({
        "iss": idp.issuer(),
        "sub": sub,
        "aud": CLIENT,
        "iat": now,
        "exp": now + 600,
        "email": format!("{sub}@example.com"),
    })
}

impl Fixture {
    pub(crate) fn token(&self, sub: &str) -> String {
        self.idp.token(&claims(&self.idp, sub))
    }

    pub(crate) async fn assume(
        &self,
        role: &str,
        session: &str,
        token: &str,
    ) -> Result<
        aws_sdk_sts::operation::assume_role_with_web_identity::AssumeRoleWithWebIdentityOutput,
        String,
    > {
        sts_client(&self.daemon.url)
            .assume_role_with_web_identity()
            .role_arn(role_arn(role))
            .role_session_name(session)
            .web_identity_token(token)
            .send()
            .await
            .map_err(|e| e.code().unwrap_or("<no code>").to_owned())
    }
}

#[tokio::test]
async fn the_sdk_gets_every_field_aws_returns() {
    let f = fixture().await;
    let before = now_secs();
    let out = sts_client(&f.daemon.url)
        .assume_role_with_web_identity()
        .role_arn(role_arn("app"))
        .role_session_name("alice-laptop")
        .web_identity_token(f.token("user-alice"))
        .duration_seconds(1800)
        .send()
        .await
        .expect("credentials");

    let creds = out.credentials().expect("Credentials");
    assert!(creds.access_key_id().starts_with("ASIA"));
    assert_eq!(creds.access_key_id().len(), 20);
    assert_eq!(creds.secret_access_key().len(), 40);
    assert!(creds.session_token().len() > 100);
    let expires = creds.expiration().secs();
    assert!(
        (before + 1800..=now_secs() + 1800).contains(&expires),
        "expiration {expires}"
    );

    assert_eq!(out.subject_from_web_identity_token(), Some("user-alice"));
    let user = out.assumed_role_user().expect("AssumedRoleUser");
    assert_eq!(
        user.arn(),
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/app/alice-laptop")
    );
    assert!(user.assumed_role_id().starts_with("AROA"));
    assert!(user.assumed_role_id().ends_with(":alice-laptop"));
    assert_eq!(out.provider(), Some(f.idp.provider().as_str()));
    assert_eq!(out.audience(), Some(CLIENT));
    assert_eq!(out.packed_policy_size(), None);
    assert_eq!(out.source_identity(), None);

    let record = f
        .daemon
        .session(creds.access_key_id())
        .await
        .expect("session recorded");
    assert_eq!(record.session.subject, "user-alice");
    assert_eq!(record.session.identity_arn, role_arn("app"));
    assert_eq!(record.expires_at, expires);
    let audit = f.daemon.audit().await;
    let event = audit.last().expect("audit event");
    assert_eq!(event.event_name, "AssumeRoleWithWebIdentity");
    assert_eq!(event.user_identity.kind, "WebIdentityUser");
    assert!(event.error_code.is_none());
    let text = serde_json::to_string(&audit).unwrap();
    assert!(!text.contains(creds.secret_access_key()));
    assert!(!text.contains(creds.session_token()));
    assert!(!text.contains(&f.token("user-alice")[..40]));
}

#[tokio::test]
async fn session_policies_report_packed_size() {
    let f = fixture().await;
    let out = sts_client(&f.daemon.url)
        .assume_role_with_web_identity()
        .role_arn(role_arn("app"))
        .role_session_name("with-policy")
        .web_identity_token(f.token("user-bob"))
        .policy(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#)
        .policy_arns(
            aws_sdk_sts::types::PolicyDescriptorType::builder()
                .arn(format!("arn:aws:iam::{ACCOUNT}:policy/read-only"))
                .build(),
        )
        .send()
        .await
        .expect("credentials");
    let packed = out.packed_policy_size().expect("PackedPolicySize");
    assert!((1..=100).contains(&packed), "{packed}");
}

/// A session policy naming a member twice is refused, not read as its last occurrence: here the
/// second `Condition` would have dropped the first (and `Cond\u0069tion` is the same name).
#[tokio::test]
async fn a_session_policy_naming_a_member_twice_is_malformed() {
    let f = fixture().await;
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject",
        "Resource":"arn:aws:s3:::b/*",
        "Condition":{"StringEquals":{"aws:PrincipalTag/team":"blue"}},
        "Cond\u0069tion":{"Bool":{"aws:SecureTransport":"true"}}}]}"#;
    let assume = |policy: &str| {
        sts_client(&f.daemon.url)
            .assume_role_with_web_identity()
            .role_arn(role_arn("app"))
            .role_session_name("twice")
            .web_identity_token(f.token("user-dana"))
            .policy(policy)
            .send()
    };
    let err = assume(policy).await.expect_err("refused");
    assert_eq!(err.code(), Some("MalformedPolicyDocument"), "{err:?}");
    let message = err.message().unwrap_or_default();
    assert!(
        message.contains("Statement[0]: Duplicate member \"Condition\""),
        "{message}"
    );
    assert!(
        f.daemon.sessions().await.is_empty(),
        "no session may be stored"
    );
    let audit = f.daemon.audit().await;
    assert_eq!(audit.len(), 1);
    assert!(audit[0].error_code.is_some(), "{:?}", audit[0]);

    // The same policy with one Condition is fine.
    let once = policy.replacen(
        r#""Condition":{"StringEquals":{"aws:PrincipalTag/team":"blue"}},"#,
        "",
        1,
    );
    assert_ne!(once, policy);
    assume(&once).await.expect("credentials");
    assert_eq!(f.daemon.sessions().await.len(), 1);
}

#[tokio::test]
async fn session_tags_from_the_token_need_tag_session() {
    let f = fixture().await;
    let mut c = claims(&f.idp, "user-tagged");
    c["https://aws.amazon.com/tags"] = json!({
        "principal_tags": {"team": ["blue"]},
        "transitive_tag_keys": ["team"]
    });
    let token = f.idp.token(&c);
    let out = f
        .assume("app", "tagged", &token)
        .await
        .expect("app allows TagSession");
    let key = out.credentials().unwrap().access_key_id().to_owned();
    let record = f.daemon.session(&key).await.unwrap();
    assert_eq!(
        record.session.session_tags.get("team").map(String::as_str),
        Some("blue")
    );
    assert_eq!(record.session.transitive_tag_keys, vec!["team".to_owned()]);
    assert!(out.packed_policy_size().is_some());

    // `guarded` does not allow sts:TagSession.
    assert_eq!(
        f.assume("guarded", "tagged", &token).await.unwrap_err(),
        "AccessDenied"
    );
}

/// Each bad request: the SDK sees the AWS error code, no session is stored, the failure is audited.
#[tokio::test]
async fn the_negative_matrix() {
    let f = fixture().await;
    let other_idp = TestIdp::start().await;
    let now = now_secs();
    let good = claims(&f.idp, "user-carol");
    let with = |patch: Value| {
        let mut c = good.clone();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        f.idp.token(&c)
    };
    let good_token = f.token("user-carol");
    let (head, rest) = good_token.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let b64 = |v: &Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let alg_none = format!("{}.{payload}.", b64(&json!({"alg": "none", "typ": "JWT"})));
    let mut bad_sig = signature.to_owned().into_bytes();
    bad_sig[10] = if bad_sig[10] == b'A' { b'B' } else { b'A' };
    let bad_signature = format!("{head}.{payload}.{}", String::from_utf8(bad_sig).unwrap());
    let hs256 = f.idp.hs256_with_public_key(&good);
    let foreign_key = other_idp.token(&good);
    let _ = &head;

    let cases: Vec<(&str, &str, String, &str)> = vec![
        (
            "expired",
            "app",
            with(json!({"exp": now - 3600, "iat": now - 7200})),
            "ExpiredTokenException",
        ),
        (
            "nbf in the future",
            "app",
            with(json!({"nbf": now + 3600})),
            "InvalidIdentityToken",
        ),
        (
            "wrong iss",
            "app",
            with(json!({"iss": "http://127.0.0.1:1/other"})),
            "InvalidIdentityToken",
        ),
        (
            "wrong aud",
            "app",
            with(json!({"aud": "client-b"})),
            "InvalidIdentityToken",
        ),
        (
            "missing sub",
            "app",
            with(json!({"sub": null})),
            "InvalidIdentityToken",
        ),
        ("alg none", "app", alg_none, "InvalidIdentityToken"),
        (
            "HS256 with the RSA public key",
            "app",
            hs256,
            "InvalidIdentityToken",
        ),
        (
            "bad signature",
            "app",
            bad_signature,
            "InvalidIdentityToken",
        ),
        (
            "key of another issuer",
            "app",
            foreign_key,
            "InvalidIdentityToken",
        ),
        (
            "malformed JWT",
            "app",
            "not.a.jwt".into(),
            "InvalidIdentityToken",
        ),
        (
            "oversized token",
            "app",
            "a".repeat(20_001),
            "ValidationError",
        ),
        ("unknown role", "nope", good_token.clone(), "AccessDenied"),
        (
            "trust policy without a match",
            "app",
            f.token("mallory"),
            "AccessDenied",
        ),
        (
            "explicit deny",
            "guarded",
            f.token("user-banned"),
            "AccessDenied",
        ),
    ];
    for (name, role, token, code) in &cases {
        let got = f.assume(role, "matrix", token).await;
        assert_eq!(
            got.as_ref().err().map(String::as_str),
            Some(*code),
            "case {name}"
        );
    }

    let client = sts_client(&f.daemon.url);
    let call = || {
        client
            .assume_role_with_web_identity()
            .role_arn(role_arn("app"))
            .web_identity_token(good_token.clone())
    };
    assert_eq!(
        code(call().role_session_name("x").send().await),
        "ValidationError",
        "session name too short"
    );
    assert_eq!(
        code(call().role_session_name("bad name").send().await),
        "ValidationError",
        "session name with a space"
    );
    assert_eq!(
        code(
            call()
                .role_session_name("ok")
                .duration_seconds(7201)
                .send()
                .await
        ),
        "ValidationError",
        "duration above the role maximum"
    );
    assert_eq!(
        code(
            call()
                .role_session_name("ok")
                .duration_seconds(899)
                .send()
                .await
        ),
        "ValidationError",
        "duration below 900"
    );
    assert_eq!(
        code(
            call()
                .role_session_name("ok")
                .policy("{not json")
                .send()
                .await
        ),
        "MalformedPolicyDocument",
        "malformed session policy"
    );
    assert_eq!(
        code(
            call()
                .role_session_name("ok")
                .provider_id("www.amazon.com")
                .send()
                .await
        ),
        "InvalidParameterValue",
        "ProviderId with an OIDC token"
    );

    assert!(
        f.daemon.sessions().await.is_empty(),
        "no session may be stored"
    );
    let audit = f.daemon.audit().await;
    assert_eq!(audit.len(), cases.len() + 6);
    assert!(audit.iter().all(|e| e.error_code.is_some()));
}

#[tokio::test]
async fn an_unreachable_idp_without_cached_keys_is_a_communication_error() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let issuer = format!("http://{closed}");
    let idp = TestIdp::start().await;
    let daemon = Daemon::start(Setup {
        idps: vec![("down".into(), idp_toml(&issuer))],
        roles: roles(&closed.to_string()),
        ..Setup::default()
    })
    .await;
    let mut c = claims(&idp, "user-dave");
    c["iss"] = json!(issuer);
    let err = sts_client(&daemon.url)
        .assume_role_with_web_identity()
        .role_arn(role_arn("app"))
        .role_session_name("down")
        .web_identity_token(idp.token(&c))
        .send()
        .await
        .expect_err("IdP is down");
    assert_eq!(err.code(), Some("IDPCommunicationError"));
    assert!(daemon.sessions().await.is_empty());
}

#[tokio::test]
async fn the_sdk_default_chain_exchanges_a_token_file() {
    let f = fixture().await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    // Written as `echo` would, with a trailing newline the SDK sends along.
    std::fs::write(&token_file, format!("{}\n", f.token("user-pod"))).unwrap();
    let config_file = dir.path().join("config");
    std::fs::write(
        &config_file,
        format!(
            "[profile pod]\nregion = us-east-1\nendpoint_url = {}\nrole_arn = {}\n\
             web_identity_token_file = {}\nrole_session_name = pod-session\n",
            f.daemon.url,
            role_arn("app"),
            token_file.display()
        ),
    )
    .unwrap();
    use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
    let files = EnvConfigFiles::builder()
        .with_file(EnvConfigFileKind::Config, &config_file)
        .build();
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .profile_files(files)
        .profile_name("pod")
        .load()
        .await;
    use aws_credential_types::provider::ProvideCredentials;
    let creds = sdk
        .credentials_provider()
        .expect("a credentials provider")
        .provide_credentials()
        .await
        .expect("credentials through the daemon");
    assert!(creds.access_key_id().starts_with("ASIA"));
    assert!(creds.session_token().is_some());
    let record = f
        .daemon
        .session(creds.access_key_id())
        .await
        .expect("stored");
    assert_eq!(record.session.session_name, "pod-session");
}

#[tokio::test]
async fn concurrent_requests_are_all_durable() {
    let f = fixture().await;
    let token = f.token("user-many");
    let mut tasks = Vec::new();
    for i in 0..40 {
        let url = f.daemon.url.clone();
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            sts_client(&url)
                .assume_role_with_web_identity()
                .role_arn(role_arn("app"))
                .role_session_name(format!("s{i}"))
                .web_identity_token(token)
                .send()
                .await
                .map(|o| o.credentials().unwrap().access_key_id().to_owned())
        }));
    }
    let mut keys = Vec::new();
    for t in tasks {
        keys.push(t.await.unwrap().expect("credentials"));
    }
    let Fixture { daemon, idp: _idp } = f;
    let dir = daemon.stop().await;
    // The daemon is gone; the store opened directly has every session it returned.
    let store = stsbridge::store::open_when_released(
        &stsbridge::store::StorageSettings::new(dir.path().join("data/sled"), 16 * 1024 * 1024),
        100,
    )
    .unwrap();
    for k in &keys {
        assert!(
            store.sessions.get(k).await.unwrap().is_some(),
            "{k} missing after restart"
        );
    }
}

#[tokio::test]
async fn the_development_issuer_closes_the_loop() {
    let role = json!({
        "RoleName": "dev-reader",
        "AssumeRolePolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Federated": "{LISTEN}/dev"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {"{LISTEN}/dev:aud": "stsbridge-dev"}}
            }]
        }
    });
    let daemon = Daemon::start(Setup {
        roles: vec![("dev-reader".into(), role.to_string())],
        dev: true,
        ..Setup::default()
    })
    .await;
    let config = stsbridge::config::load(&daemon.config_path).unwrap();
    let token = stsbridge::dev::sign_dev_token(
        &config.settings,
        daemon.addr,
        "alice",
        stsbridge::dev::DEV_AUDIENCE,
        Duration::from_secs(600),
        serde_json::Map::new(),
        stsbridge::clock::SystemClock.now(),
    )
    .unwrap();
    // Discovery and JWKS are served for other relying parties too.
    let discovery = reqwest::get(format!(
        "{}/dev/.well-known/openid-configuration",
        daemon.url
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    let discovery: Value = serde_json::from_str(&discovery).unwrap();
    assert_eq!(discovery["issuer"], format!("{}/dev", daemon.url));
    let out = sts_client(&daemon.url)
        .assume_role_with_web_identity()
        .role_arn(role_arn("dev-reader"))
        .role_session_name("alice")
        .web_identity_token(token)
        .send()
        .await
        .expect("credentials");
    assert_eq!(
        out.provider(),
        Some(format!("{}/dev", daemon.addr).as_str())
    );
}

#[tokio::test]
async fn expired_sessions_are_purged_in_the_background() {
    let clock = std::sync::Arc::new(stsbridge::clock::ManualClock::new(
        stsbridge::clock::SystemClock.now(),
    ));
    let idp = TestIdp::start().await;
    let daemon = Daemon::start(Setup {
        idps: vec![("test".into(), idp_toml(idp.issuer()))],
        roles: roles(&idp.provider()),
        clock: clock.clone(),
        purge_interval_seconds: 1,
        ..Setup::default()
    })
    .await;
    let f = Fixture { idp, daemon };
    let out = sts_client(&f.daemon.url)
        .assume_role_with_web_identity()
        .role_arn(role_arn("app"))
        .role_session_name("short")
        .web_identity_token(f.token("user-brief"))
        .duration_seconds(900)
        .send()
        .await
        .expect("credentials");
    let key = out.credentials().unwrap().access_key_id().to_owned();
    assert!(f.daemon.session(&key).await.is_some());

    clock.advance(Duration::from_secs(899));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(f.daemon.session(&key).await.is_some(), "not expired yet");

    clock.advance(Duration::from_secs(1));
    for _ in 0..50 {
        if f.daemon.session(&key).await.is_none() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("expired session {key} was not purged");
}

#[tokio::test]
async fn issued_credentials_sign_get_caller_identity() {
    let clock = std::sync::Arc::new(stsbridge::clock::ManualClock::new(
        stsbridge::clock::SystemClock.now(),
    ));
    let idp = TestIdp::start().await;
    let daemon = Daemon::start(Setup {
        idps: vec![("test".into(), idp_toml(idp.issuer()))],
        roles: roles(&idp.provider()),
        clock: clock.clone(),
        ..Setup::default()
    })
    .await;
    let f = Fixture { idp, daemon };
    let out = f
        .assume("app", "caller", &f.token("user-erin"))
        .await
        .expect("credentials");
    let creds = out.credentials().unwrap();
    let (key, secret, token) = (
        creds.access_key_id(),
        creds.secret_access_key(),
        creds.session_token(),
    );

    let me = signed_client(&f.daemon.url, key, secret, Some(token))
        .get_caller_identity()
        .send()
        .await
        .expect("caller identity");
    let info = signed_client(&f.daemon.url, key, secret, Some(token))
        .get_access_key_info()
        .access_key_id(key)
        .send()
        .await
        .expect("access key info");
    assert_eq!(info.account(), Some(ACCOUNT));
    let unknown = signed_client(&f.daemon.url, key, secret, Some(token))
        .get_access_key_info()
        .access_key_id("ASIANOTISSUEDHERE000")
        .send()
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Some("InvalidParameterValue"));
    let user = out.assumed_role_user().unwrap();
    assert_eq!(me.arn(), Some(user.arn()));
    assert_eq!(me.user_id(), Some(user.assumed_role_id()));
    assert_eq!(me.account(), Some(ACCOUNT));

    let wrong_secret = "A".repeat(40);
    assert_eq!(
        code(
            signed_client(&f.daemon.url, key, &wrong_secret, Some(token))
                .get_caller_identity()
                .send()
                .await
        ),
        "SignatureDoesNotMatch"
    );
    let mut forged = token.to_owned().into_bytes();
    forged[40] = if forged[40] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    assert_eq!(
        code(
            signed_client(&f.daemon.url, key, secret, Some(&forged))
                .get_caller_identity()
                .send()
                .await
        ),
        "InvalidClientTokenId"
    );
    assert_eq!(
        code(
            signed_client(&f.daemon.url, "ASIAAAAAAAAAAAAAAAAA", secret, Some(token))
                .get_caller_identity()
                .send()
                .await
        ),
        "InvalidClientTokenId",
        "a token that belongs to another key"
    );
    assert_eq!(
        code(
            signed_client(&f.daemon.url, key, secret, None)
                .get_caller_identity()
                .send()
                .await
        ),
        "InvalidClientTokenId",
        "a temporary key without its session token"
    );
    let unsigned = reqwest::Client::new()
        .post(&f.daemon.url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("Action=GetCallerIdentity&Version=2011-06-15")
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 403);
    assert!(
        unsigned
            .text()
            .await
            .unwrap()
            .contains("<Code>MissingAuthenticationToken</Code>")
    );

    // The session expires after the default hour; its signature no longer counts.
    clock.advance(Duration::from_secs(3601));
    let late = signed_client(&f.daemon.url, key, secret, Some(token))
        .config()
        .to_builder()
        .time_source(aws_smithy_async::time::StaticTimeSource::new(
            stsbridge::clock::Clock::now(clock.as_ref()),
        ))
        .build();
    assert_eq!(
        code(
            aws_sdk_sts::Client::from_conf(late)
                .get_caller_identity()
                .send()
                .await
        ),
        "ExpiredToken"
    );
}

#[tokio::test]
async fn a_presigned_get_caller_identity_url_works_with_a_plain_http_client() {
    use aws_sigv4::http_request::SignableBody;
    let f = fixture().await;
    let out = f
        .assume("app", "presign", &f.token("user-frank"))
        .await
        .expect("credentials");
    let creds = out.credentials().unwrap();
    let url = presigned_url(&f, creds, "sts", SignableBody::UnsignedPayload);
    let response = reqwest::get(url.clone()).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    assert!(
        body.contains(&format!(
            "<Arn>{}</Arn>",
            out.assumed_role_user().unwrap().arn()
        )),
        "{body}"
    );

    // The same URL with its signature altered is refused.
    let mut tampered = url.as_str().to_owned();
    let at = tampered.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let flipped = if &tampered[at..=at] == "0" { "1" } else { "0" };
    tampered.replace_range(at..=at, flipped);
    let response = reqwest::get(tampered).await.unwrap();
    assert_eq!(response.status(), 403);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("<Code>SignatureDoesNotMatch</Code>")
    );
}

/// federated -> chain-a (trusts the `app` role by name) -> chain-b (trusts the account, with an
/// ExternalId; chain-a's own policy must allow it) ; chain-c trusts the account but chain-a may
/// not assume it.
#[tokio::test]
async fn role_chaining_carries_tags_and_source_identity_and_caps_at_one_hour() {
    let idp = TestIdp::start().await;
    let chain_a = json!({
        "RoleName": "chain-a",
        "MaxSessionDuration": 7200,
        "AssumeRolePolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"AWS": role_arn("app")},
                "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]
            }]
        },
        "Policies": [{
            "PolicyName": "next-hop",
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn("chain-b")}]
            }
        }]
    });
    let account_trust = |name: &str, condition: Value| {
        json!({
            "RoleName": name,
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": {"AWS": ACCOUNT},
                    "Action": ["sts:AssumeRole", "sts:TagSession"],
                    "Condition": condition
                }]
            }
        })
        .to_string()
    };
    let mut all_roles = roles(&idp.provider());
    all_roles.push(("chain-a".into(), chain_a.to_string()));
    all_roles.push((
        "chain-b".into(),
        account_trust(
            "chain-b",
            json!({"StringEquals": {"sts:ExternalId": "xyz-123"}}),
        ),
    ));
    all_roles.push(("chain-c".into(), account_trust("chain-c", json!({}))));
    let daemon = Daemon::start(Setup {
        idps: vec![("test".into(), idp_toml(idp.issuer()))],
        roles: all_roles,
        ..Setup::default()
    })
    .await;
    let f = Fixture { idp, daemon };

    let mut c = claims(&f.idp, "user-gina");
    c["https://aws.amazon.com/tags"] = json!({
        "principal_tags": {"team": ["blue"], "project": ["x"]},
        "transitive_tag_keys": ["team"]
    });
    let federated = f
        .assume("app", "gina", &f.idp.token(&c))
        .await
        .expect("federated");
    let fc = federated.credentials().unwrap();
    let client = signed_client(
        &f.daemon.url,
        fc.access_key_id(),
        fc.secret_access_key(),
        Some(fc.session_token()),
    );

    assert_eq!(
        code(
            client
                .assume_role()
                .role_arn(role_arn("chain-a"))
                .role_session_name("hop-a")
                .duration_seconds(3601)
                .send()
                .await
        ),
        "ValidationError",
        "a chained session is capped at one hour"
    );
    let a = client
        .assume_role()
        .role_arn(role_arn("chain-a"))
        .role_session_name("hop-a")
        .source_identity("gina")
        .send()
        .await
        .expect("hop a");
    assert_eq!(a.source_identity(), Some("gina"));
    assert_eq!(
        a.assumed_role_user().unwrap().arn(),
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/chain-a/hop-a")
    );
    let ac = a.credentials().unwrap();
    let a_record = f.daemon.session(ac.access_key_id()).await.unwrap();
    assert_eq!(
        a_record
            .session
            .session_tags
            .get("team")
            .map(String::as_str),
        Some("blue")
    );
    assert!(
        !a_record.session.session_tags.contains_key("project"),
        "not transitive"
    );

    let client_a = signed_client(
        &f.daemon.url,
        ac.access_key_id(),
        ac.secret_access_key(),
        Some(ac.session_token()),
    );
    assert_eq!(
        code(
            client_a
                .assume_role()
                .role_arn(role_arn("chain-b"))
                .role_session_name("hop-b")
                .send()
                .await
        ),
        "AccessDenied",
        "chain-b wants the ExternalId"
    );
    assert_eq!(
        code(
            client_a
                .assume_role()
                .role_arn(role_arn("chain-c"))
                .role_session_name("hop-c")
                .send()
                .await
        ),
        "AccessDenied",
        "chain-a's own policy does not allow chain-c"
    );
    assert_eq!(
        code(
            client_a
                .assume_role()
                .role_arn(role_arn("chain-b"))
                .role_session_name("hop-b")
                .external_id("xyz-123")
                .source_identity("somebody-else")
                .send()
                .await
        ),
        "AccessDenied",
        "the source identity cannot change along the chain"
    );
    let b = client_a
        .assume_role()
        .role_arn(role_arn("chain-b"))
        .role_session_name("hop-b")
        .external_id("xyz-123")
        .send()
        .await
        .expect("hop b");
    assert_eq!(b.source_identity(), Some("gina"));
    let bc = b.credentials().unwrap();
    let b_record = f.daemon.session(bc.access_key_id()).await.unwrap();
    assert_eq!(
        b_record
            .session
            .session_tags
            .get("team")
            .map(String::as_str),
        Some("blue")
    );
    assert_eq!(b_record.session.source_identity.as_deref(), Some("gina"));
    let me = signed_client(
        &f.daemon.url,
        bc.access_key_id(),
        bc.secret_access_key(),
        Some(bc.session_token()),
    )
    .get_caller_identity()
    .send()
    .await
    .unwrap();
    assert_eq!(
        me.arn(),
        Some(format!("arn:aws:sts::{ACCOUNT}:assumed-role/chain-b/hop-b").as_str())
    );
}

#[tokio::test]
async fn revoked_sessions_are_refused_at_once() {
    use stsbridge::admin::{AdminRequest, AdminResponse};
    let clock = std::sync::Arc::new(stsbridge::clock::ManualClock::new(
        stsbridge::clock::SystemClock.now(),
    ));
    let idp = TestIdp::start().await;
    let daemon = Daemon::start(Setup {
        idps: vec![("test".into(), idp_toml(idp.issuer()))],
        roles: roles(&idp.provider()),
        clock: clock.clone(),
        ..Setup::default()
    })
    .await;
    let f = Fixture { idp, daemon };
    let issue = |name: &'static str| {
        let f = &f;
        async move {
            let out = f.assume("app", name, &f.token("user-hal")).await.unwrap();
            let c = out.credentials().unwrap();
            let client = signed_client(
                &f.daemon.url,
                c.access_key_id(),
                c.secret_access_key(),
                Some(c.session_token()),
            );
            (client, c.access_key_id().to_owned())
        }
    };
    let who = |client: aws_sdk_sts::Client| async move {
        match client.get_caller_identity().send().await {
            Ok(_) => "<ok>".to_owned(),
            Err(e) => ProvideErrorMetadata::code(&e)
                .unwrap_or("<none>")
                .to_owned(),
        }
    };

    let (first, first_key) = issue("first").await;
    let (second, _) = issue("second").await;
    assert_eq!(who(first.clone()).await, "<ok>");
    let revoked = f
        .daemon
        .admin(AdminRequest::SessionsRevoke { id: first_key })
        .await;
    assert!(matches!(revoked, AdminResponse::Revoked(_)), "{revoked:?}");
    assert_eq!(who(first.clone()).await, "InvalidClientTokenId");
    assert_eq!(who(second.clone()).await, "<ok>", "only that session");

    let revoked = f
        .daemon
        .admin(AdminRequest::RolesRevokeSessions {
            role_arn: role_arn("app"),
            force: false,
        })
        .await;
    assert!(matches!(revoked, AdminResponse::Revoked(_)), "{revoked:?}");
    assert_eq!(who(second).await, "InvalidClientTokenId");
    // Sessions issued after the revocation are not affected.
    clock.advance(Duration::from_secs(1));
    let (later, _) = issue("later").await;
    assert_eq!(
        who(aws_sdk_sts::Client::from_conf(
            later
                .config()
                .to_builder()
                .time_source(aws_smithy_async::time::StaticTimeSource::new(
                    stsbridge::clock::Clock::now(clock.as_ref()),
                ))
                .build()
        ))
        .await,
        "<ok>"
    );
    let audit = f.daemon.audit().await;
    assert!(audit.iter().any(|e| e.event_name == "RevokeSession"));
    assert!(audit.iter().any(|e| e.event_name == "RevokeRoleSessions"));
}
