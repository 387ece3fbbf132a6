//! The on-disk shapes, exactly as operators write them. Unknown keys are errors, and so is a key
//! given twice in one object (serde's derive refuses it; policy documents are kept as text for
//! `Policy::parse`, which refuses it at any depth).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;

/// `stsbridge.toml`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMain {
    /// The account roles belong to unless they name one.
    pub default_account_id: String,
    #[serde(default = "default_idp_dir")]
    pub idp_dir: String,
    #[serde(default = "default_roles_dir")]
    pub roles_dir: String,
    #[serde(default = "default_policies_dir")]
    pub policies_dir: String,
    pub server: RawServer,
    pub storage: RawStorage,
    pub keys: RawKeys,
    #[serde(default)]
    pub admin: RawAdmin,
    #[serde(default)]
    pub audit: RawAudit,
    #[serde(default)]
    pub authorization: RawAuthorization,
    /// `[accounts]`: display names of account ids (`"123456789012" = "Production"`).
    #[serde(default)]
    pub accounts: BTreeMap<String, String>,
    #[serde(default)]
    pub metrics: RawMetrics,
    #[serde(default)]
    pub log: RawLog,
    /// `[signin]`: the sign-in portal's pages and its SAML service-provider key.
    #[serde(default)]
    pub signin: RawSignin,
}

/// `[signin]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSignin {
    /// The pages' title; default `stsbridge`.
    pub title: Option<String>,
    /// A logo shown on every page: an https URL or a path on this server (`/...`).
    pub logo_url: Option<String>,
    /// A folder of templates overriding the built-in ones file by file (relative to this file).
    pub templates_dir: Option<String>,
    /// How long a portal session lasts, in hours; default 8, at most 12.
    pub session_hours: Option<u64>,
    /// The SAML service provider's signing key (PKCS#8 PEM, owner-only), with `sp_cert_file`.
    pub sp_key_file: Option<String>,
    /// The certificate of `sp_key_file` (PEM), published in the SP metadata.
    pub sp_cert_file: Option<String>,
    /// Login attempts (starts, IdP answers, assertions, sign-in tokens) a source address may
    /// make per minute; default 30.
    pub logins_per_minute: Option<u32>,
}

/// `[metrics]`: where `/metrics` is served and who may read it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    /// A listener of its own (`IP:port`); default: the main listener serves `/metrics`.
    pub listen: Option<String>,
    /// Hex SHA-256 of the bearer secret a scraper must send; default: none needed.
    pub bearer_sha256: Option<String>,
}

/// `[log]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    #[serde(default)]
    pub format: LogFormat,
}

/// How log lines are written: `text` (default) for people, `json` (one object per line) for
/// collectors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

fn default_idp_dir() -> String {
    "idp-configs".into()
}
fn default_roles_dir() -> String {
    "roles".into()
}
fn default_policies_dir() -> String {
    "policies".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: String,
    /// Open client connections at most; default: what the file-descriptor limit allows, less
    /// what the rest of the daemon needs.
    pub max_connections: Option<usize>,
    /// A request head must arrive within this (slowloris).
    #[serde(default = "default_header_timeout")]
    pub header_timeout_seconds: u64,
    /// A connection without traffic for this long is closed (idle keep-alive, never used).
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_seconds: u64,
    /// A request body must arrive within this.
    #[serde(default = "default_body_timeout")]
    pub body_timeout_seconds: u64,
    /// A request is answered within this, or refused with `RequestTimeout`.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_seconds: u64,
    /// The PEM certificate chain (leaf first) to serve HTTPS with; with `tls_key_file`.
    pub tls_cert_file: Option<String>,
    /// The PEM private key of `tls_cert_file`'s leaf certificate.
    pub tls_key_file: Option<String>,
    /// Peers (CIDRs) whose `X-Forwarded-For` and `X-Forwarded-Proto` headers are believed.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// The external base URL (`https://sts.example.com`): every absolute URL of the sign-in
    /// portal derives from it, and the portal is served only when it is set.
    pub public_url: Option<String>,
}

