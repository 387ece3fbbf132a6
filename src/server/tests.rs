//! Handler tests: every endpoint's bad input, through the router (`Router::oneshot`), against a
//! real state (sled on a temporary directory, an OIDC IdP with keys in memory, one role, one
//! authorization service). Each refusal must carry its AWS code and HTTP status in the endpoint's
//! error shape, and store nothing but its audit event.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt as _;

use super::{App, router};
use crate::clock::{Clock, ManualClock, from_unix_seconds};
use crate::config::{AuthorizationService, Federation, Role, RoleSet};
use crate::creds::{Keyring, SharedKeyring};
use crate::idp::oidc::signer::TokenSigner;
use crate::idp::oidc::{OidcKeySource, OidcSettings, OidcVerifier};
use crate::idp::{IdpRegistry, IdpVerifier};
use crate::policy::{Policy, PolicyKind};
use crate::state::State;
use crate::store::{StorageSettings, Store};

const NOW: i64 = 1_795_000_000;
const ISSUER: &str = "https://idp.example.com";
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/app";
const SERVICE_SECRET: &str = "service-secret-0123456789";

struct Harness {
    app: axum::Router,
    store: Store,
    signer: TokenSigner,
    _dir: tempfile::TempDir,
}

fn role() -> Role {
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
        "Principal":{"Federated":"idp.example.com"},"Action":"sts:AssumeRoleWithWebIdentity"}]}"#;
    Role {
        name: "app".into(),
        account_id: "123456789012".into(),
        path: "/".into(),
        arn: ROLE_ARN.into(),
        role_id: "AROAEXAMPLEHANDLER01".into(),
        max_session_duration: 3600,
        trust_policy: Policy::parse(trust, PolicyKind::Trust).unwrap(),
        policies: Vec::new(),
        tags: BTreeMap::new(),
    }
}

fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store =
        crate::store::open(&StorageSettings::new(dir.path().join("sled"), 8 << 20)).unwrap();
    let signer = TokenSigner::generate_rsa("k1").unwrap();
    let verifier = OidcVerifier::new(OidcSettings {
        name: "example".into(),
        issuer: ISSUER.into(),
        provider: "idp.example.com".into(),
        audiences: vec!["client-1".into()],
        algorithms: vec![jsonwebtoken::Algorithm::RS256],
        keys: OidcKeySource::Static(jsonwebtoken::jwk::JwkSet {
            keys: vec![signer.jwk()],
        }),
        leeway: Duration::from_secs(60),
        insecure_http: false,
    })
    .unwrap();
    let mut roles = RoleSet::default();
    roles.insert(role());
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, SERVICE_SECRET.as_bytes());
    let federation = Federation {
        idps: IdpRegistry::new([Arc::new(verifier) as Arc<dyn IdpVerifier>]),
        roles,
        managed_policies: BTreeMap::new(),
        authorization_services: vec![AuthorizationService {
            name: "photos".into(),
            bearer_sha256: digest.as_ref().try_into().unwrap(),
            signing_name: "photos".into(),
        }],
        accounts: BTreeMap::new(),
        signin: Vec::new(),
    };
    let now = from_unix_seconds(NOW);
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(now));
    let keyring = SharedKeyring::new(Keyring::generate(now).unwrap());
    let state = Arc::new(State::new(federation, store.clone(), keyring, clock));
    let limits = crate::config::ServerSettings {
        max_connections: None,
        header_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
        body_timeout: Duration::from_secs(20),
        request_timeout: Duration::from_secs(30),
        tls: None,
        trusted_proxies: Vec::new(),
    };
    let app = router(Arc::new(App::new(
        state,
        None,
        &limits,
        &Default::default(),
    )))
    .layer(MockConnectInfo(SocketAddr::from(([192, 0, 2, 7], 40000))));
    Harness {
        app,
        store,
        signer,
        _dir: dir,
    }
}

impl Harness {
    fn token(&self) -> String {
        self.signer
            .sign(&serde_json::json!({
                "iss": ISSUER, "aud": "client-1", "sub": "alice", "iat": NOW, "exp": NOW + 600,
            }))
            .unwrap()
    }

    async fn send(&self, request: Request<Body>) -> (StatusCode, String, String) {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            response.headers().contains_key("x-amzn-RequestId") || status == StatusCode::OK,
            "every answer but health carries its request id"
        );
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            content_type,
            String::from_utf8_lossy(&body).into_owned(),
        )
    }

    async fn post_sts(&self, body: impl Into<Body>) -> (StatusCode, String, String) {
        self.send(
            Request::post("/")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body.into())
                .unwrap(),
        )
        .await
    }

    async fn sessions(&self) -> usize {
        self.store.sessions.list(100).await.unwrap().len()
    }
}

