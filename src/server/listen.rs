//! Accepting connections at a bounded cost to strangers.
//!
//! - At most `max_connections` connections are open (below the process's file-descriptor limit,
//!   so the store, the admin socket and the fetches of IdP keys and metadata always have
//!   descriptors left). At the cap, the connection that has waited longest for a request (idle,
//!   or still trickling its request head) is closed to make room, and the next connection is
//!   accepted once its descriptor is released (counted until then: under a flood, closing is
//!   not instant); while every connection is busy with a request, new ones wait in the
//!   kernel's accept queue. So a flood of idle connections cannot keep a real client out, nor
//!   push the daemon past its descriptors.
//! - A request head must arrive within `header_timeout` (hyper's header read timeout; also
//!   bounds a slowloris trickle), and a connection with no traffic for `idle_timeout` is closed
//!   (an idle keep-alive, or one opened and never used).
//! - With TLS, the handshake runs on the connection's own task (a slow one never holds up the
//!   accept loop) and must finish within `header_timeout` too; until then the connection
//!   holds a place like an idle one (the first to close at the cap). A failed handshake is
//!   the client's business: logged at debug. Each connection is accepted with the TLS
//!   configuration current at that moment (see `tls::ReloadableTls`).
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
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;
use tower::ServiceExt as _;

use super::TlsConnection;
use prometheus_client::metrics::gauge::Gauge;

use super::idle::IdleTimeout;
use crate::config::ServerSettings;
use crate::tls::ReloadableTls;

/// How long open connections may take to finish once shutdown began.
const DRAIN: Duration = Duration::from_secs(10);
/// The pause after a failed accept (out of descriptors, say), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Descriptors left to everything but client connections when the cap is derived from the
/// process limit.
const RESERVED_DESCRIPTORS: u64 = 256;

/// Serve `router` on `listener` with `limits` until `shutdown` resolves, over TLS when `tls` is
/// given, keeping `open_connections` at the number of connections open.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &ServerSettings,
    tls: Option<Arc<ReloadableTls>>,
    open_connections: Gauge,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let cap = connection_cap(limits.max_connections);
    let table = Arc::new(Connections::new(cap).counted_in(open_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    tracing::info!(max_connections = cap, "accepting connections");
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = table.room() => {}
            () = &mut shutdown => break,
        }
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
        let slot = table.admit();
        let stream = IdleTimeout::new(stream, limits.idle_timeout);
        let task = tokio::spawn(connection(
            Accepted {
                stream,
                peer,
                tls: tls
                    .as_ref()
                    .map(|tls| tokio_rustls::TlsAcceptor::from(tls.current())),
                handshake_timeout: limits.header_timeout,
            },
            http.clone(),
            router.clone(),
            graceful.watcher(),
            slot,
        ));
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

/// A connection just accepted.
struct Accepted {
    stream: IdleTimeout<TcpStream>,
    peer: SocketAddr,
    /// Its TLS configuration, when the listener serves TLS.
    tls: Option<tokio_rustls::TlsAcceptor>,
    handshake_timeout: Duration,
}

/// One connection, from the TLS handshake (if any) to its end; its place is freed then.
async fn connection(
    accepted: Accepted,
    http: hyper::server::conn::http1::Builder,
    router: Router,
    watcher: Watcher,
    slot: Arc<Slot>,
) {
    let Accepted {
        stream,
        peer,
        tls,
        handshake_timeout,
    } = accepted;
    let Some(acceptor) = tls else {
        let service = connection_service(router, peer, false, Arc::clone(&slot));
        http_connection(&http, watcher, stream, service, peer).await;
        return;
    };
    match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => {
            let service = connection_service(router, peer, true, Arc::clone(&slot));
            http_connection(&http, watcher, stream, service, peer).await;
        }
        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
        Err(_elapsed) => tracing::debug!(%peer, "TLS handshake timed out"),
    }
}

/// Serve HTTP/1.1 on `io` until the connection ends (or shutdown closes it).
async fn http_connection<I, S>(
    http: &hyper::server::conn::http1::Builder,
    watcher: Watcher,
    io: I,
    service: S,
    peer: SocketAddr,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming> + 'static,
    S::Future: Send,
    S::ResBody: 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let connection = watcher.watch(http.serve_connection(TokioIo::new(io), service));
    if let Err(e) = connection.await {
        tracing::debug!(%peer, error = %e, "connection closed");
    }
}

/// The router for one connection: the peer address in each request (`ConnectInfo`), a
/// [`TlsConnection`] in those that came over TLS, and the connection marked busy while a
/// request is being served.
fn connection_service(
    router: Router,
    peer: SocketAddr,
    tls: bool,
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
        if tls {
            request.extensions_mut().insert(TlsConnection);
        }
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
    /// Signalled when a place may have come free: a connection ended, or finished a request.
    changed: tokio::sync::Notify,
    next_id: AtomicU64,
    /// Orders the moments connections became idle (a sequence, not a clock).
    idle_order: AtomicU64,
    open: Mutex<HashMap<u64, Entry>>,
    /// The id of the connection admitted last, whose task handle comes next.
    last_admitted: AtomicU64,
    /// How many are open, for the metrics.
    gauge: Gauge,
}

