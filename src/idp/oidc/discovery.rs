//! OpenID Connect Discovery 1.0: the provider metadata document, read only for `jwks_uri`.

use super::fetch::{FetchError, Fetcher, check_url};

/// Discovery documents are small; anything larger is not one.
const DISCOVERY_LIMIT: usize = 64 * 1024;

/// Why the provider metadata gave no usable `jwks_uri`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DiscoveryError {
    #[error("discovery: {0}")]
    Fetch(#[from] FetchError),
    #[error("discovery document is not provider metadata: {0}")]
    NotMetadata(String),
    #[error("discovery document names issuer {found:?}, not {expected:?}")]
    IssuerMismatch { expected: String, found: String },
    #[error("discovery document's jwks_uri: {0}")]
    JwksUri(FetchError),
}

/// The members of the provider metadata this daemon uses (Discovery §3).
#[derive(serde::Deserialize)]
struct ProviderMetadata {
    issuer: String,
    jwks_uri: String,
}

/// Where the provider metadata of `issuer` lives (Discovery §4): the issuer without a trailing
/// `/`, then `/.well-known/openid-configuration`.
pub(crate) fn metadata_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// Fetch the provider metadata of `issuer` and return its `jwks_uri`.
pub(crate) async fn discover_jwks_uri(
    fetcher: &Fetcher,
    issuer: &str,
) -> Result<String, DiscoveryError> {
    let fetched = fetcher.get(&metadata_url(issuer), DISCOVERY_LIMIT).await?;
    jwks_uri_from_metadata(&fetched.body, issuer, fetcher.allows_http())
}

/// Check the metadata document and take its `jwks_uri`:
/// 1. it is a JSON object with string `issuer` and `jwks_uri` (Discovery §3);
/// 2. `issuer` is identical to the configured issuer, byte for byte (Discovery §4.3: otherwise
///    the data "MUST NOT be used");
/// 3. `jwks_uri` is an https URL, or http when the IdP is configured `insecure_http`.
fn jwks_uri_from_metadata(
    body: &[u8],
    issuer: &str,
    allow_http: bool,
) -> Result<String, DiscoveryError> {
    let metadata: ProviderMetadata =
        serde_json::from_slice(body).map_err(|e| DiscoveryError::NotMetadata(e.to_string()))?;
    if metadata.issuer != issuer {
        return Err(DiscoveryError::IssuerMismatch {
            expected: issuer.to_owned(),
            found: metadata.issuer,
        });
    }
    check_url(&metadata.jwks_uri, allow_http).map_err(DiscoveryError::JwksUri)?;
    Ok(metadata.jwks_uri)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ISSUER: &str = "https://idp.example/tenant";

    fn document(issuer: &str, jwks_uri: &str) -> Vec<u8> {
        json!({"issuer": issuer, "jwks_uri": jwks_uri, "response_types_supported": ["id_token"]})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn metadata_url_drops_a_trailing_slash() {
        assert_eq!(
            metadata_url("https://idp.example/tenant/"),
            "https://idp.example/tenant/.well-known/openid-configuration"
        );
        assert_eq!(
            metadata_url("https://accounts.google.com"),
            "https://accounts.google.com/.well-known/openid-configuration"
        );
    }

    #[test]
    fn takes_jwks_uri_when_the_issuer_matches() {
        let uri = jwks_uri_from_metadata(
            &document(ISSUER, "https://keys.example/jwks"),
            ISSUER,
            false,
        );
        assert_eq!(uri.expect("usable"), "https://keys.example/jwks");
    }

    #[test]
    fn issuer_must_match_byte_for_byte() {
        for other in [
            "https://idp.example/tenant/",
            "https://IDP.example/tenant",
            "https://evil.example",
        ] {
            let result = jwks_uri_from_metadata(
                &document(other, "https://keys.example/jwks"),
                ISSUER,
                false,
            );
            assert!(
                matches!(result, Err(DiscoveryError::IssuerMismatch { .. })),
                "{other}"
            );
        }
    }

    #[test]
    fn jwks_uri_must_be_https_unless_insecure_http() {
        let doc = document(ISSUER, "http://keys.example/jwks");
        assert!(matches!(
            jwks_uri_from_metadata(&doc, ISSUER, false),
            Err(DiscoveryError::JwksUri(FetchError::NotHttps(_)))
        ));
        assert!(jwks_uri_from_metadata(&doc, ISSUER, true).is_ok());
    }

    #[test]
    fn rejects_documents_without_the_members() {
        let no_jwks = json!({"issuer": ISSUER}).to_string().into_bytes();
        assert!(matches!(
            jwks_uri_from_metadata(&no_jwks, ISSUER, false),
            Err(DiscoveryError::NotMetadata(_))
        ));
        assert!(jwks_uri_from_metadata(b"<html></html>", ISSUER, false).is_err());
    }
}
