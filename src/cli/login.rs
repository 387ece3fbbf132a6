//! `stsbridge login --sso-session NAME`: the sign-in that AWS CLI v2 does with `aws sso login`,
//! for clients without one (AWS CLI v1, boto3 scripts). It speaks the SSO OIDC API
//! (RegisterClient, then authorization code + PKCE on a loopback redirect, or the device flow)
//! and writes the token cache file exactly as botocore names and shapes it, so every SDK then
//! refreshes by itself; then it lists the accounts and roles of the portal API and prints (or
//! writes) the `~/.aws/config` stanzas that use them.
//!
//! The pure steps (config resolution, cache file name and body, PKCE, the browser URL, the
//! stanzas, the config rewrite) are plain functions, tested below; the rest is HTTP.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use data_encoding::{BASE64URL_NOPAD, HEXLOWER};
use ini::{Ini, ParseOption};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use stsbridge::clock::{Clock, Stopwatch, SystemClock, from_unix_seconds, iso8601};

/// The client name RegisterClient is given.
pub const CLIENT_NAME: &str = "stsbridge-login";
/// `sso_registration_scopes` when the session names none (as the AWS CLI).
pub const DEFAULT_SCOPE: &str = "sso:account:access";
/// The redirect URI registered (no port: RFC 8252 section 7.3 lets the port vary).
pub const REGISTERED_REDIRECT_URI: &str = "http://127.0.0.1/oauth/callback";
/// The loopback path the browser is sent back to.
pub const CALLBACK_PATH: &str = "/oauth/callback";
pub const GRANT_DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";
pub const GRANT_AUTHORIZATION_CODE: &str = "authorization_code";
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";
/// The portal API's bearer header.
pub const BEARER_HEADER: &str = "x-amz-sso_bearer_token";

/// How long the browser sign-in may take (as the AWS CLI).
const CALLBACK_TIMEOUT: Duration = Duration::from_secs(600);
/// What SlowDownException adds to the polling interval (RFC 8628 section 3.5).
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);
/// Timeouts of every request to the two APIs.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The most pages of accounts or roles read (a loop guard against a server that never ends).
const MAX_PAGES: usize = 100;

#[derive(clap::Args, Debug)]
pub struct LoginArgs {
    /// The `[sso-session NAME]` section of the AWS config file to sign in with (its
    /// `sso_start_url` is the daemon's public URL, `sso_region` any region name).
    #[arg(long, value_name = "NAME")]
    pub sso_session: String,
    /// The device flow (a code confirmed in a browser, possibly on another machine) instead of
    /// the authorization code flow with PKCE and a loopback redirect.
    #[arg(long)]
    pub device: bool,
    /// Print the sign-in URL to standard error instead of opening a browser.
    #[arg(long)]
    pub no_browser: bool,
    /// The AWS config file [default: $AWS_CONFIG_FILE, else ~/.aws/config]. (`--config` is
    /// stsbridge's own configuration file.)
    #[arg(long = "aws-config", env = "AWS_CONFIG_FILE", value_name = "FILE")]
    pub aws_config: Option<PathBuf>,
    /// Where the token cache file is written, as the SDKs read it [default: ~/.aws/sso/cache].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// The profile to print (or write) with `--account-id` and `--role-name`; its `services`
    /// also names endpoint overrides.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// The account of the profile.
    #[arg(long, value_name = "ID")]
    pub account_id: Option<String>,
    /// The role of the profile.
    #[arg(long, value_name = "NAME")]
    pub role_name: Option<String>,
    /// Write the `[profile]`, `[services]` and `[sso-session]` sections into the config file
    /// (the rest kept; the old file saved as `<file>.bak`).
    #[arg(long, requires_all = ["profile", "account_id", "role_name"])]
    pub write_profile: bool,
}

/// Why the sign-in failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Something missing or wrong in the AWS config file.
    #[error("{}: {problem}", file.display())]
    Config { file: PathBuf, problem: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The request did not get an answer.
    #[error("{operation} ({url}): {message}")]
    Http {
        operation: &'static str,
        url: String,
        message: String,
    },
    /// The API answered with an error.
    #[error("{operation} refused: {code}: {message}")]
    Api {
        operation: &'static str,
        code: String,
        message: String,
    },
    #[error("the browser sign-in failed: {0}")]
    Browser(String),
    #[error("{0}")]
    Other(String),
}

fn config_error(file: &Path, problem: impl Into<String>) -> LoginError {
    LoginError::Config {
        file: file.to_owned(),
        problem: problem.into(),
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> LoginError + '_ {
    move |source| LoginError::Io {
        path: path.to_owned(),
        source,
    }
}

// ---------------------------------------------------------------------------------------------
// The AWS config file

/// An `[sso-session NAME]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoSession {
    pub name: String,
    pub start_url: String,
    pub region: String,
    pub scopes: Vec<String>,
}

/// The two APIs' base URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// SSO OIDC (`AWS_ENDPOINT_URL_SSO_OIDC`, `sso_oidc`).
    pub oidc: String,
    /// The portal (`AWS_ENDPOINT_URL_SSO`, `sso`).
    pub portal: String,
}

/// The endpoint environment variables, as read (`AWS_ENDPOINT_URL_SSO_OIDC`,
/// `AWS_ENDPOINT_URL_SSO`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvEndpoints {
    pub oidc: Option<String>,
    pub portal: Option<String>,
}

impl EnvEndpoints {
    pub fn from_env() -> Self {
        let read = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Self {
            oidc: read("AWS_ENDPOINT_URL_SSO_OIDC"),
            portal: read("AWS_ENDPOINT_URL_SSO"),
        }
    }
}

/// Parse an AWS config file as botocore does: no escapes or quotes, indented lines continue a
/// value (the `services` sections' sub-keys).
pub fn parse_aws_config(text: &str, file: &Path) -> Result<Ini, LoginError> {
    let options = ParseOption {
        enabled_quote: false,
        enabled_escape: false,
        enabled_indented_mutiline_value: true,
        enabled_preserve_key_leading_whitespace: false,
    };
    Ini::load_from_str_opt(text, options).map_err(|e| config_error(file, e.to_string()))
}

/// The `[sso-session NAME]` section of `ini` (read from `file`).
pub fn sso_session(ini: &Ini, file: &Path, name: &str) -> Result<SsoSession, LoginError> {
    let header = format!("sso-session {name}");
    let section = ini
        .section(Some(header.as_str()))
        .ok_or_else(|| config_error(file, format!("no [{header}] section")))?;
    let required = |key: &str| {
        section
            .get(key)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| config_error(file, format!("[{header}] has no {key}")))
    };
    let start_url = required("sso_start_url")?;
    let region = required("sso_region")?;
    let scopes: Vec<String> = section
        .get("sso_registration_scopes")
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok(SsoSession {
        name: name.to_owned(),
        start_url,
        region,
        scopes: if scopes.is_empty() {
            vec![DEFAULT_SCOPE.to_owned()]
        } else {
            scopes
        },
    })
}

/// The section header of profile `name` (`[default]` for the default profile).
pub fn profile_header(name: &str) -> String {
    if name == "default" {
        "default".to_owned()
    } else {
        format!("profile {name}")
    }
}

