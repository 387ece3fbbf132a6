//! Hostile clients and faults: what a stranger's request may cost, and what signed requests may
//! not smuggle in.

use std::time::Duration;

use aws_sigv4::http_request::SignableBody;
use stsbridge::clock::Clock as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::sts::{Fixture, fixture, presigned_url, role_arn};

async fn credentials(f: &Fixture, session: &str) -> aws_sdk_sts::types::Credentials {
    f.assume("app", session, &f.token("user-mallory"))
        .await
        .expect("credentials")
        .credentials()
        .unwrap()
        .clone()
}

fn xml_code(body: &str) -> String {
    let start = body.find("<Code>").map(|i| i + 6).unwrap_or(0);
    let end = body.find("</Code>").unwrap_or(start);
    body[start..end].to_owned()
}

#[tokio::test]
async fn a_presigned_url_takes_its_parameters_from_the_signed_query_only() {
    let f = fixture().await;
    let creds = credentials(&f, "presigner").await;
    let url = presigned_url(&f, &creds, "sts", SignableBody::UnsignedPayload);
    let before = f.daemon.sessions().await.len();
    let hijack = format!(
        "Action=AssumeRole&Version=2011-06-15&RoleArn={}&RoleSessionName=hijack",
        role_arn("guarded")
    );
    let response = reqwest::Client::new()
        .post(url.clone())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(hijack)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        xml_code(&response.text().await.unwrap()),
        "InvalidParameterCombination"
    );
    assert_eq!(f.daemon.sessions().await.len(), before, "nothing issued");
    // The URL itself, as signed, still works.
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200);
}

