//! The conformance suite every store backend must pass (dex `storage/conformance`).
//!
//! A backend's tests implement [`Harness`] and invoke `conformance_suite!(make_harness())`,
//! which expands to one `#[tokio::test]` per case, each on a fresh harness. Cases named
//! `two_handles_*` use two handles on one database, as two daemons sharing it would; a backend
//! that admits one handle per database gives the same handle twice.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{
    Backend, DeviceRecord, KeyUse, LiveSessions, ReplayKey, Revocation, SessionRecord, Store,
    StoreError, UserChange, update_user,
};
use crate::audit::{AuditEvent, AuditIdentity, IdentityKind};
use crate::creds::{Session, SessionKind};
use crate::users::{AccessKey, UserRecord};

/// How the suite reaches a backend.
pub(crate) trait Harness {
    type Backend: Backend;
    /// Open the store on this harness's storage; opening again after dropping the previous
    /// handle must see everything it made durable.
    fn open(&self) -> Arc<Self::Backend>;
    /// Another handle on the database `first` is open on.
    fn second_handle(&self, first: &Arc<Self::Backend>) -> Arc<Self::Backend>;
    /// Flushes (durability barriers) the store has run, if it counts them.
    fn flush_count(store: &Self::Backend) -> Option<u64>;
}

fn open<H: Harness>(h: &H) -> Store {
    Store::on(h.open())
}

/// A session for access key `id`, expiring at `expires_at` (unix seconds).
pub(crate) fn session(id: &str, expires_at: i64) -> SessionRecord {
    SessionRecord {
        access_key_id: id.to_owned(),
        session: Session {
            identity_arn: "arn:aws:iam::123456789012:role/ci".into(),
            identity_id: "AROAEXAMPLE".into(),
            caller_arn: format!("arn:aws:sts::123456789012:assumed-role/ci/{id}"),
            account_id: "123456789012".into(),
            session_name: id.to_owned(),
            source_identity: None,
            provider: "token.actions.githubusercontent.com".into(),
            subject: "repo:org/repo:ref:refs/heads/main".into(),
            session_tags: BTreeMap::from([("team".into(), "infra".into())]),
            transitive_tag_keys: vec![],
            session_policy: None,
            policy_arns: vec![],
            kind: SessionKind::AssumedRole,
            mfa_authenticated_at: None,
        },
        audience: "sts.amazonaws.com".into(),
        issued_at: expires_at - 3600,
        expires_at,
        request_id: format!("req-{id}"),
        source_ip: Some("192.0.2.1".into()),
    }
}

/// An audit event told apart by `request_id`.
pub(crate) fn event(request_id: &str) -> AuditEvent {
    AuditEvent {
        event_time: "2026-11-22T19:08:00Z".into(),
        event_name: "AssumeRoleWithWebIdentity".into(),
        source_ip_address: Some("192.0.2.1".into()),
        user_agent: Some("aws-cli/2".into()),
        request_parameters: serde_json::json!({ "roleSessionName": request_id }),
        user_identity: AuditIdentity {
            kind: IdentityKind::WebIdentityUser,
            ..AuditIdentity::default()
        },
        response_elements: None,
        error_code: None,
        error_message: None,
        request_id: request_id.to_owned(),
    }
}

/// [`event`], happening at `unix_time`.
fn event_at(request_id: &str, unix_time: i64) -> AuditEvent {
    AuditEvent {
        event_time: crate::clock::iso8601(crate::clock::from_unix_seconds(unix_time)),
        ..event(request_id)
    }
}

fn request_ids(events: &[AuditEvent]) -> Vec<&str> {
    events.iter().map(|e| e.request_id.as_str()).collect()
}

fn key_ids(sessions: &[SessionRecord]) -> Vec<&str> {
    sessions.iter().map(|s| s.access_key_id.as_str()).collect()
}

fn replay_key(id: &str) -> ReplayKey {
    ReplayKey::SamlAssertion {
        provider: "corp".into(),
        id: id.into(),
    }
}

pub(crate) async fn put_then_get_round_trips<H: Harness>(h: H) {
    let store = open(&h);
    let s = session("ASIAROUNDTRIP0000001", 1_000);
    store.sessions.put(&s, &event("r1")).await.unwrap();
    assert_eq!(store.sessions.get(&s.access_key_id).await.unwrap(), Some(s));
    assert_eq!(
        store.sessions.get("ASIAMISSING000000000").await.unwrap(),
        None
    );
}

pub(crate) async fn sessions_list_latest_expiry_first_up_to_limit<H: Harness>(h: H) {
    let store = open(&h);
    for (id, expires_at) in [
        ("ASIAC", 1_000),
        ("ASIAA", 3_000),
        ("ASIAB", 2_000),
        ("ASIAD", 3_000),
    ] {
        store
            .sessions
            .put(&session(id, expires_at), &event(id))
            .await
            .unwrap();
    }
    assert_eq!(
        key_ids(&store.sessions.list(10).await.unwrap()),
        ["ASIAD", "ASIAA", "ASIAB", "ASIAC"]
    );
    assert_eq!(
        key_ids(&store.sessions.list(2).await.unwrap()),
        ["ASIAD", "ASIAA"]
    );
    assert!(store.sessions.list(0).await.unwrap().is_empty());
}

