//! The SSO portal API (`<public_url>/sso`) driven by the real AWS SDK (`aws-sdk-sso`) with an
//! endpoint override, as `AWS_ENDPOINT_URL_SSO` points every SDK at it: ListAccounts,
//! ListAccountRoles, GetRoleCredentials (then STS with the credentials), Logout, and what they
//! refuse. The access tokens are what CreateToken issues (`support::sso`).

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sso::Client;
use stsbridge::clock::{Clock as _, ManualClock, SystemClock};
use stsbridge::sso::login::Tokens;

use crate::support::daemon::{ACCOUNT, Daemon, Setup, signed_client};
use crate::support::idp::{AUDIENCE, TestIdp};
use crate::support::sso::{keyring_of, login, login_of, tokens};

/// A second account, with no name in `[accounts]`.
const OTHER_ACCOUNT: &str = "210987654321";

fn role(name: &str, account: &str, provider: &str, sub: &str, max: u32) -> (String, String) {
    (
        format!("{name}-{account}"),
        serde_json::json!({
            "RoleName": name,
            "AccountId": account,
            "MaxSessionDuration": max,
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": { "Federated": provider },
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": { "StringEquals": {
                        format!("{provider}:aud"): AUDIENCE,
                        format!("{provider}:sub"): sub,
                    } }
                }]
            }
        })
        .to_string(),
    )
}

/// A daemon with a portal whose person `alice` may assume Reader (12 h) and Writer (1 h) in
/// the named account and Deployer in another; Admin trusts someone else.
struct Portal {
    idp: TestIdp,
    daemon: Daemon,
    clock: Arc<ManualClock>,
}

async fn portal() -> Portal {
    let idp = TestIdp::start().await;
    let provider = idp.provider();
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let daemon = Daemon::start(Setup {
        idps: vec![(
            "corp".to_owned(),
            format!(
                "kind = \"oidc\"\nissuer = \"{}\"\naudiences = [\"{AUDIENCE}\"]\n\
                 insecure_http = true\n[signin]\nclient_id = \"{AUDIENCE}\"\n",
                idp.issuer()
            ),
        )],
        roles: vec![
            role("Reader", ACCOUNT, &provider, "alice", 43_200),
            role("Writer", ACCOUNT, &provider, "alice", 3600),
            role("Admin", ACCOUNT, &provider, "somebody-else", 3600),
            role("Deployer", OTHER_ACCOUNT, &provider, "alice", 3600),
        ],
        server: "public_url = \"http://{LISTEN}\"".to_owned(),
        extra: format!("[accounts]\n\"{ACCOUNT}\" = \"Production <main>\"\n"),
        clock: clock.clone(),
        ..Setup::default()
    })
    .await;
    Portal { idp, daemon, clock }
}

impl Portal {
    /// Alice's tokens, as CreateToken would answer now.
    async fn alice(&self) -> Tokens {
        let now = self.clock.now();
        let login = login(&self.idp, serde_json::json!({"sub": "alice"}), now).await;
        tokens(&keyring_of(&self.daemon), &login, now)
    }

    fn sso(&self) -> Client {
        let config = aws_sdk_sso::Config::builder()
            .behavior_version(aws_sdk_sso::config::BehaviorVersion::latest())
            .region(aws_sdk_sso::config::Region::new("eu-central-1"))
            .endpoint_url(format!("{}/sso", self.daemon.url))
            .build();
        Client::from_conf(config)
    }

    /// A request without the SDK (to send what it would not), with the bearer if given.
    async fn raw(&self, method: &str, path_and_query: &str, bearer: Option<&str>) -> Raw {
        let url = format!("{}/sso{path_and_query}", self.daemon.url);
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = reqwest::Client::new().request(method, url);
        if let Some(bearer) = bearer {
            request = request.header("x-amz-sso_bearer_token", bearer);
        }
        let response = request.send().await.expect("response");
        Raw {
            status: response.status().as_u16(),
            error_type: response
                .headers()
                .get("x-amzn-errortype")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
            body: response.text().await.expect("body"),
        }
    }
}

