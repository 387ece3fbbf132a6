//! The sled backend: one embedded database for one daemon.
//!
//! Trees:
//! - `sessions_by_expiry`: key `expires_at` (8-byte big-endian, offset so negative times sort
//!   first) followed by the access key id, value the rest of the `SessionRecord` in the compact
//!   format of [`record`] (JSON in stores written before it). New sessions land at the
//!   right edge of the tree instead of at random pages: keyed by access key id, a tree larger than
//!   the page cache made every insert page a leaf in from disk. Purging is a range scan up to now,
//!   not a pass over every session. A session is found by its id through [`SessionIndex`]
//!   (access key id -> expiry, in memory, rebuilt from these keys at open).
//! - `audit` (key: the time of the entry's latest event, 8 bytes as the expiries above, then an
//!   8-byte big-endian sequence number from `generate_id`: iteration is time order, and a
//!   retention cut is a range; value: the events of one group commit as a zstd-compressed JSON
//!   array, in order, or one JSON `AuditEvent` (an operator's action)). Stores written before
//!   time-ordered keys had the sequence number alone; their entries are re-keyed when the store
//!   opens.
//! - `replay_by_expiry` (key: the window's end as above, then the replay key's text; no value;
//!   looked up through an in-memory index as the sessions are).
//! - `device_authorizations` (key: user code; value: the expiry as 8 big-endian bytes, then
//!   the SSO layer's opaque state), changed by compare-and-swap.
//! - `revocations`, `users` (key: user name, value: JSON `UserRecord`, secrets sealed),
//!   `access_keys` (key: `AKIA…`, value: user name) and `access_key_usage` (key: `AKIA…`,
//!   value: JSON `KeyUse`, written without waiting for a flush).
//!
//! Users, revocations and operator events stay JSON: they are few. `stsbridge sessions show`
//! and `audit list` read the rest.
//!
//! What "durable" means here: sled's `flush()` hands the log to the kernel and waits with
//! sync_file_range, not fsync, so an acknowledged record survives a crash of the daemon
//! (kill -9), not a power loss or kernel crash.
//!
//! sled's calls are synchronous and short (a page cache hit, or one page read); the async
//! methods run them on the caller's task. What waits for the disk is the group commit, which
//! answers through a channel.

mod expiry_index;
mod group_commit;
mod record;
mod space;

use std::collections::BTreeMap;
use std::hash::Hash;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::watch;

use self::expiry_index::{ExpiryIndex, SessionIndex, session_index_key};
use self::group_commit::{EncodedEvent, GroupCommit};
use self::space::SpaceGuard;
use crate::audit::AuditEvent;
use crate::audit::feed::{AuditFeed, AuditSubscription};
use crate::audit::query::AuditQuery;
use crate::metrics::CommitMetrics;
use crate::store::{
    AuditLog, DeviceAuthorizations, DeviceRecord, Footprint, Health, KeyUsage, KeyUse,
    LiveSessions, ReplayCache, ReplayKey, Revocation, RevocationFeed, RevocationSet, Revocations,
    RoleIds, SealingKeys, SessionRecord, Sessions, StorageSettings, StoreError, StoreStatus, Users,
};
use crate::users::UserRecord;

const SESSIONS_TREE: &str = "sessions_by_expiry";
const AUDIT_TREE: &str = "audit";
const REPLAY_TREE: &str = "replay_by_expiry";
const REVOCATIONS_TREE: &str = "revocations";
const USERS_TREE: &str = "users";
const ACCESS_KEYS_TREE: &str = "access_keys";
const ROLE_IDS_TREE: &str = "role_ids";
const SEALING_KEYS_TREE: &str = "sealing_keys";
const KEY_USAGE_TREE: &str = "access_key_usage";
const DEVICES_TREE: &str = "device_authorizations";

/// Text sled 0.34 puts in the I/O error when another process holds the database lock (it gives
/// no error kind of its own).
const LOCK_HELD_MESSAGE: &str = "could not acquire lock";

/// Every record of the daemon in one sled database, with group-committed durable writes.
pub struct SledStore {
    /// Expiry + access key id -> session record.
    sessions: ::sled::Tree,
    /// Access key id -> expiry, of every session in `sessions`.
    index: SessionIndex,
    audit: ::sled::Tree,
    replay: ::sled::Tree,
    /// Replay key -> window end, of every entry in `replay`.
    replayed: ExpiryIndex<Box<[u8]>>,
    revocations: ::sled::Tree,
    /// The revocations in force: updated by every revocation and purge, before they return.
    revocation_set: watch::Sender<Arc<RevocationSet>>,
    users: ::sled::Tree,
    /// Long-term access key id -> user name.
    access_keys: ::sled::Tree,
    /// Role ARN -> unique id.
    role_ids: ::sled::Tree,
    /// Key id -> last time current (8-byte big-endian unix seconds).
    sealing_keys: ::sled::Tree,
    /// Long-term access key id -> its last recorded use.
    key_usage: ::sled::Tree,
    /// User code -> expiry (8 bytes) and the device authorization's state.
    devices: ::sled::Tree,
    db: ::sled::Db,
    /// The free-space floor.
    space: SpaceGuard,
    /// Where durable audit events are published.
    feed: AuditFeed,
    /// Declared last: dropped (thread joined) before the database handles above are released.
    commit: GroupCommit,
}

impl SledStore {
    /// Every replay-cache entry whose window has not passed at `now_unix`: the key's text
    /// ([`ReplayKey::text`]) and the window's end, soonest to end first (what `store copy`
    /// carries to another store).
    pub fn replay_entries(&self, now_unix: i64) -> Result<Vec<(String, i64)>, StoreError> {
        let start = expiry_bytes(now_unix.saturating_add(1));
        let mut entries = Vec::new();
        for key in self.replay.range(start..).keys() {
            let key = key.map_err(backend)?;
            let Some((until, text)) = split_prefixed_key(&key) else {
                continue;
            };
            let text = String::from_utf8(text.to_vec())
                .map_err(|_| StoreError::Corrupt("a replay key that is not UTF-8".into()))?;
            entries.push((text, until));
        }
        Ok(entries)
    }

    /// Open (or create) the database in the directory `settings.path`, with a page cache of at
    /// most `settings.cache_capacity_bytes` and writes refused below `settings.min_free_bytes`.
    /// Fails with `StoreError::Locked` if another process has it open.
    pub fn open(settings: &StorageSettings) -> Result<Self, StoreError> {
        Self::open_observed(settings, CommitMetrics::default())
    }

