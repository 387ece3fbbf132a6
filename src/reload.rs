//! Live reload (`SIGHUP`, `stsbridge reload`): read the configuration again, validate it exactly
//! as `check-config` does, and put it in force whole, or not at all.
//!
//! - What is reloaded: the federation (IdP files, roles, managed policies, authorization
//!   services, account names) and what the parts registered as [`Hook`]s re-read (the TLS
//!   certificate and key files). The audit export file is reopened by every reload, even a
//!   refused one, so log rotation never depends on the configuration.
//! - A configuration with any problem is refused as a whole: the one in force stays, and every
//!   problem is logged and returned to the caller.
//! - Requests in flight finish on the federation they started with; requests that start after
//!   the swap see the new one. Nothing is dropped: the swap is one pointer store.
//! - An IdP whose configuration did not change keeps its verifier: its cached JWKS, its
//!   refreshed SAML metadata and its refresh loop. A removed or changed IdP's loop is stopped.
//! - Settings read once at start (listen address, storage, keyring, admin socket, limits,
//!   metrics listener, log format) are not half-applied: a change is reported as needing a
//!   restart.
//! - Roles keep their ids; a removed role loses its id, so its sessions are refused (as a
//!   re-created role's would be).
//! - One reload runs at a time; a second waits for the first.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use tokio::task::AbortHandle;

use crate::audit::{AuditDraft, EventName};
use crate::clock::{Clock, Stopwatch};
use crate::config::{self, Federation, Settings};
use crate::idp::{IdpSettings, Maintenance};
use crate::startup;
use crate::state::State;

/// The most changes an audit event lists (the log and `stsbridge reload` have them all).
const MAX_LISTED: usize = 50;

/// Something besides the federation that a reload re-reads (the TLS files, say), with the new
/// settings. It runs after the configuration validated and before the swap; an error refuses
/// the reload (the hook keeps what it had).
pub struct Hook {
    pub name: &'static str,
    pub run: HookFn,
}

/// What a [`Hook`] runs: re-read with the new settings, or say why not.
pub type HookFn = Box<dyn Fn(&Settings) -> Result<(), String> + Send + Sync>;

/// What a reload did, or why it did nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadReport {
    /// The new configuration is in force.
    pub applied: bool,
    /// Why it was refused (every problem, with its file and field).
    pub problems: Vec<String>,
    /// Likely mistakes in the new configuration (it was applied).
    pub warnings: Vec<String>,
    /// What changed: roles, IdPs (kept, added, changed, removed), policies, services.
    pub changes: Vec<String>,
    /// Settings that changed in the file but take effect only after a restart.
    pub restart_needed: Vec<String>,
    /// How long the reload took, reading and validating included.
    pub millis: u64,
}

/// Reloads the daemon's configuration.
pub struct Reloader {
    config_path: PathBuf,
    /// The settings the daemon started with (what a restart-only change is compared to).
    started_with: Settings,
    state: Arc<State>,
    /// IdPs the configuration does not name (the development issuer).
    extra_idps: Vec<IdpSettings>,
    clock: Arc<dyn Clock>,
    hooks: Vec<Hook>,
    /// What every reload does first, even one that is refused (reopen the audit export file
    /// for log rotation).
    always: Mutex<Vec<Box<dyn Fn() + Send + Sync>>>,
    /// The background work of each IdP, by name.
    idp_tasks: Mutex<HashMap<String, AbortHandle>>,
    /// One reload at a time.
    serial: tokio::sync::Mutex<()>,
}

impl Reloader {
    pub fn new(
        started_with: Settings,
        state: Arc<State>,
        extra_idps: Vec<IdpSettings>,
        clock: Arc<dyn Clock>,
        hooks: Vec<Hook>,
    ) -> Self {
        Self {
            config_path: started_with.source.clone(),
            started_with,
            state,
            extra_idps,
            clock,
            hooks,
            always: Mutex::new(Vec::new()),
            idp_tasks: Mutex::new(HashMap::new()),
            serial: tokio::sync::Mutex::new(()),
        }
    }

    /// Do `action` at every reload, first, whether the configuration is then applied or not.
    pub fn on_every_reload(&self, action: Box<dyn Fn() + Send + Sync>) {
        self.always
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(action);
    }

    /// Run the IdPs' background work (on the current runtime), stopped with
    /// [`stop`](Self::stop) or when its IdP is removed or changed.
    pub fn spawn_idp_work(&self, work: Vec<(String, Maintenance)>) {
        let mut tasks = self
            .idp_tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for (name, future) in work {
            if let Some(previous) = tasks.insert(name, tokio::spawn(future).abort_handle()) {
                previous.abort();
            }
        }
    }

