//! The PostgreSQL backend: one database shared by every daemon of a deployment, so credentials,
//! revocations, users and the replay cache hold across nodes.
//!
//! Tables (see `migrations/`): `sessions` (by access key id, indexed by expiry and by issue
//! time), `audit` (partitioned by day, see `partitions`; keyed by event time then a
//! sequence: time order, and a retention cut is a range), `replay`, `revocations`, `users`
//! with `access_keys`, `role_ids`, `sealing_keys`, `key_usage`, `keyring` with
//! `keyring_keys`, `device_authorizations` (by user code; the SSO layer's opaque state in a
//! `bytea`). Records are the daemon's JSON in `text` columns.
//!
//! Durability: `synchronous_commit` is on for every connection, so a write is durable (its
//! WAL flushed) when its commit returns. Sessions and audit events go through the batching
//! [`writer`]: concurrent requests share a transaction and its flush. The replay cache is
//! one `INSERT ... ON CONFLICT` per use, atomic across nodes. Revocations are announced with
//! `NOTIFY`; every handle listens on a connection of its own and also reloads the list every
//! [`CATCH_UP_INTERVAL`], so a dropped connection or a lost notification loses nothing. The
//! keyring, sealed under the KEK (`keyring_keys`), is followed the same way: its generation
//! is read at each notification and each catch-up.
//!
//! Through an outage (the database does not answer), a daemon's handle keeps audit events in
//! a local [`spool`] (drained at the first catch-up that reaches the database), and says how
//! long its revocation list has gone without a refresh ([`Revocations::freshness`]), so that
//! temporary credentials verify for a bounded time; writes of records are refused.

mod import;
mod keyring;
mod migrate;
mod partitions;
pub mod spool;
#[cfg(test)]
pub(crate) mod test_cluster;
mod writer;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio::sync::watch;
use tokio_postgres::config::SslMode;

use self::spool::Spool;
use self::writer::{EventRow, SessionRow, Writer};
use crate::audit::AuditEvent;
use crate::audit::feed::{AuditFeed, AuditSubscription};
use crate::audit::query::AuditQuery;
use crate::clock::Clock;
use crate::metrics::CommitMetrics;
use crate::store::{
    AuditLog, DeviceAuthorizations, DeviceRecord, Footprint, Freshness, Health, KeyUsage, KeyUse,
    LiveSessions, ReplayCache, ReplayKey, Revocation, RevocationFeed, RevocationSet, Revocations,
    RoleIds, SealingKeys, SessionRecord, Sessions, StoreError, StoreStatus, Users,
};
use crate::users::UserRecord;

/// The channel revocations are announced on.
const REVOCATION_CHANNEL: &str = "stsbridge_revocations";

/// How often each handle reloads the revocations whatever it was told: the bound on how long a
/// revocation whose notification was lost (a dropped listening connection) stays unseen.
pub const CATCH_UP_INTERVAL: Duration = Duration::from_secs(5);

/// Rows deleted per statement by a purge or a prune (a few in tests, so that they go through
/// several chunks).
const PURGE_CHUNK: i64 = if cfg!(test) { 2 } else { 10_000 };

/// How long a request waits for a pooled connection before it is refused.
const POOL_WAIT: Duration = Duration::from_secs(5);

/// Idle time before a connection is probed by TCP keepalives.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);

/// How long data sent to the server may stay unacknowledged before the connection is given up
/// (`TCP_USER_TIMEOUT`).
const UNACKNOWLEDGED_LIMIT: Duration = Duration::from_secs(10);

/// Where the database is and how to reach it (`[storage] kind = "postgres"`).
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresSettings {
    /// A libpq-style URL or key/value connection string.
    pub url: String,
    /// The password, when it is not in the URL (`url_file`, `PGPASSWORD`); never logged.
    pub password: Option<String>,
    /// The most connections this daemon opens (the listening connection aside).
    pub pool_size: usize,
}

impl PostgresSettings {
    pub const DEFAULT_POOL_SIZE: usize = 16;

    /// The connection settings: the URL parsed (`sslmode=verify-full` is `require`: the
    /// server's certificate is always verified), the password added.
    pub fn connection(&self) -> Result<tokio_postgres::Config, BadUrl> {
        let (url, _) = split_root_cert(&self.url);
        let url = url.replace("sslmode=verify-full", "sslmode=require");
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| BadUrl(e.to_string()))?;
        if let Some(password) = &self.password {
            config.password(password.as_bytes());
        }
        Ok(config)
    }

    /// The PEM file of the certificate authorities the server's certificate is verified
    /// against (`sslrootcert=` in the URL); `None`: the system's roots.
    pub fn root_cert_file(&self) -> Option<std::path::PathBuf> {
        split_root_cert(&self.url).1.map(std::path::PathBuf::from)
    }

    /// The URL without its password, for messages.
    pub fn describe(&self) -> String {
        match self.connection() {
            Ok(config) => {
                let hosts: Vec<String> = config
                    .get_hosts()
                    .iter()
                    .map(|h| match h {
                        tokio_postgres::config::Host::Tcp(name) => name.clone(),
                        tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
                    })
                    .collect();
                format!(
                    "database {} on {} as {}",
                    config.get_dbname().unwrap_or("(default)"),
                    hosts.join(","),
                    config.get_user().unwrap_or("(default)")
                )
            }
            Err(_) => "an unreadable database URL".to_owned(),
        }
    }
}

/// `url` without its `sslrootcert` parameter (which the PostgreSQL client does not read), and
/// that parameter's value: in a URL's query (`?sslmode=require&sslrootcert=/etc/ca.pem`,
/// percent-decoded) or as a `key=value` word.
fn split_root_cert(url: &str) -> (String, Option<String>) {
    const KEY: &str = "sslrootcert=";
    let is_url = url.starts_with("postgres://") || url.starts_with("postgresql://");
    if is_url {
        let Some((base, query)) = url.split_once('?') else {
            return (url.to_owned(), None);
        };
        let mut found = None;
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| match pair.strip_prefix(KEY) {
                Some(value) => {
                    found = Some(
                        percent_encoding::percent_decode_str(value)
                            .decode_utf8_lossy()
                            .into_owned(),
                    );
                    false
                }
                None => true,
            })
            .collect();
        let url = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        (url, found)
    } else {
        let mut found = None;
        let kept: Vec<&str> = url
            .split_whitespace()
            .filter(|word| match word.strip_prefix(KEY) {
                Some(value) => {
                    found = Some(value.to_owned());
                    false
                }
                None => true,
            })
            .collect();
        (kept.join(" "), found)
    }
}

