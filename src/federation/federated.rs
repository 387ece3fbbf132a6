//! A session for a verified federated identity: an OIDC ID token (`AssumeRoleWithWebIdentity`)
//! or a SAML assertion (`AssumeRoleWithSAML`, the portal's sign-in).
//!
//! Steps (AWS STS API reference, AssumeRoleWithWebIdentity and AssumeRoleWithSAML; IAM user
//! guide "Configuring SAML assertions for the authentication response"):
//! 1. SAML only: the `Role` attribute grants the requested role with the requested provider
//!    (`IDPRejectedClaim`); `RoleSessionName` is present and valid (`InvalidIdentityToken`).
//! 2. The role's trust policy for the action, with the provider as `Federated` principal and
//!    the provider's condition keys (`AccessDenied`); session tags need `sts:TagSession`, a
//!    source identity `sts:SetSourceIdentity` (and 2-64 characters of `[\w+=,.@-]`).
//! 3. Duration within the role's maximum; for SAML the lesser of it, the `SessionDuration`
//!    attribute and SessionNotOnOrAfter.
//! 4. Session policies valid and small enough.
//! 5. SAML only: the assertion used up (refused if it was used before; a refusal in steps 1-4
//!    leaves it usable).
//! 6. Credentials minted; the session and its audit event durable.

use std::time::SystemTime;

use aws_lc_rs::digest;
use base64::Engine as _;

use super::steps::{
    SessionPolicies, check_source_identity, request_keys, require_session_extras, require_trust,
    resolve_role, session_duration,
};
use super::{Domain, Issued, OneTimeUse, Request};
use crate::action::Action;
use crate::arn::{OidcProviderArn, SamlProviderArn};
use crate::clock::unix_seconds;
use crate::config::Role;
use crate::creds::{Grant, Session, SessionKind};
use crate::error::ApiError;
use crate::identity::{FederatedIdentity, ProviderKind, SamlFacts};
use crate::idp::TokenFault;
use crate::origin::Origin;
use crate::policy::{PrincipalId, RequestContext};
use crate::store::ReplayKey;
use crate::text::is_xml_text;

const NAME_ID_FORMAT_PREFIX: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:";
/// The eduPerson and X.500 attributes AWS exposes as `SAML:` keys under their friendly names.
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

/// What a verified federated identity asks for.
#[derive(Debug, Clone, Copy)]
pub struct SessionAsk<'a> {
    pub role_arn: &'a str,
    /// SAML: the provider ARN the role must be granted with (`PrincipalArn`).
    pub provider_arn: Option<&'a str>,
    /// OIDC: the session name chosen by the caller. SAML takes the `RoleSessionName` attribute.
    pub session_name: Option<&'a str>,
    /// `DurationSeconds`, already within 900-43200.
    pub duration: Option<i64>,
    /// The inline session policy (1-2048 characters), not yet parsed.
    pub policy: Option<&'a str>,
    pub policy_arns: &'a [&'a str],
}

/// What AWS reports about the subject of a SAML assertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlSubject {
    /// `persistent`, `transient`, another NameID format URI, or `unspecified`.
    pub subject_type: String,
    /// base64(sha1(issuer + account + "/" + provider name)).
    pub name_qualifier: String,
}

/// How the identity's kind shapes the request.
enum Kind<'a> {
    Oidc,
    Saml {
        facts: &'a SamlFacts,
        provider_arn: &'a str,
    },
}

/// Issue a role session for a verified federated identity (see the module documentation).
pub async fn assume_role_with_identity(
    domain: &Domain<'_>,
    identity: &FederatedIdentity,
    ask: &SessionAsk<'_>,
    request: &Request<'_>,
) -> Result<Issued, ApiError> {
    issue_for(domain, identity, ask, request, OneTime::UseUp).await
}

/// Issue another role session for an identity a portal session holds: the identity was
/// verified when the person signed in, and its SAML assertion was used up by the first session
/// issued for it (step 5 is skipped); every other step is taken again, now.
pub async fn assume_role_signed_in(
    domain: &Domain<'_>,
    identity: &FederatedIdentity,
    ask: &SessionAsk<'_>,
    request: &Request<'_>,
) -> Result<Issued, ApiError> {
    issue_for(domain, identity, ask, request, OneTime::UsedAtSignIn).await
}

/// Whether a SAML identity's assertion is used up by this issue.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OneTime {
    UseUp,
    UsedAtSignIn,
}

