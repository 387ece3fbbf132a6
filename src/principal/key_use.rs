//! When each long-term access key was last used (`users show`), recorded off the request's
//! path: a verified request only compares a time in memory; at most once an hour per key a
//! background task writes the use to the store. AWS reports the last use with an hour's
//! granularity too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::clock::unix_seconds;
use crate::store::{KeyUsage, KeyUse};

/// A key's use is written again once this many seconds passed since the last write.
const RECORD_INTERVAL_SECONDS: i64 = 3600;

pub(super) struct KeyUseRecorder {
    usage: Arc<dyn KeyUsage>,
    /// Access key id -> when its use was last written by this process. Holds only keys whose
    /// signature verified, so it is bounded by the keys that exist.
    written: Mutex<HashMap<String, i64>>,
}

impl KeyUseRecorder {
    pub(super) fn new(usage: Arc<dyn KeyUsage>) -> Self {
        Self {
            usage,
            written: Mutex::new(HashMap::new()),
        }
    }

    /// Note a verified use of `access_key_id` for `service` at `now`; writes it in the
    /// background if the last write of this key is an interval old (or none was made).
    pub(super) fn record(&self, access_key_id: &str, service: &str, now: SystemTime) {
        let at = unix_seconds(now);
        {
            let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
            match written.get(access_key_id) {
                Some(last) if at.saturating_sub(*last) < RECORD_INTERVAL_SECONDS => return,
                _ => {
                    written.insert(access_key_id.to_owned(), at);
                }
            }
        }
        let usage = Arc::clone(&self.usage);
        let access_key_id = access_key_id.to_owned();
        let used = KeyUse {
            at,
            service: service.to_owned(),
        };
        tokio::spawn(async move {
            if let Err(e) = usage.record_use(&access_key_id, &used).await {
                tracing::warn!(access_key_id, error = %e, "recording an access key's use failed");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::from_unix_seconds;

    /// One write for the first use, none within the hour, one after it.
    #[tokio::test]
    async fn a_key_is_written_at_most_once_an_interval() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::open(&crate::store::StorageSettings::new(
            dir.path().join("sled"),
            8 << 20,
        ))
        .unwrap();
        let recorder = KeyUseRecorder::new(Arc::clone(&store.key_usage));
        let last = || {
            let store = store.clone();
            async move {
                for _ in 0..100 {
                    tokio::task::yield_now().await;
                }
                store.key_usage.last_used("AKIAONE").await.unwrap()
            }
        };
        recorder.record("AKIAONE", "sts", from_unix_seconds(1_000));
        assert_eq!(last().await.map(|u| u.at), Some(1_000));
        recorder.record("AKIAONE", "photos", from_unix_seconds(1_000 + 3_599));
        assert_eq!(last().await.map(|u| u.at), Some(1_000), "within the hour");
        recorder.record("AKIAONE", "photos", from_unix_seconds(1_000 + 3_600));
        let used = last().await.unwrap();
        assert_eq!((used.at, used.service.as_str()), (4_600, "photos"));
    }
}
