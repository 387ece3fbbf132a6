//! Configuration in two lifetimes: the process [`Settings`] (listen address, storage, keyring,
//! admin socket: changing them needs a restart) and the [`FederationConfig`] (identity
//! providers, roles, managed policies, authorization services, account names: what a reload
//! swaps). [`load`] reads and validates both from the file shapes (`file`), reporting every
//! problem in every file at once with the file and field it concerns; it is what `serve`,
//! `check-config` and a reload run. Besides problems (errors: the configuration is refused) it
//! finds warnings (likely mistakes that still load, such as a file the directories do not read)
//! and notes (what an operator may want to know, such as a disabled example), which a valid
//! [`Config`] carries. [`Federation::build`] turns a validated
//! [`FederationConfig`] into the verifiers requests use.

mod federation;
pub mod file;
mod oidc_idp;
mod role;
mod saml_idp;
pub mod signin;
mod toml_error;
mod trust;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use ipnet::IpNet;

pub use federation::Federation;
pub use file::LogFormat;
pub use role::{Role, RoleSet};
pub use signin::{PublicUrl, SigninIdp, SigninSettings};

use crate::arn::{PolicyArn, is_account_id};
use crate::idp::IdpSettings;
use crate::policy::{Policy, PolicyKind};
use crate::store::StorageSettings;
use crate::tls::TlsFiles;

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

/// Collects problems (errors), warnings and notes while validating.
#[derive(Default)]
pub(crate) struct Problems {
    errors: Vec<Problem>,
    warnings: Vec<Problem>,
    notes: Vec<Problem>,
}

fn problem(file: &Path, field: Option<&str>, message: impl Into<String>) -> Problem {
    Problem {
        file: file.to_owned(),
        field: field.map(str::to_owned),
        message: message.into(),
    }
}

impl Problems {
    /// A problem: the configuration is refused.
    pub(crate) fn add(&mut self, file: &Path, field: Option<&str>, message: impl Into<String>) {
        self.errors.push(problem(file, field, message));
    }

    /// Likely a mistake, but the configuration loads.
    pub(crate) fn warn(&mut self, file: &Path, field: Option<&str>, message: impl Into<String>) {
        self.warnings.push(problem(file, field, message));
    }

    /// Worth knowing, not a mistake.
    pub(crate) fn note(&mut self, file: &Path, field: Option<&str>, message: impl Into<String>) {
        self.notes.push(problem(file, field, message));
    }

    /// How many problems (errors) were found so far.
    pub(crate) fn error_count(&self) -> usize {
        self.errors.len()
    }
}

/// A resource service allowed to call the authorization API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationService {
    pub name: String,
    /// SHA-256 of its bearer secret.
    pub bearer_sha256: [u8; 32],
    /// The service name the requests it asks about must be signed for.
    pub signing_name: String,
}

/// The limits on client connections (`[server]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// `None`: derived from the file-descriptor limit.
    pub max_connections: Option<usize>,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub body_timeout: Duration,
    pub request_timeout: Duration,
    /// Serve HTTPS with these files; `None`: plain HTTP.
    pub tls: Option<TlsFiles>,
    /// The peers whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed.
    pub trusted_proxies: Vec<IpNet>,
}

/// What the process is set up with; a change needs a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The main config file this was read from.
    pub source: PathBuf,
    pub listen: SocketAddr,
    pub server: ServerSettings,
    pub storage: StorageSettings,
    pub purge_interval: Duration,
    /// Audit events older than this are deleted by the purge (`[audit] retention_days`).
    pub audit_retention: Duration,
    /// Every recorded event is appended to this file as a JSON line (`[audit] export_file`).
    pub audit_export_file: Option<PathBuf>,
    pub keyring_path: PathBuf,
    /// `[keys] kek_file`: with a PostgreSQL store, the keyring is kept in the database, each
    /// key sealed under the KEK in this file.
    pub kek_file: Option<PathBuf>,
    pub admin_socket: PathBuf,
    /// The account of roles, policies and users that do not name one.
    pub default_account_id: String,
    /// `[metrics]`.
    pub metrics: MetricsSettings,
    /// `[log] format`.
    pub log_format: LogFormat,
    /// `[server] public_url`: the sign-in portal is served only with one.
    pub public_url: Option<PublicUrl>,
    /// `[signin]`.
    pub signin: SigninSettings,
}

