//! The audit trail's day partitions: `audit` is range-partitioned on `event_time`, one
//! partition per UTC day (`audit_day_N`, N the unix day), and `audit_default` for the events of
//! a day without its partition. The purge task creates the partitions of today and the next
//! [`DAYS_AHEAD`] days; a copy creates those of the days it brings. Retention drops each
//! partition whose whole day is before the cut (no row by row delete, no table bloat), and
//! deletes in chunks only in the day the cut falls in and in the default partition.
//!
//! Creating and dropping run under a transaction-level advisory lock, so several daemons
//! doing it at once do not collide.

use std::collections::BTreeSet;

use super::db_error;
use crate::store::StoreError;

/// Seconds of a day.
pub(super) const DAY: i64 = 86_400;

/// Days after today whose partitions are made ahead.
pub(super) const DAYS_AHEAD: i64 = 2;

/// The advisory lock held while partitions are created or dropped (the bytes of "stsaudit").
const PARTITION_LOCK: i64 = 0x7374_7361_7564_6974;

const PREFIX: &str = "audit_day_";

/// The unix day of `unix_time` (days before 1970 are left to the default partition).
pub(super) fn day_of(unix_time: i64) -> Option<i64> {
    (unix_time >= 0).then_some(unix_time / DAY)
}

/// The days that have a partition.
async fn days(client: &impl deadpool_postgres::GenericClient) -> Result<BTreeSet<i64>, StoreError> {
    let rows = client
        .query(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'audit'::regclass",
            &[],
        )
        .await
        .map_err(|e| db_error("listing the audit trail's partitions", &e))?;
    Ok(rows
        .iter()
        .filter_map(|row| row.get::<_, &str>(0).strip_prefix(PREFIX)?.parse().ok())
        .collect())
}

/// Give each of `wanted` days its partition (those it has stay). The events of such a day
/// that went to the default partition meanwhile move into the new one. Returns how many
/// partitions were created.
pub(super) async fn ensure(
    client: &mut deadpool_postgres::Object,
    wanted: impl IntoIterator<Item = i64>,
) -> Result<usize, StoreError> {
    let tx = client
        .transaction()
        .await
        .map_err(|e| db_error("starting to create audit partitions", &e))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PARTITION_LOCK])
        .await
        .map_err(|e| db_error("taking the audit partition lock", &e))?;
    let have = days(&tx).await?;
    let missing: BTreeSet<i64> = wanted
        .into_iter()
        .filter(|d| *d >= 0 && !have.contains(d))
        .collect();
    if !missing.is_empty() {
        // No event is written meanwhile (writers wait the few milliseconds this takes): one
        // routed to the default partition before the attach would otherwise be refused by
        // the new partition's constraint, or keep the attach from validating.
        tx.batch_execute("LOCK TABLE audit IN SHARE ROW EXCLUSIVE MODE")
            .await
            .map_err(|e| db_error("locking the audit trail to add partitions", &e))?;
    }
    let mut created = 0;
    for day in missing {
        let (from, to) = (day * DAY, (day + 1) * DAY);
        let name = format!("{PREFIX}{day}");
        tx.batch_execute(&format!(
            "CREATE TABLE {name} (LIKE audit INCLUDING DEFAULTS);
             WITH moved AS (
                 DELETE FROM audit_default WHERE event_time >= {from} AND event_time < {to}
                 RETURNING seq, event_time, event, copy_digest)
             INSERT INTO {name} (seq, event_time, event, copy_digest) SELECT * FROM moved;
             ALTER TABLE audit ATTACH PARTITION {name} FOR VALUES FROM ({from}) TO ({to});"
        ))
        .await
        .map_err(|e| db_error(&format!("creating the audit partition of day {day}"), &e))?;
        created += 1;
    }
    tx.commit()
        .await
        .map_err(|e| db_error("committing audit partitions", &e))?;
    Ok(created)
}

/// Drop every day partition whose whole day is before `before_unix`; returns how many events
/// went with them.
pub(super) async fn drop_before(
    client: &mut deadpool_postgres::Object,
    before_unix: i64,
) -> Result<u64, StoreError> {
    let tx = client
        .transaction()
        .await
        .map_err(|e| db_error("starting to drop audit partitions", &e))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PARTITION_LOCK])
        .await
        .map_err(|e| db_error("taking the audit partition lock", &e))?;
    let mut dropped = 0;
    for day in days(&tx).await? {
        if (day + 1).saturating_mul(DAY) > before_unix {
            continue;
        }
        let name = format!("{PREFIX}{day}");
        let row = tx
            .query_one(&format!("SELECT count(*) FROM {name}"), &[])
            .await
            .map_err(|e| db_error("counting an audit partition", &e))?;
        let n: i64 = row.get(0);
        tx.batch_execute(&format!("DROP TABLE {name}"))
            .await
            .map_err(|e| db_error(&format!("dropping the audit partition of day {day}"), &e))?;
        dropped += u64::try_from(n).unwrap_or(0);
    }
    tx.commit()
        .await
        .map_err(|e| db_error("committing the audit partitions dropped", &e))?;
    Ok(dropped)
}

#[cfg(test)]
pub(super) async fn partition_days(client: &deadpool_postgres::Object) -> BTreeSet<i64> {
    days(client).await.unwrap_or_default()
}
