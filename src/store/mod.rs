//! Durable records, split by concept: sessions, the audit trail, the replay cache, revocations,
//! users, the SSO OIDC device authorizations in progress. Each concept is a trait; a backend implements them all and [`open`] gathers them in a
//! [`Store`]. The store knows no business rules.
//!
//! Every write the caller awaits is durable when the future resolves. Records that change (users)
//! are replaced by compare-and-swap ([`Users::swap`], [`update_user`]), so two writers, in one
//! process or in several, never lose each other's change. Revocations are read through a feed
//! ([`Revocations::feed`]) that the backend keeps current, so every node honours a revocation
//! however it was written.
//!
//! Run `conformance` against every backend.

#[cfg(test)]
pub(crate) mod conformance;
pub mod copy;
pub mod postgres;
pub mod sled;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use crate::audit::AuditEvent;
use crate::audit::feed::AuditSubscription;
use crate::audit::query::AuditQuery;
use crate::clock::{Clock, unix_seconds};
use crate::creds::Session;
use crate::creds::keyring::SealedKey;
use crate::users::UserRecord;

/// A session as recorded (no secret, no session token).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionRecord {
    pub access_key_id: String,
    #[serde(flatten)]
    pub session: Session,
    /// The audience the IdP vouched for (client id / SAML Recipient), or the caller's ARN.
    pub audience: String,
    /// Unix seconds.
    pub issued_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
    pub request_id: String,
    pub source_ip: Option<String>,
}

/// A revocation, as `sessions revoke`, `roles revoke-sessions` and `users revoke-sessions` (or
/// `users delete`) record it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Revocation {
    /// One session, until it would have expired anyway.
    Session {
        access_key_id: String,
        expires_at: i64,
    },
    /// Every session of a role issued at or before a time (AWS's "revoke active sessions"); or
    /// of a user, whose own sessions (`GetSessionToken`, `GetFederationToken`) carry its ARN
    /// where a role session carries the role's.
    RoleSessions {
        role_arn: String,
        issued_at_or_before: i64,
    },
    /// One SSO sign-in (a "login", by the random id the SSO layer gives it): its access and
    /// refresh tokens are refused, until `expires_at` (unix seconds), after which the
    /// revocation is purged (the login has ended by then anyway).
    Login { login_id: String, expires_at: i64 },
}

/// Every revocation in force, as one value: what the feed publishes and signed requests read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevocationSet {
    sessions: HashSet<String>,
    /// Role (or user) ARN -> sessions issued at or before this instant (unix seconds) are revoked.
    roles: HashMap<String, i64>,
    /// Revoked SSO logins, by id.
    logins: HashSet<String>,
}

impl RevocationSet {
    pub fn new(revocations: impl IntoIterator<Item = Revocation>) -> Self {
        let mut set = Self::default();
        for r in revocations {
            set.apply(&r);
        }
        set
    }

    /// Add `revocation` (a later revocation of a role extends the earlier one).
    pub fn apply(&mut self, revocation: &Revocation) {
        match revocation {
            Revocation::Session { access_key_id, .. } => {
                self.sessions.insert(access_key_id.clone());
            }
            Revocation::RoleSessions {
                role_arn,
                issued_at_or_before,
            } => {
                let before = self
                    .roles
                    .entry(role_arn.clone())
                    .or_insert(*issued_at_or_before);
                *before = (*before).max(*issued_at_or_before);
            }
            Revocation::Login { login_id, .. } => {
                self.logins.insert(login_id.clone());
            }
        }
    }

    /// Whether the session `access_key_id` of `identity_arn`, issued at `issued_at`, is revoked.
    pub fn covers(&self, access_key_id: &str, identity_arn: &str, issued_at: i64) -> bool {
        self.sessions.contains(access_key_id)
            || self
                .roles
                .get(identity_arn)
                .is_some_and(|before| issued_at <= *before)
    }

    /// Whether the SSO login `login_id` (its access and refresh tokens) is revoked.
    pub fn covers_login(&self, login_id: &str) -> bool {
        self.logins.contains(login_id)
    }

    pub fn len(&self) -> usize {
        self.sessions.len() + self.roles.len() + self.logins.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The revocations in force, kept current by the store backend.
pub type RevocationFeed = watch::Receiver<Arc<RevocationSet>>;

/// What the replay cache remembers: one namespace per kind of one-time credential.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReplayKey {
    /// A SAML assertion ID, per provider name.
    SamlAssertion { provider: String, id: String },
    /// One time step of a TOTP device (`SerialNumber`).
    MfaCode { serial_number: String, step: i64 },
    /// A sign-in token of the federation endpoint, by its random id.
    SigninToken { id: String },
    /// An SSO OIDC authorization code, by its random id: redeemed once.
    AuthorizationCode { id: String },
}

impl ReplayKey {
    /// The key of the SAML assertion `id` of the provider named `provider`.
    pub fn saml_assertion(provider: &str, id: &str) -> Self {
        Self::SamlAssertion {
            provider: provider.to_owned(),
            id: id.to_owned(),
        }
    }

