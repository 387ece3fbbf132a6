//! HTTPS and trusted proxies: the real AWS SDK over TLS with a CA made by the test, what the TLS
//! port refuses, certificate reload, `aws:SecureTransport` and `aws:SourceIp` from the
//! connection or (only from trusted proxies) `X-Forwarded-*`, the plain-HTTP warning, and what
//! the configuration check says about the certificate files.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use stsbridge::admin::{AdminRequest, AdminResponse};

use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::sts::role_arn;
use crate::support::daemon::{Daemon, Setup, code};
use crate::support::pki::{self, TestCa};

/// A role the development issuer's tokens may assume when `condition` holds.
fn dev_role(name: &str, condition: Value) -> (String, String) {
    let role = json!({
        "RoleName": name,
        "AssumeRolePolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Federated": "{LISTEN}/dev"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": condition
            }]
        }
    });
    (name.to_owned(), role.to_string())
}

/// `secure`: only over TLS. `office`: only from 203.0.113.0/24.
fn roles() -> Vec<(String, String)> {
    vec![
        dev_role("secure", json!({"Bool": {"aws:SecureTransport": "true"}})),
        dev_role(
            "office",
            json!({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}),
        ),
    ]
}

fn dev_token(daemon: &Daemon) -> String {
    let config = stsbridge::config::load(&daemon.config_path).expect("config");
    stsbridge::dev::sign_dev_token(
        &config.settings,
        config.settings.listen,
        "alice",
        stsbridge::dev::DEV_AUDIENCE,
        Duration::from_secs(600),
        serde_json::Map::new(),
        stsbridge::clock::Clock::now(&stsbridge::clock::SystemClock),
    )
    .expect("dev token")
}

/// A daemon serving TLS with a fresh certificate of `ca`, and the directory of its files.
async fn tls_daemon(ca: &TestCa, setup: Setup) -> (Daemon, tempfile::TempDir) {
    let files = tempfile::tempdir().expect("tempdir");
    let (cert, key) = ca.server_cert("first", 30).write(files.path());
    let daemon = Daemon::start(Setup {
        server: format!("{}{}", pki::server_lines(&cert, &key), setup.server),
        ..setup
    })
    .await;
    (daemon, files)
}

#[tokio::test]
async fn the_sdk_assumes_a_role_over_https_and_secure_transport_is_true_only_there() {
    let ca = TestCa::new();
    let (daemon, _files) = tls_daemon(
        &ca,
        Setup {
            roles: roles(),
            dev: true,
            ..Setup::default()
        },
    )
    .await;
    assert!(
        daemon.url.starts_with("https://127.0.0.1:"),
        "{}",
        daemon.url
    );
    let assume = |client: aws_sdk_sts::Client, role: &str, token: String| {
        let role = role_arn(role);
        async move {
            client
                .assume_role_with_web_identity()
                .role_arn(role)
                .role_session_name("alice")
                .web_identity_token(token)
                .send()
                .await
        }
    };
    let out = assume(
        pki::sts_client(&daemon.url, &ca),
        "secure",
        dev_token(&daemon),
    )
    .await
    .expect("credentials over TLS");
    assert!(
        out.credentials()
            .is_some_and(|c| c.access_key_id().starts_with("ASIA"))
    );
    // The SDK verifies the certificate: without the test CA it refuses the connection.
    let untrusted = assume(
        crate::support::daemon::sts_client(&daemon.url),
        "secure",
        dev_token(&daemon),
    )
    .await;
    assert!(
        untrusted.is_err(),
        "a certificate of an unknown CA is refused"
    );

    // The same role over plain HTTP: aws:SecureTransport is false.
    let plain = Daemon::start(Setup {
        roles: roles(),
        dev: true,
        ..Setup::default()
    })
    .await;
    let over_plain = assume(
        crate::support::daemon::sts_client(&plain.url),
        "secure",
        dev_token(&plain),
    )
    .await;
    assert_eq!(code(over_plain), "AccessDenied");
}

/// A TLS connection to `addr` with `config`: the request sender and the certificate shown.
async fn connect(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> (
    hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    CertificateDer<'static>,
) {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::IpAddress(addr.ip().into());
    let stream = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .expect("TLS handshake");
    let leaf = stream
        .get_ref()
        .1
        .peer_certificates()
        .expect("certificates")[0]
        .clone();
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP handshake");
    tokio::spawn(connection);
    (sender, leaf)
}

async fn healthz(sender: &mut hyper::client::conn::http1::SendRequest<Empty<Bytes>>) -> u16 {
    let request = hyper::Request::get("/healthz")
        .header(hyper::header::HOST, "127.0.0.1")
        .body(Empty::new())
        .expect("request");
    let response = sender.send_request(request).await.expect("response");
    let status = response.status().as_u16();
    response.into_body().collect().await.expect("body");
    status
}

fn der(cert: &pki::ServerCert) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(cert.cert_pem.as_bytes()).expect("PEM")
}