    /// [`open`](Self::open), the group commit reporting each flush to `metrics`.
    pub fn open_observed(
        settings: &StorageSettings,
        metrics: CommitMetrics,
    ) -> Result<Self, StoreError> {
        let path = settings.path.as_path();
        let db = open_db(settings)?;
        make_private(path)
            .map_err(|e| StoreError::Backend(format!("making {} private: {e}", path.display())))?;
        let sessions = db.open_tree(SESSIONS_TREE).map_err(backend)?;
        let index = build_expiry_index(&sessions, "session", session_index_key)?;
        let audit = db.open_tree(AUDIT_TREE).map_err(backend)?;
        let rekeyed = rekey_legacy_audit(&audit)?;
        if rekeyed > 0 {
            db.flush().map_err(backend)?;
            tracing::info!(entries = rekeyed, "audit entries re-keyed by time");
        }
        let replay = db.open_tree(REPLAY_TREE).map_err(backend)?;
        let replayed = build_expiry_index(&replay, "replay", replay_index_key)?;
        let revocations = db.open_tree(REVOCATIONS_TREE).map_err(backend)?;
        let in_force = RevocationSet::new(read_revocations(&revocations)?);
        let users = db.open_tree(USERS_TREE).map_err(backend)?;
        let access_keys = db.open_tree(ACCESS_KEYS_TREE).map_err(backend)?;
        let role_ids = db.open_tree(ROLE_IDS_TREE).map_err(backend)?;
        let sealing_keys = db.open_tree(SEALING_KEYS_TREE).map_err(backend)?;
        let key_usage = db.open_tree(KEY_USAGE_TREE).map_err(backend)?;
        let devices = db.open_tree(DEVICES_TREE).map_err(backend)?;
        let space = SpaceGuard::start(path.to_owned(), settings.min_free_bytes)?;
        let feed = AuditFeed::default();
        let commit = GroupCommit::start(db.clone(), audit.clone(), feed.clone(), metrics)?;
        tracing::info!(
            path = %path.display(),
            recovered = db.was_recovered(),
            sessions = index.len(),
            "store opened"
        );
        Ok(Self {
            sessions,
            index,
            audit,
            replay,
            replayed,
            revocations,
            revocation_set: watch::Sender::new(Arc::new(in_force)),
            users,
            access_keys,
            role_ids,
            sealing_keys,
            key_usage,
            devices,
            db,
            space,
            feed,
            commit,
        })
    }

    /// [`open`](Self::open), waiting up to `attempts` x 20 ms while the database is still locked
    /// by a store this process just dropped: sled releases its file lock only when its I/O
    /// threads let go of the log, a moment after the last handle is gone.
    pub fn open_when_released(
        settings: &StorageSettings,
        attempts: u32,
    ) -> Result<Self, StoreError> {
        let mut left = attempts;
        loop {
            match Self::open(settings) {
                Err(StoreError::Locked { .. }) if left > 0 => {
                    left -= 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => return other,
            }
        }
    }

    /// How many flushes have made writes durable since opening; fewer than the writes when
    /// concurrent writers shared them (a metric, and the group-commit test's witness).
    pub fn flush_count(&self) -> u64 {
        self.commit.flush_count()
    }

    /// Insert the session and its index entry; the audit event is written by the commit
    /// thread with the others of its batch. Not one transaction: sled's cross-tree transactions
    /// cost three quarters of the throughput (README, "What a returned credential survives").
    /// Both are durable before the caller hands out a credential; a crash in between can only
    /// leave a record for a credential never returned, which nobody holds and the purge removes
    /// at its expiry.
    fn write_session(&self, session: &SessionRecord, value: Vec<u8>) -> Result<(), StoreError> {
        let id = session.access_key_id.as_bytes();
        let Some(index_key) = session_index_key(id) else {
            return Err(StoreError::Backend(format!(
                "access key id {} is not an access key id",
                session.access_key_id.escape_debug()
            )));
        };
        self.sessions
            .insert(prefixed_key(expiry_bytes(session.expires_at), id), value)
            .map_err(backend)?;
        // After the record, so a failed insert leaves no index entry behind. Nobody looks the
        // session up before its credential is returned, which is after the flush.
        self.index.insert(index_key, session.expires_at);
        Ok(())
    }

    /// A fresh key for an audit entry whose (latest) event happened at `unix_time`.
    fn next_audit_key(&self, unix_time: i64) -> Result<[u8; 16], StoreError> {
        let sequence = self.db.generate_id().map_err(backend)?;
        Ok(audit_key(unix_time, sequence))
    }

    /// The user `name` as stored, read inside a transaction.
    fn user_in(
        users: &::sled::transaction::TransactionalTree,
        name: &str,
    ) -> Result<Option<UserRecord>, ::sled::transaction::ConflictableTransactionError<StoreError>>
    {
        use ::sled::transaction::ConflictableTransactionError::Abort;
        users
            .get(name.as_bytes())?
            .map(|value| decode_user(name.as_bytes(), &value).map_err(Abort))
            .transpose()
    }
}

#[async_trait::async_trait]
impl Sessions for SledStore {
    async fn put(&self, session: &SessionRecord, audit: &AuditEvent) -> Result<(), StoreError> {
        self.space.check()?;
        let value = record::encode_session(session).map_err(|e| {
            StoreError::Backend(format!("encoding session {}: {e}", session.access_key_id))
        })?;
        let event = encode_event(audit)?;
        self.write_session(session, value)?;
        self.commit.durable_with(Some(event)).await
    }

    async fn get(&self, access_key_id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let Some(expires_at) =
            session_index_key(access_key_id.as_bytes()).and_then(|key| self.index.get(&key))
        else {
            return Ok(None);
        };
        self.sessions
            .get(prefixed_key(
                expiry_bytes(expires_at),
                access_key_id.as_bytes(),
            ))
            .map_err(backend)?
            .map(|value| decode_session(access_key_id, expires_at, &value))
            .transpose()
    }

    async fn list(&self, limit: usize) -> Result<Vec<SessionRecord>, StoreError> {
        self.sessions
            .iter()
            .rev()
            .take(limit)
            .map(|entry| {
                entry.map_err(backend).and_then(|(k, v)| {
                    let (expires_at, id) = split_prefixed_key(&k).ok_or_else(|| {
                        StoreError::Corrupt(format!("a session key of {} bytes", k.len()))
                    })?;
                    decode_session(&String::from_utf8_lossy(id), expires_at, &v)
                })
            })
            .collect()
    }

    async fn purge_expired(&self, now_unix: i64) -> Result<usize, StoreError> {
        purge_expiry_ordered(&self.sessions, &self.index, now_unix, session_index_key)
    }

