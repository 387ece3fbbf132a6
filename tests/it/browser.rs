//! The sign-in portal in a real browser: Debian's chromium, driven by playwright-core from
//! `tests/browser/portal.mjs`, signs in through the test IdP (keyboard only), checks the picker's
//! markup, picks a role and a duration, reads the console (live countdown, clipboard), switches
//! role and signs out revoking; and does it again without JavaScript. Then SAML: the IdP `adfs`
//! posts a Response signed at run time (`support::saml_signer`, for this daemon's `/saml`) from
//! a page of another origin, the browser picks a role and reaches the console, and signs out.
//! The credentials it copied to the clipboard are used here with the real AWS SDK while it
//! waits. `tests/browser/device.mjs` does `aws sso login`'s part: a device code typed on the
//! verification page and allowed, another denied, and the authorization code flow's consent
//! allowed to the CLI's loopback listener, while the real SDK polls and redeems here. Every
//! page is saved as a PNG in `target/browser-screenshots/` (or under `CARGO_TARGET_DIR`).

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stsbridge::clock::{Clock as _, ManualClock, Stopwatch, SystemClock};

use crate::portal_login::{
    Portal, portal_with_two_roles, portal_with_two_roles_and, portal_with_two_roles_on,
};
use crate::saml_signer::{SAML_IDP, provider, role_arn, saml_idp, saml_role};
use crate::sso_flows::{
    authorize_url, exception, oidc_client, pkce, poll, register_like_the_cli, start_device,
};
use crate::support::daemon::{ACCOUNT, code, signed_client};
use crate::support::saml_idp::TestSamlIdp;
use crate::support::saml_signer::{SamlResponse, SigningKey};

/// Where Debian's `chromium` package puts the browser; `STSBRIDGE_TEST_CHROMIUM` names another.
const CHROMIUM: &str = "/usr/bin/chromium";