/// A database URL the PostgreSQL client cannot read (what it says; never the URL itself,
/// which may hold a password).
#[derive(Debug, thiserror::Error)]
#[error("the database URL is not one PostgreSQL reads: {0}")]
pub struct BadUrl(String);

impl std::fmt::Debug for PostgresSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSettings")
            .field("database", &self.describe())
            .field("password", &self.password.as_ref().map(|_| "(set)"))
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

/// How a handle serves while the database does not answer.
pub struct Outage {
    /// Where audit events wait for the database (`None`: they are refused, 503).
    pub spool: Option<std::path::PathBuf>,
    /// How long the revocation list is trusted without a refresh.
    pub stale_revocations: Duration,
    /// What times that bound.
    pub clock: Arc<dyn Clock>,
}

impl Default for Outage {
    /// No spool, the default bound, the wall clock: a handle of a command, not of a daemon.
    fn default() -> Self {
        Self {
            spool: None,
            stale_revocations: crate::store::StorageSettings::DEFAULT_STALE_REVOCATIONS,
            clock: Arc::new(crate::clock::SystemClock),
        }
    }
}

/// The audit spool of a daemon whose `[storage] path` is `storage_path`: beside it.
pub fn spool_path(storage_path: &std::path::Path) -> std::path::PathBuf {
    storage_path
        .parent()
        .unwrap_or(std::path::Path::new(""))
        .join(spool::FILE_NAME)
}

/// Whether the revocation list is followed as it is written, and when it was last refreshed.
pub(crate) struct Following {
    clock: Arc<dyn Clock>,
    bound: Duration,
    /// Whether the list is followed now (listening, and the last catch-up read it), and when
    /// it was last read.
    state: std::sync::Mutex<(bool, SystemTime)>,
}

impl Following {
    fn new(clock: Arc<dyn Clock>, bound: Duration) -> Self {
        let now = clock.now();
        Self {
            clock,
            bound,
            state: std::sync::Mutex::new((true, now)),
        }
    }

    /// The list was read now, and is followed.
    fn refreshed(&self) {
        let now = self.clock.now();
        if let Ok(mut state) = self.state.lock() {
            *state = (true, now);
        }
    }

    /// The list is no longer followed (the listening connection lost, a catch-up failed).
    fn lost(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.0 = false;
        }
    }

    fn freshness(&self, now: SystemTime) -> Freshness {
        let Ok(state) = self.state.lock() else {
            return Freshness::Stale {
                since: std::time::UNIX_EPOCH,
            };
        };
        let (followed, since) = *state;
        if followed {
            return Freshness::Current;
        }
        match since.checked_add(self.bound) {
            Some(until) if self.bound > Duration::ZERO && now < until => {
                Freshness::Trusted { since, until }
            }
            _ => Freshness::Stale { since },
        }
    }
}

/// Every record of the daemon in one PostgreSQL database, shared with the other daemons.
pub struct PostgresStore {
    pool: Pool,
    writer: Writer,
    feed: AuditFeed,
    revocation_set: Arc<watch::Sender<Arc<RevocationSet>>>,
    /// Held while a reload of the revocations reads and publishes, and while a revocation of
    /// this handle is added, so a reload that read before the revocation never replaces it.
    revocation_lock: Arc<tokio::sync::Mutex<()>>,
    /// Sessions held, as last estimated (the catch-up task reads it).
    sessions: Arc<AtomicU64>,
    /// Why the database could not be reached, as last seen; cleared by the next success of
    /// the writer or of the catch-up.
    unavailable: Arc<Reachability>,
    /// The keyring's generation, as last seen (0: none kept).
    keyring_generation: Arc<watch::Sender<i64>>,
    /// Where audit events wait while the database does not answer.
    spool: Option<Arc<Spool>>,
    following: Arc<Following>,
    /// The listening and catch-up task; aborted with the store.
    follower: tokio::task::JoinHandle<()>,
    schema_version: i32,
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.follower.abort();
    }
}

impl PostgresStore {
    /// Connect, bring the schema up to date (under an advisory lock), load the revocations and
    /// start following them. Must run inside a Tokio runtime.
    pub async fn open(settings: &PostgresSettings) -> Result<Self, StoreError> {
        Self::open_observed(settings, CommitMetrics::default()).await
    }

    /// [`open`](Self::open), the writer reporting each commit to `metrics`.
    pub async fn open_observed(
        settings: &PostgresSettings,
        metrics: CommitMetrics,
    ) -> Result<Self, StoreError> {
        Self::open_with(settings, metrics, Outage::default()).await
    }