    /// A range scan over the sessions expiring after `now_unix` (the tree is ordered by
    /// expiry), decoding each: an operator's question, not a request's.
    async fn live_issued_between(
        &self,
        from_unix: i64,
        to_unix: i64,
        now_unix: i64,
    ) -> Result<LiveSessions, StoreError> {
        let mut live = LiveSessions::default();
        let start = expiry_bytes(now_unix.saturating_add(1));
        for entry in self.sessions.range(start..) {
            let (k, v) = entry.map_err(backend)?;
            let (expires_at, id) = split_prefixed_key(&k).ok_or_else(|| {
                StoreError::Corrupt(format!("a session key of {} bytes", k.len()))
            })?;
            let session = decode_session(&String::from_utf8_lossy(id), expires_at, &v)?;
            if (from_unix..=to_unix).contains(&session.issued_at) {
                live.add(expires_at);
            }
        }
        Ok(live)
    }
}

#[async_trait::async_trait]
impl AuditLog for SledStore {
    async fn append(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.space.check()?;
        let event = encode_event(event)?;
        self.commit.durable_with(Some(event)).await
    }

    async fn record(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.space.check()?;
        self.commit.soon(encode_event(event)?)
    }

    /// Waits first for the events recorded to be written.
    async fn list(&self, limit: usize) -> Result<Vec<AuditEvent>, StoreError> {
        self.commit.durable().await?;
        let mut newest_first = Vec::with_capacity(limit.min(1024));
        for entry in self.audit.iter().rev() {
            if newest_first.len() >= limit {
                break;
            }
            let (key, value) = entry.map_err(backend)?;
            let events = decode_events(&key, &value)?;
            let wanted = limit - newest_first.len();
            newest_first.extend(events.into_iter().rev().take(wanted));
        }
        newest_first.reverse();
        Ok(newest_first)
    }

    /// Waits first for the events recorded to be written; reads the keys of the window only
    /// (see [`ENTRY_SPAN_SECONDS`]).
    async fn query(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        use std::ops::Bound;
        self.commit.durable().await?;
        if let (Some(since), Some(until)) = (query.since, query.until)
            && since >= until
        {
            return Ok(Vec::new());
        }
        let start = query.since.map_or(Bound::Unbounded, |since| {
            Bound::Included(audit_key(since, 0))
        });
        let end = query.until.map_or(Bound::Unbounded, |until| {
            Bound::Excluded(audit_key(until.saturating_add(ENTRY_SPAN_SECONDS), 0))
        });
        let limit = query.limit;
        let mut newest_first = Vec::with_capacity(limit.min(1024));
        for entry in self.audit.range((start, end)).rev() {
            if newest_first.len() >= limit {
                break;
            }
            let (key, value) = entry.map_err(backend)?;
            let events = decode_events(&key, &value)?;
            let wanted = limit - newest_first.len();
            newest_first.extend(
                events
                    .into_iter()
                    .rev()
                    .filter(|event| query.matches(event))
                    .take(wanted),
            );
        }
        newest_first.reverse();
        Ok(newest_first)
    }

    fn follow(&self) -> AuditSubscription {
        self.feed.subscribe()
    }

    async fn prune_before(&self, before_unix: i64) -> Result<u64, StoreError> {
        let end = audit_key(before_unix, 0);
        let mut pruned = 0;
        loop {
            let mut batch = ::sled::Batch::default();
            let mut entries = 0;
            for entry in self.audit.range(..end).take(PRUNE_CHUNK) {
                let (key, value) = entry.map_err(backend)?;
                pruned += count_events(&key, &value);
                batch.remove(key);
                entries += 1;
            }
            if entries == 0 {
                break;
            }
            self.audit.apply_batch(batch).map_err(backend)?;
        }
        if pruned > 0 {
            self.commit.durable().await?;
        }
        Ok(pruned)
    }
}

#[async_trait::async_trait]
impl ReplayCache for SledStore {
    /// The record is inserted under the index's lock for `key`, so of two concurrent calls with
    /// one key exactly one inserts it. An expired entry of the same key stays in the tree until
    /// the purge reaches its own expiry.
    async fn remember_once(
        &self,
        key: &ReplayKey,
        until_unix: i64,
        now_unix: i64,
    ) -> Result<bool, StoreError> {
        self.space.check()?;
        let text = key.text();
        self.replayed
            .insert_unless_live(Box::from(text.as_bytes()), until_unix, now_unix, || {
                self.replay
                    .insert(
                        prefixed_key(expiry_bytes(until_unix), text.as_bytes()),
                        &[][..],
                    )
                    .map(drop)
                    .map_err(backend)
            })
    }

    async fn is_remembered(&self, key: &ReplayKey, now_unix: i64) -> Result<bool, StoreError> {
        Ok(self
            .replayed
            .get(key.text().as_bytes())
            .is_some_and(|until| until > now_unix))
    }

    async fn purge_expired(&self, now_unix: i64) -> Result<(), StoreError> {
        purge_expiry_ordered(&self.replay, &self.replayed, now_unix, replay_index_key).map(drop)
    }
}

#[async_trait::async_trait]
impl Revocations for SledStore {
    async fn revoke(&self, revocation: &Revocation, audit: &AuditEvent) -> Result<(), StoreError> {
        self.space.check()?;
        self.revocations
            .insert(revocation_key(revocation), encode(revocation)?)
            .map_err(backend)?;
        let event = encode(audit)?;
        self.audit
            .insert(self.next_audit_key(event_time(audit)?)?, event.as_slice())
            .map_err(backend)?;
        self.commit.durable().await?;
        self.feed.publish(&event);
        self.revocation_set.send_modify(|set| {
            let mut next = RevocationSet::clone(set);
            next.apply(revocation);
            *set = Arc::new(next);
        });
        Ok(())
    }

    async fn list(&self) -> Result<Vec<Revocation>, StoreError> {
        read_revocations(&self.revocations)
    }

    fn feed(&self) -> RevocationFeed {
        self.revocation_set.subscribe()
    }

