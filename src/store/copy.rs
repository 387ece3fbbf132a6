//! `stsbridge store copy --from sled --to postgres`: every record of a stopped daemon's sled
//! store carried into a PostgreSQL database, kept only where absent, so a copy run twice
//! changes nothing the second time: the live sessions, revocations, users with their keys and
//! their last use, the roles' ids, the sealing keys' record, replay-cache entries still in
//! their window, and the audit trail (read newest first, a page at a time, each second whole).
//! Not the SSO device authorizations in progress: they live minutes, and their client starts
//! another when one is gone.

use crate::audit::AuditEvent;
use crate::audit::query::AuditQuery;
use crate::store::postgres::PostgresStore;
use crate::store::sled::SledStore;
use crate::store::{
    AuditLog, KeyUsage, Revocations, RoleIds, SealingKeys, Sessions, StoreError, Users,
};

/// Audit events read per page.
const AUDIT_PAGE: usize = if cfg!(test) { 3 } else { 10_000 };

/// What one kind of record came to: how many were read, how many of them were written (the
/// rest were there already).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Copied {
    pub read: u64,
    pub written: u64,
}

impl Copied {
    fn add(&mut self, read: usize, written: u64) {
        self.read += u64::try_from(read).unwrap_or(u64::MAX);
        self.written += written;
    }
}

/// What a copy did, by kind of record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CopyReport {
    pub sessions: Copied,
    pub revocations: Copied,
    pub users: Copied,
    pub key_uses: Copied,
    pub role_ids: Copied,
    pub sealing_keys: Copied,
    pub replay_entries: Copied,
    pub audit_events: Copied,
}

impl CopyReport {
    /// One line per kind: `sessions: 12 read, 12 copied (0 there already)`.
    pub fn lines(&self) -> Vec<String> {
        [
            ("sessions", self.sessions),
            ("revocations", self.revocations),
            ("users", self.users),
            ("key uses", self.key_uses),
            ("role ids", self.role_ids),
            ("sealing key records", self.sealing_keys),
            ("replay-cache entries", self.replay_entries),
            ("audit events", self.audit_events),
        ]
        .into_iter()
        .map(|(what, c)| {
            format!(
                "{what}: {} read, {} copied ({} there already or older)",
                c.read,
                c.written,
                c.read.saturating_sub(c.written)
            )
        })
        .collect()
    }
}

/// Copy every record of `from` into `to` (see the module's documentation); `now_unix` decides
/// which sessions and replay entries are still live.
pub async fn sled_to_postgres(
    from: &SledStore,
    to: &PostgresStore,
    now_unix: i64,
) -> Result<CopyReport, StoreError> {
    let mut report = CopyReport::default();
    // What sessions and user secrets depend on first: role ids, then users.
    let role_ids = RoleIds::list(from).await?;
    report
        .role_ids
        .add(role_ids.len(), to.import_role_ids(&role_ids).await?);
    let sealing_keys = SealingKeys::list(from).await?;
    report.sealing_keys.add(
        sealing_keys.len(),
        to.import_sealing_keys(&sealing_keys).await?,
    );
    let users = Users::list(from).await?;
    report
        .users
        .add(users.len(), to.import_users(&users).await?);
    let mut uses = Vec::new();
    for key in users.iter().flat_map(|u| &u.access_keys) {
        if let Some(used) = from.last_used(&key.access_key_id).await? {
            uses.push((key.access_key_id.clone(), used));
        }
    }
    report
        .key_uses
        .add(uses.len(), to.import_key_uses(&uses).await?);
    let sessions: Vec<_> = Sessions::list(from, usize::MAX)
        .await?
        .into_iter()
        .filter(|s| s.expires_at > now_unix)
        .collect();
    report
        .sessions
        .add(sessions.len(), to.import_sessions(&sessions).await?);
    let revocations = Revocations::list(from).await?;
    report.revocations.add(
        revocations.len(),
        to.import_revocations(&revocations).await?,
    );
    let replay = from.replay_entries(now_unix)?;
    report
        .replay_entries
        .add(replay.len(), to.import_replay(&replay).await?);
    copy_audit(from, to, &mut report.audit_events).await?;
    Ok(report)
}

/// The audit trail, newest page first: each page ends at the oldest second it reached, which
/// the next page reads again whole, so the events of one second are always copied together (a
/// second with more events than a page is read again with a larger page).
async fn copy_audit(
    from: &SledStore,
    to: &PostgresStore,
    copied: &mut Copied,
) -> Result<(), StoreError> {
    let mut until = None;
    let mut limit = AUDIT_PAGE;
    loop {
        let page = AuditLog::query(
            from,
            &AuditQuery {
                until,
                limit,
                ..AuditQuery::default()
            },
        )
        .await?;
        let full = page.len() == limit;
        let Some(oldest) = page.first().map(event_time).transpose()? else {
            return Ok(());
        };
        if !full {
            copied.add(page.len(), to.import_audit(&page).await?);
            return Ok(());
        }
        let whole: Vec<AuditEvent> = page
            .into_iter()
            .filter(|e| event_time(e).is_ok_and(|t| t > oldest))
            .collect();
        if whole.is_empty() {
            limit = limit.saturating_mul(2);
            continue;
        }
        copied.add(whole.len(), to.import_audit(&whole).await?);
        until = Some(oldest.saturating_add(1));
    }
}

