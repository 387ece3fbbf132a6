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
//! Over HTTP it is `POST /v1/authorize` with `Authorization: Bearer <service secret>` (see
//! `server`); in Rust it is [`authorize`] on the daemon's [`StsState`].

use std::collections::BTreeMap;
use std::time::SystemTime;

use aws_lc_rs::rand::SystemRandom;
use serde::{Deserialize, Serialize};

use crate::clock::{from_unix_seconds, iso8601, unix_seconds};
use crate::creds::sealed;
use crate::creds::sigv4::SigV4Error;
use crate::policy::{ContextKeys, EvalDecision, MatchedStatement, RequestContext};
use crate::store::{AuditEvent, AuditIdentity};
use crate::sts::StsState;
use crate::sts::auth::{Caller, SignedParts, permissions, verify_signed};

/// What the encoded authorization message is sealed for (never opens as anything else).
const MESSAGE_PURPOSE: &str = "authorization-message";
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

/// Why no decision could be made.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizeError {
    /// The signature or credentials were refused (AWS codes: `SignatureDoesNotMatch`, ...).
    #[error("authentication: {}", .0.code())]
    Auth(SigV4Error),
    /// The input itself is unusable.
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("internal: {0}")]
    Internal(String),
}

/// Verify the signed request and decide `action` on `resource` for its signer.
pub fn authorize(
    state: &StsState,
    input: &AuthorizeRequest,
    now: SystemTime,
) -> Result<AuthorizeResponse, AuthorizeError> {
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
    let (caller, signing_service) =
        verify_signed(state, &parts, now).map_err(AuthorizeError::Auth)?;
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
    let permissions =
        permissions(state, &caller).map_err(|e| AuthorizeError::Internal(e.to_string()))?;
    let simulation = permissions.simulate(&request, now);
    let allowed = simulation.decision == EvalDecision::Allowed;
    let encoded_authorization_message = if allowed {
        None
    } else {
        Some(encode_message(
            &state.keyring.snapshot(),
            &caller,
            &request,
            &simulation,
        )?)
    };
    Ok(AuthorizeResponse {
        principal: principal_view(&caller, now),
        signing_service,
        allowed,
        decision: simulation.decision,
        matched_statements: simulation.matched_statements,
        encoded_authorization_message,
    })
}