/// The endpoints, in the SDKs' order: the environment; else the `services` section named by
/// `profile` (when given and present) or by any profile whose `sso_session` is the session;
/// else `<sso_start_url>/sso-oidc` and `<sso_start_url>/sso`, where this daemon serves them.
pub fn endpoints(
    ini: &Ini,
    file: &Path,
    session: &SsoSession,
    profile: Option<&str>,
    env: &EnvEndpoints,
) -> Result<Endpoints, LoginError> {
    let services = services_of(ini, file, session, profile)?;
    let base = session.start_url.trim_end_matches('/');
    let pick = |from_env: &Option<String>, key: &str, default: &str| {
        from_env
            .clone()
            .or_else(|| services.as_ref().and_then(|s| s.get(key).cloned()))
            .unwrap_or_else(|| format!("{base}{default}"))
    };
    Ok(Endpoints {
        oidc: pick(&env.oidc, "sso_oidc", "/sso-oidc"),
        portal: pick(&env.portal, "sso", "/sso"),
    })
}

/// The `endpoint_url` per service key of the `[services S]` section that applies, if any.
fn services_of(
    ini: &Ini,
    file: &Path,
    session: &SsoSession,
    profile: Option<&str>,
) -> Result<Option<HashMap<String, String>>, LoginError> {
    let chosen = profile.and_then(|p| {
        ini.section(Some(profile_header(p).as_str()))
            .or_else(|| ini.section(Some(format!("profile {p}").as_str())))
            .map(|s| (profile_header(p), s))
    });
    let of_session = || {
        ini.iter().find_map(|(name, props)| {
            let name = name?;
            let is_profile = name == "default" || name.starts_with("profile ");
            (is_profile && props.get("sso_session").map(str::trim) == Some(&session.name))
                .then(|| (name.to_owned(), props))
        })
    };
    let Some((header, props)) = chosen.or_else(of_session) else {
        return Ok(None);
    };
    let Some(services) = props.get("services").map(str::trim) else {
        return Ok(None);
    };
    let services_header = format!("services {services}");
    let section = ini.section(Some(services_header.as_str())).ok_or_else(|| {
        config_error(
            file,
            format!("[{header}] has services = {services} but there is no [{services_header}]"),
        )
    })?;
    let mut urls = HashMap::new();
    for (key, value) in section.iter() {
        for line in value.lines() {
            if let Some((sub, url)) = line.split_once('=')
                && sub.trim() == "endpoint_url"
                && !url.trim().is_empty()
            {
                urls.insert(key.trim().to_owned(), url.trim().to_owned());
            }
        }
    }
    Ok(Some(urls))
}

// ---------------------------------------------------------------------------------------------
// The token cache

/// The cache file's name: the SHA-1 (hex) of the session name, as botocore's
/// `SSOTokenLoader` and every SDK look it up.
pub fn cache_file_name(session_name: &str) -> String {
    let hash = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, session_name.as_bytes());
    format!("{}.json", HEXLOWER.encode(hash.as_ref()))
}

/// The token cache file's body, as botocore writes it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenCache {
    pub start_url: String,
    pub region: String,
    pub access_token: String,
    /// `YYYY-MM-DDTHH:MM:SSZ`.
    pub expires_at: String,
    pub client_id: String,
    pub client_secret: String,
    /// `YYYY-MM-DDTHH:MM:SSZ`.
    pub registration_expires_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("start_url", &self.start_url)
            .field("region", &self.region)
            .field("expires_at", &self.expires_at)
            .field("client_id", &self.client_id)
            .field("registration_expires_at", &self.registration_expires_at)
            .finish_non_exhaustive()
    }
}

/// A registered client (RegisterClient's answer).
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Client {
    pub client_id: String,
    pub client_secret: String,
    /// Unix seconds.
    pub client_secret_expires_at: i64,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("client_id", &self.client_id)
            .field("client_secret_expires_at", &self.client_secret_expires_at)
            .finish_non_exhaustive()
    }
}

/// CreateToken's answer.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Token {
    pub access_token: String,
    /// Seconds.
    pub expires_in: u64,
    pub refresh_token: Option<String>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// The cache body of `token`, received at `now` by `client` for `session`.
pub fn token_cache(
    session: &SsoSession,
    client: &Client,
    token: &Token,
    now: SystemTime,
) -> TokenCache {
    TokenCache {
        start_url: session.start_url.clone(),
        region: session.region.clone(),
        access_token: token.access_token.clone(),
        expires_at: iso8601(now + Duration::from_secs(token.expires_in)),
        client_id: client.client_id.clone(),
        client_secret: client.client_secret.clone(),
        registration_expires_at: iso8601(from_unix_seconds(client.client_secret_expires_at)),
        refresh_token: token.refresh_token.clone(),
    }
}

/// Write `cache` for `session_name` into `dir` (made 0700 when missing): the file is 0600 and
/// replaced whole (a temporary file renamed over it), so an SDK never reads half of it.
pub fn write_cache(
    dir: &Path,
    session_name: &str,
    cache: &TokenCache,
) -> Result<PathBuf, LoginError> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_error(dir))?;
    let path = dir.join(cache_file_name(session_name));
    let body = serde_json::to_vec(cache).map_err(|e| LoginError::Other(e.to_string()))?;
    write_atomically(&path, &body, 0o600)?;
    Ok(path)
}

/// Write `body` to `path` through a temporary file of mode `mode` beside it, renamed over it.
fn write_atomically(path: &Path, body: &[u8], mode: u32) -> Result<(), LoginError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = path.with_file_name(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&temporary)
        .and_then(|mut f| {
            f.write_all(body)?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&temporary, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written.map_err(io_error(path))
}

// ---------------------------------------------------------------------------------------------
// Authorization code + PKCE (RFC 7636)

/// A PKCE code verifier: 64 characters of base64url over 48 random bytes (RFC 7636 section
/// 4.1 asks for 43 to 128 unreserved characters).
pub fn pkce_verifier(rng: &dyn SecureRandom) -> Result<String, LoginError> {
    let mut bytes = [0u8; 48];
    rng.fill(&mut bytes)
        .map_err(|_| LoginError::Other("no random bytes for the PKCE verifier".into()))?;
    Ok(BASE64URL_NOPAD.encode(&bytes))
}

/// The S256 code challenge of `verifier`: base64url (no padding) of its SHA-256.
pub fn pkce_challenge(verifier: &str) -> String {
    BASE64URL_NOPAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()).as_ref())
}

/// The loopback redirect URI on `port`.
pub fn redirect_uri(port: u16) -> String {
    format!("http://127.0.0.1:{port}{CALLBACK_PATH}")
}

/// `base` with `path` appended to its path.
fn join(base: &str, path: &str) -> String {
    format!("{}{path}", base.trim_end_matches('/'))
}

/// The browser URL of the authorization code flow, as the AWS CLI builds it:
/// `<oidc endpoint>/authorize?response_type=code&client_id&redirect_uri&state&
/// code_challenge_method=S256&scopes=<space separated>&code_challenge`.
pub fn authorize_url(
    oidc_endpoint: &str,
    client_id: &str,
    redirect_uri: &str,
    state: &str,
    code_challenge: &str,
    scopes: &[String],
) -> Result<String, LoginError> {
    let mut url = Url::parse(&join(oidc_endpoint, "/authorize")).map_err(|e| {
        LoginError::Other(format!(
            "the SSO OIDC endpoint {oidc_endpoint:?} is not a URL: {e}"
        ))
    })?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", state)
        .append_pair("code_challenge_method", "S256")
        .append_pair("scopes", &scopes.join(" "))
        .append_pair("code_challenge", code_challenge);
    Ok(url.into())
}

/// Whether the redirect's `state` is `state` (compared in constant time; a missing one is not).
pub fn same_state(params: &HashMap<String, String>, state: &str) -> bool {
    params.get("state").is_some_and(|s| {
        s.len() == state.len()
            && aws_lc_rs::constant_time::verify_slices_are_equal(s.as_bytes(), state.as_bytes())
                .is_ok()
    })
}

