//! The key-encryption key (KEK): 32 random bytes in a file of their own (`[keys] kek_file`, mode
//! 0600, the same file on every node), sealing each keyring key that a shared store keeps.
//!
//! A sealed key, as stored:
//!
//! ```text
//! version (1 byte, = 1) | nonce (12 random bytes) | AES-256-GCM(key material) | tag (16)
//! ```
//!
//! The associated data is a fixed label and the key's id, so a sealed key never opens under
//! another id (a row moved to another key id is refused).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, MAX_TAG_LEN, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

/// Bytes of a KEK.
pub const KEK_LEN: usize = 32;

/// The version byte of a sealed key.
const SEALED_KEY_VERSION: u8 = 1;

/// What the associated data starts with (then the key id).
const AAD_LABEL: &[u8] = b"stsbridge keyring key\0";

/// Mode bits a KEK file must not have: anything for group or others, or owner execute.
const FORBIDDEN_MODE_BITS: u32 = 0o177;

#[derive(Debug, thiserror::Error)]
pub enum KekError {
    #[error("KEK file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "KEK file {} has mode {mode:04o}; it must be 0600 or narrower (chmod 600 it)",
        path.display()
    )]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("KEK file {}: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
    #[error(
        "KEK file {} exists; a new KEK would not open what the old one sealed (remove it first if that is what you want)",
        path.display()
    )]
    Exists { path: PathBuf },
    /// The sealed key does not open: another KEK sealed it, or it was altered.
    #[error("the KEK does not open keyring key {key_id}")]
    WrongKek { key_id: String },
    #[error("sealed keyring key {key_id} is malformed")]
    Malformed { key_id: String },
    #[error("random source failed")]
    Random,
}

/// The key-encryption key, read from its file.
pub struct Kek {
    aead: LessSafeKey,
    /// The file it was read from (for messages).
    path: PathBuf,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kek").field("path", &self.path).finish()
    }
}

impl Kek {
    /// Read the KEK at `path`: a regular file, mode 0600 or narrower, exactly [`KEK_LEN`] bytes.
    pub fn load(path: &Path) -> Result<Self, KekError> {
        let file = File::open(path).map_err(|e| io_error(path, e))?;
        // The opened file's permissions, not the path's, so a swap cannot slip in.
        let meta = file.metadata().map_err(|e| io_error(path, e))?;
        if !meta.is_file() {
            return Err(invalid(path, "not a regular file"));
        }
        let mode = meta.permissions().mode() & 0o7777;
        if mode & FORBIDDEN_MODE_BITS != 0 {
            return Err(KekError::TooOpen {
                path: path.to_owned(),
                mode,
            });
        }
        let mut bytes = Vec::with_capacity(KEK_LEN);
        file.take(KEK_LEN as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| io_error(path, e))?;
        if bytes.len() != KEK_LEN {
            let held = if bytes.len() > KEK_LEN {
                format!("more than {KEK_LEN}")
            } else {
                bytes.len().to_string()
            };
            return Err(invalid(
                path,
                &format!(
                    "holds {held} bytes, a KEK is exactly {KEK_LEN} (`stsbridge keys init-kek` makes one)"
                ),
            ));
        }
        let unbound = UnboundKey::new(&AES_256_GCM, &bytes)
            .map_err(|_| invalid(path, "the crypto library rejected the key"))?;
        Ok(Self {
            aead: LessSafeKey::new(unbound),
            path: path.to_owned(),
        })
    }