#[tokio::test]
async fn a_reload_serves_new_connections_the_new_certificate_and_refuses_a_broken_one() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let first = ca.server_cert("first", 30);
    let (cert_path, key_path) = first.write(dir.path());
    let daemon = Daemon::start(Setup {
        server: pki::server_lines(&cert_path, &key_path),
        ..Setup::default()
    })
    .await;
    let reload = || async {
        match daemon.admin(AdminRequest::Reload).await {
            AdminResponse::Reloaded(report) => report,
            other => panic!("unexpected admin response {other:?}"),
        }
    };
    let (mut open, shown) = connect(daemon.addr, ca.client_config()).await;
    assert_eq!(shown, der(&first));
    assert_eq!(healthz(&mut open).await, 200);

    let second = ca.server_cert("second", 30);
    second.write(dir.path());
    let report = reload().await;
    assert!(report.applied, "{report:?}");
    let (mut fresh, shown) = connect(daemon.addr, ca.client_config()).await;
    assert_eq!(
        shown,
        der(&second),
        "a new connection sees the new certificate"
    );
    assert_eq!(healthz(&mut fresh).await, 200);
    assert_eq!(
        healthz(&mut open).await,
        200,
        "the connection opened before the reload keeps working"
    );

    // A key that is not the certificate's, then a certificate file that is not one: refused,
    // and the second certificate stays in use.
    std::fs::write(&key_path, ca.server_cert("other", 30).key_pem).expect("write");
    let report = reload().await;
    assert!(!report.applied, "a mismatched key is refused: {report:?}");
    assert!(
        report.problems.iter().any(|p| p.contains("tls_key_file")),
        "{report:?}"
    );
    std::fs::write(&key_path, &second.key_pem).expect("write");
    std::fs::write(&cert_path, "-----BEGIN CERTIFICATE-----\nnot base64!\n").expect("write");
    let report = reload().await;
    assert!(
        !report.applied,
        "a broken certificate is refused: {report:?}"
    );
    assert!(
        report.problems.iter().any(|p| p.contains("server.crt")),
        "{report:?}"
    );
    let (mut after, shown) = connect(daemon.addr, ca.client_config()).await;
    assert_eq!(shown, der(&second), "the last good certificate stays");
    assert_eq!(healthz(&mut after).await, 200);
}

/// The handle the daemon's reload uses re-reads the files itself, and refuses what does not
/// load, keeping the certificate in use.
#[tokio::test]
async fn the_tls_handle_refuses_a_mismatched_key() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let first = ca.server_cert("first", 30);
    let (cert_path, key_path) = first.write(dir.path());
    let daemon = Daemon::start(Setup {
        server: pki::server_lines(&cert_path, &key_path),
        ..Setup::default()
    })
    .await;
    let tls = daemon.tls.clone().expect("TLS");
    std::fs::write(&key_path, ca.server_cert("other", 30).key_pem).expect("write");
    let err = tls.reload().expect_err("a mismatched key is refused");
    assert!(
        matches!(err, stsbridge::tls::TlsError::KeyMismatch { .. }),
        "{err}"
    );
    let (_, shown) = connect(daemon.addr, ca.client_config()).await;
    assert_eq!(shown, der(&first), "the certificate in use stays");
    drop(cert_path);
}

/// Everything the peer sends until it closes (or a second passes).
async fn read_all(stream: &mut tokio::net::TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.read_to_end(&mut out)).await;
    out
}

