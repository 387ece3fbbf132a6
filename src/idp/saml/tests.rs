//! The verifier against the fixtures of `tests/fixtures/saml/` (see its README.md and gen.sh),
//! always at a fixed `now`.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use samael::crypto::CertificateDer;

use super::*;
use crate::clock::from_unix_seconds;
use crate::idp::{Expectations, IdpVerifier, SubjectCredential, VerifyError};
use crate::store::Store;

/// A provider of `settings` whose replay cache is a real store on a temporary directory (kept
/// as long as the provider is used).
fn provider_with(settings: SamlIdpSettings) -> (SamlProvider, tempfile::TempDir) {
    let (provider, _store, dir) = provider_and_store(settings);
    (provider, dir)
}

fn provider_and_store(settings: SamlIdpSettings) -> (SamlProvider, Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Store = crate::store::open(&crate::store::StorageSettings::new(
        dir.path().join("sled"),
        8 << 20,
    ))
    .expect("store");
    let provider = SamlProvider::new(settings, store.replay.clone()).expect("provider");
    (provider, store, dir)
}

/// 2026-01-01T00:01:00Z: one minute after the fixtures' IssueInstant.
const NOW: i64 = 1_767_225_660;
/// 2026-01-01T00:05:00Z: the fixtures' SubjectConfirmationData NotOnOrAfter.
const CONFIRMATION_END: i64 = 1_767_225_900;
const IDP_CERT: &[u8] = include_bytes!("../../../tests/fixtures/saml/keys/idp.der");
const EC_CERT: &[u8] = include_bytes!("../../../tests/fixtures/saml/keys/ec.der");
const ROLE: &str = "https://aws.amazon.com/SAML/Attributes/Role";

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/saml/{name}.xml",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn encoded(name: &str) -> String {
    STANDARD.encode(fixture(name))
}

fn metadata() -> IdpMetadata {
    IdpMetadata {
        entity_id: "https://idp.example.com/saml".to_owned(),
        signing_certs_der: vec![IDP_CERT.to_vec(), EC_CERT.to_vec()],
        valid_until: None,
        cache_duration: None,
        sso_redirect_url: None,
    }
}

fn settings() -> SamlIdpSettings {
    SamlIdpSettings::new("corp", metadata())
}

fn verifier_with(settings: SamlIdpSettings) -> SamlVerifier {
    SamlVerifier::new(settings).expect("valid settings")
}

fn verify(name: &str) -> Result<VerifiedAssertion, SamlError> {
    verifier_with(settings()).verify(&encoded(name), from_unix_seconds(NOW))
}

fn verify_xml(xml: &str) -> Result<VerifiedAssertion, SamlError> {
    verifier_with(settings()).verify(&STANDARD.encode(xml), from_unix_seconds(NOW))
}

#[track_caller]
fn assert_fault(result: Result<VerifiedAssertion, SamlError>, expected: SamlFault) {
    match result {
        Err(SamlError::Invalid { fault, .. }) => assert_eq!(fault, expected),
        other => panic!("expected {expected:?}, got {other:?}"),
    }
}

/// The default allow-list, as samael gets it.
fn strict() -> algorithms::AllowList {
    algorithms::AllowList::new(&SignatureAlgorithm::DEFAULT)
}

fn pinned() -> Vec<CertificateDer> {
    vec![
        CertificateDer::from(IDP_CERT.to_vec()),
        CertificateDer::from(EC_CERT.to_vec()),
    ]
}

// ------------------------------------------------------------------ accepted responses

#[test]
fn a_signed_response_yields_every_field() {
    let verified = verify("response-signed").expect("valid");
    let role = vec![
        "arn:aws:iam::123456789012:role/saml-admin,arn:aws:iam::123456789012:saml-provider/corp"
            .to_owned(),
        "arn:aws:iam::123456789012:role/saml-readonly,arn:aws:iam::123456789012:saml-provider/corp"
            .to_owned(),
    ];
    let attributes = BTreeMap::from([
        (ROLE.to_owned(), role),
        (
            "https://aws.amazon.com/SAML/Attributes/RoleSessionName".to_owned(),
            vec!["alice@example.com".to_owned()],
        ),
        (
            "https://aws.amazon.com/SAML/Attributes/SessionDuration".to_owned(),
            vec!["7200".to_owned()],
        ),
        (
            "https://aws.amazon.com/SAML/Attributes/PrincipalTag:team".to_owned(),
            vec!["platform".to_owned()],
        ),
    ]);
    assert_eq!(
        verified,
        VerifiedAssertion {
            assertion_id: "_a1".to_owned(),
            issuer: "https://idp.example.com/saml".to_owned(),
            name_id: "alice@example.com".to_owned(),
            name_id_format: Some("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent".to_owned()),
            recipient: DEFAULT_ACS_URL.to_owned(),
            not_on_or_after: from_unix_seconds(CONFIRMATION_END),
            conditions_not_on_or_after: Some(from_unix_seconds(1_767_229_200)),
            session_not_on_or_after: Some(from_unix_seconds(1_767_254_400)),
            attributes,
            response_in_response_to: None,
            confirmation_in_response_to: None,
        }
    );
}

