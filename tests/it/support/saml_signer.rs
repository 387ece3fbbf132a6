//! A SAML identity provider's signing, at run time: a SAML 2.0 Response for any assertion
//! consumer, audience, roles and time, signed (XML-DSig, enveloped, exclusive c14n, RSA-SHA256)
//! through samael's xmlsec binding with a key of `tests/fixtures/saml/keys`. Its shape mirrors
//! the checked-in fixtures (`tests/fixtures/saml/templates`, `gen.sh`), so a signed Response
//! made here is what those fixtures are, addressed to a daemon on `127.0.0.1:PORT` at the wall
//! clock's time rather than to `https://sts.example.com` at 2026-01-01.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use samael::crypto::{Crypto, CryptoProvider as _};

/// The entityID of the fixtures' IdP metadata (`tests/fixtures/saml/idp-metadata.xml`).
pub const FIXTURE_ISSUER: &str = "https://idp.example.com/saml";
/// The audience AWS's sign-in endpoint expects, which the daemon accepts too.
pub const AWS_AUDIENCE: &str = "urn:amazon:webservices";
/// AWS's assertion consumer, an accepted Recipient and Destination of every SAML IdP.
pub const AWS_ACS: &str = "https://signin.aws.amazon.com/saml";

const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
const ROLE: &str = "https://aws.amazon.com/SAML/Attributes/Role";
const ROLE_SESSION_NAME: &str = "https://aws.amazon.com/SAML/Attributes/RoleSessionName";
const SESSION_DURATION: &str = "https://aws.amazon.com/SAML/Attributes/SessionDuration";
const PRINCIPAL_TAG: &str = "https://aws.amazon.com/SAML/Attributes/PrincipalTag:";

/// A private key and its certificate from `tests/fixtures/saml/keys`.
pub struct SigningKey {
    /// The key, DER (PKCS#8), as xmlsec loads it.
    key_der: Vec<u8>,
    /// The certificate, base64 DER, for the Signature's KeyInfo.
    cert_base64: String,
}

impl SigningKey {
    /// The IdP's key, whose certificate `idp-metadata.xml` pins.
    pub fn idp() -> Self {
        Self::fixture("idp")
    }

    /// A key no metadata pins, with a certificate of the same subject as the IdP's.
    pub fn attacker() -> Self {
        Self::fixture("attacker")
    }

    fn fixture(name: &str) -> Self {
        let keys: PathBuf = [
            env!("CARGO_MANIFEST_DIR"),
            "tests",
            "fixtures",
            "saml",
            "keys",
        ]
        .iter()
        .collect();
        let read = |file: String| {
            let path = keys.join(file);
            std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        };
        Self {
            key_der: pem_body(&read(format!("{name}.key")), "PRIVATE KEY"),
            cert_base64: STANDARD.encode(read(format!("{name}.der"))),
        }
    }
}

/// The DER inside a PEM block labelled `label`.
fn pem_body(pem: &[u8], label: &str) -> Vec<u8> {
    let text = std::str::from_utf8(pem).expect("PEM is text");
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin).expect("PEM begin line") + begin.len();
    let stop = text[start..].find(&end).expect("PEM end line") + start;
    let body: String = text[start..stop].split_whitespace().collect();
    STANDARD.decode(body).expect("PEM base64")
}

/// Which element the enveloped signature covers (the verifier accepts either, as AWS does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signed {
    /// The whole Response (Reference to the Response's ID), like the portal fixtures.
    Response,
    /// Only the Assertion (Reference to the Assertion's ID), like `assertion-signed.xml`.
    Assertion,
}

/// One SAML Response to sign; [`SamlResponse::new`] gives the fixtures' values around `now`.
#[derive(Debug, Clone)]
pub struct SamlResponse {
    /// The Response's Destination and the bearer confirmation's Recipient.
    pub acs_url: String,
    /// The one AudienceRestriction's Audience.
    pub audience: String,
    /// The Response's and the Assertion's Issuer.
    pub issuer: String,
    pub name_id: String,
    pub role_session_name: String,
    /// `(role ARN, SAML provider ARN)`: the values of the `Role` attribute, in order.
    pub roles: Vec<(String, String)>,
    /// The `SessionDuration` attribute, in seconds.
    pub session_duration: Option<u64>,
    /// `PrincipalTag:KEY` attributes (the trust policy must allow `sts:TagSession`).
    pub principal_tags: Vec<(String, String)>,
    /// IssueInstant (Response, Assertion, AuthnInstant) and NotBefore; the confirmation's
    /// NotOnOrAfter is 5 minutes later, the Conditions' one hour later, the AuthnStatement's
    /// SessionNotOnOrAfter eight hours later (as in the fixtures).
    pub now: SystemTime,
    /// The AuthnRequest answered: on the Response and on the bearer confirmation.
    pub in_response_to: Option<String>,
    pub signed: Signed,
    /// The Response's and the Assertion's IDs (fresh random ones from `new`).
    pub response_id: String,
    pub assertion_id: String,
}