/// Where `/metrics` is served and who may read it (`[metrics]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsSettings {
    /// A listener of its own; `None`: the main listener serves `/metrics`.
    pub listen: Option<SocketAddr>,
    /// SHA-256 of the bearer secret a scrape must carry; `None`: none needed.
    pub bearer_sha256: Option<[u8; 32]>,
}

/// The federation data, validated: what requests are decided with, and what a reload replaces.
#[derive(Debug, Clone)]
pub struct FederationConfig {
    pub idps: Vec<IdpSettings>,
    pub roles: RoleSet,
    /// Managed policies by ARN (`arn:aws:iam::ACCOUNT:policy/NAME`).
    pub managed_policies: BTreeMap<String, Policy>,
    /// Services allowed to call `POST /v1/authorize`.
    pub authorization_services: Vec<AuthorizationService>,
    /// Display names of accounts (`[accounts]`): 12-digit id -> name.
    pub accounts: BTreeMap<String, String>,
    /// The IdPs offered on the sign-in page, in file order (their files' `[signin]` tables).
    pub signin: Vec<SigninIdp>,
}

/// The whole configuration: settings and federation, read and validated together.
#[derive(Debug, Clone)]
pub struct Config {
    pub settings: Settings,
    pub federation: FederationConfig,
    /// Likely mistakes that did not stop the configuration from loading (`check-config` prints
    /// them, `serve` logs them at `warn`), in the order found.
    pub warnings: Vec<Problem>,
    /// What is worth knowing but no mistake, such as a disabled example file (`check-config`
    /// prints them, `serve` logs them at `info`).
    pub notes: Vec<Problem>,
}

/// The issuer of the development IdP `serve --dev` adds for a daemon listening on `listen`
/// (`crate::dev` serves it; trust policies may name it though no file configures it).
pub fn dev_issuer(listen: SocketAddr) -> String {
    format!("http://{listen}/dev")
}

/// Read and validate the configuration rooted at `path`. Relative paths inside it are resolved
/// against the directory of `path`. Fails with every problem found; warnings and notes come
/// with a valid configuration.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let mut problems = Problems::default();
    let config = load_collecting(path, &mut problems);
    match config {
        Some(mut c) if problems.errors.is_empty() => {
            c.warnings = problems.warnings;
            c.notes = problems.notes;
            Ok(c)
        }
        _ => Err(ConfigErrors(problems.errors)),
    }
}

/// The `[log] format` of the main file at `path`, read before logging starts (so before
/// [`load`], which logs). Anything unreadable gives the default: [`load`] reports it.
pub fn log_format(path: &Path) -> LogFormat {
    #[derive(serde::Deserialize)]
    struct LogOnly {
        #[serde(default)]
        log: LogTable,
    }
    #[derive(Default, serde::Deserialize)]
    struct LogTable {
        #[serde(default)]
        format: LogFormat,
    }
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| toml::from_str::<LogOnly>(&text).ok())
        .map_or_else(LogFormat::default, |only| only.log.format)
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

/// The admin socket the main file at `path` names, reading nothing else: enough to reach a
/// running daemon while the rest of the configuration has problems (`stsbridge reload` reports
/// them from the daemon).
pub fn admin_socket(path: &Path) -> Result<PathBuf, ConfigErrors> {
    let mut problems = Problems::default();
    let raw = read_file(path, &mut problems)
        .and_then(|text| toml_error::parse::<file::RawMain>(path, &text, &mut problems));
    match raw {
        Some(raw) => Ok(admin_socket_of(
            &raw,
            path.parent().unwrap_or(Path::new(".")),
        )),
        None => Err(ConfigErrors(problems.errors)),
    }
}