#[test]
fn assertion_signed_both_signed_ec_and_sha512_responses_are_accepted() {
    let reference = verify("response-signed").expect("valid");
    for name in [
        "assertion-signed",
        "both-signed",
        "ec-signed",
        "rsa-sha512-signed",
    ] {
        let verified = verify(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(verified, reference, "{name}");
    }
}

#[test]
fn base64_with_line_breaks_is_accepted() {
    let b64 = encoded("assertion-signed");
    let wrapped: Vec<&str> = b64
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).expect("ascii"))
        .collect();
    let verified = verifier_with(settings()).verify(&wrapped.join("\r\n"), from_unix_seconds(NOW));
    assert_eq!(verified.expect("valid").name_id, "alice@example.com");
}

#[test]
fn a_verifier_serves_several_threads() {
    let verifier = verifier_with(settings());
    let b64 = encoded("both-signed");
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..5 {
                    let verified = verifier
                        .verify(&b64, from_unix_seconds(NOW))
                        .expect("valid");
                    assert_eq!(verified.assertion_id, "_a1");
                }
            });
        }
    });
}

// ------------------------------------------------------------------ settings and metadata

#[test]
fn metadata_yields_the_entity_id_the_signing_certs_and_valid_until() {
    let parsed = parse_metadata(&fixture("idp-metadata")).expect("metadata");
    assert_eq!(
        parsed,
        IdpMetadata {
            // Both signing certificates (rollover), not the encryption one.
            // validUntil 2027-01-01T00:00:00Z
            valid_until: Some(from_unix_seconds(1_798_761_600)),
            // The HTTP-Redirect one, not the HTTP-POST one.
            sso_redirect_url: Some("https://idp.example.com/saml/sso".to_owned()),
            ..metadata()
        }
    );
    let without = fixture("idp-metadata").replace(
        "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
        "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact",
    );
    assert_eq!(
        parse_metadata(&without).expect("metadata").sso_redirect_url,
        None
    );
}

