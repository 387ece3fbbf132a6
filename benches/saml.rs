//! SAML cost, each figure next to samael's bare signature check (reduce-to-signed with one
//! pinned certificate) of the same kind of document, in the same run:
//! - `saml/…`: `SamlVerifier::verify` alone (input guard, structure checks, the same signature
//!   work, then the checks on the signed data), on the checked-in fixtures;
//! - `saml_request/…`: the daemon's whole `AssumeRoleWithSAML` (`Params::parse` of the form
//!   body, then `sts::handle`: replay check, verification, trust policy, minting, the session
//!   and audit record made durable in sled on a temporary directory, the XML response), and
//!   `SamlVerifier::verify` alone, on the same kind of Response. The replay cache refuses an
//!   assertion ID seen before, so every iteration gets a Response signed afresh (a new Response
//!   and Assertion ID) by the fixtures' IdP key, in-process with samael, outside the timed part;
//! - `saml_request_concurrent/…`: as many requests in flight as the daemon verifies at once
//!   and more, so a request's wait for the disk overlaps the others' work;
//! - `saml_request_cpu…`: the same two groups measured in process CPU time (every thread's)
//!   instead of wall time: what a request costs, without the time it waits for the disk.
//!
//! Per core: `taskset -c 0 cargo bench --bench saml -- saml_request_cpu_concurrent` (the
//! daemon and the bare check then use one thread, as `available_parallelism` follows the
//! affinity mask).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject;
use samael::crypto::{CertificateDer, Crypto, CryptoProvider, ReduceMode};
use stsbridge::clock::ManualClock;
use stsbridge::config::Federation;
use stsbridge::config::{Role, RoleSet};
use stsbridge::creds::{Keyring, SharedKeyring};
use stsbridge::idp::saml::{IdpMetadata, SamlIdpSettings, SamlProvider, SamlVerifier};
use stsbridge::idp::{IdpRegistry, IdpVerifier};
use stsbridge::origin::Origin;
use stsbridge::policy::{Policy, PolicyKind};
use stsbridge::state::State;
use stsbridge::store::StorageSettings;
use stsbridge::sts::{Params, RequestMeta};

/// The daemon's allocator (see `main.rs`), so the figures are the daemon's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Inside the fixtures' validity window (2026-01-01T00:01:00Z).
const NOW: u64 = 1_767_225_660;
const ACCOUNT: &str = "123456789012";
const PROVIDER_ARN: &str = "arn:aws:iam::123456789012:saml-provider/corp";
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/saml-admin";

