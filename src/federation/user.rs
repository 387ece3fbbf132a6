//! Sessions of IAM users, signed with the user's long-term key (AWS STS API reference):
//!
//! - `GetSessionToken` (no permission needed): the user's own identity and permissions, with
//!   an MFA code recording an MFA authentication (`aws:MultiFactorAuthPresent`,
//!   `aws:MultiFactorAuthAge` in later requests).
//! - `GetFederationToken` (needs `sts:GetFederationToken` on the federated-user ARN, and
//!   `sts:TagSession` to pass tags): a federated user `arn:aws:sts::ACCOUNT:federated-user/NAME`
//!   whose permissions are the user's policies intersected with the session policies passed;
//!   none passed means no permissions.

use super::steps::{SessionPolicies, insert_request_tags, request_keys};
use super::{Domain, Issued, Request};
use crate::action::{Action, TAG_SESSION};
use crate::arn::FederatedUserArn;
use crate::creds::{Grant, Session, SessionKind};
use crate::error::ApiError;
use crate::identity::SessionTags;
use crate::policy::RequestContext;
use crate::principal::{Caller, MfaCode, Signer, permissions};
use crate::users::UserRecord;

/// `GetSessionToken`: a session of the caller's own user for `duration_seconds`.
pub async fn get_session_token(
    domain: &Domain<'_>,
    caller: &Caller,
    duration_seconds: u32,
    mfa: Option<&MfaCode<'_>>,
    request: &Request<'_>,
) -> Result<Issued, ApiError> {
    let user = long_term_user(caller)?;
    let mfa_authenticated_at = match mfa {
        Some(code) => Some(
            domain
                .principals
                .verify_mfa(caller, code, request.now)
                .await?,
        ),
        None => None,
    };
    let grant = Grant {
        session: Session {
            mfa_authenticated_at,
            ..user_session(user, SessionKind::User, &user.name)
        },
        duration_seconds,
    };
    let extra = serde_json::json!({ "mfaAuthenticated": mfa_authenticated_at.is_some() });
    let credentials = domain
        .issuer
        .issue(&grant, &caller.arn(), None, request, extra)
        .await?;
    Ok(Issued {
        credentials,
        session: grant.session,
        packed_policy_size: None,
        saml: None,
    })
}

/// What `GetFederationToken` asks for (values within the model's constraints).
#[derive(Debug, Clone)]
pub struct FederationTokenAsk<'a> {
    pub name: &'a str,
    pub duration_seconds: u32,
    pub policy: Option<&'a str>,
    pub policy_arns: Vec<&'a str>,
    pub tags: SessionTags,
}

/// `GetFederationToken`: a federated user of the caller's user.
pub async fn get_federation_token(
    domain: &Domain<'_>,
    caller: &Caller,
    ask: &FederationTokenAsk<'_>,
    request: &Request<'_>,
) -> Result<Issued, ApiError> {
    let (federation, principals) = (domain.federation, domain.principals);
    let (origin, now) = (request.origin, request.now);
    const ACTION: &str = Action::GetFederationToken.iam_action();
    let user = long_term_user(caller)?;
    let federated_arn = FederatedUserArn::new(&user.account_id, ask.name).to_string();
    let permissions = permissions(federation, principals.users(), caller).await?;
    let allowed = |action: &str| -> bool {
        let mut keys = request_keys(origin, now, ask.name, Some(i64::from(ask.duration_seconds)));
        caller.context_keys(now, &mut keys);
        insert_request_tags(&mut keys, &ask.tags);
        let request = RequestContext {
            principals: Vec::new(),
            action: action.to_owned(),
            resource: Some(federated_arn.clone()),
            keys,
        };
        permissions.decide(&request, now).is_allow()
    };
    if !allowed(ACTION) {
        return Err(ApiError::AccessDenied {
            action: ACTION,
            detail: format!("the user's policies do not allow it on {federated_arn}"),
        });
    }
    if !ask.tags.is_empty() && !allowed(TAG_SESSION) {
        return Err(ApiError::AccessDenied {
            action: TAG_SESSION,
            detail: "session tags need sts:TagSession in the user's policies".into(),
        });
    }
    let policies = SessionPolicies::checked(federation, ask.policy, &ask.policy_arns)?;
    let packed = policies.checked_packed_size(&ask.tags)?;
    let grant = Grant {
        session: Session {
            caller_arn: federated_arn,
            session_tags: ask.tags.principal_tags.clone(),
            session_policy: policies.inline,
            policy_arns: policies.arns,
            ..user_session(user, SessionKind::FederatedUser, ask.name)
        },
        duration_seconds: ask.duration_seconds,
    };
    let credentials = domain
        .issuer
        .issue(&grant, &caller.arn(), None, request, serde_json::json!({}))
        .await?;
    Ok(Issued {
        credentials,
        session: grant.session,
        packed_policy_size: packed,
        saml: None,
    })
}

/// A session of `user` (its ARN and id name the user whose policies apply), without tags,
/// policies or MFA: the caller fills in what its action adds.
fn user_session(user: &UserRecord, kind: SessionKind, session_name: &str) -> Session {
    Session {
        identity_arn: user.arn(),
        identity_id: user.user_id.clone(),
        caller_arn: user.arn(),
        account_id: user.account_id.clone(),
        session_name: session_name.to_owned(),
        source_identity: None,
        provider: String::new(),
        subject: user.arn(),
        session_tags: Default::default(),
        transitive_tag_keys: Vec::new(),
        session_policy: None,
        policy_arns: Vec::new(),
        kind,
        mfa_authenticated_at: None,
    }
}

/// The IAM user of a long-term key (the STS caller rules already refused session credentials
/// for these actions; an assumed-role session is refused here).
fn long_term_user(caller: &Caller) -> Result<&UserRecord, ApiError> {
    match &caller.signer {
        Signer::User(user) => Ok(user),
        Signer::Session(_) => Err(ApiError::AccessDeniedMessage(
            "Only an IAM user's long-term access key may call this action.",
        )),
    }
}
