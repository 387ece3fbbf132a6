use std::sync::Arc;

use super::*;
use crate::store::conformance::{Harness, conformance_suite, event, session};
use crate::store::{Revocation, Store};

/// A database of its own on the test process's cluster; `open` again connects again.
pub(crate) struct PostgresHarness {
    settings: PostgresSettings,
}

impl PostgresHarness {
    pub(crate) fn new() -> Self {
        Self {
            settings: PostgresSettings {
                url: test_cluster::fresh_database(),
                password: None,
                pool_size: 4,
            },
        }
    }

    /// Open a store (the conformance suite's `open` is synchronous; its tests run on the
    /// multi-threaded runtime, so this may block one of its threads).
    fn connect(&self) -> Arc<PostgresStore> {
        let settings = self.settings.clone();
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current()
                .block_on(async move { Arc::new(PostgresStore::open(&settings).await.unwrap()) })
        })
    }
}

impl Harness for PostgresHarness {
    type Backend = PostgresStore;

    fn open(&self) -> Arc<PostgresStore> {
        self.connect()
    }

    /// Another connection pool on the database, as another daemon would have.
    fn second_handle(&self, _first: &Arc<PostgresStore>) -> Arc<PostgresStore> {
        self.connect()
    }

    fn flush_count(store: &PostgresStore) -> Option<u64> {
        Some(store.commit_count())
    }
}

conformance_suite!(PostgresHarness::new());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_migrates_once_and_records_the_version() {
    let h = PostgresHarness::new();
    let (a, b) = tokio::join!(
        PostgresStore::open(&h.settings),
        PostgresStore::open(&h.settings)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.schema_version(), migrate::latest_version());
    assert_eq!(b.schema_version(), migrate::latest_version());
    let client = a.client().await.unwrap();
    let rows = client
        .query("SELECT version FROM schema_version", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), MIGRATIONS_APPLIED, "each migration once");
}

const MIGRATIONS_APPLIED: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_migrated_by_a_newer_build_is_refused() {
    let h = PostgresHarness::new();
    let store = PostgresStore::open(&h.settings).await.unwrap();
    store
        .client()
        .await
        .unwrap()
        .execute("INSERT INTO schema_version (version) VALUES (9999)", &[])
        .await
        .unwrap();
    drop(store);
    let err = PostgresStore::open(&h.settings).await.err().unwrap();
    assert!(err.to_string().contains("newer than this build"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_record_is_reported_not_skipped() {
    let h = PostgresHarness::new();
    let store = PostgresStore::open(&h.settings).await.unwrap();
    store
        .client()
        .await
        .unwrap()
        .execute(
            "INSERT INTO sessions VALUES ('ASIABROKEN', 1000, 0, '{not json')",
            &[],
        )
        .await
        .unwrap();
    let store = Store::on(Arc::new(store));
    let err = store.sessions.get("ASIABROKEN").await.unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupt(ref m) if m.contains("ASIABROKEN")),
        "{err}"
    );
    assert!(store.sessions.list(10).await.is_err());
}

/// Nothing reaches the database: opening fails with the place named, the password not.
#[tokio::test]
async fn an_unreachable_database_is_reported_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let settings = PostgresSettings {
        url: format!(
            "postgresql://someone:hunter2@localhost/db?host={}",
            dir.path().display()
        ),
        password: Some("s3cret".into()),
        pool_size: 1,
    };
    let err = PostgresStore::open(&settings)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("no database connection"), "{err}");
    for secret in ["hunter2", "s3cret"] {
        assert!(!err.contains(secret), "{err}");
        assert!(!format!("{settings:?}").contains(secret));
    }
}

