//! `stsbridge loadgen`: whole-daemon throughput of AssumeRoleWithWebIdentity over N keep-alive
//! connections, with latency percentiles, next to the ceiling reference (one core's rate of RS256
//! verifications alone). Given several daemons (nodes sharing one database), it spreads the
//! connections over them round-robin, as a load balancer would.
//!
//! It sends traffic only to the addresses it is given; use loopback addresses. Over TLS (a daemon
//! with `tls_cert_file`) it trusts only the CA file it is given and checks the certificate
//! against the target's IP address; each connection does one handshake, then keeps alive.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use stsbridge::clock::Stopwatch;
use stsbridge::idp::oidc::signer::TokenSigner;

/// One daemon to drive and the web identity token it accepts.
#[derive(Debug, Clone)]
pub struct Target {
    /// `host:port` of the daemon (loopback).
    pub addr: std::net::SocketAddr,
    pub token: String,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// The daemons: connection `i` goes to `targets[i % targets.len()]`.
    pub targets: Vec<Target>,
    pub connections: usize,
    pub duration: Duration,
    pub role_arn: String,
    /// Speak TLS with this client configuration; `None`: plain HTTP.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

/// What was measured.
#[derive(Debug, Clone)]
pub struct LoadReport {
    pub requests: u64,
    pub errors: u64,
    /// The error code of the first failed response (`<Code>` of the AWS error XML, or the HTTP
    /// status when there is none), so a run that fails says why.
    pub first_error: Option<String>,
    pub elapsed: Duration,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl LoadReport {
    pub fn requests_per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("connect {0}: {1}")]
    Connect(std::net::SocketAddr, std::io::Error),
    #[error("http: {0}")]
    Http(String),
    #[error("signing: {0}")]
    Signing(String),
    #[error("TLS: {0}")]
    Tls(String),
}

/// A TLS client (rustls on aws-lc-rs, TLS 1.2 and 1.3, ALPN http/1.1) trusting only the PEM
/// certificates in `ca_file`.
pub fn tls_client_config(ca_file: &Path) -> Result<Arc<rustls::ClientConfig>, LoadError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;
    let pem = std::fs::read(ca_file)
        .map_err(|e| LoadError::Tls(format!("{}: {e}", ca_file.display())))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| LoadError::Tls(format!("{}: {e}", ca_file.display())))?;
        roots
            .add(cert)
            .map_err(|e| LoadError::Tls(format!("{}: {e}", ca_file.display())))?;
    }
    if roots.is_empty() {
        return Err(LoadError::Tls(format!(
            "{}: no PEM certificate in it",
            ca_file.display()
        )));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::DEFAULT_VERSIONS)
        .map_err(|e| LoadError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Drive the daemon with `spec.connections` concurrent keep-alive connections for
/// `spec.duration`. The client runs on one thread of its own (a current-thread runtime), so it
/// takes as little as it can of the CPU the daemon under test shares with it.
pub fn run(spec: &LoadSpec) -> Result<LoadReport, LoadError> {
    let spec = spec.clone();
    std::thread::Builder::new()
        .name("loadgen".into())
        .spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| LoadError::Http(e.to_string()))?
                .block_on(drive(&spec))
        })
        .map_err(|e| LoadError::Http(e.to_string()))?
        .join()
        .map_err(|_| LoadError::Http("the load thread panicked".into()))?
}

async fn drive(spec: &LoadSpec) -> Result<LoadReport, LoadError> {
    let mut bodies = Vec::with_capacity(spec.targets.len());
    for target in &spec.targets {
        let body = serde_urlencoded::to_string([
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", spec.role_arn.as_str()),
            ("RoleSessionName", "loadgen"),
            ("WebIdentityToken", target.token.as_str()),
        ])
        .map_err(|e| LoadError::Http(e.to_string()))?;
        bodies.push((target.addr, Bytes::from(body)));
    }
    if bodies.is_empty() {
        return Err(LoadError::Http("no daemon to drive".into()));
    }
    let clock = Stopwatch::start();
    let mut workers = Vec::with_capacity(spec.connections);
    for (addr, body) in bodies.iter().cycle().take(spec.connections) {
        workers.push(tokio::spawn(worker(
            *addr,
            spec.tls.clone(),
            body.clone(),
            spec.duration,
            clock,
        )));
    }
    let mut latencies: Vec<u32> = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    for w in workers {
        let (lat, err, first) = w.await.map_err(|e| LoadError::Http(e.to_string()))??;
        latencies.extend(lat);
        errors += err;
        first_error = first_error.or(first);
    }
    let elapsed = clock.elapsed();
    latencies.sort_unstable();
    let pick = |q: f64| -> Duration {
        if latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((latencies.len() as f64 - 1.0) * q).round() as usize;
        Duration::from_micros(u64::from(latencies[i.min(latencies.len() - 1)]))
    };
    Ok(LoadReport {
        requests: latencies.len() as u64,
        errors,
        first_error,
        elapsed,
        p50: pick(0.50),
        p99: pick(0.99),
        max: pick(1.0),
    })
}

