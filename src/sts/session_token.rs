//! `GetSessionToken` and `GetFederationToken`: temporary credentials for an IAM user, signed
//! with the user's long-term key (AWS STS API reference).
//!
//! - `GetSessionToken` (no permission needed): the user's own identity and permissions for
//!   900-129600 seconds (default 43200), with `SerialNumber` + `TokenCode` recording an MFA
//!   authentication (`aws:MultiFactorAuthPresent`, `aws:MultiFactorAuthAge` in later requests).
//! - `GetFederationToken` (needs `sts:GetFederationToken` on the federated-user ARN, and
//!   `sts:TagSession` to pass tags): a federated user `arn:aws:sts::ACCOUNT:federated-user/NAME`
//!   whose permissions are the user's policies intersected with the session policies passed;
//!   none passed means no permissions.
//!
//! Both refuse temporary credentials as the caller, as AWS does.

use std::time::SystemTime;

use super::auth::{Caller, Signer, authenticate, permissions};
use super::error::StsError;
use super::mfa::verify_mfa;
use super::params::{Checker, Echo, NAME_PATTERN, Params, is_name_char};
use super::session::{
    IssueContext, check_session_tags, checked_packed_size, issue, render_credentials_only,
    request_keys, session_policies,
};
use super::{AuditDraft, RequestMeta, StsState, xml};
use crate::creds::{Grant, MAX_SESSION_DURATION_SECONDS, Session, SessionKind};
use crate::identity::SessionTags;
use crate::policy::RequestContext;
use crate::users::UserRecord;

/// Default for both actions (AWS: 12 hours).
const DEFAULT_DURATION_SECONDS: i64 = 43_200;

pub(super) async fn get_session_token(
    state: &StsState,
    meta: &RequestMeta,
    params: &Params,
    now: SystemTime,
    audit: &mut AuditDraft,
) -> Result<String, StsError> {
    let mut check = Checker::default();
    let duration = long_duration(&mut check, params);
    let mfa = check.mfa_code(params);
    check.finish()?;
    let caller = authenticate(state, meta, now, "GetSessionToken", audit)?;
    let user = long_term_user(&caller)?;
    let mfa_authenticated_at = match &mfa {
        Some(code) => Some(verify_mfa(state, &caller, code, now).await?),
        None => None,
    };
    let grant = Grant {
        session: Session {
            mfa_authenticated_at,
            ..user_session(user, SessionKind::User, &user.name)
        },
        duration_seconds: duration,
    };
    let credentials = issue(
        state,
        &grant,
        now,
        IssueContext::new(
            meta,
            &caller.arn(),
            audit,
            serde_json::json!({ "mfaAuthenticated": mfa_authenticated_at.is_some() }),
        ),
    )
    .await?;
    xml::success("GetSessionToken", &meta.request_id, |b| {
        render_credentials_only(b, &credentials);
    })
}