    /// The key as stored: `saml/PROVIDER/ID`, `mfa/SERIAL/STEP`, `signin/ID`. Provider names
    /// hold no `/` and steps are digits, so no two keys share a text.
    pub fn text(&self) -> String {
        match self {
            Self::SamlAssertion { provider, id } => format!("saml/{provider}/{id}"),
            Self::MfaCode {
                serial_number,
                step,
            } => format!("mfa/{serial_number}/{step}"),
            Self::SigninToken { id } => format!("signin/{id}"),
            Self::AuthorizationCode { id } => format!("sso-code/{id}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage: {0}")]
    Backend(String),
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// A compare-and-swap found another value than the one expected.
    #[error("{0}")]
    Conflict(String),
    #[error("the commit thread is gone")]
    Closed,
    /// Fewer bytes are free than the floor keeps: the write was refused before the filesystem
    /// could fill up (`ServiceUnavailable` towards clients, until space is freed).
    #[error("{free_bytes} bytes free, below the floor of {floor_bytes}")]
    Full { free_bytes: u64, floor_bytes: u64 },
    /// The database cannot be reached now (a shared store's server down, its connections
    /// exhausted): `ServiceUnavailable` towards clients, until it answers again.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// Another process (usually a running daemon) has the database open; sled allows one.
    #[error("database {} is in use by another process", path.display())]
    Locked { path: PathBuf },
}

/// Issued sessions.
#[async_trait::async_trait]
pub trait Sessions: Send + Sync {
    /// Record an issued session and its audit event; both durable when this resolves.
    async fn put(&self, session: &SessionRecord, audit: &AuditEvent) -> Result<(), StoreError>;
    async fn get(&self, access_key_id: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// Sessions, the latest to expire first (ties by access key id, descending), at most
    /// `limit`.
    async fn list(&self, limit: usize) -> Result<Vec<SessionRecord>, StoreError>;
    /// Delete sessions whose `expires_at` is at or before `now_unix`; returns how many.
    async fn purge_expired(&self, now_unix: i64) -> Result<usize, StoreError>;
    /// The sessions issued within `from_unix..=to_unix` that are still valid at `now_unix`
    /// (expiring after it): how many, and when the last of them expires (which sealing key
    /// they need follows from when they were issued).
    async fn live_issued_between(
        &self,
        from_unix: i64,
        to_unix: i64,
        now_unix: i64,
    ) -> Result<LiveSessions, StoreError>;
}

/// What [`Sessions::live_issued_between`] counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LiveSessions {
    pub count: u64,
    /// Unix seconds; `None` when `count` is 0.
    pub last_expiry: Option<i64>,
}

impl LiveSessions {
    /// Count one more session expiring at `expires_at`.
    pub fn add(&mut self, expires_at: i64) {
        self.count += 1;
        self.last_expiry = Some(self.last_expiry.map_or(expires_at, |t| t.max(expires_at)));
    }
}

/// The audit trail.
#[async_trait::async_trait]
pub trait AuditLog: Send + Sync {
    /// Append an event; durable when this resolves.
    async fn append(&self, event: &AuditEvent) -> Result<(), StoreError>;
    /// Append an event no answer depends on (a refused request): it is written a moment later
    /// with the events that came meanwhile, and is durable a moment after that. Events
    /// recorded this way cost a flood of refused requests neither a disk flush each nor an
    /// entry each; a crash can lose those of the last moment (never an event of an issued
    /// credential, which goes with its session). [`list`](Self::list) includes them.
    async fn record(&self, event: &AuditEvent) -> Result<(), StoreError>;
    /// The newest events, at most `limit`, oldest first (in time order; events of one second in
    /// the order they were appended).
    async fn list(&self, limit: usize) -> Result<Vec<AuditEvent>, StoreError>;
    /// Delete the events that happened before `before_unix`; durable when this resolves. An
    /// event stays while a newer one written in the same commit stays (the events of one
    /// commit are seconds apart at most). Returns how many events were deleted.
    async fn prune_before(&self, before_unix: i64) -> Result<u64, StoreError>;
    /// Make ready, at `now_unix`, what the events of the next days need (a backend that keeps
    /// the trail by day creates their partitions); the purge calls it at each round. Nothing
    /// by default.
    async fn prepare_ahead(&self, now_unix: i64) -> Result<(), StoreError> {
        let _ = now_unix;
        Ok(())
    }
    /// The newest events matching `query`, at most `query.limit`, oldest first (as
    /// [`list`](Self::list), recorded events included); a window is read from its start and
    /// end, not by a pass over the whole trail.
    async fn query(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError>;
    /// Every event made durable from now on, by whichever concept wrote it (sessions,
    /// revocations, users, the trail itself), in the order made durable, before the write
    /// that made it returns; an event that fails to be stored is never published. What
    /// `audit list --follow` and `[audit] export_file` read.
    fn follow(&self) -> AuditSubscription;
}

/// One-time credentials already used (SAML assertion IDs, MFA codes).
#[async_trait::async_trait]
pub trait ReplayCache: Send + Sync {
    /// Remember `key` until `until_unix` unless it is already remembered and its window has not
    /// passed at `now_unix`. Returns `true` when this call remembered it (first use), `false` for
    /// a replay. Atomic: of two concurrent calls with one key, exactly one gets `true`. The entry
    /// is made durable by the next durable write (every issued credential's covers it).
    async fn remember_once(
        &self,
        key: &ReplayKey,
        until_unix: i64,
        now_unix: i64,
    ) -> Result<bool, StoreError>;
    /// Whether `key` is remembered and its window has not passed at `now_unix` (read only).
    async fn is_remembered(&self, key: &ReplayKey, now_unix: i64) -> Result<bool, StoreError>;
    /// Forget entries whose window has passed at `now_unix`.
    async fn purge_expired(&self, now_unix: i64) -> Result<(), StoreError>;
}

/// One device authorization of the SSO OIDC device flow, by its user code; `state` is the
/// SSO layer's serialized record (opaque here), `expires_at` unix seconds after which it is purged.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    pub user_code: String,
    pub expires_at: i64,
    pub state: Vec<u8>,
}

/// The state may hold what the SSO layer sealed (an approved identity): its size only.
impl std::fmt::Debug for DeviceRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceRecord")
            .field("user_code", &self.user_code)
            .field("expires_at", &self.expires_at)
            .field("state", &format_args!("<{} bytes>", self.state.len()))
            .finish()
    }
}

