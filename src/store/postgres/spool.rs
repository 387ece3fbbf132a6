//! The audit spool: while the database does not answer, audit events go to a local
//! append-only file (one JSON event per line, owner-only), so that verifying a credential,
//! which is audited before it is answered, does not need the database. Once the database
//! answers, the spool is drained into it in order, each event once however often drained (the
//! digest column `store copy` uses), and emptied.
//!
//! The file is bounded: beyond [`Spool::limit`] bytes an event is refused (the request gets
//! 503, as without a spool), so a long outage cannot fill the disk.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::PathBuf;

use crate::audit::AuditEvent;
use crate::store::StoreError;

/// The spool's file name, in the directory of `[storage] path`.
pub const FILE_NAME: &str = "audit-spool.jsonl";

/// The default bound on the spool's size.
pub const DEFAULT_LIMIT: u64 = 64 * 1024 * 1024;

/// Audit events kept locally until the database takes them.
#[derive(Debug)]
pub(crate) struct Spool {
    path: PathBuf,
    limit: u64,
    /// Held while a line is added and across a whole drain, so that no event added meanwhile
    /// is emptied with the drained ones.
    lock: tokio::sync::Mutex<()>,
}

impl Spool {
    /// The spool at `path`, holding at most `limit` bytes. Nothing is created until an event
    /// is added.
    pub(crate) fn new(path: PathBuf, limit: u64) -> Self {
        Self {
            path,
            limit,
            lock: tokio::sync::Mutex::new(()),
        }
    }

