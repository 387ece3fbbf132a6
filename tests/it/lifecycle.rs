//! Operating keys and users over time, with the real AWS SDK signing: `keys rotate` and `keys
//! retire` on a running daemon (the test clock passes the sessions' expiry) and on a stopped
//! one (the binary); `users delete`, `users keys deactivate|activate` with the last use,
//! `users policies set`, `users mfa disable`, `users revoke-sessions`; `--json` lists.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use stsbridge::admin::{AdminRequest, AdminResponse, KeyStatus};
use stsbridge::clock::{Clock as _, ManualClock, SystemClock, from_unix_seconds, iso8601};
use stsbridge::creds::totp;
use stsbridge::users::{KeyStatus as AccessKeyStatus, UserPolicy};

use crate::support::daemon::{ACCOUNT, Daemon, Setup, code, signed_client};

const INVALID_TOKEN_MESSAGE: &str = "The security token included in the request is invalid.";

struct Keys {
    id: String,
    secret: String,
}

/// alice may get federation tokens; `photos:Get*` for the federated user.
fn sts_policy() -> UserPolicy {
    UserPolicy {
        name: "sts".into(),
        document: json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["sts:GetFederationToken", "photos:Get*"], "Resource": "*"}
        ]})
        .to_string(),
    }
}

async fn create_user(d: &Daemon, name: &str, policies: Vec<UserPolicy>) -> Keys {
    let created = d
        .admin(AdminRequest::UsersCreate {
            name: name.into(),
            account_id: None,
            policies,
        })
        .await;
    assert!(matches!(created, AdminResponse::Users(_)), "{created:?}");
    match d
        .admin(AdminRequest::UsersKeysCreate { name: name.into() })
        .await
    {
        AdminResponse::NewAccessKey(k) => Keys {
            id: k.access_key_id,
            secret: k.secret_access_key.expose().to_owned(),
        },
        other => panic!("create key: {other:?}"),
    }
}

fn client(d: &Daemon, keys: &Keys) -> aws_sdk_sts::Client {
    signed_client(&d.url, &keys.id, &keys.secret, None)
}

fn session_client(d: &Daemon, creds: &aws_sdk_sts::types::Credentials) -> aws_sdk_sts::Client {
    signed_client(
        &d.url,
        creds.access_key_id(),
        creds.secret_access_key(),
        Some(creds.session_token()),
    )
}

async fn session_token(d: &Daemon, keys: &Keys) -> aws_sdk_sts::types::Credentials {
    client(d, keys)
        .get_session_token()
        .duration_seconds(900)
        .send()
        .await
        .expect("GetSessionToken")
        .credentials()
        .expect("credentials")
        .clone()
}

async fn federation_token(d: &Daemon, keys: &Keys) -> aws_sdk_sts::types::Credentials {
    client(d, keys)
        .get_federation_token()
        .name("fed-alice")
        .policy(
            json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "photos:*", "Resource": "*"}]})
            .to_string(),
        )
        .send()
        .await
        .expect("GetFederationToken")
        .credentials()
        .expect("credentials")
        .clone()
}

/// The AWS error code and message of a GetCallerIdentity signed by `client`, or `<ok>`.
async fn caller_identity(client: &aws_sdk_sts::Client) -> (String, String) {
    match client.get_caller_identity().send().await {
        Ok(_) => ("<ok>".into(), String::new()),
        Err(e) => {
            use aws_sdk_sts::error::ProvideErrorMetadata as _;
            (
                e.code().unwrap_or("<none>").to_owned(),
                e.message().unwrap_or_default().to_owned(),
            )
        }
    }
}

async fn keys(d: &Daemon) -> Vec<KeyStatus> {
    match d.admin(AdminRequest::KeysList).await {
        AdminResponse::Keys(keys) => keys,
        other => panic!("keys list: {other:?}"),
    }
}

async fn error(d: &Daemon, request: AdminRequest) -> String {
    match d.admin(request).await {
        AdminResponse::Error(e) => e,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn done(d: &Daemon, request: AdminRequest) -> String {
    match d.admin(request).await {
        AdminResponse::Done(m) => m,
        other => panic!("expected done, got {other:?}"),
    }
}

async fn show(d: &Daemon, name: &str) -> Value {
    match d.admin(AdminRequest::UsersShow { name: name.into() }).await {
        AdminResponse::Users(mut u) => u.remove(0),
        other => panic!("users show: {other:?}"),
    }
}

/// The hex id of the key that sealed a session token (in clear in its header).
fn token_key_id(token: &str) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token)
        .expect("base64 token");
    data_encoding::HEXLOWER.encode(&bytes[1..5])
}

