//! Which audit events an operator asks for (`stsbridge audit list` and its filters): one value
//! the store evaluates, the admin socket carries and `--follow` applies to new events.

use serde::{Deserialize, Serialize};

use super::{AuditEvent, EventName, IdentityKind};
use crate::action::Action;

/// Every event name the trail records, as `--event` takes them.
pub fn event_names() -> Vec<&'static str> {
    Action::ALL
        .into_iter()
        .map(EventName::Sts)
        .chain(EventName::OPERATOR)
        .map(EventName::as_str)
        .collect()
}

/// A filter of the audit trail. Every criterion given must hold (an empty query matches every
/// event); the newest `limit` matching events are returned, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditQuery {
    /// Events at or after this instant (unix seconds).
    pub since: Option<i64>,
    /// Events before this instant (unix seconds): `since..until` is half-open, so adjacent
    /// windows never share an event.
    pub until: Option<i64>,
    /// The event name, exactly as recorded (one of [`event_names`]).
    pub event_name: Option<String>,
    /// Who the event is about: the `userIdentity`'s ARN, principal id or user name (the subject
    /// of a web identity or SAML user), or the role session ARN an event issued.
    pub principal: Option<String>,
    /// An access key id the event used (`userIdentity.accessKeyId`), issued
    /// (`responseElements.credentials.accessKeyId`) or acted on
    /// (`requestParameters.accessKeyId`: revocations, key deletions).
    pub access_key_id: Option<String>,
    /// The error code of a refusal (`AccessDenied`, `InvalidClientTokenId`, ...).
    pub error_code: Option<String>,
    /// The most events returned (the newest of those matching).
    pub limit: usize,
}

/// The default of `limit`, as `audit list` had it before filters.
pub const DEFAULT_LIMIT: usize = 50;

impl Default for AuditQuery {
    fn default() -> Self {
        Self {
            since: None,
            until: None,
            event_name: None,
            principal: None,
            access_key_id: None,
            error_code: None,
            limit: DEFAULT_LIMIT,
        }
    }
}

/// A query that can match no event the trail holds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("no audit event is named {given:?}; the names are: {}", event_names().join(", "))]
    UnknownEventName { given: String },
    #[error("--since ({since}) is not before --until ({until})")]
    EmptyWindow { since: String, until: String },
}

impl AuditQuery {
    /// The newest `limit` events, whatever they are.
    pub fn newest(limit: usize) -> Self {
        Self {
            limit,
            ..Self::default()
        }
    }

    /// Refuse what can only be a mistake: an event name the trail never records, a window that
    /// ends before it starts.
    pub fn validate(&self) -> Result<(), QueryError> {
        if let Some(name) = &self.event_name
            && !event_names().contains(&name.as_str())
        {
            return Err(QueryError::UnknownEventName {
                given: name.clone(),
            });
        }
        if let (Some(since), Some(until)) = (self.since, self.until)
            && since >= until
        {
            let text = |t| crate::clock::iso8601(crate::clock::from_unix_seconds(t));
            return Err(QueryError::EmptyWindow {
                since: text(since),
                until: text(until),
            });
        }
        Ok(())
    }

    /// Whether `event` happened in the window (an event without a readable time is in no
    /// window but the unbounded one).
    pub fn in_window(&self, event: &AuditEvent) -> bool {
        if self.since.is_none() && self.until.is_none() {
            return true;
        }
        event.unix_time().is_some_and(|t| {
            self.since.is_none_or(|since| t >= since) && self.until.is_none_or(|until| t < until)
        })
    }

    /// Whether `event` meets every criterion.
    pub fn matches(&self, event: &AuditEvent) -> bool {
        self.in_window(event)
            && self
                .event_name
                .as_ref()
                .is_none_or(|name| event.event_name == *name)
            && self
                .error_code
                .as_ref()
                .is_none_or(|code| event.error_code.as_ref() == Some(code))
            && self
                .principal
                .as_ref()
                .is_none_or(|principal| is_about(event, principal))
            && self
                .access_key_id
                .as_ref()
                .is_none_or(|key| names_key(event, key))
    }
}

