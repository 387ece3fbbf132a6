//! `POST /saml`, the portal's assertion consumer, on a real daemon with the signed fixtures
//! of `tests/fixtures/saml` (public URL `https://sts.example.com`, the clock at the fixtures'
//! time): IdP-initiated and SP-initiated logins, the picker's re-POST, and what it refuses.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::json;
use stsbridge::clock::ManualClock;
use stsbridge::web::cookies::{CookieKind, Cookies};
use stsbridge::web::saml::SamlLoginFlow;

use crate::portal_login::{Browser, element_text, input_value};
use crate::saml::{fixture, role};
use crate::support::daemon::{Daemon, Setup, code, sts_client};

/// 2026-01-01T00:01:00Z: inside every fixture's validity window.
const FIXTURE_NOW: u64 = 1_767_225_660;
const PUBLIC: &str = "https://sts.example.com";
const PROVIDER: &str = "arn:aws:iam::123456789012:saml-provider/corp";
const ADMIN: &str = "arn:aws:iam::123456789012:role/saml-admin";
const READONLY: &str = "arn:aws:iam::123456789012:role/saml-readonly";

struct Portal {
    daemon: Daemon,
    clock: Arc<ManualClock>,
}

/// The fixtures grant saml-admin and saml-readonly: saml-admin trusts portal logins
/// (`SAML:aud` is the portal's assertion consumer), saml-readonly anyone of the provider;
/// saml-other is not granted by the assertion.
async fn portal() -> Portal {
    let clock = Arc::new(ManualClock::new(
        UNIX_EPOCH + Duration::from_secs(FIXTURE_NOW),
    ));
    let daemon = Daemon::start(Setup {
        idps: vec![(
            "corp".to_owned(),
            format!(
                "kind = \"saml\"\nmetadata_file = \"{}/tests/fixtures/saml/idp-metadata.xml\"\n\
                 [signin]\ndisplay_name = \"Corp\"\n",
                env!("CARGO_MANIFEST_DIR")
            ),
        )],
        roles: vec![
            role(
                "saml-admin",
                json!({"StringEquals": {"SAML:aud": format!("{PUBLIC}/saml")}}),
            ),
            role("saml-readonly", json!({})),
            role("saml-other", json!({})),
        ],
        server: format!("public_url = \"{PUBLIC}\""),
        clock: clock.clone(),
        ..Setup::default()
    })
    .await;
    Portal { daemon, clock }
}