    /// [`open_observed`](Self::open_observed), serving through an outage as `outage` says.
    pub async fn open_with(
        settings: &PostgresSettings,
        metrics: CommitMetrics,
        outage: Outage,
    ) -> Result<Self, StoreError> {
        let mut config = settings
            .connection()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        config.options("-c synchronous_commit=on");
        config.application_name("stsbridge");
        // A server that stops answering without closing the connection (a partition, a
        // crashed host) fails its requests within seconds instead of holding them.
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(POOL_WAIT);
        }
        config.keepalives_idle(KEEPALIVE_IDLE);
        config.tcp_user_timeout(UNACKNOWLEDGED_LIMIT);
        let tls = tls_connector(&config, settings.root_cert_file().as_deref())?;
        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(settings.pool_size.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(POOL_WAIT))
            .build()
            .map_err(|e| StoreError::Backend(format!("building the connection pool: {e}")))?;
        let schema_version = {
            let mut client = pool.get().await.map_err(|e| pool_error(&e))?;
            migrate::migrate(&mut client).await?
        };
        let in_force = RevocationSet::new(read_revocations(&pool).await?);
        let generation = {
            let client = pool.get().await.map_err(|e| pool_error(&e))?;
            let client: &tokio_postgres::Client = &client;
            keyring::read_generation(client).await?
        };
        let spool = outage
            .spool
            .map(|path| Arc::new(Spool::new(path, spool::DEFAULT_LIMIT)));
        let following = Arc::new(Following::new(outage.clock, outage.stale_revocations));
        let feed = AuditFeed::default();
        let followed = Followed {
            pool: pool.clone(),
            spool: spool.clone(),
            following: following.clone(),
            revocation_set: Arc::new(watch::Sender::new(Arc::new(in_force))),
            revocation_lock: Arc::new(tokio::sync::Mutex::new(())),
            sessions: Arc::new(AtomicU64::new(0)),
            unavailable: Arc::new(Reachability::default()),
            keyring_generation: Arc::new(watch::Sender::new(generation)),
        };
        let follower = tokio::spawn(follow(config, tls, followed.clone()));
        let Followed {
            revocation_set,
            revocation_lock,
            sessions,
            unavailable,
            keyring_generation,
            ..
        } = followed;
        let writer = Writer::start(
            pool.clone(),
            feed.clone(),
            metrics,
            unavailable.clone(),
            spool.clone(),
        );
        tracing::info!(
            database = %settings.describe(),
            schema_version,
            "store opened"
        );
        Ok(Self {
            pool,
            writer,
            feed,
            revocation_set,
            revocation_lock,
            sessions,
            unavailable,
            keyring_generation,
            spool,
            following,
            follower,
            schema_version,
        })
    }

    /// The version of the database's schema.
    pub fn schema_version(&self) -> i32 {
        self.schema_version
    }

    /// Whether this handle's connections to the database are TLS.
    pub async fn uses_tls(&self) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)",
                &[],
            )
            .await
            .map_err(|e| db_error("reading the connection's TLS state", &e))?;
        Ok(row.get(0))
    }

    /// Transactions the writer committed (a metric, and the shared-commit test's witness).
    pub fn commit_count(&self) -> u64 {
        self.writer.commits()
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|e| {
            let e = pool_error(&e);
            self.unavailable.saw(&e);
            e
        })
    }

    /// Run `delete` (a `DELETE` of at most `$2` rows at or before `$1`, returning one row per
    /// row deleted) until it deletes fewer than a chunk: a purge of a large backlog holds no lock
    /// or transaction long. Returns how many rows went.
    async fn delete_in_chunks(
        &self,
        delete: &str,
        bound: i64,
        doing: &str,
    ) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let statement = format!("WITH gone AS ({delete}) SELECT count(*) FROM gone");
        let mut deleted = 0;
        loop {
            let row = client
                .query_one(&statement, &[&bound, &PURGE_CHUNK])
                .await
                .map_err(|e| db_error(doing, &e))?;
            let n: i64 = row.get(0);
            deleted += u64::try_from(n).unwrap_or(0);
            if n < PURGE_CHUNK {
                return Ok(deleted);
            }
        }
    }

    /// Reload the revocations and publish them.
    async fn reload_revocations(&self) -> Result<(), StoreError> {
        reload(&self.pool, &self.revocation_set, &self.revocation_lock).await
    }
}

/// What `check-config` tells of the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseStatus {
    /// The version of its schema (0: none yet, created at the daemon's first start).
    pub schema_version: i32,
    /// The version this build migrates to.
    pub latest_version: i32,
    /// The keyring it keeps (sealed under the KEK), if any.
    pub keyring: Option<crate::store::StoredKeyring>,
}

/// Connect to the database (one connection, at most `timeout` to get it) and read the version
/// of its schema, changing nothing.
pub async fn probe(
    settings: &PostgresSettings,
    timeout: Duration,
) -> Result<DatabaseStatus, StoreError> {
    let mut config = settings
        .connection()
        .map_err(|e| StoreError::Backend(e.to_string()))?;
    config.connect_timeout(timeout);
    let tls = tls_connector(&config, settings.root_cert_file().as_deref())?;
    let (client, connection) = tokio::time::timeout(timeout, config.connect(tls))
        .await
        .map_err(|_| StoreError::Backend(format!("no answer within {}s", timeout.as_secs())))?
        .map_err(|e| db_error("connecting", &e))?;
    let driver = tokio::spawn(connection);
    let read = async {
        let version = migrate::version_if_any(&client).await?;
        let keyring = if version >= keyring::FIRST_VERSION {
            keyring::read_in(&client).await?
        } else {
            None
        };
        Ok::<_, StoreError>((version, keyring))
    }
    .await;
    drop(client);
    // Ends once the client is gone.
    let _ = driver.await;
    let (schema_version, keyring) = read?;
    Ok(DatabaseStatus {
        schema_version,
        latest_version: migrate::latest_version(),
        keyring,
    })
}

/// Whether the database answers, as last seen: set by a failure to reach it, cleared by a
/// success (of the writer, or of the periodic catch-up).
#[derive(Debug, Default)]
pub(crate) struct Reachability(std::sync::Mutex<Option<String>>);

impl Reachability {
    /// Note the outcome of reaching the database (`Unavailable` sets, anything else clears).
    pub(crate) fn saw(&self, outcome: &StoreError) {
        let why = match outcome {
            StoreError::Unavailable(why) => Some(why.clone()),
            _ => None,
        };
        self.set(why);
    }

    pub(crate) fn set(&self, why: Option<String>) {
        if let Ok(mut current) = self.0.lock() {
            *current = why;
        }
    }

    pub(crate) fn get(&self) -> Option<String> {
        self.0.lock().ok().and_then(|current| current.clone())
    }
}

