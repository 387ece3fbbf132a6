//! The verifier end to end with configured (static) keys and a fixed `now`.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::JwkSet;
use serde_json::{Value, json};

use super::signer::TokenSigner;
use super::*;
use crate::clock::from_unix_seconds;
use crate::idp::{Expectations as Expected, TokenFault};

const ISSUER: &str = "https://idp.example";
const NOW: i64 = 1_800_000_000;

struct Fixture {
    rsa: TokenSigner,
    ec: TokenSigner,
    verifier: OidcVerifier,
}

fn config(keys: OidcKeySource) -> OidcSettings {
    OidcSettings {
        name: "example".to_owned(),
        issuer: ISSUER.to_owned(),
        provider: "idp.example".to_owned(),
        audiences: vec!["client-1".to_owned()],
        algorithms: vec![Algorithm::RS256, Algorithm::ES256],
        keys,
        leeway: Duration::from_secs(60),
        insecure_http: false,
    }
}

fn fixture() -> Fixture {
    let rsa = TokenSigner::generate_rsa("rsa-1").expect("rsa");
    let ec = TokenSigner::generate_ec("ec-1").expect("ec");
    let set = JwkSet {
        keys: vec![rsa.jwk(), ec.jwk()],
    };
    let verifier = OidcVerifier::new(config(OidcKeySource::Static(set))).expect("verifier");
    Fixture { rsa, ec, verifier }
}

fn claims() -> Value {
    json!({"iss": ISSUER, "aud": "client-1", "sub": "user-1", "iat": NOW, "exp": NOW + 300})
}

async fn verify(verifier: &OidcVerifier, token: &str) -> Result<FederatedIdentity, VerifyError> {
    verifier
        .verify(
            &SubjectCredential::WebIdentityToken(token),
            &Expected::NONE,
            from_unix_seconds(NOW),
        )
        .await
}

#[track_caller]
fn assert_fault(result: Result<FederatedIdentity, VerifyError>, expected: TokenFault) {
    match result {
        Err(VerifyError::Invalid { fault, .. }) => assert_eq!(fault, expected),
        other => panic!("expected {expected:?}, got {other:?}"),
    }
}

fn b64_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

#[tokio::test]
async fn rs256_and_es256_tokens_verify() {
    let f = fixture();
    for signer in [&f.rsa, &f.ec] {
        let token = signer.sign(&claims()).expect("signed");
        let id = verify(&f.verifier, &token).await.expect("valid");
        assert_eq!(id.subject, "user-1");
        assert_eq!(id.audience, "client-1");
        assert_eq!(id.provider, "idp.example");
    }
}

#[tokio::test]
async fn alg_none_is_refused() {
    let f = fixture();
    let token = format!(
        "{}.{}.",
        b64_json(&json!({"alg": "none", "kid": "rsa-1"})),
        b64_json(&claims())
    );
    assert_fault(verify(&f.verifier, &token).await, TokenFault::Algorithm);
}

#[tokio::test]
async fn hs256_keyed_with_the_public_key_is_refused() {
    let f = fixture();
    let jsonwebtoken::jwk::AlgorithmParameters::RSA(rsa) = &f.rsa.jwk().algorithm else {
        panic!("an RSA JWK");
    };
    let secret = URL_SAFE_NO_PAD.decode(&rsa.n).expect("n");
    let input = format!(
        "{}.{}",
        b64_json(&json!({"alg": "HS256", "kid": "rsa-1"})),
        b64_json(&claims())
    );
    let mac = jsonwebtoken::crypto::sign(
        input.as_bytes(),
        &jsonwebtoken::EncodingKey::from_secret(&secret),
        Algorithm::HS256,
    )
    .expect("mac");
    assert_fault(
        verify(&f.verifier, &format!("{input}.{mac}")).await,
        TokenFault::Algorithm,
    );
}

#[tokio::test]
async fn header_alg_must_fit_the_key() {
    let f = fixture();
    // The EC key's kid under an RSA algorithm, signed by the RSA key.
    let token = f
        .rsa
        .sign_with_header(&json!({"alg": "RS256", "kid": "ec-1"}), &claims())
        .expect("signed");
    assert_fault(verify(&f.verifier, &token).await, TokenFault::Algorithm);
}

