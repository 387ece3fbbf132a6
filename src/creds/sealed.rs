//! Small secrets sealed under the keyring for storage: user secret access keys, TOTP seeds,
//! authorization messages.
//!
//! Wire form, base64 (standard alphabet, padded):
//!
//! ```text
//! version (1 byte, = 0x81) | key id (4 bytes) | nonce (12 random bytes) | AES-256-GCM(plaintext) | tag (16)
//! ```
//!
//! The associated data is the header followed by a *purpose* string naming what the blob is and
//! whom it belongs to (`user-key:AKIA…`, `mfa:arn:…`), so a sealed value cannot be moved to
//! another record or read as something else, and never opens as a session token (whose version
//! byte is 1 and whose associated data is the header alone).

use aws_lc_rs::aead::{Aad, MAX_TAG_LEN, NONCE_LEN, Nonce};
use aws_lc_rs::rand::SecureRandom;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use data_encoding::HEXLOWER;

use super::keyring::KEY_ID_LEN;
use super::{Keyring, MintError, UnsealError};

/// The version byte of a sealed secret (high bit set: never a session token version).
const SEALED_VERSION: u8 = 0x81;

const HEADER_LEN: usize = 1 + KEY_ID_LEN;
const MIN_SEALED_LEN: usize = HEADER_LEN + NONCE_LEN + MAX_TAG_LEN;

/// Longest sealed value accepted (authorization messages are the largest: 10240 characters is
/// the `EncodedMessage` limit).
pub const MAX_SEALED_LEN: usize = 10 * 1024;

/// Seal `plaintext` for `purpose` with the keyring's current key.
pub fn seal(
    keyring: &Keyring,
    purpose: &str,
    plaintext: &[u8],
    rng: &dyn SecureRandom,
) -> Result<String, MintError> {
    let (key_id, key) = keyring.sealing_key();
    let header = header(key_id);
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut nonce).map_err(|_| MintError::Random)?;
    let mut sealed = plaintext.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad(&header, purpose)),
        &mut sealed,
    )
    .map_err(|_| MintError::Seal)?;
    let mut out = Vec::with_capacity(MIN_SEALED_LEN + plaintext.len());
    out.extend_from_slice(&header);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    let encoded = BASE64.encode(out);
    if encoded.len() > MAX_SEALED_LEN {
        return Err(MintError::TooLarge {
            max: MAX_SEALED_LEN,
        });
    }
    Ok(encoded)
}

/// Open a value sealed for `purpose` by any key the keyring still holds.
pub fn open(keyring: &Keyring, purpose: &str, sealed: &str) -> Result<Vec<u8>, UnsealError> {
    if sealed.len() > MAX_SEALED_LEN {
        return Err(UnsealError::Malformed);
    }
    let mut bytes = BASE64.decode(sealed).map_err(|_| UnsealError::Malformed)?;
    if bytes.len() < MIN_SEALED_LEN || bytes[0] != SEALED_VERSION {
        return Err(UnsealError::Malformed);
    }
    let (header, rest) = bytes.split_at_mut(HEADER_LEN);
    let key = keyring
        .opening_key(&header[1..])
        .ok_or(UnsealError::UnknownKey)?;
    let (nonce, body) = rest.split_at_mut(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| UnsealError::Malformed)?;
    let plain = key
        .open_in_place(nonce, Aad::from(aad(header, purpose)), body)
        .map_err(|_| UnsealError::Invalid)?;
    Ok(plain.to_vec())
}

/// The hex id of the key that sealed `sealed`, if it is well-formed (to re-seal values whose key
/// is being retired).
pub fn sealing_key_id(sealed: &str) -> Option<String> {
    let bytes = BASE64.decode(sealed).ok()?;
    (bytes.len() >= MIN_SEALED_LEN && bytes[0] == SEALED_VERSION)
        .then(|| HEXLOWER.encode(&bytes[1..HEADER_LEN]))
}

fn header(key_id: &[u8; KEY_ID_LEN]) -> [u8; HEADER_LEN] {
    let mut header = [SEALED_VERSION; HEADER_LEN];
    header[1..].copy_from_slice(key_id);
    header
}

fn aad(header: &[u8], purpose: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(header.len() + purpose.len());
    aad.extend_from_slice(header);
    aad.extend_from_slice(purpose.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::rand::SystemRandom;

    use super::*;
    use crate::clock::from_unix_seconds;

    fn keyring() -> Keyring {
        Keyring::generate(from_unix_seconds(1_795_000_000)).unwrap()
    }

    #[test]
    fn round_trip() {
        let keyring = keyring();
        let sealed = seal(&keyring, "user-key:AKIA1", b"secret", &SystemRandom::new()).unwrap();
        assert_eq!(
            open(&keyring, "user-key:AKIA1", &sealed).unwrap(),
            b"secret"
        );
        assert_eq!(
            sealing_key_id(&sealed).unwrap(),
            keyring.current_key_id(),
            "the sealing key is named"
        );
    }

    #[test]
    fn another_purpose_does_not_open() {
        let keyring = keyring();
        let sealed = seal(&keyring, "user-key:AKIA1", b"secret", &SystemRandom::new()).unwrap();
        assert_eq!(
            open(&keyring, "user-key:AKIA2", &sealed),
            Err(UnsealError::Invalid)
        );
    }

    #[test]
    fn another_keyring_or_tampering_does_not_open() {
        let keyring = keyring();
        let sealed = seal(&keyring, "p", b"secret", &SystemRandom::new()).unwrap();
        assert_eq!(
            open(&self::keyring(), "p", &sealed),
            Err(UnsealError::UnknownKey)
        );
        let mut bytes = BASE64.decode(&sealed).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(
            open(&keyring, "p", &BASE64.encode(&bytes)),
            Err(UnsealError::Invalid)
        );
        assert_eq!(
            open(&keyring, "p", "not base64!"),
            Err(UnsealError::Malformed)
        );
        assert_eq!(open(&keyring, "p", "AAAA"), Err(UnsealError::Malformed));
    }

    #[test]
    fn a_session_token_is_not_a_sealed_secret() {
        let keyring = keyring();
        let sealed = seal(&keyring, "", b"x", &SystemRandom::new()).unwrap();
        assert!(crate::creds::token::unseal(&keyring, &sealed).is_err());
    }
}
