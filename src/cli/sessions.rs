//! `stsbridge sessions revoke ID | --login LOGIN_ID`: one session by its access key id, or one
//! SSO sign-in (every access and refresh token of it) by its login id.

use clap::Args;
use stsbridge::admin::AdminRequest;

#[derive(Args)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["id", "login"]))]
pub struct RevokeArgs {
    /// The session's access key id (`ASIA…`).
    id: Option<String>,
    /// Revoke an SSO sign-in instead: its access and refresh tokens are refused at once, on
    /// every daemon of the store.
    #[arg(long, value_name = "LOGIN_ID")]
    login: Option<String>,
}

/// The admin request of `sessions revoke`.
pub fn revoke_request(args: RevokeArgs) -> AdminRequest {
    match (args.login, args.id) {
        (Some(login_id), _) => AdminRequest::SessionsRevokeLogin { login_id },
        (None, id) => AdminRequest::SessionsRevoke {
            id: id.unwrap_or_default(),
        },
    }
}