pub(crate) async fn audit_lists_the_last_events_newest_last<H: Harness>(h: H) {
    let store = open(&h);
    assert!(store.audit.list(10).await.unwrap().is_empty());
    store.audit.append(&event("e1")).await.unwrap();
    store
        .sessions
        .put(&session("ASIAA", 1_000), &event("e2"))
        .await
        .unwrap();
    store.audit.append(&event("e3")).await.unwrap();
    assert_eq!(
        store.audit.list(10).await.unwrap(),
        [event("e1"), event("e2"), event("e3")]
    );
    assert_eq!(
        request_ids(&store.audit.list(2).await.unwrap()),
        ["e2", "e3"]
    );
    assert!(store.audit.list(0).await.unwrap().is_empty());
}

pub(crate) async fn purge_removes_sessions_expiring_at_or_before_now<H: Harness>(h: H) {
    let store = open(&h);
    for (id, expires_at) in [("ASIAA", 99), ("ASIAB", 100), ("ASIAC", 101)] {
        store
            .sessions
            .put(&session(id, expires_at), &event(id))
            .await
            .unwrap();
    }
    assert_eq!(store.purge_expired(98).await.unwrap(), 0);
    assert_eq!(store.purge_expired(100).await.unwrap(), 2);
    assert_eq!(key_ids(&store.sessions.list(10).await.unwrap()), ["ASIAC"]);
    assert_eq!(store.sessions.get("ASIAA").await.unwrap(), None);
    assert_eq!(store.sessions.get("ASIAB").await.unwrap(), None);
    assert_eq!(store.purge_expired(100).await.unwrap(), 0);
    assert_eq!(store.purge_expired(101).await.unwrap(), 1);
    assert_eq!(store.sessions.get("ASIAC").await.unwrap(), None);
    assert_eq!(
        store.audit.list(10).await.unwrap().len(),
        3,
        "purging keeps the audit trail"
    );
}

pub(crate) async fn acknowledged_writes_survive_reopening<H: Harness>(h: H) {
    let s = session("ASIAREOPEN0000000001", 1_000);
    {
        let store = open(&h);
        store.sessions.put(&s, &event("put")).await.unwrap();
        store.audit.append(&event("failed")).await.unwrap();
    }
    let store = open(&h);
    assert_eq!(store.sessions.get(&s.access_key_id).await.unwrap(), Some(s));
    assert_eq!(
        request_ids(&store.audit.list(10).await.unwrap()),
        ["put", "failed"]
    );
}

pub(crate) async fn concurrent_writers_are_durable_and_share_flushes<H: Harness>(h: H) {
    const WRITERS: usize = 64;
    let backend = h.open();
    let store = Store::on(backend.clone());
    let writers: Vec<_> = (0..WRITERS)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let id = format!("ASIACONCURRENT{i:06}");
                store.sessions.put(&session(&id, 1_000), &event(&id)).await
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap().unwrap();
    }
    if let Some(flushes) = H::flush_count(&backend) {
        assert!(
            flushes < WRITERS as u64,
            "{flushes} flushes for {WRITERS} writes"
        );
    }
    drop(store);
    drop(backend);
    let store = open(&h);
    assert_eq!(
        store.sessions.list(WRITERS + 1).await.unwrap().len(),
        WRITERS
    );
    assert_eq!(store.audit.list(WRITERS + 1).await.unwrap().len(), WRITERS);
}

pub(crate) async fn remember_once_refuses_replays_within_the_window<H: Harness>(h: H) {
    let store = open(&h);
    let replay = &store.replay;
    let (one, two) = (replay_key("id-1"), replay_key("id-2"));
    assert!(!replay.is_remembered(&one, 100).await.unwrap());
    assert!(
        replay.remember_once(&one, 200, 100).await.unwrap(),
        "first use"
    );
    assert!(replay.is_remembered(&one, 199).await.unwrap());
    assert!(
        !replay.is_remembered(&one, 200).await.unwrap(),
        "window over"
    );
    assert!(
        !replay.remember_once(&one, 300, 150).await.unwrap(),
        "replay inside the window"
    );
    assert!(
        !replay.remember_once(&one, 300, 199).await.unwrap(),
        "last second of the window"
    );
    assert!(
        replay.remember_once(&two, 200, 150).await.unwrap(),
        "another id"
    );
    assert!(
        replay.remember_once(&one, 400, 200).await.unwrap(),
        "the window has passed"
    );
    assert!(
        !replay.remember_once(&one, 400, 201).await.unwrap(),
        "remembered again until 400"
    );
    store.purge_expired(1_000).await.unwrap();
    assert!(
        replay.remember_once(&two, 2_000, 1_000).await.unwrap(),
        "purged, so new again"
    );
}

