//! The authorization API for resource services: "may this signed request do this?".
//!
//! A service that receives requests signed with credentials this daemon issued (or with an IAM
//! user's long-term key) sends its view of the request — method, path, query, headers, payload
//! hash — with the action, the resource and any extra condition keys. [`authorize`] verifies the
//! SigV4 signature exactly as the STS endpoint does (revocations included), then evaluates the
//! caller's permission policies intersected with its session policies and answers with the
//! verified principal, the decision and the statements that decided it. A denial carries an
//! encoded authorization message that `sts:DecodeAuthorizationMessage` opens.
//!
//! Over HTTP it is `POST /v1/authorize` with `Authorization: Bearer <service secret>`
//! ([`handle`]); in Rust it is [`authorize`] on the daemon's [`State`].

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::audit::{AuditDraft, AuditEvent, AuditIdentity, EventName, IdentityKind};
use crate::clock::{from_unix_seconds, iso8601, unix_seconds};
use crate::config::AuthorizationService;
use crate::error::ApiError;
use crate::origin::Origin;
use crate::policy::{ContextKeys, EvalDecision, MatchedStatement, RequestContext};
use crate::principal::{Caller, SignedParts, encode_message, permissions};
use crate::state::State;

/// Longest action, resource or context key accepted (IAM's own limits are smaller).
const MAX_NAME_LEN: usize = 2048;
/// Most context keys and values a request may add.
const MAX_CONTEXT_VALUES: usize = 256;

/// The service's view of the request it received.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestView {
    pub method: String,
    /// The path as received (still percent-encoded).
    pub path: String,
    /// The raw query string, without `?` (presigned requests carry their signature here).
    #[serde(default)]
    pub query: String,
    /// Header name -> value, as received (repeated headers joined with `,`).
    pub headers: BTreeMap<String, String>,
    /// Hex SHA-256 of the body, or `UNSIGNED-PAYLOAD` when the client signed it so.
    pub payload_sha256: String,
}

/// A condition-key value: one string or several.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ContextValue {
    One(String),
    Many(Vec<String>),
}

/// `POST /v1/authorize` input.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeRequest {
    pub request: RequestView,
    /// e.g. `photos:GetPhoto`.
    pub action: String,
    /// The resource ARN the action is on.
    pub resource: String,
    /// Extra condition keys (`photos:Album`, `aws:SourceIp`, ...). Keys describing the
    /// principal are set from the verified credentials and may not be supplied.
    #[serde(default)]
    pub context: BTreeMap<String, ContextValue>,
}

/// The verified principal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    pub arn: String,
    pub account: String,
    pub user_id: String,
    /// `User`, `AssumedRole` or `FederatedUser`.
    #[serde(rename = "type")]
    pub kind: String,
    pub access_key_id: String,
    /// The role session or federated user name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_name: Option<String>,
    pub tags: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_identity: Option<String>,
    pub mfa_authenticated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_age_seconds: Option<i64>,
    /// RFC 3339, for temporary credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_issue_time: Option<String>,
}

/// `POST /v1/authorize` output (HTTP 200 whether allowed or denied).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthorizeResponse {
    pub principal: Principal,
    /// The service the signature is scoped to (`X-Amz-Credential` / `Credential=`).
    pub signing_service: String,
    pub allowed: bool,
    /// `allowed`, `explicitDeny` or `implicitDeny`.
    pub decision: EvalDecision,
    /// The statements that decided: every applying Deny for an explicit deny, the applying
    /// Allows for an allow, none for an implicit deny.
    pub matched_statements: Vec<MatchedStatement>,
    /// On a denial: what `sts:DecodeAuthorizationMessage` decodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoded_authorization_message: Option<String>,
}