struct Raw {
    status: u16,
    error_type: String,
    body: String,
}

impl Raw {
    /// The `message` of an error body.
    fn message(&self) -> String {
        let body: serde_json::Value = serde_json::from_str(&self.body).expect("a JSON body");
        body["message"].as_str().expect("message").to_owned()
    }
}

fn sso_code<T, E: aws_sdk_sso::error::ProvideErrorMetadata, R>(
    r: Result<T, aws_sdk_sso::error::SdkError<E, R>>,
) -> String {
    match r {
        Ok(_) => "<ok>".to_owned(),
        Err(e) => aws_sdk_sso::error::ProvideErrorMetadata::code(&e)
            .unwrap_or("<none>")
            .to_owned(),
    }
}

#[tokio::test]
async fn the_sdk_lists_accounts_and_roles_and_takes_credentials_sts_knows() {
    let p = portal().await;
    let tokens = p.alice().await;
    let sso = p.sso();

    let accounts = sso
        .list_accounts()
        .access_token(&tokens.access_token)
        .send()
        .await
        .expect("ListAccounts");
    let listed: Vec<(&str, &str)> = accounts
        .account_list()
        .iter()
        .map(|a| {
            (
                a.account_id().unwrap_or_default(),
                a.account_name().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            (ACCOUNT, "Production <main>"),
            (OTHER_ACCOUNT, OTHER_ACCOUNT)
        ],
        "in account id order, named by [accounts] or else by id"
    );
    assert_eq!(accounts.next_token(), None);

    let roles = sso
        .list_account_roles()
        .access_token(&tokens.access_token)
        .account_id(ACCOUNT)
        .send()
        .await
        .expect("ListAccountRoles");
    let names: Vec<(&str, &str)> = roles
        .role_list()
        .iter()
        .map(|r| {
            (
                r.role_name().unwrap_or_default(),
                r.account_id().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [("Reader", ACCOUNT), ("Writer", ACCOUNT)],
        "not Admin, which trusts someone else"
    );
    assert_eq!(roles.next_token(), None);

    let now = stsbridge::clock::unix_seconds(p.clock.now());
    let got = sso
        .get_role_credentials()
        .access_token(&tokens.access_token)
        .account_id(ACCOUNT)
        .role_name("Reader")
        .send()
        .await
        .expect("GetRoleCredentials");
    let creds = got.role_credentials().expect("roleCredentials");
    let key = creds.access_key_id().expect("accessKeyId");
    assert!(key.starts_with("ASIA"), "{key}");
    assert_eq!(
        creds.expiration(),
        (now + 43_200) * 1000,
        "the role's maximum, in epoch milliseconds"
    );

    let sts = signed_client(
        &p.daemon.url,
        key,
        creds.secret_access_key().expect("secret"),
        creds.session_token(),
    );
    let me = sts
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity");
    assert_eq!(
        me.arn(),
        Some(format!("arn:aws:sts::{ACCOUNT}:assumed-role/Reader/alice").as_str())
    );
    assert!(p.daemon.session(key).await.is_some(), "a durable record");

    let events = p.daemon.audit().await;
    let event = events
        .iter()
        .find(|e| e.event_name == "GetRoleCredentials")
        .expect("the GetRoleCredentials event");
    assert_eq!(event.error_code, None);
    assert_eq!(event.request_parameters["via"], "sso");
    assert_eq!(event.request_parameters["roleName"], "Reader");
    assert!(
        event.request_parameters["loginId"]
            .as_str()
            .is_some_and(|id| id.starts_with('L'))
    );
    assert_eq!(event.user_identity.kind, "WebIdentityUser");
    let recorded = serde_json::to_string(&events).expect("json");
    for secret in [
        tokens.access_token.as_str(),
        tokens.refresh_token.as_str(),
        creds.secret_access_key().expect("secret"),
        creds.session_token().expect("token"),
    ] {
        assert!(
            !recorded.contains(secret),
            "no token or secret in the trail"
        );
    }
}

#[tokio::test]
async fn pages_of_one_follow_the_next_token_to_the_end() {
    let p = portal().await;
    let tokens = p.alice().await;
    let sso = p.sso();
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = sso
            .list_accounts()
            .access_token(&tokens.access_token)
            .max_results(1)
            .set_next_token(next.clone())
            .send()
            .await
            .expect("ListAccounts");
        assert_eq!(page.account_list().len(), 1);
        seen.extend(
            page.account_list()
                .iter()
                .map(|a| a.account_id().unwrap_or_default().to_owned()),
        );
        match page.next_token() {
            Some(token) => next = Some(token.to_owned()),
            None => break,
        }
        assert!(seen.len() < 5, "the pages end");
    }
    assert_eq!(seen, [ACCOUNT, OTHER_ACCOUNT]);

    let first = sso
        .list_account_roles()
        .access_token(&tokens.access_token)
        .account_id(ACCOUNT)
        .max_results(1)
        .send()
        .await
        .expect("ListAccountRoles");
    assert_eq!(first.role_list()[0].role_name(), Some("Reader"));
    let token = first.next_token().expect("a second page");
    let second = sso
        .list_account_roles()
        .access_token(&tokens.access_token)
        .account_id(ACCOUNT)
        .max_results(1)
        .next_token(token)
        .send()
        .await
        .expect("ListAccountRoles");
    assert_eq!(second.role_list()[0].role_name(), Some("Writer"));
    assert_eq!(second.next_token(), None);

    // A page token is for its own list only, and never made up.
    for (account, bad) in [
        (OTHER_ACCOUNT, token),
        (ACCOUNT, "bm90LWEtdG9rZW4"),
        (ACCOUNT, "%%%"),
    ] {
        let refused = sso
            .list_account_roles()
            .access_token(&tokens.access_token)
            .account_id(account)
            .next_token(bad)
            .send()
            .await;
        assert_eq!(sso_code(refused), "InvalidRequestException", "{bad}");
    }
    let refused = sso
        .list_accounts()
        .access_token(&tokens.access_token)
        .next_token(token)
        .send()
        .await;
    assert_eq!(sso_code(refused), "InvalidRequestException");
    for max in ["0", "101", "many"] {
        let raw = p
            .raw(
                "GET",
                &format!("/assignment/accounts?max_result={max}"),
                Some(&tokens.access_token),
            )
            .await;
        assert_eq!(
            (raw.status, raw.error_type.as_str()),
            (400, "InvalidRequestException"),
            "{}",
            raw.body
        );
        assert!(raw.message().contains("max_result"), "{}", raw.body);
    }
}

#[tokio::test]
async fn a_missing_tampered_foreign_refresh_or_expired_token_is_unauthorized() {
    let p = portal().await;
    let tokens = p.alice().await;
    let sso = p.sso();

    let raw = p.raw("GET", "/assignment/accounts", None).await;
    assert_eq!(
        (raw.status, raw.error_type.as_str()),
        (401, "UnauthorizedException"),
        "{}",
        raw.body
    );
    assert!(!raw.message().is_empty());

    let mut tampered = tokens.access_token.clone();
    let middle = tampered.len() / 2;
    let flipped = if &tampered[middle..=middle] == "A" {
        "B"
    } else {
        "A"
    };
    tampered.replace_range(middle..=middle, flipped);
    let foreign = {
        let now = p.clock.now();
        let someone = login(&p.idp, serde_json::json!({"sub": "alice"}), now).await;
        let other = stsbridge::creds::Keyring::generate(now).expect("keyring");
        crate::support::sso::tokens(&other, &someone, now).access_token
    };
    for (what, bearer) in [
        ("tampered", tampered.as_str()),
        ("a refresh token", tokens.refresh_token.as_str()),
        ("another keyring's", foreign.as_str()),
        ("not a token", "not-a-token"),
    ] {
        let refused = sso.list_accounts().access_token(bearer).send().await;
        assert_eq!(sso_code(refused), "UnauthorizedException", "{what}");
        let refused = sso
            .get_role_credentials()
            .access_token(bearer)
            .account_id(ACCOUNT)
            .role_name("Reader")
            .send()
            .await;
        assert_eq!(sso_code(refused), "UnauthorizedException", "{what}");
    }

    p.clock.advance(Duration::from_secs(3600));
    let refused = sso
        .list_accounts()
        .access_token(&tokens.access_token)
        .send()
        .await;
    assert_eq!(
        sso_code(refused),
        "UnauthorizedException",
        "an access token lasts an hour"
    );
    assert!(
        p.daemon.sessions().await.is_empty(),
        "nothing was issued for a refused token"
    );
    let metrics = reqwest::get(format!("{}/metrics", p.daemon.url))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body");
    assert!(
        metrics.contains(
            "stsbridge_requests_total{action=\"ListAccounts\",code=\"UnauthorizedException\"} 6"
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_role_or_account_the_person_may_not_reach_is_not_found_and_audited() {
    let p = portal().await;
    let tokens = p.alice().await;
    let sso = p.sso();
    for (account, role) in [
        (ACCOUNT, "Admin"),
        (ACCOUNT, "NoSuchRole"),
        ("999999999999", "Reader"),
        (OTHER_ACCOUNT, "Reader"),
    ] {
        let refused = sso
            .get_role_credentials()
            .access_token(&tokens.access_token)
            .account_id(account)
            .role_name(role)
            .send()
            .await;
        assert_eq!(
            sso_code(refused),
            "ResourceNotFoundException",
            "{account} {role}"
        );
    }
    let refused = sso
        .list_account_roles()
        .access_token(&tokens.access_token)
        .account_id("999999999999")
        .send()
        .await;
    assert_eq!(sso_code(refused), "ResourceNotFoundException");
    let raw = p
        .raw(
            "GET",
            "/federation/credentials?account_id=123456789012",
            Some(&tokens.access_token),
        )
        .await;
    assert_eq!(
        (raw.status, raw.error_type.as_str()),
        (400, "InvalidRequestException"),
        "{}",
        raw.body
    );
    assert_eq!(raw.message(), "role_name is required.");
    let raw = p
        .raw(
            "GET",
            "/federation/credentials?account_id=123456789012&role_name=Admin",
            Some(&tokens.access_token),
        )
        .await;
    assert_eq!(
        (raw.status, raw.error_type.as_str()),
        (404, "ResourceNotFoundException")
    );
    assert_eq!(raw.message(), "No access to this role.");

    assert!(p.daemon.sessions().await.is_empty());
    let refusals: Vec<_> = p
        .daemon
        .audit()
        .await
        .into_iter()
        .filter(|e| e.event_name == "GetRoleCredentials")
        .collect();
    assert_eq!(
        refusals.len(),
        5,
        "every refused GetRoleCredentials is recorded"
    );
    assert!(
        refusals
            .iter()
            .all(|e| e.error_code.as_deref() == Some("ResourceNotFoundException"))
    );
    assert!(
        refusals
            .iter()
            .any(|e| e.request_parameters["roleName"] == "Admin")
    );
}

#[tokio::test]
async fn logout_answers_empty_and_records_the_logins_end() {
    let p = portal().await;
    let other = p.alice().await;
    let tokens = p.alice().await;
    let raw = p.raw("POST", "/logout", Some(&tokens.access_token)).await;
    assert_eq!((raw.status, raw.body.as_str()), (200, ""));
    let refused = p.raw("POST", "/logout", None).await;
    assert_eq!(refused.status, 401);
    // The login is revoked: its access token is refused from now on, on every call.
    let again = p.raw("POST", "/logout", Some(&tokens.access_token)).await;
    assert_eq!(again.status, 401, "{}", again.body);
    let sso = p.sso();
    let e = sso
        .list_accounts()
        .access_token(&tokens.access_token)
        .send()
        .await
        .expect_err("logged out");
    assert_eq!(
        aws_sdk_sso::error::ProvideErrorMetadata::code(&e),
        Some("UnauthorizedException")
    );
    // Another login of the same person is not affected, and the SDK's Logout answers too.
    sso.list_accounts()
        .access_token(&other.access_token)
        .send()
        .await
        .expect("another login");
    sso.logout()
        .access_token(&other.access_token)
        .send()
        .await
        .expect("Logout");

    let events = p.daemon.audit().await;
    let logout = events
        .iter()
        .find(|e| e.event_name == "Logout")
        .expect("the Logout event");
    assert_eq!(logout.error_code, None);
    assert_eq!(logout.request_parameters["via"], "sso");
    assert_eq!(logout.request_parameters["clientId"], "test-client");
    assert!(
        logout.request_parameters["loginId"]
            .as_str()
            .is_some_and(|id| id.starts_with('L'))
    );
    assert_eq!(logout.user_identity.user_name.as_deref(), Some("alice"));
}

#[tokio::test]
async fn a_daemon_without_a_public_url_serves_no_portal_api() {
    let daemon = Daemon::start(Setup::default()).await;
    let response = reqwest::Client::new()
        .get(format!("{}/sso/assignment/accounts", daemon.url))
        .header("x-amz-sso_bearer_token", "x")
        .send()
        .await
        .expect("response");
    assert_ne!(response.status().as_u16(), 200);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/xml"),
        "the STS endpoint answers, not the portal API"
    );
}

/// A SAML login: the roles are the assertion's `Role` pairs its trust policies admit, and the
/// credentials last the role's maximum capped by the assertion's `SessionDuration` (7200 s in
/// the fixture), issued with the provider the assertion grants the role with.
#[tokio::test]
async fn a_saml_login_takes_the_assertions_roles_for_its_session_duration() {
    use stsbridge::idp::saml::{SamlIdpSettings, SamlProvider, parse_metadata};
    use stsbridge::idp::{Expectations, IdpVerifier, SubjectCredential};

    const FIXTURE_NOW: u64 = 1_767_225_660;
    const PROVIDER: &str = "arn:aws:iam::123456789012:saml-provider/corp";
    let now = std::time::UNIX_EPOCH + Duration::from_secs(FIXTURE_NOW);
    let metadata = format!(
        "{}/tests/fixtures/saml/idp-metadata.xml",
        env!("CARGO_MANIFEST_DIR")
    );
    let saml_role = |name: &str, condition: serde_json::Value| {
        (
            name.to_owned(),
            serde_json::json!({
                "RoleName": name,
                "MaxSessionDuration": 43_200,
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Effect": "Allow",
                        "Principal": {"Federated": PROVIDER},
                        "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession"],
                        "Condition": condition
                    }]
                }
            })
            .to_string(),
        )
    };
    let daemon = Daemon::start(Setup {
        idps: vec![(
            "corp".to_owned(),
            format!("kind = \"saml\"\nmetadata_file = \"{metadata}\"\n"),
        )],
        roles: vec![
            saml_role("saml-admin", serde_json::json!({})),
            saml_role(
                "saml-readonly",
                serde_json::json!({"StringEquals": {"SAML:sub": "bob@example.com"}}),
            ),
        ],
        server: "public_url = \"http://{LISTEN}\"".to_owned(),
        clock: Arc::new(ManualClock::new(now)),
        ..Setup::default()
    })
    .await;

    let (_dir, store) = crate::support::scratch_store();
    let xml = std::fs::read_to_string(&metadata).expect("metadata");
    let provider = SamlProvider::new(
        SamlIdpSettings::new("corp", parse_metadata(&xml).expect("metadata")),
        store.replay,
    )
    .expect("provider");
    let identity = provider
        .verify(
            &SubjectCredential::SamlResponse(&crate::saml::fixture("response-signed.xml")),
            &Expectations::NONE,
            now,
        )
        .await
        .expect("the fixture verifies");
    let tokens = tokens(&keyring_of(&daemon), &login_of(&identity, now), now);
    let sso = aws_sdk_sso::Client::from_conf(
        aws_sdk_sso::Config::builder()
            .behavior_version(aws_sdk_sso::config::BehaviorVersion::latest())
            .region(aws_sdk_sso::config::Region::new("eu-central-1"))
            .endpoint_url(format!("{}/sso", daemon.url))
            .build(),
    );
    let roles = sso
        .list_account_roles()
        .access_token(&tokens.access_token)
        .account_id(ACCOUNT)
        .send()
        .await
        .expect("ListAccountRoles");
    let names: Vec<_> = roles
        .role_list()
        .iter()
        .filter_map(|r| r.role_name())
        .collect();
    assert_eq!(names, ["saml-admin"], "saml-readonly trusts bob only");

    let got = sso
        .get_role_credentials()
        .access_token(&tokens.access_token)
        .account_id(ACCOUNT)
        .role_name("saml-admin")
        .send()
        .await
        .expect("GetRoleCredentials");
    let creds = got.role_credentials().expect("roleCredentials");
    let key = creds.access_key_id().expect("accessKeyId");
    let fixture_now = i64::try_from(FIXTURE_NOW).expect("fits");
    assert_eq!(creds.expiration(), (fixture_now + 7200) * 1000);
    let record = daemon.session(key).await.expect("a durable record");
    assert_eq!(
        record.session.caller_arn,
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/saml-admin/alice@example.com")
    );
    assert_eq!(record.session.provider, PROVIDER);
    let event = daemon
        .audit()
        .await
        .into_iter()
        .find(|e| e.event_name == "GetRoleCredentials")
        .expect("the event");
    assert_eq!(event.user_identity.kind, "SAMLUser");
    assert_eq!(
        event.user_identity.identity_provider.as_deref(),
        Some(PROVIDER)
    );
}

