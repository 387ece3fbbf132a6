//! The sign-in portal over HTTP on a real daemon: the login page, its security headers, its
//! error pages, and what a daemon without a public URL serves instead.

use crate::support::daemon::{Daemon, Setup};

fn saml_idp(name: &str, display_name: &str) -> (String, String) {
    (
        name.to_owned(),
        format!(
            "kind = \"saml\"\nname = \"{name}\"\nmetadata_file = \"{}/tests/fixtures/saml/idp-metadata.xml\"\n\
             [signin]\ndisplay_name = \"{display_name}\"\n",
            env!("CARGO_MANIFEST_DIR")
        ),
    )
}

fn oidc_idp(name: &str) -> (String, String) {
    (
        name.to_owned(),
        "kind = \"oidc\"\nissuer = \"https://idp.example\"\naudiences = [\"portal\"]\n\
         jwks_uri = \"https://idp.example/jwks\"\n[signin]\nclient_id = \"portal\"\n"
            .to_owned(),
    )
}

async fn portal(idps: Vec<(String, String)>) -> Daemon {
    Daemon::start(Setup {
        idps,
        server: "public_url = \"http://{LISTEN}\"".to_owned(),
        extra: "[signin]\ntitle = \"Acme <Cloud>\"\n".to_owned(),
        ..Setup::default()
    })
    .await
}

/// A client that shows redirects rather than following them.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

async fn get(url: &str) -> Answer {
    let r = client().get(url).send().await.expect("response");
    Answer {
        status: r.status().as_u16(),
        headers: r.headers().clone(),
        body: r.text().await.expect("body"),
    }
}

#[tokio::test]
async fn the_login_page_links_every_offered_idp_escaped_with_strict_headers() {
    let mut idps = vec![saml_idp("corp", "Corp <script>alert(1)</script>")];
    idps.push(saml_idp("partner", "Partner"));
    let daemon = portal(idps).await;
    let page = get(&format!("{}/signin", daemon.url)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.header("content-type"), "text/html; charset=utf-8");
    let csp = page.header("content-security-policy");
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(page.header("referrer-policy"), "same-origin");
    assert_eq!(page.header("x-frame-options"), "DENY");
    assert_eq!(page.header("cache-control"), "no-store");
    assert!(!page.header("x-amzn-requestid").is_empty());
    assert!(
        page.body.contains(
            "class=\"idp-login\" data-idp=\"corp\" href=\"/signin/corp\">Corp &lt;script&gt;alert(1)&lt;/script&gt;</a>"
        ),
        "{}",
        page.body
    );
    assert!(page.body.contains("data-idp=\"partner\""), "{}", page.body);
    assert!(!page.body.contains("<script>"), "{}", page.body);
    assert!(page.body.contains("Acme &lt;Cloud&gt;"), "{}", page.body);
    assert!(
        page.body
            .contains("<link rel=\"stylesheet\" href=\"/static/style.css\">"),
        "{}",
        page.body
    );

    let css = get(&format!("{}/static/style.css", daemon.url)).await;
    assert_eq!(css.status, 200);
    assert_eq!(css.header("content-type"), "text/css; charset=utf-8");
    assert!(css.body.contains(".idp-login"), "{}", css.body);
}

#[tokio::test]
async fn one_idp_is_gone_to_straight_unless_the_person_asks_to_choose() {
    let daemon = portal(vec![saml_idp("corp", "Corp")]).await;
    let page = get(&format!("{}/signin", daemon.url)).await;
    assert_eq!(page.status, 302, "{}", page.body);
    assert_eq!(page.header("location"), "/signin/corp");
    let page = get(&format!("{}/signin?choose=1", daemon.url)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("data-idp=\"corp\""), "{}", page.body);
}