fn fixtures(name: &str) -> String {
    format!("{}/tests/fixtures/saml/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> String {
    let path = fixtures(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn idp_cert() -> Vec<u8> {
    let path = fixtures("keys/idp.der");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn settings() -> SamlIdpSettings {
    SamlIdpSettings::new(
        "corp",
        IdpMetadata {
            entity_id: "https://idp.example.com/saml".into(),
            signing_certs_der: vec![idp_cert()],
            valid_until: None,
            cache_duration: None,
            sso_redirect_url: None,
        },
    )
}

fn saml(c: &mut Criterion) {
    let now: SystemTime = UNIX_EPOCH + Duration::from_secs(NOW);
    let verifier = SamlVerifier::new(settings()).expect("verifier");
    let cert = CertificateDer::from(idp_cert());
    let mut group = c.benchmark_group("saml");
    group.throughput(Throughput::Elements(1));
    for name in ["assertion-signed.xml", "both-signed.xml"] {
        let xml = fixture(name);
        let b64 = base64::engine::general_purpose::STANDARD.encode(&xml);
        group.bench_function(format!("samael_bare/{name}"), |b| {
            b.iter(|| bare_check(black_box(&xml), &cert))
        });
        group.bench_function(format!("stsbridge_verify/{name}"), |b| {
            b.iter(|| verifier.verify(black_box(&b64), now).expect("valid"))
        });
    }
    // A certificate rollover: the metadata lists the RSA certificate first, the IdP signs with
    // the EC one listed second.
    let mut rollover = settings();
    let ec_cert = std::fs::read(fixtures("keys/ec.der")).expect("EC certificate");
    if let Some(metadata) = rollover.metadata.as_mut() {
        metadata.signing_certs_der.push(ec_cert.clone());
    }
    let rollover = SamlVerifier::new(rollover).expect("verifier");
    let xml = fixture("ec-signed.xml");
    let b64 = base64::engine::general_purpose::STANDARD.encode(&xml);
    let ec_cert = CertificateDer::from(ec_cert);
    group.bench_function("samael_bare/ec-signed.xml", |b| {
        b.iter(|| bare_check(black_box(&xml), &ec_cert))
    });
    group.bench_function(
        "stsbridge_verify/ec-signed.xml/second_of_two_certificates",
        |b| b.iter(|| rollover.verify(black_box(&b64), now).expect("valid")),
    );
    group.finish();
}

/// samael's signature check and reduction, as the verifier calls it, nothing else.
fn bare_check(xml: &str, cert: &CertificateDer) -> String {
    Crypto::reduce_xml_to_signed(
        xml,
        std::slice::from_ref(cert),
        ReduceMode::ValidateAndMarkNoAncestors,
    )
    .expect("verifies")
}

/// Signs `response-signed.xml` afresh with new Response and Assertion IDs: the fixture made a
/// template again (its digest, signature value and KeyInfo removed), then signed by samael with
/// the IdP key of the fixtures.
struct FreshResponses {
    template: String,
    key_der: Vec<u8>,
    next: AtomicU64,
}

impl FreshResponses {
    fn new() -> Self {
        let signed = fixture("response-signed.xml");
        let template = between_tags(&signed, "<ds:DigestValue>", "</ds:DigestValue>", "");
        let template = between_tags(&template, "<ds:SignatureValue>", "</ds:SignatureValue>", "");
        let start = template.find("    <ds:KeyInfo>").expect("KeyInfo");
        let end = template.find("</ds:KeyInfo>\n").expect("KeyInfo end") + 14;
        let template = format!("{}{}", &template[..start], &template[end..]);
        assert!(template.contains("ID=\"_r1\"") && template.contains("URI=\"#_r1\""));
        assert!(template.contains("ID=\"_a1\""));
        let pem = std::fs::read(fixtures("keys/idp.key")).expect("IdP key");
        let key_der = PrivatePkcs8KeyDer::from_pem_slice(&pem)
            .expect("PKCS#8 PEM")
            .secret_pkcs8_der()
            .to_vec();
        Self {
            template,
            key_der,
            next: AtomicU64::new(1),
        }
    }

    /// The XML of a Response signed now, IDs `_rN` and `_aN` never used before.
    fn xml(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let unsigned = self
            .template
            .replace("ID=\"_r1\"", &format!("ID=\"_r{n}\""))
            .replace("URI=\"#_r1\"", &format!("URI=\"#_r{n}\""))
            .replace("ID=\"_a1\"", &format!("ID=\"_a{n}\""));
        Crypto::sign_xml(unsigned, &self.key_der).expect("signed")
    }

    /// The `AssumeRoleWithSAML` form body carrying a fresh Response.
    fn request_body(&self) -> Vec<u8> {
        let b64 = base64::engine::general_purpose::STANDARD.encode(self.xml());
        serde_urlencoded::to_string([
            ("Action", "AssumeRoleWithSAML"),
            ("Version", "2011-06-15"),
            ("RoleArn", ROLE_ARN),
            ("PrincipalArn", PROVIDER_ARN),
            ("SAMLAssertion", b64.as_str()),
        ])
        .expect("form")
        .into_bytes()
    }
}

/// `text` with what lies between every `open` and the `close` that follows replaced by `with`.
fn between_tags(text: &str, open: &str, close: &str, with: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(open) {
        let from = start + open.len();
        let end = rest[from..].find(close).expect("closed") + from;
        out.push_str(&rest[..from]);
        out.push_str(with);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The role the fixtures' assertions grant, trusting the provider as an AWS account would.
fn role() -> Role {
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow",
            "Principal":{{"Federated":"{PROVIDER_ARN}"}},
            "Action":["sts:AssumeRoleWithSAML","sts:TagSession"],
            "Condition":{{"StringEquals":{{"SAML:aud":"https://signin.aws.amazon.com/saml"}}}}}}]}}"#
    );
    let permissions = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":"*"}]}"#;
    Role {
        name: "saml-admin".into(),
        account_id: ACCOUNT.into(),
        path: "/".into(),
        arn: ROLE_ARN.into(),
        role_id: "AROABENCHSAMLADMIN01".into(),
        max_session_duration: 43_200,
        trust_policy: Policy::parse(&trust, PolicyKind::Trust).expect("trust policy"),
        policies: vec![(
            "read".into(),
            Policy::parse(permissions, PolicyKind::Identity).expect("policy"),
        )],
        tags: BTreeMap::new(),
    }
}

