//! The STS Query API: one handler per action, each a thin adapter. A handler parses its
//! parameters against the STS model's constraints, calls `federation`/`principal`, and renders
//! AWS XML; errors are rendered from the one table in `crate::error`.

mod access_key_info;
mod assume_role;
mod caller;
mod caller_identity;
mod decode_message;
pub mod params;
mod saml;
mod session_token;
mod web_identity;
pub mod xml;

use crate::action::Action;
use crate::audit::{AuditDraft, EventName};
use crate::config::Federation;
use crate::error::ApiError;
use crate::federation::{Domain, Request};
use crate::origin::Origin;
use crate::principal::SignedParts;
use crate::state::State;
pub use params::Params;

/// The API version every action is served under.
pub const API_VERSION: &str = "2011-06-15";

/// What the HTTP layer knows about an STS request beyond its parameters.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub origin: Origin,
    /// What SigV4 covers, when the request carries a signature (header or presigned).
    pub signed: Option<SignedParts>,
    /// A `HEAD` request: its answer has no body, so nothing may be issued for it.
    pub head: bool,
}

/// Serve one STS request: route by `Action`/`Version`, run the action, audit a failure (a
/// successful action records its own event, durably with what it issued). Returns the XML body of
/// a success.
pub async fn handle(
    state: &State,
    meta: &RequestMeta,
    params: &Params,
) -> Result<String, ApiError> {
    let name = params.get("Action").ok_or(ApiError::MissingAction)?;
    let version = params.get("Version").unwrap_or("NO_VERSION_SPECIFIED");
    let action = Action::from_name(name)
        .filter(|_| version == API_VERSION)
        .ok_or_else(|| ApiError::InvalidAction {
            action: name.to_owned(),
            version: version.to_owned(),
        })?;
    if meta.head && action.issues_credentials() {
        return Err(ApiError::ValidationMessage(
            "A HEAD request may not call an action that issues credentials; use GET or POST.",
        ));
    }
    let now = state.clock().now();
    let mut audit = AuditDraft::new(
        EventName::Sts(action),
        &meta.origin,
        params.for_audit(action),
        now,
    );
    let ctx = Context { state, meta, now };
    let result = match action {
        Action::AssumeRoleWithWebIdentity => {
            web_identity::assume_role_with_web_identity(&ctx, params, &mut audit).await
        }
        Action::AssumeRoleWithSaml => saml::assume_role_with_saml(&ctx, params, &mut audit).await,
        Action::AssumeRole => assume_role::assume_role(&ctx, params, &mut audit).await,
        Action::GetAccessKeyInfo => {
            access_key_info::get_access_key_info(&ctx, params, &mut audit).await
        }
        Action::GetCallerIdentity => caller_identity::get_caller_identity(&ctx, &mut audit).await,
        Action::GetSessionToken => session_token::get_session_token(&ctx, params, &mut audit).await,
        Action::GetFederationToken => {
            session_token::get_federation_token(&ctx, params, &mut audit).await
        }
        Action::DecodeAuthorizationMessage => {
            decode_message::decode_authorization_message(&ctx, params, &mut audit).await
        }
    };
    if let Err(err) = &result
        && let Err(store_err) = state
            .store()
            .audit
            .record(&audit.failed(err.code(), err.message()))
            .await
    {
        tracing::error!(error = %store_err, "could not record the failed request in the audit trail");
    }
    result
}

/// What every handler works with.
struct Context<'a> {
    state: &'a State,
    meta: &'a RequestMeta,
    now: std::time::SystemTime,
}

impl Context<'_> {
    fn origin(&self) -> &Origin {
        &self.meta.origin
    }

    /// What `federation` works with, over the federation this request took.
    fn domain<'f>(&'f self, federation: &'f Federation) -> Domain<'f> {
        Domain {
            federation,
            issuer: self.state.issuer(),
            principals: self.state.principals(),
        }
    }

    /// This request, for `federation`, with its audit event.
    fn request<'r>(&'r self, audit: &'r AuditDraft) -> Request<'r> {
        Request {
            origin: &self.meta.origin,
            audit,
            now: self.now,
        }
    }

    fn request_id(&self) -> &str {
        &self.meta.origin.request_id
    }

    /// Record the success of an action that issues nothing (durable before the response).
    async fn record_success(
        &self,
        audit: &AuditDraft,
        response: serde_json::Value,
    ) -> Result<(), ApiError> {
        self.state
            .store()
            .audit
            .append(&audit.succeeded(response))
            .await
            .map_err(ApiError::from)
    }
}
