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

use std::sync::atomic::{AtomicUsize, Ordering};

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use samael::crypto::{CertificateDer, Crypto, CryptoProvider, ReduceMode};
use samael::schema::{Assertion, Response};

use super::algorithms::AllowList;
use super::shape::{AssertionShape, SAML_ASSERTION_NS, SAML_PROTOCOL_NS, Shape};
use super::{SamlError, SamlFault, error_text, truncated};

/// The IdP's pinned signing certificates, tried starting with the one that verified last: an IdP
/// signs with one of them at a time (two are listed during a certificate rollover), and every
/// try is a whole samael check (parse, key load, signature), so trying the wrong one first would
/// double the cost of every request until the rollover ends. Only the order of the tries
/// changes; every certificate is still pinned, and none is taken from the message.
#[derive(Debug)]
pub(super) struct PinnedCerts {
    certs: Vec<CertificateDer>,
    last_good: AtomicUsize,
}

impl PinnedCerts {
    pub(super) fn new(certs: Vec<CertificateDer>) -> Self {
        Self {
            certs,
            last_good: AtomicUsize::new(0),
        }
    }

    /// Each certificate with its index, the one that verified last first.
    fn in_trial_order(&self) -> impl Iterator<Item = (usize, &CertificateDer)> {
        let n = self.certs.len();
        let start = self.last_good.load(Ordering::Relaxed);
        (0..n).map(move |k| {
            let i = (start + k) % n;
            (i, &self.certs[i])
        })
    }

    fn verified_with(&self, index: usize) {
        self.last_good.store(index, Ordering::Relaxed);
    }

    /// The certificate the next check tries first.
    #[cfg(test)]
    pub(super) fn first_to_try(&self) -> usize {
        self.last_good.load(Ordering::Relaxed)
    }
}

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
    certs: &PinnedCerts,
    algorithms: &AllowList,
    shape: &Shape,
) -> Result<SignedDocument, SamlError> {
    let expected_assertion_id = shape
        .assertion_id
        .as_deref()
        .ok_or_else(|| structure("an encrypted Assertion where a plain one was expected"))?;
    let reduced = reduce(xml, certs, algorithms)?;
    if shape.response_signed {
        let response = verified_response(&reduced, shape)?;
        let assertion_id = response.assertion.as_ref().map(|a| a.id.as_str());
        check_id(
            "Assertion",
            assertion_id.unwrap_or(""),
            expected_assertion_id,
        )?;
        Ok(SignedDocument::Response(response))
    } else {
        let assertion = verified_assertion(&reduced, expected_assertion_id)?;
        Ok(SignedDocument::Assertion(assertion))
    }
}

/// [`verify`] for a Response whose Assertion is encrypted (`shape` found an EncryptedAssertion,
/// and the Response signed): the verified Response, which holds the EncryptedAssertion and no
/// Assertion, and its verified text, for decryption.
pub(super) fn verify_encrypted(
    xml: &str,
    certs: &PinnedCerts,
    algorithms: &AllowList,
    shape: &Shape,
) -> Result<(Box<Response>, String), SamlError> {
    if !shape.response_signed || shape.assertion_id.is_some() {
        return Err(structure(
            "not a signed Response around an EncryptedAssertion",
        ));
    }
    let reduced = reduce(xml, certs, algorithms)?;
    let response = verified_response(&reduced, shape)?;
    if response.assertion.is_some() || response.encrypted_assertion.is_none() {
        return Err(signature(
            "the verified Response does not hold the one EncryptedAssertion",
        ));
    }
    Ok((response, reduced))
}

/// The plaintext of an EncryptedAssertion, `shape`d: its own signature, if it has one, verified
/// as any other (every signature with a pinned certificate, reduced to the signed Assertion);
/// without one, the plaintext as it is (the signed Response covered its ciphertext).
pub(super) fn verify_decrypted(
    plaintext: &str,
    certs: &PinnedCerts,
    algorithms: &AllowList,
    shape: &AssertionShape,
) -> Result<Box<Assertion>, SamlError> {
    if shape.signed {
        let reduced = reduce(plaintext, certs, algorithms)?;
        verified_assertion(&reduced, &shape.id)
    } else {
        if root_element(plaintext)? != Root::Assertion {
            return Err(structure("the decrypted content is not an Assertion"));
        }
        let assertion: Assertion = plaintext.parse().map_err(|e: Box<dyn std::error::Error>| {
            structure(format!("decrypted Assertion: {}", error_text(&*e)))
        })?;
        check_id("Assertion", &assertion.id, &shape.id)?;
        Ok(Box::new(assertion))
    }
}

/// The verified content as the signed Response, with the ID `shape` read.
fn verified_response(reduced: &str, shape: &Shape) -> Result<Box<Response>, SamlError> {
    if root_element(reduced)? != Root::Response {
        return Err(signature("the verified content is not the Response"));
    }
    let response: Response = reduced
        .parse()
        .map_err(|e| structure(format!("signed Response: {}", error_text(&e))))?;
    check_id("Response", &response.id, &shape.response_id)?;
    Ok(Box::new(response))
}

/// The verified content as the signed Assertion, with the ID `expected_id`.
fn verified_assertion(reduced: &str, expected_id: &str) -> Result<Box<Assertion>, SamlError> {
    if root_element(reduced)? != Root::Assertion {
        return Err(signature("the verified content is not the Assertion"));
    }
    let assertion: Assertion = reduced.parse().map_err(|e: Box<dyn std::error::Error>| {
        structure(format!("signed Assertion: {}", error_text(&*e)))
    })?;
    check_id("Assertion", &assertion.id, expected_id)?;
    Ok(Box::new(assertion))
}

/// samael's verification and reduction to the signed subtree, with one pinned certificate at a
/// time: samael tries the certificates it is given in turn, but gives up at the first one whose
/// key type does not fit the signature (an RSA certificate for an ECDSA signature is an error,
/// not a mismatch). Every signature of the document must verify with the same certificate.
/// samael gets the IdP's allow-list unless it holds a SHA-1 method samael cannot name; `shape`
/// enforces the list on every signature either way.
pub(super) fn reduce(
    xml: &str,
    certs: &PinnedCerts,
    algorithms: &AllowList,
) -> Result<String, SamlError> {
    let allowed = algorithms.samael();
    let mut failures = Vec::with_capacity(certs.certs.len());
    for (i, cert) in certs.in_trial_order() {
        match Crypto::reduce_xml_to_signed_with_allowed_algorithms(
            xml,
            std::slice::from_ref(cert),
            ReduceMode::ValidateAndMarkNoAncestors,
            allowed,
        ) {
            Ok(reduced) => {
                certs.verified_with(i);
                return Ok(reduced);
            }
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
