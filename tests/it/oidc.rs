//! OIDC verifier against an in-process IdP (being written).
