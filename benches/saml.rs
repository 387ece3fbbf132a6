//! SAML verification cost on one core: samael's bare signature check (reduce-to-signed with one
//! pinned certificate) next to `SamlVerifier::verify` (input guard, structure checks, the same
//! signature work, then the checks on the signed data), on the same assertion in the same run.

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use samael::crypto::{CertificateDer, Crypto, CryptoProvider, ReduceMode};
use stsbridge::idp::saml::{IdpMetadata, SamlIdpSettings, SamlVerifier};

/// Inside the fixtures' validity window (2026-01-01T00:01:00Z).
const NOW: u64 = 1_767_225_660;

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/saml/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn idp_cert() -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/saml/keys/idp.der",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn verifier() -> SamlVerifier {
    SamlVerifier::new(SamlIdpSettings::new(
        "corp",
        IdpMetadata {
            entity_id: "https://idp.example.com/saml".into(),
            signing_certs_der: vec![idp_cert()],
            valid_until: None,
            cache_duration: None,
        },
    ))
    .expect("verifier")
}

fn saml(c: &mut Criterion) {
    let now: SystemTime = UNIX_EPOCH + Duration::from_secs(NOW);
    let verifier = verifier();
    let cert = CertificateDer::from(idp_cert());
    let mut group = c.benchmark_group("saml");
    group.throughput(Throughput::Elements(1));
    for name in ["assertion-signed.xml", "both-signed.xml"] {
        let xml = fixture(name);
        let b64 = base64::engine::general_purpose::STANDARD.encode(&xml);
        group.bench_function(format!("samael_bare/{name}"), |b| {
            b.iter(|| {
                Crypto::reduce_xml_to_signed(
                    black_box(&xml),
                    std::slice::from_ref(&cert),
                    ReduceMode::ValidateAndMarkNoAncestors,
                )
                .expect("verifies")
            })
        });
        group.bench_function(format!("stsbridge_verify/{name}"), |b| {
            b.iter(|| verifier.verify(black_box(&b64), now).expect("valid"))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = saml
}
criterion_main!(benches);
