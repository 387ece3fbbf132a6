//! The batching writer: sessions and audit events go through one task that writes whatever is
//! waiting in one transaction, so concurrent requests share a commit (and its WAL flush:
//! `synchronous_commit` is on). A writer that needs durability waits for the answer; an event
//! no answer depends on (a refusal) goes in with the next batch.
//!
//! Events are published to the audit feed after their commit, in the order written. An event
//! nobody waits for whose commit cannot reach the database goes to the audit spool, if the
//! store has one (and is published then).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use deadpool_postgres::Pool;
use tokio::sync::{mpsc, oneshot};

use super::spool::Spool;
use super::{Reachability, db_error, pool_error};
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

type Answer = oneshot::Sender<Result<(), CommitError>>;

struct Job {
    session: Option<SessionRow>,
    event: Option<EventRow>,
    /// `None`: nobody waits (a recorded event).
    answer: Option<Answer>,
}

/// How long dropping the writer waits for the jobs queued to be written (a database that no
/// longer answers must not keep the daemon from stopping).
const SHUTDOWN_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The handle on the writer task. Dropping it closes the queue and waits (at most
/// [`SHUTDOWN_WAIT`]) for the jobs queued to be written, so events recorded without waiting
/// are in the database when the store is gone (a store opened next sees them).
pub(crate) struct Writer {
    /// `None` only while dropping.
    jobs: Option<mpsc::UnboundedSender<Job>>,
    /// Disconnected when the task ends (in a mutex: a receiver is not `Sync`).
    ended: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
    commits: Arc<AtomicU64>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        use tokio::runtime::{Handle, RuntimeFlavor};
        self.jobs = None;
        let wait = || {
            if let Ok(ended) = self.ended.lock() {
                let _ = ended.recv_timeout(SHUTDOWN_WAIT);
            }
        };
        match Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(wait);
            }
            // On a single-threaded runtime the task can only run once this returns.
            Ok(_) => {}
            Err(_) => wait(),
        }
    }
}

impl Writer {
    pub(crate) fn start(
        pool: Pool,
        feed: AuditFeed,
        metrics: CommitMetrics,
        reachability: Arc<Reachability>,
        spool: Option<Arc<Spool>>,
    ) -> Self {
        let (jobs, queue) = mpsc::unbounded_channel();
        let (end, ended) = std::sync::mpsc::channel();
        let commits = Arc::new(AtomicU64::new(0));
        let task_commits = commits.clone();
        tokio::spawn(async move {
            run(
                pool,
                feed,
                metrics,
                queue,
                task_commits,
                reachability,
                spool,
            )
            .await;
            drop(end);
        });
        Self {
            jobs: Some(jobs),
            ended: std::sync::Mutex::new(ended),
            commits,
        }
    }

    fn queue(&self) -> Result<&mpsc::UnboundedSender<Job>, StoreError> {
        self.jobs.as_ref().ok_or(StoreError::Closed)
    }

    /// Write `session` and `event` (either may be absent: a barrier, which answers once
    /// everything queued before it is committed); resolves once committed.
    pub(crate) async fn durable(
        &self,
        session: Option<SessionRow>,
        event: Option<EventRow>,
    ) -> Result<(), StoreError> {
        let (answer, answered) = oneshot::channel();
        self.queue()?
            .send(Job {
                session,
                event,
                answer: Some(answer),
            })
            .map_err(|_| StoreError::Closed)?;
        answered
            .await
            .map_err(|_| StoreError::Closed)?
            .map_err(CommitError::into_store_error)
    }

