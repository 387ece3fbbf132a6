//! Liveness and readiness. `/healthz` answers whenever the process serves HTTP (liveness: restart
//! me if this fails). `/readyz` says whether requests can be served well now (readiness: send me
//! traffic), and why not: the store above its free-space floor, the keyring loaded, each
//! identity provider's keys or metadata at hand. 200 when ready, 503 otherwise; the same JSON
//! either way. Its `warnings` list what an operator should fix without making it unready.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State as Extract;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::App;
use crate::idp::IdpHealth;
use crate::store::StoreStatus;

#[derive(Serialize)]
struct Readiness {
    ready: bool,
    store: StoreReadiness,
    keyring: KeyringReadiness,
    identity_providers: BTreeMap<String, IdpHealth>,
    /// Why not ready, one sentence each.
    problems: Vec<String>,
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

/// A PostgreSQL outage makes every node unready at once, on purpose: a node without its database
/// answers nothing but 503 (issuing writes the session; every answered request, verification
/// included, is audited durably first), so a load balancer that drains them all, or fails open
/// to all, serves what the nodes would have. What readiness is for, a node that alone lost its
/// database while the others reach it, is drained alone. Staying ready through an outage needs
/// verification that does not write to the database first (an audit spool), and then a bound on
/// how long a node trusts a revocation list it cannot refresh.
pub(super) async fn readiness(Extract(app): Extract<Arc<App>>) -> Response {
    let state = &app.state;
    let now = state.clock().now();
    let mut problems = Vec::new();
    let status = state.store().health.status();
    if let Some(why) = &status.unavailable {
        problems.push(format!(
            "the database does not answer ({why}): requests that write are refused"
        ));
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
    let readiness = Readiness {
        ready: problems.is_empty(),
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
        warnings: app.warnings.clone(),
    };
    let code = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(readiness)).into_response()
}