/// A TLS 1.1 ClientHello (no `supported_versions`): version 3.2, CBC suites, and what the
/// server's ECDSA certificate needs (signature algorithms, P-256).
fn tls11_client_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x02];
    body.extend([7u8; 32]); // random
    body.push(0); // no session id
    body.extend([0x00, 0x04, 0xc0, 0x09, 0xc0, 0x13]); // ECDHE-ECDSA/RSA-AES128-SHA
    body.extend([0x01, 0x00]); // null compression
    let extensions = [
        &[0x00, 0x0d, 0x00, 0x06, 0x00, 0x04, 0x04, 0x03, 0x04, 0x01][..], // signature_algorithms
        &[0x00, 0x0a, 0x00, 0x04, 0x00, 0x02, 0x00, 0x17], // supported_groups: secp256r1
        &[0x00, 0x0b, 0x00, 0x02, 0x01, 0x00],             // ec_point_formats: uncompressed
    ]
    .concat();
    body.extend(u16::try_from(extensions.len()).unwrap().to_be_bytes());
    body.extend(extensions);
    let mut handshake = vec![0x01, 0x00];
    handshake.extend(u16::try_from(body.len()).unwrap().to_be_bytes());
    handshake.extend(body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend(u16::try_from(handshake.len()).unwrap().to_be_bytes());
    record.extend(handshake);
    record
}

#[tokio::test]
async fn the_tls_port_refuses_plain_http_and_tls_1_1_and_speaks_1_2_and_1_3() {
    let ca = TestCa::new();
    let (daemon, _files) = tls_daemon(&ca, Setup::default()).await;

    let mut plain = tokio::net::TcpStream::connect(daemon.addr).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let answer = read_all(&mut plain).await;
    assert!(
        !answer.starts_with(b"HTTP/"),
        "plain HTTP gets no HTTP answer: {answer:?}"
    );

    let mut old = tokio::net::TcpStream::connect(daemon.addr).await.unwrap();
    old.write_all(&tls11_client_hello()).await.unwrap();
    let answer = read_all(&mut old).await;
    // An alert record (21), protocol_version (70): no ServerHello.
    assert_eq!(answer.first(), Some(&0x15), "{answer:?}");
    assert_eq!(answer.get(6), Some(&70), "{answer:?}");

    for (versions, expected) in [
        (
            &[&rustls::version::TLS12][..],
            rustls::ProtocolVersion::TLSv1_2,
        ),
        (
            &[&rustls::version::TLS13][..],
            rustls::ProtocolVersion::TLSv1_3,
        ),
    ] {
        let tcp = tokio::net::TcpStream::connect(daemon.addr).await.unwrap();
        let stream = tokio_rustls::TlsConnector::from(ca.client_config_for(versions))
            .connect(ServerName::IpAddress(daemon.addr.ip().into()), tcp)
            .await
            .expect("handshake");
        let session = stream.get_ref().1;
        assert_eq!(session.protocol_version(), Some(expected));
        assert_eq!(session.alpn_protocol(), Some(&b"http/1.1"[..]));
    }
}

/// A stranger who opens a connection to the TLS port and never says hello does not keep it
/// past the header timeout.
#[tokio::test]
async fn a_silent_client_is_closed_within_the_header_timeout() {
    let ca = TestCa::new();
    let (daemon, _files) = tls_daemon(
        &ca,
        Setup {
            server: "header_timeout_seconds = 1\n".into(),
            ..Setup::default()
        },
    )
    .await;
    let mut silent = tokio::net::TcpStream::connect(daemon.addr).await.unwrap();
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), silent.read_to_end(&mut buf)).await;
    assert!(
        matches!(closed, Ok(Ok(0))),
        "closed without a byte: {closed:?}"
    );
}

struct Answer {
    body: String,
    request_id: String,
}