/// The device authorizations in progress (SSO OIDC device flow), shared by every daemon of a
/// store: a person approves at one node, the client polls another. Records live minutes; the
/// store keeps them as opaque bytes and changes them only by compare-and-swap. `store copy`
/// does not carry them (a copy is made with the daemons stopped, and a device authorization
/// outlives no restart worth keeping: the client starts another).
#[async_trait::async_trait]
pub trait DeviceAuthorizations: Send + Sync {
    /// Store a new record; `Ok(false)` (nothing written) when a record with this user code
    /// exists and has not expired at `now_unix`. Durable when this resolves.
    async fn create_device(&self, record: &DeviceRecord, now_unix: i64)
    -> Result<bool, StoreError>;
    /// The record of `user_code`, if any and not expired at `now_unix`.
    async fn device(
        &self,
        user_code: &str,
        now_unix: i64,
    ) -> Result<Option<DeviceRecord>, StoreError>;
    /// Replace the state of `user_code` by `next` only if it is still `current`
    /// (compare-and-swap, atomic across daemons); `Ok(false)` when it changed or is gone.
    /// Durable when this resolves.
    async fn swap_device(
        &self,
        user_code: &str,
        current: &[u8],
        next: &[u8],
    ) -> Result<bool, StoreError>;
    /// Delete records expired at `now_unix` (`expires_at` at or before it); returns how many.
    async fn purge_expired(&self, now_unix: i64) -> Result<usize, StoreError>;
}

/// Revocations of sessions.
#[async_trait::async_trait]
pub trait Revocations: Send + Sync {
    /// Record a revocation with its audit event; durable, and in the feed, when this resolves.
    /// A later revocation of the same role replaces an earlier one.
    async fn revoke(&self, revocation: &Revocation, audit: &AuditEvent) -> Result<(), StoreError>;
    /// Every revocation still in force.
    async fn list(&self) -> Result<Vec<Revocation>, StoreError>;
    /// The revocations in force, kept current by the backend (whoever wrote them).
    fn feed(&self) -> RevocationFeed;
    /// Drop revocations that can no longer matter at `now_unix` (every session they cover has
    /// expired).
    async fn purge_expired(&self, now_unix: i64) -> Result<(), StoreError>;
    /// Whether the feed can be trusted at `now`: a backend that follows revocations written
    /// elsewhere (a shared database) says how long its list has gone without a refresh, and
    /// whether that is still within its bound. Always current by default (a backend whose
    /// every revocation is written by this process).
    fn freshness(&self, now: SystemTime) -> Freshness {
        let _ = now;
        Freshness::Current
    }
}