/// `[admin] socket`, by default `admin.sock` beside the storage directory.
fn admin_socket_of(raw: &file::RawMain, base: &Path) -> PathBuf {
    match &raw.admin.socket {
        Some(s) => base.join(s),
        None => base
            .join(&raw.storage.path)
            .parent()
            .map(|p| p.join("admin.sock"))
            .unwrap_or_else(|| PathBuf::from("admin.sock")),
    }
}

/// The longest `[audit] retention_days`: a hundred years.
const MAX_RETENTION_DAYS: u64 = 36_500;

/// The longest `[storage] stale_revocations_seconds`: a day.
const MAX_STALE_REVOCATIONS_SECONDS: u64 = 86_400;

fn load_collecting(path: &Path, problems: &mut Problems) -> Option<Config> {
    let text = read_file(path, problems)?;
    let raw: file::RawMain = toml_error::parse(path, &text, problems)?;
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
    let server = server_settings(path, &raw.server, &resolve, problems);
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
    if raw.storage.stale_revocations_seconds > MAX_STALE_REVOCATIONS_SECONDS {
        problems.add(
            path,
            Some("storage.stale_revocations_seconds"),
            format!("must be 0..{MAX_STALE_REVOCATIONS_SECONDS} (a revocation unseen longer than a day is no revocation)"),
        );
    }
    if raw.storage.purge_interval_seconds == 0 {
        problems.add(
            path,
            Some("storage.purge_interval_seconds"),
            "must be at least 1",
        );
    }
    if !(1..=MAX_RETENTION_DAYS).contains(&raw.audit.retention_days) {
        problems.add(
            path,
            Some("audit.retention_days"),
            format!("must be 1..{MAX_RETENTION_DAYS}"),
        );
    }
    let storage_path = resolve(&raw.storage.path);
    let postgres = postgres_settings(path, &raw.storage, &resolve, problems);
    let admin_socket = admin_socket_of(&raw, &base);

    let metrics = metrics_settings(path, &raw.metrics, problems);
    let authorization_services = validate_services(path, &raw.authorization.services, problems);
    let accounts = validate_accounts(path, raw.accounts, problems);
    let idp_dir = list_dir(path, "idp_dir", &resolve(&raw.idp_dir), "toml", problems);
    let mut referenced = BTreeSet::new();
    // The daemon's state directory (the store's parent) keeps the last good SAML metadata.
    let kept_metadata = storage_path
        .parent()
        .unwrap_or(Path::new("."))
        .join("saml-metadata");
    let public_url = signin::public_url(path, raw.server.public_url.as_deref(), problems);
    let signin_settings = signin::settings(path, &raw.signin, &resolve, problems);
    let (mut idps, offered) = load_idps(&idp_dir.files, &kept_metadata, &mut referenced, problems);
    signin::check_offered(
        path,
        &offered,
        public_url.as_ref(),
        raw.server.public_url.is_some(),
        problems,
    );
    if let Some(url) = &public_url {
        signin::add_portal_acs(&mut idps, url);
    }
    // Beside the IdP files: the key and metadata files they name, and folders of them.
    idp_dir.report_unread(&referenced, false, problems);
    let policies_dir = list_dir(
        path,
        "policies_dir",
        &resolve(&raw.policies_dir),
        "json",
        problems,
    );
    policies_dir.report_unread(&BTreeSet::new(), true, problems);
    let managed_policies =
        load_managed_policies(&policies_dir.files, &raw.default_account_id, problems);
    let roles_dir = list_dir(
        path,
        "roles_dir",
        &resolve(&raw.roles_dir),
        "json",
        problems,
    );
    roles_dir.report_unread(&BTreeSet::new(), true, problems);
    let known = trust::KnownProviders::new(&idps, listen);
    let roles = role::load_roles(&roles_dir.files, &raw.default_account_id, &known, problems);

    Some(Config {
        settings: Settings {
            source: path.to_owned(),
            listen: listen?,
            server,
            storage: StorageSettings {
                path: storage_path,
                cache_capacity_bytes: raw.storage.cache_capacity_mb.saturating_mul(1024 * 1024),
                min_free_bytes: raw.storage.min_free_mb.saturating_mul(1024 * 1024),
                postgres,
                stale_revocations: Duration::from_secs(raw.storage.stale_revocations_seconds),
            },
            purge_interval: Duration::from_secs(raw.storage.purge_interval_seconds.max(1)),
            audit_retention: Duration::from_secs(
                raw.audit.retention_days.clamp(1, MAX_RETENTION_DAYS) * 86_400,
            ),
            audit_export_file: raw.audit.export_file.as_deref().map(resolve),
            keyring_path: resolve(&raw.keys.path),
            kek_file: kek_file(path, &raw.storage, &raw.keys, &resolve, problems),
            admin_socket,
            default_account_id: raw.default_account_id,
            metrics,
            log_format: raw.log.format,
            public_url,
            signin: signin_settings,
        },
        federation: FederationConfig {
            idps,
            roles,
            managed_policies,
            authorization_services,
            accounts,
            signin: offered.into_iter().map(|(_, idp)| idp).collect(),
        },
        warnings: Vec::new(),
        notes: Vec::new(),
    })
}

