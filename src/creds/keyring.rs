//! The sealing keyring: the AES-256-GCM key that seals new session tokens, plus the retired keys
//! still needed to open tokens sealed before the last rotation.
//!
//! On disk it is one JSON file, mode 0600, replaced atomically (temp file, fsync, rename, fsync of
//! the directory) so a crash never leaves a half-written keyring:
//!
//! ```json
//! { "version": 1,
//!   "current": { "id": "0a1b2c3d", "key": "<base64, 32 bytes>", "created_at": 1795000000 },
//!   "retired": [ { "id": "…", "key": "…", "created_at": 1794000000, "retire_after": 1795129600 } ] }
//! ```
//!
//! Every node holding the same file can open every token any of them sealed.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use aws_lc_rs::aead::{AES_256_GCM, LessSafeKey, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use data_encoding::HEXLOWER;

use super::MAX_SESSION_DURATION_SECONDS;
use super::kek::Kek;
use crate::clock::unix_seconds;

/// Bytes of a key id, as carried in every token.
pub const KEY_ID_LEN: usize = 4;

/// The on-disk format this code writes and reads.
const FILE_VERSION: u64 = 1;

/// AES-256 key length.
const KEY_LEN: usize = 32;

/// Mode bits a keyring file must not have: anything for group or others, or owner execute.
const FORBIDDEN_MODE_BITS: u32 = 0o177;

/// A keyring is a few hundred bytes per key; refuse to read anything absurdly large.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// How many fresh random key ids to try before giving up on avoiding a collision.
const KEY_ID_ATTEMPTS: usize = 8;

/// A key's short random identifier, carried in clear in each token so the right key is picked.
pub type KeyId = [u8; KEY_ID_LEN];

#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error("keyring {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "keyring {} has mode {mode:04o}; it must be 0600 or narrower (chmod 600 it)",
        path.display()
    )]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("keyring {}: unsupported version {version} (this build reads version {FILE_VERSION})", path.display())]
    UnsupportedVersion { path: PathBuf, version: u64 },
    #[error("keyring {}: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
    #[error("random source failed")]
    Random,
    #[error("the crypto library rejected the key material")]
    KeyRejected,
    #[error("keyring in the database: {0}")]
    Kek(#[from] super::kek::KekError),
    #[error("keyring in the database: {0}")]
    Stored(String),
}

/// One keyring key as a shared store keeps it: its material sealed under the KEK
/// ([`Keyring::seal_under`]), the rest in clear.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedKey {
    /// Hex key id.
    pub id: String,
    /// The key material, sealed under the KEK with the id as associated data.
    pub sealed: Vec<u8>,
    /// Unix seconds.
    pub created_at: i64,
    /// `None` for the current key.
    pub retire_after: Option<i64>,
}

impl std::fmt::Debug for SealedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedKey")
            .field("id", &self.id)
            .field("created_at", &self.created_at)
            .field("retire_after", &self.retire_after)
            .finish_non_exhaustive()
    }
}

/// One AES-256-GCM key with its identity.
struct SealingKey {
    id: KeyId,
    /// Kept only so the keyring can be written back; all crypto goes through `aead`.
    material: [u8; KEY_LEN],
    aead: LessSafeKey,
    /// Unix seconds.
    created_at: i64,
}

/// A key that no longer seals, kept to open the tokens it sealed until they have all expired.
struct RetiredKey {
    key: SealingKey,
    /// Unix seconds; after this no token sealed by the key can still be valid.
    retire_after: i64,
}

/// The current sealing key and the retired keys still accepted for opening.
pub struct Keyring {
    current: SealingKey,
    retired: Vec<RetiredKey>,
}

/// What an operator may see about a key (never its material).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// Hex key id, as in the file.
    pub id: String,
    pub created_at: i64,
    /// `None` for the current key.
    pub retire_after: Option<i64>,
}

impl SealingKey {
    fn from_material(
        id: KeyId,
        material: [u8; KEY_LEN],
        created_at: i64,
    ) -> Result<Self, KeyringError> {
        let unbound =
            UnboundKey::new(&AES_256_GCM, &material).map_err(|_| KeyringError::KeyRejected)?;
        Ok(Self {
            id,
            material,
            aead: LessSafeKey::new(unbound),
            created_at,
        })
    }

