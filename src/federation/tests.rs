//! `assumable_roles`: what a picker offers is exactly what issuing would allow.

use std::collections::BTreeMap;

use super::assumable_roles;
use crate::clock::from_unix_seconds;
use crate::config::{Federation, Role, RoleSet};
use crate::identity::{
    FederatedIdentity, ProviderKind, SamlFacts, SamlGrant, SamlRole, SessionTags,
};
use crate::idp::IdpRegistry;
use crate::origin::Origin;
use crate::policy::{Policy, PolicyKind};

const ACCOUNT: &str = "123456789012";
const SAML_PROVIDER: &str = "arn:aws:iam::123456789012:saml-provider/corp";

fn role(name: &str, statements: &str) -> Role {
    let trust = format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#);
    Role {
        name: name.into(),
        account_id: ACCOUNT.into(),
        path: "/".into(),
        arn: format!("arn:aws:iam::{ACCOUNT}:role/{name}"),
        role_id: format!("AROA{}", name.to_uppercase()),
        max_session_duration: 3600,
        trust_policy: Policy::parse(&trust, PolicyKind::Trust).unwrap(),
        policies: Vec::new(),
        tags: BTreeMap::new(),
    }
}

fn allow(principal: &str, action: &str, condition: &str) -> String {
    format!(
        r#"{{"Effect":"Allow","Principal":{{"Federated":"{principal}"}},"Action":"{action}"{condition}}}"#
    )
}

fn federation(roles: Vec<Role>) -> Federation {
    let mut set = RoleSet::default();
    for role in roles {
        set.insert(role);
    }
    Federation {
        idps: IdpRegistry::default(),
        roles: set,
        managed_policies: BTreeMap::new(),
        authorization_services: Vec::new(),
        accounts: BTreeMap::new(),
        signin: Vec::new(),
    }
}

fn origin() -> Origin {
    Origin {
        request_id: "r".into(),
        source_ip: Some([192, 0, 2, 1].into()),
        user_agent: None,
        secure_transport: true,
    }
}

fn oidc(subject: &str, tags: SessionTags) -> FederatedIdentity {
    FederatedIdentity {
        kind: ProviderKind::Oidc,
        provider: "idp.example.com".into(),
        issuer: "https://idp.example.com".into(),
        subject: subject.into(),
        audience: "client-1".into(),
        claims: BTreeMap::from([("sub".into(), vec![subject.into()])]),
        session_tags: tags,
        source_identity: None,
        saml: None,
    }
}

fn names(found: &[super::AssumableRole]) -> Vec<&str> {
    found.iter().map(|r| r.role.name.as_str()).collect()
}

#[test]
fn an_oidc_identity_may_assume_the_roles_whose_trust_admits_it() {
    const ACTION: &str = "sts:AssumeRoleWithWebIdentity";
    let alice_only = r#","Condition":{"StringEquals":{"idp.example.com:sub":"alice"}}"#;
    let bob_only = r#","Condition":{"StringEquals":{"idp.example.com:sub":"bob"}}"#;
    let federation = federation(vec![
        role("for-alice", &allow("idp.example.com", ACTION, alice_only)),
        role("for-bob", &allow("idp.example.com", ACTION, bob_only)),
        role("other-idp", &allow("accounts.google.com", ACTION, "")),
        role(
            "by-arn",
            &allow(
                "arn:aws:iam::123456789012:oidc-provider/idp.example.com",
                ACTION,
                "",
            ),
        ),
        role(
            "denied",
            &format!(
                "{},{}",
                allow("idp.example.com", ACTION, ""),
                allow("idp.example.com", ACTION, alice_only).replace("Allow", "Deny")
            ),
        ),
        role(
            "saml-only",
            &allow(SAML_PROVIDER, "sts:AssumeRoleWithSAML", ""),
        ),
    ]);
    let now = from_unix_seconds(1_795_000_000);
    let found = assumable_roles(
        &federation,
        &oidc("alice", SessionTags::default()),
        "alice",
        &origin(),
        now,
    );
    assert_eq!(names(&found), ["by-arn", "for-alice"]);
    assert!(found.iter().all(|r| r.provider_arn.is_none()));

    // Session tags need sts:TagSession: a role that does not grant it is not assumable.
    let mut tags = SessionTags::default();
    tags.principal_tags.insert("team".into(), "blue".into());
    let tagging = federation_with_tag_session();
    let found = assumable_roles(&tagging, &oidc("alice", tags), "alice", &origin(), now);
    assert_eq!(names(&found), ["tags-allowed"]);
}

fn federation_with_tag_session() -> Federation {
    let both = r#"{"Effect":"Allow","Principal":{"Federated":"idp.example.com"},
        "Action":["sts:AssumeRoleWithWebIdentity","sts:TagSession"]}"#;
    federation(vec![
        role("tags-allowed", both),
        role(
            "no-tags",
            &allow("idp.example.com", "sts:AssumeRoleWithWebIdentity", ""),
        ),
    ])
}

fn saml(roles: &[(&str, &str)], session_name: Option<&str>) -> FederatedIdentity {
    FederatedIdentity {
        kind: ProviderKind::Saml,
        provider: "corp".into(),
        issuer: "https://idp.example.com/saml".into(),
        subject: "alice@example.com".into(),
        audience: "https://signin.aws.amazon.com/saml".into(),
        claims: BTreeMap::new(),
        session_tags: SessionTags::default(),
        source_identity: None,
        saml: Some(SamlFacts {
            assertion_id: "_a1".into(),
            not_on_or_after: from_unix_seconds(1_795_000_300),
            session_not_on_or_after: None,
            name_id_format: None,
            attributes: BTreeMap::new(),
            grant: SamlGrant {
                roles: roles
                    .iter()
                    .map(|(role, provider)| SamlRole {
                        role_arn: format!("arn:aws:iam::{ACCOUNT}:role/{role}"),
                        provider_arn: (*provider).into(),
                    })
                    .collect(),
                session_name: session_name.map(str::to_owned),
                session_duration: None,
            },
            in_response_to: None,
        }),
    }
}

#[test]
fn a_saml_identity_may_assume_the_granted_roles_whose_trust_admits_it() {
    const ACTION: &str = "sts:AssumeRoleWithSAML";
    let other_provider = "arn:aws:iam::123456789012:saml-provider/other";
    let federation = federation(vec![
        role("admin", &allow(SAML_PROVIDER, ACTION, "")),
        role("reader", &allow(SAML_PROVIDER, ACTION, "")),
        role("elsewhere", &allow(other_provider, ACTION, "")),
        role(
            "portal-only",
            &allow(
                SAML_PROVIDER,
                ACTION,
                r#","Condition":{"StringEquals":{"SAML:aud":"https://sts.example.com/saml"}}"#,
            ),
        ),
    ]);
    let now = from_unix_seconds(1_795_000_000);
    let granted = [
        ("admin", SAML_PROVIDER),
        ("elsewhere", SAML_PROVIDER),
        ("portal-only", SAML_PROVIDER),
        ("not-configured", SAML_PROVIDER),
    ];
    let found = assumable_roles(
        &federation,
        &saml(&granted, Some("alice")),
        "ignored",
        &origin(),
        now,
    );
    assert_eq!(names(&found), ["admin"], "reader is not granted");
    assert_eq!(found[0].provider_arn.as_deref(), Some(SAML_PROVIDER));
    assert!(
        assumable_roles(&federation, &saml(&granted, None), "x", &origin(), now).is_empty(),
        "without a RoleSessionName no role can be assumed"
    );
}
