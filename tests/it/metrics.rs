//! `/metrics` and the logs of a real daemon: the series move with issued and refused requests,
//! the bearer secret guards them, a listener of their own takes them off the main one, the
//! dashboard reads only names the daemon exports, and the binary's JSON log line of an issued
//! credential carries its ids and never its secrets.

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use stsbridge::admin::AdminRequest;
use stsbridge::clock::Clock as _;

use crate::sts::{idp_toml, role_arn, roles};
use crate::support::daemon::{ACCOUNT, Daemon, Setup, code, sts_client};
use crate::support::idp::TestIdp;

const SCRAPER_SECRET: &str = "scrape-me-please";

fn sha256_hex(secret: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
    data_encoding::HEXLOWER.encode(digest.as_ref())
}

async fn daemon_with(idp: &TestIdp, extra: String) -> Daemon {
    Daemon::start(Setup {
        idps: vec![("test".into(), idp_toml(idp.issuer()))],
        roles: roles(&idp.provider()),
        extra,
        ..Setup::default()
    })
    .await
}

fn token(idp: &TestIdp, sub: &str) -> String {
    let mut claims = idp.claims(stsbridge::clock::SystemClock.now());
    claims["sub"] = sub.into();
    claims["aud"] = "client-a".into();
    idp.token(&claims)
}

/// GET `url` with an optional bearer secret: the status and the body.
async fn get(url: &str, bearer: Option<&str>) -> (u16, String, Option<String>) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(secret) = bearer {
        request = request.bearer_auth(secret);
    }
    let response = request.send().await.expect("GET");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, response.text().await.expect("body"), content_type)
}

async fn scrape(daemon: &Daemon) -> String {
    let (status, body, content_type) = get(&format!("{}/metrics", daemon.url), None).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        content_type.is_some_and(|t| t.starts_with("application/openmetrics-text")),
        "content type"
    );
    body
}

/// The value of the sample `series` (name and labels exactly as rendered), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.split(' ').next()?.parse().ok())
}

fn has(text: &str, series: &str) -> f64 {
    sample(text, series).unwrap_or_else(|| panic!("{series} not in:\n{text}"))
}

#[tokio::test]
async fn series_move_with_issued_and_refused_requests() {
    let idp = TestIdp::start().await;
    let daemon = daemon_with(&idp, String::new()).await;
    let before = scrape(&daemon).await;
    assert!(
        before.contains("stsbridge_build_info{version=\""),
        "{before}"
    );
    assert_eq!(has(&before, "stsbridge_live_sessions"), 0.0);

    let client = sts_client(&daemon.url);
    let issued = client
        .assume_role_with_web_identity()
        .role_arn(role_arn("app"))
        .role_session_name("metrics")
        .web_identity_token(token(&idp, "user-1"))
        .send()
        .await
        .expect("issued");
    let refused = client
        .assume_role_with_web_identity()
        .role_arn(role_arn("app"))
        .role_session_name("metrics")
        .web_identity_token("not-a-jwt")
        .send()
        .await;
    assert_eq!(code(refused), "InvalidIdentityToken");
    let missing = reqwest::get(format!("{}/?Version=2011-06-15", daemon.url))
        .await
        .expect("GET");
    assert_eq!(missing.status().as_u16(), 400);
    let access_key_id = issued.credentials().unwrap().access_key_id().to_owned();
    daemon
        .admin(AdminRequest::SessionsRevoke { id: access_key_id })
        .await;

    let after = scrape(&daemon).await;
    let web = "action=\"AssumeRoleWithWebIdentity\"";
    assert_eq!(
        has(
            &after,
            &format!("stsbridge_requests_total{{{web},code=\"OK\"}}")
        ),
        1.0
    );
    assert_eq!(
        has(
            &after,
            &format!("stsbridge_requests_total{{{web},code=\"InvalidIdentityToken\"}}")
        ),
        1.0
    );
    assert_eq!(
        has(
            &after,
            "stsbridge_requests_total{action=\"unknown\",code=\"MissingAction\"}"
        ),
        1.0
    );
    assert_eq!(
        has(
            &after,
            &format!("stsbridge_request_duration_seconds_count{{{web}}}")
        ),
        2.0
    );
    let role = format!("arn:aws:iam::{ACCOUNT}:role/app");
    assert_eq!(
        has(
            &after,
            &format!("stsbridge_credentials_issued_total{{{web},role=\"{role}\"}}")
        ),
        1.0
    );
    assert!(
        has(
            &after,
            "stsbridge_idp_fetches_total{idp=\"test\",document=\"jwks\",outcome=\"ok\"}"
        ) >= 1.0
    );
    assert_eq!(has(&after, "stsbridge_live_sessions"), 1.0);
    assert_eq!(has(&after, "stsbridge_revocations"), 1.0);
    assert!(has(&after, "stsbridge_commit_batch_size_count") >= 1.0);
    assert!(has(&after, "stsbridge_commit_flush_duration_seconds_count") >= 1.0);
    assert!(has(&after, "stsbridge_store_size_bytes") > 0.0);
    assert!(
        has(&after, "stsbridge_open_connections") >= 1.0,
        "this scrape's own"
    );
    daemon.stop().await;
}