/// The `<Code>` of an AWS XML error, checked to be in the ErrorResponse shape.
fn xml_code(body: &str) -> &str {
    assert!(
        body.contains("<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"),
        "{body}"
    );
    let start = body.find("<Code>").unwrap() + 6;
    let end = body.find("</Code>").unwrap();
    &body[start..end]
}

#[tokio::test]
async fn the_sts_endpoint_answers_bad_input_with_aws_xml_errors() {
    let h = harness();
    let too_large = format!("Action=GetCallerIdentity&Junk={}", "J".repeat(300 * 1024));
    let cases: Vec<(&str, String, StatusCode, &str)> = vec![
        (
            "no Action",
            String::new(),
            StatusCode::BAD_REQUEST,
            "MissingAction",
        ),
        (
            "unknown action",
            "Action=Steal&Version=2011-06-15".into(),
            StatusCode::BAD_REQUEST,
            "InvalidAction",
        ),
        (
            "wrong version",
            "Action=GetCallerIdentity&Version=2010-01-01".into(),
            StatusCode::BAD_REQUEST,
            "InvalidAction",
        ),
        (
            "an action that is not UTF-8",
            "Action=%FF%FE&Version=2011-06-15".into(),
            StatusCode::BAD_REQUEST,
            "InvalidAction",
        ),
        (
            "body over the limit",
            too_large,
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
        ),
        (
            "web identity without parameters",
            "Action=AssumeRoleWithWebIdentity&Version=2011-06-15".into(),
            StatusCode::BAD_REQUEST,
            "ValidationError",
        ),
        (
            "a token that is not a JWT",
            format!(
                "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn={ROLE_ARN}&RoleSessionName=s1&WebIdentityToken=not-a-jwt"
            ),
            StatusCode::BAD_REQUEST,
            "InvalidIdentityToken",
        ),
        (
            "a provider id",
            format!(
                "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn={ROLE_ARN}&RoleSessionName=s1&WebIdentityToken=abcd&ProviderId=www.amazon.com"
            ),
            StatusCode::BAD_REQUEST,
            "InvalidParameterValue",
        ),
        (
            "SAML without parameters",
            "Action=AssumeRoleWithSAML&Version=2011-06-15".into(),
            StatusCode::BAD_REQUEST,
            "ValidationError",
        ),
        (
            "SAML of an unknown provider",
            format!(
                "Action=AssumeRoleWithSAML&Version=2011-06-15&RoleArn={ROLE_ARN}&PrincipalArn=arn:aws:iam::123456789012:saml-provider/none&SAMLAssertion=PHNhbWxwOlJlc3BvbnNlLz4="
            ),
            StatusCode::BAD_REQUEST,
            "InvalidIdentityToken",
        ),
        (
            "AssumeRole unsigned",
            format!("Action=AssumeRole&Version=2011-06-15&RoleArn={ROLE_ARN}&RoleSessionName=s1"),
            StatusCode::FORBIDDEN,
            "MissingAuthenticationToken",
        ),
        (
            "AssumeRole without parameters",
            "Action=AssumeRole&Version=2011-06-15".into(),
            StatusCode::BAD_REQUEST,
            "ValidationError",
        ),
        (
            "GetCallerIdentity unsigned",
            "Action=GetCallerIdentity&Version=2011-06-15".into(),
            StatusCode::FORBIDDEN,
            "MissingAuthenticationToken",
        ),
        (
            "GetSessionToken with a bad duration",
            "Action=GetSessionToken&Version=2011-06-15&DurationSeconds=12".into(),
            StatusCode::BAD_REQUEST,
            "ValidationError",
        ),
        (
            "GetFederationToken without a name",
            "Action=GetFederationToken&Version=2011-06-15".into(),
            StatusCode::BAD_REQUEST,
            "ValidationError",
        ),
        (
            "GetAccessKeyInfo without a key",
            "Action=GetAccessKeyInfo&Version=2011-06-15".into(),
            StatusCode::BAD_REQUEST,
            "ValidationError",
        ),
        (
            "DecodeAuthorizationMessage without a message",
            "Action=DecodeAuthorizationMessage&Version=2011-06-15".into(),
            StatusCode::BAD_REQUEST,
            "ValidationError",
        ),
    ];
    for (what, body, status, code) in cases {
        let (got, content_type, text) = h.post_sts(body).await;
        assert_eq!(got, status, "{what}: {text}");
        assert_eq!(content_type, "text/xml", "{what}");
        assert_eq!(xml_code(&text), code, "{what}");
    }
    assert_eq!(h.sessions().await, 0, "no refusal stores a session");
}

