//! The free-space floor: below it, writes are refused before the filesystem fills up, so a full
//! disk turns into refused requests that recover by themselves, never into a wedged daemon or a
//! database that cannot open again.
//!
//! A watcher thread reads the filesystem's free space (statvfs: blocks available to unprivileged
//! users) every [`CHECK_EVERY`] and publishes it; writers read the published figure, so the hot
//! path costs one atomic load. Between two checks a burst can write at most what the daemon
//! writes in that time, far below any sensible floor.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::store::StoreError;

/// How often the watcher reads the free space.
const CHECK_EVERY: Duration = Duration::from_millis(200);

/// What writers consult.
#[derive(Debug)]
struct Shared {
    /// Bytes available, as last read (`u64::MAX` until the first reading).
    free: AtomicU64,
    stop: AtomicBool,
}

/// The watcher of one database directory.
pub(crate) struct SpaceGuard {
    floor: u64,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl SpaceGuard {
    /// Watch the filesystem of `dir`; writes are refused while fewer than `floor` bytes are free.
    pub(crate) fn start(dir: PathBuf, floor: u64) -> Result<Self, StoreError> {
        let first = free_bytes(&dir)
            .map_err(|e| StoreError::Backend(format!("free space of {}: {e}", dir.display())))?;
        let shared = Arc::new(Shared {
            free: AtomicU64::new(first),
            stop: AtomicBool::new(false),
        });
        let watched = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("space-watch".into())
            .spawn(move || watch(&dir, &watched, floor))
            .map_err(|e| StoreError::Backend(format!("starting the space watcher: {e}")))?;
        Ok(Self {
            floor,
            shared,
            thread: Some(thread),
        })
    }

    /// `Ok` while the free space is above the floor.
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        let free = self.shared.free.load(Ordering::Relaxed);
        if free < self.floor {
            Err(StoreError::Full {
                free_bytes: free,
                floor_bytes: self.floor,
            })
        } else {
            Ok(())
        }
    }

    /// The free space as last read, and the floor.
    pub(crate) fn status(&self) -> (u64, u64) {
        (self.shared.free.load(Ordering::Relaxed), self.floor)
    }
}

impl Drop for SpaceGuard {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// Read the free space every [`CHECK_EVERY`] until stopped; say when it crosses the floor.
fn watch(dir: &std::path::Path, shared: &Shared, floor: u64) {
    let mut refusing = false;
    while !shared.stop.load(Ordering::Relaxed) {
        // An unreadable figure counts as no space: fail closed.
        let free = free_bytes(dir).unwrap_or_else(|e| {
            tracing::debug!(dir = %dir.display(), error = %e, "cannot read the free space");
            0
        });
        shared.free.store(free, Ordering::Relaxed);
        if (free < floor) != refusing {
            refusing = free < floor;
            if refusing {
                tracing::error!(dir = %dir.display(), free_bytes = free, floor_bytes = floor, "free space below the floor: requests that write are refused until space is freed");
            } else {
                tracing::info!(dir = %dir.display(), free_bytes = free, "free space back above the floor: writes resume");
            }
        }
        std::thread::park_timeout(CHECK_EVERY);
    }
}

/// Bytes an unprivileged process may still write on the filesystem of `dir`.
fn free_bytes(dir: &std::path::Path) -> std::io::Result<u64> {
    let stat = rustix::fs::statvfs(dir)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}
