//! The shape of the unverified document: where the Assertion and the signatures sit, and which
//! algorithms the signatures name.
//!
//! Nothing read here is trusted: [`Shape::read`] only refuses documents no IdP sends, the
//! signature-wrapping layouts among them (the Assertion moved into Extensions, an Object, another
//! Assertion; a second or evil Assertion beside the signed one; duplicate IDs). What is accepted
//! is decided on samael's verified output alone (`signed`), which also drops unsigned content on
//! its own: this is the second, independent line of defence, and the one that catches a signature
//! that points elsewhere, external references, or transforms that could select anything.

use std::collections::HashSet;

use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;

use super::algorithms::AllowList;
use super::{SamlError, SamlFault, truncated};

pub(super) const SAML_PROTOCOL_NS: &[u8] = b"urn:oasis:names:tc:SAML:2.0:protocol";
pub(super) const SAML_ASSERTION_NS: &[u8] = b"urn:oasis:names:tc:SAML:2.0:assertion";
const XML_DSIG_NS: &[u8] = b"http://www.w3.org/2000/09/xmldsig#";

/// Canonicalization methods (XML-DSig §6.5; SAML Core §5.4.3): exclusive and inclusive c14n 1.0.
const CANONICALIZATIONS: [&str; 4] = [
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments",
];
/// The enveloped-signature transform (XML-DSig §6.6.4); with the canonicalizations, the only
/// transforms a SAML signature may use (SAML Core §5.4.4). No XPath or XSLT.
const ENVELOPED_SIGNATURE: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
/// Where the parts of a response sit. Whether the Response is signed says which verified
/// subtree to expect from samael (else only the Assertion is); the IDs tie that subtree back to
/// this document.
#[derive(Debug)]
pub(super) struct Shape {
    pub(super) response_id: String,
    /// The Assertion's ID; `None` when the Assertion is encrypted (its ID is in the ciphertext).
    pub(super) assertion_id: Option<String>,
    pub(super) response_signed: bool,
}

/// Where the parts of a decrypted Assertion sit.
#[derive(Debug)]
pub(super) struct AssertionShape {
    pub(super) id: String,
    pub(super) signed: bool,
}

/// What the document's root must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Root {
    /// A `samlp:Response`, its Assertion a direct child (depth 1).
    Response,
    /// A `saml:Assertion` alone (the plaintext of an EncryptedAssertion).
    Assertion,
}