/// A whole STS state as `stsbridge::run` builds it: sled on a temporary directory, a fresh
/// keyring, the SAML provider of the fixtures, the role, a clock stopped at the fixtures' time.
fn sts_state(dir: &std::path::Path) -> State {
    let now = UNIX_EPOCH + Duration::from_secs(NOW);
    let store = stsbridge::store::open(&StorageSettings::new(dir.join("sled"), 64 * 1024 * 1024))
        .expect("sled");
    let keyring = SharedKeyring::new(Keyring::generate(now).expect("keyring"));
    let mut roles = RoleSet::default();
    roles.insert(role());
    let provider = SamlProvider::new(settings(), store.replay.clone()).expect("provider");
    let federation = Federation {
        idps: IdpRegistry::new([Arc::new(provider) as Arc<dyn IdpVerifier>]),
        roles,
        managed_policies: BTreeMap::new(),
        authorization_services: Vec::new(),
        accounts: BTreeMap::new(),
        signin: Vec::new(),
    };
    State::new(federation, store, keyring, Arc::new(ManualClock::new(now)))
}

fn meta() -> RequestMeta {
    RequestMeta {
        origin: Origin {
            request_id: "00000000-0000-4000-8000-00000000be0c".into(),
            source_ip: Some([192, 0, 2, 10].into()),
            user_agent: Some("stsbridge-bench".into()),
            secure_transport: true,
        },
        signed: None,
        head: false,
    }
}

