//! The OIDC verifier against an in-process IdP, with discovery and JWKS over HTTP: one test per
//! check, key rotation and the refresh discipline of the key cache.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::AlgorithmParameters;
use serde_json::{Value, json};
use stsbridge::clock::from_unix_seconds;
use stsbridge::identity::FederatedIdentity;
use stsbridge::idp::oidc::OidcKeySource;
use stsbridge::idp::oidc::OidcVerifier;
use stsbridge::idp::{
    Expectations, IdpRegistry, IdpVerifier, SubjectCredential, TokenFault, VerifyError,
};

use crate::support::idp::{AUDIENCE, JwksResponse, SUBJECT, TestIdp};

const T0: i64 = 1_800_000_000;

fn at(seconds_after_t0: u64) -> SystemTime {
    from_unix_seconds(T0) + Duration::from_secs(seconds_after_t0)
}

async fn verify(
    verifier: &OidcVerifier,
    token: &str,
    now: SystemTime,
) -> Result<FederatedIdentity, VerifyError> {
    verifier
        .verify(
            &SubjectCredential::WebIdentityToken(token),
            &Expectations::NONE,
            now,
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

#[track_caller]
fn assert_communication(result: Result<FederatedIdentity, VerifyError>) {
    assert!(
        matches!(result, Err(VerifyError::Communication(_))),
        "expected a communication error, got {result:?}"
    );
}

fn with(mut claims: Value, name: &str, value: Value) -> Value {
    claims[name] = value;
    claims
}

fn without(mut claims: Value, name: &str) -> Value {
    claims.as_object_mut().expect("object").remove(name);
    claims
}

/// An IdP, a verifier trusting it, and the verifier's cache warmed at `T0` (one fetch).
async fn warmed() -> (TestIdp, OidcVerifier) {
    let idp = TestIdp::start().await;
    let verifier = idp.verifier();
    let token = idp.token(&idp.claims(at(0)));
    verify(&verifier, &token, at(0)).await.expect("valid token");
    assert_eq!(idp.jwks_fetches(), 1);
    (idp, verifier)
}

/// Poll until `done` holds (at most 5 s).
async fn wait_for(done: impl Fn() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting");
}

/// Wait until a fetch that started at `now` has stored its outcome: a lookup of an unknown kid
/// waits for the fetch in flight and, within 30 s of the last fetch, starts none of its own.
async fn settle(idp: &TestIdp, verifier: &OidcVerifier, now: SystemTime) {
    let header = json!({"alg": "RS256", "kid": "no-such-kid"});
    let token = idp.token_with_header(&header, &idp.claims(now));
    assert!(verify(verifier, &token, now).await.is_err());
}

fn b64_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

// --- positive ---

#[tokio::test]
async fn rs256_token_verifies_after_discovery() {
    let idp = TestIdp::start().await;
    let verifier = idp.verifier();
    assert_eq!(
        idp.discovery_fetches() + idp.jwks_fetches(),
        0,
        "keys are fetched lazily"
    );
    let claims = with(idp.claims(at(0)), "amr", json!(["authenticated"]));
    let id = verify(&verifier, &idp.token(&claims), at(0))
        .await
        .expect("valid");
    assert_eq!(id.provider, idp.provider());
    assert_eq!(id.issuer, idp.issuer());
    assert_eq!(id.subject, SUBJECT);
    assert_eq!(id.audience, AUDIENCE);
    assert_eq!(id.claims["aud"], [AUDIENCE]);
    assert_eq!(id.claims["oaud"], [AUDIENCE]);
    assert_eq!(id.claims["sub"], [SUBJECT]);
    assert_eq!(id.claims["amr"], ["authenticated"]);
    assert_eq!((idp.discovery_fetches(), idp.jwks_fetches()), (1, 1));
    // Cached: a second token costs no fetch.
    verify(&verifier, &idp.token(&idp.claims(at(10))), at(10))
        .await
        .expect("valid");
    assert_eq!((idp.discovery_fetches(), idp.jwks_fetches()), (1, 1));
}

#[tokio::test]
async fn es256_token_verifies() {
    let idp = TestIdp::start().await;
    let id = verify(&idp.verifier(), &idp.ec_token(&idp.claims(at(0))), at(0))
        .await
        .expect("valid");
    assert_eq!(id.subject, SUBJECT);
}

#[tokio::test]
async fn session_tags_are_read() {
    let idp = TestIdp::start().await;
    let claims = with(
        idp.claims(at(0)),
        "https://aws.amazon.com/tags",
        json!({"principal_tags": {"Team": ["blue"]}, "transitive_tag_keys": ["Team"]}),
    );
    let id = verify(&idp.verifier(), &idp.token(&claims), at(0))
        .await
        .expect("valid");
    assert_eq!(id.session_tags.principal_tags["Team"], "blue");
    assert_eq!(id.session_tags.transitive_tag_keys, ["Team"]);
}

#[tokio::test]
async fn google_reports_and_checks_azp() {
    let idp = TestIdp::start().await;
    let google = "https://accounts.google.com";
    let mut config = idp.oidc_config();
    config.issuer = google.to_owned();
    config.provider = "accounts.google.com".to_owned();
    config.keys = OidcKeySource::JwksUri(idp.jwks_uri());
    let verifier = OidcVerifier::new(config).expect("verifier");
    let claims = with(idp.claims(at(0)), "iss", json!(google));

    let web_client = with(
        with(claims.clone(), "aud", json!("server-side-id")),
        "azp",
        json!(AUDIENCE),
    );
    let id = verify(&verifier, &idp.token(&web_client), at(0))
        .await
        .expect("azp configured");
    assert_eq!(id.provider, "accounts.google.com");
    assert_eq!(id.audience, AUDIENCE);
    assert_eq!(id.claims["aud"], [AUDIENCE]);
    assert_eq!(id.claims["oaud"], ["server-side-id"]);

    let foreign_azp = with(claims.clone(), "azp", json!("someone-else"));
    assert_fault(
        verify(&verifier, &idp.token(&foreign_azp), at(0)).await,
        TokenFault::Audience,
    );

    let no_azp = verify(&verifier, &idp.token(&claims), at(0))
        .await
        .expect("aud configured");
    assert_eq!(no_azp.audience, AUDIENCE);
}

#[tokio::test]
async fn registry_routes_by_unverified_issuer() {
    let idp = TestIdp::start().await;
    let registry = IdpRegistry::new([Arc::new(idp.verifier()) as Arc<dyn IdpVerifier>]);
    let id = registry
        .verify_web_identity(&idp.token(&idp.claims(at(0))), at(0))
        .await
        .expect("routed and valid");
    assert_eq!(id.subject, SUBJECT);
    let stranger = with(idp.claims(at(0)), "iss", json!("https://elsewhere.example"));
    assert_fault(
        registry
            .verify_web_identity(&idp.token(&stranger), at(0))
            .await,
        TokenFault::UnknownIssuer,
    );
}

// --- the negative matrix ---

#[tokio::test]
async fn expired_token() {
    let idp = TestIdp::start().await;
    let claims = with(idp.claims(at(0)), "exp", json!(T0 - 61));
    let result = verify(&idp.verifier(), &idp.token(&claims), at(0)).await;
    assert!(matches!(result, Err(VerifyError::Expired)), "{result:?}");
}

#[tokio::test]
async fn nbf_in_the_future() {
    let idp = TestIdp::start().await;
    let claims = with(idp.claims(at(0)), "nbf", json!(T0 + 120));
    assert_fault(
        verify(&idp.verifier(), &idp.token(&claims), at(0)).await,
        TokenFault::NotYetValid,
    );
}

#[tokio::test]
async fn wrong_issuer() {
    let idp = TestIdp::start().await;
    let claims = with(
        idp.claims(at(0)),
        "iss",
        json!(format!("{}/", idp.issuer())),
    );
    assert_fault(
        verify(&idp.verifier(), &idp.token(&claims), at(0)).await,
        TokenFault::Issuer,
    );
}

#[tokio::test]
async fn wrong_audience() {
    let idp = TestIdp::start().await;
    let claims = with(idp.claims(at(0)), "aud", json!(["another-client"]));
    assert_fault(
        verify(&idp.verifier(), &idp.token(&claims), at(0)).await,
        TokenFault::Audience,
    );
}

#[tokio::test]
async fn unknown_kid_after_exactly_one_refresh() {
    let (idp, verifier) = warmed().await;
    let stranger = idp.unpublished_signer();
    let token = stranger.sign(&idp.claims(at(31))).expect("sign");
    assert_fault(
        verify(&verifier, &token, at(31)).await,
        TokenFault::UnknownKey,
    );
    assert_eq!(idp.jwks_fetches(), 2, "one refresh for the unknown kid");
    assert_fault(
        verify(&verifier, &token, at(32)).await,
        TokenFault::UnknownKey,
    );
    assert_eq!(idp.jwks_fetches(), 2, "no second refresh within 30 s");
}

#[tokio::test]
async fn alg_none() {
    let idp = TestIdp::start().await;
    let header = json!({"alg": "none", "kid": idp.signer().kid()});
    let token = format!("{}.{}.", b64_json(&header), b64_json(&idp.claims(at(0))));
    assert_fault(
        verify(&idp.verifier(), &token, at(0)).await,
        TokenFault::Algorithm,
    );
    assert_eq!(idp.jwks_fetches(), 0, "refused before any key is fetched");
}

#[tokio::test]
async fn hs256_keyed_with_the_rsa_public_key() {
    let (idp, verifier) = warmed().await;
    let claims = idp.claims(at(0));
    assert_fault(
        verify(&verifier, &idp.hs256_with_public_key(&claims), at(0)).await,
        TokenFault::Algorithm,
    );
    let jwk = idp.signer().jwk();
    let AlgorithmParameters::RSA(rsa) = &jwk.algorithm else {
        panic!("an RSA JWK");
    };
    let n = URL_SAFE_NO_PAD.decode(&rsa.n).expect("n");
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        STANDARD.encode(idp.public_key_der())
    );
    let jwk_json = serde_json::to_string(&jwk).expect("json");
    for secret in [n.as_slice(), pem.as_bytes(), jwk_json.as_bytes()] {
        let token = idp.hs256_token(&claims, secret);
        assert_fault(
            verify(&verifier, &token, at(0)).await,
            TokenFault::Algorithm,
        );
    }
}

#[tokio::test]
async fn bad_signature() {
    let (idp, verifier) = warmed().await;
    let token = idp.token(&idp.claims(at(0)));
    let (input, signature) = token.rsplit_once('.').expect("three parts");
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).expect("b64");
    bytes[10] ^= 0x01;
    let forged = format!("{input}.{}", URL_SAFE_NO_PAD.encode(bytes));
    assert_fault(
        verify(&verifier, &forged, at(0)).await,
        TokenFault::Signature,
    );
}

