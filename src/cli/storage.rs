//! What `check-config` says of the store beyond the file: with `kind = "postgres"`, whether the
//! database answers, the version of its schema, and whether the KEK (`[keys] kek_file`) opens
//! the keyring kept there.

use std::time::Duration;

use stsbridge::config::Settings;
use stsbridge::creds::kek::Kek;
use stsbridge::store::postgres::{DatabaseStatus, PostgresSettings, probe};

/// How long `check-config` waits for the database.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Lines to print about the database (`None` for sled), or the problem that makes the
/// configuration unusable (the database does not answer, its schema is newer than this build,
/// the KEK does not open its keyring).
pub async fn check(settings: &Settings) -> Option<Result<Vec<String>, String>> {
    let database = settings.storage.postgres.as_ref()?;
    Some(describe(database, settings).await)
}

async fn describe(database: &PostgresSettings, settings: &Settings) -> Result<Vec<String>, String> {
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
    let schema = match at {
        0 => format!("{place}: reachable, no schema yet (version {latest} is created at start)"),
        at if at < latest => {
            format!("{place}: schema version {at} (migrated to {latest} at the next start)")
        }
        at => format!("{place}: schema version {at} (current)"),
    };
    Ok(vec![schema, keyring(&status, settings)?])
}

/// What the KEK does with the keyring the database keeps.
fn keyring(status: &DatabaseStatus, settings: &Settings) -> Result<String, String> {
    match (&status.keyring, &settings.kek_file) {
        (Some(kept), Some(file)) => {
            let kek = Kek::load(file).map_err(|e| format!("keys.kek_file: {e}"))?;
            let keyring = stsbridge::keyring_home::open(&kept.keys, &kek)
                .map_err(|e| format!("keys.kek_file: {e}"))?;
            Ok(format!(
                "the KEK opens the keyring kept in the database ({} key(s), current {})",
                kept.keys.len(),
                keyring.current_key_id()
            ))
        }
        (Some(_), None) => Err(
            "keys.kek_file: is not set, but the database keeps the keyring (sealed under a KEK): \
             set it to the KEK file the other daemons use"
                .to_owned(),
        ),
        (None, Some(_)) => Ok(format!(
            "the database keeps no keyring yet: the first daemon to start keeps one there (the \
             keys of {} if that file exists)",
            settings.keyring_path.display()
        )),
        (None, None) => Ok(format!(
            "the keyring is the file {} (each daemon needs a copy)",
            settings.keyring_path.display()
        )),
    }
}