/// The IdP posts an assertion: the picker, the assertion kept usable; the picker's re-POST
/// signs the person in and uses it up; the credentials work.
#[tokio::test]
async fn an_idp_initiated_post_shows_the_picker_and_its_re_post_signs_in() {
    let p = portal().await;
    let url = p.daemon.url.clone();
    let response = fixture("portal-unsolicited.xml");
    // The IdP's page posts from its own origin.
    let mut browser = Browser::new("https://idp.example.com");
    let picker = browser
        .post(
            &format!("{url}/saml"),
            &[("SAMLResponse", &response), ("RelayState", "/console")],
        )
        .await;
    assert_eq!(picker.status, 200, "{}", picker.body);
    assert!(
        picker.body.contains(
            "<form id=\"saml_form\" name=\"saml_form\" action=\"/saml\" method=\"post\">"
        ),
        "{}",
        picker.body
    );
    assert!(
        picker.body.contains("Account: 123456789012"),
        "{}",
        picker.body
    );
    for arn in [ADMIN, READONLY] {
        assert!(
            picker
                .body
                .contains(&format!("value=\"{arn}\" class=\"saml-radio\"")),
            "{arn}: {}",
            picker.body
        );
    }
    assert!(
        !picker.body.contains("saml-other"),
        "not granted: not offered"
    );
    assert!(browser.jar.is_empty(), "no session before a role is chosen");
    assert_eq!(input_value(&picker.body, "SAMLResponse"), response);
    let token = input_value(&picker.body, "csrf_token");

    // The re-POST: without the form token, or from another site, refused.
    browser.origin = Some(PUBLIC.to_owned());
    let refused = browser
        .post(
            &format!("{url}/saml"),
            &[("SAMLResponse", &response), ("roleIndex", ADMIN)],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(
        refused.body.contains("InvalidFormToken"),
        "{}",
        refused.body
    );
    browser.origin = Some("https://evil.example".to_owned());
    let refused = browser
        .post(
            &format!("{url}/saml"),
            &[
                ("SAMLResponse", &response),
                ("roleIndex", ADMIN),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(
        refused.body.contains("CrossSiteRequest"),
        "{}",
        refused.body
    );
    // A role the assertion does not grant.
    browser.origin = Some(PUBLIC.to_owned());
    let refused = browser
        .post(
            &format!("{url}/saml"),
            &[
                ("SAMLResponse", &response),
                ("roleIndex", "arn:aws:iam::123456789012:role/saml-other"),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(browser.jar.is_empty());

    // The picker's own re-POST: signed in, to the RelayState path.
    let signed_in = browser
        .post(
            &format!("{url}/saml"),
            &[
                ("SAMLResponse", &response),
                ("RelayState", "/console"),
                ("roleIndex", ADMIN),
                ("duration", "3600"),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert_eq!(signed_in.location, "/console");
    let console = browser.get(&format!("{url}/console")).await;
    assert_eq!(console.status, 200, "{}", console.body);
    assert_eq!(element_text(&console.body, "role-name"), "saml-admin");
    let key = element_text(&console.body, "access-key-id");
    let secret = element_text(&console.body, "secret-access-key");
    let token_text = element_text(&console.body, "session-token");
    // The credentials are real: their durable session record (the daemon's clock is the
    // fixtures' time, so an SDK call signed now would be out of its window).
    let record = p.daemon.session(&key).await.expect("session record");
    assert_eq!(
        record.session.caller_arn,
        "arn:aws:sts::123456789012:assumed-role/saml-admin/alice@example.com"
    );
    assert!(!secret.is_empty() && !token_text.is_empty());
    // The SAML session is capped by SessionDuration (7200) and the choice (3600).
    let expiration = element_text(&console.body, "expiration");
    let ends = stsbridge::clock::parse_time_or_date(&expiration).expect("time");
    assert_eq!(ends - i64::try_from(FIXTURE_NOW).expect("i64"), 3600);

    // Used up: the same assertion again (a replay) is refused, by the portal and the API.
    let mut other = Browser::new(PUBLIC);
    let replayed = other
        .post(
            &format!("{url}/saml"),
            &[
                ("SAMLResponse", &response),
                ("roleIndex", ADMIN),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(replayed.status, 400, "{}", replayed.body);
    assert!(
        replayed.body.contains("InvalidIdentityToken"),
        "{}",
        replayed.body
    );
    let api = sts_client(&url)
        .assume_role_with_saml()
        .role_arn(READONLY)
        .principal_arn(PROVIDER)
        .saml_assertion(&response)
        .send()
        .await;
    assert_eq!(code(api), "InvalidIdentityToken");

    // Switching to the other granted role is issued from the identity, the assertion not
    // needed again.
    let token = input_value(&console.body, "csrf_token");
    let switched = browser
        .post(
            &format!("{url}/console/switch-role"),
            &[("roleIndex", READONLY), ("csrf_token", &token)],
        )
        .await;
    assert_eq!(switched.status, 303, "{}", switched.body);
    let console = browser.get(&format!("{url}/console")).await;
    assert_eq!(element_text(&console.body, "role-name"), "saml-readonly");
    let _ = p.clock;
}

/// Tools such as saml2aws post the assertion to read the account names, then call
/// AssumeRoleWithSAML with it: the POST does not use it up. A RelayState of another site is
/// never followed.
#[tokio::test]
async fn reading_the_picker_leaves_the_assertion_to_the_api_and_foreign_relay_states_are_ignored() {
    let p = portal().await;
    let url = p.daemon.url.clone();
    let response = fixture("portal-unsolicited.xml");
    let mut tool = Browser::new("https://idp.example.com");
    let picker = tool
        .post(
            &format!("{url}/saml"),
            &[
                ("SAMLResponse", &response),
                ("RelayState", "https://evil.example/steal"),
            ],
        )
        .await;
    assert_eq!(picker.status, 200, "{}", picker.body);
    assert!(!picker.body.contains("evil.example"), "{}", picker.body);
    let api = sts_client(&url)
        .assume_role_with_saml()
        .role_arn(READONLY)
        .principal_arn(PROVIDER)
        .saml_assertion(&response)
        .send()
        .await;
    assert_eq!(code(api), "<ok>");
    let _ = p.clock;
}

/// An SP-initiated login: the Response must answer the AuthnRequest of this browser's SAML
/// login cookie.
#[tokio::test]
async fn an_sp_initiated_response_must_answer_this_browsers_authn_request() {
    let p = portal().await;
    let url = p.daemon.url.clone();
    let keyring = stsbridge::creds::Keyring::load(&p.daemon.dir.path().join("data/keyring.json"))
        .expect("keyring");
    let now = UNIX_EPOCH + Duration::from_secs(FIXTURE_NOW);
    let flow_cookie = |id: &str| {
        let lines = Cookies::new(true)
            .set(
                &keyring,
                CookieKind::SamlLogin,
                &SamlLoginFlow {
                    idp: "corp".to_owned(),
                    authn_request_id: id.to_owned(),
                    return_to: "/console".to_owned(),
                },
                now,
                Duration::from_secs(600),
                &aws_lc_rs::rand::SystemRandom::new(),
            )
            .expect("cookie")
            .0;
        let pair = lines[0].split(';').next().expect("pair").to_owned();
        let (name, value) = pair.split_once('=').expect("=");
        (name.to_owned(), value.to_owned())
    };
    let answer = fixture("portal-in-response-to.xml");

    // No login started in this browser: a Response that answers a request is refused.
    let mut stranger = Browser::new("https://idp.example.com");
    let refused = stranger
        .post(&format!("{url}/saml"), &[("SAMLResponse", &answer)])
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    // Another request's login.
    let mut other = Browser::new("https://idp.example.com");
    let (name, value) = flow_cookie("_another");
    other.jar.insert(name, value);
    let refused = other
        .post(&format!("{url}/saml"), &[("SAMLResponse", &answer)])
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    // An unsolicited Response while a login started here is pending.
    let refused = other
        .post(
            &format!("{url}/saml"),
            &[("SAMLResponse", &fixture("portal-unsolicited.xml"))],
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);

    // This browser's request answered: the picker.
    let mut browser = Browser::new("https://idp.example.com");
    let (name, value) = flow_cookie("_req1");
    browser.jar.insert(name.clone(), value);
    let picker = browser
        .post(&format!("{url}/saml"), &[("SAMLResponse", &answer)])
        .await;
    assert_eq!(picker.status, 200, "{}", picker.body);
    let token = input_value(&picker.body, "csrf_token");
    browser.origin = Some(PUBLIC.to_owned());
    let signed_in = browser
        .post(
            &format!("{url}/saml"),
            &[
                ("SAMLResponse", &answer),
                ("roleIndex", READONLY),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert!(
        !browser.jar.contains_key(&name),
        "the login cookie is cleared"
    );
    let _ = p.clock;
}