#[tokio::test]
async fn bad_input_gets_an_html_error_page_never_a_500() {
    let daemon = portal(vec![saml_idp("corp", "Corp")]).await;
    let page = get(&format!("{}/signin/nobody", daemon.url)).await;
    assert_eq!(page.status, 404, "{}", page.body);
    assert_eq!(page.header("content-type"), "text/html; charset=utf-8");
    assert!(
        page.header("content-security-policy")
            .contains("frame-ancestors 'none'")
    );
    assert!(
        page.body.contains("<h1>Page not found</h1>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("<code>NotFound</code>"), "{}", page.body);
    let request_id = page.header("x-amzn-requestid").to_owned();
    assert!(
        page.body.contains(&format!("<code>{request_id}</code>")),
        "{}",
        page.body
    );

    for path in ["/signin/%3Cscript%3E", "/signin/..%2F..%2Fetc%2Fpasswd"] {
        let page = get(&format!("{}{path}", daemon.url)).await;
        assert!(
            page.status == 400 || page.status == 404,
            "{path}: {} {}",
            page.status,
            page.body
        );
        assert_eq!(
            page.header("content-type"),
            "text/html; charset=utf-8",
            "{path}"
        );
        assert!(!page.body.contains("<script>"), "{path}: {}", page.body);
    }
    // A query that is not well-formed is read leniently, as browsers write it: not a choice.
    let page = get(&format!("{}/signin?choose=%ZZ&%%", daemon.url)).await;
    assert_eq!(page.status, 302, "{}", page.body);
}

#[tokio::test]
async fn without_a_public_url_there_is_no_portal() {
    let daemon = Daemon::start(Setup::default()).await;
    let page = get(&format!("{}/signin", daemon.url)).await;
    // The STS endpoint answers every other path, in AWS XML.
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(
        page.body.contains("<Code>MissingAction</Code>"),
        "{}",
        page.body
    );
    let css = get(&format!("{}/static/style.css", daemon.url)).await;
    assert!(!css.body.contains(".idp-login"), "{}", css.body);
}

#[tokio::test]
async fn an_operator_template_overrides_the_built_in_one_and_the_oidc_idp_is_offered() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("signin.html"),
        "{% extends \"base.html\" %}{% block content %}<p class=\"custom\">{{ title }}</p>\
         {% for idp in idps %}<a class=\"idp-login\" data-idp=\"{{ idp.name }}\" href=\"{{ idp.href }}\">{{ idp.display_name }}</a>{% endfor %}\
         {% endblock %}",
    )
    .expect("write");
    let (name, idp) = oidc_idp("okta");
    let daemon = Daemon::start(Setup {
        idps: vec![(name, idp), saml_idp("corp", "Corp")],
        server: "public_url = \"http://{LISTEN}\"".to_owned(),
        extra: format!("[signin]\ntemplates_dir = \"{}\"\n", dir.path().display()),
        ..Setup::default()
    })
    .await;
    let page = get(&format!("{}/signin", daemon.url)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("<p class=\"custom\">stsbridge</p>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("data-idp=\"okta\""), "{}", page.body);
    assert!(
        page.body.contains("<title>stsbridge</title>"),
        "built-in base: {}",
        page.body
    );
}

