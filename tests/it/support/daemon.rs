//! The daemon, in-process, on `127.0.0.1:0` with a temporary directory for its config, sled
//! database and keyring.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use stsbridge::admin::{self, AdminRequest, AdminResponse};
use stsbridge::audit::AuditEvent;
use stsbridge::clock::{Clock, SystemClock};
use stsbridge::store::SessionRecord;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const ACCOUNT: &str = "123456789012";

/// What the daemon under test is configured with. In file texts, `{LISTEN}` is replaced by the
/// daemon's `127.0.0.1:PORT` (for roles that trust its development issuer).
pub struct Setup {
    /// `idp-configs/NAME.toml` files.
    pub idps: Vec<(String, String)>,
    /// `roles/NAME.json` files.
    pub roles: Vec<(String, String)>,
    /// `policies/NAME.json` files.
    pub policies: Vec<(String, String)>,
    pub dev: bool,
    pub clock: Arc<dyn Clock>,
    pub purge_interval_seconds: u64,
    /// `[[authorization.services]]`: name and bearer secret (the config gets its SHA-256).
    pub services: Vec<(String, String)>,
    /// `[storage] path` (default `data/sled` in the daemon's directory) and `min_free_mb`.
    pub storage_path: Option<PathBuf>,
    pub min_free_mb: u64,
    /// More lines of the `[storage]` table (`kind = "postgres"`, `url`, ...).
    pub storage: String,
    /// `[keys] path` (default `data/keyring.json` in the daemon's directory): daemons sharing a
    /// database share their keyring.
    pub keyring_path: Option<PathBuf>,
    /// More lines of the `[keys]` table (`kek_file = ...`).
    pub keys: String,
    /// More lines of the `[server]` table (limits and timeouts, TLS, trusted proxies).
    pub server: String,
    /// Listen on every address (`0.0.0.0`) rather than loopback.
    pub listen_everywhere: bool,
    /// More tables at the end of `stsbridge.toml` (`[metrics]`, ...).
    pub extra: String,
    /// Lines of the `[audit]` table.
    pub audit: String,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            idps: Vec::new(),
            roles: Vec::new(),
            policies: Vec::new(),
            dev: false,
            clock: Arc::new(SystemClock),
            purge_interval_seconds: 300,
            services: Vec::new(),
            storage_path: None,
            min_free_mb: 16,
            storage: String::new(),
            keyring_path: None,
            keys: String::new(),
            server: String::new(),
            listen_everywhere: false,
            extra: String::new(),
            audit: String::new(),
        }
    }
}

pub struct Daemon {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`, or `https://` when the config serves TLS.
    pub url: String,
    /// The listener's certificate when the config serves TLS (to reload it).
    pub tls: Option<Arc<stsbridge::tls::ReloadableTls>>,
    pub dir: TempDir,
    pub config_path: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), stsbridge::RunError>>>,
}

impl Daemon {
    pub async fn start(setup: Setup) -> Daemon {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let bind = if setup.listen_everywhere {
            "0.0.0.0:0"
        } else {
            "127.0.0.1:0"
        };
        let listener = tokio::net::TcpListener::bind(bind).await.expect("bind");
        let listen = listener.local_addr().expect("addr").to_string();
        let fill = |text: &String| text.replace("{LISTEN}", &listen);
        for sub in ["idp-configs", "roles", "policies"] {
            std::fs::create_dir_all(root.join(sub)).expect("mkdir");
        }
        for (name, text) in &setup.idps {
            std::fs::write(
                root.join("idp-configs").join(format!("{name}.toml")),
                fill(text),
            )
            .expect("write idp");
        }
        for (name, text) in &setup.roles {
            std::fs::write(root.join("roles").join(format!("{name}.json")), fill(text))
                .expect("write role");
        }
        for (name, text) in &setup.policies {
            std::fs::write(
                root.join("policies").join(format!("{name}.json")),
                fill(text),
            )
            .expect("write policy");
        }
        let config_path = root.join("stsbridge.toml");
        let storage = setup
            .storage_path
            .as_ref()
            .map_or_else(|| "data/sled".to_owned(), |p| p.display().to_string());
        let keyring = setup.keyring_path.as_ref().map_or_else(
            || "data/keyring.json".to_owned(),
            |p| p.display().to_string(),
        );
        let mut config_text = format!(
            "default_account_id = \"{ACCOUNT}\"\n\
             [server]\nlisten = \"{listen}\"\n{}\n\
             [storage]\npath = \"{storage}\"\ncache_capacity_mb = 16\n\
             purge_interval_seconds = {}\nmin_free_mb = {}\n{}\n\
             [keys]\npath = \"{keyring}\"\n{}\n\
             [admin]\nsocket = \"data/admin.sock\"\n\
             [audit]\n{}\n",
            fill(&setup.server),
            setup.purge_interval_seconds,
            setup.min_free_mb,
            setup.storage,
            setup.keys,
            setup.audit
        );
        for (name, secret) in &setup.services {
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
            config_text.push_str(&format!(
                "[[authorization.services]]\nname = \"{name}\"\nbearer_sha256 = \"{}\"\n",
                data_encoding::HEXLOWER.encode(digest.as_ref())
            ));
        }
        config_text.push_str(&fill(&setup.extra));
        std::fs::write(&config_path, config_text).expect("write config");
        Self::launch(dir, config_path, listener, setup.dev, setup.clock).await
    }

