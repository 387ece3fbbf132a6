//! The batching writer: sessions and audit events go through one task that writes whatever is
//! waiting in one transaction, so concurrent requests share a commit (and its WAL flush:
//! `synchronous_commit` is on). A writer that needs durability waits for the answer; an event
//! no answer depends on (a refusal) goes in with the next batch.
//!
//! Events are published to the audit feed after their commit, in the order written.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use deadpool_postgres::Pool;
use tokio::sync::{mpsc, oneshot};

use super::{db_error, pool_error};
use crate::audit::feed::AuditFeed;
use crate::metrics::CommitMetrics;
use crate::store::StoreError;

/// The most jobs one transaction takes.
const MAX_BATCH: usize = 512;

/// A session row as written.
pub(crate) struct SessionRow {
    pub(crate) access_key_id: String,
    pub(crate) expires_at: i64,
    pub(crate) issued_at: i64,
    pub(crate) record: String,
}

/// An audit event as written: when it happened, and its JSON.
pub(crate) struct EventRow {
    pub(crate) unix_time: i64,
    pub(crate) json: String,
}

type Answer = oneshot::Sender<Result<(), String>>;

struct Job {
    session: Option<SessionRow>,
    event: Option<EventRow>,
    /// `None`: nobody waits (a recorded event).
    answer: Option<Answer>,
}

/// The handle on the writer task; the task ends when the last handle is dropped, after the
/// jobs queued.
pub(crate) struct Writer {
    jobs: mpsc::UnboundedSender<Job>,
    commits: Arc<AtomicU64>,
}

impl Writer {
    pub(crate) fn start(pool: Pool, feed: AuditFeed, metrics: CommitMetrics) -> Self {
        let (jobs, queue) = mpsc::unbounded_channel();
        let commits = Arc::new(AtomicU64::new(0));
        tokio::spawn(run(pool, feed, metrics, queue, commits.clone()));
        Self { jobs, commits }
    }

    /// Write `session` and `event` (either may be absent: a barrier, which answers once
    /// everything queued before it is committed); resolves once committed.
    pub(crate) async fn durable(
        &self,
        session: Option<SessionRow>,
        event: Option<EventRow>,
    ) -> Result<(), StoreError> {
        let (answer, answered) = oneshot::channel();
        self.jobs
            .send(Job {
                session,
                event,
                answer: Some(answer),
            })
            .map_err(|_| StoreError::Closed)?;
        answered
            .await
            .map_err(|_| StoreError::Closed)?
            .map_err(StoreError::Backend)
    }

    /// Queue `event` for the next commit, without waiting for it.
    pub(crate) fn soon(&self, event: EventRow) -> Result<(), StoreError> {
        self.jobs
            .send(Job {
                session: None,
                event: Some(event),
                answer: None,
            })
            .map_err(|_| StoreError::Closed)
    }

    /// Transactions committed since the start (fewer than the writes when they were shared).
    pub(crate) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }
}

async fn run(
    pool: Pool,
    feed: AuditFeed,
    metrics: CommitMetrics,
    mut queue: mpsc::UnboundedReceiver<Job>,
    commits: Arc<AtomicU64>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let watch = crate::clock::Stopwatch::start();
        let result = if batch
            .iter()
            .any(|j| j.session.is_some() || j.event.is_some())
        {
            let written = commit(&pool, &batch).await;
            if written.is_ok() {
                commits.fetch_add(1, Ordering::Relaxed);
                metrics.flushed(batch.len(), watch.elapsed());
            }
            written
        } else {
            Ok(())
        };
        match &result {
            Ok(()) => {
                if feed.is_heard() {
                    for event in batch.iter().filter_map(|j| j.event.as_ref()) {
                        feed.publish(event.json.as_bytes());
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, jobs = batch.len(), "a commit failed"),
        }
        for job in batch.drain(..) {
            if let Some(answer) = job.answer {
                let _ = answer.send(result.clone());
            }
        }
    }
}

/// One transaction: every session, then every event in order.
async fn commit(pool: &Pool, batch: &[Job]) -> Result<(), String> {
    let mut client = pool.get().await.map_err(|e| pool_error(&e).to_string())?;
    let tx = client
        .transaction()
        .await
        .map_err(|e| db_error("starting a commit", &e).to_string())?;
    let sessions: Vec<&SessionRow> = batch.iter().filter_map(|j| j.session.as_ref()).collect();
    if !sessions.is_empty() {
        let ids: Vec<&str> = sessions.iter().map(|s| s.access_key_id.as_str()).collect();
        let expiries: Vec<i64> = sessions.iter().map(|s| s.expires_at).collect();
        let issued: Vec<i64> = sessions.iter().map(|s| s.issued_at).collect();
        let records: Vec<&str> = sessions.iter().map(|s| s.record.as_str()).collect();
        tx.execute(
            "INSERT INTO sessions (access_key_id, expires_at, issued_at, record)
             SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[], $4::text[])",
            &[&ids, &expiries, &issued, &records],
        )
        .await
        .map_err(|e| db_error("writing sessions", &e).to_string())?;
    }
    let events: Vec<&EventRow> = batch.iter().filter_map(|j| j.event.as_ref()).collect();
    if !events.is_empty() {
        let times: Vec<i64> = events.iter().map(|e| e.unix_time).collect();
        let json: Vec<&str> = events.iter().map(|e| e.json.as_str()).collect();
        tx.execute(
            "INSERT INTO audit (event_time, event)
             SELECT t, e FROM unnest($1::int8[], $2::text[]) WITH ORDINALITY AS u(t, e, n)
             ORDER BY n",
            &[&times, &json],
        )
        .await
        .map_err(|e| db_error("writing audit events", &e).to_string())?;
    }
    tx.commit()
        .await
        .map_err(|e| db_error("committing", &e).to_string())
}