#[tokio::test]
async fn tampered_payload_fails_the_signature() {
    let f = fixture();
    let token = f.rsa.sign(&claims()).expect("signed");
    let forged = f
        .rsa
        .sign(&json!({"iss": ISSUER, "aud": "client-1", "sub": "admin", "exp": NOW + 300}))
        .expect("signed");
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[1] = forged.split('.').nth(1).expect("payload");
    assert_fault(
        verify(&f.verifier, &parts.join(".")).await,
        TokenFault::Signature,
    );
}

#[tokio::test]
async fn another_key_under_a_known_kid_fails_the_signature() {
    let f = fixture();
    let impostor = TokenSigner::generate_rsa("rsa-1").expect("rsa");
    let token = impostor.sign(&claims()).expect("signed");
    assert_fault(verify(&f.verifier, &token).await, TokenFault::Signature);
}

#[tokio::test]
async fn unknown_kid_is_refused() {
    let f = fixture();
    let stranger = TokenSigner::generate_rsa("rsa-2").expect("rsa");
    let token = stranger.sign(&claims()).expect("signed");
    assert_fault(verify(&f.verifier, &token).await, TokenFault::UnknownKey);
}

#[tokio::test]
async fn a_token_without_kid_needs_a_single_key() {
    let f = fixture();
    let no_kid = json!({"alg": "ES256", "typ": "JWT"});
    let token = f.ec.sign_with_header(&no_kid, &claims()).expect("signed");
    assert_fault(verify(&f.verifier, &token).await, TokenFault::UnknownKey);

    let set = JwkSet {
        keys: vec![f.ec.jwk()],
    };
    let single = OidcVerifier::new(config(OidcKeySource::Static(set))).expect("verifier");
    assert!(verify(&single, &token).await.is_ok());
}

#[tokio::test]
async fn expired_and_not_yet_valid() {
    let f = fixture();
    let expired = f
        .rsa
        .sign(&json!({"iss": ISSUER, "aud": "client-1", "sub": "u", "exp": NOW - 61}))
        .expect("signed");
    assert!(matches!(
        verify(&f.verifier, &expired).await,
        Err(VerifyError::Expired)
    ));
    let early = f
        .rsa
        .sign(&json!({"iss": ISSUER, "aud": "client-1", "sub": "u", "nbf": NOW + 61, "exp": NOW + 300}))
        .expect("signed");
    assert_fault(verify(&f.verifier, &early).await, TokenFault::NotYetValid);
}

#[tokio::test]
async fn malformed_and_oversized_tokens() {
    let f = fixture();
    assert_fault(
        verify(&f.verifier, "not a token").await,
        TokenFault::Malformed,
    );
    let huge = f
        .rsa
        .sign(&json!({"iss": ISSUER, "aud": "client-1", "sub": "u", "exp": NOW + 300, "pad": "x".repeat(20_000)}))
        .expect("signed");
    assert_fault(verify(&f.verifier, &huge).await, TokenFault::Malformed);
}