struct Entry {
    abort: Option<AbortHandle>,
    busy: bool,
    idle_since: u64,
    /// Told to close to make room; still counted until its task has ended.
    closing: bool,
}

/// One open connection's place in the table; freed when the connection and its service are
/// gone.
struct Slot {
    table: Arc<Connections>,
    id: u64,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.table.gauge.dec();
        self.table.lock().remove(&self.id);
        self.table.changed.notify_one();
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
            changed: tokio::sync::Notify::new(),
            next_id: AtomicU64::new(0),
            idle_order: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
            last_admitted: AtomicU64::new(0),
            gauge: Gauge::default(),
        }
    }

    /// This table, counting its open connections in `gauge`.
    fn counted_in(self, gauge: Gauge) -> Self {
        Self { gauge, ..self }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Entry>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Resolves when there is room for one more connection: at the cap, the connection that
    /// has waited longest for a request is told to close (never a busy one), and this waits
    /// until a place is actually free.
    async fn room(&self) {
        loop {
            // Registered before looking, so a place freed meanwhile is not missed (a permit).
            let changed = self.changed.notified();
            {
                let mut open = self.lock();
                if open.len() < self.cap {
                    return;
                }
                let closing = open.values().any(|entry| entry.closing);
                if !closing
                    && let Some(entry) = open
                        .values_mut()
                        .filter(|entry| !entry.busy && entry.abort.is_some())
                        .min_by_key(|entry| entry.idle_since)
                {
                    entry.closing = true;
                    if let Some(abort) = &entry.abort {
                        abort.abort();
                    }
                }
            }
            changed.await;
        }
    }

    /// A place for a new connection (after [`room`](Self::room) said there is one).
    fn admit(self: &Arc<Self>) -> Arc<Slot> {
        let mut open = self.lock();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        open.insert(
            id,
            Entry {
                abort: None,
                busy: false,
                idle_since: self.idle_order.fetch_add(1, Ordering::Relaxed),
                closing: false,
            },
        );
        self.last_admitted.store(id, Ordering::Relaxed);
        self.gauge.inc();
        Arc::new(Slot {
            table: Arc::clone(self),
            id,
        })
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
        if !busy {
            self.changed.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection held by a task that never ends unless aborted.
    fn open(table: &Arc<Connections>) -> Arc<Slot> {
        let slot = table.admit();
        let held = Arc::clone(&slot);
        let task = tokio::spawn(async move {
            let _held = held;
            std::future::pending::<()>().await;
        });
        table.set_abort(&task);
        slot
    }

    async fn room_within(table: &Connections, ms: u64) -> bool {
        tokio::time::timeout(Duration::from_millis(ms), table.room())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn a_full_table_closes_the_longest_idle_and_waits_until_it_is_gone() {
        let table = Arc::new(Connections::new(2));
        assert!(room_within(&table, 100).await);
        let first = open(&table);
        let second = open(&table);
        let busy = Busy::start(Arc::clone(&first));
        // At the cap: the idle one is told to close; room comes once its task has ended.
        let second_id = second.id;
        drop(second);
        assert!(room_within(&table, 1000).await, "the idle one made room");
        assert!(!table.lock().contains_key(&second_id), "the idle one left");
        assert!(table.lock().contains_key(&first.id), "never a busy one");
        let third = open(&table);
        let _busy_too = Busy::start(Arc::clone(&third));
        assert!(
            !room_within(&table, 100).await,
            "every connection is busy: no room"
        );
        let first_id = first.id;
        drop((busy, first));
        assert!(
            room_within(&table, 1000).await,
            "a finished request makes its connection the one to close"
        );
        assert!(!table.lock().contains_key(&first_id));
    }

    /// A connection told to close still counts until its task has ended: no other is
    /// accepted in its place meanwhile.
    #[tokio::test]
    async fn a_closing_connection_counts_until_it_is_gone() {
        let table = Arc::new(Connections::new(1));
        let slot = open(&table);
        let id = slot.id;
        drop(slot);
        let mut room = std::pin::pin!(table.room());
        assert!(
            futures::poll!(&mut room).is_pending(),
            "no room while the closing connection's task has not ended"
        );
        assert!(
            table.lock().get(&id).is_some_and(|entry| entry.closing),
            "told to close, still counted"
        );
        tokio::time::timeout(Duration::from_secs(1), room)
            .await
            .expect("room once it is gone");
        assert!(!table.lock().contains_key(&id));
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
