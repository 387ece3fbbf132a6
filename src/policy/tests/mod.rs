//! Tests of the policy engine. Examples are drawn from the AWS IAM User Guide (condition
//! operators, multivalued context keys, policy variables, OIDC trust policies).

mod conditions;
mod duplicates;
mod evaluation;
mod packed;
mod properties;
mod serialize;
mod session;
mod trust;
mod validation;
mod variables;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{ContextKeys, Policy, PolicyKind, RequestContext, evaluate};

/// 2023-11-14T22:13:20Z: tests never read the clock.
fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn parsed(text: &str, kind: PolicyKind) -> Policy {
    match Policy::parse(text, kind) {
        Ok(policy) => policy,
        Err(error) => panic!("policy should parse, got: {error}\n{text}"),
    }
}

fn identity(text: &str) -> Policy {
    parsed(text, PolicyKind::Identity)
}

fn trust(text: &str) -> Policy {
    parsed(text, PolicyKind::Trust)
}

fn keys(pairs: &[(&str, &str)]) -> ContextKeys {
    let mut keys = ContextKeys::default();
    for (key, value) in pairs {
        keys.insert(key, *value);
    }
    keys
}

fn request(action: &str, resource: Option<&str>, pairs: &[(&str, &str)]) -> RequestContext {
    RequestContext {
        principals: Vec::new(),
        action: action.to_owned(),
        resource: resource.map(str::to_owned),
        keys: keys(pairs),
    }
}

/// One row of a condition table: an Allow-everything statement guarded by `condition`.
struct Row {
    name: &'static str,
    condition: &'static str,
    keys: &'static [(&'static str, &'static str)],
    allowed: bool,
}

/// Evaluates every row and reports all the rows that disagree at once.
fn check_rows(rows: &[Row]) {
    let failures: Vec<String> = rows
        .iter()
        .filter_map(|row| {
            let policy = identity(&format!(
                r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"*","Resource":"*","Condition":{}}}}}"#,
                row.condition
            ));
            let decision = evaluate(&policy, &request("s3:GetObject", Some("arn:aws:s3:::b/k"), row.keys), now());
            (decision.is_allow() != row.allowed)
                .then(|| format!("{}: expected allowed={}, got {decision:?}", row.name, row.allowed))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
