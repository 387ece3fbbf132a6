//! The STS Query API end to end: `Params::parse` on the request body, then `sts::handle`
//! against a real `state::State` (the store of `store::open` on a scratch directory, the fixed
//! keyring, a federation of two roles, one managed policy and one OIDC IdP with static keys, a
//! stopped clock).
//!
//! Input: `FORM [0x00 CLAIMS]`. `FORM` is the form-encoded body as a client sends it. When a
//! `0x00` follows, `CLAIMS` (raw JSON bytes) is signed with the IdP's fixed test key and added as
//! `WebIdentityToken` (unless the form already has one), so trust policies, session tags,
//! durations and session policies are reached with fuzzer-chosen claims.
//!
//! Every refusal must be one of the AWS error codes, never `InternalFailure`; a signed token is
//! never echoed (message or XML body); a success hands out credentials the keyring opens and
//! the store recorded.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use stsbridge::creds::token::unseal;
use stsbridge::sts::{Params, RequestMeta, handle};
use stsbridge_fuzz as fx;

struct Target {
    fixture: fx::StsFixture,
    meta: RequestMeta,
    runtime: tokio::runtime::Runtime,
}

static TARGET: LazyLock<Target> = LazyLock::new(|| Target {
    fixture: fx::sts_fixture(),
    meta: fx::request_meta(),
    runtime: fx::runtime(),
});

fuzz_target!(|data: &[u8]| {
    let (form, claims) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let mut params = match Params::parse(form) {
        Ok(p) => p,
        Err(e) => {
            assert_eq!(e.code(), "ValidationError", "parse error {e:?}");
            return;
        }
    };
    let signed = claims.map(fx::sign_payload);
    if let Some(token) = &signed {
        let extra = Params::parse(format!("WebIdentityToken={token}").as_bytes())
            .expect("a base64url token is valid form encoding");
        params.merge(extra);
    }

    let target = &*TARGET;
    let state = &target.fixture.state;
    match target
        .runtime
        .block_on(handle(state, &target.meta, &params))
    {
        Err(e) => {
            // The client's fault, always: an AWS code other than InternalFailure, and a 4xx.
            assert_ne!(e.code(), "InternalFailure", "{e:?}");
            let status = e.status();
            assert!(status.is_client_error(), "status {status} for {e:?}");
            let message = e.message();
            // And the XML the client receives, rendered from the error table.
            let body = stsbridge::sts::xml::error(&e, &target.meta.origin.request_id);
            if let Some(token) = &signed
                && params.get("WebIdentityToken") == Some(token.as_str())
            {
                assert!(!message.contains(token.as_str()), "the token was echoed");
                assert!(!body.contains(token.as_str()), "the token was echoed");
            }
        }
        Ok(body) => check_success(target, &params, &body),
    }
});

/// The response carries credentials whose session token the keyring opens to the same key id
/// and whose session the store holds.
fn check_success(target: &Target, params: &Params, body: &str) {
    let access_key_id = element(body, "AccessKeyId").expect("AccessKeyId in a success");
    assert!(
        access_key_id.starts_with("ASIA") && access_key_id.len() == 20,
        "{access_key_id}"
    );
    let token = element(body, "SessionToken").expect("SessionToken in a success");
    let claims = unseal(&target.fixture.keyring.snapshot(), token).expect("own token opens");
    assert_eq!(claims.access_key_id, access_key_id);
    assert_eq!(
        params.get("RoleArn"),
        Some(claims.session.identity_arn.as_str())
    );
    let duration = claims.expires_at - claims.issued_at;
    assert!((900..=43_200).contains(&duration), "duration {duration}");
    assert_eq!(claims.issued_at, fx::NOW_UNIX);
    let record = target
        .runtime
        .block_on(target.fixture.store.sessions.get(access_key_id))
        .expect("store readable")
        .expect("the session was recorded before the response");
    assert_eq!(record.expires_at, claims.expires_at);
    assert_eq!(
        record.session, claims.session,
        "the store and the token disagree"
    );
}

/// The text of the first `<name>…</name>` (values here never hold markup).
fn element<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = body.find(&open)? + open.len();
    let len = body[start..].find(&format!("</{name}>"))?;
    Some(&body[start..start + len])
}
