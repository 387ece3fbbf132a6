//! The signing-key chain kDate → kRegion → kService → kSigning, cached because it costs four
//! HMACs per request otherwise.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use aws_lc_rs::{digest, hmac};

/// Signing keys by SHA-256 of (secret, date, region, service): the map never holds a secret.
/// When full it is emptied: keys are per day, so a full cache is mostly stale anyway, and one
/// re-derivation per live key is cheap.
pub(super) struct SigningKeyCache {
    capacity: usize,
    keys: Mutex<HashMap<[u8; 32], hmac::Key>>,
}

impl SigningKeyCache {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            keys: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn signing_key(
        &self,
        secret: &str,
        date: &str,
        region: &str,
        service: &str,
    ) -> hmac::Key {
        let id = cache_id(secret, date, region, service);
        // The map is valid after any panic (each operation is a single insert, get or clear).
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(key) = keys.get(&id) {
            return key.clone();
        }
        let key = derive(secret, date, region, service);
        if keys.len() >= self.capacity {
            keys.clear();
        }
        keys.insert(id, key.clone());
        key
    }
}

fn cache_id(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let mut context = digest::Context::new(&digest::SHA256);
    for part in [secret, date, region, service] {
        // Length-prefixed, so no two tuples hash the same input.
        context.update(&(part.len() as u64).to_be_bytes());
        context.update(part.as_bytes());
    }
    let mut id = [0u8; 32];
    id.copy_from_slice(context.finish().as_ref());
    id
}

fn derive(secret: &str, date: &str, region: &str, service: &str) -> hmac::Key {
    let mut k_secret = Vec::with_capacity(4 + secret.len());
    k_secret.extend_from_slice(b"AWS4");
    k_secret.extend_from_slice(secret.as_bytes());
    let k_date = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, &k_secret),
        date.as_bytes(),
    );
    k_secret.fill(0);
    let k_region = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, k_date.as_ref()),
        region.as_bytes(),
    );
    let k_service = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, k_region.as_ref()),
        service.as_bytes(),
    );
    let k_signing = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, k_service.as_ref()),
        b"aws4_request",
    );
    hmac::Key::new(hmac::HMAC_SHA256, k_signing.as_ref())
}
