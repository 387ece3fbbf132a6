//! The SDKs' own SSO machinery against the daemon, each in a process of its own with a home and
//! an AWS config of the test's (nothing of this machine's leaks in, nothing of the test's
//! leaks out):
//! - botocore's `sso-oidc` and `sso` clients drive RegisterClient, StartDeviceAuthorization,
//!   CreateToken and the listings, the person approving in the portal between;
//! - `stsbridge login --device --write-profile` signs in, writes botocore's token cache and the
//!   profile; then `boto3.Session(profile_name=...)` and the Rust SDK's default chain (the
//!   `sso_profile_caller` example) take role credentials from them and call GetCallerIdentity;
//! - with the cached access token about to expire, both refresh it with the refresh token by
//!   themselves (and write the cache back) before taking credentials.

use std::path::{Path, PathBuf};
use std::process::Command;

use stsbridge::clock::{Clock as _, SystemClock};

use crate::portal_login::{Browser, Portal, portal_with_two_roles_on};
use crate::sso_flows::{answer_device, consent};
use crate::sso_login::{
    cache_path, login_with_the_authorization_code_flow_writes_the_token_cache,
    login_with_the_device_flow_writes_the_token_cache, write_aws_config,
};
use crate::support::botocore;
use crate::support::daemon::ACCOUNT;

/// The Rust SDK's side: the `sso_profile_caller` example, built by `cargo test` next to the
/// test binary (`target/debug/examples/`).
fn rust_sdk_caller() -> Command {
    let exe = std::env::current_exe().expect("the test binary");
    let debug = exe.parent().and_then(Path::parent).expect("target/debug");
    let example = debug.join("examples").join("sso_profile_caller");
    assert!(
        example.is_file(),
        "{} is missing: `cargo test` builds it (or `cargo build --example sso_profile_caller`)",
        example.display()
    );
    let mut command = Command::new(example);
    for var in [
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_SSO",
        "AWS_ENDPOINT_URL_SSO_OIDC",
        "AWS_ENDPOINT_URL_STS",
    ] {
        command.env_remove(var);
    }
    command
}

/// The environment both SDKs run in: `home` (whose `.aws/sso/cache` is login's cache), the
/// config login wrote, no credentials file, STS at the daemon.
fn sdk_env(command: &mut Command, home: &Path, dir: &Path, url: &str) {
    command
        .env("HOME", home)
        .env("AWS_CONFIG_FILE", dir.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("no-credentials"))
        .env("AWS_ENDPOINT_URL_STS", url)
        .env("AWS_EC2_METADATA_DISABLED", "true");
}

async fn output(mut command: Command) -> String {
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Make the cached access token expire in a minute (inside every SDK's refresh window: 15
/// minutes for botocore, 5 for the Rust SDK): the old token.
fn expire_soon(cache: &Path) -> String {
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cache).expect("cache")).expect("JSON");
    let soon = SystemClock.now() + std::time::Duration::from_secs(60);
    json["expiresAt"] = serde_json::Value::String(stsbridge::clock::iso8601(soon));
    let old = json["accessToken"].as_str().expect("token").to_owned();
    std::fs::write(cache, serde_json::to_vec(&json).expect("JSON")).expect("write");
    old
}

fn access_token(cache: &Path) -> String {
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cache).expect("cache")).expect("JSON");
    json["accessToken"].as_str().expect("token").to_owned()
}