/// `[metrics]`: `listen` a socket address, `bearer_sha256` 64 hex digits.
fn metrics_settings(
    path: &Path,
    raw: &file::RawMetrics,
    problems: &mut Problems,
) -> MetricsSettings {
    let listen = raw.listen.as_deref().and_then(|text| {
        let parsed = text.parse::<SocketAddr>().ok();
        if parsed.is_none() {
            problems.add(
                path,
                Some("metrics.listen"),
                "must be an IP:port socket address",
            );
        }
        parsed
    });
    let bearer_sha256 = raw.bearer_sha256.as_deref().and_then(|hex| {
        let digest = (hex.len() == 64)
            .then(|| {
                data_encoding::HEXLOWER_PERMISSIVE
                    .decode(hex.as_bytes())
                    .ok()
            })
            .flatten()
            .and_then(|d| <[u8; 32]>::try_from(d).ok());
        if digest.is_none() {
            problems.add(
                path,
                Some("metrics.bearer_sha256"),
                "must be the 64 hex digits of the SHA-256 of the scraper's bearer secret",
            );
        }
        digest
    });
    MetricsSettings {
        listen,
        bearer_sha256,
    }
}

/// `[server]`: every timeout 1-3600 seconds, at least one connection; the TLS files both or
/// neither, readable, a certificate chain and its key; the trusted proxies CIDRs (or single
/// addresses).
fn server_settings(
    path: &Path,
    raw: &file::RawServer,
    resolve: &dyn Fn(&str) -> PathBuf,
    problems: &mut Problems,
) -> ServerSettings {
    let mut seconds = |field: &str, value: u64| {
        if !(1..=3600).contains(&value) {
            problems.add(
                path,
                Some(&format!("server.{field}")),
                "must be 1..3600 seconds",
            );
        }
        Duration::from_secs(value.clamp(1, 3600))
    };
    let settings = ServerSettings {
        max_connections: raw.max_connections,
        header_timeout: seconds("header_timeout_seconds", raw.header_timeout_seconds),
        idle_timeout: seconds("idle_timeout_seconds", raw.idle_timeout_seconds),
        body_timeout: seconds("body_timeout_seconds", raw.body_timeout_seconds),
        request_timeout: seconds("request_timeout_seconds", raw.request_timeout_seconds),
        tls: tls_files(path, raw, resolve, problems),
        trusted_proxies: trusted_proxies(path, &raw.trusted_proxies, problems),
    };
    if raw.max_connections == Some(0) {
        problems.add(path, Some("server.max_connections"), "must be at least 1");
    }
    settings
}

