//! SAML 2.0 Web Browser SSO responses (the `SAMLAssertion` of `AssumeRoleWithSAML`): the only
//! XML-signature code of the daemon, on samael (libxml2 + xmlsec1).
//!
//! [`SamlVerifier::verify`] accepts a response only when every step passes, in this order:
//! 0. **Metadata** still valid: not past its `validUntil` (SAML Metadata §2.3.2), else
//!    [`SamlError::MetadataExpired`] (`IDPCommunicationError` towards clients), whatever the
//!    response; metadata from a `metadata_url` is refreshed by a [`MetadataRefresher`].
//! 1. **Input** (`input`): 4..=100000 characters of standard base64 (line breaks allowed), at
//!    most 75000 bytes decoded, UTF-8 (STS `SAMLAssertion` limits).
//! 2. **Hostile XML** (`guard`), before any XML parser runs: no DTD or other markup declaration
//!    (XXE, entity expansion), no control characters, UTF-8 only, depth at most 32, no
//!    processing instruction, only the predefined entity references (XML 1.0 §2.8, §4.1).
//! 3. **Shape of the unverified document** (`shape`), a defence in depth against signature
//!    wrapping that only ever refuses: a `samlp:Response` root, exactly one `saml:Assertion`,
//!    its direct child (SAML Core §3.2.2), or, only with a `decryption_key`, one
//!    `saml:EncryptedAssertion` there instead (§2.3.4) in a Response that is signed (else
//!    [`SamlFault::Encrypted`] / [`SamlFault::Signature`]); no comment inside the message,
//!    unique IDs; every `ds:Signature` a direct child of the Response or of
//!    the Assertion, one `ds:Reference` whose URI is `#` + its parent's ID (SAML Core §5.4.2),
//!    only the enveloped-signature and c14n transforms (SAML Core §5.4.4), no `ds:Object`; the
//!    signature method in the IdP's allow-list (`algorithms`; by default RSA and ECDSA with
//!    SHA-256/384/512; SHA-1 only with `allow_sha1`) and the digest method the hash of one of
//!    them. At least the Response or the Assertion is signed.
//! 4. **Signatures** (`signed`): samael's `reduce_xml_to_signed_with_allowed_algorithms`
//!    verifies *every* signature with a pinned certificate (each tried in turn; KeyInfo in the
//!    message is never used, XML-DSig §3.2) under the same allow-list, and returns the signed
//!    subtree alone; that subtree, never the original document, is what the checks below read:
//!    the Response when the Response is signed (its Assertion is covered by the enveloped
//!    signature), else the Assertion; its IDs must be the ones step 3 found.
//! 5. **Decryption** (`decrypt`), for an EncryptedAssertion: read from the *verified*
//!    Response (so the ciphertext is the IdP's), its key unwrapped with RSA-OAEP and the
//!    service's key, the assertion decrypted (AES-GCM or AES-CBC); the plaintext then goes
//!    through steps 2 and 3 as an Assertion of its own and, if it carries a signature, step 4
//!    (verified with the pinned certificates and reduced to the signed Assertion).
//! 6. **Contents** (`checks`), SAML Core §2-§3 and Profiles §4.1.4.2-§4.1.4.3: Response and
//!    Assertion `Version` 2.0; Issuers equal the metadata's entityID; Status `Success`;
//!    Destination, when present, one of `acs_urls`; IssueInstants not ahead of `now` by more
//!    than `clock_skew`; Conditions present, `NotBefore`/`NotOnOrAfter` hold, and every
//!    AudienceRestriction names `sp_entity_id` (or the portal's entity ID, when configured); exactly one bearer SubjectConfirmation whose
//!    data has `NotOnOrAfter` and a `Recipient` in `acs_urls`; a NameID; AuthnStatement
//!    `SessionNotOnOrAfter` not passed.
//!
//! Step 3 reads the document with quick-xml, step 4 with libxml2 (in its recovering mode): where
//! the two could see a document differently, step 3 can only refuse more, and what is accepted
//! is what libxml2 and xmlsec verified. When only the Assertion is signed, the Response around
//! it is unsigned: its Issuer, Status, Destination and IssueInstant are still checked, which can
//! only refuse, never accept. xmlsec1 prints its own diagnostics to stderr when a signature
//! fails (function names, error codes, at most element names; never text or attribute values).
//! A lifetime that is over is [`SamlError::Expired`]; everything else is
//! [`SamlError::Invalid`] with its [`SamlFault`]. Details never quote the message beyond short,
//! truncated values. Replay (remembering `assertion_id` until `not_on_or_after`) and the AWS
//! attributes are the [`SamlProvider`]'s part, around this verifier.

