//! ID token claim checks (RFC 7519 §4.1, OIDC Core 3.1.3.7) and the identity they yield.
//!
//! [`SignedClaims`] come only out of a verified signature and yield nothing before
//! [`SignedClaims::check_times`]; [`TimelyClaims`] then yield a [`FederatedIdentity`] only
//! after the issuer, audience and subject checks passed.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

use crate::clock::unix_seconds;
use crate::identity::{FederatedIdentity, ProviderKind, SessionTags};
use crate::idp::{TokenFault, VerifyError, truncated};

/// Google's issuer: its `azp` is the client id AWS checks and reports (`accounts.google.com:aud`).
const GOOGLE_ISSUER: &str = "https://accounts.google.com";
/// The claim AWS reads a source identity from.
const SOURCE_IDENTITY_CLAIM: &str = "https://aws.amazon.com/source_identity";
/// The claim carrying session tags, as AWS reads it.
const TAGS_CLAIM: &str = "https://aws.amazon.com/tags";
/// Session tag limits of `AssumeRoleWithWebIdentity` (sts-reference.md).
const MAX_TAGS: usize = 50;
const MAX_TAG_KEY_LEN: usize = 128;
const MAX_TAG_VALUE_LEN: usize = 256;
/// OIDC Core §2: `sub` is at most 255 ASCII characters.
const MAX_SUBJECT_LEN: usize = 255;

/// What one IdP's tokens must say.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expectations<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) provider: &'a str,
    pub(crate) audiences: &'a [String],
    /// The `nonce` the authorization request sent, when the sign-in started here.
    pub(crate) nonce: Option<&'a str>,
    /// The access token returned with the ID token, and the algorithm the ID token is signed
    /// with (whose hash `at_hash` uses), when the sign-in started here.
    pub(crate) access_token: Option<(&'a str, jsonwebtoken::Algorithm)>,
}

/// The payload of a token whose signature verified; its time claims are not checked yet.
/// No `Debug`: claims are token content and never logged.
pub(crate) struct SignedClaims(Map<String, Value>);

/// Signed claims within their validity period.
pub(crate) struct TimelyClaims(Map<String, Value>);

impl SignedClaims {
    /// Only [`super::jws::UnverifiedToken::verify_signature`] calls this, after the signature
    /// verified.
    pub(crate) fn from_verified_payload(claims: Map<String, Value>) -> Self {
        Self(claims)
    }

    /// The time checks, with `leeway` for clock skew:
    /// 1. `exp` present, an integer NumericDate (RFC 7519 §2, §4.1.4; AWS rejects other
    ///    forms), and `now` before it (OIDC Core 3.1.3.7 step 9), else [`VerifyError::Expired`];
    /// 2. `nbf`, when present, an integer not after `now` (RFC 7519 §4.1.5);
    /// 3. `iat`, when present, an integer not after `now` (RFC 7519 §4.1.6, OIDC Core
    ///    3.1.3.7 step 10).
    pub(crate) fn check_times(
        self,
        now: SystemTime,
        leeway: Duration,
    ) -> Result<TimelyClaims, VerifyError> {
        let now = unix_seconds(now);
        let leeway = i64::try_from(leeway.as_secs()).unwrap_or(i64::MAX);
        let exp = numeric_date(&self.0, "exp")?
            .ok_or_else(|| VerifyError::invalid(TokenFault::Claims, "no exp claim"))?;
        if now >= exp.saturating_add(leeway) {
            return Err(VerifyError::Expired);
        }
        for name in ["nbf", "iat"] {
            if let Some(at) = numeric_date(&self.0, name)?
                && at > now.saturating_add(leeway)
            {
                return Err(VerifyError::invalid(
                    TokenFault::NotYetValid,
                    format!("{name} is {} s ahead of now", at.saturating_sub(now)),
                ));
            }
        }
        Ok(TimelyClaims(self.0))
    }
}

