//! The parts of an HTTP request SigV4 covers, owned: the protocol adapter fills them in from
//! the request it received (STS endpoint) or the request a service describes (authorization
//! API).

use crate::creds::sigv4::SignedRequest;

#[derive(Clone)]
pub struct SignedParts {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    /// Hex SHA-256 of the body, or `UNSIGNED-PAYLOAD` where a service allows it.
    pub payload_sha256_hex: String,
}

impl SignedParts {
    /// The borrowed view the verifier reads.
    pub fn request(&self) -> SignedRequest<'_> {
        SignedRequest {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &self.headers,
            payload_sha256_hex: Some(&self.payload_sha256_hex),
        }
    }
}

impl std::fmt::Debug for SignedParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Headers and query carry the signature and the session token: never printed.
        f.debug_struct("SignedParts")
            .field("method", &self.method)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}
