//! `AssumeRoleWithSAML`: a SAML 2.0 Response from a corporate IdP for temporary credentials of
//! one of the roles the assertion grants.
//!
//! Steps (AWS STS API reference, AssumeRoleWithSAML; IAM user guide "Configuring SAML assertions
//! for the authentication response"):
//! 1. Parameters against the model's constraints (`ValidationError`).
//! 2. The provider named by `PrincipalArn`; the Response verified by its pinned certificates
//!    (`InvalidIdentityToken`, `ExpiredTokenException`); the assertion ID not seen before within
//!    its window (`InvalidIdentityToken`).
//! 3. The `Role` attribute grants the requested role with this provider (`IDPRejectedClaim`);
//!    `RoleSessionName` is present and valid.
//! 4. The role's trust policy for `sts:AssumeRoleWithSAML` with principal `{"Federated":
//!    PrincipalArn}` and the `SAML:*` keys (`AccessDenied`); tags need `sts:TagSession`, a
//!    source identity `sts:SetSourceIdentity`.
//! 5. Duration: the lesser of DurationSeconds (default 3600), the `SessionDuration` attribute
//!    and `SessionNotOnOrAfter`, never above the role's maximum.
//! 6. Credentials minted; the session and its audit event durable; then the response.

use std::time::SystemTime;

use aws_lc_rs::digest;
use base64::Engine as _;

use super::error::StsError;
use super::params::{Checker, Echo, Params, SessionMembers};
use super::session::{
    IssueContext, check_source_identity, checked_packed_size, federated_grant, issue,
    render_credentials, request_keys, require_session_extras, require_trust, resolve_role,
    session_duration, session_policies,
};
use super::{AuditDraft, RequestMeta, StsState, xml};
use crate::clock::unix_seconds;
use crate::config::Role;
use crate::identity::{FederatedIdentity, SamlFacts};
use crate::idp::{TokenFault, saml};
use crate::policy::{PrincipalId, RequestContext};
use crate::store::AuditIdentity;

const ACTION: &str = "sts:AssumeRoleWithSAML";
const ATTR: &str = "https://aws.amazon.com/SAML/Attributes/";
const NAME_ID_FORMAT_PREFIX: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:";
/// The eduPerson attributes AWS exposes as `SAML:` keys under their friendly names.
const EDU_PERSON: &[(&str, &str)] = &[
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.1", "edupersonaffiliation"),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.2", "edupersonnickname"),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.3", "edupersonorgdn"),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.4", "edupersonorgunitdn"),
    (
        "urn:oid:1.3.6.1.4.1.5923.1.1.1.5",
        "edupersonprimaryaffiliation",
    ),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.6", "edupersonprincipalname"),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.7", "edupersonentitlement"),
    (
        "urn:oid:1.3.6.1.4.1.5923.1.1.1.8",
        "edupersonprimaryorgunitdn",
    ),
    (
        "urn:oid:1.3.6.1.4.1.5923.1.1.1.9",
        "edupersonscopedaffiliation",
    ),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.10", "edupersontargetedid"),
    ("urn:oid:1.3.6.1.4.1.5923.1.1.1.11", "edupersonassurance"),
    ("urn:oid:2.5.4.3", "cn"),
    ("urn:oid:0.9.2342.19200300.100.1.3", "mail"),
    ("urn:oid:0.9.2342.19200300.100.1.1", "uid"),
    ("urn:oid:2.5.4.42", "givenName"),
    ("urn:oid:2.5.4.4", "surname"),
    ("urn:oid:2.5.4.10", "o"),
    ("urn:oid:2.5.4.11", "ou"),
];

/// The request's parameters after the model's constraints were checked.
struct SamlRequest<'p> {
    role_arn: &'p str,
    principal_arn: &'p str,
    assertion: &'p str,
    session: SessionMembers<'p>,
}

impl<'p> SamlRequest<'p> {
    fn parse(params: &'p Params) -> Result<Self, StsError> {
        let mut check = Checker::default();
        let role_arn = check.required_len(params, "RoleArn", "roleArn", (20, 2048), Echo::Yes);
        let principal_arn = check.required_len(
            params,
            "PrincipalArn",
            "principalArn",
            (20, 2048),
            Echo::Yes,
        );
        let assertion = check.required_len(
            params,
            "SAMLAssertion",
            "sAMLAssertion",
            (4, 100_000),
            Echo::No,
        );
        let session = check.session_members(params);
        check.finish()?;
        match (role_arn, principal_arn, assertion) {
            (Some(role_arn), Some(principal_arn), Some(assertion)) => Ok(Self {
                role_arn,
                principal_arn,
                assertion,
                session,
            }),
            _ => Err(StsError::Internal("required parameters vanished".into())),
        }
    }
}