#[tokio::test]
async fn key_from_another_issuer() {
    let (idp, verifier) = warmed().await;
    let other = TestIdp::start().await;
    let claims = idp.claims(at(40));
    // The other IdP's key under its own kid: unknown here, even after a refresh.
    assert_fault(
        verify(&verifier, &other.token(&claims), at(40)).await,
        TokenFault::UnknownKey,
    );
    // The other IdP's key under this IdP's kid: the signature does not verify.
    let header = json!({"alg": "RS256", "kid": idp.signer().kid()});
    let borrowed_kid = other.token_with_header(&header, &claims);
    assert_fault(
        verify(&verifier, &borrowed_kid, at(40)).await,
        TokenFault::Signature,
    );
    assert_eq!(
        other.jwks_fetches(),
        0,
        "keys come only from the configured IdP"
    );
}

#[tokio::test]
async fn malformed_jwts() {
    let idp = TestIdp::start().await;
    let verifier = idp.verifier();
    let good = idp.token(&idp.claims(at(0)));
    let (header, rest) = good.split_once('.').expect("parts");
    let malformed = [
        "abcd".to_owned(),
        "a.b.c".to_owned(),
        good.replace('.', ""),
        format!("{good}.extra"),
        format!("{header}=.{rest}"),
        format!("{}.{rest}", b64_json(&json!(["not", "an", "object"]))),
        format!("{}.{rest}", URL_SAFE_NO_PAD.encode("{\"alg\":")),
        format!("{header}.{}.c2ln", URL_SAFE_NO_PAD.encode("not json")),
        format!(
            "{}.{rest}",
            b64_json(&json!({"alg": "RS256", "crit": ["b64"], "b64": false}))
        ),
    ];
    for token in &malformed {
        assert_fault(verify(&verifier, token, at(0)).await, TokenFault::Malformed);
    }
    assert_eq!(
        idp.jwks_fetches(),
        0,
        "malformed tokens never cause a fetch"
    );
}