#[test]
fn a_url_postgres_cannot_read_is_refused() {
    let settings = PostgresSettings {
        url: "postgresql://h/db?sslmode=sometimes".into(),
        password: None,
        pool_size: 1,
    };
    let err = settings.connection().err().unwrap();
    assert!(err.to_string().contains("database URL"), "{err}");
    let verify = PostgresSettings {
        url: "postgresql://h/db?sslmode=verify-full".into(),
        ..settings
    };
    assert_eq!(
        verify.connection().unwrap().get_ssl_mode(),
        SslMode::Require
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_events_share_commits() {
    let h = PostgresHarness::new();
    let store = PostgresStore::open(&h.settings).await.unwrap();
    let before = store.commit_count();
    for i in 0..200 {
        store.record(&event(&format!("r{i}"))).await.unwrap();
    }
    assert_eq!(AuditLog::list(&store, 1000).await.unwrap().len(), 200);
    let commits = store.commit_count() - before;
    assert!(commits < 200, "{commits} commits for 200 events");
}

/// A session whose access key id is taken fails alone: the others of its shared commit are
/// written all the same, and their events published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_row_fails_alone_in_a_shared_commit() {
    let h = PostgresHarness::new();
    let store = Store::on(Arc::new(PostgresStore::open(&h.settings).await.unwrap()));
    let mut feed = store.audit.follow();
    store
        .sessions
        .put(&session("ASIATAKEN", 1_000), &event("first"))
        .await
        .unwrap();
    let writers: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let id = if i == 7 {
                    "ASIATAKEN".to_owned()
                } else {
                    format!("ASIAFRESH{i:02}")
                };
                store
                    .sessions
                    .put(&session(&id, 1_000), &event(&format!("e{i}")))
                    .await
            })
        })
        .collect();
    let mut failed = Vec::new();
    for (i, writer) in writers.into_iter().enumerate() {
        if let Err(e) = writer.await.unwrap() {
            failed.push((i, e.to_string()));
        }
    }
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].0, 7);
    assert!(failed[0].1.contains("sessions"), "{failed:?}");
    assert_eq!(store.sessions.list(100).await.unwrap().len(), 16);
    let mut published = 0;
    while let Ok(e) = feed.try_recv() {
        assert_ne!(e.event().unwrap().request_id, "e7");
        published += 1;
    }
    assert_eq!(published, 16, "first, and the 15 written");
}

/// Every pooled connection commits synchronously, whatever the server's default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_commit_synchronously() {
    let h = PostgresHarness::new();
    let store = PostgresStore::open(&h.settings).await.unwrap();
    store
        .client()
        .await
        .unwrap()
        .batch_execute(
            "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET synchronous_commit = off', \
             current_database()); END $$",
        )
        .await
        .unwrap();
    drop(store);
    let store = PostgresStore::open(&h.settings).await.unwrap();
    let client = store.client().await.unwrap();
    let row = client
        .query_one("SHOW synchronous_commit", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "on");
}

/// While the database refuses connections, a write fails at once as `Unavailable` (503
/// towards clients), not after a long wait; once it takes them again the same handle writes,
/// without reopening.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_fail_fast_as_unavailable_during_an_outage_and_resume_after() {
    let h = PostgresHarness::new();
    let backend = Arc::new(PostgresStore::open(&h.settings).await.unwrap());
    let store = Store::on(backend.clone());
    let admin_url = h.settings.url.replace(
        &h.settings.url[h.settings.url.find("dbname=").unwrap()..],
        "dbname=postgres",
    );
    let admin = PostgresStore::open(&PostgresSettings {
        url: admin_url,
        password: None,
        pool_size: 1,
    })
    .await
    .unwrap();
    let admin = admin.client().await.unwrap();
    let dbname = h.settings.url.rsplit("dbname=").next().unwrap().to_owned();
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {dbname} ALLOW_CONNECTIONS false;
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{dbname}'"
        ))
        .await
        .unwrap();
    let watch = crate::clock::Stopwatch::start();
    let err = store
        .sessions
        .put(&session("ASIAOUTAGE", 1_000), &event("outage"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    assert!(
        watch.elapsed() < Duration::from_secs(2),
        "{:?}",
        watch.elapsed()
    );
    assert!(matches!(
        crate::error::ApiError::from(err),
        crate::error::ApiError::ServiceUnavailable(_)
    ));
    assert!(matches!(
        store.users.get("alice").await,
        Err(StoreError::Unavailable(_))
    ));
    let status = store.health.status();
    assert!(!status.writable());
    assert!(
        status
            .unavailable
            .as_deref()
            .is_some_and(|why| why.contains("no database connection")
                || why.contains("terminating connection")),
        "the last failure seen, a pooled connection's or a new one's: {status:?}"
    );
    admin
        .batch_execute(&format!("ALTER DATABASE {dbname} ALLOW_CONNECTIONS true"))
        .await
        .unwrap();
    store
        .sessions
        .put(&session("ASIAAFTER", 1_000), &event("after"))
        .await
        .unwrap();
    assert!(store.sessions.get("ASIAAFTER").await.unwrap().is_some());
    assert_eq!(
        store.health.status().unavailable,
        None,
        "the write cleared it"
    );
    assert!(store.health.status().writable());
    assert!(store.sessions.get("ASIAOUTAGE").await.unwrap().is_none());
}

#[test]
fn the_root_certificate_file_is_taken_out_of_the_url() {
    let root = |url: &str| {
        let settings = PostgresSettings {
            url: url.to_owned(),
            password: None,
            pool_size: 1,
        };
        (settings.root_cert_file(), settings.connection().is_ok())
    };
    assert_eq!(
        root("postgresql://u@db/sts?sslmode=require&sslrootcert=%2Fetc%2Fca.pem"),
        (Some("/etc/ca.pem".into()), true)
    );
    assert_eq!(
        root("postgresql://u@db/sts?sslrootcert=/etc/ca.pem"),
        (Some("/etc/ca.pem".into()), true)
    );
    assert_eq!(
        root("host=db user=u sslrootcert=/etc/ca.pem sslmode=require"),
        (Some("/etc/ca.pem".into()), true)
    );
    assert_eq!(root("postgresql://u@db/sts"), (None, true));
}

/// 100 revocations written through one handle each reach the other handle's feed (the
/// notification, not the 5-second catch-up) within a second; prints p50/p99 (`--nocapture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_reach_another_handle_within_a_second() {
    let h = PostgresHarness::new();
    let writer = Store::on(Arc::new(PostgresStore::open(&h.settings).await.unwrap()));
    let reader = Store::on(Arc::new(PostgresStore::open(&h.settings).await.unwrap()));
    let mut feed = reader.revocations.feed();
    let mut took = Vec::with_capacity(100);
    for i in 0..100 {
        let id = format!("ASIAPROPAGATE{i:03}");
        let watch = crate::clock::Stopwatch::start();
        writer
            .revocations
            .revoke(
                &Revocation::Session {
                    access_key_id: id.clone(),
                    expires_at: i64::MAX,
                },
                &event(&id),
            )
            .await
            .unwrap();
        tokio::time::timeout(
            Duration::from_secs(1),
            feed.wait_for(|set| set.covers(&id, "arn:r", 0)),
        )
        .await
        .unwrap_or_else(|_| panic!("revocation {i} not seen within a second"))
        .unwrap();
        took.push(watch.elapsed());
    }
    took.sort();
    eprintln!(
        "revocation propagation over 100 (write + notify + reload): p50 {:?}, p99 {:?}, max {:?}",
        took[49], took[98], took[99]
    );
}