async fn issue_for(
    domain: &Domain<'_>,
    identity: &FederatedIdentity,
    ask: &SessionAsk<'_>,
    request: &Request<'_>,
    one_time_use: OneTime,
) -> Result<Issued, ApiError> {
    let (federation, origin, now) = (domain.federation, request.origin, request.now);
    require_echoable(identity)?;
    let (kind, session_name) = kind_and_session_name(identity, ask)?;
    let action = action(identity);
    let role = resolve_role(federation, ask.role_arn, action)?;
    admit(
        &kind,
        identity,
        &role,
        session_name,
        ask.duration,
        origin,
        now,
    )?;

    let duration = match &kind {
        Kind::Oidc => session_duration(ask.duration, &role)?,
        Kind::Saml { facts, .. } => saml_duration(ask.duration, facts, &role, now)?,
    };
    let policies = SessionPolicies::checked(federation, ask.policy, ask.policy_arns)?;
    let packed = policies.checked_packed_size(&identity.session_tags)?;
    let (provider, saml, extra) = match &kind {
        Kind::Oidc => (
            identity.provider.as_str(),
            None,
            serde_json::json!({
                "subjectFromWebIdentityToken": identity.subject,
                "provider": identity.provider,
                "audience": identity.audience,
            }),
        ),
        Kind::Saml {
            facts,
            provider_arn,
        } => {
            let subject = SamlSubject {
                subject_type: subject_type(facts),
                name_qualifier: name_qualifier(identity, &role, provider_arn),
            };
            let extra = serde_json::json!({
                "subject": identity.subject,
                "subjectType": subject.subject_type,
                "issuer": identity.issuer,
                "audience": identity.audience,
                "nameQualifier": subject.name_qualifier,
            });
            (*provider_arn, Some(subject), extra)
        }
    };
    let session = Session {
        identity_arn: role.arn.clone(),
        identity_id: role.role_id.clone(),
        caller_arn: role.session_arn(session_name).to_string(),
        account_id: role.account_id.clone(),
        session_name: session_name.to_owned(),
        source_identity: identity.source_identity.clone(),
        provider: provider.to_owned(),
        subject: identity.subject.clone(),
        session_tags: identity.session_tags.principal_tags.clone(),
        transitive_tag_keys: identity.session_tags.transitive_tag_keys.clone(),
        session_policy: policies.inline,
        policy_arns: policies.arns,
        kind: SessionKind::AssumedRole,
        mfa_authenticated_at: None,
    };
    let grant = Grant {
        session,
        duration_seconds: duration,
    };
    // A SAML assertion is used up only now that the session is issued.
    let one_time = identity
        .saml
        .as_ref()
        .filter(|_| one_time_use == OneTime::UseUp)
        .map(|facts| OneTimeUse {
            key: ReplayKey::saml_assertion(&identity.provider, &facts.assertion_id),
            until_unix: unix_seconds(facts.not_on_or_after),
        });
    let credentials = domain
        .issuer
        .issue(
            &grant,
            &identity.audience,
            one_time.as_ref(),
            request,
            extra,
        )
        .await?;
    Ok(Issued {
        credentials,
        session: grant.session,
        packed_policy_size: packed,
        saml,
    })
}

/// The values the answer echoes (subject, audience, issuer, provider) must be text an XML answer
/// can carry: a session whose answer no SDK could parse is never issued.
fn require_echoable(identity: &FederatedIdentity) -> Result<(), ApiError> {
    let echoed = [
        &identity.subject,
        &identity.audience,
        &identity.issuer,
        &identity.provider,
    ];
    if echoed.iter().all(|value| is_xml_text(value)) {
        Ok(())
    } else {
        Err(ApiError::InvalidIdentityToken {
            fault: TokenFault::Claims,
            detail: "a value the answer echoes holds a control character".into(),
        })
    }
}

/// The action a federated identity assumes a role with.
pub(super) fn action(identity: &FederatedIdentity) -> &'static str {
    match identity.kind {
        ProviderKind::Oidc => Action::AssumeRoleWithWebIdentity.iam_action(),
        ProviderKind::Saml => Action::AssumeRoleWithSaml.iam_action(),
    }
}

/// Step 1: the kind, and the session name (the caller's, or the SAML attribute).
fn kind_and_session_name<'a>(
    identity: &'a FederatedIdentity,
    ask: &SessionAsk<'a>,
) -> Result<(Kind<'a>, &'a str), ApiError> {
    let Some(facts) = &identity.saml else {
        let name = ask
            .session_name
            .ok_or_else(|| ApiError::Internal("a web identity session without a name".into()))?;
        return Ok((Kind::Oidc, name));
    };
    let provider_arn = ask
        .provider_arn
        .ok_or_else(|| ApiError::Internal("a SAML session without a provider".into()))?;
    if !facts.grant.grants(ask.role_arn, provider_arn) {
        return Err(ApiError::IdpRejectedClaim(
            "The SAML assertion does not grant the requested role with this provider.",
        ));
    }
    let name = facts
        .grant
        .session_name
        .as_deref()
        .ok_or(ApiError::InvalidIdentityToken {
            fault: TokenFault::Attribute,
            detail: "RoleSessionName attribute missing or invalid".into(),
        })?;
    Ok((
        Kind::Saml {
            facts,
            provider_arn,
        },
        name,
    ))
}