/// How far the revocations in force ([`Revocations::feed`]) can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Followed as they are written.
    Current,
    /// Not refreshed since `since` (the database does not answer); trusted until `until`.
    Trusted {
        since: SystemTime,
        until: SystemTime,
    },
    /// Not refreshed since `since`, longer than the bound: sessions cannot be checked against
    /// it, so they are refused (fail closed) until it is refreshed.
    Stale { since: SystemTime },
}

impl Freshness {
    /// Whether a session may be checked against the list (current, or stale within its bound).
    pub fn trusted(&self) -> bool {
        !matches!(self, Self::Stale { .. })
    }
}

/// The unique ids of roles (`AROA…`), kept across restarts: a role removed from the configuration
/// loses its id, so a role created again under the same ARN gets another, and the sessions of
/// the old one stay refused.
#[async_trait::async_trait]
pub trait RoleIds: Send + Sync {
    /// Role ARN -> unique id, of every role the configuration had when last replaced.
    async fn list(&self) -> Result<BTreeMap<String, String>, StoreError>;
    /// Keep exactly `ids` (the configured roles'); durable when this resolves.
    async fn replace(&self, ids: &BTreeMap<String, String>) -> Result<(), StoreError>;
}

/// The keyring keys the store's data depends on: each key that has sealed session tokens, with
/// the last time it was seen current. A key current within the longest session is still needed
/// to verify the sessions it sealed.
#[async_trait::async_trait]
pub trait SealingKeys: Send + Sync {
    /// Key id (hex) -> the last time (unix seconds) it was recorded as the current key.
    async fn list(&self) -> Result<BTreeMap<String, i64>, StoreError>;
    /// Record `key_id` as current at `at_unix`; durable when this resolves.
    async fn record_current(&self, key_id: &str, at_unix: i64) -> Result<(), StoreError>;
    /// Forget `key_id` (retired from the keyring: nothing may need it any more); durable when
    /// this resolves. Forgetting a key never recorded is not an error.
    async fn forget(&self, key_id: &str) -> Result<(), StoreError>;
}

/// The keyring as a shared store keeps it: every key sealed under the KEK, and a generation
/// that each change increments (what compare-and-swap compares).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKeyring {
    /// 1 for the first keyring, then one more per change.
    pub generation: i64,
    /// Current key first.
    pub keys: Vec<SealedKey>,
}

/// The keyring kept in the store itself (a store shared by several daemons: each reads it
/// there, sealed under the KEK they all hold), changed by compare-and-swap and followed by
/// every handle.
#[async_trait::async_trait]
pub trait KeyringVault: Send + Sync {
    /// The keyring kept, if any.
    async fn load(&self) -> Result<Option<StoredKeyring>, StoreError>;
    /// Keep `keys` as the first keyring unless one is kept already (two daemons starting
    /// together on an empty store: one's is kept, both get it); returns the keyring kept.
    async fn create_if_none(&self, keys: &[SealedKey]) -> Result<StoredKeyring, StoreError>;
    /// Replace the keyring of generation `expected` with `keys`; returns the new generation.
    /// Fails with [`StoreError::Conflict`] and changes nothing when the keyring kept is of
    /// another generation (changed meanwhile). Every handle's [`generation`](Self::generation)
    /// follows within seconds.
    async fn swap(&self, expected: i64, keys: &[SealedKey]) -> Result<i64, StoreError>;
    /// The generation kept (0: none), as last seen; the backend keeps it current, whoever
    /// changed the keyring.
    fn generation(&self) -> watch::Receiver<i64>;
}

/// When a long-term access key was last used to sign a request that verified.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyUse {
    /// Unix seconds.
    pub at: i64,
    /// The service the request was signed for (`sts`, or a resource service's name).
    pub service: String,
}

/// The last use of each long-term access key, recorded now and then (AWS reports it with an
/// hour's granularity), apart from the user records so that recording a use never races an
/// operator's change of the user.
#[async_trait::async_trait]
pub trait KeyUsage: Send + Sync {
    /// Record a use of `access_key_id`; a use older than the one recorded is ignored. Durable a
    /// moment later (with the next durable write), not when this resolves: nothing depends on
    /// it but `users show`.
    async fn record_use(&self, access_key_id: &str, used: &KeyUse) -> Result<(), StoreError>;
    /// The latest recorded use of `access_key_id`, if any.
    async fn last_used(&self, access_key_id: &str) -> Result<Option<KeyUse>, StoreError>;
}

