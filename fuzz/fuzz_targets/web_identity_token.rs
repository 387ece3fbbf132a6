//! `AssumeRoleWithWebIdentity`'s `WebIdentityToken`: routing (`peek_issuer`) and the whole
//! verifier (compact JWS parsing, algorithm and key selection, signature, time and claim
//! checks) of an OIDC IdP with a static JWK set, at a fixed `now`.
//!
//! The first byte picks what the rest is:
//! - `0 mod 3`: the token text itself (base64url, dots, signature: everything an attacker sends);
//! - `1 mod 3`: `HEADER 0x00 PAYLOAD`, raw JSON bytes that the target signs with the IdP's
//!   (fixed, test) Ed25519 key, so the checks after the signature see fuzzer content;
//! - `2 mod 3`: `PAYLOAD` signed under a valid header (claim checks only).
//!
//! Never panics; a token the verifier accepts must say what the IdP's configuration requires.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use stsbridge::identity::FederatedIdentity;
use stsbridge::idp::oidc::{OidcVerifier, peek_issuer};
use stsbridge::idp::{Expectations, IdpRegistry, IdpVerifier, SubjectCredential, VerifyError};
use stsbridge_fuzz as fx;

struct Target {
    verifier: std::sync::Arc<OidcVerifier>,
    registry: IdpRegistry,
    runtime: tokio::runtime::Runtime,
}

static TARGET: LazyLock<Target> = LazyLock::new(|| {
    let verifier = std::sync::Arc::new(fx::verifier());
    let registry = IdpRegistry::new([verifier.clone() as std::sync::Arc<dyn IdpVerifier>]);
    Target {
        verifier,
        registry,
        runtime: fx::runtime(),
    }
});

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let token = match mode % 3 {
        0 => String::from_utf8_lossy(rest).into_owned(),
        1 => {
            let (header, payload) = match rest.iter().position(|&b| b == 0) {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, &[][..]),
            };
            fx::sign_raw(header, payload)
        }
        _ => fx::sign_payload(rest),
    };
    check(&token);
});

fn check(token: &str) {
    let target = &*TARGET;
    let peeked = peek_issuer(token);
    let verified = target.runtime.block_on(target.verifier.verify(
        &SubjectCredential::WebIdentityToken(token),
        &Expectations::NONE,
        fx::now(),
    ));
    let routed = target
        .runtime
        .block_on(target.registry.verify_web_identity(token, fx::now()));

    if let Err(e) = &peeked {
        assert!(
            matches!(e, VerifyError::Invalid { .. }),
            "peek_issuer failed with {e:?}"
        );
        assert!(
            verified.is_err(),
            "verify accepted a token peek_issuer refused"
        );
        assert!(
            routed.is_err(),
            "the registry accepted a token peek_issuer refused"
        );
    }
    if let Ok(identity) = &verified {
        assert_eq!(peeked.as_deref().ok(), Some(fx::ISSUER));
        check_identity(identity);
    }
    match (&verified, &routed) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "routing changed the identity"),
        (Ok(_), Err(e)) => panic!("verified directly but not through the registry: {e:?}"),
        (Err(_), Ok(_)) => panic!("refused directly but accepted through the registry"),
        (Err(_), Err(_)) => {}
    }
}

/// What every accepted token must have satisfied (the verifier's documented checks).
fn check_identity(identity: &FederatedIdentity) {
    assert_eq!(identity.issuer, fx::ISSUER);
    assert_eq!(identity.provider, fx::PROVIDER);
    assert!(
        ["fuzz-client", "second-client"].contains(&identity.audience.as_str()),
        "audience {:?} is not configured",
        identity.audience
    );
    assert!(!identity.subject.is_empty() && identity.subject.len() <= 255);
    let tags = &identity.session_tags;
    assert!(tags.principal_tags.len() <= 50 && tags.transitive_tag_keys.len() <= 50);
    for (k, v) in &tags.principal_tags {
        assert!((1..=128).contains(&k.chars().count()) && v.chars().count() <= 256);
    }
}