    /// A session (or login) revocation is moot at its `expires_at`; a role's once every session
    /// it covers has expired (sessions last at most `MAX_SESSION_DURATION_SECONDS`).
    async fn purge_expired(&self, now_unix: i64) -> Result<(), StoreError> {
        let longest = i64::from(crate::creds::MAX_SESSION_DURATION_SECONDS);
        let mut batch = ::sled::Batch::default();
        let mut kept = Vec::new();
        for revocation in read_revocations(&self.revocations)? {
            let over = match &revocation {
                Revocation::Session { expires_at, .. } | Revocation::Login { expires_at, .. } => {
                    *expires_at <= now_unix
                }
                Revocation::RoleSessions {
                    issued_at_or_before,
                    ..
                } => issued_at_or_before.saturating_add(longest) <= now_unix,
            };
            if over {
                batch.remove(revocation_key(&revocation).as_bytes());
            } else {
                kept.push(revocation);
            }
        }
        self.revocations.apply_batch(batch).map_err(backend)?;
        self.revocation_set
            .send_replace(Arc::new(RevocationSet::new(kept)));
        Ok(())
    }
}

#[async_trait::async_trait]
impl Users for SledStore {
    async fn get(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        self.users
            .get(name)
            .map_err(backend)?
            .map(|value| decode_user(name.as_bytes(), &value))
            .transpose()
    }

    async fn list(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.users
            .iter()
            .map(|entry| {
                entry
                    .map_err(backend)
                    .and_then(|(k, v)| decode_user(&k, &v))
            })
            .collect()
    }

    async fn by_access_key(&self, access_key_id: &str) -> Result<Option<UserRecord>, StoreError> {
        let Some(name) = self.access_keys.get(access_key_id).map_err(backend)? else {
            return Ok(None);
        };
        let Some(value) = self.users.get(&name).map_err(backend)? else {
            return Ok(None);
        };
        let user = decode_user(&name, &value)?;
        // The index and the record change in one transaction; checking again costs nothing.
        Ok(super::holding_key(user, access_key_id))
    }

    /// One transaction over users, the key index and the audit trail: user changes are rare
    /// operator actions, so the cost of a cross-tree transaction does not matter here, and a key
    /// must never resolve to a user record that does not list it.
    async fn swap(
        &self,
        name: &str,
        expected: Option<&UserRecord>,
        new: Option<&UserRecord>,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        use ::sled::Transactional as _;
        use ::sled::transaction::{ConflictableTransactionError, TransactionError};
        self.space.check()?;
        super::check_stored_as(name, new)?;
        let value = new.map(encode).transpose()?;
        let event = encode(audit)?;
        let audit_key = self.next_audit_key(event_time(audit)?)?;
        let result =
            (&self.users, &self.access_keys, &self.audit).transaction(|(users, keys, audit)| {
                let current = Self::user_in(users, name)?;
                if current.as_ref() != expected {
                    return Err(ConflictableTransactionError::Abort(StoreError::Conflict(
                        match &current {
                            Some(_) => format!("user {name} already exists"),
                            None => format!("no user {name}"),
                        },
                    )));
                }
                for key in current.iter().flat_map(|u| &u.access_keys) {
                    keys.remove(key.access_key_id.as_bytes())?;
                }
                match (new, &value) {
                    (Some(user), Some(value)) => {
                        for key in &user.access_keys {
                            keys.insert(key.access_key_id.as_bytes(), name.as_bytes())?;
                        }
                        users.insert(name.as_bytes(), value.as_slice())?;
                    }
                    _ => {
                        users.remove(name.as_bytes())?;
                    }
                }
                audit.insert(&audit_key, event.as_slice())?;
                Ok(())
            });
        match result {
            Ok(()) => {
                self.commit.durable().await?;
                self.feed.publish(&event);
                Ok(())
            }
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(backend(e)),
        }
    }
}

#[async_trait::async_trait]
impl RoleIds for SledStore {
    async fn list(&self) -> Result<BTreeMap<String, String>, StoreError> {
        self.role_ids
            .iter()
            .map(|entry| {
                let (arn, id) = entry.map_err(backend)?;
                let text = |bytes: &[u8]| {
                    String::from_utf8(bytes.to_vec())
                        .map_err(|_| StoreError::Corrupt("a role id entry is not UTF-8".into()))
                };
                Ok((text(&arn)?, text(&id)?))
            })
            .collect()
    }

    /// One batch (atomic in sled): the ids of roles no longer listed go, the listed ones stay or
    /// come.
    async fn replace(&self, ids: &BTreeMap<String, String>) -> Result<(), StoreError> {
        self.space.check()?;
        let mut batch = ::sled::Batch::default();
        for entry in self.role_ids.iter().keys() {
            let arn = entry.map_err(backend)?;
            if !ids.contains_key(String::from_utf8_lossy(&arn).as_ref()) {
                batch.remove(arn);
            }
        }
        for (arn, id) in ids {
            batch.insert(arn.as_bytes(), id.as_bytes());
        }
        self.role_ids.apply_batch(batch).map_err(backend)?;
        self.commit.durable().await
    }
}

#[async_trait::async_trait]
impl SealingKeys for SledStore {
    async fn list(&self) -> Result<BTreeMap<String, i64>, StoreError> {
        self.sealing_keys
            .iter()
            .map(|entry| {
                let (id, at) = entry.map_err(backend)?;
                let at = <[u8; 8]>::try_from(at.as_ref())
                    .map(i64::from_be_bytes)
                    .map_err(|_| StoreError::Corrupt("a sealing key entry".into()))?;
                Ok((String::from_utf8_lossy(&id).into_owned(), at))
            })
            .collect()
    }

    async fn record_current(&self, key_id: &str, at_unix: i64) -> Result<(), StoreError> {
        self.space.check()?;
        self.sealing_keys
            .fetch_and_update(key_id, |seen| {
                let seen = seen
                    .and_then(|v| <[u8; 8]>::try_from(v).ok())
                    .map_or(i64::MIN, i64::from_be_bytes);
                Some(seen.max(at_unix).to_be_bytes().to_vec())
            })
            .map_err(backend)?;
        self.commit.durable().await
    }

    async fn forget(&self, key_id: &str) -> Result<(), StoreError> {
        self.sealing_keys.remove(key_id).map_err(backend)?;
        self.commit.durable().await
    }
}

#[async_trait::async_trait]
impl KeyUsage for SledStore {
    async fn record_use(&self, access_key_id: &str, used: &KeyUse) -> Result<(), StoreError> {
        self.space.check()?;
        let value = encode(used)?;
        self.key_usage
            .fetch_and_update(access_key_id, |old| {
                let newer = old
                    .and_then(|v| serde_json::from_slice::<KeyUse>(v).ok())
                    .is_none_or(|old| old.at <= used.at);
                Some(if newer {
                    value.clone()
                } else {
                    old.map(<[u8]>::to_vec).unwrap_or_default()
                })
            })
            .map_err(backend)?;
        Ok(())
    }

