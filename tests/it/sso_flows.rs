//! The SSO sign-in flows end to end, as the AWS CLI v2 runs them: the real `aws-sdk-ssooidc`
//! registers and redeems; a browser (cookies, no JavaScript) signs in at the test IdP through
//! the portal and allows or approves; then CreateToken, refresh, and what each step refuses.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ssooidc::Client;
use stsbridge::clock::{Clock as _, ManualClock, SystemClock};

use crate::portal_login::{Browser, Portal, element_text, input_value, portal_with_two_roles_on};

const SCOPE: &str = "sso:account:access";
const CLI_REDIRECT: &str = "http://127.0.0.1/oauth/callback";

pub(crate) fn oidc_client(url: &str) -> Client {
    let config = aws_sdk_ssooidc::Config::builder()
        .behavior_version(aws_sdk_ssooidc::config::BehaviorVersion::latest())
        .region(aws_sdk_ssooidc::config::Region::new("eu-central-1"))
        .endpoint_url(format!("{url}/sso-oidc"))
        .build();
    Client::from_conf(config)
}

/// A PKCE verifier and its S256 challenge.
fn pkce(seed: u8) -> (String, String) {
    let verifier: String = (0..64)
        .map(|i| char::from(b'a' + (seed.wrapping_add(i) % 26)))
        .collect();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    let challenge = data_encoding::BASE64URL_NOPAD.encode(digest.as_ref());
    (verifier, challenge)
}

/// The exception name of an SDK error.
fn exception<E: aws_sdk_ssooidc::error::ProvideErrorMetadata>(e: &E) -> String {
    e.code().unwrap_or("<no code>").to_owned()
}

struct Registered {
    id: String,
    secret: String,
}

async fn register_like_the_cli(sso: &Client, url: &str) -> Registered {
    let r = sso
        .register_client()
        .client_name("botocore-client-test")
        .client_type("public")
        .scopes(SCOPE)
        .grant_types("authorization_code")
        .grant_types("refresh_token")
        .redirect_uris(CLI_REDIRECT)
        .issuer_url(url)
        .send()
        .await
        .expect("RegisterClient");
    Registered {
        id: r.client_id().expect("id").to_owned(),
        secret: r.client_secret().expect("secret").to_owned(),
    }
}

/// The authorize URL the AWS CLI opens, for a listener on `port`.
fn authorize_url(url: &str, client_id: &str, port: u16, state: &str, challenge: &str) -> String {
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", client_id),
        (
            "redirect_uri",
            &format!("http://127.0.0.1:{port}/oauth/callback"),
        ),
        ("state", state),
        ("code_challenge_method", "S256"),
        ("scopes", SCOPE),
        ("code_challenge", challenge),
    ])
    .expect("query");
    format!("{url}/sso-oidc/authorize?{query}")
}

/// The query parameter `name` of `location`.
fn param(location: &str, name: &str) -> Option<String> {
    reqwest::Url::parse(location)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Open `authorize` in `browser` (signing in at the IdP first when it has no session), answer
/// the consent with `decision`: where the browser is sent then.
async fn consent(browser: &mut Browser, url: &str, authorize: &str, decision: &str) -> String {
    let mut page = browser.get(authorize).await;
    let mut hops = 0;
    while page.status == 302 || page.status == 303 {
        let next = if page.location.starts_with('/') {
            format!("{url}{}", page.location)
        } else {
            page.location.clone()
        };
        page = browser.get(&next).await;
        hops += 1;
        assert!(hops < 8, "redirect loop");
    }
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        element_text(&page.body, "client-name"),
        "botocore-client-test"
    );
    assert!(element_text(&page.body, "requested-from").contains("port 4"));
    let token = input_value(&page.body, "csrf_token");
    let request = input_value(&page.body, "request").replace("&amp;", "&");
    let answer = browser
        .post(
            &format!("{url}/sso-oidc/authorize"),
            &[
                ("csrf_token", &token),
                ("request", &request),
                ("decision", decision),
            ],
        )
        .await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    answer.location
}

