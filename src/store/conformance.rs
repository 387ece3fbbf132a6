//! The conformance suite every `SessionStore` backend must pass (dex `storage/conformance`).
//!
//! A backend's tests implement [`Harness`] and invoke `conformance_suite!(make_harness())`,
//! which expands to one `#[tokio::test]` per case, each on a fresh harness.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{AuditEvent, AuditIdentity, Revocation, SessionRecord, SessionStore, StoreError};
use crate::creds::{Session, SessionKind};
use crate::users::{AccessKey, UserRecord};

/// How the suite reaches a backend.
pub(crate) trait Harness {
    type Store: SessionStore + 'static;
    /// Open the store on this harness's storage; opening again after dropping the previous
    /// store must see everything it made durable.
    fn open(&self) -> Self::Store;
    /// Flushes (durability barriers) the store has run, if it counts them.
    fn flush_count(store: &Self::Store) -> Option<u64>;
}

/// A session for access key `id`, expiring at `expires_at` (unix seconds).
pub(crate) fn session(id: &str, expires_at: i64) -> SessionRecord {
    SessionRecord {
        access_key_id: id.to_owned(),
        session: Session {
            role_arn: "arn:aws:iam::123456789012:role/ci".into(),
            role_id: "AROAEXAMPLE".into(),
            assumed_role_arn: format!("arn:aws:sts::123456789012:assumed-role/ci/{id}"),
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
            kind: "WebIdentityUser".into(),
            ..AuditIdentity::default()
        },
        response_elements: None,
        error_code: None,
        error_message: None,
        request_id: request_id.to_owned(),
    }
}

fn request_ids(events: &[AuditEvent]) -> Vec<&str> {
    events.iter().map(|e| e.request_id.as_str()).collect()
}

fn key_ids(sessions: &[SessionRecord]) -> Vec<&str> {
    sessions.iter().map(|s| s.access_key_id.as_str()).collect()
}

pub(crate) async fn put_then_get_round_trips<H: Harness>(h: H) {
    let store = h.open();
    let s = session("ASIAROUNDTRIP0000001", 1_000);
    store.put_session(&s, &event("r1")).await.unwrap();
    assert_eq!(store.get_session(&s.access_key_id).unwrap(), Some(s));
    assert_eq!(store.get_session("ASIAMISSING000000000").unwrap(), None);
}

pub(crate) async fn sessions_list_latest_expiry_first_up_to_limit<H: Harness>(h: H) {
    let store = h.open();
    for (id, expires_at) in [
        ("ASIAC", 1_000),
        ("ASIAA", 3_000),
        ("ASIAB", 2_000),
        ("ASIAD", 3_000),
    ] {
        store
            .put_session(&session(id, expires_at), &event(id))
            .await
            .unwrap();
    }
    assert_eq!(
        key_ids(&store.list_sessions(10).unwrap()),
        ["ASIAD", "ASIAA", "ASIAB", "ASIAC"]
    );
    assert_eq!(
        key_ids(&store.list_sessions(2).unwrap()),
        ["ASIAD", "ASIAA"]
    );
    assert!(store.list_sessions(0).unwrap().is_empty());
}

pub(crate) async fn audit_lists_the_last_events_newest_last<H: Harness>(h: H) {
    let store = h.open();
    assert!(store.list_audit(10).unwrap().is_empty());
    store.append_audit(&event("e1")).await.unwrap();
    store
        .put_session(&session("ASIAA", 1_000), &event("e2"))
        .await
        .unwrap();
    store.append_audit(&event("e3")).await.unwrap();
    assert_eq!(
        store.list_audit(10).unwrap(),
        [event("e1"), event("e2"), event("e3")]
    );
    assert_eq!(request_ids(&store.list_audit(2).unwrap()), ["e2", "e3"]);
    assert!(store.list_audit(0).unwrap().is_empty());
}