type Measured = (Vec<u32>, u64, Option<String>);

async fn worker(
    target: std::net::SocketAddr,
    tls: Option<Arc<rustls::ClientConfig>>,
    body: Bytes,
    duration: Duration,
    clock: Stopwatch,
) -> Result<Measured, LoadError> {
    let stream = tokio::net::TcpStream::connect(target)
        .await
        .map_err(|e| LoadError::Connect(target, e))?;
    let _ = stream.set_nodelay(true);
    let Some(tls) = tls else {
        return exchange(stream, target, body, duration, clock).await;
    };
    let name = rustls_pki_types::ServerName::IpAddress(target.ip().into());
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(name, stream)
        .await
        .map_err(|e| LoadError::Tls(e.to_string()))?;
    exchange(stream, target, body, duration, clock).await
}

/// Send requests one after the other on `io` for `duration`.
async fn exchange<I>(
    io: I,
    target: std::net::SocketAddr,
    body: Bytes,
    duration: Duration,
    clock: Stopwatch,
) -> Result<Measured, LoadError>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| LoadError::Http(e.to_string()))?;
    tokio::spawn(connection);
    let mut latencies = Vec::with_capacity(4096);
    let mut errors = 0;
    let mut first_error = None;
    let host = target.to_string();
    while clock.elapsed() < duration {
        let request = hyper::Request::post("/")
            .header(hyper::header::HOST, &host)
            .header(
                hyper::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .body(Full::new(body.clone()))
            .map_err(|e| LoadError::Http(e.to_string()))?;
        let started = Stopwatch::start();
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| LoadError::Http(e.to_string()))?;
        let status = response.status();
        let answer = response
            .into_body()
            .collect()
            .await
            .map_err(|e| LoadError::Http(e.to_string()))?
            .to_bytes();
        latencies.push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
        if !status.is_success() {
            errors += 1;
            if first_error.is_none() {
                first_error = Some(error_code(&answer).unwrap_or_else(|| status.to_string()));
            }
        }
    }
    Ok((latencies, errors, first_error))
}

/// `<Code>` of an AWS error response.
fn error_code(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let end = start + text.get(start..)?.find("</Code>")?;
    text.get(start..end).map(str::to_owned)
}

/// One core's rate of RS256 verifications of a typical ID token (the ceiling reference).
pub fn rs256_verifications_per_second(duration: Duration) -> Result<f64, LoadError> {
    let signer =
        TokenSigner::generate_rsa("ceiling").map_err(|e| LoadError::Signing(e.to_string()))?;
    let token = signer
        .sign(&serde_json::json!({
            "iss": "https://issuer.example", "sub": "loadgen", "aud": "client",
            "iat": 1_700_000_000, "exp": 1_700_003_600,
        }))
        .map_err(|e| LoadError::Signing(e.to_string()))?;
    let key = jsonwebtoken::DecodingKey::from_jwk(&signer.jwk())
        .map_err(|e| LoadError::Signing(e.to_string()))?;
    let (message, signature) = token
        .rsplit_once('.')
        .ok_or_else(|| LoadError::Signing("token has no signature".into()))?;
    let clock = Stopwatch::start();
    let mut count: u64 = 0;
    while clock.elapsed() < duration {
        for _ in 0..64 {
            let ok = jsonwebtoken::crypto::verify(
                signature,
                message.as_bytes(),
                &key,
                jsonwebtoken::Algorithm::RS256,
            )
            .map_err(|e| LoadError::Signing(e.to_string()))?;
            if !ok {
                return Err(LoadError::Signing(
                    "reference signature did not verify".into(),
                ));
            }
        }
        count += 64;
    }
    Ok(count as f64 / clock.elapsed().as_secs_f64())
}
