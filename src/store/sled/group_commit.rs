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
//! audit entry (a JSON array under one sequence key) before the flush: sled splits a leaf every
//! 16 entries and rewrites it whole, so one ~800-byte entry per request was the daemon's single
//! largest cost under load (the README's benchmark section has the figures).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::store::StoreError;

/// Answered with `Ok` once a flush that started after the write returned, or with the flush
/// error's text.
type Answer = oneshot::Sender<Result<(), String>>;

/// A writer waiting for durability, with the audit event the thread is to write for it.
struct Ticket {
    audit_event: Option<Vec<u8>>,
    answer: Answer,
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
    /// Start the commit thread for `db`, writing audit events to `audit`.
    pub(crate) fn start(db: sled::Db, audit: sled::Tree) -> Result<Self, StoreError> {
        let (tickets, queue) = mpsc::channel();
        let (alive, ended) = mpsc::channel::<()>();
        let flushes = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&flushes);
        let thread = std::thread::Builder::new()
            .name("sled-commit".into())
            .spawn(move || {
                let _alive = alive;
                commit_loop(&db, &audit, &queue, &counter);
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

    /// [`durable`](Self::durable), with `audit_event` (JSON) appended to the audit trail by the
    /// flush that answers.
    pub(crate) async fn durable_with(
        &self,
        audit_event: Option<Vec<u8>>,
    ) -> Result<(), StoreError> {
        let (sender, answer) = oneshot::channel();
        let tickets = self.tickets.as_ref().ok_or(StoreError::Closed)?;
        let ticket = Ticket {
            audit_event,
            answer: sender,
        };
        tickets.send(ticket).map_err(|_| StoreError::Closed)?;
        match answer.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Backend(format!("flush: {e}"))),
            Err(_) => Err(StoreError::Closed),
        }
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

/// Block for a ticket, gather every other waiting ticket, write their audit events as one
/// entry, flush once, answer them all; stop when the store is dropped (channel closed).
fn commit_loop(
    db: &sled::Db,
    audit: &sled::Tree,
    queue: &mpsc::Receiver<Ticket>,
    flushes: &AtomicU64,
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
        busy = batch.len() >= BUSY_BATCH;
        let outcome = append_events(db, audit, &mut batch)
            .and_then(|()| db.flush().map(drop))
            .map_err(|e| e.to_string());
        flushes.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = &outcome {
            tracing::error!(error = %e, waiting = batch.len(), "sled flush failed");
        }
        for ticket in batch {
            // The writer may have stopped waiting (request cancelled); its write stays applied.
            let _ = ticket.answer.send(outcome.clone());
        }
    }
}

/// The batch's audit events as one JSON array under a fresh sequence key (big-endian, so byte
/// order is append order), in the order their writers handed them in.
fn append_events(db: &sled::Db, audit: &sled::Tree, batch: &mut [Ticket]) -> sled::Result<()> {
    let events: Vec<Vec<u8>> = batch
        .iter_mut()
        .filter_map(|ticket| ticket.audit_event.take())
        .collect();
    if events.is_empty() {
        return Ok(());
    }
    let mut value = Vec::with_capacity(events.iter().map(|e| e.len() + 1).sum::<usize>() + 1);
    value.push(b'[');
    for (i, event) in events.iter().enumerate() {
        if i > 0 {
            value.push(b',');
        }
        value.extend_from_slice(event);
    }
    value.push(b']');
    let key = db.generate_id()?.to_be_bytes();
    audit.insert(key, value)?;
    Ok(())
}
