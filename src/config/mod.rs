//! Configuration: file shapes (`file`) -> validated [`Config`]. Every problem in every file is
//! reported at once, with the file and field it concerns.

pub mod file;
mod role;
mod saml_idp;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jsonwebtoken::Algorithm;

use crate::idp::saml::SamlIdpSettings;
use crate::policy::{Policy, PolicyKind};
pub use role::{Role, RoleSet};

/// One problem found in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    /// The field, when the problem is about one (`audiences`, `server.listen`, ...).
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{}: {}: {}", self.file.display(), field, self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// Every problem found, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<Problem>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// Collects problems while validating.
#[derive(Default)]
pub(crate) struct Problems(Vec<Problem>);

impl Problems {
    pub(crate) fn add(&mut self, file: &Path, field: Option<&str>, message: impl Into<String>) {
        self.0.push(Problem {
            file: file.to_owned(),
            field: field.map(str::to_owned),
            message: message.into(),
        });
    }
}

/// A resource service allowed to call the authorization API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationService {
    pub name: String,
    /// SHA-256 of its bearer secret.
    pub bearer_sha256: [u8; 32],
}

/// The validated daemon configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The main config file this was read from.
    pub source: PathBuf,
    pub listen: SocketAddr,
    pub storage_path: PathBuf,
    pub cache_capacity_bytes: u64,
    pub purge_interval: Duration,
    pub keyring_path: PathBuf,
    pub admin_socket: PathBuf,
    pub default_account_id: String,
    pub idps: Vec<IdpConfig>,
    pub roles: RoleSet,
    /// Services allowed to call `POST /v1/authorize`.
    pub authorization_services: Vec<AuthorizationService>,
    /// Managed policies by ARN (`arn:aws:iam::ACCOUNT:policy/NAME`).
    pub managed_policies: BTreeMap<String, Policy>,
}

/// One identity provider, by kind.
#[derive(Debug, Clone)]
pub enum IdpConfig {
    Oidc(OidcIdpConfig),
    Saml(SamlIdpSettings),
}

impl IdpConfig {
    /// The configured name (file stem, or a SAML provider's `name`).
    pub fn name(&self) -> &str {
        match self {
            Self::Oidc(c) => &c.name,
            Self::Saml(c) => &c.name,
        }
    }
}

/// Where an OIDC IdP's signing keys come from.
#[derive(Debug, Clone)]
pub enum OidcKeySource {
    /// `issuer/.well-known/openid-configuration`, then its `jwks_uri`.
    Discovery,
    /// A configured JWKS URL (no discovery).
    JwksUri(String),
    /// A JWKS file read once at start-up.
    JwksFile(PathBuf),
    /// Keys given in memory (the built-in development issuer).
    Static(jsonwebtoken::jwk::JwkSet),
}

#[derive(Debug, Clone)]
pub struct OidcIdpConfig {
    /// The file stem of `idp-configs/NAME.toml`.
    pub name: String,
    /// Compared byte for byte with `iss`.
    pub issuer: String,
    /// The issuer without its scheme: the provider name in trust policies and condition keys.
    pub provider: String,
    pub audiences: Vec<String>,
    pub algorithms: Vec<Algorithm>,
    pub keys: OidcKeySource,
    pub leeway: Duration,
    /// `http://` allowed for the issuer and key URLs (tests and local IdPs only).
    pub insecure_http: bool,
}

/// Algorithms an IdP may be configured to accept. Never `none`, never HMAC.
pub const ALLOWED_ALGORITHMS: &[(&str, Algorithm)] = &[
    ("RS256", Algorithm::RS256),
    ("RS384", Algorithm::RS384),
    ("RS512", Algorithm::RS512),
    ("PS256", Algorithm::PS256),
    ("PS384", Algorithm::PS384),
    ("PS512", Algorithm::PS512),
    ("ES256", Algorithm::ES256),
    ("ES384", Algorithm::ES384),
    ("EdDSA", Algorithm::EdDSA),
];

/// The provider name for an issuer URL: the URL without its scheme and trailing slash.
pub fn provider_name(issuer: &str) -> String {
    let rest = issuer
        .strip_prefix("https://")
        .or_else(|| issuer.strip_prefix("http://"))
        .unwrap_or(issuer);
    rest.trim_end_matches('/').to_owned()
}

/// Read and validate the configuration rooted at `path`. Relative paths inside it are resolved
/// against the directory of `path`.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let mut problems = Problems::default();
    let config = load_collecting(path, &mut problems);
    match config {
        Some(c) if problems.0.is_empty() => Ok(c),
        _ => Err(ConfigErrors(problems.0)),
    }
}

fn read_file(path: &Path, problems: &mut Problems) -> Option<String> {
    match std::fs::read_to_string(path) {
        Ok(s) => Some(s),
        Err(e) => {
            problems.add(path, None, format!("cannot read: {e}"));
            None
        }
    }
}

