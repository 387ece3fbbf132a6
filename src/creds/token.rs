//! Sealed session tokens: the whole session, encrypted and authenticated under the keyring, so a
//! node verifies a request with no store lookup.
//!
//! Wire form, base64 (standard alphabet, padded):
//!
//! ```text
//! version (1 byte, = 1) | key id (4 bytes) | nonce (12 random bytes) | AES-256-GCM(postcard(claims)) | tag (16)
//! ```
//!
//! Version and key id are authenticated as associated data, so neither can be swapped. Nonces
//! are random: with 96-bit nonces one key should seal well under 2^32 tokens, which rotation
//! keeps far away.

use std::time::SystemTime;

use aws_lc_rs::aead::{Aad, MAX_TAG_LEN, NONCE_LEN, Nonce};
use aws_lc_rs::rand::SecureRandom;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::keyring::KEY_ID_LEN;
use super::{Keyring, MintError, Secret, Session};
use crate::clock::unix_seconds;

/// The token layout this code seals and opens.
pub const TOKEN_VERSION: u8 = 1;

/// The claims layout inside the token.
pub const CLAIMS_VERSION: u8 = 2;

/// Longest session token accepted or produced, in characters. Bounds the work an attacker can
/// cause with a forged token; a real session (2048-byte policy, a few tags) is far below it.
pub const MAX_SESSION_TOKEN_LEN: usize = 8 * 1024;

/// Version byte and key id: the authenticated, unencrypted header.
const HEADER_LEN: usize = 1 + KEY_ID_LEN;

/// Shortest well-formed token: header, nonce, tag (empty claims cannot occur, but need not).
const MIN_SEALED_LEN: usize = HEADER_LEN + NONCE_LEN + MAX_TAG_LEN;

/// Everything needed to verify a request made with these credentials, without the store.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionClaims {
    /// `CLAIMS_VERSION` at sealing time.
    pub version: u8,
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session: Session,
    /// Unix seconds.
    pub issued_at: i64,
    /// Unix seconds; the credentials are invalid from this instant on.
    pub expires_at: i64,
}

impl SessionClaims {
    /// Whether the session has expired at `now` (`expires_at` itself is already too late).
    pub fn is_expired(&self, now: SystemTime) -> bool {
        unix_seconds(now) >= self.expires_at
    }
}

impl std::fmt::Debug for SessionClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionClaims")
            .field("version", &self.version)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session", &self.session)
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Why a session token was refused. All of them mean "invalid token" to a client; the variants
/// are for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UnsealError {
    /// Too long, not base64, too short, or an unknown token version.
    #[error("malformed session token")]
    Malformed,
    /// Sealed by a key this keyring does not hold (another keyring, or pruned).
    #[error("session token sealed by an unknown key")]
    UnknownKey,
    /// Authentication failed (tampered, or a different key with the same id), or the opened
    /// claims are not ones this code writes.
    #[error("invalid session token")]
    Invalid,
}

/// Seal `claims` with the keyring's current key.
pub fn seal(
    keyring: &Keyring,
    claims: &SessionClaims,
    rng: &dyn SecureRandom,
) -> Result<String, MintError> {
    let mut sealed = postcard::to_stdvec(claims).map_err(|_| MintError::Seal)?;
    let encoded_len = base64_len(MIN_SEALED_LEN + sealed.len());
    if encoded_len > MAX_SESSION_TOKEN_LEN {
        return Err(MintError::TooLarge {
            max: MAX_SESSION_TOKEN_LEN,
        });
    }
    let (key_id, key) = keyring.sealing_key();
    let header = header(key_id);
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut nonce).map_err(|_| MintError::Random)?;
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(header),
        &mut sealed,
    )
    .map_err(|_| MintError::Seal)?;
    let mut token = Vec::with_capacity(HEADER_LEN + NONCE_LEN + sealed.len());
    token.extend_from_slice(&header);
    token.extend_from_slice(&nonce);
    token.extend_from_slice(&sealed);
    Ok(BASE64.encode(token))
}

