//! Signature verification with samael, and the signed subtree it returns.
//!
//! samael's `reduce_xml_to_signed_with_allowed_algorithms` (xmlsec1 underneath):
//! - verifies *every* `ds:Signature` of the document with the given certificate set as the
//!   verification key, so KeyInfo in the message is never consulted; one signature that does
//!   not verify fails the whole document;
//! - with an allow-list, refuses a signature or digest method outside it before verifying;
//! - refuses duplicate or malformed `ID` values;
//! - in [`ReduceMode::ValidateAndMarkNoAncestors`], returns a new document holding only what the
//!   verified references covered, rooted at the signed element (unsigned ancestors, siblings
//!   and attributes removed), matched node by node against xmlsec's pre-digest data.
//!
//! `verify_signed_xml` is never used: it checks only the first signature it finds.

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use samael::crypto::{CertificateDer, Crypto, CryptoProvider, ReduceMode};
use samael::schema::{Assertion, Response};

use super::algorithms::AllowList;
use super::shape::{SAML_ASSERTION_NS, SAML_PROTOCOL_NS, Shape};
use super::{SamlError, SamlFault, error_text, truncated};

/// The verified subtree, parsed with samael's schema types: nothing else of the message is
/// read after this point (except the unsigned envelope, for refusals only).
pub(super) enum SignedDocument {
    /// The Response was signed: it and everything in it, its one Assertion included.
    Response(Box<Response>),
    /// Only the Assertion was signed.
    Assertion(Box<Assertion>),
}

/// Verify every signature with the pinned certificates and parse what they cover:
/// 1. samael reduces the document to its verified content (see the module documentation);
/// 2. that content's root is the element `shape` found signed: the Response when it carries a
///    signature, else the Assertion (XML-DSig §4.4.3.3: the reference names the signed element);
/// 3. it parses as samael's `Response` / `Assertion`, and its IDs are the ones `shape` read, so
///    the checks that follow see the same Response and Assertion the structure checks did.
pub(super) fn verify(
    xml: &str,
    certs: &[CertificateDer],
    algorithms: &AllowList,
    shape: &Shape,
) -> Result<SignedDocument, SamlError> {
    let reduced = reduce(xml, certs, algorithms)?;
    let root = root_element(&reduced)?;
    if shape.response_signed {
        if root != Root::Response {
            return Err(signature("the verified content is not the Response"));
        }
        let response: Response = reduced
            .parse()
            .map_err(|e| structure(format!("signed Response: {}", error_text(&e))))?;
        check_id("Response", &response.id, &shape.response_id)?;
        let assertion_id = response.assertion.as_ref().map(|a| a.id.as_str());
        check_id("Assertion", assertion_id.unwrap_or(""), &shape.assertion_id)?;
        Ok(SignedDocument::Response(Box::new(response)))
    } else {
        if root != Root::Assertion {
            return Err(signature("the verified content is not the Assertion"));
        }
        let assertion: Assertion = reduced.parse().map_err(|e: Box<dyn std::error::Error>| {
            structure(format!("signed Assertion: {}", error_text(&*e)))
        })?;
        check_id("Assertion", &assertion.id, &shape.assertion_id)?;
        Ok(SignedDocument::Assertion(Box::new(assertion)))
    }
}

/// samael's verification and reduction to the signed subtree, with one pinned certificate at a
/// time: samael tries the certificates it is given in turn, but gives up at the first one whose
/// key type does not fit the signature (an RSA certificate for an ECDSA signature is an error,
/// not a mismatch). Every signature of the document must verify with the same certificate.
/// samael gets the IdP's allow-list unless it holds a SHA-1 method samael cannot name; `shape`
/// enforces the list on every signature either way.
pub(super) fn reduce(
    xml: &str,
    certs: &[CertificateDer],
    algorithms: &AllowList,
) -> Result<String, SamlError> {
    let allowed = algorithms.samael();
    let mut failures = Vec::with_capacity(certs.len());
    for (i, cert) in certs.iter().enumerate() {
        match Crypto::reduce_xml_to_signed_with_allowed_algorithms(
            xml,
            std::slice::from_ref(cert),
            ReduceMode::ValidateAndMarkNoAncestors,
            allowed,
        ) {
            Ok(reduced) => return Ok(reduced),
            Err(e) => failures.push(format!("certificate {i}: {}", error_text(&e))),
        }
    }
    Err(signature(format!(
        "no pinned certificate verifies every signature ({})",
        failures.join("; ")
    )))
}

#[derive(Debug, PartialEq, Eq)]
enum Root {
    Response,
    Assertion,
    Other,
}

fn root_element(xml: &str) -> Result<Root, SamlError> {
    let mut reader = NsReader::from_str(xml);
    loop {
        match reader.read_resolved_event() {
            Ok((ns, Event::Start(start) | Event::Empty(start))) => {
                let local = start.local_name();
                return Ok(match (ns, local.as_ref()) {
                    (ResolveResult::Bound(ns), b"Response") if ns.as_ref() == SAML_PROTOCOL_NS => {
                        Root::Response
                    }
                    (ResolveResult::Bound(ns), b"Assertion")
                        if ns.as_ref() == SAML_ASSERTION_NS =>
                    {
                        Root::Assertion
                    }
                    _ => Root::Other,
                });
            }
            Ok((_, Event::Eof)) => return Err(signature("no verified content")),
            Ok(_) => {}
            Err(e) => return Err(structure(format!("verified content: {e}"))),
        }
    }
}

fn check_id(element: &str, verified: &str, expected: &str) -> Result<(), SamlError> {
    if verified == expected {
        Ok(())
    } else {
        Err(signature(format!(
            "the verified {element} has ID {:?}, the message's is {:?}",
            truncated(verified),
            truncated(expected)
        )))
    }
}

fn signature(detail: impl Into<String>) -> SamlError {
    SamlError::invalid(SamlFault::Signature, detail)
}

fn structure(detail: impl Into<String>) -> SamlError {
    SamlError::invalid(SamlFault::Structure, detail)
}