#[test]
fn peek_issuer_routes_without_verifying() {
    let signer = TokenSigner::generate_ec("e").expect("ec");
    let token = signer.sign(&claims()).expect("signed");
    assert_eq!(peek_issuer(&token).expect("iss"), ISSUER);
    assert!(matches!(
        peek_issuer(&"a".repeat(20_001)),
        Err(VerifyError::Invalid {
            fault: TokenFault::Malformed,
            ..
        })
    ));
    assert!(matches!(
        peek_issuer("abc"),
        Err(VerifyError::Invalid {
            fault: TokenFault::Malformed,
            ..
        })
    ));
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let header = b64(r#"{"alg":"RS256"}"#);
    let with_payload = |p: &str| format!("{header}.{}.c2ln", b64(p));
    let fault = |token: &str| match peek_issuer(token) {
        Err(VerifyError::Invalid { fault, .. }) => fault,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        fault(&with_payload(r#"{"iss":"a","iss":"b"}"#)),
        TokenFault::Malformed
    );
    assert_eq!(fault(&with_payload(r#"{"iss":"a""#)), TokenFault::Malformed);
    assert_eq!(fault(&with_payload(r#"["iss"]"#)), TokenFault::Malformed);
    assert_eq!(
        fault(&with_payload(r#"{"iss":7}"#)),
        TokenFault::UnknownIssuer
    );
    assert_eq!(
        fault(&with_payload(r#"{"sub":"x"}"#)),
        TokenFault::UnknownIssuer
    );
    assert_eq!(
        fault(&format!("{}.d", with_payload(r#"{"iss":"a"}"#))),
        TokenFault::Malformed
    );
    assert_eq!(
        fault(&format!(".{}.c2ln", b64(r#"{"iss":"a"}"#))),
        TokenFault::Malformed
    );
    assert_eq!(fault(&format!("{header}.***.c2ln")), TokenFault::Malformed);
    assert_eq!(
        peek_issuer(&with_payload(r#"{"iss":"a","x":{"y":[1]}}"#)).expect("iss"),
        "a"
    );
}

#[test]
fn build_refuses_unsafe_configurations() {
    let signer = TokenSigner::generate_ec("e").expect("ec");
    let set = || JwkSet {
        keys: vec![signer.jwk()],
    };

    let mut hmac = config(OidcKeySource::Static(set()));
    hmac.algorithms.push(Algorithm::HS256);
    assert!(OidcVerifier::new(hmac).is_err());

    assert!(OidcVerifier::new(config(OidcKeySource::Static(JwkSet { keys: vec![] }))).is_err());

    let http = config(OidcKeySource::JwksUri("http://idp.example/jwks".to_owned()));
    assert!(OidcVerifier::new(http).is_err());

    let mut http_issuer = config(OidcKeySource::Discovery);
    http_issuer.issuer = "http://idp.example".to_owned();
    assert!(OidcVerifier::new(http_issuer).is_err());

    let mut no_audience = config(OidcKeySource::Static(set()));
    no_audience.audiences.clear();
    assert!(OidcVerifier::new(no_audience).is_err());
}

#[test]
fn jwks_file_is_read_at_build() {
    let signer = TokenSigner::generate_rsa("r").expect("rsa");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jwks.json");
    let set = JwkSet {
        keys: vec![signer.jwk()],
    };
    std::fs::write(&path, serde_json::to_vec(&set).expect("json")).expect("write");
    assert!(OidcVerifier::new(config(OidcKeySource::JwksFile(path.clone()))).is_ok());
    std::fs::write(&path, b"{\"keys\": []}").expect("write");
    assert!(OidcVerifier::new(config(OidcKeySource::JwksFile(path))).is_err());
}

#[test]
fn signer_round_trips_through_pkcs8() {
    for signer in [
        TokenSigner::generate_rsa("r").expect("rsa"),
        TokenSigner::generate_ec("e").expect("ec"),
    ] {
        let der = signer.to_pkcs8().expect("export");
        let again = TokenSigner::from_pkcs8("r2", signer.algorithm(), &der).expect("import");
        assert_eq!(again.algorithm(), signer.algorithm());
        assert_eq!(again.jwk().algorithm, signer.jwk().algorithm);
        assert_eq!(again.kid(), "r2");
    }
    let ec = TokenSigner::generate_ec("e")
        .expect("ec")
        .to_pkcs8()
        .expect("export");
    assert!(TokenSigner::from_pkcs8("x", Algorithm::RS256, &ec).is_err());
    assert!(TokenSigner::from_pkcs8("x", Algorithm::HS256, &ec).is_err());
    let rsa = TokenSigner::generate_rsa("r")
        .expect("rsa")
        .to_pkcs8()
        .expect("export");
    assert!(TokenSigner::from_pkcs8("x", Algorithm::ES256, &rsa).is_err());
    let ps = TokenSigner::from_pkcs8("p", Algorithm::PS256, &rsa).expect("PS256 with an RSA key");
    assert_eq!(ps.jwk().common.key_algorithm, Some(Algorithm::PS256.into()));
}

#[test]
fn signer_debug_shows_no_key_material() {
    let signer = TokenSigner::generate_ec("e").expect("ec");
    assert_eq!(
        format!("{signer:?}"),
        "TokenSigner { kid: \"e\", algorithm: ES256, .. }"
    );
}