    /// Queue `event` for the next commit, without waiting for it.
    pub(crate) fn soon(&self, event: EventRow) -> Result<(), StoreError> {
        self.queue()?
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
    reachability: Arc<Reachability>,
    spool: Option<Arc<Spool>>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let outcomes = write(&pool, &metrics, &batch, &commits).await;
        // A batch of barriers alone did not reach the database: it tells nothing.
        let reached = batch
            .iter()
            .any(|j| j.session.is_some() || j.event.is_some());
        match outcomes.iter().find_map(|o| o.as_ref().err()) {
            Some(e) if e.unavailable => reachability.set(Some(e.message.clone())),
            Some(_) => {}
            None if reached => reachability.set(None),
            None => {}
        }
        for (job, outcome) in batch.iter().zip(&outcomes) {
            match (outcome, &job.event, &spool) {
                (Ok(()), Some(event), _) if feed.is_heard() => feed.publish(event.json.as_bytes()),
                (Err(e), Some(event), Some(spool)) if e.unavailable && job.answer.is_none() => {
                    match spool.add(&event.json, false).await {
                        Ok(()) => feed.publish(event.json.as_bytes()),
                        Err(e) => {
                            tracing::warn!(error = %e, "an audit event of a refused request lost");
                        }
                    }
                }
                _ => {}
            }
        }
        for (job, outcome) in batch.drain(..).zip(outcomes) {
            if let Some(answer) = job.answer {
                let _ = answer.send(outcome);
            }
        }
    }
}

/// Write `batch` in one transaction; when a row of it is refused (a statement error, not a
/// lost connection), each job again in a transaction of its own, so that one bad row fails
/// alone. The outcome of each job, in order.
async fn write(
    pool: &Pool,
    metrics: &CommitMetrics,
    batch: &[Job],
    commits: &AtomicU64,
) -> Vec<Result<(), CommitError>> {
    let has_data = |j: &Job| j.session.is_some() || j.event.is_some();
    if !batch.iter().any(has_data) {
        return vec![Ok(()); batch.len()];
    }
    let watch = crate::clock::Stopwatch::start();
    match commit(pool, batch).await {
        Ok(()) => {
            commits.fetch_add(1, Ordering::Relaxed);
            metrics.flushed(batch.len(), watch.elapsed());
            vec![Ok(()); batch.len()]
        }
        Err(e) if e.refused_row && batch.iter().filter(|j| has_data(j)).count() > 1 => {
            tracing::warn!(error = %e.message, jobs = batch.len(), "a shared commit was refused; writing its jobs one by one");
            let mut outcomes = Vec::with_capacity(batch.len());
            for job in batch {
                if !has_data(job) {
                    outcomes.push(Ok(()));
                    continue;
                }
                let alone = commit(pool, std::slice::from_ref(job)).await;
                if alone.is_ok() {
                    commits.fetch_add(1, Ordering::Relaxed);
                }
                outcomes.push(alone);
            }
            outcomes
        }
        Err(e) => {
            tracing::warn!(error = %e.message, jobs = batch.len(), "a commit failed");
            vec![Err(e); batch.len()]
        }
    }
}

/// Why a commit failed: the message, and whether the database refused a row or statement
/// (then the other jobs of the batch can still be written), rather than being unreachable.
#[derive(Debug, Clone)]
struct CommitError {
    message: String,
    refused_row: bool,
    /// The database could not be reached (`StoreError::Unavailable`).
    unavailable: bool,
}

impl CommitError {
    fn of(doing: &str, e: &tokio_postgres::Error) -> Self {
        Self::from_store(db_error(doing, e))
    }

    fn from_store(e: StoreError) -> Self {
        let unavailable = matches!(e, StoreError::Unavailable(_));
        Self {
            message: match e {
                StoreError::Unavailable(m) | StoreError::Backend(m) => m,
                other => other.to_string(),
            },
            refused_row: !unavailable,
            unavailable,
        }
    }

    fn into_store_error(self) -> StoreError {
        if self.unavailable {
            StoreError::Unavailable(self.message)
        } else {
            StoreError::Backend(self.message)
        }
    }
}

/// One transaction: every session, then every event in order.
async fn commit(pool: &Pool, batch: &[Job]) -> Result<(), CommitError> {
    let mut client = pool
        .get()
        .await
        .map_err(|e| CommitError::from_store(pool_error(&e)))?;
    let tx = client
        .transaction()
        .await
        .map_err(|e| CommitError::of("starting a commit", &e))?;
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
        .map_err(|e| CommitError::of("writing sessions", &e))?;
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
        .map_err(|e| CommitError::of("writing audit events", &e))?;
    }
    tx.commit()
        .await
        .map_err(|e| CommitError::of("committing", &e))
}
