//! A person signs in through the portal with a real OIDC authorization-code flow (the test IdP,
//! PKCE, state, nonce), picks a role, takes the credentials away and uses them with the real
//! AWS SDK; switches role, signs out. And every step refuses what it must.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::support::daemon::{Daemon, Setup, code, signed_client};
use stsbridge::clock::{Clock, SystemClock};

use crate::support::idp::{AUDIENCE, Client, TestIdp};

/// A browser without JavaScript: keeps cookies, shows redirects rather than following them.
pub(crate) struct Browser {
    http: reqwest::Client,
    pub(crate) jar: BTreeMap<String, String>,
    /// The `Origin` its POSTs carry.
    pub(crate) origin: Option<String>,
}

pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) location: String,
    pub(crate) body: String,
    pub(crate) content_type: String,
    pub(crate) cache_control: String,
}

impl Browser {
    pub(crate) fn new(origin: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            jar: BTreeMap::new(),
            origin: Some(origin.to_owned()),
        }
    }

    fn cookie_header(&self) -> String {
        self.jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn keep(&mut self, response: reqwest::Response) -> Answer {
        for line in response.headers().get_all("set-cookie") {
            let line = line.to_str().expect("ascii");
            let pair = line.split(';').next().expect("pair");
            let (name, value) = pair.split_once('=').expect("name=value");
            if line.contains("Max-Age=0") {
                self.jar.remove(name);
            } else {
                self.jar.insert(name.to_owned(), value.to_owned());
            }
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        Answer {
            status: response.status().as_u16(),
            location: header("location"),
            content_type: header("content-type"),
            cache_control: header("cache-control"),
            body: response.text().await.expect("body"),
        }
    }

    pub(crate) async fn get(&mut self, url: &str) -> Answer {
        let response = self
            .http
            .get(url)
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("response");
        self.keep(response).await
    }

    pub(crate) async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> Answer {
        let mut request = self
            .http
            .post(url)
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(form).expect("form"));
        if let Some(origin) = &self.origin {
            request = request.header("origin", origin);
        }
        let response = request.send().await.expect("response");
        self.keep(response).await
    }
}

/// The value of the hidden or selected input `name` in a page.
pub(crate) fn input_value(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("{name} in {page}"))
        + marker.len();
    let end = page[start..].find('"').expect("end of value") + start;
    page[start..end].to_owned()
}

/// HTML text as a browser shows it (the entities the templates write).
fn unescape(html: &str) -> String {
    html.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The text of the element with `id`.
pub(crate) fn element_text(page: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("#{id} in {page}"));
    let start = page[start..].find('>').expect(">") + start + 1;
    let end = page[start..].find('<').expect("<") + start;
    page[start..end].to_owned()
}

fn role(name: &str, provider: &str, condition_sub: &str, max: u32) -> (String, String) {
    (
        name.to_owned(),
        serde_json::json!({
            "RoleName": name,
            "MaxSessionDuration": max,
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": { "Federated": provider },
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": { "StringEquals": {
                        format!("{provider}:aud"): AUDIENCE,
                        format!("{provider}:sub"): condition_sub,
                    } }
                }]
            },
            "Policies": [{
                "PolicyName": "chain",
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{ "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*" }]
                }
            }]
        })
        .to_string(),
    )
}

/// A role only the `Reader` role may reach (by chaining).
fn chained_role() -> (String, String) {
    (
        "Auditor".to_owned(),
        serde_json::json!({
            "RoleName": "Auditor",
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": { "AWS": "arn:aws:iam::123456789012:role/Reader" },
                    "Action": "sts:AssumeRole"
                }]
            }
        })
        .to_string(),
    )
}

pub(crate) struct Portal {
    pub(crate) idp: TestIdp,
    pub(crate) daemon: Daemon,
}

/// `/signin/corp` -> the IdP -> the callback: the answer of the callback.
pub(crate) async fn sign_in(browser: &mut Browser, url: &str) -> Answer {
    let start = browser.get(&format!("{url}/signin/corp")).await;
    assert_eq!(start.status, 302, "{}", start.body);
    let at_idp = browser.get(&start.location).await;
    assert_eq!(at_idp.status, 302, "{}", at_idp.body);
    browser.get(&at_idp.location).await
}