/// Open a session token. Checks, in order: length bound, base64, minimum size, version byte, key
/// id known, AEAD tag, claims decode and version. Expiry is the caller's (`is_expired(now)`).
pub fn unseal(keyring: &Keyring, token: &str) -> Result<SessionClaims, UnsealError> {
    if token.len() > MAX_SESSION_TOKEN_LEN {
        return Err(UnsealError::Malformed);
    }
    let mut bytes = BASE64.decode(token).map_err(|_| UnsealError::Malformed)?;
    if bytes.len() < MIN_SEALED_LEN || bytes[0] != TOKEN_VERSION {
        return Err(UnsealError::Malformed);
    }
    let (header, rest) = bytes.split_at_mut(HEADER_LEN);
    let key = keyring
        .opening_key(&header[1..])
        .ok_or(UnsealError::UnknownKey)?;
    let (nonce, sealed) = rest.split_at_mut(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| UnsealError::Malformed)?;
    let plain = key
        .open_in_place(nonce, Aad::from(&*header), sealed)
        .map_err(|_| UnsealError::Invalid)?;
    decode_claims(plain)
}

/// Claims from opened bytes: exactly one postcard value of the current claims version.
fn decode_claims(plain: &[u8]) -> Result<SessionClaims, UnsealError> {
    match postcard::take_from_bytes::<SessionClaims>(plain) {
        Ok((claims, [])) if claims.version == CLAIMS_VERSION => Ok(claims),
        _ => Err(UnsealError::Invalid),
    }
}

fn header(key_id: &[u8; KEY_ID_LEN]) -> [u8; HEADER_LEN] {
    let mut header = [TOKEN_VERSION; HEADER_LEN];
    header[1..].copy_from_slice(key_id);
    header
}

