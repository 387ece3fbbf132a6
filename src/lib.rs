//! stsbridge: a federation identity bridge speaking the AWS STS Query API.
//!
//! [`run`] wires the parts together; it holds no logic of its own. The layers, each depending
//! only on the ones before it (see the README's architecture section):
//! - plain data and rules: `clock`, `arn`, `action`, `text`, `origin`, `identity`, `json`,
//!   `metrics`, `policy`, `creds`, `users`, `error`, `audit`, `tls` (the listener's certificate);
//! - seams: `store` (records, by concept), `idp` (identity providers, by kind), `config`
//!   (settings and the federation), `keyring_home` (the keyring's file, or the store under
//!   the KEK);
//! - the domain: `principal` (who is calling, what they may do), `federation` (trust, grant,
//!   issue, audit);
//! - the adapters: `sts` (the STS Query API), `authz` (the authorization API), `admin` (the
//!   operator socket), `follow` (its audit stream) and `web` (the sign-in portal), over the
//!   shared `state`; `server` routes HTTP to them.
#![forbid(unsafe_code)]
// Tests may (clippy.toml: allow-*-in-tests); nothing else unwraps, expects or panics.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod action;
pub mod admin;
pub mod arn;
pub mod audit;
pub mod authz;
pub mod clock;
pub mod config;
pub mod creds;
pub mod dev;
pub mod error;
pub mod federation;
pub mod follow;
pub mod identity;
pub mod idp;
pub mod json;
pub mod keyring_home;
pub mod metrics;
pub mod origin;
pub mod policy;
pub mod principal;
pub mod reload;
pub mod server;
pub mod sso;
pub mod startup;
pub mod state;
pub mod store;
pub mod sts;
pub mod text;
pub mod tls;
pub mod users;
pub mod web;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use crate::clock::Clock;
use crate::config::{Config, Federation};
use crate::creds::SharedKeyring;
use crate::idp::saml::sp_key::SpKey;
use crate::state::State;