impl TimelyClaims {
    /// The remaining checks, then the identity:
    /// 1. `iss` identical to the configured issuer (OIDC Core 3.1.3.7 step 2, RFC 7519 §4.1.1);
    /// 2. `aud`, a string or an array of strings, present (RFC 7519 §4.1.3), and the client id
    ///    configured: the `aud` value for most IdPs (step 3), `azp` for Google when it is
    ///    present (steps 4-5, AWS `accounts.google.com:aud`);
    /// 3. `sub` a non-empty string of at most 255 characters (OIDC Core §2, RFC 7519 §4.1.2);
    /// 4. session tags, when present, well-formed and within the STS limits;
    /// 5. `nonce` equal to the expected one, when one is expected (OIDC Core 3.1.3.7 step 11);
    /// 6. `at_hash`, when present and an access token came with the ID token, the hash of that
    ///    access token (OIDC Core 3.1.3.8; the code flow makes it optional).
    pub(crate) fn into_identity(
        self,
        expect: &Expectations<'_>,
    ) -> Result<FederatedIdentity, VerifyError> {
        check_issuer(&self.0, expect.issuer)?;
        let raw_audiences = audiences(&self.0)?;
        let audience = client_id(&self.0, &raw_audiences, expect)?;
        let subject = subject(&self.0)?;
        let session_tags = session_tags(&self.0)?;
        if let Some(nonce) = expect.nonce {
            check_nonce(&self.0, nonce)?;
        }
        if let Some((access_token, algorithm)) = expect.access_token {
            check_at_hash(&self.0, access_token, algorithm)?;
        }
        let mut claims = string_claims(&self.0);
        let source_identity = claims
            .get(SOURCE_IDENTITY_CLAIM)
            .and_then(|v| v.first())
            .cloned();
        claims.insert("aud".to_owned(), vec![audience.clone()]);
        claims.insert("oaud".to_owned(), raw_audiences);
        claims.insert("sub".to_owned(), vec![subject.clone()]);
        Ok(FederatedIdentity {
            kind: ProviderKind::Oidc,
            provider: expect.provider.to_owned(),
            issuer: expect.issuer.to_owned(),
            subject,
            audience,
            claims,
            session_tags,
            source_identity,
            saml: None,
        })
    }
}

/// `at_hash`, when the token has one: base64url of the left half of the access token's hash
/// under the hash of the ID token's `alg` (SHA-256 for *256, SHA-384 for *384, SHA-512 for
/// *512 and EdDSA over Ed25519).
fn check_at_hash(
    claims: &Map<String, Value>,
    access_token: &str,
    algorithm: jsonwebtoken::Algorithm,
) -> Result<(), VerifyError> {
    use aws_lc_rs::digest;
    use base64::Engine as _;
    use jsonwebtoken::Algorithm as A;
    use subtle::ConstantTimeEq as _;
    let Some(claimed) = claims.get("at_hash") else {
        return Ok(());
    };
    let hash = match algorithm {
        A::RS384 | A::PS384 | A::ES384 | A::HS384 => &digest::SHA384,
        A::RS512 | A::PS512 | A::HS512 | A::EdDSA => &digest::SHA512,
        A::RS256 | A::PS256 | A::ES256 | A::HS256 => &digest::SHA256,
        // An algorithm this check does not know: fail closed.
        _ => {
            return Err(VerifyError::invalid(
                TokenFault::AccessTokenHash,
                "at_hash under an algorithm without a known hash",
            ));
        }
    };
    let digest = digest::digest(hash, access_token.as_bytes());
    let half = &digest.as_ref()[..digest.as_ref().len() / 2];
    let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(half);
    let matches = claimed
        .as_str()
        .is_some_and(|c| bool::from(c.as_bytes().ct_eq(expected.as_bytes())));
    if matches {
        Ok(())
    } else {
        Err(VerifyError::invalid(
            TokenFault::AccessTokenHash,
            "at_hash is not the hash of the access token",
        ))
    }
}

