//! What the daemon keeps on disk: bytes per issued credential (session record, audit event and
//! the store's own overhead), bytes per refused request from a stranger, and the data directory
//! once everything has expired and the audit retention has passed.
//!
//! Not a criterion bench: it reports sizes, not times. It drives the STS adapter in-process
//! (`sts::handle`, the code behind the HTTP endpoint) on a real sled store in a temporary
//! directory, with a manual clock so the purge can be shown without waiting.
//!
//! ```text
//! cargo bench --bench footprint                      # 1 000 000 credentials
//! cargo bench --bench footprint -- --credentials 100000
//! ```

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use stsbridge::clock::{Clock, ManualClock, Stopwatch, from_unix_seconds};
use stsbridge::config::{Federation, Role, RoleSet};
use stsbridge::creds::{Keyring, SharedKeyring};
use stsbridge::idp::oidc::signer::TokenSigner;
use stsbridge::idp::oidc::{OidcKeySource, OidcSettings, OidcVerifier};
use stsbridge::idp::{IdpRegistry, IdpVerifier};
use stsbridge::origin::Origin;
use stsbridge::policy::{Policy, PolicyKind};
use stsbridge::state::State;
use stsbridge::store::{StorageSettings, Store};
use stsbridge::sts::{Params, RequestMeta};

const NOW: i64 = 1_795_000_000;
const ISSUER: &str = "https://token.actions.githubusercontent.com";
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/deploy";
/// What aws-sdk-rust sends.
const USER_AGENT: &str = "aws-sdk-rust/1.3.9 ua/2.1 api/sts/1.89.0 os/linux lang/rust/1.94.0 \
                          m/E app/deploy-pipeline";
/// Concurrent clients, as loadgen's default.
const CLIENTS: usize = 64;
/// Tokens are re-signed this often (a workload fetches a fresh one now and then).
const REQUESTS_PER_TOKEN: usize = 1000;
/// The page cache the daemon's example configuration sets.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;
/// The default `[audit] retention_days`.
const RETENTION_DAYS: i64 = 90;

fn role() -> Role {
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
        "Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},
        "Action":"sts:AssumeRoleWithWebIdentity",
        "Condition":{"StringEquals":{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com"},
                     "StringLike":{"token.actions.githubusercontent.com:sub":"repo:example-org/*"}}}]}"#;
    Role {
        name: "deploy".into(),
        account_id: "123456789012".into(),
        path: "/".into(),
        arn: ROLE_ARN.into(),
        role_id: "AROAFOOTPRINTBENCH01".into(),
        max_session_duration: 3600,
        trust_policy: Policy::parse(trust, PolicyKind::Trust).expect("trust policy"),
        policies: Vec::new(),
        tags: BTreeMap::new(),
    }
}

/// The claims of a GitHub Actions token (the largest common workload token).
fn claims(now: i64, n: usize) -> serde_json::Value {
    serde_json::json!({
        "iss": ISSUER,
        "aud": "sts.amazonaws.com",
        "sub": "repo:example-org/app:ref:refs/heads/main",
        "jti": format!("bench-{n}"),
        "ref": "refs/heads/main",
        "sha": "8e4f1c4b0d4c3e9f2a7b6d5c4b3a29180716f5e4",
        "repository": "example-org/app",
        "repository_owner": "example-org",
        "repository_owner_id": "1234567",
        "repository_id": "7654321",
        "repository_visibility": "private",
        "run_id": "9876543210",
        "run_number": "412",
        "run_attempt": "1",
        "actor": "octocat",
        "actor_id": "583231",
        "workflow": "deploy",
        "workflow_ref": "example-org/app/.github/workflows/deploy.yml@refs/heads/main",
        "event_name": "push",
        "ref_type": "branch",
        "job_workflow_ref": "example-org/app/.github/workflows/deploy.yml@refs/heads/main",
        "runner_environment": "github-hosted",
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
    })
}

struct Bench {
    state: Arc<State>,
    store: Store,
    clock: Arc<ManualClock>,
    signer: TokenSigner,
}