/// TLS when the URL asks for it (`sslmode=require`, `verify-full`): rustls on aws-lc-rs,
/// verifying the server's certificate and name (both modes: stricter than libpq's `require`)
/// against `sslrootcert` or the system's roots. Otherwise none (a Unix socket, a local
/// network the operator trusts).
fn tls_connector(
    config: &tokio_postgres::Config,
    root_cert_file: Option<&std::path::Path>,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, StoreError> {
    let mut roots = rustls::RootCertStore::empty();
    if config.get_ssl_mode() == SslMode::Require {
        match root_cert_file {
            Some(file) => {
                use rustls_pki_types::pem::PemObject as _;
                let certs = rustls_pki_types::CertificateDer::pem_file_iter(file)
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| {
                        StoreError::Backend(format!("sslrootcert {}: {e}", file.display()))
                    })?;
                let (_, unreadable) = roots.add_parsable_certificates(certs);
                if unreadable > 0 {
                    return Err(StoreError::Backend(format!(
                        "sslrootcert {}: {unreadable} certificate(s) that cannot be used",
                        file.display()
                    )));
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                // A root the provider cannot read is no root.
                roots.add_parsable_certificates(found.certs);
            }
        }
        if roots.is_empty() {
            return Err(StoreError::Backend(
                "sslmode=require, and no root certificate to verify the database with".into(),
            ));
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Backend(format!("TLS to the database: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(client))
}

/// A database error as a store error, with what was being done: `Unavailable` when the
/// connection is lost or the server will not serve it now, `Backend` for a statement refused.
pub(crate) fn db_error(doing: &str, e: &tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) if unavailable(db.code()) => {
            StoreError::Unavailable(format!("{doing}: {}", db.message()))
        }
        Some(db) => StoreError::Backend(format!("{doing}: {}", db.message())),
        None => StoreError::Unavailable(format!("{doing}: {}", with_causes(e))),
    }
}

/// Whether a server's error says it cannot serve now (rather than refusing what was asked):
/// connection exceptions, an administrator's or crash shutdown, too many connections, a
/// database closed to connections.
fn unavailable(code: &tokio_postgres::error::SqlState) -> bool {
    use tokio_postgres::error::SqlState;
    code.code().starts_with("08")
        || code.code().starts_with("57P")
        || *code == SqlState::TOO_MANY_CONNECTIONS
        || *code == SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE
}

/// No connection to be had (the server does not answer, or the pool waited its limit).
pub(crate) fn pool_error(e: &deadpool_postgres::PoolError) -> StoreError {
    StoreError::Unavailable(format!("no database connection: {}", with_causes(e)))
}

/// An error and what caused it, down the chain (a TLS failure says why the certificate was
/// refused); messages that repeat their cause's are not repeated.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let said = c.to_string();
        if !text.ends_with(&said) {
            text = format!("{text}: {said}");
        }
        cause = c.source();
    }
    text
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn encode<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(format!("encoding a record: {e}")))
}

fn event_row(event: &AuditEvent) -> Result<EventRow, StoreError> {
    let unix_time = event.unix_time().ok_or_else(|| {
        StoreError::Backend(format!(
            "audit event {} has no readable time ({:?})",
            event.request_id.escape_debug(),
            event.event_time
        ))
    })?;
    Ok(EventRow {
        unix_time,
        json: encode(event)?,
    })
}

fn decode_session(access_key_id: &str, record: &str) -> Result<SessionRecord, StoreError> {
    serde_json::from_str(record)
        .map_err(|e| StoreError::Corrupt(format!("session {access_key_id}: {e}")))
}

fn decode_user(name: &str, record: &str) -> Result<UserRecord, StoreError> {
    serde_json::from_str(record).map_err(|e| StoreError::Corrupt(format!("user {name}: {e}")))
}

fn decode_event(seq: i64, json: &str) -> Result<AuditEvent, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("audit event #{seq}: {e}")))
}

fn revocation_key(revocation: &Revocation) -> String {
    match revocation {
        Revocation::Session { access_key_id, .. } => format!("session/{access_key_id}"),
        Revocation::RoleSessions { role_arn, .. } => format!("role/{role_arn}"),
        Revocation::Login { login_id, .. } => format!("login/{login_id}"),
    }
}

/// When every session `revocation` covers has expired.
fn moot_at(revocation: &Revocation) -> i64 {
    match revocation {
        Revocation::Session { expires_at, .. } | Revocation::Login { expires_at, .. } => {
            *expires_at
        }
        Revocation::RoleSessions {
            issued_at_or_before,
            ..
        } => issued_at_or_before
            .saturating_add(i64::from(crate::creds::MAX_SESSION_DURATION_SECONDS)),
    }
}

async fn read_revocations(pool: &Pool) -> Result<Vec<Revocation>, StoreError> {
    let client = pool.get().await.map_err(|e| pool_error(&e))?;
    let rows = client
        .query("SELECT key, revocation FROM revocations ORDER BY key", &[])
        .await
        .map_err(|e| db_error("reading revocations", &e))?;
    rows.iter()
        .map(|row| {
            let key: &str = row.get(0);
            serde_json::from_str(row.get(1))
                .map_err(|e| StoreError::Corrupt(format!("revocation {key}: {e}")))
        })
        .collect()
}

async fn reload(
    pool: &Pool,
    set: &watch::Sender<Arc<RevocationSet>>,
    lock: &tokio::sync::Mutex<()>,
) -> Result<(), StoreError> {
    let _held = lock.lock().await;
    let fresh = RevocationSet::new(read_revocations(pool).await?);
    set.send_if_modified(|current| {
        let changed = **current != fresh;
        if changed {
            *current = Arc::new(fresh);
        }
        changed
    });
    Ok(())
}

/// What the follower keeps current, shared with the store's handle.
#[derive(Clone)]
struct Followed {
    pool: Pool,
    revocation_set: Arc<watch::Sender<Arc<RevocationSet>>>,
    revocation_lock: Arc<tokio::sync::Mutex<()>>,
    sessions: Arc<AtomicU64>,
    unavailable: Arc<Reachability>,
    keyring_generation: Arc<watch::Sender<i64>>,
    spool: Option<Arc<Spool>>,
    following: Arc<Following>,
}

/// Which announcement came.
enum Announced {
    Revocation,
    Keyring,
}

