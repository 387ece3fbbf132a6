//! The portal as a SAML service provider on a real daemon: `GET /signin/NAME` for a SAML IdP
//! sends the browser to the IdP with an AuthnRequest (HTTP-Redirect binding) signed by the key
//! the daemon generated at first start, and `GET /saml/metadata` publishes that key's
//! certificate.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use stsbridge::clock::{Clock, SystemClock};
use stsbridge::web::cookies::{CookieKind, Cookies};
use stsbridge::web::saml::SamlLoginFlow;

use crate::support::daemon::{Daemon, Setup};

/// The HTTP-Redirect SingleSignOnService of the fixtures' IdP metadata.
const METADATA_SSO: &str = "https://idp.example.com/saml/sso";
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";

/// A daemon with a public URL offering the SAML IdP `corp` (`signin` more lines of its
/// `[signin]` table).
async fn daemon(signin: &str) -> Daemon {
    Daemon::start(Setup {
        idps: vec![(
            "corp".to_owned(),
            format!(
                "kind = \"saml\"\nname = \"corp\"\n\
                 metadata_file = \"{}/tests/fixtures/saml/idp-metadata.xml\"\n\
                 [signin]\ndisplay_name = \"Corp\"\n{signin}",
                env!("CARGO_MANIFEST_DIR")
            ),
        )],
        server: "public_url = \"http://{LISTEN}\"".to_owned(),
        ..Setup::default()
    })
    .await
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

async fn get(url: &str) -> Answer {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = client.get(url).send().await.expect("response");
    Answer {
        status: r.status().as_u16(),
        headers: r.headers().clone(),
        body: r.text().await.expect("body"),
    }
}

fn query(url: &str) -> BTreeMap<String, String> {
    let (_, query) = url.split_once('?').expect("a query");
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .expect("query")
        .into_iter()
        .collect()
}

fn inflate(saml_request: &str) -> String {
    let deflated = STANDARD.decode(saml_request).expect("base64");
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(deflated.as_slice())
        .read_to_string(&mut xml)
        .expect("DEFLATE");
    xml
}

/// The certificate the daemon generated for its SP key (PEM), beside its keyring.
fn sp_certificate(daemon: &Daemon) -> String {
    std::fs::read_to_string(daemon.dir.path().join("data/sp-signing.crt")).expect("certificate")
}

/// Whether `signature` (base64) is the RSA-SHA256 signature of `signed` by the key of `cert`.
fn verifies(cert_pem: &str, signed: &str, signature: &str) -> bool {
    use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()).expect("PEM");
    let cert = pem.parse_x509().expect("X.509");
    let key = cert.public_key().subject_public_key.data.to_vec();
    let Ok(signature) = STANDARD.decode(signature) else {
        return false;
    };
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key)
        .verify(signed.as_bytes(), &signature)
        .is_ok()
}

#[tokio::test]
async fn a_saml_login_sends_a_signed_authn_request_and_seals_its_id() {
    let daemon = daemon("").await;
    let started = SystemClock.now();
    let page = get(&format!("{}/signin/corp", daemon.url)).await;
    assert_eq!(page.status, 302, "{}", page.body);
    let location = page.header("location").to_owned();
    assert!(
        location.starts_with(&format!("{METADATA_SSO}?SAMLRequest=")),
        "{location}"
    );
    let params = query(&location);
    assert_eq!(params["RelayState"], "/console");
    assert_eq!(params["SigAlg"], RSA_SHA256);

    // The request's fields.
    let xml = inflate(&params["SAMLRequest"]);
    let request: samael::schema::AuthnRequest = xml.parse().expect("an AuthnRequest");
    assert!(
        request.id.starts_with('_') && request.id.len() == 33,
        "{}",
        request.id
    );
    assert_eq!(request.version, "2.0");
    assert_eq!(
        request.issuer_value(),
        Some(format!("{}/saml/metadata", daemon.url))
    );
    assert_eq!(
        request.assertion_consumer_service_url,
        Some(format!("{}/saml", daemon.url))
    );
    assert_eq!(request.destination.as_deref(), Some(METADATA_SSO));
    assert_eq!(
        request.protocol_binding.as_deref(),
        Some("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST")
    );
    let instant = request.issue_instant.timestamp();
    let started_unix = stsbridge::clock::unix_seconds(started);
    assert!(
        (started_unix - 1..=started_unix + 60).contains(&instant),
        "{instant} vs {started_unix}"
    );

    // The signature covers the exact query (SAML Bindings §3.4.4.1), with the SP key whose
    // certificate the daemon keeps.
    let (_, raw_query) = location.split_once('?').expect("query");
    let (signed, signature) = raw_query.split_once("&Signature=").expect("signed");
    let signature = percent_encoding::percent_decode_str(signature)
        .decode_utf8()
        .expect("UTF-8");
    let cert = sp_certificate(&daemon);
    assert!(verifies(&cert, signed, &signature), "{signed}");
    let tampered = signed.replacen("RelayState=%2Fconsole", "RelayState=%2Fevil", 1);
    assert_ne!(tampered, signed);
    assert!(!verifies(&cert, &tampered, &signature));

    // The AuthnRequest ID is sealed in the SAML login cookie, which comes with the IdP's
    // cross-site POST (loopback is a secure context).
    let set_cookie = page.header("set-cookie").to_owned();
    assert!(
        set_cookie.starts_with("__Host-stsbridge-saml-login=")
            && set_cookie.ends_with("; Path=/; Max-Age=600; HttpOnly; SameSite=None; Secure"),
        "{set_cookie}"
    );
    assert!(!set_cookie.contains(&request.id), "sealed: {set_cookie}");
    let keyring = stsbridge::creds::Keyring::load(&daemon.dir.path().join("data/keyring.json"))
        .expect("keyring");
    let sent_back = set_cookie.split(';').next().expect("cookie");
    let flow: SamlLoginFlow = Cookies::new(true)
        .open(
            &keyring,
            CookieKind::SamlLogin,
            [sent_back],
            SystemClock.now(),
        )
        .expect("the SAML login cookie opens");
    assert_eq!(flow.idp, "corp");
    assert_eq!(flow.authn_request_id, request.id);
    let late = SystemClock.now() + Duration::from_secs(601);
    assert!(
        Cookies::new(true)
            .open::<SamlLoginFlow>(&keyring, CookieKind::SamlLogin, [sent_back], late)
            .is_err(),
        "expired after the login's ten minutes"
    );

    // Each start is a new request.
    let again = get(&format!("{}/signin/corp", daemon.url)).await;
    let again = inflate(&query(again.header("location"))["SAMLRequest"]);
    let again: samael::schema::AuthnRequest = again.parse().expect("an AuthnRequest");
    assert_ne!(again.id, request.id);
}

