//! The SAML service provider of the portal: AuthnRequests started through `Portal::start`, the
//! SP metadata, and the assertion consumer's verification against the signed fixtures of
//! `tests/fixtures/saml` (its README.md lists them), with a real store's replay cache, at the
//! fixtures' fixed time.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::*;
use crate::clock::from_unix_seconds;
use crate::config::SigninSettings;
use crate::idp::saml::{IdpMetadata, SamlIdpSettings, SamlProvider};
use crate::idp::{IdpRegistry, IdpSettings};
use crate::store::{ReplayKey, Store};
use crate::web::Portal;

/// 2026-01-01T00:01:00Z: inside every fixture's validity window.
const NOW: i64 = 1_767_225_660;
const PUBLIC_URL: &str = "https://sts.example.com";
const PORTAL_ACS: &str = "https://sts.example.com/saml";
const IDP_CERT: &[u8] = include_bytes!("../../../tests/fixtures/saml/keys/idp.der");
const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/saml/keys");

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/saml/{name}.xml",
        env!("CARGO_MANIFEST_DIR")
    );
    STANDARD.encode(std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

fn now() -> SystemTime {
    from_unix_seconds(NOW)
}

fn metadata(sso: Option<&str>) -> IdpMetadata {
    IdpMetadata {
        entity_id: "https://idp.example.com/saml".to_owned(),
        signing_certs_der: vec![IDP_CERT.to_vec()],
        valid_until: None,
        cache_duration: None,
        sso_redirect_url: sso.map(str::to_owned),
    }
}

/// The settings of the IdP `name` as the configuration builds them with a public URL: AWS's
/// ACS and the portal's accepted.
fn idp_settings(name: &str) -> SamlIdpSettings {
    let mut settings = SamlIdpSettings::new(name, metadata(Some("https://idp.example.com/sso")));
    settings.acs_urls.push(PORTAL_ACS.to_owned());
    settings.portal_entity_id = Some("https://sts.example.com/saml/metadata".to_owned());
    settings
}

struct Fixture {
    federation: Federation,
    store: Store,
    _dir: tempfile::TempDir,
}

/// A federation whose SAML providers are `names` (each trusting the fixtures' IdP), their
/// replay cache a real store on a temporary directory.
fn federation(names: &[&str]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store: Store = crate::store::open(&crate::store::StorageSettings::new(
        dir.path().join("sled"),
        8 << 20,
    ))
    .unwrap();
    let verifiers = names.iter().map(|name| {
        Arc::new(SamlProvider::new(idp_settings(name), store.replay.clone()).unwrap())
            as Arc<dyn IdpVerifier>
    });
    let federation = Federation {
        idps: IdpRegistry::new(verifiers),
        roles: crate::config::RoleSet::default(),
        managed_policies: BTreeMap::new(),
        authorization_services: Vec::new(),
        accounts: BTreeMap::new(),
        signin: Vec::new(),
    };
    Fixture {
        federation,
        store,
        _dir: dir,
    }
}

fn flow(idp: &str, request_id: &str) -> SamlLoginFlow {
    SamlLoginFlow {
        idp: idp.to_owned(),
        authn_request_id: request_id.to_owned(),
        return_to: "/console".to_owned(),
    }
}

async fn verify(
    f: &Fixture,
    name: &str,
    flow: Option<&SamlLoginFlow>,
    at: SystemTime,
) -> Result<SamlSignIn, ApiError> {
    verify_response(&fixture(name), flow, &f.federation, at).await
}

#[track_caller]
fn assert_fault(result: Result<SamlSignIn, ApiError>, expected: TokenFault) {
    match result {
        Err(ApiError::InvalidIdentityToken { fault, .. }) => assert_eq!(fault, expected),
        other => panic!("expected {expected:?}, got {other:?}"),
    }
}

// ------------------------------------------------------------------ the assertion consumer

#[tokio::test]
async fn an_idp_initiated_response_to_the_portal_is_verified_without_a_flow() {
    let f = federation(&["corp"]);
    let signed_in = verify(&f, "portal-unsolicited", None, now()).await.unwrap();
    assert_eq!(signed_in.provider, "corp");
    assert_eq!(signed_in.identity.provider, "corp");
    assert_eq!(signed_in.identity.subject, "alice@example.com");
    assert_eq!(signed_in.identity.issuer, "https://idp.example.com/saml");
    assert_eq!(
        signed_in.identity.audience, PORTAL_ACS,
        "SAML:aud is the Recipient, as on AWS"
    );
    let facts = signed_in.identity.saml.as_ref().unwrap();
    assert_eq!(facts.in_response_to, None);
    assert_eq!(facts.grant.roles.len(), 2, "the Role pairs");
}

#[tokio::test]
async fn a_response_addressed_to_aws_is_accepted_at_the_portal_too() {
    let f = federation(&["corp"]);
    let signed_in = verify(&f, "response-signed", None, now()).await.unwrap();
    assert_eq!(
        signed_in.identity.audience,
        crate::idp::saml::DEFAULT_ACS_URL
    );
}

#[tokio::test]
async fn the_answer_to_the_authn_request_of_this_browser_is_verified() {
    let f = federation(&["corp"]);
    let pending = flow("corp", "_req1");
    let signed_in = verify(&f, "portal-in-response-to", Some(&pending), now())
        .await
        .unwrap();
    assert_eq!(signed_in.provider, "corp");
    let facts = signed_in.identity.saml.as_ref().unwrap();
    assert_eq!(facts.in_response_to.as_deref(), Some("_req1"));
}

#[tokio::test]
async fn an_answer_to_another_authn_request_is_refused() {
    let f = federation(&["corp"]);
    let result = verify(
        &f,
        "portal-in-response-to",
        Some(&flow("corp", "_another")),
        now(),
    )
    .await;
    assert_fault(result, TokenFault::Saml(SamlFault::InResponseTo));
    // The Response and its confirmation disagreeing is no answer either.
    let result = verify(
        &f,
        "in-response-to-disagreeing",
        Some(&flow("corp", "_req1")),
        now(),
    )
    .await;
    assert_fault(result, TokenFault::Saml(SamlFault::InResponseTo));
}

#[tokio::test]
async fn an_answer_to_an_authn_request_without_its_flow_is_refused() {
    // Issued to another browser's login (a stolen response), or the cookie was lost.
    let f = federation(&["corp"]);
    let result = verify(&f, "portal-in-response-to", None, now()).await;
    assert_fault(result, TokenFault::Saml(SamlFault::InResponseTo));
    let result = verify(&f, "in-response-to-confirmation-only", None, now()).await;
    assert_fault(result, TokenFault::Saml(SamlFault::InResponseTo));
}

#[tokio::test]
async fn an_unsolicited_response_is_refused_while_a_login_started_here_is_pending() {
    let f = federation(&["corp"]);
    let result = verify(
        &f,
        "portal-unsolicited",
        Some(&flow("corp", "_req1")),
        now(),
    )
    .await;
    assert_fault(result, TokenFault::Saml(SamlFault::InResponseTo));
}

#[tokio::test]
async fn a_response_from_an_idp_not_configured_is_refused() {
    let f = federation(&["corp"]);
    // Its Issuer is no provider's entityID.
    let result = verify(&f, "wrong-response-issuer", None, now()).await;
    assert_fault(result, TokenFault::UnknownProvider);
    // A flow naming a provider that is gone (removed by a reload since).
    let result = verify(
        &f,
        "portal-in-response-to",
        Some(&flow("gone", "_req1")),
        now(),
    )
    .await;
    assert_fault(result, TokenFault::UnknownProvider);
    // No Issuer to route by.
    let result = verify_response("PD94bWw+", None, &f.federation, now()).await;
    assert_fault(result, TokenFault::UnknownProvider);
}

#[tokio::test]
async fn two_providers_with_one_entity_id_cannot_take_idp_initiated_responses() {
    let f = federation(&["corp", "corp-again"]);
    let result = verify(&f, "portal-unsolicited", None, now()).await;
    assert_fault(result, TokenFault::UnknownProvider);
    // A login started here names its provider.
    let signed_in = verify(
        &f,
        "portal-in-response-to",
        Some(&flow("corp-again", "_req1")),
        now(),
    )
    .await
    .unwrap();
    assert_eq!(signed_in.provider, "corp-again");
}

#[tokio::test]
async fn a_tampered_signature_is_refused() {
    let f = federation(&["corp"]);
    for name in [
        "tampered-name-id",
        "tampered-role",
        "signature-emptied",
        "unsigned",
    ] {
        let result = verify(&f, name, None, now()).await;
        assert_fault(result, TokenFault::Saml(SamlFault::Signature));
    }
}

#[tokio::test]
async fn an_expired_assertion_is_refused_as_the_sts_api_refuses_it() {
    let f = federation(&["corp"]);
    // SubjectConfirmationData NotOnOrAfter 00:05:00Z plus the 60 s skew.
    let later = from_unix_seconds(NOW + 300);
    let result = verify(&f, "portal-unsolicited", None, later).await;
    assert!(matches!(result, Err(ApiError::ExpiredToken)), "{result:?}");
    assert_eq!(
        result.unwrap_err().row().code,
        "ExpiredTokenException",
        "the STS API's code"
    );
}

#[tokio::test]
async fn a_recipient_or_destination_neither_aws_nor_the_portal_is_refused() {
    let f = federation(&["corp"]);
    let result = verify(&f, "wrong-destination", None, now()).await;
    assert_fault(result, TokenFault::Saml(SamlFault::Destination));
    let result = verify(&f, "wrong-recipient", None, now()).await;
    assert_fault(result, TokenFault::Saml(SamlFault::Recipient));
}

#[tokio::test]
async fn malformed_input_is_an_aws_error_not_a_panic() {
    let f = federation(&["corp"]);
    for input in ["", "%%%", "a", &"A".repeat(200_000)] {
        let result = verify_response(input, None, &f.federation, now()).await;
        let err = result.expect_err(input);
        assert_eq!(err.row().status, StatusCode::BAD_REQUEST, "{err:?}");
    }
}

#[tokio::test]
async fn verifying_does_not_use_the_assertion_up_but_a_used_one_is_refused() {
    let f = federation(&["corp"]);
    verify(&f, "portal-unsolicited", None, now()).await.unwrap();
    verify(&f, "portal-unsolicited", None, now())
        .await
        .expect("shown again: the picker's re-POST");
    // The issuer remembers the assertion when it issues credentials.
    let key = ReplayKey::saml_assertion("corp", "_a1");
    assert!(
        f.store
            .replay
            .remember_once(&key, NOW + 3600, NOW)
            .await
            .unwrap()
    );
    let result = verify(&f, "portal-unsolicited", None, now()).await;
    assert_fault(result, TokenFault::Replay);
}

// ------------------------------------------------------------------ starting a login

fn portal() -> Portal {
    let keys = std::path::Path::new(KEYS);
    let sp_key = SpKey::load(
        &keys.join("sp-encryption.key"),
        &keys.join("sp-encryption.crt"),
    )
    .unwrap();
    Portal::new(
        PublicUrl::parse(PUBLIC_URL).unwrap(),
        &SigninSettings::default(),
        sp_key,
    )
    .unwrap()
}

fn offered(sso_url: Option<&str>, sign_requests: bool) -> SigninIdp {
    SigninIdp {
        name: "corp".to_owned(),
        display_name: "Corp".to_owned(),
        kind: SigninKind::Saml(SamlSignin {
            sso_url: sso_url.map(str::to_owned),
            sign_requests,
        }),
    }
}

fn header<'p>(page: &'p Page, name: &HeaderName) -> Vec<&'p str> {
    page.headers
        .iter()
        .filter(|(n, _)| n == name)
        .filter_map(|(_, v)| v.to_str().ok())
        .collect()
}

