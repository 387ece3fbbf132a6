//! The service provider's metadata (SAML Metadata §2.3.2, §2.4.4): what an IdP imports to
//! trust the portal's AuthnRequests and to know where to POST its Responses.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use quick_xml::Writer;
use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};

use super::authn_request::HTTP_POST_BINDING;

/// The media type of SAML metadata (SAML Metadata §4.1.1).
pub const CONTENT_TYPE: &str = "application/samlmetadata+xml";

const METADATA_NS: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const PROTOCOL_NS: &str = "urn:oasis:names:tc:SAML:2.0:protocol";

/// The NameID formats the portal takes (any NameID is accepted; these are the usual ones).
pub const NAME_ID_FORMATS: &[&str] = &[
    "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
    "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
    "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
];

/// Why the metadata could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SpMetadataError {
    #[error("the SP certificate is not a PEM X.509 certificate")]
    Certificate,
    #[error("writing the SP metadata: {0}")]
    Write(String),
}

/// The portal as a SAML service provider.
#[derive(Debug, Clone, Copy)]
pub struct SpMetadata<'a> {
    /// `entityID`: the Issuer of its AuthnRequests.
    pub entity_id: &'a str,
    /// The assertion consumer (HTTP-POST), index 0, the default.
    pub acs_url: &'a str,
    /// `AuthnRequestsSigned`: whether it signs its AuthnRequests (to some IdP at least).
    pub authn_requests_signed: bool,
    /// The signing certificate (PEM), published when requests are signed.
    pub signing_cert_pem: &'a str,
}

impl SpMetadata<'_> {
    /// The `md:EntityDescriptor` document.
    pub fn to_xml(&self) -> Result<String, SpMetadataError> {
        let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
        let mut root = BytesStart::new("md:EntityDescriptor");
        root.push_attribute(("xmlns:md", METADATA_NS));
        root.push_attribute(("xmlns:ds", DSIG_NS));
        root.push_attribute(("entityID", self.entity_id));
        start(&mut w, root)?;
        let mut sp = BytesStart::new("md:SPSSODescriptor");
        sp.push_attribute((
            "AuthnRequestsSigned",
            if self.authn_requests_signed {
                "true"
            } else {
                "false"
            },
        ));
        sp.push_attribute(("WantAssertionsSigned", "true"));
        sp.push_attribute(("protocolSupportEnumeration", PROTOCOL_NS));
        start(&mut w, sp)?;
        if self.authn_requests_signed {
            let der = certificate_der(self.signing_cert_pem)?;
            let mut key = BytesStart::new("md:KeyDescriptor");
            key.push_attribute(("use", "signing"));
            start(&mut w, key)?;
            start(&mut w, BytesStart::new("ds:KeyInfo"))?;
            start(&mut w, BytesStart::new("ds:X509Data"))?;
            text_element(&mut w, "ds:X509Certificate", &STANDARD.encode(der))?;
            end(&mut w, "ds:X509Data")?;
            end(&mut w, "ds:KeyInfo")?;
            end(&mut w, "md:KeyDescriptor")?;
        }
        for format in NAME_ID_FORMATS {
            text_element(&mut w, "md:NameIDFormat", format)?;
        }
        let mut acs = BytesStart::new("md:AssertionConsumerService");
        acs.push_attribute(("Binding", HTTP_POST_BINDING));
        acs.push_attribute(("Location", self.acs_url));
        acs.push_attribute(("index", "0"));
        acs.push_attribute(("isDefault", "true"));
        write(&mut w, Event::Empty(acs))?;
        end(&mut w, "md:SPSSODescriptor")?;
        end(&mut w, "md:EntityDescriptor")?;
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        xml.push_str(
            &String::from_utf8(w.into_inner())
                .map_err(|e| SpMetadataError::Write(e.to_string()))?,
        );
        xml.push('\n');
        Ok(xml)
    }
}

fn certificate_der(pem: &str) -> Result<Vec<u8>, SpMetadataError> {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|_| SpMetadataError::Certificate)?;
    if block.label != "CERTIFICATE" || block.parse_x509().is_err() {
        return Err(SpMetadataError::Certificate);
    }
    Ok(block.contents)
}

fn write(w: &mut Writer<Vec<u8>>, event: Event<'_>) -> Result<(), SpMetadataError> {
    w.write_event(event)
        .map_err(|e| SpMetadataError::Write(e.to_string()))
}

