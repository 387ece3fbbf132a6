//! Group commit for sled: one dedicated thread makes applied writes durable, one `flush()` for
//! every writer waiting at that moment.
//!
//! Why a thread and not `flush_async`: awaiting sled 0.34's `flush_async` from many tasks
//! deadlocks (the fix was never released). Why one flush for many: a flush costs a disk sync
//! whether it covers one write or a hundred, so concurrent writers share it.
//!
//! A writer applies its write first, then hands in a ticket; the thread takes the ticket before
//! it starts the flush that answers it, so that flush covers the write.
//!
//! A ticket may carry an audit event (JSON). The thread writes the events of one batch as one
//! audit entry (a JSON array under one time-ordered key) before the flush: sled splits a leaf
//! every 16 entries and rewrites it whole, so one ~800-byte entry per request was the daemon's
//! single largest cost under load (the README's benchmark section has the figures).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::audit::feed::AuditFeed;
use crate::metrics::CommitMetrics;
use crate::store::StoreError;

/// Answered with `Ok` once a flush that started after the write returned, or with the flush
/// error's text.
type Answer = oneshot::Sender<Result<(), String>>;

/// An audit event as the commit thread writes it: JSON, and when it happened.
pub(crate) struct EncodedEvent {
    pub(crate) unix_time: i64,
    pub(crate) json: Vec<u8>,
}

/// A writer waiting for durability (or not: an audit event no answer depends on), with the
/// audit event the thread is to write for it.
struct Ticket {
    audit_event: Option<EncodedEvent>,
    answer: Option<Answer>,
}

/// How long dropping the store waits for the commit thread's last flush before it gives up on
/// it (logged): a flush that never returns (a wedged disk) must not keep the daemon from
/// stopping.
const SHUTDOWN_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Handle on the commit thread. Dropping it closes the channel and joins the thread, which
/// answers any tickets already queued first, for at most [`SHUTDOWN_WAIT`].
pub(crate) struct GroupCommit {
    /// `None` only while dropping.
    tickets: Option<mpsc::Sender<Ticket>>,
    thread: Option<JoinHandle<()>>,
    /// Disconnected when the thread ends (in a mutex: a receiver is not `Sync`).
    ended: std::sync::Mutex<mpsc::Receiver<()>>,
    flushes: Arc<AtomicU64>,
}

impl GroupCommit {
    /// Start the commit thread for `db`, writing audit events to `audit`, publishing them on
    /// `feed` once durable and reporting each flush to `metrics`.
    pub(crate) fn start(
        db: sled::Db,
        audit: sled::Tree,
        feed: AuditFeed,
        metrics: CommitMetrics,
    ) -> Result<Self, StoreError> {
        let (tickets, queue) = mpsc::channel();
        let (alive, ended) = mpsc::channel::<()>();
        let flushes = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&flushes);
        let thread = std::thread::Builder::new()
            .name("sled-commit".into())
            .spawn(move || {
                let _alive = alive;
                commit_loop(&db, &audit, &feed, &queue, &counter, &metrics);
            })
            .map_err(|e| StoreError::Backend(format!("starting the commit thread: {e}")))?;
        Ok(Self {
            tickets: Some(tickets),
            thread: Some(thread),
            ended: std::sync::Mutex::new(ended),
            flushes,
        })
    }

    /// Resolves once everything this task wrote before calling it is on disk.
    pub(crate) async fn durable(&self) -> Result<(), StoreError> {
        self.durable_with(None).await
    }

    /// [`durable`](Self::durable), with `audit_event` appended to the audit trail by the flush
    /// that answers.
    pub(crate) async fn durable_with(
        &self,
        audit_event: Option<EncodedEvent>,
    ) -> Result<(), StoreError> {
        let (sender, answer) = oneshot::channel();
        let tickets = self.tickets.as_ref().ok_or(StoreError::Closed)?;
        let ticket = Ticket {
            audit_event,
            answer: Some(sender),
        };
        tickets.send(ticket).map_err(|_| StoreError::Closed)?;
        match answer.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Backend(format!("flush: {e}"))),
            Err(_) => Err(StoreError::Closed),
        }
    }

    /// Hand `audit_event` to the thread without waiting: it is written within [`SOON`] with the
    /// events that came meanwhile, and durable with the flush after.
    pub(crate) fn soon(&self, audit_event: EncodedEvent) -> Result<(), StoreError> {
        let tickets = self.tickets.as_ref().ok_or(StoreError::Closed)?;
        let ticket = Ticket {
            audit_event: Some(audit_event),
            answer: None,
        };
        tickets.send(ticket).map_err(|_| StoreError::Closed)
    }

    /// How many flushes the thread has run (each answers every ticket queued before it).
    pub(crate) fn flush_count(&self) -> u64 {
        self.flushes.load(Ordering::Relaxed)
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        drop(self.tickets.take());
        let Some(thread) = self.thread.take() else {
            return;
        };
        let ended = self
            .ended
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match ended.recv_timeout(SHUTDOWN_WAIT) {
            Err(mpsc::RecvTimeoutError::Timeout) => {
                tracing::error!(
                    waited_secs = SHUTDOWN_WAIT.as_secs(),
                    "the sled commit thread's last flush did not return; stopping without it"
                );
            }
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                if thread.join().is_err() {
                    tracing::error!("the sled commit thread panicked");
                }
            }
        }
    }
}

