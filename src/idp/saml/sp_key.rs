//! The SAML service provider's signing key and certificate: the operator's files
//! (`[signin] sp_key_file`, `sp_cert_file`), or a key pair generated at first start beside the
//! keyring (the key `0600`) and kept there, so the certificate an IdP imported from the SP
//! metadata stays valid across restarts.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use zeroize::Zeroizing;

use super::DecryptionKey;

/// How long a generated certificate is valid (IdPs pin it; it is not a TLS certificate).
const GENERATED_VALIDITY: Duration = Duration::from_secs(10 * 365 * 86_400);

/// The names of the generated files, beside the keyring.
pub const GENERATED_KEY_FILE: &str = "sp-signing.key";
pub const GENERATED_CERT_FILE: &str = "sp-signing.crt";

#[derive(Debug, thiserror::Error)]
pub enum SpKeyError {
    #[error("{}: {source}", file.display())]
    Io {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {why}", file.display())]
    Invalid { file: PathBuf, why: String },
    #[error("generating the SAML service provider's key: {0}")]
    Generate(String),
}

/// The SP's signing key (RSA, PKCS#8 PEM) and its certificate (PEM).
pub struct SpKey {
    pub key_pem: Zeroizing<Vec<u8>>,
    pub cert_pem: String,
}

impl std::fmt::Debug for SpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpKey")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

impl SpKey {
    /// Read the key and certificate at `key_file` and `cert_file`: an RSA PKCS#8 key and a PEM
    /// certificate.
    pub fn load(key_file: &Path, cert_file: &Path) -> Result<Self, SpKeyError> {
        let io = |file: &Path| {
            let file = file.to_owned();
            move |source| SpKeyError::Io { file, source }
        };
        let key_pem = Zeroizing::new(std::fs::read(key_file).map_err(io(key_file))?);
        DecryptionKey::from_pem(&key_pem).map_err(|e| SpKeyError::Invalid {
            file: key_file.to_owned(),
            why: e.to_string(),
        })?;
        let cert_pem = std::fs::read_to_string(cert_file).map_err(io(cert_file))?;
        let parsed = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes())
            .ok()
            .is_some_and(|(_, block)| block.label == "CERTIFICATE" && block.parse_x509().is_ok());
        if !parsed {
            return Err(SpKeyError::Invalid {
                file: cert_file.to_owned(),
                why: "not a PEM X.509 certificate".to_owned(),
            });
        }
        Ok(Self { key_pem, cert_pem })
    }

    /// The key pair generated earlier in `dir`, or a new one (RSA 3072, a self-signed
    /// certificate for `common_name` valid ten years from `now`) written there, the key
    /// `0600`.
    pub fn load_or_generate(
        dir: &Path,
        common_name: &str,
        now: SystemTime,
    ) -> Result<Self, SpKeyError> {
        let key_file = dir.join(GENERATED_KEY_FILE);
        let cert_file = dir.join(GENERATED_CERT_FILE);
        if key_file.exists() && cert_file.exists() {
            return Self::load(&key_file, &cert_file);
        }
        let generated = Self::generate(common_name, now)?;
        let io = |file: &Path| {
            let file = file.to_owned();
            move |source| SpKeyError::Io { file, source }
        };
        write_private(&key_file, &generated.key_pem).map_err(io(&key_file))?;
        std::fs::write(&cert_file, &generated.cert_pem).map_err(io(&cert_file))?;
        tracing::info!(
            key = %key_file.display(),
            certificate = %cert_file.display(),
            "generated the SAML service provider's signing key"
        );
        Ok(generated)
    }

    fn generate(common_name: &str, now: SystemTime) -> Result<Self, SpKeyError> {
        let fail = |e: rcgen::Error| SpKeyError::Generate(e.to_string());
        let key =
            rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_3072)
                .map_err(fail)?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(fail)?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        params.not_before = time::OffsetDateTime::from(now);
        params.not_after = time::OffsetDateTime::from(now + GENERATED_VALIDITY);
        let cert = params.self_signed(&key).map_err(fail)?;
        Ok(Self {
            key_pem: Zeroizing::new(key.serialize_pem().into_bytes()),
            cert_pem: cert.pem(),
        })
    }
}

/// Write `bytes` to a new file only its owner may read.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::from_unix_seconds;

    #[test]
    fn a_generated_key_is_kept_owner_only_and_loaded_again() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let now = from_unix_seconds(1_795_000_000);
        let first = SpKey::load_or_generate(dir.path(), "sts.example.com", now).unwrap();
        let mode = std::fs::metadata(dir.path().join(GENERATED_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(
            DecryptionKey::from_pem(&first.key_pem).is_ok(),
            "RSA PKCS#8"
        );
        let (_, pem) = x509_parser::pem::parse_x509_pem(first.cert_pem.as_bytes()).unwrap();
        let cert = pem.parse_x509().unwrap();
        assert_eq!(
            cert.subject().to_string(),
            "CN=sts.example.com",
            "{}",
            cert.subject()
        );
        assert_eq!(cert.validity().not_before.timestamp(), 1_795_000_000);
        let again = SpKey::load_or_generate(dir.path(), "sts.example.com", now).unwrap();
        assert_eq!(again.cert_pem, first.cert_pem, "kept, not generated anew");
        assert!(
            !format!("{again:?}").contains("PRIVATE KEY"),
            "Debug hides the key"
        );
    }

    #[test]
    fn a_broken_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k"), "not a key").unwrap();
        std::fs::write(dir.path().join("c"), "not a cert").unwrap();
        let err = SpKey::load(&dir.path().join("k"), &dir.path().join("c"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/k: "), "{err}");
    }
}