/// IAM users and the index of their long-term access keys.
#[async_trait::async_trait]
pub trait Users: Send + Sync {
    async fn get(&self, name: &str) -> Result<Option<UserRecord>, StoreError>;
    /// Every user, by name.
    async fn list(&self) -> Result<Vec<UserRecord>, StoreError>;
    /// The user holding long-term access key `access_key_id`, if any.
    async fn by_access_key(&self, access_key_id: &str) -> Result<Option<UserRecord>, StoreError>;
    /// Replace the user `name`, stored as `expected` (`None`: absent), with `new` (`None`:
    /// delete it), keeping the access-key index in step (keys no longer in the record stop
    /// resolving), with its audit event; durable when this resolves. Fails with
    /// [`StoreError::Conflict`] and changes nothing if the stored record is not `expected`.
    async fn swap(
        &self,
        name: &str,
        expected: Option<&UserRecord>,
        new: Option<&UserRecord>,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
}

/// Whether the store can take writes now.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoreStatus {
    /// Bytes free on the store's filesystem, as last read.
    pub free_bytes: u64,
    /// Below this, writes are refused.
    pub floor_bytes: u64,
    /// Why the database cannot be reached, as last seen (a shared store); `None` while it
    /// answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
    /// Bytes of audit events waiting in the spool for the database (a shared store with a
    /// spool).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_spool_bytes: Option<u64>,
}

impl StoreStatus {
    pub fn writable(&self) -> bool {
        self.free_bytes >= self.floor_bytes && self.unavailable.is_none()
    }
}

/// How much the store holds, read when metrics are scraped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Sessions held (issued, not yet purged).
    pub sessions: u64,
    /// The store's files on disk, when the backend can tell.
    pub bytes_on_disk: Option<u64>,
}

/// The state of the backend itself.
pub trait Health: Send + Sync {
    fn status(&self) -> StoreStatus;
    /// Cheap to call (in-memory counts, file sizes).
    fn footprint(&self) -> Footprint;
}

/// Everything a store backend serves.
pub trait Backend:
    Sessions
    + AuditLog
    + ReplayCache
    + Revocations
    + Users
    + RoleIds
    + SealingKeys
    + KeyUsage
    + DeviceAuthorizations
    + Health
    + 'static
{
}

impl<T> Backend for T where
    T: Sessions
        + AuditLog
        + ReplayCache
        + Revocations
        + Users
        + RoleIds
        + SealingKeys
        + KeyUsage
        + DeviceAuthorizations
        + Health
        + 'static
{
}

/// The store: one handle per concept, all on one backend.
#[derive(Clone)]
pub struct Store {
    pub sessions: Arc<dyn Sessions>,
    pub audit: Arc<dyn AuditLog>,
    pub replay: Arc<dyn ReplayCache>,
    pub revocations: Arc<dyn Revocations>,
    pub users: Arc<dyn Users>,
    pub role_ids: Arc<dyn RoleIds>,
    pub sealing_keys: Arc<dyn SealingKeys>,
    pub key_usage: Arc<dyn KeyUsage>,
    /// The SSO OIDC device authorizations in progress.
    pub devices: Arc<dyn DeviceAuthorizations>,
    pub health: Arc<dyn Health>,
    /// The keyring kept in the store (a shared store only; `None`: the keyring is a file).
    pub keyring_vault: Option<Arc<dyn KeyringVault>>,
}

impl Store {
    /// A store whose every concept is served by `backend`.
    pub fn on<B: Backend>(backend: Arc<B>) -> Self {
        Self {
            sessions: backend.clone(),
            audit: backend.clone(),
            replay: backend.clone(),
            revocations: backend.clone(),
            users: backend.clone(),
            role_ids: backend.clone(),
            sealing_keys: backend.clone(),
            key_usage: backend.clone(),
            devices: backend.clone(),
            health: backend,
            keyring_vault: None,
        }
    }

    /// This store, keeping the keyring in `vault` too.
    #[must_use]
    pub fn with_keyring_vault(mut self, vault: Arc<dyn KeyringVault>) -> Self {
        self.keyring_vault = Some(vault);
        self
    }

    /// Whether the session `access_key_id` of `identity_arn`, issued at `issued_at`, is to be
    /// refused at `now`: revoked, or not checkable (the revocation list stale beyond its
    /// bound: fail closed).
    pub fn session_refused(
        &self,
        access_key_id: &str,
        identity_arn: &str,
        issued_at: i64,
        now: SystemTime,
    ) -> bool {
        !self.revocations.freshness(now).trusted()
            || self
                .revocations
                .feed()
                .borrow()
                .covers(access_key_id, identity_arn, issued_at)
    }

    /// Whether the tokens of the SSO login `login_id` are to be refused at `now`: the login
    /// revoked, or not checkable (the revocation list stale beyond its bound: fail closed).
    pub fn login_refused(&self, login_id: &str, now: SystemTime) -> bool {
        !self.revocations.freshness(now).trusted()
            || self.revocations.feed().borrow().covers_login(login_id)
    }

