//! Compact JWS parsing (RFC 7515 §7.1) and signature verification (RFC 7515 §5.2).
//!
//! [`UnverifiedToken`] exposes only its JOSE header (needed to find the key) and, for routing,
//! its unverified issuer. Its claims come out only through [`UnverifiedToken::verify_signature`],
//! as [`SignedClaims`], which in turn yield nothing before the time checks ran.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, AlgorithmFamily};
use serde_json::{Map, Value};

use super::claims::SignedClaims;
use super::keys::VerificationKey;
use crate::idp::{TokenFault, VerifyError, truncated};
use crate::json;

/// `WebIdentityToken` length bounds of `AssumeRoleWithWebIdentity` (sts-reference.md).
pub(super) const MIN_TOKEN_LEN: usize = 4;
pub(super) const MAX_TOKEN_LEN: usize = 20_000;

/// The JOSE header members this verifier reads (RFC 7515 §4.1). Key-carrying members (`jku`,
/// `jwk`, `x5u`, `x5c`) are never used: keys come only from the IdP's configured key source.
#[derive(Debug)]
pub(super) struct Header {
    alg: String,
    kid: Option<String>,
}

impl Header {
    /// `alg` as the token states it (RFC 7515 §4.1.1); not yet checked against anything.
    pub(super) fn alg(&self) -> &str {
        &self.alg
    }

    /// `kid` (RFC 7515 §4.1.4), when the token names its key.
    pub(super) fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }
}

/// A well-formed compact JWS whose signature has not been checked.
pub(super) struct UnverifiedToken<'a> {
    header: Header,
    /// `BASE64URL(header) || '.' || BASE64URL(payload)`: the JWS Signing Input.
    signing_input: &'a str,
    /// The base64url JWS Signature, checked to decode.
    signature: &'a str,
    claims: Map<String, Value>,
}

impl fmt::Debug for UnverifiedToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnverifiedToken")
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

impl<'a> UnverifiedToken<'a> {
    /// Parse a compact JWS strictly:
    /// 1. length within 4..=20000 (the STS `WebIdentityToken` limits), checked before anything else;
    /// 2. exactly three parts separated by `.` (RFC 7515 §7.1), header and payload non-empty;
    /// 3. each part base64url without padding and with canonical trailing bits (RFC 7515 §2);
    /// 4. header and payload are JSON objects with unique member names, nested objects
    ///    included (RFC 7515 §4, RFC 7519 §4 and §7.2 step 10);
    /// 5. header `alg` is a string and `kid`, when present, a string (RFC 7515 §4.1.1, §4.1.4);
    /// 6. no `crit` header: no extension is understood (RFC 7515 §4.1.11).
    pub(super) fn parse(token: &'a str) -> Result<Self, VerifyError> {
        check_length(token)?;
        let (signing_input, signature_b64) = token
            .rsplit_once('.')
            .ok_or_else(|| malformed("not three dot-separated parts"))?;
        let (header_b64, payload_b64) = signing_input
            .split_once('.')
            .ok_or_else(|| malformed("not three dot-separated parts"))?;
        if payload_b64.contains('.') {
            return Err(malformed("more than three dot-separated parts"));
        }
        if header_b64.is_empty() || payload_b64.is_empty() {
            return Err(malformed("empty header or payload part"));
        }
        let header = parse_header(&json_object(header_b64, "header")?)?;
        let claims = json_object(payload_b64, "payload")?;
        decode_part(signature_b64, "signature")?;
        Ok(Self {
            header,
            signing_input,
            signature: signature_b64,
            claims,
        })
    }

    pub(super) fn header(&self) -> &Header {
        &self.header
    }

    /// Verify the signature over the JWS Signing Input with `key` under `algorithm`
    /// (RFC 7515 §5.2 step 8). The caller has already checked that `algorithm` is allowed for
    /// the IdP and suits `key`; HMAC is refused here once more, whatever the caller did.
    pub(super) fn verify_signature(
        self,
        key: &VerificationKey,
        algorithm: Algorithm,
    ) -> Result<SignedClaims, VerifyError> {
        if algorithm.family() == AlgorithmFamily::Hmac {
            return Err(VerifyError::invalid(
                TokenFault::Algorithm,
                "HMAC is never accepted",
            ));
        }
        match jsonwebtoken::crypto::verify(
            self.signature,
            self.signing_input.as_bytes(),
            key.decoding_key(),
            algorithm,
        ) {
            Ok(true) => Ok(SignedClaims::from_verified_payload(self.claims)),
            Ok(false) => Err(VerifyError::invalid(
                TokenFault::Signature,
                format!(
                    "{algorithm:?} signature does not verify with key {}",
                    key.describe()
                ),
            )),
            Err(e) => Err(VerifyError::invalid(
                TokenFault::Signature,
                format!(
                    "{algorithm:?} verification with key {} failed: {e}",
                    key.describe()
                ),
            )),
        }
    }
}

