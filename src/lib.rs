//! stsbridge: a federation identity bridge speaking the AWS STS Query API.
//!
//! [`run`] wires the parts together; it holds no logic of its own.
#![forbid(unsafe_code)]

pub mod admin;
pub mod authz;
pub mod clock;
pub mod config;
pub mod creds;
pub mod dev;
pub mod identity;
pub mod idp;
pub mod loadgen;
pub mod policy;
pub mod server;
pub mod store;
pub mod sts;
pub mod users;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::clock::Clock;
use crate::config::{Config, IdpConfig};
use crate::creds::{Keyring, Minter, SharedKeyring};
use crate::idp::IdpRegistry;
use crate::store::{SessionStore, SledStore};

/// Options of `stsbridge serve`.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Serve the built-in development issuer (loopback only).
    pub dev: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("keyring: {0}")]
    Keyring(#[from] creds::KeyringError),
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
    #[error("identity provider {name}: {reason}")]
    Idp { name: String, reason: String },
    #[error(transparent)]
    Dev(#[from] dev::DevError),
    #[error(transparent)]
    Admin(#[from] admin::AdminError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("users: {0}")]
    Users(String),
}

/// Run the daemon on `listener` until `shutdown` resolves.
pub async fn run(
    config: Config,
    listener: tokio::net::TcpListener,
    options: RunOptions,
    clock: Arc<dyn Clock>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let local: SocketAddr = listener.local_addr()?;
    for file in [
        &config.keyring_path,
        &config.storage_path,
        &config.admin_socket,
    ] {
        if let Some(dir) = file.parent() {
            create_private_dir(dir)?;
        }
    }
    let keyring = Keyring::load_or_create(&config.keyring_path, clock.now())?;
    let store: Arc<dyn SessionStore> = Arc::new(SledStore::open(
        &config.storage_path,
        config.cache_capacity_bytes,
    )?);

    let dev = if options.dev {
        Some(dev::DevIssuer::open(&config, local)?)
    } else {
        None
    };
    let mut idp_configs = config.idps.clone();
    if let Some(dev) = &dev {
        idp_configs.push(IdpConfig::Oidc(dev.idp_config()));
        tracing::warn!(issuer = dev.issuer(), "development issuer enabled (--dev)");
    }
    let mut verifiers = Vec::with_capacity(idp_configs.len());
    let mut idp_maintenance = Vec::new();
    for idp in &idp_configs {
        let built = idp::build(idp, clock.clone()).map_err(|e| RunError::Idp {
            name: idp.name().to_owned(),
            reason: e.to_string(),
        })?;
        verifiers.push(built.verifier);
        idp_maintenance.extend(built.maintenance);
    }

    reseal_user_secrets(store.as_ref(), &keyring, clock.now()).await?;
    let keyring = SharedKeyring::new(keyring);
    let revocations = Arc::new(sts::revocation::RevocationList::new(store.revocations()?));
    let state = Arc::new(server::AppState {
        sts: sts::StsState {
            roles: config.roles.clone(),
            managed_policies: config.managed_policies.clone(),
            idps: IdpRegistry::new(verifiers),
            minter: Arc::new(Minter::new(keyring.clone())),
            store: store.clone(),
            clock: clock.clone(),
            keyring: keyring.clone(),
            sigv4: creds::sigv4::Verifier::default(),
            revocations: revocations.clone(),
        },
        dev,
        authorization_services: config.authorization_services.clone(),
    });

    let admin_listener = admin::bind(&config.admin_socket)?;
    let admin_task = tokio::spawn(admin::serve(
        admin_listener,
        admin::Admin {
            store: store.clone(),
            revocations: Some(revocations),
            clock: clock.clone(),
            keyring,
            default_account_id: config.default_account_id.clone(),
            users_lock: Arc::default(),
        },
    ));
    let purge_task = tokio::spawn(purge_expired(store.clone(), clock, config.purge_interval));
    let idp_tasks: Vec<_> = idp_maintenance.into_iter().map(tokio::spawn).collect();

    tracing::info!(
        listen = %local,
        idps = state.sts.idps.len(),
        roles = state.sts.roles.len(),
        "stsbridge serving"
    );
    // Tell systemd (Type=notify) we are ready; a no-op elsewhere.
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);

    let app = server::router(state).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    admin_task.abort();
    purge_task.abort();
    idp_tasks.iter().for_each(tokio::task::JoinHandle::abort);
    let _ = std::fs::remove_file(&config.admin_socket);
    served?;
    Ok(())
}

/// Move every user secret sealed by a retired key to the current one, so pruning retired keys
/// (after their session tokens expired) never strands a long-term key or an MFA seed.
async fn reseal_user_secrets(
    store: &dyn SessionStore,
    keyring: &Keyring,
    now: std::time::SystemTime,
) -> Result<(), RunError> {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    for mut user in store.list_users()? {
        let changed = user
            .reseal(keyring, &rng)
            .map_err(|e| RunError::Users(e.to_string()))?;
        if changed {
            let event = admin::operator_event(
                "ResealUserSecrets",
                serde_json::json!({ "userName": user.name, "keyId": keyring.current_key_id() }),
                now,
            );
            store.put_user(&user, false, &event).await?;
            tracing::info!(user = %user.name, "user secrets re-sealed with the current key");
        }
    }
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

/// Delete expired sessions every `interval`.
async fn purge_expired(
    store: Arc<dyn SessionStore>,
    clock: Arc<dyn Clock>,
    interval: std::time::Duration,
) {
    let mut ticker = tokio::time::interval(interval);
    loop {
        ticker.tick().await;
        match store.purge_expired(clock::unix_seconds(clock.now())) {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "expired sessions purged"),
            Err(e) => tracing::warn!(error = %e, "purging expired sessions failed"),
        }
    }
}
