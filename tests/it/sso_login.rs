//! `stsbridge login` (the real binary) against a daemon serving the SSO OIDC API, with a
//! config file and a token cache of its own: the device flow registers, starts and shows the
//! verification URL and the user code the person confirms.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::support::daemon::{Daemon, Setup};

/// The `[sso-session]` the tests sign in with.
pub const SESSION: &str = "corp";

/// A daemon whose public URL is its listen address (the start URL of the session).
async fn daemon() -> Daemon {
    Daemon::start(Setup {
        server: "public_url = \"http://{LISTEN}\"".to_owned(),
        ..Setup::default()
    })
    .await
}

/// Write an AWS config file into `dir` with the `[sso-session corp]` of `daemon` (its start
/// URL only: the endpoints are the daemon's layout under it) and another profile to keep.
pub fn write_aws_config(dir: &Path, daemon: &Daemon) -> PathBuf {
    let path = dir.join("config");
    std::fs::write(
        &path,
        format!(
            "# mine\n[default]\nregion = us-east-1\n\n[sso-session {SESSION}]\n\
             sso_start_url = {}\nsso_region = eu-central-1\n",
            daemon.url
        ),
    )
    .expect("write the AWS config");
    path
}

/// The token cache file login writes into `dir/cache` (botocore's name: the SHA-1 of the
/// session name).
pub fn cache_path(dir: &Path) -> PathBuf {
    let hash = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        SESSION.as_bytes(),
    );
    dir.join("cache").join(format!(
        "{}.json",
        data_encoding::HEXLOWER.encode(hash.as_ref())
    ))
}

/// A running `stsbridge login --sso-session corp --no-browser ARGS` with `dir/config` as its
/// AWS config file, `dir/cache` as its cache directory and `dir` as its home; killed when
/// dropped.
pub struct LoginRun {
    child: Child,
    stderr: mpsc::Receiver<String>,
    stdout: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl LoginRun {
    pub fn start(dir: &Path, args: &[&str]) -> LoginRun {
        let mut child = Command::new(env!("CARGO_BIN_EXE_stsbridge"))
            .args(["login", "--sso-session", SESSION, "--no-browser"])
            .arg("--aws-config")
            .arg(dir.join("config"))
            .arg("--cache-dir")
            .arg(dir.join("cache"))
            .args(args)
            .env("HOME", dir)
            .env("RUST_LOG", "warn")
            .env_remove("AWS_CONFIG_FILE")
            .env_remove("AWS_ENDPOINT_URL_SSO_OIDC")
            .env_remove("AWS_ENDPOINT_URL_SSO")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start stsbridge login");
        let stderr = lines_of(child.stderr.take().expect("stderr"));
        let stdout = lines_of(child.stdout.take().expect("stdout"));
        LoginRun {
            child,
            stderr,
            stdout,
            seen: Vec::new(),
        }
    }

    /// Read standard error until a line holds `needle` (30 s at most); that line.
    fn wait_for(&mut self, needle: impl Fn(&str) -> bool) -> String {
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_secs(30)) {
            self.seen.push(line.clone());
            if needle(&line) {
                return line;
            }
        }
        panic!("login never printed the line:\n{}", self.seen.join("\n"));
    }

    /// The device flow's verification URL (complete, with the user code) and the user code
    /// shown on a line of its own, as printed for `daemon_url` (blocking: call it from
    /// `spawn_blocking`).
    pub fn device_prompt(&mut self, daemon_url: &str) -> (String, String) {
        let prefix = format!("{daemon_url}/device?user_code=");
        let url = self
            .wait_for(|l| l.trim().starts_with(&prefix))
            .trim()
            .to_owned();
        let code = url[prefix.len()..].to_owned();
        self.wait_for(|l| l.trim() == code);
        (url, code)
    }

