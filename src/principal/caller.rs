//! The caller model: whose credentials signed a request, with the names and condition keys AWS
//! gives each kind of principal.

use std::time::SystemTime;

use crate::arn::UserArn;
use crate::audit::{AuditIdentity, IdentityKind};
use crate::clock::{from_unix_seconds, iso8601, unix_seconds};
use crate::creds::{SessionClaims, SessionKind};
use crate::policy::{ContextKeys, PrincipalId};
use crate::users::UserRecord;

/// Whose credentials signed a request.
#[derive(Debug, Clone)]
pub enum Signer {
    /// An IAM user's long-term key.
    User(Box<UserRecord>),
    /// Temporary credentials this service issued.
    Session(Box<SessionClaims>),
}

/// The verified caller of a signed request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub access_key_id: String,
    pub signer: Signer,
}

/// The principal type AWS reports (`aws:PrincipalType`, CloudTrail `userIdentity.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalType {
    User,
    AssumedRole,
    FederatedUser,
}

impl PrincipalType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "User",
            Self::AssumedRole => "AssumedRole",
            Self::FederatedUser => "FederatedUser",
        }
    }

    /// CloudTrail's name for it.
    pub fn audit_kind(self) -> IdentityKind {
        match self {
            Self::User => IdentityKind::IamUser,
            Self::AssumedRole => IdentityKind::AssumedRole,
            Self::FederatedUser => IdentityKind::FederatedUser,
        }
    }
}

impl Caller {
    pub fn principal_type(&self) -> PrincipalType {
        match &self.signer {
            Signer::User(_) => PrincipalType::User,
            Signer::Session(c) => match c.session.kind {
                SessionKind::AssumedRole => PrincipalType::AssumedRole,
                SessionKind::User => PrincipalType::User,
                SessionKind::FederatedUser => PrincipalType::FederatedUser,
            },
        }
    }

    /// The claims of temporary credentials; `None` for a long-term key.
    pub fn session(&self) -> Option<&SessionClaims> {
        match &self.signer {
            Signer::User(_) => None,
            Signer::Session(c) => Some(c),
        }
    }

    /// The ARN `GetCallerIdentity` reports.
    pub fn arn(&self) -> String {
        match &self.signer {
            Signer::User(u) => u.arn(),
            Signer::Session(c) => c.session.caller_arn.clone(),
        }
    }

    /// The `UserId` `GetCallerIdentity` reports.
    pub fn user_id(&self) -> String {
        match &self.signer {
            Signer::User(u) => u.user_id.clone(),
            Signer::Session(c) => c.session.caller_id(),
        }
    }

    pub fn account_id(&self) -> &str {
        match &self.signer {
            Signer::User(u) => &u.account_id,
            Signer::Session(c) => &c.session.account_id,
        }
    }

    /// `aws:PrincipalArn`: the user ARN, the role ARN of a role session, the federated-user ARN.
    pub fn principal_arn(&self) -> String {
        match &self.signer {
            Signer::User(u) => u.arn(),
            Signer::Session(c) => c.session.principal_arn().to_owned(),
        }
    }

    /// The IAM user behind the caller (a long-term key, a user session or a federated user):
    /// its name, from the user ARN the session records.
    pub fn user_name(&self) -> Option<String> {
        match &self.signer {
            Signer::User(u) => Some(u.name.clone()),
            Signer::Session(c) => match c.session.kind {
                SessionKind::AssumedRole => None,
                SessionKind::User | SessionKind::FederatedUser => {
                    UserArn::parse(&c.session.identity_arn).map(|arn| arn.name)
                }
            },
        }
    }

    /// The caller as the audit trail names it (CloudTrail's `userIdentity` of a signed
    /// request: with its ARN, account and access key id).
    pub fn audit_identity(&self) -> AuditIdentity {
        AuditIdentity {
            arn: Some(self.arn()),
            account_id: Some(self.account_id().to_owned()),
            access_key_id: Some(self.access_key_id.clone()),
            ..AuditIdentity::principal(
                self.principal_type().audit_kind(),
                self.user_id(),
                self.user_name(),
            )
        }
    }

    /// Unix seconds of the MFA authentication behind these credentials, if any.
    pub fn mfa_authenticated_at(&self) -> Option<i64> {
        self.session().and_then(|c| c.session.mfa_authenticated_at)
    }

    /// Unix seconds at which the temporary credentials were issued (`aws:TokenIssueTime`).
    pub fn token_issued_at(&self) -> Option<i64> {
        self.session().map(|c| c.issued_at)
    }

    /// Every form the caller matches as in a trust policy's `AWS` principal: its own ARN, the
    /// role ARN of a role session. The account (`"123456789012"`, its root ARN) is added by the
    /// caller of this only where account-wide trust applies.
    pub fn principal_ids(&self) -> Vec<PrincipalId> {
        let mut ids = vec![PrincipalId::Aws(self.arn())];
        if self.principal_type() == PrincipalType::AssumedRole {
            ids.push(PrincipalId::Aws(self.principal_arn()));
        }
        ids
    }

    /// The global condition keys AWS sets for this principal (IAM user guide, "AWS global
    /// condition context keys"): `aws:PrincipalArn`, `aws:PrincipalAccount`,
    /// `aws:PrincipalType`, `aws:userid`, `aws:username` (users), `aws:TokenIssueTime`,
    /// `aws:MultiFactorAuthPresent` and `aws:MultiFactorAuthAge` (temporary credentials),
    /// `aws:PrincipalTag/*`, `aws:SourceIdentity`, `aws:FederatedProvider`.
    pub fn context_keys(&self, now: SystemTime, keys: &mut ContextKeys) {
        keys.insert("aws:PrincipalArn", self.principal_arn());
        keys.insert("aws:PrincipalAccount", self.account_id());
        keys.insert("aws:PrincipalType", self.principal_type().as_str());
        keys.insert("aws:userid", self.user_id());
        if let Signer::User(u) = &self.signer {
            keys.insert("aws:username", u.name.clone());
        }
        if let Some(claims) = self.session() {
            let session = &claims.session;
            if session.kind == SessionKind::User
                && let Some(name) = self.user_name()
            {
                keys.insert("aws:username", name);
            }
            keys.insert(
                "aws:TokenIssueTime",
                iso8601(from_unix_seconds(claims.issued_at)),
            );
            // Present (true or false) for temporary credentials only, as AWS does: a long-term
            // key request has no MFA keys at all, so `...IfExists` conditions can tell.
            match session.mfa_authenticated_at {
                Some(at) => {
                    keys.insert("aws:MultiFactorAuthPresent", "true");
                    keys.insert(
                        "aws:MultiFactorAuthAge",
                        unix_seconds(now).saturating_sub(at).max(0).to_string(),
                    );
                }
                None => keys.insert("aws:MultiFactorAuthPresent", "false"),
            }
            for (k, v) in &session.session_tags {
                keys.insert(&format!("aws:PrincipalTag/{k}"), v.clone());
            }
            if let Some(si) = &session.source_identity {
                keys.insert("aws:SourceIdentity", si.clone());
            }
            if session.kind == SessionKind::AssumedRole && !session.provider.is_empty() {
                keys.insert("aws:FederatedProvider", session.provider.clone());
            }
        }
    }
}