/// AssumeRoleWithWebIdentity of `role` over plain HTTP with extra `headers`.
async fn assume(daemon: &Daemon, role: &str, headers: &[(&str, &str)]) -> Answer {
    let form = serde_urlencoded::to_string([
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", "2011-06-15"),
        ("RoleArn", role_arn(role).as_str()),
        ("RoleSessionName", "alice"),
        ("WebIdentityToken", dev_token(daemon).as_str()),
    ])
    .expect("form");
    let mut request = reqwest::Client::new()
        .post(&daemon.url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("response");
    assert_ne!(response.status().as_u16(), 500);
    let request_id = response
        .headers()
        .get("x-amzn-requestid")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    Answer {
        body: response.text().await.expect("body"),
        request_id,
    }
}

impl Answer {
    fn allowed(&self) -> bool {
        self.body.contains("<AssumeRoleWithWebIdentityResult>")
    }

    fn denied(&self) -> bool {
        self.body.contains("<Code>AccessDenied</Code>")
    }

    /// The audit event's source address.
    async fn audited_source(&self, daemon: &Daemon) -> String {
        let events = daemon.audit().await;
        let event = events
            .iter()
            .find(|e| e.request_id == self.request_id)
            .expect("audit event");
        event.source_ip_address.clone().unwrap_or_default()
    }
}

#[tokio::test]
async fn forwarded_headers_count_only_from_trusted_proxies() {
    let behind_proxy = Daemon::start(Setup {
        roles: roles(),
        dev: true,
        server: "trusted_proxies = [\"127.0.0.1/32\"]\n".into(),
        ..Setup::default()
    })
    .await;
    let d = &behind_proxy;
    let a = assume(
        d,
        "office",
        &[("x-forwarded-for", "198.51.100.1, 203.0.113.7")],
    )
    .await;
    assert!(a.allowed(), "{}", a.body);
    assert_eq!(a.audited_source(d).await, "203.0.113.7");
    let a = assume(d, "office", &[]).await;
    assert!(a.denied(), "{}", a.body);
    assert_eq!(a.audited_source(d).await, "127.0.0.1");
    for malformed in ["not-an-ip", "203.0.113.7,", "203.0.113.7, 10.0.0.1/8"] {
        let a = assume(d, "office", &[("x-forwarded-for", malformed)]).await;
        assert!(a.denied(), "{malformed}: {}", a.body);
        assert_eq!(a.audited_source(d).await, "127.0.0.1", "{malformed}");
    }
    assert!(
        assume(d, "secure", &[("x-forwarded-proto", "https")])
            .await
            .allowed()
    );
    assert!(
        assume(d, "secure", &[("x-forwarded-proto", "http")])
            .await
            .denied()
    );
    assert!(assume(d, "secure", &[]).await.denied());

    // Without trusted proxies, a client's own X-Forwarded-* change nothing.
    let direct = Daemon::start(Setup {
        roles: roles(),
        dev: true,
        ..Setup::default()
    })
    .await;
    let a = assume(
        &direct,
        "office",
        &[
            ("x-forwarded-for", "203.0.113.7"),
            ("x-forwarded-proto", "https"),
        ],
    )
    .await;
    assert!(a.denied(), "{}", a.body);
    assert_eq!(a.audited_source(&direct).await, "127.0.0.1");
    assert!(
        assume(&direct, "secure", &[("x-forwarded-proto", "https")])
            .await
            .denied()
    );
}

async fn readiness(daemon: &Daemon) -> (u16, Value) {
    let response = reqwest::get(format!("http://{}/readyz", daemon.addr))
        .await
        .expect("readyz");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).expect("JSON"))
}

