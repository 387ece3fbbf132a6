//! In-process OIDC IdP serving discovery and JWKS (being written).