#[tokio::test]
async fn an_unreachable_idp_counts_a_failed_fetch() {
    let idp = TestIdp::start().await;
    let daemon = daemon_with(&idp, String::new()).await;
    idp.set_down(true);
    let refused = sts_client(&daemon.url)
        .assume_role_with_web_identity()
        .role_arn(role_arn("app"))
        .role_session_name("metrics")
        .web_identity_token(token(&idp, "user-1"))
        .send()
        .await;
    assert_eq!(code(refused), "IDPCommunicationError");
    let text = scrape(&daemon).await;
    assert!(
        has(
            &text,
            "stsbridge_idp_fetches_total{idp=\"test\",document=\"jwks\",outcome=\"failed\"}"
        ) >= 1.0
    );
    daemon.stop().await;
}

#[tokio::test]
async fn a_bearer_secret_guards_the_metrics() {
    let idp = TestIdp::start().await;
    let extra = format!(
        "[metrics]\nbearer_sha256 = \"{}\"\n",
        sha256_hex(SCRAPER_SECRET)
    );
    let daemon = daemon_with(&idp, extra).await;
    let url = format!("{}/metrics", daemon.url);
    let (status, body, _) = get(&url, None).await;
    assert_eq!(status, 401, "no bearer");
    assert!(!body.contains("stsbridge_"), "{body}");
    let (status, _, _) = get(&url, Some("wrong-secret")).await;
    assert_eq!(status, 401, "wrong bearer");
    let (status, _, _) = get(&url, Some(&SCRAPER_SECRET[1..])).await;
    assert_eq!(status, 401, "a part of the secret");
    let (status, body, _) = get(&url, Some(SCRAPER_SECRET)).await;
    assert_eq!(status, 200, "right bearer");
    assert!(body.contains("stsbridge_build_info"), "{body}");
    daemon.stop().await;
}

/// A loopback port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

#[tokio::test]
async fn a_listener_of_their_own_takes_the_metrics_off_the_main_one() {
    let idp = TestIdp::start().await;
    let port = free_port();
    let extra = format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n");
    let daemon = daemon_with(&idp, extra).await;
    let (status, body, _) = get(&format!("{}/metrics", daemon.url), None).await;
    assert_eq!(status, 404, "{body}");
    let (status, body, _) = get(&format!("http://127.0.0.1:{port}/metrics"), None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("stsbridge_build_info"), "{body}");
    let (status, _, _) = get(&format!("http://127.0.0.1:{port}/healthz"), None).await;
    assert_eq!(status, 404, "only /metrics there");
    daemon.stop().await;
}

#[test]
fn metrics_settings_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for sub in ["idp-configs", "roles", "policies"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    let config = root.join("stsbridge.toml");
    std::fs::write(
        &config,
        format!(
            "default_account_id = \"{ACCOUNT}\"\n[server]\nlisten = \"127.0.0.1:1\"\n\
             [storage]\npath = \"data/sled\"\n[keys]\npath = \"data/keyring.json\"\n\
             [metrics]\nlisten = \"localhost\"\nbearer_sha256 = \"abc\"\n"
        ),
    )
    .unwrap();
    let errors = stsbridge::config::load(&config).unwrap_err().to_string();
    for expected in ["metrics.listen", "metrics.bearer_sha256"] {
        assert!(errors.contains(expected), "{expected} not in {errors}");
    }
    std::fs::write(
        &config,
        format!(
            "default_account_id = \"{ACCOUNT}\"\n[server]\nlisten = \"127.0.0.1:1\"\n\
             [storage]\npath = \"data/sled\"\n[keys]\npath = \"data/keyring.json\"\n\
             [log]\nformat = \"xml\"\n"
        ),
    )
    .unwrap();
    let errors = stsbridge::config::load(&config).unwrap_err().to_string();
    assert!(
        errors.contains("log.format") || errors.contains("xml"),
        "{errors}"
    );
}

/// Every `stsbridge_*` name the dashboard reads, in its queries and variables.
fn dashboard_metric_names() -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("grafana/stsbridge-dashboard.json");
    let text = std::fs::read_to_string(&path).expect("the dashboard");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("dashboard JSON");
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            exprs.push(target["expr"].as_str().expect("expr").to_owned());
        }
    }
    for variable in dashboard["templating"]["list"].as_array().expect("vars") {
        if let Some(query) = variable["query"].as_str() {
            exprs.push(query.to_owned());
        }
    }
    let mut names = BTreeSet::new();
    for expr in exprs {
        let mut rest = expr.as_str();
        while let Some(at) = rest.find("stsbridge_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            rest = &rest[at + name.len()..];
            names.insert(name);
        }
    }
    names
}