/// What came back on the loopback redirect, checked against the `state` sent: the code, or
/// why not (fail closed: a missing or other state is refused, an `error` is reported).
pub fn callback_code(params: &HashMap<String, String>, state: &str) -> Result<String, LoginError> {
    if !same_state(params, state) {
        return Err(LoginError::Browser(
            "the redirect's state is not the one sent (another sign-in, or a forged redirect)"
                .into(),
        ));
    }
    if let Some(error) = params.get("error") {
        let description = params
            .get("error_description")
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        return Err(LoginError::Browser(format!("{error}{description}")));
    }
    params
        .get("code")
        .filter(|c| !c.is_empty())
        .cloned()
        .ok_or_else(|| LoginError::Browser("the redirect carries no code".into()))
}

// ---------------------------------------------------------------------------------------------
// The config stanzas

/// One section of the config file: its header (without brackets) and its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub header: String,
    pub lines: Vec<String>,
}

impl Section {
    /// The section as text, ending in a newline.
    pub fn text(&self) -> String {
        let mut text = format!("[{}]\n", self.header);
        for line in &self.lines {
            text.push_str(line);
            text.push('\n');
        }
        text
    }
}

/// The name of the `[services]` section this command writes for `session`.
pub fn services_name(session: &str) -> String {
    format!("{session}-endpoints")
}

/// `[sso-session NAME]` and `[services NAME-endpoints]` for `session` at `endpoints`.
pub fn session_sections(session: &SsoSession, endpoints: &Endpoints) -> [Section; 2] {
    [
        Section {
            header: format!("sso-session {}", session.name),
            lines: vec![
                format!("sso_start_url = {}", session.start_url),
                format!("sso_region = {}", session.region),
                format!("sso_registration_scopes = {}", session.scopes.join(",")),
            ],
        },
        Section {
            header: format!("services {}", services_name(&session.name)),
            lines: vec![
                "sso_oidc =".to_owned(),
                format!("  endpoint_url = {}", endpoints.oidc),
                "sso =".to_owned(),
                format!("  endpoint_url = {}", endpoints.portal),
            ],
        },
    ]
}

/// `[profile P]` using `session` for `role_name` in `account_id`.
pub fn profile_section(
    profile: &str,
    session: &SsoSession,
    account_id: &str,
    role_name: &str,
) -> Section {
    Section {
        header: profile_header(profile),
        lines: vec![
            format!("sso_session = {}", session.name),
            format!("sso_account_id = {account_id}"),
            format!("sso_role_name = {role_name}"),
            format!("region = {}", session.region),
            format!("services = {}", services_name(&session.name)),
        ],
    }
}

/// An account and one of its roles the person may use (the portal's listing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleChoice {
    pub account_id: String,
    pub account_name: Option<String>,
    pub role_name: String,
}

/// What to print: the session's sections, then the chosen profile, or every role found as a
/// commented suggestion (`# [profile ROLE-ACCOUNT]`, uncomment the one wanted).
pub fn stanzas(
    session: &SsoSession,
    endpoints: &Endpoints,
    chosen: Option<&Section>,
    found: &[RoleChoice],
) -> String {
    let mut text = String::new();
    for section in session_sections(session, endpoints) {
        text.push_str(&section.text());
        text.push('\n');
    }
    if let Some(profile) = chosen {
        text.push_str(&profile.text());
        return text;
    }
    if found.is_empty() {
        text.push_str("# No account or role is assigned to you.\n");
        return text;
    }
    for choice in found {
        let named = choice
            .account_name
            .as_deref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default();
        let _ = writeln!(text, "# account {}{named}", choice.account_id);
        let profile = format!("{}-{}", choice.role_name, choice.account_id);
        let section = profile_section(&profile, session, &choice.account_id, &choice.role_name);
        for line in section.text().lines() {
            let _ = writeln!(text, "# {line}");
        }
        text.push('\n');
    }
    text
}

/// `original` (a config file's text) with each of `sections` in place of the section of the
/// same header (later duplicates of it dropped), or appended when absent. Everything else is
/// kept as it was, comments included; a replaced section's trailing blank and comment lines
/// stay too (they usually belong to the next section).
pub fn replace_sections(original: &str, sections: &[Section]) -> String {
    let header_of = |line: &str| {
        let trimmed = line.trim();
        (!line.starts_with([' ', '\t']) && trimmed.starts_with('[') && trimmed.ends_with(']'))
            .then(|| normalize_header(&trimmed[1..trimmed.len() - 1]))
    };
    let wanted = |header: &str| {
        sections
            .iter()
            .position(|s| normalize_header(&s.header) == header)
    };
    let mut out = String::new();
    let mut written = vec![false; sections.len()];
    let lines: Vec<&str> = original.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let replacing = header_of(lines[i]).and_then(|h| wanted(&h));
        let Some(index) = replacing else {
            out.push_str(lines[i]);
            out.push('\n');
            i += 1;
            continue;
        };
        let mut end = i + 1;
        while end < lines.len() && header_of(lines[end]).is_none() {
            end += 1;
        }
        let mut keep_from = end;
        while keep_from > i + 1 {
            let line = lines[keep_from - 1].trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                keep_from -= 1;
            } else {
                break;
            }
        }
        if !written[index] {
            out.push_str(&sections[index].text());
            written[index] = true;
        }
        for line in &lines[keep_from..end] {
            out.push_str(line);
            out.push('\n');
        }
        i = end;
    }
    for (section, done) in sections.iter().zip(written) {
        if !done {
            if !out.is_empty() && !out.ends_with("\n\n") {
                out.push('\n');
            }
            out.push_str(&section.text());
        }
    }
    out
}

/// A header with its words separated by single spaces (`[profile   dev]` is `[profile dev]`).
fn normalize_header(header: &str) -> String {
    let header = header.split_whitespace().collect::<Vec<_>>().join(" ");
    if header == "profile default" {
        "default".to_owned()
    } else {
        header
    }
}

/// Write `sections` into the config file at `path`: the old file saved as `<path>.bak` first,
/// the new one written whole (a temporary file renamed over it), with the old mode.
///
/// A `path` that is a symbolic link (dotfile managers make them) stays one: the file it points
/// to is the one replaced, through a temporary file in that file's directory. The backup is
/// never written through a link: a symbolic link at `<path>.bak` is refused, an old backup
/// removed, and the new one created afresh (`O_EXCL`, which follows no link).
pub fn write_config(path: &Path, sections: &[Section]) -> Result<PathBuf, LoginError> {
    use std::os::unix::fs::PermissionsExt as _;
    let target = std::fs::canonicalize(path).map_err(io_error(path))?;
    let original = std::fs::read_to_string(&target).map_err(io_error(&target))?;
    let mode = std::fs::metadata(&target)
        .map_err(io_error(&target))?
        .permissions()
        .mode()
        & 0o777;
    let mut backup = path.as_os_str().to_owned();
    backup.push(".bak");
    let backup = PathBuf::from(backup);
    write_backup(&backup, original.as_bytes(), mode)?;
    write_atomically(
        &target,
        replace_sections(&original, sections).as_bytes(),
        mode,
    )?;
    Ok(backup)
}

