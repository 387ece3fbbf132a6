//! The audit trail's events, CloudTrail-like, and the one builder every event is made with: the
//! STS API, the authorization API, the portal and operator commands all go through
//! [`AuditDraft`].
//!
//! An event never holds a token, assertion, secret or session token: the adapters hand in the
//! parameters they may record, and what was issued is described by ids and ARNs only.

pub mod export;
pub mod feed;
pub mod query;

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::action::Action;
use crate::clock::iso8601;
use crate::origin::Origin;

/// The longest value an event records of anything a client chose (a parameter, the user agent,
/// an error message quoting input), in characters; a longer one is cut and marked with
/// [`cut`]. With the parameter budget of the protocol adapters, an event of a refused stranger
/// stays under about 1 KiB.
pub const MAX_VALUE_CHARS: usize = 128;
/// The longest error message recorded (it may quote several parameters).
pub const MAX_MESSAGE_CHARS: usize = 256;

/// `text`, or its first `max` characters and a mark saying how many were cut.
pub fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((at, _)) => {
            let rest = text[at..].chars().count();
            format!("{}…[{rest} more characters]", &text[..at])
        }
    }
}

/// Who an event is about, as CloudTrail's `userIdentity.type` names it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdentityKind {
    /// Not known: the request was refused before anyone was identified.
    #[default]
    Unknown,
    WebIdentityUser,
    #[serde(rename = "SAMLUser")]
    SamlUser,
    AssumedRole,
    #[serde(rename = "IAMUser")]
    IamUser,
    FederatedUser,
    /// An operator command on the admin socket or the store.
    Operator,
}

impl IdentityKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "Unknown",
            Self::WebIdentityUser => "WebIdentityUser",
            Self::SamlUser => "SAMLUser",
            Self::AssumedRole => "AssumedRole",
            Self::IamUser => "IAMUser",
            Self::FederatedUser => "FederatedUser",
            Self::Operator => "Operator",
        }
    }
}

impl PartialEq<&str> for IdentityKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// The identity an audit event is about (CloudTrail `userIdentity`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditIdentity {
    #[serde(rename = "type")]
    pub kind: IdentityKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// The caller's ARN (a signed caller).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// The caller's account (a signed caller).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The access key id the request was signed with: a signed caller's, or the unknown or
    /// revoked key a refused request claimed (an id is no secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
}

impl AuditIdentity {
    /// The holder of an OIDC ID token: `provider:audience:subject`, as CloudTrail names it.
    pub fn web_identity(provider: &str, audience: &str, subject: &str) -> Self {
        Self {
            kind: IdentityKind::WebIdentityUser,
            identity_provider: Some(provider.to_owned()),
            principal_id: Some(format!("{provider}:{audience}:{subject}")),
            user_name: Some(subject.to_owned()),
            ..Self::default()
        }
    }

    /// The subject of a SAML assertion of the provider `provider_arn`.
    pub fn saml(provider_arn: &str, subject: &str) -> Self {
        Self {
            kind: IdentityKind::SamlUser,
            identity_provider: Some(provider_arn.to_owned()),
            principal_id: Some(format!("{provider_arn}:{subject}")),
            user_name: Some(subject.to_owned()),
            ..Self::default()
        }
    }

    /// A signed caller: a user, a role session or a federated user.
    pub fn principal(kind: IdentityKind, principal_id: String, user_name: Option<String>) -> Self {
        Self {
            kind,
            principal_id: Some(principal_id),
            user_name,
            ..Self::default()
        }
    }

    /// The caller of a refused signed request, known by the access key id it claimed only (an
    /// unknown, deleted, expired or revoked key, or a bad signature).
    pub fn claimed_key(access_key_id: &str) -> Self {
        Self {
            access_key_id: Some(cut(access_key_id, MAX_VALUE_CHARS)),
            ..Self::default()
        }
    }
}

/// What an event records: an STS action, an authorization decision, or an operator command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventName {
    Sts(Action),
    Authorize,
    CreateUser,
    CreateAccessKey,
    DeleteAccessKey,
    EnableMfaDevice,
    RevokeSession,
    RevokeRoleSessions,
    ResealUserSecrets,
    PruneAudit,
    RotateSealingKey,
    RetireSealingKey,
    DeleteUser,
    SetUserPolicies,
    UpdateAccessKey,
    DeactivateMfaDevice,
    RevokeUserSessions,
    ReloadConfiguration,
    /// A person signed in through the portal and took a role's credentials.
    ConsoleLogin,
    /// A signed-in person took another role's credentials (or new ones) in the portal.
    SwitchRole,
    /// SSO OIDC CreateToken: a person's login got tokens (a device or authorization code
    /// redeemed, or a refresh).
    CreateToken,
    /// A person approved or denied a device authorization, or allowed a client at the
    /// authorize page.
    AuthorizeDevice,
    /// A person's SSO login took a role's credentials through the SSO portal API.
    GetRoleCredentials,
    /// A person's SSO login was ended by its client (the SSO portal API's `Logout`).
    Logout,
}

