//! Session tokens (`X-Amz-Security-Token` of every SigV4 request made with temporary
//! credentials): `creds::token::unseal` with a fixed keyring (one current, one retired key).
//!
//! The first byte picks what the rest is:
//! - `0 mod 4`: the token text as a client sends it;
//! - `1 mod 4`: raw token bytes (version, key id, nonce, ciphertext, tag), base64-encoded by
//!   the target, so mutations are not spent on base64 syntax;
//! - `2 mod 4`: `FLAGS NONCE(12) PLAINTEXT`, sealed by the target with the fixed current (or
//!   retired) key: the claims decoder behind the AEAD tag sees fuzzer bytes (only a keyring
//!   holder can produce these; a broken decoder there would still be a bug);
//! - `3 mod 4`: claims built with `arbitrary`, sealed with `seal`, opened with `unseal`: they
//!   must come back unchanged.
//!
//! Never panics. What the fuzzer forges (modes 0 and 1) must never open, unless it is a seed
//! sealed with the fixed keyring, verbatim.
#![no_main]

use std::collections::BTreeMap;
use std::sync::LazyLock;

use arbitrary::{Result, Unstructured};
use aws_lc_rs::rand::SystemRandom;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use stsbridge::creds::token::{CLAIMS_VERSION, MAX_SESSION_TOKEN_LEN, seal, unseal};
use stsbridge::creds::{Keyring, MintError, Secret, Session, SessionClaims, SessionKind};
use stsbridge_fuzz as fx;

static KEYRING: LazyLock<Keyring> = LazyLock::new(fx::fixed_keyring);

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => forged(&String::from_utf8_lossy(rest)),
        1 => forged(&STANDARD.encode(rest)),
        2 => sealed_plaintext(rest),
        _ => {
            let _ = round_trip(&mut Unstructured::new(rest));
        }
    }
});

/// A token from outside: refused, or a fixed-keyring seed byte for byte (canonical base64, a
/// claims version this code writes, an expiry after the issue time as `seal` always makes).
fn forged(token: &str) {
    let Ok(claims) = unseal(&KEYRING, token) else {
        return;
    };
    let bytes = STANDARD.decode(token).expect("an opened token is base64");
    assert_eq!(
        STANDARD.encode(bytes),
        token,
        "a non-canonical encoding opened"
    );
    assert!(token.len() <= MAX_SESSION_TOKEN_LEN);
    check_claims(&claims);
    assert!(
        claims.expires_at > claims.issued_at,
        "expiry not after issue"
    );
}

fn sealed_plaintext(rest: &[u8]) {
    let Some((&flags, rest)) = rest.split_first() else {
        return;
    };
    let Some((nonce, plaintext)) = rest.split_first_chunk::<12>() else {
        return;
    };
    let token = fx::seal_raw(plaintext, *nonce, flags & 1 == 1);
    match unseal(&KEYRING, &token) {
        Ok(claims) => check_claims(&claims),
        // Over the length bound the token is malformed before anything is opened.
        Err(_) if token.len() > MAX_SESSION_TOKEN_LEN => {}
        Err(e) => assert_eq!(e, stsbridge::creds::UnsealError::Invalid, "{e:?}"),
    }
}

fn check_claims(claims: &SessionClaims) {
    assert_eq!(claims.version, CLAIMS_VERSION);
    let _ = claims.is_expired(fx::now());
    let _ = format!("{claims:?}");
}

fn round_trip(u: &mut Unstructured<'_>) -> Result<()> {
    let claims = SessionClaims {
        version: CLAIMS_VERSION,
        access_key_id: u.arbitrary()?,
        secret_access_key: Secret::new(u.arbitrary()?),
        session: Session {
            identity_arn: u.arbitrary()?,
            identity_id: u.arbitrary()?,
            caller_arn: u.arbitrary()?,
            account_id: u.arbitrary()?,
            session_name: u.arbitrary()?,
            source_identity: u.arbitrary()?,
            provider: u.arbitrary()?,
            subject: u.arbitrary()?,
            session_tags: u.arbitrary::<BTreeMap<String, String>>()?,
            transitive_tag_keys: u.arbitrary()?,
            session_policy: u.arbitrary()?,
            policy_arns: u.arbitrary()?,
            kind: *u.choose(&[
                SessionKind::AssumedRole,
                SessionKind::User,
                SessionKind::FederatedUser,
            ])?,
            mfa_authenticated_at: u.arbitrary()?,
        },
        issued_at: u.arbitrary()?,
        expires_at: u.arbitrary()?,
    };
    match seal(&KEYRING, &claims, &SystemRandom::new()) {
        Ok(token) => {
            assert!(
                token.len() <= MAX_SESSION_TOKEN_LEN,
                "sealed {} chars",
                token.len()
            );
            assert_eq!(unseal(&KEYRING, &token).expect("own token opens"), claims);
        }
        Err(MintError::TooLarge { .. }) => {}
        Err(e) => panic!("sealing failed: {e:?}"),
    }
    Ok(())
}