/// Create `backup` anew with `body` and `mode`, without following a link at that name: a
/// symbolic link there is refused (someone may want our config written where it points), a
/// regular file removed first.
fn write_backup(backup: &Path, body: &[u8], mode: u32) -> Result<(), LoginError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    match std::fs::symlink_metadata(backup) {
        Ok(found) if found.file_type().is_symlink() => {
            return Err(LoginError::Other(format!(
                "{} is a symbolic link: not writing the backup through it (remove it and run \
                 login again); the config file is left unchanged",
                backup.display()
            )));
        }
        Ok(found) if found.is_file() => {
            std::fs::remove_file(backup).map_err(io_error(backup))?;
        }
        Ok(_) => {
            return Err(LoginError::Other(format!(
                "{} is not a regular file: not replacing it with the backup; the config file \
                 is left unchanged",
                backup.display()
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error(backup)(e)),
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(backup)
        .map_err(io_error(backup))?;
    let written = file.write_all(body).and_then(|()| file.sync_all());
    if written.is_err() {
        // Ours (create_new made it): no half backup left behind.
        let _ = std::fs::remove_file(backup);
    }
    written.map_err(io_error(backup))
}

// ---------------------------------------------------------------------------------------------
// HTTP

/// An HTTP client for the two APIs: no redirects, bounded time.
pub fn http_client() -> Result<reqwest::Client, LoginError> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("stsbridge-login/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| LoginError::Other(format!("cannot build the HTTP client: {e}")))
}

/// An error answer of the APIs: the exception name (`x-amzn-errortype`, else the body's
/// `__type` or `error`) and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFault {
    pub code: String,
    pub message: String,
}

/// The fault of an error answer with `error_type` (the header) and `body`.
pub fn api_fault(status: u16, error_type: Option<&str>, body: &[u8]) -> ApiFault {
    #[derive(Deserialize, Default)]
    struct Body {
        #[serde(rename = "__type")]
        kind: Option<String>,
        error: Option<String>,
        error_description: Option<String>,
        message: Option<String>,
        #[serde(rename = "Message")]
        message_upper: Option<String>,
    }
    let parsed: Body = serde_json::from_slice(body).unwrap_or_default();
    let strip = |s: &str| {
        s.split(':')
            .next()
            .unwrap_or(s)
            .rsplit('#')
            .next()
            .unwrap_or(s)
            .to_owned()
    };
    let code = error_type
        .map(strip)
        .or_else(|| parsed.kind.as_deref().map(strip))
        .or_else(|| parsed.error.clone())
        .unwrap_or_else(|| format!("HTTP {status}"));
    let message = parsed
        .error_description
        .or(parsed.message)
        .or(parsed.message_upper)
        .unwrap_or_default();
    ApiFault { code, message }
}

/// POST `body` as JSON to `url`; the parsed answer, or the API's fault.
async fn post_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    operation: &'static str,
    url: &str,
    body: &serde_json::Value,
) -> Result<Result<T, ApiFault>, LoginError> {
    let request = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string());
    answer(operation, url, request).await
}

/// Send `request`; the parsed answer, or the API's fault.
async fn answer<T: serde::de::DeserializeOwned>(
    operation: &'static str,
    url: &str,
    request: reqwest::RequestBuilder,
) -> Result<Result<T, ApiFault>, LoginError> {
    let http_error = |message: String| LoginError::Http {
        operation,
        url: url.to_owned(),
        message,
    };
    let response = request
        .send()
        .await
        .map_err(|e| http_error(e.to_string()))?;
    let status = response.status();
    let error_type = response
        .headers()
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response
        .bytes()
        .await
        .map_err(|e| http_error(e.to_string()))?;
    if !status.is_success() {
        return Ok(Err(api_fault(
            status.as_u16(),
            error_type.as_deref(),
            &body,
        )));
    }
    serde_json::from_slice(&body).map(Ok).map_err(|e| {
        http_error(format!(
            "status {status}, an answer that is not its JSON: {e}"
        ))
    })
}

fn refused(operation: &'static str) -> impl FnOnce(ApiFault) -> LoginError {
    move |f| LoginError::Api {
        operation,
        code: f.code,
        message: f.message,
    }
}

/// RegisterClient (`POST <oidc>/client/register`) as the AWS CLI does for either flow.
pub async fn register_client(
    http: &reqwest::Client,
    endpoints: &Endpoints,
    session: &SsoSession,
    device: bool,
) -> Result<Client, LoginError> {
    let mut body = serde_json::json!({
        "clientName": CLIENT_NAME,
        "clientType": "public",
        "scopes": session.scopes,
        "issuerUrl": session.start_url,
    });
    if device {
        body["grantTypes"] = serde_json::json!([GRANT_DEVICE_CODE, GRANT_REFRESH_TOKEN]);
    } else {
        body["grantTypes"] = serde_json::json!([GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN]);
        body["redirectUris"] = serde_json::json!([REGISTERED_REDIRECT_URI]);
    }
    let url = join(&endpoints.oidc, "/client/register");
    post_json(http, "RegisterClient", &url, &body)
        .await?
        .map_err(refused("RegisterClient"))
}

/// StartDeviceAuthorization's answer.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceAuthorization {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: Option<String>,
    pub expires_in: u64,
    pub interval: Option<u64>,
}

impl std::fmt::Debug for DeviceAuthorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceAuthorization")
            .field("verification_uri", &self.verification_uri)
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// StartDeviceAuthorization (`POST <oidc>/device_authorization`).
pub async fn start_device_authorization(
    http: &reqwest::Client,
    endpoints: &Endpoints,
    session: &SsoSession,
    client: &Client,
) -> Result<DeviceAuthorization, LoginError> {
    let body = serde_json::json!({
        "clientId": client.client_id,
        "clientSecret": client.client_secret,
        "startUrl": session.start_url,
    });
    let url = join(&endpoints.oidc, "/device_authorization");
    post_json(http, "StartDeviceAuthorization", &url, &body)
        .await?
        .map_err(refused("StartDeviceAuthorization"))
}

/// CreateToken (`POST <oidc>/token`) with `grant` (the grant's own members: `grantType`,
/// `deviceCode` or `code`, `redirectUri`, `codeVerifier`, or `refreshToken`); the token or
/// the API's fault.
pub async fn create_token(
    http: &reqwest::Client,
    endpoints: &Endpoints,
    client: &Client,
    grant: serde_json::Value,
) -> Result<Result<Token, ApiFault>, LoginError> {
    let mut body = grant;
    body["clientId"] = serde_json::json!(client.client_id);
    body["clientSecret"] = serde_json::json!(client.client_secret);
    let url = join(&endpoints.oidc, "/token");
    post_json(http, "CreateToken", &url, &body).await
}

/// Open `url` in a browser unless `no_browser`; print it to standard error either way.
fn show_url(url: &str, no_browser: bool) {
    if !no_browser {
        match webbrowser::open(url) {
            Ok(()) => eprintln!("Opened a browser to sign in. If it did not open, open this URL:"),
            Err(e) => eprintln!("Could not open a browser ({e}). Open this URL to sign in:"),
        }
    } else {
        eprintln!("Open this URL in a browser to sign in:");
    }
    eprintln!("\n  {url}\n");
}