fn default_header_timeout() -> u64 {
    10
}
fn default_idle_timeout() -> u64 {
    60
}
fn default_body_timeout() -> u64 {
    20
}
fn default_request_timeout() -> u64 {
    30
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStorage {
    /// The sled directory.
    pub path: String,
    /// sled's page cache in MiB (sled's own default is 1 GiB).
    #[serde(default = "default_cache_mb")]
    pub cache_capacity_mb: u64,
    /// How often expired sessions are purged, in seconds.
    #[serde(default = "default_purge_interval")]
    pub purge_interval_seconds: u64,
    /// Writes are refused (503) while less than this many MiB are free on the store's
    /// filesystem, so a full disk never wedges the daemon.
    #[serde(default = "default_min_free_mb")]
    pub min_free_mb: u64,
    /// Which backend keeps the records.
    #[serde(default)]
    pub kind: StorageKind,
    /// The PostgreSQL database (libpq-style URL or key/value string), with `kind = "postgres"`.
    pub url: Option<String>,
    /// A file (0600) holding the database password, when the URL has none.
    pub url_file: Option<String>,
    /// The most database connections the daemon opens.
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// With `kind = "postgres"`: how long temporary credentials are verified against a
    /// revocation list the daemon cannot refresh (the database does not answer); 0: never.
    #[serde(default = "default_stale_revocations_seconds")]
    pub stale_revocations_seconds: u64,
}

fn default_stale_revocations_seconds() -> u64 {
    crate::store::StorageSettings::DEFAULT_STALE_REVOCATIONS.as_secs()
}

/// `[storage] kind`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    /// One embedded database for one daemon (`path`).
    #[default]
    Sled,
    /// One PostgreSQL database shared by every daemon (`url`).
    Postgres,
}

fn default_pool_size() -> usize {
    crate::store::postgres::PostgresSettings::DEFAULT_POOL_SIZE
}

fn default_cache_mb() -> u64 {
    64
}
fn default_purge_interval() -> u64 {
    300
}
fn default_min_free_mb() -> u64 {
    256
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKeys {
    /// The keyring file (created 0600 on first start).
    pub path: String,
    /// With a PostgreSQL store: the key-encryption key (32 bytes, 0600) sealing the keyring
    /// kept in the database.
    pub kek_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    /// The local admin socket; default `admin.sock` inside the storage directory's parent.
    pub socket: Option<String>,
}

/// `[audit]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAudit {
    /// Events older than this many days are deleted by the purge (CloudTrail's event history
    /// keeps 90).
    #[serde(default = "default_retention_days")]
    pub retention_days: u64,
    /// Every event also appended as one JSON line to this file (relative to this one).
    #[serde(default)]
    pub export_file: Option<String>,
}

impl Default for RawAudit {
    fn default() -> Self {
        Self {
            retention_days: default_retention_days(),
            export_file: None,
        }
    }
}

fn default_retention_days() -> u64 {
    90
}

/// `[authorization]`: the resource services allowed to call `POST /v1/authorize`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuthorization {
    #[serde(default)]
    pub services: Vec<RawService>,
}

/// `[[authorization.services]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    pub name: String,
    /// Hex SHA-256 of the service's bearer secret (the secret itself is never in the config).
    pub bearer_sha256: String,
    /// The service name the requests it asks about are signed for (the credential scope's
    /// service); default: `name`.
    pub signing_name: Option<String>,
}