    /// Delete what has expired at `now_unix`: sessions, replay-cache entries, moot revocations,
    /// device authorizations. Returns how many sessions.
    pub async fn purge_expired(&self, now_unix: i64) -> Result<usize, StoreError> {
        let purged = self.sessions.purge_expired(now_unix).await?;
        self.replay.purge_expired(now_unix).await?;
        self.revocations.purge_expired(now_unix).await?;
        self.devices.purge_expired(now_unix).await?;
        Ok(purged)
    }
}

/// Delete what has expired at `clock`'s now, and the audit events older than
/// `audit_retention`, every `interval` (the first time at once), until the task is aborted. A
/// failed purge is logged and tried again at the next tick.
pub async fn purge_every(
    store: Store,
    clock: Arc<dyn Clock>,
    interval: Duration,
    audit_retention: Duration,
) {
    let retention = i64::try_from(audit_retention.as_secs()).unwrap_or(i64::MAX);
    let mut ticker = tokio::time::interval(interval);
    loop {
        ticker.tick().await;
        let now = unix_seconds(clock.now());
        if let Err(e) = store.audit.prepare_ahead(now).await {
            tracing::warn!(error = %e, "preparing the audit trail's next days failed");
        }
        match store.purge_expired(now).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "expired sessions purged"),
            Err(e) => tracing::warn!(error = %e, "purging expired sessions failed"),
        }
        match store
            .audit
            .prune_before(now.saturating_sub(retention))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(pruned = n, "audit events past their retention pruned"),
            Err(e) => tracing::warn!(error = %e, "pruning the audit trail failed"),
        }
    }
}

/// Where and how the records are kept (`[storage]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageSettings {
    /// The sled directory. With PostgreSQL, its directory keeps the audit spool (events
    /// written while the database does not answer).
    pub path: PathBuf,
    /// sled's page cache.
    pub cache_capacity_bytes: u64,
    /// Writes are refused while fewer bytes than this are free on the store's filesystem.
    pub min_free_bytes: u64,
    /// `kind = "postgres"`: the records are in this database, not in `path`.
    pub postgres: Option<postgres::PostgresSettings>,
    /// `kind = "postgres"`: how long a revocation list that cannot be refreshed (the database
    /// does not answer) is trusted to verify temporary credentials; zero: never.
    pub stale_revocations: Duration,
}

impl StorageSettings {
    /// The default floor (`[storage] min_free_mb`).
    pub const DEFAULT_MIN_FREE_BYTES: u64 = 256 * 1024 * 1024;

    /// The default bound on a stale revocation list (`[storage] stale_revocations_seconds`).
    pub const DEFAULT_STALE_REVOCATIONS: Duration = Duration::from_secs(60);

    /// A store at `path` with a page cache of `cache_capacity_bytes` and the default floor.
    pub fn new(path: PathBuf, cache_capacity_bytes: u64) -> Self {
        Self {
            path,
            cache_capacity_bytes,
            min_free_bytes: Self::DEFAULT_MIN_FREE_BYTES,
            postgres: None,
            stale_revocations: Self::DEFAULT_STALE_REVOCATIONS,
        }
    }
}

/// Open (or create) the sled store `settings` describe. Fails with [`StoreError::Locked`] if
/// another process has it open, and for a PostgreSQL store (which [`connect`] opens).
pub fn open(settings: &StorageSettings) -> Result<Store, StoreError> {
    refuse_postgres(settings)?;
    Ok(Store::on(Arc::new(sled::SledStore::open(settings)?)))
}

/// [`open`], the backend reporting its commits to `commit` (the daemon's metrics).
pub fn open_observed(
    settings: &StorageSettings,
    commit: crate::metrics::CommitMetrics,
) -> Result<Store, StoreError> {
    refuse_postgres(settings)?;
    Ok(Store::on(Arc::new(sled::SledStore::open_observed(
        settings, commit,
    )?)))
}

/// Open the store `settings` describe, whichever its backend (`[storage] kind`), reporting its
/// commits to `commit`: sled in `path`, or the PostgreSQL database (connected, its schema
/// migrated).
pub async fn connect(
    settings: &StorageSettings,
    commit: crate::metrics::CommitMetrics,
) -> Result<Store, StoreError> {
    connect_at(settings, commit, Arc::new(crate::clock::SystemClock)).await
}