pub(crate) async fn purge_removes_sessions_expiring_at_or_before_now<H: Harness>(h: H) {
    let store = h.open();
    for (id, expires_at) in [("ASIAA", 99), ("ASIAB", 100), ("ASIAC", 101)] {
        store
            .put_session(&session(id, expires_at), &event(id))
            .await
            .unwrap();
    }
    assert_eq!(store.purge_expired(98).unwrap(), 0);
    assert_eq!(store.purge_expired(100).unwrap(), 2);
    assert_eq!(key_ids(&store.list_sessions(10).unwrap()), ["ASIAC"]);
    assert_eq!(store.get_session("ASIAA").unwrap(), None);
    assert_eq!(store.get_session("ASIAB").unwrap(), None);
    assert_eq!(store.purge_expired(100).unwrap(), 0);
    assert_eq!(store.purge_expired(101).unwrap(), 1);
    assert_eq!(store.get_session("ASIAC").unwrap(), None);
    assert_eq!(
        store.list_audit(10).unwrap().len(),
        3,
        "purging keeps the audit trail"
    );
}

pub(crate) async fn acknowledged_writes_survive_reopening<H: Harness>(h: H) {
    let s = session("ASIAREOPEN0000000001", 1_000);
    {
        let store = h.open();
        store.put_session(&s, &event("put")).await.unwrap();
        store.append_audit(&event("failed")).await.unwrap();
    }
    let store = h.open();
    assert_eq!(store.get_session(&s.access_key_id).unwrap(), Some(s));
    assert_eq!(
        request_ids(&store.list_audit(10).unwrap()),
        ["put", "failed"]
    );
}

pub(crate) async fn concurrent_writers_are_durable_and_share_flushes<H: Harness>(h: H) {
    const WRITERS: usize = 64;
    let store = Arc::new(h.open());
    let writers: Vec<_> = (0..WRITERS)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let id = format!("ASIACONCURRENT{i:06}");
                store.put_session(&session(&id, 1_000), &event(&id)).await
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap().unwrap();
    }
    if let Some(flushes) = H::flush_count(&store) {
        assert!(
            flushes < WRITERS as u64,
            "{flushes} flushes for {WRITERS} writes"
        );
    }
    drop(store);
    let store = h.open();
    assert_eq!(store.list_sessions(WRITERS + 1).unwrap().len(), WRITERS);
    assert_eq!(store.list_audit(WRITERS + 1).unwrap().len(), WRITERS);
}

pub(crate) async fn remember_once_refuses_replays_within_the_window<H: Harness>(h: H) {
    let store = h.open();
    assert!(!store.is_remembered("id-1", 100).unwrap());
    assert!(store.remember_once("id-1", 200, 100).unwrap(), "first use");
    assert!(store.is_remembered("id-1", 199).unwrap());
    assert!(!store.is_remembered("id-1", 200).unwrap(), "window over");
    assert!(
        !store.remember_once("id-1", 300, 150).unwrap(),
        "replay inside the window"
    );
    assert!(
        !store.remember_once("id-1", 300, 199).unwrap(),
        "last second of the window"
    );
    assert!(store.remember_once("id-2", 200, 150).unwrap(), "another id");
    assert!(
        store.remember_once("id-1", 400, 200).unwrap(),
        "the window has passed"
    );
    assert!(
        !store.remember_once("id-1", 400, 201).unwrap(),
        "remembered again until 400"
    );
    store.purge_expired(1_000).unwrap();
    assert!(
        store.remember_once("id-2", 2_000, 1_000).unwrap(),
        "purged, so new again"
    );
}

pub(crate) async fn remember_once_survives_reopening<H: Harness>(h: H) {
    let store = h.open();
    assert!(store.remember_once("id", 500, 100).unwrap());
    // A durable write after it carries it to disk, as an issued credential's does.
    store.append_audit(&event("after")).await.unwrap();
    drop(store);
    let store = h.open();
    assert!(!store.remember_once("id", 500, 101).unwrap());
}

pub(crate) async fn concurrent_remember_once_admits_exactly_one<H: Harness>(h: H) {
    let store = Arc::new(h.open());
    let racers: Vec<_> = (0..32)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.remember_once("contested", 500, 100).unwrap() })
        })
        .collect();
    let mut firsts = 0;
    for racer in racers {
        firsts += usize::from(racer.await.unwrap());
    }
    assert_eq!(firsts, 1);
}