/// `tls_cert_file` and `tls_key_file`: both or neither; when both, the files load as the
/// listener would load them (`tls::load`).
fn tls_files(
    path: &Path,
    raw: &file::RawServer,
    resolve: &dyn Fn(&str) -> PathBuf,
    problems: &mut Problems,
) -> Option<TlsFiles> {
    let (cert, key) = match (&raw.tls_cert_file, &raw.tls_key_file) {
        (None, None) => return None,
        (Some(cert), Some(key)) => (cert, key),
        (Some(_), None) => {
            problems.add(
                path,
                Some("server.tls_key_file"),
                "missing: tls_cert_file needs the key of its certificate",
            );
            return None;
        }
        (None, Some(_)) => {
            problems.add(
                path,
                Some("server.tls_cert_file"),
                "missing: tls_key_file needs the certificate chain it belongs to",
            );
            return None;
        }
    };
    let files = TlsFiles {
        cert_file: resolve(cert),
        key_file: resolve(key),
    };
    match crate::tls::load(&files) {
        Ok(_) => Some(files),
        Err(e) => {
            problems.add(path, Some(e.file().field()), e.to_string());
            None
        }
    }
}

/// `trusted_proxies`: CIDRs such as `10.0.0.0/8`, or single addresses.
fn trusted_proxies(path: &Path, raw: &[String], problems: &mut Problems) -> Vec<IpNet> {
    let mut out = Vec::new();
    for (i, text) in raw.iter().enumerate() {
        let text = text.trim();
        match text
            .parse::<IpNet>()
            .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
        {
            Ok(net) => out.push(net.trunc()),
            Err(_) => problems.add(
                path,
                Some(&format!("server.trusted_proxies[{i}]")),
                format!("{text:?} is not a CIDR (10.0.0.0/8, fd00::/8) nor an IP address"),
            ),
        }
    }
    out
}

/// What only a clock can tell about a valid configuration, as warnings: an expired TLS
/// certificate. `check-config` adds them to [`Config::warnings`]; `serve` logs the same when it
/// loads the certificate.
pub fn time_warnings(settings: &Settings, now: SystemTime) -> Vec<Problem> {
    let Some(files) = &settings.server.tls else {
        return Vec::new();
    };
    match crate::tls::load(files) {
        Ok(loaded) => crate::tls::expiry_problem(files, loaded.not_after, now)
            .map(|message| {
                problem(
                    &settings.source,
                    Some(crate::tls::TlsFile::Certificate.field()),
                    message,
                )
            })
            .into_iter()
            .collect(),
        // Changed since the configuration was loaded: the next load reports it.
        Err(_) => Vec::new(),
    }
}