#[test]
fn unusable_metadata_is_refused() {
    let metadata = fixture("idp-metadata");
    let doctype = metadata.replacen(
        "?>\n",
        "?>\n<!DOCTYPE md:EntityDescriptor [<!ENTITY x SYSTEM \"file:///etc/hostname\">]>\n",
        1,
    );
    let entities = r#"<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">"#;
    let aggregate = format!(
        "{entities}{}</md:EntitiesDescriptor>",
        metadata.replacen(r#"<?xml version="1.0" encoding="UTF-8"?>"#, "", 1)
    );
    let no_signing_key = metadata.replace("use=\"signing\"", "use=\"encryption\"");
    let chain = metadata.replacen(
        "</ds:X509Certificate>",
        "</ds:X509Certificate><ds:X509Certificate>MIIB</ds:X509Certificate>",
        1,
    );
    let not_der = metadata.replacen("<ds:X509Certificate>MII", "<ds:X509Certificate>AII", 1);
    let sp_only = metadata.replace("IDPSSODescriptor", "SPSSODescriptor");
    for (what, xml) in [
        ("doctype", doctype),
        ("aggregate", aggregate),
        ("no signing key", no_signing_key),
        ("chain", chain),
        ("not DER", not_der),
        ("SP metadata", sp_only),
    ] {
        assert!(
            matches!(parse_metadata(&xml), Err(SamlError::Config(_))),
            "{what}"
        );
    }
}

#[test]
fn metadata_cache_duration_is_read() {
    let metadata =
        fixture("idp-metadata").replacen("validUntil=", "cacheDuration=\"PT1H30M\" validUntil=", 1);
    let parsed = parse_metadata(&metadata).expect("metadata");
    assert_eq!(parsed.cache_duration, Some(Duration::from_secs(5400)));
    // One that does not parse is no cacheDuration (the refresh interval applies).
    let odd =
        fixture("idp-metadata").replacen("validUntil=", "cacheDuration=\"1h\" validUntil=", 1);
    assert_eq!(parse_metadata(&odd).expect("metadata").cache_duration, None);
}

#[test]
fn xs_durations() {
    let secs = |text: &str| metadata::parse_duration(text).map(|d| d.as_secs());
    assert_eq!(secs("PT1H"), Some(3600));
    assert_eq!(secs("P1DT12H"), Some(129_600));
    assert_eq!(secs("PT90M"), Some(5400));
    assert_eq!(secs("PT1.5S"), Some(1));
    assert_eq!(secs("P1Y"), Some(365 * 86_400));
    assert_eq!(secs("P2M"), Some(60 * 86_400));
    assert_eq!(secs(" PT10S "), Some(10));
    for bad in [
        "",
        "P",
        "PT",
        "-PT1H",
        "1H",
        "PT1H1H",
        "PT1M1H",
        "P1H",
        "PT.5S",
        "PT1.5M",
        "PTxS",
        "P99999999999999999999D",
    ] {
        assert_eq!(secs(bad), None, "{bad:?}");
    }
}

#[test]
fn responses_are_refused_once_the_metadata_is_past_valid_until() {
    let mut expiring = settings();
    expiring.metadata.as_mut().unwrap().valid_until = Some(from_unix_seconds(NOW + 1));
    let verifier = verifier_with(expiring);
    let b64 = encoded("response-signed");
    assert!(verifier.verify(&b64, from_unix_seconds(NOW)).is_ok());
    for at in [NOW + 1, NOW + 2] {
        match verifier.verify(&b64, from_unix_seconds(at)) {
            Err(SamlError::MetadataExpired { idp, valid_until }) => {
                assert_eq!(idp, "corp");
                assert_eq!(valid_until, "2026-01-01T00:01:01Z");
            }
            other => panic!("expected MetadataExpired, got {other:?}"),
        }
    }
}

#[test]
fn a_provider_takes_refreshed_metadata_only_for_the_same_idp_and_still_valid() {
    let mut first = settings();
    first.metadata.as_mut().unwrap().signing_certs_der = vec![IDP_CERT.to_vec()];
    let (provider, _dir) = provider_with(first);
    let now = from_unix_seconds(NOW);
    let ec_signed = encoded("ec-signed");
    assert_fault(
        provider.verifier().unwrap().verify(&ec_signed, now),
        SamlFault::Signature,
    );

    let other_idp = IdpMetadata {
        entity_id: "https://evil.example.com/saml".to_owned(),
        ..metadata()
    };
    assert!(matches!(
        provider.replace_metadata(other_idp, now),
        Err(SamlError::Config(_))
    ));
    let expired = IdpMetadata {
        valid_until: Some(now),
        ..metadata()
    };
    assert!(matches!(
        provider.replace_metadata(expired, now),
        Err(SamlError::Config(_))
    ));
    let no_certificate = IdpMetadata {
        signing_certs_der: Vec::new(),
        ..metadata()
    };
    assert!(matches!(
        provider.replace_metadata(no_certificate, now),
        Err(SamlError::Config(_))
    ));
    // None of those was taken.
    assert_fault(
        provider.verifier().unwrap().verify(&ec_signed, now),
        SamlFault::Signature,
    );
    assert!(
        provider
            .verifier()
            .unwrap()
            .verify(&encoded("response-signed"), now)
            .is_ok()
    );

    // The rollover: the EC key alone.
    let rolled = IdpMetadata {
        signing_certs_der: vec![EC_CERT.to_vec()],
        ..metadata()
    };
    assert!(
        provider
            .replace_metadata(rolled.clone(), now)
            .expect("taken")
    );
    assert!(provider.verifier().unwrap().verify(&ec_signed, now).is_ok());
    assert_fault(
        provider
            .verifier()
            .unwrap()
            .verify(&encoded("response-signed"), now),
        SamlFault::Signature,
    );
    // The same again: no change.
    assert!(!provider.replace_metadata(rolled, now).expect("taken"));
}

#[test]
fn unusable_settings_are_refused() {
    type Change = fn(&mut SamlIdpSettings);
    let cases: [(&str, Change); 7] = [
        ("no metadata", |s| s.metadata = None),
        ("no certificate", |s| {
            s.metadata.as_mut().unwrap().signing_certs_der.clear()
        }),
        ("not DER", |s| {
            s.metadata
                .as_mut()
                .unwrap()
                .signing_certs_der
                .push(b"not a certificate".to_vec())
        }),
        ("no ACS URL", |s| s.acs_urls.clear()),
        ("no entity ID", |s| {
            s.metadata.as_mut().unwrap().entity_id.clear()
        }),
        ("no SP entity ID", |s| s.sp_entity_id.clear()),
        ("huge skew", |s| s.clock_skew = Duration::from_secs(3600)),
    ];
    for (what, change) in cases {
        let mut s = settings();
        change(&mut s);
        assert!(
            matches!(SamlVerifier::new(s), Err(SamlError::Config(_))),
            "{what}"
        );
    }
}

// ------------------------------------------------------------------ signatures

#[test]
fn unsigned_responses_are_refused() {
    for name in ["unsigned", "signature-removed"] {
        assert_fault(verify(name), SamlFault::Signature);
    }
}

#[test]
fn an_emptied_signature_is_refused() {
    assert_fault(verify("signature-emptied"), SamlFault::Signature);
}

#[test]
fn a_signature_by_another_key_with_its_cert_in_key_info_is_refused() {
    assert_fault(verify("attacker-key-in-keyinfo"), SamlFault::Signature);
}

#[test]
fn content_changed_after_signing_is_refused() {
    for name in ["tampered-name-id", "tampered-role"] {
        assert_fault(verify(name), SamlFault::Signature);
    }
}

#[test]
fn only_pinned_certificates_verify() {
    let mut rsa_only = settings();
    rsa_only.metadata.as_mut().unwrap().signing_certs_der = vec![IDP_CERT.to_vec()];
    let result = verifier_with(rsa_only).verify(&encoded("ec-signed"), from_unix_seconds(NOW));
    assert_fault(result, SamlFault::Signature);

    let mut ec_only = settings();
    ec_only.metadata.as_mut().unwrap().signing_certs_der = vec![EC_CERT.to_vec()];
    let result = verifier_with(ec_only).verify(&encoded("response-signed"), from_unix_seconds(NOW));
    assert_fault(result, SamlFault::Signature);
}

#[test]
fn sha1_is_refused_unless_allowed() {
    assert_fault(verify("rsa-sha1-signed"), SamlFault::Algorithm);
    assert_fault(verify("sha1-digest"), SamlFault::Algorithm);

    let mut legacy = settings();
    legacy.algorithms = SignatureAlgorithm::ALL.to_vec();
    let verifier = verifier_with(legacy);
    for name in ["rsa-sha1-signed", "sha1-digest", "response-signed"] {
        let verified = verifier.verify(&encoded(name), from_unix_seconds(NOW));
        assert_eq!(verified.expect(name).name_id, "alice@example.com");
    }
}

#[test]
fn a_narrowed_allow_list_refuses_the_other_algorithms() {
    let now = from_unix_seconds(NOW);
    let mut rsa_sha256_only = settings();
    rsa_sha256_only.algorithms = vec![SignatureAlgorithm::RsaSha256];
    let verifier = verifier_with(rsa_sha256_only);
    assert!(verifier.verify(&encoded("response-signed"), now).is_ok());
    for name in ["rsa-sha512-signed", "ec-signed", "rsa-sha1-signed"] {
        assert_fault(verifier.verify(&encoded(name), now), SamlFault::Algorithm);
    }

    let mut ecdsa_only = settings();
    ecdsa_only.algorithms = vec![
        SignatureAlgorithm::EcdsaSha256,
        SignatureAlgorithm::EcdsaSha384,
    ];
    let verifier = verifier_with(ecdsa_only);
    assert!(verifier.verify(&encoded("ec-signed"), now).is_ok());
    for name in ["response-signed", "assertion-signed", "rsa-sha512-signed"] {
        assert_fault(verifier.verify(&encoded(name), now), SamlFault::Algorithm);
    }

    // The digest follows the list: RSA-SHA512 allowed, but not SHA-256 digests.
    let mut sha512_only = settings();
    sha512_only.algorithms = vec![SignatureAlgorithm::RsaSha512];
    let verifier = verifier_with(sha512_only);
    assert!(verifier.verify(&encoded("rsa-sha512-signed"), now).is_ok());
    assert_fault(
        verifier.verify(&encoded("response-signed"), now),
        SamlFault::Algorithm,
    );
    // samael, given the same list, refuses the same.
    let list = algorithms::AllowList::new(&[SignatureAlgorithm::RsaSha512]);
    assert!(
        signed::reduce(
            &fixture("response-signed"),
            &signed::PinnedCerts::new(pinned()),
            &list
        )
        .is_err()
    );
    assert!(
        signed::reduce(
            &fixture("rsa-sha512-signed"),
            &signed::PinnedCerts::new(pinned()),
            &list
        )
        .is_ok()
    );

    let mut nothing = settings();
    nothing.algorithms.clear();
    assert!(matches!(
        SamlVerifier::new(nothing),
        Err(SamlError::Config(_))
    ));
}

#[test]
fn samael_alone_refuses_sha1_too() {
    let result = signed::reduce(
        &fixture("rsa-sha1-signed"),
        &signed::PinnedCerts::new(pinned()),
        &strict(),
    );
    assert!(matches!(
        result,
        Err(SamlError::Invalid {
            fault: SamlFault::Signature,
            ..
        })
    ));
}

// ------------------------------------------------------------------ signature wrapping

const WRAPPINGS: [&str; 9] = [
    "xsw-evil-assertion-before",
    "xsw-evil-assertion-after",
    "xsw-signed-assertion-in-extensions",
    "xsw-signed-assertion-inside-evil",
    "xsw-signed-assertion-in-signature-object",
    "xsw-duplicate-id",
    "xsw-signed-response-in-extensions",
    "xsw-signature-moved-to-response",
    "two-assertions",
];

#[test]
fn signature_wrapping_is_refused() {
    for name in WRAPPINGS {
        let xml = fixture(name);
        assert!(xml.contains("<saml:Assertion"), "{name}");
        match verify(name) {
            Err(SamlError::Invalid {
                fault: SamlFault::Structure,
                ..
            }) => {}
            other => panic!("{name}: expected Structure, got {other:?}"),
        }
    }
}

/// Without the structure checks, samael's reduction still hands over signed content only: the
/// evil assertion never survives (second line of defence).
#[test]
fn samael_alone_returns_only_signed_content() {
    for name in WRAPPINGS {
        match signed::reduce(
            &fixture(name),
            &signed::PinnedCerts::new(pinned()),
            &strict(),
        ) {
            Ok(reduced) => {
                assert!(!reduced.contains("admin@example.com"), "{name}: {reduced}");
                assert!(!reduced.contains("evil-admin"), "{name}: {reduced}");
                assert!(!reduced.contains("_evil"), "{name}: {reduced}");
            }
            Err(SamlError::Invalid {
                fault: SamlFault::Signature,
                ..
            }) => {}
            Err(e) => panic!("{name}: {e}"),
        }
    }
}

#[test]
fn a_signature_must_sign_its_parent_by_id() {
    // Verifies with the IdP's key, but over the whole document (Reference URI="").
    assert_fault(verify("reference-whole-document"), SamlFault::Structure);
}

#[test]
fn a_comment_inside_the_name_id_is_refused() {
    // Signed as user@example.com.evil.com; reading the first text node only would give
    // user@example.com.
    assert_fault(verify("name-id-comment"), SamlFault::Structure);
    // samael alone does not truncate either.
    match signed::reduce(
        &fixture("name-id-comment"),
        &signed::PinnedCerts::new(pinned()),
        &strict(),
    ) {
        Ok(reduced) => assert!(reduced.contains("user@example.com.evil.com"), "{reduced}"),
        Err(SamlError::Invalid {
            fault: SamlFault::Signature,
            ..
        }) => {}
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn an_encrypted_assertion_is_refused() {
    assert_fault(verify("encrypted-assertion"), SamlFault::Encrypted);
}

// ------------------------------------------------------------------ encrypted assertions

const SP_ENCRYPTION_KEY: &[u8] =
    include_bytes!("../../../tests/fixtures/saml/keys/sp-encryption.key");

fn decrypting() -> SamlVerifier {
    let mut settings = settings();
    settings.decryption_key = Some(DecryptionKey::from_pem(SP_ENCRYPTION_KEY).expect("key"));
    verifier_with(settings)
}

const ENCRYPTED: [&str; 10] = [
    "encrypted-assertion",
    "encrypted-response-signed",
    "encrypted-gcm-assertion-signed",
    "encrypted-response-unsigned",
    "encrypted-assertion-signed-response-unsigned",
    "encrypted-to-other-key",
    "encrypted-tampered-ciphertext",
    "encrypted-rsa-1_5",
    "encrypted-tampered-inner-signature",
    "encrypted-wrong-audience",
];

#[test]
fn without_a_key_every_encrypted_assertion_is_refused() {
    for name in ENCRYPTED {
        assert_fault(verify(name), SamlFault::Encrypted);
        assert_eq!(peek_assertion_id(&encoded(name)), None, "{name}");
    }
}

#[test]
fn with_a_key_an_encrypted_assertion_in_a_signed_response_is_accepted() {
    let reference = verify("response-signed").expect("valid");
    let verifier = decrypting();
    // AES-256-CBC, the assertion unsigned; AES-128-GCM, the assertion signed too.
    for name in [
        "encrypted-response-signed",
        "encrypted-gcm-assertion-signed",
    ] {
        let verified = verifier
            .verify(&encoded(name), from_unix_seconds(NOW))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(verified, reference, "{name}");
    }
    // Plain responses are still accepted by a verifier with a key.
    for name in ["response-signed", "assertion-signed", "ec-signed"] {
        let verified = verifier.verify(&encoded(name), from_unix_seconds(NOW));
        assert_eq!(verified.expect(name), reference, "{name}");
    }
}

#[test]
fn an_encrypted_assertion_in_an_unsigned_response_is_refused() {
    let verifier = decrypting();
    let now = from_unix_seconds(NOW);
    for name in [
        "encrypted-response-unsigned",
        // Signed inside the ciphertext, but the Response is not: nothing unsigned is decrypted.
        "encrypted-assertion-signed-response-unsigned",
        "encrypted-assertion",
    ] {
        assert_fault(verifier.verify(&encoded(name), now), SamlFault::Signature);
    }
}

#[test]
fn encrypted_assertions_that_do_not_verify_or_decrypt_are_refused() {
    let verifier = decrypting();
    let now = from_unix_seconds(NOW);
    let cases = [
        ("encrypted-to-other-key", SamlFault::Decryption),
        // The signature covers the ciphertext.
        ("encrypted-tampered-ciphertext", SamlFault::Signature),
        ("encrypted-rsa-1_5", SamlFault::Algorithm),
        // The assertion's own signature is verified after decryption.
        ("encrypted-tampered-inner-signature", SamlFault::Signature),
        // And its contents checked as any other's.
        ("encrypted-wrong-audience", SamlFault::Audience),
    ];
    for (name, fault) in cases {
        let result = verifier.verify(&encoded(name), now);
        match result {
            Err(SamlError::Invalid { fault: got, .. }) => assert_eq!(got, fault, "{name}"),
            other => panic!("{name}: expected {fault:?}, got {other:?}"),
        }
    }
}

#[test]
fn an_encrypted_assertion_must_stand_alone_where_the_assertion_goes() {
    let verifier = decrypting();
    let now = from_unix_seconds(NOW);
    let encrypted = fixture("encrypted-response-signed");
    let start = encrypted.find("<saml:EncryptedAssertion>").expect("start");
    let end = encrypted.find("</saml:EncryptedAssertion>").expect("end") + 26;
    let element = &encrypted[start..end];
    let plain = fixture("assertion-signed");
    let assertion_start = plain.find("<saml:Assertion").expect("assertion");
    let beside_assertion = format!(
        "{}{element}\n{}",
        &plain[..assertion_start],
        &plain[assertion_start..]
    );
    let twice = encrypted.replacen(element, &format!("{element}{element}"), 1);
    let in_extensions = encrypted.replacen(
        element,
        &format!("<samlp:Extensions>{element}</samlp:Extensions>"),
        1,
    );
    for (what, xml) in [
        ("beside an Assertion", beside_assertion),
        ("twice", twice),
        ("in Extensions", in_extensions),
    ] {
        match verifier.verify(&STANDARD.encode(&xml), now) {
            Err(SamlError::Invalid {
                fault: SamlFault::Structure,
                ..
            }) => {}
            other => panic!("{what}: expected Structure, got {other:?}"),
        }
    }
}

#[test]
fn decryption_keys_are_rsa_pkcs8_and_never_printed() {
    let key = DecryptionKey::from_pem(SP_ENCRYPTION_KEY).expect("key");
    assert_eq!(format!("{key:?}"), "DecryptionKey(<redacted>)");
    let verifier = decrypting();
    assert!(!format!("{verifier:?}").contains("MII"));

    const EC_KEY: &[u8] = include_bytes!("../../../tests/fixtures/saml/keys/ec.key");
    const IDP_CERT_PEM: &[u8] = include_bytes!("../../../tests/fixtures/saml/keys/idp.crt");
    let pkcs1 = b"-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n";
    for (what, pem, expected) in [
        ("EC key", EC_KEY, "not an RSA key"),
        ("certificate", IDP_CERT_PEM, "no PRIVATE KEY (PKCS#8) block"),
        ("PKCS#1", pkcs1.as_slice(), "openssl pkcs8 -topk8 -nocrypt"),
        (
            "garbage",
            b"hello".as_slice(),
            "no PRIVATE KEY (PKCS#8) block",
        ),
    ] {
        match DecryptionKey::from_pem(pem) {
            Err(SamlError::Config(message)) => {
                assert!(message.contains(expected), "{what}: {message}");
            }
            other => panic!("{what}: {other:?}"),
        }
    }
}

#[test]
fn a_bare_signed_assertion_is_refused() {
    let xml = fixture("assertion-signed");
    let start = xml.find("<saml:Assertion").expect("assertion");
    let end = xml.find("</saml:Assertion>").expect("end") + "</saml:Assertion>".len();
    assert_fault(verify_xml(&xml[start..end]), SamlFault::Structure);
}

// ------------------------------------------------------------------ assertion contents

#[test]
fn conditions_and_an_audience_restriction_naming_the_service_are_required() {
    for name in [
        "missing-conditions",
        "missing-audience-restriction",
        "wrong-audience",
    ] {
        assert_fault(verify(name), SamlFault::Audience);
    }
}

#[test]
fn the_portals_entity_id_is_an_audience_only_when_configured() {
    let mut settings = settings();
    settings
        .acs_urls
        .push("https://sts.example.com/saml".to_owned());
    let now = from_unix_seconds(NOW);
    let without = verifier_with(settings.clone()).verify(&encoded("portal-in-response-to"), now);
    assert_fault(without, SamlFault::Audience);
    settings.portal_entity_id = Some("https://sts.example.com/saml/metadata".to_owned());
    let verifier = verifier_with(settings);
    let verified = verifier
        .verify(&encoded("portal-in-response-to"), now)
        .expect("the portal's audience");
    assert_eq!(verified.recipient, "https://sts.example.com/saml");
    assert!(
        verifier.verify(&encoded("response-signed"), now).is_ok(),
        "AWS's too"
    );
    assert_fault(
        verifier.verify(&encoded("wrong-audience"), now),
        SamlFault::Audience,
    );
}

#[test]
fn the_recipient_must_be_an_accepted_endpoint() {
    assert_fault(verify("wrong-recipient"), SamlFault::Recipient);
}

#[test]
fn the_destination_must_be_an_accepted_endpoint() {
    for name in ["wrong-destination", "wrong-destination-unsigned-envelope"] {
        assert_fault(verify(name), SamlFault::Destination);
    }
}

#[test]
fn issuers_must_be_the_identity_provider() {
    for name in ["wrong-issuer", "wrong-response-issuer"] {
        assert_fault(verify(name), SamlFault::Issuer);
    }
}

#[test]
fn the_status_must_be_success() {
    assert_fault(verify("status-responder"), SamlFault::Status);
}

#[test]
fn exactly_one_bearer_confirmation_is_required() {
    assert_fault(
        verify("two-bearer-confirmations"),
        SamlFault::SubjectConfirmation,
    );
}

#[test]
fn expiry_allows_the_clock_skew_and_no_more() {
    let verifier = verifier_with(settings());
    let b64 = encoded("response-signed");
    let within = from_unix_seconds(CONFIRMATION_END + 59);
    assert!(verifier.verify(&b64, within).is_ok());
    for late in [CONFIRMATION_END + 60, CONFIRMATION_END + 86_400] {
        assert!(matches!(
            verifier.verify(&b64, from_unix_seconds(late)),
            Err(SamlError::Expired)
        ));
    }
}

#[test]
fn future_assertions_are_not_yet_valid() {
    for name in ["not-yet-valid", "future-issue-instant"] {
        assert_fault(verify(name), SamlFault::NotYetValid);
    }
    // The good response, two minutes before it was issued.
    let early = from_unix_seconds(NOW - 180);
    let result = verifier_with(settings()).verify(&encoded("response-signed"), early);
    assert_fault(result, SamlFault::NotYetValid);
}

// ------------------------------------------------------------------ hostile and malformed input

#[test]
fn dtds_are_refused_before_parsing() {
    for name in ["doctype-billion-laughs", "doctype-external-entity"] {
        assert_fault(verify(name), SamlFault::Malformed);
    }
    let lower_case = fixture("response-signed").replacen("?>", "?><!doctype x>", 1);
    assert_fault(verify_xml(&lower_case), SamlFault::Malformed);
}

#[test]
fn malformed_input_is_refused() {
    let verifier = verifier_with(settings());
    let now = from_unix_seconds(NOW);
    let good = fixture("response-signed");
    let too_long = "A".repeat(input::MAX_LEN + 4);
    let not_utf8 = STANDARD.encode([0x3c, 0xff, 0xfe, 0x3e]);
    let inputs = [
        ("empty", String::new()),
        (
            "too short",
            "PD8+".chars().take(input::MIN_LEN - 1).collect(),
        ),
        ("too long", too_long),
        ("not base64", "this is not base64!".to_owned()),
        ("not UTF-8", not_utf8),
        ("not XML", STANDARD.encode("hello, world")),
        ("unclosed", STANDARD.encode(&good[..good.len() - 20])),
        (
            "processing instruction",
            STANDARD.encode(good.replacen("?>", "?><?evil x?>", 1)),
        ),
        (
            "undeclared entity",
            STANDARD.encode(good.replacen(">alice@", ">&evil;alice@", 1)),
        ),
        (
            "NUL",
            STANDARD.encode(good.replacen(">alice@", ">\0alice@", 1)),
        ),
        (
            "UTF-16 declaration",
            STANDARD.encode(good.replacen("UTF-8", "UTF-16", 1)),
        ),
        (
            "second root",
            STANDARD.encode(format!("{good}<samlp:Response/>")),
        ),
        (
            "too deep",
            STANDARD.encode(good.replacen(
                "</saml:Issuer>",
                &format!("{}{}</saml:Issuer>", "<x>".repeat(40), "</x>".repeat(40)),
                1,
            )),
        ),
    ];
    for (what, b64) in inputs {
        match verifier.verify(&b64, now) {
            Err(SamlError::Invalid {
                fault: SamlFault::Malformed,
                ..
            }) => {}
            other => panic!("{what}: expected Malformed, got {other:?}"),
        }
    }
}

#[test]
fn time_is_never_read_from_the_wall_clock() {
    // A fixed `now` long after the fixtures' validity, far from the real date: expired.
    let late = SystemTime::UNIX_EPOCH + Duration::from_secs(4_000_000_000);
    let result = verifier_with(settings()).verify(&encoded("response-signed"), late);
    assert!(matches!(result, Err(SamlError::Expired)));
}

// ------------------------------------------------------------------ mutations

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(96))]

    /// Changing any one byte of a response whose Response envelope is unsigned either gets it
    /// refused or leaves exactly what was signed.
    #[test]
    fn a_changed_byte_never_changes_what_is_verified(
        at in 0usize..4096,
        byte in proptest::sample::select(b" a<>\"/&=x:#-".to_vec()),
    ) {
        let mut xml = fixture("assertion-signed").into_bytes();
        let at = at * xml.len() / 4096;
        xml[at] = byte;
        let b64 = STANDARD.encode(&xml);
        if let Ok(verified) = verifier_with(settings()).verify(&b64, from_unix_seconds(NOW)) {
            proptest::prop_assert_eq!(verified, verify("assertion-signed").expect("valid"));
        }
    }
}