/// The whole browser run at most (it takes a few seconds).
const RUN_LIMIT: Duration = Duration::from_secs(90);

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/browser/`: the script and its `node_modules`.
fn script_dir() -> PathBuf {
    manifest_dir().join("tests").join("browser")
}

fn chromium() -> PathBuf {
    std::env::var_os("STSBRIDGE_TEST_CHROMIUM")
        .map_or_else(|| PathBuf::from(CHROMIUM), PathBuf::from)
}

/// The screenshots' directory, `browser-screenshots` in the build's target directory.
fn screenshot_dir() -> PathBuf {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
    manifest_dir().join(target).join("browser-screenshots")
}

/// Every component the browser test needs that this machine lacks, as what to install. The test
/// fails on any (it never skips: a missing browser must not pass as a tested portal).
fn missing_components() -> Vec<String> {
    let mut missing = Vec::new();
    if !chromium().is_file() {
        missing.push(format!(
            "{} (Debian's `chromium` package: the README's first command installs it)",
            chromium().display()
        ));
    }
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|out| out.status.success()) {
        missing.push(
            "node (Debian's `nodejs` and `npm` packages: the README's first command)".to_owned(),
        );
    }
    if !script_dir()
        .join("node_modules")
        .join("playwright-core")
        .join("package.json")
        .is_file()
    {
        missing.push(
            "tests/browser/node_modules (run `npm ci --prefix tests/browser`, as .ci/run does)"
                .to_owned(),
        );
    }
    missing
}

/// The node process; killed if the test ends before it does.
struct Script {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Script {
    fn output(&self) -> String {
        let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
        format!(
            "--- stdout\n{}--- stderr\n{}",
            read(&self.stdout),
            read(&self.stderr)
        )
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Wait until `path` exists (the script writes it whole, by a rename) or, first, the script
/// ends: its exit status then. Without `path`: until the script ends.
async fn file_or_exit(
    script: &mut Script,
    path: Option<&Path>,
    started: &Stopwatch,
) -> Option<ExitStatus> {
    loop {
        if path.is_some_and(Path::exists) {
            return None;
        }
        if let Some(status) = script.child.try_wait().expect("try_wait") {
            return Some(status);
        }
        assert!(
            started.elapsed() < RUN_LIMIT,
            "the browser script did not finish in {RUN_LIMIT:?}\n{}",
            script.output()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The files the script and the test exchange, in a scratch directory: the copied
/// `credential_process` JSON, the ARN GetCallerIdentity answered with it, the switched role's
/// credentials; and the script's output.
struct Exchange {
    dir: tempfile::TempDir,
    credentials: PathBuf,
    caller: PathBuf,
    switched: PathBuf,
}

impl Exchange {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        Self {
            credentials: dir.path().join("credential-process.json"),
            caller: dir.path().join("caller-arn"),
            switched: dir.path().join("switched.json"),
            dir,
        }
    }
}

/// Start `node tests/browser/<script>` with `env` besides the screenshots' directory and the
/// browser; its output goes to `dir`.
fn start_node(script: &str, dir: &Path, env: &[(&str, OsString)]) -> Script {
    let stdout = dir.join("stdout");
    let stderr = dir.join("stderr");
    // Only what this test sets: nothing of another run's environment.
    let inherited = std::env::vars_os()
        .map(|(k, _)| k)
        .filter(|k| k.to_string_lossy().starts_with("STSBRIDGE_BROWSER_"));
    let mut command = Command::new("node");
    for name in inherited {
        command.env_remove(name);
    }
    let child = command
        .arg(script_dir().join(script))
        .current_dir(script_dir())
        .env("STSBRIDGE_BROWSER_SCREENSHOTS", screenshot_dir())
        .env("STSBRIDGE_BROWSER_CHROMIUM", chromium())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr).expect("stderr file"))
        .spawn()
        .expect("start node");
    Script {
        child,
        stdout,
        stderr,
    }
}

/// Fail (never skip) when this machine lacks a component of the browser tests.
fn require_components() {
    let missing = missing_components();
    assert!(
        missing.is_empty(),
        "the browser test needs: {}{}",
        missing.join("; "),
        if std::env::var_os("CI").is_some() {
            " (CI is set: the test fails rather than skip)"
        } else {
            ""
        }
    );
}

/// Start `node tests/browser/portal.mjs` on the portal at `url` (whose IdP `corp` the test IdP
/// serves), expecting `expect` (the script's `STSBRIDGE_BROWSER_EXPECT`), with `extra_env`
/// besides. The SAML scenario is run with `STSBRIDGE_BROWSER_SAML_RESPONSE` (a signed base64
/// Response whose Recipient is `<url>/saml`) and `STSBRIDGE_BROWSER_SAML_EXPECT` in `extra_env`,
/// the SP-initiated one with `STSBRIDGE_BROWSER_SAML_IDP` (the SAML IdP offered on the sign-in
/// page); without them they are not.
fn start_script(
    url: &str,
    expect: &serde_json::Value,
    exchange: &Exchange,
    extra_env: &[(&str, String)],
) -> Script {
    let mut env: Vec<(&str, OsString)> = vec![
        ("STSBRIDGE_BROWSER_URL", url.into()),
        ("STSBRIDGE_BROWSER_IDP", "corp".into()),
        ("STSBRIDGE_BROWSER_EXPECT", expect.to_string().into()),
        (
            "STSBRIDGE_BROWSER_CREDENTIALS_FILE",
            exchange.credentials.clone().into(),
        ),
        (
            "STSBRIDGE_BROWSER_CALLER_FILE",
            exchange.caller.clone().into(),
        ),
        (
            "STSBRIDGE_BROWSER_SWITCHED_FILE",
            exchange.switched.clone().into(),
        ),
    ];
    env.extend(extra_env.iter().map(|(k, v)| (*k, OsString::from(v))));
    start_node("portal.mjs", exchange.dir.path(), &env)
}

#[tokio::test]
async fn a_browser_signs_in_by_keyboard_copies_the_credentials_switches_role_and_signs_out() {
    require_components();
    // Besides the OIDC IdP `corp`, the SAML IdP `adfs`, whose two roles only SAML logins see;
    // its SingleSignOnService is served on `localhost`, another site than the daemon's
    // 127.0.0.1, so its POST to the assertion consumer is cross-site, as a real IdP's is.
    let saml_roles = ["SamlAdmin", "SamlReadOnly"];
    let test_saml_idp = TestSamlIdp::start(
        saml_roles
            .iter()
            .map(|name| (role_arn(name), provider()))
            .collect(),
    )
    .await;
    let p = portal_with_two_roles_and(
        vec![saml_idp(&format!(
            "sso_url = \"{}\"\n",
            test_saml_idp.sso_url("localhost")
        ))],
        saml_roles.iter().map(|name| saml_role(name)).collect(),
    )
    .await;
    let url = p.daemon.url.clone();
    test_saml_idp.set_acs_url(&format!("{url}/saml"));
    let exchange = Exchange::new();
    let (credentials_file, caller_file, switched_file) =
        (&exchange.credentials, &exchange.caller, &exchange.switched);
    let reader = format!("arn:aws:iam::{ACCOUNT}:role/Reader");
    let caller_arn = format!("arn:aws:sts::{ACCOUNT}:assumed-role/Reader/alice@example.com");
    let expect = serde_json::json!({
        "idpDisplayName": "Example Corp SSO",
        "identity": "alice@example.com",
        "accountName": "Production <main>",
        "accountId": ACCOUNT,
        "roles": [
            { "arn": reader, "name": "Reader" },
            { "arn": format!("arn:aws:iam::{ACCOUNT}:role/Writer"), "name": "Writer" },
        ],
        "callerArn": caller_arn,
    });

    // The IdP-initiated SAML login: a Response signed now for this portal, granting both.
    let mut saml_response = SamlResponse::new(&format!("{url}/saml"), SystemClock.now());
    saml_response.roles = saml_roles
        .iter()
        .map(|name| (role_arn(name), provider()))
        .collect();
    let saml_response = saml_response.sign_base64(&SigningKey::idp());
    let saml_expect = serde_json::json!({
        "identity": "alice@example.com",
        "accountName": "Production <main>",
        "accountId": ACCOUNT,
        "roles": [
            { "arn": role_arn("SamlAdmin"), "name": "SamlAdmin" },
            { "arn": role_arn("SamlReadOnly"), "name": "SamlReadOnly" },
        ],
    });

    let started = Stopwatch::start();
    let mut script = start_script(
        &url,
        &expect,
        &exchange,
        &[
            ("STSBRIDGE_BROWSER_SAML_RESPONSE", saml_response),
            ("STSBRIDGE_BROWSER_SAML_EXPECT", saml_expect.to_string()),
            ("STSBRIDGE_BROWSER_SAML_IDP", SAML_IDP.to_owned()),
        ],
    );

    // The credential_process JSON the browser copied from the console's clipboard button: a
    // real SDK call with it, whose answer the script waits for.
    let early = file_or_exit(&mut script, Some(credentials_file), &started).await;
    assert!(
        early.is_none(),
        "the browser script ended ({early:?}) before copying the credentials\n{}",
        script.output()
    );
    let copied: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(credentials_file).expect("credentials file"))
            .expect("credential_process JSON");
    assert_eq!(copied["Version"], 1);
    let sdk = signed_client(
        &url,
        copied["AccessKeyId"].as_str().expect("AccessKeyId"),
        copied["SecretAccessKey"].as_str().expect("SecretAccessKey"),
        copied["SessionToken"].as_str(),
    );
    let me = sdk
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity with the copied credentials");
    assert_eq!(me.arn(), Some(caller_arn.as_str()));
    let part = caller_file.with_extension("part");
    std::fs::write(&part, caller_arn.as_bytes()).expect("write caller");
    std::fs::rename(&part, caller_file).expect("rename caller");

    let done = file_or_exit(&mut script, None, &started).await;
    let elapsed = started.elapsed();
    assert!(
        done.is_some_and(|status| status.success()),
        "the browser script failed ({done:?})\n{}",
        script.output()
    );
    println!(
        "browser test: {} ms\n{}",
        elapsed.as_millis(),
        script.output()
    );

    // The SP-initiated login went through the IdP once, and its answer was taken.
    let answered = test_saml_idp.answered();
    assert_eq!(answered.len(), 1, "{answered:?}");

    // Signing out with "revoke" checked revoked the switched role's credentials.
    let switched: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(switched_file).expect("switched credentials"),
    )
    .expect("json");
    let sdk = signed_client(
        &url,
        switched["accessKeyId"].as_str().expect("key"),
        switched["secretAccessKey"].as_str().expect("secret"),
        switched["sessionToken"].as_str(),
    );
    let mut refused = String::new();
    for _ in 0..50 {
        refused = code(sdk.get_caller_identity().send().await);
        if refused != "<ok>" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(refused, "InvalidClientTokenId");

    for page in [
        "signin",
        "picker",
        "console",
        "signed-out",
        "error",
        "console-no-javascript",
        "saml-picker",
        "saml-console",
        "saml-sp-picker",
    ] {
        let png = std::fs::read(screenshot_dir().join(format!("{page}.png"))).expect("screenshot");
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{page}.png is a PNG");
    }
}

/// Browsers ask every site for `/favicon.ico` by themselves: the portal answers it (no icon),
/// rather than the STS endpoint refusing it as an API call, counted and logged as an error.
#[tokio::test]
async fn the_favicon_a_browser_asks_for_is_not_an_sts_call() {
    let p = portal_with_two_roles().await;
    let http = reqwest::Client::new();
    let icon = http
        .get(format!("{}/favicon.ico", p.daemon.url))
        .send()
        .await
        .expect("favicon");
    assert_eq!(icon.status(), 204);
    let metrics = http
        .get(format!("{}/metrics", p.daemon.url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        !metrics.contains("action=\"unknown\""),
        "counted as an STS request: {metrics}"
    );
    assert!(
        p.daemon.audit().await.is_empty(),
        "audited as an STS request"
    );
}

/// The AWS CLI's loopback listener of the authorization code flow, on `127.0.0.1:0`: records
/// the query of every request to `/oauth/callback` and answers "done".
struct Loopback {
    port: u16,
    seen: Arc<Mutex<Vec<HashMap<String, String>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Loopback {
    async fn start() -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        let app = axum::Router::new().route(
            "/oauth/callback",
            axum::routing::get(
                move |axum::extract::Query(query): axum::extract::Query<
                    HashMap<String, String>,
                >| {
                    let record = record.clone();
                    async move {
                        record.lock().expect("lock").push(query);
                        "done"
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        Self { port, seen, task }
    }

    fn callback(&self) -> String {
        format!("http://127.0.0.1:{}/oauth/callback", self.port)
    }

    fn seen(&self) -> Vec<HashMap<String, String>> {
        self.seen.lock().expect("lock").clone()
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `aws sso login` as a person does it, in chromium (`tests/browser/device.mjs`): the SDK
/// starts a device authorization and polls; the browser opens `/device`, signs in at the IdP,
/// types the code (lower case, no hyphen), checks the confirm page and allows; the SDK's next
/// poll after the interval gets the tokens. A second device code, opened by its link, is
/// denied: AccessDeniedException. Then the authorization code flow's consent, allowed: the
/// CLI's loopback listener gets the code, which CreateToken redeems with the PKCE verifier.
#[tokio::test]
async fn a_person_approves_a_terminals_device_code_in_a_real_browser() {
    require_components();
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let Portal { idp: _idp, daemon } = portal_with_two_roles_on(clock.clone()).await;
    let url = daemon.url.clone();
    let sso = oidc_client(&url);
    let approved = start_device(&sso, &url).await;
    let denied = start_device(&sso, &url).await;
    let pending = poll(&sso, &approved).await.expect_err("pending");
    assert_eq!(exception(&pending), "AuthorizationPendingException");

    let cli = register_like_the_cli(&sso, &url).await;
    let (verifier, challenge) = pkce(7);
    let loopback = Loopback::start().await;
    let callback = loopback.callback();
    let expect = serde_json::json!({
        "identity": "alice@example.com",
        "approve": { "userCode": approved.user_code, "clientName": "aws-cli-device" },
        "deny": {
            "userCode": denied.user_code,
            "clientName": "aws-cli-device",
            "complete": denied.complete,
        },
        "authorize": {
            "url": authorize_url(&url, &cli.id, loopback.port, "state-browser", &challenge),
            "callback": callback,
            "clientName": "botocore-client-test",
        },
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let approved_file = dir.path().join("approved");

    let started = Stopwatch::start();
    let mut script = start_node(
        "device.mjs",
        dir.path(),
        &[
            ("STSBRIDGE_BROWSER_URL", url.clone().into()),
            ("STSBRIDGE_BROWSER_DEVICE_EXPECT", expect.to_string().into()),
            (
                "STSBRIDGE_BROWSER_APPROVED_FILE",
                approved_file.clone().into(),
            ),
        ],
    );
    let early = file_or_exit(&mut script, Some(&approved_file), &started).await;
    assert!(
        early.is_none(),
        "the browser script ended ({early:?}) before approving the code\n{}",
        script.output()
    );
    // The terminal polls again after the interval (5 s): the tokens.
    clock.advance(Duration::from_secs(6));
    let tokens = poll(&sso, &approved)
        .await
        .expect("tokens after the approval");
    assert_eq!(tokens.token_type(), Some("Bearer"));
    assert_eq!(tokens.expires_in(), 3600);
    assert!(tokens.access_token().is_some_and(|t| !t.is_empty()));
    assert!(tokens.refresh_token().is_some_and(|t| !t.is_empty()));

    let done = file_or_exit(&mut script, None, &started).await;
    let elapsed = started.elapsed();
    assert!(
        done.is_some_and(|status| status.success()),
        "the browser script failed ({done:?})\n{}",
        script.output()
    );
    println!(
        "device browser test: {} ms\n{}",
        elapsed.as_millis(),
        script.output()
    );

    let refused = poll(&sso, &denied)
        .await
        .expect_err("denied in the browser");
    assert_eq!(exception(&refused), "AccessDeniedException", "{refused:?}");

    let seen = loopback.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        seen[0].get("state").map(String::as_str),
        Some("state-browser")
    );
    let code = seen[0].get("code").expect("a code on the callback");
    let redeemed = sso
        .create_token()
        .client_id(&cli.id)
        .client_secret(&cli.secret)
        .grant_type("authorization_code")
        .code(code)
        .redirect_uri(&callback)
        .code_verifier(&verifier)
        .send()
        .await
        .expect("CreateToken with the code the browser brought");
    assert_eq!(redeemed.token_type(), Some("Bearer"));
    assert!(redeemed.access_token().is_some_and(|t| !t.is_empty()));

    for page in [
        "device-code",
        "device-confirm",
        "device-approved",
        "device-denied",
        "device-authorize",
    ] {
        let png = std::fs::read(screenshot_dir().join(format!("{page}.png"))).expect("screenshot");
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{page}.png is a PNG");
    }
}