impl EventName {
    /// Every event name but the STS actions' (`audit list --event` takes them all).
    pub const OPERATOR: [EventName; 23] = [
        Self::Authorize,
        Self::CreateUser,
        Self::CreateAccessKey,
        Self::DeleteAccessKey,
        Self::EnableMfaDevice,
        Self::RevokeSession,
        Self::RevokeRoleSessions,
        Self::ResealUserSecrets,
        Self::PruneAudit,
        Self::RotateSealingKey,
        Self::RetireSealingKey,
        Self::DeleteUser,
        Self::SetUserPolicies,
        Self::UpdateAccessKey,
        Self::DeactivateMfaDevice,
        Self::RevokeUserSessions,
        Self::ReloadConfiguration,
        Self::ConsoleLogin,
        Self::SwitchRole,
        Self::CreateToken,
        Self::AuthorizeDevice,
        Self::GetRoleCredentials,
        Self::Logout,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sts(action) => action.name(),
            Self::Authorize => "Authorize",
            Self::CreateUser => "CreateUser",
            Self::CreateAccessKey => "CreateAccessKey",
            Self::DeleteAccessKey => "DeleteAccessKey",
            Self::EnableMfaDevice => "EnableMFADevice",
            Self::RevokeSession => "RevokeSession",
            Self::RevokeRoleSessions => "RevokeRoleSessions",
            Self::ResealUserSecrets => "ResealUserSecrets",
            Self::PruneAudit => "PruneAudit",
            Self::RotateSealingKey => "RotateSealingKey",
            Self::RetireSealingKey => "RetireSealingKey",
            Self::DeleteUser => "DeleteUser",
            Self::SetUserPolicies => "SetUserPolicies",
            Self::UpdateAccessKey => "UpdateAccessKey",
            Self::DeactivateMfaDevice => "DeactivateMFADevice",
            Self::RevokeUserSessions => "RevokeUserSessions",
            Self::ReloadConfiguration => "ReloadConfiguration",
            Self::ConsoleLogin => "ConsoleLogin",
            Self::SwitchRole => "SwitchRole",
            Self::CreateToken => "CreateToken",
            Self::AuthorizeDevice => "AuthorizeDevice",
            Self::GetRoleCredentials => "GetRoleCredentials",
            Self::Logout => "Logout",
        }
    }
}

/// A CloudTrail-like record of one request, successful or not. Never holds a token, assertion,
/// secret or session token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// RFC 3339 UTC.
    pub event_time: String,
    pub event_name: String,
    #[serde(rename = "sourceIPAddress")]
    pub source_ip_address: Option<String>,
    pub user_agent: Option<String>,
    /// The request's parameters, every credential-bearing one left out.
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

impl AuditEvent {
    /// When the event happened, in unix seconds (`None` only for a record this daemon did not
    /// write).
    pub fn unix_time(&self) -> Option<i64> {
        crate::clock::parse_time_or_date(&self.event_time)
    }
}

/// The event of a request, filled in as the request learns who is calling and how it ends.
#[derive(Debug, Clone)]
pub struct AuditDraft {
    name: EventName,
    event: AuditEvent,
}

/// The user agent operator events carry.
const OPERATOR_AGENT: &str = "stsbridge admin";

impl AuditDraft {
    /// The event of a request from `origin`; `parameters` are what may be recorded of it.
    pub fn new(
        name: EventName,
        origin: &Origin,
        parameters: serde_json::Value,
        now: SystemTime,
    ) -> Self {
        Self {
            name,
            event: AuditEvent {
                event_time: iso8601(now),
                event_name: name.as_str().to_owned(),
                source_ip_address: origin.source_ip.map(|ip| ip.to_string()),
                user_agent: origin
                    .user_agent
                    .as_deref()
                    .map(|agent| cut(agent, MAX_VALUE_CHARS)),
                request_parameters: parameters,
                user_identity: AuditIdentity::default(),
                response_elements: None,
                error_code: None,
                error_message: None,
                request_id: origin.request_id.clone(),
            },
        }
    }