// ------------------------------------------------------------------ the provider behind the seam

async fn verify_through_the_seam(response: &str) -> Result<String, VerifyError> {
    let (provider, _dir) = provider_with(settings());
    let identity = provider
        .verify(
            &SubjectCredential::SamlResponse(response),
            &Expectations::NONE,
            from_unix_seconds(NOW),
        )
        .await?;
    Ok(identity.subject)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_provider_verifies_on_a_multi_threaded_runtime() {
    let subject = verify_through_the_seam(&encoded("response-signed")).await;
    assert_eq!(subject.expect("valid"), "alice@example.com");
    assert!(matches!(
        verify_through_the_seam(&encoded("tampered-role")).await,
        Err(VerifyError::Invalid { .. })
    ));
}

#[tokio::test(flavor = "current_thread")]
async fn the_provider_verifies_on_a_current_thread_runtime() {
    let subject = verify_through_the_seam(&encoded("response-signed")).await;
    assert_eq!(subject.expect("valid"), "alice@example.com");
}

/// During a rollover the certificate that verified last is tried first; the other still
/// verifies what it signs, and a message neither signed fails with both tried.
#[test]
fn the_certificate_that_verified_last_is_tried_first() {
    let certs = signed::PinnedCerts::new(pinned());
    assert_eq!(certs.first_to_try(), 0);
    assert!(signed::reduce(&fixture("ec-signed"), &certs, &strict()).is_ok());
    assert_eq!(certs.first_to_try(), 1, "the EC certificate verified");
    assert!(signed::reduce(&fixture("response-signed"), &certs, &strict()).is_ok());
    assert_eq!(certs.first_to_try(), 0, "the RSA certificate verified");
    let err = signed::reduce(&fixture("attacker-key-in-keyinfo"), &certs, &strict())
        .expect_err("signed by another key");
    let detail = err.to_string();
    assert!(
        detail.contains("certificate 0:") && detail.contains("certificate 1:"),
        "{detail}"
    );
    assert_eq!(certs.first_to_try(), 0, "a failure moves nothing");
}

async fn verify_expecting(
    provider: &SamlProvider,
    name: &str,
    in_response_to: Option<&str>,
) -> Result<crate::identity::FederatedIdentity, VerifyError> {
    provider
        .verify(
            &SubjectCredential::SamlResponse(&encoded(name)),
            &Expectations {
                access_token: None,
                nonce: None,
                in_response_to,
            },
            from_unix_seconds(NOW),
        )
        .await
}

#[track_caller]
fn assert_token_fault(
    result: Result<crate::identity::FederatedIdentity, VerifyError>,
    expected: crate::idp::TokenFault,
) {
    match result {
        Err(VerifyError::Invalid { fault, .. }) => assert_eq!(fault, expected),
        other => panic!("expected {expected:?}, got {other:?}"),
    }
}

/// The provider refuses an assertion already used, whoever presents it; verifying alone does
/// not use it up (the issuer does, when it issues credentials).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_provider_refuses_an_assertion_already_used() {
    let (provider, store, _dir) = provider_and_store(settings());
    let first = verify_expecting(&provider, "response-signed", None).await;
    let identity = first.expect("first use");
    assert!(
        verify_expecting(&provider, "response-signed", None)
            .await
            .is_ok(),
        "verified, not used"
    );
    let facts = identity.saml.as_ref().expect("SAML facts");
    assert_eq!(
        facts.grant.session_name.as_deref(),
        Some("alice@example.com")
    );
    assert_eq!(facts.grant.session_duration, Some(Ok(7200)));
    assert!(facts.grant.grants(
        "arn:aws:iam::123456789012:role/saml-admin",
        "arn:aws:iam::123456789012:saml-provider/corp"
    ));
    assert_eq!(identity.session_tags.principal_tags["team"], "platform");
    let used = store
        .replay
        .remember_once(
            &crate::store::ReplayKey::saml_assertion("corp", &facts.assertion_id),
            crate::clock::unix_seconds(facts.not_on_or_after),
            NOW,
        )
        .await
        .unwrap();
    assert!(used);
    assert_token_fault(
        verify_expecting(&provider, "response-signed", None).await,
        crate::idp::TokenFault::Replay,
    );
    // The same assertion inside another envelope is still the same assertion.
    assert_token_fault(
        verify_expecting(&provider, "both-signed", None).await,
        crate::idp::TokenFault::Replay,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expected_in_response_to_must_be_answered() {
    use crate::idp::TokenFault::Saml;
    let (provider, _dir) = provider_with(settings());
    assert!(
        verify_expecting(&provider, "in-response-to", Some("_req1"))
            .await
            .is_ok()
    );
    let (provider, _dir) = provider_with(settings());
    assert!(
        verify_expecting(&provider, "in-response-to-confirmation-only", Some("_req1"))
            .await
            .is_ok()
    );
    for (name, expected) in [
        ("in-response-to", "_req2"),
        ("in-response-to-disagreeing", "_req1"),
        ("response-signed", "_req1"),
    ] {
        let (provider, _dir) = provider_with(settings());
        assert_token_fault(
            verify_expecting(&provider, name, Some(expected)).await,
            Saml(SamlFault::InResponseTo),
        );
    }
    // Nothing expected (the STS API, an IdP-initiated login): an answer is accepted as it is.
    let (provider, _dir) = provider_with(settings());
    assert!(
        verify_expecting(&provider, "in-response-to-disagreeing", None)
            .await
            .is_ok()
    );
}

#[test]
fn in_response_to_is_read_from_the_response_and_the_confirmation() {
    let verified = verify("in-response-to-disagreeing").expect("valid");
    assert_eq!(verified.response_in_response_to.as_deref(), Some("_other"));
    assert_eq!(
        verified.confirmation_in_response_to.as_deref(),
        Some("_req1")
    );
}