/// One `POST /v1/authorize`: the service by its bearer secret (`Unauthorized` without a valid
/// one, not audited: nobody is known), the JSON body (`InvalidRequest`, not audited: nothing is
/// known of it), then the decision, recorded durably in the audit trail with the service and the
/// principal before it is returned.
pub async fn handle(
    state: &State,
    bearer: Option<&str>,
    body: &[u8],
    origin: &Origin,
) -> Result<AuthorizeResponse, ApiError> {
    let federation = state.federation();
    let service = bearer
        .and_then(|secret| service_by_bearer(&federation.authorization_services, secret))
        .ok_or(ApiError::Unauthorized)?;
    let input: AuthorizeRequest = serde_json::from_slice(body).map_err(|e| {
        // Position only: serde's text may quote a value, and the input carries the signed
        // request's headers (session token, signature).
        ApiError::InvalidRequest(format!(
            "The request is not a valid authorization request ({:?} error at line {}, column {}).",
            e.classify(),
            e.line(),
            e.column()
        ))
    })?;
    let now = state.clock().now();
    let mut claimed_key = None;
    let outcome =
        authorize_claiming(state, &input, &service.signing_name, now, &mut claimed_key).await;
    let event = audit_event(
        &service.name,
        &input,
        &outcome,
        claimed_key.as_deref(),
        origin,
        now,
    );
    state.store().audit.append(&event).await?;
    if let Ok(decision) = &outcome {
        tracing::info!(service = %service.name, action = %input.action, allowed = decision.allowed, "authorization decided");
    }
    outcome
}

/// The configured service whose bearer secret this is. Every service's digest is compared in
/// constant time (no early exit reveals which one, or how much, matched).
fn service_by_bearer<'s>(
    services: &'s [AuthorizationService],
    secret: &str,
) -> Option<&'s AuthorizationService> {
    use subtle::ConstantTimeEq as _;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
    let mut found = None;
    for service in services {
        if bool::from(service.bearer_sha256.ct_eq(digest.as_ref())) {
            found.get_or_insert(service);
        }
    }
    found
}

/// Verify the request, signed for `signing_service` (the credential scope's service), and
/// decide `action` on `resource` for its signer.
pub async fn authorize(
    state: &State,
    input: &AuthorizeRequest,
    signing_service: &str,
    now: SystemTime,
) -> Result<AuthorizeResponse, ApiError> {
    authorize_claiming(state, input, signing_service, now, &mut None).await
}

/// [`authorize`], telling `claimed_key` the access key id a refused signature claimed (for the
/// audit trail: an id is no secret).
async fn authorize_claiming(
    state: &State,
    input: &AuthorizeRequest,
    signing_service: &str,
    now: SystemTime,
    claimed_key: &mut Option<String>,
) -> Result<AuthorizeResponse, ApiError> {
    check_input(input)?;
    let parts = SignedParts {
        method: input.request.method.clone(),
        path: input.request.path.clone(),
        query: input.request.query.clone(),
        headers: input
            .request
            .headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect(),
        payload_sha256_hex: input.request.payload_sha256.clone(),
    };
    let principals = state.principals();
    let federation = state.federation();
    let verified = principals
        .verify(&parts, signing_service, &federation, now)
        .await
        .map_err(|refused| {
            *claimed_key = refused.access_key_id;
            ApiError::Auth(refused.error)
        })?;
    let caller = verified.caller;
    let mut keys = ContextKeys::default();
    for (key, value) in &input.context {
        match value {
            ContextValue::One(v) => keys.insert(key, v.clone()),
            ContextValue::Many(vs) => {
                for v in vs {
                    keys.insert(key, v.clone());
                }
            }
        }
    }
    keys.insert("aws:CurrentTime", iso8601(now));
    keys.insert("aws:EpochTime", unix_seconds(now).to_string());
    caller.context_keys(now, &mut keys);
    let request = RequestContext {
        principals: Vec::new(),
        action: input.action.clone(),
        resource: Some(input.resource.clone()),
        keys,
    };
    let permissions = permissions(&federation, principals.users(), &caller).await?;
    let simulation = permissions.simulate(&request, now);
    let allowed = simulation.decision == EvalDecision::Allowed;
    let encoded_authorization_message = if allowed {
        None
    } else {
        Some(encode_message(
            &principals.keyring().snapshot(),
            &caller,
            &request,
            &simulation,
        )?)
    };
    Ok(AuthorizeResponse {
        principal: principal_view(&caller, now),
        signing_service: verified.service,
        allowed,
        decision: simulation.decision,
        matched_statements: simulation.matched_statements,
        encoded_authorization_message,
    })
}

