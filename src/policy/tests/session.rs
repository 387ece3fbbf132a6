//! A session's effective permissions (identity policies intersected with session policies) and
//! the simulation report behind `stsbridge policy simulate`.

use serde_json::json;

use super::{identity, now, parsed, request};
use crate::policy::{
    Decision, EvalDecision, MatchedStatement, NamedPolicy, Policy, PolicyKind, RequestContext,
    Simulation, StatementRef, evaluate_session, simulate,
};

const ROLE: &str = r#"{"Version":"2012-10-17","Statement":[
    {"Sid":"S3","Effect":"Allow","Action":"s3:*","Resource":"*"},
    {"Sid":"NoVault","Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::vault/*"}]}"#;

/// Only reads, and only under the caller's team prefix (tags arrive as aws:PrincipalTag).
const TEAM_READS: &str = r#"{"Version":"2012-10-17","Statement":[
    {"Sid":"TeamReads","Effect":"Allow","Action":"s3:GetObject",
     "Resource":"arn:aws:s3:::b/${aws:PrincipalTag/team}/*"},
    {"Sid":"NoLogs","Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::b/logs/*"}]}"#;

fn session(text: &str) -> Policy {
    parsed(text, PolicyKind::Session)
}

fn at(action: &str, resource: &str) -> RequestContext {
    request(action, Some(resource), &[("aws:PrincipalTag/team", "red")])
}

fn statement(index: usize, sid: &str) -> StatementRef {
    StatementRef {
        index,
        sid: Some(sid.to_owned()),
    }
}

fn matched(policy: &str, index: usize, sid: &str) -> MatchedStatement {
    MatchedStatement {
        source_policy_id: policy.to_owned(),
        sid: Some(sid.to_owned()),
        index,
    }
}

/// Runs [`simulate`] with the role's policy as `role.json` and the session policies as
/// `session.json`, `session2.json`, ...
fn simulated(role: &Policy, sessions: &[&Policy], request: &RequestContext) -> Simulation {
    let ids: Vec<String> = (0..sessions.len())
        .map(|n| match n {
            0 => "session.json".to_owned(),
            n => format!("session{}.json", n + 1),
        })
        .collect();
    let session: Vec<NamedPolicy<'_>> = sessions
        .iter()
        .zip(&ids)
        .map(|(policy, id)| NamedPolicy { id, policy })
        .collect();
    simulate(
        &[NamedPolicy {
            id: "role.json",
            policy: role,
        }],
        &session,
        request,
        now(),
    )
}

#[test]
fn without_session_policies_the_role_decides() {
    let role = identity(ROLE);
    let request = at("s3:PutObject", "arn:aws:s3:::b/red/k");
    assert_eq!(
        evaluate_session(&[&role], &[], &request, now()),
        Decision::Allow(statement(0, "S3"))
    );
    assert_eq!(
        simulated(&role, &[], &request),
        Simulation {
            decision: EvalDecision::Allowed,
            matched_statements: vec![matched("role.json", 0, "S3")],
        }
    );
}

#[test]
fn session_policies_narrow_the_role() {
    let (role, team) = (identity(ROLE), session(TEAM_READS));
    let read = at("s3:GetObject", "arn:aws:s3:::b/red/k");
    assert_eq!(
        evaluate_session(&[&role], &[&team], &read, now()),
        Decision::Allow(statement(0, "S3")),
        "the role grants and the session policy allows: the role's statement is named"
    );
    assert_eq!(
        simulated(&role, &[&team], &read).matched_statements,
        vec![
            matched("role.json", 0, "S3"),
            matched("session.json", 0, "TeamReads")
        ]
    );
    for outside in [
        at("s3:PutObject", "arn:aws:s3:::b/red/k"),
        at("s3:GetObject", "arn:aws:s3:::b/blue/k"),
    ] {
        assert_eq!(
            evaluate_session(&[&role], &[&team], &outside, now()),
            Decision::ImplicitDeny,
            "{outside:?}"
        );
        assert_eq!(
            simulated(&role, &[&team], &outside),
            Simulation {
                decision: EvalDecision::ImplicitDeny,
                matched_statements: Vec::new(),
            }
        );
    }
}