pub(crate) async fn remember_once_survives_reopening<H: Harness>(h: H) {
    let store = open(&h);
    assert!(
        store
            .replay
            .remember_once(&replay_key("id"), 500, 100)
            .await
            .unwrap()
    );
    // A durable write after it carries it to disk, as an issued credential's does.
    store.audit.append(&event("after")).await.unwrap();
    drop(store);
    let store = open(&h);
    assert!(
        !store
            .replay
            .remember_once(&replay_key("id"), 500, 101)
            .await
            .unwrap()
    );
}

pub(crate) async fn two_handles_admit_one_use_of_a_replay_key<H: Harness>(h: H) {
    let first = h.open();
    let stores = [Store::on(first.clone()), Store::on(h.second_handle(&first))];
    let racers: Vec<_> = (0..32)
        .map(|i| {
            let store = stores[i % 2].clone();
            tokio::spawn(async move {
                store
                    .replay
                    .remember_once(&replay_key("contested"), 500, 100)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut firsts = 0;
    for racer in racers {
        firsts += usize::from(racer.await.unwrap());
    }
    assert_eq!(firsts, 1);
}

pub(crate) async fn revocations_are_durable_and_purged_when_moot<H: Harness>(h: H) {
    let store = open(&h);
    let one = Revocation::Session {
        access_key_id: "ASIAREVOKED".into(),
        expires_at: 500,
    };
    let role = |before| Revocation::RoleSessions {
        role_arn: "arn:aws:iam::123456789012:role/ci".into(),
        issued_at_or_before: before,
    };
    let revocations = &store.revocations;
    revocations.revoke(&one, &event("revoke-1")).await.unwrap();
    revocations
        .revoke(&role(100), &event("revoke-2"))
        .await
        .unwrap();
    revocations
        .revoke(&role(200), &event("revoke-3"))
        .await
        .unwrap();
    drop(store);
    let store = open(&h);
    let mut found = store.revocations.list().await.unwrap();
    found.sort_by_key(|r| format!("{r:?}"));
    assert_eq!(
        found,
        vec![role(200), one.clone()],
        "the later role revocation replaces the earlier"
    );
    assert!(
        store
            .revocations
            .feed()
            .borrow()
            .covers("ASIAREVOKED", "arn:other", 0),
        "the feed starts with what is stored"
    );
    assert_eq!(
        store.audit.list(10).await.unwrap().len(),
        3,
        "each revocation is audited"
    );
    store.purge_expired(500).await.unwrap();
    assert_eq!(
        store.revocations.list().await.unwrap(),
        vec![role(200)],
        "the session expired anyway"
    );
    assert!(
        !store
            .revocations
            .feed()
            .borrow()
            .covers("ASIAREVOKED", "arn:other", 0)
    );
    store.purge_expired(200 + 129_600).await.unwrap();
    assert!(
        store.revocations.list().await.unwrap().is_empty(),
        "no session of the role can be alive"
    );
    assert!(store.revocations.feed().borrow().is_empty());
}

pub(crate) async fn two_handles_see_a_revocation_in_the_feed<H: Harness>(h: H) {
    let first = h.open();
    let writer = Store::on(first.clone());
    let reader = Store::on(h.second_handle(&first));
    let mut feed = reader.revocations.feed();
    assert!(!feed.borrow().covers("ASIAGONE", "arn:r", 0));
    writer
        .revocations
        .revoke(
            &Revocation::Session {
                access_key_id: "ASIAGONE".into(),
                expires_at: 500,
            },
            &event("revoke"),
        )
        .await
        .unwrap();
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        feed.wait_for(|set| set.covers("ASIAGONE", "arn:r", 0)),
    )
    .await
    .expect("the other handle's feed has the revocation")
    .unwrap();
}

fn user(name: &str, keys: &[&str]) -> UserRecord {
    UserRecord {
        name: name.to_owned(),
        account_id: "123456789012".into(),
        user_id: format!("AIDA{name}"),
        created_at: 1,
        policies: Vec::new(),
        access_keys: keys
            .iter()
            .map(|id| AccessKey {
                access_key_id: (*id).to_owned(),
                sealed_secret: "sealed".into(),
                created_at: 1,
                status: crate::users::KeyStatus::Active,
            })
            .collect(),
        mfa: None,
    }
}

pub(crate) async fn users_and_their_keys_are_durable_and_indexed<H: Harness>(h: H) {
    let store = open(&h);
    let alice = user("alice", &["AKIAALICE1"]);
    let users = &store.users;
    users
        .swap("alice", None, Some(&alice), &event("u-1"))
        .await
        .unwrap();
    users
        .swap("bob", None, Some(&user("bob", &[])), &event("u-2"))
        .await
        .unwrap();
    let again = users.swap("alice", None, Some(&alice), &event("u-3")).await;
    assert!(
        matches!(again, Err(StoreError::Conflict(_))),
        "creating an existing user conflicts: {again:?}"
    );
    drop(store);
    let store = open(&h);
    assert_eq!(store.users.get("alice").await.unwrap(), Some(alice.clone()));
    assert_eq!(store.users.get("carol").await.unwrap(), None);
    let names: Vec<_> = store
        .users
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(names, ["alice", "bob"]);
    assert_eq!(
        store.users.by_access_key("AKIAALICE1").await.unwrap(),
        Some(alice)
    );
    assert_eq!(store.users.by_access_key("AKIANOBODY").await.unwrap(), None);
    assert_eq!(
        request_ids(&store.audit.list(10).await.unwrap()),
        ["u-1", "u-2"],
        "each change is audited; the refused one is not"
    );
}

pub(crate) async fn a_replaced_user_record_moves_the_key_index<H: Harness>(h: H) {
    let store = open(&h);
    let old = user("alice", &["AKIAOLD", "AKIAKEPT"]);
    store
        .users
        .swap("alice", None, Some(&old), &event("u-1"))
        .await
        .unwrap();
    let rotated = user("alice", &["AKIAKEPT", "AKIANEW"]);
    store
        .users
        .swap("alice", Some(&old), Some(&rotated), &event("u-2"))
        .await
        .unwrap();
    assert_eq!(
        store.users.by_access_key("AKIAOLD").await.unwrap(),
        None,
        "a deleted key stops resolving at once"
    );
    assert_eq!(
        store.users.by_access_key("AKIANEW").await.unwrap(),
        Some(rotated.clone())
    );
    assert_eq!(
        store.users.by_access_key("AKIAKEPT").await.unwrap(),
        Some(rotated.clone())
    );
    let stale = store
        .users
        .swap("alice", Some(&old), None, &event("u-3"))
        .await;
    assert!(
        matches!(stale, Err(StoreError::Conflict(_))),
        "a swap from a stale record changes nothing: {stale:?}"
    );
    store
        .users
        .swap("alice", Some(&rotated), None, &event("u-4"))
        .await
        .unwrap();
    assert_eq!(store.users.get("alice").await.unwrap(), None);
    assert_eq!(store.users.by_access_key("AKIAKEPT").await.unwrap(), None);
}

/// Concurrent read-modify-write changes of one user, half through each handle, each adding a
/// policy: compare-and-swap makes every one of them land.
pub(crate) async fn two_handles_lose_no_concurrent_user_update<H: Harness>(h: H) {
    const WRITERS: usize = 12;
    let first = h.open();
    let stores = [Store::on(first.clone()), Store::on(h.second_handle(&first))];
    stores[0]
        .users
        .swap("alice", None, Some(&user("alice", &[])), &event("create"))
        .await
        .unwrap();
    let writers: Vec<_> = (0..WRITERS)
        .map(|i| {
            let store = stores[i % 2].clone();
            tokio::spawn(async move {
                update_user(store.users.as_ref(), "alice", |current| {
                    let mut user = current.ok_or("gone")?;
                    user.policies.push(crate::users::UserPolicy {
                        name: format!("p{i}"),
                        document: String::new(),
                    });
                    Ok::<_, &str>(UserChange {
                        record: Some(user),
                        audit: event(&format!("add-{i}")),
                        value: (),
                    })
                })
                .await
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap().unwrap();
    }
    let alice = stores[1].users.get("alice").await.unwrap().unwrap();
    assert_eq!(alice.policies.len(), WRITERS, "{:?}", alice.policies);
}

/// A key deleted through one handle stops resolving through the other at once (no daemon
/// caches users: a key deleted on one node is refused on every node by its next request).
pub(crate) async fn two_handles_see_a_deleted_key_at_once<H: Harness>(h: H) {
    let first = h.open();
    let stores = [Store::on(first.clone()), Store::on(h.second_handle(&first))];
    let with_key = user("alice", &["AKIAGOING", "AKIASTAYING"]);
    stores[0]
        .users
        .swap("alice", None, Some(&with_key), &event("create"))
        .await
        .unwrap();
    assert_eq!(
        stores[1].users.by_access_key("AKIAGOING").await.unwrap(),
        Some(with_key.clone())
    );
    let without = user("alice", &["AKIASTAYING"]);
    stores[0]
        .users
        .swap(
            "alice",
            Some(&with_key),
            Some(&without),
            &event("delete-key"),
        )
        .await
        .unwrap();
    assert_eq!(
        stores[1].users.by_access_key("AKIAGOING").await.unwrap(),
        None
    );
    assert_eq!(
        stores[1].users.by_access_key("AKIASTAYING").await.unwrap(),
        Some(without)
    );
}

pub(crate) async fn role_ids_are_durable_and_replaced_whole<H: Harness>(h: H) {
    let ids = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    };
    let store = open(&h);
    assert!(store.role_ids.list().await.unwrap().is_empty());
    let first = ids(&[("arn:r/a", "AROAA"), ("arn:r/b", "AROAB")]);
    store.role_ids.replace(&first).await.unwrap();
    drop(store);
    let store = open(&h);
    assert_eq!(store.role_ids.list().await.unwrap(), first);
    let second = ids(&[("arn:r/b", "AROAB"), ("arn:r/c", "AROAC")]);
    store.role_ids.replace(&second).await.unwrap();
    assert_eq!(
        store.role_ids.list().await.unwrap(),
        second,
        "a role no longer listed loses its id"
    );
}

pub(crate) async fn sealing_keys_keep_the_latest_time_each_was_current<H: Harness>(h: H) {
    let store = open(&h);
    store.sealing_keys.record_current("k1", 100).await.unwrap();
    store.sealing_keys.record_current("k1", 50).await.unwrap();
    store.sealing_keys.record_current("k2", 200).await.unwrap();
    drop(store);
    let store = open(&h);
    assert_eq!(
        store.sealing_keys.list().await.unwrap(),
        BTreeMap::from([("k1".to_owned(), 100), ("k2".to_owned(), 200)]),
        "a later record never goes back in time"
    );
    store.sealing_keys.forget("k1").await.unwrap();
    store.sealing_keys.forget("never-recorded").await.unwrap();
    drop(store);
    let store = open(&h);
    assert_eq!(
        store.sealing_keys.list().await.unwrap(),
        BTreeMap::from([("k2".to_owned(), 200)]),
        "a forgotten key stays forgotten"
    );
}

/// Live sessions are counted by when they were issued (bounds included) among those expiring
/// after now, with the last expiry.
pub(crate) async fn live_sessions_are_counted_by_issue_time<H: Harness>(h: H) {
    let store = open(&h);
    // Issued at expiry - 3600: 1400 (expired at 5000), 2400, 3400, 4400.
    for (id, expires_at) in [
        ("ASIAEXPIRED", 5_000),
        ("ASIAFIRST", 6_000),
        ("ASIASECOND", 7_000),
        ("ASIALATER", 8_000),
    ] {
        store
            .sessions
            .put(&session(id, expires_at), &event(id))
            .await
            .unwrap();
    }
    let live = |from, to| {
        let store = store.clone();
        async move {
            store
                .sessions
                .live_issued_between(from, to, 5_000)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        live(1_000, 3_400).await,
        LiveSessions {
            count: 2,
            last_expiry: Some(7_000)
        },
        "the expired one is not counted, both bounds are included"
    );
    assert_eq!(live(2_401, 3_399).await, LiveSessions::default());
    assert_eq!(live(0, i64::MAX).await.count, 3);
}

/// The last use of a key only moves forward, and survives reopening.
pub(crate) async fn key_usage_keeps_the_latest_use<H: Harness>(h: H) {
    let store = open(&h);
    let used = |at: i64, service: &str| KeyUse {
        at,
        service: service.to_owned(),
    };
    assert_eq!(store.key_usage.last_used("AKIAONE").await.unwrap(), None);
    store
        .key_usage
        .record_use("AKIAONE", &used(100, "sts"))
        .await
        .unwrap();
    store
        .key_usage
        .record_use("AKIAONE", &used(50, "photos"))
        .await
        .unwrap();
    store
        .key_usage
        .record_use("AKIATWO", &used(70, "photos"))
        .await
        .unwrap();
    // Durable with the next durable write.
    store.sealing_keys.record_current("k", 1).await.unwrap();
    drop(store);
    let store = open(&h);
    assert_eq!(
        store.key_usage.last_used("AKIAONE").await.unwrap(),
        Some(used(100, "sts")),
        "an older use never replaces a newer one"
    );
    assert_eq!(
        store.key_usage.last_used("AKIATWO").await.unwrap(),
        Some(used(70, "photos"))
    );
}

/// The trail is in time order whatever the order of the writes, and a prune deletes exactly the
/// events before the cut, whichever way they were written, and durably.
pub(crate) async fn audit_is_time_ordered_and_pruned_before_a_time<H: Harness>(h: H) {
    const T: i64 = 1_795_000_000;
    let store = open(&h);
    store
        .audit
        .append(&event_at("late", T + 100))
        .await
        .unwrap();
    store
        .audit
        .append(&event_at("early", T - 100))
        .await
        .unwrap();
    store
        .sessions
        .put(&session("ASIAAT", T + 3600), &event_at("at", T))
        .await
        .unwrap();
    store
        .audit
        .append(&event_at("just-before", T - 1))
        .await
        .unwrap();
    assert_eq!(
        request_ids(&store.audit.list(10).await.unwrap()),
        ["early", "just-before", "at", "late"]
    );
    assert_eq!(store.audit.prune_before(T - 100).await.unwrap(), 0);
    assert_eq!(store.audit.prune_before(T).await.unwrap(), 2);
    assert_eq!(
        store.audit.prune_before(T).await.unwrap(),
        0,
        "nothing left to prune"
    );
    drop(store);
    let reopened = open(&h);
    assert_eq!(
        request_ids(&reopened.audit.list(10).await.unwrap()),
        ["at", "late"]
    );
    assert_eq!(reopened.audit.prune_before(T + 101).await.unwrap(), 2);
    assert!(reopened.audit.list(10).await.unwrap().is_empty());
    assert_eq!(
        reopened
            .sessions
            .get("ASIAAT")
            .await
            .unwrap()
            .map(|s| s.expires_at),
        Some(T + 3600),
        "pruning the audit leaves sessions alone"
    );
}

/// Events recorded without waiting are listed at once, in order with the others, and survive
/// reopening.
pub(crate) async fn recorded_events_are_listed_and_durable<H: Harness>(h: H) {
    let store = open(&h);
    store.audit.record(&event("refused-1")).await.unwrap();
    store.audit.append(&event("operator")).await.unwrap();
    store.audit.record(&event("refused-2")).await.unwrap();
    assert_eq!(
        request_ids(&store.audit.list(10).await.unwrap()),
        ["refused-1", "operator", "refused-2"]
    );
    store.audit.record(&event("refused-3")).await.unwrap();
    drop(store);
    let store = open(&h);
    assert_eq!(
        request_ids(&store.audit.list(10).await.unwrap()),
        ["refused-1", "operator", "refused-2", "refused-3"]
    );
}

/// A query reads the window it names and the criteria it gives, newest `limit` first; events
/// recorded without waiting are included.
pub(crate) async fn audit_is_queried_by_window_and_criteria<H: Harness>(h: H) {
    use crate::audit::query::AuditQuery;
    const T: i64 = 1_795_000_000;
    let store = open(&h);
    let refused = AuditEvent {
        error_code: Some("InvalidClientTokenId".into()),
        event_name: "GetCallerIdentity".into(),
        user_identity: AuditIdentity::claimed_key("ASIAREVOKED"),
        ..event_at("refused", T + 10)
    };
    let issued = AuditEvent {
        user_identity: AuditIdentity::web_identity("issuer", "aud", "repo:org/app"),
        response_elements: Some(serde_json::json!({
            "credentials": { "accessKeyId": "ASIAISSUED" },
            "assumedRoleUser": { "arn": "arn:aws:sts::123456789012:assumed-role/ci/s" },
        })),
        ..event_at("issued", T)
    };
    store
        .audit
        .append(&event_at("long-before", T - 86_400))
        .await
        .unwrap();
    store
        .sessions
        .put(&session("ASIAISSUED", T + 3600), &issued)
        .await
        .unwrap();
    store.audit.record(&refused).await.unwrap();
    store
        .audit
        .append(&event_at("after", T + 20))
        .await
        .unwrap();
    let ids = |query: AuditQuery| {
        let store = store.clone();
        async move {
            request_ids(&store.audit.query(&query).await.unwrap())
                .into_iter()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        }
    };
    let all = AuditQuery::default();
    assert_eq!(
        ids(all.clone()).await,
        ["long-before", "issued", "refused", "after"]
    );
    assert_eq!(ids(AuditQuery::newest(2)).await, ["refused", "after"]);
    let window = AuditQuery {
        since: Some(T),
        until: Some(T + 20),
        ..all.clone()
    };
    assert_eq!(ids(window.clone()).await, ["issued", "refused"]);
    assert_eq!(
        ids(AuditQuery { limit: 1, ..window }).await,
        ["refused"],
        "the newest of the window"
    );
    assert_eq!(
        ids(AuditQuery {
            since: Some(T + 21),
            ..all.clone()
        })
        .await,
        Vec::<String>::new()
    );
    assert_eq!(
        ids(AuditQuery {
            until: Some(T - 86_399),
            ..all.clone()
        })
        .await,
        ["long-before"]
    );
    assert_eq!(
        ids(AuditQuery {
            since: Some(T + 20),
            until: Some(T),
            ..all.clone()
        })
        .await,
        Vec::<String>::new(),
        "a window that ends before it starts holds nothing"
    );
    assert_eq!(
        ids(AuditQuery {
            event_name: Some("GetCallerIdentity".into()),
            ..all.clone()
        })
        .await,
        ["refused"]
    );
    assert_eq!(
        ids(AuditQuery {
            error_code: Some("InvalidClientTokenId".into()),
            ..all.clone()
        })
        .await,
        ["refused"]
    );
    for key in ["ASIAISSUED", "ASIAREVOKED"] {
        let found = ids(AuditQuery {
            access_key_id: Some(key.into()),
            ..all.clone()
        })
        .await;
        assert_eq!(found.len(), 1, "{key}: {found:?}");
    }
    for principal in [
        "repo:org/app",
        "arn:aws:sts::123456789012:assumed-role/ci/s",
    ] {
        assert_eq!(
            ids(AuditQuery {
                principal: Some(principal.into()),
                ..all.clone()
            })
            .await,
            ["issued"]
        );
    }
    assert!(
        ids(AuditQuery {
            principal: Some("repo:org/other".into()),
            ..all.clone()
        })
        .await
        .is_empty()
    );
}

/// Every event made durable is published once, in order, whichever concept wrote it.
pub(crate) async fn durable_events_are_published_to_followers<H: Harness>(h: H) {
    use tokio::sync::broadcast::error::TryRecvError;
    let store = open(&h);
    store.audit.append(&event("before")).await.unwrap();
    let mut feed = store.audit.follow();
    store.audit.append(&event("appended")).await.unwrap();
    store
        .sessions
        .put(&session("ASIAFEED", 2_000_000_000), &event("issued"))
        .await
        .unwrap();
    store.audit.record(&event("recorded")).await.unwrap();
    store
        .revocations
        .revoke(
            &Revocation::Session {
                access_key_id: "ASIAFEED".into(),
                expires_at: 2_000_000_000,
            },
            &event("revoked"),
        )
        .await
        .unwrap();
    let user = UserRecord::new(
        "alice",
        "123456789012",
        Vec::new(),
        crate::clock::from_unix_seconds(1_795_000_000),
        &aws_lc_rs::rand::SystemRandom::new(),
    )
    .unwrap();
    store
        .users
        .swap("alice", None, Some(&user), &event("user"))
        .await
        .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 5 {
        let recorded = tokio::time::timeout(std::time::Duration::from_secs(5), feed.recv())
            .await
            .expect("an event within 5 s")
            .unwrap();
        assert_eq!(
            serde_json::from_slice::<AuditEvent>(recorded.json()).unwrap(),
            recorded.event().unwrap(),
            "the JSON is the event"
        );
        seen.push(recorded.event().unwrap().request_id);
    }
    assert_eq!(
        seen,
        ["appended", "issued", "recorded", "revoked", "user"],
        "each once, in order, not the one before subscribing"
    );
    assert!(matches!(feed.try_recv(), Err(TryRecvError::Empty)));
}

fn device(user_code: &str, expires_at: i64, state: &[u8]) -> DeviceRecord {
    DeviceRecord {
        user_code: user_code.to_owned(),
        expires_at,
        state: state.to_vec(),
    }
}

pub(crate) async fn device_authorizations_are_created_once_while_live<H: Harness>(h: H) {
    let store = open(&h);
    let devices = &store.devices;
    let first = device("WDJB-MJHT", 1_000, b"pending");
    assert!(devices.create_device(&first, 400).await.unwrap());
    assert!(
        !devices
            .create_device(&device("WDJB-MJHT", 2_000, b"other"), 999)
            .await
            .unwrap(),
        "a live record of the code is kept"
    );
    assert_eq!(
        devices.device("WDJB-MJHT", 999).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(devices.device("WDJB-MJHT", 1_000).await.unwrap(), None);
    assert_eq!(devices.device("NONE-NONE", 0).await.unwrap(), None);
    drop(store);
    let store = open(&h);
    let devices = &store.devices;
    assert_eq!(
        devices.device("WDJB-MJHT", 500).await.unwrap(),
        Some(first),
        "durable"
    );
    let again = device("WDJB-MJHT", 2_000, b"again");
    assert!(
        devices.create_device(&again, 1_000).await.unwrap(),
        "an expired record is replaced"
    );
    assert_eq!(
        devices.device("WDJB-MJHT", 1_500).await.unwrap(),
        Some(again)
    );
}

pub(crate) async fn device_authorizations_change_by_compare_and_swap<H: Harness>(h: H) {
    let store = open(&h);
    let devices = &store.devices;
    assert!(
        !devices
            .swap_device("GONE-GONE", b"pending", b"approved")
            .await
            .unwrap(),
        "nothing to swap"
    );
    devices
        .create_device(&device("ABCD-EFGH", 1_000, b"pending"), 0)
        .await
        .unwrap();
    assert!(
        devices
            .swap_device("ABCD-EFGH", b"pending", b"approved")
            .await
            .unwrap()
    );
    assert!(
        !devices
            .swap_device("ABCD-EFGH", b"pending", b"denied")
            .await
            .unwrap(),
        "the stale state loses"
    );
    drop(store);
    let first = h.open();
    let store = Store::on(first.clone());
    assert_eq!(
        store.devices.device("ABCD-EFGH", 0).await.unwrap(),
        Some(device("ABCD-EFGH", 1_000, b"approved")),
        "the swap is durable and keeps the expiry"
    );
    // Two daemons polling at once: each swaps on its own handle.
    let handles = [store.clone(), Store::on(h.second_handle(&first))];
    let racers: Vec<_> = handles
        .into_iter()
        .enumerate()
        .map(|(i, store)| {
            tokio::spawn(async move {
                store
                    .devices
                    .swap_device("ABCD-EFGH", b"approved", format!("redeemed-{i}").as_bytes())
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut won = Vec::new();
    for (i, racer) in racers.into_iter().enumerate() {
        if racer.await.unwrap() {
            won.push(i);
        }
    }
    assert_eq!(won.len(), 1, "exactly one swap wins");
    assert_eq!(
        store.devices.device("ABCD-EFGH", 0).await.unwrap(),
        Some(device(
            "ABCD-EFGH",
            1_000,
            format!("redeemed-{}", won[0]).as_bytes()
        ))
    );
}

pub(crate) async fn device_authorizations_are_purged_when_expired<H: Harness>(h: H) {
    let store = open(&h);
    let devices = &store.devices;
    for (code, expires_at) in [("AAAA-AAAA", 100), ("BBBB-BBBB", 200), ("CCCC-CCCC", 300)] {
        devices
            .create_device(&device(code, expires_at, b"pending"), 0)
            .await
            .unwrap();
    }
    assert_eq!(devices.purge_expired(200).await.unwrap(), 2);
    assert_eq!(devices.purge_expired(200).await.unwrap(), 0);
    assert_eq!(
        devices.device("CCCC-CCCC", 0).await.unwrap(),
        Some(device("CCCC-CCCC", 300, b"pending"))
    );
    assert!(
        devices
            .create_device(&device("AAAA-AAAA", 900, b"new"), 150)
            .await
            .unwrap()
    );
    store.purge_expired(300).await.unwrap();
    assert_eq!(devices.device("CCCC-CCCC", 0).await.unwrap(), None);
    assert_eq!(
        devices.device("AAAA-AAAA", 0).await.unwrap(),
        Some(device("AAAA-AAAA", 900, b"new")),
        "the store's purge takes only what has expired"
    );
}

pub(crate) async fn two_handles_share_device_authorizations<H: Harness>(h: H) {
    let first = h.open();
    let one = Store::on(first.clone());
    let other = Store::on(h.second_handle(&first));
    assert!(
        one.devices
            .create_device(&device("SHAR-EDXX", 1_000, b"pending"), 0)
            .await
            .unwrap()
    );
    assert!(
        !other
            .devices
            .create_device(&device("SHAR-EDXX", 1_000, b"mine"), 0)
            .await
            .unwrap(),
        "the other daemon sees the code taken"
    );
    assert!(
        other
            .devices
            .swap_device("SHAR-EDXX", b"pending", b"approved")
            .await
            .unwrap(),
        "approved at the other daemon"
    );
    assert_eq!(
        one.devices.device("SHAR-EDXX", 0).await.unwrap(),
        Some(device("SHAR-EDXX", 1_000, b"approved")),
        "seen by the polling one"
    );
    assert!(
        !one.devices
            .swap_device("SHAR-EDXX", b"pending", b"denied")
            .await
            .unwrap()
    );
}

pub(crate) async fn login_revocations_are_in_the_feed_until_they_expire<H: Harness>(h: H) {
    let first = h.open();
    let store = Store::on(first.clone());
    let other = Store::on(h.second_handle(&first));
    let mut feed = other.revocations.feed();
    let login = Revocation::Login {
        login_id: "L0123456789abcdef0123456789abcdef".into(),
        expires_at: 1_000,
    };
    assert!(
        !feed
            .borrow()
            .covers_login("L0123456789abcdef0123456789abcdef")
    );
    store
        .revocations
        .revoke(&login, &event("revoke-login"))
        .await
        .unwrap();
    assert!(
        store
            .revocations
            .feed()
            .borrow()
            .covers_login("L0123456789abcdef0123456789abcdef")
    );
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        feed.wait_for(|set| set.covers_login("L0123456789abcdef0123456789abcdef")),
    )
    .await
    .expect("the other handle's feed has the login revocation")
    .unwrap();
    assert!(!feed.borrow().covers_login("Lother"));
    assert!(
        !feed
            .borrow()
            .covers("L0123456789abcdef0123456789abcdef", "arn:r", 0),
        "a login id is no access key id"
    );
    drop((store, other, feed, first));
    let store = open(&h);
    assert_eq!(store.revocations.list().await.unwrap(), vec![login.clone()]);
    assert!(
        store
            .revocations
            .feed()
            .borrow()
            .covers_login("L0123456789abcdef0123456789abcdef"),
        "durable, and in the feed of a new handle"
    );
    store.purge_expired(999).await.unwrap();
    assert_eq!(store.revocations.list().await.unwrap(), vec![login]);
    store.purge_expired(1_000).await.unwrap();
    assert!(store.revocations.list().await.unwrap().is_empty());
    assert!(store.revocations.feed().borrow().is_empty());
}

/// One test per conformance case, each on a fresh harness from `$harness`.
macro_rules! conformance_suite {
    ($harness:expr) => {
        conformance_suite!(@cases $harness;
            put_then_get_round_trips,
            sessions_list_latest_expiry_first_up_to_limit,
            audit_lists_the_last_events_newest_last,
            audit_is_time_ordered_and_pruned_before_a_time,
            recorded_events_are_listed_and_durable,
            audit_is_queried_by_window_and_criteria,
            durable_events_are_published_to_followers,
            purge_removes_sessions_expiring_at_or_before_now,
            acknowledged_writes_survive_reopening,
            concurrent_writers_are_durable_and_share_flushes,
            remember_once_refuses_replays_within_the_window,
            remember_once_survives_reopening,
            two_handles_admit_one_use_of_a_replay_key,
            revocations_are_durable_and_purged_when_moot,
            two_handles_see_a_revocation_in_the_feed,
            users_and_their_keys_are_durable_and_indexed,
            a_replaced_user_record_moves_the_key_index,
            two_handles_lose_no_concurrent_user_update,
            two_handles_see_a_deleted_key_at_once,
            role_ids_are_durable_and_replaced_whole,
            sealing_keys_keep_the_latest_time_each_was_current,
            live_sessions_are_counted_by_issue_time,
            key_usage_keeps_the_latest_use,
            device_authorizations_are_created_once_while_live,
            device_authorizations_change_by_compare_and_swap,
            device_authorizations_are_purged_when_expired,
            two_handles_share_device_authorizations,
            login_revocations_are_in_the_feed_until_they_expire,
        );
    };
    (@cases $harness:expr; $($case:ident,)+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::store::conformance::$case($harness).await;
            }
        )+
    };
}
pub(crate) use conformance_suite;
