//! The local admin socket: operator commands reach a running daemon through a Unix socket with
//! owner-only permissions (sled admits one process), or run on the store directly when the daemon
//! is stopped. Both paths go through [`execute`].
//!
//! Protocol: one JSON request line, one JSON response line.

use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use crate::clock::{Clock, iso8601, unix_seconds};
use crate::creds::SharedKeyring;
use crate::store::{
    AuditEvent, AuditIdentity, Revocation, SessionRecord, SessionStore, StoreError,
};
use crate::sts::revocation::RevocationList;
use crate::users::{NewAccessKey, NewMfaDevice, UserError, UserPolicy, UserRecord};

/// Longest request line accepted on the socket.
const MAX_REQUEST_BYTES: u64 = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum AdminRequest {
    SessionsList {
        limit: usize,
    },
    SessionsShow {
        id: String,
    },
    AuditList {
        limit: usize,
    },
    /// Revoke one session by its access key id.
    SessionsRevoke {
        id: String,
    },
    /// Revoke every session of a role issued until now.
    RolesRevokeSessions {
        role_arn: String,
    },
    /// Create an IAM user (account: the configured default unless given).
    UsersCreate {
        name: String,
        account_id: Option<String>,
        #[serde(default)]
        policies: Vec<UserPolicy>,
    },
    UsersList,
    UsersShow {
        name: String,
    },
    /// A new access key for a user; the secret is in the answer, once.
    UsersKeysCreate {
        name: String,
    },
    /// Delete an access key: it stops working at once.
    UsersKeysDelete {
        name: String,
        access_key_id: String,
    },
    /// A virtual MFA device for a user; the seed is in the answer, once.
    UsersMfaEnable {
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminResponse {
    Sessions(Vec<SessionRecord>),
    Session(Option<Box<SessionRecord>>),
    Audit(Vec<AuditEvent>),
    Revoked(Revocation),
    /// What an operator may see of users (no sealed values).
    Users(Vec<serde_json::Value>),
    NewAccessKey(NewAccessKey),
    NewMfaDevice(NewMfaDevice),
    Done(String),
    Error(String),
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("admin socket {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("admin socket: bad response: {0}")]
    Protocol(String),
}

/// What admin requests act on: the store, the keyring (user secrets are sealed with it), and
/// (inside the daemon) the in-memory revocation list every signed request consults.
#[derive(Clone)]
pub struct Admin {
    pub store: Arc<dyn SessionStore>,
    pub revocations: Option<Arc<RevocationList>>,
    pub clock: Arc<dyn Clock>,
    pub keyring: SharedKeyring,
    /// The account of users created without one.
    pub default_account_id: String,
    /// Serialises read-modify-write of user records.
    pub users_lock: Arc<tokio::sync::Mutex<()>>,
}

/// Run one admin request.
pub async fn execute(admin: &Admin, request: &AdminRequest) -> AdminResponse {
    let store = admin.store.as_ref();
    let result = match request {
        AdminRequest::SessionsList { limit } => {
            store.list_sessions(*limit).map(AdminResponse::Sessions)
        }
        AdminRequest::SessionsShow { id } => store
            .get_session(id)
            .map(|s| AdminResponse::Session(s.map(Box::new))),
        AdminRequest::AuditList { limit } => store.list_audit(*limit).map(AdminResponse::Audit),
        AdminRequest::SessionsRevoke { id } => match store.get_session(id) {
            Ok(Some(session)) => {
                revoke(
                    admin,
                    Revocation::Session {
                        access_key_id: session.access_key_id,
                        expires_at: session.expires_at,
                    },
                )
                .await
            }
            Ok(None) => return AdminResponse::Error(format!("no session {id}")),
            Err(e) => Err(e),
        },
        AdminRequest::RolesRevokeSessions { role_arn } => {
            revoke(
                admin,
                Revocation::RoleSessions {
                    role_arn: role_arn.clone(),
                    issued_at_or_before: unix_seconds(admin.clock.now()),
                },
            )
            .await
        }
        AdminRequest::UsersList => store
            .list_users()
            .map(|users| AdminResponse::Users(users.iter().map(UserRecord::summary).collect())),
        AdminRequest::UsersShow { name } => match store.get_user(name) {
            Ok(Some(user)) => Ok(AdminResponse::Users(vec![user.summary()])),
            Ok(None) => return AdminResponse::Error(format!("no user {name}")),
            Err(e) => Err(e),
        },
        AdminRequest::UsersCreate { .. }
        | AdminRequest::UsersKeysCreate { .. }
        | AdminRequest::UsersKeysDelete { .. }
        | AdminRequest::UsersMfaEnable { .. } => {
            return change_user(admin, request)
                .await
                .unwrap_or_else(|e| AdminResponse::Error(e.to_string()));
        }
    };
    result.unwrap_or_else(|e| AdminResponse::Error(e.to_string()))
}

/// Why a user command failed.
#[derive(Debug, thiserror::Error)]
enum UserCommandError {
    #[error(transparent)]
    User(#[from] UserError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Create or change a user: read, change, write back durably with its audit event (under the
/// users lock, so concurrent commands cannot lose each other's changes).
async fn change_user(
    admin: &Admin,
    request: &AdminRequest,
) -> Result<AdminResponse, UserCommandError> {
    let _guard = admin.users_lock.lock().await;
    let now = admin.clock.now();
    let keyring = admin.keyring.snapshot();
    let rng = SystemRandom::new();
    let load = |name: &str| -> Result<UserRecord, UserCommandError> {
        admin
            .store
            .get_user(name)?
            .ok_or_else(|| UserError::NoSuchUser(name.to_owned()).into())
    };
    let (user, create, event_name, parameters, response) = match request {
        AdminRequest::UsersCreate {
            name,
            account_id,
            policies,
        } => {
            let account = account_id.as_deref().unwrap_or(&admin.default_account_id);
            let user = UserRecord::new(name, account, policies.clone(), now, &rng)?;
            let response = AdminResponse::Users(vec![user.summary()]);
            let params = serde_json::json!({ "userName": name, "accountId": account });
            (user, true, "CreateUser", params, response)
        }
        AdminRequest::UsersKeysCreate { name } => {
            let mut user = load(name)?;
            let key = user.create_access_key(&keyring, now, &rng)?;
            let params = serde_json::json!({ "userName": name, "accessKeyId": key.access_key_id });
            (
                user,
                false,
                "CreateAccessKey",
                params,
                AdminResponse::NewAccessKey(key),
            )
        }
        AdminRequest::UsersKeysDelete {
            name,
            access_key_id,
        } => {
            let mut user = load(name)?;
            user.delete_access_key(access_key_id)?;
            let params = serde_json::json!({ "userName": name, "accessKeyId": access_key_id });
            let done = AdminResponse::Done(format!("deleted access key {access_key_id}"));
            (user, false, "DeleteAccessKey", params, done)
        }
        AdminRequest::UsersMfaEnable { name } => {
            let mut user = load(name)?;
            let device = user.enable_mfa(&keyring, now, &rng)?;
            let params =
                serde_json::json!({ "userName": name, "serialNumber": device.serial_number });
            (
                user,
                false,
                "EnableMFADevice",
                params,
                AdminResponse::NewMfaDevice(device),
            )
        }
        _ => return Ok(AdminResponse::Error("not a user command".into())),
    };
    let event = operator_event(event_name, parameters, now);
    admin
        .store
        .put_user(&user, create, &event)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => UserCommandError::User(UserError::Exists(user.name.clone())),
            other => other.into(),
        })?;
    Ok(response)
}

/// An audit event of an operator command.
pub fn operator_event(
    event_name: &str,
    parameters: serde_json::Value,
    now: std::time::SystemTime,
) -> AuditEvent {
    AuditEvent {
        event_time: iso8601(now),
        event_name: event_name.into(),
        source_ip_address: None,
        user_agent: Some("stsbridge admin".into()),
        request_parameters: parameters,
        user_identity: AuditIdentity {
            kind: "Operator".into(),
            ..AuditIdentity::default()
        },
        response_elements: None,
        error_code: None,
        error_message: None,
        request_id: uuid::Uuid::new_v4().to_string(),
    }
}

/// Record a revocation durably with its audit event, then honour it in this process.
async fn revoke(admin: &Admin, revocation: Revocation) -> Result<AdminResponse, StoreError> {
    let now = admin.clock.now();
    let (event_name, parameters) = match &revocation {
        Revocation::Session { access_key_id, .. } => (
            "RevokeSession",
            serde_json::json!({ "accessKeyId": access_key_id }),
        ),
        Revocation::RoleSessions { role_arn, .. } => (
            "RevokeRoleSessions",
            serde_json::json!({ "roleArn": role_arn }),
        ),
    };
    let event = operator_event(event_name, parameters, now);
    admin.store.revoke(&revocation, &event).await?;
    if let Some(list) = &admin.revocations {
        list.apply(&revocation);
    }
    Ok(AdminResponse::Revoked(revocation))
}

/// Bind the admin socket (owner-only), replacing a stale socket file. Only one daemon can hold
/// the store, so a leftover file cannot belong to a live daemon of this store.
pub fn bind(path: &Path) -> Result<UnixListener, AdminError> {
    let io = |source| AdminError::Io {
        path: path.display().to_string(),
        source,
    };
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let listener = UnixListener::bind(path).map_err(io)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    Ok(listener)
}

/// Serve admin requests until the listener is dropped.
pub async fn serve(listener: UnixListener, admin: Admin) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "admin socket accept failed");
                continue;
            }
        };
        let admin = admin.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_one(stream, admin).await {
                tracing::warn!(error = %e, "admin request failed");
            }
        });
    }
}

