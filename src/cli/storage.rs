//! What `check-config` says of the store beyond the file: with `kind = "postgres"`, whether the
//! database answers and the version of its schema.

use std::time::Duration;

use stsbridge::store::StorageSettings;
use stsbridge::store::postgres::{PostgresSettings, probe};

/// How long `check-config` waits for the database.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// A line to print about the database (`None` for sled), or the problem that makes the
/// configuration unusable (the database does not answer, its schema is newer than this build).
pub async fn check(settings: &StorageSettings) -> Option<Result<String, String>> {
    let database = settings.postgres.as_ref()?;
    Some(describe(database).await)
}

async fn describe(database: &PostgresSettings) -> Result<String, String> {
    let place = database.describe();
    let status = probe(database, PROBE_TIMEOUT)
        .await
        .map_err(|e| format!("storage.url: cannot use {place}: {e}"))?;
    let (at, latest) = (status.schema_version, status.latest_version);
    if at > latest {
        return Err(format!(
            "storage.url: {place} has schema version {at}, newer than this build's {latest}: \
             run a newer stsbridge"
        ));
    }
    Ok(match at {
        0 => format!("{place}: reachable, no schema yet (version {latest} is created at start)"),
        at if at < latest => {
            format!("{place}: schema version {at} (migrated to {latest} at the next start)")
        }
        at => format!("{place}: schema version {at} (current)"),
    })
}