mod algorithms;
pub mod authn_request;
mod aws;
mod checks;
mod decrypt;
mod guard;
mod input;
mod kept;
mod metadata;
mod provider;
mod refresh;
mod shape;
mod signed;
pub mod sp_key;
pub mod sp_metadata;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use samael::crypto::CertificateDer;

use crate::idp::truncated;
use algorithms::AllowList;

pub use algorithms::SignatureAlgorithm;
pub use decrypt::DecryptionKey;
pub use kept::{kept_copy_path, read_kept};
pub use metadata::{IdpMetadata, parse_metadata};
pub use provider::SamlProvider;
pub use refresh::{MetadataRefresher, Refreshed, fetch_metadata_blocking};

/// The audience AWS puts in its assertions (`saml:aud` is the Recipient; this is the SP).
pub const DEFAULT_SP_ENTITY_ID: &str = "urn:amazon:webservices";
/// The AWS sign-in endpoint, the usual Recipient and Destination.
pub const DEFAULT_ACS_URL: &str = "https://signin.aws.amazon.com/saml";
/// Clock skew allowed on every time check unless configured otherwise.
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(60);
/// The largest clock skew a configuration may ask for.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);

/// How often metadata fetched from a URL is fetched again, unless configured otherwise.
pub const DEFAULT_METADATA_REFRESH: Duration = Duration::from_secs(3600);
/// The shortest refresh interval a configuration may ask for (and the floor under a
/// metadata's own `cacheDuration`).
pub const MIN_METADATA_REFRESH: Duration = Duration::from_secs(5);
/// The longest refresh interval a configuration may ask for.
pub const MAX_METADATA_REFRESH: Duration = Duration::from_secs(86_400);

/// One SAML identity provider, as the configuration layer builds it from
/// `idp-configs/NAME.toml` and the IdP's metadata (plain data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlIdpSettings {
    /// Provider name: the ARN is `arn:aws:iam::ACCOUNT:saml-provider/NAME`.
    pub name: String,
    /// What the IdP's metadata says: its entityID (the Issuer of its responses and
    /// assertions), its signing certificates, until when they may be used. `None` only for a
    /// `metadata_url` that could not be fetched at start-up with no copy kept from before: the
    /// IdP's responses are refused (`IDPCommunicationError`) until a refresh brings metadata.
    pub metadata: Option<IdpMetadata>,
    /// Where the metadata came from, and so whether it is refreshed.
    pub metadata_source: MetadataSource,
    /// The audience required in every AudienceRestriction ([`DEFAULT_SP_ENTITY_ID`]).
    pub sp_entity_id: String,
    /// The sign-in portal's own SP entity ID (`<public_url>/saml/metadata`, set whenever the
    /// daemon has a public URL): the audience IdPs give the answers to the portal's
    /// AuthnRequests, accepted in place of `sp_entity_id`.
    pub portal_entity_id: Option<String>,
    /// Accepted Recipient and Destination values ([`DEFAULT_ACS_URL`]).
    pub acs_urls: Vec<String>,
    /// The signature methods accepted ([`SignatureAlgorithm::DEFAULT`]); a signature's digest
    /// must be the hash of one of them. SHA-1 methods only when the configuration says
    /// `allow_sha1`.
    pub algorithms: Vec<SignatureAlgorithm>,
    /// Skew allowed on every time check ([`DEFAULT_CLOCK_SKEW`], at most [`MAX_CLOCK_SKEW`]).
    pub clock_skew: Duration,
    /// The service's RSA key for `EncryptedAssertion`s (`decryption_key_file`); without one,
    /// encrypted assertions are refused.
    pub decryption_key: Option<DecryptionKey>,
}

impl SamlIdpSettings {
    /// An IdP named `name` trusting `metadata` (given in memory: never refreshed), with the
    /// defaults for everything else.
    pub fn new(name: impl Into<String>, metadata: IdpMetadata) -> Self {
        Self {
            name: name.into(),
            metadata: Some(metadata),
            metadata_source: MetadataSource::Inline,
            sp_entity_id: DEFAULT_SP_ENTITY_ID.to_owned(),
            portal_entity_id: None,
            acs_urls: vec![DEFAULT_ACS_URL.to_owned()],
            algorithms: SignatureAlgorithm::DEFAULT.to_vec(),
            clock_skew: DEFAULT_CLOCK_SKEW,
            decryption_key: None,
        }
    }
}