/// Options of `stsbridge serve`.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Serve the built-in development issuer (loopback only).
    pub dev: bool,
    /// Reload the configuration on `SIGHUP` (the process's own daemon; tests reload through
    /// the admin socket).
    pub reload_on_hangup: bool,
    /// The listener's TLS certificate, when the caller keeps a handle on it (to reload it);
    /// `None`: `run` loads it from `[server] tls_cert_file`/`tls_key_file` if they are set.
    pub tls: Option<Arc<tls::ReloadableTls>>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
    #[error("{0}")]
    Idp(#[from] idp::BuildError),
    #[error(transparent)]
    Dev(#[from] dev::DevError),
    #[error(transparent)]
    Admin(#[from] admin::AdminError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Startup(#[from] startup::StartupError),
    #[error("TLS: {0}")]
    Tls(#[from] tls::TlsError),
    #[error("[signin] templates_dir: {0}")]
    Templates(#[from] web::TemplateError),
    #[error("the SAML service provider's key: {0}")]
    SpKey(#[from] idp::saml::sp_key::SpKeyError),
    #[error("[audit] export_file {}: {source}", path.display())]
    AuditExport {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// Run the daemon on `listener` until `shutdown` resolves.
pub async fn run(
    config: Config,
    listener: tokio::net::TcpListener,
    options: RunOptions,
    clock: Arc<dyn Clock>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    for warning in &config.warnings {
        tracing::warn!("configuration: {warning}");
    }
    for note in &config.notes {
        tracing::info!("configuration: {note}");
    }
    let settings = &config.settings;
    let local: SocketAddr = listener.local_addr()?;
    // Bound before anything starts, so a taken port stops the daemon with nothing left behind.
    let metrics_listener = match settings.metrics.listen {
        Some(addr) => Some(tokio::net::TcpListener::bind(addr).await?),
        None => None,
    };
    // Every file the daemon creates (store, keyring, sockets) is its owner's alone.
    rustix::process::umask(rustix::fs::Mode::from_bits_truncate(0o077));
    for file in [
        &settings.keyring_path,
        &settings.storage.path,
        &settings.admin_socket,
    ]
    .into_iter()
    .chain(&settings.audit_export_file)
    {
        if let Some(dir) = file.parent() {
            create_private_dir(dir)?;
        }
    }
    // The sign-in portal, when there is a public URL: an operator's template that does not
    // compile, or an SP key that does not load, stops the daemon here.
    let portal = match &settings.public_url {
        Some(url) => {
            let sp_key = match &settings.signin.sp_key {
                Some(files) => SpKey::load(&files.key_file, &files.cert_file)?,
                None => SpKey::load_or_generate(
                    settings.keyring_path.parent().unwrap_or(Path::new(".")),
                    url.host(),
                    clock.now(),
                )?,
            };
            Some(web::Portal::new(url.clone(), &settings.signin, sp_key)?)
        }
        None => None,
    };
    let tls = match (options.tls, &settings.server.tls) {
        (Some(tls), _) => Some(tls),
        (None, Some(files)) => Some(Arc::new(tls::ReloadableTls::open(
            files.clone(),
            clock.clone(),
        )?)),
        (None, None) => None,
    };
    let transport_warning =
        server::transport_warning(local, tls.is_some(), &settings.server.trusted_proxies);
    if let Some(warning) = &transport_warning {
        tracing::warn!("{warning}");
    }
    let metrics = Arc::new(metrics::Metrics::new());
    let store = store::connect_at(&settings.storage, metrics.commit(), clock.clone()).await?;
    // A reload (SIGHUP, `stsbridge reload`) reopens it, for log rotation.
    let audit_export = settings
        .audit_export_file
        .as_deref()
        .map(|path| {
            audit::export::AuditExport::start(
                path,
                store.audit.follow(),
                metrics.audit_export_lost(),
            )
            .map_err(|source| RunError::AuditExport {
                path: path.to_owned(),
                source,
            })
        })
        .transpose()?;
    let keyring_home =
        keyring_home::KeyringHome::of(&settings.keyring_path, settings.kek_file.as_deref(), &store)
            .await
            .map_err(startup::StartupError::from)?;
    let keyring = startup::open_keyring_at(&keyring_home, &store, clock.now()).await?;

    let dev = if options.dev {
        let dev = dev::DevIssuer::open(settings, local)?;
        tracing::warn!(issuer = dev.issuer(), "development issuer enabled (--dev)");
        Some(dev)
    } else {
        None
    };
    let extra_idps: Vec<_> = dev.iter().map(dev::DevIssuer::idp_settings).collect();
    let started_with = settings.clone();
    let mut federation = config.federation.clone();
    startup::assign_role_ids(&store, &mut federation.roles).await?;
    let built = Federation::build(&federation, &extra_idps, &clock, &store.replay, &metrics)?;

    startup::reseal_user_secrets(&store, &keyring, clock.now()).await?;
    let keyring = SharedKeyring::new(keyring);
    let state = Arc::new(State::with_metrics(
        built.federation,
        store.clone(),
        keyring.clone(),
        clock.clone(),
        Arc::clone(&metrics),
    ));

    let mut hooks = Vec::new();
    if let Some(tls) = &tls {
        let tls = Arc::clone(tls);
        hooks.push(reload::Hook {
            name: "TLS certificate and key",
            run: Box::new(move |_| tls.reload().map_err(|e| e.to_string())),
        });
    }
    let reloader = Arc::new(reload::Reloader::new(
        started_with,
        Arc::clone(&state),
        extra_idps,
        clock.clone(),
        hooks,
    ));
    if let Some(export) = audit_export {
        // Log rotation: every reload reopens the file, whatever the configuration's fate.
        reloader.on_every_reload(Box::new(move || export.reopen()));
    }
    reloader.spawn_idp_work(built.maintenance);
    // Listening starts here, before systemd hears "ready": a SIGHUP from then on reloads, never
    // terminates the process.
    let hangup_task = if options.reload_on_hangup {
        let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        Some(tokio::spawn(reload_on_hangup(
            hangup,
            Arc::clone(&reloader),
        )))
    } else {
        None
    };

    let admin_listener = admin::bind(&settings.admin_socket)?;
    let roles_of = Arc::clone(&state);
    let admin = admin::Admin::new(
        store.clone(),
        keyring.clone(),
        clock.clone(),
        &settings.default_account_id,
        Arc::new(move |arn| roles_of.federation().roles.get(arn).is_some()),
    )
    .with_reload(Arc::clone(&reloader))
    .with_keyring_home(keyring_home.clone());
    let admin_task = tokio::spawn(admin::serve(admin_listener, admin));
    let purge_task = tokio::spawn(store::purge_every(
        store.clone(),
        clock.clone(),
        settings.purge_interval,
        settings.audit_retention,
    ));
    let keyring_task = tokio::spawn(keyring_home::follow(keyring_home, keyring.clone()));
    let sealing_key_task = tokio::spawn(startup::record_sealing_key_every(
        store,
        keyring,
        clock,
        settings.purge_interval,
    ));

    let federation = state.federation();
    tracing::info!(
        listen = %local,
        tls = tls.is_some(),
        idps = federation.idps.len(),
        roles = federation.roles.len(),
        "stsbridge serving"
    );
    // Tell systemd (Type=notify) we are ready; a no-op elsewhere.
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);

    let app = Arc::new(
        server::App::new(state, dev, &settings.server, &settings.metrics)
            .with_warnings(transport_warning.into_iter().collect())
            .with_portal(portal.map(Arc::new)),
    );
    let (stop_metrics, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
    let metrics_task = metrics_listener.map(|listener| {
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(listen = %addr, "serving /metrics on its own listener");
        }
        let router = server::metrics::router(Arc::clone(&app));
        let limits = settings.server.clone();
        tokio::spawn(async move {
            let stopped = async {
                let _ = metrics_stopped.await;
            };
            server::serve(listener, router, &limits, None, Default::default(), stopped).await
        })
    });
    let router = server::router(app);
    let served = server::serve(
        listener,
        router,
        &settings.server,
        tls,
        metrics.open_connections(),
        shutdown,
    )
    .await;
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    let _ = stop_metrics.send(());
    if let Some(task) = metrics_task {
        let _ = task.await;
    }
    admin_task.abort();
    purge_task.abort();
    sealing_key_task.abort();
    keyring_task.abort();
    hangup_task.iter().for_each(tokio::task::JoinHandle::abort);
    reloader.stop();
    let _ = std::fs::remove_file(&settings.admin_socket);
    served?;
    Ok(())
}

/// Reload the configuration on every `SIGHUP` (`systemctl reload`).
async fn reload_on_hangup(
    mut hangup: tokio::signal::unix::Signal,
    reloader: Arc<reload::Reloader>,
) {
    while hangup.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading the configuration");
        reloader.reload().await;
    }
}

/// Create `dir` (and its parents) if missing; a directory this creates is owner-only (0700).
fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}