    async fn last_used(&self, access_key_id: &str) -> Result<Option<KeyUse>, StoreError> {
        self.key_usage
            .get(access_key_id)
            .map_err(backend)?
            .map(|v| {
                serde_json::from_slice(&v).map_err(|e| {
                    StoreError::Corrupt(format!("the last use of {access_key_id}: {e}"))
                })
            })
            .transpose()
    }
}

/// Device authorizations are few and live minutes: each write is a compare-and-swap on its
/// record (retried while another writer changed it in between), flushed before it returns.
#[async_trait::async_trait]
impl DeviceAuthorizations for SledStore {
    async fn create_device(
        &self,
        record: &DeviceRecord,
        now_unix: i64,
    ) -> Result<bool, StoreError> {
        self.space.check()?;
        let key = record.user_code.as_bytes();
        let value = encode_device(record.expires_at, &record.state);
        loop {
            let current = self.devices.get(key).map_err(backend)?;
            if let Some(stored) = &current
                && decode_device(&record.user_code, stored)?.0 > now_unix
            {
                return Ok(false);
            }
            let swapped = self
                .devices
                .compare_and_swap(key, current, Some(value.as_slice()))
                .map_err(backend)?;
            if swapped.is_ok() {
                self.commit.durable().await?;
                return Ok(true);
            }
        }
    }

    async fn device(
        &self,
        user_code: &str,
        now_unix: i64,
    ) -> Result<Option<DeviceRecord>, StoreError> {
        let Some(stored) = self.devices.get(user_code).map_err(backend)? else {
            return Ok(None);
        };
        let (expires_at, state) = decode_device(user_code, &stored)?;
        Ok((expires_at > now_unix).then(|| DeviceRecord {
            user_code: user_code.to_owned(),
            expires_at,
            state: state.to_vec(),
        }))
    }

    async fn swap_device(
        &self,
        user_code: &str,
        current: &[u8],
        next: &[u8],
    ) -> Result<bool, StoreError> {
        self.space.check()?;
        loop {
            let Some(stored) = self.devices.get(user_code).map_err(backend)? else {
                return Ok(false);
            };
            let (expires_at, state) = decode_device(user_code, &stored)?;
            if state != current {
                return Ok(false);
            }
            let value = encode_device(expires_at, next);
            let swapped = self
                .devices
                .compare_and_swap(user_code, Some(stored), Some(value))
                .map_err(backend)?;
            if swapped.is_ok() {
                self.commit.durable().await?;
                return Ok(true);
            }
        }
    }

    /// A pass over the tree (it holds the authorizations of the last minutes only); a record
    /// created again meanwhile is left alone.
    async fn purge_expired(&self, now_unix: i64) -> Result<usize, StoreError> {
        let mut purged = 0;
        for entry in self.devices.iter() {
            let (key, stored) = entry.map_err(backend)?;
            let (expires_at, _) = decode_device(&String::from_utf8_lossy(&key), &stored)?;
            if expires_at <= now_unix
                && self
                    .devices
                    .compare_and_swap(&key, Some(stored), None::<&[u8]>)
                    .map_err(backend)?
                    .is_ok()
            {
                purged += 1;
            }
        }
        Ok(purged)
    }
}

/// A device authorization as stored: its expiry (8 bytes, big-endian), then its state.
fn encode_device(expires_at: i64, state: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(8 + state.len());
    value.extend_from_slice(&expires_at.to_be_bytes());
    value.extend_from_slice(state);
    value
}

/// A stored device authorization's expiry and state; a corrupt one is named by its user code.
fn decode_device<'a>(user_code: &str, value: &'a [u8]) -> Result<(i64, &'a [u8]), StoreError> {
    let (expiry, state) = value
        .split_first_chunk::<8>()
        .ok_or_else(|| StoreError::Corrupt(format!("device authorization {user_code}")))?;
    Ok((i64::from_be_bytes(*expiry), state))
}