pub(crate) async fn revocations_are_durable_and_purged_when_moot<H: Harness>(h: H) {
    let store = h.open();
    let one = Revocation::Session {
        access_key_id: "ASIAREVOKED".into(),
        expires_at: 500,
    };
    let role = |before| Revocation::RoleSessions {
        role_arn: "arn:aws:iam::123456789012:role/ci".into(),
        issued_at_or_before: before,
    };
    store.revoke(&one, &event("revoke-1")).await.unwrap();
    store.revoke(&role(100), &event("revoke-2")).await.unwrap();
    store.revoke(&role(200), &event("revoke-3")).await.unwrap();
    drop(store);
    let store = h.open();
    let mut found = store.revocations().unwrap();
    found.sort_by_key(|r| format!("{r:?}"));
    assert_eq!(
        found,
        vec![role(200), one.clone()],
        "the later role revocation replaces the earlier"
    );
    assert_eq!(
        store.list_audit(10).unwrap().len(),
        3,
        "each revocation is audited"
    );
    store.purge_expired(500).unwrap();
    assert_eq!(
        store.revocations().unwrap(),
        vec![role(200)],
        "the session expired anyway"
    );
    store.purge_expired(200 + 129_600).unwrap();
    assert!(
        store.revocations().unwrap().is_empty(),
        "no session of the role can be alive"
    );
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
            })
            .collect(),
        mfa: None,
    }
}

pub(crate) async fn users_and_their_keys_are_durable_and_indexed<H: Harness>(h: H) {
    let store = h.open();
    let alice = user("alice", &["AKIAALICE1"]);
    store.put_user(&alice, true, &event("u-1")).await.unwrap();
    store
        .put_user(&user("bob", &[]), true, &event("u-2"))
        .await
        .unwrap();
    let again = store.put_user(&alice, true, &event("u-3")).await;
    assert!(
        matches!(again, Err(StoreError::Conflict(_))),
        "create refuses an existing user: {again:?}"
    );
    drop(store);
    let store = h.open();
    assert_eq!(store.get_user("alice").unwrap(), Some(alice.clone()));
    assert_eq!(store.get_user("carol").unwrap(), None);
    let names: Vec<_> = store
        .list_users()
        .unwrap()
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(names, ["alice", "bob"]);
    assert_eq!(store.user_by_access_key("AKIAALICE1").unwrap(), Some(alice));
    assert_eq!(store.user_by_access_key("AKIANOBODY").unwrap(), None);
    assert_eq!(
        request_ids(&store.list_audit(10).unwrap()),
        ["u-1", "u-2"],
        "each change is audited; the refused one is not"
    );
}

pub(crate) async fn a_replaced_user_record_moves_the_key_index<H: Harness>(h: H) {
    let store = h.open();
    store
        .put_user(
            &user("alice", &["AKIAOLD", "AKIAKEPT"]),
            true,
            &event("u-1"),
        )
        .await
        .unwrap();
    let rotated = user("alice", &["AKIAKEPT", "AKIANEW"]);
    store
        .put_user(&rotated, false, &event("u-2"))
        .await
        .unwrap();
    assert_eq!(
        store.user_by_access_key("AKIAOLD").unwrap(),
        None,
        "a deleted key stops resolving at once"
    );
    assert_eq!(
        store.user_by_access_key("AKIANEW").unwrap(),
        Some(rotated.clone())
    );
    assert_eq!(store.user_by_access_key("AKIAKEPT").unwrap(), Some(rotated));
}

/// One test per conformance case, each on a fresh harness from `$harness`.
macro_rules! conformance_suite {
    ($harness:expr) => {
        conformance_suite!(@cases $harness;
            put_then_get_round_trips,
            sessions_list_latest_expiry_first_up_to_limit,
            audit_lists_the_last_events_newest_last,
            purge_removes_sessions_expiring_at_or_before_now,
            acknowledged_writes_survive_reopening,
            concurrent_writers_are_durable_and_share_flushes,
            remember_once_refuses_replays_within_the_window,
            remember_once_survives_reopening,
            concurrent_remember_once_admits_exactly_one,
            revocations_are_durable_and_purged_when_moot,
            users_and_their_keys_are_durable_and_indexed,
            a_replaced_user_record_moves_the_key_index,
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