#[tokio::test]
async fn the_dashboard_reads_only_exported_names() {
    let names = dashboard_metric_names();
    assert!(names.len() >= 10, "{names:?}");
    let idp = TestIdp::start().await;
    let daemon = daemon_with(&idp, String::new()).await;
    let client = sts_client(&daemon.url);
    let issued = client
        .assume_role_with_web_identity()
        .role_arn(role_arn("app"))
        .role_session_name("dashboard")
        .web_identity_token(token(&idp, "user-1"))
        .send()
        .await;
    assert_eq!(code(issued), "<ok>");
    let text = scrape(&daemon).await;
    // A family without samples yet still declares its name: `# TYPE NAME KIND`.
    let declared: BTreeSet<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|line| line.split(' ').next())
        .collect();
    for name in &names {
        let base = ["_total", "_bucket", "_count", "_sum", "_info"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(name);
        let exported = declared.contains(name.as_str())
            || declared.contains(base)
            || declared.contains(format!("{name}_info").as_str());
        assert!(
            exported,
            "the dashboard reads {name}, which /metrics does not export:\n{text}"
        );
    }
    daemon.stop().await;
}

/// The daemon binary on a fresh directory (the development issuer, the example's role),
/// logging in `format`; stopped and reaped when dropped.
struct Binary {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Binary {
    fn start(format: &str) -> Binary {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for sub in ["idp-configs", "roles", "policies"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        let port = free_port();
        let role = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("roles/dev-reader.json"),
        )
        .unwrap()
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"));
        std::fs::write(root.join("roles/dev-reader.json"), role).unwrap();
        std::fs::write(
            root.join("stsbridge.toml"),
            format!(
                "default_account_id = \"{ACCOUNT}\"\n[server]\nlisten = \"127.0.0.1:{port}\"\n\
                 [storage]\npath = \"data/sled\"\ncache_capacity_mb = 8\nmin_free_mb = 16\n\
                 [keys]\npath = \"data/keyring.json\"\n[log]\nformat = \"{format}\"\n"
            ),
        )
        .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_stsbridge"))
            .args(["serve", "--dev", "--config"])
            .arg(root.join("stsbridge.toml"))
            .env("RUST_LOG", "info")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the daemon");
        Binary { child, dir, port }
    }

    /// Stop the daemon (SIGTERM: a clean shutdown) and return everything it logged.
    fn stop(mut self) -> String {
        let pid = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let mut text = String::new();
        if let Some(stderr) = self.child.stderr.take() {
            for line in BufReader::new(stderr).lines() {
                text.push_str(&line.unwrap_or_default());
                text.push('\n');
            }
        }
        let _ = self.child.wait();
        text
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Wait until the daemon serves HTTP (and so has set up everything, its signal handler too).
async fn wait_serving(port: u16) {
    let url = format!("http://127.0.0.1:{port}/healthz");
    for _ in 0..500 {
        if reqwest::get(&url).await.is_ok_and(|r| r.status() == 200) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the daemon did not start serving");
}

#[tokio::test]
async fn the_binary_logs_one_json_line_per_issued_credential_without_secrets() {
    let binary = Binary::start("json");
    wait_serving(binary.port).await;
    let config = stsbridge::config::load(&binary.dir.path().join("stsbridge.toml")).unwrap();
    let listen = config.settings.listen;
    let token = stsbridge::dev::sign_dev_token(
        &config.settings,
        listen,
        "alice",
        stsbridge::dev::DEV_AUDIENCE,
        Duration::from_secs(600),
        serde_json::Map::new(),
        stsbridge::clock::SystemClock.now(),
    )
    .unwrap();
    let out = sts_client(&format!("http://{listen}"))
        .assume_role_with_web_identity()
        .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/dev-reader"))
        .role_session_name("json-log")
        .web_identity_token(&token)
        .send()
        .await
        .expect("issued");
    let credentials = out.credentials().unwrap();
    let log = binary.stop();

    assert!(!log.contains('\u{1b}'), "no ANSI escapes off a terminal");
    assert!(!log.contains(credentials.secret_access_key()), "no secret");
    assert!(
        !log.contains(credentials.session_token()),
        "no session token"
    );
    assert!(!log.contains(&token), "no web identity token");
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}")))
        .collect();
    let issued: Vec<_> = lines
        .iter()
        .filter(|line| line["fields"]["message"] == "credentials issued")
        .collect();
    assert_eq!(issued.len(), 1, "one line per credential:\n{log}");
    let fields = &issued[0]["fields"];
    assert_eq!(issued[0]["level"], "INFO");
    assert_eq!(fields["action"], "AssumeRoleWithWebIdentity");
    assert_eq!(
        fields["role"],
        format!("arn:aws:iam::{ACCOUNT}:role/dev-reader")
    );
    assert_eq!(fields["subject"], "alice");
    assert_eq!(fields["access_key_id"], credentials.access_key_id());
    assert!(
        fields["expiration"]
            .as_str()
            .is_some_and(|e| e.ends_with('Z')),
        "{fields}"
    );
    let request_id = fields["request_id"].as_str().expect("request id");
    assert_eq!(request_id.len(), 36, "{request_id}");
}

#[tokio::test]
async fn the_binary_writes_no_ansi_escapes_off_a_terminal() {
    let binary = Binary::start("text");
    wait_serving(binary.port).await;
    let log = binary.stop();
    assert!(log.contains("stsbridge serving"), "{log}");
    assert!(!log.contains('\u{1b}'), "{log:?}");
}