/// The database directory owner-only (0700), and everything in it: directories 0700, files 0600,
/// whatever the umask they were created under or the mode a directory already had.
fn make_private(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            make_private(&entry.path())?;
        } else if kind.is_file() {
            std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

impl Health for SledStore {
    fn status(&self) -> StoreStatus {
        let (free_bytes, floor_bytes) = self.space.status();
        StoreStatus {
            free_bytes,
            floor_bytes,
            unavailable: None,
            audit_spool_bytes: None,
        }
    }

    fn footprint(&self) -> Footprint {
        Footprint {
            sessions: self.index.len() as u64,
            bytes_on_disk: self.db.size_on_disk().ok(),
        }
    }
}

fn revocation_key(revocation: &Revocation) -> String {
    match revocation {
        Revocation::Session { access_key_id, .. } => format!("session/{access_key_id}"),
        Revocation::RoleSessions { role_arn, .. } => format!("role/{role_arn}"),
        Revocation::Login { login_id, .. } => format!("login/{login_id}"),
    }
}

fn read_revocations(tree: &::sled::Tree) -> Result<Vec<Revocation>, StoreError> {
    tree.iter()
        .map(|entry| {
            let (key, value) = entry.map_err(backend)?;
            serde_json::from_slice(&value).map_err(|e| {
                StoreError::Corrupt(format!("revocation {}: {e}", String::from_utf8_lossy(&key)))
            })
        })
        .collect()
}

/// An expiry as 8 bytes that sort as the numbers do (sign bit flipped: negative times first).
/// Entries deleted per batch by a purge or a prune (an audit entry holds one commit's events).
const PRUNE_CHUNK: usize = 1024;

/// How many events an audit entry holds; a corrupt entry counts as one (and is logged: its
/// events cannot be read, only deleted with it).
fn count_events(key: &[u8], value: &[u8]) -> u64 {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Entry {
        Batch(Vec<serde::de::IgnoredAny>),
        One(serde::de::IgnoredAny),
    }
    match record::events_json(value)
        .and_then(|json| serde_json::from_slice(&json).map_err(|e| e.to_string()))
    {
        Ok(Entry::Batch(events)) => u64::try_from(events.len()).unwrap_or(u64::MAX),
        Ok(Entry::One(_)) => 1,
        Err(e) => {
            tracing::warn!(entry = %describe_audit_key(key), error = %e, "pruning an unreadable audit entry");
            1
        }
    }
}

/// An audit key as an operator reads it: the time of its latest event and its sequence number.
fn describe_audit_key(key: &[u8]) -> String {
    match (
        split_prefixed_key(key),
        key.get(8..).and_then(|k| <[u8; 8]>::try_from(k).ok()),
    ) {
        (Some((unix_time, _)), Some(sequence)) => format!(
            "#{} of {}",
            u64::from_be_bytes(sequence),
            crate::clock::iso8601(crate::clock::from_unix_seconds(unix_time))
        ),
        _ => format!("with the key {key:02x?}"),
    }
}

/// Re-key the entries of a store written before audit keys were time-ordered (a sequence
/// number alone, which sorts before every time-ordered key): each goes under the time of its
/// latest event and keeps its sequence number. An entry whose events cannot be read goes under
/// time zero, so the first retention cut deletes it (it cannot be read anyway). Returns how
/// many entries were moved.
fn rekey_legacy_audit(audit: &::sled::Tree) -> Result<usize, StoreError> {
    let mut moved = 0;
    loop {
        let mut batch = ::sled::Batch::default();
        let mut entries = 0;
        for entry in audit.iter().take(PRUNE_CHUNK) {
            let (key, value) = entry.map_err(backend)?;
            let Ok(sequence) = <[u8; 8]>::try_from(&key[..]) else {
                break;
            };
            let latest = decode_events(&key, &value)
                .ok()
                .and_then(|events| events.iter().filter_map(AuditEvent::unix_time).max())
                .unwrap_or(0);
            batch.insert(&audit_key(latest, u64::from_be_bytes(sequence))[..], value);
            batch.remove(key);
            entries += 1;
        }
        if entries == 0 {
            return Ok(moved);
        }
        audit.apply_batch(batch).map_err(backend)?;
        moved += entries;
    }
}

/// How far apart the events of one audit entry can be, at most: an event's time is when its
/// request began, and a request runs an hour at most (`[server] request_timeout`). An entry
/// keyed at or after `until` + this holds no event before `until`.
const ENTRY_SPAN_SECONDS: i64 = 3600;

/// The key of an audit entry whose latest event happened at `unix_time`.
fn audit_key(unix_time: i64, sequence: u64) -> [u8; 16] {
    let mut key = [0; 16];
    key[..8].copy_from_slice(&expiry_bytes(unix_time));
    key[8..].copy_from_slice(&sequence.to_be_bytes());
    key
}

/// When `event` happened, in unix seconds.
fn event_time(event: &AuditEvent) -> Result<i64, StoreError> {
    event.unix_time().ok_or_else(|| {
        StoreError::Backend(format!(
            "audit event {} has no readable time ({:?})",
            event.request_id.escape_debug(),
            event.event_time
        ))
    })
}

/// `event` as the commit thread writes it.
fn encode_event(event: &AuditEvent) -> Result<EncodedEvent, StoreError> {
    Ok(EncodedEvent {
        unix_time: event_time(event)?,
        json: encode(event)?,
    })
}

fn expiry_bytes(expires_at: i64) -> [u8; 8] {
    (expires_at.cast_unsigned() ^ (1 << 63)).to_be_bytes()
}

/// A key of an expiry-ordered tree: the expiry, then the entry's own key (a session's access
/// key id, a replay key).
fn prefixed_key(expiry: [u8; 8], rest: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + rest.len());
    key.extend_from_slice(&expiry);
    key.extend_from_slice(rest);
    key
}

/// An expiry-ordered key's expiry and the entry's own key (`None` for a key too short to hold
/// an expiry, which this store never writes).
fn split_prefixed_key(key: &[u8]) -> Option<(i64, &[u8])> {
    let expiry = <[u8; 8]>::try_from(key.get(..8)?).ok()?;
    let expires_at = (u64::from_be_bytes(expiry) ^ (1 << 63)).cast_signed();
    Some((expires_at, key.get(8..)?))
}

/// The replay index's key of a replay key.
fn replay_index_key(key: &[u8]) -> Option<Box<[u8]>> {
    Some(Box::from(key))
}

/// The index of an expiry-ordered `tree`, from its keys alone (no value decoded). A key the
/// index cannot hold is reported (`what` names the tree's entries): its entry could never be
/// found. Of two entries with one key (an expired one not purged yet), the later expiry counts.
fn build_expiry_index<K: Hash + Eq>(
    tree: &::sled::Tree,
    what: &str,
    index_key: impl Fn(&[u8]) -> Option<K>,
) -> Result<ExpiryIndex<K>, StoreError> {
    let index = ExpiryIndex::default();
    for entry in tree.iter().keys() {
        let key = entry.map_err(backend)?;
        let entry = split_prefixed_key(&key)
            .and_then(|(expires_at, own)| Some((index_key(own)?, expires_at)));
        let Some((own, expires_at)) = entry else {
            return Err(StoreError::Corrupt(format!(
                "{what} key {}",
                String::from_utf8_lossy(&key).escape_debug()
            )));
        };
        if index.get(&own).is_none_or(|seen| seen < expires_at) {
            index.insert(own, expires_at);
        }
    }
    Ok(index)
}

/// Remove the entries of an expiry-ordered `tree` whose expiry is at or before `now_unix` (a
/// range scan: they sort first), then their index entries; returns how many. Not awaited
/// durable: a purge lost in a crash is simply redone by the next sweep. The index goes after the
/// records, so a lookup in between finds no record, never a stale one.
fn purge_expiry_ordered<K: Hash + Eq>(
    tree: &::sled::Tree,
    index: &ExpiryIndex<K>,
    now_unix: i64,
    index_key: impl Fn(&[u8]) -> Option<K>,
) -> Result<usize, StoreError> {
    let end = expiry_bytes(now_unix.saturating_add(1));
    let mut purged = 0;
    // In chunks: one batch of every expired entry held them all in memory at once (a purge
    // after a busy hour is millions of sessions).
    loop {
        let mut records = ::sled::Batch::default();
        let mut gone = Vec::with_capacity(PRUNE_CHUNK);
        let mut entries = 0;
        for entry in tree.range(..end).keys().take(PRUNE_CHUNK) {
            let key = entry.map_err(backend)?;
            if let Some((expires_at, own)) = split_prefixed_key(&key) {
                gone.push((index_key(own), expires_at));
            }
            records.remove(key);
            entries += 1;
        }
        if entries == 0 {
            return Ok(purged);
        }
        tree.apply_batch(records).map_err(backend)?;
        for (own, expires_at) in &gone {
            if let Some(own) = own {
                index.remove(own, *expires_at);
            }
        }
        purged += entries;
    }
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Backend(format!("encoding a record: {e}")))
}