/// `[accounts]`: 12-digit account ids to display names of 1-64 characters.
fn validate_accounts(
    path: &Path,
    raw: BTreeMap<String, String>,
    problems: &mut Problems,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (id, name) in raw {
        if !is_account_id(&id) {
            problems.add(
                path,
                Some(&format!("accounts.{id}")),
                "must be a 12-digit account id",
            );
        } else if name.is_empty() || name.chars().count() > 64 {
            problems.add(
                path,
                Some(&format!("accounts.{id}")),
                "a name of 1-64 characters",
            );
        } else {
            out.insert(id, name);
        }
    }
    out
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
        let is_name = |name: &str| {
            (1..=64).contains(&name.len())
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        };
        let name_ok = is_name(&service.name);
        if let Some(signing_name) = &service.signing_name
            && !is_name(signing_name)
        {
            problems.add(
                path,
                Some(&field("signing_name")),
                "must be 1-64 characters of [A-Za-z0-9._-]",
            );
        }
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
                signing_name: service
                    .signing_name
                    .clone()
                    .unwrap_or_else(|| service.name.clone()),
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

/// What a configuration directory holds.
struct Listing {
    /// The files with the extension read there, sorted.
    files: Vec<PathBuf>,
    /// Everything else in it, sorted, but hidden entries (`.gitkeep`, editors' files): files
    /// with another extension, and directories (`true`).
    others: Vec<(PathBuf, bool)>,
    extension: &'static str,
}

/// The entries of `dir`, the directory `field` of the main file `main` names, whose files end
/// in `.extension`. A missing directory is a problem, reported against that field: a
/// misspelled name would otherwise load as an empty configuration (an empty directory is how to
/// have none).
fn list_dir(
    main: &Path,
    field: &str,
    dir: &Path,
    extension: &'static str,
    problems: &mut Problems,
) -> Listing {
    let mut listing = Listing {
        files: Vec::new(),
        others: Vec::new(),
        extension,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            let why = match e.kind() {
                std::io::ErrorKind::NotFound => format!(
                    "no directory {} (create it, empty if there is nothing to put there)",
                    dir.display()
                ),
                std::io::ErrorKind::NotADirectory => {
                    format!("{} is not a directory", dir.display())
                }
                _ => format!("cannot read directory {}: {e}", dir.display()),
            };
            problems.add(main, Some(field), why);
            return listing;
        }
    };
    for entry in entries.filter_map(Result::ok) {
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        // Following a symbolic link, as reading the file does.
        let is_dir = path.is_dir();
        if !is_dir && path.extension().and_then(|e| e.to_str()) == Some(extension) {
            listing.files.push(path);
        } else {
            listing.others.push((path, is_dir));
        }
    }
    listing.files.sort();
    listing.others.sort();
    listing
}

impl Listing {
    /// Report what in the directory is not read, rather than skip it silently: a file ending in
    /// `.example` as a note (a disabled example, as `idp-configs/` ships them), any other file
    /// as a warning (a misspelled extension, a leftover), unless `referenced` names it (a
    /// file an IdP file refers to); a directory as a warning when `directories_unexpected`
    /// (nothing below the directory is read).
    fn report_unread(
        &self,
        referenced: &BTreeSet<PathBuf>,
        directories_unexpected: bool,
        problems: &mut Problems,
    ) {
        let ext = self.extension;
        for (path, is_dir) in &self.others {
            if *is_dir {
                if directories_unexpected {
                    problems.warn(
                        path,
                        None,
                        format!(
                            "not read: a directory (only the *.{ext} files directly in its parent are read)"
                        ),
                    );
                }
                continue;
            }
            if referenced.contains(&comparable(path)) {
                continue;
            }
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            match name.strip_suffix(".example") {
                Some(enabled) if enabled.ends_with(&format!(".{ext}")) => problems.note(
                    path,
                    None,
                    format!("not read: a disabled example (rename it to {enabled} to enable it)"),
                ),
                Some(_) => problems.note(
                    path,
                    None,
                    format!("not read: a disabled example (only *.{ext} files are read)"),
                ),
                None => problems.warn(
                    path,
                    None,
                    format!("not read: only *.{ext} files are read here"),
                ),
            }
        }
    }
}

/// `path` in a form two spellings of one file share (`a/./k.json`, `b/../a/k.json`).
fn comparable(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}

pub(crate) fn file_stem(path: &Path) -> String {
    path.file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_owned()
}