/// botocore's `generate_presigned_url("get_caller_identity")`, the JS SDK's
/// `SignatureV4.presign` and aws-sdk-go v1 sign a presigned STS request with the SHA-256 of its
/// empty body; AWS accepts those, and so must this service.
#[tokio::test]
async fn sdk_presigned_urls_signed_over_the_empty_body_are_accepted() {
    let f = fixture().await;
    let creds = credentials(&f, "sdk-presign").await;
    let url = presigned_url(&f, &creds, "sts", SignableBody::Bytes(b""));
    let response = reqwest::get(url.clone()).await.unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<GetCallerIdentityResult>"), "{body}");
    // Signed over the empty body, so a body is not covered: posting one is refused.
    let response = reqwest::Client::new()
        .post(url)
        .body("Action=GetCallerIdentity&Version=2011-06-15")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn requests_signed_for_another_service_are_refused() {
    let f = fixture().await;
    let creds = credentials(&f, "wrong-scope").await;
    for service in ["s3", "photos", "STS"] {
        let url = presigned_url(&f, &creds, service, SignableBody::UnsignedPayload);
        let response = reqwest::get(url).await.unwrap();
        assert_eq!(response.status(), 403, "{service}");
        assert_eq!(
            xml_code(&response.text().await.unwrap()),
            "SignatureDoesNotMatch",
            "{service}"
        );
    }
}

#[tokio::test]
async fn a_head_request_issues_nothing() {
    let f = fixture().await;
    let url = format!(
        "{}/?Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn={}&RoleSessionName=head&WebIdentityToken={}",
        f.daemon.url,
        role_arn("app"),
        f.token("user-head")
    );
    let response = reqwest::Client::new().head(&url).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert!(f.daemon.sessions().await.is_empty(), "no session minted");
    // GET with the same query is accepted, as AWS accepts it.
    let response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(f.daemon.sessions().await.len(), 1);
}

/// A broken chunked body is the client's fault (400), not a body over the limit (413).
#[tokio::test]
async fn a_malformed_chunked_body_is_a_bad_request() {
    let f = fixture().await;
    let mut stream = tokio::net::TcpStream::connect(f.daemon.addr).await.unwrap();
    stream
        .write_all(
            b"POST / HTTP/1.1\r\nHost: sts\r\nContent-Type: application/x-www-form-urlencoded\r\n\
              Transfer-Encoding: chunked\r\n\r\nZZ-not-hex\r\nAction=GetCallerIdentity\r\n0\r\n\r\n",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.contains("<Code>MalformedQueryString</Code>"),
        "{answer}"
    );
}

/// A control character in an echoed value would make the answer XML no SDK parses: the token is
/// refused before anything is issued, and a validation error quoting one still parses.
#[tokio::test]
async fn control_characters_never_reach_an_answer() {
    let f = fixture().await;
    let now = stsbridge::clock::unix_seconds(stsbridge::clock::SystemClock.now());
    let token = f.idp.token(&serde_json::json!({
        "iss": f.idp.issuer(), "sub": "user-\u{1}\u{1b}[31m", "aud": "client-a",
        "iat": now, "exp": now + 600,
    }));
    assert_eq!(
        f.assume("app", "ctl", &token).await.unwrap_err(),
        "InvalidIdentityToken"
    );
    assert!(f.daemon.sessions().await.is_empty(), "nothing issued");
    // The SDK parses the error that quotes the offending session name.
    assert_eq!(
        f.assume("app", "bad\u{1}name", &f.token("user-ctl"))
            .await
            .unwrap_err(),
        "ValidationError"
    );
}

#[tokio::test]
async fn session_tag_keys_may_not_use_the_aws_prefix() {
    let f = fixture().await;
    let creds = credentials(&f, "tagger").await;
    let client = crate::support::daemon::signed_client(
        &f.daemon.url,
        creds.access_key_id(),
        creds.secret_access_key(),
        Some(creds.session_token()),
    );
    let tag = aws_sdk_sts::types::Tag::builder()
        .key("aws:team")
        .value("x")
        .build()
        .unwrap();
    let refused = client
        .assume_role()
        .role_arn(role_arn("app"))
        .role_session_name("tags")
        .tags(tag)
        .send()
        .await;
    assert_eq!(crate::support::daemon::code(refused), "ValidationError");
}

/// A role's sessions die with the role: removed from the configuration, its sessions are
/// refused, also when they would chain into a role that trusts it by name; created again under
/// the same ARN it is another role (another unique id), and the old sessions stay refused. A
/// role that stays keeps its id across restarts, and so its sessions.
#[tokio::test]
async fn the_sessions_of_a_removed_role_are_refused_even_if_it_comes_back() {
    let f = fixture().await;
    let app = credentials(&f, "doomed").await;
    let guarded = f
        .assume("guarded", "kept", &f.token("user-kept"))
        .await
        .expect("credentials")
        .credentials()
        .unwrap()
        .clone();
    let caller = |url: &str, c: &aws_sdk_sts::types::Credentials| {
        crate::support::daemon::signed_client(
            url,
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token()),
        )
    };
    caller(&f.daemon.url, &app)
        .get_caller_identity()
        .send()
        .await
        .expect("the session works while its role exists");

    let Fixture { idp, daemon } = f;
    let app_file = daemon.dir.path().join("roles/app.json");
    let app_role = std::fs::read_to_string(&app_file).unwrap();
    let dir = daemon.stop().await;
    std::fs::remove_file(&app_file).unwrap();
    let daemon = crate::support::daemon::Daemon::restart(dir).await;
    let identity = caller(&daemon.url, &app).get_caller_identity().send().await;
    assert_eq!(
        crate::support::daemon::code(identity),
        "InvalidClientTokenId"
    );
    caller(&daemon.url, &guarded)
        .get_caller_identity()
        .send()
        .await
        .expect("a role that stays keeps its sessions across a restart");

    let dir = daemon.stop().await;
    std::fs::write(&app_file, app_role).unwrap();
    let f = Fixture {
        idp,
        daemon: crate::support::daemon::Daemon::restart(dir).await,
    };
    let identity = caller(&f.daemon.url, &app)
        .get_caller_identity()
        .send()
        .await;
    assert_eq!(
        crate::support::daemon::code(identity),
        "InvalidClientTokenId",
        "the role created again is another role"
    );
    let fresh = credentials(&f, "reborn").await;
    caller(&f.daemon.url, &fresh)
        .get_caller_identity()
        .send()
        .await
        .expect("the new role's sessions work");
}

/// Revoking the sessions of a role that is not configured (a typo, another case) would print
/// "revoked" and protect nothing: it is refused, unless forced for a role already removed.
#[tokio::test]
async fn revoking_the_sessions_of_an_unknown_role_is_refused_unless_forced() {
    use stsbridge::admin::{AdminRequest, AdminResponse};
    let f = fixture().await;
    for typo in [
        role_arn("App"),
        role_arn("ap"),
        "arn:aws:iam::123456789012:role/x".into(),
    ] {
        let answer = f
            .daemon
            .admin(AdminRequest::RolesRevokeSessions {
                role_arn: typo.clone(),
                force: false,
            })
            .await;
        assert!(
            matches!(&answer, AdminResponse::Error(e) if e.contains("--force")),
            "{typo}: {answer:?}"
        );
    }
    let forced = f
        .daemon
        .admin(AdminRequest::RolesRevokeSessions {
            role_arn: role_arn("removed-yesterday"),
            force: true,
        })
        .await;
    assert!(matches!(forced, AdminResponse::Revoked(_)), "{forced:?}");
    let audit = f.daemon.audit().await;
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.event_name == "RevokeRoleSessions")
            .count(),
        1,
        "only the forced revocation is recorded"
    );
}

