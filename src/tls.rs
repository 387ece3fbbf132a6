//! TLS for the client-facing listener: the certificate chain and private key files
//! (`[server] tls_cert_file`, `tls_key_file`) read, checked and turned into a rustls
//! [`ServerConfig`] on the aws-lc-rs provider (TLS 1.2 and 1.3 only, ALPN `http/1.1`).
//!
//! [`ReloadableTls`] holds the configuration new connections are accepted with; a reload
//! re-reads the files and swaps it in only when they are good, so a broken replacement
//! leaves the daemon serving the previous certificate. Open connections keep the
//! configuration they were accepted with.
//!
//! The checks, in order: each file is readable; the chain file holds at least one PEM
//! certificate and every one of them parses as X.509 (RFC 5280); the key file holds a PEM
//! private key (PKCS#8, PKCS#1 or SEC1) the provider can sign with; the key's public half is
//! the leaf certificate's (`SubjectPublicKeyInfo` compared by rustls). An expired leaf is not
//! refused (the files are what the operator has; clients decide), but reported.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::clock::Clock;

/// The files of the listener's certificate: a PEM chain (leaf first) and its PEM private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// Which of the two files a problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFile {
    Certificate,
    Key,
}

impl TlsFile {
    /// The configuration field naming the file.
    pub fn field(self) -> &'static str {
        match self {
            Self::Certificate => "server.tls_cert_file",
            Self::Key => "server.tls_key_file",
        }
    }
}

/// Why the certificate and key files cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        file: TlsFile,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {reason}", path.display())]
    Certificate { path: PathBuf, reason: String },
    #[error("{}: {reason}", path.display())]
    Key { path: PathBuf, reason: String },
    #[error("the private key in {} does not belong to the certificate in {}", key.display(), cert.display())]
    KeyMismatch { cert: PathBuf, key: PathBuf },
}

impl TlsError {
    /// The file the problem is about (a mismatch: the key's).
    pub fn file(&self) -> TlsFile {
        match self {
            Self::Read { file, .. } => *file,
            Self::Certificate { .. } => TlsFile::Certificate,
            Self::Key { .. } | Self::KeyMismatch { .. } => TlsFile::Key,
        }
    }
}

/// A checked certificate and key, ready to serve.
pub struct LoadedTls {
    pub config: Arc<ServerConfig>,
    /// The leaf certificate's `notAfter`.
    pub not_after: SystemTime,
}

/// Read and check `files` (see the module documentation for the checks).
pub fn load(files: &TlsFiles) -> Result<LoadedTls, TlsError> {
    let chain_pem = read(TlsFile::Certificate, &files.cert_file)?;
    let key_pem = read(TlsFile::Key, &files.key_file)?;
    let cert_error = |reason: String| TlsError::Certificate {
        path: files.cert_file.clone(),
        reason,
    };
    let chain = CertificateDer::pem_slice_iter(&chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_error(format!("not a PEM certificate chain: {e}")))?;
    let mut not_after = None;
    for (i, der) in chain.iter().enumerate() {
        let end = x509_parser::parse_x509_certificate(der)
            .map_err(|e| cert_error(format!("certificate {} does not parse: {e}", i + 1)))?
            .1
            .validity()
            .not_after
            .timestamp();
        not_after = not_after.or(Some(end));
    }
    let Some(not_after) = not_after else {
        return Err(cert_error(
            "no PEM certificate (-----BEGIN CERTIFICATE-----) in it".into(),
        ));
    };
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::Key {
        path: files.key_file.clone(),
        reason: format!("no PEM private key (PKCS#8, PKCS#1 or SEC1) in it: {e}"),
    })?;
    let config = server_config(chain, key).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => TlsError::KeyMismatch {
            cert: files.cert_file.clone(),
            key: files.key_file.clone(),
        },
        other => TlsError::Key {
            path: files.key_file.clone(),
            reason: format!("not usable with the certificate: {other}"),
        },
    })?;
    Ok(LoadedTls {
        config: Arc::new(config),
        not_after: unix_time(not_after),
    })
}

/// The leaf certificate's `notAfter` has passed at `now`: a sentence saying so, or `None`.
pub fn expiry_problem(files: &TlsFiles, not_after: SystemTime, now: SystemTime) -> Option<String> {
    (not_after <= now).then(|| {
        format!(
            "the certificate in {} expired at {} (clients will refuse it)",
            files.cert_file.display(),
            crate::clock::iso8601(not_after)
        )
    })
}

fn read(file: TlsFile, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        file,
        path: path.to_owned(),
        source,
    })
}

/// A Unix timestamp as a time (one before 1970 is taken as 1970: it has long expired).
fn unix_time(seconds: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).unwrap_or(0))
}

/// TLS 1.2 and 1.3 on aws-lc-rs, no client certificates, HTTP/1.1 by ALPN.
fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<ServerConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The TLS configuration new connections are accepted with, re-read from its files on
/// [`reload`](Self::reload).
pub struct ReloadableTls {
    files: TlsFiles,
    current: ArcSwap<ServerConfig>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for ReloadableTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadableTls")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl ReloadableTls {
    /// Load `files`; an expired certificate is logged at `warn` (by `clock`), not refused.
    pub fn open(files: TlsFiles, clock: Arc<dyn Clock>) -> Result<Self, TlsError> {
        let loaded = load(&files)?;
        let this = Self {
            current: ArcSwap::new(Arc::clone(&loaded.config)),
            files,
            clock,
        };
        this.report(&loaded);
        Ok(this)
    }

    /// Re-read the files and, when they pass every check, serve new connections with them.
    /// On an error nothing changes: the previous certificate stays in use (the caller reports
    /// the error). Open connections are never touched.
    pub fn reload(&self) -> Result<(), TlsError> {
        let loaded = load(&self.files)?;
        self.current.store(Arc::clone(&loaded.config));
        self.report(&loaded);
        Ok(())
    }

    /// The configuration to accept the next connection with.
    pub fn current(&self) -> Arc<ServerConfig> {
        self.current.load_full()
    }

    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    fn report(&self, loaded: &LoadedTls) {
        let not_after = crate::clock::iso8601(loaded.not_after);
        match expiry_problem(&self.files, loaded.not_after, self.clock.now()) {
            Some(problem) => tracing::warn!("TLS: {problem}"),
            None => tracing::info!(
                cert_file = %self.files.cert_file.display(),
                not_after,
                "TLS certificate loaded"
            ),
        }
    }
}