    /// Whether login has not ended yet.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Wait for login to end (2 minutes at most, blocking): its exit status, standard output
    /// (the config stanzas) and standard error.
    pub fn finish(mut self) -> (ExitStatus, String, String) {
        let mut status = None;
        for _ in 0..1200 {
            status = self.child.try_wait().expect("try_wait");
            if status.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let status = status.expect("login ended within 2 minutes");
        // The readers end at the end of the output, now that the process has ended.
        let out: Vec<String> = self.stdout.iter().collect();
        let mut seen = std::mem::take(&mut self.seen);
        seen.extend(self.stderr.iter());
        (status, out.join("\n"), seen.join("\n"))
    }
}

impl Drop for LoginRun {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The lines of a child's output as they come.
fn lines_of(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stream)
            .lines()
            .map_while(Result::ok)
        {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    receive
}

/// The whole device flow through `stsbridge login --device ARGS` with the config and cache
/// in `dir` (see [`write_aws_config`]): `approve` gets the verification URL and user code and
/// approves them at the daemon, as the person would; then login must succeed, the token cache
/// must have botocore's name, mode and members for the session, and the stanzas must name the
/// session and the endpoints. The cache's JSON and the stanzas printed.
///
/// It needs CreateToken (and the portal API for the role listing): the tests of those call it.
pub async fn login_with_the_device_flow_writes_the_token_cache(
    daemon: &Daemon,
    dir: &Path,
    args: &[&str],
    approve: impl AsyncFnOnce(&str, &str),
) -> (serde_json::Value, String) {
    use std::os::unix::fs::PermissionsExt as _;
    let mut all_args = vec!["--device"];
    all_args.extend_from_slice(args);
    let run = LoginRun::start(dir, &all_args);
    let daemon_url = daemon.url.clone();
    let (mut run, (url, code)) = tokio::task::spawn_blocking(move || {
        let mut run = run;
        let prompt = run.device_prompt(&daemon_url);
        (run, prompt)
    })
    .await
    .expect("prompt");
    assert!(
        !cache_path(dir).exists(),
        "nothing cached before the approval"
    );
    approve(&url, &code).await;
    let (status, stdout, stderr) = tokio::task::spawn_blocking(move || {
        let seen = std::mem::take(&mut run.seen);
        let (status, stdout, rest) = run.finish();
        (status, stdout, format!("{}\n{rest}", seen.join("\n")))
    })
    .await
    .expect("finish");
    assert!(status.success(), "login failed:\n{stderr}");
    let path = cache_path(dir);
    let mode = std::fs::metadata(&path)
        .expect("the token cache")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let cache: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("JSON");
    assert_eq!(cache["startUrl"], daemon.url.as_str());
    assert_eq!(cache["region"], "eu-central-1");
    for member in [
        "accessToken",
        "expiresAt",
        "clientId",
        "clientSecret",
        "registrationExpiresAt",
        "refreshToken",
    ] {
        assert!(cache[member].is_string(), "{member} in {cache}");
    }
    assert!(
        stdout.contains(&format!("[sso-session {SESSION}]"))
            && stdout.contains(&format!("endpoint_url = {}/sso-oidc", daemon.url)),
        "{stdout}"
    );
    (cache, stdout)
}

#[tokio::test]
async fn login_device_registers_starts_and_shows_the_url_and_the_user_code() {
    let daemon = daemon().await;
    let dir = tempfile::tempdir().expect("tempdir");
    write_aws_config(dir.path(), &daemon);
    let run = LoginRun::start(dir.path(), &["--device"]);
    let daemon_url = daemon.url.clone();
    let (run, (verification, code)) = tokio::task::spawn_blocking(move || {
        let mut run = run;
        let prompt = run.device_prompt(&daemon_url);
        (run, prompt)
    })
    .await
    .expect("prompt");
    // `XXXX-XXXX`: the daemon's user code, so RegisterClient (with the device grant) and
    // StartDeviceAuthorization (with the session's start URL) both succeeded.
    let (a, b) = code.split_once('-').expect("XXXX-XXXX");
    assert!(a.len() == 4 && b.len() == 4, "{code}");
    assert_eq!(
        verification,
        format!("{}/device?user_code={code}", daemon.url)
    );
    // Nothing is cached before the person approves, and no secret is printed.
    assert!(!cache_path(dir.path()).exists());
    assert!(
        !run.seen
            .iter()
            .any(|l| l.contains("clientSecret") || l.contains("deviceCode")),
        "{:?}",
        run.seen
    );
    drop(run);
}

#[tokio::test]
async fn login_names_the_file_and_the_key_that_are_missing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config");
    std::fs::write(&config, "[sso-session corp]\nsso_region = eu-central-1\n").expect("write");
    let run = LoginRun::start(dir.path(), &["--device"]);
    let (status, stdout, stderr) = tokio::task::spawn_blocking(move || run.finish())
        .await
        .expect("finish");
    assert!(!status.success());
    assert_eq!(stdout, "");
    assert!(
        stderr.contains(&format!(
            "{}: [sso-session corp] has no sso_start_url",
            config.display()
        )),
        "{stderr}"
    );
    assert!(!dir.path().join("cache").exists());
}

/// The authorization code flow's browser URL, as printed (blocking).
fn authorize_prompt(run: &mut LoginRun, daemon_url: &str) -> reqwest::Url {
    let prefix = format!("{daemon_url}/sso-oidc/authorize?");
    let line = run.wait_for(|l| l.trim().starts_with(&prefix));
    reqwest::Url::parse(line.trim()).expect("the authorize URL")
}

/// The query parameters of `url`.
fn query(url: &reqwest::Url) -> std::collections::HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

/// The whole authorization code flow through `stsbridge login ARGS` with the config and cache
/// in `dir`: `browse` gets the authorize URL login would open and must bring the browser back
/// to its loopback redirect (signing the person in at the daemon on the way); then login must
/// succeed and the token cache hold the session's tokens. The cache's JSON and the stanzas.
///
/// It needs the authorize endpoint and CreateToken: the tests of those call it.
pub async fn login_with_the_authorization_code_flow_writes_the_token_cache(
    daemon: &Daemon,
    dir: &Path,
    args: &[&str],
    browse: impl AsyncFnOnce(reqwest::Url),
) -> (serde_json::Value, String) {
    let run = LoginRun::start(dir, args);
    let daemon_url = daemon.url.clone();
    let (run, authorize) = tokio::task::spawn_blocking(move || {
        let mut run = run;
        let url = authorize_prompt(&mut run, &daemon_url);
        (run, url)
    })
    .await
    .expect("prompt");
    browse(authorize).await;
    let (status, stdout, stderr) = tokio::task::spawn_blocking(move || run.finish())
        .await
        .expect("finish");
    assert!(status.success(), "login failed:\n{stderr}");
    let cache: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cache_path(dir)).expect("the token cache"))
            .expect("JSON");
    assert_eq!(cache["startUrl"], daemon.url.as_str());
    assert!(cache["accessToken"].is_string() && cache["refreshToken"].is_string());
    (cache, stdout)
}