/// Bounds, and no principal key supplied by the service (those come from the credentials).
fn check_input(input: &AuthorizeRequest) -> Result<(), AuthorizeError> {
    let invalid = |m: String| Err(AuthorizeError::Invalid(m));
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

/// The decoded form of an authorization message, shaped like AWS's.
fn message_json(
    caller: &Caller,
    request: &RequestContext,
    simulation: &crate::policy::Simulation,
) -> serde_json::Value {
    let explicit = simulation.decision == EvalDecision::ExplicitDeny;
    serde_json::json!({
        "allowed": false,
        "explicitDeny": explicit,
        "matchedStatements": {
            "items": simulation.matched_statements.iter().map(|m| serde_json::json!({
                "statementId": m.sid,
                "sourcePolicyId": m.source_policy_id,
                "index": m.index,
                "effect": "DENY",
            })).collect::<Vec<_>>(),
        },
        "failures": { "items": [] },
        "context": {
            "principal": { "id": caller.user_id(), "arn": caller.arn() },
            "action": request.action,
            "resource": request.resource,
            "conditions": { "items": request.keys.iter().map(|(k, vs)| serde_json::json!({
                "key": k,
                "values": { "items": vs.iter().map(|v| serde_json::json!({ "value": v })).collect::<Vec<_>>() },
            })).collect::<Vec<_>>() },
        },
    })
}

/// Characters of the action and of the resource a message keeps when, even without its
/// conditions, it would not fit (JSON escapes a control character in six bytes, so 2048-byte
/// names can take 24 KiB).
const MESSAGE_NAME_CHARS: usize = 256;

/// Seal the message under the keyring: opaque to the caller, readable by
/// `DecodeAuthorizationMessage` on any node with the keyring. If the whole would exceed the
/// 10240-character `EncodedMessage` limit, conditions are dropped; if that is not enough, the
/// action and the resource are cut to [`MESSAGE_NAME_CHARS`] characters (marked with `…`).
fn encode_message(
    keyring: &crate::creds::Keyring,
    caller: &Caller,
    request: &RequestContext,
    simulation: &crate::policy::Simulation,
) -> Result<String, AuthorizeError> {
    let rng = SystemRandom::new();
    let mut message = message_json(caller, request, simulation);
    for attempt in 0..3 {
        let text = message.to_string();
        match sealed::seal(keyring, MESSAGE_PURPOSE, text.as_bytes(), &rng) {
            Ok(sealed) => return Ok(sealed),
            Err(crate::creds::MintError::TooLarge { .. }) if attempt == 0 => {
                message["context"]["conditions"] = serde_json::json!({ "items": [] });
            }
            Err(crate::creds::MintError::TooLarge { .. }) if attempt == 1 => {
                let context = &mut message["context"];
                for name in ["action", "resource"] {
                    if let Some(cut) = context[name].as_str().and_then(truncated) {
                        context[name] = serde_json::Value::String(cut);
                    }
                }
            }
            Err(crate::creds::MintError::TooLarge { .. }) => break,
            Err(e) => return Err(AuthorizeError::Internal(e.to_string())),
        }
    }
    Err(AuthorizeError::Internal(
        "authorization message too large".into(),
    ))
}

/// `text` cut to [`MESSAGE_NAME_CHARS`] characters and marked, if it is longer.
fn truncated(text: &str) -> Option<String> {
    let (cut, _) = text.char_indices().nth(MESSAGE_NAME_CHARS)?;
    Some(format!("{}…", &text[..cut]))
}

/// Open an encoded authorization message (for `DecodeAuthorizationMessage`): the JSON text, or
/// `None` if it was not produced by a keyring this daemon holds.
pub fn decode_message(state: &StsState, encoded: &str) -> Option<String> {
    let keyring = state.keyring.snapshot();
    let plain = sealed::open(&keyring, MESSAGE_PURPOSE, encoded).ok()?;
    String::from_utf8(plain).ok()
}

/// The audit event of one authorization call: who asked (the service), about whom, what was
/// decided. Never the signature, the session token or the headers.
pub fn audit_event(
    service: &str,
    input: &AuthorizeRequest,
    outcome: &Result<AuthorizeResponse, AuthorizeError>,
    request_id: &str,
    now: SystemTime,
) -> AuditEvent {
    let (user_identity, response_elements, error_code) = match outcome {
        Ok(r) => (
            AuditIdentity {
                kind: match r.principal.kind.as_str() {
                    "User" => "IAMUser".into(),
                    other => other.to_owned(),
                },
                identity_provider: None,
                principal_id: Some(r.principal.user_id.clone()),
                user_name: None,
            },
            Some(serde_json::json!({
                "allowed": r.allowed,
                "decision": r.decision,
                "arn": r.principal.arn,
                "accessKeyId": r.principal.access_key_id,
            })),
            None,
        ),
        Err(e) => (
            AuditIdentity {
                kind: "Unknown".into(),
                ..AuditIdentity::default()
            },
            None,
            Some(e.code().to_owned()),
        ),
    };
    AuditEvent {
        event_time: iso8601(now),
        event_name: "Authorize".into(),
        source_ip_address: None,
        user_agent: Some(format!("service/{service}")),
        request_parameters: serde_json::json!({
            "service": service,
            "action": input.action,
            "resource": input.resource,
            "method": input.request.method,
            "path": input.request.path,
        }),
        user_identity,
        response_elements,
        error_code,
        error_message: outcome.as_ref().err().map(ToString::to_string),
        request_id: request_id.to_owned(),
    }
}

impl AuthorizeError {
    /// The code the JSON error carries (AWS's for authentication failures).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Auth(e) => e.code(),
            Self::Invalid(_) => "InvalidRequest",
            Self::Internal(_) => "InternalFailure",
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::rand::SystemRandom;

    use super::*;
    use crate::creds::Keyring;
    use crate::policy::Simulation;
    use crate::sts::auth::Signer;
    use crate::users::UserRecord;

    /// The decoded message of an implicit deny of `action` on `resource` with a long condition.
    fn denied_message(action: String, resource: String) -> serde_json::Value {
        let now = from_unix_seconds(1_800_000_000);
        let keyring = Keyring::generate(now).unwrap();
        let user = UserRecord::new(
            "alice",
            "123456789012",
            Vec::new(),
            now,
            &SystemRandom::new(),
        )
        .unwrap();
        let caller = Caller {
            access_key_id: "AKIAEXAMPLE000000001".into(),
            signer: Signer::User(Box::new(user)),
        };
        let mut keys = ContextKeys::default();
        keys.insert("photos:Album", "x".repeat(2000));
        let request = RequestContext {
            principals: Vec::new(),
            action,
            resource: Some(resource),
            keys,
        };
        let simulation = Simulation {
            decision: EvalDecision::ImplicitDeny,
            matched_statements: Vec::new(),
        };
        let encoded = encode_message(&keyring, &caller, &request, &simulation)
            .expect("a denial always gets a message");
        assert!(encoded.len() <= sealed::MAX_SEALED_LEN);
        let plain = sealed::open(&keyring, MESSAGE_PURPOSE, &encoded).unwrap();
        serde_json::from_slice(&plain).unwrap()
    }

    #[test]
    fn message_keeps_everything_that_fits() {
        let message = denied_message("photos:GetPhoto".into(), "arn:aws:photos:::a/b".into());
        assert_eq!(message["context"]["action"], "photos:GetPhoto");
        assert_eq!(message["context"]["resource"], "arn:aws:photos:::a/b");
        assert_eq!(
            message["context"]["conditions"]["items"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }

    /// Found by the `authorize_request` fuzz target: names within the 2048-byte input limits
    /// whose JSON escapes (control characters, quotes) overflow the sealed message even without
    /// conditions made `authorize` fail with `InternalFailure` instead of denying.
    #[test]
    fn message_of_escaped_long_names_is_cut_to_fit() {
        let action = format!("photos:{}", "\u{1}".repeat(MAX_NAME_LEN - 7));
        let resource = "\"".repeat(MAX_NAME_LEN);
        let message = denied_message(action.clone(), resource.clone());
        let context = &message["context"];
        assert!(
            context["conditions"]["items"]
                .as_array()
                .unwrap()
                .is_empty()
        );
        let cut_action = context["action"].as_str().unwrap();
        assert_eq!(cut_action.chars().count(), MESSAGE_NAME_CHARS + 1);
        assert!(action.starts_with(cut_action.trim_end_matches('…')));
        let cut_resource = context["resource"].as_str().unwrap();
        assert!(cut_resource.ends_with('…'));
        assert!(resource.starts_with(cut_resource.trim_end_matches('…')));
    }
}
