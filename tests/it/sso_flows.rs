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

/// CreateToken with the refresh token `token`, as client `who` with `secret`.
fn refresh_grant(
    sso: &Client,
    who: &Registered,
    secret: &str,
    token: impl Into<String>,
) -> aws_sdk_ssooidc::operation::create_token::builders::CreateTokenFluentBuilder {
    sso.create_token()
        .client_id(&who.id)
        .client_secret(secret)
        .grant_type("refresh_token")
        .refresh_token(token)
}

/// A PKCE verifier and its S256 challenge.
pub(crate) fn pkce(seed: u8) -> (String, String) {
    let verifier: String = (0..64)
        .map(|i| char::from(b'a' + (seed.wrapping_add(i) % 26)))
        .collect();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    let challenge = data_encoding::BASE64URL_NOPAD.encode(digest.as_ref());
    (verifier, challenge)
}

/// The exception name of an SDK error.
pub(crate) fn exception<E: aws_sdk_ssooidc::error::ProvideErrorMetadata>(e: &E) -> String {
    e.code().unwrap_or("<no code>").to_owned()
}

pub(crate) struct Registered {
    pub(crate) id: String,
    pub(crate) secret: String,
}

pub(crate) async fn register_like_the_cli(sso: &Client, url: &str) -> Registered {
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
pub(crate) fn authorize_url(
    url: &str,
    client_id: &str,
    port: u16,
    state: &str,
    challenge: &str,
) -> String {
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
pub(crate) async fn consent(
    browser: &mut Browser,
    url: &str,
    authorize: &str,
    client_name: &str,
    decision: &str,
) -> String {
    let first = browser.get(authorize).await;
    let page = follow(browser, url, first).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(element_text(&page.body, "client-name"), client_name);
    assert!(element_text(&page.body, "requested-from").contains("port "));
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
    let location = consent(
        &mut browser,
        &url,
        &authorize,
        "botocore-client-test",
        "allow",
    )
    .await;
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
    let refreshed = refresh_grant(&sso, &client, &client.secret, &refresh)
        .send()
        .await
        .expect("refresh");
    assert_eq!(refreshed.expires_in(), 3600);
    assert_ne!(refreshed.access_token(), Some(access.as_str()));
    for (who, token) in [(&other, refresh.as_str()), (&client, access.as_str())] {
        let e = refresh_grant(&sso, who, &who.secret, token)
            .send()
            .await
            .expect_err("another client's refresh token, or an access token");
        assert_eq!(exception(&e), "InvalidGrantException", "{e:?}");
    }
    let wrong_secret = refresh_grant(&sso, &client, &other.secret, &refresh)
        .send()
        .await
        .expect_err("another client's secret");
    assert_eq!(exception(&wrong_secret), "InvalidClientException");

    // The portal session lasts 8 hours by default: so does the refresh token.
    clock.advance(Duration::from_secs(8 * 3600));
    let e = refresh_grant(&sso, &client, &client.secret, &refresh)
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
    let location = consent(
        &mut browser,
        &url,
        &authorize,
        "botocore-client-test",
        "deny",
    )
    .await;
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

/// Follow `answer`'s redirects on this server (and the IdP's) until a page.
async fn follow(
    browser: &mut Browser,
    url: &str,
    mut page: crate::portal_login::Answer,
) -> crate::portal_login::Answer {
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
    page
}

pub(crate) struct Device {
    pub(crate) client: Registered,
    pub(crate) device_code: String,
    pub(crate) user_code: String,
    pub(crate) complete: String,
}

pub(crate) async fn start_device(sso: &Client, url: &str) -> Device {
    let r = sso
        .register_client()
        .client_name("aws-cli-device")
        .client_type("public")
        .send()
        .await
        .expect("RegisterClient");
    let client = Registered {
        id: r.client_id().expect("id").to_owned(),
        secret: r.client_secret().expect("secret").to_owned(),
    };
    let started = sso
        .start_device_authorization()
        .client_id(&client.id)
        .client_secret(&client.secret)
        .start_url(url)
        .send()
        .await
        .expect("StartDeviceAuthorization");
    Device {
        device_code: started.device_code().expect("device code").to_owned(),
        user_code: started.user_code().expect("user code").to_owned(),
        complete: started
            .verification_uri_complete()
            .expect("complete")
            .to_owned(),
        client,
    }
}

pub(crate) async fn poll(
    sso: &Client,
    device: &Device,
) -> Result<
    aws_sdk_ssooidc::operation::create_token::CreateTokenOutput,
    aws_sdk_ssooidc::error::SdkError<aws_sdk_ssooidc::operation::create_token::CreateTokenError>,
> {
    sso.create_token()
        .client_id(&device.client.id)
        .client_secret(&device.client.secret)
        .grant_type("urn:ietf:params:oauth:grant-type:device_code")
        .device_code(&device.device_code)
        .send()
        .await
}

/// Open the verification link, signing in when needed, and answer `decision` on the confirm
/// page: the final page.
async fn decide(
    browser: &mut Browser,
    url: &str,
    device: &Device,
    decision: &str,
) -> crate::portal_login::Answer {
    let link = (device.complete.as_str(), device.user_code.as_str());
    answer_device(browser, url, link, "aws-cli-device", decision).await
}

/// Open the verification `link` (and its user code), signing in when needed, check the confirm
/// page names `client_name`, the code and the local address, and answer `decision`: the final
/// page.
pub(crate) async fn answer_device(
    browser: &mut Browser,
    url: &str,
    (link, user_code): (&str, &str),
    client_name: &str,
    decision: &str,
) -> crate::portal_login::Answer {
    let first = browser.get(link).await;
    let page = follow(browser, url, first).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(element_text(&page.body, "user-code"), user_code);
    assert_eq!(element_text(&page.body, "client-name"), client_name);
    assert_eq!(element_text(&page.body, "requested-from"), "127.0.0.1");
    assert!(page.body.contains("id=\"phishing-warning\""));
    let token = input_value(&page.body, "csrf_token");
    browser
        .post(
            &format!("{url}/device"),
            &[
                ("csrf_token", token.as_str()),
                ("user_code", user_code),
                ("decision", decision),
            ],
        )
        .await
}

#[tokio::test]
async fn the_device_flow_is_pending_until_approved_in_the_browser_then_redeemed_once() {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let Portal { idp: _idp, daemon } = portal_with_two_roles_on(clock.clone()).await;
    let url = daemon.url.clone();
    let sso = oidc_client(&url);
    let device = start_device(&sso, &url).await;

    let pending = poll(&sso, &device).await.expect_err("pending");
    assert_eq!(exception(&pending), "AuthorizationPendingException");
    let fast = poll(&sso, &device).await.expect_err("too fast");
    assert_eq!(exception(&fast), "SlowDownException");

    let mut browser = Browser::new(&url);
    let done = decide(&mut browser, &url, &device, "allow").await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(
        done.body.contains("data-outcome=\"approved\""),
        "{}",
        done.body
    );
    // Decided once: the same code cannot be approved (or denied) again.
    let page = browser.get(&device.complete).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("InvalidUserCode"));

    // Polled 10 s after the slow-down (the interval is 10 s now): the tokens, once.
    clock.advance(Duration::from_secs(11));
    let tokens = poll(&sso, &device).await.expect("tokens");
    assert_eq!(tokens.expires_in(), 3600);
    let refresh = tokens.refresh_token().expect("refresh").to_owned();
    clock.advance(Duration::from_secs(11));
    let again = poll(&sso, &device).await.expect_err("redeemed");
    assert_eq!(exception(&again), "InvalidGrantException");

    // The login is revoked (as `stsbridge sessions revoke --login` does): refresh refused.
    let login_id = daemon
        .audit()
        .await
        .into_iter()
        .filter(|e| e.event_name == "CreateToken" && e.error_code.is_none())
        .find_map(|e| e.response_elements?["loginId"].as_str().map(str::to_owned))
        .expect("the CreateToken event names the login");
    let refreshed = refresh_grant(&sso, &device.client, &device.client.secret, &refresh)
        .send()
        .await
        .expect("refresh before the revocation");
    assert!(refreshed.access_token().is_some());
    daemon
        .admin(stsbridge::admin::AdminRequest::SessionsRevokeLogin {
            login_id: login_id.clone(),
        })
        .await;
    let refused = refresh_grant(&sso, &device.client, &device.client.secret, &refresh)
        .send()
        .await
        .expect_err("revoked");
    assert_eq!(exception(&refused), "InvalidGrantException");
    let audited: Vec<_> = daemon
        .audit()
        .await
        .into_iter()
        .filter(|e| e.event_name == "AuthorizeDevice")
        .collect();
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!(audited[0].request_parameters["decision"], "allow");
}

#[tokio::test]
async fn a_denied_an_expired_and_a_mistyped_device_code_are_refused() {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let Portal { idp: _idp, daemon } = portal_with_two_roles_on(clock.clone()).await;
    let url = daemon.url.clone();
    let sso = oidc_client(&url);
    let mut browser = Browser::new(&url);

    let denied = start_device(&sso, &url).await;
    let done = decide(&mut browser, &url, &denied, "deny").await;
    assert!(
        done.body.contains("data-outcome=\"denied\""),
        "{}",
        done.body
    );
    let e = poll(&sso, &denied).await.expect_err("denied");
    assert_eq!(exception(&e), "AccessDeniedException");

    // Another client's device code, with its own client's secret: refused.
    let other = start_device(&sso, &url).await;
    let e = sso
        .create_token()
        .client_id(&denied.client.id)
        .client_secret(&denied.client.secret)
        .grant_type("urn:ietf:params:oauth:grant-type:device_code")
        .device_code(&other.device_code)
        .send()
        .await
        .expect_err("another client's device code");
    assert_eq!(exception(&e), "InvalidGrantException");

    // A confirm page's form answers for its own code only: codes cannot be guessed by posting.
    let shown = browser.get(&other.complete).await;
    let shown = follow(&mut browser, &url, shown).await;
    let token = input_value(&shown.body, "csrf_token");
    let third = start_device(&sso, &url).await;
    let guessed = browser
        .post(
            &format!("{url}/device"),
            &[
                ("csrf_token", token.as_str()),
                ("user_code", &third.user_code),
                ("decision", "allow"),
            ],
        )
        .await;
    assert_eq!(guessed.status, 403, "{}", guessed.body);
    assert!(guessed.body.contains("InvalidFormToken"));
    let e = poll(&sso, &third).await.expect_err("still pending");
    assert_eq!(exception(&e), "AuthorizationPendingException");

    // Ten minutes later the code is over, for the page and for the client.
    clock.advance(Duration::from_secs(601));
    let page = browser.get(&other.complete).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("InvalidUserCode"));
    let e = poll(&sso, &other).await.expect_err("expired");
    assert_eq!(exception(&e), "ExpiredTokenException");

    // A mistyped code, a code of another alphabet, a tampered device code.
    for typed in ["BCDF-GHJ", "ABCD-EFGH"] {
        let page = browser
            .get(&format!("{url}/device?user_code={typed}"))
            .await;
        assert_eq!(page.status, 400, "{typed}: {}", page.body);
    }
    let fresh = start_device(&sso, &url).await;
    let mut tampered = fresh.device_code.clone().into_bytes();
    let at = tampered.len() / 2;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let e = sso
        .create_token()
        .client_id(&fresh.client.id)
        .client_secret(&fresh.client.secret)
        .grant_type("urn:ietf:params:oauth:grant-type:device_code")
        .device_code(String::from_utf8(tampered).expect("ascii"))
        .send()
        .await
        .expect_err("tampered");
    assert_eq!(exception(&e), "InvalidGrantException");
    // The code entry form, signed in, without a code.
    let form = browser.get(&format!("{url}/device")).await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(form.body.contains("id=\"user_code\""));
    // A device-flow client may not use the authorization code grant.
    let e = sso
        .create_token()
        .client_id(&fresh.client.id)
        .client_secret(&fresh.client.secret)
        .grant_type("authorization_code")
        .code("x")
        .send()
        .await
        .expect_err("not registered");
    assert_eq!(exception(&e), "UnauthorizedClientException");
}

/// A SAML sign-in for the device page: `/device?user_code` sends the person to the SAML IdP
/// with the page as the RelayState, the assertion comes back to `/saml`, is used up there (no
/// role is issued yet) and the browser returns to the confirm page. The login ends with the
/// assertion's SessionNotOnOrAfter (8 h) though portal sessions last 12 h here.
#[tokio::test]
async fn a_saml_person_approves_a_device_and_the_login_ends_with_the_assertions_session() {
    use crate::saml_signer::{provider, role_arn, saml_idp, saml_role};
    use crate::support::daemon::{Daemon, Setup};
    use crate::support::saml_idp::TestSamlIdp;

    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let idp = TestSamlIdp::start(vec![(role_arn("saml-admin"), provider())]).await;
    let daemon = Daemon::start(Setup {
        idps: vec![saml_idp(&format!(
            "sso_url = \"{}\"\n",
            idp.sso_url("localhost")
        ))],
        roles: vec![saml_role("saml-admin")],
        server: "public_url = \"http://{LISTEN}\"".to_owned(),
        extra: "[signin]\nsession_hours = 12\n".to_owned(),
        clock: clock.clone(),
        ..Setup::default()
    })
    .await;
    let url = daemon.url.clone();
    idp.set_acs_url(&format!("{url}/saml"));
    let idp_origin = format!("http://localhost:{}", idp.addr.port());
    let sso = oidc_client(&url);
    let device = start_device(&sso, &url).await;

    let mut browser = Browser::new(&idp_origin);
    let first = browser.get(&device.complete).await;
    let start = follow_local(&mut browser, &url, first).await;
    assert_eq!(start.status, 302, "{}", start.body);
    assert!(start.location.starts_with(&format!("{idp_origin}/sso?")));
    let idp_page = browser.get(&start.location).await;
    let answer = input_value(&idp_page.body, "SAMLResponse");
    // The RelayState is the page's path (SAML's is 80 bytes at most); the whole address comes
    // from this browser's sealed login flow.
    let relay = input_value(&idp_page.body, "RelayState");
    assert_eq!(relay, "/device");
    let back = browser
        .post(
            &format!("{url}/saml"),
            &[("SAMLResponse", &answer), ("RelayState", &relay)],
        )
        .await;
    assert_eq!(back.status, 303, "{}", back.body);
    assert_eq!(
        back.location,
        format!("/device?user_code={}", device.user_code)
    );
    // The assertion is used up: posted again, it is refused.
    let mut replayer = Browser::new(&idp_origin);
    let replayed = replayer
        .post(
            &format!("{url}/saml"),
            &[("SAMLResponse", &answer), ("RelayState", &relay)],
        )
        .await;
    assert_eq!(replayed.status, 400, "{}", replayed.body);

    browser.origin = Some(url.clone());
    let done = decide(&mut browser, &url, &device, "allow").await;
    assert!(
        done.body.contains("data-outcome=\"approved\""),
        "{}",
        done.body
    );
    let tokens = poll(&sso, &device).await.expect("tokens");
    let refresh = tokens.refresh_token().expect("refresh").to_owned();
    let refresh_at = |seconds| {
        clock.advance(Duration::from_secs(seconds));
        refresh_grant(&sso, &device.client, &device.client.secret, &refresh).send()
    };
    refresh_at(7 * 3600)
        .await
        .expect("within the assertion's session");
    let e = refresh_at(3600 + 60)
        .await
        .expect_err("past SessionNotOnOrAfter");
    assert_eq!(exception(&e), "ExpiredTokenException");
}

/// Login CSRF: another site posts an assertion of its own (IdP-initiated, unsolicited) with an
/// SSO page as RelayState. The browser is not sent to the SSO page, and the session it gets is
/// not taken by the SSO pages: they ask for a sign-in of the browser's own, so the person never
/// approves a terminal as someone else.
#[tokio::test]
async fn an_unsolicited_assertion_never_signs_a_browser_in_for_the_sso_pages() {
    use crate::saml_signer::{provider, role_arn, saml_idp, saml_role};
    use crate::support::daemon::{Daemon, Setup};
    use crate::support::saml_signer::{SamlResponse, SigningKey};

    let daemon = Daemon::start(Setup {
        idps: vec![saml_idp("")],
        roles: vec![saml_role("saml-admin")],
        server: "public_url = \"http://{LISTEN}\"".to_owned(),
        ..Setup::default()
    })
    .await;
    let url = daemon.url.clone();
    let sso = oidc_client(&url);
    let device = start_device(&sso, &url).await;
    let attackers = SamlResponse::new(&format!("{url}/saml"), SystemClock.now())
        .role(&role_arn("saml-admin"), &provider())
        .sign_base64(&SigningKey::idp());
    let relay = format!("/device?user_code={}", device.user_code);
    let mut victim = Browser::new("https://evil.example");
    let posted = victim
        .post(
            &format!("{url}/saml"),
            &[("SAMLResponse", &attackers), ("RelayState", &relay)],
        )
        .await;
    assert_eq!(posted.status, 303, "{}", posted.body);
    assert_eq!(posted.location, "/console", "not the SSO page");
    // The device page does not take that session: it sends the browser to sign in.
    let page = victim.get(&format!("{url}{relay}")).await;
    assert_eq!(page.status, 302, "{}", page.body);
    assert!(page.location.starts_with("/signin/"), "{}", page.location);
    let e = poll(&sso, &device).await.expect_err("nothing approved");
    assert_eq!(exception(&e), "AuthorizationPendingException");
}

/// Follow redirects that stay on this server; stop at one that leaves it.
async fn follow_local(
    browser: &mut Browser,
    url: &str,
    mut page: crate::portal_login::Answer,
) -> crate::portal_login::Answer {
    let mut hops = 0;
    while (page.status == 302 || page.status == 303) && page.location.starts_with('/') {
        page = browser.get(&format!("{url}{}", page.location)).await;
        hops += 1;
        assert!(hops < 8, "redirect loop");
    }
    page
}

/// Starting device authorizations counts against `[signin] logins_per_minute` per source
/// address (each stores a record for ten minutes): beyond, the model's SlowDownException.
#[tokio::test]
async fn device_authorizations_are_throttled_per_source_like_logins() {
    use crate::support::daemon::{Daemon, Setup};
    let daemon = Daemon::start(Setup {
        server: "public_url = \"http://{LISTEN}\"".to_owned(),
        extra: "[signin]\nlogins_per_minute = 2\n".to_owned(),
        ..Setup::default()
    })
    .await;
    let sso = oidc_client(&daemon.url);
    let r = sso
        .register_client()
        .client_name("flood")
        .client_type("public")
        .send()
        .await
        .expect("RegisterClient");
    let start = || {
        sso.start_device_authorization()
            .client_id(r.client_id().expect("id"))
            .client_secret(r.client_secret().expect("secret"))
            .start_url(&daemon.url)
            .send()
    };
    start().await.expect("first");
    start().await.expect("second");
    let e = start().await.expect_err("third in the minute");
    assert_eq!(exception(&e), "SlowDownException");
}

/// Behind a trusted proxy, a device authorization started from another address than the
/// approving browser's says so on the confirm page, naming both: a code someone else sent is
/// the phishing the page guards against. From the same address, no such warning.
#[tokio::test]
async fn the_confirm_page_warns_when_the_request_came_from_another_address() {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let Portal { idp: _idp, daemon } = crate::portal_login::portal_with_two_roles_serving(
        clock,
        "trusted_proxies = [\"127.0.0.1/32\"]\n",
    )
    .await;
    let url = daemon.url.clone();
    let sso = oidc_client(&url);
    let r = sso
        .register_client()
        .client_name("far-away")
        .client_type("public")
        .send()
        .await
        .expect("RegisterClient");
    // Started through the proxy by a machine at 203.0.113.9.
    let body = serde_json::json!({
        "clientId": r.client_id(),
        "clientSecret": r.client_secret(),
        "startUrl": url,
    });
    let answer = reqwest::Client::new()
        .post(format!("{url}/sso-oidc/device_authorization"))
        .header("x-forwarded-for", "203.0.113.9")
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("StartDeviceAuthorization")
        .bytes()
        .await
        .expect("body");
    let started: serde_json::Value = serde_json::from_slice(&answer).expect("JSON");
    let link = started["verificationUriComplete"].as_str().expect("link");
    let mut browser = Browser::new(&url);
    let first = browser.get(link).await;
    let page = follow(&mut browser, &url, first).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(element_text(&page.body, "requested-from"), "203.0.113.9");
    assert!(
        page.body.contains("id=\"elsewhere-warning\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("you are at <strong>127.0.0.1</strong>"));

    // From the browser's own address: no such warning.
    let near = start_device(&sso, &url).await;
    let first = browser.get(&near.complete).await;
    let page = follow(&mut browser, &url, first).await;
    assert_eq!(element_text(&page.body, "requested-from"), "127.0.0.1");
    assert!(!page.body.contains("elsewhere-warning"));
}

/// `aws sso logout` sends the cached access token, often past its hour: Logout still ends the
/// login, so its refresh token stops working; a token that does not open is still refused.
#[tokio::test]
async fn logout_with_an_expired_access_token_still_ends_the_login() {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let Portal { idp: _idp, daemon } = portal_with_two_roles_on(clock.clone()).await;
    let url = daemon.url.clone();
    let sso = oidc_client(&url);
    let device = start_device(&sso, &url).await;
    let mut browser = Browser::new(&url);
    let done = decide(&mut browser, &url, &device, "allow").await;
    assert!(
        done.body.contains("data-outcome=\"approved\""),
        "{}",
        done.body
    );
    let tokens = poll(&sso, &device).await.expect("tokens");
    let access = tokens.access_token().expect("access").to_owned();
    let refresh = tokens.refresh_token().expect("refresh").to_owned();

    clock.advance(Duration::from_secs(3700));
    let portal = aws_sdk_sso::Client::from_conf(
        aws_sdk_sso::Config::builder()
            .behavior_version(aws_sdk_sso::config::BehaviorVersion::latest())
            .region(aws_sdk_sso::config::Region::new("eu-central-1"))
            .endpoint_url(format!("{url}/sso"))
            .build(),
    );
    let e = portal
        .list_accounts()
        .access_token(&access)
        .send()
        .await
        .expect_err("past its hour");
    assert_eq!(
        aws_sdk_sso::error::ProvideErrorMetadata::code(&e),
        Some("UnauthorizedException")
    );
    let mut tampered = access.clone().into_bytes();
    let at = tampered.len() / 2;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let e = portal
        .logout()
        .access_token(String::from_utf8(tampered).expect("ascii"))
        .send()
        .await
        .expect_err("a token that does not open");
    assert_eq!(
        aws_sdk_sso::error::ProvideErrorMetadata::code(&e),
        Some("UnauthorizedException")
    );
    portal
        .logout()
        .access_token(&access)
        .send()
        .await
        .expect("Logout with the expired access token");
    let e = refresh_grant(&sso, &device.client, &device.client.secret, &refresh)
        .send()
        .await
        .expect_err("the login has ended");
    assert_eq!(exception(&e), "InvalidGrantException");
}