/// [`connect`], the daemon's way: a PostgreSQL store spools audit events beside `path` while
/// the database does not answer, and times the staleness of its revocation list by `clock`.
pub async fn connect_at(
    settings: &StorageSettings,
    commit: crate::metrics::CommitMetrics,
    clock: Arc<dyn Clock>,
) -> Result<Store, StoreError> {
    match &settings.postgres {
        Some(database) => {
            let outage = postgres::Outage {
                spool: Some(postgres::spool_path(&settings.path)),
                stale_revocations: settings.stale_revocations,
                clock,
            };
            let backend =
                Arc::new(postgres::PostgresStore::open_with(database, commit, outage).await?);
            Ok(Store::on(backend.clone()).with_keyring_vault(backend))
        }
        None => open_observed(settings, commit),
    }
}

fn refuse_postgres(settings: &StorageSettings) -> Result<(), StoreError> {
    match &settings.postgres {
        Some(_) => Err(StoreError::Backend(
            "the store is a PostgreSQL database; this command reads sled stores only".into(),
        )),
        None => Ok(()),
    }
}

/// [`open`], waiting up to `attempts` x 20 ms while the store is still held by a handle this
/// process just dropped (a backend may release its lock a moment after the last handle).
pub fn open_when_released(settings: &StorageSettings, attempts: u32) -> Result<Store, StoreError> {
    Ok(Store::on(Arc::new(sled::SledStore::open_when_released(
        settings, attempts,
    )?)))
}

/// `user` when it lists `access_key_id` (a backend's key index pointing at a record that no longer
/// lists the key never resolves to it).
pub(crate) fn holding_key(user: UserRecord, access_key_id: &str) -> Option<UserRecord> {
    user.access_keys
        .iter()
        .any(|k| k.access_key_id == access_key_id)
        .then_some(user)
}

/// The record a `swap` stores under `name` must be that user's.
pub(crate) fn check_stored_as(name: &str, new: Option<&UserRecord>) -> Result<(), StoreError> {
    if new.is_some_and(|user| user.name != name) {
        return Err(StoreError::Backend(format!(
            "a record of another user stored as {name}"
        )));
    }
    Ok(())
}

/// A change of one user record: the record to store (`None` deletes it), the audit event that
/// records the change, and what the caller gets back.
pub struct UserChange<T> {
    pub record: Option<UserRecord>,
    pub audit: AuditEvent,
    pub value: T,
}

/// Why [`update_user`] did not change the user.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError<E> {
    /// The change itself refused (no such user, too many keys, ...).
    #[error(transparent)]
    Refused(E),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How often [`update_user`] retries a change that lost a race with another writer.
const UPDATE_ATTEMPTS: usize = 16;

