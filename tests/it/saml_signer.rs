//! The run-time SAML signer of `support::saml_signer` against the daemon's own verifier, on a
//! real daemon at the wall clock's time (not the fixtures' 2026-01-01): a Response signed now
//! for the portal's assertion consumer shows the picker and signs in, one for AWS's recipient
//! is taken by AssumeRoleWithSAML through the SDK, and one signed by a key the metadata does
//! not pin is refused by both. And an SP-initiated login through `support::saml_idp`, whose
//! answers are signed the same way.

use serde_json::json;
use stsbridge::clock::{Clock as _, SystemClock};

use crate::portal_login::{Browser, element_text, input_value};
use crate::support::daemon::{ACCOUNT, Daemon, Setup, code, sts_client};
use crate::support::saml_idp::TestSamlIdp;
use crate::support::saml_signer::{AWS_ACS, SamlResponse, Signed, SigningKey};

/// The SAML IdP's name (its file stem), hence its provider ARN.
pub(crate) const SAML_IDP: &str = "adfs";

pub(crate) fn provider() -> String {
    format!("arn:aws:iam::{ACCOUNT}:saml-provider/{SAML_IDP}")
}

pub(crate) fn role_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{name}")
}

/// `idp-configs/adfs.toml`: the fixtures' IdP metadata (its signing certificate pinned),
/// offered on the sign-in page; `signin` more lines of its `[signin]` table.
pub(crate) fn saml_idp(signin: &str) -> (String, String) {
    (
        SAML_IDP.to_owned(),
        format!(
            "kind = \"saml\"\n\
             metadata_file = \"{}/tests/fixtures/saml/idp-metadata.xml\"\n\
             [signin]\ndisplay_name = \"Example Corp AD FS\"\n{signin}",
            env!("CARGO_MANIFEST_DIR")
        ),
    )
}

/// `roles/NAME.json`: a role the SAML IdP's identities may assume, for 12 hours at most.
pub(crate) fn saml_role(name: &str) -> (String, String) {
    let doc = json!({
        "RoleName": name,
        "MaxSessionDuration": 43200,
        "AssumeRolePolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Federated": provider()},
                "Action": "sts:AssumeRoleWithSAML"
            }]
        }
    });
    (name.to_owned(), doc.to_string())
}

/// A daemon whose public URL is its own `http://127.0.0.1:PORT`, on the wall clock, with the
/// SAML IdP and the roles saml-admin and saml-readonly.
async fn daemon() -> Daemon {
    Daemon::start(Setup {
        idps: vec![saml_idp("")],
        roles: vec![saml_role("saml-admin"), saml_role("saml-readonly")],
        server: "public_url = \"http://{LISTEN}\"".to_owned(),
        ..Setup::default()
    })
    .await
}

/// A Response for `acs` granting both roles, at the wall clock's time.
fn granting_both(acs: &str) -> SamlResponse {
    SamlResponse::new(acs, SystemClock.now())
        .role(&role_arn("saml-admin"), &provider())
        .role(&role_arn("saml-readonly"), &provider())
}

/// Signed now for `<daemon>/saml`, either element signed: the IdP-initiated POST shows the
/// picker with both roles, and its re-POST signs in.
#[tokio::test]
async fn a_response_signed_now_for_the_portal_shows_the_picker_and_signs_in() {
    let daemon = daemon().await;
    let url = daemon.url.clone();
    let key = SigningKey::idp();
    for signed in [Signed::Response, Signed::Assertion] {
        let mut response = granting_both(&format!("{url}/saml"));
        response.signed = signed;
        let posted = response.sign_base64(&key);
        let mut browser = Browser::new("https://idp.example.com");
        let picker = browser
            .post(&format!("{url}/saml"), &[("SAMLResponse", &posted)])
            .await;
        assert_eq!(picker.status, 200, "{signed:?}: {}", picker.body);
        for role in ["saml-admin", "saml-readonly"] {
            let arn = role_arn(role);
            assert!(
                picker
                    .body
                    .contains(&format!("value=\"{arn}\" class=\"saml-radio\"")),
                "{signed:?}, {arn}: {}",
                picker.body
            );
        }
        assert!(picker.body.contains("alice@example.com"), "{}", picker.body);

        let token = input_value(&picker.body, "csrf_token");
        browser.origin = Some(url.clone());
        let signed_in = browser
            .post(
                &format!("{url}/saml"),
                &[
                    ("SAMLResponse", &posted),
                    ("roleIndex", &role_arn("saml-readonly")),
                    ("csrf_token", &token),
                ],
            )
            .await;
        assert_eq!(signed_in.status, 303, "{signed:?}: {}", signed_in.body);
        let console = browser.get(&format!("{url}/console")).await;
        assert_eq!(console.status, 200, "{}", console.body);
        assert_eq!(element_text(&console.body, "role-name"), "saml-readonly");
    }
}