fn sealed(id: &str, retire_after: Option<i64>) -> crate::creds::keyring::SealedKey {
    crate::creds::keyring::SealedKey {
        id: id.to_owned(),
        sealed: id.as_bytes().to_vec(),
        created_at: 1,
        retire_after,
    }
}

/// Two handles creating the first keyring together keep one; a change is a compare-and-swap
/// on the generation, and the other handle sees the new generation within a second (the
/// notification, not the catch-up poll).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keyring_kept_is_one_changed_by_compare_and_swap_and_followed() {
    use crate::store::KeyringVault;
    let h = PostgresHarness::new();
    let (a, b) = tokio::join!(
        PostgresStore::open(&h.settings),
        PostgresStore::open(&h.settings)
    );
    let a: Arc<dyn KeyringVault> = Arc::new(a.unwrap());
    let b: Arc<dyn KeyringVault> = Arc::new(b.unwrap());
    assert_eq!(a.load().await.unwrap(), None);
    assert_eq!(*a.generation().borrow(), 0);
    let (first_a, first_b) = ([sealed("aaaaaaaa", None)], [sealed("bbbbbbbb", None)]);
    let (kept_a, kept_b) = tokio::join!(a.create_if_none(&first_a), b.create_if_none(&first_b));
    let (kept_a, kept_b) = (kept_a.unwrap(), kept_b.unwrap());
    assert_eq!(kept_a, kept_b, "both handles keep the first one's");
    assert_eq!(kept_a.generation, 1);
    assert_eq!(kept_a.keys.len(), 1);

    let rotated = [
        sealed("cccccccc", None),
        sealed(&kept_a.keys[0].id, Some(99)),
    ];
    let mut seen_by_b = b.generation();
    let watch = crate::clock::Stopwatch::start();
    assert_eq!(a.swap(1, &rotated).await.unwrap(), 2);
    tokio::time::timeout(Duration::from_secs(1), seen_by_b.wait_for(|g| *g == 2))
        .await
        .expect("B sees the change within a second")
        .unwrap();
    assert!(watch.elapsed() < Duration::from_secs(1));
    let loaded = b.load().await.unwrap().unwrap();
    assert_eq!(loaded.generation, 2);
    assert_eq!(loaded.keys, rotated, "current first");

    let stale = b.swap(1, &[sealed("dddddddd", None)]).await.unwrap_err();
    assert!(matches!(stale, StoreError::Conflict(_)), "{stale}");
    assert_eq!(a.load().await.unwrap().unwrap().keys, rotated, "unchanged");
    let second = a.create_if_none(&[sealed("eeeeeeee", None)]).await.unwrap();
    assert_eq!(second.keys, rotated, "created once only");
}