fn load_collecting(path: &Path, problems: &mut Problems) -> Option<Config> {
    let text = read_file(path, problems)?;
    let raw: file::RawMain = match toml::from_str(&text) {
        Ok(r) => r,
        Err(e) => {
            problems.add(path, None, e.message().to_owned());
            return None;
        }
    };
    let base = path.parent().unwrap_or(Path::new(".")).to_owned();
    let resolve = |p: &str| base.join(p);

    let listen = match raw.server.listen.parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            problems.add(
                path,
                Some("server.listen"),
                "must be an IP:port socket address",
            );
            None
        }
    };
    if !is_account_id(&raw.default_account_id) {
        problems.add(path, Some("default_account_id"), "must be 12 digits");
    }
    if !(1..=1_048_576).contains(&raw.storage.cache_capacity_mb) {
        problems.add(
            path,
            Some("storage.cache_capacity_mb"),
            "must be 1..1048576",
        );
    }
    if raw.storage.purge_interval_seconds == 0 {
        problems.add(
            path,
            Some("storage.purge_interval_seconds"),
            "must be at least 1",
        );
    }
    let storage_path = resolve(&raw.storage.path);
    let admin_socket = match &raw.admin.socket {
        Some(s) => resolve(s),
        None => storage_path
            .parent()
            .map(|p| p.join("admin.sock"))
            .unwrap_or_else(|| PathBuf::from("admin.sock")),
    };

    let authorization_services = validate_services(path, &raw.authorization.services, problems);
    let idps = load_idps(&resolve(&raw.idp_dir), problems);
    let managed_policies = load_managed_policies(
        &resolve(&raw.policies_dir),
        &raw.default_account_id,
        problems,
    );
    let roles = role::load_roles(&resolve(&raw.roles_dir), &raw.default_account_id, problems);

    Some(Config {
        source: path.to_owned(),
        listen: listen?,
        storage_path,
        cache_capacity_bytes: raw.storage.cache_capacity_mb.saturating_mul(1024 * 1024),
        purge_interval: Duration::from_secs(raw.storage.purge_interval_seconds.max(1)),
        keyring_path: resolve(&raw.keys.path),
        admin_socket,
        default_account_id: raw.default_account_id,
        idps,
        roles,
        managed_policies,
        authorization_services,
    })
}

/// `[[authorization.services]]`: unique names of `[A-Za-z0-9._-]`, a 64-hex-digit SHA-256.
fn validate_services(
    path: &Path,
    raw: &[file::RawService],
    problems: &mut Problems,
) -> Vec<AuthorizationService> {
    let mut out: Vec<AuthorizationService> = Vec::new();
    for (i, service) in raw.iter().enumerate() {
        let field = |f: &str| format!("authorization.services[{i}].{f}");
        let name_ok = (1..=64).contains(&service.name.len())
            && service
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !name_ok {
            problems.add(
                path,
                Some(&field("name")),
                "must be 1-64 characters of [A-Za-z0-9._-]",
            );
        } else if out.iter().any(|s| s.name == service.name) {
            problems.add(
                path,
                Some(&field("name")),
                "names another service already listed",
            );
        }
        let digest = data_encoding::HEXLOWER_PERMISSIVE
            .decode(service.bearer_sha256.as_bytes())
            .ok()
            .and_then(|d| <[u8; 32]>::try_from(d).ok());
        match digest {
            Some(bearer_sha256) if name_ok => out.push(AuthorizationService {
                name: service.name.clone(),
                bearer_sha256,
            }),
            Some(_) => {}
            None => problems.add(
                path,
                Some(&field("bearer_sha256")),
                "must be the 64 hex digits of the SHA-256 of the service's bearer secret",
            ),
        }
    }
    out
}

pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The files with `extension` in `dir`, sorted; a missing directory is an empty list.
pub(crate) fn files_in(dir: &Path, extension: &str, problems: &mut Problems) -> Vec<PathBuf> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            problems.add(dir, None, format!("cannot read directory: {e}"));
            return Vec::new();
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some(extension))
        .collect();
    files.sort();
    files
}

pub(crate) fn file_stem(path: &Path) -> String {
    path.file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_owned()
}

fn load_idps(dir: &Path, problems: &mut Problems) -> Vec<IdpConfig> {
    let mut idps = Vec::new();
    let mut issuers: BTreeMap<String, PathBuf> = BTreeMap::new();
    for path in files_in(dir, "toml", problems) {
        let Some(text) = read_file(&path, problems) else {
            continue;
        };
        let raw: file::RawIdp = match toml::from_str(&text) {
            Ok(r) => r,
            Err(e) => {
                problems.add(&path, None, e.message().to_owned());
                continue;
            }
        };
        let idp = match raw {
            file::RawIdp::Oidc(raw) => validate_oidc(&path, raw, problems).map(IdpConfig::Oidc),
            file::RawIdp::Saml(raw) => {
                saml_idp::validate(&path, raw, problems).map(IdpConfig::Saml)
            }
        };
        if let Some(idp) = idp {
            // OIDC tokens are routed by issuer, SAML responses by provider name.
            let (key, field) = match &idp {
                IdpConfig::Oidc(o) => (format!("oidc {}", o.issuer), "issuer"),
                IdpConfig::Saml(s) => (format!("saml {}", s.name), "name"),
            };
            if let Some(first) = issuers.insert(key, path.clone()) {
                problems.add(
                    &path,
                    Some(field),
                    format!("the same {field} is configured in {}", first.display()),
                );
                continue;
            }
            idps.push(idp);
        }
    }
    idps
}