#[tokio::test]
async fn the_sp_metadata_names_the_daemon_and_the_key_that_signs_its_requests() {
    let daemon = daemon("sso_url = \"https://idp.example.com/other-sso\"\n").await;
    let page = get(&format!("{}/saml/metadata", daemon.url)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.header("content-type"), "application/samlmetadata+xml");
    let metadata: samael::metadata::EntityDescriptor = page.body.parse().expect("metadata");
    assert_eq!(
        metadata.entity_id,
        Some(format!("{}/saml/metadata", daemon.url))
    );
    let sps = metadata.sp_sso_descriptors.expect("SPSSODescriptor");
    let sp = &sps[0];
    assert_eq!(sp.authn_requests_signed, Some(true));
    assert_eq!(sp.want_assertions_signed, Some(true));
    assert_eq!(
        sp.protocol_support_enumeration.as_deref(),
        Some("urn:oasis:names:tc:SAML:2.0:protocol")
    );
    let acs = &sp.assertion_consumer_services[0];
    assert_eq!(
        acs.binding,
        "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
    );
    assert_eq!(acs.location, format!("{}/saml", daemon.url));
    assert_eq!((acs.index, acs.is_default), (0, Some(true)));
    let key = &sp.key_descriptors.as_ref().expect("KeyDescriptor")[0];
    assert_eq!(key.key_use.as_deref(), Some("signing"));
    let published = &key
        .key_info
        .x509_data
        .as_ref()
        .expect("X509Data")
        .certificates[0];
    let (_, pem) =
        x509_parser::pem::parse_x509_pem(sp_certificate(&daemon).as_bytes()).expect("PEM");
    assert_eq!(
        STANDARD
            .decode(published.split_whitespace().collect::<String>())
            .expect("base64"),
        pem.contents,
        "the certificate of the key that signs the AuthnRequests"
    );
    assert!(
        !sp.name_id_formats
            .as_ref()
            .expect("NameIDFormat")
            .is_empty(),
        "{}",
        page.body
    );

    // `sso_url` wins over the metadata's SingleSignOnService.
    let start = get(&format!("{}/signin/corp", daemon.url)).await;
    assert!(
        start
            .header("location")
            .starts_with("https://idp.example.com/other-sso?SAMLRequest="),
        "{}",
        start.header("location")
    );
}

#[tokio::test]
async fn unsigned_requests_carry_no_signature_and_the_metadata_no_key() {
    let daemon = daemon("sign_requests = false\n").await;
    let page = get(&format!("{}/signin/corp", daemon.url)).await;
    assert_eq!(page.status, 302, "{}", page.body);
    let params = query(page.header("location"));
    assert!(params.contains_key("SAMLRequest"));
    assert!(!params.contains_key("SigAlg") && !params.contains_key("Signature"));

    let metadata = get(&format!("{}/saml/metadata", daemon.url)).await;
    let metadata: samael::metadata::EntityDescriptor = metadata.body.parse().expect("metadata");
    let sp = &metadata.sp_sso_descriptors.expect("SPSSODescriptor")[0];
    assert_eq!(sp.authn_requests_signed, Some(false));
    assert!(sp.key_descriptors.as_ref().is_none_or(Vec::is_empty));
}
