//! Three daemons on loopback ports sharing one PostgreSQL database and one KEK, as N nodes
//! behind a load balancer would: what one node issues, revokes, rotates or starts, the others
//! honour; a SAML assertion is accepted once in the whole cluster; and a node killed with
//! SIGKILL under load lost no credential it had returned.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use stsbridge::admin::{AdminRequest, AdminResponse};
use stsbridge::clock::{Clock as _, Stopwatch, SystemClock};

use crate::portal_login::{Browser, element_text};
use crate::postgres::current_key;
use crate::support::daemon::{ACCOUNT, Daemon, Setup, code, signed_client, sts_client};
use crate::support::idp::{AUDIENCE, Client, TestIdp};
use crate::support::postgres::{fresh_database, storage_on};
use crate::support::process::Served;
use crate::support::saml_signer::{AWS_ACS, SamlResponse, SigningKey};
use crate::users::{SERVICE_SECRET, Signer, authorize_body, post_authorize};

/// The OIDC IdP's name: `/signin/corp`, and the web identity role's issuer.
const OIDC_IDP: &str = "corp";

fn role_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{name}")
}

/// `Reader`: alice of the test IdP (API and portal) may read photos. `saml-admin`: any identity
/// of the SAML IdP.
fn roles(provider: &str) -> Vec<(String, String)> {
    let reader = json!({
        "RoleName": "Reader",
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": provider},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {format!("{provider}:aud"): AUDIENCE}}
        }]},
        "Policies": [{"PolicyName": "photos", "PolicyDocument": {"Version": "2012-10-17",
            "Statement": [{"Sid": "Read", "Effect": "Allow", "Action": "photos:Get*", "Resource": "*"}]}}]
    });
    vec![
        ("Reader".to_owned(), reader.to_string()),
        crate::saml_signer::saml_role("saml-admin"),
    ]
}

/// A node on `url` with the KEK in `kek`, its portal's public URL `public_url` (`{LISTEN}`:
/// its own address).
fn node(url: &str, kek: &std::path::Path, idp: &TestIdp, public_url: &str) -> Setup {
    Setup {
        idps: vec![
            (
                OIDC_IDP.to_owned(),
                format!(
                    "kind = \"oidc\"\nissuer = \"{}\"\naudiences = [\"{AUDIENCE}\"]\n\
                     insecure_http = true\n[signin]\nclient_id = \"{AUDIENCE}\"\n",
                    idp.issuer()
                ),
            ),
            crate::saml_signer::saml_idp(""),
        ],
        roles: roles(&idp.provider()),
        services: vec![("photos".into(), SERVICE_SECRET.into())],
        storage: storage_on(url),
        keys: format!("kek_file = \"{}\"\n", kek.display()),
        server: format!("public_url = \"{public_url}\""),
        ..Setup::default()
    }
}

/// A web identity token of the test IdP for `sub`.
fn token(idp: &TestIdp, sub: &str) -> String {
    let mut claims = idp.claims(SystemClock.now());
    claims["sub"] = json!(sub);
    idp.token(&claims)
}

async fn assume(d: &Daemon, idp: &TestIdp, session: &str) -> aws_sdk_sts::types::Credentials {
    sts_client(&d.url)
        .assume_role_with_web_identity()
        .role_arn(role_arn("Reader"))
        .role_session_name(session)
        .web_identity_token(token(idp, "alice"))
        .send()
        .await
        .expect("AssumeRoleWithWebIdentity")
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
    code(client.get_caller_identity().send().await)
}

/// `/v1/authorize` on `d` for a `photos:GetPhoto` request signed with `creds`.
async fn authorize(d: &Daemon, creds: &aws_sdk_sts::types::Credentials) -> (u16, Value) {
    let body = authorize_body(
        &Signer::Session(creds),
        "GET",
        "/album/1",
        "photos:GetPhoto",
        "arn:photos:::album/1",
        json!({}),
        false,
    );
    post_authorize(d, Some(SERVICE_SECRET), &body).await
}