    /// A fresh random key whose id collides with none of `taken`.
    fn generate(
        taken: &[KeyId],
        now: SystemTime,
        rng: &dyn SecureRandom,
    ) -> Result<Self, KeyringError> {
        let id = fresh_key_id(taken, rng)?;
        let mut material = [0u8; KEY_LEN];
        rng.fill(&mut material).map_err(|_| KeyringError::Random)?;
        Self::from_material(id, material, unix_seconds(now))
    }

    /// A second handle on the same key (aws-lc-rs keys are not `Clone`).
    fn duplicate(&self) -> Result<Self, KeyringError> {
        Self::from_material(self.id, self.material, self.created_at)
    }
}

/// A random key id not in `taken` (a collision would make tokens ambiguous).
fn fresh_key_id(taken: &[KeyId], rng: &dyn SecureRandom) -> Result<KeyId, KeyringError> {
    for _ in 0..KEY_ID_ATTEMPTS {
        let mut id = [0u8; KEY_ID_LEN];
        rng.fill(&mut id).map_err(|_| KeyringError::Random)?;
        if !taken.contains(&id) {
            return Ok(id);
        }
    }
    Err(KeyringError::Random)
}

impl Keyring {
    /// A keyring holding one fresh key (not written anywhere).
    pub fn generate(now: SystemTime) -> Result<Self, KeyringError> {
        let current = SealingKey::generate(&[], now, &SystemRandom::new())?;
        Ok(Self {
            current,
            retired: Vec::new(),
        })
    }

    /// Load the keyring at `path`, or create it (mode 0600) with one fresh key if there is none.
    pub fn load_or_create(path: &Path, now: SystemTime) -> Result<Self, KeyringError> {
        match File::open(path) {
            Ok(file) => Self::read_from(file, path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let keyring = Self::generate(now)?;
                keyring.save(path)?;
                tracing::info!(path = %path.display(), key_id = %keyring.current_key_id(), "created keyring");
                Ok(keyring)
            }
            Err(source) => Err(io_error(path, source)),
        }
    }

    /// Load an existing keyring (e.g. on reload); refuses a file others could read.
    pub fn load(path: &Path) -> Result<Self, KeyringError> {
        let file = File::open(path).map_err(|e| io_error(path, e))?;
        Self::read_from(file, path)
    }

    /// Write the keyring to `path` atomically, mode 0600.
    pub fn save(&self, path: &Path) -> Result<(), KeyringError> {
        let json =
            serde_json::to_vec_pretty(&self.to_file()).map_err(|e| invalid(path, e.to_string()))?;
        write_private_file(path, &json).map_err(|e| io_error(path, e))
    }

    /// Every key, its material sealed under `kek`, current first (what a shared store keeps).
    pub fn seal_under(&self, kek: &Kek) -> Result<Vec<SealedKey>, KeyringError> {
        let rng = SystemRandom::new();
        let seal = |key: &SealingKey, retire_after| -> Result<SealedKey, KeyringError> {
            let id = HEXLOWER.encode(&key.id);
            Ok(SealedKey {
                sealed: kek.seal(&id, &key.material, &rng)?,
                id,
                created_at: key.created_at,
                retire_after,
            })
        };
        std::iter::once(seal(&self.current, None))
            .chain(
                self.retired
                    .iter()
                    .map(|r| seal(&r.key, Some(r.retire_after))),
            )
            .collect()
    }