#[tokio::test]
async fn plain_http_beyond_loopback_is_a_warning_on_readyz_not_unreadiness() {
    let exposed = Daemon::start(Setup {
        listen_everywhere: true,
        ..Setup::default()
    })
    .await;
    let (status, body) = readiness(&exposed).await;
    assert_eq!(status, 200, "{body}");
    let warnings = body["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1, "{body}");
    assert!(
        warnings[0]
            .as_str()
            .is_some_and(|w| w.contains("plain HTTP") && w.contains("tls_cert_file")),
        "{body}"
    );

    let behind_proxy = Daemon::start(Setup {
        listen_everywhere: true,
        server: "trusted_proxies = [\"10.0.0.0/8\"]\n".into(),
        ..Setup::default()
    })
    .await;
    let (status, body) = readiness(&behind_proxy).await;
    assert_eq!((status, &body["warnings"]), (200, &json!([])), "{body}");
    let (_, body) = readiness(&Daemon::start(Setup::default()).await).await;
    assert_eq!(body["warnings"], json!([]), "loopback: {body}");
}

/// The main file of a configuration serving TLS with `server` lines, in `dir`.
fn config_with(dir: &Path, server: &str) -> std::path::PathBuf {
    for sub in ["idp-configs", "roles", "policies"] {
        std::fs::create_dir_all(dir.join(sub)).expect("mkdir");
    }
    let main = dir.join("stsbridge.toml");
    std::fs::write(
        &main,
        format!(
            "default_account_id = \"123456789012\"\n[server]\nlisten = \"127.0.0.1:8443\"\n\
             {server}\n[storage]\npath = \"data/sled\"\n[keys]\npath = \"data/keyring.json\"\n"
        ),
    )
    .expect("write");
    main
}

/// The problems `config::load` finds, as `field: message`.
fn problems(main: &Path) -> Vec<String> {
    match stsbridge::config::load(main) {
        Ok(_) => Vec::new(),
        Err(errors) => errors
            .0
            .iter()
            .map(|p| {
                assert_eq!(p.file, main);
                format!("{}: {}", p.field.as_deref().unwrap_or("-"), p.message)
            })
            .collect(),
    }
}

#[test]
fn the_configuration_check_names_the_field_of_each_certificate_problem() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let good = ca.server_cert("good", 30);
    let (cert, key) = good.write(dir.path());

    let main = config_with(dir.path(), &pki::server_lines(&cert, &key));
    assert_eq!(problems(&main), Vec::<String>::new());
    // Relative paths are read beside the main file.
    let main = config_with(
        dir.path(),
        "tls_cert_file = \"server.crt\"\ntls_key_file = \"server.key\"\n",
    );
    assert_eq!(problems(&main), Vec::<String>::new());

    let main = config_with(dir.path(), "tls_cert_file = \"server.crt\"\n");
    let found = problems(&main);
    assert!(
        found.len() == 1 && found[0].starts_with("server.tls_key_file: missing"),
        "{found:?}"
    );
    let main = config_with(dir.path(), "tls_key_file = \"server.key\"\n");
    assert!(problems(&main)[0].starts_with("server.tls_cert_file: missing"));

    let main = config_with(
        dir.path(),
        "tls_cert_file = \"absent.crt\"\ntls_key_file = \"server.key\"\n",
    );
    let found = problems(&main);
    assert!(
        found.len() == 1
            && found[0].starts_with("server.tls_cert_file: ")
            && found[0].contains("absent.crt: cannot read"),
        "{found:?}"
    );

    std::fs::write(
        dir.path().join("other.key"),
        ca.server_cert("x", 30).key_pem,
    )
    .unwrap();
    let main = config_with(
        dir.path(),
        "tls_cert_file = \"server.crt\"\ntls_key_file = \"other.key\"\n",
    );
    let found = problems(&main);
    assert!(
        found.len() == 1
            && found[0].starts_with("server.tls_key_file: the private key in ")
            && found[0].contains("does not belong to the certificate"),
        "{found:?}"
    );

    // A key file given as the certificate, and a certificate as the key.
    let main = config_with(
        dir.path(),
        "tls_cert_file = \"server.key\"\ntls_key_file = \"server.crt\"\n",
    );
    let found = problems(&main);
    assert!(
        found.len() == 1
            && found[0].starts_with("server.tls_cert_file: ")
            && found[0].contains("no PEM certificate"),
        "{found:?}"
    );

    let main = config_with(
        dir.path(),
        "trusted_proxies = [\"10.0.0.0/8\", \"proxy.example\"]\n",
    );
    assert_eq!(
        problems(&main),
        vec![
            "server.trusted_proxies[1]: \"proxy.example\" is not a CIDR (10.0.0.0/8, fd00::/8) nor an IP address"
        ]
    );
}

#[test]
fn check_config_warns_of_an_expired_certificate() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().expect("tempdir");
    ca.server_cert("old", -2).write(dir.path());
    let main = config_with(
        dir.path(),
        "tls_cert_file = \"server.crt\"\ntls_key_file = \"server.key\"\n",
    );
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_stsbridge"))
            .arg("--config")
            .arg(&main)
            .arg("check-config")
            .args(args)
            .output()
            .expect("run stsbridge");
        (
            out.status.success(),
            String::from_utf8(out.stdout).expect("utf-8"),
        )
    };
    let (ok, out) = run(&[]);
    assert!(ok, "{out}");
    assert!(
        out.contains("warning: ")
            && out.contains("server.tls_cert_file: the certificate in ")
            && out.contains("expired at "),
        "{out}"
    );
    let (ok, out) = run(&["--strict"]);
    assert!(!ok, "{out}");
}

/// `stsbridge loadgen --tls-ca` drives a TLS daemon (a short run: it works, not how fast).
#[tokio::test]
async fn loadgen_speaks_tls_with_the_ca_it_is_given() {
    let ca = TestCa::new();
    let (daemon, files) = tls_daemon(
        &ca,
        Setup {
            roles: vec![dev_role("dev-reader", json!({}))],
            dev: true,
            ..Setup::default()
        },
    )
    .await;
    let ca_file = files.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let config = daemon.config_path.clone();
    let target = daemon.addr.to_string();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_stsbridge"))
            .arg("--config")
            .arg(&config)
            .args(["loadgen", "--target", &target, "--connections", "2"])
            .args(["--seconds", "1", "--tls-ca"])
            .arg(&ca_file)
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
        stdout.contains("AssumeRoleWithWebIdentity over TLS: 2 connections to 1 daemon(s)")
            && stdout.contains(" (0 errors)"),
        "{stdout}"
    );
}