fn check_url(
    path: &Path,
    field: &str,
    value: &str,
    insecure_http: bool,
    problems: &mut Problems,
) -> bool {
    let url = match reqwest::Url::parse(value) {
        Ok(u) => u,
        Err(e) => {
            problems.add(path, Some(field), format!("not a URL: {e}"));
            return false;
        }
    };
    let scheme_ok = url.scheme() == "https" || (insecure_http && url.scheme() == "http");
    if !scheme_ok {
        let hint = if url.scheme() == "http" {
            " (set insecure_http = true only for local test IdPs)"
        } else {
            ""
        };
        problems.add(path, Some(field), format!("must be an https:// URL{hint}"));
        return false;
    }
    if url.host_str().is_none() || url.query().is_some() || url.fragment().is_some() {
        problems.add(
            path,
            Some(field),
            "must have a host and no query or fragment",
        );
        return false;
    }
    true
}

fn validate_oidc(
    path: &Path,
    raw: file::RawOidc,
    problems: &mut Problems,
) -> Option<OidcIdpConfig> {
    let before = problems.0.len();
    check_url(path, "issuer", &raw.issuer, raw.insecure_http, problems);
    if raw.audiences.is_empty() || raw.audiences.len() > 100 {
        problems.add(path, Some("audiences"), "must list 1 to 100 client ids");
    }
    if raw.audiences.iter().any(|a| a.is_empty() || a.len() > 255) {
        problems.add(
            path,
            Some("audiences"),
            "a client id must be 1 to 255 characters",
        );
    }
    let mut algorithms = Vec::new();
    for name in &raw.algorithms {
        match ALLOWED_ALGORITHMS.iter().find(|(n, _)| n == name) {
            Some((_, alg)) => algorithms.push(*alg),
            None => problems.add(
                path,
                Some("algorithms"),
                format!(
                    "{name:?} is not allowed (allowed: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA)"
                ),
            ),
        }
    }
    if raw.algorithms.is_empty() {
        problems.add(path, Some("algorithms"), "must list at least one algorithm");
    }
    if raw.leeway_seconds > 300 {
        problems.add(path, Some("leeway_seconds"), "must be at most 300");
    }
    let keys = match (&raw.jwks_uri, &raw.jwks_file) {
        (Some(_), Some(_)) => {
            problems.add(
                path,
                Some("jwks_file"),
                "give jwks_uri or jwks_file, not both",
            );
            OidcKeySource::Discovery
        }
        (Some(uri), None) => {
            check_url(path, "jwks_uri", uri, raw.insecure_http, problems);
            OidcKeySource::JwksUri(uri.clone())
        }
        (None, Some(file)) => {
            // Relative to the IdP file, which it sits beside.
            let file = path.parent().unwrap_or(Path::new(".")).join(file);
            match std::fs::read_to_string(&file) {
                Ok(text) => {
                    if serde_json::from_str::<jsonwebtoken::jwk::JwkSet>(&text).is_err() {
                        problems.add(path, Some("jwks_file"), "is not a JWK Set");
                    }
                }
                Err(e) => problems.add(path, Some("jwks_file"), format!("cannot read: {e}")),
            }
            OidcKeySource::JwksFile(file)
        }
        (None, None) => OidcKeySource::Discovery,
    };
    if problems.0.len() != before {
        return None;
    }
    Some(OidcIdpConfig {
        name: file_stem(path),
        provider: provider_name(&raw.issuer),
        issuer: raw.issuer,
        audiences: raw.audiences,
        algorithms,
        keys,
        leeway: Duration::from_secs(raw.leeway_seconds),
        insecure_http: raw.insecure_http,
    })
}

/// Turn a policy given as a JSON object or as a string holding one into its text.
pub(crate) fn policy_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn load_managed_policies(
    dir: &Path,
    default_account: &str,
    problems: &mut Problems,
) -> BTreeMap<String, Policy> {
    let mut out = BTreeMap::new();
    for path in files_in(dir, "json", problems) {
        let Some(text) = read_file(&path, problems) else {
            continue;
        };
        let raw: file::RawManagedPolicy = match serde_json::from_str(&text) {
            Ok(r) => r,
            Err(e) => {
                problems.add(&path, None, e.to_string());
                continue;
            }
        };
        let name = raw.policy_name.clone().unwrap_or_else(|| file_stem(&path));
        let account = raw.account_id.as_deref().unwrap_or(default_account);
        if !is_account_id(account) {
            problems.add(&path, Some("AccountId"), "must be 12 digits");
        }
        match Policy::parse(&policy_text(&raw.policy_document), PolicyKind::Identity) {
            Ok(p) => {
                out.insert(format!("arn:aws:iam::{account}:policy/{name}"), p);
            }
            Err(e) => problems.add(&path, Some("PolicyDocument"), e.to_string()),
        }
    }
    out
}

#[cfg(test)]
mod tests;