#[tokio::test]
async fn oversized_token() {
    let idp = TestIdp::start().await;
    let claims = with(idp.claims(at(0)), "padding", json!("x".repeat(20_000)));
    assert_fault(
        verify(&idp.verifier(), &idp.token(&claims), at(0)).await,
        TokenFault::Malformed,
    );
    assert_eq!(idp.jwks_fetches(), 0);
}

#[tokio::test]
async fn float_exp() {
    let idp = TestIdp::start().await;
    let claims = with(idp.claims(at(0)), "exp", json!(T0 as f64 + 3600.5));
    assert_fault(
        verify(&idp.verifier(), &idp.token(&claims), at(0)).await,
        TokenFault::Claims,
    );
    let string_exp = with(idp.claims(at(0)), "exp", json!((T0 + 3600).to_string()));
    assert_fault(
        verify(&idp.verifier(), &idp.token(&string_exp), at(0)).await,
        TokenFault::Claims,
    );
}

#[tokio::test]
async fn missing_sub() {
    let idp = TestIdp::start().await;
    let claims = without(idp.claims(at(0)), "sub");
    assert_fault(
        verify(&idp.verifier(), &idp.token(&claims), at(0)).await,
        TokenFault::Claims,
    );
}

#[tokio::test]
async fn idp_down_without_cached_keys() {
    let idp = TestIdp::start().await;
    let verifier = idp.verifier();
    idp.set_down(true);
    let token = idp.token(&idp.claims(at(0)));
    assert_communication(verify(&verifier, &token, at(0)).await);
    // Within the refresh interval the IdP is not asked again.
    assert_communication(verify(&verifier, &token, at(5)).await);
    assert_eq!(idp.discovery_fetches(), 1);
    // Back up: the next refresh (30 s later) gets the keys.
    idp.set_down(false);
    verify(&verifier, &token, at(30))
        .await
        .expect("valid once the IdP is back");
}

