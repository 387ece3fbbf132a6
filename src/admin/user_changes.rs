//! The lifecycle of users after their creation: deletion, policies, key status, MFA removal,
//! session revocation, and what `users list` and `users show` print. Every change is written by
//! compare-and-swap with its audit event ([`update_user`]).
//!
//! A user's own sessions (`GetSessionToken`, `GetFederationToken`) carry the user's ARN as their
//! identity: revoking "every session of that ARN issued until now" in the revocation feed
//! refuses them on every signed request at once, exactly as `roles revoke-sessions` does for a
//! role.

use std::collections::HashMap;
use std::time::SystemTime;

use super::{Admin, AdminRequest, AdminResponse};
use crate::audit::{AuditDraft, EventName};
use crate::clock::unix_seconds;
use crate::store::{Revocation, StoreError, UpdateError, UserChange, update_user};
use crate::users::{UserError, UserRecord};

/// What an operator may see of `users`, with the last recorded use of each access key.
pub(super) async fn summaries(
    admin: &Admin,
    users: &[UserRecord],
) -> Result<AdminResponse, StoreError> {
    let mut shown = Vec::with_capacity(users.len());
    for user in users {
        let mut used = HashMap::new();
        for key in &user.access_keys {
            if let Some(last) = admin.store.key_usage.last_used(&key.access_key_id).await? {
                used.insert(key.access_key_id.as_str(), last.at);
            }
        }
        shown.push(user.summary(|id| used.get(id).copied()));
    }
    Ok(AdminResponse::Users(shown))
}

/// Run one of the user changes this module owns.
pub(super) async fn execute(admin: &Admin, request: &AdminRequest) -> AdminResponse {
    let result = match request {
        AdminRequest::UsersDelete { name } => delete(admin, name).await,
        AdminRequest::UsersRevokeSessions { name } => revoke_sessions(admin, name).await,
        _ => change(admin, request).await,
    };
    result.unwrap_or_else(|e| AdminResponse::Error(e.to_string()))
}

/// Delete the user: its sessions are revoked first (should the deletion then fail, they stay
/// refused: fail closed), then the record goes with its access keys, which stop resolving.
async fn delete(admin: &Admin, name: &str) -> Result<AdminResponse, UpdateError<UserError>> {
    let now = admin.clock.now();
    let user = existing(admin.store.users.get(name).await?, name).map_err(UpdateError::Refused)?;
    revoke_user_sessions(admin, &user, Some(EventName::DeleteUser), now).await?;
    update_user(admin.store.users.as_ref(), name, |current| {
        let user = existing(current, name)?;
        let keys: Vec<&str> = user
            .access_keys
            .iter()
            .map(|k| k.access_key_id.as_str())
            .collect();
        let audit = AuditDraft::operator(
            EventName::DeleteUser,
            serde_json::json!({ "userName": name }),
            now,
        )
        .succeeded(serde_json::json!({
            "accessKeyIds": keys,
            "mfaDevice": user.mfa.as_ref().map(|m| &m.serial_number),
        }));
        let done = format!(
            "deleted user {name} and its {} access key(s); its sessions are refused",
            keys.len()
        );
        Ok(UserChange {
            record: None,
            audit,
            value: AdminResponse::Done(done),
        })
    })
    .await
}

async fn revoke_sessions(
    admin: &Admin,
    name: &str,
) -> Result<AdminResponse, UpdateError<UserError>> {
    let now = admin.clock.now();
    let user = existing(admin.store.users.get(name).await?, name).map_err(UpdateError::Refused)?;
    let revocation = revoke_user_sessions(admin, &user, None, now).await?;
    Ok(AdminResponse::Revoked(revocation))
}

/// Refuse every session of `user` issued until `now`, with its audit event (naming the change
/// it is part of, if any).
async fn revoke_user_sessions(
    admin: &Admin,
    user: &UserRecord,
    part_of: Option<EventName>,
    now: SystemTime,
) -> Result<Revocation, StoreError> {
    let revocation = Revocation::RoleSessions {
        role_arn: user.arn(),
        issued_at_or_before: unix_seconds(now),
    };
    let mut parameters = serde_json::json!({ "userName": user.name, "userArn": user.arn() });
    if let Some(part_of) = part_of {
        parameters["partOf"] = part_of.as_str().into();
    }
    let event = AuditDraft::operator(EventName::RevokeUserSessions, parameters, now).done();
    admin.store.revocations.revoke(&revocation, &event).await?;
    Ok(revocation)
}

/// Policies, key status, MFA removal: read, change, write back by compare-and-swap.
async fn change(
    admin: &Admin,
    request: &AdminRequest,
) -> Result<AdminResponse, UpdateError<UserError>> {
    let now = admin.clock.now();
    let name = match request {
        AdminRequest::UsersPoliciesSet { name, .. }
        | AdminRequest::UsersKeysSetStatus { name, .. }
        | AdminRequest::UsersMfaDisable { name } => name,
        _ => return Ok(AdminResponse::Error("not a change of a user".into())),
    };
    update_user(admin.store.users.as_ref(), name, |current| {
        let mut user = existing(current, name)?;
        let (event, parameters, done) = match request {
            AdminRequest::UsersPoliciesSet { policies, .. } => {
                let names: Vec<&str> = policies.iter().map(|p| p.name.as_str()).collect();
                let parameters = serde_json::json!({ "userName": name, "policyNames": names });
                let done = format!("user {name} has {} inline policies: {names:?}", names.len());
                user.set_policies(policies.clone())?;
                (EventName::SetUserPolicies, parameters, done)
            }
            AdminRequest::UsersKeysSetStatus {
                access_key_id,
                status,
                ..
            } => {
                user.set_access_key_status(access_key_id, *status)?;
                let parameters = serde_json::json!({
                    "userName": name,
                    "accessKeyId": access_key_id,
                    "status": status.as_str(),
                });
                let done = format!("access key {access_key_id} is {}", status.as_str());
                (EventName::UpdateAccessKey, parameters, done)
            }
            _ => {
                let serial = user.disable_mfa()?;
                let parameters = serde_json::json!({ "userName": name, "serialNumber": serial });
                let done = format!("MFA device {serial} removed");
                (EventName::DeactivateMfaDevice, parameters, done)
            }
        };
        Ok(UserChange {
            record: Some(user),
            audit: AuditDraft::operator(event, parameters, now).done(),
            value: AdminResponse::Done(done),
        })
    })
    .await
}

fn existing(user: Option<UserRecord>, name: &str) -> Result<UserRecord, UserError> {
    user.ok_or_else(|| UserError::NoSuchUser(name.to_owned()))
}