    /// Start a daemon again on the directory (config, store, keyring) of a stopped one.
    pub async fn restart(dir: TempDir) -> Daemon {
        Self::restart_with(dir, Arc::new(SystemClock)).await
    }

    /// [`restart`](Self::restart) on `clock`.
    pub async fn restart_with(dir: TempDir, clock: Arc<dyn Clock>) -> Daemon {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let config_path = dir.path().join("stsbridge.toml");
        Self::launch(dir, config_path, listener, false, clock).await
    }

    async fn launch(
        dir: TempDir,
        config_path: PathBuf,
        listener: tokio::net::TcpListener,
        dev: bool,
        clock: Arc<dyn Clock>,
    ) -> Daemon {
        let listening = listener.local_addr().expect("addr");
        // Connect through loopback to a daemon listening everywhere too.
        let addr = SocketAddr::from(([127, 0, 0, 1], listening.port()));
        let config = stsbridge::config::load(&config_path).expect("valid test config");
        let tls = config.settings.server.tls.clone().map(|files| {
            Arc::new(stsbridge::tls::ReloadableTls::open(files, clock.clone()).expect("TLS files"))
        });
        let scheme = if tls.is_some() { "https" } else { "http" };
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(stsbridge::run(
            config,
            listener,
            stsbridge::RunOptions {
                dev,
                tls: tls.clone(),
                ..Default::default()
            },
            clock,
            async {
                let _ = rx.await;
            },
        ));
        let daemon = Daemon {
            addr,
            url: format!("{scheme}://{addr}"),
            tls,
            dir,
            config_path,
            shutdown: Some(tx),
            task: Some(task),
        };
        daemon.wait_ready().await;
        daemon
    }

    async fn wait_ready(&self) {
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(self.addr).await.is_ok()
                && self.admin_socket().exists()
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("daemon did not start");
    }

    pub fn admin_socket(&self) -> PathBuf {
        self.dir.path().join("data").join("admin.sock")
    }

    pub async fn admin(&self, request: AdminRequest) -> AdminResponse {
        admin::request(&self.admin_socket(), &request)
            .await
            .expect("admin request")
            .expect("daemon listening on the admin socket")
    }

    pub async fn sessions(&self) -> Vec<SessionRecord> {
        match self
            .admin(AdminRequest::SessionsList { limit: 10_000 })
            .await
        {
            AdminResponse::Sessions(s) => s,
            other => panic!("unexpected admin response {other:?}"),
        }
    }

    pub async fn session(&self, id: &str) -> Option<SessionRecord> {
        match self
            .admin(AdminRequest::SessionsShow { id: id.into() })
            .await
        {
            AdminResponse::Session(s) => s.map(|b| *b),
            other => panic!("unexpected admin response {other:?}"),
        }
    }

    pub async fn audit(&self) -> Vec<AuditEvent> {
        match self.admin(AdminRequest::AuditList { limit: 10_000 }).await {
            AdminResponse::Audit(a) => a,
            other => panic!("unexpected admin response {other:?}"),
        }
    }

    /// Stop the daemon and wait until it released the store.
    pub async fn stop(mut self) -> TempDir {
        self.shutdown_now().await;
        self.dir
    }

    async fn shutdown_now(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("daemon task")
                .expect("daemon exited cleanly");
        }
    }
}

/// An STS client of the real AWS SDK pointed at the daemon, with no credentials (the federation
/// actions are unsigned).
pub fn sts_client(url: &str) -> aws_sdk_sts::Client {
    let config = aws_sdk_sts::Config::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .region(aws_sdk_sts::config::Region::new("us-east-1"))
        .endpoint_url(url)
        .build();
    aws_sdk_sts::Client::from_conf(config)
}

/// A client of the real AWS SDK signing with the given credentials.
pub fn signed_client(
    url: &str,
    key: &str,
    secret: &str,
    token: Option<&str>,
) -> aws_sdk_sts::Client {
    let creds =
        aws_credential_types::Credentials::new(key, secret, token.map(str::to_owned), None, "test");
    let config = aws_sdk_sts::Config::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .region(aws_sdk_sts::config::Region::new("eu-west-3"))
        .endpoint_url(url)
        .credentials_provider(creds)
        .build();
    aws_sdk_sts::Client::from_conf(config)
}

/// The AWS error code an SDK call ended with, or `<ok>`.
pub fn code<T, E: aws_sdk_sts::error::ProvideErrorMetadata, R>(
    r: Result<T, aws_sdk_sts::error::SdkError<E, R>>,
) -> String {
    match r {
        Ok(_) => "<ok>".to_owned(),
        Err(e) => aws_sdk_sts::error::ProvideErrorMetadata::code(&e)
            .unwrap_or("<none>")
            .to_owned(),
    }
}