#[tokio::test]
async fn idp_stopped_without_cached_keys() {
    let idp = TestIdp::start().await;
    let verifier = idp.verifier();
    idp.stop();
    tokio::task::yield_now().await;
    assert_communication(verify(&verifier, &idp.token(&idp.claims(at(0))), at(0)).await);
}

#[tokio::test]
async fn idp_down_with_cached_keys_still_verifies() {
    let (idp, verifier) = warmed().await;
    idp.set_down(true);
    // Two hours later the cache (default lifetime 1 h) is stale: the cached key answers at once
    // and one refresh is tried in the background, and fails.
    let later = at(2 * 3600);
    verify(&verifier, &idp.token(&idp.claims(later)), later)
        .await
        .expect("cached keys keep serving");
    wait_for(|| idp.discovery_fetches() == 2).await;
    settle(&idp, &verifier, later).await;
    assert_eq!(idp.discovery_fetches(), 2, "one failed refresh");
    verify(&verifier, &idp.token(&idp.claims(later)), later)
        .await
        .expect("cached keys keep serving after the failed refresh");
    idp.stop();
    let even_later = at(3 * 3600);
    verify(&verifier, &idp.token(&idp.claims(even_later)), even_later)
        .await
        .expect("cached keys keep serving");
    settle(&idp, &verifier, even_later).await;
    verify(&verifier, &idp.token(&idp.claims(even_later)), even_later)
        .await
        .expect("cached keys keep serving while the IdP refuses connections");
}

