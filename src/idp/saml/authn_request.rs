//! The service provider's AuthnRequest (SAML Core §3.4.1) and the URL that carries it to the
//! IdP with the HTTP-Redirect binding (SAML Bindings §3.4): a pure function of the request's
//! fields, its ID, the time and the SP's signing key.
//!
//! The URL (Bindings §3.4.4.1): the request DEFLATE-compressed (RFC 1951, no zlib header),
//! base64, URL-encoded as `SAMLRequest`; then `RelayState` when given; when signed, `SigAlg`
//! (RSA-SHA256) and `Signature`, the base64 of an RSA PKCS#1 v1.5 SHA-256 signature over the
//! exact bytes of `SAMLRequest=...&RelayState=...&SigAlg=...` as they appear in the URL. The
//! XML itself then carries no `ds:Signature` (§3.4.4.1: the signature is in the query).

use std::io::Write as _;
use std::time::SystemTime;

use aws_lc_rs::rand::SecureRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use quick_xml::Writer;
use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};

/// The `SigAlg` of a signed request.
pub const SIG_ALG_RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
/// The binding the IdP is asked to answer with (the assertion consumer takes POSTs).
pub const HTTP_POST_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
/// The longest `RelayState` (Bindings §3.4.3: "MUST NOT exceed 80 bytes").
pub const MAX_RELAY_STATE: usize = 80;

const PROTOCOL_NS: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const ASSERTION_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";

/// Everything but unreserved characters (RFC 3986 §2.3) is percent-encoded: the signed string
/// is the URL's own bytes, so one encoding is used for both.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Why an AuthnRequest URL could not be made.
#[derive(Debug, thiserror::Error)]
pub enum AuthnRequestError {
    #[error("the RelayState is longer than {MAX_RELAY_STATE} bytes")]
    RelayStateTooLong,
    #[error("the SP signing key is not an RSA PKCS#8 key: {0}")]
    Key(String),
    #[error("no randomness")]
    Random,
    #[error("signing the AuthnRequest failed")]
    Sign,
    #[error("writing the AuthnRequest: {0}")]
    Write(String),
}

/// One AuthnRequest, as the portal sends it when a SAML login starts.
#[derive(Debug, Clone, Copy)]
pub struct AuthnRequest<'a> {
    /// The request's `ID` (an XML ID: see [`new_request_id`]); the Response answers it in
    /// `InResponseTo`.
    pub id: &'a str,
    /// `IssueInstant`.
    pub issue_instant: SystemTime,
    /// `Destination`: the IdP's SingleSignOnService URL the request is sent to.
    pub destination: &'a str,
    /// `AssertionConsumerServiceURL`: where the IdP POSTs the Response.
    pub acs_url: &'a str,
    /// The `saml:Issuer`: the SP's entity ID.
    pub issuer: &'a str,
}

impl AuthnRequest<'_> {
    /// The request as XML (no signature: the redirect binding signs the URL).
    pub fn to_xml(&self) -> Result<String, AuthnRequestError> {
        let instant = crate::clock::iso8601(self.issue_instant);
        let mut writer = Writer::new(Vec::new());
        let mut root = BytesStart::new("samlp:AuthnRequest");
        root.push_attribute(("xmlns:samlp", PROTOCOL_NS));
        root.push_attribute(("xmlns:saml", ASSERTION_NS));
        root.push_attribute(("ID", self.id));
        root.push_attribute(("Version", "2.0"));
        root.push_attribute(("IssueInstant", instant.as_str()));
        root.push_attribute(("Destination", self.destination));
        root.push_attribute(("AssertionConsumerServiceURL", self.acs_url));
        root.push_attribute(("ProtocolBinding", HTTP_POST_BINDING));
        let write = |writer: &mut Writer<Vec<u8>>, event: Event<'_>| {
            writer
                .write_event(event)
                .map_err(|e| AuthnRequestError::Write(e.to_string()))
        };
        write(&mut writer, Event::Start(root))?;
        write(&mut writer, Event::Start(BytesStart::new("saml:Issuer")))?;
        write(&mut writer, Event::Text(BytesText::new(self.issuer)))?;
        write(&mut writer, Event::End(BytesEnd::new("saml:Issuer")))?;
        let mut policy = BytesStart::new("samlp:NameIDPolicy");
        policy.push_attribute(("AllowCreate", "true"));
        write(&mut writer, Event::Empty(policy))?;
        write(&mut writer, Event::End(BytesEnd::new("samlp:AuthnRequest")))?;
        String::from_utf8(writer.into_inner()).map_err(|e| AuthnRequestError::Write(e.to_string()))
    }

    /// The URL that sends the person to the IdP with this request (HTTP-Redirect binding):
    /// `destination` with `SAMLRequest`, `relay_state` when given, and a signature when a
    /// `key` is given (see the module documentation).
    pub fn redirect_url(
        &self,
        relay_state: Option<&str>,
        key: Option<&RsaKeyPair>,
        rng: &dyn SecureRandom,
    ) -> Result<String, AuthnRequestError> {
        if relay_state.is_some_and(|r| r.len() > MAX_RELAY_STATE) {
            return Err(AuthnRequestError::RelayStateTooLong);
        }
        let xml = self.to_xml()?;
        let mut deflater =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        deflater
            .write_all(xml.as_bytes())
            .map_err(|e| AuthnRequestError::Write(e.to_string()))?;
        let deflated = deflater
            .finish()
            .map_err(|e| AuthnRequestError::Write(e.to_string()))?;
        let mut query = format!("SAMLRequest={}", encode(&STANDARD.encode(deflated)));
        if let Some(relay_state) = relay_state {
            query.push_str("&RelayState=");
            query.push_str(&encode(relay_state));
        }
        if let Some(key) = key {
            query.push_str("&SigAlg=");
            query.push_str(&encode(SIG_ALG_RSA_SHA256));
            let mut signature = vec![0; key.public_modulus_len()];
            key.sign(&RSA_PKCS1_SHA256, rng, query.as_bytes(), &mut signature)
                .map_err(|_| AuthnRequestError::Sign)?;
            query.push_str("&Signature=");
            query.push_str(&encode(&STANDARD.encode(signature)));
        }
        let separator = if self.destination.contains('?') {
            '&'
        } else {
            '?'
        };
        Ok(format!("{}{separator}{query}", self.destination))
    }
}