/// An event at `t` (unix seconds) named `id`.
fn event_at(id: &str, t: i64) -> AuditEvent {
    AuditEvent {
        event_time: crate::clock::iso8601(crate::clock::from_unix_seconds(t)),
        ..event(id)
    }
}

async fn names(store: &Store) -> Vec<String> {
    store
        .audit
        .list(100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.request_id)
        .collect()
}

const DAY: i64 = partitions::DAY;
const D: i64 = 20_000;

/// The purge makes the partitions of today and the next days; an event of a day without one
/// waits in the default partition and moves into its day's partition when that is made;
/// retention drops the days wholly before the cut and deletes the rest row by row, and the
/// trail reads the same throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_trail_is_kept_by_day_and_pruned_by_dropping_days() {
    let h = PostgresHarness::new();
    let backend = Arc::new(PostgresStore::open(&h.settings).await.unwrap());
    let store = Store::on(backend.clone());
    store.audit.prepare_ahead(D * DAY + 100).await.unwrap();
    let client = backend.client().await.unwrap();
    assert_eq!(
        partitions::partition_days(&client).await,
        [D, D + 1, D + 2].into()
    );
    for (id, t) in [
        ("ancient", 10 * DAY),
        ("yesterday", (D - 1) * DAY + 7),
        ("today-1", D * DAY + 1),
        ("today-2", D * DAY + 1),
        ("tomorrow-early", (D + 1) * DAY + 5),
        ("tomorrow-late", (D + 1) * DAY + 50),
        ("after", (D + 2) * DAY),
    ] {
        store.audit.append(&event_at(id, t)).await.unwrap();
    }
    let all = names(&store).await;
    assert_eq!(
        all,
        [
            "ancient",
            "yesterday",
            "today-1",
            "today-2",
            "tomorrow-early",
            "tomorrow-late",
            "after"
        ]
    );
    store.audit.prepare_ahead((D - 1) * DAY).await.unwrap();
    assert!(partitions::partition_days(&client).await.contains(&(D - 1)));
    let moved = client
        .query_one("SELECT count(*) FROM audit_day_19999", &[])
        .await
        .unwrap();
    assert_eq!(moved.get::<_, i64>(0), 1, "yesterday's event moved in");
    assert_eq!(names(&store).await, all);

    let pruned = store.audit.prune_before((D + 1) * DAY + 10).await.unwrap();
    assert_eq!(
        pruned, 5,
        "two days dropped (3), the default (1), a row (1)"
    );
    assert_eq!(
        partitions::partition_days(&client).await,
        [D + 1, D + 2].into()
    );
    assert_eq!(names(&store).await, ["tomorrow-late", "after"]);
    assert_eq!(
        store.audit.prune_before((D + 1) * DAY + 10).await.unwrap(),
        0
    );
}

/// A database whose audit table was not partitioned (schema 3) keeps its events, in order,
/// each in its day's partition; events appended after come after those of the same second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioning_the_audit_trail_keeps_its_events() {
    let h = PostgresHarness::new();
    let (mut client, connection) = tokio_postgres::connect(&h.settings.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let driver = tokio::spawn(connection);
    client
        .batch_execute(
            "CREATE TABLE schema_version (version integer PRIMARY KEY,
                                          applied_at timestamptz NOT NULL DEFAULT now())",
        )
        .await
        .unwrap();
    for (version, sql) in migrate::MIGRATIONS.iter().filter(|(v, _)| *v <= 3) {
        let tx = client.transaction().await.unwrap();
        tx.batch_execute(sql).await.unwrap();
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[version],
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    for (id, t) in [
        ("first", D * DAY + 3),
        ("second", D * DAY + 3),
        ("next-day", (D + 1) * DAY),
    ] {
        let json = serde_json::to_string(&event_at(id, t)).unwrap();
        client
            .execute(
                "INSERT INTO audit (event_time, event) VALUES ($1, $2)",
                &[&t, &json],
            )
            .await
            .unwrap();
    }
    drop(client);
    let _ = driver.await;

    let backend = Arc::new(PostgresStore::open(&h.settings).await.unwrap());
    assert_eq!(backend.schema_version(), migrate::latest_version());
    let store = Store::on(backend.clone());
    store
        .audit
        .append(&event_at("appended", D * DAY + 3))
        .await
        .unwrap();
    assert_eq!(
        names(&store).await,
        ["first", "second", "appended", "next-day"]
    );
    let client = backend.client().await.unwrap();
    assert_eq!(partitions::partition_days(&client).await, [D, D + 1].into());
    let in_default = client
        .query_one("SELECT count(*) FROM audit_default", &[])
        .await
        .unwrap();
    assert_eq!(in_default.get::<_, i64>(0), 0);
}