/// botocore's `sso` client (the contract, as the AWS CLI and boto3 parse it) against the
/// daemon: `tests/botocore/sso_portal.py` pages both lists one at a time, takes credentials,
/// reads the model's errors and logs out.
#[tokio::test]
async fn botocore_pages_takes_credentials_and_reads_the_errors() {
    let p = portal().await;
    let tokens = p.alice().await;
    let now = stsbridge::clock::unix_seconds(p.clock.now());
    let empty = tempfile::NamedTempFile::new().expect("an empty AWS config");
    let mut command = crate::support::botocore::script("sso_portal.py");
    command
        .env("STSBRIDGE_SSO_ENDPOINT", format!("{}/sso", p.daemon.url))
        .env("STSBRIDGE_SSO_TOKEN", &tokens.access_token)
        .env("STSBRIDGE_SSO_ACCOUNT", ACCOUNT)
        .env("AWS_CONFIG_FILE", empty.path())
        .env("AWS_SHARED_CREDENTIALS_FILE", empty.path());
    let seen = crate::support::botocore::run(command).await;
    assert_eq!(
        seen["accounts"],
        serde_json::json!([
            [ACCOUNT, "Production <main>"],
            [OTHER_ACCOUNT, OTHER_ACCOUNT]
        ])
    );
    assert_eq!(
        seen["roles"],
        serde_json::json!([["Reader", ACCOUNT], ["Writer", ACCOUNT]])
    );
    assert!(
        seen["accessKeyId"]
            .as_str()
            .is_some_and(|k| k.starts_with("ASIA"))
    );
    assert_eq!(seen["expiration"], (now + 43_200) * 1000);
    assert_eq!(seen["unauthorized"][0], "UnauthorizedException");
    assert_eq!(seen["unauthorized"][1], 401);
    assert_eq!(seen["not_found"][0], "ResourceNotFoundException");
    assert_eq!(seen["not_found"][1], 404);
    assert_eq!(seen["not_found"][2], "No access to this role.");
    assert_eq!(seen["invalid"][0], "InvalidRequestException");
    assert_eq!(seen["invalid"][1], 400);
    let events = p.daemon.audit().await;
    assert!(events.iter().any(|e| e.event_name == "Logout"));
}