/// The IdP files, validated, and the IdPs offered on the sign-in page with their files;
/// `referenced` gets the files they name (keys, metadata, client secrets).
fn load_idps(
    files: &[PathBuf],
    kept_metadata: &Path,
    referenced: &mut BTreeSet<PathBuf>,
    problems: &mut Problems,
) -> (Vec<IdpSettings>, Vec<(PathBuf, SigninIdp)>) {
    let mut idps = Vec::new();
    let mut offered = Vec::new();
    // The IdPs by routing name, with their file and (OIDC) issuer.
    let mut seen: BTreeMap<String, (PathBuf, String)> = BTreeMap::new();
    for path in files {
        let Some(text) = read_file(path, problems) else {
            continue;
        };
        let Some(mut raw) = toml_error::parse_idp(path, &text, problems) else {
            continue;
        };
        let (signin_table, signin_files) = signin::RawIdpSignin::take(&mut raw, path);
        referenced.extend(signin_files.iter().map(|f| comparable(f)));
        let named = match &raw {
            file::RawIdp::Oidc(o) => vec![&o.jwks_file],
            file::RawIdp::Saml(s) => vec![&s.metadata_file, &s.decryption_key_file],
        };
        let beside = path.parent().unwrap_or(Path::new("."));
        referenced.extend(
            named
                .into_iter()
                .flatten()
                .map(|f| comparable(&beside.join(f))),
        );
        let idp = match raw {
            file::RawIdp::Oidc(raw) => {
                oidc_idp::validate(path, raw, problems).map(IdpSettings::Oidc)
            }
            file::RawIdp::Saml(raw) => {
                saml_idp::validate(path, raw, kept_metadata, problems).map(IdpSettings::Saml)
            }
        };
        if let Some(idp) = idp {
            // OIDC tokens are routed by issuer and trusted by provider name (the issuer
            // without its scheme: https and http spellings share it), SAML responses by name.
            let (key, field, issuer) = match &idp {
                IdpSettings::Oidc(o) => (format!("oidc {}", o.provider), "issuer", &o.issuer),
                IdpSettings::Saml(s) => (format!("saml {}", s.name), "name", &s.name),
            };
            if let Some((first, first_issuer)) = seen.get(&key) {
                let message = if first_issuer == issuer {
                    format!("the same {field} is configured in {}", first.display())
                } else {
                    format!(
                        "names the same provider as {} ({first_issuer}): trust policies could \
                         not tell them apart",
                        first.display()
                    )
                };
                problems.add(path, Some(field), message);
                continue;
            }
            seen.insert(key, (path.clone(), issuer.clone()));
            if let Some(table) = signin_table
                && let Some(signin) = signin::idp(path, &idp, table, problems)
            {
                offered.push((path.clone(), signin));
            }
            idps.push(idp);
        }
    }
    // One IdP has one issuer: of two that differ by a trailing slash, one never sees a token.
    for (key, (path, issuer)) in &seen {
        let Some(without) = key.strip_prefix("oidc ").and_then(|p| p.strip_suffix('/')) else {
            continue;
        };
        if let Some((other, other_issuer)) = seen.get(&format!("oidc {without}")) {
            problems.warn(
                path,
                Some("issuer"),
                format!(
                    "{issuer} and {other_issuer} ({}) differ only by a trailing slash: an IdP's \
                     tokens carry one of them, so the other file never sees a token",
                    other.display()
                ),
            );
        }
    }
    (idps, offered)
}

fn load_managed_policies(
    files: &[PathBuf],
    default_account: &str,
    problems: &mut Problems,
) -> BTreeMap<String, Policy> {
    let mut out = BTreeMap::new();
    for path in files {
        let Some(text) = read_file(path, problems) else {
            continue;
        };
        let raw: file::RawManagedPolicy = match serde_json::from_str(&text) {
            Ok(r) => r,
            Err(e) => {
                problems.add(path, None, e.to_string());
                continue;
            }
        };
        let name = raw.policy_name.clone().unwrap_or_else(|| file_stem(path));
        let account = raw.account_id.as_deref().unwrap_or(default_account);
        if !is_account_id(account) {
            problems.add(path, Some("AccountId"), "must be 12 digits");
        }
        match Policy::parse(&raw.policy_document.text(), PolicyKind::Identity) {
            Ok(p) => {
                out.insert(PolicyArn::new(account, &name).to_string(), p);
            }
            Err(e) => problems.add(path, Some("PolicyDocument"), e.to_string()),
        }
    }
    out
}

#[cfg(test)]
mod tests;

