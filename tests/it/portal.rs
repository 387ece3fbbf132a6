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
            "class=\"idp-login\" data-idp=\"corp\" href=\"&#x2f;signin&#x2f;corp\">Corp &lt;script&gt;alert(1)&lt;&#x2f;script&gt;</a>"
        ),
        "{}",
        page.body
    );
    assert!(page.body.contains("data-idp=\"partner\""), "{}", page.body);
    assert!(!page.body.contains("<script>"), "{}", page.body);
    assert!(page.body.contains("Acme &lt;Cloud&gt;"), "{}", page.body);
    assert!(
        page.body
            .contains("<link rel=\"stylesheet\" href=\"&#x2f;static&#x2f;style.css\">"),
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
