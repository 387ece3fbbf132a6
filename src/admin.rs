//! The local admin socket: operator commands reach a running daemon through a Unix socket with
//! owner-only permissions (sled admits one process), or run on the store directly when the daemon
//! is stopped. Both paths go through [`execute`].
//!
//! Protocol: one JSON request line, one JSON response line.

use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use crate::clock::{Clock, iso8601, unix_seconds};
use crate::store::{
    AuditEvent, AuditIdentity, Revocation, SessionRecord, SessionStore, StoreError,
};
use crate::sts::revocation::RevocationList;

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
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminResponse {
    Sessions(Vec<SessionRecord>),
    Session(Option<Box<SessionRecord>>),
    Audit(Vec<AuditEvent>),
    Revoked(Revocation),
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

/// What admin requests act on: the store, and (inside the daemon) the in-memory revocation
/// list every signed request consults.
#[derive(Clone)]
pub struct Admin {
    pub store: Arc<dyn SessionStore>,
    pub revocations: Option<Arc<RevocationList>>,
    pub clock: Arc<dyn Clock>,
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
    };
    result.unwrap_or_else(|e| AdminResponse::Error(e.to_string()))
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
    let event = AuditEvent {
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
    };
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
