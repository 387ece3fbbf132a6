//! The one error table: variant -> AWS code -> HTTP status -> client message.
//!
//! Clients see only what [`StsError::message`] returns: fixed words, or words built from our own
//! validation of their input. Inner error details go to the log with the request id.

use axum::http::StatusCode;

use crate::creds::sigv4::SigV4Error;
use crate::idp::{TokenFault, VerifyError};

/// One failed constraint, worded as AWS words it (`Value 'x' at 'roleSessionName' failed to
/// satisfy constraint: Member must ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The member name as AWS prints it (lowerCamelCase).
    pub member: &'static str,
    /// The offending value, or `None` for a missing value or one never echoed (tokens, policies).
    pub value: Option<String>,
    pub constraint: String,
    /// Missing entirely: AWS prints `Value null`.
    pub missing: bool,
}

impl Violation {
    fn describe(&self) -> String {
        if self.missing {
            return format!(
                "Value null at '{}' failed to satisfy constraint: {}",
                self.member, self.constraint
            );
        }
        match &self.value {
            Some(v) => format!(
                "Value '{}' at '{}' failed to satisfy constraint: {}",
                v, self.member, self.constraint
            ),
            None => format!(
                "Value at '{}' failed to satisfy constraint: {}",
                self.member, self.constraint
            ),
        }
    }
}