/// Three nodes, one database, one KEK: issue on A, verify on B and C (the SDK and the
/// authorization API); revoke on A, refused on B within a second; one SAML assertion raced to
/// A and B is accepted once; `keys rotate` on B is honoured by A; a portal login started on A
/// finishes on B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_on_one_database_act_as_one_service() {
    let url = fresh_database();
    let shared = tempfile::tempdir().unwrap();
    let kek = shared.path().join("kek");
    stsbridge::creds::kek::Kek::create_file(&kek).unwrap();
    let idp = TestIdp::start().await;
    let a = Daemon::start(node(&url, &kek, &idp, "http://{LISTEN}")).await;
    let (b, c) = tokio::join!(
        Daemon::start(node(&url, &kek, &idp, &a.url)),
        Daemon::start(node(&url, &kek, &idp, &a.url))
    );

    // Issued on A, verified on B and C.
    let creds = assume(&a, &idp, "on-a").await;
    for (name, d) in [("B", &b), ("C", &c)] {
        assert_eq!(caller_identity(d, &creds).await, "<ok>", "on {name}");
        let (status, answer) = authorize(d, &creds).await;
        assert_eq!(status, 200, "on {name}: {answer}");
        assert_eq!(answer["allowed"], true, "on {name}: {answer}");
        assert_eq!(answer["principal"]["type"], "AssumedRole", "{answer}");
        assert_eq!(answer["principal"]["session_name"], "on-a", "{answer}");
    }

    // Revoked on A, refused on B within a second (and by the authorization API on C).
    let revoked = a
        .admin(AdminRequest::SessionsRevoke {
            id: creds.access_key_id().to_owned(),
        })
        .await;
    assert!(matches!(revoked, AdminResponse::Revoked(_)), "{revoked:?}");
    let watch = Stopwatch::start();
    while caller_identity(&b, &creds).await != "InvalidClientTokenId" {
        assert!(
            watch.elapsed() < Duration::from_secs(1),
            "B still accepts a session A revoked"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let watch = Stopwatch::start();
    loop {
        let (status, answer) = authorize(&c, &creds).await;
        if status == 403 {
            assert_eq!(answer["error"]["code"], "InvalidClientTokenId", "{answer}");
            break;
        }
        assert!(watch.elapsed() < Duration::from_secs(1), "C: {answer}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // One SAML assertion, sent to A and B at once: accepted once in the cluster.
    let mut response = SamlResponse::new(AWS_ACS, SystemClock.now())
        .role(&role_arn("saml-admin"), &crate::saml_signer::provider());
    response.role_session_name = "raced".to_owned();
    let assertion = response.sign_base64(&SigningKey::idp());
    let send = |d: &Daemon| {
        sts_client(&d.url)
            .assume_role_with_saml()
            .role_arn(role_arn("saml-admin"))
            .principal_arn(crate::saml_signer::provider())
            .saml_assertion(assertion.clone())
            .send()
    };
    let (on_a, on_b) = tokio::join!(send(&a), send(&b));
    let mut codes = [code(on_a), code(on_b)];
    codes.sort();
    assert_eq!(codes[0], "<ok>", "{codes:?}");
    assert_ne!(codes[1], "<ok>", "accepted twice: {codes:?}");
    assert_eq!(
        code(send(&c).await),
        codes[1],
        "and refused by the third node"
    );

    // `keys rotate` on B: A uses the new key within a second, and a credential B seals with
    // it verifies on A.
    let before = current_key(&b).await;
    let rotated = b.admin(AdminRequest::KeysRotate).await;
    assert!(matches!(rotated, AdminResponse::Done(_)), "{rotated:?}");
    let after = current_key(&b).await;
    assert_ne!(after, before);
    let watch = Stopwatch::start();
    while current_key(&a).await != after {
        assert!(
            watch.elapsed() < Duration::from_secs(1),
            "A still on {before}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let from_b = assume(&b, &idp, "on-b").await;
    assert_eq!(
        caller_identity(&a, &from_b).await,
        "<ok>",
        "B's new key on A"
    );
    let (status, answer) = authorize(&a, &from_b).await;
    assert_eq!(
        (status, &answer["allowed"]),
        (200, &json!(true)),
        "{answer}"
    );

    // A portal login started on A finishes on B: the IdP sends the browser to the public URL
    // (A's), and the browser is sent to B instead, as a load balancer might.
    idp.register_client(Client {
        id: AUDIENCE.to_owned(),
        secret: None,
        redirect_uris: vec![format!("{}/signin/oidc/callback", a.url)],
    });
    idp.set_login(Some(json!({"sub": "alice", "email": "alice@example.com"})));
    let mut browser = Browser::new(&a.url);
    let start = browser.get(&format!("{}/signin/{OIDC_IDP}", a.url)).await;
    assert_eq!(start.status, 302, "{}", start.body);
    let at_idp = browser.get(&start.location).await;
    assert_eq!(at_idp.status, 302, "{}", at_idp.body);
    assert!(at_idp.location.starts_with(&a.url), "{}", at_idp.location);
    let on_b = at_idp.location.replacen(&a.url, &b.url, 1);
    let back = browser.get(&on_b).await;
    assert_eq!(back.status, 303, "B finished A's login: {}", back.body);
    assert_eq!(back.location, "/console", "one role: no picker");
    for d in [&b, &c, &a] {
        let console = browser.get(&format!("{}/console", d.url)).await;
        assert_eq!(console.status, 200, "{}: {}", d.url, console.body);
        assert_eq!(element_text(&console.body, "role-name"), "Reader");
    }
}

/// The address a served daemon logged it listens on.
fn logged_listen(log: &str) -> std::net::SocketAddr {
    let line = log
        .lines()
        .find(|l| l.contains("stsbridge serving"))
        .expect("the serving line");
    let start = line.find("listen=").expect("listen=") + "listen=".len();
    line[start..]
        .split_whitespace()
        .next()
        .expect("an address")
        .parse()
        .expect("a socket address")
}

/// An STS client that gives up at the first failure (no retries, a short timeout): what it
/// was returned, it was returned once.
fn impatient_client(url: &str) -> aws_sdk_sts::Client {
    let config = aws_sdk_sts::Config::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .region(aws_sdk_sts::config::Region::new("us-east-1"))
        .endpoint_url(url)
        .retry_config(aws_sdk_sts::config::retry::RetryConfig::disabled())
        .timeout_config(
            aws_sdk_sts::config::timeout::TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(5))
                .build(),
        )
        .build();
    aws_sdk_sts::Client::from_conf(config)
}

/// The real binary on the shared database, driven by 8 concurrent SDK clients for two seconds,
/// then killed with SIGKILL: every access key id it returned has its session in the database,
/// as another node sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_under_load_lost_no_credential_it_returned() {
    let url = fresh_database();
    let shared = tempfile::tempdir().unwrap();
    let kek = shared.path().join("kek");
    stsbridge::creds::kek::Kek::create_file(&kek).unwrap();
    let idp = TestIdp::start().await;
    // The child's directory is that of a node started and stopped once (config, files).
    let template = Daemon::start(node(&url, &kek, &idp, "http://{LISTEN}")).await;
    let listen = template.addr.to_string();
    let dir = template.stop().await;
    let config = dir.path().join("stsbridge.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace(&listen, "127.0.0.1:0")).unwrap();
    let mut served = Served::start(&config);
    let child_url = format!(
        "http://{}",
        logged_listen(&served.wait_for("stsbridge serving"))
    );
    let survivor = Daemon::start(node(&url, &kek, &idp, "http://{LISTEN}")).await;

    let token = Arc::new(token(&idp, "alice"));
    let load = Stopwatch::start();
    let mut clients = Vec::new();
    for n in 0..8 {
        let (client, token) = (impatient_client(&child_url), Arc::clone(&token));
        clients.push(tokio::spawn(async move {
            let mut returned = Vec::new();
            loop {
                let answer = client
                    .assume_role_with_web_identity()
                    .role_arn(role_arn("Reader"))
                    .role_session_name(format!("load-{n}"))
                    .web_identity_token(token.as_str())
                    .send()
                    .await;
                match answer {
                    Ok(out) => returned.push(
                        out.credentials()
                            .expect("credentials")
                            .access_key_id()
                            .to_owned(),
                    ),
                    // Only the kill ends a client: before it, every request succeeds.
                    Err(e) => return (returned, format!("{e:?}"), load.elapsed()),
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let killed_at = load.elapsed();
    rustix::process::kill_process(served.pid(), rustix::process::Signal::KILL).unwrap();
    let mut returned = BTreeSet::new();
    for client in clients {
        let (ids, ended, failed_at) = client.await.unwrap();
        assert!(
            failed_at >= killed_at,
            "a client failed before the kill: {ended}"
        );
        returned.extend(ids);
    }
    // SIGKILL is delivered at once, but the process may take a moment to finish exiting.
    let mut gone = false;
    for _ in 0..100 {
        if !served.running() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "killed");
    assert!(
        returned.len() >= 8,
        "the load issued {} credential(s)",
        returned.len()
    );
    let mut missing = Vec::new();
    for id in &returned {
        if survivor.session(id).await.is_none() {
            missing.push(id.clone());
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} returned credentials are not in the database: {missing:?}",
        missing.len(),
        returned.len()
    );
}

/// `stsbridge loadgen` given two nodes spreads its connections over both, each sent a token
/// of its own development issuer (the nodes share the keys directory, hence the dev key): no
/// errors, and the database holds sessions from either issuer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadgen_drives_several_nodes_round_robin() {
    let url = fresh_database();
    let shared = tempfile::tempdir().unwrap();
    let dev_node = || Setup {
        roles: vec![(
            "dev-reader".to_owned(),
            json!({
                "RoleName": "dev-reader",
                "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow",
                    "Principal": {"Federated": "{LISTEN}/dev"},
                    "Action": "sts:AssumeRoleWithWebIdentity"
                }]}
            })
            .to_string(),
        )],
        dev: true,
        storage: storage_on(&url),
        keyring_path: Some(shared.path().join("keyring.json")),
        ..Setup::default()
    };
    let a = Daemon::start(dev_node()).await;
    let b = Daemon::start(dev_node()).await;
    let (config, targets) = (a.config_path.clone(), [a.addr, b.addr]);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_stsbridge"))
            .arg("--config")
            .arg(&config)
            .args(["loadgen", "--target", &targets[0].to_string()])
            .args(["--target", &targets[1].to_string()])
            .args(["--connections", "4", "--seconds", "1"])
            .output()
            .expect("run stsbridge loadgen")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("4 connections to 2 daemon(s)") && stdout.contains(" (0 errors)"),
        "{stdout}"
    );
    let providers: BTreeSet<String> = a
        .sessions()
        .await
        .into_iter()
        .map(|s| s.session.provider)
        .collect();
    let expected: BTreeSet<String> = [a.addr, b.addr]
        .iter()
        .map(|addr| format!("{addr}/dev"))
        .collect();
    assert_eq!(providers, expected);
}