/// Signed now for AWS's recipient and audience: AssumeRoleWithSAML through the real SDK issues
/// credentials for the session name the Response carries; the portal's entity ID is an
/// accepted audience too.
#[tokio::test]
async fn assume_role_with_saml_accepts_a_response_signed_now_for_aws() {
    let daemon = daemon().await;
    let url = daemon.url.clone();
    let key = SigningKey::idp();
    let sts = sts_client(&url);
    let mut for_aws = granting_both(AWS_ACS);
    for_aws.role_session_name = "alice-runtime".to_owned();
    let issued = sts
        .assume_role_with_saml()
        .role_arn(role_arn("saml-admin"))
        .principal_arn(provider())
        .saml_assertion(for_aws.sign_base64(&key))
        .send()
        .await
        .expect("AssumeRoleWithSAML");
    assert_eq!(
        issued.assumed_role_user().map(|u| u.arn()),
        Some(format!("arn:aws:sts::{ACCOUNT}:assumed-role/saml-admin/alice-runtime").as_str())
    );
    assert_eq!(issued.audience(), Some(AWS_ACS));
    assert!(
        issued
            .credentials()
            .is_some_and(|c| c.access_key_id().starts_with("ASIA"))
    );

    let mut for_portal = granting_both(AWS_ACS);
    for_portal.audience = format!("{url}/saml/metadata");
    for_portal.signed = Signed::Assertion;
    let issued = sts
        .assume_role_with_saml()
        .role_arn(role_arn("saml-readonly"))
        .principal_arn(provider())
        .saml_assertion(for_portal.sign_base64(&key))
        .send()
        .await;
    assert_eq!(code(issued), "<ok>");
}

/// The same Responses signed by a key the IdP's metadata does not pin (its certificate, of the
/// same subject, in KeyInfo): refused by the portal and by the API, nothing issued.
#[tokio::test]
async fn a_response_signed_by_another_key_is_refused() {
    let daemon = daemon().await;
    let url = daemon.url.clone();
    let attacker = SigningKey::attacker();
    for signed in [Signed::Response, Signed::Assertion] {
        let mut response = granting_both(&format!("{url}/saml"));
        response.signed = signed;
        let mut browser = Browser::new("https://idp.example.com");
        let refused = browser
            .post(
                &format!("{url}/saml"),
                &[("SAMLResponse", &response.sign_base64(&attacker))],
            )
            .await;
        assert_eq!(refused.status, 400, "{signed:?}: {}", refused.body);
        assert!(
            refused.body.contains("InvalidIdentityToken"),
            "{signed:?}: {}",
            refused.body
        );
        assert!(!refused.body.contains("saml_form"), "{}", refused.body);
        assert!(browser.jar.is_empty());

        let mut for_aws = granting_both(AWS_ACS);
        for_aws.signed = signed;
        let api = sts_client(&url)
            .assume_role_with_saml()
            .role_arn(role_arn("saml-admin"))
            .principal_arn(provider())
            .saml_assertion(for_aws.sign_base64(&attacker))
            .send()
            .await;
        assert_eq!(code(api), "InvalidIdentityToken", "{signed:?}");
    }
    assert!(daemon.sessions().await.is_empty(), "nothing issued");
}

/// SP-initiated through the test SAML IdP: `/signin/adfs` sends the browser to its
/// SingleSignOnService with an AuthnRequest, whose page posts the answer back; the portal
/// matches it to this browser's AuthnRequest. Posted by another browser, whose own login
/// awaits the answer to another AuthnRequest, the same answer is refused.
#[tokio::test]
async fn an_sp_initiated_login_through_the_test_saml_idp_answers_this_browsers_request() {
    let idp = TestSamlIdp::start(vec![
        (role_arn("saml-admin"), provider()),
        (role_arn("saml-readonly"), provider()),
    ])
    .await;
    let daemon = Daemon::start(Setup {
        idps: vec![saml_idp(&format!(
            "sso_url = \"{}\"\n",
            idp.sso_url("localhost")
        ))],
        roles: vec![saml_role("saml-admin"), saml_role("saml-readonly")],
        server: "public_url = \"http://{LISTEN}\"".to_owned(),
        ..Setup::default()
    })
    .await;
    let url = daemon.url.clone();
    idp.set_acs_url(&format!("{url}/saml"));
    let idp_origin = format!("http://localhost:{}", idp.addr.port());

    let mut browser = Browser::new(&idp_origin);
    let answer = start_sp_login(&mut browser, &url, &idp_origin).await;
    let mut other = Browser::new(&idp_origin);
    let _ = start_sp_login(&mut other, &url, &idp_origin).await;
    assert_eq!(idp.answered().len(), 2);

    let refused = other
        .post(&format!("{url}/saml"), &[("SAMLResponse", &answer)])
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("does not answer this sign-in request"),
        "{}",
        refused.body
    );
    assert!(!refused.body.contains("saml_form"), "{}", refused.body);

    let picker = browser
        .post(&format!("{url}/saml"), &[("SAMLResponse", &answer)])
        .await;
    assert_eq!(picker.status, 200, "{}", picker.body);
    let token = input_value(&picker.body, "csrf_token");
    browser.origin = Some(url.clone());
    let signed_in = browser
        .post(
            &format!("{url}/saml"),
            &[
                ("SAMLResponse", &answer),
                ("roleIndex", &role_arn("saml-admin")),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let console = browser.get(&format!("{url}/console")).await;
    assert_eq!(element_text(&console.body, "role-name"), "saml-admin");
}

/// `/signin/adfs` -> the test SAML IdP at `idp_origin` -> its page, which posts the answer to
/// `<url>/saml`: the answer (base64).
async fn start_sp_login(browser: &mut Browser, url: &str, idp_origin: &str) -> String {
    let start = browser.get(&format!("{url}/signin/{SAML_IDP}")).await;
    assert_eq!(start.status, 302, "{}", start.body);
    assert!(
        start.location.starts_with(&format!("{idp_origin}/sso?")),
        "{}",
        start.location
    );
    let page = browser.get(&start.location).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body
            .contains(&format!("method=\"post\" action=\"{url}/saml\"")),
        "{}",
        page.body
    );
    input_value(&page.body, "SAMLResponse")
}
