//! IAM policy documents (session policies arrive in `Policy` of a request; trust and identity
//! policies are operator files): `Policy::parse` for all three kinds, then `evaluate` of what
//! parsed against a request built from the rest of the input.
//!
//! Input: `KIND TEXT [0x00 REQUEST]`. `KIND mod 3` picks the kind; `TEXT` is the policy (lossy
//! UTF-8); `REQUEST` drives `arbitrary` to build principals, action, resource, condition keys and
//! `now`, mostly from the strings the policy itself contains so that statements can match.
//!
//! Never panics; a parsed policy respects its kind's size limit; evaluation is deterministic and
//! agrees with `evaluate_all` over the same policy.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use stsbridge::policy::{
    ContextKeys, Policy, PolicyKind, PrincipalId, RequestContext, evaluate, evaluate_all,
};

const KINDS: [PolicyKind; 3] = [PolicyKind::Trust, PolicyKind::Identity, PolicyKind::Session];

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let kind = KINDS[usize::from(kind) % KINDS.len()];
    let (text, request) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let text = String::from_utf8_lossy(text);
    let Ok(policy) = Policy::parse(&text, kind) else {
        return;
    };
    assert_eq!(policy.kind(), kind);
    assert!(
        Policy::len_without_whitespace(&text) <= kind.size_limit(),
        "a {kind:?} policy over the size limit parsed"
    );

    let pool = strings_in(&text);
    let mut u = Unstructured::new(request);
    let Ok((request, now)) = build_request(&mut u, &pool) else {
        return;
    };
    let decision = evaluate(&policy, &request, now);
    assert_eq!(
        decision,
        evaluate(&policy, &request, now),
        "evaluation is not deterministic"
    );
    assert_eq!(decision, evaluate_all(&[&policy], &request, now));
    assert_eq!(decision, evaluate_all(&[&policy, &policy], &request, now));
});

/// Every string in the document (member names and values), to build requests that match.
fn strings_in(text: &str) -> Vec<String> {
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::String(s) => out.push(s.clone()),
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            Value::Object(map) => {
                for (k, v) in map {
                    out.push(k.clone());
                    walk(v, out);
                }
            }
            Value::Bool(b) => out.push(b.to_string()),
            Value::Number(n) => out.push(n.to_string()),
            Value::Null => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(value) = serde_json::from_str::<Value>(text) {
        walk(&value, &mut out);
    }
    out
}

/// A string from the policy (possibly with a `*`/`?` wildcard filled in), or an arbitrary one.
fn string(u: &mut Unstructured<'_>, pool: &[String]) -> Result<String> {
    if pool.is_empty() || u.ratio(1, 4)? {
        return u.arbitrary();
    }
    let base = u.choose(pool)?;
    if u.ratio(1, 2)? {
        return Ok(base.clone());
    }
    let fill: String = u.arbitrary()?;
    Ok(base.replace(['*', '?'], &fill))
}

fn build_request(
    u: &mut Unstructured<'_>,
    pool: &[String],
) -> Result<(RequestContext, std::time::SystemTime)> {
    let mut principals = Vec::new();
    for _ in 0..u.int_in_range(0..=3)? {
        let id = string(u, pool)?;
        principals.push(match u.int_in_range(0..=3)? {
            0 => PrincipalId::Federated(id),
            1 => PrincipalId::Aws(id),
            2 => PrincipalId::Service(id),
            _ => PrincipalId::CanonicalUser(id),
        });
    }
    let action = string(u, pool)?;
    let resource = if u.arbitrary()? {
        Some(string(u, pool)?)
    } else {
        None
    };
    let mut keys = ContextKeys::default();
    for _ in 0..u.int_in_range(0..=8)? {
        let key = string(u, pool)?;
        let value = string(u, pool)?;
        keys.insert(&key, value);
    }
    // Any instant from 1970 to about 2514, so date conditions fall on both sides.
    let now = UNIX_EPOCH + Duration::from_secs(u.int_in_range(0..=1u64 << 34)?);
    Ok((
        RequestContext {
            principals,
            action,
            resource,
            keys,
        },
        now,
    ))
}
