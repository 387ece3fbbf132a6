//! What the adapters that issue for a signed-in person (the portal's pages, the SSO portal
//! API) share: the provider a SAML identity names, the identity its audit events are about,
//! and recording a refused issue.

use crate::audit::{AuditDraft, AuditIdentity};
use crate::error::ApiError;
use crate::identity::{FederatedIdentity, ProviderKind};
use crate::store::Store;

use super::AssumableRole;

/// For a SAML identity, the provider its assertion grants `role_arn` with, or else the
/// provider's ARN in the role's account (which the assertion then does not grant, and
/// issuing refuses as the API does: `IDPRejectedClaim`). `None` for an OIDC identity.
pub fn saml_provider_of(identity: &FederatedIdentity, role_arn: &str) -> Option<String> {
    let facts = identity.saml.as_ref()?;
    let granted = facts
        .grant
        .roles
        .iter()
        .find(|r| r.role_arn == role_arn)
        .map(|r| r.provider_arn.clone());
    granted.or_else(|| {
        let account = role_arn.split(':').nth(4).unwrap_or_default();
        Some(format!(
            "arn:aws:iam::{account}:saml-provider/{}",
            identity.provider
        ))
    })
}

/// Who the audit event of an issue for a signed-in `identity` is about; `offered` is the role
/// asked for, when the identity may assume it (a SAML identity is then named by the provider
/// ARN its assertion grants the role with).
pub fn audit_identity(
    identity: &FederatedIdentity,
    offered: Option<&AssumableRole>,
) -> AuditIdentity {
    match identity.kind {
        ProviderKind::Oidc => {
            AuditIdentity::web_identity(&identity.provider, &identity.audience, &identity.subject)
        }
        ProviderKind::Saml => AuditIdentity::saml(
            offered
                .and_then(|r| r.provider_arn.as_deref())
                .unwrap_or(&identity.provider),
            &identity.subject,
        ),
    }
}

/// Record a refused request in the audit trail with the code and message the client gets.
/// Never fails the answer: the refusal stands, and a failure to record it is logged.
pub async fn record_refusal(store: &Store, audit: AuditDraft, err: &ApiError) {
    if let Err(e) = store
        .audit
        .record(&audit.failed(err.code(), err.message()))
        .await
    {
        tracing::error!(error = %e, "could not record the refused request in the audit trail");
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::identity::{SamlFacts, SessionTags};

    fn identity(kind: ProviderKind) -> FederatedIdentity {
        FederatedIdentity {
            kind,
            provider: "corp".into(),
            issuer: "https://idp.example.com".into(),
            subject: "alice".into(),
            audience: "portal".into(),
            claims: BTreeMap::new(),
            session_tags: SessionTags::default(),
            source_identity: None,
            saml: None,
        }
    }

    #[test]
    fn a_saml_identity_names_its_granted_provider_or_the_roles_account() {
        let role = "arn:aws:iam::123456789012:role/Reader";
        assert_eq!(saml_provider_of(&identity(ProviderKind::Oidc), role), None);
        let mut saml = identity(ProviderKind::Saml);
        let mut facts = SamlFacts {
            assertion_id: "a".into(),
            not_on_or_after: std::time::SystemTime::UNIX_EPOCH,
            session_not_on_or_after: None,
            name_id_format: None,
            attributes: BTreeMap::new(),
            grant: Default::default(),
            in_response_to: None,
        };
        saml.saml = Some(facts.clone());
        assert_eq!(
            saml_provider_of(&saml, role).as_deref(),
            Some("arn:aws:iam::123456789012:saml-provider/corp"),
            "not granted: the provider in the role's account"
        );
        facts.grant.roles.push(crate::identity::SamlRole {
            role_arn: role.into(),
            provider_arn: "arn:aws:iam::123456789012:saml-provider/Okta".into(),
        });
        saml.saml = Some(facts);
        assert_eq!(
            saml_provider_of(&saml, role).as_deref(),
            Some("arn:aws:iam::123456789012:saml-provider/Okta")
        );
    }
}