/// Step 2: the trust policy allows this identity the role, with its tags and source identity.
fn admit(
    kind: &Kind<'_>,
    identity: &FederatedIdentity,
    role: &Role,
    session_name: &str,
    duration: Option<i64>,
    origin: &Origin,
    now: SystemTime,
) -> Result<(), ApiError> {
    let action = action(identity);
    let keys = request_keys(origin, now, session_name, duration);
    let mut trust = match kind {
        Kind::Oidc => oidc_trust(identity, role, keys),
        Kind::Saml {
            facts,
            provider_arn,
        } => saml_trust(identity, facts, role, provider_arn, keys),
    };
    trust.action = action.into();
    require_trust(role, &trust, now, action)?;
    if let Some(si) = &identity.source_identity {
        check_source_identity(si)?;
    }
    require_session_extras(
        role,
        &mut trust,
        &identity.session_tags,
        identity.source_identity.as_deref(),
        now,
    )
}

/// Whether `identity` may assume `role` (with the SAML provider `provider_arn`): the trust
/// decisions of [`assume_role_with_identity`], without issuing.
pub(super) fn may_assume(
    identity: &FederatedIdentity,
    role: &Role,
    provider_arn: Option<&str>,
    session_name: &str,
    origin: &Origin,
    now: SystemTime,
) -> bool {
    let kind = match (&identity.saml, provider_arn) {
        (None, _) => Kind::Oidc,
        (Some(facts), Some(provider_arn)) => Kind::Saml {
            facts,
            provider_arn,
        },
        (Some(_), None) => return false,
    };
    admit(&kind, identity, role, session_name, None, origin, now).is_ok()
}

/// The OIDC trust request: the provider by name and by ARN, and its claims as
/// `<provider>:<claim>` keys.
fn oidc_trust(
    identity: &FederatedIdentity,
    role: &Role,
    mut keys: crate::policy::ContextKeys,
) -> RequestContext {
    let provider_arn = OidcProviderArn::new(&role.account_id, &identity.provider).to_string();
    for (claim, values) in &identity.claims {
        let key = format!("{}:{claim}", identity.provider);
        for v in values {
            keys.insert(&key, v.clone());
        }
    }
    keys.insert("aws:FederatedProvider", provider_arn.clone());
    RequestContext {
        principals: vec![
            PrincipalId::Federated(identity.provider.clone()),
            PrincipalId::Federated(provider_arn),
        ],
        action: String::new(),
        resource: Some(role.arn.clone()),
        keys,
    }
}

/// The SAML trust request: the provider ARN as principal and the `SAML:` keys AWS defines, plus
/// every attribute as `SAML:<Name>` (beyond AWS).
fn saml_trust(
    identity: &FederatedIdentity,
    facts: &SamlFacts,
    role: &Role,
    provider_arn: &str,
    mut keys: crate::policy::ContextKeys,
) -> RequestContext {
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
        name_qualifier(identity, role, provider_arn),
    );
    keys.insert(
        "SAML:doc",
        format!("{}/{}", role.account_id, provider_name(provider_arn)),
    );
    keys.insert("aws:FederatedProvider", provider_arn.to_owned());
    RequestContext {
        principals: vec![PrincipalId::Federated(provider_arn.to_owned())],
        action: String::new(),
        resource: Some(role.arn.clone()),
        keys,
    }
}

/// The `NAME` of a SAML provider ARN (the ARN itself when it is not one).
fn provider_name(provider_arn: &str) -> String {
    SamlProviderArn::parse(provider_arn).map_or_else(|| provider_arn.to_owned(), |arn| arn.name)
}

/// AWS's NameQualifier: base64(sha1(issuer + account id + "/" + provider name)). SHA-1 here is
/// an identifier AWS defines, not a security mechanism.
fn name_qualifier(identity: &FederatedIdentity, role: &Role, provider_arn: &str) -> String {
    let input = format!(
        "{}{}/{}",
        identity.issuer,
        role.account_id,
        provider_name(provider_arn)
    );
    let hash = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, input.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(hash.as_ref())
}

/// `persistent`, `transient` (the SAML 2.0 NameID format prefix stripped), another format URI
/// as given, or `unspecified`, as AWS reports `SubjectType`.
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
) -> Result<u32, ApiError> {
    let mut seconds = i64::from(session_duration(requested, role)?);
    match &facts.grant.session_duration {
        Some(Ok(attribute)) => seconds = seconds.min(i64::from(*attribute)),
        Some(Err(value)) => {
            return Err(ApiError::InvalidIdentityToken {
                fault: TokenFault::Attribute,
                detail: format!(
                    "SessionDuration attribute {:?} is not 900..43200",
                    crate::idp::truncated(value)
                ),
            });
        }
        None => {}
    }
    if let Some(end) = facts.session_not_on_or_after {
        let left = unix_seconds(end) - unix_seconds(now);
        if left <= 0 {
            return Err(ApiError::ExpiredToken);
        }
        seconds = seconds.min(left);
    }
    u32::try_from(seconds).map_err(|_| ApiError::Internal("duration out of range".into()))
}