/// Listen for revocations and keyring changes on a connection of its own, reloading the
/// revocations (or reading the keyring's generation) at each notification, and both every
/// [`CATCH_UP_INTERVAL`]; reconnect after a second when the connection fails (and catch up
/// then, for what was missed). Also refreshes the session count estimate.
async fn follow(
    config: tokio_postgres::Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    followed: Followed,
) {
    use futures::StreamExt as _;
    loop {
        match config.connect(tls.clone()).await {
            Ok((client, mut connection)) => {
                let (notified, mut notifications) = tokio::sync::mpsc::unbounded_channel();
                let driver = tokio::spawn(async move {
                    let mut messages =
                        futures::stream::poll_fn(move |cx| connection.poll_message(cx));
                    while let Some(message) = messages.next().await {
                        match message {
                            Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                                let _ = notified.send(if n.channel() == keyring::KEYRING_CHANNEL {
                                    Announced::Keyring
                                } else {
                                    Announced::Revocation
                                });
                            }
                            Ok(_) => {}
                            Err(e) => {
                                tracing::warn!(error = %e, "the revocation listener's connection failed");
                                break;
                            }
                        }
                    }
                });
                if let Err(e) = client
                    .batch_execute(&format!(
                        "LISTEN {REVOCATION_CHANNEL}; LISTEN {}",
                        keyring::KEYRING_CHANNEL
                    ))
                    .await
                {
                    tracing::warn!(error = %e, "listening for revocations failed");
                } else {
                    // What was written while nobody listened.
                    if catch_up(&followed).await {
                        followed.following.refreshed();
                    }
                    let mut ticker = tokio::time::interval(CATCH_UP_INTERVAL);
                    ticker.tick().await;
                    loop {
                        tokio::select! {
                            told = notifications.recv() => {
                                let Some(first) = told else {
                                    break;
                                };
                                // One read of each for every notification that came meanwhile.
                                let (mut revocations, mut keyring) = (false, false);
                                let mut note = |a: Announced| match a {
                                    Announced::Revocation => revocations = true,
                                    Announced::Keyring => keyring = true,
                                };
                                note(first);
                                while let Ok(more) = notifications.try_recv() {
                                    note(more);
                                }
                                if revocations {
                                    match reload(&followed.pool, &followed.revocation_set, &followed.revocation_lock).await {
                                        Ok(()) => followed.following.refreshed(),
                                        Err(e) => {
                                            tracing::warn!(error = %e, "reloading revocations failed");
                                            followed.following.lost();
                                        }
                                    }
                                }
                                if keyring
                                    && let Err(e) = read_keyring_generation(&followed).await
                                {
                                    tracing::warn!(error = %e, "reading the keyring's generation failed");
                                }
                            }
                            _ = ticker.tick() => {
                                if catch_up(&followed).await {
                                    followed.following.refreshed();
                                }
                            }
                        }
                    }
                }
                followed.following.lost();
                driver.abort();
            }
            Err(e) => {
                tracing::warn!(error = %e, "connecting to listen for revocations failed");
                followed.following.lost();
                catch_up(&followed).await;
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn read_keyring_generation(followed: &Followed) -> Result<(), StoreError> {
    let client = followed.pool.get().await.map_err(|e| pool_error(&e))?;
    let client: &tokio_postgres::Client = &client;
    let generation = keyring::read_generation(client).await?;
    keyring::saw_generation(&followed.keyring_generation, generation);
    Ok(())
}

/// Reload the revocations, drain the audit spool, read the keyring's generation and the
/// session count; whether the revocations were read (a failure marks them no longer
/// followed).
async fn catch_up(followed: &Followed) -> bool {
    let Followed {
        pool,
        revocation_set,
        revocation_lock,
        sessions,
        unavailable,
        spool,
        following,
        ..
    } = followed;
    let read = match reload(pool, revocation_set, revocation_lock).await {
        Ok(()) => {
            unavailable.set(None);
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, "reloading revocations failed");
            unavailable.saw(&e);
            following.lost();
            false
        }
    };
    if read && let Some(spool) = spool {
        match spool
            .drain(|events| async move { import::insert_audit_once(pool, &events).await })
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(events = n, "audit events spooled during an outage written"),
            Err(e) => tracing::warn!(error = %e, "draining the audit spool failed"),
        }
    }
    if let Err(e) = read_keyring_generation(followed).await {
        tracing::warn!(error = %e, "reading the keyring's generation failed");
    }
    if let Ok(client) = pool.get().await
        && let Ok(row) = client
            .query_one(
                "SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = 'sessions'::regclass",
                &[],
            )
            .await
    {
        let estimate: i64 = row.get(0);
        sessions.store(u64::try_from(estimate).unwrap_or(0), Ordering::Relaxed);
    }
    read
}

#[async_trait::async_trait]
impl Sessions for PostgresStore {
    async fn put(&self, session: &SessionRecord, audit: &AuditEvent) -> Result<(), StoreError> {
        let row = SessionRow {
            access_key_id: session.access_key_id.clone(),
            expires_at: session.expires_at,
            issued_at: session.issued_at,
            record: encode(session)?,
        };
        self.writer
            .durable(Some(row), Some(event_row(audit)?))
            .await
    }

    async fn get(&self, access_key_id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT record FROM sessions WHERE access_key_id = $1",
                &[&access_key_id],
            )
            .await
            .map_err(|e| db_error("reading a session", &e))?;
        row.map(|row| decode_session(access_key_id, row.get(0)))
            .transpose()
    }

    async fn list(&self, limit_to: usize) -> Result<Vec<SessionRecord>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT access_key_id, record FROM sessions
                 ORDER BY expires_at DESC, access_key_id DESC LIMIT $1",
                &[&limit(limit_to)],
            )
            .await
            .map_err(|e| db_error("listing sessions", &e))?;
        rows.iter()
            .map(|row| decode_session(row.get(0), row.get(1)))
            .collect()
    }

    /// By ranges of the expiry index, a chunk at a time.
    async fn purge_expired(&self, now_unix: i64) -> Result<usize, StoreError> {
        let purged = self
            .delete_in_chunks(
                "DELETE FROM sessions WHERE access_key_id IN (
                     SELECT access_key_id FROM sessions WHERE expires_at <= $1
                     ORDER BY expires_at LIMIT $2)
                 RETURNING 1",
                now_unix,
                "purging sessions",
            )
            .await?;
        Ok(usize::try_from(purged).unwrap_or(usize::MAX))
    }

    async fn live_issued_between(
        &self,
        from_unix: i64,
        to_unix: i64,
        now_unix: i64,
    ) -> Result<LiveSessions, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT count(*), max(expires_at) FROM sessions
                 WHERE issued_at BETWEEN $1 AND $2 AND expires_at > $3",
                &[&from_unix, &to_unix, &now_unix],
            )
            .await
            .map_err(|e| db_error("counting live sessions", &e))?;
        let count: i64 = row.get(0);
        Ok(LiveSessions {
            count: u64::try_from(count).unwrap_or(0),
            last_expiry: row.get(1),
        })
    }
}

