//! IdP metadata (SAML Metadata §2.3.2, §2.4.1, §2.4.3): the entityID and signing certificates to
//! pin, and how long they may be used. The document comes from the operator's configuration (a
//! file, or a URL fetched over https); its own signature, if any, is not checked (it is trusted
//! as configuration is).

use std::time::{Duration, SystemTime};

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use samael::crypto::decode_x509_cert;
use samael::metadata::{EntityDescriptor, IdpSsoDescriptor, KeyDescriptor};

use super::{SamlError, error_text, guard, truncated};

/// Largest metadata document accepted (one entity; aggregates are refused).
pub(crate) const MAX_METADATA_LEN: usize = 1 << 20;
const METADATA_NS: &[u8] = b"urn:oasis:names:tc:SAML:2.0:metadata";
const SAML2_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";

/// What [`parse_metadata`] reads from an IdP's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpMetadata {
    /// The IdP's entityID: the Issuer of its responses and assertions.
    pub entity_id: String,
    /// DER of every signing certificate (several during a key rollover). A signature is
    /// accepted when one of these verifies it.
    pub signing_certs_der: Vec<Vec<u8>>,
    /// The earliest `validUntil` of the document: from then on it must not be used.
    pub valid_until: Option<SystemTime>,
    /// The shortest `cacheDuration`: how long the document may be cached before a refresh.
    pub cache_duration: Option<Duration>,
    /// The `Location` of the first `SingleSignOnService` with the HTTP-Redirect binding
    /// (SAML bindings §3.4), where an AuthnRequest is sent; `None` when the IdP offers none.
    pub sso_redirect_url: Option<String>,
}

/// The HTTP-Redirect binding's URI (SAML bindings §3.4).
pub const HTTP_REDIRECT_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";

/// Read an IdP's metadata.
/// 1. at most 1 MiB, and the same XML hygiene as responses (no DTD, UTF-8, depth at most 32);
/// 2. the root is one `md:EntityDescriptor` with a non-empty `entityID` (an `EntitiesDescriptor`
///    aggregate is refused: configure one file per IdP);
/// 3. exactly one `IDPSSODescriptor`, and it supports the SAML 2.0 protocol (§2.4.1);
/// 4. the signing certificates: every `KeyDescriptor` whose `use` is `signing` or absent
///    (absent means both uses, §2.4.1.1), each with exactly one `X509Certificate` (a chain would
///    pin its CA keys too), each base64 of a DER `SEQUENCE`; duplicates once; at least one;
/// 5. `validUntil`: the earlier of the EntityDescriptor's and the IDPSSODescriptor's, if any
///    (§2.3.2, §2.4.1); the EntityDescriptor's `cacheDuration`, an `xs:duration` (one that does
///    not parse is ignored: the configured refresh interval applies);
/// 6. the first HTTP-Redirect `SingleSignOnService` whose `Location` is an http(s) URL, if any
///    (§2.4.3).
///
/// The caller decides what an expired `validUntil` means; nothing here reads the clock.
pub fn parse_metadata(xml: &str) -> Result<IdpMetadata, SamlError> {
    if xml.len() > MAX_METADATA_LEN {
        return Err(config(format!(
            "metadata of {} bytes exceeds {MAX_METADATA_LEN}",
            xml.len()
        )));
    }
    guard::check(xml, guard::MAX_DEPTH).map_err(config)?;
    check_root(xml)?;
    let descriptor: EntityDescriptor = xml
        .parse()
        .map_err(|e| config(format!("not SAML metadata: {}", error_text(&e))))?;
    let entity_id = descriptor
        .entity_id
        .clone()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| config("EntityDescriptor without entityID".to_owned()))?;
    let idp = idp_descriptor(&descriptor)?;
    let certs = signing_certificates(&idp.key_descriptors)?;
    let valid_until = [descriptor.valid_until, idp.valid_until]
        .into_iter()
        .flatten()
        .map(SystemTime::from)
        .min();
    let cache_duration = descriptor
        .cache_duration
        .as_deref()
        .and_then(parse_duration);
    let sso_redirect_url = idp
        .single_sign_on_services
        .iter()
        .filter(|s| s.binding == HTTP_REDIRECT_BINDING)
        .map(|s| s.location.trim())
        .find(|l| {
            reqwest::Url::parse(l)
                .is_ok_and(|u| matches!(u.scheme(), "https" | "http") && u.host_str().is_some())
        })
        .map(str::to_owned);
    Ok(IdpMetadata {
        entity_id,
        signing_certs_der: certs,
        valid_until,
        cache_duration,
        sso_redirect_url,
    })
}

/// An `xs:duration` (XML Schema 2 §3.2.6) such as `PT1H` or `P1DT12H`, years counted as 365
/// days and months as 30 (only ever compared with a refresh interval of at most a day);
/// fractions of a second dropped. Negative or malformed durations are `None`.
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let rest = text.trim().strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((date, time)) if !time.is_empty() => (date, Some(time)),
        Some(_) => return None,
        None => (rest, None),
    };
    if date.is_empty() && time.is_none() {
        return None;
    }
    let mut seconds = fields(
        date,
        &[('Y', 365 * 86_400), ('M', 30 * 86_400), ('D', 86_400)],
    )?;
    if let Some(time) = time {
        seconds = seconds.checked_add(fields(time, &[('H', 3600), ('M', 60), ('S', 1)])?)?;
    }
    Some(Duration::from_secs(seconds))
}