/// Where an IdP's metadata comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataSource {
    /// Given in memory (tests, benchmarks, tools).
    Inline,
    /// `metadata_file`: read once, at start-up.
    File(std::path::PathBuf),
    /// `metadata_url`: fetched at start-up, then refreshed by a [`MetadataRefresher`].
    Url(RemoteMetadata),
}

/// A `metadata_url` and how it is fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteMetadata {
    /// The only URL the metadata is ever fetched from (redirects are not followed).
    pub url: String,
    /// `http://` allowed (tests and local IdPs only).
    pub insecure_http: bool,
    /// How often it is fetched again ([`DEFAULT_METADATA_REFRESH`], within
    /// [`MIN_METADATA_REFRESH`]..=[`MAX_METADATA_REFRESH`]); sooner when the metadata's
    /// `cacheDuration` or `validUntil` say so.
    pub refresh_interval: Duration,
    /// Where the last good metadata is kept (in the daemon's state directory), so a start
    /// while the IdP is down still has it; `None`: nowhere (tests, tools).
    pub kept_copy: Option<std::path::PathBuf>,
    /// How the metadata in the settings was had at start-up.
    pub loaded: Loaded,
}

/// How a `metadata_url`'s metadata was had when the configuration was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded {
    /// Fetched now: the document as served (to keep as the last good copy).
    Fetched(String),
    /// The fetch failed (the error); the copy kept from an earlier fetch is used.
    KeptCopy(String),
    /// The fetch failed (the error) and no copy was kept: the IdP waits for a refresh.
    Nothing(String),
}

/// What a verified response says, built only from what samael returned as signed and verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAssertion {
    /// The Assertion's `ID` (the replay key).
    pub assertion_id: String,
    /// The Assertion's Issuer (equal to the metadata's entityID).
    pub issuer: String,
    /// The Subject's NameID, its full text.
    pub name_id: String,
    /// The NameID's `Format`, when present.
    pub name_id_format: Option<String>,
    /// The bearer SubjectConfirmationData `Recipient` (one of `acs_urls`; AWS reports it as the
    /// audience).
    pub recipient: String,
    /// The bearer SubjectConfirmationData `NotOnOrAfter`: the end of the replay window.
    pub not_on_or_after: SystemTime,
    /// Conditions `NotOnOrAfter`, when present.
    pub conditions_not_on_or_after: Option<SystemTime>,
    /// The earliest AuthnStatement `SessionNotOnOrAfter`, when present (caps the session).
    pub session_not_on_or_after: Option<SystemTime>,
    /// Attribute `Name` -> values, names case-sensitive, values in document order; the values of
    /// an attribute stated more than once are joined.
    pub attributes: BTreeMap<String, Vec<String>>,
    /// The Response's `InResponseTo`: the AuthnRequest it answers, when the login started at
    /// this service (read from the signed Response, or the unsigned one around a signed
    /// Assertion, where it can only make a response be refused).
    pub response_in_response_to: Option<String>,
    /// The bearer SubjectConfirmationData's `InResponseTo` (Profiles §4.1.4.2).
    pub confirmation_in_response_to: Option<String>,
}

/// Why a SAML response was not accepted, or a provider could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SamlError {
    /// A `NotOnOrAfter` has passed (`ExpiredTokenException`).
    #[error("SAML assertion expired")]
    Expired,
    /// Any other fault of the response. The client sees only the fixed words of its fault
    /// (`error`); `detail` goes to the log.
    #[error("invalid SAML response: {fault:?}: {detail}")]
    Invalid { fault: SamlFault, detail: String },
    /// The provider's settings or metadata are unusable.
    #[error("SAML provider configuration: {0}")]
    Config(String),
    /// The IdP's metadata is past its `validUntil`: nothing it pins may be used
    /// (`IDPCommunicationError` towards clients, until a refresh brings valid metadata).
    #[error("the metadata of SAML IdP {idp:?} expired at {valid_until}")]
    MetadataExpired { idp: String, valid_until: String },
    /// The metadata could not be fetched from its URL.
    #[error("SAML metadata: {0}")]
    Fetch(String),
}

impl SamlError {
    pub fn invalid(fault: SamlFault, detail: impl Into<String>) -> Self {
        Self::Invalid {
            fault,
            detail: detail.into(),
        }
    }
}

