//! Revocation propagation between two daemons sharing one PostgreSQL database: a session issued
//! on A, revoked on A (the admin socket), and B asked again and again (a signed
//! GetCallerIdentity, back to back) until it refuses the session. Reported over 100
//! revocations: p50, p99 and max of the time from sending the revocation to B's first refusal,
//! and of the revocation's own answer (its write) apart.
//!
//! Not a criterion bench: it reports a distribution of one-off delays, not a loop's time. It
//! runs the daemons in-process (as the integration tests do) on a throwaway PostgreSQL cluster
//! (the test harness's: the server binaries must be installed; it runs with `fsync` off, so the
//! revocation's write is cheaper than on a real database, while its announcement, what B waits
//! for, is the same). Each poll of B is a whole signed request (and its audit event), so the
//! time B refuses is known to within one poll.
//!
//! ```text
//! cargo bench --bench cluster
//! cargo bench --bench cluster -- --revocations 1000
//! ```

#[path = "../src/store/postgres/test_cluster.rs"]
mod pg;

#[allow(dead_code)]
#[path = "../tests/it/support/daemon.rs"]
mod daemon;

use std::time::Duration;

use stsbridge::admin::{AdminRequest, AdminResponse};
use stsbridge::clock::Stopwatch;

use daemon::{Daemon, Setup, signed_client};

fn main() {
    let mut revocations = 100;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--revocations" {
            revocations = args
                .next()
                .and_then(|n| n.parse().ok())
                .expect("--revocations N");
        }
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(measure(revocations));
}

async fn measure(revocations: usize) {
    let url = pg::fresh_database();
    let shared = tempfile::tempdir().expect("tempdir");
    let kek = shared.path().join("kek");
    stsbridge::creds::kek::Kek::create_file(&kek).expect("KEK");
    let node = || Setup {
        storage: format!("kind = \"postgres\"\nurl = \"{url}\"\n"),
        keys: format!("kek_file = \"{}\"\n", kek.display()),
        ..Setup::default()
    };
    let a = Daemon::start(node()).await;
    let b = Daemon::start(node()).await;
    let created = a
        .admin(AdminRequest::UsersCreate {
            name: "alice".into(),
            account_id: None,
            policies: Vec::new(),
        })
        .await;
    assert!(matches!(created, AdminResponse::Users(_)), "{created:?}");
    let (key, secret) = match a
        .admin(AdminRequest::UsersKeysCreate {
            name: "alice".into(),
        })
        .await
    {
        AdminResponse::NewAccessKey(k) => {
            (k.access_key_id, k.secret_access_key.expose().to_owned())
        }
        other => panic!("create key: {other:?}"),
    };
    let alice = signed_client(&a.url, &key, &secret, None);

    let mut seen = Vec::with_capacity(revocations);
    let mut written = Vec::with_capacity(revocations);
    let mut polls = 0usize;
    for _ in 0..revocations {
        let creds = alice
            .get_session_token()
            .send()
            .await
            .expect("GetSessionToken")
            .credentials()
            .expect("credentials")
            .clone();
        let on_b = signed_client(
            &b.url,
            creds.access_key_id(),
            creds.secret_access_key(),
            Some(creds.session_token()),
        );
        on_b.get_caller_identity()
            .send()
            .await
            .expect("B accepts the session before the revocation");
        let watch = Stopwatch::start();
        let revoked = a
            .admin(AdminRequest::SessionsRevoke {
                id: creds.access_key_id().to_owned(),
            })
            .await;
        written.push(watch.elapsed());
        assert!(matches!(revoked, AdminResponse::Revoked(_)), "{revoked:?}");
        loop {
            polls += 1;
            match on_b.get_caller_identity().send().await {
                Ok(_) => {}
                Err(e) => {
                    use aws_sdk_sts::error::ProvideErrorMetadata as _;
                    assert_eq!(e.code(), Some("InvalidClientTokenId"), "{e:?}");
                    break;
                }
            }
            assert!(
                watch.elapsed() < Duration::from_secs(10),
                "B never refused a revoked session"
            );
        }
        seen.push(watch.elapsed());
    }
    println!(
        "revocation propagation, A -> B, {revocations} revocations ({:.1} polls of B each on average):",
        polls as f64 / revocations as f64
    );
    println!("  refused on B after: {}", summary(&mut seen));
    println!("  the revocation's answer on A: {}", summary(&mut written));
    drop(b.stop().await);
    drop(a.stop().await);
}

/// `p50 X ms, p99 Y ms, max Z ms` of `times`.
fn summary(times: &mut [Duration]) -> String {
    times.sort_unstable();
    let pick = |q: f64| {
        let i = ((times.len() as f64 - 1.0) * q).round() as usize;
        times[i.min(times.len() - 1)].as_secs_f64() * 1e3
    };
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pick(0.5),
        pick(0.99),
        pick(1.0)
    )
}