    /// The keyring whose keys `kek` sealed ([`seal_under`](Self::seal_under)): exactly one
    /// current key, no id twice. Fails with [`KekError::WrongKek`](super::kek::KekError) when
    /// `kek` is not the KEK that sealed them.
    pub fn open_sealed(keys: &[SealedKey], kek: &Kek) -> Result<Self, KeyringError> {
        let mut current = None;
        let mut retired = Vec::with_capacity(keys.len());
        let mut ids: Vec<KeyId> = Vec::with_capacity(keys.len());
        for stored in keys {
            let id: KeyId = HEXLOWER
                .decode(stored.id.as_bytes())
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| {
                    KeyringError::Stored(format!(
                        "key id {:?} is not {KEY_ID_LEN} bytes of lowercase hex",
                        stored.id
                    ))
                })?;
            if ids.contains(&id) {
                return Err(KeyringError::Stored(format!(
                    "duplicate key id {}",
                    stored.id
                )));
            }
            ids.push(id);
            let material: [u8; KEY_LEN] = kek
                .open(&stored.id, &stored.sealed)?
                .try_into()
                .map_err(|_| {
                    KeyringError::Stored(format!("key {} is not {KEY_LEN} bytes", stored.id))
                })?;
            let key = SealingKey::from_material(id, material, stored.created_at)?;
            match stored.retire_after {
                None if current.is_some() => {
                    return Err(KeyringError::Stored("more than one current key".into()));
                }
                None => current = Some(key),
                Some(retire_after) => retired.push(RetiredKey { key, retire_after }),
            }
        }
        let current = current.ok_or_else(|| KeyringError::Stored("no current key".into()))?;
        Ok(Self { current, retired })
    }

    /// Make a fresh key current and retire the old one, keeping it to open what it sealed
    /// (`retire_after`: `now` + the longest session, when every token it sealed has expired);
    /// save. Retired keys stay until [`remove_retired`](Self::remove_retired) (`stsbridge keys
    /// retire`), which first makes sure nothing needs them: a user secret sealed by one may
    /// outlive its tokens. On error nothing changes, in memory or on disk.
    pub fn rotate(&mut self, path: &Path, now: SystemTime) -> Result<(), KeyringError> {
        let rotated = self.rotated(now)?;
        rotated.save(path)?;
        tracing::info!(
            path = %path.display(),
            retired = %HEXLOWER.encode(&self.current.id),
            current = %HEXLOWER.encode(&rotated.current.id),
            "rotated keyring"
        );
        *self = rotated;
        Ok(())
    }

    /// Remove the retired key `id` and save; `Ok(false)` (nothing changed) when no retired key
    /// has that id (the current key is never removed: rotate first). The caller makes sure
    /// nothing needs it any more. On error nothing changes, in memory or on disk.
    pub fn remove_retired(&mut self, path: &Path, id: &str) -> Result<bool, KeyringError> {
        let Some(kept) = self.without_retired(id)? else {
            return Ok(false);
        };
        kept.save(path)?;
        tracing::info!(path = %path.display(), retired = id, "removed a retired key from the keyring");
        *self = kept;
        Ok(true)
    }

    /// The keyring without the retired key `id`; `None` when no retired key has that id (the
    /// current key is never removed: rotate first).
    pub fn without_retired(&self, id: &str) -> Result<Option<Self>, KeyringError> {
        let Some(at) = self
            .retired
            .iter()
            .position(|r| HEXLOWER.encode(&r.key.id) == id)
        else {
            return Ok(None);
        };
        let mut retired = Vec::with_capacity(self.retired.len());
        for (i, r) in self.retired.iter().enumerate() {
            if i != at {
                retired.push(RetiredKey {
                    key: r.key.duplicate()?,
                    retire_after: r.retire_after,
                });
            }
        }
        Ok(Some(Self {
            current: self.current.duplicate()?,
            retired,
        }))
    }

    /// Drop retired keys whose tokens have all expired at `now`; returns how many were dropped.
    /// Changes memory only: `save` to persist.
    pub fn prune(&mut self, now: SystemTime) -> usize {
        let now = unix_seconds(now);
        let before = self.retired.len();
        self.retired.retain(|k| k.retire_after >= now);
        before - self.retired.len()
    }

    /// Hex id of the key that seals new tokens.
    pub fn current_key_id(&self) -> String {
        HEXLOWER.encode(&self.current.id)
    }

    /// Every key, current first (for `stsbridge keys`).
    pub fn keys(&self) -> Vec<KeyInfo> {
        let current = KeyInfo {
            id: self.current_key_id(),
            created_at: self.current.created_at,
            retire_after: None,
        };
        let retired = self.retired.iter().map(|r| KeyInfo {
            id: HEXLOWER.encode(&r.key.id),
            created_at: r.key.created_at,
            retire_after: Some(r.retire_after),
        });
        std::iter::once(current).chain(retired).collect()
    }

    /// The key new tokens are sealed with, and its id.
    pub(crate) fn sealing_key(&self) -> (&KeyId, &LessSafeKey) {
        (&self.current.id, &self.current.aead)
    }

    /// The key with this id, current or retired, if the keyring still holds it.
    pub(crate) fn opening_key(&self, id: &[u8]) -> Option<&LessSafeKey> {
        if self.current.id == id {
            return Some(&self.current.aead);
        }
        self.retired
            .iter()
            .find(|r| r.key.id == id)
            .map(|r| &r.key.aead)
    }

    /// The keyring after a rotation at `now`: a fresh key current, the old one retired (kept
    /// for the longest session).
    pub fn rotated(&self, now: SystemTime) -> Result<Self, KeyringError> {
        let now_unix = unix_seconds(now);
        let mut retired = Vec::with_capacity(self.retired.len() + 1);
        for r in &self.retired {
            retired.push(RetiredKey {
                key: r.key.duplicate()?,
                retire_after: r.retire_after,
            });
        }
        retired.push(RetiredKey {
            key: self.current.duplicate()?,
            retire_after: now_unix.saturating_add(i64::from(MAX_SESSION_DURATION_SECONDS)),
        });
        let taken: Vec<KeyId> = retired.iter().map(|r| r.key.id).collect();
        let current = SealingKey::generate(&taken, now, &SystemRandom::new())?;
        Ok(Self { current, retired })
    }

    /// Check permissions on the opened file (not the path, so a swap cannot slip in), then parse.
    fn read_from(file: File, path: &Path) -> Result<Self, KeyringError> {
        ensure_private(&file, path)?;
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| io_error(path, e))?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(invalid(path, format!("larger than {MAX_FILE_BYTES} bytes")));
        }
        Self::parse(&bytes, path)
    }

    /// Parse the file: version first (for a clear error on a newer format), then the keys.
    fn parse(bytes: &[u8], path: &Path) -> Result<Self, KeyringError> {
        let probe: VersionProbe =
            serde_json::from_slice(bytes).map_err(|e| invalid(path, e.to_string()))?;
        if probe.version != FILE_VERSION {
            return Err(KeyringError::UnsupportedVersion {
                path: path.to_owned(),
                version: probe.version,
            });
        }
        let file: KeyringFile =
            serde_json::from_slice(bytes).map_err(|e| invalid(path, e.to_string()))?;
        Self::from_file(file).map_err(|reason| invalid(path, reason))
    }

    fn from_file(file: KeyringFile) -> Result<Self, String> {
        let current = file.current.into_key()?;
        let mut ids = vec![current.id];
        let mut retired = Vec::with_capacity(file.retired.len());
        for entry in file.retired {
            let retire_after = entry.retire_after;
            let key = entry.key.into_key()?;
            if ids.contains(&key.id) {
                return Err(format!("duplicate key id {}", HEXLOWER.encode(&key.id)));
            }
            ids.push(key.id);
            retired.push(RetiredKey { key, retire_after });
        }
        Ok(Self { current, retired })
    }

    fn to_file(&self) -> KeyringFile {
        KeyringFile {
            version: FILE_VERSION,
            current: KeyFile::from_key(&self.current),
            retired: self
                .retired
                .iter()
                .map(|r| RetiredKeyFile {
                    key: KeyFile::from_key(&r.key),
                    retire_after: r.retire_after,
                })
                .collect(),
        }
    }
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current_key_id())
            .field(
                "retired",
                &self
                    .retired
                    .iter()
                    .map(|r| HEXLOWER.encode(&r.key.id))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// A keyring shared by the minter and the request verifier, replaceable at run time (reload
/// after `stsbridge keys rotate`) without disturbing requests already holding a snapshot.
#[derive(Clone)]
pub struct SharedKeyring(Arc<RwLock<Arc<Keyring>>>);

impl SharedKeyring {
    pub fn new(keyring: Keyring) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(keyring))))
    }

    /// The keyring as it is now; stays valid even if it is replaced meanwhile.
    pub fn snapshot(&self) -> Arc<Keyring> {
        Arc::clone(&self.0.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Swap in a reloaded keyring.
    pub fn replace(&self, keyring: Keyring) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keyring);
    }

    /// Read the keyring file at `path` again and swap it in (reload: a rotation or retirement
    /// made by another process holding the same file). On error the keyring in use stays.
    pub fn reload(&self, path: &Path) -> Result<(), KeyringError> {
        self.replace(Keyring::load(path)?);
        Ok(())
    }
}

