//! `idp-configs/NAME.toml` with `kind = "saml"` -> [`SamlIdpSettings`]: the metadata read from
//! its file or fetched from its URL, the allow-list of signature algorithms, the endpoints.

use std::path::Path;
use std::time::Duration;

use super::{Problems, file, file_stem};
use crate::clock::iso8601;
use crate::idp::saml::{
    self, DEFAULT_METADATA_REFRESH, DecryptionKey, IdpMetadata, Loaded, MAX_METADATA_REFRESH,
    MIN_METADATA_REFRESH, MetadataSource, RemoteMetadata, SamlIdpSettings, SignatureAlgorithm,
};

/// Validate one SAML IdP file, every problem reported with its field:
/// 1. `name` (default: the file stem) is 1-128 characters of `[A-Za-z0-9._-]`;
/// 2. exactly one of `metadata_file` (relative to this file) and `metadata_url`; the metadata is
///    read, or fetched now, and must be an IdP's with at least one signing certificate. A URL
///    that cannot be fetched is a warning, not an error (one IdP down must not keep the daemon
///    from starting): the copy kept in `kept_dir` from an earlier fetch is used, or the IdP
///    starts without metadata and refuses its responses until a refresh brings some;
/// 3. `insecure_http` and `metadata_refresh_seconds` only with `metadata_url`; the interval
///    within 5..=86400 seconds;
/// 4. `acs_urls` non-empty; `clock_skew_seconds` at most 300;
/// 5. `algorithms` known names or URIs, SHA-1 ones only with `allow_sha1`;
/// 6. `decryption_key_file` (relative to this file), if given, an RSA private key in PKCS#8
///    PEM; a file others than its owner may read is used, with a warning.
///
/// A `validUntil` that has passed is not judged here (no clock): the verifier refuses the IdP's
/// responses while it is so, and the daemon warns at start-up.
pub(super) fn validate(
    path: &Path,
    raw: file::RawSaml,
    kept_dir: &Path,
    problems: &mut Problems,
) -> Option<SamlIdpSettings> {
    let before = problems.error_count();
    let name = raw.name.clone().unwrap_or_else(|| file_stem(path));
    if name.is_empty()
        || name.len() > 128
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        problems.add(
            path,
            Some("name"),
            "must be 1-128 characters of [A-Za-z0-9._-]",
        );
    }
    let mut source = metadata_source(path, &raw, problems);
    let metadata = source.as_mut().and_then(|(source, field)| match source {
        MetadataSource::Url(remote) => {
            remote.kept_copy = Some(saml::kept_copy_path(kept_dir, &name, &remote.url));
            Some(fetch_or_kept(path, remote, problems))
        }
        other => read_metadata(other)
            .map(Some)
            .map_err(|e| problems.add(path, Some(field), e))
            .ok(),
    });
    let acs_urls = raw
        .acs_urls
        .unwrap_or_else(|| vec![saml::DEFAULT_ACS_URL.to_owned()]);
    if acs_urls.is_empty() || acs_urls.iter().any(String::is_empty) {
        problems.add(path, Some("acs_urls"), "must list at least one URL");
    }
    let clock_skew = Duration::from_secs(raw.clock_skew_seconds);
    if clock_skew > saml::MAX_CLOCK_SKEW {
        problems.add(path, Some("clock_skew_seconds"), "must be at most 300");
    }
    let algorithms = algorithms(path, raw.algorithms.as_deref(), raw.allow_sha1, problems);
    let decryption_key = raw.decryption_key_file.as_deref().and_then(|file| {
        decryption_key(path, file)
            .map_err(|e| problems.add(path, Some("decryption_key_file"), e))
            .ok()
    });
    let ((metadata_source, field), metadata) = (source?, metadata?);
    if problems.error_count() != before {
        return None;
    }
    let settings = SamlIdpSettings {
        name,
        metadata,
        metadata_source,
        sp_entity_id: raw
            .sp_entity_id
            .unwrap_or_else(|| saml::DEFAULT_SP_ENTITY_ID.to_owned()),
        portal_entity_id: None,
        acs_urls,
        algorithms,
        clock_skew,
        decryption_key,
    };
    // The verifier's own checks (certificates decode, ...), reported here rather than at start.
    if settings.metadata.is_some()
        && let Err(e) = saml::SamlVerifier::new(settings.clone())
    {
        problems.add(path, Some(field), e.to_string());
        return None;
    }
    Some(settings)
}