/// The check a SAML response failed, in the general words AWS uses towards clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SamlFault {
    /// Not base64 within the bounds, not UTF-8, not well-formed XML, or hostile XML (DTD,
    /// entity declarations, processing instructions, excessive depth).
    Malformed,
    /// Unsigned, or a signature that does not verify with a pinned certificate.
    Signature,
    /// A signature, digest, canonicalization or transform algorithm outside the allow-list.
    Algorithm,
    /// Not exactly one Assertion directly in a Response, or content placed where SAML does not
    /// put it (signature wrapping), duplicate IDs, comments, a missing required element.
    Structure,
    /// An `EncryptedAssertion`, and no decryption key is configured.
    Encrypted,
    /// An `EncryptedAssertion` that does not decrypt with the configured key.
    Decryption,
    /// A Response or Assertion Issuer other than the provider's entityID.
    Issuer,
    /// A Response Status other than Success.
    Status,
    /// No Conditions, no AudienceRestriction, or one without the service's audience.
    Audience,
    /// The bearer SubjectConfirmationData Recipient is not an accepted endpoint.
    Recipient,
    /// The Response Destination is not an accepted endpoint.
    Destination,
    /// Not exactly one bearer SubjectConfirmation, or one without `NotOnOrAfter`.
    SubjectConfirmation,
    /// No NameID in the Subject.
    Subject,
    /// An IssueInstant or `NotBefore` lies in the future beyond the clock skew.
    NotYetValid,
    /// The response does not answer the AuthnRequest the login started with.
    InResponseTo,
}

/// Verifies the SAML responses of one identity provider. Cheap to share: the pinned
/// certificates are decoded once, and each call parses only the message.
#[derive(Debug)]
pub struct SamlVerifier {
    settings: SamlIdpSettings,
    /// The settings' metadata (a verifier is never built without).
    metadata: IdpMetadata,
    certs: signed::PinnedCerts,
    algorithms: AllowList,
    decryptor: Option<decrypt::Decryptor>,
}

impl SamlVerifier {
    /// Check the settings (fail closed): a name, an entityID, an SP entity ID and at least one
    /// ACS URL; at least one signing certificate, each a DER `SEQUENCE`; at least one
    /// signature algorithm; a clock skew of at most [`MAX_CLOCK_SKEW`].
    pub fn new(settings: SamlIdpSettings) -> Result<Self, SamlError> {
        let invalid = |why: String| {
            Err(SamlError::Config(format!(
                "SAML IdP {:?}: {why}",
                settings.name
            )))
        };
        if settings.name.is_empty() {
            return invalid("empty provider name".to_owned());
        }
        let Some(metadata) = settings.metadata.clone() else {
            return invalid("no metadata".to_owned());
        };
        if metadata.entity_id.is_empty() {
            return invalid("empty entity_id".to_owned());
        }
        if settings.sp_entity_id.is_empty() {
            return invalid("empty sp_entity_id".to_owned());
        }
        if settings.acs_urls.is_empty() || settings.acs_urls.iter().any(String::is_empty) {
            return invalid("acs_urls must list at least one non-empty URL".to_owned());
        }
        if metadata.signing_certs_der.is_empty() {
            return invalid("no signing certificate: nothing could verify a signature".to_owned());
        }
        if let Some(i) = metadata
            .signing_certs_der
            .iter()
            .position(|der| !metadata::is_der_sequence(der))
        {
            return invalid(format!("signing certificate {i} is not DER"));
        }
        if settings.algorithms.is_empty() {
            return invalid("no signature algorithm allowed".to_owned());
        }
        if settings.clock_skew > MAX_CLOCK_SKEW {
            return invalid(format!(
                "clock_skew {:?} exceeds {MAX_CLOCK_SKEW:?}",
                settings.clock_skew
            ));
        }
        let certs = signed::PinnedCerts::new(
            metadata
                .signing_certs_der
                .iter()
                .cloned()
                .map(CertificateDer::from)
                .collect(),
        );
        let algorithms = AllowList::new(&settings.algorithms);
        let decryptor = settings
            .decryption_key
            .as_ref()
            .map(decrypt::Decryptor::new)
            .transpose()?;
        Ok(Self {
            settings,
            metadata,
            certs,
            algorithms,
            decryptor,
        })
    }

    pub fn settings(&self) -> &SamlIdpSettings {
        &self.settings
    }

    /// The metadata this verifier trusts.
    pub fn metadata(&self) -> &IdpMetadata {
        &self.metadata
    }

