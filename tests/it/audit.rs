//! The audit trail for incident response and SIEMs: `audit list` filters, `--json`, `--follow`,
//! the export file, and who a refused or `GetCallerIdentity` request is recorded as.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use stsbridge::admin::{AdminRequest, AdminResponse};
use stsbridge::audit::AuditEvent;
use stsbridge::clock::{Clock, SystemClock, iso8601};

use crate::sts::{Fixture, fixture, idp_toml, roles};
use crate::support::daemon::{ACCOUNT, Daemon, Setup, code, signed_client};
use crate::support::idp::TestIdp;

/// `stsbridge --config CONFIG ARGS…`: exit code, stdout, stderr.
fn cli(config: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_stsbridge"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The events `audit list --json ARGS…` prints, one per line; every line must be one.
fn listed(config: &Path, args: &[&str]) -> Vec<AuditEvent> {
    let mut all = vec!["audit", "list", "--json"];
    all.extend(args);
    let (code, out, err) = cli(config, &all);
    assert_eq!(code, Some(0), "{args:?}: {err}");
    out.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
        .collect()
}

fn names(events: &[AuditEvent]) -> Vec<&str> {
    events.iter().map(|e| e.event_name.as_str()).collect()
}

/// Credentials of a session of `app` for `subject`, and a client signing with them.
async fn session(f: &Fixture, subject: &str) -> (String, aws_sdk_sts::Client) {
    let out = f.assume("app", "s1", &f.token(subject)).await.unwrap();
    let c = out.credentials().unwrap();
    let client = signed_client(
        &f.daemon.url,
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token()),
    );
    (c.access_key_id().to_owned(), client)
}