impl Root {
    /// The depth of the Assertion element.
    fn assertion_depth(self) -> usize {
        match self {
            Self::Response => 1,
            Self::Assertion => 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ns {
    Protocol,
    Assertion,
    Dsig,
    Other,
}

/// An open element.
struct Frame {
    ns: Ns,
    local: String,
}

/// The parts of the `ds:Signature` being read that decide what it signs and how.
struct SignatureParts {
    /// Stack depth of the Signature element (its parent is `stack[depth - 1]`).
    depth: usize,
    /// The ID of the element it must sign: its parent's.
    target_id: String,
    signed_infos: usize,
    canonicalizations: Vec<String>,
    signature_methods: Vec<String>,
    references: Vec<ReferenceParts>,
}

struct ReferenceParts {
    uri: Option<String>,
    transforms: Vec<String>,
    digest_methods: Vec<String>,
}

struct Reading<'a> {
    reader: NsReader<&'a [u8]>,
    algorithms: &'a AllowList,
    root: Root,
    /// An EncryptedAssertion may stand in for the Assertion (a decryption key is configured).
    allow_encrypted: bool,
    encrypted: bool,
    stack: Vec<Frame>,
    ids: HashSet<String>,
    response_id: Option<String>,
    assertion_id: Option<String>,
    response_signed: bool,
    assertion_signed: bool,
    signature: Option<SignatureParts>,
}

impl Shape {
    /// Read the document (already through `guard`) and refuse it unless:
    /// 1. the root is `samlp:Response` with an `ID` (SAML Core §3.2.2);
    /// 2. there is no `EncryptedAssertion` ([`SamlFault::Encrypted`]), unless `allow_encrypted`
    ///    (a decryption key is configured): then one may stand in for the Assertion, in the SAML
    ///    assertion namespace, a direct child of the Response (SAML Core §2.3.4), and the
    ///    Response must be signed ([`SamlFault::Signature`]): the ciphertext is then covered by
    ///    a pinned signature, and nothing unsigned is ever decrypted;
    /// 3. no other element named `Response`, and exactly one named `Assertion` (or the
    ///    EncryptedAssertion): in the SAML assertion namespace, a direct child of the Response,
    ///    with an `ID` (SAML Core §2.3.3, Profiles §4.1.4.2);
    /// 4. no two ID-like attributes (`ID`, `Id`, `id`, `xml:id`, any prefix) share a value, and
    ///    no element has two (XML-DSig §4.4.3.3 same-document references);
    /// 5. no comment inside the root (a comment splits a text node: NameID truncation);
    /// 6. every `ds:Signature` is a direct child of the Response or of the Assertion, at most one
    ///    each, and none holds a `ds:Object` or `ds:Manifest`;
    /// 7. each has one `ds:SignedInfo` with one `ds:Reference` whose URI is `#` + the parent's ID
    ///    (SAML Core §5.4.2), transforms among enveloped-signature and c14n (§5.4.4), and
    ///    canonicalization among the c14n methods, and signature and digest methods in the IdP's
    ///    allow-list;
    /// 8. the Response or the Assertion (or both) carries a signature.
    pub(super) fn read(
        xml: &str,
        algorithms: &AllowList,
        allow_encrypted: bool,
    ) -> Result<Self, SamlError> {
        let mut reading = Reading::new(xml, algorithms, Root::Response, allow_encrypted);
        reading.read_all()?;
        let encrypted = reading.encrypted;
        let (Some(response_id), assertion_id) = (reading.response_id, reading.assertion_id) else {
            return Err(structure("the Response has no ID"));
        };
        if encrypted {
            if !reading.response_signed {
                return Err(SamlError::invalid(
                    SamlFault::Signature,
                    "an EncryptedAssertion in a Response that is not signed",
                ));
            }
        } else if assertion_id.is_none() {
            return Err(structure("no Assertion in the Response"));
        } else if !reading.response_signed && !reading.assertion_signed {
            return Err(SamlError::invalid(
                SamlFault::Signature,
                "neither the Response nor the Assertion is signed",
            ));
        }
        Ok(Shape {
            response_id,
            assertion_id,
            response_signed: reading.response_signed,
        })
    }

    /// The same rules for the plaintext of an EncryptedAssertion: the root is one
    /// `saml:Assertion` with an `ID`, signed or not (the Response around its ciphertext was);
    /// a signature on it follows rules 4-7.
    pub(super) fn read_assertion(
        xml: &str,
        algorithms: &AllowList,
    ) -> Result<AssertionShape, SamlError> {
        let mut reading = Reading::new(xml, algorithms, Root::Assertion, false);
        reading.read_all()?;
        let id = reading
            .assertion_id
            .ok_or_else(|| structure("the decrypted Assertion has no ID"))?;
        Ok(AssertionShape {
            id,
            signed: reading.assertion_signed,
        })
    }
}

impl<'a> Reading<'a> {
    fn new(xml: &'a str, algorithms: &'a AllowList, root: Root, allow_encrypted: bool) -> Self {
        Reading {
            reader: NsReader::from_str(xml),
            algorithms,
            root,
            allow_encrypted,
            encrypted: false,
            stack: Vec::new(),
            ids: HashSet::new(),
            response_id: None,
            assertion_id: None,
            response_signed: false,
            assertion_signed: false,
            signature: None,
        }
    }

    fn read_all(&mut self) -> Result<(), SamlError> {
        loop {
            let (ns, event) = self
                .reader
                .read_resolved_event()
                .map_err(|e| malformed(format!("not well-formed XML: {e}")))?;
            let ns = match ns {
                ResolveResult::Bound(ns) if ns.as_ref() == SAML_PROTOCOL_NS => Ns::Protocol,
                ResolveResult::Bound(ns) if ns.as_ref() == SAML_ASSERTION_NS => Ns::Assertion,
                ResolveResult::Bound(ns) if ns.as_ref() == XML_DSIG_NS => Ns::Dsig,
                ResolveResult::Unknown(prefix) => {
                    return Err(malformed(format!(
                        "undeclared namespace prefix {:?}",
                        truncated(&String::from_utf8_lossy(&prefix))
                    )));
                }
                ResolveResult::Bound(_) | ResolveResult::Unbound => Ns::Other,
            };
            match event {
                Event::Start(start) => {
                    self.open(ns, &start)?;
                }
                Event::Empty(start) => {
                    self.open(ns, &start)?;
                    self.close()?;
                }
                Event::End(_) => self.close()?,
                Event::Comment(_) if !self.stack.is_empty() => {
                    return Err(structure("a comment inside the message"));
                }
                Event::Eof => return Ok(()),
                _ => {}
            }
        }
    }

    fn open(&mut self, ns: Ns, start: &BytesStart<'_>) -> Result<(), SamlError> {
        let local = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
        self.record_ids(start)?;
        let depth = self.stack.len();
        if depth == 0 {
            let expected = match self.root {
                Root::Response => (Ns::Protocol, "Response"),
                Root::Assertion => (Ns::Assertion, "Assertion"),
            };
            if (ns, local.as_str()) != expected {
                return Err(structure(format!(
                    "the root is <{}>, not a {}",
                    truncated(&local),
                    expected.1
                )));
            }
            if self.root == Root::Response {
                self.response_id = Some(self.required_id(start, "Response")?);
            }
        } else if local == "Response" {
            return Err(structure("a Response inside the message"));
        }
        if local == "EncryptedAssertion" {
            self.open_encrypted_assertion(ns, depth)?;
        }
        if local == "Assertion" {
            self.open_assertion(ns, depth, start)?;
        }
        if ns == Ns::Dsig {
            self.open_dsig(&local, depth, start)?;
        }
        self.stack.push(Frame { ns, local });
        Ok(())
    }

    fn open_assertion(
        &mut self,
        ns: Ns,
        depth: usize,
        start: &BytesStart<'_>,
    ) -> Result<(), SamlError> {
        if ns != Ns::Assertion {
            return Err(structure(
                "an Assertion outside the SAML assertion namespace",
            ));
        }
        if self.assertion_id.is_some() {
            return Err(structure("more than one Assertion"));
        }
        if self.encrypted {
            return Err(structure("an Assertion beside an EncryptedAssertion"));
        }
        if depth != self.root.assertion_depth() {
            let parent = self.stack.last().map_or("", |f| f.local.as_str());
            return Err(structure(format!(
                "the Assertion is inside <{}>, not directly in the Response",
                truncated(parent)
            )));
        }
        self.assertion_id = Some(self.required_id(start, "Assertion")?);
        Ok(())
    }

    /// Rule 2 of [`Shape::read`].
    fn open_encrypted_assertion(&mut self, ns: Ns, depth: usize) -> Result<(), SamlError> {
        if !self.allow_encrypted {
            return Err(SamlError::invalid(
                SamlFault::Encrypted,
                "an EncryptedAssertion, and no decryption key is configured",
            ));
        }
        if ns != Ns::Assertion {
            return Err(structure(
                "an EncryptedAssertion outside the SAML assertion namespace",
            ));
        }
        if self.encrypted || self.assertion_id.is_some() {
            return Err(structure("more than one Assertion or EncryptedAssertion"));
        }
        if depth != 1 {
            return Err(structure(
                "the EncryptedAssertion is not directly in the Response",
            ));
        }
        self.encrypted = true;
        Ok(())
    }

    fn open_dsig(
        &mut self,
        local: &str,
        depth: usize,
        start: &BytesStart<'_>,
    ) -> Result<(), SamlError> {
        if local == "Signature" {
            return self.open_signature(depth);
        }
        if matches!(local, "Object" | "Manifest") {
            return Err(structure(format!("a ds:{local} in the message")));
        }
        if self.signature.is_none() {
            return Ok(());
        }
        let part = match local {
            "SignedInfo" if self.inside(&["Signature"]) => Part::SignedInfo,
            "CanonicalizationMethod" if self.inside(&["Signature", "SignedInfo"]) => {
                Part::Canonicalization(self.algorithm(start)?)
            }
            "SignatureMethod" if self.inside(&["Signature", "SignedInfo"]) => {
                Part::SignatureMethod(self.algorithm(start)?)
            }
            "Reference" if self.inside(&["Signature", "SignedInfo"]) => {
                Part::Reference(self.attribute(start, b"URI")?)
            }
            "Transform" if self.inside(&["SignedInfo", "Reference", "Transforms"]) => {
                Part::Transform(self.algorithm(start)?)
            }
            "DigestMethod" if self.inside(&["SignedInfo", "Reference"]) => {
                Part::DigestMethod(self.algorithm(start)?)
            }
            _ => return Ok(()),
        };
        if let Some(signature) = self.signature.as_mut() {
            signature.add(part);
        }
        Ok(())
    }

    /// A `ds:Signature` directly in the Response or in the Assertion, the first there.
    fn open_signature(&mut self, depth: usize) -> Result<(), SamlError> {
        if self.signature.is_some() {
            return Err(structure("a ds:Signature inside another"));
        }
        let parent = self.stack.last().map(|f| (f.ns, f.local.as_str()));
        let assertion_child = self.root.assertion_depth() + 1;
        let (target_id, already) = match (depth, parent) {
            (1, Some((Ns::Protocol, "Response"))) if self.root == Root::Response => {
                (self.response_id.clone(), &mut self.response_signed)
            }
            (d, Some((Ns::Assertion, "Assertion"))) if d == assertion_child => {
                (self.assertion_id.clone(), &mut self.assertion_signed)
            }
            (_, parent) => {
                return Err(structure(format!(
                    "a ds:Signature inside <{}>, not directly in the Response or the Assertion",
                    truncated(parent.map_or("", |(_, local)| local))
                )));
            }
        };
        if *already {
            return Err(structure("two signatures on one element"));
        }
        *already = true;
        self.signature = Some(SignatureParts {
            depth: depth + 1,
            target_id: target_id.unwrap_or_default(),
            signed_infos: 0,
            canonicalizations: Vec::new(),
            signature_methods: Vec::new(),
            references: Vec::new(),
        });
        Ok(())
    }

    fn close(&mut self) -> Result<(), SamlError> {
        self.stack.pop();
        match self.signature.take() {
            Some(signature) if signature.depth > self.stack.len() => {
                signature.check(self.algorithms)
            }
            other => {
                self.signature = other;
                Ok(())
            }
        }
    }

    /// Whether the innermost open elements are these `ds:` elements, outermost first.
    fn inside(&self, names: &[&str]) -> bool {
        self.stack.len() >= names.len()
            && self.stack[self.stack.len() - names.len()..]
                .iter()
                .zip(names)
                .all(|(frame, name)| frame.ns == Ns::Dsig && frame.local == *name)
    }

    /// Every ID-like attribute value is unique in the document, one per element at most.
    fn record_ids(&mut self, start: &BytesStart<'_>) -> Result<(), SamlError> {
        let mut on_this_element = 0;
        for attribute in start.attributes() {
            let attribute = attribute.map_err(|e| malformed(format!("bad attribute: {e}")))?;
            if !matches!(attribute.key.local_name().as_ref(), b"ID" | b"Id" | b"id") {
                continue;
            }
            on_this_element += 1;
            if on_this_element > 1 {
                return Err(structure("an element with two ID attributes"));
            }
            let value = attribute
                .decode_and_unescape_value(self.reader.decoder())
                .map_err(|e| malformed(format!("bad attribute value: {e}")))?;
            if !self.ids.insert(value.to_string()) {
                return Err(structure(format!("duplicate ID {:?}", truncated(&value))));
            }
        }
        Ok(())
    }

    fn required_id(&self, start: &BytesStart<'_>, element: &str) -> Result<String, SamlError> {
        match self.attribute(start, b"ID")? {
            Some(id) if !id.is_empty() => Ok(id),
            _ => Err(structure(format!("the {element} has no ID"))),
        }
    }

    fn algorithm(&self, start: &BytesStart<'_>) -> Result<String, SamlError> {
        Ok(self.attribute(start, b"Algorithm")?.unwrap_or_default())
    }

    /// The value of the unprefixed attribute `name`.
    fn attribute(&self, start: &BytesStart<'_>, name: &[u8]) -> Result<Option<String>, SamlError> {
        let attribute = start
            .try_get_attribute(name)
            .map_err(|e| malformed(format!("bad attribute: {e}")))?;
        attribute
            .map(|a| {
                a.decode_and_unescape_value(self.reader.decoder())
                    .map(|v| v.into_owned())
                    .map_err(|e| malformed(format!("bad attribute value: {e}")))
            })
            .transpose()
    }
}

/// The `ID` of the first `saml:Assertion` element, nothing checked: for [`super::peek_assertion_id`].
pub(super) fn first_assertion_id(xml: &str) -> Option<String> {
    let mut reader = NsReader::from_str(xml);
    loop {
        match reader.read_resolved_event().ok()? {
            (ResolveResult::Bound(ns), Event::Start(start) | Event::Empty(start))
                if ns.as_ref() == SAML_ASSERTION_NS
                    && start.local_name().as_ref() == b"Assertion" =>
            {
                let id = start.try_get_attribute(b"ID").ok()??;
                return id
                    .decode_and_unescape_value(reader.decoder())
                    .ok()
                    .map(|v| v.into_owned())
                    .filter(|v| !v.is_empty());
            }
            (_, Event::Eof) => return None,
            _ => {}
        }
    }
}

/// The text of the first `saml:Issuer` element (the Response's own, which SAML puts first, else
/// the Assertion's), nothing checked: for [`super::peek_issuer`].
pub(super) fn first_issuer(xml: &str) -> Option<String> {
    let mut reader = NsReader::from_str(xml);
    loop {
        match reader.read_resolved_event().ok()? {
            (ResolveResult::Bound(ns), Event::Start(start))
                if ns.as_ref() == SAML_ASSERTION_NS && start.local_name().as_ref() == b"Issuer" =>
            {
                let text = reader.read_text(start.name()).ok()?;
                let issuer = quick_xml::escape::unescape(&text).ok()?.trim().to_owned();
                return (!issuer.is_empty()).then_some(issuer);
            }
            (_, Event::Eof) => return None,
            _ => {}
        }
    }
}

/// A piece of a signature that decides what it signs and how.
enum Part {
    SignedInfo,
    Canonicalization(String),
    SignatureMethod(String),
    Reference(Option<String>),
    Transform(String),
    DigestMethod(String),
}

impl SignatureParts {
    fn add(&mut self, part: Part) {
        match part {
            Part::SignedInfo => self.signed_infos += 1,
            Part::Canonicalization(a) => self.canonicalizations.push(a),
            Part::SignatureMethod(a) => self.signature_methods.push(a),
            Part::Reference(uri) => self.references.push(ReferenceParts {
                uri,
                transforms: Vec::new(),
                digest_methods: Vec::new(),
            }),
            Part::Transform(a) => {
                if let Some(r) = self.references.last_mut() {
                    r.transforms.push(a);
                }
            }
            Part::DigestMethod(a) => {
                if let Some(r) = self.references.last_mut() {
                    r.digest_methods.push(a);
                }
            }
        }
    }

    /// Rules 7 of [`Shape::read`], once the whole Signature has been read.
    fn check(self, algorithms: &AllowList) -> Result<(), SamlError> {
        if self.signed_infos != 1 {
            return Err(structure("a ds:Signature without exactly one SignedInfo"));
        }
        let [reference] = self.references.as_slice() else {
            return Err(structure(format!(
                "a ds:Signature with {} References instead of one",
                self.references.len()
            )));
        };
        let expected = format!("#{}", self.target_id);
        if reference.uri.as_deref() != Some(expected.as_str()) {
            return Err(structure(format!(
                "a ds:Reference to {:?} instead of its parent {:?}",
                truncated(reference.uri.as_deref().unwrap_or("")),
                truncated(&expected)
            )));
        }
        one_of(&self.canonicalizations, "canonicalization", |a| {
            CANONICALIZATIONS.contains(&a)
        })?;
        one_of(&self.signature_methods, "signature", |a| {
            algorithms.allows_signature(a)
        })?;
        one_of(&reference.digest_methods, "digest", |a| {
            algorithms.allows_digest(a)
        })?;
        if let Some(t) = reference
            .transforms
            .iter()
            .find(|t| t.as_str() != ENVELOPED_SIGNATURE && !CANONICALIZATIONS.contains(&t.as_str()))
        {
            return Err(algorithm(format!(
                "transform {:?} is not allowed",
                truncated(t)
            )));
        }
        Ok(())
    }
}

/// Exactly one algorithm of this kind, and an allowed one.
fn one_of(found: &[String], kind: &str, allowed: impl Fn(&str) -> bool) -> Result<(), SamlError> {
    match found {
        [a] if allowed(a) => Ok(()),
        [a] => Err(algorithm(format!(
            "{kind} method {:?} is not allowed",
            truncated(a)
        ))),
        _ => Err(structure(format!(
            "{} {kind} methods instead of one",
            found.len()
        ))),
    }
}

fn malformed(detail: impl Into<String>) -> SamlError {
    SamlError::invalid(SamlFault::Malformed, detail)
}

fn structure(detail: impl Into<String>) -> SamlError {
    SamlError::invalid(SamlFault::Structure, detail)
}

fn algorithm(detail: impl Into<String>) -> SamlError {
    SamlError::invalid(SamlFault::Algorithm, detail)
}