    /// Stop every IdP's background work (the daemon stops).
    pub fn stop(&self) {
        let mut tasks = self
            .idp_tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for (_, task) in tasks.drain() {
            task.abort();
        }
    }

    /// Read, validate and apply the configuration file the daemon started with. Logs the
    /// outcome; the report says it to `stsbridge reload`.
    pub async fn reload(&self) -> ReloadReport {
        let _one_at_a_time = self.serial.lock().await;
        let started = Stopwatch::start();
        for action in self
            .always
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            action();
        }
        let mut report = self.reload_serialised().await;
        report.millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.state.metrics().record_reload(report.applied);
        self.audit(&report).await;
        if report.applied {
            for warning in &report.warnings {
                tracing::warn!("reload: configuration: {warning}");
            }
            for setting in &report.restart_needed {
                tracing::warn!("reload: {setting} changed; it takes effect after a restart");
            }
            tracing::info!(
                millis = report.millis,
                changes = %report.changes.join("; "),
                "configuration reloaded"
            );
        } else {
            for problem in &report.problems {
                tracing::error!("reload refused: {problem}");
            }
            tracing::error!(
                problems = report.problems.len(),
                "configuration reload refused; the configuration in force is unchanged"
            );
        }
        report
    }

    /// Record the reload in the audit trail: who changed what, or what was refused.
    async fn audit(&self, report: &ReloadReport) {
        let draft = AuditDraft::operator(
            EventName::ReloadConfiguration,
            serde_json::json!({ "file": self.config_path.display().to_string() }),
            self.clock.now(),
        );
        let event = if report.applied {
            draft.succeeded(serde_json::json!({
                "changes": report.changes.iter().take(MAX_LISTED).collect::<Vec<_>>(),
                "restartNeeded": report.restart_needed,
                "millis": report.millis,
            }))
        } else {
            draft.failed(
                "InvalidConfiguration",
                format!(
                    "{} problem(s): {}",
                    report.problems.len(),
                    report.problems.join("; ")
                ),
            )
        };
        if let Err(e) = self.state.store().audit.append(&event).await {
            tracing::error!(error = %e, "recording the reload in the audit trail failed");
        }
    }

    async fn reload_serialised(&self) -> ReloadReport {
        let path = self.config_path.clone();
        // Reading may fetch SAML metadata (blocking, bounded by the fetch timeout).
        let loaded = match tokio::task::spawn_blocking(move || config::load(&path)).await {
            Ok(loaded) => loaded,
            Err(e) => return refused(vec![format!("reading the configuration failed: {e}")]),
        };
        let config = match loaded {
            Ok(config) => config,
            Err(errors) => return refused(errors.0.iter().map(ToString::to_string).collect()),
        };
        let mut federation_config = config.federation;
        let store = self.state.store();
        let role_ids = match startup::plan_role_ids(store, &mut federation_config.roles).await {
            Ok(ids) => ids,
            Err(e) => return refused(vec![e.to_string()]),
        };
        let previous = self.state.federation();
        let built = match Federation::rebuild(
            &federation_config,
            &self.extra_idps,
            Some(&previous),
            &self.clock,
            &store.replay,
            self.state.metrics(),
        ) {
            Ok(built) => built,
            Err(e) => return refused(vec![e.to_string()]),
        };
        let mut problems = Vec::new();
        for hook in &self.hooks {
            if let Err(e) = (hook.run)(&config.settings) {
                problems.push(format!("{}: {e}", hook.name));
            }
        }
        if !problems.is_empty() {
            return refused(problems);
        }
        if let Some(ids) = role_ids
            && let Err(e) = store.role_ids.replace(&ids).await
        {
            return refused(vec![format!("recording the role ids: {e}")]);
        }

        let changes = changes(&previous, &built.federation, &built.kept);
        let kept: BTreeSet<String> = built.kept.into_iter().collect();
        self.state.replace_federation(built.federation);
        {
            let mut tasks = self
                .idp_tasks
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            tasks.retain(|name, task| {
                let keep = kept.contains(name);
                if !keep {
                    task.abort();
                }
                keep
            });
        }
        self.spawn_idp_work(built.maintenance);
        ReloadReport {
            applied: true,
            problems: Vec::new(),
            warnings: config.warnings.iter().map(ToString::to_string).collect(),
            changes,
            restart_needed: restart_needed(&self.started_with, &config.settings),
            millis: 0,
        }
    }
}

fn refused(problems: Vec<String>) -> ReloadReport {
    ReloadReport {
        problems,
        ..ReloadReport::default()
    }
}