impl std::fmt::Debug for SharedKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SharedKeyring")
            .field(&self.snapshot())
            .finish()
    }
}

/// Just the version, read before the rest so a newer file gets a clear error.
#[derive(serde::Deserialize)]
struct VersionProbe {
    version: u64,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyringFile {
    version: u64,
    current: KeyFile,
    #[serde(default)]
    retired: Vec<RetiredKeyFile>,
}

/// No `Debug`: it holds key material.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    /// Hex, `KEY_ID_LEN` bytes.
    id: String,
    /// Base64 (standard alphabet), `KEY_LEN` bytes.
    key: String,
    created_at: i64,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RetiredKeyFile {
    #[serde(flatten)]
    key: KeyFile,
    retire_after: i64,
}

impl KeyFile {
    fn from_key(key: &SealingKey) -> Self {
        Self {
            id: HEXLOWER.encode(&key.id),
            key: BASE64.encode(key.material),
            created_at: key.created_at,
        }
    }

    fn into_key(self) -> Result<SealingKey, String> {
        let id: KeyId = HEXLOWER
            .decode(self.id.as_bytes())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                format!(
                    "key id {:?} is not {KEY_ID_LEN} bytes of lowercase hex",
                    self.id
                )
            })?;
        let material: [u8; KEY_LEN] = BASE64
            .decode(self.key.as_bytes())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| format!("key {} is not {KEY_LEN} bytes of base64", self.id))?;
        SealingKey::from_material(id, material, self.created_at).map_err(|e| e.to_string())
    }
}

