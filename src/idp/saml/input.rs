//! The `SAMLAssertion` parameter: bounded base64 to a UTF-8 document.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::{SamlError, SamlFault};

/// `SAMLAssertion` length bounds of `AssumeRoleWithSAML` (sts-reference.md).
pub(super) const MIN_LEN: usize = 4;
pub(super) const MAX_LEN: usize = 100_000;
/// The most bytes `MAX_LEN` base64 characters decode to.
const MAX_DECODED_LEN: usize = MAX_LEN / 4 * 3;

/// Decode the parameter:
/// 1. 4..=100000 characters, checked before anything else;
/// 2. standard base64 (RFC 4648 §4) with padding; ASCII whitespace (the line breaks of the
///    POST binding, SAML Bindings §3.5.4) is ignored;
/// 3. at most 75000 bytes, UTF-8 (the only encoding the XML guard admits).
pub(super) fn decode(b64: &str) -> Result<String, SamlError> {
    if !(MIN_LEN..=MAX_LEN).contains(&b64.len()) {
        return Err(malformed(format!(
            "SAMLAssertion length {} outside {MIN_LEN}..={MAX_LEN}",
            b64.len()
        )));
    }
    let decoded = if b64.bytes().any(|b| b.is_ascii_whitespace()) {
        let compact: Vec<u8> = b64.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        STANDARD.decode(&compact)
    } else {
        STANDARD.decode(b64)
    };
    let bytes = decoded.map_err(|e| malformed(format!("SAMLAssertion is not base64: {e}")))?;
    if bytes.len() > MAX_DECODED_LEN {
        return Err(malformed(format!(
            "decoded SAMLAssertion has {} bytes, more than {MAX_DECODED_LEN}",
            bytes.len()
        )));
    }
    String::from_utf8(bytes).map_err(|e| malformed(format!("SAML response is not UTF-8: {e}")))
}

fn malformed(detail: String) -> SamlError {
    SamlError::invalid(SamlFault::Malformed, detail)
}
