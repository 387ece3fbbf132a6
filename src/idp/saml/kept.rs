//! The last good metadata of a `metadata_url`, kept in the daemon's state directory: a start
//! while the IdP is unreachable uses it instead of leaving the IdP without metadata.
//!
//! One file per provider and URL (`NAME-<hash of the URL>.xml`: a changed URL never picks up
//! the copy of the old one), the document exactly as served, written whole (a temporary file
//! then a rename) and readable by the daemon's user only. It is read as any fetched metadata is
//! ([`parse_metadata`]); its `validUntil`, if any, still applies.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::metadata::MAX_METADATA_LEN;
use super::{IdpMetadata, parse_metadata};

/// Where the copy of provider `name`'s metadata from `url` is kept under `dir`.
pub fn kept_copy_path(dir: &Path, name: &str, url: &str) -> PathBuf {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, url.as_bytes());
    let hash = data_encoding::HEXLOWER.encode(&digest.as_ref()[..8]);
    dir.join(format!("{name}-{hash}.xml"))
}

/// Keep `xml` (metadata just fetched and accepted) as the copy at `path`.
pub fn keep(path: &Path, xml: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let temporary = path.with_extension("xml.new");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)?;
    file.write_all(xml.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}

/// The copy kept at `path` and when it was written; `Ok(None)` when there is none.
pub fn read_kept(path: &Path) -> Result<Option<(IdpMetadata, SystemTime)>, String> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let written = file
        .metadata()
        .and_then(|m| m.modified())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut xml = String::new();
    std::io::Read::read_to_string(
        &mut std::io::Read::take(
            &file,
            u64::try_from(MAX_METADATA_LEN).unwrap_or(u64::MAX) + 1,
        ),
        &mut xml,
    )
    .map_err(|e| format!("{}: {e}", path.display()))?;
    let metadata = parse_metadata(&xml).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Some((metadata, written)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const METADATA: &str = include_str!("../../../tests/fixtures/saml/idp-metadata.xml");

    #[test]
    fn a_kept_copy_is_private_and_read_back() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let kept = dir.path().join("saml-metadata");
        let path = kept_copy_path(&kept, "corp", "https://idp.example.com/metadata");
        assert_eq!(read_kept(&path).unwrap(), None, "nothing kept yet");
        keep(&path, METADATA).unwrap();
        let (metadata, _written) = read_kept(&path).unwrap().unwrap();
        assert_eq!(metadata, parse_metadata(METADATA).unwrap());
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&kept), 0o700);
        assert_eq!(mode(&path), 0o600);
        assert!(!path.with_extension("xml.new").exists());
    }

    #[test]
    fn another_url_has_another_copy() {
        let dir = Path::new("/state");
        let a = kept_copy_path(dir, "corp", "https://idp.example.com/metadata");
        let b = kept_copy_path(dir, "corp", "https://idp.example.com/other");
        assert_ne!(a, b);
        assert!(a.starts_with(dir));
        assert!(
            a.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("corp-")
        );
    }

    #[test]
    fn a_damaged_copy_is_an_error_not_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("corp.xml");
        std::fs::write(&path, &METADATA[..METADATA.len() / 2]).unwrap();
        assert!(read_kept(&path).is_err());
    }
}