/// Bounds, and no principal key supplied by the service (those come from the credentials).
fn check_input(input: &AuthorizeRequest) -> Result<(), ApiError> {
    let invalid = |m: String| Err(ApiError::InvalidRequest(m));
    if input.action.is_empty() || input.action.len() > MAX_NAME_LEN || !input.action.contains(':') {
        return invalid("action must be service:Action".into());
    }
    if input.resource.is_empty() || input.resource.len() > MAX_NAME_LEN {
        return invalid("resource must be 1-2048 characters".into());
    }
    let values: usize = input
        .context
        .values()
        .map(|v| match v {
            ContextValue::One(_) => 1,
            ContextValue::Many(vs) => vs.len(),
        })
        .sum();
    if values > MAX_CONTEXT_VALUES {
        return invalid(format!("at most {MAX_CONTEXT_VALUES} context values"));
    }
    for key in input.context.keys() {
        if key.is_empty() || key.len() > MAX_NAME_LEN {
            return invalid("context keys must be 1-2048 characters".into());
        }
        if is_principal_key(key) {
            return invalid(format!(
                "context key {key} describes the principal and is set from its credentials"
            ));
        }
    }
    Ok(())
}

/// Keys only the verified credentials may set.
fn is_principal_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "aws:principalarn",
        "aws:principalaccount",
        "aws:principaltype",
        "aws:userid",
        "aws:username",
        "aws:tokenissuetime",
        "aws:multifactorauthpresent",
        "aws:multifactorauthage",
        "aws:sourceidentity",
        "aws:federatedprovider",
        "aws:currenttime",
        "aws:epochtime",
    ]
    .contains(&key.as_str())
        || key.starts_with("aws:principaltag/")
}

fn principal_view(caller: &Caller, now: SystemTime) -> Principal {
    let session = caller.session().map(|c| &c.session);
    let mfa_at = caller.mfa_authenticated_at();
    Principal {
        arn: caller.arn(),
        account: caller.account_id().to_owned(),
        user_id: caller.user_id(),
        kind: caller.principal_type().as_str().to_owned(),
        access_key_id: caller.access_key_id.clone(),
        session_name: session
            .filter(|s| s.kind != crate::creds::SessionKind::User)
            .map(|s| s.session_name.clone()),
        tags: session.map(|s| s.session_tags.clone()).unwrap_or_default(),
        source_identity: session.and_then(|s| s.source_identity.clone()),
        mfa_authenticated: mfa_at.is_some(),
        mfa_age_seconds: mfa_at.map(|at| unix_seconds(now).saturating_sub(at).max(0)),
        token_issue_time: caller
            .token_issued_at()
            .map(|at| iso8601(from_unix_seconds(at))),
    }
}

/// The audit event of one authorization call: which service asked, about whom (for a refused
/// signature, the access key id it claimed), what was decided. Never the signature, the session
/// token or the headers.
pub fn audit_event(
    service: &str,
    input: &AuthorizeRequest,
    outcome: &Result<AuthorizeResponse, ApiError>,
    claimed_key: Option<&str>,
    origin: &Origin,
    now: SystemTime,
) -> AuditEvent {
    let origin = Origin {
        user_agent: Some(format!("service/{service}")),
        source_ip: None,
        ..origin.clone()
    };
    let mut draft = AuditDraft::new(
        EventName::Authorize,
        &origin,
        serde_json::json!({
            "service": service,
            "action": input.action,
            "resource": input.resource,
            "method": input.request.method,
            "path": input.request.path,
        }),
        now,
    );
    match outcome {
        Ok(r) => {
            let kind = match r.principal.kind.as_str() {
                "User" => IdentityKind::IamUser,
                "FederatedUser" => IdentityKind::FederatedUser,
                _ => IdentityKind::AssumedRole,
            };
            draft.identify(AuditIdentity {
                arn: Some(r.principal.arn.clone()),
                account_id: Some(r.principal.account.clone()),
                access_key_id: Some(r.principal.access_key_id.clone()),
                ..AuditIdentity::principal(kind, r.principal.user_id.clone(), None)
            });
            draft.succeeded(serde_json::json!({
                "allowed": r.allowed,
                "decision": r.decision,
                "arn": r.principal.arn,
                "accessKeyId": r.principal.access_key_id,
            }))
        }
        Err(e) => {
            if let Some(key) = claimed_key {
                draft.identify(AuditIdentity::claimed_key(key));
            }
            draft.failed(e.code(), e.message())
        }
    }
}