/// The `nonce` claim is the one the sign-in sent (compared in constant time: it is a secret of
/// the sign-in until the token comes back).
fn check_nonce(claims: &Map<String, Value>, expected: &str) -> Result<(), VerifyError> {
    use subtle::ConstantTimeEq as _;
    let matches = claims
        .get("nonce")
        .and_then(Value::as_str)
        .is_some_and(|nonce| bool::from(nonce.as_bytes().ct_eq(expected.as_bytes())));
    if matches {
        Ok(())
    } else {
        Err(VerifyError::invalid(
            TokenFault::Nonce,
            "nonce missing or not the one sent",
        ))
    }
}

fn claims_fault(detail: impl Into<String>) -> VerifyError {
    VerifyError::invalid(TokenFault::Claims, detail)
}

/// An optional NumericDate claim that must be a JSON integer (no fraction, no string).
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, VerifyError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => match (n.as_i64(), n.as_u64()) {
            (Some(secs), _) => Ok(Some(secs)),
            (None, Some(_)) => Ok(Some(i64::MAX)),
            (None, None) => Err(claims_fault(format!("{name} is not an integer"))),
        },
        Some(_) => Err(claims_fault(format!("{name} is not a number"))),
    }
}

fn check_issuer(claims: &Map<String, Value>, issuer: &str) -> Result<(), VerifyError> {
    match claims.get("iss") {
        Some(Value::String(iss)) if iss == issuer => Ok(()),
        Some(Value::String(iss)) => Err(VerifyError::invalid(
            TokenFault::Issuer,
            format!("iss {:?} is not {issuer:?}", truncated(iss)),
        )),
        _ => Err(VerifyError::invalid(
            TokenFault::Issuer,
            "iss is missing or not a string",
        )),
    }
}

/// `aud` as a list: a single string or an array of strings (RFC 7519 §4.1.3).
fn audiences(claims: &Map<String, Value>) -> Result<Vec<String>, VerifyError> {
    let values = match claims.get("aud") {
        None => return Err(VerifyError::invalid(TokenFault::Audience, "no aud claim")),
        Some(Value::String(aud)) => vec![aud.clone()],
        Some(Value::Array(items)) => {
            strings(items).ok_or_else(|| claims_fault("aud holds a non-string"))?
        }
        Some(_) => return Err(claims_fault("aud is neither a string nor an array")),
    };
    if values.is_empty() {
        return Err(VerifyError::invalid(TokenFault::Audience, "aud is empty"));
    }
    Ok(values)
}

/// The configured client id this token is for, as AWS reports it.
fn client_id(
    claims: &Map<String, Value>,
    raw_audiences: &[String],
    expect: &Expectations<'_>,
) -> Result<String, VerifyError> {
    let configured = |id: &str| expect.audiences.iter().any(|a| a == id);
    if expect.issuer == GOOGLE_ISSUER {
        match claims.get("azp") {
            Some(Value::String(azp)) if configured(azp) => return Ok(azp.clone()),
            Some(Value::String(azp)) => {
                return Err(VerifyError::invalid(
                    TokenFault::Audience,
                    format!("azp {:?} is not a configured client id", truncated(azp)),
                ));
            }
            Some(_) => return Err(claims_fault("azp is not a string")),
            None => {}
        }
    }
    raw_audiences
        .iter()
        .find(|aud| configured(aud))
        .cloned()
        .ok_or_else(|| {
            VerifyError::invalid(
                TokenFault::Audience,
                format!(
                    "none of {} aud values is a configured client id",
                    raw_audiences.len()
                ),
            )
        })
}

fn subject(claims: &Map<String, Value>) -> Result<String, VerifyError> {
    match claims.get("sub") {
        Some(Value::String(sub))
            if !sub.is_empty() && sub.len() <= MAX_SUBJECT_LEN && crate::text::is_xml_text(sub) =>
        {
            Ok(sub.clone())
        }
        Some(Value::String(sub)) if !crate::text::is_xml_text(sub) => {
            Err(claims_fault("sub holds a control character"))
        }
        Some(Value::String(sub)) => Err(claims_fault(format!("sub has {} bytes", sub.len()))),
        Some(_) => Err(claims_fault("sub is not a string")),
        None => Err(claims_fault("no sub claim")),
    }
}