#[test]
fn a_session_policy_never_grants_beyond_the_role() {
    let role = identity(ROLE);
    let everything = session(r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#);
    let request = at("iam:CreateUser", "arn:aws:iam::1:user/u");
    assert_eq!(
        evaluate_session(&[&role], &[&everything], &request, now()),
        Decision::ImplicitDeny
    );
    assert_eq!(
        simulated(&role, &[&everything], &request).decision,
        EvalDecision::ImplicitDeny
    );
}

#[test]
fn an_explicit_deny_in_either_set_wins() {
    let (role, team) = (identity(ROLE), session(TEAM_READS));
    let vault = at("s3:GetObject", "arn:aws:s3:::vault/k");
    assert_eq!(
        evaluate_session(&[&role], &[&team], &vault, now()),
        Decision::ExplicitDeny(statement(1, "NoVault"))
    );
    let logs = at("s3:GetObject", "arn:aws:s3:::b/logs/k");
    assert_eq!(
        evaluate_session(&[&role], &[&team], &logs, now()),
        Decision::ExplicitDeny(statement(1, "NoLogs"))
    );
    assert_eq!(
        simulated(&role, &[&team], &logs),
        Simulation {
            decision: EvalDecision::ExplicitDeny,
            matched_statements: vec![matched("session.json", 1, "NoLogs")],
        }
    );
}

#[test]
fn one_allowing_session_policy_is_enough() {
    let role = identity(ROLE);
    let (team, puts) = (
        session(TEAM_READS),
        session(
            r#"{"Statement":{"Sid":"Puts","Effect":"Allow","Action":"s3:PutObject","Resource":"*"}}"#,
        ),
    );
    let put = at("s3:PutObject", "arn:aws:s3:::b/k");
    assert!(evaluate_session(&[&role], &[&team, &puts], &put, now()).is_allow());
    assert_eq!(
        simulated(&role, &[&team, &puts], &put).matched_statements,
        vec![
            matched("role.json", 0, "S3"),
            matched("session2.json", 0, "Puts")
        ]
    );
}

#[test]
fn every_applying_deny_is_reported() {
    let role = identity(
        r#"{"Statement":[
            {"Sid":"A","Effect":"Deny","Action":"s3:*","Resource":"*"},
            {"Sid":"B","Effect":"Allow","Action":"s3:*","Resource":"*"},
            {"Sid":"C","Effect":"Deny","Action":"s3:Get*","Resource":"*"}]}"#,
    );
    let guard = session(r#"{"Statement":{"Sid":"D","Effect":"Deny","Action":"*","Resource":"*"}}"#);
    let request = at("s3:GetObject", "arn:aws:s3:::b/k");
    assert_eq!(
        simulated(&role, &[&guard], &request).matched_statements,
        vec![
            matched("role.json", 0, "A"),
            matched("role.json", 2, "C"),
            matched("session.json", 0, "D")
        ]
    );
    assert_eq!(
        evaluate_session(&[&role], &[&guard], &request, now()),
        Decision::ExplicitDeny(statement(0, "A"))
    );
}

#[test]
fn multivalued_context_keys_reach_the_conditions() {
    let role = identity(
        r#"{"Statement":{"Sid":"Tagged","Effect":"Allow","Action":"ec2:CreateTags","Resource":"*",
            "Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["env","team"]}}}}"#,
    );
    let tags = |values: &[&str]| {
        let pairs: Vec<(&str, &str)> = values.iter().map(|v| ("aws:TagKeys", *v)).collect();
        simulated(&role, &[], &request("ec2:CreateTags", Some("*"), &pairs)).decision
    };
    assert_eq!(tags(&["env", "team"]), EvalDecision::Allowed);
    assert_eq!(tags(&["env", "owner"]), EvalDecision::ImplicitDeny);
}

#[test]
fn simulation_json_uses_the_simulate_custom_policy_names() {
    let (role, team) = (identity(ROLE), session(TEAM_READS));
    let decisions = [
        (at("s3:GetObject", "arn:aws:s3:::b/red/k"), "allowed"),
        (at("s3:GetObject", "arn:aws:s3:::vault/k"), "explicitDeny"),
        (at("s3:PutObject", "arn:aws:s3:::b/red/k"), "implicitDeny"),
    ];
    for (request, name) in decisions {
        let simulation = simulated(&role, &[&team], &request);
        assert_eq!(
            serde_json::to_value(simulation.decision).ok(),
            Some(json!(name))
        );
        assert_eq!(simulation.decision.as_str(), name);
    }
    let denied = simulated(&role, &[&team], &at("s3:GetObject", "arn:aws:s3:::vault/k"));
    assert_eq!(
        serde_json::to_value(&denied).ok(),
        Some(json!({
            "decision": "explicitDeny",
            "matched_statements": [{"source_policy_id": "role.json", "sid": "NoVault", "index": 1}]
        }))
    );
}

#[test]
fn simulation_report_names_the_decision_then_the_deciding_statements() {
    let (role, team) = (identity(ROLE), session(TEAM_READS));
    let unnamed =
        session(r#"{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#);
    assert_eq!(
        simulated(
            &role,
            &[&team, &unnamed],
            &at("s3:GetObject", "arn:aws:s3:::b/red/k")
        )
        .to_string(),
        "allowed\n  by role.json Statement[0] (S3)\n  by session.json Statement[0] (TeamReads)\n  by session2.json Statement[0]\n"
    );
    assert_eq!(
        simulated(&role, &[&team], &at("s3:PutObject", "arn:aws:s3:::b/k")).to_string(),
        "implicitDeny\n"
    );
}