/// Read the user `name`, apply `change` to it, and store the result by compare-and-swap,
/// applying the change again to the newer record when another writer got there first.
pub async fn update_user<T, E>(
    users: &dyn Users,
    name: &str,
    mut change: impl FnMut(Option<UserRecord>) -> Result<UserChange<T>, E> + Send,
) -> Result<T, UpdateError<E>> {
    let mut attempt = 0;
    loop {
        let current = users.get(name).await?;
        let next = change(current.clone()).map_err(UpdateError::Refused)?;
        match users
            .swap(name, current.as_ref(), next.record.as_ref(), &next.audit)
            .await
        {
            Ok(()) => return Ok(next.value),
            Err(StoreError::Conflict(_)) if attempt + 1 < UPDATE_ATTEMPTS => attempt += 1,
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{ManualClock, from_unix_seconds};
    use crate::store::conformance::{event, session};

    /// The sweep runs on its interval of the runtime's (paused) time and purges by the clock's
    /// now: a session goes at the first tick after the clock passed its expiry, not before, and
    /// an audit event at the first tick after it is older than the retention.
    #[tokio::test(start_paused = true)]
    async fn the_background_purge_runs_on_its_interval_by_the_clocks_now() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&StorageSettings::new(dir.path().join("sled"), 8 << 20)).unwrap();
        let at = |id: &str, t: i64| AuditEvent {
            event_time: crate::clock::iso8601(from_unix_seconds(t)),
            ..event(id)
        };
        for (id, expires_at) in [("ASIASHORT", 1_000), ("ASIALONG", 2_000)] {
            store
                .sessions
                .put(&session(id, expires_at), &at(id, expires_at - 900))
                .await
                .unwrap();
        }
        let audited = |store: &Store| {
            let store = store.clone();
            async move {
                let events = store.audit.list(10).await.unwrap();
                events.into_iter().map(|e| e.request_id).collect::<Vec<_>>()
            }
        };
        let clock = Arc::new(ManualClock::new(from_unix_seconds(500)));
        let interval = Duration::from_secs(300);
        let retention = Duration::from_secs(1_000);
        let sweeper = tokio::spawn(purge_every(
            store.clone(),
            clock.clone(),
            interval,
            retention,
        ));
        let present = |id: &'static str| {
            let store = store.clone();
            async move { store.sessions.get(id).await.unwrap().is_some() }
        };
        // Let every task run to its next wait without moving the runtime's time; a wait for
        // durability is answered by the commit thread, outside the runtime, so give it a moment
        // of real time between the rounds.
        async fn settle() {
            for _ in 0..10 {
                tokio::task::yield_now().await;
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        settle().await;
        clock.set(from_unix_seconds(1_000));
        settle().await;
        assert!(present("ASIASHORT").await, "no tick since the clock moved");
        tokio::time::advance(interval).await;
        settle().await;
        assert!(!present("ASIASHORT").await, "purged at the tick");
        assert!(present("ASIALONG").await);
        assert_eq!(audited(&store).await, ["ASIASHORT", "ASIALONG"]);
        clock.set(from_unix_seconds(2_000));
        tokio::time::advance(interval).await;
        settle().await;
        assert!(!present("ASIALONG").await);
        assert_eq!(
            audited(&store).await,
            ["ASIALONG"],
            "the event of 100 went at 2000 (retention 1000), the one of 1100 stays"
        );
        clock.set(from_unix_seconds(2_101));
        tokio::time::advance(interval).await;
        settle().await;
        assert!(audited(&store).await.is_empty());
        sweeper.abort();
    }

    #[test]
    fn revocation_sets_cover_sessions_and_roles_until_their_time() {
        let mut set = RevocationSet::default();
        set.apply(&Revocation::Session {
            access_key_id: "ASIAONE".into(),
            expires_at: 10,
        });
        set.apply(&Revocation::RoleSessions {
            role_arn: "arn:r".into(),
            issued_at_or_before: 100,
        });
        set.apply(&Revocation::RoleSessions {
            role_arn: "arn:r".into(),
            issued_at_or_before: 50,
        });
        assert!(set.covers("ASIAONE", "arn:other", 500));
        assert!(
            set.covers("ASIATWO", "arn:r", 100),
            "a later revocation wins"
        );
        assert!(!set.covers("ASIATWO", "arn:r", 101));
        assert!(!set.covers("ASIATWO", "arn:other", 1));
        assert_eq!(set.len(), 2);
        assert!(!set.covers_login("LONE"));
        set.apply(&Revocation::Login {
            login_id: "LONE".into(),
            expires_at: 10,
        });
        assert!(set.covers_login("LONE"));
        assert!(!set.covers_login("LTWO"));
        assert!(!set.covers("LONE", "arn:other", 0), "a login is no session");
        assert_eq!(set.len(), 3);
    }

    /// A revoked login is refused, another is not; the keys in the store are `login/ID`, so a
    /// login and a session of one id never replace each other.
    #[tokio::test]
    async fn a_revoked_login_is_refused_and_kept_apart_from_sessions() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&StorageSettings::new(dir.path().join("sled"), 8 << 20)).unwrap();
        let now = from_unix_seconds(100);
        assert!(!store.login_refused("LSAME", now));
        for revocation in [
            Revocation::Login {
                login_id: "LSAME".into(),
                expires_at: 1_000,
            },
            Revocation::Session {
                access_key_id: "LSAME".into(),
                expires_at: 1_000,
            },
        ] {
            store
                .revocations
                .revoke(&revocation, &event("revoke"))
                .await
                .unwrap();
        }
        assert!(store.login_refused("LSAME", now));
        assert!(!store.login_refused("LOTHER", now));
        assert_eq!(store.revocations.list().await.unwrap().len(), 2);
    }

    /// What the SSO layer keeps in a device authorization may be sealed: never printed.
    #[test]
    fn a_device_records_debug_shows_no_state() {
        let record = DeviceRecord {
            user_code: "WDJB-MJHT".into(),
            expires_at: 5,
            state: b"sealed-identity".to_vec(),
        };
        let printed = format!("{record:?}");
        assert!(
            printed.contains("WDJB-MJHT") && printed.contains("<15 bytes>"),
            "{printed}"
        );
        assert!(!printed.contains("115"), "{printed}");
    }

    #[test]
    fn replay_keys_of_different_kinds_never_share_a_text() {
        let saml = ReplayKey::SamlAssertion {
            provider: "corp".into(),
            id: "_a1".into(),
        };
        let mfa = ReplayKey::MfaCode {
            serial_number: "arn:aws:iam::123456789012:mfa/alice".into(),
            step: 42,
        };
        assert_eq!(saml.text(), "saml/corp/_a1");
        assert_eq!(mfa.text(), "mfa/arn:aws:iam::123456789012:mfa/alice/42");
        let signin = ReplayKey::SigninToken { id: "0a1b".into() };
        assert_eq!(signin.text(), "signin/0a1b");
    }
}