impl SamlResponse {
    /// An unsolicited Response to `acs_url` for alice@example.com at `now`, for AWS's audience,
    /// granting no role yet, its Response signed.
    pub fn new(acs_url: &str, now: SystemTime) -> Self {
        Self {
            acs_url: acs_url.to_owned(),
            audience: AWS_AUDIENCE.to_owned(),
            issuer: FIXTURE_ISSUER.to_owned(),
            name_id: "alice@example.com".to_owned(),
            role_session_name: "alice@example.com".to_owned(),
            roles: Vec::new(),
            session_duration: Some(7200),
            principal_tags: Vec::new(),
            now,
            in_response_to: None,
            signed: Signed::Response,
            response_id: fresh_id(),
            assertion_id: fresh_id(),
        }
    }

    /// Grant `role` through `provider` (one more `Role` attribute value).
    pub fn role(mut self, role: &str, provider: &str) -> Self {
        self.roles.push((role.to_owned(), provider.to_owned()));
        self
    }

    /// The Response, unsigned but with the Signature template in the element [`Self::signed`]
    /// names (in the place the fixtures have it: after the Issuer).
    pub fn template(&self, key: &SigningKey) -> String {
        let signature = |reference: &str| signature_template(reference, &key.cert_base64);
        let (response_signature, assertion_signature) = match self.signed {
            Signed::Response => (signature(&self.response_id), String::new()),
            Signed::Assertion => (String::new(), signature(&self.assertion_id)),
        };
        let in_response_to = self
            .in_response_to
            .as_deref()
            .map(|id| format!(" InResponseTo=\"{}\"", escape(id)))
            .unwrap_or_default();
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" \
             xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{id}\" Version=\"2.0\" \
             IssueInstant=\"{now}\" Destination=\"{acs}\"{in_response_to}>\n\
             \x20 <saml:Issuer>{issuer}</saml:Issuer>\n\
             {response_signature}\
             \x20 <samlp:Status>\n\
             \x20   <samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:Success\"/>\n\
             \x20 </samlp:Status>\n\
             {assertion}\
             </samlp:Response>\n",
            id = escape(&self.response_id),
            now = instant(self.now),
            acs = escape(&self.acs_url),
            issuer = escape(&self.issuer),
            assertion = self.assertion(&assertion_signature, &in_response_to),
        )
    }

    fn assertion(&self, signature: &str, in_response_to: &str) -> String {
        let at = |seconds: u64| instant(self.now + Duration::from_secs(seconds));
        let mut attributes = String::new();
        if !self.roles.is_empty() {
            let values = self
                .roles
                .iter()
                .map(|(role, provider)| format!("{role},{provider}"));
            attributes.push_str(&attribute(
                ROLE,
                " NameFormat=\"urn:oasis:names:tc:SAML:2.0:attrname-format:uri\"",
                values,
            ));
        }
        attributes.push_str(&attribute(
            ROLE_SESSION_NAME,
            "",
            [self.role_session_name.clone()],
        ));
        if let Some(seconds) = self.session_duration {
            attributes.push_str(&attribute(SESSION_DURATION, "", [seconds.to_string()]));
        }
        for (key, value) in &self.principal_tags {
            attributes.push_str(&attribute(
                &format!("{PRINCIPAL_TAG}{key}"),
                "",
                [value.clone()],
            ));
        }
        format!(
            "<saml:Assertion xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" \
             xmlns:xs=\"http://www.w3.org/2001/XMLSchema\" \
             xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" ID=\"{id}\" Version=\"2.0\" \
             IssueInstant=\"{now}\">\n\
             \x20 <saml:Issuer>{issuer}</saml:Issuer>\n\
             {signature}\
             \x20 <saml:Subject>\n\
             \x20   <saml:NameID Format=\"urn:oasis:names:tc:SAML:2.0:nameid-format:persistent\">{name_id}</saml:NameID>\n\
             \x20   <saml:SubjectConfirmation Method=\"urn:oasis:names:tc:SAML:2.0:cm:bearer\">\n\
             \x20     <saml:SubjectConfirmationData{in_response_to} NotOnOrAfter=\"{confirmation_end}\" Recipient=\"{acs}\"/>\n\
             \x20   </saml:SubjectConfirmation>\n\
             \x20 </saml:Subject>\n\
             \x20 <saml:Conditions NotBefore=\"{now}\" NotOnOrAfter=\"{conditions_end}\">\n\
             \x20   <saml:AudienceRestriction>\n\
             \x20     <saml:Audience>{audience}</saml:Audience>\n\
             \x20   </saml:AudienceRestriction>\n\
             \x20 </saml:Conditions>\n\
             \x20 <saml:AuthnStatement AuthnInstant=\"{now}\" SessionIndex=\"_session-1\" SessionNotOnOrAfter=\"{session_end}\">\n\
             \x20   <saml:AuthnContext>\n\
             \x20     <saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef>\n\
             \x20   </saml:AuthnContext>\n\
             \x20 </saml:AuthnStatement>\n\
             \x20 <saml:AttributeStatement>\n\
             {attributes}\
             \x20 </saml:AttributeStatement>\n\
             </saml:Assertion>\n",
            id = escape(&self.assertion_id),
            now = instant(self.now),
            issuer = escape(&self.issuer),
            name_id = escape(&self.name_id),
            confirmation_end = at(5 * 60),
            acs = escape(&self.acs_url),
            conditions_end = at(60 * 60),
            audience = escape(&self.audience),
            session_end = at(8 * 60 * 60),
        )
    }

    /// The signed Response, as XML.
    pub fn sign(&self, key: &SigningKey) -> String {
        Crypto::sign_xml(self.template(key), &key.key_der)
            .unwrap_or_else(|e| panic!("xmlsec signing: {e}"))
    }

    /// The signed Response, base64: the `SAMLResponse` form field of the HTTP-POST binding.
    pub fn sign_base64(&self, key: &SigningKey) -> String {
        STANDARD.encode(self.sign(key))
    }
}

