//! Throughput of the write path behind every issued credential: durable `put_session` (group
//! commit, 1 and 64 concurrent writers) and minting (key id + secret + sealed token).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use stsbridge::audit::{AuditEvent, AuditIdentity, IdentityKind};
use stsbridge::clock::Stopwatch;
use stsbridge::creds::{
    CredentialMinter, Grant, Keyring, Minter, Session, SessionKind, SharedKeyring,
};
use stsbridge::store::{SessionRecord, StorageSettings, Store};

/// Distinct access key ids across every iteration of every benchmark.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// The session every benchmark records, named after `id`.
fn spec(id: &str) -> Session {
    Session {
        identity_arn: "arn:aws:iam::123456789012:role/ci".into(),
        identity_id: "AROAEXAMPLE".into(),
        caller_arn: format!("arn:aws:sts::123456789012:assumed-role/ci/{id}"),
        account_id: "123456789012".into(),
        session_name: "bench".into(),
        source_identity: None,
        provider: "token.actions.githubusercontent.com".into(),
        subject: "repo:org/repo:ref:refs/heads/main".into(),
        session_tags: BTreeMap::from([("team".into(), "infra".into())]),
        transitive_tag_keys: vec![],
        session_policy: None,
        policy_arns: vec![],
        kind: SessionKind::AssumedRole,
        mfa_authenticated_at: None,
    }
}

fn session() -> SessionRecord {
    let id = format!("ASIABENCH{:011}", NEXT_ID.fetch_add(1, Ordering::Relaxed));
    SessionRecord {
        session: spec(&id),
        access_key_id: id,
        audience: "sts.amazonaws.com".into(),
        issued_at: 1_795_000_000,
        expires_at: 1_795_003_600,
        request_id: "bench".into(),
        source_ip: None,
    }
}

fn event(session: &SessionRecord) -> AuditEvent {
    AuditEvent {
        event_time: "2026-11-22T19:08:00Z".into(),
        event_name: "AssumeRoleWithWebIdentity".into(),
        source_ip_address: None,
        user_agent: None,
        request_parameters: serde_json::json!({ "roleSessionName": "bench" }),
        user_identity: AuditIdentity {
            kind: IdentityKind::WebIdentityUser,
            ..AuditIdentity::default()
        },
        response_elements: Some(serde_json::json!({ "accessKeyId": session.access_key_id })),
        error_code: None,
        error_message: None,
        request_id: session.request_id.clone(),
    }
}

fn grant() -> Grant {
    Grant {
        session: spec("bench"),
        duration_seconds: 3600,
    }
}

/// `iters` durable puts spread over `writers` concurrent tasks; returns the wall time.
async fn timed_puts(store: Store, writers: u64, iters: u64) -> Duration {
    let start = Stopwatch::start();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let store = store.clone();
            let share = iters / writers + u64::from(w < iters % writers);
            tokio::spawn(async move {
                for _ in 0..share {
                    let s = session();
                    store
                        .sessions
                        .put(&s, &event(&s))
                        .await
                        .expect("durable put");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("writer task");
    }
    start.elapsed()
}

fn durable_puts(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let store = stsbridge::store::open(&StorageSettings::new(
        dir.path().to_owned(),
        64 * 1024 * 1024,
    ))
    .expect("open store");
    let mut group = c.benchmark_group("store");
    group.throughput(Throughput::Elements(1));
    for writers in [1, 64] {
        group.bench_function(format!("durable_put_session/{writers}_writers"), |b| {
            b.iter_custom(|iters| runtime.block_on(timed_puts(store.clone(), writers, iters)));
        });
    }
    group.finish();
}

fn mint(c: &mut Criterion) {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
    let minter = Minter::new(SharedKeyring::new(Keyring::generate(now).expect("keyring")));
    let grant = grant();
    let mut group = c.benchmark_group("creds");
    group.throughput(Throughput::Elements(1));
    group.bench_function("mint", |b| {
        b.iter(|| minter.mint(&grant, now).expect("mint"))
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = durable_puts, mint
}
criterion_main!(benches);