#[async_trait::async_trait]
impl AuditLog for PostgresStore {
    /// While the database does not answer (as last seen, or now), into the spool, on disk
    /// when this returns.
    async fn append(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let row = event_row(event)?;
        let Some(spool) = &self.spool else {
            return self.writer.durable(None, Some(row)).await;
        };
        let json = row.json.clone();
        if self.unavailable.get().is_none() {
            match self.writer.durable(None, Some(row)).await {
                Err(StoreError::Unavailable(why)) => {
                    tracing::warn!(error = %why, "the database does not answer; audit event spooled");
                }
                done => return done,
            }
        }
        spool.add(&json, true).await?;
        self.feed.publish(json.as_bytes());
        Ok(())
    }

    /// While the database does not answer (as last seen), into the spool; otherwise with the
    /// writer's next commit (which spools it if that commit cannot reach the database).
    async fn record(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let row = event_row(event)?;
        match &self.spool {
            Some(spool) if self.unavailable.get().is_some() => {
                spool.add(&row.json, false).await?;
                self.feed.publish(row.json.as_bytes());
                Ok(())
            }
            _ => self.writer.soon(row),
        }
    }

    /// Waits first for the events recorded to be written.
    async fn list(&self, limit_to: usize) -> Result<Vec<AuditEvent>, StoreError> {
        self.writer.durable(None, None).await?;
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT seq, event FROM audit ORDER BY event_time DESC, seq DESC LIMIT $1",
                &[&limit(limit_to)],
            )
            .await
            .map_err(|e| db_error("reading the audit trail", &e))?;
        let mut events = rows
            .iter()
            .map(|row| decode_event(row.get(0), row.get(1)))
            .collect::<Result<Vec<_>, _>>()?;
        events.reverse();
        Ok(events)
    }

    /// The days wholly before the cut by dropping their partitions; the rest (the day the cut
    /// falls in, the default partition) by ranges of the time index, a chunk at a time.
    async fn prune_before(&self, before_unix: i64) -> Result<u64, StoreError> {
        let dropped = {
            let mut client = self.client().await?;
            partitions::drop_before(&mut client, before_unix).await?
        };
        let deleted = self
            .delete_in_chunks(
                "DELETE FROM audit WHERE (event_time, seq) IN (
                     SELECT event_time, seq FROM audit WHERE event_time < $1
                     ORDER BY event_time, seq LIMIT $2)
                 RETURNING 1",
                before_unix,
                "pruning the audit trail",
            )
            .await?;
        Ok(dropped + deleted)
    }

    /// The partitions of today and the next days.
    async fn prepare_ahead(&self, now_unix: i64) -> Result<(), StoreError> {
        let Some(today) = partitions::day_of(now_unix) else {
            return Ok(());
        };
        let mut client = self.client().await?;
        let created =
            partitions::ensure(&mut client, today..=today + partitions::DAYS_AHEAD).await?;
        if created > 0 {
            tracing::info!(created, "audit partitions created ahead");
        }
        Ok(())
    }

    /// Waits first for the events recorded to be written; reads the window newest first,
    /// matching each event, until `limit` matched.
    async fn query(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        use futures::TryStreamExt as _;
        self.writer.durable(None, None).await?;
        if let (Some(since), Some(until)) = (query.since, query.until)
            && since >= until
        {
            return Ok(Vec::new());
        }
        let since = query.since.unwrap_or(i64::MIN);
        let until = query.until.unwrap_or(i64::MAX);
        let client = self.client().await?;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&since, &until];
        let rows = client
            .query_raw(
                "SELECT seq, event FROM audit WHERE event_time >= $1 AND event_time < $2
                 ORDER BY event_time DESC, seq DESC",
                params,
            )
            .await
            .map_err(|e| db_error("querying the audit trail", &e))?;
        futures::pin_mut!(rows);
        let mut newest_first = Vec::with_capacity(query.limit.min(1024));
        while newest_first.len() < query.limit {
            let Some(row) = rows
                .try_next()
                .await
                .map_err(|e| db_error("querying the audit trail", &e))?
            else {
                break;
            };
            let event = decode_event(row.get(0), row.get(1))?;
            if query.matches(&event) {
                newest_first.push(event);
            }
        }
        newest_first.reverse();
        Ok(newest_first)
    }

    fn follow(&self) -> AuditSubscription {
        self.feed.subscribe()
    }
}

#[async_trait::async_trait]
impl ReplayCache for PostgresStore {
    /// One statement: inserted when new, or taken over when its window has passed; a row comes
    /// back only then. Two nodes racing on one key serialize on its row.
    async fn remember_once(
        &self,
        key: &ReplayKey,
        until_unix: i64,
        now_unix: i64,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "INSERT INTO replay (key, until) VALUES ($1, $2)
                 ON CONFLICT (key) DO UPDATE SET until = EXCLUDED.until
                 WHERE replay.until <= $3
                 RETURNING 1",
                &[&key.text(), &until_unix, &now_unix],
            )
            .await
            .map_err(|e| db_error("remembering a one-time credential", &e))?;
        Ok(row.is_some())
    }

    async fn is_remembered(&self, key: &ReplayKey, now_unix: i64) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT 1 FROM replay WHERE key = $1 AND until > $2",
                &[&key.text(), &now_unix],
            )
            .await
            .map_err(|e| db_error("reading the replay cache", &e))?;
        Ok(row.is_some())
    }

    async fn purge_expired(&self, now_unix: i64) -> Result<(), StoreError> {
        self.delete_in_chunks(
            "DELETE FROM replay WHERE key IN (
                 SELECT key FROM replay WHERE until <= $1 ORDER BY until LIMIT $2)
             RETURNING 1",
            now_unix,
            "purging the replay cache",
        )
        .await
        .map(drop)
    }
}