/// A stored session; a corrupt one is named by its access key id (not a secret).
fn decode_session(
    access_key_id: &str,
    expires_at: i64,
    value: &[u8],
) -> Result<SessionRecord, StoreError> {
    record::decode_session(access_key_id, expires_at, value)
        .map_err(|e| StoreError::Corrupt(format!("session {access_key_id}: {e}")))
}

/// A stored user; a corrupt one is named by its user name.
fn decode_user(key: &[u8], value: &[u8]) -> Result<UserRecord, StoreError> {
    serde_json::from_slice(value)
        .map_err(|e| StoreError::Corrupt(format!("user {}: {e}", String::from_utf8_lossy(key))))
}

/// A stored audit entry (one event, or the events of one group commit); a corrupt one is named
/// by its sequence number.
fn decode_events(key: &[u8], value: &[u8]) -> Result<Vec<AuditEvent>, StoreError> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Entry {
        One(Box<AuditEvent>),
        Batch(Vec<AuditEvent>),
    }
    let corrupt = |e: &dyn std::fmt::Display| {
        StoreError::Corrupt(format!("audit entry {}: {e}", describe_audit_key(key)))
    };
    let json = record::events_json(value).map_err(|e| corrupt(&e))?;
    match serde_json::from_slice(&json) {
        Ok(Entry::One(event)) => Ok(vec![*event]),
        Ok(Entry::Batch(events)) => Ok(events),
        Err(e) => Err(corrupt(&e)),
    }
}

/// The sled database of `settings`.
fn open_db(settings: &StorageSettings) -> Result<::sled::Db, StoreError> {
    let path = settings.path.as_path();
    ::sled::Config::new()
        .path(path)
        .cache_capacity(settings.cache_capacity_bytes)
        .open()
        .map_err(|e| open_error(path, e))
}

fn open_error(path: &Path, e: ::sled::Error) -> StoreError {
    match e {
        ::sled::Error::Io(io) if io.to_string().contains(LOCK_HELD_MESSAGE) => StoreError::Locked {
            path: PathBuf::from(path),
        },
        other => StoreError::Backend(format!("opening {}: {other}", path.display())),
    }
}