pub(super) async fn assume_role_with_saml(
    state: &StsState,
    meta: &RequestMeta,
    params: &Params,
    now: SystemTime,
    audit: &mut AuditDraft,
) -> Result<String, StsError> {
    let req = SamlRequest::parse(params)?;
    let assertion = req.assertion.trim();
    let replay_key = |id: &str| format!("saml:{}:{id}", provider_name(req.principal_arn));
    // Refuse a replay before verifying: verification is the costly step (and leaks memory in
    // samael 0.0.22). The unverified ID can only cause a refusal here.
    if let Some(id) = saml::peek_assertion_id(assertion)
        && state
            .store
            .is_remembered(&replay_key(&id), unix_seconds(now))
            .map_err(|e| StsError::Internal(e.to_string()))?
    {
        return Err(replayed(&id));
    }
    let identity = state
        .idps
        .verify_saml(req.principal_arn, assertion, now)
        .await?;
    let facts = identity
        .saml
        .as_ref()
        .ok_or_else(|| StsError::Internal("SAML verifier returned no SAML facts".into()))?;
    audit.identify(AuditIdentity {
        kind: "SAMLUser".into(),
        identity_provider: Some(req.principal_arn.to_owned()),
        principal_id: Some(format!("{}:{}", req.principal_arn, identity.subject)),
        user_name: Some(identity.subject.clone()),
    });
    let first_use = state
        .store
        .remember_once(
            &replay_key(&facts.assertion_id),
            unix_seconds(facts.not_on_or_after),
            unix_seconds(now),
        )
        .map_err(|e| StsError::Internal(e.to_string()))?;
    if !first_use {
        return Err(replayed(&facts.assertion_id));
    }

    if !grants_role(facts, req.role_arn, req.principal_arn) {
        return Err(StsError::IdpRejectedClaim(
            "The SAML assertion does not grant the requested role with this provider.",
        ));
    }
    let session_name = attribute(facts, "RoleSessionName")
        .filter(|n| valid_session_name(n))
        .ok_or(StsError::InvalidIdentityToken {
            fault: TokenFault::Attribute,
            detail: "RoleSessionName attribute missing or invalid".into(),
        })?
        .to_owned();

    let role = resolve_role(state, req.role_arn, ACTION)?;
    let mut trust = trust_request(&identity, facts, &role, &req, &session_name, meta, now);
    require_trust(&role, &trust, now, ACTION)?;
    let source_identity = attribute(facts, "SourceIdentity").map(str::to_owned);
    if let Some(si) = &source_identity {
        check_source_identity(si)?;
    }
    require_session_extras(
        &role,
        &mut trust,
        &identity.session_tags,
        source_identity.as_deref(),
        now,
    )?;

    let duration = saml_duration(req.session.duration, facts, &role, now)?;
    let policies = session_policies(state, req.session.policy, &req.session.policy_arns)?;
    let tags = &identity.session_tags;
    let packed = checked_packed_size(&policies, tags)?;
    let name_qualifier = name_qualifier(
        &identity.issuer,
        &role.account_id,
        provider_name(req.principal_arn),
    );
    let subject_type = subject_type(facts);

    let grant = federated_grant(
        &role,
        &session_name,
        req.principal_arn,
        &identity,
        source_identity,
        policies,
        duration,
    );
    let credentials = issue(
        state,
        &grant,
        now,
        IssueContext::new(
            meta,
            &identity.audience,
            audit,
            serde_json::json!({
                "subject": identity.subject,
                "subjectType": subject_type,
                "issuer": identity.issuer,
                "audience": identity.audience,
                "nameQualifier": name_qualifier,
            }),
        ),
    )
    .await?;

    xml::success("AssumeRoleWithSAML", &meta.request_id, |b| {
        render_credentials(b, &credentials, &grant.session);
        if let Some(packed) = packed {
            b.leaf("PackedPolicySize", &packed.to_string());
        }
        b.leaf("Subject", &identity.subject);
        b.leaf("SubjectType", &subject_type);
        b.leaf("Issuer", &identity.issuer);
        b.leaf("Audience", &identity.audience);
        b.leaf("NameQualifier", &name_qualifier);
        b.optional_leaf("SourceIdentity", grant.session.source_identity.as_deref());
    })
}

fn replayed(assertion_id: &str) -> StsError {
    StsError::InvalidIdentityToken {
        fault: TokenFault::Replay,
        detail: format!("assertion {assertion_id:?} was used before"),
    }
}

/// The value of the AWS attribute `https://aws.amazon.com/SAML/Attributes/{name}`.
fn attribute<'a>(facts: &'a SamlFacts, name: &str) -> Option<&'a str> {
    facts
        .attributes
        .get(&format!("{ATTR}{name}"))
        .and_then(|v| v.first())
        .map(String::as_str)
}