/// What differs between the federation in force and the new one, for the log and the caller.
fn changes(before: &Federation, after: &Federation, kept: &[String]) -> Vec<String> {
    let mut changes = Vec::new();
    let roles =
        |f: &Federation| -> BTreeSet<String> { f.roles.iter().map(|r| r.arn.clone()).collect() };
    let (old_roles, new_roles) = (roles(before), roles(after));
    for arn in new_roles.difference(&old_roles) {
        changes.push(format!("role {arn} added"));
    }
    for arn in old_roles.difference(&new_roles) {
        changes.push(format!("role {arn} removed (its sessions are refused)"));
    }
    let idps = |f: &Federation| -> BTreeSet<String> {
        f.idps.all().map(|v| v.name().to_owned()).collect()
    };
    let (old_idps, new_idps) = (idps(before), idps(after));
    for name in &new_idps {
        if !old_idps.contains(name) {
            changes.push(format!("identity provider {name} added"));
        } else if !kept.contains(name) {
            changes.push(format!("identity provider {name} changed"));
        }
    }
    for name in old_idps.difference(&new_idps) {
        changes.push(format!("identity provider {name} removed"));
    }
    let named =
        |f: &Federation| -> BTreeSet<String> { f.managed_policies.keys().cloned().collect() };
    let (old_policies, new_policies) = (named(before), named(after));
    for arn in new_policies.difference(&old_policies) {
        changes.push(format!("managed policy {arn} added"));
    }
    for arn in old_policies.difference(&new_policies) {
        changes.push(format!("managed policy {arn} removed"));
    }
    let services = |f: &Federation| -> BTreeSet<String> {
        f.authorization_services
            .iter()
            .map(|s| s.name.clone())
            .collect()
    };
    let (old_services, new_services) = (services(before), services(after));
    for name in new_services.difference(&old_services) {
        changes.push(format!("authorization service {name} added"));
    }
    for name in old_services.difference(&new_services) {
        changes.push(format!("authorization service {name} removed"));
    }
    if before.accounts != after.accounts {
        changes.push("account names changed".to_owned());
    }
    if before.signin != after.signin {
        changes.push("IdPs offered on the sign-in page changed".to_owned());
    }
    if changes.is_empty() {
        changes.push(format!(
            "no change of roles, identity providers, managed policies or services ({} roles, {} identity providers)",
            after.roles.len(),
            after.idps.len()
        ));
    }
    changes
}

/// The settings that differ from the ones the daemon started with and are read only at start.
/// Every field is named here, so a new setting must be sorted into reloaded or restart-only.
fn restart_needed(running: &Settings, file: &Settings) -> Vec<String> {
    let Settings {
        source: _,
        listen,
        server,
        storage,
        purge_interval,
        audit_retention,
        keyring_path,
        kek_file,
        admin_socket,
        default_account_id,
        metrics,
        log_format,
        audit_export_file,
        public_url,
        signin,
    } = file;
    let mut needed = Vec::new();
    let mut check = |changed: bool, name: &str| {
        if changed {
            needed.push(name.to_owned());
        }
    };
    check(*listen != running.listen, "server.listen");
    let crate::config::ServerSettings {
        max_connections,
        header_timeout,
        idle_timeout,
        body_timeout,
        request_timeout,
        tls,
        trusted_proxies,
    } = server;
    let before = &running.server;
    check(
        *max_connections != before.max_connections
            || *header_timeout != before.header_timeout
            || *idle_timeout != before.idle_timeout
            || *body_timeout != before.body_timeout
            || *request_timeout != before.request_timeout,
        "[server] limits and timeouts",
    );
    // The files named are re-read by every reload; naming others (or turning TLS on or off)
    // needs a restart.
    check(
        *tls != before.tls,
        "server.tls_cert_file / tls_key_file (which files)",
    );
    check(
        *trusted_proxies != before.trusted_proxies,
        "server.trusted_proxies",
    );
    check(*storage != running.storage, "[storage]");
    check(
        *purge_interval != running.purge_interval,
        "storage.purge_interval_seconds",
    );
    check(
        *audit_retention != running.audit_retention,
        "audit.retention_days",
    );
    check(*keyring_path != running.keyring_path, "keys.path");
    check(*kek_file != running.kek_file, "keys.kek_file");
    check(*metrics != running.metrics, "[metrics]");
    check(*log_format != running.log_format, "log.format");
    // The file named is reopened by every reload (log rotation); naming another needs a restart.
    check(
        *audit_export_file != running.audit_export_file,
        "audit.export_file (which file)",
    );
    check(*admin_socket != running.admin_socket, "admin.socket");
    // The portal's routes, cookies and templates are set up once, at start.
    check(*public_url != running.public_url, "server.public_url");
    check(
        *signin != running.signin,
        "[signin] (title, logo_url, templates_dir, session_hours, sp_key_file, sp_cert_file, logins_per_minute)",
    );
    check(
        *default_account_id != running.default_account_id,
        "default_account_id (for users created without --account)",
    );
    needed
}