#[async_trait::async_trait]
impl Revocations for PostgresStore {
    /// The revocation and its event in one transaction, announced at its commit.
    async fn revoke(&self, revocation: &Revocation, audit: &AuditEvent) -> Result<(), StoreError> {
        let event = event_row(audit)?;
        // Events recorded before this one go first, in the trail and in the feed.
        self.writer.durable(None, None).await?;
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| db_error("starting a revocation", &e))?;
        tx.execute(
            "INSERT INTO revocations (key, revocation, moot_at) VALUES ($1, $2, $3)
             ON CONFLICT (key) DO UPDATE SET revocation = EXCLUDED.revocation,
                                             moot_at = EXCLUDED.moot_at",
            &[
                &revocation_key(revocation),
                &encode(revocation)?,
                &moot_at(revocation),
            ],
        )
        .await
        .map_err(|e| db_error("recording a revocation", &e))?;
        insert_event(&tx, &event).await?;
        tx.execute("SELECT pg_notify($1, '')", &[&REVOCATION_CHANNEL])
            .await
            .map_err(|e| db_error("announcing a revocation", &e))?;
        tx.commit()
            .await
            .map_err(|e| db_error("committing a revocation", &e))?;
        self.feed.publish(event.json.as_bytes());
        let _held = self.revocation_lock.lock().await;
        self.revocation_set.send_modify(|set| {
            let mut next = RevocationSet::clone(set);
            next.apply(revocation);
            *set = Arc::new(next);
        });
        Ok(())
    }

    async fn list(&self) -> Result<Vec<Revocation>, StoreError> {
        read_revocations(&self.pool).await
    }

    fn feed(&self) -> RevocationFeed {
        self.revocation_set.subscribe()
    }

    fn freshness(&self, now: SystemTime) -> Freshness {
        self.following.freshness(now)
    }

    async fn purge_expired(&self, now_unix: i64) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "WITH gone AS (DELETE FROM revocations WHERE moot_at <= $1 RETURNING 1)
                 SELECT pg_notify($2, '') FROM (SELECT count(*) AS n FROM gone) c WHERE n > 0",
                &[&now_unix, &REVOCATION_CHANNEL],
            )
            .await
            .map_err(|e| db_error("purging revocations", &e))?;
        drop(client);
        self.reload_revocations().await
    }
}

/// One statement each, so every write is atomic across daemons: a create takes over only an
/// expired row, a swap changes the row only while it holds the expected state.
#[async_trait::async_trait]
impl DeviceAuthorizations for PostgresStore {
    async fn create_device(
        &self,
        record: &DeviceRecord,
        now_unix: i64,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "INSERT INTO device_authorizations (user_code, expires_at, state)
                 VALUES ($1, $2, $3)
                 ON CONFLICT (user_code) DO UPDATE SET expires_at = EXCLUDED.expires_at,
                                                       state = EXCLUDED.state
                 WHERE device_authorizations.expires_at <= $4
                 RETURNING 1",
                &[
                    &record.user_code,
                    &record.expires_at,
                    &record.state,
                    &now_unix,
                ],
            )
            .await
            .map_err(|e| db_error("creating a device authorization", &e))?;
        Ok(row.is_some())
    }

    async fn device(
        &self,
        user_code: &str,
        now_unix: i64,
    ) -> Result<Option<DeviceRecord>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT expires_at, state FROM device_authorizations
                 WHERE user_code = $1 AND expires_at > $2",
                &[&user_code, &now_unix],
            )
            .await
            .map_err(|e| db_error("reading a device authorization", &e))?;
        Ok(row.map(|row| DeviceRecord {
            user_code: user_code.to_owned(),
            expires_at: row.get(0),
            state: row.get(1),
        }))
    }

    async fn swap_device(
        &self,
        user_code: &str,
        current: &[u8],
        next: &[u8],
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let changed = client
            .execute(
                "UPDATE device_authorizations SET state = $3
                 WHERE user_code = $1 AND state = $2",
                &[&user_code, &current, &next],
            )
            .await
            .map_err(|e| db_error("changing a device authorization", &e))?;
        Ok(changed == 1)
    }

    async fn purge_expired(&self, now_unix: i64) -> Result<usize, StoreError> {
        let purged = self
            .delete_in_chunks(
                "DELETE FROM device_authorizations WHERE user_code IN (
                     SELECT user_code FROM device_authorizations
                     WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2)
                 RETURNING 1",
                now_unix,
                "purging device authorizations",
            )
            .await?;
        Ok(usize::try_from(purged).unwrap_or(usize::MAX))
    }
}

/// One audit event, inside a transaction.
async fn insert_event(
    tx: &deadpool_postgres::Transaction<'_>,
    event: &EventRow,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO audit (event_time, event) VALUES ($1, $2)",
        &[&event.unix_time, &event.json],
    )
    .await
    .map_err(|e| db_error("writing an audit event", &e))?;
    Ok(())
}

#[async_trait::async_trait]
impl Users for PostgresStore {
    async fn get(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT record FROM users WHERE name = $1", &[&name])
            .await
            .map_err(|e| db_error("reading a user", &e))?;
        row.map(|row| decode_user(name, row.get(0))).transpose()
    }