async fn serve_one(stream: UnixStream, admin: Admin) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    BufReader::new(read.take(MAX_REQUEST_BYTES))
        .read_line(&mut line)
        .await?;
    let response = match serde_json::from_str::<AdminRequest>(&line) {
        Ok(request) => {
            tracing::info!(?request, "admin request");
            execute(&admin, &request).await
        }
        Err(e) => AdminResponse::Error(format!("bad request: {e}")),
    };
    let mut out = serde_json::to_vec(&response).map_err(std::io::Error::other)?;
    out.push(b'\n');
    write.write_all(&out).await?;
    write.shutdown().await
}

/// Send one request to a running daemon. `Ok(None)` when no daemon listens on `path`.
pub async fn request(
    path: &Path,
    request: &AdminRequest,
) -> Result<Option<AdminResponse>, AdminError> {
    let io = |source| AdminError::Io {
        path: path.display().to_string(),
        source,
    };
    let stream = match UnixStream::connect(path).await {
        Ok(s) => s,
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused) => {
            return Ok(None);
        }
        Err(e) => return Err(io(e)),
    };
    let (read, mut write) = stream.into_split();
    let mut line = serde_json::to_vec(request).map_err(|e| AdminError::Protocol(e.to_string()))?;
    line.push(b'\n');
    write.write_all(&line).await.map_err(io)?;
    let mut answer = String::new();
    BufReader::new(read)
        .read_line(&mut answer)
        .await
        .map_err(io)?;
    serde_json::from_str(&answer)
        .map(Some)
        .map_err(|e| AdminError::Protocol(e.to_string()))
}
