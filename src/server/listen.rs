//! Accepting connections at a bounded cost to strangers.
//!
//! - At most `max_connections` connections are open (below the process's file-descriptor limit,
//!   so the store, the admin socket and the fetches of IdP keys and metadata always have
//!   descriptors left). When the cap is reached, a new connection takes the place of the
//!   connection that has waited longest for a request (idle, or still trickling its request
//!   head); when every connection is busy with a request, the new one is closed at once. So a
//!   flood of idle connections cannot keep a real client out.
//! - A request head must arrive within `header_timeout` (hyper's header read timeout; also
//!   bounds a slowloris trickle), and a connection with no traffic for `idle_timeout` is closed
//!   (an idle keep-alive, or one opened and never used).
//! - The body and the whole request are bounded by the endpoints themselves (`body_timeout`,
//!   `request_timeout`), which answer in their own error shape.
//! - On shutdown, accepting stops and open connections finish their requests for at most
//!   [`DRAIN`].

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::extract::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::task::AbortHandle;
use tower::ServiceExt as _;

use super::idle::IdleTimeout;
use crate::config::ServerSettings;

/// How long open connections may take to finish once shutdown began.
const DRAIN: Duration = Duration::from_secs(10);
/// The pause after a failed accept (out of descriptors, say), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Descriptors left to everything but client connections when the cap is derived from the
/// process limit.
const RESERVED_DESCRIPTORS: u64 = 256;

/// Serve `router` on `listener` with `limits` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &ServerSettings,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let cap = connection_cap(limits.max_connections);
    let table = Arc::new(Connections::new(cap));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    tracing::info!(max_connections = cap, "accepting connections");
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = table.admit() else {
            tracing::debug!(%peer, "every connection is busy: a new one is closed");
            continue;
        };
        let service = connection_service(router.clone(), peer, Arc::clone(&slot));
        let io = TokioIo::new(IdleTimeout::new(stream, limits.idle_timeout));
        let connection = graceful.watch(http.serve_connection(io, service));
        let task = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection closed");
            }
            drop(slot);
        });
        table.set_abort(&task);
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN) => {
            tracing::warn!(drain_secs = DRAIN.as_secs(), "connections still open at shutdown were closed");
        }
    }
    Ok(())
}

/// The router for one connection: the peer address in each request (`ConnectInfo`), and the
/// connection marked busy while a request is being served.
fn connection_service(
    router: Router,
    peer: SocketAddr,
    slot: Arc<Slot>,
) -> hyper_util::service::TowerToHyperService<
    impl tower::Service<
        Request<hyper::body::Incoming>,
        Response = axum::response::Response,
        Error = std::convert::Infallible,
        Future = impl Send,
    > + Clone,
> {
    let service = tower::service_fn(move |mut request: Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let router = router.clone();
        let busy = Busy::start(Arc::clone(&slot));
        async move {
            let response = router.oneshot(request.map(axum::body::Body::new)).await;
            drop(busy);
            response
        }
    });
    hyper_util::service::TowerToHyperService::new(service)
}

/// The connection cap: the configured one, or one derived from the file-descriptor limit;
/// never above the limit less the descriptors the rest of the daemon needs.
fn connection_cap(configured: Option<usize>) -> usize {
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(65_536);
    let room = usize::try_from(soft.saturating_sub(RESERVED_DESCRIPTORS).max(16)).unwrap_or(16);
    match configured {
        Some(cap) if cap > room => {
            tracing::warn!(
                configured = cap,
                descriptor_limit = soft,
                using = room,
                "[server] max_connections is above what the file-descriptor limit allows"
            );
            room
        }
        Some(cap) => cap.max(1),
        None => room.min(10_000),
    }
}

/// The open connections: which are busy, and since when the others wait.
struct Connections {
    cap: usize,
    next_id: AtomicU64,
    /// Orders the moments connections became idle (a sequence, not a clock).
    idle_order: AtomicU64,
    open: Mutex<HashMap<u64, Entry>>,
    /// The id of the connection admitted last, whose task handle comes next.
    last_admitted: AtomicU64,
}

struct Entry {
    abort: Option<AbortHandle>,
    busy: bool,
    idle_since: u64,
}

/// One open connection's place in the table; freed when the connection and its service are
/// gone.
struct Slot {
    table: Arc<Connections>,
    id: u64,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.table.lock().remove(&self.id);
    }
}

/// A request in progress on a connection: the connection is busy until this is dropped.
struct Busy(Arc<Slot>);

impl Busy {
    fn start(slot: Arc<Slot>) -> Self {
        slot.table.mark(slot.id, true);
        Self(slot)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.table.mark(self.0.id, false);
    }
}

impl Connections {
    fn new(cap: usize) -> Self {
        Self {
            cap,
            next_id: AtomicU64::new(0),
            idle_order: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
            last_admitted: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Entry>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A place for a new connection: a free one, or the one of the connection that has waited
    /// longest for a request (closed now); `None` when every connection is busy.
    fn admit(self: &Arc<Self>) -> Option<Arc<Slot>> {
        let mut open = self.lock();
        if open.len() >= self.cap {
            let longest_idle = open
                .iter()
                .filter(|(_, entry)| !entry.busy)
                .min_by_key(|(_, entry)| entry.idle_since)
                .map(|(id, _)| *id)?;
            if let Some(abort) = open.remove(&longest_idle).and_then(|entry| entry.abort) {
                abort.abort();
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        open.insert(
            id,
            Entry {
                abort: None,
                busy: false,
                idle_since: self.idle_order.fetch_add(1, Ordering::Relaxed),
            },
        );
        self.last_admitted.store(id, Ordering::Relaxed);
        Some(Arc::new(Slot {
            table: Arc::clone(self),
            id,
        }))
    }

    /// The task serving the connection admitted last (the accept loop admits one at a time).
    fn set_abort(&self, task: &tokio::task::JoinHandle<()>) {
        let id = self.last_admitted.load(Ordering::Relaxed);
        if let Some(entry) = self.lock().get_mut(&id) {
            entry.abort = Some(task.abort_handle());
        }
    }

    fn mark(&self, id: u64, busy: bool) {
        let idle_since = self.idle_order.fetch_add(1, Ordering::Relaxed);
        if let Some(entry) = self.lock().get_mut(&id) {
            entry.busy = busy;
            if !busy {
                entry.idle_since = idle_since;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_table_gives_the_longest_idle_place_away_and_never_a_busy_one() {
        let table = Arc::new(Connections::new(2));
        let first = table.admit().unwrap();
        let second = table.admit().unwrap();
        let busy = Busy::start(Arc::clone(&first));
        let third = table.admit().expect("the idle one makes room");
        assert!(table.lock().contains_key(&first.id));
        assert!(!table.lock().contains_key(&second.id), "the idle one left");
        let _busy_too = Busy::start(Arc::clone(&third));
        assert!(table.admit().is_none(), "every connection is busy");
        drop(busy);
        assert!(
            table.admit().is_some(),
            "a finished request frees its connection"
        );
        drop((first, second, third));
    }

    #[test]
    fn the_cap_stays_below_the_descriptor_limit() {
        let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile)
            .current
            .unwrap_or(65_536);
        let derived = connection_cap(None) as u64;
        assert!(derived < soft.max(17), "{derived} vs {soft}");
        assert_eq!(connection_cap(Some(10)), 10);
        assert!(connection_cap(Some(usize::MAX)) as u64 <= soft);
    }
}