/// Refuse a keyring that is not a regular file or that anyone but its owner could read.
fn ensure_private(file: &File, path: &Path) -> Result<(), KeyringError> {
    let meta = file.metadata().map_err(|e| io_error(path, e))?;
    if !meta.is_file() {
        return Err(invalid(path, "not a regular file".to_owned()));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & FORBIDDEN_MODE_BITS != 0 {
        return Err(KeyringError::TooOpen {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

/// Write `bytes` to `path` so that readers see either the old file or the whole new one, and the
/// new one survives power loss: temp file (0600 from its creation, never wider), fsync, rename,
/// fsync of the directory.
fn write_private_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = temp_path_beside(path)?;
    let written = write_new_private(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        // Best effort: a stray temp file is harmless (0600, never read), the error matters more.
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    File::open(parent_dir(path))?.sync_all()
}

fn write_new_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// `.NAME.tmp-RANDOM` in the same directory (rename is atomic only within one file system).
fn temp_path_beside(path: &Path) -> io::Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "keyring path has no file name")
    })?;
    let mut suffix = [0u8; 4];
    SystemRandom::new()
        .fill(&mut suffix)
        .map_err(|_| io::Error::other("random source failed"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}", HEXLOWER.encode(&suffix)));
    Ok(parent_dir(path).join(tmp_name))
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn io_error(path: &Path, source: io::Error) -> KeyringError {
    KeyringError::Io {
        path: path.to_owned(),
        source,
    }
}

fn invalid(path: &Path, reason: String) -> KeyringError {
    KeyringError::Invalid {
        path: path.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::from_unix_seconds;

    const T0: i64 = 1_795_000_000;

    fn mode_of(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn created_file_is_0600_and_reloads_to_the_same_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyring.json");
        let created = Keyring::load_or_create(&path, from_unix_seconds(T0)).unwrap();
        assert_eq!(mode_of(&path), 0o600);
        let loaded = Keyring::load_or_create(&path, from_unix_seconds(T0 + 10)).unwrap();
        assert_eq!(loaded.keys(), created.keys());
        assert_eq!(loaded.keys()[0].created_at, T0);
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(json["version"], 1);
    }

    #[test]
    fn world_readable_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyring.json");
        Keyring::load_or_create(&path, from_unix_seconds(T0)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Keyring::load_or_create(&path, from_unix_seconds(T0)).unwrap_err();
        assert!(
            matches!(err, KeyringError::TooOpen { mode: 0o644, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("0644"), "{err}");
        assert!(matches!(
            Keyring::load(&path),
            Err(KeyringError::TooOpen { .. })
        ));
    }

    #[test]
    fn read_only_owner_file_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyring.json");
        Keyring::load_or_create(&path, from_unix_seconds(T0)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        Keyring::load(&path).unwrap();
    }

    #[test]
    fn rotation_retires_the_old_key_for_the_longest_session_and_persists() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyring.json");
        let mut keyring = Keyring::load_or_create(&path, from_unix_seconds(T0)).unwrap();
        let old = keyring.current_key_id();
        keyring.rotate(&path, from_unix_seconds(T0 + 100)).unwrap();
        let keys = keyring.keys();
        assert_eq!(keys.len(), 2);
        assert_ne!(keys[0].id, old);
        assert_eq!(keys[0].retire_after, None);
        assert_eq!(keys[1].id, old);
        assert_eq!(keys[1].retire_after, Some(T0 + 100 + 129_600));
        assert_eq!(Keyring::load(&path).unwrap().keys(), keys);
        assert_eq!(mode_of(&path), 0o600);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    #[test]
    fn prune_keeps_keys_until_retire_after_inclusive() {
        let mut keyring = Keyring::generate(from_unix_seconds(T0)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        keyring.rotate(&path, from_unix_seconds(T0)).unwrap();
        let retire_after = T0 + 129_600;
        assert_eq!(keyring.prune(from_unix_seconds(retire_after)), 0);
        assert_eq!(keyring.prune(from_unix_seconds(retire_after + 1)), 1);
        assert_eq!(keyring.keys().len(), 1);
    }

    #[test]
    fn rotation_keeps_retired_keys_until_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        let mut keyring = Keyring::generate(from_unix_seconds(T0)).unwrap();
        let first = keyring.current_key_id();
        keyring.rotate(&path, from_unix_seconds(T0)).unwrap();
        let second = keyring.current_key_id();
        keyring
            .rotate(&path, from_unix_seconds(T0 + 200_000))
            .unwrap();
        assert_eq!(
            keyring.keys().len(),
            3,
            "a user secret may still need the first"
        );
        assert!(
            !keyring
                .remove_retired(&path, &keyring.current_key_id())
                .unwrap()
        );
        assert!(!keyring.remove_retired(&path, "00000000").unwrap());
        assert!(keyring.remove_retired(&path, &first).unwrap());
        let ids: Vec<String> = keyring.keys().into_iter().map(|k| k.id).collect();
        assert_eq!(ids[1..], [second]);
        assert_eq!(Keyring::load(&path).unwrap().keys(), keyring.keys());
        assert_eq!(mode_of(&path), 0o600);
        let shared = SharedKeyring::new(Keyring::generate(from_unix_seconds(T0)).unwrap());
        shared.reload(&path).unwrap();
        assert_eq!(shared.snapshot().keys(), keyring.keys());
    }

    #[test]
    fn unsupported_version_and_bad_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        let write = |text: &str| {
            let _ = std::fs::remove_file(&path);
            write_new_private(&path, text.as_bytes()).unwrap();
        };
        write(r#"{"version":2,"current":{}}"#);
        assert!(matches!(
            Keyring::load(&path),
            Err(KeyringError::UnsupportedVersion { version: 2, .. })
        ));
        write(r#"{"version":1,"current":{"id":"0a0b0c0d","key":"AAAA","created_at":1}}"#);
        assert!(matches!(
            Keyring::load(&path),
            Err(KeyringError::Invalid { .. })
        ));
        let key = BASE64.encode([7u8; KEY_LEN]);
        write(&format!(
            r#"{{"version":1,"current":{{"id":"0a0b0c0d","key":"{key}","created_at":1}},
                "retired":[{{"id":"0a0b0c0d","key":"{key}","created_at":0,"retire_after":5}}]}}"#
        ));
        let err = Keyring::load(&path).unwrap_err();
        assert!(err.to_string().contains("duplicate"), "{err}");
        write(&format!(
            r#"{{"version":1,"current":{{"id":"0a0b0c0d","key":"{key}","created_at":1}}}}"#
        ));
        assert_eq!(Keyring::load(&path).unwrap().current_key_id(), "0a0b0c0d");
    }

    /// Sealed under a KEK, the keyring comes back whole (current first, retired keys with
    /// their retire-after); another KEK, a second current key or none is refused.
    #[test]
    fn a_keyring_sealed_under_a_kek_opens_under_that_kek_only() {
        let dir = tempfile::tempdir().unwrap();
        let kek_file = dir.path().join("kek");
        Kek::create_file(&kek_file).unwrap();
        let kek = Kek::load(&kek_file).unwrap();
        let keyring = Keyring::generate(from_unix_seconds(T0))
            .unwrap()
            .rotated(from_unix_seconds(T0 + 10))
            .unwrap();
        let sealed = keyring.seal_under(&kek).unwrap();
        assert_eq!(sealed.len(), 2);
        assert_eq!(sealed[0].retire_after, None);
        assert_eq!(sealed[0].id, keyring.current_key_id());
        let opened = Keyring::open_sealed(&sealed, &kek).unwrap();
        assert_eq!(opened.keys(), keyring.keys());
        let material = BASE64
            .decode(KeyFile::from_key(&keyring.current).key)
            .unwrap();
        assert!(
            !sealed
                .iter()
                .any(|k| k.sealed.windows(KEY_LEN).any(|w| w == material.as_slice())),
            "no key material in clear"
        );
        assert!(!format!("{sealed:?}").contains("sealed:"));

        let other_file = dir.path().join("other");
        Kek::create_file(&other_file).unwrap();
        let err = Keyring::open_sealed(&sealed, &Kek::load(&other_file).unwrap()).unwrap_err();
        assert!(
            matches!(
                err,
                KeyringError::Kek(super::super::kek::KekError::WrongKek { .. })
            ),
            "{err}"
        );
        let mut two_current = sealed.clone();
        two_current[1].retire_after = None;
        assert!(Keyring::open_sealed(&two_current, &kek).is_err());
        assert!(
            Keyring::open_sealed(&sealed[1..], &kek).is_err(),
            "no current key"
        );
        let mut swapped_ids = sealed.clone();
        swapped_ids[0].id.clone_from(&sealed[1].id);
        swapped_ids[1].id.clone_from(&sealed[0].id);
        assert!(
            Keyring::open_sealed(&swapped_ids, &kek).is_err(),
            "a key opens under its own id only"
        );
    }

    #[test]
    fn debug_never_shows_key_material() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        let keyring = Keyring::load_or_create(&path, from_unix_seconds(T0)).unwrap();
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let material = json["current"]["key"].as_str().unwrap().to_owned();
        let shown = format!("{keyring:?}");
        let shown = format!("{shown} {:?}", SharedKeyring::new(keyring));
        assert!(!shown.contains(&material), "{shown}");
        assert!(shown.contains(json["current"]["id"].as_str().unwrap()));
    }

    #[test]
    fn shared_keyring_replacement_leaves_snapshots_intact() {
        let shared = SharedKeyring::new(Keyring::generate(from_unix_seconds(T0)).unwrap());
        let before = shared.snapshot();
        shared.replace(Keyring::generate(from_unix_seconds(T0)).unwrap());
        assert_ne!(before.current_key_id(), shared.snapshot().current_key_id());
    }
}
