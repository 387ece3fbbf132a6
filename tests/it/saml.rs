//! AssumeRoleWithSAML end to end: the real AWS SDK against the daemon, the signed fixtures of
//! `tests/fixtures/saml` (made by its `gen.sh`), sled on a temp dir, the clock pinned to the
//! fixtures' time.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use aws_sdk_sts::error::ProvideErrorMetadata;
use base64::Engine as _;
use serde_json::json;
use stsbridge::clock::ManualClock;
use stsbridge::idp::saml::{
    Loaded, MetadataRefresher, MetadataSource, RemoteMetadata, SamlError, SamlIdpSettings,
    SamlProvider, fetch_metadata_blocking, kept_copy_path, parse_metadata,
};

use crate::support::daemon::{ACCOUNT, Daemon, Setup, sts_client};

/// 2026-01-01T00:01:00Z: inside every fixture's validity window.
const FIXTURE_NOW: u64 = 1_767_225_660;
const PROVIDER: &str = "arn:aws:iam::123456789012:saml-provider/corp";
const ISSUER: &str = "https://idp.example.com/saml";
const RECIPIENT: &str = "https://signin.aws.amazon.com/saml";

pub(crate) fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/saml/{name}", env!("CARGO_MANIFEST_DIR"));
    let xml = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    base64::engine::general_purpose::STANDARD.encode(xml)
}

fn role_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{name}")
}

pub(crate) fn role(name: &str, condition: serde_json::Value) -> (String, String) {
    let doc = json!({
        "RoleName": name,
        "MaxSessionDuration": 43200,
        "AssumeRolePolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Federated": PROVIDER},
                "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession"],
                "Condition": condition
            }]
        }
    });
    (name.into(), doc.to_string())
}

struct Fixture {
    daemon: Daemon,
    clock: Arc<ManualClock>,
}

fn metadata_path() -> String {
    format!(
        "{}/tests/fixtures/saml/idp-metadata.xml",
        env!("CARGO_MANIFEST_DIR")
    )
}

async fn start() -> Fixture {
    start_with(format!(
        "kind = \"saml\"\nmetadata_file = \"{}\"\n",
        metadata_path()
    ))
    .await
}

/// A daemon whose one SAML IdP, `corp`, is configured by `idp_toml`.
async fn start_with(idp_toml: String) -> Fixture {
    let clock = Arc::new(ManualClock::new(
        UNIX_EPOCH + Duration::from_secs(FIXTURE_NOW),
    ));
    let daemon = Daemon::start(Setup {
        idps: vec![("corp".into(), idp_toml)],
        roles: vec![
            role(
                "saml-admin",
                json!({"StringEquals": {"SAML:aud": RECIPIENT, "SAML:iss": ISSUER}}),
            ),
            role(
                "saml-readonly",
                json!({"StringEquals": {"SAML:sub": "bob@example.com"}}),
            ),
            role("saml-other", json!({})),
        ],
        clock: clock.clone(),
        ..Setup::default()
    })
    .await;
    Fixture { daemon, clock }
}

impl Fixture {
    async fn assume(
        &self,
        role: &str,
        assertion: &str,
    ) -> Result<aws_sdk_sts::operation::assume_role_with_saml::AssumeRoleWithSamlOutput, String>
    {
        sts_client(&self.daemon.url)
            .assume_role_with_saml()
            .role_arn(role_arn(role))
            .principal_arn(PROVIDER)
            .saml_assertion(assertion)
            .send()
            .await
            .map_err(|e| e.code().unwrap_or("<no code>").to_owned())
    }
}

