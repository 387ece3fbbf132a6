//! Durable records: sessions, audit trail, replay cache, revocations, users.
//!
//! The store knows no business rules. Every write the caller awaits is durable when the future
//! resolves: writes are applied, then a flush shared by all concurrent writers (group commit) runs
//! on one dedicated thread.

#[cfg(test)]
mod conformance;
mod expiry_index;
mod group_commit;
pub mod sled_store;

use std::path::PathBuf;

pub use sled_store::SledStore;

use crate::creds::Session;
use crate::users::UserRecord;

/// A session as recorded (no secret, no session token).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionRecord {
    pub access_key_id: String,
    #[serde(flatten)]
    pub session: Session,
    /// The audience the IdP vouched for (client id / SAML Recipient).
    pub audience: String,
    /// Unix seconds.
    pub issued_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
    pub request_id: String,
    pub source_ip: Option<String>,
}

/// The identity an audit event is about (CloudTrail `userIdentity`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditIdentity {
    /// `WebIdentityUser`, `SAMLUser`, `AssumedRole`, `IAMUser`, `Unknown`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
}

/// A CloudTrail-like record of one request, successful or not. Never holds a token, assertion,
/// secret or session token.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// RFC 3339 UTC.
    pub event_time: String,
    pub event_name: String,
    #[serde(rename = "sourceIPAddress")]
    pub source_ip_address: Option<String>,
    pub user_agent: Option<String>,
    /// Request parameters with every credential-bearing parameter removed.
    pub request_parameters: serde_json::Value,
    pub user_identity: AuditIdentity,
    /// On success: what was issued (ids and ARNs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_elements: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(rename = "requestID")]
    pub request_id: String,
}

/// A revocation, as `sessions revoke` and `roles revoke-sessions` record it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Revocation {
    /// One session, until it would have expired anyway.
    Session {
        access_key_id: String,
        expires_at: i64,
    },
    /// Every session of a role issued at or before a time (AWS's "revoke active sessions").
    RoleSessions {
        role_arn: String,
        issued_at_or_before: i64,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage: {0}")]
    Backend(String),
    #[error("corrupt record: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the commit thread is gone")]
    Closed,
    /// Another process (usually a running daemon) has the database open; sled allows one.
    #[error("database {} is in use by another process", path.display())]
    Locked { path: PathBuf },
}

/// The store seam. Run `conformance` against every backend.
#[async_trait::async_trait]
pub trait SessionStore: Send + Sync {
    /// Record an issued session and its audit event; durable when this resolves.
    async fn put_session(
        &self,
        session: &SessionRecord,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Append an audit event (failed requests); durable when this resolves.
    async fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError>;
    fn get_session(&self, access_key_id: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// Sessions, the latest to expire first (ties by access key id, descending), at most
    /// `limit`.
    fn list_sessions(&self, limit: usize) -> Result<Vec<SessionRecord>, StoreError>;
    /// Audit events in the order they were appended, at most `limit`, newest last.
    fn list_audit(&self, limit: usize) -> Result<Vec<AuditEvent>, StoreError>;
    /// Delete sessions whose `expires_at` is at or before `now_unix`, and replay-cache entries
    /// past their window; returns how many sessions.
    fn purge_expired(&self, now_unix: i64) -> Result<usize, StoreError>;
    /// Remember `key` until `until_unix` unless it is already remembered and its window has not
    /// passed at `now_unix`. Returns `true` when this call remembered it (first use), `false` for
    /// a replay. Atomic: of two concurrent calls with one key, exactly one gets `true`. The entry
    /// is made durable by the next flush (every issued credential's flush covers it).
    fn remember_once(&self, key: &str, until_unix: i64, now_unix: i64) -> Result<bool, StoreError>;
    /// Whether `key` is remembered and its window has not passed at `now_unix` (read only).
    fn is_remembered(&self, key: &str, now_unix: i64) -> Result<bool, StoreError>;
    /// Record a revocation with its audit event; durable when this resolves. A later
    /// revocation of the same role replaces an earlier one.
    async fn revoke(&self, revocation: &Revocation, audit: &AuditEvent) -> Result<(), StoreError>;
    /// Every revocation still in force.
    fn revocations(&self) -> Result<Vec<Revocation>, StoreError>;
    /// Create or replace a user with its audit event, keeping the access-key index in step
    /// (keys no longer in the record stop resolving); durable when this resolves. With
    /// `create`, fails with [`StoreError::Conflict`] if the user exists.
    async fn put_user(
        &self,
        user: &UserRecord,
        create: bool,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    fn get_user(&self, name: &str) -> Result<Option<UserRecord>, StoreError>;
    /// Every user, by name.
    fn list_users(&self) -> Result<Vec<UserRecord>, StoreError>;
    /// The user holding long-term access key `access_key_id`, if any.
    fn user_by_access_key(&self, access_key_id: &str) -> Result<Option<UserRecord>, StoreError>;
}