/// The device flow: start it, show the URL and user code, poll CreateToken every `interval`
/// (five seconds more after each SlowDownException) until the person approves, denies or the
/// code expires.
pub async fn device_flow(
    http: &reqwest::Client,
    endpoints: &Endpoints,
    session: &SsoSession,
    client: &Client,
    no_browser: bool,
) -> Result<Token, LoginError> {
    let started = start_device_authorization(http, endpoints, session, client).await?;
    let url = started
        .verification_uri_complete
        .clone()
        .unwrap_or_else(|| started.verification_uri.clone());
    show_url(&url, no_browser);
    eprintln!(
        "Check that the page shows this code before you approve it:\n\n  {}\n",
        started.user_code
    );
    eprintln!("Waiting for the approval...");
    let mut interval = Duration::from_secs(started.interval.unwrap_or(5).max(1));
    let deadline = Duration::from_secs(started.expires_in);
    let stopwatch = Stopwatch::start();
    let grant = serde_json::json!({
        "grantType": GRANT_DEVICE_CODE,
        "deviceCode": started.device_code,
    });
    loop {
        tokio::time::sleep(interval).await;
        match create_token(http, endpoints, client, grant.clone()).await? {
            Ok(token) => return Ok(token),
            Err(fault) => match fault.code.as_str() {
                "AuthorizationPendingException" | "authorization_pending" => {}
                "SlowDownException" | "slow_down" => interval += SLOW_DOWN_STEP,
                "AccessDeniedException" | "access_denied" => {
                    return Err(LoginError::Other(
                        "the sign-in was denied in the browser".into(),
                    ));
                }
                "ExpiredTokenException" | "expired_token" => {
                    return Err(LoginError::Other(
                        "the code expired before it was approved: run login again".into(),
                    ));
                }
                _ => return Err(refused("CreateToken")(fault)),
            },
        }
        if stopwatch.elapsed() > deadline {
            return Err(LoginError::Other(
                "the code expired before it was approved: run login again".into(),
            ));
        }
    }
}

/// The authorization code flow with PKCE, as AWS CLI v2 runs it: a loopback server on
/// `127.0.0.1:0` receives the browser's redirect; its code is exchanged with the verifier.
pub async fn authorization_code_flow(
    http: &reqwest::Client,
    endpoints: &Endpoints,
    session: &SsoSession,
    client: &Client,
    no_browser: bool,
) -> Result<Token, LoginError> {
    let rng = SystemRandom::new();
    let verifier = pkce_verifier(&rng)?;
    let state = uuid::Uuid::new_v4().to_string();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| LoginError::Other(format!("cannot listen on 127.0.0.1: {e}")))?;
    let port = listener
        .local_addr()
        .map_err(|e| LoginError::Other(format!("cannot listen on 127.0.0.1: {e}")))?
        .port();
    let redirect = redirect_uri(port);
    let url = authorize_url(
        &endpoints.oidc,
        &client.client_id,
        &redirect,
        &state,
        &pkce_challenge(&verifier),
        &session.scopes,
    )?;
    let params = receive_callback(listener, &state, || show_url(&url, no_browser)).await?;
    let code = callback_code(&params, &state)?;
    let grant = serde_json::json!({
        "grantType": GRANT_AUTHORIZATION_CODE,
        "code": code,
        "redirectUri": redirect,
        "codeVerifier": verifier,
    });
    create_token(http, endpoints, client, grant)
        .await?
        .map_err(refused("CreateToken"))
}

/// The page the browser shows after the redirect (nothing of the request echoed).
const CALLBACK_PAGE: &str = "<!doctype html><html><head><meta charset=\"utf-8\">\
<title>stsbridge login</title></head><body><p>The sign-in is back at the command line. \
You can close this window.</p></body></html>";

/// The page for a request to the callback without the state sent (nothing of it echoed).
const STRAY_CALLBACK_PAGE: &str = "<!doctype html><html><head><meta charset=\"utf-8\">\
<title>stsbridge login</title></head><body><p>This is not the redirect of the sign-in \
stsbridge login is waiting for: it was ignored.</p></body></html>";

/// Serve `/oauth/callback` on `listener` (after `ready`, which shows the URL) until a redirect
/// carrying `state` arrives or [`CALLBACK_TIMEOUT`] passes; its query parameters. A request
/// without that state (any local process, or a web page probing loopback ports, can send one)
/// is answered 400 and ignored: it cannot end the login.
async fn receive_callback(
    listener: tokio::net::TcpListener,
    state: &str,
    ready: impl FnOnce(),
) -> Result<HashMap<String, String>, LoginError> {
    use axum::extract::{Query, State};
    use axum::http::StatusCode;
    type Waiting = Arc<(String, tokio::sync::mpsc::Sender<HashMap<String, String>>)>;
    let (send, mut received) = tokio::sync::mpsc::channel::<HashMap<String, String>>(1);
    let handler = |State(waiting): State<Waiting>,
                   Query(params): Query<HashMap<String, String>>| async move {
        let (state, send) = &*waiting;
        if !same_state(&params, state) {
            return (
                StatusCode::BAD_REQUEST,
                axum::response::Html(STRAY_CALLBACK_PAGE),
            );
        }
        let _ = send.try_send(params);
        (StatusCode::OK, axum::response::Html(CALLBACK_PAGE))
    };
    let router = axum::Router::new()
        .route(CALLBACK_PATH, axum::routing::get(handler))
        .with_state(Arc::new((state.to_owned(), send)));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    ready();
    let outcome = tokio::time::timeout(CALLBACK_TIMEOUT, received.recv()).await;
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    match outcome {
        Ok(Some(params)) => Ok(params),
        Ok(None) => Err(LoginError::Browser("the loopback server stopped".into())),
        Err(_) => Err(LoginError::Browser(
            "no redirect came back within 10 minutes: run login again".into(),
        )),
    }
}

/// ListAccounts' page.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountsPage {
    next_token: Option<String>,
    #[serde(default)]
    account_list: Vec<AccountInfo>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountInfo {
    account_id: String,
    account_name: Option<String>,
}

/// ListAccountRoles' page.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RolesPage {
    next_token: Option<String>,
    #[serde(default)]
    role_list: Vec<RoleInfo>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RoleInfo {
    role_name: String,
}

/// GET `<portal><path>?query` with the bearer token: every page (`nextToken` followed).
async fn portal_pages<P: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    operation: &'static str,
    url: &str,
    query: &[(&str, &str)],
    access_token: &str,
    next: impl Fn(&P) -> Option<String>,
) -> Result<Vec<P>, LoginError> {
    let mut pages = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut page_url = Url::parse(url)
            .map_err(|e| LoginError::Other(format!("the SSO endpoint is not a URL: {e}")))?;
        {
            let mut pairs = page_url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
            if let Some(t) = &token {
                pairs.append_pair("next_token", t);
            }
        }
        let request = http.get(page_url).header(BEARER_HEADER, access_token);
        let page: P = answer(operation, url, request)
            .await?
            .map_err(refused(operation))?;
        token = next(&page).filter(|t| !t.is_empty());
        pages.push(page);
        if token.is_none() {
            return Ok(pages);
        }
    }
    Err(LoginError::Other(format!(
        "{operation}: more than {MAX_PAGES} pages"
    )))
}

/// Every account and role the access token may use (ListAccounts, then ListAccountRoles per
/// account).
pub async fn list_roles(
    http: &reqwest::Client,
    endpoints: &Endpoints,
    access_token: &str,
) -> Result<Vec<RoleChoice>, LoginError> {
    let accounts: Vec<AccountsPage> = portal_pages(
        http,
        "ListAccounts",
        &join(&endpoints.portal, "/assignment/accounts"),
        &[("max_result", "100")],
        access_token,
        |p: &AccountsPage| p.next_token.clone(),
    )
    .await?;
    let mut found = Vec::new();
    for account in accounts.into_iter().flat_map(|p| p.account_list) {
        let roles: Vec<RolesPage> = portal_pages(
            http,
            "ListAccountRoles",
            &join(&endpoints.portal, "/assignment/roles"),
            &[("account_id", &account.account_id), ("max_result", "100")],
            access_token,
            |p: &RolesPage| p.next_token.clone(),
        )
        .await?;
        for role in roles.into_iter().flat_map(|p| p.role_list) {
            found.push(RoleChoice {
                account_id: account.account_id.clone(),
                account_name: account.account_name.clone(),
                role_name: role.role_name,
            });
        }
    }
    Ok(found)
}

