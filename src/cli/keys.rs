//! `stsbridge keys list | rotate | retire KEY_ID`: the sealing keyring.

use clap::Subcommand;
use stsbridge::admin::{AdminRequest, KeyStatus};
use stsbridge::clock::{from_unix_seconds, iso8601};

#[derive(Subcommand)]
pub enum KeysCommand {
    /// The keys (current first): when created, current or retired, and what still needs each
    /// (never key material).
    List,
    /// A new sealing key, made current at once; the old one keeps opening what it sealed.
    Rotate,
    /// Remove a retired key: user secrets and MFA seeds it sealed are sealed again with the
    /// current key first; refused while unexpired session tokens need it.
    Retire {
        /// The key's id, as `keys list` shows it.
        key_id: String,
    },
}

pub fn request(command: KeysCommand) -> AdminRequest {
    match command {
        KeysCommand::List => AdminRequest::KeysList,
        KeysCommand::Rotate => AdminRequest::KeysRotate,
        KeysCommand::Retire { key_id } => AdminRequest::KeysRetire { key_id },
    }
}

/// One line per key: `ID  created DATE  current|retired (tokens valid until DATE)  needed by ...`.
pub fn lines(keys: &[KeyStatus]) -> Vec<String> {
    let date = |t: i64| iso8601(from_unix_seconds(t));
    keys.iter()
        .map(|k| {
            let state = match k.retire_after {
                _ if k.current => "current".to_owned(),
                Some(after) => format!("retired (its tokens expire by {})", date(after)),
                None => "retired".to_owned(),
            };
            let mut needs = Vec::new();
            if let Some(last) = k.live_sessions.last_expiry {
                needs.push(format!(
                    "{} live session(s) until {}",
                    k.live_sessions.count,
                    date(last)
                ));
            }
            if k.user_secrets > 0 {
                needs.push(format!("{} user secret(s)", k.user_secrets));
            }
            if k.mfa_seeds > 0 {
                needs.push(format!("{} MFA seed(s)", k.mfa_seeds));
            }
            let needed = if needs.is_empty() {
                "needed by nothing".to_owned()
            } else {
                format!("needed by {}", needs.join(", "))
            };
            format!(
                "{}  created {}  {state}  {needed}",
                k.id,
                date(k.created_at)
            )
        })
        .collect()
}