/// Events written while their day's partition is being made all land, and all stay visible:
/// none is refused by the new partition's constraint or left behind in the default partition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_written_while_partitions_are_made_are_kept() {
    let h = PostgresHarness::new();
    let store = Store::on(Arc::new(PostgresStore::open(&h.settings).await.unwrap()));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..25 {
                    let id = format!("w{w}-{i}");
                    store
                        .audit
                        .append(&event_at(&id, D * DAY + i))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for day in 0..5 {
        store
            .audit
            .prepare_ahead((D - 4 + day) * DAY)
            .await
            .unwrap();
    }
    for w in writers {
        w.await.unwrap();
    }
    assert_eq!(store.audit.list(1000).await.unwrap().len(), 100);
    let in_window = store
        .audit
        .query(&crate::audit::query::AuditQuery {
            since: Some(D * DAY),
            until: Some((D + 1) * DAY),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(in_window.len(), 100, "found by a window on the day too");
}

/// A store as a daemon opens it: spooling audit events in `dir`, revocations trusted `bound`
/// without a refresh.
async fn with_spool(h: &PostgresHarness, dir: &std::path::Path, bound: Duration) -> PostgresStore {
    PostgresStore::open_with(
        &h.settings,
        CommitMetrics::default(),
        Outage {
            spool: Some(dir.join(spool::FILE_NAME)),
            stale_revocations: bound,
            ..Outage::default()
        },
    )
    .await
    .unwrap()
}

/// Close the harness's database to connections (and end those open), or open it again.
async fn close_database(h: &PostgresHarness, closed: bool) {
    let url = &h.settings.url;
    let admin = PostgresStore::open(&PostgresSettings {
        url: url.replace(&url[url.find("dbname=").unwrap()..], "dbname=postgres"),
        password: None,
        pool_size: 1,
    })
    .await
    .unwrap();
    let admin = admin.client().await.unwrap();
    let dbname = url.rsplit("dbname=").next().unwrap();
    let sql = if closed {
        format!(
            "ALTER DATABASE {dbname} ALLOW_CONNECTIONS false;
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{dbname}'"
        )
    } else {
        format!("ALTER DATABASE {dbname} ALLOW_CONNECTIONS true")
    };
    admin.batch_execute(&sql).await.unwrap();
}

/// During an outage audit events (appended and recorded) go to the spool at once and reach
/// the feed; sessions are still refused. Once the database answers, the follower drains the
/// spool into the trail, in order, and empties it, without a reopen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_events_of_an_outage_are_spooled_then_written_in_order() {
    let h = PostgresHarness::new();
    let dir = tempfile::tempdir().unwrap();
    let backend = Arc::new(with_spool(&h, dir.path(), Duration::from_secs(60)).await);
    let store = Store::on(backend.clone());
    store.audit.append(&event("before")).await.unwrap();
    let mut feed = store.audit.follow();
    close_database(&h, true).await;
    let watch = crate::clock::Stopwatch::start();
    store.audit.append(&event("during-1")).await.unwrap();
    store.audit.record(&event("during-2")).await.unwrap();
    store.audit.append(&event("during-3")).await.unwrap();
    assert!(
        watch.elapsed() < Duration::from_secs(2),
        "{:?}",
        watch.elapsed()
    );
    assert!(matches!(
        store
            .sessions
            .put(&session("ASIAOUTAGE", 1_000), &event("refused"))
            .await,
        Err(StoreError::Unavailable(_))
    ));
    let status = store.health.status();
    assert!(status.unavailable.is_some());
    assert!(
        status.audit_spool_bytes.is_some_and(|b| b > 0),
        "{status:?}"
    );
    for id in ["during-1", "during-2", "during-3"] {
        let got = tokio::time::timeout(Duration::from_secs(5), feed.recv())
            .await
            .expect("published when spooled")
            .unwrap();
        assert_eq!(got.event().unwrap().request_id, id);
    }
    close_database(&h, false).await;
    let drained = async {
        while backend.spool.as_ref().unwrap().bytes() > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(CATCH_UP_INTERVAL * 2, drained)
        .await
        .expect("drained at the follower's next catch-up");
    assert_eq!(
        names(&store).await,
        ["before", "during-1", "during-2", "during-3"]
    );
    assert_eq!(store.health.status().audit_spool_bytes, Some(0));
}

/// A drain whose spool was not emptied (a crash after the insert) and runs again inserts no
/// event twice; events spooled meanwhile follow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spool_drained_twice_writes_each_event_once() {
    let h = PostgresHarness::new();
    let dir = tempfile::tempdir().unwrap();
    // A spool of its own: the store's catch-up drains the spool it was opened with, and would
    // race this test's drains.
    let backend = Arc::new(PostgresStore::open(&h.settings).await.unwrap());
    let spool = spool::Spool::new(dir.path().join(spool::FILE_NAME), spool::DEFAULT_LIMIT);
    for id in ["a", "b", "c"] {
        spool.add(&encode(&event(id)).unwrap(), true).await.unwrap();
    }
    let pool = backend.pool.clone();
    let crashed = spool
        .drain(|events| async move {
            import::insert_audit_once(&pool, &events).await?;
            Err(StoreError::Backend(
                "stopped before emptying the spool".into(),
            ))
        })
        .await;
    assert!(crashed.is_err());
    spool
        .add(&encode(&event("d")).unwrap(), true)
        .await
        .unwrap();
    let pool = backend.pool.clone();
    let inserted = std::sync::Arc::new(AtomicU64::new(0));
    let counted = inserted.clone();
    spool
        .drain(|events| async move {
            let n = import::insert_audit_once(&pool, &events).await?;
            counted.store(n, Ordering::Relaxed);
            Ok(n)
        })
        .await
        .unwrap();
    assert_eq!(inserted.load(Ordering::Relaxed), 1, "only d was new");
    assert_eq!(names(&Store::on(backend)).await, ["a", "b", "c", "d"]);
}

/// The list is current while followed; once no longer followed it is trusted for the bound
/// after its last refresh (by the store's clock), then stale; a bound of zero never trusts it;
/// a refresh makes it current again.
#[test]
fn a_revocation_list_no_longer_followed_is_trusted_for_its_bound() {
    use crate::clock::{ManualClock, from_unix_seconds};
    let clock = Arc::new(ManualClock::new(from_unix_seconds(1_000)));
    let following = Following::new(clock.clone(), Duration::from_secs(60));
    let at = from_unix_seconds;
    assert_eq!(following.freshness(at(5_000)), Freshness::Current);
    clock.set(at(1_010));
    following.refreshed();
    clock.set(at(1_020));
    following.lost();
    assert_eq!(
        following.freshness(at(1_069)),
        Freshness::Trusted {
            since: at(1_010),
            until: at(1_070)
        }
    );
    assert_eq!(
        following.freshness(at(1_070)),
        Freshness::Stale { since: at(1_010) }
    );
    assert!(!following.freshness(at(1_070)).trusted());
    following.refreshed();
    assert_eq!(following.freshness(at(9_999)), Freshness::Current);
    let never = Following::new(clock.clone(), Duration::ZERO);
    never.lost();
    assert_eq!(
        never.freshness(clock.now()),
        Freshness::Stale { since: at(1_020) }
    );
}

/// A handle that loses the database stops following its revocation list at once: with a
/// bound of zero, every session is refused (fail closed) until it follows the list again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_refused_while_the_list_is_stale_beyond_its_bound() {
    let h = PostgresHarness::new();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::on(Arc::new(with_spool(&h, dir.path(), Duration::ZERO).await));
    let now = crate::clock::from_unix_seconds(2_000_000_000);
    let refused = |store: &Store| store.session_refused("ASIAONE", "arn:role", 1, now);
    assert!(!refused(&store));
    close_database(&h, true).await;
    let stale = async {
        while store.revocations.freshness(now).trusted() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), stale)
        .await
        .expect("the listening connection's loss noticed");
    assert!(refused(&store));
    close_database(&h, false).await;
    let followed = async {
        while store.revocations.freshness(now) != Freshness::Current {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), followed)
        .await
        .expect("followed again at the reconnect");
    assert!(!refused(&store));
}