#[tokio::test]
async fn a_malformed_signature_and_other_methods_are_refused_in_xml() {
    let h = harness();
    let (status, _, text) = h
        .send(
            Request::post("/")
                .header(header::AUTHORIZATION, "AWS4-HMAC-SHA256 garbage")
                .body(Body::from("Action=GetCallerIdentity&Version=2011-06-15"))
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert_eq!(xml_code(&text), "IncompleteSignature");
    let (status, _, text) = h
        .send(
            Request::put("/?Action=GetCallerIdentity&Version=2011-06-15")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(xml_code(&text), "ValidationError");
}

#[tokio::test]
async fn a_query_string_request_issues_and_refusals_are_audited() {
    let h = harness();
    let uri = format!(
        "/?Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn={ROLE_ARN}&RoleSessionName=s1&WebIdentityToken={}",
        h.token()
    );
    let (status, _, text) = h.send(Request::get(uri).body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(text.contains("<AccessKeyId>ASIA"), "{text}");
    assert_eq!(h.sessions().await, 1);

    let (status, _, _) = h
        .post_sts(format!(
            "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn:aws:iam::123456789012:role/none&RoleSessionName=s2&WebIdentityToken={}",
            h.token()
        ))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(h.sessions().await, 1, "a refused request stores no session");
    let audit = h.store.audit.list(10).await.unwrap();
    let codes: Vec<_> = audit.iter().map(|e| e.error_code.as_deref()).collect();
    assert_eq!(codes, [None, Some("AccessDenied")]);
    assert!(
        audit
            .iter()
            .all(|e| e.source_ip_address.as_deref() == Some("192.0.2.7"))
    );
}

#[tokio::test]
async fn the_authorization_api_answers_bad_input_with_json_errors() {
    let h = harness();
    let post = |bearer: Option<&str>, body: &str| {
        let mut request = Request::post("/v1/authorize");
        if let Some(bearer) = bearer {
            request = request.header(header::AUTHORIZATION, format!("Bearer {bearer}"));
        }
        request.body(Body::from(body.to_owned())).unwrap()
    };
    let unsigned = serde_json::json!({
        "request": { "method": "GET", "path": "/photos/7", "headers": { "host": "photos" },
                     "payload_sha256": "UNSIGNED-PAYLOAD" },
        "action": "photos:GetPhoto", "resource": "arn:photos:::photo/7",
    })
    .to_string();
    let principal_key = serde_json::json!({
        "request": { "method": "GET", "path": "/", "headers": {}, "payload_sha256": "x" },
        "action": "photos:GetPhoto", "resource": "r",
        "context": { "aws:PrincipalArn": "arn:aws:iam::123456789012:root" },
    })
    .to_string();
    let cases = [
        (None, "{}", StatusCode::UNAUTHORIZED, "Unauthorized"),
        (
            Some("wrong"),
            "{}",
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
        ),
        (
            Some(SERVICE_SECRET),
            "{not json",
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
        ),
        (
            Some(SERVICE_SECRET),
            r#"{"request":{}}"#,
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
        ),
        (
            Some(SERVICE_SECRET),
            &principal_key,
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
        ),
        (
            Some(SERVICE_SECRET),
            &unsigned,
            StatusCode::FORBIDDEN,
            "MissingAuthenticationToken",
        ),
    ];
    for (bearer, body, status, code) in cases {
        let response = h.app.clone().oneshot(post(bearer, body)).await.unwrap();
        assert_eq!(response.status(), status, "{body}");
        if status == StatusCode::UNAUTHORIZED {
            assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
        }
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let answer: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(answer["error"]["code"], code, "{body}");
        assert!(answer["requestId"].is_string());
        assert!(
            !answer.to_string().contains("not json"),
            "input never echoed"
        );
    }
    let audited = h.store.audit.list(10).await.unwrap();
    assert_eq!(
        audited.len(),
        2,
        "decisions are audited; a request without a valid service or JSON is not"
    );
}

#[tokio::test]
async fn readiness_reports_the_store_the_keyring_and_each_idp() {
    let h = harness();
    let (status, content_type, body) = h
        .send(Request::get("/readyz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(content_type, "application/json");
    let readiness: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(readiness["ready"], true);
    assert_eq!(readiness["store"]["writable"], true);
    assert_eq!(readiness["keyring"]["loaded"], true);
    assert_eq!(readiness["identity_providers"]["example"]["ready"], true);
    assert_eq!(readiness["problems"], serde_json::json!([]));
}

#[tokio::test]
async fn health_answers_and_dev_routes_exist_only_with_dev() {
    let h = harness();
    let (status, _, body) = h
        .send(Request::get("/healthz").body(Body::empty()).unwrap())
        .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok\n"));
    let (status, _, text) = h
        .send(Request::get("/dev/jwks.json").body(Body::empty()).unwrap())
        .await;
    // Without --dev the path is the STS endpoint's, and a request without Action is refused.
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(xml_code(&text), "MissingAction");
}
