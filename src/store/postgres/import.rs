//! Records copied in from another store (`stsbridge store copy`), inserted as they are and
//! kept only where absent (`ON CONFLICT DO NOTHING`; a role's revocation where the copy's
//! covers more), so a copy run twice changes nothing the second time. Each call is one
//! transaction and returns how many rows it wrote.

use std::collections::BTreeMap;

use aws_lc_rs::digest::{SHA256, digest};
use data_encoding::HEXLOWER;

use deadpool_postgres::Pool;

use super::{
    PostgresStore, REVOCATION_CHANNEL, db_error, encode, event_row, moot_at, partitions,
    pool_error, revocation_key,
};
use crate::audit::AuditEvent;
use crate::store::{KeyUse, Revocation, SessionRecord, StoreError};
use crate::users::UserRecord;

/// Rows per statement.
const CHUNK: usize = 1_000;

impl PostgresStore {
    /// Sessions absent here; returns how many were inserted.
    pub async fn import_sessions(&self, sessions: &[SessionRecord]) -> Result<u64, StoreError> {
        let mut inserted = 0;
        for chunk in sessions.chunks(CHUNK) {
            let ids: Vec<&str> = chunk.iter().map(|s| s.access_key_id.as_str()).collect();
            let expires: Vec<i64> = chunk.iter().map(|s| s.expires_at).collect();
            let issued: Vec<i64> = chunk.iter().map(|s| s.issued_at).collect();
            let records = chunk.iter().map(encode).collect::<Result<Vec<_>, _>>()?;
            let client = self.client().await?;
            inserted += client
                .execute(
                    "INSERT INTO sessions (access_key_id, expires_at, issued_at, record)
                     SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[], $4::text[])
                     ON CONFLICT (access_key_id) DO NOTHING",
                    &[&ids, &expires, &issued, &records],
                )
                .await
                .map_err(|e| db_error("copying sessions", &e))?;
        }
        Ok(inserted)
    }

    /// Audit events, each once however often copied: events of one second must come in one
    /// call (an event's identity is its JSON and which occurrence of that JSON it is). Returns
    /// how many were inserted.
    pub async fn import_audit(&self, events: &[AuditEvent]) -> Result<u64, StoreError> {
        insert_audit_once(&self.pool, events)
            .await
            .inspect_err(|e| self.unavailable.saw(e))
    }

    /// Replay-cache entries (the key's text and its window's end) absent here.
    pub async fn import_replay(&self, entries: &[(String, i64)]) -> Result<u64, StoreError> {
        let mut inserted = 0;
        for chunk in entries.chunks(CHUNK) {
            let keys: Vec<&str> = chunk.iter().map(|(k, _)| k.as_str()).collect();
            let until: Vec<i64> = chunk.iter().map(|(_, u)| *u).collect();
            let client = self.client().await?;
            inserted += client
                .execute(
                    "INSERT INTO replay (key, until) SELECT * FROM unnest($1::text[], $2::int8[])
                     ON CONFLICT (key) DO NOTHING",
                    &[&keys, &until],
                )
                .await
                .map_err(|e| db_error("copying the replay cache", &e))?;
        }
        Ok(inserted)
    }

    /// Revocations absent here, or covering more than the one here (a later revocation of a
    /// role); announced to the daemons on the database.
    pub async fn import_revocations(&self, revocations: &[Revocation]) -> Result<u64, StoreError> {
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| db_error("starting to copy revocations", &e))?;
        let mut written = 0;
        for revocation in revocations {
            written += tx
                .execute(
                    "INSERT INTO revocations (key, revocation, moot_at) VALUES ($1, $2, $3)
                     ON CONFLICT (key) DO UPDATE SET revocation = EXCLUDED.revocation,
                                                     moot_at = EXCLUDED.moot_at
                     WHERE revocations.moot_at < EXCLUDED.moot_at",
                    &[
                        &revocation_key(revocation),
                        &encode(revocation)?,
                        &moot_at(revocation),
                    ],
                )
                .await
                .map_err(|e| db_error("copying a revocation", &e))?;
        }
        tx.execute("SELECT pg_notify($1, '')", &[&REVOCATION_CHANNEL])
            .await
            .map_err(|e| db_error("announcing revocations", &e))?;
        tx.commit()
            .await
            .map_err(|e| db_error("committing revocations", &e))?;
        drop(client);
        self.reload_revocations().await?;
        Ok(written)
    }

    /// Users absent here, with their access keys; a user already here is left as it is.
    pub async fn import_users(&self, users: &[UserRecord]) -> Result<u64, StoreError> {
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| db_error("starting to copy users", &e))?;
        let mut inserted = 0;
        for user in users {
            let added = tx
                .execute(
                    "INSERT INTO users (name, record) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                    &[&user.name, &encode(user)?],
                )
                .await
                .map_err(|e| db_error("copying a user", &e))?;
            if added == 0 {
                continue;
            }
            inserted += 1;
            let keys: Vec<&str> = user
                .access_keys
                .iter()
                .map(|k| k.access_key_id.as_str())
                .collect();
            tx.execute(
                "INSERT INTO access_keys (access_key_id, name)
                 SELECT k, $2 FROM unnest($1::text[]) AS k ON CONFLICT DO NOTHING",
                &[&keys, &user.name],
            )
            .await
            .map_err(|e| db_error("copying a user's access keys", &e))?;
        }
        tx.commit()
            .await
            .map_err(|e| db_error("committing users", &e))?;
        Ok(inserted)
    }

    /// Role ids absent here (a role's sessions carry its id: without it they would be refused).
    pub async fn import_role_ids(&self, ids: &BTreeMap<String, String>) -> Result<u64, StoreError> {
        let arns: Vec<&str> = ids.keys().map(String::as_str).collect();
        let values: Vec<&str> = ids.values().map(String::as_str).collect();
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO role_ids (arn, id) SELECT * FROM unnest($1::text[], $2::text[])
                 ON CONFLICT (arn) DO NOTHING",
                &[&arns, &values],
            )
            .await
            .map_err(|e| db_error("copying role ids", &e))
    }

    /// When each sealing key was last current, where later than what is here.
    pub async fn import_sealing_keys(
        &self,
        keys: &BTreeMap<String, i64>,
    ) -> Result<u64, StoreError> {
        let ids: Vec<&str> = keys.keys().map(String::as_str).collect();
        let at: Vec<i64> = keys.values().copied().collect();
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO sealing_keys (key_id, current_at)
                 SELECT * FROM unnest($1::text[], $2::int8[])
                 ON CONFLICT (key_id) DO UPDATE SET current_at = EXCLUDED.current_at
                 WHERE sealing_keys.current_at < EXCLUDED.current_at",
                &[&ids, &at],
            )
            .await
            .map_err(|e| db_error("copying sealing keys", &e))
    }

    /// The last use of long-term keys, where later than what is here.
    pub async fn import_key_uses(&self, uses: &[(String, KeyUse)]) -> Result<u64, StoreError> {
        let ids: Vec<&str> = uses.iter().map(|(k, _)| k.as_str()).collect();
        let at: Vec<i64> = uses.iter().map(|(_, u)| u.at).collect();
        let services: Vec<&str> = uses.iter().map(|(_, u)| u.service.as_str()).collect();
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO key_usage (access_key_id, used_at, service)
                 SELECT * FROM unnest($1::text[], $2::int8[], $3::text[])
                 ON CONFLICT (access_key_id) DO UPDATE
                 SET used_at = EXCLUDED.used_at, service = EXCLUDED.service
                 WHERE key_usage.used_at < EXCLUDED.used_at",
                &[&ids, &at, &services],
            )
            .await
            .map_err(|e| db_error("copying key uses", &e))
    }
}