#[tokio::test]
async fn botocore_and_the_rust_sdk_sign_in_take_credentials_and_refresh_by_themselves() {
    let Portal { idp: _idp, daemon } =
        portal_with_two_roles_on(std::sync::Arc::new(SystemClock)).await;
    let url = daemon.url.clone();
    let mut browser = Browser::new(&url);

    // botocore's own clients through the device flow.
    let mut start = botocore::script("sso_check.py");
    start.args(["register-and-start", &url]);
    let started = botocore::run(start).await;
    let link = started["verificationUriComplete"].as_str().expect("link");
    let code = started["userCode"].as_str().expect("code");
    let done = answer_device(&mut browser, &url, (link, code), "botocore-check", "allow").await;
    assert!(
        done.body.contains("data-outcome=\"approved\""),
        "{}",
        done.body
    );
    let mut token = botocore::script("sso_check.py");
    token.args(["token", &url, &started.to_string()]);
    let seen = botocore::run(token).await;
    assert_eq!(seen["tokenType"], "Bearer");
    assert_eq!(seen["expiresIn"], 3600);
    assert_eq!(seen["hasRefreshToken"], true);
    assert_eq!(seen["accounts"], serde_json::json!([ACCOUNT]));
    assert_eq!(seen["roles"], serde_json::json!(["Reader", "Writer"]));

    // `stsbridge login` for a client without a login command.
    let dir = tempfile::tempdir().expect("tempdir");
    write_aws_config(dir.path(), &daemon);
    let args = [
        "--profile",
        "reader",
        "--account-id",
        ACCOUNT,
        "--role-name",
        "Reader",
        "--write-profile",
    ];
    let approve = async |link: &str, code: &str| {
        let done =
            answer_device(&mut browser, &url, (link, code), "stsbridge-login", "allow").await;
        assert!(
            done.body.contains("data-outcome=\"approved\""),
            "{}",
            done.body
        );
    };
    let (_cache, stanzas) =
        login_with_the_device_flow_writes_the_token_cache(&daemon, dir.path(), &args, approve)
            .await;
    assert!(stanzas.contains("[profile reader]"), "{stanzas}");
    let config = std::fs::read_to_string(dir.path().join("config")).expect("config");
    assert!(config.contains("sso_role_name = Reader"), "{config}");

    // Both SDKs find the token where they look for it: `~/.aws/sso/cache`.
    let home: PathBuf = dir.path().join("home");
    std::fs::create_dir_all(home.join(".aws/sso")).expect("home");
    std::os::unix::fs::symlink(dir.path().join("cache"), home.join(".aws/sso/cache"))
        .expect("cache link");
    let session_arn = format!("arn:aws:sts::{ACCOUNT}:assumed-role/Reader/alice@example.com");

    let mut boto = botocore::script("sso_check.py");
    boto.args(["profile", "reader"]);
    sdk_env(&mut boto, &home, dir.path(), &url);
    let caller = botocore::run(boto).await;
    assert_eq!(caller["arn"], session_arn.as_str());

    let mut rust = rust_sdk_caller();
    rust.arg("reader");
    sdk_env(&mut rust, &home, dir.path(), &url);
    assert_eq!(output(rust).await, session_arn);

    // The access token about to expire: each SDK refreshes it first, and writes it back.
    let cache = cache_path(dir.path());
    for sdk in ["botocore", "rust"] {
        let old = expire_soon(&cache);
        let caller = if sdk == "botocore" {
            let mut boto = botocore::script("sso_check.py");
            boto.args(["profile", "reader"]);
            sdk_env(&mut boto, &home, dir.path(), &url);
            botocore::run(boto).await["arn"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        } else {
            let mut rust = rust_sdk_caller();
            rust.arg("reader");
            sdk_env(&mut rust, &home, dir.path(), &url);
            // aws-config (1.8) refreshes through an SSO OIDC client that does not read the
            // profile's `services` section (its GetRoleCredentials client does): the variable
            // points it here, as the README says.
            rust.env("AWS_ENDPOINT_URL_SSO_OIDC", format!("{url}/sso-oidc"));
            output(rust).await
        };
        assert_eq!(caller, session_arn, "{sdk}");
        assert_ne!(access_token(&cache), old, "{sdk} refreshed the token");
    }
    let refreshes = daemon
        .audit()
        .await
        .into_iter()
        .filter(|e| {
            e.event_name == "CreateToken"
                && e.error_code.is_none()
                && e.request_parameters["grantType"] == "refresh_token"
        })
        .count();
    assert_eq!(refreshes, 2, "one silent refresh each");
}

/// `stsbridge login` without `--device`: the AWS CLI v2's authorization code flow with PKCE.
/// The browser opens the authorize URL login prints, signs in at the IdP through the portal,
/// allows the client, and is sent to login's loopback listener, which redeems the code; the
/// cached access token then lists the person's roles through the real SDK.
#[tokio::test]
async fn stsbridge_login_signs_in_with_the_authorization_code_flow() {
    let Portal { idp: _idp, daemon } =
        portal_with_two_roles_on(std::sync::Arc::new(SystemClock)).await;
    let url = daemon.url.clone();
    let dir = tempfile::tempdir().expect("tempdir");
    write_aws_config(dir.path(), &daemon);
    let mut browser = Browser::new(&url);
    let browse = async |authorize: reqwest::Url| {
        let location = consent(
            &mut browser,
            &url,
            authorize.as_str(),
            "stsbridge-login",
            "allow",
        )
        .await;
        assert!(location.starts_with("http://127.0.0.1:"), "{location}");
        let listener = reqwest::get(&location).await.expect("login's listener");
        assert_eq!(listener.status().as_u16(), 200);
    };
    let (cache, stanzas) = login_with_the_authorization_code_flow_writes_the_token_cache(
        &daemon,
        dir.path(),
        &[],
        browse,
    )
    .await;
    assert!(stanzas.contains("sso_role_name = Reader"), "{stanzas}");
    let sso = aws_sdk_sso::Client::from_conf(
        aws_sdk_sso::Config::builder()
            .behavior_version(aws_sdk_sso::config::BehaviorVersion::latest())
            .region(aws_sdk_sso::config::Region::new("eu-central-1"))
            .endpoint_url(format!("{url}/sso"))
            .build(),
    );
    let roles = sso
        .list_account_roles()
        .access_token(cache["accessToken"].as_str().expect("token"))
        .account_id(ACCOUNT)
        .send()
        .await
        .expect("ListAccountRoles");
    let names: Vec<_> = roles
        .role_list()
        .iter()
        .filter_map(|r| r.role_name())
        .collect();
    assert_eq!(names, ["Reader", "Writer"]);
}