/// Start a daemon on `dir` (its config, store and keyring) and return how `run` ended: an error
/// before serving, or `Ok` once it served and was stopped.
async fn start_on(dir: &std::path::Path) -> Result<(), String> {
    let config = stsbridge::config::load(&dir.join("stsbridge.toml")).expect("config");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    stsbridge::run(
        config,
        listener,
        stsbridge::RunOptions::default(),
        std::sync::Arc::new(stsbridge::clock::SystemClock),
        tokio::time::sleep(Duration::from_millis(300)),
    )
    .await
    .map_err(|e| e.to_string())
}

/// A deleted keyring used to be created anew silently: every user key, MFA seed and live
/// session then failed, request by request. The start is refused instead, naming the key ids and
/// the file, and so is a start with another keyring; the right file back, it starts.
#[tokio::test]
async fn a_lost_or_replaced_keyring_refuses_the_start() {
    use stsbridge::admin::{AdminRequest, AdminResponse};
    let f = fixture().await;
    credentials(&f, "live").await;
    let created = f
        .daemon
        .admin(AdminRequest::UsersCreate {
            name: "carol".into(),
            account_id: None,
            policies: Vec::new(),
        })
        .await;
    assert!(matches!(created, AdminResponse::Users(_)), "{created:?}");
    let key = f
        .daemon
        .admin(AdminRequest::UsersKeysCreate {
            name: "carol".into(),
        })
        .await;
    assert!(matches!(key, AdminResponse::NewAccessKey(_)), "{key:?}");
    let Fixture { idp: _idp, daemon } = f;
    let dir = daemon.stop().await;
    let keyring_file = dir.path().join("data/keyring.json");
    let original = std::fs::read(&keyring_file).unwrap();
    let key_id = stsbridge::creds::Keyring::load(&keyring_file)
        .unwrap()
        .current_key_id();

    std::fs::remove_file(&keyring_file).unwrap();
    let refused = start_on(dir.path()).await.unwrap_err();
    assert!(refused.contains(&key_id), "{refused}");
    assert!(refused.contains("keyring.json"), "{refused}");
    assert!(refused.contains("carol"), "{refused}");
    assert!(
        !keyring_file.exists(),
        "no keyring was created in its place"
    );

    let other = stsbridge::creds::Keyring::generate(stsbridge::clock::SystemClock.now()).unwrap();
    other.save(&keyring_file).unwrap();
    let refused = start_on(dir.path()).await.unwrap_err();
    assert!(refused.contains(&key_id), "{refused}");

    std::fs::remove_file(&keyring_file).unwrap();
    {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&keyring_file)
            .unwrap();
        file.write_all(&original).unwrap();
    }
    start_on(dir.path())
        .await
        .expect("the right keyring starts");
}

/// `stsbridge users show NAME | head -1` panicked on the broken pipe: no command may. The
/// reader closes its end before the command writes; the command ends quietly.
#[test]
fn a_command_whose_reader_went_away_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for i in 0..200 {
        let file = dir.path().join(format!("policy-{i}.json"));
        std::fs::write(
            &file,
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#,
        )
        .unwrap();
        files.push(file);
    }
    for _ in 0..3 {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_stsbridge"))
            .args(["policy", "validate"])
            .args(&files)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(output.status.code(), Some(0), "{stderr}");
    }
}

/// A tmpfs of its own, mounted for the test and unmounted when dropped. Mounting needs root
/// (CI runs as root); on CI a machine that cannot mount fails the test rather than skip it.
struct SmallFilesystem {
    dir: tempfile::TempDir,
}

impl SmallFilesystem {
    fn mount(size_mb: u64) -> Option<SmallFilesystem> {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size_mb}m,mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .status();
        match status {
            Ok(s) if s.success() => Some(SmallFilesystem { dir }),
            other => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "cannot mount a tmpfs for the disk-full test ({other:?}): CI must run as root"
                );
                eprintln!(
                    "skipping the disk-full test outside CI: cannot mount a tmpfs ({other:?})"
                );
                None
            }
        }
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    fn free_bytes(&self) -> u64 {
        let stat = rustix::fs::statvfs(self.path()).unwrap();
        stat.f_bavail * stat.f_frsize
    }
}