/// The query parameters of `url`, decoded.
fn query(url: &str) -> BTreeMap<String, String> {
    let (_, query) = url.split_once('?').unwrap();
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .unwrap()
        .into_iter()
        .collect()
}

fn authn_request(saml_request: &str) -> samael::schema::AuthnRequest {
    let deflated = STANDARD.decode(saml_request).unwrap();
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(deflated.as_slice())
        .read_to_string(&mut xml)
        .unwrap();
    xml.parse().unwrap()
}

/// The IdP `settings` as the federation holds it: its settings and its provider.
fn built(f: &Fixture, settings: SamlIdpSettings) -> (IdpSettings, Arc<SamlProvider>) {
    let provider = Arc::new(SamlProvider::new(settings.clone(), f.store.replay.clone()).unwrap());
    (IdpSettings::Saml(settings), provider)
}

fn as_built(built: &(IdpSettings, Arc<SamlProvider>)) -> (IdpSettings, Arc<dyn IdpVerifier>) {
    (built.0.clone(), built.1.clone() as Arc<dyn IdpVerifier>)
}

#[tokio::test]
async fn a_saml_login_sends_a_signed_authn_request_and_remembers_its_id() {
    let portal = portal();
    let keyring = Keyring::generate(now()).unwrap();
    let f = federation(&[]);
    let settings = as_built(&built(&f, idp_settings("corp")));
    let page = portal
        .start(
            &[offered(None, true)],
            "corp",
            Some(&settings),
            &keyring,
            None,
            now(),
        )
        .await
        .unwrap();
    assert_eq!(page.status, StatusCode::FOUND);
    let location = header(&page, &header::LOCATION)[0];
    assert!(
        location.starts_with("https://idp.example.com/sso?SAMLRequest="),
        "the metadata's SingleSignOnService: {location}"
    );
    let params = query(location);
    assert_eq!(params["RelayState"], "/console");
    assert_eq!(params["SigAlg"], authn_request::SIG_ALG_RSA_SHA256);
    assert!(params.contains_key("Signature"));
    let request = authn_request(&params["SAMLRequest"]);
    assert_eq!(
        request.issuer_value().as_deref(),
        Some("https://sts.example.com/saml/metadata")
    );
    assert_eq!(
        request.assertion_consumer_service_url.as_deref(),
        Some(PORTAL_ACS)
    );
    assert_eq!(
        request.destination.as_deref(),
        Some("https://idp.example.com/sso")
    );
    assert_eq!(request.issue_instant.timestamp(), NOW);

    // The cookie names this request, for the assertion consumer.
    let set_cookie = header(&page, &header::SET_COOKIE)[0];
    assert!(
        set_cookie.starts_with("__Host-stsbridge-saml-login=")
            && set_cookie.contains("SameSite=None; Secure"),
        "{set_cookie}"
    );
    let sent_back = set_cookie.split(';').next().unwrap();
    let flow = pending_flow(portal.cookies(), &keyring, [sent_back], now()).unwrap();
    assert_eq!(flow.idp, "corp");
    assert_eq!(flow.authn_request_id, request.id);
    assert_eq!(flow.return_to, "/console");
    assert!(
        !format!("{flow:?}").contains(&request.id),
        "Debug hides the request id"
    );
    // Expired after the login's time, refused under another keyring.
    let late = now() + LOGIN_TTL;
    assert!(pending_flow(portal.cookies(), &keyring, [sent_back], late).is_none());
    let other = Keyring::generate(now()).unwrap();
    assert!(pending_flow(portal.cookies(), &other, [sent_back], now()).is_none());

    // Each login has its own request.
    let again = portal
        .start(
            &[offered(None, true)],
            "corp",
            Some(&settings),
            &keyring,
            None,
            now(),
        )
        .await
        .unwrap();
    let again = query(header(&again, &header::LOCATION)[0]);
    assert_ne!(authn_request(&again["SAMLRequest"]).id, request.id);
}