fn encode(value: &str) -> String {
    utf8_percent_encode(value, QUERY_VALUE).to_string()
}

/// A fresh request ID: `_` and 128 random bits in hex (an XML ID must not start with a digit).
pub fn new_request_id(rng: &dyn SecureRandom) -> Result<String, AuthnRequestError> {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes)
        .map_err(|_| AuthnRequestError::Random)?;
    Ok(format!("_{}", data_encoding::HEXLOWER.encode(&bytes)))
}

/// The RSA key pair of a PKCS#8 PEM private key (the SP's `sp_key_file`).
pub fn signing_key(key_pem: &[u8]) -> Result<RsaKeyPair, AuthnRequestError> {
    use rustls_pki_types::PrivatePkcs8KeyDer;
    use rustls_pki_types::pem::PemObject as _;
    let der = PrivatePkcs8KeyDer::from_pem_slice(key_pem)
        .map_err(|_| AuthnRequestError::Key("no PRIVATE KEY (PKCS#8) block".to_owned()))?;
    RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
        .map_err(|e| AuthnRequestError::Key(e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};

    use super::*;
    use crate::clock::from_unix_seconds;

    const KEY: &[u8] = include_bytes!("../../../tests/fixtures/saml/keys/sp-encryption.key");
    const CERT: &[u8] = include_bytes!("../../../tests/fixtures/saml/keys/sp-encryption.crt");
    const OTHER_CERT: &[u8] = include_bytes!("../../../tests/fixtures/saml/keys/idp.crt");
    const SSO: &str = "https://idp.example.com/sso";
    const NOW: i64 = 1_795_000_000;

    fn request(id: &str) -> AuthnRequest<'_> {
        AuthnRequest {
            id,
            issue_instant: from_unix_seconds(NOW),
            destination: SSO,
            acs_url: "https://sts.example.com/saml",
            issuer: "https://sts.example.com/saml/metadata",
        }
    }

    /// The query parameters of `url`, decoded, in order.
    fn params(url: &str) -> Vec<(String, String)> {
        let (_, query) = url.split_once('?').unwrap();
        serde_urlencoded::from_str(query).unwrap()
    }

    fn param<'p>(params: &'p [(String, String)], name: &str) -> Option<&'p str> {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn inflate(saml_request: &str) -> String {
        let deflated = STANDARD.decode(saml_request).unwrap();
        let mut xml = String::new();
        flate2::read::DeflateDecoder::new(deflated.as_slice())
            .read_to_string(&mut xml)
            .unwrap();
        xml
    }

    /// Whether `signature` (base64) signs `signed` with the key of the PEM certificate `cert`.
    fn verifies(cert: &[u8], signed: &str, signature: &str) -> bool {
        let (_, pem) = x509_parser::pem::parse_x509_pem(cert).unwrap();
        let cert = pem.parse_x509().unwrap();
        let public_key = cert.public_key().subject_public_key.data.to_vec();
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public_key)
            .verify(signed.as_bytes(), &STANDARD.decode(signature).unwrap())
            .is_ok()
    }

    #[test]
    fn the_request_carries_every_field_and_parses() {
        let url = request("_0123456789abcdef0123456789abcdef")
            .redirect_url(Some("/console"), None, &SystemRandom::new())
            .unwrap();
        assert!(
            url.starts_with("https://idp.example.com/sso?SAMLRequest="),
            "{url}"
        );
        let params = params(&url);
        assert_eq!(param(&params, "RelayState"), Some("/console"));
        assert_eq!(param(&params, "SigAlg"), None, "unsigned");
        assert_eq!(param(&params, "Signature"), None, "unsigned");
        let xml = inflate(param(&params, "SAMLRequest").unwrap());
        let parsed: samael::schema::AuthnRequest = xml.parse().unwrap();
        assert_eq!(parsed.id, "_0123456789abcdef0123456789abcdef");
        assert_eq!(parsed.version, "2.0");
        assert_eq!(parsed.issue_instant.timestamp(), NOW);
        assert_eq!(parsed.destination.as_deref(), Some(SSO));
        assert_eq!(
            parsed.assertion_consumer_service_url.as_deref(),
            Some("https://sts.example.com/saml")
        );
        assert_eq!(parsed.protocol_binding.as_deref(), Some(HTTP_POST_BINDING));
        assert_eq!(
            parsed.issuer_value().as_deref(),
            Some("https://sts.example.com/saml/metadata")
        );
        assert!(
            parsed.signature.is_none(),
            "the redirect binding signs the URL"
        );
        assert!(
            xml.contains(&format!("xmlns:samlp=\"{PROTOCOL_NS}\"")),
            "{xml}"
        );
    }

    #[test]
    fn a_signed_request_verifies_with_the_certificate_over_the_exact_query() {
        let key = signing_key(KEY).unwrap();
        let url = request("_1")
            .redirect_url(Some("/console?a=b c"), Some(&key), &SystemRandom::new())
            .unwrap();
        let (_, query) = url.split_once('?').unwrap();
        let (signed, signature) = query.split_once("&Signature=").unwrap();
        assert!(
            signed.starts_with("SAMLRequest=")
                && signed.contains("&RelayState=%2Fconsole%3Fa%3Db%20c&SigAlg="),
            "the order of §3.4.4.1: {signed}"
        );
        let params = params(&url);
        assert_eq!(param(&params, "SigAlg"), Some(SIG_ALG_RSA_SHA256));
        let signature = percent_encoding::percent_decode_str(signature)
            .decode_utf8()
            .unwrap();
        assert!(verifies(CERT, signed, &signature));
        assert!(
            !verifies(OTHER_CERT, signed, &signature),
            "another key's certificate"
        );
        let tampered = signed.replace("%2Fconsole", "%2Fevil");
        assert!(
            !verifies(CERT, &tampered, &signature),
            "a changed RelayState"
        );
    }

    #[test]
    fn the_destination_keeps_its_own_query_and_markup_is_escaped() {
        let mut req = request("_2");
        req.destination = "https://idp.example.com/sso?tenant=a&x=\"<y>\"";
        let url = req.redirect_url(None, None, &SystemRandom::new()).unwrap();
        assert!(
            url.starts_with("https://idp.example.com/sso?tenant=a&x=\"<y>\"&SAMLRequest="),
            "{url}"
        );
        let params = params(&url);
        assert_eq!(param(&params, "RelayState"), None);
        let xml = inflate(param(&params, "SAMLRequest").unwrap());
        assert!(
            xml.contains(
                "Destination=\"https://idp.example.com/sso?tenant=a&amp;x=&quot;&lt;y&gt;&quot;\""
            ),
            "{xml}"
        );
    }

    #[test]
    fn a_relay_state_beyond_80_bytes_is_refused() {
        let long = "/".repeat(MAX_RELAY_STATE + 1);
        let err = request("_3").redirect_url(Some(&long), None, &SystemRandom::new());
        assert!(matches!(err, Err(AuthnRequestError::RelayStateTooLong)));
    }

    #[test]
    fn request_ids_are_128_random_bits_and_xml_ids() {
        let rng = SystemRandom::new();
        let a = new_request_id(&rng).unwrap();
        let b = new_request_id(&rng).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 33);
        assert!(a.starts_with('_') && a[1..].bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn a_key_that_is_not_pkcs8_rsa_is_refused() {
        assert!(matches!(
            signing_key(b"not a key"),
            Err(AuthnRequestError::Key(_))
        ));
        let ec = include_bytes!("../../../tests/fixtures/saml/keys/ec.key");
        assert!(matches!(signing_key(ec), Err(AuthnRequestError::Key(_))));
    }
}