pub(super) async fn get_federation_token(
    state: &StsState,
    meta: &RequestMeta,
    params: &Params,
    now: SystemTime,
    audit: &mut AuditDraft,
) -> Result<String, StsError> {
    const ACTION: &str = "sts:GetFederationToken";
    let mut check = Checker::default();
    let name = check.required_len(params, "Name", "name", (2, 32), Echo::Yes);
    if let Some(n) = name {
        check.pattern("name", n, NAME_PATTERN, is_name_char, Echo::Yes);
    }
    let duration = long_duration(&mut check, params);
    let policy = params.get("Policy");
    if let Some(p) = policy {
        check.length("policy", p, 1, 2048, Echo::No);
    }
    let policy_arns = params.members("PolicyArns", Some("arn"));
    check.list_len("policyArns", policy_arns.len(), 10);
    for arn in &policy_arns {
        check.length("policyArns.member.arn", arn, 20, 2048, Echo::Yes);
    }
    let keys = params.members("Tags", Some("Key"));
    let values = params.members("Tags", Some("Value"));
    check.list_len("tags", keys.len(), 50);
    check.finish()?;
    let name = name.ok_or_else(|| StsError::Internal("required parameter vanished".into()))?;
    let mut tags = SessionTags::default();
    for (i, key) in keys.iter().enumerate() {
        let value = values.get(i).copied().unwrap_or_default();
        tags.principal_tags
            .insert((*key).to_owned(), value.to_owned());
    }
    check_session_tags(&tags)?;

    let caller = authenticate(state, meta, now, "GetFederationToken", audit)?;
    let user = long_term_user(&caller)?;
    let federated_arn = format!("arn:aws:sts::{}:federated-user/{name}", user.account_id);
    let allowed = |action: &str| -> Result<bool, StsError> {
        let mut keys = request_keys(meta, now, name, Some(i64::from(duration)));
        caller.context_keys(now, &mut keys);
        for (k, v) in &tags.principal_tags {
            keys.insert(&format!("aws:RequestTag/{k}"), v.clone());
        }
        for k in tags.principal_tags.keys() {
            keys.insert("aws:TagKeys", k.clone());
        }
        let request = RequestContext {
            principals: Vec::new(),
            action: action.to_owned(),
            resource: Some(federated_arn.clone()),
            keys,
        };
        Ok(permissions(state, &caller)?
            .decide(&request, now)
            .is_allow())
    };
    if !allowed(ACTION)? {
        return Err(StsError::AccessDenied {
            action: ACTION,
            detail: format!("the user's policies do not allow it on {federated_arn}"),
        });
    }
    if !tags.is_empty() && !allowed("sts:TagSession")? {
        return Err(StsError::AccessDenied {
            action: "sts:TagSession",
            detail: "session tags need sts:TagSession in the user's policies".into(),
        });
    }
    let policies = session_policies(state, policy, &policy_arns)?;
    let packed = checked_packed_size(&policies, &tags)?;
    let grant = Grant {
        session: Session {
            assumed_role_arn: federated_arn.clone(),
            session_tags: tags.principal_tags,
            session_policy: policies.inline,
            policy_arns: policies.arns,
            ..user_session(user, SessionKind::FederatedUser, name)
        },
        duration_seconds: duration,
    };
    let credentials = issue(
        state,
        &grant,
        now,
        IssueContext::new(meta, &caller.arn(), audit, serde_json::json!({})),
    )
    .await?;
    xml::success("GetFederationToken", &meta.request_id, |b| {
        render_credentials_only(b, &credentials);
        b.open("FederatedUser")
            .leaf("FederatedUserId", &grant.session.assumed_role_id())
            .leaf("Arn", &federated_arn)
            .close("FederatedUser");
        if let Some(packed) = packed {
            b.leaf("PackedPolicySize", &packed.to_string());
        }
    })
}

/// A session of `user` (its ARN and id name the user whose policies apply), without tags,
/// policies or MFA: the caller fills in what its action adds.
fn user_session(user: &UserRecord, kind: SessionKind, session_name: &str) -> Session {
    Session {
        role_arn: user.arn(),
        role_id: user.user_id.clone(),
        assumed_role_arn: user.arn(),
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

/// `DurationSeconds` of 900-129600, default 43200.
fn long_duration(check: &mut Checker, params: &Params) -> u32 {
    let max = i64::from(MAX_SESSION_DURATION_SECONDS);
    let seconds = params
        .get("DurationSeconds")
        .and_then(|d| check.integer("durationSeconds", d, 900, max))
        .unwrap_or(DEFAULT_DURATION_SECONDS);
    u32::try_from(seconds).unwrap_or(MAX_SESSION_DURATION_SECONDS)
}

/// The IAM user of a long-term key (`authenticate` already refused session credentials for
/// these actions; an assumed-role session is refused here).
fn long_term_user(caller: &Caller) -> Result<&UserRecord, StsError> {
    match &caller.signer {
        Signer::User(user) => Ok(user),
        Signer::Session(_) => Err(StsError::AccessDeniedMessage(
            "Only an IAM user's long-term access key may call this action.",
        )),
    }
}