#[tokio::test]
async fn sso_url_wins_over_the_metadata_and_unsigned_requests_carry_no_signature() {
    let portal = portal();
    let keyring = Keyring::generate(now()).unwrap();
    let f = federation(&[]);
    let settings = as_built(&built(&f, idp_settings("corp")));
    let idp = offered(Some("https://idp.example.com/other-sso?tenant=1"), false);
    let page = portal
        .start(&[idp], "corp", Some(&settings), &keyring, None, now())
        .await
        .unwrap();
    let location = header(&page, &header::LOCATION)[0];
    assert!(
        location.starts_with("https://idp.example.com/other-sso?tenant=1&SAMLRequest="),
        "{location}"
    );
    let params = query(location);
    assert!(!params.contains_key("SigAlg") && !params.contains_key("Signature"));
}

#[tokio::test]
async fn the_single_sign_on_service_of_refreshed_metadata_is_used() {
    let portal = portal();
    let keyring = Keyring::generate(now()).unwrap();
    let f = federation(&[]);
    let idp = built(&f, idp_settings("corp"));
    idp.1
        .replace_metadata(metadata(Some("https://idp.example.com/moved-sso")), now())
        .unwrap();
    let page = portal
        .start(
            &[offered(None, true)],
            "corp",
            Some(&as_built(&idp)),
            &keyring,
            None,
            now(),
        )
        .await
        .unwrap();
    let location = header(&page, &header::LOCATION)[0];
    assert!(
        location.starts_with("https://idp.example.com/moved-sso?SAMLRequest="),
        "{location}"
    );
}