fn event_names(events: &[stsbridge::audit::AuditEvent]) -> Vec<&str> {
    events.iter().map(|e| e.event_name.as_str()).collect()
}

/// Rotation on a running daemon: new sessions are sealed with the new key at once, old ones
/// still verify. Retirement of the old key re-seals the user's secret and MFA seed, is refused
/// (with the count and the last expiry) while its session is unexpired, and succeeds once the
/// daemon's clock passed that expiry; a restart then needs only the keys left.
#[tokio::test]
async fn keys_rotate_and_retire_on_a_running_daemon() {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let d = Daemon::start(Setup {
        clock: clock.clone(),
        ..Setup::default()
    })
    .await;
    let alice = create_user(&d, "alice", Vec::new()).await;
    let device = match d
        .admin(AdminRequest::UsersMfaEnable {
            name: "alice".into(),
        })
        .await
    {
        AdminResponse::NewMfaDevice(device) => device,
        other => panic!("{other:?}"),
    };
    let old = keys(&d).await[0].id.clone();
    let first = session_token(&d, &alice).await;
    assert_eq!(token_key_id(first.session_token()), old);

    let rotated = done(&d, AdminRequest::KeysRotate).await;
    assert!(rotated.contains(&old), "{rotated}");
    let listed = keys(&d).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    let new = listed[0].id.clone();
    assert!(listed[0].current && !listed[1].current);
    assert_ne!(new, old);
    assert_eq!(listed[1].id, old);
    assert_eq!(listed[1].live_sessions.count, 1);
    assert_eq!((listed[1].user_secrets, listed[1].mfa_seeds), (1, 1));
    let keyring_file = d.dir.path().join("data/keyring.json");
    let mode = std::fs::metadata(&keyring_file)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let file: Value = serde_json::from_slice(&std::fs::read(&keyring_file).unwrap()).unwrap();
    assert_eq!(file["current"]["id"], new.as_str());

    // A second later (the old key sealed everything up to the rotation's second).
    clock.advance(Duration::from_secs(2));
    let second = session_token(&d, &alice).await;
    assert_eq!(
        token_key_id(second.session_token()),
        new,
        "sealed with the new key at once"
    );
    assert_eq!(caller_identity(&session_client(&d, &first)).await.0, "<ok>");
    assert_eq!(
        caller_identity(&session_client(&d, &second)).await.0,
        "<ok>"
    );

    let current = error(
        &d,
        AdminRequest::KeysRetire {
            key_id: new.clone(),
        },
    )
    .await;
    assert!(current.contains("is the current sealing key"), "{current}");
    let unknown = error(
        &d,
        AdminRequest::KeysRetire {
            key_id: "0badc0de".into(),
        },
    )
    .await;
    assert!(unknown.contains("has no key 0badc0de"), "{unknown}");
    let refused = error(
        &d,
        AdminRequest::KeysRetire {
            key_id: old.clone(),
        },
    )
    .await;
    let expiry = d.session(first.access_key_id()).await.unwrap().expires_at;
    assert!(
        refused.contains("1 unexpired session token(s)")
            && refused.contains(&iso8601(from_unix_seconds(expiry))),
        "{refused}"
    );
    let listed = keys(&d).await;
    assert_eq!(
        (listed[1].user_secrets, listed[1].mfa_seeds),
        (0, 0),
        "the secrets were sealed again before the refusal"
    );
    assert_eq!((listed[0].user_secrets, listed[0].mfa_seeds), (1, 1));

    clock.set(from_unix_seconds(expiry + 1));
    let retired = done(
        &d,
        AdminRequest::KeysRetire {
            key_id: old.clone(),
        },
    )
    .await;
    assert!(retired.contains(&old), "{retired}");
    let listed = keys(&d).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, new);
    let names = d.audit().await;
    let names = event_names(&names);
    for name in ["RotateSealingKey", "ResealUserSecrets", "RetireSealingKey"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }

    // The store no longer asks for the retired key: the daemon starts with the keyring left.
    let d = Daemon::restart(d.stop().await).await;
    assert_eq!(caller_identity(&client(&d, &alice)).await.0, "<ok>");
    let (code, _) = caller_identity(&session_client(&d, &first)).await;
    assert_eq!(code, "InvalidClientTokenId", "its key is gone");
    let seed = data_encoding::BASE32_NOPAD
        .decode(device.secret_base32.expose().as_bytes())
        .unwrap();
    let with_mfa = client(&d, &alice)
        .get_session_token()
        .serial_number(&device.serial_number)
        .token_code(totp::code(&seed, totp::step_at(SystemClock.now())))
        .send()
        .await;
    assert!(
        with_mfa.is_ok(),
        "the re-sealed MFA seed opens: {with_mfa:?}"
    );
}