fn start(w: &mut Writer<Vec<u8>>, element: BytesStart<'_>) -> Result<(), SpMetadataError> {
    write(w, Event::Start(element))
}

fn end(w: &mut Writer<Vec<u8>>, name: &str) -> Result<(), SpMetadataError> {
    write(w, Event::End(BytesEnd::new(name)))
}

fn text_element(w: &mut Writer<Vec<u8>>, name: &str, text: &str) -> Result<(), SpMetadataError> {
    start(w, BytesStart::new(name))?;
    write(w, Event::Text(BytesText::new(text)))?;
    end(w, name)
}

#[cfg(test)]
mod tests {
    use samael::metadata::EntityDescriptor;

    use super::*;

    const CERT: &str = include_str!("../../../tests/fixtures/saml/keys/sp-encryption.crt");
    const CERT_DER: &[u8] = include_bytes!("../../../tests/fixtures/saml/keys/sp-encryption.der");

    fn metadata(signed: bool) -> SpMetadata<'static> {
        SpMetadata {
            entity_id: "https://sts.example.com/saml/metadata",
            acs_url: "https://sts.example.com/saml",
            authn_requests_signed: signed,
            signing_cert_pem: CERT,
        }
    }

    #[test]
    fn samael_reads_every_element() {
        let xml = metadata(true).to_xml().unwrap();
        let parsed: EntityDescriptor = xml.parse().unwrap();
        assert_eq!(
            parsed.entity_id.as_deref(),
            Some("https://sts.example.com/saml/metadata")
        );
        let sps = parsed.sp_sso_descriptors.unwrap();
        let [sp] = sps.as_slice() else {
            panic!("one SPSSODescriptor: {xml}")
        };
        assert_eq!(sp.authn_requests_signed, Some(true));
        assert_eq!(sp.want_assertions_signed, Some(true));
        assert_eq!(
            sp.protocol_support_enumeration.as_deref(),
            Some(PROTOCOL_NS)
        );
        let keys = sp.key_descriptors.as_ref().unwrap();
        let [key] = keys.as_slice() else {
            panic!("one KeyDescriptor: {xml}")
        };
        assert_eq!(key.key_use.as_deref(), Some("signing"));
        let certs = key
            .key_info
            .x509_data
            .as_ref()
            .unwrap()
            .certificates
            .clone();
        assert_eq!(certs.len(), 1);
        let der = STANDARD
            .decode(certs[0].split_whitespace().collect::<String>())
            .unwrap();
        assert_eq!(der, CERT_DER, "the SP certificate");
        assert_eq!(
            sp.name_id_formats.as_deref().unwrap(),
            NAME_ID_FORMATS
                .iter()
                .map(|f| f.to_string())
                .collect::<Vec<_>>()
        );
        let [acs] = sp.assertion_consumer_services.as_slice() else {
            panic!("one AssertionConsumerService: {xml}")
        };
        assert_eq!(acs.binding, HTTP_POST_BINDING);
        assert_eq!(acs.location, "https://sts.example.com/saml");
        assert_eq!(acs.index, 0);
        assert_eq!(acs.is_default, Some(true));
    }

    #[test]
    fn unsigned_requests_publish_no_key() {
        let xml = metadata(false).to_xml().unwrap();
        let parsed: EntityDescriptor = xml.parse().unwrap();
        let sp = &parsed.sp_sso_descriptors.unwrap()[0];
        assert_eq!(sp.authn_requests_signed, Some(false));
        assert!(
            sp.key_descriptors.as_ref().is_none_or(Vec::is_empty),
            "{xml}"
        );
    }

    #[test]
    fn a_broken_certificate_is_an_error_not_an_empty_key() {
        let mut m = metadata(true);
        m.signing_cert_pem = "not a certificate";
        assert!(matches!(m.to_xml(), Err(SpMetadataError::Certificate)));
    }

    #[test]
    fn markup_in_urls_is_escaped() {
        let mut m = metadata(false);
        m.entity_id = "https://sts.example.com/\"<x>&";
        let xml = m.to_xml().unwrap();
        assert!(
            xml.contains("entityID=\"https://sts.example.com/&quot;&lt;x&gt;&amp;\""),
            "{xml}"
        );
        let parsed: EntityDescriptor = xml.parse().unwrap();
        assert_eq!(
            parsed.entity_id.as_deref(),
            Some("https://sts.example.com/\"<x>&")
        );
    }
}
