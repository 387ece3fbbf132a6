//! The identity an IdP vouches for, normalised across IdP kinds (plain data, no behaviour).

use std::collections::BTreeMap;
use std::time::SystemTime;

/// Which federation protocol produced an identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ProviderKind {
    Oidc,
    Saml,
}

/// Session tags an IdP passes along (OIDC claim `https://aws.amazon.com/tags`, SAML `PrincipalTag:*`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionTags {
    pub principal_tags: BTreeMap<String, String>,
    pub transitive_tag_keys: Vec<String>,
}

impl SessionTags {
    pub fn is_empty(&self) -> bool {
        self.principal_tags.is_empty() && self.transitive_tag_keys.is_empty()
    }
}

/// A verified federated identity. Produced only by an [`crate::idp::IdpVerifier`] after every
/// check passed; nothing in here is unverified.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FederatedIdentity {
    pub kind: ProviderKind,
    /// The name trust policies use for the provider and the prefix of its condition keys: for OIDC
    /// the issuer URL without its scheme (`accounts.google.com`, `127.0.0.1:9400`); for SAML the
    /// provider name (its ARN is built with the role's account).
    pub provider: String,
    /// The issuer exactly as the IdP states it (`iss` / SAML `Issuer`).
    pub issuer: String,
    /// `sub` / SAML NameID.
    pub subject: String,
    /// The audience AWS reports back: for OIDC the client id (for Google, `azp` when present; else
    /// the matched `aud`); for SAML the Recipient.
    pub audience: String,
    /// Condition-key material without the provider prefix, key names lower-cased
    /// (`aud`, `oaud`, `sub`, `amr`, `email`, ...). Multi-valued claims keep every value.
    pub claims: BTreeMap<String, Vec<String>>,
    /// Tags the IdP asks to attach to the session (they need `sts:TagSession` in the trust policy).
    pub session_tags: SessionTags,
    /// The source identity the IdP asks to set (OIDC claim
    /// `https://aws.amazon.com/source_identity`, SAML attribute `SourceIdentity`), not yet
    /// checked against the STS constraints (that needs `sts:SetSourceIdentity`).
    pub source_identity: Option<String>,
    /// What only a SAML assertion carries.
    pub saml: Option<SamlFacts>,
}

/// The parts of a verified SAML assertion beyond the common identity.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SamlFacts {
    /// The assertion's ID, remembered until `not_on_or_after` to refuse replays.
    pub assertion_id: String,
    /// The end of the assertion's use: SubjectConfirmationData NotOnOrAfter plus the clock skew
    /// the verifier allows (the replay cache keeps the ID until then).
    pub not_on_or_after: SystemTime,
    /// AuthnStatement SessionNotOnOrAfter: caps the session.
    pub session_not_on_or_after: Option<SystemTime>,
    /// The NameID Format URI, if given.
    pub name_id_format: Option<String>,
    /// Every attribute by its exact (case-sensitive) Name.
    pub attributes: BTreeMap<String, Vec<String>>,
    /// What the AWS attributes grant.
    pub grant: SamlGrant,
    /// The AuthnRequest the response answers (`InResponseTo` of the bearer confirmation, else
    /// of the Response); `None` for an unsolicited (IdP-initiated) response.
    pub in_response_to: Option<String>,
}

/// The AWS SAML attributes (`https://aws.amazon.com/SAML/Attributes/...`) of a verified
/// assertion, read in one place (the SAML IdP). Session tags and the source identity are in the
/// common [`FederatedIdentity`].
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SamlGrant {
    /// `Role`: the roles the assertion grants, each with the provider it must be assumed with.
    pub roles: Vec<SamlRole>,
    /// `RoleSessionName`, when present and valid (2-64 characters of `[\w+=,.@-]`).
    pub session_name: Option<String>,
    /// `SessionDuration`, in seconds (900-43200), or the value it has instead.
    pub session_duration: Option<Result<u32, String>>,
}

/// One `Role` attribute value: a role ARN and a SAML provider ARN (AWS accepts either order).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SamlRole {
    pub role_arn: String,
    pub provider_arn: String,
}

impl SamlGrant {
    /// Whether the assertion grants `role_arn` with the provider `provider_arn`.
    pub fn grants(&self, role_arn: &str, provider_arn: &str) -> bool {
        self.roles
            .iter()
            .any(|r| r.role_arn == role_arn && r.provider_arn == provider_arn)
    }
}