/// Where the metadata comes from, and the field to report its problems under.
fn metadata_source(
    path: &Path,
    raw: &file::RawSaml,
    problems: &mut Problems,
) -> Option<(MetadataSource, &'static str)> {
    let remote_only = |field: &str, problems: &mut Problems| {
        problems.add(path, Some(field), "applies to metadata_url only");
    };
    match (&raw.metadata_file, &raw.metadata_url) {
        (Some(file), None) => {
            if raw.insecure_http {
                remote_only("insecure_http", problems);
            }
            if raw.metadata_refresh_seconds.is_some() {
                remote_only("metadata_refresh_seconds", problems);
            }
            // Relative to the IdP file, which it sits beside.
            let file = path.parent().unwrap_or(Path::new(".")).join(file);
            Some((MetadataSource::File(file), "metadata_file"))
        }
        (None, Some(url)) => {
            let refresh_interval = raw
                .metadata_refresh_seconds
                .map_or(DEFAULT_METADATA_REFRESH, Duration::from_secs);
            if !(MIN_METADATA_REFRESH..=MAX_METADATA_REFRESH).contains(&refresh_interval) {
                problems.add(
                    path,
                    Some("metadata_refresh_seconds"),
                    format!(
                        "must be {}..={} seconds",
                        MIN_METADATA_REFRESH.as_secs(),
                        MAX_METADATA_REFRESH.as_secs()
                    ),
                );
            }
            if let Err(why) = check_metadata_url(url, raw.insecure_http) {
                problems.add(path, Some("metadata_url"), why);
                return None;
            }
            let remote = RemoteMetadata {
                url: url.clone(),
                insecure_http: raw.insecure_http,
                refresh_interval,
                kept_copy: None,
                loaded: Loaded::Nothing("not fetched yet".into()),
            };
            Some((MetadataSource::Url(remote), "metadata_url"))
        }
        (Some(_), Some(_)) => {
            problems.add(
                path,
                Some("metadata_url"),
                "give metadata_file or metadata_url, not both",
            );
            None
        }
        (None, None) => {
            problems.add(
                path,
                Some("metadata_file"),
                "give metadata_file or metadata_url",
            );
            None
        }
    }
}