/// Whether a `Role` attribute value pairs `role_arn` with `principal_arn` (either order, as AWS
/// accepts; whitespace around the ARNs ignored).
fn grants_role(facts: &SamlFacts, role_arn: &str, principal_arn: &str) -> bool {
    facts
        .attributes
        .get(&format!("{ATTR}Role"))
        .into_iter()
        .flatten()
        .filter_map(|pair| pair.split_once(','))
        .map(|(a, b)| (a.trim(), b.trim()))
        .any(|(a, b)| {
            (a == role_arn && b == principal_arn) || (a == principal_arn && b == role_arn)
        })
}

fn valid_session_name(name: &str) -> bool {
    (2..=64).contains(&name.chars().count()) && name.chars().all(super::params::is_name_char)
}

/// `saml-provider/NAME` of a provider ARN.
fn provider_name(principal_arn: &str) -> &str {
    principal_arn
        .rsplit_once(":saml-provider/")
        .map_or(principal_arn, |(_, name)| name)
}

/// AWS's NameQualifier: base64(sha1(issuer + account id + "/" + provider name)). SHA-1 here is
/// an identifier AWS defines, not a security mechanism.
fn name_qualifier(issuer: &str, account_id: &str, provider: &str) -> String {
    let input = format!("{issuer}{account_id}/{provider}");
    let hash = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, input.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(hash.as_ref())
}

/// `persistent`, `transient` (the SAML 2.0 NameID format prefix stripped), another format URI
/// as given, or `unspecified`... as AWS reports `SubjectType`.
fn subject_type(facts: &SamlFacts) -> String {
    match &facts.name_id_format {
        Some(f) => f
            .strip_prefix(NAME_ID_FORMAT_PREFIX)
            .unwrap_or(f)
            .to_owned(),
        None => "unspecified".to_owned(),
    }
}

/// The lesser of DurationSeconds (default one hour), the `SessionDuration` attribute and
/// SessionNotOnOrAfter; above the role's maximum is refused as for the other actions.
fn saml_duration(
    requested: Option<i64>,
    facts: &SamlFacts,
    role: &Role,
    now: SystemTime,
) -> Result<u32, StsError> {
    let mut seconds = i64::from(session_duration(requested, role)?);
    if let Some(attr) = attribute(facts, "SessionDuration") {
        match attr.trim().parse::<i64>() {
            Ok(d) if (900..=43200).contains(&d) => seconds = seconds.min(d),
            _ => {
                return Err(StsError::InvalidIdentityToken {
                    fault: TokenFault::Attribute,
                    detail: format!("SessionDuration attribute {attr:?} is not 900..43200"),
                });
            }
        }
    }
    if let Some(end) = facts.session_not_on_or_after {
        let left = unix_seconds(end) - unix_seconds(now);
        if left <= 0 {
            return Err(StsError::ExpiredToken);
        }
        seconds = seconds.min(left);
    }
    u32::try_from(seconds).map_err(|_| StsError::Internal("duration out of range".into()))
}

/// The trust-policy request: the provider ARN as principal and the `SAML:` keys AWS defines,
/// plus every attribute as `SAML:<Name>` (beyond AWS).
fn trust_request(
    identity: &FederatedIdentity,
    facts: &SamlFacts,
    role: &Role,
    req: &SamlRequest<'_>,
    session_name: &str,
    meta: &RequestMeta,
    now: SystemTime,
) -> RequestContext {
    let mut keys = request_keys(meta, now, session_name, req.session.duration);
    for (name, values) in &facts.attributes {
        for v in values {
            keys.insert(&format!("SAML:{name}"), v.clone());
        }
    }
    for (oid, friendly) in EDU_PERSON {
        for v in facts.attributes.get(*oid).into_iter().flatten() {
            keys.insert(&format!("SAML:{friendly}"), v.clone());
        }
    }
    keys.insert("SAML:aud", identity.audience.clone());
    keys.insert("SAML:iss", identity.issuer.clone());
    keys.insert("SAML:sub", identity.subject.clone());
    keys.insert("SAML:sub_type", subject_type(facts));
    keys.insert(
        "SAML:namequalifier",
        name_qualifier(
            &identity.issuer,
            &role.account_id,
            provider_name(req.principal_arn),
        ),
    );
    keys.insert(
        "SAML:doc",
        format!("{}/{}", role.account_id, provider_name(req.principal_arn)),
    );
    keys.insert("aws:FederatedProvider", req.principal_arn.to_owned());
    RequestContext {
        principals: vec![PrincipalId::Federated(req.principal_arn.to_owned())],
        action: ACTION.into(),
        resource: Some(role.arn.clone()),
        keys,
    }
}