/// The test IdP's authorization server runs the real authorization-code flow with PKCE, and
/// the verifier of AssumeRoleWithWebIdentity checks the ID token it returns, nonce included:
/// what the portal's OIDC login will drive.
#[tokio::test]
async fn the_test_idp_runs_the_code_flow_with_pkce_and_its_id_token_verifies_with_the_nonce() {
    use crate::support::idp::{AUDIENCE, Client, TestIdp, at_hash, pkce_challenge};
    use stsbridge::idp::{Expectations, IdpVerifier, SubjectCredential};

    let idp = TestIdp::start().await;
    let redirect_uri = "http://127.0.0.1:1/signin/oidc/callback";
    idp.register_client(Client {
        id: AUDIENCE.to_owned(),
        secret: Some("client-s3cret".to_owned()),
        redirect_uris: vec![redirect_uri.to_owned()],
    });
    idp.set_login(Some(
        serde_json::json!({"sub": "alice", "email": "alice@example.com"}),
    ));
    let verifier = "a-verifier-of-at-least-43-characters-0123456789";
    let authorize = |challenge: Option<&str>, redirect: &str| {
        let mut url = reqwest::Url::parse(&idp.authorization_endpoint()).expect("url");
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", AUDIENCE)
            .append_pair("redirect_uri", redirect)
            .append_pair("scope", "openid email")
            .append_pair("state", "st-1")
            .append_pair("nonce", "nonce-1");
        if let Some(challenge) = challenge {
            url.query_pairs_mut()
                .append_pair("code_challenge", challenge)
                .append_pair("code_challenge_method", "S256");
        }
        url.to_string()
    };
    let answer = get(&authorize(Some(&pkce_challenge(verifier)), redirect_uri)).await;
    assert_eq!(answer.status, 302, "{}", answer.body);
    let back = reqwest::Url::parse(answer.header("location")).expect("location");
    assert!(back.as_str().starts_with(redirect_uri), "{back}");
    let param = |url: &reqwest::Url, name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(param(&back, "state").as_deref(), Some("st-1"));
    let code = param(&back, "code").expect("code");

    let exchange = |code: String, verifier: &'static str, secret: &'static str| {
        let idp_token = idp.token_endpoint();
        async move {
            let r = client()
                .post(idp_token)
                .basic_auth(AUDIENCE, Some(secret))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(
                    serde_urlencoded::to_string([
                        ("grant_type", "authorization_code"),
                        ("code", code.as_str()),
                        ("redirect_uri", redirect_uri),
                        ("code_verifier", verifier),
                    ])
                    .expect("form"),
                )
                .send()
                .await
                .expect("token response");
            let status = r.status().as_u16();
            let text = r.text().await.expect("body");
            (
                status,
                serde_json::from_str::<serde_json::Value>(&text).expect("json"),
            )
        }
    };
    // A wrong secret or verifier is refused (and a refused exchange spends the code).
    let (status, body) = exchange(code.clone(), verifier, "wrong").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let (status, body) = exchange(code.clone(), "another-verifier", "client-s3cret").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    let answer = get(&authorize(Some(&pkce_challenge(verifier)), redirect_uri)).await;
    let code = param(
        &reqwest::Url::parse(answer.header("location")).expect("location"),
        "code",
    )
    .expect("code");
    let (status, body) = exchange(code.clone(), verifier, "client-s3cret").await;
    assert_eq!(status, 200, "{body}");
    let id_token = body["id_token"].as_str().expect("id_token").to_owned();
    let access_token = body["access_token"].as_str().expect("access_token");
    // Replaying the code fails.
    let (status, body) = exchange(code, verifier, "client-s3cret").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    let oidc = idp.verifier();
    let now = stsbridge::clock::Clock::now(&stsbridge::clock::SystemClock);
    let credential = SubjectCredential::WebIdentityToken(&id_token);
    let expect = |nonce| Expectations {
        nonce: Some(nonce),
        access_token: Some(access_token),
        in_response_to: None,
    };
    let identity = oidc
        .verify(&credential, &expect("nonce-1"), now)
        .await
        .expect("the ID token verifies with its nonce");
    assert_eq!(identity.subject, "alice");
    assert!(
        oidc.verify(&credential, &expect("nonce-2"), now)
            .await
            .is_err(),
        "another login's nonce is refused"
    );
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            id_token.split('.').nth(1).expect("payload"),
        )
        .expect("base64"),
    )
    .expect("claims");
    assert_eq!(claims["at_hash"], at_hash(access_token));
    assert_eq!(idp.token_requests(), 4);

    // Without PKCE, the IdP sends the person back with an error; an unregistered redirect URI
    // is refused at the IdP, never redirected to.
    let answer = get(&authorize(None, redirect_uri)).await;
    assert!(
        answer.header("location").contains("error=invalid_request"),
        "{}",
        answer.header("location")
    );
    let answer = get(&authorize(Some("x"), "https://evil.example/cb")).await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    idp.set_login(None);
    let answer = get(&authorize(Some("x"), redirect_uri)).await;
    assert!(answer.header("location").contains("error=access_denied"));
}