    async fn list(&self) -> Result<Vec<UserRecord>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT name, record FROM users ORDER BY name", &[])
            .await
            .map_err(|e| db_error("listing users", &e))?;
        rows.iter()
            .map(|row| decode_user(row.get(0), row.get(1)))
            .collect()
    }

    async fn by_access_key(&self, access_key_id: &str) -> Result<Option<UserRecord>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT u.name, u.record FROM access_keys k JOIN users u ON u.name = k.name
                 WHERE k.access_key_id = $1",
                &[&access_key_id],
            )
            .await
            .map_err(|e| db_error("finding an access key", &e))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let user = decode_user(row.get(0), row.get(1))?;
        Ok(super::holding_key(user, access_key_id))
    }

    /// One transaction: the user's row locked (`FOR UPDATE`) and compared, the key index
    /// rewritten, the event written. Two creations of one new user race on its primary key:
    /// the loser's insert fails, a conflict.
    async fn swap(
        &self,
        name: &str,
        expected: Option<&UserRecord>,
        new: Option<&UserRecord>,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        super::check_stored_as(name, new)?;
        let value = new.map(encode).transpose()?;
        let event = event_row(audit)?;
        self.writer.durable(None, None).await?;
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| db_error("starting a user change", &e))?;
        let current = tx
            .query_opt(
                "SELECT record FROM users WHERE name = $1 FOR UPDATE",
                &[&name],
            )
            .await
            .map_err(|e| db_error("reading a user", &e))?
            .map(|row| decode_user(name, row.get(0)))
            .transpose()?;
        if current.as_ref() != expected {
            return Err(StoreError::Conflict(match &current {
                Some(_) => format!("user {name} already exists"),
                None => format!("no user {name}"),
            }));
        }
        tx.execute("DELETE FROM access_keys WHERE name = $1", &[&name])
            .await
            .map_err(|e| db_error("updating the access key index", &e))?;
        match (new, &value) {
            (Some(user), Some(value)) => {
                let written = tx
                    .execute(
                        "INSERT INTO users (name, record) VALUES ($1, $2)
                         ON CONFLICT (name) DO UPDATE SET record = EXCLUDED.record",
                        &[&name, value],
                    )
                    .await;
                if let Err(e) = written {
                    return Err(conflict_or(e, name, "writing a user"));
                }
                let keys: Vec<&str> = user
                    .access_keys
                    .iter()
                    .map(|k| k.access_key_id.as_str())
                    .collect();
                tx.execute(
                    "INSERT INTO access_keys (access_key_id, name) SELECT k, $2 FROM unnest($1::text[]) AS k",
                    &[&keys, &name],
                )
                .await
                .map_err(|e| db_error("updating the access key index", &e))?;
            }
            _ => {
                tx.execute("DELETE FROM users WHERE name = $1", &[&name])
                    .await
                    .map_err(|e| db_error("deleting a user", &e))?;
            }
        }
        insert_event(&tx, &event).await?;
        if let Err(e) = tx.commit().await {
            return Err(conflict_or(e, name, "committing a user change"));
        }
        self.feed.publish(event.json.as_bytes());
        Ok(())
    }
}

/// A unique violation (two creations of one user) as a conflict; anything else as is.
fn conflict_or(e: tokio_postgres::Error, name: &str, doing: &str) -> StoreError {
    if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
        StoreError::Conflict(format!("user {name} already exists"))
    } else {
        db_error(doing, &e)
    }
}

#[async_trait::async_trait]
impl RoleIds for PostgresStore {
    async fn list(&self) -> Result<BTreeMap<String, String>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT arn, id FROM role_ids", &[])
            .await
            .map_err(|e| db_error("reading role ids", &e))?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    async fn replace(&self, ids: &BTreeMap<String, String>) -> Result<(), StoreError> {
        let arns: Vec<&str> = ids.keys().map(String::as_str).collect();
        let values: Vec<&str> = ids.values().map(String::as_str).collect();
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| db_error("starting a role id change", &e))?;
        tx.execute(
            "DELETE FROM role_ids WHERE arn <> ALL($1::text[])",
            &[&arns],
        )
        .await
        .map_err(|e| db_error("replacing role ids", &e))?;
        tx.execute(
            "INSERT INTO role_ids (arn, id) SELECT * FROM unnest($1::text[], $2::text[])
             ON CONFLICT (arn) DO UPDATE SET id = EXCLUDED.id",
            &[&arns, &values],
        )
        .await
        .map_err(|e| db_error("replacing role ids", &e))?;
        tx.commit()
            .await
            .map_err(|e| db_error("committing role ids", &e))
    }
}

#[async_trait::async_trait]
impl SealingKeys for PostgresStore {
    async fn list(&self) -> Result<BTreeMap<String, i64>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT key_id, current_at FROM sealing_keys", &[])
            .await
            .map_err(|e| db_error("reading sealing keys", &e))?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    async fn record_current(&self, key_id: &str, at_unix: i64) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO sealing_keys (key_id, current_at) VALUES ($1, $2)
                 ON CONFLICT (key_id) DO UPDATE
                 SET current_at = greatest(sealing_keys.current_at, EXCLUDED.current_at)",
                &[&key_id, &at_unix],
            )
            .await
            .map_err(|e| db_error("recording a sealing key", &e))?;
        Ok(())
    }

    async fn forget(&self, key_id: &str) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute("DELETE FROM sealing_keys WHERE key_id = $1", &[&key_id])
            .await
            .map_err(|e| db_error("forgetting a sealing key", &e))?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl KeyUsage for PostgresStore {
    async fn record_use(&self, access_key_id: &str, used: &KeyUse) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO key_usage (access_key_id, used_at, service) VALUES ($1, $2, $3)
                 ON CONFLICT (access_key_id) DO UPDATE
                 SET used_at = EXCLUDED.used_at, service = EXCLUDED.service
                 WHERE key_usage.used_at <= EXCLUDED.used_at",
                &[&access_key_id, &used.at, &used.service],
            )
            .await
            .map_err(|e| db_error("recording a key's use", &e))?;
        Ok(())
    }

    async fn last_used(&self, access_key_id: &str) -> Result<Option<KeyUse>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT used_at, service FROM key_usage WHERE access_key_id = $1",
                &[&access_key_id],
            )
            .await
            .map_err(|e| db_error("reading a key's use", &e))?;
        Ok(row.map(|row| KeyUse {
            at: row.get(0),
            service: row.get(1),
        }))
    }
}

impl Health for PostgresStore {
    /// The database's disk is the database's operator's: never refused here for space; not
    /// writable while the database does not answer.
    fn status(&self) -> StoreStatus {
        StoreStatus {
            free_bytes: u64::MAX,
            floor_bytes: 0,
            unavailable: self.unavailable.get(),
            audit_spool_bytes: self.spool.as_ref().map(|spool| spool.bytes()),
        }
    }

    fn footprint(&self) -> Footprint {
        Footprint {
            sessions: self.sessions.load(Ordering::Relaxed),
            bytes_on_disk: None,
        }
    }
}

#[cfg(test)]
mod tests;
