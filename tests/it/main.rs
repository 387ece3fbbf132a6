//! The integration tests: one binary, one module per area. Add modules here, not files in tests/.

mod architecture;
mod audit;
mod browser;
mod check_config;
mod cli;
mod cluster;
mod hostile;
mod http;
mod lifecycle;
mod metrics;
mod oidc;
mod portal;
mod portal_acs;
mod portal_login;
mod portal_saml;
mod postgres;
mod reload;
mod saml;
mod saml_signer;
mod sso_login;
mod sso_oidc;
mod sts;
mod support;
mod tls;
mod users;