/// Length of padded base64 for `n` bytes.
fn base64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use crate::creds::SessionKind;

    use aws_lc_rs::rand::SystemRandom;

    use super::*;
    use crate::clock::from_unix_seconds;
    use std::collections::BTreeMap;

    const T0: i64 = 1_795_000_000;

    fn claims() -> SessionClaims {
        SessionClaims {
            version: CLAIMS_VERSION,
            access_key_id: "ASIAEXAMPLEEXAMPLE22".into(),
            secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into()),
            session: Session {
                identity_arn: "arn:aws:iam::123456789012:role/ci".into(),
                identity_id: "AROAEXAMPLE".into(),
                caller_arn: "arn:aws:sts::123456789012:assumed-role/ci/build".into(),
                account_id: "123456789012".into(),
                session_name: "build".into(),
                source_identity: Some("alice".into()),
                provider: "token.actions.githubusercontent.com".into(),
                subject: "repo:org/repo:ref:refs/heads/main".into(),
                session_tags: BTreeMap::from([("team".into(), "infra".into())]),
                transitive_tag_keys: vec!["team".into()],
                session_policy: Some(r#"{"Version":"2012-10-17","Statement":[]}"#.into()),
                policy_arns: vec!["arn:aws:iam::aws:policy/ReadOnlyAccess".into()],
                kind: SessionKind::AssumedRole,
                mfa_authenticated_at: None,
            },
            issued_at: T0,
            expires_at: T0 + 3600,
        }
    }

    fn keyring() -> Keyring {
        Keyring::generate(from_unix_seconds(T0)).unwrap()
    }

    fn seal_one(keyring: &Keyring) -> String {
        seal(keyring, &claims(), &SystemRandom::new()).unwrap()
    }

    /// A keyring file with a chosen id and key, to build look-alike keyrings.
    fn keyring_with(id: &str, key_byte: u8) -> Keyring {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        let key = BASE64.encode([key_byte; 32]);
        write!(
            file,
            r#"{{"version":1,"current":{{"id":"{id}","key":"{key}","created_at":{T0}}}}}"#
        )
        .unwrap();
        Keyring::load(file.path()).unwrap()
    }

    fn reencode(bytes: &[u8]) -> String {
        BASE64.encode(bytes)
    }

    #[test]
    fn round_trip() {
        let keyring = keyring();
        let token = seal_one(&keyring);
        assert_eq!(unseal(&keyring, &token).unwrap(), claims());
        assert!(token.len() < 1024, "{}", token.len());
    }

    #[test]
    fn every_seal_uses_a_fresh_nonce() {
        let keyring = keyring();
        assert_ne!(seal_one(&keyring), seal_one(&keyring));
    }

    #[test]
    fn tampering_any_byte_fails_with_the_matching_error() {
        let keyring = keyring();
        let bytes = BASE64.decode(seal_one(&keyring)).unwrap();
        for i in 0..bytes.len() {
            let mut tampered = bytes.clone();
            tampered[i] ^= 0x01;
            let expected = match i {
                0 => UnsealError::Malformed,
                1..HEADER_LEN => UnsealError::UnknownKey,
                _ => UnsealError::Invalid,
            };
            assert_eq!(
                unseal(&keyring, &reencode(&tampered)),
                Err(expected),
                "byte {i}"
            );
        }
    }

    #[test]
    fn truncation_and_extension_fail() {
        let keyring = keyring();
        let bytes = BASE64.decode(seal_one(&keyring)).unwrap();
        for len in [
            0,
            1,
            HEADER_LEN,
            MIN_SEALED_LEN - 1,
            MIN_SEALED_LEN,
            bytes.len() - 1,
        ] {
            assert!(
                unseal(&keyring, &reencode(&bytes[..len])).is_err(),
                "len {len}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            unseal(&keyring, &reencode(&longer)),
            Err(UnsealError::Invalid)
        );
    }

    #[test]
    fn bad_encoding_and_oversized_input_are_malformed() {
        let keyring = keyring();
        let token = seal_one(&keyring);
        for bad in [
            String::new(),
            "not base64!".to_owned(),
            token.replace('=', ""),
            format!("{token}="),
            format!(" {token}"),
            "A".repeat(MAX_SESSION_TOKEN_LEN + 4),
        ] {
            assert_eq!(
                unseal(&keyring, &bad),
                Err(UnsealError::Malformed),
                "{bad:.20}"
            );
        }
    }

    #[test]
    fn other_token_versions_are_malformed() {
        let keyring = keyring();
        let mut bytes = BASE64.decode(seal_one(&keyring)).unwrap();
        bytes[0] = 2;
        assert_eq!(
            unseal(&keyring, &reencode(&bytes)),
            Err(UnsealError::Malformed)
        );
    }

    #[test]
    fn rotated_out_key_still_opens_until_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        let mut keyring = Keyring::load_or_create(&path, from_unix_seconds(T0)).unwrap();
        let old_token = seal_one(&keyring);
        keyring.rotate(&path, from_unix_seconds(T0 + 60)).unwrap();
        assert_eq!(unseal(&keyring, &old_token).unwrap(), claims());
        let new_token = seal_one(&keyring);
        assert_eq!(unseal(&keyring, &new_token).unwrap(), claims());

        assert_eq!(keyring.prune(from_unix_seconds(T0 + 60 + 129_601)), 1);
        assert_eq!(unseal(&keyring, &old_token), Err(UnsealError::UnknownKey));
        assert_eq!(unseal(&keyring, &new_token).unwrap(), claims());
    }

    #[test]
    fn another_keyring_cannot_open() {
        let token = seal_one(&keyring());
        assert_eq!(unseal(&keyring(), &token), Err(UnsealError::UnknownKey));
    }

    #[test]
    fn same_key_id_with_other_material_is_invalid() {
        let token = seal_one(&keyring_with("01020304", 1));
        assert_eq!(
            unseal(&keyring_with("01020304", 2), &token),
            Err(UnsealError::Invalid)
        );
        assert!(unseal(&keyring_with("01020304", 1), &token).is_ok());
    }

    #[test]
    fn oversized_claims_are_refused_at_sealing() {
        let mut big = claims();
        big.session.session_policy = Some("x".repeat(MAX_SESSION_TOKEN_LEN));
        let err = seal(&keyring(), &big, &SystemRandom::new()).unwrap_err();
        assert!(matches!(err, MintError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn largest_sealable_claims_still_open() {
        let keyring = keyring();
        let mut big = claims();
        let base = postcard::to_stdvec(&claims()).unwrap().len();
        let room = (MAX_SESSION_TOKEN_LEN / 4) * 3 - MIN_SEALED_LEN - base;
        let policy = big.session.session_policy.take().unwrap();
        big.session.session_policy = Some(format!("{policy}{}", " ".repeat(room - 2)));
        let token = seal(&keyring, &big, &SystemRandom::new()).unwrap();
        assert!(token.len() <= MAX_SESSION_TOKEN_LEN);
        assert_eq!(unseal(&keyring, &token).unwrap(), big);
    }

    #[test]
    fn expiry_is_exclusive_of_expires_at() {
        let c = claims();
        assert!(!c.is_expired(from_unix_seconds(c.expires_at - 1)));
        assert!(c.is_expired(from_unix_seconds(c.expires_at)));
    }

    #[test]
    fn debug_redacts_the_secret() {
        let c = claims();
        let shown = format!("{c:?}");
        assert!(!shown.contains(c.secret_access_key.expose()), "{shown}");
        assert!(shown.contains("<redacted>"));
        assert!(shown.contains(&c.access_key_id));
    }
}