fn stsbridge(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stsbridge"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("running stsbridge")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// With the daemon stopped, the command line works on the store and keyring file directly:
/// `keys list`, `rotate`, `retire`, `users policies set FILE`, and the `--json` lists.
#[tokio::test]
async fn keys_and_lists_on_a_stopped_daemon() {
    let d = Daemon::start(Setup::default()).await;
    let alice = create_user(&d, "alice", vec![sts_policy()]).await;
    let session = session_token(&d, &alice).await;
    let dir = d.stop().await;
    let config = dir.path().join("stsbridge.toml");

    let listed = stsbridge(&config, &["keys", "list"]);
    assert!(listed.status.success(), "{listed:?}");
    let text = stdout(&listed);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains("current") && text.contains("1 user secret(s)"),
        "{text}"
    );
    let old = text.split_whitespace().next().unwrap().to_owned();
    assert!(stsbridge(&config, &["keys", "rotate"]).status.success());
    let text = stdout(&stsbridge(&config, &["keys", "list"]));
    assert_eq!(text.lines().count(), 2, "{text}");
    let new = text.split_whitespace().next().unwrap().to_owned();
    assert!(!text.contains("\"key\""), "never key material: {text}");

    let refused = stsbridge(&config, &["keys", "retire", &old]);
    assert_eq!(refused.status.code(), Some(1));
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.contains("1 unexpired session token(s)"),
        "{message}"
    );
    let current = stsbridge(&config, &["keys", "retire", &new]);
    assert_eq!(current.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&current.stderr).contains("current sealing key"));

    let policy = dir.path().join("read-only.json");
    std::fs::write(
        &policy,
        json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "photos:Get*", "Resource": "*"}]})
        .to_string(),
    )
    .unwrap();
    let set = stsbridge(
        &config,
        &[
            "users",
            "policies",
            "set",
            "alice",
            policy.to_str().unwrap(),
        ],
    );
    assert!(set.status.success(), "{set:?}");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{}").unwrap();
    let refused = stsbridge(
        &config,
        &["users", "policies", "set", "alice", bad.to_str().unwrap()],
    );
    assert_eq!(
        refused.status.code(),
        Some(1),
        "an invalid policy is refused"
    );

    let users = stsbridge(&config, &["users", "list", "--json"]);
    assert!(users.status.success(), "{users:?}");
    let text = stdout(&users);
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "one user, one line: {text}");
    assert_eq!(lines[0]["UserName"], "alice");
    assert_eq!(lines[0]["Policies"], json!(["read-only"]));
    assert_eq!(lines[0]["AccessKeys"][0]["AccessKeyId"], alice.id.as_str());
    assert!(!text.contains("sealed") && !text.contains(&alice.secret));

    let sessions = stsbridge(&config, &["sessions", "list", "--json"]);
    let text = stdout(&sessions);
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert_eq!(lines[0]["access_key_id"], session.access_key_id());
    assert!(!text.contains(session.secret_access_key()) && !text.contains(session.session_token()));

    // The daemon starts again on both keys; the old session still verifies.
    let d = Daemon::restart(dir).await;
    assert_eq!(
        caller_identity(&session_client(&d, &session)).await.0,
        "<ok>"
    );
    assert_eq!(keys(&d).await[0].id, new);
}