/// `[storage]`'s PostgreSQL settings, with `kind = "postgres"`: the URL readable, the password
/// from `url_file` (owner-only) or `PGPASSWORD` when the URL has none. Never puts the URL or
/// the password in a message.
fn postgres_settings(
    path: &Path,
    raw: &file::RawStorage,
    resolve: &dyn Fn(&str) -> PathBuf,
    problems: &mut Problems,
) -> Option<crate::store::postgres::PostgresSettings> {
    use crate::store::postgres::PostgresSettings;
    if raw.kind != file::StorageKind::Postgres {
        for (set, field) in [
            (raw.url.is_some(), "storage.url"),
            (raw.url_file.is_some(), "storage.url_file"),
        ] {
            if set {
                problems.add(path, Some(field), "is read only with kind = \"postgres\"");
            }
        }
        return None;
    }
    if !(1..=1024).contains(&raw.pool_size) {
        problems.add(path, Some("storage.pool_size"), "must be 1..1024");
    }
    let Some(url) = raw.url.clone() else {
        problems.add(
            path,
            Some("storage.url"),
            "is required with kind = \"postgres\" (postgresql://user@host/database)",
        );
        return None;
    };
    let password = match raw.url_file.as_deref().map(resolve) {
        Some(file) => match read_password_file(&file) {
            Ok(password) => Some(password),
            Err(e) => {
                problems.add(path, Some("storage.url_file"), e);
                None
            }
        },
        None => std::env::var("PGPASSWORD").ok().filter(|p| !p.is_empty()),
    };
    let settings = PostgresSettings {
        url,
        password,
        pool_size: raw.pool_size.clamp(1, 1024),
    };
    if let Err(e) = settings.connection() {
        problems.add(path, Some("storage.url"), e.to_string());
        return None;
    }
    if let Some(roots) = settings.root_cert_file()
        && let Err(e) = std::fs::metadata(&roots)
    {
        problems.add(
            path,
            Some("storage.url"),
            format!("sslrootcert {}: {e}", roots.display()),
        );
    }
    Some(settings)
}

/// `[keys] kek_file`, with `[storage] kind = "postgres"`: a readable KEK (32 bytes, owner-only).
/// Without it a PostgreSQL store keeps the keyring in the file `keys.path` (a warning: every
/// node must then hold a copy of that file).
fn kek_file(
    path: &Path,
    storage: &file::RawStorage,
    keys: &file::RawKeys,
    resolve: &dyn Fn(&str) -> PathBuf,
    problems: &mut Problems,
) -> Option<PathBuf> {
    let postgres = storage.kind == file::StorageKind::Postgres;
    let Some(file) = keys.kek_file.as_deref().map(resolve) else {
        if postgres {
            problems.warn(
                path,
                Some("keys.kek_file"),
                "is not set: the keyring stays in the file keys.path, which every daemon sharing                  the database must hold a copy of; set kek_file (`stsbridge keys init-kek`) to                  keep it in the database",
            );
        }
        return None;
    };
    if !postgres {
        problems.add(
            path,
            Some("keys.kek_file"),
            "is read only with [storage] kind = \"postgres\" (a sled store keeps the keyring in keys.path)",
        );
        return None;
    }
    if let Err(e) = crate::creds::kek::Kek::load(&file) {
        problems.add(path, Some("keys.kek_file"), e.to_string());
    }
    Some(file)
}

/// The password in `file` (its first line), which must be readable by its owner only.
fn read_password_file(file: &Path) -> Result<String, String> {
    use std::os::unix::fs::PermissionsExt as _;
    let shown = file.display();
    let meta = std::fs::metadata(file).map_err(|e| format!("{shown}: {e}"))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "{shown} is mode {mode:03o}: a password file must be readable by its owner only \
             (chmod 600)"
        ));
    }
    let text = std::fs::read_to_string(file).map_err(|e| format!("{shown}: {e}"))?;
    let password = text.lines().next().unwrap_or_default().to_owned();
    if password.is_empty() {
        return Err(format!("{shown} holds no password"));
    }
    Ok(password)
}