/// The trail of the incident-response tests: a session issued to `user-ada`, its
/// `GetCallerIdentity`, its revocation, then the same call refused; a call with a key nobody
/// issued. Returns the session's key id and the time before it all.
async fn incident(f: &Fixture) -> (String, String) {
    let start = iso8601(SystemClock.now());
    let (key, client) = session(f, "user-ada").await;
    assert_eq!(code(client.get_caller_identity().send().await), "<ok>");
    let revoked = f
        .daemon
        .admin(AdminRequest::SessionsRevoke { id: key.clone() })
        .await;
    assert!(matches!(revoked, AdminResponse::Revoked(_)), "{revoked:?}");
    assert_eq!(
        code(client.get_caller_identity().send().await),
        "InvalidClientTokenId"
    );
    let stranger = signed_client(
        &f.daemon.url,
        "ASIAUNKNOWNKEY000001",
        "not-a-secret-anyone-issued",
        Some("junk-session-token"),
    );
    assert_eq!(
        code(stranger.get_caller_identity().send().await),
        "InvalidClientTokenId"
    );
    (key, start)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_caller_identity_and_refused_keys_name_their_key() {
    let f = fixture().await;
    let (key, _) = incident(&f).await;
    let trail = f.daemon.audit().await;
    let calls: Vec<_> = trail
        .iter()
        .filter(|e| e.event_name == "GetCallerIdentity")
        .collect();
    assert_eq!(calls.len(), 3, "{trail:#?}");

    let identity = &calls[0].user_identity;
    assert_eq!(calls[0].error_code, None);
    assert_eq!(identity.kind, "AssumedRole");
    assert_eq!(
        identity.arn.as_deref(),
        Some(format!("arn:aws:sts::{ACCOUNT}:assumed-role/app/s1").as_str())
    );
    assert_eq!(identity.account_id.as_deref(), Some(ACCOUNT));
    assert_eq!(identity.access_key_id.as_deref(), Some(key.as_str()));
    let json = serde_json::to_value(calls[0]).unwrap();
    assert_eq!(json["userIdentity"]["accessKeyId"], key.as_str());
    assert_eq!(json["userIdentity"]["accountId"], ACCOUNT);

    let revoked = calls[1];
    assert_eq!(revoked.error_code.as_deref(), Some("InvalidClientTokenId"));
    assert_eq!(revoked.user_identity.kind, "Unknown");
    assert_eq!(
        revoked.user_identity.access_key_id.as_deref(),
        Some(key.as_str())
    );
    let unknown = calls[2];
    assert_eq!(unknown.error_code.as_deref(), Some("InvalidClientTokenId"));
    assert_eq!(
        unknown.user_identity.access_key_id.as_deref(),
        Some("ASIAUNKNOWNKEY000001")
    );
    let text = serde_json::to_string(unknown).unwrap();
    for secret in ["not-a-secret-anyone-issued", "junk-session-token"] {
        assert!(!text.contains(secret), "never a secret or token: {text}");
    }

    // An unsigned refusal names no key.
    let missing = f.assume("app", "s2", "not-a-token").await;
    assert_eq!(missing.unwrap_err(), "InvalidIdentityToken");
    let last = f.daemon.audit().await.pop().unwrap();
    assert_eq!(last.user_identity.access_key_id, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_list_filters_through_the_daemon_and_on_the_stopped_store() {
    let f = fixture().await;
    let (key, start) = incident(&f).await;
    let config = f.daemon.config_path.clone();

    let all = listed(&config, &[]);
    assert_eq!(
        names(&all),
        [
            "AssumeRoleWithWebIdentity",
            "GetCallerIdentity",
            "RevokeSession",
            "GetCallerIdentity",
            "GetCallerIdentity"
        ]
    );
    assert_eq!(
        all,
        f.daemon.audit().await,
        "--json prints the events whole"
    );
    assert_eq!(listed(&config, &["--limit", "2"]), all[3..]);

    let session_arn = format!("arn:aws:sts::{ACCOUNT}:assumed-role/app/s1");
    let queries: [(&[&str], &[usize]); 14] = [
        (&["--event", "GetCallerIdentity"], &[1, 3, 4]),
        (&["--event", "AssumeRole"], &[]),
        (&["--error-code", "InvalidClientTokenId"], &[3, 4]),
        (&["--error-code", "AccessDenied"], &[]),
        (&["--access-key-id", &key], &[0, 1, 2, 3]),
        (&["--access-key-id", "ASIAUNKNOWNKEY000001"], &[4]),
        (&["--access-key-id", "ASIANOBODY"], &[]),
        (&["--principal", "user-ada"], &[0]),
        (&["--principal", "user-bob"], &[]),
        (&["--principal", &session_arn], &[0, 1]),
        (
            &["--principal", &session_arn, "--event", "GetCallerIdentity"],
            &[1],
        ),
        (&["--since", &start], &[0, 1, 2, 3, 4]),
        (&["--since", "2999-01-01"], &[]),
        (&["--until", &start], &[]),
    ];
    for (args, expected) in queries {
        let want: Vec<_> = expected.iter().map(|&i| all[i].clone()).collect();
        assert_eq!(listed(&config, args), want, "{args:?}");
    }

    let (code, out, _) = cli(&config, &["audit", "list", "--event", "GetCallerIdentity"]);
    assert_eq!(code, Some(0));
    let lines: Vec<_> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].contains("  GetCallerIdentity  AssumedRole arn:aws:sts::"));
    assert!(lines[0].contains(&format!("key {key}")) && lines[0].ends_with(&all[1].request_id));
    assert!(lines[2].contains("InvalidClientTokenId: "), "{out}");
    assert!(!out.contains('{'), "text, not JSON: {out}");

    let (code, _, err) = cli(&config, &["audit", "list", "--event", "GetCallerIdentiy"]);
    assert_eq!(code, Some(2), "a usage error");
    assert!(
        err.contains("no audit event is named \"GetCallerIdentiy\"")
            && err.contains("GetCallerIdentity, "),
        "{err}"
    );
    let (code, _, err) = cli(&config, &["audit", "list", "--since", "yesterday"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("neither a date"), "{err}");
    let (code, _, err) = cli(
        &config,
        &[
            "audit",
            "list",
            "--since",
            "2026-09-02",
            "--until",
            "2026-09-01",
        ],
    );
    assert_eq!(code, Some(1));
    assert!(err.contains("is not before --until"), "{err}");

    let Fixture { daemon, idp } = f;
    let _dir = daemon.stop().await;
    drop(idp);
    released(&config);
    assert_eq!(listed(&config, &[]), all, "the stopped store's trail");
    assert_eq!(
        listed(&config, &["--error-code", "InvalidClientTokenId"]),
        all[3..]
    );
    let (code, _, err) = cli(&config, &["audit", "list", "--follow"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("--follow streams from the running daemon"),
        "{err}"
    );
}

/// Wait until the stopped daemon's store is free for another process.
fn released(config: &Path) {
    let settings = stsbridge::config::load(config).unwrap().settings;
    drop(stsbridge::store::open_when_released(&settings.storage, 100).unwrap());
}

/// A follower's stdout lines, read on a thread.
fn follower(config: &Path, args: &[&str]) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stsbridge"))
        .arg("--config")
        .arg(config)
        .args(["audit", "list", "--follow", "--json"])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    (child, received)
}

fn next_event(lines: &mpsc::Receiver<String>) -> AuditEvent {
    let line = lines
        .recv_timeout(Duration::from_secs(10))
        .expect("a line within 10 s");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"))
}

/// Wait for `child` to end (10 s at most); its exit code and stderr.
fn ended(mut child: Child) -> (Option<i32>, String) {
    for _ in 0..200 {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            return (status.code(), err);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("the follower did not end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_list_follow_streams_new_events_until_interrupted_or_the_daemon_stops() {
    let f = fixture().await;
    let (first, _) = session(&f, "user-ada").await;
    let config = f.daemon.config_path.clone();
    let (child, lines) = follower(&config, &["--event", "AssumeRoleWithWebIdentity"]);
    let history = next_event(&lines);
    assert_eq!(
        history.response_elements.unwrap()["credentials"]["accessKeyId"],
        first.as_str(),
        "the matching history first"
    );
    let (_, client) = session(&f, "user-bob").await;
    assert_eq!(code(client.get_caller_identity().send().await), "<ok>");
    let (second, _) = session(&f, "user-cy").await;
    let new = next_event(&lines);
    assert_eq!(new.user_identity.user_name.as_deref(), Some("user-bob"));
    let new = next_event(&lines);
    assert_eq!(
        new.response_elements.unwrap()["credentials"]["accessKeyId"],
        second.as_str(),
        "the GetCallerIdentity between is filtered out"
    );

    let (interrupted, interrupted_lines) = follower(&config, &[]);
    assert_eq!(
        next_event(&interrupted_lines).event_name,
        "AssumeRoleWithWebIdentity"
    );
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&interrupted),
        rustix::process::Signal::INT,
    )
    .unwrap();
    let (code, err) = ended(interrupted);
    assert_eq!(code, Some(0), "Ctrl-C ends it cleanly: {err}");

    let Fixture { daemon, idp } = f;
    let _dir = daemon.stop().await;
    drop(idp);
    let (code, err) = ended(child);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("the daemon stopped"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_file_gets_every_event_as_a_json_line() {
    let idp = TestIdp::start().await;
    let daemon = Daemon::start(Setup {
        idps: vec![("test".into(), idp_toml(idp.issuer()))],
        roles: roles(&idp.provider()),
        audit: "export_file = \"export/audit.jsonl\"".into(),
        ..Setup::default()
    })
    .await;
    let f = Fixture { idp, daemon };
    incident(&f).await;
    let file = f.daemon.dir.path().join("export").join("audit.jsonl");
    let listed = listed(&f.daemon.config_path, &[]);
    let (code, expected, _) = cli(&f.daemon.config_path, &["audit", "list", "--json"]);
    assert_eq!(code, Some(0));
    let mut exported = String::new();
    for _ in 0..100 {
        exported = std::fs::read_to_string(&file).unwrap();
        if exported.lines().count() >= listed.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        exported, expected,
        "the shape of audit list --json, line by line"
    );
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    // logrotate: rename, then reload. A reload refused for a broken file reopens it too.
    let rotated = file.with_extension("jsonl.1");
    std::fs::rename(&file, &rotated).unwrap();
    std::fs::write(f.daemon.dir.path().join("roles").join("broken.json"), "[").unwrap();
    match f.daemon.admin(AdminRequest::Reload).await {
        AdminResponse::Reloaded(report) => assert!(!report.applied, "{report:?}"),
        other => panic!("unexpected admin response {other:?}"),
    }
    f.assume("app", "after-rotation", &f.token("user-alice"))
        .await
        .unwrap();
    let mut fresh = String::new();
    for _ in 0..100 {
        fresh = std::fs::read_to_string(&file).unwrap_or_default();
        if fresh.contains("after-rotation") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(fresh.contains("after-rotation"), "{fresh}");
    assert!(
        !std::fs::read_to_string(&rotated)
            .unwrap()
            .contains("after-rotation")
    );
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// `sessions revoke --login ID` through the running daemon's admin socket: the SSO sign-in is
/// revoked (kept the longest a login lasts), audited, and in force in the store after the
/// daemon stops; an id that is no login id, and both forms at once, are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_revoke_login_revokes_an_sso_sign_in_through_the_daemon() {
    use stsbridge::store::Revocation;
    let daemon = Daemon::start(Setup::default()).await;
    let config = daemon.config_path.clone();
    let login = "L0123456789abcdef0123456789abcdef";

    let (code, out, err) = cli(&config, &["sessions", "revoke", "--login", login]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("\"kind\":\"login\"") && out.contains(login),
        "{out}"
    );
    let before = stsbridge::clock::unix_seconds(SystemClock.now());
    let other = "LFEDCBA9876543210";
    let revoked = daemon
        .admin(AdminRequest::SessionsRevokeLogin {
            login_id: other.into(),
        })
        .await;
    let AdminResponse::Revoked(Revocation::Login {
        login_id,
        expires_at,
    }) = revoked
    else {
        panic!("{revoked:?}");
    };
    assert_eq!(login_id, other);
    let ninety_days = 90 * 24 * 3600;
    assert!(
        (before + ninety_days..=before + ninety_days + 60).contains(&expires_at),
        "{expires_at}"
    );

    for bad in ["", "L0123/../x", "L 1", &"L".repeat(129)] {
        let (code, _, err) = cli(&config, &["sessions", "revoke", "--login", bad]);
        assert_eq!(code, Some(1), "{bad:?}");
        assert!(err.contains("is not a login id"), "{bad:?}: {err}");
    }
    let (code, _, err) = cli(
        &config,
        &["sessions", "revoke", "ASIAEXAMPLE", "--login", login],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("cannot be used with"), "{err}");
    let (code, _, err) = cli(&config, &["sessions", "revoke"]);
    assert_eq!(code, Some(2), "{err}");

    let revocations: Vec<_> = daemon
        .audit()
        .await
        .into_iter()
        .filter(|e| e.event_name == "RevokeSession")
        .map(|e| e.request_parameters["loginId"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        revocations,
        [Some(login.to_owned()), Some(other.to_owned())],
        "each revocation audited once, the refused ones not"
    );

    let _dir = daemon.stop().await;
    let settings = stsbridge::config::load(&config).unwrap().settings;
    let store = stsbridge::store::open_when_released(&settings.storage, 100).unwrap();
    let now = SystemClock.now();
    assert!(store.login_refused(login, now));
    assert!(store.login_refused(other, now));
    assert!(!store.login_refused("LNOTREVOKED", now));
    assert_eq!(store.revocations.list().await.unwrap().len(), 2);
}