    /// Verify a response completely (the steps in the module documentation), unless the
    /// metadata is past its `validUntil` ([`SamlError::MetadataExpired`]).
    /// `saml_response_b64` is the `SAMLAssertion` parameter as sent (base64 of a
    /// `<samlp:Response>`). CPU-bound (one libxml2 parse and one public-key operation per
    /// signature): async callers may want `spawn_blocking`.
    pub fn verify(
        &self,
        saml_response_b64: &str,
        now: SystemTime,
    ) -> Result<VerifiedAssertion, SamlError> {
        let result = self.verify_response(saml_response_b64, now);
        if let Err(e) = &result {
            tracing::debug!(idp = %self.settings.name, error = %e, "SAML response refused");
        }
        result
    }

    fn verify_response(&self, b64: &str, now: SystemTime) -> Result<VerifiedAssertion, SamlError> {
        self.check_metadata_current(now)?;
        let xml = input::decode(b64)?;
        guard::check(&xml, guard::MAX_DEPTH)
            .map_err(|why| SamlError::invalid(SamlFault::Malformed, why))?;
        let shape = shape::Shape::read(&xml, &self.algorithms, self.decryptor.is_some())?;
        let signed = match &self.decryptor {
            Some(decryptor) if shape.assertion_id.is_none() => {
                self.decrypted(&xml, &shape, decryptor)?
            }
            _ => signed::verify(&xml, &self.certs, &self.algorithms, &shape)?,
        };
        checks::check(signed, &xml, &self.settings, &self.metadata.entity_id, now)
    }

    /// Steps 4 and 5 for an EncryptedAssertion: the Response verified, then its
    /// EncryptedAssertion decrypted, and the plaintext through steps 2-4 as an Assertion of its
    /// own.
    fn decrypted(
        &self,
        xml: &str,
        shape: &shape::Shape,
        decryptor: &decrypt::Decryptor,
    ) -> Result<signed::SignedDocument, SamlError> {
        let (mut response, verified) =
            signed::verify_encrypted(xml, &self.certs, &self.algorithms, shape)?;
        let plaintext = decryptor.decrypt(&verified)?;
        guard::check(&plaintext, guard::MAX_DEPTH).map_err(|why| {
            SamlError::invalid(SamlFault::Malformed, format!("decrypted Assertion: {why}"))
        })?;
        let assertion_shape = shape::Shape::read_assertion(&plaintext, &self.algorithms)?;
        if assertion_shape.id == shape.response_id {
            return Err(SamlError::invalid(
                SamlFault::Structure,
                "the decrypted Assertion has the Response's ID",
            ));
        }
        let assertion =
            signed::verify_decrypted(&plaintext, &self.certs, &self.algorithms, &assertion_shape)?;
        response.assertion = Some(*assertion);
        Ok(signed::SignedDocument::Response(response))
    }
}

impl SamlVerifier {
    /// Whether the metadata may still be used at `now` (SAML Metadata §2.3.2: `validUntil`).
    pub fn check_metadata_current(&self, now: SystemTime) -> Result<(), SamlError> {
        match self.metadata.valid_until {
            Some(until) if now >= until => Err(SamlError::MetadataExpired {
                idp: self.settings.name.clone(),
                valid_until: crate::clock::iso8601(until),
            }),
            _ => Ok(()),
        }
    }
}

/// The Assertion `ID` of a response, read WITHOUT verifying anything: only to refuse a replayed
/// assertion before the costly verification (which, in samael 0.0.22 / libxml 0.3.3, leaks a few
/// KiB per verified response). A forged ID can only make a response be refused, never accepted.
/// Cheap (the bounded base64, then quick-xml up to the first Assertion tag, which expands no
/// entity and loads nothing): the verification runs every check afterwards. `None` for an
/// encrypted assertion, whose ID is known only once decrypted (its replay is refused then).
pub fn peek_assertion_id(saml_response_b64: &str) -> Option<String> {
    let xml = input::decode(saml_response_b64).ok()?;
    shape::first_assertion_id(&xml)
}

/// The Issuer of a response (the Response's, else the Assertion's), read WITHOUT verifying
/// anything: only to choose which provider verifies a response posted to the portal's assertion
/// consumer (which, unlike `AssumeRoleWithSAML`, names no provider). A forged Issuer can only
/// choose a provider whose verification then refuses the response. Cheap, as
/// [`peek_assertion_id`].
pub fn peek_issuer(saml_response_b64: &str) -> Option<String> {
    let xml = input::decode(saml_response_b64).ok()?;
    shape::first_issuer(&xml)
}

/// An XML or crypto library's error with its sources, at most 300 characters (the texts may
/// quote the input), for log details.
fn error_text(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.chars().take(300).collect()
}

#[cfg(test)]
mod tests;
