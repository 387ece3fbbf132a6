//! Daemons on the PostgreSQL store: what one daemon wrote survives its restart, and daemons
//! sharing one database (and one keyring) share users, sessions and revocations.

use std::time::Duration;

use stsbridge::admin::{AdminRequest, AdminResponse};
use stsbridge::clock::Stopwatch;

use crate::support::daemon::{Daemon, Setup, signed_client};
use crate::support::postgres::{fresh_database, storage_on};

struct Keys {
    id: String,
    secret: String,
}

async fn create_user(d: &Daemon, name: &str) -> Keys {
    let created = d
        .admin(AdminRequest::UsersCreate {
            name: name.into(),
            account_id: None,
            policies: Vec::new(),
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

async fn session_token(d: &Daemon, keys: &Keys) -> aws_sdk_sts::types::Credentials {
    signed_client(&d.url, &keys.id, &keys.secret, None)
        .get_session_token()
        .duration_seconds(900)
        .send()
        .await
        .expect("GetSessionToken")
        .credentials()
        .expect("credentials")
        .clone()
}

/// The error code of a GetCallerIdentity signed with `creds` on `d`, or `<ok>`.
async fn caller_identity(d: &Daemon, creds: &aws_sdk_sts::types::Credentials) -> String {
    let client = signed_client(
        &d.url,
        creds.access_key_id(),
        creds.secret_access_key(),
        Some(creds.session_token()),
    );
    match client.get_caller_identity().send().await {
        Ok(_) => "<ok>".into(),
        Err(e) => {
            use aws_sdk_sts::error::ProvideErrorMetadata as _;
            e.code().unwrap_or("<none>").to_owned()
        }
    }
}

fn on(url: &str) -> Setup {
    Setup {
        storage: storage_on(url),
        ..Setup::default()
    }
}

/// Users, sessions and the audit trail are in the database: a restarted daemon has them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_on_postgres_keeps_its_records_across_a_restart() {
    let d = Daemon::start(on(&fresh_database())).await;
    let alice = create_user(&d, "alice").await;
    let creds = session_token(&d, &alice).await;
    assert_eq!(caller_identity(&d, &creds).await, "<ok>");
    let dir = d.stop().await;
    // The commands that read the store of a stopped daemon read the database.
    for args in [
        &["sessions", "list", "--json"][..],
        &["audit", "list", "--json"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_stsbridge"))
            .arg("--config")
            .arg(dir.path().join("stsbridge.toml"))
            .args(args)
            .output()
            .expect("run stsbridge");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{args:?}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains(creds.access_key_id()), "{args:?}: {stdout}");
    }
    let d = Daemon::restart(dir).await;
    assert_eq!(caller_identity(&d, &creds).await, "<ok>");
    let stored = d
        .session(creds.access_key_id())
        .await
        .expect("the session is in the database");
    assert_eq!(stored.access_key_id, creds.access_key_id());
    let names: Vec<String> = d.audit().await.into_iter().map(|e| e.event_name).collect();
    for name in ["CreateUser", "CreateAccessKey", "GetSessionToken"] {
        assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
    }
}

/// Two daemons on one database and one keyring: a session issued by A verifies on B, and a
/// revocation on A is refused on B within a second (the notification, not the catch-up poll).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemons_sharing_a_database_share_sessions_and_revocations() {
    let url = fresh_database();
    let shared = tempfile::tempdir().unwrap();
    let keyring = shared.path().join("keyring.json");
    let a = Daemon::start(Setup {
        keyring_path: Some(keyring.clone()),
        ..on(&url)
    })
    .await;
    let b = Daemon::start(Setup {
        keyring_path: Some(keyring),
        ..on(&url)
    })
    .await;
    let alice = create_user(&a, "alice").await;
    let creds = session_token(&a, &alice).await;
    assert_eq!(caller_identity(&b, &creds).await, "<ok>", "issued on A");
    let from_b = session_token(&b, &alice).await;
    assert!(a.session(from_b.access_key_id()).await.is_some());

    let revoked = a
        .admin(AdminRequest::UsersRevokeSessions {
            name: "alice".into(),
        })
        .await;
    assert!(matches!(revoked, AdminResponse::Revoked(_)), "{revoked:?}");
    let watch = Stopwatch::start();
    loop {
        if caller_identity(&b, &creds).await == "InvalidClientTokenId" {
            break;
        }
        assert!(
            watch.elapsed() < Duration::from_secs(1),
            "B still accepts a session A revoked"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(caller_identity(&a, &from_b).await, "InvalidClientTokenId");
}

/// `stsbridge --config CONFIG check-config`: exit success and standard output.
fn check_config(config: &std::path::Path) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stsbridge"))
        .arg("--config")
        .arg(config)
        .arg("check-config")
        .output()
        .expect("run stsbridge");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// `check-config` connects: it says the schema's version (none before the first start, the
/// current one after), and a database that does not answer is a problem, reported without the
/// password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_reports_the_databases_schema_version() {
    let url = fresh_database();
    let config = crate::check_config::MAIN.replace(
        "[storage]\npath = \"data/sled\"\n",
        &format!("[storage]\npath = \"data/sled\"\n{}", storage_on(&url)),
    );
    let dir = crate::check_config::config_dir(&config);
    let path = dir.path().join("stsbridge.toml");
    let (ok, out) = check_config(&path);
    assert!(ok, "{out}");
    assert!(out.contains("no schema yet"), "{out}");
    let d = Daemon::start(on(&url)).await;
    drop(d.stop().await);
    let (ok, out) = check_config(&path);
    assert!(ok, "{out}");
    assert!(out.contains("schema version 5 (current)"), "{out}");

    let nowhere = tempfile::tempdir().unwrap();
    let config = crate::check_config::MAIN.replace(
        "[storage]\npath = \"data/sled\"\n",
        &format!(
            "[storage]\npath = \"data/sled\"\nkind = \"postgres\"\n\
             url = \"postgresql://sts:hunter2@localhost/sts?host={}\"\n",
            nowhere.path().display()
        ),
    );
    let dir = crate::check_config::config_dir(&config);
    let (ok, out) = check_config(&dir.path().join("stsbridge.toml"));
    assert!(!ok, "{out}");
    assert!(
        out.contains("storage.url: cannot use database sts"),
        "{out}"
    );
    assert!(!out.contains("hunter2"), "{out}");
}

/// With `sslmode=require` the daemon's connections are TLS (rustls), the server verified
/// against `sslrootcert`; a server whose certificate another authority issued is refused
/// (fail closed: no fallback to plain), and so is a server that offers no TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_is_reached_over_verified_tls_when_the_url_asks() {
    use crate::support::pki::TestCa;
    use stsbridge::store::postgres::{PostgresSettings, PostgresStore};
    let ca = TestCa::new();
    let server = ca.server_cert("db", 30);
    let (cluster, port) = crate::support::postgres::tls_cluster(&server.cert_pem, &server.key_pem);
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let other_file = dir.path().join("other.pem");
    std::fs::write(&other_file, TestCa::new().pem()).unwrap();
    let settings = |host: &str, mode: &str, root: &std::path::Path| PostgresSettings {
        url: format!(
            "postgresql://{}@{host}:{port}/postgres?sslmode={mode}&sslrootcert={}",
            crate::support::postgres::SUPERUSER,
            root.display()
        ),
        password: None,
        pool_size: 2,
    };
    let store = PostgresStore::open(&settings("localhost", "require", &ca_file))
        .await
        .expect("TLS to the database");
    assert!(store.uses_tls().await.unwrap());
    drop(store);
    let store = PostgresStore::open(&settings("127.0.0.1", "verify-full", &ca_file))
        .await
        .expect("verify-full, the address in the certificate");
    assert!(store.uses_tls().await.unwrap());
    drop(store);
    let refused = PostgresStore::open(&settings("localhost", "require", &other_file)).await;
    let err = refused.err().expect("another authority's certificate");
    assert!(
        err.to_string().contains("invalid peer certificate"),
        "{err}"
    );
    // The shared cluster offers no TLS: asked for, it is refused rather than skipped.
    let plain = PostgresSettings {
        url: format!(
            "{} sslmode=require sslrootcert={}",
            crate::support::postgres::fresh_database(),
            ca_file.display()
        ),
        password: None,
        pool_size: 1,
    };
    let err = PostgresStore::open(&plain).await.err().expect("no TLS");
    assert!(
        err.to_string().contains("server does not support TLS"),
        "{err}"
    );
    drop(cluster);
}

/// Run `sql` on the cluster's `postgres` database (the test's own may be closed to connections).
async fn on_cluster(database_url: &str, sql: &str) {
    let at = database_url.find("dbname=").expect("a key/value URL");
    let admin = format!("{}dbname=postgres", &database_url[..at]);
    let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .expect("connect to the cluster");
    let driver = tokio::spawn(connection);
    client.batch_execute(sql).await.expect("run SQL");
    drop(client);
    let _ = driver.await;
}

/// `/v1/authorize` on `d` for a `photos:GetPhoto` request signed with `creds`: the status.
async fn authorize(
    d: &Daemon,
    creds: &aws_sdk_sts::types::Credentials,
) -> (u16, serde_json::Value) {
    use crate::users::{SERVICE_SECRET, Signer, authorize_body, post_authorize};
    let body = authorize_body(
        &Signer::Session(creds),
        "GET",
        "/album/1",
        "photos:GetPhoto",
        "arn:photos:::album/1",
        serde_json::json!({}),
        false,
    );
    post_authorize(d, Some(SERVICE_SECRET), &body).await
}

/// `/readyz` of `d`: its status code and JSON.
async fn readyz(d: &Daemon) -> (u16, serde_json::Value) {
    let answer = reqwest::get(format!("{}/readyz", d.url)).await.unwrap();
    let status = answer.status().as_u16();
    (
        status,
        serde_json::from_str(&answer.text().await.unwrap()).unwrap(),
    )
}

/// Count the rows of `sql` (a `SELECT count(*) ...`) on the database at `url`.
async fn count(url: &str, sql: &str) -> i64 {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to the database");
    let driver = tokio::spawn(connection);
    let n: i64 = client.query_one(sql, &[]).await.expect("count").get(0);
    drop(client);
    let _ = driver.await;
    n
}

/// The database closed to the daemon: requests that must write (credentials) or read a user
/// (a long-term key) are refused at once with 503 ServiceUnavailable, never as an invalid key.
/// A role session still verifies
/// (GetCallerIdentity, `/v1/authorize`): its token is sealed, its audit events wait in the
/// spool, and the revocation list is trusted for `stale_revocations_seconds`; `/readyz` is 200
/// and degraded, saying why. Past that bound (the daemon's clock moved on) the session is
/// refused with 503 too and `/readyz` is 503. Once the database takes connections again the
/// daemon serves as before, without a restart, and the spooled events are in the database,
/// each once, the spool empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_refuses_writes_verifies_sessions_for_a_while_and_resumes_after() {
    use aws_sdk_sts::error::ProvideErrorMetadata as _;
    use stsbridge::clock::{Clock as _, ManualClock, SystemClock};
    let url = fresh_database();
    let dbname = url.rsplit("dbname=").next().unwrap().to_owned();
    let idp = crate::support::idp::TestIdp::start().await;
    let clock = std::sync::Arc::new(ManualClock::new(SystemClock.now()));
    let daemon = Daemon::start(Setup {
        idps: vec![("test".into(), crate::sts::idp_toml(idp.issuer()))],
        roles: crate::sts::roles(&idp.provider()),
        services: vec![("photos".into(), crate::users::SERVICE_SECRET.into())],
        clock: clock.clone(),
        storage: format!("{}stale_revocations_seconds = 30\n", storage_on(&url)),
        ..Setup::default()
    })
    .await;
    let spool = daemon.dir.path().join("data").join("audit-spool.jsonl");
    let f = crate::sts::Fixture { idp, daemon };
    let d = &f.daemon;
    let role_session = f
        .assume("app", "before", &f.token("user-1"))
        .await
        .unwrap()
        .credentials()
        .unwrap()
        .clone();
    let alice = create_user(d, "alice").await;
    let user_session = session_token(d, &alice).await;
    on_cluster(
        &url,
        &format!(
            "ALTER DATABASE {dbname} ALLOW_CONNECTIONS false;
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{dbname}'"
        ),
    )
    .await;
    // One request, timed (the SDK would retry a 503 with backoff).
    let form = format!(
        "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn={}&RoleSessionName=during\
         &WebIdentityToken={}",
        percent_encoding::utf8_percent_encode(
            &crate::sts::role_arn("app"),
            percent_encoding::NON_ALPHANUMERIC
        ),
        f.token("user-2")
    );
    let watch = Stopwatch::start();
    let answer = reqwest::Client::new()
        .post(&d.url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    let took = watch.elapsed();
    assert_eq!(answer.status(), 503);
    let body = answer.text().await.unwrap();
    assert!(body.contains("<Code>ServiceUnavailable</Code>"), "{body}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    let refused = signed_client(&d.url, &alice.id, &alice.secret, None)
        .get_session_token()
        .send()
        .await
        .expect_err("no database, no user");
    assert_eq!(refused.code(), Some("ServiceUnavailable"), "{refused:?}");
    // A user's session (ASIA) verifies as a role's does: GetCallerIdentity needs no policy.
    assert_eq!(caller_identity(d, &user_session).await, "<ok>");

    // A role session verifies: its token is sealed, its events are spooled.
    let watch = Stopwatch::start();
    assert_eq!(caller_identity(d, &role_session).await, "<ok>");
    assert!(
        watch.elapsed() < Duration::from_secs(2),
        "{:?}",
        watch.elapsed()
    );
    assert_eq!(caller_identity(d, &role_session).await, "<ok>");
    let (status, answer) = authorize(d, &role_session).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["principal"]["session_name"], "before", "{answer}");
    assert!(
        std::fs::metadata(&spool).map(|m| m.len()).unwrap_or(0) > 0,
        "the events wait in {}",
        spool.display()
    );
    let (status, readiness) = readyz(d).await;
    assert_eq!(status, 200, "{readiness}");
    assert_eq!(readiness["status"], "degraded", "{readiness}");
    let degraded = readiness["degraded"][0].as_str().unwrap_or_default();
    assert!(
        degraded.contains("the database does not answer")
            && degraded.contains("temporary credentials are verified"),
        "{readiness}"
    );

    // Past the bound, the list is no longer trusted: refused as unavailable, and unready.
    clock.advance(Duration::from_secs(31));
    assert_eq!(
        caller_identity(d, &role_session).await,
        "ServiceUnavailable"
    );
    let (status, answer) = authorize(d, &role_session).await;
    assert_eq!(status, 503, "{answer}");
    let (status, readiness) = readyz(d).await;
    assert_eq!(status, 503, "{readiness}");
    assert_eq!(readiness["status"], "unready", "{readiness}");
    assert!(
        readiness["problems"][0]
            .as_str()
            .unwrap()
            .contains("temporary credentials too"),
        "{readiness}"
    );

    // What the outage spooled: the request ids of its events.
    let spooled: Vec<String> = std::fs::read_to_string(&spool)
        .unwrap()
        .lines()
        .map(|line| {
            let event: serde_json::Value = serde_json::from_str(line).unwrap();
            event["requestID"].as_str().unwrap().to_owned()
        })
        .collect();
    assert!(spooled.len() >= 3, "{spooled:?}");
    on_cluster(
        &url,
        &format!("ALTER DATABASE {dbname} ALLOW_CONNECTIONS true"),
    )
    .await;
    assert!(f.assume("app", "after", &f.token("user-3")).await.is_ok());
    // Sessions verify again once the follower has reconnected and read the list.
    let watch = Stopwatch::start();
    while caller_identity(d, &role_session).await != "<ok>" {
        assert!(
            watch.elapsed() < Duration::from_secs(10),
            "the revocation list is followed again at the follower's reconnect"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(caller_identity(d, &user_session).await, "<ok>");
    let watch = Stopwatch::start();
    while std::fs::metadata(&spool).map(|m| m.len()).unwrap_or(0) > 0 {
        assert!(
            watch.elapsed() < Duration::from_secs(10),
            "the spool drained"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, readiness) = readyz(d).await;
    assert_eq!(status, 200, "{readiness}");
    assert_eq!(readiness["status"], "ready", "{readiness}");
    // The outage's events (its verifications and refusals) are in the trail, each once.
    for id in &spooled {
        let once =
            format!("SELECT count(*) FROM audit WHERE event::jsonb ->> 'requestID' = '{id}'");
        assert_eq!(count(&url, &once).await, 1, "event {id}");
    }
    assert_eq!(
        count(&url, "SELECT count(*) - count(DISTINCT event) FROM audit").await,
        0,
        "no event twice"
    );
}

/// `stsbridge keys init-kek PATH`: standard output, standard error, success.
fn init_kek(path: &std::path::Path) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stsbridge"))
        .args(["keys", "init-kek"])
        .arg(path)
        .output()
        .expect("run stsbridge");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// A daemon on `url` keeping its keyring in the database under the KEK in `kek`.
fn with_kek(url: &str, kek: &std::path::Path) -> Setup {
    Setup {
        keys: format!("kek_file = \"{}\"\n", kek.display()),
        ..on(url)
    }
}

/// The current key of the keyring a daemon uses.
pub(crate) async fn current_key(d: &Daemon) -> String {
    match d.admin(AdminRequest::KeysList).await {
        AdminResponse::Keys(keys) => {
            keys.into_iter()
                .find(|k| k.current)
                .expect("a current key")
                .id
        }
        other => panic!("keys list: {other:?}"),
    }
}

/// Two daemons starting together on one database with one KEK (and no keyring file in
/// common) agree on one keyring kept there; `keys rotate` on B is used by A within a second,
/// and credentials issued before and after verify on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemons_with_one_kek_share_the_keyring_kept_in_the_database() {
    let url = fresh_database();
    let shared = tempfile::tempdir().unwrap();
    let kek = shared.path().join("kek");
    let (ok, out) = init_kek(&kek);
    assert!(ok, "{out}");
    assert!(out.contains("wrote a new KEK"), "{out}");
    let written = std::fs::read(&kek).unwrap();
    assert_eq!(written.len(), 32);
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&kek).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let (ok, out) = init_kek(&kek);
    assert!(!ok && out.contains("exists"), "{out}");
    assert_eq!(std::fs::read(&kek).unwrap(), written, "never overwritten");

    let (a, b) = tokio::join!(
        Daemon::start(with_kek(&url, &kek)),
        Daemon::start(with_kek(&url, &kek))
    );
    let first = current_key(&a).await;
    assert_eq!(current_key(&b).await, first, "one keyring");
    for d in [&a, &b] {
        assert!(
            !d.dir.path().join("data/keyring.json").exists(),
            "no keyring file"
        );
    }
    let alice = create_user(&a, "alice").await;
    let before = session_token(&a, &alice).await;
    assert_eq!(caller_identity(&b, &before).await, "<ok>");

    let rotated = b.admin(AdminRequest::KeysRotate).await;
    assert!(matches!(rotated, AdminResponse::Done(_)), "{rotated:?}");
    let second = current_key(&b).await;
    assert_ne!(second, first);
    let watch = Stopwatch::start();
    while current_key(&a).await != second {
        assert!(
            watch.elapsed() < Duration::from_secs(1),
            "A still seals with {first} after B rotated to {second}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let after = session_token(&a, &alice).await;
    for d in [&a, &b] {
        assert_eq!(
            caller_identity(d, &before).await,
            "<ok>",
            "the retired key opens"
        );
        assert_eq!(caller_identity(d, &after).await, "<ok>");
    }
    // The retired key still seals live sessions: retiring it is refused, on either node.
    match a
        .admin(AdminRequest::KeysRetire {
            key_id: first.clone(),
        })
        .await
    {
        AdminResponse::Error(e) => assert!(e.contains("still need it"), "{e}"),
        other => panic!("retire: {other:?}"),
    }
    drop(a.stop().await);
    let restarted = Daemon::restart(b.stop().await).await;
    assert_eq!(
        current_key(&restarted).await,
        second,
        "kept across restarts"
    );
}

/// Start the daemon configured at `config` and return why it stopped at once.
async fn refused_start(config: &std::path::Path) -> String {
    let config = stsbridge::config::load(config).expect("valid config");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let started = tokio::time::timeout(
        Duration::from_secs(20),
        stsbridge::run(
            config,
            listener,
            stsbridge::RunOptions::default(),
            std::sync::Arc::new(stsbridge::clock::SystemClock),
            std::future::pending(),
        ),
    )
    .await
    .expect("refused at once");
    started.expect_err("refused").to_string()
}

/// A KEK that did not seal the keyring kept in the database refuses the start, saying so (the
/// keyring is never replaced by a new one); so does a daemon without a KEK on a database that
/// keeps the keyring. The right KEK starts again with the same keyring.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_or_missing_kek_is_refused_at_start() {
    let url = fresh_database();
    let shared = tempfile::tempdir().unwrap();
    let (kek, other) = (shared.path().join("kek"), shared.path().join("other"));
    for file in [&kek, &other] {
        stsbridge::creds::kek::Kek::create_file(file).unwrap();
    }
    let d = Daemon::start(with_kek(&url, &kek)).await;
    let key = current_key(&d).await;
    let dir = d.stop().await;
    let config = dir.path().join("stsbridge.toml");
    let text = std::fs::read_to_string(&config).unwrap();

    let kek_line = format!("kek_file = \"{}\"", kek.display());
    std::fs::write(
        &config,
        text.replace(&kek_line, &format!("kek_file = \"{}\"", other.display())),
    )
    .unwrap();
    let refused = refused_start(&config).await;
    assert!(
        refused.contains("does not open key") && refused.contains(&key),
        "{refused}"
    );
    assert!(refused.contains(&other.display().to_string()), "{refused}");
    let (ok, out) = check_config(&config);
    assert!(!ok && out.contains("keys.kek_file: the KEK file"), "{out}");
    assert!(out.contains("does not open key"), "{out}");

    std::fs::write(&config, text.replace(&kek_line, "")).unwrap();
    let refused = refused_start(&config).await;
    assert!(
        refused.contains("the database keeps the keyring") && refused.contains("kek_file"),
        "{refused}"
    );
    let (ok, out) = check_config(&config);
    assert!(
        !ok && out.contains("keys.kek_file: is not set, but the database keeps the keyring"),
        "{out}"
    );
    assert!(!dir.path().join("data/keyring.json").exists());

    std::fs::write(&config, &text).unwrap();
    let (ok, out) = check_config(&config);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!(
            "the KEK opens the keyring kept in the database (1 key(s), current {key})"
        )),
        "{out}"
    );
    let d = Daemon::restart(dir).await;
    assert_eq!(current_key(&d).await, key, "the keyring kept is unchanged");
}

/// `stsbridge --config CONFIG ARGS...`: success and everything it printed.
fn stsbridge(config: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stsbridge"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("run stsbridge");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// Moving a daemon from sled to PostgreSQL: `store copy` refuses while the daemon holds its
/// store, then carries its records and its keyring (under the KEK) into the database, once
/// however often it runs; the daemon restarted on the database honours what it issued before
/// (a session, a revocation, a user's key) and lists its audit trail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_copy_moves_a_sled_daemon_into_postgres() {
    let d = Daemon::start(Setup::default()).await;
    let alice = create_user(&d, "alice").await;
    let kept = session_token(&d, &alice).await;
    let revoked = session_token(&d, &alice).await;
    let answer = d
        .admin(AdminRequest::SessionsRevoke {
            id: revoked.access_key_id().to_owned(),
        })
        .await;
    assert!(matches!(answer, AdminResponse::Revoked(_)), "{answer:?}");
    let audited = d.audit().await.len();

    let url = fresh_database();
    let kek = d.dir.path().join("kek");
    let (ok, out) = init_kek(&kek);
    assert!(ok, "{out}");
    let text = std::fs::read_to_string(&d.config_path).unwrap();
    let on_postgres = text.replace(
        "[keys]\n",
        &format!("{}[keys]\nkek_file = \"kek\"\n", storage_on(&url)),
    );
    let copy_config = d.dir.path().join("copy.toml");
    std::fs::write(&copy_config, &on_postgres).unwrap();
    let copy = ["store", "copy", "--from", "sled", "--to", "postgres"];
    let (ok, out) = stsbridge(&copy_config, &copy);
    assert!(!ok && out.contains("stop the daemon"), "{out}");
    let (ok, out) = stsbridge(
        &copy_config,
        &["store", "copy", "--from", "postgres", "--to", "sled"],
    );
    assert!(
        !ok && out.contains("--from sled --to postgres only"),
        "{out}"
    );

    let dir = d.stop().await;
    // The stopped daemon's store is released a moment after it returns.
    let mut attempts = 0;
    let (ok, out) = loop {
        let (ok, out) = stsbridge(&copy_config, &copy);
        if ok || !out.contains("in use by another process") || attempts == 100 {
            break (ok, out);
        }
        attempts += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(ok, "{out}");
    for line in [
        "keyring: the 1 key(s) of",
        "sessions: 2 read, 2 copied",
        "revocations: 1 read, 1 copied",
        "users: 1 read, 1 copied",
        &format!("audit events: {audited} read, {audited} copied"),
    ] {
        assert!(out.contains(line), "{line} in {out}");
    }
    let (ok, out) = stsbridge(&copy_config, &copy);
    assert!(ok, "{out}");
    for line in [
        "holding every key of",
        "sessions: 2 read, 0 copied",
        "users: 1 read, 0 copied",
        &format!("audit events: {audited} read, 0 copied"),
    ] {
        assert!(out.contains(line), "{line} in {out}");
    }
    let (ok, out) = stsbridge(
        &copy_config,
        &[&copy[..], &["--sled-path", "/nonexistent"]].concat(),
    );
    assert!(
        !ok && out.contains("no sled store in /nonexistent"),
        "{out}"
    );

    std::fs::write(dir.path().join("stsbridge.toml"), &on_postgres).unwrap();
    std::fs::remove_file(dir.path().join("data/keyring.json")).unwrap();
    let d = Daemon::restart(dir).await;
    assert_eq!(
        caller_identity(&d, &kept).await,
        "<ok>",
        "the keyring came along"
    );
    assert_eq!(
        caller_identity(&d, &revoked).await,
        "InvalidClientTokenId",
        "the revocation came along"
    );
    let later = session_token(&d, &alice).await;
    assert_eq!(
        caller_identity(&d, &later).await,
        "<ok>",
        "the user's key works"
    );
    let events = d.audit().await;
    let created: Vec<_> = events
        .iter()
        .filter(|e| e.event_name == "CreateUser")
        .collect();
    assert_eq!(created.len(), 1, "copied once: {events:?}");
}

/// A PostgreSQL deployment that kept the keyring in files moves it into the database by
/// setting `kek_file`: the first start with it keeps the file's keys there, so what they
/// sealed still opens; from then on the file is not needed, and `keys rotate` on a stopped
/// daemon changes the keyring in the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setting_a_kek_moves_the_keyring_file_into_the_database() {
    let url = fresh_database();
    let d = Daemon::start(on(&url)).await;
    let alice = create_user(&d, "alice").await;
    let creds = session_token(&d, &alice).await;
    let key = current_key(&d).await;
    let dir = d.stop().await;
    let kek = dir.path().join("kek");
    stsbridge::creds::kek::Kek::create_file(&kek).unwrap();
    let config = dir.path().join("stsbridge.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("[keys]\n", "[keys]\nkek_file = \"kek\"\n"),
    )
    .unwrap();
    // Without the file, the keys alice's secret needs are nowhere: refused, and nothing kept.
    let file = dir.path().join("data/keyring.json");
    let aside = dir.path().join("keyring.aside");
    std::fs::rename(&file, &aside).unwrap();
    let refused = refused_start(&config).await;
    assert!(
        refused.contains("the keyring in the database lacks key(s)") && refused.contains(&key),
        "{refused}"
    );
    let (_, out) = check_config(&config);
    assert!(out.contains("the database keeps no keyring yet"), "{out}");
    std::fs::rename(&aside, &file).unwrap();
    let d = Daemon::restart(dir).await;
    assert_eq!(current_key(&d).await, key, "the file's keys");
    assert_eq!(caller_identity(&d, &creds).await, "<ok>");
    let dir = d.stop().await;
    std::fs::remove_file(dir.path().join("data/keyring.json")).unwrap();
    let (ok, out) = stsbridge(&config, &["keys", "rotate"]);
    assert!(ok && out.contains("is current"), "{out}");
    let d = Daemon::restart(dir).await;
    assert_ne!(current_key(&d).await, key, "rotated in the database");
    assert_eq!(caller_identity(&d, &creds).await, "<ok>");
    assert_eq!(
        caller_identity(&d, &session_token(&d, &alice).await).await,
        "<ok>"
    );
}