    #[cfg(test)]
    pub(crate) fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Append `json` (one event, no newline in it) as a line; with `sync`, on disk (fsync)
    /// when this returns. Refused with [`StoreError::Unavailable`] when the line would take
    /// the file beyond its limit.
    pub(crate) async fn add(&self, json: &str, sync: bool) -> Result<(), StoreError> {
        let _held = self.lock.lock().await;
        let failed = |e: std::io::Error| {
            StoreError::Unavailable(format!(
                "the database does not answer and the audit spool {} cannot be written: {e}",
                self.path.display()
            ))
        };
        let held = match std::fs::metadata(&self.path) {
            Ok(meta) => meta.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(failed(e)),
        };
        let line = u64::try_from(json.len())
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        if held.saturating_add(line) > self.limit {
            return Err(StoreError::Unavailable(format!(
                "the database does not answer and the audit spool is full ({held} bytes, limit {})",
                self.limit
            )));
        }
        if let Some(dir) = self.path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(failed)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.path)
            .map_err(failed)?;
        // A file left by someone else's umask or hand is made owner-only before it holds events.
        let mode = file.metadata().map_err(failed)?.permissions().mode() & 0o777;
        if mode != 0o600 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(failed)?;
        }
        let mut bytes = Vec::with_capacity(json.len() + 1);
        bytes.extend_from_slice(json.as_bytes());
        bytes.push(b'\n');
        file.write_all(&bytes).map_err(failed)?;
        if sync {
            file.sync_data().map_err(failed)?;
        }
        Ok(())
    }

    /// Bytes held (0 when there is no file).
    pub(crate) fn bytes(&self) -> u64 {
        std::fs::metadata(&self.path).map_or(0, |meta| meta.len())
    }

    /// Hand every event held, in the order added, to `insert` (which must insert each event
    /// once however often it is given it); once it succeeds, empty the file. Events added
    /// meanwhile wait. A line that is not an event (a write torn by a crash) is dropped with a
    /// warning. Returns how many events were handed over.
    pub(crate) async fn drain<F, Fut>(&self, insert: F) -> Result<usize, StoreError>
    where
        F: FnOnce(Vec<AuditEvent>) -> Fut,
        Fut: std::future::Future<Output = Result<u64, StoreError>>,
    {
        let _held = self.lock.lock().await;
        let text = match std::fs::read(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => {
                return Err(StoreError::Backend(format!(
                    "reading the audit spool {}: {e}",
                    self.path.display()
                )));
            }
        };
        if text.is_empty() {
            return Ok(0);
        }
        let mut events = Vec::new();
        for (n, line) in text.split(|b| *b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            match serde_json::from_slice::<AuditEvent>(line) {
                Ok(event) => events.push(event),
                Err(e) => tracing::warn!(
                    line = n + 1,
                    error = %e,
                    spool = %self.path.display(),
                    "a line of the audit spool is not an event (a write torn by a crash?); dropped"
                ),
            }
        }
        let count = events.len();
        if count > 0 {
            insert(events).await?;
        }
        let emptied = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&self.path)
            .and_then(|file| file.sync_all());
        emptied.map_err(|e| {
            StoreError::Backend(format!(
                "emptying the audit spool {}: {e}",
                self.path.display()
            ))
        })?;
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::store::conformance::event;

    fn json(id: &str) -> String {
        serde_json::to_string(&event(id)).unwrap()
    }

    /// Drain into a vector, as a database would take them.
    async fn drained(spool: &Spool) -> Vec<String> {
        let mut got = Vec::new();
        spool
            .drain(|events| {
                got = events.into_iter().map(|e| e.request_id).collect();
                async { Ok(0) }
            })
            .await
            .unwrap();
        got
    }

    #[tokio::test]
    async fn events_are_drained_in_the_order_added_and_the_file_emptied() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path().join("data").join(FILE_NAME), DEFAULT_LIMIT);
        assert_eq!(drained(&spool).await, Vec::<String>::new(), "no file yet");
        for id in ["a", "b", "c"] {
            spool.add(&json(id), true).await.unwrap();
        }
        spool.add(&json("d"), false).await.unwrap();
        assert_eq!(drained(&spool).await, ["a", "b", "c", "d"]);
        assert_eq!(spool.bytes(), 0);
        assert_eq!(drained(&spool).await, Vec::<String>::new());
        spool.add(&json("e"), true).await.unwrap();
        assert_eq!(drained(&spool).await, ["e"]);
    }

    #[tokio::test]
    async fn a_failed_insert_keeps_every_event_for_the_next_drain() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path().join(FILE_NAME), DEFAULT_LIMIT);
        spool.add(&json("a"), true).await.unwrap();
        let failed = spool
            .drain(|_| async { Err(StoreError::Unavailable("down again".into())) })
            .await;
        assert!(matches!(failed, Err(StoreError::Unavailable(_))));
        spool.add(&json("b"), true).await.unwrap();
        assert_eq!(drained(&spool).await, ["a", "b"]);
    }

    #[tokio::test]
    async fn the_file_is_owner_only_even_when_it_was_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let spool = Spool::new(path.clone(), DEFAULT_LIMIT);
        spool.add(&json("a"), true).await.unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        spool.add(&json("b"), true).await.unwrap();
        assert_eq!(mode(&path), 0o600);
    }

    #[tokio::test]
    async fn beyond_its_limit_an_event_is_refused_as_unavailable_until_drained() {
        let dir = tempfile::tempdir().unwrap();
        let line = json("a").len() as u64 + 1;
        let spool = Spool::new(dir.path().join(FILE_NAME), 2 * line);
        spool.add(&json("a"), true).await.unwrap();
        spool.add(&json("b"), true).await.unwrap();
        let refused = spool.add(&json("c"), true).await;
        match refused {
            Err(StoreError::Unavailable(why)) => assert!(why.contains("spool is full"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            spool.bytes(),
            2 * line,
            "nothing of the refused event written"
        );
        assert_eq!(drained(&spool).await, ["a", "b"]);
        spool.add(&json("c"), true).await.unwrap();
    }

    #[tokio::test]
    async fn a_torn_last_line_is_dropped_and_the_rest_drained() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path().join(FILE_NAME), DEFAULT_LIMIT);
        spool.add(&json("a"), true).await.unwrap();
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(spool.path())
            .unwrap();
        file.write_all(b"{\"event_time\":\"2026-").unwrap();
        assert_eq!(drained(&spool).await, ["a"]);
    }
}