fn event_time(event: &AuditEvent) -> Result<i64, StoreError> {
    event.unix_time().ok_or_else(|| {
        StoreError::Corrupt(format!(
            "audit event {} has no readable time",
            event.request_id.escape_debug()
        ))
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::{from_unix_seconds, iso8601};
    use crate::store::conformance::{event, session};
    use crate::store::postgres::PostgresSettings;
    use crate::store::postgres::test_cluster::fresh_database;
    use crate::store::{ReplayKey, Revocation, StorageSettings, Store};

    fn at(id: &str, t: i64) -> AuditEvent {
        AuditEvent {
            event_time: iso8601(from_unix_seconds(t)),
            ..event(id)
        }
    }

    /// Everything live in a sled store lands in the database once: a second copy writes
    /// nothing; expired sessions and replay entries stay behind; the audit trail comes whole
    /// and in order though pages (3 events here) end inside seconds that hold more.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_sled_store_is_copied_into_postgres_once() {
        let dir = tempfile::tempdir().unwrap();
        let sled = Arc::new(
            SledStore::open(&StorageSettings::new(dir.path().join("sled"), 8 << 20)).unwrap(),
        );
        let from = Store::on(sled.clone());
        let now = 10_000;
        from.sessions
            .put(&session("ASIALIVE", now + 900), &at("issue-live", 100))
            .await
            .unwrap();
        from.sessions
            .put(&session("ASIAGONE", now - 1), &at("issue-gone", 100))
            .await
            .unwrap();
        for (i, t) in [101, 101, 101, 101, 102, 103, 103].into_iter().enumerate() {
            from.audit.append(&at(&format!("e{i}"), t)).await.unwrap();
        }
        let revocation = Revocation::Session {
            access_key_id: "ASIALIVE".into(),
            expires_at: now + 900,
        };
        from.revocations
            .revoke(&revocation, &at("revoke", 104))
            .await
            .unwrap();
        let live = ReplayKey::saml_assertion("corp", "_live");
        assert!(from.replay.remember_once(&live, now + 60, 0).await.unwrap());
        let old = ReplayKey::saml_assertion("corp", "_old");
        assert!(from.replay.remember_once(&old, now - 60, 0).await.unwrap());
        let ids = [(
            "arn:aws:iam::123456789012:role/r".to_owned(),
            "AROAEXAMPLE".to_owned(),
        )]
        .into_iter()
        .collect();
        from.role_ids.replace(&ids).await.unwrap();
        from.sealing_keys
            .record_current("0a0b0c0d", now)
            .await
            .unwrap();
        let expected_audit = from.audit.list(100).await.unwrap();

        let to = Arc::new(
            PostgresStore::open(&PostgresSettings {
                url: fresh_database(),
                password: None,
                pool_size: 2,
            })
            .await
            .unwrap(),
        );
        let report = sled_to_postgres(&sled, &to, now).await.unwrap();
        let one = Copied {
            read: 1,
            written: 1,
        };
        assert_eq!(report.sessions, one, "the live session only");
        assert_eq!(report.revocations, one);
        assert_eq!(report.replay_entries, one, "the entry still in its window");
        assert_eq!(report.role_ids, one);
        assert_eq!(report.sealing_keys, one);
        assert_eq!(
            report.audit_events,
            Copied {
                read: 10,
                written: 10
            }
        );
        let copy = Store::on(to.clone());
        assert!(copy.sessions.get("ASIALIVE").await.unwrap().is_some());
        assert!(copy.sessions.get("ASIAGONE").await.unwrap().is_none());
        assert!(copy.replay.is_remembered(&live, now).await.unwrap());
        assert!(
            !copy
                .replay
                .remember_once(&live, now + 60, now)
                .await
                .unwrap()
        );
        assert_eq!(copy.revocations.list().await.unwrap(), [revocation]);
        assert_eq!(copy.role_ids.list().await.unwrap(), ids);
        assert_eq!(
            copy.audit.list(100).await.unwrap(),
            expected_audit,
            "in order"
        );

        let again = sled_to_postgres(&sled, &to, now).await.unwrap();
        assert_eq!(
            again.audit_events,
            Copied {
                read: 10,
                written: 0
            }
        );
        assert_eq!(
            again.sessions,
            Copied {
                read: 1,
                written: 0
            }
        );
        assert_eq!(again.revocations.written, 0);
        assert_eq!(again.replay_entries.written, 0);
        assert_eq!(
            copy.audit.list(100).await.unwrap(),
            expected_audit,
            "nothing twice"
        );
        assert!(
            again
                .lines()
                .iter()
                .any(|l| l == "audit events: 10 read, 0 copied (10 there already or older)")
        );
    }

    /// A login's revocation is copied as the other revocations are; device authorizations
    /// (minutes-long, begun again by their client) are not.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn login_revocations_are_copied_and_device_authorizations_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let sled = Arc::new(
            SledStore::open(&StorageSettings::new(dir.path().join("sled"), 8 << 20)).unwrap(),
        );
        let from = Store::on(sled.clone());
        let now = 10_000;
        let login = Revocation::Login {
            login_id: "L0123456789abcdef".into(),
            expires_at: now + 900,
        };
        from.revocations
            .revoke(&login, &at("revoke-login", 100))
            .await
            .unwrap();
        let device = crate::store::DeviceRecord {
            user_code: "WDJB-MJHT".into(),
            expires_at: now + 600,
            state: b"pending".to_vec(),
        };
        assert!(from.devices.create_device(&device, now).await.unwrap());
        let to = Arc::new(
            PostgresStore::open(&PostgresSettings {
                url: fresh_database(),
                password: None,
                pool_size: 2,
            })
            .await
            .unwrap(),
        );
        let report = sled_to_postgres(&sled, &to, now).await.unwrap();
        assert_eq!(report.revocations.written, 1);
        let copy = Store::on(to);
        assert_eq!(copy.revocations.list().await.unwrap(), [login]);
        assert!(copy.login_refused("L0123456789abcdef", crate::clock::from_unix_seconds(now)));
        assert_eq!(copy.devices.device("WDJB-MJHT", now).await.unwrap(), None);
    }
}