#[tokio::test]
async fn without_a_single_sign_on_service_the_login_says_the_idp_cannot_be_reached() {
    let portal = portal();
    let keyring = Keyring::generate(now()).unwrap();
    let f = federation(&[]);
    let mut settings = idp_settings("corp");
    settings.metadata = Some(metadata(None));
    let result = portal
        .start(
            &[offered(None, true)],
            "corp",
            Some(&as_built(&built(&f, settings))),
            &keyring,
            None,
            now(),
        )
        .await;
    assert!(
        matches!(result, Err(ApiError::IdpCommunication(_))),
        "{result:?}"
    );
    // No metadata yet (a metadata_url not fetched since start-up).
    let mut settings = idp_settings("corp");
    settings.metadata = None;
    let result = portal
        .start(
            &[offered(None, true)],
            "corp",
            Some(&as_built(&built(&f, settings))),
            &keyring,
            None,
            now(),
        )
        .await;
    assert!(
        matches!(result, Err(ApiError::IdpCommunication(_))),
        "{result:?}"
    );
    // An IdP not offered is no page.
    let result = portal
        .start(&[offered(None, true)], "other", None, &keyring, None, now())
        .await;
    assert!(matches!(result, Err(ApiError::NotFound)), "{result:?}");
}

// ------------------------------------------------------------------ SP metadata

#[test]
fn the_metadata_names_the_portal_and_its_key_when_requests_are_signed() {
    let portal = portal();
    let page = portal.sp_metadata(&[offered(None, true)]).unwrap();
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        header(&page, &header::CONTENT_TYPE),
        ["application/samlmetadata+xml"]
    );
    let parsed: samael::metadata::EntityDescriptor = page.body.parse().unwrap();
    assert_eq!(
        parsed.entity_id.as_deref(),
        Some("https://sts.example.com/saml/metadata")
    );
    let sp = &parsed.sp_sso_descriptors.unwrap()[0];
    assert_eq!(sp.authn_requests_signed, Some(true));
    assert_eq!(sp.key_descriptors.as_ref().map(Vec::len), Some(1));
    assert_eq!(sp.assertion_consumer_services[0].location, PORTAL_ACS);

    let unsigned = portal.sp_metadata(&[offered(None, false)]).unwrap();
    let parsed: samael::metadata::EntityDescriptor = unsigned.body.parse().unwrap();
    let sp = &parsed.sp_sso_descriptors.unwrap()[0];
    assert_eq!(sp.authn_requests_signed, Some(false));
    assert!(sp.key_descriptors.as_ref().is_none_or(Vec::is_empty));
}