/// `GET /signin/NAME` for an OIDC IdP: a 302 to its authorization endpoint (code flow, PKCE
/// S256, state, nonce) with the flow sealed in a `__Host-` login cookie; the test IdP sends
/// the person back to the callback with a code and the same state.
#[tokio::test]
async fn an_oidc_login_starts_at_the_idps_authorization_endpoint_with_the_flow_sealed() {
    use crate::support::idp::{AUDIENCE, Client, TestIdp, pkce_challenge};
    use stsbridge::web::cookies::{CookieKind, Cookies};
    use stsbridge::web::login::LoginFlow;

    let idp = TestIdp::start().await;
    let daemon = Daemon::start(Setup {
        idps: vec![(
            "corp".to_owned(),
            format!(
                "kind = \"oidc\"\nissuer = \"{}\"\naudiences = [\"{AUDIENCE}\"]\n\
                 insecure_http = true\n[signin]\nclient_id = \"{AUDIENCE}\"\n\
                 scopes = [\"openid\", \"email\", \"profile\"]\n",
                idp.issuer()
            ),
        )],
        server: "public_url = \"http://{LISTEN}\"".to_owned(),
        ..Setup::default()
    })
    .await;
    let callback = format!("{}/signin/oidc/callback", daemon.url);
    idp.register_client(Client {
        id: AUDIENCE.to_owned(),
        secret: None,
        redirect_uris: vec![callback.clone()],
    });
    idp.set_login(Some(serde_json::json!({"sub": "alice"})));

    // The IdP unreachable: an error page that says so, and no cookie.
    idp.set_down(true);
    let page = get(&format!("{}/signin/corp", daemon.url)).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(
        page.body.contains("<code>IDPCommunicationError</code>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("could not be reached"), "{}", page.body);
    assert!(page.headers.get("set-cookie").is_none());
    idp.set_down(false);

    let page = get(&format!("{}/signin/corp", daemon.url)).await;
    assert_eq!(page.status, 302, "{}", page.body);
    let to_idp = reqwest::Url::parse(page.header("location")).expect("location");
    assert!(
        to_idp.as_str().starts_with(&idp.authorization_endpoint()),
        "{to_idp}"
    );
    let params: std::collections::BTreeMap<String, String> =
        to_idp.query_pairs().into_owned().collect();
    assert_eq!(params["response_type"], "code");
    assert_eq!(params["client_id"], AUDIENCE);
    assert_eq!(params["redirect_uri"], callback);
    assert_eq!(params["scope"], "openid email profile");
    assert_eq!(params["code_challenge_method"], "S256");
    assert!(
        params["state"].len() >= 43 && params["nonce"].len() >= 43,
        "{params:?}"
    );
    let set_cookie = page.header("set-cookie").to_owned();
    assert!(
        set_cookie.starts_with("__Host-stsbridge-login=")
            && set_cookie.ends_with("; Path=/; Max-Age=600; HttpOnly; SameSite=Lax; Secure"),
        "loopback is a secure context: {set_cookie}"
    );
    // No secret of the flow in the cookie's clear text.
    for secret in [&params["state"], &params["nonce"]] {
        assert!(!set_cookie.contains(secret.as_str()), "{set_cookie}");
    }

    // The flow in the cookie is the one sent: opened with the daemon's keyring.
    let keyring = stsbridge::creds::Keyring::load(&daemon.dir.path().join("data/keyring.json"))
        .expect("keyring");
    let sent_back = set_cookie.split(';').next().expect("cookie");
    let flow: LoginFlow = Cookies::new(true)
        .open(
            &keyring,
            CookieKind::Login,
            [sent_back],
            stsbridge::clock::Clock::now(&stsbridge::clock::SystemClock),
        )
        .expect("the login cookie opens");
    assert_eq!(flow.idp, "corp");
    assert_eq!(flow.state, params["state"]);
    assert_eq!(flow.nonce, params["nonce"]);
    assert_eq!(
        pkce_challenge(&flow.pkce_verifier),
        params["code_challenge"]
    );
    assert!(
        !format!("{flow:?}").contains(&flow.pkce_verifier),
        "Debug hides it"
    );

    // The IdP signs the person in and sends them back with a code and the same state.
    let back = get(to_idp.as_str()).await;
    assert_eq!(back.status, 302, "{}", back.body);
    let back = reqwest::Url::parse(back.header("location")).expect("location");
    assert!(back.as_str().starts_with(&callback), "{back}");
    let returned: std::collections::BTreeMap<String, String> =
        back.query_pairs().into_owned().collect();
    assert_eq!(returned["state"], flow.state);
    assert!(returned.contains_key("code"));

    // Each start is a new flow.
    let again = get(&format!("{}/signin/corp", daemon.url)).await;
    let again = reqwest::Url::parse(again.header("location")).expect("location");
    let again: std::collections::BTreeMap<String, String> =
        again.query_pairs().into_owned().collect();
    assert_ne!(again["state"], params["state"]);
    assert_ne!(again["nonce"], params["nonce"]);
}

/// The code exchange of the relying party (openidconnect, our no-redirect HTTP client) against
/// the test IdP: the ID token it returns verifies with the flow's nonce; a replayed code, a
/// wrong PKCE verifier or a wrong client secret are refused by the IdP, and said so.
#[tokio::test]
async fn the_relying_party_exchanges_a_code_for_an_id_token_the_verifier_accepts() {
    use crate::support::idp::{AUDIENCE, Client, TestIdp, at_hash, pkce_challenge};
    use stsbridge::creds::Secret;
    use stsbridge::idp::oidc::relying_party::{CodeExchange, RelyingParty, RelyingPartyError};
    use stsbridge::idp::{Expectations, IdpVerifier, SubjectCredential};

    fn assert_send<T: Send>(t: T) -> T {
        t
    }

    let idp = TestIdp::start().await;
    let redirect_uri = "https://sts.example.com/signin/oidc/callback";
    let secret = Secret::new("client-s3cret".to_owned());
    idp.register_client(Client {
        id: AUDIENCE.to_owned(),
        secret: Some(secret.expose().to_owned()),
        redirect_uris: vec![redirect_uri.to_owned()],
    });
    idp.set_login(Some(serde_json::json!({"sub": "bob"})));
    let now = stsbridge::clock::Clock::now(&stsbridge::clock::SystemClock);
    let rp = RelyingParty::new(idp.issuer(), true).expect("relying party");
    let endpoints = rp.endpoints(now).await.expect("discovery");
    assert_eq!(endpoints.token, idp.token_endpoint());

    let verifier = "v".repeat(43);
    let code = || async {
        let mut url = reqwest::Url::parse(&endpoints.authorization).expect("url");
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", AUDIENCE)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", "openid")
            .append_pair("state", "s")
            .append_pair("nonce", "nonce-9")
            .append_pair("code_challenge", &pkce_challenge(&verifier))
            .append_pair("code_challenge_method", "S256");
        let answer = get(url.as_str()).await;
        let back = reqwest::Url::parse(answer.header("location")).expect("location");
        back.query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .expect("code")
    };
    fn exchange<'a>(
        code: &'a str,
        verifier: &'a str,
        secret: Option<&'a Secret>,
    ) -> CodeExchange<'a> {
        CodeExchange {
            client_id: AUDIENCE,
            client_secret: secret,
            redirect_uri: "https://sts.example.com/signin/oidc/callback",
            code,
            pkce_verifier: verifier,
        }
    }
    let secret = Some(&secret);

    let first = code().await;
    let tokens = assert_send(rp.exchange_code(&endpoints, &exchange(&first, &verifier, secret)))
        .await
        .expect("tokens");
    assert_eq!(format!("{tokens:?}"), "Tokens(<redacted>)");
    let identity = idp
        .verifier()
        .verify(
            &SubjectCredential::WebIdentityToken(&tokens.id_token),
            &Expectations {
                nonce: Some("nonce-9"),
                access_token: Some(tokens.access_token.expose()),
                in_response_to: None,
            },
            now,
        )
        .await
        .expect("the ID token verifies");
    assert_eq!(identity.subject, "bob");
    let another_access_token = idp
        .verifier()
        .verify(
            &SubjectCredential::WebIdentityToken(&tokens.id_token),
            &Expectations {
                nonce: Some("nonce-9"),
                access_token: Some("not-the-one"),
                in_response_to: None,
            },
            now,
        )
        .await;
    assert!(
        matches!(
            another_access_token,
            Err(stsbridge::idp::VerifyError::Invalid {
                fault: stsbridge::idp::TokenFault::AccessTokenHash,
                ..
            })
        ),
        "{another_access_token:?}"
    );
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            tokens.id_token.split('.').nth(1).expect("payload"),
        )
        .expect("base64"),
    )
    .expect("claims");
    assert_eq!(claims["at_hash"], at_hash(tokens.access_token.expose()));

    let refused = |r: Result<_, RelyingPartyError>| match r {
        Err(RelyingPartyError::TokenRefused(code)) => code,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        refused(
            rp.exchange_code(&endpoints, &exchange(&first, &verifier, secret))
                .await
        ),
        "invalid_grant",
        "a replayed code"
    );
    let second = code().await;
    assert_eq!(
        refused(
            rp.exchange_code(&endpoints, &exchange(&second, &"w".repeat(43), secret))
                .await
        ),
        "invalid_grant",
        "another verifier"
    );
    let third = code().await;
    assert_eq!(
        refused(
            rp.exchange_code(&endpoints, &exchange(&third, &verifier, None))
                .await
        ),
        "invalid_client",
        "no secret for a confidential client"
    );
}

