//! `stsbridge keys list | rotate | retire KEY_ID | init-kek PATH`: the sealing keyring, and
//! the key-encryption key that seals it in a PostgreSQL store.

use std::path::{Path, PathBuf};

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
    /// Write a new key-encryption key (32 random bytes, mode 0600) for `[keys] kek_file`; an
    /// existing file is never overwritten. Every daemon sharing the database needs a copy.
    InitKek {
        /// The file to create.
        path: PathBuf,
    },
}

/// The admin request of a command the daemon (or the store) answers.
pub fn request(command: KeysCommand) -> Result<AdminRequest, String> {
    match command {
        KeysCommand::List => Ok(AdminRequest::KeysList),
        KeysCommand::Rotate => Ok(AdminRequest::KeysRotate),
        KeysCommand::Retire { key_id } => Ok(AdminRequest::KeysRetire { key_id }),
        KeysCommand::InitKek { .. } => {
            Err("keys init-kek writes a file; no daemon answers it".into())
        }
    }
}

/// `keys init-kek PATH`: the file written, or why not; what to do next.
pub fn init_kek(path: &Path) -> Result<Vec<String>, String> {
    stsbridge::creds::kek::Kek::create_file(path).map_err(|e| e.to_string())?;
    Ok(vec![
        format!("wrote a new KEK to {} (mode 0600)", path.display()),
        "set [keys] kek_file to it and give every daemon sharing the database the same file; \
         back it up apart from the database: without it the keyring kept there cannot be opened"
            .to_owned(),
    ])
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