/// A metadata URL: https (http only with `insecure_http`), a host, no credentials (the URL
/// appears in logs) and no fragment. A query is allowed: some IdPs serve per-application
/// metadata under one (`?appid=...`).
fn check_metadata_url(value: &str, insecure_http: bool) -> Result<(), String> {
    let url = reqwest::Url::parse(value).map_err(|e| format!("not a URL: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if insecure_http => {}
        "http" => {
            return Err(
                "must be an https:// URL (set insecure_http = true only for local test IdPs)"
                    .to_owned(),
            );
        }
        _ => return Err("must be an https:// URL".to_owned()),
    }
    if url.host_str().is_none() || url.fragment().is_some() {
        return Err("must have a host and no fragment".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials".to_owned());
    }
    Ok(())
}

fn read_metadata(source: &MetadataSource) -> Result<IdpMetadata, String> {
    match source {
        MetadataSource::File(file) => {
            let xml = std::fs::read_to_string(file).map_err(|e| format!("cannot read: {e}"))?;
            saml::parse_metadata(&xml).map_err(|e| e.to_string())
        }
        MetadataSource::Url(_) | MetadataSource::Inline => Err("no metadata given".to_owned()),
    }
}

/// The metadata of `remote`: fetched now, else the copy kept from an earlier fetch (a
/// warning), else none (a warning: the IdP refuses its responses until a refresh succeeds).
/// Records in `remote.loaded` which it was.
fn fetch_or_kept(
    path: &Path,
    remote: &mut RemoteMetadata,
    problems: &mut Problems,
) -> Option<IdpMetadata> {
    let error = match saml::fetch_metadata_blocking(&remote.url, remote.insecure_http) {
        Ok((metadata, xml)) => {
            remote.loaded = Loaded::Fetched(xml);
            return Some(metadata);
        }
        Err(e) => e.to_string(),
    };
    let kept = remote
        .kept_copy
        .as_deref()
        .map(|file| (file, saml::read_kept(file)));
    match kept {
        Some((file, Ok(Some((metadata, written))))) => {
            problems.warn(
                path,
                Some("metadata_url"),
                format!(
                    "{error}; the copy kept from an earlier fetch ({}, written {}) is used until a fetch succeeds",
                    file.display(),
                    iso8601(written)
                ),
            );
            remote.loaded = Loaded::KeptCopy(error);
            Some(metadata)
        }
        other => {
            let kept = match other {
                Some((file, Err(why))) => {
                    format!("the copy kept at {} is unusable: {why}", file.display())
                }
                _ => "no copy of earlier metadata is kept".to_owned(),
            };
            problems.warn(
                path,
                Some("metadata_url"),
                format!(
                    "{error}; {kept}: the IdP's responses are refused (IDPCommunicationError) until a fetch succeeds (retried with backoff)"
                ),
            );
            remote.loaded = Loaded::Nothing(error);
            None
        }
    }
}

/// The decryption key in `file` (relative to the IdP file at `path`). Errors never quote it.
fn decryption_key(path: &Path, file: &str) -> Result<DecryptionKey, String> {
    use std::os::unix::fs::PermissionsExt as _;
    let file = path.parent().unwrap_or(Path::new(".")).join(file);
    let mode = std::fs::metadata(&file)
        .map_err(|e| format!("cannot read: {e}"))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        tracing::warn!(
            file = %file.display(),
            mode = format!("{:o}", mode & 0o777),
            "the SAML decryption key is readable by others than its owner: chmod 600 it"
        );
    }
    let pem =
        zeroize::Zeroizing::new(std::fs::read(&file).map_err(|e| format!("cannot read: {e}"))?);
    DecryptionKey::from_pem(&pem).map_err(|e| e.to_string())
}

/// The signature algorithms: the configured list (short names or XML-DSig URIs), or the
/// default; SHA-1 methods only with `allow_sha1`.
fn algorithms(
    path: &Path,
    names: Option<&[String]>,
    allow_sha1: bool,
    problems: &mut Problems,
) -> Vec<SignatureAlgorithm> {
    let Some(names) = names else {
        let mut list = SignatureAlgorithm::DEFAULT.to_vec();
        if allow_sha1 {
            list.extend(SignatureAlgorithm::SHA1);
        }
        return list;
    };
    if names.is_empty() {
        problems.add(
            path,
            Some("algorithms"),
            "must list at least one algorithm (or be left out for the default)",
        );
    }
    let mut list = Vec::new();
    for name in names {
        match SignatureAlgorithm::parse(name) {
            Some(a) if a.is_sha1() && !allow_sha1 => problems.add(
                path,
                Some("algorithms"),
                format!("{name:?} is a SHA-1 method: set allow_sha1 = true to accept it"),
            ),
            Some(a) if !list.contains(&a) => list.push(a),
            Some(_) => {}
            None => {
                let known: Vec<&str> = SignatureAlgorithm::ALL.iter().map(|a| a.name()).collect();
                problems.add(
                    path,
                    Some("algorithms"),
                    format!(
                        "{name:?} is not a known signature algorithm (known: {}, or their XML-DSig URIs)",
                        known.join(", ")
                    ),
                );
            }
        }
    }
    list
}
