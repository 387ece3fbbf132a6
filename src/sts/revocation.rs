//! Revoked sessions, in memory, kept in step with the store: loaded at start, updated by the
//! admin socket the moment an operator revokes, so every signed request honours it at once.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

use crate::creds::SessionClaims;
use crate::store::Revocation;

#[derive(Debug, Default)]
pub struct RevocationList {
    sessions: RwLock<HashSet<String>>,
    /// Role ARN -> sessions issued at or before this instant (unix seconds) are revoked.
    roles: RwLock<HashMap<String, i64>>,
}

impl RevocationList {
    pub fn new(revocations: impl IntoIterator<Item = Revocation>) -> Self {
        let list = Self::default();
        for r in revocations {
            list.apply(&r);
        }
        list
    }

    pub fn apply(&self, revocation: &Revocation) {
        match revocation {
            Revocation::Session { access_key_id, .. } => {
                self.sessions
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(access_key_id.clone());
            }
            Revocation::RoleSessions {
                role_arn,
                issued_at_or_before,
            } => {
                let mut roles = self.roles.write().unwrap_or_else(|e| e.into_inner());
                let before = roles
                    .entry(role_arn.clone())
                    .or_insert(*issued_at_or_before);
                *before = (*before).max(*issued_at_or_before);
            }
        }
    }

    /// Whether the session these claims describe was revoked.
    pub fn is_revoked(&self, claims: &SessionClaims) -> bool {
        if self
            .sessions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&claims.access_key_id)
        {
            return true;
        }
        self.roles
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&claims.session.role_arn)
            .is_some_and(|before| claims.issued_at <= *before)
    }
}