#[tokio::test]
async fn the_sdk_gets_every_field_aws_returns() {
    let f = start().await;
    let out = sts_client(&f.daemon.url)
        .assume_role_with_saml()
        .role_arn(role_arn("saml-admin"))
        .principal_arn(PROVIDER)
        .saml_assertion(fixture("response-signed.xml"))
        .duration_seconds(43200)
        .send()
        .await
        .expect("credentials");
    let creds = out.credentials().expect("Credentials");
    assert!(creds.access_key_id().starts_with("ASIA"));
    // The lesser of DurationSeconds (12 h), SessionDuration (2 h) and SessionNotOnOrAfter (~8 h).
    assert_eq!(creds.expiration().secs(), FIXTURE_NOW as i64 + 7200);
    let user = out.assumed_role_user().unwrap();
    assert_eq!(
        user.arn(),
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/saml-admin/alice@example.com")
    );
    assert!(user.assumed_role_id().ends_with(":alice@example.com"));
    assert_eq!(out.subject(), Some("alice@example.com"));
    assert_eq!(out.subject_type(), Some("persistent"));
    assert_eq!(out.issuer(), Some(ISSUER));
    assert_eq!(out.audience(), Some(RECIPIENT));
    assert_eq!(out.name_qualifier(), Some("HahBW48oNiXLlr28VT6/xduH27c="));
    // A PrincipalTag attribute was passed, so the packed size is reported.
    assert!(out.packed_policy_size().is_some());

    let record = f.daemon.session(creds.access_key_id()).await.unwrap();
    assert_eq!(record.session.provider, PROVIDER);
    assert_eq!(
        record.session.session_tags.get("team").map(String::as_str),
        Some("platform")
    );
    let event = f.daemon.audit().await.pop().unwrap();
    assert_eq!(event.event_name, "AssumeRoleWithSAML");
    assert_eq!(event.user_identity.kind, "SAMLUser");
    let text = serde_json::to_string(&event).unwrap();
    assert!(!text.contains(&fixture("response-signed.xml")[..64]));
}

#[tokio::test]
async fn every_signed_shape_is_accepted_once() {
    let f = start().await;
    for name in ["assertion-signed.xml", "both-signed.xml", "ec-signed.xml"] {
        // Each fixture carries the same assertion ID, so a fresh daemon per fixture.
        let f = start().await;
        f.assume("saml-admin", &fixture(name))
            .await
            .unwrap_or_else(|code| panic!("{name}: {code}"));
    }
    f.assume("saml-admin", &fixture("response-signed.xml"))
        .await
        .expect("first use");
    assert_eq!(
        f.assume("saml-admin", &fixture("response-signed.xml"))
            .await
            .unwrap_err(),
        "InvalidIdentityToken",
        "a replay"
    );
}

