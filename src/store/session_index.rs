//! Access key id -> expiry of every live session, in memory.
//!
//! The sessions tree is keyed by expiry (see `sled_store`); this index is how a session is found
//! by its access key id (`GetAccessKeyInfo`, `sessions show|revoke`). It is derived state: built
//! from the tree's keys when the store opens, kept in step by every write and purge. It lives in
//! memory and not in a sled tree because access key ids are random: a tree keyed by them takes
//! each insert on a random leaf, paged in from disk once the tree outgrows the page cache, and
//! split every sixteen entries (measured with `stsbridge loadgen`: 13% of the daemon's
//! throughput). In memory an entry costs about 40 bytes (a 20-byte id, an 8-byte expiry, the
//! table's overhead): 25 MiB for 600,000 live sessions.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::creds::ids::ACCESS_KEY_ID_LEN;

/// Shards, so concurrent writers rarely wait on one another (ids are random, so the first
/// byte after the prefix spreads them evenly).
const SHARDS: usize = 16;

/// An access key id as the index holds it: its bytes, zero-padded to the 20 of an AWS id.
type Key = [u8; ACCESS_KEY_ID_LEN];

#[derive(Default)]
pub(crate) struct SessionIndex {
    shards: [Mutex<HashMap<Key, i64>>; SHARDS],
}

impl SessionIndex {
    /// Record that the session `access_key_id` expires at `expires_at`. Returns `false` (and
    /// records nothing) for an id longer than an AWS access key id or holding a NUL byte, which
    /// no session can have.
    pub(crate) fn insert(&self, access_key_id: &[u8], expires_at: i64) -> bool {
        let Some(key) = key(access_key_id) else {
            return false;
        };
        self.shard(&key).insert(key, expires_at);
        true
    }

    /// The expiry of session `access_key_id`, if it is live.
    pub(crate) fn get(&self, access_key_id: &[u8]) -> Option<i64> {
        let key = key(access_key_id)?;
        self.shard(&key).get(&key).copied()
    }

    /// Forget `access_key_id` if the index has it with `expires_at` (a record purged must not
    /// take another's entry with it).
    pub(crate) fn remove(&self, access_key_id: &[u8], expires_at: i64) {
        let Some(key) = key(access_key_id) else {
            return;
        };
        let mut shard = self.shard(&key);
        if shard.get(&key) == Some(&expires_at) {
            shard.remove(&key);
        }
    }

    /// How many sessions the index holds.
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    /// A poisoned shard is still consistent (every operation is one map call), so it is used.
    fn shard(&self, key: &Key) -> std::sync::MutexGuard<'_, HashMap<Key, i64>> {
        let spread = key.iter().skip(4).fold(0usize, |h, &b| {
            h.wrapping_mul(31).wrapping_add(usize::from(b))
        });
        self.shards[spread % SHARDS]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The padded key, or `None` for an id the index cannot hold: longer than 20 bytes, or with a
/// NUL byte (which would make it the twin of a shorter id).
fn key(access_key_id: &[u8]) -> Option<Key> {
    if access_key_id.contains(&0) {
        return None;
    }
    let mut key = [0u8; ACCESS_KEY_ID_LEN];
    key.get_mut(..access_key_id.len())?
        .copy_from_slice(access_key_id);
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_was_inserted_and_forgets_only_the_matching_expiry() {
        let index = SessionIndex::default();
        assert!(index.insert(b"ASIAAAAAAAAAAAAAAAAA", 100));
        assert!(index.insert(b"ASIAB", 200));
        assert_eq!(index.get(b"ASIAAAAAAAAAAAAAAAAA"), Some(100));
        assert_eq!(index.get(b"ASIAB"), Some(200));
        assert_eq!(index.get(b"ASIAC"), None);
        assert_eq!(index.len(), 2);
        index.remove(b"ASIAB", 199);
        assert_eq!(index.get(b"ASIAB"), Some(200), "another expiry: kept");
        index.remove(b"ASIAB", 200);
        assert_eq!(index.get(b"ASIAB"), None);
        assert_eq!(index.len(), 1);
    }

    #[test]
    fn an_id_longer_than_an_access_key_id_is_never_indexed() {
        let index = SessionIndex::default();
        assert!(!index.insert(b"ASIAAAAAAAAAAAAAAAAAA", 100));
        assert_eq!(index.get(b"ASIAAAAAAAAAAAAAAAAAA"), None);
        index.remove(b"ASIAAAAAAAAAAAAAAAAAA", 100);
        assert_eq!(index.len(), 0);
    }

    #[test]
    fn a_short_id_has_no_zero_padded_twin() {
        let index = SessionIndex::default();
        assert!(index.insert(b"ASIAX", 1));
        assert_eq!(index.get(b"ASIAX\0"), None);
        assert_eq!(index.get(b"ASIAXY"), None);
        assert!(!index.insert(b"ASIAX\0", 2));
        assert_eq!(index.get(b"ASIAX"), Some(1));
    }
}
