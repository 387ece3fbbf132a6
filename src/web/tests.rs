use http::StatusCode;

use super::*;
use crate::config::signin::{OidcSignin, SamlSignin, SigninKind};

fn portal(title: &str) -> Portal {
    let settings = SigninSettings {
        title: title.to_owned(),
        logo_url: Some("https://cdn.example.com/logo.png".to_owned()),
        ..SigninSettings::default()
    };
    let keys = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/saml/keys");
    let sp_key = SpKey::load(
        &std::path::Path::new(keys).join("sp-encryption.key"),
        &std::path::Path::new(keys).join("sp-encryption.crt"),
    )
    .unwrap();
    Portal::new(
        PublicUrl::parse("https://sts.example.com").unwrap(),
        &settings,
        sp_key,
    )
    .unwrap()
}

fn offered(name: &str, display_name: &str) -> SigninIdp {
    SigninIdp {
        name: name.to_owned(),
        display_name: display_name.to_owned(),
        kind: SigninKind::Saml(SamlSignin {
            sso_url: None,
            sign_requests: true,
        }),
    }
}

fn header(page: &Page, name: http::header::HeaderName) -> Option<&str> {
    page.headers
        .iter()
        .find(|(n, _)| *n == name)
        .and_then(|(_, v)| v.to_str().ok())
}

#[test]
fn one_link_per_idp_and_markup_in_names_is_escaped() {
    // minijinja escapes `/` as well (`/`): a browser reads the attribute as `/signin/adfs`.
    let portal = portal("Acme <b>Cloud</b>");
    let oidc = SigninIdp {
        name: "okta".to_owned(),
        display_name: "Okta".to_owned(),
        kind: SigninKind::Oidc(OidcSignin {
            issuer: "https://okta.example".to_owned(),
            client_id: "c".to_owned(),
            client_secret: None,
            scopes: vec!["openid".to_owned()],
        }),
    };
    let page = portal.signin(
        &[offered("adfs", "<img src=x onerror=alert(1)>"), oidc],
        false,
        false,
        None,
        "r-1",
    );
    assert_eq!(page.status, StatusCode::OK);
    let html = &page.body;
    assert!(
        html.contains(r#"<a class="idp-login" data-idp="adfs" href="/signin/adfs">&lt;img src=x onerror=alert(1)&gt;</a>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<a class="idp-login" data-idp="okta" href="/signin/okta">Okta</a>"#),
        "{html}"
    );
    assert!(
        html.contains("<title>Sign in · Acme &lt;b&gt;Cloud&lt;/b&gt;</title>"),
        "{html}"
    );
    assert!(!html.contains("<img src=x"), "{html}");
    assert!(
        html.contains(r#"<img class="logo" src="https://cdn.example.com/logo.png" alt="">"#),
        "{html}"
    );
}

#[test]
fn one_idp_goes_straight_to_it_unless_asked_to_choose() {
    let portal = portal("T");
    let page = portal.signin(&[offered("adfs", "AD FS")], false, false, None, "r-1");
    assert_eq!(page.status, StatusCode::FOUND);
    assert_eq!(header(&page, http::header::LOCATION), Some("/signin/adfs"));
    let page = portal.signin(&[offered("adfs", "AD FS")], true, false, None, "r-1");
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("data-idp=\"adfs\""));
    let page = portal.signin(&[], false, false, None, "r-1");
    assert!(
        page.body.contains("No identity provider is offered"),
        "{}",
        page.body
    );
}

/// The authorize consent's answer redirects to the client's listener, which Chromium checks
/// against `form-action`: that origin is added there, and nothing else changes.
#[test]
fn a_form_target_widens_form_action_only() {
    let page = portal("T")
        .signin(&[], false, false, None, "r-1")
        .with_form_target("http://127.0.0.1:43123");
    assert_eq!(
        header(&page, http::header::CONTENT_SECURITY_POLICY),
        Some(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' \
             https://cdn.example.com; form-action 'self' http://127.0.0.1:43123; \
             frame-ancestors 'none'; base-uri 'none'"
        )
    );
}

#[test]
fn pages_carry_the_security_headers() {
    let page = portal("T").signin(&[], false, false, None, "r-1");
    assert_eq!(
        header(&page, http::header::CONTENT_SECURITY_POLICY),
        Some(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' \
             https://cdn.example.com; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        )
    );
    assert_eq!(
        header(&page, http::header::REFERRER_POLICY),
        Some("same-origin")
    );
    assert_eq!(header(&page, http::header::X_FRAME_OPTIONS), Some("DENY"));
    assert_eq!(header(&page, http::header::CACHE_CONTROL), Some("no-store"));
    assert_eq!(
        header(&page, http::header::CONTENT_TYPE),
        Some("text/html; charset=utf-8")
    );
}

#[test]
fn error_pages_come_from_the_error_table_and_never_show_inner_text() {
    let portal = portal("T");
    let page = portal.error(
        &ApiError::Internal("sled: /var/lib/secret/path <b>".into()),
        "req-42",
    );
    assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        page.body.contains("We encountered an internal error."),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("<code>InternalFailure</code>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("<code>req-42</code>"), "{}", page.body);
    assert!(!page.body.contains("sled"), "{}", page.body);

    let page = portal.error(&ApiError::ExpiredToken, "req-43");
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("Token expired"), "{}", page.body);
    assert!(
        page.body.contains("Start again from the sign-in page"),
        "{}",
        page.body
    );

    let page = portal.error(
        &ApiError::Portal(crate::error::PortalFault::ForeignOrigin),
        "r",
    );
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("<h1>Not allowed</h1>"), "{}", page.body);
    assert!(page.body.contains("another site"), "{}", page.body);
}

#[test]
fn only_paths_of_this_server_are_places_to_send_a_person() {
    for ok in ["/console", "/console?x=1", "/signin/roles#top", "/"] {
        assert!(super::is_local_path(ok), "{ok}");
    }
    for bad in [
        "//evil.example",
        "/\\evil.example",
        "https://evil.example/",
        "javascript:alert(1)",
        "console",
        "",
        "/console\r\nSet-Cookie: x=1",
        "/\tevil",
    ] {
        assert!(!super::is_local_path(bad), "{bad:?}");
    }
}

#[test]
fn after_signing_out_the_page_says_so_and_does_not_go_on_to_the_only_idp() {
    let portal = portal("T");
    let page = portal.signin(&[offered("adfs", "AD FS")], true, true, None, "r-1");
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("id=\"signed-out\""), "{}", page.body);
    let page = portal.signin(&[offered("adfs", "AD FS")], true, false, None, "r-1");
    assert!(!page.body.contains("signed-out"), "{}", page.body);
}

#[test]
fn login_attempts_count_per_ipv4_address_and_per_ipv6_64() {
    let limiter = super::LoginLimiter::new(2);
    let ip = |s: &str| Some(s.parse::<std::net::IpAddr>().unwrap());
    assert!(limiter.admit(ip("2001:db8:1:2::1")));
    assert!(limiter.admit(ip("2001:db8:1:2:ffff::9")));
    assert!(
        !limiter.admit(ip("2001:db8:1:2:abcd::7")),
        "the same /64, a third time"
    );
    assert!(limiter.admit(ip("2001:db8:1:3::1")), "another /64");
    assert!(limiter.admit(ip("192.0.2.1")));
    assert!(limiter.admit(ip("::ffff:192.0.2.1")));
    assert!(
        !limiter.admit(ip("192.0.2.1")),
        "IPv4-mapped counts as IPv4"
    );
    assert!(limiter.admit(ip("192.0.2.2")));
}
