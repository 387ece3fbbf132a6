//! Access key ids and secret access keys, in the shapes AWS SDKs expect.
//!
//! Both come straight from the operating system's CSPRNG (aws-lc-rs `SystemRandom`): an access
//! key id is an identifier that ends up in logs, a secret is a signing key, and neither may be
//! predictable from earlier ones.

use aws_lc_rs::rand::SecureRandom;

use super::{MintError, Secret};

/// Characters of a secret access key: the base64 alphabet, as AWS secrets use.
const SECRET_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Length of a secret access key (AWS: 40).
pub const SECRET_ACCESS_KEY_LEN: usize = 40;

/// Length of an access key id (AWS: 20, prefix included).
pub const ACCESS_KEY_ID_LEN: usize = 20;

/// Random bytes behind the 16 base32 characters of an access key id (80 bits, no padding).
const ACCESS_KEY_ID_RANDOM_BYTES: usize = 10;

/// What an id names; AWS tells access key ids and unique ids apart by prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessKeyPrefix {
    /// `ASIA`: temporary credentials, always paired with a session token.
    Temporary,
    /// `AKIA`: long-term user keys (GetSessionToken callers).
    LongTerm,
    /// `AROA`: a role's unique id.
    Role,
    /// `AIDA`: a user's unique id.
    User,
}

impl AccessKeyPrefix {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Temporary => "ASIA",
            Self::LongTerm => "AKIA",
            Self::Role => "AROA",
            Self::User => "AIDA",
        }
    }
}

/// A new access key id: the prefix and 16 random base32 characters (`A-Z2-7`), 20 in all.
pub fn new_access_key_id(
    prefix: AccessKeyPrefix,
    rng: &dyn SecureRandom,
) -> Result<String, MintError> {
    let mut bytes = [0u8; ACCESS_KEY_ID_RANDOM_BYTES];
    rng.fill(&mut bytes).map_err(|_| MintError::Random)?;
    let mut id = String::with_capacity(ACCESS_KEY_ID_LEN);
    id.push_str(prefix.as_str());
    id.push_str(&data_encoding::BASE32_NOPAD.encode(&bytes));
    Ok(id)
}

/// A new secret access key: 40 characters drawn uniformly from `[A-Za-z0-9+/]`.
pub fn new_secret_access_key(rng: &dyn SecureRandom) -> Result<Secret, MintError> {
    random_chars(SECRET_ALPHABET, SECRET_ACCESS_KEY_LEN, rng).map(Secret::new)
}

/// `len` characters drawn uniformly from `alphabet` (at most 256 symbols).
///
/// Rejection sampling: a byte is used only if it falls below the largest multiple of the
/// alphabet size, so `byte % size` favours no symbol. (For a 64-symbol alphabet nothing is ever
/// rejected; the rule keeps the function correct for any alphabet.)
fn random_chars(alphabet: &[u8], len: usize, rng: &dyn SecureRandom) -> Result<String, MintError> {
    let size = alphabet.len();
    let accept_below = 256 - 256 % size;
    let mut out = String::with_capacity(len);
    let mut pool = [0u8; 64];
    while out.len() < len {
        rng.fill(&mut pool).map_err(|_| MintError::Random)?;
        let accepted = pool
            .iter()
            .map(|&b| usize::from(b))
            .filter(|&b| b < accept_below);
        for b in accepted.take(len - out.len()) {
            out.push(char::from(alphabet[b % size]));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;

    #[test]
    fn access_key_ids_are_prefix_and_16_base32_chars() {
        let rng = SystemRandom::new();
        for prefix in [AccessKeyPrefix::Temporary, AccessKeyPrefix::LongTerm] {
            let id = new_access_key_id(prefix, &rng).unwrap();
            assert_eq!(id.len(), ACCESS_KEY_ID_LEN);
            assert!(id.starts_with(prefix.as_str()));
            assert!(
                id[4..]
                    .bytes()
                    .all(|c| c.is_ascii_uppercase() || (b'2'..=b'7').contains(&c)),
                "{id}"
            );
        }
    }

    #[test]
    fn access_key_ids_differ() {
        let rng = SystemRandom::new();
        let a = new_access_key_id(AccessKeyPrefix::Temporary, &rng).unwrap();
        let b = new_access_key_id(AccessKeyPrefix::Temporary, &rng).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn secrets_are_40_chars_of_the_base64_alphabet() {
        let rng = SystemRandom::new();
        let secret = new_secret_access_key(&rng).unwrap();
        assert_eq!(secret.expose().len(), SECRET_ACCESS_KEY_LEN);
        assert!(
            secret
                .expose()
                .bytes()
                .all(|c| SECRET_ALPHABET.contains(&c))
        );
    }

    #[test]
    fn secrets_use_the_whole_alphabet() {
        let rng = SystemRandom::new();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            seen.extend(new_secret_access_key(&rng).unwrap().expose().bytes());
        }
        assert_eq!(seen.len(), SECRET_ALPHABET.len());
    }

    #[test]
    fn sampling_a_non_power_of_two_alphabet_stays_inside_it() {
        let rng = SystemRandom::new();
        let out = random_chars(b"xyz", 300, &rng).unwrap();
        assert_eq!(out.len(), 300);
        assert!(out.bytes().all(|c| b"xyz".contains(&c)));
        assert!(b"xyz".iter().all(|c| out.as_bytes().contains(c)));
    }
}