impl Drop for SmallFilesystem {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

/// Below the free-space floor, requests that must write are refused with 503 ServiceUnavailable
/// (AWS XML) before the filesystem fills, /readyz says why, nothing is stored; once space is back
/// the service resumes by itself; and the daemon still stops promptly.
#[tokio::test]
async fn a_full_disk_refuses_writes_and_recovers_by_itself() {
    let Some(disk) = SmallFilesystem::mount(48) else {
        return;
    };
    let idp = crate::support::idp::TestIdp::start().await;
    let roles = crate::sts::roles(&idp.provider());
    let daemon = crate::support::daemon::Daemon::start(crate::support::daemon::Setup {
        idps: vec![("test".into(), crate::sts::idp_toml(idp.issuer()))],
        roles,
        storage_path: Some(disk.path().join("sled")),
        min_free_mb: 16,
        ..Default::default()
    })
    .await;
    let f = Fixture { idp, daemon };
    credentials(&f, "before").await;
    let stored = f.daemon.sessions().await.len();

    // Fill the filesystem until 8 MiB are left, below the 16 MiB floor.
    let filler = disk.path().join("filler");
    let fill = disk.free_bytes().saturating_sub(8 * 1024 * 1024);
    std::fs::write(&filler, vec![0u8; usize::try_from(fill).unwrap()]).unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;

    let refused = f.assume("app", "full", &f.token("user-full")).await;
    assert_eq!(refused.unwrap_err(), "ServiceUnavailable");
    let readyz = reqwest::get(format!("{}/readyz", f.daemon.url))
        .await
        .unwrap();
    assert_eq!(readyz.status(), 503);
    let readiness: serde_json::Value = serde_json::from_str(&readyz.text().await.unwrap()).unwrap();
    assert_eq!(readiness["store"]["writable"], false, "{readiness}");
    assert!(
        readiness["problems"][0]
            .as_str()
            .unwrap()
            .contains("below the floor"),
        "{readiness}"
    );
    let health = reqwest::get(format!("{}/healthz", f.daemon.url))
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "still alive");
    assert_eq!(f.daemon.sessions().await.len(), stored, "nothing stored");

    std::fs::remove_file(&filler).unwrap();
    let mut resumed = false;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if f.assume("app", "back", &f.token("user-back")).await.is_ok() {
            resumed = true;
            break;
        }
    }
    assert!(resumed, "service resumes once space is back");
    let readyz = reqwest::get(format!("{}/readyz", f.daemon.url))
        .await
        .unwrap();
    assert_eq!(readyz.status(), 200);

    let Fixture { idp: _idp, daemon } = f;
    tokio::time::timeout(Duration::from_secs(20), daemon.stop())
        .await
        .expect("the daemon stops promptly");
    drop(disk);
}

/// Slowloris and idle floods: more idle connections than the cap, half-sent heads, slow bodies.
/// A fresh client is still served at once; idle and half-sent connections are closed by the
/// timeouts; a body that stalls gets `RequestTimeout`.
#[tokio::test]
async fn idle_and_slow_connections_cannot_keep_a_client_out() {
    let idp = crate::support::idp::TestIdp::start().await;
    let daemon = crate::support::daemon::Daemon::start(crate::support::daemon::Setup {
        idps: vec![("test".into(), crate::sts::idp_toml(idp.issuer()))],
        roles: crate::sts::roles(&idp.provider()),
        server: "max_connections = 20\nheader_timeout_seconds = 2\nidle_timeout_seconds = 3\n\
                 body_timeout_seconds = 2"
            .into(),
        ..Default::default()
    })
    .await;
    let f = Fixture { idp, daemon };
    let addr = f.daemon.addr;

    // 60 connections that never send a byte, and 20 that send half a request head.
    let mut idle = Vec::new();
    for _ in 0..60 {
        idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    let mut half = Vec::new();
    for _ in 0..20 {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"POST / HTTP/1.1\r\nHost: sts\r\nX-Slow: ")
            .await
            .unwrap();
        half.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    // A fresh client, well within the header timeout: served.
    let served = tokio::time::timeout(
        Duration::from_secs(2),
        f.assume("app", "fresh", &f.token("user-fresh")),
    )
    .await
    .expect("a fresh client is served at once");
    served.expect("credentials");
    let health = tokio::time::timeout(
        Duration::from_secs(2),
        reqwest::get(format!("{}/healthz", f.daemon.url)),
    )
    .await
    .expect("served at once")
    .unwrap();
    assert_eq!(health.status(), 200);

    // Every idle or half-sent connection still open is closed by the timeouts.
    let closed = |mut stream: tokio::net::TcpStream| async move {
        let mut buf = [0u8; 512];
        matches!(
            tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await,
            Ok(Ok(_) | Err(_))
        )
    };
    for stream in idle.into_iter().chain(half) {
        assert!(closed(stream).await, "a stalled connection stays open");
    }

    // A body that never comes is answered RequestTimeout, not waited for.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"POST / HTTP/1.1\r\nHost: sts\r\nContent-Type: application/x-www-form-urlencoded\r\n\
              Content-Length: 100\r\n\r\nAction=Get",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("<Code>RequestTimeout</Code>"), "{answer}");
}

/// Bytes the files under `dir` take on disk (allocated blocks, as `du` counts).
fn disk_usage(dir: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    let mut total = 0;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let meta = entry.metadata().unwrap();
        total += if meta.is_dir() {
            disk_usage(&entry.path())
        } else {
            meta.blocks() * 512
        };
    }
    total
}

