//! Liveness and readiness. `/healthz` answers whenever the process serves HTTP (liveness: restart
//! me if this fails). `/readyz` says whether requests can be served well now (readiness: send me
//! traffic), and why not: the store above its free-space floor, the keyring loaded, each
//! identity provider's keys or metadata at hand. 200 when ready, 503 otherwise; the same JSON
//! either way. Its `status` is `ready`, `degraded` (ready, though some requests are refused:
//! `degraded` says which and why) or `unready`. Its `warnings` list what an operator should
//! fix without making it unready.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State as Extract;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::App;
use crate::idp::IdpHealth;
use crate::store::{Freshness, StoreStatus};

#[derive(Serialize)]
struct Readiness {
    ready: bool,
    /// `ready`, `degraded` or `unready`.
    status: &'static str,
    store: StoreReadiness,
    keyring: KeyringReadiness,
    identity_providers: BTreeMap<String, IdpHealth>,
    /// Why not ready, one sentence each.
    problems: Vec<String>,
    /// What is refused though the daemon is ready, and why, one sentence each.
    degraded: Vec<String>,
    /// What an operator should fix though the daemon serves (plain HTTP beyond loopback, say),
    /// one sentence each; never a reason for 503.
    warnings: Vec<String>,
}

#[derive(Serialize)]
struct StoreReadiness {
    writable: bool,
    #[serde(flatten)]
    status: StoreStatus,
}

#[derive(Serialize)]
struct KeyringReadiness {
    loaded: bool,
    current_key_id: String,
}

pub(super) async fn liveness() -> &'static str {
    "ok\n"
}

/// A PostgreSQL outage leaves a node ready but degraded while it still verifies temporary
/// credentials: their session tokens are sealed (no database read), their audit events wait in
/// the local audit spool, and the revocation list the node holds is trusted for `[storage]
/// stale_revocations_seconds` after its last refresh. Issuing is refused meanwhile (a session
/// must be durable in the shared database), and `degraded` says so. Past that bound the node
/// is unready (503): it refuses temporary credentials too, so it serves nothing a load
/// balancer could send it; every node loses the database at once, so all go unready at once,
/// and a load balancer that drains them all, or fails open to all, serves what they would.
pub(super) async fn readiness(Extract(app): Extract<Arc<App>>) -> Response {
    let state = &app.state;
    let now = state.clock().now();
    let mut problems = Vec::new();
    let mut degraded = Vec::new();
    let status = state.store().health.status();
    let freshness = state.store().revocations.freshness(now);
    if let Some(why) = &status.unavailable {
        let spooled = status
            .audit_spool_bytes
            .map(|bytes| format!("; {bytes} bytes of audit events spooled"))
            .unwrap_or_default();
        match freshness {
            Freshness::Stale { since } => problems.push(format!(
                "the database does not answer ({why}): requests that write are refused, and \
                 temporary credentials too (the revocation list was last refreshed {}, longer \
                 ago than its bound){spooled}",
                crate::clock::iso8601(since)
            )),
            Freshness::Trusted { since, until } => degraded.push(format!(
                "the database does not answer ({why}): requests that write are refused; \
                 temporary credentials are verified against the revocation list of {} until {}\
                 {spooled}",
                crate::clock::iso8601(since),
                crate::clock::iso8601(until)
            )),
            Freshness::Current => degraded.push(format!(
                "the database does not answer ({why}): requests that write are refused{spooled}"
            )),
        }
    } else if !freshness.trusted() {
        problems.push(
            "the revocation list cannot be refreshed, longer than its bound: temporary credentials are refused"
                .to_owned(),
        );
    } else if !status.writable() {
        problems.push(format!(
            "the store's filesystem has {} MiB free, below the floor of {} MiB: requests that write are refused",
            status.free_bytes / (1024 * 1024),
            status.floor_bytes / (1024 * 1024)
        ));
    }
    let federation = state.federation();
    let mut identity_providers = BTreeMap::new();
    for idp in federation.idps.all() {
        let health = idp.health(now).await;
        if !health.ready {
            problems.push(format!(
                "identity provider {} cannot verify: {}",
                idp.name(),
                health.detail
            ));
        }
        identity_providers.insert(idp.name().to_owned(), health);
    }
    let ready = problems.is_empty();
    let readiness = Readiness {
        ready,
        status: match (ready, degraded.is_empty()) {
            (false, _) => "unready",
            (true, false) => "degraded",
            (true, true) => "ready",
        },
        store: StoreReadiness {
            writable: status.writable(),
            status,
        },
        keyring: KeyringReadiness {
            loaded: true,
            current_key_id: state.principals().keyring().snapshot().current_key_id(),
        },
        identity_providers,
        problems,
        degraded,
        warnings: app.warnings.clone(),
    };
    let code = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(readiness)).into_response()
}