fn backend(e: ::sled::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::Store;
    use crate::store::conformance::{Harness, conformance_suite, event, session};

    const CACHE_BYTES: u64 = 8 * 1024 * 1024;

    fn settings(path: &Path) -> StorageSettings {
        StorageSettings {
            path: path.to_owned(),
            cache_capacity_bytes: CACHE_BYTES,
            min_free_bytes: 0,
            ..StorageSettings::new(PathBuf::new(), 0)
        }
    }

    /// A sled store in a temporary directory; `open` again after dropping reopens the same data.
    pub(crate) struct SledHarness {
        dir: tempfile::TempDir,
    }

    impl SledHarness {
        fn new() -> Self {
            Self {
                dir: tempfile::tempdir().unwrap(),
            }
        }

        fn backend(&self) -> Arc<SledStore> {
            Arc::new(SledStore::open_when_released(&settings(self.dir.path()), 100).unwrap())
        }
    }

    impl Harness for SledHarness {
        type Backend = SledStore;

        fn open(&self) -> Arc<SledStore> {
            self.backend()
        }

        /// sled admits one handle per database: the second "handle" is the same one.
        fn second_handle(&self, first: &Arc<SledStore>) -> Arc<SledStore> {
            Arc::clone(first)
        }

        fn flush_count(store: &SledStore) -> Option<u64> {
            Some(store.flush_count())
        }
    }

    conformance_suite!(SledHarness::new());

    /// Whatever the umask, or the mode the directory already had, the database is owner-only.
    #[test]
    fn the_database_is_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sled");
        std::fs::create_dir(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let store = SledStore::open(&settings(&path)).unwrap();
        drop(store);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o700);
        let mut files = 0;
        for entry in std::fs::read_dir(&path).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                assert_eq!(mode(&entry.path()), 0o600, "{}", entry.path().display());
                files += 1;
            }
        }
        assert!(files > 0);
    }

    #[test]
    fn a_second_open_is_refused_as_locked() {
        let h = SledHarness::new();
        let _first = h.open();
        let err = SledStore::open(&settings(h.dir.path())).err().unwrap();
        assert!(matches!(err, StoreError::Locked { .. }), "{err}");
        assert!(err.to_string().contains("another process"), "{err}");
    }

    #[tokio::test]
    async fn a_corrupt_record_is_reported_not_skipped() {
        let h = SledHarness::new();
        let backend = h.open();
        let expiry = expiry_bytes(1_000);
        backend
            .sessions
            .insert(prefixed_key(expiry, b"ASIABROKEN"), &b"{not json"[..])
            .unwrap();
        backend
            .index
            .insert(session_index_key(b"ASIABROKEN").unwrap(), 1_000);
        let store = Store::on(backend);
        let err = store.sessions.get("ASIABROKEN").await.unwrap_err();
        assert!(
            matches!(err, StoreError::Corrupt(ref m) if m.contains("ASIABROKEN")),
            "{err}"
        );
        assert!(store.sessions.list(10).await.is_err());
    }

    /// Entries of one event (user changes, revocations) and of a batch read back as one trail,
    /// in order, cut at any point by the limit; a corrupt entry is reported.
    #[tokio::test]
    async fn audit_entries_of_one_event_and_of_a_batch_read_as_one_trail() {
        let h = SledHarness::new();
        let backend = h.open();
        let store = Store::on(backend.clone());
        store.audit.append(&event("a")).await.unwrap();
        backend
            .audit
            .insert(
                backend
                    .next_audit_key(event_time(&event("b")).unwrap())
                    .unwrap(),
                encode(&event("b")).unwrap(),
            )
            .unwrap();
        let writers: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let id = format!("c{i}");
                    store.sessions.put(&session(&id, 1_000), &event(&id)).await
                })
            })
            .collect();
        for writer in writers {
            writer.await.unwrap().unwrap();
        }
        let all = store.audit.list(100).await.unwrap();
        assert_eq!(all.len(), 10);
        assert_eq!(all[0].request_id, "a");
        assert_eq!(all[1].request_id, "b");
        for limit in 0..=10 {
            assert_eq!(
                store.audit.list(limit).await.unwrap(),
                all[10 - limit..],
                "limit {limit}"
            );
        }
        backend
            .audit
            .insert(
                backend.next_audit_key(i64::from(u32::MAX)).unwrap(),
                &b"[{}]"[..],
            )
            .unwrap();
        let err = store.audit.list(1).await.unwrap_err();
        assert!(
            matches!(err, StoreError::Corrupt(ref m) if m.contains("audit entry #")),
            "{err}"
        );
    }

    /// Refusals recorded one after another share an entry and a flush, instead of costing one
    /// each (what a stranger's flood of bad requests could make the daemon do).
    #[tokio::test]
    async fn recorded_events_share_entries_and_flushes() {
        let h = SledHarness::new();
        let backend = h.open();
        let store = Store::on(backend.clone());
        let flushes = backend.flush_count();
        for i in 0..200 {
            store.audit.record(&event(&format!("r{i}"))).await.unwrap();
        }
        assert_eq!(store.audit.list(1000).await.unwrap().len(), 200);
        assert!(
            backend.audit.len() <= 2,
            "{} entries for 200 events",
            backend.audit.len()
        );
        assert!(backend.flush_count() - flushes <= 2);
    }

    /// A store written before audit keys were time-ordered (the sequence number alone) opens
    /// with its entries re-keyed: read in time order, pruned by time; an unreadable entry goes
    /// at the first prune.
    #[tokio::test]
    async fn legacy_audit_entries_are_rekeyed_by_time_at_open() {
        let h = SledHarness::new();
        {
            let db = ::sled::Config::new().path(h.dir.path()).open().unwrap();
            let audit = db.open_tree(AUDIT_TREE).unwrap();
            let at = |id: &str, t: i64| AuditEvent {
                event_time: crate::clock::iso8601(crate::clock::from_unix_seconds(t)),
                ..event(id)
            };
            let batch = serde_json::to_vec(&[at("b1", 2_000), at("b2", 2_005)]).unwrap();
            audit.insert(1u64.to_be_bytes(), batch).unwrap();
            audit
                .insert(2u64.to_be_bytes(), encode(&at("one", 1_000)).unwrap())
                .unwrap();
            audit.insert(3u64.to_be_bytes(), &b"{broken"[..]).unwrap();
            db.flush().unwrap();
        }
        let backend = h.open();
        assert!(backend.audit.iter().keys().all(|k| k.unwrap().len() == 16));
        let store = Store::on(backend);
        let err = store.audit.list(10).await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
        assert_eq!(
            store.audit.prune_before(1).await.unwrap(),
            1,
            "the broken entry"
        );
        let ids =
            |events: Vec<AuditEvent>| events.into_iter().map(|e| e.request_id).collect::<Vec<_>>();
        assert_eq!(
            ids(store.audit.list(10).await.unwrap()),
            ["one", "b1", "b2"]
        );
        assert_eq!(
            store.audit.prune_before(2_001).await.unwrap(),
            1,
            "b1 stays with b2"
        );
        assert_eq!(store.audit.prune_before(2_006).await.unwrap(), 2);
    }

    /// The index is rebuilt from the tree at open: every session is found by id after a
    /// restart, a purged one is not, and an id the index cannot hold is refused at the write.
    #[tokio::test]
    async fn sessions_are_found_by_id_after_reopening() {
        let h = SledHarness::new();
        let store = Store::on(h.open());
        for (id, expires_at) in [("ASIAR1", -5), ("ASIAR2", 100), ("ASIAR3", 1_795_387_166)] {
            store
                .sessions
                .put(&session(id, expires_at), &event(id))
                .await
                .unwrap();
        }
        let long = session("ASIATOOLONGFORANACCESSKEYID", 100);
        assert!(store.sessions.put(&long, &event("long")).await.is_err());
        assert_eq!(store.purge_expired(0).await.unwrap(), 1);
        drop(store);
        let backend = h.open();
        assert_eq!(backend.index.len(), 2);
        let store = Store::on(backend);
        assert_eq!(store.sessions.get("ASIAR1").await.unwrap(), None);
        assert_eq!(
            store.sessions.get("ASIAR2").await.unwrap(),
            Some(session("ASIAR2", 100))
        );
        assert_eq!(
            store.sessions.get("ASIAR3").await.unwrap(),
            Some(session("ASIAR3", 1_795_387_166))
        );
        assert_eq!(
            store
                .sessions
                .get("ASIATOOLONGFORANACCESSKEYID")
                .await
                .unwrap(),
            None
        );
    }

    /// Replay entries are found through the index after a restart; a purge takes only the
    /// windows that have passed, in the tree and in the index.
    #[tokio::test]
    async fn replay_entries_are_kept_across_reopening_and_purged() {
        let key = |id: &str| ReplayKey::SamlAssertion {
            provider: "corp".into(),
            id: id.into(),
        };
        let h = SledHarness::new();
        let store = Store::on(h.open());
        assert!(
            store
                .replay
                .remember_once(&key("new"), 300, 100)
                .await
                .unwrap()
        );
        assert!(
            store
                .replay
                .remember_once(&key("old"), 200, 100)
                .await
                .unwrap()
        );
        assert!(
            store
                .replay
                .remember_once(&key("old"), 500, 250)
                .await
                .unwrap(),
            "window over"
        );
        drop(store);
        let backend = h.open();
        let store = Store::on(backend.clone());
        assert!(
            !store
                .replay
                .remember_once(&key("new"), 400, 299)
                .await
                .unwrap()
        );
        assert!(store.replay.is_remembered(&key("old"), 499).await.unwrap());
        store.purge_expired(300).await.unwrap();
        assert!(
            !store.replay.is_remembered(&key("new"), 299).await.unwrap(),
            "purged"
        );
        assert!(
            store.replay.is_remembered(&key("old"), 499).await.unwrap(),
            "the newer window stays"
        );
        assert_eq!(backend.replay.len(), 1, "only old@500 is left");
    }

    #[test]
    fn expiry_keys_sort_as_the_times_do() {
        let times = [i64::MIN, -5, -1, 0, 1, 99, 100, 1_795_387_166, i64::MAX];
        for pair in times.windows(2) {
            assert!(expiry_bytes(pair[0]) < expiry_bytes(pair[1]), "{pair:?}");
        }
        for t in [i64::MIN, -1, 0, 42, i64::MAX] {
            let key = prefixed_key(expiry_bytes(t), b"ASIAK");
            assert_eq!(split_prefixed_key(&key), Some((t, &b"ASIAK"[..])));
        }
        assert_eq!(split_prefixed_key(b"short"), None);
    }

    #[tokio::test]
    async fn dropping_the_store_stops_the_commit_thread() {
        let h = SledHarness::new();
        let store = Store::on(h.open());
        store.audit.append(&event("x")).await.unwrap();
        drop(store);
        let reopened = Store::on(h.open());
        assert_eq!(reopened.audit.list(10).await.unwrap().len(), 1);
        assert!(reopened.sessions.get("ASIANONE").await.unwrap().is_none());
    }
}