    /// The event of an operator command (admin socket or CLI), with a fresh request id.
    pub fn operator(name: EventName, parameters: serde_json::Value, now: SystemTime) -> Self {
        let origin = Origin {
            request_id: uuid::Uuid::new_v4().to_string(),
            source_ip: None,
            user_agent: Some(OPERATOR_AGENT.to_owned()),
            secure_transport: false,
        };
        let mut draft = Self::new(name, &origin, parameters, now);
        draft.identify(AuditIdentity {
            kind: IdentityKind::Operator,
            ..AuditIdentity::default()
        });
        draft
    }

    /// What the event records (the action of a request).
    pub fn name(&self) -> EventName {
        self.name
    }

    pub fn identify(&mut self, identity: AuditIdentity) {
        self.event.user_identity = identity;
    }

    /// The event of a success, with what was issued (ids and ARNs only).
    pub fn succeeded(&self, response: serde_json::Value) -> AuditEvent {
        let mut event = self.event.clone();
        event.response_elements = Some(response);
        event
    }

    /// The event of a success that reports nothing beyond the request.
    pub fn done(self) -> AuditEvent {
        self.event
    }

    /// The event of a refusal: the code and the message the client was given (never an
    /// inner detail).
    pub fn failed(self, code: &str, message: String) -> AuditEvent {
        let mut event = self.event;
        event.error_code = Some(code.to_owned());
        event.error_message = Some(cut(&message, MAX_MESSAGE_CHARS));
        event
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::from_unix_seconds;

    #[test]
    fn long_values_are_cut_and_marked() {
        assert_eq!(cut("short", 8), "short");
        assert_eq!(cut("exactly8", 8), "exactly8");
        assert_eq!(cut("ninechars", 8), "ninechar…[1 more characters]");
        assert_eq!(cut("ééééé", 2), "éé…[3 more characters]");
    }

    #[test]
    fn kinds_serialize_as_cloudtrail_names_them() {
        for (kind, name) in [
            (IdentityKind::SamlUser, "SAMLUser"),
            (IdentityKind::IamUser, "IAMUser"),
            (IdentityKind::WebIdentityUser, "WebIdentityUser"),
        ] {
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::Value::String(name.into())
            );
            assert_eq!(kind, name);
        }
    }

    #[test]
    fn a_refusal_records_the_client_message_only() {
        let origin = Origin {
            request_id: "r1".into(),
            source_ip: Some([192, 0, 2, 1].into()),
            user_agent: Some("aws-cli/2".into()),
            secure_transport: false,
        };
        let draft = AuditDraft::new(
            EventName::Sts(Action::GetCallerIdentity),
            &origin,
            serde_json::json!({}),
            from_unix_seconds(0),
        );
        let err = crate::error::ApiError::Internal("disk /secret full".into());
        let event = draft.failed(err.code(), err.message());
        assert_eq!(event.event_name, "GetCallerIdentity");
        assert_eq!(event.error_code.as_deref(), Some("InternalFailure"));
        assert!(!event.error_message.unwrap().contains("secret"));
        assert_eq!(event.source_ip_address.as_deref(), Some("192.0.2.1"));
        assert_eq!(event.user_identity.kind, "Unknown");
    }

    /// `OPERATOR` names every event but the STS actions. The exhaustive match makes a new
    /// variant fail to compile here: add it to the match and to `OPERATOR`.
    #[test]
    fn every_operator_event_is_listed() {
        fn position(name: EventName) -> Option<usize> {
            EventName::OPERATOR.iter().position(|n| *n == name)
        }
        for name in EventName::OPERATOR {
            let listed = match name {
                EventName::Sts(_) => false,
                EventName::Authorize
                | EventName::CreateUser
                | EventName::CreateAccessKey
                | EventName::DeleteAccessKey
                | EventName::EnableMfaDevice
                | EventName::RevokeSession
                | EventName::RevokeRoleSessions
                | EventName::ResealUserSecrets
                | EventName::PruneAudit
                | EventName::RotateSealingKey
                | EventName::RetireSealingKey
                | EventName::DeleteUser
                | EventName::SetUserPolicies
                | EventName::UpdateAccessKey
                | EventName::DeactivateMfaDevice
                | EventName::RevokeUserSessions
                | EventName::ReloadConfiguration
                | EventName::ConsoleLogin
                | EventName::SwitchRole
                | EventName::CreateToken
                | EventName::AuthorizeDevice
                | EventName::GetRoleCredentials
                | EventName::Logout => position(name).is_some(),
            };
            assert!(listed, "{name:?}");
        }
        let names: std::collections::BTreeSet<_> =
            EventName::OPERATOR.iter().map(|n| n.as_str()).collect();
        assert_eq!(names.len(), EventName::OPERATOR.len(), "listed once each");
    }
}
