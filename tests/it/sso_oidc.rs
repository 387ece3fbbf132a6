//! The SSO OIDC API (`<public_url>/sso-oidc`) driven by the real AWS SDK (`aws-sdk-ssooidc`)
//! with an endpoint override, as `AWS_ENDPOINT_URL_SSO_OIDC` points every SDK at it:
//! RegisterClient and StartDeviceAuthorization, and what they refuse.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ssooidc::Client;
use stsbridge::clock::{Clock as _, ManualClock, SystemClock};

use crate::support::daemon::{Daemon, Setup, code};

/// The AWS CLI v2's registration for the authorization-code flow.
const CLI_REDIRECT: &str = "http://127.0.0.1/oauth/callback";
const SCOPE: &str = "sso:account:access";

async fn daemon_with(clock: Arc<dyn stsbridge::clock::Clock>) -> Daemon {
    Daemon::start(Setup {
        server: "public_url = \"http://{LISTEN}\"".to_owned(),
        clock,
        ..Setup::default()
    })
    .await
}

async fn daemon() -> Daemon {
    daemon_with(Arc::new(SystemClock)).await
}

fn client(daemon: &Daemon) -> Client {
    let config = aws_sdk_ssooidc::Config::builder()
        .behavior_version(aws_sdk_ssooidc::config::BehaviorVersion::latest())
        .region(aws_sdk_ssooidc::config::Region::new("eu-central-1"))
        .endpoint_url(format!("{}/sso-oidc", daemon.url))
        .build();
    Client::from_conf(config)
}

/// Register as the AWS CLI v2 does for `aws sso login` (authorization code + PKCE).
async fn register_like_the_cli(
    sso: &Client,
    issuer: &str,
) -> aws_sdk_ssooidc::operation::register_client::RegisterClientOutput {
    sso.register_client()
        .client_name("botocore-client-test")
        .client_type("public")
        .scopes(SCOPE)
        .grant_types("authorization_code")
        .grant_types("refresh_token")
        .redirect_uris(CLI_REDIRECT)
        .issuer_url(issuer)
        .send()
        .await
        .expect("RegisterClient")
}

#[tokio::test]
async fn the_sdk_registers_a_client_and_starts_a_device_authorization() {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let daemon = daemon_with(clock.clone()).await;
    let sso = client(&daemon);
    let now = stsbridge::clock::unix_seconds(clock.now());
    let registered = register_like_the_cli(&sso, &daemon.url).await;
    let client_id = registered.client_id().expect("clientId");
    assert!(!client_id.is_empty());
    assert_eq!(registered.client_id_issued_at(), now);
    assert_eq!(registered.client_secret_expires_at(), now + 90 * 24 * 3600);
    assert_eq!(
        registered.authorization_endpoint(),
        Some(format!("{}/sso-oidc/authorize", daemon.url).as_str())
    );
    assert_eq!(
        registered.token_endpoint(),
        Some(format!("{}/sso-oidc/token", daemon.url).as_str())
    );

    // The device flow's registration (`aws sso login --use-device-code`): no redirect URI.
    let device_client = sso
        .register_client()
        .client_name("device")
        .client_type("public")
        .send()
        .await
        .expect("RegisterClient");
    for (id, secret) in [
        (client_id, registered.client_secret().expect("secret")),
        (
            device_client.client_id().expect("id"),
            device_client.client_secret().expect("secret"),
        ),
    ] {
        let started = sso
            .start_device_authorization()
            .client_id(id)
            .client_secret(secret)
            .start_url(format!("{}/", daemon.url))
            .send()
            .await
            .expect("StartDeviceAuthorization");
        let user_code = started.user_code().expect("userCode");
        let (a, b) = user_code.split_once('-').expect("XXXX-XXXX");
        assert!(
            a.len() == 4
                && b.len() == 4
                && a.chars().chain(b.chars()).all(|c| c.is_ascii_uppercase()),
            "{user_code}"
        );
        let verification = format!("{}/device", daemon.url);
        assert_eq!(started.verification_uri(), Some(verification.as_str()));
        assert_eq!(
            started.verification_uri_complete(),
            Some(format!("{verification}?user_code={user_code}").as_str())
        );
        assert_eq!((started.expires_in(), started.interval()), (600, 5));
        let device_code = started.device_code().expect("deviceCode");
        assert!(!device_code.contains(user_code));
    }
}

#[tokio::test]
async fn a_wrong_tampered_or_expired_client_secret_is_invalid_client() {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let daemon = daemon_with(clock.clone()).await;
    let sso = client(&daemon);
    let mine = register_like_the_cli(&sso, &daemon.url).await;
    let theirs = register_like_the_cli(&sso, &daemon.url).await;
    let mine_id = mine.client_id().expect("id");
    let mine_secret = mine.client_secret().expect("secret");
    // One character of the ciphertext changed (in the middle: never only padding bits).
    let mut tampered = mine_secret.to_owned();
    let middle = tampered.len() / 2;
    let flipped = if &tampered[middle..=middle] == "A" {
        "B"
    } else {
        "A"
    };
    tampered.replace_range(middle..=middle, flipped);
    assert_ne!(tampered, mine_secret);
    let start = |id: &str, secret: &str| {
        sso.start_device_authorization()
            .client_id(id)
            .client_secret(secret)
            .start_url(&daemon.url)
            .send()
    };
    for (id, secret) in [
        (mine_id, theirs.client_secret().expect("secret")),
        (mine_id, tampered.as_str()),
        (mine_id, "not-a-secret"),
        ("unknown-client", mine_secret),
        (mine_id, ""),
    ] {
        assert_eq!(
            code(start(id, secret).await),
            "InvalidClientException",
            "{id}"
        );
    }
    assert_eq!(code(start(mine_id, mine_secret).await), "<ok>");

    clock.advance(Duration::from_secs(90 * 24 * 3600));
    assert_eq!(
        code(start(mine_id, mine_secret).await),
        "InvalidClientException",
        "a registration lasts 90 days"
    );
}

