//! stsbridge: a federation identity bridge speaking the AWS STS Query API.
//!
//! [`run`] wires the parts together; it holds no logic of its own. The layers, each depending
//! only on the ones before it (see the README's architecture section):
//! - plain data and rules: `clock`, `arn`, `action`, `text`, `origin`, `identity`, `json`,
//!   `policy`, `creds`, `users`, `error`, `audit`;
//! - seams: `store` (records, by concept), `idp` (identity providers, by kind), `config`
//!   (settings and the federation);
//! - the domain: `principal` (who is calling, what they may do), `federation` (trust, grant,
//!   issue, audit);
//! - the adapters: `sts` (the STS Query API), `authz` (the authorization API), `admin` (the
//!   operator socket) and `follow` (its audit stream), over the shared `state`; `server` routes
//!   HTTP to them.
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
pub mod origin;
pub mod policy;
pub mod principal;
pub mod server;
pub mod startup;
pub mod state;
pub mod store;
pub mod sts;
pub mod text;
pub mod users;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::clock::Clock;
use crate::config::{Config, Federation};
use crate::creds::SharedKeyring;
use crate::state::State;

/// Options of `stsbridge serve`.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Serve the built-in development issuer (loopback only).
    pub dev: bool,
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
    let store = store::open(&settings.storage)?;
    // Live reload (SIGHUP, `stsbridge reload`) calls `reopen()` on this for log rotation.
    let _audit_export = settings
        .audit_export_file
        .as_deref()
        .map(|path| {
            audit::export::AuditExport::start(path, store.audit.follow()).map_err(|source| {
                RunError::AuditExport {
                    path: path.to_owned(),
                    source,
                }
            })
        })
        .transpose()?;
    let keyring = startup::open_keyring(&settings.keyring_path, &store, clock.now()).await?;

    let dev = if options.dev {
        let dev = dev::DevIssuer::open(settings, local)?;
        tracing::warn!(issuer = dev.issuer(), "development issuer enabled (--dev)");
        Some(dev)
    } else {
        None
    };
    let extra_idps: Vec<_> = dev.iter().map(dev::DevIssuer::idp_settings).collect();
    let mut federation = config.federation.clone();
    startup::assign_role_ids(&store, &mut federation.roles).await?;
    let built = Federation::build(&federation, &extra_idps, &clock, &store.replay)?;

    startup::reseal_user_secrets(&store, &keyring, clock.now()).await?;
    let keyring = SharedKeyring::new(keyring);
    let state = Arc::new(State::new(
        built.federation,
        store.clone(),
        keyring.clone(),
        clock.clone(),
    ));

    let admin_listener = admin::bind(&settings.admin_socket)?;
    let roles_of = Arc::clone(&state);
    let admin = admin::Admin::new(
        store.clone(),
        keyring.clone(),
        clock.clone(),
        &settings.default_account_id,
        Arc::new(move |arn| roles_of.federation().roles.get(arn).is_some()),
    );
    let admin_task = tokio::spawn(admin::serve(admin_listener, admin));
    let purge_task = tokio::spawn(store::purge_every(
        store.clone(),
        clock.clone(),
        settings.purge_interval,
        settings.audit_retention,
    ));
    let sealing_key_task = tokio::spawn(startup::record_sealing_key_every(
        store,
        keyring,
        clock,
        settings.purge_interval,
    ));
    let idp_tasks: Vec<_> = built.maintenance.into_iter().map(tokio::spawn).collect();

    let federation = state.federation();
    tracing::info!(
        listen = %local,
        idps = federation.idps.len(),
        roles = federation.roles.len(),
        "stsbridge serving"
    );
    // Tell systemd (Type=notify) we are ready; a no-op elsewhere.
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);

    let router = server::router(Arc::new(server::App::new(state, dev, &settings.server)));
    let served = server::serve(listener, router, &settings.server, shutdown).await;
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    admin_task.abort();
    purge_task.abort();
    sealing_key_task.abort();
    idp_tasks.iter().for_each(tokio::task::JoinHandle::abort);
    let _ = std::fs::remove_file(&settings.admin_socket);
    served?;
    Ok(())
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