    /// Write a fresh random KEK to `path` (mode 0600 from its creation, synced); refuses to
    /// overwrite a file.
    pub fn create_file(path: &Path) -> Result<(), KekError> {
        let mut material = [0u8; KEK_LEN];
        SystemRandom::new()
            .fill(&mut material)
            .map_err(|_| KekError::Random)?;
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => KekError::Exists {
                    path: path.to_owned(),
                },
                _ => io_error(path, e),
            })?;
        file.write_all(&material)
            .and_then(|()| file.sync_all())
            .map_err(|e| io_error(path, e))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| io_error(path, e))?;
        }
        Ok(())
    }

    /// The file the KEK was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Seal the key material of keyring key `key_id` (hex).
    pub(crate) fn seal(
        &self,
        key_id: &str,
        material: &[u8],
        rng: &dyn SecureRandom,
    ) -> Result<Vec<u8>, KekError> {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill(&mut nonce).map_err(|_| KekError::Random)?;
        let mut sealed = material.to_vec();
        self.aead
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(key_id)),
                &mut sealed,
            )
            .map_err(|_| KekError::Random)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(SEALED_KEY_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Open the key material of keyring key `key_id` sealed by [`seal`](Self::seal).
    pub(crate) fn open(&self, key_id: &str, sealed: &[u8]) -> Result<Vec<u8>, KekError> {
        let malformed = || KekError::Malformed {
            key_id: key_id.to_owned(),
        };
        if sealed.len() < 1 + NONCE_LEN + MAX_TAG_LEN || sealed[0] != SEALED_KEY_VERSION {
            return Err(malformed());
        }
        let (nonce, body) = sealed[1..].split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| malformed())?;
        let mut body = body.to_vec();
        let plain = self
            .aead
            .open_in_place(nonce, Aad::from(aad(key_id)), &mut body)
            .map_err(|_| KekError::WrongKek {
                key_id: key_id.to_owned(),
            })?;
        Ok(plain.to_vec())
    }
}

fn aad(key_id: &str) -> Vec<u8> {
    [AAD_LABEL, key_id.as_bytes()].concat()
}

fn io_error(path: &Path, source: io::Error) -> KekError {
    KekError::Io {
        path: path.to_owned(),
        source,
    }
}

fn invalid(path: &Path, reason: &str) -> KekError {
    KekError::Invalid {
        path: path.to_owned(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kek_in(dir: &Path, name: &str) -> Kek {
        let path = dir.join(name);
        Kek::create_file(&path).unwrap();
        Kek::load(&path).unwrap()
    }

    #[test]
    fn a_created_kek_is_0600_32_bytes_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek");
        Kek::create_file(&path).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
        assert_eq!(meta.len(), KEK_LEN as u64);
        let before = std::fs::read(&path).unwrap();
        let err = Kek::create_file(&path).unwrap_err();
        assert!(matches!(err, KekError::Exists { .. }), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before, "left as it was");
    }

    #[test]
    fn sealed_keys_open_under_their_id_and_kek_only() {
        let dir = tempfile::tempdir().unwrap();
        let kek = kek_in(dir.path(), "a");
        let other = kek_in(dir.path(), "b");
        let rng = SystemRandom::new();
        let sealed = kek.seal("0a0b0c0d", &[7u8; 32], &rng).unwrap();
        assert_eq!(kek.open("0a0b0c0d", &sealed).unwrap(), [7u8; 32]);
        assert!(matches!(
            other.open("0a0b0c0d", &sealed),
            Err(KekError::WrongKek { .. })
        ));
        assert!(matches!(
            kek.open("01020304", &sealed),
            Err(KekError::WrongKek { .. })
        ));
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(kek.open("0a0b0c0d", &altered).is_err());
        assert!(matches!(
            kek.open("0a0b0c0d", &sealed[..20]),
            Err(KekError::Malformed { .. })
        ));
        assert!(!format!("{kek:?}").contains("aead"));
    }

    #[test]
    fn short_long_open_and_missing_kek_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: &[u8], mode: u32| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            path
        };
        let short = Kek::load(&write("short", &[1u8; 31], 0o600)).unwrap_err();
        assert!(short.to_string().contains("holds 31 bytes"), "{short}");
        let long = Kek::load(&write("long", &[1u8; 33], 0o600)).unwrap_err();
        assert!(
            long.to_string().contains("holds more than 32 bytes"),
            "{long}"
        );
        let open = Kek::load(&write("open", &[1u8; 32], 0o640)).unwrap_err();
        assert!(
            matches!(open, KekError::TooOpen { mode: 0o640, .. }),
            "{open}"
        );
        Kek::load(&write("readonly", &[1u8; 32], 0o400)).unwrap();
        let missing = Kek::load(&dir.path().join("nothing")).unwrap_err();
        assert!(matches!(missing, KekError::Io { .. }), "{missing}");
        let directory = Kek::load(dir.path()).unwrap_err();
        assert!(
            directory.to_string().contains("not a regular file"),
            "{directory}"
        );
    }
}