/// How long a flush waits for more writers once the previous one served several.
const COMMIT_DELAY: std::time::Duration = std::time::Duration::from_micros(500);
/// A batch at least this large means writers are concurrent: the next flush waits
/// [`COMMIT_DELAY`]. A lone writer (a quiet daemon) never waits.
const BUSY_BATCH: usize = 4;
/// How long events no writer waits for (refusals) gather before they are written, unless a
/// writer who waits comes first: a stranger's refused requests, one after another, share one
/// entry and one flush instead of costing one each.
pub(crate) const SOON: std::time::Duration = std::time::Duration::from_millis(100);

/// Block for a ticket, gather every other waiting ticket, write their audit events as one
/// entry, flush once, answer them all, publish the events; stop when the store is dropped
/// (channel closed).
fn commit_loop(
    db: &sled::Db,
    audit: &sled::Tree,
    feed: &AuditFeed,
    queue: &mpsc::Receiver<Ticket>,
    flushes: &AtomicU64,
    metrics: &CommitMetrics,
) {
    let mut busy = false;
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        if busy {
            // Under load, let more writers join this flush (commit delay): fewer, larger flushes
            // cost sled less I/O-thread churn per write (README, benchmarks).
            std::thread::sleep(COMMIT_DELAY);
        }
        batch.extend(queue.try_iter());
        if batch.iter().all(|ticket| ticket.answer.is_none()) {
            gather_until_waited_for(queue, &mut batch);
        }
        busy = batch.len() >= BUSY_BATCH;
        let took = crate::clock::Stopwatch::start();
        let mut events = Vec::new();
        let outcome = append_events(db, audit, &mut batch, &mut events)
            .and_then(|()| db.flush().map(drop))
            .map_err(|e| e.to_string());
        flushes.fetch_add(1, Ordering::Relaxed);
        metrics.flushed(batch.len(), took.elapsed());
        if let Err(e) = &outcome {
            tracing::error!(error = %e, waiting = batch.len(), "sled flush failed");
        }
        // Before the answers: once a write returns, its event has been published.
        if outcome.is_ok() && !events.is_empty() && feed.is_heard() {
            for event in &events {
                feed.publish(&event.json);
            }
        }
        for answer in batch.into_iter().filter_map(|ticket| ticket.answer) {
            // The writer may have stopped waiting (request cancelled); its write stays applied.
            let _ = answer.send(outcome.clone());
        }
    }
}

/// Add to `batch` the tickets that come within [`SOON`], until one whose writer waits (or the
/// store closes).
fn gather_until_waited_for(queue: &mpsc::Receiver<Ticket>, batch: &mut Vec<Ticket>) {
    let since = crate::clock::Stopwatch::start();
    while let Some(left) = SOON.checked_sub(since.elapsed()) {
        match queue.recv_timeout(left) {
            Ok(ticket) => {
                let waited_for = ticket.answer.is_some();
                batch.push(ticket);
                if waited_for {
                    batch.extend(queue.try_iter());
                    return;
                }
            }
            Err(_timeout_or_closed) => return,
        }
    }
}

/// The batch's audit events (moved to `events`, to be published once durable) as one
/// compressed JSON array, in the order their writers handed them in, under the key of the latest event's time (so a retention cut never takes an entry holding a newer
/// event) and a fresh sequence number.
fn append_events(
    db: &sled::Db,
    audit: &sled::Tree,
    batch: &mut [Ticket],
    events: &mut Vec<EncodedEvent>,
) -> sled::Result<()> {
    events.extend(
        batch
            .iter_mut()
            .filter_map(|ticket| ticket.audit_event.take()),
    );
    let Some(latest) = events.iter().map(|e| e.unix_time).max() else {
        return Ok(());
    };
    let value = super::record::encode_events(events.iter().map(|e| e.json.as_slice()))?;
    audit.insert(super::audit_key(latest, db.generate_id()?), value)?;
    Ok(())
}
