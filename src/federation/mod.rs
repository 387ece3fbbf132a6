//! From a verified identity to credentials: trust decision -> grant -> issue (durable) -> audit.
//!
//! The protocol adapters (the STS API, the portal, the SSO API) verify who is asking (an IdP
//! for a federated identity, `principal` for a signed caller), describe the request's
//! [`Origin`], and call this module; they never decide trust or mint credentials themselves.
//! [`assumable_roles`] lists what an identity may assume, for pickers.

mod chain;
mod federated;
mod roles;
mod signed_in;
mod steps;
#[cfg(test)]
mod tests;
mod user;

pub use chain::CHAINED_MAX_SECONDS;

use std::sync::Arc;
use std::time::SystemTime;

pub use chain::{AssumeRoleAsk, assume_role};
pub use federated::{SamlSubject, SessionAsk, assume_role_signed_in, assume_role_with_identity};
pub use roles::{AssumableRole, assumable_roles};
pub use signed_in::{audit_identity, record_refusal, saml_provider_of};
pub use steps::{SessionPolicies, check_session_tags};
pub use user::{FederationTokenAsk, get_federation_token, get_session_token};

use crate::audit::AuditDraft;
use crate::clock::{iso8601, unix_seconds};
use crate::config::Federation;
use crate::creds::{CredentialMinter, Credentials, Grant, MintError, Session};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::origin::Origin;
use crate::principal::Authenticator;
use crate::store::{ReplayCache, ReplayKey, SessionRecord, Sessions, Store};

/// What issuing works with: the federation in force, the issuer, who-is-calling.
#[derive(Clone, Copy)]
pub struct Domain<'a> {
    pub federation: &'a Federation,
    pub issuer: &'a Issuer,
    pub principals: &'a Authenticator,
}

/// The request a session is issued for: where it came from, the audit event that records it
/// (its success is written with the session record), and its time.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    pub origin: &'a Origin,
    pub audit: &'a AuditDraft,
    pub now: SystemTime,
}

/// Mints credentials and makes their session record durable.
pub struct Issuer {
    minter: Arc<dyn CredentialMinter>,
    /// Counts what is issued.
    metrics: Arc<Metrics>,
    sessions: Arc<dyn Sessions>,
    /// One-time credentials (SAML assertions) are used up here, when credentials are issued.
    replay: Arc<dyn ReplayCache>,
}

/// A one-time credential a session is issued for: remembered until `until_unix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OneTimeUse {
    pub key: ReplayKey,
    pub until_unix: i64,
}

/// What was issued, for the adapter to render.
#[derive(Debug)]
pub struct Issued {
    pub credentials: Credentials,
    pub session: Session,
    /// PackedPolicySize, when session policies or tags were passed.
    pub packed_policy_size: Option<u32>,
    /// What AWS reports about a SAML subject.
    pub saml: Option<SamlSubject>,
}

impl Issuer {
    pub fn new(minter: Arc<dyn CredentialMinter>, store: &Store, metrics: Arc<Metrics>) -> Self {
        Self {
            minter,
            metrics,
            sessions: Arc::clone(&store.sessions),
            replay: Arc::clone(&store.replay),
        }
    }

    /// Use up `one_time` (if the session is issued for one: refused if it was used before, of
    /// two concurrent uses one wins), mint credentials for `grant`, and make the session record
    /// and the request's audit event (with what was issued and `response_extra`) durable before
    /// returning them.
    pub(crate) async fn issue(
        &self,
        grant: &Grant,
        audience: &str,
        one_time: Option<&OneTimeUse>,
        request: &Request<'_>,
        response_extra: serde_json::Value,
    ) -> Result<Credentials, ApiError> {
        let Request { origin, audit, now } = *request;
        if let Some(once) = one_time {
            let first_use = self
                .replay
                .remember_once(&once.key, once.until_unix, unix_seconds(now))
                .await
                .map_err(ApiError::from)?;
            if !first_use {
                return Err(ApiError::InvalidIdentityToken {
                    fault: crate::idp::TokenFault::Replay,
                    detail: "a one-time credential was used before".into(),
                });
            }
        }
        let (credentials, _claims) = self.minter.mint(grant, now).map_err(|e| match e {
            // Sealed sessions have a size cap; policies and tags are what make one large.
            MintError::TooLarge { .. } => ApiError::PackedPolicyTooLarge(101),
            other => ApiError::Internal(other.to_string()),
        })?;
        let record = SessionRecord {
            access_key_id: credentials.access_key_id.clone(),
            session: grant.session.clone(),
            audience: audience.to_owned(),
            issued_at: unix_seconds(now),
            expires_at: unix_seconds(credentials.expiration),
            request_id: origin.request_id.clone(),
            source_ip: origin.source_ip.map(|ip| ip.to_string()),
        };
        let mut response = serde_json::json!({
            "credentials": {
                "accessKeyId": record.access_key_id,
                "expiration": iso8601(credentials.expiration),
            },
            "assumedRoleUser": {
                "assumedRoleId": record.session.caller_id(),
                "arn": record.session.caller_arn,
            },
        });
        if let (Some(obj), serde_json::Value::Object(extra)) =
            (response.as_object_mut(), response_extra)
        {
            obj.extend(extra);
        }
        self.sessions
            .put(&record, &audit.succeeded(response))
            .await
            .map_err(ApiError::from)?;
        let action = audit.name().as_str();
        self.metrics
            .credentials_issued(action, &record.session.identity_arn);
        // The one line per issued credential: ids and ARNs, never the secret or session token.
        tracing::info!(
            request_id = %record.request_id,
            action,
            role = %record.session.identity_arn,
            subject = %record.session.subject,
            access_key_id = %record.access_key_id,
            expiration = %iso8601(credentials.expiration),
            "credentials issued"
        );
        Ok(credentials)
    }
}