/// Everything an STS action can answer other than success.
#[derive(Debug, thiserror::Error)]
pub enum StsError {
    #[error("no Action parameter")]
    MissingAction,
    #[error("unknown action or version")]
    InvalidAction { action: String, version: String },
    #[error("request body too large")]
    BodyTooLarge,
    #[error("validation: {0:?}")]
    Validation(Vec<Violation>),
    /// A validation failure AWS words as one sentence rather than a constraint list.
    #[error("validation: {0}")]
    ValidationMessage(&'static str),
    #[error("invalid parameter value: {0}")]
    InvalidParameterValue(&'static str),
    #[error("invalid identity token: {fault:?}: {detail}")]
    InvalidIdentityToken { fault: TokenFault, detail: String },
    #[error("token expired")]
    ExpiredToken,
    #[error("identity provider unreachable: {0}")]
    IdpCommunication(String),
    #[error("IdP rejected claim: {0}")]
    IdpRejectedClaim(&'static str),
    #[error("access denied for {action}: {detail}")]
    AccessDenied {
        action: &'static str,
        detail: String,
    },
    /// `AccessDenied` with AWS's own sentence (MFA failures, actions session credentials may
    /// not call).
    #[error("access denied: {0}")]
    AccessDeniedMessage(&'static str),
    #[error("invalid authorization message")]
    InvalidAuthorizationMessage,
    #[error("malformed policy document: {0}")]
    MalformedPolicy(String),
    #[error("packed policy too large: {0}%")]
    PackedPolicyTooLarge(u32),
    /// The request's signature or credentials were refused.
    #[error("authentication: {0:?}")]
    Auth(SigV4Error),
    #[error("internal: {0}")]
    Internal(String),
}

impl From<VerifyError> for StsError {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::Expired => Self::ExpiredToken,
            VerifyError::Invalid { fault, detail } => Self::InvalidIdentityToken { fault, detail },
            VerifyError::Communication(d) => Self::IdpCommunication(d),
        }
    }
}

impl StsError {
    /// The AWS error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingAction => "MissingAction",
            Self::InvalidAction { .. } => "InvalidAction",
            Self::BodyTooLarge => "RequestEntityTooLarge",
            Self::Validation(_) | Self::ValidationMessage(_) => "ValidationError",
            Self::InvalidParameterValue(_) => "InvalidParameterValue",
            Self::InvalidIdentityToken { .. } => "InvalidIdentityToken",
            Self::ExpiredToken => "ExpiredTokenException",
            Self::IdpCommunication(_) => "IDPCommunicationError",
            Self::IdpRejectedClaim(_) => "IDPRejectedClaim",
            Self::AccessDenied { .. } | Self::AccessDeniedMessage(_) => "AccessDenied",
            Self::InvalidAuthorizationMessage => "InvalidAuthorizationMessageException",
            Self::MalformedPolicy(_) => "MalformedPolicyDocument",
            Self::PackedPolicyTooLarge(_) => "PackedPolicyTooLarge",
            Self::Auth(e) => e.code(),
            Self::Internal(_) => "InternalFailure",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::AccessDenied { .. }
            | Self::AccessDeniedMessage(_)
            | Self::IdpRejectedClaim(_) => StatusCode::FORBIDDEN,
            Self::Auth(
                SigV4Error::MissingAuthenticationToken
                | SigV4Error::InvalidClientTokenId
                | SigV4Error::SignatureDoesNotMatch
                | SigV4Error::ExpiredToken,
            ) => StatusCode::FORBIDDEN,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// `Sender` for the caller's faults, `Receiver` for ours (the AWS `<Type>`).
    pub fn fault_type(&self) -> &'static str {
        if self.status().is_server_error() {
            "Receiver"
        } else {
            "Sender"
        }
    }

    /// The message the client sees.
    pub fn message(&self) -> String {
        match self {
            Self::MissingAction => "Missing Action".into(),
            Self::InvalidAction { action, version } => {
                format!("Could not find operation {action} for version {version}")
            }
            Self::BodyTooLarge => "Request body exceeds the 262144-byte limit".into(),
            Self::Validation(v) => {
                let n = v.len();
                let noun = if n == 1 { "error" } else { "errors" };
                let parts: Vec<String> = v.iter().map(Violation::describe).collect();
                format!("{n} validation {noun} detected: {}", parts.join("; "))
            }
            Self::ValidationMessage(m) => (*m).into(),
            Self::InvalidParameterValue(m) => (*m).into(),
            Self::InvalidIdentityToken { fault, .. } => fault.client_message().into(),
            Self::ExpiredToken => "Token expired: current date/time is past the token's exp".into(),
            Self::IdpCommunication(_) => {
                "Couldn't retrieve verification key from your identity provider, please reference AssumeRoleWithWebIdentity documentation for requirements".into()
            }
            Self::AccessDenied { action, .. } => format!("Not authorized to perform {action}"),
            Self::AccessDeniedMessage(m) => (*m).into(),
            Self::InvalidAuthorizationMessage => {
                "The encoded authorization message is invalid or was not produced by this service."
                    .into()
            }
            Self::IdpRejectedClaim(m) => (*m).into(),
            Self::MalformedPolicy(problems) => problems.clone(),
            Self::PackedPolicyTooLarge(pct) => format!(
                "Packed size of the session policies and session tags is {pct}% of the allowed maximum"
            ),
            Self::Auth(e) => auth_message(*e).into(),
            Self::Internal(_) => "We encountered an internal error. Please try again.".into(),
        }
    }
}

/// AWS's words for each authentication failure.
fn auth_message(e: SigV4Error) -> &'static str {
    match e {
        SigV4Error::MissingAuthenticationToken => "Request is missing Authentication Token",
        SigV4Error::IncompleteSignature(why) => why,
        SigV4Error::InvalidClientTokenId => {
            "The security token included in the request is invalid."
        }
        SigV4Error::SignatureDoesNotMatch => {
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."
        }
        SigV4Error::RequestExpired => "Request has expired.",
        SigV4Error::ExpiredToken => "The security token included in the request is expired",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_message_counts_and_joins_like_aws() {
        let e = StsError::Validation(vec![
            Violation {
                member: "roleSessionName",
                value: Some("a b".into()),
                constraint: "Member must satisfy regular expression pattern: [\\w+=,.@-]*".into(),
                missing: false,
            },
            Violation {
                member: "roleArn",
                value: None,
                constraint: "Member must not be null".into(),
                missing: true,
            },
        ]);
        assert_eq!(
            e.message(),
            "2 validation errors detected: Value 'a b' at 'roleSessionName' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: [\\w+=,.@-]*; \
             Value null at 'roleArn' failed to satisfy constraint: Member must not be null"
        );
        assert_eq!(e.code(), "ValidationError");
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn status_and_type_follow_the_table() {
        let denied = StsError::AccessDenied {
            action: "sts:AssumeRoleWithWebIdentity",
            detail: String::new(),
        };
        assert_eq!(denied.status(), StatusCode::FORBIDDEN);
        assert_eq!(denied.fault_type(), "Sender");
        assert_eq!(StsError::Internal("x".into()).fault_type(), "Receiver");
        assert_eq!(StsError::ExpiredToken.code(), "ExpiredTokenException");
        assert_eq!(
            StsError::IdpCommunication("x".into()).code(),
            "IDPCommunicationError"
        );
    }

    #[test]
    fn internal_details_never_reach_the_client() {
        let e = StsError::Internal("sled: disk /secret/path full".into());
        assert!(!e.message().contains("sled"));
        let e = StsError::InvalidIdentityToken {
            fault: TokenFault::Audience,
            detail: "aud was evil-client".into(),
        };
        assert_eq!(e.message(), "Incorrect token audience.");
    }
}
