//! The STS Query API: one handler per action. Parse parameters, call the seams (IdP verifiers,
//! policy, minter, store), render AWS XML. Errors go through the one table in [`error`].

mod access_key_info;
mod assume_role;
pub mod auth;
mod caller_identity;
mod decode_message;
pub mod error;
mod mfa;
pub mod params;
pub mod revocation;
mod saml;
mod session;
mod session_token;
mod web_identity;
pub mod xml;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::clock::Clock;
use crate::config::RoleSet;
use crate::creds::sigv4::Verifier;
use crate::creds::{CredentialMinter, SharedKeyring};
use crate::idp::IdpRegistry;
use crate::policy::Policy;
use crate::store::{AuditEvent, AuditIdentity, SessionStore};
pub use error::StsError;
pub use params::Params;

/// The API version every action is served under.
pub const API_VERSION: &str = "2011-06-15";

/// What the STS handlers work with.
pub struct StsState {
    pub roles: RoleSet,
    /// Managed policies by ARN, for `PolicyArns`.
    pub managed_policies: BTreeMap<String, Policy>,
    pub idps: IdpRegistry,
    pub minter: Arc<dyn CredentialMinter>,
    pub store: Arc<dyn SessionStore>,
    pub clock: Arc<dyn Clock>,
    /// Opens session tokens of signed requests.
    pub keyring: SharedKeyring,
    /// SigV4 verification with its signing-key cache.
    pub sigv4: Verifier,
    /// Revoked sessions, checked on every signed request.
    pub revocations: Arc<revocation::RevocationList>,
}

/// Facts about the HTTP request an action may use (condition keys, audit).
#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub request_id: String,
    pub source_ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    pub secure_transport: bool,
    /// What SigV4 covers, when the request carries a signature (header or presigned).
    pub signed: Option<auth::SignedParts>,
}

/// The audit event of a request, filled in as the handler learns who is calling.
pub(crate) struct AuditDraft {
    event: AuditEvent,
}

impl AuditDraft {
    fn new(action: &str, meta: &RequestMeta, params: &Params, event_time: String) -> Self {
        Self {
            event: AuditEvent {
                event_time,
                event_name: action.to_owned(),
                source_ip_address: meta.source_ip.map(|ip| ip.to_string()),
                user_agent: meta.user_agent.clone(),
                request_parameters: params.for_audit(),
                user_identity: AuditIdentity {
                    kind: "Unknown".into(),
                    ..AuditIdentity::default()
                },
                response_elements: None,
                error_code: None,
                error_message: None,
                request_id: meta.request_id.clone(),
            },
        }
    }

    pub(crate) fn identify(&mut self, identity: AuditIdentity) {
        self.event.user_identity = identity;
    }

    /// The signed caller as CloudTrail names it.
    pub(crate) fn identify_caller(&mut self, caller: &auth::Caller) {
        self.identify(AuditIdentity {
            kind: caller.principal_type().audit_kind().into(),
            identity_provider: None,
            principal_id: Some(caller.user_id()),
            user_name: caller.user_name(),
        });
    }

    /// The event of a success, with what was issued (ids and ARNs only).
    pub(crate) fn succeeded(&self, response: serde_json::Value) -> AuditEvent {
        let mut event = self.event.clone();
        event.response_elements = Some(response);
        event
    }

    /// Record the success of an action that issues nothing (durable before the response).
    pub(crate) async fn record_success(
        &self,
        state: &StsState,
        response: serde_json::Value,
    ) -> Result<(), StsError> {
        state
            .store
            .append_audit(&self.succeeded(response))
            .await
            .map_err(|e| StsError::Internal(e.to_string()))
    }

    fn failed(self, err: &StsError) -> AuditEvent {
        let mut event = self.event;
        event.error_code = Some(err.code().to_owned());
        event.error_message = Some(err.message());
        event
    }
}

/// Serve one STS request: route by `Action`/`Version`, run the action, audit a failure (a
/// successful action records its own event, durably with what it issued). Returns the XML body of
/// a success.
pub async fn handle(
    state: &StsState,
    meta: &RequestMeta,
    params: &Params,
) -> Result<String, StsError> {
    let action = params.get("Action").ok_or(StsError::MissingAction)?;
    let version = params.get("Version").unwrap_or("NO_VERSION_SPECIFIED");
    let invalid = || StsError::InvalidAction {
        action: action.to_owned(),
        version: version.to_owned(),
    };
    if version != API_VERSION {
        return Err(invalid());
    }
    let now = state.clock.now();
    let mut audit = AuditDraft::new(action, meta, params, crate::clock::iso8601(now));
    let result = match action {
        "AssumeRoleWithWebIdentity" => {
            web_identity::assume_role_with_web_identity(state, meta, params, now, &mut audit).await
        }
        "AssumeRoleWithSAML" => {
            saml::assume_role_with_saml(state, meta, params, now, &mut audit).await
        }
        "AssumeRole" => assume_role::assume_role(state, meta, params, now, &mut audit).await,
        "GetAccessKeyInfo" => {
            access_key_info::get_access_key_info(state, meta, params, now, &mut audit).await
        }
        "GetCallerIdentity" => {
            caller_identity::get_caller_identity(state, meta, now, &mut audit).await
        }
        "GetSessionToken" => {
            session_token::get_session_token(state, meta, params, now, &mut audit).await
        }
        "GetFederationToken" => {
            session_token::get_federation_token(state, meta, params, now, &mut audit).await
        }
        "DecodeAuthorizationMessage" => {
            decode_message::decode_authorization_message(state, meta, params, now, &mut audit).await
        }
        _ => return Err(invalid()),
    };
    if let Err(err) = &result
        && let Err(store_err) = state.store.append_audit(&audit.failed(err)).await
    {
        tracing::error!(error = %store_err, "could not record the failed request in the audit trail");
    }
    result
}
