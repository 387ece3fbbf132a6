//! Sealed session tokens. (Being implemented.)
#[derive(Debug, Clone)]
pub struct SessionClaims;
#[derive(Debug, thiserror::Error)]
#[error("invalid session token")]
pub struct UnsealError;