// ---------------------------------------------------------------------------------------------
// The command

/// `~/<rest>`, or why there is no home directory.
fn home_path(rest: &str, default_of: &str) -> Result<PathBuf, LoginError> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(rest))
        .ok_or_else(|| LoginError::Other(format!("$HOME is not set: give {default_of}")))
}

/// Run `stsbridge login`: the config stanzas to print on standard output.
pub async fn run(args: LoginArgs) -> Result<String, LoginError> {
    let config_path = match &args.aws_config {
        Some(p) => p.clone(),
        None => home_path(".aws/config", "--aws-config")?,
    };
    let cache_dir = match &args.cache_dir {
        Some(p) => p.clone(),
        None => home_path(".aws/sso/cache", "--cache-dir")?,
    };
    let text = std::fs::read_to_string(&config_path).map_err(io_error(&config_path))?;
    let ini = parse_aws_config(&text, &config_path)?;
    let session = sso_session(&ini, &config_path, &args.sso_session)?;
    let endpoints = endpoints(
        &ini,
        &config_path,
        &session,
        args.profile.as_deref(),
        &EnvEndpoints::from_env(),
    )?;
    tracing::debug!(oidc = %endpoints.oidc, portal = %endpoints.portal, "endpoints");
    let http = http_client()?;
    let client = register_client(&http, &endpoints, &session, args.device).await?;
    let token = if args.device {
        device_flow(&http, &endpoints, &session, &client, args.no_browser).await?
    } else {
        authorization_code_flow(&http, &endpoints, &session, &client, args.no_browser).await?
    };
    let cache = token_cache(&session, &client, &token, SystemClock.now());
    let cache_path = write_cache(&cache_dir, &session.name, &cache)?;
    eprintln!(
        "Signed in: the token is cached in {} until {} (the SDKs refresh it by themselves).",
        cache_path.display(),
        cache.expires_at
    );
    let found = match list_roles(&http, &endpoints, &token.access_token).await {
        Ok(found) => Some(found),
        Err(e) => {
            eprintln!("Could not list your accounts and roles: {e}");
            None
        }
    };
    let chosen = match (&args.account_id, &args.role_name) {
        (Some(account), Some(role)) => {
            let profile = args
                .profile
                .clone()
                .unwrap_or_else(|| format!("{role}-{account}"));
            Some(profile_section(&profile, &session, account, role))
        }
        _ => None,
    };
    let assigned = |account: &str, role: &str| {
        found.as_ref().is_some_and(|f| {
            f.iter()
                .any(|c| c.account_id == account && c.role_name == role)
        })
    };
    if let (Some(account), Some(role), Some(_)) = (&args.account_id, &args.role_name, &found)
        && !assigned(account, role)
    {
        eprintln!("Role {role} in account {account} is not among the roles listed for you.");
    }
    if args.write_profile {
        let (Some(profile), Some(account), Some(role)) =
            (&chosen, &args.account_id, &args.role_name)
        else {
            return Err(LoginError::Other(
                "--write-profile needs --profile, --account-id and --role-name".into(),
            ));
        };
        if !assigned(account, role) {
            return Err(LoginError::Other(format!(
                "role {role} in account {account} is not among the roles listed for you: \
                 {} left unchanged",
                config_path.display()
            )));
        }
        let [sso_session, services] = session_sections(&session, &endpoints);
        let backup = write_config(&config_path, &[sso_session, services, profile.clone()])?;
        eprintln!(
            "Wrote [{}] into {} (the old file is {}).",
            profile.header,
            config_path.display(),
            backup.display()
        );
    }
    Ok(stanzas(
        &session,
        &endpoints,
        chosen.as_ref(),
        found.as_deref().unwrap_or_default(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "/home/someone/.aws/config";

    fn ini(text: &str) -> Ini {
        parse_aws_config(text, Path::new(FILE)).unwrap()
    }

    fn session() -> SsoSession {
        SsoSession {
            name: "corp".into(),
            start_url: "https://sts.example.com".into(),
            region: "eu-central-1".into(),
            scopes: vec![DEFAULT_SCOPE.into()],
        }
    }

    #[test]
    fn the_sso_session_is_read_with_the_default_scope() {
        let config = ini(
            "[sso-session corp]\nsso_start_url = https://sts.example.com\n\
             sso_region = eu-central-1\n",
        );
        assert_eq!(
            sso_session(&config, Path::new(FILE), "corp").unwrap(),
            session()
        );
        let scoped = ini(
            "[sso-session corp]\nsso_start_url = https://s\nsso_region = r\n\
             sso_registration_scopes = sso:account:access, other:scope\n",
        );
        assert_eq!(
            sso_session(&scoped, Path::new(FILE), "corp")
                .unwrap()
                .scopes,
            ["sso:account:access", "other:scope"]
        );
    }

    #[test]
    fn a_missing_session_or_key_names_the_file_and_the_key() {
        let config = ini("[sso-session corp]\nsso_region = eu-central-1\n");
        let e = sso_session(&config, Path::new(FILE), "corp")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            format!("{FILE}: [sso-session corp] has no sso_start_url")
        );
        let e = sso_session(&config, Path::new(FILE), "other")
            .unwrap_err()
            .to_string();
        assert_eq!(e, format!("{FILE}: no [sso-session other] section"));
        let empty = ini("[sso-session corp]\nsso_start_url = https://s\nsso_region =\n");
        let e = sso_session(&empty, Path::new(FILE), "corp")
            .unwrap_err()
            .to_string();
        assert!(e.ends_with("[sso-session corp] has no sso_region"), "{e}");
    }

    const WITH_SERVICES: &str = "[default]\nregion = us-east-1\n\n\
        [profile dev]\nsso_session = corp\nservices = corp-endpoints\n\n\
        [profile other]\nsso_session = corp\nservices = elsewhere\n\n\
        [services corp-endpoints]\nsso_oidc =\n  endpoint_url = https://oidc.example.com/x\n\
        sso =\n  endpoint_url = https://portal.example.com/y\n\
        s3 =\n  endpoint_url = https://s3.example.com\n\n\
        [services elsewhere]\nsso_oidc =\n  endpoint_url = https://elsewhere.example.com\n";

    #[test]
    fn endpoints_come_from_the_environment_then_services_then_the_start_url() {
        let config = ini(WITH_SERVICES);
        let file = Path::new(FILE);
        let none = EnvEndpoints::default();
        // The profile whose sso_session is the session (the first one).
        assert_eq!(
            endpoints(&config, file, &session(), None, &none).unwrap(),
            Endpoints {
                oidc: "https://oidc.example.com/x".into(),
                portal: "https://portal.example.com/y".into(),
            }
        );
        // The chosen profile's services, the missing key from the start URL.
        assert_eq!(
            endpoints(&config, file, &session(), Some("other"), &none).unwrap(),
            Endpoints {
                oidc: "https://elsewhere.example.com".into(),
                portal: "https://sts.example.com/sso".into(),
            }
        );
        // The environment first, each variable on its own.
        let env = EnvEndpoints {
            oidc: Some("http://127.0.0.1:1/sso-oidc".into()),
            portal: None,
        };
        assert_eq!(
            endpoints(&config, file, &session(), Some("dev"), &env).unwrap(),
            Endpoints {
                oidc: "http://127.0.0.1:1/sso-oidc".into(),
                portal: "https://portal.example.com/y".into(),
            }
        );
        // No services anywhere: the daemon's own layout under the start URL.
        let plain = ini("[sso-session corp]\nsso_start_url = https://sts.example.com/\n");
        let mut slashed = session();
        slashed.start_url.push('/');
        assert_eq!(
            endpoints(&plain, file, &slashed, Some("absent"), &none).unwrap(),
            Endpoints {
                oidc: "https://sts.example.com/sso-oidc".into(),
                portal: "https://sts.example.com/sso".into(),
            }
        );
    }

    #[test]
    fn a_services_name_without_its_section_is_an_error_naming_both() {
        let config = ini("[profile dev]\nsso_session = corp\nservices = gone\n");
        let e = endpoints(
            &config,
            Path::new(FILE),
            &session(),
            None,
            &EnvEndpoints::default(),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            format!("{FILE}: [profile dev] has services = gone but there is no [services gone]")
        );
    }

    #[test]
    fn the_cache_file_is_named_by_the_sha1_of_the_session_name() {
        // sha1("admin"), a well-known value.
        assert_eq!(
            cache_file_name("admin"),
            "d033e22ae348aeb5660fc2140aec35850c4da997.json"
        );
    }

    #[test]
    fn the_cache_body_has_botocores_members_and_times() {
        let client = Client {
            client_id: "cid".into(),
            client_secret: "csecret".into(),
            client_secret_expires_at: 1_795_000_000 + 90 * 24 * 3600,
        };
        let token = Token {
            access_token: "at".into(),
            expires_in: 3600,
            refresh_token: Some("rt".into()),
        };
        let cache = token_cache(
            &session(),
            &client,
            &token,
            from_unix_seconds(1_795_000_000),
        );
        let json: serde_json::Value = serde_json::to_value(&cache).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "startUrl": "https://sts.example.com",
                "region": "eu-central-1",
                "accessToken": "at",
                "expiresAt": "2026-11-18T12:06:40Z",
                "clientId": "cid",
                "clientSecret": "csecret",
                "registrationExpiresAt": "2027-02-16T11:06:40Z",
                "refreshToken": "rt",
            })
        );
        let debug = format!("{cache:?}");
        assert!(!debug.contains("at\"") && !debug.contains("csecret") && !debug.contains("rt\""));
    }

    #[test]
    fn the_cache_file_is_private_and_replaced_whole() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let cache_dir = dir.path().join("sso").join("cache");
        let mut cache = token_cache(
            &session(),
            &Client {
                client_id: "c".into(),
                client_secret: "s".into(),
                client_secret_expires_at: 0,
            },
            &Token {
                access_token: "one".into(),
                expires_in: 60,
                refresh_token: None,
            },
            from_unix_seconds(0),
        );
        let path = write_cache(&cache_dir, "corp", &cache).unwrap();
        cache.access_token = "two".into();
        assert_eq!(write_cache(&cache_dir, "corp", &cache).unwrap(), path);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&cache_dir), mode(&path)), (0o700, 0o600));
        let read: TokenCache = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(read, cache);
        assert!(
            !std::fs::read_to_string(&path)
                .unwrap()
                .contains("refreshToken")
        );
        let names: Vec<_> = std::fs::read_dir(&cache_dir).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left behind");
    }

    #[test]
    fn pkce_follows_rfc_7636() {
        // RFC 7636 appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let rng = SystemRandom::new();
        let verifier = pkce_verifier(&rng).unwrap();
        assert!((43..=128).contains(&verifier.len()));
        assert!(
            verifier
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
        );
        assert_ne!(verifier, pkce_verifier(&rng).unwrap());
    }

    #[test]
    fn the_browser_url_is_the_aws_clis() {
        let url = authorize_url(
            "http://127.0.0.1:8080/sso-oidc/",
            "client id",
            &redirect_uri(40123),
            "st&ate",
            "chal",
            &["sso:account:access".into(), "b".into()],
        )
        .unwrap();
        assert_eq!(
            url,
            "http://127.0.0.1:8080/sso-oidc/authorize?response_type=code&client_id=client+id\
             &redirect_uri=http%3A%2F%2F127.0.0.1%3A40123%2Foauth%2Fcallback&state=st%26ate\
             &code_challenge_method=S256&scopes=sso%3Aaccount%3Aaccess+b&code_challenge=chal"
        );
        assert!(authorize_url("not a url", "c", "r", "s", "c", &[]).is_err());
    }

    #[test]
    fn the_redirect_is_refused_without_the_same_state_or_with_an_error() {
        let params = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert_eq!(
            callback_code(&params(&[("code", "c1"), ("state", "s1")]), "s1").unwrap(),
            "c1"
        );
        for bad in [
            params(&[("code", "c1"), ("state", "s2")]),
            params(&[("code", "c1")]),
            params(&[("state", "s1")]),
            params(&[("code", ""), ("state", "s1")]),
            params(&[("error", "access_denied"), ("state", "s1"), ("code", "c1")]),
            params(&[("error", "access_denied"), ("state", "s2")]),
        ] {
            assert!(matches!(
                callback_code(&bad, "s1"),
                Err(LoginError::Browser(_))
            ));
        }
        let denied = params(&[
            ("error", "access_denied"),
            ("error_description", "no"),
            ("state", "s1"),
        ]);
        assert_eq!(
            callback_code(&denied, "s1").unwrap_err().to_string(),
            "the browser sign-in failed: access_denied: no"
        );
        // An error without the state sent is not believed: it is a redirect of another state.
        let forged = params(&[("error", "access_denied"), ("error_description", "no")]);
        assert!(
            callback_code(&forged, "s1")
                .unwrap_err()
                .to_string()
                .contains("the redirect's state is not the one sent")
        );
        assert!(!same_state(&params(&[("state", "s")]), "s1"));
        assert!(!same_state(&params(&[("state", "s10")]), "s1"));
        assert!(!same_state(&params(&[]), ""));
        assert!(same_state(&params(&[("state", "s1")]), "s1"));
    }

    #[tokio::test]
    async fn callbacks_without_the_state_sent_are_answered_400_and_ignored() {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let redirect = redirect_uri(listener.local_addr().unwrap().port());
        let waiting = tokio::spawn(receive_callback(listener, "s1", || {}));
        let browser = reqwest::Client::new();
        for stray in [
            "code=stolen&state=s2",
            "code=stolen&state=",
            "code=stolen",
            "",
            "error=access_denied&state=s10",
            "error=access_denied",
        ] {
            let page = browser
                .get(format!("{redirect}?{stray}"))
                .send()
                .await
                .unwrap();
            assert_eq!(page.status(), 400, "{stray}");
            assert_eq!(page.text().await.unwrap(), STRAY_CALLBACK_PAGE);
            assert!(!waiting.is_finished(), "{stray} ended the wait");
        }
        let page = browser
            .get(format!("{redirect}?code=c1&state=s1"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        assert_eq!(page.text().await.unwrap(), CALLBACK_PAGE);
        let params = waiting.await.unwrap().unwrap();
        assert_eq!(callback_code(&params, "s1").unwrap(), "c1");
    }

    #[test]
    fn faults_are_read_from_the_header_then_the_body() {
        let body = br#"{"error":"authorization_pending","error_description":"wait"}"#;
        assert_eq!(
            api_fault(
                400,
                Some("AuthorizationPendingException:http://internal"),
                body
            ),
            ApiFault {
                code: "AuthorizationPendingException".into(),
                message: "wait".into()
            }
        );
        assert_eq!(api_fault(400, None, body).code, "authorization_pending");
        assert_eq!(
            api_fault(
                401,
                None,
                br#"{"__type":"com.amazon#UnauthorizedException","message":"m"}"#
            ),
            ApiFault {
                code: "UnauthorizedException".into(),
                message: "m".into()
            }
        );
        assert_eq!(api_fault(502, None, b"<html>").code, "HTTP 502");
    }

    const STANZAS: &str = "[sso-session corp]\nsso_start_url = https://sts.example.com\n\
        sso_region = eu-central-1\nsso_registration_scopes = sso:account:access\n\n\
        [services corp-endpoints]\nsso_oidc =\n  endpoint_url = https://sts.example.com/sso-oidc\n\
        sso =\n  endpoint_url = https://sts.example.com/sso\n\n";

    fn daemon_endpoints() -> Endpoints {
        Endpoints {
            oidc: "https://sts.example.com/sso-oidc".into(),
            portal: "https://sts.example.com/sso".into(),
        }
    }

    #[test]
    fn the_stanzas_name_the_session_the_endpoints_and_the_profile() {
        let chosen = profile_section("dev", &session(), "123456789012", "Reader");
        assert_eq!(
            stanzas(&session(), &daemon_endpoints(), Some(&chosen), &[]),
            format!(
                "{STANZAS}[profile dev]\nsso_session = corp\nsso_account_id = 123456789012\n\
                 sso_role_name = Reader\nregion = eu-central-1\nservices = corp-endpoints\n"
            )
        );
        let found = [RoleChoice {
            account_id: "123456789012".into(),
            account_name: Some("prod".into()),
            role_name: "Admin".into(),
        }];
        let suggested = stanzas(&session(), &daemon_endpoints(), None, &found);
        assert!(suggested.starts_with(STANZAS), "{suggested}");
        assert!(suggested.contains(
            "# account 123456789012 (prod)\n# [profile Admin-123456789012]\n# sso_session = corp\n"
        ));
        // What the stanzas say reads back as they mean it.
        let config = ini(&format!("{STANZAS}{}", chosen.text()));
        assert_eq!(
            endpoints(
                &config,
                Path::new(FILE),
                &session(),
                Some("dev"),
                &EnvEndpoints::default()
            )
            .unwrap(),
            daemon_endpoints()
        );
        assert_eq!(
            sso_session(&config, Path::new(FILE), "corp").unwrap(),
            session()
        );
        assert!(stanzas(&session(), &daemon_endpoints(), None, &[]).contains("No account"));
        assert_eq!(
            profile_section("default", &session(), "1", "r").header,
            "default"
        );
    }

    #[test]
    fn rewriting_replaces_the_sections_and_keeps_everything_else() {
        let original = "# my settings\n[default]\nregion = us-east-1\n\n\
            [profile dev]\nsso_session = old\nsso_role_name = Old\n\n# the next one is mine\n\
            [profile   mine]\noutput = json\n\n[profile dev]\nduplicate = yes\n";
        let sections = [
            Section {
                header: "profile dev".into(),
                lines: vec!["sso_session = corp".into()],
            },
            Section {
                header: "sso-session corp".into(),
                lines: vec!["sso_region = r".into()],
            },
        ];
        assert_eq!(
            replace_sections(original, &sections),
            "# my settings\n[default]\nregion = us-east-1\n\n\
             [profile dev]\nsso_session = corp\n\n# the next one is mine\n\
             [profile   mine]\noutput = json\n\n\
             [sso-session corp]\nsso_region = r\n"
        );
        // Idempotent, and an empty file just gets the sections.
        let once = replace_sections(original, &sections);
        assert_eq!(replace_sections(&once, &sections), once);
        assert_eq!(
            replace_sections("", &sections[..1]),
            "[profile dev]\nsso_session = corp\n"
        );
        // `[profile default]` is the default profile.
        let default = Section {
            header: "default".into(),
            lines: vec!["region = x".into()],
        };
        assert_eq!(
            replace_sections("[profile default]\nregion = y\n", &[default]),
            "[default]\nregion = x\n"
        );
    }

    #[test]
    fn writing_the_config_keeps_a_backup_and_the_mode() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, "[default]\nregion = a\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let profile = profile_section("dev", &session(), "123456789012", "Reader");
        let backup = write_config(&path, &[profile]).unwrap();
        assert_eq!(backup, dir.path().join("config.bak"));
        assert_eq!(
            std::fs::read_to_string(&backup).unwrap(),
            "[default]\nregion = a\n"
        );
        let written = std::fs::read_to_string(&path).unwrap();
        assert!(
            written.starts_with("[default]\nregion = a\n\n[profile dev]\n"),
            "{written}"
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        // A second write replaces the old backup with the file as it was just before.
        write_config(&path, &[]).unwrap();
        assert_eq!(std::fs::read_to_string(&backup).unwrap(), written);
    }

    #[test]
    fn a_symlinked_config_stays_a_link_and_its_target_is_written() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let dotfiles = dir.path().join("dotfiles");
        let aws = dir.path().join(".aws");
        std::fs::create_dir_all(&dotfiles).unwrap();
        std::fs::create_dir_all(&aws).unwrap();
        let target = dotfiles.join("aws-config");
        std::fs::write(&target, "[default]\nregion = a\n").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
        let link = aws.join("config");
        // A relative link, as dotfile managers make them: resolved from the link's directory.
        std::os::unix::fs::symlink("../dotfiles/aws-config", &link).unwrap();
        let profile = profile_section("dev", &session(), "123456789012", "Reader");
        let backup = write_config(&link, &[profile]).unwrap();

        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            Path::new("../dotfiles/aws-config")
        );
        let written = std::fs::read_to_string(&target).unwrap();
        assert!(
            written.starts_with("[default]\nregion = a\n\n[profile dev]\n"),
            "{written}"
        );
        let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // The backup is a regular file beside the link; no temporary file is left anywhere.
        assert_eq!(backup, aws.join("config.bak"));
        assert!(std::fs::symlink_metadata(&backup).unwrap().is_file());
        assert_eq!(
            std::fs::read_to_string(&backup).unwrap(),
            "[default]\nregion = a\n"
        );
        let names = |d: &Path| -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        assert_eq!(names(&dotfiles), ["aws-config"]);
        assert_eq!(names(&aws), ["config", "config.bak"]);
    }

    #[test]
    fn a_link_planted_at_the_backups_name_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, "[default]\nregion = a\n").unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious\n").unwrap();
        let backup = dir.path().join("config.bak");
        let profile = profile_section("dev", &session(), "123456789012", "Reader");
        for planted in [victim.clone(), dir.path().join("absent")] {
            let _ = std::fs::remove_file(&backup);
            std::os::unix::fs::symlink(&planted, &backup).unwrap();
            let refused = write_config(&path, std::slice::from_ref(&profile)).unwrap_err();
            assert!(
                refused.to_string().contains("is a symbolic link"),
                "{refused}"
            );
            // Nothing written: not the link's target, not the config, and the link is as it was.
            assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
            assert!(!dir.path().join("absent").exists());
            assert_eq!(
                std::fs::read_to_string(&path).unwrap(),
                "[default]\nregion = a\n"
            );
            assert_eq!(std::fs::read_link(&backup).unwrap(), planted);
        }
        // A directory at that name is not replaced either.
        std::fs::remove_file(&backup).unwrap();
        std::fs::create_dir(&backup).unwrap();
        assert!(write_config(&path, &[profile]).is_err());
        assert!(backup.is_dir());
    }
}
