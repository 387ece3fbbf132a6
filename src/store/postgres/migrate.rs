//! The schema, as numbered migrations embedded in the binary, applied at open. Two daemons
//! starting together against one new database do not race: the migrations run under a
//! session-level advisory lock, and each in its own transaction with its version row.

use tokio_postgres::Client;

use super::db_error;
use crate::store::StoreError;

/// Every migration, in order: version (from 1, no gaps) and SQL.
pub(super) const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("migrations/0001_init.sql")),
    (2, include_str!("migrations/0002_keyring.sql")),
    (3, include_str!("migrations/0003_audit_copies.sql")),
    (4, include_str!("migrations/0004_audit_by_day.sql")),
    (5, include_str!("migrations/0005_device_authorizations.sql")),
];

/// The advisory lock key held while migrating (the bytes of "stsbridg").
const MIGRATION_LOCK: i64 = 0x7374_7362_7269_6467;

/// The version of the newest migration this build knows.
pub(crate) fn latest_version() -> i32 {
    MIGRATIONS.last().map_or(0, |(v, _)| *v)
}

/// Bring the database to [`latest_version`]; returns the version it is at. Refuses a
/// database a newer build migrated further (its schema is not one this build knows).
pub(crate) async fn migrate(client: &mut Client) -> Result<i32, StoreError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(|e| db_error("taking the migration lock", &e))?;
    let result = apply(client).await;
    // Released with the session anyway; unlock so a pooled connection does not keep it.
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(|e| db_error("releasing the migration lock", &e));
    let version = result?;
    unlocked?;
    Ok(version)
}

async fn apply(client: &mut Client) -> Result<i32, StoreError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_version (
                version integer PRIMARY KEY,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await
        .map_err(|e| db_error("creating schema_version", &e))?;
    let at_start = current_version(client).await?;
    let mut current = at_start;
    if at_start > latest_version() {
        return Err(StoreError::Backend(format!(
            "the database's schema is at version {}, newer than this build's {}: \
             run a newer stsbridge",
            at_start,
            latest_version()
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > at_start) {
        let tx = client
            .transaction()
            .await
            .map_err(|e| db_error("starting a migration", &e))?;
        tx.batch_execute(sql)
            .await
            .map_err(|e| db_error(&format!("applying migration {version}"), &e))?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[version],
        )
        .await
        .map_err(|e| db_error(&format!("recording migration {version}"), &e))?;
        tx.commit()
            .await
            .map_err(|e| db_error(&format!("committing migration {version}"), &e))?;
        tracing::info!(version, "database schema migrated");
        current = *version;
    }
    Ok(current)
}

/// The version the database's schema is at (0: none applied).
pub(crate) async fn current_version(client: &Client) -> Result<i32, StoreError> {
    let row = client
        .query_one("SELECT coalesce(max(version), 0) FROM schema_version", &[])
        .await
        .map_err(|e| db_error("reading schema_version", &e))?;
    Ok(row.get(0))
}

/// The version the database's schema is at, without changing anything (0: no schema yet).
pub(crate) async fn version_if_any(client: &Client) -> Result<i32, StoreError> {
    let row = client
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
        .await
        .map_err(|e| db_error("looking for schema_version", &e))?;
    if row.get(0) {
        current_version(client).await
    } else {
        Ok(0)
    }
}