/// The header `alg`, if it names an algorithm in `allowed` and is not HMAC (RFC 8725 §3.1,
/// OIDC Core 3.1.3.7 step 7). `none` and unknown names are no algorithm at all.
pub(super) fn allowed_algorithm(
    alg: &str,
    allowed: &[Algorithm],
) -> Result<Algorithm, VerifyError> {
    let refuse = |why: &str| {
        VerifyError::invalid(
            TokenFault::Algorithm,
            format!("alg {:?} {why}", truncated(alg)),
        )
    };
    let algorithm = Algorithm::from_str(alg).map_err(|_| refuse("is not a signature algorithm"))?;
    if algorithm.family() == AlgorithmFamily::Hmac {
        return Err(refuse("is HMAC, which is never accepted"));
    }
    if !allowed.contains(&algorithm) {
        return Err(refuse("is not in the provider's allow-list"));
    }
    Ok(algorithm)
}

/// The unverified `iss` of a compact JWS, for routing only. Cheaper than
/// [`UnverifiedToken::parse`] (which the verifier the token is routed to runs in full, header
/// and all): only the payload is decoded, and parsed without building its members (the full
/// parse showed in the daemon's profile under load). Still a strict JSON
/// object: a malformed payload or a repeated `iss` is refused here.
pub(super) fn peek_issuer(token: &str) -> Result<String, VerifyError> {
    #[derive(serde::Deserialize)]
    struct Payload {
        iss: Option<Value>,
    }
    check_length(token)?;
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("not three dot-separated parts"));
    };
    if header.is_empty() || payload.is_empty() {
        return Err(malformed("empty header or payload part"));
    }
    let bytes = decode_part(payload, "payload")?;
    // serde would take a JSON array for the struct too.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(malformed("payload is not a JSON object"));
    }
    let payload: Payload = serde_json::from_slice(&bytes).map_err(|e| {
        malformed(format!(
            "payload is not a JSON object with one iss ({:?} error at column {})",
            e.classify(),
            e.column()
        ))
    })?;
    match payload.iss {
        Some(Value::String(iss)) => Ok(iss),
        Some(_) => Err(VerifyError::invalid(
            TokenFault::UnknownIssuer,
            "iss is not a string",
        )),
        None => Err(VerifyError::invalid(
            TokenFault::UnknownIssuer,
            "no iss claim",
        )),
    }
}

fn check_length(token: &str) -> Result<(), VerifyError> {
    if (MIN_TOKEN_LEN..=MAX_TOKEN_LEN).contains(&token.len()) {
        Ok(())
    } else {
        Err(malformed(format!(
            "token length {} outside {MIN_TOKEN_LEN}..={MAX_TOKEN_LEN}",
            token.len()
        )))
    }
}

fn malformed(detail: impl Into<String>) -> VerifyError {
    VerifyError::invalid(TokenFault::Malformed, detail)
}

fn decode_part(part: &str, what: &str) -> Result<Vec<u8>, VerifyError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|e| malformed(format!("{what} is not unpadded base64url: {e}")))
}

/// A JSON object in which no object, at any depth, names a member twice: RFC 7515 §4 lets a
/// parser either reject duplicates or take the last one; taking one would let two parsers read
/// different claims (a nested claim such as `https://aws.amazon.com/tags` as much as a
/// top-level one).
fn json_object(part: &str, what: &str) -> Result<Map<String, Value>, VerifyError> {
    let bytes = decode_part(part, what)?;
    // serde_json messages may quote the input; say only where and what kind of error.
    let read = json::from_slice(&bytes).map_err(|e| {
        malformed(format!(
            "{what} is not JSON ({:?} error at column {})",
            e.classify(),
            e.column()
        ))
    })?;
    // Nor which name is repeated: the detail never quotes the token.
    if !read.duplicates.is_empty() {
        return Err(malformed(format!(
            "{what} is not a JSON object with unique member names"
        )));
    }
    match read.value {
        Value::Object(members) => Ok(members),
        _ => Err(malformed(format!("{what} is not a JSON object"))),
    }
}