/// The issue's reproduction: 400 POSTs with a 250 KB junk parameter grew the store by 282 MiB.
/// Here the body is as large as the endpoint accepts, with a long session name and token, and
/// the user agent is long too. Each refusal is now recorded with the action's own parameters
/// only, every value cut and marked, in an event under 1 KiB; the store grows by a few hundred
/// bytes per request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_refused_request_costs_at_most_about_a_kibibyte() {
    let f = fixture().await;
    let data = f.daemon.dir.path().join("data");
    let junk = "J".repeat(80_000);
    let body = format!(
        "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=x&Junk={junk}\
         &RoleSessionName={junk}&WebIdentityToken={junk}"
    );
    let agent = "A".repeat(30_000);
    let client = reqwest::Client::new();
    let before = disk_usage(&data);
    let requests = 400;
    for _ in 0..requests {
        let response = client
            .post(&f.daemon.url)
            .header("user-agent", &agent)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
    }
    let grown = disk_usage(&data).saturating_sub(before);
    assert!(
        grown < 2 * 1024 * 1024,
        "{requests} refused requests grew the store by {grown} bytes"
    );
    let events = f.daemon.audit().await;
    assert_eq!(events.len(), requests);
    for event in &events {
        let stored = serde_json::to_vec(event).unwrap();
        assert!(stored.len() <= 1024, "an event of {} bytes", stored.len());
        assert_eq!(event.error_code.as_deref(), Some("ValidationError"));
        let parameters = event.request_parameters.as_object().unwrap();
        assert!(!parameters.contains_key("junk"), "{parameters:?}");
        assert!(
            !parameters.contains_key("webIdentityToken"),
            "never a token: {parameters:?}"
        );
        let name = parameters["roleSessionName"].as_str().unwrap();
        assert!(name.ends_with("…[79872 more characters]"), "{name}");
        let agent = event.user_agent.as_deref().unwrap();
        assert!(agent.ends_with("…[29872 more characters]"), "{agent}");
    }
}

/// `stsbridge audit prune --before DATE` against the running daemon deletes what is older,
/// records that it did, and refuses a time in the future or a date it cannot read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_prune_deletes_what_is_older_and_records_it() {
    let f = fixture().await;
    credentials(&f, "before-the-cut").await;
    let first = f.daemon.audit().await;
    assert_eq!(first.len(), 1);
    let cut =
        stsbridge::clock::iso8601(stsbridge::clock::SystemClock.now() + Duration::from_secs(2));
    tokio::time::sleep(Duration::from_secs(3)).await;
    credentials(&f, "after-the-cut").await;
    let cli = |args: &[&str]| {
        let config = f.daemon.config_path.display().to_string();
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_stsbridge"))
            .args(["--config", &config])
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, out, err) = cli(&["audit", "prune", "--before", &cut]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out.trim(),
        format!("deleted 1 audit events recorded before {cut}")
    );
    let left = f.daemon.audit().await;
    let names: Vec<_> = left.iter().map(|e| e.event_name.as_str()).collect();
    assert_eq!(names, ["AssumeRoleWithWebIdentity", "PruneAudit"]);
    assert_eq!(
        left[0].request_parameters["roleSessionName"],
        "after-the-cut"
    );
    assert_eq!(
        left[1].response_elements.as_ref().unwrap()["eventsDeleted"],
        1
    );

    let (code, _, err) = cli(&["audit", "prune", "--before", "2999-01-01"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("2999-01-01T00:00:00Z is in the future"),
        "{err}"
    );
    let (code, _, err) = cli(&["audit", "prune", "--before", "last tuesday"]);
    assert_eq!(code, Some(2), "a usage error");
    assert!(err.contains("neither a date"), "{err}");
    assert_eq!(
        f.daemon.audit().await.len(),
        2,
        "nothing deleted by a refused prune"
    );
}