fn strings(items: &[Value]) -> Option<Vec<String>> {
    items
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// Every string or string-array claim under its lower-cased name; names differing only in
/// case pool their values.
fn string_claims(claims: &Map<String, Value>) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in claims {
        let values = match value {
            Value::String(s) => vec![s.clone()],
            Value::Array(items) => match strings(items) {
                Some(values) => values,
                None => continue,
            },
            _ => continue,
        };
        out.entry(name.to_lowercase()).or_default().extend(values);
    }
    out
}

/// The session tags of the `https://aws.amazon.com/tags` claim:
/// `{"principal_tags": {key: [value]} or {key: value}, "transitive_tag_keys": [key, ...]}`.
fn session_tags(claims: &Map<String, Value>) -> Result<SessionTags, VerifyError> {
    let Some(claim) = claims.get(TAGS_CLAIM) else {
        return Ok(SessionTags::default());
    };
    let Value::Object(claim) = claim else {
        return Err(claims_fault("session tags claim is not an object"));
    };
    let mut tags = SessionTags::default();
    match claim.get("principal_tags") {
        None => {}
        Some(Value::Object(principal)) => {
            for (key, value) in principal {
                tags.principal_tags
                    .insert(key.clone(), tag_value(key, value)?);
            }
        }
        Some(_) => return Err(claims_fault("principal_tags is not an object")),
    }
    match claim.get("transitive_tag_keys") {
        None => {}
        Some(Value::Array(keys)) => {
            tags.transitive_tag_keys = strings(keys)
                .ok_or_else(|| claims_fault("transitive_tag_keys holds a non-string"))?;
        }
        Some(_) => return Err(claims_fault("transitive_tag_keys is not an array")),
    }
    check_tag_limits(&tags)?;
    Ok(tags)
}