#[tokio::test]
async fn the_negative_matrix() {
    let f = start().await;
    let cases: Vec<(&str, &str, String, &str)> = vec![
        (
            "tampered role",
            "saml-admin",
            fixture("tampered-role.xml"),
            "InvalidIdentityToken",
        ),
        (
            "tampered NameID",
            "saml-admin",
            fixture("tampered-name-id.xml"),
            "InvalidIdentityToken",
        ),
        (
            "attacker key in KeyInfo",
            "saml-admin",
            fixture("attacker-key-in-keyinfo.xml"),
            "InvalidIdentityToken",
        ),
        (
            "signature removed",
            "saml-admin",
            fixture("signature-removed.xml"),
            "InvalidIdentityToken",
        ),
        (
            "unsigned",
            "saml-admin",
            fixture("unsigned.xml"),
            "InvalidIdentityToken",
        ),
        (
            "evil assertion before",
            "saml-admin",
            fixture("xsw-evil-assertion-before.xml"),
            "InvalidIdentityToken",
        ),
        (
            "signed assertion in extensions",
            "saml-admin",
            fixture("xsw-signed-assertion-in-extensions.xml"),
            "InvalidIdentityToken",
        ),
        (
            "duplicate id",
            "saml-admin",
            fixture("xsw-duplicate-id.xml"),
            "InvalidIdentityToken",
        ),
        (
            "two assertions",
            "saml-admin",
            fixture("two-assertions.xml"),
            "InvalidIdentityToken",
        ),
        (
            "rsa-sha1",
            "saml-admin",
            fixture("rsa-sha1-signed.xml"),
            "InvalidIdentityToken",
        ),
        (
            "wrong audience",
            "saml-admin",
            fixture("wrong-audience.xml"),
            "InvalidIdentityToken",
        ),
        (
            "wrong recipient",
            "saml-admin",
            fixture("wrong-recipient.xml"),
            "InvalidIdentityToken",
        ),
        (
            "wrong issuer",
            "saml-admin",
            fixture("wrong-issuer.xml"),
            "InvalidIdentityToken",
        ),
        (
            "billion laughs",
            "saml-admin",
            fixture("doctype-billion-laughs.xml"),
            "InvalidIdentityToken",
        ),
        (
            "external entity",
            "saml-admin",
            fixture("doctype-external-entity.xml"),
            "InvalidIdentityToken",
        ),
        (
            "comment in NameID",
            "saml-admin",
            fixture("name-id-comment.xml"),
            "InvalidIdentityToken",
        ),
        (
            "not base64",
            "saml-admin",
            "%%%% not base64 %%%%".into(),
            "InvalidIdentityToken",
        ),
        (
            "not XML",
            "saml-admin",
            base64::engine::general_purpose::STANDARD.encode("hello"),
            "InvalidIdentityToken",
        ),
        (
            "oversized",
            "saml-admin",
            "A".repeat(100_001),
            "ValidationError",
        ),
    ];
    for (name, role, assertion, code) in &cases {
        let got = f.assume(role, assertion).await;
        assert_eq!(
            got.as_ref().err().map(String::as_str),
            Some(*code),
            "case {name}"
        );
    }
    // Every valid fixture carries assertion ID _a1, used once per daemon: fresh daemons here.
    assert_eq!(
        start()
            .await
            .assume("saml-other", &fixture("assertion-signed.xml"))
            .await
            .unwrap_err(),
        "IDPRejectedClaim",
        "a role the assertion does not grant"
    );
    // Granted by the assertion, refused by the trust policy (wants bob).
    assert_eq!(
        start()
            .await
            .assume("saml-readonly", &fixture("ec-signed.xml"))
            .await
            .unwrap_err(),
        "AccessDenied"
    );
    // A provider that does not exist.
    let err = sts_client(&f.daemon.url)
        .assume_role_with_saml()
        .role_arn(role_arn("saml-admin"))
        .principal_arn(format!("arn:aws:iam::{ACCOUNT}:saml-provider/other"))
        .saml_assertion(fixture("both-signed.xml"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidIdentityToken"));
    // Expired: past SubjectConfirmationData NotOnOrAfter (00:05) plus the skew.
    f.clock.advance(Duration::from_secs(600));
    assert_eq!(
        f.assume("saml-admin", &fixture("rsa-sha512-signed.xml"))
            .await
            .unwrap_err(),
        "ExpiredTokenException"
    );
    assert!(
        f.daemon.sessions().await.is_empty(),
        "no session may be stored"
    );
}

/// A refused request does not use the assertion up: the role it was refused for is not granted
/// (`saml-other`) or its trust policy says no (`saml-readonly` trusts bob only), and the same
/// assertion then gets credentials for a role it may assume. Of two concurrent uses, one wins.
#[tokio::test]
async fn an_assertion_is_used_up_only_when_credentials_are_issued() {
    let f = start().await;
    let assertion = fixture("response-signed.xml");
    assert_eq!(
        f.assume("saml-other", &assertion).await.unwrap_err(),
        "IDPRejectedClaim"
    );
    assert_eq!(
        f.assume("saml-readonly", &assertion).await.unwrap_err(),
        "AccessDenied"
    );
    let racers: Vec<_> = (0..4)
        .map(|_| {
            let url = f.daemon.url.clone();
            let assertion = assertion.clone();
            tokio::spawn(async move {
                sts_client(&url)
                    .assume_role_with_saml()
                    .role_arn(role_arn("saml-admin"))
                    .principal_arn(PROVIDER)
                    .saml_assertion(assertion)
                    .send()
                    .await
                    .is_ok()
            })
        })
        .collect();
    let mut issued = 0;
    for racer in racers {
        issued += usize::from(racer.await.unwrap());
    }
    assert_eq!(issued, 1, "one use wins");
    assert_eq!(f.daemon.sessions().await.len(), 1);
}

#[tokio::test]
async fn a_replay_inside_the_clock_skew_is_still_refused() {
    let f = start().await;
    f.assume("saml-admin", &fixture("response-signed.xml"))
        .await
        .expect("first use");
    // SubjectConfirmationData NotOnOrAfter is 00:05:00; with the 60 s skew the assertion is
    // still accepted at 00:05:59, so its ID must still be remembered then.
    f.clock
        .set(UNIX_EPOCH + Duration::from_secs(1_767_225_900 + 59));
    assert_eq!(
        f.assume("saml-admin", &fixture("response-signed.xml"))
            .await
            .unwrap_err(),
        "InvalidIdentityToken"
    );
    assert_eq!(f.daemon.sessions().await.len(), 1);
}

// ------------------------------------------------------------------ metadata from a URL

/// An IdP's metadata endpoint on `127.0.0.1:0`, serving `/metadata`. It runs on a thread and
/// runtime of its own: the configuration layer fetches metadata with a blocking call, which
/// must not wait on the runtime of the test that calls it.
struct MetadataServer {
    url: String,
    served: Arc<Served>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What `/metadata` answers.
#[derive(Clone)]
enum Answer {
    /// `200 OK` with this document.
    Document(String),
    /// `503 Service Unavailable`.
    Down,
    /// `302 Found` to this URL.
    Redirect(String),
}

struct Served {
    answer: std::sync::Mutex<Answer>,
    fetches: std::sync::atomic::AtomicUsize,
}

impl MetadataServer {
    fn start(document: String) -> MetadataServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("non-blocking");
        let url = format!("http://{}/metadata", listener.local_addr().expect("addr"));
        let served = Arc::new(Served {
            answer: std::sync::Mutex::new(Answer::Document(document)),
            fetches: std::sync::atomic::AtomicUsize::new(0),
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let state = Arc::clone(&served);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let router = axum::Router::new()
                    .route("/metadata", axum::routing::get(answer))
                    .with_state(state);
                let _ = axum::serve(listener, router)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await;
            });
        });
        MetadataServer {
            url,
            served,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    fn answer(&self, answer: Answer) {
        *self.served.answer.lock().expect("answer") = answer;
    }

    fn serve(&self, document: String) {
        self.answer(Answer::Document(document));
    }

    fn fetches(&self) -> usize {
        self.served
            .fetches
            .load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for MetadataServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn answer(
    axum::extract::State(served): axum::extract::State<Arc<Served>>,
) -> axum::response::Response {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    served
        .fetches
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let answer = served.answer.lock().expect("answer").clone();
    match answer {
        Answer::Document(xml) => (
            [(header::CONTENT_TYPE, "application/samlmetadata+xml")],
            xml,
        )
            .into_response(),
        Answer::Down => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        Answer::Redirect(to) => (StatusCode::FOUND, [(header::LOCATION, to)]).into_response(),
    }
}

/// The fixture metadata: signing keys `idp` (RSA) and `ec`, validUntil 2027-01-01.
fn metadata_xml() -> String {
    std::fs::read_to_string(metadata_path()).expect("metadata fixture")
}

/// The fixture metadata without the signing KeyDescriptor whose certificate starts with the
/// `n`th (0-based) `<md:KeyDescriptor use="signing">`.
fn metadata_without_signing_key(n: usize) -> String {
    let xml = metadata_xml();
    let start = xml
        .match_indices("<md:KeyDescriptor use=\"signing\">")
        .nth(n)
        .expect("signing KeyDescriptor")
        .0;
    let end = start + xml[start..].find("</md:KeyDescriptor>").expect("end") + 19;
    format!("{}{}", &xml[..start], &xml[end..])
}

/// Only the RSA key (`idp`): `response-signed.xml` verifies, `ec-signed.xml` does not.
fn rsa_only_metadata() -> String {
    metadata_without_signing_key(1)
}

/// Only the EC key (`ec`), as after a rollover: `ec-signed.xml` verifies.
fn ec_only_metadata() -> String {
    metadata_without_signing_key(0)
}

fn fixture_now() -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_secs(FIXTURE_NOW)
}

fn url_settings(server: &MetadataServer) -> (SamlIdpSettings, RemoteMetadata) {
    let (metadata, xml) = fetch_metadata_blocking(&server.url, true).expect("metadata");
    let remote = RemoteMetadata {
        url: server.url.clone(),
        insecure_http: true,
        refresh_interval: Duration::from_secs(60),
        kept_copy: None,
        loaded: Loaded::Fetched(xml),
    };
    let mut settings = SamlIdpSettings::new("corp", metadata);
    settings.metadata_source = MetadataSource::Url(remote.clone());
    (settings, remote)
}

/// A provider of `server`'s metadata and its refresher, on a clock stopped at the fixtures' time.
/// The third value is the directory of the provider's replay cache, to keep while it is used.
fn refreshed_provider(
    server: &MetadataServer,
) -> (Arc<SamlProvider>, MetadataRefresher, tempfile::TempDir) {
    let (settings, remote) = url_settings(server);
    let (dir, store) = crate::support::scratch_store();
    let provider = Arc::new(SamlProvider::new(settings, store.replay).expect("provider"));
    let clock = Arc::new(ManualClock::new(fixture_now()));
    let refresher =
        MetadataRefresher::new(Arc::clone(&provider), remote, clock, Default::default())
            .expect("refresher");
    (provider, refresher, dir)
}

fn accepts(provider: &SamlProvider, name: &str) -> bool {
    provider
        .verifier()
        .is_some_and(|verifier| verifier.verify(&fixture(name), fixture_now()).is_ok())
}

/// A configuration directory with the main file and empty IdP, role and policy folders.
fn config_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for sub in ["idp-configs", "roles", "policies"] {
        std::fs::create_dir_all(dir.path().join(sub)).expect("mkdir");
    }
    std::fs::write(
        dir.path().join("stsbridge.toml"),
        "default_account_id = \"123456789012\"\n[server]\nlisten = \"127.0.0.1:0\"\n\
         [storage]\npath = \"data/sled\"\n[keys]\npath = \"data/keyring.json\"\n",
    )
    .expect("main config");
    dir
}

#[tokio::test]
async fn metadata_is_fetched_from_its_url_when_the_configuration_is_loaded() {
    let server = MetadataServer::start(metadata_xml());
    let dir = config_dir();
    let idp = |name: &str, url: &str| {
        std::fs::write(
            dir.path().join("idp-configs").join(format!("{name}.toml")),
            format!(
                "kind = \"saml\"\nmetadata_url = \"{url}\"\ninsecure_http = true\nmetadata_refresh_seconds = 600\n"
            ),
        )
        .expect("idp config");
    };
    idp("corp", &server.url);
    let config = stsbridge::config::load(&dir.path().join("stsbridge.toml")).expect("valid");
    let stsbridge::idp::IdpSettings::Saml(settings) = &config.federation.idps[0] else {
        panic!("a SAML IdP");
    };
    assert_eq!(server.fetches(), 1);
    assert_eq!(
        settings.metadata,
        Some(parse_metadata(&metadata_xml()).expect("metadata"))
    );
    assert_eq!(
        settings.metadata_source,
        MetadataSource::Url(RemoteMetadata {
            url: server.url.clone(),
            insecure_http: true,
            refresh_interval: Duration::from_secs(600),
            kept_copy: Some(kept_copy_path(
                &dir.path().join("data/saml-metadata"),
                "corp",
                &server.url
            )),
            loaded: Loaded::Fetched(metadata_xml()),
        })
    );

    // What check-config reports: the file, the field, why; a warning, since one IdP down
    // must not keep the daemon from starting.
    let broken =
        MetadataServer::start(metadata_xml().replace("IDPSSODescriptor", "SPSSODescriptor"));
    idp("sp-metadata", &broken.url);
    let down = MetadataServer::start(String::new());
    down.answer(Answer::Down);
    idp("down", &down.url);
    let redirecting = MetadataServer::start(String::new());
    redirecting.answer(Answer::Redirect(server.url.clone()));
    idp("redirect", &redirecting.url);
    let config = stsbridge::config::load(&dir.path().join("stsbridge.toml"))
        .expect("IdPs whose metadata cannot be had are warnings");
    let problems = config
        .warnings
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    for expected in [
        "sp-metadata.toml: metadata_url: SAML provider configuration: metadata: not SAML metadata",
        "down.toml: metadata_url: SAML metadata: GET",
        "redirect.toml: metadata_url: SAML metadata: GET",
    ] {
        assert!(problems.contains(expected), "{expected}\n---\n{problems}");
    }
    assert!(problems.contains("status 503"), "{problems}");
    assert!(problems.contains("status 302"), "{problems}");
    assert!(
        problems.contains("no copy of earlier metadata is kept"),
        "{problems}"
    );
    assert_eq!(server.fetches(), 2, "a redirect is not followed");
    let without: Vec<&str> = config
        .federation
        .idps
        .iter()
        .filter_map(|idp| match idp {
            stsbridge::idp::IdpSettings::Saml(s) if s.metadata.is_none() => Some(s.name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(without, ["down", "redirect", "sp-metadata"]);
}

#[tokio::test]
async fn a_refresh_picks_up_a_rolled_over_certificate() {
    let server = MetadataServer::start(rsa_only_metadata());
    let (provider, refresher, _store) = refreshed_provider(&server);
    assert!(accepts(&provider, "response-signed.xml"));
    assert!(!accepts(&provider, "ec-signed.xml"));

    // The IdP announces its next key beside the current one, then drops the old one.
    server.serve(metadata_xml());
    let refreshed = refresher.refresh().await.expect("refreshed");
    assert!(refreshed.certificates_changed);
    assert!(accepts(&provider, "response-signed.xml"));
    assert!(accepts(&provider, "ec-signed.xml"));

    server.serve(ec_only_metadata());
    assert!(
        refresher
            .refresh()
            .await
            .expect("refreshed")
            .certificates_changed
    );
    assert!(!accepts(&provider, "response-signed.xml"));
    assert!(accepts(&provider, "ec-signed.xml"));

    server.serve(ec_only_metadata());
    assert!(
        !refresher
            .refresh()
            .await
            .expect("refreshed")
            .certificates_changed
    );
    assert_eq!(server.fetches(), 4);
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_last_good_metadata() {
    let server = MetadataServer::start(rsa_only_metadata());
    let (provider, refresher, _store) = refreshed_provider(&server);
    let good = provider.verifier().expect("metadata").metadata().clone();
    let failures: Vec<(&str, Answer)> = vec![
        ("down", Answer::Down),
        (
            "redirect",
            Answer::Redirect(format!("{}?elsewhere", server.url)),
        ),
        ("not XML", Answer::Document("<md:EntityDescriptor".into())),
        (
            "another entityID",
            Answer::Document(metadata_xml().replace(
                "entityID=\"https://idp.example.com/saml\"",
                "entityID=\"https://evil.example.com/saml\"",
            )),
        ),
        (
            "no signing certificate",
            Answer::Document(metadata_xml().replace("use=\"signing\"", "use=\"encryption\"")),
        ),
        (
            "validUntil passed",
            Answer::Document(metadata_xml().replace(
                "validUntil=\"2027-01-01T00:00:00Z\"",
                "validUntil=\"2025-12-31T00:00:00Z\"",
            )),
        ),
        (
            "over 1 MiB",
            Answer::Document(metadata_xml().replace(
                "<md:NameIDFormat>",
                &format!("<!--{}--><md:NameIDFormat>", "x".repeat(1 << 20)),
            )),
        ),
    ];
    for (what, answer) in failures {
        server.answer(answer);
        assert!(refresher.refresh().await.is_err(), "{what}");
        assert_eq!(
            provider.verifier().expect("metadata").metadata(),
            &good,
            "{what}"
        );
        assert!(accepts(&provider, "response-signed.xml"), "{what}");
        assert!(!accepts(&provider, "ec-signed.xml"), "{what}");
    }
    // A good document again is taken.
    server.serve(ec_only_metadata());
    assert!(refresher.refresh().await.is_ok());
    assert!(accepts(&provider, "ec-signed.xml"));
}

#[tokio::test]
async fn metadata_past_valid_until_is_not_used() {
    // From a URL: fetched at start, then the clock passes its validUntil.
    let server = MetadataServer::start(metadata_xml().replace(
        "validUntil=\"2027-01-01T00:00:00Z\"",
        "validUntil=\"2026-01-01T00:01:30Z\"",
    ));
    let (provider, _, _store) = refreshed_provider(&server);
    assert!(accepts(&provider, "response-signed.xml"));
    let later = fixture_now() + Duration::from_secs(30);
    assert!(matches!(
        provider
            .verifier()
            .expect("metadata")
            .verify(&fixture("response-signed.xml"), later),
        Err(SamlError::MetadataExpired { .. })
    ));

    // From a file, through the daemon: IDPCommunicationError, and no session.
    let dir = tempfile::tempdir().expect("tempdir");
    let expired = dir.path().join("expired-metadata.xml");
    std::fs::write(
        &expired,
        metadata_xml().replace(
            "validUntil=\"2027-01-01T00:00:00Z\"",
            "validUntil=\"2025-12-31T00:00:00Z\"",
        ),
    )
    .expect("write");
    let f = start_with(format!(
        "kind = \"saml\"\nmetadata_file = \"{}\"\n",
        expired.display()
    ))
    .await;
    assert_eq!(
        f.assume("saml-admin", &fixture("response-signed.xml"))
            .await
            .unwrap_err(),
        "IDPCommunicationError"
    );
    assert!(f.daemon.sessions().await.is_empty());
}

#[tokio::test]
async fn the_daemon_refreshes_metadata_on_its_interval() {
    let server = MetadataServer::start(rsa_only_metadata());
    let f = start_with(format!(
        "kind = \"saml\"\nmetadata_url = \"{}\"\ninsecure_http = true\nmetadata_refresh_seconds = 5\n",
        server.url
    ))
    .await;
    assert_eq!(
        f.assume("saml-admin", &fixture("ec-signed.xml"))
            .await
            .unwrap_err(),
        "InvalidIdentityToken",
        "the EC key is not in the metadata yet"
    );
    server.serve(ec_only_metadata());
    let fetched_at_start = server.fetches();
    for _ in 0..150 {
        if server.fetches() > fetched_at_start {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        server.fetches() > fetched_at_start,
        "no refresh within 15 s"
    );
    // The swap follows the fetch at once; give it a moment.
    let mut result = Err(String::new());
    for _ in 0..20 {
        result = f.assume("saml-admin", &fixture("ec-signed.xml")).await;
        if result.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    result.expect("accepted with the rolled-over key");
}

#[tokio::test]
async fn a_narrowed_algorithm_list_refuses_the_others() {
    let f = start_with(format!(
        "kind = \"saml\"\nmetadata_file = \"{}\"\nalgorithms = [\"ecdsa-sha256\"]\n",
        metadata_path()
    ))
    .await;
    for name in ["response-signed.xml", "rsa-sha512-signed.xml"] {
        assert_eq!(
            f.assume("saml-admin", &fixture(name)).await.unwrap_err(),
            "InvalidIdentityToken",
            "{name}"
        );
    }
    f.assume("saml-admin", &fixture("ec-signed.xml"))
        .await
        .expect("ECDSA-SHA256 is on the list");
}

// ------------------------------------------------------------------ encrypted assertions

fn key_path(name: &str) -> String {
    format!(
        "{}/tests/fixtures/saml/keys/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[tokio::test]
async fn encrypted_assertions_are_accepted_only_in_signed_responses_with_the_key() {
    // The key, owner-only, beside the IdP file.
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("sp-encryption.key");
    std::fs::copy(key_path("sp-encryption.key"), &key).expect("copy key");
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    let f = start_with(format!(
        "kind = \"saml\"\nmetadata_file = \"{}\"\ndecryption_key_file = \"{}\"\n",
        metadata_path(),
        key.display()
    ))
    .await;
    for name in [
        "encrypted-response-unsigned.xml",
        "encrypted-assertion-signed-response-unsigned.xml",
        "encrypted-to-other-key.xml",
        "encrypted-tampered-ciphertext.xml",
        "encrypted-rsa-1_5.xml",
        "encrypted-tampered-inner-signature.xml",
        "encrypted-wrong-audience.xml",
    ] {
        assert_eq!(
            f.assume("saml-admin", &fixture(name)).await.unwrap_err(),
            "InvalidIdentityToken",
            "{name}"
        );
    }
    assert!(f.daemon.sessions().await.is_empty());
    let out = f
        .assume("saml-admin", &fixture("encrypted-response-signed.xml"))
        .await
        .expect("credentials");
    assert_eq!(out.subject(), Some("alice@example.com"));
    assert_eq!(out.issuer(), Some(ISSUER));
    // The decrypted assertion's ID is remembered like any other.
    assert_eq!(
        f.assume("saml-admin", &fixture("encrypted-gcm-assertion-signed.xml"))
            .await
            .unwrap_err(),
        "InvalidIdentityToken",
        "the same assertion ID, encrypted again"
    );
    assert_eq!(f.daemon.sessions().await.len(), 1);

    // Without a key, refused as before.
    let plain = start().await;
    assert_eq!(
        plain
            .assume("saml-admin", &fixture("encrypted-response-signed.xml"))
            .await
            .unwrap_err(),
        "InvalidIdentityToken"
    );
}

/// `/readyz` of `daemon`: its status and the detail it gives for the IdP `corp`.
async fn corp_readiness(daemon: &Daemon) -> (u16, String) {
    let response = reqwest::get(format!("{}/readyz", daemon.url))
        .await
        .expect("readyz");
    let status = response.status().as_u16();
    let body: serde_json::Value =
        serde_json::from_str(&response.text().await.expect("body")).expect("JSON");
    let detail = body["identity_providers"]["corp"]["detail"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (status, detail)
}

/// One unreachable `metadata_url` kept the whole daemon from starting. Now the daemon starts
/// with that IdP waiting for its metadata (its responses refused with `IDPCommunicationError`,
/// `/readyz` saying why), picks the metadata up soon after the IdP is back, keeps a copy, and a
/// restart during a later outage starts with that copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idp_down_at_start_up_does_not_stop_the_daemon_and_is_picked_up_when_back() {
    let server = MetadataServer::start(metadata_xml());
    server.answer(Answer::Down);
    let f = start_with(format!(
        "kind = \"saml\"\nmetadata_url = \"{}\"\ninsecure_http = true\n",
        server.url
    ))
    .await;
    assert_eq!(
        f.assume("saml-admin", &fixture("response-signed.xml"))
            .await
            .map(drop),
        Err("IDPCommunicationError".to_owned())
    );
    let (status, detail) = corp_readiness(&f.daemon).await;
    assert_eq!(status, 503);
    assert!(
        detail.contains("no metadata") && detail.contains("503"),
        "{detail}"
    );
    assert!(f.daemon.sessions().await.is_empty());

    // The IdP comes back: the first retry is 5 s after start-up.
    server.serve(metadata_xml());
    let mut waited = 0;
    while corp_readiness(&f.daemon).await.0 != 200 {
        assert!(waited < 150, "the metadata was not picked up within 15 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    let (_, detail) = corp_readiness(&f.daemon).await;
    assert!(detail.starts_with("2 signing certificate(s)"), "{detail}");
    let kept: Vec<_> = std::fs::read_dir(f.daemon.dir.path().join("data/saml-metadata"))
        .expect("the kept copies")
        .map(|entry| entry.expect("entry").path())
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(
        std::fs::read_to_string(&kept[0]).expect("kept copy"),
        metadata_xml()
    );

    // Down again, and the daemon restarts meanwhile: it starts with the kept copy. (Every
    // valid fixture carries one assertion ID, used once per store: the first use is here.)
    server.answer(Answer::Down);
    let clock = f.clock.clone();
    let dir = f.daemon.stop().await;
    let daemon = Daemon::restart_with(dir, clock.clone()).await;
    let f = Fixture { daemon, clock };
    f.assume("saml-admin", &fixture("response-signed.xml"))
        .await
        .expect("credentials with the kept copy");
    let (_, detail) = corp_readiness(&f.daemon).await;
    assert!(detail.contains("the last refresh failed"), "{detail}");
}

/// `check-config` prints a metadata URL that cannot be fetched as a warning (exit 0), and
/// `--strict` makes it fail (exit 1), as `ExecStartPre` may want.
#[test]
fn check_config_warns_of_a_metadata_url_it_cannot_fetch() {
    let server = MetadataServer::start(String::new());
    server.answer(Answer::Down);
    let dir = config_dir();
    std::fs::write(
        dir.path().join("idp-configs/corp.toml"),
        format!(
            "kind = \"saml\"\nmetadata_url = \"{}\"\ninsecure_http = true\n",
            server.url
        ),
    )
    .expect("idp config");
    let check = |strict: bool| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_stsbridge"));
        command.current_dir(dir.path()).arg("check-config");
        if strict {
            command.arg("--strict");
        }
        let output = command.output().expect("check-config");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned()
                + &String::from_utf8_lossy(&output.stderr),
        )
    };
    let (code, text) = check(false);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("warning:") && text.contains("corp.toml: metadata_url: SAML metadata: GET"),
        "{text}"
    );
    assert!(text.contains("IDPCommunicationError"), "{text}");
    let (code, text) = check(true);
    assert_eq!(code, Some(1), "{text}");
}