fn bench(dir: &Path) -> Bench {
    let store = stsbridge::store::open(&StorageSettings::new(dir.to_owned(), CACHE_BYTES))
        .expect("open store");
    let signer = TokenSigner::generate_rsa("footprint").expect("key");
    let verifier = OidcVerifier::new(OidcSettings {
        name: "github".into(),
        issuer: ISSUER.into(),
        provider: "token.actions.githubusercontent.com".into(),
        audiences: vec!["sts.amazonaws.com".into()],
        algorithms: vec![jsonwebtoken::Algorithm::RS256],
        keys: OidcKeySource::Static(jsonwebtoken::jwk::JwkSet {
            keys: vec![signer.jwk()],
        }),
        leeway: Duration::from_secs(60),
        insecure_http: false,
    })
    .expect("verifier");
    let mut roles = RoleSet::default();
    roles.insert(role());
    let federation = Federation {
        idps: IdpRegistry::new([Arc::new(verifier) as Arc<dyn IdpVerifier>]),
        roles,
        managed_policies: BTreeMap::new(),
        authorization_services: Vec::new(),
        accounts: BTreeMap::new(),
        signin: Vec::new(),
    };
    let now = from_unix_seconds(NOW);
    let clock = Arc::new(ManualClock::new(now));
    let keyring = SharedKeyring::new(Keyring::generate(now).expect("keyring"));
    let state = Arc::new(State::new(
        federation,
        store.clone(),
        keyring,
        Arc::clone(&clock) as Arc<dyn Clock>,
    ));
    Bench {
        state,
        store,
        clock,
        signer,
    }
}

fn meta(n: usize) -> RequestMeta {
    RequestMeta {
        origin: Origin {
            request_id: uuid_like(n),
            source_ip: Some(IpAddr::V4(Ipv4Addr::new(
                10,
                20,
                u8::try_from(n / 256 % 256).unwrap_or(0),
                u8::try_from(n % 256).unwrap_or(0),
            ))),
            user_agent: Some(USER_AGENT.into()),
            secure_transport: true,
        },
        signed: None,
        head: false,
    }
}

/// A request id shaped as the daemon's (a v4 UUID's 36 characters), distinct per request.
fn uuid_like(n: usize) -> String {
    format!(
        "{:08x}-5a3e-4c1b-9d2f-{:012x}",
        n,
        n.wrapping_mul(2_654_435_761)
    )
}

fn web_identity_params(token: &str, n: usize) -> Params {
    let body = format!(
        "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn={ROLE_ARN}\
         &RoleSessionName=deploy-{n}&DurationSeconds=3600&WebIdentityToken={token}"
    );
    Params::parse(body.as_bytes()).expect("parameters")
}

/// `total` credentials issued by `CLIENTS` concurrent clients, with tokens issued at `now`.
async fn issue(bench: &Bench, total: usize, now: i64) {
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let state = Arc::clone(&bench.state);
            let signer_token = |n: usize| bench.signer.sign(&claims(now, n)).expect("token signed");
            let tokens: Vec<String> = (0..total.div_ceil(CLIENTS * REQUESTS_PER_TOKEN))
                .map(|i| signer_token(client * 1_000_000 + i))
                .collect();
            tokio::spawn(async move {
                let mut n = client;
                while n < total {
                    let i = n / CLIENTS;
                    let token = &tokens[i / REQUESTS_PER_TOKEN];
                    let params = web_identity_params(token, n);
                    stsbridge::sts::handle(&state, &meta(n), &params)
                        .await
                        .expect("credentials issued");
                    n += CLIENTS;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("client task");
    }
}

/// `total` requests refused before anyone is known: a junk parameter of 250 KB and an ARN that
/// is not one (the issue's reproduction), then a long user agent.
async fn refuse(bench: &Bench, total: usize) {
    let junk = "J".repeat(250_000);
    for n in 0..total {
        let body = format!(
            "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=x&Junk={junk}\
             &RoleSessionName={junk}"
        );
        let params = Params::parse(body.as_bytes()).expect("parameters");
        let mut meta = meta(n);
        meta.origin.user_agent = Some(junk.clone());
        let refused = stsbridge::sts::handle(&bench.state, &meta, &params).await;
        assert!(refused.is_err(), "a junk request is refused");
    }
}

/// Bytes the files under `dir` take on disk (allocated blocks, as `du` counts).
fn disk_usage(dir: &Path) -> u64 {
    let mut total = 0;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            total += disk_usage(&entry.path());
        } else {
            total += meta.blocks() * 512;
        }
    }
    total
}

