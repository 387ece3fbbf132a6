//! The built-in development issuer (`serve --dev`, loopback only): an OIDC issuer at
//! `http://LISTEN/dev` with discovery and JWKS, whose key lives in a 0600 file beside the keyring
//! so `stsbridge dev-token` can sign tokens the running daemon accepts.

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::arn::oidc_provider_of_issuer;
use crate::clock::unix_seconds;
use crate::config::Settings;
use crate::idp::IdpSettings;
use crate::idp::oidc::signer::TokenSigner;
use crate::idp::oidc::{OidcKeySource, OidcSettings};

/// The audience (client id) development tokens carry and the development IdP accepts.
pub const DEV_AUDIENCE: &str = "stsbridge-dev";
const DEV_KID: &str = "stsbridge-dev-1";

#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error("--dev is refused unless the daemon listens on a loopback address (it listens on {0})")]
    NotLoopback(SocketAddr),
    #[error("development key {path}: {reason}")]
    Key { path: PathBuf, reason: String },
}

/// The development issuer of a running daemon.
pub(crate) struct DevIssuer {
    issuer: String,
    signer: TokenSigner,
}

/// Where the development signing key is kept.
fn key_path(settings: &Settings) -> PathBuf {
    settings.keyring_path.with_file_name("dev-issuer.key")
}

/// The issuer URL for a daemon listening on `addr` (the configuration knows it too, for the
/// roles that trust it).
fn issuer_for(addr: SocketAddr) -> String {
    crate::config::dev_issuer(addr)
}

impl DevIssuer {
    /// Load (or create) the development key; refuse unless `listen` is loopback.
    pub(crate) fn open(settings: &Settings, listen: SocketAddr) -> Result<Self, DevError> {
        if !listen.ip().is_loopback() {
            return Err(DevError::NotLoopback(listen));
        }
        Ok(Self {
            issuer: issuer_for(listen),
            signer: load_or_create_key(&key_path(settings))?,
        })
    }

    pub(crate) fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The IdP the daemon registers for this issuer (keys in memory, no fetch).
    pub(crate) fn idp_settings(&self) -> IdpSettings {
        IdpSettings::Oidc(OidcSettings {
            name: "dev".into(),
            issuer: self.issuer.clone(),
            provider: oidc_provider_of_issuer(&self.issuer),
            audiences: vec![DEV_AUDIENCE.into()],
            algorithms: vec![jsonwebtoken::Algorithm::RS256],
            keys: OidcKeySource::Static(self.jwks()),
            leeway: Duration::from_secs(60),
            insecure_http: true,
        })
    }

    pub(crate) fn jwks(&self) -> jsonwebtoken::jwk::JwkSet {
        jsonwebtoken::jwk::JwkSet {
            keys: vec![self.signer.jwk()],
        }
    }

    pub(crate) fn discovery_document(&self) -> serde_json::Value {
        serde_json::json!({
            "issuer": self.issuer,
            "jwks_uri": format!("{}/jwks.json", self.issuer),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        })
    }
}

/// Sign a development token: `iss` = the dev issuer of `listen`, the given subject and audience,
/// valid for `ttl` from `now`, plus extra claims.
pub fn sign_dev_token(
    settings: &Settings,
    listen: SocketAddr,
    subject: &str,
    audience: &str,
    ttl: Duration,
    extra: serde_json::Map<String, serde_json::Value>,
    now: SystemTime,
) -> Result<String, DevError> {
    let path = key_path(settings);
    let signer = load_or_create_key(&path)?;
    let iat = unix_seconds(now);
    let mut claims = serde_json::Map::new();
    claims.insert("iss".into(), issuer_for(listen).into());
    claims.insert("sub".into(), subject.into());
    claims.insert("aud".into(), audience.into());
    claims.insert("iat".into(), iat.into());
    claims.insert(
        "exp".into(),
        (iat + i64::try_from(ttl.as_secs()).unwrap_or(3600)).into(),
    );
    claims.extend(extra);
    signer
        .sign(&serde_json::Value::Object(claims))
        .map_err(|e| DevError::Key {
            path,
            reason: e.to_string(),
        })
}

fn load_or_create_key(path: &Path) -> Result<TokenSigner, DevError> {
    let err = |reason: String| DevError::Key {
        path: path.to_owned(),
        reason,
    };
    match std::fs::read(path) {
        Ok(der) => TokenSigner::from_pkcs8(DEV_KID, jsonwebtoken::Algorithm::RS256, &der)
            .map_err(|e| err(e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let signer = TokenSigner::generate_rsa(DEV_KID).map_err(|e| err(e.to_string()))?;
            let der = signer.to_pkcs8().map_err(|e| err(e.to_string()))?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
            }
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| err(e.to_string()))?;
            file.write_all(&der).map_err(|e| err(e.to_string()))?;
            file.sync_all().map_err(|e| err(e.to_string()))?;
            Ok(signer)
        }
        Err(e) => Err(err(e.to_string())),
    }
}
