//! Temporary credentials: key ids, secrets, sealed session tokens, the keyring.
//!
//! A session token is a versioned, key-id-tagged AEAD-sealed blob holding the whole session, so any
//! node with the keyring can verify a request without a store lookup (the store is consulted only
//! for revocation).

pub mod bearer;
pub mod ids;
pub mod kek;
pub mod keyring;
pub mod minter;
pub mod sealed;
pub mod sigv4;
pub mod token;
pub mod totp;

use std::collections::BTreeMap;
use std::time::SystemTime;

pub use keyring::{Keyring, KeyringError, SharedKeyring};
pub use minter::Minter;
pub use token::{SessionClaims, UnsealError};

/// The longest session any STS action may grant (GetSessionToken / GetFederationToken: 36 h).
/// The keyring keeps a retired key this long, so every token it sealed can still be verified.
pub const MAX_SESSION_DURATION_SECONDS: u32 = 129_600;

/// A secret string: compared and printed with care. `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }
    /// The value, for the one place that must hand it out (the response body).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Who a session is and what it carries: the part the grant, the sealed token and the stored
/// record share. No secrets.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Session {
    /// The IAM identity whose policies the session has: the role of a role session
    /// (`arn:aws:iam::ACCOUNT:role/PATH/NAME`), the user of a user session or federated user
    /// (`arn:aws:iam::ACCOUNT:user/NAME`).
    pub identity_arn: String,
    /// That identity's unique id: `AROA…` for a role, `AIDA…` for a user.
    pub identity_id: String,
    /// The ARN the session acts as (`GetCallerIdentity`'s `Arn`):
    /// `arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`, the user's ARN, or
    /// `arn:aws:sts::ACCOUNT:federated-user/NAME`.
    pub caller_arn: String,
    pub account_id: String,
    pub session_name: String,
    pub source_identity: Option<String>,
    /// Federation provider (`accounts.google.com`, a SAML provider ARN) and subject.
    pub provider: String,
    pub subject: String,
    pub session_tags: BTreeMap<String, String>,
    pub transitive_tag_keys: Vec<String>,
    /// The inline session policy as sent (already validated), if any.
    pub session_policy: Option<String>,
    /// Managed session policy ARNs (already resolved), if any.
    pub policy_arns: Vec<String>,
    /// What kind of principal holds the session.
    #[serde(default)]
    pub kind: SessionKind,
    /// Unix seconds of the MFA authentication behind the session (`GetSessionToken` or
    /// `AssumeRole` with a valid `TokenCode`, or carried from the caller's session), if any.
    #[serde(default)]
    pub mfa_authenticated_at: Option<i64>,
}

/// The principal a session belongs to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    /// An assumed-role session (`AssumeRole*`).
    #[default]
    AssumedRole,
    /// An IAM user's session token (`GetSessionToken`): the user's identity and permissions.
    User,
    /// A federated user (`GetFederationToken`): the user's permissions intersected with the
    /// session policies (none passed means none granted).
    FederatedUser,
}

impl Session {
    /// The `UserId` AWS reports: `AROA…:session-name` for a role session (`AssumedRoleId`),
    /// the user's `AIDA…` id for a user session, `ACCOUNT:NAME` for a federated user.
    pub fn caller_id(&self) -> String {
        match self.kind {
            SessionKind::AssumedRole => format!("{}:{}", self.identity_id, self.session_name),
            SessionKind::User => self.identity_id.clone(),
            SessionKind::FederatedUser => format!("{}:{}", self.account_id, self.session_name),
        }
    }

    /// `aws:PrincipalArn`: the role ARN of a role session, the user ARN of a user session, the
    /// federated-user ARN of a federated user.
    pub fn principal_arn(&self) -> &str {
        match self.kind {
            SessionKind::AssumedRole => &self.identity_arn,
            SessionKind::User | SessionKind::FederatedUser => &self.caller_arn,
        }
    }
}

/// What the federation layer decided to grant; the minter turns it into credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub session: Session,
    pub duration_seconds: u32,
}

/// Issued temporary credentials.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Secret,
    pub expiration: SystemTime,
}

#[derive(Debug, thiserror::Error)]
pub enum MintError {
    #[error("random source failed")]
    Random,
    #[error("sealing failed")]
    Seal,
    /// The session (policies, tags, ARNs) does not fit in a session token; the STS layer should
    /// have refused it earlier as `PackedPolicyTooLarge`.
    #[error("session token would exceed {max} characters")]
    TooLarge { max: usize },
    /// Outside 1..=`MAX_SESSION_DURATION_SECONDS`: a longer token would outlive its sealing key.
    #[error("session duration {0} s out of range")]
    DurationOutOfRange(u32),
}

/// Turns a grant into credentials.
pub trait CredentialMinter: Send + Sync {
    fn mint(
        &self,
        grant: &Grant,
        now: SystemTime,
    ) -> Result<(Credentials, SessionClaims), MintError>;
}