/// Deleting a user stops its key and the sessions it got (GetSessionToken,
/// GetFederationToken) at once; a second deletion is refused.
#[tokio::test]
async fn a_deleted_user_and_its_sessions_are_refused_at_once() {
    let d = Daemon::start(Setup::default()).await;
    let alice = create_user(&d, "alice", vec![sts_policy()]).await;
    let bob = create_user(&d, "bob", Vec::new()).await;
    let session = session_token(&d, &alice).await;
    let federated = federation_token(&d, &alice).await;
    assert_eq!(
        caller_identity(&session_client(&d, &federated)).await.0,
        "<ok>"
    );

    let deleted = done(
        &d,
        AdminRequest::UsersDelete {
            name: "alice".into(),
        },
    )
    .await;
    assert!(deleted.contains("1 access key"), "{deleted}");
    for signer in [
        client(&d, &alice),
        session_client(&d, &session),
        session_client(&d, &federated),
    ] {
        assert_eq!(
            caller_identity(&signer).await,
            ("InvalidClientTokenId".into(), INVALID_TOKEN_MESSAGE.into())
        );
    }
    assert_eq!(
        caller_identity(&client(&d, &bob)).await.0,
        "<ok>",
        "bob is untouched"
    );
    let again = error(
        &d,
        AdminRequest::UsersDelete {
            name: "alice".into(),
        },
    )
    .await;
    assert_eq!(again, "no user alice");
    match d.admin(AdminRequest::UsersList).await {
        AdminResponse::Users(users) => {
            assert_eq!(users.len(), 1);
            assert_eq!(users[0]["UserName"], "bob");
        }
        other => panic!("{other:?}"),
    }
    let events = d.audit().await;
    let delete = events
        .iter()
        .find(|e| e.event_name == "DeleteUser")
        .expect("audited");
    assert_eq!(delete.request_parameters["userName"], "alice");
    assert_eq!(
        delete.response_elements.as_ref().unwrap()["accessKeyIds"],
        json!([alice.id])
    );
    assert!(event_names(&events).contains(&"RevokeUserSessions"));
}

/// An inactive key is refused as AWS refuses it; activation restores it; each change once;
/// `users show` gives each key's status and last use.
#[tokio::test]
async fn keys_deactivate_and_activate_with_the_last_use_shown() {
    let d = Daemon::start(Setup::default()).await;
    let alice = create_user(&d, "alice", Vec::new()).await;
    assert_eq!(
        show(&d, "alice").await["AccessKeys"][0]["LastUsedDate"],
        Value::Null
    );
    assert_eq!(caller_identity(&client(&d, &alice)).await.0, "<ok>");
    let mut last_used = Value::Null;
    for _ in 0..100 {
        last_used = show(&d, "alice").await["AccessKeys"][0]["LastUsedDate"].clone();
        if !last_used.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(last_used.as_str().unwrap().ends_with('Z'), "{last_used}");

    let set = |name: &str, key: &str, status| AdminRequest::UsersKeysSetStatus {
        name: name.into(),
        access_key_id: key.into(),
        status,
    };
    done(&d, set("alice", &alice.id, AccessKeyStatus::Inactive)).await;
    assert_eq!(
        caller_identity(&client(&d, &alice)).await,
        ("InvalidClientTokenId".into(), INVALID_TOKEN_MESSAGE.into())
    );
    let shown = show(&d, "alice").await;
    assert_eq!(shown["AccessKeys"][0]["Status"], "Inactive");
    assert_eq!(shown["AccessKeys"][0]["LastUsedDate"], last_used);
    let twice = error(&d, set("alice", &alice.id, AccessKeyStatus::Inactive)).await;
    assert!(twice.contains("already Inactive"), "{twice}");
    let unknown_key = error(
        &d,
        set("alice", "AKIANOSUCHKEY0000000", AccessKeyStatus::Active),
    )
    .await;
    assert!(unknown_key.contains("has no access key"), "{unknown_key}");
    let unknown_user = error(&d, set("nobody", &alice.id, AccessKeyStatus::Active)).await;
    assert_eq!(unknown_user, "no user nobody");

    done(&d, set("alice", &alice.id, AccessKeyStatus::Active)).await;
    assert_eq!(caller_identity(&client(&d, &alice)).await.0, "<ok>");
    let twice = error(&d, set("alice", &alice.id, AccessKeyStatus::Active)).await;
    assert!(twice.contains("already Active"), "{twice}");
    let events = d.audit().await;
    let updates: Vec<&str> = events
        .iter()
        .filter(|e| e.event_name == "UpdateAccessKey")
        .map(|e| e.request_parameters["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        updates,
        ["Inactive", "Active"],
        "one event per change, none for a refusal"
    );
}

/// Replaced policies decide the next request; an invalid set changes nothing.
#[tokio::test]
async fn user_policies_are_replaced() {
    let d = Daemon::start(Setup::default()).await;
    let alice = create_user(&d, "alice", vec![sts_policy()]).await;
    federation_token(&d, &alice).await;
    let read_only = UserPolicy {
        name: "read-only".into(),
        document: json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "photos:Get*", "Resource": "*"}]})
        .to_string(),
    };
    let invalid = UserPolicy {
        name: "broken".into(),
        document: "{}".into(),
    };
    let set = |name: &str, policies| AdminRequest::UsersPoliciesSet {
        name: name.into(),
        policies,
    };
    let refused = error(&d, set("alice", vec![read_only.clone(), invalid])).await;
    assert!(refused.contains("policy broken"), "{refused}");
    assert_eq!(show(&d, "alice").await["Policies"], json!(["sts"]));
    assert_eq!(
        error(&d, set("nobody", vec![read_only.clone()])).await,
        "no user nobody"
    );
    done(&d, set("alice", vec![read_only])).await;
    assert_eq!(show(&d, "alice").await["Policies"], json!(["read-only"]));
    let denied = client(&d, &alice)
        .get_federation_token()
        .name("fed-alice")
        .send()
        .await;
    assert_eq!(code(denied), "AccessDenied");
    let events = d.audit().await;
    assert_eq!(
        events
            .iter()
            .filter(|e| e.event_name == "SetUserPolicies")
            .count(),
        1
    );
}

