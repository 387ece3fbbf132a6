//! Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP) for virtual MFA devices, as AWS
//! virtual MFA and every authenticator app implement them: HMAC-SHA1, 6 digits, 30-second steps,
//! a 160-bit seed shown as base32 and as an `otpauth://` URL.
//!
//! HMAC-SHA1 is what authenticator apps compute; it is safe in HMAC form (RFC 6238 §5.1 and the
//! collision attacks on SHA-1 do not apply to HMAC). aws-lc-rs provides it.

use std::time::SystemTime;

use aws_lc_rs::hmac;
use aws_lc_rs::rand::SecureRandom;
use subtle::ConstantTimeEq;

use super::MintError;
use crate::clock::unix_seconds;

/// Seconds per code (RFC 6238 default; what every authenticator app uses).
pub const STEP_SECONDS: i64 = 30;
/// Digits per code (AWS `TokenCode` is exactly 6 digits).
pub const DIGITS: u32 = 6;
/// Seed length: 160 bits, RFC 4226's recommendation for HMAC-SHA1.
pub const SEED_LEN: usize = 20;
/// Steps accepted either side of the current one (clock drift between phone and server).
pub const DRIFT_STEPS: i64 = 1;

/// A new random seed.
pub fn new_seed(rng: &dyn SecureRandom) -> Result<[u8; SEED_LEN], MintError> {
    let mut seed = [0u8; SEED_LEN];
    rng.fill(&mut seed).map_err(|_| MintError::Random)?;
    Ok(seed)
}

/// The seed as authenticator apps take it (base32, no padding).
pub fn seed_base32(seed: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(seed)
}

/// The provisioning URL an authenticator app reads from a QR code.
pub fn otpauth_url(issuer: &str, account: &str, seed: &[u8]) -> String {
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        enc(issuer),
        enc(account),
        seed_base32(seed),
        enc(issuer)
    )
}

/// The time step `now` falls in.
pub fn step_at(now: SystemTime) -> i64 {
    unix_seconds(now).div_euclid(STEP_SECONDS)
}

/// The HOTP code of `counter` (RFC 4226 §5.3), zero-padded to [`DIGITS`].
pub fn code(seed: &[u8], counter: i64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, seed);
    let tag = hmac::sign(&key, &counter.to_be_bytes());
    let mac = tag.as_ref();
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    format!(
        "{:0width$}",
        binary % 10u32.pow(DIGITS),
        width = DIGITS as usize
    )
}

/// The step whose code `candidate` is, within [`DRIFT_STEPS`] of `now`, if any. Every candidate
/// step is computed and compared in constant time, so timing tells nothing about which matched.
/// The caller must refuse a step already used (replay).
pub fn matching_step(seed: &[u8], candidate: &str, now: SystemTime) -> Option<i64> {
    if candidate.len() != DIGITS as usize || !candidate.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step_at(now);
    let mut found = None;
    for step in current - DRIFT_STEPS..=current + DRIFT_STEPS {
        if bool::from(code(seed, step).as_bytes().ct_eq(candidate.as_bytes())) {
            found.get_or_insert(step);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::from_unix_seconds;

    /// RFC 6238 Appendix B: the SHA-1 seed is the ASCII string "12345678901234567890"; the
    /// published 8-digit codes end in our 6-digit ones.
    #[test]
    fn rfc_6238_vectors() {
        let seed = b"12345678901234567890";
        for (time, eight) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(
                code(seed, step_at(from_unix_seconds(time))),
                eight[2..],
                "t={time}"
            );
        }
    }

    #[test]
    fn rfc_4226_vectors() {
        let seed = b"12345678901234567890";
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, want) in expected.iter().enumerate() {
            assert_eq!(code(seed, counter as i64), *want);
        }
    }

    #[test]
    fn drift_of_one_step_either_side_and_no_more() {
        let seed = [7u8; SEED_LEN];
        let now = from_unix_seconds(1_800_000_000);
        let current = step_at(now);
        for delta in -1..=1 {
            let c = code(&seed, current + delta);
            assert_eq!(matching_step(&seed, &c, now), Some(current + delta));
        }
        for delta in [-3, -2, 2, 3] {
            let c = code(&seed, current + delta);
            // A far step's code may collide with a near one by chance (1 in 10^6): compare steps.
            assert_ne!(matching_step(&seed, &c, now), Some(current + delta));
        }
    }

    #[test]
    fn malformed_codes_never_match() {
        let seed = [7u8; SEED_LEN];
        let now = from_unix_seconds(1_800_000_000);
        for bad in ["", "12345", "1234567", "12345a", " 12345", "１２３４５６"] {
            assert_eq!(matching_step(&seed, bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn otpauth_url_shape() {
        let url = otpauth_url("stsbridge", "alice", b"12345678901234567890");
        assert_eq!(
            url,
            "otpauth://totp/stsbridge:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=stsbridge&algorithm=SHA1&digits=6&period=30"
        );
    }
}