/// `nUnX...` with the units in this order, each at most once; seconds may have a fraction.
fn fields(mut text: &str, units: &[(char, u64)]) -> Option<u64> {
    let mut total = 0u64;
    let mut units = units.iter();
    while !text.is_empty() {
        let end = text.find(|c: char| !c.is_ascii_digit() && c != '.')?;
        let (number, rest) = text.split_at(end);
        let unit = rest.chars().next()?;
        let &(_, scale) = units.find(|(u, _)| *u == unit)?;
        let whole = match number.split_once('.') {
            Some((whole, fraction))
                if unit == 'S' && fraction.bytes().all(|b| b.is_ascii_digit()) =>
            {
                whole
            }
            Some(_) => return None,
            None => number,
        };
        if whole.is_empty() {
            return None;
        }
        total = total.checked_add(whole.parse::<u64>().ok()?.checked_mul(scale)?)?;
        text = &rest[unit.len_utf8()..];
    }
    Some(total)
}

fn check_root(xml: &str) -> Result<(), SamlError> {
    let mut reader = NsReader::from_str(xml);
    loop {
        match reader.read_resolved_event() {
            Ok((ns, Event::Start(start) | Event::Empty(start))) => {
                let local = start.local_name();
                return match (ns, local.as_ref()) {
                    (ResolveResult::Bound(ns), b"EntityDescriptor")
                        if ns.as_ref() == METADATA_NS =>
                    {
                        Ok(())
                    }
                    _ => Err(config(format!(
                        "the root is <{}>, not one md:EntityDescriptor",
                        truncated(&String::from_utf8_lossy(local.as_ref()))
                    ))),
                };
            }
            Ok((_, Event::Eof)) => return Err(config("no root element".to_owned())),
            Ok(_) => {}
            Err(e) => return Err(config(format!("not well-formed XML: {e}"))),
        }
    }
}

fn idp_descriptor(descriptor: &EntityDescriptor) -> Result<&IdpSsoDescriptor, SamlError> {
    let [idp] = descriptor.idp_sso_descriptors.as_deref().unwrap_or(&[]) else {
        return Err(config(
            "not exactly one IDPSSODescriptor: is this an IdP's metadata?".to_owned(),
        ));
    };
    let saml2 = idp
        .protocol_support_enumeration
        .as_deref()
        .is_some_and(|list| list.split_ascii_whitespace().any(|p| p == SAML2_PROTOCOL));
    if !saml2 {
        return Err(config(
            "the IDPSSODescriptor does not support SAML 2.0".to_owned(),
        ));
    }
    Ok(idp)
}

fn signing_certificates(key_descriptors: &[KeyDescriptor]) -> Result<Vec<Vec<u8>>, SamlError> {
    let mut certs: Vec<Vec<u8>> = Vec::new();
    for (i, key) in key_descriptors.iter().enumerate() {
        if !matches!(key.key_use.as_deref(), None | Some("signing")) {
            continue;
        }
        let encoded = match key
            .key_info
            .x509_data
            .as_ref()
            .map(|d| d.certificates.as_slice())
        {
            Some([one]) => one,
            _ => {
                return Err(config(format!(
                    "signing KeyDescriptor {i} does not hold exactly one X509Certificate"
                )));
            }
        };
        let der = decode_x509_cert(encoded)
            .map_err(|e| config(format!("signing certificate {i} is not base64: {e}")))?
            .der_data()
            .to_vec();
        if !is_der_sequence(&der) {
            return Err(config(format!("signing certificate {i} is not DER")));
        }
        if !certs.contains(&der) {
            certs.push(der);
        }
    }
    if certs.is_empty() {
        return Err(config("no signing certificate".to_owned()));
    }
    Ok(certs)
}

/// Whether `der` is one DER `SEQUENCE` (tag 0x30, definite length) spanning all of it, as an
/// X.509 certificate is (RFC 5280 §4.1). The key itself is parsed by xmlsec on use; a
/// certificate it cannot read verifies nothing (fail closed).
pub(super) fn is_der_sequence(der: &[u8]) -> bool {
    let [0x30, first, rest @ ..] = der else {
        return false;
    };
    if first & 0x80 == 0 {
        return usize::from(*first) == rest.len() && !rest.is_empty();
    }
    let octets = usize::from(first & 0x7f);
    if octets == 0 || octets > 4 || rest.len() < octets {
        return false;
    }
    let (length, body) = rest.split_at(octets);
    let length = length
        .iter()
        .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
    length == body.len() && length > 0
}

fn config(detail: String) -> SamlError {
    SamlError::Config(format!("metadata: {detail}"))
}