#[tokio::test]
async fn a_person_signs_in_picks_a_role_uses_the_credentials_switches_role_and_signs_out() {
    let p = portal_with_two_roles().await;
    let url = p.daemon.url.clone();
    let mut browser = Browser::new(&url);

    // The callback signs the person in and, with two roles, shows the picker.
    let back = sign_in(&mut browser, &url).await;
    assert_eq!(back.status, 303, "{}", back.body);
    assert_eq!(back.location, "/signin/roles");
    assert!(
        browser.jar.keys().any(|k| k == "__Host-stsbridge-session"),
        "{:?}",
        browser.jar.keys()
    );
    assert!(
        !browser.jar.keys().any(|k| k == "__Host-stsbridge-login"),
        "the login cookie is cleared"
    );
    let picker = browser.get(&format!("{url}/signin/roles")).await;
    assert_eq!(picker.status, 200, "{}", picker.body);
    assert!(
        picker.body.contains("<form id=\"saml_form\""),
        "{}",
        picker.body
    );
    assert!(
        picker.body.contains(
            "<div class=\"saml-account-name\">Account: Production &lt;main&gt; (123456789012)</div>"
        ),
        "{}",
        picker.body
    );
    let reader = "arn:aws:iam::123456789012:role/Reader";
    let writer = "arn:aws:iam::123456789012:role/Writer";
    for arn in [reader, writer] {
        assert!(
            picker.body.contains(&format!(
                "<input type=\"radio\" name=\"roleIndex\" value=\"{arn}\" class=\"saml-radio\" id=\"{arn}\""
            )),
            "{}",
            picker.body
        );
        assert!(
            picker.body.contains(&format!(
                "<label for=\"{arn}\" class=\"saml-role-description\">"
            )),
            "{}",
            picker.body
        );
    }
    assert!(
        !picker.body.contains("role/Admin"),
        "not assumable: not offered"
    );
    assert!(picker.body.contains("id=\"signin_button\""));

    // The JSON twin.
    let json = browser.get(&format!("{url}/signin/roles.json")).await;
    assert_eq!(json.status, 200, "{}", json.body);
    assert_eq!(json.cache_control, "no-store");
    let listed: serde_json::Value = serde_json::from_str(&json.body).expect("json");
    assert_eq!(listed["accounts"][0]["accountId"], "123456789012");
    assert_eq!(listed["accounts"][0]["accountName"], "Production <main>");
    assert_eq!(listed["accounts"][0]["roles"][0]["roleArn"], reader);
    assert_eq!(
        listed["accounts"][0]["roles"][0]["maxSessionDuration"],
        43200
    );
    assert_eq!(listed["accounts"][0]["roles"][1]["roleName"], "Writer");

    // Choosing a role: without the form token, or from another site, refused.
    let token = input_value(&picker.body, "csrf_token");
    let refused = browser
        .post(&format!("{url}/signin/roles"), &[("roleIndex", reader)])
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
            &format!("{url}/signin/roles"),
            &[("roleIndex", reader), ("csrf_token", &token)],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(
        refused.body.contains("CrossSiteRequest"),
        "{}",
        refused.body
    );
    browser.origin = Some(url.clone());
    // A role the identity may not assume: AccessDenied, as a page.
    let denied = browser
        .post(
            &format!("{url}/signin/roles"),
            &[
                ("roleIndex", "arn:aws:iam::123456789012:role/Admin"),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(denied.status, 403, "{}", denied.body);
    assert!(
        denied.body.contains("<code>AccessDenied</code>"),
        "{}",
        denied.body
    );

    let chosen = browser
        .post(
            &format!("{url}/signin/roles"),
            &[
                ("roleIndex", reader),
                ("duration", "7200"),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(chosen.status, 303, "{}", chosen.body);
    assert_eq!(chosen.location, "/console");

    // The console shows the credentials in every form; they work with the real SDK.
    let console = browser.get(&format!("{url}/console")).await;
    assert_eq!(console.status, 200, "{}", console.body);
    assert_eq!(console.cache_control, "no-store");
    let key = element_text(&console.body, "access-key-id");
    let secret = element_text(&console.body, "secret-access-key");
    let token_text = element_text(&console.body, "session-token");
    assert!(key.starts_with("ASIA"), "{key}");
    let shown = unescape(&console.body);
    assert!(shown.contains(&format!("export AWS_ACCESS_KEY_ID=\"{key}\"")));
    assert!(shown.contains(&format!("set -gx AWS_SECRET_ACCESS_KEY \"{secret}\"")));
    assert!(shown.contains(&format!("$Env:AWS_SESSION_TOKEN=\"{token_text}\"")));
    assert!(shown.contains(&format!("[Reader]\naws_access_key_id = {key}")));
    assert!(
        shown.contains(&format!("\"AccessKeyId\": \"{key}\"")),
        "{shown}"
    );
    let expiration = element_text(&console.body, "expiration");
    let process = browser.get(&format!("{url}/console/credentials")).await;
    assert_eq!(process.status, 200, "{}", process.body);
    assert_eq!(process.content_type, "application/json");
    assert_eq!(process.cache_control, "no-store");
    let process: serde_json::Value = serde_json::from_str(&process.body).expect("json");
    assert_eq!(process["Version"], 1);
    assert_eq!(process["AccessKeyId"], key.as_str());
    assert_eq!(process["Expiration"], expiration.as_str());
    let sdk = signed_client(
        &url,
        process["AccessKeyId"].as_str().expect("key"),
        process["SecretAccessKey"].as_str().expect("secret"),
        process["SessionToken"].as_str(),
    );
    let me = sdk
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity");
    assert_eq!(
        me.arn(),
        Some("arn:aws:sts::123456789012:assumed-role/Reader/alice@example.com")
    );
    let issued = stsbridge::clock::parse_time_or_date(&expiration).expect("ISO 8601");
    let now = stsbridge::clock::unix_seconds(stsbridge::clock::Clock::now(
        &stsbridge::clock::SystemClock,
    ));
    assert!((7100..=7200).contains(&(issued - now)), "{}", issued - now);

    // Reloading shows the same credentials.
    let again = browser.get(&format!("{url}/console")).await;
    assert_eq!(element_text(&again.body, "access-key-id"), key);

    // Switch to the other role the identity may assume: issued from the identity.
    let token = input_value(&again.body, "csrf_token");
    let switched = browser
        .post(
            &format!("{url}/console/switch-role"),
            &[("roleIndex", writer), ("csrf_token", &token)],
        )
        .await;
    assert_eq!(switched.status, 303, "{}", switched.body);
    let console = browser.get(&format!("{url}/console")).await;
    assert_eq!(element_text(&console.body, "role-name"), "Writer");
    let writer_key = element_text(&console.body, "access-key-id");
    assert_ne!(writer_key, key);

    // From Writer, the Auditor role (trusting only Reader) is refused; from Reader it is
    // reached by chaining, for one hour at most.
    let token = input_value(&console.body, "csrf_token");
    let auditor = "arn:aws:iam::123456789012:role/Auditor";
    let refused = browser
        .post(
            &format!("{url}/console/switch-role"),
            &[("roleIndex", auditor), ("csrf_token", &token)],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let back_to_reader = browser
        .post(
            &format!("{url}/console/switch-role"),
            &[("roleIndex", reader), ("csrf_token", &token)],
        )
        .await;
    assert_eq!(back_to_reader.status, 303, "{}", back_to_reader.body);
    let chained = browser
        .post(
            &format!("{url}/console/switch-role"),
            &[
                ("roleIndex", auditor),
                ("duration", "43200"),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(chained.status, 303, "{}", chained.body);
    let console = browser.get(&format!("{url}/console")).await;
    assert_eq!(element_text(&console.body, "role-name"), "Auditor");
    assert!(console.body.contains("role chaining"), "{}", console.body);
    let auditor_key = element_text(&console.body, "access-key-id");
    let auditor_secret = element_text(&console.body, "secret-access-key");
    let auditor_token = element_text(&console.body, "session-token");
    let expiration = element_text(&console.body, "expiration");
    let ends = stsbridge::clock::parse_time_or_date(&expiration).expect("ISO 8601");
    assert!(ends - now <= 3600 + 60, "{}", ends - now);

    // Sign out, revoking: the credentials stop working, the portal asks to sign in again.
    let token = input_value(&console.body, "csrf_token");
    let out = browser
        .post(
            &format!("{url}/signout"),
            &[("csrf_token", &token), ("revoke", "1")],
        )
        .await;
    assert_eq!(out.status, 303, "{}", out.body);
    assert!(browser.jar.is_empty(), "{:?}", browser.jar);
    let sdk = signed_client(&url, &auditor_key, &auditor_secret, Some(&auditor_token));
    let mut refused = String::new();
    for _ in 0..50 {
        refused = code(sdk.get_caller_identity().send().await);
        if refused != "<ok>" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(refused, "InvalidClientTokenId");
    let gone = browser.get(&format!("{url}/console")).await;
    assert_eq!(gone.status, 401, "{}", gone.body);
    assert!(gone.body.contains("SessionRequired"), "{}", gone.body);

    // The audit trail: the portal's sign-in and switches, with its source; no secret in it.
    let audit: String = p
        .daemon
        .audit()
        .await
        .iter()
        .map(|e| serde_json::to_string(e).expect("json"))
        .collect();
    for name in ["ConsoleLogin", "SwitchRole", "RevokeSession"] {
        assert!(
            audit.contains(&format!("\"eventName\":\"{name}\"")),
            "{name}: {audit}"
        );
    }
    assert!(audit.contains("\"via\":\"portal\""), "{audit}");
    for secret in [&secret, &token_text, &auditor_secret, &auditor_token] {
        assert!(!audit.contains(secret.as_str()), "no secret in the audit");
    }
}

/// A portal whose person may assume Reader (12 hours) and Writer (1 hour), and reach Auditor
/// from Reader by chaining; Admin trusts someone else. The account is named with markup in it:
/// `Production <main>`. The browser test (`browser.rs`) clicks through the same portal.
pub(crate) async fn portal_with_two_roles() -> Portal {
    portal_with_two_roles_and(Vec::new(), Vec::new()).await
}

/// [`portal_with_two_roles`] with more IdP files (`idp-configs/NAME.toml`) and roles besides.
pub(crate) async fn portal_with_two_roles_and(
    more_idps: Vec<(String, String)>,
    more_roles: Vec<(String, String)>,
) -> Portal {
    let idp = TestIdp::start().await;
    let provider = idp.provider();
    let mut roles = vec![
        role("Reader", &provider, "alice", 43200),
        role("Writer", &provider, "alice", 3600),
        chained_role(),
    ];
    roles.extend(more_roles);
    finish_portal_with(idp, roles, more_idps, Arc::new(SystemClock), "").await
}

/// [`portal_with_two_roles`] on `clock`.
pub(crate) async fn portal_with_two_roles_on(clock: Arc<dyn Clock>) -> Portal {
    portal_with_two_roles_serving(clock, "").await
}

/// [`portal_with_two_roles_on`] with more lines of the `[server]` table (`trusted_proxies`).
pub(crate) async fn portal_with_two_roles_serving(clock: Arc<dyn Clock>, server: &str) -> Portal {
    let idp = TestIdp::start().await;
    let provider = idp.provider();
    let roles = vec![
        role("Reader", &provider, "alice", 43200),
        role("Writer", &provider, "alice", 3600),
        chained_role(),
    ];
    finish_portal_with(idp, roles, Vec::new(), clock, server).await
}

async fn finish_portal(idp: TestIdp, roles: Vec<(String, String)>) -> Portal {
    finish_portal_with(idp, roles, Vec::new(), Arc::new(SystemClock), "").await
}

async fn finish_portal_with(
    idp: TestIdp,
    roles: Vec<(String, String)>,
    more_idps: Vec<(String, String)>,
    clock: Arc<dyn Clock>,
    server: &str,
) -> Portal {
    let provider = idp.provider();
    let mut all = roles;
    all.push(role("Admin", &provider, "somebody-else", 3600));
    let mut idps = vec![(
        "corp".to_owned(),
        format!(
            "kind = \"oidc\"\nissuer = \"{}\"\naudiences = [\"{AUDIENCE}\"]\n\
             insecure_http = true\n[signin]\nclient_id = \"{AUDIENCE}\"\n\
             display_name = \"Example Corp SSO\"\n",
            idp.issuer()
        ),
    )];
    idps.extend(more_idps);
    let daemon = Daemon::start(Setup {
        idps,
        roles: all,
        server: format!("public_url = \"http://{{LISTEN}}\"\n{server}"),
        extra: "[accounts]\n\"123456789012\" = \"Production <main>\"\n".to_owned(),
        clock,
        ..Setup::default()
    })
    .await;
    idp.register_client(Client {
        id: AUDIENCE.to_owned(),
        secret: None,
        redirect_uris: vec![format!("{}/signin/oidc/callback", daemon.url)],
    });
    idp.set_login(Some(
        serde_json::json!({"sub": "alice", "email": "alice@example.com"}),
    ));
    Portal { idp, daemon }
}

#[tokio::test]
async fn one_role_signs_in_straight_and_no_role_says_so_naming_the_identity() {
    let idp = TestIdp::start().await;
    let provider = idp.provider();
    let p = finish_portal(idp, vec![role("Only", &provider, "alice", 3600)]).await;
    let url = p.daemon.url.clone();
    let mut browser = Browser::new(&url);
    let back = sign_in(&mut browser, &url).await;
    assert_eq!(back.status, 303, "{}", back.body);
    assert_eq!(back.location, "/console", "one role: no picker");
    let console = browser.get(&format!("{url}/console")).await;
    assert_eq!(element_text(&console.body, "role-name"), "Only");

    // Another person, whom no role trusts.
    p.idp.set_login(Some(
        serde_json::json!({"sub": "mallory<b>", "email": "m@example.com"}),
    ));
    let mut other = Browser::new(&url);
    let back = sign_in(&mut other, &url).await;
    assert_eq!(back.status, 303, "{}", back.body);
    let none = other.get(&format!("{url}/signin/roles")).await;
    assert_eq!(none.status, 403, "{}", none.body);
    assert!(none.body.contains("id=\"no-roles\""), "{}", none.body);
    assert!(none.body.contains("m@example.com"), "{}", none.body);
    let console = other.get(&format!("{url}/console")).await;
    assert_eq!(console.status, 303, "no credentials yet: the picker");
}

#[tokio::test]
async fn the_callback_refuses_a_foreign_state_a_missing_flow_an_idp_error_and_a_replayed_code() {
    let idp = TestIdp::start().await;
    let provider = idp.provider();
    let p = finish_portal(idp, vec![role("Only", &provider, "alice", 3600)]).await;
    let url = p.daemon.url.clone();

    // No login started in this browser.
    let mut browser = Browser::new(&url);
    let page = browser
        .get(&format!("{url}/signin/oidc/callback?state=x&code=y"))
        .await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(
        page.body.contains("<code>LoginExpired</code>"),
        "{}",
        page.body
    );

    // A state that is not this browser's login's.
    let start = browser.get(&format!("{url}/signin/corp")).await;
    let at_idp = browser.get(&start.location).await;
    let callback = reqwest::Url::parse(&at_idp.location).expect("url");
    let params: BTreeMap<String, String> = callback.query_pairs().into_owned().collect();
    let forged = format!(
        "{url}/signin/oidc/callback?state=forged&code={}",
        params["code"]
    );
    let page = browser.get(&forged).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(
        page.body.contains("<code>LoginMismatch</code>"),
        "{}",
        page.body
    );
    // No state at all.
    let page = browser
        .get(&format!(
            "{url}/signin/oidc/callback?code={}",
            params["code"]
        ))
        .await;
    assert!(
        page.body.contains("<code>LoginMismatch</code>"),
        "{}",
        page.body
    );
    // The IdP's error.
    let page = browser
        .get(&format!(
            "{url}/signin/oidc/callback?state={}&error=access_denied",
            params["state"]
        ))
        .await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(
        page.body.contains("<code>LoginDenied</code>"),
        "{}",
        page.body
    );

    // The right answer signs in; the same code again (an attacker replaying the URL with
    // the cookie) is refused by the IdP, and said so.
    let kept = browser.jar.clone();
    let signed_in = browser.get(callback.as_str()).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    browser.jar = kept;
    let replayed = browser.get(callback.as_str()).await;
    assert_eq!(replayed.status, 400, "{}", replayed.body);
    assert!(
        replayed.body.contains("<code>LoginExpired</code>"),
        "{}",
        replayed.body
    );
}

#[tokio::test]
async fn a_tampered_or_expired_portal_session_is_refused() {
    let clock = Arc::new(stsbridge::clock::ManualClock::new(
        stsbridge::clock::Clock::now(&stsbridge::clock::SystemClock),
    ));
    let idp = TestIdp::start().await;
    let provider = idp.provider();
    let daemon = Daemon::start(Setup {
        idps: vec![(
            "corp".to_owned(),
            format!(
                "kind = \"oidc\"\nissuer = \"{}\"\naudiences = [\"{AUDIENCE}\"]\n\
                 insecure_http = true\n[signin]\nclient_id = \"{AUDIENCE}\"\n",
                idp.issuer()
            ),
        )],
        roles: vec![role("Only", &provider, "alice", 3600)],
        server: "public_url = \"http://{LISTEN}\"".to_owned(),
        extra: "[signin]\nsession_hours = 1\n".to_owned(),
        clock: clock.clone(),
        ..Setup::default()
    })
    .await;
    let url = daemon.url.clone();
    idp.register_client(Client {
        id: AUDIENCE.to_owned(),
        secret: None,
        redirect_uris: vec![format!("{url}/signin/oidc/callback")],
    });
    idp.set_login(Some(serde_json::json!({"sub": "alice"})));
    let mut browser = Browser::new(&url);
    let back = sign_in(&mut browser, &url).await;
    assert_eq!(back.location, "/console", "{}", back.body);
    assert_eq!(browser.get(&format!("{url}/console")).await.status, 200);

    // One character of the sealed session changed.
    let name = "__Host-stsbridge-session".to_owned();
    let good = browser.jar[&name].clone();
    let mut tampered = good.clone().into_bytes();
    let i = tampered.len() / 2;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    browser
        .jar
        .insert(name.clone(), String::from_utf8(tampered).expect("ascii"));
    let page = browser.get(&format!("{url}/console")).await;
    assert_eq!(page.status, 401, "{}", page.body);
    assert!(page.body.contains("SessionRequired"), "{}", page.body);
    assert_eq!(
        browser
            .get(&format!("{url}/console/credentials"))
            .await
            .status,
        401
    );

    // The session ends after `session_hours`.
    browser.jar.insert(name, good);
    assert_eq!(browser.get(&format!("{url}/console")).await.status, 200);
    clock.advance(Duration::from_secs(3601));
    let page = browser.get(&format!("{url}/console")).await;
    assert_eq!(page.status, 401, "{}", page.body);
}

/// The federation endpoint: credentials -> a sign-in token (single use, 15 minutes) -> a
/// browser signed in to the console with them; bad credentials, reused tokens and foreign
/// destinations refused.
#[tokio::test]
async fn a_broker_signs_a_browser_in_with_credentials_through_the_federation_endpoint() {
    use crate::support::idp::SUBJECT;
    let idp = TestIdp::start().await;
    let provider = idp.provider();
    let token =
        idp.token(&idp.claims(stsbridge::clock::Clock::now(&stsbridge::clock::SystemClock)));
    let p = finish_portal(idp, vec![role("Broker", &provider, SUBJECT, 7200)]).await;
    let url = p.daemon.url.clone();
    let issued = crate::support::daemon::sts_client(&url)
        .assume_role_with_web_identity()
        .role_arn("arn:aws:iam::123456789012:role/Broker")
        .role_session_name("broker")
        .web_identity_token(token)
        .send()
        .await
        .expect("AssumeRoleWithWebIdentity");
    let creds = issued.credentials().expect("credentials");
    let session = |key: &str, secret: &str| {
        serde_json::json!({
            "sessionId": key,
            "sessionKey": secret,
            "sessionToken": creds.session_token(),
        })
        .to_string()
    };
    let get_token = async |session: String, duration: Option<&str>| {
        let mut url = reqwest::Url::parse(&format!("{url}/federation")).expect("url");
        url.query_pairs_mut()
            .append_pair("Action", "getSigninToken")
            .append_pair("Session", &session);
        if let Some(d) = duration {
            url.query_pairs_mut().append_pair("SessionDuration", d);
        }
        let mut browser = Browser::new(&p.daemon.url);
        browser.get(url.as_str()).await
    };
    // A wrong secret, a key of another session, garbage: AWS's 400.
    for bad in [
        session(creds.access_key_id(), "not-the-secret"),
        session("ASIAOTHER0000000000", creds.secret_access_key()),
        "{not json".to_owned(),
    ] {
        let answer = get_token(bad, None).await;
        assert_eq!(answer.status, 400, "{}", answer.body);
        assert!(
            answer.body.contains("Invalid credentials parameter"),
            "{}",
            answer.body
        );
    }
    let answer = get_token(
        session(creds.access_key_id(), creds.secret_access_key()),
        Some("60"),
    )
    .await;
    assert_eq!(
        answer.status, 400,
        "SessionDuration below 900: {}",
        answer.body
    );
    let answer = get_token(
        session(creds.access_key_id(), creds.secret_access_key()),
        Some("1800"),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.content_type, "application/json");
    let signin_token =
        serde_json::from_str::<serde_json::Value>(&answer.body).expect("json")["SigninToken"]
            .as_str()
            .expect("SigninToken")
            .to_owned();
    assert!(!signin_token.contains(creds.secret_access_key()));

    let login = |destination: &str| {
        let mut u = reqwest::Url::parse(&format!("{url}/federation")).expect("url");
        u.query_pairs_mut()
            .append_pair("Action", "login")
            .append_pair("Issuer", "https://broker.example.com")
            .append_pair("Destination", destination)
            .append_pair("SigninToken", &signin_token);
        u.to_string()
    };
    let mut browser = Browser::new(&url);
    // Open redirects are refused before the token is used.
    for foreign in [
        "https://evil.example/console",
        "//evil.example/console",
        "/\\evil.example",
        "javascript:alert(1)",
    ] {
        let answer = browser.get(&login(foreign)).await;
        assert_eq!(answer.status, 400, "{foreign}: {}", answer.body);
    }
    let answer = browser.get(&login(&format!("{url}/console"))).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert_eq!(answer.location, "/console");
    let console = browser.get(&format!("{url}/console")).await;
    assert_eq!(console.status, 200, "{}", console.body);
    assert_eq!(
        element_text(&console.body, "access-key-id"),
        creds.access_key_id()
    );
    assert_eq!(element_text(&console.body, "role-name"), "Broker");
    // Single use.
    let mut other = Browser::new(&url);
    let again = other.get(&login("/console")).await;
    assert_eq!(again.status, 400, "{}", again.body);
    assert!(again.body.contains("InvalidSigninToken"), "{}", again.body);
    // A token that does not open.
    let forged = other
        .get(&format!(
            "{url}/federation?Action=login&Destination=/console&SigninToken=AAAA"
        ))
        .await;
    assert_eq!(forged.status, 400, "{}", forged.body);
    let unknown = other.get(&format!("{url}/federation?Action=nope")).await;
    assert_eq!(unknown.status, 400, "{}", unknown.body);
}