/// `users mfa disable` removes the device (codes are refused, a new one can be enabled);
/// `users revoke-sessions` refuses the sessions issued until then, not the key, not later
/// sessions.
#[tokio::test]
async fn mfa_disable_and_session_revocation() {
    let d = Daemon::start(Setup::default()).await;
    let alice = create_user(&d, "alice", Vec::new()).await;
    let serial = format!("arn:aws:iam::{ACCOUNT}:mfa/alice");
    let enable = || AdminRequest::UsersMfaEnable {
        name: "alice".into(),
    };
    let seed = match d.admin(enable()).await {
        AdminResponse::NewMfaDevice(device) => data_encoding::BASE32_NOPAD
            .decode(device.secret_base32.expose().as_bytes())
            .unwrap(),
        other => panic!("{other:?}"),
    };
    let disable = || AdminRequest::UsersMfaDisable {
        name: "alice".into(),
    };
    assert!(done(&d, disable()).await.contains(&serial));
    assert_eq!(show(&d, "alice").await["MFADevice"], Value::Null);
    let with_code = client(&d, &alice)
        .get_session_token()
        .serial_number(&serial)
        .token_code(totp::code(&seed, totp::step_at(SystemClock.now())))
        .send()
        .await;
    assert!(with_code.is_err(), "the removed device's codes are refused");
    assert_eq!(error(&d, disable()).await, "user alice has no MFA device");
    assert!(matches!(
        d.admin(enable()).await,
        AdminResponse::NewMfaDevice(_)
    ));

    let session = session_token(&d, &alice).await;
    let revoke = |name: &str| AdminRequest::UsersRevokeSessions { name: name.into() };
    assert!(matches!(
        d.admin(revoke("alice")).await,
        AdminResponse::Revoked(_)
    ));
    assert_eq!(
        caller_identity(&session_client(&d, &session)).await.0,
        "InvalidClientTokenId"
    );
    assert_eq!(
        caller_identity(&client(&d, &alice)).await.0,
        "<ok>",
        "the key still works"
    );
    // Revocation covers the sessions issued up to its second.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let later = session_token(&d, &alice).await;
    assert_eq!(caller_identity(&session_client(&d, &later)).await.0, "<ok>");
    assert_eq!(error(&d, revoke("nobody")).await, "no user nobody");
    let events = d.audit().await;
    let names = event_names(&events);
    assert!(names.contains(&"DeactivateMFADevice") && names.contains(&"RevokeUserSessions"));
}