fn parse_header(members: &Map<String, Value>) -> Result<Header, VerifyError> {
    if members.contains_key("crit") {
        return Err(malformed("crit header: no JWS extension is supported"));
    }
    let alg = match members.get("alg") {
        Some(Value::String(alg)) => alg.clone(),
        Some(_) => return Err(malformed("alg is not a string")),
        None => return Err(malformed("no alg header")),
    };
    let kid = match members.get("kid") {
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(malformed("kid is not a string")),
        None => None,
    };
    Ok(Header { alg, kid })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn token(header: &str, payload: &str, signature: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            b64(header.as_bytes()),
            b64(payload.as_bytes()),
            b64(signature)
        )
    }

    fn fault(result: Result<UnverifiedToken<'_>, VerifyError>) -> TokenFault {
        match result {
            Err(VerifyError::Invalid { fault, .. }) => fault,
            other => panic!("expected an invalid token, got {other:?}"),
        }
    }

    const HEADER: &str = r#"{"alg":"RS256","kid":"k1"}"#;
    const PAYLOAD: &str = r#"{"iss":"https://issuer.example","sub":"s"}"#;

    #[test]
    fn parses_header_and_routes_by_issuer() {
        let t = token(HEADER, PAYLOAD, b"sig");
        let parsed = UnverifiedToken::parse(&t).expect("well-formed");
        assert_eq!(parsed.header().alg(), "RS256");
        assert_eq!(parsed.header().kid(), Some("k1"));
        assert_eq!(peek_issuer(&t).expect("iss"), "https://issuer.example");
    }

    #[test]
    fn rejects_bad_lengths() {
        assert_eq!(fault(UnverifiedToken::parse("a.b")), TokenFault::Malformed);
        let long = format!("{}.{}.{}", "a".repeat(10_000), "b".repeat(10_000), "c");
        assert_eq!(fault(UnverifiedToken::parse(&long)), TokenFault::Malformed);
    }

    #[test]
    fn rejects_wrong_part_counts() {
        let h = b64(HEADER.as_bytes());
        let p = b64(PAYLOAD.as_bytes());
        for t in [
            format!("{h}.{p}"),
            format!("{h}.{p}.c.d"),
            format!("{h}{p}c"),
            format!(".{p}.c"),
            format!("{h}..c"),
        ] {
            assert_eq!(
                fault(UnverifiedToken::parse(&t)),
                TokenFault::Malformed,
                "{t}"
            );
        }
    }

    #[test]
    fn rejects_padding_and_standard_alphabet() {
        let padded = format!(
            "{}=.{}.c2ln",
            b64(HEADER.as_bytes()),
            b64(PAYLOAD.as_bytes())
        );
        assert_eq!(
            fault(UnverifiedToken::parse(&padded)),
            TokenFault::Malformed
        );
        let plus = format!(
            "{}.{}.ab+/",
            b64(HEADER.as_bytes()),
            b64(PAYLOAD.as_bytes())
        );
        assert_eq!(fault(UnverifiedToken::parse(&plus)), TokenFault::Malformed);
    }

    #[test]
    fn rejects_non_object_json_and_duplicates() {
        for (header, payload) in [
            ("[1]", PAYLOAD),
            (HEADER, r#""just a string""#),
            (HEADER, "{not json"),
            (r#"{"alg":"RS256","alg":"none"}"#, PAYLOAD),
            (HEADER, r#"{"sub":"a","sub":"b"}"#),
            (HEADER, r#"{"sub":"a","s\u0075b":"b"}"#),
            (
                HEADER,
                r#"{"sub":"a","https://aws.amazon.com/tags":{"principal_tags":{"team":["a"],"team":["b"]}}}"#,
            ),
        ] {
            let t = token(header, payload, b"sig");
            assert_eq!(
                fault(UnverifiedToken::parse(&t)),
                TokenFault::Malformed,
                "{header} {payload}"
            );
        }
    }

    #[test]
    fn rejects_bad_header_members() {
        for header in [
            r#"{"kid":"k1"}"#,
            r#"{"alg":256}"#,
            r#"{"alg":"RS256","kid":7}"#,
            r#"{"alg":"RS256","crit":["exp"],"exp":1}"#,
        ] {
            let t = token(header, PAYLOAD, b"sig");
            assert_eq!(
                fault(UnverifiedToken::parse(&t)),
                TokenFault::Malformed,
                "{header}"
            );
        }
    }

    #[test]
    fn missing_issuer_is_an_unknown_issuer() {
        let t = token(HEADER, r#"{"sub":"s"}"#, b"sig");
        UnverifiedToken::parse(&t).expect("well-formed");
        assert!(matches!(
            peek_issuer(&t),
            Err(VerifyError::Invalid {
                fault: TokenFault::UnknownIssuer,
                ..
            })
        ));
    }

    #[test]
    fn algorithm_allow_list() {
        let allowed = [Algorithm::RS256, Algorithm::ES256];
        assert_eq!(
            allowed_algorithm("RS256", &allowed).expect("allowed"),
            Algorithm::RS256
        );
        for alg in ["none", "HS256", "RS512", "rs256", ""] {
            assert!(
                matches!(
                    allowed_algorithm(alg, &allowed),
                    Err(VerifyError::Invalid {
                        fault: TokenFault::Algorithm,
                        ..
                    })
                ),
                "{alg}"
            );
        }
        let with_hmac = [Algorithm::HS256];
        assert!(allowed_algorithm("HS256", &with_hmac).is_err());
    }

    #[test]
    fn detail_never_quotes_the_payload() {
        let t = token(HEADER, r#""secret-looking-string""#, b"sig");
        let Err(VerifyError::Invalid { detail, .. }) = UnverifiedToken::parse(&t) else {
            panic!("expected invalid");
        };
        assert!(!detail.contains("secret-looking-string"), "{detail}");
    }
}