/// Whether `principal` is the event's identity, or the role session it issued.
fn is_about(event: &AuditEvent, principal: &str) -> bool {
    let identity = &event.user_identity;
    let is = |value: &Option<String>| value.as_deref() == Some(principal);
    let subject = matches!(
        identity.kind,
        IdentityKind::WebIdentityUser | IdentityKind::SamlUser | IdentityKind::IamUser
    ) && is(&identity.user_name);
    is(&identity.arn)
        || is(&identity.principal_id)
        || subject
        || text_at(
            event.response_elements.as_ref(),
            &["assumedRoleUser", "arn"],
        ) == Some(principal)
}

/// Whether the event used, issued or acted on the access key `key`.
fn names_key(event: &AuditEvent, key: &str) -> bool {
    event.user_identity.access_key_id.as_deref() == Some(key)
        || text_at(
            event.response_elements.as_ref(),
            &["credentials", "accessKeyId"],
        ) == Some(key)
        || text_at(Some(&event.request_parameters), &["accessKeyId"]) == Some(key)
}

/// The string at `path` inside `value`, if there is one.
fn text_at<'a>(value: Option<&'a serde_json::Value>, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(value?, |v, key| v.get(key))
        .and_then(serde_json::Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditDraft, AuditIdentity};
    use crate::clock::from_unix_seconds;
    use crate::origin::Origin;

    fn issued(at: i64) -> AuditEvent {
        let origin = Origin {
            request_id: "r".into(),
            source_ip: None,
            user_agent: None,
            secure_transport: false,
        };
        let mut draft = AuditDraft::new(
            EventName::Sts(Action::AssumeRoleWithWebIdentity),
            &origin,
            serde_json::json!({ "roleSessionName": "s" }),
            from_unix_seconds(at),
        );
        draft.identify(AuditIdentity::web_identity("issuer", "aud", "repo:org/app"));
        draft.succeeded(serde_json::json!({
            "credentials": { "accessKeyId": "ASIAISSUED" },
            "assumedRoleUser": { "arn": "arn:aws:sts::123456789012:assumed-role/ci/s" },
        }))
    }

    #[test]
    fn every_criterion_must_hold() {
        let event = issued(1_000);
        let query = |edit: fn(&mut AuditQuery)| {
            let mut q = AuditQuery::default();
            edit(&mut q);
            q.matches(&event)
        };
        assert!(query(|_| {}));
        assert!(query(|q| q.since = Some(1_000)));
        assert!(!query(|q| q.since = Some(1_001)));
        assert!(query(|q| q.until = Some(1_001)));
        assert!(!query(|q| q.until = Some(1_000)), "until is exclusive");
        assert!(query(
            |q| q.event_name = Some("AssumeRoleWithWebIdentity".into())
        ));
        assert!(!query(|q| q.event_name = Some("AssumeRole".into())));
        assert!(query(|q| q.principal = Some("repo:org/app".into())));
        assert!(query(
            |q| q.principal = Some("issuer:aud:repo:org/app".into())
        ));
        assert!(query(
            |q| q.principal = Some("arn:aws:sts::123456789012:assumed-role/ci/s".into())
        ));
        assert!(!query(|q| q.principal = Some("repo:org/other".into())));
        assert!(query(|q| q.access_key_id = Some("ASIAISSUED".into())));
        assert!(!query(|q| q.access_key_id = Some("ASIAOTHER".into())));
        assert!(!query(|q| q.error_code = Some("AccessDenied".into())));
        assert!(!query(|q| {
            q.event_name = Some("AssumeRoleWithWebIdentity".into());
            q.error_code = Some("AccessDenied".into());
        }));
    }

    #[test]
    fn an_unknown_name_or_an_empty_window_is_refused() {
        let unknown = AuditQuery {
            event_name: Some("AssumeRoleWithWebIdentityy".into()),
            ..AuditQuery::default()
        };
        let message = unknown.validate().unwrap_err().to_string();
        assert!(message.contains("AssumeRoleWithWebIdentity, "), "{message}");
        assert!(message.contains("RevokeSession"), "{message}");
        // Operator events of every kind are names `--event` takes.
        for name in ["RotateSealingKey", "DeleteUser", "ReloadConfiguration"] {
            let known = AuditQuery {
                event_name: Some(name.into()),
                ..AuditQuery::default()
            };
            assert!(known.validate().is_ok(), "{name}");
        }
        let backwards = AuditQuery {
            since: Some(10),
            until: Some(10),
            ..AuditQuery::default()
        };
        assert!(matches!(
            backwards.validate(),
            Err(QueryError::EmptyWindow { .. })
        ));
        assert_eq!(AuditQuery::default().validate(), Ok(()));
    }
}
