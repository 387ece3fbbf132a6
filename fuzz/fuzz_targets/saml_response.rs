//! SAML 2.0 responses (`SAMLAssertion` of `AssumeRoleWithSAML`, the sign-in page's ACS):
//! `peek_issuer` (how the ACS picks the provider) and `SamlVerifier::verify` (base64,
//! hostile-XML guard, shape checks, XML-DSig on samael, content checks) with the test IdP's pinned certificates of `tests/fixtures/saml/`, at the fixtures'
//! fixed `now`; and `parse_metadata` (operator-supplied, but parsed the same way).
//!
//! The first byte picks what the rest is: `0 mod 3` the `SAMLAssertion` text; `1 mod 3` the XML
//! document, base64-encoded by the target (mutations land in the XML); `2 mod 3` IdP metadata.
//! Bit `0x04` verifies with `allow_sha1`; bit `0x08` with the service's decryption key
//! (`keys/sp-encryption.key`), so EncryptedAssertions are decrypted (mode 10: raw XML so).
//!
//! Never panics. The fuzzer cannot sign, so whatever is accepted must be exactly what one of the
//! signed fixtures yields: anything else used content the signature did not cover.
#![no_main]

use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use stsbridge::clock::from_unix_seconds;
use stsbridge::idp::saml::{
    DEFAULT_ACS_URL, DecryptionKey, IdpMetadata, SamlIdpSettings, SamlVerifier, SignatureAlgorithm,
    VerifiedAssertion, parse_metadata, peek_issuer,
};

/// 2026-01-01T00:01:00Z: one minute after the fixtures' IssueInstant (as the crate's tests).
const NOW: i64 = 1_767_225_660;
const ENTITY_ID: &str = "https://idp.example.com/saml";
const IDP_CERT: &[u8] = include_bytes!("../../tests/fixtures/saml/keys/idp.der");
const EC_CERT: &[u8] = include_bytes!("../../tests/fixtures/saml/keys/ec.der");
const SP_ENCRYPTION_KEY: &[u8] = include_bytes!("../../tests/fixtures/saml/keys/sp-encryption.key");

struct Target {
    strict: SamlVerifier,
    sha1: SamlVerifier,
    decrypting: SamlVerifier,
    /// What the signed fixtures yield: the only assertions an input may verify to.
    known: Vec<VerifiedAssertion>,
}

fn verifier(allow_sha1: bool, decrypting: bool) -> SamlVerifier {
    let mut settings = SamlIdpSettings::new(
        "corp",
        IdpMetadata {
            entity_id: ENTITY_ID.into(),
            signing_certs_der: vec![IDP_CERT.to_vec(), EC_CERT.to_vec()],
            valid_until: None,
            cache_duration: None,
            sso_redirect_url: None,
        },
    );
    if allow_sha1 {
        settings.algorithms = SignatureAlgorithm::ALL.to_vec();
    }
    if decrypting {
        settings.decryption_key =
            Some(DecryptionKey::from_pem(SP_ENCRYPTION_KEY).expect("fixture decryption key"));
    }
    SamlVerifier::new(settings).expect("fixture settings")
}

static TARGET: LazyLock<Target> = LazyLock::new(|| {
    let strict = verifier(false, false);
    let sha1 = verifier(true, false);
    let decrypting = verifier(false, true);
    let everything = verifier(true, true);
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/saml");
    let mut known = Vec::new();
    for entry in std::fs::read_dir(&fixtures).expect("tests/fixtures/saml") {
        let Ok(xml) = std::fs::read(entry.expect("fixture entry").path()) else {
            continue;
        };
        let b64 = STANDARD.encode(&xml);
        known.extend(everything.verify(&b64, now()).ok());
    }
    assert!(
        !known.is_empty(),
        "no fixture verifies: the oracle would be empty"
    );
    Target {
        strict,
        sha1,
        decrypting,
        known,
    }
});

fn now() -> SystemTime {
    from_unix_seconds(NOW)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let target = &*TARGET;
    let verifier = if mode & 0x08 != 0 {
        &target.decrypting
    } else if mode & 0x04 != 0 {
        &target.sha1
    } else {
        &target.strict
    };
    let response = match mode % 3 {
        0 => String::from_utf8_lossy(rest).into_owned(),
        1 => STANDARD.encode(rest),
        _ => {
            let _ = parse_metadata(&String::from_utf8_lossy(rest));
            return;
        }
    };
    // The portal's assertion consumer routes a response by its unverified Issuer first.
    let _ = peek_issuer(&response);
    if let Ok(verified) = verifier.verify(&response, now()) {
        assert!(
            target.known.contains(&verified),
            "accepted an assertion no signed fixture yields: {verified:?}"
        );
        assert_eq!(verified.issuer, ENTITY_ID);
        assert_eq!(verified.recipient, DEFAULT_ACS_URL);
    }
});
