//! `idp-configs/NAME.toml` with `kind = "oidc"` -> [`OidcSettings`].

use std::path::Path;
use std::time::Duration;

use super::{Problems, file, file_stem};
use crate::arn::oidc_provider_of_issuer;
use crate::idp::oidc::{ALLOWED_ALGORITHMS, OidcKeySource, OidcSettings};

fn check_url(
    path: &Path,
    field: &str,
    value: &str,
    insecure_http: bool,
    problems: &mut Problems,
) -> bool {
    let url = match reqwest::Url::parse(value) {
        Ok(u) => u,
        Err(e) => {
            problems.add(path, Some(field), format!("not a URL: {e}"));
            return false;
        }
    };
    let scheme_ok = url.scheme() == "https" || (insecure_http && url.scheme() == "http");
    if !scheme_ok {
        let hint = if url.scheme() == "http" {
            " (set insecure_http = true only for local test IdPs)"
        } else {
            ""
        };
        problems.add(path, Some(field), format!("must be an https:// URL{hint}"));
        return false;
    }
    if url.host_str().is_none() || url.query().is_some() || url.fragment().is_some() {
        problems.add(
            path,
            Some(field),
            "must have a host and no query or fragment",
        );
        return false;
    }
    true
}

pub(super) fn validate(
    path: &Path,
    raw: file::RawOidc,
    problems: &mut Problems,
) -> Option<OidcSettings> {
    let before = problems.error_count();
    if check_url(path, "issuer", &raw.issuer, raw.insecure_http, problems)
        && raw.issuer.ends_with('/')
    {
        // Both spellings exist (Auth0's issuers end in '/', Google's do not), and `iss` must
        // be the issuer exactly: worth a second look, not a mistake.
        problems.note(
            path,
            Some("issuer"),
            format!(
                "ends with '/': tokens must carry exactly this iss (compare the issuer of its \
                 /.well-known/openid-configuration), and trust policies name the provider {:?}",
                oidc_provider_of_issuer(&raw.issuer)
            ),
        );
    }
    if raw.audiences.is_empty() || raw.audiences.len() > 100 {
        problems.add(path, Some("audiences"), "must list 1 to 100 client ids");
    }
    if raw.audiences.iter().any(|a| a.is_empty() || a.len() > 255) {
        problems.add(
            path,
            Some("audiences"),
            "a client id must be 1 to 255 characters",
        );
    }
    let mut algorithms = Vec::new();
    for name in &raw.algorithms {
        match ALLOWED_ALGORITHMS.iter().find(|(n, _)| n == name) {
            Some((_, alg)) => algorithms.push(*alg),
            None => problems.add(
                path,
                Some("algorithms"),
                format!(
                    "{name:?} is not allowed (allowed: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA)"
                ),
            ),
        }
    }
    if raw.algorithms.is_empty() {
        problems.add(path, Some("algorithms"), "must list at least one algorithm");
    }
    if raw.leeway_seconds > 300 {
        problems.add(path, Some("leeway_seconds"), "must be at most 300");
    }
    let keys = match (&raw.jwks_uri, &raw.jwks_file) {
        (Some(_), Some(_)) => {
            problems.add(
                path,
                Some("jwks_file"),
                "give jwks_uri or jwks_file, not both",
            );
            OidcKeySource::Discovery
        }
        (Some(uri), None) => {
            check_url(path, "jwks_uri", uri, raw.insecure_http, problems);
            OidcKeySource::JwksUri(uri.clone())
        }
        (None, Some(file)) => {
            // Relative to the IdP file, which it sits beside.
            let file = path.parent().unwrap_or(Path::new(".")).join(file);
            match std::fs::read_to_string(&file) {
                Ok(text) => {
                    if serde_json::from_str::<jsonwebtoken::jwk::JwkSet>(&text).is_err() {
                        problems.add(path, Some("jwks_file"), "is not a JWK Set");
                    }
                }
                Err(e) => problems.add(path, Some("jwks_file"), format!("cannot read: {e}")),
            }
            OidcKeySource::JwksFile(file)
        }
        (None, None) => OidcKeySource::Discovery,
    };
    if problems.error_count() != before {
        return None;
    }
    Some(OidcSettings {
        name: file_stem(path),
        provider: oidc_provider_of_issuer(&raw.issuer),
        issuer: raw.issuer,
        audiences: raw.audiences,
        algorithms,
        keys,
        leeway: Duration::from_secs(raw.leeway_seconds),
        insecure_http: raw.insecure_http,
    })
}
