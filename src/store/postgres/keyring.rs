//! The keyring kept in the database ([`KeyringVault`]): tables `keyring` (one row, the
//! generation) and `keyring_keys` (each key sealed under the KEK by the caller; this module
//! never sees key material). A change increments the generation in the transaction that
//! rewrites the keys, only if it is the one the writer read (compare-and-swap), and is
//! announced with `NOTIFY` on [`KEYRING_CHANNEL`]; each handle's follower reads the generation
//! then, and at every catch-up.

use deadpool_postgres::Pool;
use tokio::sync::watch;
use tokio_postgres::{GenericClient, IsolationLevel};

use super::{PostgresStore, db_error, pool_error};
use crate::creds::keyring::SealedKey;
use crate::store::{KeyringVault, StoreError, StoredKeyring};

/// The channel keyring changes are announced on.
pub(super) const KEYRING_CHANNEL: &str = "stsbridge_keyring";

/// The advisory lock held (for its transaction) while the first keyring is created (the bytes
/// of "stskeyri").
const FIRST_KEYRING_LOCK: i64 = 0x7374_736b_6579_7269;

/// The generation kept (0: none).
pub(super) async fn read_generation(client: &impl GenericClient) -> Result<i64, StoreError> {
    let row = client
        .query_opt("SELECT generation FROM keyring", &[])
        .await
        .map_err(|e| db_error("reading the keyring's generation", &e))?;
    Ok(row.map_or(0, |row| row.get(0)))
}

/// The keyring kept, read in one snapshot with its generation.
async fn read(pool: &Pool) -> Result<Option<StoredKeyring>, StoreError> {
    let mut client = pool.get().await.map_err(|e| pool_error(&e))?;
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(|e| db_error("starting to read the keyring", &e))?;
    let stored = read_in(&*tx).await?;
    tx.commit()
        .await
        .map_err(|e| db_error("reading the keyring", &e))?;
    Ok(stored)
}

/// The schema version that made the keyring's tables.
pub(super) const FIRST_VERSION: i32 = 2;

/// The keyring kept, as `client` sees it now (inside a transaction: in its snapshot).
pub(super) async fn read_in(
    client: &impl GenericClient,
) -> Result<Option<StoredKeyring>, StoreError> {
    let generation = read_generation(client).await?;
    if generation == 0 {
        return Ok(None);
    }
    let rows = client
        .query(
            "SELECT key_id, sealed, created_at, retire_after FROM keyring_keys
             ORDER BY retire_after DESC NULLS FIRST, key_id",
            &[],
        )
        .await
        .map_err(|e| db_error("reading the keyring", &e))?;
    let keys = rows
        .iter()
        .map(|row| SealedKey {
            id: row.get(0),
            sealed: row.get(1),
            created_at: row.get(2),
            retire_after: row.get(3),
        })
        .collect();
    Ok(Some(StoredKeyring { generation, keys }))
}

/// Write `keys` as the keyring's keys, replacing any, and announce the change (at commit).
async fn write_keys(
    tx: &deadpool_postgres::Transaction<'_>,
    keys: &[SealedKey],
) -> Result<(), StoreError> {
    tx.execute("DELETE FROM keyring_keys", &[])
        .await
        .map_err(|e| db_error("replacing the keyring", &e))?;
    for key in keys {
        tx.execute(
            "INSERT INTO keyring_keys (key_id, sealed, created_at, retire_after)
             VALUES ($1, $2, $3, $4)",
            &[&key.id, &key.sealed, &key.created_at, &key.retire_after],
        )
        .await
        .map_err(|e| db_error("writing a keyring key", &e))?;
    }
    tx.execute("SELECT pg_notify($1, '')", &[&KEYRING_CHANNEL])
        .await
        .map_err(|e| db_error("announcing a keyring change", &e))?;
    Ok(())
}

/// Publish `generation` as seen, unless a newer one was seen already.
pub(super) fn saw_generation(seen: &watch::Sender<i64>, generation: i64) {
    seen.send_if_modified(|current| {
        let newer = generation > *current;
        if newer {
            *current = generation;
        }
        newer
    });
}

#[async_trait::async_trait]
impl KeyringVault for PostgresStore {
    async fn load(&self) -> Result<Option<StoredKeyring>, StoreError> {
        let stored = read(&self.pool).await?;
        if let Some(stored) = &stored {
            saw_generation(&self.keyring_generation, stored.generation);
        }
        Ok(stored)
    }

    /// Under a transaction-level advisory lock, so of two handles creating at once the second
    /// waits and then finds the first's.
    async fn create_if_none(&self, keys: &[SealedKey]) -> Result<StoredKeyring, StoreError> {
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| db_error("starting to create the keyring", &e))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&FIRST_KEYRING_LOCK])
            .await
            .map_err(|e| db_error("taking the keyring creation lock", &e))?;
        if let Some(kept) = read_in(&*tx).await? {
            tx.commit()
                .await
                .map_err(|e| db_error("reading the keyring", &e))?;
            saw_generation(&self.keyring_generation, kept.generation);
            return Ok(kept);
        }
        tx.execute("INSERT INTO keyring (generation) VALUES (1)", &[])
            .await
            .map_err(|e| db_error("creating the keyring", &e))?;
        write_keys(&tx, keys).await?;
        tx.commit()
            .await
            .map_err(|e| db_error("committing the keyring", &e))?;
        saw_generation(&self.keyring_generation, 1);
        Ok(StoredKeyring {
            generation: 1,
            keys: keys.to_vec(),
        })
    }

    async fn swap(&self, expected: i64, keys: &[SealedKey]) -> Result<i64, StoreError> {
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| db_error("starting a keyring change", &e))?;
        let bumped = tx
            .query_opt(
                "UPDATE keyring SET generation = generation + 1 WHERE generation = $1
                 RETURNING generation",
                &[&expected],
            )
            .await
            .map_err(|e| db_error("changing the keyring", &e))?;
        let Some(row) = bumped else {
            let kept = read_generation(&*tx).await?;
            return Err(StoreError::Conflict(format!(
                "the keyring changed meanwhile (generation {kept}, not {expected}): read it again"
            )));
        };
        let generation: i64 = row.get(0);
        write_keys(&tx, keys).await?;
        tx.commit()
            .await
            .map_err(|e| db_error("committing a keyring change", &e))?;
        saw_generation(&self.keyring_generation, generation);
        Ok(generation)
    }

    fn generation(&self) -> watch::Receiver<i64> {
        self.keyring_generation.subscribe()
    }
}
