//! `[audit] export_file`: every recorded event appended as one JSON line (the shape of
//! `audit list --json`) to a file a SIEM agent tails.
//!
//! A writer task reads the store's feed ([`super::feed`]): lines are written after their events
//! are durable, never on a request's path; a burst of events is written and flushed together.
//! If the writer ever falls behind the feed's capacity, the oldest lines are lost: counted
//! ([`AuditExport::dropped_lines`]) and logged, never waited for. The file is created 0600;
//! [`AuditExport::reopen`] closes it and opens the path again (logrotate's `create` mode moves
//! the file away first), so the lines after the call go to the new file.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use tokio::sync::Notify;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use super::feed::{AuditSubscription, RecordedEvent};

/// The export file's handle: reopen it, read its losses. Clones share the one writer task.
#[derive(Debug, Clone)]
pub struct AuditExport {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    path: PathBuf,
    reopen: Notify,
    /// Lines lost (also a metric: `stsbridge_audit_export_lost_lines_total`).
    dropped: Counter,
}

impl AuditExport {
    /// Open (or create, mode 0600) `path` for appending and start the task writing every event
    /// of `events` to it; the task ends when the feed closes (the store is dropped), after
    /// writing what it holds. Fails if the file cannot be opened, so a wrong path stops the
    /// daemon at start rather than losing the trail quietly.
    /// Lost lines are counted in `lost`.
    pub fn start(path: &Path, events: AuditSubscription, lost: Counter) -> std::io::Result<Self> {
        let file = open(path)?;
        let shared = Arc::new(Shared {
            path: path.to_owned(),
            reopen: Notify::new(),
            dropped: lost,
        });
        tokio::spawn(write_events(Arc::clone(&shared), file, events));
        Ok(Self { shared })
    }

    /// Close the file and open its path again, creating it if it was moved away: the events
    /// recorded after this call go to the file now at the path. For log rotation (SIGHUP).
    pub fn reopen(&self) {
        self.shared.reopen.notify_one();
    }

    /// How many lines were lost since start: the writer fell behind the feed, or the file
    /// could not be written.
    pub fn dropped_lines(&self) -> u64 {
        self.shared.dropped.get()
    }

    pub fn path(&self) -> &Path {
        &self.shared.path
    }
}

fn open(path: &Path) -> std::io::Result<BufWriter<File>> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map(BufWriter::new)
}

/// The writer task: a reopen request first, then the events of a burst, written and flushed
/// together.
async fn write_events(shared: Arc<Shared>, file: BufWriter<File>, mut events: AuditSubscription) {
    let mut writer = Writer {
        shared: &shared,
        file: Some(file),
        lost: 0,
        error: None,
    };
    loop {
        tokio::select! {
            biased;
            () = shared.reopen.notified() => writer.reopen(),
            received = events.recv() => {
                writer.open_if_closed();
                match received {
                    Ok(event) => writer.write(&event),
                    Err(RecvError::Lagged(lost)) => writer.lost += lost,
                    Err(RecvError::Closed) => break,
                }
                loop {
                    match events.try_recv() {
                        Ok(event) => writer.write(&event),
                        Err(TryRecvError::Lagged(lost)) => writer.lost += lost,
                        Err(TryRecvError::Empty | TryRecvError::Closed) => break,
                    }
                }
                writer.flush();
            }
        }
    }
    writer.flush();
}

/// The file and what went wrong during the current burst (reported once, at its flush).
struct Writer<'a> {
    shared: &'a Shared,
    /// `None` after a failed open: tried again at the next burst.
    file: Option<BufWriter<File>>,
    /// Lines lost in this burst.
    lost: u64,
    /// The first write error of this burst.
    error: Option<std::io::Error>,
}

impl Writer<'_> {
    fn reopen(&mut self) {
        self.flush();
        self.file = None;
        self.open_if_closed();
        if self.file.is_some() {
            tracing::info!(path = %self.shared.path.display(), "audit export file reopened");
        }
    }

    fn open_if_closed(&mut self) {
        if self.file.is_none() {
            match open(&self.shared.path) {
                Ok(file) => self.file = Some(file),
                Err(e) => self.error = Some(e),
            }
        }
    }

    fn write(&mut self, event: &RecordedEvent) {
        let Some(file) = self.file.as_mut() else {
            self.lost += 1;
            return;
        };
        if let Err(e) = file
            .write_all(event.json())
            .and_then(|()| file.write_all(b"\n"))
        {
            self.lost += 1;
            self.error.get_or_insert(e);
        }
    }

    /// Flush the burst, and report what it lost.
    fn flush(&mut self) {
        if let Some(file) = self.file.as_mut()
            && let Err(e) = file.flush()
        {
            self.error.get_or_insert(e);
        }
        let path = self.shared.path.display();
        if let Some(e) = self.error.take() {
            tracing::error!(path = %path, error = %e, "writing the audit export file failed");
        }
        if self.lost > 0 {
            let lost = std::mem::take(&mut self.lost);
            let total = self.shared.dropped.inc_by(lost) + lost;
            tracing::warn!(path = %path, lost, total, "audit export lines lost");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    use super::*;
    use crate::store::conformance::event;
    use crate::store::{StorageSettings, Store};

    /// The lines of `path` once it has `count` (5 s at most).
    async fn lines(path: &Path, count: usize) -> Vec<String> {
        for _ in 0..100 {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let lines: Vec<String> = text.lines().map(str::to_owned).collect();
            if lines.len() >= count {
                return lines;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{} did not get {count} lines", path.display());
    }

    fn ids(lines: &[String]) -> Vec<String> {
        lines
            .iter()
            .map(|line| {
                serde_json::from_str::<crate::audit::AuditEvent>(line)
                    .unwrap()
                    .request_id
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn events_are_appended_as_json_lines_and_reopen_follows_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let store: Store =
            crate::store::open(&StorageSettings::new(dir.path().join("sled"), 1024 * 1024))
                .unwrap();
        let path = dir.path().join("audit.jsonl");
        let export = AuditExport::start(&path, store.audit.follow(), Counter::default()).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "created owner-only");

        store.audit.append(&event("e1")).await.unwrap();
        store.audit.record(&event("e2")).await.unwrap();
        assert_eq!(ids(&lines(&path, 2).await), ["e1", "e2"]);

        let rotated = dir.path().join("audit.jsonl.1");
        std::fs::rename(&path, &rotated).unwrap();
        store.audit.append(&event("e3")).await.unwrap();
        assert_eq!(
            ids(&lines(&rotated, 3).await),
            ["e1", "e2", "e3"],
            "until reopened, the moved file gets the lines"
        );
        export.reopen();
        store.audit.append(&event("e4")).await.unwrap();
        assert_eq!(ids(&lines(&path, 1).await), ["e4"], "a fresh file");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(ids(&lines(&rotated, 3).await).len(), 3);
        assert_eq!(export.dropped_lines(), 0);
    }

    #[test]
    fn a_file_that_cannot_be_opened_is_an_error_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let (_feed, events) = {
            let feed = crate::audit::feed::AuditFeed::default();
            let events = feed.subscribe();
            (feed, events)
        };
        let missing = dir.path().join("no-such-dir").join("audit.jsonl");
        assert!(AuditExport::start(&missing, events, Counter::default()).is_err());
    }
}
