//! In-memory indexes over the expiry-ordered trees: key -> expiry.
//!
//! The sessions and the replay cache are stored in sled keyed by expiry first (see
//! `sled_store`), so new entries are appended at the end of their tree and the purge is a range
//! scan. These indexes are how an entry is found by its own key: a session by its access key id
//! (`GetAccessKeyInfo`, `sessions show|revoke`), a replay-cache entry by its assertion ID or MFA
//! code. They are derived state: built from the trees' keys when the store opens, kept in step by
//! every write and purge. They live in memory and not in sled trees because their keys are
//! random: a tree keyed by them takes each insert on a random leaf, paged in from disk once the
//! tree outgrows the page cache, and split every sixteen entries (the README's benchmark section
//! has the cost). A session's entry costs about 40 bytes: a 20-byte id, an 8-byte expiry, the
//! table's overhead.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::creds::ids::ACCESS_KEY_ID_LEN;

/// Shards, so concurrent writers rarely wait on one another.
const SHARDS: usize = 16;

/// Key -> expiry (unix seconds), sharded.
pub(crate) struct ExpiryIndex<K> {
    shards: [Mutex<HashMap<K, i64>>; SHARDS],
    hasher: RandomState,
}

impl<K> Default for ExpiryIndex<K> {
    fn default() -> Self {
        Self {
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
            hasher: RandomState::new(),
        }
    }
}

impl<K: Hash + Eq> ExpiryIndex<K> {
    pub(crate) fn insert(&self, key: K, expires_at: i64) {
        self.shard(&key).insert(key, expires_at);
    }

    pub(crate) fn get<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> Option<i64>
    where
        K: Borrow<Q>,
    {
        self.shard(key).get(key).copied()
    }

    /// Forget `key` if the index has it with `expires_at` (an entry purged must not take a
    /// newer one of the same key with it).
    pub(crate) fn remove<Q: Hash + Eq + ?Sized>(&self, key: &Q, expires_at: i64)
    where
        K: Borrow<Q>,
    {
        let mut shard = self.shard(key);
        if shard.get(key) == Some(&expires_at) {
            shard.remove(key);
        }
    }

    /// Record `key` until `until` unless it is recorded with an expiry after `now`: `write`
    /// (the durable write) runs first, under the shard's lock, so of two concurrent callers with
    /// one key exactly one gets `Ok(true)`; `Ok(false)` for a key already recorded. An error
    /// from `write` leaves the index as it was.
    pub(crate) fn insert_unless_live<E>(
        &self,
        key: K,
        until: i64,
        now: i64,
        write: impl FnOnce() -> Result<(), E>,
    ) -> Result<bool, E> {
        let mut shard = self.shard(&key);
        if shard.get(&key).is_some_and(|&seen| seen > now) {
            return Ok(false);
        }
        write()?;
        shard.insert(key, until);
        Ok(true)
    }

    /// How many keys the index holds.
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|shard| lock(shard).len()).sum()
    }

    /// The shard of `key`: `K` and what it borrows as hash alike (the `Borrow` contract).
    fn shard<Q: Hash + ?Sized>(&self, key: &Q) -> MutexGuard<'_, HashMap<K, i64>> {
        // The modulus keeps the index in range; the cast only drops bits a 16-way pick ignores.
        let spread = self.hasher.hash_one(key) % SHARDS as u64;
        lock(&self.shards[spread as usize])
    }
}

/// A poisoned shard is still consistent (every change is one map call), so it is used.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An access key id as the session index holds it: its bytes, zero-padded to the 20 of an AWS id.
pub(crate) type SessionKey = [u8; ACCESS_KEY_ID_LEN];

/// Access key id -> expiry of every live session.
pub(crate) type SessionIndex = ExpiryIndex<SessionKey>;

/// The padded key, or `None` for an id no session can have: longer than 20 bytes, or with a
/// NUL byte (which would make it the twin of a shorter id).
pub(crate) fn session_index_key(access_key_id: &[u8]) -> Option<SessionKey> {
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

    fn key(id: &str) -> SessionKey {
        session_index_key(id.as_bytes()).unwrap()
    }

    #[test]
    fn finds_what_was_inserted_and_forgets_only_the_matching_expiry() {
        let index = SessionIndex::default();
        index.insert(key("ASIAAAAAAAAAAAAAAAAA"), 100);
        index.insert(key("ASIAB"), 200);
        assert_eq!(index.get(&key("ASIAAAAAAAAAAAAAAAAA")), Some(100));
        assert_eq!(index.get(&key("ASIAB")), Some(200));
        assert_eq!(index.get(&key("ASIAC")), None);
        assert_eq!(index.len(), 2);
        index.remove(&key("ASIAB"), 199);
        assert_eq!(index.get(&key("ASIAB")), Some(200), "another expiry: kept");
        index.remove(&key("ASIAB"), 200);
        assert_eq!(index.get(&key("ASIAB")), None);
        assert_eq!(index.len(), 1);
    }

    #[test]
    fn an_id_no_session_can_have_has_no_key() {
        assert_eq!(
            session_index_key(b"ASIAAAAAAAAAAAAAAAAAA"),
            None,
            "21 bytes"
        );
        assert_eq!(session_index_key(b"ASIAX\0"), None, "the twin of ASIAX");
        assert_ne!(session_index_key(b"ASIAX"), session_index_key(b"ASIAXY"));
        assert!(session_index_key(b"ASIAAAAAAAAAAAAAAAAA").is_some());
    }

    #[test]
    fn insert_unless_live_refuses_a_live_key_and_takes_an_expired_one() {
        let index = ExpiryIndex::<Box<[u8]>>::default();
        let k = || Box::<[u8]>::from(&b"saml:corp:_a1"[..]);
        let ok = || Ok::<(), ()>(());
        assert_eq!(index.insert_unless_live(k(), 200, 100, ok), Ok(true));
        assert_eq!(index.insert_unless_live(k(), 300, 150, ok), Ok(false));
        assert_eq!(index.insert_unless_live(k(), 300, 199, ok), Ok(false));
        assert_eq!(index.get(&k()), Some(200));
        assert_eq!(index.insert_unless_live(k(), 400, 200, || Err(())), Err(()));
        assert_eq!(index.get(&k()), Some(200), "a failed write changes nothing");
        assert_eq!(index.insert_unless_live(k(), 400, 200, ok), Ok(true));
        assert_eq!(index.get(&k()), Some(400));
    }

    #[test]
    fn of_concurrent_callers_with_one_key_one_wins() {
        let index = std::sync::Arc::new(ExpiryIndex::<Box<[u8]>>::default());
        let winners: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let index = &index;
                    scope.spawn(move || {
                        index
                            .insert_unless_live(Box::from(&b"k"[..]), 10, 0, || Ok::<(), ()>(()))
                            .unwrap()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| usize::from(h.join().unwrap()))
                .sum()
        });
        assert_eq!(winners, 1);
    }
}