/// One tag value: a string, or an array holding exactly one string (the form AWS documents).
fn tag_value(key: &str, value: &Value) -> Result<String, VerifyError> {
    let bad = || {
        claims_fault(format!(
            "principal tag {:?} is not a single string",
            truncated(key)
        ))
    };
    match value {
        Value::String(v) => Ok(v.clone()),
        Value::Array(items) => match items.as_slice() {
            [Value::String(v)] => Ok(v.clone()),
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

fn check_tag_limits(tags: &SessionTags) -> Result<(), VerifyError> {
    if tags.principal_tags.len() > MAX_TAGS || tags.transitive_tag_keys.len() > MAX_TAGS {
        return Err(claims_fault(format!("more than {MAX_TAGS} session tags")));
    }
    let key_ok = |k: &String| (1..=MAX_TAG_KEY_LEN).contains(&k.chars().count());
    let keys_ok =
        tags.principal_tags.keys().all(key_ok) && tags.transitive_tag_keys.iter().all(key_ok);
    let values_ok = tags
        .principal_tags
        .values()
        .all(|v| v.chars().count() <= MAX_TAG_VALUE_LEN);
    if !keys_ok || !values_ok {
        return Err(claims_fault(format!(
            "a session tag key is not 1..={MAX_TAG_KEY_LEN} or a value over {MAX_TAG_VALUE_LEN} characters"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::from_unix_seconds;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;
    const ISSUER: &str = "https://idp.example";

    fn audiences_configured() -> Vec<String> {
        vec!["client-1".to_owned(), "client-2".to_owned()]
    }

    fn signed(value: Value) -> SignedClaims {
        match value {
            Value::Object(map) => SignedClaims::from_verified_payload(map),
            other => panic!("not an object: {other}"),
        }
    }

    fn base() -> Value {
        json!({"iss": ISSUER, "aud": "client-1", "sub": "user-1", "iat": NOW - 10, "exp": NOW + 600})
    }

    fn verify_as(issuer: &str, claims: Value) -> Result<FederatedIdentity, VerifyError> {
        verify_expecting(issuer, None, claims)
    }

    fn verify_expecting(
        issuer: &str,
        nonce: Option<&str>,
        claims: Value,
    ) -> Result<FederatedIdentity, VerifyError> {
        let configured = audiences_configured();
        let expect = Expectations {
            issuer,
            provider: "idp.example",
            audiences: &configured,
            nonce,
            access_token: None,
        };
        signed(claims)
            .check_times(from_unix_seconds(NOW), Duration::from_secs(60))?
            .into_identity(&expect)
    }

    fn verify(claims: Value) -> Result<FederatedIdentity, VerifyError> {
        verify_as(ISSUER, claims)
    }

    fn with(mut claims: Value, name: &str, value: Value) -> Value {
        claims[name] = value;
        claims
    }

    fn without(mut claims: Value, name: &str) -> Value {
        claims.as_object_mut().expect("object").remove(name);
        claims
    }

    #[track_caller]
    fn assert_fault(result: Result<FederatedIdentity, VerifyError>, expected: TokenFault) {
        match result {
            Err(VerifyError::Invalid { fault, .. }) => assert_eq!(fault, expected),
            other => panic!("expected {expected:?}, got {other:?}"),
        }
    }

    #[test]
    fn valid_claims_make_an_identity() {
        let claims = with(base(), "amr", json!(["authenticated", "mfa"]));
        let claims = with(claims, "Email", json!("u@example.com"));
        let claims = with(claims, "aud", json!(["other", "client-2"]));
        let id = verify(claims).expect("valid");
        assert_eq!(id.kind, ProviderKind::Oidc);
        assert_eq!(id.provider, "idp.example");
        assert_eq!(id.issuer, ISSUER);
        assert_eq!(id.subject, "user-1");
        assert_eq!(id.audience, "client-2");
        assert_eq!(id.claims["aud"], ["client-2"]);
        assert_eq!(id.claims["oaud"], ["other", "client-2"]);
        assert_eq!(id.claims["sub"], ["user-1"]);
        assert_eq!(id.claims["amr"], ["authenticated", "mfa"]);
        assert_eq!(id.claims["email"], ["u@example.com"]);
        assert!(
            !id.claims.contains_key("exp"),
            "numbers are not condition strings"
        );
        assert!(id.session_tags.is_empty());
    }

    #[test]
    fn expiry_with_leeway() {
        assert!(verify(with(base(), "exp", json!(NOW - 59))).is_ok());
        assert!(matches!(
            verify(with(base(), "exp", json!(NOW - 60))),
            Err(VerifyError::Expired)
        ));
        assert!(matches!(
            verify(with(base(), "exp", json!(-5))),
            Err(VerifyError::Expired)
        ));
    }

    #[test]
    fn exp_is_a_required_integer() {
        assert_fault(verify(without(base(), "exp")), TokenFault::Claims);
        assert_fault(
            verify(with(base(), "exp", json!((NOW + 600) as f64 + 0.5))),
            TokenFault::Claims,
        );
        assert_fault(
            verify(with(base(), "exp", json!(1.9e9))),
            TokenFault::Claims,
        );
        assert_fault(
            verify(with(base(), "exp", json!((NOW + 600).to_string()))),
            TokenFault::Claims,
        );
        assert!(verify(with(base(), "exp", json!(u64::MAX))).is_ok());
    }

    #[test]
    fn nbf_and_iat_in_the_future() {
        assert!(verify(with(base(), "nbf", json!(NOW + 60))).is_ok());
        assert_fault(
            verify(with(base(), "nbf", json!(NOW + 61))),
            TokenFault::NotYetValid,
        );
        assert_fault(
            verify(with(base(), "iat", json!(NOW + 3600))),
            TokenFault::NotYetValid,
        );
        assert_fault(
            verify(with(base(), "iat", json!("yesterday"))),
            TokenFault::Claims,
        );
        assert_fault(verify(with(base(), "nbf", json!(1.5))), TokenFault::Claims);
        assert!(verify(without(base(), "iat")).is_ok());
    }

    #[test]
    fn issuer_must_be_exact() {
        assert_fault(
            verify(with(base(), "iss", json!("https://idp.example/"))),
            TokenFault::Issuer,
        );
        assert_fault(
            verify(with(base(), "iss", json!("https://IDP.example"))),
            TokenFault::Issuer,
        );
        // Nor is a trailing slash dropped from a configured issuer.
        assert_fault(
            verify_as("https://idp.example/", base()),
            TokenFault::Issuer,
        );
        assert_fault(verify(without(base(), "iss")), TokenFault::Issuer);
        assert_fault(
            verify(with(base(), "iss", json!(["https://idp.example"]))),
            TokenFault::Issuer,
        );
    }

    #[test]
    fn audience_must_be_configured() {
        assert_fault(
            verify(with(base(), "aud", json!("client-3"))),
            TokenFault::Audience,
        );
        assert_fault(
            verify(with(base(), "aud", json!(["a", "b"]))),
            TokenFault::Audience,
        );
        assert_fault(verify(with(base(), "aud", json!([]))), TokenFault::Audience);
        assert_fault(verify(without(base(), "aud")), TokenFault::Audience);
        assert_fault(
            verify(with(base(), "aud", json!(["client-1", 5]))),
            TokenFault::Claims,
        );
        assert_fault(
            verify(with(base(), "aud", json!({"client-1": true}))),
            TokenFault::Claims,
        );
    }

    #[test]
    fn google_checks_azp_when_present() {
        let google =
            |claims: Value| verify_as(GOOGLE_ISSUER, with(claims, "iss", json!(GOOGLE_ISSUER)));
        let id = google(with(
            with(base(), "aud", json!("server-side-id")),
            "azp",
            json!("client-2"),
        ))
        .expect("azp is configured");
        assert_eq!(id.audience, "client-2");
        assert_eq!(id.claims["aud"], ["client-2"]);
        assert_eq!(id.claims["oaud"], ["server-side-id"]);
        assert_fault(
            google(with(base(), "azp", json!("client-3"))),
            TokenFault::Audience,
        );
        assert_eq!(
            google(base()).expect("aud is configured").audience,
            "client-1"
        );
        // Other issuers do not read azp.
        let other = verify(with(base(), "azp", json!("client-3"))).expect("aud is configured");
        assert_eq!(other.audience, "client-1");
    }

    #[test]
    fn sub_is_a_required_string() {
        assert_fault(verify(without(base(), "sub")), TokenFault::Claims);
        assert_fault(verify(with(base(), "sub", json!(42))), TokenFault::Claims);
        assert_fault(verify(with(base(), "sub", json!(""))), TokenFault::Claims);
        assert_fault(
            verify(with(base(), "sub", json!("x".repeat(256)))),
            TokenFault::Claims,
        );
    }

    #[test]
    fn session_tags_in_both_forms() {
        let claims = with(
            base(),
            TAGS_CLAIM,
            json!({"principal_tags": {"Project": ["Blue"], "CostCenter": "987"}, "transitive_tag_keys": ["Project"]}),
        );
        let id = verify(claims).expect("valid");
        assert_eq!(id.session_tags.principal_tags["Project"], "Blue");
        assert_eq!(id.session_tags.principal_tags["CostCenter"], "987");
        assert_eq!(id.session_tags.transitive_tag_keys, ["Project"]);
        assert!(!id.claims.contains_key(TAGS_CLAIM));
    }

    #[test]
    fn malformed_session_tags_are_refused() {
        for tags in [
            json!("Project=Blue"),
            json!({"principal_tags": ["Project"]}),
            json!({"principal_tags": {"Project": ["Blue", "Green"]}}),
            json!({"principal_tags": {"Project": 7}}),
            json!({"principal_tags": {"": "x"}}),
            json!({"principal_tags": {"k": "v".repeat(257)}}),
            json!({"transitive_tag_keys": "Project"}),
            json!({"transitive_tag_keys": [1]}),
        ] {
            assert_fault(verify(with(base(), TAGS_CLAIM, tags)), TokenFault::Claims);
        }
        let many: Map<String, Value> = (0..51).map(|i| (format!("k{i}"), json!("v"))).collect();
        assert_fault(
            verify(with(base(), TAGS_CLAIM, json!({"principal_tags": many}))),
            TokenFault::Claims,
        );
    }

    #[test]
    fn an_expected_nonce_must_be_the_tokens() {
        let with = |nonce: Value| {
            let mut claims = base();
            claims["nonce"] = nonce;
            claims
        };
        assert!(verify_expecting(ISSUER, Some("n-1"), with(json!("n-1"))).is_ok());
        for claims in [
            base(),
            with(json!("n-2")),
            with(json!(["n-1"])),
            with(json!("")),
        ] {
            match verify_expecting(ISSUER, Some("n-1"), claims) {
                Err(VerifyError::Invalid {
                    fault: TokenFault::Nonce,
                    ..
                }) => {}
                other => panic!("expected a nonce fault, got {other:?}"),
            }
        }
        assert!(
            verify_expecting(ISSUER, None, with(json!("anything"))).is_ok(),
            "no nonce expected (the STS API): a nonce in the token is not checked"
        );
    }

    #[test]
    fn at_hash_when_present_is_the_access_tokens_hash_under_the_tokens_algorithm() {
        use base64::Engine as _;
        use jsonwebtoken::Algorithm;
        let half = |alg: &'static aws_lc_rs::digest::Algorithm, token: &str| {
            let d = aws_lc_rs::digest::digest(alg, token.as_bytes());
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(&d.as_ref()[..d.as_ref().len() / 2])
        };
        let check = |at_hash: Option<Value>, access_token: Option<(&str, Algorithm)>| {
            let mut claims = base();
            if let Some(h) = at_hash {
                claims["at_hash"] = h;
            }
            let configured = audiences_configured();
            let expect = Expectations {
                issuer: ISSUER,
                provider: "idp.example",
                audiences: &configured,
                nonce: None,
                access_token,
            };
            match signed(claims)
                .check_times(from_unix_seconds(NOW), Duration::from_secs(60))
                .and_then(|c| c.into_identity(&expect))
            {
                Ok(_) => None,
                Err(VerifyError::Invalid { fault, .. }) => Some(fault),
                Err(other) => panic!("{other:?}"),
            }
        };
        let sha256 = half(&aws_lc_rs::digest::SHA256, "access-1");
        let sha384 = half(&aws_lc_rs::digest::SHA384, "access-1");
        let sha512 = half(&aws_lc_rs::digest::SHA512, "access-1");
        assert_eq!(
            check(Some(json!(sha256)), Some(("access-1", Algorithm::RS256))),
            None
        );
        assert_eq!(
            check(Some(json!(sha384)), Some(("access-1", Algorithm::ES384))),
            None
        );
        assert_eq!(
            check(Some(json!(sha512)), Some(("access-1", Algorithm::EdDSA))),
            None
        );
        assert_eq!(
            check(None, Some(("access-1", Algorithm::RS256))),
            None,
            "optional"
        );
        assert_eq!(
            check(Some(json!("x")), None),
            None,
            "no access token: not checked"
        );
        for (claimed, alg) in [
            (json!(sha256.clone()), Algorithm::RS384),
            (
                json!(half(&aws_lc_rs::digest::SHA256, "access-2")),
                Algorithm::RS256,
            ),
            (json!([sha256]), Algorithm::RS256),
            (json!(""), Algorithm::RS256),
        ] {
            assert_eq!(
                check(Some(claimed.clone()), Some(("access-1", alg))),
                Some(TokenFault::AccessTokenHash),
                "{claimed} {alg:?}"
            );
        }
    }

    #[test]
    fn the_source_identity_claim_is_read() {
        let mut claims = base();
        claims["https://aws.amazon.com/source_identity"] = json!("alice");
        assert_eq!(
            verify(claims).unwrap().source_identity.as_deref(),
            Some("alice")
        );
        assert_eq!(verify(base()).unwrap().source_identity, None);
    }
}
