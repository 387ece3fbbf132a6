//! Live reload on the real daemon: through the admin socket while requests run, and `SIGHUP` on
//! the real binary.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use stsbridge::admin::{AdminRequest, AdminResponse};
use stsbridge::reload::ReloadReport;

use crate::sts::{Fixture, fixture, idp_toml, role_arn, roles};
use crate::support::daemon::{Daemon, code, signed_client};

async fn reload(daemon: &Daemon) -> ReloadReport {
    match daemon.admin(AdminRequest::Reload).await {
        AdminResponse::Reloaded(report) => report,
        other => panic!("unexpected admin response {other:?}"),
    }
}

fn role_file(f: &Fixture, name: &str) -> std::path::PathBuf {
    f.daemon
        .dir
        .path()
        .join("roles")
        .join(format!("{name}.json"))
}

/// The `app` role's file under another name.
fn renamed_app_role(f: &Fixture, name: &str) -> String {
    let app = roles(&f.idp.provider())
        .into_iter()
        .find(|(n, _)| n == "app")
        .map(|(_, text)| text)
        .unwrap();
    app.replace("\"RoleName\":\"app\"", &format!("\"RoleName\":\"{name}\""))
}

/// Requests without pause from `workers` clients until `stop`: (successes, failures, first
/// failure's code).
struct Load {
    ok: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    first_failure: Arc<std::sync::Mutex<Option<String>>>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(f: &Fixture, workers: usize) -> Load {
        let load = Load {
            ok: Arc::default(),
            failed: Arc::default(),
            first_failure: Arc::default(),
            stop: Arc::default(),
            tasks: Vec::new(),
        };
        let mut tasks = Vec::new();
        for i in 0..workers {
            let client = crate::support::daemon::sts_client(&f.daemon.url);
            let token = f.token(&format!("user-load{i}"));
            let (ok, failed, first, stop) = (
                Arc::clone(&load.ok),
                Arc::clone(&load.failed),
                Arc::clone(&load.first_failure),
                Arc::clone(&load.stop),
            );
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let result = client
                        .assume_role_with_web_identity()
                        .role_arn(role_arn("app"))
                        .role_session_name("load")
                        .web_identity_token(&token)
                        .send()
                        .await;
                    match result {
                        Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                        Err(e) => {
                            first
                                .lock()
                                .unwrap()
                                .get_or_insert_with(|| format!("{e:?}"));
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            }));
        }
        Load { tasks, ..load }
    }

    /// Stop and return (successes, failures, first failure).
    async fn finish(self) -> (usize, usize, Option<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.unwrap();
        }
        let first = self.first_failure.lock().unwrap().clone();
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            first,
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_under_load_adds_and_removes_roles_and_refuses_a_broken_file() {
    let f = fixture().await;
    // A session of the role the reload removes, taken before.
    let guarded = f
        .assume("guarded", "before", &f.token("user-alice"))
        .await
        .unwrap();
    let guarded = guarded.credentials().unwrap().clone();
    let caller = |c: &aws_sdk_sts::types::Credentials| {
        signed_client(
            &f.daemon.url,
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token()),
        )
    };
    assert_eq!(
        code(caller(&guarded).get_caller_identity().send().await),
        "<ok>"
    );
    assert_eq!(
        f.assume("added", "sess", &f.token("user-alice"))
            .await
            .err()
            .as_deref(),
        Some("AccessDenied"),
        "no such role yet"
    );
    let jwks_fetches = f.idp.jwks_fetches();

    let load = Load::start(&f, 8);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A role added, a role removed.
    std::fs::write(role_file(&f, "added"), renamed_app_role(&f, "added")).unwrap();
    std::fs::remove_file(role_file(&f, "guarded")).unwrap();
    let report = reload(&f.daemon).await;
    assert!(report.applied, "{report:?}");
    let added = format!("role {} added", role_arn("added"));
    let removed = format!("role {} removed", role_arn("guarded"));
    assert!(report.changes.contains(&added), "{report:?}");
    assert!(
        report.changes.iter().any(|c| c.starts_with(&removed)),
        "{report:?}"
    );
    assert!(report.restart_needed.is_empty(), "{report:?}");
    f.assume("added", "sess", &f.token("user-alice"))
        .await
        .unwrap();
    assert_eq!(
        f.assume("guarded", "sess", &f.token("user-alice"))
            .await
            .err()
            .as_deref(),
        Some("AccessDenied")
    );
    assert_eq!(
        code(caller(&guarded).get_caller_identity().send().await),
        "InvalidClientTokenId",
        "a session of a removed role is refused"
    );

    // A broken file: the whole reload is refused, every problem named; the roles in force stay.
    std::fs::write(role_file(&f, "broken"), "{\"RoleName\": ").unwrap();
    std::fs::write(
        f.daemon.dir.path().join("idp-configs").join("second.toml"),
        "kind = \"oidc\"\nissuer = \"ftp://nowhere\"\n",
    )
    .unwrap();
    let report = reload(&f.daemon).await;
    assert!(!report.applied, "{report:?}");
    assert!(
        report.problems.iter().any(|p| p.contains("broken.json")),
        "{report:?}"
    );
    assert!(
        report.problems.iter().any(|p| p.contains("second.toml")),
        "{report:?}"
    );
    f.assume("added", "sess", &f.token("user-alice"))
        .await
        .unwrap();

    // Repaired: applies again. Several reloads while the load runs.
    std::fs::remove_file(role_file(&f, "broken")).unwrap();
    std::fs::remove_file(f.daemon.dir.path().join("idp-configs").join("second.toml")).unwrap();
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        let started = stsbridge::clock::Stopwatch::start();
        let report = reload(&f.daemon).await;
        slowest = slowest.max(started.elapsed());
        assert!(report.applied, "{report:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (ok, failed, first) = load.finish().await;
    assert_eq!(failed, 0, "first failure: {first:?}");
    assert!(ok > 50, "only {ok} requests ran");
    // The unchanged IdP kept its key cache through every reload.
    assert_eq!(f.idp.jwks_fetches(), jwks_fetches);
    let metrics = reqwest::get(format!("{}/metrics", f.daemon.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for counted in [
        "stsbridge_config_reloads_total{outcome=\"ok\"} 6",
        "stsbridge_config_reloads_total{outcome=\"failed\"} 1",
    ] {
        assert!(metrics.contains(counted), "{counted} not in {metrics}");
    }
    // Each reload is in the audit trail: what changed, or why it was refused.
    let reloads: Vec<_> = f
        .daemon
        .audit()
        .await
        .into_iter()
        .filter(|e| e.event_name == "ReloadConfiguration")
        .collect();
    assert_eq!(reloads.len(), 7);
    let changes = reloads[0].response_elements.as_ref().unwrap()["changes"].to_string();
    assert!(changes.contains(&added), "{changes}");
    assert_eq!(
        reloads[1].error_code.as_deref(),
        Some("InvalidConfiguration")
    );
    assert!(
        reloads[1]
            .error_message
            .as_deref()
            .unwrap()
            .contains("broken.json"),
        "{:?}",
        reloads[1]
    );
    eprintln!("{ok} requests, {failed} failed, slowest reload {slowest:?}");
}

#[tokio::test]
async fn a_changed_idp_is_rebuilt_and_restart_only_settings_are_reported() {
    let f = fixture().await;
    let token = f.token("user-alice");
    f.assume("app", "sess", &token).await.unwrap();
    let idp_file = f.daemon.dir.path().join("idp-configs").join("test.toml");
    std::fs::write(
        &idp_file,
        idp_toml(f.idp.issuer()).replace("client-a", "client-b"),
    )
    .unwrap();
    let main = f.daemon.config_path.clone();
    let text = std::fs::read_to_string(&main).unwrap();
    let listen = f.daemon.addr.to_string();
    std::fs::write(
        &main,
        text.replace(&listen, "127.0.0.1:1")
            .replace(
                "listen = \"127.0.0.1:1\"",
                "listen = \"127.0.0.1:1\"\npublic_url = \"http://127.0.0.1:1\"",
            )
            .replace("cache_capacity_mb = 16", "cache_capacity_mb = 17")
            + "[signin]\nsession_hours = 4\n",
    )
    .unwrap();
    let report = reload(&f.daemon).await;
    assert!(report.applied, "{report:?}");
    assert!(
        report
            .changes
            .contains(&"identity provider test changed".to_owned()),
        "{report:?}"
    );
    assert_eq!(
        report.restart_needed,
        [
            "server.listen",
            "[storage]",
            "server.public_url",
            "[signin] (title, logo_url, templates_dir, session_hours, sp_key_file, sp_cert_file, logins_per_minute)"
        ]
    );
    // The audience of the IdP's new settings applies; the daemon still serves where it did.
    assert_eq!(
        f.assume("app", "sess", &token).await.err().as_deref(),
        Some("InvalidIdentityToken")
    );
}

#[tokio::test]
async fn reload_needs_a_running_daemon() {
    let f = fixture().await;
    let dir = f.daemon.stop().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stsbridge"))
        .arg("--config")
        .arg(dir.path().join("stsbridge.toml"))
        .arg("reload")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no daemon is listening on"), "{stderr}");
}

/// `kill -HUP` reloads the real binary (it used to terminate it), and `stsbridge reload` prints
/// the problems of a broken configuration and exits 1.
#[test]
fn sighup_reloads_the_daemon_and_the_cli_prints_problems() {
    use std::process::Command;

    let dir = crate::check_config::config_dir(
        &crate::check_config::MAIN.replace("127.0.0.1:8080", "127.0.0.1:0"),
    );
    let config = dir.path().join("stsbridge.toml");
    let mut daemon = crate::support::process::Served::start(&config);
    daemon.wait_for("stsbridge serving");

    rustix::process::kill_process(daemon.pid(), rustix::process::Signal::HUP).unwrap();
    daemon.wait_for("configuration reloaded");
    assert!(daemon.running(), "SIGHUP ended the daemon");

    std::fs::write(dir.path().join("roles/broken.json"), "[").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_stsbridge"))
        .arg("--config")
        .arg(&config)
        .arg("reload")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("broken.json"), "{stdout}");
    assert!(
        stdout.contains(
            "reload refused: 1 problem(s) found; the configuration in force is unchanged"
        ),
        "{stdout}"
    );
    let log = daemon.wait_for("configuration reload refused");
    assert!(log.contains("broken.json"), "{log}");

    // The running daemon still answers the admin commands: only the main file is read to
    // reach it.
    for command in [&["sessions", "list"][..], &["audit", "list", "--json"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_stsbridge"))
            .arg("--config")
            .arg(&config)
            .args(command)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{command:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
