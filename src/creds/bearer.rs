//! Bearer secrets checked against the SHA-256 the configuration holds (the secret itself is
//! never in a file).

use subtle::ConstantTimeEq as _;

/// Whether `secret` hashes to `sha256`, compared in constant time.
pub fn bearer_matches(secret: &str, sha256: &[u8; 32]) -> bool {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
    bool::from(sha256.ct_eq(digest.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_secret_of_the_digest_matches() {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"s3cret");
        let sha256: [u8; 32] = digest.as_ref().try_into().unwrap();
        assert!(bearer_matches("s3cret", &sha256));
        assert!(!bearer_matches("s3cre", &sha256));
        assert!(!bearer_matches("", &sha256));
    }
}