#[tokio::test]
async fn discovery_issuer_mismatch() {
    let idp = TestIdp::start().await;
    idp.set_discovery_issuer(Some(&format!("{}/", idp.issuer())));
    let verifier = idp.verifier();
    let token = idp.token(&idp.claims(at(0)));
    assert_communication_about(verify(&verifier, &token, at(0)).await, "issuer");
    assert_eq!(idp.jwks_fetches(), 0, "the document's jwks_uri is not used");
}

/// The JWK Set of `idp`'s two keys with a `filler` member of `filler_bytes`.
fn padded_jwks(idp: &TestIdp, filler_bytes: usize) -> String {
    json!({
        "keys": [idp.signer().jwk(), idp.ec_signer().jwk()],
        "filler": "x".repeat(filler_bytes),
    })
    .to_string()
}

#[track_caller]
fn assert_communication_about(result: Result<FederatedIdentity, VerifyError>, needle: &str) {
    match result {
        Err(VerifyError::Communication(detail)) => {
            assert!(detail.contains(needle), "{detail:?} lacks {needle:?}")
        }
        other => panic!("expected a communication error, got {other:?}"),
    }
}

#[tokio::test]
async fn oversized_jwks() {
    let idp = TestIdp::start().await;
    let token = idp.token(&idp.claims(at(0)));
    idp.set_jwks_response(JwksResponse::Body(padded_jwks(&idp, 300 * 1024)));
    let verifier = idp.verifier();
    assert_communication_about(verify(&verifier, &token, at(0)).await, "exceeds");
    // The same document under the limit is fine.
    idp.set_jwks_response(JwksResponse::Body(padded_jwks(&idp, 200 * 1024)));
    verify(&verifier, &token, at(30)).await.expect("valid");
}

#[tokio::test]
async fn jwks_redirects_are_not_followed() {
    let idp = TestIdp::start().await;
    let elsewhere = TestIdp::start().await;
    idp.set_jwks_response(JwksResponse::RedirectTo(elsewhere.jwks_uri()));
    let token = idp.token(&idp.claims(at(0)));
    assert_communication_about(verify(&idp.verifier(), &token, at(0)).await, "302");
    assert_eq!(elsewhere.jwks_fetches(), 0);
}

#[tokio::test]
async fn http_key_urls_need_insecure_http() {
    let idp = TestIdp::start().await;
    let mut config = idp.oidc_config();
    config.insecure_http = false;
    assert!(
        OidcVerifier::new(config.clone()).is_err(),
        "http issuer for discovery"
    );
    config.keys = OidcKeySource::JwksUri(idp.jwks_uri());
    assert!(OidcVerifier::new(config).is_err(), "http jwks_uri");
    assert_eq!(idp.discovery_fetches() + idp.jwks_fetches(), 0);
}

// --- rotation and the refresh discipline ---

#[tokio::test]
async fn rotated_key_verifies_after_one_refresh() {
    let (idp, verifier) = warmed().await;
    let old = idp.token(&idp.claims(at(0)));
    idp.rotate_key();
    let fresh = idp.token(&idp.claims(at(31)));
    verify(&verifier, &fresh, at(31))
        .await
        .expect("new key after a refresh");
    assert_eq!(idp.jwks_fetches(), 2);
    // The withdrawn key is gone from the refreshed set.
    assert_fault(
        verify(&verifier, &old, at(32)).await,
        TokenFault::UnknownKey,
    );
    assert_eq!(idp.jwks_fetches(), 2);
}

