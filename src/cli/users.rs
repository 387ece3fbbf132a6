//! The user lifecycle commands after creation: `users delete`, `users policies set`, `users
//! keys deactivate|activate`, `users mfa disable`, `users revoke-sessions`.

use std::path::PathBuf;

use clap::Subcommand;
use stsbridge::admin::AdminRequest;
use stsbridge::users::{KeyStatus, UserPolicy};

#[derive(Subcommand)]
pub enum UsersMore {
    /// Delete a user and its access keys; its sessions are refused at once.
    Delete {
        /// The user's name.
        name: String,
    },
    /// Manage a user's inline identity policies.
    Policies {
        #[command(subcommand)]
        command: UserPoliciesCommand,
    },
    /// Refuse every session the user's keys obtained until now (GetSessionToken,
    /// GetFederationToken).
    RevokeSessions {
        /// The user's name.
        name: String,
    },
}

#[derive(Subcommand)]
pub enum UserPoliciesCommand {
    /// Replace the user's inline policies with these files (IAM JSON, validated; the file stem
    /// names the policy). No file: the user keeps no inline policy.
    Set {
        /// The user's name.
        name: String,
        /// Identity policy files (IAM JSON); each file's stem names its policy.
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum UserKeysMore {
    /// Make an access key inactive: requests signed with it are refused until it is activated.
    Deactivate {
        /// The user's name.
        name: String,
        /// The access key id (`AKIA…`).
        access_key_id: String,
    },
    /// Make an inactive access key active again.
    Activate {
        /// The user's name.
        name: String,
        /// The access key id (`AKIA…`).
        access_key_id: String,
    },
}

#[derive(Subcommand)]
pub enum UserMfaMore {
    /// Remove the user's MFA device (`users mfa enable` makes a new one).
    Disable {
        /// The user's name.
        name: String,
    },
}

pub fn request(command: UsersMore) -> Result<AdminRequest, String> {
    Ok(match command {
        UsersMore::Delete { name } => AdminRequest::UsersDelete { name },
        UsersMore::Policies {
            command: UserPoliciesCommand::Set { name, files },
        } => AdminRequest::UsersPoliciesSet {
            name,
            policies: read_policies(files)?,
        },
        UsersMore::RevokeSessions { name } => AdminRequest::UsersRevokeSessions { name },
    })
}

pub fn keys_request(command: UserKeysMore) -> AdminRequest {
    let (name, access_key_id, status) = match command {
        UserKeysMore::Deactivate {
            name,
            access_key_id,
        } => (name, access_key_id, KeyStatus::Inactive),
        UserKeysMore::Activate {
            name,
            access_key_id,
        } => (name, access_key_id, KeyStatus::Active),
    };
    AdminRequest::UsersKeysSetStatus {
        name,
        access_key_id,
        status,
    }
}

pub fn mfa_request(command: UserMfaMore) -> AdminRequest {
    match command {
        UserMfaMore::Disable { name } => AdminRequest::UsersMfaDisable { name },
    }
}

/// Policy files as a user's inline policies, each named by its file stem (the daemon validates
/// them).
pub fn read_policies(files: Vec<PathBuf>) -> Result<Vec<UserPolicy>, String> {
    let mut read = Vec::with_capacity(files.len());
    for file in files {
        let document =
            std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let name = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("policy")
            .to_owned();
        read.push(UserPolicy { name, document });
    }
    Ok(read)
}