fn saml_request<M: Measurement + 'static>(c: &mut Criterion<M>, prefix: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let state = Arc::new(sts_state(dir.path()));
    let meta = Arc::new(meta());
    let fresh = FreshResponses::new();
    let cert = CertificateDer::from(idp_cert());

    // Once, outside the measurements: the request succeeds, and a replay is refused.
    let body = fresh.request_body();
    let handle = |body: &[u8]| {
        runtime.block_on(async {
            let params = Params::parse(body).expect("form");
            stsbridge::sts::handle(&state, &meta, &params).await
        })
    };
    let xml = handle(&body).expect("credentials");
    assert!(xml.contains("<AccessKeyId>ASIA"), "{xml}");
    assert!(handle(&body).is_err(), "a replay must be refused");

    let mut group = c.benchmark_group(prefix);
    group.throughput(Throughput::Elements(1));
    let sample = fresh.xml();
    group.bench_function("samael_bare/response-signed", |b| {
        b.iter(|| bare_check(black_box(&sample), &cert))
    });
    let verifier = SamlVerifier::new(settings()).expect("verifier");
    let now: SystemTime = UNIX_EPOCH + Duration::from_secs(NOW);
    group.bench_function("stsbridge_verify/response-signed", |b| {
        b.iter_batched(
            || base64::engine::general_purpose::STANDARD.encode(fresh.xml()),
            |b64| verifier.verify(&b64, now).expect("valid"),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("assume_role_with_saml/response-signed", |b| {
        b.iter_batched(
            || fresh.request_body(),
            |body| handle(&body).expect("credentials"),
            BatchSize::SmallInput,
        )
    });
    group.finish();

    // The cost of a request when the daemon is busy: CONCURRENT requests in flight on the
    // daemon's runtime (on every core the process may use: one under `taskset -c 0`), so a
    // request's durable-write wait overlaps the others' verification, next to samael's bare
    // check of as many responses on as many threads.
    let mut group = c.benchmark_group(format!("{prefix}_concurrent"));
    group.throughput(Throughput::Elements(CONCURRENT as u64));
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    group.bench_function(format!("samael_bare/{threads}_threads"), |b| {
        b.iter_batched(
            || (0..CONCURRENT).map(|_| fresh.xml()).collect::<Vec<_>>(),
            |responses| {
                std::thread::scope(|scope| {
                    for chunk in responses.chunks(CONCURRENT.div_ceil(threads)) {
                        let cert = &cert;
                        scope.spawn(move || {
                            for xml in chunk {
                                bare_check(xml, cert);
                            }
                        });
                    }
                });
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function(
        format!("assume_role_with_saml/{CONCURRENT}_in_flight"),
        |b| {
            b.iter_batched(
                || {
                    (0..CONCURRENT)
                        .map(|_| fresh.request_body())
                        .collect::<Vec<_>>()
                },
                |bodies| {
                    runtime.block_on(async {
                        // One task per request, as the server runs them.
                        let tasks: Vec<_> = bodies
                            .into_iter()
                            .map(|body| {
                                let (state, meta) = (Arc::clone(&state), Arc::clone(&meta));
                                tokio::spawn(async move {
                                    let params = Params::parse(&body).expect("form");
                                    stsbridge::sts::handle(&state, &meta, &params)
                                        .await
                                        .expect("credentials")
                                })
                            })
                            .collect();
                        for task in tasks {
                            task.await.expect("request task");
                        }
                    })
                },
                BatchSize::SmallInput,
            )
        },
    );
    group.finish();
}

/// Requests in flight in the concurrent measurement.
const CONCURRENT: usize = 16;

fn saml_request_wall(c: &mut Criterion) {
    saml_request(c, "saml_request");
}

fn saml_request_cpu(c: &mut Criterion<ProcessCpu>) {
    saml_request(c, "saml_request_cpu");
}

/// Process CPU time: every thread's (the runtime's, sled's and the commit thread's, samael's
/// threads for the bare check), threads that ended included. What a request costs the machine,
/// where wall time would also count the wait for the disk.
struct ProcessCpu;

impl Measurement for ProcessCpu {
    type Intermediate = cpu_time::ProcessTime;
    type Value = Duration;

    fn start(&self) -> Self::Intermediate {
        cpu_time::ProcessTime::now()
    }
    fn end(&self, start: Self::Intermediate) -> Self::Value {
        start.elapsed()
    }
    fn add(&self, a: &Self::Value, b: &Self::Value) -> Self::Value {
        *a + *b
    }
    fn zero(&self) -> Self::Value {
        Duration::ZERO
    }
    fn to_f64(&self, value: &Self::Value) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuFormatter
    }
}

/// CPU nanoseconds shown in the unit that suits them; throughput per CPU-second.
struct CpuFormatter;

impl ValueFormatter for CpuFormatter {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = match typical {
            t if t < 1e3 => (1.0, "ns CPU"),
            t if t < 1e6 => (1e-3, "µs CPU"),
            t if t < 1e9 => (1e-6, "ms CPU"),
            _ => (1e-9, "s CPU"),
        };
        values.iter_mut().for_each(|v| *v *= factor);
        unit
    }
    fn scale_throughputs(
        &self,
        _typical: f64,
        throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        let (n, unit) = match *throughput {
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) => (n, "B/CPU-s"),
            Throughput::Elements(n) => (n, "elem/CPU-s"),
        };
        values.iter_mut().for_each(|v| *v = n as f64 * 1e9 / *v);
        unit
    }
    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

fn config<M: Measurement>(c: Criterion<M>) -> Criterion<M> {
    c.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
}

criterion_group! {
    name = benches;
    config = config(Criterion::default());
    targets = saml, saml_request_wall
}
criterion_group! {
    name = cpu;
    config = config(Criterion::default().with_measurement(ProcessCpu));
    targets = saml_request_cpu
}
criterion_main!(benches, cpu);