/// With a public URL and no `[signin] sp_key_file`, the daemon generates the SAML SP's signing
/// key at first start beside the keyring (owner-only), and keeps it across restarts.
#[tokio::test]
async fn the_sp_signing_key_is_generated_at_first_start_and_kept() {
    use std::os::unix::fs::PermissionsExt as _;
    let daemon = portal(vec![saml_idp("corp", "Corp")]).await;
    let data = daemon.dir.path().join("data");
    let key = data.join("sp-signing.key");
    let cert = data.join("sp-signing.crt");
    let mode = std::fs::metadata(&key).expect("key").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let first = std::fs::read_to_string(&cert).expect("certificate");
    assert!(first.starts_with("-----BEGIN CERTIFICATE-----"), "{first}");
    let dir = daemon.stop().await;
    let daemon = Daemon::restart(dir).await;
    let again = std::fs::read_to_string(&cert).expect("certificate");
    assert_eq!(again, first, "kept, not generated anew");
    drop(daemon);

    // Without a public URL, none.
    let daemon = Daemon::start(Setup::default()).await;
    assert!(!daemon.dir.path().join("data/sp-signing.key").exists());
}

/// Login attempts are limited per source address: beyond `[signin] logins_per_minute`, 429
/// `Throttling` as a page; pages that are not login attempts are not counted.
#[tokio::test]
async fn login_attempts_beyond_the_limit_are_throttled_per_source_address() {
    let daemon = Daemon::start(Setup {
        idps: vec![saml_idp("corp", "Corp"), saml_idp("partner", "Partner")],
        server: "public_url = \"http://{LISTEN}\"".to_owned(),
        extra: "[signin]\nlogins_per_minute = 3\n".to_owned(),
        ..Setup::default()
    })
    .await;
    for _ in 0..5 {
        assert_eq!(get(&format!("{}/signin", daemon.url)).await.status, 200);
    }
    for _ in 0..3 {
        let page = get(&format!("{}/signin/corp", daemon.url)).await;
        assert_eq!(page.status, 302, "{}", page.body);
    }
    for path in ["/signin/partner", "/signin/oidc/callback?state=x&code=y"] {
        let page = get(&format!("{}{path}", daemon.url)).await;
        assert_eq!(page.status, 429, "{path}: {}", page.body);
        assert!(
            page.body.contains("<code>Throttling</code>"),
            "{}",
            page.body
        );
        assert!(page.body.contains("Wait a minute"), "{}", page.body);
    }
    let page = client()
        .post(format!("{}/saml", daemon.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("SAMLResponse=x")
        .send()
        .await
        .expect("response");
    let status = page.status().as_u16();
    assert_eq!(status, 429, "{}", page.text().await.expect("body"));
}