/// The process's resident memory (`VmRSS`), as the kernel reports it.
fn resident() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|kb| kb.trim().trim_end_matches(" kB").parse::<u64>().ok())
        })
        .map_or_else(|| "unknown".into(), |kb| mib(kb * 1024))
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn per(bytes_before: u64, bytes_after: u64, n: usize) -> String {
    let grown = bytes_after.saturating_sub(bytes_before);
    format!("{:.0} bytes", grown as f64 / n as f64)
}

fn credentials_wanted() -> usize {
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--credentials" {
            return args
                .next()
                .and_then(|n| n.parse().ok())
                .expect("--credentials takes a number");
        }
    }
    1_000_000
}

fn main() {
    let total = credentials_wanted();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("sled");
    let bench = bench(&data);
    runtime.block_on(async {
        let empty = disk_usage(&data);
        let refused = 1000;
        refuse(&bench, refused).await;
        // Listing waits for the refusals recorded to be written.
        let event = bench.store.audit.list(1).await.expect("audit");
        let after_refused = disk_usage(&data);
        println!(
            "refused requests: {refused} with a 250 KB junk parameter and user agent: {} each \
             (the event as JSON: {} bytes)",
            per(empty, after_refused, refused),
            serde_json::to_vec(&event).map_or(0, |v| v.len()),
        );
        if std::env::var_os("FOOTPRINT_SHOW").is_some() {
            println!("{}", serde_json::to_string_pretty(&event).unwrap_or_default());
        }

        let watch = Stopwatch::start();
        issue(&bench, total, NOW).await;
        let elapsed = watch.elapsed();
        let after_issued = disk_usage(&data);
        println!(
            "issued: {total} AssumeRoleWithWebIdentity credentials in {:.1} s; data dir {}: {} per credential",
            elapsed.as_secs_f64(),
            mib(after_issued),
            per(after_refused, after_issued, total)
        );
        println!("resident memory {} (page cache budget {})", resident(), mib(CACHE_BYTES));

        let session = bench.store.sessions.list(1).await.expect("sessions");
        let event = bench.store.audit.list(1).await.expect("audit");
        println!(
            "one session record as JSON: {} bytes; its audit event: {} bytes",
            serde_json::to_vec(&session).map_or(0, |v| v.len()),
            serde_json::to_vec(&event).map_or(0, |v| v.len()),
        );

        // Everything expires, then the audit retention passes; the daemon's purge runs.
        bench.clock.advance(Duration::from_secs(
            u64::try_from(RETENTION_DAYS * 86_400 + 3600).unwrap_or(0),
        ));
        let now = stsbridge::clock::unix_seconds(bench.clock.now());
        let purged = bench.store.purge_expired(now).await.expect("purge");
        let pruned = bench
            .store
            .audit
            .prune_before(now - RETENTION_DAYS * 86_400)
            .await
            .expect("audit prune");
        let after_purge = disk_usage(&data);
        println!(
            "after the purge ({purged} sessions, {pruned} audit events): data dir {}; resident memory {}",
            mib(after_purge),
            resident()
        );

        // As many again: sled reuses the space the purge freed rather than growing its files.
        let later = stsbridge::clock::unix_seconds(bench.clock.now());
        issue(&bench, total, later).await;
        let _ = bench.store.audit.list(1).await.expect("audit");
        let again = disk_usage(&data);
        println!(
            "issued {total} more after the purge: data dir {} (+{}); resident memory {}",
            mib(again),
            mib(again.saturating_sub(after_purge)),
            resident()
        );
    });
    drop(bench);
    println!(
        "after reopening: data dir {}",
        mib({
            let store = stsbridge::store::open_when_released(
                &StorageSettings::new(data.clone(), CACHE_BYTES),
                50,
            )
            .expect("reopen");
            drop(store);
            disk_usage(&data)
        })
    );
}