#[tokio::test]
async fn the_cli_authorization_code_flow_signs_in_at_the_idp_redeems_once_and_refreshes() {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let Portal { idp: _idp, daemon } = portal_with_two_roles_on(clock.clone()).await;
    let url = daemon.url.clone();
    let sso = oidc_client(&url);
    let client = register_like_the_cli(&sso, &url).await;
    let (verifier, challenge) = pkce(1);
    let mut browser = Browser::new(&url);

    let authorize = authorize_url(&url, &client.id, 43_123, "state-1", &challenge);
    let location = consent(&mut browser, &url, &authorize, "allow").await;
    assert!(
        location.starts_with("http://127.0.0.1:43123/oauth/callback?"),
        "{location}"
    );
    assert_eq!(param(&location, "state").as_deref(), Some("state-1"));
    let code = param(&location, "code").expect("code");
    let redirect = "http://127.0.0.1:43123/oauth/callback";

    // A wrong verifier, another redirect URI, another client: refused, and the code is not
    // used up by them.
    let other = register_like_the_cli(&sso, &url).await;
    let attempts = [
        (&client, redirect, "x".repeat(43)),
        (
            &client,
            "http://127.0.0.1:1/oauth/callback",
            verifier.clone(),
        ),
        (&other, redirect, verifier.clone()),
    ];
    for (who, redirect_uri, verifier) in attempts {
        let e = sso
            .create_token()
            .client_id(&who.id)
            .client_secret(&who.secret)
            .grant_type("authorization_code")
            .code(&code)
            .redirect_uri(redirect_uri)
            .code_verifier(verifier)
            .send()
            .await
            .expect_err("refused");
        assert_eq!(exception(&e), "InvalidGrantException", "{e:?}");
    }

    let redeem = || {
        sso.create_token()
            .client_id(&client.id)
            .client_secret(&client.secret)
            .grant_type("authorization_code")
            .code(&code)
            .redirect_uri(redirect)
            .code_verifier(&verifier)
            .send()
    };
    let tokens = redeem().await.expect("CreateToken");
    assert_eq!(tokens.token_type(), Some("Bearer"));
    assert_eq!(tokens.expires_in(), 3600);
    let access = tokens.access_token().expect("access").to_owned();
    let refresh = tokens.refresh_token().expect("refresh").to_owned();
    assert_ne!(access, refresh);
    let again = redeem().await.expect_err("one code, one token");
    assert_eq!(exception(&again), "InvalidGrantException");

    // An hour later the access token is over; the refresh token gets a new one.
    clock.advance(Duration::from_secs(3700));
    let refreshed = sso
        .create_token()
        .client_id(&client.id)
        .client_secret(&client.secret)
        .grant_type("refresh_token")
        .refresh_token(&refresh)
        .send()
        .await
        .expect("refresh");
    assert_eq!(refreshed.expires_in(), 3600);
    assert_ne!(refreshed.access_token(), Some(access.as_str()));
    for (who, token) in [(&other, refresh.as_str()), (&client, access.as_str())] {
        let e = sso
            .create_token()
            .client_id(&who.id)
            .client_secret(&who.secret)
            .grant_type("refresh_token")
            .refresh_token(token)
            .send()
            .await
            .expect_err("another client's refresh token, or an access token");
        assert_eq!(exception(&e), "InvalidGrantException", "{e:?}");
    }
    let wrong_secret = sso
        .create_token()
        .client_id(&client.id)
        .client_secret(&other.secret)
        .grant_type("refresh_token")
        .refresh_token(&refresh)
        .send()
        .await
        .expect_err("another client's secret");
    assert_eq!(exception(&wrong_secret), "InvalidClientException");

    // The portal session lasts 8 hours by default: so does the refresh token.
    clock.advance(Duration::from_secs(8 * 3600));
    let e = sso
        .create_token()
        .client_id(&client.id)
        .client_secret(&client.secret)
        .grant_type("refresh_token")
        .refresh_token(&refresh)
        .send()
        .await
        .expect_err("ended with the portal session");
    assert_eq!(exception(&e), "ExpiredTokenException", "{e:?}");
}

#[tokio::test]
async fn a_denied_or_malformed_authorization_goes_back_to_the_client_and_unknown_clients_get_a_page()
 {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let Portal { idp: _idp, daemon } = portal_with_two_roles_on(clock.clone()).await;
    let url = daemon.url.clone();
    let sso = oidc_client(&url);
    let client = register_like_the_cli(&sso, &url).await;
    let (_, challenge) = pkce(2);
    let mut browser = Browser::new(&url);
    let authorize = authorize_url(&url, &client.id, 41_000, "s-2", &challenge);
    let location = consent(&mut browser, &url, &authorize, "deny").await;
    assert_eq!(param(&location, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&location, "state").as_deref(), Some("s-2"));
    assert_eq!(param(&location, "code"), None);

    // A forged client id, a redirect elsewhere: an error page, never a redirect.
    for (bad, status) in [
        (authorize_url(&url, "forged", 41_000, "s", &challenge), 401),
        (
            authorize.replace("127.0.0.1%3A41000", "evil.example%3A41000"),
            400,
        ),
    ] {
        let page = browser.get(&bad).await;
        assert_eq!(page.status, status, "{}", page.body);
        assert!(page.location.is_empty());
        assert!(page.content_type.starts_with("text/html"));
    }
    // A plain PKCE method goes back to the client as invalid_request.
    let plain = authorize.replace("S256", "plain");
    let back = browser.get(&plain).await;
    assert_eq!(back.status, 303);
    assert_eq!(
        param(&back.location, "error").as_deref(),
        Some("invalid_request")
    );

    // The consent is a form bound to the session: a foreign origin or no token is refused.
    let page = browser.get(&authorize).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let request = input_value(&page.body, "request").replace("&amp;", "&");
    let no_token = browser
        .post(
            &format!("{url}/sso-oidc/authorize"),
            &[("request", &request), ("decision", "allow")],
        )
        .await;
    assert_eq!(no_token.status, 403);
    let mut stranger = Browser::new("https://evil.example");
    let token = input_value(&page.body, "csrf_token");
    stranger.jar = browser.jar.clone();
    let foreign = stranger
        .post(
            &format!("{url}/sso-oidc/authorize"),
            &[
                ("csrf_token", &token),
                ("request", &request),
                ("decision", "allow"),
            ],
        )
        .await;
    assert_eq!(foreign.status, 403);
    // Without a portal session, the decision is refused (and nothing is issued).
    let mut anonymous = Browser::new(&url);
    let signed_out = anonymous
        .post(
            &format!("{url}/sso-oidc/authorize"),
            &[
                ("csrf_token", &token),
                ("request", &request),
                ("decision", "allow"),
            ],
        )
        .await;
    assert_eq!(signed_out.status, 401);
}