#[tokio::test]
async fn login_opens_the_aws_clis_authorize_url_and_ignores_a_redirect_of_another_state() {
    let daemon = daemon().await;
    let dir = tempfile::tempdir().expect("tempdir");
    write_aws_config(dir.path(), &daemon);
    let browser = reqwest::Client::new();
    let run = LoginRun::start(dir.path(), &[]);
    let daemon_url = daemon.url.clone();
    let (mut run, authorize) = tokio::task::spawn_blocking(move || {
        let mut run = run;
        let url = authorize_prompt(&mut run, &daemon_url);
        (run, url)
    })
    .await
    .expect("prompt");
    let params = query(&authorize);
    assert_eq!(
        authorize
            .query_pairs()
            .map(|(k, _)| k.into_owned())
            .collect::<Vec<_>>(),
        [
            "response_type",
            "client_id",
            "redirect_uri",
            "state",
            "code_challenge_method",
            "scopes",
            "code_challenge"
        ]
    );
    assert_eq!(params["response_type"], "code");
    assert_eq!(params["code_challenge_method"], "S256");
    assert_eq!(params["scopes"], "sso:account:access");
    // SHA-256 in base64url without padding.
    assert_eq!(params["code_challenge"].len(), 43);
    assert!(!params["client_id"].is_empty() && !params["state"].is_empty());
    let redirect = reqwest::Url::parse(&params["redirect_uri"]).expect("redirect_uri");
    assert_eq!(redirect.host_str(), Some("127.0.0.1"));
    assert_eq!(redirect.path(), "/oauth/callback");
    assert!(redirect.port().is_some_and(|p| p != 0));

    // Anyone on the machine (or a web page probing loopback ports) gets there first, with
    // another state or none: each is answered 400 and ignored; login keeps waiting.
    for stray in [
        "code=stolen&state=another",
        "code=stolen",
        "",
        "error=access_denied&error_description=forged&state=another",
        "error=access_denied",
    ] {
        let page = browser
            .get(format!("{redirect}?{stray}"))
            .send()
            .await
            .expect("the stray redirect");
        assert_eq!(page.status(), 400, "{stray}");
        let text = page.text().await.expect("page");
        assert!(text.contains("it was ignored"), "{stray}: {text}");
        assert!(
            !text.contains("stolen") && !text.contains("forged"),
            "{text}"
        );
    }
    assert!(run.is_running(), "a stray redirect ended login");

    // Then the browser comes back with the state sent and an error: the page says to close
    // it; login ends with that error.
    let back = format!(
        "{redirect}?error=access_denied&error_description=denied&state={}",
        params["state"]
    );
    let page = browser
        .get(&back)
        .send()
        .await
        .expect("the loopback redirect");
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .expect("page")
            .contains("close this window")
    );
    let (status, stdout, stderr) = tokio::task::spawn_blocking(move || run.finish())
        .await
        .expect("finish");
    assert!(!status.success());
    assert_eq!(stdout, "");
    assert!(
        stderr.contains("the browser sign-in failed: access_denied: denied"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("forged") && !stderr.contains("the redirect's state is not"),
        "{stderr}"
    );
    assert!(!cache_path(dir.path()).exists());
}