#[tokio::test]
async fn withdrawn_key_is_refused_after_refresh() {
    let (idp, verifier) = warmed().await;
    let token = idp.ec_token(&idp.claims(at(0)));
    verify(&verifier, &token, at(0)).await.expect("published");
    idp.remove_key(idp.ec_signer().kid());
    // Still cached and fresh: the withdrawal is seen at the next refresh (an unknown kid here).
    verify(&verifier, &token, at(10)).await.expect("cached");
    let stranger = idp
        .unpublished_signer()
        .sign(&idp.claims(at(40)))
        .expect("sign");
    assert_fault(
        verify(&verifier, &stranger, at(40)).await,
        TokenFault::UnknownKey,
    );
    assert_eq!(idp.jwks_fetches(), 2);
    assert_fault(
        verify(&verifier, &token, at(41)).await,
        TokenFault::UnknownKey,
    );
}

#[tokio::test]
async fn unknown_kid_flood_fetches_once_per_interval() {
    let (idp, verifier) = warmed().await;
    for second in 1..=29 {
        let token = idp
            .unpublished_signer()
            .sign(&idp.claims(at(second)))
            .expect("sign");
        assert_fault(
            verify(&verifier, &token, at(second)).await,
            TokenFault::UnknownKey,
        );
    }
    assert_eq!(
        idp.jwks_fetches(),
        1,
        "within 30 s of the first fetch: none"
    );
    let stranger = idp.unpublished_signer();
    for second in 30..60 {
        let token = stranger.sign(&idp.claims(at(second))).expect("sign");
        assert_fault(
            verify(&verifier, &token, at(second)).await,
            TokenFault::UnknownKey,
        );
    }
    assert_eq!(idp.jwks_fetches(), 2, "one fetch at 30 s");
    let token = stranger.sign(&idp.claims(at(60))).expect("sign");
    assert_fault(
        verify(&verifier, &token, at(60)).await,
        TokenFault::UnknownKey,
    );
    assert_eq!(idp.jwks_fetches(), 3, "one more at 60 s");
}

#[tokio::test]
async fn concurrent_unknown_kid_verifications_share_one_fetch() {
    let (idp, verifier) = warmed().await;
    let verifier = Arc::new(verifier);
    let added = idp.add_key(idp.unpublished_signer());
    idp.set_jwks_delay(Duration::from_millis(300));
    let token = added.sign(&idp.claims(at(31))).expect("sign");
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let verifier = Arc::clone(&verifier);
            let token = token.clone();
            tokio::spawn(
                async move { verify(&verifier, &token, at(31)).await.map(|id| id.subject) },
            )
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("joined").expect("valid"), SUBJECT);
    }
    assert_eq!(idp.jwks_fetches(), 2, "one shared fetch");
}

#[tokio::test]
async fn cache_control_max_age_is_honoured_and_clamped() {
    let idp = TestIdp::start().await;
    idp.set_cache_control(Some("public, max-age=600"));
    let verifier = idp.verifier();
    let verify_at = |seconds: u64| {
        let now = at(seconds);
        let token = idp.token(&idp.claims(now));
        let verifier = &verifier;
        async move { verify(verifier, &token, now).await.expect("valid") }
    };
    verify_at(0).await;
    verify_at(599).await;
    assert_eq!(idp.jwks_fetches(), 1, "fresh for 600 s");
    verify_at(600).await;
    wait_for(|| idp.jwks_fetches() == 2).await;
    settle(&idp, &verifier, at(600)).await;
    assert_eq!(
        idp.jwks_fetches(),
        2,
        "stale after 600 s: one background refresh"
    );

    // max-age=1 is raised to the 5-minute floor.
    idp.set_cache_control(Some("max-age=1"));
    verify_at(1200).await;
    wait_for(|| idp.jwks_fetches() == 3).await;
    settle(&idp, &verifier, at(1200)).await;
    verify_at(1200 + 299).await;
    assert_eq!(idp.jwks_fetches(), 3, "fresh for at least 300 s");
    verify_at(1200 + 300).await;
    wait_for(|| idp.jwks_fetches() == 4).await;
}
