//! The local admin socket: operator commands reach a running daemon through a Unix socket with
//! owner-only permissions (sled admits one process), or run on the store directly when the daemon
//! is stopped. Both paths go through [`execute`].
//!
//! Protocol: one JSON request line, one JSON response line.

mod keys;
mod user_changes;

use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use crate::audit::query::AuditQuery;
use crate::audit::{AuditDraft, AuditEvent, EventName};
use crate::clock::{Clock, from_unix_seconds, iso8601, unix_seconds};
use crate::creds::SharedKeyring;
use crate::follow::{self, FollowLine};
use crate::keyring_home::KeyringHome;
use crate::reload::{ReloadReport, Reloader};
use crate::store::{
    Revocation, SessionRecord, Store, StoreError, UpdateError, UserChange, update_user,
};
use crate::users::{NewAccessKey, NewMfaDevice, UserError, UserPolicy, UserRecord};

pub use keys::KeyStatus;

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
    /// Delete the audit events recorded before `before` (unix seconds, not later than now).
    /// The deletion itself is recorded.
    AuditPrune {
        before: i64,
    },
    /// Revoke one session by its access key id.
    SessionsRevoke {
        id: String,
    },
    /// Revoke every session of a role issued until now. The role must be configured, unless
    /// `force` (a role already removed).
    RolesRevokeSessions {
        role_arn: String,
        #[serde(default)]
        force: bool,
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
    /// Read, validate and apply the configuration again (the running daemon only).
    Reload,
    /// The keyring's keys and what still needs each (never key material).
    KeysList,
    /// A new sealing key, made current; the old one is kept to open what it sealed.
    KeysRotate,
    /// Remove a retired key from the keyring, once nothing needs it (user secrets and MFA seeds
    /// it sealed are sealed again with the current key first).
    KeysRetire {
        key_id: String,
    },
    /// Delete a user: its keys stop working and its sessions are refused at once.
    UsersDelete {
        name: String,
    },
    /// Replace a user's inline identity policies (validated).
    UsersPoliciesSet {
        name: String,
        policies: Vec<UserPolicy>,
    },
    /// Make an access key active or inactive.
    UsersKeysSetStatus {
        name: String,
        access_key_id: String,
        status: crate::users::KeyStatus,
    },
    /// Remove a user's MFA device.
    UsersMfaDisable {
        name: String,
    },
    /// Refuse every session the user's keys obtained until now (GetSessionToken,
    /// GetFederationToken).
    UsersRevokeSessions {
        name: String,
    },
    /// The newest audit events matching a query (answered with `Audit`).
    AuditQuery(AuditQuery),
    /// The matching audit events, then every new one as it is recorded: a stream of
    /// [`FollowLine`]s until the client disconnects (running daemon only).
    AuditFollow(AuditQuery),
    /// Revoke one SSO sign-in by its login id: its access and refresh tokens are refused at
    /// once, on every daemon of the store.
    SessionsRevokeLogin {
        login_id: String,
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
    Reloaded(ReloadReport),
    /// The keyring's keys, current first.
    Keys(Vec<KeyStatus>),
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

/// Whether a role ARN names a configured role (the daemon's federation in force, or the
/// configuration read by the command line).
pub type KnownRole = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// What admin requests act on: the store (revocations reach every signed request through its
/// feed), the keyring (user secrets are sealed with it), the clock, the configured roles.
#[derive(Clone)]
pub struct Admin {
    store: Store,
    clock: Arc<dyn Clock>,
    keyring: SharedKeyring,
    /// The account of users created without one.
    default_account_id: String,
    known_role: KnownRole,
    /// The running daemon's reloader (`None`: the command line acting on a stopped store).
    reload: Option<Arc<Reloader>>,
    /// Where `keys rotate` and `keys retire` change the keyring (none: they are refused).
    keyring_home: Option<KeyringHome>,
    /// One keyring change at a time.
    keyring_change: Arc<tokio::sync::Mutex<()>>,
}

impl Admin {
    pub fn new(
        store: Store,
        keyring: SharedKeyring,
        clock: Arc<dyn Clock>,
        default_account_id: &str,
        known_role: KnownRole,
    ) -> Self {
        Self {
            store,
            clock,
            keyring,
            default_account_id: default_account_id.to_owned(),
            known_role,
            reload: None,
            keyring_home: None,
            keyring_change: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Serve `stsbridge reload` with `reloader`.
    #[must_use]
    pub fn with_reload(mut self, reloader: Arc<Reloader>) -> Self {
        self.reload = Some(reloader);
        self
    }

    /// Let `keys rotate` and `keys retire` rewrite the keyring file at `path` (the one the
    /// keyring was loaded from).
    #[must_use]
    pub fn with_keyring_file(mut self, path: &Path) -> Self {
        self.keyring_home = Some(KeyringHome::File(path.to_owned()));
        self
    }

    /// Let `keys rotate` and `keys retire` change the keyring where it lives (the file, or
    /// the database under the KEK).
    #[must_use]
    pub fn with_keyring_home(mut self, home: KeyringHome) -> Self {
        self.keyring_home = Some(home);
        self
    }
}

/// Run one admin request.
pub async fn execute(admin: &Admin, request: &AdminRequest) -> AdminResponse {
    let store = &admin.store;
    let result = match request {
        AdminRequest::SessionsList { limit } => store
            .sessions
            .list(*limit)
            .await
            .map(AdminResponse::Sessions),
        AdminRequest::SessionsShow { id } => store
            .sessions
            .get(id)
            .await
            .map(|s| AdminResponse::Session(s.map(Box::new))),
        AdminRequest::AuditList { limit } => {
            store.audit.list(*limit).await.map(AdminResponse::Audit)
        }
        AdminRequest::AuditPrune { before } => prune_audit(admin, *before).await,
        AdminRequest::Reload => {
            return match &admin.reload {
                Some(reloader) => AdminResponse::Reloaded(reloader.reload().await),
                None => AdminResponse::Error(
                    "no daemon is running: a reload applies to a running daemon (a stopped one reads the configuration when it starts)".to_owned(),
                ),
            };
        }
        AdminRequest::SessionsRevoke { id } => match store.sessions.get(id).await {
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
        AdminRequest::RolesRevokeSessions { role_arn, force } => {
            if !force && !(admin.known_role)(role_arn) {
                return AdminResponse::Error(format!(
                    "no role {role_arn} is configured (ARNs are case-sensitive); to revoke the sessions of a role already removed, pass --force"
                ));
            }
            revoke(
                admin,
                Revocation::RoleSessions {
                    role_arn: role_arn.clone(),
                    issued_at_or_before: unix_seconds(admin.clock.now()),
                },
            )
            .await
        }
        AdminRequest::UsersList => match store.users.list().await {
            Ok(users) => user_changes::summaries(admin, &users).await,
            Err(e) => Err(e),
        },
        AdminRequest::UsersShow { name } => match store.users.get(name).await {
            Ok(Some(user)) => user_changes::summaries(admin, &[user]).await,
            Ok(None) => return AdminResponse::Error(format!("no user {name}")),
            Err(e) => Err(e),
        },
        AdminRequest::KeysList => keys::list(admin).await,
        AdminRequest::KeysRotate => keys::rotate(admin).await,
        AdminRequest::KeysRetire { key_id } => keys::retire(admin, key_id).await,
        AdminRequest::UsersDelete { .. }
        | AdminRequest::UsersPoliciesSet { .. }
        | AdminRequest::UsersKeysSetStatus { .. }
        | AdminRequest::UsersMfaDisable { .. }
        | AdminRequest::UsersRevokeSessions { .. } => {
            return user_changes::execute(admin, request).await;
        }
        AdminRequest::AuditQuery(query) => match query.validate() {
            Ok(()) => store.audit.query(query).await.map(AdminResponse::Audit),
            Err(e) => return AdminResponse::Error(e.to_string()),
        },
        AdminRequest::AuditFollow(_) => {
            return AdminResponse::Error(
                "following the audit trail needs the running daemon".into(),
            );
        }
        AdminRequest::SessionsRevokeLogin { login_id } => match login_revocation(admin, login_id) {
            Ok(revocation) => revoke(admin, revocation).await,
            Err(message) => return AdminResponse::Error(message),
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

/// The user a command is about.
fn user_name(request: &AdminRequest) -> &str {
    match request {
        AdminRequest::UsersCreate { name, .. }
        | AdminRequest::UsersKeysCreate { name }
        | AdminRequest::UsersKeysDelete { name, .. }
        | AdminRequest::UsersMfaEnable { name }
        | AdminRequest::UsersShow { name } => name,
        _ => "",
    }
}

/// Create or change a user: read, change, write back by compare-and-swap with its audit event
/// (a concurrent change, from this process or another, is never lost: the change is applied
/// again to the newer record).
async fn change_user(
    admin: &Admin,
    request: &AdminRequest,
) -> Result<AdminResponse, UpdateError<UserError>> {
    let now = admin.clock.now();
    let keyring = admin.keyring.snapshot();
    let rng = SystemRandom::new();
    let name = user_name(request);
    update_user(admin.store.users.as_ref(), name, |current| {
        let existing = |current: Option<UserRecord>| {
            current.ok_or_else(|| UserError::NoSuchUser(name.to_owned()))
        };
        let (user, event, parameters, response) = match request {
            AdminRequest::UsersCreate {
                account_id,
                policies,
                ..
            } => {
                if current.is_some() {
                    return Err(UserError::Exists(name.to_owned()));
                }
                let account = account_id.as_deref().unwrap_or(&admin.default_account_id);
                let user = UserRecord::new(name, account, policies.clone(), now, &rng)?;
                let response = AdminResponse::Users(vec![user.summary(|_| None)]);
                let params = serde_json::json!({ "userName": name, "accountId": account });
                (user, EventName::CreateUser, params, response)
            }
            AdminRequest::UsersKeysCreate { .. } => {
                let mut user = existing(current)?;
                let key = user.create_access_key(&keyring, now, &rng)?;
                let params =
                    serde_json::json!({ "userName": name, "accessKeyId": key.access_key_id });
                let response = AdminResponse::NewAccessKey(key);
                (user, EventName::CreateAccessKey, params, response)
            }
            AdminRequest::UsersKeysDelete { access_key_id, .. } => {
                let mut user = existing(current)?;
                user.delete_access_key(access_key_id)?;
                let params = serde_json::json!({ "userName": name, "accessKeyId": access_key_id });
                let done = AdminResponse::Done(format!("deleted access key {access_key_id}"));
                (user, EventName::DeleteAccessKey, params, done)
            }
            AdminRequest::UsersMfaEnable { .. } => {
                let mut user = existing(current)?;
                let device = user.enable_mfa(&keyring, now, &rng)?;
                let params =
                    serde_json::json!({ "userName": name, "serialNumber": device.serial_number });
                let response = AdminResponse::NewMfaDevice(device);
                (user, EventName::EnableMfaDevice, params, response)
            }
            _ => return Err(UserError::NoSuchUser(name.to_owned())),
        };
        Ok(UserChange {
            record: Some(user),
            audit: AuditDraft::operator(event, parameters, now).done(),
            value: response,
        })
    })
    .await
}

/// Record a revocation durably with its audit event; the store's feed carries it to every
/// signed request.
async fn revoke(admin: &Admin, revocation: Revocation) -> Result<AdminResponse, StoreError> {
    let now = admin.clock.now();
    let (event_name, parameters) = match &revocation {
        Revocation::Session { access_key_id, .. } => (
            EventName::RevokeSession,
            serde_json::json!({ "accessKeyId": access_key_id }),
        ),
        Revocation::RoleSessions { role_arn, .. } => (
            EventName::RevokeRoleSessions,
            serde_json::json!({ "roleArn": role_arn }),
        ),
        Revocation::Login { login_id, .. } => (
            EventName::RevokeSession,
            serde_json::json!({ "loginId": login_id }),
        ),
    };
    let event = AuditDraft::operator(event_name, parameters, now).done();
    admin.store.revocations.revoke(&revocation, &event).await?;
    Ok(AdminResponse::Revoked(revocation))
}

/// How long a login revocation is kept, then purged: 90 days, the longest an IAM Identity
/// Center session lasts. The admin does not know when the revoked login itself ends (its
/// tokens are sealed, not stored), so the SSO layer must not let a login (its refresh token)
/// live longer than this, or a revoked one would work again once its revocation is purged.
pub const LOGIN_REVOCATION_SECONDS: i64 = 90 * 24 * 3600;

/// Longest login id accepted (the SSO layer's are far shorter).
const MAX_LOGIN_ID_CHARS: usize = 128;

/// The revocation of the login `login_id`, kept [`LOGIN_REVOCATION_SECONDS`] from now; an id
/// that is empty, too long or not plain ASCII letters and digits is refused (it could match no
/// login, and would be stored as typed).
fn login_revocation(admin: &Admin, login_id: &str) -> Result<Revocation, String> {
    if login_id.is_empty()
        || login_id.len() > MAX_LOGIN_ID_CHARS
        || !login_id.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(format!(
            "{:?} is not a login id (ASCII letters and digits, at most {MAX_LOGIN_ID_CHARS})",
            login_id
                .chars()
                .take(MAX_LOGIN_ID_CHARS)
                .collect::<String>()
        ));
    }
    Ok(Revocation::Login {
        login_id: login_id.to_owned(),
        expires_at: unix_seconds(admin.clock.now()).saturating_add(LOGIN_REVOCATION_SECONDS),
    })
}

async fn prune_audit(admin: &Admin, before: i64) -> Result<AdminResponse, StoreError> {
    let now = admin.clock.now();
    let cut = iso8601(from_unix_seconds(before));
    if before > unix_seconds(now) {
        return Ok(AdminResponse::Error(format!(
            "{cut} is in the future; the audit can be pruned up to now ({})",
            iso8601(now)
        )));
    }
    let pruned = admin.store.audit.prune_before(before).await?;
    let event = AuditDraft::operator(
        EventName::PruneAudit,
        serde_json::json!({ "before": cut }),
        now,
    )
    .succeeded(serde_json::json!({ "eventsDeleted": pruned }));
    admin.store.audit.append(&event).await?;
    Ok(AdminResponse::Done(format!(
        "deleted {pruned} audit events recorded before {cut}"
    )))
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

/// Serve admin requests until this future is dropped (the daemon stops), which ends the
/// requests in progress with it: a follower sees its stream close.
pub async fn serve(listener: UnixListener, admin: Admin) {
    let mut requests = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            Some(_) = requests.join_next() => continue,
        };
        let (stream, _) = match accepted {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "admin socket accept failed");
                continue;
            }
        };
        let admin = admin.clone();
        requests.spawn(async move {
            if let Err(e) = serve_one(stream, admin).await {
                tracing::warn!(error = %e, "admin request failed");
            }
        });
    }
}

async fn serve_one(stream: UnixStream, admin: Admin) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut read = BufReader::new(read.take(MAX_REQUEST_BYTES));
    read.read_line(&mut line).await?;
    let response = match serde_json::from_str::<AdminRequest>(&line) {
        Ok(AdminRequest::AuditFollow(query)) => {
            tracing::info!(?query, "admin request: follow the audit trail");
            return follow::serve(admin.store.audit.as_ref(), &query, read, write).await;
        }
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
    let Some((read, _write)) = send(path, request).await? else {
        return Ok(None);
    };
    let mut answer = String::new();
    BufReader::new(read)
        .read_line(&mut answer)
        .await
        .map_err(|source| io_error(path, source))?;
    serde_json::from_str(&answer)
        .map(Some)
        .map_err(|e| AdminError::Protocol(e.to_string()))
}

fn io_error(path: &Path, source: std::io::Error) -> AdminError {
    AdminError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Connect to the daemon listening on `path` and send `request` (one line of JSON); the two
/// halves of the connection, for the answer. `Ok(None)` when no daemon listens.
async fn send(
    path: &Path,
    request: &AdminRequest,
) -> Result<
    Option<(
        tokio::net::unix::OwnedReadHalf,
        tokio::net::unix::OwnedWriteHalf,
    )>,
    AdminError,
> {
    let stream = match UnixStream::connect(path).await {
        Ok(s) => s,
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused) => {
            return Ok(None);
        }
        Err(e) => return Err(io_error(path, e)),
    };
    let (read, mut write) = stream.into_split();
    let mut line = serde_json::to_vec(request).map_err(|e| AdminError::Protocol(e.to_string()))?;
    line.push(b'\n');
    write
        .write_all(&line)
        .await
        .map_err(|source| io_error(path, source))?;
    Ok(Some((read, write)))
}

/// The stream of `audit list --follow` from a running daemon.
pub struct FollowStream {
    lines: tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>,
    /// Kept open: the daemon ends the stream when this side closes.
    _request: tokio::net::unix::OwnedWriteHalf,
    path: String,
}

impl FollowStream {
    /// The next line; `None` once the daemon closed the stream (it stopped).
    pub async fn next(&mut self) -> Result<Option<FollowLine>, AdminError> {
        let line = self
            .lines
            .next_line()
            .await
            .map_err(|source| AdminError::Io {
                path: self.path.clone(),
                source,
            })?;
        line.map(|line| {
            serde_json::from_str(&line).map_err(|e| AdminError::Protocol(e.to_string()))
        })
        .transpose()
    }
}

/// Follow the audit trail of the daemon listening on `path`: the events matching `query`, then
/// the new ones. `Ok(None)` when no daemon listens.
pub async fn follow(path: &Path, query: &AuditQuery) -> Result<Option<FollowStream>, AdminError> {
    let request = AdminRequest::AuditFollow(query.clone());
    let Some((read, write)) = send(path, &request).await? else {
        return Ok(None);
    };
    Ok(Some(FollowStream {
        lines: BufReader::new(read).lines(),
        _request: write,
        path: path.display().to_string(),
    }))
}