/// `_` and 32 hex digits: an xs:ID (it may not start with a digit), 128 random bits.
fn fresh_id() -> String {
    format!("_{}", uuid::Uuid::new_v4().simple())
}

/// `at` as an xs:dateTime in UTC, whole seconds.
fn instant(at: SystemTime) -> String {
    let seconds = at.duration_since(UNIX_EPOCH).expect("after 1970").as_secs();
    time::OffsetDateTime::from_unix_timestamp(i64::try_from(seconds).expect("seconds"))
        .expect("a representable time")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("RFC 3339")
}

/// `text` escaped for XML character data and double-quoted attribute values.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn attribute(name: &str, extra: &str, values: impl IntoIterator<Item = String>) -> String {
    let values: String = values
        .into_iter()
        .map(|v| {
            format!(
                "      <saml:AttributeValue xsi:type=\"xs:string\">{}</saml:AttributeValue>\n",
                escape(&v)
            )
        })
        .collect();
    format!(
        "    <saml:Attribute Name=\"{}\"{extra}>\n{values}    </saml:Attribute>\n",
        escape(name)
    )
}

/// `templates/signature.xml` of the fixtures, RSA-SHA256 over SHA-256, with the certificate in
/// KeyInfo (xmlsec1 fills it in for the fixtures; samael's signing does not).
fn signature_template(reference: &str, cert_base64: &str) -> String {
    format!(
        "  <ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">\n\
         \x20   <ds:SignedInfo>\n\
         \x20     <ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>\n\
         \x20     <ds:SignatureMethod Algorithm=\"{RSA_SHA256}\"/>\n\
         \x20     <ds:Reference URI=\"#{reference}\">\n\
         \x20       <ds:Transforms>\n\
         \x20         <ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>\n\
         \x20         <ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>\n\
         \x20       </ds:Transforms>\n\
         \x20       <ds:DigestMethod Algorithm=\"{SHA256}\"/>\n\
         \x20       <ds:DigestValue></ds:DigestValue>\n\
         \x20     </ds:Reference>\n\
         \x20   </ds:SignedInfo>\n\
         \x20   <ds:SignatureValue></ds:SignatureValue>\n\
         \x20   <ds:KeyInfo>\n\
         \x20     <ds:X509Data>\n\
         \x20       <ds:X509Certificate>{cert_base64}</ds:X509Certificate>\n\
         \x20     </ds:X509Data>\n\
         \x20   </ds:KeyInfo>\n\
         \x20 </ds:Signature>\n"
    )
}
