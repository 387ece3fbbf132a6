//! One OIDC identity provider's settings, as the configuration layer validates them from
//! `idp-configs/NAME.toml` (plain data).

use std::path::PathBuf;
use std::time::Duration;

use jsonwebtoken::Algorithm;

/// Where an OIDC IdP's signing keys come from.
#[derive(Debug, Clone, PartialEq)]
pub enum OidcKeySource {
    /// `issuer/.well-known/openid-configuration`, then its `jwks_uri`.
    Discovery,
    /// A configured JWKS URL (no discovery).
    JwksUri(String),
    /// A JWKS file read once at start-up.
    JwksFile(PathBuf),
    /// Keys given in memory (the built-in development issuer).
    Static(jsonwebtoken::jwk::JwkSet),
}

#[derive(Debug, Clone, PartialEq)]
pub struct OidcSettings {
    /// The file stem of `idp-configs/NAME.toml`.
    pub name: String,
    /// Compared byte for byte with `iss`.
    pub issuer: String,
    /// The issuer without its scheme: the provider name in trust policies and condition keys
    /// ([`crate::arn::oidc_provider_of_issuer`]).
    pub provider: String,
    pub audiences: Vec<String>,
    pub algorithms: Vec<Algorithm>,
    pub keys: OidcKeySource,
    pub leeway: Duration,
    /// `http://` allowed for the issuer and key URLs (tests and local IdPs only).
    pub insecure_http: bool,
}

/// Algorithms an IdP may be configured to accept. Never `none`, never HMAC.
pub const ALLOWED_ALGORITHMS: &[(&str, Algorithm)] = &[
    ("RS256", Algorithm::RS256),
    ("RS384", Algorithm::RS384),
    ("RS512", Algorithm::RS512),
    ("PS256", Algorithm::PS256),
    ("PS384", Algorithm::PS384),
    ("PS512", Algorithm::PS512),
    ("ES256", Algorithm::ES256),
    ("ES384", Algorithm::ES384),
    ("EdDSA", Algorithm::EdDSA),
];