/// `idp-configs/NAME.toml`
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum RawIdp {
    #[serde(rename = "oidc")]
    Oidc(RawOidc),
    #[serde(rename = "saml")]
    Saml(RawSaml),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSaml {
    /// The provider name (`arn:aws:iam::ACCOUNT:saml-provider/NAME`); default: the file stem.
    pub name: Option<String>,
    /// The IdP's SAML metadata (entityID and signing certificates), a file relative to this
    /// one, read at start-up...
    pub metadata_file: Option<String>,
    /// ... or fetched from this URL at start-up and refreshed (https unless `insecure_http`).
    pub metadata_url: Option<String>,
    /// Allow an `http://` `metadata_url` (tests and local IdPs only).
    #[serde(default)]
    pub insecure_http: bool,
    /// How often a `metadata_url` is fetched again; default 3600, 5..=86400.
    pub metadata_refresh_seconds: Option<u64>,
    /// The audience assertions must name; default `urn:amazon:webservices`.
    pub sp_entity_id: Option<String>,
    /// Accepted Recipient/Destination values; default `https://signin.aws.amazon.com/saml`.
    pub acs_urls: Option<Vec<String>>,
    /// Accept SHA-1 signature and digest methods (default false).
    #[serde(default)]
    pub allow_sha1: bool,
    /// Narrow the accepted signature methods (short names such as `rsa-sha256`, or XML-DSig
    /// URIs); default RSA and ECDSA with SHA-256/384/512, plus the SHA-1 ones with
    /// `allow_sha1`.
    pub algorithms: Option<Vec<String>>,
    #[serde(default = "default_saml_skew")]
    pub clock_skew_seconds: u64,
    /// The service's RSA private key (PKCS#8 PEM, owner-only) for encrypted assertions, a file
    /// relative to this one; without it, encrypted assertions are refused.
    pub decryption_key_file: Option<String>,
    /// `[signin]`: offer this IdP on the sign-in page.
    pub signin: Option<RawSamlSignin>,
}

/// `[signin]` of a SAML IdP file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSamlSignin {
    /// The link's text on the sign-in page; default: the IdP's name.
    pub display_name: Option<String>,
    /// Where AuthnRequests are sent; default: the metadata's HTTP-Redirect
    /// SingleSignOnService.
    pub sso_url: Option<String>,
    /// Sign AuthnRequests with the service provider's key (default true).
    #[serde(default = "default_true")]
    pub sign_requests: bool,
}

fn default_true() -> bool {
    true
}

/// `[signin]` of an OIDC IdP file: the portal is a relying party of the IdP.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOidcSignin {
    /// The portal's client id at the IdP: one of the IdP's `audiences`.
    pub client_id: String,
    /// A file (relative to this one, owner-only) holding the client secret; without it the
    /// client is public and relies on PKCE.
    pub client_secret_file: Option<String>,
    /// The scopes asked for; default `["openid", "email"]`.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The link's text on the sign-in page; default: the IdP's name.
    pub display_name: Option<String>,
}

fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "email".into()]
}

fn default_saml_skew() -> u64 {
    60
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOidc {
    pub issuer: String,
    pub audiences: Vec<String>,
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    pub jwks_uri: Option<String>,
    pub jwks_file: Option<String>,
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
    #[serde(default)]
    pub insecure_http: bool,
    /// `[signin]`: offer this IdP on the sign-in page.
    pub signin: Option<RawOidcSignin>,
}

fn default_algorithms() -> Vec<String> {
    vec!["RS256".into()]
}
fn default_leeway() -> u64 {
    60
}

/// `roles/NAME.json`, the shape of IAM's `Role` plus inline policies.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct RawRole {
    pub role_name: String,
    pub account_id: Option<String>,
    pub role_id: Option<String>,
    #[serde(default = "default_path")]
    pub path: String,
    pub description: Option<String>,
    #[serde(default = "default_max_session")]
    pub max_session_duration: u32,
    /// A JSON object, or a string holding one (as `aws iam get-role` prints it URL-decoded or not).
    /// Kept as written (see [`PolicyDocument`]).
    pub assume_role_policy_document: PolicyDocument,
    #[serde(default)]
    pub policies: Vec<RawInlinePolicy>,
    #[serde(default)]
    pub tags: Vec<RawTag>,
}

fn default_path() -> String {
    "/".into()
}
fn default_max_session() -> u32 {
    3600
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct RawInlinePolicy {
    pub policy_name: String,
    pub policy_document: PolicyDocument,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct RawTag {
    pub key: String,
    pub value: String,
}

/// `policies/NAME.json`: a managed policy, ARN `arn:aws:iam::ACCOUNT:policy/NAME`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct RawManagedPolicy {
    pub policy_name: Option<String>,
    pub account_id: Option<String>,
    pub policy_document: PolicyDocument,
}

/// A policy document in a role or managed-policy file: a JSON object, or a string holding one.
/// Kept as the text written, not as a `serde_json::Value`, which would keep only the last of
/// two members with the same name: `Policy::parse` must see the repetition to refuse it.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct PolicyDocument(Box<RawValue>);

impl PolicyDocument {
    /// The policy's text: the string's contents when the document is given as a string,
    /// otherwise the JSON value exactly as written (not necessarily an object: `Policy::parse`
    /// says what is wrong with it).
    pub fn text(&self) -> String {
        let written = self.0.get();
        serde_json::from_str::<String>(written).unwrap_or_else(|_| written.to_owned())
    }
}