/// `keys retire` of a key nothing needs removes it from the keyring in the database, for every
/// daemon on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_retire_removes_a_key_from_the_keyring_in_the_database() {
    let url = fresh_database();
    let shared = tempfile::tempdir().unwrap();
    let kek = shared.path().join("kek");
    stsbridge::creds::kek::Kek::create_file(&kek).unwrap();
    let a = Daemon::start(with_kek(&url, &kek)).await;
    let b = Daemon::start(with_kek(&url, &kek)).await;
    let first = current_key(&a).await;
    let rotated = a.admin(AdminRequest::KeysRotate).await;
    assert!(matches!(rotated, AdminResponse::Done(_)), "{rotated:?}");
    let retired = b
        .admin(AdminRequest::KeysRetire {
            key_id: first.clone(),
        })
        .await;
    match retired {
        AdminResponse::Done(m) => assert!(m.contains("the keyring in the database"), "{m}"),
        other => panic!("retire: {other:?}"),
    }
    let watch = Stopwatch::start();
    loop {
        let keys = match a.admin(AdminRequest::KeysList).await {
            AdminResponse::Keys(keys) => keys,
            other => panic!("keys list: {other:?}"),
        };
        if keys.len() == 1 {
            assert_ne!(keys[0].id, first);
            break;
        }
        assert!(watch.elapsed() < Duration::from_secs(1), "{keys:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