/// Audit events, each once however often inserted (by `store copy` or the drain of the audit
/// spool): an event's identity is its JSON and which occurrence of that JSON in `events` it is,
/// kept as a digest beside it. Returns how many were inserted.
pub(crate) async fn insert_audit_once(
    pool: &Pool,
    events: &[AuditEvent],
) -> Result<u64, StoreError> {
    let mut seen: BTreeMap<(i64, String), u64> = BTreeMap::new();
    let mut rows = Vec::with_capacity(events.len());
    for event in events {
        let row = event_row(event)?;
        let occurrence = seen.entry((row.unix_time, row.json.clone())).or_insert(0);
        let mut identity = row.json.as_bytes().to_vec();
        identity.push(0);
        identity.extend_from_slice(&occurrence.to_be_bytes());
        *occurrence += 1;
        rows.push((row, HEXLOWER.encode(digest(&SHA256, &identity).as_ref())));
    }
    let days: std::collections::BTreeSet<i64> = rows
        .iter()
        .filter_map(|(row, _)| partitions::day_of(row.unix_time))
        .collect();
    {
        let mut client = pool.get().await.map_err(|e| pool_error(&e))?;
        partitions::ensure(&mut client, days).await?;
    }
    let mut inserted = 0;
    for chunk in rows.chunks(CHUNK) {
        let times: Vec<i64> = chunk.iter().map(|(r, _)| r.unix_time).collect();
        let json: Vec<&str> = chunk.iter().map(|(r, _)| r.json.as_str()).collect();
        let digests: Vec<&str> = chunk.iter().map(|(_, d)| d.as_str()).collect();
        let client = pool.get().await.map_err(|e| pool_error(&e))?;
        inserted += client
            .execute(
                "INSERT INTO audit (event_time, event, copy_digest)
                 SELECT t, e, decode(d, 'hex')
                 FROM unnest($1::int8[], $2::text[], $3::text[]) WITH ORDINALITY AS u(t, e, d, n)
                 ORDER BY n
                 ON CONFLICT (event_time, copy_digest) WHERE copy_digest IS NOT NULL
                 DO NOTHING",
                &[&times, &json, &digests],
            )
            .await
            .map_err(|e| db_error("copying audit events", &e))?;
    }
    Ok(inserted)
}
