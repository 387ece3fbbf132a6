//! The sign-in portal's role picker with 1,000 configured roles: deciding which roles the
//! signed-in identity may assume (every trust policy evaluated, as at issue) and rendering the
//! page (minijinja, auto-escaped), apart and together.
//!
//! `cargo bench --bench portal`

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::SystemTime;

use criterion::{Criterion, criterion_group, criterion_main};
use stsbridge::clock::from_unix_seconds;
use stsbridge::config::{Federation, Role, RoleSet};
use stsbridge::federation::assumable_roles;
use stsbridge::identity::{FederatedIdentity, ProviderKind, SessionTags};
use stsbridge::idp::IdpRegistry;
use stsbridge::origin::Origin;
use stsbridge::policy::{Policy, PolicyKind};
use stsbridge::web::Templates;
use stsbridge::web::flow::{accounts, duration_choices};

const NOW: i64 = 1_795_000_000;
const ROLES: usize = 1_000;
const ACCOUNTS: usize = 20;

/// Role `i`: trusts the IdP's portal client; every other role only the subject `alice`, the
/// rest another subject too (so half the trust policies admit her, half refuse).
fn role(i: usize) -> Role {
    let account = format!("{:012}", 100_000_000_000 + i % ACCOUNTS);
    let subject = if i.is_multiple_of(2) { "alice" } else { "bob" };
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow",
        "Principal":{{"Federated":"idp.example.com"}},
        "Action":"sts:AssumeRoleWithWebIdentity",
        "Condition":{{"StringEquals":{{"idp.example.com:aud":"portal"}},
                     "StringLike":{{"idp.example.com:sub":["{subject}","carol-*"]}}}}}}]}}"#
    );
    let name = format!("team-{i:04}-<read>");
    Role {
        arn: format!("arn:aws:iam::{account}:role/{name}"),
        name,
        account_id: account,
        path: "/".into(),
        role_id: format!("AROAPORTALBENCH{i:05}"),
        max_session_duration: 3600 * (1 + (i % 12) as u32),
        trust_policy: Policy::parse(&trust, PolicyKind::Trust).expect("trust policy"),
        policies: Vec::new(),
        tags: BTreeMap::new(),
    }
}

fn federation() -> Federation {
    let mut roles = RoleSet::default();
    for i in 0..ROLES {
        roles.insert(role(i));
    }
    let accounts = (0..ACCOUNTS)
        .map(|a| {
            (
                format!("{:012}", 100_000_000_000 + a),
                format!("Team {a} & <friends>"),
            )
        })
        .collect();
    Federation {
        idps: IdpRegistry::default(),
        roles,
        managed_policies: BTreeMap::new(),
        authorization_services: Vec::new(),
        accounts,
        signin: Vec::new(),
    }
}

fn identity() -> FederatedIdentity {
    let mut claims = BTreeMap::new();
    for (k, v) in [
        ("aud", "portal"),
        ("oaud", "portal"),
        ("sub", "alice"),
        ("email", "alice@example.com"),
    ] {
        claims.insert(k.to_owned(), vec![v.to_owned()]);
    }
    FederatedIdentity {
        kind: ProviderKind::Oidc,
        provider: "idp.example.com".into(),
        issuer: "https://idp.example.com".into(),
        subject: "alice".into(),
        audience: "portal".into(),
        claims,
        session_tags: SessionTags::default(),
        source_identity: None,
        saml: None,
    }
}

fn origin() -> Origin {
    Origin {
        request_id: "bench".into(),
        source_ip: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        user_agent: Some("bench".into()),
        secure_transport: true,
    }
}

fn render(templates: &Templates, federation: &Federation, now: SystemTime) -> String {
    let identity = identity();
    let roles = assumable_roles(federation, &identity, "alice@example.com", &origin(), now);
    let accounts = accounts(federation, &roles);
    let durations: Vec<serde_json::Value> = duration_choices(43_200)
        .into_iter()
        .map(|(seconds, label)| {
            serde_json::json!({"seconds": seconds, "label": label, "selected": seconds == 3600})
        })
        .collect();
    templates
        .render(
            "roles.html",
            serde_json::json!({
                "title": "stsbridge",
                "stylesheet": "/static/style.css",
                "identity": "alice@example.com",
                "idp": "Example Corp",
                "accounts": accounts,
                "action": "/signin/roles",
                "csrf_token": "t".repeat(80),
                "signout_token": "t".repeat(80),
                "durations": durations,
            }),
        )
        .expect("render")
}

fn picker(c: &mut Criterion) {
    let federation = federation();
    let templates = Templates::load(None).expect("templates");
    let now = from_unix_seconds(NOW);
    let identity = identity();
    let origin = origin();
    let offered = assumable_roles(&federation, &identity, "alice@example.com", &origin, now);
    assert_eq!(offered.len(), ROLES / 2, "half the roles trust alice");
    let page = render(&templates, &federation, now);
    assert!(page.contains("Team 0 &amp; &lt;friends&gt;"));
    println!(
        "picker with {ROLES} roles configured: {} offered, page {} KiB",
        offered.len(),
        page.len() / 1024
    );
    let mut group = c.benchmark_group("picker");
    group.bench_function("assumable_roles_1000", |b| {
        b.iter(|| assumable_roles(&federation, &identity, "alice@example.com", &origin, now))
    });
    group.bench_function("render_500_of_1000", |b| {
        let accounts = accounts(&federation, &offered);
        b.iter(|| {
            templates
                .render(
                    "roles.html",
                    serde_json::json!({
                        "title": "stsbridge",
                        "stylesheet": "/static/style.css",
                        "identity": "alice@example.com",
                        "idp": "Example Corp",
                        "accounts": &accounts,
                        "action": "/signin/roles",
                        "csrf_token": "t",
                        "durations": [],
                    }),
                )
                .expect("render")
        })
    });
    group.bench_function("decide_and_render_1000", |b| {
        b.iter(|| render(&templates, &federation, now))
    });
    group.finish();
}

criterion_group!(benches, picker);
criterion_main!(benches);