#[tokio::test]
async fn invalid_client_is_a_401_in_awss_oauth_json() {
    let daemon = daemon().await;
    let r = reqwest::Client::new()
        .post(format!("{}/sso-oidc/device_authorization", daemon.url))
        .header("content-type", "application/json")
        .body(r#"{"clientId":"x","clientSecret":"y","startUrl":"z"}"#)
        .send()
        .await
        .expect("response");
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(
        r.headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok()),
        Some("InvalidClientException")
    );
    let body: serde_json::Value =
        serde_json::from_str(&r.text().await.expect("body")).expect("json");
    assert_eq!(body["error"], "invalid_client");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
}

#[tokio::test]
async fn redirect_uris_must_be_loopback_ip_literals_over_http() {
    let daemon = daemon().await;
    let sso = client(&daemon);
    for uri in [
        "https://evil.example/callback",
        "http://localhost/oauth/callback",
        "http://127.0.0.1.evil.example/oauth/callback",
        "https://127.0.0.1/oauth/callback",
        "http://10.0.0.1/oauth/callback",
    ] {
        let r = sso
            .register_client()
            .client_name("c")
            .client_type("public")
            .grant_types("authorization_code")
            .redirect_uris(uri)
            .send()
            .await;
        assert_eq!(code(r), "InvalidRedirectUriException", "{uri}");
    }
    let without = sso
        .register_client()
        .client_name("c")
        .client_type("public")
        .grant_types("authorization_code")
        .send()
        .await;
    assert_eq!(
        code(without),
        "InvalidRedirectUriException",
        "an authorization-code client needs a redirect URI"
    );
    let ipv6 = sso
        .register_client()
        .client_name("c")
        .client_type("public")
        .grant_types("authorization_code")
        .redirect_uris("http://[::1]:4321/oauth/callback")
        .send()
        .await;
    assert_eq!(code(ipv6), "<ok>");
}

#[tokio::test]
async fn a_foreign_issuer_or_start_url_and_bad_metadata_are_refused() {
    let daemon = daemon().await;
    let sso = client(&daemon);
    for issuer in [
        "https://d-1234567890.awsapps.com/start",
        "http://127.0.0.1:1/",
        &format!("{}/start", daemon.url),
    ] {
        let r = sso
            .register_client()
            .client_name("c")
            .client_type("public")
            .issuer_url(issuer)
            .send()
            .await;
        assert_eq!(code(r), "InvalidClientMetadataException", "{issuer}");
    }
    let confidential = sso
        .register_client()
        .client_name("c")
        .client_type("confidential")
        .send()
        .await;
    assert_eq!(code(confidential), "InvalidClientMetadataException");
    let scope = sso
        .register_client()
        .client_name("c")
        .client_type("public")
        .scopes("codewhisperer:completions")
        .send()
        .await;
    assert_eq!(code(scope), "InvalidScopeException");
    let grant = sso
        .register_client()
        .client_name("c")
        .client_type("public")
        .grant_types("client_credentials")
        .send()
        .await;
    assert_eq!(code(grant), "UnsupportedGrantTypeException");

    let registered = register_like_the_cli(&sso, &daemon.url).await;
    for start_url in [
        "https://d-1234567890.awsapps.com/start",
        &format!("{}/start", daemon.url),
        "",
    ] {
        let r = sso
            .start_device_authorization()
            .client_id(registered.client_id().expect("id"))
            .client_secret(registered.client_secret().expect("secret"))
            .start_url(start_url)
            .send()
            .await;
        assert_eq!(code(r), "InvalidRequestException", "{start_url}");
    }
}

#[tokio::test]
async fn malformed_bodies_get_invalid_request_never_a_500() {
    let daemon = daemon().await;
    let http = reqwest::Client::new();
    for (path, body) in [
        ("client/register", "not json"),
        ("client/register", "[]"),
        ("client/register", r#"{"clientName": 5}"#),
        ("client/register", r#"{"clientType":"public"}"#),
        ("device_authorization", "{"),
        ("device_authorization", "{}"),
    ] {
        let r = http
            .post(format!("{}/sso-oidc/{path}", daemon.url))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("response");
        assert_eq!(r.status().as_u16(), 400, "{path} {body}");
        assert_eq!(
            r.headers()
                .get("x-amzn-errortype")
                .and_then(|v| v.to_str().ok()),
            Some("InvalidRequestException"),
            "{path} {body}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&r.text().await.expect("body")).expect("json");
        assert_eq!(json["error"], "invalid_request");
    }
}
